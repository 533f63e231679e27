/* SPDX-License-Identifier: MIT */
/*
 * make install, then the installed programs alone (issue 21): the build is
 * installed with `cmake --install` (what `make install` runs) under
 * DESTDIR, a throw-away root, with the prefix /usr. PATH then holds that
 * root's bin and sbin and the system's folders, nothing of the build tree,
 * and the programs are run by name: the KMEs of the test world are the
 * installed qkme, and two people set QMail up with the installed qmail
 * (init, account add against the test mail servers and KMEs, contact
 * add), one sends at level 2 and the other syncs and reads it. Also: both
 * --version, the manual pages, docs, units and completion are in place,
 * and the installed completion offers the account's address without
 * asking for a passphrase.
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

#include "harness.h"
#include "world.h"

static struct world W;
static char root[512], homes[2][600], pwfile[600];
static int installed;
static char *last_out;

/* Runs the installed qmail (by name, from PATH) on home h. */
static int qm(int h, ...)
{
	va_list ap;
	int rc;

	free(last_out);
	va_start(ap, h);
	rc = qmt_qmail_va(homes[h], &last_out, ap);
	va_end(ap);
	return rc;
}

static int qmv(int h, const char **args, int nargs)
{
	free(last_out);
	return qmt_qmail(homes[h], &last_out, args, (size_t)nargs);
}

/* Runs argv with what it printed in *out (malloc'd); its exit code. */
static int run(char *const argv[], char **out)
{
	char log[700];
	int rc;

	snprintf(log, sizeof(log), "%s/run.log", root);
	unlink(log);
	rc = qmt_run(argv, log);
	*out = qmt_read_file(log, NULL);
	if (!*out)
		*out = strdup("");
	return rc;
}

/* 1 when root holds the file rel (a path below the prefix /usr). */
static int has(const char *rel)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/usr/%s", root, rel);
	return access(p, F_OK) == 0;
}

static int group_setup(void **state)
{
	const char *cmake = getenv("QMT_CMAKE");
	char path[2048], *out = NULL;
	char *argv[] = {(char *)(uintptr_t)(cmake ? cmake : "cmake"),
	                "--install",
	                (char *)(uintptr_t)qmt_binary_dir(),
	                "--prefix",
	                "/usr",
	                NULL};
	int rc;

	(void)state;
	if (qmt_tmpdir("install", root, sizeof(root)))
		return -1;
	setenv("DESTDIR", root, 1);
	rc = run(argv, &out);
	unsetenv("DESTDIR");
	if (rc != 0) {
		fprintf(stderr, "cmake --install failed (%d):\n%s\n", rc, out);
		free(out);
		return -1;
	}
	free(out);
	installed = 1;
	/* nothing of the build tree: the installed programs, then the
	 * system's (mail servers, openssl) */
	snprintf(path, sizeof(path),
	         "%s/usr/bin:%s/usr/sbin:/usr/local/bin:/usr/bin:/bin:"
	         "/usr/sbin:/sbin",
	         root, root);
	setenv("PATH", path, 1);
	setenv("QMT_QMAIL", "qmail", 1);
	setenv("QMT_QKME", "qkme", 1);
	setenv("QM_STORE_KDF", "fast", 1);
	if (world_setup(&W, "inst", NULL))
		return -1;
	if (W.skipped)
		return 0;
	for (int i = 0; i < 2; i++)
		snprintf(homes[i], sizeof(homes[i]), "%s/home-%d", root, i);
	snprintf(pwfile, sizeof(pwfile), "%s/passphrase", root);
	qmt_write_file(pwfile, "the passphrase of an installed qmail\n");
	setenv("QMAIL_PASSPHRASE_FILE", pwfile, 1);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(last_out);
	last_out = NULL;
	world_stop(&W);
	if (installed && !getenv("KT_KEEP"))
		qmt_rmtree(root);
	return 0;
}

