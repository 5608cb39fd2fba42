#!/usr/bin/env bash
# Procurement benchmarks: DECP import throughput (ours vs a Python/ocdskit peer) and
# latency of the public routes on a large synthetic database. Writes
# docs/benchmarks-procurement.md.
#
#   scripts/bench-procurement.sh [--contracts 100000] [--python-contracts 10000]
#                                [--requests 50] [--seed 2019] [--workdir DIR] [--keep]
#
# Large mode (slow: ~30 min of 2 cores, ~3 GB of disk; never in CI):
#
#   scripts/bench-procurement.sh --large [--contracts 1000000] [--requests 20]
#                                [--python [--python-timeout 3600]] [--workdir DIR] [--keep]
#
# imports the synthetic file alone (CPU, peak RSS and a 10 s sampler of CPU time against the
# input offset, which shows how the cost per record grows with the database), then measures
# the routes' latency with a fresh process (the "first" column is the first request of each
# route on that process), and with --python runs the Python/ocdskit peer on the same input at
# nice 19 (stopped after --python-timeout seconds; how far it got is reported). It rewrites
# only its own section of docs/benchmarks-procurement.md (between the `large:begin` and
# `large:end` markers), followed by docs/benchmarks-procurement-large.notes.md; the default
# mode keeps that section when it rewrites the rest of the file.
#
# Needs ../shared/data/decp/ (real DECP files, CPV list), ../shared/data/ocds/ (release
# schema for ocdskit, read locally: no network) and python3 with venv (ocdskit and ijson
# are installed from PyPI into a venv in the work directory, or reused from $PBENCH_VENV).
# Generated files go to a temporary directory outside the repository (deleted unless --keep).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# Override with CARNET_SHARED_DATA when the checkout is not next to shared/ (git worktrees).
DATA=$(cd "${CARNET_SHARED_DATA:-$ROOT/../shared/data}" && pwd)
CONTRACTS=""
PY_CONTRACTS=10000
REQUESTS=50
SEED=2019
WORK=""
KEEP=0
LARGE=0
PYTHON=0
PY_TIMEOUT=3600
while [ $# -gt 0 ]; do
    case "$1" in
        --large) LARGE=1; shift ;;
        --python) PYTHON=1; shift ;;
        --python-timeout) PY_TIMEOUT=$2; shift 2 ;;
        --contracts) CONTRACTS=$2; shift 2 ;;
        --python-contracts) PY_CONTRACTS=$2; shift 2 ;;
        --requests) REQUESTS=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --workdir) WORK=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if [ -z "$WORK" ]; then
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/carnet-pbench.XXXXXX")
    [ "$KEEP" = 1 ] || trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"
if [ -z "$CONTRACTS" ]; then
    if [ "$LARGE" = 1 ]; then CONTRACTS=1000000; else CONTRACTS=100000; fi
fi
OUT="$ROOT/docs/benchmarks-procurement.md"
BEGIN_MARK='<!-- large:begin (scripts/bench-procurement.sh --large writes this section) -->'
END_MARK='<!-- large:end -->'
# The large-mode section of the current file (markers included), or nothing.
large_section() {
    [ -f "$OUT" ] || return 0
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" '$0 == b {on = 1} on {print} $0 == e {on = 0}' "$OUT"
}
CPV="$DATA/decp/cpv_2008_fr.csv"
SCHEMA="$DATA/ocds/release-schema.json"
ROWS="$WORK/rows.md"
: > "$ROWS"
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

log "building (release)"
# Two invocations: built together, the binary would link a library compiled with the
# dev-dependencies' features (the examples' needs) and be rebuilt for nothing.
(cd "$ROOT" && cargo build --release -q -p carnet-server --bin carnet-server)
(cd "$ROOT" && cargo build --release -q -p carnet-server --example decp_synth \
    --example procurement_latency)
BIN="$ROOT/target/release/carnet-server"
SYNTH="$ROOT/target/release/examples/decp_synth"
LATENCY="$ROOT/target/release/examples/procurement_latency"

VENV=${PBENCH_VENV:-$WORK/venv}
if { [ "$LARGE" = 0 ] || [ "$PYTHON" = 1 ]; } && [ ! -x "$VENV/bin/ocdskit" ]; then
    log "installing ocdskit + ijson into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q ocdskit ijson
fi
OCDSKIT_VERSION=$("$VENV/bin/pip" show ocdskit 2>/dev/null | sed -n 's/^Version: //p' || true)
IJSON_BACKEND=$("$VENV/bin/python" -c 'import ijson; print(ijson.backend)' 2>/dev/null || true)

SYN_BIG="$WORK/decp_synth_${CONTRACTS}.json"
if [ -s "$SYN_BIG" ] && [ -s "$WORK/gen.time" ]; then
    log "reusing $SYN_BIG (same seed: same content)"
else
    log "generating $CONTRACTS synthetic contracts (seed $SEED)"
    /usr/bin/time -f '%e %U %S' -o "$WORK/gen.time" "$SYNTH" --contracts "$CONTRACTS" \
        --seed "$SEED" --out "$SYN_BIG" --sources "$DATA/decp/sources" --cpv "$CPV"
