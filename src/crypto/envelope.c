/* SPDX-License-Identifier: MIT */
/*
 * The envelope (docs/FORMAT.md): parsing without keys, the accessors the
 * upper layers use to fetch keys by ID, and the derivations both sealing
 * and opening share (header hash, bound-values hash, chunk nonces, data
 * key, key-encryption keys, content-key wrapping, signature digest).
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#define HH_LABEL   "QMail envelope header v1"
#define BH_LABEL   "QMail bound headers v1"
#define SIG_LABEL  "QMail envelope signature v1"
#define DATA_LABEL "QMail v1 data key"

/* ---------------------------------------------------------- derivations */

void crypto_env_header_hash(const void *hdr, size_t len, unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	/* The label includes its NUL so it cannot run into the header. */
	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) <= 0 ||
	    EVP_DigestUpdate(c, HH_LABEL, sizeof(HH_LABEL)) <= 0 ||
	    EVP_DigestUpdate(c, hdr, len) <= 0 ||
	    EVP_DigestFinal_ex(c, out, NULL) <= 0)
		qm_random(out, 32); /* never matches: fails closed */
	EVP_MD_CTX_free(c);
}

void crypto_env_sig_digest(const unsigned char bh[32], const void *p, size_t n,
                           unsigned char out[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) <= 0 ||
	    EVP_DigestUpdate(c, SIG_LABEL, sizeof(SIG_LABEL)) <= 0 ||
	    EVP_DigestUpdate(c, bh, 32) <= 0 ||
	    EVP_DigestUpdate(c, p, n) <= 0 ||
	    EVP_DigestFinal_ex(c, out, NULL) <= 0)
		qm_random(out, 32);
	EVP_MD_CTX_free(c);
}

void *crypto_env_sig_begin(const unsigned char bh[32])
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();

	if (c && (EVP_DigestInit_ex(c, EVP_sha256(), NULL) <= 0 ||
	          EVP_DigestUpdate(c, SIG_LABEL, sizeof(SIG_LABEL)) <= 0 ||
	          EVP_DigestUpdate(c, bh, 32) <= 0)) {
		EVP_MD_CTX_free(c);
		c = NULL;
	}
	return c;
}

int crypto_env_sig_update(void *c, const void *p, size_t n)
{
	/* no digest (an envelope without a signature): nothing to add */
	if (!c)
		return 0;
	return EVP_DigestUpdate(c, p, n) > 0 ? 0 : -1;
}

void crypto_env_sig_end(void **cp, unsigned char out[32])
{
	EVP_MD_CTX *c = *cp;

	if (!c || EVP_DigestFinal_ex(c, out, NULL) <= 0)
		qm_random(out, 32); /* never matches: fails closed */
	EVP_MD_CTX_free(c);
	*cp = NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends a 32-bit length and the string. */
static enum qm_err put_lp(struct qm_buf *b, const char *s, struct qm_error *err)
{
	size_t n = strlen(s);
	enum qm_err rc = qm_buf_append_u32(b, (uint32_t)n, err);

	return rc ? rc : qm_buf_append(b, s, n, err);
}

static int bound_str_ok(const char *s)
{
	return s && strnlen(s, QM_BOUND_MAX + 1) <= QM_BOUND_MAX;
}

enum qm_err crypto_env_bound_hash(const struct qm_bound *b, int version,
                                  int level, const char *sender_sae,
                                  unsigned char out[32], struct qm_error *err)
{
	const char **sorted = NULL;
	struct qm_buf m;
	enum qm_err rc;

	qm_buf_init(&m,
	            (size_t)(QM_BOUND_MAXRCPTS + 4) * (QM_BOUND_MAX + 4) + 64);
	if (!b || !bound_str_ok(b->from) || !bound_str_ok(b->message_id) ||
	    !bound_str_ok(b->date) || b->nrcpts > QM_BOUND_MAXRCPTS ||
	    (b->nrcpts && !b->rcpts)) {
		rc =
		    qm_error_set(err, QM_ERR_INVAL,
		                 "the bound header values (From, To/Cc, "
		                 "Message-ID, Date) are missing or longer than "
		                 "%d bytes / %d recipients",
		                 QM_BOUND_MAX, QM_BOUND_MAXRCPTS);
		goto out;
	}
	sorted = calloc(b->nrcpts + 1, sizeof(*sorted));
	if (!sorted) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < b->nrcpts; i++) {
		if (!bound_str_ok(b->rcpts[i])) {
			rc = qm_error_set(err, QM_ERR_INVAL,
			                  "recipient %zu is missing or longer "
			                  "than %d bytes",
			                  i + 1, QM_BOUND_MAX);
			goto out;
		}
		sorted[i] = b->rcpts[i];
	}
	qsort(sorted, b->nrcpts, sizeof(*sorted), cmp_str);
	rc = qm_buf_append(&m, BH_LABEL, sizeof(BH_LABEL), err);
	if (!rc)
		rc = qm_buf_append_byte(&m, (unsigned char)version, err);
	if (!rc)
		rc = qm_buf_append_byte(&m, (unsigned char)level, err);
	if (!rc)
		rc = put_lp(&m, sender_sae ? sender_sae : "", err);
	if (!rc)
		rc = put_lp(&m, b->from, err);
	if (!rc)
		rc = qm_buf_append_u32(&m, (uint32_t)b->nrcpts, err);
	for (size_t i = 0; !rc && i < b->nrcpts; i++)
		rc = put_lp(&m, sorted[i], err);
	if (!rc)
		rc = put_lp(&m, b->message_id, err);
	if (!rc)
		rc = put_lp(&m, b->date, err);
	if (!rc)
		crypto_sha256(m.data, m.len, out);
out:
	free(sorted);
	qm_buf_free(&m);
	return rc;
}

