/* SPDX-License-Identifier: MIT */
/*
 * What the receiver shows is what it checked (issue 12, items 1, 3, 4 and
 * the Message-ID bullet of 7), in the real world (world.h: OpenSMTPD,
 * Dovecot, three qkme KMEs, alice, bob and carol). Hostile messages are
 * built by hand with the crypto and mail layers (craft.h) and handed to
 * the real MTA:
 *   - sender binding: carol, a user of the same QKD network with an SAE
 *     of her own, sends bob a level-2 message "From: alice"; a stranger's
 *     SAE with an unknown From; neither may show as verified, and neither
 *     teaches bob an SAE ID over a confirmed one;
 *   - the inner message's From/To/Cc must agree with the authenticated
 *     outer ones (else tampered), and the reader shows the authenticated
 *     values (Bcc copies of every level still verify);
 *   - the signer's key trust (verified, unverified, changed) in the view,
 *     the CLI and the web API;
 *   - a plain message that took a Message-ID first does not make the
 *     QMail message with it a replay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "craft.h"
#include "harness.h"
#include "webclient.h"
#include "qmtest.h"
#include "web/web.h"
#include "world.h"

static struct world W;

/* Messages the web API check looks at again. */
static int64_t id_forged, id_signed_dave, id_bound, id_inner_from;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "recv-trust", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

static void sync_user(int u, struct qm_client_sync_stats *st)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_sync(W.c[u], W.acct[u], NULL, NULL, st, &e));
}

/* Builds and delivers m to user u, then u syncs into *st. */
static void deliver_sync(const struct craft_msg *m, int u, char *mid,
                         struct qm_client_sync_stats *st)
{
	struct qm_buf wire;

	qm_buf_init(&wire, 8 << 20);
	assert_int_equal(craft_build(m, &wire, mid), 0);
	assert_int_equal(craft_deliver(&W, u, wire.data, wire.len), 0);
	qm_buf_free(&wire);
	sync_user(u, st);
}

/* One level-2 key that user from's KME makes for user to. */
static void l2_key(int from, int to, struct qm_kms_keys **ks,
                   struct qm_qkey *qk)
{
	struct qm_kms *kms = NULL;
	struct qm_error e;

	qm_error_clear(&e);
	assert_int_equal(craft_kms(&W, from, &kms), 0);
	assert_ok(qm_kms_keys_get(kms, W.sae[to], 1, QM_L2_KEYBYTES * 8, NULL,
	                          0, ks, &e));
	qm_kms_free(&kms);
	qk->key_id = qm_kms_keys_id(*ks, 0);
	qk->key = qm_kms_keys_key(*ks, 0, &qk->len);
}

static struct qm_client_view *read_msg(int u, int64_t id)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_read(W.c[u], id, &v, &e));
	return v;
}

static void put_contact(int u, const char *address, const char *sae)
{
	struct qm_store_contact ct;
	struct qm_error e;

	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, address, sizeof(ct.address));
	qm_strlcpy(ct.sae_id, sae, sizeof(ct.sae_id));
	ct.source = QM_CONTACT_USER;
	ct.confirmed = 1;
	qm_error_clear(&e);
	assert_ok(
	    qm_store_contact_put(qm_client_store(W.c[u]), W.acct[u], &ct, &e));
}

/*
 * Item 1: carol's SAE sends bob "From: alice" at level 2. The KME hands
 * bob the key (carol made it for him), the envelope opens, and yet the
 * message must not count as alice's.
 */
