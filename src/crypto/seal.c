/* SPDX-License-Identifier: MIT */
/*
 * Sealing: plaintext (a buffer or a reader) to an envelope at any of the
 * four levels. The envelope's size is known before the first byte is
 * encrypted, so the output is reserved once and written in place; the
 * plaintext passes through in chunks of QM_ENV_CHUNK bytes.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Where the plaintext comes from. */
struct src {
	const unsigned char *buf; /* whole plaintext, or NULL */
	qm_read_fn rd;
	void *arg;
	unsigned char *scratch; /* secure, QM_ENV_CHUNK bytes, for rd */
	uint64_t pos;
	uint64_t len;
};

/* Points *p at the next n plaintext bytes (n <= QM_ENV_CHUNK). */
static enum qm_err src_next(struct src *s, size_t n, const unsigned char **p,
                            struct qm_error *err)
{
	size_t have = 0, got;
	enum qm_err rc;

	if (s->buf) {
		*p = s->buf + s->pos;
		s->pos += n;
		return QM_OK;
	}
	while (have < n) {
		got = 0;
		rc = s->rd(s->arg, s->scratch + have, n - have, &got, err);
		if (rc)
			return rc;
		if (got == 0 || got > n - have)
			return qm_error_set(err, QM_ERR_IO,
			                    "the plaintext ended after %llu of "
			                    "%llu bytes",
			                    (unsigned long long)(s->pos + have),
			                    (unsigned long long)s->len);
		have += got;
	}
	s->pos += n;
	*p = s->scratch;
	return QM_OK;
}

/* Where a streamed envelope goes: each piece to wr, counted against max,
 * hashed for the signature (dg) and, for the body, into each slot's MAC
 * (level 2 with several slots). */
struct sink {
	qm_write_fn wr;
	void *arg;
	void *dg;
	crypto_onetimeauth_state *macs; /* secure, nmacs of them, or NULL */
	size_t nmacs;
	uint64_t n, max;
	unsigned char *chunk; /* one sealed chunk: QM_ENV_CHUNK + tag */
};

static enum qm_err sink_put(struct sink *k, const void *p, size_t n, int body,
                            struct qm_error *err)
{
	if (n > k->max - k->n)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the envelope would pass the limit of %llu "
		                    "bytes",
		                    (unsigned long long)k->max);
	if (k->dg && crypto_env_sig_update(k->dg, p, n))
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "out of memory (signature digest)");
	for (size_t j = 0; body && j < k->nmacs; j++)
		crypto_onetimeauth_update(&k->macs[j], p, n);
	k->n += n;
	return k->wr(k->arg, p, n, err);
}

/* Per-slot material computed before the header is written. */
struct slotout {
	unsigned char rcpt[QM_FPR_BYTES];
	unsigned char kem[QM_L3_KEMBYTES];
	size_t kemlen;
	unsigned char wrap[QM_WRAPBYTES];
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks the level-1/2 slots: labels, keys, no key ID used twice. */
static enum qm_err check_qslots(const struct qm_seal_params *p, uint64_t plen,
                                struct qm_error *err)
{
	const char **ids = NULL;
	size_t nids = 0, cap = 0;
	char who[80];
	enum qm_err rc = QM_OK;

