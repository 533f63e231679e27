/* SPDX-License-Identifier: MIT */
/*
 * Test kit for the crypto unit tests (see kit.h). Aborts on setup failures:
 * those are bugs in the test, not results.
 */
#include "kit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct qm_identity *g_sender, *g_rid[KIT_MAXR];
static struct qm_pubid *g_sender_pub, *g_rpub[KIT_MAXR];

int kit_src;

static enum qm_err mem_read(void *arg, void *buf, size_t want, size_t *got,
                            struct qm_error *err)
{
	struct kit_memsrc *m = arg;
	size_t n = m->n - m->off;

	(void)err;
	if (n > want)
		n = want;
	if (n > m->piece)
		n = m->piece;
	memcpy(buf, m->p + m->off, n);
	if (m->flip_pass && m->pass >= m->flip_pass && m->flip_at >= m->off &&
	    m->flip_at < m->off + n)
		((unsigned char *)buf)[m->flip_at - m->off] ^= 0x04;
	m->off += n;
	*got = n;
	return QM_OK;
}

static enum qm_err mem_rewind(void *arg, struct qm_error *err)
{
	struct kit_memsrc *m = arg;

	(void)err;
	m->off = 0;
	m->pass++;
	return QM_OK;
}

void kit_memsrc_init(struct kit_memsrc *m, struct qm_env_src *src,
                     const void *p, size_t n)
{
	memset(m, 0, sizeof(*m));
	m->p = p;
	m->n = n;
	m->piece = 40000; /* pieces that do not fall on chunks */
	src->read = mem_read;
	src->rewind = mem_rewind;
	src->arg = m;
	src->len = n;
}

enum qm_err kit_buf_wr(void *arg, const void *p, size_t n, struct qm_error *err)
{
	return qm_buf_append(arg, p, n, err);
}

static void die(const char *what, const struct qm_error *e)
{
	fprintf(stderr, "kit: %s: %s\n", what, e ? qm_error_msg(e) : "");
	abort();
}

void kit_global_init(void)
{
	struct qm_error e;

	if (qm_core_init(&e))
		die("core init", &e);
	if (g_sender)
		return;
	if (qm_crypto_identity_new(&g_sender, &e) ||
	    qm_crypto_identity_public(g_sender, &g_sender_pub, &e))
		die("sender identity", &e);
	for (size_t i = 0; i < KIT_MAXR; i++)
		if (qm_crypto_identity_new(&g_rid[i], &e) ||
		    qm_crypto_identity_public(g_rid[i], &g_rpub[i], &e))
			die("recipient identity", &e);
}

void kit_global_free(void)
{
	qm_crypto_identity_free(&g_sender);
	qm_crypto_pubid_free(&g_sender_pub);
	for (size_t i = 0; i < KIT_MAXR; i++) {
		qm_crypto_identity_free(&g_rid[i]);
		qm_crypto_pubid_free(&g_rpub[i]);
	}
}

const struct qm_identity *kit_sender(void)
{
	return g_sender;
}

const struct qm_pubid *kit_sender_pub(void)
{
	return g_sender_pub;
}

const struct qm_identity *kit_rid(size_t i)
{
	return g_rid[i];
}

