/* SPDX-License-Identifier: MIT */
/*
 * What a person does on the server through the engine (src/client/ops.c)
 * over the scripted servers of fakes.h: move, copy, file (Archive, Junk,
 * INBOX), delete to Trash and for good, flags written at once (and kept
 * for the next sync when the server cannot be reached), folders created,
 * renamed and deleted, several moved on one session. The invariant of
 * issue 14: a QMail message moved and moved back is never fetched or
 * decrypted again (no second KME request, no replay record), and one
 * deleted for good leaves its key IDs in the replay log (delivered again,
 * it is a replay, not opened).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static int setup(void **state)
{
	(void)state;
	return eng_setup(ENG_KNOW_BOB | ENG_CAROL_POP3);
}

/* The ids of u's messages in folder name as the interfaces list them (by
 * name: by place), at most max; returns how many. */
static size_t in_folder(struct eu *u, const char *name, int64_t *ids,
                        size_t max)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	size_t k;

	memset(&q, 0, sizeof(q));
	q.account_id = u->acct;
	q.folder = name;
	assert_ok(qm_client_msg_list(u->c, &q, &l, &e));
	for (k = 0; k < l->n && k < max; k++)
		ids[k] = l->items[k].id;
	k = l->n;
	qm_client_msglist_free(&l);
	return k;
}

static int exists(struct eu *u, int64_t id)
{
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	enum qm_err rc = qm_client_msg_get(u->c, id, &l, &e);

	qm_client_msglist_free(&l);
	return rc == QM_OK;
}

static unsigned flags_of(struct eu *u, int64_t id)
{
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	unsigned f;

	assert_ok(qm_client_msg_get(u->c, id, &l, &e));
	f = l->items[0].flags;
	qm_client_msglist_free(&l);
	return f;
}

/* One plain message in bob's INBOX, synced; its id. */
static int64_t one_plain(const char *mid)
{
	struct qm_client_sync_stats st;
	int64_t id = 0;

	eu_plain_to(&bob, "INBOX", mid);
	eu_sync_ok(&bob, &st);
	assert_int_equal(in_folder(&bob, "INBOX", &id, 1), 1);
	return id;
}

/* Nothing new for the next sync: no message fetched, opened or refused. */
static void quiet_sync(struct eu *u)
{
	struct qm_client_sync_stats st;

	eu_sync_ok(u, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.decrypted + st.replayed + st.duplicates, 0);
	assert_int_equal(st.plain + st.tampered + st.errors, 0);
}

/* The invariant: a QMail message moved by QMail to another folder and
 * back keeps its one record, decrypted once; no sync fetches it again,
 * the KME gets no second request and nothing is a replay. */
static void test_move_qmail_and_back(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sync_stats st;
	struct qm_client_sent out;
	struct qm_error e;
	int64_t id, id2;
	size_t keys;
	unsigned dec;

	(void)state;
	assert_ok(eu_send(&alice, to, 1, 2, 0, "moved by QMail", &out, &e));
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 1);
	keys = fake_keys_fetched();
	dec = eu_kme(&bob)->calls[FK_DEC];
	assert_int_equal(in_folder(&bob, "INBOX", &id, 1), 1);

	assert_ok(qm_client_msg_move(bob.c, id, "Archive", &e));
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 0);
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 1);
	/* listed where it is at once, no sync needed */
	assert_int_equal(in_folder(&bob, "INBOX", &id2, 1), 0);
	assert_int_equal(in_folder(&bob, "Archive", &id2, 1), 1);
	assert_int_equal(id2, id);
	quiet_sync(&bob);

	assert_ok(qm_client_msg_move(bob.c, id, "INBOX", &e));
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 1);
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 0);
	assert_int_equal(in_folder(&bob, "INBOX", &id2, 1), 1);
	assert_int_equal(id2, id);
	quiet_sync(&bob);

	assert_int_equal(fake_keys_fetched(), keys);
	assert_int_equal(eu_kme(&bob)->calls[FK_DEC], dec);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REPLAY), 0);
	/* still readable: its plaintext stayed in the vault */
	{
		struct qm_client_view *v = NULL;

		assert_ok(qm_client_read(bob.c, id, &v, &e));
		assert_non_null(strstr(v->text, "moved by QMail"));
		qm_client_view_free(&v);
	}
}

