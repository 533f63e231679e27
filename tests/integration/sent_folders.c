/* SPDX-License-Identifier: MIT */
/*
 * The account's own QMail messages in the folders a sync takes (issue 14,
 * docs/CLIENT.md "The account's own messages"), against the real
 * OpenSMTPD, Dovecot and qkme KMEs: alice sends bob level-2 and level-3
 * messages with save_sent = 1, and her next sync files her Sent copies as
 * sent by her, readable from her outbox, with no KME request (alice's KME
 * is reached through a counting relay, tests/lib/cutproxy.h: no
 * connection is no request), no replay, nothing tampered or unreadable;
 * bob still opens both (no key of theirs was used). Plain mail APPENDed
 * to Sent and Drafts by a second IMAP client is plain mail. The hostile
 * cases: a message From alice that this home did not send (not to alice:
 * nothing shown, no KME request, no key consumed, and the user's retry
 * opens it with every check; to alice: opened as mail to her, with every
 * check), and one that reuses the Message-ID of alice's sent message
 * (never shown as hers, and her real copy is hers all the same). The same
 * in the Gmail layout, where the copy is in [Gmail]/Sent Mail and in
 * [Gmail]/All Mail: filed once, shown in both. And the CLI's words.
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
#include "cutproxy.h"
#include "harness.h"
#include "qmtest.h"
#include "world.h"

static struct world W;
static struct qmt_cutproxy *KME; /* in front of alice's KME */

/* Alice's account through the counting relay, her Sent copies kept. */
static int relay_alice(void)
{
	struct qm_store_account a;
	struct qm_error e;

	if (W.skipped)
		return 0;
	qm_error_clear(&e);
	if (qmt_cutproxy_start(W.net.ports[W_ALICE], &KME) != 0 ||
	    qm_store_account_get(qm_client_store(W.c[W_ALICE]), W.acct[W_ALICE],
	                         &a, &e) != QM_OK)
		return -1;
	snprintf(a.kme_url, sizeof(a.kme_url), "https://127.0.0.1:%d",
	         qmt_cutproxy_port(KME));
	if (qm_store_account_update(qm_client_store(W.c[W_ALICE]), &a, &e) ||
	    qm_store_setting_set(qm_client_store(W.c[W_ALICE]), W.acct[W_ALICE],
	                         "save_sent", "1", &e)) {
		fprintf(stderr, "sent_folders: %s\n", qm_error_msg(&e));
		return -1;
	}
	return 0;
}

static int setup_plain(void **state)
{
	(void)state;
	if (world_setup_layout(&W, "sent-plain", NULL, QMT_MAIL_LAYOUT_PLAIN))
		return -1;
	return relay_alice();
}

static int setup_gmail(void **state)
{
	(void)state;
	if (world_setup_layout(&W, "sent-gmail", NULL, QMT_MAIL_LAYOUT_GMAIL))
		return -1;
	return relay_alice();
}

static int group_teardown(void **state)
{
	(void)state;
	qmt_cutproxy_stop(&KME);
	world_stop(&W);
	return 0;
}

static void sync_user(int u, struct qm_client_sync_stats *st)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_sync(W.c[u], W.acct[u], NULL, NULL, st, &e));
}

/* Alice sends bob subject/text at level; the outbox entry's Message-ID
 * into mid (may be NULL). */
static void send_bob(int level, const char *subject, const char *text,
                     char *mid, size_t midlen)
{
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_store_outbox o;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_error e;

	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = text;
	m.level = level;
	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	assert_int_equal(sent.n_sent, 1);
	if (!mid)
		return;
	memset(&o, 0, sizeof(o));
	assert_ok(qm_store_outbox_get(qm_client_store(W.c[W_ALICE]),
	                              sent.outbox_ids[0], &o, &e));
	qm_strlcpy(mid, o.message_id, midlen);
	qm_store_outbox_item_free(&o);
}

/* User u's message in folder whose subject is subject (NULL: the one
 * whose Message-ID is mid), or -1. */
static int64_t in_folder_of(struct qm_client *c, int64_t acct,
                            const char *folder, const char *subject,
                            const char *mid);

static int64_t in_folder(int u, const char *folder, const char *subject,
                         const char *mid)
{
	return in_folder_of(W.c[u], W.acct[u], folder, subject, mid);
}

