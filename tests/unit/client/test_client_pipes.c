/* SPDX-License-Identifier: MIT */
/*
 * The pieces of the client's send and receive pipelines that need no
 * server (issue 13, item 4): the outbox entry's sealed record of what its
 * envelope binds (its values are the ones the receiver binds; an entry
 * whose level column was changed on disk goes at neither level; an entry
 * an older QMail queued without the record still goes), and the keys a
 * message is sealed or opened under (msg_keys). No mail server and no KME
 * runs: the account's servers are ports nobody listens on, so a send stops
 * after the encryption, where these tests look. Also plain mail (issue 15):
 * never without the choice for the message, never below a floor, plain and
 * encrypted copies apart, and a plain entry changed on disk refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/private.h"
#include "core/core.h"
#include "harness.h"
#include "home.h"

#define PASS "correct horse battery staple"

static char g_home[512];
static struct qm_client *g_c;
static int64_t g_acct;

static void edit(const char *sql)
{
	sqlite3 *db;
	char path[600];
	char *msg = NULL;

	snprintf(path, sizeof(path), "%s/qmail.db", g_home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

/* Bob's public identity, imported (not verified), and his confirmed SAE
 * ID: levels 2 and 4 may be used towards him. */
static void add_bob(void)
{
	struct qm_identity *id = NULL;
	struct qm_pubid *pub = NULL;
	struct qm_store_contact ct;
	enum qm_store_trust t;
	char fpr[QM_STORE_FPRMAX];
	struct qm_buf arm;
	struct qm_error e;

	qm_buf_init(&arm, 1 << 20);
	assert_int_equal(qm_crypto_identity_new(&id, &e), QM_OK);
	assert_int_equal(qm_crypto_identity_public(id, &pub, &e), QM_OK);
	assert_int_equal(
	    qm_crypto_pubid_export(pub, "bob@example.org", &arm, &e), QM_OK);
	assert_int_equal(qm_client_key_import(g_c, "bob@example.org",
	                                      (const char *)arm.data, arm.len,
	                                      fpr, &t, &e),
	                 QM_OK);
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "bob@example.org", sizeof(ct.address));
	qm_strlcpy(ct.sae_id, "SAE_B", sizeof(ct.sae_id));
	ct.confirmed = 1;
	ct.source = QM_CONTACT_USER;
	assert_int_equal(
	    qm_store_contact_put(qm_client_store(g_c), g_acct, &ct, &e), QM_OK);
	qm_buf_free(&arm);
	qm_crypto_pubid_free(&pub);
	qm_crypto_identity_free(&id);
}

static int setup(void **state)
{
	struct qm_store_account a;

	(void)state;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	/* nobody listens on port 1 of loopback: sends stop there */
	qm_strlcpy(a.smtp.host, "127.0.0.1", sizeof(a.smtp.host));
	a.smtp.port = 1;
	qm_strlcpy(a.sae_id, "SAE_A", sizeof(a.sae_id));
	qm_strlcpy(a.kme_url, "https://127.0.0.1:1", sizeof(a.kme_url));
	if (qmt_home_open("client-pipes", PASS, &a, &g_c, g_home,
	                  sizeof(g_home)))
		return -1;
	g_acct = a.id;
	add_bob();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qmt_home_close(&g_c, g_home);
	return 0;
}

static void outbox_get(int64_t id, struct qm_store_outbox *o)
{
	struct qm_error e;

	memset(o, 0, sizeof(*o));
	assert_int_equal(qm_store_outbox_get(qm_client_store(g_c), id, o, &e),
	                 QM_OK);
}

/* Entry id's ciphertext, read from its blob (valid until the next call). */
static const unsigned char *ct_of(int64_t id)
{
	static struct qm_buf b;
	struct qm_error e;

	qm_buf_free(&b);
	qm_buf_init(&b, 64u << 20);
	assert_int_equal(
	    qm_store_outbox_ciphertext(qm_client_store(g_c), id, &b, &e),
	    QM_OK);
	return b.data;
}

/* The record's text format: every value back as it was (newlines and
 * backslashes escaped), and a record without one of them refused. */
