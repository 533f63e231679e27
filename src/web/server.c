/* SPDX-License-Identifier: MIT */
/*
 * The HTTP side of the web GUI on libmicrohttpd: listening (loopback by
 * default, TLS required elsewhere), the checks every request passes before
 * any handler runs (Host against DNS rebinding, Origin and CSRF token on
 * every change, session, content type, body limit), the security headers on
 * every response, the embedded assets, and JSON replies and errors.
 * Handlers run one at a time under the server lock, so the client engine is
 * never entered from two threads.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#include "client/client.h"

#include "private.h"

#define APP_CSP                                                            \
	"default-src 'self'; script-src 'self'; style-src 'self'; "            \
	"img-src 'self' data:; object-src 'none'; frame-src 'self'; "          \
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* ------------------------------------------------------------ replies */

void web_reply_json(struct web_req *r, int status, json_t *j)
{
	if (r->reply.json)
		json_decref(r->reply.json);
	r->reply.json = NULL;
	if (!j) {
		r->reply.status = 500;
		r->reply.json = json_pack("{s:{s:s,s:s}}", "error", "code", "internal",
		                          "message", "The server ran out of memory.");
		return;
	}
	r->reply.status = status;
	r->reply.json = j;
}

void web_reply_error(struct web_req *r, int status, const char *code,
                     const char *fmt, ...)
{
	char msg[QM_ERR_MSGMAX];
	va_list ap;

	va_start(ap, fmt);
	qm_log_format(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	web_reply_json(r, status,
	               json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
	                         msg));
}

void web_reply_qm_error(struct web_req *r, const struct qm_error *e)
{
	static const struct {
		enum qm_err code;
		int status;
		const char *name;
	} map[] = {
		{QM_ERR_NOMEM, 500, "internal"},     {QM_ERR_INVAL, 400, "bad_request"},
		{QM_ERR_TOOBIG, 413, "too_large"},   {QM_ERR_PARSE, 400, "bad_request"},
		{QM_ERR_AUTH, 422, "tampered"},      {QM_ERR_CRYPTO, 500, "internal"},
		{QM_ERR_IO, 500, "internal"},        {QM_ERR_NET, 502, "upstream"},
		{QM_ERR_TLS, 502, "upstream"},       {QM_ERR_PROTO, 502, "upstream"},
		{QM_ERR_NOTFOUND, 404, "not_found"}, {QM_ERR_EXISTS, 409, "conflict"},
		{QM_ERR_DENIED, 403, "denied"},      {QM_ERR_UNAVAIL, 503, "unavailable"},
		{QM_ERR_REPLAY, 409, "replay"},      {QM_ERR_LOCKED, 423, "locked"},
		{QM_ERR_STATE, 409, "conflict"},     {QM_ERR_UNSUPPORTED, 400, "bad_request"},
		{QM_ERR_TIMEOUT, 504, "upstream"},
	};
	size_t i;
	json_t *o;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].code == e->code)
			break;
	if (i < sizeof(map) / sizeof(map[0]))
		web_reply_error(r, map[i].status, map[i].name, "%s",
		                qm_error_msg(e));
	else
		web_reply_error(r, 500, "internal", "%s", qm_error_msg(e));
	/* what a person can do, for the page to word: {"hint":
	 * "contact_sae_missing", "hint_arg": "bob@example.org"} */
	o = json_object_get(r->reply.json, "error");
	if (o && *qm_client_hint_name(e->hint)) {
		json_object_set_new(o, "hint",
		                    json_string(qm_client_hint_name(e->hint)));
		json_object_set_new(o, "hint_arg", web_jstr(e->hint_arg));
	}
}

void web_reply_empty(struct web_req *r)
{
	if (r->reply.json)
		json_decref(r->reply.json);
	r->reply.json = NULL;
	r->reply.status = 204;
}

/* ------------------------------------------------------------ requests */