/* in_folder for the account acct of client c (another home). */
static int64_t in_folder_of(struct qm_client *c, int64_t acct,
                            const char *folder, const char *subject,
                            const char *mid)
{
	struct qm_store_folder *v = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	size_t n = 0;
	int64_t id = -1;

	memset(&q, 0, sizeof(q));
	q.account_id = acct;
	q.limit = 1000;
	qm_error_clear(&e);
	assert_ok(qm_client_folders(c, acct, &v, &n, &e));
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, folder) == 0)
			q.folder_id = v[i].id;
	qm_client_folders_free(&v, n);
	if (q.folder_id <= 0)
		return -1;
	assert_ok(qm_client_msg_list(c, &q, &l, &e));
	for (size_t i = 0; i < l->n; i++)
		if ((subject && l->items[i].subject &&
		     strcmp(l->items[i].subject, subject) == 0) ||
		    (!subject && strcmp(l->items[i].message_id, mid) == 0))
			id = l->items[i].id;
	qm_client_msglist_free(&l);
	return id;
}

static struct qm_client_view *read_msg(int u, int64_t id)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_read(W.c[u], id, &v, &e));
	return v;
}

/* Builds m and delivers it into user u's INBOX (no sync). */
static void deliver(const struct craft_msg *m, int u)
{
	struct qm_buf wire;

	qm_buf_init(&wire, 8 << 20);
	assert_int_equal(craft_build(m, &wire, NULL), 0);
	assert_int_equal(craft_deliver(&W, u, wire.data, wire.len), 0);
	qm_buf_free(&wire);
}

/* A level-3 message signed by carol, sealed to bob's key, From alice:
 * what anyone could put in alice's mailbox. */
static void forged_l3(const char *to, const char *mid, const char *subject,
                      const char *text)
{
	struct qm_identity *idc = NULL;
	struct qm_pubid *pb = NULL;
	struct craft_msg m;

	assert_int_equal(craft_identity(&W, W_CAROL, &idc), 0);
	assert_int_equal(craft_pubid(&W, W_CAROL, qmt_mail_addr(W_BOB), &pb),
	                 0);
	memset(&m, 0, sizeof(m));
	m.level = 3;
	m.from = "Alice <alice@qmail.test>";
	m.to = to;
	m.message_id = mid;
	m.subject = subject;
	m.text = text;
	m.sender = idc;
	m.rcpt = pb;
	deliver(&m, W_ALICE);
	qm_crypto_identity_free(&idc);
	qm_crypto_pubid_free(&pb);
}

/*
 * Alice's Sent copies (levels 2 and 3) are hers: no KME request, no
 * replay, nothing tampered or unreadable, readable from her outbox. A
 * forged message From alice to bob that reuses the Message-ID of her
 * level-2 message, delivered to her INBOX before the sync, is not shown
 * as hers and does not stop her real copy; bob opens both of his.
 */
