/* SPDX-License-Identifier: MIT */
/*
 * A chat message seen by a plain mail client (issue 20, docs/CHAT.md "The
 * message"), through the real OpenSMTPD, Dovecot and qkme of
 * tests/lib/world.h: alice sends bob a chat message at each level (4, 3,
 * 2, 1); before bob's QMail touches it, Python's imaplib
 * (tests/integration/chat_plain_client.py, no QMail code) fetches it raw
 * from bob's INBOX and finds the placeholder Subject, a short readable
 * notice and the attachment message.qmail, and the chat text nowhere in
 * clear (raw, decoded parts, inner Subject, chat headers). Then bob's sync
 * files it and moves it to Chats, alice's sync moves her Sent copy to her
 * Chats (levels 2-4: level 1 keeps none), and the plain client finds the
 * same of both copies there.
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

#include <sodium.h>

#include "harness.h"
#include "qmtest.h"
#include "world.h"

static struct world W;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "chatplain", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

/* The plain client's look at message msgid in user's folder: its exit
 * code (0: every check held), its output shown. */
static int plain_look(int user, const char *folder, const char *msgid,
                      const char *secret)
{
	char script[800], log[800], out[800], port[16];
	char *text;
	int rc;

	snprintf(script, sizeof(script),
	         "%s/tests/integration/chat_plain_client.py", qmt_source_dir());
	snprintf(log, sizeof(log), "%s/plain_client.log", W.mail.dir);
	snprintf(out, sizeof(out), "%s/plain_client.eml", W.mail.dir);
	snprintf(port, sizeof(port), "%d", W.mail.imaps_port);
	remove(log);
	{
		char *argv[] = {"python3",
		                script,
		                "127.0.0.1",
		                W.mail.ca_file,
		                port,
		                (char *)(uintptr_t)qmt_mail_addr(user),
		                (char *)(uintptr_t)qmt_mail_password(user),
		                (char *)(uintptr_t)folder,
		                (char *)(uintptr_t)msgid,
		                (char *)(uintptr_t)secret,
		                out,
		                NULL};

		rc = qmt_run(argv, log);
	}
	text = qmt_read_file(log, NULL);
	print_message("plain client, %s's %s:\n%s", qmt_mail_user(user), folder,
	              text ? text : "(no output)\n");
	free(text);
	return rc;
}

static void sync_all(int u)
{
	struct qm_client_sync_all out;
	struct qm_error e;

	qm_error_clear(&e);
	assert_int_equal(
	    qm_client_sync_all(W.c[u], W.acct[u], NULL, NULL, NULL, &out, &e),
	    QM_OK);
	if (out.first_error[0])
		fail_msg("sync: %s", out.first_error);
}

/* Syncs user u until message msgid is in the server folder Chats (moved
 * by the chat step), 30 s at most. */
static void sync_until_in_chats(int u, size_t want)
{
	for (int t = 0; t < 150; t++) {
		sync_all(u);
		if (qmt_mail_files(&W.mail, u, "Chats", NULL, 0) >= (int)want)
			return;
		usleep(200 * 1000);
	}
	fail_msg("%s's Chats folder did not get %zu messages in 30 s",
	         qmt_mail_user(u), want);
}

static void test_plain_client_view(void **state)
{
	static const int levels[] = {4, 3, 2, 1};
	size_t bob_chats = 0, alice_chats = 0;

	(void)state;
	if (W.skipped)
		skip();
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		int level = levels[i];
		const char *to[] = {qmt_mail_addr(W_BOB)};
		struct qm_client_chat_out m;
		struct qm_client_chat_sent out;
		unsigned char rnd[8];
		char secret[128], hex[17], msgid[QM_STORE_NAMEMAX * 2 + 4];
		struct qm_error e;
		int inbox = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);

		if (level == 1)
			assert_int_equal(
			    world_wait_pool(&W, W_ALICE, W_BOB, 16384, 120000),
			    0);
		randombytes_buf(rnd, sizeof(rnd));
		sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
		snprintf(secret, sizeof(secret),
		         "Meet me at the harbour, level %d, word %s", level,
		         hex);
		memset(&m, 0, sizeof(m));
		m.account_id = W.acct[W_ALICE];
		m.to = to;
		m.nto = 1;
		m.text = secret;
		m.level = level;
		qm_error_clear(&e);
		if (qm_client_chat_send(W.c[W_ALICE], &m, &out, &e) != QM_OK)
			fail_msg("chat send at level %d: %s", level, e.msg);
		assert_true(out.sent);
		assert_int_equal(out.level, level);
		assert_true(out.message_id[0] != '\0');
		/* the Message-ID as the header writes it */
		snprintf(msgid, sizeof(msgid), "%s%s%s",
		         out.message_id[0] == '<' ? "" : "<", out.message_id,
		         out.message_id[0] == '<' ? "" : ">");
		assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, inbox + 1,
		                                60000) >= inbox + 1);

		/* in bob's INBOX, before his QMail touched it */
		assert_int_equal(plain_look(W_BOB, "INBOX", msgid, secret), 0);

		/* bob's QMail files it and moves it to Chats */
		sync_until_in_chats(W_BOB, ++bob_chats);
		{
			struct qm_store_chat conv;
			const char *with[] = {qmt_mail_addr(W_ALICE)};
			struct qm_client_chat_item *v = NULL;
			size_t n = 0;

			assert_int_equal(
			    qm_client_chat_find(W.c[W_BOB], W.acct[W_BOB], with,
			                        1, &conv, &e),
			    QM_OK);
			assert_int_equal(qm_client_chat_messages(
			                     W.c[W_BOB], conv.id, &v, &n, &e),
			                 QM_OK);
			assert_true(n > 0);
			/* bob reads it in QMail: the text is there */
			assert_string_equal(v[n - 1].text, secret);
			qm_client_chat_items_free(&v, n);
		}
		assert_int_equal(plain_look(W_BOB, "Chats", msgid, secret), 0);

		/* alice's Sent copy (sealed to herself; none at level 1)
		 * moves to her Chats */
		if (level > 1) {
			sync_until_in_chats(W_ALICE, ++alice_chats);
			assert_int_equal(
			    plain_look(W_ALICE, "Chats", msgid, secret), 0);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_client_view),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
