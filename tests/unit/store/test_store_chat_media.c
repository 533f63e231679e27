/* SPDX-License-Identifier: MIT */
/*
 * The store's chat media and read state (schema 16, docs/CHAT.md
 * "Attachments", "Read receipts"): a conversation's label is what
 * schema 14 made it while receipts are off; the opt-in is bound
 * by the label MAC (switched on by an edit of the file, the conversation
 * reads as altered); a receipt's read mark reaches only a message this
 * home sent in that conversation (invariant 39); receipts (QM_CHAT_RECEIPT) are
 * neither listed nor counted; a message's file list is sealed and bound
 * to its row.
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

#define PASS "chat media pass"

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

/* Does the file hold the bytes s? */
static int file_has(const char *home, const char *s)
{
	char path[600];
	size_t n = 0;
	char *d;
	int found = 0;

	snprintf(path, sizeof(path), "%s/qmail.db", home);
	d = qmt_read_file(path, &n);
	for (size_t i = 0; d && i + strlen(s) <= n && !found; i++)
		found = !memcmp(d + i, s, strlen(s));
	free(d);
	return found;
}

static int64_t conv(struct qm_store *s, int64_t acct, const char *who)
{
	struct qm_store_chat c;
	struct qm_error e;

	memset(&c, 0, sizeof(c));
	c.account_id = acct;
	snprintf(c.key, sizeof(c.key), "1:%s", who);
	snprintf(c.members, sizeof(c.members), "%s", who);
	c.level = 2;
	assert_int_equal(qm_store_chat_add(s, &c, &c.id, &e), QM_OK);
	return c.id;
}

/* A message of conversation chat: sent from here (outbox 1 + n) or not. */
static int64_t msg(struct qm_store *s, int64_t chat, const char *mid, int mine,
                   int kind, const char *att)
{
	struct qm_store_chat_msg m;
	struct qm_error e;
	int added = 0;
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	m.chat_id = chat;
	snprintf(m.message_id, sizeof(m.message_id), "%s", mid);
	snprintf(m.sender, sizeof(m.sender), "%s",
	         mine ? "alice@example.org" : "bob@example.org");
	m.at = 1000;
	m.level = 2;
	m.outbox_id = mine ? 7 : 0;
	m.kind = kind;
	m.att = att ? strdup(att) : NULL;
	assert_int_equal(qm_store_chat_msg_add(s, &m, "hi", &added, &e), QM_OK);
	assert_int_equal(added, 1);
	free(m.att);
	assert_int_equal(qm_store_chat_msg_find(s, 1, mid, &m, &e), QM_OK);
	id = m.id;
	return id;
}

