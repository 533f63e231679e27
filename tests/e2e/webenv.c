/* SPDX-License-Identifier: MIT */
/*
 * The world the browser tests run in: the real mail servers and qkme KMEs
 * of tests/lib/world.h, with alice's and bob's clients served by
 * two real web GUI servers (qm_web_server_start, the code `qmail web`
 * runs), plus a third server over a fresh, empty home for the first-run
 * flow. Prints one JSON line with the addresses, then obeys commands on
 * stdin, one per line, answering "ok ..." or "error ...":
 *   tamper        alters one byte inside the envelope of bob's newest
 *                 stored message (same length, as an attacker on the
 *                 server would)
 *   eve on|off    switches the intercept-resend eavesdropper on every link
 *   xss           delivers the XSS corpus to bob as plain mail, one
 *                 message per payload (subject, name, text, HTML part and
 *                 attachment name), and waits for delivery
 *   forged        carol's SAE sends bob a level-2 message "From: alice",
 *                 built by hand (tests/lib/craft.h), and waits for
 *                 its delivery
 *   stranger N    dave (dave@qmail.test), whom alice never met, writes
 *                 her at level 3 with his key N (1, 2: a second key is a
 *                 changed one) in the message's identity header, built by
 *                 hand; waits for its delivery and answers "ok" and the
 *                 safety number dave computes for himself and alice
 *   wait N        waits until bob's mailbox holds at least N messages
 *   folders       as another IMAP client of bob's: creates and subscribes
 *                 Projects, Projects/2026 and a folder named with HTML
 *                 and script characters, and files a conversation of
 *                 three (In-Reply-To, References) and two messages to move
 *                 in INBOX, one in Projects/2026
 *   flags SUBJECT the server's flags of bob's INBOX message with that
 *                 subject: "ok \\Seen \\Flagged" ("ok -" when it has
 *                 none; "error ..." when there is no such message)
 *   where SUBJECT the folders of bob's server holding a message with that
 *                 subject: "ok INBOX,Archive" ("ok -" when none; the
 *                 folders of the folders command, Archive, Junk, Trash
 *                 and the Clients and Customers the test makes)
 *   folder NAME   whether bob's server lists a folder of that name (LIST
 *                 as another IMAP client): "ok yes" or "ok no"
 *   headeronly SUBJECT
 *                 files in bob's INBOX, through a second handle on his
 *                 home, a plain message listed from its headers whose
 *                 body is not downloaded (body_pending, the state a
 *                 header-first sync leaves until the bodies come), dated
 *                 now, at a UID the server has not given (a sync would
 *                 find it gone: the test turns bob's background sync off
 *                 first); answers "ok ID"
 *   gui           delivers to bob the plain mail the GUI test reads
 *                 (tests/e2e/gui.mjs): named senders, an HTML-only
 *                 message with two https and one http remote images, an
 *                 attachment without a name, a subject of one unbroken
 *                 word, a text with web addresses; waits for delivery
 *   quit          stops everything
 * Test code only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "craft.h"
#include "dnsserver.h"
#include "harness.h"
#include "web/web.h"
#include "world.h"

static struct world w;
static struct qm_web_server *srv[3];
static struct qm_client *fresh;
static char fresh_home[700];
/* the DNS server the fresh home's discovery asks: qmail.test's SRV
 * records name the test's mail servers (nothing leaves the machine) */
static struct qmt_dns dns;

/* Hands one raw message to the MTA for bob (plain SMTP on loopback). */
static int deliver(const char *msg)
{
	return qmt_mail_deliver(&w.mail, "mallory@example.net",
	                        qmt_mail_addr(W_BOB), msg, strlen(msg));
}