/* Without COPYUID (no UIDPLUS) the moved message is found by its
 * Message-ID in the folder it went to: listed there at once, and the
 * next sync does not fetch it. */
static void test_move_without_uidplus(void **state)
{
	struct qm_error e;
	int64_t id = one_plain("nu1"), id2 = 0;

	(void)state;
	eu_plain_to(&bob, "Archive", "other"); /* another message there */
	fake_mail_no_uidplus = 1;
	assert_ok(qm_client_msg_move(bob.c, id, "Archive", &e));
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 2);
	assert_int_equal(in_folder(&bob, "Archive", &id2, 1), 1);
	assert_int_equal(id2, id);
	assert_int_equal(in_folder(&bob, "INBOX", &id2, 1), 0);
	{
		struct qm_client_sync_stats st;

		eu_sync_ok(&bob, &st);
		assert_int_equal(st.fetched, 1); /* "other" alone */
		assert_int_equal(st.plain, 1);
	}
	assert_int_equal(in_folder(&bob, "Archive", &id2, 1), 2);
}

/* A copy: the message in both folders, one record. */
static void test_copy(void **state)
{
	struct qm_error e;
	int64_t id = one_plain("c1"), id2 = 0;

	(void)state;
	assert_ok(qm_client_msg_copy(bob.c, id, "Archive", &e));
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 1);
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 1);
	assert_int_equal(in_folder(&bob, "Archive", &id2, 1), 1);
	assert_int_equal(id2, id);
	assert_int_equal(in_folder(&bob, "INBOX", &id2, 1), 1);
	/* again: there already, nothing done */
	assert_ok(qm_client_msg_copy(bob.c, id, "Archive", &e));
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 1);
	quiet_sync(&bob);
	/* a move to where it is too: it leaves INBOX */
	assert_ok(qm_client_msg_move(bob.c, id, "Archive", &e));
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 0);
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 1);
	assert_int_equal(in_folder(&bob, "INBOX", &id2, 1), 0);
	/* a folder the server does not have */
	assert_int_equal(qm_client_msg_copy(bob.c, id, "Nowhere", &e),
	                 QM_ERR_NOTFOUND);
	assert_non_null(strstr(qm_error_msg(&e), "Nowhere"));
}

/* Flags the user changed since the last sync go with the move. */
static void test_move_carries_flags(void **state)
{
	struct qm_error e;
	int64_t id = one_plain("fl1");

	(void)state;
	assert_ok(qm_client_msg_flags(bob.c, id, QM_FLAG_FLAGGED, 0, NULL, &e));
	assert_ok(qm_client_msg_move(bob.c, id, "Archive", &e));
	assert_int_equal(fake_mail_flags(bob.addr, "Archive", 0),
	                 QM_FLAG_FLAGGED);
	quiet_sync(&bob);
	assert_int_equal(flags_of(&bob, id), QM_FLAG_FLAGGED);
}

/* File by special use: Archive, Junk (marked $Junk), back to INBOX
 * (marked $NotJunk). */
static void test_file(void **state)
{
	struct qm_error e;
	int64_t id = one_plain("j1"), id2 = 0;

	(void)state;
	assert_ok(qm_client_msg_file(bob.c, id, QM_FOLDER_USE_ARCHIVE, &e));
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 1);
	assert_ok(qm_client_msg_file(bob.c, id, QM_FOLDER_USE_JUNK, &e));
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 0);
	assert_int_equal(fake_mail_count(bob.addr, "Junk"), 1);
	assert_true(fake_mail_flags(bob.addr, "Junk", 0) & QM_FLAG_JUNK);
	assert_int_equal(in_folder(&bob, "Junk", &id2, 1), 1);
	assert_int_equal(id2, id);
	assert_ok(qm_client_msg_file(bob.c, id, QM_FOLDER_USE_INBOX, &e));
	assert_int_equal(fake_mail_count(bob.addr, "Junk"), 0);
	assert_int_equal(fake_mail_flags(bob.addr, "INBOX", 0) &
	                     (QM_FLAG_JUNK | QM_FLAG_NOTJUNK),
	                 QM_FLAG_NOTJUNK);
	assert_int_equal(flags_of(&bob, id) & (QM_FLAG_JUNK | QM_FLAG_NOTJUNK),
	                 QM_FLAG_NOTJUNK);
	assert_int_equal(
	    qm_client_msg_file(bob.c, id, QM_FOLDER_USE_DRAFTS, &e),
	    QM_ERR_NOTFOUND);
	assert_non_null(strstr(qm_error_msg(&e), "Drafts"));
	assert_int_equal(qm_client_msg_file(bob.c, id, QM_FOLDER_USE_NONE, &e),
	                 QM_ERR_INVAL);
	quiet_sync(&bob);
}

