/* SPDX-License-Identifier: MIT */
/*
 * Identities for levels 3 and 4: an X25519, Ed25519, ML-KEM-768 and
 * ML-DSA-65 key pair with the secrets in secure memory; the secret export
 * the store seals in its vault; the public key bytes, their SHA-256
 * fingerprint and the text armour (docs/CRYPTO.md); composite signatures.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <crypto_kem/ml-kem-768/clean/kem.h>
#include <crypto_sign/ml-dsa-65/clean/api.h>
#include <fips202.h>

#define SEC_MAGIC "QMSK"
#define SEC_BYTES                                                              \
	(4 + 1 + 32 + 32 + QM_MLKEM_SKBYTES + QM_MLDSA_SKBYTES +               \
	 QM_MLDSA_PKBYTES)
#define ARMOR_BEGIN "-----BEGIN QMAIL PUBLIC KEY-----"
#define ARMOR_END   "-----END QMAIL PUBLIC KEY-----"
#define ARMOR_MAX   16384
#define SIG_CTX     "QMail-v1"
/* Where the public key and its hash sit inside an ML-KEM-768 secret key. */
#define MLKEM_SK_PK_OFF 1152
#define MLKEM_SK_H_OFF  (MLKEM_SK_PK_OFF + QM_MLKEM_PKBYTES)
/* ML-DSA secret key: rho (32), key (32), tr = SHAKE256(pk, 64), ... */
#define MLDSA_SK_TR_OFF 64

/* A zeroed identity with its secure half allocated. */
static enum qm_err identity_alloc(struct qm_identity **out,
                                  struct qm_error *err)
{
	struct qm_identity *id = calloc(1, sizeof(*id));

	if (!id)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	id->sec = qm_sec_alloc(sizeof(*id->sec));
	if (!id->sec) {
		free(id);
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "out of secure memory for an identity");
	}
	*out = id;
	return QM_OK;
}

void qm_crypto_identity_free(struct qm_identity **id)
{
	if (!id || !*id)
		return;
	qm_sec_free((*id)->sec); /* wipes */
	free(*id);
	*id = NULL;
}

enum qm_err qm_crypto_identity_new(struct qm_identity **out,
                                   struct qm_error *err)
{
	struct qm_identity *id = NULL;
	enum qm_err rc;

	rc = identity_alloc(&id, err);
	if (rc)
		return rc;
	qm_random(id->sec->x25519, QM_X25519_BYTES);
	crypto_scalarmult_base(id->pub.x25519, id->sec->x25519);
	if (crypto_sign_keypair(id->pub.ed25519, id->sec->ed25519) != 0 ||
	    PQCLEAN_MLKEM768_CLEAN_crypto_kem_keypair(id->pub.mlkem,
	                                              id->sec->mlkem) != 0 ||
	    PQCLEAN_MLDSA65_CLEAN_crypto_sign_keypair(id->pub.mldsa,
	                                              id->sec->mldsa) != 0) {
		rc = qm_error_set(err, QM_ERR_CRYPTO,
		                  "generating the identity key pairs failed");
		goto out;
	}
	*out = id;
	id = NULL;
out:
	qm_crypto_identity_free(&id);
	return rc;
}

enum qm_err crypto_identity_from_seeds(const unsigned char xs[32],
                                       const unsigned char es[32],
                                       const unsigned char ks[64],
                                       struct qm_identity **out,
                                       struct qm_error *err)
{
	struct qm_identity *id = NULL;
	enum qm_err rc;

	rc = identity_alloc(&id, err);
	if (rc)
		return rc;
	memcpy(id->sec->x25519, xs, 32);
	crypto_scalarmult_base(id->pub.x25519, id->sec->x25519);
	if (crypto_sign_seed_keypair(id->pub.ed25519, id->sec->ed25519, es) ||
	    PQCLEAN_MLKEM768_CLEAN_crypto_kem_keypair_derand(
	        id->pub.mlkem, id->sec->mlkem, ks) ||
	    PQCLEAN_MLDSA65_CLEAN_crypto_sign_keypair(id->pub.mldsa,
	                                              id->sec->mldsa)) {
		rc = qm_error_set(err, QM_ERR_CRYPTO,
		                  "generating the identity key pairs failed");
		goto out;
	}
	*out = id;
	id = NULL;
out:
	qm_crypto_identity_free(&id);
	return rc;
}

