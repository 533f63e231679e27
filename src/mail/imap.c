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

#include <openssl/ssl.h>

#include "mail/private.h"

#define IMAP_IDLEMAX_MS                                                        \
	(25L * 60 * 1000) /* RFC 2177: re-IDLE before 29 min                   \
	                   */

enum qm_err mail_imap_fail(struct qm_mail_imap *im, enum qm_err code,
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
	struct pollfd p[2] = {
	    {.fd = (int)im->sock, .events = write ? POLLOUT : POLLIN},
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
		return mail_imap_fail(im, QM_ERR_NET, err, "poll failed: %s",
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
			return mail_imap_fail(
			    im, QM_ERR_NET, err,
			    "sending failed (%s); the connection "
			    "is lost, try again later",
			    curl_easy_strerror(rc));
		off += sent;
	}
	return QM_OK;
}

/*
 * From here on only our reader (curl_easy_recv, then a wait on the socket
 * only when it says there is nothing) reads the connection: OpenSSL may
 * read ahead of the record it decrypts. Dovecot sends records of about
 * 4 KiB, so without this each record cost two recv calls (its header, then
 * its body), most of a large sync's system calls. libcurl's own reader is
 * done (after login): it would wait on the socket with records read ahead.
 */
static void read_ahead(struct qm_mail_imap *im)
{
	if (!im->x.tls)
		return;
	im->ssl = im->x.tls;
	SSL_set_read_ahead(im->ssl, 1);
}

/* Whether bytes of the server wait in our buffer or in OpenSSL's. */
static int pending(const struct qm_mail_imap *im)
{
	return im->inoff < im->inlen || (im->ssl && SSL_has_pending(im->ssl));
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
			return mail_imap_fail(
			    im, QM_ERR_NET, err,
			    "receiving failed (%s); try again "
			    "later",
			    curl_easy_strerror(rc));
		if (got == 0)
			return mail_imap_fail(
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
			return mail_imap_fail(im, QM_ERR_TOOBIG, err,
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

/* Reads a literal of n bytes into sink, or gives it to to (or discards
 * it). */
static enum qm_err read_literal(struct qm_mail_imap *im, uint64_t n,
                                struct qm_buf *sink,
                                const struct qm_mail_sink *to,
                                struct qm_error *err)
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
		if (to &&
		    (e = to->write(to->arg, im->in + im->inoff, take, err))) {
			im->broken = 1; /* the rest of it is still coming */
			return e;
		}
		if (!to && sink &&
		    qm_buf_append(sink, im->in + im->inoff, take, NULL) !=
		        QM_OK)
			return mail_imap_fail(
			    im, QM_ERR_TOOBIG, err,
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
static enum qm_err read_item(struct qm_mail_imap *im, struct mail_imap_item *it,
                             long ms, struct qm_error *err)
{
	size_t from = 0;
	enum qm_err e;

	qm_buf_reset(&it->line);
	it->nlit = 0;
	it->litstart = it->lit ? it->lit->len : 0;
	it->sunk = 0;
	it->sunk_len = 0;
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
		if (r < 0 || n > (it->lit ? it->lit->max : MAIL_IMAP_SMALLLIT))
			return mail_imap_fail(
			    im, QM_ERR_TOOBIG, err,
			    "the server announced a literal of "
			    "%llu bytes, more than the limit of "
			    "%zu",
			    r < 0 ? ~0ULL : (unsigned long long)n,
			    it->lit ? it->lit->max : MAIL_IMAP_SMALLLIT);
		if (it->lit && im->sink && n > im->sink->big && !it->sunk) {
			/* a large message: to the sink as it arrives */
			if ((e = im->sink->begin(im->sink->arg, n, err))) {
				im->broken = 1;
				return e;
			}
			it->sunk = 1;
			it->sunk_len = n;
			e = read_literal(im, n, NULL, im->sink, err);
		} else {
			e = read_literal(im, n, it->lit, NULL, err);
		}
		if (e)
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

/* Built-in handling of untagged data every command may see: the message
 * count (new mail is EXISTS growing past what expunges left), the
 * capabilities. */
static void note_untagged(struct qm_mail_imap *im, const char *s)
{
	unsigned long v;
	char *end;

	if (strncmp(s, "* ", 2) != 0)
		return;
	if (s[2] >= '0' && s[2] <= '9') {
		v = strtoul(s + 2, &end, 10);
		if (v > 0xffffffffUL)
			return;
		if (strcasecmp(end, " EXISTS") == 0) {
			if ((uint32_t)v > im->exists)
				im->arrived += (uint32_t)v - im->exists;
			im->exists = (uint32_t)v;
		} else if (strcasecmp(end, " EXPUNGE") == 0 && im->exists) {
			im->exists--;
		}
	} else if (strncasecmp(s, "* VANISHED ", 11) == 0 &&
	           strncasecmp(s + 11, "(EARLIER)", 9) != 0) {
		/* QRESYNC's EXPUNGE (RFC 7162 3.2.10) */
		size_t k = mail_uidset_count(s + 11, im->exists);
		im->exists -= (uint32_t)k;
	} else if (strncasecmp(s, "* CAPABILITY ", 13) == 0) {
		qm_strlcpy(im->caps, s + 13, sizeof(im->caps));
	}
}

void mail_imap_cmd_init(struct mail_imap_cmd *c, const struct qm_mail_imap *im)
{
	memset(c, 0, sizeof(*c));
	qm_buf_init(&c->b, MAIL_IMAP_CMDMAX);
	c->lit_plus = im && qm_mail_imap_has_cap(im, "LITERAL+");
}

void mail_imap_cmd_free(struct mail_imap_cmd *c)
{
	qm_buf_free(&c->b);
}

static enum qm_err cmd_vadd(struct mail_imap_cmd *c, struct qm_error *err,
                            const char *fmt, va_list ap) QM_PRINTF(3, 0);

static enum qm_err cmd_vadd(struct mail_imap_cmd *c, struct qm_error *err,
                            const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return qm_error_set(err, QM_ERR_INVAL, "bad IMAP command");
	if (qm_buf_reserve(&c->b, (size_t)n, NULL) != QM_OK)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "IMAP command too long (more than %zu "
		                    "bytes)",
		                    c->b.max);
	vsnprintf((char *)c->b.data + c->b.len, (size_t)n + 1, fmt, ap);
	c->b.len += (size_t)n;
	return QM_OK;
}

enum qm_err mail_imap_cmd_add(struct mail_imap_cmd *c, struct qm_error *err,
                              const char *fmt, ...)
{
	va_list ap;
	enum qm_err e;

	va_start(ap, fmt);
	e = cmd_vadd(c, err, fmt, ap);
	va_end(ap);
	return e;
}

enum qm_err mail_imap_cmd_string(struct mail_imap_cmd *c, const char *s,
                                 struct qm_error *err)
{
	size_t n = strlen(s);
	int plain = 1;
	enum qm_err e;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\r' || ch == '\n')
			return qm_error_set(err, QM_ERR_INVAL,
			                    "an IMAP string cannot hold a line "
			                    "break");
		if (ch >= 0x80)
			plain = 0;
	}
	if (plain) {
		if ((e = mail_imap_cmd_add(c, err, "\"")))
			return e;
		for (size_t i = 0; i < n; i++)
			if ((e = mail_imap_cmd_add(
			         c, err, "%s%c",
			         s[i] == '"' || s[i] == '\\' ? "\\" : "",
			         s[i])))
				return e;
		return mail_imap_cmd_add(c, err, "\"");
	}
	/* 8-bit text (CHARSET UTF-8 searches) can only go as a literal */
	if (!c->lit_plus && c->nwait == MAIL_IMAP_MAXWAITS)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "too many IMAP literals in one command");
	if ((e = mail_imap_cmd_add(c, err, "{%zu%s}\r\n", n,
	                           c->lit_plus ? "+" : "")))
		return e;
	if (!c->lit_plus)
		c->wait[c->nwait++] = c->b.len;
	if (qm_buf_append(&c->b, s, n, NULL) != QM_OK)
		return qm_error_set(err, QM_ERR_INVAL, "IMAP command too long");
	return QM_OK;
}

/* Reads responses until the tagged completion of the current command (or,
 * with want_cont, until the server's "+" go-ahead for a literal). */
static enum qm_err read_reply(struct qm_mail_imap *im,
                              struct mail_imap_item *it,
                              mail_imap_untagged_fn fn, void *arg,
                              int want_cont, const char *cmd,
                              struct qm_error *err)
{
	enum qm_err failed = QM_OK; /* a handler's error, reported at the end */

	for (;;) {
		const char *s;
		enum qm_err e;

		if ((e = read_item(im, it, mail_io_ms(im->srv), err))) {
			im->broken = 1;
			return e;
		}
		s = (const char *)it->line.data;
		if (is_tagged(im, s)) {
			const char *st = strchr(s, ' ') + 1;
			char shown[64];
			size_t k = 0;

			if (failed)
				return failed; /* err holds the handler's words
				                */
			if (strncasecmp(st, "OK", 2) == 0) {
				if (want_cont)
					return mail_imap_fail(
					    im, QM_ERR_PROTO, err,
					    "the server completed a command "
					    "before its literal was sent: "
					    "\"%.200s\"",
					    s);
				if (im->tagged_ok) {
					qm_buf_reset(im->tagged_ok);
					/* the text's response codes are read
					 * where present; one past the buffer's
					 * bound is cut and read as absent */
					QM_IGNORE(qm_buf_append_str(
					    im->tagged_ok, st, NULL));
				}
				return QM_OK;
			}
			qm_strlcpy(im->lastreply, s, sizeof(im->lastreply));
			while (cmd[k] && cmd[k] != '\r' && k + 1 < 61) {
				shown[k] = cmd[k];
				k++;
			}
			shown[k] = '\0';
			return qm_error_set(err, QM_ERR_PROTO,
			                    "IMAP %s refused \"%s\": %.300s",
			                    im->srv->host, shown, st);
		}
		if (strncmp(s, "* ", 2) == 0) {
			note_untagged(im, s);
			if (strncasecmp(s, "* BYE", 5) == 0)
				return mail_imap_fail(
				    im, QM_ERR_NET, err,
				    "the server closed the session: "
				    "%.300s",
				    s);
			/* after a handler fails, the rest of the reply is
			 * still read, so the session stays in step */
			if (fn && !failed &&
			    (e = fn(im, s, it->line.len, it, arg, err))) {
				if (im->broken)
					return e;
				failed = e;
			}
			continue;
		}
		if (s[0] == '+') {
			if (failed) {
				/* a literal we will not send: give up */
				im->broken = 1;
				return failed;
			}
			if (want_cont)
				return QM_OK;
			continue;
		}
		return mail_imap_fail(im, QM_ERR_PROTO, err,
		                      "the server sent a malformed reply line: "
		                      "\"%.80s\"",
		                      s);
	}
}

enum qm_err mail_imap_exec(struct qm_mail_imap *im,
                           const struct mail_imap_cmd *c, struct qm_buf *lit,
                           mail_imap_untagged_fn fn, void *arg,
                           struct qm_error *err)
{
	struct mail_imap_item it = {.lit = lit};
	const char *cmd = c->b.data ? (const char *)c->b.data : "";
	struct qm_buf out;
	size_t off = 0, tn;
	enum qm_err e;

	if (im->broken)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP %s: the connection was lost earlier; "
		                    "open a new session",
		                    im->srv->host);
	if (!c->b.len)
		return qm_error_set(err, QM_ERR_INVAL, "empty IMAP command");
	/* tag, command and CRLF in one buffer: one send per part, or
	 * Nagle's algorithm holds the second piece for the first's ACK */
	im->tag++;
	qm_buf_init(&out, c->b.len + 32);
	if ((e = qm_buf_appendf(&out, err, "Q%u ", im->tag)) ||
	    (e = qm_buf_append(&out, c->b.data, c->b.len, err)) ||
	    (e = qm_buf_append(&out, "\r\n", 2, err))) {
		qm_buf_free(&out);
		return e;
	}
	tn = out.len - c->b.len - 2;
	qm_buf_init(&it.line, MAIL_IMAP_LINEMAX);
	for (size_t w = 0;; w++) {
		size_t to = w < c->nwait ? tn + c->wait[w] : out.len;

		if ((e = send_all(im, out.data + off, to - off, err)))
			goto out;
		off = to;
		if (w == c->nwait)
			break;
		/* a synchronizing literal: wait for the go-ahead */
		if ((e = read_reply(im, &it, fn, arg, 1, cmd, err)))
			goto out;
	}
	e = read_reply(im, &it, fn, arg, 0, cmd, err);
out:
	qm_buf_free(&it.line);
	qm_buf_free(&out);
	return e;
}

enum qm_err mail_imap_run(struct qm_mail_imap *im, struct qm_buf *lit,
                          mail_imap_untagged_fn fn, void *arg,
                          struct qm_error *err, const char *fmt, ...)
{
	struct mail_imap_cmd c;
	va_list ap;
	enum qm_err e;

	mail_imap_cmd_init(&c, NULL);
	va_start(ap, fmt);
	e = cmd_vadd(&c, err, fmt, ap);
	va_end(ap);
	if (e == QM_OK)
		e = mail_imap_exec(im, &c, lit, fn, arg, err);
	mail_imap_cmd_free(&c);
	return e;
}

enum qm_err mail_imap_run_many(struct qm_mail_imap *im, const char *const *cmds,
                               size_t n, struct qm_buf *lit,
                               mail_imap_untagged_fn fn, void *arg,
                               enum qm_err *res, struct qm_error *err)
{
	struct mail_imap_item it = {.lit = lit};
	struct qm_buf out;
	size_t total = 0;
	unsigned first = im->tag + 1;
	enum qm_err e = QM_OK;

	if (im->broken)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP %s: the connection was lost earlier; "
		                    "open a new session",
		                    im->srv->host);
	for (size_t i = 0; i < n; i++) {
		if (!cmds[i][0] || strpbrk(cmds[i], "\r\n"))
			return qm_error_set(err, QM_ERR_INVAL,
			                    "empty IMAP command or one with a "
			                    "line break");
		total += strlen(cmds[i]) + 16;
	}
	if (!n)
		return QM_OK;
	qm_buf_init(&out, total);
	for (size_t i = 0; i < n && !e; i++)
		e = qm_buf_appendf(&out, err, "Q%u %s\r\n", first + (unsigned)i,
		                   cmds[i]);
	if (!e)
		e = send_all(im, out.data, out.len, err);
	qm_buf_free(&out);
	if (e) {
		im->broken = 1;
		return e;
	}
	qm_buf_init(&it.line, MAIL_IMAP_LINEMAX);
	for (size_t i = 0; i < n; i++) {
		im->tag = first + (unsigned)i;
		res[i] = read_reply(im, &it, fn, arg, 0, cmds[i], err);
		if (res[i] == QM_ERR_PROTO && !im->broken) {
			qm_error_clear(err); /* refused: the next one */
			continue;
		}
		if (res[i]) {
			/* the later replies are not read: out of step */
			e = res[i];
			im->broken = 1;
			break;
		}
	}
	im->tag = first + (unsigned)n - 1;
	qm_buf_free(&it.line);
	return e;
}

enum qm_err mail_imap_quote(const char *name, char *out, size_t outlen,
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

enum qm_err mail_imap_need_selected(struct qm_mail_imap *im,
                                    struct qm_error *err)
{
	if (im->uidvalidity == 0)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP: select a folder first");
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
		int again = mail_reauth(im->h, srv, &im->x, rc, &e, err);

		if (again < 0)
			goto fail;
		if (again)
			rc = curl_easy_perform(im->h);
	}
	if (rc != CURLE_OK) {
		e = mail_curl_fail(im->h, rc, &im->x, "IMAP login", err);
		goto fail;
	}
	/* stop capturing: what follows goes through our own reader */
	curl_easy_setopt(im->h, CURLOPT_VERBOSE, 0L);
	read_ahead(im);
	if (curl_easy_getinfo(im->h, CURLINFO_ACTIVESOCKET, &im->sock) !=
	        CURLE_OK ||
	    im->sock == CURL_SOCKET_BAD) {
		e = qm_error_set(err, QM_ERR_NET, "IMAP: no connection");
		goto fail;
	}
	if ((e = mail_imap_run(im, NULL, NULL, NULL, err, "CAPABILITY")))
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

/* Whether the space-separated list holds word (case-insensitive). */
static int word_in(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	if (!n)
		return 0;
	while ((p = strcasestr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

int qm_mail_imap_has_cap(const struct qm_mail_imap *im, const char *cap)
{
	return word_in(im->caps, cap) && !word_in(im->ignored, cap);
}

enum qm_err qm_mail_imap_cap_ignore(struct qm_mail_imap *im, const char *cap,
                                    struct qm_error *err)
{
	size_t have = strlen(im->ignored), n = cap ? strlen(cap) : 0;

	if (!n || strchr(cap, ' '))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "no capability name given");
	if (have + n + 2 > sizeof(im->ignored))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "too many capabilities ignored");
	if (have)
		im->ignored[have++] = ' ';
	memcpy(im->ignored + have, cap, n + 1);
	return QM_OK;
}

char *mail_imap_astring(const char **pp, const struct mail_imap_item *it)
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
	} else if (*p == '{' && it && it->lit && it->nlit) {
		/* "{0}" leaves no literal bytes (and lit->data may be NULL) */
		if (it->lit->len > it->litstart)
			/* past the limit the name is cut, as a quoted one
			 * is above */
			QM_IGNORE(
			    qm_buf_append(&b, it->lit->data + it->litstart,
			                  it->lit->len - it->litstart, NULL));
		/* past the "{N}" marker */
		while (*p && *p != '}')
			p++;
		if (*p == '}')
			p++;
	} else {
		while (*p && *p != ' ' && *p != ')' && *p != '(')
			if (qm_buf_append_byte(&b, (unsigned char)*p++, NULL))
				break;
	}
	*pp = p;
	r = mail_strndup(b.data ? (char *)b.data : "", b.len);
	qm_buf_free(&b);
	return r;
}

/* The flags and keywords we know, as written on the wire. */
static const struct {
	const char *name;
	unsigned flag;
} flag_names[] = {{"\\Seen", QM_MAIL_FLAG_SEEN},
                  {"\\Answered", QM_MAIL_FLAG_ANSWERED},
                  {"\\Flagged", QM_MAIL_FLAG_FLAGGED},
                  {"\\Deleted", QM_MAIL_FLAG_DELETED},
                  {"\\Draft", QM_MAIL_FLAG_DRAFT},
                  {"$Forwarded", QM_MAIL_FLAG_FORWARDED},
                  {"$Junk", QM_MAIL_FLAG_JUNK},
                  {"$NotJunk", QM_MAIL_FLAG_NOTJUNK},
                  /* Thunderbird's older names: read, never written */
                  {"Junk", QM_MAIL_FLAG_JUNK},
                  {"NonJunk", QM_MAIL_FLAG_NOTJUNK}};

unsigned mail_imap_flag_list(const char *p, int *star)
{
	unsigned r = 0;

	if (star)
		*star = 0;
	if (!p || *p != '(')
		return 0;
	for (p++; *p && *p != ')';) {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " )");
		if (n == 2 && strncmp(p, "\\*", 2) == 0 && star)
			*star = 1;
		for (size_t i = 0; i < sizeof(flag_names) / sizeof(*flag_names);
		     i++)
			if (strlen(flag_names[i].name) == n &&
			    strncasecmp(p, flag_names[i].name, n) == 0)
				r |= flag_names[i].flag;
		p += n;
	}
	return r;
}

