/* SPDX-License-Identifier: MIT */
/*
 * Opening an envelope read from a source (qm_crypto_env_parse_src) with
 * memory bounded by a chunk: the body is never held whole. A first pass
 * reads it once and checks the signature or MAC and (levels 2-4) every
 * chunk without handing out a byte; a second pass decrypts to the writer,
 * each piece checked again before it goes (its AES-GCM tag at levels 2-4,
 * at level 1 its digest from the first pass), so bytes that changed
 * between the passes are never handed out. The checks and their order are
 * the ones of open.c, so both openers refuse the same envelopes. Staged
 * (qm_crypto_env_open_staged), levels 2-4 stop after the first pass: its
 * chunks go to a writer whose bytes stay provisional until the end.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Where the second pass puts plaintext: a writer or a buffer; staged: the
 * first pass hands it to the writer (qm_crypto_env_open_staged). */
struct out {
	qm_write_fn wr;
	void *arg;
	struct qm_buf *buf;
	int staged;
};

static enum qm_err changed(struct qm_error *err)
{
	return crypto_open_tampered(err, "the envelope changed while it "
	                                 "was read");
}

/* Exactly n bytes of the source into p: fewer is a source that was cut
 * short since it was parsed. */
static enum qm_err get(const struct qm_env_src *s, unsigned char *p, size_t n,
                       struct qm_error *err)
{
	while (n) {
		size_t got = 0;
		enum qm_err rc = s->read(s->arg, p, n, &got, err);

		if (rc)
			return rc;
		if (got == 0 || got > n)
			return crypto_open_tampered(err, "the envelope was cut "
			                                 "short while it was "
			                                 "read");
		p += got;
		n -= got;
	}
	return QM_OK;
}

/* n bytes passed over (into buf, cap bytes), into the digest md if any. */
static enum qm_err skip(const struct qm_env_src *s, uint64_t n,
                        unsigned char *buf, size_t cap, EVP_MD_CTX *md,
                        struct qm_error *err)
{
	while (n) {
		size_t k = n < cap ? (size_t)n : cap;
		enum qm_err rc = get(s, buf, k, err);

		if (rc)
			return rc;
		QM_IGNORE(crypto_env_sig_update(md, buf, k));
		n -= k;
	}
	return QM_OK;
}

/* The source ends here, as it did when it was parsed. */
static enum qm_err at_end(const struct qm_env_src *s, struct qm_error *err)
{
	unsigned char b;
	size_t got = 0;
	enum qm_err rc = s->read(s->arg, &b, 1, &got, err);

	if (!rc && got)
		rc = crypto_open_tampered(err, "bytes were appended to the "
		                               "envelope while it was read");
	return rc;
}

/* From the start: the header again, which must be the one parsed. */
static enum qm_err head(const struct qm_env *e, unsigned char *buf, size_t cap,
                        EVP_MD_CTX *md, struct qm_error *err)
{
	enum qm_err rc = e->src.rewind(e->src.arg, err);

	for (size_t off = 0; !rc && off < e->hdrlen;) {
		size_t n = e->hdrlen - off < cap ? e->hdrlen - off : cap;

		rc = get(&e->src, buf, n, err);
		if (!rc && memcmp(buf, e->p + off, n) != 0)
			rc = changed(err);
		QM_IGNORE(crypto_env_sig_update(md, buf, n));
		off += n;
	}
	return rc;
}

static enum qm_err emit(const struct out *o, const unsigned char *p, size_t n,
                        struct qm_error *err)
{
	if (o->wr)
		return o->wr(o->arg, p, n, err);
	return qm_buf_append(o->buf, p, n, err);
}

static size_t pieces(uint64_t plen)
{
	return (size_t)(plen / QM_ENV_CHUNK) + 1;
}

/* Level 1: the tag over our slot's ciphertext, and the digest of each of
 * its pieces into dg (32 bytes each). */
