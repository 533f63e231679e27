/* SPDX-License-Identifier: MIT */
/*
 * The send path's decisions (src/client/send.c) over the scripted KME and
 * mail servers of fakes.h: which outbox state a message reaches when the
 * SMTP server or the KME fails, the back-off of its retries, that a retry
 * sends the same ciphertext (no key spent twice), that a check which will
 * not get better by waiting fails the entry for good before any key is
 * asked for, what happens when the KME refuses the keys of a level-1
 * message, the fallback level, Bcc copies, cancelling, and the copies for
 * the Sent folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "mail/mail.h"

static int setup(void **state)
{
	(void)state;
	return eng_setup(ENG_KNOW_BOB | ENG_KNOW_CAROL);
}

/* The retry time t lies within [now + lo, now + hi] seconds. */
static void assert_due_in(int64_t t, int64_t lo, int64_t hi)
{
	int64_t now = qm_now();

	if (t < now + lo || t > now + hi + 2)
		fail_msg("retry at now%+lld, expected %lld..%lld s",
		         (long long)(t - now), (long long)lo, (long long)hi);
}

/* How many outbox entries alice has in state st. */
static size_t outbox_n(int st)
{
	int64_t *ids = NULL;
	size_t n = 0;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_store_outbox_list(qm_client_store(alice.c), 0, st, 0, &ids,
	                               &n, &e));
	free(ids);
	return n;
}

/* Bob syncs and must have decrypted (and verified) exactly n messages. */
static void bob_reads(size_t n)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.decrypted, n);
	assert_int_equal(st.tampered + st.replayed + st.unreadable, 0);
}

/* The ordinary case at each level: one outbox entry, sent, one key
 * (level 2) or none (3, 4) taken from the KME, and bob opens it. */
static void test_send_each_level(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_error e;

	(void)state;
	for (int level = 1; level <= 4; level++) {
		size_t keys = fake_keys_issued();

		assert_ok(eu_send(&alice, to, 1, level, 0, "hello", &out, &e));
		assert_int_equal(out.level, level);
		assert_int_equal(out.n_outbox, 1);
		assert_int_equal(out.n_sent, 1);
		assert_int_equal(out.fell_back, 0);
		assert_int_equal(
		    eu_outbox_state(&alice, out.outbox_ids[0], NULL, NULL),
		    QM_OUTBOX_SENT);
		if (level == 2)
			assert_int_equal(fake_keys_issued(), keys + 1);
		else if (level == 1)
			assert_true(fake_keys_issued() > keys);
		else
			assert_int_equal(fake_keys_issued(), keys);
		assert_string_equal(out.warning, "");
	}
	assert_int_equal(fake_mail_sent_count(), 4);
	assert_string_equal(fake_mail_sent(0)->rcpts, bob.addr);
	assert_string_equal(fake_mail_sent(0)->from, alice.addr);
	bob_reads(4);
	/* each key was fetched by bob's KME once, and only by it */
	assert_int_equal(fake_keys_fetched(), fake_keys_issued());
}

/* The SMTP server says "try later": the entry waits (RETRYING) with a
 * back-off that doubles; a retry sends the same ciphertext, so no key is
 * asked for again; a run before the retry time sends nothing. */