unsigned mail_imap_fetch_flags(const char *s)
{
	const char *p = s;

	while ((p = strcasestr(p, "FLAGS (")) != NULL) {
		if (p > s && (p[-1] == ' ' || p[-1] == '('))
			return mail_imap_flag_list(p + 6, NULL);
		p += 7;
	}
	return 0;
}

/* The wire name of one flag bit ("\\Seen"). */
static const char *flag_wire(unsigned bit)
{
	for (size_t i = 0; i < sizeof(flag_names) / sizeof(*flag_names); i++)
		if (flag_names[i].flag == bit)
			return flag_names[i].name;
	return NULL;
}

uint32_t mail_imap_fetch_uid(const char *s)
{
	const char *p = strchr(s + 2, ' ');
	unsigned long v;

	if (!p || strncasecmp(p, " FETCH (", 8) != 0)
		return 0;
	p = strcasestr(p, "UID ");
	while (p && p[-1] != '(' && p[-1] != ' ')
		p = strcasestr(p + 4, "UID ");
	if (!p)
		return 0;
	v = strtoul(p + 4, NULL, 10);
	return v > 0xffffffffUL ? 0 : (uint32_t)v;
}

uint32_t mail_imap_code(const char *s, const char *code)
{
	uint64_t v = mail_imap_code64(s, code);

	return v > 0xffffffffu ? 0 : (uint32_t)v;
}

