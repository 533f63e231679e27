/* SPDX-License-Identifier: MIT */
/*
 * Chat over QMail (issue 20, docs/CHAT.md) through the real OpenSMTPD,
 * Dovecot and qkme of tests/lib/world.h: alice and bob chat at levels 2,
 * 3 and 4 (and 1 when alice's KME holds enough key in time); bob's sync
 * files them in one conversation in order, moved out of INBOX into the
 * server folder Chats, never twice (a second sync, a reopened client, the
 * same message delivered again, an SMTP outage and its retry); a weaker
 * level than the conversation's is refused until the user changes it; a
 * chat message altered on the server, and a plain message with a chat
 * header, stay mail. Then the three `qmail chat` commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "craft.h"
#include "harness.h"
#include "qmtest.h"
#include "world.h"

static struct world W;
/* what bob's conversation with alice should hold, in order */
static char expect[16][96];
static size_t nexpect;
/* of those, sent at level 1: no Sent copy is kept of them (docs/CLIENT.md
 * "Copies sealed to yourself") */
static size_t nlevel1;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "chat", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

/* Alice's chat message to bob at level (0: the conversation's); returns
 * the engine's code, out filled. */
static enum qm_err alice_says(const char *text, int level,
                              struct qm_client_chat_sent *out,
                              struct qm_error *e)
{
	struct qm_client_chat_out m;
	const char *to[] = {qmt_mail_addr(W_BOB)};

	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.text = text;
	m.level = level;
	qm_error_clear(e);
	return qm_client_chat_send(W.c[W_ALICE], &m, out, e);
}

/* Sends and expects it taken by the server; notes it for bob. */
static void alice_sends(const char *text, int level)
{
	struct qm_client_chat_sent out;
	struct qm_error e;

	if (alice_says(text, level, &out, &e) != QM_OK)
		fail_msg("chat send at level %d: %s", level, e.msg);
	assert_int_equal(out.level, level);
	assert_true(out.sent);
	assert_true(out.chat_id > 0);
	snprintf(expect[nexpect++], sizeof(expect[0]), "%s", text);
	if (level <= 2) {
		/* what the message cost in QKD key (docs/CHAT.md) */
		struct qm_store_outbox ob;
		struct qm_client_kme k;

		memset(&ob, 0, sizeof(ob));
		assert_int_equal(
		    qm_store_outbox_get(qm_client_store(W.c[W_ALICE]),
		                        out.outbox_id, &ob, &e),
		    QM_OK);
		assert_int_equal(qm_client_kme_status(W.c[W_ALICE],
		                                      W.acct[W_ALICE],
		                                      W.sae[W_BOB], &k, &e),
		                 QM_OK);
		/* level 1 takes keys of the KME's largest size, level 2 one
		 * 256-bit key */
		{
			unsigned long long bits =
			    level == 1 ? k.max_key_size : k.key_size;
			unsigned long long bytes = ob.n_keys * bits / 8;

			print_message("level %d chat message of %zu bytes of "
			              "text: %zu keys of %llu bits, %llu bytes "
			              "of QKD key\n",
			              level, strlen(text), ob.n_keys, bits,
			              bytes);
			if (level == 1) {
				/* the one-time pad covers the whole protected
				 * message, identity header included: more
				 * than 4 KiB, less than 8 KiB */
				assert_true(bytes > 4096);
				assert_true(bytes < 8192);
			} else {
				assert_int_equal(ob.n_keys, 1);
			}
		}
		qm_store_outbox_item_free(&ob);
	}
}

/* User u's sync of everything (outbox, then each folder); *fetched
 * (may be NULL) gets how many messages it fetched; returns how many chat
 * messages it filed. */
static size_t sync_once(int u, size_t *fetched)
{
	char why[QM_ERR_MSGMAX + 64];
	size_t chat = 0;

	if (world_sync_chat(&W, u, 0, 0, &chat, fetched, why, sizeof(why)))
		fail_msg("%s", why);
	return chat;
}

/* A message file in the Maildir may be there a moment before Dovecot's
 * index (what STATUS and a sync see) has it: syncs until they fetched at
 * least min_fetched messages and filed at least min_chat chat messages
 * (30 s at most); returns the chat messages filed. */
