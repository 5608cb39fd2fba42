#!/usr/bin/env bash
# Starts the real app under Xvfb with a fresh app-data folder, waits, and saves a screenshot of
# the whole screen (420x860, the app window fills it). Usage: scripts/app-screenshot.sh [out.png] [seconds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/artifacts/app-start.png"}
wait_s=${2:-8}
bin="$root/target/debug/carnet-app"
mkdir -p "$(dirname "$out")"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
XDG_DATA_HOME="$data" xvfb-run -a -s "-screen 0 420x860x24" bash -c '
  "$1" & app=$!
  sleep "$2"
  import -window root "$3"
  ls "$4"/fr.paris.carnet/ || true
  kill -TERM "$app"; wait "$app" || true
' _ "$bin" "$wait_s" "$out" "$data"
echo "screenshot: $out"