/* Delete: to Trash; from Trash for good; with delete_mode expunge at
 * once. A QMail message deleted for good keeps its key IDs in the replay
 * log: the same message delivered again is a replay, never opened. */
static void test_trash(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sync_stats st;
	struct qm_client_sent out;
	struct qm_error e;
	unsigned char raw[65536];
	const unsigned char *p;
	size_t len = 0;
	int64_t id = one_plain("t1"), id2 = 0;
	unsigned dec;

	(void)state;
	assert_ok(qm_client_msg_trash(bob.c, id, &e));
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 0);
	assert_int_equal(fake_mail_count(bob.addr, "Trash"), 1);
	assert_int_equal(in_folder(&bob, "Trash", &id2, 1), 1);
	assert_true(exists(&bob, id));
	assert_ok(qm_client_msg_trash(bob.c, id, &e));
	assert_int_equal(fake_mail_count(bob.addr, "Trash"), 0);
	assert_false(exists(&bob, id));

	/* expunge at once, a QMail message */
	assert_int_equal(qm_client_setting_set(bob.c, bob.acct,
	                                       QM_CLIENT_SET_DELETE_MODE,
	                                       "shred", &e),
	                 QM_ERR_INVAL);
	assert_ok(qm_client_setting_set(
	    bob.c, bob.acct, QM_CLIENT_SET_DELETE_MODE, "expunge", &e));
	assert_ok(eu_send(&alice, to, 1, 2, 0, "to be shredded", &out, &e));
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(in_folder(&bob, "INBOX", &id, 1), 1);
	p = fake_mail_msg(bob.addr, "INBOX", 0, &len);
	assert_non_null(p);
	assert_true(len <= sizeof(raw));
	memcpy(raw, p, len);
	assert_ok(qm_client_msg_trash(bob.c, id, &e));
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 0);
	assert_int_equal(fake_mail_count(bob.addr, "Trash"), 0);
	assert_false(exists(&bob, id));

	/* delivered again: a replay, no key asked for */
	dec = eu_kme(&bob)->calls[FK_DEC];
	assert_true(fake_mail_deliver(bob.addr, "INBOX", raw, len) > 0);
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(eu_kme(&bob)->calls[FK_DEC], dec);
}

/* A folder renumbered on the server since the last sync: its UIDs may
 * name other messages now, so nothing is done. */
static void test_renumbered_refused(void **state)
{
	struct qm_error e;
	int64_t id = one_plain("r1");

	(void)state;
	fake_mail_renumber(bob.addr, "INBOX");
	assert_int_equal(qm_client_msg_move(bob.c, id, "Archive", &e),
	                 QM_ERR_STATE);
	assert_non_null(strstr(qm_error_msg(&e), "renumbered"));
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 1);
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 0);
	assert_int_equal(fake_mail_calls[FM_IMAP_MOVE], 0);
}

/* The folder names of u's folder list, comma-separated, with counts. */
static void folder_names(struct eu *u, char *out, size_t len)
{
	struct qm_store_folder *v = NULL;
	struct qm_error e;
	size_t n = 0, k = 0;

	assert_ok(qm_client_folders(u->c, u->acct, &v, &n, &e));
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		k += (size_t)snprintf(out + k, len - k, "%s%s:%lld/%lld:%d",
		                      i ? "," : "", v[i].name,
		                      (long long)v[i].total,
		                      (long long)v[i].unread, (int)v[i].use);
	qm_client_folders_free(&v, n);
}

/* POP3 keeps its folders in the vault (local.c): move, archive, junk and
 * back, trash and delete for good, folders made, renamed and deleted,
 * counted and listed by name; a copy is refused; the server is never
 * asked, and a message moved is not fetched again. */