static size_t sync_until(int u, size_t min_fetched, size_t min_chat)
{
	char why[QM_ERR_MSGMAX + 64];
	size_t chat = 0, fetched = 0;

	if (world_sync_chat(&W, u, min_fetched, min_chat, &chat, &fetched,
	                    why, sizeof(why)))
		fail_msg("%s", why);
	print_message("sync of user %d: %zu fetched, %zu chat\n", u, fetched,
	              chat);
	return chat;
}

/* A sync that should find nothing new. */
static size_t sync_user(int u)
{
	return sync_once(u, NULL);
}

/* User u's conversation with peer. */
static struct qm_store_chat conv_with(int u, int peer)
{
	struct qm_store_chat c;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(peer)};

	qm_error_clear(&e);
	if (qm_client_chat_find(W.c[u], W.acct[u], to, 1, &c, &e) != QM_OK)
		fail_msg("no conversation: %s", e.msg);
	return c;
}

/* Bob's conversation with alice holds exactly expect[], in order. */
static void bob_sees_expected(void)
{
	struct qm_store_chat c = conv_with(W_BOB, W_ALICE);
	struct qm_client_chat_item *v = NULL;
	struct qm_error e;
	size_t n = 0;

	qm_error_clear(&e);
	size_t k = 0;

	assert_int_equal(qm_client_chat_messages(W.c[W_BOB], c.id, &v, &n, &e),
	                 QM_OK);
	for (size_t i = 0; i < n; i++)
		print_message("bob's chat %zu: L%d %s %s\n", i, v[i].level,
		              v[i].sender, v[i].text);
	/* alice's messages, in order (bob's own answers aside) */
	for (size_t i = 0; i < n; i++) {
		if (v[i].mine) {
			assert_string_equal(v[i].sender, qmt_mail_addr(W_BOB));
			continue;
		}
		assert_true(k < nexpect);
		assert_string_equal(v[i].text, expect[k]);
		assert_string_equal(v[i].sender, qmt_mail_addr(W_ALICE));
		k++;
	}
	assert_int_equal(k, nexpect);
	qm_client_chat_items_free(&v, n);
}

/* How many of user u's messages the INBOX list shows. */
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

static size_t outbox_size(int u)
{
	struct qm_client_outbox_item *v = NULL;
	struct qm_error e;
	size_t n = 0;

	qm_error_clear(&e);
	assert_int_equal(qm_client_outbox_list(W.c[u], W.acct[u], &v, &n, &e),
	                 QM_OK);
	qm_client_outbox_items_free(&v, n);
	return n;
}

static void test_levels_order_rule(void **state)
{
	struct qm_client_chat_sent out;
	struct qm_error e;
	struct qm_store_chat c;
	int64_t inbox0;
	int have, level1 = 0;
	size_t queued;

	(void)state;
	if (W.skipped)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	inbox0 = inbox_count(W_BOB);
	/* the first message makes the conversation, held to level 2 */
	alice_sends("first, at level 2", 2);
	c = conv_with(W_ALICE, W_BOB);
	assert_int_equal(c.level, 2);
	/* level 3 is weaker: refused before anything is queued */
	queued = outbox_size(W_ALICE);
	assert_int_equal(alice_says("weaker, refused", 3, &out, &e),
	                 QM_ERR_STATE);
	assert_non_null(strstr(e.msg, "held to level 2"));
	assert_int_equal(outbox_size(W_ALICE), queued);
	assert_int_equal(alice_says("weaker, refused", 4, &out, &e),
	                 QM_ERR_STATE);
	/* the user changes it: then 3 and 4 go */
	qm_error_clear(&e);
	assert_int_equal(qm_client_chat_level_set(W.c[W_ALICE], c.id, 4, &e),
	                 QM_OK);
	alice_sends("second, at level 3", 3);
	alice_sends("third, at level 4", 4);
	/* no level: the conversation's */
	if (alice_says("fourth, the conversation's level", 0, &out, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(out.level, 4);
	snprintf(expect[nexpect++], sizeof(expect[0]), "%s",
	         "fourth, the conversation's level");
	/* level 1 when alice's KME holds key for bob in time (a short
	 * message costs about 5 KiB of one-time pad: docs/CHAT.md) */
	if (world_wait_pool(&W, W_ALICE, W_BOB, 16384, 60000) == 0) {
		alice_sends("fifth, at level 1 (one-time pad)", 1);
		level1 = 1;
		nlevel1++;
	} else {
		print_message("level 1 not tried: the KME pool did not fill "
		              "in 60 s\n");
	}
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL,
	                                have + (int)nexpect, 60000) >= 0);
	/* bob's sync files them all as chat, out of INBOX */
	assert_int_equal(sync_until(W_BOB, nexpect, nexpect), nexpect);
	bob_sees_expected();
	assert_int_equal(inbox_count(W_BOB), inbox0);
	assert_int_equal(qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0), have);
	assert_int_equal(qmt_mail_files(&W.mail, W_BOB, "Chats", NULL, 0),
	                 (int)nexpect);
	/* each kept its own level; bob's conversation is at the first one */
	{
		struct qm_client_chat_item *v = NULL;
		size_t n = 0;
		int want[] = {2, 3, 4, 4, 1};

		c = conv_with(W_BOB, W_ALICE);
		assert_int_equal(c.level, 2);
		assert_int_equal(
		    qm_client_chat_messages(W.c[W_BOB], c.id, &v, &n, &e),
		    QM_OK);
		for (size_t i = 0; i < n && i < 5; i++)
			assert_int_equal(v[i].level, want[i]);
		qm_client_chat_items_free(&v, n);
	}
	(void)level1;
}

