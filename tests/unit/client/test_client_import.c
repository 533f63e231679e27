/* SPDX-License-Identifier: MIT */
/*
 * qmail import (src/client/import.c): mail exported from one home
 * (qm_client_export, mbox and Maildir) and imported into another is the
 * same mail, byte for byte, with its flags; a second import adds
 * nothing (duplicates by Message-ID); mboxrd quoting is undone; an
 * imported message that claims to be an encrypted, verified QMail
 * message is plain mail and teaches no key or contact; garbage is
 * refused or skipped without a crash.
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

#include "client/client.h"
#include "core/core.h"
#include "harness.h"
#include "home.h"
#include "store/store.h"

#define PASS "correct horse battery staple"

static char g_home_a[512], g_home_b[512], g_tmp[600];
static struct qm_client *g_a, *g_b;
static int64_t g_acct_a, g_acct_b;

static const char *const g_mimes[] = {
    "From: Ann <ann@example.org>\r\nTo: me@example.org\r\n"
    "Subject: first\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <m1@example.org>\r\n\r\nhello\r\n",
    /* lines that look like mbox separators, quoted and not */
    "From: Bo <bo@example.org>\r\nTo: me@example.org\r\n"
    "Subject: second\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <m2@example.org>\r\n\r\nFrom here on\r\n"
    ">From there\r\n>>From everywhere\r\n\r\n\r\nlast\r\n",
    /* no Message-ID */
    "From: Cy <cy@example.org>\r\nTo: me@example.org\r\n"
    "Subject: third\r\nDate: Sun, 29 Nov 2026 10:00:00 +0000\r\n\r\n"
    "no id\r\n",
};
#define NMSG (sizeof(g_mimes) / sizeof(g_mimes[0]))

static int setup(void **state)
{
	struct qm_store_account a;
	struct qm_error e;
	int64_t id;

	(void)state;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "me@example.org", sizeof(a.address));
	if (qmt_home_open("client-import-a", PASS, &a, &g_a, g_home_a,
	                  sizeof(g_home_a)))
		return -1;
	g_acct_a = a.id;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "me@example.org", sizeof(a.address));
	if (qmt_home_open("client-import-b", PASS, &a, &g_b, g_home_b,
	                  sizeof(g_home_b)))
		return -1;
	g_acct_b = a.id;
	snprintf(g_tmp, sizeof(g_tmp), "%s/files", g_home_a);
	if (qm_mkdirs(g_tmp, 0700, &e))
		return -1;
	for (size_t i = 0; i < NMSG; i++) {
		struct qm_store_msg m;

		memset(&m, 0, sizeof(m));
		m.account_id = g_acct_a;
		m.folder = "INBOX";
		m.uidvalidity = 1;
		m.uid = (int64_t)i + 1;
		m.from_addr = "x@example.org";
		m.to_addrs = "me@example.org";
		m.date = 1795773600 + (int64_t)i * 86400; /* its Date */
		m.verify = QM_VERIFY_NOT_QMAIL;
		m.flags = i == 0 ? QM_FLAG_SEEN | QM_FLAG_FLAGGED : 0;
		if (qm_store_msg_add(qm_client_store(g_a), &m, "s", NULL, 0,
		                     g_mimes[i], strlen(g_mimes[i]), NULL, &id,
		                     &e))
			return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qmt_home_close(&g_a, g_home_a);
	qmt_home_close(&g_b, g_home_b);
	return 0;
}

/* The messages of folder of account in c, newest first. */
static struct qm_store_msglist *list(struct qm_client *c, int64_t acct,
                                     const char *folder)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;

	memset(&q, 0, sizeof(q));
	q.account_id = acct;
	q.folder = folder;
	q.limit = 100;
	assert_int_equal(qm_client_msg_list(c, &q, &l, &e), QM_OK);
	return l;
}

/* Every message of home a is in folder of acct in b with the same bytes
 * (and, when flags is set, the same flags). */
