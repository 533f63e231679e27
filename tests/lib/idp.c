/* SPDX-License-Identifier: MIT */
/*
 * Starts and drives the test authorization server (see idp.h): a
 * throw-away CA and server certificate made with the openssl command,
 * node running tests/oauth/idp.mjs on a free loopback port (alone, or
 * with the mail servers checking its tokens), the robot
 * (tests/oauth/robot.mjs) as the user's browser, and a small OAuth2
 * client of its own (libcurl, jansson, OpenSSL for PKCE) for the tests of
 * the servers.
 */
#include "idp.h"
#include "harness.h"
#include "mailserver.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"
#define MAXBODY      ((size_t)1 << 20)

static int path(char *out, size_t n, const char *dir, const char *name)
{
	int r = snprintf(out, n, "%s/%s", dir, name);

	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* A certificate for 127.0.0.1 and localhost signed by the caller's CA
 * or by a CA made here. */
static int make_certs(struct qmt_idp *idp, const struct qmt_idp_opts *o)
{
	static const char *const dns[] = {"localhost", NULL};
	static const char *const ips[] = {"127.0.0.1", NULL};
	int own_ca = !o || !o->ca_cert_file || !o->ca_key_file;
	struct qmt_ca ca;

	if (own_ca) {
		if (qmt_ca_make(&ca, idp->dir, "ca",
		                "QMail throw-away IdP CA") != 0)
			return -1;
	} else if (snprintf(ca.crt, sizeof(ca.crt), "%s", o->ca_cert_file) >=
	               (int)sizeof(ca.crt) ||
	           snprintf(ca.key, sizeof(ca.key), "%s", o->ca_key_file) >=
	               (int)sizeof(ca.key)) {
		return -1;
	}
	if (snprintf(idp->ca_file, sizeof(idp->ca_file), "%s", ca.crt) >=
	        (int)sizeof(idp->ca_file) ||
	    qmt_ca_sign_server(&ca, idp->dir, "localhost", dns, ips) != 0)
		return -1;
	/* Dovecot's auth process (not root) reads the CA */
	return own_ca ? chmod(idp->ca_file, 0644) : 0;
}

/* Waits for "ready <port>" in the server's log. */
static int wait_ready(const struct qmt_idp *idp, const char *log,
                      int timeout_ms)
{
	char want[32];

	snprintf(want, sizeof(want), "ready %d\n", idp->port);
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		char *text = qmt_read_file(log, NULL);
		int found = text && strstr(text, want) != NULL;

		free(text);
		if (found)
			return 0;
		if (waitpid(idp->pid, NULL, WNOHANG) == idp->pid)
			return -1; /* it died */
		/* poll with no fds: the interval between two looks at the
		 * log (the line is the only sign that it listens) */
		poll(NULL, 0, 20);
	}
	return -1;
}

static long http(const struct qmt_idp *idp, const char *url, const char *form,
                 const char *userpwd, json_t **json);

/* One endpoint of the discovery document j into out; 0 or -1. */
static int endpoint(json_t *j, const char *name, char *out, size_t n)
{
	const char *v = json_string_value(json_object_get(j, name));
	int w = v ? snprintf(out, n, "%s", v) : -1;

	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* The endpoints from the server's discovery document (RFC 8414 /
 * OpenID Connect Discovery), as a client finds them. */
static int discover(struct qmt_idp *idp)
{
	json_t *j = NULL;
	const char *iss;
	int rc = -1;

	if (http(idp, idp->discovery_url, NULL, NULL, &j) != 200 || !j)
		goto out;
	iss = json_string_value(json_object_get(j, "issuer"));
	if (!iss || strcmp(iss, idp->issuer) != 0 ||
	    endpoint(j, "authorization_endpoint", idp->auth_url,
	             sizeof(idp->auth_url)) ||
	    endpoint(j, "token_endpoint", idp->token_url,
	             sizeof(idp->token_url)) ||
	    endpoint(j, "device_authorization_endpoint", idp->device_url,
	             sizeof(idp->device_url)) ||
	    endpoint(j, "revocation_endpoint", idp->revoke_url,
	             sizeof(idp->revoke_url)) ||
	    endpoint(j, "introspection_endpoint", idp->introspect_url,
	             sizeof(idp->introspect_url)) ||
	    endpoint(j, "userinfo_endpoint", idp->userinfo_url,
	             sizeof(idp->userinfo_url)))
		goto out;
	/* what tests/lib/idp.h promises callers that build URLs early */
	{
		size_t n = strlen(idp->issuer);

		rc = strncmp(idp->introspect_url, idp->issuer, n) == 0 &&
		             strcmp(idp->introspect_url + n,
		                    QMT_IDP_INTROSPECT_PATH) == 0
		         ? 0
		         : -1;
	}
out:
	json_decref(j);
	return rc;
}