static void test_sender_binding(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qm_store_contact ct;
	struct qm_kms_keys *ks = NULL;
	struct qm_qkey qk;
	struct craft_msg m;
	struct qm_error e;
	const char *stranger = "dave@qmail.test";

	(void)state;
	if (W.skipped)
		skip();
	l2_key(W_CAROL, W_BOB, &ks, &qk);
	memset(&m, 0, sizeof(m));
	m.level = 2;
	m.from = "Alice <alice@qmail.test>";
	m.to = qmt_mail_addr(W_BOB);
	m.subject = "forged: pay the invoice";
	m.text = "This is alice. Really.\n";
	m.sender_sae = W.sae[W_CAROL];
	m.rcpt_sae = W.sae[W_BOB];
	m.keys = &qk;
	m.nkeys = 1;
	deliver_sync(&m, W_BOB, NULL, &st);
	qm_kms_keys_free(&ks);
	printf("  From alice via carol's SAE: decrypted %zu, unverified %zu\n",
	       st.decrypted, st.unverified);
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(st.unverified, 1);
	id_forged = world_last_id(&W, W_BOB);
	v = read_msg(W_BOB, id_forged);
	printf("  status: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	assert_non_null(strstr(v->status_text, W.sae[W_CAROL]));
	assert_non_null(strstr(v->status_text, qmt_mail_addr(W_CAROL)));
	assert_null(strstr(v->status_text, "decrypted and verified"));
	assert_string_equal(v->sender_sae, W.sae[W_CAROL]);
	assert_string_equal(v->sender_owner, qmt_mail_addr(W_CAROL));
	/* readable: the content is there, with the plain status */
	assert_non_null(strstr(v->text, "Really"));
	qm_client_view_free(&v);
	/* alice's confirmed SAE ID is untouched */
	qm_error_clear(&e);
	assert_ok(qm_store_contact_get(qm_client_store(W.c[W_BOB]),
	                               W.acct[W_BOB], qmt_mail_addr(W_ALICE),
	                               &ct, &e));
	assert_string_equal(ct.sae_id, W.sae[W_ALICE]);
	assert_int_equal(ct.confirmed, 1);
	assert_int_equal(ct.source, QM_CONTACT_USER);

	/* an SAE bob knows for nobody, with a From nobody knows */
	put_contact(W_BOB, qmt_mail_addr(W_CAROL), "SAE_NOT_CAROL");
	l2_key(W_CAROL, W_BOB, &ks, &qk);
	m.from = stranger;
	m.subject = "from a stranger";
	m.keys = &qk;
	deliver_sync(&m, W_BOB, NULL, &st);
	qm_kms_keys_free(&ks);
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(st.unverified, 1);
	v = read_msg(W_BOB, world_last_id(&W, W_BOB));
	printf("  status: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	assert_non_null(strstr(v->status_text, W.sae[W_CAROL]));
	assert_string_equal(v->sender_owner, "");
	qm_client_view_free(&v);
	/* learned for the stranger, but only as a suggestion */
	assert_ok(qm_store_contact_get(qm_client_store(W.c[W_BOB]),
	                               W.acct[W_BOB], stranger, &ct, &e));
	assert_string_equal(ct.sae_id, W.sae[W_CAROL]);
	assert_int_equal(ct.confirmed, 0);
	assert_int_equal(ct.source, QM_CONTACT_LEARNED);
	/* the learned SAE ID does not make the next one verified */
	l2_key(W_CAROL, W_BOB, &ks, &qk);
	m.subject = "from the stranger again";
	m.keys = &qk;
	deliver_sync(&m, W_BOB, NULL, &st);
	qm_kms_keys_free(&ks);
	assert_int_equal(st.unverified, 1);
	put_contact(W_BOB, qmt_mail_addr(W_CAROL), W.sae[W_CAROL]);

	/* carol as herself, and alice through the engine: verified */
	l2_key(W_CAROL, W_BOB, &ks, &qk);
	m.from = "Carol <carol@qmail.test>";
	m.subject = "carol as herself";
	m.keys = &qk;
	deliver_sync(&m, W_BOB, NULL, &st);
	qm_kms_keys_free(&ks);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.unverified, 0);
	v = read_msg(W_BOB, world_last_id(&W, W_BOB));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_string_equal(v->sender_owner, qmt_mail_addr(W_CAROL));
	qm_client_view_free(&v);
	{
		const char *to[] = {qmt_mail_addr(W_BOB)};
		struct qm_client_compose c;
		struct qm_client_sent sent;
		int have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);

		memset(&c, 0, sizeof(c));
		c.account_id = W.acct[W_ALICE];
		c.to = to;
		c.nto = 1;
		c.subject = "really alice";
		c.text = "hello\n";
		c.level = 2;
		qm_error_clear(&e);
		assert_ok(
		    qm_client_send(W.c[W_ALICE], &c, NULL, NULL, &sent, &e));
		assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1,
		                                30000) > have);
		sync_user(W_BOB, &st);
		assert_int_equal(st.decrypted, 1);
		v = read_msg(W_BOB, world_last_id(&W, W_BOB));
		assert_int_equal(v->verify, QM_VERIFY_OK);
		assert_string_equal(v->sender_owner, qmt_mail_addr(W_ALICE));
		qm_client_view_free(&v);
	}
}

