/* SPDX-License-Identifier: MIT */
/*
 * The mission end to end (issue 5): alice sends to bob (IMAP) with carol
 * (POP3) in Cc at each of the four levels, through real OpenSMTPD and
 * Dovecot, with keys from real qkme KMEs; both read exactly what alice
 * wrote, and the servers' copies hold none of the plaintext. Then the
 * attacks: a tampered stored message, a downgraded level header, a changed
 * key ID, a replayed message, and the outages: SMTP down while sending
 * (the message waits in the outbox and goes once, with the same key), the
 * KME down (clear error, nothing lost).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "qmtest.h"
#include "world.h"
#include "crypto/crypto.h"

static struct world W;

#define SUBJECT_FMT "Grüße ✓ level %d — Quartalszahlen"
#define BODY_FMT                                                               \
	"Hello Bob and Carol,\nthe numbers for level %d are in the "           \
	"attachment.\nSecret marker: ZEBRA-%d-PLAINTEXT\n"
#define ATT_NAME "quarterly-figures-confidential.bin"

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "e2e", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

/* Does any file under dir hold needle? */
static int file_has(const char *path, const void *needle, size_t n)
{
	size_t len = 0;
	unsigned char *d = qmt_mail_read(path, &len);
	int hit = d && memmem(d, len, needle, n) != NULL;

	free(d);
	return hit;
}

/* Sends from alice at level with a size-byte attachment to bob, Cc carol;
 * then bob and carol sync and must read exactly that. */
static void round_trip(int level, size_t size)
{
	struct qm_error e;
	struct qm_client_compose m;
	struct qm_client_attachment att;
	struct qm_client_sent sent;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	const char *cc[] = {qmt_mail_addr(W_CAROL)};
	char subject[200], body[400], marker[64];
	unsigned char *data = qmt_bytes(size, (unsigned)level);
	int have_bob, have_carol;
	char files[64][512];

	if (W.skipped)
		skip();
	snprintf(subject, sizeof(subject), SUBJECT_FMT, level);
	snprintf(body, sizeof(body), BODY_FMT, level, level);
	snprintf(marker, sizeof(marker), "ZEBRA-%d-PLAINTEXT", level);
	if (level == 1) {
		/* one pad per recipient: wait for enough key in both links */
		/* the attachment is padded as it is (binary) */
		uint64_t need = qm_crypto_l1_key_bytes(size + 64 * 1024);
		assert_int_equal(
		    world_wait_pool(&W, W_ALICE, W_BOB, need, 420000), 0);
		assert_int_equal(
		    world_wait_pool(&W, W_ALICE, W_CAROL, need, 420000), 0);
	}
	have_bob = qmt_mail_files(&W.mail, W_BOB, NULL, files, 64);
	have_carol = qmt_mail_files(&W.mail, W_CAROL, NULL, files, 64);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.cc = cc;
	m.ncc = 1;
	m.subject = subject;
	m.text = body;
	att.name = ATT_NAME;
	att.type = "application/octet-stream";
	att.data = data;
	att.len = size;
	m.att = &att;
	m.natt = 1;
	m.level = level;
	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	assert_int_equal(sent.level, level);
	assert_int_equal(sent.n_sent, 1);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have_bob + 1,
	                                30000) > have_bob);
	assert_true(qmt_mail_wait_files(&W.mail, W_CAROL, NULL, have_carol + 1,
	                                30000) > have_carol);

	/* the servers' copies: no subject, body, attachment name or bytes */
	for (int u = W_BOB; u <= W_CAROL; u++) {
		int n = qmt_mail_files(&W.mail, u, NULL, files, 64);
		const char *last = files[n - 1];

		assert_false(file_has(last, "Quartalszahlen", 14));
		assert_false(file_has(last, marker, strlen(marker)));
		assert_false(file_has(last, ATT_NAME, strlen(ATT_NAME)));
		assert_false(file_has(last, data + size / 2, 64));
		assert_true(file_has(last, "[QMail encrypted message]", 25));
	}

	/* bob over IMAP, carol over POP3 */
	for (int u = W_BOB; u <= W_CAROL; u++) {
		struct qm_client_sync_stats st;
		struct qm_client_view *v = NULL;
		int64_t id;

		assert_ok(
		    qm_client_sync(W.c[u], W.acct[u], NULL, NULL, &st, &e));
		assert_int_equal(st.decrypted, 1);
		assert_int_equal(st.tampered, 0);
		id = world_newest(&W, u, "INBOX");
		assert_true(id > 0);
		assert_ok(qm_client_read(W.c[u], id, &v, &e));
		assert_int_equal(v->verify, QM_VERIFY_OK);
		assert_int_equal(v->level, level);
		assert_string_equal(v->subject, subject);
		assert_non_null(strstr(v->text, marker));
		assert_int_equal(v->natt, 1);
		assert_string_equal(v->att[0].name, ATT_NAME);
		assert_int_equal(v->att[0].len, size);
		assert_memory_equal(v->att[0].data, data, size);
		if (level <= 2)
			assert_true(v->nkey_ids >= 1);
		qm_client_view_free(&v);
	}
	free(data);
}

