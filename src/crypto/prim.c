/* SPDX-License-Identifier: MIT */
/*
 * The primitives as QMail wires them: HKDF-SHA256 and AES-256-GCM from
 * OpenSSL, SHA-256, the hybrid KEM combiner over SHA3-256 (PQClean's FIPS
 * 202), the hybrid and X25519 key encapsulations, and PQClean's randomness
 * source. Nothing here is written by hand below the level of a primitive.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <crypto_kem/ml-kem-768/clean/kem.h>
#include <fips202.h>

enum qm_err crypto_hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt,
                               size_t saltlen, const void *info, size_t infolen,
                               void *out, size_t outlen, struct qm_error *err)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[5], *q = params;
	enum qm_err rc = QM_ERR_CRYPTO;

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		goto out;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx)
		goto out;
	*q++ = OSSL_PARAM_construct_utf8_string(
	    OSSL_KDF_PARAM_DIGEST, (char *)(uintptr_t) "SHA256", 0);
	*q++ = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)ikm, ikmlen);
	*q++ = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_SALT, (void *)(uintptr_t)salt, saltlen);
	*q++ = OSSL_PARAM_construct_octet_string(
	    OSSL_KDF_PARAM_INFO, (void *)(uintptr_t)info, infolen);
	*q = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) <= 0)
		goto out;
	rc = QM_OK;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	if (rc)
		qm_error_set(err, rc, "HKDF-SHA256 failed in OpenSSL");
	return rc;
}

struct qm_gcm {
	EVP_CIPHER_CTX *ctx;
	int encrypt;
};

enum qm_err crypto_gcm_new(const unsigned char key[32], int encrypt,
                           struct qm_gcm **out, struct qm_error *err)
{
	struct qm_gcm *g;
	int ok;

	g = calloc(1, sizeof(*g));
	if (!g)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	g->encrypt = encrypt;
	g->ctx = EVP_CIPHER_CTX_new();
	if (!g->ctx)
		goto fail;
	ok = EVP_CipherInit_ex(g->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
	                       encrypt);
	ok = ok && EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_IVLEN,
	                               QM_GCM_IVBYTES, NULL) > 0;
	ok = ok && EVP_CipherInit_ex(g->ctx, NULL, NULL, key, NULL, encrypt);
	if (!ok)
		goto fail;
	*out = g;
	return QM_OK;
fail:
	crypto_gcm_free(&g);
	return qm_error_set(err, QM_ERR_CRYPTO,
	                    "AES-256-GCM could not start in OpenSSL");
}

void crypto_gcm_free(struct qm_gcm **g)
{
	if (!g || !*g)
		return;
	EVP_CIPHER_CTX_free((*g)->ctx); /* cleanses the key schedule */
	free(*g);
	*g = NULL;
}

enum qm_err crypto_gcm_seal(struct qm_gcm *g, const unsigned char iv[12],
                            const void *ad, size_t adlen, const void *in,
                            size_t len, void *out, unsigned char tag[16],
                            struct qm_error *err)
{
	int n, ok;

	if (!g->encrypt || len > INT32_MAX || adlen > INT32_MAX)
		return qm_error_set(err, QM_ERR_INVAL, "bad AES-GCM call");
	ok = EVP_EncryptInit_ex(g->ctx, NULL, NULL, NULL, iv) > 0;
	ok = ok && (adlen == 0 ||
	            EVP_EncryptUpdate(g->ctx, NULL, &n, ad, (int)adlen) > 0);
	ok = ok &&
	     (len == 0 || EVP_EncryptUpdate(g->ctx, out, &n, in, (int)len) > 0);
	ok = ok &&
	     EVP_EncryptFinal_ex(g->ctx, (unsigned char *)out + len, &n) > 0;
	ok = ok && EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_GET_TAG,
	                               QM_GCM_TAGBYTES, tag) > 0;
	if (!ok)
		return qm_error_set(err, QM_ERR_CRYPTO,
		                    "AES-256-GCM encryption failed in OpenSSL");
	return QM_OK;
}

enum qm_err crypto_gcm_open(struct qm_gcm *g, const unsigned char iv[12],
                            const void *ad, size_t adlen, const void *in,
                            size_t len, const unsigned char tag[16], void *out,
                            struct qm_error *err)
{
	unsigned char t[QM_GCM_TAGBYTES];
	int n, ok;

	if (g->encrypt || len > INT32_MAX || adlen > INT32_MAX)
		return qm_error_set(err, QM_ERR_INVAL, "bad AES-GCM call");
	memcpy(t, tag, sizeof(t));
	ok = EVP_DecryptInit_ex(g->ctx, NULL, NULL, NULL, iv) > 0;
	ok = ok && (adlen == 0 ||
	            EVP_DecryptUpdate(g->ctx, NULL, &n, ad, (int)adlen) > 0);
	ok = ok &&
	     (len == 0 || EVP_DecryptUpdate(g->ctx, out, &n, in, (int)len) > 0);
	ok = ok && EVP_CIPHER_CTX_ctrl(g->ctx, EVP_CTRL_GCM_SET_TAG,
	                               QM_GCM_TAGBYTES, t) > 0;
	if (!ok)
		return qm_error_set(err, QM_ERR_CRYPTO,
		                    "AES-256-GCM decryption failed in OpenSSL");
	if (EVP_DecryptFinal_ex(g->ctx, (unsigned char *)out + len, &n) <= 0) {
		qm_wipe(out, len);
		return qm_error_set(err, QM_ERR_AUTH,
		                    "the message was altered: an AES-GCM tag "
		                    "does not match");
	}
	return QM_OK;
}

void crypto_sha256(const void *p, size_t n, unsigned char out[32])
{
	SHA256(p, n, out);
}

