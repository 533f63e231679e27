/* SPDX-License-Identifier: MIT */
/*
 * The client engine as the user interfaces' only door (issue 13, item 2),
 * without servers: every mail server and KME address is a closed port on
 * 127.0.0.1, so each call decides from what the home holds.
 *
 * - An error a person can act on carries a hint code and the thing it is
 *   about (a missing or unconfirmed SAE ID, a missing or changed key, an
 *   account without KME, a limit reached, an unknown limit or setting, a
 *   locked vault), and its message names no command or screen of either
 *   interface.
 * - The calls the interfaces use instead of the store: accounts (update,
 *   secret, delete), settings (per account and global, levels and limits
 *   by name), the passphrase, contacts and keys, the message index and
 *   drafts, the outbox list, a clone for another thread.
 * - qm_client_sync_all runs the outbox before any account's sync.
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
#include "core/core.h"
#include "harness.h"
#include "store/store.h" /* tests only: messages put in the index */

#define PASS "correct horse battery staple"

static char g_home[512];
static struct qm_client *g_c;
static int64_t g_alice, g_nokme;

/* A message a library returns speaks of the thing, never of one
 * interface's commands or screens. */
static void assert_library_words(const char *msg)
{
	static const char *const ui[] = {"`",  "qmail ",        "Settings",
	                                 "--", "open Contacts", "Keyring"};

	for (size_t i = 0; i < sizeof(ui) / sizeof(ui[0]); i++)
		if (strstr(msg, ui[i]))
			fail_msg("\"%s\" names \"%s\"", msg, ui[i]);
}

static void server(struct qm_store_server *s)
{
	qm_strlcpy(s->host, "127.0.0.1", sizeof(s->host));
	s->port = qmt_free_port();
	s->tls = QM_TLS_NONE;
}

static int64_t add_account(const char *address, int with_kme)
{
	struct qm_store_account a;
	struct qm_error e;

	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, address, sizeof(a.address));
	server(&a.smtp);
	server(&a.imap);
	if (with_kme) {
		snprintf(a.kme_url, sizeof(a.kme_url), "https://127.0.0.1:%d",
		         qmt_free_port());
		qm_strlcpy(a.sae_id, "SAE_A", sizeof(a.sae_id));
	}
	qm_error_clear(&e);
	if (qm_client_account_add(g_c, &a, "pw", 2, &e))
		fail_msg("account %s: %s", address, qm_error_msg(&e));
	return a.id;
}

static int setup(void **state)
{
	struct qm_client_opts o;
	struct qm_error e;

	(void)state;
	setenv("QM_STORE_KDF", "fast", 1);
	if (qmt_tmpdir("client-door", g_home, sizeof(g_home)))
		return -1;
	memset(&o, 0, sizeof(o));
	o.home = g_home;
	if (qm_client_open(&o, &g_c, &e) ||
	    qm_client_init(g_c, PASS, strlen(PASS), &e))
		return -1;
	g_alice = add_account("alice@example.org", 1);
	g_nokme = add_account("nokme@example.org", 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qm_client_free(&g_c);
	qmt_rmtree(g_home);
	return 0;
}

/* Sends text (with natt small attachments) from account to one recipient
 * at level; the error in *e. */
static enum qm_err send_one(int64_t account, const char *to, int level,
                            size_t natt, struct qm_client_sent *sent,
                            struct qm_error *e)
{
	struct qm_client_attachment att[4];
	struct qm_client_compose m;
	struct qm_client_sent mine;
	const char *tov[1] = {to};

	memset(&m, 0, sizeof(m));
	memset(att, 0, sizeof(att));
	for (size_t i = 0; i < natt && i < 4; i++) {
		att[i].name = "a.txt";
		att[i].data = (const unsigned char *)"attached\n";
		att[i].len = 9;
	}
	m.account_id = account;
	m.to = tov;
	m.nto = 1;
	m.subject = "hello";
	m.text = "hello\n";
	m.att = att;
	m.natt = natt;
	m.level = level;
	qm_error_clear(e);
	return qm_client_send(g_c, &m, NULL, NULL, sent ? sent : &mine, e);
}

/* Imports account from's public key as the key of address. */
static void import_key_of(int64_t from, const char *address,
                          enum qm_store_trust *trust)
{
	struct qm_buf b;
	struct qm_error e;
	char fpr[QM_STORE_FPRMAX];
	enum qm_store_trust t;

	qm_buf_init(&b, 1 << 20);
	qm_error_clear(&e);
	assert_int_equal(qm_client_key_export(g_c, from, &b, &e), QM_OK);
	assert_int_equal(qm_client_key_import(g_c, address,
	                                      (const char *)b.data, b.len, fpr,
	                                      &t, &e),
	                 QM_OK);
	qm_buf_free(&b);
	if (trust)
		*trust = t;
}

static void assert_hint(const struct qm_error *e, enum qm_err code, int hint,
                        const char *arg)
{
	printf("  %s [%s %s]\n", qm_error_msg(e), qm_client_hint_name(e->hint),
	       e->hint_arg);
	assert_int_equal(e->code, code);
	assert_int_equal(e->hint, hint);
	assert_string_equal(e->hint_arg, arg);
	assert_library_words(qm_error_msg(e));
}

static void test_hints_contacts_and_kme(void **state)
{
	struct qm_store_contact ct;
	struct qm_client_level lv[4];
	const char *carol[1] = {"carol@example.org"};
	struct qm_error e;

	(void)state;
	/* no contact and no key: no encrypted message at all, and a plain
	 * one only when the sender chooses it for the message */
	assert_int_equal(send_one(g_alice, "carol@example.org", 2, 0, NULL, &e),
	                 QM_ERR_UNAVAIL);
	assert_hint(&e, QM_ERR_UNAVAIL, QM_HINT_PLAIN, "carol@example.org");
	/* a key but no contact: levels 1 and 2 need its SAE ID */
	import_key_of(g_alice, "frank@example.org", NULL);
	assert_int_equal(send_one(g_alice, "frank@example.org", 2, 0, NULL, &e),
	                 QM_ERR_NOTFOUND);
	assert_hint(&e, QM_ERR_NOTFOUND, QM_HINT_CONTACT_SAE_MISSING,
	            "frank@example.org");
	/* the same reason, with its hint, in the levels a compose form shows */
	assert_int_equal(
	    qm_client_levels(g_c, g_alice, carol, 1, 100, lv, NULL, &e), QM_OK);
	assert_false(lv[1].available);
	assert_int_equal(lv[1].hint, QM_HINT_CONTACT_SAE_MISSING);
	assert_string_equal(lv[1].hint_arg, "carol@example.org");
	assert_library_words(lv[1].reason);
	assert_false(lv[2].available);
	assert_int_equal(lv[2].hint, QM_HINT_KEY_MISSING);
	assert_library_words(lv[2].reason);

	/* an SAE ID learned from a message waits for the user */
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "dave@example.org", sizeof(ct.address));
	qm_strlcpy(ct.sae_id, "SAE_D", sizeof(ct.sae_id));
	ct.source = QM_CONTACT_LEARNED;
	assert_int_equal(
	    qm_store_contact_put(qm_client_store(g_c), g_alice, &ct, &e),
	    QM_OK);
	assert_int_equal(send_one(g_alice, "dave@example.org", 2, 0, NULL, &e),
	                 QM_ERR_STATE);
	assert_hint(&e, QM_ERR_STATE, QM_HINT_CONTACT_SAE_UNCONFIRMED,
	            "dave@example.org");
	/* confirmed through the engine, it passes this check */
	assert_int_equal(
	    qm_client_contact_confirm(g_c, g_alice, "dave@example.org", &e),
	    QM_OK);
	assert_int_equal(
	    qm_client_contact_get(g_c, g_alice, "dave@example.org", &ct, &e),
	    QM_OK);
	assert_true(ct.confirmed);

	/* an account without a KME (to frank, whose key is known) */
	assert_int_equal(send_one(g_nokme, "frank@example.org", 1, 0, NULL, &e),
	                 QM_ERR_STATE);
	assert_hint(&e, QM_ERR_STATE, QM_HINT_ACCOUNT_KME, "nokme@example.org");
}

