# Shared helpers for scripts/*.sh (source it; not executable on its own).

# now: a timestamp for elapsed
now() { date +%s.%N; }

# elapsed START: seconds since START, one decimal
elapsed() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# sha_of FILE...: one sha256 over the contents of the files (missing files count as empty)
sha_of() { local f; for f in "$@"; do printf '%s\0' "$f"; cat "$f" 2>/dev/null || true; done | sha256sum | cut -d' ' -f1; }