void crypto_kem_combine(const unsigned char ss_m[32],
                        const unsigned char ss_x[32],
                        const unsigned char ct_x[32],
                        const unsigned char pk_x[32], unsigned char out[32])
{
	unsigned char in[32 * 4 + sizeof(QM_KEM_LABEL) - 1];

	memcpy(in, ss_m, 32);
	memcpy(in + 32, ss_x, 32);
	memcpy(in + 64, ct_x, 32);
	memcpy(in + 96, pk_x, 32);
	memcpy(in + 128, QM_KEM_LABEL, sizeof(QM_KEM_LABEL) - 1);
	sha3_256(out, in, sizeof(in));
	qm_wipe(in, sizeof(in));
}

/* X25519 with a check for a low-order (all-zero) result. */
static enum qm_err x25519(unsigned char ss[32], const unsigned char sk[32],
                          const unsigned char pk[32], struct qm_error *err)
{
	if (crypto_scalarmult(ss, sk, pk) != 0) {
		qm_wipe(ss, 32);
		return qm_error_set(err, QM_ERR_AUTH,
		                    "X25519 gave a degenerate shared secret: "
		                    "the key or ciphertext is malformed");
	}
	return QM_OK;
}

enum qm_err crypto_hybrid_encap_derand(const struct qm_pubid *pk,
                                       const unsigned char coins[32],
                                       const unsigned char eph[32],
                                       unsigned char ct[QM_L3_KEMBYTES],
                                       unsigned char ss[32],
                                       struct qm_error *err)
{
	unsigned char *tmp; /* ss_m, ss_x */
	unsigned char *ct_x = ct + QM_MLKEM_CTBYTES;
	enum qm_err rc;

	tmp = qm_sec_alloc(64);
	if (!tmp)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	if (PQCLEAN_MLKEM768_CLEAN_crypto_kem_enc_derand(ct, tmp, pk->mlkem,
	                                                 coins) != 0) {
		rc = qm_error_set(err, QM_ERR_CRYPTO,
		                  "ML-KEM-768 encapsulation failed");
		goto out;
	}
	crypto_scalarmult_base(ct_x, eph);
	rc = x25519(tmp + 32, eph, pk->x25519, err);
	if (rc)
		goto out;
	crypto_kem_combine(tmp, tmp + 32, ct_x, pk->x25519, ss);
out:
	qm_sec_free(tmp);
	return rc;
}

enum qm_err crypto_hybrid_encap(const struct qm_pubid *pk,
                                unsigned char ct[QM_L3_KEMBYTES],
                                unsigned char ss[32], struct qm_error *err)
{
	unsigned char *r; /* coins, ephemeral secret */
	enum qm_err rc;

	r = qm_sec_alloc(64);
	if (!r)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	qm_random(r, 64);
	rc = crypto_hybrid_encap_derand(pk, r, r + 32, ct, ss, err);
	qm_sec_free(r);
	return rc;
}

enum qm_err crypto_hybrid_decap(const struct qm_identity *id,
                                const unsigned char ct[QM_L3_KEMBYTES],
                                unsigned char ss[32], struct qm_error *err)
{
	unsigned char *tmp;
	const unsigned char *ct_x = ct + QM_MLKEM_CTBYTES;
	enum qm_err rc;

	tmp = qm_sec_alloc(64);
	if (!tmp)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	/* ML-KEM decapsulation never fails: a bad ciphertext gives an
	 * unrelated secret (implicit rejection) and the wrap check fails. */
	if (PQCLEAN_MLKEM768_CLEAN_crypto_kem_dec(tmp, ct, id->sec->mlkem)) {
		rc = qm_error_set(err, QM_ERR_CRYPTO,
		                  "ML-KEM-768 decapsulation failed");
		goto out;
	}
	rc = x25519(tmp + 32, id->sec->x25519, ct_x, err);
	if (rc)
		goto out;
	crypto_kem_combine(tmp, tmp + 32, ct_x, id->pub.x25519, ss);
out:
	qm_sec_free(tmp);
	return rc;
}

enum qm_err crypto_x25519_encap(const struct qm_pubid *pk,
                                unsigned char ct[QM_X25519_BYTES],
                                unsigned char ss[32], struct qm_error *err)
{
	unsigned char *eph;
	enum qm_err rc;

	eph = qm_sec_alloc(32);
	if (!eph)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	qm_random(eph, 32);
	crypto_scalarmult_base(ct, eph);
	rc = x25519(ss, eph, pk->x25519, err);
	qm_sec_free(eph);
	return rc;
}

enum qm_err crypto_x25519_decap(const struct qm_identity *id,
                                const unsigned char ct[QM_X25519_BYTES],
                                unsigned char ss[32], struct qm_error *err)
{
	return x25519(ss, id->sec->x25519, ct, err);
}

void crypto_xor(unsigned char *out, const unsigned char *a,
                const unsigned char *b, size_t n)
{
	size_t i = 0;

	/* Word at a time through memcpy (no alignment assumptions); the
	 * compiler turns this into vector loads. */
	for (; i + 32 <= n; i += 32) {
		uint64_t x[4], y[4];

		memcpy(x, a + i, 32);
		memcpy(y, b + i, 32);
		x[0] ^= y[0];
		x[1] ^= y[1];
		x[2] ^= y[2];
		x[3] ^= y[3];
		memcpy(out + i, x, 32);
	}
	for (; i < n; i++)
		out[i] = a[i] ^ b[i];
}

int crypto_label_ok(const char *s, size_t max, int allow_space)
{
	size_t n;

	if (!s)
		return 0;
	n = strnlen(s, max + 1);
	if (n > max)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e || (c == ' ' && !allow_space))
			return 0;
	}
	return 1;
}