const char *web_query(struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *web_header(struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void web_limits_load(struct qm_web_server *srv,
                     const struct qm_web_config *given)
{
	static const struct {
		const char *name;
		size_t off;
		size_t def;
	} lim[] = {
	    {QM_LIMIT_WEB_UPLOAD, offsetof(struct qm_web_config, max_upload),
	     QM_WEB_DEFAULT_MAX_UPLOAD},
	    {QM_LIMIT_WEB_JSON, offsetof(struct qm_web_config, max_json),
	     WEB_MAX_JSON},
	    {QM_LIMIT_WEB_MESSAGE,
	     offsetof(struct qm_web_config, max_message_json),
	     WEB_MAX_JSON_MESSAGE},
	    {QM_LIMIT_JSON_DEPTH,
	     offsetof(struct qm_web_config, max_json_depth), 32},
	};

	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		const size_t *want =
		    (const size_t *)(const void *)((const char *)given +
		                                   lim[i].off);
		size_t *have = (size_t *)(void *)((char *)&srv->cfg + lim[i].off);
		uint64_t v = 0;

		/* what the caller (qmail web --max-upload) set wins */
		if (*want)
			*have = *want;
		else if (srv->client &&
		         qm_client_limit_get(srv->client, lim[i].name, &v, NULL,
		                             NULL) == QM_OK &&
		         v)
			*have = (size_t)v;
		else
			*have = lim[i].def;
	}
}

json_t *web_body_json(struct web_req *r)
{
	json_error_t je;
	json_t *j;

	if (r->body.len == 0) {
		web_reply_error(r, 400, "bad_request",
		                "The request needs a JSON object body.");
		return NULL;
	}
	/* before jansson recurses into a hostile "[[[[..." */
	if (qm_json_depth_check((const char *)r->body.data, r->body.len,
	                        r->srv->cfg.max_json_depth, NULL) != QM_OK) {
		web_reply_error(r, 413, "too_large",
		                "The request body nests JSON deeper than %zu "
		                "levels (setting limit.json_depth).",
		                r->srv->cfg.max_json_depth);
		return NULL;
	}
	j = json_loadb((const char *)r->body.data, r->body.len,
	               JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		web_reply_error(r, 400, "bad_request",
		                "The request body is not valid JSON (line %d: %s).",
		                je.line, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		web_reply_error(r, 400, "bad_request",
		                "The request body must be a JSON object.");
		return NULL;
	}
	return j;
}

/* True when s is valid UTF-8 with no control characters other than
 * tab, CR and LF (and those only when multiline). */
static int text_ok(const char *s, size_t n, int multiline)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k, more;
		if (c < 0x80) {
			if ((c < 0x20 && !(multiline && (c == '\t' || c == '\n' ||
			                                 c == '\r'))) ||
			    c == 0x7f)
				return 0;
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0 && c >= 0xC2)
			more = 1;
		else if ((c & 0xF0) == 0xE0)
			more = 2;
		else if ((c & 0xF8) == 0xF0 && c <= 0xF4)
			more = 3;
		else
			return 0;
		if (i + more >= n)
			return 0;
		for (k = 1; k <= more; k++)
			if (((unsigned char)s[i + k] & 0xC0) != 0x80)
				return 0;
		i += more + 1;
	}
	return 1;
}

int web_get_str(struct web_req *r, json_t *o, const char *key, int required,
                size_t maxlen, const char **out)
{
	json_t *v = json_object_get(o, key);
	size_t n;

	if (!v || json_is_null(v)) {
		if (required) {
			web_reply_error(r, 400, "bad_request", "The field \"%s\" is required.",
			                key);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		web_reply_error(r, 400, "bad_request", "The field \"%s\" must be text.",
		                key);
		return -1;
	}
	n = json_string_length(v);
	if (n > maxlen) {
		web_reply_error(r, 400, "bad_request",
		                "The field \"%s\" is too long (at most %zu bytes).", key,
		                maxlen);
		return -1;
	}
	if (!text_ok(json_string_value(v), n, maxlen > 4096)) {
		web_reply_error(r, 400, "bad_request",
		                "The field \"%s\" contains characters that are not allowed.",
		                key);
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

int web_get_int(struct web_req *r, json_t *o, const char *key, int required,
                long long min, long long max, long long *out)
{
	json_t *v = json_object_get(o, key);
	long long x;

	if (!v || json_is_null(v)) {
		if (required) {
			web_reply_error(r, 400, "bad_request", "The field \"%s\" is required.",
			                key);
			return -1;
		}
		return 0;
	}
	if (json_is_string(v)) {
		/* IDs travel as strings; accept a decimal string too. */
		if (qm_parse_ll(json_string_value(v), min, max, &x, NULL) != QM_OK)
			goto bad;
		*out = x;
		return 1;
	}
	if (!json_is_integer(v))
		goto bad;
	x = json_integer_value(v);
	if (x < min || x > max)
		goto bad;
	*out = x;
	return 1;
bad:
	web_reply_error(r, 400, "bad_request",
	                "The field \"%s\" must be a whole number from %lld to %lld.",
	                key, min, max);
	return -1;
}

int web_get_bool(struct web_req *r, json_t *o, const char *key, int *out)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		web_reply_error(r, 400, "bad_request",
		                "The field \"%s\" must be true or false.", key);
		return -1;
	}
	*out = json_is_true(v);
	return 1;
}

int web_addr_ok(const char *s)
{
	const char *at;
	size_t n = strlen(s), i;

	if (n < 3 || n > 320)
		return 0;
	at = strrchr(s, '@');
	if (!at || at == s || at[1] == '\0' || strchr(at + 1, '.') == NULL)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '"' ||
		    c == ',' || c == ';' || c == '\\' || c == '(' || c == ')')
			return 0;
	}
	return 1;
}

struct qm_client *web_client(struct web_req *r)
{
	if (r->route && r->route->client == WEB_NEEDS_READER && r->srv->reader)
		return r->srv->reader;
	if (r->route && r->route->client == WEB_NEEDS_OPS && r->srv->ops)
		return r->srv->ops;
	return r->srv->client;
}