static void same_mail(int64_t acct, const char *folder, int flags)
{
	struct qm_store_msglist *la = list(g_a, g_acct_a, "INBOX"),
	                        *lb = list(g_b, acct, folder);
	struct qm_error e;

	assert_int_equal(lb->n, NMSG);
	for (size_t i = 0; i < NMSG; i++) {
		struct qm_buf ma, mb;

		qm_buf_init_secure(&ma, 1 << 20);
		qm_buf_init_secure(&mb, 1 << 20);
		assert_int_equal(
		    qm_client_msg_mime(g_a, la->items[i].id, &ma, &e), QM_OK);
		assert_int_equal(
		    qm_client_msg_mime(g_b, lb->items[i].id, &mb, &e), QM_OK);
		assert_int_equal(ma.len, mb.len);
		assert_memory_equal(ma.data, mb.data, ma.len);
		assert_int_equal(lb->items[i].date, la->items[i].date);
		assert_int_equal(lb->items[i].level, 0);
		assert_int_equal(lb->items[i].verify, QM_VERIFY_NOT_QMAIL);
		if (flags)
			assert_int_equal(lb->items[i].flags,
			                 la->items[i].flags);
		qm_buf_free(&ma);
		qm_buf_free(&mb);
	}
	qm_store_msglist_free(&la);
	qm_store_msglist_free(&lb);
}

static void export_to(enum qm_client_export_fmt fmt, const char *path)
{
	struct qm_client_export_stats xs;
	struct qm_store_query q;
	struct qm_error e;

	memset(&q, 0, sizeof(q));
	q.account_id = g_acct_a;
	assert_int_equal(
	    qm_client_export(g_a, &q, fmt, path, NULL, NULL, &xs, &e), QM_OK);
	assert_int_equal(xs.written, NMSG);
}

static void progress(void *arg, const char *what, uint64_t done, uint64_t total)
{
	(void)what;
	assert_true(done <= total);
	(*(int *)arg)++;
}

/* Export as mbox, import into another home: the same mail; again: no
 * new message. */
static void test_mbox_round_trip(void **state)
{
	struct qm_client_import_stats st;
	struct qm_error e;
	char path[700];
	int calls = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/all.mbox", g_tmp);
	export_to(QM_CLIENT_EXPORT_MBOX, path);
	assert_int_equal(qm_client_import(g_b, g_acct_b, NULL,
	                                  QM_CLIENT_IMPORT_MBOX, path, progress,
	                                  &calls, &st, &e),
	                 QM_OK);
	assert_int_equal(st.added, NMSG);
	assert_int_equal(st.skipped, 0);
	assert_true(calls >= (int)NMSG);
	same_mail(g_acct_b, QM_CLIENT_IMPORT_FOLDER, 0);
	/* the second time, every message is known by its Message-ID (or,
	 * for the one without, by its bytes) */
	assert_int_equal(qm_client_import(g_b, g_acct_b, NULL,
	                                  QM_CLIENT_IMPORT_MBOX, path, NULL,
	                                  NULL, &st, &e),
	                 QM_OK);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.duplicates, NMSG);
}

/* The same through a Maildir, into another account: flags too. */
static void test_maildir_round_trip(void **state)
{
	struct qm_client_import_stats st;
	struct qm_store_account a;
	struct qm_error e;
	char path[700];

	(void)state;
	snprintf(path, sizeof(path), "%s/md", g_tmp);
	export_to(QM_CLIENT_EXPORT_MAILDIR, path);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "other@example.org", sizeof(a.address));
	assert_int_equal(qm_client_account_add(g_b, &a, "pw", 2, &e), QM_OK);
	assert_int_equal(qm_client_import(g_b, a.id, "Old mail",
	                                  QM_CLIENT_IMPORT_MAILDIR, path, NULL,
	                                  NULL, &st, &e),
	                 QM_OK);
	assert_int_equal(st.added, NMSG);
	same_mail(a.id, "Old mail", 1);
}

/* A message that claims everything a QMail message can (level 1 and key
 * IDs, a sender SAE, an identity header, an envelope part) is filed as
 * plain mail: no level, not verified, no security record; the sender's
 * key and SAE ID are not learned. */