uint64_t crypto_env_nchunks(uint64_t plen)
{
	return plen == 0 ? 1 : (plen + QM_ENV_CHUNK - 1) / QM_ENV_CHUNK;
}

void crypto_env_chunk_iv(const unsigned char prefix[QM_NONCE_PREFIX],
                         uint32_t i, int last, unsigned char iv[QM_GCM_IVBYTES])
{
	memcpy(iv, prefix, QM_NONCE_PREFIX);
	iv[7] = (unsigned char)(i >> 24);
	iv[8] = (unsigned char)(i >> 16);
	iv[9] = (unsigned char)(i >> 8);
	iv[10] = (unsigned char)i;
	iv[11] = last ? 1 : 0;
}

enum qm_err crypto_env_data_key(const unsigned char cek[QM_CEKBYTES],
                                const unsigned char salt[QM_SALTBYTES],
                                int level, unsigned char dk[QM_DKBYTES],
                                struct qm_error *err)
{
	unsigned char info[sizeof(DATA_LABEL) + 1];

	memcpy(info, DATA_LABEL, sizeof(DATA_LABEL));
	info[sizeof(DATA_LABEL)] = (unsigned char)level;
	return crypto_hkdf_sha256(cek, QM_CEKBYTES, salt, QM_SALTBYTES, info,
	                          sizeof(info), dk, QM_DKBYTES, err);
}

enum qm_err crypto_env_kek(int level, const unsigned char *ikm, size_t ikmlen,
                           const unsigned char salt[QM_SALTBYTES],
                           uint16_t slot, const void *ctx, size_t ctxlen,
                           unsigned char kek[32], struct qm_error *err)
{
	unsigned char info[64 + 2 * QM_X25519_BYTES + QM_KEYID_MAX];
	static const char label[] = "QMail v1 KEK level ";
	size_t n = 0;

	if (ctxlen > sizeof(info) - sizeof(label) - 3)
		return qm_error_set(err, QM_ERR_INVAL, "KEK context too long");
	memcpy(info, label, sizeof(label) - 1);
	n = sizeof(label) - 1;
	info[n++] = (unsigned char)('0' + level);
	info[n++] = (unsigned char)(slot >> 8);
	info[n++] = (unsigned char)slot;
	if (ctxlen)
		memcpy(info + n, ctx, ctxlen);
	n += ctxlen;
	return crypto_hkdf_sha256(ikm, ikmlen, salt, QM_SALTBYTES, info, n, kek,
	                          32, err);
}

