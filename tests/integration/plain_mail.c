/* SPDX-License-Identifier: MIT */
/*
 * Plain mail, never by accident (issue 15), against the real OpenSMTPD and
 * Dovecot: alice uses QMail; carol has no QMail and uses a plain client
 * (Python's smtplib and imaplib, run by this test: no QMail code on her
 * side); bob uses QMail (alice has his public key). Carol writes to alice:
 * alice sees it as plain. Alice's reply is refused without the choice for
 * the message (engine and `qmail reply`, which names carol and --plain)
 * and with it arrives in carol's inbox as ordinary text, no QMail part in
 * it. A message to bob and carol: bob's copy is encrypted, carol's plain,
 * neither holds the other's form, and a Bcc stays out of the headers. A
 * floor (the setting min_level, a contact's minimum level) refuses plain
 * even with --plain, and nothing is queued. A reply goes to the Reply-To
 * a message names. No KME runs: levels 3 and 4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "crypto/crypto.h"
#include "harness.h"
#include "mailserver.h"
#include "qmtest.h"

#define ALICE 0
#define BOB   1
#define CAROL 2
#define PASS  "correct horse battery staple"

static struct qmt_mail M;
static struct qm_client *C;
static int64_t ACCT;
static char dir[512], home[700];
static int skipped;

/* Carol's plain client: "send FROM PASS TO SUBJECT BODY" over submission
 * (STARTTLS, AUTH), "fetch USER PASS SUBJECT OUT" writes the newest INBOX
 * message whose subject is SUBJECT, raw, to OUT (exit 3 when none). */
static const char plain_client[] =
    "import imaplib, smtplib, ssl, sys, time\n"
    "from email.message import EmailMessage\n"
    "host, ca, smtp_port, imap_port = sys.argv[1], sys.argv[2], "
    "int(sys.argv[3]), int(sys.argv[4])\n"
    "ctx = ssl.create_default_context(cafile=ca)\n"
    "cmd = sys.argv[5]\n"
    "if cmd == 'send':\n"
    "    user, pw, to, subj, body = sys.argv[6:11]\n"
    "    m = EmailMessage()\n"
    "    m['From'] = user\n"
    "    m['To'] = to\n"
    "    m['Subject'] = subj\n"
    "    m['Message-ID'] = '<plain-client-%d@qmail.test>' % len(subj)\n"
    "    if len(sys.argv) > 11:\n"
    "        m['Reply-To'] = sys.argv[11]\n"
    "    m.set_content(body)\n"
    "    s = smtplib.SMTP(host, smtp_port, timeout=60)\n"
    "    s.starttls(context=ctx)\n"
    "    s.login(user, pw)\n"
    "    s.send_message(m)\n"
    "    s.quit()\n"
    "elif cmd == 'fetch':\n"
    "    user, pw, subj, out = sys.argv[6:10]\n"
    "    deadline = time.time() + 60\n"
    "    while True:\n"
    "        i = imaplib.IMAP4_SSL(host, imap_port, ssl_context=ctx)\n"
    "        i.login(user, pw)\n"
    "        i.select('INBOX')\n"
    "        t, d = i.search('UTF-8', 'SUBJECT', '\"' + subj + '\"')\n"
    "        ids = d[0].split()\n"
    "        if ids:\n"
    "            t, d = i.fetch(ids[-1], '(RFC822)')\n"
    "            open(out, 'wb').write(d[0][1])\n"
    "            i.logout()\n"
    "            sys.exit(0)\n"
    "        i.logout()\n"
    "        if time.time() > deadline:\n"
    "            sys.exit(3)\n"
    "        time.sleep(0.2)\n";

/* Runs carol's plain client with the words of cmd after the server's. */
static int plain_run(const char *const *words, size_t n)
{
	char script[800], log[800], smtp[16], imap[16];
	char *argv[24];
	size_t k = 0;

	snprintf(script, sizeof(script), "%s/plain_client.py", dir);
	snprintf(log, sizeof(log), "%s/plain_client.log", dir);
	if (qmt_write_file(script, plain_client))
		return -1;
	snprintf(smtp, sizeof(smtp), "%d", M.submission_port);
	snprintf(imap, sizeof(imap), "%d", M.imaps_port);
	argv[k++] = "python3";
	argv[k++] = script;
	argv[k++] = "127.0.0.1";
	argv[k++] = M.ca_file;
	argv[k++] = smtp;
	argv[k++] = imap;
	for (size_t i = 0; i < n && k < 23; i++)
		argv[k++] = (char *)(uintptr_t)words[i];
	argv[k] = NULL;
	return qmt_run(argv, log);
}

