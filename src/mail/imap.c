/* SPDX-License-Identifier: MIT */
/*
 * IMAP client. libcurl makes the connection (TLS verified, STARTTLS
 * required when chosen, SASL or OAuth2 login) in connect-only mode; the
 * commands then run over that authenticated TLS connection with
 * curl_easy_send/recv and a small bounded response reader, because
 * libcurl's IMAP verbs cannot PEEK, drop the literals of custom commands
 * and cannot IDLE. Every line and literal is bounded; every read has a
 * time-out; a connection that failed mid-response is not used again.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "mail/private.h"

#define IMAP_LINEMAX  ((size_t)256 * 1024) /* one response line */
#define IMAP_SMALLLIT ((size_t)1 << 20)    /* literal nobody asked for */
#define IMAP_IDLEMAX_MS                                                        \
	(25L * 60 * 1000) /* RFC 2177: re-IDLE before 29 min                   \
	                   */

struct qm_mail_imap {
	const struct qm_mail_server *srv;
	CURL *h;
	curl_socket_t sock;
	struct mail_xfer x;
	unsigned tag;
	int broken;
	char caps[4096];
	unsigned char in[16384];
	size_t inlen, inoff;
	uint32_t exists;
	uint32_t uidvalidity; /* of the selected folder, 0: none selected */
	char lastreply[512];  /* text of the last tagged NO/BAD */
	int wake_fd;          /* readable: end a wait early (-1: none) */
	int idle_wake;        /* set while waiting in IDLE */
	int woken;            /* the last wait ended because of wake_fd */
};

/* One response: the line (literals left as "{N}" markers) and where the
 * literal bytes went. */
struct item {
	struct qm_buf line;
	struct qm_buf *lit; /* literal sink, NULL: small literals discarded */
	size_t nlit;
	size_t litstart; /* where this response's literal bytes begin in lit */
};

QM_NODISCARD typedef enum qm_err (*untagged_fn)(struct qm_mail_imap *im,
                                                const char *line, size_t n,
                                                struct item *it, void *arg,
                                                struct qm_error *err);

static enum qm_err fail_broken(struct qm_mail_imap *im, enum qm_err code,
                               struct qm_error *err, const char *fmt, ...)
    QM_PRINTF(4, 5);

static enum qm_err fail_broken(struct qm_mail_imap *im, enum qm_err code,
                               struct qm_error *err, const char *fmt, ...)
{
	char msg[QM_ERR_MSGMAX];
	va_list ap;

	im->broken = 1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return qm_error_set(err, code, "IMAP %s: %s", im->srv->host, msg);
}

/* Waits until the socket is readable (or writable) or ms passes. */
static enum qm_err wait_sock(struct qm_mail_imap *im, int write, long ms,
                             struct qm_error *err)
{
	struct pollfd p[2] = {{.fd = (int)im->sock,
	                       .events = write ? POLLOUT : POLLIN},
	                      {.fd = im->wake_fd, .events = POLLIN}};
	nfds_t np = !write && im->idle_wake && im->wake_fd >= 0 ? 2 : 1;
	int r;

	do
		r = poll(p, np, (int)ms);
	while (r < 0 && errno == EINTR);
	if (r > 0 && np == 2 && !p[0].revents && p[1].revents) {
		/* asked to stop waiting: a quiet end, the session is fine */
		im->woken = 1;
		return qm_error_set(err, QM_ERR_TIMEOUT,
		                    "IMAP %s: the wait was ended early",
		                    im->srv->host);
	}
	if (r == 0)
		return qm_error_set(err, QM_ERR_TIMEOUT,
		                    "IMAP %s: the server did not answer within "
		                    "%ld ms; try again later",
		                    im->srv->host, ms);
	if (r < 0)
		return fail_broken(im, QM_ERR_NET, err, "poll failed: %s",
		                   strerror(errno));
	return QM_OK;
}

static enum qm_err send_all(struct qm_mail_imap *im, const void *p, size_t n,
                            struct qm_error *err)
{
	const unsigned char *b = p;
	size_t off = 0;

	while (off < n) {
		size_t sent = 0;
		CURLcode rc = curl_easy_send(im->h, b + off, n - off, &sent);
		enum qm_err e;

		if (rc == CURLE_AGAIN) {
			if ((e = wait_sock(im, 1, mail_io_ms(im->srv), err))) {
				im->broken = 1;
				return e;
			}
			continue;
		}
		if (rc != CURLE_OK)
			return fail_broken(
			    im, QM_ERR_NET, err,
			    "sending failed (%s); the connection "
			    "is lost, try again later",
			    curl_easy_strerror(rc));
		off += sent;
	}
	return QM_OK;
}

/* Reads more bytes into im->in, waiting at most ms. */
static enum qm_err fill(struct qm_mail_imap *im, long ms, struct qm_error *err)
{
	for (;;) {
		size_t got = 0;
		CURLcode rc;
		enum qm_err e;

		if (im->inoff == im->inlen)
			im->inoff = im->inlen = 0;
		rc = curl_easy_recv(im->h, im->in + im->inlen,
		                    sizeof(im->in) - im->inlen, &got);
		if (rc == CURLE_AGAIN) {
			if ((e = wait_sock(im, 0, ms, err)))
				return e;
			continue;
		}
		if (rc != CURLE_OK)
			return fail_broken(im, QM_ERR_NET, err,
			                   "receiving failed (%s); try again "
			                   "later",
			                   curl_easy_strerror(rc));
		if (got == 0)
			return fail_broken(
			    im, QM_ERR_NET, err,
			    "the server closed the connection in "
			    "the middle of a reply; try again "
			    "later");
		im->inlen += got;
		return QM_OK;
	}
}