static void test_sent_copies_are_own(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	char mid2[256], mid3[256];
	int64_t id2, id3, forged;
	int conns;

	(void)state;
	if (W.skipped)
		skip();
	send_bob(2, "own level 2", "OWN-L2-MARKER alice to bob\n", mid2,
	         sizeof(mid2));
	send_bob(3, "own level 3", "OWN-L3-MARKER alice to bob\n", mid3,
	         sizeof(mid3));
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0), 2);
	forged_l3(qmt_mail_addr(W_BOB), mid2, "forged with her Message-ID",
	          "FORGED-MID-MARKER\n");

	conns = qmt_cutproxy_conns(KME);
	sync_user(W_ALICE, &st);
	printf(
	    "  sync: fetched %zu own %zu decrypted %zu tampered %zu unreadable "
	    "%zu errors %zu waiting %zu replayed %zu kme conns %d -> %d\n",
	    st.fetched, st.own, st.decrypted, st.tampered, st.unreadable,
	    st.errors, st.waiting, st.replayed, conns, qmt_cutproxy_conns(KME));
	assert_int_equal(qmt_cutproxy_conns(KME), conns); /* no KME request */
	assert_int_equal(st.fetched, 3);
	assert_int_equal(st.own, 3);
	assert_int_equal(st.decrypted + st.unverified, 0);
	assert_int_equal(st.tampered, 0);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(st.unreadable, 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.waiting, 0);

	id2 = in_folder(W_ALICE, "Sent", "own level 2", NULL);
	id3 = in_folder(W_ALICE, "Sent", "own level 3", NULL);
	assert_true(id2 > 0);
	assert_true(id3 > 0);
	v = read_msg(W_ALICE, id2);
	printf("  sent copy: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_SENT);
	assert_int_equal(v->level, 2);
	assert_string_equal(v->subject, "own level 2");
	assert_non_null(strstr(v->text, "OWN-L2-MARKER"));
	assert_int_equal(v->nkey_ids, 0); /* no key ID recorded as used */
	assert_non_null(strstr(v->status_text, "sent by you"));
	qm_client_view_free(&v);
	v = read_msg(W_ALICE, id3);
	assert_int_equal(v->verify, QM_VERIFY_SENT);
	assert_non_null(strstr(v->text, "OWN-L3-MARKER"));
	qm_client_view_free(&v);

	/* the forgery with her Message-ID: not hers, nothing of it shown */
	forged = in_folder(W_ALICE, "INBOX", NULL, mid2);
	assert_true(forged > 0);
	assert_true(forged != id2);
	v = read_msg(W_ALICE, forged);
	printf("  forged with her Message-ID: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_SENT_ELSEWHERE);
	assert_string_equal(v->text, "");
	assert_null(strstr(v->subject, "forged"));
	assert_true(v->retryable);
	qm_client_view_free(&v);

	/* nothing new: nothing fetched, still no KME request */
	sync_user(W_ALICE, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(qmt_cutproxy_conns(KME), conns);

	/* bob's keys were never asked for by alice: he opens both */
	sync_user(W_BOB, &st);
	assert_int_equal(st.decrypted, 2);
	assert_int_equal(st.tampered + st.replayed + st.unreadable, 0);
}

/* Plain mail in Sent and Drafts (sent or saved from webmail by a second
 * IMAP client) is ordinary plain mail. */
static void test_plain_in_sent_and_drafts(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qmt_imap *c2;
	struct qm_buf m;
	int64_t id;

	(void)state;
	if (W.skipped)
		skip();
	c2 = qmt_imap_open(&W.mail, W_ALICE);
	assert_non_null(c2);
	qm_buf_init(&m, 1 << 16);
	assert_int_equal(craft_plain("Alice <alice@qmail.test>",
	                             qmt_mail_addr(W_BOB), "from webmail", NULL,
	                             &m),
	                 0);
	assert_true(qmt_imap_append(c2, "Sent", "\\Seen", m.data, m.len) > 0);
	qm_buf_reset(&m);
	assert_int_equal(craft_plain("Alice <alice@qmail.test>",
	                             qmt_mail_addr(W_BOB), "a plain draft",
	                             NULL, &m),
	                 0);
	assert_true(qmt_imap_append(c2, "Drafts", "\\Draft", m.data, m.len) >
	            0);
	qm_buf_free(&m);
	qmt_imap_close(&c2);

	sync_user(W_ALICE, &st);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.plain, 2);
	assert_int_equal(st.own, 0);
	id = in_folder(W_ALICE, "Sent", "from webmail", NULL);
	assert_true(id > 0);
	v = read_msg(W_ALICE, id);
	assert_int_equal(v->verify, QM_VERIFY_NOT_QMAIL);
	qm_client_view_free(&v);
	id = in_folder(W_ALICE, "Drafts", "a plain draft", NULL);
	assert_true(id > 0);
	v = read_msg(W_ALICE, id);
	assert_int_equal(v->verify, QM_VERIFY_NOT_QMAIL);
	qm_client_view_free(&v);
}

/*
 * A level-2 message From alice that this home never sent, made with a key
 * carol's SAE got for alice's: not addressed to alice, it is filed as
 * "from your address" with no KME request and nothing shown, and its key
 * stays unused at the KME: the user's retry opens it as mail to alice,
 * with every check (carol's SAE is not alice's: unverified sender, never
 * verified). The same message addressed to alice is opened as mail to
 * her at once, with the same checks.
 */
static void test_from_me_not_sent_here(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qm_kms_keys *ks = NULL;
	struct qm_kms *kms = NULL;
	struct qm_qkey qk;
	struct craft_msg m;
	struct qm_error e;
	enum qm_store_verify vf;
	int64_t id, nid = 0;
	int conns;

	(void)state;
	if (W.skipped)
		skip();
	qm_error_clear(&e);
	assert_int_equal(craft_kms(&W, W_CAROL, &kms), 0);
	assert_ok(qm_kms_keys_get(kms, W.sae[W_ALICE], 1, QM_L2_KEYBYTES * 8,
	                          NULL, 0, &ks, &e));
	qm_kms_free(&kms);
	qk.key_id = qm_kms_keys_id(ks, 0);
	qk.key = qm_kms_keys_key(ks, 0, &qk.len);
	memset(&m, 0, sizeof(m));
	m.level = 2;
	m.from = "Alice <alice@qmail.test>";
	m.to = qmt_mail_addr(W_BOB);
	m.subject = "another device?";
	m.text = "ELSEWHERE-MARKER\n";
	m.sender_sae = W.sae[W_CAROL];
	m.rcpt_sae = W.sae[W_ALICE];
	m.keys = &qk;
	m.nkeys = 1;
	deliver(&m, W_ALICE);

	conns = qmt_cutproxy_conns(KME);
	sync_user(W_ALICE, &st);
	assert_int_equal(qmt_cutproxy_conns(KME), conns);
	assert_int_equal(st.own, 1);
	assert_int_equal(st.decrypted + st.unverified + st.tampered, 0);
	id = world_last_id(&W, W_ALICE);
	v = read_msg(W_ALICE, id);
	printf("  from alice, not sent here: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_SENT_ELSEWHERE);
	assert_string_equal(v->text, "");
	assert_null(strstr(v->subject, "device"));
	assert_true(v->retryable);
	qm_client_view_free(&v);
	/* its key ID was not recorded as used: nothing consumed */
	assert_ok(qm_store_replay_check(qm_client_store(W.c[W_ALICE]),
	                                W.acct[W_ALICE], QM_DIR_IN, qk.key_id,
	                                &e));

	/* the user asks: opened as mail to alice, every check made */
	assert_ok(qm_client_msg_retry(W.c[W_ALICE], id, &nid, &vf, &e));
	assert_true(qmt_cutproxy_conns(KME) > conns);
	assert_int_equal(vf, QM_VERIFY_UNVERIFIED_SENDER);
	v = read_msg(W_ALICE, nid);
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	assert_non_null(strstr(v->text, "ELSEWHERE-MARKER"));
	qm_client_view_free(&v);
	qm_kms_keys_free(&ks);

	/* From alice to alice, not sent here: mail to her, checked */
	assert_int_equal(craft_kms(&W, W_CAROL, &kms), 0);
	assert_ok(qm_kms_keys_get(kms, W.sae[W_ALICE], 1, QM_L2_KEYBYTES * 8,
	                          NULL, 0, &ks, &e));
	qm_kms_free(&kms);
	qk.key_id = qm_kms_keys_id(ks, 0);
	qk.key = qm_kms_keys_key(ks, 0, &qk.len);
	m.to = qmt_mail_addr(W_ALICE);
	m.subject = "to myself?";
	m.keys = &qk;
	deliver(&m, W_ALICE);
	conns = qmt_cutproxy_conns(KME);
	sync_user(W_ALICE, &st);
	assert_true(qmt_cutproxy_conns(KME) > conns);
	assert_int_equal(st.own, 0);
	assert_int_equal(st.unverified, 1);
	v = read_msg(W_ALICE, world_last_id(&W, W_ALICE));
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	qm_client_view_free(&v);
	qm_kms_keys_free(&ks);

	/* level 3, From alice to bob, signed by carol: nothing shown */
	forged_l3(qmt_mail_addr(W_BOB), NULL, "signed by carol",
	          "CAROL-SIGNED-MARKER\n");
	conns = qmt_cutproxy_conns(KME);
	sync_user(W_ALICE, &st);
	assert_int_equal(qmt_cutproxy_conns(KME), conns);
	assert_int_equal(st.own, 1);
	v = read_msg(W_ALICE, world_last_id(&W, W_ALICE));
	assert_int_equal(v->verify, QM_VERIFY_SENT_ELSEWHERE);
	assert_null(strstr(v->text, "CAROL-SIGNED-MARKER"));
	qm_client_view_free(&v);
}

/* The CLI lists the Sent folder with the "sent" badge and reads a sent
 * message with words a person understands. */
static void test_cli_sent(void **state)
{
	char *out = NULL, idtext[32];
	int64_t id;
	int rc;

	(void)state;
	if (W.skipped)
		skip();
	rc = world_qmail(&W, W_ALICE, &out, "list", "--folder", "Sent", NULL);
	printf("%s", out ? out : "");
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "own level 2"));
	assert_non_null(strstr(out, " sent "));
	assert_non_null(strstr(out, "from webmail"));
	free(out);
	out = NULL;
	id = in_folder(W_ALICE, "Sent", "own level 2", NULL);
	snprintf(idtext, sizeof(idtext), "%lld", (long long)id);
	rc = world_qmail(&W, W_ALICE, &out, "read", idtext, NULL);
	printf("%s", out ? out : "");
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "sent by you"));
	assert_non_null(strstr(out, "OWN-L2-MARKER"));
	free(out);
}

