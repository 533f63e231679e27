/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the store: schema and migrations, the vault (wrong
 * passphrase changes nothing, plaintext only in secure memory), accounts and
 * presets, contacts, settings, drafts, the message index (paging, filters,
 * index-backed plans, in-memory search), the replay log, the outbox state
 * machine and its crash recovery, the keyring, secrets never on disk in
 * clear, damaged files, and two handles writing at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "harness.h"
#include "store/store.h"

#define PASS "correct horse battery staple"

/* Where SQLite would put temporary files: scanned with the home. */
static char sqlite_tmp[512];

struct fx {
	char home[512];
	struct qm_store *s;
	int64_t acct;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct qm_store_account a;
	struct qm_error e;

	setenv("QM_STORE_KDF", "fast", 1);
	assert_non_null(f);
	assert_int_equal(qmt_tmpdir("store", f->home, sizeof(f->home)), 0);
	assert_int_equal(qm_store_open(f->home, NULL, &f->s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(f->s, &a, &e), QM_OK);
	f->acct = a.id;
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

/* Adds a message with a subject and body; returns its id. */
static int64_t add_msg(struct fx *f, const char *folder, int64_t date,
                       int64_t uid, const char *from, int level,
                       const char *subject, const char *body)
{
	struct qm_store_msg m;
	struct qm_error e;
	char mid[64];
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	snprintf(mid, sizeof(mid), "<%lld.%s@example.org>", (long long)uid,
	         folder);
	m.account_id = f->acct;
	m.folder = folder;
	m.uidvalidity = 7;
	m.uid = uid;
	m.message_id = mid;
	m.from_addr = from;
	m.to_addrs = "alice@example.org";
	m.date = date;
	m.level = level;
	m.verify = QM_VERIFY_OK;
	m.size = 1000;
	assert_int_equal(qm_store_msg_add(f->s, &m, subject, NULL, 0, body,
	                                  body ? strlen(body) : 0, NULL, &id,
	                                  &e),
	                 QM_OK);
	return id;
}

/* ------------------------------------------------------------- schema */

static void test_open_schema_wal(void **state)
{
	struct fx *f = *state;
	char path[600];
	struct stat st;

	assert_int_equal(qm_store_schema_version(f->s),
	                 qm_store_schema_latest());
	assert_true(qm_store_schema_latest() >= 2);
	snprintf(path, sizeof(path), "%s/qmail.db", f->home);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/qmail.db-wal", f->home);
	assert_int_equal(stat(path, &st), 0); /* WAL mode */
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(qm_store_check(f->s, NULL), QM_OK);

	/* No call leaves a statement running (it would pin an old snapshot):
	 * a write by another handle is seen at once. */
	{
		struct qm_store *other = NULL;
		struct qm_buf v;

		assert_true(qm_store_vault_exists(f->s));
		assert_int_equal(qm_store_clone(f->s, &other, NULL), QM_OK);
		assert_int_equal(
		    qm_store_setting_set(other, 0, "seen", "yes", NULL), QM_OK);
		qm_buf_init(&v, 16);
		assert_int_equal(
		    qm_store_setting_get(f->s, 0, "seen", &v, NULL), QM_OK);
		qm_buf_free(&v);
		qm_store_close(&other);
	}
}

static void test_migrate_from_v1(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store_account a;
	struct qm_store *s = NULL;
	struct qm_error e;
	struct qm_buf v;
	char home[512];

	(void)state;
	assert_int_equal(qmt_tmpdir("store-v1", home, sizeof(home)), 0);
	o.schema_max = 1;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), 1);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "old@example.org", sizeof(a.address));
	a.default_level = 3;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	/* Settings arrive in version 2. */
	assert_int_not_equal(qm_store_setting_set(s, a.id, "k", "v", &e),
	                     QM_OK);
	qm_store_close(&s);

	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), qm_store_schema_latest());
	assert_int_equal(qm_store_account_find(s, "OLD@example.org", &a, &e),
	                 QM_OK);
	assert_int_equal(a.default_level, 3);
	assert_int_equal(qm_store_setting_set(s, a.id, "k", "v", &e), QM_OK);
	qm_buf_init(&v, 100);
	assert_int_equal(qm_store_setting_get(s, a.id, "k", &v, &e), QM_OK);
	assert_string_equal((char *)v.data, "v");
	qm_buf_free(&v);
	qm_store_close(&s);

	/* A database from a newer QMail is refused, not damaged. */
	{
		sqlite3 *db;
		char path[600];

		snprintf(path, sizeof(path), "%s/qmail.db", home);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99",
		                              NULL, NULL, NULL),
		                 SQLITE_OK);
		sqlite3_close(db);
	}
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "newer"));
	assert_null(s);
	qmt_rmtree(home);
}

/* Schema 8: an account of version 7 gets the identity table; its rows
 * keep their name and signature, the default is one at a time, and they
 * go with the account. */
static void test_migrate_identities(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store_identity id, *v = NULL;
	struct qm_store_account a;
	struct qm_store *s = NULL;
	struct qm_error e;
	size_t n = 0;
	char home[512];

	(void)state;
	assert_int_equal(qmt_tmpdir("store-v7", home, sizeof(home)), 0);
	o.schema_max = 7;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), 7);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "old@example.org", sizeof(a.address));
	a.default_level = 3;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	memset(&id, 0, sizeof(id));
	qm_strlcpy(id.address, "alias@example.org", sizeof(id.address));
	/* identities arrive in version 8 */
	assert_int_not_equal(qm_store_identity_put(s, a.id, &id, &e), QM_OK);
	qm_store_close(&s);

	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_true(qm_store_schema_version(s) >= 8);
	qm_strlcpy(id.name, "Ålice at work", sizeof(id.name));
	qm_strlcpy(id.signature, "Alice\nWork phone 1", sizeof(id.signature));
	assert_int_equal(qm_store_identity_put(s, a.id, &id, &e), QM_OK);
	qm_strlcpy(id.address, "b@example.org", sizeof(id.address));
	id.signature[0] = '\0';
	assert_int_equal(qm_store_identity_put(s, a.id, &id, &e), QM_OK);
	/* the same address in another case replaces, not adds */
	qm_strlcpy(id.address, "B@example.org", sizeof(id.address));
	qm_strlcpy(id.name, "Bee", sizeof(id.name));
	assert_int_equal(qm_store_identity_put(s, a.id, &id, &e), QM_OK);
	assert_int_equal(
	    qm_store_identity_default(s, a.id, "b@EXAMPLE.org", &e), QM_OK);
	assert_int_equal(qm_store_identity_list(s, a.id, &v, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].address, "alias@example.org");
	assert_string_equal(v[0].name, "Ålice at work");
	assert_string_equal(v[0].signature, "Alice\nWork phone 1");
	assert_int_equal(v[0].is_default, 0);
	assert_string_equal(v[1].address, "B@example.org");
	assert_string_equal(v[1].name, "Bee");
	assert_int_equal(v[1].is_default, 1);
	free(v);
	v = NULL;
	assert_int_equal(
	    qm_store_identity_default(s, a.id, "alias@example.org", &e), QM_OK);
	assert_int_equal(qm_store_identity_del(s, a.id, "b@example.org", &e),
	                 QM_OK);
	assert_int_equal(qm_store_identity_del(s, a.id, "b@example.org", &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_identity_list(s, a.id, &v, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].is_default, 1);
	free(v);
	v = NULL;
	assert_int_equal(qm_store_account_delete(s, a.id, &e), QM_OK);
	assert_int_equal(qm_store_identity_list(s, a.id, &v, &n, &e), QM_OK);
	assert_int_equal(n, 0);
	free(v);
	qm_store_close(&s);
	qmt_rmtree(home);
}

/* -------------------------------------------------------------- vault */

/* Hashes the database file and its WAL. */
static void hash_files(const char *home, unsigned char out[32])
{
	const char *names[] = {"qmail.db", "qmail.db-wal"};
	unsigned char h[32] = {0};

	for (size_t i = 0; i < 2; i++) {
		char path[600];
		struct qm_buf b;

		snprintf(path, sizeof(path), "%s/%s", home, names[i]);
		qm_buf_init(&b, 64u << 20);
		if (qm_file_read(path, b.max, &b, NULL) == QM_OK)
			for (size_t j = 0; j < b.len; j++)
				h[j % 32] = (unsigned char)(h[j % 32] * 31 +
				                            b.data[j] + 1);
		h[i] ^= (unsigned char)b.len;
		qm_buf_free(&b);
	}
	memcpy(out, h, 32);
}

static void test_vault(void **state)
{
	struct fx *f = *state;
	unsigned char before[32], after[32];
	struct qm_buf sec, plain;
	struct qm_error e;

	assert_true(qm_store_vault_exists(f->s));
	assert_true(qm_store_vault_is_unlocked(f->s));
	assert_int_equal(qm_store_vault_create(f->s, "x", 1, &e),
	                 QM_ERR_EXISTS);
	assert_int_equal(qm_store_secret_set(f->s, f->acct, QM_SECRET_PASSWORD,
	                                     "hunter2", 7, &e),
	                 QM_OK);
	qm_buf_init_secure(&sec, 1024);
	qm_buf_init(&plain, 1024);
	assert_int_equal(
	    qm_store_secret_get(f->s, f->acct, QM_SECRET_PASSWORD, &plain, &e),
	    QM_ERR_INVAL); /* plaintext only into secure memory */
	assert_int_equal(
	    qm_store_secret_get(f->s, f->acct, QM_SECRET_PASSWORD, &sec, &e),
	    QM_OK);
	assert_int_equal(sec.len, 7);
	assert_memory_equal(sec.data, "hunter2", 7);
	assert_true(qm_sec_contains(sec.data, sec.len));
	qm_buf_reset(&sec);

	qm_store_vault_lock(f->s);
	assert_false(qm_store_vault_is_unlocked(f->s));
	assert_int_equal(
	    qm_store_secret_get(f->s, f->acct, QM_SECRET_PASSWORD, &sec, &e),
	    QM_ERR_LOCKED);
	assert_int_equal(qm_store_secret_set(
	                     f->s, f->acct, QM_SECRET_OAUTH_ACCESS, "t", 1, &e),
	                 QM_ERR_LOCKED);

	/* Wrong passphrase: clear error, nothing changed on disk. */
	hash_files(f->home, before);
	assert_int_equal(qm_store_vault_unlock(f->s, "wrong", 5, &e),
	                 QM_ERR_DENIED);
	assert_non_null(strstr(e.msg, "wrong passphrase"));
	assert_false(qm_store_vault_is_unlocked(f->s));
	hash_files(f->home, after);
	assert_memory_equal(before, after, 32);

	assert_int_equal(qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_secret_get(f->s, f->acct, QM_SECRET_PASSWORD, &sec, &e),
	    QM_OK);
	assert_memory_equal(sec.data, "hunter2", 7);
	assert_int_equal(qm_store_secret_get(f->s, f->acct,
	                                     QM_SECRET_OAUTH_REFRESH, &sec, &e),
	                 QM_ERR_NOTFOUND);

	/* Rekey: the old passphrase stops working, data stays readable. */
	assert_int_equal(
	    qm_store_vault_rekey(f->s, "bad", 3, "new pass", 8, &e),
	    QM_ERR_DENIED);
	assert_int_equal(
	    qm_store_vault_rekey(f->s, PASS, strlen(PASS), "new pass", 8, &e),
	    QM_OK);
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e),
	                 QM_ERR_DENIED);
	assert_int_equal(qm_store_vault_unlock(f->s, "new pass", 8, &e), QM_OK);
	qm_buf_reset(&sec);
	assert_int_equal(
	    qm_store_secret_get(f->s, f->acct, QM_SECRET_PASSWORD, &sec, &e),
	    QM_OK);
	assert_memory_equal(sec.data, "hunter2", 7);
	qm_buf_free(&sec);
	qm_buf_free(&plain);
}

static void test_vault_kdf_params_stored(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store *s = NULL;
	struct qm_error e;
	sqlite3 *db;
	sqlite3_stmt *st;
	char home[512], path[600];

	(void)state;
	assert_int_equal(qmt_tmpdir("store-kdf", home, sizeof(home)), 0);
	o.kdf.opslimit = 2;
	o.kdf.memlimit = 1u << 20;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(s, "p", 1, &e), QM_OK);
	qm_store_close(&s);
	snprintf(path, sizeof(path), "%s/qmail.db", home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT opslimit, memlimit, alg "
	                                    "FROM vault",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), 2);
	assert_int_equal(sqlite3_column_int64(st, 1), 1 << 20);
	assert_non_null(
	    strstr((const char *)sqlite3_column_text(st, 2), "argon2id"));
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* Unlock reads the stored cost, whatever the options say now. */
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, "p", 1, &e), QM_OK);
	qm_store_close(&s);
	qmt_rmtree(home);
}

/* ----------------------------------------------------- accounts etc. */

static void test_accounts(void **state)
{
	struct fx *f = *state;
	struct qm_store_account a, b, *all = NULL;
	struct qm_error e;
	size_t n = 0;

	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "bob@gmail.com", sizeof(a.address));
	qm_strlcpy(a.imap.host, "imap.gmail.com", sizeof(a.imap.host));
	a.imap.port = 993;
	qm_strlcpy(a.smtp.host, "smtp.office365.com", sizeof(a.smtp.host));
	a.smtp.port = 587;
	a.smtp.tls = QM_TLS_STARTTLS;
	qm_strlcpy(a.pop3.host, "pop.mail.yahoo.com", sizeof(a.pop3.host));
	a.pop3.port = 995;

	a.default_level = 0;
	assert_int_equal(qm_store_account_add(f->s, &a, &e), QM_ERR_INVAL);
	a.default_level = 1;
	a.auth = QM_AUTH_OAUTH2;
	qm_strlcpy(a.sae_id, "SAE_bob", sizeof(a.sae_id));
	qm_strlcpy(a.kme_url, "https://127.0.0.1:8443", sizeof(a.kme_url));
	qm_strlcpy(a.kme_cert, "/tmp/bob.crt", sizeof(a.kme_cert));
	assert_int_equal(qm_store_account_add(f->s, &a, &e), QM_OK);
	assert_int_equal(qm_store_account_add(f->s, &a, &e), QM_ERR_EXISTS);
	assert_int_equal(qm_store_account_get(f->s, a.id, &b, &e), QM_OK);
	assert_string_equal(b.address, "bob@gmail.com");
	assert_string_equal(b.sae_id, "SAE_bob");
	assert_string_equal(b.kme_cert, "/tmp/bob.crt");
	assert_int_equal(b.auth, QM_AUTH_OAUTH2);
	assert_int_equal(b.pop3.port, 995);
	b.default_level = 4;
	qm_strlcpy(b.display_name, "Bob", sizeof(b.display_name));
	assert_int_equal(qm_store_account_update(f->s, &b, &e), QM_OK);
	assert_int_equal(qm_store_account_find(f->s, "bob@gmail.com", &a, &e),
	                 QM_OK);
	assert_int_equal(a.default_level, 4);
	assert_string_equal(a.display_name, "Bob");
	assert_int_equal(qm_store_account_list(f->s, &all, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].address, "alice@example.org");
	free(all);
	assert_int_equal(qm_store_account_delete(f->s, a.id, &e), QM_OK);
	assert_int_equal(qm_store_account_get(f->s, a.id, &b, &e),
	                 QM_ERR_NOTFOUND);
}

