#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails when C code under src/, tests/, bench/ or fuzz/ calls a banned
# unbounded function (strcpy, strcat, sprintf, vsprintf, gets, atoi, atol,
# atoll), clears what looks like a secret with memset, or declares in a
# header under src/ a function returning enum qm_err without QM_NODISCARD.
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
# Every function (and function pointer) a header under src/ declares
# returning enum qm_err is QM_NODISCARD (docs/ARCHITECTURE.md section 2,
# "Names"), but for the four that only record an error and return its code.
hdrs=$(echo "$files" | grep -E '^src/.*\.h$' || true)
if [ -n "$hdrs" ] && out=$(perl -0777 -ne '
    s{/\*.*?\*/}{}gs;
    while (/(?:^|[;{}])\s*((?:QM_NODISCARD\s+)?(?:typedef\s+)?enum\s+qm_err\s*\(?\s*\*?\s*(\w+)\s*\)?\s*\()/gm) {
      my ($d, $n) = ($1, $2);
      next if $d =~ /QM_NODISCARD/;
      next if $n =~ /^(qm_error_set|qm_error_prefix|qm_error_hint|qm_mail_limit_error)$/;
      print "$ARGV: $n\n";
    }' $hdrs); [ -n "$out" ]; then
  echo "functions returning enum qm_err without QM_NODISCARD:" >&2
  echo "$out" >&2
  bad=1
fi
if out=$(grep -nE 'memset[[:space:]]*\([^)]*(key|secret|pass|token|seed|priv)' $(echo "$files" | grep '^src/' || true) /dev/null); then
  echo "memset on what looks like a secret (use qm_wipe / sodium_memzero):" >&2
  echo "$out" >&2
  bad=1
fi
exit $bad
