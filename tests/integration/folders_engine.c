/* SPDX-License-Identifier: MIT */
/*
 * Folders and flags both ways through the client engine (issue 14), in the
 * real world (world.h: OpenSMTPD, Dovecot, three qkme KMEs), with a second
 * IMAP client of its own (mailserver.h) doing what a phone or webmail
 * would:
 *   - flags changed by the other client show in QMail at the next sync;
 *     QMail's changes (and its read marks) reach the server at the next;
 *   - the folder list with special use and unread counts;
 *   - a QMail message moved to another folder on the server and back is
 *     the same record, listed where it is, opened once: no replay, no
 *     second KME request (which the KME would refuse: it hands a key out
 *     once), no unreadable record;
 *   - and the reverse (src/client/ops.c): what QMail does on the server is
 *     what the other client sees there, at once: a message archived,
 *     flagged, read, moved to Trash and expunged; folders created,
 *     renamed and deleted; a QMail message moved by QMail and back is
 *     never fetched or opened again;
 *   - a folder over the setting header_first is listed from its headers
 *     first, its QMail message fetched whole and opened once, every body
 *     there after the sync.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "qmtest.h"
#include "world.h"

static struct world W;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "folders-engine", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

#define SKIP_IF_NO_WORLD()                                                     \
	do {                                                                   \
		if (W.skipped)                                                 \
			skip();                                                \
	} while (0)

static void sync_user(int u, struct qm_client_sync_stats *st)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_sync(W.c[u], W.acct[u], NULL, NULL, st, &e));
}

static unsigned flags_of(int u, int64_t id)
{
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	unsigned f;

	assert_ok(qm_client_msg_get(W.c[u], id, &l, &e));
	f = l->items[0].flags;
	qm_client_msglist_free(&l);
	return f;
}

/* 1 when folder name of u lists message id. */
static int listed_in(int u, const char *name, int64_t id)
{
	struct qm_store_folder *v = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	size_t n = 0;
	int found = 0;

	memset(&q, 0, sizeof(q));
	q.account_id = W.acct[u];
	q.limit = 1000;
	assert_ok(qm_client_folders(W.c[u], W.acct[u], &v, &n, &e));
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			q.folder_id = v[i].id;
	qm_client_folders_free(&v, n);
	assert_true(q.folder_id > 0);
	assert_ok(qm_client_msg_list(W.c[u], &q, &l, &e));
	for (size_t i = 0; i < l->n; i++)
		found |= l->items[i].id == id;
	qm_client_msglist_free(&l);
	return found;
}

/* The highest UID of folder in the other client's view (it is selected). */
static uint32_t newest_uid(struct qmt_imap *c, const char *folder)
{
	uint32_t uids[256];
	int n;

	assert_int_equal(qmt_imap_cmd(c, "SELECT \"%s\"", folder), 0);
	n = qmt_imap_search(c, "ALL", uids, 256);
	assert_true(n > 0);
	return uids[n > 256 ? 255 : n - 1];
}