/* Base64 of a short string, for the RFC 2047 subject and name. */
static void b64(const char *s, char *out, size_t cap)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), i, o = 0;

	for (i = 0; i < n && o + 5 < cap; i += 3) {
		unsigned v = (unsigned char)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		out[o++] = t[(v >> 18) & 63];
		out[o++] = t[(v >> 12) & 63];
		out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static int cmd_xss(void)
{
	char path[700], line[4096], subj[6000], name[6000];
	struct qm_buf msg;
	int have, n = 0, r;
	FILE *f;

	have = qmt_mail_files(&w.mail, W_BOB, NULL, NULL, 0);
	snprintf(path, sizeof(path), "%s/tests/unit/web/xss_corpus.txt",
	         qmt_source_dir());
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		n++;
		b64(line, subj, sizeof(subj));
		b64(line, name, sizeof(name));
		qm_buf_init(&msg, 65536);
		/* too long a line: no message rather than a cut one */
		if (qm_buf_appendf(
		        &msg, NULL,
		        "From: =?utf-8?B?%s?= <mallory@example.net>\r\n"
		        "To: bob@qmail.test\r\n"
		        "Subject: =?utf-8?B?%s?=\r\n"
		        "Date: Fri, 27 Nov 2026 10:%02d:00 +0000\r\n"
		        "Message-ID: <xss-%d@example.net>\r\n"
		        "MIME-Version: 1.0\r\n"
		        "Content-Type: multipart/mixed; boundary=\"XB\"\r\n\r\n"
		        "--XB\r\nContent-Type: multipart/alternative; "
		        "boundary=\"XA\"\r\n\r\n"
		        "--XA\r\nContent-Type: text/plain; "
		        "charset=utf-8\r\n\r\nxss %d: %s\r\n"
		        "--XA\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
		        "<html><body><p>xss "
		        "%d</p>%s</body></html>\r\n--XA--\r\n"
		        "--XB\r\nContent-Type: text/plain; "
		        "name=\"=?utf-8?B?%s?=\"\r\n"
		        "Content-Disposition: attachment; "
		        "filename=\"=?utf-8?B?%s?=\"\r\n\r\n"
		        "payload %d\r\n--XB--\r\n",
		        name, subj, n % 60, n, n, line, n, line, name, name,
		        n) != QM_OK)
			r = -1;
		else
			r = msg.data ? deliver((const char *)msg.data) : -1;
		qm_buf_free(&msg);
		if (r != 0)
			break;
	}
	fclose(f);
	if (qmt_mail_wait_files(&w.mail, W_BOB, NULL, have + n, 60000) < 0)
		return -1;
	return n;
}

/* A plain HTML mail for bob whose images are cid: references: one to its
 * own image part (shown in place), one to its own text part and one to a
 * part it does not have (both refused), and a remote one (never loaded). */
static int cmd_cid(void)
{
	static const char png[] =
	    "iVBORw0KGgoAAAANSUhEUgAAAEAAAAAgCAIAAAAt/+nTAAAAwUlEQVR42u3X0UYDYB"
	    "iH8V3Jc7xrSmaSSWZmJplJkklmJplJZjJJkswk2QU819TRDna4vqMd7s93+Hi9v6PX"
	    "V/mz+u/jXJrSkrZ0pCsXcmmxv5ehjGQsD/IoE5mW+3f5kE/5kqWs5Ft+yn1Dztzdqh"
	    "JAAAEEEMBeAI7kWGpSlxM5dZsWB/WkL1dyLTdyKwO5K/dP8iwzmcuLLORV3sr9r6zd"
	    "3arUBxBAAAEEsB8glziAAAIIIP+BXOIAAggggIMFbABch01E/WGGNQAAAABJRU5Erk"
	    "Jggg==\r\n";
	struct qm_buf msg;
	int have, r;

	have = qmt_mail_files(&w.mail, W_BOB, NULL, NULL, 0);
	qm_buf_init(&msg, 65536);
	if (qm_buf_appendf(
	        &msg, NULL,
	        "From: Newsletter <news@example.net>\r\n"
	        "To: bob@qmail.test\r\n"
	        "Subject: Inline logo\r\n"
	        "Date: Fri, 27 Nov 2026 11:00:00 +0000\r\n"
	        "Message-ID: <cid-1@example.net>\r\n"
	        "MIME-Version: 1.0\r\n"
	        "Content-Type: multipart/related; boundary=\"XR\"\r\n\r\n"
	        "--XR\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
	        "<html><body><p>Our logo: <img id=\"own\" alt=\"logo\" "
	        "src=\"cid:logo@example.net\"></p>"
	        "<p><img id=\"text\" alt=\"not an image\" "
	        "src=\"cid:notes@example.net\">"
	        "<img id=\"gone\" alt=\"another message\" "
	        "src=\"cid:elsewhere@example.net\">"
	        "<img id=\"remote\" alt=\"remote\" "
	        "src=\"https://tracker.example.net/t.png\"></p>"
	        "</body></html>\r\n"
	        "--XR\r\nContent-Type: image/png\r\n"
	        "Content-ID: <logo@example.net>\r\n"
	        "Content-Transfer-Encoding: base64\r\n\r\n%s"
	        "--XR\r\nContent-Type: text/plain\r\n"
	        "Content-ID: <notes@example.net>\r\n\r\nnot an image\r\n"
	        "--XR--\r\n",
	        png) != QM_OK)
		r = -1;
	else
		r = msg.data ? deliver((const char *)msg.data) : -1;
	qm_buf_free(&msg);
	if (r != 0)
		return -1;
	return qmt_mail_wait_files(&w.mail, W_BOB, NULL, have + 1, 60000);
}