/*
 * Gmail: the Sent copy is in [Gmail]/Sent Mail and, as Gmail keeps every
 * message there too, in [Gmail]/All Mail (the second client copies it, as
 * Gmail does): filed once, shown in both, no KME request.
 */
static void test_gmail_sent_and_all_mail(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qmt_imap *c2;
	int64_t a, b;
	int conns;

	(void)state;
	if (W.skipped)
		skip();
	send_bob(2, "gmail level 2", "GMAIL-L2-MARKER\n", NULL, 0);
	c2 = qmt_imap_open(&W.mail, W_ALICE);
	assert_non_null(c2);
	assert_int_equal(qmt_imap_cmd(c2, "SELECT \"[Gmail]/Sent Mail\""), 0);
	assert_int_equal(qmt_imap_cmd(c2, "UID COPY 1:* \"[Gmail]/All Mail\""),
	                 0);
	qmt_imap_close(&c2);

	conns = qmt_cutproxy_conns(KME);
	sync_user(W_ALICE, &st);
	assert_int_equal(qmt_cutproxy_conns(KME), conns);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.own, 1);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.tampered + st.replayed + st.unreadable, 0);
	a = in_folder(W_ALICE, "[Gmail]/Sent Mail", "gmail level 2", NULL);
	b = in_folder(W_ALICE, "[Gmail]/All Mail", "gmail level 2", NULL);
	assert_true(a > 0);
	assert_int_equal(a, b);
	v = read_msg(W_ALICE, a);
	assert_int_equal(v->verify, QM_VERIFY_SENT);
	assert_non_null(strstr(v->text, "GMAIL-L2-MARKER"));
	qm_client_view_free(&v);

	sync_user(W_BOB, &st);
	assert_int_equal(st.decrypted, 1);
}