/* Flags changed elsewhere show in QMail; QMail's reach the server. */
static void test_flags_both_ways(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_folder *v = NULL;
	struct qmt_imap *c2;
	struct qm_error e;
	char msg[1024], fl[256];
	size_t len, n = 0;
	uint32_t uid;
	int64_t id;

	(void)state;
	SKIP_IF_NO_WORLD();
	c2 = qmt_imap_open(&W.mail, W_BOB);
	assert_non_null(c2);
	len =
	    qmt_mail_message(msg, sizeof(msg), "flags both ways", "fbw1", NULL);
	uid = qmt_imap_append(c2, "INBOX", "", msg, len);
	assert_true(uid > 0);
	sync_user(W_BOB, &st);
	id = world_by_subject(&W, W_BOB, "flags both ways");
	assert_true(id > 0);
	assert_int_equal(flags_of(W_BOB, id) & QM_FLAG_SEEN, 0);

	/* the folder list: INBOX counts it unread, Archive is there */
	assert_ok(qm_client_folders(W.c[W_BOB], W.acct[W_BOB], &v, &n, &e));
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i].name, "INBOX") == 0)
			assert_true(v[i].unread >= 1);
		if (strcmp(v[i].name, "Archive") == 0)
			assert_int_equal(v[i].use, QM_FOLDER_USE_ARCHIVE);
	}
	qm_client_folders_free(&v, n);

	/* elsewhere: read and flagged */
	assert_int_equal(qmt_imap_cmd(c2, "SELECT INBOX"), 0);
	assert_int_equal(qmt_imap_cmd(c2,
	                              "UID STORE %u +FLAGS (\\Seen "
	                              "\\Flagged)",
	                              (unsigned)uid),
	                 0);
	sync_user(W_BOB, &st);
	assert_true(st.flags_pulled >= 1);
	assert_int_equal(flags_of(W_BOB, id), QM_FLAG_SEEN | QM_FLAG_FLAGGED);

	/* in QMail: unread, unflagged, answered */
	assert_ok(qm_client_msg_flags(W.c[W_BOB], id, QM_FLAG_ANSWERED,
	                              QM_FLAG_SEEN | QM_FLAG_FLAGGED, NULL,
	                              &e));
	sync_user(W_BOB, &st);
	assert_true(st.flags_pushed >= 1);
	assert_int_equal(qmt_imap_flags(c2, uid, fl, sizeof(fl)), 0);
	assert_null(strstr(fl, "\\Seen"));
	assert_null(strstr(fl, "\\Flagged"));
	assert_non_null(strstr(fl, "\\Answered"));

	/* reading it in QMail marks it read on the server */
	{
		struct qm_client_view *view = NULL;

		assert_ok(qm_client_read(W.c[W_BOB], id, &view, &e));
		qm_client_view_free(&view);
	}
	sync_user(W_BOB, &st);
	assert_int_equal(qmt_imap_flags(c2, uid, fl, sizeof(fl)), 0);
	assert_non_null(strstr(fl, "\\Seen"));
	qmt_imap_close(&c2);
}

/* Moves the newest message of from to to with the other client. */
static void move_newest(struct qmt_imap *c2, const char *from, const char *to)
{
	uint32_t uid = newest_uid(c2, from);

	assert_int_equal(
	    qmt_imap_cmd(c2, "UID MOVE %u \"%s\"", (unsigned)uid, to), 0);
}

/* After a move: the one record, opened once, listed in folder. */
static void check_after_move(int64_t id, int64_t count, const char *folder,
                             const char *other)
{
	struct qm_client_sync_stats st;

	sync_user(W_BOB, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(
	    st.decrypted + st.replayed + st.unreadable + st.tampered, 0);
	assert_int_equal(world_count(&W, W_BOB), count);
	assert_false(listed_in(W_BOB, other, id));
	assert_true(listed_in(W_BOB, folder, id));
}

/* Alice sends Bob a level-2 message with subject and text; Bob syncs it
 * in: its record's ID (decrypted once). */
static int64_t qmail_to_bob(const char *subject, const char *text)
{
	const char *to[] = {"bob@qmail.test"};
	struct qm_client_compose m;
	struct qm_client_sync_stats st;
	struct qm_client_sent sent;
	struct qm_error e;
	static char files[256][512];
	int have;
	int64_t id;

	assert_int_equal(world_wait_pool(&W, W_ALICE, W_BOB, 64, 420000), 0);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, files, 256);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = text;
	m.level = 2;
	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	assert_int_equal(sent.n_sent, 1);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000) >
	            have);
	sync_user(W_BOB, &st);
	assert_int_equal(st.decrypted, 1);
	id = world_by_subject(&W, W_BOB, subject);
	assert_true(id > 0);
	return id;
}