size_t crypto_env_slot_tags(int level, size_t nslots)
{
	return level == 1 || (level == 2 && nslots > 1)
	           ? nslots * QM_L1_TAGBYTES
	           : 0;
}

enum qm_err crypto_env_l2_mac_init(const struct qm_qkey *k,
                                   const unsigned char salt[QM_SALTBYTES],
                                   uint16_t slot, const unsigned char ad[64],
                                   crypto_onetimeauth_state *st,
                                   struct qm_error *err)
{
	static const char label[] = "QMail v1 L2 slot MAC";
	unsigned char info[sizeof(label) + 2 + QM_KEYID_MAX];
	unsigned char idx[2] = {(unsigned char)(slot >> 8),
	                        (unsigned char)slot};
	size_t kl = strlen(k->key_id);
	unsigned char *mk;
	enum qm_err rc;

	if (kl > QM_KEYID_MAX)
		return qm_error_set(err, QM_ERR_INVAL, "key ID too long");
	mk = qm_sec_alloc(32);
	if (!mk)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	memcpy(info, label, sizeof(label));
	memcpy(info + sizeof(label), idx, 2);
	memcpy(info + sizeof(label) + 2, k->key_id, kl);
	rc = crypto_hkdf_sha256(k->key, k->len, salt, QM_SALTBYTES, info,
	                        sizeof(label) + 2 + kl, mk, 32, err);
	if (!rc) {
		crypto_onetimeauth_init(st, mk);
		crypto_onetimeauth_update(st, ad, 64);
		crypto_onetimeauth_update(st, idx, 2);
	}
	qm_sec_free(mk);
	return rc;
}

enum qm_err crypto_env_l2_mac(const struct qm_qkey *k,
                              const unsigned char salt[QM_SALTBYTES],
                              uint16_t slot, const unsigned char ad[64],
                              const unsigned char *body, size_t len,
                              unsigned char tag[QM_L1_TAGBYTES],
                              struct qm_error *err)
{
	crypto_onetimeauth_state *st;
	enum qm_err rc;

	st = qm_sec_alloc(sizeof(*st));
	if (!st)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	rc = crypto_env_l2_mac_init(k, salt, slot, ad, st, err);
	if (!rc) {
		crypto_onetimeauth_update(st, body, len);
		crypto_onetimeauth_final(st, tag);
	}
	qm_sec_free(st);
	return rc;
}

/* The AD of a content-key wrap: bound hash, level, slot index. */
static void wrap_ad(const unsigned char bh[32], int level, uint16_t slot,
                    unsigned char ad[35])
{
	memcpy(ad, bh, 32);
	ad[32] = (unsigned char)level;
	ad[33] = (unsigned char)(slot >> 8);
	ad[34] = (unsigned char)slot;
}

enum qm_err crypto_env_wrap(const unsigned char kek[32],
                            const unsigned char bh[32], int level,
                            uint16_t slot, const unsigned char cek[QM_CEKBYTES],
                            unsigned char wrap[QM_WRAPBYTES],
                            struct qm_error *err)
{
	static const unsigned char iv[QM_GCM_IVBYTES]; /* KEK is single-use */
	unsigned char ad[35];
	struct qm_gcm *g = NULL;
	enum qm_err rc;

	wrap_ad(bh, level, slot, ad);
	rc = crypto_gcm_new(kek, 1, &g, err);
	if (!rc)
		rc = crypto_gcm_seal(g, iv, ad, sizeof(ad), cek, QM_CEKBYTES,
		                     wrap, wrap + QM_CEKBYTES, err);
	crypto_gcm_free(&g);
	return rc;
}

enum qm_err crypto_env_unwrap(const unsigned char kek[32],
                              const unsigned char bh[32], int level,
                              uint16_t slot,
                              const unsigned char wrap[QM_WRAPBYTES],
                              unsigned char cek[QM_CEKBYTES],
                              struct qm_error *err)
{
	static const unsigned char iv[QM_GCM_IVBYTES];
	unsigned char ad[35];
	struct qm_gcm *g = NULL;
	enum qm_err rc;