/* Appends bytes up to and including the next LF to line. */
static enum qm_err read_line(struct qm_mail_imap *im, struct qm_buf *line,
                             long ms, struct qm_error *err)
{
	for (;;) {
		unsigned char *s = im->in + im->inoff;
		size_t avail = im->inlen - im->inoff;
		unsigned char *nl = memchr(s, '\n', avail);
		size_t take = nl ? (size_t)(nl - s) + 1 : avail;
		enum qm_err e;

		if (take && qm_buf_append(line, s, take, NULL) != QM_OK)
			return fail_broken(im, QM_ERR_TOOBIG, err,
			                   "a reply line is longer than %zu "
			                   "bytes",
			                   line->max);
		im->inoff += take;
		if (nl)
			return QM_OK;
		if (im->inoff == im->inlen)
			im->inoff = im->inlen = 0;
		if (im->inlen == sizeof(im->in)) {
			memmove(im->in, im->in + im->inoff,
			        im->inlen - im->inoff);
			im->inlen -= im->inoff;
			im->inoff = 0;
		}
		if ((e = fill(im, ms, err))) {
			if (e == QM_ERR_TIMEOUT && line->len)
				im->broken = 1;
			return e;
		}
	}
}

/* The literal size when the line (without CRLF) ends in {N} or {N+}. */
static int literal_size(const struct qm_buf *line, size_t from, uint64_t *n)
{
	const char *s = (const char *)line->data + from;
	size_t len = line->len - from, i;
	uint64_t v = 0;

	if (len < 3 || s[len - 1] != '}')
		return 0;
	i = len - 1;
	if (i > 0 && s[i - 1] == '+')
		i--;
	while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
		i--;
	if (i == 0 || s[i - 1] != '{' || s[i] == '}' || s[i] == '+')
		return 0;
	for (size_t j = i; s[j] >= '0' && s[j] <= '9'; j++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[j] - '0');
	}
	*n = v;
	return 1;
}

/* Reads a literal of n bytes into sink (or discards it). */
static enum qm_err read_literal(struct qm_mail_imap *im, uint64_t n,
                                struct qm_buf *sink, struct qm_error *err)
{
	uint64_t done = 0;

	while (done < n) {
		size_t avail = im->inlen - im->inoff, take;
		enum qm_err e;

		if (avail == 0) {
			if ((e = fill(im, mail_io_ms(im->srv), err))) {
				im->broken = 1;
				return e;
			}
			continue;
		}
		take = avail;
		if ((uint64_t)take > n - done)
			take = (size_t)(n - done);
		if (sink && qm_buf_append(sink, im->in + im->inoff, take,
		                          NULL) != QM_OK)
			return fail_broken(im, QM_ERR_TOOBIG, err,
			                   "a message is larger than the limit "
			                   "of %zu bytes",
			                   sink->max);
		im->inoff += take;
		done += take;
		if (im->srv->progress && n > 65536)
			im->srv->progress(im->srv->progress_arg, done, n);
	}
	return QM_OK;
}

/* Reads one whole response (a line and its literals). */
static enum qm_err read_item(struct qm_mail_imap *im, struct item *it, long ms,
                             struct qm_error *err)
{
	size_t from = 0;
	enum qm_err e;

	qm_buf_reset(&it->line);
	it->nlit = 0;
	it->litstart = it->lit ? it->lit->len : 0;
	for (;;) {
		uint64_t n = 0;
		int r;

		if ((e = read_line(im, &it->line,
		                   from ? mail_io_ms(im->srv) : ms, err)))
			return e;
		/* strip CRLF (or a bare LF) */
		it->line.len--;
		if (it->line.len && it->line.data[it->line.len - 1] == '\r')
			it->line.len--;
		it->line.data[it->line.len] = '\0';
		r = literal_size(&it->line, from, &n);
		if (r == 0)
			return QM_OK;
		if (r < 0 || n > (it->lit ? it->lit->max : IMAP_SMALLLIT))
			return fail_broken(
			    im, QM_ERR_TOOBIG, err,
			    "the server announced a literal of "
			    "%llu bytes, more than the limit of "
			    "%zu",
			    r < 0 ? ~0ULL : (unsigned long long)n,
			    it->lit ? it->lit->max : IMAP_SMALLLIT);
		if ((e = read_literal(im, n, it->lit, err)))
			return e;
		it->nlit++;
		from = it->line.len;
	}
}

/* "Q<tag> " prefix of line? */
static int is_tagged(const struct qm_mail_imap *im, const char *s)
{
	char t[16];
	int n = snprintf(t, sizeof(t), "Q%u ", im->tag);

	return strncmp(s, t, (size_t)n) == 0;
}

/* Built-in handling of untagged data every command may see. */
static void note_untagged(struct qm_mail_imap *im, const char *s)
{
	unsigned long v;
	char *end;

	if (strncmp(s, "* ", 2) != 0)
		return;
	if (s[2] >= '0' && s[2] <= '9') {
		v = strtoul(s + 2, &end, 10);
		if (strcasecmp(end, " EXISTS") == 0 && v <= 0xffffffffUL)
			im->exists = (uint32_t)v;
	} else if (strncasecmp(s, "* CAPABILITY ", 13) == 0) {
		qm_strlcpy(im->caps, s + 13, sizeof(im->caps));
	}
}

/* Sends a formatted command with a fresh tag and reads to its completion,
 * passing every untagged response to fn. */
static enum qm_err run(struct qm_mail_imap *im, struct qm_buf *lit,
                       untagged_fn fn, void *arg, struct qm_error *err,
                       const char *fmt, ...) QM_PRINTF(6, 7);