/* The plain mail of the GUI test (see the comment at the top). */
static int cmd_gui(void)
{
	static const char *const msgs[] = {
	    "From: Ann Example <ann@example.net>\r\n"
	    "Subject: Quarterly planning meeting moved to Thursday\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	    "Hi Bob,\r\n\r\nThe planning meeting moves to Thursday at 10. "
	    "The agenda is at https://intranet.example.net/agenda?q=1 and "
	    "questions go to mailto:ann@example.net.\r\n\r\n> old quote\r\n",
	    "From: \"Lee, Chris\" <chris@example.org>\r\n"
	    "Subject: Photos from the trip\r\n"
	    "Content-Type: text/html; charset=utf-8\r\n\r\n"
	    "<html><head><style>p{color:red}</style></head><body>"
	    "<p>Here are the <b>photos</b> from the trip.</p>"
	    "<img alt=\"one\" src=\"https://img.example.org/1.jpg\">"
	    "<img alt=\"two\" src=\"https://img.example.org/2.jpg\">"
	    "<img alt=\"three\" src=\"http://img.example.org/3.jpg\">"
	    "<ul><li>Beach</li><li>Hills</li></ul></body></html>\r\n",
	    "From: Scanner <scanner@example.org>\r\n"
	    "Subject: Scanned document\r\n"
	    "Content-Type: multipart/mixed; boundary=\"XU\"\r\n\r\n"
	    "--XU\r\nContent-Type: text/plain\r\n\r\nYour scan is "
	    "attached.\r\n--XU\r\nContent-Type: application/pdf\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJSVFT0YK"
	    "\r\n--XU--\r\n",
	    "From: Long Words <long@example.org>\r\n"
	    "Subject: Supercalifragilisticexpialidocious"
	    "Supercalifragilisticexpialidocious"
	    "Supercalifragilisticexpialidocious"
	    "Supercalifragilisticexpialidocious\r\n"
	    "Content-Type: text/plain\r\n\r\nOne long word.\r\n",
	};
	struct qm_buf msg;
	int have, r = 0;
	size_t i;

	have = qmt_mail_files(&w.mail, W_BOB, NULL, NULL, 0);
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]) && r == 0; i++) {
		qm_buf_init(&msg, 8192);
		if (qm_buf_appendf(&msg, NULL,
		                   "To: Bob <bob@qmail.test>\r\n"
		                   "Date: Sat, 5 Dec 2026 09:%02zu:00 +0000\r\n"
		                   "Message-ID: <gui-%zu@example.net>\r\n"
		                   "MIME-Version: 1.0\r\n%s",
		                   i, i, msgs[i]) != QM_OK)
			r = -1;
		else
			r = msg.data ? deliver((const char *)msg.data) : -1;
		qm_buf_free(&msg);
	}
	if (r != 0)
		return -1;
	return qmt_mail_wait_files(&w.mail, W_BOB, NULL,
	                           have + (int)(sizeof(msgs) / sizeof(msgs[0])),
	                           60000);
}

