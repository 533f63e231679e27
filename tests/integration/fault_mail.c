/* SPDX-License-Identifier: MIT */
/*
 * The mail server disappearing mid-transfer, at the client level (issue 8):
 * the real world of tests/lib/world.h (OpenSMTPD + Dovecot, three
 * qkme KMEs, alice, bob over IMAP, carol over POP3), with each account's
 * server reached through a cutting relay (tests/lib/cutproxy.h) that drops
 * the connection in the middle of a transfer, then passes again:
 *   - mid-DATA: the send fails, the same ciphertext waits in the outbox and
 *     goes later; bob has it once, decrypted;
 *   - after the final "." but before the "250" reached alice: the server
 *     delivered it, the retry delivers it again; bob sees one message and
 *     no replay alarm (the second copy is a hidden duplicate);
 *   - mid-APPEND of the Sent copy: the send succeeds, the copy waits and is
 *     saved by the next outbox run, exactly once, also when the APPEND
 *     reached the server but its answer did not reach alice;
 *   - mid-FETCH of a large IMAP literal (bob) and mid-RETR (carol, POP3):
 *     the sync fails with a clear error, nothing is filed, no key is taken
 *     from the KME; the next sync files it once, decrypted;
 *   - mid-FETCH of the second of two: the first stays filed (its key is
 *     spent), the next sync files the second.
 * First the relay's own rules against a local echo server. The relays are
 * threads of this process; the servers are stopped by the world on every
 * path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cutproxy.h"
#include "harness.h"
#include "qmtest.h"
#include "world.h"

static struct world W;
/* alice's SMTP, alice's IMAP (Sent copies), bob's IMAP, carol's POP3 */
static struct qmt_cutproxy *px_smtp, *px_alice_imap, *px_bob_imap, *px_pop3;

enum svc { SVC_SMTP, SVC_IMAP, SVC_POP3 };

/* Points one server of user u's stored account at port. */
static int point(int u, enum svc s, int port)
{
	struct qm_store *st = qm_client_store(W.c[u]);
	struct qm_store_account a;
	struct qm_error e;

	qm_error_clear(&e);
	if (qm_store_account_get(st, W.acct[u], &a, &e) != QM_OK)
		goto fail;
	if (s == SVC_SMTP)
		a.smtp.port = port;
	else if (s == SVC_IMAP)
		a.imap.port = port;
	else
		a.pop3.port = port;
	if (qm_store_account_update(st, &a, &e) != QM_OK)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "fault_mail: account: %s\n", qm_error_msg(&e));
	return -1;
}

static int group_setup(void **state)
{
	(void)state;
	if (world_setup(&W, "faultmail", NULL))
		return -1;
	if (W.skipped)
		return 0;
	if (qmt_cutproxy_start(W.mail.submission_port, &px_smtp) ||
	    qmt_cutproxy_start(W.mail.imaps_port, &px_alice_imap) ||
	    qmt_cutproxy_start(W.mail.imaps_port, &px_bob_imap) ||
	    qmt_cutproxy_start(W.mail.pop3s_port, &px_pop3))
		return -1;
	if (point(W_ALICE, SVC_SMTP, qmt_cutproxy_port(px_smtp)) ||
	    point(W_ALICE, SVC_IMAP, qmt_cutproxy_port(px_alice_imap)) ||
	    point(W_BOB, SVC_IMAP, qmt_cutproxy_port(px_bob_imap)) ||
	    point(W_CAROL, SVC_POP3, qmt_cutproxy_port(px_pop3)))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	qmt_cutproxy_stop(&px_smtp);
	qmt_cutproxy_stop(&px_alice_imap);
	qmt_cutproxy_stop(&px_bob_imap);
	qmt_cutproxy_stop(&px_pop3);
	world_stop(&W);
	return 0;
}

/* A message from alice to user to at level 2 with an attachment. */
struct msg {
	char subject[128];
	unsigned char *data;
	size_t size;
	struct qm_client_compose m;
	struct qm_client_attachment att;
	const char *to[1];
};

