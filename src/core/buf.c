/* SPDX-License-Identifier: MIT */
/*
 * Bounded growable buffers and a bounded reader for binary parsers. Every
 * buffer has a maximum; secure buffers live in secure memory and are wiped
 * whenever their bytes move or go away.
 */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qm_buf_init(struct qm_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->secure = 0;
}

void qm_buf_init_secure(struct qm_buf *b, size_t max)
{
	qm_buf_init(b, max);
	b->secure = 1;
}

void qm_buf_free(struct qm_buf *b)
{
	if (!b)
		return;
	if (b->data) {
		if (b->secure) {
			qm_sec_free(b->data);
		} else {
			free(b->data);
		}
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void qm_buf_reset(struct qm_buf *b)
{
	if (b->data) {
		if (b->secure)
			qm_wipe(b->data, b->len);
		b->data[0] = '\0';
	}
	b->len = 0;
}

static enum qm_err reserve(struct qm_buf *b, size_t n, int exact,
                           struct qm_error *err)
{
	size_t need, ncap;
	unsigned char *nd;

	if (n > b->max || b->len > b->max - n)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "data is larger than the limit of %zu bytes",
		                    b->max);
	need = b->len + n + 1; /* room for the terminating NUL */
	if (need <= b->cap)
		return QM_OK;
	/* a secure block takes whole pages (and guard pages) whatever its
	 * size, and each growth is a new mapping: start at a page */
	ncap = b->cap ? b->cap : b->secure ? 4096 : 64;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if (exact)
		ncap = need;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	if (b->secure) {
		nd = qm_sec_alloc(ncap);
		if (!nd)
			goto nomem;
		if (b->data) {
			memcpy(nd, b->data, b->len + 1);
			qm_sec_free(b->data);
		}
	} else {
		nd = realloc(b->data, ncap);
		if (!nd)
			goto nomem;
	}
	if (!b->data)
		nd[0] = '\0';
	b->data = nd;
	b->cap = ncap;
	return QM_OK;
nomem:
	return qm_error_set(err, QM_ERR_NOMEM,
	                    "out of memory growing a buffer to %zu bytes", ncap);
}

enum qm_err qm_buf_reserve(struct qm_buf *b, size_t n, struct qm_error *err)
{
	return reserve(b, n, 0, err);
}

enum qm_err qm_buf_reserve_exact(struct qm_buf *b, size_t n,
                                 struct qm_error *err)
{
	return reserve(b, n, 1, err);
}

enum qm_err qm_buf_append(struct qm_buf *b, const void *p, size_t n,
                          struct qm_error *err)
{
	enum qm_err rc = qm_buf_reserve(b, n, err);

	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return QM_OK;
}

enum qm_err qm_buf_append_str(struct qm_buf *b, const char *s,
                              struct qm_error *err)
{
	return qm_buf_append(b, s, strlen(s), err);
}

enum qm_err qm_buf_append_byte(struct qm_buf *b, unsigned char c,
                               struct qm_error *err)
{
	return qm_buf_append(b, &c, 1, err);
}

enum qm_err qm_buf_appendf(struct qm_buf *b, struct qm_error *err,
                           const char *fmt, ...)
{
	va_list ap, ap2;
	int n;
	enum qm_err rc;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return qm_error_set(err, QM_ERR_INVAL, "bad format string");
	}
	rc = qm_buf_reserve(b, (size_t)n, err);
	if (rc) {
		va_end(ap2);
		return rc;
	}
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	b->len += (size_t)n;
	return QM_OK;
}

enum qm_err qm_buf_append_u16(struct qm_buf *b, uint16_t v,
                              struct qm_error *err)
{
	unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};

	return qm_buf_append(b, x, sizeof(x), err);
}

enum qm_err qm_buf_append_u32(struct qm_buf *b, uint32_t v,
                              struct qm_error *err)
{
	unsigned char x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (unsigned char)(v >> (24 - 8 * i));
	return qm_buf_append(b, x, sizeof(x), err);
}

enum qm_err qm_buf_append_u64(struct qm_buf *b, uint64_t v,
                              struct qm_error *err)
{
	unsigned char x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (56 - 8 * i));
	return qm_buf_append(b, x, sizeof(x), err);
}

unsigned char *qm_buf_steal(struct qm_buf *b, size_t *len)
{
	unsigned char *p = b->data;

	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

void qm_reader_init(struct qm_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

size_t qm_reader_left(const struct qm_reader *r)
{
	return r->len - r->off;
}

enum qm_err qm_reader_bytes(struct qm_reader *r, size_t n,
                            const unsigned char **p)
{
	if (n > qm_reader_left(r))
		return QM_ERR_PARSE;
	*p = r->p + r->off;
	r->off += n;
	return QM_OK;
}

/* Reads an n-byte big-endian unsigned integer. */
static enum qm_err read_be(struct qm_reader *r, size_t n, uint64_t *v)
{
	const unsigned char *p;
	uint64_t x = 0;

	if (qm_reader_bytes(r, n, &p))
		return QM_ERR_PARSE;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | p[i];
	*v = x;
	return QM_OK;
}

enum qm_err qm_reader_u8(struct qm_reader *r, uint8_t *v)
{
	uint64_t x;

	if (read_be(r, 1, &x))
		return QM_ERR_PARSE;
	*v = (uint8_t)x;
	return QM_OK;
}

enum qm_err qm_reader_u16(struct qm_reader *r, uint16_t *v)
{
	uint64_t x;

	if (read_be(r, 2, &x))
		return QM_ERR_PARSE;
	*v = (uint16_t)x;
	return QM_OK;
}

enum qm_err qm_reader_u32(struct qm_reader *r, uint32_t *v)
{
	uint64_t x;

	if (read_be(r, 4, &x))
		return QM_ERR_PARSE;
	*v = (uint32_t)x;
	return QM_OK;
}

enum qm_err qm_reader_u64(struct qm_reader *r, uint64_t *v)
{
	return read_be(r, 8, v);
}
