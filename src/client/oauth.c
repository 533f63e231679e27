/* SPDX-License-Identifier: MIT */
/*
 * OAuth2 for mail accounts, the parts that talk to the provider: the PKCE
 * challenge and the authorization URL, the token endpoint (code exchange,
 * refresh, device-code polls) and the device authorization endpoint over
 * HTTPS only, OpenID Connect discovery, and the provider's errors turned
 * into messages a person can act on. Tokens travel in secure memory; the
 * JSON libraries wipe what they free (qm_kms_global_init).
 */
#include "private.h"

#include <ctype.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Largest reply of a token or discovery endpoint. */
#define OAUTH_MAXREPLY (256 * 1024)
/* Time for one HTTPS exchange with the provider. */
#define OAUTH_HTTP_MS 30000L

void qm_client_oauth_tokens_wipe(struct qm_client_oauth_tokens *t)
{
	if (!t)
		return;
	if (t->access) {
		qm_wipe(t->access, strlen(t->access));
		qm_sec_free(t->access);
	}
	if (t->refresh) {
		qm_wipe(t->refresh, strlen(t->refresh));
		qm_sec_free(t->refresh);
	}
	memset(t, 0, sizeof(*t));
}

int client_oauth_https(const char *url)
{
	return url && strncasecmp(url, "https://", 8) == 0 && url[8] &&
	       url[8] != '/';
}

enum qm_err client_oauth_check_url(const char *what, const char *url,
                                   struct qm_error *err)
{
	if (!url || !*url)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the provider's %s is not known: give it "
		                    "or the provider's issuer URL",
		                    what);
	if (!client_oauth_https(url))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the provider's %s \"%.200s\" is not an "
		                    "https:// URL: QMail never sends a sign-in "
		                    "over plain text",
		                    what, url);
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "the provider's %s holds a blank "
			                    "or control character",
			                    what);
	return QM_OK;
}

enum qm_err client_oauth_form_add(struct qm_buf *b, const char *name,
                                  const char *value, struct qm_error *err)
{
	static const char hex[] = "0123456789ABCDEF";
	enum qm_err rc = QM_OK;

	if (b->len)
		rc = qm_buf_append_byte(b, '&', err);
	if (!rc)
		rc = qm_buf_append_str(b, name, err);
	if (!rc)
		rc = qm_buf_append_byte(b, '=', err);
	for (const unsigned char *p = (const unsigned char *)value; !rc && *p;
	     p++) {
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' ||
		    *p == '~') {
			rc = qm_buf_append_byte(b, *p, err);
		} else {
			unsigned char e[3] = {'%', (unsigned char)hex[*p >> 4],
			                      (unsigned char)hex[*p & 15]};
			rc = qm_buf_append(b, e, 3, err);
		}
	}
	return rc;
}