static void msg_make(struct msg *g, int to, const char *subject, size_t size,
                     unsigned seed)
{
	memset(g, 0, sizeof(*g));
	qm_strlcpy(g->subject, subject, sizeof(g->subject));
	g->data = qmt_bytes(size, seed);
	assert_non_null(g->data);
	g->size = size;
	g->to[0] = qmt_mail_addr(to);
	g->att.name = "figures.bin";
	g->att.type = "application/octet-stream";
	g->att.data = g->data;
	g->att.len = size;
	g->m.account_id = W.acct[W_ALICE];
	g->m.to = g->to;
	g->m.nto = 1;
	g->m.subject = g->subject;
	g->m.text = "sent through a cut connection\n";
	g->m.att = &g->att;
	g->m.natt = 1;
	g->m.level = 2;
}

/* User u reads its newest message: g's subject and attachment, decrypted
 * and verified at level 2 with key_id. */
static void expect_newest(int u, const struct msg *g, const char *key_id)
{
	struct qm_error e;
	struct qm_client_view *v = NULL;

	qm_error_clear(&e);
	assert_ok(qm_client_read(W.c[u], world_newest(&W, u, NULL), &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_int_equal(v->level, 2);
	assert_string_equal(v->subject, g->subject);
	assert_int_equal(v->natt, 1);
	assert_int_equal(v->att[0].len, g->size);
	assert_memory_equal(v->att[0].data, g->data, g->size);
	assert_int_equal(v->nkey_ids, 1);
	assert_string_equal(v->key_ids[0], key_id);
	qm_client_view_free(&v);
}

/* The outbox entry id as it stands (caller frees with _item_free). */
static void outbox(int64_t id, struct qm_store_outbox *o)
{
	struct qm_error e;

	memset(o, 0, sizeof(*o));
	qm_error_clear(&e);
	assert_ok(
	    qm_store_outbox_get(qm_client_store(W.c[W_ALICE]), id, o, &e));
}

/* Entry id's ciphertext (len bytes), read from alice's outbox (valid
 * until the next call). */
static const unsigned char *ct_read(int64_t id, size_t len)
{
	static struct qm_buf b;
	struct qm_error e;

	qm_buf_free(&b);
	qm_buf_init(&b, 256u << 20);
	qm_error_clear(&e);
	assert_ok(qm_store_outbox_ciphertext(qm_client_store(W.c[W_ALICE]), id,
	                                     &b, &e));
	assert_int_equal(b.len, len);
	return b.data;
}

/* Makes a waiting entry due now and works alice's outbox: one sent. */
static void retry_now(int64_t id)
{
	struct qm_store *st = qm_client_store(W.c[W_ALICE]);
	struct qm_error e;
	size_t ok = 0, bad = 0;

	qm_error_clear(&e);
	assert_ok(qm_store_outbox_begin_send(st, id, &e));
	assert_ok(qm_store_outbox_fail(st, id, "test: due now", 1, &e));
	assert_ok(qm_client_outbox_run(W.c[W_ALICE], 0, &ok, &bad, &e));
	assert_int_equal(ok, 1);
	assert_int_equal(bad, 0);
}

/* Bob syncs through a working relay; returns the stats. */
static struct qm_client_sync_stats sync_ok(int u)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_sync(W.c[u], W.acct[u], NULL, NULL, &st, &e));
	return st;
}

/* A send that the relay cuts: fails, the same ciphertext waits in the
 * outbox. Returns the entry's id; *ct (malloc'd) and key get what waits. */
static int64_t send_cut(struct msg *g, unsigned char **ct, size_t *ctlen,
                        char *key, size_t keylen)
{
	struct qm_error e;
	struct qm_client_sent sent;
	struct qm_store_outbox o;
	int cuts = qmt_cutproxy_cuts(px_smtp);
	int64_t id;

	qm_error_clear(&e);
	assert_int_not_equal(
	    qm_client_send(W.c[W_ALICE], &g->m, NULL, NULL, &sent, &e), QM_OK);
	fprintf(stderr, "fault_mail: the cut send said: %s\n", e.msg);
	assert_non_null(strstr(e.msg, "waits in the outbox"));
	assert_int_equal(qmt_cutproxy_cuts(px_smtp), cuts + 1);
	assert_int_equal(sent.n_outbox, 1);
	assert_int_equal(sent.n_sent, 0);
	id = sent.outbox_ids[0];
	outbox(id, &o);
	assert_int_equal(o.state, QM_OUTBOX_RETRYING);
	assert_true(o.ciphertext_len > g->size);
	assert_int_equal(o.n_keys, 1);
	*ct = malloc(o.ciphertext_len);
	assert_non_null(*ct);
	memcpy(*ct, ct_read(id, o.ciphertext_len), o.ciphertext_len);
	*ctlen = o.ciphertext_len;
	qm_strlcpy(key, o.key_ids[0], keylen);
	qm_store_outbox_item_free(&o);
	return id;
}