static void test_installed_files(void **state)
{
	static const char *const files[] = {
	    "bin/qmail",
	    "sbin/qkme",
	    "share/man/man1/qmail.1",
	    "share/man/man8/qkme.8",
	    "share/man/man5/qkme.conf.5",
	    "share/man/man7/qmail-levels.7",
	    "share/doc/qmail/README.md",
	    "share/doc/qmail/docs/USING.md",
	    "share/doc/qmail/docs/KME.md",
	    "share/bash-completion/completions/qmail",
	    "lib/systemd/system/qkme@.service",
	    "lib/systemd/user/qmail-web.service",
	    "lib/systemd/user/qmail-sync.service"};
	char *argv[3] = {NULL, "--version", NULL}, *out, unit[1024], *text;

	(void)state;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!has(files[i]))
			fail_msg("make install left out %s", files[i]);
	argv[0] = "qmail";
	assert_int_equal(run(argv, &out), 0);
	assert_non_null(strstr(out, "qmail 0."));
	free(out);
	argv[0] = "qkme";
	assert_int_equal(run(argv, &out), 0);
	assert_non_null(strstr(out, "qkme 0."));
	free(out);
	/* the unit starts the qkme of the prefix it was configured for */
	snprintf(unit, sizeof(unit), "%s/usr/lib/systemd/system/qkme@.service",
	         root);
	text = qmt_read_file(unit, NULL);
	assert_non_null(text);
	assert_non_null(strstr(text, "/sbin/qkme run /etc/qkme/%i/qkme.conf"));
	free(text);
}

static void test_scenario(void **state)
{
	char body[700], *o;

	(void)state;
	if (W.skipped)
		skip();
	for (int u = 0; u < 2; u++) {
		const char *args[48];
		int n = 0;

		assert_int_equal(qm(u, "init", NULL), 0);
		args[n++] = "account";
		args[n++] = "add";
		n += world_account_args(&W, u, args + n);
		assert_int_equal(qmv(u, args, n), 0);
		assert_int_equal(qm(u, "contact", "add", qmt_mail_addr(1 - u),
		                    "--sae", W.sae[1 - u], NULL),
		                 0);
	}
	snprintf(body, sizeof(body), "%s/body.txt", root);
	qmt_write_file(body, "From the installed qmail. INSTALL-MARKER-21\n");
	assert_int_equal(qm(0, "send", "--to", qmt_mail_addr(W_BOB),
	                    "--subject", "installed, level 2", "--body-file",
	                    body, "--level", "2", NULL),
	                 0);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, 1, 30000) >= 1);
	assert_int_equal(qm(1, "sync", NULL), 0);
	assert_int_equal(qm(1, "list", "--snippets", NULL), 0);
	o = last_out;
	assert_non_null(strstr(o, "installed, level 2"));
	assert_non_null(strstr(o, "L2-QAES"));
	assert_non_null(strstr(o, "INSTALL-MARKER-21"));
}

/* The installed completion: `qmail --home H account test <TAB>` offers the
 * account's address, and `qmail send --le<TAB>` the option, with no
 * passphrase anywhere in the environment (nothing could answer a prompt:
 * the vault stays locked). */
static void test_completion(void **state)
{
	char script[2048], *out;
	char *argv[] = {"bash", "-c", script, NULL};

	(void)state;
	if (W.skipped)
		skip();
	snprintf(script, sizeof(script),
	         "unset QMAIL_PASSPHRASE_FILE QMAIL_PASSPHRASE; "
	         ". '%s/usr/share/bash-completion/completions/qmail'; "
	         "c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _qmail; "
	         "printf '%%s\\n' \"${COMPREPLY[@]}\"; }; "
	         "c qmail --home '%s' account test ''; "
	         "c qmail send --le </dev/null",
	         root, homes[0]);
	assert_int_equal(run(argv, &out), 0);
	if (!strstr(out, qmt_mail_addr(W_ALICE)) || !strstr(out, "--level"))
		fail_msg("completion offered:\n%s", out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_installed_files),
	    cmocka_unit_test(test_scenario),
	    cmocka_unit_test(test_completion),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