/* A QMail message moved to Archive on the server and back: read once. */
static void test_moved_read_once(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_msglist *l = NULL;
	struct qmt_imap *c2;
	struct qm_error e;
	char fl[256];
	int64_t id, count;

	(void)state;
	SKIP_IF_NO_WORLD();
	id = qmail_to_bob("moved and back", "read me once\n");
	qm_error_clear(&e);
	count = world_count(&W, W_BOB);
	assert_ok(
	    qm_client_msg_flags(W.c[W_BOB], id, QM_FLAG_SEEN, 0, NULL, &e));

	c2 = qmt_imap_open(&W.mail, W_BOB);
	assert_non_null(c2);
	move_newest(c2, "INBOX", "Archive");
	check_after_move(id, count, "Archive", "INBOX");
	/* read in QMail before the move: read in its new place too */
	sync_user(W_BOB, &st);
	assert_int_equal(
	    qmt_imap_flags(c2, newest_uid(c2, "Archive"), fl, sizeof(fl)), 0);
	assert_non_null(strstr(fl, "\\Seen"));

	move_newest(c2, "Archive", "INBOX");
	check_after_move(id, count, "INBOX", "Archive");
	assert_ok(qm_client_msg_get(W.c[W_BOB], id, &l, &e));
	assert_int_equal(l->items[0].verify, QM_VERIFY_OK);
	qm_client_msglist_free(&l);
	qmt_imap_close(&c2);
}

/* How many messages of folder carry Message-ID <mid@qmail.test>, in the
 * other client's view (-1: no such folder). */
static int on_server(struct qmt_imap *c2, const char *folder, const char *mid)
{
	uint32_t uids[16];

	if (qmt_imap_cmd(c2, "SELECT \"%s\"", folder) != 0)
		return -1;
	return qmt_imap_search(c2, mid, uids, 16);
}

/* 1 when the other client's LIST shows folder. */
static int listed_on_server(struct qmt_imap *c2, const char *folder)
{
	char want[256];

	assert_int_equal(qmt_imap_cmd(c2, "LIST \"\" \"*\""), 0);
	snprintf(want, sizeof(want), " %s\r\n", folder);
	if (strstr(qmt_imap_reply(c2), want))
		return 1;
	snprintf(want, sizeof(want), " \"%s\"\r\n", folder);
	return strstr(qmt_imap_reply(c2), want) != NULL;
}

/* What QMail does is what another client sees on the server, at once. */
static void test_ops_seen_elsewhere(void **state)
{
	struct qm_client_sync_stats st;
	struct qmt_imap *c2;
	struct qm_error e;
	const char *crit = "HEADER Message-ID <ops1@qmail.test>";
	char msg[1024], fl[256];
	uint32_t uids[4];
	size_t len;
	int64_t id;
	int written = 0;

	(void)state;
	SKIP_IF_NO_WORLD();
	c2 = qmt_imap_open(&W.mail, W_BOB);
	assert_non_null(c2);
	len = qmt_mail_message(msg, sizeof(msg), "ops seen elsewhere", "ops1",
	                       NULL);
	assert_true(qmt_imap_append(c2, "INBOX", "", msg, len) > 0);
	sync_user(W_BOB, &st);
	id = world_by_subject(&W, W_BOB, "ops seen elsewhere");
	assert_true(id > 0);

	/* archived */
	qm_error_clear(&e);
	assert_ok(
	    qm_client_msg_file(W.c[W_BOB], id, QM_FOLDER_USE_ARCHIVE, &e));
	assert_int_equal(on_server(c2, "INBOX", crit), 0);
	assert_int_equal(on_server(c2, "Archive", crit), 1);
	assert_true(listed_in(W_BOB, "Archive", id));
	assert_false(listed_in(W_BOB, "INBOX", id));

	/* read and starred: on the server before any sync */
	assert_ok(qm_client_msg_flags_now(W.c[W_BOB], id,
	                                  QM_FLAG_SEEN | QM_FLAG_FLAGGED, 0,
	                                  NULL, &written, &e));
	assert_int_equal(written, 1);
	assert_int_equal(on_server(c2, "Archive", crit), 1);
	assert_int_equal(qmt_imap_search(c2, crit, uids, 4), 1);
	assert_int_equal(qmt_imap_flags(c2, uids[0], fl, sizeof(fl)), 0);
	assert_non_null(strstr(fl, "\\Seen"));
	assert_non_null(strstr(fl, "\\Flagged"));

	/* a folder made, the message moved in, the folder renamed: the
	 * message listed there without a sync, and not fetched again */
	assert_ok(
	    qm_client_folder_create(W.c[W_BOB], W.acct[W_BOB], "Projects", &e));
	assert_true(listed_on_server(c2, "Projects"));
	assert_ok(qm_client_msg_move(W.c[W_BOB], id, "Projects", &e));
	assert_int_equal(on_server(c2, "Archive", crit), 0);
	assert_int_equal(on_server(c2, "Projects", crit), 1);
	assert_ok(qm_client_folder_rename(W.c[W_BOB], W.acct[W_BOB], "Projects",
	                                  "Done", &e));
	assert_false(listed_on_server(c2, "Projects"));
	assert_true(listed_on_server(c2, "Done"));
	assert_int_equal(on_server(c2, "Done", crit), 1);
	assert_true(listed_in(W_BOB, "Done", id));
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched, 0);
	assert_true(listed_in(W_BOB, "Done", id));
	assert_int_equal(flags_of(W_BOB, id) & (QM_FLAG_SEEN | QM_FLAG_FLAGGED),
	                 QM_FLAG_SEEN | QM_FLAG_FLAGGED);

	/* deleted: to Trash, then for good */
	assert_ok(qm_client_msg_trash(W.c[W_BOB], id, &e));
	assert_int_equal(on_server(c2, "Done", crit), 0);
	assert_int_equal(on_server(c2, "Trash", crit), 1);
	assert_true(listed_in(W_BOB, "Trash", id));
	assert_ok(qm_client_msg_trash(W.c[W_BOB], id, &e));
	assert_int_equal(on_server(c2, "Trash", crit), 0);
	assert_true(world_by_subject(&W, W_BOB, "ops seen elsewhere") <= 0);

	assert_ok(
	    qm_client_folder_delete(W.c[W_BOB], W.acct[W_BOB], "Done", &e));
	assert_false(listed_on_server(c2, "Done"));
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched, 0);
	qmt_imap_close(&c2);
}

