/* SPDX-License-Identifier: MIT */
/*
 * A sign-in in progress, for both user interfaces: the authorization code
 * flow with PKCE and a loopback redirect (RFC 8252: a listener on
 * 127.0.0.1, any free port, path "/"), and the device authorization grant
 * (RFC 8628) polled at the provider's pace. One thread waits in
 * qm_client_oauth_flow_wait while another may cancel: the flow's state is
 * behind a mutex, the device grant waits on a condition variable and the
 * code flow on the listener (the mail layer's qm_mail_loopback) and a
 * pipe that a cancel writes to. The waiting thread answers the browser
 * once the code has been exchanged, so the page says whether the sign-in
 * worked.
 */
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATE_LEN 43 /* base64url of 32 random bytes */

struct qm_client_oauth_flow {
	int device; /* 1: device grant, 0: loopback code flow */
	struct qm_client_oauth_endpoints ep;
	char client_id[QM_STORE_NAMEMAX];
	char *client_secret; /* secure memory; NULL: none */
	char ca_file[QM_STORE_PATHMAX];
	char url[8192];
	char redirect_uri[64];
	char state[STATE_LEN + 1];
	char *verifier;    /* secure memory, PKCE */
	char *device_code; /* secure memory, device grant */
	struct qm_client_oauth_device dev;
	uint64_t next_poll; /* device grant: qm_mono_ns of the next poll */
	struct qm_mail_loopback *lb; /* code flow: the redirect's listener */
	int wake[2];                 /* a cancel writes to wake[1] */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;      /* a result is in rc/err/tokens */
	int taken;     /* ... and was handed to a waiter */
	int cancelled; /* qm_client_oauth_flow_cancel was called */
	enum qm_err rc;
	struct qm_error err;
	struct qm_client_oauth_tokens tokens;
};

const char *qm_client_oauth_flow_url(const struct qm_client_oauth_flow *f)
{
	return f->url;
}

const char *
qm_client_oauth_flow_redirect_uri(const struct qm_client_oauth_flow *f)
{
	return f->redirect_uri;
}

void qm_client_oauth_flow_device(struct qm_client_oauth_flow *f,
                                 struct qm_client_oauth_device *out)
{
	pthread_mutex_lock(&f->mu);
	*out = f->dev;
	pthread_mutex_unlock(&f->mu);
}

/* A new flow with the app's settings copied. */
static enum qm_err flow_new(const struct qm_client_oauth_endpoints *ep,
                            const struct qm_client_oauth_app *app,
                            struct qm_client_oauth_flow **out,
                            struct qm_error *err)
{
	struct qm_client_oauth_flow *f;
	enum qm_err rc;