enum qm_err qm_client_oauth_pkce_challenge(const char *verifier, char *out,
                                           size_t outlen, struct qm_error *err)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	size_t n = verifier ? strlen(verifier) : 0;

	/* RFC 7636 4.1: 43 to 128 characters of [A-Za-z0-9-._~] */
	if (n < 43 || n > 128)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a PKCE verifier has 43 to 128 characters");
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)verifier[i]) &&
		    !strchr("-._~", verifier[i]))
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "a PKCE verifier holds only letters, "
			    "digits and -._~");
	if (outlen < sodium_base64_ENCODED_LEN(
	                 sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "no room for the "
		                    "challenge");
	crypto_hash_sha256(h, (const unsigned char *)verifier, n);
	sodium_bin2base64(out, outlen, h, sizeof(h),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return QM_OK;
}

void client_oauth_random(char *out, size_t outlen)
{
	unsigned char r[32];

	qm_random(r, sizeof(r));
	sodium_bin2base64(out, outlen, r, sizeof(r),
	                  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	qm_wipe(r, sizeof(r));
}

enum qm_err qm_client_oauth_auth_url(const struct qm_client_oauth_endpoints *ep,
                                     const struct qm_client_oauth_app *app,
                                     const char *redirect_uri,
                                     const char *state, const char *challenge,
                                     const char *login_hint, char *out,
                                     size_t outlen, struct qm_error *err)
{
	struct qm_buf q;
	enum qm_err rc;
	int n;

	rc =
	    client_oauth_check_url("authorization endpoint", ep->auth_url, err);
	if (rc)
		return rc;
	if (!app->client_id || !*app->client_id)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an OAuth2 sign-in needs the client ID "
		                    "registered with the provider");
	qm_buf_init(&q, 16 * 1024);
	rc = client_oauth_form_add(&q, "response_type", "code", err);
	if (!rc)
		rc =
		    client_oauth_form_add(&q, "client_id", app->client_id, err);
	if (!rc)
		rc = client_oauth_form_add(&q, "redirect_uri", redirect_uri,
		                           err);
	if (!rc && ep->scope[0])
		rc = client_oauth_form_add(&q, "scope", ep->scope, err);
	if (!rc)
		rc = client_oauth_form_add(&q, "state", state, err);
	if (!rc)
		rc =
		    client_oauth_form_add(&q, "code_challenge", challenge, err);
	if (!rc)
		rc = client_oauth_form_add(&q, "code_challenge_method", "S256",
		                           err);
	if (!rc && login_hint && *login_hint)
		rc = client_oauth_form_add(&q, "login_hint", login_hint, err);
	if (!rc && app->auth_params && *app->auth_params) {
		rc = qm_buf_append_byte(&q, '&', err);
		if (!rc)
			rc = qm_buf_append_str(&q, app->auth_params, err);
	}
	if (!rc) {
		n = snprintf(out, outlen, "%s%c%s", ep->auth_url,
		             strchr(ep->auth_url, '?') ? '&' : '?',
		             (const char *)q.data);
		if (n < 0 || (size_t)n >= outlen)
			rc = qm_error_set(err, QM_ERR_TOOBIG,
			                  "the authorization URL is too long");
	}
	qm_buf_free(&q);
	return rc;
}

/* ------------------------------------------------------------------ HTTPS */

/*
 * One HTTPS request to the provider (the mail layer's, https:// only, no
 * redirect): a POST of form (secure buffer) when given, else a GET. The
 * reply body goes to body (a secure buffer for token replies), the
 * status to *status.
 */
static enum qm_err https_do(const char *url, const char *ca_file,
                            const struct qm_buf *form, const char *what,
                            long *status, struct qm_buf *body,
                            struct qm_error *err)
{
	struct qm_mail_https_req req;
	enum qm_err rc;

	rc = client_oauth_check_url(what, url, err);
	if (rc)
		return rc;
	qm_kms_global_init(); /* JSON and libcurl wipe what they free */
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.ca_file = ca_file;
	req.form = form;
	req.accept = "application/json";
	req.timeout_ms = OAUTH_HTTP_MS;
	req.what = what;
	return qm_mail_https_request(&req, body, status, NULL, 0, err);
}

/* A provider's string shown to a person: control bytes dropped, cut. */
static void clean_text(const char *in, char *out, size_t outlen)
{
	size_t j = 0;

	for (; in && *in && j + 1 < outlen && j < 300; in++)
		if ((unsigned char)*in >= 0x20 && *in != 0x7f)
			out[j++] = *in;
	out[j] = '\0';
}

/* Parses body as a JSON object, or NULL. */
static json_t *body_json(const struct qm_buf *body)
{
	json_t *j;

	if (!body->len || qm_json_depth_check((const char *)body->data,
	                                      body->len, 16, NULL) != QM_OK)
		return NULL;
	j = json_loadb((const char *)body->data, body->len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		return NULL;
	}
	return j;
}

enum qm_err client_oauth_provider_error(const char *what, const char *host,
                                        long status, const char *code,
                                        const char *desc, struct qm_error *err)
{
	char d[320], said[400] = "", c[64];

	/* the code is the provider's text too: no control bytes into a
	 * message a terminal or page shows */
	if (code) {
		clean_text(code, c, sizeof(c));
		code = c;
	}
	clean_text(desc, d, sizeof(d));
	if (d[0])
		snprintf(said, sizeof(said), " (the provider said: \"%s\")", d);
	if (!code || !*code) {
		if (status >= 500)
			return qm_error_set(err, QM_ERR_UNAVAIL,
			                    "%s: %s answered HTTP %ld; try "
			                    "again later",
			                    what, host, status);
		return qm_error_set(err, QM_ERR_PROTO,
		                    "%s: %s answered HTTP %ld without an "
		                    "OAuth2 reply",
		                    what, host, status);
	}
	if (strcmp(code, "access_denied") == 0)
		return qm_error_set(err, QM_ERR_DENIED,
		                    "%s: the sign-in was declined at the "
		                    "provider%s; sign in again and allow QMail "
		                    "access to the mail",
		                    what, said);
	if (strcmp(code, "invalid_grant") == 0)
		return qm_error_set(
		    err, QM_ERR_DENIED,
		    "%s: the provider no longer accepts this "
		    "sign-in (invalid_grant: expired, revoked or "
		    "already used)%s; sign in again",
		    what, said);
	if (strcmp(code, "invalid_client") == 0 ||
	    strcmp(code, "unauthorized_client") == 0)
		return qm_error_set(
		    err, QM_ERR_DENIED,
		    "%s: the provider refuses the client ID (or "
		    "its secret): %s%s; check the client ID and "
		    "secret registered with the provider, and "
		    "that it allows this kind of sign-in",
		    what, code, said);
	if (strcmp(code, "invalid_scope") == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s: the provider refuses the scope asked "
		                    "for%s; check the scope the provider wants "
		                    "for IMAP and SMTP",
		                    what, said);
	if (strcmp(code, "temporarily_unavailable") == 0 ||
	    strcmp(code, "server_error") == 0 || status >= 500)
		return qm_error_set(
		    err, QM_ERR_UNAVAIL,
		    "%s: the provider cannot answer now (%s)%s; "
		    "try again later",
		    what, code, said);
	if (strcmp(code, "expired_token") == 0)
		return qm_error_set(err, QM_ERR_TIMEOUT,
		                    "%s: the code expired before the sign-in "
		                    "was approved; start again",
		                    what);
	return qm_error_set(err, QM_ERR_PROTO, "%s: the provider refused: %s%s",
	                    what, code, said);
}

/* A JSON number or numeric string as an integer (expires_in, interval). */
static long long json_num(const json_t *v)
{
	long long n = 0;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_string(v) &&
	    qm_parse_ll(json_string_value(v), 0, 100000000, &n, NULL) == QM_OK)
		return n;
	return 0;
}