	if (!p->slots || p->nslots == 0 || p->nslots > QM_ENV_MAXSLOTS)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "level %d needs 1 to %d recipient slots with "
		    "QKD keys",
		    p->level, QM_ENV_MAXSLOTS);
	for (size_t i = 0; i < p->nslots; i++) {
		const struct qm_qslot *s = &p->slots[i];

		if (!crypto_label_ok(s->rcpt, QM_LABEL_MAX, 1) ||
		    (s->rcpt[0] == '\0' && p->nslots > 1))
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "slot %zu: the recipient label must "
			    "be printable ASCII up to %d bytes "
			    "(empty only for a single shared "
			    "slot)",
			    i + 1, QM_LABEL_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->slots[j].rcpt, s->rcpt) == 0)
				return qm_error_set(err, QM_ERR_INVAL,
				                    "two slots for recipient "
				                    "\"%s\"",
				                    s->rcpt);
		snprintf(who, sizeof(who), "recipient %zu", i + 1);
		if (p->level == 1) {
			rc = crypto_l1_check_keys(s->keys, s->nkeys, plen, who,
			                          err);
			if (rc)
				return rc;
		} else if (s->nkeys != 1 || !s->keys ||
		           !crypto_keyid_ok(s->keys[0].key_id) ||
		           !s->keys[0].key ||
		           s->keys[0].len != QM_L2_KEYBYTES) {
			return qm_error_set(err, QM_ERR_INVAL,
			                    "%s: level 2 needs exactly one QKD "
			                    "key of %d bits with a well-formed "
			                    "key ID",
			                    who, QM_L2_KEYBYTES * 8);
		}
		cap += s->nkeys;
	}
	ids = calloc(cap, sizeof(*ids));
	if (!ids)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->nslots; i++)
		for (size_t k = 0; k < p->slots[i].nkeys; k++)
			ids[nids++] = p->slots[i].keys[k].key_id;
	qsort(ids, nids, sizeof(*ids), cmp_str);
	for (size_t i = 1; i < nids; i++) {
		if (strcmp(ids[i - 1], ids[i]) == 0) {
			rc = qm_error_set(
			    err, QM_ERR_INVAL,
			    "key %s is given twice: a QKD key is "
			    "used for one slot of one message only",
			    ids[i]);
			break;
		}
	}
	free(ids);
	return rc;
}

static enum qm_err check_params(const struct qm_seal_params *p, uint64_t plen,
                                const char **sae, struct qm_error *err)
{
	if (!p || !p->bound)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "sealing needs parameters and the bound "
		                    "header values");
	*sae = p->bound->sender_sae ? p->bound->sender_sae : "";
	if (!crypto_label_ok(*sae, QM_LABEL_MAX, 1))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the sender SAE ID must be printable ASCII "
		                    "up to %d bytes",
		                    QM_LABEL_MAX);
	switch (p->level) {
	case 1:
	case 2:
		if ((*sae)[0] == '\0')
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "level %d needs the sender SAE ID "
			    "(the receiver fetches its keys with "
			    "it)",
			    p->level);
		return check_qslots(p, plen, err);
	case 3:
	case 4:
		if (!p->sender || !p->rcpts || p->nrcpts == 0 ||
		    p->nrcpts > QM_ENV_MAXSLOTS)
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "level %d needs the sender identity "
			    "and 1 to %d recipient public keys",
			    p->level, QM_ENV_MAXSLOTS);
		for (size_t i = 0; i < p->nrcpts; i++)
			if (!p->rcpts[i])
				return qm_error_set(
				    err, QM_ERR_INVAL,
				    "recipient %zu has no public "
				    "key",
				    i + 1);
		return QM_OK;
	default:
		return qm_error_set(err, QM_ERR_INVAL,
		                    "security level %d does not exist (1 to 4)",
		                    p->level);
	}
}

/* Key encapsulation and content-key wrap for every slot (levels 2-4). */
static enum qm_err make_slots(const struct qm_seal_params *p,
                              const unsigned char *salt,
                              const unsigned char bh[32],
                              const unsigned char *cek, struct slotout *so,
                              size_t nslots, unsigned char *ss,
                              struct qm_error *err)
{
	unsigned char ctx[2 * QM_X25519_BYTES];
	enum qm_err rc = QM_OK;