static int have_node(void)
{
	char *argv[] = {"node", "--version", NULL};

	return qmt_run(argv, NULL) == 0;
}

int qmt_idp_start(struct qmt_idp *idp, const struct qmt_idp_opts *opts)
{
	char script[700], pkg[700], crt[320], key[320], log[320], port[16],
	    ttl[16];
	int n;

	memset(idp, 0, sizeof(*idp));
	idp->access_ttl = opts && opts->access_ttl > 0 ? opts->access_ttl : 60;
	n = snprintf(script, sizeof(script), "%s/tests/oauth/idp.mjs",
	             qmt_source_dir());
	if (n < 0 || (size_t)n >= sizeof(script))
		return -1;
	snprintf(pkg, sizeof(pkg), "%s/node_modules/oidc-provider/package.json",
	         qmt_source_dir());
	if (!have_node() || access(pkg, R_OK) != 0) {
		fprintf(stderr, "idp: needs node and the npm package "
		                "oidc-provider (scripts/install-deps.sh)\n");
		return 1;
	}
	if (qmt_tmpdir("idp", idp->dir, sizeof(idp->dir)) != 0 ||
	    chmod(idp->dir, 0755) != 0)
		return -1;
	if (make_certs(idp, opts) != 0) {
		fprintf(stderr, "idp: making the test CA failed\n");
		goto fail;
	}
	idp->port = opts && opts->port > 0 ? opts->port : qmt_free_port();
	if (idp->port == 0)
		goto fail;
	path(crt, sizeof(crt), idp->dir, "server.crt");
	path(key, sizeof(key), idp->dir, "server.key");
	path(log, sizeof(log), idp->dir, "idp.log");
	snprintf(port, sizeof(port), "%d", idp->port);
	snprintf(ttl, sizeof(ttl), "%d", idp->access_ttl);
	{
		char *argv[] = {"node",
		                script,
		                "--cert",
		                crt,
		                "--key",
		                key,
		                "--port",
		                port,
		                "--access-ttl",
		                ttl,
		                "--rotate",
		                opts && opts->keep_refresh ? "no" : "yes",
		                NULL};
		idp->pid = qmt_spawn(argv, NULL, log);
	}
	if (idp->pid < 0 || wait_ready(idp, log, 30000) != 0) {
		fprintf(stderr,
		        "idp: the authorization server did not start\n");
		qmt_show_log(log);
		goto fail;
	}
	snprintf(idp->issuer, sizeof(idp->issuer), "https://127.0.0.1:%d",
	         idp->port);
	snprintf(idp->discovery_url, sizeof(idp->discovery_url),
	         "%s" QMT_IDP_DISCOVERY_PATH, idp->issuer);
	if (discover(idp) != 0) {
		fprintf(stderr, "idp: its discovery document is not as "
		                "expected\n");
		qmt_show_log(log);
		goto fail;
	}
	return 0;
fail:
	qmt_idp_stop(idp);
	return -1;
}

void qmt_idp_stop(struct qmt_idp *idp)
{
	if (idp->pid > 0)
		qmt_stop(idp->pid);
	idp->pid = 0;
	if (idp->dir[0] && !getenv("QMT_KEEP"))
		qmt_rmtree(idp->dir);
	idp->dir[0] = '\0';
}