static int cmd_tamper(void)
{
	char paths[200][512];
	int n = qmt_mail_files(&w.mail, W_BOB, NULL, paths, 200);
	unsigned char *p;
	size_t len, i;
	char *env;

	if (n <= 0)
		return -1;
	if (n > 200)
		n = 200;
	p = qmt_mail_read(paths[n - 1], &len);
	if (!p)
		return -1;
	/* flip one base64 letter in the middle of the envelope part */
	env = strstr((char *)p, "filename=\"message.qmail\"");
	if (!env) {
		fprintf(stderr, "webenv: %s is not a QMail message\n",
		        paths[n - 1]);
		free(p);
		return -1;
	}
	/* the part's body starts after the blank line (Maildir keeps LF or
	 * CRLF line ends) */
	{
		char *a = strstr(env, "\n\n"), *b = strstr(env, "\r\n\r\n");
		env = a && (!b || a < b) ? a : b;
	}
	if (!env) {
		fprintf(stderr, "webenv: no envelope body in %s\n",
		        paths[n - 1]);
		free(p);
		return -1;
	}
	i = (size_t)(env - (char *)p) + 4 + 200;
	if (i >= len) {
		free(p);
		return -1;
	}
	while (i < len &&
	       !((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z')))
		i++;
	p[i] = p[i] == 'A' ? 'B' : 'A';
	n = qmt_mail_rewrite(paths[n - 1], p, len);
	free(p);
	if (n != 0)
		fprintf(stderr, "webenv: could not rewrite the message\n");
	return n;
}

/* Another user of the QKD network (carol, with an SAE of her own) sends
 * bob a level-2 message that says it is from alice. */
/* dave's keys, made once each (stranger) */
static struct qm_identity *dave[2];

/* stranger N: see the top of the file. */
static void cmd_stranger(const char *arg)
{
	const char *addr = "dave@qmail.test";
	struct qm_pubid *alice = NULL, *me = NULL;
	struct qm_buf head, wire, all;
	struct craft_msg m;
	struct qm_error e;
	unsigned char fa[QM_FPR_BYTES], fd[QM_FPR_BYTES];
	char number[QM_SAFETY_TEXTLEN];
	int k = arg[0] == '2' ? 1 : 0, ok = 0;

	qm_error_clear(&e);
	qm_buf_init(&head, 1 << 16);
	qm_buf_init(&wire, 1 << 20);
	qm_buf_init(&all, 1 << 20);
	if ((!dave[k] && qm_crypto_identity_new(&dave[k], &e)) ||
	    qm_crypto_identity_public(dave[k], &me, &e) ||
	    craft_pubid(&w, W_BOB, qmt_mail_addr(W_ALICE), &alice) ||
	    qm_crypto_idhdr_build(me, addr, NULL, NULL, &head, &e) ||
	    qm_buf_append_byte(&head, 0, &e))
		goto out;
	memset(&m, 0, sizeof(m));
	m.level = 3;
	m.from = "Dave <dave@qmail.test>";
	m.to = qmt_mail_addr(W_ALICE);
	m.subject = k ? "Dave again, new laptop" : "Hello from Dave";
	m.text = "We have not met: my key comes with this message.\n";
	m.sender = dave[k];
	m.rcpt = alice;
	m.inner_head = (const char *)head.data;
	if (craft_build(&m, &wire, NULL) ||
	    qm_buf_append(&all, head.data, head.len - 1, &e) ||
	    qm_buf_append(&all, wire.data, wire.len, &e) ||
	    craft_deliver(&w, W_ALICE, all.data, all.len))
		goto out;
	qm_crypto_pubid_fingerprint(alice, fa);
	qm_crypto_pubid_fingerprint(me, fd);
	ok = qm_crypto_safety_number(addr, fd, qmt_mail_addr(W_ALICE), fa,
	                             number, &e) == QM_OK;
out:
	if (ok)
		printf("ok %s\n", number);
	else
		printf("error stranger: %s\n", qm_error_msg(&e));
	qm_crypto_pubid_free(&alice);
	qm_crypto_pubid_free(&me);
	qm_buf_free(&all);
	qm_buf_free(&wire);
	qm_buf_free(&head);
}

static int cmd_forged(void)
{
	struct qm_kms *kms = NULL;
	struct qm_kms_keys *ks = NULL;
	struct qm_qkey qk;
	struct craft_msg m;
	struct qm_buf wire;
	struct qm_error e;
	int rc = -1;

	qm_error_clear(&e);
	qm_buf_init(&wire, 1 << 20);
	if (craft_kms(&w, W_CAROL, &kms))
		return -1;
	if (qm_kms_keys_get(kms, w.sae[W_BOB], 1, QM_L2_KEYBYTES * 8, NULL, 0,
	                    &ks, &e)) {
		fprintf(stderr, "webenv: carol's key: %s\n", qm_error_msg(&e));
		goto out;
	}
	qk.key_id = qm_kms_keys_id(ks, 0);
	qk.key = qm_kms_keys_key(ks, 0, &qk.len);
	memset(&m, 0, sizeof(m));
	m.level = 2;
	m.from = qmt_mail_addr(W_ALICE);
	m.to = qmt_mail_addr(W_BOB);
	m.subject = "Forged: pay the invoice";
	m.text = "This is alice. Really.\n";
	m.sender_sae = w.sae[W_CAROL];
	m.rcpt_sae = w.sae[W_BOB];
	m.keys = &qk;
	m.nkeys = 1;
	if (craft_build(&m, &wire, NULL) == 0)
		rc = craft_deliver(&w, W_BOB, wire.data, wire.len);
out:
	qm_buf_free(&wire);
	qm_kms_keys_free(&ks);
	qm_kms_free(&kms);
	return rc;
}

static int cmd_eve(int on)
{
	char base[700], body[64];
	int i, ok = 0;

	snprintf(base, sizeof(base), "%s/operator", w.net.dir);
	snprintf(body, sizeof(body), "{\"eavesdropper\":%s}",
	         on ? "1.0" : "0.0");
	for (i = 0; i < w.net.nkmes; i++) {
		long st =
		    kt_req(&w.net, i, base, "/kme/v1/ctl/eve", body, NULL);
		if (st >= 200 && st < 300)
			ok++;
	}
	return ok == w.net.nkmes ? 0 : -1;
}

/* The hostile folder name of the folders command, on the wire (modified
 * UTF-7: "&-" is "&"; no '"' or '\\', which would need an IMAP literal):
 * "<img src=x onerror=alert(1)>&<b>" to a person. */
#define HOSTILE_FOLDER "<img src=x onerror=alert(1)>&-<b>"

static const char *const bob_folders[] = {
    "INBOX",         "Archive",      "Junk",    "Trash",    "Projects",
    "Projects/2026", HOSTILE_FOLDER, "Clients", "Customers"};

static int cmd_folders(void)
{
	static const char *const made[] = {"Projects", "Projects/2026",
	                                   HOSTILE_FOLDER};
	static const struct {
		const char *folder, *subject, *id, *parent;
	} msgs[] = {
	    {"INBOX", "Plans for the launch", "conv1", NULL},
	    {"INBOX", "Re: Plans for the launch", "conv2", "conv1"},
	    {"INBOX", "Re: Re: Plans for the launch", "conv3", "conv2"},
	    {"INBOX", "Move me by the menu", "mv1", NULL},
	    {"INBOX", "Drag me to Projects", "mv2", NULL},
	    {"Projects/2026", "Budget 2026", "pj1", NULL},
	};
	struct qmt_imap *c = qmt_imap_open(&w.mail, W_BOB);
	char msg[2048];
	size_t i, len;
	int rc = 0;

	if (!c)
		return -1;
	for (i = 0; i < sizeof(made) / sizeof(made[0]) && rc == 0; i++)
		if (qmt_imap_cmd(c, "CREATE \"%s\"", made[i]) != 0 ||
		    qmt_imap_cmd(c, "SUBSCRIBE \"%s\"", made[i]) != 0)
			rc = -1;
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]) && rc == 0; i++) {
		len = qmt_mail_message(msg, sizeof(msg), msgs[i].subject,
		                       msgs[i].id, msgs[i].parent);
		if (qmt_imap_append(c, msgs[i].folder, "", msg, len) == 0)
			rc = -1;
	}
	qmt_imap_close(&c);
	return rc;
}