void web_reader_open(struct qm_web_server *srv)
{
	pthread_mutex_lock(&srv->reader_lock);
	if (!srv->reader && srv->client && qm_client_unlocked(srv->client) &&
	    qm_client_clone(srv->client, &srv->reader, NULL) != QM_OK)
		srv->reader = NULL; /* reader routes then answer "locked" */
	pthread_mutex_unlock(&srv->reader_lock);
	pthread_mutex_lock(&srv->ops_lock);
	if (!srv->ops && srv->client && qm_client_unlocked(srv->client) &&
	    qm_client_clone(srv->client, &srv->ops, NULL) != QM_OK)
		srv->ops = NULL; /* ops routes then answer "locked" */
	pthread_mutex_unlock(&srv->ops_lock);
}

void web_reader_close(struct qm_web_server *srv)
{
	pthread_mutex_lock(&srv->reader_lock);
	qm_client_free(&srv->reader);
	pthread_mutex_unlock(&srv->reader_lock);
	/* an operation under way ends first (the engine bounds its wait) */
	pthread_mutex_lock(&srv->ops_lock);
	qm_client_free(&srv->ops);
	pthread_mutex_unlock(&srv->ops_lock);
}

json_t *web_jstr(const char *s)
{
	struct qm_buf b;
	json_t *j;
	size_t i = 0, n;
	enum qm_err rc = QM_OK;

	if (!s)
		return json_string("");
	n = strlen(s);
	if (text_ok(s, n, 1))
		return json_stringn(s, n);
	/* Invalid UTF-8 or control bytes from mail: replace them. */
	qm_buf_init(&b, n * 3 + 1);
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k = 1;
		if (c >= 0xC2 && c <= 0xF4) {
			k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
			if (i + k > n || !text_ok(s + i, k, 1))
				k = 0;
		} else if (c >= 0x80 || (c < 0x20 && c != '\t' && c != '\n' &&
		                         c != '\r') || c == 0x7f) {
			k = 0;
		}
		if (k == 0) {
			rc = qm_buf_append(&b, "\xef\xbf\xbd", 3, NULL);
			i++;
		} else {
			rc = qm_buf_append(&b, s + i, k, NULL);
			i += k;
		}
		if (rc)
			break; /* out of memory: no string rather than half */
	}
	j = rc ? NULL : json_stringn(b.data ? (const char *)b.data : "", b.len);
	qm_buf_free(&b);
	return j;
}

int web_arg_id(struct web_req *r, int i, int64_t *id)
{
	long long v;

	if (qm_parse_ll(r->args[i], 1, INT64_MAX, &v, NULL) != QM_OK) {
		web_reply_error(r, 400, "bad_request", "\"%.40s\" is not a valid ID.",
		                r->args[i]);
		return -1;
	}
	*id = v;
	return 0;
}

/* ------------------------------------------------------------ sending */

/* A response body that is wiped before it is freed. */
struct wiped {
	size_t len;
	unsigned char data[];
};

static void free_wiped(void *cls)
{
	struct wiped *w = cls;

	qm_wipe(w->data, w->len);
	free(w);
}

static void add_security_headers(struct MHD_Response *resp, const char *csp,
                                 const char *cache, int api)
{
	MHD_add_response_header(resp, "Content-Security-Policy", csp ? csp : APP_CSP);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", csp ? "SAMEORIGIN" : "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
	MHD_add_response_header(resp, "Permissions-Policy",
	                        "camera=(), microphone=(), geolocation=()");
	MHD_add_response_header(resp, "Cache-Control",
	                        cache ? cache
	                        : api ? "no-store"
	                              : "no-cache");
}

/* The next piece of a streamed body (r->reply.stream), on the
 * connection's thread: the reader has its own handle on the home. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct qm_client_att_reader *ar = cls;
	struct qm_error e;
	size_t got = 0;

	(void)pos; /* MHD reads in order */
	qm_error_clear(&e);
	if (qm_client_att_read(ar, buf, max, &got, &e) != QM_OK) {
		qm_log(QM_LOG_WARN, "web: an attachment download stopped: %s",
		       qm_error_msg(&e));
		return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	return got ? (ssize_t)got : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls)
{
	struct qm_client_att_reader *ar = cls;

	qm_client_att_close(&ar);
}

/* Queues r->reply on the connection; returns MHD's verdict. */
static enum MHD_Result send_reply(struct web_req *r)
{
	struct web_reply *rp = &r->reply;
	struct MHD_Response *resp;
	struct wiped *w;
	char *text = NULL;
	const unsigned char *p = NULL;
	size_t n = 0;
	enum MHD_Result ret;
	int api = strncmp(r->path, "/api/", 5) == 0;

