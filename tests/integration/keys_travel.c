/* SPDX-License-Identifier: MIT */
/*
 * Keys that travel with mail (issue 15), in the real world (world.h:
 * OpenSMTPD, Dovecot, qkme) where nobody holds anybody's public key:
 *   - carol imported alice's key by hand and writes her at level 3; alice,
 *     who never saw carol's key, learns it from the message's
 *     QMail-Identity header and answers at level 3 with no import; both
 *     see "unverified" until they compare the safety number (the numbers
 *     both compute are equal, in the engine and the CLI) and mark it;
 *   - headers that must not teach anything: in a message that failed its
 *     checks, one whose key did not sign the message, one naming another
 *     address than From;
 *   - a hostile message with another key for carol makes it CHANGED (the
 *     verified key stays), shown loudly; level 3 to carol is refused until
 *     alice accepts the new key, which needs an explicit decision.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "craft.h"
#include "harness.h"
#include "qmtest.h"
#include "world.h"

static struct world W;
static char g_number[QM_SAFETY_TEXTLEN]; /* alice and carol's */

static int group_setup(void **state)
{
	(void)state;
	return world_setup_strangers(&W, "keys-travel");
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

static void sync_user(int u)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_sync(W.c[u], W.acct[u], NULL, NULL, &st, &e));
}

/* from sends to at level 3 (the message's subject is subject): the
 * engine's answer; on success it waits until the message was filed. */
static enum qm_err send_l3(int from, int to, const char *subject,
                           struct qm_client_sent *sent, struct qm_error *e)
{
	const char *rcpt[] = {qmt_mail_addr(to)};
	struct qm_client_compose c;
	int have = qmt_mail_files(&W.mail, to, NULL, NULL, 0);
	enum qm_err rc;

	memset(&c, 0, sizeof(c));
	c.account_id = W.acct[from];
	c.to = rcpt;
	c.nto = 1;
	c.subject = subject;
	c.text = "hello\n";
	c.level = 3;
	qm_error_clear(e);
	rc = qm_client_send(W.c[from], &c, NULL, NULL, sent, e);
	if (!rc)
		assert_true(qmt_mail_wait_files(&W.mail, to, NULL, have + 1,
		                                30000) > have);
	return rc;
}

static struct qm_client_view *read_last(int u)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_read(W.c[u], world_last_id(&W, u), &v, &e));
	return v;
}

/* The trust of each key holder's keyring has for address, newest first,
 * into t (at most 4); their count. */
static size_t keyring(int holder, const char *address, enum qm_store_trust *t,
                      char (*fpr)[QM_STORE_FPRMAX])
{
	struct qm_store_key *ks = NULL;
	struct qm_error e;
	size_t n = 0;

	qm_error_clear(&e);
	assert_ok(qm_client_key_list(W.c[holder], address, &ks, &n, &e));
	for (size_t i = 0; i < n && i < 4; i++) {
		t[i] = ks[i].trust;
		if (fpr) {
			struct qm_pubid *p = NULL;
			unsigned char raw[QM_FPR_BYTES];

			assert_ok(qm_crypto_pubid_from_bytes(
			    ks[i].pub, ks[i].pub_len, &p, &e));
			qm_crypto_pubid_fingerprint(p, raw);
			qm_crypto_fpr_text(raw, fpr[i]);
			qm_crypto_pubid_free(&p);
		}
	}
	qm_client_keys_free(&ks, n);
	return n;
}