int qmt_idp_mail_start(struct qmt_idp *idp, const struct qmt_idp_opts *opts,
                       struct qmt_mail *m, int one_ca)
{
	char introspect[128], config[160];
	struct qmt_idp_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	if (opts)
		o = *opts;
	memset(idp, 0, sizeof(*idp));
	m->oauth2_client_id = QMT_IDP_DOVECOT;
	m->oauth2_client_secret = QMT_IDP_DOVECOT_SECRET;
	m->oauth2_scope = "mail";
	if (!one_ca) {
		r = qmt_idp_start(idp, &o);
		if (r == 0) {
			m->oauth2_introspect_url = idp->introspect_url;
			m->oauth2_openid_config_url = idp->discovery_url;
			m->oauth2_ca_file = idp->ca_file;
			r = qmt_mail_start(m);
		}
	} else {
		/* Dovecot asks the server only at logins: it may start after */
		if (!o.port && (o.port = qmt_free_port()) == 0)
			return -1;
		snprintf(introspect, sizeof(introspect),
		         "https://127.0.0.1:%d" QMT_IDP_INTROSPECT_PATH,
		         o.port);
		snprintf(config, sizeof(config),
		         "https://127.0.0.1:%d" QMT_IDP_DISCOVERY_PATH, o.port);
		m->oauth2_introspect_url = introspect;
		m->oauth2_openid_config_url = config;
		m->oauth2_ca_file = NULL;
		r = qmt_mail_start(m);
		if (r == 0) {
			o.ca_cert_file = m->ca_file;
			o.ca_key_file = m->ca_key_file;
			r = qmt_idp_start(idp, &o);
		}
		if (r == 0 && (strcmp(idp->introspect_url, introspect) != 0 ||
		               strcmp(idp->discovery_url, config) != 0)) {
			fprintf(stderr, "idp: not where Dovecot was told\n");
			r = -1;
		}
		/* the same strings, which outlive this call */
		m->oauth2_introspect_url = idp->introspect_url;
		m->oauth2_openid_config_url = idp->discovery_url;
	}
	if (r != 0)
		qmt_idp_mail_stop(idp, m);
	return r;
}

void qmt_idp_mail_stop(struct qmt_idp *idp, struct qmt_mail *m)
{
	qmt_mail_stop(m);
	qmt_idp_stop(idp);
}

/* ------------------------------------------------------------- the robot */

/* Runs robot.mjs with extra arguments; its output into dir/robot.log
 * (shown on failure), and the text into *out when out is not NULL. */
static int robot(const struct qmt_idp *idp, char *const *extra, size_t n,
                 char **out)
{
	char script[700], log[320];
	char *argv[16];
	size_t k = 0;
	int rc;

	if (n > 10)
		return -1;
	snprintf(script, sizeof(script), "%s/tests/oauth/robot.mjs",
	         qmt_source_dir());
	path(log, sizeof(log), idp->dir, "robot.log");
	unlink(log);
	argv[k++] = "node";
	argv[k++] = script;
	argv[k++] = "--ca";
	argv[k++] = (char *)(uintptr_t)idp->ca_file;
	for (size_t i = 0; i < n; i++)
		argv[k++] = extra[i];
	argv[k] = NULL;
	rc = qmt_run(argv, log);
	if (out)
		*out = qmt_read_file(log, NULL);
	if (rc != 0 && !out)
		qmt_show_log(log);
	return rc == 0 ? 0 : -1;
}

int qmt_idp_browser(const struct qmt_idp *idp, const char *auth_url,
                    const char *user, int deny)
{
	char *a[] = {"--deny", (char *)(uintptr_t)auth_url,
	             (char *)(uintptr_t)user};

	return deny ? robot(idp, a, 3, NULL) : robot(idp, a + 1, 2, NULL);
}

int qmt_idp_browser_badpass(const struct qmt_idp *idp, const char *auth_url,
                            const char *user)
{
	char *a[] = {"--password", "not-the-Pw-0000",
	             (char *)(uintptr_t)auth_url, (char *)(uintptr_t)user};
	char *out = NULL;
	int rc = robot(idp, a, 4, &out), refused;

	refused = rc != 0 && out && strstr(out, "refused: Wrong address");
	if (!refused)
		fprintf(stderr, "idp: a wrong password was not refused: %s\n",
		        out ? out : "(no output)");
	free(out);
	return refused ? 0 : -1;
}

int qmt_idp_device(const struct qmt_idp *idp, const char *verification_uri,
                   const char *user_code, const char *user, int deny)
{
	char *a[] = {"--deny", "--device", (char *)(uintptr_t)verification_uri,
	             (char *)(uintptr_t)user_code, (char *)(uintptr_t)user};

	return deny ? robot(idp, a, 5, NULL) : robot(idp, a + 1, 4, NULL);
}