static enum qm_err l1_check(const struct qm_env *e,
                            const struct qm_open_params *p,
                            const unsigned char ad[64], unsigned char *buf,
                            unsigned char *dg, struct qm_error *err)
{
	unsigned char idx[2] = {(unsigned char)(p->slot >> 8),
	                        (unsigned char)p->slot};
	unsigned char tags[QM_ENV_MAXSLOTS * QM_L1_TAGBYTES], t[QM_L1_TAGBYTES];
	crypto_onetimeauth_state *st;
	struct qm_keystream ks;
	unsigned char *mk;
	size_t i = 0;
	enum qm_err rc;

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
	rc = head(e, buf, QM_ENV_CHUNK, NULL, err);
	if (!rc)
		rc = skip(&e->src, e->plen * p->slot, buf, QM_ENV_CHUNK, NULL,
		          err);
	for (uint64_t pos = 0; !rc && pos < e->plen; i++) {
		size_t n = e->plen - pos < QM_ENV_CHUNK
		               ? (size_t)(e->plen - pos)
		               : QM_ENV_CHUNK;

		rc = get(&e->src, buf, n, err);
		if (rc)
			break;
		crypto_onetimeauth_update(st, buf, n);
		crypto_generichash(dg + 32 * i, 32, buf, n, NULL, 0);
		pos += n;
	}
	if (!rc)
		rc = skip(&e->src, e->plen * (e->nslots - 1 - p->slot), buf,
		          QM_ENV_CHUNK, NULL, err);
	if (!rc)
		rc = get(&e->src, tags, e->nslots * QM_L1_TAGBYTES, err);
	if (!rc)
		rc = at_end(&e->src, err);
	if (!rc) {
		crypto_onetimeauth_final(st, t);
		if (crypto_verify_16(t, tags + p->slot * QM_L1_TAGBYTES) != 0)
			rc = crypto_open_tampered(err, "the one-time MAC does "
			                               "not match");
	}
	qm_sec_free(st);
	return rc;
}

/* Level 1, second pass: each piece of our slot, the same as in the first,
 * with the pad removed. */
static enum qm_err l1_out(const struct qm_env *e,
                          const struct qm_open_params *p,
                          const unsigned char *dg, unsigned char *buf,
                          unsigned char *scratch, const struct out *o,
                          struct qm_error *err)
{
	struct qm_keystream ks;
	unsigned char d[32];
	size_t i = 0;
	enum qm_err rc;

	crypto_ks_init(&ks, p->keys, p->nkeys);
	rc = head(e, buf, QM_ENV_CHUNK, NULL, err);
	if (!rc)
		rc = skip(&e->src, e->plen * p->slot, buf, QM_ENV_CHUNK, NULL,
		          err);
	for (uint64_t pos = 0; !rc && pos < e->plen; i++) {
		size_t n = e->plen - pos < QM_ENV_CHUNK
		               ? (size_t)(e->plen - pos)
		               : QM_ENV_CHUNK;

		rc = get(&e->src, buf, n, err);
		if (rc)
			break;
		crypto_generichash(d, sizeof(d), buf, n, NULL, 0);
		if (sodium_memcmp(d, dg + 32 * i, sizeof(d)) != 0) {
			rc = changed(err);
			break;
		}
		crypto_ks_xor(&ks, scratch, buf, n);
		rc = emit(o, scratch, n, err);
		qm_wipe(scratch, n);
		pos += n;
	}
	return rc;
}

/* Levels 2-4, first pass: every chunk (when the data key is known: g),
 * the signature digest (md) and the level-2 slot MAC (mac). *bad gets the
 * first chunk that does not verify, with its error in be. With o (staged),
 * the chunks before it go to o's writer as they verify. */
static enum qm_err gcm_check(const struct qm_env *e, struct qm_gcm *g,
                             const unsigned char *prefix,
                             const unsigned char ad[64], EVP_MD_CTX *md,
                             crypto_onetimeauth_state *mac, unsigned char *buf,
                             unsigned char *scratch, unsigned char *trailer,
                             size_t tlen, const struct out *o, enum qm_err *bad,
                             struct qm_error *be, struct qm_error *err)
{
	uint64_t nc = crypto_env_nchunks(e->plen), pos = 0;
	unsigned char iv[QM_GCM_IVBYTES];
	enum qm_err rc;