static void test_pop3_local(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	char names[512];
	int64_t id = 0, id2 = 0, ids[4];

	(void)state;
	eu_plain_to(&carol, "INBOX", "p1");
	eu_plain_to(&carol, "INBOX", "p2");
	eu_sync_ok(&carol, &st);
	assert_int_equal(st.plain, 2);
	assert_int_equal(eu_inbox(&carol, ids, 2), 2);
	id = ids[0];
	id2 = ids[1];
	qm_error_clear(&e);

	/* no folder yet: refused, saying how */
	assert_int_equal(qm_client_msg_move(carol.c, id, "Work", &e),
	                 QM_ERR_NOTFOUND);
	assert_non_null(strstr(qm_error_msg(&e), "make it first"));
	assert_ok(qm_client_folder_create(carol.c, carol.acct, "Work", &e));
	assert_int_equal(
	    qm_client_folder_create(carol.c, carol.acct, "Work", &e),
	    QM_ERR_EXISTS);
	assert_int_equal(
	    qm_client_folder_create(carol.c, carol.acct, "inbox", &e),
	    QM_ERR_INVAL);
	assert_ok(qm_client_msg_move(carol.c, id, "Work", &e));
	assert_int_equal(in_folder(&carol, "Work", ids, 4), 1);
	assert_int_equal(ids[0], id);
	assert_int_equal(in_folder(&carol, "INBOX", ids, 4), 1);
	assert_int_equal(qm_client_msg_copy(carol.c, id, "INBOX", &e),
	                 QM_ERR_UNSUPPORTED);

	/* archive and junk make their folders, with their special use */
	assert_ok(qm_client_msg_file(carol.c, id2, QM_FOLDER_USE_JUNK, &e));
	assert_ok(qm_client_msg_get(carol.c, id2, &l, &e));
	assert_true(l->items[0].flags & QM_FLAG_JUNK);
	qm_client_msglist_free(&l);
	assert_ok(qm_client_msg_file(carol.c, id2, QM_FOLDER_USE_INBOX, &e));
	assert_ok(qm_client_msg_get(carol.c, id2, &l, &e));
	assert_true(l->items[0].flags & QM_FLAG_NOTJUNK);
	assert_false(l->items[0].flags & QM_FLAG_JUNK);
	qm_client_msglist_free(&l);
	assert_ok(qm_client_msg_file(carol.c, id2, QM_FOLDER_USE_ARCHIVE, &e));
	folder_names(&carol, names, sizeof(names));
	assert_non_null(strstr(names, "INBOX:0/0"));
	assert_non_null(strstr(names, "Work:1/1"));
	assert_non_null(strstr(names, "Junk:0/0"));
	{
		char want[64];

		snprintf(want, sizeof(want), "Archive:1/1:%d",
		         (int)QM_FOLDER_USE_ARCHIVE);
		assert_non_null(strstr(names, want));
	}

	/* renamed: its messages go with it */
	assert_ok(
	    qm_client_folder_rename(carol.c, carol.acct, "Work", "Jobs", &e));
	assert_int_equal(in_folder(&carol, "Jobs", ids, 4), 1);
	assert_int_equal(in_folder(&carol, "Work", ids, 4), 0);
	assert_int_equal(
	    qm_client_folder_rename(carol.c, carol.acct, "INBOX", "X", &e),
	    QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_folder_rename(carol.c, carol.acct, "Junk", "X", &e),
	    QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_folder_delete(carol.c, carol.acct, "Archive", &e),
	    QM_ERR_INVAL);
	assert_non_null(strstr(qm_error_msg(&e), "by its use"));

	/* nothing new on the server side: a sync fetches nothing again */
	eu_sync_ok(&carol, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(in_folder(&carol, "INBOX", ids, 4), 0);

	/* trash, then for good from Trash */
	assert_ok(qm_client_msg_trash(carol.c, id2, &e));
	assert_true(exists(&carol, id2));
	assert_int_equal(in_folder(&carol, "Trash", ids, 4), 1);
	assert_ok(qm_client_msg_trash(carol.c, id2, &e));
	assert_false(exists(&carol, id2));

	/* a folder deleted takes its messages with it */
	assert_ok(qm_client_folder_delete(carol.c, carol.acct, "Jobs", &e));
	assert_false(exists(&carol, id));
	folder_names(&carol, names, sizeof(names));
	assert_null(strstr(names, "Jobs"));
	assert_int_equal(
	    qm_client_folder_delete(carol.c, carol.acct, "INBOX", &e),
	    QM_ERR_INVAL);
	assert_int_equal(fake_mail_calls[FM_IMAP_MOVE], 0);
}

/* Flags at once when the server can be reached; kept for the next sync
 * when it cannot (never lost). */
static void test_flags_now(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;
	int64_t id = one_plain("n1");
	unsigned now = 0;
	int written = -1;

	(void)state;
	assert_ok(qm_client_msg_flags_now(bob.c, id, QM_FLAG_SEEN, 0, &now,
	                                  &written, &e));
	assert_int_equal(written, 1);
	assert_int_equal(now, QM_FLAG_SEEN);
	assert_int_equal(fake_mail_flags(bob.addr, "INBOX", 0), QM_FLAG_SEEN);
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.flags_pushed + st.flags_pulled, 0);

	/* the server down: kept, written by the next sync */
	fake_mail_fail(FM_IMAP_OPEN, QM_ERR_NET, "connection refused", 0);
	assert_ok(qm_client_msg_flags_now(bob.c, id, QM_FLAG_FLAGGED,
	                                  QM_FLAG_SEEN, &now, &written, &e));
	assert_int_equal(written, 0);
	assert_int_equal(now, QM_FLAG_FLAGGED);
	assert_int_equal(flags_of(&bob, id), QM_FLAG_FLAGGED);
	assert_int_equal(fake_mail_flags(bob.addr, "INBOX", 0), QM_FLAG_SEEN);
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.flags_pushed, 1);
	assert_int_equal(fake_mail_flags(bob.addr, "INBOX", 0),
	                 QM_FLAG_FLAGGED);

	/* a locked vault: kept too */
	qm_client_lock(bob.c);
	assert_ok(qm_client_msg_flags_now(bob.c, id, QM_FLAG_SEEN, 0, &now,
	                                  &written, &e));
	assert_int_equal(written, 0);
	assert_int_equal(fake_mail_flags(bob.addr, "INBOX", 0),
	                 QM_FLAG_FLAGGED);
	assert_int_equal(qm_client_msg_flags_now(bob.c, 999999, QM_FLAG_SEEN, 0,
	                                         &now, &written, &e),
	                 QM_ERR_NOTFOUND);
}