	/* ss: the shared secret, then the KEK (64 secure bytes). */
	for (size_t i = 0; !rc && i < nslots; i++) {
		uint16_t j = (uint16_t)i;

		if (p->level == 2) {
			const struct qm_qkey *k = &p->slots[i].keys[0];
			rc = crypto_env_kek(2, k->key, k->len, salt, j,
			                    k->key_id, strlen(k->key_id),
			                    ss + 32, err);
		} else if (p->level == 3) {
			qm_crypto_pubid_fingerprint(p->rcpts[i], so[i].rcpt);
			so[i].kemlen = QM_L3_KEMBYTES;
			rc = crypto_hybrid_encap(p->rcpts[i], so[i].kem, ss,
			                         err);
			if (!rc)
				rc = crypto_env_kek(3, ss, 32, salt, j,
				                    so[i].rcpt, QM_FPR_BYTES,
				                    ss + 32, err);
		} else {
			qm_crypto_pubid_fingerprint(p->rcpts[i], so[i].rcpt);
			so[i].kemlen = QM_L4_KEMBYTES;
			rc = crypto_x25519_encap(p->rcpts[i], so[i].kem, ss,
			                         err);
			memcpy(ctx, so[i].kem, QM_X25519_BYTES);
			memcpy(ctx + 32, p->rcpts[i]->x25519, QM_X25519_BYTES);
			if (!rc)
				rc = crypto_env_kek(4, ss, 32, salt, j, ctx,
				                    sizeof(ctx), ss + 32, err);
		}
		if (!rc)
			rc = crypto_env_wrap(ss + 32, bh, p->level, j, cek,
			                     so[i].wrap, err);
		for (size_t k = 0; !rc && p->level >= 3 && k < i; k++)
			if (memcmp(so[k].rcpt, so[i].rcpt, QM_FPR_BYTES) == 0)
				rc = qm_error_set(
				    err, QM_ERR_INVAL,
				    "recipients %zu and %zu have the "
				    "same public key",
				    k + 1, i + 1);
	}
	qm_wipe(ss, 64);
	return rc;
}

/* Appends the header. */
static enum qm_err put_header(const struct qm_seal_params *p, uint64_t plen,
                              const unsigned char *salt, const char *sae,
                              const struct slotout *so, size_t nslots,
                              struct qm_buf *out, struct qm_error *err)
{
	unsigned char fpr[QM_FPR_BYTES];
	size_t sl = strlen(sae);
	enum qm_err rc;

	rc = qm_buf_append(out, "QMEV", 4, err);
	if (!rc)
		rc = qm_buf_append_byte(out, QM_ENV_VERSION, err);
	if (!rc)
		rc = qm_buf_append_byte(out, (unsigned char)p->level, err);
	if (!rc)
		rc = qm_buf_append_u16(out, 0, err);
	if (!rc)
		rc = qm_buf_append_u32(out, p->level == 1 ? 0 : QM_ENV_CHUNK,
		                       err);
	if (!rc)
		rc = qm_buf_append_u64(out, plen, err);
	if (!rc)
		rc = qm_buf_append(out, salt, QM_SALTBYTES, err);
	if (!rc)
		rc = qm_buf_append_byte(out, (unsigned char)sl, err);
	if (!rc)
		rc = qm_buf_append(out, sae, sl, err);
	if (!rc && p->level >= 3) {
		qm_crypto_pubid_fingerprint(&p->sender->pub, fpr);
		rc = qm_buf_append_byte(out, QM_FPR_BYTES, err);
		if (!rc)
			rc = qm_buf_append(out, fpr, QM_FPR_BYTES, err);
	} else if (!rc) {
		rc = qm_buf_append_byte(out, 0, err);
	}
	if (!rc)
		rc = qm_buf_append_u16(out, (uint16_t)nslots, err);
	for (size_t i = 0; !rc && i < nslots; i++) {
		if (p->level <= 2) {
			const struct qm_qslot *s = &p->slots[i];
			size_t rl = strlen(s->rcpt);
			rc = qm_buf_append_byte(out, (unsigned char)rl, err);
			if (!rc)
				rc = qm_buf_append(out, s->rcpt, rl, err);
			if (!rc)
				rc = qm_buf_append_u32(out, (uint32_t)s->nkeys,
				                       err);
			for (size_t k = 0; !rc && k < s->nkeys; k++) {
				size_t kl = strlen(s->keys[k].key_id);
				rc = qm_buf_append_byte(out, (unsigned char)kl,
				                        err);
				if (!rc)
					rc = qm_buf_append(
					    out, s->keys[k].key_id, kl, err);
			}
		} else {
			rc = qm_buf_append_byte(out, QM_FPR_BYTES, err);
			if (!rc)
				rc = qm_buf_append(out, so[i].rcpt,
				                   QM_FPR_BYTES, err);
			if (!rc)
				rc = qm_buf_append_u32(out, 0, err);
		}
		if (!rc)
			rc =
			    qm_buf_append_u16(out, (uint16_t)so[i].kemlen, err);
		if (!rc)
			rc = qm_buf_append(out, so[i].kem, so[i].kemlen, err);
		if (!rc)
			rc = qm_buf_append_byte(
			    out, p->level == 1 ? 0 : QM_WRAPBYTES, err);
		if (!rc && p->level > 1)
			rc = qm_buf_append(out, so[i].wrap, QM_WRAPBYTES, err);
	}
	return rc;
}

