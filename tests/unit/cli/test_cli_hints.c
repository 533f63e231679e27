/* SPDX-License-Identifier: MIT */
/*
 * The CLI's own words for the client engine's hints (issue 13, item 2):
 * the engine's message says what happened in terms of the thing, and the
 * real qmail program adds what to type. A home with an account whose
 * mail servers and KME are closed ports on 127.0.0.1, so nothing leaves
 * the machine: sending at level 2 to an address without an SAE ID, at
 * level 3 to one without a public key, and at level 1 from an account
 * without a KME each print the engine's message, then "qmail: hint: "
 * with the command to run. Carol has an SAE ID (no key), erin a key (no
 * SAE ID); zoe neither, so she could get only a plain message: the hint
 * says --plain (issue 15).
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
#include "core/core.h"
#include "harness.h"

#define PASS "correct horse battery staple"

static char g_home[512], g_bin[1024], g_out[600], g_body[600];

static int setup(void **state)
{
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_client *c = NULL;
	struct qm_error e;

	(void)state;
	setenv("QM_STORE_KDF", "fast", 1);
	setenv("QMAIL_PASSPHRASE", PASS, 1);
	unsetenv("QMAIL_PASSPHRASE_FILE");
	snprintf(g_bin, sizeof(g_bin), "%s/src/cli/qmail", qmt_binary_dir());
	if (qmt_tmpdir("cli-hints", g_home, sizeof(g_home)))
		return -1;
	snprintf(g_out, sizeof(g_out), "%s/out.txt", g_home);
	snprintf(g_body, sizeof(g_body), "%s/body.txt", g_home);
	if (qmt_write_file(g_body, "hello\n"))
		return -1;
	memset(&o, 0, sizeof(o));
	o.home = g_home;
	if (qm_client_open(&o, &c, &e) ||
	    qm_client_init(c, PASS, strlen(PASS), &e))
		return -1;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	qm_strlcpy(a.smtp.host, "127.0.0.1", sizeof(a.smtp.host));
	a.smtp.port = qmt_free_port();
	a.smtp.tls = QM_TLS_NONE;
	snprintf(a.kme_url, sizeof(a.kme_url), "https://127.0.0.1:%d",
	         qmt_free_port());
	qm_strlcpy(a.sae_id, "SAE_A", sizeof(a.sae_id));
	struct qm_store_contact ct;
	struct qm_buf arm;
	char fpr[QM_STORE_FPRMAX];
	enum qm_store_trust t;
	int bad;

	if (qm_client_account_add(c, &a, "pw", 2, &e))
		return -1;
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "carol@example.org", sizeof(ct.address));
	qm_strlcpy(ct.sae_id, "SAE_C", sizeof(ct.sae_id));
	ct.confirmed = 1;
	if (qm_client_contact_put(c, a.id, &ct, &e))
		return -1;
	/* alice's own public key, imported as erin's */
	qm_buf_init(&arm, 1 << 20);
	bad =
	    qm_client_key_export(c, a.id, &arm, &e) ||
	    qm_client_key_import(c, "erin@example.org", (const char *)arm.data,
	                         arm.len, fpr, &t, &e);
	qm_buf_free(&arm);
	if (bad)
		return -1;
	/* a second account, without a KME */
	memset(a.kme_url, 0, sizeof(a.kme_url));
	qm_strlcpy(a.address, "nokme@example.org", sizeof(a.address));
	if (qm_client_account_add(c, &a, "pw", 2, &e))
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

/* Runs qmail with args (NULL-terminated); its output (stdout and stderr,
 * malloc'd) in *out. Returns the exit code. */
static int run(char **out, ...)
{
	char *argv[24];
	va_list ap;
	const char *a;
	struct qm_buf b;
	int n = 0, rc;

	argv[n++] = g_bin;
	argv[n++] = "--home";
	argv[n++] = g_home;
	argv[n++] = "-q";
	va_start(ap, out);
	while ((a = va_arg(ap, const char *)) && n < 23)
		argv[n++] = (char *)(uintptr_t)a;
	va_end(ap);
	argv[n] = NULL;
	qmt_write_file(g_out, "");
	rc = qmt_run(argv, g_out);
	qm_buf_init(&b, 1 << 20);
	assert_int_equal(qm_file_read(g_out, 1 << 20, &b, NULL), QM_OK);
	assert_int_equal(qm_buf_append_byte(&b, 0, NULL), QM_OK);
	*out = (char *)b.data;
	printf("  exit %d:\n%s", rc, *out);
	return rc;
}