static void test_no_duplicates(void **state)
{
	struct qm_store_chat *list = NULL;
	struct qm_client_chat_sent out;
	struct qm_error e;
	char files[64][512];
	unsigned char *raw;
	size_t n = 0, len = 0;
	int have;

	(void)state;
	if (W.skipped || !nexpect)
		skip();
	/* a second sync, and a new process on the same home */
	assert_int_equal(sync_user(W_BOB), 0);
	qm_error_clear(&e);
	assert_int_equal(world_reopen(&W, W_BOB, &e), QM_OK);
	assert_int_equal(sync_user(W_BOB), 0);
	bob_sees_expected();
	/* the same message delivered again (a lost SMTP answer): as it
	 * left alice, without the headers the delivery added */
	assert_true(qmt_mail_files(&W.mail, W_BOB, "Chats", files, 64) > 0);
	raw = qmt_mail_read(files[0], &len);
	assert_non_null(raw);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	{
		const char *start = strstr((char *)raw, "\nQMail-Identity:");
		char *crlf;
		size_t k = 0;

		assert_non_null(start);
		start++;
		crlf = malloc(2 * len + 1);
		assert_non_null(crlf);
		for (const char *p = start; *p; p++) {
			if (*p == '\n' && (p == start || p[-1] != '\r'))
				crlf[k++] = '\r';
			crlf[k++] = *p;
		}
		assert_int_equal(
		    qmt_mail_deliver(&W.mail, qmt_mail_addr(W_ALICE),
		                     qmt_mail_addr(W_BOB), crlf, k),
		    0);
		free(crlf);
	}
	free(raw);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000) >
	            have);
	assert_int_equal(sync_until(W_BOB, 1, 0), 0);
	bob_sees_expected();
	/* an SMTP outage: the message waits in the outbox, in the
	 * conversation; sent once when the server is back */
	assert_int_equal(qmt_mail_smtpd_stop(&W.mail), 0);
	assert_int_not_equal(alice_says("during the outage", 0, &out, &e),
	                     QM_OK);
	assert_false(out.sent);
	assert_true(out.chat_id > 0);
	assert_int_equal(qmt_mail_smtpd_start(&W.mail), 0);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	{
		size_t sent = 0, failed = 0;

		for (int t = 0; t < 30 && !sent; t++) {
			int dummy = 0;

			qm_error_clear(&e);
			if (qm_client_outbox_retry(W.c[W_ALICE], out.outbox_id,
			                           &dummy, &e) == QM_OK &&
			    dummy)
				sent = 1;
			else
				sleep(1);
		}
		(void)failed;
		assert_true(sent);
	}
	snprintf(expect[nexpect++], sizeof(expect[0]), "%s",
	         "during the outage");
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000) >
	            have);
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	assert_int_equal(sync_user(W_BOB), 0);
	bob_sees_expected();
	/* unread counts, then read */
	qm_error_clear(&e);
	assert_int_equal(
	    qm_client_chat_list(W.c[W_BOB], W.acct[W_BOB], &list, &n, &e),
	    QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].n_msgs, nexpect);
	assert_int_equal(list[0].unread, nexpect);
	assert_string_equal(list[0].members, qmt_mail_addr(W_ALICE));
	{
		size_t marked = 0;

		assert_int_equal(
		    qm_client_chat_read(W.c[W_BOB], list[0].id, &marked, &e),
		    QM_OK);
		assert_int_equal(marked, nexpect);
	}
	free(list);
	assert_int_equal(
	    qm_client_chat_list(W.c[W_BOB], W.acct[W_BOB], &list, &n, &e),
	    QM_OK);
	assert_int_equal(list[0].unread, 0);
	free(list);
}