enum qm_err qm_crypto_identity_export_secret(const struct qm_identity *id,
                                             struct qm_buf *out,
                                             struct qm_error *err)
{
	size_t start = out->len;
	enum qm_err rc;

	if (!out->secure)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a secret identity may only be written to "
		                    "a secure buffer");
	rc = qm_buf_reserve(out, SEC_BYTES, err);
	if (!rc)
		rc = qm_buf_append(out, SEC_MAGIC, 4, err);
	if (!rc)
		rc = qm_buf_append_byte(out, 1, err);
	if (!rc)
		rc = qm_buf_append(out, id->sec->x25519, 32, err);
	if (!rc) /* the seed */
		rc = qm_buf_append(out, id->sec->ed25519, 32, err);
	if (!rc)
		rc = qm_buf_append(out, id->sec->mlkem, QM_MLKEM_SKBYTES, err);
	if (!rc)
		rc = qm_buf_append(out, id->sec->mldsa, QM_MLDSA_SKBYTES, err);
	if (!rc)
		rc = qm_buf_append(out, id->pub.mldsa, QM_MLDSA_PKBYTES, err);
	if (rc)
		return rc;
	return out->len - start == SEC_BYTES ? QM_OK
	                                     : qm_error_set(err, QM_ERR_STATE,
	                                                    "secret export "
	                                                    "size mismatch");
}

enum qm_err qm_crypto_identity_import_secret(const void *p, size_t n,
                                             struct qm_identity **out,
                                             struct qm_error *err)
{
	const unsigned char *b = p;
	struct qm_identity *id = NULL;
	unsigned char h[64];
	enum qm_err rc;

	if (n != SEC_BYTES || memcmp(b, SEC_MAGIC, 4) != 0)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "not a QMail secret identity (%zu bytes, "
		                    "expected %d starting with \"%s\")",
		                    n, SEC_BYTES, SEC_MAGIC);
	if (b[4] != 1)
		return qm_error_set(
		    err, QM_ERR_UNSUPPORTED,
		    "secret identity version %u is not supported "
		    "(this QMail reads version 1)",
		    b[4]);
	rc = identity_alloc(&id, err);
	if (rc)
		return rc;
	b += 5;
	memcpy(id->sec->x25519, b, 32);
	crypto_scalarmult_base(id->pub.x25519, id->sec->x25519);
	b += 32;
	if (crypto_sign_seed_keypair(id->pub.ed25519, id->sec->ed25519, b)) {
		rc = qm_error_set(err, QM_ERR_CRYPTO, "Ed25519 key failed");
		goto out;
	}
	b += 32;
	memcpy(id->sec->mlkem, b, QM_MLKEM_SKBYTES);
	memcpy(id->pub.mlkem, b + MLKEM_SK_PK_OFF, QM_MLKEM_PKBYTES);
	sha3_256(h, id->pub.mlkem, QM_MLKEM_PKBYTES);
	if (memcmp(h, b + MLKEM_SK_H_OFF, 32) != 0) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "the ML-KEM-768 secret key is damaged (its "
		                  "public key hash does not match)");
		goto out;
	}
	b += QM_MLKEM_SKBYTES;
	memcpy(id->sec->mldsa, b, QM_MLDSA_SKBYTES);
	b += QM_MLDSA_SKBYTES;
	memcpy(id->pub.mldsa, b, QM_MLDSA_PKBYTES);
	shake256(h, 64, id->pub.mldsa, QM_MLDSA_PKBYTES);
	if (memcmp(h, id->sec->mldsa + MLDSA_SK_TR_OFF, 64) != 0 ||
	    memcmp(id->pub.mldsa, id->sec->mldsa, 32) != 0) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "the ML-DSA-65 secret key does not belong to "
		                  "its public key: the export is damaged");
		goto out;
	}
	*out = id;
	id = NULL;
