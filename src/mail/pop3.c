/* SPDX-License-Identifier: MIT */
/*
 * POP3 over libcurl: one logged-in connection per session (libcurl keeps
 * it open between calls), UIDL for sync, RETR, DELE. Deletions take effect
 * at QUIT, when the session is freed. STLS or implicit TLS; verification
 * always on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/private.h"

struct qm_mail_pop3 {
	const struct qm_mail_server *srv;
	CURL *h;
	struct mail_xfer x;
	CURLcode last_rc; /* of the last request */
	/* a RETR into a sink (qm_mail_pop3_retr_to): where it goes, whether
	 * it began there, bytes so far, and what the sink said */
	const struct qm_mail_sink *to;
	int sunk;
	uint64_t got;
	enum qm_err to_rc;
	struct qm_error to_err;
};

/* RETR bytes for a sink: held until more than to->big came, then all
 * given to it and the rest as it comes. 0 (libcurl stops) on a failure. */
static size_t to_sink(struct qm_mail_pop3 *p, const char *b, size_t n)
{
	struct mail_xfer *x = &p->x;
	const struct qm_mail_sink *to = p->to;

	p->got += n;
	if (p->got > x->sink->max) {
		x->toobig = 1;
		x->limit = x->sink->max;
		return 0;
	}
	if (p->sunk) {
		p->to_rc = to->write(to->arg, b, n, &p->to_err);
		return p->to_rc ? 0 : n;
	}
	if (qm_buf_append(x->sink, b, n, NULL) != QM_OK) {
		x->toobig = 1;
		x->limit = x->sink->max;
		return 0;
	}
	if (x->sink->len <= to->big)
		return n;
	p->sunk = 1;
	p->to_rc = to->begin(to->arg, 0, &p->to_err);
	if (!p->to_rc)
		p->to_rc =
		    to->write(to->arg, x->sink->data, x->sink->len, &p->to_err);
	qm_buf_reset(x->sink); /* wiped when secure */
	return p->to_rc ? 0 : n;
}

static size_t on_write(char *b, size_t size, size_t nmemb, void *arg)
{
	struct qm_mail_pop3 *p = arg;
	struct mail_xfer *x = &p->x;
	size_t n = size * nmemb;

	if (p->to && x->sink)
		return to_sink(p, b, n);
	if (!x->sink || qm_buf_append(x->sink, b, n, NULL) != QM_OK) {
		x->toobig = 1;
		x->limit = x->sink ? x->sink->max : 0;
		return 0;
	}
	return n;
}

/* One request on the session: path ("" or a message number), an optional
 * command, whether a body comes back, the sink. */