/* The size of the header put_header writes. */
static size_t header_size(const struct qm_seal_params *p, const char *sae,
                          size_t nslots)
{
	size_t n = 52 + 1 + strlen(sae) + 1 + (p->level >= 3 ? 32 : 0) + 2;

	for (size_t i = 0; i < nslots; i++) {
		n += 1 + 4 + 2 + 1;
		if (p->level <= 2) {
			n += strlen(p->slots[i].rcpt);
			for (size_t k = 0; k < p->slots[i].nkeys; k++)
				n += 1 + strlen(p->slots[i].keys[k].key_id);
		} else {
			n += QM_FPR_BYTES;
		}
		n += p->level == 3   ? QM_L3_KEMBYTES
		     : p->level == 4 ? QM_L4_KEMBYTES
		                     : 0;
		n += p->level == 1 ? 0 : QM_WRAPBYTES;
	}
	return n;
}

/* Level 1: each slot's pad XORed in place, one Poly1305 per slot. */
static enum qm_err body_l1(const struct qm_seal_params *p, struct src *s,
                           uint64_t plen, const unsigned char ad[64],
                           unsigned char *body, unsigned char *tags,
                           struct sink *k, struct qm_error *err)
{
	size_t ns = p->nslots;
	crypto_onetimeauth_state *st;
	struct qm_keystream *ks = NULL;
	unsigned char *mk;
	enum qm_err rc = QM_OK;

	st = qm_sec_alloc(ns * sizeof(*st) + QM_L1_MACKEYBYTES);
	ks = calloc(ns, sizeof(*ks));
	if (!st || !ks) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	mk = (unsigned char *)(st + ns);
	for (size_t j = 0; j < ns; j++) {
		unsigned char idx[2] = {(unsigned char)(j >> 8),
		                        (unsigned char)j};
		/* The MAC key is the 32 key bytes after the pad. */
		crypto_ks_init(&ks[j], p->slots[j].keys, p->slots[j].nkeys);
		crypto_ks_skip(&ks[j], plen);
		crypto_ks_copy(&ks[j], mk, QM_L1_MACKEYBYTES);
		crypto_onetimeauth_init(&st[j], mk);
		qm_wipe(mk, QM_L1_MACKEYBYTES);
		crypto_onetimeauth_update(&st[j], ad, 64);
		crypto_onetimeauth_update(&st[j], idx, 2);
		crypto_ks_init(&ks[j], p->slots[j].keys, p->slots[j].nkeys);
	}
	for (uint64_t pos = 0; pos < plen;) {
		size_t n = plen - pos < QM_ENV_CHUNK ? (size_t)(plen - pos)
		                                     : QM_ENV_CHUNK;
		const unsigned char *pt;

		rc = src_next(s, n, &pt, err);
		if (rc)
			goto out;
		for (size_t j = 0; j < ns; j++) {
			/* streamed: one slot only (seal_to) */
			unsigned char *ct =
			    k ? k->chunk : body + j * plen + pos;
			crypto_ks_xor(&ks[j], ct, pt, n);
			crypto_onetimeauth_update(&st[j], ct, n);
			if (k)
				rc = sink_put(k, ct, n, 1, err);
			if (rc)
				goto out;
		}
		pos += n;
	}
	for (size_t j = 0; j < ns; j++)
		crypto_onetimeauth_final(&st[j], tags + j * QM_L1_TAGBYTES);
out:
	free(ks);
	qm_sec_free(st);
	return rc;
}