/*
 * 5 MiB attachments. Level 1 consumes its size in QKD key per recipient,
 * and the simulated links distil key with the CPU the rest of the suite
 * leaves idle (a few hundred kbit/s per direction when the machine is
 * busy), so its attachment is 1 MiB (256 KiB under the sanitizers). The
 * benchmark `make bench-e2e` sends the big level-1 cases.
 */
static size_t big(int level)
{
	if (level == 1)
		return getenv("QM_SANITIZED") ? 256 * 1024 : 1024 * 1024;
	return 5 * 1024 * 1024;
}

static void test_level1(void **state)
{
	(void)state;
	round_trip(1, big(1));
}

static void test_level2(void **state)
{
	(void)state;
	round_trip(2, big(2));
}

static void test_level3(void **state)
{
	(void)state;
	round_trip(3, big(3));
}

static void test_level4(void **state)
{
	(void)state;
	round_trip(4, big(4));
}

/* The newest message of carol's folder as the interfaces list it
 * (qm_client_msg_list: a local folder by the folder filed in), or -1. */
static int64_t carol_newest(const char *folder)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	int64_t id;

	memset(&q, 0, sizeof(q));
	q.account_id = W.acct[W_CAROL];
	q.folder = folder;
	q.limit = 1;
	assert_ok(qm_client_msg_list(W.c[W_CAROL], &q, &l, &e));
	id = l->n ? l->items[0].id : -1;
	qm_client_msglist_free(&l);
	return id;
}

/*
 * Carol fetches over POP3 from the real Dovecot: her QMail message (from
 * test_level2) moves between the folders QMail keeps for a POP3 account
 * (docs/CLIENT.md "Local folders of a POP3 account"), stays readable, is
 * never fetched or decrypted again, and is deleted to her local Trash,
 * then for good.
 */
static void test_pop3_local_folders(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int64_t id = carol_newest("INBOX");

	(void)state;
	assert_true(id > 0);
	qm_error_clear(&e);
	assert_ok(
	    qm_client_folder_create(W.c[W_CAROL], W.acct[W_CAROL], "Kept", &e));
	assert_ok(qm_client_msg_move(W.c[W_CAROL], id, "Kept", &e));
	assert_int_equal(carol_newest("Kept"), id);
	assert_ok(
	    qm_client_sync(W.c[W_CAROL], W.acct[W_CAROL], NULL, NULL, &st, &e));
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(carol_newest("Kept"), id);
	assert_ok(qm_client_read(W.c[W_CAROL], id, &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	qm_client_view_free(&v);
	assert_ok(
	    qm_client_msg_file(W.c[W_CAROL], id, QM_FOLDER_USE_ARCHIVE, &e));
	assert_int_equal(carol_newest("Archive"), id);
	assert_int_equal(carol_newest("Kept"), -1);
	assert_int_equal(qm_client_msg_copy(W.c[W_CAROL], id, "Kept", &e),
	                 QM_ERR_UNSUPPORTED);
	assert_ok(qm_client_msg_trash(W.c[W_CAROL], id, &e));
	assert_int_equal(carol_newest("Trash"), id);
	assert_ok(qm_client_msg_trash(W.c[W_CAROL], id, &e));
	assert_int_equal(carol_newest("Trash"), -1);
	{
		struct qm_store_msglist *l = NULL;

		assert_int_equal(qm_client_msg_get(W.c[W_CAROL], id, &l, &e),
		                 QM_ERR_NOTFOUND);
		qm_client_msglist_free(&l);
	}
	assert_ok(
	    qm_client_folder_delete(W.c[W_CAROL], W.acct[W_CAROL], "Kept", &e));
}

/* Sends a small message alice -> bob at level; returns bob's new file. */
static void send_small(int level, const char *subject, char *path)
{
	struct qm_error e;
	struct qm_client_compose m;
	struct qm_client_sent sent;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	char files[256][512];
	int have = qmt_mail_files(&W.mail, W_BOB, NULL, files, 256), n;

	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = "tamper target: PLAINTEXT-MARKER\n";
	m.level = level;
	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	n = qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000);
	assert_true(n > have);
	n = qmt_mail_files(&W.mail, W_BOB, NULL, files, 256);
	qm_strlcpy(path, files[n - 1], 512);
}

/* Replaces the first occurrence of from by to (same length) in a stored
 * message file. */
static void edit(const char *path, const char *from, const char *to)
{
	size_t len = 0;
	unsigned char *d = qmt_mail_read(path, &len);
	unsigned char *hit;

	assert_non_null(d);
	assert_int_equal(strlen(from), strlen(to));
	hit = memmem(d, len, from, strlen(from));
	assert_non_null(hit);
	memcpy(hit, to, strlen(to));
	assert_int_equal(qmt_mail_rewrite(path, d, len), 0);
	free(d);
}

/* Bob syncs; the newest message must be flagged want, with no content. */
static void expect_refused(enum qm_store_verify want)
{
	struct qm_error e;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	int64_t id;

	qm_error_clear(&e);
	assert_ok(
	    qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, &st, &e));
	assert_int_equal(st.decrypted, 0);
	id = world_newest(&W, W_BOB, "INBOX");
	assert_ok(qm_client_read(W.c[W_BOB], id, &v, &e));
	assert_int_equal(v->verify, want);
	assert_string_equal(v->text, "");
	assert_null(strstr(v->subject, "tamper"));
	assert_int_equal(v->natt, 0);
	qm_client_view_free(&v);
}

