#!/usr/bin/env bash
# Builds the Tauri app (debug by default): Debian deps, the UI bundle, then carnet-app.
#   scripts/build-app.sh            -> target/debug/carnet-app
#   scripts/build-app.sh --release  -> target/release/carnet-app
#   scripts/build-app.sh --deb      -> a .deb under target/release/bundle/deb/ (npm Tauri CLI)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-tauri-deps.sh"
(cd ui && npm ci --no-audit --no-fund --loglevel=error && npm run build)
case "${1:-}" in
  --release) cargo build -p carnet-app --release --locked ;;
  --deb) (cd src-tauri && npx --yes @tauri-apps/cli@^2 build --bundles deb) ;;
  *) cargo build -p carnet-app --locked ;;
esac