static void test_smtp_retry_backoff(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_error e;
	size_t sent = 0, failed = 0;
	int64_t id, at = 0;
	int attempts = 0, ok = 0;

	(void)state;
	fake_mail_fail(FM_SMTP_SEND, QM_ERR_UNAVAIL, "451 4.3.0 try later", 0);
	assert_int_equal(eu_send(&alice, to, 1, 2, 0, "x", &out, &e),
	                 QM_ERR_UNAVAIL);
	assert_has(qm_error_msg(&e), "waits in the outbox");
	assert_has(qm_error_msg(&e), "451 4.3.0 try later");
	assert_int_equal(out.n_outbox, 1);
	assert_int_equal(out.n_sent, 0);
	id = out.outbox_ids[0];
	assert_int_equal(eu_outbox_state(&alice, id, &attempts, &at),
	                 QM_OUTBOX_RETRYING);
	assert_int_equal(attempts, 1);
	assert_due_in(at, 60, 60);
	assert_int_equal(fake_keys_issued(), 1);

	/* not due yet: the run leaves it */
	qm_error_clear(&e);
	assert_ok(qm_client_outbox_run(alice.c, 0, &sent, &failed, &e));
	assert_int_equal(sent, 0);
	assert_int_equal(fake_mail_calls[FM_SMTP_SEND], 1);

	/* asked for now, and the server fails again: twice the wait */
	fake_mail_fail(FM_SMTP_SEND, QM_ERR_UNAVAIL, "451 4.3.0 later", 0);
	assert_int_equal(qm_client_outbox_retry(alice.c, id, &ok, &e),
	                 QM_ERR_UNAVAIL);
	assert_int_equal(ok, 0);
	assert_int_equal(eu_outbox_state(&alice, id, &attempts, &at),
	                 QM_OUTBOX_RETRYING);
	assert_int_equal(attempts, 2);
	assert_due_in(at, 120, 120);

	assert_ok(qm_client_outbox_retry(alice.c, id, &ok, &e));
	assert_int_equal(ok, 1);
	assert_int_equal(eu_outbox_state(&alice, id, NULL, NULL),
	                 QM_OUTBOX_SENT);
	assert_int_equal(fake_mail_calls[FM_SMTP_SEND], 3);
	assert_int_equal(eu_kme(&alice)->calls[FK_ENC], 1);
	assert_int_equal(fake_keys_issued(), 1);
	bob_reads(1);

	/* nothing is left to retry */
	assert_int_equal(qm_client_outbox_retry(alice.c, id, &ok, &e),
	                 QM_ERR_STATE);
}

/* The KME refuses the key of a level-2 message: the message waits in the
 * outbox before encryption (PENDING, with a retry time), nothing went to
 * the SMTP server; the retry fetches a key and sends. */
static void test_kme_refuses_level2(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_error e;
	int64_t id, at = 0;
	int attempts = 0, ok = 0;

	(void)state;
	fake_kme_next(eu_kme(&alice), FK_ENC, 503, QM_OK,
	              "not enough key material on KME");
	assert_int_equal(eu_send(&alice, to, 1, 2, 0, "x", &out, &e),
	                 QM_ERR_UNAVAIL);
	assert_has(qm_error_msg(&e), "waits in the outbox");
	id = out.outbox_ids[0];
	assert_int_equal(eu_outbox_state(&alice, id, &attempts, &at),
	                 QM_OUTBOX_PENDING);
	assert_int_equal(attempts, 1);
	assert_due_in(at, 60, 60);
	assert_int_equal(fake_mail_calls[FM_SMTP_SEND], 0);
	assert_int_equal(fake_keys_issued(), 0);

	assert_ok(qm_client_outbox_retry(alice.c, id, &ok, &e));
	assert_int_equal(ok, 1);
	assert_int_equal(eu_kme(&alice)->calls[FK_ENC], 2);
	bob_reads(1);
}

/* Level 1 was offered because the KME might make keys on demand; it
 * refuses them: nothing is queued or sent and the send says level 1 is
 * not available; with a fallback allowed, the message goes at that level
 * and the note says why. */
static void test_level1_on_demand_refused(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_error e;
	struct fake_kme *k = eu_kme(&alice);

	(void)state;
	k->on_demand = 1;
	fake_kme_next(k, FK_ENC, 503, QM_OK, "no key for you");
	assert_int_equal(eu_send(&alice, to, 1, 1, 0, "x", &out, &e),
	                 QM_ERR_UNAVAIL);
	assert_has(qm_error_msg(&e), "level 1 is not available");
	assert_int_equal(out.n_outbox, 0);
	assert_int_equal(outbox_n(QM_OUTBOX_PENDING), 0);
	assert_int_equal(fake_mail_calls[FM_SMTP_SEND], 0);

	fake_kme_next(k, FK_ENC, 503, QM_OK, "no key for you");
	assert_ok(eu_send(&alice, to, 1, 1, 2, "x", &out, &e));
	assert_int_equal(out.level, 2);
	assert_int_equal(out.fell_back, 1);
	assert_has(out.note, "level 1 is not available");
	assert_int_equal(out.n_sent, 1);
	assert_int_equal(outbox_n(QM_OUTBOX_PENDING), 0);
	bob_reads(1);
}