void kit_pattern(unsigned char *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

void kit_init(struct kit *k, int level, size_t nrcpt, int shared, uint64_t plen,
              size_t keylen)
{
	static unsigned serial;

	memset(k, 0, sizeof(*k));
	k->level = level;
	k->nrcpt = nrcpt;
	k->shared = shared;
	k->plen = plen;
	k->keylen = keylen ? keylen : 4096;
	k->extra = level == 1 ? 5 : 0;
	for (size_t i = 0; i < nrcpt; i++) {
		char *a = malloc(40);
		snprintf(a, 40, "rcpt%zu@example.org", i);
		k->addrs[i] = a;
	}
	k->bound.from = "alice@example.org";
	k->bound.rcpts = k->addrs;
	k->bound.nrcpts = nrcpt;
	k->bound.message_id = "<1234.5678@example.org>";
	k->bound.date = "Fri, 27 Nov 2026 19:00:00 +0000";
	k->bound.sender_sae = "sae-alice";
	if (level >= 3) {
		for (size_t i = 0; i < nrcpt; i++)
			k->rpub[i] = g_rpub[i];
		return;
	}
	k->nslots = shared ? 1 : nrcpt;
	for (size_t s = 0; s < k->nslots; s++) {
		size_t need = level == 1 ? (size_t)plen + 32 + k->extra : 32;
		size_t per = level == 1 ? k->keylen : 32;
		size_t nk = (need + per - 1) / per, off = 0;

		if (shared)
			k->rcpt[s][0] = '\0';
		else
			snprintf(k->rcpt[s], sizeof(k->rcpt[s]), "sae-r%zu", s);
		k->mat[s] = qm_sec_alloc(need);
		k->matlen[s] = need;
		qm_random(k->mat[s], need);
		k->keys[s] = calloc(nk, sizeof(struct qm_qkey));
		k->idtext[s] = malloc(nk * 64);
		k->nkeys[s] = nk;
		for (size_t i = 0; i < nk; i++) {
			char *id = k->idtext[s] + i * 64;
			snprintf(id, 64, "%08x-%04zx-4000-8000-%012zx",
			         ++serial, s, i);
			k->keys[s][i].key_id = id;
			k->keys[s][i].key = k->mat[s] + off;
			k->keys[s][i].len = need - off < per ? need - off : per;
			off += k->keys[s][i].len;
		}
		k->slots[s].rcpt = k->rcpt[s];
		k->slots[s].keys = k->keys[s];
		k->slots[s].nkeys = nk;
	}
}

void kit_free(struct kit *k)
{
	for (size_t i = 0; i < k->nrcpt; i++)
		free((void *)(uintptr_t)k->addrs[i]);
	for (size_t s = 0; s < k->nslots; s++) {
		qm_sec_free(k->mat[s]);
		free(k->keys[s]);
		free(k->idtext[s]);
	}
	memset(k, 0, sizeof(*k));
}

enum qm_err kit_seal(struct kit *k, const void *pt, size_t n,
                     struct qm_buf *env, struct qm_error *err)
{
	struct qm_seal_params p = {0};

	p.level = k->level;
	p.bound = &k->bound;
	p.slots = k->slots;
	p.nslots = k->nslots;
	p.sender = g_sender;
	p.rcpts = k->rpub;
	p.nrcpts = k->level >= 3 ? k->nrcpt : 0;
	return qm_crypto_env_seal(&p, pt, n, env, err);
}

static enum qm_err open_one(struct kit *k, const void *envp, size_t n, size_t r,
                            const struct qm_bound *b, int src,
                            struct qm_buf *out, struct qm_error *err)
{
	struct kit_memsrc ms;
	struct qm_env_src es;
	struct qm_env *e = NULL;
	struct qm_open_params p = {0};
	struct qm_qkey *keys = NULL;
	unsigned char fpr[QM_FPR_BYTES];
	char ft[QM_FPR_TEXTLEN];
	const char *label;
	size_t slot, ks;
	enum qm_err rc;

	if (src) {
		kit_memsrc_init(&ms, &es, envp, n);
		rc = qm_crypto_env_parse_src(&es, &e, err);
	} else {
		rc = qm_crypto_env_parse(envp, n, &e, err);
	}
	if (rc)
		return rc;
	if (k->level >= 3) {
		qm_crypto_pubid_fingerprint(g_rpub[r], fpr);
		qm_crypto_fpr_text(fpr, ft);
		label = ft;
	} else {
		label = k->shared ? "" : k->rcpt[r];
	}
	rc = qm_crypto_env_slot_find(e, label, &slot, err);
	if (rc)
		goto out;
	p.bound = b ? b : &k->bound;
	p.slot = slot;
	p.self = g_rid[r];
	p.sender = g_sender_pub;
	if (qm_crypto_env_level(e) <= 2 && k->level <= 2) {
		ks = k->shared ? 0 : r;
		p.nkeys = qm_crypto_env_slot_key_count(e, slot);
		keys = calloc(p.nkeys + 1, sizeof(*keys));
		for (size_t i = 0; i < p.nkeys; i++) {
			const char *id = qm_crypto_env_slot_key_id(e, slot, i);
			size_t j;
			/* The "KME": the key with this ID, or (an ID changed
			 * in transit) the kit's key at this position. */
			for (j = 0; j < k->nkeys[ks]; j++)
				if (strcmp(k->keys[ks][j].key_id, id) == 0)
					break;
			if (j == k->nkeys[ks])
				j = i < k->nkeys[ks] ? i : 0;
			keys[i] = k->keys[ks][j];
			keys[i].key_id = id;
		}
		p.keys = keys;
	}
	if (src == 2) {
		/* provisional bytes: kept only when it succeeds */
		rc = qm_crypto_env_open_staged(e, &p, out->max, kit_buf_wr, out,
		                               err);
		if (rc) {
			if (out->data)
				qm_wipe(out->data, out->cap);
			qm_buf_reset(out);
		}
	} else if (src)
		rc = qm_crypto_env_open_stream(e, &p, out->max, kit_buf_wr, out,
		                               err);
	else
		rc = qm_crypto_env_open(e, &p, out, err);
out:
	free(keys);
	qm_crypto_env_free(&e);
	return rc;
}

enum qm_err kit_open(struct kit *k, const void *envp, size_t n, size_t r,
                     const struct qm_bound *b, struct qm_buf *out,
                     struct qm_error *err)
{
	struct qm_buf whole;
	struct qm_error we;
	enum qm_err rc, wrc;

	if (!kit_src)
		return open_one(k, envp, n, r, b, 0, out, err);
	qm_buf_init_secure(&whole, out->max);
	wrc = open_one(k, envp, n, r, b, 0, &whole, &we);
	rc = open_one(k, envp, n, r, b, kit_src, out, err);
	if (rc != wrc || (!rc && (whole.len != out->len ||
	                          (out->len && memcmp(whole.data, out->data,
	                                              out->len) != 0)))) {
		char sm[QM_ERR_MSGMAX];

		snprintf(sm, sizeof(sm), "%s", rc ? qm_error_msg(err) : "");
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "the openers disagree: whole %d (%s), "
		                  "from a source %d (%s)",
		                  wrc, wrc ? qm_error_msg(&we) : "", rc, sm);
	}
	qm_buf_free(&whole);
	return rc;
}
