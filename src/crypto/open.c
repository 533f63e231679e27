/* SPDX-License-Identifier: MIT */
/*
 * Opening: a parsed envelope, the keys its slot names (or our identity and
 * the sender's public identity) and the header values as received, to the
 * plaintext. Every check runs before plaintext leaves: into a buffer that
 * is wiped on any failure, or to a writer only after a verifying pass.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Where plaintext goes: a buffer, a writer, or nowhere (verify only). */
struct sink {
	struct qm_buf *buf;
	qm_write_fn wr;
	void *arg;
	unsigned char *scratch; /* secure, QM_ENV_CHUNK bytes */
};

enum qm_err crypto_open_tampered(struct qm_error *err, const char *what)
{
	return qm_error_set(err, QM_ERR_AUTH,
	                    "the message was altered or is not for these keys "
	                    "(%s); no text is shown",
	                    what);
}

/* Level 1. With sk == NULL only the tag is checked; with a buffer the
 * pad is removed in the same pass and wiped if the tag is wrong. */
static enum qm_err pass_l1(const struct qm_env *e,
                           const struct qm_open_params *p,
                           const unsigned char ad[64], struct sink *sk,
                           struct qm_error *err)
{
	const unsigned char *ct = e->p + e->hdrlen + p->slot * e->plen;
	const unsigned char *tag =
	    e->p + e->trailer_off + p->slot * QM_L1_TAGBYTES;
	unsigned char idx[2] = {(unsigned char)(p->slot >> 8),
	                        (unsigned char)p->slot};
	crypto_onetimeauth_state *st;
	struct qm_keystream ks;
	unsigned char *mk, t[QM_L1_TAGBYTES];
	enum qm_err rc = QM_OK;

	st = qm_sec_alloc(sizeof(*st) + QM_L1_MACKEYBYTES);
	if (!st)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	mk = (unsigned char *)(st + 1);
	crypto_ks_init(&ks, p->keys, p->nkeys);
	crypto_ks_skip(&ks, e->plen);
	crypto_ks_copy(&ks, mk, QM_L1_MACKEYBYTES);
	crypto_onetimeauth_init(st, mk);
	crypto_onetimeauth_update(st, ad, 64);
	crypto_onetimeauth_update(st, idx, 2);
	crypto_ks_init(&ks, p->keys, p->nkeys);
	for (uint64_t pos = 0; pos < e->plen;) {
		size_t n = e->plen - pos < QM_ENV_CHUNK
		               ? (size_t)(e->plen - pos)
		               : QM_ENV_CHUNK;
		if (!sk || sk->buf)
			crypto_onetimeauth_update(st, ct + pos, n);
		if (sk && sk->buf) {
			crypto_ks_xor(&ks, sk->buf->data + pos, ct + pos, n);
		} else if (sk) {
			crypto_ks_xor(&ks, sk->scratch, ct + pos, n);
			rc = sk->wr(sk->arg, sk->scratch, n, err);
			qm_wipe(sk->scratch, n);
			if (rc)
				goto out;
		}
		pos += n;
	}
	if (!sk || sk->buf) {
		crypto_onetimeauth_final(st, t);
		if (crypto_verify_16(t, tag) != 0) {
			if (sk)
				qm_wipe(sk->buf->data, (size_t)e->plen);
			rc = crypto_open_tampered(
			    err, "the one-time MAC does not match");
		}
	}
out:
	qm_sec_free(st);
	return rc;
}

