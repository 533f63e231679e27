#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs what QMail needs to build, test and run its demo on Debian 12:
# Debian packages (apt-get) and the pinned npm packages (package-lock.json).
# Idempotent and quiet when everything is present. Needs root for apt-get.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)

# Debian packages, one per line; the comment says who needs it.
pkgs=(
  build-essential cmake pkg-config git        # build
  libsodium-dev libssl-dev                    # crypto
  libcurl4-openssl-dev                        # SMTP/IMAP/POP3 and ETSI 014 client
  libgmime-3.0-dev                            # MIME
  libmicrohttpd-dev libjansson-dev            # web GUI and qkme
  libqrencode-dev                             # web GUI: the safety number's QR code
  libgnutls28-dev                             # qkme: client-certificate checks (GnuTLS under libmicrohttpd)
  libsqlite3-dev sqlite3                      # store
  libcmocka-dev                               # unit tests
  opensmtpd dovecot-imapd dovecot-pop3d dovecot-lmtpd  # real mail servers for tests
  dovecot-submissiond                         # TLS + AUTH submission in front of OpenSMTPD (tests)
  dnsmasq-base                                # account discovery tests: SRV/MX/A records on loopback (no service)
  openssl ca-certificates                     # test CA
  gnupg                                       # benchmark baseline
  curl python3                                # plain-client baselines and tests (bench-e2e, bench-chat, plain_mail, chat_plain)
  isync                                       # make bench-sync: mbsync, the baseline of a first sync
  jq                                          # make bench: reads the benchmarks' JSON (scripts/bench-report.sh)
  clang                                       # fuzzing (libFuzzer)
  chromium                                    # browser tests (headless)
  scdoc groff-base man-db                     # the manual pages (dist/man): built by scdoc, checked by groff -ww
  debhelper fakeroot dpkg-dev lintian         # make deb, make check-package (debian/)
  systemd                                     # systemd-analyze verify of the units (dist/systemd)
)
want=()
for p in "${pkgs[@]}"; do
  case "$p" in \#*) continue ;; esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    want+=("$p")
  fi
done

# Node.js with npm: any install that has both will do (Debian's, or one already here).
if ! command -v npm >/dev/null 2>&1; then
  want+=(nodejs npm)
fi

if [ ${#want[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "QMail needs these Debian packages, and installing them needs root:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${want[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${want[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Installing a server package must not start it: the tests start their own.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi

# npm packages, exactly as pinned in package-lock.json. --ignore-scripts: pqclean's
# install script would build a Node addon and download Node headers; we only need
# its C sources.
cd "$here"
stamp=node_modules/.qmail-lock.sha256
sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  echo "$sum" > "$stamp"
fi
