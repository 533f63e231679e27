/* SPDX-License-Identifier: MIT */
/*
 * The store's conversations (schema 14, docs/CHAT.md): the upgrade from
 * 13 (older messages not looked at again), a Message-ID once per
 * conversation, order by time then arrival, texts sealed, read marks and
 * unread counts, moves due, and the conversation's level as a label: a
 * level or member list edited on disk reads as altered.
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

#include "core/core.h"
#include "harness.h"
#include "store/store.h"

#define PASS "chat pass"

static void edit(const char *home, const char *sql)
{
	sqlite3 *db;
	char path[600];
	char *msg = NULL;

	snprintf(path, sizeof(path), "%s/qmail.db", home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

/* A received message row of account acct (level 2, verified). */
static int64_t add_msg(struct qm_store *s, int64_t acct, const char *mid)
{
	struct qm_store_msg m;
	struct qm_error e;
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	m.account_id = acct;
	m.folder = "INBOX";
	m.message_id = mid;
	m.from_addr = "bob@example.org";
	m.to_addrs = "alice@example.org";
	m.date = 1000;
	m.level = 2;
	m.verify = QM_VERIFY_OK;
	assert_int_equal(qm_store_msg_add(s, &m, "Chat: x", NULL, 0, "MIME", 4,
	                                  "text", &id, &e),
	                 QM_OK);
	return id;
}