	r->replied = 1;
	if (rp->stream && !rp->json) {
		struct qm_client_att_reader *ar = rp->stream;

		/* the response owns the reader from here on */
		rp->stream = NULL;
		resp = MHD_create_response_from_callback(
		    qm_client_att_info(ar)->len, 64 * 1024, stream_read, ar,
		    stream_free);
		if (!resp) {
			qm_client_att_close(&ar);
			return MHD_NO;
		}
		goto headers;
	}
	if (rp->json) {
		text = json_dumps(rp->json, JSON_COMPACT);
		if (!text) {
			rp->status = 500;
			text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
		}
		if (text) {
			p = (const unsigned char *)text;
			n = strlen(text);
		}
		qm_strlcpy(rp->ctype, "application/json; charset=utf-8",
		           sizeof(rp->ctype));
	} else if (rp->raw) {
		p = rp->raw;
		n = rp->raw_len;
	}
	w = malloc(sizeof(*w) + n + 1);
	if (!w) {
		if (text) {
			qm_wipe(text, strlen(text));
			free(text);
		}
		return MHD_NO;
	}
	w->len = n;
	if (n)
		memcpy(w->data, p, n);
	if (text) {
		qm_wipe(text, n);
		free(text);
	}
	resp = MHD_create_response_from_buffer_with_free_callback_cls(
		n, w->data, free_wiped, w);
	if (!resp) {
		free_wiped(w);
		return MHD_NO;
	}
headers:
	add_security_headers(resp, rp->csp, rp->cache, api);
	if (rp->ctype[0])
		MHD_add_response_header(resp, "Content-Type", rp->ctype);
	if (rp->disposition[0])
		MHD_add_response_header(resp, "Content-Disposition", rp->disposition);
	if (rp->status == 405)
		MHD_add_response_header(resp, "Allow", "GET, POST, PUT, DELETE");
	if (rp->retry_after > 0) {
		char ra[24];

		snprintf(ra, sizeof(ra), "%ld", rp->retry_after);
		MHD_add_response_header(resp, "Retry-After", ra);
	}
	if (rp->set_cookie && r->session) {
		char cookie[200], hex[WEB_ID_HEX];
		web_session_id_hex(r->session, hex);
		snprintf(cookie, sizeof(cookie),
		         "qm_session=%s; Path=/; HttpOnly; SameSite=Strict%s", hex,
		         r->srv->tls ? "; Secure" : "");
		MHD_add_response_header(resp, "Set-Cookie", cookie);
		qm_wipe(cookie, sizeof(cookie));
		qm_wipe(hex, sizeof(hex));
	} else if (rp->clear_cookie) {
		MHD_add_response_header(resp, "Set-Cookie",
		                        "qm_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	}
	ret = MHD_queue_response(r->conn, (unsigned)(rp->status ? rp->status : 500),
	                         resp);
	MHD_destroy_response(resp);
	qm_log(QM_LOG_INFO, "web: %s %s -> %d", r->method == WEB_GET ? "GET" : "change",
	       r->path, rp->status);
	return ret;
}

/* ------------------------------------------------------------ checks */

static enum web_method method_of(const char *m)
{
	if (strcmp(m, "GET") == 0)
		return WEB_GET;
	if (strcmp(m, "HEAD") == 0)
		return WEB_HEAD;
	if (strcmp(m, "POST") == 0)
		return WEB_POST;
	if (strcmp(m, "PUT") == 0)
		return WEB_PUT;
	if (strcmp(m, "DELETE") == 0)
		return WEB_DELETE;
	return WEB_OTHER;
}

/* True when host (a Host header value) names this server. */
static int host_ok(const struct qm_web_server *srv, const char *host)
{
	char want[128];
	const char *names[4];
	size_t i, k = 0;

	if (!host)
		return 0;
	names[k++] = "127.0.0.1";
	names[k++] = "localhost";
	names[k++] = "[::1]";
	if (strcmp(srv->bind, "127.0.0.1") != 0 && strcmp(srv->bind, "::1") != 0 &&
	    strcmp(srv->bind, "localhost") != 0)
		names[k++] = srv->bind;
	for (i = 0; i < k; i++) {
		snprintf(want, sizeof(want), "%s:%u", names[i], (unsigned)srv->port);
		if (strcasecmp(host, want) == 0)
			return 1;
	}
	return 0;
}

/* True when origin is this server's origin for the given Host. */
static int origin_ok(const struct qm_web_server *srv, const char *origin,
                     const char *host)
{
	char want[160];

	if (!origin || !host)
		return 0;
	snprintf(want, sizeof(want), "%s://%s", srv->tls ? "https" : "http", host);
	return strcasecmp(origin, want) == 0;
}

/* Matches path against pattern, capturing "*" segments into r->args. */
static int route_match(struct web_req *r, const char *pattern)
{
	const char *p = pattern, *u = r->path;
	int n = 0;

	while (*p && *u) {
		if (*p == '*') {
			const char *end = strchr(u, '/');
			size_t len = end ? (size_t)(end - u) : strlen(u);
			if (len == 0 || len > WEB_MAX_SEGMENT || n >= WEB_MAX_ARGS)
				return 0;
			memcpy(r->args[n], u, len);
			r->args[n][len] = '\0';
			n++;
			u += len;
			p++;
			continue;
		}
		if (*p != *u)
			return 0;
		p++;
		u++;
	}
	return *p == '\0' && *u == '\0';
}

/* Finds the route; sets *path_known when the path exists for another method. */
static const struct web_route *route_find(struct web_req *r, int *path_known)
{
	size_t i;
	enum web_method m = r->method == WEB_HEAD ? WEB_GET : r->method;

	*path_known = 0;
	for (i = 0; i < web_routes_count; i++) {
		if (!route_match(r, web_routes[i].pattern))
			continue;
		if (web_routes[i].method == m)
			return &web_routes[i];
		*path_known = 1;
	}
	return NULL;
}

/* The asset at path: "/" is the page; "/v/VERSION/NAME" is NAME of this
 * build's assets, *immutable set when VERSION is this build's (the page
 * asks for no other: an older page's is answered, not cached). */
static const struct web_asset *asset_find(const char *path, int *immutable)
{
	size_t i, vlen = strlen(web_assets_version);

	*immutable = 0;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	if (strncmp(path, "/v/", 3) == 0) {
		const char *name = strchr(path + 3, '/');

		if (!name)
			return NULL;
		*immutable = (size_t)(name - (path + 3)) == vlen &&
		             strncmp(path + 3, web_assets_version, vlen) == 0;
		path = name;
		if (strcmp(path, "/index.html") == 0)
			return NULL; /* the page is never cached */
	}
	for (i = 0; i < web_assets_count; i++)
		if (strcmp(web_assets[i].path, path) == 0)
			return &web_assets[i];
	return NULL;
}

/* Whether the server was unlocked with the unlock agent's key and the
 * agent no longer has one (`qmail lock`, its time is up): then every
 * session ends here, and the caller wipes the vault key. The agent is
 * asked at most once every WEB_AGENT_CHECK_MS. */
static int agent_gone(struct qm_web_server *srv)
{
	int64_t now = (int64_t)(qm_mono_ns() / 1000000u);
	int ask;

	pthread_mutex_lock(&srv->lock);
	ask = srv->agent_unlocked &&
	      now - srv->agent_checked_ms >= WEB_AGENT_CHECK_MS;
	if (ask)
		srv->agent_checked_ms = now;
	pthread_mutex_unlock(&srv->lock);
	if (!ask || srv->cfg.agent_key(srv->cfg.agent_arg, NULL) == 0)
		return 0;
	pthread_mutex_lock(&srv->lock);
	srv->agent_unlocked = 0;
	web_session_end_all(srv);
	pthread_mutex_unlock(&srv->lock);
	return 1;
}

/* The timer of qm_web_serve (each 100 ms tick; the agent is asked at most
 * once a second): when the agent is gone, the vault key leaves this
 * process without waiting for a request. A sync holding the client lock
 * puts it off to a later tick, so the stop flag is never kept waiting. */
static void agent_tick(struct qm_web_server *srv)
{
	int pending;

	if (!srv->cfg.agent_key || !srv->client)
		return;
	pthread_mutex_lock(&srv->lock);
	pending = srv->agent_lock_pending;
	pthread_mutex_unlock(&srv->lock);
	if (!pending && !agent_gone(srv))
		return;
	if (pthread_mutex_trylock(&srv->client_lock) != 0) {
		pthread_mutex_lock(&srv->lock);
		srv->agent_lock_pending = 1;
		pthread_mutex_unlock(&srv->lock);
		return;
	}
	web_reader_close(srv);
	qm_client_lock(srv->client);
	pthread_mutex_unlock(&srv->client_lock);
	pthread_mutex_lock(&srv->lock);
	srv->agent_lock_pending = 0;
	pthread_mutex_unlock(&srv->lock);
	web_oauth_forget_all(srv);
	web_watch_kick(srv);
}

/* Finds r's session by its cookie (r->session, NULL when none), after the
 * sessions past their time have ended; locks the client when the last
 * unlocked one idled out or the unlock agent is gone. */
static void session_of(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	const char *cookie;
	int idle_lock, agent_lost;

	agent_lost = agent_gone(srv);
	pthread_mutex_lock(&srv->lock);
	idle_lock =
	    web_session_expire(srv) || agent_lost || srv->agent_lock_pending;
	srv->agent_lock_pending = 0;
	cookie =
	    MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "qm_session");
	r->session = cookie ? web_session_find(srv, cookie) : NULL;
	/* The page's own polling (X-QM-Background) does not count as use: a
	 * tab left open still idles out. */
	if (r->session && !web_header(r, "X-QM-Background"))
		r->session->last = qm_now();
	pthread_mutex_unlock(&srv->lock);
	if (idle_lock && srv->client) {
		/* the last unlocked session idled out, or the unlock agent
		 * whose key this server used is gone: wipe the vault key too */
		pthread_mutex_lock(&srv->client_lock);
		web_reader_close(srv);
		qm_client_lock(srv->client);
		pthread_mutex_unlock(&srv->client_lock);
		web_oauth_forget_all(srv);
		web_watch_kick(srv);
	}
}

/* The checks of docs/WEB.md section 4, before any body is read. Returns 0
 * to go on, or -1 with r->reply set. */
static int precheck(struct web_req *r, const char *url, const char *method)
{
	struct qm_web_server *srv = r->srv;
	const char *host = web_header(r, MHD_HTTP_HEADER_HOST);
	const char *ctype, *clen;
	int known, verdict;

	r->method = method_of(method);
	if (strlen(url) >= sizeof(r->path)) {
		qm_strlcpy(r->path, "/", sizeof(r->path));
		web_reply_error(r, 414, "too_large", "The address is too long.");
		return -1;
	}
	qm_strlcpy(r->path, url, sizeof(r->path));
	if (!host_ok(srv, host)) {
		web_reply_error(r, 421, "host",
		                "This server answers only to %s (the Host header was "
		                "\"%.100s\"). Open that address instead.",
		                srv->url, host ? host : "");
		return -1;
	}
	if (!text_ok(r->path, strlen(r->path), 0)) {
		web_reply_error(r, 400, "bad_request",
		                "The address contains characters that are not allowed.");
		return -1;
	}
	if (strncmp(r->path, "/api/", 5) != 0) {
		if (r->method != WEB_GET && r->method != WEB_HEAD) {
			web_reply_error(r, 405, "method", "Only GET is allowed here.");
			return -1;
		}
		/* the page carries the session's first inbox page */
		if (strcmp(r->path, "/") == 0 ||
		    strcmp(r->path, "/index.html") == 0)
			session_of(r);
		return 0; /* a static asset, answered after the (empty) body */
	}
	r->route = route_find(r, &known);
	if (!r->route) {
		if (known)
			web_reply_error(r, 405, "method",
			                "%s is not allowed on %s.", method, r->path);
		else
			web_reply_error(r, 404, "not_found", "There is no API at %s.",
			                r->path);
		return -1;
	}
	if (r->method != WEB_GET && r->method != WEB_HEAD) {
		const char *origin = web_header(r, "Origin");
		if (!origin_ok(srv, origin, host)) {
			web_reply_error(r, 403, "origin",
			                "This request came from another site (Origin \"%.100s\") "
			                "and was refused. Use QMail from %s.",
			                origin ? origin : "none", srv->url);
			return -1;
		}
	}
	session_of(r);
	pthread_mutex_lock(&srv->lock);
	verdict = 0;
	if (r->route->auth && (!r->session || !r->session->unlocked))
		verdict = 401;
	else if (r->method != WEB_GET && r->method != WEB_HEAD) {
		const char *token = web_header(r, "X-CSRF-Token");
		if (!r->session || !token || strlen(token) != WEB_ID_HEX - 1 ||
		    qm_ct_eq(token, r->session->csrf, WEB_ID_HEX - 1) != 0)
			verdict = 403;
	}
	pthread_mutex_unlock(&srv->lock);
	if (verdict == 401) {
		web_reply_error(r, 401, "unauthorized",
		                "QMail is locked or your session has ended. Unlock it again.");
		return -1;
	}
	if (verdict == 403) {
		web_reply_error(r, 403, "csrf",
		                "This request is missing its security token. Reload "
		                "the page and try again.");
		return -1;
	}
	if (r->method != WEB_GET && r->method != WEB_HEAD) {
		ctype = web_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
		clen = web_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen && strcmp(clen, "0") != 0) {
			const char *want = r->route->raw_body ? "application/octet-stream"
			                                      : "application/json";
			if (!ctype || strncasecmp(ctype, want, strlen(want)) != 0) {
				web_reply_error(r, 415, "media_type",
				                "Send this request as %s.", want);
				return -1;
			}
		}
	}
	r->body_max = r->route->body_max == WEB_MAX_JSON_MESSAGE
	                  ? srv->cfg.max_message_json
	              : r->route->body_max ? r->route->body_max
	                                   : srv->cfg.max_json;
	if (r->route->raw_body)
		r->body_max = srv->cfg.max_upload;
	clen = web_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (clen) {
		long long v;
		if (qm_parse_ll(clen, 0, (long long)1 << 50, &v, NULL) != QM_OK) {
			web_reply_error(r, 400, "bad_request", "Bad Content-Length.");
			return -1;
		}
		if ((unsigned long long)v > r->body_max) {
			web_reply_error(r, 413, "too_large",
			                "The request is too large: at most %zu bytes here.",
			                r->body_max);
			return -1;
		}
	}
	qm_buf_init_secure(&r->body, r->body_max);
	return 0;
}

