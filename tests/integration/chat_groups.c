/* SPDX-License-Identifier: MIT */
/*
 * Group membership changes over chat (issue 20, docs/CHAT.md "Groups",
 * invariant 38) through the real OpenSMTPD, Dovecot and qkme of
 * tests/lib/world.h: a group of three at level 1 (one-time pad), carol
 * removed by alice. The removal is a chat message of the group each
 * member files as a line; later messages go to alice and bob only (no
 * slot, no KME key for carol: she receives nothing), and bob reads them.
 * Carol, no member any more, sends nothing in the group, and her own
 * verified "add me back" and "remove bob" change nothing at alice's or
 * bob's. A change in a message from an unverified sender (level 2, keys
 * made by another SAE than the one confirmed for From) changes nothing,
 * while the same message from the right SAE does. Then carol is added
 * back and reads again, leaves by herself, and the `qmail chat add |
 * remove` commands.
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

#include "craft.h"
#include "harness.h"
#include "qmtest.h"
#include "world.h"

static struct world W;
/* the group's conversation at each member (0: none yet) */
static int64_t G[W_NUSERS];
static char gid[QM_STORE_GROUPIDMAX];
/* level 1 was used (the pools filled in time) */
static int group_level;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "chatgrp", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

/* User u's sync of everything; returns the chat messages it filed. */
static size_t sync_once(int u, size_t *fetched)
{
	char why[QM_ERR_MSGMAX + 64];
	size_t chat = 0;

	if (world_sync_chat(&W, u, 0, 0, &chat, fetched, why, sizeof(why)))
		fail_msg("%s", why);
	return chat;
}

/* Syncs until at least min_fetched messages were fetched and min_chat
 * filed as chat (Dovecot's index may lag the file; 30 s at most). */
static size_t sync_until(int u, size_t min_fetched, size_t min_chat)
{
	char why[QM_ERR_MSGMAX + 64];
	size_t chat = 0;

	if (world_sync_chat(&W, u, min_fetched, min_chat, &chat, NULL, why,
	                    sizeof(why)))
		fail_msg("%s", why);
	return chat;
}

static int files(int u)
{
	return qmt_mail_files(&W.mail, u, NULL, NULL, 0);
}

/* Waits until user u's mailbox (any folder) holds more than have. */
static void wait_mail(int u, int have)
{
	if (qmt_mail_wait_files(&W.mail, u, NULL, have + 1, 60000) <= have)
		fail_msg("nothing reached user %d in 60 s", u);
}

static struct qm_store_chat conv(int u)
{
	struct qm_store_chat c;
	struct qm_error e;

	qm_error_clear(&e);
	if (qm_store_chat_get_id(qm_client_store(W.c[u]), G[u], &c, &e))
		fail_msg("user %d's group: %s", u, e.msg);
	return c;
}

static int64_t inbox_count(int u)
{
	struct qm_store_query q;
	struct qm_error e;
	int64_t n = -1;

	memset(&q, 0, sizeof(q));
	q.account_id = W.acct[u];
	q.folder = "INBOX";
	qm_error_clear(&e);
	assert_int_equal(qm_client_msg_count(W.c[u], &q, &n, &e), QM_OK);
	return n;
}

/* User u's group's lines; the last one into *last, its text and sender
 * copied into text and last_sender (cap bytes each). */
static char last_sender[256];

static size_t lines(int u, struct qm_client_chat_item *last, char *text,
                    size_t cap)
{
	struct qm_client_chat_item *v = NULL;
	struct qm_error e;
	size_t n = 0;

	qm_error_clear(&e);
	assert_int_equal(qm_client_chat_messages(W.c[u], G[u], &v, &n, &e),
	                 QM_OK);
	for (size_t i = 0; i < n; i++)
		print_message("user %d's group line %zu: kind %d L%d %s: %s\n",
		              u, i, v[i].kind, v[i].level, v[i].sender,
		              v[i].text);
	if (n && last) {
		*last = v[n - 1];
		snprintf(text, cap, "%s", v[n - 1].text);
		snprintf(last_sender, sizeof(last_sender), "%s",
		         v[n - 1].sender);
		last->sender = NULL;
		last->text = NULL;
	}
	qm_client_chat_items_free(&v, n);
	return n;
}