/* Carol's newest message of subject as her plain client fetches it
 * (malloc'd), or NULL. */
static char *carol_fetch(const char *subject)
{
	char out[800];
	const char *w[] = {"fetch", qmt_mail_addr(CAROL),
	                   qmt_mail_password(CAROL), subject, out};

	snprintf(out, sizeof(out), "%s/fetched.eml", dir);
	remove(out);
	if (plain_run(w, 5) != 0)
		return NULL;
	return qmt_read_file(out, NULL);
}

/* Bob's public key in alice's keyring (he uses QMail; his private half is
 * not needed here: his copy is only looked at). */
static void add_bob_key(void)
{
	struct qm_identity *id = NULL;
	struct qm_pubid *pub = NULL;
	enum qm_store_trust t;
	char fpr[QM_STORE_FPRMAX];
	struct qm_buf arm;
	struct qm_error e;

	qm_buf_init(&arm, 1 << 20);
	assert_ok(qm_crypto_identity_new(&id, &e));
	assert_ok(qm_crypto_identity_public(id, &pub, &e));
	assert_ok(qm_crypto_pubid_export(pub, qmt_mail_addr(BOB), &arm, &e));
	assert_ok(qm_client_key_import(C, qmt_mail_addr(BOB),
	                               (const char *)arm.data, arm.len, fpr, &t,
	                               &e));
	qm_buf_free(&arm);
	qm_crypto_pubid_free(&pub);
	qm_crypto_identity_free(&id);
}

static int setup(void **state)
{
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_error e;
	char pw[800];
	int r;

	(void)state;
	memset(&M, 0, sizeof(M));
	setenv("QM_STORE_KDF", "fast", 1);
	r = qmt_mail_start(&M);
	if (r == 1) {
		skipped = 1;
		return 0;
	}
	if (r != 0 || qmt_tmpdir("plain-mail", dir, sizeof(dir)))
		return -1;
	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(pw, sizeof(pw), "%s/passphrase", dir);
	if (qmt_write_file(pw, PASS "\n"))
		return -1;
	setenv("QMAIL_PASSPHRASE_FILE", pw, 1);
	memset(&o, 0, sizeof(o));
	o.home = home;
	qm_error_clear(&e);
	if (qm_client_open(&o, &C, &e) ||
	    qm_client_init(C, PASS, strlen(PASS), &e))
		return -1;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, qmt_mail_addr(ALICE), sizeof(a.address));
	qm_strlcpy(a.smtp.host, "127.0.0.1", sizeof(a.smtp.host));
	a.smtp.port = M.submission_port;
	a.smtp.tls = QM_TLS_STARTTLS;
	qm_strlcpy(a.imap.host, "127.0.0.1", sizeof(a.imap.host));
	a.imap.port = M.imaps_port;
	a.imap.tls = QM_TLS_IMPLICIT;
	a.default_level = 3;
	if (qm_client_account_add(C, &a, qmt_mail_password(ALICE),
	                          strlen(qmt_mail_password(ALICE)), &e) ||
	    qm_client_setting_set(C, a.id, "mail_ca", M.ca_file, &e) ||
	    qm_client_setting_set(C, a.id, "save_sent", "1", &e)) {
		fprintf(stderr, "setup: %s\n", qm_error_msg(&e));
		return -1;
	}
	ACCT = a.id;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qm_client_free(&C);
	if (M.dovecot || M.smtpd)
		qmt_mail_stop(&M);
	if (dir[0])
		qmt_rmtree(dir);
	return 0;
}

/* The id of alice's message of subject in folder (NULL: any), after a
 * sync, or -1. */