fi
GEN_SECONDS=$(cut -d' ' -f1 "$WORK/gen.time")
if [ "$LARGE" = 1 ]; then
    # shellcheck source=scripts/bench-procurement-large.sh
    . "$ROOT/scripts/bench-procurement-large.sh"
    exit 0
fi
SYN_SMALL="$SYN_BIG"
if [ "$PY_CONTRACTS" -lt "$CONTRACTS" ]; then
    SYN_SMALL="$WORK/decp_synth_${PY_CONTRACTS}.json"
    "$SYNTH" --contracts "$PY_CONTRACTS" --seed "$SEED" --out "$SYN_SMALL" \
        --sources "$DATA/decp/sources" --cpv "$CPV"
fi

# timed LABEL CMD...: runs CMD under /usr/bin/time; sets T_WALL T_CPU T_RSS_MB.
timed() {
    local label=$1; shift
    /usr/bin/time -f '%e %U %S %M' -o "$WORK/$label.time" "$@"
    read -r T_WALL T_USER T_SYS T_RSS < "$WORK/$label.time"
    T_CPU=$(awk "BEGIN{printf \"%.2f\", $T_USER + $T_SYS}")
    T_RSS_MB=$(awk "BEGIN{printf \"%.0f\", $T_RSS / 1024}")
}
rate() { awk "BEGIN{ if ($2 > 0) printf \"%.0f\", $1 / $2; else print \"-\" }"; }
mbps() { awk "BEGIN{ if ($2 > 0) printf \"%.1f\", $1 / 1048576 / $2; else print \"-\" }"; }
ratio() { awk "BEGIN{ if ($2 > 0) printf \"%.1f×\", $1 / $2; else print \"-\" }"; }

# bench_input NAME FILE PYTHON(0|1)
bench_input() {
    local name=$1 file=$2 python=$3
    local bytes db records
    bytes=$(stat -c %s "$file")
    db="$WORK/$name.sqlite3"
    local pdb="${db%.sqlite3}.procurement.sqlite3" # where the import writes (db::path_for)
    rm -f "$db" "$db-wal" "$db-shm" "$pdb" "$pdb-wal" "$pdb-shm"
    log "import $name ($(awk "BEGIN{printf \"%.1f\", $bytes/1048576}") MiB) — load $(load)"
    local l; l=$(load)
    timed "import-$name" "$BIN" procurement import "$file" --db "$db" --cpv "$CPV" \
        --ocid-prefix ocds-bench > "$WORK/import-$name.out" 2>/dev/null
    records=$(sed -n 's/^\([0-9]*\) lus.*/\1/p' "$WORK/import-$name.out" | head -1)
    local our_wall=$T_WALL our_cpu=$T_CPU our_rss=$T_RSS_MB
    local summary; summary=$(head -1 "$WORK/import-$name.out")
    printf '| %s | %s | %s | carnet import | %s | %s | %s | %s | %s | %s |\n' \
        "$name" "$(awk "BEGIN{printf \"%.1f\", $bytes/1048576}")" "$records" \
        "$our_wall" "$our_cpu" "$(mbps "$bytes" "$our_cpu")" "$(rate "$records" "$our_cpu")" \
        "$our_rss" "$l" >> "$ROWS"
    echo "- \`$name\`: $summary" >> "$WORK/summaries.md"
    if [ "$python" = 1 ]; then
        log "python peer $name — load $(load)"
        l=$(load)
        timed "py-convert-$name" "$VENV/bin/python" "$ROOT/scripts/bench/decp_to_ocds.py" \
            "$file" "$WORK/$name.releases.jsonl" 2> "$WORK/py-$name.err"
        local c_wall=$T_WALL c_cpu=$T_CPU c_rss=$T_RSS_MB
        timed "py-compile-$name" "$VENV/bin/ocdskit" compile --schema "$SCHEMA" --package --fake \
            < "$WORK/$name.releases.jsonl" > "$WORK/$name.records.json" 2>/dev/null
        local k_wall=$T_WALL k_cpu=$T_CPU k_rss=$T_RSS_MB
        local p_wall p_cpu
        p_wall=$(awk "BEGIN{printf \"%.2f\", $c_wall + $k_wall}")
        p_cpu=$(awk "BEGIN{printf \"%.2f\", $c_cpu + $k_cpu}")
        printf '| %s | | | python: DECP→releases (ijson) | %s | %s | %s | %s | %s | %s |\n' \
            "$name" "$c_wall" "$c_cpu" "$(mbps "$bytes" "$c_cpu")" "$(rate "$records" "$c_cpu")" \
            "$c_rss" "$l" >> "$ROWS"
        printf '| %s | | | python: `ocdskit compile` | %s | %s | | | %s | |\n' \
            "$name" "$k_wall" "$k_cpu" "$k_rss" >> "$ROWS"
        printf '| %s | | | **python total** (CPU python ÷ carnet = %s) | %s | %s | %s | %s | %s | |\n' \
            "$name" "$(ratio "$p_cpu" "$our_cpu")" "$p_wall" "$p_cpu" "$(mbps "$bytes" "$p_cpu")" \
            "$(rate "$records" "$p_cpu")" "$(( c_rss > k_rss ? c_rss : k_rss ))" >> "$ROWS"
        echo "- \`$name\` python: $(cat "$WORK/py-$name.err")" >> "$WORK/summaries.md"
    fi
}

