/* SPDX-License-Identifier: MIT */
/*
 * An HTTP client for the web GUI's API in tests: a session (the Origin
 * the GUI requires, its cookie and CSRF token, kept up to date from the
 * answers as a browser would), one request at a time over libcurl, the
 * answer with its headers and its body parsed when it is JSON. Test code
 * only.
 */
#ifndef QMT_WEBCLIENT_H
#define QMT_WEBCLIENT_H

#include <stddef.h>

#include <jansson.h>

/* A browser's session with one GUI. */
struct qmt_web {
	char base[128];    /* "http://127.0.0.1:PORT" */
	char origin[128];  /* sent as Origin */
	char cookie[160];  /* "qm_session=...", "" before the first */
	char csrf[80];     /* the session's CSRF token, "" before */
	char cafile[1024]; /* the CA to trust for an https base; "": system */
};

/* One answer. */
struct qmt_resp {
	long status; /* 0: no answer */
	char *body;  /* NUL-terminated, NULL when empty */
	size_t len;
	char headers[8192];
	size_t hlen;
	json_t *json; /* the body, when it is a JSON object */
};

/* What qmt_web_req_ex leaves out of a request. */
enum {
	QMT_WEB_NO_ORIGIN = 1,
	QMT_WEB_NO_CSRF = 2,
	QMT_WEB_NO_COOKIE = 4,
};

/* A new session with the GUI on 127.0.0.1:port. */
void qmt_web_init(struct qmt_web *w, unsigned port);
/*
 * One request: method, path ("/api/..."), a JSON body or NULL; with w's
 * Origin, cookie and CSRF token when w has them. A qm_session cookie in
 * the answer replaces w's. Fills *r (free with qmt_resp_free); returns 0,
 * or -1 when no answer came.
 */
int qmt_web_req(struct qmt_web *w, const char *method, const char *path,
                const char *body, struct qmt_resp *r);
/* The same with a body of blen bytes of type ctype (NULL: JSON), one
 * extra header line (or NULL), and flags (QMT_WEB_*). */
int qmt_web_req_ex(struct qmt_web *w, const char *method, const char *path,
                   const char *body, size_t blen, const char *ctype,
                   const char *extra, int flags, struct qmt_resp *r);
/*
 * Unlocks the GUI as its login page does: GET /api/state for a session
 * and its CSRF token, then POST /api/unlock with pass. Returns the HTTP
 * status of the unlock (200: w holds an unlocked session), 0 when no
 * answer came.
 */
long qmt_web_unlock(struct qmt_web *w, const char *pass);
void qmt_resp_free(struct qmt_resp *r);
/* The value of the answer's header name (the first), into out; 1 when
 * found, else 0. */
int qmt_resp_header(const struct qmt_resp *r, const char *name, char *out,
                    size_t cap);
/* The string at o.a, or o.a.b when b is not NULL; "" when there is none. */
const char *qmt_json_str(json_t *o, const char *a, const char *b);

#endif
