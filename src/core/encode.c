/* SPDX-License-Identifier: MIT */
/*
 * Base64 and hex over libsodium's constant-time codecs, writing into bounded
 * buffers so that a key can be decoded straight into secure memory.
 */
#include "core.h"

#include <sodium.h>

enum qm_err qm_b64_encode(const void *p, size_t n, struct qm_buf *out,
                          struct qm_error *err)
{
	size_t elen = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	enum qm_err rc = qm_buf_reserve(out, elen, err);

	if (rc)
		return rc;
	sodium_bin2base64((char *)out->data + out->len, elen, p, n,
	                  sodium_base64_VARIANT_ORIGINAL);
	out->len += elen - 1; /* elen counts the NUL */
	return QM_OK;
}

enum qm_err qm_b64_decode(const char *s, size_t n, struct qm_buf *out,
                          struct qm_error *err)
{
	size_t maxbin = n / 4 * 3 + 3, binlen = 0;
	const char *end = NULL;
	enum qm_err rc = qm_buf_reserve(out, maxbin, err);

	if (rc)
		return rc;
	if (sodium_base642bin(out->data + out->len, maxbin, s, n, " \t\r\n",
	                      &binlen, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != s + n) {
		qm_wipe(out->data + out->len, maxbin);
		return qm_error_set(err, QM_ERR_PARSE, "invalid base64 data");
	}
	out->len += binlen;
	out->data[out->len] = '\0';
	return QM_OK;
}

enum qm_err qm_hex_encode(const void *p, size_t n, struct qm_buf *out,
                          struct qm_error *err)
{
	enum qm_err rc;

	if (n > (SIZE_MAX - 1) / 2)
		return qm_error_set(err, QM_ERR_TOOBIG, "data too large for hex");
	rc = qm_buf_reserve(out, n * 2, err);
	if (rc)
		return rc;
	sodium_bin2hex((char *)out->data + out->len, n * 2 + 1, p, n);
	out->len += n * 2;
	return QM_OK;
}

enum qm_err qm_hex_decode(const char *s, size_t n, struct qm_buf *out,
                          struct qm_error *err)
{
	size_t binlen = 0;
	const char *end = NULL;
	enum qm_err rc;

	if (n % 2)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "hex data has an odd number of digits");
	rc = qm_buf_reserve(out, n / 2, err);
	if (rc)
		return rc;
	if (sodium_hex2bin(out->data + out->len, n / 2, s, n, NULL, &binlen,
	                   &end) != 0 ||
	    end != s + n) {
		qm_wipe(out->data + out->len, n / 2);
		return qm_error_set(err, QM_ERR_PARSE, "invalid hex data");
	}
	out->len += binlen;
	out->data[out->len] = '\0';
	return QM_OK;
}
