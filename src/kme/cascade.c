/* SPDX-License-Identifier: MIT */
/*
 * Cascade error correction (Brassard and Salvail, 1993) for the BB84 link.
 * Pass 1 splits the key into blocks of about 0.73/QBER bits, later passes
 * double the block size over a fresh public random permutation. Where
 * Alice's and Bob's block parities differ, a binary search over parities of
 * halves finds one error, Bob flips it, and the flip changes the parity of
 * the blocks holding that bit in every earlier pass: those are searched
 * again (the cascade) until every known block parity agrees. Every parity
 * Alice discloses is counted as leaked to the eavesdropper.
 */
#include "bb84.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pass {
	uint64_t k; /* block size */
	uint64_t nblocks;
	uint32_t *perm;      /* position -> bit index; NULL for identity */
	uint32_t *where;     /* bit index -> position; NULL for identity */
	const uint64_t *pa;  /* Alice's bits in this pass's order */
	uint64_t *pb;        /* Bob's bits in this pass's order */
	uint64_t *own;       /* secure copies behind pa and pb (passes > 1) */
	unsigned char *apar; /* Alice's disclosed block parities */
	unsigned char *bpar; /* Bob's current block parities */
};

struct cascade {
	const uint64_t *a;
	uint64_t *b;
	uint64_t n;
	struct pass pass[QM_BB84_MAX_PASSES];
	unsigned npass;  /* passes started so far */
	uint64_t *stack; /* pending (pass, block) pairs, packed */
	size_t nstack, capstack;
	uint64_t leak;
	uint64_t flips;
};

static inline unsigned bit_get(const uint64_t *v, uint64_t i)
{
	return (unsigned)((v[i >> 6] >> (i & 63)) & 1);
}

/* Parity of bits [lo, hi) of a plain bit string, a word at a time. */
static unsigned range_parity(const uint64_t *v, uint64_t lo, uint64_t hi)
{
	uint64_t acc = 0;
	uint64_t wl = lo >> 6, wh = hi >> 6;

	if (lo >= hi)
		return 0;
	if (wl == wh) {
		uint64_t m = (((uint64_t)1 << (hi - lo)) - 1) << (lo & 63);
		return (unsigned)__builtin_parityll(v[wl] & m);
	}
	acc = v[wl] >> (lo & 63);
	for (uint64_t w = wl + 1; w < wh; w++)
		acc ^= v[w];
	if (hi & 63)
		acc ^= v[wh] & (((uint64_t)1 << (hi & 63)) - 1);
	return (unsigned)__builtin_parityll(acc);
}

static inline uint64_t pos_of(const struct pass *p, uint64_t bit)
{
	return p->perm ? p->where[bit] : bit;
}

static int push(struct cascade *c, unsigned pass, uint64_t block)
{
	if (c->nstack == c->capstack) {
		size_t ncap = c->capstack ? c->capstack * 2 : 256;
		uint64_t *ns = realloc(c->stack, ncap * sizeof(*ns));
		if (!ns)
			return -1;
		c->stack = ns;
		c->capstack = ncap;
	}
	c->stack[c->nstack++] = (block << 5) | pass;
	return 0;
}

/* Bob flips bit i: every started pass sees its block parity change. */
static int flip(struct cascade *c, uint64_t i)
{
	c->b[i >> 6] ^= (uint64_t)1 << (i & 63);
	c->flips++;
	for (unsigned q = 0; q < c->npass; q++) {
		struct pass *p = &c->pass[q];
		uint64_t pos = pos_of(p, i), blk = pos / p->k;

		if (p->perm)
			p->pb[pos >> 6] ^= (uint64_t)1 << (pos & 63);
		p->bpar[blk] ^= 1;
		if (p->bpar[blk] != p->apar[blk] && push(c, q, blk) != 0)
			return -1;
	}
	return 0;
}

/*
 * Binary search in block blk of pass q, whose parities differ: Alice
 * discloses the parity of the left half each step. Returns the bit index of
 * one error.
 */
static uint64_t bisect(struct cascade *c, unsigned q, uint64_t blk)
{
	const struct pass *p = &c->pass[q];
	uint64_t lo = blk * p->k, hi = lo + p->k;

	if (hi > c->n)
		hi = c->n;
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;
		unsigned pa = range_parity(p->pa, lo, mid);
		unsigned pb = range_parity(p->pb, lo, mid);

		c->leak++;
		if (pa != pb)
			hi = mid;
		else
			lo = mid;
	}
	return p->perm ? p->perm[lo] : lo;
}

/* Corrects until no started pass has a block with differing parities. */
static int drain(struct cascade *c)
{
	while (c->nstack) {
		uint64_t e = c->stack[--c->nstack];
		unsigned q = (unsigned)(e & 31);
		uint64_t blk = e >> 5;
		struct pass *p = &c->pass[q];

		if (p->apar[blk] == p->bpar[blk])
			continue;
		if (flip(c, bisect(c, q, blk)) != 0)
			return -1;
	}
	return 0;
}

/*
 * A uniformly random permutation of [0, n) from the public stream, by the
 * Rao-Sandelius method: every index goes to one of 2^b random buckets, the
 * buckets are laid out in order and each is Fisher-Yates shuffled. Uniform
 * like a plain Fisher-Yates, but the shuffles run inside the cache, which
 * makes it several times faster on a million bits. Returns -1 when out of
 * memory.
 */
