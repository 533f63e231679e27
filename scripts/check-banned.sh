#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails when C code under src/, tests/, bench/ or fuzz/ calls a banned
# unbounded function (strcpy, strcat, sprintf, vsprintf, gets, atoi, atol,
# atoll) or clears what looks like a secret with memset.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files -co --exclude-standard -- 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h' 'bench/*.c' 'fuzz/*.c' 'demo/*.c' 2>/dev/null || true)
[ -n "$files" ] || exit 0
bad=0
if out=$(grep -nE '(^|[^_[:alnum:]])(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll)[[:space:]]*\(' $files); then
  echo "banned unbounded functions (use qm_strlcpy, snprintf, qm_buf_*, qm_parse_ll):" >&2
  echo "$out" >&2
  bad=1
fi
if out=$(grep -nE 'memset[[:space:]]*\([^)]*(key|secret|pass|token|seed|priv)' $(echo "$files" | grep '^src/' || true) /dev/null); then
  echo "memset on what looks like a secret (use qm_wipe / sodium_memzero):" >&2
  echo "$out" >&2
  bad=1
fi
exit $bad
