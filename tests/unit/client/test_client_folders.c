/* SPDX-License-Identifier: MIT */
/*
 * Folders and flags both ways (src/client/folders.c, folder_sync.c and the
 * places kept by recv_file.c) over the scripted servers of fakes.h: the
 * folder list with special use and unread counts, which folders a sync
 * takes (setting sync_folders; INBOX always, Sent never for now), flags
 * changed by another client taken at the next sync, QMail's own changes
 * written at the next sync (also when made offline), a conflict kept per
 * flag, a QMail message moved to another folder and back read once with
 * one KME request, a renumbered folder losing no message, the threading
 * headers of a message read without marking it read, and a message
 * deleted here through another handle in the middle of a sync.
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

/* u's folder name as qm_client_folders gives it (must be there); the
 * caller frees *v. */
static const struct qm_store_folder *folder_named(struct eu *u,
                                                  const char *name,
                                                  struct qm_store_folder **v,
                                                  size_t *n)
{
	struct qm_error e;

	assert_ok(qm_client_folders(u->c, u->acct, v, n, &e));
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].name, name) == 0)
			return &(*v)[i];
	fail_msg("%s has no folder %s", u->name, name);
	return NULL;
}

/* The ids of u's messages listed in folder name (at most max). */
static size_t in_folder(struct eu *u, const char *name, int64_t *ids,
                        size_t max)
{
	struct qm_store_folder *v = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	size_t n = 0, k;

	memset(&q, 0, sizeof(q));
	q.account_id = u->acct;
	q.folder_id = folder_named(u, name, &v, &n)->id;
	qm_client_folders_free(&v, n);
	assert_ok(qm_client_msg_list(u->c, &q, &l, &e));
	for (k = 0; k < l->n && k < max; k++)
		ids[k] = l->items[k].id;
	k = l->n;
	qm_client_msglist_free(&l);
	return k;
}

/* How many of u's messages a query by folder name lists and counts (as
 * the CLI's list --folder and the GUI's folder view ask). */
static int64_t by_name(struct eu *u, const char *name)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	int64_t n = -1, listed;

	memset(&q, 0, sizeof(q));
	q.account_id = u->acct;
	q.folder = name;
	assert_ok(qm_client_msg_count(u->c, &q, &n, &e));
	assert_ok(qm_client_msg_list(u->c, &q, &l, &e));
	listed = (int64_t)l->n;
	qm_client_msglist_free(&l);
	assert_int_equal(listed, n);
	return n;
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

static void test_folder_list(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_folder *v = NULL;
	const struct qm_store_folder *f;
	struct qm_error e;
	size_t n = 0;

	(void)state;
	/* before any sync: INBOX */
	assert_ok(qm_client_folders(bob.c, bob.acct, &v, &n, &e));
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "INBOX");
	assert_int_equal(v[0].use, QM_FOLDER_USE_INBOX);
	qm_client_folders_free(&v, n);

	eu_plain_to(&bob, "INBOX", "p1");
	eu_plain_to(&bob, "INBOX", "p2");
	fake_mail_set_flags(bob.addr, "INBOX", 0, QM_FLAG_SEEN);
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.plain, 2);
	assert_int_equal(st.folders, 3); /* INBOX, Sent, Archive */
	f = folder_named(&bob, "INBOX", &v, &n);
	assert_int_equal(n, 5);
	assert_int_equal(f->total, 2);
	assert_int_equal(f->unread, 1);
	assert_true(f->uidvalidity != 0);
	assert_int_equal(f->lastuid, 2);
	qm_client_folders_free(&v, n);
	f = folder_named(&bob, "Sent", &v, &n);
	assert_int_equal(f->use, QM_FOLDER_USE_SENT);
	assert_true(f->subscribed);
	qm_client_folders_free(&v, n);
	f = folder_named(&bob, "Trash", &v, &n);
	assert_int_equal(f->use, QM_FOLDER_USE_TRASH);
	assert_false(f->subscribed);
	qm_client_folders_free(&v, n);

	/* POP3: INBOX alone, and it says so when asked for more */
	assert_ok(qm_client_folders(carol.c, carol.acct, &v, &n, &e));
	assert_int_equal(n, 1);
	assert_string_equal(v[0].name, "INBOX");
	qm_client_folders_free(&v, n);
	assert_int_equal(qm_client_folders_refresh(carol.c, carol.acct, &e),
	                 QM_ERR_UNSUPPORTED);
	assert_non_null(strstr(qm_error_msg(&e), "POP3"));
	assert_ok(qm_client_folders_refresh(bob.c, bob.acct, &e));
	/* the setting */
	assert_int_equal(qm_client_setting_set(bob.c, bob.acct,
	                                       QM_CLIENT_SET_SYNC_FOLDERS,
	                                       "some", &e),
	                 QM_ERR_INVAL);
}

