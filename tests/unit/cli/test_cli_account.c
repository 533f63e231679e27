/* SPDX-License-Identifier: MIT */
/*
 * An account's settings from the command line (issue 14): `qmail account
 * get ADDR [NAME]` lists them with their values and defaults, `qmail
 * account set ADDR NAME VALUE|default` changes one through the engine,
 * which the test reads back with its own handle on the home; a bad value
 * is refused with the allowed values, an unknown name with how to list
 * them. And `qmail list` marks a header-only record (a plain message of a
 * header-first sync whose body is not downloaded yet) "[headers]". The
 * real qmail program runs on a home with one account; nothing connects.
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
#include "store/store.h"
#include "core/core.h"
#include "harness.h"

#define PASS "correct horse battery staple"
#define ADDR "bob@example.org"

static char g_home[512];
static int64_t g_acct;

static int setup(void **state)
{
	static const char whole[] = "Subject: whole\r\n\r\nbody\r\n";
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_store_msg m;
	struct qm_client *c = NULL;
	struct qm_error e;
	int64_t id = 0;

	(void)state;
	setenv("QM_STORE_KDF", "fast", 1);
	setenv("QMAIL_PASSPHRASE", PASS, 1);
	unsetenv("QMAIL_PASSPHRASE_FILE");
	if (qmt_tmpdir("cli-account", g_home, sizeof(g_home)))
		return -1;
	memset(&o, 0, sizeof(o));
	o.home = g_home;
	if (qm_client_open(&o, &c, &e) ||
	    qm_client_init(c, PASS, strlen(PASS), &e))
		return -1;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, ADDR, sizeof(a.address));
	qm_strlcpy(a.imap.host, "127.0.0.1", sizeof(a.imap.host));
	a.imap.port = 1;
	if (qm_client_account_add(c, &a, "pw", 2, &e))
		return -1;
	g_acct = a.id;
	/* two plain messages in INBOX: one header-only, one whole */
	memset(&m, 0, sizeof(m));
	m.account_id = a.id;
	m.folder = "INBOX";
	m.uidvalidity = 1;
	m.uid = 1;
	m.from_addr = "dave@example.org";
	m.to_addrs = ADDR;
	m.date = 1790000100;
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.size = 90000;
	m.body_pending = 1;
	if (qm_store_msg_add(qm_client_store(c), &m, "only the headers", NULL,
	                     0, NULL, 0, NULL, &id, &e))
		return -1;
	m.uid = 2;
	m.date = 1790000000;
	m.body_pending = 0;
	if (qm_store_msg_add(qm_client_store(c), &m, "whole message", NULL, 0,
	                     whole, strlen(whole), NULL, &id, &e))
		return -1;
	qm_client_free(&c);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qmt_rmtree(g_home);
	return 0;
}

/* Runs qmail -q with the arguments (NULL-terminated); stdout and stderr
 * in *out (malloc'd). Returns the exit code. */
static int qm(char **out, ...)
{
	va_list ap;
	int rc;

	va_start(ap, out);
	rc = qmt_qmail_va(g_home, out, ap);
	va_end(ap);
	assert_non_null(*out);
	return rc;
}

/* The account's setting as the engine reads it, and whether it is set. */
static void engine_has(const char *name, const char *want, int want_set)
{
	struct qm_client_opts o;
	struct qm_client *c = NULL;
	struct qm_error e;
	char v[64];
	int set = -1;

	memset(&o, 0, sizeof(o));
	o.home = g_home;
	assert_int_equal(qm_client_open(&o, &c, &e), QM_OK);
	assert_int_equal(
	    qm_client_setting_get(c, g_acct, name, v, sizeof(v), &set, &e),
	    QM_OK);
	assert_string_equal(v, want);
	assert_int_equal(set, want_set);
	qm_client_free(&c);
}

/* The line of out that starts with name followed by a space, or NULL. */
static const char *line_of(const char *out, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = out; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, name, n) == 0 && p[n] == ' ')
			return p;
	return NULL;
}