static void test_outbox_rec(void **state)
{
	struct qm_mail_hdrs h = {"Al\\ice <a@x>", "b@x,\n c@x", "",
	                         "Mon, 1 Jan 2024 00:00:00 +0000", "<m@x>"};
	struct outbox_rec r;
	struct qm_buf b;
	struct qm_error e;
	const char *partial = "v=1\nlevel=2\nfrom=a@x\nto=b@x\ncc=\ndate=d\n";

	(void)state;
	qm_buf_init(&b, 4096);
	assert_int_equal(client_outbox_rec_encode(3, &h, NULL, &b, &e), QM_OK);
	assert_int_equal(qm_buf_append_str(&b, "later=skipped\n", &e), QM_OK);
	assert_int_equal(client_outbox_rec_decode(b.data, b.len, &r, &e),
	                 QM_OK);
	assert_int_equal(r.level, 3);
	assert_string_equal(r.h.from, h.from);
	assert_string_equal(r.h.to, h.to);
	assert_string_equal(r.h.cc, "");
	assert_string_equal(r.h.date, h.date);
	assert_string_equal(r.h.message_id, h.message_id);
	client_outbox_rec_clear(&r);
	assert_int_equal(
	    client_outbox_rec_decode(partial, strlen(partial), &r, &e),
	    QM_ERR_PARSE);
	assert_null(r.h.from);
	qm_buf_free(&b);
}

/*
 * The values kept in the record are the ones the send path parsed back
 * from the protected message before (and the receiver parses from the
 * wire): qm_mail_hdrs_make's values survive the inner MIME unchanged,
 * display names with non-ASCII letters and several recipients included.
 */
static void test_bound_values_round_trip(void **state)
{
	const char *to[] = {"Bj\xc3\xb6rn <bob@example.org>",
	                    "carol@example.org"};
	const char *cc[] = {"\"Doe, Dave\" <dave@example.org>"};
	struct qm_mail_hdrs *h = NULL;
	struct qm_mail_content *mc = NULL;
	struct qm_mail_compose m;
	struct qm_buf mime;
	struct qm_error e;

	(void)state;
	qm_buf_init_secure(&mime, 1 << 20);
	assert_int_equal(qm_mail_hdrs_make("Al\xc3\xad"
	                                   "ce <alice@example.org>",
	                                   to, 2, cc, 1, 1700000000, &h, &e),
	                 QM_OK);
	memset(&m, 0, sizeof(m));
	m.hdrs = h;
	m.subject = "s";
	m.text = "t";
	assert_int_equal(qm_mail_inner_build(&m, &mime, &e), QM_OK);
	assert_int_equal(
	    qm_mail_content_parse(mime.data, mime.len, NULL, &mc, &e), QM_OK);
	assert_string_equal(mc->hdrs.from, h->from);
	assert_string_equal(mc->hdrs.to, h->to);
	assert_string_equal(mc->hdrs.cc, h->cc);
	assert_string_equal(mc->hdrs.date, h->date);
	assert_string_equal(mc->hdrs.message_id, h->message_id);
	qm_mail_content_free(&mc);
	qm_mail_hdrs_free(&h);
	qm_buf_free(&mime);
}

/* Queues a level-2 message to bob: its keys cannot be fetched (no KME
 * listens), so it waits in the outbox, PENDING. */
static int64_t queue_level2(void)
{
	const char *to[] = {"bob@example.org"};
	struct qm_client_compose m;
	struct qm_client_sent out;
	struct qm_store_outbox o;
	struct qm_error e;

	memset(&m, 0, sizeof(m));
	m.account_id = g_acct;
	m.to = to;
	m.nto = 1;
	m.subject = "level 2 only";
	m.text = "hello";
	m.level = 2;
	assert_int_not_equal(qm_client_send(g_c, &m, NULL, NULL, &out, &e),
	                     QM_OK);
	assert_int_equal(out.n_outbox, 1);
	outbox_get(out.outbox_ids[0], &o);
	assert_int_equal(o.state, QM_OUTBOX_PENDING);
	assert_int_equal(o.level, 2);
	qm_store_outbox_item_free(&o);
	return out.outbox_ids[0];
}

/*
 * Someone who can write the database but not the vault lowers a queued
 * message's level from 2 to 4 (which needs only bob's public key). The
 * sealed record says level 2: the entry fails with the reason and is never
 * encrypted at level 4.
 */
