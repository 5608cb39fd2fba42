#!/usr/bin/env bash
# Carnet's whole test suite, from a fresh Debian 12 machine: installs what it needs, checks
# formatting and lints, runs every Rust test (unit, property, end-to-end, interop with the
# official JS automerge-repo), the JS self-tests, the Tauri app's lints and unit tests and the
# real app under Xvfb (app-tests/), then prints `N passed, N failed`.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TERM_COLOR=never
# CI builds once from a clean clone: incremental caches would only take disk.
export CARGO_INCREMENTAL=0
mkdir -p artifacts

passed=0
failed=0
failures=()

# Runs one stage; a stage that prints a test summary contributes its counts, others count as one.
stage() {
  local name=$1; shift
  local log="artifacts/$name.log"
  echo "== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  # cargo-nextest: "Summary [ 12.3s] 45 tests run: 45 passed, 2 skipped" (or "... 1 failed")
  if line=$(grep -E '^ *Summary \[' "$log" | tail -1) && [ -n "$line" ]; then
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  # vitest: "      Tests  1 failed | 96 passed (97)"
  elif line=$(grep -E '^ *Tests +[0-9]' "$log" | tail -1) && [ -n "$line" ]; then
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  # node:test: "# pass 3" / "# fail 0"
  elif grep -qE '^# pass [0-9]+' "$log"; then
    p=$(grep -oE '^# pass [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
    f=$(grep -oE '^# fail [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
  elif [ "$rc" -eq 0 ]; then p=1; f=0
  else p=0; f=1
  fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [ "$rc" -ne 0 ] && failures+=("$name")
  echo "== $name: exit $rc, $p passed, $f failed, $((SECONDS - start)) s; target $(du -sh target 2>/dev/null | cut -f1), free $(df -h --output=avail . | tail -1 | tr -d ' ')"
}

stage install scripts/install-deps.sh
if [ "${#failures[@]}" -ne 0 ]; then
  echo "0 passed, 1 failed"
  exit 1
fi
stage fmt cargo fmt --all -- --check
stage clippy cargo clippy --all-targets --locked -- -D warnings
# Default members (shared, server, tests): one build, then every Rust test in parallel.
# src-tauri (WebKit) and bench are built by their own commands, see the README.
stage rust-tests cargo nextest run --locked --no-fail-fast --failure-output final
# The real Paris DECP samples published as OCDS, checked by the OCDS Data Review Tool's engine.
stage ocds-libcoveocds scripts/check-ocds.sh
export NO_COLOR=1
stage ui-check bash -c 'cd ui && npm run --silent check'
stage ui-tests bash -c 'cd ui && npx vitest run'
stage ui-build bash -c 'cd ui && npm run --silent build'
if [ -f tests/js/package.json ]; then
  stage js-selftest bash -c 'cd tests/js && npm test --silent'
fi

# The Tauri app (carnet-app, not a default member): WebKit build deps plus Xvfb and
# WebKitWebDriver, tauri-driver, ONE debug build of the app (ui/dist from the ui-build stage is
# embedded) and of the server binary, lints, unit tests, then the real app in WebKit under Xvfb
# driven through tauri-driver against the real carnet-server binary (app-tests/).
stage tauri-deps scripts/install-tauri-deps.sh --test
stage tauri-driver bash -c 'command -v tauri-driver >/dev/null || cargo install --locked tauri-driver'
# `cargo build` (default members, as nextest built them) only links the server binary.
# `--all-targets`: the app's tests turn on more features of shared dependencies (bitflags,
# tracing, hyper…) than the binary alone; built apart, the whole GTK/WebKit/Tauri tree would
# be compiled twice. This one build makes the binary the real-app tests drive and everything
# app-unit runs.
stage app-build bash -c 'cargo build --locked && cargo build -p carnet-app --all-targets --locked'
stage app-clippy cargo clippy -p carnet-app -p carnet-app-tests --all-targets --locked -- -D warnings
stage app-unit cargo nextest run -p carnet-app --locked --no-fail-fast --failure-output final
# One app at a time (2 cores); the timeout bounds the whole step, not a test's speed.
stage app-e2e timeout 1500 xvfb-run -a -s "-screen 0 420x860x24" \
  cargo nextest run -p carnet-app-tests --locked --no-fail-fast --failure-output final --test-threads 1

echo
if ((${#failures[@]})); then echo "failed stages: ${failures[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