static void test_reply_and_own_copies(void **state)
{
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_client_chat_item *v = NULL;
	struct qm_store_chat c;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(W_ALICE)};
	size_t n = 0, sent_by_alice = 0;
	int have;

	(void)state;
	if (W.skipped || !nexpect)
		skip();
	have = qmt_mail_files(&W.mail, W_ALICE, NULL, NULL, 0);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_BOB];
	m.to = to;
	m.nto = 1;
	m.text = "bob answers";
	qm_error_clear(&e);
	if (qm_client_chat_send(W.c[W_BOB], &m, &out, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(out.level, 2); /* bob's conversation's level */
	assert_true(qmt_mail_wait_files(&W.mail, W_ALICE, NULL, have + 1,
	                                30000) > have);
	assert_int_equal(sync_until(W_ALICE, 1, 1), 1);
	assert_int_equal(sync_user(W_ALICE), 0);
	c = conv_with(W_ALICE, W_BOB);
	qm_error_clear(&e);
	assert_int_equal(
	    qm_client_chat_messages(W.c[W_ALICE], c.id, &v, &n, &e), QM_OK);
	/* alice's own messages once each (her Sent copies joined them, not
	 * added), then bob's answer last */
	assert_int_equal(n, nexpect + 1);
	for (size_t i = 0; i < n; i++) {
		print_message("alice's chat %zu: %s %s [%s]\n", i, v[i].sender,
		              v[i].text, v[i].state);
		if (v[i].mine) {
			sent_by_alice++;
			assert_string_equal(v[i].state, "sent");
		}
	}
	assert_int_equal(sent_by_alice, nexpect);
	assert_string_equal(v[n - 1].text, "bob answers");
	assert_false(v[n - 1].mine);
	qm_client_chat_items_free(&v, n);
	/* her Sent copies of chat messages went to Chats as well */
	assert_int_equal(qmt_mail_files(&W.mail, W_ALICE, "Chats", NULL, 0),
	                 (int)(nexpect - nlevel1) + 1);
}

/* Flips one base64 character well inside the envelope of a stored
 * message. */
static void tamper(const char *path)
{
	size_t len = 0;
	unsigned char *d = qmt_mail_read(path, &len);
	char *b64;

	assert_non_null(d);
	b64 = strstr((char *)d, "message.qmail");
	assert_non_null(b64);
	b64 =
	    strstr(b64, "\n\n") ? strstr(b64, "\n\n") : strstr(b64, "\r\n\r\n");
	assert_non_null(b64);
	b64 += 40;
	*b64 = *b64 == 'A' ? 'B' : 'A';
	assert_int_equal(qmt_mail_rewrite(path, d, len), 0);
	free(d);
}

static void test_tampered_and_plain_not_chat(void **state)
{
	struct qm_client_chat_sent out;
	struct qm_error e;
	char files[256][512];
	int have, k;
	int64_t inbox0;
	static const char plain[] =
	    "From: alice@qmail.test\r\nTo: bob@qmail.test\r\n"
	    "Subject: Chat: plain with a chat header\r\n"
	    "Message-ID: <plain-chat-1@qmail.test>\r\n"
	    "Date: Mon, 07 Dec 2026 12:00:00 +0000\r\n"
	    "Chat-Version: 1.0\r\n\r\nnot authenticated\r\n";

	(void)state;
	if (W.skipped || !nexpect)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	inbox0 = inbox_count(W_BOB);
	if (alice_says("altered on the server", 0, &out, &e))
		fail_msg("%s", e.msg);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000) >
	            have);
	k = qmt_mail_files(&W.mail, W_BOB, NULL, files, 256);
	tamper(files[k - 1]);
	assert_int_equal(qmt_mail_deliver(&W.mail, qmt_mail_addr(W_ALICE),
	                                  qmt_mail_addr(W_BOB), plain,
	                                  sizeof(plain) - 1),
	                 0);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 2, 30000) >
	            have + 1);
	/* neither is chat: both stay mail, in INBOX */
	assert_int_equal(sync_until(W_BOB, 2, 0), 0);
	bob_sees_expected();
	assert_int_equal(inbox_count(W_BOB), inbox0 + 2);
	assert_int_equal(qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0),
	                 have + 2);
}