/* The newest line of u's group is kind from sender about text. */
static void last_line(int u, int kind, int sender, const char *text)
{
	struct qm_client_chat_item it;
	char t[256];

	assert_true(lines(u, &it, t, sizeof(t)) > 0);
	assert_int_equal(it.kind, kind);
	assert_string_equal(t, text);
	assert_string_equal(last_sender, qmt_mail_addr(sender));
}

/* A text to the group from u (by its conversation id). */
static void say(int u, const char *text, struct qm_client_chat_sent *out)
{
	struct qm_client_chat_out m;
	struct qm_error e;

	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[u];
	m.chat_id = G[u];
	m.text = text;
	qm_error_clear(&e);
	if (qm_client_chat_send(W.c[u], &m, out, &e))
		fail_msg("user %d's group send: %s", u, e.msg);
	assert_true(out->sent);
}

/* The recipients and key count of outbox entry id of user u. */
static void outbox_of(int u, int64_t id, char *rcpts, size_t cap,
                      size_t *n_keys)
{
	struct qm_store_outbox ob;
	struct qm_error e;

	memset(&ob, 0, sizeof(ob));
	qm_error_clear(&e);
	assert_int_equal(
	    qm_store_outbox_get(qm_client_store(W.c[u]), id, &ob, &e), QM_OK);
	snprintf(rcpts, cap, "%s", ob.recipients ? ob.recipients : "");
	*n_keys = ob.n_keys;
	qm_store_outbox_item_free(&ob);
}

/* The group of three at level 1 (2 when the pools do not fill); carol
 * removed by alice, then out of everything said after. */