/* ------------------------------------------------------------------ HTTP */

struct body {
	char *p;
	size_t n;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	char *t;

	if (b->n + n + 1 > MAXBODY || !(t = realloc(b->p, b->n + n + 1)))
		return 0;
	memcpy(t + b->n, p, n);
	b->p = t;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* GET (form NULL) or POST form to url, Basic auth with userpwd when not
 * NULL; the JSON answer into *json. Returns the HTTP status or -1. */
static long http(const struct qmt_idp *idp, const char *url, const char *form,
                 const char *userpwd, json_t **json)
{
	struct body b = {0};
	CURL *h = curl_easy_init();
	long status = -1;

	*json = NULL;
	if (!h)
		return -1;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CAINFO, idp->ca_file);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	if (form)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, form);
	if (userpwd) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	if (b.p && b.n)
		*json = json_loads(b.p, 0, NULL);
	free(b.p);
	return status;
}

long qmt_idp_grants(const struct qmt_idp *idp, const char *grant_type,
                    int failed)
{
	char url[160];
	json_t *j, *o;
	long count = -1;
	const char *t =
	    strcmp(grant_type, "device_code") == 0 ? DEVICE_GRANT : grant_type;

	snprintf(url, sizeof(url), "%s/test/grants", idp->issuer);
	if (http(idp, url, NULL, NULL, &j) != 200 || !j)
		goto out;
	o = json_object_get(j, failed ? "error" : "success");
	if (!json_is_object(o))
		goto out;
	o = json_object_get(o, t);
	if (!o)
		count = 0;
	else if (json_is_integer(o))
		count = (long)json_integer_value(o);
	else if (json_is_object(o)) {
		const char *k;
		json_t *v;

		count = 0;
		json_object_foreach(o, k, v) count +=
		    (long)json_integer_value(v);
	}
out:
	json_decref(j);
	return count;
}

/* "token=...&client_id=..." and the like: name=value pairs escaped. */
static char *form2(const char *k1, const char *v1, const char *k2,
                   const char *v2, const char *k3, const char *v3,
                   const char *k4, const char *v4)
{
	const char *kv[8] = {k1, v1, k2, v2, k3, v3, k4, v4};
	char *out = calloc(1, 4096);
	size_t off = 0;

	if (!out)
		return NULL;
	for (int i = 0; i < 8 && kv[i]; i += 2) {
		char *e = curl_easy_escape(NULL, kv[i + 1], 0);
		int w;

		if (!e) {
			free(out);
			return NULL;
		}
		w = snprintf(out + off, 4096 - off, "%s%s=%s", off ? "&" : "",
		             kv[i], e);
		curl_free(e);
		if (w < 0 || (size_t)w >= 4096 - off) {
			free(out);
			return NULL;
		}
		off += (size_t)w;
	}
	return out;
}

int qmt_idp_introspect(const struct qmt_idp *idp, const char *token, char *sub,
                       size_t subn)
{
	char *f = form2("token", token, NULL, NULL, NULL, NULL, NULL, NULL);
	json_t *j = NULL;
	int rc = -1;

	if (f &&
	    http(idp, idp->introspect_url, f,
	         QMT_IDP_DOVECOT ":" QMT_IDP_DOVECOT_SECRET, &j) == 200 &&
	    j) {
		const char *s = json_string_value(json_object_get(j, "sub"));

		rc = json_is_true(json_object_get(j, "active")) ? 1 : 0;
		if (rc == 1 && sub)
			snprintf(sub, subn, "%s", s ? s : "");
	}
	json_decref(j);
	free(f);
	return rc;
}

