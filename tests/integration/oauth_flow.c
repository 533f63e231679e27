/* SPDX-License-Identifier: MIT */
/*
 * OAuth2 sign-in through the engine against real servers (issue 17): the
 * authorization server oidc-provider (tests/lib/idp.h; its robot plays
 * the user's browser) and Dovecot validating its tokens by introspection
 * for IMAP and submission (tests/lib/mailserver.h). Alice signs in with
 * the code flow (PKCE, the engine's loopback listener, endpoints from
 * discovery), the tokens are stored on her account, and she syncs and
 * sends with SASL OAUTHBEARER/XOAUTH2. Access tokens live 5 seconds: a
 * sync after expiry renews silently (one refresh grant at the server); an
 * access token revoked while the engine thinks it good is refused, renewed
 * once and the sync succeeds (IMAP and POP3); a revoked refresh token gives
 * QM_ERR_DENIED with QM_HINT_SIGN_IN, the message stays queued, and after a new
 * sign-in the outbox sends it. The device grant signs in too. Bob's token on
 * alice's account is refused by the server and reported so. Two clones
 * renewing at once keep a rotated refresh token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "harness.h"
#include "idp.h"
#include "mailserver.h"
#include "qmtest.h"
#include "store/store.h"

#define ALICE      0
#define BOB        1
#define CAROL      2
#define PASS       "correct horse battery staple"
#define ACCESS_TTL 5

static struct qmt_idp IDP;
static struct qmt_mail M;
static struct qm_client *C;
static int64_t ACCT;
static char dir[512], home[700];
static int skipped;
static struct qm_client_oauth_endpoints EP;
static struct qm_client_oauth_app APP;

static int setup(void **state)
{
	struct qmt_idp_opts io;
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_error e;
	int r;

	(void)state;
	memset(&io, 0, sizeof(io));
	io.access_ttl = ACCESS_TTL;
	setenv("QM_STORE_KDF", "fast", 1);
	/* the authorization server's CA is not the mail servers': the
	 * command must use each where it belongs */
	r = qmt_idp_mail_start(&IDP, &io, &M, 0);
	if (r == 1) {
		skipped = 1;
		return 0;
	}
	if (r != 0 || qmt_tmpdir("oauth-flow", dir, sizeof(dir)))
		return -1;
	snprintf(home, sizeof(home), "%s/home", dir);
	memset(&o, 0, sizeof(o));
	o.home = home;
	qm_error_clear(&e);
	if (qm_client_open(&o, &C, &e) ||
	    qm_client_init(C, PASS, strlen(PASS), &e))
		return -1;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, qmt_mail_addr(ALICE), sizeof(a.address));
	qm_strlcpy(a.smtp.host, "127.0.0.1", sizeof(a.smtp.host));
	a.smtp.port = M.submission_port;
	a.smtp.tls = QM_TLS_STARTTLS;
	qm_strlcpy(a.imap.host, "127.0.0.1", sizeof(a.imap.host));
	a.imap.port = M.imaps_port;
	a.imap.tls = QM_TLS_IMPLICIT;
	qm_strlcpy(a.pop3.host, "127.0.0.1", sizeof(a.pop3.host));
	a.pop3.port = M.pop3s_port;
	a.pop3.tls = QM_TLS_IMPLICIT;
	a.default_level = 3;
	a.auth = QM_AUTH_OAUTH2;
	if (qm_client_account_add(C, &a, NULL, 0, &e) ||
	    qm_client_setting_set(C, a.id, "mail_ca", M.ca_file, &e) ||
	    qm_client_setting_set(C, a.id, "save_sent", "0", &e)) {
		fprintf(stderr, "setup: %s\n", qm_error_msg(&e));
		return -1;
	}
	ACCT = a.id;
	/* the endpoints as a user's issuer URL gives them */
	memset(&EP, 0, sizeof(EP));
	qm_strlcpy(EP.scope, QMT_IDP_SCOPE, sizeof(EP.scope));
	if (qm_client_oauth_discover(IDP.issuer, IDP.ca_file, &EP, &e)) {
		fprintf(stderr, "setup: %s\n", qm_error_msg(&e));
		return -1;
	}
	APP.client_id = QMT_IDP_CLIENT;
	APP.ca_file = IDP.ca_file;
	/* oidc-provider gives a refresh token (offline_access) only with
	 * consent asked for: a provider quirk, as Google's */
	APP.auth_params = "prompt=consent";
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qm_client_free(&C);
	qmt_idp_mail_stop(&IDP, &M);
	if (dir[0])
		qmt_rmtree(dir);
	return 0;
}