static void test_cli(void **state)
{
	char *out = NULL;
	int have;

	(void)state;
	if (W.skipped || !nexpect)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	/* send: at the conversation's level unless asked; a weaker one is
	 * refused with the way out named */
	assert_int_equal(world_qmail(&W, W_ALICE, &out, "chat", "send",
	                             qmt_mail_addr(W_BOB), "-m",
	                             "from the command line", NULL),
	                 0);
	if (!strstr(out, "sent at level 4"))
		fail_msg("chat send said:\n%s", out);
	snprintf(expect[nexpect++], sizeof(expect[0]), "%s",
	         "from the command line");
	free(out);
	out = NULL;
	assert_int_equal(world_qmail(&W, W_BOB, &out, "chat", "level",
	                             qmt_mail_addr(W_ALICE), "2", NULL),
	                 0);
	free(out);
	out = NULL;
	assert_int_not_equal(world_qmail(&W, W_BOB, &out, "chat", "send",
	                                 qmt_mail_addr(W_ALICE), "-m", "weak",
	                                 "--level", "3", NULL),
	                     0);
	if (!strstr(out, "held to level 2") || !strstr(out, "chat level"))
		fail_msg("a weaker level said:\n%s", out);
	free(out);
	out = NULL;
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000) >
	            have);
	/* (Dovecot's index may have it a moment after the file) */
	for (int t = 0; t < 50; t++) {
		free(out);
		out = NULL;
		assert_int_equal(world_qmail(&W, W_BOB, &out, "sync", NULL), 0);
		if (strstr(out, "chat message"))
			break;
		usleep(200 * 1000);
	}
	if (!strstr(out, "1 chat message filed"))
		fail_msg("sync said:\n%s", out);
	free(out);
	out = NULL;
	/* list: the conversation with its unread count */
	assert_int_equal(world_qmail(&W, W_BOB, &out, "chat", "list", NULL), 0);
	if (!strstr(out, qmt_mail_addr(W_ALICE)) || !strstr(out, "UNREAD"))
		fail_msg("chat list said:\n%s", out);
	free(out);
	out = NULL;
	/* show: in order, the last one new, then read */
	assert_int_equal(world_qmail(&W, W_BOB, &out, "chat", "show",
	                             qmt_mail_addr(W_ALICE), NULL),
	                 0);
	{
		char *a = strstr(out, "first, at level 2");
		char *b = strstr(out, "from the command line");

		if (!a || !b || a > b || !strstr(out, "L4  new"))
			fail_msg("chat show said:\n%s", out);
	}
	free(out);
	out = NULL;
	assert_int_equal(world_qmail(&W, W_BOB, &out, "chat", "show",
	                             qmt_mail_addr(W_ALICE), NULL),
	                 0);
	if (strstr(out, "  new\n"))
		fail_msg("read messages still new:\n%s", out);
	free(out);
	out = NULL;
	/* no such conversation, no such subcommand */
	assert_int_equal(world_qmail(&W, W_BOB, &out, "chat", "show",
	                             "nobody@qmail.test", NULL),
	                 1);
	free(out);
	out = NULL;
	assert_int_equal(world_qmail(&W, W_BOB, &out, "chat", "bogus",
	                             qmt_mail_addr(W_ALICE), NULL),
	                 2);
	free(out);
}

/* A group of three (carol over POP3): one conversation per member, keyed
 * by its Chat-Group-ID, whoever writes; its members as each sees them. */