/* After the retry: sent, with the very ciphertext and key that waited. */
static void expect_sent_same(int64_t id, const unsigned char *ct, size_t len,
                             const char *key)
{
	struct qm_store_outbox o;

	outbox(id, &o);
	assert_int_equal(o.state, QM_OUTBOX_SENT);
	assert_int_equal(o.ciphertext_len, len);
	assert_memory_equal(ct_read(id, len), ct, len);
	assert_string_equal(o.key_ids[0], key);
	qm_store_outbox_item_free(&o);
}

/* The SMTP connection drops halfway through the upload of the message. */
static void test_mid_data(void **state)
{
	struct msg g;
	unsigned char *ct = NULL;
	size_t ctlen = 0;
	char key[128];
	int have;
	int64_t id, before;
	uint64_t b0;
	struct qm_client_sync_stats st;

	(void)state;
	if (W.skipped)
		skip();
	msg_make(&g, W_BOB, "cut mid-DATA", 1536 * 1024, 1);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	before = world_count(&W, W_BOB);
	/* the ciphertext is about 1.8 times the attachment: half of the
	 * attachment is well inside DATA */
	b0 = qmt_cutproxy_bytes(px_smtp, QMT_C2S);
	qmt_cutproxy_cut_after(px_smtp, QMT_C2S, g.size / 2);
	id = send_cut(&g, &ct, &ctlen, key, sizeof(key));
	assert_true(qmt_cutproxy_bytes(px_smtp, QMT_C2S) - b0 < ctlen);
	/* a message cut short is never delivered */
	assert_int_equal(qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0), have);

	qmt_cutproxy_pass(px_smtp);
	retry_now(id);
	expect_sent_same(id, ct, ctlen, key);
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000),
	    have + 1);
	st = sync_ok(W_BOB);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.tampered, 0);
	assert_int_equal(world_count(&W, W_BOB), before + 1);
	expect_newest(W_BOB, &g, key);
	free(ct);
	free(g.data);
}

/*
 * The connection drops after the final "." went out and the server
 * answered, but before its "250" reached alice: the server delivered the
 * message, alice does not know and sends the same ciphertext again.
 */
static void test_lost_250(void **state)
{
	struct msg g;
	unsigned char *ct = NULL;
	size_t ctlen = 0;
	char key[128];
	int have;
	int64_t id, before;
	uint64_t b0;
	struct qm_client_sync_stats st;

	(void)state;
	if (W.skipped)
		skip();
	msg_make(&g, W_BOB, "the 250 was lost", 1024 * 1024, 2);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	before = world_count(&W, W_BOB);
	/* past half the attachment the client only uploads: the next thing
	 * the server says is its answer to the end of DATA */
	b0 = qmt_cutproxy_bytes(px_smtp, QMT_C2S);
	qmt_cutproxy_cut_reply(px_smtp, g.size / 2);
	id = send_cut(&g, &ct, &ctlen, key, sizeof(key));
	/* all of it went up */
	assert_true(qmt_cutproxy_bytes(px_smtp, QMT_C2S) - b0 > ctlen);
	/* the server had taken it */
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000),
	    have + 1);

	qmt_cutproxy_pass(px_smtp);
	retry_now(id);
	expect_sent_same(id, ct, ctlen, key);
	/* two copies of one ciphertext on the server */
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 2, 30000),
	    have + 2);
	st = sync_ok(W_BOB);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.tampered, 0);
	assert_int_equal(world_count(&W, W_BOB), before + 1);
	expect_newest(W_BOB, &g, key);
	/* and a later sync has nothing more to say about it */
	st = sync_ok(W_BOB);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(world_count(&W, W_BOB), before + 1);
	free(ct);
	free(g.data);
}