static void test_tamper_envelope_byte(void **state)
{
	char path[512];
	size_t len = 0;
	unsigned char *d;
	char *b64;

	(void)state;
	if (W.skipped)
		skip();
	send_small(2, "tamper envelope", path);
	d = qmt_mail_read(path, &len);
	assert_non_null(d);
	/* flip one base64 character well inside the envelope part */
	b64 = strstr((char *)d, "message.qmail");
	assert_non_null(b64);
	b64 =
	    strstr(b64, "\n\n") ? strstr(b64, "\n\n") : strstr(b64, "\r\n\r\n");
	assert_non_null(b64);
	b64 += 40;
	*b64 = *b64 == 'A' ? 'B' : 'A';
	assert_int_equal(qmt_mail_rewrite(path, d, len), 0);
	free(d);
	expect_refused(QM_VERIFY_TAMPERED);
}

static void test_tamper_bound_header(void **state)
{
	char path[512];

	(void)state;
	if (W.skipped)
		skip();
	send_small(4, "tamper header", path);
	/* the To header is bound: make it name "bop" instead of "bob" */
	{
		size_t len = 0;
		unsigned char *d = qmt_mail_read(path, &len);
		char *to, *at;

		assert_non_null(d);
		to = strstr((char *)d, "\nTo:");
		assert_non_null(to);
		at = strstr(to, "bob@");
		assert_non_null(at);
		at[2] = 'p';
		assert_int_equal(qmt_mail_rewrite(path, d, len), 0);
		free(d);
	}
	expect_refused(QM_VERIFY_TAMPERED);
}

static void test_downgrade_level_header(void **state)
{
	char path[512];

	(void)state;
	if (W.skipped)
		skip();
	send_small(2, "tamper level", path);
	edit(path, "X-QKD-Security-Level: 2", "X-QKD-Security-Level: 4");
	expect_refused(QM_VERIFY_TAMPERED);
}

static void test_tamper_key_id_header(void **state)
{
	char path[512];
	size_t len = 0;
	unsigned char *d;
	char *k;

	(void)state;
	if (W.skipped)
		skip();
	send_small(2, "tamper key id", path);
	d = qmt_mail_read(path, &len);
	k = strstr((char *)d, "X-QKD-KeyID: ");
	assert_non_null(k);
	k += 13;
	*k = *k == 'a' ? 'b' : 'a';
	assert_int_equal(qmt_mail_rewrite(path, d, len), 0);
	free(d);
	expect_refused(QM_VERIFY_TAMPERED);
}

/* Delivers a copy of a stored message into bob's Maildir new/ folder. */
static void deliver_copy(const char *like, const char *name,
                         const unsigned char *d, size_t len)
{
	char copy[600], *slash;

	qm_strlcpy(copy, like, sizeof(copy));
	slash = strrchr(copy, '/');
	*slash = '\0';
	slash = strrchr(copy, '/');
	snprintf(slash, sizeof(copy) - (size_t)(slash - copy), "/new/%s", name);
	assert_int_equal(qmt_write_file(copy, ""), 0);
	assert_int_equal(qmt_mail_rewrite(copy, d, len), 0);
}