static void test_remove(void **state)
{
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_store_chat g;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(W_BOB), qmt_mail_addr(W_CAROL)};
	char rcpts[1024];
	size_t keys3 = 0, keys2 = 0;
	int hb, hc, ha;

	(void)state;
	if (W.skipped)
		skip();
	/* level 1 costs about 5 KiB of pad a recipient a message */
	group_level = 1;
	if (world_wait_pool(&W, W_ALICE, W_BOB, 40000, 180000) ||
	    world_wait_pool(&W, W_ALICE, W_CAROL, 24000, 180000) ||
	    world_wait_pool(&W, W_BOB, W_ALICE, 16000, 180000))
		fail_msg("the KME pools did not fill for level 1 in time");
	hb = files(W_BOB);
	hc = files(W_CAROL);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 2;
	m.text = "hello, three of us";
	m.level = group_level;
	qm_error_clear(&e);
	if (qm_client_chat_send(W.c[W_ALICE], &m, &out, &e))
		fail_msg("group send: %s", e.msg);
	assert_int_equal(out.level, group_level);
	G[W_ALICE] = out.chat_id;
	outbox_of(W_ALICE, out.outbox_id, rcpts, sizeof(rcpts), &keys3);
	print_message("to the three: %s, %zu keys\n", rcpts, keys3);
	wait_mail(W_BOB, hb);
	wait_mail(W_CAROL, hc);
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	assert_int_equal(sync_until(W_CAROL, 1, 1), 1);
	{
		const char *ab[] = {qmt_mail_addr(W_ALICE),
		                    qmt_mail_addr(W_CAROL)};
		const char *ac[] = {qmt_mail_addr(W_ALICE),
		                    qmt_mail_addr(W_BOB)};

		assert_int_equal(qm_client_chat_find(W.c[W_BOB], W.acct[W_BOB],
		                                     ab, 2, &g, &e),
		                 QM_OK);
		G[W_BOB] = g.id;
		snprintf(gid, sizeof(gid), "%s", g.group_id);
		assert_int_equal(qm_client_chat_find(W.c[W_CAROL],
		                                     W.acct[W_CAROL], ac, 2, &g,
		                                     &e),
		                 QM_OK);
		G[W_CAROL] = g.id;
	}
	/* alice removes carol: a chat message to bob and carol */
	hb = files(W_BOB);
	hc = files(W_CAROL);
	qm_error_clear(&e);
	if (qm_client_chat_member_remove(W.c[W_ALICE], G[W_ALICE],
	                                 qmt_mail_addr(W_CAROL), &out, &e))
		fail_msg("remove: %s", e.msg);
	assert_true(out.sent);
	assert_int_equal(out.level, group_level);
	assert_int_equal(out.chat_id, G[W_ALICE]);
	outbox_of(W_ALICE, out.outbox_id, rcpts, sizeof(rcpts), &keys2);
	assert_non_null(strstr(rcpts, qmt_mail_addr(W_CAROL)));
	g = conv(W_ALICE);
	assert_string_equal(g.members, qmt_mail_addr(W_BOB));
	last_line(W_ALICE, QM_CHAT_MEMBER_REMOVED, W_ALICE,
	          qmt_mail_addr(W_CAROL));
	/* a second removal of her: not a member */
	assert_int_equal(qm_client_chat_member_remove(W.c[W_ALICE], G[W_ALICE],
	                                              qmt_mail_addr(W_CAROL),
	                                              &out, &e),
	                 QM_ERR_NOTFOUND);
	wait_mail(W_BOB, hb);
	wait_mail(W_CAROL, hc);
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	assert_int_equal(sync_until(W_CAROL, 1, 1), 1);
	/* bob: carol is out, and the change is a line from alice */
	g = conv(W_BOB);
	assert_string_equal(g.members, qmt_mail_addr(W_ALICE));
	assert_false(g.removed);
	last_line(W_BOB, QM_CHAT_MEMBER_REMOVED, W_ALICE,
	          qmt_mail_addr(W_CAROL));
	/* carol: she knows she is out; she sends nothing in the group */
	g = conv(W_CAROL);
	assert_true(g.removed);
	last_line(W_CAROL, QM_CHAT_MEMBER_REMOVED, W_ALICE,
	          qmt_mail_addr(W_CAROL));
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_CAROL];
	m.chat_id = G[W_CAROL];
	m.text = "am I still here?";
	qm_error_clear(&e);
	assert_int_equal(qm_client_chat_send(W.c[W_CAROL], &m, &out, &e),
	                 QM_ERR_STATE);
	assert_int_equal(out.outbox_id, 0);
	/* alice's next message: to bob alone, no key for carol */
	hb = files(W_BOB);
	hc = files(W_CAROL);
	say(W_ALICE, "after carol left", &out);
	outbox_of(W_ALICE, out.outbox_id, rcpts, sizeof(rcpts), &keys2);
	print_message("after the removal: %s, %zu keys (were %zu)\n", rcpts,
	              keys2, keys3);
	assert_null(strstr(rcpts, qmt_mail_addr(W_CAROL)));
	assert_non_null(strstr(rcpts, qmt_mail_addr(W_BOB)));
	if (group_level <= 2)
		assert_true(keys2 < keys3);
	wait_mail(W_BOB, hb);
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	last_line(W_BOB, QM_CHAT_TEXT, W_ALICE, "after carol left");
	/* bob answers the group (he has the removal): alice alone */
	ha = files(W_ALICE);
	say(W_BOB, "bob, after carol left", &out);
	outbox_of(W_BOB, out.outbox_id, rcpts, sizeof(rcpts), &keys2);
	assert_string_equal(rcpts, qmt_mail_addr(W_ALICE));
	wait_mail(W_ALICE, ha);
	assert_int_equal(sync_until(W_ALICE, 1, 1), 1);
	last_line(W_ALICE, QM_CHAT_TEXT, W_BOB, "bob, after carol left");
	/* carol got neither */
	sleep(2);
	assert_int_equal(files(W_CAROL), hc);
	assert_int_equal(sync_once(W_CAROL, NULL), 0);
}

