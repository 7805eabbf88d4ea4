#!/usr/bin/env bash
# Install the Debian packages Sluice needs, only those that are missing.
#
#   scripts/ensure_system_packages.sh test     # redis-server postgresql mariadb-server chromium
#   scripts/ensure_system_packages.sh node     # nodejs + npm (for scripts/vendor_static.sh)
#   scripts/ensure_system_packages.sh venv     # python3-venv (when `python3 -m venv` lacks ensurepip)
#   scripts/ensure_system_packages.sh redis postgres mariadb chromium   # any subset
#
# Runs `apt-get update` once, and only if something has to be installed. Without root (or without
# apt-get) it installs nothing, says what is missing and exits 0: the test fixtures then fail loudly
# under SLUICE_REQUIRE_SERVICES=1, or skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/lib.sh

have_redis()    { command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]]; }
have_postgres() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1; }
have_mariadb()  { { command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]]; } \
                    && { command -v mariadb-install-db >/dev/null 2>&1 || [[ -x /usr/bin/mariadb-install-db ]]; }; }
# Chromium only "recommends" fonts: without any, pages render as boxes in screenshots.
have_chromium() { [[ -x /usr/bin/chromium ]] && compgen -G '/usr/share/fonts/truetype/*/*.ttf' >/dev/null; }
have_node()     { command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; }
have_venv()     { "${PYTHON:-python3}" -c 'import ensurepip, venv' >/dev/null 2>&1; }

declare -A PKG=(
  [redis]=redis-server
  [postgres]=postgresql
  [mariadb]=mariadb-server
  [chromium]="chromium fonts-liberation"
  [node]="nodejs npm"
  [venv]=python3-venv
)

wanted=()
for arg in "${@:-test}"; do
  case $arg in
    test) wanted+=(redis postgres mariadb chromium) ;;
    redis|postgres|mariadb|chromium|node|venv) wanted+=("$arg") ;;
    *) echo "usage: $0 [test|node|venv|redis|postgres|mariadb|chromium]..." >&2; exit 2 ;;
  esac
done

missing=()
for w in "${wanted[@]}"; do
  if "have_$w"; then :; else missing+=("${PKG[$w]}"); fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "[apt] all present: ${wanted[*]}"
  exit 0
fi
# shellcheck disable=SC2206
missing=(${missing[*]})   # split "nodejs npm"

if [[ $(id -u) -ne 0 ]]; then
  echo "[apt] WARNING: missing ${missing[*]} and not root: skipping apt." >&2
  echo "[apt]          install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[apt] WARNING: missing ${missing[*]} and no apt-get here: install them by hand." >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
start=$(now)
echo "[apt] apt-get update"
apt-get update -qq
echo "[apt] installing ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
echo "[apt] installed ${missing[*]} in $(elapsed "$start")s"

for w in "${wanted[@]}"; do
  "have_$w" || { echo "[apt] ERROR: ${PKG[$w]} installed but still not found" >&2; exit 1; }
done
