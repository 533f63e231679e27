/* SPDX-License-Identifier: MIT */
/*
 * IMAP folder names: modified UTF-7 (RFC 3501 section 5.1.3) to UTF-8 and
 * back. Printable ASCII stands for itself ("&" is "&-"); everything else
 * is UTF-16 in a base64 run "&...-" with ',' for '/'. Decoding is strict
 * (a name that decodes two ways would let two folders look alike), and
 * both directions are bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/private.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

static enum qm_err put_utf8(struct qm_buf *o, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return qm_buf_append(o, u, n, NULL);
}

static enum qm_err bad(struct qm_error *err, const char *wire, const char *why)
{
	return qm_error_set(err, QM_ERR_PARSE,
	                    "the folder name \"%.200s\" is not valid modified "
	                    "UTF-7 (%s)",
	                    wire, why);
}

/* Decodes the base64 run at *pp (after '&', up to and past '-'). */
static enum qm_err decode_run(const char **pp, struct qm_buf *o,
                              const char *wire, struct qm_error *err)
{
	const char *p = *pp;
	uint32_t bits = 0, hi = 0;
	int nbits = 0;
	size_t units = 0;

	for (; *p && *p != '-'; p++) {
		int v = b64_value(*p);

		if (v < 0)
			return bad(err, wire,
			           "a character outside the base64 "
			           "run's alphabet");
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		{
			uint32_t u = (bits >> nbits) & 0xffff;

			bits &= (1u << nbits) - 1;
			units++;
			if (hi) {
				if (u < 0xdc00 || u > 0xdfff)
					return bad(err, wire,
					           "a broken surrogate pair");
				if (put_utf8(o, 0x10000 +
				                    ((hi - 0xd800) << 10) +
				                    (u - 0xdc00)))
					return QM_ERR_TOOBIG;
				hi = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				hi = u;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				return bad(err, wire,
				           "a broken surrogate pair");
			} else if ((u >= 0x20 && u <= 0x7e) || u == 0) {
				return bad(err, wire,
				           "an encoded character that must "
				           "stand for itself");
			} else if (put_utf8(o, u)) {
				return QM_ERR_TOOBIG;
			}
		}
	}
	if (*p != '-')
		return bad(err, wire, "a base64 run without its '-'");
	if (hi)
		return bad(err, wire, "a broken surrogate pair");
	if (units == 0)
		return bad(err, wire, "an empty base64 run");
	if (nbits >= 6 || bits != 0)
		return bad(err, wire, "stray bits at the end of a run");
	*pp = p + 1;
	return QM_OK;
}

enum qm_err qm_mail_imap_name_decode(const char *wire, char **out,
                                     struct qm_error *err)
{
	struct qm_buf o;
	const char *p;
	int after_run = 0;
	enum qm_err e = QM_OK;

	if (!wire || !out)
		return qm_error_set(err, QM_ERR_INVAL, "no folder name given");
	if (strlen(wire) > MAIL_IMAP_NAMEMAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "a folder name is longer than %d bytes",
		                    MAIL_IMAP_NAMEMAX);
	/* UTF-8 is at most 4 bytes for the 8/3 base64 characters of a
	 * UTF-16 unit: 2 bytes of output per input byte are always enough */
	qm_buf_init(&o, 2 * (size_t)MAIL_IMAP_NAMEMAX + 8);
	for (p = wire; *p && e == QM_OK;) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e) {
			e = bad(err, wire,
			        "a byte that is not printable ASCII");
			break;
		}
		if (c != '&') {
			e = qm_buf_append_byte(&o, c, NULL);
			p++;
			after_run = 0;
			continue;
		}
		if (p[1] == '-') {
			e = qm_buf_append_byte(&o, '&', NULL);
			p += 2;
			after_run = 0;
			continue;
		}
		if (after_run) {
			e = bad(err, wire, "two base64 runs in a row");
			break;
		}
		p++;
		e = decode_run(&p, &o, wire, err);
		after_run = 1;
	}
	if (e == QM_ERR_TOOBIG)
		e = qm_error_set(err, QM_ERR_TOOBIG,
		                 "a folder name is too long");
	if (e == QM_OK &&
	    !(*out = mail_strndup(o.data ? (char *)o.data : "", o.len)))
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	qm_buf_free(&o);
	return e;
}

