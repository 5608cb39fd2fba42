# Large mode of scripts/bench-procurement.sh (sourced by it, not run alone): one import of
# the synthetic file with a CPU/offset sampler, route latency with a fresh process, and
# optionally the Python/ocdskit peer at nice 19. Rewrites the large section of $OUT.
# Uses from the caller: ROOT DATA WORK CPV SCHEMA BIN LATENCY VENV SYN_BIG CONTRACTS SEED
# REQUESTS PYTHON PY_TIMEOUT GEN_SECONDS OCDSKIT_VERSION OUT BEGIN_MARK END_MARK, log, load.

rate() { awk "BEGIN{ if ($2 > 0) printf \"%.0f\", $1 / $2; else print \"-\" }"; }
STARTED_LARGE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
DB="$WORK/synthetic_${CONTRACTS}.sqlite3"
PDB="${DB%.sqlite3}.procurement.sqlite3" # where the import writes (db::path_for)
rm -f "$DB" "$DB-wal" "$DB-shm" "$PDB" "$PDB-wal" "$PDB-shm"
BYTES=$(stat -c %s "$SYN_BIG")
MIB=$(awk "BEGIN{printf \"%.1f\", $BYTES/1048576}")
TICKS=$(getconf CLK_TCK)

# sample PID: every 10 s, "seconds-since-start cpu-seconds input-offset rss-KiB
# written-bytes" of the importer, until it exits.
sample() {
    local pid=$1 t0 fd pos
    t0=$(date +%s)
    while kill -0 "$pid" 2>/dev/null; do
        fd=$(find "/proc/$pid/fd" -lname "$SYN_BIG" -printf '%f\n' 2>/dev/null | head -1)
        pos=0
        [ -n "$fd" ] && pos=$(awk '/^pos:/{print $2}' "/proc/$pid/fdinfo/$fd" 2>/dev/null || echo 0)
        awk -v t="$(($(date +%s) - t0))" -v hz="$TICKS" -v pos="${pos:-0}" \
            -v rss="$(awk '/^VmRSS/{print $2}' "/proc/$pid/status" 2>/dev/null)" \
            -v wb="$(awk '/^write_bytes/{print $2}' "/proc/$pid/io" 2>/dev/null)" \
            '{printf "%d %.1f %.0f %.0f %.0f\n", t, ($14 + $15) / hz, pos, rss, wb}' \
            "/proc/$pid/stat" 2>/dev/null || true
        sleep 10
    done
}

log "large import: $CONTRACTS contracts ($MIB MiB) — load $(load)"
IMPORT_LOAD=$(load)
T0=$(date +%s.%N)
/usr/bin/time -f '%e %U %S %M' -o "$WORK/import-large.time" \
    "$BIN" procurement import "$SYN_BIG" --db "$DB" --cpv "$CPV" --ocid-prefix ocds-bench \
    2>/dev/null | while IFS= read -r line; do
        printf '%s %s\n' "$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $T0}")" "$line"
    done > "$WORK/import-large.out" &
PIPE_PID=$!
IMPORT_PID=""
for _ in $(seq 50); do
    IMPORT_PID=$(pgrep -f -n "^$BIN procurement import $SYN_BIG" || true)
    [ -n "$IMPORT_PID" ] && break
    sleep 0.2
