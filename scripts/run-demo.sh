#!/usr/bin/env bash
# Runs Carnet on this machine: the sync server with its embedded SQLite file and a demo night
# (3 teams with single-use enrolment codes), and the app when a display exists (built on first
# run with scripts/build-app.sh; CARNET_DEMO_APP=0 leaves it out).
# Ctrl-C stops it; the data stays in demo/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
listen=${CARNET_LISTEN:-127.0.0.1:8787}
data=${CARNET_DEMO_DIR:-$root/demo}
mkdir -p "$data"

command -v curl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends curl; }
bin=${CARNET_SERVER_BIN:-}
if [ -z "$bin" ]; then
  scripts/install-deps.sh
  cargo build --release --locked -p carnet-server
  bin=target/release/carnet-server
fi

app_bin=${CARNET_APP_BIN:-$root/target/debug/carnet-app}
if [ -n "${DISPLAY:-}" ] && [ "${CARNET_DEMO_APP:-1}" != 0 ] && [ ! -x "$app_bin" ]; then
  echo "Building the app (first run only: WebKit packages, the UI bundle, then carnet-app)…"
  scripts/build-app.sh
fi

token_file="$data/admin-token"
if [ ! -s "$token_file" ]; then
  (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$token_file")
fi
admin=$(cat "$token_file")

# Demo procurement data: the real Paris DECP sample, imported once before the server starts.
sample="$root/../shared/data/decp/decp_v1_paris_sample.json"
# (The data goes to carnet.procurement.sqlite3 beside the server's file.)
if [ -f "$sample" ] && [ ! -f "$data/procurement-file-imported" ]; then
  "$bin" procurement import --db "$data/carnet.sqlite3" \
    --cpv "$root/../shared/data/decp/cpv_2008_fr.csv" "$sample" && touch "$data/procurement-file-imported"
fi

CARNET_ADMIN_TOKEN="$admin" "$bin" serve \
  --db "$data/carnet.sqlite3" --listen "$listen" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 100); do
  curl -fsS "http://$listen/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

if [ ! -f "$data/night.json" ]; then
  curl -fsS -X POST "http://$listen/api/nights" -H "Authorization: Bearer $admin" \
    -H 'content-type: application/json' \
    -d '{"name":"Nuit de la Solidarité — démo","date":"2026-01-22"}' > "$data/night.json"
  night=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["night_id"])' "$data/night.json")
  curl -fsS -X POST "http://$listen/api/nights/$night/teams" -H "Authorization: Bearer $admin" \
    -H 'content-type: application/json' \
    -d '{"teams":[{"name":"Équipe 1 — Paris Centre"},{"name":"Équipe 2 — 10e"},{"name":"Équipe 3 — 18e"}],"codes_per_team":4}' \
    > "$data/teams.json"
fi

python3 - "$data/teams.json" "$listen" <<'PY'
import json, sys
teams = json.load(open(sys.argv[1]))["teams"]
print(f"\nCarnet sync server on http://{sys.argv[2]}  (admin token in demo/admin-token)")
for t in teams:
    print(f"  {t['name']}: {t['document_url']}")
    print("    enrolment codes: " + ", ".join(t["enrolment_codes"]))
print(f"Public procurement views: http://{sys.argv[2]}/marches  (OCDS: /ocds/releases)")
print("Enrolment codes are single use. Ctrl-C to stop.")
PY

# The app too, when there is a display (a desktop, or this script run under `xvfb-run -a`).
# Its data is kept in demo/app/ (XDG_DATA_HOME).
if [ -n "${DISPLAY:-}" ] && [ -x "$app_bin" ] && [ "${CARNET_DEMO_APP:-1}" != 0 ]; then
  mkdir -p "$data/app"
  XDG_DATA_HOME="$data/app" "$app_bin" &
  app=$!
  trap 'kill -TERM $app $server 2>/dev/null; wait $app $server 2>/dev/null' EXIT INT TERM
  echo "The app is open (data in $data/app): enrol it with http://$listen and one of the codes."
elif [ -z "${DISPLAY:-}" ]; then
  echo "No display: the app is not started (run under xvfb-run -a, or on a desktop)."
fi
wait $server
