/* SPDX-License-Identifier: MIT */
/*
 * Toeplitz hashing for BB84 privacy amplification. A Toeplitz matrix times a
 * vector is a slice of a polynomial product over GF(2), so the hash of a
 * million-bit key is one Karatsuba multiplication over 64-bit carry-less
 * products (PCLMULQDQ when the CPU has it, a portable loop otherwise)
 * instead of 10^12 bit operations.
 */
#include "bb84.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_CLMUL 1
#endif

/* Below this many words a schoolbook product beats another Karatsuba level. */
#ifndef KARA_MIN
#define KARA_MIN 32
#endif

typedef void (*school_fn)(uint64_t *r, const uint64_t *a, const uint64_t *b,
                          size_t n);

/* 64 x 64 -> 128-bit carry-less product, portable. */
static void clmul_soft(uint64_t a, uint64_t b, uint64_t *lo, uint64_t *hi)
{
	uint64_t l = 0, h = 0;

	for (unsigned i = 0; i < 64; i++) {
		uint64_t m = (uint64_t)0 - ((b >> i) & 1);
		l ^= (a << i) & m;
		if (i)
			h ^= (a >> (64 - i)) & m;
	}
	*lo = l;
	*hi = h;
}

/* r (2n words) = a * b, n words each, portable. */
static void school_soft(uint64_t *r, const uint64_t *a, const uint64_t *b,
                        size_t n)
{
	memset(r, 0, 2 * n * sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		if (!a[i])
			continue;
		for (size_t j = 0; j < n; j++) {
			uint64_t lo, hi;
			clmul_soft(a[i], b[j], &lo, &hi);
			r[i + j] ^= lo;
			r[i + j + 1] ^= hi;
		}
	}
}

#ifdef HAVE_X86_CLMUL
/*
 * r (2n words) = a * b with PCLMULQDQ, two words of b per step: the
 * products a_i b_j and a_i b_(j+1) land at words i+j and i+j+1, so they are
 * added to r as one unaligned 128-bit lane plus a carried top word.
 */
__attribute__((target("pclmul,sse2"))) static void
school_clmul(uint64_t *r, const uint64_t *a, const uint64_t *b, size_t n)
{
	memset(r, 0, 2 * n * sizeof(*r));
	for (size_t i = 0; i < n; i++) {
		__m128i va = _mm_set1_epi64x((long long)a[i]);
		__m128i carry = _mm_setzero_si128();
		size_t j = 0;

		if (!a[i])
			continue;
		for (; j + 2 <= n; j += 2) {
			__m128i vb = _mm_loadu_si128((const __m128i *)(b + j));
			__m128i p0 = _mm_clmulepi64_si128(va, vb, 0x00);
			__m128i p1 = _mm_clmulepi64_si128(va, vb, 0x10);
			__m128i *dst = (__m128i *)(r + i + j);
			__m128i acc = _mm_loadu_si128(dst);

			acc = _mm_xor_si128(acc, p0);
			acc = _mm_xor_si128(acc, _mm_slli_si128(p1, 8));
			acc = _mm_xor_si128(acc, carry);
			_mm_storeu_si128(dst, acc);
			carry = _mm_srli_si128(p1, 8);
		}
		r[i + j] ^= (uint64_t)_mm_cvtsi128_si64(carry);
		if (j < n) {
			__m128i vb = _mm_cvtsi64_si128((long long)b[j]);
			__m128i p = _mm_clmulepi64_si128(va, vb, 0x00);
			uint64_t lo = (uint64_t)_mm_cvtsi128_si64(p);
			uint64_t hi =
			    (uint64_t)_mm_cvtsi128_si64(_mm_srli_si128(p, 8));
			r[i + j] ^= lo;
			r[i + j + 1] ^= hi;
		}
	}
}
#endif

/* Set by tests to exercise the portable path on a CPU with PCLMULQDQ. */
static _Atomic int force_portable;

void qm_kme_bb84_gf2_set_portable(int on)
{
	force_portable = on != 0;
}

static school_fn pick_school(void)
{
#ifdef HAVE_X86_CLMUL
	/* libgcc's constructor has filled the CPU model by now */
	if (!force_portable && __builtin_cpu_supports("pclmul"))
		return school_clmul;
#endif
	return school_soft;
}

/* Temporary words Karatsuba needs for n-word operands. */
static size_t kara_tmp(size_t n)
{
	size_t t = 0;

	while (n >= KARA_MIN) {
		size_t hi = n - n / 2;
		t += 4 * hi;
		n = hi;
	}
	return t;
}

/* r (2n words) = a * b (n words each); t has kara_tmp(n) words. */
static void kara(school_fn school, uint64_t *r, const uint64_t *a,
                 const uint64_t *b, size_t n, uint64_t *t)
{
	size_t lo, hi;
	uint64_t *sa, *sb, *mid;

	if (n < KARA_MIN) {
		school(r, a, b, n);
		return;
	}
	lo = n / 2;
	hi = n - lo;
	sa = t;
	sb = t + hi;
	mid = t + 2 * hi;
	/* P0 = a0 b0 in r[0, 2lo), P2 = a1 b1 in r[2lo, 2n) */
	kara(school, r, a, b, lo, t);
	kara(school, r + 2 * lo, a + lo, b + lo, hi, t);
	for (size_t i = 0; i < hi; i++) {
		sa[i] = a[lo + i] ^ (i < lo ? a[i] : 0);
		sb[i] = b[lo + i] ^ (i < lo ? b[i] : 0);
	}
	kara(school, mid, sa, sb, hi, t + 4 * hi);
	/* mid = P1 + P0 + P2, added at word lo */
	for (size_t i = 0; i < 2 * hi; i++) {
		uint64_t w = mid[i] ^ r[2 * lo + i];
		if (i < 2 * lo)
			w ^= r[i];
		mid[i] = w;
	}
	for (size_t i = 0; i < 2 * hi; i++)
		r[lo + i] ^= mid[i];
}