#define RECOVERY "a long recovery passphrase"

/* Saves (or saves again) alice's draft *id with text, kept on the server. */
static void alice_draft(int64_t *id, const char *text)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_client_compose m;
	struct qm_buf b;
	struct qm_error e;
	int kept = 0;

	memset(&m, 0, sizeof(m));
	m.to = to;
	m.nto = 1;
	m.subject = "a draft to continue";
	m.text = text;
	m.level = 3;
	qm_error_clear(&e);
	qm_buf_init_secure(&b, 1 << 20);
	assert_ok(qm_client_draft_encode(&m, &b, &e));
	assert_ok(qm_client_draft_put(W.c[W_ALICE], W.acct[W_ALICE], id, b.data,
	                              b.len, &e));
	assert_ok(qm_client_draft_upload(W.c[W_ALICE], W.acct[W_ALICE], *id,
	                                 &kept, &e));
	assert_true(kept);
	qm_buf_free(&b);
}

/* The only draft of c's account holds want. */
static void one_draft_holds(struct qm_client *c, int64_t acct, const char *want)
{
	int64_t *ids = NULL;
	size_t n = 0;
	struct qm_buf b;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_draft_list(c, acct, &ids, &n, &e));
	assert_int_equal(n, 1);
	qm_buf_init_secure(&b, 1 << 20);
	assert_ok(qm_client_draft_get(c, ids[0], &b, &e));
	assert_non_null(memmem(b.data, b.len, want, strlen(want)));
	qm_buf_free(&b);
	free(ids);
}