/* Folders created, renamed (its messages keep their places: not fetched
 * again), deleted (a plain message that was only there leaves the index;
 * a QMail one stays). */
static void test_folder_ops(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sync_stats st;
	struct qm_client_sent out;
	struct qm_store_folder *v = NULL;
	struct qm_error e;
	int64_t id = one_plain("w1"), qid = 0, ids[4];
	size_t n = 0;
	int found = 0;

	(void)state;
	assert_ok(eu_send(&alice, to, 1, 2, 0, "kept", &out, &e));
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(in_folder(&bob, "INBOX", ids, 4), 2);
	qid = ids[0] == id ? ids[1] : ids[0];

	assert_ok(qm_client_folder_create(bob.c, bob.acct, "Work", &e));
	assert_true(fake_mail_has_folder(bob.addr, "Work"));
	assert_int_equal(qm_client_folder_create(bob.c, bob.acct, "Work", &e),
	                 QM_ERR_PROTO);
	assert_ok(qm_client_folders(bob.c, bob.acct, &v, &n, &e));
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, "Work") == 0)
			found = v[i].subscribed;
	qm_client_folders_free(&v, n);
	assert_true(found);

	assert_ok(qm_client_msg_move(bob.c, id, "Work", &e));
	assert_ok(qm_client_msg_move(bob.c, qid, "Work", &e));
	quiet_sync(&bob);
	assert_int_equal(in_folder(&bob, "Work", ids, 4), 2);

	assert_ok(
	    qm_client_folder_rename(bob.c, bob.acct, "Work", "Projects", &e));
	assert_false(fake_mail_has_folder(bob.addr, "Work"));
	assert_true(fake_mail_has_folder(bob.addr, "Projects"));
	assert_int_equal(in_folder(&bob, "Projects", ids, 4), 2);
	quiet_sync(&bob);
	assert_int_equal(in_folder(&bob, "Projects", ids, 4), 2);
	assert_int_equal(
	    qm_client_folder_rename(bob.c, bob.acct, "INBOX", "Old", &e),
	    QM_ERR_INVAL);
	/* a folder of a special use stays, named in the refusal */
	assert_int_equal(
	    qm_client_folder_rename(bob.c, bob.acct, "Trash", "Bin", &e),
	    QM_ERR_INVAL);
	assert_non_null(strstr(e.msg, "Trash folder"));
	assert_true(fake_mail_has_folder(bob.addr, "Trash"));
	assert_int_equal(qm_client_folder_delete(bob.c, bob.acct, "Trash", &e),
	                 QM_ERR_INVAL);
	assert_true(fake_mail_has_folder(bob.addr, "Trash"));

	assert_ok(qm_client_folder_delete(bob.c, bob.acct, "Projects", &e));
	assert_false(fake_mail_has_folder(bob.addr, "Projects"));
	assert_false(exists(&bob, id));
	assert_true(exists(&bob, qid));
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	assert_int_equal(qm_client_folder_delete(bob.c, bob.acct, "INBOX", &e),
	                 QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_folder_delete(bob.c, bob.acct, "Projects", &e),
	    QM_ERR_NOTFOUND);
	quiet_sync(&bob);
}