static int64_t alice_find(const char *folder, const char *subject)
{
	struct qm_store_folder *v = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_client_sync_stats st;
	struct qm_error e;
	size_t n = 0;
	int64_t id = -1;

	qm_error_clear(&e);
	assert_ok(qm_client_sync(C, ACCT, NULL, NULL, &st, &e));
	memset(&q, 0, sizeof(q));
	q.account_id = ACCT;
	q.limit = 1000;
	if (folder) {
		assert_ok(qm_client_folders(C, ACCT, &v, &n, &e));
		for (size_t i = 0; i < n; i++)
			if (strcmp(v[i].name, folder) == 0)
				q.folder_id = v[i].id;
		qm_client_folders_free(&v, n);
		assert_true(q.folder_id > 0);
	}
	assert_ok(qm_client_msg_list(C, &q, &l, &e));
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].subject &&
		    strcmp(l->items[i].subject, subject) == 0)
			id = l->items[i].id;
	qm_client_msglist_free(&l);
	return id;
}

/* Waits for carol's mail to reach alice (delivery is asynchronous). */
static int64_t alice_wait(const char *subject)
{
	if (qmt_mail_wait_files(&M, ALICE, NULL, 1, 60000) < 0)
		return -1;
	return alice_find(NULL, subject);
}

static size_t outbox_count(void)
{
	struct qm_client_outbox_item *items = NULL;
	struct qm_error e;
	size_t n = 0;

	assert_ok(qm_client_outbox_list(C, ACCT, &items, &n, &e));
	qm_client_outbox_items_free(&items, n);
	return n;
}

static void assert_lacks(const char *hay, const char *needle)
{
	if (hay && strstr(hay, needle))
		fail_msg("\"%s\" found in:\n%s", needle, hay);
}

/*
 * Carol (no QMail) writes; alice reads it as plain; alice's reply needs
 * --plain (refused with carol named, nothing queued) and arrives in
 * carol's plain client as text; the Sent folder's copy is plain too.
 */
static void test_plain_reply_to_plain_client(void **state)
{
	const char *send[] = {"send",
	                      qmt_mail_addr(CAROL),
	                      qmt_mail_password(CAROL),
	                      qmt_mail_addr(ALICE),
	                      "Lunch on Friday?",
	                      "Hi Alice, lunch on Friday? Carol"};
	struct qm_client_view *v = NULL;
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_error e;
	char idtext[32], body[800];
	char *out = NULL, *got = NULL;
	const char *to[] = {qmt_mail_addr(CAROL)};
	int64_t id, sid;

	(void)state;
	if (skipped)
		skip();
	assert_int_equal(plain_run(send, 6), 0);
	id = alice_wait("Lunch on Friday?");
	assert_true(id > 0);
	assert_ok(qm_client_read(C, id, &v, &e));
	assert_int_equal(v->level, 0);
	assert_int_equal(v->verify, QM_VERIFY_NOT_QMAIL);
	assert_has(v->text, "lunch on Friday?");
	qm_client_view_free(&v);

	/* the engine: refused, carol named, the plain hint; nothing queued */
	memset(&m, 0, sizeof(m));
	m.account_id = ACCT;
	m.to = to;
	m.nto = 1;
	m.subject = "Re: Lunch on Friday?";
	m.text = "engine refusal";
	qm_error_clear(&e);
	assert_int_equal(qm_client_send(C, &m, NULL, NULL, &sent, &e),
	                 QM_ERR_UNAVAIL);
	assert_int_equal(e.hint, QM_HINT_PLAIN);
	assert_string_equal(e.hint_arg, qmt_mail_addr(CAROL));
	assert_int_equal(outbox_count(), 0);

	/* the CLI: exit 6, names carol and says --plain */
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	snprintf(body, sizeof(body), "%s/reply.txt", dir);
	assert_int_equal(qmt_write_file(body, "Friday works. PLAIN-MARKER-7\n"),
	                 0);
	const char *no[] = {"reply", idtext, "--body-file", body};
	assert_int_equal(qmt_qmail(home, &out, no, 4), 6);
	assert_has(out, "carol@qmail.test cannot get an encrypted message");
	assert_has(out, "add --plain");
	free(out);
	out = NULL;
	assert_int_equal(outbox_count(), 0);

	const char *yes[] = {"reply", idtext, "--body-file", body, "--plain"};
	assert_int_equal(qmt_qmail(home, &out, yes, 5), 0);
	assert_has(out, "sent unencrypted (--plain) to carol@qmail.test");
	free(out);

	/* carol's plain client: the text as written, no QMail part */
	got = carol_fetch("Re: Lunch on Friday?");
	assert_non_null(got);
	assert_has(got, "PLAIN-MARKER-7");
	assert_has(got, "Friday works.");
	assert_has(got, "In-Reply-To: <plain-client-16@qmail.test>");
	assert_has(got, "text/plain");
	assert_lacks(got, "X-QKD");
	assert_lacks(got, "multipart/encrypted");
	assert_lacks(got, "application/qmail");
	free(got);

	/* alice's Sent folder: the copy is plain (level 0) */
	sid = alice_find("Sent", "Re: Lunch on Friday?");
	assert_true(sid > 0);
	assert_ok(qm_client_read(C, sid, &v, &e));
	assert_int_equal(v->level, 0);
	assert_has(v->text, "PLAIN-MARKER-7");
	qm_client_view_free(&v);
}