/* The pending Sent copies of alice ("" when none). */
static void pending(char *out, size_t n)
{
	struct qm_buf b;

	out[0] = '\0';
	qm_buf_init(&b, 8192);
	if (qm_store_setting_get(qm_client_store(W.c[W_ALICE]), W.acct[W_ALICE],
	                         "sent_copy.pending", &b, NULL) == QM_OK &&
	    b.data)
		qm_strlcpy(out, (const char *)b.data, n);
	qm_buf_free(&b);
}

/* Turns alice's copies for Sent on; the files her Sent folder holds. */
static int save_sent_on(void)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_store_setting_set(qm_client_store(W.c[W_ALICE]),
	                               W.acct[W_ALICE], "save_sent", "1", &e));
	return qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0);
}

/* Sends g (the SMTP side works); returns the outbox id. */
static int64_t send_ok(struct msg *g)
{
	struct qm_error e;
	struct qm_client_sent sent;

	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &g->m, NULL, NULL, &sent, &e));
	assert_int_equal(sent.n_sent, 1);
	return sent.outbox_ids[0];
}

/*
 * The copy for the Sent folder (save_sent): the IMAP connection drops
 * mid-APPEND literal, then (second message) after the literal went out and
 * the server stored it but before its OK reached alice.
 */
static void test_mid_append(void **state)
{
	struct qm_store *st = qm_client_store(W.c[W_ALICE]);
	struct qm_error e;
	struct msg g, g2;
	char pend[256], idtext[32];
	size_t ok = 0, bad = 0;
	int sent_have, cuts;
	int64_t id, id2;

	(void)state;
	if (W.skipped)
		skip();
	qm_error_clear(&e);
	sent_have = save_sent_on();
	msg_make(&g, W_BOB, "Sent copy cut mid-APPEND", 1024 * 1024, 3);
	cuts = qmt_cutproxy_cuts(px_alice_imap);
	qmt_cutproxy_cut_after(px_alice_imap, QMT_C2S, g.size / 2);
	/* the message goes out; only its copy is cut */
	id = send_ok(&g);
	assert_int_equal(qmt_cutproxy_cuts(px_alice_imap), cuts + 1);
	pending(pend, sizeof(pend));
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	assert_string_equal(pend, idtext);
	/* a partial APPEND is refused by the server */
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
	                 sent_have);

	/* the user sees it waiting */
	{
		int64_t *w = NULL;
		size_t nw = 0;

		assert_ok(qm_client_sent_copies(W.c[W_ALICE], 0, &w, &nw, &e));
		assert_int_equal(nw, 1);
		assert_int_equal(w[0], id);
		free(w);
	}
	/* retrying it while the server is still cut: it keeps waiting */
	qmt_cutproxy_cut_after(px_alice_imap, QMT_C2S, g.size / 2);
	{
		int one = 1;

		assert_int_not_equal(
		    qm_client_outbox_retry(W.c[W_ALICE], id, &one, &e), QM_OK);
		assert_int_equal(one, 0);
		assert_int_equal(qmt_cutproxy_cuts(px_alice_imap), cuts + 2);
	}
	pending(pend, sizeof(pend));
	assert_string_equal(pend, idtext);
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
	                 sent_have);

	/* the user retries this one entry: its copy is saved, once */
	qmt_cutproxy_pass(px_alice_imap);
	{
		int one = 0;

		assert_ok(qm_client_outbox_retry(W.c[W_ALICE], id, &one, &e));
		assert_int_equal(one, 1);
		/* nothing left to retry for it */
		assert_int_equal(
		    qm_client_outbox_retry(W.c[W_ALICE], id, &one, &e),
		    QM_ERR_STATE);
	}
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
	                 sent_have + 1);
	pending(pend, sizeof(pend));
	assert_string_equal(pend, "");
	assert_ok(qm_client_outbox_run(W.c[W_ALICE], 0, &ok, &bad, &e));
	assert_int_equal(ok, 0);
	assert_int_equal(bad, 0);
	/* nothing more to do */
	assert_ok(qm_client_outbox_run(W.c[W_ALICE], 0, &ok, &bad, &e));
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
	                 sent_have + 1);

	/* the APPEND reached the server; its OK did not reach alice */
	msg_make(&g2, W_BOB, "Sent copy whose OK was lost", 1024 * 1024, 4);
	qmt_cutproxy_cut_reply(px_alice_imap, g2.size / 2);
	id2 = send_ok(&g2);
	assert_int_equal(qmt_cutproxy_cuts(px_alice_imap), cuts + 3);
	pending(pend, sizeof(pend));
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id2);
	assert_string_equal(pend, idtext);
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
	                 sent_have + 2);
	assert_ok(qm_client_outbox_run(W.c[W_ALICE], 0, &ok, &bad, &e));
	/* found by its Message-ID: not appended a second time */
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
	                 sent_have + 2);
	pending(pend, sizeof(pend));
	assert_string_equal(pend, "");

	assert_ok(
	    qm_store_setting_set(st, W.acct[W_ALICE], "save_sent", "0", &e));
	free(g.data);
	free(g2.data);
}