static void test_chat(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store *s = NULL;
	struct qm_store_account a;
	struct qm_store_chat c, got, *list = NULL;
	struct qm_store_chat_msg m, *v = NULL;
	struct qm_error e;
	char home[512];
	int64_t old, fresh, last = -1, *ids = NULL;
	size_t n = 0;
	int added = -1;

	(void)state;
	setenv("QM_STORE_KDF", "fast", 1);
	assert_int_equal(qmt_tmpdir("store-chat", home, sizeof(home)), 0);
	/* a home of schema 13 with one message */
	o.schema_max = 13;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	old = add_msg(s, a.id, "<old@example.org>");
	qm_store_close(&s);

	/* upgraded: the old message is behind the watermark */
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_true(qm_store_schema_version(s) >= 14);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_chat_scan_get(s, a.id, &last, &e), QM_OK);
	assert_int_equal(last, old);
	fresh = add_msg(s, a.id, "<new@example.org>");
	assert_int_equal(
	    qm_store_chat_candidates(s, a.id, last, 10, &ids, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], fresh);
	free(ids);
	ids = NULL;
	assert_int_equal(qm_store_chat_scan_set(s, a.id, fresh, &e), QM_OK);
	/* the watermark never goes back */
	assert_int_equal(qm_store_chat_scan_set(s, a.id, old, &e), QM_OK);
	assert_int_equal(qm_store_chat_scan_get(s, a.id, &last, &e), QM_OK);
	assert_int_equal(last, fresh);

	/* a conversation, once per key */
	memset(&c, 0, sizeof(c));
	c.account_id = a.id;
	qm_strlcpy(c.key, "1:bob@example.org", sizeof(c.key));
	qm_strlcpy(c.members, "bob@example.org", sizeof(c.members));
	c.level = 2;
	assert_int_equal(qm_store_chat_add(s, &c, &c.id, &e), QM_OK);
	assert_int_equal(qm_store_chat_add(s, &c, NULL, &e), QM_ERR_EXISTS);
	assert_int_equal(
	    qm_store_chat_get(s, a.id, "1:bob@example.org", &got, &e), QM_OK);
	assert_int_equal(got.id, c.id);
	assert_int_equal(got.level, 2);
	assert_int_equal(got.label, QM_LABEL_OK);

	/* messages: each Message-ID once; ordered by time, then arrival */
	memset(&m, 0, sizeof(m));
	m.chat_id = c.id;
	qm_strlcpy(m.message_id, "<b@x>", sizeof(m.message_id));
	qm_strlcpy(m.sender, "bob@example.org", sizeof(m.sender));
	m.at = 2000;
	m.level = 2;
	m.msg_id = fresh;
	assert_int_equal(qm_store_chat_msg_add(s, &m, "second", &added, &e),
	                 QM_OK);
	assert_int_equal(added, 1);
	assert_int_equal(qm_store_chat_msg_add(s, &m, "again", &added, &e),
	                 QM_OK);
	assert_int_equal(added, 0);
	qm_strlcpy(m.message_id, "<a@x>", sizeof(m.message_id));
	m.at = 1500;
	m.msg_id = 0;
	m.outbox_id = 7;
	qm_strlcpy(m.sender, "alice@example.org", sizeof(m.sender));
	assert_int_equal(qm_store_chat_msg_add(s, &m, "first", &added, &e),
	                 QM_OK);
	assert_int_equal(added, 1);
	assert_int_equal(qm_store_chat_msgs(s, c.id, &v, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].text, "first");
	assert_int_equal(v[0].outbox_id, 7);
	assert_string_equal(v[1].text, "second");
	assert_int_equal(v[1].msg_id, fresh);
	qm_store_chat_msgs_free(&v, n);
	/* the text is sealed: not in the file in clear */
	{
		sqlite3 *db;
		sqlite3_stmt *st;
		char path[600];
		int clear = 0;

		snprintf(path, sizeof(path), "%s/qmail.db", home);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(
		    sqlite3_prepare_v2(db,
		                       "SELECT count(*) FROM "
		                       "chat_msg WHERE instr(text, "
		                       "'second') > 0",
		                       -1, &st, NULL),
		    SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		clear = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
		sqlite3_close(db);
		assert_int_equal(clear, 0);
	}

	/* unread counts and read marks; moves due */
	assert_int_equal(qm_store_chat_list(s, a.id, &list, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(list[0].n_msgs, 2);
	assert_int_equal(list[0].unread, 1);
	assert_int_equal(list[0].last_at, 2000);
	free(list);
	assert_int_equal(qm_store_chat_unmoved(s, a.id, &ids, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], fresh);
	free(ids);
	assert_int_equal(qm_store_chat_moved(s, fresh, &e), QM_OK);
	assert_int_equal(qm_store_chat_unmoved(s, a.id, &ids, &n, &e), QM_OK);
	assert_int_equal(n, 0);
	free(ids);
	assert_int_equal(qm_store_chat_seen(s, c.id, &ids, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], fresh);
	free(ids);
	assert_int_equal(qm_store_chat_list(s, a.id, &list, &n, &e), QM_OK);
	assert_int_equal(list[0].unread, 0);
	free(list);
	assert_int_equal(qm_store_chat_msg_find(s, a.id, "<a@x>", &m, &e),
	                 QM_OK);
	assert_int_equal(m.outbox_id, 7);
	assert_int_equal(qm_store_chat_msg_find(s, a.id, "<none@x>", &m, &e),
	                 QM_ERR_NOTFOUND);

	/* the level is a label: set by QMail it reads OK, edited on disk
	 * (made weaker, or members changed) it reads as altered */
	assert_int_equal(qm_store_chat_level_set(s, c.id, 1, &e), QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_int_equal(got.level, 1);
	assert_int_equal(got.label, QM_LABEL_OK);
	qm_store_close(&s);
	edit(home, "UPDATE chat SET level = 4");
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_int_equal(got.label, QM_LABEL_ALTERED);
	/* the user sets it again: trusted again */
	assert_int_equal(qm_store_chat_level_set(s, c.id, 2, &e), QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_int_equal(got.label, QM_LABEL_OK);
	qm_store_close(&s);
	edit(home, "UPDATE chat SET members = 'mallory@example.org'");
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_int_equal(got.label, QM_LABEL_ALTERED);
	/* a conversation goes with its account */
	assert_int_equal(qm_store_account_delete(s, a.id, &e), QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e),
	                 QM_ERR_NOTFOUND);
	qm_store_close(&s);
	qmt_rmtree(home);
}

/* Schema 15 (docs/CHAT.md "Groups"): a membership change is a line and
 * the new members in one step, once per Message-ID; the removed flag is
 * bound by the label MAC (edited on disk: altered, as members are); a
 * change's kind edited on disk opens no text. */
static void test_change(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store *s = NULL;
	struct qm_store_account a;
	struct qm_store_chat c, got;
	struct qm_store_chat_msg m, *v = NULL;
	struct qm_error e;
	char home[512];
	size_t n = 0;
	int added = -1;

	(void)state;
	setenv("QM_STORE_KDF", "fast", 1);
	assert_int_equal(qmt_tmpdir("store-chat15", home, sizeof(home)), 0);
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_true(qm_store_schema_version(s) >= 15);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 1;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	memset(&c, 0, sizeof(c));
	c.account_id = a.id;
	qm_strlcpy(c.key, "g:0123", sizeof(c.key));
	qm_strlcpy(c.group_id, "0123", sizeof(c.group_id));
	qm_strlcpy(c.members, "bob@example.org,carol@example.org",
	           sizeof(c.members));
	c.level = 1;
	assert_int_equal(qm_store_chat_add(s, &c, &c.id, &e), QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_int_equal(got.label, QM_LABEL_OK);
	assert_int_equal(got.removed, 0);
	/* carol removed: the line and the members at once, once */
	memset(&m, 0, sizeof(m));
	m.chat_id = c.id;
	m.kind = QM_CHAT_MEMBER_REMOVED;
	qm_strlcpy(m.message_id, "<rm@x>", sizeof(m.message_id));
	qm_strlcpy(m.sender, "bob@example.org", sizeof(m.sender));
	m.at = 3000;
	m.level = 1;
	assert_int_equal(qm_store_chat_change(s, &m, "carol@example.org",
	                                      "bob@example.org", 0, &added, &e),
	                 QM_OK);
	assert_int_equal(added, 1);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_string_equal(got.members, "bob@example.org");
	assert_int_equal(got.label, QM_LABEL_OK);
	/* the same message again changes nothing (carol stays out) */
	assert_int_equal(qm_store_chat_change(s, &m, "bob@example.org",
	                                      "bob@example.org,"
	                                      "carol@example.org",
	                                      0, &added, &e),
	                 QM_OK);
	assert_int_equal(added, 0);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_string_equal(got.members, "bob@example.org");
	/* a plain line is no change */
	m.kind = QM_CHAT_TEXT;
	assert_int_equal(qm_store_chat_change(s, &m, "x", "y", 0, NULL, &e),
	                 QM_ERR_INVAL);
	/* the account itself removed: bound by the label */
	m.kind = QM_CHAT_MEMBER_REMOVED;
	qm_strlcpy(m.message_id, "<rm2@x>", sizeof(m.message_id));
	assert_int_equal(qm_store_chat_change(s, &m, "alice@example.org",
	                                      "bob@example.org", 1, &added, &e),
	                 QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_int_equal(got.removed, 1);
	assert_int_equal(got.label, QM_LABEL_OK);
	assert_int_equal(qm_store_chat_msgs(s, c.id, &v, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].kind, QM_CHAT_MEMBER_REMOVED);
	assert_string_equal(v[0].text, "carol@example.org");
	qm_store_chat_msgs_free(&v, n);
	qm_store_close(&s);
	/* put back in on disk: altered (nothing is sent in it) */
	edit(home, "UPDATE chat SET removed = 0");
	/* a change's kind edited into a message: its text does not open */
	edit(home, "UPDATE chat_msg SET kind = 0 WHERE message_id = '<rm@x>'");
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, c.id, &got, &e), QM_OK);
	assert_int_equal(got.label, QM_LABEL_ALTERED);
	assert_int_equal(qm_store_chat_msgs(s, c.id, &v, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].kind, QM_CHAT_TEXT);
	assert_null(v[0].text);
	assert_non_null(v[1].text);
	qm_store_chat_msgs_free(&v, n);
	qm_store_close(&s);
	qmt_rmtree(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chat),
	    cmocka_unit_test(test_change),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