static void test_replay(void **state)
{
	struct qm_error e;
	struct qm_client_sync_stats st;
	char path[512];
	size_t len = 0;
	unsigned char *d;
	char *mid;

	(void)state;
	if (W.skipped)
		skip();
	send_small(2, "replay", path);
	/* what an attacker on the server keeps (Dovecot renames files) */
	d = qmt_mail_read(path, &len);
	assert_non_null(d);
	qm_error_clear(&e);
	assert_ok(
	    qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, &st, &e));
	assert_int_equal(st.decrypted, 1);

	/* the same message again, byte for byte (an attacker, or the
	 * sender's SMTP retry after a lost "250": fault_mail): bob has it
	 * already, so it is neither shown twice nor decrypted again, and no
	 * replay is claimed */
	{
		int64_t before = world_newest(&W, W_BOB, "INBOX");

		deliver_copy(path, "1790000000.replayed.qmail.test", d, len);
		qm_error_clear(&e);
		assert_ok(qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL,
		                         &st, &e));
		assert_int_equal(st.fetched, 1);
		assert_int_equal(st.duplicates, 1);
		assert_int_equal(st.decrypted, 0);
		assert_int_equal(st.replayed, 0);
		assert_int_equal(world_newest(&W, W_BOB, "INBOX"), before);
	}

	/* again with another Message-ID: a replay, caught by its key ID */
	mid = strstr((char *)d, "\nMessage-ID: <");
	if (!mid)
		mid = strstr((char *)d, "\nMessage-Id: <");
	assert_non_null(mid);
	mid[15] = mid[15] == 'x' ? 'y' : 'x';
	deliver_copy(path, "1790000001.replayed2.qmail.test", d, len);
	expect_refused(QM_VERIFY_REPLAY);
	free(d);
}

static void test_smtp_outage(void **state)
{
	struct qm_error e;
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_store_outbox o;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	char files[256][512];
	char key_before[128];
	size_t ok = 0, bad = 0;
	int have;

	(void)state;
	if (W.skipped)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, files, 256);
	assert_int_equal(qmt_mail_smtpd_stop(&W.mail), 0);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = "sent through an outage";
	m.text = "this waited in the outbox\n";
	m.level = 2;
	qm_error_clear(&e);
	assert_int_not_equal(
	    qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e), QM_OK);
	assert_int_equal(sent.n_outbox, 1);
	assert_int_equal(sent.n_sent, 0);
	memset(&o, 0, sizeof(o));
	assert_ok(qm_store_outbox_get(qm_client_store(W.c[W_ALICE]),
	                              sent.outbox_ids[0], &o, &e));
	assert_int_equal(o.state, QM_OUTBOX_RETRYING);
	assert_int_equal(o.n_keys, 1);
	qm_strlcpy(key_before, o.key_ids[0], sizeof(key_before));
	qm_store_outbox_item_free(&o);

	assert_int_equal(qmt_mail_smtpd_start(&W.mail), 0);
	/* the retry is due at once for the test: make it due */
	memset(&o, 0, sizeof(o));
	assert_ok(qm_store_outbox_begin_send(qm_client_store(W.c[W_ALICE]),
	                                     sent.outbox_ids[0], &e));
	assert_ok(qm_store_outbox_fail(qm_client_store(W.c[W_ALICE]),
	                               sent.outbox_ids[0], "test: due now", 1,
	                               &e));
	assert_ok(qm_client_outbox_run(W.c[W_ALICE], 0, &ok, &bad, &e));
	assert_int_equal(ok, 1);
	assert_int_equal(bad, 0);
	/* a second run sends nothing more */
	assert_ok(qm_client_outbox_run(W.c[W_ALICE], 0, &ok, &bad, &e));
	assert_int_equal(ok, 0);
	memset(&o, 0, sizeof(o));
	assert_ok(qm_store_outbox_get(qm_client_store(W.c[W_ALICE]),
	                              sent.outbox_ids[0], &o, &e));
	assert_int_equal(o.state, QM_OUTBOX_SENT);
	assert_string_equal(o.key_ids[0], key_before);
	qm_store_outbox_item_free(&o);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1,
	                                30000) == have + 1);
	{
		struct qm_client_sync_stats st;
		struct qm_client_view *v = NULL;

		assert_ok(qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL,
		                         &st, &e));
		assert_int_equal(st.decrypted, 1);
		assert_ok(qm_client_read(
		    W.c[W_BOB], world_newest(&W, W_BOB, "INBOX"), &v, &e));
		assert_string_equal(v->subject, "sent through an outage");
		assert_int_equal(v->nkey_ids, 1);
		assert_string_equal(v->key_ids[0], key_before);
		qm_client_view_free(&v);
	}
}