/* The message of c's account whose subject is subject, in any folder. */
static struct qm_client_view *read_of(struct qm_client *c, int64_t acct,
                                      const char *folder, const char *subject)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int64_t id = in_folder_of(c, acct, folder, subject, NULL);

	assert_true(id > 0);
	qm_error_clear(&e);
	assert_ok(qm_client_read(c, id, &v, &e));
	return v;
}

/* c's message in folder with Message-ID mid is in state want and shows
 * nothing of the level-2 text. */
static void nothing_shown(struct qm_client *c, int64_t acct, const char *folder,
                          const char *mid, enum qm_store_verify want,
                          const char *what)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int64_t id = in_folder_of(c, acct, folder, NULL, mid);

	assert_true(id > 0);
	qm_error_clear(&e);
	assert_ok(qm_client_read(c, id, &v, &e));
	printf("  %s: %s\n", what, v->status_text);
	assert_int_equal(v->verify, want);
	assert_null(strstr(v->text, "RESTORE-L2-MARKER"));
	qm_client_view_free(&v);
}

/*
 * Alice's Sent copies are sealed to her own key: a new machine with a
 * fresh identity cannot read them (nothing shown), one restored from her
 * key backup reads them at the level they were sent at, with no KME. The
 * backup refuses a short or wrong recovery passphrase and any changed
 * byte; a copy whose To the server changed shows as tampered. Level 1
 * has no server copy by default.
 */