/* Levels 2-4: STREAM chunks of AES-256-GCM under the data key. */
static enum qm_err body_gcm(int level, struct src *s, uint64_t plen,
                            const unsigned char *cek, const unsigned char *salt,
                            const unsigned char ad[64], unsigned char *body,
                            unsigned char *dk, struct sink *k,
                            struct qm_error *err)
{
	const unsigned char *prefix = dk + 32;
	unsigned char iv[QM_GCM_IVBYTES];
	uint64_t nc = crypto_env_nchunks(plen), pos = 0;
	struct qm_gcm *g = NULL;
	enum qm_err rc;

	rc = crypto_env_data_key(cek, salt, level, dk, err);
	if (!rc)
		rc = crypto_gcm_new(dk, 1, &g, err);
	for (uint64_t i = 0; !rc && i < nc; i++) {
		size_t n = plen - pos < QM_ENV_CHUNK ? (size_t)(plen - pos)
		                                     : QM_ENV_CHUNK;
		const unsigned char *pt = NULL;

		if (n)
			rc = src_next(s, n, &pt, err);
		if (rc)
			break;
		crypto_env_chunk_iv(prefix, (uint32_t)i, i + 1 == nc, iv);
		if (k) {
			rc = crypto_gcm_seal(g, iv, ad, 64, pt, n, k->chunk,
			                     k->chunk + n, err);
			if (!rc)
				rc = sink_put(k, k->chunk, n + QM_GCM_TAGBYTES,
				              1, err);
		} else {
			rc = crypto_gcm_seal(g, iv, ad, 64, pt, n, body,
			                     body + n, err);
			body += n + QM_GCM_TAGBYTES;
		}
		pos += n;
	}
	crypto_gcm_free(&g);
	return rc;
}

/* The body's and the whole envelope's length for plen bytes (hdr: the
 * header's); -1 when they would not fit in 64 bits. */
static int env_total(const struct qm_seal_params *p, uint64_t plen,
                     size_t nslots, size_t hdr, uint64_t *body_len,
                     uint64_t *total)
{
	if (p->level == 1) {
		if (plen > (UINT64_MAX - hdr) / (nslots + 1))
			return -1;
		*body_len = plen * nslots;
		*total = hdr + *body_len + QM_L1_TAGBYTES * nslots;
		return 0;
	}
	if (plen > UINT64_MAX / 2 || crypto_env_nchunks(plen) > UINT32_MAX)
		return -1;
	*body_len = plen + crypto_env_nchunks(plen) * QM_GCM_TAGBYTES;
	*total = hdr + *body_len + crypto_env_slot_tags(p->level, nslots);
	if (p->level >= 3)
		*total += 2 + (p->level == 3 ? QM_SIG_HYBRID : QM_SIG_CLASSIC);
	return 0;
}

enum qm_err qm_crypto_env_size(const struct qm_seal_params *p, uint64_t ptlen,
                               uint64_t *size, struct qm_error *err)
{
	const char *sae = "";
	uint64_t body_len;
	size_t nslots;
	enum qm_err rc;

	*size = 0;
	rc = check_params(p, ptlen, &sae, err);
	if (rc)
		return rc;
	nslots = p->level <= 2 ? p->nslots : p->nrcpts;
	if (env_total(p, ptlen, nslots, header_size(p, sae, nslots), &body_len,
	              size))
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "the envelope for %llu bytes of text is too "
		    "large",
		    (unsigned long long)ptlen);
	return QM_OK;
}