static void test_contacts_settings_drafts(void **state)
{
	struct fx *f = *state;
	struct qm_store_contact c, got, *all = NULL;
	struct qm_buf b;
	struct qm_error e;
	int64_t d = 0, d2 = 0, *ids = NULL;
	size_t n = 0;

	memset(&c, 0, sizeof(c));
	qm_strlcpy(c.address, "carol@example.net", sizeof(c.address));
	qm_strlcpy(c.sae_id, "SAE_carol", sizeof(c.sae_id));
	c.source = QM_CONTACT_LEARNED;
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e), QM_OK);
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "Carol@Example.net", &got, &e),
	    QM_OK);
	assert_false(got.confirmed); /* learned: not yet confirmed */
	assert_int_equal(
	    qm_store_contact_confirm(f->s, f->acct, "carol@example.net", &e),
	    QM_OK);
	/* A learned SAE ID that contradicts the confirmed one is refused. */
	qm_strlcpy(c.sae_id, "SAE_mallory", sizeof(c.sae_id));
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e),
	                 QM_ERR_STATE);
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "carol@example.net", &got, &e),
	    QM_OK);
	assert_string_equal(got.sae_id, "SAE_carol");
	assert_true(got.confirmed);
	/* The user may change it. */
	c.source = QM_CONTACT_USER;
	c.min_level = 2;
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e), QM_OK);
	assert_int_equal(qm_store_contact_list(f->s, f->acct, &all, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 1);
	assert_string_equal(all[0].sae_id, "SAE_mallory");
	assert_int_equal(all[0].min_level, 2);
	assert_true(all[0].confirmed);
	free(all);

	qm_buf_init(&b, 100);
	assert_int_equal(qm_store_setting_get(f->s, 0, "theme", &b, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_setting_set(f->s, 0, "theme", "dark", &e),
	                 QM_OK);
	assert_int_equal(qm_store_setting_set(f->s, 0, "theme", "light", &e),
	                 QM_OK);
	assert_int_equal(qm_store_setting_get(f->s, 0, "theme", &b, &e), QM_OK);
	assert_string_equal((char *)b.data, "light");
	qm_buf_free(&b);

	assert_int_equal(
	    qm_store_draft_put(f->s, f->acct, &d, "draft one", 9, &e), QM_OK);
	assert_true(d > 0);
	assert_int_equal(qm_store_draft_put(f->s, f->acct, &d2, "two", 3, &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_draft_put(f->s, f->acct, &d, "draft 1b", 8, &e), QM_OK);
	qm_buf_init_secure(&b, 100);
	assert_int_equal(qm_store_draft_get(f->s, d, &b, &e), QM_OK);
	assert_string_equal((char *)b.data, "draft 1b");
	qm_buf_free(&b);
	assert_int_equal(qm_store_draft_list(f->s, f->acct, &ids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 2);
	free(ids);
	assert_int_equal(qm_store_draft_delete(f->s, d2, &e), QM_OK);
	assert_int_equal(qm_store_draft_delete(f->s, d2, &e), QM_ERR_NOTFOUND);
}

/* ------------------------------------------------------ message index */

static void test_msg_list_paging(void **state)
{
	struct fx *f = *state;
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	struct qm_buf plan;
	int64_t n = 0, prev_date = INT64_MAX, prev_id = INT64_MAX;
	size_t seen = 0;
	char subj[64];

	assert_int_equal(qm_store_tx_begin(f->s, &e), QM_OK);
	for (int i = 1; i <= 300; i++) {
		snprintf(subj, sizeof(subj), "subject %d", i);
		/* Dates repeat so that paging must break ties by id. */
		add_msg(f, i % 3 ? "INBOX" : "Archive", 1000 + i / 2, i,
		        i % 2 ? "bob@example.org" : "carol@example.org",
		        1 + i % 4, subj, i == 5 ? "body five" : NULL);
	}
	assert_int_equal(qm_store_tx_commit(f->s, &e), QM_OK);

	memset(&q, 0, sizeof(q));
	q.account_id = f->acct;
	q.folder = "INBOX";
	assert_int_equal(qm_store_msg_count(f->s, &q, &n, &e), QM_OK);
	assert_int_equal(n, 200);
	q.limit = 50;
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 50);
	/* Newest first; subjects decrypted while unlocked. */
	assert_int_equal(l->items[0].date, 1149); /* i = 299 */
	assert_string_equal(l->items[0].folder, "INBOX");
	assert_non_null(l->items[0].subject);
	assert_true(
	    qm_sec_contains(l->items[0].subject, strlen(l->items[0].subject)));
	assert_int_equal(strncmp(l->items[0].subject, "subject ", 8), 0);
	qm_store_msglist_free(&l);

	/* Keyset paging visits every message once, in order. */
	for (;;) {
		assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
		for (size_t i = 0; i < l->n; i++) {
			const struct qm_store_msg *m = &l->items[i];

			assert_true(m->date < prev_date ||
			            (m->date == prev_date && m->id < prev_id));
			prev_date = m->date;
			prev_id = m->id;
			seen++;
		}
		if (l->n == 0) {
			qm_store_msglist_free(&l);
			break;
		}
		q.before_date = prev_date;
		q.before_id = prev_id;
		qm_store_msglist_free(&l);
	}
	assert_int_equal(seen, 200);

	/* Offset paging agrees with keyset paging. */
	memset(&q, 0, sizeof(q));
	q.account_id = f->acct;
	q.folder = "INBOX";
	q.offset = 190;
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 10);
	assert_int_equal(l->items[9].id, prev_id);
	qm_store_msglist_free(&l);

	/* Filters. */
	memset(&q, 0, sizeof(q));
	q.account_id = f->acct;
	q.from_addr = "bob@example.org";
	q.level = 2; /* i % 4 == 1 and i odd */
	assert_int_equal(qm_store_msg_count(f->s, &q, &n, &e), QM_OK);
	assert_int_equal(n, 75);
	q.level = 0;
	q.date_min = 1100;
	q.date_max = 1101;
	assert_int_equal(qm_store_msg_count(f->s, &q, &n, &e), QM_OK);
	assert_int_equal(n, 2); /* i = 201, 203 */

	/* Flags. */
	assert_int_equal(
	    qm_store_msg_set_flags(f->s, 1, QM_FLAG_SEEN | QM_FLAG_FLAGGED, &e),
	    QM_OK);
	memset(&q, 0, sizeof(q));
	q.flags_set = QM_FLAG_FLAGGED;
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->items[0].id, 1);
	assert_int_equal(l->items[0].flags, QM_FLAG_SEEN | QM_FLAG_FLAGGED);
	qm_store_msglist_free(&l);

	/* Locked: the list still works, subjects are withheld. */
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_msg_get(f->s, 5, &l, &e), QM_OK);
	assert_null(l->items[0].subject);
	assert_true(l->items[0].has_body);
	qm_store_msglist_free(&l);
	{
		struct qm_buf body;

		qm_buf_init_secure(&body, 1024);
		assert_int_equal(qm_store_msg_body(f->s, 5, &body, &e),
		                 QM_ERR_LOCKED);
		assert_int_equal(
		    qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e), QM_OK);
		assert_int_equal(qm_store_msg_body(f->s, 5, &body, &e), QM_OK);
		assert_string_equal((char *)body.data, "body five");
		assert_int_equal(qm_store_msg_body(f->s, 6, &body, &e),
		                 QM_ERR_NOTFOUND);
		qm_buf_free(&body);
	}

	/* The same IMAP message twice is refused. */
	{
		struct qm_store_msg m;
		int64_t id, uid;

		assert_int_equal(qm_store_msg_find_uid(f->s, f->acct, "INBOX",
		                                       7, 1, &id, &e),
		                 QM_OK);
		assert_int_equal(id, 1);
		assert_int_equal(qm_store_msg_find_uid(f->s, f->acct, "INBOX",
		                                       8, 1, &id, &e),
		                 QM_ERR_NOTFOUND);
		assert_int_equal(
		    qm_store_msg_max_uid(f->s, f->acct, "INBOX", 7, &uid, &e),
		    QM_OK);
		assert_int_equal(uid, 299);
		assert_int_equal(
		    qm_store_msg_max_uid(f->s, f->acct, "Nope", 7, &uid, &e),
		    QM_OK);
		assert_int_equal(uid, 0);

		memset(&m, 0, sizeof(m));
		m.account_id = f->acct;
		m.folder = "INBOX";
		m.uidvalidity = 7;
		m.uid = 1;
		m.date = 1;
		assert_int_equal(qm_store_msg_add(f->s, &m, NULL, NULL, 0, NULL,
		                                  0, NULL, &id, &e),
		                 QM_ERR_EXISTS);
	}

	/* Listing is index-backed: no table scan, no sort. */
	qm_buf_init(&plan, 1 << 16);
	memset(&q, 0, sizeof(q));
	q.account_id = f->acct;
	q.folder = "INBOX";
	q.before_date = 1100;
	q.before_id = 200;
	assert_int_equal(qm_store_msg_list_plan(f->s, &q, &plan, &e), QM_OK);
	assert_non_null(strstr((char *)plan.data, "USING INDEX msg_list"));
	assert_null(strstr((char *)plan.data, "TEMP B-TREE"));
	qm_buf_reset(&plan);
	memset(&q, 0, sizeof(q));
	q.account_id = f->acct;
	q.from_addr = "bob@example.org";
	assert_int_equal(qm_store_msg_list_plan(f->s, &q, &plan, &e), QM_OK);
	assert_non_null(strstr((char *)plan.data, "USING INDEX msg_from"));
	assert_null(strstr((char *)plan.data, "TEMP B-TREE"));
	qm_buf_free(&plan);
}

static void test_msg_search(void **state)
{
	struct fx *f = *state;
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	int64_t a, b, c;

	a = add_msg(f, "INBOX", 10, 1, "bob@example.org", 2, "Quarterly budget",
	            "Please find the spreadsheet attached.");
	b = add_msg(f, "INBOX", 11, 2, "bob@example.org", 1, "Lunch on Friday?",
	            "The usual place near the harbour.");
	memset(&q, 0, sizeof(q));
	q.text = "budget";
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->items[0].id, a);
	assert_string_equal(l->items[0].subject, "Quarterly budget");
	qm_store_msglist_free(&l);
	q.text = "harbour";
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->items[0].id, b);
	qm_store_msglist_free(&l);
	/* Added after the index was built: indexed at once. */
	c = add_msg(f, "INBOX", 12, 3, "dave@example.org", 3, "Harbour tour",
	            "Boats.");
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 2);
	assert_int_equal(l->items[0].id, c);
	qm_store_msglist_free(&l);
	/* Combined with a sender filter. */
	q.from_addr = "bob@example.org";
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	qm_store_msglist_free(&l);
	q.from_addr = NULL;
	/* Deleted: gone from the search too. */
	assert_int_equal(qm_store_msg_delete(f->s, c, &e), QM_OK);
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	qm_store_msglist_free(&l);
	/* Another handle (a background sync) adds and deletes: this
	 * handle's in-memory index catches up on the next search. */
	{
		struct qm_store *bg = NULL;
		struct qm_store_msg m;
		int64_t d;

		assert_int_equal(qm_store_clone(f->s, &bg, &e), QM_OK);
		memset(&m, 0, sizeof(m));
		m.account_id = f->acct;
		m.folder = "INBOX";
		m.uid = 99;
		m.date = 99;
		m.level = 2;
		assert_int_equal(qm_store_msg_add(bg, &m, "Zeppelin schedule",
		                                  NULL, 0, "x", 1, NULL, &d,
		                                  &e),
		                 QM_OK);
		q.text = "zeppelin";
		assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
		assert_int_equal(l->n, 1);
		assert_int_equal(l->items[0].id, d);
		qm_store_msglist_free(&l);
		assert_int_equal(qm_store_msg_delete(bg, a, &e), QM_OK);
		q.text = "budget";
		assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
		assert_int_equal(l->n, 0);
		qm_store_msglist_free(&l);
		q.text = "zeppelin OR harbour";
		assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
		assert_int_equal(l->n, 2);
		qm_store_msglist_free(&l);
		qm_store_close(&bg);
	}
	/* A malformed search is a clear error. */
	q.text = "\"unbalanced";
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_ERR_INVAL);
	/* Locked: no search. */
	q.text = "harbour";
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_ERR_LOCKED);
	assert_int_equal(qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	qm_store_msglist_free(&l);
}

/* --------------------------------------------------------- replay log */