/* Copies a JSON string into secure memory (NULL if absent). */
static char *sec_str(const json_t *v)
{
	const char *s = json_string_value(v);

	return s && *s ? qm_sec_dup(s, strlen(s) + 1) : NULL;
}

enum qm_err client_oauth_revoke_post(const char *revoke_url, const char *ca_file,
                                     const struct qm_buf *form,
                                     struct qm_error *err)
{
	static const char what[] = "signing out at the provider";
	struct qm_buf body;
	json_t *j = NULL;
	char host[256];
	long status = 0;
	enum qm_err rc;

	qm_buf_init_secure(&body, OAUTH_MAXREPLY);
	qm_mail_url_host(revoke_url ? revoke_url : "", host, sizeof(host));
	rc = https_do(revoke_url, ca_file, form, what, &status, &body, err);
	/* RFC 7009 2.2: 200 for a token revoked or already invalid; the
	 * body, if any, does not matter */
	if (!rc && status != 200) {
		j = body_json(&body);
		rc = client_oauth_provider_error(
		    what, host, status,
		    j ? json_string_value(json_object_get(j, "error")) : NULL,
		    j ? json_string_value(
		            json_object_get(j, "error_description"))
		      : NULL,
		    err);
	}
	json_decref(j);
	qm_buf_free(&body);
	return rc;
}

/*
 * Reads a provider's reply (status, body) to what: *out the JSON object of
 * a 200 without "error" (the caller frees it). Otherwise the provider's
 * error (client_oauth_provider_error), its OAuth2 code into code (codelen
 * bytes, "" when none; code may be NULL). host names the provider in
 * messages.
 */
static enum qm_err provider_reply(const char *what, const char *host,
                                  long status, const struct qm_buf *body,
                                  json_t **out, char *code, size_t codelen,
                                  struct qm_error *err)
{
	json_t *j;
	const char *e;
	enum qm_err rc;

	*out = NULL;
	if (code && codelen)
		code[0] = '\0';
	j = body_json(body);
	e = j ? json_string_value(json_object_get(j, "error")) : NULL;
	if (e || status != 200) {
		if (code && e)
			clean_text(e, code, codelen);
		rc = client_oauth_provider_error(
		    what, host, status, e,
		    j ? json_string_value(
		            json_object_get(j, "error_description"))
		      : NULL,
		    err);
		json_decref(j);
		return rc;
	}
	*out = j;
	return QM_OK;
}

/* POSTs form to a provider's endpoint at url (https_do) and reads its
 * reply with provider_reply; host gets the URL's host. */
