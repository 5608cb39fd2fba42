#!/usr/bin/env bash
# Debian packages needed to build the Tauri app (src-tauri/, crate carnet-app).
# Idempotent: apt-get skips what is already installed. Run as root (CI) or with sudo.
# Pass --test to also install what the real-app tests need (Xvfb, WebKitWebDriver, screenshots).
set -euo pipefail

build_pkgs=(
  libwebkit2gtk-4.1-dev build-essential pkg-config file libssl-dev
  librsvg2-dev libayatana-appindicator3-dev libxdo-dev
)
test_pkgs=(webkit2gtk-driver xvfb xauth imagemagick xdotool librsvg2-bin)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=("${test_pkgs[@]}")
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "tauri deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