static void test_import_claims_nothing(void **state)
{
	static const char mbox[] =
	    "From mallory@evil.example Sat Nov 28 10:00:00 2026\n"
	    "From: Bank <mallory@evil.example>\n"
	    "To: me@example.org\n"
	    "Subject: [QMail encrypted message]\n"
	    "Date: Sat, 28 Nov 2026 10:00:00 +0000\n"
	    "Message-ID: <claim@evil.example>\n"
	    "X-QKD-Security-Level: 1\n"
	    "X-QKD-KeyID: 0b9a6c7e-0000-4000-8000-000000000001\n"
	    "X-QKD-Sender-SAE: SAE_MALLORY\n"
	    "X-QMail-Verified: yes\n"
	    "QMail-Identity: v=1; addr=mallory@evil.example; sae=SAE_M; "
	    "key=AAAA\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"E\"\n"
	    "\n"
	    "--E\n"
	    "Content-Type: text/plain\n\nThis message is encrypted.\n"
	    "--E\n"
	    "Content-Type: application/x-qmail-envelope\n"
	    "Content-Transfer-Encoding: base64\n\nUU1BSUwBAAAA\n"
	    "--E--\n\n";
	struct qm_client_import_stats st;
	struct qm_client_view *v = NULL;
	struct qm_store_msglist *l;
	struct qm_store_contact ct;
	struct qm_store_key *keys = NULL;
	struct qm_error e;
	size_t nk = 0;

	(void)state;
	assert_int_equal(qm_client_import_mbox_mem(g_b, g_acct_b, "Claims",
	                                           mbox, strlen(mbox), NULL,
	                                           NULL, &st, &e),
	                 QM_OK);
	assert_int_equal(st.added, 1);
	l = list(g_b, g_acct_b, "Claims");
	assert_int_equal(l->n, 1);
	assert_int_equal(l->items[0].level, 0);
	assert_int_equal(l->items[0].verify, QM_VERIFY_NOT_QMAIL);
	assert_false(l->items[0].has_meta);
	assert_int_equal(qm_client_read(g_b, l->items[0].id, &v, &e), QM_OK);
	assert_int_equal(v->level, 0);
	assert_int_equal(v->verify, QM_VERIFY_NOT_QMAIL);
	assert_true(!v->signer_fpr || !v->signer_fpr[0]);
	assert_int_equal(v->nkey_ids, 0);
	qm_client_view_free(&v);
	qm_store_msglist_free(&l);
	assert_int_equal(
	    qm_client_key_list(g_b, "mallory@evil.example", &keys, &nk, &e),
	    QM_OK);
	assert_int_equal(nk, 0);
	qm_client_keys_free(&keys, nk);
	assert_int_equal(qm_client_contact_get(g_b, g_acct_b,
	                                       "mallory@evil.example", &ct, &e),
	                 QM_ERR_NOTFOUND);
}

/* Not an mbox, a folder of the server, a Maildir that is none, a message
 * too large: refused or skipped, never a crash. */
static void test_import_hostile(void **state)
{
	struct qm_client_import_stats st;
	struct qm_error e;
	struct qm_store_folder f;
	char path[700];
	char *big;
	size_t n = QM_CLIENT_MAXMSG + 4096;

	(void)state;
	assert_int_equal(qm_client_import_mbox_mem(g_b, g_acct_b, NULL,
	                                           "garbage\n\0\xff", 11, NULL,
	                                           NULL, &st, &e),
	                 QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "not an mbox"));
	/* a server folder of the name */
	memset(&f, 0, sizeof(f));
	f.account_id = g_acct_b;
	f.name = f.display = (char *)(uintptr_t) "Server";
	f.delim = '/';
	f.selectable = 1;
	assert_int_equal(
	    qm_store_folder_put(qm_client_store(g_b), &f, NULL, &e), QM_OK);
	assert_int_equal(qm_client_import_mbox_mem(g_b, g_acct_b, "Server",
	                                           "From x\n\n", 8, NULL, NULL,
	                                           &st, &e),
	                 QM_ERR_EXISTS);
	snprintf(path, sizeof(path), "%s", g_tmp);
	assert_int_equal(qm_client_import(g_b, g_acct_b, NULL,
	                                  QM_CLIENT_IMPORT_MAILDIR, path, NULL,
	                                  NULL, &st, &e),
	                 QM_ERR_PARSE);
	/* one message past the limit between two good ones; one line of
	 * 64 MiB and no line end at all */
	{
		static const char head[] = "From a\nSubject: x\n\nok\n\n"
		                           "From b\nSubject: y\n\n";
		static const char tail[] =
		    "\n\nFrom c\nMessage-ID: <last@example.org>\n"
		    "Subject: z\n\nok too\n";

		big = malloc(n + sizeof(tail));
		assert_non_null(big);
		memcpy(big, head, strlen(head));
		memset(big + strlen(head), 'A', n - strlen(head));
		memcpy(big + n, tail, strlen(tail));
		assert_int_equal(qm_client_import_mbox_mem(
		                     g_b, g_acct_b, "Big", big,
		                     n + strlen(tail), NULL, NULL, &st, &e),
		                 QM_OK);
	}
	assert_int_equal(st.added, 2);
	assert_int_equal(st.skipped, 1);
	assert_non_null(strstr(st.first_skip, "larger"));
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mbox_round_trip),
	    cmocka_unit_test(test_maildir_round_trip),
	    cmocka_unit_test(test_import_claims_nothing),
	    cmocka_unit_test(test_import_hostile),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
