# SPDX-License-Identifier: MIT
"""The plain baseline of bench_chat (bench/chat.c, `make bench-chat`).

The same ping-pong as QMail's, with no QMail: N plain text messages,
alice and bob in turn, each sent by one `curl` process through the
submission port (STARTTLS, AUTH, as QMail's one SMTP session per message)
and received by the other side's Python imaplib session in IMAP IDLE on
INBOX (RFC 2177; Python 3.11's imaplib has no idle(), so the command is
written on its connection): from the moment curl is started until the
receiver has read the new message's text (FETCH BODY.PEEK[]). The
receiver is in IDLE before the send starts, as a chat client waits.

Usage: chat_baseline.py HOST CA SUBMISSION_PORT IMAPS_PORT N OUTDIR
          ALICE ALICE_PASS BOB BOB_PASS
Prints "lat K MS" per message (K from 0), "fail KIND" per failure, and
"done" at the end; exit 0 unless it could not run at all.
"""
import email.utils
import imaplib
import os
import re
import ssl
import subprocess
import sys
import time

TIMEOUT_S = 120


def connect(host, port, ctx, user, pw):
    i = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=TIMEOUT_S)
    i.login(user, pw)
    typ, data = i.select("INBOX")
    if typ != "OK":
        raise RuntimeError("SELECT INBOX: %r" % data)
    return i, int(data[0])


def idle_start(i):
    """IDLE on i; returns its tag once the server said '+'."""
    tag = i._new_tag()
    i.send(tag + b" IDLE\r\n")
    while True:
        line = i.readline()
        if not line:
            raise RuntimeError("IDLE: connection closed")
        if line.startswith(b"+"):
            return tag
        if line.startswith(tag):
            raise RuntimeError("IDLE refused: %r" % line)


def idle_until_exists(i, tag, have):
    """Reads i's untagged lines until EXISTS grows past have; ends IDLE;
    returns the new count."""
    n = have
    deadline = time.monotonic() + TIMEOUT_S
    while n <= have:
        if time.monotonic() > deadline:
            raise RuntimeError("no EXISTS in %d s" % TIMEOUT_S)
        line = i.readline()
        if not line:
            raise RuntimeError("IDLE: connection closed")
        m = re.match(rb"\* (\d+) EXISTS", line)
        if m:
            n = int(m.group(1))
    i.send(b"DONE\r\n")
    while True:
        line = i.readline()
        if not line:
            raise RuntimeError("DONE: connection closed")
        if line.startswith(tag):
            break
        m = re.match(rb"\* (\d+) EXISTS", line)
        if m:
            n = int(m.group(1))
    i.tagged_commands.pop(tag, None)
    return n


def message(path, frm, to, k, text):
    with open(path, "wb") as f:
        f.write(
            (
                "From: <%s>\r\nTo: <%s>\r\nSubject: chat baseline %d\r\n"
                "Date: %s\r\nMessage-ID: <chat-baseline-%d-%d@qmail.test>\r\n"
                "MIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
                % (frm, to, k, email.utils.formatdate(), k, os.getpid(), text)
            ).encode()
        )


def main():
    (host, ca, smtp_port, imap_port, n, outdir,
     a_user, a_pw, b_user, b_pw) = sys.argv[1:11]
    n = int(n)
    ctx = ssl.create_default_context(cafile=ca)
    users = [(a_user, a_pw), (b_user, b_pw)]
    conns = []
    for u, pw in users:
        conns.append(list(connect(host, int(imap_port), ctx, u, pw)))
    eml = os.path.join(outdir, "baseline.eml")
    log = os.path.join(outdir, "baseline-curl.log")
    for k in range(n):
        s, r = k % 2, 1 - k % 2
        text = "ping %d from %s %d" % (k, users[s][0], os.getpid())
        message(eml, users[s][0], users[r][0], k, text)
        i, have = conns[r]
        try:
            tag = idle_start(i)
            t0 = time.monotonic()
            with open(log, "ab") as lf:
                rc = subprocess.run(
                    ["curl", "--silent", "--show-error", "--url",
                     "smtp://%s:%s" % (host, smtp_port), "--ssl-reqd",
                     "--mail-from", users[s][0], "--mail-rcpt", users[r][0],
                     "--upload-file", eml, "--cacert", ca,
                     "--user", "%s:%s" % users[s]],
                    stdout=lf, stderr=lf).returncode
            if rc != 0:
                print("fail curl exited with %d" % rc, flush=True)
                break
            got = idle_until_exists(i, tag, have)
            typ, data = i.fetch(str(got).encode(), "(BODY.PEEK[])")
            t1 = time.monotonic()
            conns[r][1] = got
            body = b"".join(x[1] for x in data if isinstance(x, tuple))
            if typ != "OK" or text.encode() not in body:
                print("fail the newest message is not the one sent",
                      flush=True)
                continue
            print("lat %d %.3f" % (k, (t1 - t0) * 1e3), flush=True)
        except Exception as e:  # a failure stops the run: say it
            print("fail %s" % str(e).replace("\n", " ")[:200], flush=True)
            break
    for i, _ in conns:
        try:
            i.logout()
        except Exception:
            pass
    print("done", flush=True)


if __name__ == "__main__":
    main()
