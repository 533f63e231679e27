/* SPDX-License-Identifier: MIT */
/*
 * The web GUI's API client for tests (see webclient.h).
 */
#include "webclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

void qmt_web_init(struct qmt_web *w, unsigned port)
{
	memset(w, 0, sizeof(*w));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	snprintf(w->base, sizeof(w->base), "http://127.0.0.1:%u", port);
	snprintf(w->origin, sizeof(w->origin), "http://127.0.0.1:%u", port);
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct qmt_resp *r = arg;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	if (!nb)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	struct qmt_resp *r = arg;
	size_t k = sz * n;

	if (r->hlen + k + 1 < sizeof(r->headers)) {
		memcpy(r->headers + r->hlen, p, k);
		r->hlen += k;
		r->headers[r->hlen] = '\0';
	}
	return k;
}

int qmt_resp_header(const struct qmt_resp *r, const char *name, char *out,
                    size_t cap)
{
	const char *p = r->headers;
	size_t nl = strlen(name);

	while ((p = strcasestr(p, name)) != NULL) {
		if ((p == r->headers || p[-1] == '\n') && p[nl] == ':') {
			const char *v = p + nl + 1, *e;
			size_t vl;

			while (*v == ' ')
				v++;
			e = strpbrk(v, "\r\n");
			vl = e ? (size_t)(e - v) : strlen(v);
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 1;
		}
		p += nl;
	}
	return 0;
}

/* A Set-Cookie of the session in r becomes w's cookie. */
static void take_cookie(struct qmt_web *w, const struct qmt_resp *r)
{
	char v[256];

	if (qmt_resp_header(r, "Set-Cookie", v, sizeof(v)) &&
	    strncmp(v, "qm_session=", 11) == 0) {
		v[strcspn(v, ";")] = '\0';
		snprintf(w->cookie, sizeof(w->cookie), "%.159s", v);
	}
}

int qmt_web_req_ex(struct qmt_web *w, const char *method, const char *path,
                   const char *body, size_t blen, const char *ctype,
                   const char *extra, int flags, struct qmt_resp *r)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char url[4096], line[512];
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	if (!c)
		return -1;
	snprintf(url, sizeof(url), "%s%s", w->base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	if (w->cafile[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, w->cafile);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
		snprintf(line, sizeof(line), "Content-Type: %s",
		         ctype ? ctype : "application/json");
		h = curl_slist_append(h, line);
	}
	h = curl_slist_append(h, "Expect:");
	if (!(flags & QMT_WEB_NO_ORIGIN)) {
		snprintf(line, sizeof(line), "Origin: %s", w->origin);
		h = curl_slist_append(h, line);
	}
	if (!(flags & QMT_WEB_NO_CSRF) && w->csrf[0]) {
		snprintf(line, sizeof(line), "X-CSRF-Token: %s", w->csrf);
		h = curl_slist_append(h, line);
	}
	if (extra)
		h = curl_slist_append(h, extra);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (!(flags & QMT_WEB_NO_COOKIE) && w->cookie[0])
		curl_easy_setopt(c, CURLOPT_COOKIE, w->cookie);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK)
		return -1;
	if (r->body && r->len && r->body[0] == '{')
		r->json = json_loads(r->body, 0, NULL);
	take_cookie(w, r);
	return 0;
}

int qmt_web_req(struct qmt_web *w, const char *method, const char *path,
                const char *body, struct qmt_resp *r)
{
	return qmt_web_req_ex(w, method, path, body, body ? strlen(body) : 0,
	                      NULL, NULL, 0, r);
}

long qmt_web_unlock(struct qmt_web *w, const char *pass)
{
	struct qmt_resp r;
	json_t *b;
	char *text;
	long status;

	if (qmt_web_req(w, "GET", "/api/state", NULL, &r) || r.status != 200) {
		status = r.status;
		qmt_resp_free(&r);
		return status;
	}
	snprintf(w->csrf, sizeof(w->csrf), "%s",
	         qmt_json_str(r.json, "csrf", NULL));
	qmt_resp_free(&r);
	b = json_pack("{s:s}", "passphrase", pass);
	text = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!text)
		return 0;
	if (qmt_web_req(w, "POST", "/api/unlock", text, &r))
		r.status = 0;
	free(text);
	if (r.status == 200 && qmt_json_str(r.json, "csrf", NULL)[0])
		snprintf(w->csrf, sizeof(w->csrf), "%s",
		         qmt_json_str(r.json, "csrf", NULL));
	status = r.status;
	qmt_resp_free(&r);
	return status;
}

void qmt_resp_free(struct qmt_resp *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

const char *qmt_json_str(json_t *o, const char *a, const char *b)
{
	json_t *x = json_object_get(o, a);

	if (b)
		x = json_object_get(x, b);
	return json_is_string(x) ? json_string_value(x) : "";
}
