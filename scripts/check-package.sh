#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make check-package: the .deb files that make deb left in DEB_DIR are
# unpacked into a throw-away root (dpkg -x: no maintainer script runs, no
# system file changes), qmail --version and qkme --version run from that
# root with nothing else on the PATH but the system's folders, the files a
# person needs are in each package, and lintian reports no error.
# Usage: scripts/check-package.sh DEB_DIR
set -euo pipefail
dir=$1
version=$(dpkg-parsechangelog -l "$(dirname "$0")/../debian/changelog" -S Version)
qmail_deb=$(ls "$dir"/qmail_"$version"_*.deb)
qkme_deb=$(ls "$dir"/qkme_"$version"_*.deb)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail=0

dpkg -x "$qmail_deb" "$root"
dpkg -x "$qkme_deb" "$root"
export PATH=$root/usr/bin:$root/usr/sbin:/usr/bin:/bin:/usr/sbin:/sbin
for prog in qmail qkme; do
    where=$(command -v $prog)
    case $where in
    "$root"/*) ;;
    *) echo "FAIL: $prog runs from $where, not from the package"; fail=1 ;;
    esac
    got=$($prog --version)
    if [ "$got" != "$prog ${version%%-*}" ]; then
        echo "FAIL: $prog --version printed \"$got\", not \"$prog ${version%%-*}\""
        fail=1
    else
        echo "ok: $got, from $where"
    fi
done

# what each package must hold
check_has() {
    local deb=$1
    shift
    dpkg-deb -c "$deb" | awk '{print $6}' > "$root/list"
    for f in "$@"; do
        grep -qxF "./$f" "$root/list" ||
            { echo "FAIL: $(basename "$deb") lacks /$f"; fail=1; }
    done
}
check_has "$qmail_deb" usr/bin/qmail usr/share/man/man1/qmail.1.gz \
    usr/share/man/man7/qmail-levels.7.gz usr/share/bash-completion/completions/qmail \
    usr/lib/systemd/user/qmail-web.service usr/lib/systemd/user/qmail-sync.service \
    usr/share/doc/qmail/README.md.gz usr/share/doc/qmail/docs/USING.md.gz usr/share/doc/qmail/copyright
check_has "$qkme_deb" usr/sbin/qkme usr/share/man/man8/qkme.8.gz \
    usr/share/man/man5/qkme.conf.5.gz lib/systemd/system/qkme@.service \
    usr/lib/sysusers.d/qkme.conf usr/share/doc/qkme/copyright

# qmail loads libcurl and libmicrohttpd only when a command needs them
# (src/cli/lazylib.c): they are not in its ELF NEEDED list, so
# dpkg-shlibdeps cannot see them; debian/control names them
deps=$(dpkg-deb -f "$qmail_deb" Depends)
for lib in libcurl4 libmicrohttpd12; do
    case ",$deps," in
    *[\ ,]$lib[\ ,\(]*) ;;
    *) echo "FAIL: the qmail package does not depend on $lib (loaded at run time): $deps"; fail=1 ;;
    esac
done

# lintian: errors fail, warnings are shown
if ! lintian --fail-on error --tag-display-limit 0 "$qmail_deb" "$qkme_deb"; then
    echo "FAIL: lintian reports errors"
    fail=1
fi
[ $fail -eq 0 ] && echo "check-package: both packages install and run; lintian finds no error"
exit $fail