out:
	qm_crypto_identity_free(&id);
	return rc;
}

enum qm_err qm_crypto_identity_public(const struct qm_identity *id,
                                      struct qm_pubid **out,
                                      struct qm_error *err)
{
	struct qm_pubid *pk = malloc(sizeof(*pk));

	if (!pk)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	*pk = id->pub;
	*out = pk;
	return QM_OK;
}

void qm_crypto_pubid_free(struct qm_pubid **pk)
{
	if (!pk || !*pk)
		return;
	free(*pk);
	*pk = NULL;
}

void crypto_pubid_serialise(const struct qm_pubid *pk,
                            unsigned char out[QM_PUB_BYTES])
{
	unsigned char *o = out;

	memcpy(o, QM_PUB_MAGIC, 4);
	o[4] = 1;
	o += 5;
	memcpy(o, pk->x25519, QM_X25519_BYTES);
	o += QM_X25519_BYTES;
	memcpy(o, pk->ed25519, QM_ED25519_PKBYTES);
	o += QM_ED25519_PKBYTES;
	memcpy(o, pk->mlkem, QM_MLKEM_PKBYTES);
	o += QM_MLKEM_PKBYTES;
	memcpy(o, pk->mldsa, QM_MLDSA_PKBYTES);
}

enum qm_err qm_crypto_pubid_to_bytes(const struct qm_pubid *pk,
                                     struct qm_buf *out, struct qm_error *err)
{
	unsigned char b[QM_PUB_BYTES];

	crypto_pubid_serialise(pk, b);
	return qm_buf_append(out, b, sizeof(b), err);
}

enum qm_err qm_crypto_pubid_from_bytes(const void *p, size_t n,
                                       struct qm_pubid **out,
                                       struct qm_error *err)
{
	static const unsigned char probe[32] = {9};
	const unsigned char *b = p;
	struct qm_pubid *pk;
	unsigned char h[32];

	if (n != QM_PUB_BYTES || memcmp(b, QM_PUB_MAGIC, 4) != 0)
		return qm_error_set(
		    err, QM_ERR_PARSE,
		    "not a QMail public key (%zu bytes, expected "
		    "%d starting with \"%s\")",
		    n, QM_PUB_BYTES, QM_PUB_MAGIC);
	if (b[4] != 1)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "public key version %u is not supported "
		                    "(this QMail reads version 1)",
		                    b[4]);
	pk = malloc(sizeof(*pk));
	if (!pk)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	b += 5;
	memcpy(pk->x25519, b, QM_X25519_BYTES);
	b += QM_X25519_BYTES;
	memcpy(pk->ed25519, b, QM_ED25519_PKBYTES);
	b += QM_ED25519_PKBYTES;
	memcpy(pk->mlkem, b, QM_MLKEM_PKBYTES);
	b += QM_MLKEM_PKBYTES;
	memcpy(pk->mldsa, b, QM_MLDSA_PKBYTES);
	/* A low-order X25519 key or an invalid Ed25519 point is refused
	 * here rather than failing later at every message. */
	if (crypto_scalarmult(h, probe, pk->x25519) != 0 ||
	    !crypto_core_ed25519_is_valid_point(pk->ed25519)) {
		free(pk);
		return qm_error_set(err, QM_ERR_PARSE,
		                    "the public key holds an invalid X25519 or "
		                    "Ed25519 key");
	}
	*out = pk;
	return QM_OK;
}

void qm_crypto_pubid_fingerprint(const struct qm_pubid *pk,
                                 unsigned char fpr[QM_FPR_BYTES])
{
	unsigned char b[QM_PUB_BYTES];

	crypto_pubid_serialise(pk, b);
	crypto_sha256(b, sizeof(b), fpr);
}

void qm_crypto_fpr_text(const unsigned char fpr[QM_FPR_BYTES],
                        char out[QM_FPR_TEXTLEN])
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < QM_FPR_BYTES; i++) {
		if (i && i % 2 == 0)
			out[o++] = ' ';
		out[o++] = hex[fpr[i] >> 4];
		out[o++] = hex[fpr[i] & 15];
	}
	out[o] = '\0';
}