/* Carol (no member any more) writes a verified message with a change to
 * alice and bob: "add me back", then "remove bob". Nothing changes and
 * nothing is filed in the group; the messages stay mail. */
static void test_outsider_change(void **state)
{
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_store_chat ga, gb;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(W_ALICE), qmt_mail_addr(W_BOB)};
	size_t na, nb;
	int64_t ia, ib;
	int ha, hb;

	(void)state;
	if (W.skipped || !G[W_CAROL])
		skip();
	na = lines(W_ALICE, NULL, NULL, 0);
	nb = lines(W_BOB, NULL, NULL, 0);
	ia = inbox_count(W_ALICE);
	ib = inbox_count(W_BOB);
	for (int k = 0; k < 2; k++) {
		ha = files(W_ALICE);
		hb = files(W_BOB);
		memset(&m, 0, sizeof(m));
		m.account_id = W.acct[W_CAROL];
		m.to = to;
		m.nto = 2;
		m.subject = k ? "Chat: carol removed bob" : "Chat: add me";
		m.text = k ? "carol removed bob" : "carol added carol";
		m.level = 3;
		m.chat = 1;
		m.chat_group_id = gid;
		if (k)
			m.chat_member_removed = qmt_mail_addr(W_BOB);
		else
			m.chat_member_added = qmt_mail_addr(W_CAROL);
		qm_error_clear(&e);
		if (qm_client_send(W.c[W_CAROL], &m, NULL, NULL, &sent, &e))
			fail_msg("carol's send: %s", e.msg);
		wait_mail(W_ALICE, ha);
		wait_mail(W_BOB, hb);
		assert_int_equal(sync_until(W_ALICE, 1, 0), 0);
		assert_int_equal(sync_until(W_BOB, 1, 0), 0);
	}
	ga = conv(W_ALICE);
	gb = conv(W_BOB);
	assert_string_equal(ga.members, qmt_mail_addr(W_BOB));
	assert_string_equal(gb.members, qmt_mail_addr(W_ALICE));
	assert_int_equal(lines(W_ALICE, NULL, NULL, 0), na);
	assert_int_equal(lines(W_BOB, NULL, NULL, 0), nb);
	/* verified mail from carol, kept as mail in INBOX */
	assert_int_equal(inbox_count(W_ALICE), ia + 2);
	assert_int_equal(inbox_count(W_BOB), ib + 2);
	{
		struct qm_store_msglist *l = NULL;

		qm_error_clear(&e);
		assert_int_equal(qm_client_msg_get(W.c[W_BOB],
		                                   world_last_id(&W, W_BOB), &l,
		                                   &e),
		                 QM_OK);
		assert_int_equal(l->items[0].verify, QM_VERIFY_OK);
		qm_client_msglist_free(&l);
	}
}

/* A level-2 group change From alice built by hand, its keys made by
 * sender's SAE (craft.h), delivered to bob. */
static void craft_change(int sender, const char *head, const char *text)
{
	struct qm_kms *kms = NULL;
	struct qm_kms_keys *ks = NULL;
	struct qm_qkey qk;
	struct craft_msg m;
	struct qm_buf wire;
	struct qm_error e;

	qm_error_clear(&e);
	assert_int_equal(craft_kms(&W, sender, &kms), 0);
	assert_int_equal(qm_kms_keys_get(kms, W.sae[W_BOB], 1,
	                                 QM_L2_KEYBYTES * 8, NULL, 0, &ks, &e),
	                 QM_OK);
	qm_kms_free(&kms);
	qk.key_id = qm_kms_keys_id(ks, 0);
	qk.key = qm_kms_keys_key(ks, 0, &qk.len);
	memset(&m, 0, sizeof(m));
	m.level = 2;
	m.from = qmt_mail_addr(W_ALICE);
	m.to = qmt_mail_addr(W_BOB);
	m.subject = "Chat: a change";
	m.text = text;
	m.sender_sae = W.sae[sender];
	m.rcpt_sae = W.sae[W_BOB];
	m.keys = &qk;
	m.nkeys = 1;
	m.inner_head = head;
	qm_buf_init(&wire, 1 << 20);
	assert_int_equal(craft_build(&m, &wire, NULL), 0);
	assert_int_equal(craft_deliver(&W, W_BOB, wire.data, wire.len), 0);
	qm_buf_free(&wire);
	qm_kms_keys_free(&ks);
}