int qmt_idp_revoke(const struct qmt_idp *idp, const char *token)
{
	/* as each QMail client in turn: the server revokes a token only
	 * for the client it was issued to ("this token does not belong to
	 * you" to the others) */
	char *forms[2] = {form2("token", token, "client_id", QMT_IDP_CLIENT,
	                        NULL, NULL, NULL, NULL),
	                  form2("token", token, "client_id",
	                        QMT_IDP_SECRET_CLIENT, "client_secret",
	                        QMT_IDP_SECRET, NULL, NULL)};
	int rc = -1;

	for (int i = 0; i < 2 && rc != 0 && forms[i]; i++) {
		json_t *j = NULL;
		long status = http(idp, idp->revoke_url, forms[i], NULL, &j);

		json_decref(j);
		if (status == 200 &&
		    qmt_idp_introspect(idp, token, NULL, 0) == 0)
			rc = 0;
	}
	if (rc != 0)
		fprintf(stderr, "idp: revoking a token failed\n");
	free(forms[0]);
	free(forms[1]);
	return rc;
}

long qmt_idp_revoke_user(const struct qmt_idp *idp, const char *user)
{
	char url[160];
	char *f = form2("user", user, NULL, NULL, NULL, NULL, NULL, NULL);
	json_t *j = NULL;
	long n = -1;

	snprintf(url, sizeof(url), "%s/test/revoke", idp->issuer);
	if (f && http(idp, url, f, NULL, &j) == 200 &&
	    json_is_integer(json_object_get(j, "revoked")))
		n = (long)json_integer_value(json_object_get(j, "revoked"));
	if (n < 0)
		fprintf(stderr, "idp: revoking %s's access failed\n", user);
	json_decref(j);
	free(f);
	return n;
}

/* ------------------------------------------------- a client of its own */

static void b64url(const unsigned char *in, size_t n, char *out, size_t outn)
{
	static const char t[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n && o + 1 < outn; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6 && o + 1 < outn) {
			bits -= 6;
			out[o++] = t[(acc >> bits) & 63];
		}
	}
	if (bits > 0 && o + 1 < outn)
		out[o++] = t[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

struct listener {
	int fd;
	char query[2048]; /* what the redirect brought, "" when nothing */
};

/* Accepts one request on the loopback listener and answers 200. */
static void *listen_once(void *arg)
{
	struct listener *l = arg;
	struct pollfd p = {.fd = l->fd, .events = POLLIN};
	char req[4096];
	size_t n = 0;
	int c;
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain"
	                         "\r\nContent-Length: 10\r\nConnection: close"
	                         "\r\n\r\nsigned in\n";

	if (poll(&p, 1, 60000) != 1 || (c = accept(l->fd, NULL, NULL)) < 0)
		return NULL;
	while (n + 1 < sizeof(req)) {
		struct pollfd q = {.fd = c, .events = POLLIN};
		ssize_t r;

		if (poll(&q, 1, 20000) != 1 ||
		    (r = recv(c, req + n, sizeof(req) - 1 - n, 0)) <= 0)
			break;
		n += (size_t)r;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[n] = '\0';
	if (strncmp(req, "GET ", 4) == 0) {
		char *q = strchr(req + 4, '?'), *sp;

		if (q && (sp = strchr(q, ' ')))
			snprintf(l->query, sizeof(l->query), "%.*s",
			         (int)(sp - q - 1), q + 1);
	}
	(void)send(c, ok, sizeof(ok) - 1, MSG_NOSIGNAL);
	close(c);
	return NULL;
}

/* The value of name in a query string (unescaped) into out; 0 or -1. */
static int query_get(const char *q, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);

	for (const char *p = q; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t len = amp ? (size_t)(amp - p) : strlen(p);

		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			int ol;
			char *v = curl_easy_unescape(NULL, p + nl + 1,
			                             (int)(len - nl - 1), &ol);
			if (!v)
				return -1;
			snprintf(out, n, "%s", v);
			curl_free(v);
			return 0;
		}
		p = amp ? amp + 1 : NULL;
	}
	return -1;
}

/* The token endpoint's answer into out: 0; 1 when it refused with an
 * OAuth2 error (its code into err); -1 on failure. */