enum qm_err qm_crypto_pubid_export(const struct qm_pubid *pk,
                                   const char *comment, struct qm_buf *out,
                                   struct qm_error *err)
{
	unsigned char b[QM_PUB_BYTES], fpr[QM_FPR_BYTES];
	char ft[QM_FPR_TEXTLEN];
	struct qm_buf b64;
	enum qm_err rc;

	if (comment && !crypto_label_ok(comment, 200, 1))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a key comment must be printable ASCII on "
		                    "one line, at most 200 characters");
	crypto_pubid_serialise(pk, b);
	crypto_sha256(b, sizeof(b), fpr);
	qm_crypto_fpr_text(fpr, ft);
	qm_buf_init(&b64, ARMOR_MAX);
	rc = qm_b64_encode(b, sizeof(b), &b64, err);
	if (rc)
		goto out;
	rc = qm_buf_appendf(out, err, "%s\nVersion: 1\nFingerprint: %s\n",
	                    ARMOR_BEGIN, ft);
	if (!rc && comment)
		rc = qm_buf_appendf(out, err, "Comment: %s\n", comment);
	if (!rc)
		rc = qm_buf_append_byte(out, '\n', err);
	for (size_t i = 0; !rc && i < b64.len; i += 64) {
		size_t k = b64.len - i < 64 ? b64.len - i : 64;
		rc = qm_buf_append(out, b64.data + i, k, err);
		if (!rc)
			rc = qm_buf_append_byte(out, '\n', err);
	}
	if (!rc)
		rc = qm_buf_appendf(out, err, "%s\n", ARMOR_END);
out:
	qm_buf_free(&b64);
	return rc;
}

/* The next line of text[*off..len) without its CR LF; 0 at the end. */
static int next_line(const char *text, size_t len, size_t *off,
                     const char **line, size_t *ll)
{
	size_t s = *off, e;

	if (s >= len)
		return 0;
	e = s;
	while (e < len && text[e] != '\n')
		e++;
	*off = e < len ? e + 1 : e;
	while (e > s && (text[e - 1] == '\r' || text[e - 1] == ' ' ||
	                 text[e - 1] == '\t'))
		e--;
	*line = text + s;
	*ll = e - s;
	return 1;
}

static int line_is(const char *line, size_t ll, const char *s)
{
	return ll == strlen(s) && memcmp(line, s, ll) == 0;
}

enum qm_err qm_crypto_pubid_import(const char *text, size_t len,
                                   struct qm_pubid **out, struct qm_error *err)
{
	const char *line, *fline = NULL;
	size_t off = 0, ll, fl = 0, b64s = 0, b64e = 0, lineno = 0;
	int version = 0, state = 0; /* 0 before, 1 headers, 2 base64, 3 end */
	struct qm_buf raw;
	struct qm_pubid *pk = NULL;
	unsigned char fpr[QM_FPR_BYTES];
	char ft[QM_FPR_TEXTLEN];
	enum qm_err rc;