/* The heads of a list for threading: reply headers read from the vault
 * (a folded References too), oldest first; the thread built from them. */
static void test_heads_threads(void **state)
{
	static const char *const msgs[] = {
	    "From: a@x.test\r\nSubject: plans\r\nMessage-ID: <h1@x.test>\r\n"
	    "Date: Mon, 1 Dec 2025 10:00:00 +0000\r\n\r\nfirst\r\n",
	    "From: b@x.test\r\nSubject: Re: plans\r\nMessage-ID: <h2@x.test>\r\n"
	    "In-Reply-To: <h1@x.test>\r\n"
	    "Date: Mon, 1 Dec 2025 11:00:00 +0000\r\n\r\nsecond\r\n",
	    "From: a@x.test\r\nSubject: Re: plans\r\nMessage-ID: <h3@x.test>\r\n"
	    "References: <h1@x.test>\r\n\t<h2@x.test>\r\n"
	    "Date: Mon, 1 Dec 2025 12:00:00 +0000\r\n\r\nthird\r\n",
	    "From: c@x.test\r\nSubject: other\r\nMessage-ID: <h4@x.test>\r\n"
	    "Date: Mon, 1 Dec 2025 13:00:00 +0000\r\n\r\nfourth\r\n"};
	struct qm_client_sync_stats st;
	struct qm_store_msglist *l = NULL;
	struct qm_client_heads *h = NULL;
	struct qm_client_threads *t = NULL;
	struct qm_store_query q;
	struct qm_error e;

	(void)state;
	for (size_t i = 0; i < 4; i++)
		assert_true(fake_mail_deliver(bob.addr, "INBOX", msgs[i],
		                              strlen(msgs[i])) > 0);
	eu_sync_ok(&bob, &st);
	memset(&q, 0, sizeof(q));
	q.account_id = bob.acct;
	q.folder = "INBOX";
	assert_ok(qm_client_msg_list(bob.c, &q, &l, &e));
	assert_int_equal(l->n, 4);
	assert_ok(qm_client_msg_heads(bob.c, l, &h, &e));
	assert_int_equal(h->n, 4);
	assert_string_equal(h->v[0].subject, "plans"); /* oldest first */
	assert_string_equal(h->v[1].in_reply_to, "<h1@x.test>");
	assert_string_equal(h->v[2].references, "<h1@x.test> <h2@x.test>");
	assert_string_equal(h->v[3].references, "");
	assert_true(h->v[0].unread);
	assert_ok(qm_client_thread_build(h->v, h->n, &t, &e));
	assert_int_equal(t->nthreads, 2);
	assert_int_equal(t->threads[0].count, 1); /* "other", the newest */
	assert_int_equal(t->threads[1].count, 3);
	assert_string_equal(h->v[t->threads[1].first_msg].subject, "plans");
	qm_client_threads_free(&t);
	qm_client_heads_free(&h);
	/* the vault locked: refused, nothing half made */
	qm_client_lock(bob.c);
	assert_int_equal(qm_client_msg_heads(bob.c, l, &h, &e), QM_ERR_LOCKED);
	assert_null(h);
	qm_client_msglist_free(&l);
}

/* Server search finds mail QMail has not downloaded (a folder not synced),
 * says which hits it holds, and marks nothing read. */