/*
 * Item 3: alice, whose key bob verified, signs a level-3 message whose
 * inner From (or Cc) differs from the bound one: tampered, no content.
 * Differences the sender cannot use to mislead (display name, Date,
 * Message-ID of the copies) are shown as bound.
 */
static void test_shown_is_bound(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qm_identity *ida = NULL;
	struct qm_pubid *pb = NULL;
	struct craft_msg m;
	char mid[256];

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(craft_identity(&W, W_ALICE, &ida), 0);
	assert_int_equal(craft_pubid(&W, W_ALICE, qmt_mail_addr(W_BOB), &pb),
	                 0);
	memset(&m, 0, sizeof(m));
	m.level = 3;
	m.from = "Alice <alice@qmail.test>";
	m.to = qmt_mail_addr(W_BOB);
	m.sender = ida;
	m.rcpt = pb;

	m.inner_from = "Carol <carol@qmail.test>";
	m.subject = "the inner From is carol";
	m.text = "INNER-FROM-MARKER\n";
	deliver_sync(&m, W_BOB, NULL, &st);
	assert_int_equal(st.tampered, 1);
	assert_int_equal(st.decrypted, 0);
	id_inner_from = world_last_id(&W, W_BOB);
	v = read_msg(W_BOB, id_inner_from);
	printf("  inner From differs: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_TAMPERED);
	assert_null(strstr(v->text, "INNER-FROM-MARKER"));
	assert_null(strstr(v->subject, "carol"));
	/* a tampered message names no sender (issue 16) */
	assert_string_equal(v->from_name, "");
	qm_client_view_free(&v);

	m.inner_from = NULL;
	m.inner_cc = "Carol <carol@qmail.test>";
	m.subject = "the inner Cc adds carol";
	deliver_sync(&m, W_BOB, NULL, &st);
	assert_int_equal(st.tampered, 1);
	v = read_msg(W_BOB, world_last_id(&W, W_BOB));
	assert_int_equal(v->verify, QM_VERIFY_TAMPERED);
	qm_client_view_free(&v);

	m.inner_cc = NULL;
	m.inner_to = "Robert <BOB@qmail.test>";
	m.inner_from = "Alicia Example <ALICE@qmail.test>";
	m.inner_date = "Thu, 01 Jan 2015 00:00:00 +0000";
	m.inner_mid = "<inner-copy@qmail.test>";
	m.subject = "copies differ in what is not an address";
	m.text = "BOUND-MARKER\n";
	deliver_sync(&m, W_BOB, mid, &st);
	assert_int_equal(st.decrypted, 1);
	id_bound = world_last_id(&W, W_BOB);
	v = read_msg(W_BOB, id_bound);
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_true(v->bound);
	assert_non_null(strstr(v->text, "BOUND-MARKER"));
	printf("  shown: From %s, To %s, Date %s, Message-ID %s\n", v->from,
	       v->to, v->date, v->message_id);
	assert_null(strstr(v->from, "Alicia"));
	assert_non_null(strstr(v->from, "alice@qmail.test"));
	/* the sender's name is the protected (inner) From's, never the
	 * outer one's (issue 16), in the reader and in the list */
	assert_string_equal(v->from_name, "Alicia Example");
	{
		struct qm_store_msglist *l = NULL;
		struct qm_error e;
		char *name = NULL;

		qm_error_clear(&e);
		assert_ok(qm_client_msg_get(W.c[W_BOB], id_bound, &l, &e));
		assert_ok(
		    qm_client_sender_name(W.c[W_BOB], &l->items[0], &name, &e));
		assert_string_equal(name, "Alicia Example");
		free(name);
		qm_client_msglist_free(&l);
	}
	assert_null(strstr(v->to, "Robert"));
	assert_null(strstr(v->date, "2015"));
	assert_string_equal(v->message_id, mid);
	qm_client_view_free(&v);
	qm_crypto_identity_free(&ida);
	qm_crypto_pubid_free(&pb);

	/* legitimate Bcc copies verify, at every level */
	for (int level = 1; level <= 4; level++) {
		const char *to[] = {qmt_mail_addr(W_CAROL)};
		const char *bcc[] = {qmt_mail_addr(W_BOB)};
		struct qm_client_compose c;
		struct qm_client_sent sent;
		struct qm_error e;
		int have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);

		if (level == 1) {
			assert_int_equal(world_wait_pool(&W, W_ALICE, W_BOB,
			                                 64 * 1024, 120000),
			                 0);
			assert_int_equal(world_wait_pool(&W, W_ALICE, W_CAROL,
			                                 64 * 1024, 120000),
			                 0);
		}
		memset(&c, 0, sizeof(c));
		c.account_id = W.acct[W_ALICE];
		c.to = to;
		c.nto = 1;
		c.bcc = bcc;
		c.nbcc = 1;
		c.subject = "a Bcc copy";
		c.text = "BCC-MARKER\n";
		c.level = level;
		qm_error_clear(&e);
		assert_ok(
		    qm_client_send(W.c[W_ALICE], &c, NULL, NULL, &sent, &e));
		assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1,
		                                30000) > have);
		sync_user(W_BOB, &st);
		assert_int_equal(st.decrypted, 1);
		v = read_msg(W_BOB, world_last_id(&W, W_BOB));
		assert_int_equal(v->verify, QM_VERIFY_OK);
		assert_non_null(strstr(v->to, qmt_mail_addr(W_CAROL)));
		assert_null(strstr(v->to, qmt_mail_addr(W_BOB)));
		qm_client_view_free(&v);
		sync_user(W_CAROL, &st);
		assert_int_equal(st.decrypted, 1);
	}
}