static void test_level_changed_on_disk(void **state)
{
	struct qm_store_outbox o;
	struct qm_error e;
	char sql[128];
	int64_t id;
	int sent = 0;

	(void)state;
	id = queue_level2();
	snprintf(sql, sizeof(sql),
	         "UPDATE outbox SET level = 4 WHERE id = %lld", (long long)id);
	edit(sql);
	assert_int_not_equal(qm_client_outbox_retry(g_c, id, &sent, &e), QM_OK);
	assert_int_equal(sent, 0);
	outbox_get(id, &o);
	assert_int_equal(o.state, QM_OUTBOX_FAILED);
	assert_false(o.has_ciphertext);
	assert_int_equal(o.n_keys, 0);
	assert_non_null(o.reason);
	assert_non_null(strstr(o.reason, "changed on disk"));
	qm_store_outbox_item_free(&o);
}

/* An entry queued without the record (as a QMail of schema 4 wrote it)
 * goes as before: its MIME is parsed for the values to bind. */
static void test_entry_without_record(void **state)
{
	const char *to[] = {"bob@example.org"};
	struct qm_mail_hdrs *h = NULL;
	struct qm_mail_compose m;
	struct qm_store_outbox o;
	struct qm_buf mime;
	struct qm_error e;
	int64_t id;
	int sent = 0;

	(void)state;
	qm_buf_init_secure(&mime, 1 << 20);
	assert_int_equal(qm_mail_hdrs_make("alice@example.org", to, 1, NULL, 0,
	                                   qm_now(), &h, &e),
	                 QM_OK);
	memset(&m, 0, sizeof(m));
	m.hdrs = h;
	m.subject = "old";
	m.text = "queued by an older QMail";
	assert_int_equal(qm_mail_inner_build(&m, &mime, &e), QM_OK);
	assert_int_equal(qm_store_outbox_add(qm_client_store(g_c), g_acct,
	                                     h->message_id, "bob@example.org",
	                                     4, mime.data, mime.len, &id, &e),
	                 QM_OK);
	/* encrypted, then the send fails (nobody listens): it waits */
	assert_int_not_equal(qm_client_outbox_retry(g_c, id, &sent, &e), QM_OK);
	outbox_get(id, &o);
	assert_int_equal(o.state, QM_OUTBOX_RETRYING);
	assert_true(o.has_ciphertext);
	assert_non_null(memmem(ct_of(o.id), o.ciphertext_len,
	                       "X-QKD-Security-Level: 4", 23));
	assert_non_null(memmem(ct_of(o.id), o.ciphertext_len, h->message_id,
	                       strlen(h->message_id)));
	qm_store_outbox_item_free(&o);
	qm_mail_hdrs_free(&h);
	qm_buf_free(&mime);
}

/* Two slots of QKD keys: each slot its keys, every key ID in order; the
 * crypto parameters for sealing and opening point at them. */