uint64_t mail_imap_code64(const char *s, const char *code)
{
	const char *p = strcasestr(s, code);
	unsigned long long v;
	char *end;

	if (!p)
		return 0;
	p += strlen(code);
	if (*p < '0' || *p > '9')
		return 0;
	errno = 0;
	v = strtoull(p, &end, 10);
	/* RFC 7162: mod-sequences are below 2^63 */
	if (errno || v > INT64_MAX)
		return 0;
	return (uint64_t)v;
}

/* ------------------------------------------------------------ FETCH */

struct fetch_ctx {
	uint32_t uid;
	int found;
	size_t lit_from, lit_to; /* the wanted message's literal bytes */
	int sunk;                /* or it went to im->sink */
	unsigned flags;
	uint32_t size;
	struct qm_mail_uid_flags *all;
	size_t n, cap;
};

static enum qm_err on_fetch(struct qm_mail_imap *im, const char *s, size_t n,
                            struct mail_imap_item *it, void *arg,
                            struct qm_error *err)
{
	struct fetch_ctx *c = arg;
	uint32_t uid = mail_imap_fetch_uid(s);

	(void)im;
	(void)n;
	(void)err;
	if (uid == 0 || uid != c->uid)
		return QM_OK;
	/* a server may split the data over several FETCH responses */
	if (strcasestr(s, "FLAGS ("))
		c->flags = mail_imap_fetch_flags(s);
	if (strcasestr(s, "RFC822.SIZE "))
		c->size = mail_imap_code(s, "RFC822.SIZE ");
	if (it->lit && it->nlit) {
		c->found = 1;
		c->sunk = it->sunk;
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

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	qm_buf_init(&b, out->max ? out->max : MAIL_IMAP_SMALLLIT);
	e = mail_imap_run(
	    im, &b, on_fetch, &c, err,
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
                           struct mail_imap_item *it, void *arg,
                           struct qm_error *err)
{
	struct many_ctx *c = arg;
	uint32_t uid = mail_imap_fetch_uid(s);
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
	if (c->fn(c->arg, uid, mail_imap_fetch_flags(s),
	          mail_imap_code(s, "RFC822.SIZE "), hdr, len))
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

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if (!fn || (n && !uids))
		return qm_error_set(err, QM_ERR_INVAL, "nothing to fetch");
	qm_buf_init(&lit, MAIL_IMAP_SMALLLIT);
	qm_buf_init(&set, 4096);
	for (size_t i = 0; i < n && e == QM_OK && !c.stopped; i += 128) {
		size_t end = n - i > 128 ? i + 128 : n;
		qm_buf_reset(&set);
		for (size_t j = i; j < end && e == QM_OK; j++)
			e = qm_buf_appendf(&set, err, "%s%u", j > i ? "," : "",
			                   (unsigned)uids[j]);
		if (e == QM_OK)
			e = mail_imap_run(im, &lit, on_many, &c, err,
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

struct many_msg_ctx {
	qm_mail_msg_fn fn;
	void *arg;
	int stopped;
};

static enum qm_err on_many_msg(struct qm_mail_imap *im, const char *s, size_t n,
                               struct mail_imap_item *it, void *arg,
                               struct qm_error *err)
{
	struct many_msg_ctx *c = arg;
	uint32_t uid = mail_imap_fetch_uid(s);

	(void)im;
	(void)n;
	(void)err;
	if (uid == 0 || !it->lit || !it->nlit || c->stopped)
		return QM_OK;
	if (it->sunk) /* whole now, in the sink */
		c->stopped = c->fn(c->arg, uid, NULL, (size_t)it->sunk_len);
	else if (c->fn(c->arg, uid,
	               it->lit->data ? it->lit->data + it->litstart
	                             : (const unsigned char *)"",
	               it->lit->len - it->litstart))
		c->stopped = 1;
	/* the next response starts with an empty sink: one message held */
	qm_buf_reset(it->lit);
	return QM_OK;
}

enum qm_err qm_mail_imap_fetch_many(struct qm_mail_imap *im,
                                    const uint32_t *uids, size_t n,
                                    qm_mail_msg_fn fn, void *arg,
                                    struct qm_error *err)
{
	return qm_mail_imap_fetch_many_to(im, uids, n, NULL, fn, arg, err);
}

enum qm_err qm_mail_imap_fetch_many_to(struct qm_mail_imap *im,
                                       const uint32_t *uids, size_t n,
                                       const struct qm_mail_sink *sink,
                                       qm_mail_msg_fn fn, void *arg,
                                       struct qm_error *err)
{
	struct many_msg_ctx c = {fn, arg, 0};
	struct qm_buf lit, set;
	enum qm_err e;

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if (!fn || (n && !uids))
		return qm_error_set(err, QM_ERR_INVAL, "nothing to fetch");
	qm_buf_init(&lit, mail_max_message(im->srv));
	qm_buf_init(&set, 1024);
	for (size_t i = 0; i < n && e == QM_OK && !c.stopped; i += 64) {
		size_t end = n - i > 64 ? i + 64 : n;

		qm_buf_reset(&set);
		for (size_t j = i; j < end && e == QM_OK; j++)
			e = qm_buf_appendf(&set, err, "%s%u", j > i ? "," : "",
			                   (unsigned)uids[j]);
		if (e == QM_OK) {
			im->sink = sink;
			e = mail_imap_run(im, &lit, on_many_msg, &c, err,
			                  "UID FETCH %s (UID BODY.PEEK[])",
			                  (const char *)set.data);
			im->sink = NULL;
		}
	}
	qm_buf_free(&lit);
	qm_buf_free(&set);
	if (e == QM_OK && c.stopped)
		e = qm_error_set(err, QM_ERR_STATE,
		                 "IMAP: message fetch stopped by the caller");
	return e;
}

enum qm_err qm_mail_imap_fetch(struct qm_mail_imap *im, uint32_t uid,
                               struct qm_buf *out, struct qm_error *err)
{
	int sunk = 0;

	return qm_mail_imap_fetch_to(im, uid, NULL, out, &sunk, err);
}

enum qm_err qm_mail_imap_fetch_to(struct qm_mail_imap *im, uint32_t uid,
                                  const struct qm_mail_sink *sink,
                                  struct qm_buf *out, int *sunk,
                                  struct qm_error *err)
{
	struct fetch_ctx c = {.uid = uid};
	struct qm_buf b;
	enum qm_err e;

	*sunk = 0;
	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if (out->secure)
		qm_buf_init_secure(&b, mail_max_message(im->srv));
	else
		qm_buf_init(&b, mail_max_message(im->srv));
	im->sink = sink;
	e = mail_imap_run(im, &b, on_fetch, &c, err,
	                  "UID FETCH %u (UID BODY.PEEK[])", (unsigned)uid);
	im->sink = NULL;
	if (e == QM_OK && !c.found)
		e = qm_error_set(err, QM_ERR_NOTFOUND,
		                 "IMAP: message UID %u is gone", (unsigned)uid);
	if (e == QM_OK && c.sunk)
		*sunk = 1;
	else if (e == QM_OK && c.lit_to > c.lit_from)
		e = qm_buf_append(out, b.data + c.lit_from,
		                  c.lit_to - c.lit_from, err);
	qm_buf_free(&b);
	return e;
}

static enum qm_err on_flags(struct qm_mail_imap *im, const char *s, size_t n,
                            struct mail_imap_item *it, void *arg,
                            struct qm_error *err)
{
	struct fetch_ctx *c = arg;
	uint32_t uid = mail_imap_fetch_uid(s);

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
	c->all[c->n].flags = mail_imap_fetch_flags(s);
	c->n++;
	return QM_OK;
}

enum qm_err qm_mail_imap_flags_all(struct qm_mail_imap *im,
                                   struct qm_mail_uid_flags **out, size_t *n,
                                   struct qm_error *err)
{
	struct fetch_ctx c = {0};
	enum qm_err e;

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if (im->exists == 0) {
		*out = NULL;
		*n = 0;
		return QM_OK;
	}
	if ((e = mail_imap_run(im, NULL, on_flags, &c, err,
	                       "UID FETCH 1:* (UID FLAGS)"))) {
		free(c.all);
		return e;
	}
	*out = c.all;
	*n = c.n;
	return QM_OK;
}

/* "\Seen \Flagged $Forwarded" for flags into out. */
static void flag_list(unsigned flags, char *out, size_t outlen)
{
	size_t j = 0;

	out[0] = '\0';
	for (unsigned bit = 1; bit <= QM_MAIL_FLAG_NOTJUNK; bit <<= 1) {
		const char *w = (flags & bit) ? flag_wire(bit) : NULL;
		int k;

		if (!w)
			continue;
		k = snprintf(out + j, outlen - j, "%s%s", j ? " " : "", w);
		if (k < 0 || (size_t)k >= outlen - j)
			break;
		j += (size_t)k;
	}
}

enum qm_err qm_mail_imap_flags_set(struct qm_mail_imap *im, uint32_t uid,
                                   unsigned flags, int op, struct qm_error *err)
{
	char fl[80];
	enum qm_err e;

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	flag_list(flags, fl, sizeof(fl));
	return mail_imap_run(im, NULL, NULL, NULL, err,
	                     "UID STORE %u %sFLAGS.SILENT (%s)", (unsigned)uid,
	                     op > 0   ? "+"
	                     : op < 0 ? "-"
	                              : "",
	                     fl);
}

enum qm_err qm_mail_imap_delete(struct qm_mail_imap *im, uint32_t uid,
                                struct qm_error *err)
{
	return qm_mail_imap_expunge_uids(im, &uid, 1, err);
}

enum qm_err qm_mail_imap_move(struct qm_mail_imap *im, uint32_t uid,
                              const char *folder, struct qm_error *err)
{
	return qm_mail_imap_move_uids(im, &uid, 1, folder, NULL, err);
}

/* ----------------------------------------------------------- APPEND */

/* A message in memory as an APPEND source. */
struct append_mem {
	const unsigned char *p;
	size_t len, off;
};

static enum qm_err append_mem_read(void *arg, void *buf, size_t want,
                                   size_t *got, struct qm_error *err)
{
	struct append_mem *m = arg;
	size_t n = m->len - m->off < want ? m->len - m->off : want;

	(void)err;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	*got = n;
	return QM_OK;
}

enum qm_err qm_mail_imap_append(struct qm_mail_imap *im, const char *folder,
                                const void *msg, size_t len, unsigned flags,
                                struct qm_error *err)
{
	struct append_mem m = {msg, len, 0};
	struct qm_mail_source src = {append_mem_read, NULL, &m, len};

	return qm_mail_imap_append_from(im, folder, &src, flags, err);
}

/* An APPEND under way (qm_mail_imap_append_begin). */
struct qm_mail_imap_append_w {
	struct qm_mail_imap *im;
	char folder[MAIL_IMAP_NAMEMAX + 1];
	uint64_t len, off;
};

enum qm_err qm_mail_imap_append_begin(struct qm_mail_imap *im,
                                      const char *folder, uint64_t len,
                                      unsigned flags,
                                      struct qm_mail_imap_append_w **out,
                                      struct qm_error *err)
{
	char q[1024], fl[80], cmd[1200];
	struct mail_imap_item it = {0};
	struct qm_mail_imap_append_w *aw;
	int plus = qm_mail_imap_has_cap(im, "LITERAL+"), n;
	enum qm_err e;

	*out = NULL;
	if (im->broken)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP %s: the connection was lost earlier; "
		                    "open a new session",
		                    im->srv->host);
	if ((e = mail_imap_quote(folder, q, sizeof(q), err)))
		return e;
	aw = calloc(1, sizeof(*aw));
	if (!aw)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	aw->im = im;
	aw->len = len;
	qm_strlcpy(aw->folder, folder, sizeof(aw->folder));
	flag_list(flags, fl, sizeof(fl));
	im->tag++;
	n = snprintf(cmd, sizeof(cmd), "Q%u APPEND %s (%s) {%llu%s}\r\n",
	             im->tag, q, fl, (unsigned long long)len, plus ? "+" : "");
	if (n < 0 || (size_t)n >= sizeof(cmd)) {
		free(aw);
		return qm_error_set(err, QM_ERR_INVAL, "folder name too long");
	}
	e = send_all(im, cmd, (size_t)n, err);
	if (!e && !plus) {
		/* wait for the go-ahead; a refusal comes tagged */
		qm_buf_init(&it.line, MAIL_IMAP_LINEMAX);
		e = read_item(im, &it, mail_io_ms(im->srv), err);
		if (!e && ((const char *)it.line.data)[0] != '+')
			e = mail_imap_fail(im, QM_ERR_PROTO, err,
			                   "APPEND refused: %.300s",
			                   (const char *)it.line.data);
		qm_buf_free(&it.line);
	}
	if (e) {
		free(aw);
		return e;
	}
	*out = aw;
	return QM_OK;
}

enum qm_err qm_mail_imap_append_write(void *arg, const void *p, size_t n,
                                      struct qm_error *err)
{
	struct qm_mail_imap_append_w *aw = arg;
	struct qm_mail_imap *im = aw->im;
	enum qm_err e;

	/* the literal announced its length: a writer that gives more (or,
	 * at the end, fewer) bytes leaves the connection unusable, and the
	 * command is never ended, so the server stores nothing */
	if (n > aw->len - aw->off) {
		im->broken = 1;
		return qm_error_set(err, QM_ERR_IO,
		                    "the message to append is longer than the "
		                    "%llu bytes announced",
		                    (unsigned long long)aw->len);
	}
	if ((e = send_all(im, p, n, err))) {
		im->broken = 1;
		return e;
	}
	aw->off += n;
	if (n && im->srv->progress)
		im->srv->progress(im->srv->progress_arg, (size_t)aw->off,
		                  (size_t)aw->len);
	return QM_OK;
}

void qm_mail_imap_append_abort(struct qm_mail_imap_append_w **awp)
{
	if (!*awp)
		return;
	/* the literal is unfinished or the command unended: the session
	 * cannot go on */
	(*awp)->im->broken = 1;
	free(*awp);
	*awp = NULL;
}

enum qm_err qm_mail_imap_append_end(struct qm_mail_imap_append_w **awp,
                                    struct qm_error *err)
{
	struct qm_mail_imap_append_w *aw = *awp;
	struct qm_mail_imap *im = aw->im;
	struct mail_imap_item it = {0};
	enum qm_err e;

	if (aw->off != aw->len) {
		e = qm_error_set(err, QM_ERR_IO,
		                 "the message to append ended after %llu "
		                 "of %llu bytes",
		                 (unsigned long long)aw->off,
		                 (unsigned long long)aw->len);
		qm_mail_imap_append_abort(awp);
		return e;
	}
	if ((e = send_all(im, "\r\n", 2, err))) {
		qm_mail_imap_append_abort(awp);
		return e;
	}
	qm_buf_init(&it.line, MAIL_IMAP_LINEMAX);
	for (;;) {
		const char *s;
		if ((e = read_item(im, &it, mail_io_ms(im->srv), err)))
			break;
		s = (const char *)it.line.data;
		if (is_tagged(im, s)) {
			const char *st = strchr(s, ' ') + 1;
			e = strncasecmp(st, "OK", 2) == 0
			        ? QM_OK
			        : qm_error_set(err, QM_ERR_PROTO,
			                       "IMAP %s refused APPEND to %s: "
			                       "%.300s",
			                       im->srv->host, aw->folder, st);
			break;
		}
		if (strncmp(s, "* ", 2) == 0)
			note_untagged(im, s);
	}
	qm_buf_free(&it.line);
	free(aw);
	*awp = NULL;
	return e;
}

enum qm_err qm_mail_imap_append_from(struct qm_mail_imap *im,
                                     const char *folder,
                                     const struct qm_mail_source *src,
                                     unsigned flags, struct qm_error *err)
{
	struct qm_mail_imap_append_w *aw = NULL;
	unsigned char *buf = NULL;
	enum qm_err e;

	if (!src || !src->read)
		return qm_error_set(err, QM_ERR_INVAL, "nothing to append");
	buf = malloc(65536);
	if (!buf)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	e = qm_mail_imap_append_begin(im, folder, src->len, flags, &aw, err);
	while (!e && aw->off < aw->len) {
		uint64_t left = aw->len - aw->off;
		size_t chunk = left > 65536 ? 65536 : (size_t)left, got = 0;

		/* a source that fails or ends early leaves the connection
		 * unusable (the literal announced its length) */
		e = src->read(src->arg, buf, chunk, &got, err);
		if (!e && got == 0)
			e = qm_error_set(
			    err, QM_ERR_IO,
			    "the message to append ended after %llu of %llu "
			    "bytes",
			    (unsigned long long)aw->off,
			    (unsigned long long)aw->len);
		if (!e)
			e = qm_mail_imap_append_write(aw, buf, got, err);
	}
	if (!e)
		e = qm_mail_imap_append_end(&aw, err);
	qm_mail_imap_append_abort(&aw);
	free(buf);
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

/* A header name fit for UID SEARCH HEADER, and a value of printable ASCII
 * (no CHARSET needed). */
static enum qm_err header_crit_ok(const char *field, const char *value,
                                  struct qm_error *err)
{
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
	for (const unsigned char *ch = (const unsigned char *)value; *ch; ch++)
		if (*ch < 0x20 || *ch > 0x7e)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "IMAP SEARCH: the %s value holds a "
			                    "byte that is not printable ASCII",
			                    field);
	return QM_OK;
}

enum qm_err qm_mail_imap_search_headers(struct qm_mail_imap *im,
                                        const struct qm_mail_imap_hcrit *h,
                                        size_t nh, uint32_t **uids, size_t *n,
                                        struct qm_error *err)
{
	struct mail_imap_cmd c;
	struct mail_uidv u = {0};
	enum qm_err e;

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if (nh == 0 || nh > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "IMAP SEARCH: 1 to 4 header criteria");
	for (size_t i = 0; i < nh; i++)
		if ((e = header_crit_ok(h[i].field, h[i].value, err)))
			return e;
	mail_imap_search_begin(im, &c);
	for (size_t i = 0; i < nh && !e; i++) {
		e = mail_imap_cmd_add(&c, err, "%s%sHEADER %s ", i ? " " : "",
		                      h[i].not ? "NOT " : "", h[i].field);
		if (!e)
			e = mail_imap_cmd_string(&c, h[i].value, err);
	}
	if (!e)
		e = mail_imap_search_exec(im, &c, &u, err);
	mail_imap_cmd_free(&c);
	if (e)
		return e;
	*uids = u.v;
	*n = u.n;
	return QM_OK;
}

enum qm_err qm_mail_imap_search_header(struct qm_mail_imap *im,
                                       const char *field, const char *value,
                                       uint32_t **uids, size_t *n,
                                       struct qm_error *err)
{
	struct qm_mail_imap_hcrit h = {field, value, 0};

	return qm_mail_imap_search_headers(im, &h, 1, uids, n, err);
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
static enum qm_err finish_tagged(struct qm_mail_imap *im,
                                 struct mail_imap_item *it,
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
			return mail_imap_fail(im, QM_ERR_PROTO, err,
			                      "IDLE ended with: %.300s", s);
		}
		if (strncmp(s, "* ", 2) == 0)
			note_untagged(im, s);
	}
}

static enum qm_err idle_once(struct qm_mail_imap *im, long ms, int *news,
                             struct qm_error *err)
{
	struct mail_imap_item it = {0};
	uint32_t before = im->arrived;
	uint64_t end = qm_mono_ns() + (uint64_t)ms * 1000000u;
	enum qm_err e;
	char cmd[32];
	int n;

	*news = 0;
	im->tag++;
	n = snprintf(cmd, sizeof(cmd), "Q%u IDLE\r\n", im->tag);
	if ((e = send_all(im, cmd, (size_t)n, err)))
		return e;
	qm_buf_init(&it.line, MAIL_IMAP_LINEMAX);
	if ((e = read_item(im, &it, mail_io_ms(im->srv), err))) {
		im->broken = 1;
		goto out;
	}
	if (((const char *)it.line.data)[0] != '+') {
		e = mail_imap_fail(im, QM_ERR_PROTO, err,
		                   "IDLE refused: %.300s",
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
		if (im->arrived != before) {
			*news = 1;
			break;
		}
	}
	if ((e = send_all(im, "DONE\r\n", 6, err)))
		goto out;
	e = finish_tagged(im, &it, err);
	if (e == QM_OK && im->arrived != before)
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

	if ((e = mail_imap_need_selected(im, err)))
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
	before = im->arrived;
	for (;;) {
		uint64_t now = qm_mono_ns();
		long left = now >= end ? 0 : (long)((end - now) / 1000000u);
		struct pollfd p[2] = {{.fd = (int)im->sock, .events = POLLIN},
		                      {.fd = im->wake_fd, .events = POLLIN}};

		if ((e = mail_imap_run(im, NULL, NULL, NULL, err, "NOOP")))
			return e;
		if (im->arrived != before) {
			*news = 1;
			return QM_OK;
		}
		if (left <= 0 || im->woken)
			return QM_OK;
		if (pending(im))
			continue; /* read ahead: the socket may stay quiet */
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

int qm_mail_imap_broken(const struct qm_mail_imap *im)
{
	return !im || im->broken;
}
