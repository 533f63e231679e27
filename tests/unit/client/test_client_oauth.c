/* SPDX-License-Identifier: MIT */
/*
 * The OAuth2 pieces that need no provider: the PKCE challenge (RFC 7636
 * appendix B), the authorization URL, plain-text endpoints refused, and
 * the loopback listener of the code flow, driven with real HTTP requests:
 * a wrong state is answered 400 and the flow keeps waiting, other paths
 * 404, the provider's error ends it with a message, and a cancel from
 * another thread ends a wait at once. The code exchange itself is tested
 * against the real authorization server (tests/integration/oauth_flow.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/client.h"
#include "core/core.h"

static void test_pkce_rfc7636_vector(void **state)
{
	char out[64];
	struct qm_error e;

	(void)state;
	/* RFC 7636 appendix B */
	assert_int_equal(qm_client_oauth_pkce_challenge(
	                     "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out,
	                     sizeof(out), &e),
	                 QM_OK);
	assert_string_equal(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
	/* too short, and a character outside the alphabet */
	assert_int_equal(
	    qm_client_oauth_pkce_challenge("abc", out, sizeof(out), &e),
	    QM_ERR_INVAL);
	assert_int_equal(qm_client_oauth_pkce_challenge(
	                     "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX+", out,
	                     sizeof(out), &e),
	                 QM_ERR_INVAL);
}

static void endpoints(struct qm_client_oauth_endpoints *ep)
{
	memset(ep, 0, sizeof(*ep));
	qm_strlcpy(ep->auth_url, "https://login.example.test/authorize",
	           sizeof(ep->auth_url));
	qm_strlcpy(ep->token_url, "https://login.example.test/token",
	           sizeof(ep->token_url));
	qm_strlcpy(ep->scope,
	           "openid email offline_access https://mail.x/.default",
	           sizeof(ep->scope));
}

static void test_auth_url(void **state)
{
	struct qm_client_oauth_endpoints ep;
	struct qm_client_oauth_app app = {"my app/1", NULL, NULL,
	                                  "access_type=offline&prompt=consent"};
	struct qm_error e;
	char url[4096];

	(void)state;
	endpoints(&ep);
	assert_int_equal(
	    qm_client_oauth_auth_url(&ep, &app, "http://127.0.0.1:5000/",
	                             "ST4TE", "CH4LL", "alice+x@qmail.test",
	                             url, sizeof(url), &e),
	    QM_OK);
	assert_string_equal(
	    url, "https://login.example.test/authorize?response_type=code"
	         "&client_id=my%20app%2F1"
	         "&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2F"
	         "&scope=openid%20email%20offline_access%20https%3A%2F%2Fmail."
	         "x%2F.default"
	         "&state=ST4TE&code_challenge=CH4LL&code_challenge_method=S256"
	         "&login_hint=alice%2Bx%40qmail.test"
	         "&access_type=offline&prompt=consent");
	/* an endpoint with a query already gets '&' */
	qm_strlcpy(ep.auth_url, "https://login.example.test/a?tenant=x",
	           sizeof(ep.auth_url));
	app.auth_params = NULL;
	assert_int_equal(qm_client_oauth_auth_url(&ep, &app, "http://r/", "s",
	                                          "c", NULL, url, sizeof(url),
	                                          &e),
	                 QM_OK);
	assert_non_null(strstr(url, "/a?tenant=x&response_type=code"));
	assert_null(strstr(url, "login_hint"));
	/* never plain text */
	qm_strlcpy(ep.auth_url, "http://login.example.test/authorize",
	           sizeof(ep.auth_url));
	assert_int_equal(qm_client_oauth_auth_url(&ep, &app, "http://r/", "s",
	                                          "c", NULL, url, sizeof(url),
	                                          &e),
	                 QM_ERR_INVAL);
	assert_non_null(strstr(qm_error_msg(&e), "plain text"));
}