static void test_replay(void **state)
{
	struct fx *f = *state;
	const char *k1[] = {"key-a", "key-b"};
	const char *k2[] = {"key-c", "key-b"};
	const char *k3[] = {"key-c"};
	struct qm_store_account other;
	struct qm_store_msg m;
	struct qm_error e;
	int64_t id;

	assert_int_equal(qm_store_replay_claim(f->s, f->acct, QM_DIR_IN, k1, 2,
	                                       "<m1@x>", &e),
	                 QM_OK);
	/* key-b again: refused, and key-c is not recorded either. */
	assert_int_equal(qm_store_replay_claim(f->s, f->acct, QM_DIR_IN, k2, 2,
	                                       "<m2@x>", &e),
	                 QM_ERR_REPLAY);
	assert_non_null(strstr(e.msg, "key-b"));
	assert_non_null(strstr(e.msg, "<m1@x>"));
	assert_int_equal(
	    qm_store_replay_check(f->s, f->acct, QM_DIR_IN, "key-c", &e),
	    QM_OK);
	/* Another direction or account is independent. */
	assert_int_equal(
	    qm_store_replay_check(f->s, f->acct, QM_DIR_OUT, "key-a", &e),
	    QM_OK);
	memset(&other, 0, sizeof(other));
	qm_strlcpy(other.address, "alice2@example.org", sizeof(other.address));
	other.default_level = 1;
	assert_int_equal(qm_store_account_add(f->s, &other, &e), QM_OK);
	assert_int_equal(qm_store_replay_claim(f->s, other.id, QM_DIR_IN, k1, 2,
	                                       "<m1@x>", &e),
	                 QM_OK);

	/* The message that claimed its keys is then indexed with them. */
	memset(&m, 0, sizeof(m));
	m.account_id = f->acct;
	m.folder = "INBOX";
	m.uid = 1;
	m.message_id = "<m1@x>";
	m.date = 5;
	m.level = 1;
	assert_int_equal(
	    qm_store_msg_add(f->s, &m, "s", k1, 2, "x", 1, NULL, &id, &e),
	    QM_OK);
	/* A second message reusing key-a: refused, not stored. */
	m.uid = 2;
	m.message_id = "<m1@x>"; /* even with a copied Message-ID */
	assert_int_equal(
	    qm_store_msg_add(f->s, &m, "s", k1, 1, "x", 1, NULL, &id, &e),
	    QM_ERR_REPLAY);
	m.message_id = "<m3@x>";
	m.uid = 0;
	m.uidl = "UIDL-0003";
	assert_int_equal(
	    qm_store_msg_add(f->s, &m, "s", k3, 1, "x", 1, NULL, &id, &e),
	    QM_OK);
	{
		int64_t got;

		assert_int_equal(qm_store_msg_find_uidl(f->s, f->acct,
		                                        "UIDL-0003", &got, &e),
		                 QM_OK);
		assert_int_equal(got, id);
		assert_int_equal(qm_store_msg_add(f->s, &m, NULL, NULL, 0, NULL,
		                                  0, NULL, &got, &e),
		                 QM_ERR_EXISTS);
	}
	assert_int_equal(
	    qm_store_replay_check(f->s, f->acct, QM_DIR_IN, "key-c", &e),
	    QM_ERR_REPLAY);
	{
		char **ids = NULL;
		size_t nk = 0;
		int64_t first;

		assert_int_equal(
		    qm_store_msg_find(f->s, f->acct, "<m1@x>", &first, &e),
		    QM_OK);
		assert_int_equal(
		    qm_store_msg_key_ids(f->s, first, &ids, &nk, &e), QM_OK);
		assert_int_equal(nk, 2);
		assert_string_equal(ids[0], "key-a");
		assert_string_equal(ids[1], "key-b");
		qm_store_strv_free(ids, nk);
	}
	{
		struct qm_store_query q;
		int64_t n;

		memset(&q, 0, sizeof(q));
		q.account_id = f->acct;
		assert_int_equal(qm_store_msg_count(f->s, &q, &n, &e), QM_OK);
		assert_int_equal(n, 2);
	}
}

/* ------------------------------------------------------------- outbox */

/* Entry id's ciphertext is want. */
static void expect_ct(struct qm_store *s, int64_t id, const char *want)
{
	struct qm_error e;
	struct qm_buf b;

	qm_buf_init(&b, 1 << 20);
	assert_int_equal(qm_store_outbox_ciphertext(s, id, &b, &e), QM_OK);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	qm_buf_free(&b);
}