/* A QMail message moved by QMail to Archive and back: the other client
 * sees each move; QMail never fetches or opens it again (the KME hands a
 * key out once: a second request would leave it unreadable). */
static void test_qmail_moved_by_qmail(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *view = NULL;
	struct qmt_imap *c2;
	struct qm_error e;
	struct qm_store_msglist *l = NULL;
	char crit[512];
	int64_t id, count;

	(void)state;
	SKIP_IF_NO_WORLD();
	id = qmail_to_bob("moved by qmail", "opened once\n");
	qm_error_clear(&e);
	count = world_count(&W, W_BOB);
	/* the outer subject is not the sender's: found by its Message-ID */
	assert_ok(qm_client_msg_get(W.c[W_BOB], id, &l, &e));
	snprintf(crit, sizeof(crit), "HEADER Message-ID %s",
	         l->items[0].message_id);
	qm_client_msglist_free(&l);

	c2 = qmt_imap_open(&W.mail, W_BOB);
	assert_non_null(c2);
	assert_ok(qm_client_msg_move(W.c[W_BOB], id, "Archive", &e));
	assert_int_equal(on_server(c2, "INBOX", crit), 0);
	assert_int_equal(on_server(c2, "Archive", crit), 1);
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched + st.decrypted + st.replayed +
	                     st.duplicates + st.unreadable + st.errors,
	                 0);
	assert_true(listed_in(W_BOB, "Archive", id));

	assert_ok(qm_client_msg_move(W.c[W_BOB], id, "INBOX", &e));
	assert_int_equal(on_server(c2, "Archive", crit), 0);
	assert_int_equal(on_server(c2, "INBOX", crit), 1);
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched + st.decrypted + st.replayed +
	                     st.duplicates + st.unreadable + st.errors,
	                 0);
	assert_true(listed_in(W_BOB, "INBOX", id));
	assert_false(listed_in(W_BOB, "Archive", id));
	assert_int_equal(world_count(&W, W_BOB), count);
	assert_ok(qm_client_read(W.c[W_BOB], id, &view, &e));
	assert_int_equal(view->verify, QM_VERIFY_OK);
	assert_non_null(strstr(view->text, "opened once"));
	qm_client_view_free(&view);
	qmt_imap_close(&c2);
}