/* Levels 2-4: the STREAM chunks. sk == NULL verifies only. */
static enum qm_err pass_gcm(const struct qm_env *e, struct qm_gcm *g,
                            const unsigned char prefix[QM_NONCE_PREFIX],
                            const unsigned char ad[64], struct sink *sk,
                            unsigned char *scratch, struct qm_error *err)
{
	const unsigned char *c = e->p + e->hdrlen;
	uint64_t nc = crypto_env_nchunks(e->plen), pos = 0;
	unsigned char iv[QM_GCM_IVBYTES];
	enum qm_err rc = QM_OK;

	for (uint64_t i = 0; i < nc; i++) {
		size_t n = e->plen - pos < QM_ENV_CHUNK
		               ? (size_t)(e->plen - pos)
		               : QM_ENV_CHUNK;
		unsigned char *dst =
		    sk && sk->buf ? sk->buf->data + pos : scratch;

		crypto_env_chunk_iv(prefix, (uint32_t)i, i + 1 == nc, iv);
		rc = crypto_gcm_open(g, iv, ad, 64, c, n, c + n, dst, err);
		if (rc) {
			if (rc == QM_ERR_AUTH) {
				char what[80];
				snprintf(what, sizeof(what),
				         "chunk %llu of %llu does not verify",
				         (unsigned long long)i + 1,
				         (unsigned long long)nc);
				QM_IGNORE(crypto_open_tampered(err, what));
			}
			if (sk && sk->buf)
				qm_wipe(sk->buf->data, (size_t)pos);
			return rc;
		}
		if (sk && sk->wr) {
			rc = sk->wr(sk->arg, scratch, n, err);
			qm_wipe(scratch, n);
			if (rc)
				return rc;
		}
		c += n + QM_GCM_TAGBYTES;
		pos += n;
	}
	return rc;
}

/* The content key of our slot (levels 2-4) into cek. */
enum qm_err crypto_open_cek(const struct qm_env *e,
                            const struct qm_open_params *p,
                            const unsigned char bh[32], unsigned char *cek,
                            unsigned char *ss, struct qm_error *err)
{
	const struct qm_envslot *s = &e->slots[p->slot];
	unsigned char ctx[2 * QM_X25519_BYTES];
	uint16_t j = (uint16_t)p->slot;
	enum qm_err rc;

	/* ss: the shared secret, then the KEK (64 secure bytes). */
	if (e->level == 2) {
		rc = crypto_env_kek(2, p->keys[0].key, p->keys[0].len, e->salt,
		                    j, s->keyids[0], strlen(s->keyids[0]),
		                    ss + 32, err);
	} else if (e->level == 3) {
		rc = crypto_hybrid_decap(p->self, s->kem, ss, err);
		if (!rc)
			rc = crypto_env_kek(3, ss, 32, e->salt, j, s->rcpt_raw,
			                    QM_FPR_BYTES, ss + 32, err);
	} else {
		rc = crypto_x25519_decap(p->self, s->kem, ss, err);
		memcpy(ctx, s->kem, QM_X25519_BYTES);
		memcpy(ctx + 32, p->self->pub.x25519, QM_X25519_BYTES);
		if (!rc)
			rc = crypto_env_kek(4, ss, 32, e->salt, j, ctx,
			                    sizeof(ctx), ss + 32, err);
	}
	if (!rc)
		rc = crypto_env_unwrap(ss + 32, bh, e->level, j, s->wrap, cek,
		                       err);
	qm_wipe(ss, 64);
	return rc;
}

/* Checks the caller's keys or identities against the slot. */
enum qm_err crypto_open_check(const struct qm_env *e,
                              const struct qm_open_params *p,
                              struct qm_error *err)
{
	const struct qm_envslot *s;
	unsigned char fpr[QM_FPR_BYTES];