static void test_msg_keys_slots(void **state)
{
	const char *j1 =
	    "{\"keys\":[{\"key_ID\":\"k1\",\"key\":\"AAAAAAAAAAAAAAAAAAAAA"
	    "AAAAAAAAAAAAAAAAAAAAAA=\"},{\"key_ID\":\"k2\",\"key\":\"AQEBAQE"
	    "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\"}]}";
	const char *j2 = "{\"keys\":[{\"key_ID\":\"k3\",\"key\":\"AgICAgICAgIC"
	                 "AgICAgICAgICAgICAgICAgICAgICAgI=\"}]}";
	struct qm_kms_keys *ks = NULL;
	struct qm_seal_params sp;
	struct qm_open_params op;
	struct qm_bound b;
	struct msg_keys mk;
	struct qm_error e;

	(void)state;
	memset(&b, 0, sizeof(b));
	client_msg_keys_init(&mk, 1, "SAE_A");
	assert_true(client_msg_keys_qkd(&mk));
	assert_string_equal(mk.sae, "SAE_A");
	assert_int_equal(qm_kms_keys_parse(j1, strlen(j1), 32, &ks, &e), QM_OK);
	assert_int_equal(client_msg_keys_take(&mk, "SAE_B", &ks, &e), QM_OK);
	assert_null(ks);
	assert_int_equal(qm_kms_keys_parse(j2, strlen(j2), 32, &ks, &e), QM_OK);
	assert_int_equal(client_msg_keys_take(&mk, "SAE_C", &ks, &e), QM_OK);
	assert_int_equal(mk.n, 2);
	assert_int_equal(mk.nids, 3);
	assert_string_equal(mk.ids[0], "k1");
	assert_string_equal(mk.ids[1], "k2");
	assert_string_equal(mk.ids[2], "k3");
	client_msg_keys_seal_params(&mk, &b, &sp);
	assert_int_equal(sp.level, 1);
	assert_ptr_equal(sp.bound, &b);
	assert_int_equal(sp.nslots, 2);
	assert_string_equal(sp.slots[1].rcpt, "SAE_C");
	assert_int_equal(sp.slots[0].nkeys, 2);
	assert_int_equal(sp.slots[0].keys[1].len, 32);
	assert_int_equal(sp.slots[0].keys[1].key[0], 1);
	assert_null(sp.sender);
	client_msg_keys_open_params(&mk, &b, 7, &op);
	assert_int_equal(op.slot, 7);
	assert_int_equal(op.nkeys, 2);
	assert_string_equal(op.keys[0].key_id, "k1");
	assert_null(op.self);
	client_msg_keys_free(&mk);
	assert_int_equal(mk.n, 0);

	/* levels 3 and 4 bind no sender SAE and use identities */
	client_msg_keys_init(&mk, 3, "SAE_A");
	assert_false(client_msg_keys_qkd(&mk));
	assert_null(mk.sae);
	assert_int_equal(client_msg_keys_self(
	                     g_c, &(struct acct_conn){.a.id = g_acct}, &mk, &e),
	                 QM_OK);
	assert_int_equal(
	    client_msg_keys_peer(g_c, "Bob <BOB@example.org>", &mk, &e), QM_OK);
	assert_int_equal(
	    client_msg_keys_peer(g_c, "nobody@example.org", &mk, &e),
	    QM_ERR_NOTFOUND);
	client_msg_keys_seal_params(&mk, &b, &sp);
	assert_int_equal(sp.nrcpts, 1);
	assert_ptr_equal(sp.sender, mk.self);
	assert_null(sp.slots);
	client_msg_keys_open_params(&mk, &b, 0, &op);
	assert_ptr_equal(op.sender, mk.peer[0]);
	client_msg_keys_free(&mk);
}

/* ------------------------------------------------------------ plain mail */

/* The attachment send_to adds (NULL: none). */
static const struct qm_client_attachment *g_att;

/* Sends "hello plain" from alice to rcpts (To) with allow_plain at level,
 * with g_att when set. */
static enum qm_err send_to(const char *const *rcpts, size_t n, int level,
                           int allow_plain, struct qm_client_sent *out,
                           struct qm_error *e)
{
	struct qm_client_compose m;

	memset(&m, 0, sizeof(m));
	m.att = g_att;
	m.natt = g_att ? 1 : 0;
	m.account_id = g_acct;
	m.to = rcpts;
	m.nto = n;
	m.subject = "plain or not";
	m.text = "hello plain";
	m.level = level;
	m.allow_plain = allow_plain;
	qm_error_clear(e);
	return qm_client_send(g_c, &m, NULL, NULL, out, e);
}

static size_t outbox_count(void)
{
	struct qm_client_outbox_item *items = NULL;
	struct qm_error e;
	size_t n = 0;

	assert_int_equal(qm_client_outbox_list(g_c, g_acct, &items, &n, &e),
	                 QM_OK);
	qm_client_outbox_items_free(&items, n);
	return n;
}

/* Carol has no key and no SAE ID: without the choice for the message,
 * nothing is queued and the refusal names her, with the plain hint. */