	*out = NULL;
	if (!ep || !app || !app->client_id || !*app->client_id)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an OAuth2 sign-in needs the client ID "
		                    "registered with the provider");
	if (ep->secret_required &&
	    (!app->client_secret || !*app->client_secret))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "this provider wants the client secret of "
		                    "the app registered with it, too");
	rc = client_oauth_check_url("token endpoint", ep->token_url, err);
	if (rc)
		return rc;
	if (strlen(app->client_id) >= QM_STORE_NAMEMAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the client ID is too long");
	if (!(f = calloc(1, sizeof(*f))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->wake[0] = f->wake[1] = -1;
	f->ep = *ep;
	qm_strlcpy(f->client_id, app->client_id, sizeof(f->client_id));
	if (app->ca_file)
		qm_strlcpy(f->ca_file, app->ca_file, sizeof(f->ca_file));
	if (app->client_secret && *app->client_secret &&
	    !(f->client_secret = qm_sec_dup(app->client_secret,
	                                    strlen(app->client_secret) + 1))) {
		qm_client_oauth_flow_free(&f);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	*out = f;
	return QM_OK;
}

/* client_id and, when there is one, client_secret (client_secret_post). */
static enum qm_err form_client(const struct qm_client_oauth_flow *f,
                               struct qm_buf *b, struct qm_error *err)
{
	enum qm_err rc =
	    client_oauth_form_add(b, "client_id", f->client_id, err);

	if (!rc && f->client_secret)
		rc = client_oauth_form_add(b, "client_secret", f->client_secret,
		                           err);
	return rc;
}

/* Ends the flow with a result (mutex held). */
static void finish(struct qm_client_oauth_flow *f, enum qm_err rc,
                   const struct qm_error *e, struct qm_client_oauth_tokens *t)
{
	if (f->done)
		return;
	f->done = 1;
	f->rc = rc;
	if (e)
		f->err = *e;
	if (t) {
		f->tokens = *t;
		memset(t, 0, sizeof(*t));
	}
	pthread_cond_broadcast(&f->cv);
}

/* ------------------------------------------------------- code flow */

/* Exchanges the authorization code for tokens (RFC 6749 4.1.3). */
static enum qm_err code_exchange(struct qm_client_oauth_flow *f,
                                 const char *code,
                                 struct qm_client_oauth_tokens *t,
                                 struct qm_error *err)
{
	struct qm_buf form;
	enum qm_err rc;

	qm_buf_init_secure(&form, 64 * 1024);
	rc = client_oauth_form_add(&form, "grant_type", "authorization_code",
	                           err);
	if (!rc)
		rc = client_oauth_form_add(&form, "code", code, err);
	if (!rc)
		rc = client_oauth_form_add(&form, "redirect_uri",
		                           f->redirect_uri, err);
	if (!rc)
		rc = client_oauth_form_add(&form, "code_verifier", f->verifier,
		                           err);
	if (!rc)
		rc = form_client(f, &form, err);
	if (!rc)
		rc = client_oauth_token_post(f->ep.token_url, f->ca_file, &form,
		                             "signing in", t, NULL, 0, err);
	qm_buf_free(&form);
	return rc;
}

/* Escapes text for the page. */
static void html_text(const char *in, char *out, size_t outlen)
{
	size_t j = 0;

	for (; *in && j + 7 < outlen; in++) {
		const char *r = *in == '<'   ? "&lt;"
		                : *in == '>' ? "&gt;"
		                : *in == '&' ? "&amp;"
		                : *in == '"' ? "&quot;"
		                             : NULL;
		if (r) {
			memcpy(out + j, r, strlen(r));
			j += strlen(r);
		} else if ((unsigned char)*in >= 0x20) {
			out[j++] = *in;
		}
	}
	out[j] = '\0';
}

/* Answers the browser with a small page. */
static void reply(struct qm_mail_loopback_req *req, int status,
                  const char *title, const char *text)
{
	char page[2048], t[1200];

	html_text(text, t, sizeof(t));
	snprintf(page, sizeof(page),
	         "<!doctype html><html><head><meta charset=\"utf-8\">"
	         "<title>QMail: %s</title></head><body style=\"font-family:"
	         "sans-serif;margin:3em\"><h1>%s</h1><p>%s</p></body></html>\n",
	         title, title, t);
	qm_mail_loopback_reply(req, status, page);
}

/* One request on the listener: only GET / with this flow's state and a
 * code (or the provider's error) ends the flow. */
static void on_request(struct qm_client_oauth_flow *f,
                       struct qm_mail_loopback_req *req)
{
	struct qm_client_oauth_tokens t;
	struct qm_error e;
	char state[STATE_LEN + 8], error[128], desc[512], iss[512], *code;
	int has_error, has_code, ended;
	enum qm_err rc;

	if (strcmp(req->method, "GET") != 0) {
		reply(req, 405, "Not allowed",
		      "Only the provider's redirect is answered here.");
		return;
	}
	if (strcmp(req->path, "/") != 0) {
		reply(req, 404, "Not found", "Nothing here.");
		return;
	}
	if (!qm_mail_loopback_param(req, "state", state, sizeof(state)) ||
	    strlen(state) != STATE_LEN ||
	    sodium_memcmp(state, f->state, STATE_LEN) != 0) {
		/* not the redirect of this sign-in (an old tab, or a page
		 * trying to slip a code in): the flow goes on waiting */
		reply(req, 400, "Not this sign-in",
		      "This is not the sign-in QMail is waiting for. Start "
		      "the sign-in again from QMail.");
		return;
	}
	pthread_mutex_lock(&f->mu);
	ended = f->done || f->cancelled;
	pthread_mutex_unlock(&f->mu);
	if (ended) {
		reply(
		    req, 409, "Already done",
		    "This sign-in has already ended; you can close this tab.");
		return;
	}
	code = qm_sec_alloc(sizeof(req->query));
	if (!code) {
		reply(req, 500, "Sign-in failed", "out of memory");
		return;
	}
	has_code =
	    qm_mail_loopback_param(req, "code", code, sizeof(req->query));
	has_error = qm_mail_loopback_param(req, "error", error, sizeof(error));
	if (!qm_mail_loopback_param(req, "error_description", desc,
	                            sizeof(desc)))
		desc[0] = '\0';
	qm_error_clear(&e);
	memset(&t, 0, sizeof(t));
	if (f->ep.issuer[0] &&
	    qm_mail_loopback_param(req, "iss", iss, sizeof(iss)) &&
	    strcmp(iss, f->ep.issuer) != 0)
		/* RFC 9207: an answer naming another provider than the one
		 * asked is a mix-up attack, whatever it carries */
		rc = qm_error_set(
		    &e, QM_ERR_AUTH,
		    "signing in: the answer came from another "
		    "provider (%.200s) than the one asked (%.200s); "
		    "refused",
		    iss, f->ep.issuer);
	else if (has_error || !has_code || !code[0])
		rc = client_oauth_provider_error(
		    "signing in", "the provider", 400,
		    has_error ? error : "invalid_request",
		    has_error ? desc : "the redirect carried no code", &e);
	else
		rc = code_exchange(f, code, &t, &e);
	qm_wipe(code, sizeof(req->query));
	qm_sec_free(code);

	pthread_mutex_lock(&f->mu);
	finish(f, rc, &e, rc ? NULL : &t);
	pthread_mutex_unlock(&f->mu);
	qm_client_oauth_tokens_wipe(&t);
	if (rc)
		reply(req, 200, "Sign-in failed", qm_error_msg(&e));
	else
		reply(req, 200, "Signed in",
		      "QMail has your sign-in; you can close this tab.");
}

/* The code flow's wait: requests until the flow ends (QM_OK), the time
 * is up (QM_ERR_TIMEOUT) or a cancel. */
static enum qm_err code_wait(struct qm_client_oauth_flow *f, long timeout_ms,
                             struct qm_error *err)
{
	uint64_t t0 = qm_mono_ns();

	for (;;) {
		struct qm_mail_loopback_req req;
		long left;
		enum qm_err rc;
		int stop;

		pthread_mutex_lock(&f->mu);
		stop = f->done || f->cancelled;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			return QM_OK;
		left = timeout_ms - (long)((qm_mono_ns() - t0) / 1000000u);
		if (left <= 0)
			return qm_error_set(
			    err, QM_ERR_TIMEOUT,
			    "still waiting for the sign-in at the "
			    "provider");
		rc =
		    qm_mail_loopback_accept(f->lb, left, f->wake[0], &req, err);
		if (rc == QM_ERR_STATE)
			continue; /* woken by a cancel */
		if (rc == QM_ERR_TIMEOUT)
			return qm_error_set(
			    err, QM_ERR_TIMEOUT,
			    "still waiting for the sign-in at the "
			    "provider");
		if (rc)
			return rc;
		on_request(f, &req);
		qm_mail_loopback_req_wipe(&req);
	}
}

enum qm_err qm_client_oauth_begin(const struct qm_client_oauth_endpoints *ep,
                                  const struct qm_client_oauth_app *app,
                                  const char *login_hint,
                                  struct qm_client_oauth_flow **out,
                                  struct qm_error *err)
{
	struct qm_client_oauth_flow *f = NULL;
	char challenge[64];
	enum qm_err rc;
	int port = 0;

	*out = NULL;
	rc = flow_new(ep, app, &f, err);
	if (rc)
		return rc;
	rc =
	    client_oauth_check_url("authorization endpoint", ep->auth_url, err);
	if (rc)
		goto fail;
	f->verifier = qm_sec_alloc(64);
	if (!f->verifier) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto fail;
	}
	client_oauth_random(f->verifier, 64);
	client_oauth_random(f->state, sizeof(f->state));
	rc = qm_client_oauth_pkce_challenge(f->verifier, challenge,
	                                    sizeof(challenge), err);
	if (rc)
		goto fail;

	rc = qm_mail_loopback_open(&f->lb, &port, err);
	if (rc)
		goto fail;
	if (pipe2(f->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = qm_error_set(err, QM_ERR_IO, "cannot make a pipe");
		goto fail;
	}
	snprintf(f->redirect_uri, sizeof(f->redirect_uri),
	         "http://127.0.0.1:%d/", port);
	rc = qm_client_oauth_auth_url(ep, app, f->redirect_uri, f->state,
	                              challenge, login_hint, f->url,
	                              sizeof(f->url), err);
	if (rc)
		goto fail;
	*out = f;
	return QM_OK;
fail:
	qm_client_oauth_flow_free(&f);
	return rc;
}

/* ------------------------------------------------------- device grant */

enum qm_err
qm_client_oauth_device_begin(const struct qm_client_oauth_endpoints *ep,
                             const struct qm_client_oauth_app *app,
                             struct qm_client_oauth_flow **out,
                             struct qm_error *err)
{
	struct qm_client_oauth_flow *f = NULL;
	struct qm_buf form;
	enum qm_err rc;

	*out = NULL;
	if (ep && !ep->device_url[0])
		return qm_error_set(
		    err, QM_ERR_UNSUPPORTED,
		    "this provider offers no sign-in by code "
		    "on another device (no device authorization "
		    "endpoint): sign in with a browser here");
	rc = flow_new(ep, app, &f, err);
	if (rc)
		return rc;
	f->device = 1;
	qm_buf_init_secure(&form, 64 * 1024);
	rc = form_client(f, &form, err);
	if (!rc && ep->scope[0])
		rc = client_oauth_form_add(&form, "scope", ep->scope, err);
	if (!rc)
		rc = client_oauth_device_post(ep->device_url, f->ca_file, &form,
		                              &f->dev, &f->device_code, err);
	qm_buf_free(&form);
	if (rc) {
		qm_client_oauth_flow_free(&f);
		return rc;
	}
	f->next_poll = qm_mono_ns() + (uint64_t)f->dev.interval * 1000000000u;
	qm_strlcpy(f->url,
	           f->dev.verification_uri_complete[0]
	               ? f->dev.verification_uri_complete
	               : f->dev.verification_uri,
	           sizeof(f->url));
	*out = f;
	return QM_OK;
}

/* Absolute CLOCK_REALTIME time ms from now, for pthread_cond_timedwait. */
static struct timespec deadline(long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* One poll of the token endpoint (RFC 8628 3.4); mutex not held. 1: the
 * flow ended (finished), 0: keep polling. */
static int device_poll_once(struct qm_client_oauth_flow *f)
{
	struct qm_client_oauth_tokens t;
	struct qm_buf form;
	struct qm_error e;
	char code[64];
	enum qm_err rc;
	int ended = 1;

	code[0] = '\0';
	qm_error_clear(&e);
	qm_buf_init_secure(&form, 64 * 1024);
	rc = client_oauth_form_add(
	    &form, "grant_type", "urn:ietf:params:oauth:grant-type:device_code",
	    &e);
	if (!rc)
		rc = client_oauth_form_add(&form, "device_code", f->device_code,
		                           &e);
	if (!rc)
		rc = form_client(f, &form, &e);
	if (!rc)
		rc = client_oauth_token_post(f->ep.token_url, f->ca_file, &form,
		                             "signing in by code", &t, code,
		                             sizeof(code), &e);
	qm_buf_free(&form);
	if (rc && strcmp(code, "authorization_pending") == 0) {
		ended = 0;
	} else if (rc && strcmp(code, "slow_down") == 0) {
		pthread_mutex_lock(&f->mu);
		f->dev.interval += 5; /* RFC 8628 3.5 */
		pthread_mutex_unlock(&f->mu);
		ended = 0;
	} else if (rc == QM_ERR_NET) {
		ended = 0; /* a network blip: the code is still good */
	}
	pthread_mutex_lock(&f->mu);
	if (ended)
		finish(f, rc, &e, rc ? NULL : &t);
	pthread_mutex_unlock(&f->mu);
	if (!rc)
		qm_client_oauth_tokens_wipe(&t);
	return ended;
}

/* --------------------------------------------------------- wait, cancel */

enum qm_err qm_client_oauth_flow_wait(struct qm_client_oauth_flow *f,
                                      long timeout_ms,
                                      struct qm_client_oauth_tokens *out,
                                      struct qm_error *err)
{
	uint64_t t0 = qm_mono_ns();
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	if (!f->device) {
		rc = code_wait(f, timeout_ms, err);
		if (rc)
			return rc;
	}
	pthread_mutex_lock(&f->mu);
	for (;;) {
		long left = timeout_ms - (long)((qm_mono_ns() - t0) / 1000000u);
		struct timespec ts;

		if (f->done || f->cancelled)
			break;
		if (left <= 0) {
			pthread_mutex_unlock(&f->mu);
			return qm_error_set(
			    err, QM_ERR_TIMEOUT,
			    "still waiting for the sign-in at the "
			    "provider");
		}
		if (f->device) {
			uint64_t now = qm_mono_ns();

			if (qm_now() >= f->dev.expires) {
				struct qm_error e;

				qm_error_set(
				    &e, QM_ERR_TIMEOUT,
				    "the code %s expired before the "
				    "sign-in was approved; start again",
				    f->dev.user_code);
				finish(f, QM_ERR_TIMEOUT, &e, NULL);
				break;
			}
			if (now < f->next_poll) {
				/* the provider's pace, across calls: a
				 * caller waiting a second at a time polls
				 * every interval all the same */
				long until =
				    (long)((f->next_poll - now) / 1000000u) + 1;

				ts = deadline(until < left ? until : left);
				pthread_cond_timedwait(&f->cv, &f->mu, &ts);
				continue;
			}
			pthread_mutex_unlock(&f->mu);
			device_poll_once(f);
			pthread_mutex_lock(&f->mu);
			/* after the poll: slow_down may have raised it */
			f->next_poll = qm_mono_ns() +
			               (uint64_t)f->dev.interval * 1000000000u;
			continue;
		}
		ts = deadline(left < 1000 ? left : 1000);
		pthread_cond_timedwait(&f->cv, &f->mu, &ts);
	}
	if (f->cancelled && !f->done) {
		pthread_mutex_unlock(&f->mu);
		return qm_error_set(err, QM_ERR_STATE,
		                    "the sign-in was cancelled");
	}
	if (f->taken && f->rc == QM_OK) {
		pthread_mutex_unlock(&f->mu);
		return qm_error_set(err, QM_ERR_STATE,
		                    "this sign-in has ended already (its "
		                    "tokens were handed over)");
	}
	f->taken = 1;
	rc = f->rc;
	if (rc) {
		if (err)
			*err = f->err;
	} else {
		static const struct qm_client_oauth_tokens none;

		*out = f->tokens; /* moved: the flow holds no copy */
		f->tokens = none;
	}
	pthread_mutex_unlock(&f->mu);
	return rc;
}

int qm_client_oauth_flow_ended(struct qm_client_oauth_flow *f)
{
	int ended;

	pthread_mutex_lock(&f->mu);
	ended = f->done || f->cancelled;
	pthread_mutex_unlock(&f->mu);
	return ended;
}

void qm_client_oauth_flow_cancel(struct qm_client_oauth_flow *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->mu);
	f->cancelled = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	if (f->wake[1] >= 0)
		QM_IGNORE(write(f->wake[1], "x", 1)); /* ends a code_wait */
}

void qm_client_oauth_flow_free(struct qm_client_oauth_flow **pf)
{
	struct qm_client_oauth_flow *f = pf ? *pf : NULL;

	if (!f)
		return;
	qm_mail_loopback_free(&f->lb);
	if (f->wake[0] >= 0)
		close(f->wake[0]);
	if (f->wake[1] >= 0)
		close(f->wake[1]);
	qm_client_oauth_tokens_wipe(&f->tokens);
	if (f->verifier) {
		qm_wipe(f->verifier, 64);
		qm_sec_free(f->verifier);
	}
	if (f->device_code) {
		qm_wipe(f->device_code, strlen(f->device_code));
		qm_sec_free(f->device_code);
	}
	if (f->client_secret) {
		qm_wipe(f->client_secret, strlen(f->client_secret));
		qm_sec_free(f->client_secret);
	}
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	qm_wipe(f->state, sizeof(f->state));
	free(f);
	*pf = NULL;
}