static void test_first_contact(void **state)
{
	struct qm_client_sent sent;
	struct qm_client_view *v;
	struct qm_client_safety sa, sc;
	struct qm_buf armour;
	struct qm_error e;
	enum qm_store_trust t[4];
	char fpr[4][QM_STORE_FPRMAX], carol_fpr[QM_STORE_FPRMAX];
	const char *alice = qmt_mail_addr(W_ALICE);
	const char *carol = qmt_mail_addr(W_CAROL);
	char *out = NULL;
	int rc;

	(void)state;
	if (W.skipped)
		skip();
	qm_error_clear(&e);
	/* strangers: alice cannot write carol at level 3 */
	assert_int_equal(keyring(W_ALICE, carol, t, NULL), 0);
	assert_int_not_equal(send_l3(W_ALICE, W_CAROL, "too early", &sent, &e),
	                     QM_OK);
	printf("  before any message: %s\n", qm_error_msg(&e));

	/* carol imported alice's key by hand (the old way) */
	qm_buf_init(&armour, 1 << 20);
	assert_ok(
	    qm_client_key_export(W.c[W_ALICE], W.acct[W_ALICE], &armour, &e));
	assert_ok(qm_client_key_import(W.c[W_CAROL], NULL,
	                               (const char *)armour.data, armour.len,
	                               NULL, t, &e));
	assert_int_equal(t[0], QM_TRUST_UNVERIFIED);
	qm_buf_free(&armour);
	assert_ok(send_l3(W_CAROL, W_ALICE, "carol writes first", &sent, &e));
	assert_non_null(strstr(sent.warning, "not verified"));

	/* alice learns carol's key from the message */
	sync_user(W_ALICE);
	v = read_last(W_ALICE);
	printf("  alice reads: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_int_equal(v->level, 3);
	assert_string_equal(v->subject, "carol writes first");
	assert_int_equal(v->signer_trust, QM_SIGNER_UNVERIFIED);
	qm_client_view_free(&v);
	assert_ok(qm_client_key_own_fpr(W.c[W_CAROL], W.acct[W_CAROL],
	                                carol_fpr, &e));
	assert_int_equal(keyring(W_ALICE, carol, t, fpr), 1);
	assert_int_equal(t[0], QM_TRUST_UNVERIFIED);
	assert_string_equal(fpr[0], carol_fpr);

	/* and answers at level 3 without importing anything */
	assert_ok(send_l3(W_ALICE, W_CAROL, "alice answers", &sent, &e));
	assert_int_equal(sent.level, 3);
	assert_non_null(strstr(sent.warning, carol));
	sync_user(W_CAROL);
	v = read_last(W_CAROL);
	printf("  carol reads: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_string_equal(v->subject, "alice answers");
	assert_int_equal(v->signer_trust, QM_SIGNER_UNVERIFIED);
	qm_client_view_free(&v);

	/* one safety number, the same on both sides */
	assert_ok(qm_client_key_safety(W.c[W_ALICE], W.acct[W_ALICE], carol,
	                               &sa, &e));
	assert_ok(qm_client_key_safety(W.c[W_CAROL], W.acct[W_CAROL], alice,
	                               &sc, &e));
	printf("  safety number: %s\n", sa.number);
	assert_string_equal(sa.number, sc.number);
	assert_int_equal(sa.trust, QM_TRUST_UNVERIFIED);
	assert_int_equal(sc.trust, QM_TRUST_UNVERIFIED);
	qm_strlcpy(g_number, sa.number, sizeof(g_number));
	rc = world_qmail(&W, W_ALICE, &out, "keys", "safety", carol, NULL);
	printf("%s", out);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "unverified"));
	/* the CLI prints it in three rows of four groups */
	{
		char row[32];

		snprintf(row, sizeof(row), "%.23s", sa.number + 24);
		assert_non_null(strstr(out, row));
	}
	free(out);

	/* a wrong number verifies nothing */
	assert_int_equal(
	    qm_client_key_safety_verify(W.c[W_ALICE], W.acct[W_ALICE], carol,
	                                "12345 12345 12345 12345 12345 12345 "
	                                "12345 12345 12345 12345 12345 12345",
	                                0, &e),
	    QM_ERR_AUTH);
	keyring(W_ALICE, carol, t, NULL);
	assert_int_equal(t[0], QM_TRUST_UNVERIFIED);
	/* alice in the engine, carol with the CLI */
	assert_ok(qm_client_key_safety_verify(W.c[W_ALICE], W.acct[W_ALICE],
	                                      carol, sa.number, 0, &e));
	rc = world_qmail(&W, W_CAROL, &out, "keys", "verify", alice, sc.number,
	                 NULL);
	printf("%s", out);
	assert_int_equal(rc, 0);
	free(out);
	keyring(W_ALICE, carol, t, NULL);
	assert_int_equal(t[0], QM_TRUST_VERIFIED);
	keyring(W_CAROL, alice, t, NULL);
	assert_int_equal(t[0], QM_TRUST_VERIFIED);
	assert_ok(send_l3(W_ALICE, W_CAROL, "verified now", &sent, &e));
	assert_string_equal(sent.warning, "");
}