	if (!p || !p->bound)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "opening needs parameters and the header "
		                    "values as received");
	if (p->slot >= e->nslots)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "slot %zu does not exist (the message has "
		                    "%zu)",
		                    p->slot + 1, e->nslots);
	s = &e->slots[p->slot];
	if (p->bound->sender_sae &&
	    strcmp(p->bound->sender_sae, e->sender_sae) != 0)
		return qm_error_set(err, QM_ERR_AUTH,
		                    "the sender SAE ID in the headers (\"%s\") "
		                    "differs from the one in the envelope "
		                    "(\"%s\"): the headers were altered",
		                    p->bound->sender_sae, e->sender_sae);
	if (e->level <= 2) {
		if (p->nkeys != s->nkeys || !p->keys)
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "the message's slot names %zu keys, "
			    "%zu were given",
			    s->nkeys, p->nkeys);
		for (size_t k = 0; k < s->nkeys; k++)
			if (!p->keys[k].key_id ||
			    strcmp(p->keys[k].key_id, s->keyids[k]) != 0)
				return qm_error_set(
				    err, QM_ERR_INVAL,
				    "key %zu given is \"%s\", the "
				    "message needs \"%s\" there",
				    k + 1,
				    p->keys[k].key_id ? p->keys[k].key_id
				                      : "(none)",
				    s->keyids[k]);
		if (e->level == 1)
			return crypto_l1_check_keys(p->keys, p->nkeys, e->plen,
			                            "this message", err);
		if (!p->keys[0].key || p->keys[0].len != QM_L2_KEYBYTES)
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "level 2 needs a %d-bit key, key %s "
			    "has %zu bytes",
			    QM_L2_KEYBYTES * 8, s->keyids[0], p->keys[0].len);
		return QM_OK;
	}
	if (!p->self || !p->sender)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "level %d needs our identity and the "
		                    "sender's public key",
		                    e->level);
	qm_crypto_pubid_fingerprint(&p->self->pub, fpr);
	if (memcmp(fpr, s->rcpt_raw, QM_FPR_BYTES) != 0)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "slot %zu is for the key %s, not ours",
		                    p->slot + 1, s->rcpt);
	return QM_OK;
}

/* The signature of levels 3 and 4, checked before anything else. */
static enum qm_err check_sig(const struct qm_env *e,
                             const struct qm_open_params *p,
                             const unsigned char bh[32], struct qm_error *err)
{
	unsigned char fpr[QM_FPR_BYTES], dg[32];
	char ft[QM_FPR_TEXTLEN];

	qm_crypto_pubid_fingerprint(p->sender, fpr);
	if (memcmp(fpr, e->sender_fpr, QM_FPR_BYTES) != 0) {
		qm_crypto_fpr_text(e->sender_fpr, ft);
		return qm_error_set(err, QM_ERR_AUTH,
		                    "the message says it was signed by key %s, "
		                    "which is not the sender key given",
		                    ft);
	}
	crypto_env_sig_digest(bh, e->p, e->trailer_off, dg);
	if (qm_crypto_pubid_verify(p->sender, e->level == 3, dg, sizeof(dg),
	                           e->p + e->trailer_off + 2, e->sig_len, err))
		return crypto_open_tampered(
		    err, e->level == 3 ? "the ML-DSA-65 + Ed25519 "
		                         "signature does not verify"
		                       : "the Ed25519 signature does not "
		                         "verify");
	return QM_OK;
}

static enum qm_err open_any(const struct qm_env *e,
                            const struct qm_open_params *p, uint64_t max,
                            struct sink *sk, struct qm_error *err)
{
	unsigned char ad[64];
	unsigned char *w = NULL; /* secure: QM_WORKBYTES */
	struct qm_gcm *g = NULL;
	enum qm_err rc;