/* Which folders a sync takes: subscribed ones (Trash is not; Sent is,
 * its plain mail filed as plain), all, or INBOX alone. */
static void test_which_folders(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;
	int64_t ids[8];

	(void)state;
	eu_plain_to(&bob, "Archive", "a1");
	eu_plain_to(&bob, "Trash", "t1");
	eu_plain_to(&bob, "Sent", "s1");
	assert_ok(qm_client_setting_set(
	    bob.c, bob.acct, QM_CLIENT_SET_SYNC_FOLDERS, "inbox", &e));
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.folders, 1);
	assert_ok(qm_client_setting_set(bob.c, bob.acct,
	                                QM_CLIENT_SET_SYNC_FOLDERS, "", &e));
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.plain, 2);
	assert_int_equal(in_folder(&bob, "Archive", ids, 8), 1);
	assert_int_equal(in_folder(&bob, "Sent", ids, 8), 1);
	assert_int_equal(in_folder(&bob, "INBOX", ids, 8), 0);
	assert_ok(qm_client_setting_set(bob.c, bob.acct,
	                                QM_CLIENT_SET_SYNC_FOLDERS, "all", &e));
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(in_folder(&bob, "Trash", ids, 8), 1);
}

/* Flags another client changed are taken at the next sync; QMail's own
 * are written at the next one, also when made while the server could not
 * be reached; each flag goes the way it was changed. */
static void test_flags_both_ways(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;
	int64_t id;
	unsigned now = 0;

	(void)state;
	eu_plain_to(&bob, "INBOX", "f1");
	eu_sync_ok(&bob, &st);
	assert_int_equal(in_folder(&bob, "INBOX", &id, 1), 1);
	assert_int_equal(flags_of(&bob, id), 0);

	/* elsewhere: read and flagged */
	fake_mail_set_flags(bob.addr, "INBOX", 0,
	                    QM_FLAG_SEEN | QM_FLAG_FLAGGED);
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.flags_pulled, 1);
	assert_int_equal(st.flags_pushed, 0);
	assert_int_equal(flags_of(&bob, id), QM_FLAG_SEEN | QM_FLAG_FLAGGED);

	/* here, offline: unflagged and answered; the server fails */
	assert_ok(qm_client_msg_flags(bob.c, id, QM_FLAG_ANSWERED,
	                              QM_FLAG_FLAGGED, &now, &e));
	assert_int_equal(now, QM_FLAG_SEEN | QM_FLAG_ANSWERED);
	assert_int_equal(fake_mail_flags(bob.addr, "INBOX", 0),
	                 QM_FLAG_SEEN | QM_FLAG_FLAGGED);
	fake_mail_fail(FM_IMAP_OPEN, QM_ERR_NET, "connection refused", 0);
	assert_int_not_equal(eu_sync(&bob, &st, &e), QM_OK);
	/* meanwhile elsewhere: unread (another flag) */
	fake_mail_set_flags(bob.addr, "INBOX", 0, QM_FLAG_FLAGGED);
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.flags_pushed, 1);
	/* the user's changes went to the server, the server's came here */
	assert_int_equal(fake_mail_flags(bob.addr, "INBOX", 0),
	                 QM_FLAG_ANSWERED);
	assert_int_equal(flags_of(&bob, id), QM_FLAG_ANSWERED);
	/* nothing more to do either way */
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.flags_pushed + st.flags_pulled, 0);
	assert_int_equal(fake_mail_calls[FM_IMAP_STORE], 1);

	/* reading marks it read on the server at the next sync */
	{
		struct qm_client_view *view = NULL;

		assert_ok(qm_client_read(bob.c, id, &view, &e));
		qm_client_view_free(&view);
	}
	eu_sync_ok(&bob, &st);
	assert_int_equal(fake_mail_flags(bob.addr, "INBOX", 0),
	                 QM_FLAG_ANSWERED | QM_FLAG_SEEN);
}

/* A QMail message moved to another folder on the server, and back: the
 * same record, shown in the folder it is in, opened once (one KME
 * request), never a replay; read here, the copy in its new place is marked
 * read too. */