/* The key of a fresh identity, imported into bob's keyring for address
 * (unverified, or changed when address has a key already). */
static void import_for(const struct qm_identity *id, const char *address,
                       char *fpr, enum qm_store_trust *trust)
{
	struct qm_pubid *p = NULL;
	struct qm_buf armour;
	struct qm_error e;

	qm_error_clear(&e);
	qm_buf_init(&armour, 1 << 20);
	assert_ok(qm_crypto_identity_public(id, &p, &e));
	assert_ok(qm_crypto_pubid_export(p, address, &armour, &e));
	assert_ok(qm_client_key_import(W.c[W_BOB], address,
	                               (const char *)armour.data, armour.len,
	                               fpr, trust, &e));
	qm_crypto_pubid_free(&p);
	qm_buf_free(&armour);
}

/*
 * Item 4: a level-3 message signed by a key bob has not verified shows
 * its fingerprint and "unverified" (the view, the CLI); verified later, it
 * shows verified; once the contact presents another key, "changed".
 */
static void test_signer_trust(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qm_identity *dave = NULL, *dave2 = NULL;
	struct qm_pubid *pb = NULL;
	struct craft_msg m;
	struct qm_error e;
	enum qm_store_trust t;
	char fpr[QM_STORE_FPRMAX], fpr2[QM_STORE_FPRMAX], idtext[32];
	const char *addr = "dave@qmail.test";
	char *out = NULL;
	int rc;

	(void)state;
	if (W.skipped)
		skip();
	qm_error_clear(&e);
	assert_ok(qm_crypto_identity_new(&dave, &e));
	import_for(dave, addr, fpr, &t);
	assert_int_equal(t, QM_TRUST_UNVERIFIED);
	assert_int_equal(craft_pubid(&W, W_ALICE, qmt_mail_addr(W_BOB), &pb),
	                 0);
	memset(&m, 0, sizeof(m));
	m.level = 3;
	m.from = "Dave <dave@qmail.test>";
	m.to = qmt_mail_addr(W_BOB);
	m.sender = dave;
	m.rcpt = pb;
	m.subject = "signed by dave";
	deliver_sync(&m, W_BOB, NULL, &st);
	assert_int_equal(st.decrypted, 1);
	id_signed_dave = world_last_id(&W, W_BOB);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id_signed_dave);

	v = read_msg(W_BOB, id_signed_dave);
	printf("  unverified key: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_string_equal(v->signer_fpr, fpr);
	assert_string_equal(v->signer_addr, addr);
	assert_int_equal(v->signer_trust, QM_SIGNER_UNVERIFIED);
	assert_non_null(strstr(v->status_text, "not verified"));
	qm_client_view_free(&v);
	rc = world_qmail(&W, W_BOB, &out, "read", idtext, NULL);
	printf("%s", out);
	assert_non_null(strstr(out, "Signed by:"));
	assert_non_null(strstr(out, fpr));
	assert_non_null(strstr(out, "NOT VERIFIED"));
	assert_int_equal(rc, 0);
	free(out);

	/* verified later: the same message shows verified */
	assert_ok(qm_client_key_verify(W.c[W_BOB], addr, fpr, &e));
	v = read_msg(W_BOB, id_signed_dave);
	printf("  verified since: %s\n", v->status_text);
	assert_int_equal(v->signer_trust, QM_SIGNER_VERIFIED);
	assert_null(strstr(v->status_text, "not verified"));
	qm_client_view_free(&v);
	rc = world_qmail(&W, W_BOB, &out, "read", idtext, NULL);
	assert_non_null(strstr(out, "Signed by:"));
	assert_null(strstr(out, "NOT VERIFIED"));
	assert_non_null(strstr(out, ", verified)"));
	free(out);

	/* dave presents another key: the message's key is no longer his */
	assert_ok(qm_crypto_identity_new(&dave2, &e));
	import_for(dave2, addr, fpr2, &t);
	assert_int_equal(t, QM_TRUST_CHANGED);
	v = read_msg(W_BOB, id_signed_dave);
	printf("  key changed since: %s\n", v->status_text);
	assert_int_equal(v->signer_trust, QM_SIGNER_CHANGED);
	assert_non_null(strstr(v->status_text, "changed"));
	qm_client_view_free(&v);
	rc = world_qmail(&W, W_BOB, &out, "read", idtext, NULL);
	assert_non_null(strstr(out, "CHANGED"));
	free(out);

	/* alice's key was verified from the start */
	{
		const char *to[] = {qmt_mail_addr(W_BOB)};
		struct qm_client_compose c;
		struct qm_client_sent sent;
		int have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);

		memset(&c, 0, sizeof(c));
		c.account_id = W.acct[W_ALICE];
		c.to = to;
		c.nto = 1;
		c.subject = "alice at level 4";
		c.text = "hello\n";
		c.level = 4;
		assert_ok(
		    qm_client_send(W.c[W_ALICE], &c, NULL, NULL, &sent, &e));
		assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1,
		                                30000) > have);
		sync_user(W_BOB, &st);
		v = read_msg(W_BOB, world_last_id(&W, W_BOB));
		assert_int_equal(v->verify, QM_VERIFY_OK);
		assert_int_equal(v->signer_trust, QM_SIGNER_VERIFIED);
		assert_string_equal(v->signer_addr, qmt_mail_addr(W_ALICE));
		qm_client_view_free(&v);
	}
	qm_crypto_identity_free(&dave);
	qm_crypto_identity_free(&dave2);
	qm_crypto_pubid_free(&pb);
}