static void test_hints_keys_and_limits(void **state)
{
	enum qm_store_trust t;
	struct qm_error e;

	(void)state;
	/* an SAE ID (test_hints_contacts_and_kme) but no key */
	assert_int_equal(send_one(g_alice, "dave@example.org", 3, 0, NULL, &e),
	                 QM_ERR_NOTFOUND);
	assert_hint(&e, QM_ERR_NOTFOUND, QM_HINT_KEY_MISSING,
	            "dave@example.org");

	/* the user's own limit, before the message enters the outbox */
	import_key_of(g_alice, "erin@example.org", &t);
	assert_int_equal(t, QM_TRUST_UNVERIFIED);
	assert_int_equal(qm_client_limit_set(g_c, QM_LIMIT_PARTS, "4", &e),
	                 QM_OK);
	assert_int_equal(send_one(g_alice, "erin@example.org", 3, 3, NULL, &e),
	                 QM_ERR_TOOBIG);
	assert_hint(&e, QM_ERR_TOOBIG, QM_HINT_LIMIT_REACHED, QM_LIMIT_PARTS);
	assert_non_null(strstr(e.msg, "the limit is 4 (limit.parts)"));
	assert_int_equal(
	    qm_client_limit_set(g_c, QM_LIMIT_PARTS, "default", &e), QM_OK);

	/* another key for erin: not used until the user verifies it */
	import_key_of(g_nokme, "erin@example.org", &t);
	assert_int_equal(t, QM_TRUST_CHANGED);
	assert_int_equal(send_one(g_alice, "erin@example.org", 3, 0, NULL, &e),
	                 QM_ERR_STATE);
	assert_hint(&e, QM_ERR_STATE, QM_HINT_KEY_CHANGED, "erin@example.org");

	/* names that are no limit or setting */
	qm_error_clear(&e);
	assert_int_equal(qm_client_limit_set(g_c, "limit.nope", "1", &e),
	                 QM_ERR_NOTFOUND);
	assert_hint(&e, QM_ERR_NOTFOUND, QM_HINT_LIMIT_UNKNOWN, "limit.nope");
	qm_error_clear(&e);
	assert_int_equal(qm_client_setting_set(g_c, g_alice, "nope", "1", &e),
	                 QM_ERR_NOTFOUND);
	assert_hint(&e, QM_ERR_NOTFOUND, QM_HINT_SETTING_UNKNOWN, "nope");
}

