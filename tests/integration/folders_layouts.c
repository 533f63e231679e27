/* SPDX-License-Identifier: MIT */
/*
 * The engine's folder sync against the real Dovecot laid out three ways
 * (tests/lib/mailserver.h): the plain layout, Gmail's ([Gmail]/Sent Mail,
 * All Mail, Trash, Spam, Drafts, Starred with RFC 6154 special use) and
 * Outlook's names with no special use (Sent Items, Deleted Items, Junk
 * Email, Drafts, Archive). For each: the folder list names every special
 * use right, one sync fetches the mail of every special folder a sync
 * takes (Sent, Drafts and All Mail too; not the view of flagged mail,
 * docs/CLIENT.md "Which folders a sync takes"), a sync
 * with nothing new selects no folder (the folder list's STATUS shows each
 * unchanged), a flag changed by a second IMAP client is taken and a flag
 * changed in QMail is written although the server had nothing new. And
 * the batched fetch of a sync (64 messages per command) with a message
 * past limit.message_size among them: those before it filed, it refused,
 * those after it filed at the next sync. Plain mail only: no KME runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "harness.h"
#include "mailserver.h"
#include "qmtest.h"

#define USER 1 /* bob */
#define PASS "correct horse battery staple"

static struct qmt_mail M;
static struct qm_client *C;
static int64_t ACCT;
static char dir[512];

/* The servers with layout l and a QMail home with bob's account (no KME:
 * the mail here is plain). With preset, the account is the provider
 * registry's (qm_client_account_preset: gmail, outlook), the test's
 * servers standing in for the provider's hosts. Skips when this machine
 * cannot run them. */
static void start(enum qmt_mail_layout l, const char *preset)
{
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_error e;
	char home[700];
	int r;

	memset(&M, 0, sizeof(M));
	M.layout = l;
	setenv("QM_STORE_KDF", "fast", 1);
	r = qmt_mail_start(&M);
	if (r == 1)
		skip();
	assert_int_equal(r, 0);
	assert_int_equal(qmt_tmpdir("folders-layouts", dir, sizeof(dir)), 0);
	snprintf(home, sizeof(home), "%s/home", dir);
	memset(&o, 0, sizeof(o));
	o.home = home;
	qm_error_clear(&e);
	assert_ok(qm_client_open(&o, &C, &e));
	assert_ok(qm_client_init(C, PASS, strlen(PASS), &e));
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, qmt_mail_addr(USER), sizeof(a.address));
	if (preset) {
		assert_ok(qm_client_account_preset(&a, preset, &e));
		assert_true(a.imap.host[0] && a.smtp.host[0]);
	}
	qm_strlcpy(a.smtp.host, "127.0.0.1", sizeof(a.smtp.host));
	a.smtp.port = M.submission_port;
	a.smtp.tls = QM_TLS_STARTTLS;
	qm_strlcpy(a.imap.host, "127.0.0.1", sizeof(a.imap.host));
	a.imap.port = M.imaps_port;
	a.imap.tls = QM_TLS_IMPLICIT;
	a.default_level = 4;
	assert_ok(qm_client_account_add(C, &a, qmt_mail_password(USER),
	                                strlen(qmt_mail_password(USER)), &e));
	ACCT = a.id;
	assert_ok(qm_client_setting_set(C, ACCT, "mail_ca", M.ca_file, &e));
}

static int teardown(void **state)
{
	(void)state;
	qm_client_free(&C);
	if (M.dovecot || M.smtpd)
		qmt_mail_stop(&M);
	memset(&M, 0, sizeof(M));
	if (dir[0])
		qmt_rmtree(dir);
	dir[0] = '\0';
	return 0;
}

static void sync_now(struct qm_client_sync_stats *st)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_sync(C, ACCT, NULL, NULL, st, &e));
}

/* The message of subject in folder name: its id, or -1. */
static int64_t in_folder(const char *name, const char *subject)
{
	struct qm_store_folder *v = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	size_t n = 0;
	int64_t id = -1;

	memset(&q, 0, sizeof(q));
	q.account_id = ACCT;
	q.limit = 1000;
	assert_ok(qm_client_folders(C, ACCT, &v, &n, &e));
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			q.folder_id = v[i].id;
	qm_client_folders_free(&v, n);
	assert_true(q.folder_id > 0);
	assert_ok(qm_client_msg_list(C, &q, &l, &e));
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].subject &&
		    strcmp(l->items[i].subject, subject) == 0)
			id = l->items[i].id;
	qm_client_msglist_free(&l);
	return id;
}

static enum qm_store_folder_use use_of(const char *name)
{
	struct qm_store_folder *v = NULL;
	struct qm_error e;
	size_t n = 0;
	int use = -1;

	assert_ok(qm_client_folders(C, ACCT, &v, &n, &e));
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			use = (int)v[i].use;
	qm_client_folders_free(&v, n);
	assert_true(use >= 0); /* listed */
	return (enum qm_store_folder_use)use;
}

static unsigned flags_of(int64_t id)
{
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	unsigned f;

	assert_ok(qm_client_msg_get(C, id, &l, &e));
	f = l->items[0].flags;
	qm_client_msglist_free(&l);
	return f;
}