static void test_outbox(void **state)
{
	struct fx *f = *state;
	const char *keys[] = {"ok-1", "ok-2", "ok-3"};
	const char *keys2[] = {"ok-9"};
	struct qm_store_outbox o;
	struct qm_buf pt;
	struct qm_error e;
	int64_t id, id2, *ids = NULL;
	size_t n = 0;

	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<o1@x>",
	                                     "bob@example.org", 1, "MIME", 4,
	                                     &id, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_get(f->s, id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_PENDING);
	assert_false(o.has_ciphertext);
	qm_store_outbox_item_free(&o);
	qm_buf_init_secure(&pt, 100);
	assert_int_equal(qm_store_outbox_plaintext(f->s, id, &pt, &e), QM_OK);
	assert_string_equal((char *)pt.data, "MIME");
	qm_buf_free(&pt);
	/* No ciphertext before the keys are recorded. */
	assert_int_equal(qm_store_outbox_set_ciphertext(f->s, id, "CT", 2, &e),
	                 QM_ERR_STATE);
	assert_int_equal(qm_store_outbox_begin_send(f->s, id, &e),
	                 QM_ERR_STATE);
	assert_int_equal(qm_store_outbox_reserve(f->s, id, keys, 3, &e), QM_OK);
	assert_int_equal(qm_store_outbox_reserve(f->s, id, keys2, 1, &e),
	                 QM_ERR_STATE);
	assert_int_equal(qm_store_outbox_set_ciphertext(f->s, id, "CT1", 3, &e),
	                 QM_OK);
	/* The ciphertext is never replaced. */
	assert_int_equal(qm_store_outbox_set_ciphertext(f->s, id, "CT2", 3, &e),
	                 QM_ERR_STATE);
	assert_int_equal(
	    qm_store_outbox_list(f->s, 0, -1, qm_now(), &ids, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], id);
	free(ids);
	assert_int_equal(qm_store_outbox_begin_send(f->s, id, &e), QM_OK);
	assert_int_equal(qm_store_outbox_begin_send(f->s, id, &e),
	                 QM_ERR_STATE);
	assert_int_equal(qm_store_outbox_fail(f->s, id, "421 try later",
	                                      qm_now() + 3600, &e),
	                 QM_OK);
	/* Not due yet. */
	assert_int_equal(
	    qm_store_outbox_list(f->s, 0, -1, qm_now(), &ids, &n, &e), QM_OK);
	assert_int_equal(n, 0);
	free(ids);
	assert_int_equal(
	    qm_store_outbox_list(f->s, 0, -1, qm_now() + 7200, &ids, &n, &e),
	    QM_OK);
	assert_int_equal(n, 1);
	free(ids);
	assert_int_equal(qm_store_outbox_begin_send(f->s, id, &e), QM_OK);
	assert_int_equal(
	    qm_store_outbox_sent(f->s, id, "250 2.0.0 Ok: queued", &e), QM_OK);
	assert_int_equal(qm_store_outbox_get(f->s, id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_SENT);
	assert_int_equal(o.attempts, 2);
	assert_string_equal(o.reply, "250 2.0.0 Ok: queued");
	assert_int_equal(o.ciphertext_len, 3);
	assert_true(o.has_ciphertext);
	expect_ct(f->s, id, "CT1");
	assert_int_equal(o.n_keys, 3);
	assert_string_equal(o.key_ids[0], "ok-1");
	assert_string_equal(o.key_ids[2], "ok-3");
	qm_store_outbox_item_free(&o);

	/* A key ID already used by a sent message cannot be reserved again,
	 * and the failed reservation leaves the entry PENDING. */
	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<o2@x>",
	                                     "bob@example.org", 2, "M2", 2,
	                                     &id2, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_reserve(f->s, id2, keys + 1, 1, &e),
	                 QM_ERR_REPLAY);
	/* The KME had too little key: it waits as PENDING until retry_at. */
	assert_int_equal(qm_store_outbox_fail(f->s, id2, "503 short of key",
	                                      qm_now() + 600, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_list(f->s, 0, QM_OUTBOX_PENDING,
	                                      qm_now(), &ids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 0);
	free(ids);
	assert_int_equal(qm_store_outbox_list(f->s, 0, QM_OUTBOX_PENDING,
	                                      qm_now() + 601, &ids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 1);
	free(ids);
	assert_int_equal(qm_store_outbox_get(f->s, id2, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_PENDING);
	assert_int_equal(o.n_keys, 0);
	qm_store_outbox_item_free(&o);

	/* Crash between "keys fetched" and "encrypted": recovery burns the
	 * keys and the message goes back to PENDING for new ones. */
	assert_int_equal(qm_store_outbox_reserve(f->s, id2, keys2, 1, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_recover(f->s, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(qm_store_outbox_get(f->s, id2, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_PENDING);
	assert_int_equal(o.n_keys, 0);
	qm_store_outbox_item_free(&o);
	assert_int_equal(qm_store_outbox_reserve(f->s, id2, keys2, 1, &e),
	                 QM_ERR_REPLAY);
	{
		const char *k[] = {"ok-10"};

		assert_int_equal(qm_store_outbox_reserve(f->s, id2, k, 1, &e),
		                 QM_OK);
	}
	assert_int_equal(
	    qm_store_outbox_set_ciphertext(f->s, id2, "CTB", 3, &e), QM_OK);
	/* Crash while sending: the same ciphertext waits to be retried. */
	assert_int_equal(qm_store_outbox_begin_send(f->s, id2, &e), QM_OK);
	assert_int_equal(qm_store_outbox_recover(f->s, &n, &e), QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(qm_store_outbox_get(f->s, id2, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_RETRYING);
	expect_ct(f->s, id2, "CTB");
	assert_int_equal(o.n_keys, 1);
	assert_string_equal(o.key_ids[0], "ok-10");
	qm_store_outbox_item_free(&o);
	/* Permanent failure keeps the record. */
	assert_int_equal(qm_store_outbox_begin_send(f->s, id2, &e), QM_OK);
	assert_int_equal(
	    qm_store_outbox_fail(f->s, id2, "550 no such user", 0, &e), QM_OK);
	assert_int_equal(qm_store_outbox_list(f->s, f->acct, QM_OUTBOX_FAILED,
	                                      0, &ids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 1);
	free(ids);
	assert_string_equal(qm_store_outbox_state_str(QM_OUTBOX_RETRYING),
	                    "retrying");
}

static void edit(const char *home, const char *sql);
static enum qm_store_verify verify_of(struct fx *f, int64_t id,
                                      enum qm_store_label *label);

/*
 * Issue 14: the account's own messages. The outbox entries of a Message-ID
 * that have a ciphertext are found by it (the To/Cc copy and a Bcc copy
 * share it; one never encrypted is not, nor one of another account); the
 * two states of the account's own messages are kept in the same column
 * under the label MAC, so a row edited from "from your address" to "sent
 * by you" on disk reads back as tampered.
 */
static void test_own_messages(void **state)
{
	struct fx *f = *state;
	const char *k1[] = {"own-1"}, *k2[] = {"own-2"};
	enum qm_store_label lab;
	struct qm_store_msg m;
	struct qm_error e;
	char sql[256];
	int64_t a, b, c, *ids = NULL, id;
	size_t n = 0;

	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<own@x>",
	                                     "bob@example.org", 2, "M1", 2, &a,
	                                     &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<own@x>",
	                                     "carol@example.org", 2, "M2", 2,
	                                     &b, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<own@x>",
	                                     "dave@example.org", 2, "M3", 2, &c,
	                                     &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_outbox_find_mid(f->s, f->acct, "<own@x>", &ids, &n, &e),
	    QM_OK);
	assert_int_equal(n, 0); /* nothing encrypted yet */
	free(ids);
	assert_int_equal(qm_store_outbox_reserve(f->s, a, k1, 1, &e), QM_OK);
	assert_int_equal(qm_store_outbox_set_ciphertext(f->s, a, "CA", 2, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_reserve(f->s, b, k2, 1, &e), QM_OK);
	assert_int_equal(qm_store_outbox_set_ciphertext(f->s, b, "CB", 2, &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_outbox_find_mid(f->s, f->acct, "<own@x>", &ids, &n, &e),
	    QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], a);
	assert_int_equal(ids[1], b);
	free(ids);
	assert_int_equal(qm_store_outbox_find_mid(f->s, f->acct + 1, "<own@x>",
	                                          &ids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 0);
	free(ids);
	assert_int_equal(
	    qm_store_outbox_find_mid(f->s, f->acct, "", &ids, &n, &e), QM_OK);
	assert_int_equal(n, 0);
	free(ids);

	memset(&m, 0, sizeof(m));
	m.account_id = f->acct;
	m.folder = "Sent";
	m.uidvalidity = 7;
	m.uid = 1;
	m.message_id = "<own@x>";
	m.from_addr = "alice@example.org";
	m.to_addrs = "bob@example.org";
	m.date = 100;
	m.level = 2;
	m.verify = QM_VERIFY_SENT;
	assert_int_equal(
	    qm_store_msg_add(f->s, &m, "mine", NULL, 0, "M1", 2, "M1", &id, &e),
	    QM_OK);
	assert_int_equal(verify_of(f, id, &lab), QM_VERIFY_SENT);
	assert_int_equal(lab, QM_LABEL_OK);
	m.uid = 2;
	m.message_id = "<other@x>";
	m.verify = QM_VERIFY_SENT_ELSEWHERE;
	assert_int_equal(qm_store_msg_add(f->s, &m, "not mine", NULL, 0, "CT",
	                                  2, "", &id, &e),
	                 QM_OK);
	assert_int_equal(verify_of(f, id, &lab), QM_VERIFY_SENT_ELSEWHERE);
	assert_int_equal(lab, QM_LABEL_OK);
	snprintf(sql, sizeof(sql), "UPDATE msg SET verify = %d WHERE id = %lld",
	         (int)QM_VERIFY_SENT, (long long)id);
	edit(f->home, sql);
	assert_int_equal(verify_of(f, id, &lab), QM_VERIFY_TAMPERED);
	assert_int_equal(lab, QM_LABEL_ALTERED);
}

/* ------------------------------------------------------------ keyring */

static void test_keyring(void **state)
{
	struct fx *f = *state;
	struct qm_store_key k, *all = NULL;
	enum qm_store_trust t;
	struct qm_buf priv;
	struct qm_error e;
	char fpr2[QM_STORE_FPRMAX];
	size_t n = 0;

	assert_int_equal(qm_store_key_own_put(f->s, f->acct, "mlkem768-x25519",
	                                      "PUB", 3, "PRIVATE", 7, NULL, &e),
	                 QM_OK);
	qm_buf_init_secure(&priv, 100);
	assert_int_equal(qm_store_key_own_get(f->s, f->acct, "mlkem768-x25519",
	                                      &k, &priv, &e),
	                 QM_OK);
	assert_int_equal(k.pub_len, 3);
	assert_memory_equal(k.pub, "PUB", 3);
	assert_string_equal(k.address, "alice@example.org");
	assert_memory_equal(priv.data, "PRIVATE", 7);
	assert_true(qm_sec_contains(priv.data, priv.len));
	qm_store_key_free(&k);
	qm_buf_free(&priv);
	qm_store_vault_lock(f->s);
	/* The public half needs no unlock. */
	assert_int_equal(qm_store_key_own_get(f->s, f->acct, "mlkem768-x25519",
	                                      &k, NULL, &e),
	                 QM_OK);
	qm_store_key_free(&k);
	assert_int_equal(qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);

	assert_int_equal(
	    qm_store_key_contact_get(f->s, "bob@example.org", "x", &k, &e),
	    QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_key_contact_put(f->s, "bob@example.org", "x",
	                                          "K1", 2, &t, &e),
	                 QM_OK);
	assert_int_equal(t, QM_TRUST_UNVERIFIED);
	assert_int_equal(qm_store_key_contact_put(f->s, "Bob@example.org", "x",
	                                          "K1", 2, &t, &e),
	                 QM_OK);
	assert_int_equal(t, QM_TRUST_UNVERIFIED);
	assert_int_equal(
	    qm_store_key_contact_get(f->s, "bob@example.org", "x", &k, &e),
	    QM_OK);
	assert_memory_equal(k.pub, "K1", 2);
	assert_true(k.first_seen > 0);
	assert_int_equal(strlen(k.fingerprint), 79);
	qm_store_key_free(&k);
	/* A different key: stored as changed, and nothing is used. */
	assert_int_equal(qm_store_key_contact_put(f->s, "bob@example.org", "x",
	                                          "K2", 2, &t, &e),
	                 QM_OK);
	assert_int_equal(t, QM_TRUST_CHANGED);
	assert_int_equal(
	    qm_store_key_contact_get(f->s, "bob@example.org", "x", &k, &e),
	    QM_ERR_STATE);
	assert_non_null(strstr(e.msg, "changed"));
	assert_int_equal(
	    qm_store_key_fingerprint("x", "K2", 2, fpr2, sizeof(fpr2), &e),
	    QM_OK);
	assert_int_equal(qm_store_key_contact_verify(f->s, "bob@example.org",
	                                             "x", "0000", &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(
	    qm_store_key_contact_verify(f->s, "bob@example.org", "x", fpr2, &e),
	    QM_OK);
	assert_int_equal(
	    qm_store_key_contact_get(f->s, "bob@example.org", "x", &k, &e),
	    QM_OK);
	assert_memory_equal(k.pub, "K2", 2);
	assert_int_equal(k.trust, QM_TRUST_VERIFIED);
	qm_store_key_free(&k);
	assert_int_equal(
	    qm_store_key_contact_list(f->s, "bob@example.org", &all, &n, &e),
	    QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(all[1].trust, QM_TRUST_RETIRED);
	for (size_t i = 0; i < n; i++)
		qm_store_key_free(&all[i]);
	free(all);
}

/* ---------------------------------------------- secrets never in clear */

struct needle {
	unsigned char b[256];
	size_t n;
	const char *what;
};

static void add_forms(struct needle *nd, size_t *nn, const char *secret)
{
	size_t len = strlen(secret);

	/* raw */
	memcpy(nd[*nn].b, secret, len);
	nd[*nn].n = len;
	nd[(*nn)++].what = secret;
	/* hex, lower and upper */
	for (int up = 0; up < 2; up++) {
		struct qm_buf h;

		qm_buf_init(&h, 256);
		assert_int_equal(qm_hex_encode(secret, len, &h, NULL), QM_OK);
		for (size_t i = 0; up && i < h.len; i++)
			if (h.data[i] >= 'a' && h.data[i] <= 'f')
				h.data[i] = (unsigned char)(h.data[i] - 32);
		memcpy(nd[*nn].b, h.data, h.len);
		nd[*nn].n = h.len;
		nd[(*nn)++].what = secret;
		qm_buf_free(&h);
	}
	/* base64 at the three alignments the secret may have inside a larger
	 * encoded text: drop the characters that depend on the neighbours. */
	for (size_t shift = 0; shift < 3; shift++) {
		unsigned char tmp[128];
		struct qm_buf b;
		size_t skip = shift ? 4 : 0, keep;

		memset(tmp, 'Z', shift);
		memcpy(tmp + shift, secret, len);
		qm_buf_init(&b, 256);
		assert_int_equal(qm_b64_encode(tmp, shift + len, &b, NULL),
		                 QM_OK);
		keep = ((shift + len) / 3) * 4 - skip;
		memcpy(nd[*nn].b, b.data + skip, keep);
		nd[*nn].n = keep;
		nd[(*nn)++].what = secret;
		qm_buf_free(&b);
	}
}

static int scan_dir(const char *dir, const struct needle *nd, size_t nn)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0, files = 0;

	assert_non_null(d);
	while ((de = readdir(d))) {
		char path[1024];
		struct qm_buf b;
		struct stat st;

		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] ||
		     (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			found += scan_dir(path, nd, nn);
			continue;
		}
		files++;
		qm_buf_init(&b, 256u << 20);
		assert_int_equal(qm_file_read(path, b.max, &b, NULL), QM_OK);
		for (size_t i = 0; i < nn; i++)
			if (b.len >= nd[i].n &&
			    memmem(b.data, b.len, nd[i].b, nd[i].n)) {
				print_error("%s holds \"%s\" (in some form)\n",
				            path, nd[i].what);
				found++;
			}
		qm_buf_free(&b);
	}
	closedir(d);
	assert_true(files > 0 || found == 0);
	return found;
}

static void test_secrets_never_in_clear(void **state)
{
	struct fx *f = *state;
	static const char *const secrets[] = {
	    "pw-Zebra-Quantum-91827364",                /* password */
	    "ya29.oauth-access-XYZZY-5647382910",       /* OAuth token */
	    "refresh-token-PLUGH-1029384756",           /* OAuth refresh */
	    "PRIVKEY-ml-kem-768-seed-0123456789abcdef", /* private key */
	    "Secret merger with Initech Corp",          /* subject */
	    "The launch code is 0000-1111-2222",        /* body */
	    "attachment-bytes-QWERTYUIOP-4444",         /* attachment */
	    "draft text about the surprise party",      /* draft */
	    "outbox plaintext NOTHING-TO-SEE-77",       /* outbox plaintext */
	    "Zaphod Sender-Name 4242",                  /* sender's name */
	};
	struct needle nd[64];
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_store_msg m;
	struct qm_error e;
	char mime[512];
	int64_t id, d = 0;
	size_t nn = 0;

	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		add_forms(nd, &nn, secrets[i]);
	assert_int_equal(qm_store_secret_set(f->s, f->acct, QM_SECRET_PASSWORD,
	                                     secrets[0], strlen(secrets[0]),
	                                     &e),
	                 QM_OK);
	assert_int_equal(qm_store_secret_set(f->s, f->acct,
	                                     QM_SECRET_OAUTH_ACCESS, secrets[1],
	                                     strlen(secrets[1]), &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_secret_set(f->s, f->acct, QM_SECRET_OAUTH_REFRESH,
	                        secrets[2], strlen(secrets[2]), &e),
	    QM_OK);
	assert_int_equal(qm_store_key_own_put(f->s, f->acct, "mlkem768-x25519",
	                                      "public", 6, secrets[3],
	                                      strlen(secrets[3]), NULL, &e),
	                 QM_OK);
	snprintf(
	    mime, sizeof(mime),
	    "Subject: %s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\n\r\n%s\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	    "%s\r\n--b--\r\n",
	    secrets[4], secrets[5], secrets[6]);
	memset(&m, 0, sizeof(m));
	m.account_id = f->acct;
	m.folder = "INBOX";
	m.uid = 1;
	m.message_id = "<s@x>";
	m.date = 1;
	m.level = 1;
	m.verify = QM_VERIFY_OK; /* read: its snippet is kept too */
	m.from_name = secrets[9];
	assert_int_equal(qm_store_msg_add(f->s, &m, secrets[4], NULL, 0, mime,
	                                  strlen(mime), secrets[5], &id, &e),
	                 QM_OK);
	assert_int_equal(qm_store_draft_put(f->s, f->acct, &d, secrets[7],
	                                    strlen(secrets[7]), &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<o@x>", "b@x", 1,
	                                     secrets[8], strlen(secrets[8]),
	                                     &id, &e),
	                 QM_OK);
	/* Build the search index and list with subjects: memory only. */
	memset(&q, 0, sizeof(q));
	q.text = "merger";
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	/* the snippet is the body's text: the scans below cover it */
	assert_string_equal(l->items[0].snippet, secrets[5]);
	assert_string_equal(l->items[0].from_name, secrets[9]);
	qm_store_msglist_free(&l);

	/* While open (data in the WAL) and after close (checkpointed); also
	 * where SQLite would write temporary files. */
	assert_int_equal(scan_dir(f->home, nd, nn), 0);
	assert_int_equal(scan_dir(sqlite_tmp, nd, nn), 0);
	/* The scan itself works: a file with a known secret is found. */
	{
		char path[600];

		snprintf(path, sizeof(path), "%s/probe", f->home);
		assert_int_equal(qmt_write_file(path, secrets[2]), 0);
		assert_true(scan_dir(f->home, nd, nn) >= 1);
		unlink(path);
	}
	qm_store_close(&f->s);
	assert_int_equal(scan_dir(f->home, nd, nn), 0);
	assert_int_equal(qm_store_open(f->home, NULL, &f->s, &e), QM_OK);
}

/* ------------------------------------------------------ damaged files */

static void fill_some(struct fx *f)
{
	char subj[32];

	assert_int_equal(qm_store_tx_begin(f->s, NULL), QM_OK);
	for (int i = 1; i <= 2000; i++) {
		snprintf(subj, sizeof(subj), "s%d", i);
		add_msg(f, "INBOX", i, i, "bob@example.org", 2, subj, "body");
	}
	assert_int_equal(qm_store_tx_commit(f->s, NULL), QM_OK);
}

static void list_all_or_error(struct qm_store *s)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	enum qm_err rc;

	memset(&q, 0, sizeof(q));
	q.limit = 1000;
	rc = qm_store_msg_list(s, &q, &l, &e);
	if (rc == QM_OK)
		qm_store_msglist_free(&l);
	else
		assert_true(rc == QM_ERR_PARSE || rc == QM_ERR_IO);
}

static void test_damaged(void **state)
{
	struct fx *f = *state;
	struct qm_store *s = NULL;
	struct qm_error e;
	char path[600];
	struct stat st;
	enum qm_err rc;
	int fd;

	fill_some(f);
	qm_store_close(&f->s); /* checkpoints the WAL into the file */
	snprintf(path, sizeof(path), "%s/qmail.db", f->home);
	assert_int_equal(stat(path, &st), 0);

	/* Bytes overwritten in the middle: the check says so, no crash, and
	 * the rest reads where SQLite can. */
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	{
		char junk[4096];

		memset(junk, 0x5a, sizeof(junk));
		assert_int_equal(
		    pwrite(fd, junk, sizeof(junk), (st.st_size / 2) & ~4095L),
		    (ssize_t)sizeof(junk));
	}
	close(fd);
	rc = qm_store_open(f->home, NULL, &s, &e);
	assert_int_equal(rc, QM_OK);
	assert_int_equal(qm_store_check(s, &e), QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "damaged"));
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	list_all_or_error(s);
	{
		struct qm_store_msglist *l = NULL;

		/* The first messages live on early pages: still readable. */
		assert_int_equal(qm_store_msg_get(s, 1, &l, &e), QM_OK);
		assert_string_equal(l->items[0].subject, "s1");
		qm_store_msglist_free(&l);
	}
	qm_store_close(&s);

	/* Truncated to a third. */
	assert_int_equal(truncate(path, st.st_size / 3), 0);
	rc = qm_store_open(f->home, NULL, &s, &e);
	if (rc == QM_OK) {
		assert_int_equal(qm_store_check(s, &e), QM_ERR_PARSE);
		list_all_or_error(s);
		qm_store_close(&s);
	} else {
		assert_true(rc == QM_ERR_PARSE || rc == QM_ERR_IO);
	}

	/* Not a database at all. */
	assert_int_equal(
	    qmt_write_file(path, "this is not an SQLite database, "
	                         "just some text of some length "
	                         "........................................"
	                         "........................................"),
	    0);
	rc = qm_store_open(f->home, NULL, &s, &e);
	assert_int_equal(rc, QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "damaged"));
	assert_null(s);
	/* Leave a fresh store for the teardown. */
	unlink(path);
	assert_int_equal(qm_store_open(f->home, NULL, &f->s, &e), QM_OK);
}

static void test_sealed_item_moved(void **state)
{
	struct fx *f = *state;
	struct qm_error e;
	struct qm_buf b;
	sqlite3 *db;
	char path[600];
	int64_t a, b2;

	a = add_msg(f, "INBOX", 1, 1, "x@y", 1, "one", "first body");
	b2 = add_msg(f, "INBOX", 2, 2, "x@y", 1, "two", "second body");
	/* Copy message a's sealed body over b's: must not open as b. */
	snprintf(path, sizeof(path), "%s/qmail.db", f->home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db,
	                              "UPDATE msg_body SET mime = (SELECT "
	                              "mime FROM msg_body WHERE msg_id = 1) "
	                              "WHERE msg_id = 2",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	qm_buf_init_secure(&b, 1024);
	assert_int_equal(qm_store_msg_body(f->s, a, &b, &e), QM_OK);
	qm_buf_reset(&b);
	assert_int_equal(qm_store_msg_body(f->s, b2, &b, &e), QM_ERR_AUTH);
	assert_int_equal(b.len, 0);
	qm_buf_free(&b);
	/* Ids are never reused, so a deleted message's sealed items cannot
	 * be passed off as a newer message's. */
	assert_int_equal(qm_store_msg_delete(f->s, b2, &e), QM_OK);
	assert_true(add_msg(f, "INBOX", 3, 3, "x@y", 1, "three", "b") > b2);
}

/* ------------------------------------------------ security labels */

/* Runs SQL on the store's file from outside, as anyone who can write it. */
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

/* Reads message id back: its verify state and label. */
static enum qm_store_verify verify_of(struct fx *f, int64_t id,
                                      enum qm_store_label *label)
{
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	enum qm_store_verify v;

	assert_int_equal(qm_store_msg_get(f->s, id, &l, &e), QM_OK);
	v = l->items[0].verify;
	if (label)
		*label = l->items[0].label;
	qm_store_msglist_free(&l);
	return v;
}

/*
 * Issue 12: a message's level, verify state and sender in table msg are
 * bound by a MAC under a key from the vault key. A row edited in the file
 * (a plain message made "level 1, verified", a verified one given another
 * sender, its MAC removed) reads back as tampered, label altered.
 */
static void test_label_msg_edited(void **state)
{
	struct fx *f = *state;
	struct qm_store_msg m;
	enum qm_store_label lab;
	struct qm_error e;
	char sql[256];
	int64_t ok, plain, other, id;

	ok = add_msg(f, "INBOX", 10, 1, "bob@example.org", 2, "ok", "body");
	plain = add_msg(f, "INBOX", 11, 2, "mallory@example.net", 0, "plain",
	                "body");
	other = add_msg(f, "INBOX", 12, 3, "carol@example.org", 3, "c", "b");
	assert_int_equal(verify_of(f, ok, &lab), QM_VERIFY_OK);
	assert_int_equal(lab, QM_LABEL_OK);
	/* a plain message promoted to level 1, verified */
	snprintf(sql, sizeof(sql),
	         "UPDATE msg SET level = 1, verify = 1 WHERE id = %lld",
	         (long long)plain);
	edit(f->home, sql);
	assert_int_equal(verify_of(f, plain, &lab), QM_VERIFY_TAMPERED);
	assert_int_equal(lab, QM_LABEL_ALTERED);
	/* a verified message given another sender */
	snprintf(sql, sizeof(sql),
	         "UPDATE msg SET from_addr = 'alice@example.org' WHERE id = "
	         "%lld",
	         (long long)ok);
	edit(f->home, sql);
	assert_int_equal(verify_of(f, ok, &lab), QM_VERIFY_TAMPERED);
	assert_int_equal(lab, QM_LABEL_ALTERED);
	/* its MAC removed */
	snprintf(sql, sizeof(sql), "UPDATE msg SET mac = NULL WHERE id = %lld",
	         (long long)other);
	edit(f->home, sql);
	assert_int_equal(verify_of(f, other, &lab), QM_VERIFY_TAMPERED);
	assert_int_equal(lab, QM_LABEL_ALTERED);
	/* another row's MAC copied over */
	snprintf(sql, sizeof(sql),
	         "UPDATE msg SET mac = (SELECT mac FROM msg WHERE id = %lld) "
	         "WHERE id = %lld",
	         (long long)ok, (long long)other);
	edit(f->home, sql);
	assert_int_equal(verify_of(f, other, &lab), QM_VERIFY_TAMPERED);
	/* the verify state a newer QMail adds is covered as a number too */
	id = add_msg(f, "INBOX", 13, 4, "dave@example.org", 2, "d", "b");
	snprintf(sql, sizeof(sql), "UPDATE msg SET verify = 99 WHERE id = %lld",
	         (long long)id);
	edit(f->home, sql);
	assert_int_equal(verify_of(f, id, &lab), QM_VERIFY_TAMPERED);
	assert_int_equal(lab, QM_LABEL_ALTERED);
	/* the store changes a status with a fresh MAC, and never on a row
	 * edited on disk */
	id = add_msg(f, "INBOX", 15, 6, "frank@example.org", 2, "f", "b");
	assert_int_equal(qm_store_msg_set_verify(f->s, id, 2,
	                                         QM_VERIFY_UNKNOWN_KEY, &e),
	                 QM_OK);
	assert_int_equal(verify_of(f, id, &lab), QM_VERIFY_UNKNOWN_KEY);
	assert_int_equal(lab, QM_LABEL_OK);
	assert_int_equal(
	    qm_store_msg_set_verify(f->s, plain, 1, QM_VERIFY_OK, &e),
	    QM_ERR_AUTH);
	/* flags are no security label: marking read changes nothing */
	id = add_msg(f, "INBOX", 14, 5, "erin@example.org", 1, "e", "b");
	assert_int_equal(qm_store_msg_set_flags(f->s, id, QM_FLAG_SEEN, &e),
	                 QM_OK);
	assert_int_equal(verify_of(f, id, &lab), QM_VERIFY_OK);
	assert_int_equal(lab, QM_LABEL_OK);
	/* locked: the labels cannot be checked, and no row is written */
	qm_store_vault_lock(f->s);
	assert_int_equal(verify_of(f, id, &lab), QM_VERIFY_OK);
	assert_int_equal(lab, QM_LABEL_UNCHECKED);
	memset(&m, 0, sizeof(m));
	m.account_id = f->acct;
	m.folder = "INBOX";
	m.uid = 99;
	m.level = 0;
	m.verify = QM_VERIFY_NOT_QMAIL;
	assert_int_equal(
	    qm_store_msg_add(f->s, &m, NULL, NULL, 0, NULL, 0, NULL, &id, &e),
	    QM_ERR_LOCKED);
	assert_int_equal(qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(verify_of(f, plain, &lab), QM_VERIFY_TAMPERED);
}

/*
 * A contact edited in the file (a learned SAE ID marked confirmed, another
 * SAE ID put in, min_level lowered, the MAC removed) is not confirmed and
 * keeps the strictest floor (1) until the user enters it again; it cannot
 * be confirmed as it stands nor overwritten by a learned SAE ID.
 */
static void test_label_contact_edited(void **state)
{
	struct fx *f = *state;
	struct qm_store_contact c, got, *all = NULL;
	struct qm_error e;
	size_t n = 0;

	memset(&c, 0, sizeof(c));
	qm_strlcpy(c.address, "bob@example.org", sizeof(c.address));
	qm_strlcpy(c.sae_id, "SAE_bob", sizeof(c.sae_id));
	c.source = QM_CONTACT_USER;
	c.min_level = 2;
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e), QM_OK);
	qm_strlcpy(c.address, "carol@example.org", sizeof(c.address));
	qm_strlcpy(c.sae_id, "SAE_carol", sizeof(c.sae_id));
	c.source = QM_CONTACT_LEARNED;
	c.min_level = 0;
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e), QM_OK);
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "bob@example.org", &got, &e),
	    QM_OK);
	assert_true(got.confirmed);
	assert_int_equal(got.label, QM_LABEL_OK);

	/* a learned SAE ID confirmed behind the user's back */
	edit(f->home, "UPDATE contact SET confirmed = 1 WHERE address = "
	              "'carol@example.org'");
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "carol@example.org", &got, &e),
	    QM_OK);
	assert_false(got.confirmed);
	assert_int_equal(got.label, QM_LABEL_ALTERED);
	assert_int_equal(got.min_level, 1);
	/* as it stands, it cannot be confirmed, nor replaced by mail */
	assert_int_equal(
	    qm_store_contact_confirm(f->s, f->acct, "carol@example.org", &e),
	    QM_ERR_STATE);
	assert_non_null(strstr(e.msg, "changed on disk"));
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e),
	                 QM_ERR_STATE);

	/* the floor lowered and the SAE ID replaced */
	edit(f->home, "UPDATE contact SET min_level = 0, sae_id = 'SAE_eve' "
	              "WHERE address = 'bob@example.org'");
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "bob@example.org", &got, &e),
	    QM_OK);
	assert_false(got.confirmed);
	assert_int_equal(got.min_level, 1);
	assert_int_equal(got.label, QM_LABEL_ALTERED);
	assert_int_equal(qm_store_contact_list(f->s, f->acct, &all, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_false(all[i].confirmed);
		assert_int_equal(all[i].label, QM_LABEL_ALTERED);
	}
	free(all);

	/* the user enters it again: sound once more */
	qm_strlcpy(c.address, "bob@example.org", sizeof(c.address));
	qm_strlcpy(c.sae_id, "SAE_bob", sizeof(c.sae_id));
	c.source = QM_CONTACT_USER;
	c.min_level = 2;
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e), QM_OK);
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "bob@example.org", &got, &e),
	    QM_OK);
	assert_true(got.confirmed);
	assert_int_equal(got.min_level, 2);
	assert_int_equal(got.label, QM_LABEL_OK);

	/* the MAC removed */
	edit(f->home, "UPDATE contact SET mac = NULL WHERE address = "
	              "'bob@example.org'");
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "bob@example.org", &got, &e),
	    QM_OK);
	assert_false(got.confirmed);

	/* no contact is written while locked */
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e),
	                 QM_ERR_LOCKED);
	assert_int_equal(
	    qm_store_contact_confirm(f->s, f->acct, "carol@example.org", &e),
	    QM_ERR_LOCKED);
}