static void test_http_endpoints_refused(void **state)
{
	struct qm_client_oauth_endpoints ep;
	struct qm_client_oauth_app app = {"id", NULL, NULL, NULL};
	struct qm_client_oauth_flow *f = NULL;
	struct qm_error e;

	(void)state;
	endpoints(&ep);
	qm_strlcpy(ep.token_url, "http://login.example.test/token",
	           sizeof(ep.token_url));
	assert_int_equal(qm_client_oauth_begin(&ep, &app, NULL, &f, &e),
	                 QM_ERR_INVAL);
	assert_null(f);
	endpoints(&ep);
	qm_strlcpy(ep.device_url, "http://login.example.test/device",
	           sizeof(ep.device_url));
	assert_int_equal(qm_client_oauth_device_begin(&ep, &app, &f, &e),
	                 QM_ERR_INVAL);
	assert_null(f);
	ep.device_url[0] = '\0';
	assert_int_equal(qm_client_oauth_device_begin(&ep, &app, &f, &e),
	                 QM_ERR_UNSUPPORTED);
	assert_int_equal(qm_client_oauth_discover("http://login.example.test",
	                                          NULL, &ep, &e),
	                 QM_ERR_INVAL);
	/* a provider wanting a secret, none given */
	endpoints(&ep);
	ep.secret_required = 1;
	assert_int_equal(qm_client_oauth_begin(&ep, &app, NULL, &f, &e),
	                 QM_ERR_INVAL);
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
	struct qm_buf *b = arg;

	(void)!qm_buf_append(b, p, size * n, NULL);
	return size * n;
}

/* GETs url from the listener: the status, the page into page. */
static long get(const char *url, struct qm_buf *page)
{
	CURL *h = curl_easy_init();
	long status = 0;

	qm_buf_reset(page);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, page);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	return status;
}

/* The state parameter of the flow's URL. */
static void url_state(const struct qm_client_oauth_flow *f, char *out)
{
	const char *s = strstr(qm_client_oauth_flow_url(f), "&state=");

	assert_non_null(s);
	s += 7;
	assert_int_equal(strcspn(s, "&"), 43);
	memcpy(out, s, 43);
	out[43] = '\0';
}

/* The browser's side, in a thread while the engine waits: GETs each
 * URL in turn and keeps the statuses and the last page. */
struct browser {
	const char *urls[4];
	long status[4];
	struct qm_buf page;
};

static void *browse(void *arg)
{
	struct browser *b = arg;

	for (int i = 0; i < 4 && b->urls[i]; i++)
		b->status[i] = get(b->urls[i], &b->page);
	return NULL;
}

static void test_loopback_state_and_error(void **state)
{
	struct qm_client_oauth_endpoints ep;
	struct qm_client_oauth_app app = {"qmail-test", NULL, NULL, NULL};
	struct qm_client_oauth_flow *f = NULL;
	struct qm_client_oauth_tokens t;
	struct qm_error e;
	struct browser b;
	char st[44], u[3][512], wrong[44];
	const char *ru;
	pthread_t th;

	(void)state;
	endpoints(&ep);
	assert_int_equal(qm_client_oauth_begin(&ep, &app, "alice@qmail.test",
	                                       &f, &e),
	                 QM_OK);
	ru = qm_client_oauth_flow_redirect_uri(f);
	assert_true(strncmp(ru, "http://127.0.0.1:", 17) == 0);
	assert_true(ru[strlen(ru) - 1] == '/');
	url_state(f, st);
	assert_non_null(strstr(qm_client_oauth_flow_url(f),
	                       "&code_challenge_method=S256"));
	assert_non_null(strstr(qm_client_oauth_flow_url(f),
	                       "&login_hint=alice%40qmail.test"));

	/* a wrong state, none, another path: 400, 400, 404, and the flow
	 * still waits */
	memset(&b, 0, sizeof(b));
	qm_buf_init(&b.page, 64 * 1024);
	qm_strlcpy(wrong, st, sizeof(wrong));
	wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
	snprintf(u[0], sizeof(u[0]), "%s?code=stolen&state=%s", ru, wrong);
	snprintf(u[1], sizeof(u[1]), "%s?code=stolen", ru);
	snprintf(u[2], sizeof(u[2]), "%sfavicon.ico", ru);
	b.urls[0] = u[0];
	b.urls[1] = u[1];
	b.urls[2] = u[2];
	assert_int_equal(pthread_create(&th, NULL, browse, &b), 0);
	assert_int_equal(qm_client_oauth_flow_wait(f, 3000, &t, &e),
	                 QM_ERR_TIMEOUT);
	pthread_join(th, NULL);
	assert_int_equal(b.status[0], 400);
	assert_int_equal(b.status[1], 400);
	assert_int_equal(b.status[2], 404);
	assert_false(qm_client_oauth_flow_ended(f));

	/* the provider's error with the right state ends it */
	snprintf(u[0], sizeof(u[0]),
	         "%s?error=access_denied&error_description=User%%20said%%20no"
	         "&state=%s",
	         ru, st);
	b.urls[1] = NULL;
	assert_int_equal(pthread_create(&th, NULL, browse, &b), 0);
	assert_int_equal(qm_client_oauth_flow_wait(f, 10000, &t, &e),
	                 QM_ERR_DENIED);
	pthread_join(th, NULL);
	assert_int_equal(b.status[0], 200);
	assert_non_null(strstr((const char *)b.page.data, "Sign-in failed"));
	assert_non_null(strstr((const char *)b.page.data, "User said no"));
	assert_non_null(strstr(qm_error_msg(&e), "declined"));
	assert_non_null(strstr(qm_error_msg(&e), "User said no"));
	assert_null(t.access);
	assert_true(qm_client_oauth_flow_ended(f));
	/* it has ended: another wait says so at once */
	assert_int_equal(qm_client_oauth_flow_wait(f, 10000, &t, &e),
	                 QM_ERR_DENIED);
	qm_client_oauth_flow_free(&f);
	assert_null(f);
	qm_buf_free(&b.page);
}