	*bad = QM_OK;
	rc = head(e, buf, QM_ENV_CHUNK + QM_GCM_TAGBYTES, md, err);
	for (uint64_t i = 0; !rc && i < nc; i++) {
		size_t n = e->plen - pos < QM_ENV_CHUNK
		               ? (size_t)(e->plen - pos)
		               : QM_ENV_CHUNK;

		rc = get(&e->src, buf, n + QM_GCM_TAGBYTES, err);
		if (rc)
			break;
		QM_IGNORE(crypto_env_sig_update(md, buf, n + QM_GCM_TAGBYTES));
		if (mac)
			crypto_onetimeauth_update(mac, buf,
			                          n + QM_GCM_TAGBYTES);
		if (g && !*bad) {
			crypto_env_chunk_iv(prefix, (uint32_t)i, i + 1 == nc,
			                    iv);
			*bad = crypto_gcm_open(g, iv, ad, 64, buf, n, buf + n,
			                       scratch, be);
			if (*bad == QM_ERR_AUTH) {
				char what[80];

				snprintf(what, sizeof(what),
				         "chunk %llu of %llu does not verify",
				         (unsigned long long)i + 1,
				         (unsigned long long)nc);
				QM_IGNORE(crypto_open_tampered(be, what));
			}
			if (o && !*bad)
				rc = emit(o, scratch, n, err);
			qm_wipe(scratch, n);
		}
		pos += n;
	}
	if (!rc)
		rc = get(&e->src, trailer, tlen, err);
	if (!rc)
		rc = at_end(&e->src, err);
	return rc;
}

/* Levels 2-4, second pass: each chunk checked again and handed out. */
static enum qm_err gcm_out(const struct qm_env *e, struct qm_gcm *g,
                           const unsigned char *prefix,
                           const unsigned char ad[64], unsigned char *buf,
                           unsigned char *scratch, const struct out *o,
                           struct qm_error *err)
{
	uint64_t nc = crypto_env_nchunks(e->plen), pos = 0;
	unsigned char iv[QM_GCM_IVBYTES];
	enum qm_err rc;

	rc = head(e, buf, QM_ENV_CHUNK + QM_GCM_TAGBYTES, NULL, err);
	for (uint64_t i = 0; !rc && i < nc; i++) {
		size_t n = e->plen - pos < QM_ENV_CHUNK
		               ? (size_t)(e->plen - pos)
		               : QM_ENV_CHUNK;

		rc = get(&e->src, buf, n + QM_GCM_TAGBYTES, err);
		if (rc)
			break;
		crypto_env_chunk_iv(prefix, (uint32_t)i, i + 1 == nc, iv);
		rc = crypto_gcm_open(g, iv, ad, 64, buf, n, buf + n, scratch,
		                     err);
		if (rc == QM_ERR_AUTH)
			rc = changed(err);
		if (!rc)
			rc = emit(o, scratch, n, err);
		qm_wipe(scratch, n);
		pos += n;
	}
	return rc;
}

/* The trailer of levels 2-4 once the body was read: the signature (3, 4)
 * over the digest md, or our slot's MAC (level 2 with several slots). */
static enum qm_err trailer_check(const struct qm_env *e,
                                 const struct qm_open_params *p,
                                 EVP_MD_CTX **md, crypto_onetimeauth_state *mac,
                                 const unsigned char *t, struct qm_error *err)
{
	unsigned char dg[32], tag[QM_L1_TAGBYTES];

	if (e->sig_len) {
		void *m = *md;

		crypto_env_sig_end(&m, dg);
		*md = NULL;
		if ((size_t)((t[0] << 8) | t[1]) != e->sig_len)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "the signature length field is "
			                    "wrong");
		if (qm_crypto_pubid_verify(p->sender, e->level == 3, dg,
		                           sizeof(dg), t + 2, e->sig_len, err))
			return crypto_open_tampered(
			    err, e->level == 3 ? "the ML-DSA-65 + Ed25519 "
			                         "signature does not verify"
			                       : "the Ed25519 signature does "
			                         "not verify");
	}
	if (mac) {
		crypto_onetimeauth_final(mac, tag);
		if (crypto_verify_16(tag, t + p->slot * QM_L1_TAGBYTES) != 0)
			return crypto_open_tampered(err, "this recipient's MAC "
			                                 "does not match");
	}
	return QM_OK;
}

/* Levels 2-4. */
static enum qm_err open_gcm(const struct qm_env *e,
                            const struct qm_open_params *p,
                            const unsigned char ad[64], unsigned char *buf,
                            unsigned char *scratch, const struct out *o,
                            struct qm_error *err)
{
	size_t tlen = e->sig_len ? 2 + e->sig_len
	                         : crypto_env_slot_tags(e->level, e->nslots);
	unsigned char *w = NULL, *t = NULL; /* w: secure, QM_WORKBYTES */
	crypto_onetimeauth_state *mac = NULL;
	EVP_MD_CTX *md = NULL;
	struct qm_gcm *g = NULL;
	struct qm_error kerr, berr;
	enum qm_err rc, krc, bad = QM_OK;