/* Whether message file path holds needle. */
static int file_has(const char *path, const char *needle)
{
	size_t len = 0;
	unsigned char *d = qmt_mail_read(path, &len);
	int hit = d && memmem(d, len, needle, strlen(needle)) != NULL;

	free(d);
	return hit;
}

/*
 * Bob (QMail) in To, carol (no QMail) in Cc, the setting plain_invite on:
 * bob's copy is encrypted (no plaintext, no invitation), carol's is plain
 * with the invitation; a second message Bcc carol: her copy names nobody
 * in Bcc and bob's holds no plain part.
 */
static void test_mixed_recipients(void **state)
{
	char files[64][512];
	char bodyf[800];
	char *out = NULL, *got = NULL;
	struct qm_error e;
	int nb0, nb, hit;

	(void)state;
	if (skipped)
		skip();
	add_bob_key();
	assert_ok(qm_client_setting_set(C, ACCT, QM_CLIENT_SET_PLAIN_INVITE,
	                                "1", &e));
	snprintf(bodyf, sizeof(bodyf), "%s/mixed.txt", dir);
	assert_int_equal(qmt_write_file(bodyf, "Mixed body MIXED-MARKER-3\n"),
	                 0);
	nb0 = qmt_mail_files(&M, BOB, NULL, files, 64);
	const char *args[] = {"send",
	                      "--to",
	                      qmt_mail_addr(BOB),
	                      "--cc",
	                      qmt_mail_addr(CAROL),
	                      "--subject",
	                      "Mixed copies",
	                      "--body-file",
	                      bodyf,
	                      "--plain"};
	assert_int_equal(qmt_qmail(home, &out, args, 10), 0);
	assert_has(out, "sent at level 3");
	assert_has(out, "unencrypted (--plain) to carol@qmail.test");
	free(out);

	/* carol: plain, the text and the invitation, no QMail part */
	got = carol_fetch("Mixed copies");
	assert_non_null(got);
	assert_has(got, "MIXED-MARKER-3");
	assert_has(got, "QMail is an email client");
	assert_lacks(got, "X-QKD");
	assert_lacks(got, "multipart/encrypted");
	free(got);

	/* bob: encrypted, no plaintext, no invitation */
	nb = qmt_mail_wait_files(&M, BOB, NULL, nb0 + 1, 60000);
	assert_true(nb > nb0);
	nb = qmt_mail_files(&M, BOB, NULL, files, 64);
	hit = 0;
	for (int i = 0; i < nb && i < 64; i++) {
		if (!file_has(files[i], "Mixed copies") &&
		    !file_has(files[i], "X-QKD-Security-Level: 3"))
			continue;
		hit++;
		assert_true(file_has(files[i], "X-QKD-Security-Level: 3"));
		assert_false(file_has(files[i], "MIXED-MARKER-3"));
		assert_false(file_has(files[i], "QMail is an email client"));
	}
	assert_int_equal(hit, 1);

	/* carol in Bcc: her plain copy names no Bcc */
	const char *bcc[] = {"send",
	                     "--to",
	                     qmt_mail_addr(BOB),
	                     "--bcc",
	                     qmt_mail_addr(CAROL),
	                     "--subject",
	                     "Blind copy",
	                     "--body-file",
	                     bodyf,
	                     "--plain"};
	out = NULL;
	assert_int_equal(qmt_qmail(home, &out, bcc, 10), 0);
	free(out);
	got = carol_fetch("Blind copy");
	assert_non_null(got);
	assert_has(got, "MIXED-MARKER-3");
	assert_lacks(got, "Bcc");
	assert_lacks(got, "X-QKD");
	free(got);
}