/* The UID of the newest message of folder with subject s; 0 for none. */
static uint32_t find_subject(struct qmt_imap *c, const char *folder,
                             const char *s)
{
	uint32_t uids[64];
	char crit[320];
	int n;

	if (qmt_imap_cmd(c, "SELECT \"%s\"", folder) != 0)
		return 0;
	/* SEARCH SUBJECT matches substrings: the exact header decides */
	snprintf(crit, sizeof(crit), "SUBJECT \"%s\"", s);
	n = qmt_imap_search(c, crit, uids, 64);
	if (n > 64)
		n = 64;
	for (; n > 0; n--) {
		char q[512];

		if (qmt_imap_cmd(
		        c, "UID FETCH %u (BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
		        (unsigned)uids[n - 1]) != 0)
			continue;
		snprintf(q, sizeof(q), "Subject: %s\r\n", s);
		if (strstr(qmt_imap_reply(c), q))
			return uids[n - 1];
	}
	return 0;
}

/* Answers "flags SUBJECT" and "where SUBJECT" (see the top). */
static void cmd_ask(const char *what, const char *subject)
{
	struct qmt_imap *c = qmt_imap_open(&w.mail, W_BOB);
	char out[512] = "", fl[256];
	size_t i;
	uint32_t uid;

	if (!c) {
		printf("error imap\n");
		return;
	}
	if (strcmp(what, "flags") == 0) {
		uid = find_subject(c, "INBOX", subject);
		if (!uid || qmt_imap_flags(c, uid, fl, sizeof(fl)) != 0) {
			qmt_imap_close(&c);
			printf("error no such message in INBOX\n");
			return;
		}
		snprintf(out, sizeof(out), "%s", fl);
	} else {
		for (i = 0; i < sizeof(bob_folders) / sizeof(bob_folders[0]);
		     i++)
			if (find_subject(c, bob_folders[i], subject)) {
				size_t k = strlen(out);
				snprintf(out + k, sizeof(out) - k, "%s%s",
				         k ? "," : "", bob_folders[i]);
			}
	}
	qmt_imap_close(&c);
	printf("ok %s\n", out[0] ? out : "-");
}