static enum qm_err seal(const struct qm_seal_params *p, struct src *s,
                        struct qm_buf *out, struct qm_error *err)
{
	uint64_t plen = s->len, body_len, total;
	unsigned char salt[QM_SALTBYTES], ad[64];
	unsigned char *work = NULL; /* secure: QM_WORKBYTES */
	struct slotout *so = NULL;
	const char *sae = "";
	size_t nslots, hdr;
	enum qm_err rc;

	if (!out || out->len != 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the output buffer must be empty");
	rc = check_params(p, plen, &sae, err);
	if (rc)
		return rc;
	nslots = p->level <= 2 ? p->nslots : p->nrcpts;
	qm_random(salt, sizeof(salt));
	rc = crypto_env_bound_hash(p->bound, QM_ENV_VERSION, p->level, sae,
	                           ad + 32, err);
	if (rc)
		return rc;
	so = calloc(nslots, sizeof(*so));
	work = p->level > 1 ? qm_sec_alloc(QM_WORKBYTES) : NULL;
	if (!so || (p->level > 1 && !work)) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (p->level > 1) {
		qm_random(work + QM_WORK_CEK, QM_CEKBYTES);
		rc = make_slots(p, salt, ad + 32, work + QM_WORK_CEK, so,
		                nslots, work + QM_WORK_SS, err);
		if (rc)
			goto out;
	}
	/* Size first: the limit is checked before any work on the data. */
	hdr = header_size(p, sae, nslots);
	if (env_total(p, plen, nslots, hdr, &body_len, &total))
		goto toobig;
	if (total > out->max || total > SIZE_MAX - 1)
		goto toobig;
	rc = qm_buf_reserve(out, (size_t)total, err);
	if (!rc)
		rc = put_header(p, plen, salt, sae, so, nslots, out, err);
	if (rc)
		goto out;
	if (out->len != hdr) {
		rc = qm_error_set(err, QM_ERR_STATE, "envelope header size");
		goto out;
	}
	crypto_env_header_hash(out->data, hdr, ad);
	if (p->level == 1)
		rc = body_l1(p, s, plen, ad, out->data + hdr,
		             out->data + hdr + body_len, NULL, err);
	else
		rc = body_gcm(p->level, s, plen, work + QM_WORK_CEK, salt, ad,
		              out->data + hdr, work + QM_WORK_DK, NULL, err);
	/* Level 2 with several slots: a one-time MAC per slot over the body
	 * (the content key alone would let a co-recipient re-encrypt it). */
	for (size_t j = 0; p->level == 2 && nslots > 1 && j < nslots; j++) {
		if (rc)
			break;
		rc = crypto_env_l2_mac(
		    &p->slots[j].keys[0], salt, (uint16_t)j, ad,
		    out->data + hdr, (size_t)body_len,
		    out->data + hdr + body_len + j * QM_L1_TAGBYTES, err);
	}
	if (rc)
		goto out;
	out->len =
	    hdr + (size_t)body_len + crypto_env_slot_tags(p->level, nslots);
	out->data[out->len] = '\0';
	if (p->level >= 3) {
		unsigned char dg[32];
		size_t sl = p->level == 3 ? QM_SIG_HYBRID : QM_SIG_CLASSIC;

		crypto_env_sig_digest(ad + 32, out->data, out->len, dg);
		rc = qm_buf_append_u16(out, (uint16_t)sl, err);
		if (!rc)
			rc = qm_crypto_identity_sign(p->sender, p->level == 3,
			                             dg, sizeof(dg), out, err);
	}
	goto out;
toobig:
	rc = qm_error_set(err, QM_ERR_TOOBIG,
	                  "the envelope for %llu bytes of text would pass the "
	                  "limit of %zu bytes",
	                  (unsigned long long)plen, out->max);
out:
	if (rc)
		qm_buf_reset(out);
	qm_sec_free(work);
	free(so);
	return rc;
}

enum qm_err qm_crypto_env_seal(const struct qm_seal_params *p, const void *pt,
                               size_t ptlen, struct qm_buf *out,
                               struct qm_error *err)
{
	struct src s = {0};

