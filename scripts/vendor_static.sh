#!/usr/bin/env bash
# Vendor the front-end assets pinned in package.json / package-lock.json into static/vendor/.
#
#   scripts/vendor_static.sh          # npm ci only when the lock file changed, then copy
#   FORCE=1 scripts/vendor_static.sh  # always reinstall node_modules
#
# node_modules/ and static/vendor/ are gitignored: this script is the only way they are made.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

DEST=${STATIC_VENDOR_DIR:-static/vendor}
STAMP=node_modules/.sluice-vendor-stamp
start=$(now)

# source (relative to node_modules/)  ->  file name in $DEST
ASSETS=(
  "htmx.org/dist/htmx.min.js"
  "chart.js/dist/chart.umd.js"
  "chart.js/dist/chart.umd.js.map"
  "bootstrap/dist/css/bootstrap.min.css"
  "bootstrap/dist/css/bootstrap.min.css.map"
  "bootstrap/dist/js/bootstrap.bundle.min.js"
  "bootstrap/dist/js/bootstrap.bundle.min.js.map"
)

if ! command -v npm >/dev/null 2>&1; then
  echo "[vendor] npm not found; installing Node.js from Debian's packages" >&2
  scripts/ensure_system_packages.sh node
fi

key=$(sha_of package.json package-lock.json)
have_all=1
for a in "${ASSETS[@]}"; do [[ -s node_modules/$a ]] || have_all=0; done

if [[ ${FORCE:-0} != 1 && $have_all == 1 && -f $STAMP && $(cat "$STAMP") == "$key" ]]; then
  echo "[vendor] node_modules up to date"
else
  npm_flags=(--no-audit --no-fund --loglevel=error)
  if [[ -f package-lock.json ]]; then
    echo "[vendor] npm ci"
    npm ci "${npm_flags[@]}"
  else
    echo "[vendor] npm install (no package-lock.json: commit the one this creates)"
    npm install "${npm_flags[@]}"
  fi
  for a in "${ASSETS[@]}"; do
    [[ -s node_modules/$a ]] || { echo "[vendor] ERROR: node_modules/$a missing after npm install" >&2; exit 1; }
  done
  echo "$key" > "$STAMP"
fi

# htmx 4.x no longer inherits hx-headers from <body> (CSRF headers vanish): refuse anything but 2.x.
if ! grep -q 'version:"2\.' node_modules/htmx.org/dist/htmx.min.js; then
  echo "[vendor] ERROR: node_modules/htmx.org is not htmx 2.x; pin htmx.org 2.0.x in package.json" >&2
  exit 1
fi

mkdir -p "$DEST"
copied=0
for a in "${ASSETS[@]}"; do
  target="$DEST/$(basename "$a")"
  if ! cmp -s "node_modules/$a" "$target"; then
    install -m 0644 "node_modules/$a" "$target"
    copied=$((copied + 1))
  fi
done
echo "[vendor] $copied file(s) updated in $DEST ($(elapsed "$start")s)"
