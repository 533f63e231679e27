/* SPDX-License-Identifier: MIT */
/*
 * SMTP submission over libcurl: implicit TLS or required STARTTLS, SASL
 * PLAIN/LOGIN or an OAuth2 bearer token, several envelope recipients (Bcc
 * only here, never in the headers). A refusal is reported with the server's
 * reply verbatim.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/private.h"

struct upload {
	const struct qm_mail_source *src;
	uint64_t off;
	enum qm_err rc; /* the source's error, which stopped the upload */
	struct qm_error err;
};

static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upload *u = arg;
	size_t n = size * nitems, got = 0;

	if (n > u->src->len - u->off)
		n = (size_t)(u->src->len - u->off);
	if (n == 0) {
		/* the end: the source must be at its end too */
		char probe;

		u->rc = u->src->read(u->src->arg, &probe, 1, &got, &u->err);
		if (!u->rc && got)
			u->rc = qm_error_set(&u->err, QM_ERR_IO,
			                     "the message is longer than the "
			                     "%llu bytes announced",
			                     (unsigned long long)u->src->len);
		return u->rc ? CURL_READFUNC_ABORT : 0;
	}
	while (got < n) {
		size_t k = 0;

		u->rc =
		    u->src->read(u->src->arg, buf + got, n - got, &k, &u->err);
		if (!u->rc && k == 0)
			u->rc = qm_error_set(&u->err, QM_ERR_IO,
			                     "the message ended after %llu of "
			                     "%llu bytes",
			                     (unsigned long long)(u->off + got),
			                     (unsigned long long)u->src->len);
		if (u->rc)
			return CURL_READFUNC_ABORT;
		got += k;
	}
	u->off += got;
	return got;
}

/* A message in memory as a source. */
struct memsrc {
	const unsigned char *p;
	size_t len, off;
};

static enum qm_err mem_read(void *arg, void *buf, size_t want, size_t *got,
                            struct qm_error *err)
{
	struct memsrc *m = arg;
	size_t n = m->len - m->off < want ? m->len - m->off : want;

	(void)err;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	*got = n;
	return QM_OK;
}

static enum qm_err mem_rewind(void *arg, struct qm_error *err)
{
	(void)err;
	((struct memsrc *)arg)->off = 0;
	return QM_OK;
}

/* An address for MAIL FROM / RCPT TO: bare, within limits, no CR/LF or
 * angle brackets that could inject commands. */
static int addr_ok(const char *a)
{
	size_t n = a ? strlen(a) : 0;

	if (n == 0 || n > 320 || !strchr(a, '@'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)a[i] <= 0x20 || a[i] == '<' || a[i] == '>' ||
		    a[i] == 0x7f)
			return 0;
	return 1;
}

enum qm_err qm_mail_smtp_send(const struct qm_mail_server *srv,
                              const char *from, const char *const *rcpts,
                              size_t nrcpt, const void *msg, size_t len,
                              struct qm_error *err)
{
	struct memsrc m = {msg, len, 0};
	struct qm_mail_source src = {mem_read, mem_rewind, &m, len};

	if (!msg)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "sending mail needs a message and at least "
		                    "one recipient");
	return qm_mail_smtp_send_from(srv, from, rcpts, nrcpt, &src, err);
}

enum qm_err qm_mail_smtp_send_from(const struct qm_mail_server *srv,
                                   const char *from, const char *const *rcpts,
                                   size_t nrcpt,
                                   const struct qm_mail_source *src,
                                   struct qm_error *err)
{
	struct mail_xfer *x = NULL;
	struct curl_slist *list = NULL;
	struct upload up;
	CURL *h = NULL;
	CURLcode rc;
	enum qm_err e;

	memset(&up, 0, sizeof(up));
	up.src = src;
	if (!srv || !src || !src->read || !src->len || !rcpts || nrcpt == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "sending mail needs a message and at least "
		                    "one recipient");
	if (!addr_ok(from))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the sender address \"%s\" is not valid",
		                    from ? from : "");
	if ((e = qm_mail_init(err)) != QM_OK)
		return e;
	x = calloc(1, sizeof(*x));
	h = curl_easy_init();
	if (!x || !h) {
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nrcpt; i++) {
		struct curl_slist *t;
		if (!addr_ok(rcpts[i])) {
			e = qm_error_set(err, QM_ERR_INVAL,
			                 "the recipient address \"%s\" is not "
			                 "valid",
			                 rcpts[i] ? rcpts[i] : "");
			goto out;
		}
		if (!(t = curl_slist_append(list, rcpts[i]))) {
			e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		list = t;
	}
	if ((e = mail_curl_setup(h, srv, MAIL_SMTP, "", x, err)) != QM_OK)
		goto out;
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, list);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)src->len);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &up);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK && !up.rc) {
		int again = mail_reauth(h, srv, x, rc, &e, err);

		if (again < 0)
			goto out;
		if (again && up.off && !src->rewind)
			again = 0; /* cannot start the message again */
		if (again && up.off)
			up.rc = src->rewind(src->arg, &up.err);
		if (again && !up.rc) {
			up.off = 0;
			rc = curl_easy_perform(h);
		}
	}
	if (up.rc) {
		/* the source failed: its reason, not libcurl's "aborted" */
		e = up.rc;
		if (err)
			*err = up.err;
		goto out;
	}
	if (rc != CURLE_OK) {
		e = mail_curl_fail(h, rc, x, "sending mail", err);
		goto out;
	}
	e = QM_OK;
out:
	curl_slist_free_all(list);
	if (h)
		curl_easy_cleanup(h);
	free(x);
	return e;
}