/* Builds m, puts an identity header for addr with key's public half at
 * its head, and hands it to user u's mailbox; u syncs. */
static void deliver_with_header(const struct craft_msg *m,
                                const struct qm_buf *plain,
                                const struct qm_identity *key, const char *addr,
                                int u)
{
	struct qm_buf wire, all;
	struct qm_pubid *pub = NULL;
	struct qm_error e;

	qm_error_clear(&e);
	qm_buf_init(&wire, 8 << 20);
	qm_buf_init(&all, 8 << 20);
	if (m)
		assert_int_equal(craft_build(m, &wire, NULL), 0);
	else
		assert_ok(qm_buf_append(&wire, plain->data, plain->len, &e));
	assert_ok(qm_crypto_identity_public(key, &pub, &e));
	assert_ok(qm_crypto_idhdr_build(pub, addr, NULL, NULL, &all, &e));
	assert_ok(qm_buf_append(&all, wire.data, wire.len, &e));
	assert_int_equal(craft_deliver(&W, u, all.data, all.len), 0);
	sync_user(u);
	qm_crypto_pubid_free(&pub);
	qm_buf_free(&all);
	qm_buf_free(&wire);
}

static char *g_head;

/* The identity header field for addr with key's public half (kept in
 * g_head until the test ends). */
static const char *head_of(const struct qm_identity *key, const char *addr)
{
	struct qm_pubid *pub = NULL;
	struct qm_buf b;
	struct qm_error e;

	qm_error_clear(&e);
	qm_buf_init(&b, 1 << 16);
	assert_ok(qm_crypto_identity_public(key, &pub, &e));
	assert_ok(qm_crypto_idhdr_build(pub, addr, NULL, NULL, &b, &e));
	qm_crypto_pubid_free(&pub);
	free(g_head);
	g_head = strndup((const char *)b.data, b.len);
	qm_buf_free(&b);
	return g_head;
}