/* send_cut with the SMTP connection cut after n bytes; *up gets the bytes
 * that went to alice's IMAP server beside it meanwhile (the copy for
 * Sent, and the commands around it). */
static int64_t send_cut_beside(struct msg *g, uint64_t n, unsigned char **ct,
                               size_t *ctlen, char *key, size_t keylen,
                               uint64_t *up)
{
	uint64_t i0 = qmt_cutproxy_bytes(px_alice_imap, QMT_C2S);
	int64_t id;

	qmt_cutproxy_cut_after(px_smtp, QMT_C2S, n);
	id = send_cut(g, ct, ctlen, key, keylen);
	*up = qmt_cutproxy_bytes(px_alice_imap, QMT_C2S) - i0;
	fprintf(stderr,
	        "fault_mail: %llu bytes went to IMAP beside an upload of %zu "
	        "bytes cut after %llu\n",
	        (unsigned long long)*up, *ctlen, (unsigned long long)n);
	return id;
}

/*
 * A large message's copy for Sent goes up beside its SMTP upload, its last
 * byte held back until the server took the message (sentcopy.c). The SMTP
 * connection drops at once: the copy stops early. It drops late in DATA:
 * the send fails, and no copy of the message that did not go reaches Sent,
 * none waits for later either; the retry sends it, and its copy is saved
 * once.
 */
static void test_mid_data_sent_copy(void **state)
{
	struct qm_store *st = qm_client_store(W.c[W_ALICE]);
	struct qm_error e;
	struct msg g;
	unsigned char *ct = NULL;
	size_t ctlen = 0;
	char key[128], pend[256];
	int sent_have, have;
	uint64_t up;
	int64_t id;

	(void)state;
	if (W.skipped)
		skip();
	qm_error_clear(&e);
	sent_have = save_sent_on();
	/* cut at once (the greeting and EHLO): the copy beside it stops at
	 * its first piece instead of going up whole to be dropped */
	msg_make(&g, W_BOB, "cut at once, with a copy for Sent",
	         4 * 1024 * 1024, 6);
	id = send_cut_beside(&g, 16, &ct, &ctlen, key, sizeof(key), &up);
	assert_true(up < ctlen / 4);
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
	                 sent_have);
	assert_ok(qm_client_outbox_cancel(W.c[W_ALICE], id, &e));
	/* whatever else waits for bob first, so that only this one is new */
	sync_ok(W_BOB);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	/* cut late in DATA: whether the copy beside it is whole by then
	 * (waiting at its held byte) or still being made is a race; tried
	 * until it was whole once (it was in most runs). Either way the
	 * server stores nothing of it and nothing waits. */
	for (int k = 0;; k++) {
		assert_true(k < 8);
		free(ct);
		free(g.data);
		msg_make(&g, W_BOB, "cut late in DATA, with a copy for Sent",
		         2 * 1024 * 1024, 5 + (unsigned)k);
		/* about nine tenths of the upload (base64: 4/3 of it) */
		id = send_cut_beside(&g, g.size * 6 / 5, &ct, &ctlen, key,
		                     sizeof(key), &up);
		assert_int_equal(
		    qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
		    sent_have);
		pending(pend, sizeof(pend));
		assert_string_equal(pend, "");
		if (up >= ctlen / 10 * 9)
			break;
		/* the copy lost the race: that entry goes */
		assert_ok(qm_client_outbox_cancel(W.c[W_ALICE], id, &e));
	}

	qmt_cutproxy_pass(px_smtp);
	retry_now(id);
	expect_sent_same(id, ct, ctlen, key);
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
	                 sent_have + 1);
	pending(pend, sizeof(pend));
	assert_string_equal(pend, "");
	/* bob gets it, once; later tests start from an inbox read */
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000),
	    have + 1);
	assert_int_equal(sync_ok(W_BOB).decrypted, 1);
	assert_ok(
	    qm_store_setting_set(st, W.acct[W_ALICE], "save_sent", "0", &e));
	free(ct);
	free(g.data);
}