/* Sender binding (invariant 14) before a change: the same hand-built
 * "alice added X" is applied from alice's SAE, and changes nothing when
 * carol's SAE made its keys (unverified sender: mail, in INBOX). */
static void test_unverified_change(void **state)
{
	char head[512];
	struct qm_store_chat g;
	size_t nb;
	int64_t ib;

	(void)state;
	if (W.skipped || !G[W_BOB])
		skip();
	snprintf(head, sizeof(head),
	         "Chat-Version: 1.0\r\nChat-Group-ID: %s\r\n"
	         "Chat-Group-Member-Added: dave@qmail.test\r\n",
	         gid);
	craft_change(W_ALICE, head, "alice added dave\n");
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	g = conv(W_BOB);
	assert_string_equal(g.members, "alice@qmail.test,dave@qmail.test");
	last_line(W_BOB, QM_CHAT_MEMBER_ADDED, W_ALICE, "dave@qmail.test");
	nb = lines(W_BOB, NULL, NULL, 0);
	ib = inbox_count(W_BOB);
	snprintf(head, sizeof(head),
	         "Chat-Version: 1.0\r\nChat-Group-ID: %s\r\n"
	         "Chat-Group-Member-Removed: dave@qmail.test\r\n",
	         gid);
	craft_change(W_CAROL, head, "carol as alice removes dave\n");
	assert_int_equal(sync_until(W_BOB, 1, 0), 0);
	g = conv(W_BOB);
	assert_string_equal(g.members, "alice@qmail.test,dave@qmail.test");
	assert_int_equal(lines(W_BOB, NULL, NULL, 0), nb);
	assert_int_equal(inbox_count(W_BOB), ib + 1);
	{
		struct qm_store_msglist *l = NULL;
		struct qm_error e;

		qm_error_clear(&e);
		assert_int_equal(qm_client_msg_get(W.c[W_BOB],
		                                   world_last_id(&W, W_BOB), &l,
		                                   &e),
		                 QM_OK);
		assert_int_equal(l->items[0].verify,
		                 QM_VERIFY_UNVERIFIED_SENDER);
		qm_client_msglist_free(&l);
	}
}

/* Alice adds carol back (`qmail chat add`): carol is a member again, with
 * the members the addition names, and reads what follows; then `qmail
 * chat remove` and the refusals. */