static void test_plain_needs_choice(void **state)
{
	const char *to[] = {"bob@example.org", "Carol <carol@example.org>"};
	struct qm_client_sent out;
	struct qm_client_plain pl;
	struct qm_client_compose m;
	struct qm_error e;

	(void)state;
	assert_int_equal(send_to(to, 2, 4, 0, &out, &e), QM_ERR_UNAVAIL);
	assert_int_equal(e.hint, QM_HINT_PLAIN);
	assert_string_equal(e.hint_arg, "carol@example.org");
	assert_non_null(strstr(e.msg, "carol@example.org cannot get an "
	                              "encrypted message"));
	assert_int_equal(out.n_outbox, 0);
	assert_int_equal(outbox_count(), 0);
	/* the interfaces learn the same before sending */
	memset(&m, 0, sizeof(m));
	m.account_id = g_acct;
	m.to = to;
	m.nto = 2;
	assert_int_equal(qm_client_plain_msg(g_c, &m, &pl, &e), QM_OK);
	assert_int_equal(pl.n, 1);
	assert_false(pl.all);
	assert_true(pl.allowed);
	assert_false(pl.invite);
	assert_string_equal(pl.rcpts, "carol@example.org");
	/* bob alone: nobody would get plain */
	m.nto = 1;
	assert_int_equal(qm_client_plain_msg(g_c, &m, &pl, &e), QM_OK);
	assert_int_equal(pl.n, 0);
}

/* A floor (the setting min_level, or the contact's minimum level) makes
 * encryption required: the choice for the message does not pass it. */
static void test_plain_never_below_floor(void **state)
{
	const char *to[] = {"carol@example.org"};
	const char *to2[] = {"dora@example.org"};
	struct qm_store_contact ct;
	struct qm_client_sent out;
	struct qm_client_plain pl;
	struct qm_client_compose m;
	struct qm_error e;

	(void)state;
	assert_int_equal(
	    qm_client_level_setting_set(g_c, QM_CLIENT_SET_MIN_LEVEL, "4", &e),
	    QM_OK);
	assert_int_equal(send_to(to, 1, 4, 1, &out, &e), QM_ERR_UNAVAIL);
	assert_int_not_equal(e.hint, QM_HINT_PLAIN);
	assert_non_null(strstr(e.msg, "min_level"));
	assert_int_equal(outbox_count(), 0);
	memset(&m, 0, sizeof(m));
	m.account_id = g_acct;
	m.to = to;
	m.nto = 1;
	assert_int_equal(qm_client_plain_msg(g_c, &m, &pl, &e), QM_OK);
	assert_int_equal(pl.n, 1);
	assert_true(pl.all);
	assert_false(pl.allowed);
	assert_non_null(strstr(pl.reason, "min_level"));
	assert_int_equal(qm_client_level_setting_set(
	                     g_c, QM_CLIENT_SET_MIN_LEVEL, "none", &e),
	                 QM_OK);

	/* a contact without SAE ID whose minimum level is set */
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "dora@example.org", sizeof(ct.address));
	ct.min_level = 4;
	ct.source = QM_CONTACT_USER;
	assert_int_equal(
	    qm_store_contact_put(qm_client_store(g_c), g_acct, &ct, &e), QM_OK);
	assert_int_equal(send_to(to2, 1, 4, 1, &out, &e), QM_ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "dora@example.org"));
	assert_non_null(strstr(e.msg, "weakest allowed"));
	assert_int_equal(outbox_count(), 0);
}

/*
 * Bob (QMail) and carol (no QMail) in one message: two entries, bob's
 * encrypted at level 4, carol's plain (level 0); neither holds the other's
 * form, and each goes to its own recipients alone.
 */