/*
 * A keyring row edited in the file (trust set to verified, the public key
 * swapped, the MAC removed) is not used as verified: it reads back as
 * changed, which blocks the contact's keys until the user compares
 * fingerprints; verifying by the fingerprint of the key actually stored
 * makes it sound again; an own key whose public half was swapped fails.
 */
static void test_label_keyring_edited(void **state)
{
	struct fx *f = *state;
	struct qm_store_key k, *all = NULL;
	enum qm_store_trust t;
	struct qm_error e;
	char fb[QM_STORE_FPRMAX], fc[QM_STORE_FPRMAX];
	size_t n = 0;

	assert_int_equal(qm_store_key_contact_put(f->s, "bob@example.org", "x",
	                                          "KB", 2, &t, &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_key_fingerprint("x", "KB", 2, fb, sizeof(fb), &e), QM_OK);
	assert_int_equal(
	    qm_store_key_contact_verify(f->s, "bob@example.org", "x", fb, &e),
	    QM_OK);
	assert_int_equal(qm_store_key_contact_put(f->s, "carol@example.org",
	                                          "x", "KC", 2, &t, &e),
	                 QM_OK);
	assert_int_equal(t, QM_TRUST_UNVERIFIED);
	assert_int_equal(
	    qm_store_key_fingerprint("x", "KC", 2, fc, sizeof(fc), &e), QM_OK);

	/* carol's unverified key marked verified */
	edit(f->home, "UPDATE keyring SET trust = 1 WHERE address = "
	              "'carol@example.org'");
	assert_int_equal(
	    qm_store_key_contact_get(f->s, "carol@example.org", "x", &k, &e),
	    QM_ERR_STATE);
	assert_int_equal(
	    qm_store_key_contact_list(f->s, "carol@example.org", &all, &n, &e),
	    QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(all[0].trust, QM_TRUST_CHANGED);
	assert_int_equal(all[0].label, QM_LABEL_ALTERED);
	qm_store_key_free(&all[0]);
	free(all);
	/* a learned key is still "seen before": no trust from the edit */
	assert_int_equal(qm_store_key_contact_put(f->s, "carol@example.org",
	                                          "x", "KC", 2, &t, &e),
	                 QM_OK);
	assert_int_equal(t, QM_TRUST_CHANGED);
	/* the user compares fingerprints: verified for real */
	assert_int_equal(
	    qm_store_key_contact_verify(f->s, "carol@example.org", "x", fc, &e),
	    QM_OK);
	assert_int_equal(
	    qm_store_key_contact_get(f->s, "carol@example.org", "x", &k, &e),
	    QM_OK);
	assert_int_equal(k.trust, QM_TRUST_VERIFIED);
	assert_int_equal(k.label, QM_LABEL_OK);
	qm_store_key_free(&k);

	/* bob's verified key swapped for another: not used, and the old
	 * fingerprint does not bless the new bytes */
	edit(f->home, "UPDATE keyring SET pub = X'4b45' WHERE address = "
	              "'bob@example.org'");
	assert_int_equal(
	    qm_store_key_contact_get(f->s, "bob@example.org", "x", &k, &e),
	    QM_ERR_STATE);
	assert_int_not_equal(
	    qm_store_key_contact_verify(f->s, "bob@example.org", "x", fb, &e),
	    QM_OK);
	assert_int_equal(
	    qm_store_key_contact_get(f->s, "bob@example.org", "x", &k, &e),
	    QM_ERR_STATE);

	/* the MAC removed */
	edit(f->home, "UPDATE keyring SET mac = NULL WHERE address = "
	              "'carol@example.org'");
	assert_int_equal(
	    qm_store_key_contact_get(f->s, "carol@example.org", "x", &k, &e),
	    QM_ERR_STATE);

	/* an own key with its public half swapped */
	assert_int_equal(qm_store_key_own_put(f->s, f->acct, "x", "OWN", 3,
	                                      "PRIV", 4, NULL, &e),
	                 QM_OK);
	edit(f->home,
	     "UPDATE keyring SET pub = X'45564c' WHERE account_id > 0");
	assert_int_equal(qm_store_key_own_get(f->s, f->acct, "x", &k, NULL, &e),
	                 QM_ERR_AUTH);

	/* no key is written while locked */
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_key_contact_put(f->s, "dave@example.org", "x",
	                                          "KD", 2, &t, &e),
	                 QM_ERR_LOCKED);
}

/*
 * Rows written before the labels had MACs (schema 3 and older, a vault of
 * that time) get their MACs at the first unlock after the upgrade, and
 * keep their labels; from then on a row without a MAC is altered, also
 * after the next unlock (the upgrade does not run twice).
 */
static void test_label_upgrade(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store_account a;
	struct qm_store_contact c;
	struct qm_store_key k;
	struct qm_store *s = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	char home[512], fpr[QM_STORE_FPRMAX], sql[1024];

	(void)state;
	assert_int_equal(qmt_tmpdir("store-labels", home, sizeof(home)), 0);
	o.schema_max = 3; /* the last schema without label MACs */
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	qm_store_close(&s);
	/* what an older QMail wrote */
	assert_int_equal(
	    qm_store_key_fingerprint("x", "KB", 2, fpr, sizeof(fpr), &e),
	    QM_OK);
	snprintf(sql, sizeof(sql),
	         "INSERT INTO contact (account_id, address, name, sae_id, "
	         "source, confirmed, min_level, updated) VALUES (%lld, "
	         "'bob@example.org', 'Bob', 'SAE_bob', 0, 1, 2, 1);"
	         "INSERT INTO msg (account_id, folder, date, level, verify, "
	         "from_addr, to_addrs, message_id) VALUES (%lld, 'INBOX', 1, "
	         "2, 1, 'bob@example.org', 'alice@example.org', '<m@x>');"
	         "INSERT INTO keyring (account_id, address, alg, pub, "
	         "fingerprint, trust, first_seen) VALUES (0, "
	         "'bob@example.org', 'x', X'4b42', '%s', 1, 1);",
	         (long long)a.id, (long long)a.id, fpr);
	edit(home, sql);

	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), qm_store_schema_latest());
	/* locked: not checked yet */
	assert_int_equal(qm_store_msg_get(s, 1, &l, &e), QM_OK);
	assert_int_equal(l->items[0].label, QM_LABEL_UNCHECKED);
	qm_store_msglist_free(&l);
	/* the first unlock seals what is there */
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_msg_get(s, 1, &l, &e), QM_OK);
	assert_int_equal(l->items[0].verify, QM_VERIFY_OK);
	assert_int_equal(l->items[0].level, 2);
	assert_int_equal(l->items[0].label, QM_LABEL_OK);
	qm_store_msglist_free(&l);
	assert_int_equal(
	    qm_store_contact_get(s, a.id, "bob@example.org", &c, &e), QM_OK);
	assert_true(c.confirmed);
	assert_int_equal(c.min_level, 2);
	assert_int_equal(c.label, QM_LABEL_OK);
	assert_int_equal(
	    qm_store_key_contact_get(s, "bob@example.org", "x", &k, &e), QM_OK);
	assert_int_equal(k.trust, QM_TRUST_VERIFIED);
	assert_int_equal(k.label, QM_LABEL_OK);
	qm_store_key_free(&k);

	/* from now on a row without its MAC is altered, after the next
	 * unlock too, and in another handle */
	edit(home, "UPDATE msg SET mac = NULL; UPDATE contact SET mac = NULL;"
	           "UPDATE keyring SET mac = NULL");
	qm_store_vault_lock(s);
	qm_store_close(&s);
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_msg_get(s, 1, &l, &e), QM_OK);
	assert_int_equal(l->items[0].verify, QM_VERIFY_TAMPERED);
	assert_int_equal(l->items[0].label, QM_LABEL_ALTERED);
	qm_store_msglist_free(&l);
	assert_int_equal(
	    qm_store_contact_get(s, a.id, "bob@example.org", &c, &e), QM_OK);
	assert_false(c.confirmed);
	assert_int_equal(
	    qm_store_key_contact_get(s, "bob@example.org", "x", &k, &e),
	    QM_ERR_STATE);
	/* a passphrase change keeps the vault of the sealed kind */
	assert_int_equal(
	    qm_store_vault_rekey(s, PASS, strlen(PASS), "new pass", 8, &e),
	    QM_OK);
	qm_store_close(&s);
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, "new pass", 8, &e), QM_OK);
	assert_int_equal(
	    qm_store_contact_get(s, a.id, "bob@example.org", &c, &e), QM_OK);
	assert_false(c.confirmed);
	qm_store_close(&s);
	qmt_rmtree(home);
}