/* Answers "folder NAME" (see the top). */
static void cmd_folder(const char *name)
{
	struct qmt_imap *c = qmt_imap_open(&w.mail, W_BOB);
	int yes;

	if (!c || strpbrk(name, "\"\\*%") ||
	    qmt_imap_cmd(c, "LIST \"\" \"%s\"", name) != 0) {
		qmt_imap_close(&c);
		printf("error imap\n");
		return;
	}
	yes = strstr(qmt_imap_reply(c), "* LIST ") != NULL;
	qmt_imap_close(&c);
	printf("ok %s\n", yes ? "yes" : "no");
}

/* Answers "headeronly SUBJECT" (see the top). */
static void cmd_headeronly(const char *subject)
{
	struct qm_client_opts co;
	struct qm_client *c = NULL;
	struct qm_store_folder f;
	struct qm_store_msg m;
	struct qm_error e;
	int64_t id = 0;

	qm_error_clear(&e);
	memset(&f, 0, sizeof(f));
	memset(&co, 0, sizeof(co));
	co.home = w.homes[W_BOB];
	memset(&m, 0, sizeof(m));
	m.account_id = w.acct[W_BOB];
	m.folder = "INBOX";
	m.from_addr = "Dave Large <dave@example.org>";
	m.to_addrs = qmt_mail_addr(W_BOB);
	m.date = qm_now();
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.size = 80000;
	m.body_pending = 1;
	m.uid = 4000000000;
	/* listed in INBOX: a place in the folder as the last sync left it */
	if (qm_client_open(&co, &c, &e) != QM_OK ||
	    qm_client_unlock(c, WORLD_PASS, strlen(WORLD_PASS), &e) != QM_OK ||
	    qm_store_folder_get(qm_client_store(c), m.account_id, "INBOX", &f,
	                        &e) != QM_OK)
		goto out;
	m.uidvalidity = f.uidvalidity;
	if (qm_store_msg_add(qm_client_store(c), &m, subject, NULL, 0, NULL, 0,
	                     NULL, &id, &e) != QM_OK ||
	    qm_store_place_add(qm_client_store(c), f.id, m.uid, id, 0, &e) !=
	        QM_OK)
		goto out;
	printf("ok %lld\n", (long long)id);
	qm_store_folder_clear(&f);
	qm_client_free(&c);
	return;
out:
	printf("error %s\n", qm_error_msg(&e));
	qm_store_folder_clear(&f);
	qm_client_free(&c);
}

