#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every manual page the build made renders without a single warning:
# groff -ww -z -man, and man -l with warnings where man is installed.
# Usage: man_render.sh MAN_BUILD_DIR PAGE...
set -euo pipefail
dir=$1
shift
fail=0
for page in "$@"; do
    f=$dir/$page
    if [ ! -s "$f" ]; then
        echo "FAIL: $f was not built"
        fail=1
        continue
    fi
    if ! out=$(LC_ALL=C.UTF-8 groff -ww -z -man -Tutf8 "$f" 2>&1) || [ -n "$out" ]; then
        echo "FAIL: groff -ww on $page:"
        echo "$out"
        fail=1
    fi
    if command -v man >/dev/null; then
        if ! out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=w -l "$f" 2>&1 >/dev/null) ||
            [ -n "$out" ]; then
            echo "FAIL: man -l on $page:"
            echo "$out"
            fail=1
        fi
    fi
done
[ $fail -eq 0 ] && echo "$# pages render without warnings"
exit $fail