/* Every per-account setting listed with its value and default. */
static void test_get_lists_all(void **state)
{
	static const char *const rows[] = {
	    "sync_folders     subscribed   subscribed",
	    "delete_mode      trash        trash",
	    "header_first     200          200",
	    "save_sent        1            1",
	    "save_sent_level1 0            0",
	    "pop3_delete      0            0",
	};
	char *out = NULL;

	(void)state;
	assert_int_equal(qm(&out, "account", "get", ADDR, NULL), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_non_null(strstr(out, rows[i]));
	assert_non_null(line_of(out, "incoming"));
	assert_non_null(line_of(out, "mail_ca"));
	assert_non_null(line_of(out, "kme_id"));
	free(out);
	assert_int_equal(qm(&out, "account", "get", ADDR, "header_first", NULL),
	                 0);
	assert_string_equal(out, "200\n");
	free(out);
}

/* Each setting set and read back, by the engine and by `account get`;
 * `default` unsets. */
static void test_set_each(void **state)
{
	static const struct {
		const char *name, *value;
	} sets[] = {
	    {"sync_folders", "all"},    {"sync_folders", "inbox"},
	    {"delete_mode", "expunge"}, {"header_first", "5"},
	    {"header_first", "0"},      {"save_sent", "0"},
	    {"save_sent_level1", "1"},  {"pop3_delete", "1"},
	};
	char *out = NULL, want[64];

	(void)state;
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		assert_int_equal(qm(&out, "account", "set", ADDR, sets[i].name,
		                    sets[i].value, NULL),
		                 0);
		free(out);
		engine_has(sets[i].name, sets[i].value, 1);
		assert_int_equal(
		    qm(&out, "account", "get", ADDR, sets[i].name, NULL), 0);
		snprintf(want, sizeof(want), "%s\n", sets[i].value);
		assert_string_equal(out, want);
		free(out);
	}
	/* the table marks what was set */
	assert_int_equal(qm(&out, "account", "get", ADDR, NULL), 0);
	assert_non_null(strstr(line_of(out, "sync_folders"), "inbox*"));
	assert_non_null(strstr(line_of(out, "header_first"), "0*"));
	free(out);
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		assert_int_equal(qm(&out, "account", "set", ADDR, sets[i].name,
		                    "default", NULL),
		                 0);
		free(out);
	}
	engine_has("sync_folders", "subscribed", 0);
	engine_has("delete_mode", "trash", 0);
	engine_has("header_first", "200", 0);
	engine_has("save_sent", "1", 0);
	engine_has("save_sent_level1", "0", 0);
	engine_has("pop3_delete", "0", 0);
}

/* A bad value: exit 2 with the allowed values, nothing written; an
 * unknown name: how to list them; an unknown account: said so. */
static void test_set_refused(void **state)
{
	static const struct {
		const char *name, *value, *says;
	} bad[] = {
	    {"sync_folders", "every", "subscribed, inbox or all"},
	    {"delete_mode", "shred", "trash or expunge"},
	    {"header_first", "-1", "from 0 to 1000000"},
	    {"header_first", "many", "from 0 to 1000000"},
	    {"save_sent", "yes", "1 (on) or 0 (off)"},
	};
	char *out = NULL;

	(void)state;
	assert_int_equal(
	    qm(&out, "account", "set", ADDR, "header_first", "9", NULL), 0);
	free(out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(qm(&out, "account", "set", ADDR, bad[i].name,
		                    bad[i].value, NULL),
		                 2);
		assert_non_null(strstr(out, bad[i].says));
		free(out);
	}
	engine_has("header_first", "9", 1);
	engine_has("sync_folders", "subscribed", 0);
	assert_int_equal(
	    qm(&out, "account", "set", ADDR, "sync_everything", "1", NULL), 2);
	assert_non_null(
	    strstr(out, "no account setting named sync_everything"));
	assert_non_null(strstr(out, "`qmail account get " ADDR "` lists them"));
	free(out);
	assert_int_equal(qm(&out, "account", "get", ADDR, "nope", NULL), 2);
	assert_non_null(strstr(out, "lists them"));
	free(out);
	assert_int_not_equal(qm(&out, "account", "set", "nobody@example.org",
	                        "sync_folders", "all", NULL),
	                     0);
	assert_non_null(strstr(out, "nobody@example.org"));
	free(out);
	assert_int_equal(qm(&out, "account", "set", ADDR, "sync_folders", NULL),
	                 2);
	free(out);
	assert_int_equal(
	    qm(&out, "account", "set", ADDR, "header_first", "default", NULL),
	    0);
	free(out);
}