static void serve_asset(struct web_req *r)
{
	int immutable;
	const struct web_asset *a = asset_find(r->path, &immutable);

	if (!a) {
		web_reply_error(r, 404, "not_found", "There is no page at %s.", r->path);
		return;
	}
	if (strcmp(a->path, "/index.html") == 0) {
		web_page_reply(r, a);
		return;
	}
	/* named by this build's version: the browser need not ask again */
	if (immutable)
		r->reply.cache = "max-age=31536000, immutable";
	r->reply.status = 200;
	r->reply.raw = malloc(a->len ? a->len : 1);
	if (!r->reply.raw) {
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	memcpy(r->reply.raw, a->data, a->len);
	r->reply.raw_len = a->len;
	qm_strlcpy(r->reply.ctype, a->ctype, sizeof(r->reply.ctype));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct qm_web_server *srv = cls;
	struct web_req *r = *con_cls;

	(void)version;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*con_cls = r;
		r->srv = srv;
		r->conn = conn;
		if (precheck(r, url, method) != 0)
			return send_reply(r);
		return MHD_YES;
	}
	if (r->replied) {
		*upload_size = 0; /* drain what was already sent */
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!r->route) {
			*upload_size = 0;
			return MHD_YES;
		}
		if (qm_buf_append(&r->body, upload, *upload_size, NULL) != QM_OK) {
			*upload_size = 0;
			web_reply_error(r, 413, "too_large",
			                "The request is too large: at most %zu bytes here.",
			                r->body_max);
			return send_reply(r);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->route) {
		serve_asset(r);
		return send_reply(r);
	}
	if (r->route->client == WEB_NEEDS_CLIENT) {
		pthread_mutex_lock(&srv->client_lock);
		r->route->fn(r);
		pthread_mutex_unlock(&srv->client_lock);
	} else if (r->route->client == WEB_NEEDS_READER) {
		pthread_mutex_lock(&srv->reader_lock);
		if (srv->reader)
			r->route->fn(r);
		else
			web_reply_error(r, 401, "unauthorized",
			                "QMail is locked. Unlock it again.");
		pthread_mutex_unlock(&srv->reader_lock);
	} else if (r->route->client == WEB_NEEDS_OPS) {
		pthread_mutex_lock(&srv->ops_lock);
		if (srv->ops)
			r->route->fn(r);
		else
			web_reply_error(r, 401, "unauthorized",
			                "QMail is locked. Unlock it again.");
		pthread_mutex_unlock(&srv->ops_lock);
	} else {
		r->route->fn(r);
	}
	qm_buf_free(&r->body);
	if (!r->reply.status)
		web_reply_error(r, 500, "internal", "The handler for %s gave no answer.",
		                r->path);
	return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct web_req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!r)
		return;
	qm_buf_free(&r->body);
	if (r->reply.json)
		json_decref(r->reply.json);
	if (r->reply.raw) {
		qm_wipe(r->reply.raw, r->reply.raw_len);
		free(r->reply.raw);
	}
	qm_client_att_close(&r->reply.stream); /* never sent */
	free(r);
	*con_cls = NULL;
}