static uint32_t append(struct qmt_imap *c2, const char *folder,
                       const char *subject, const char *id)
{
	char msg[2048];
	size_t len = qmt_mail_message(msg, sizeof(msg), subject, id, NULL);
	uint32_t uid = qmt_imap_append(c2, folder, "", msg, len);

	assert_true(uid > 0);
	return uid;
}

/* The layout's special folders as the engine must name them. */
static const enum qm_store_folder_use USES[QMT_SU_COUNT] = {
    [QMT_SU_SENT] = QM_FOLDER_USE_SENT,
    [QMT_SU_DRAFTS] = QM_FOLDER_USE_DRAFTS,
    [QMT_SU_TRASH] = QM_FOLDER_USE_TRASH,
    [QMT_SU_JUNK] = QM_FOLDER_USE_JUNK,
    [QMT_SU_ARCHIVE] = QM_FOLDER_USE_ARCHIVE,
    [QMT_SU_ALL] = QM_FOLDER_USE_ALL,
    [QMT_SU_FLAGGED] = QM_FOLDER_USE_FLAGGED,
};

/* The special folders a sync takes (docs/CLIENT.md): every one but the
 * view of flagged mail (Gmail's Starred), whose messages are all in
 * another folder (All Mail). Sent, Drafts and All Mail are synced. */
static int synced(int which)
{
	return which != QMT_SU_FLAGGED;
}

/* The registry's folder names of provider (its quirks) are the ones the
 * engine finds on that provider's layout, with the same use. */
static void registry_folders(const char *provider)
{
	struct qm_client_provider p;
	struct qm_error e;
	const struct {
		const char *name;
		enum qm_store_folder_use use;
	} f[] = {
	    {p.folder_sent, QM_FOLDER_USE_SENT},
	    {p.folder_drafts, QM_FOLDER_USE_DRAFTS},
	    {p.folder_trash, QM_FOLDER_USE_TRASH},
	    {p.folder_junk, QM_FOLDER_USE_JUNK},
	    {p.folder_archive, QM_FOLDER_USE_ARCHIVE},
	};
	int checked = 0;

	assert_ok(qm_client_provider_find(provider, NULL, &p, &e));
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (!f[i].name[0])
			continue;
		assert_int_equal(use_of(f[i].name), f[i].use);
		checked++;
	}
	assert_true(checked >= 3); /* Sent, Drafts and Trash at least */
}

static void layout_sync(enum qmt_mail_layout l, const char *preset)
{
	struct qm_client_sync_stats st;
	struct qmt_imap *c2;
	struct qm_error e;
	char subj[QMT_SU_COUNT + 1][64], fl[256];
	const char *trash = qmt_mail_layout_folder(l, QMT_SU_TRASH);
	uint32_t trash_uid = 0, inbox_uid;
	size_t nfolders = 1;
	int64_t id;

	start(l, preset);
	c2 = qmt_imap_open(&M, USER);
	assert_non_null(c2);
	/* a message in INBOX and in every special folder of the layout */
	inbox_uid = append(c2, "INBOX", "in the inbox", "layout-inbox");
	for (int i = 0; i < QMT_SU_COUNT; i++) {
		const char *name = qmt_mail_layout_folder(l, i);
		char mid[32];
		uint32_t uid;

		if (!name)
			continue;
		nfolders += synced(i);
		snprintf(subj[i], sizeof(subj[i]), "in %s", name);
		snprintf(mid, sizeof(mid), "layout-%d", i);
		uid = append(c2, name, subj[i], mid);
		if (i == QMT_SU_TRASH)
			trash_uid = uid;
	}
	sync_now(&st);
	assert_int_equal(st.folders, nfolders);
	assert_int_equal(st.fetched, nfolders);
	assert_int_equal(st.plain, nfolders);
	assert_int_equal(use_of("INBOX"), QM_FOLDER_USE_INBOX);
	assert_true(in_folder("INBOX", "in the inbox") > 0);
	for (int i = 0; i < QMT_SU_COUNT; i++) {
		const char *name = qmt_mail_layout_folder(l, i);

		if (!name)
			continue;
		assert_int_equal(use_of(name), USES[i]);
		if (synced(i))
			assert_true(in_folder(name, subj[i]) > 0);
	}
	if (preset)
		registry_folders(preset);

	/* nothing new: no folder selected */
	sync_now(&st);
	assert_int_equal(st.folders, nfolders);
	assert_int_equal(st.folders_quiet, nfolders);
	assert_int_equal(st.fetched, 0);

	/* read elsewhere, in Trash: that folder only, the flag taken */
	assert_int_equal(qmt_imap_cmd(c2, "SELECT \"%s\"", trash), 0);
	assert_int_equal(qmt_imap_cmd(c2, "UID STORE %u +FLAGS (\\Seen)",
	                              (unsigned)trash_uid),
	                 0);
	sync_now(&st);
	assert_int_equal(st.folders_quiet, nfolders - 1);
	assert_int_equal(st.flags_pulled, 1);
	id = in_folder(trash, subj[QMT_SU_TRASH]);
	assert_true(flags_of(id) & QM_FLAG_SEEN);

	/* flagged in QMail, the server unchanged: written all the same */
	sync_now(&st); /* the modseq of our own view, recorded */
	id = in_folder("INBOX", "in the inbox");
	assert_ok(qm_client_msg_flags(C, id, QM_FLAG_FLAGGED, 0, NULL, &e));
	sync_now(&st);
	assert_int_equal(st.flags_pushed, 1);
	assert_int_equal(st.folders_quiet, nfolders - 1);
	assert_int_equal(qmt_imap_cmd(c2, "SELECT INBOX"), 0);
	assert_int_equal(qmt_imap_flags(c2, inbox_uid, fl, sizeof(fl)), 0);
	assert_non_null(strstr(fl, "\\Flagged"));

	/* new mail elsewhere is fetched */
	append(c2, "INBOX", "new in the inbox", "layout-new");
	sync_now(&st);
	assert_int_equal(st.fetched, 1);
	assert_true(in_folder("INBOX", "new in the inbox") > 0);
	qmt_imap_close(&c2);
}