/* Level 1 with too little key: a clear refusal with the figures, nothing
 * in the outbox; with a fallback level it goes at that level, said. */
static void test_level1_short(void **state)
{
	struct qm_error e;
	struct qm_client_compose m;
	struct qm_client_attachment att;
	struct qm_client_sent sent;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	size_t size = 17u * 1024 * 1024; /* more than a 16 MiB pool */
	unsigned char *data;
	int64_t *ids = NULL;
	size_t n_before = 0, n_after = 0;

	(void)state;
	if (W.skipped)
		skip();
	data = qmt_bytes(size, 99);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = "too big for the pad";
	m.text = "x\n";
	att.name = "big.bin";
	att.type = NULL;
	att.data = data;
	att.len = size;
	m.att = &att;
	m.natt = 1;
	m.level = 1;
	qm_error_clear(&e);
	assert_ok(qm_store_outbox_list(qm_client_store(W.c[W_ALICE]), 0,
	                               QM_OUTBOX_PENDING, 0, &ids, &n_before,
	                               &e));
	free(ids);
	assert_int_equal(
	    qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e),
	    QM_ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "level 1 needs"));
	assert_non_null(strstr(e.msg, "bytes of QKD key"));
	assert_non_null(strstr(e.msg, "holds"));
	assert_int_equal(sent.n_outbox, 0);
	assert_ok(qm_store_outbox_list(qm_client_store(W.c[W_ALICE]), 0,
	                               QM_OUTBOX_PENDING, 0, &ids, &n_after,
	                               &e));
	free(ids);
	assert_int_equal(n_after, n_before);

	/* allowed to fall back: goes at level 3, and says so */
	m.fallback_level = 3;
	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	assert_int_equal(sent.level, 3);
	assert_true(sent.fell_back);
	assert_non_null(strstr(sent.note, "level 1 was not available"));
	free(data);
	{
		struct qm_client_sync_stats st;

		assert_ok(qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL,
		                         &st, &e));
	}
}

static void test_kme_outage(void **state)
{
	struct qm_error e;
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_store_outbox o;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	size_t ok = 0, bad = 0;

	(void)state;
	if (W.skipped)
		skip();
	kt_kme_stop(&W.net, W_ALICE);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = "KME was down";
	m.text = "nothing lost\n";
	m.level = 2;
	qm_error_clear(&e);
	assert_int_not_equal(
	    qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e), QM_OK);
	assert_non_null(strstr(e.msg, "KME"));
	/* nothing is lost: the sealed message waits, with no key taken */
	memset(&o, 0, sizeof(o));
	if (sent.n_outbox) {
		assert_ok(qm_store_outbox_get(qm_client_store(W.c[W_ALICE]),
		                              sent.outbox_ids[0], &o, &e));
		assert_int_equal(o.state, QM_OUTBOX_PENDING);
		qm_store_outbox_item_free(&o);
	}
	assert_int_equal(kt_kme_start(&W.net, W_ALICE), 0);
	if (sent.n_outbox) {
		int one = 0;

		/* it waits for its retry time (issue 12: a run does not ask
		 * the KME again before it), or for the person's retry */
		assert_ok(qm_client_outbox_run(W.c[W_ALICE], 0, &ok, &bad, &e));
		assert_ok(qm_store_outbox_get(qm_client_store(W.c[W_ALICE]),
		                              sent.outbox_ids[0], &o, &e));
		assert_int_equal(o.state, QM_OUTBOX_PENDING);
		qm_store_outbox_item_free(&o);
		assert_ok(qm_client_outbox_retry(W.c[W_ALICE],
		                                 sent.outbox_ids[0], &one, &e));
		assert_int_equal(one, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_level2),
	    cmocka_unit_test(test_pop3_local_folders),
	    cmocka_unit_test(test_level3),
	    cmocka_unit_test(test_level4),
	    cmocka_unit_test(test_level1),
	    cmocka_unit_test(test_tamper_envelope_byte),
	    cmocka_unit_test(test_tamper_bound_header),
	    cmocka_unit_test(test_downgrade_level_header),
	    cmocka_unit_test(test_tamper_key_id_header),
	    cmocka_unit_test(test_replay),
	    cmocka_unit_test(test_smtp_outage),
	    cmocka_unit_test(test_level1_short),
	    cmocka_unit_test(test_kme_outage),
	};

	if (qm_core_init(NULL) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
