/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the store's folders and places (schema 6, folder.c): a
 * folder kept and updated by name with its sync state, a message filed
 * once with places in several folders and listed in each, unread counts,
 * a place held by one message only, a renumbered folder losing its places
 * but not its messages, flags after a sync in one transaction, and the
 * upgrade from schema 5 giving IMAP messages their place.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "store/store.h"

#define PASS "correct horse battery staple"

struct fx {
	char home[512];
	struct qm_store *s;
	int64_t acct;
};

static int64_t account_add(struct qm_store *s, const char *addr)
{
	struct qm_store_account a;
	struct qm_error e;

	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, addr, sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	return a.id;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct qm_error e;

	setenv("QM_STORE_KDF", "fast", 1);
	assert_non_null(f);
	assert_int_equal(qmt_tmpdir("store-fold", f->home, sizeof(f->home)), 0);
	assert_int_equal(qm_store_open(f->home, NULL, &f->s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	f->acct = account_add(f->s, "alice@example.org");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	qm_store_close(&f->s);
	qmt_rmtree(f->home);
	free(f);
	return 0;
}

/* A plain message first filed at (folder, uid); returns its id. */
static int64_t msg_add(struct qm_store *s, int64_t acct, const char *folder,
                       int64_t uid, const char *uidl, unsigned flags)
{
	struct qm_store_msg m;
	struct qm_error e;
	char mid[64];
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	snprintf(mid, sizeof(mid), "<%lld.%s@example.org>", (long long)uid,
	         uidl ? uidl : folder);
	m.account_id = acct;
	m.folder = folder;
	m.uidvalidity = uidl ? 0 : 7;
	m.uid = uidl ? 0 : uid;
	m.uidl = uidl;
	m.message_id = mid;
	m.from_addr = "bob@example.org";
	m.to_addrs = "alice@example.org";
	m.date = 1700000000 + uid;
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.flags = flags;
	assert_int_equal(
	    qm_store_msg_add(s, &m, "hello", NULL, 0, "MIME", 4, NULL, &id, &e),
	    QM_OK);
	return id;
}

static int64_t folder_put(struct qm_store *s, int64_t acct, const char *name,
                          const char *display, enum qm_store_folder_use use)
{
	struct qm_store_folder f;
	struct qm_error e;
	int64_t id = 0;

	memset(&f, 0, sizeof(f));
	f.account_id = acct;
	f.name = (char *)(uintptr_t)name;
	f.display = (char *)(uintptr_t)display;
	f.delim = '/';
	f.use = use;
	f.subscribed = 1;
	f.selectable = 1;
	assert_int_equal(qm_store_folder_put(s, &f, &id, &e), QM_OK);
	assert_true(id > 0);
	return id;
}

/* How many messages listing folder fid gives. */
static size_t listed(struct qm_store *s, int64_t acct, int64_t fid)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	int64_t n = 0;
	size_t k;

	memset(&q, 0, sizeof(q));
	q.account_id = acct;
	q.folder_id = fid;
	assert_int_equal(qm_store_msg_list(s, &q, &l, &e), QM_OK);
	assert_int_equal(qm_store_msg_count(s, &q, &n, &e), QM_OK);
	k = l->n;
	assert_int_equal((int64_t)k, n);
	qm_store_msglist_free(&l);
	return k;
}

static void test_folder_put_list(void **state)
{
	struct fx *f = *state;
	struct qm_store_folder g, *v = NULL;
	struct qm_error e;
	char longname[QM_STORE_FOLDERMAX + 2];
	int64_t inbox, sent, again;
	size_t n = 0;

	inbox =
	    folder_put(f->s, f->acct, "INBOX", "INBOX", QM_FOLDER_USE_INBOX);
	sent = folder_put(f->s, f->acct, "[Gmail]/Sent Mail", "[Gmail]/Sent",
	                  QM_FOLDER_USE_SENT);
	assert_int_not_equal(inbox, sent);
	assert_int_equal(
	    qm_store_folder_state_set(f->s, sent, 42, 1234, 17, &e), QM_OK);
	/* the same name again: the same folder, its display and use follow
	 * the server, the sync state stays */
	again = folder_put(f->s, f->acct, "[Gmail]/Sent Mail",
	                   "[Gmail]/Sent Mail", QM_FOLDER_USE_SENT);
	assert_int_equal(again, sent);
	assert_int_equal(
	    qm_store_folder_get(f->s, f->acct, "[Gmail]/Sent Mail", &g, &e),
	    QM_OK);
	assert_string_equal(g.display, "[Gmail]/Sent Mail");
	assert_int_equal(g.use, QM_FOLDER_USE_SENT);
	assert_int_equal(g.delim, '/');
	assert_int_equal(g.uidvalidity, 42);
	assert_int_equal(g.highestmodseq, 1234);
	assert_int_equal(g.lastuid, 17);
	qm_store_folder_clear(&g);
	assert_int_equal(qm_store_folder_get(f->s, f->acct, "Nope", &g, &e),
	                 QM_ERR_NOTFOUND);
	/* another account's folder of the same name is another folder */
	assert_int_not_equal(folder_put(f->s, account_add(f->s, "b@x.org"),
	                                "INBOX", "INBOX", QM_FOLDER_USE_INBOX),
	                     inbox);
	assert_int_equal(qm_store_folder_list(f->s, f->acct, &v, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "INBOX");
	assert_string_equal(v[1].name, "[Gmail]/Sent Mail");
	assert_int_equal(v[0].total, 0);
	qm_store_folders_free(&v, n);
	assert_null(v);
	/* bounds */
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memset(&g, 0, sizeof(g));
	g.account_id = f->acct;
	g.name = longname;
	assert_int_equal(qm_store_folder_put(f->s, &g, NULL, &e),
	                 QM_ERR_TOOBIG);
	g.name = (char *)(uintptr_t) "";
	assert_int_equal(qm_store_folder_put(f->s, &g, NULL, &e), QM_ERR_INVAL);
	g.name = (char *)(uintptr_t) "X";
	g.account_id = 999;
	assert_int_equal(qm_store_folder_put(f->s, &g, NULL, &e),
	                 QM_ERR_NOTFOUND);
}

static void test_places(void **state)
{
	struct fx *f = *state;
	struct qm_store_folder *v = NULL;
	struct qm_store_place *p = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	int64_t inbox, all, m1, m2, held = 0;
	size_t n = 0;
	int left = 0;

	inbox =
	    folder_put(f->s, f->acct, "INBOX", "INBOX", QM_FOLDER_USE_INBOX);
	all = folder_put(f->s, f->acct, "[Gmail]/All Mail", "All Mail",
	                 QM_FOLDER_USE_ALL);
	m1 = msg_add(f->s, f->acct, "INBOX", 5, NULL, 0);
	m2 = msg_add(f->s, f->acct, "INBOX", 6, NULL, QM_FLAG_SEEN);
	/* m1 in two folders, filed once */
	assert_int_equal(qm_store_place_add(f->s, inbox, 5, m1, 0, &e), QM_OK);
	assert_int_equal(qm_store_place_add(f->s, all, 900, m1, 0, &e), QM_OK);
	assert_int_equal(
	    qm_store_place_add(f->s, inbox, 6, m2, QM_FLAG_SEEN, &e), QM_OK);
	/* a place holds one message */
	assert_int_equal(qm_store_place_add(f->s, inbox, 5, m2, 0, &e),
	                 QM_ERR_EXISTS);
	/* the same place again: its flags */
	assert_int_equal(
	    qm_store_place_add(f->s, all, 900, m1, QM_FLAG_FLAGGED, &e), QM_OK);
	assert_int_equal(qm_store_place_add(f->s, inbox, 0, m1, 0, &e),
	                 QM_ERR_INVAL);
	assert_int_equal(qm_store_place_add(f->s, inbox, 77, 9999, 0, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_place_find(f->s, inbox, 6, &held, &e), QM_OK);
	assert_int_equal(held, m2);
	assert_int_equal(listed(f->s, f->acct, inbox), 2);
	assert_int_equal(listed(f->s, f->acct, all), 1);
	assert_int_equal(qm_store_folder_list(f->s, f->acct, &v, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].name, "INBOX");
	assert_int_equal(v[0].total, 2);
	assert_int_equal(v[0].unread, 1);
	assert_string_equal(v[1].name, "[Gmail]/All Mail");
	assert_int_equal(v[1].total, 1);
	assert_int_equal(v[1].unread, 1);
	qm_store_folders_free(&v, n);

	assert_int_equal(qm_store_msg_places(f->s, m1, &p, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(p[0].folder_id, inbox);
	assert_int_equal(p[1].folder_id, all);
	assert_int_equal(p[1].uid, 900);
	assert_int_equal(p[1].flags, QM_FLAG_FLAGGED);
	free(p);

	/* after a flag sync: the server's and the message's flags at once */
	assert_int_equal(qm_store_place_flags_set(f->s, inbox, 5, QM_FLAG_SEEN,
	                                          0, QM_FLAG_SEEN, &e),
	                 QM_OK);
	assert_int_equal(qm_store_place_list(f->s, inbox, &p, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(p[0].uid, 5);
	assert_int_equal(p[0].flags, QM_FLAG_SEEN);
	assert_int_equal(p[0].msg_flags, QM_FLAG_SEEN);
	free(p);
	assert_int_equal(qm_store_place_flags_set(f->s, inbox, 55, 0, 0, 0, &e),
	                 QM_ERR_NOTFOUND);
	/* the user changed the message meanwhile (another handle): the
	 * place follows the server, the message keeps the user's flags */
	assert_int_equal(
	    qm_store_place_flags_set(f->s, inbox, 5, 0, 0, QM_FLAG_FLAGGED, &e),
	    QM_OK);
	assert_int_equal(qm_store_place_list(f->s, inbox, &p, &n, &e), QM_OK);
	assert_int_equal(p[0].flags, 0);
	assert_int_equal(p[0].msg_flags, QM_FLAG_SEEN);
	free(p);

	/* gone from INBOX: one place left, the message stays */
	assert_int_equal(qm_store_place_remove(f->s, inbox, 5, &left, &e),
	                 QM_OK);
	assert_int_equal(left, 1);
	assert_int_equal(qm_store_place_remove(f->s, inbox, 5, &left, &e),
	                 QM_OK);
	assert_int_equal(left, -1);
	assert_int_equal(listed(f->s, f->acct, inbox), 1);

	/* renumbered: no place left in it, every message still there */
	assert_int_equal(qm_store_folder_reset(f->s, all, 88, &e), QM_OK);
	assert_int_equal(listed(f->s, f->acct, all), 0);
	assert_int_equal(qm_store_msg_get(f->s, m1, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	qm_store_msglist_free(&l);
	/* forgotten: its places go with it, the messages stay */
	assert_int_equal(qm_store_folder_forget(f->s, inbox, &e), QM_OK);
	assert_int_equal(qm_store_place_find(f->s, inbox, 6, &held, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_msg_get(f->s, m2, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	qm_store_msglist_free(&l);
	/* a message deleted takes its places along */
	assert_int_equal(qm_store_place_add(f->s, all, 1, m1, 0, &e), QM_OK);
	assert_int_equal(qm_store_msg_delete(f->s, m1, &e), QM_OK);
	assert_int_equal(qm_store_place_find(f->s, all, 1, &held, &e),
	                 QM_ERR_NOTFOUND);
}

/* A database of schema 5 gets folders and places from its IMAP messages. */
static void test_upgrade_places(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store_folder g;
	struct qm_store_place *p = NULL;
	struct qm_store *s = NULL;
	struct qm_error e;
	int64_t acct, m1, m2, m3;
	char home[512];
	size_t n = 0;

	(void)state;
	assert_int_equal(qmt_tmpdir("store-fold5", home, sizeof(home)), 0);
	o.schema_max = 5;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), 5);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	acct = account_add(s, "alice@example.org");
	m1 = msg_add(s, acct, "INBOX", 3, NULL, QM_FLAG_SEEN);
	m2 = msg_add(s, acct, "INBOX", 9, NULL, 0);
	m3 = msg_add(s, acct, "INBOX", 1, "pop-uidl-1", 0); /* POP3 */
	qm_store_close(&s);

	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), qm_store_schema_latest());
	assert_true(qm_store_schema_latest() >= 6);
	assert_int_equal(qm_store_folder_get(s, acct, "INBOX", &g, &e), QM_OK);
	assert_int_equal(g.uidvalidity, 7);
	assert_int_equal(g.lastuid, 9);
	assert_int_equal(g.highestmodseq, 0);
	assert_int_equal(g.use, QM_FOLDER_USE_INBOX);
	assert_int_equal(qm_store_place_list(s, g.id, &p, &n, &e), QM_OK);
	assert_int_equal(n, 2); /* not the POP3 message */
	assert_int_equal(p[0].uid, 3);
	assert_int_equal(p[0].msg_id, m1);
	assert_int_equal(p[0].flags, QM_FLAG_SEEN);
	assert_int_equal(p[1].msg_id, m2);
	free(p);
	assert_int_equal(qm_store_msg_places(s, m3, &p, &n, &e), QM_OK);
	assert_int_equal(n, 0);
	free(p);
	qm_store_folder_clear(&g);
	qm_store_close(&s);
	qmt_rmtree(home);
}

/* A header-only record (schema 7): added without its body, listed as
 * waiting for it, its place among the folder's pending ones (newest UID
 * first), filled in once under the same id; only a plain record is one.
 * A schema-6 database upgrades with every message having its body. */
static void test_header_only(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store_msglist *l = NULL;
	struct qm_store_place *p = NULL;
	struct qm_store_msg m;
	struct qm_store *s = NULL;
	struct qm_buf body;
	struct qm_error e;
	int64_t acct, old, fid, h1, h2, id;
	char home[512];
	size_t n = 0;

	(void)state;
	assert_int_equal(qmt_tmpdir("store-head6", home, sizeof(home)), 0);
	o.schema_max = 6;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	acct = account_add(s, "alice@example.org");
	old = msg_add(s, acct, "INBOX", 1, NULL, 0);
	qm_store_close(&s);
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), qm_store_schema_latest());
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_msg_get(s, old, &l, &e), QM_OK);
	assert_int_equal(l->items[0].body_pending, 0);
	assert_int_equal(l->items[0].has_body, 1);
	qm_store_msglist_free(&l);

	fid = folder_put(s, acct, "INBOX", "INBOX", QM_FOLDER_USE_INBOX);
	memset(&m, 0, sizeof(m));
	m.account_id = acct;
	m.folder = "INBOX";
	m.uidvalidity = 7;
	m.message_id = "<h@example.org>";
	m.from_addr = "bob@example.org";
	m.to_addrs = "alice@example.org";
	m.date = 1700000000;
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.size = 4;
	m.body_pending = 1;
	/* never with a body, a level or another state */
	m.uid = 5;
	assert_int_equal(
	    qm_store_msg_add(s, &m, "head", NULL, 0, "MIME", 4, NULL, &id, &e),
	    QM_ERR_INVAL);
	m.verify = QM_VERIFY_WAITING;
	assert_int_equal(
	    qm_store_msg_add(s, &m, "head", NULL, 0, NULL, 0, NULL, &id, &e),
	    QM_ERR_INVAL);
	m.verify = QM_VERIFY_NOT_QMAIL;
	assert_int_equal(
	    qm_store_msg_add(s, &m, "head", NULL, 0, NULL, 0, NULL, &h1, &e),
	    QM_OK);
	m.uid = 9;
	assert_int_equal(
	    qm_store_msg_add(s, &m, "head 2", NULL, 0, NULL, 0, NULL, &h2, &e),
	    QM_OK);
	assert_int_equal(qm_store_place_add(s, fid, 5, h1, 0, &e), QM_OK);
	assert_int_equal(qm_store_place_add(s, fid, 9, h2, 0, &e), QM_OK);
	assert_int_equal(qm_store_place_add(s, fid, 1, old, 0, &e), QM_OK);
	assert_int_equal(qm_store_place_pending(s, fid, &p, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(p[0].uid, 9);
	assert_int_equal(p[0].msg_id, h2);
	assert_int_equal(p[1].msg_id, h1);
	free(p);
	assert_int_equal(qm_store_msg_get(s, h1, &l, &e), QM_OK);
	assert_int_equal(l->items[0].body_pending, 1);
	assert_int_equal(l->items[0].has_body, 0);
	qm_store_msglist_free(&l);
	qm_buf_init_secure(&body, 1024);
	assert_int_equal(qm_store_msg_body(s, h1, &body, &e), QM_ERR_NOTFOUND);

	/* filled once, under its id; not a message that has its body */
	assert_int_equal(
	    qm_store_msg_body_fill(s, h1, "BODY", 4, "text", 2, &e), QM_OK);
	assert_int_equal(
	    qm_store_msg_body_fill(s, h1, "EVIL", 4, "text", 0, &e),
	    QM_ERR_STATE);
	assert_int_equal(
	    qm_store_msg_body_fill(s, old, "EVIL", 4, "text", 0, &e),
	    QM_ERR_STATE);
	qm_buf_reset(&body);
	assert_int_equal(qm_store_msg_body(s, h1, &body, &e), QM_OK);
	assert_int_equal(body.len, 4);
	assert_memory_equal(body.data, "BODY", 4);
	qm_buf_free(&body);
	assert_int_equal(qm_store_msg_get(s, h1, &l, &e), QM_OK);
	assert_int_equal(l->items[0].body_pending, 0);
	assert_int_equal(l->items[0].has_body, 1);
	assert_int_equal(l->items[0].n_attach, 2);
	assert_int_equal(l->items[0].label, QM_LABEL_OK);
	qm_store_msglist_free(&l);
	assert_int_equal(qm_store_place_pending(s, fid, &p, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(p[0].msg_id, h2);
	free(p);
	qm_store_close(&s);
	qmt_rmtree(home);
}

/* A renamed folder and the folders under it keep their places and sync
 * state (the server keeps the UIDs); a stale row under the new name gives
 * way; a folder whose name merely starts the same is left alone. */
static void test_folder_rename(void **state)
{
	struct fx *f = *state;
	struct qm_store_folder g;
	struct qm_error e;
	int64_t work, sub, workshop, stale, m1, m2;

	work = folder_put(f->s, f->acct, "Work", "Work", QM_FOLDER_USE_NONE);
	sub = folder_put(f->s, f->acct, "Work/2025", "2025",
	                 QM_FOLDER_USE_NONE);
	workshop = folder_put(f->s, f->acct, "Workshop", "Workshop",
	                      QM_FOLDER_USE_NONE);
	stale = folder_put(f->s, f->acct, "Jobs", "Jobs", QM_FOLDER_USE_NONE);
	m1 = msg_add(f->s, f->acct, "Work", 7, NULL, 0);
	m2 = msg_add(f->s, f->acct, "Work/2025", 3, NULL, 0);
	assert_int_equal(qm_store_place_add(f->s, work, 7, m1, 0, &e), QM_OK);
	assert_int_equal(qm_store_place_add(f->s, sub, 3, m2, 0, &e), QM_OK);
	assert_int_equal(qm_store_place_add(f->s, stale, 1, m1, 0, &e), QM_OK);
	assert_int_equal(
	    qm_store_folder_state_set(f->s, work, 4242, 99, 7, &e), QM_OK);

	assert_int_equal(qm_store_folder_rename(f->s, f->acct, "Work", "Jobs",
	                                        '/', &e),
	                 QM_OK);
	assert_int_equal(qm_store_folder_get(f->s, f->acct, "Jobs", &g, &e),
	                 QM_OK);
	assert_int_equal(g.id, work);
	assert_int_equal(g.uidvalidity, 4242);
	assert_int_equal(g.lastuid, 7);
	qm_store_folder_clear(&g);
	assert_int_equal(listed(f->s, f->acct, work), 1);
	assert_int_equal(
	    qm_store_folder_get(f->s, f->acct, "Jobs/2025", &g, &e), QM_OK);
	assert_int_equal(g.id, sub);
	qm_store_folder_clear(&g);
	assert_int_equal(listed(f->s, f->acct, sub), 1);
	assert_int_equal(qm_store_folder_get(f->s, f->acct, "Work", &g, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(
	    qm_store_folder_get(f->s, f->acct, "Workshop", &g, &e), QM_OK);
	assert_int_equal(g.id, workshop);
	qm_store_folder_clear(&g);
	assert_int_equal(qm_store_folder_rename(f->s, f->acct, "Nope", "X",
	                                        '/', &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_folder_rename(f->s, f->acct, "Jobs", "",
	                                        '/', &e),
	                 QM_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_folder_put_list, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_places, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_folder_rename, setup,
	                                    teardown),
	    cmocka_unit_test(test_upgrade_places),
	    cmocka_unit_test(test_header_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