/*
 * Sends a message of size bytes from alice to user u and waits for its
 * delivery; returns its key ID in key.
 */
static void deliver(struct msg *g, int u, const char *subject, size_t size,
                    unsigned seed, char *key, size_t keylen)
{
	struct qm_store_outbox o;
	int have = qmt_mail_files(&W.mail, u, NULL, NULL, 0);
	int64_t id;

	msg_make(g, u, subject, size, seed);
	id = send_ok(g);
	outbox(id, &o);
	qm_strlcpy(key, o.key_ids[0], keylen);
	qm_store_outbox_item_free(&o);
	assert_int_equal(qmt_mail_wait_files(&W.mail, u, NULL, have + 1, 30000),
	                 have + 1);
}

/* The sealed blobs in user u's home, of every kind (a large message is
 * written into one as it arrives). */
static int blobs(int u)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(
	    sqlite3_open(qm_store_path(qm_client_store(W.c[u])), &db),
	    SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM blob", -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* The incoming connection of user u (relay px) drops halfway through the
 * big message (3 MiB: written into a blob as it arrives): nothing of it
 * stays, not even the part of it written; then it works again. */
static void cut_incoming(int u, struct qmt_cutproxy *px, const char *subject,
                         unsigned seed)
{
	struct qm_error e;
	struct qm_client_sync_stats st;
	struct msg g;
	char key[128];
	int64_t before;
	int cuts, nblobs;

	/* whatever else waits for u first, so that only this one is new */
	sync_ok(u);
	deliver(&g, u, subject, 3 * 1024 * 1024, seed, key, sizeof(key));
	before = world_count(&W, u);
	nblobs = blobs(u);
	cuts = qmt_cutproxy_cuts(px);
	qmt_cutproxy_cut_after(px, QMT_S2C, g.size / 2);
	qm_error_clear(&e);
	assert_int_not_equal(
	    qm_client_sync(W.c[u], W.acct[u], NULL, NULL, &st, &e), QM_OK);
	fprintf(stderr, "fault_mail: the cut sync said: %s\n", e.msg);
	assert_int_equal(qmt_cutproxy_cuts(px), cuts + 1);
	assert_true(e.msg[0] != '\0');
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(st.fetched, 0);
	/* nothing filed, no key consumed, nothing of it in the store */
	assert_int_equal(world_count(&W, u), before);
	assert_int_equal(blobs(u), nblobs);
	assert_int_equal(qm_store_replay_check(qm_client_store(W.c[u]),
	                                       W.acct[u], QM_DIR_IN, key, NULL),
	                 QM_OK);

	qmt_cutproxy_pass(px);
	st = sync_ok(u);
	assert_int_equal(st.fetched, 1);
	/* decrypted: the KME still had its key, so the cut sync took none */
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(world_count(&W, u), before + 1);
	expect_newest(u, &g, key);
	assert_int_equal(qm_store_replay_check(qm_client_store(W.c[u]),
	                                       W.acct[u], QM_DIR_IN, key, NULL),
	                 QM_ERR_REPLAY);
	free(g.data);
}

static void test_mid_fetch_imap(void **state)
{
	(void)state;
	if (W.skipped)
		skip();
	cut_incoming(W_BOB, px_bob_imap, "cut mid-FETCH literal", 5);
}

/* The bytes of user u's INBOX messages no IMAP session has seen yet. */
static uint64_t new_bytes(int u)
{
	char paths[64][512];
	int n = qmt_mail_files(&W.mail, u, NULL, paths, 64);
	uint64_t sum = 0;
	struct stat sb;

	assert_true(n > 0 && n <= 64);
	for (int i = 0; i < n; i++)
		if (strstr(paths[i], "/new/") && stat(paths[i], &sb) == 0)
			sum += (uint64_t)sb.st_size;
	assert_true(sum > 0);
	return sum;
}

/*
 * Two messages in one FETCH, the connection cut in the middle of the
 * second: the first, whose key the sync took from the KME, stays filed
 * (the sync's group of filings is committed on the failure, not rolled
 * back: its key could not be had again); the next sync files the second.
 */
static void test_mid_fetch_keeps_filed(void **state)
{
	struct qm_error e;
	struct qm_client_sync_stats st;
	struct msg g1, g2;
	char k1[128], k2[128];
	int64_t before;
	int cuts;

	(void)state;
	if (W.skipped)
		skip();
	sync_ok(W_BOB);
	/* small: filed well within the sync's group time, so that only the
	 * commit on failure keeps the first */
	deliver(&g1, W_BOB, "first of two", 64 * 1024, 7, k1, sizeof(k1));
	deliver(&g2, W_BOB, "second of two", 64 * 1024, 8, k2, sizeof(k2));
	before = world_count(&W, W_BOB);
	cuts = qmt_cutproxy_cuts(px_bob_imap);
	/* the two are the only ones not yet seen (Maildir new/): three
	 * quarters of their bytes is the middle of the second (the login
	 * and TLS add a few KB) */
	qmt_cutproxy_cut_after(px_bob_imap, QMT_S2C, new_bytes(W_BOB) * 3 / 4);
	qm_error_clear(&e);
	assert_int_not_equal(
	    qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, &st, &e),
	    QM_OK);
	fprintf(stderr, "fault_mail: the cut sync said: %s\n", e.msg);
	assert_int_equal(qmt_cutproxy_cuts(px_bob_imap), cuts + 1);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(world_count(&W, W_BOB), before + 1);
	assert_int_equal(qm_store_replay_check(qm_client_store(W.c[W_BOB]),
	                                       W.acct[W_BOB], QM_DIR_IN, k1,
	                                       NULL),
	                 QM_ERR_REPLAY);
	assert_int_equal(qm_store_replay_check(qm_client_store(W.c[W_BOB]),
	                                       W.acct[W_BOB], QM_DIR_IN, k2,
	                                       NULL),
	                 QM_OK);

	qmt_cutproxy_pass(px_bob_imap);
	st = sync_ok(W_BOB);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(world_count(&W, W_BOB), before + 2);
	expect_newest(W_BOB, &g2, k2);
	free(g1.data);
	free(g2.data);
}