static void test_chat_media(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store *s = NULL;
	struct qm_store_account a;
	struct qm_store_chat got, *list = NULL;
	struct qm_store_chat_msg m, *v = NULL;
	struct qm_error e;
	char home[512], **mids = NULL;
	int64_t bob, carol, mine, theirs, att_id;
	size_t n = 0;
	int changed = -1;

	(void)state;
	setenv("QM_STORE_KDF", "fast", 1);
	assert_int_equal(qmt_tmpdir("store-chatmedia", home, sizeof(home)), 0);
	/* a conversation as schema 14 made it: receipts off, its MAC the
	 * one schema 14 computed (the opt-in is bound only when on) */
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_true(qm_store_schema_version(s) >= 16);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	assert_int_equal(a.id, 1);
	bob = conv(s, a.id, "bob@example.org");
	assert_int_equal(qm_store_chat_get_id(s, bob, &got, &e), QM_OK);
	assert_int_equal(got.label, QM_LABEL_OK);
	assert_int_equal(got.receipts, 0);
	/* the opt-in, set by the user: still OK; set by an edit: altered */
	assert_int_equal(qm_store_chat_receipts_set(s, bob, 1, &e), QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, bob, &got, &e), QM_OK);
	assert_int_equal(got.receipts, 1);
	assert_int_equal(got.label, QM_LABEL_OK);
	assert_int_equal(qm_store_chat_receipts_set(s, bob, 0, &e), QM_OK);
	carol = conv(s, a.id, "carol@example.org");
	qm_store_close(&s);
	edit(home, "UPDATE chat SET receipts = 1");
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, bob, &got, &e), QM_OK);
	assert_int_equal(got.label, QM_LABEL_ALTERED);
	assert_int_equal(qm_store_chat_receipts_set(s, bob, 0, &e), QM_OK);
	assert_int_equal(qm_store_chat_receipts_set(s, carol, 0, &e), QM_OK);
	assert_int_equal(qm_store_chat_get_id(s, bob, &got, &e), QM_OK);
	assert_int_equal(got.label, QM_LABEL_OK);

	/* read marks: only a message sent from here, in that conversation */
	mine = msg(s, bob, "<mine@x>", 1, 0, NULL);
	theirs = msg(s, bob, "<theirs@x>", 0, 0, NULL);
	assert_int_equal(
	    qm_store_chat_msg_read(s, carol, "<mine@x>", 5000, &changed, &e),
	    QM_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(
	    qm_store_chat_msg_read(s, bob, "<theirs@x>", 5000, &changed, &e),
	    QM_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(
	    qm_store_chat_msg_read(s, bob, "<mine@x>", 5000, &changed, &e),
	    QM_OK);
	assert_int_equal(changed, 1);
	/* once: a later receipt does not move it */
	assert_int_equal(
	    qm_store_chat_msg_read(s, bob, "<mine@x>", 9000, &changed, &e),
	    QM_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(qm_store_chat_msg_get(s, mine, &m, &e), QM_OK);
	assert_int_equal(m.read_at, 5000);
	free(m.att);
	assert_int_equal(qm_store_chat_msg_get(s, theirs, &m, &e), QM_OK);
	assert_int_equal(m.read_at, 0);
	free(m.att);

	/* a receipt (QM_CHAT_RECEIPT) is neither listed nor unread, nor named */
	(void)msg(s, bob, "<receipt@x>", 0, QM_CHAT_RECEIPT, NULL);
	assert_int_equal(qm_store_chat_msgs(s, bob, &v, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	qm_store_chat_msgs_free(&v, n);
	assert_int_equal(qm_store_chat_list(s, a.id, &list, &n, &e), QM_OK);
	for (size_t i = 0; i < n; i++)
		if (list[i].id == bob) {
			assert_int_equal(list[i].n_msgs, 2);
			assert_int_equal(list[i].unread, 1);
		}
	free(list);
	assert_int_equal(qm_store_chat_unseen_mids(s, bob, &mids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 1);
	assert_string_equal(mids[0], "<theirs@x>");
	qm_store_chat_mids_free(&mids, n);

	/* a file list: sealed, listed, bound to its row */
	att_id = msg(s, bob, "<photo@x>", 0, 0,
	             "image/png\t3000\tholiday-snapshot.png\n");
	assert_int_equal(qm_store_chat_msg_get(s, att_id, &m, &e), QM_OK);
	assert_string_equal(m.att, "image/png\t3000\tholiday-snapshot.png\n");
	free(m.att);
	assert_int_equal(qm_store_chat_msgs(s, bob, &v, &n, &e), QM_OK);
	assert_int_equal(n, 3);
	assert_non_null(v[2].att);
	qm_store_chat_msgs_free(&v, n);
	qm_store_close(&s);
	assert_false(file_has(home, "holiday-snapshot"));
	/* moved to another row, it opens as nothing */
	{
		char sql[200];

		snprintf(sql, sizeof(sql),
		         "UPDATE chat_msg SET att = (SELECT att FROM chat_msg "
		         "WHERE id = %lld) WHERE id = %lld",
		         (long long)att_id, (long long)theirs);
		edit(home, sql);
	}
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_chat_msg_get(s, theirs, &m, &e), QM_OK);
	assert_null(m.att);
	qm_store_close(&s);
	qmt_rmtree(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chat_media),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