static void test_plain_mixed_copies(void **state)
{
	const char *to[] = {"bob@example.org", "carol@example.org"};
	static unsigned char bin[256];
	const struct qm_client_attachment att = {
	    "bytes.bin", "application/octet-stream", bin, sizeof(bin), NULL};
	struct qm_client_sent out;
	struct qm_store_outbox o;
	struct qm_error e;
	int sent = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)i;
	/* bob's copy is encrypted and fails at SMTP (nobody listens) */
	g_att = &att;
	assert_int_not_equal(send_to(to, 2, 4, 1, &out, &e), QM_OK);
	g_att = NULL;
	assert_int_equal(out.n_outbox, 2);
	assert_int_equal(out.level, 4);
	assert_int_equal(out.n_plain, 1);
	assert_string_equal(out.plain, "carol@example.org");
	outbox_get(out.outbox_ids[0], &o);
	assert_int_equal(o.level, 4);
	assert_string_equal(o.recipients, "bob@example.org");
	assert_true(o.has_ciphertext);
	assert_non_null(memmem(ct_of(o.id), o.ciphertext_len,
	                       "X-QKD-Security-Level: 4", 23));
	assert_null(memmem(ct_of(o.id), o.ciphertext_len, "hello plain", 11));
	qm_store_outbox_item_free(&o);
	outbox_get(out.outbox_ids[1], &o);
	assert_int_equal(o.level, 0);
	assert_int_equal(o.state, QM_OUTBOX_PENDING);
	assert_string_equal(o.recipients, "carol@example.org");
	qm_store_outbox_item_free(&o);
	/* the plain one, on its own: the message itself, no QMail part */
	assert_int_not_equal(
	    qm_client_outbox_retry(g_c, out.outbox_ids[1], &sent, &e), QM_OK);
	outbox_get(out.outbox_ids[1], &o);
	assert_int_equal(o.state, QM_OUTBOX_RETRYING);
	assert_true(o.has_ciphertext);
	assert_non_null(
	    memmem(ct_of(o.id), o.ciphertext_len, "hello plain", 11));
	assert_null(memmem(ct_of(o.id), o.ciphertext_len, "X-QKD", 5));
	assert_null(memmem(ct_of(o.id), o.ciphertext_len, "QMAIL", 5));
	/* To names both, as in any mail; the plain note is not added */
	assert_non_null(
	    memmem(ct_of(o.id), o.ciphertext_len, "bob@example.org", 15));
	assert_null(memmem(ct_of(o.id), o.ciphertext_len, "QMail is", 8));
	/* its file in base64, as SMTP and every mail program expect (the
	 * encrypted copy carries it binary, inside the encryption) */
	assert_non_null(memmem(ct_of(o.id), o.ciphertext_len,
	                       "Content-Transfer-Encoding: base64", 33));
	assert_null(memmem(ct_of(o.id), o.ciphertext_len,
	                   "Content-Transfer-Encoding: binary", 33));
	assert_null(memmem(ct_of(o.id), o.ciphertext_len, bin + 1, 16));
	qm_store_outbox_item_free(&o);
}

/* The setting plain_invite adds the note to the plain copy only. */
static void test_plain_invite_note(void **state)
{
	const char *to[] = {"bob@example.org", "carol@example.org"};
	struct qm_client_sent out;
	struct qm_store_outbox o;
	struct qm_error e;
	int sent = 0;

	(void)state;
	assert_int_equal(qm_client_setting_set(
	                     g_c, g_acct, QM_CLIENT_SET_PLAIN_INVITE, "1", &e),
	                 QM_OK);
	assert_int_not_equal(send_to(to, 2, 4, 1, &out, &e), QM_OK);
	assert_int_equal(out.n_outbox, 2);
	assert_int_not_equal(
	    qm_client_outbox_retry(g_c, out.outbox_ids[1], &sent, &e), QM_OK);
	outbox_get(out.outbox_ids[1], &o);
	assert_non_null(memmem(ct_of(o.id), o.ciphertext_len, "QMail is", 8));
	assert_non_null(
	    memmem(ct_of(o.id), o.ciphertext_len, "hello plain", 11));
	qm_store_outbox_item_free(&o);
}

/* Queues bob (level 4, fails at SMTP) and carol (plain, left PENDING);
 * returns carol's entry, *enc bob's. */
static int64_t queue_mixed(int64_t *enc)
{
	const char *to[] = {"bob@example.org", "carol@example.org"};
	struct qm_client_sent out;
	struct qm_error e;

	assert_int_not_equal(send_to(to, 2, 4, 1, &out, &e), QM_OK);
	assert_int_equal(out.n_outbox, 2);
	if (enc)
		*enc = out.outbox_ids[0];
	return out.outbox_ids[1];
}

/* Fails entry id's retry and checks it failed for good with why, never
 * sent plain. */