static void test_changed_key(void **state)
{
	struct qm_identity *mallory = NULL, *carol_id = NULL;
	struct qm_pubid *alice_pub = NULL;
	struct qm_client_sent sent;
	struct qm_client_view *v;
	struct qm_client_safety s;
	struct craft_msg m;
	struct qm_buf plain;
	struct qm_error e;
	enum qm_store_trust t[4];
	char fpr[4][QM_STORE_FPRMAX], carol_fpr[QM_STORE_FPRMAX];
	const char *carol = qmt_mail_addr(W_CAROL);

	(void)state;
	if (W.skipped || !g_number[0])
		skip();
	qm_error_clear(&e);
	assert_ok(qm_crypto_identity_new(&mallory, &e));
	assert_int_equal(craft_identity(&W, W_CAROL, &carol_id), 0);
	assert_int_equal(
	    craft_pubid(&W, W_CAROL, qmt_mail_addr(W_ALICE), &alice_pub), 0);
	assert_ok(qm_client_key_own_fpr(W.c[W_CAROL], W.acct[W_CAROL],
	                                carol_fpr, &e));
	memset(&m, 0, sizeof(m));
	m.level = 3;
	m.from = carol;
	m.to = qmt_mail_addr(W_ALICE);
	m.rcpt = alice_pub;
	m.text = "x\n";

	/* signed by carol's real key, the headers (outer and protected)
	 * carry another: not the signer's, nothing is learned */
	m.sender = carol_id;
	m.subject = "header not the signer's";
	m.inner_head = head_of(mallory, carol);
	deliver_with_header(&m, NULL, mallory, carol, W_ALICE);
	v = read_last(W_ALICE);
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_int_equal(v->signer_trust, QM_SIGNER_VERIFIED);
	qm_client_view_free(&v);
	assert_int_equal(keyring(W_ALICE, carol, t, NULL), 1);
	assert_int_equal(t[0], QM_TRUST_VERIFIED);

	/* signed by the header's key, but the message fails its checks
	 * (its protected From is someone else's): nothing is learned */
	m.sender = mallory;
	m.inner_from = qmt_mail_addr(W_BOB);
	m.subject = "tampered";
	deliver_with_header(&m, NULL, mallory, carol, W_ALICE);
	v = read_last(W_ALICE);
	printf("  tampered: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_TAMPERED);
	qm_client_view_free(&v);
	assert_int_equal(keyring(W_ALICE, carol, t, NULL), 1);
	assert_int_equal(t[0], QM_TRUST_VERIFIED);

	/* a plain message from bob with a header for carol: another
	 * address than From, ignored */
	qm_buf_init(&plain, 1 << 20);
	assert_int_equal(craft_plain(qmt_mail_addr(W_BOB),
	                             qmt_mail_addr(W_ALICE), "plain from bob",
	                             NULL, &plain),
	                 0);
	deliver_with_header(NULL, &plain, mallory, carol, W_ALICE);
	qm_buf_free(&plain);
	assert_int_equal(keyring(W_ALICE, carol, t, NULL), 1);
	assert_int_equal(keyring(W_ALICE, qmt_mail_addr(W_BOB), t, NULL), 0);

	/* the hostile message proper: signed by mallory's key "from
	 * carol", the header carries it: CHANGED, said loudly, the verified
	 * key stays */
	m.inner_from = NULL;
	m.inner_head = NULL;
	m.subject = "a new key for carol";
	deliver_with_header(&m, NULL, mallory, carol, W_ALICE);
	v = read_last(W_ALICE);
	printf("  hostile: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	assert_non_null(strstr(v->status_text, "KEY CHANGED"));
	qm_client_view_free(&v);
	assert_int_equal(keyring(W_ALICE, carol, t, fpr), 2);
	assert_int_equal(t[0], QM_TRUST_CHANGED);
	assert_int_equal(t[1], QM_TRUST_VERIFIED);
	assert_string_equal(fpr[1], carol_fpr);

	/* level 3 to carol is refused until alice decides */
	assert_int_not_equal(send_l3(W_ALICE, W_CAROL, "refused", &sent, &e),
	                     QM_OK);
	printf("  level 3 to carol: %s\n", qm_error_msg(&e));
	assert_ok(
	    qm_client_key_safety(W.c[W_ALICE], W.acct[W_ALICE], carol, &s, &e));
	assert_int_equal(s.trust, QM_TRUST_CHANGED);
	assert_string_not_equal(s.number, g_number);
	/* the CLI says so loudly, and the number alone is refused there
	 * too */
	{
		char *out = NULL;
		int rc = world_qmail(&W, W_ALICE, &out, "keys", "safety", carol,
		                     NULL);

		assert_int_equal(rc, 0);
		assert_non_null(strstr(out, "WARNING"));
		assert_non_null(strstr(out, "CHANGED"));
		free(out);
		rc = world_qmail(&W, W_ALICE, &out, "keys", "verify", carol,
		                 s.number, NULL);
		printf("%s", out);
		assert_int_equal(rc, 1);
		assert_non_null(strstr(out, "--accept-new-key"));
		free(out);
	}
	/* the number alone does not accept a changed key */
	assert_int_equal(qm_client_key_safety_verify(W.c[W_ALICE],
	                                             W.acct[W_ALICE], carol,
	                                             s.number, 0, &e),
	                 QM_ERR_STATE);
	keyring(W_ALICE, carol, t, NULL);
	assert_int_equal(t[0], QM_TRUST_CHANGED);
	assert_int_not_equal(send_l3(W_ALICE, W_CAROL, "refused", &sent, &e),
	                     QM_OK);
	/* accepting it is an explicit decision */
	assert_ok(qm_client_key_safety_verify(W.c[W_ALICE], W.acct[W_ALICE],
	                                      carol, s.number, 1, &e));
	keyring(W_ALICE, carol, t, NULL);
	assert_int_equal(t[0], QM_TRUST_VERIFIED);
	assert_ok(send_l3(W_ALICE, W_CAROL, "to the accepted key", &sent, &e));
	free(g_head);
	g_head = NULL;
	qm_crypto_pubid_free(&alice_pub);
	qm_crypto_identity_free(&carol_id);
	qm_crypto_identity_free(&mallory);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_first_contact),
	    cmocka_unit_test(test_changed_key),
	};

	if (qm_core_init(NULL) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