/* A level that is not available falls back only when allowed, and says
 * so; without a fallback the send fails before anything is queued. */
static void test_fallback(void **state)
{
	struct qm_client_sent out;
	struct qm_error e;
	struct eu dave;
	const char *to[] = {"dave@qmail.test"};

	(void)state;
	/* dave's SAE ID learned only: levels 1 and 2 cannot be used */
	eu_open(&dave, "dave", "SAE_D", 0);
	eu_knows(&alice, &dave, EU_SAE_LEARNED | EU_VERIFIED);
	fake_link_add("SAE_A", "SAE_D", 1 << 20);
	assert_int_equal(eu_send(&alice, to, 1, 1, 0, "x", &out, &e),
	                 QM_ERR_STATE);
	assert_int_equal(out.n_outbox, 0);
	assert_int_equal(outbox_n(QM_OUTBOX_PENDING), 0);
	assert_int_equal(fake_mail_calls[FM_SMTP_SEND], 0);

	assert_ok(eu_send(&alice, to, 1, 1, 3, "x", &out, &e));
	assert_int_equal(out.level, 3);
	assert_int_equal(out.fell_back, 1);
	assert_has(out.note, "level 1 was not available");
	assert_int_equal(fake_keys_issued(), 0);
	assert_int_equal(eu_kme(&alice)->calls[FK_ENC], 0);
	eu_close(&dave);
}

/* What fails a check made before any key (here a floor the user set
 * while the message waited) fails the entry for good, with the reason,
 * and asks the KME for nothing; once mended, a retry sends it. */
static void test_permanent_failure(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_store_outbox o;
	struct qm_error e;
	size_t sent = 9, failed = 0;
	int64_t id;
	int ok = 0;

	(void)state;
	fake_kme_next(eu_kme(&alice), FK_ENC, 503, QM_OK, "empty");
	assert_int_not_equal(eu_send(&alice, to, 1, 2, 0, "x", &out, &e),
	                     QM_OK);
	id = out.outbox_ids[0];
	assert_int_equal(eu_kme(&alice)->calls[FK_ENC], 1);
	qm_error_clear(&e);
	assert_ok(qm_client_level_setting_set(alice.c, QM_CLIENT_SET_MIN_LEVEL,
	                                      "1", &e));
	assert_int_not_equal(qm_client_outbox_retry(alice.c, id, &ok, &e),
	                     QM_OK);
	assert_has(qm_error_msg(&e), "marked failed");
	assert_int_equal(eu_outbox_state(&alice, id, NULL, NULL),
	                 QM_OUTBOX_FAILED);
	memset(&o, 0, sizeof(o));
	assert_ok(qm_store_outbox_get(qm_client_store(alice.c), id, &o, &e));
	assert_non_null(o.reason);
	assert_has(o.reason, "min_level");
	assert_false(o.has_ciphertext);
	qm_store_outbox_item_free(&o);
	assert_int_equal(eu_kme(&alice)->calls[FK_ENC], 1);

	/* a run does not try a failed entry again */
	assert_ok(qm_client_outbox_run(alice.c, 0, &sent, &failed, &e));
	assert_int_equal(sent, 0);
	assert_int_equal(eu_kme(&alice)->calls[FK_ENC], 1);

	/* mended: the user asks again */
	assert_ok(qm_client_level_setting_set(alice.c, QM_CLIENT_SET_MIN_LEVEL,
	                                      "none", &e));
	assert_ok(qm_client_outbox_retry(alice.c, id, &ok, &e));
	assert_int_equal(ok, 1);
	assert_int_equal(eu_outbox_state(&alice, id, NULL, NULL),
	                 QM_OUTBOX_SENT);
	bob_reads(1);
}