static void test_group(void **state)
{
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out, out2;
	struct qm_store_chat g_bob, g_carol, g_alice;
	struct qm_client_chat_item *v = NULL;
	struct qm_error e;
	const char *to_a[] = {qmt_mail_addr(W_BOB), qmt_mail_addr(W_CAROL)};
	const char *to_b[] = {qmt_mail_addr(W_CAROL), qmt_mail_addr(W_ALICE)};
	size_t n = 0;
	int hb, hc, ha;

	(void)state;
	if (W.skipped)
		skip();
	hb = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	hc = qmt_mail_files(&W.mail, W_CAROL, NULL, NULL, 0);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to_a;
	m.nto = 2;
	m.text = "hello group";
	m.level = 3;
	qm_error_clear(&e);
	if (qm_client_chat_send(W.c[W_ALICE], &m, &out, &e))
		fail_msg("group send: %s", e.msg);
	assert_true(out.sent);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, hb + 1, 30000) >
	            hb);
	assert_true(qmt_mail_wait_files(&W.mail, W_CAROL, NULL, hc + 1, 30000) >
	            hc);
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	assert_int_equal(sync_until(W_CAROL, 1, 1), 1);
	/* each member has the group with the two others */
	qm_error_clear(&e);
	assert_int_equal(
	    qm_client_chat_find(W.c[W_BOB], W.acct[W_BOB], to_b, 2, &g_bob, &e),
	    QM_OK);
	assert_int_equal(strlen(g_bob.group_id), 32);
	assert_string_equal(g_bob.members, "alice@qmail.test,carol@qmail.test");
	assert_int_equal(g_bob.level, 3);
	{
		const char *ab[] = {qmt_mail_addr(W_ALICE),
		                    qmt_mail_addr(W_BOB)};

		assert_int_equal(qm_client_chat_find(W.c[W_CAROL],
		                                     W.acct[W_CAROL], ab, 2,
		                                     &g_carol, &e),
		                 QM_OK);
	}
	assert_string_equal(g_carol.group_id, g_bob.group_id);
	assert_string_equal(g_carol.members, "alice@qmail.test,bob@qmail.test");
	/* carol's POP3 account files it in her local Chats folder: her
	 * INBOX list no longer shows it */
	{
		struct qm_store_query q;
		struct qm_store_msglist *l = NULL;

		memset(&q, 0, sizeof(q));
		q.account_id = W.acct[W_CAROL];
		q.folder = "Chats";
		assert_int_equal(qm_client_msg_list(W.c[W_CAROL], &q, &l, &e),
		                 QM_OK);
		assert_int_equal(l->n, 1);
		qm_client_msglist_free(&l);
	}
	/* bob answers the group (the members in another order): the same
	 * group at alice's, not a new conversation */
	ha = qmt_mail_files(&W.mail, W_ALICE, NULL, NULL, 0);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_BOB];
	m.to = to_b;
	m.nto = 2;
	m.text = "bob to the group";
	qm_error_clear(&e);
	if (qm_client_chat_send(W.c[W_BOB], &m, &out2, &e))
		fail_msg("group answer: %s", e.msg);
	assert_int_equal(out2.chat_id, g_bob.id);
	assert_int_equal(out2.level, 3);
	assert_true(qmt_mail_wait_files(&W.mail, W_ALICE, NULL, ha + 1, 30000) >
	            ha);
	assert_int_equal(sync_until(W_ALICE, 1, 1), 1);
	assert_int_equal(qm_client_chat_find(W.c[W_ALICE], W.acct[W_ALICE],
	                                     to_a, 2, &g_alice, &e),
	                 QM_OK);
	assert_int_equal(g_alice.id, out.chat_id);
	assert_int_equal(
	    qm_client_chat_messages(W.c[W_ALICE], g_alice.id, &v, &n, &e),
	    QM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].text, "hello group");
	assert_true(v[0].mine);
	assert_string_equal(v[1].text, "bob to the group");
	assert_string_equal(v[1].sender, qmt_mail_addr(W_BOB));
	qm_client_chat_items_free(&v, n);
}

/* Someone outside a group who names its Chat-Group-ID gets no voice in
 * it: bob holds a group with alice and dave; carol, not a member, sends
 * him a verified level-3 chat message naming that group. It is not filed
 * in the group (it stays mail, in INBOX). */