/*
 * Item 7: a plain message took Message-ID X first; alice's QMail message
 * with X (level 3, then level 2 with Y) is opened and verified. A second,
 * different level-3 message with X is a replay; a byte-identical copy is a
 * duplicate.
 */
static void test_mid_taken_by_plain(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qm_identity *ida = NULL;
	struct qm_pubid *pb = NULL;
	struct qm_kms_keys *ks = NULL;
	struct qm_qkey qk;
	struct craft_msg m;
	struct qm_buf wire;
	const char *x = "<taken-first@qmail.test>";
	const char *y = "<taken-second@qmail.test>";

	(void)state;
	if (W.skipped)
		skip();
	qm_buf_init(&wire, 1 << 20);
	assert_int_equal(craft_plain("mallory@example.net",
	                             qmt_mail_addr(W_BOB), "first with X", x,
	                             &wire),
	                 0);
	assert_int_equal(craft_deliver(&W, W_BOB, wire.data, wire.len), 0);
	qm_buf_reset(&wire);
	assert_int_equal(craft_plain("mallory@example.net",
	                             qmt_mail_addr(W_BOB), "first with Y", y,
	                             &wire),
	                 0);
	assert_int_equal(craft_deliver(&W, W_BOB, wire.data, wire.len), 0);
	sync_user(W_BOB, &st);
	assert_int_equal(st.plain, 2);

	assert_int_equal(craft_identity(&W, W_ALICE, &ida), 0);
	assert_int_equal(craft_pubid(&W, W_ALICE, qmt_mail_addr(W_BOB), &pb),
	                 0);
	memset(&m, 0, sizeof(m));
	m.level = 3;
	m.from = "Alice <alice@qmail.test>";
	m.to = qmt_mail_addr(W_BOB);
	m.message_id = x;
	m.sender = ida;
	m.rcpt = pb;
	m.subject = "QMail with X";
	qm_buf_reset(&wire);
	assert_int_equal(craft_build(&m, &wire, NULL), 0);
	assert_int_equal(craft_deliver(&W, W_BOB, wire.data, wire.len), 0);
	sync_user(W_BOB, &st);
	printf("  level 3 with X: decrypted %zu, replayed %zu\n", st.decrypted,
	       st.replayed);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.decrypted, 1);
	v = read_msg(W_BOB, world_last_id(&W, W_BOB));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	qm_client_view_free(&v);

	/* the same bytes again: a duplicate, nothing new */
	assert_int_equal(craft_deliver(&W, W_BOB, wire.data, wire.len), 0);
	sync_user(W_BOB, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.replayed, 0);

	/* another level-3 message with X after the QMail one: a replay */
	m.subject = "QMail with X again";
	deliver_sync(&m, W_BOB, NULL, &st);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(st.decrypted, 0);

	/* level 2 with Y */
	l2_key(W_ALICE, W_BOB, &ks, &qk);
	memset(&m, 0, sizeof(m));
	m.level = 2;
	m.from = "Alice <alice@qmail.test>";
	m.to = qmt_mail_addr(W_BOB);
	m.message_id = y;
	m.sender_sae = W.sae[W_ALICE];
	m.rcpt_sae = W.sae[W_BOB];
	m.keys = &qk;
	m.nkeys = 1;
	m.subject = "QMail with Y";
	deliver_sync(&m, W_BOB, NULL, &st);
	qm_kms_keys_free(&ks);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.decrypted, 1);
	qm_buf_free(&wire);
	qm_crypto_identity_free(&ida);
	qm_crypto_pubid_free(&pb);
}