static enum qm_err run(struct qm_mail_imap *im, struct qm_buf *lit,
                       untagged_fn fn, void *arg, struct qm_error *err,
                       const char *fmt, ...)
{
	char cmd[2048];
	struct item it = {.lit = lit};
	va_list ap;
	int n, m;
	enum qm_err e;

	if (im->broken)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP %s: the connection was lost earlier; "
		                    "open a new session",
		                    im->srv->host);
	im->tag++;
	m = snprintf(cmd, sizeof(cmd), "Q%u ", im->tag);
	va_start(ap, fmt);
	n = vsnprintf(cmd + m, sizeof(cmd) - (size_t)m - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)(n + m) >= sizeof(cmd) - 2)
		return qm_error_set(err, QM_ERR_INVAL, "IMAP command too long");
	memcpy(cmd + m + n, "\r\n", 2);
	if ((e = send_all(im, cmd, (size_t)(m + n + 2), err)))
		return e;
	qm_buf_init(&it.line, IMAP_LINEMAX);
	for (;;) {
		const char *s;

		if ((e = read_item(im, &it, mail_io_ms(im->srv), err))) {
			im->broken = 1;
			goto out;
		}
		s = (const char *)it.line.data;
		if (is_tagged(im, s)) {
			const char *st = strchr(s, ' ') + 1;
			if (strncasecmp(st, "OK", 2) == 0) {
				e = QM_OK;
				goto out;
			}
			qm_strlcpy(im->lastreply, s, sizeof(im->lastreply));
			e = qm_error_set(err, QM_ERR_PROTO,
			                 "IMAP %s refused \"%.60s\": %.300s",
			                 im->srv->host, cmd + m, st);
			goto out;
		}
		if (strncmp(s, "* ", 2) == 0) {
			note_untagged(im, s);
			if (strncasecmp(s, "* BYE", 5) == 0) {
				e = fail_broken(
				    im, QM_ERR_NET, err,
				    "the server closed the session: "
				    "%.300s",
				    s);
				goto out;
			}
			if (fn && (e = fn(im, s, it.line.len, &it, arg, err)))
				goto out;
			continue;
		}
		if (strncmp(s, "+", 1) == 0)
			continue;
		e = fail_broken(im, QM_ERR_PROTO, err,
		                "the server sent a malformed reply line: "
		                "\"%.80s\"",
		                s);
		goto out;
	}
out:
	qm_buf_free(&it.line);
	return e;
}

/* Writes name as an IMAP quoted string into out. */
static enum qm_err quote(const char *name, char *out, size_t outlen,
                         struct qm_error *err)
{
	size_t j = 0;

	if (!name || !*name)
		return qm_error_set(err, QM_ERR_INVAL, "empty folder name");
	out[j++] = '"';
	for (const char *p = name; *p; p++) {
		if (*p == '\r' || *p == '\n')
			return qm_error_set(err, QM_ERR_INVAL,
			                    "a folder name cannot hold a line "
			                    "break");
		if (j + 4 >= outlen)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "folder name too long");
		if (*p == '"' || *p == '\\')
			out[j++] = '\\';
		out[j++] = *p;
	}
	out[j++] = '"';
	out[j] = '\0';
	return QM_OK;
}

enum qm_err qm_mail_imap_open(const struct qm_mail_server *srv,
                              struct qm_mail_imap **out, struct qm_error *err)
{
	struct qm_mail_imap *im;
	CURLcode rc;
	enum qm_err e;

