/* SPDX-License-Identifier: MIT */
/*
 * The security labels the store keeps in clear, edited in the database file
 * by someone who can write it but does not know the passphrase, as the
 * client engine sees them (issue 12, item 7; the store's own tests are
 * test_store's test_label_*): a message promoted or given another sender
 * reads as tampered, "its security record was changed on disk"; a contact
 * whose floor was lowered gets nothing sent to it (the floor is not lost
 * silently); a key marked verified in the file is not used as verified.
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

#include "client/client.h"
#include "store/store.h"
#include "core/core.h"
#include "harness.h"
#include "home.h"

#define PASS "correct horse battery staple"

static char g_home[512];
static struct qm_client *g_c;
static int64_t g_acct;

static int setup(void **state)
{
	struct qm_store_account a;

	(void)state;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "bob@example.org", sizeof(a.address));
	if (qmt_home_open("client-labels", PASS, &a, &g_c, g_home,
	                  sizeof(g_home)))
		return -1;
	g_acct = a.id;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qmt_home_close(&g_c, g_home);
	return 0;
}

/* Runs SQL on the home's database from outside QMail. */
static void edit(const char *sql)
{
	char path[700], *msg = NULL;
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/qmail.db", g_home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

static int64_t add(const char *from, int level, enum qm_store_verify v,
                   int64_t uid)
{
	static const char mime[] = "From: alice@example.org\r\n"
	                           "To: bob@example.org\r\n"
	                           "Subject: s\r\n\r\nthe body\r\n";
	struct qm_store_msg m;
	struct qm_error e;
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	m.account_id = g_acct;
	m.folder = "INBOX";
	m.uidvalidity = 1;
	m.uid = uid;
	m.from_addr = from;
	m.to_addrs = "bob@example.org";
	m.date = 1790000000 + uid;
	m.level = level;
	m.verify = v;
	assert_int_equal(qm_store_msg_add(qm_client_store(g_c), &m, "s", NULL,
	                                  0, mime, strlen(mime), NULL, &id, &e),
	                 QM_OK);
	return id;
}

static void test_message_edited(void **state)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;
	char sql[200];
	int64_t ok, plain;

	(void)state;
	ok = add("alice@example.org", 2, QM_VERIFY_OK, 1);
	plain = add("mallory@example.net", 0, QM_VERIFY_NOT_QMAIL, 2);
	assert_int_equal(qm_client_read(g_c, ok, &v, &e), QM_OK);
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_non_null(strstr(v->text, "the body"));
	qm_client_view_free(&v);

	snprintf(sql, sizeof(sql),
	         "UPDATE msg SET from_addr = 'carol@example.org' WHERE id = "
	         "%lld",
	         (long long)ok);
	edit(sql);
	snprintf(sql, sizeof(sql),
	         "UPDATE msg SET level = 1, verify = 1 WHERE id = %lld",
	         (long long)plain);
	edit(sql);
	assert_int_equal(qm_client_read(g_c, ok, &v, &e), QM_OK);
	assert_int_equal(v->verify, QM_VERIFY_TAMPERED);
	assert_non_null(strstr(v->status_text, "changed on disk"));
	assert_string_equal(v->text, "");
	qm_client_view_free(&v);
	assert_int_equal(qm_client_read(g_c, plain, &v, &e), QM_OK);
	assert_int_equal(v->verify, QM_VERIFY_TAMPERED);
	assert_non_null(strstr(v->status_text, "changed on disk"));
	qm_client_view_free(&v);
}

/*
 * A QMail message whose sealed security record (the authenticated headers,
 * the sender binding, the signer) is deleted from the file: the reader must
 * not fall back to the inner headers it trusts less. Whether a message has
 * such a record is itself one of its labels (msg.has_meta).
 */
