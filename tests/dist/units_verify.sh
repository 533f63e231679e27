#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# systemd-analyze verify on the units of dist/systemd as the build wrote
# them: qkme@.service as an instance (qkme@site-a), the user units of qmail
# in the user manager's mode. The programs they start are the ones just
# built (the configured paths are the install prefix's), and the manual
# pages of Documentation= are the built ones. Any message fails the test:
# systemd-analyze only warns, exit 0, about an unknown or misspelled key.
# Skips (77) where systemd-analyze is absent.
# Usage: units_verify.sh BUILD_DIR QMAIL QKME
set -euo pipefail
build=$1 qmail=$2 qkme=$3
command -v systemd-analyze >/dev/null || { echo "no systemd-analyze: skipped"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
units=$build/dist/systemd
# the built pages where man looks for them
for p in "$build"/dist/man/*.[0-9]; do
    s=${p##*.}
    mkdir -p "$tmp/man/man$s"
    cp "$p" "$tmp/man/man$s/"
done
export MANPATH=$tmp/man
mkdir -m 700 "$tmp/run"
export XDG_RUNTIME_DIR=$tmp/run
exec_qkme=$(grep -oE '^ExecStart=[^ ]+' "$units/qkme@.service" | cut -d= -f2)
exec_qmail=$(grep -oE '^ExecStart=[^ ]+' "$units/qmail-web.service" | cut -d= -f2)
sed "s|^ExecStart=$exec_qkme|ExecStart=$qkme|" "$units/qkme@.service" > "$tmp/qkme@site-a.service"
for u in qmail-web qmail-sync; do
    sed "s|^ExecStart=$exec_qmail|ExecStart=$qmail|" "$units/$u.service" > "$tmp/$u.service"
done
fail=0
out=$(systemd-analyze verify "$tmp/qkme@site-a.service" 2>&1) || fail=1
[ -z "$out" ] || { echo "$out"; fail=1; }
out=$(systemd-analyze --user verify "$tmp/qmail-web.service" "$tmp/qmail-sync.service" 2>&1) || fail=1
[ -z "$out" ] || { echo "$out"; fail=1; }
# the hardening asked for by issue 21 is there
for key in 'ProtectSystem=strict' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
    'StateDirectory=qkme/%i' 'User=qkme'; do
    grep -qx "$key" "$units/qkme@.service" || { echo "qkme@.service lacks $key"; fail=1; }
done
[ $fail -eq 0 ] && echo "systemd-analyze verify: the units are clean"
exit $fail