static void test_moved_read_once(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sync_stats st;
	struct qm_client_sent out;
	struct qm_error e;
	int64_t id, id2;
	size_t keys;

	(void)state;
	assert_ok(eu_send(&alice, to, 1, 2, 0, "moved around", &out, &e));
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 1);
	keys = fake_keys_fetched();
	assert_int_equal(in_folder(&bob, "INBOX", &id, 1), 1);
	assert_ok(qm_client_msg_flags(bob.c, id, QM_FLAG_SEEN, 0, NULL, &e));

	assert_true(fake_mail_move(bob.addr, "INBOX", 0, "Archive") > 0);
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted + st.replayed, 0);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(fake_keys_fetched(), keys);
	assert_int_equal(in_folder(&bob, "INBOX", &id2, 1), 0);
	assert_int_equal(in_folder(&bob, "Archive", &id2, 1), 1);
	assert_int_equal(id2, id);
	/* by name too: where it is now, not where it was first filed */
	assert_int_equal(by_name(&bob, "Archive"), 1);
	assert_int_equal(by_name(&bob, "INBOX"), 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	/* the read mark reaches the new place at the next sync */
	eu_sync_ok(&bob, &st);
	assert_int_equal(fake_mail_flags(bob.addr, "Archive", 0), QM_FLAG_SEEN);

	assert_true(fake_mail_move(bob.addr, "Archive", 0, "INBOX") > 0);
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted + st.replayed, 0);
	assert_int_equal(fake_keys_fetched(), keys);
	assert_int_equal(in_folder(&bob, "INBOX", &id2, 1), 1);
	assert_int_equal(id2, id);
	assert_int_equal(in_folder(&bob, "Archive", &id2, 1), 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REPLAY), 0);
}

/* A renumbered folder (new UIDVALIDITY) loses its places, not its
 * messages: each is found again (a QMail one opened once, a plain one
 * filed once), and a plain message deleted on the server goes. */
static void test_renumbered(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_sync_stats st;
	struct qm_client_sent out;
	struct qm_error e;
	int64_t ids[8];
	size_t keys;

	(void)state;
	assert_ok(eu_send(&alice, to, 1, 2, 0, "kept", &out, &e));
	eu_plain_to(&bob, "INBOX", "r1");
	eu_plain_to(&bob, "INBOX", "r2");
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.plain, 2);
	keys = fake_keys_fetched();

	fake_mail_renumber(bob.addr, "INBOX");
	eu_sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 3);
	assert_int_equal(st.decrypted + st.replayed + st.plain, 0);
	assert_int_equal(fake_keys_fetched(), keys);
	assert_int_equal(in_folder(&bob, "INBOX", ids, 8), 3);
	assert_int_equal(eu_count(&bob, QM_VERIFY_NOT_QMAIL), 2);

	/* gone from the server: the plain one goes, the QMail one stays */
	fake_mail_drop(bob.addr, "INBOX", 2);
	fake_mail_drop(bob.addr, "INBOX", 0);
	eu_sync_ok(&bob, &st);
	assert_int_equal(in_folder(&bob, "INBOX", ids, 8), 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_NOT_QMAIL), 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
}

/* What the hook of test_deleted_during_sync does: the GUI's reader
 * handle deletes the message here while the sync worker's handle syncs. */
struct del_during {
	struct qm_client *other;
	int64_t id;
	enum qm_err rc;
};

static void delete_now(void *arg)
{
	struct del_during *d = arg;
	struct qm_error e;

	d->rc = qm_client_msg_delete(d->other, d->id, &e);
}

/* A message deleted here through another handle while a sync of its
 * account writes its flags (the sync read its place before): the sync
 * goes on, and the next one too; the server keeps what it had. */
static void test_deleted_during_sync(void **state)
{
	struct qm_client_sync_stats st;
	struct del_during d = {NULL, 0, QM_ERR_INVAL};
	struct qm_error e;
	int64_t ids[2];

	(void)state;
	eu_plain_to(&bob, "INBOX", "d1");
	eu_plain_to(&bob, "INBOX", "d2");
	eu_sync_ok(&bob, &st);
	assert_int_equal(in_folder(&bob, "INBOX", ids, 2), 2);
	assert_ok(
	    qm_client_msg_flags(bob.c, ids[0], QM_FLAG_FLAGGED, 0, NULL, &e));
	assert_ok(
	    qm_client_msg_flags(bob.c, ids[1], QM_FLAG_FLAGGED, 0, NULL, &e));
	assert_ok(qm_client_clone(bob.c, &d.other, &e));
	/* at the first flag write of the sync, both messages' places read:
	 * one message is deleted here */
	d.id = ids[0] < ids[1] ? ids[1] : ids[0];
	fake_mail_hook(FM_IMAP_STORE, delete_now, &d);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_ok(d.rc);
	assert_int_equal(in_folder(&bob, "INBOX", ids, 2), 1);
	eu_sync_ok(&bob, &st);
	assert_int_equal(in_folder(&bob, "INBOX", ids, 2), 1);
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 2);
	qm_client_free(&d.other);
}