static void test_busy_timeout(void **state)
{
	struct fx *f = *state;
	struct qm_store_opts o = {0};
	struct qm_store *b = NULL;
	struct qm_error e;
	uint64_t t0;

	o.busy_timeout_ms = 100;
	assert_int_equal(qm_store_open(f->home, &o, &b, &e), QM_OK);
	/* A writes and holds its transaction: B gives up after its time-out
	 * with an error that says why, and works once A is done. */
	assert_int_equal(qm_store_tx_begin(f->s, &e), QM_OK);
	assert_int_equal(qm_store_setting_set(f->s, 0, "a", "1", &e), QM_OK);
	t0 = qm_mono_ns();
	assert_int_equal(qm_store_setting_set(b, 0, "b", "2", &e),
	                 QM_ERR_TIMEOUT);
	assert_true(qm_mono_ns() - t0 >= 90u * 1000 * 1000);
	assert_non_null(strstr(e.msg, "busy"));
	{
		/* Readers are not blocked by the writer (WAL). */
		struct qm_store_account a;

		assert_int_equal(qm_store_account_get(b, f->acct, &a, &e),
		                 QM_OK);
	}
	assert_int_equal(qm_store_tx_commit(f->s, &e), QM_OK);
	assert_int_equal(qm_store_setting_set(b, 0, "b", "2", &e), QM_OK);
	qm_store_close(&b);
}

static void test_account_delete_cascades(void **state)
{
	struct fx *f = *state;
	struct qm_store_query q;
	struct qm_error e;
	struct qm_buf v;
	int64_t oid, n = -1, *ids = NULL;
	size_t nn = 9;

	add_msg(f, "INBOX", 1, 1, "x@y", 1, "s", "b");
	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<d@x>", "b@x", 1,
	                                     "m", 1, &oid, &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_secret_set(f->s, f->acct, QM_SECRET_PASSWORD, "pw", 2, &e),
	    QM_OK);
	assert_int_equal(qm_store_setting_set(f->s, f->acct, "k", "v", &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_key_own_put(f->s, f->acct, "x", "P", 1, "S", 1, NULL, &e),
	    QM_OK);
	assert_int_equal(qm_store_account_delete(f->s, f->acct, &e), QM_OK);
	memset(&q, 0, sizeof(q));
	assert_int_equal(qm_store_msg_count(f->s, &q, &n, &e), QM_OK);
	assert_int_equal(n, 0);
	assert_int_equal(
	    qm_store_outbox_list(f->s, 0, QM_OUTBOX_PENDING, 0, &ids, &nn, &e),
	    QM_OK);
	assert_int_equal(nn, 0);
	free(ids);
	qm_buf_init_secure(&v, 64);
	assert_int_equal(
	    qm_store_secret_get(f->s, f->acct, QM_SECRET_PASSWORD, &v, &e),
	    QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_setting_get(f->s, f->acct, "k", &v, &e),
	                 QM_ERR_NOTFOUND);
	qm_buf_free(&v);
	{
		struct qm_store_key k;

		assert_int_equal(
		    qm_store_key_own_get(f->s, f->acct, "x", &k, NULL, &e),
		    QM_ERR_NOTFOUND);
	}
}

/* Every truncation and every flipped byte of a sealed item is refused
 * (QM_ERR_AUTH), never a crash, never plaintext. */
static void test_sealed_item_altered(void **state)
{
	struct fx *f = *state;
	unsigned char blob[512], bad[512];
	struct qm_error e;
	struct qm_buf b;
	sqlite3 *db;
	sqlite3_stmt *get, *put;
	char path[600];
	int64_t id;
	int n;

	id = add_msg(f, "INBOX", 1, 1, "x@y", 1, "s", "the body");
	snprintf(path, sizeof(path), "%s/qmail.db", f->home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT mime FROM msg_body "
	                                    "WHERE msg_id = ?",
	                                    -1, &get, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(get, 1, id);
	assert_int_equal(sqlite3_step(get), SQLITE_ROW);
	n = sqlite3_column_bytes(get, 0);
	assert_true(n > 0 && n <= (int)sizeof(blob));
	memcpy(blob, sqlite3_column_blob(get, 0), (size_t)n);
	sqlite3_finalize(get);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "UPDATE msg_body SET mime = ? "
	                                    "WHERE msg_id = ?",
	                                    -1, &put, NULL),
	                 SQLITE_OK);
	qm_buf_init_secure(&b, 1024);
	for (int i = 0; i <= 2 * n; i++) {
		int len = i < n ? i : n;

		memcpy(bad, blob, (size_t)n);
		if (i >= n)
			bad[i - n] ^= 0x01; /* one flipped bit per position */
		sqlite3_bind_blob(put, 1, bad, len, SQLITE_STATIC);
		sqlite3_bind_int64(put, 2, id);
		assert_int_equal(sqlite3_step(put), SQLITE_DONE);
		sqlite3_reset(put);
		if (i == 2 * n)
			break;
		assert_int_equal(qm_store_msg_body(f->s, id, &b, &e),
		                 QM_ERR_AUTH);
		assert_int_equal(b.len, 0);
	}
	/* The original still opens. */
	sqlite3_bind_blob(put, 1, blob, n, SQLITE_STATIC);
	sqlite3_bind_int64(put, 2, id);
	assert_int_equal(sqlite3_step(put), SQLITE_DONE);
	sqlite3_finalize(put);
	sqlite3_close(db);
	assert_int_equal(qm_store_msg_body(f->s, id, &b, &e), QM_OK);
	assert_string_equal((char *)b.data, "the body");
	qm_buf_free(&b);
}

/* -------------------------------------------------------- concurrency */

struct worker {
	struct qm_store *s;
	int64_t acct;
	int base;
	int failures;
	int64_t outbox_id;
	int sends;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct qm_store_query q;
	struct qm_store_msglist *l;
	struct qm_error e;

	/* Both race for the same outbox entry: only one may send it. */
	if (qm_store_outbox_begin_send(w->s, w->outbox_id, &e) == QM_OK)
		w->sends++;
	for (int i = 0; i < 200; i++) {
		struct qm_store_msg m;
		char mid[32];
		char key[32];
		const char *keys[1] = {key};
		int64_t id;

		memset(&m, 0, sizeof(m));
		snprintf(mid, sizeof(mid), "<%d@t>", w->base + i);
		snprintf(key, sizeof(key), "k-%d", w->base + i);
		m.account_id = w->acct;
		m.folder = "INBOX";
		m.uid = w->base + i;
		m.message_id = mid;
		m.date = w->base + i;
		m.level = 1;
		if (qm_store_msg_add(w->s, &m, "subject", keys, 1, "body", 4,
		                     NULL, &id, &e) != QM_OK)
			w->failures++;
		memset(&q, 0, sizeof(q));
		q.folder = "INBOX";
		if (qm_store_msg_list(w->s, &q, &l, &e) != QM_OK)
			w->failures++;
		else
			qm_store_msglist_free(&l);
	}
	return NULL;
}

static void test_two_handles(void **state)
{
	struct fx *f = *state;
	const char *keys[] = {"race-key"};
	struct worker w[2];
	pthread_t t[2];
	struct qm_error e;
	struct qm_store_query q;
	int64_t n, oid;

	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<r@x>", "b@x", 1,
	                                     "m", 1, &oid, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_reserve(f->s, oid, keys, 1, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_set_ciphertext(f->s, oid, "c", 1, &e),
	                 QM_OK);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(qm_store_clone(f->s, &w[i].s, &e), QM_OK);
		assert_true(qm_store_vault_is_unlocked(w[i].s));
		w[i].acct = f->acct;
		w[i].base = 1 + i * 100000;
		w[i].outbox_id = oid;
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(w[i].failures, 0);
		qm_store_close(&w[i].s);
	}
	assert_int_equal(w[0].sends + w[1].sends, 1);
	memset(&q, 0, sizeof(q));
	assert_int_equal(qm_store_msg_count(f->s, &q, &n, &e), QM_OK);
	assert_int_equal(n, 400);
	assert_int_equal(qm_store_check(f->s, &e), QM_OK);
}

/*
 * The client's sealed security record of a message (issue 12): sealed with
 * the message in one transaction, replaced in place, bound to its row (a
 * record copied onto another message, or edited, does not open), gone
 * with the message; and qm_store_msg_find_all lists every message with a
 * Message-ID.
 */
static void test_msg_meta(void **state)
{
	struct fx *f = *state;
	struct qm_store_msg m;
	struct qm_error e;
	struct qm_buf b;
	int64_t a = 0, c = 0, *ids = NULL;
	size_t n = 0;
	sqlite3 *db;
	char path[600];

	memset(&m, 0, sizeof(m));
	m.account_id = f->acct;
	m.folder = "INBOX";
	m.uid = 101;
	m.message_id = "<same@example.org>";
	m.level = 2;
	m.verify = QM_VERIFY_UNVERIFIED_SENDER;
	m.meta = "sae=SAE_C\nowner=carol@example.org\n";
	m.meta_len = strlen(m.meta);
	assert_int_equal(
	    qm_store_msg_add(f->s, &m, "s", NULL, 0, "b", 1, NULL, &a, &e),
	    QM_OK);
	m.uid = 102;
	m.meta = NULL;
	m.meta_len = 0;
	m.verify = QM_VERIFY_NOT_QMAIL;
	assert_int_equal(
	    qm_store_msg_add(f->s, &m, "s", NULL, 0, "b", 1, NULL, &c, &e),
	    QM_OK);
	qm_buf_init_secure(&b, 4096);
	assert_int_equal(qm_store_msg_meta_get(f->s, a, &b, &e), QM_OK);
	assert_int_equal(b.len, strlen("sae=SAE_C\nowner=carol@example.org\n"));
	assert_memory_equal(b.data, "sae=SAE_C\n", 10);
	qm_buf_reset(&b);
	assert_int_equal(qm_store_msg_meta_get(f->s, c, &b, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_msg_find_all(
	                     f->s, f->acct, "<same@example.org>", &ids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 2);
	assert_true(ids[0] == a && ids[1] == c);
	free(ids);
	/* replaced in place */
	assert_int_equal(qm_store_msg_meta_set(f->s, a, "wait=1 2 3\n", 11, &e),
	                 QM_OK);
	qm_buf_reset(&b);
	assert_int_equal(qm_store_msg_meta_get(f->s, a, &b, &e), QM_OK);
	assert_int_equal(b.len, 11);
	assert_int_equal(qm_store_msg_meta_set(f->s, 999999, "x", 1, &e),
	                 QM_ERR_NOTFOUND);
	/* moved onto the other message, or a byte changed: refused */
	snprintf(path, sizeof(path), "%s/qmail.db", f->home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	{
		char sql[200];

		snprintf(sql, sizeof(sql),
		         "INSERT INTO msg_meta (msg_id, sealed) SELECT %lld, "
		         "sealed FROM msg_meta WHERE msg_id = %lld",
		         (long long)c, (long long)a);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL),
		                 SQLITE_OK);
		qm_buf_reset(&b);
		assert_int_equal(qm_store_msg_meta_get(f->s, c, &b, &e),
		                 QM_ERR_AUTH);
		snprintf(sql, sizeof(sql),
		         "UPDATE msg_meta SET sealed = substr(sealed, 1, "
		         "length(sealed) - 1) || x'00' WHERE msg_id = %lld",
		         (long long)a);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL),
		                 SQLITE_OK);
		qm_buf_reset(&b);
		assert_int_equal(qm_store_msg_meta_get(f->s, a, &b, &e),
		                 QM_ERR_AUTH);
	}
	sqlite3_close(db);
	/* gone with its message */
	assert_int_equal(qm_store_msg_delete(f->s, a, &e), QM_OK);
	qm_buf_reset(&b);
	assert_int_equal(qm_store_msg_meta_get(f->s, a, &b, &e),
	                 QM_ERR_NOTFOUND);
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_msg_meta_get(f->s, c, &b, &e), QM_ERR_LOCKED);
	qm_buf_free(&b);
}

/*
 * An SAE ID learned from a message never changes a contact that exists:
 * not a confirmed one, not one the user entered (its name, source and
 * minimum level stay), and not an earlier suggestion (issue 12, item 1).
 */