/* ------------------------------------------------------------ lifecycle */

static int is_loopback(const char *bind)
{
	return strcmp(bind, "127.0.0.1") == 0 || strcmp(bind, "::1") == 0 ||
	       strcmp(bind, "localhost") == 0;
}

enum qm_err qm_web_server_start(const struct qm_web_config *cfg,
                                struct qm_client *client,
                                struct qm_web_server **out,
                                struct qm_error *err)
{
	struct qm_web_server *srv = NULL;
	struct sockaddr_in sin4;
	struct sockaddr_in6 sin6;
	struct sockaddr *sa;
	const union MHD_DaemonInfo *info;
	/* A thread per connection: a handler waiting for the client (a long
	 * sync) must not stop GET /api/sync from answering. */
	unsigned int flags = MHD_USE_THREAD_PER_CONNECTION |
	                     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	                     MHD_USE_ERROR_LOG;
	enum qm_err rc;
	int locked_init = 0;

	if (!cfg || !out)
		return qm_error_set(err, QM_ERR_INVAL, "web: no configuration");
	rc = qm_core_init(err);
	if (rc != QM_OK)
		return rc;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return qm_error_set(err, QM_ERR_NOMEM, "web: out of memory");
	srv->cfg = *cfg;
	if (!srv->cfg.idle_timeout_s)
		srv->cfg.idle_timeout_s = QM_WEB_DEFAULT_IDLE_S;
	srv->client = client;
	srv->given = *cfg;
	web_limits_load(srv, &srv->given);
	qm_buf_init_secure(&srv->tls_key, 1 << 20);
	qm_buf_init(&srv->tls_cert, 1 << 20);
	if (qm_strlcpy(srv->bind, cfg->bind ? cfg->bind : "127.0.0.1",
	               sizeof(srv->bind)) != 0) {
		rc = qm_error_set(err, QM_ERR_INVAL, "web: bind address too long");
		goto out;
	}
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->client_lock, NULL);
	pthread_mutex_init(&srv->reader_lock, NULL);
	pthread_mutex_init(&srv->ops_lock, NULL);
	srv->initialized = client ? qm_client_initialised(client) : 0;
	pthread_cond_init(&srv->sync_cond, NULL);
	locked_init = 1;
	memset(&sin4, 0, sizeof(sin4));
	memset(&sin6, 0, sizeof(sin6));
	if (strcmp(srv->bind, "localhost") == 0 ||
	    inet_pton(AF_INET, srv->bind, &sin4.sin_addr) == 1) {
		if (strcmp(srv->bind, "localhost") == 0)
			sin4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin4.sin_family = AF_INET;
		sin4.sin_port = htons(cfg->port);
		sa = (struct sockaddr *)&sin4;
	} else if (inet_pton(AF_INET6, srv->bind, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(cfg->port);
		sa = (struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	} else {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "web: \"%s\" is not an IP address to listen on "
		                  "(use 127.0.0.1)", srv->bind);
		goto out;
	}
	if (!is_loopback(srv->bind)) {
		if (!cfg->tls_cert_path || !cfg->tls_key_path) {
			rc = qm_error_set(err, QM_ERR_INVAL,
			                  "web: listening on %s would expose your mail to the "
			                  "network; give --tls-cert and --tls-key to do it "
			                  "over HTTPS, or use 127.0.0.1", srv->bind);
			goto out;
		}
	}
	if (cfg->tls_cert_path || cfg->tls_key_path) {
		if (!cfg->tls_cert_path || !cfg->tls_key_path) {
			rc = qm_error_set(err, QM_ERR_INVAL,
			                  "web: TLS needs both a certificate and a key");
			goto out;
		}
		rc = qm_file_read(cfg->tls_cert_path, 1 << 20, &srv->tls_cert, err);
		if (rc == QM_OK)
			rc = qm_file_read(cfg->tls_key_path, 1 << 20, &srv->tls_key, err);
		if (rc != QM_OK) {
			qm_error_prefix(err, "web: reading the TLS files: ");
			goto out;
		}
		srv->tls = 1;
		flags |= MHD_USE_TLS;
	}
	if (srv->tls)
		srv->daemon = MHD_start_daemon(
			flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, sa,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
			MHD_OPTION_HTTPS_MEM_CERT, (const char *)srv->tls_cert.data,
			MHD_OPTION_HTTPS_MEM_KEY, (const char *)srv->tls_key.data,
			MHD_OPTION_END);
	else
		srv->daemon = MHD_start_daemon(
			flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, sa,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
	if (!srv->daemon) {
		rc = qm_error_set(err, QM_ERR_NET,
		                  "web: cannot listen on %s port %u (is it in use? try "
		                  "another --port)", srv->bind, (unsigned)cfg->port);
		goto out;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : cfg->port;
	snprintf(srv->url, sizeof(srv->url), "%s://%s%s%s:%u/",
	         srv->tls ? "https" : "http", strchr(srv->bind, ':') ? "[" : "",
	         srv->bind, strchr(srv->bind, ':') ? "]" : "", (unsigned)srv->port);
	qm_strlcpy(srv->link, srv->url, sizeof(srv->link));
	if (cfg->agent_key) {
		unsigned char tok[WEB_ID_BYTES];
		static const char hx[] = "0123456789abcdef";

		qm_random(tok, sizeof(tok));
		for (size_t k = 0; k < sizeof(tok); k++) {
			srv->agent_token[2 * k] = hx[tok[k] >> 4];
			srv->agent_token[2 * k + 1] = hx[tok[k] & 15];
		}
		srv->agent_token[2 * sizeof(tok)] = '\0';
		qm_wipe(tok, sizeof(tok));
		snprintf(srv->link, sizeof(srv->link), "%s#agent=%s", srv->url,
		         srv->agent_token);
	}
	web_api_start(srv);
	*out = srv;
	srv = NULL;
	rc = QM_OK;
out:
	if (srv) {
		if (locked_init) {
			pthread_mutex_destroy(&srv->lock);
			pthread_mutex_destroy(&srv->client_lock);
			pthread_mutex_destroy(&srv->reader_lock);
			pthread_mutex_destroy(&srv->ops_lock);
			pthread_cond_destroy(&srv->sync_cond);
		}
		qm_buf_free(&srv->tls_key);
		qm_buf_free(&srv->tls_cert);
		free(srv);
	}
	return rc;
}

uint16_t qm_web_server_port(const struct qm_web_server *srv)
{
	return srv ? srv->port : 0;
}

const char *qm_web_server_url(const struct qm_web_server *srv)
{
	return srv ? srv->url : "";
}

const char *qm_web_server_unlock_link(const struct qm_web_server *srv)
{
	return srv ? srv->link : "";
}

void qm_web_server_stop(struct qm_web_server **psrv)
{
	struct qm_web_server *srv;

	if (!psrv || !*psrv)
		return;
	srv = *psrv;
	web_api_stop(srv);
	/* a sign-in's long poll would hold the daemon's stop for its length */
	web_oauth_forget_all(srv);
	MHD_stop_daemon(srv->daemon);
	web_oauth_forget_all(srv); /* and what was left when it ended */
	pthread_mutex_lock(&srv->lock);
	web_session_end_all(srv);
	pthread_mutex_unlock(&srv->lock);
	pthread_mutex_lock(&srv->client_lock);
	web_reader_close(srv);
	pthread_mutex_unlock(&srv->client_lock);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->client_lock);
	pthread_mutex_destroy(&srv->reader_lock);
	pthread_mutex_destroy(&srv->ops_lock);
	pthread_cond_destroy(&srv->sync_cond);
	qm_buf_free(&srv->tls_key);
	qm_buf_free(&srv->tls_cert);
	free(srv);
	*psrv = NULL;
}

enum qm_err qm_web_serve(const struct qm_web_config *cfg,
                         struct qm_client *client, volatile sig_atomic_t *stop,
                         void (*ready)(const char *url, void *arg), void *arg,
                         struct qm_error *err)
{
	struct qm_web_server *srv = NULL;
	enum qm_err rc;
	struct timespec ts = {0, 100 * 1000 * 1000};

	if (!stop)
		return qm_error_set(err, QM_ERR_INVAL, "web: no stop flag");
	rc = qm_web_server_start(cfg, client, &srv, err);
	if (rc != QM_OK)
		return rc;
	if (ready)
		ready(srv->link, arg);
	/* The daemon runs in its own thread; this one only waits for the flag
	 * (a signal also interrupts the sleep). */
	while (!*stop) {
		nanosleep(&ts, NULL);
		agent_tick(srv);
	}
	qm_web_server_stop(&srv);
	return QM_OK;
}