static void test_layout_plain(void **state)
{
	(void)state;
	layout_sync(QMT_MAIL_LAYOUT_PLAIN, NULL);
}

static void test_layout_gmail(void **state)
{
	(void)state;
	layout_sync(QMT_MAIL_LAYOUT_GMAIL, "gmail");
}

static void test_layout_outlook(void **state)
{
	(void)state;
	layout_sync(QMT_MAIL_LAYOUT_OUTLOOK, "outlook");
}

/* Gmail's labels: one message in INBOX, under a label of the user's (a
 * subscribed folder) and in All Mail is filed once and listed in each. */
static void test_gmail_labels(void **state)
{
	struct qm_client_sync_stats st;
	struct qmt_imap *c2;
	int64_t a, b;

	(void)state;
	start(QMT_MAIL_LAYOUT_GMAIL, "gmail");
	c2 = qmt_imap_open(&M, USER);
	assert_non_null(c2);
	assert_int_equal(qmt_imap_cmd(c2, "CREATE Work"), 0);
	assert_int_equal(qmt_imap_cmd(c2, "SUBSCRIBE Work"), 0);
	append(c2, "INBOX", "labelled twice", "label-1");
	append(c2, "Work", "labelled twice", "label-1");
	append(c2, "[Gmail]/All Mail", "labelled twice", "label-1");
	sync_now(&st);
	assert_int_equal(st.fetched, 3); /* All Mail is synced too */
	assert_int_equal(st.plain, 1);
	a = in_folder("INBOX", "labelled twice");
	b = in_folder("Work", "labelled twice");
	assert_true(a > 0);
	assert_int_equal(a, b);
	assert_int_equal(in_folder("[Gmail]/All Mail", "labelled twice"), a);
	qmt_imap_close(&c2);
}

/* 150 messages (three batches) with one past limit.message_size among
 * them: the batch stops there, the session is opened again, that one is
 * refused, the rest come at the next sync; nothing is filed twice. */
static void test_batch_with_toobig(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_query q;
	struct qmt_imap *c2;
	struct qm_error e;
	char *big;
	int64_t n;

	(void)state;
	start(QMT_MAIL_LAYOUT_PLAIN, NULL);
	assert_int_equal(qmt_mail_fill(&M, USER, "INBOX", "batch-a", 100, 3000),
	                 0);
	c2 = qmt_imap_open(&M, USER);
	assert_non_null(c2);
	big = malloc(300000);
	assert_non_null(big);
	{
		size_t len =
		    qmt_mail_message(big, 2048, "too big", "big-1", NULL);

		memset(big + len, 'x', 299000 - len);
		memcpy(big + 299000 - 2, "\r\n", 2);
		assert_true(qmt_imap_append(c2, "INBOX", "", big, 299000) > 0);
	}
	free(big);
	for (int i = 0; i < 49; i++) {
		char s[32], id[32];

		snprintf(s, sizeof(s), "after %d", i);
		snprintf(id, sizeof(id), "after-%d", i);
		append(c2, "INBOX", s, id);
	}
	qmt_imap_close(&c2);
	qm_error_clear(&e);
	assert_ok(qm_client_limit_set(C, QM_LIMIT_MESSAGE_SIZE, "200000", &e));

	sync_now(&st);
	assert_int_equal(st.plain, 100);
	assert_int_equal(st.errors, 1); /* refused */
	sync_now(&st);
	assert_int_equal(st.plain, 49);
	sync_now(&st);
	assert_int_equal(st.fetched, 0);
	memset(&q, 0, sizeof(q));
	q.account_id = ACCT;
	q.folder = "INBOX";
	assert_ok(qm_client_msg_count(C, &q, &n, &e));
	assert_int_equal(n, 150);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_layout_plain, teardown),
	    cmocka_unit_test_teardown(test_layout_gmail, teardown),
	    cmocka_unit_test_teardown(test_layout_outlook, teardown),
	    cmocka_unit_test_teardown(test_gmail_labels, teardown),
	    cmocka_unit_test_teardown(test_batch_with_toobig, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