	wrap_ad(bh, level, slot, ad);
	rc = crypto_gcm_new(kek, 0, &g, err);
	if (!rc)
		rc = crypto_gcm_open(g, iv, ad, sizeof(ad), wrap, QM_CEKBYTES,
		                     wrap + QM_CEKBYTES, cek, err);
	crypto_gcm_free(&g);
	if (rc == QM_ERR_AUTH)
		qm_error_set(err, QM_ERR_AUTH,
		             "the message key does not open: wrong key, or the "
		             "message or its headers (From, To, Cc, Date, "
		             "Message-ID, sender SAE) were altered");
	return rc;
}

/* ------------------------------------------------------------- parsing */

/* Reads a u8 or u16 length and the bytes. */
static enum qm_err get_lv(struct qm_reader *r, int wide,
                          const unsigned char **p, size_t *n)
{
	uint8_t l8;
	uint16_t l16;

	if (wide) {
		if (qm_reader_u16(r, &l16))
			return QM_ERR_PARSE;
		*n = l16;
	} else {
		if (qm_reader_u8(r, &l8))
			return QM_ERR_PARSE;
		*n = l8;
	}
	return qm_reader_bytes(r, *n, p);
}

/* A read of the header that ran out of bytes sets *sh: with only a prefix
 * of the envelope at hand (a source read in pieces), more is needed. */
#define RD(call) ((call) ? (*sh = 1) : 0)

static int bytes_ok(const unsigned char *p, size_t n, int keyid)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
		if (keyid && (p[i] == ' ' || p[i] == ','))
			return 0;
	}
	return 1;
}

/* Copies n bytes into the arena as a C string. */
static char *arena_put(char **ap, const void *p, size_t n)
{
	char *s = *ap;

	memcpy(s, p, n);
	s[n] = '\0';
	*ap += n + 1;
	return s;
}

#define PARSE_FAIL(...)                                                        \
	do {                                                                   \
		rc = qm_error_set(err, QM_ERR_PARSE, __VA_ARGS__);             \
		goto out;                                                      \
	} while (0)

/*
 * Parses the header of an envelope of n bytes from the avail bytes at p (a
 * prefix of it, or all of it) into e, which is empty. When the prefix ends
 * before the header does, fails with *sh set. The signature length field
 * is checked when the whole envelope is at hand (else when it is opened).
 */
static enum qm_err parse_head(struct qm_env *e, const unsigned char *p,
                              size_t avail, uint64_t n, int *sh,
                              struct qm_error *err)
{
	struct qm_reader r;
	const unsigned char *m, *b;
	size_t bl, nkeys_total = 0, arena_len = 0, trailer;
	uint64_t left;
	uint16_t flags, ns;
	uint8_t v8;
	enum qm_err rc = QM_OK;
	char *ap, **kp;

