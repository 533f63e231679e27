/* SPDX-License-Identifier: MIT */
/*
 * OAuth2 sign-in with the qmail command line against the real
 * authorization server (tests/lib/idp.h) and Dovecot checking its tokens:
 * `qmail account add --oauth2` prints the URL ("url: ..."), the robot
 * plays the browser on it, the command gets the redirect on 127.0.0.1 and
 * adds the account; `qmail sync` then logs in with the token. `qmail
 * account signin ADDR --device` prints the user code and polls until the
 * robot approves it. With the refresh token revoked at the server, `qmail
 * sync` exits 3 with "sign in to ADDR again: qmail account signin ADDR".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "harness.h"
#include "idp.h"
#include "mailserver.h"
#include "qmtest.h"
#include "store/store.h"

#define PASS "correct horse battery staple"

static struct qmt_idp IDP;
static struct qmt_mail M;
static char dir[512], home[700], bin[700], pwfile[700];
static int skipped;

/* qmail --home home -q ARGS... NULL; output into *out when out. */
static int qm(const char *h, char **out, ...)
{
	va_list ap;
	int rc;

	va_start(ap, out);
	rc = qmt_qmail_va(h, out, ap);
	va_end(ap);
	return rc;
}

static int setup(void **state)
{
	struct qmt_idp_opts io;
	int r;

	(void)state;
	memset(&io, 0, sizeof(io));
	io.access_ttl = 5;
	setenv("QM_STORE_KDF", "fast", 1);
	setenv("QMAIL_NO_BROWSER", "1", 1);
	/* the authorization server's CA is not the mail servers': the
	 * command must use each where it belongs */
	r = qmt_idp_mail_start(&IDP, &io, &M, 0);
	if (r == 1) {
		skipped = 1;
		return 0;
	}
	if (r != 0 || qmt_tmpdir("cli-oauth", dir, sizeof(dir)))
		return -1;
	snprintf(home, sizeof(home), "%s/home", dir);
	snprintf(pwfile, sizeof(pwfile), "%s/passphrase", dir);
	snprintf(bin, sizeof(bin), "%s/src/cli/qmail", qmt_binary_dir());
	if (qmt_write_file(pwfile, PASS "\n"))
		return -1;
	setenv("QMAIL_PASSPHRASE_FILE", pwfile, 1);
	return qm(home, NULL, "init", NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	qmt_idp_mail_stop(&IDP, &M);
	if (dir[0])
		qmt_rmtree(dir);
	return 0;
}

/* A qmail command running, its output in log. Spawned from the main
 * thread (tests/lib/harness.h: it dies with the test). */
struct run {
	char *argv[40];
	char log[800];
	pid_t pid;
};

/* Waits for the command to end; its exit code, -1 when killed. */
static int finish(struct run *r)
{
	siginfo_t si;
	int st;

	memset(&si, 0, sizeof(si));
	/* ended, not reaped yet: qmt_stop reaps it and forgets it */
	waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOWAIT);
	st = qmt_stop(r->pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The value of the first line "key: value" of the log, waiting for it. */
static int log_value(const char *log, const char *key, char *out, size_t outlen)
{
	for (int i = 0; i < 600; i++) {
		char *t = qmt_read_file(log, NULL), *p;

		if (t && (p = strstr(t, key)) && strchr(p, '\n')) {
			size_t n;

			p += strlen(key);
			n = strcspn(p, "\n");
			if (n < outlen) {
				memcpy(out, p, n);
				out[n] = '\0';
				free(t);
				return 0;
			}
		}
		free(t);
		poll(NULL, 0, 50);
	}
	return -1;
}

static void start(struct run *r, const char *name, const char *const *args)
{
	size_t k = 0;

	r->argv[k++] = bin;
	r->argv[k++] = "--home";
	r->argv[k++] = home;
	r->argv[k++] = "-q";
	for (size_t i = 0; args[i] && k < 39; i++)
		r->argv[k++] = (char *)(uintptr_t)args[i];
	r->argv[k] = NULL;
	snprintf(r->log, sizeof(r->log), "%s/%s.log", dir, name);
	remove(r->log);
	r->pid = qmt_spawn(r->argv, NULL, r->log);
	assert_true(r->pid > 0);
}

static void show_log(const struct run *r)
{
	char *t = qmt_read_file(r->log, NULL);

	fprintf(stderr, "--- %s:\n%s\n", r->log, t ? t : "(none)");
	free(t);
}

static void test_add_oauth2_browser(void **state)
{
	char smtp[64], imap[64], url[8192];
	const char *args[] = {"account",
	                      "add",
	                      "--address",
	                      qmt_mail_addr(0),
	                      "--oauth2",
	                      "--client-id",
	                      QMT_IDP_CLIENT,
	                      "--oauth-issuer",
	                      IDP.issuer,
	                      "--oauth-ca",
	                      IDP.ca_file,
	                      "--oauth-scope",
	                      QMT_IDP_SCOPE,
	                      "--oauth-auth-params",
	                      "prompt=consent",
	                      "--smtp",
	                      smtp,
	                      "--smtp-tls",
	                      "starttls",
	                      "--imap",
	                      imap,
	                      "--imap-tls",
	                      "tls",
	                      "--mail-ca",
	                      M.ca_file,
	                      "--no-save-sent",
	                      "--level",
	                      "3",
	                      NULL};
	struct run r;
	char *out = NULL;
	int rc;

	(void)state;
	if (skipped)
		skip();
	snprintf(smtp, sizeof(smtp), "127.0.0.1:%d", M.submission_port);
	snprintf(imap, sizeof(imap), "127.0.0.1:%d", M.imaps_port);
	start(&r, "add", args);
	if (log_value(r.log, "url: ", url, sizeof(url))) {
		qmt_stop(r.pid);
		show_log(&r);
		fail_msg("no url: line");
	}
	assert_true(strncmp(url, IDP.auth_url, strlen(IDP.auth_url)) == 0);
	assert_int_equal(qmt_idp_browser(&IDP, url, "alice", 0), 0);
	rc = finish(&r);
	if (rc != 0)
		show_log(&r);
	assert_int_equal(rc, 0);
	out = qmt_read_file(r.log, NULL);
	assert_has(out, "account alice@qmail.test added");
	free(out);
	out = NULL;
	assert_int_equal(qm(home, &out, "sync", NULL), 0);
	free(out);
}

static void test_signin_device(void **state)
{
	const char *args[] = {"account", "signin", qmt_mail_addr(0), "--device",
	                      NULL};
	char code[128], uri[1024];
	struct run r;
	char *out = NULL;
	int rc;

	(void)state;
	if (skipped)
		skip();
	start(&r, "device", args);
	if (log_value(r.log, "user_code: ", code, sizeof(code)) ||
	    log_value(r.log, "verification_uri: ", uri, sizeof(uri))) {
		qmt_stop(r.pid);
		show_log(&r);
		fail_msg("no user_code: or verification_uri: line");
	}
	assert_int_equal(qmt_idp_device(&IDP, uri, code, "alice", 0), 0);
	rc = finish(&r);
	if (rc != 0)
		show_log(&r);
	assert_int_equal(rc, 0);
	out = qmt_read_file(r.log, NULL);
	assert_has(out, "signed in to alice@qmail.test");
	free(out);
	out = NULL;
	assert_int_equal(qm(home, &out, "sync", NULL), 0);
	free(out);
}

/* The account's stored refresh token, read with the engine. */
static char *refresh_token(void)
{
	struct qm_client_opts o;
	struct qm_client *c = NULL;
	struct qm_store_account a;
	struct qm_buf b;
	struct qm_error e;
	char *s;

	memset(&o, 0, sizeof(o));
	o.home = home;
	qm_buf_init_secure(&b, 64 * 1024);
	assert_ok(qm_client_open(&o, &c, &e));
	assert_ok(qm_client_unlock(c, PASS, strlen(PASS), &e));
	assert_ok(qm_client_account_find(c, qmt_mail_addr(0), &a, &e));
	assert_ok(qm_store_secret_get(qm_client_store(c), a.id,
	                              QM_SECRET_OAUTH_REFRESH, &b, &e));
	s = strndup((const char *)b.data, b.len);
	qm_buf_free(&b);
	qm_client_free(&c);
	return s;
}

static void test_revoked_refresh_exit_3(void **state)
{
	char *rt, *out = NULL;

	(void)state;
	if (skipped)
		skip();
	rt = refresh_token();
	assert_int_equal(qmt_idp_revoke(&IDP, rt), 0); /* and its tokens */
	free(rt);
	assert_int_equal(qm(home, &out, "sync", NULL), 3);
	assert_has(out, "sign in to alice@qmail.test again");
	assert_has(out, "qmail account signin alice@qmail.test");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_oauth2_browser),
	    cmocka_unit_test(test_signin_device),
	    cmocka_unit_test(test_revoked_refresh_exit_3),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