/* u's message with that subject in INBOX (there must be one). */
static int64_t by_subject(struct eu *u, const char *subject)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	int64_t id = 0;

	memset(&q, 0, sizeof(q));
	q.account_id = u->acct;
	q.folder = "INBOX";
	assert_ok(qm_client_msg_list(u->c, &q, &l, &e));
	for (size_t k = 0; k < l->n; k++)
		if (l->items[k].subject &&
		    strcmp(l->items[k].subject, subject) == 0)
			id = l->items[k].id;
	qm_client_msglist_free(&l);
	if (!id)
		fail_msg("%s has no message \"%s\"", u->name, subject);
	return id;
}

/* The threading headers as received, for the thread view, read without
 * marking the message read: "" for a message with none; a message that
 * is not there, or a locked vault, is an error. */
static void test_msg_refs(void **state)
{
	static const char reply[] =
	    "From: dave@x.test\r\nTo: bob@x.test\r\nSubject: reply\r\n"
	    "Date: Mon, 1 Dec 2025 11:00:00 +0000\r\n"
	    "Message-ID: <c3@x.test>\r\n"
	    "In-Reply-To: <c2@x.test>\r\n"
	    "References: <c1@x.test>\r\n <c2@x.test>\r\n\r\nagreed\r\n";
	const char *to[] = {bob.addr};
	struct qm_client_sync_stats st;
	struct qm_client_sent out;
	struct qm_error e;
	char *irt = NULL, *refs = NULL;
	int64_t rid, pid, qid;

	(void)state;
	assert_true(
	    fake_mail_deliver(bob.addr, "INBOX", reply, sizeof(reply) - 1) > 0);
	eu_plain_to(&bob, "INBOX", "alone");
	assert_ok(eu_send(&alice, to, 1, 2, 0, "sealed", &out, &e));
	eu_sync_ok(&bob, &st);
	rid = by_subject(&bob, "reply");
	pid = by_subject(&bob, "plain alone");
	{
		int64_t ids[3];

		/* the QMail message: the third one */
		assert_int_equal(in_folder(&bob, "INBOX", ids, 3), 3);
		qid = 0;
		for (size_t k = 0; k < 3; k++)
			if (ids[k] != rid && ids[k] != pid)
				qid = ids[k];
		assert_int_not_equal(qid, 0);
	}

	assert_ok(qm_client_msg_refs(bob.c, rid, &irt, &refs, &e));
	assert_string_equal(irt, "<c2@x.test>");
	/* folded as received; qm_client_thread_build reads the IDs */
	assert_non_null(strstr(refs, "<c1@x.test>"));
	assert_non_null(strstr(refs, "<c2@x.test>"));
	assert_true(strstr(refs, "<c1@x.test>") < strstr(refs, "<c2@x.test>"));
	free(irt);
	free(refs);
	/* nothing marked read, on the message or (next sync) the server */
	assert_int_equal(flags_of(&bob, rid) & QM_FLAG_SEEN, 0);

	irt = refs = NULL;
	assert_ok(qm_client_msg_refs(bob.c, pid, &irt, &refs, &e));
	assert_string_equal(irt, "");
	assert_string_equal(refs, "");
	free(irt);
	free(refs);

	/* a QMail message: read from its decrypted copy in the vault, with
	 * no second KME request */
	irt = refs = NULL;
	{
		size_t keys = fake_keys_fetched();

		assert_ok(qm_client_msg_refs(bob.c, qid, &irt, &refs, &e));
		assert_int_equal(fake_keys_fetched(), keys);
	}
	assert_non_null(irt);
	assert_non_null(refs);
	free(irt);
	free(refs);
	assert_int_equal(flags_of(&bob, qid) & QM_FLAG_SEEN, 0);

	irt = refs = NULL;
	assert_int_equal(
	    qm_client_msg_refs(bob.c, rid + qid + pid + 100, &irt, &refs, &e),
	    QM_ERR_NOTFOUND);
	assert_null(irt);
	assert_null(refs);

	eu_sync_ok(&bob, &st);
	assert_int_equal(flags_of(&bob, rid) & QM_FLAG_SEEN, 0);

	qm_client_lock(bob.c);
	assert_int_not_equal(qm_client_msg_refs(bob.c, rid, &irt, &refs, &e),
	                     QM_OK);
	assert_null(irt);
	assert_null(refs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_folder_list, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_which_folders, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_flags_both_ways, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_moved_read_once, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_renumbered, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_msg_refs, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_deleted_during_sync, setup,
	                                    eng_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