static void test_mid_retr_pop3(void **state)
{
	(void)state;
	if (W.skipped)
		skip();
	cut_incoming(W_CAROL, px_pop3, "cut mid-RETR", 6);
}

/* ------------------------------------------------ the relay's own rules */

struct echo {
	int lfd, port;
	pthread_t th;
};

/* Echoes every connection, one after the other, until the listening
 * socket is shut down. */
static void *echo_main(void *arg)
{
	struct echo *ec = arg;
	char b[4096];

	for (;;) {
		int fd = accept(ec->lfd, NULL, NULL);
		ssize_t r;

		if (fd < 0)
			break;
		while ((r = recv(fd, b, sizeof(b), 0)) > 0)
			if (send(fd, b, (size_t)r, MSG_NOSIGNAL) != r)
				break;
		close(fd);
	}
	return NULL;
}

static int tcp_connect(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Reads until want bytes came or the peer closed (5 s at most); returns
 * the count; *eof says whether the stream ended. */
static size_t read_some(int fd, char *buf, size_t max, size_t want, int *eof)
{
	size_t got = 0;

	*eof = 0;
	while (got < want || want == 0) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		ssize_t r;

		assert_int_equal(poll(&pf, 1, 5000), 1);
		r = recv(fd, buf + got, max - got, 0);
		if (r <= 0) {
			*eof = 1;
			break;
		}
		got += (size_t)r;
	}
	return got;
}