static int shuffle(uint32_t *perm, uint32_t *where, uint64_t n,
                   struct qm_bb84_drbg *pub)
{
	unsigned bits = 0;
	uint64_t nb, *off;
	uint16_t *tag;

	while (bits < 16 && (n >> bits) > 1024)
		bits++;
	nb = (uint64_t)1 << bits;
	tag = malloc(n * sizeof(*tag));
	off = calloc(nb + 1, sizeof(*off));
	if (!tag || !off) {
		free(tag);
		free(off);
		return -1;
	}
	for (uint64_t i = 0; i < n; i += 4) {
		uint64_t r = qm_bb84_drbg_u64(pub);
		for (uint64_t j = i; j < i + 4 && j < n; j++, r >>= 16) {
			tag[j] = (uint16_t)(r & (nb - 1));
			off[tag[j] + 1]++;
		}
	}
	for (uint64_t t = 0; t < nb; t++)
		off[t + 1] += off[t];
	for (uint64_t i = 0; i < n; i++)
		perm[off[tag[i]]++] = (uint32_t)i;
	/* off[t] is now the end of bucket t */
	for (uint64_t t = 0, lo = 0; t < nb; lo = off[t], t++) {
		uint32_t *seg = perm + lo;
		uint64_t len = off[t] - lo;

		for (uint64_t i = len; i > 1; i--) {
			uint64_t j = qm_bb84_drbg_below(pub, i);
			uint32_t x = seg[i - 1];
			seg[i - 1] = seg[j];
			seg[j] = x;
		}
	}
	for (uint64_t i = 0; i < n; i++)
		where[perm[i]] = (uint32_t)i;
	free(off);
	free(tag);
	return 0;
}

static int start_pass(struct cascade *c, unsigned q, uint64_t k,
                      struct qm_bb84_drbg *pub)
{
	struct pass *p = &c->pass[q];

	size_t nw = (size_t)((c->n + 63) / 64);

	p->k = k;
	p->nblocks = (c->n + k - 1) / k;
	p->pa = c->a;
	p->pb = c->b;
	if (q > 0) {
		/* the permuted order, and both keys copied into it */
		uint64_t *own;

		p->perm = malloc(c->n * sizeof(*p->perm));
		p->where = malloc(c->n * sizeof(*p->where));
		p->own = own = qm_sec_alloc(2 * nw * sizeof(*own));
		if (!p->perm || !p->where || !own ||
		    shuffle(p->perm, p->where, c->n, pub) != 0)
			return -1;
		memset(own, 0, 2 * nw * sizeof(*own));
		for (uint64_t i = 0; i < c->n; i++) {
			uint64_t src = p->perm[i];
			own[i >> 6] |= (uint64_t)bit_get(c->a, src) << (i & 63);
			own[nw + (i >> 6)] |= (uint64_t)bit_get(c->b, src)
			                      << (i & 63);
		}
		p->pa = own;
		p->pb = own + nw;
	}
	p->apar = malloc(p->nblocks);
	p->bpar = malloc(p->nblocks);
	if (!p->apar || !p->bpar)
		return -1;
	for (uint64_t blk = 0; blk < p->nblocks; blk++) {
		uint64_t lo = blk * k, hi = lo + k;

		if (hi > c->n)
			hi = c->n;
		p->apar[blk] = (unsigned char)range_parity(p->pa, lo, hi);
		p->bpar[blk] = (unsigned char)range_parity(p->pb, lo, hi);
		c->leak++;
	}
	c->npass = q + 1;
	for (uint64_t blk = p->nblocks; blk-- > 0;)
		if (p->apar[blk] != p->bpar[blk] && push(c, q, blk) != 0)
			return -1;
	return drain(c);
}

enum qm_err qm_bb84_cascade(const uint64_t *alice, uint64_t *bob, uint64_t n,
                            double qber, unsigned passes,
                            struct qm_bb84_drbg *pub, uint64_t *leak,
                            uint64_t *flips, struct qm_error *err)
{
	struct cascade c;
	enum qm_err rc = QM_OK;
	double e = qber;
	uint64_t k;

	if (passes < 1 || passes > QM_BB84_MAX_PASSES || n > UINT32_MAX)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "Cascade: %u passes over %llu bits is out of "
		    "range (1..%u passes, at most 2^32 bits)",
		    passes, (unsigned long long)n, QM_BB84_MAX_PASSES);
	memset(&c, 0, sizeof(c));
	c.a = alice;
	c.b = bob;
	c.n = n;
	if (n == 0)
		goto done;
	if (!(e >= 0.001))
		e = 0.001;
	if (e > 0.25)
		e = 0.25;
	k = (uint64_t)ceil(0.73 / e);
	if (k < 4)
		k = 4;
	for (unsigned q = 0; q < passes; q++) {
		if (k > n)
			k = n;
		if (start_pass(&c, q, k, pub) != 0) {
			rc = qm_error_set(
			    err, QM_ERR_NOMEM,
			    "out of memory in Cascade pass %u over "
			    "%llu bits",
			    q + 1, (unsigned long long)n);
			goto out;
		}
		k *= 2;
	}
done:
	*leak = c.leak;
	*flips = c.flips;
out:
	for (unsigned q = 0; q < QM_BB84_MAX_PASSES; q++) {
		free(c.pass[q].perm);
		free(c.pass[q].where);
		free(c.pass[q].apar);
		free(c.pass[q].bpar);
		qm_sec_free(c.pass[q].own);
	}
	free(c.stack);
	return rc;
}
