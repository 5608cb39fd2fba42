#!/usr/bin/env bash
# Publishes the real Paris DECP samples through a running carnet-server and checks the OCDS
# release and record packages with libcoveocds (the OCDS Data Review Tool's engine), offline.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data="$root/../shared/data"
bin=${CARNET_SERVER_BIN:-target/debug/carnet-server}
[ -x "$bin" ] || cargo build --locked -p carnet-server
work=$(mktemp -d)
server=""
trap '{ [ -n "$server" ] && kill -TERM "$server" 2>/dev/null; } || true; rm -rf "$work"' EXIT
out="$root/artifacts/ocds"
mkdir -p "$out"

for sample in decp_v1_paris_sample decp_v1_with_modifications_sample; do
  "$bin" procurement import --db "$work/$sample.sqlite3" --cpv "$data/decp/cpv_2008_fr.csv" \
    "$data/decp/$sample.json"
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
for sample in decp_v1_paris_sample decp_v1_with_modifications_sample; do
  CARNET_ADMIN_TOKEN=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
    "$bin" serve --db "$work/$sample.sqlite3" --listen "127.0.0.1:$port" 2>"$work/server.log" &
  server=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://127.0.0.1:$port/ocds/releases?per_page=1000" > "$out/$sample.releases.json"
  curl -fsS "http://127.0.0.1:$port/ocds/records?per_page=1000" > "$out/$sample.records.json"
  kill -TERM $server; wait $server || true
done
# Release packages only: for record packages libcoveocds fetches the versioned-release schema
# from the internet even with --standard-zip (no network here); record packages are validated
# against the official schemas by sync-server/tests/procurement_ocds.rs instead.
scripts/libcoveocds-check.sh "$out"/*.releases.json