	*sh = 0;
	e->p = p;
	e->n = (size_t)n;
	qm_reader_init(&r, p, avail);
	if (RD(qm_reader_bytes(&r, 4, &m)) || memcmp(m, "QMEV", 4) != 0)
		PARSE_FAIL("not a QMail envelope (the magic \"QMEV\" is "
		           "missing)");
	if (RD(qm_reader_u8(&r, &v8)))
		PARSE_FAIL("the envelope is truncated in its header");
	e->version = v8;
	if (e->version != QM_ENV_VERSION) {
		rc = qm_error_set(err, QM_ERR_UNSUPPORTED,
		                  "envelope version %d is not supported (this "
		                  "QMail reads version %d): update QMail",
		                  e->version, QM_ENV_VERSION);
		goto out;
	}
	if (RD(qm_reader_u8(&r, &v8)) || RD(qm_reader_u16(&r, &flags)) ||
	    RD(qm_reader_u32(&r, &e->chunk)) ||
	    RD(qm_reader_u64(&r, &e->plen)) ||
	    RD(qm_reader_bytes(&r, QM_SALTBYTES, &e->salt)))
		PARSE_FAIL("the envelope is truncated in its header");
	e->level = v8;
	if (e->level < 1 || e->level > 4) {
		rc = qm_error_set(err, QM_ERR_UNSUPPORTED,
		                  "security level %d is unknown (1 to 4 exist)",
		                  e->level);
		goto out;
	}
	if (flags != 0)
		PARSE_FAIL("the envelope has unknown flags 0x%04x", flags);
	if (e->chunk != (e->level == 1 ? 0u : (uint32_t)QM_ENV_CHUNK))
		PARSE_FAIL("the envelope's chunk size %u is not the one of "
		           "version 1",
		           e->chunk);
	if (RD(get_lv(&r, 0, &b, &bl)) || !bytes_ok(b, bl, 0))
		PARSE_FAIL("the sender SAE ID is truncated or not printable");
	memcpy(e->sender_sae, b, bl);
	e->sender_sae[bl] = '\0';
	if (RD(get_lv(&r, 0, &b, &bl)))
		PARSE_FAIL("the envelope is truncated in its header");
	if (bl != (e->level >= 3 ? QM_FPR_BYTES : 0u))
		PARSE_FAIL("the sender fingerprint has %zu bytes, level %d "
		           "needs %d",
		           bl, e->level, e->level >= 3 ? QM_FPR_BYTES : 0);
	e->has_fpr = bl != 0;
	if (bl)
		memcpy(e->sender_fpr, b, bl);
	if (RD(qm_reader_u16(&r, &ns)) || ns == 0 || ns > QM_ENV_MAXSLOTS)
		PARSE_FAIL("the envelope must have 1 to %d recipient slots",
		           QM_ENV_MAXSLOTS);
	e->nslots = ns;
	e->slots = calloc(ns, sizeof(*e->slots));
	if (!e->slots) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* First pass: structure and sizes; key IDs are counted. */
	for (size_t i = 0; i < ns; i++) {
		struct qm_envslot *s = &e->slots[i];
		uint32_t nk;
		size_t kemneed, wrapneed;

		if (RD(get_lv(&r, 0, &s->rcpt_raw, &s->rcpt_rawlen)))
			PARSE_FAIL("slot %zu is truncated", i + 1);
		if (e->level >= 3 ? s->rcpt_rawlen != QM_FPR_BYTES
		                  : !bytes_ok(s->rcpt_raw, s->rcpt_rawlen, 0))
			PARSE_FAIL("slot %zu has a malformed recipient label",
			           i + 1);
		arena_len +=
		    e->level >= 3 ? QM_FPR_TEXTLEN : s->rcpt_rawlen + 1;
		if (RD(qm_reader_u32(&r, &nk)))
			PARSE_FAIL("slot %zu is truncated", i + 1);
		if ((e->level == 1 && (nk < 1 || nk > QM_ENV_MAXKEYIDS)) ||
		    (e->level == 2 && nk != 1) || (e->level >= 3 && nk != 0))
			PARSE_FAIL("slot %zu has %u key IDs, which level %d "
			           "does not allow",
			           i + 1, nk, e->level);
		s->nkeys = nk;
		for (uint32_t k = 0; k < nk; k++) {
			if (RD(get_lv(&r, 0, &b, &bl)) || bl == 0 ||
			    !bytes_ok(b, bl, 1))
				PARSE_FAIL("slot %zu: key ID %u is truncated "
				           "or malformed",
				           i + 1, k + 1);
			arena_len += bl + 1;
		}
		nkeys_total += nk;
		kemneed = e->level == 3   ? QM_L3_KEMBYTES
		          : e->level == 4 ? QM_L4_KEMBYTES
		                          : 0;
		wrapneed = e->level == 1 ? 0 : QM_WRAPBYTES;
		if (RD(get_lv(&r, 1, &s->kem, &s->kemlen)) ||
		    s->kemlen != kemneed ||
		    RD(get_lv(&r, 0, &s->wrap, &s->wraplen)) ||
		    s->wraplen != wrapneed)
			PARSE_FAIL("slot %zu: the key encapsulation or wrapped "
			           "key is truncated or has the wrong size",
			           i + 1);
	}
	e->hdrlen = r.off;
	left = n - r.off;
	/* The exact size: truncation and appended bytes are refused here. */
	if (e->level == 1) {
		if (e->plen > left / ns)
			PARSE_FAIL("the envelope is truncated: its header "
			           "announces %llu bytes of text per slot",
			           (unsigned long long)e->plen);
		e->body_len = (size_t)(e->plen * ns);
		trailer = QM_L1_TAGBYTES * ns;
	} else {
		uint64_t nc = crypto_env_nchunks(e->plen);
		if (e->plen > left || nc > UINT32_MAX ||
		    nc * QM_GCM_TAGBYTES > left - e->plen)
			PARSE_FAIL("the envelope is truncated: its header "
			           "announces %llu bytes of text",
			           (unsigned long long)e->plen);
		e->body_len = (size_t)(e->plen + nc * QM_GCM_TAGBYTES);
		e->sig_len = e->level == 3   ? QM_SIG_HYBRID
		             : e->level == 4 ? QM_SIG_CLASSIC
		                             : 0;
		trailer = e->sig_len ? 2 + e->sig_len
		                     : crypto_env_slot_tags(e->level, ns);
	}
	if (left - e->body_len != trailer)
		PARSE_FAIL("the envelope has %llu bytes after its header, its "
		           "header announces %zu: it was truncated or bytes "
		           "were appended",
		           (unsigned long long)left, e->body_len + trailer);
	e->trailer_off = e->hdrlen + e->body_len;
	if (e->sig_len && avail == n) {
		const unsigned char *t = e->p + e->trailer_off;
		if ((size_t)((t[0] << 8) | t[1]) != e->sig_len)
			PARSE_FAIL("the signature length field is wrong");
	}
	/* Second pass: C strings for the labels and key IDs. It reads the
	 * bytes the first pass read and checked, so no read can fail: the
	 * results are dropped (QM_IGNORE). */
	e->arena = malloc(arena_len + 1);
	e->keyptrs = calloc(nkeys_total + 1, sizeof(char *));
	if (!e->arena || !e->keyptrs) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	ap = e->arena;
	kp = e->keyptrs;
	qm_reader_init(&r, p, e->hdrlen);
	QM_IGNORE(qm_reader_bytes(&r, 52, &b)); /* fixed part */
	get_lv(&r, 0, &b, &bl);                 /* sender SAE */
	get_lv(&r, 0, &b, &bl);                 /* sender fingerprint */
	QM_IGNORE(qm_reader_u16(&r, &ns));
	for (size_t i = 0; i < e->nslots; i++) {
		struct qm_envslot *s = &e->slots[i];
		uint32_t nk;

		get_lv(&r, 0, &b, &bl);
		if (e->level >= 3) {
			s->rcpt = ap;
			qm_crypto_fpr_text(b, ap);
			ap += QM_FPR_TEXTLEN;
		} else {
			s->rcpt = arena_put(&ap, b, bl);
		}
		QM_IGNORE(qm_reader_u32(&r, &nk));
		s->keyids = kp;
		for (uint32_t k = 0; k < nk; k++) {
			get_lv(&r, 0, &b, &bl);
			*kp++ = arena_put(&ap, b, bl);
		}
		get_lv(&r, 1, &b, &bl);
		get_lv(&r, 0, &b, &bl);
	}
	crypto_env_header_hash(e->p, e->hdrlen, e->hh);
out:
	return rc;
}