/* bob's INBOX: how many messages wait for their body (header-only). */
static size_t bodies_pending(void)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	size_t k = 0;

	memset(&q, 0, sizeof(q));
	q.account_id = W.acct[W_BOB];
	q.folder = "INBOX";
	q.limit = 1000;
	assert_ok(qm_client_msg_list(W.c[W_BOB], &q, &l, &e));
	for (size_t i = 0; i < l->n; i++)
		k += l->items[i].body_pending != 0;
	qm_client_msglist_free(&l);
	return k;
}

/* Appends n plain messages "header first N" to bob's INBOX (another
 * client), of growing sizes. */
static void append_plain(struct qmt_imap *c2, int from, int n)
{
	static char msg[256 * 1024];

	for (int i = from; i < from + n; i++) {
		char subj[64], id[64];
		size_t len;

		snprintf(subj, sizeof(subj), "header first %d", i);
		snprintf(id, sizeof(id), "hf%d", i);
		len = qmt_mail_message(msg, 1024, subj, id, NULL);
		assert_true(len > 4);
		/* a longer body for the later ones: the sizes vary */
		for (int k = 0; k < i * 100; k++)
			len +=
			    (size_t)snprintf(msg + len, sizeof(msg) - len,
			                     "line %d of a long body\r\n", k);
		assert_true(len + 1 < sizeof(msg));
		assert_true(qmt_imap_append(c2, "INBOX", "", msg, len) > 0);
	}
}

/* A folder with more new messages than the setting header_first: the
 * plain ones are listed from their headers first, the QMail one among
 * them fetched whole and opened once (no second KME request, which the
 * KME would refuse), every body present after the sync. */
static void test_header_first(void **state)
{
	const char *to[] = {"bob@qmail.test"};
	struct qm_client_compose m;
	struct qm_client_sync_stats st;
	struct qm_client_sent sent;
	struct qm_client_view *v = NULL;
	struct qmt_imap *c2;
	struct qm_error e;
	static char files[256][512];
	int have;
	int64_t id;

	(void)state;
	SKIP_IF_NO_WORLD();
	qm_error_clear(&e);
	assert_ok(qm_client_setting_set(W.c[W_BOB], W.acct[W_BOB],
	                                QM_CLIENT_SET_HEADER_FIRST, "20", &e));
	sync_user(W_BOB, &st); /* nothing older left to fetch */
	c2 = qmt_imap_open(&W.mail, W_BOB);
	assert_non_null(c2);
	append_plain(c2, 0, 15);
	assert_int_equal(world_wait_pool(&W, W_ALICE, W_BOB, 64, 420000), 0);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, files, 256);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = "among many";
	m.text = "fetched whole\n";
	m.level = 2;
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	assert_int_equal(sent.n_sent, 1);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000) >
	            have);
	append_plain(c2, 15, 15);
	qmt_imap_close(&c2);

	sync_user(W_BOB, &st);
	assert_int_equal(st.headers_only, 30);
	assert_int_equal(st.bodies, 30);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.unreadable + st.replayed + st.tampered, 0);
	assert_int_equal(bodies_pending(), 0);
	id = world_by_subject(&W, W_BOB, "header first 29");
	assert_true(id > 0);
	assert_ok(qm_client_read(W.c[W_BOB], id, &v, &e));
	assert_non_null(strstr(v->text, "line 2899 of a long body"));
	qm_client_view_free(&v);
	id = world_by_subject(&W, W_BOB, "among many");
	assert_true(id > 0);
	assert_ok(qm_client_read(W.c[W_BOB], id, &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_string_equal(v->text, "fetched whole\n");
	qm_client_view_free(&v);

	/* nothing new: nothing fetched, nothing opened again */
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.decrypted + st.unreadable + st.replayed, 0);
	assert_ok(qm_client_setting_set(W.c[W_BOB], W.acct[W_BOB],
	                                QM_CLIENT_SET_HEADER_FIRST, "", &e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_flags_both_ways),
	    cmocka_unit_test(test_moved_read_once),
	    cmocka_unit_test(test_ops_seen_elsewhere),
	    cmocka_unit_test(test_qmail_moved_by_qmail),
	    cmocka_unit_test(test_header_first),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