static void test_restored_home(void **state)
{
	struct qm_client *fresh = NULL, *restored = NULL;
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qm_buf bk;
	struct qm_error e;
	char fpr[QM_STORE_FPRMAX], mine[QM_STORE_FPRMAX], mid[256];
	char paths[8][512];
	int64_t af, ar, draft = 0;
	int conns, n, before;

	(void)state;
	if (W.skipped)
		skip();
	send_bob(2, "restore level 2", "RESTORE-L2-MARKER\n", mid, sizeof(mid));
	send_bob(1, "restore level 1", "RESTORE-L1-MARKER\n", NULL, 0);
	send_bob(3, "restore level 3", "RESTORE-L3-MARKER\n", NULL, 0);
	alice_draft(&draft, "DRAFT-FIRST-MACHINE\n");

	qm_error_clear(&e);
	qm_buf_init(&bk, 1 << 20);
	assert_int_equal(qm_client_keys_backup(W.c[W_ALICE], W.acct[W_ALICE],
	                                       "too short", 9, &bk, &e),
	                 QM_ERR_INVAL);
	assert_ok(qm_client_keys_backup(W.c[W_ALICE], W.acct[W_ALICE], RECOVERY,
	                                strlen(RECOVERY), &bk, &e));
	assert_non_null(strstr((const char *)bk.data, "Account: alice@"));

	/* a new machine without the backup: her copies stay sealed */
	assert_int_equal(world_second_home(&W, W_ALICE, "fresh", &fresh, &af),
	                 0);
	assert_ok(qm_client_sync(fresh, af, NULL, NULL, &st, &e));
	nothing_shown(fresh, af, "Sent", mid, QM_VERIFY_SENT_ELSEWHERE,
	              "a new machine, no backup");
	qm_client_free(&fresh);

	/* the backup, restored on another new machine */
	assert_int_equal(
	    world_second_home(&W, W_ALICE, "restored", &restored, &ar), 0);
	assert_int_equal(qm_client_keys_restore(restored, ar,
	                                        "wrong but long "
	                                        "enough",
	                                        20, (const char *)bk.data,
	                                        bk.len, NULL, &e),
	                 QM_ERR_AUTH);
	{
		/* the Fingerprint line names another key: refused */
		char *t = strndup((const char *)bk.data, bk.len);
		char *f = strstr(t, "Fingerprint: ");

		assert_non_null(f);
		f[13] = f[13] == 'A' ? 'B' : 'A';
		assert_int_equal(qm_client_keys_restore(restored, ar, RECOVERY,
		                                        strlen(RECOVERY), t,
		                                        strlen(t), NULL, &e),
		                 QM_ERR_AUTH);
		free(t);
	}
	assert_ok(
	    qm_client_keys_restore(restored, ar, RECOVERY, strlen(RECOVERY),
	                           (const char *)bk.data, bk.len, fpr, &e));
	assert_ok(
	    qm_client_key_own_fpr(W.c[W_ALICE], W.acct[W_ALICE], mine, &e));
	assert_string_equal(fpr, mine);
	qm_buf_free(&bk);

	/* the server changes the To of her level-2 copy: tampered */
	n = qmt_mail_files(&W.mail, W_ALICE, "Sent", paths, 8);
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		size_t len = 0;
		unsigned char *raw = qmt_mail_read(paths[i], &len);
		char *t, *to, *fix;
		struct qmt_imap *im;
		size_t fl;

		assert_non_null(raw);
		t = strndup((const char *)raw, len);
		free(raw);
		if (!strstr(t, mid) || !(to = strstr(t, "\nTo: "))) {
			free(t);
			continue;
		}
		fl = strlen(t) + 64;
		fix = malloc(fl);
		assert_non_null(fix);
		snprintf(fix, fl, "%.*s\nTo: %s,%s", (int)(to - t), t,
		         qmt_mail_addr(W_CAROL), to + 5);
		im = qmt_imap_open(&W.mail, W_ALICE);
		assert_non_null(im);
		assert_true(qmt_imap_append(im, "INBOX", "", fix, strlen(fix)) >
		            0);
		qmt_imap_close(&im);
		free(fix);
		free(t);
		break;
	}

	conns = qmt_cutproxy_conns(KME);
	assert_ok(qm_client_sync(restored, ar, NULL, NULL, &st, &e));
	assert_int_equal(qmt_cutproxy_conns(KME), conns); /* no KME asked */
	v = read_of(restored, ar, "Sent", "restore level 2");
	printf("  restored home, level-2 copy: %s\n", v->status_text);
	assert_int_equal(v->verify, QM_VERIFY_SENT);
	assert_int_equal(v->level, 2);
	assert_non_null(strstr(v->text, "RESTORE-L2-MARKER"));
	qm_client_view_free(&v);
	v = read_of(restored, ar, "Sent", "restore level 3");
	assert_int_equal(v->verify, QM_VERIFY_SENT);
	assert_int_equal(v->level, 3);
	qm_client_view_free(&v);
	assert_int_equal(
	    in_folder_of(restored, ar, "Sent", "restore level 1", NULL), -1);
	nothing_shown(restored, ar, "INBOX", mid, QM_VERIFY_TAMPERED,
	              "the copy with another To");
	/* the draft continues here, and a newer version from the first
	 * machine replaces it */
	one_draft_holds(restored, ar, "DRAFT-FIRST-MACHINE");
	alice_draft(&draft, "DRAFT-SECOND-VERSION\n");
	assert_ok(qm_client_sync(restored, ar, NULL, NULL, &st, &e));
	one_draft_holds(restored, ar, "DRAFT-SECOND-VERSION");
	qm_client_free(&restored);
	qm_error_clear(&e);
	/* one copy on the server (the newer replaced the older), beside
	 * the plain draft another client saved (test_plain_in_sent_and_drafts);
	 * deleting the draft takes its copy away */
	before = qmt_mail_files(&W.mail, W_ALICE, "Drafts", NULL, 0);
	assert_ok(qm_client_draft_delete(W.c[W_ALICE], draft, &e));
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Drafts", NULL, 0),
	                 before - 1);
}

int main(void)
{
	const struct CMUnitTest plain[] = {
	    cmocka_unit_test(test_sent_copies_are_own),
	    cmocka_unit_test(test_plain_in_sent_and_drafts),
	    cmocka_unit_test(test_from_me_not_sent_here),
	    cmocka_unit_test(test_cli_sent),
	    cmocka_unit_test(test_restored_home),
	};
	const struct CMUnitTest gmail[] = {
	    cmocka_unit_test(test_gmail_sent_and_all_mail),
	};
	int failed;

	failed = cmocka_run_group_tests_name("plain layout", plain, setup_plain,
	                                     group_teardown);
	failed += cmocka_run_group_tests_name("gmail layout", gmail,
	                                      setup_gmail, group_teardown);
	return failed;
}