static void test_learned_never_overrides(void **state)
{
	struct fx *f = *state;
	struct qm_store_contact c, got;
	struct qm_error e;

	memset(&c, 0, sizeof(c));
	qm_strlcpy(c.address, "alice@example.org", sizeof(c.address));
	qm_strlcpy(c.name, "Alice", sizeof(c.name));
	qm_strlcpy(c.sae_id, "SAE_A", sizeof(c.sae_id));
	c.source = QM_CONTACT_USER;
	c.min_level = 2;
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e), QM_OK);
	/* the same SAE ID, learned: nothing of the contact changes */
	memset(&c, 0, sizeof(c));
	qm_strlcpy(c.address, "alice@example.org", sizeof(c.address));
	qm_strlcpy(c.sae_id, "SAE_A", sizeof(c.sae_id));
	c.source = QM_CONTACT_LEARNED;
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e), QM_OK);
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "alice@example.org", &got, &e),
	    QM_OK);
	assert_int_equal(got.source, QM_CONTACT_USER);
	assert_int_equal(got.min_level, 2);
	assert_string_equal(got.name, "Alice");
	assert_true(got.confirmed);
	/* a first suggestion stays until the user decides */
	memset(&c, 0, sizeof(c));
	qm_strlcpy(c.address, "dave@example.org", sizeof(c.address));
	qm_strlcpy(c.sae_id, "SAE_D", sizeof(c.sae_id));
	c.source = QM_CONTACT_LEARNED;
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e), QM_OK);
	qm_strlcpy(c.sae_id, "SAE_M", sizeof(c.sae_id));
	assert_int_equal(qm_store_contact_put(f->s, f->acct, &c, &e),
	                 QM_ERR_STATE);
	assert_int_equal(
	    qm_store_contact_get(f->s, f->acct, "dave@example.org", &got, &e),
	    QM_OK);
	assert_string_equal(got.sae_id, "SAE_D");
	assert_false(got.confirmed);
}

/*
 * Migration 5: an outbox entry keeps the sealed record of the values its
 * envelope will bind. An entry written by a QMail of schema 4 has none
 * (QM_ERR_NOTFOUND: the client parses its MIME as before) and still opens;
 * a record copied onto another entry's row does not open there.
 */
static void test_outbox_bound(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store_account a;
	struct qm_store *s = NULL;
	struct qm_error e;
	struct qm_buf b;
	int64_t old_id, id, id2;
	char home[512];

	(void)state;
	assert_int_equal(qmt_tmpdir("store-bound", home, sizeof(home)), 0);
	o.schema_max = 4;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	assert_int_equal(qm_store_outbox_add(s, a.id, "<old@x>", "b@x", 2,
	                                     "OLD", 3, &old_id, &e),
	                 QM_OK);
	/* schema 4 has nowhere to keep the record */
	assert_int_not_equal(qm_store_outbox_add_bound(s, a.id, "<n@x>", "b@x",
	                                               2, "N", 1, "R", 1, &id,
	                                               &e),
	                     QM_OK);
	qm_store_close(&s);

	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), qm_store_schema_latest());
	assert_true(qm_store_schema_latest() >= 5);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	qm_buf_init_secure(&b, 100);
	assert_int_equal(qm_store_outbox_bound(s, old_id, &b, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_store_outbox_plaintext(s, old_id, &b, &e), QM_OK);
	assert_memory_equal(b.data, "OLD", 3);
	qm_buf_reset(&b);

	assert_int_equal(qm_store_outbox_add_bound(s, a.id, "<n@x>", "b@x", 1,
	                                           "MIME", 4, "level=1\n", 8,
	                                           &id, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_bound(s, id, &b, &e), QM_OK);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.data, "level=1\n", 8);
	qm_buf_reset(&b);
	assert_int_equal(qm_store_outbox_plaintext(s, id, &b, &e), QM_OK);
	assert_memory_equal(b.data, "MIME", 4);
	qm_buf_reset(&b);
	/* plaintext and record are sealed apart: neither opens as the other */
	assert_int_equal(
	    qm_store_outbox_add(s, a.id, "<m@x>", "b@x", 4, "M", 1, &id2, &e),
	    QM_OK);
	qm_store_close(&s);
	{
		char sql[512];

		/* (since schema 12 the plaintext is a blob: the record is
		 * put in the column an older row reads it from) */
		snprintf(
		    sql, sizeof(sql),
		    "UPDATE outbox SET bound = (SELECT bound FROM outbox "
		    "WHERE id = %lld) WHERE id = %lld;"
		    "UPDATE outbox SET plaintext = bound, pt_blob = NULL "
		    "WHERE id = %lld;"
		    "UPDATE outbox SET pt_blob = (SELECT pt_blob FROM outbox "
		    "WHERE id = %lld) WHERE id = %lld;",
		    (long long)id, (long long)id2, (long long)id,
		    (long long)id2, (long long)old_id);
		edit(home, sql);
	}
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_bound(s, id2, &b, &e), QM_ERR_AUTH);
	qm_buf_reset(&b);
	assert_int_equal(qm_store_outbox_plaintext(s, id, &b, &e), QM_ERR_AUTH);
	qm_buf_reset(&b);
	/* another entry's plaintext blob named by this one: not its own */
	assert_int_not_equal(qm_store_outbox_plaintext(s, old_id, &b, &e),
	                     QM_OK);
	qm_buf_free(&b);
	qm_store_close(&s);
	qmt_rmtree(home);
}

/* ------------------------------------------------------------ snippets */

/* The snippet of text, as a string (static). */
static const char *snip_of(const char *text)
{
	static char out[1024];
	struct qm_buf b;
	struct qm_error e;

	qm_buf_init_secure(&b, 4096);
	assert_int_equal(qm_store_snippet(text, strlen(text), &b, &e), QM_OK);
	assert_true(b.len < sizeof(out));
	memcpy(out, b.data ? (const char *)b.data : "", b.len);
	out[b.len] = '\0';
	qm_buf_free(&b);
	return out;
}

/* Schema 9 (docs/STORE.md "Snippets"): whitespace runs are one space,
 * quoted lines and the signature are left out, controls and broken UTF-8
 * are dropped, and at most 200 characters are kept, never half of one. */
static void test_snippet_text(void **state)
{
	char text[2048], *p;
	const char *sn;
	size_t n = 0;

	(void)state;
	assert_string_equal(snip_of("  Hello\r\n\r\n\tworld  again \n"),
	                    "Hello world again");
	assert_string_equal(snip_of("Yes, see below.\n\nOn Monday Bob wrote:\n"
	                            "> the old text\n   >> older\nThanks\n"
	                            "-- \nBob\nPhone 123\n"),
	                    "Yes, see below. On Monday Bob wrote: Thanks");
	assert_string_equal(snip_of("Short\r\n--\r\nsig"), "Short");
	assert_string_equal(snip_of("> all quoted\n> here\n"), "");
	assert_string_equal(snip_of(""), "");
	/* a bell, an escape, DEL, a C1 control, broken UTF-8 and a BOM go;
	 * a direction control stays (the interfaces mark it, as in a
	 * subject); a no-break space is a space */
	assert_string_equal(snip_of("a\a\x1b[31mb\x7f\xc2\x85"
	                            "c\xff\xc3(d\xef\xbb\xbf"
	                            "e\xe2\x80\xae"
	                            "f\xc2\xa0g"),
	                    "a[31mbc(de\xe2\x80\xae"
	                    "f g");
	/* 300 two-byte characters: 200 kept, 400 bytes, none cut */
	for (int i = 0; i < 300; i++) {
		text[n++] = '\xc3';
		text[n++] = '\xa9';
	}
	text[n] = '\0';
	sn = snip_of(text);
	assert_int_equal(strlen(sn), 2 * QM_STORE_SNIPPET_CHARS);
	assert_int_equal((unsigned char)sn[strlen(sn) - 2], 0xc3);
	/* 199 characters then a word: no blank left at the end */
	memset(text, 'x', 199);
	memcpy(text + 199, " word", 6);
	sn = snip_of(text);
	assert_int_equal(strlen(sn), 199);
	assert_true(sn[198] == 'x');
	/* a long text of short lines: the first 200 characters, less the
	 * blank that would be the 200th */
	p = text;
	for (int i = 0; i < 400; i++)
		*p++ = i % 5 == 4 ? '\n' : (char)('a' + i % 26);
	*p = '\0';
	sn = snip_of(text);
	assert_int_equal(strlen(sn), QM_STORE_SNIPPET_CHARS - 1);
	assert_true(sn[strlen(sn) - 1] != ' ');
	/* one more letter first: exactly 200 */
	memmove(text + 1, text, strlen(text) + 1);
	text[0] = 'z';
	assert_int_equal(strlen(snip_of(text)), QM_STORE_SNIPPET_CHARS);
}

/* Adds a message in state v with subject (may be NULL), MIME and text;
 * returns its id. */
static int64_t add_text_msg_subject(struct qm_store *s, int64_t acct,
                                    int64_t uid, enum qm_store_verify v,
                                    const char *subject, const char *text)
{
	struct qm_store_msg m;
	struct qm_error e;
	char mid[64];
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	snprintf(mid, sizeof(mid), "<%lld.snip@example.org>", (long long)uid);
	m.account_id = acct;
	m.folder = "INBOX";
	m.uidvalidity = 7;
	m.uid = uid;
	m.message_id = mid;
	m.from_addr = "bob@example.org";
	m.to_addrs = "alice@example.org";
	m.date = 1700000000 + uid;
	m.level = v == QM_VERIFY_NOT_QMAIL ? 0 : 2;
	m.verify = v;
	assert_int_equal(
	    qm_store_msg_add(s, &m, subject, NULL, 0, "MIME", 4, text, &id, &e),
	    QM_OK);
	return id;
}

/* Adds a message in state v with MIME and text; returns its id. */
static int64_t add_text_msg(struct qm_store *s, int64_t acct, int64_t uid,
                            enum qm_store_verify v, const char *text)
{
	return add_text_msg_subject(s, acct, uid, v, "subject", text);
}

/* Message id's snippet as listed (static copy). */
static const char *listed_snippet(struct qm_store *s, int64_t id)
{
	static char out[1024];
	struct qm_store_msglist *l = NULL;
	struct qm_error e;

	assert_int_equal(qm_store_msg_get(s, id, &l, &e), QM_OK);
	assert_non_null(l->items[0].snippet);
	qm_strlcpy(out, l->items[0].snippet, sizeof(out));
	qm_store_msglist_free(&l);
	return out;
}

/*
 * Who has a snippet: a message read, plain or sent by this home; not one
 * tampered, replayed, refused, unreadable or waiting (its text is not
 * shown), nor a header-only record until its body is filled; nothing
 * while locked. The listing gives it beside the subject.
 */
static void test_snippet_listed(void **state)
{
	struct fx *f = *state;
	static const enum qm_store_verify none[] = {
	    QM_VERIFY_TAMPERED,   QM_VERIFY_REPLAY,  QM_VERIFY_REFUSED,
	    QM_VERIFY_UNREADABLE, QM_VERIFY_WAITING, QM_VERIFY_SENT_ELSEWHERE,
	    QM_VERIFY_UNKNOWN_KEY};
	static const enum qm_store_verify some[] = {
	    QM_VERIFY_OK, QM_VERIFY_UNVERIFIED_SENDER, QM_VERIFY_NOT_QMAIL,
	    QM_VERIFY_SENT};
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_store_msg m;
	struct qm_error e;
	int64_t uid = 1, id, h;

	for (size_t i = 0; i < sizeof(some) / sizeof(some[0]); i++) {
		id = add_text_msg(f->s, f->acct, uid++, some[i],
		                  "Lunch at\n\n noon?\n> quoted\n");
		assert_string_equal(listed_snippet(f->s, id), "Lunch at noon?");
	}
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		id = add_text_msg(f->s, f->acct, uid++, none[i],
		                  "Text that must not show");
		assert_string_equal(listed_snippet(f->s, id), "");
	}
	/* no text given: none */
	id = add_text_msg(f->s, f->acct, uid++, QM_VERIFY_OK, NULL);
	assert_string_equal(listed_snippet(f->s, id), "");

	/* a header-only record: none until its body is filled */
	memset(&m, 0, sizeof(m));
	m.account_id = f->acct;
	m.folder = "INBOX";
	m.uidvalidity = 7;
	m.uid = 900;
	m.message_id = "<head@example.org>";
	m.from_addr = "bob@example.org";
	m.date = 1800000000;
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.body_pending = 1;
	assert_int_equal(
	    qm_store_msg_add(f->s, &m, "head", NULL, 0, NULL, 0, NULL, &h, &e),
	    QM_OK);
	assert_string_equal(listed_snippet(f->s, h), "");
	assert_int_equal(qm_store_msg_body_fill(f->s, h, "MIME", 4,
	                                        "Filled in later", 0, &e),
	                 QM_OK);
	assert_string_equal(listed_snippet(f->s, h), "Filled in later");

	/* the list gives it with each row; locked: none, as no subject */
	memset(&q, 0, sizeof(q));
	q.account_id = f->acct;
	q.limit = 2;
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 2);
	assert_int_equal(l->items[0].id, h);
	assert_string_equal(l->items[0].snippet, "Filled in later");
	assert_string_equal(l->items[0].subject, "head");
	qm_store_msglist_free(&l);
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_msg_list(f->s, &q, &l, &e), QM_OK);
	assert_null(l->items[0].subject);
	assert_string_equal(l->items[0].snippet, "");
	qm_store_msglist_free(&l);
}

/* Adds a message in state v with text and the sender's name (may be
 * NULL); returns its id. */
static int64_t add_named_msg(struct qm_store *s, int64_t acct, int64_t uid,
                             enum qm_store_verify v, const char *name,
                             const char *text)
{
	struct qm_store_msg m;
	struct qm_error e;
	char mid[64];
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	snprintf(mid, sizeof(mid), "<%lld.name@example.org>", (long long)uid);
	m.account_id = acct;
	m.folder = "INBOX";
	m.uidvalidity = 7;
	m.uid = uid;
	m.message_id = mid;
	m.from_addr = "bob@example.org";
	m.from_name = name;
	m.date = 1700000000 + uid;
	m.level = v == QM_VERIFY_NOT_QMAIL ? 0 : 2;
	m.verify = v;
	assert_int_equal(qm_store_msg_add(s, &m, "subject", NULL, 0, "MIME", 4,
	                                  text, &id, &e),
	                 QM_OK);
	return id;
}

/* Message id's sender name as listed (static copy; "(null)" for none). */
static const char *listed_name(struct qm_store *s, int64_t id)
{
	static char out[512];
	struct qm_store_msglist *l = NULL;
	struct qm_error e;

	assert_int_equal(qm_store_msg_get(s, id, &l, &e), QM_OK);
	qm_strlcpy(out,
	           l->items[0].from_name ? l->items[0].from_name : "(null)",
	           sizeof(out));
	assert_string_equal(l->items[0].subject, "subject");
	qm_store_msglist_free(&l);
	return out;
}