: > "$WORK/summaries.md"
for f in "$DATA"/decp/sources/*.json; do
    bench_input "$(basename "$f" .json)" "$f" 1
done
if [ "$SYN_SMALL" != "$SYN_BIG" ]; then
    bench_input "synthetic_${PY_CONTRACTS}" "$SYN_SMALL" 1
    bench_input "synthetic_${CONTRACTS}" "$SYN_BIG" 0
else
    bench_input "synthetic_${CONTRACTS}" "$SYN_BIG" 1
fi
BIG_DB="$WORK/synthetic_${CONTRACTS}.sqlite3"
DB_MB=$(du -m "${BIG_DB%.sqlite3}.procurement.sqlite3" | cut -f1)

log "route latency on the ${CONTRACTS}-contract database — load $(load)"
LAT_LOAD=$(load)
"$LATENCY" --db "$BIG_DB" --requests "$REQUESTS" > "$WORK/latency.md"
FINISHED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

mkdir -p "$ROOT/docs"
KEPT=$(large_section)
{
cat <<EOF
# Procurement benchmarks

$KEPT

Generated by \`scripts/bench-procurement.sh --contracts $CONTRACTS --python-contracts $PY_CONTRACTS --requests $REQUESTS --seed $SEED\`
from $STARTED to $FINISHED on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)),
commit $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- sync-server scripts || echo ' + uncommitted changes').
**The machine was shared**: the load average (1/5/15 min) at the start of each step is in the
last column. Wall-clock times are inflated by the load; CPU time (user + sys) is the fairer
measure, and rates and ratios below are computed from CPU time.

## Import throughput

| input | MiB | records | step | wall s | CPU s | MiB/s (CPU) | records/s (CPU) | peak RSS MiB | load |
|---|---:|---:|---|---:|---:|---:|---:|---:|---|
$(cat "$ROWS")

Peak RSS is \`ru_maxrss\` of the process (\`/usr/bin/time %M\`, the same figure as \`VmHWM\`).
Synthetic inputs: \`decp_synth\` generated $CONTRACTS contracts in ${GEN_SECONDS} s (seed $SEED);
the $CONTRACTS-contract database is $DB_MB MiB.

Import summaries (as printed by the importer; Python peer: records read / releases written):

$(cat "$WORK/summaries.md")

### What each side does

- **carnet import** (\`carnet-server procurement import FILE --db X --cpv cpv_2008_fr.csv\`, one
  process): sniffs the format, streams the JSON (repairing BOM, NaN and control characters),
  normalises each record (2019/2022 shapes, lists-as-objects, amounts as text), runs the quality
  checks (SIRET Luhn incl. La Poste, CPV lookup in the 9,454-code official list, dates,
  placeholder amounts, exact and same-key duplicates), and writes everything to SQLite (WAL,
  one transaction per 500 records): contracts with their raw JSON and hash, buyers, suppliers,
  links, modifications, findings, rejections, run log, with the table's 6 indexes. It does
  **not** produce OCDS at import time: releases and records are built on request from the
  stored rows (see latency below).
- **python peer** (\`scripts/bench/decp_to_ocds.py\`, then \`ocdskit compile\` $OCDSKIT_VERSION):
  streams \`marches[]\` with ijson (backend \`$IJSON_BACKEND\`, constant memory), maps each record to
  one award/contract release plus one contractAmendment release per modification (a simpler
  mapping than ours: no quality checks, no CPV lookup, no repairs, no database), writes release
  packages as JSON lines; then \`ocdskit compile --package\` merges the releases by ocid into a
  record package with compiled releases (ocdsmerge, release schema read locally). That is the
  OCDS part of our work plus the merge we do at request time; it is the closest honest peer,
  not the same job. On the ${CONTRACTS}-contract file only our importer runs (the Python peer
  runs on the $PY_CONTRACTS-contract file to keep the run under 20 minutes; its rates do not
  depend much on size).

## Route latency on the $CONTRACTS-contract database (load at start: $LAT_LOAD)

In-process through the axum router (\`tower::ServiceExt::oneshot\`, no socket), $REQUESTS
sequential requests per row after one warm-up request (its time is the \`first\` column),
release build, per-page default 100. The state is built once as the server builds it
(\`ProcurementDb\`: migrated once, pooled read-only connections, cached counts); OCDS is
built from the stored rows on every request; a view page is computed by its first request
and then served from the page cache until the next import.

$(cat "$WORK/latency.md")
EOF
cat "$ROOT/docs/benchmarks-procurement.notes.md" 2>/dev/null || true
} > "$OUT"
log "wrote $OUT"