static void assert_refused(int64_t id, const char *why)
{
	struct qm_store_outbox o;
	struct qm_error e;
	int sent = 0;

	assert_int_not_equal(qm_client_outbox_retry(g_c, id, &sent, &e), QM_OK);
	assert_int_equal(sent, 0);
	outbox_get(id, &o);
	assert_int_equal(o.state, QM_OUTBOX_FAILED);
	assert_false(o.has_ciphertext);
	assert_non_null(o.reason);
	if (!strstr(o.reason, why))
		fail_msg("reason \"%s\" does not say \"%s\"", o.reason, why);
	qm_store_outbox_item_free(&o);
}

/*
 * Someone who can write the database but not the vault: adds a recipient
 * to a plain entry, or lowers an encrypted one to level 0, or raises a
 * plain one to a level: each entry fails with the reason, nothing goes
 * out plain that was not written plain for those recipients.
 */
static void test_plain_changed_on_disk(void **state)
{
	char sql[192];
	int64_t enc = 0, id;

	(void)state;
	id = queue_mixed(&enc);
	snprintf(sql, sizeof(sql),
	         "UPDATE outbox SET recipients = 'carol@example.org, "
	         "eve@example.net' WHERE id = %lld",
	         (long long)id);
	edit(sql);
	assert_refused(id, "recipients were changed on disk");

	id = queue_mixed(&enc);
	snprintf(sql, sizeof(sql),
	         "UPDATE outbox SET recipients = 'eve@example.net' WHERE id = "
	         "%lld",
	         (long long)id);
	edit(sql);
	assert_refused(id, "recipients were changed on disk");

	/* bob's entry, still pending, lowered to plain */
	id = queue_level2();
	snprintf(sql, sizeof(sql),
	         "UPDATE outbox SET level = 0 WHERE id = %lld", (long long)id);
	edit(sql);
	assert_refused(id, "changed on disk");

	/* carol's, raised to level 4 */
	id = queue_mixed(NULL);
	snprintf(sql, sizeof(sql),
	         "UPDATE outbox SET level = 4 WHERE id = %lld", (long long)id);
	edit(sql);
	assert_refused(id, "changed on disk");
}

/* A plain entry without the sealed record (none is written without one)
 * never goes; one whose recipient got a key meanwhile neither. */
static void test_plain_entry_checks(void **state)
{
	const char *to[] = {"carol@example.org"};
	struct qm_mail_hdrs *h = NULL;
	struct qm_mail_compose m;
	struct qm_buf mime;
	struct qm_error e;
	int64_t id;

	(void)state;
	qm_buf_init_secure(&mime, 1 << 20);
	assert_int_equal(qm_mail_hdrs_make("alice@example.org", to, 1, NULL, 0,
	                                   qm_now(), &h, &e),
	                 QM_OK);
	memset(&m, 0, sizeof(m));
	m.hdrs = h;
	m.subject = "no record";
	m.text = "no record";
	assert_int_equal(qm_mail_inner_build(&m, &mime, &e), QM_OK);
	assert_int_equal(qm_store_outbox_add(qm_client_store(g_c), g_acct,
	                                     h->message_id, "carol@example.org",
	                                     0, mime.data, mime.len, &id, &e),
	                 QM_OK);
	assert_refused(id, "changed on disk");
	qm_mail_hdrs_free(&h);
	qm_buf_free(&mime);

	/* carol's key is learned before her plain copy went */
	id = queue_mixed(NULL);
	{
		struct qm_store_contact ct;

		memset(&ct, 0, sizeof(ct));
		qm_strlcpy(ct.address, "carol@example.org", sizeof(ct.address));
		qm_strlcpy(ct.sae_id, "SAE_C", sizeof(ct.sae_id));
		ct.source = QM_CONTACT_LEARNED;
		assert_int_equal(
		    qm_store_contact_put(qm_client_store(g_c), g_acct, &ct, &e),
		    QM_OK);
	}
	assert_refused(id, "can now get an encrypted message");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outbox_rec),
	    cmocka_unit_test(test_bound_values_round_trip),
	    cmocka_unit_test_setup_teardown(test_level_changed_on_disk, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_entry_without_record, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_msg_keys_slots, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plain_needs_choice, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plain_never_below_floor, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plain_mixed_copies, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plain_invite_note, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plain_changed_on_disk, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_plain_entry_checks, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