static void test_hint_locked_and_names(void **state)
{
	struct qm_error e;
	const char *seen[QM_HINT__COUNT];

	(void)state;
	qm_client_lock(g_c);
	qm_error_clear(&e);
	assert_int_equal(qm_client_sync_all(g_c, 0, NULL, NULL, NULL, NULL, &e),
	                 QM_ERR_LOCKED);
	assert_hint(&e, QM_ERR_LOCKED, QM_HINT_VAULT_LOCKED, "");
	assert_int_equal(qm_client_unlock(g_c, PASS, strlen(PASS), &e), QM_OK);
	/* a new error has no hint left from an old one */
	e.hint = QM_HINT_KEY_MISSING;
	qm_error_set(&e, QM_ERR_IO, "disk");
	assert_int_equal(e.hint, 0);
	assert_string_equal(e.hint_arg, "");
	/* every hint has its own stable name */
	assert_string_equal(qm_client_hint_name(QM_HINT_NONE), "");
	assert_string_equal(qm_client_hint_name(QM_HINT__COUNT), "");
	for (int h = 1; h < QM_HINT__COUNT; h++) {
		seen[h] = qm_client_hint_name(h);
		assert_true(strlen(seen[h]) > 0);
		for (int k = 1; k < h; k++)
			assert_string_not_equal(seen[k], seen[h]);
	}
}

static void test_accounts(void **state)
{
	struct qm_store_account a, *as = NULL;
	struct qm_error e;
	int64_t extra;
	size_t n = 0;

	(void)state;
	qm_error_clear(&e);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "someone@gmail.com", sizeof(a.address));
	assert_int_equal(qm_client_account_preset(&a, NULL, &e), QM_OK);
	assert_string_equal(a.smtp.host, "smtp.gmail.com");
	assert_int_equal(qm_client_account_preset(&a, "nope", &e),
	                 QM_ERR_NOTFOUND);

	extra = add_account("extra@example.org", 0);
	assert_int_equal(
	    qm_client_account_find(g_c, "EXTRA@example.org", &a, &e), QM_OK);
	assert_int_equal(a.id, extra);
	assert_true(qm_client_account_has_secret(g_c, &a));
	/* changed: the address is kept bare and in lower case */
	qm_strlcpy(a.address, "Extra Two <Extra2@Example.org>",
	           sizeof(a.address));
	qm_strlcpy(a.display_name, "Extra", sizeof(a.display_name));
	assert_int_equal(qm_client_account_update(g_c, &a, NULL, 0, &e), QM_OK);
	assert_int_equal(qm_client_account_get(g_c, extra, &a, &e), QM_OK);
	assert_string_equal(a.address, "extra2@example.org");
	assert_string_equal(a.display_name, "Extra");
	/* a token replaces the password and the account logs in with it */
	assert_int_equal(qm_client_account_secret_set(
	                     g_c, extra, QM_AUTH_OAUTH2, "tok", 3, &e),
	                 QM_OK);
	assert_int_equal(qm_client_account_get(g_c, extra, &a, &e), QM_OK);
	assert_int_equal(a.auth, QM_AUTH_OAUTH2);
	assert_true(qm_client_account_has_secret(g_c, &a));
	assert_int_equal(qm_client_account_secret_set(
	                     g_c, extra, QM_AUTH_PASSWORD, "", 0, &e),
	                 QM_ERR_INVAL);
	qm_client_lock(g_c);
	assert_int_equal(qm_client_account_secret_set(
	                     g_c, extra, QM_AUTH_PASSWORD, "pw2", 3, &e),
	                 QM_ERR_LOCKED);
	assert_int_equal(e.hint, QM_HINT_VAULT_LOCKED);
	assert_false(qm_client_account_has_secret(g_c, &a));
	assert_int_equal(qm_client_unlock(g_c, PASS, strlen(PASS), &e), QM_OK);

	assert_int_equal(qm_client_account_list(g_c, &as, &n, &e), QM_OK);
	assert_int_equal(n, 3);
	free(as);
	assert_int_equal(qm_client_account_delete(g_c, extra, &e), QM_OK);
	assert_int_equal(qm_client_account_get(g_c, extra, &a, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_client_account_delete(g_c, extra, &e),
	                 QM_ERR_NOTFOUND);
}

