#!/usr/bin/env bash
# Checks OCDS files with libcoveocds (the OCDS Data Review Tool's engine), offline:
# the standard comes from ../shared/data/ocds/standard-1__1__5-schema.zip.
# Usage: scripts/libcoveocds-check.sh FILE.json [FILE.json…]
# Fails (exit 1) when any file has validation_errors. Venv: $LIBCOVE_VENV or .venv-libcoveocds.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
zip="${LIBCOVE_STANDARD_ZIP:-$here/../shared/data/ocds/standard-1__1__5-schema.zip}"
if [ ! -f "$zip" ]; then
  # A worktree under wt/<name> has shared/ two levels up.
  zip="$here/../../shared/data/ocds/standard-1__1__5-schema.zip"
fi
[ -f "$zip" ] || { echo "standard zip not found (set LIBCOVE_STANDARD_ZIP)" >&2; exit 2; }
[ $# -ge 1 ] || { echo "usage: $0 FILE.json…" >&2; exit 2; }
venv="${LIBCOVE_VENV:-$here/.venv-libcoveocds}"
if [ ! -x "$venv/bin/libcoveocds" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet libcoveocds
fi
status=0
for file in "$@"; do
  out="$(mktemp)"
  "$venv/bin/libcoveocds" --standard-zip "$zip" "$file" >"$out"
  n="$("$venv/bin/python" -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r.get("validation_errors", [])))' "$out")"
  if [ "$n" != "0" ]; then
    echo "$file: $n validation error group(s)" >&2
    "$venv/bin/python" -c 'import json,sys; [print(" ", e[0][:300]) for e in json.load(open(sys.argv[1]))["validation_errors"]]' "$out" >&2 || true
    status=1
  else
    echo "$file: 0 validation errors"
  fi
  rm -f "$out"
done
exit $status