enum qm_err qm_crypto_env_parse(const void *p, size_t n, struct qm_env **out,
                                struct qm_error *err)
{
	struct qm_env *e;
	int sh;
	enum qm_err rc;

	e = calloc(1, sizeof(*e));
	if (!e)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = parse_head(e, p, p ? n : 0, n, &sh, err);
	if (rc) {
		qm_crypto_env_free(&e);
		return rc;
	}
	*out = e;
	return QM_OK;
}

/* Reads exactly n bytes of the source into p (fewer: QM_ERR_PARSE). */
static enum qm_err src_fill(const struct qm_env_src *s, unsigned char *p,
                            size_t n, struct qm_error *err)
{
	while (n) {
		size_t got = 0;
		enum qm_err rc = s->read(s->arg, p, n, &got, err);

		if (rc)
			return rc;
		if (got == 0 || got > n)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "the envelope is shorter than its "
			                    "%llu bytes: it was cut short",
			                    (unsigned long long)s->len);
		p += got;
		n -= got;
	}
	return QM_OK;
}

/* First prefix read of a source, and how much more each time the header
 * goes on (levels 2-4 fit the first; a level-1 header grows with its key
 * IDs). */
#define SRC_HEAD_FIRST 16384u

enum qm_err qm_crypto_env_parse_src(const struct qm_env_src *src,
                                    struct qm_env **out, struct qm_error *err)
{
	struct qm_env *e = NULL;
	unsigned char *buf = NULL, *nb;
	size_t have = 0, want;
	int sh = 0;
	enum qm_err rc;