static enum qm_err pop3_do(struct qm_mail_pop3 *p, const char *path,
                           const char *cmd, int body, struct qm_buf *sink,
                           const char *what, struct qm_error *err)
{
	CURLcode rc;
	enum qm_err e;

	p->x.loglen = 0;
	p->x.toobig = 0;
	p->x.sink = sink;
	if ((e = mail_curl_setup(p->h, p->srv, MAIL_POP3, path, &p->x, err)))
		return e;
	curl_easy_setopt(p->h, CURLOPT_CUSTOMREQUEST, cmd);
	curl_easy_setopt(p->h, CURLOPT_NOBODY, body ? 0L : 1L);
	curl_easy_setopt(p->h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(p->h, CURLOPT_WRITEDATA, p);
	rc = curl_easy_perform(p->h);
	p->last_rc = rc;
	p->x.sink = NULL;
	if (rc != CURLE_OK && p->to_rc) {
		/* the sink's own failure, as it said it */
		if (err)
			*err = p->to_err;
		return p->to_rc;
	}
	if (rc != CURLE_OK)
		return mail_curl_fail(p->h, rc, &p->x, what, err);
	return QM_OK;
}

enum qm_err qm_mail_pop3_open(const struct qm_mail_server *srv,
                              struct qm_mail_pop3 **out, struct qm_error *err)
{
	struct qm_mail_pop3 *p;
	enum qm_err e;

	if (!srv || !out)
		return qm_error_set(err, QM_ERR_INVAL, "no POP3 server given");
	if ((e = qm_mail_init(err)) != QM_OK)
		return e;
	if (!(p = calloc(1, sizeof(*p))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	p->srv = srv;
	if (!(p->h = curl_easy_init())) {
		free(p);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	/* NOOP proves the login now rather than at the first real call */
	e = pop3_do(p, "", "NOOP", 0, NULL, "POP3 login", err);
	if (e == QM_ERR_DENIED && p->last_rc != CURLE_OK) {
		/* a refused OAuth2 token: renewed once (srv->bearer then
		 * points at the new one, which pop3_do sets again) */
		int again = mail_reauth(p->h, srv, &p->x, p->last_rc, &e, err);

		if (again > 0)
			e = pop3_do(p, "", "NOOP", 0, NULL, "POP3 login", err);
	}
	if (e) {
		qm_mail_pop3_free(&p);
		return e;
	}
	*out = p;
	return QM_OK;
}

void qm_mail_pop3_free(struct qm_mail_pop3 **pp)
{
	struct qm_mail_pop3 *p = pp ? *pp : NULL;

	if (!p)
		return;
	curl_easy_cleanup(p->h); /* sends QUIT: deletions take effect */
	free(p);
	*pp = NULL;
}

/* Parses one "num uidl" line of the UIDL listing. */
static int parse_uidl_line(const char *s, size_t n, struct qm_mail_pop3_msg *m)
{
	long long v = 0;
	size_t i = 0, j;

	while (i < n && s[i] >= '0' && s[i] <= '9' && v < 100000000)
		v = v * 10 + (s[i++] - '0');
	if (i == 0 || i >= n || s[i] != ' ' || v <= 0 || v > 0xffffffffLL)
		return -1;
	j = ++i;
	while (i < n && s[i] > 0x20 && s[i] < 0x7f)
		i++;
	if (i == j || i - j > 70)
		return -1;
	m->num = (uint32_t)v;
	memcpy(m->uidl, s + j, i - j);
	m->uidl[i - j] = '\0';
	return 0;
}

enum qm_err qm_mail_pop3_uidl(struct qm_mail_pop3 *p,
                              struct qm_mail_pop3_msg **out, size_t *n,
                              struct qm_error *err)
{
	struct qm_buf b;
	struct qm_mail_pop3_msg *v = NULL;
	size_t cnt = 0, cap = 0;
	const char *s, *e;
	enum qm_err rc;

	qm_buf_init(&b, MAIL_MAXLISTING);
	if ((rc = pop3_do(p, "", "UIDL", 1, &b, "POP3 UIDL", err)))
		goto out;
	s = b.data ? (const char *)b.data : "";
	e = s + b.len;
	while (s < e) {
		const char *nl = memchr(s, '\n', (size_t)(e - s));
		size_t len = nl ? (size_t)(nl - s) : (size_t)(e - s);
		struct qm_mail_pop3_msg m;

		if (len && s[len - 1] == '\r')
			len--;
		if (len) {
			if (parse_uidl_line(s, len, &m) != 0) {
				rc = qm_error_set(
				    err, QM_ERR_PROTO,
				    "POP3 UIDL: malformed line in the "
				    "server's listing");
				goto out;
			}
			if (cnt == cap) {
				size_t nc = cap ? cap * 2 : 64;
				void *t = reallocarray(v, nc, sizeof(*v));
				if (!t) {
					rc = qm_error_set(err, QM_ERR_NOMEM,
					                  "out of memory");
					goto out;
				}
				v = t;
				cap = nc;
			}
			v[cnt++] = m;
		}
		s = nl ? nl + 1 : e;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	rc = QM_OK;
out:
	free(v);
	qm_buf_free(&b);
	return rc;
}

enum qm_err qm_mail_pop3_retr(struct qm_mail_pop3 *p, uint32_t num,
                              struct qm_buf *out, struct qm_error *err)
{
	int sunk = 0;

	return qm_mail_pop3_retr_to(p, num, NULL, out, &sunk, err);
}

enum qm_err qm_mail_pop3_retr_to(struct qm_mail_pop3 *p, uint32_t num,
                                 const struct qm_mail_sink *sink,
                                 struct qm_buf *out, int *sunk,
                                 struct qm_error *err)
{
	char path[16];
	struct qm_buf b;
	enum qm_err rc;

	*sunk = 0;
	snprintf(path, sizeof(path), "%u", (unsigned)num);
	qm_buf_init(&b, mail_max_message(p->srv));
	if (out->secure)
		qm_buf_init_secure(&b, mail_max_message(p->srv));
	p->to = sink;
	p->sunk = 0;
	p->got = 0;
	p->to_rc = QM_OK;
	rc = pop3_do(p, path, NULL, 1, &b, "POP3 RETR", err);
	p->to = NULL;
	p->to_rc = QM_OK; /* said (rc), not to be said again */
	*sunk = p->sunk;
	if (rc == QM_OK) {
		/* libcurl takes a hang-up as the end of the message. A POP3
		 * server never closes after a whole RETR, so probe with NOOP:
		 * if libcurl had to connect anew, the old connection was gone
		 * and the message is truncated */
		long fresh = 0;
		rc = pop3_do(p, "", "NOOP", 0, NULL, "POP3 RETR", err);
		if (rc == QM_OK &&
		    (curl_easy_getinfo(p->h, CURLINFO_NUM_CONNECTS, &fresh) !=
		         CURLE_OK ||
		     fresh > 0))
			rc =
			    qm_error_set(err, QM_ERR_NET,
			                 "POP3 RETR: the server closed the "
			                 "connection before the end of message "
			                 "%u; try again later",
			                 (unsigned)num);
	}
	if (rc == QM_OK && !*sunk)
		rc = qm_buf_append(out, b.data ? b.data : (unsigned char *)"",
		                   b.len, err);
	qm_buf_free(&b);
	return rc;
}

enum qm_err qm_mail_pop3_dele(struct qm_mail_pop3 *p, uint32_t num,
                              struct qm_error *err)
{
	char cmd[24];

	snprintf(cmd, sizeof(cmd), "DELE %u", (unsigned)num);
	return pop3_do(p, "", cmd, 0, NULL, "POP3 DELE", err);
}
