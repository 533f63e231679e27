/* SPDX-License-Identifier: MIT */
/*
 * Cascade error correction (Brassard and Salvail, 1993) for the BB84 link.
 * Pass 1 splits the key into blocks of about 0.73/QBER bits, later passes
 * double the block size over a fresh public pseudo-random permutation. Where
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
	int permuted;           /* 0 in pass 1: position = bit index */
	struct qm_bb84_prp prp; /* position -> bit index when permuted */
	const uint64_t *pa;     /* Alice's bits in this pass's order */
	uint64_t *pb;           /* Bob's bits in this pass's order */
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
	return p->permuted ? qm_kme_bb84_prp_inv(&p->prp, bit) : bit;
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

		if (p->permuted)
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
	return p->permuted ? qm_kme_bb84_prp_fwd(&p->prp, lo) : lo;
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
 * The round function of the Feistel network: keyed multiply-shift hashing
 * (the top half of an odd 64-bit product mixes every input bit), scaled
 * into [0, m) by a multiply-high.
 */
static inline uint64_t prp_round(uint64_t v, uint64_t k, uint64_t m)
{
	uint64_t h = ((v ^ k) * 0x9e3779b97f4a7c15ull) >> 32;

	return (h * m) >> 32;
}

void qm_kme_bb84_prp_init(struct qm_bb84_prp *p, uint64_t n,
                          struct qm_bb84_drbg *pub)
{
	uint64_t a = 1;

	while (a * a < n)
		a++;
	p->n = n;
	p->a = a;
	p->b = (n + a - 1) / a;
	for (unsigned r = 0; r < QM_BB84_PRP_ROUNDS; r++)
		p->key[r] = qm_kme_bb84_drbg_u64(pub);
}

/*
 * The network on [0, a b), x = hi b + lo with hi < a, lo < b; a round maps
 * (hi, lo) to (lo, hi + F(lo) mod a) and the two moduli swap roles.
 */
static inline uint64_t feistel_enc(const struct qm_bb84_prp *p, uint64_t x)
{
	/* n <= 2^31 keeps a b below 2^32: a 32-bit division */
	uint64_t hi = (uint32_t)x / (uint32_t)p->b;
	uint64_t lo = (uint32_t)x % (uint32_t)p->b, mh = p->a, ml = p->b;

	for (unsigned r = 0; r < QM_BB84_PRP_ROUNDS; r++) {
		uint64_t t = hi + prp_round(lo, p->key[r], mh);

		if (t >= mh)
			t -= mh;
		hi = lo;
		lo = t;
		t = mh;
		mh = ml;
		ml = t;
	}
	return hi * p->b + lo;
}

static inline uint64_t feistel_dec(const struct qm_bb84_prp *p, uint64_t x)
{
	uint64_t hi = (uint32_t)x / (uint32_t)p->b;
	uint64_t lo = (uint32_t)x % (uint32_t)p->b;

	for (unsigned r = QM_BB84_PRP_ROUNDS; r-- > 0;) {
		/* moduli of (hi, lo) before round r */
		uint64_t mh = (r & 1) ? p->b : p->a;
		uint64_t f = prp_round(hi, p->key[r], mh);
		uint64_t t = lo >= f ? lo - f : lo + mh - f;

		lo = hi;
		hi = t;
	}
	return hi * p->b + lo;
}

/* Cycle walking over the few values in [n, a b): rarely more than once. */
static inline uint64_t prp_fwd(const struct qm_bb84_prp *p, uint64_t i)
{
	uint64_t x = feistel_enc(p, i);

	while (x >= p->n)
		x = feistel_enc(p, x);
	return x;
}

uint64_t qm_kme_bb84_prp_fwd(const struct qm_bb84_prp *p, uint64_t i)
{
	return prp_fwd(p, i);
}

uint64_t qm_kme_bb84_prp_inv(const struct qm_bb84_prp *p, uint64_t x)
{
	uint64_t i = feistel_dec(p, x);

	while (i >= p->n)
		i = feistel_dec(p, i);
	return i;
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

		p->permuted = 1;
		qm_kme_bb84_prp_init(&p->prp, c->n, pub);
		p->own = own = qm_sec_alloc(2 * nw * sizeof(*own));
		if (!own)
			return -1;
		memset(own, 0, 2 * nw * sizeof(*own));
		for (uint64_t i = 0; i < c->n; i++) {
			uint64_t src = prp_fwd(&p->prp, i);
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

enum qm_err qm_kme_bb84_cascade(const uint64_t *alice, uint64_t *bob,
                                uint64_t n, double qber, unsigned passes,
                                struct qm_bb84_drbg *pub, uint64_t *leak,
                                uint64_t *flips, struct qm_error *err)
{
	struct cascade c;
	enum qm_err rc = QM_OK;
	double e = qber;
	uint64_t k;

	if (passes < 1 || passes > QM_BB84_MAX_PASSES || n > QM_BB84_PRP_MAXN)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "Cascade: %u passes over %llu bits is out of "
		    "range (1..%u passes, at most 2^31 bits)",
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
		free(c.pass[q].apar);
		free(c.pass[q].bpar);
		qm_sec_free(c.pass[q].own);
	}
	free(c.stack);
	return rc;
}