static void test_group_outsider(void **state)
{
	static const char gid[] = "00112233445566778899aabbccddeeff";
	struct qm_store_chat g, got;
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_client_chat_item *v = NULL;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	int64_t gid_row = 0, inbox;
	size_t n = 9;
	int hb;

	(void)state;
	if (W.skipped)
		skip();
	memset(&g, 0, sizeof(g));
	g.account_id = W.acct[W_BOB];
	snprintf(g.key, sizeof(g.key), "g:%s", gid);
	snprintf(g.group_id, sizeof(g.group_id), "%s", gid);
	snprintf(g.members, sizeof(g.members),
	         "alice@qmail.test,dave@qmail.test");
	g.level = 3;
	qm_error_clear(&e);
	assert_int_equal(
	    qm_store_chat_add(qm_client_store(W.c[W_BOB]), &g, &gid_row, &e),
	    QM_OK);
	inbox = inbox_count(W_BOB);
	hb = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_CAROL];
	m.to = to;
	m.nto = 1;
	m.subject = "Chat: let me in";
	m.text = "let me in";
	m.level = 3;
	m.chat = 1;
	m.chat_group_id = gid;
	if (qm_client_send(W.c[W_CAROL], &m, NULL, NULL, &sent, &e))
		fail_msg("carol's send: %s", e.msg);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, hb + 1, 30000) >
	            hb);
	assert_int_equal(sync_until(W_BOB, 1, 0), 0);
	/* the group holds nothing of hers; the message is mail in INBOX */
	assert_int_equal(qm_store_chat_get(qm_client_store(W.c[W_BOB]),
	                                   W.acct[W_BOB], g.key, &got, &e),
	                 QM_OK);
	assert_int_equal(
	    qm_client_chat_messages(W.c[W_BOB], got.id, &v, &n, &e), QM_OK);
	assert_int_equal(n, 0);
	qm_client_chat_items_free(&v, n);
	assert_int_equal(inbox_count(W_BOB), inbox + 1);
}

/* One level-2 key that user from's KME makes for user to. */
static void l2_key(int from, int to, struct qm_kms_keys **ks,
                   struct qm_qkey *qk)
{
	struct qm_kms *kms = NULL;
	struct qm_error e;

	qm_error_clear(&e);
	assert_int_equal(craft_kms(&W, from, &kms), 0);
	assert_int_equal(qm_kms_keys_get(kms, W.sae[to], 1, QM_L2_KEYBYTES * 8,
	                                 NULL, 0, ks, &e),
	                 QM_OK);
	qm_kms_free(&kms);
	qk->key_id = qm_kms_keys_id(*ks, 0);
	qk->key = qm_kms_keys_key(*ks, 0, &qk->len);
}

/* A level-2 chat message built by hand (craft.h) From alice, its keys
 * made by sender's SAE, delivered to bob. */
static void craft_chat(int sender, const char *text)
{
	struct qm_kms_keys *ks = NULL;
	struct qm_qkey qk;
	struct craft_msg m;
	struct qm_buf wire;

	l2_key(sender, W_BOB, &ks, &qk);
	memset(&m, 0, sizeof(m));
	m.level = 2;
	m.from = qmt_mail_addr(W_ALICE);
	m.to = qmt_mail_addr(W_BOB);
	m.subject = "Chat: crafted";
	m.text = text;
	m.sender_sae = W.sae[sender];
	m.rcpt_sae = W.sae[W_BOB];
	m.keys = &qk;
	m.nkeys = 1;
	m.inner_head = "Chat-Version: 1.0\r\n";
	qm_buf_init(&wire, 1 << 20);
	assert_int_equal(craft_build(&m, &wire, NULL), 0);
	assert_int_equal(craft_deliver(&W, W_BOB, wire.data, wire.len), 0);
	qm_buf_free(&wire);
	qm_kms_keys_free(&ks);
}

/* Sender binding (invariant 14) before chat: the same hand-built chat
 * message is chat from alice's SAE, and stays mail (unverified sender,
 * in INBOX) when carol's SAE made its keys. */