static void assert_has(const char *s, const char *want)
{
	if (!strstr(s, want))
		fail_msg("\"%s\" lacks \"%s\"", s, want);
}

static void test_contact_sae_missing(void **state)
{
	char *o = NULL;

	(void)state;
	assert_int_equal(run(&o, "send", "--to", "erin@example.org", "--level",
	                     "2", "--body-file", g_body, NULL),
	                 1);
	/* the engine's words: what happened, in terms of the contact */
	assert_has(o, "qmail: no SAE ID is known for erin@example.org");
	/* the CLI's: what to type */
	assert_has(o, "qmail: hint: run `qmail contact add erin@example.org "
	              "--sae ID`");
	free(o);
}

static void test_key_missing(void **state)
{
	char *o = NULL;

	(void)state;
	assert_int_equal(run(&o, "send", "--to", "carol@example.org", "--level",
	                     "3", "--body-file", g_body, NULL),
	                 1);
	assert_has(o, "qmail: no public key is known for carol@example.org");
	assert_has(o, "qmail: hint: the key comes with the first message "
	              "carol@example.org sends you; or import the key "
	              "carol@example.org sent you with `qmail keys import "
	              "FILE --address carol@example.org`");
	free(o);
}

static void test_account_kme(void **state)
{
	char *o = NULL;

	(void)state;
	assert_int_equal(run(&o, "send", "--account", "nokme@example.org",
	                     "--to", "erin@example.org", "--level", "1",
	                     "--body-file", g_body, NULL),
	                 1);
	assert_has(o, "qmail: levels 1 and 2 need a KME: account "
	              "nokme@example.org has none configured");
	assert_has(o, "qmail: hint: an account gets its KME with the --kme, "
	              "--kme-ca, --kme-cert, --kme-key and --sae options of "
	              "`qmail account add`");
	free(o);
}

/* Zoe has no key and no SAE ID: refused (exit 6), named, and the hint says
 * --plain; nothing is queued. */
static void test_plain_needed(void **state)
{
	char *o = NULL;

	(void)state;
	assert_int_equal(run(&o, "send", "--to", "Zoe <zoe@example.org>",
	                     "--to", "carol@example.org", "--level", "2",
	                     "--body-file", g_body, NULL),
	                 6);
	assert_has(o, "qmail: zoe@example.org cannot get an encrypted "
	              "message: no public key and no SAE ID is known for it");
	assert_has(o, "qmail: hint: add --plain to send it to "
	              "zoe@example.org unencrypted");
	free(o);
	assert_int_equal(run(&o, "outbox", NULL), 0);
	if (strstr(o, "zoe@example.org"))
		fail_msg("queued all the same:\n%s", o);
	free(o);
}

/* Issue 16: --to takes an address list as typed, as the GUI's field does;
 * an entry that is no address is a usage error that names it, and nothing
 * is queued. */
static void test_to_list(void **state)
{
	char *o = NULL;

	(void)state;
	assert_int_equal(run(&o, "send", "--to",
	                     "\"Doe, Jane\" <carol@example.org>; bob@", "--level",
	                     "2", "--body-file", g_body, NULL),
	                 2);
	assert_has(o, "\"bob@\" in --to is not an email address");
	free(o);
	assert_int_equal(run(&o, "send", "--cc", "carol@example.org", "--to",
	                     "Zoe <zoe@example.org>, Erin <erin@example.org>",
	                     "--level", "2", "--body-file", g_body, NULL),
	                 6);
	/* both To entries were read: each is named as one the level cannot
	 * reach (zoe first) */
	assert_has(o, "zoe@example.org");
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_contact_sae_missing),
	    cmocka_unit_test(test_key_missing),
	    cmocka_unit_test(test_account_kme),
	    cmocka_unit_test(test_plain_needed),
	    cmocka_unit_test(test_to_list),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