/* A floor refuses plain even with --plain: the setting min_level, then a
 * contact's own minimum level; nothing is queued. */
static void test_floor_refuses_plain(void **state)
{
	struct qm_store_contact ct;
	struct qm_error e;
	char bodyf[800];
	char *out = NULL;
	const char *args[] = {"send",
	                      "--to",
	                      qmt_mail_addr(CAROL),
	                      "--subject",
	                      "Below the floor",
	                      "--body-file",
	                      bodyf,
	                      "--plain"};
	size_t queued;

	(void)state;
	if (skipped)
		skip();
	queued = outbox_count();
	snprintf(bodyf, sizeof(bodyf), "%s/floor.txt", dir);
	assert_int_equal(qmt_write_file(bodyf, "FLOOR-MARKER\n"), 0);
	assert_ok(
	    qm_client_level_setting_set(C, QM_CLIENT_SET_MIN_LEVEL, "3", &e));
	assert_int_equal(qmt_qmail(home, &out, args, 8), 6);
	assert_has(out, "min_level");
	assert_lacks(out, "add --plain");
	free(out);
	assert_int_equal(outbox_count(), queued);
	assert_ok(qm_client_level_setting_set(C, QM_CLIENT_SET_MIN_LEVEL,
	                                      "none", &e));

	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, qmt_mail_addr(CAROL), sizeof(ct.address));
	ct.min_level = 4;
	assert_ok(qm_client_contact_put(C, ACCT, &ct, &e));
	out = NULL;
	assert_int_equal(qmt_qmail(home, &out, args, 8), 6);
	assert_has(out, "weakest allowed for carol@qmail.test");
	free(out);
	assert_int_equal(outbox_count(), queued);
}

/* Carol writes with Reply-To bob: alice's reply (and reply to all) goes
 * to bob, encrypted (alice has his key since test_mixed_recipients), not
 * to carol. */
static void test_reply_to(void **state)
{
	const char *send[] = {"send",
	                      qmt_mail_addr(CAROL),
	                      qmt_mail_password(CAROL),
	                      qmt_mail_addr(ALICE),
	                      "Answer Bob please",
	                      "Please answer Bob, not me. Carol",
	                      "Bob B. <bob@qmail.test>"};
	struct qm_client_view *v = NULL;
	struct qm_error e;
	char **to = NULL, **cc = NULL;
	size_t nto = 0, ncc = 0;
	char idtext[32], bodyf[800], files[64][512];
	char *out = NULL;
	int64_t id;
	int nb0, nb;

	(void)state;
	if (skipped)
		skip();
	assert_int_equal(plain_run(send, 7), 0);
	assert_true(qmt_mail_wait_files(&M, ALICE, NULL, 2, 60000) >= 2);
	id = alice_find(NULL, "Answer Bob please");
	assert_true(id > 0);
	assert_ok(qm_client_read(C, id, &v, &e));
	assert_has(v->reply_to, "bob@qmail.test");
	assert_ok(
	    qm_client_reply_rcpts(C, ACCT, v, 1, &to, &nto, &cc, &ncc, &e));
	assert_int_equal(nto, 1);
	assert_string_equal(to[0], "bob@qmail.test");
	assert_int_equal(ncc, 0); /* To was alice alone */
	qm_client_strv_free(&to, nto);
	qm_client_strv_free(&cc, ncc);
	qm_client_view_free(&v);

	nb0 = qmt_mail_files(&M, BOB, NULL, files, 64);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	snprintf(bodyf, sizeof(bodyf), "%s/replyto.txt", dir);
	assert_int_equal(qmt_write_file(bodyf, "To Bob as asked.\n"), 0);
	const char *args[] = {"reply", idtext, "--all", "--body-file", bodyf};
	assert_int_equal(qmt_qmail(home, &out, args, 5), 0);
	assert_has(out, "sent at level 3");
	assert_lacks(out, "unencrypted");
	free(out);
	nb = qmt_mail_wait_files(&M, BOB, NULL, nb0 + 1, 60000);
	assert_true(nb > nb0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_reply_to_plain_client),
	    cmocka_unit_test(test_mixed_recipients),
	    cmocka_unit_test(test_floor_refuses_plain),
	    cmocka_unit_test(test_reply_to),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
