/* SPDX-License-Identifier: MIT */
/*
 * The key container: key IDs on the heap, all key bytes in one secure
 * buffer (one sodium_malloc for thousands of keys instead of one each), in
 * the order the keys were received.
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define KEYS_SLACK 64

enum qm_err kms_keys_new(struct qm_kms_keys **out, struct qm_error *err)
{
	struct qm_kms_keys *ks = calloc(1, sizeof(*ks));

	if (!ks)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "out of memory for a key container");
	qm_buf_init_secure(&ks->mat, QM_KMS_BODY_MAX);
	*out = ks;
	return QM_OK;
}

enum qm_err kms_keys_expect(struct qm_kms_keys *ks, uint64_t bytes,
                            struct qm_error *err)
{
	if (bytes <= ks->mat.len || bytes > QM_KMS_BODY_MAX)
		return QM_OK; /* nothing to do, or refused when it comes */
	/* + the few bytes more than a key that its base64 decoding asks
	 * room for (qm_b64_decode): the last key must not double it */
	return qm_buf_reserve_exact(
	    &ks->mat, (size_t)(bytes - ks->mat.len) + KEYS_SLACK, err);
}

static enum qm_err keys_grow(struct qm_kms_keys *ks, struct qm_error *err)
{
	size_t ncap;
	char **ids;
	size_t *off, *len;

	if (ks->count < ks->cap)
		return QM_OK;
	if (ks->count >= QM_KMS_KEYS_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "more than %u keys in one container",
		                    QM_KMS_KEYS_MAX);
	ncap = ks->cap ? ks->cap * 2 : 16;
	if (ncap > QM_KMS_KEYS_MAX)
		ncap = QM_KMS_KEYS_MAX;
	ids = realloc(ks->ids, ncap * sizeof(*ids));
	if (!ids)
		goto nomem;
	ks->ids = ids;
	off = realloc(ks->off, ncap * sizeof(*off));
	if (!off)
		goto nomem;
	ks->off = off;
	len = realloc(ks->len, ncap * sizeof(*len));
	if (!len)
		goto nomem;
	ks->len = len;
	ks->cap = ncap;
	return QM_OK;
nomem:
	return qm_error_set(err, QM_ERR_NOMEM, "out of memory for key IDs");
}

enum qm_err kms_keys_add_b64(struct qm_kms_keys *ks, const char *id,
                             const char *b64, size_t n, size_t expect_bytes,
                             struct qm_error *err)
{
	size_t start = ks->mat.len, got;
	char *idc = NULL;
	enum qm_err rc;

	rc = keys_grow(ks, err);
	if (rc)
		goto out;
	idc = strdup(id);
	if (!idc) {
		rc = qm_error_set(err, QM_ERR_NOMEM,
		                  "out of memory for a key ID");
		goto out;
	}
	rc = qm_b64_decode(b64, n, &ks->mat, err);
	if (rc) {
		qm_error_prefix(err, "key %s: ", id);
		goto out;
	}
	got = ks->mat.len - start;
	if (got == 0) {
		rc = qm_error_set(err, QM_ERR_PARSE, "key %s is empty", id);
		goto out;
	}
	if (expect_bytes && got != expect_bytes) {
		rc = qm_error_set(err, QM_ERR_PROTO,
		                  "key %s has %zu bytes, %zu were asked for",
		                  id, got, expect_bytes);
		goto out;
	}
	ks->ids[ks->count] = idc;
	ks->off[ks->count] = start;
	ks->len[ks->count] = got;
	ks->count++;
	idc = NULL;
out:
	if (rc && ks->mat.len > start) {
		qm_wipe(ks->mat.data + start, ks->mat.len - start);
		ks->mat.len = start;
		ks->mat.data[start] = '\0';
	}
	free(idc);
	return rc;
}

enum qm_err kms_keys_add_from(struct qm_kms_keys *dst,
                              const struct qm_kms_keys *src, size_t i,
                              struct qm_error *err)
{
	char *idc = NULL;
	enum qm_err rc;

	rc = keys_grow(dst, err);
	if (rc)
		return rc;
	idc = strdup(src->ids[i]);
	if (!idc)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "out of memory for a key ID");
	dst->off[dst->count] = dst->mat.len;
	rc = qm_buf_append(&dst->mat, src->mat.data + src->off[i], src->len[i],
	                   err);
	if (rc) {
		free(idc);
		return rc;
	}
	dst->ids[dst->count] = idc;
	dst->len[dst->count] = src->len[i];
	dst->count++;
	return QM_OK;
}

size_t qm_kms_keys_count(const struct qm_kms_keys *ks)
{
	return ks ? ks->count : 0;
}

const char *qm_kms_keys_id(const struct qm_kms_keys *ks, size_t i)
{
	if (!ks || i >= ks->count)
		return NULL;
	return ks->ids[i];
}

const unsigned char *qm_kms_keys_key(const struct qm_kms_keys *ks, size_t i,
                                     size_t *len)
{
	if (!ks || i >= ks->count) {
		if (len)
			*len = 0;
		return NULL;
	}
	if (len)
		*len = ks->len[i];
	return ks->mat.data + ks->off[i];
}

const unsigned char *qm_kms_keys_material(const struct qm_kms_keys *ks,
                                          size_t *len)
{
	if (len)
		*len = ks ? ks->mat.len : 0;
	if (!ks || ks->mat.len == 0)
		return NULL;
	return ks->mat.data;
}

void qm_kms_keys_free(struct qm_kms_keys **ksp)
{
	struct qm_kms_keys *ks;

	if (!ksp || !*ksp)
		return;
	ks = *ksp;
	qm_buf_free(&ks->mat);
	for (size_t i = 0; i < ks->count; i++)
		free(ks->ids[i]);
	free(ks->ids);
	free(ks->off);
	free(ks->len);
	for (size_t i = 0; i < ks->nexts; i++)
		free(ks->exts[i]);
	free(ks->exts);
	free(ks);
	*ksp = NULL;
}

enum qm_err kms_keys_ext_add(struct qm_kms_keys *ks, const char *ext,
                             struct qm_error *err)
{
	char **n, *c;

	/* one a reply: as many as the keys bound them */
	if (ks->nexts >= QM_KMS_KEYS_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "more than %u key container extensions",
		                    QM_KMS_KEYS_MAX);
	c = strdup(ext);
	n = c ? realloc(ks->exts, (ks->nexts + 1) * sizeof(*n)) : NULL;
	if (!n) {
		free(c);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	ks->exts = n;
	ks->exts[ks->nexts++] = c;
	return QM_OK;
}

const char *const *qm_kms_keys_extensions(const struct qm_kms_keys *ks,
                                          size_t *n)
{
	*n = ks ? ks->nexts : 0;
	return ks ? (const char *const *)ks->exts : NULL;
}