static void test_settings(void **state)
{
	char v[64];
	int set = -1, lvl = 0;
	uint64_t lim = 0;
	struct qm_error e;

	(void)state;
	qm_error_clear(&e);
	assert_int_equal(qm_client_setting_get(g_c, g_alice,
	                                       QM_CLIENT_SET_INCOMING, v,
	                                       sizeof(v), &set, &e),
	                 QM_OK);
	/* unset: what the sync uses (alice has an IMAP server) */
	assert_string_equal(v, "imap");
	assert_int_equal(set, 0);
	assert_int_equal(qm_client_setting_set(
	                     g_c, g_alice, QM_CLIENT_SET_INCOMING, "pop3", &e),
	                 QM_OK);
	assert_int_equal(qm_client_setting_get(g_c, g_alice,
	                                       QM_CLIENT_SET_INCOMING, v,
	                                       sizeof(v), &set, &e),
	                 QM_OK);
	assert_string_equal(v, "pop3");
	assert_int_equal(set, 1);
	assert_int_equal(qm_client_setting_set(
	                     g_c, g_alice, QM_CLIENT_SET_INCOMING, "smtp", &e),
	                 QM_ERR_INVAL);
	assert_library_words(e.msg);
	assert_int_equal(qm_client_setting_set(
	                     g_c, g_alice, QM_CLIENT_SET_SAVE_SENT, "yes", &e),
	                 QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_setting_set(g_c, g_alice, QM_CLIENT_SET_INCOMING, "", &e),
	    QM_OK);
	assert_int_equal(qm_client_setting_get(g_c, g_alice,
	                                       QM_CLIENT_SET_INCOMING, v,
	                                       sizeof(v), &set, &e),
	                 QM_OK);
	assert_int_equal(set, 0);
	/* an account's setting of no account, or in the global scope */
	assert_int_equal(qm_client_setting_set(
	                     g_c, 99999, QM_CLIENT_SET_INCOMING, "imap", &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(
	    qm_client_setting_set(g_c, 0, QM_CLIENT_SET_INCOMING, "imap", &e),
	    QM_ERR_NOTFOUND);

	/* global: the GUI's background sync, 300 s unless set */
	assert_int_equal(qm_client_setting_get(g_c, 0,
	                                       QM_CLIENT_SET_BACKGROUND_SYNC, v,
	                                       sizeof(v), &set, &e),
	                 QM_OK);
	assert_string_equal(v, "300");
	assert_int_equal(set, 0);
	assert_int_equal(qm_client_setting_set(g_c, 0,
	                                       QM_CLIENT_SET_BACKGROUND_SYNC,
	                                       "99999", &e),
	                 QM_ERR_INVAL);
	assert_int_equal(qm_client_setting_set(
	                     g_c, 0, QM_CLIENT_SET_BACKGROUND_SYNC, "0", &e),
	                 QM_OK);
	assert_int_equal(qm_client_setting_get(g_c, 0,
	                                       QM_CLIENT_SET_BACKGROUND_SYNC, v,
	                                       sizeof(v), &set, &e),
	                 QM_OK);
	assert_string_equal(v, "0");
	assert_int_equal(set, 1);
	assert_int_equal(qm_client_setting_get(g_c, 0,
	                                       QM_CLIENT_SET_BACKGROUND_SYNC, v,
	                                       1, NULL, &e),
	                 QM_ERR_TOOBIG);

	/* the level settings and the limits, reached by name */
	assert_int_equal(
	    qm_client_setting_set(g_c, 0, QM_CLIENT_SET_MIN_LEVEL, "3", &e),
	    QM_OK);
	assert_int_equal(
	    qm_client_level_setting_get(g_c, QM_CLIENT_SET_MIN_LEVEL, &lvl, &e),
	    QM_OK);
	assert_int_equal(lvl, 3);
	assert_int_equal(qm_client_setting_get(g_c, 0, QM_CLIENT_SET_MIN_LEVEL,
	                                       v, sizeof(v), &set, &e),
	                 QM_OK);
	assert_string_equal(v, "3");
	assert_int_equal(
	    qm_client_setting_set(g_c, 0, QM_CLIENT_SET_MIN_LEVEL, "", &e),
	    QM_OK);
	assert_int_equal(
	    qm_client_setting_set(g_c, 0, QM_LIMIT_PARTS, "64", &e), QM_OK);
	assert_int_equal(
	    qm_client_limit_get(g_c, QM_LIMIT_PARTS, &lim, &set, &e), QM_OK);
	assert_int_equal(lim, 64);
	assert_int_equal(
	    qm_client_setting_set(g_c, 0, QM_LIMIT_PARTS, NULL, &e), QM_OK);
	assert_int_equal(qm_client_setting_get(g_c, 0, QM_LIMIT_PARTS, v,
	                                       sizeof(v), &set, &e),
	                 QM_OK);
	assert_string_equal(v, "256");
	assert_int_equal(set, 0);
}

/* The table the interfaces list (qm_client_setting_at), each entry a
 * setting get takes with its default; qm_client_setting_check says what
 * qm_client_setting_set would, storing nothing. */
static void test_setting_table_and_check(void **state)
{
	struct qm_client_setting_info si;
	char v[QM_STORE_PATHMAX];
	struct qm_error e;
	size_t n = 0;
	int set = -1, saw_header_first = 0, saw_invite = 0;

	(void)state;
	qm_error_clear(&e);
	for (size_t i = 0; qm_client_setting_at(0, i, &si) == 0; i++, n++) {
		assert_non_null(si.name);
		assert_true(si.values[0] && si.what[0]);
		assert_int_equal(qm_client_setting_get(g_c, g_alice, si.name, v,
		                                       sizeof(v), &set, &e),
		                 QM_OK);
		assert_int_equal(set, 0);
		/* incoming's default is what the sync uses (test_client_account
		 * test_incoming_default): IMAP here */
		assert_string_equal(v, strcmp(si.name, QM_CLIENT_SET_INCOMING)
		                           ? si.def
		                           : "imap");
		saw_header_first |=
		    strcmp(si.name, QM_CLIENT_SET_HEADER_FIRST) == 0;
		saw_invite |= strcmp(si.name, QM_CLIENT_SET_PLAIN_INVITE) == 0;
	}
	assert_int_equal(n, 10);
	assert_true(saw_header_first);
	assert_true(saw_invite);
	assert_int_equal(qm_client_setting_at(0, n, &si), -1);
	assert_int_equal(qm_client_setting_at(1, 0, &si), 0);
	assert_string_equal(si.name, QM_CLIENT_SET_BACKGROUND_SYNC);
	/* then the person's OAuth2 clients and where discovery asks */
	assert_int_equal(qm_client_setting_at(1, 2, &si), 0);
	assert_string_equal(si.name, "oauth.google.client_secret");
	assert_true(si.secret);
	assert_int_equal(qm_client_setting_at(1, 7, &si), 0);
	assert_string_equal(si.name, QM_CLIENT_SET_DISCOVER_DNS);
	assert_false(si.secret);
	assert_int_equal(qm_client_setting_at(1, 10, &si), -1);
	assert_int_equal(qm_client_setting_check(0, QM_CLIENT_SET_DISCOVER_DNS,
	                                         "127.0.0.1:5353", &e),
	                 QM_OK);
	assert_int_equal(qm_client_setting_check(0, QM_CLIENT_SET_DISCOVER_DNS,
	                                         "localhost:53", &e),
	                 QM_ERR_INVAL);
	assert_int_equal(qm_client_setting_check(0, QM_CLIENT_SET_DISCOVER_PORT,
	                                         "70000", &e),
	                 QM_ERR_INVAL);
	{
		char shown[16];

		qm_client_setting_shown("GOCSPX-abcdefgh", shown,
		                        sizeof(shown));
		assert_string_equal(shown, "GOCS...");
		qm_client_setting_shown("", shown, sizeof(shown));
		assert_string_equal(shown, "");
	}

	assert_int_equal(qm_client_setting_check(
	                     g_alice, QM_CLIENT_SET_SYNC_FOLDERS, "all", &e),
	                 QM_OK);
	assert_int_equal(qm_client_setting_check(
	                     g_alice, QM_CLIENT_SET_SYNC_FOLDERS, "every", &e),
	                 QM_ERR_INVAL);
	assert_non_null(strstr(e.msg, "subscribed, inbox or all"));
	assert_library_words(e.msg);
	assert_int_equal(qm_client_setting_check(g_alice,
	                                         QM_CLIENT_SET_HEADER_FIRST,
	                                         "1000001", &e),
	                 QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_setting_check(g_alice, QM_CLIENT_SET_DELETE_MODE, "", &e),
	    QM_OK);
	assert_int_equal(
	    qm_client_setting_check(g_alice, "sync_everything", "1", &e),
	    QM_ERR_NOTFOUND);
	assert_int_equal(e.hint, QM_HINT_SETTING_UNKNOWN);
	assert_int_equal(
	    qm_client_setting_check(0, QM_CLIENT_SET_SYNC_FOLDERS, "all", &e),
	    QM_ERR_NOTFOUND);
	/* nothing was stored */
	assert_int_equal(qm_client_setting_get(g_c, g_alice,
	                                       QM_CLIENT_SET_SYNC_FOLDERS, v,
	                                       sizeof(v), &set, &e),
	                 QM_OK);
	assert_int_equal(set, 0);
}

static void test_passphrase(void **state)
{
	static const char np[] = "another long passphrase";
	struct qm_error e;

	(void)state;
	qm_error_clear(&e);
	assert_int_equal(qm_client_passphrase_change(g_c, "wrong one", 9, np,
	                                             strlen(np), &e),
	                 QM_ERR_DENIED);
	assert_int_equal(qm_client_passphrase_change(g_c, PASS, strlen(PASS),
	                                             "short", 5, &e),
	                 QM_ERR_INVAL);
	assert_library_words(e.msg);
	assert_int_equal(qm_client_passphrase_change(g_c, PASS, strlen(PASS),
	                                             np, strlen(np), &e),
	                 QM_OK);
	qm_client_lock(g_c);
	assert_int_equal(qm_client_unlock(g_c, PASS, strlen(PASS), &e),
	                 QM_ERR_DENIED);
	assert_int_equal(qm_client_unlock(g_c, np, strlen(np), &e), QM_OK);
	assert_int_equal(qm_client_passphrase_change(g_c, np, strlen(np), PASS,
	                                             strlen(PASS), &e),
	                 QM_OK);
}

static void test_contacts_and_keys(void **state)
{
	struct qm_store_contact ct, *cs = NULL;
	struct qm_store_key *ks = NULL;
	struct qm_error e;
	size_t n = 0;
	int found = 0;

	(void)state;
	qm_error_clear(&e);
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "bob@example.org", sizeof(ct.address));
	qm_strlcpy(ct.sae_id, "SAE_B", sizeof(ct.sae_id));
	ct.min_level = 5;
	assert_int_equal(qm_client_contact_put(g_c, g_alice, &ct, &e),
	                 QM_ERR_INVAL);
	ct.min_level = 2;
	/* whatever the caller says, a contact the user enters is theirs */
	ct.source = QM_CONTACT_LEARNED;
	assert_int_equal(qm_client_contact_put(g_c, g_alice, &ct, &e), QM_OK);
	assert_int_equal(qm_client_contact_put(g_c, 99999, &ct, &e),
	                 QM_ERR_NOTFOUND);
	memset(&ct, 0, sizeof(ct));
	assert_int_equal(
	    qm_client_contact_get(g_c, g_alice, "bob@example.org", &ct, &e),
	    QM_OK);
	assert_int_equal(ct.source, QM_CONTACT_USER);
	assert_true(ct.confirmed);
	assert_int_equal(ct.min_level, 2);
	assert_int_equal(qm_client_contact_list(g_c, g_alice, &cs, &n, &e),
	                 QM_OK);
	for (size_t i = 0; i < n; i++)
		found += strcmp(cs[i].address, "bob@example.org") == 0;
	assert_int_equal(found, 1);
	free(cs);

	import_key_of(g_alice, "henry@example.org", NULL);
	import_key_of(g_nokme, "henry@example.org", NULL);
	assert_int_equal(
	    qm_client_key_list(g_c, "henry@example.org", &ks, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ks[0].trust, QM_TRUST_CHANGED); /* newest first */
	qm_client_keys_free(&ks, n);
	assert_null(ks);
}

static void test_addr_specs(void **state)
{
	char **v = NULL;
	size_t n = 0;
	struct qm_error e;

	(void)state;
	qm_error_clear(&e);
	assert_int_equal(qm_client_addrs_parse("Ann <a@example.org>, \"B, C\" "
	                                       "<c@example.org>",
	                                       &v, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "a@example.org");
	assert_string_equal(v[1], "c@example.org");
	qm_client_strv_free(&v, n);
	assert_null(v);
}

static void test_messages_and_drafts(void **state)
{
	static const char mime[] = "From: x@example.net\r\nSubject: hi\r\n\r\n"
	                           "a needle in it\r\n";
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_store_msg m;
	struct qm_buf b;
	struct qm_error e;
	int64_t id = 0, draft = 0, *ids = NULL, count = 0;
	unsigned flags = 0;
	size_t n = 0;

	(void)state;
	qm_error_clear(&e);
	memset(&m, 0, sizeof(m));
	m.account_id = g_alice;
	m.folder = "INBOX";
	m.uidvalidity = 1;
	m.uid = 7;
	m.from_addr = "x@example.net";
	m.date = 1790000000;
	m.verify = QM_VERIFY_NOT_QMAIL;
	assert_int_equal(qm_store_msg_add(qm_client_store(g_c), &m, "hi", NULL,
	                                  0, mime, strlen(mime),
	                                  "a needle in it", &id, &e),
	                 QM_OK);

	memset(&q, 0, sizeof(q));
	q.account_id = g_alice;
	q.folder = "INBOX";
	assert_int_equal(qm_client_msg_count(g_c, &q, &count, &e), QM_OK);
	assert_int_equal(count, 1);
	q.text = "needle";
	assert_int_equal(qm_client_msg_list(g_c, &q, &l, &e), QM_OK);
	assert_int_equal(l->n, 1);
	assert_int_equal(l->items[0].id, id);
	assert_string_equal(l->items[0].subject, "hi");
	qm_client_msglist_free(&l);
	assert_null(l);

	assert_int_equal(qm_client_msg_flags(g_c, id,
	                                     QM_FLAG_SEEN | QM_FLAG_FLAGGED, 0,
	                                     &flags, &e),
	                 QM_OK);
	assert_int_equal(flags, QM_FLAG_SEEN | QM_FLAG_FLAGGED);
	assert_int_equal(
	    qm_client_msg_flags(g_c, id, 0, QM_FLAG_FLAGGED, &flags, &e),
	    QM_OK);
	assert_int_equal(flags, QM_FLAG_SEEN);
	assert_int_equal(qm_client_msg_get(g_c, id, &l, &e), QM_OK);
	assert_int_equal(l->items[0].flags, QM_FLAG_SEEN);
	qm_client_msglist_free(&l);

	qm_buf_init_secure(&b, 1 << 20);
	assert_int_equal(qm_client_msg_mime(g_c, id, &b, &e), QM_OK);
	assert_int_equal(b.len, strlen(mime));
	assert_memory_equal(b.data, mime, b.len);
	qm_buf_free(&b);

	assert_int_equal(qm_client_msg_delete(g_c, id, &e), QM_OK);
	assert_int_equal(qm_client_msg_get(g_c, id, &l, &e), QM_ERR_NOTFOUND);
	assert_null(l);
	assert_int_equal(
	    qm_client_msg_flags(g_c, id, QM_FLAG_SEEN, 0, NULL, &e),
	    QM_ERR_NOTFOUND);

	/* drafts: bytes the interface keeps, sealed */
	assert_int_equal(
	    qm_client_draft_put(g_c, g_alice, &draft, "To: b\r\n", 7, &e),
	    QM_OK);
	assert_true(draft > 0);
	assert_int_equal(qm_client_draft_list(g_c, g_alice, &ids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], draft);
	free(ids);
	qm_buf_init_secure(&b, 1 << 20);
	assert_int_equal(qm_client_draft_get(g_c, draft, &b, &e), QM_OK);
	assert_memory_equal(b.data, "To: b\r\n", 7);
	qm_buf_free(&b);
	qm_client_lock(g_c);
	assert_int_equal(qm_client_draft_put(g_c, g_alice, &draft, "x", 1, &e),
	                 QM_ERR_LOCKED);
	assert_int_equal(e.hint, QM_HINT_VAULT_LOCKED);
	assert_int_equal(qm_client_unlock(g_c, PASS, strlen(PASS), &e), QM_OK);
	assert_int_equal(qm_client_draft_delete(g_c, draft, &e), QM_OK);
	assert_int_equal(qm_client_draft_list(g_c, g_alice, &ids, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 0);
	free(ids);
}

/* What qm_client_sync_all said, in order. */
struct calls {
	char seq[16][64];
	size_t n;
};

static void on_progress(void *arg, const char *what, uint64_t done,
                        uint64_t total)
{
	struct calls *k = arg;

	if (k->n < 16)
		snprintf(k->seq[k->n++], sizeof(k->seq[0]),
		         "progress %s %llu/%llu", what,
		         (unsigned long long)done, (unsigned long long)total);
}

static void on_report(void *arg, const struct qm_client_sync_report *r)
{
	struct calls *k = arg;

	if (k->n < 16)
		snprintf(k->seq[k->n++], sizeof(k->seq[0]), "report %s %d",
		         r->address, r->rc != QM_OK);
}

static void test_outbox_list_and_sync_all(void **state)
{
	struct qm_client_outbox_item *items = NULL;
	struct qm_client_sync_all out;
	struct qm_client_sent sent;
	struct calls k;
	struct qm_error e;
	size_t n = 0, first_report = 0;

	(void)state;
	/* level 4 needs no KME: the message enters the outbox, then the
	 * closed SMTP port keeps it there */
	import_key_of(g_alice, "gina@example.org", NULL);
	memset(&sent, 0, sizeof(sent));
	assert_int_not_equal(
	    send_one(g_alice, "gina@example.org", 4, 0, &sent, &e), QM_OK);
	assert_int_equal(sent.n_outbox, 1);
	assert_int_equal(sent.n_sent, 0);
	assert_int_equal(qm_client_outbox_list(g_c, g_alice, &items, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 1);
	assert_int_equal(items[0].id, sent.outbox_ids[0]);
	assert_string_equal(items[0].recipients, "gina@example.org");
	assert_int_equal(items[0].level, 4);
	/* ten entries to one person are told apart by their subjects */
	assert_non_null(items[0].subject);
	assert_string_equal(items[0].subject, "hello");
	assert_true(items[0].encrypted);
	assert_true(items[0].can_retry);
	assert_false(items[0].copy_waits);
	assert_non_null(items[0].reason);
	printf("  outbox: %s, %s\n",
	       qm_client_outbox_state_name(items[0].state), items[0].reason);
	qm_client_outbox_items_free(&items, n);
	assert_null(items);
	assert_int_equal(qm_client_outbox_list(g_c, g_nokme, &items, &n, &e),
	                 QM_OK);
	assert_int_equal(n, 0);

	/* one pass: the outbox first, then each account, by id */
	memset(&k, 0, sizeof(k));
	assert_int_equal(
	    qm_client_sync_all(g_c, 0, on_progress, on_report, &k, &out, &e),
	    QM_OK);
	for (size_t i = 0; i < k.n; i++)
		printf("  %s\n", k.seq[i]);
	assert_true(k.n >= 4);
	assert_string_equal(k.seq[0], "progress outbox 0/1");
	assert_string_equal(k.seq[1], "progress outbox 1/1");
	while (first_report < k.n && strncmp(k.seq[first_report], "report", 6))
		first_report++;
	assert_string_equal(k.seq[first_report], "report alice@example.org 1");
	assert_int_equal(out.accounts, 2);
	assert_int_equal(out.accounts_failed, 2);
	assert_true(strlen(out.first_error) > 0);
	/* one account only, and none that does not exist */
	memset(&k, 0, sizeof(k));
	assert_int_equal(qm_client_sync_all(g_c, g_nokme, on_progress,
	                                    on_report, &k, &out, &e),
	                 QM_OK);
	assert_int_equal(out.accounts, 1);
	assert_string_equal(k.seq[k.n - 1], "report nokme@example.org 1");
	assert_int_equal(
	    qm_client_sync_all(g_c, 99999, NULL, NULL, NULL, &out, &e),
	    QM_ERR_NOTFOUND);
	assert_int_equal(qm_client_outbox_cancel(g_c, sent.outbox_ids[0], &e),
	                 QM_OK);
}

static void test_clone(void **state)
{
	struct qm_client *r = NULL;
	struct qm_store_account *as = NULL;
	struct qm_error e;
	size_t n = 0;

	(void)state;
	qm_error_clear(&e);
	assert_int_equal(qm_client_clone(g_c, &r, &e), QM_OK);
	assert_true(qm_client_unlocked(r));
	assert_string_equal(qm_client_home(r), qm_client_home(g_c));
	assert_int_equal(qm_client_account_list(r, &as, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	free(as);
	qm_client_lock(r);
	assert_false(qm_client_unlocked(r));
	assert_true(qm_client_unlocked(g_c));
	qm_client_free(&r);
	assert_null(r);
}

/* Whom a reply goes to (issue 15): Reply-To, else From; to all, To and Cc
 * but the account's own address and anyone named already. */
static void test_reply_rcpts(void **state)
{
	char from[] = "Bob <bob@example.org>";
	char reply_to[] = "Bob's list <list@example.org>";
	char to[] = "alice@example.org, Carol <carol@example.org>";
	char cc[] = "bob@example.org, LIST@example.org, dave@example.org";
	char none[] = "", junk[] = "not an address";
	struct qm_client_view v;
	char **rt = NULL, **rc = NULL;
	size_t nrt = 0, nrc = 0;
	struct qm_error e;

	(void)state;
	memset(&v, 0, sizeof(v));
	v.id = 7;
	v.from = from;
	v.reply_to = reply_to;
	v.to = to;
	v.cc = cc;
	assert_int_equal(qm_client_reply_rcpts(g_c, g_alice, &v, 0, &rt, &nrt,
	                                       &rc, &nrc, &e),
	                 QM_OK);
	assert_int_equal(nrt, 1);
	assert_string_equal(rt[0], "list@example.org");
	assert_int_equal(nrc, 0);
	qm_client_strv_free(&rt, nrt);
	qm_client_strv_free(&rc, nrc);
	assert_int_equal(qm_client_reply_rcpts(g_c, g_alice, &v, 1, &rt, &nrt,
	                                       &rc, &nrc, &e),
	                 QM_OK);
	assert_int_equal(nrt, 1);
	assert_string_equal(rt[0], "list@example.org");
	assert_int_equal(nrc, 3);
	assert_string_equal(rc[0], "carol@example.org");
	assert_string_equal(rc[1], "bob@example.org");
	assert_string_equal(rc[2], "dave@example.org");
	qm_client_strv_free(&rt, nrt);
	qm_client_strv_free(&rc, nrc);
	/* no Reply-To, or one that names no address: From */
	for (int i = 0; i < 2; i++) {
		v.reply_to = i ? junk : none;
		assert_int_equal(qm_client_reply_rcpts(g_c, g_alice, &v, 0, &rt,
		                                       &nrt, &rc, &nrc, &e),
		                 QM_OK);
		assert_int_equal(nrt, 1);
		assert_string_equal(rt[0], "bob@example.org");
		qm_client_strv_free(&rt, nrt);
		qm_client_strv_free(&rc, nrc);
	}
	v.from = none;
	assert_int_equal(qm_client_reply_rcpts(g_c, g_alice, &v, 1, &rt, &nrt,
	                                       &rc, &nrc, &e),
	                 QM_ERR_PARSE);
	assert_null(rt);
	assert_null(rc);
}

/* Rows of msg without a snippet made yet (NULL: filed before schema 9). */
static int64_t snippets_missing(void)
{
	char path[700];
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;

	snprintf(path, sizeof(path), "%s/qmail.db", g_home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
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

/* A message filed before the store kept snippets gets its snippet from
 * the sync pass (a bounded step at its end, docs/STORE.md "Snippets"),
 * even when every account's sync fails; the list shows it meanwhile. */
static void test_sync_all_keeps_snippets(void **state)
{
	static const char mime[] = "Subject: old\r\n\r\nbody\r\n";
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_store_msg m;
	struct qm_error e;
	char path[700], *msg = NULL;
	sqlite3 *db;
	int64_t id;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.account_id = g_alice;
	m.folder = "INBOX";
	m.uidvalidity = 1;
	m.uid = 4242;
	m.from_addr = "dave@example.org";
	m.date = 1890000000; /* the newest of INBOX */
	m.verify = QM_VERIFY_NOT_QMAIL;
	assert_int_equal(qm_store_msg_add(qm_client_store(g_c), &m, "old", NULL,
	                                  0, mime, strlen(mime),
	                                  "Filed long ago\n", &id, &e),
	                 QM_OK);
	/* as an older QMail left it */
	snprintf(path, sizeof(path), "%s/qmail.db", g_home);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "UPDATE msg SET snippet = NULL", NULL, NULL,
	                 &msg) != SQLITE_OK)
		fail_msg("%s", msg ? msg : "?");
	sqlite3_close(db);
	assert_true(snippets_missing() >= 1);
	/* a list makes it in memory; one message looked up has none yet */
	memset(&q, 0, sizeof(q));
	q.account_id = g_alice;
	q.folder = "INBOX";
	q.limit = 1;
	assert_int_equal(qm_client_msg_list(g_c, &q, &l, &e), QM_OK);
	assert_int_equal(l->items[0].id, id);
	assert_string_equal(l->items[0].snippet, "Filed long ago");
	qm_client_msglist_free(&l);
	assert_int_equal(qm_client_msg_get(g_c, id, &l, &e), QM_OK);
	assert_string_equal(l->items[0].snippet, "");
	qm_client_msglist_free(&l);
	/* the accounts' servers are closed ports: their syncs fail */
	qm_error_clear(&e);
	assert_int_equal(qm_client_sync_all(g_c, 0, NULL, NULL, NULL, NULL, &e),
	                 QM_OK);
	assert_int_equal(snippets_missing(), 0);
	assert_int_equal(qm_client_msg_get(g_c, id, &l, &e), QM_OK);
	assert_string_equal(l->items[0].snippet, "Filed long ago");
	assert_string_equal(l->items[0].subject, "old");
	qm_client_msglist_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hints_contacts_and_kme),
	    cmocka_unit_test(test_hints_keys_and_limits),
	    cmocka_unit_test(test_hint_locked_and_names),
	    cmocka_unit_test(test_accounts),
	    cmocka_unit_test(test_settings),
	    cmocka_unit_test(test_setting_table_and_check),
	    cmocka_unit_test(test_passphrase),
	    cmocka_unit_test(test_contacts_and_keys),
	    cmocka_unit_test(test_addr_specs),
	    cmocka_unit_test(test_messages_and_drafts),
	    cmocka_unit_test(test_outbox_list_and_sync_all),
	    cmocka_unit_test(test_sync_all_keeps_snippets),
	    cmocka_unit_test(test_clone),
	    cmocka_unit_test(test_reply_rcpts),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