	if (!pt && ptlen)
		return qm_error_set(err, QM_ERR_INVAL, "no plaintext given");
	s.buf = pt ? pt : (const unsigned char *)"";
	s.len = ptlen;
	return seal(p, &s, out, err);
}

enum qm_err qm_crypto_env_seal_stream(const struct qm_seal_params *p,
                                      uint64_t ptlen, qm_read_fn rd, void *arg,
                                      struct qm_buf *out, struct qm_error *err)
{
	struct src s = {0};
	enum qm_err rc;

	if (!rd)
		return qm_error_set(err, QM_ERR_INVAL, "no plaintext reader");
	s.rd = rd;
	s.arg = arg;
	s.len = ptlen;
	s.scratch = qm_sec_alloc(QM_ENV_CHUNK);
	if (!s.scratch)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	rc = seal(p, &s, out, err);
	qm_sec_free(s.scratch);
	return rc;
}

/* Level 1 with several slots: each slot's ciphertext of the whole text
 * follows the other's, so the envelope is built in memory, then given. */
static enum qm_err seal_to_whole(const struct qm_seal_params *p, struct src *s,
                                 uint64_t max, qm_write_fn wr, void *arg,
                                 struct qm_error *err)
{
	struct qm_buf out;
	enum qm_err rc;

	qm_buf_init(&out, max < SIZE_MAX - 1 ? (size_t)max : SIZE_MAX - 1);
	rc = seal(p, s, &out, err);
	if (!rc)
		rc = wr(arg, out.data, out.len, err);
	qm_buf_free(&out);
	return rc;
}

/* The streamed seal, once the plaintext source is set up. */
static enum qm_err seal_stream(const struct qm_seal_params *p, struct src *s,
                               struct sink *k, struct qm_error *err)
{
	uint64_t plen = s->len;
	unsigned char salt[QM_SALTBYTES], ad[64], dg[32];
	unsigned char *work = NULL; /* secure: QM_WORKBYTES */
	unsigned char tags[QM_L1_TAGBYTES];
	struct slotout *so = NULL;
	struct qm_buf hb, sig;
	const char *sae = "";
	size_t nslots, hdr;
	enum qm_err rc;