static void test_add_back_cli(void **state)
{
	struct qm_client_chat_sent out;
	struct qm_store_chat g;
	char id[32], *o = NULL;
	int hb, hc;

	(void)state;
	if (W.skipped || !G[W_CAROL])
		skip();
	hb = files(W_BOB);
	hc = files(W_CAROL);
	snprintf(id, sizeof(id), "%lld", (long long)G[W_ALICE]);
	assert_int_equal(world_qmail(&W, W_ALICE, &o, "chat", "add", id,
	                             qmt_mail_addr(W_CAROL), NULL),
	                 0);
	if (!strstr(o, "added carol@qmail.test"))
		fail_msg("chat add said:\n%s", o);
	free(o);
	o = NULL;
	wait_mail(W_BOB, hb);
	wait_mail(W_CAROL, hc);
	assert_int_equal(sync_until(W_CAROL, 1, 1), 1);
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	g = conv(W_CAROL);
	assert_false(g.removed);
	last_line(W_CAROL, QM_CHAT_MEMBER_ADDED, W_ALICE,
	          qmt_mail_addr(W_CAROL));
	g = conv(W_BOB);
	assert_non_null(strstr(g.members, qmt_mail_addr(W_CAROL)));
	/* carol reads the next message again */
	hc = files(W_CAROL);
	say(W_ALICE, "welcome back", &out);
	wait_mail(W_CAROL, hc);
	assert_int_equal(sync_until(W_CAROL, 1, 1), 1);
	last_line(W_CAROL, QM_CHAT_TEXT, W_ALICE, "welcome back");
	/* the members and the lines in `chat show` */
	assert_int_equal(world_qmail(&W, W_ALICE, &o, "chat", "show", id, NULL),
	                 0);
	if (!strstr(o, "removed carol@qmail.test") ||
	    !strstr(o, "added carol@qmail.test") || !strstr(o, "welcome back"))
		fail_msg("chat show said:\n%s", o);
	free(o);
	o = NULL;
	/* refusals: already a member, not a member, not a group */
	assert_int_not_equal(world_qmail(&W, W_ALICE, &o, "chat", "add", id,
	                                 qmt_mail_addr(W_BOB), NULL),
	                     0);
	if (!strstr(o, "already"))
		fail_msg("a second add said:\n%s", o);
	free(o);
	o = NULL;
	assert_int_not_equal(world_qmail(&W, W_ALICE, &o, "chat", "remove", id,
	                                 "nobody@qmail.test", NULL),
	                     0);
	free(o);
	o = NULL;
	/* carol leaves (her own address removed): the change goes to alice
	 * and bob, from her, a member; she is out at once */
	if (group_level == 1 &&
	    (world_wait_pool(&W, W_CAROL, W_ALICE, 12000, 180000) ||
	     world_wait_pool(&W, W_CAROL, W_BOB, 12000, 180000)))
		fail_msg("carol's KME pools did not fill for level 1 in time");
	{
		char cid[32];
		int ha = files(W_ALICE);

		/* `qmail chat remove` of her own address */
		snprintf(cid, sizeof(cid), "%lld", (long long)G[W_CAROL]);
		assert_int_equal(world_qmail(&W, W_CAROL, &o, "chat", "remove",
		                             cid, qmt_mail_addr(W_CAROL), NULL),
		                 0);
		if (!strstr(o, "removed carol@qmail.test"))
			fail_msg("chat remove said:\n%s", o);
		free(o);
		o = NULL;
		g = conv(W_CAROL);
		assert_true(g.removed);
		assert_int_equal(g.label, QM_LABEL_OK);
		wait_mail(W_ALICE, ha);
		assert_int_equal(sync_until(W_ALICE, 1, 1), 1);
	}
	g = conv(W_ALICE);
	assert_string_equal(g.members, qmt_mail_addr(W_BOB));
	last_line(W_ALICE, QM_CHAT_MEMBER_REMOVED, W_CAROL,
	          qmt_mail_addr(W_CAROL));
	/* removing her once more: no member */
	assert_int_not_equal(world_qmail(&W, W_ALICE, &o, "chat", "remove", id,
	                                 qmt_mail_addr(W_CAROL), NULL),
	                     0);
	if (!strstr(o, "no member"))
		fail_msg("a second removal said:\n%s", o);
	free(o);
	o = NULL;
	/* bob is alice's last other member: she cannot remove him */
	assert_int_not_equal(world_qmail(&W, W_ALICE, &o, "chat", "remove", id,
	                                 qmt_mail_addr(W_BOB), NULL),
	                     0);
	if (!strstr(o, "last other member"))
		fail_msg("removing the last member said:\n%s", o);
	free(o);
	o = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_remove),
	    cmocka_unit_test(test_outsider_change),
	    cmocka_unit_test(test_unverified_change),
	    cmocka_unit_test(test_add_back_cli),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