	if (!srv || !out)
		return qm_error_set(err, QM_ERR_INVAL, "no IMAP server given");
	if ((e = qm_mail_init(err)) != QM_OK)
		return e;
	if (!(im = calloc(1, sizeof(*im))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	im->srv = srv;
	im->wake_fd = -1;
	if (!(im->h = curl_easy_init())) {
		free(im);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	if ((e = mail_curl_setup(im->h, srv, MAIL_IMAP, "", &im->x, err)))
		goto fail;
	curl_easy_setopt(im->h, CURLOPT_CONNECT_ONLY, 1L);
	rc = curl_easy_perform(im->h);
	if (rc != CURLE_OK) {
		e = mail_curl_fail(im->h, rc, &im->x, "IMAP login", err);
		goto fail;
	}
	/* stop capturing: what follows goes through our own reader */
	curl_easy_setopt(im->h, CURLOPT_VERBOSE, 0L);
	if (curl_easy_getinfo(im->h, CURLINFO_ACTIVESOCKET, &im->sock) !=
	        CURLE_OK ||
	    im->sock == CURL_SOCKET_BAD) {
		e = qm_error_set(err, QM_ERR_NET, "IMAP: no connection");
		goto fail;
	}
	if ((e = run(im, NULL, NULL, NULL, err, "CAPABILITY")))
		goto fail;
	*out = im;
	return QM_OK;
fail:
	im->broken = 1;
	qm_mail_imap_free(&im);
	return e;
}

void qm_mail_imap_free(struct qm_mail_imap **pim)
{
	struct qm_mail_imap *im = pim ? *pim : NULL;

	if (!im)
		return;
	if (im->broken && im->sock != CURL_SOCKET_BAD && im->sock != 0) {
		/* libcurl would wait for a LOGOUT reply that cannot come */
		shutdown((int)im->sock, SHUT_RDWR);
	}
	curl_easy_setopt(im->h, CURLOPT_SERVER_RESPONSE_TIMEOUT, 2L);
	curl_easy_cleanup(im->h); /* LOGOUT */
	free(im);
	*pim = NULL;
}

int qm_mail_imap_has_cap(const struct qm_mail_imap *im, const char *cap)
{
	size_t n = strlen(cap);
	const char *p = im->caps;

	while ((p = strcasestr(p, cap)) != NULL) {
		if ((p == im->caps || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

/* ------------------------------------------------------------- LIST */

struct list_ctx {
	struct qm_mail_folder *v;
	size_t n, cap;
};

/* Reads an IMAP astring (atom, quoted or the item's literal). */
static char *take_astring(const char **pp, const struct item *it)
{
	const char *p = *pp;
	struct qm_buf b;
	char *r;

	while (*p == ' ')
		p++;
	qm_buf_init(&b, 4096);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (qm_buf_append_byte(&b, (unsigned char)*p, NULL))
				break;
		}
		if (*p == '"')
			p++;
	} else if (*p == '{' && it->lit && it->nlit) {
		/* "{0}" leaves no literal bytes (and lit->data may be NULL) */
		if (it->lit->len > it->litstart)
			/* past the limit the name is cut, as a quoted one
			 * is above */
			QM_IGNORE(
			    qm_buf_append(&b, it->lit->data + it->litstart,
			                  it->lit->len - it->litstart, NULL));
		p += strlen(p);
	} else {
		while (*p && *p != ' ' && *p != ')')
			if (qm_buf_append_byte(&b, (unsigned char)*p++, NULL))
				break;
	}
	*pp = p;
	r = mail_strndup(b.data ? (char *)b.data : "", b.len);
	qm_buf_free(&b);
	return r;
}

static enum qm_err on_list(struct qm_mail_imap *im, const char *s, size_t n,
                           struct item *it, void *arg, struct qm_error *err)
{
	static const struct {
		const char *a;
		unsigned f;
	} attrs[] = {{"\\Noselect", QM_MAIL_FOLDER_NOSELECT},
	             {"\\NonExistent", QM_MAIL_FOLDER_NOSELECT},
	             {"\\Sent", QM_MAIL_FOLDER_SENT},
	             {"\\Drafts", QM_MAIL_FOLDER_DRAFTS},
	             {"\\Trash", QM_MAIL_FOLDER_TRASH},
	             {"\\Junk", QM_MAIL_FOLDER_JUNK},
	             {"\\Archive", QM_MAIL_FOLDER_ARCHIVE}};
	struct list_ctx *c = arg;
	const char *p, *close;
	struct qm_mail_folder f = {0};
	char *delim;

	(void)n;
	if (strncasecmp(s, "* LIST (", 8) != 0)
		return QM_OK;
	p = s + 8;
	if (!(close = strchr(p, ')')))
		return fail_broken(im, QM_ERR_PROTO, err,
		                   "malformed LIST reply");
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		const char *a = strcasestr(p, attrs[i].a);
		size_t al = strlen(attrs[i].a);
		if (a && a < close && (a[al] == ' ' || a[al] == ')'))
			f.attrs |= attrs[i].f;
	}
	p = close + 1;
	if (!(delim = take_astring(&p, it)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	free(delim);
	if (!(f.name = take_astring(&p, it)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (!*f.name) {
		free(f.name);
		return QM_OK;
	}
	if (strcasecmp(f.name, "INBOX") == 0)
		f.attrs |= QM_MAIL_FOLDER_INBOX;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		void *t =
		    nc > 100000 ? NULL : reallocarray(c->v, nc, sizeof(*c->v));
		if (!t) {
			free(f.name);
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "too many folders");
		}
		c->v = t;
		c->cap = nc;
	}
	c->v[c->n++] = f;
	return QM_OK;
}

void qm_mail_folders_free(struct qm_mail_folder **f, size_t n)
{
	if (!f || !*f)
		return;
	for (size_t i = 0; i < n; i++)
		free((*f)[i].name);
	free(*f);
	*f = NULL;
}

enum qm_err qm_mail_imap_list(struct qm_mail_imap *im,
                              struct qm_mail_folder **out, size_t *n,
                              struct qm_error *err)
{
	struct list_ctx c = {0};
	struct qm_buf lit;
	enum qm_err e;

	qm_buf_init(&lit, 4096);
	if (qm_mail_imap_has_cap(im, "LIST-EXTENDED") &&
	    qm_mail_imap_has_cap(im, "SPECIAL-USE"))
		e = run(im, &lit, on_list, &c, err,
		        "LIST \"\" \"*\" RETURN (SPECIAL-USE)");
	else
		e = run(im, &lit, on_list, &c, err, "LIST \"\" \"*\"");
	qm_buf_free(&lit);
	if (e) {
		qm_mail_folders_free(&c.v, c.n);
		return e;
	}
	*out = c.v;
	*n = c.n;
	return QM_OK;
}

enum qm_err qm_mail_imap_special(struct qm_mail_imap *im, unsigned attr,
                                 char **name, struct qm_error *err)
{
	struct qm_mail_folder *f = NULL;
	size_t n = 0;
	enum qm_err e;

	if ((e = qm_mail_imap_list(im, &f, &n, err)))
		return e;
	e = qm_error_set(err, QM_ERR_NOTFOUND,
	                 "the server marks no folder for this use");
	for (size_t i = 0; i < n; i++) {
		if (f[i].attrs & attr) {
			if (!(*name = mail_strdup(f[i].name)))
				e = qm_error_set(err, QM_ERR_NOMEM,
				                 "out of memory");
			else
				e = QM_OK;
			break;
		}
	}
	if (e == QM_OK)
		qm_error_clear(err);
	qm_mail_folders_free(&f, n);
	return e;
}

/* ----------------------------------------------------------- SELECT */

static uint32_t code_value(const char *s, const char *code)
{
	const char *p = strcasestr(s, code);
	unsigned long v;

	if (!p)
		return 0;
	v = strtoul(p + strlen(code), NULL, 10);
	return v > 0xffffffffUL ? 0 : (uint32_t)v;
}

static enum qm_err on_select(struct qm_mail_imap *im, const char *s, size_t n,
                             struct item *it, void *arg, struct qm_error *err)
{
	struct qm_mail_imap_status *st = arg;

	(void)im;
	(void)n;
	(void)it;
	(void)err;
	if (strncasecmp(s, "* OK [UIDVALIDITY ", 18) == 0)
		st->uidvalidity = code_value(s, "[UIDVALIDITY ");
	else if (strncasecmp(s, "* OK [UIDNEXT ", 14) == 0)
		st->uidnext = code_value(s, "[UIDNEXT ");
	return QM_OK;
}

enum qm_err qm_mail_imap_select(struct qm_mail_imap *im, const char *folder,
                                struct qm_mail_imap_status *st,
                                struct qm_error *err)
{
	struct qm_mail_imap_status s = {0};
	char q[1024];
	enum qm_err e;

	if ((e = quote(folder, q, sizeof(q), err)))
		return e;
	im->exists = 0;
	im->uidvalidity = 0;
	if ((e = run(im, NULL, on_select, &s, err, "SELECT %s", q)))
		return e;
	if (s.uidvalidity == 0)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP %s: SELECT %s gave no UIDVALIDITY",
		                    im->srv->host, folder);
	s.exists = im->exists;
	im->uidvalidity = s.uidvalidity;
	if (st)
		*st = s;
	return QM_OK;
}

/* ----------------------------------------------------------- SEARCH */

struct uidv {
	uint32_t *v;
	size_t n, cap;
	uint32_t above;
};

static enum qm_err uid_push(struct uidv *u, uint32_t uid, struct qm_error *err)
{
	if (u->n == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 64;
		void *t = reallocarray(u->v, nc, sizeof(*u->v));
		if (!t)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		u->v = t;
		u->cap = nc;
	}
	u->v[u->n++] = uid;
	return QM_OK;
}

static enum qm_err on_search(struct qm_mail_imap *im, const char *s, size_t n,
                             struct item *it, void *arg, struct qm_error *err)
{
	struct uidv *u = arg;
	const char *p;

	(void)im;
	(void)n;
	(void)it;
	if (strncasecmp(s, "* SEARCH", 8) != 0)
		return QM_OK;
	for (p = s + 8; *p;) {
		unsigned long v;
		char *end;
		enum qm_err e;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		v = strtoul(p, &end, 10);
		if (end == p || v == 0 || v > 0xffffffffUL)
			return fail_broken(im, QM_ERR_PROTO, err,
			                   "malformed SEARCH reply");
		if (v > u->above && (e = uid_push(u, (uint32_t)v, err)))
			return e;
		p = end;
	}
	return QM_OK;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static enum qm_err need_selected(struct qm_mail_imap *im, struct qm_error *err)
{
	if (im->uidvalidity == 0)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP: select a folder first");
	return QM_OK;
}

enum qm_err qm_mail_imap_new_uids(struct qm_mail_imap *im,
                                  uint32_t known_uidvalidity, uint32_t last_uid,
                                  uint32_t **uids, size_t *n, int *resync,
                                  struct qm_error *err)
{
	struct uidv u = {0};
	enum qm_err e;
	int rs = 0;

	if ((e = need_selected(im, err)))
		return e;
	if (known_uidvalidity != im->uidvalidity) {
		/* a new or rebuilt folder: every message counts as new */
		rs = known_uidvalidity != 0;
		last_uid = 0;
	}
	u.above = last_uid;
	if (last_uid == UINT32_MAX)
		goto done;
	if ((e = run(im, NULL, on_search, &u, err, "UID SEARCH UID %u:*",
	             (unsigned)last_uid + 1))) {
		free(u.v);
		return e;
	}
	if (u.n > 1)
		qsort(u.v, u.n, sizeof(*u.v), cmp_u32);
done:
	*uids = u.v;
	*n = u.n;
	*resync = rs;
	return QM_OK;
}

/* ------------------------------------------------------------ FETCH */

/* Flags from a "FLAGS (...)" list inside s. */
static unsigned parse_flags(const char *s)
{
	static const struct {
		const char *f;
		unsigned v;
	} names[] = {{"\\Seen", QM_MAIL_FLAG_SEEN},
	             {"\\Answered", QM_MAIL_FLAG_ANSWERED},
	             {"\\Flagged", QM_MAIL_FLAG_FLAGGED},
	             {"\\Deleted", QM_MAIL_FLAG_DELETED},
	             {"\\Draft", QM_MAIL_FLAG_DRAFT}};
	const char *p = strcasestr(s, "FLAGS ("), *close;
	unsigned r = 0;

	if (!p || !(close = strchr(p, ')')))
		return 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *f = p;
		size_t fl = strlen(names[i].f);
		while ((f = strcasestr(f, names[i].f)) && f < close) {
			if (f[fl] == ' ' || f[fl] == ')') {
				r |= names[i].v;
				break;
			}
			f += fl;
		}
	}
	return r;
}

struct fetch_ctx {
	uint32_t uid;
	int found;
	size_t lit_from, lit_to; /* the wanted message's literal bytes */
	unsigned flags;
	uint32_t size;
	struct qm_mail_uid_flags *all;
	size_t n, cap;
};

/* "* n FETCH (... UID u ...": the UID, 0 when absent. */
static uint32_t fetch_uid(const char *s)
{
	const char *p = strchr(s + 2, ' ');

	if (!p || strncasecmp(p, " FETCH (", 8) != 0)
		return 0;
	p = strcasestr(p, "UID ");
	while (p && p[-1] != '(' && p[-1] != ' ')
		p = strcasestr(p + 4, "UID ");
	return p ? (uint32_t)strtoul(p + 4, NULL, 10) : 0;
}

static enum qm_err on_fetch(struct qm_mail_imap *im, const char *s, size_t n,
                            struct item *it, void *arg, struct qm_error *err)
{
	struct fetch_ctx *c = arg;
	uint32_t uid = fetch_uid(s);

	(void)im;
	(void)n;
	(void)err;
	if (uid == 0 || uid != c->uid)
		return QM_OK;
	/* a server may split the data over several FETCH responses */
	if (strcasestr(s, "FLAGS ("))
		c->flags = parse_flags(s);
	if (strcasestr(s, "RFC822.SIZE "))
		c->size = code_value(s, "RFC822.SIZE ");
	if (it->lit && it->nlit) {
		c->found = 1;
		c->lit_from = it->litstart;
		c->lit_to = it->lit->len;
	}
	return QM_OK;
}

enum qm_err qm_mail_imap_fetch_headers(struct qm_mail_imap *im, uint32_t uid,
                                       struct qm_buf *out, unsigned *flags,
                                       uint32_t *size, struct qm_error *err)
{
	struct fetch_ctx c = {.uid = uid};
	struct qm_buf b;
	enum qm_err e;

	if ((e = need_selected(im, err)))
		return e;
	qm_buf_init(&b, out->max ? out->max : IMAP_SMALLLIT);
	e = run(im, &b, on_fetch, &c, err,
	        "UID FETCH %u (UID FLAGS RFC822.SIZE BODY.PEEK[HEADER])",
	        (unsigned)uid);
	if (e == QM_OK && !c.found)
		e = qm_error_set(err, QM_ERR_NOTFOUND,
		                 "IMAP: message UID %u is gone", (unsigned)uid);
	if (e == QM_OK && c.lit_to > c.lit_from)
		e = qm_buf_append(out, b.data + c.lit_from,
		                  c.lit_to - c.lit_from, err);
	if (e == QM_OK) {
		if (flags)
			*flags = c.flags;
		if (size)
			*size = c.size;
	}
	qm_buf_free(&b);
	return e;
}

struct many_ctx {
	qm_mail_headers_fn fn;
	void *arg;
	int stopped;
};

static enum qm_err on_many(struct qm_mail_imap *im, const char *s, size_t n,
                           struct item *it, void *arg, struct qm_error *err)
{
	struct many_ctx *c = arg;
	uint32_t uid = fetch_uid(s);
	const unsigned char *hdr;
	size_t len;

	(void)im;
	(void)n;
	(void)err;
	if (uid == 0 || !it->lit || !it->nlit || c->stopped)
		return QM_OK;
	hdr = it->lit->data ? it->lit->data + it->litstart
	                    : (const unsigned char *)"";
	len = it->lit->len - it->litstart;
	if (c->fn(c->arg, uid, parse_flags(s), code_value(s, "RFC822.SIZE "),
	          hdr, len))
		c->stopped = 1;
	/* the next response starts with an empty sink */
	qm_buf_reset(it->lit);
	return QM_OK;
}

enum qm_err qm_mail_imap_fetch_headers_many(struct qm_mail_imap *im,
                                            const uint32_t *uids, size_t n,
                                            qm_mail_headers_fn fn, void *arg,
                                            struct qm_error *err)
{
	struct many_ctx c = {fn, arg, 0};
	struct qm_buf lit, set;
	enum qm_err e = QM_OK;

	if ((e = need_selected(im, err)))
		return e;
	if (!fn || (n && !uids))
		return qm_error_set(err, QM_ERR_INVAL, "nothing to fetch");
	qm_buf_init(&lit, IMAP_SMALLLIT);
	qm_buf_init(&set, 4096);
	for (size_t i = 0; i < n && e == QM_OK && !c.stopped; i += 128) {
		size_t end = n - i > 128 ? i + 128 : n;
		qm_buf_reset(&set);
		for (size_t j = i; j < end && e == QM_OK; j++)
			e = qm_buf_appendf(&set, err, "%s%u", j > i ? "," : "",
			                   (unsigned)uids[j]);
		if (e == QM_OK)
			e = run(im, &lit, on_many, &c, err,
			        "UID FETCH %s (UID FLAGS RFC822.SIZE "
			        "BODY.PEEK[HEADER])",
			        (const char *)set.data);
	}
	qm_buf_free(&lit);
	qm_buf_free(&set);
	if (e == QM_OK && c.stopped)
		e = qm_error_set(err, QM_ERR_STATE,
		                 "IMAP: header fetch stopped by the caller");
	return e;
}

enum qm_err qm_mail_imap_fetch(struct qm_mail_imap *im, uint32_t uid,
                               struct qm_buf *out, struct qm_error *err)
{
	struct fetch_ctx c = {.uid = uid};
	struct qm_buf b;
	enum qm_err e;

	if ((e = need_selected(im, err)))
		return e;
	if (out->secure)
		qm_buf_init_secure(&b, mail_max_message(im->srv));
	else
		qm_buf_init(&b, mail_max_message(im->srv));
	e = run(im, &b, on_fetch, &c, err, "UID FETCH %u (UID BODY.PEEK[])",
	        (unsigned)uid);
	if (e == QM_OK && !c.found)
		e = qm_error_set(err, QM_ERR_NOTFOUND,
		                 "IMAP: message UID %u is gone", (unsigned)uid);
	if (e == QM_OK && c.lit_to > c.lit_from)
		e = qm_buf_append(out, b.data + c.lit_from,
		                  c.lit_to - c.lit_from, err);
	qm_buf_free(&b);
	return e;
}

static enum qm_err on_flags(struct qm_mail_imap *im, const char *s, size_t n,
                            struct item *it, void *arg, struct qm_error *err)
{
	struct fetch_ctx *c = arg;
	uint32_t uid = fetch_uid(s);

	(void)im;
	(void)n;
	(void)it;
	if (uid == 0)
		return QM_OK;
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 64;
		void *t = reallocarray(c->all, nc, sizeof(*c->all));
		if (!t)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		c->all = t;
		c->cap = nc;
	}
	c->all[c->n].uid = uid;
	c->all[c->n].flags = parse_flags(s);
	c->n++;
	return QM_OK;
}

enum qm_err qm_mail_imap_flags_all(struct qm_mail_imap *im,
                                   struct qm_mail_uid_flags **out, size_t *n,
                                   struct qm_error *err)
{
	struct fetch_ctx c = {0};
	enum qm_err e;

	if ((e = need_selected(im, err)))
		return e;
	if (im->exists == 0) {
		*out = NULL;
		*n = 0;
		return QM_OK;
	}
	if ((e = run(im, NULL, on_flags, &c, err,
	             "UID FETCH 1:* (UID FLAGS)"))) {
		free(c.all);
		return e;
	}
	*out = c.all;
	*n = c.n;
	return QM_OK;
}

/* "\Seen \Flagged" for flags into out. */
static void flag_list(unsigned flags, char *out, size_t outlen)
{
	static const char *const names[] = {"\\Seen", "\\Answered", "\\Flagged",
	                                    "\\Deleted", "\\Draft"};
	size_t j = 0;

	out[0] = '\0';
	for (size_t i = 0; i < 5; i++) {
		if (!(flags & (1u << i)))
			continue;
		j += (size_t)snprintf(out + j, outlen - j, "%s%s", j ? " " : "",
		                      names[i]);
	}
}

enum qm_err qm_mail_imap_flags_set(struct qm_mail_imap *im, uint32_t uid,
                                   unsigned flags, int op, struct qm_error *err)
{
	char fl[80];
	enum qm_err e;

	if ((e = need_selected(im, err)))
		return e;
	flag_list(flags, fl, sizeof(fl));
	return run(im, NULL, NULL, NULL, err,
	           "UID STORE %u %sFLAGS.SILENT (%s)", (unsigned)uid,
	           op > 0   ? "+"
	           : op < 0 ? "-"
	                    : "",
	           fl);
}

enum qm_err qm_mail_imap_delete(struct qm_mail_imap *im, uint32_t uid,
                                struct qm_error *err)
{
	enum qm_err e;

	if ((e = qm_mail_imap_flags_set(im, uid, QM_MAIL_FLAG_DELETED, 1, err)))
		return e;
	if (qm_mail_imap_has_cap(im, "UIDPLUS"))
		return run(im, NULL, NULL, NULL, err, "UID EXPUNGE %u",
		           (unsigned)uid);
	return run(im, NULL, NULL, NULL, err, "EXPUNGE");
}

enum qm_err qm_mail_imap_move(struct qm_mail_imap *im, uint32_t uid,
                              const char *folder, struct qm_error *err)
{
	char q[1024];
	enum qm_err e;

	if ((e = need_selected(im, err)) ||
	    (e = quote(folder, q, sizeof(q), err)))
		return e;
	if (qm_mail_imap_has_cap(im, "MOVE"))
		return run(im, NULL, NULL, NULL, err, "UID MOVE %u %s",
		           (unsigned)uid, q);
	if ((e = run(im, NULL, NULL, NULL, err, "UID COPY %u %s", (unsigned)uid,
	             q)))
		return e;
	return qm_mail_imap_delete(im, uid, err);
}

/* ----------------------------------------------------------- APPEND */

enum qm_err qm_mail_imap_append(struct qm_mail_imap *im, const char *folder,
                                const void *msg, size_t len, unsigned flags,
                                struct qm_error *err)
{
	char q[1024], fl[80], cmd[1200];
	struct item it = {0};
	int plus = qm_mail_imap_has_cap(im, "LITERAL+"), n;
	enum qm_err e;

	if (im->broken)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP %s: the connection was lost earlier; "
		                    "open a new session",
		                    im->srv->host);
	if ((e = quote(folder, q, sizeof(q), err)))
		return e;
	flag_list(flags, fl, sizeof(fl));
	im->tag++;
	n = snprintf(cmd, sizeof(cmd), "Q%u APPEND %s (%s) {%zu%s}\r\n",
	             im->tag, q, fl, len, plus ? "+" : "");
	if (n < 0 || (size_t)n >= sizeof(cmd))
		return qm_error_set(err, QM_ERR_INVAL, "folder name too long");
	if ((e = send_all(im, cmd, (size_t)n, err)))
		return e;
	qm_buf_init(&it.line, IMAP_LINEMAX);
	if (!plus) {
		/* wait for the go-ahead; a refusal comes tagged */
		if ((e = read_item(im, &it, mail_io_ms(im->srv), err)))
			goto out;
		if (((const char *)it.line.data)[0] != '+') {
			e = fail_broken(im, QM_ERR_PROTO, err,
			                "APPEND refused: %.300s",
			                (const char *)it.line.data);
			goto out;
		}
	}
	for (size_t off = 0; off < len;) {
		size_t chunk = len - off > 65536 ? 65536 : len - off;
		if ((e = send_all(im, (const char *)msg + off, chunk, err)))
			goto out;
		off += chunk;
		if (im->srv->progress)
			im->srv->progress(im->srv->progress_arg, off, len);
	}
	if ((e = send_all(im, "\r\n", 2, err)))
		goto out;
	for (;;) {
		const char *s;
		if ((e = read_item(im, &it, mail_io_ms(im->srv), err)))
			goto out;
		s = (const char *)it.line.data;
		if (is_tagged(im, s)) {
			const char *st = strchr(s, ' ') + 1;
			e = strncasecmp(st, "OK", 2) == 0
			        ? QM_OK
			        : qm_error_set(err, QM_ERR_PROTO,
			                       "IMAP %s refused APPEND to %s: "
			                       "%.300s",
			                       im->srv->host, folder, st);
			goto out;
		}
		if (strncmp(s, "* ", 2) == 0)
			note_untagged(im, s);
	}
out:
	qm_buf_free(&it.line);
	return e;
}

enum qm_err qm_mail_imap_save_sent(struct qm_mail_imap *im, const void *msg,
                                   size_t len, struct qm_error *err)
{
	char *sent = NULL;
	enum qm_err e;

	e = qm_mail_imap_special(im, QM_MAIL_FOLDER_SENT, &sent, err);
	if (e == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		sent = mail_strdup("Sent");
		e = sent ? QM_OK
		         : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	if (e == QM_OK)
		e = qm_mail_imap_append(im, sent, msg, len, QM_MAIL_FLAG_SEEN,
		                        err);
	free(sent);
	return e;
}

/*
 * UID SEARCH HEADER on the selected folder. The field is a header name
 * (letters, digits, '-'); the value is sent as a quoted string, ASCII only
 * (no CHARSET needed).
 */
enum qm_err qm_mail_imap_search_header(struct qm_mail_imap *im,
                                       const char *field, const char *value,
                                       uint32_t **uids, size_t *n,
                                       struct qm_error *err)
{
	char q[1024];
	struct uidv u = {0};
	enum qm_err e;

	if ((e = need_selected(im, err)))
		return e;
	if (!field || !*field || strlen(field) > 64 ||
	    strspn(field, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                  "0123456789-") != strlen(field))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "IMAP SEARCH: \"%.64s\" is not a header "
		                    "name",
		                    field ? field : "");
	if (!value || !*value)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "IMAP SEARCH: nothing to look for");
	for (const unsigned char *c = (const unsigned char *)value; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "IMAP SEARCH: the %s value holds a "
			                    "byte that is not printable ASCII",
			                    field);
	if ((e = quote(value, q, sizeof(q), err)))
		return e;
	if ((e = run(im, NULL, on_search, &u, err, "UID SEARCH HEADER %s %s",
	             field, q))) {
		free(u.v);
		return e;
	}
	if (u.n > 1)
		qsort(u.v, u.n, sizeof(*u.v), cmp_u32);
	*uids = u.v;
	*n = u.n;
	return QM_OK;
}

enum qm_err qm_mail_imap_save_sent_once(struct qm_mail_imap *im,
                                        const void *msg, size_t len,
                                        const char *message_id, int *saved,
                                        struct qm_error *err)
{
	char *sent = NULL;
	uint32_t *uids = NULL;
	size_t n = 0;
	enum qm_err e;

	e = qm_mail_imap_special(im, QM_MAIL_FOLDER_SENT, &sent, err);
	if (e == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		sent = mail_strdup("Sent");
		e = sent ? QM_OK
		         : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	if (e)
		goto out;
	e = qm_mail_imap_select(im, sent, NULL, err);
	if (e == QM_OK)
		e = qm_mail_imap_search_header(im, "Message-ID", message_id,
		                               &uids, &n, err);
	else if (e == QM_ERR_PROTO && !im->broken) {
		/* no such folder yet: APPEND says what is wrong, if anything */
		qm_error_clear(err);
		e = QM_OK;
	}
	if (e)
		goto out;
	if (n == 0)
		e = qm_mail_imap_append(im, sent, msg, len, QM_MAIL_FLAG_SEEN,
		                        err);
	if (e == QM_OK)
		*saved = n == 0;
out:
	free(uids);
	free(sent);
	return e;
}

/* ------------------------------------------------------------- IDLE */

/* Reads until our tagged reply (after DONE), noting EXISTS. */
static enum qm_err finish_tagged(struct qm_mail_imap *im, struct item *it,
                                 struct qm_error *err)
{
	for (;;) {
		const char *s;
		enum qm_err e;

		if ((e = read_item(im, it, mail_io_ms(im->srv), err))) {
			im->broken = 1;
			return e;
		}
		s = (const char *)it->line.data;
		if (is_tagged(im, s)) {
			if (strncasecmp(strchr(s, ' ') + 1, "OK", 2) == 0)
				return QM_OK;
			return fail_broken(im, QM_ERR_PROTO, err,
			                   "IDLE ended with: %.300s", s);
		}
		if (strncmp(s, "* ", 2) == 0)
			note_untagged(im, s);
	}
}

static enum qm_err idle_once(struct qm_mail_imap *im, long ms, int *news,
                             struct qm_error *err)
{
	struct item it = {0};
	uint32_t before = im->exists;
	uint64_t end = qm_mono_ns() + (uint64_t)ms * 1000000u;
	enum qm_err e;
	char cmd[32];
	int n;

	*news = 0;
	im->tag++;
	n = snprintf(cmd, sizeof(cmd), "Q%u IDLE\r\n", im->tag);
	if ((e = send_all(im, cmd, (size_t)n, err)))
		return e;
	qm_buf_init(&it.line, IMAP_LINEMAX);
	if ((e = read_item(im, &it, mail_io_ms(im->srv), err))) {
		im->broken = 1;
		goto out;
	}
	if (((const char *)it.line.data)[0] != '+') {
		e = fail_broken(im, QM_ERR_PROTO, err, "IDLE refused: %.300s",
		                (const char *)it.line.data);
		goto out;
	}
	for (;;) {
		uint64_t now = qm_mono_ns();
		long left = now >= end ? 0 : (long)((end - now) / 1000000u);

		if (left <= 0 || im->woken)
			break;
		im->idle_wake = 1;
		e = read_item(im, &it, left, err);
		im->idle_wake = 0;
		if (e == QM_ERR_TIMEOUT && !im->broken) {
			qm_error_clear(err);
			break;
		}
		if (e)
			goto out;
		note_untagged(im, (const char *)it.line.data);
		if (im->exists > before) {
			*news = 1;
			break;
		}
	}
	if ((e = send_all(im, "DONE\r\n", 6, err)))
		goto out;
	e = finish_tagged(im, &it, err);
	if (e == QM_OK && im->exists > before)
		*news = 1;
out:
	qm_buf_free(&it.line);
	return e;
}

enum qm_err qm_mail_imap_wait(struct qm_mail_imap *im, long timeout_ms,
                              long poll_ms, int *news, struct qm_error *err)
{
	uint64_t end;
	uint32_t before;
	enum qm_err e;

	if ((e = need_selected(im, err)))
		return e;
	if (im->broken)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP %s: the connection was lost earlier; "
		                    "open a new session",
		                    im->srv->host);
	if (timeout_ms <= 0)
		timeout_ms = 1;
	end = qm_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	*news = 0;
	im->woken = 0;
	if (qm_mail_imap_has_cap(im, "IDLE")) {
		for (;;) {
			uint64_t now = qm_mono_ns();
			long left =
			    now >= end ? 0 : (long)((end - now) / 1000000u);
			if (left <= 0 || *news || im->woken)
				return QM_OK;
			if (left > IMAP_IDLEMAX_MS)
				left = IMAP_IDLEMAX_MS;
			if ((e = idle_once(im, left, news, err)))
				return e;
		}
	}
	/* no IDLE: poll with NOOP; the pause waits on the socket, so an
	 * unsolicited EXISTS still wakes us */
	if (poll_ms <= 0)
		poll_ms = 30000;
	before = im->exists;
	for (;;) {
		uint64_t now = qm_mono_ns();
		long left = now >= end ? 0 : (long)((end - now) / 1000000u);
		struct pollfd p[2] = {{.fd = (int)im->sock, .events = POLLIN},
		                      {.fd = im->wake_fd, .events = POLLIN}};

		if ((e = run(im, NULL, NULL, NULL, err, "NOOP")))
			return e;
		if (im->exists > before) {
			*news = 1;
			return QM_OK;
		}
		if (left <= 0 || im->woken)
			return QM_OK;
		if (poll(p, im->wake_fd >= 0 ? 2 : 1,
		         (int)(left < poll_ms ? left : poll_ms)) > 0 &&
		    im->wake_fd >= 0 && p[1].revents)
			im->woken = 1;
	}
}

void qm_mail_imap_set_wake(struct qm_mail_imap *im, int fd)
{
	im->wake_fd = fd;
}

int qm_mail_imap_woken(const struct qm_mail_imap *im)
{
	return im->woken;
}