/* Each Bcc recipient gets a copy of its own, encrypted for it alone (a
 * key of its own at level 2); a person named twice gets one copy. */
static void test_bcc_copies(void **state)
{
	const char *to[] = {bob.addr, "Bob <BOB@qmail.test>"};
	const char *bcc[] = {carol.addr, bob.addr};
	struct qm_client_compose m;
	struct qm_client_sent out;
	struct qm_client_sync_stats st;
	struct qm_error e;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.account_id = alice.acct;
	m.to = to;
	m.nto = 2;
	m.bcc = bcc;
	m.nbcc = 2;
	m.text = "x";
	m.level = 2;
	qm_error_clear(&e);
	assert_ok(qm_client_send(alice.c, &m, NULL, NULL, &out, &e));
	assert_int_equal(out.n_outbox, 2);
	assert_int_equal(out.n_sent, 2);
	assert_has(out.note, "bob@qmail.test");
	assert_int_equal(fake_mail_sent_count(), 2);
	assert_string_equal(fake_mail_sent(0)->rcpts, bob.addr);
	assert_string_equal(fake_mail_sent(1)->rcpts, carol.addr);
	assert_int_equal(fake_keys_issued(), 2);
	bob_reads(1);
	assert_ok(eu_sync(&carol, &st, &e));
	assert_int_equal(st.decrypted, 1);
}

/* Cancelling: a waiting entry becomes failed ("cancelled by the user")
 * and is not sent by a run or a retry; a sent one cannot be cancelled. */
static void test_cancel(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_store_outbox o;
	struct qm_error e;
	size_t sent = 0;
	int ok = 0;

	(void)state;
	fake_mail_fail(FM_SMTP_SEND, QM_ERR_NET, "connection reset", 0);
	assert_int_not_equal(eu_send(&alice, to, 1, 2, 0, "x", &out, &e),
	                     QM_OK);
	qm_error_clear(&e);
	assert_ok(qm_client_outbox_cancel(alice.c, out.outbox_ids[0], &e));
	memset(&o, 0, sizeof(o));
	assert_ok(qm_store_outbox_get(qm_client_store(alice.c),
	                              out.outbox_ids[0], &o, &e));
	assert_int_equal(o.state, QM_OUTBOX_FAILED);
	assert_string_equal(o.reason, "cancelled by the user");
	qm_store_outbox_item_free(&o);
	assert_int_equal(
	    qm_client_outbox_retry(alice.c, out.outbox_ids[0], &ok, &e),
	    QM_ERR_STATE);
	assert_ok(qm_client_outbox_run(alice.c, 0, &sent, NULL, &e));
	assert_int_equal(sent, 0);
	assert_int_equal(fake_mail_calls[FM_SMTP_SEND], 1);

	assert_ok(eu_send(&alice, to, 1, 2, 0, "x", &out, &e));
	assert_int_equal(
	    qm_client_outbox_cancel(alice.c, out.outbox_ids[0], &e),
	    QM_ERR_STATE);
}

/* The server took the message but its "250" was lost: the entry waits
 * and goes again (same ciphertext); bob receives two identical copies and
 * files one (a duplicate, not a replay). */
static void test_lost_reply_duplicate(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_client_sync_stats st;
	struct qm_error e;
	size_t sent = 0;

	(void)state;
	fake_mail_fail(FM_SMTP_SEND, QM_ERR_TIMEOUT, "no answer to DATA", 1);
	assert_int_not_equal(eu_send(&alice, to, 1, 2, 0, "x", &out, &e),
	                     QM_OK);
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 1);
	assert_int_equal(
	    qm_client_outbox_retry(alice.c, out.outbox_ids[0], (int[]){0}, &e),
	    QM_OK);
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 2);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	assert_int_equal(fake_keys_fetched(), 1);
	qm_error_clear(&e);
	assert_ok(qm_client_outbox_run(alice.c, 0, &sent, NULL, &e));
	assert_int_equal(sent, 0);
}

