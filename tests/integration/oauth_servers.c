/* SPDX-License-Identifier: MIT */
/*
 * The OAuth2 test servers as a client sees them, without QMail: the
 * authorization server (tests/lib/idp.h, oidc-provider under node) issues
 * alice's tokens through the code flow with PKCE (a loopback listener and
 * the robot as her browser), and Dovecot (tests/lib/mailserver.h with its
 * oauth2 passdb) takes them over IMAP, POP3 and SMTP submission with SASL
 * XOAUTH2 and OAUTHBEARER, checked by RFC 7662 introspection at every
 * login. Refused: bob's token as alice, a revoked token, an expired one,
 * one without the mail scope, a password as a token and a token as a
 * password. The refresh grant gives a new token that works; a revoked
 * refresh token gives nothing. The device grant, a wrong password and
 * the user's Deny. Plain libcurl on the client side.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "idp.h"
#include "mailserver.h"

/* Short enough to watch a token expire, long enough for a few logins
 * made right after a refresh on a loaded machine. */
#define ACCESS_TTL 4

static struct qmt_idp idp;
static struct qmt_mail srv;
static int have_servers;

enum { ALICE, BOB, CAROL };
enum proto { IMAP, POP3, SMTP };
static const char *const proto_name[] = {"IMAP", "POP3", "SMTP"};

struct upload {
	const char *p;
	size_t left;
};

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nmemb < u->left ? size * nmemb : u->left;

	memcpy(buf, u->p, n);
	u->p += n;
	u->left -= n;
	return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

/*
 * Logs in to proto as user with a bearer token (mech "XOAUTH2" or
 * "OAUTHBEARER") or a password (token NULL, mech "PLAIN"), and does one
 * thing there: IMAP LIST, POP3 LIST, or SMTP sends a short message to
 * alice. tls_port: the implicit TLS port, else STARTTLS. Returns curl's
 * code (CURLE_LOGIN_DENIED when the server refused the login).
 */
static CURLcode login(enum proto p, int tls_port, int user, const char *token,
                      const char *password, const char *mech)
{
	static const char msg[] = "From: <alice@qmail.test>\r\n"
	                          "To: <alice@qmail.test>\r\n"
	                          "Subject: sent with a token\r\n\r\n"
	                          "hello\r\n";
	struct upload up = {msg, sizeof(msg) - 1};
	struct curl_slist *rcpt = NULL;
	char url[128], opts[64];
	const char *scheme;
	int port;
	CURL *h = curl_easy_init();
	CURLcode rc;

	assert_non_null(h);
	switch (p) {
	case IMAP:
		scheme = tls_port ? "imaps" : "imap";
		port = tls_port ? srv.imaps_port : srv.imap_port;
		break;
	case POP3:
		scheme = tls_port ? "pop3s" : "pop3";
		port = tls_port ? srv.pop3s_port : srv.pop3_port;
		break;
	default:
		scheme = tls_port ? "smtps" : "smtp";
		port = tls_port ? srv.submissions_port : srv.submission_port;
		break;
	}
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/", scheme, port);
	snprintf(opts, sizeof(opts), "AUTH=%s", mech);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	curl_easy_setopt(h, CURLOPT_CAINFO, srv.ca_file);
	curl_easy_setopt(h, CURLOPT_USERNAME, qmt_mail_addr(user));
	if (token)
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, token);
	else
		curl_easy_setopt(h, CURLOPT_PASSWORD, password);
	curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, opts);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (p == SMTP) {
		rcpt = curl_slist_append(NULL, "<alice@qmail.test>");
		curl_easy_setopt(h, CURLOPT_MAIL_FROM, "<alice@qmail.test>");
		curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, &up);
	}
	rc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	curl_slist_free_all(rcpt);
	return rc;
}

#define assert_login(call, want)                                               \
	do {                                                                   \
		CURLcode got_ = (call);                                        \
		if (got_ != (want))                                            \
			fprintf(stderr, "%s -> %d (%s), want %d\n", #call,     \
			        (int)got_, curl_easy_strerror(got_),           \
			        (int)(want));                                  \
		assert_int_equal(got_, (want));                                \
	} while (0)

#define NEED_SERVERS()                                                         \
	do {                                                                   \
		if (!have_servers)                                             \
			skip();                                                \
	} while (0)

