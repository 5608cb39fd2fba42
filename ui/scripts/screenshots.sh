#!/usr/bin/env bash
# Screenshots of the key screens at 360 px wide, from the demo build (in-memory dev backend),
# with Debian's headless chromium. Usage: scripts/screenshots.sh [port]  (run from ui/)
set -euo pipefail
port=${1:-4174}
cd "$(dirname "$0")/.."
npx vite build --mode demo --outDir dist-demo >/dev/null
node node_modules/vite/bin/vite.js preview --outDir dist-demo --port "$port" --strictPort --host 127.0.0.1 >/dev/null 2>&1 &
preview=$!
trap 'kill $preview 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.2; done
draft=019c0b8e-7a00-7000-8000-00000000d1af
shot() { # name url height
  local profile; profile=$(mktemp -d)
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --force-device-scale-factor=1 --virtual-time-budget=3000 \
    --user-data-dir="$profile" --window-size="360,$3" --screenshot="screenshots/$1.png" "$2" 2>/dev/null
  rm -rf "$profile"
}
base="http://127.0.0.1:$port/"
shot 01-enrolment "$base#/enrol" 800
shot 02-home "$base?demo#/home" 800
shot 03-home-full "$base?demo#/home" 1400
shot 04-new-encounter "$base?demo#/new" 800
shot 05-draft-questionnaire-full "$base?demo#/draft/$draft" 2600
shot 06-tallies "$base?demo#/tallies" 800
shot 07-encounter-list "$base?demo#/list" 800
shot 08-alert "$base?demo&open=alert#/home" 800
shot 09-home-en "$base?demo&lang=en#/home" 800
shot 10-draft-en "$base?demo&lang=en#/draft/$draft" 800
echo "screenshots in $(pwd)/screenshots"
