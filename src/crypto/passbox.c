/* SPDX-License-Identifier: MIT */
/*
 * A box under a passphrase (docs/CRYPTO.md "Key backups"): Argon2id
 * derives a 256-bit key from the passphrase and a random salt, and
 * XChaCha20-Poly1305 seals the content under it with the caller's
 * associated data. The box records the Argon2id cost it was made with, so
 * that a box stays readable when the default cost grows; opening refuses a
 * cost past fixed bounds (a hostile file must not make the reader spend
 * gigabytes). Layout: "QMPB" 1, ops (u32 BE), mem in KiB (u32 BE), salt
 * (16), nonce (24), ciphertext with its 16-byte tag.
 */
#include "crypto.h"

#include <string.h>

#include <sodium.h>

#define MAGIC       "QMPB"
#define VERSION     1
#define HEAD        (4 + 1 + 4 + 4)
#define SALTBYTES   crypto_pwhash_SALTBYTES
#define NONCEBYTES  crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAGBYTES    crypto_aead_xchacha20poly1305_ietf_ABYTES
#define KEYBYTES    crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define OPS_MAX     64u
#define MEM_MAX_KIB (4u * 1024 * 1024) /* 4 GiB */

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static enum qm_err derive(const char *pass, size_t plen,
                          const unsigned char *salt, uint32_t ops,
                          uint32_t mem_kib, unsigned char **key,
                          struct qm_error *err)
{
	unsigned char *k = qm_sec_alloc(KEYBYTES);

	*key = NULL;
	if (!k)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "no secure memory for the backup key");
	if (crypto_pwhash(k, KEYBYTES, pass, plen, salt, ops,
	                  (size_t)mem_kib * 1024,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		qm_sec_free(k);
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "Argon2id needs %u MiB of memory and could "
		                    "not get it",
		                    mem_kib >> 10);
	}
	*key = k;
	return QM_OK;
}

enum qm_err qm_crypto_passbox_seal(const char *pass, size_t plen, uint64_t ops,
                                   uint64_t mem, const void *ad, size_t adlen,
                                   const void *pt, size_t n, struct qm_buf *out,
                                   struct qm_error *err)
{
	unsigned char head[HEAD + SALTBYTES + NONCEBYTES];
	unsigned char *key = NULL, *ct;
	size_t at = out->len;
	enum qm_err rc;

	if (ops < crypto_pwhash_argon2id_OPSLIMIT_MIN || ops > OPS_MAX ||
	    mem < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
	    mem / 1024 > MEM_MAX_KIB)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "Argon2id cost out of bounds");
	memcpy(head, MAGIC, 4);
	head[4] = VERSION;
	put32(head + 5, (uint32_t)ops);
	put32(head + 9, (uint32_t)(mem / 1024));
	randombytes_buf(head + HEAD, SALTBYTES + NONCEBYTES);
	rc = derive(pass, plen, head + HEAD, (uint32_t)ops,
	            (uint32_t)(mem / 1024), &key, err);
	if (!rc)
		rc = qm_buf_append(out, head, sizeof(head), err);
	if (!rc)
		rc = qm_buf_reserve(out, n + TAGBYTES, err);
	if (!rc) {
		ct = out->data + out->len;
		/* a changed cost, salt or nonce gives another key or
		 * stream: the tag fails as for a changed byte */
		crypto_aead_xchacha20poly1305_ietf_encrypt(
		    ct, NULL, pt, n, ad, adlen, NULL, head + HEAD + SALTBYTES,
		    key);
		out->len += n + TAGBYTES;
	}
	qm_sec_free(key);
	if (rc)
		out->len = at;
	return rc;
}

enum qm_err qm_crypto_passbox_open(const char *pass, size_t plen,
                                   const void *ad, size_t adlen,
                                   const void *box, size_t n,
                                   struct qm_buf *out, struct qm_error *err)
{
	const unsigned char *b = box;
	unsigned char *key = NULL;
	uint32_t ops, mem_kib;
	size_t ctlen;
	enum qm_err rc;

	if (!out->secure)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "a key backup opens into secure memory only");
	if (n < HEAD + SALTBYTES + NONCEBYTES + TAGBYTES ||
	    memcmp(b, MAGIC, 4) != 0)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "not a QMail key backup (or cut short)");
	if (b[4] != VERSION)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "a key backup of version %u, which this "
		                    "QMail does not read",
		                    b[4]);
	ops = get32(b + 5);
	mem_kib = get32(b + 9);
	if (ops < crypto_pwhash_argon2id_OPSLIMIT_MIN || ops > OPS_MAX ||
	    (uint64_t)mem_kib * 1024 < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
	    mem_kib > MEM_MAX_KIB)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "the key backup asks for an Argon2id cost "
		                    "out of bounds (%u passes, %u MiB)",
		                    ops, mem_kib >> 10);
	ctlen = n - HEAD - SALTBYTES - NONCEBYTES;
	rc = derive(pass, plen, b + HEAD, ops, mem_kib, &key, err);
	if (!rc)
		rc = qm_buf_reserve(out, ctlen - TAGBYTES, err);
	if (!rc && crypto_aead_xchacha20poly1305_ietf_decrypt(
	               out->data + out->len, NULL, NULL,
	               b + HEAD + SALTBYTES + NONCEBYTES, ctlen, ad, adlen,
	               b + HEAD + SALTBYTES, key) != 0)
		rc =
		    qm_error_set(err, QM_ERR_AUTH,
		                 "the recovery passphrase is wrong, or the key "
		                 "backup was changed");
	if (!rc)
		out->len += ctlen - TAGBYTES;
	qm_sec_free(key);
	return rc;
}