/* ------------------------------------------------------ the CLI and API */

/*
 * The same statuses through `qmail list`/`read` and the web API's message
 * JSON (status, badge, signer), on the messages the tests above filed.
 */
static void test_cli_and_api(void **state)
{
	struct qm_web_server *s = NULL;
	struct qm_web_config wc;
	struct qm_error e;
	struct qmt_resp r;
	struct qmt_web wb;
	char path[128], idtext[32];
	char *out = NULL;
	int rc;

	(void)state;
	if (W.skipped)
		skip();
	assert_true(id_forged > 0 && id_signed_dave > 0 && id_bound > 0 &&
	            id_inner_from > 0);
	/* the CLI */
	rc = world_qmail(&W, W_BOB, &out, "list", "--limit", "1000", NULL);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "UNVERIFIED"));
	free(out);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id_forged);
	rc = world_qmail(&W, W_BOB, &out, "read", idtext, NULL);
	printf("%s", out);
	assert_non_null(strstr(out, "UNVERIFIED SENDER"));
	assert_non_null(strstr(out, W.sae[W_CAROL]));
	assert_non_null(strstr(out, "Really"));
	assert_int_equal(rc, 5);
	free(out);

	/* the web API of bob's GUI (its own client from now on) */
	memset(&wc, 0, sizeof(wc));
	qm_error_clear(&e);
	assert_ok(qm_store_setting_set(qm_client_store(W.c[W_BOB]), 0,
	                               "background_sync_s", "0", &e));
	assert_ok(qm_web_server_start(&wc, W.c[W_BOB], &s, &e));
	qmt_web_init(&wb, qm_web_server_port(s));
	assert_int_equal(qmt_web_unlock(&wb, WORLD_PASS), 200);
	assert_true(wb.cookie[0] && wb.csrf[0]);

	snprintf(path, sizeof(path), "/api/messages/%lld",
	         (long long)id_forged);
	assert_int_equal(qmt_web_req(&wb, "GET", path, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	printf("  API: %s\n", r.body);
	assert_string_equal(qmt_json_str(r.json, "details", "status"),
	                    "unverified_sender");
	assert_string_equal(qmt_json_str(r.json, "security", "badge"),
	                    "unverified");
	assert_string_equal(qmt_json_str(r.json, "details", "sender_owner"),
	                    qmt_mail_addr(W_CAROL));
	qmt_resp_free(&r);

	snprintf(path, sizeof(path), "/api/messages/%lld",
	         (long long)id_signed_dave);
	assert_int_equal(qmt_web_req(&wb, "GET", path, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	{
		json_t *sg = json_object_get(json_object_get(r.json, "details"),
		                             "signer");
		assert_non_null(sg);
		assert_string_equal(qmt_json_str(sg, "trust", NULL), "changed");
		assert_true(strlen(qmt_json_str(sg, "fingerprint", NULL)) > 20);
	}
	qmt_resp_free(&r);

	snprintf(path, sizeof(path), "/api/messages/%lld", (long long)id_bound);
	assert_int_equal(qmt_web_req(&wb, "GET", path, NULL, &r), 0);
	assert_int_equal(r.status, 200);
	{
		json_t *to = json_object_get(r.json, "to");
		json_t *from = json_object_get(r.json, "from");

		assert_int_equal(json_array_size(to), 1);
		assert_string_equal(
		    qmt_json_str(json_array_get(to, 0), "name", NULL), "");
		/* the name of the protected From, not the outer one's
		 * "Alice" (issue 16); the address the authenticated one */
		assert_string_equal(qmt_json_str(from, "name", NULL),
		                    "Alicia Example");
		assert_string_equal(qmt_json_str(from, "address", NULL),
		                    "alice@qmail.test");
		assert_string_equal(qmt_json_str(r.json, "details", "status"),
		                    "verified");
	}
	qmt_resp_free(&r);

	snprintf(path, sizeof(path), "/api/messages/%lld",
	         (long long)id_inner_from);
	assert_int_equal(qmt_web_req(&wb, "GET", path, NULL, &r), 0);
	assert_string_equal(qmt_json_str(r.json, "details", "status"),
	                    "tampered");
	assert_string_equal(qmt_json_str(r.json, "text", NULL), "");
	assert_string_equal(qmt_json_str(r.json, "from", "name"), "");
	qmt_resp_free(&r);

	/* the list: the bound message under its inner name */
	assert_int_equal(qmt_web_req(&wb, "GET",
	                             "/api/messages?folder=INBOX&limit=200",
	                             NULL, &r),
	                 0);
	assert_int_equal(r.status, 200);
	{
		json_t *msgs = json_object_get(r.json, "messages");
		int seen = 0;

		snprintf(idtext, sizeof(idtext), "%lld", (long long)id_bound);
		for (size_t i = 0; i < json_array_size(msgs); i++) {
			json_t *mj = json_array_get(msgs, i);

			if (strcmp(qmt_json_str(mj, "id", NULL), idtext))
				continue;
			assert_string_equal(qmt_json_str(mj, "from", "name"),
			                    "Alicia Example");
			seen = 1;
		}
		assert_true(seen);
	}
	qmt_resp_free(&r);
	qm_web_server_stop(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sender_binding),
	    cmocka_unit_test(test_shown_is_bound),
	    cmocka_unit_test(test_signer_trust),
	    cmocka_unit_test(test_mid_taken_by_plain),
	    cmocka_unit_test(test_cli_and_api),
	};

	if (qm_core_init(NULL) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