	if (!e)
		return qm_error_set(err, QM_ERR_INVAL, "no envelope");
	rc = crypto_open_check(e, p, err);
	if (rc)
		return rc;
	if (e->plen > max)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the message has %llu bytes of text, more "
		                    "than the limit of %llu",
		                    (unsigned long long)e->plen,
		                    (unsigned long long)max);
	memcpy(ad, e->hh, 32);
	rc = crypto_env_bound_hash(p->bound, e->version, e->level,
	                           e->sender_sae, ad + 32, err);
	if (rc)
		return rc;
	if (e->level >= 3) {
		rc = check_sig(e, p, ad + 32, err);
		if (rc)
			return rc;
	}
	if (sk->buf) {
		rc = qm_buf_reserve(sk->buf, (size_t)e->plen, err);
		if (rc)
			return rc;
	}
	if (e->level == 1) {
		if (sk->wr) {
			rc = pass_l1(e, p, ad, NULL, err);
			if (rc)
				return rc;
		}
		rc = pass_l1(e, p, ad, sk, err);
		goto done;
	}
	if (e->level == 2 && e->nslots > 1) {
		unsigned char t[QM_L1_TAGBYTES];

		rc = crypto_env_l2_mac(&p->keys[0], e->salt, (uint16_t)p->slot,
		                       ad, e->p + e->hdrlen, e->body_len, t,
		                       err);
		if (rc)
			return rc;
		if (crypto_verify_16(t, e->p + e->trailer_off +
		                            p->slot * QM_L1_TAGBYTES) != 0)
			return crypto_open_tampered(
			    err, "this recipient's MAC does not "
			         "match");
	}
	w = qm_sec_alloc(QM_WORKBYTES);
	if (!w)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	rc = crypto_open_cek(e, p, ad + 32, w + QM_WORK_CEK, w + QM_WORK_SS,
	                     err);
	if (!rc)
		rc = crypto_env_data_key(w + QM_WORK_CEK, e->salt, e->level,
		                         w + QM_WORK_DK, err);
	if (!rc)
		rc = crypto_gcm_new(w + QM_WORK_DK, 0, &g, err);
	if (!rc && sk->wr)
		rc = pass_gcm(e, g, w + QM_WORK_DK + 32, ad, NULL, sk->scratch,
		              err);
	if (!rc)
		rc = pass_gcm(e, g, w + QM_WORK_DK + 32, ad, sk, sk->scratch,
		              err);
	crypto_gcm_free(&g);
	qm_sec_free(w);
done:
	if (!rc && sk->buf) {
		sk->buf->len = (size_t)e->plen;
		sk->buf->data[sk->buf->len] = '\0';
	}
	return rc;
}

enum qm_err qm_crypto_env_open(const struct qm_env *e,
                               const struct qm_open_params *p,
                               struct qm_buf *out, struct qm_error *err)
{
	struct sink sk = {0};
	enum qm_err rc;

	if (!out || out->len != 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the output buffer must be empty");
	if (e && e->from_src) {
		rc = crypto_open_src(e, p, out->max, NULL, NULL, out, 0, err);
		goto done;
	}
	sk.buf = out; /* decrypts in place: no scratch needed */
	rc = open_any(e, p, out->max, &sk, err);
done:
	if (rc) {
		if (out->data)
			qm_wipe(out->data, out->cap);
		qm_buf_reset(out);
	}
	return rc;
}

static enum qm_err open_stream(const struct qm_env *e,
                               const struct qm_open_params *p, uint64_t max,
                               qm_write_fn wr, void *arg, int staged,
                               struct qm_error *err)
{
	struct sink sk = {0};
	enum qm_err rc;

	if (!wr)
		return qm_error_set(err, QM_ERR_INVAL, "no plaintext writer");
	if (e && e->from_src)
		return crypto_open_src(e, p, max, wr, arg, NULL, staged, err);
	sk.wr = wr;
	sk.arg = arg;
	sk.scratch = qm_sec_alloc(QM_ENV_CHUNK);
	if (!sk.scratch)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	rc = open_any(e, p, max, &sk, err);
	qm_sec_free(sk.scratch);
	return rc;
}

enum qm_err qm_crypto_env_open_stream(const struct qm_env *e,
                                      const struct qm_open_params *p,
                                      uint64_t max, qm_write_fn wr, void *arg,
                                      struct qm_error *err)
{
	return open_stream(e, p, max, wr, arg, 0, err);
}

enum qm_err qm_crypto_env_open_staged(const struct qm_env *e,
                                      const struct qm_open_params *p,
                                      uint64_t max, qm_write_fn wr, void *arg,
                                      struct qm_error *err)
{
	return open_stream(e, p, max, wr, arg, 1, err);
}