/* RFC 9207: an answer that names another issuer ends the flow, refused,
 * and its code is never sent anywhere. */
static void test_iss_mixup_refused(void **state)
{
	struct qm_client_oauth_endpoints ep;
	struct qm_client_oauth_app app = {"qmail-test", NULL, NULL, NULL};
	struct qm_client_oauth_flow *f = NULL;
	struct qm_client_oauth_tokens t;
	struct qm_error e;
	struct browser b;
	char st[44], u[512];
	pthread_t th;

	(void)state;
	endpoints(&ep);
	qm_strlcpy(ep.issuer, "https://login.example.test", sizeof(ep.issuer));
	assert_int_equal(qm_client_oauth_begin(&ep, &app, NULL, &f, &e), QM_OK);
	url_state(f, st);
	snprintf(u, sizeof(u),
	         "%s?code=abc&state=%s&iss=https%%3A%%2F%%2Fevil.test",
	         qm_client_oauth_flow_redirect_uri(f), st);
	memset(&b, 0, sizeof(b));
	qm_buf_init(&b.page, 64 * 1024);
	b.urls[0] = u;
	assert_int_equal(pthread_create(&th, NULL, browse, &b), 0);
	assert_int_equal(qm_client_oauth_flow_wait(f, 10000, &t, &e),
	                 QM_ERR_AUTH);
	pthread_join(th, NULL);
	assert_int_equal(b.status[0], 200);
	assert_non_null(strstr(qm_error_msg(&e), "https://evil.test"));
	assert_null(t.access);
	qm_client_oauth_flow_free(&f);
	qm_buf_free(&b.page);
}

static void *cancel_later(void *arg)
{
	usleep(200 * 1000);
	qm_client_oauth_flow_cancel(arg);
	return NULL;
}

static void test_cancel_from_another_thread(void **state)
{
	struct qm_client_oauth_endpoints ep;
	struct qm_client_oauth_app app = {"qmail-test", NULL, NULL, NULL};
	struct qm_client_oauth_flow *f = NULL;
	struct qm_client_oauth_tokens t;
	struct qm_error e;
	pthread_t th;
	uint64_t t0;

	(void)state;
	endpoints(&ep);
	assert_int_equal(qm_client_oauth_begin(&ep, &app, NULL, &f, &e), QM_OK);
	assert_int_equal(pthread_create(&th, NULL, cancel_later, f), 0);
	t0 = qm_mono_ns();
	assert_int_equal(qm_client_oauth_flow_wait(f, 30000, &t, &e),
	                 QM_ERR_STATE);
	assert_true((qm_mono_ns() - t0) / 1000000u < 10000);
	assert_non_null(strstr(qm_error_msg(&e), "cancelled"));
	pthread_join(th, NULL);
	qm_client_oauth_flow_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pkce_rfc7636_vector),
	    cmocka_unit_test(test_auth_url),
	    cmocka_unit_test(test_http_endpoints_refused),
	    cmocka_unit_test(test_loopback_state_and_error),
	    cmocka_unit_test(test_iss_mixup_refused),
	    cmocka_unit_test(test_cancel_from_another_thread),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