static int group_setup(void **state)
{
	struct qmt_idp_opts o = {.access_ttl = ACCESS_TTL};
	int r;

	(void)state;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* one CA for every server */
	r = qmt_idp_mail_start(&idp, &o, &srv, 1);
	if (r == 1) {
		fprintf(stderr, "servers unavailable here: skipping\n");
		return 0;
	}
	if (r != 0)
		return -1;
	have_servers = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	qmt_idp_mail_stop(&idp, &srv);
	curl_global_cleanup();
	return 0;
}

/* Whether the space-separated scope list holds word. */
static int has_scope(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return 1;
	return 0;
}

static struct qmt_idp_tokens alice_tokens;

/* alice's tokens, refreshed: a fresh access token for the next logins. */
static void fresh(struct qmt_idp_tokens *t)
{
	struct qmt_idp_tokens n;

	assert_int_equal(qmt_idp_refresh(&idp, QMT_IDP_CLIENT, t->refresh, &n),
	                 0);
	if (!n.refresh[0]) /* not rotated: the old one stays */
		memcpy(n.refresh, t->refresh, sizeof(n.refresh));
	*t = n;
}

/* The code flow, then every protocol with both mechanisms. */
static void test_token_logins(void **state)
{
	struct qmt_idp_tokens *t = &alice_tokens;
	char sub[128];
	long codes, refreshes;

	(void)state;
	NEED_SERVERS();
	codes = qmt_idp_grants(&idp, "authorization_code", 0);
	assert_int_equal(
	    qmt_idp_sign_in(&idp, QMT_IDP_CLIENT, "alice", NULL, t), 0);
	assert_int_equal(qmt_idp_grants(&idp, "authorization_code", 0),
	                 codes + 1);
	assert_true(t->refresh[0]);
	assert_true(has_scope(t->scope, "mail"));
	assert_int_equal(t->expires_in, ACCESS_TTL);
	assert_int_equal(qmt_idp_introspect(&idp, t->access, sub, sizeof(sub)),
	                 1);
	assert_string_equal(sub, "alice@qmail.test");

	for (int p = IMAP; p <= SMTP; p++) {
		refreshes = qmt_idp_grants(&idp, "refresh_token", 0);
		fresh(t);
		assert_int_equal(qmt_idp_grants(&idp, "refresh_token", 0),
		                 refreshes + 1);
		fprintf(stderr, "%s: XOAUTH2 (STARTTLS), OAUTHBEARER (TLS)\n",
		        proto_name[p]);
		assert_login(login(p, 0, ALICE, t->access, NULL, "XOAUTH2"),
		             CURLE_OK);
		assert_login(login(p, 1, ALICE, t->access, NULL, "OAUTHBEARER"),
		             CURLE_OK);
	}
	/* the two messages sent with tokens arrived */
	assert_true(qmt_mail_wait_files(&srv, ALICE, NULL, 2, 20000) >= 2);
}

/* The confidential client: the secret is needed at the token endpoint. */
static void test_secret_client(void **state)
{
	struct qmt_idp_tokens t;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(
	    qmt_idp_sign_in(&idp, QMT_IDP_SECRET_CLIENT, "carol", NULL, &t), 0);
	assert_login(login(IMAP, 0, CAROL, t.access, NULL, "XOAUTH2"),
	             CURLE_OK);
	/* revoked as the client it was issued to (with its secret) */
	assert_int_equal(qmt_idp_revoke(&idp, t.refresh), 0);
	assert_login(login(IMAP, 0, CAROL, t.access, NULL, "XOAUTH2"),
	             CURLE_LOGIN_DENIED);
}

/* bob's token is bob's: refused as alice, taken as bob. */
static void test_other_users_token(void **state)
{
	struct qmt_idp_tokens bob;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(
	    qmt_idp_sign_in(&idp, QMT_IDP_CLIENT, "bob", NULL, &bob), 0);
	assert_login(login(IMAP, 0, ALICE, bob.access, NULL, "XOAUTH2"),
	             CURLE_LOGIN_DENIED);
	assert_login(login(SMTP, 0, ALICE, bob.access, NULL, "OAUTHBEARER"),
	             CURLE_LOGIN_DENIED);
	assert_int_equal(
	    qmt_idp_refresh(&idp, QMT_IDP_CLIENT, bob.refresh, &bob), 0);
	assert_login(login(IMAP, 0, BOB, bob.access, NULL, "XOAUTH2"),
	             CURLE_OK);
}