done
[ -n "$IMPORT_PID" ] && sample "$IMPORT_PID" > "$WORK/import-large.samples" &
SAMPLER_PID=$!
wait "$PIPE_PID"
wait "$SAMPLER_PID" 2>/dev/null || true
read -r I_WALL I_USER I_SYS I_RSS < "$WORK/import-large.time"
I_CPU=$(awk "BEGIN{printf \"%.0f\", $I_USER + $I_SYS}")
I_RSS_MB=$(awk "BEGIN{printf \"%.0f\", $I_RSS / 1024}")
SUMMARY=$(sed -n 's/^[0-9.]* \([0-9]* lus.*\)/\1/p' "$WORK/import-large.out" | head -1)
T_SUMMARY=$(awk '/ lus = /{print $1; exit}' "$WORK/import-large.out")
REFRESH_S=$(sed -n 's/.*recalculés en \([0-9.]*\) s.*/\1/p' "$WORK/import-large.out" | head -1)
RECORDS=$(echo "$SUMMARY" | sed -n 's/^\([0-9]*\) lus.*/\1/p')
# CPU at the summary line: the last sample before it.
CPU_AT_SUMMARY=$(awk -v t="$T_SUMMARY" '$1 <= t {c = $2} END {printf "%.0f", c}' "$WORK/import-large.samples")
DB_MB=$(du -m "$PDB" | cut -f1)