/* Alice's sync files n copies as sent by her (docs/CLIENT.md "The
 * account's own messages"): no key fetched, nothing else. */
static void alice_files_own(size_t n)
{
	struct qm_client_sync_stats st;
	size_t fetched = fake_keys_fetched();

	eu_sync_ok(&alice, &st);
	assert_int_equal(st.own, n);
	assert_int_equal(st.decrypted + st.tampered + st.errors +
	                     st.unreadable + st.replayed + st.waiting,
	                 0);
	assert_int_equal(eu_count(&alice, QM_VERIFY_SENT), n);
	assert_int_equal(fake_keys_fetched(), fetched);
}

/*
 * A message large enough to be read from its blob, its envelope left in
 * the message: the digest takes the envelope while the parse measures it
 * (no pass of its own), and is the digest the whole message gives. Alice's
 * Sent copy is recognised as hers against the outbox's ciphertext, parsed
 * whole (the other way to the digest); bob's copy moved to another folder
 * is a duplicate, not a second message or a replay.
 */
static void test_large_copies_recognised(void **state)
{
	enum { N = 3 << 20 };
	const char *to[] = {bob.addr};
	unsigned char *bin = malloc(N);
	struct qm_client_attachment att = {"big.bin", NULL, NULL, N, NULL};
	struct qm_client_sync_stats st;
	struct qm_client_sent out;
	struct qm_error e;
	size_t keys;

	(void)state;
	assert_non_null(bin);
	for (size_t i = 0; i < N; i++)
		bin[i] = (unsigned char)(i * 7 + (i >> 11));
	att.data = bin;
	eu_setting(&alice, "save_sent", "1");
	assert_ok(eu_send_att(&alice, to, 1, 2, 0, "large", &att, 1, &out, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 1);

	alice_files_own(1);

	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 1);
	assert_true(fake_mail_move(bob.addr, "INBOX", 0, "Archive") > 0);
	keys = fake_keys_fetched();
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted + st.replayed + st.tampered, 0);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(fake_keys_fetched(), keys);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	free(bin);
}

/* The copy for the Sent folder (setting save_sent): saved after the
 * send; when the IMAP server fails it, the entry waits for the next run,
 * which saves it once. The next sync files both as sent by alice. */