static void test_record_removed(void **state)
{
	static const char mime[] = "From: alice@example.org\r\n"
	                           "To: bob@example.org\r\n"
	                           "Subject: s\r\n\r\nthe body\r\n";
	static const char meta[] = "opaque record";
	struct qm_client_view *v = NULL;
	struct qm_store_msg m;
	struct qm_error e;
	char sql[200];
	int64_t id = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.account_id = g_acct;
	m.folder = "INBOX";
	m.uidvalidity = 1;
	m.uid = 7;
	m.from_addr = "alice@example.org";
	m.to_addrs = "bob@example.org";
	m.date = 1790000007;
	m.level = 3;
	m.verify = QM_VERIFY_OK;
	m.meta = meta;
	m.meta_len = sizeof(meta);
	assert_int_equal(qm_store_msg_add(qm_client_store(g_c), &m, "s", NULL,
	                                  0, mime, strlen(mime), NULL, &id, &e),
	                 QM_OK);
	snprintf(sql, sizeof(sql), "DELETE FROM msg_meta WHERE msg_id = %lld",
	         (long long)id);
	edit(sql);
	assert_int_equal(qm_client_read(g_c, id, &v, &e), QM_OK);
	assert_int_equal(v->verify, QM_VERIFY_TAMPERED);
	assert_non_null(strstr(v->status_text, "removed"));
	assert_string_equal(v->text, "");
	qm_client_view_free(&v);

	/* nor may has_meta be cleared to pass the message off as an old one */
	snprintf(sql, sizeof(sql),
	         "UPDATE msg SET has_meta = 0 WHERE id = %lld", (long long)id);
	edit(sql);
	assert_int_equal(qm_client_read(g_c, id, &v, &e), QM_OK);
	assert_int_equal(v->verify, QM_VERIFY_TAMPERED);
	assert_string_equal(v->text, "");
	qm_client_view_free(&v);
}

/* Level n's entry of qm_client_levels for carol. */
static const struct qm_client_level *level_for(struct qm_client_level lv[4],
                                               int n)
{
	const char *to[] = {"carol@example.org"};
	struct qm_error e;
	uint64_t need = 0;

	assert_int_equal(
	    qm_client_levels(g_c, g_acct, to, 1, 100, lv, &need, &e), QM_OK);
	return &lv[n - 1];
}

static void test_contact_and_key_edited(void **state)
{
	struct qm_client_level lv[4];
	struct qm_store_contact ct;
	struct qm_store_key *ks = NULL;
	struct qm_buf armour;
	struct qm_error e;
	enum qm_store_trust t;
	size_t n = 0;

	(void)state;
	/* carol: a key (ours, imported under her address), floor level 3 */
	qm_buf_init(&armour, 1 << 16);
	assert_int_equal(qm_client_key_export(g_c, g_acct, &armour, &e), QM_OK);
	assert_int_equal(qm_client_key_import(g_c, "carol@example.org",
	                                      (const char *)armour.data,
	                                      armour.len, NULL, &t, &e),
	                 QM_OK);
	qm_buf_free(&armour);
	assert_int_equal(t, QM_TRUST_UNVERIFIED);
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "carol@example.org", sizeof(ct.address));
	qm_strlcpy(ct.sae_id, "SAE_carol", sizeof(ct.sae_id));
	ct.source = QM_CONTACT_USER;
	ct.min_level = 3;
	assert_int_equal(
	    qm_store_contact_put(qm_client_store(g_c), g_acct, &ct, &e), QM_OK);
	assert_true(level_for(lv, 3)->available);
	assert_false(level_for(lv, 4)->available);

	/* the floor lowered in the file: not lost silently, nothing goes */
	edit("UPDATE contact SET min_level = 0 WHERE address = "
	     "'carol@example.org'");
	assert_false(level_for(lv, 4)->available);
	assert_non_null(strstr(lv[3].reason, "changed on disk"));
	assert_false(level_for(lv, 3)->available);
	assert_non_null(strstr(lv[2].reason, "changed on disk"));
	/* the user enters the contact again */
	assert_int_equal(
	    qm_store_contact_put(qm_client_store(g_c), g_acct, &ct, &e), QM_OK);
	assert_true(level_for(lv, 3)->available);

	/* her key marked verified in the file: not verified, not used */
	edit("UPDATE keyring SET trust = 1 WHERE address = "
	     "'carol@example.org'");
	assert_false(level_for(lv, 3)->available);
	assert_int_equal(qm_store_key_contact_list(qm_client_store(g_c),
	                                           "carol@example.org", &ks, &n,
	                                           &e),
	                 QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ks[0].trust, QM_TRUST_CHANGED);
	qm_store_key_free(&ks[0]);
	free(ks);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_removed),
	    cmocka_unit_test(test_message_edited),
	    cmocka_unit_test(test_contact_and_key_edited),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