/*
 * The sender's name rides in the sealed list item with the subject and
 * snippet: listed back as added, also without text and for a header-only
 * record (kept when its body is filled); none for an item written without
 * one, for a message whose text is not shown, for an edited row, while
 * locked; a name too long is refused.
 */
static void test_sender_name_item(void **state)
{
	struct fx *f = *state;
	struct qm_store_msglist *l = NULL;
	struct qm_store_msg m;
	struct qm_error e;
	char sql[128], longname[QM_STORE_NAMEMAX + 1];
	int64_t id, h;

	id = add_named_msg(f->s, f->acct, 1, QM_VERIFY_OK, "Bob Example",
	                   "Hello there");
	assert_string_equal(listed_name(f->s, id), "Bob Example");
	assert_string_equal(listed_snippet(f->s, id), "Hello there");
	/* a name and no text: an item of subject and name */
	id = add_named_msg(f->s, f->acct, 2, QM_VERIFY_NOT_QMAIL, "Plain Bob",
	                   NULL);
	assert_string_equal(listed_name(f->s, id), "Plain Bob");
	assert_string_equal(listed_snippet(f->s, id), "");
	/* written without a name (as schema 9 first did): none */
	id = add_named_msg(f->s, f->acct, 3, QM_VERIFY_OK, NULL, "No name");
	assert_string_equal(listed_name(f->s, id), "(null)");
	assert_string_equal(listed_snippet(f->s, id), "No name");
	id = add_named_msg(f->s, f->acct, 4, QM_VERIFY_OK, "", "Empty name");
	assert_string_equal(listed_name(f->s, id), "(null)");
	/* a message whose text is not shown keeps no name */
	id =
	    add_named_msg(f->s, f->acct, 5, QM_VERIFY_TAMPERED, "Mallory", "x");
	assert_string_equal(listed_name(f->s, id), "(null)");
	id = add_named_msg(f->s, f->acct, 6, QM_VERIFY_REPLAY, "Mallory", "x");
	assert_string_equal(listed_name(f->s, id), "(null)");
	/* labels edited on disk: shown as tampered, no name */
	id = add_named_msg(f->s, f->acct, 7, QM_VERIFY_UNVERIFIED_SENDER,
	                   "Unverified Bob", "y");
	assert_string_equal(listed_name(f->s, id), "Unverified Bob");
	snprintf(sql, sizeof(sql), "UPDATE msg SET verify = %d WHERE id = %lld",
	         (int)QM_VERIFY_OK, (long long)id);
	edit(f->home, sql);
	assert_string_equal(listed_name(f->s, id), "(null)");

	/* a header-only record: its name at once, kept with its body */
	memset(&m, 0, sizeof(m));
	m.account_id = f->acct;
	m.folder = "INBOX";
	m.uidvalidity = 7;
	m.uid = 900;
	m.message_id = "<head.name@example.org>";
	m.from_addr = "bob@example.org";
	m.from_name = "Header Bob";
	m.date = 1800000000;
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.body_pending = 1;
	assert_int_equal(qm_store_msg_add(f->s, &m, "subject", NULL, 0, NULL, 0,
	                                  NULL, &h, &e),
	                 QM_OK);
	assert_string_equal(listed_name(f->s, h), "Header Bob");
	assert_string_equal(listed_snippet(f->s, h), "");
	assert_int_equal(
	    qm_store_msg_body_fill(f->s, h, "MIME", 4, "Body later", 0, &e),
	    QM_OK);
	assert_string_equal(listed_name(f->s, h), "Header Bob");
	assert_string_equal(listed_snippet(f->s, h), "Body later");

	/* too long: refused, nothing added */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	m.uid = 901;
	m.message_id = "<long.name@example.org>";
	m.from_name = longname;
	assert_int_equal(qm_store_msg_add(f->s, &m, "subject", NULL, 0, NULL, 0,
	                                  NULL, &id, &e),
	                 QM_ERR_INVAL);

	/* locked: no name */
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_msg_get(f->s, h, &l, &e), QM_OK);
	assert_null(l->items[0].from_name);
	qm_store_msglist_free(&l);
}

/* A message whose labels were edited on disk reads as tampered and shows
 * no snippet, though its sealed snippet is intact. */
static void test_snippet_tampered(void **state)
{
	struct fx *f = *state;
	char sql[128];
	int64_t id;

	id = add_text_msg(f->s, f->acct, 1, QM_VERIFY_UNVERIFIED_SENDER,
	                  "Pay the invoice today");
	assert_string_equal(listed_snippet(f->s, id), "Pay the invoice today");
	/* "unverified sender" edited to "verified" */
	snprintf(sql, sizeof(sql), "UPDATE msg SET verify = %d WHERE id = %lld",
	         (int)QM_VERIFY_OK, (long long)id);
	edit(f->home, sql);
	assert_int_equal(verify_of(f, id, NULL), QM_VERIFY_TAMPERED);
	assert_string_equal(listed_snippet(f->s, id), "");
}

/* Each snippet is sealed for its own row: swapped in the file, neither
 * opens as the other's (each shows none, the subjects stay). */
static void test_snippet_swapped(void **state)
{
	struct fx *f = *state;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	int64_t a, b;
	char sql[512];

	a = add_text_msg_subject(f->s, f->acct, 1, QM_VERIFY_OK, "first",
	                         "First secret text");
	b = add_text_msg_subject(f->s, f->acct, 2, QM_VERIFY_OK, "second",
	                         "Second secret text");
	assert_string_equal(listed_snippet(f->s, a), "First secret text");
	snprintf(sql, sizeof(sql),
	         "CREATE TEMP TABLE sw AS SELECT id, snippet FROM msg WHERE "
	         "id IN (%lld, %lld);"
	         "UPDATE msg SET snippet = (SELECT snippet FROM sw WHERE "
	         "sw.id <> msg.id) WHERE id IN (%lld, %lld)",
	         (long long)a, (long long)b, (long long)a, (long long)b);
	edit(f->home, sql);
	assert_string_equal(listed_snippet(f->s, a), "");
	assert_string_equal(listed_snippet(f->s, b), "");
	/* the subjects are each row's own (from the subject's item) */
	assert_int_equal(qm_store_msg_get(f->s, b, &l, &e), QM_OK);
	assert_string_equal(l->items[0].subject, "second");
	assert_int_equal(l->items[0].label, QM_LABEL_OK);
	qm_store_msglist_free(&l);
	assert_int_equal(qm_store_msg_get(f->s, a, &l, &e), QM_OK);
	assert_string_equal(l->items[0].subject, "first");
	qm_store_msglist_free(&l);
}

/* The list item carries the subject (one item opened per row): a flipped
 * byte in it gives no snippet and the subject from its own item; a
 * message without a subject keeps none. */
static void test_snippet_item_altered(void **state)
{
	struct fx *f = *state;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	int64_t a, b;
	char sql[256];

	a = add_text_msg_subject(f->s, f->acct, 1, QM_VERIFY_OK, "kept",
	                         "Some text");
	b = add_text_msg_subject(f->s, f->acct, 2, QM_VERIFY_OK, NULL,
	                         "No subject here");
	assert_int_equal(qm_store_msg_get(f->s, b, &l, &e), QM_OK);
	assert_null(l->items[0].subject);
	assert_string_equal(l->items[0].snippet, "No subject here");
	qm_store_msglist_free(&l);
	assert_string_equal(listed_snippet(f->s, a), "Some text");
	/* byte 61 of the item changed */
	snprintf(sql, sizeof(sql),
	         "UPDATE msg SET snippet = substr(snippet, 1, 60) || CASE "
	         "WHEN substr(snippet, 61, 1) = X'00' THEN X'01' ELSE X'00' "
	         "END || substr(snippet, 62) WHERE id = %lld",
	         (long long)a);
	edit(f->home, sql);
	assert_int_equal(qm_store_msg_get(f->s, a, &l, &e), QM_OK);
	assert_string_equal(l->items[0].snippet, "");
	assert_string_equal(l->items[0].subject, "kept");
	qm_store_msglist_free(&l);
}

/* Counts the rows of msg whose snippet is NULL (not made yet). */
static int64_t rows_without(const char *home)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char path[600];
	int64_t n = -1;

	snprintf(path, sizeof(path), "%s/qmail.db", home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT count(*) FROM msg WHERE "
	                                    "snippet IS NULL",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * Schema 9 from a home of schema 8: its rows have no snippet. A listing
 * makes those of up to 50 rows of its page in memory (writing nothing),
 * the rest show none; qm_store_msg_snippets_fill keeps them, newest first
 * and a bounded number at a time, sealed (not in clear in the file); a
 * tampered row and a header-only record get none.
 */
static void test_migrate_snippets(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_store_msg m;
	struct qm_store *s = NULL;
	struct qm_error e;
	int64_t acct, left = -1, t, h, id;
	char home[512], text[64];
	struct needle nd[64];
	size_t nn = 0;

	(void)state;
	assert_int_equal(qmt_tmpdir("store-v8", home, sizeof(home)), 0);
	o.schema_max = 8;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), 8);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	{
		struct qm_store_account a;

		memset(&a, 0, sizeof(a));
		qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
		a.default_level = 2;
		assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
		acct = a.id;
	}
	assert_int_equal(qm_store_tx_begin(s, &e), QM_OK);
	for (int i = 1; i <= 60; i++) {
		snprintf(text, sizeof(text), "Old text %d\n-- \nsig", i);
		add_text_msg(s, acct, i, QM_VERIFY_OK, text);
	}
	t = add_text_msg(s, acct, 61, QM_VERIFY_TAMPERED, "Not to be shown");
	memset(&m, 0, sizeof(m));
	m.account_id = acct;
	m.folder = "INBOX";
	m.uid = 62;
	m.date = 1;
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.body_pending = 1;
	assert_int_equal(
	    qm_store_msg_add(s, &m, "head", NULL, 0, NULL, 0, NULL, &h, &e),
	    QM_OK);
	assert_int_equal(qm_store_tx_commit(s, &e), QM_OK);
	/* snippets arrive in version 9 */
	assert_int_equal(qm_store_msg_snippets_fill(s, 10, &left, &e),
	                 QM_ERR_STATE);
	qm_store_close(&s);

	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_true(qm_store_schema_version(s) >= 9);
	assert_int_equal(rows_without(home), 62);
	/* locked: nothing made, nothing kept */
	assert_int_equal(qm_store_msg_snippets_fill(s, 10, &left, &e),
	                 QM_ERR_LOCKED);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&q, 0, sizeof(q));
	q.account_id = acct;
	q.folder = "INBOX";
	q.limit = 100;
	assert_int_equal(qm_store_msg_list(s, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 62);
	/* newest first by date: rows 61 (tampered), 60 .. 1, then the
	 * header-only record (date 1) */
	assert_int_equal(l->items[0].id, t);
	assert_string_equal(l->items[0].snippet, "");
	assert_string_equal(l->items[1].snippet, "Old text 60");
	id = l->items[1].id;
	/* 50 made: the tampered row is not among them (it has none) */
	assert_string_equal(l->items[50].snippet, "Old text 11");
	assert_string_equal(l->items[51].snippet, "");
	assert_int_equal(l->items[61].id, h);
	assert_string_equal(l->items[61].snippet, "");
	qm_store_msglist_free(&l);
	/* the listing wrote nothing; one message looked up makes none (the
	 * engine's many lookups do not open texts) */
	assert_int_equal(rows_without(home), 62);
	assert_string_equal(listed_snippet(s, id), "");

	/* kept a bounded number at a time, newest (highest id) first */
	assert_int_equal(qm_store_msg_snippets_fill(s, 10, &left, &e), QM_OK);
	assert_int_equal(left, 52);
	assert_int_equal(rows_without(home), 52);
	assert_int_equal(qm_store_msg_snippets_fill(s, 1000, &left, &e), QM_OK);
	assert_int_equal(left, 0);
	assert_int_equal(rows_without(home), 0);
	assert_int_equal(qm_store_msg_snippets_fill(s, 1000, NULL, &e), QM_OK);
	assert_int_equal(qm_store_msg_list(s, &q, &l, &e), QM_OK);
	for (size_t i = 1; i < 61; i++) {
		snprintf(text, sizeof(text), "Old text %zu", 61 - i);
		assert_string_equal(l->items[i].snippet, text);
	}
	assert_string_equal(l->items[0].snippet, "");
	assert_string_equal(l->items[61].snippet, "");
	qm_store_msglist_free(&l);
	/* new messages have theirs at once */
	id = add_text_msg(s, acct, 63, QM_VERIFY_OK, "A new one");
	assert_string_equal(listed_snippet(s, id), "A new one");
	assert_int_equal(rows_without(home), 0);
	qm_store_close(&s);
	/* sealed: no text of a snippet in clear in the file */
	add_forms(nd, &nn, "Old text 33");
	add_forms(nd, &nn, "A new one");
	assert_int_equal(scan_dir(home, nd, nn), 0);
	qmt_rmtree(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_schema_wal, setup,
	                                    teardown),
	    cmocka_unit_test(test_migrate_from_v1),
	    cmocka_unit_test(test_migrate_identities),
	    cmocka_unit_test_setup_teardown(test_vault, setup, teardown),
	    cmocka_unit_test(test_vault_kdf_params_stored),
	    cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_contacts_settings_drafts,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msg_list_paging, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_msg_search, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outbox, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keyring, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secrets_never_in_clear, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_damaged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sealed_item_moved, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_busy_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_account_delete_cascades, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sealed_item_altered, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_label_msg_edited, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_label_contact_edited, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_label_keyring_edited, setup,
	                                    teardown),
	    cmocka_unit_test(test_label_upgrade),
	    cmocka_unit_test_setup_teardown(test_msg_meta, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_learned_never_overrides, setup,
	                                    teardown),
	    cmocka_unit_test(test_outbox_bound),
	    cmocka_unit_test_setup_teardown(test_own_messages, setup, teardown),
	    cmocka_unit_test(test_snippet_text),
	    cmocka_unit_test_setup_teardown(test_snippet_listed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_snippet_tampered, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_snippet_swapped, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_snippet_item_altered, setup,
	                                    teardown),
	    cmocka_unit_test(test_migrate_snippets),
	    cmocka_unit_test_setup_teardown(test_sender_name_item, setup,
	                                    teardown),
	};

	int rc;

	setenv("QM_STORE_KDF", "fast", 1);
	if (qmt_tmpdir("store-sqltmp", sqlite_tmp, sizeof(sqlite_tmp)) != 0)
		return 1;
	setenv("SQLITE_TMPDIR", sqlite_tmp, 1);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	qmt_rmtree(sqlite_tmp);
	return rc;
}
