#!/usr/bin/env bash
# Installs Debian's Chromium and its WebDriver (used by sync-server/tests/procurement_browser.rs)
# when they are missing. Needs root (or sudo) and the Debian mirror.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "chromium $(chromium --version 2>/dev/null | awk '{print $2}') and chromedriver already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium chromium-driver