/* Passwords and tokens do not stand in for each other. */
static void test_password_and_token_apart(void **state)
{
	(void)state;
	NEED_SERVERS();
	fresh(&alice_tokens);
	assert_login(
	    login(IMAP, 0, ALICE, NULL, qmt_mail_password(ALICE), "PLAIN"),
	    CURLE_OK);
	assert_login(
	    login(POP3, 0, ALICE, qmt_mail_password(ALICE), NULL, "XOAUTH2"),
	    CURLE_LOGIN_DENIED);
	assert_login(login(IMAP, 0, ALICE, NULL, alice_tokens.access, "PLAIN"),
	             CURLE_LOGIN_DENIED);
}

/* A token without the "mail" scope opens no mailbox. */
static void test_scope_needed(void **state)
{
	struct qmt_idp_tokens t;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(qmt_idp_sign_in(&idp, QMT_IDP_CLIENT, "alice",
	                                 "openid email offline_access", &t),
	                 0);
	assert_false(has_scope(t.scope, "mail"));
	assert_true(has_scope(t.scope, "email"));
	assert_login(login(IMAP, 0, ALICE, t.access, NULL, "XOAUTH2"),
	             CURLE_LOGIN_DENIED);
}

/* An expired token is refused; the refresh grant gives one that works. */
static void test_expired_then_refreshed(void **state)
{
	struct qmt_idp_tokens *t = &alice_tokens;
	char old[sizeof(alice_tokens.access)];
	int waited = 0;

	(void)state;
	NEED_SERVERS();
	fresh(t);
	memcpy(old, t->access, sizeof(old));
	/* the server's clock decides: wait until it calls the token dead */
	while (qmt_idp_introspect(&idp, old, NULL, 0) == 1) {
		assert_true(waited < (ACCESS_TTL + 5) * 1000);
		/* poll with no fds: the token's lifetime is wall-clock
		 * time, there is no event to wait for */
		poll(NULL, 0, 200);
		waited += 200;
	}
	assert_true(waited > 0);
	assert_login(login(IMAP, 0, ALICE, old, NULL, "XOAUTH2"),
	             CURLE_LOGIN_DENIED);
	fresh(t);
	assert_string_not_equal(t->access, old);
	assert_login(login(IMAP, 0, ALICE, t->access, NULL, "XOAUTH2"),
	             CURLE_OK);
}

/* Revoked: an access token at once; a refresh token, its whole grant. */
static void test_revoked(void **state)
{
	struct qmt_idp_tokens *t = &alice_tokens, n;
	long failed;

	(void)state;
	NEED_SERVERS();
	fresh(t);
	assert_int_equal(qmt_idp_revoke(&idp, t->access), 0);
	assert_login(login(IMAP, 0, ALICE, t->access, NULL, "XOAUTH2"),
	             CURLE_LOGIN_DENIED);

	fresh(t);
	assert_int_equal(qmt_idp_revoke(&idp, t->refresh), 0);
	assert_login(login(POP3, 1, ALICE, t->access, NULL, "OAUTHBEARER"),
	             CURLE_LOGIN_DENIED);
	failed = qmt_idp_grants(&idp, "refresh_token", 1);
	assert_int_equal(qmt_idp_refresh(&idp, QMT_IDP_CLIENT, t->refresh, &n),
	                 1);
	assert_int_equal(qmt_idp_grants(&idp, "refresh_token", 1), failed + 1);
}

/* The user's no: a wrong password is refused at the sign-in page, and
 * Deny at the consent page sends access_denied to the listener. */
static void test_user_refuses(void **state)
{
	char url[512];
	long codes;

	(void)state;
	NEED_SERVERS();
	snprintf(url, sizeof(url),
	         "%s?response_type=code&client_id=" QMT_IDP_CLIENT
	         "&redirect_uri=http%%3A%%2F%%2F127.0.0.1%%3A9%%2Fcallback"
	         "&scope=openid&code_challenge="
	         "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	         "&code_challenge_method=S256",
	         idp.auth_url);
	assert_int_equal(qmt_idp_browser_badpass(&idp, url, "alice"), 0);
	codes = qmt_idp_grants(&idp, "authorization_code", 0);
	assert_int_equal(qmt_idp_sign_in_denied(&idp, QMT_IDP_CLIENT, "alice"),
	                 0);
	assert_int_equal(qmt_idp_grants(&idp, "authorization_code", 0), codes);
}