	if (!src || !src->read || !src->rewind)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an envelope source needs a reader that "
		                    "can start again");
	if (src->len > SIZE_MAX / 2)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "an envelope of %llu bytes is too large",
		                    (unsigned long long)src->len);
	rc = src->rewind(src->arg, err);
	if (rc)
		return rc;
	want = src->len < SRC_HEAD_FIRST ? (size_t)src->len : SRC_HEAD_FIRST;
	for (;;) {
		nb = realloc(buf, want ? want : 1);
		if (!nb) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		buf = nb;
		rc = src_fill(src, buf + have, want - have, err);
		if (rc)
			goto out;
		have = want;
		qm_crypto_env_free(&e);
		e = calloc(1, sizeof(*e));
		if (!e) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		rc = parse_head(e, buf, have, src->len, &sh, err);
		if (!rc || !sh || have == src->len)
			break;
		/* the header goes on past what was read */
		qm_error_clear(err);
		want = have > (size_t)src->len - have ? (size_t)src->len
		                                      : 2 * have;
	}
	if (rc)
		goto out;
	e->own = buf;
	e->src = *src;
	e->from_src = 1;
	buf = NULL;
	*out = e;
	e = NULL;
out:
	qm_crypto_env_free(&e);
	free(buf);
	return rc;
}

void qm_crypto_env_free(struct qm_env **e)
{
	if (!e || !*e)
		return;
	free((*e)->slots);
	free((*e)->arena);
	free((*e)->keyptrs);
	free((*e)->own);
	free(*e);
	*e = NULL;
}

int qm_crypto_env_version(const struct qm_env *e)
{
	return e->version;
}

int qm_crypto_env_level(const struct qm_env *e)
{
	return e->level;
}

const char *qm_crypto_env_sender_sae(const struct qm_env *e)
{
	return e->sender_sae;
}

const unsigned char *qm_crypto_env_sender_fpr(const struct qm_env *e)
{
	return e->has_fpr ? e->sender_fpr : NULL;
}

uint64_t qm_crypto_env_plaintext_len(const struct qm_env *e)
{
	return e->plen;
}

size_t qm_crypto_env_slot_count(const struct qm_env *e)
{
	return e->nslots;
}

const char *qm_crypto_env_slot_rcpt(const struct qm_env *e, size_t slot)
{
	return slot < e->nslots ? e->slots[slot].rcpt : NULL;
}

size_t qm_crypto_env_slot_key_count(const struct qm_env *e, size_t slot)
{
	return slot < e->nslots ? e->slots[slot].nkeys : 0;
}

const char *qm_crypto_env_slot_key_id(const struct qm_env *e, size_t slot,
                                      size_t i)
{
	if (slot >= e->nslots || i >= e->slots[slot].nkeys)
		return NULL;
	return e->slots[slot].keyids[i];
}

enum qm_err qm_crypto_env_slot_find(const struct qm_env *e, const char *rcpt,
                                    size_t *slot, struct qm_error *err)
{
	for (size_t i = 0; rcpt && i < e->nslots; i++) {
		if (strcmp(e->slots[i].rcpt, rcpt) == 0) {
			*slot = i;
			return QM_OK;
		}
	}
	if (e->nslots == 1 && e->slots[0].rcpt[0] == '\0') {
		*slot = 0;
		return QM_OK;
	}
	return qm_error_set(err, QM_ERR_NOTFOUND,
	                    "this message has no slot for \"%s\": it was not "
	                    "encrypted to you",
	                    rcpt ? rcpt : "");
}

/* ------------------------------------------------- level-1 keystream */