static int token_request(const struct qmt_idp *idp, const char *form,
                         struct qmt_idp_tokens *out, char *err, size_t errn)
{
	json_t *j = NULL;
	long status = http(idp, idp->token_url, form, NULL, &j);
	const char *at, *rt, *sc;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (err)
		err[0] = '\0';
	if (status != 200 || !j) {
		const char *e =
		    j ? json_string_value(json_object_get(j, "error")) : NULL;
		if (e && status == 400) {
			rc = 1;
			if (err)
				snprintf(err, errn, "%s", e);
		} else {
			fprintf(stderr, "idp: token request: HTTP %ld %s\n",
			        status, e ? e : "");
		}
		goto out;
	}
	at = json_string_value(json_object_get(j, "access_token"));
	rt = json_string_value(json_object_get(j, "refresh_token"));
	sc = json_string_value(json_object_get(j, "scope"));
	if (!at)
		goto out;
	snprintf(out->access, sizeof(out->access), "%s", at);
	snprintf(out->refresh, sizeof(out->refresh), "%s", rt ? rt : "");
	snprintf(out->scope, sizeof(out->scope), "%s", sc ? sc : "");
	out->expires_in =
	    (long)json_integer_value(json_object_get(j, "expires_in"));
	rc = 0;
out:
	json_decref(j);
	return rc;
}

/* client_id (and the secret of the confidential client) as form fields. */
static const char *secret_of(const char *client)
{
	return strcmp(client, QMT_IDP_SECRET_CLIENT) == 0 ? QMT_IDP_SECRET
	                                                  : NULL;
}

/* The code flow; deny: the user presses Deny, and 0 means the redirect
 * said access_denied and brought no code. */
static int sign_in(const struct qmt_idp *idp, const char *client,
                   const char *user, const char *scope, int deny,
                   struct qmt_idp_tokens *out)
{
	struct listener l = {.fd = -1};
	struct sockaddr_in a = {0};
	socklen_t alen = sizeof(a);
	unsigned char raw[32], hash[32];
	char verifier[64], challenge[64], state[32], redirect[64], url[2048],
	    code[256], got_state[64];
	char *e_redirect = NULL, *e_scope = NULL, *f = NULL;
	pthread_t th;
	int started = 0, rc = -1, browsed;

	memset(out, 0, sizeof(*out));
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return -1;
	b64url(raw, sizeof(raw), verifier, sizeof(verifier));
	if (EVP_Digest(verifier, strlen(verifier), hash, NULL, EVP_sha256(),
	               NULL) != 1 ||
	    RAND_bytes(raw, 12) != 1)
		return -1;
	b64url(hash, sizeof(hash), challenge, sizeof(challenge));
	b64url(raw, 12, state, sizeof(state));

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l.fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(l.fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(l.fd, 4) != 0 ||
	    getsockname(l.fd, (struct sockaddr *)&a, &alen) != 0)
		goto out;
	snprintf(redirect, sizeof(redirect), "http://127.0.0.1:%d/callback",
	         ntohs(a.sin_port));
	e_redirect = curl_easy_escape(NULL, redirect, 0);
	e_scope = curl_easy_escape(NULL, scope ? scope : QMT_IDP_SCOPE, 0);
	if (!e_redirect || !e_scope)
		goto out;
	snprintf(url, sizeof(url),
	         "%s?response_type=code&client_id=%s&redirect_uri=%s&scope=%s"
	         "&state=%s&code_challenge=%s&code_challenge_method=S256",
	         idp->auth_url, client, e_redirect, e_scope, state, challenge);
	if (pthread_create(&th, NULL, listen_once, &l) != 0)
		goto out;
	started = 1;
	browsed = qmt_idp_browser(idp, url, user, deny);
	if (browsed != 0) {
		/* wake the listener: nothing will come */
		shutdown(l.fd, SHUT_RDWR);
	}
	pthread_join(th, NULL);
	started = 0;
	if (browsed != 0)
		goto out;
	if (deny) {
		char error[64];

		rc = query_get(l.query, "error", error, sizeof(error)) == 0 &&
		             strcmp(error, "access_denied") == 0 &&
		             query_get(l.query, "code", code, sizeof(code)) != 0
		         ? 0
		         : -1;
		if (rc != 0)
			fprintf(stderr, "idp: a refusal did not say so: %s\n",
			        l.query);
		goto out;
	}
	if (query_get(l.query, "state", got_state, sizeof(got_state)) != 0 ||
	    strcmp(got_state, state) != 0 ||
	    query_get(l.query, "code", code, sizeof(code)) != 0) {
		fprintf(stderr, "idp: the redirect brought no code: %s\n",
		        l.query);
		goto out;
	}
	f = form2("grant_type", "authorization_code", "code", code,
	          "redirect_uri", redirect, "code_verifier", verifier);
	if (!f)
		goto out;
	{
		char *auth = form2("client_id", client,
		                   secret_of(client) ? "client_secret" : NULL,
		                   secret_of(client), NULL, NULL, NULL, NULL);
		size_t need = strlen(f) + (auth ? strlen(auth) : 0) + 2;
		char *all = auth ? malloc(need) : NULL;

		if (all) {
			snprintf(all, need, "%s&%s", f, auth);
			rc =
			    token_request(idp, all, out, NULL, 0) == 0 ? 0 : -1;
		}
		free(all);
		free(auth);
	}
out:
	if (started) {
		shutdown(l.fd, SHUT_RDWR);
		pthread_join(th, NULL);
	}
	if (l.fd >= 0)
		close(l.fd);
	curl_free(e_redirect);
	curl_free(e_scope);
	free(f);
	return rc;
}