/* `qmail list`: the header-only record carries [headers], the whole one
 * does not. */
static void test_list_marks_headers_only(void **state)
{
	char *out = NULL;
	const char *hdr, *whole, *end;

	(void)state;
	assert_int_equal(qm(&out, "list", NULL), 0);
	hdr = strstr(out, "only the headers");
	whole = strstr(out, "whole message");
	assert_non_null(hdr);
	assert_non_null(whole);
	end = strchr(hdr, '\n');
	assert_non_null(end);
	assert_non_null(strstr(hdr, "[headers]"));
	assert_true(strstr(hdr, "[headers]") < end);
	end = strchr(whole, '\n');
	assert_true(!strstr(whole, "[headers]") ||
	            strstr(whole, "[headers]") > end);
	free(out);
}

/* `qmail identity`: add with name, signature and default, list, remove;
 * the account's own address stays; `send --from` an address that is no
 * identity is refused before anything is queued (issue 15). */
static void test_identity_cli(void **state)
{
	struct qm_store_identity id;
	struct qm_client_opts o;
	struct qm_client *c = NULL;
	struct qm_error e;
	char *out = NULL;

	(void)state;
	assert_int_equal(qm(&out, "identity", "add", "work@example.org",
	                    "--name", "Bob at Work", "--signature",
	                    "Bob\nWork phone", "--default", NULL),
	                 0);
	free(out);
	assert_int_equal(qm(&out, "identity", "list", NULL), 0);
	assert_non_null(strstr(out, "work@example.org (default)\tBob at Work"
	                            "\tsignature: several lines"));
	assert_non_null(strstr(out, ADDR "\t-\tsignature: -"));
	free(out);
	/* a name beside the address, the own address removed: refused */
	assert_int_not_equal(
	    qm(&out, "identity", "add", "Eve <eve@example.org>", NULL), 0);
	assert_non_null(strstr(out, "not one e-mail address"));
	free(out);
	assert_int_not_equal(qm(&out, "identity", "remove", ADDR, NULL), 0);
	assert_non_null(strstr(out, "always one of its identities"));
	free(out);
	assert_int_not_equal(qm(&out, "send", "--to", "carol@example.org",
	                        "--from", "nobody@example.org", "--body-file",
	                        "/dev/null", NULL),
	                     0);
	assert_non_null(strstr(out, "not an identity"));
	free(out);
	/* what the engine reads: the signature with its line end */
	memset(&o, 0, sizeof(o));
	o.home = g_home;
	assert_int_equal(qm_client_open(&o, &c, &e), QM_OK);
	assert_int_equal(qm_client_identity_get(c, g_acct, NULL, &id, &e),
	                 QM_OK);
	assert_string_equal(id.address, "work@example.org");
	assert_string_equal(id.signature, "Bob\nWork phone");
	qm_client_free(&c);
	assert_int_equal(
	    qm(&out, "identity", "remove", "work@example.org", NULL), 0);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_lists_all),
	    cmocka_unit_test(test_set_each),
	    cmocka_unit_test(test_set_refused),
	    cmocka_unit_test(test_list_marks_headers_only),
	    cmocka_unit_test(test_identity_cli),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