static void test_sent_copy(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_error e;
	int64_t *ids = NULL;
	size_t n = 0, sent = 0;

	(void)state;
	eu_setting(&alice, "save_sent", "1");
	assert_ok(eu_send(&alice, to, 1, 2, 0, "x", &out, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 1);

	fake_mail_fail(FM_IMAP_APPEND, QM_ERR_NET, "connection lost", 0);
	assert_ok(eu_send(&alice, to, 1, 2, 0, "y", &out, &e));
	assert_int_equal(out.n_sent, 1);
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 1);
	qm_error_clear(&e);
	assert_ok(qm_client_sent_copies(alice.c, 0, &ids, &n, &e));
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], out.outbox_ids[0]);
	free(ids);
	assert_ok(qm_client_outbox_run(alice.c, 0, &sent, NULL, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 2);
	assert_ok(qm_client_sent_copies(alice.c, 0, &ids, &n, &e));
	assert_int_equal(n, 0);
	free(ids);
	assert_ok(qm_client_outbox_run(alice.c, 0, &sent, NULL, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 2);
	assert_int_equal(fake_mail_sent_count(), 2);

	/* alice's sync files both copies as sent by her (docs/CLIENT.md
	 * "The account's own messages"): no key fetched, nothing else */
	alice_files_own(2);
}

/* 1 when message i of user's Sent folder is a copy sealed to self: its
 * QMail-Copy header, level 3, and not the bytes that went over SMTP. */
static int sealed_to_self(const char *user, size_t i)
{
	size_t len = 0;
	const unsigned char *m = fake_mail_msg(user, "Sent", i, &len);
	char *t;
	int yes;

	if (!m)
		return 0;
	t = strndup((const char *)m, len);
	assert_non_null(t);
	yes = strncmp(t, "QMail-Copy: sent\r\n", 18) == 0 &&
	      strstr(t, "X-QKD-Security-Level: 3\r\n") != NULL;
	for (size_t k = 0; yes && k < fake_mail_sent_count(); k++)
		yes = fake_mail_sent(k)->len != len ||
		      memcmp(fake_mail_sent(k)->data, m, len) != 0;
	free(t);
	return yes;
}

/*
 * The Sent copy is sealed to the sender's own key (default for levels 2-4;
 * level 1 only when asked; none with save_sent 0), and a server that
 * saves sent mail itself (Gmail) ends with QMail's copy alone. Her sync
 * opens each copy as hers, at the level it was sent at, with no key.
 */
static void test_sent_copy_sealed_to_self(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_client_sync_stats st;
	struct qm_error e;
	char v[8] = "";
	size_t fetched;

	(void)state;
	assert_ok(eu_send(&alice, to, 1, 2, 0, "level two", &out, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 1);
	assert_true(sealed_to_self(alice.addr, 0));
	/* level 1: no server copy unless the user chose one */
	assert_ok(eu_send(&alice, to, 1, 1, 0, "level one", &out, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 1);
	eu_setting(&alice, "save_sent_level1", "1");
	assert_ok(eu_send(&alice, to, 1, 1, 0, "level one kept", &out, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 2);
	assert_true(sealed_to_self(alice.addr, 1));
	eu_setting(&alice, "save_sent", "0");
	assert_ok(eu_send(&alice, to, 1, 3, 0, "none", &out, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 2);
	eu_setting(&alice, "save_sent", "1");

	/* Gmail saves what it sends: QMail's copy replaces the server's */
	fake_mail_saves_sent = 1;
	assert_ok(eu_send(&alice, to, 1, 4, 0, "gmail", &out, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Sent"), 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(sealed_to_self(alice.addr, i));
	{
		struct qm_buf b;

		qm_buf_init(&b, 64);
		assert_ok(
		    qm_store_setting_get(qm_client_store(alice.c), alice.acct,
		                         "sent_copy.server_saves", &b, &e));
		assert_non_null(b.data);
		qm_strlcpy(v, (const char *)b.data, sizeof(v));
		qm_buf_free(&b);
	}
	assert_string_equal(v, "1");

	fetched = fake_keys_fetched();
	eu_sync_ok(&alice, &st);
	assert_int_equal(st.own, 3);
	assert_int_equal(st.tampered + st.errors + st.unreadable + st.replayed,
	                 0);
	assert_int_equal(eu_count(&alice, QM_VERIFY_SENT), 3);
	assert_int_equal(fake_keys_fetched(), fetched);
}

/* The drafts alice keeps, how many. */
static size_t drafts_of(struct eu *u)
{
	int64_t *ids = NULL;
	size_t n = 0;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_draft_list(u->c, u->acct, &ids, &n, &e));
	free(ids);
	return n;
}

/* Saves a draft of text (at level) as draft *id (0: a new one) and keeps
 * it on the server; whether it is there. */
static int draft_save(struct eu *u, int64_t *id, int level, const char *text)
{
	const char *to[] = {bob.addr};
	struct qm_client_compose m;
	struct qm_buf b;
	struct qm_error e;
	int kept = -1;

	memset(&m, 0, sizeof(m));
	m.to = to;
	m.nto = 1;
	m.subject = "the plan";
	m.text = text;
	m.level = level;
	qm_error_clear(&e);
	qm_buf_init_secure(&b, 1 << 20);
	assert_ok(qm_client_draft_encode(&m, &b, &e));
	assert_ok(qm_client_draft_put(u->c, u->acct, id, b.data, b.len, &e));
	assert_ok(qm_client_draft_upload(u->c, u->acct, *id, &kept, &e));
	qm_buf_free(&b);
	return kept;
}

/*
 * Drafts in the server's Drafts folder (made when missing), sealed to the
 * account's own key: a newer version replaces the older one, a level-1
 * draft stays here (as for Sent), deleting a draft deletes its copy, her
 * own sync adopts nothing twice, and a draft whose subject holds a line
 * break is refused.
 */
static void test_draft_on_server(void **state)
{
	struct qm_client_compose m;
	struct qm_client_sync_stats st;
	struct qm_buf b;
	struct qm_error e;
	const unsigned char *raw;
	size_t len = 0;
	int64_t id = 0, id1 = 0;

	(void)state;
	assert_int_equal(draft_save(&alice, &id, 2, "FIRST-VERSION"), 1);
	assert_int_equal(fake_mail_count(alice.addr, "Drafts"), 1);
	raw = fake_mail_msg(alice.addr, "Drafts", 0, &len);
	assert_non_null(raw);
	assert_int_equal(strncmp((const char *)raw, "QMail-Copy: draft ", 18),
	                 0);
	assert_null(memmem(raw, len, "FIRST-VERSION", 13));
	assert_null(memmem(raw, len, "the plan", 8));
	assert_true(fake_mail_flags(alice.addr, "Drafts", 0) &
	            QM_MAIL_FLAG_DRAFT);

	assert_int_equal(draft_save(&alice, &id, 2, "SECOND-VERSION"), 1);
	assert_int_equal(fake_mail_count(alice.addr, "Drafts"), 1);
	/* level 1: kept here only, as the Sent copy is */
	assert_int_equal(draft_save(&alice, &id1, 1, "LEVEL-ONE"), 0);
	assert_int_equal(fake_mail_count(alice.addr, "Drafts"), 1);
	assert_int_equal(drafts_of(&alice), 2);

	/* her own sync opens the copy as hers and adopts nothing new */
	eu_sync_ok(&alice, &st);
	assert_int_equal(st.tampered + st.errors + st.unreadable, 0);
	assert_int_equal(drafts_of(&alice), 2);

	qm_error_clear(&e);
	assert_ok(qm_client_draft_delete(alice.c, id, &e));
	assert_int_equal(fake_mail_count(alice.addr, "Drafts"), 0);
	assert_int_equal(drafts_of(&alice), 1);

	memset(&m, 0, sizeof(m));
	m.subject = "hello\r\nBcc: eve@x.test";
	qm_buf_init_secure(&b, 4096);
	assert_int_equal(qm_client_draft_encode(&m, &b, &e), QM_ERR_INVAL);
	qm_buf_free(&b);
}

/* Levels 3 and 4 to a key that was never verified: sent all the same,
 * with a warning naming whose key it is. Locked, or without recipients,
 * nothing is sent. */
static void test_warnings_and_refusals(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_error e;

	(void)state;
	eu_knows(&alice, &bob, EU_PUBKEY); /* imported again, not verified */
	assert_ok(eu_send(&alice, to, 1, 3, 0, "x", &out, &e));
	/* a key imported again stays verified when it is the same key */
	assert_string_equal(out.warning, "");

	{
		const char *tc[] = {"dave@qmail.test"};
		struct eu dave;

		eu_open(&dave, "dave", "SAE_D", 0);
		eu_knows(&alice, &dave, EU_PUBKEY);
		assert_ok(eu_send(&alice, tc, 1, 4, 0, "x", &out, &e));
		assert_has(out.warning, "dave@qmail.test");
		eu_close(&dave);
	}
	assert_int_equal(eu_send(&alice, to, 0, 2, 0, "x", &out, &e),
	                 QM_ERR_INVAL);
	qm_client_lock(alice.c);
	assert_false(qm_client_unlocked(alice.c));
	assert_int_equal(eu_send(&alice, to, 1, 2, 0, "x", &out, &e),
	                 QM_ERR_LOCKED);
	assert_int_equal(fake_mail_sent_count(), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_send_each_level, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_smtp_retry_backoff, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_kme_refuses_level2, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_level1_on_demand_refused,
	                                    setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_fallback, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_permanent_failure, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_bcc_copies, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_lost_reply_duplicate, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_sent_copy_sealed_to_self,
	                                    setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_draft_on_server, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_large_copies_recognised,
	                                    setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_sent_copy, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_warnings_and_refusals, setup,
	                                    eng_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