	qm_error_clear(&kerr);
	qm_error_clear(&berr);
	w = qm_sec_alloc(QM_WORKBYTES);
	t = malloc(tlen ? tlen : 1);
	if (!w || !t) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (e->sig_len && !(md = crypto_env_sig_begin(ad + 32))) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (e->level == 2 && e->nslots > 1) {
		mac = qm_sec_alloc(sizeof(*mac));
		if (!mac) {
			rc = qm_error_set(err, QM_ERR_NOMEM,
			                  "out of secure memory");
			goto out;
		}
		rc = crypto_env_l2_mac_init(&p->keys[0], e->salt,
		                            (uint16_t)p->slot, ad, mac, err);
		if (rc)
			goto out;
	}
	/* the data key first, so that one pass checks the chunks too; a
	 * failure is told after the signature and MAC, as open.c does */
	krc = crypto_open_cek(e, p, ad + 32, w + QM_WORK_CEK, w + QM_WORK_SS,
	                      &kerr);
	if (!krc)
		krc = crypto_env_data_key(w + QM_WORK_CEK, e->salt, e->level,
		                          w + QM_WORK_DK, &kerr);
	if (!krc)
		krc = crypto_gcm_new(w + QM_WORK_DK, 0, &g, &kerr);
	rc = gcm_check(e, g, w + QM_WORK_DK + 32, ad, md, mac, buf, scratch, t,
	               tlen, o->staged ? o : NULL, &bad, &berr, err);
	if (!rc)
		rc = trailer_check(e, p, &md, mac, t, err);
	if (!rc && (krc || bad)) {
		if (err)
			*err = krc ? kerr : berr;
		rc = krc ? krc : bad;
	}
	if (!rc && !o->staged)
		rc = gcm_out(e, g, w + QM_WORK_DK + 32, ad, buf, scratch, o,
		             err);
out:
	if (md) { /* an unfinished digest */
		unsigned char junk[32];

		void *m = md;

		crypto_env_sig_end(&m, junk);
	}
	crypto_gcm_free(&g);
	qm_sec_free(mac);
	qm_sec_free(w);
	free(t);
	return rc;
}

enum qm_err crypto_open_src(const struct qm_env *e,
                            const struct qm_open_params *p, uint64_t max,
                            qm_write_fn wr, void *arg, struct qm_buf *buf,
                            int staged, struct qm_error *err)
{
	struct out o = {wr, arg, buf, staged && wr};
	unsigned char ad[64], fpr[QM_FPR_BYTES];
	unsigned char *cbuf = NULL, *scratch = NULL, *dg = NULL;
	char ft[QM_FPR_TEXTLEN];
	enum qm_err rc;

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
		qm_crypto_pubid_fingerprint(p->sender, fpr);
		if (memcmp(fpr, e->sender_fpr, QM_FPR_BYTES) != 0) {
			qm_crypto_fpr_text(e->sender_fpr, ft);
			return qm_error_set(err, QM_ERR_AUTH,
			                    "the message says it was signed by "
			                    "key %s, which is not the sender "
			                    "key given",
			                    ft);
		}
	}
	cbuf = malloc(QM_ENV_CHUNK + QM_GCM_TAGBYTES);
	scratch = qm_sec_alloc(QM_ENV_CHUNK);
	if (e->level == 1)
		dg = malloc(32 * pieces(e->plen));
	if (!cbuf || !scratch || (e->level == 1 && !dg)) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (buf) {
		rc = qm_buf_reserve(buf, (size_t)e->plen, err);
		if (rc)
			goto out;
	}
	if (e->level == 1) {
		rc = l1_check(e, p, ad, cbuf, dg, err);
		if (!rc)
			rc = l1_out(e, p, dg, cbuf, scratch, &o, err);
	} else {
		rc = open_gcm(e, p, ad, cbuf, scratch, &o, err);
	}
out:
	if (rc && buf) {
		if (buf->data)
			qm_wipe(buf->data, buf->cap);
		qm_buf_reset(buf);
	}
	free(dg);
	qm_sec_free(scratch);
	free(cbuf);
	return rc;
}