struct browser {
	const char *url, *user;
	int rc;
};

static void *browse(void *arg)
{
	struct browser *b = arg;

	b->rc = qmt_idp_browser(&IDP, b->url, b->user, 0);
	return NULL;
}

/* The code flow with the robot as user in a thread; tokens into *t. */
static void sign_in(const char *user, struct qm_client_oauth_tokens *t)
{
	struct qm_client_oauth_flow *f = NULL;
	struct browser b;
	struct qm_error e;
	pthread_t th;

	assert_ok(
	    qm_client_oauth_begin(&EP, &APP, qmt_mail_addr(ALICE), &f, &e));
	b.url = qm_client_oauth_flow_url(f);
	b.user = user;
	b.rc = -1;
	assert_int_equal(pthread_create(&th, NULL, browse, &b), 0);
	assert_ok(qm_client_oauth_flow_wait(f, 60000, t, &e));
	pthread_join(th, NULL);
	assert_int_equal(b.rc, 0);
	qm_client_oauth_flow_free(&f);
	assert_non_null(t->access);
}

static void store_sign_in(const char *user)
{
	struct qm_client_oauth_tokens t;
	struct qm_error e;

	sign_in(user, &t);
	assert_non_null(t.refresh);
	assert_ok(qm_client_account_oauth_set(C, ACCT, &EP, &APP, &t, &e));
	qm_client_oauth_tokens_wipe(&t);
}

static enum qm_err sync_alice(struct qm_error *e)
{
	struct qm_client_sync_stats st;

	qm_error_clear(e);
	return qm_client_sync(C, ACCT, NULL, NULL, &st, e);
}

/* A stored secret of alice's account as a string (malloc'd). */
static char *stored(enum qm_store_secret kind)
{
	struct qm_buf b;
	struct qm_error e;
	char *s;

	qm_buf_init_secure(&b, 64 * 1024);
	assert_ok(qm_store_secret_get(qm_client_store(C), ACCT, kind, &b, &e));
	s = strndup((const char *)b.data, b.len);
	qm_buf_free(&b);
	return s;
}

static long refreshes(int failed)
{
	return qmt_idp_grants(&IDP, "refresh_token", failed);
}

static void send_plain(const char *subject, enum qm_err *rc, struct qm_error *e)
{
	const char *to[] = {qmt_mail_addr(CAROL)};
	struct qm_client_compose m;
	struct qm_client_sent sent;

	memset(&m, 0, sizeof(m));
	memset(&sent, 0, sizeof(sent));
	m.account_id = ACCT;
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = "Sent with an OAuth2 sign-in.\n";
	m.allow_plain = 1;
	qm_error_clear(e);
	*rc = qm_client_send(C, &m, NULL, NULL, &sent, e);
}

/* Code flow, tokens stored, a sync (IMAP) and a send (submission). */
static void test_code_flow_sync_send(void **state)
{
	struct qm_store_account a;
	struct qm_error e;
	enum qm_err rc;
	long codes;

	(void)state;
	if (skipped)
		skip();
	codes = qmt_idp_grants(&IDP, "authorization_code", 0);
	store_sign_in("alice");
	assert_int_equal(qmt_idp_grants(&IDP, "authorization_code", 0),
	                 codes + 1);
	assert_ok(qm_client_account_get(C, ACCT, &a, &e));
	assert_int_equal(a.auth, QM_AUTH_OAUTH2);
	assert_string_equal(a.oauth_token_url, IDP.token_url);
	assert_string_equal(a.oauth_client_id, QMT_IDP_CLIENT);
	assert_true(a.oauth_expires > qm_now() &&
	            a.oauth_expires <= qm_now() + ACCESS_TTL + 1);
	assert_ok(sync_alice(&e));
	send_plain("OAuth2 send", &rc, &e);
	if (rc)
		fail_msg("send: %s", qm_error_msg(&e));
	assert_true(qmt_mail_wait_files(&M, CAROL, NULL, 1, 30000) >= 1);
}