	if (len > ARMOR_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "a public key text is at most %d bytes, "
		                    "this one has %zu",
		                    ARMOR_MAX, len);
	qm_buf_init(&raw, ARMOR_MAX);
	while (state < 3 && next_line(text, len, &off, &line, &ll)) {
		lineno++;
		if (state == 0) {
			if (line_is(line, ll, ARMOR_BEGIN))
				state = 1;
		} else if (state == 1) {
			if (ll == 0) {
				state = 2;
				b64s = off;
			} else if (ll > 9 &&
			           memcmp(line, "Version: ", 9) == 0) {
				version =
				    line_is(line + 9, ll - 9, "1") ? 1 : -1;
			} else if (ll > 13 &&
			           memcmp(line, "Fingerprint: ", 13) == 0) {
				fline = line + 13;
				fl = ll - 13;
			} else if (!(ll > 9 &&
			             memcmp(line, "Comment: ", 9) == 0)) {
				rc = qm_error_set(err, QM_ERR_PARSE,
				                  "public key text, line %zu: "
				                  "unknown header line",
				                  lineno);
				goto out;
			}
		} else if (line_is(line, ll, ARMOR_END)) {
			state = 3;
			b64e = (size_t)(line - text);
		}
	}
	if (state != 3) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "no complete \"%s\" ... \"%s\" block found",
		                  ARMOR_BEGIN, ARMOR_END);
		goto out;
	}
	if (version != 1) {
		rc = qm_error_set(err,
		                  version ? QM_ERR_UNSUPPORTED : QM_ERR_PARSE,
		                  "public key text: %s",
		                  version ? "unsupported Version (this QMail "
		                            "reads 1)"
		                          : "the Version line is missing");
		goto out;
	}
	if (!fline) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "public key text: the Fingerprint line is "
		                  "missing");
		goto out;
	}
	rc = qm_b64_decode(text + b64s, b64e - b64s, &raw, err);
	if (rc) {
		qm_error_prefix(err, "public key text: ");
		goto out;
	}
	rc = qm_crypto_pubid_from_bytes(raw.data, raw.len, &pk, err);
	if (rc)
		goto out;
	qm_crypto_pubid_fingerprint(pk, fpr);
	qm_crypto_fpr_text(fpr, ft);
	if (!line_is(fline, fl, ft)) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "public key text: the Fingerprint line does "
		                  "not match the key (the key is %s); the text "
		                  "was altered or damaged",
		                  ft);
		goto out;
	}
	*out = pk;
	pk = NULL;
out:
	qm_crypto_pubid_free(&pk);
	qm_buf_free(&raw);
	return rc;
}

enum qm_err qm_crypto_identity_sign(const struct qm_identity *id, int hybrid,
                                    const void *msg, size_t len,
                                    struct qm_buf *out, struct qm_error *err)
{
	unsigned char sig[QM_SIG_HYBRID];
	unsigned char *ed = sig;
	size_t sl = 0;

	if (hybrid) {
		if (PQCLEAN_MLDSA65_CLEAN_crypto_sign_signature_ctx(
		        sig, &sl, msg, len, (const uint8_t *)SIG_CTX,
		        sizeof(SIG_CTX) - 1, id->sec->mldsa) != 0 ||
		    sl != QM_MLDSA_SIGBYTES)
			return qm_error_set(err, QM_ERR_CRYPTO,
			                    "ML-DSA-65 signing failed");
		ed = sig + QM_MLDSA_SIGBYTES;
	}
	if (crypto_sign_detached(ed, NULL, msg, len, id->sec->ed25519) != 0)
		return qm_error_set(err, QM_ERR_CRYPTO,
		                    "Ed25519 signing failed");
	return qm_buf_append(out, sig, hybrid ? QM_SIG_HYBRID : QM_SIG_CLASSIC,
	                     err);
}

enum qm_err qm_crypto_pubid_verify(const struct qm_pubid *pk, int hybrid,
                                   const void *msg, size_t len, const void *sig,
                                   size_t siglen, struct qm_error *err)
{
	const unsigned char *s = sig;
	int bad = 0;

	if (siglen != (size_t)(hybrid ? QM_SIG_HYBRID : QM_SIG_CLASSIC))
		return qm_error_set(err, QM_ERR_AUTH,
		                    "the signature has the wrong length");
	if (hybrid) {
		/* Both halves are always checked; either failing fails. */
		bad |= PQCLEAN_MLDSA65_CLEAN_crypto_sign_verify_ctx(
		           s, QM_MLDSA_SIGBYTES, msg, len,
		           (const uint8_t *)SIG_CTX, sizeof(SIG_CTX) - 1,
		           pk->mldsa) != 0;
		s += QM_MLDSA_SIGBYTES;
	}
	bad |= crypto_sign_verify_detached(s, msg, len, pk->ed25519) != 0;
	if (bad)
		return qm_error_set(
		    err, QM_ERR_AUTH,
		    "the signature does not verify: the message "
		    "was altered or not signed by this sender");
	return QM_OK;
}