/* The device grant: the user types the code on another device, signs in
 * and allows; the polling device gets tokens that open the mailbox. And
 * a user who aborts leaves the device with access_denied. */
static void test_device_grant(void **state)
{
	struct qmt_idp_device_auth d;
	struct qmt_idp_tokens t;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(qmt_idp_device_begin(&idp, QMT_IDP_CLIENT, NULL, &d),
	                 0);
	assert_int_equal(
	    qmt_idp_device_poll(&idp, QMT_IDP_CLIENT, d.device_code, &t), 2);
	assert_int_equal(
	    qmt_idp_device(&idp, d.verification_uri, d.user_code, "carol", 0),
	    0);
	assert_int_equal(
	    qmt_idp_device_poll(&idp, QMT_IDP_CLIENT, d.device_code, &t), 0);
	assert_true(t.refresh[0]);
	assert_login(login(POP3, 1, CAROL, t.access, NULL, "OAUTHBEARER"),
	             CURLE_OK);

	assert_int_equal(qmt_idp_device_begin(&idp, QMT_IDP_CLIENT, NULL, &d),
	                 0);
	assert_int_equal(
	    qmt_idp_device(&idp, d.verification_uri, d.user_code, "carol", 1),
	    0);
	assert_int_equal(
	    qmt_idp_device_poll(&idp, QMT_IDP_CLIENT, d.device_code, &t), 1);
}

/* Alone, the server makes a CA of its own. */
static void test_own_ca(void **state)
{
	struct qmt_idp other;
	struct qmt_idp_tokens t;
	char sub[128];

	(void)state;
	NEED_SERVERS();
	assert_int_equal(qmt_idp_start(&other, NULL), 0);
	assert_string_not_equal(other.ca_file, srv.ca_file);
	assert_int_equal(other.access_ttl, 60);
	assert_int_equal(
	    qmt_idp_sign_in(&other, QMT_IDP_CLIENT, "bob", NULL, &t), 0);
	assert_int_equal(t.expires_in, 60);
	assert_int_equal(qmt_idp_introspect(&other, t.access, sub, sizeof(sub)),
	                 1);
	assert_string_equal(sub, "bob@qmail.test");
	/* a token of another authorization server means nothing here */
	assert_login(login(IMAP, 0, BOB, t.access, NULL, "XOAUTH2"),
	             CURLE_LOGIN_DENIED);
	qmt_idp_stop(&other);
}

/* The user withdraws the app's access at the provider: every grant of
 * hers goes, tokens and all; another user's stay. */
static void test_user_revokes_all(void **state)
{
	struct qmt_idp_tokens a1, a2, b, n;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(
	    qmt_idp_sign_in(&idp, QMT_IDP_CLIENT, "carol", NULL, &a1), 0);
	assert_int_equal(
	    qmt_idp_sign_in(&idp, QMT_IDP_SECRET_CLIENT, "carol", NULL, &a2),
	    0);
	assert_int_equal(qmt_idp_sign_in(&idp, QMT_IDP_CLIENT, "bob", NULL, &b),
	                 0);
	assert_true(qmt_idp_revoke_user(&idp, "carol@qmail.test") >= 2);
	assert_int_equal(qmt_idp_introspect(&idp, a1.access, NULL, 0), 0);
	assert_int_equal(qmt_idp_introspect(&idp, a2.access, NULL, 0), 0);
	assert_int_equal(qmt_idp_refresh(&idp, QMT_IDP_CLIENT, a1.refresh, &n),
	                 1);
	assert_int_equal(
	    qmt_idp_refresh(&idp, QMT_IDP_SECRET_CLIENT, a2.refresh, &n), 1);
	assert_int_equal(qmt_idp_introspect(&idp, b.refresh, NULL, 0), 1);
	assert_int_equal(qmt_idp_revoke_user(&idp, "nobody"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_logins),
	    cmocka_unit_test(test_secret_client),
	    cmocka_unit_test(test_user_refuses),
	    cmocka_unit_test(test_device_grant),
	    cmocka_unit_test(test_own_ca),
	    cmocka_unit_test(test_user_revokes_all),
	    cmocka_unit_test(test_other_users_token),
	    cmocka_unit_test(test_password_and_token_apart),
	    cmocka_unit_test(test_scope_needed),
	    cmocka_unit_test(test_expired_then_refreshed),
	    cmocka_unit_test(test_revoked),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