/* The next code point of UTF-8 text at *pp; -1 when not UTF-8. */
static long next_cp(const unsigned char **pp)
{
	const unsigned char *p = *pp;
	uint32_t cp;
	int n;

	if (p[0] < 0x80) {
		*pp = p + 1;
		return p[0];
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		cp = p[0] & 0x1f;
		n = 1;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		cp = p[0] & 0x0f;
		n = 2;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		cp = p[0] & 0x07;
		n = 3;
	} else {
		return -1;
	}
	for (int i = 1; i <= n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1; /* overlong, too big, or a surrogate */
	*pp = p + n + 1;
	return (long)cp;
}

/* Writes the pending UTF-16 units as one "&...-" run. */
static enum qm_err flush_run(struct qm_buf *o, const uint16_t *u, size_t n)
{
	uint32_t bits = 0;
	int nbits = 0;
	enum qm_err e;

	if (!n)
		return QM_OK;
	if ((e = qm_buf_append_byte(o, '&', NULL)))
		return e;
	for (size_t i = 0; i < n; i++) {
		bits = (bits << 16) | u[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			if ((e = qm_buf_append_byte(
			         o, (unsigned char)b64[(bits >> nbits) & 0x3f],
			         NULL)))
				return e;
		}
		bits &= (1u << nbits) - 1;
	}
	if (nbits &&
	    (e = qm_buf_append_byte(
	         o, (unsigned char)b64[(bits << (6 - nbits)) & 0x3f], NULL)))
		return e;
	return qm_buf_append_byte(o, '-', NULL);
}

enum qm_err qm_mail_imap_name_encode(const char *utf8, char **out,
                                     struct qm_error *err)
{
	const unsigned char *p = (const unsigned char *)utf8;
	uint16_t run[MAIL_IMAP_NAMEMAX];
	size_t nrun = 0;
	struct qm_buf o;
	enum qm_err e = QM_OK;

	if (!utf8 || !out)
		return qm_error_set(err, QM_ERR_INVAL, "no folder name given");
	qm_buf_init(&o, MAIL_IMAP_NAMEMAX);
	while (*p && e == QM_OK) {
		long cp = next_cp(&p);

		if (cp < 0) {
			qm_buf_free(&o);
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "the folder name is not UTF-8 text");
		}
		if (cp == '\r' || cp == '\n') {
			qm_buf_free(&o);
			return qm_error_set(err, QM_ERR_INVAL,
			                    "a folder name cannot hold a line "
			                    "break");
		}
		if (cp >= 0x20 && cp <= 0x7e) {
			if ((e = flush_run(&o, run, nrun)))
				break;
			nrun = 0;
			e = cp == '&' ? qm_buf_append_str(&o, "&-", NULL)
			              : qm_buf_append_byte(
			                    &o, (unsigned char)cp, NULL);
			continue;
		}
		if (nrun + 2 > sizeof(run) / sizeof(*run)) {
			e = QM_ERR_TOOBIG;
			break;
		}
		if (cp >= 0x10000) {
			run[nrun++] =
			    (uint16_t)(0xd800 + ((cp - 0x10000) >> 10));
			run[nrun++] =
			    (uint16_t)(0xdc00 + ((cp - 0x10000) & 0x3ff));
		} else {
			run[nrun++] = (uint16_t)cp;
		}
	}
	if (e == QM_OK)
		e = flush_run(&o, run, nrun);
	if (e == QM_ERR_NOMEM)
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	else if (e)
		e = qm_error_set(err, QM_ERR_TOOBIG,
		                 "the folder name is longer than %d bytes on "
		                 "the wire",
		                 MAIL_IMAP_NAMEMAX);
	else if (!(*out = mail_strndup(o.data ? (char *)o.data : "", o.len)))
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	qm_buf_free(&o);
	return e;
}
