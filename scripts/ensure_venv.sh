#!/usr/bin/env bash
# Create .venv if needed and install the Python requirements, only when they changed.
#
#   scripts/ensure_venv.sh          # requirements.txt                 (what `make run` needs)
#   scripts/ensure_venv.sh dev      # requirements.txt + requirements-dev.txt   (`make test`)
#
# A stamp file in the venv holds the sha256 of the requirement files (and of the files they pull in
# with -r/-c) plus the interpreter's version; pip runs only when that sha differs.
# Env: PYTHON (default python3), VENV (default .venv), FORCE=1 to reinstall regardless.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
mode=${1:-runtime}
case $mode in
  runtime) files=(requirements.txt) ;;
  dev)     files=(requirements.txt requirements-dev.txt) ;;
  *) echo "usage: $0 [runtime|dev]" >&2; exit 2 ;;
esac
for f in "${files[@]}"; do
  [[ -f $f ]] || { echo "[venv] ERROR: $f not found" >&2; exit 1; }
done

# Files included with -r / -c (one level deep is all this project uses).
included() {
  local f dir
  for f in "$@"; do
    dir=$(dirname "$f")
    sed -nE 's/^[[:space:]]*(-r|-c|--requirement|--constraint)[[:space:]=]+([^[:space:]#]+).*/\2/p' "$f" |
      while read -r inc; do
        [[ $inc == /* ]] && echo "$inc" || echo "$dir/$inc"
      done
  done
}

start=$(now)
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  if [[ -e $VENV ]]; then
    echo "[venv] $VENV is broken (its python does not run): recreating"
    rm -rf "$VENV"
  fi
  if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    scripts/ensure_system_packages.sh venv
  fi
  echo "[venv] creating $VENV with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv "$VENV"
fi

all_files=("${files[@]}")
mapfile -t inc < <(included "${files[@]}" | sort -u)
all_files+=("${inc[@]}")
# shellcheck disable=SC2207
all_files=($(printf '%s\n' "${all_files[@]}" | sort -u))
key="$(sha_of "${all_files[@]}") $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
stamp="$VENV/.sluice-requirements-$mode"

if [[ ${FORCE:-0} != 1 && -f $stamp && $(cat "$stamp") == "$key" ]]; then
  echo "[venv] $mode requirements up to date"
  exit 0
fi

req_args=()
for f in "${files[@]}"; do req_args+=(-r "$f"); done
echo "[venv] pip install ${req_args[*]}"
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --progress-bar off -q "${req_args[@]}"
echo "$key" > "$stamp"
if [[ $mode == dev ]]; then
  # dev includes runtime: mark it done too, so `make run` after `make test` installs nothing.
  run_files=(requirements.txt)
  mapfile -t run_inc < <(included requirements.txt | sort -u)
  run_files+=("${run_inc[@]}")
  # shellcheck disable=SC2207
  run_files=($(printf '%s\n' "${run_files[@]}" | sort -u))
  echo "$(sha_of "${run_files[@]}") $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')" \
    > "$VENV/.sluice-requirements-runtime"
fi
echo "[venv] $mode requirements installed in $(elapsed "$start")s"