enum qm_err qm_kme_bb84_gf2_mul(uint64_t *r, const uint64_t *a, size_t na,
                                const uint64_t *b, size_t nb,
                                struct qm_error *err)
{
	school_fn school = pick_school();
	uint64_t *tmp = NULL, *prod = NULL, *pad = NULL;
	size_t ntmp;
	enum qm_err rc = QM_OK;

	if (na < nb) {
		const uint64_t *sw = a;
		size_t sn = na;
		a = b;
		na = nb;
		b = sw;
		nb = sn;
	}
	memset(r, 0, (na + nb) * sizeof(*r));
	if (nb == 0)
		return QM_OK;
	ntmp = kara_tmp(nb);
	tmp = qm_sec_alloc((ntmp ? ntmp : 1) * sizeof(*tmp));
	prod = qm_sec_alloc(2 * nb * sizeof(*prod));
	pad = qm_sec_alloc(nb * sizeof(*pad));
	if (!tmp || !prod || !pad) {
		rc = qm_error_set(
		    err, QM_ERR_NOMEM,
		    "out of memory multiplying %zu-word polynomials", na);
		goto out;
	}
	/* a in slices of nb words, each a square product shifted into r */
	for (size_t off = 0; off < na; off += nb) {
		size_t len = na - off < nb ? na - off : nb;
		const uint64_t *chunk = a + off;
		size_t top = na + nb - off;

		if (len < nb) {
			memcpy(pad, a + off, len * sizeof(*pad));
			memset(pad + len, 0, (nb - len) * sizeof(*pad));
			chunk = pad;
		}
		kara(school, prod, chunk, b, nb, tmp);
		if (top > 2 * nb)
			top = 2 * nb;
		for (size_t i = 0; i < top; i++)
			r[off + i] ^= prod[i];
	}
out:
	qm_sec_free(pad);
	qm_sec_free(prod);
	qm_sec_free(tmp);
	return rc;
}

/* Copies the first nbits of src into a zero-padded array of nw words. */
static void copy_bits(uint64_t *dst, size_t nw, const uint64_t *src,
                      uint64_t nbits)
{
	size_t full = (size_t)(nbits / 64);
	unsigned rest = (unsigned)(nbits % 64);

	memset(dst, 0, nw * sizeof(*dst));
	memcpy(dst, src, full * sizeof(*dst));
	if (rest)
		dst[full] = src[full] & (((uint64_t)1 << rest) - 1);
}

enum qm_err qm_kme_bb84_toeplitz(const uint64_t *s, const uint64_t *x,
                                 uint64_t n, uint64_t m, uint64_t *y,
                                 struct qm_error *err)
{
	uint64_t *sc = NULL, *xc = NULL, *z = NULL;
	size_t ns, nx, nz, ny = (size_t)((m + 63) / 64);
	uint64_t sbits = n + m - 1;
	enum qm_err rc = QM_OK;

	if (n == 0 || m == 0)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "Toeplitz hashing needs non-empty input and "
		    "output (n=%llu, m=%llu)",
		    (unsigned long long)n, (unsigned long long)m);
	ns = (size_t)((sbits + 63) / 64);
	nx = (size_t)((n + 63) / 64);
	nz = ns + nx;
	sc = qm_sec_alloc(ns * sizeof(*sc));
	xc = qm_sec_alloc(nx * sizeof(*xc));
	z = qm_sec_alloc(nz * sizeof(*z));
	if (!sc || !xc || !z) {
		rc = qm_error_set(
		    err, QM_ERR_NOMEM,
		    "out of memory for Toeplitz hashing of %llu bits",
		    (unsigned long long)n);
		goto out;
	}
	copy_bits(sc, ns, s, sbits);
	copy_bits(xc, nx, x, n);
	/* z = s * x, z_k = sum_j s_(k-j) x_j; y_i = z_(i+n-1) */
	rc = qm_kme_bb84_gf2_mul(z, sc, ns, xc, nx, err);
	if (rc)
		goto out;
	{
		uint64_t sh = n - 1;
		size_t w = (size_t)(sh / 64);
		unsigned b = (unsigned)(sh % 64);

		for (size_t i = 0; i < ny; i++) {
			uint64_t v = z[w + i] >> b;
			if (b && w + i + 1 < nz)
				v |= z[w + i + 1] << (64 - b);
			y[i] = v;
		}
		if (m % 64)
			y[ny - 1] &= ((uint64_t)1 << (m % 64)) - 1;
	}
out:
	qm_sec_free(z);
	qm_sec_free(xc);
	qm_sec_free(sc);
	return rc;
}