static void test_cutproxy_rules(void **state)
{
	struct echo ec;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	struct qmt_cutproxy *px = NULL;
	char buf[256];
	uint64_t up;
	int fd, eof;
	size_t n;

	(void)state;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ec.lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(ec.lfd >= 0);
	assert_int_equal(bind(ec.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(ec.lfd, 8), 0);
	assert_int_equal(getsockname(ec.lfd, (struct sockaddr *)&a, &al), 0);
	ec.port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&ec.th, NULL, echo_main, &ec), 0);
	assert_int_equal(qmt_cutproxy_start(ec.port, &px), 0);

	/* after n bytes: exactly n get through (the echo comes back whole
	 * to the relay, which passes the first 10 bytes) */
	qmt_cutproxy_cut_after(px, QMT_S2C, 10);
	fd = tcp_connect(qmt_cutproxy_port(px));
	assert_int_equal(send(fd, "0123456789ABCDEF", 16, 0), 16);
	n = read_some(fd, buf, sizeof(buf), 0, &eof);
	assert_true(eof);
	assert_int_equal(n, 10);
	assert_memory_equal(buf, "0123456789", 10);
	close(fd);
	assert_int_equal(qmt_cutproxy_cuts(px), 1);

	/* a marker split over two writes: forwarded up to its end */
	qmt_cutproxy_cut_at(px, QMT_S2C, "\r\n.\r\n", 5);
	fd = tcp_connect(qmt_cutproxy_port(px));
	assert_int_equal(send(fd, "hello\r\n.", 8, 0), 8);
	assert_int_equal(read_some(fd, buf, sizeof(buf), 8, &eof), 8);
	assert_int_equal(send(fd, "\r\nafter", 7, 0), 7);
	n = read_some(fd, buf, sizeof(buf), 0, &eof);
	assert_true(eof);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "\r\n", 2);
	close(fd);
	assert_int_equal(qmt_cutproxy_cuts(px), 2);

	/* the answer after n bytes up is withheld, the upload went through */
	up = qmt_cutproxy_bytes(px, QMT_C2S);
	qmt_cutproxy_cut_reply(px, 5);
	fd = tcp_connect(qmt_cutproxy_port(px));
	assert_int_equal(send(fd, "abcdef", 6, 0), 6);
	n = read_some(fd, buf, sizeof(buf), 0, &eof);
	assert_true(eof);
	assert_int_equal(n, 0);
	assert_int_equal(qmt_cutproxy_bytes(px, QMT_C2S) - up, 6);
	close(fd);
	assert_int_equal(qmt_cutproxy_cuts(px), 3);

	/* and back to passing everything */
	fd = tcp_connect(qmt_cutproxy_port(px));
	assert_int_equal(send(fd, "still there", 11, 0), 11);
	assert_int_equal(read_some(fd, buf, sizeof(buf), 11, &eof), 11);
	assert_memory_equal(buf, "still there", 11);
	close(fd);
	assert_int_equal(qmt_cutproxy_cuts(px), 3);
	assert_int_equal(qmt_cutproxy_conns(px), 4);

	qmt_cutproxy_stop(&px);
	assert_null(px);
	shutdown(ec.lfd, SHUT_RDWR);
	pthread_join(ec.th, NULL);
	close(ec.lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cutproxy_rules),
	    cmocka_unit_test(test_mid_data),
	    cmocka_unit_test(test_lost_250),
	    cmocka_unit_test(test_mid_append),
	    cmocka_unit_test(test_mid_data_sent_copy),
	    cmocka_unit_test(test_mid_fetch_imap),
	    cmocka_unit_test(test_mid_fetch_keeps_filed),
	    cmocka_unit_test(test_mid_retr_pop3),
	};

	if (qm_core_init(NULL) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
