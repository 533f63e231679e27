# SPDX-License-Identifier: MIT
"""A plain mail client's view of a QMail chat message (test chat_plain).

Python's imaplib fetches the message whose Message-ID is MSGID from
FOLDER of USER's mailbox, raw (BODY.PEEK[], nothing marked read), writes it
to OUT, and checks what a person with a plain mail client sees (Python's
email package reads it as such a client would):

- the Subject is the short placeholder "[QMail encrypted message]";
- the text shown is a short readable notice: the preamble (what a
  MIME-unaware reader shows) and the control part say in plain words that
  the message is encrypted and opens in QMail, each under 300 characters of
  printable ASCII;
- nothing else is meant for a person: the only other part is the
  attachment message.qmail (the ciphertext, base64);
- the chat text SECRET is nowhere in the raw message, in any part's
  decoded content, nor its first line in the inner Subject "Chat: ...";
  no chat header (Chat-Version, Chat-Group-ID) is outside the envelope.

Usage: chat_plain_client.py HOST CA IMAPS_PORT USER PASS FOLDER MSGID
                            SECRET OUT
Exit 0 when all holds; 3 when the message is not in the folder within
60 s; 1 with the reason on standard output when a check fails.
"""
import email
import email.policy
import imaplib
import ssl
import sys
import time

PLACEHOLDER = "[QMail encrypted message]"
NOTICE_MAX = 300


def fail(why):
    print("FAIL: " + why)
    sys.exit(1)


def fetch(host, ca, port, user, pw, folder, msgid):
    ctx = ssl.create_default_context(cafile=ca)
    deadline = time.time() + 60
    while True:
        i = imaplib.IMAP4_SSL(host, port, ssl_context=ctx)
        i.login(user, pw)
        typ, _ = i.select('"%s"' % folder, readonly=True)
        if typ == "OK":
            typ, d = i.search(None, "HEADER", "Message-ID", msgid)
            ids = d[0].split() if typ == "OK" else []
            if ids:
                typ, d = i.fetch(ids[-1], "(BODY.PEEK[])")
                i.logout()
                return b"".join(x[1] for x in d if isinstance(x, tuple))
        i.logout()
        if time.time() > deadline:
            print("no message %s in %s of %s after 60 s" % (msgid, folder,
                                                          user))
            sys.exit(3)
        time.sleep(0.2)


def readable(what, text):
    t = text.strip()
    if not t:
        fail("%s is empty" % what)
    if len(t) > NOTICE_MAX:
        fail("%s is %d characters, not a short notice" % (what, len(t)))
    if any(not (32 <= ord(ch) < 127 or ch in "\r\n\t") for ch in t):
        fail("%s is not plain readable text: %r" % (what, t))
    low = t.lower()
    if "qmail" not in low or "encrypted" not in low:
        fail("%s does not say it is a QMail encrypted message: %r"
             % (what, t))
    return t


def main():
    host, ca, port, user, pw, folder, msgid, secret, out = sys.argv[1:10]
    raw = fetch(host, ca, int(port), user, pw, folder, msgid)
    with open(out, "wb") as f:
        f.write(raw)
    first = secret.splitlines()[0]
    for needle, what in ((secret, "the chat text"),
                         ("Chat: " + first, "the inner Subject")):
        if needle.encode() in raw:
            fail("%s is in the raw message in clear" % what)
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    for h in (b"\nchat-version:", b"\nchat-group-id:"):
        if h in b"\n" + head:
            fail("a chat header is outside the envelope: %r" % h)

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg["Subject"] != PLACEHOLDER:
        fail("the Subject a plain client shows is %r" % msg["Subject"])
    shown = [readable("the preamble", msg.preamble or "")]
    attachments = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        data = part.get_payload(decode=True) or b""
        if secret.encode() in data or first.encode() in data:
            fail("the chat text is in clear in a %s part"
                 % part.get_content_type())
        name = part.get_filename()
        if part.get_content_disposition() == "attachment" or name:
            attachments.append((name, part.get_content_type(), len(data)))
            continue
        # a part meant to be read: short readable words
        shown.append(readable("the %s part" % part.get_content_type(),
                              data.decode("ascii", "replace")))
    if (len(attachments) != 1 or attachments[0][0] != "message.qmail"
            or attachments[0][1] != "application/octet-stream"):
        fail("the attachments are %r, not the one message.qmail"
             % attachments)
    print("Subject: %s" % msg["Subject"])
    for t in shown:
        print("shown: %s" % t.replace("\r", "").replace("\n", " / "))
    print("attachment: %s, %s, %d bytes" % attachments[0])
    print("%d bytes raw, no chat text in clear" % len(raw))


if __name__ == "__main__":
    main()
