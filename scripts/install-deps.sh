#!/usr/bin/env bash
# Installs what Carnet's build and tests need on a fresh Debian 12 machine (run as root).
# Idempotent: packages already present are skipped quickly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# libssl-dev: the server downloads DECP files over HTTPS (reqwest with the system OpenSSL).
apt_packages=(build-essential pkg-config libssl-dev ca-certificates python3-venv curl chromium chromium-driver)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
command -v cargo-nextest >/dev/null 2>&1 || cargo install --locked cargo-nextest

# npm packages from the committed lockfiles: the official JS automerge-repo client and
# reference server (interop tests), and the app's web UI.
for dir in tests/js ui; do
  if [ -f "$root/$dir/package-lock.json" ]; then
    (cd "$root/$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