static int atoi_safe(const char *s)
{
	long long v = 0;

	return qm_parse_ll(s, 0, 100000, &v, NULL) == QM_OK ? (int)v : 0;
}

int main(void)
{
	struct qm_web_config wc;
	struct qm_client_opts co;
	struct qm_error e;
	char line[256];
	int rc = 1, i;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* QM_WEBENV_TOPOLOGY ("line:4"): the KMEs as a network, alice and
	 * bob at its two ends (tests/e2e/network.mjs) */
	if (getenv("QM_WEBENV_TOPOLOGY") && *getenv("QM_WEBENV_TOPOLOGY"))
		i = world_start_topo(&w, "web-net", NULL,
		                     getenv("QM_WEBENV_TOPOLOGY"));
	else
		i = world_start(&w, "web-e2e", NULL);
	if (i == 1) {
		printf("{\"skip\": \"this machine cannot run the mail "
		       "servers\"}\n");
		fflush(stdout);
		world_stop(&w);
		return 77;
	}
	if (i != 0)
		goto out;
	snprintf(fresh_home, sizeof(fresh_home), "%s/home-fresh", w.mail.dir);
	memset(&co, 0, sizeof(co));
	co.home = fresh_home;
	if (qm_client_open(&co, &fresh, &e) != QM_OK) {
		fprintf(stderr, "webenv: %s\n", qm_error_msg(&e));
		goto out;
	}
	{
		char r[3][160];
		const char *rec[4] = {r[0], r[1], r[2], NULL};

		snprintf(r[0], sizeof(r[0]),
		         "--srv-host=_imaps._tcp.%s,localhost,%d",
		         QMT_MAIL_DOMAIN, w.mail.imaps_port);
		snprintf(r[1], sizeof(r[1]),
		         "--srv-host=_submission._tcp.%s,localhost,%d",
		         QMT_MAIL_DOMAIN, w.mail.submission_port);
		snprintf(r[2], sizeof(r[2]), "--host-record=localhost,127.0.0.1");
		if (qmt_dns_start(&dns, rec) != 0 ||
		    qm_client_setting_set(fresh, 0, QM_CLIENT_SET_DISCOVER_DNS,
		                          dns.server, &e) != QM_OK) {
			fprintf(stderr, "webenv: the DNS server: %s\n",
			        qm_error_msg(&e));
			goto out;
		}
	}
	/* alice keeps copies of what she sends in her Sent folder: her GUI
	 * lists them there as sent by her (docs/CLIENT.md "The account's
	 * own messages") */
	if (qm_store_setting_set(qm_client_store(w.c[W_ALICE]), w.acct[W_ALICE],
	                         "save_sent", "1", &e) != QM_OK) {
		fprintf(stderr, "webenv: %s\n", qm_error_msg(&e));
		goto out;
	}
	/* bob's GUI starts with background checking (and so the IMAP IDLE
	 * push) off: the tamper step alters a message on the server before
	 * bob fetches it; web.mjs turns it on in Settings later */
	if (qm_store_setting_set(qm_client_store(w.c[W_BOB]), 0,
	                         "background_sync_s", "0", &e) != QM_OK) {
		fprintf(stderr, "webenv: %s\n", qm_error_msg(&e));
		goto out;
	}
	/* enough key for the level-1 tests before the browser starts; asked
	 * through alice's client before her server owns it (its threads use
	 * it from then on, and nothing else may) */
	world_wait_pool(&w, W_ALICE, W_BOB, 64 * 1024, 60000);
	memset(&wc, 0, sizeof(wc));
	for (i = 0; i < 3; i++) {
		struct qm_client *c = i == 0   ? w.c[W_ALICE]
		                      : i == 1 ? w.c[W_BOB]
		                               : fresh;
		if (qm_web_server_start(&wc, c, &srv[i], &e) != QM_OK) {
			fprintf(stderr, "webenv: %s\n", qm_error_msg(&e));
			goto out;
		}
	}
	printf(
	    "{\"alice\":\"%s\",\"bob\":\"%s\",\"fresh\":\"%s\","
	    "\"passphrase\":\"correct horse battery staple\","
	    "\"alice_addr\":\"%s\",\"bob_addr\":\"%s\",\"carol_addr\":\"%s\","
	    "\"carol_password\":\"%s\",\"smtp_port\":%d,\"imap_port\":%d,"
	    "\"mail_ca\":\"%s\",\"kme_url\":\"https://127.0.0.1:%d\","
	    "\"kme_ca\":\"%s/ca.crt\",\"kme_cert\":\"%s/sae/%s.crt\","
	    "\"kme_key\":\"%s/sae/%s.key\",\"sae\":\"%s\",\"net_dir\":\"%s\"}\n",
	    qm_web_server_url(srv[0]), qm_web_server_url(srv[1]),
	    qm_web_server_url(srv[2]), qmt_mail_addr(W_ALICE),
	    qmt_mail_addr(W_BOB), qmt_mail_addr(W_CAROL),
	    qmt_mail_password(W_CAROL), w.mail.submission_port,
	    w.mail.imaps_port, w.mail.ca_file, w.net.ports[w.kme[W_CAROL]],
	    w.net.dir,
	    w.net.dir, w.sae[W_CAROL], w.net.dir, w.sae[W_CAROL],
	    w.sae[W_CAROL], w.net.dir);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		int r;
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		if (strcmp(line, "tamper") == 0)
			r = cmd_tamper();
		else if (strcmp(line, "forged") == 0)
			r = cmd_forged();
		else if (strcmp(line, "eve on") == 0)
			r = cmd_eve(1);
		else if (strcmp(line, "eve off") == 0)
			r = cmd_eve(0);
		else if (strcmp(line, "xss") == 0)
			r = cmd_xss();
		else if (strcmp(line, "cid") == 0)
			r = cmd_cid();
		else if (strcmp(line, "gui") == 0)
			r = cmd_gui();
		else if (strcmp(line, "folders") == 0)
			r = cmd_folders();
		else if (strncmp(line, "flags ", 6) == 0 ||
		         strncmp(line, "where ", 6) == 0) {
			line[5] = '\0';
			cmd_ask(line, line + 6);
			fflush(stdout);
			continue;
		} else if (strncmp(line, "headeronly ", 11) == 0) {
			cmd_headeronly(line + 11);
			fflush(stdout);
			continue;
		} else if (strncmp(line, "folder ", 7) == 0) {
			cmd_folder(line + 7);
			fflush(stdout);
			continue;
		} else if (strncmp(line, "stranger ", 9) == 0) {
			cmd_stranger(line + 9);
			fflush(stdout);
			continue;
		} else if (strncmp(line, "wait ", 5) == 0)
			r = qmt_mail_wait_files(&w.mail, W_BOB, NULL,
			                        atoi_safe(line + 5), 60000);
		else
			r = -2;
		printf(r >= 0 ? "ok %d\n" : "error %d\n", r);
		fflush(stdout);
	}
	rc = 0;
out:
	for (i = 0; i < 3; i++)
		qm_web_server_stop(&srv[i]);
	qm_client_free(&fresh);
	qmt_dns_stop(&dns);
	qm_crypto_identity_free(&dave[0]);
	qm_crypto_identity_free(&dave[1]);
	world_stop(&w);
	curl_global_cleanup();
	return rc;
}