static enum qm_err provider_post(const char *url, const char *ca_file,
                                 const struct qm_buf *form, const char *what,
                                 char *host, size_t hostlen, json_t **out,
                                 char *code, size_t codelen,
                                 struct qm_error *err)
{
	struct qm_buf body;
	long status = 0;
	enum qm_err rc;

	*out = NULL;
	if (code && codelen)
		code[0] = '\0';
	qm_buf_init_secure(&body, OAUTH_MAXREPLY);
	qm_mail_url_host(url ? url : "", host, hostlen);
	rc = https_do(url, ca_file, form, what, &status, &body, err);
	if (!rc)
		rc = provider_reply(what, host, status, &body, out, code,
		                    codelen, err);
	qm_buf_free(&body);
	return rc;
}

/* The token fields of a provider's successful reply j. */
static enum qm_err token_fields(const char *what, const char *host, json_t *j,
                                struct qm_client_oauth_tokens *out,
                                struct qm_error *err)
{
	const char *tt = json_string_value(json_object_get(j, "token_type"));
	const char *scope = json_string_value(json_object_get(j, "scope"));
	long long n;

	if (!json_string_value(json_object_get(j, "access_token")) ||
	    (tt && strcasecmp(tt, "bearer") != 0))
		return qm_error_set(err, QM_ERR_PROTO,
		                    "%s: %s gave no bearer access token", what,
		                    host);
	out->access = sec_str(json_object_get(j, "access_token"));
	out->refresh = sec_str(json_object_get(j, "refresh_token"));
	if (!out->access)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "%s: %s gave an empty access token", what,
		                    host);
	out->issued = qm_now();
	n = json_num(json_object_get(j, "expires_in"));
	out->expires = n > 0 ? out->issued + n : 0;
	qm_strlcpy(out->scope, scope ? scope : "", sizeof(out->scope));
	return QM_OK;
}

enum qm_err client_oauth_token_reply(const char *what, const char *host,
                                     long status, const struct qm_buf *body,
                                     struct qm_client_oauth_tokens *out,
                                     char *code, size_t codelen,
                                     struct qm_error *err)
{
	json_t *j = NULL;
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	rc = provider_reply(what, host, status, body, &j, code, codelen, err);
	if (!rc)
		rc = token_fields(what, host, j, out, err);
	if (rc)
		qm_client_oauth_tokens_wipe(out);
	json_decref(j);
	return rc;
}

enum qm_err client_oauth_token_post(const char *token_url, const char *ca_file,
                                    const struct qm_buf *form, const char *what,
                                    struct qm_client_oauth_tokens *out,
                                    char *code, size_t codelen,
                                    struct qm_error *err)
{
	json_t *j = NULL;
	char host[256];
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	rc = provider_post(token_url, ca_file, form, what, host, sizeof(host),
	                   &j, code, codelen, err);
	if (!rc)
		rc = token_fields(what, host, j, out, err);
	if (rc)
		qm_client_oauth_tokens_wipe(out);
	json_decref(j);
	return rc;
}

/* The device authorization fields of a provider's successful reply j. */
static enum qm_err device_fields(const char *what, const char *host, json_t *j,
                                 struct qm_client_oauth_device *dev,
                                 char **device_code, struct qm_error *err)
{
	const char *uc, *vu, *vc;
	long long n;

	uc = json_string_value(json_object_get(j, "user_code"));
	vu = json_string_value(json_object_get(j, "verification_uri"));
	if (!vu) /* Google's older name */
		vu = json_string_value(json_object_get(j, "verification_url"));
	vc = json_string_value(json_object_get(j, "verification_uri_complete"));
	if (!uc || !*uc || !vu ||
	    client_oauth_check_url("verification URI", vu, NULL) ||
	    !json_string_value(json_object_get(j, "device_code")))
		return qm_error_set(err, QM_ERR_PROTO,
		                    "%s: %s gave no user code and https:// "
		                    "verification URI",
		                    what, host);
	clean_text(uc, dev->user_code, sizeof(dev->user_code));
	qm_strlcpy(dev->verification_uri, vu, sizeof(dev->verification_uri));
	if (vc && !client_oauth_check_url("verification URI", vc, NULL))
		qm_strlcpy(dev->verification_uri_complete, vc,
		           sizeof(dev->verification_uri_complete));
	n = json_num(json_object_get(j, "interval"));
	dev->interval = n > 0 && n < 600 ? (int)n : 5; /* RFC 8628 3.2 */
	n = json_num(json_object_get(j, "expires_in"));
	dev->expires = qm_now() + (n > 0 ? n : 600);
	*device_code = sec_str(json_object_get(j, "device_code"));
	if (!*device_code)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "%s: %s gave an empty device code", what,
		                    host);
	return QM_OK;
}