uint64_t qm_crypto_l1_key_bytes(uint64_t ptlen)
{
	if (ptlen > UINT64_MAX - QM_L1_MACKEYBYTES)
		return UINT64_MAX;
	return ptlen + QM_L1_MACKEYBYTES;
}

int crypto_keyid_ok(const char *id)
{
	size_t n;

	if (!id || !crypto_label_ok(id, QM_KEYID_MAX, 0))
		return 0;
	n = strlen(id);
	return n > 0 && memchr(id, ',', n) == NULL;
}

void crypto_ks_init(struct qm_keystream *ks, const struct qm_qkey *keys,
                    size_t nkeys)
{
	ks->keys = keys;
	ks->nkeys = nkeys;
	ks->ki = 0;
	ks->off = 0;
}

void crypto_ks_skip(struct qm_keystream *ks, uint64_t n)
{
	while (n && ks->ki < ks->nkeys) {
		size_t avail = ks->keys[ks->ki].len - ks->off;
		size_t m = n < avail ? (size_t)n : avail;
		ks->off += m;
		n -= m;
		if (ks->off == ks->keys[ks->ki].len) {
			ks->ki++;
			ks->off = 0;
		}
	}
}

void crypto_ks_xor(struct qm_keystream *ks, unsigned char *out,
                   const unsigned char *in, size_t n)
{
	while (n && ks->ki < ks->nkeys) {
		size_t avail = ks->keys[ks->ki].len - ks->off;
		size_t m = n < avail ? n : avail;
		crypto_xor(out, in, ks->keys[ks->ki].key + ks->off, m);
		out += m;
		in += m;
		n -= m;
		ks->off += m;
		if (ks->off == ks->keys[ks->ki].len) {
			ks->ki++;
			ks->off = 0;
		}
	}
}

void crypto_ks_copy(struct qm_keystream *ks, unsigned char *out, size_t n)
{
	while (n && ks->ki < ks->nkeys) {
		size_t avail = ks->keys[ks->ki].len - ks->off;
		size_t m = n < avail ? n : avail;
		memcpy(out, ks->keys[ks->ki].key + ks->off, m);
		out += m;
		n -= m;
		ks->off += m;
		if (ks->off == ks->keys[ks->ki].len) {
			ks->ki++;
			ks->off = 0;
		}
	}
}

enum qm_err crypto_l1_check_keys(const struct qm_qkey *keys, size_t nkeys,
                                 uint64_t plen, const char *who,
                                 struct qm_error *err)
{
	uint64_t need = qm_crypto_l1_key_bytes(plen), have = 0;

	if (nkeys == 0 || !keys)
		return qm_error_set(err, QM_ERR_UNAVAIL,
		                    "%s: no QKD key given; level 1 needs %llu "
		                    "key bytes for this message",
		                    who, (unsigned long long)need);
	if (nkeys > QM_ENV_MAXKEYIDS)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "%s: %zu keys, at most %d per slot", who,
		                    nkeys, QM_ENV_MAXKEYIDS);
	for (size_t i = 0; i < nkeys; i++) {
		if (!crypto_keyid_ok(keys[i].key_id))
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "%s: key %zu has a malformed key ID "
			    "(1 to %d printable characters, no "
			    "space or comma)",
			    who, i + 1, QM_KEYID_MAX);
		if (!keys[i].key || keys[i].len == 0)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "%s: key %s is empty", who,
			                    keys[i].key_id);
		if (i + 1 < nkeys && have + keys[i].len >= need)
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "%s: key %s is not needed (the keys "
			    "before it already give the %llu "
			    "bytes this message needs); pass only "
			    "the keys a message uses",
			    who, keys[i + 1].key_id, (unsigned long long)need);
		have += keys[i].len;
	}
	if (have < need)
		return qm_error_set(err, QM_ERR_UNAVAIL,
		                    "%s: level 1 needs %llu bytes of QKD key "
		                    "for this message (%llu for the pad and %d "
		                    "for the one-time MAC), only %llu are "
		                    "available; fetch more keys or choose a "
		                    "lower level",
		                    who, (unsigned long long)need,
		                    (unsigned long long)plen, QM_L1_MACKEYBYTES,
		                    (unsigned long long)have);
	return QM_OK;
}