	qm_buf_init(&hb, 1 << 20);
	qm_buf_init(&sig, 8192);
	rc = check_params(p, plen, &sae, err);
	if (rc)
		goto out;
	nslots = p->level <= 2 ? p->nslots : p->nrcpts;
	if (p->level == 2 && nslots > 1)
		k->nmacs = nslots;
	qm_random(salt, sizeof(salt));
	rc = crypto_env_bound_hash(p->bound, QM_ENV_VERSION, p->level, sae,
	                           ad + 32, err);
	if (rc)
		goto out;
	so = calloc(nslots, sizeof(*so));
	work = p->level > 1 ? qm_sec_alloc(QM_WORKBYTES) : NULL;
	k->chunk = malloc(QM_ENV_CHUNK + QM_GCM_TAGBYTES);
	k->macs = k->nmacs ? qm_sec_alloc(nslots * sizeof(*k->macs)) : NULL;
	if (!so || (p->level > 1 && !work) || !k->chunk ||
	    (k->nmacs && !k->macs)) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (p->level > 1) {
		qm_random(work + QM_WORK_CEK, QM_CEKBYTES);
		rc = make_slots(p, salt, ad + 32, work + QM_WORK_CEK, so,
		                nslots, work + QM_WORK_SS, err);
		if (rc)
			goto out;
	}
	hdr = header_size(p, sae, nslots);
	if (plen > UINT64_MAX / 2 || crypto_env_nchunks(plen) > UINT32_MAX ||
	    plen > k->max) {
		rc = qm_error_set(err, QM_ERR_TOOBIG,
		                  "the envelope for %llu bytes of text would "
		                  "pass the limit of %llu bytes",
		                  (unsigned long long)plen,
		                  (unsigned long long)k->max);
		goto out;
	}
	rc = put_header(p, plen, salt, sae, so, nslots, &hb, err);
	if (!rc && hb.len != hdr)
		rc = qm_error_set(err, QM_ERR_STATE, "envelope header size");
	if (rc)
		goto out;
	crypto_env_header_hash(hb.data, hdr, ad);
	if (p->level >= 3 && !(k->dg = crypto_env_sig_begin(ad + 32))) {
		rc = qm_error_set(err, QM_ERR_NOMEM,
		                  "out of memory (signature digest)");
		goto out;
	}
	for (size_t j = 0; j < k->nmacs && !rc; j++)
		rc = crypto_env_l2_mac_init(&p->slots[j].keys[0], salt,
		                            (uint16_t)j, ad, &k->macs[j], err);
	if (!rc)
		rc = sink_put(k, hb.data, hdr, 0, err);
	if (rc)
		goto out;
	if (p->level == 1)
		rc = body_l1(p, s, plen, ad, NULL, tags, k, err);
	else
		rc = body_gcm(p->level, s, plen, work + QM_WORK_CEK, salt, ad,
		              NULL, work + QM_WORK_DK, k, err);
	if (!rc && p->level == 1)
		rc = sink_put(k, tags, QM_L1_TAGBYTES, 0, err);
	for (size_t j = 0; j < k->nmacs && !rc; j++) {
		crypto_onetimeauth_final(&k->macs[j], tags);
		rc = sink_put(k, tags, QM_L1_TAGBYTES, 0, err);
	}
	if (!rc && p->level >= 3) {
		size_t sl = p->level == 3 ? QM_SIG_HYBRID : QM_SIG_CLASSIC;

		crypto_env_sig_end(&k->dg, dg);
		rc = qm_buf_append_u16(&sig, (uint16_t)sl, err);
		if (!rc)
			rc = qm_crypto_identity_sign(p->sender, p->level == 3,
			                             dg, sizeof(dg), &sig, err);
		if (!rc)
			rc = sink_put(k, sig.data, sig.len, 0, err);
	}
out:
	if (k->dg)
		crypto_env_sig_end(&k->dg, dg);
	qm_sec_free(k->macs);
	k->macs = NULL;
	free(k->chunk);
	k->chunk = NULL;
	qm_sec_free(work);
	free(so);
	qm_buf_free(&sig);
	qm_buf_free(&hb);
	return rc;
}

enum qm_err qm_crypto_env_seal_to(const struct qm_seal_params *p,
                                  uint64_t ptlen, qm_read_fn rd, void *rarg,
                                  uint64_t max, qm_write_fn wr, void *warg,
                                  struct qm_error *err)
{
	struct src s = {0};
	struct sink k;
	enum qm_err rc;

	if (!rd || !wr)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "sealing in pieces needs a plaintext reader "
		    "and an envelope writer");
	memset(&k, 0, sizeof(k));
	k.wr = wr;
	k.arg = warg;
	k.max = max;
	s.rd = rd;
	s.arg = rarg;
	s.len = ptlen;
	s.scratch = qm_sec_alloc(QM_ENV_CHUNK);
	if (!s.scratch)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	if (p && p->level == 1 && p->nslots > 1)
		rc = seal_to_whole(p, &s, max, wr, warg, err);
	else
		rc = seal_stream(p, &s, &k, err);
	qm_sec_free(s.scratch);
	return rc;
}