enum qm_err client_oauth_device_reply(const char *host, long status,
                                      const struct qm_buf *body,
                                      struct qm_client_oauth_device *dev,
                                      char **device_code, struct qm_error *err)
{
	const char *what = "starting the device sign-in";
	json_t *j = NULL;
	enum qm_err rc;

	memset(dev, 0, sizeof(*dev));
	*device_code = NULL;
	rc = provider_reply(what, host, status, body, &j, NULL, 0, err);
	if (!rc)
		rc = device_fields(what, host, j, dev, device_code, err);
	json_decref(j);
	return rc;
}

enum qm_err client_oauth_device_post(const char *device_url,
                                     const char *ca_file,
                                     const struct qm_buf *form,
                                     struct qm_client_oauth_device *dev,
                                     char **device_code, struct qm_error *err)
{
	const char *what = "starting the device sign-in";
	json_t *j = NULL;
	char host[256];
	enum qm_err rc;

	memset(dev, 0, sizeof(*dev));
	*device_code = NULL;
	rc = provider_post(device_url, ca_file, form, what, host, sizeof(host),
	                   &j, NULL, 0, err);
	if (!rc)
		rc = device_fields(what, host, j, dev, device_code, err);
	json_decref(j);
	return rc;
}

/* Copies the string member name of j into out when out is empty. */
static void fill(json_t *j, const char *name, char *out, size_t outlen)
{
	const char *v = json_string_value(json_object_get(j, name));

	if (!out[0] && v && client_oauth_https(v))
		qm_strlcpy(out, v, outlen);
}

enum qm_err qm_client_oauth_discover(const char *issuer, const char *ca_file,
                                     struct qm_client_oauth_endpoints *ep,
                                     struct qm_error *err)
{
	const char *what = "reading the provider's OpenID configuration";
	char url[QM_STORE_PATHMAX + 64], host[256];
	struct qm_buf body;
	json_t *j = NULL;
	const char *iss;
	long status = 0;
	size_t n;
	enum qm_err rc;

	rc = client_oauth_check_url("issuer URL", issuer, err);
	if (rc)
		return rc;
	n = strlen(issuer);
	while (n && issuer[n - 1] == '/')
		n--;
	snprintf(url, sizeof(url), "%.*s/.well-known/openid-configuration",
	         (int)n, issuer);
	qm_mail_url_host(url, host, sizeof(host));
	qm_buf_init(&body, OAUTH_MAXREPLY);
	rc = https_do(url, ca_file, NULL, what, &status, &body, err);
	if (rc)
		goto out;
	j = body_json(&body);
	if (status != 200 || !j) {
		rc = qm_error_set(
		    err, status == 404 ? QM_ERR_NOTFOUND : QM_ERR_PROTO,
		    "%s: %s answered HTTP %ld%s; check the "
		    "issuer URL",
		    what, host, status, j ? "" : " without a JSON document");
		goto out;
	}
	iss = json_string_value(json_object_get(j, "issuer"));
	if (!iss || strlen(iss) < n || strncmp(iss, issuer, n) != 0 ||
	    (iss[n] && strcmp(iss + n, "/") != 0)) {
		rc = qm_error_set(err, QM_ERR_AUTH,
		                  "%s: the document at %s names another issuer "
		                  "than %.200s; refusing it",
		                  what, host, issuer);
		goto out;
	}
	qm_strlcpy(ep->issuer, iss, sizeof(ep->issuer));
	fill(j, "authorization_endpoint", ep->auth_url, sizeof(ep->auth_url));
	fill(j, "token_endpoint", ep->token_url, sizeof(ep->token_url));
	fill(j, "device_authorization_endpoint", ep->device_url,
	     sizeof(ep->device_url));
	fill(j, "revocation_endpoint", ep->revoke_url, sizeof(ep->revoke_url));
	if (!ep->token_url[0])
		rc = qm_error_set(err, QM_ERR_PROTO,
		                  "%s: %s names no https:// token endpoint",
		                  what, host);
out:
	json_decref(j);
	qm_buf_free(&body);
	return rc;
}