static void test_unverified_sender_not_chat(void **state)
{
	int64_t inbox0;

	(void)state;
	if (W.skipped || !nexpect)
		skip();
	craft_chat(W_ALICE, "crafted by alice\n");
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	snprintf(expect[nexpect++], sizeof(expect[0]), "%s",
	         "crafted by alice");
	bob_sees_expected();
	inbox0 = inbox_count(W_BOB);
	craft_chat(W_CAROL, "carol as alice\n");
	assert_int_equal(sync_until(W_BOB, 1, 0), 0);
	bob_sees_expected();
	assert_int_equal(inbox_count(W_BOB), inbox0 + 1);
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

/* Waits until the file at path holds text (a process's log). */
static int log_has(const char *path, const char *text, int timeout_ms)
{
	for (int t = 0; t < timeout_ms / 100; t++) {
		char *d = qmt_read_file(path, NULL);
		int hit = d && strstr(d, text);

		free(d);
		if (hit)
			return 1;
		usleep(100 * 1000);
	}
	return 0;
}

/* `qmail chat open` as a person uses it: alice's line mode, a line typed
 * into it goes to bob, and bob's answer appears in it as it arrives
 * (IMAP IDLE); Ctrl-D (end of input) leaves with exit 0. */
static void test_open(void **state)
{
	char dir[600], fifo[700], logf[700], pw[700], cmd[3000], *d;
	char *argv[4], env[800];
	char *envp[2] = {env, NULL};
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(W_ALICE)};
	pid_t pid;
	int fd;

	(void)state;
	if (W.skipped || !nexpect)
		skip();
	snprintf(dir, sizeof(dir), "%s", W.mail.dir);
	snprintf(fifo, sizeof(fifo), "%s/chat-open.in", dir);
	snprintf(logf, sizeof(logf), "%s/chat-open.log", dir);
	snprintf(pw, sizeof(pw), "%s/passphrase", dir);
	assert_int_equal(qmt_write_file(pw, WORLD_PASS "\n"), 0);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	snprintf(cmd, sizeof(cmd),
	         "'%s/src/cli/qmail' --home '%s' -q chat open %s < '%s'; "
	         "echo \"exit=$?\"",
	         qmt_binary_dir(), W.homes[W_ALICE], qmt_mail_addr(W_BOB),
	         fifo);
	snprintf(env, sizeof(env), "QMAIL_PASSPHRASE_FILE=%s", pw);
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = cmd;
	argv[3] = NULL;
	pid = qmt_spawn(argv, envp, logf);
	assert_true(pid > 0);
	fd = open(fifo, O_WRONLY); /* once the shell opened it to read */
	assert_true(fd >= 0);
	if (!log_has(logf, "-- type a line", 30000))
		goto fail;
	/* the conversation so far, then a line typed */
	if (!log_has(logf, "first, at level 2", 1000))
		goto fail;
	assert_int_equal(write(fd, "typed in open\n", 14), 14);
	if (!log_has(logf, "typed in open", 60000))
		goto fail;
	snprintf(expect[nexpect++], sizeof(expect[0]), "%s", "typed in open");
	/* bob answers: it shows up in alice's line mode by itself */
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_BOB];
	m.to = to;
	m.nto = 1;
	m.text = "bob while alice is open";
	qm_error_clear(&e);
	if (qm_client_chat_send(W.c[W_BOB], &m, &out, &e))
		fail_msg("%s", e.msg);
	if (!log_has(logf, "bob while alice is open", 60000))
		goto fail;
	/* end of input: it leaves, exit 0 */
	close(fd);
	fd = -1;
	if (!log_has(logf, "exit=0", 30000))
		goto fail;
	qmt_stop(pid);
	d = qmt_read_file(logf, NULL);
	print_message("chat open said:\n%s\n", d ? d : "");
	free(d);
	/* bob has the line alice typed, in its place */
	assert_int_equal(sync_until(W_BOB, 1, 1), 1);
	bob_sees_expected();
	return;
fail:
	if (fd >= 0)
		close(fd);
	qmt_stop(pid);
	d = qmt_read_file(logf, NULL);
	fail_msg("chat open said:\n%s", d ? d : "(nothing)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_levels_order_rule),
	    cmocka_unit_test(test_no_duplicates),
	    cmocka_unit_test(test_reply_and_own_copies),
	    cmocka_unit_test(test_tampered_and_plain_not_chat),
	    cmocka_unit_test(test_cli),
	    cmocka_unit_test(test_open),
	    cmocka_unit_test(test_group),
	    cmocka_unit_test(test_group_outsider),
	    cmocka_unit_test(test_unverified_sender_not_chat),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