/* A sync after the access token expired renews it without a word. */
static void test_expired_token_renewed(void **state)
{
	struct qm_error e;
	char *old, *now;
	long before;

	(void)state;
	if (skipped)
		skip();
	old = stored(QM_SECRET_OAUTH_ACCESS);
	/* the server's view decides: wait until it says the token is dead */
	for (int i = 0; i < 200 && qmt_idp_introspect(&IDP, old, NULL, 0) != 0;
	     i++)
		poll(NULL, 0, 50);
	assert_int_equal(qmt_idp_introspect(&IDP, old, NULL, 0), 0);
	before = refreshes(0);
	assert_ok(sync_alice(&e));
	/* one, or two when the sync outlived half the new token's life */
	assert_true(refreshes(0) >= before + 1);
	now = stored(QM_SECRET_OAUTH_ACCESS);
	assert_string_not_equal(old, now);
	free(old);
	free(now);
}

/* Revoked at the server while the engine thinks it good for an hour:
 * the login is refused, renewed once, and the sync goes through. */
static void test_revoked_access_refused_then_renewed(void **state)
{
	struct qm_store_account a;
	struct qm_error e;
	char *tok;
	long before;

	(void)state;
	if (skipped)
		skip();
	assert_ok(qm_client_account_oauth_renew(C, ACCT, 1, &e));
	tok = stored(QM_SECRET_OAUTH_ACCESS);
	assert_int_equal(qmt_idp_revoke(&IDP, tok), 0);
	assert_ok(qm_store_account_get(qm_client_store(C), ACCT, &a, &e));
	a.oauth_issued = qm_now();
	a.oauth_expires = qm_now() + 3600;
	assert_ok(qm_store_account_update(qm_client_store(C), &a, &e));
	before = refreshes(0);
	assert_ok(sync_alice(&e));
	assert_true(refreshes(0) >= before + 1);
	assert_int_equal(refreshes(1), 0); /* none refused on the way */
	free(tok);
}

/* POP3 too: a token revoked while the engine thinks it good is refused
 * at the POP3 login, renewed once, and the sync goes through. */
static void test_pop3_refused_then_renewed(void **state)
{
	struct qm_store_account a;
	struct qm_error e;
	char *tok;
	long before;

	(void)state;
	if (skipped)
		skip();
	assert_ok(qm_client_setting_set(C, ACCT, "incoming", "pop3", &e));
	assert_ok(qm_client_account_oauth_renew(C, ACCT, 1, &e));
	tok = stored(QM_SECRET_OAUTH_ACCESS);
	assert_int_equal(qmt_idp_revoke(&IDP, tok), 0);
	assert_ok(qm_store_account_get(qm_client_store(C), ACCT, &a, &e));
	a.oauth_issued = qm_now();
	a.oauth_expires = qm_now() + 3600;
	assert_ok(qm_store_account_update(qm_client_store(C), &a, &e));
	before = refreshes(0);
	if (sync_alice(&e))
		fail_msg("POP3 sync: %s", qm_error_msg(&e));
	assert_true(refreshes(0) >= before + 1);
	assert_ok(qm_client_setting_set(C, ACCT, "incoming", "imap", &e));
	free(tok);
}

struct renewer {
	struct qm_client *c;
	enum qm_err rc;
	struct qm_error e;
};

static void *renew(void *arg)
{
	struct renewer *r = arg;

	qm_error_clear(&r->e);
	r->rc = qm_client_account_oauth_renew(r->c, ACCT, 1, &r->e);
	return NULL;
}

/* The GUI's sync and send renewing at the same moment, each with its own
 * handle: the refresh token rotates at every use (a reused old one kills
 * the grant), and both succeed; the stored one still works afterwards. */