int qmt_idp_refresh(const struct qmt_idp *idp, const char *client,
                    const char *refresh_token, struct qmt_idp_tokens *out)
{
	char *f = form2("grant_type", "refresh_token", "refresh_token",
	                refresh_token, "client_id", client,
	                secret_of(client) ? "client_secret" : NULL,
	                secret_of(client));
	char err[64];
	int rc;

	if (!f)
		return -1;
	rc = token_request(idp, f, out, err, sizeof(err));
	if (rc == 1 && strcmp(err, "invalid_grant") != 0) {
		fprintf(stderr, "idp: refresh refused: %s\n", err);
		rc = -1;
	}
	free(f);
	return rc;
}

int qmt_idp_sign_in(const struct qmt_idp *idp, const char *client,
                    const char *user, const char *scope,
                    struct qmt_idp_tokens *out)
{
	return sign_in(idp, client, user, scope, 0, out);
}

int qmt_idp_sign_in_denied(const struct qmt_idp *idp, const char *client,
                           const char *user)
{
	struct qmt_idp_tokens none;

	return sign_in(idp, client, user, NULL, 1, &none);
}

int qmt_idp_device_begin(const struct qmt_idp *idp, const char *client,
                         const char *scope, struct qmt_idp_device_auth *d)
{
	char *f =
	    form2("client_id", client, "scope", scope ? scope : QMT_IDP_SCOPE,
	          secret_of(client) ? "client_secret" : NULL, secret_of(client),
	          NULL, NULL);
	json_t *j = NULL;
	const char *dc, *uc, *vu;
	int rc = -1;

	memset(d, 0, sizeof(*d));
	if (!f || http(idp, idp->device_url, f, NULL, &j) != 200 || !j)
		goto out;
	dc = json_string_value(json_object_get(j, "device_code"));
	uc = json_string_value(json_object_get(j, "user_code"));
	vu = json_string_value(json_object_get(j, "verification_uri"));
	if (!dc || !uc || !vu)
		goto out;
	snprintf(d->device_code, sizeof(d->device_code), "%s", dc);
	snprintf(d->user_code, sizeof(d->user_code), "%s", uc);
	snprintf(d->verification_uri, sizeof(d->verification_uri), "%s", vu);
	d->interval =
	    json_is_integer(json_object_get(j, "interval"))
	        ? (long)json_integer_value(json_object_get(j, "interval"))
	        : 5;
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "idp: device authorization request failed\n");
	json_decref(j);
	free(f);
	return rc;
}

int qmt_idp_device_poll(const struct qmt_idp *idp, const char *client,
                        const char *device_code, struct qmt_idp_tokens *out)
{
	char *f = form2("grant_type", DEVICE_GRANT, "device_code", device_code,
	                "client_id", client,
	                secret_of(client) ? "client_secret" : NULL,
	                secret_of(client));
	char err[64];
	int rc;

	if (!f)
		return -1;
	rc = token_request(idp, f, out, err, sizeof(err));
	free(f);
	if (rc != 1)
		return rc;
	if (strcmp(err, "authorization_pending") == 0 ||
	    strcmp(err, "slow_down") == 0)
		return 2;
	if (strcmp(err, "access_denied") == 0 ||
	    strcmp(err, "expired_token") == 0)
		return 1;
	fprintf(stderr, "idp: device poll refused: %s\n", err);
	return -1;
}