# Scaling: CPU seconds per tenth of the input (from the sampler).
SCALING=$(awk -v total="$BYTES" '
    { t[NR] = $1; c[NR] = $2; p[NR] = $3 }
    END {
        for (d = 0; d < 10; d++) { lo = total * d / 10; hi = total * (d + 1) / 10; first = 0; last = 0
            for (i = 1; i <= NR; i++) { if (!first && p[i] >= lo) first = i; if (p[i] <= hi && p[i] > 0) last = i }
            if (first && last > first) {
                mib = (p[last] - p[first]) / 1048576; cpu = c[last] - c[first]
                printf "| %d–%d %% | %.0f | %.1f | %.1f | %.2f |\n", d * 10, (d + 1) * 10, mib, cpu, (cpu > 0 ? mib / cpu : 0), (mib > 0 ? cpu / mib : 0)
            }
        }
    }' "$WORK/import-large.samples")
WRITTEN_GB=$(awk 'END {printf "%.1f", $5 / 1e9}' "$WORK/import-large.samples")

log "route latency on the ${CONTRACTS}-contract database (fresh process) — load $(load)"
LAT_LOAD=$(load)
"$LATENCY" --db "$DB" --requests "$REQUESTS" > "$WORK/latency-large.md"

PY_ROWS=""
if [ "$PYTHON" = 1 ]; then
    log "python peer on $SYN_BIG (nice 19, at most $PY_TIMEOUT s per step) — load $(load)"
    PY_LOAD=$(load)
    py_step() { # NAME CMD... (stdin/stdout set by the caller)
        local name=$1; shift
        /usr/bin/time -f '%e %U %S %M' -o "$WORK/py-large-$name.time" \
            timeout "$PY_TIMEOUT" nice -n 19 "$@"
        echo $? > "$WORK/py-large-$name.rc"
    }
    py_step convert "$VENV/bin/python" "$ROOT/scripts/bench/decp_to_ocds.py" "$SYN_BIG" \
        "$WORK/large.releases.jsonl" 2> "$WORK/py-large-convert.err" || true
    py_step compile "$VENV/bin/ocdskit" compile --schema "$SCHEMA" --package --fake \
        < "$WORK/large.releases.jsonl" > "$WORK/large.records.json" 2> "$WORK/py-large-compile.err" || true
    for step in convert compile; do
        read -r W U S M < "$WORK/py-large-$step.time" || true
        rc=$(cat "$WORK/py-large-$step.rc")
        status="done"
        [ "$rc" = 124 ] && status="stopped after ${PY_TIMEOUT} s (timeout)"
        [ "$rc" != 0 ] && [ "$rc" != 124 ] && status="failed (exit $rc)"
        PY_ROWS="$PY_ROWS| python: $step | $W | $(awk "BEGIN{printf \"%.0f\", $U + $S}") | $(awk "BEGIN{printf \"%.0f\", $M / 1024}") | $status |
"
    done
    PY_ROWS="$PY_ROWS
Python peer output: convert \`$(tail -1 "$WORK/py-large-convert.err" 2>/dev/null)\`; compile wrote
$(du -m "$WORK/large.records.json" 2>/dev/null | cut -f1) MiB of record package (load at start: $PY_LOAD)."
fi
FINISHED_LARGE=$(date -u +%Y-%m-%dT%H:%M:%SZ)

SECTION="$WORK/large-section.md"
{
echo "$BEGIN_MARK"
cat <<EOF
## $CONTRACTS contracts (large mode)

Generated by \`scripts/bench-procurement.sh --large --contracts $CONTRACTS --requests $REQUESTS$([ "$PYTHON" = 1 ] && echo " --python --python-timeout $PY_TIMEOUT")\`
from $STARTED_LARGE to $FINISHED_LARGE on $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)),
commit $(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD -- sync-server scripts || echo ' + uncommitted changes'). Synthetic input: \`decp_synth --contracts $CONTRACTS --seed $SEED\`
($MIB MiB, generated in $GEN_SECONDS s). The machine is shared: load averages are given per step;
CPU time is the fairer measure.

**Import** (\`carnet-server procurement import\`, one process, \`/usr/bin/time\`; load at start $IMPORT_LOAD):

| step | wall s | CPU s | records/s (CPU) | peak RSS MiB |
|---|---:|---:|---:|---:|
| parse + checks + SQLite (until the summary line, CPU from the sampler) | $T_SUMMARY | $CPU_AT_SUMMARY | $(rate "$RECORDS" "$CPU_AT_SUMMARY") | |
| red flags + summary tables (\`views::schema::refresh\`, wall as printed) | $REFRESH_S | $(awk "BEGIN{printf \"%.0f\", $I_CPU - $CPU_AT_SUMMARY}") | | |
| **whole command** | $I_WALL | $I_CPU | $(rate "$RECORDS" "$I_CPU") | $I_RSS_MB |

Summary printed: \`$SUMMARY\`. Database after the command: $DB_MB MiB. Bytes written by the
importer (\`/proc/<pid>/io\` write_bytes, WAL and checkpoints): $WRITTEN_GB GB.

CPU time per tenth of the input (10 s sampler of \`/proc/<pid>/stat\` and the input offset):

| input | MiB | CPU s | MiB/s (CPU) | CPU s per MiB |
|---|---:|---:|---:|---:|
$SCALING

**Route latency** (\`procurement_latency --requests $REQUESTS\`, a fresh process on the
database the import left, in-process through the axum router, release build; load at start
$LAT_LOAD). "first" is the first request of that route on the process: page 1 of an
unfiltered view is read from the summary tables, other pages are computed then kept in the
in-memory page cache (p50/p95 are then the cached path).

$(cat "$WORK/latency-large.md")
EOF
if [ -n "$PY_ROWS" ]; then
    cat <<EOF

**Python/ocdskit peer on the same input** (\`scripts/bench/decp_to_ocds.py\` then \`ocdskit
compile --package\` $OCDSKIT_VERSION, each at \`nice 19\`):

| step | wall s | CPU s | peak RSS MiB | status |
|---|---:|---:|---:|---|
$PY_ROWS
EOF
fi
echo
cat "$ROOT/docs/benchmarks-procurement-large.notes.md" 2>/dev/null || true
echo "$END_MARK"
} > "$SECTION"

# Replace the section in place (or insert it after the title), leaving the rest untouched.
if [ -f "$OUT" ] && grep -qxF "$BEGIN_MARK" "$OUT"; then
    awk -v b="$BEGIN_MARK" -v e="$END_MARK" -v f="$SECTION" '
        $0 == b { while ((getline line < f) > 0) print line; skip = 1; next }
        $0 == e { skip = 0; next }
        !skip { print }' "$OUT" > "$OUT.tmp"
else
    { head -1 "$OUT" 2>/dev/null || echo "# Procurement benchmarks"; echo; cat "$SECTION"
      tail -n +2 "$OUT" 2>/dev/null || true; } > "$OUT.tmp"
fi
mv "$OUT.tmp" "$OUT"
log "wrote the large section of $OUT"
