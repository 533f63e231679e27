/* SPDX-License-Identifier: MIT */
/*
 * IMAP UID sets: the sorted, duplicate-free UID lists the commands send
 * as compressed sets ("1:500,502"), split to a bounded length, and the
 * parser of the sets servers send back (COPYUID, VANISHED, ESEARCH ALL),
 * bounded in the number of UIDs a set may expand to, so that
 * "1:4294967295" from a hostile server is an error, not 16 GiB.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/private.h"

enum qm_err mail_uidv_push(struct mail_uidv *u, uint32_t uid,
                           struct qm_error *err)
{
	if (u->n == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 64;
		void *t;

		if (u->n >= MAIL_IMAP_MAXUIDS)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "IMAP: more than %zu messages in "
			                    "one answer",
			                    (size_t)MAIL_IMAP_MAXUIDS);
		if (nc > MAIL_IMAP_MAXUIDS)
			nc = MAIL_IMAP_MAXUIDS;
		if (!(t = reallocarray(u->v, nc, sizeof(*u->v))))
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		u->v = t;
		u->cap = nc;
	}
	u->v[u->n++] = uid;
	return QM_OK;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void mail_uidv_sort(struct mail_uidv *u)
{
	size_t j = 0;

	if (u->n > 1)
		qsort(u->v, u->n, sizeof(*u->v), cmp_u32);
	for (size_t i = 0; i < u->n; i++)
		if (j == 0 || u->v[i] != u->v[j - 1])
			u->v[j++] = u->v[i];
	u->n = j;
}

enum qm_err mail_uids_sorted(const uint32_t *uids, size_t n,
                             struct mail_uidv *out, struct qm_error *err)
{
	struct mail_uidv u = {0};
	enum qm_err e;

	if (!uids || !n)
		return qm_error_set(err, QM_ERR_INVAL, "no messages given");
	for (size_t i = 0; i < n; i++)
		if (uids[i] && (e = mail_uidv_push(&u, uids[i], err))) {
			free(u.v);
			return e;
		}
	mail_uidv_sort(&u);
	if (!u.n) {
		free(u.v);
		return qm_error_set(err, QM_ERR_INVAL,
		                    "no valid message UID given");
	}
	*out = u;
	return QM_OK;
}

int mail_uids_has(const uint32_t *v, size_t n, uint32_t uid)
{
	return n && bsearch(&uid, v, n, sizeof(*v), cmp_u32) != NULL;
}

enum qm_err mail_uidset_next(const uint32_t *v, size_t n, size_t *i,
                             struct qm_buf *out, size_t max,
                             struct qm_error *err)
{
	size_t start = out->len;

	while (*i < n) {
		size_t j = *i;
		char item[24];
		enum qm_err e;
		int k;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (j > *i)
			k = snprintf(item, sizeof(item), "%s%u:%u",
			             out->len > start ? "," : "",
			             (unsigned)v[*i], (unsigned)v[j]);
		else
			k = snprintf(item, sizeof(item), "%s%u",
			             out->len > start ? "," : "",
			             (unsigned)v[*i]);
		if (out->len - start + (size_t)k > max && out->len > start)
			break; /* the rest goes in the next command */
		if ((e = qm_buf_append(out, item, (size_t)k, err)))
			return e;
		*i = j + 1;
	}
	return QM_OK;
}

/* One number of a set: 1..2^32-1. */
static int set_number(const char **pp, uint32_t *v)
{
	const char *p = *pp;
	uint64_t x = 0;

	if (*p < '1' || *p > '9')
		return -1;
	while (*p >= '0' && *p <= '9') {
		x = x * 10 + (uint64_t)(*p++ - '0');
		if (x > 0xffffffffu)
			return -1;
	}
	*v = (uint32_t)x;
	*pp = p;
	return 0;
}

enum qm_err mail_uidset_parse(const char **pp, struct mail_uidv *out,
                              size_t max, struct qm_error *err)
{
	const char *p = *pp;
	size_t count = 0;
	enum qm_err e;

	for (;;) {
		uint32_t a, b;
		uint64_t span;

		if (set_number(&p, &a))
			return qm_error_set(err, QM_ERR_PROTO,
			                    "IMAP: malformed UID set from the "
			                    "server");
		b = a;
		if (*p == ':') {
			p++;
			if (set_number(&p, &b))
				return qm_error_set(err, QM_ERR_PROTO,
				                    "IMAP: malformed UID set "
				                    "from the server");
		}
		span = (a <= b ? (uint64_t)b - a : (uint64_t)a - b) + 1;
		if (span > max || count + span > max)
			return qm_error_set(err, QM_ERR_PROTO,
			                    "IMAP: the server named more "
			                    "messages (%llu or more) than it "
			                    "could hold here (%zu)",
			                    (unsigned long long)(count + span),
			                    max);
		count += (size_t)span;
		for (uint64_t k = 0; k < span; k++) {
			uint32_t uid =
			    a <= b ? a + (uint32_t)k : a - (uint32_t)k;
			if ((e = mail_uidv_push(out, uid, err)))
				return e;
		}
		if (*p != ',')
			break;
		p++;
	}
	*pp = p;
	return QM_OK;
}

size_t mail_uidset_count(const char *s, size_t cap)
{
	const char *p = s;
	uint64_t count = 0;

	for (;;) {
		uint32_t a, b;

		if (set_number(&p, &a))
			return 0;
		b = a;
		if (*p == ':') {
			p++;
			if (set_number(&p, &b))
				return 0;
		}
		count += (a <= b ? (uint64_t)b - a : (uint64_t)a - b) + 1;
		if (count >= cap)
			return cap;
		if (*p != ',')
			break;
		p++;
	}
	return (size_t)count;
}