static void test_concurrent_renewals_keep_rotated_token(void **state)
{
	struct renewer r[2];
	pthread_t th[2];
	struct qm_error e;
	char *rt0, *rt1;

	(void)state;
	if (skipped)
		skip();
	rt0 = stored(QM_SECRET_OAUTH_REFRESH);
	for (int i = 0; i < 2; i++) {
		assert_ok(qm_client_clone(C, &r[i].c, &e));
		assert_int_equal(pthread_create(&th[i], NULL, renew, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		if (r[i].rc)
			fail_msg("renewal %d: %s", i, qm_error_msg(&r[i].e));
		qm_client_free(&r[i].c);
	}
	rt1 = stored(QM_SECRET_OAUTH_REFRESH);
	assert_string_not_equal(rt0, rt1); /* rotated, and kept */
	assert_ok(qm_client_account_oauth_renew(C, ACCT, 1, &e));
	assert_ok(sync_alice(&e));
	free(rt0);
	free(rt1);
}

/* The refresh token revoked: the sign-in has ended. The message waits in
 * the outbox (queued, not failed); after a new sign-in it goes. */
static void test_revoked_refresh_sign_in_again(void **state)
{
	struct qm_client_outbox_item *items = NULL;
	struct qm_error e;
	enum qm_err rc;
	char *rt, want[200];
	size_t n = 0;
	int64_t id = 0;
	int sent = 0, found = 0;

	(void)state;
	if (skipped)
		skip();
	rt = stored(QM_SECRET_OAUTH_REFRESH);
	assert_int_equal(qmt_idp_revoke(&IDP, rt), 0); /* the whole grant */
	free(rt);
	snprintf(want, sizeof(want), "sign in to %s again",
	         qmt_mail_addr(ALICE));

	assert_int_equal(qm_client_account_signin_needed(C, ACCT), 0);
	assert_int_equal(sync_alice(&e), QM_ERR_DENIED);
	assert_int_equal(e.hint, QM_HINT_SIGN_IN);
	assert_string_equal(e.hint_arg, qmt_mail_addr(ALICE));
	assert_has(qm_error_msg(&e), want);
	/* remembered for the interfaces (the GUI's banner) */
	assert_int_equal(qm_client_account_signin_needed(C, ACCT), 1);

	send_plain("Waits for the sign-in", &rc, &e);
	assert_int_equal(rc, QM_ERR_DENIED);
	assert_int_equal(e.hint, QM_HINT_SIGN_IN);
	assert_has(qm_error_msg(&e), want);
	assert_ok(qm_client_outbox_list(C, ACCT, &items, &n, &e));
	for (size_t i = 0; i < n; i++)
		if (items[i].subject &&
		    strcmp(items[i].subject, "Waits for the sign-in") == 0) {
			found = 1;
			id = items[i].id;
			assert_int_not_equal(items[i].state, QM_OUTBOX_FAILED);
			assert_int_not_equal(items[i].state, QM_OUTBOX_SENT);
			assert_true(items[i].can_retry);
		}
	qm_client_outbox_items_free(&items, n);
	assert_true(found);

	store_sign_in("alice");
	assert_int_equal(qm_client_account_signin_needed(C, ACCT), 0);
	assert_ok(qm_client_outbox_retry(C, id, &sent, &e));
	assert_int_equal(sent, 1);
	assert_true(qmt_mail_wait_files(&M, CAROL, NULL, 2, 30000) >= 2);
	assert_ok(sync_alice(&e));
}

struct device_user {
	char uri[QM_STORE_PATHMAX], code[128];
	int rc;
};

static void *device_user(void *arg)
{
	struct device_user *d = arg;

	d->rc = qmt_idp_device(&IDP, d->uri, d->code, "alice", 0);
	return NULL;
}

/* The device grant (RFC 8628): polled until the user approves. */
static void test_device_grant(void **state)
{
	struct qm_client_oauth_flow *f = NULL;
	struct qm_client_oauth_device dv;
	struct qm_client_oauth_tokens t;
	struct device_user d;
	struct qm_error e;
	pthread_t th;
	enum qm_err rc;

	(void)state;
	if (skipped)
		skip();
	assert_true(EP.device_url[0] != '\0');
	assert_ok(qm_client_oauth_device_begin(&EP, &APP, &f, &e));
	qm_client_oauth_flow_device(f, &dv);
	assert_true(dv.user_code[0] && dv.interval > 0);
	assert_true(strncmp(dv.verification_uri, "https://", 8) == 0);
	qm_strlcpy(d.uri, dv.verification_uri, sizeof(d.uri));
	qm_strlcpy(d.code, dv.user_code, sizeof(d.code));
	d.rc = -1;
	/* nobody has approved yet: a short wait says "still waiting" */
	assert_int_equal(qm_client_oauth_flow_wait(f, 100, &t, &e),
	                 QM_ERR_TIMEOUT);
	assert_int_equal(pthread_create(&th, NULL, device_user, &d), 0);
	/* short waits, as the GUI polls: shorter than the interval */
	do
		rc = qm_client_oauth_flow_wait(f, 1000, &t, &e);
	while (rc == QM_ERR_TIMEOUT && !qm_client_oauth_flow_ended(f));
	pthread_join(th, NULL);
	if (rc)
		fail_msg("device grant: %s", qm_error_msg(&e));
	assert_int_equal(d.rc, 0);
	assert_non_null(t.access);
	assert_ok(qm_client_account_oauth_set(C, ACCT, &EP, &APP, &t, &e));
	qm_client_oauth_tokens_wipe(&t);
	qm_client_oauth_flow_free(&f);
	assert_ok(sync_alice(&e));
}

/* Bob signs in where alice's account asks: the server refuses his token
 * for alice, and says so. */
static void test_token_of_another_user(void **state)
{
	struct qm_error e;
	char want[200];

	(void)state;
	if (skipped)
		skip();
	store_sign_in("bob");
	assert_int_equal(sync_alice(&e), QM_ERR_DENIED);
	assert_int_not_equal(e.hint, QM_HINT_SIGN_IN);
	snprintf(want, sizeof(want), "refused the OAuth2 sign-in for %s",
	         qmt_mail_addr(ALICE));
	assert_has(qm_error_msg(&e), want);
	assert_has(qm_error_msg(&e), "another account");
	/* alice again: all is well */
	store_sign_in("alice");
	assert_ok(sync_alice(&e));
}

/* Signing out (before an account is removed): the grant ends at the
 * provider, no token is kept, the account waits for a sign-in. */
static void test_sign_out_revokes(void **state)
{
	struct qm_buf b;
	struct qm_error e;
	char *rt, *at;

	(void)state;
	if (skipped)
		skip();
	store_sign_in("alice");
	rt = stored(QM_SECRET_OAUTH_REFRESH);
	at = stored(QM_SECRET_OAUTH_ACCESS);
	assert_int_equal(qmt_idp_introspect(&IDP, rt, NULL, 0), 1);
	assert_ok(qm_client_account_oauth_revoke(C, ACCT, &e));
	assert_int_equal(qmt_idp_introspect(&IDP, rt, NULL, 0), 0);
	assert_int_equal(qmt_idp_introspect(&IDP, at, NULL, 0), 0);
	qm_buf_init_secure(&b, 64 * 1024);
	assert_int_equal(qm_store_secret_get(qm_client_store(C), ACCT,
	                                     QM_SECRET_OAUTH_REFRESH, &b, &e),
	                 QM_ERR_NOTFOUND);
	qm_buf_free(&b);
	assert_int_equal(qm_client_account_signin_needed(C, ACCT), 1);
	/* nothing left to end: a second sign-out is no error */
	assert_ok(qm_client_account_oauth_revoke(C, ACCT, &e));
	free(rt);
	free(at);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_code_flow_sync_send),
	    cmocka_unit_test(test_expired_token_renewed),
	    cmocka_unit_test(test_revoked_access_refused_then_renewed),
	    cmocka_unit_test(test_pop3_refused_then_renewed),
	    cmocka_unit_test(test_concurrent_renewals_keep_rotated_token),
	    cmocka_unit_test(test_revoked_refresh_sign_in_again),
	    cmocka_unit_test(test_device_grant),
	    cmocka_unit_test(test_token_of_another_user),
	    cmocka_unit_test(test_sign_out_revokes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