static void test_search_server(void **state)
{
	struct qm_client_server_hit *v = NULL;
	struct qm_error e;
	int64_t id = one_plain("s1");
	size_t n = 0;

	(void)state;
	eu_plain_to(&bob, "Trash", "s2"); /* Trash is not synced */
	eu_plain_to(&bob, "Trash", "s3");
	assert_ok(qm_client_search_server(bob.c, bob.acct, "Trash", "plain s",
	                                  0, &v, &n, &e));
	assert_int_equal(n, 2);
	assert_string_equal(v[0].subject, "plain s2");
	assert_int_equal(v[0].id, 0);
	assert_string_equal(v[1].message_id, "<s3@x.test>");
	qm_client_server_hits_free(&v, n);
	assert_int_equal(fake_mail_flags(bob.addr, "Trash", 0), 0);
	/* the newest one only */
	assert_ok(qm_client_search_server(bob.c, bob.acct, "Trash", "plain",
	                                  1, &v, &n, &e));
	assert_int_equal(n, 1);
	assert_string_equal(v[0].subject, "plain s3");
	qm_client_server_hits_free(&v, n);
	/* INBOX: the hit is the message QMail holds */
	assert_ok(qm_client_search_server(bob.c, bob.acct, NULL, "plain s1", 0,
	                                  &v, &n, &e));
	assert_int_equal(n, 1);
	assert_int_equal(v[0].id, id);
	qm_client_server_hits_free(&v, n);
	assert_ok(qm_client_search_server(bob.c, bob.acct, NULL, "nothing like",
	                                  0, &v, &n, &e));
	assert_int_equal(n, 0);
	assert_null(v);
	assert_int_equal(qm_client_search_server(bob.c, bob.acct, NULL, "", 0,
	                                         &v, &n, &e),
	                 QM_ERR_INVAL);
	assert_int_equal(qm_client_search_server(carol.c, carol.acct, NULL,
	                                         "x", 0, &v, &n, &e),
	                 QM_ERR_UNSUPPORTED);
}

/* Several messages moved on one IMAP session (the chat step's moves,
 * qm_client_msgs_move): one login for all, a message deleted meanwhile
 * skipped, *done counting every one; a refused move stops there and says
 * how far it went. */
static void test_move_many(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;
	int64_t got[4], ids[4];
	size_t done = 9;
	unsigned opens, moves;

	(void)state;
	eu_plain_to(&bob, "INBOX", "many-1");
	eu_plain_to(&bob, "INBOX", "many-2");
	eu_plain_to(&bob, "INBOX", "many-3");
	eu_sync_ok(&bob, &st);
	assert_int_equal(in_folder(&bob, "INBOX", got, 4), 3);
	ids[0] = got[0];
	ids[1] = got[0] + got[1] + got[2] + 1000; /* no such message */
	ids[2] = got[1];
	ids[3] = got[2];
	opens = fake_mail_calls[FM_IMAP_OPEN];
	moves = fake_mail_calls[FM_IMAP_MOVE];
	assert_ok(qm_client_msgs_move(bob.c, ids, 4, "Archive", &done, &e));
	assert_int_equal(done, 4);
	assert_int_equal(fake_mail_calls[FM_IMAP_OPEN] - opens, 1);
	assert_int_equal(fake_mail_calls[FM_IMAP_MOVE] - moves, 3);
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 0);
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 3);
	assert_int_equal(in_folder(&bob, "Archive", ids, 4), 3);
	quiet_sync(&bob);

	/* the server refuses the first move back: nothing moved, done 0 */
	ids[1] = got[1];
	ids[2] = got[2];
	fake_mail_fail(FM_IMAP_MOVE, QM_ERR_NET, "connection reset", 0);
	assert_int_equal(qm_client_msgs_move(bob.c, ids, 3, "INBOX", &done, &e),
	                 QM_ERR_NET);
	assert_int_equal(done, 0);
	assert_int_equal(fake_mail_count(bob.addr, "Archive"), 3);
	/* again: all three back */
	assert_ok(qm_client_msgs_move(bob.c, ids, 3, "INBOX", &done, &e));
	assert_int_equal(done, 3);
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 3);
	assert_int_equal(in_folder(&bob, "INBOX", ids, 4), 3);
	quiet_sync(&bob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_move_qmail_and_back, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_move_without_uidplus, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_move_many, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_copy, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_move_carries_flags, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_file, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_trash, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_renumbered_refused, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_pop3_local, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_flags_now, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_folder_ops, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_heads_threads, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_search_server, setup,
	                                    eng_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
