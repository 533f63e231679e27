/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the BB84 link simulator (src/kme/bb84*.c, cascade.c,
 * toeplitz.c): Toeplitz and GF(2) products against hand-computed answers and
 * a naive reference, Cascade on a known error pattern, the key-length
 * formula of docs/KME.md, and whole runs with and without an eavesdropper.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kme/bb84.h"

/* Small blocks keep the suite fast, also under the sanitizers. */
#define TEST_PULSES (1u << 19)

static void seeded(struct qm_bb84_params *p, unsigned char tag)
{
	qm_kme_bb84_params_default(p);
	p->pulses = TEST_PULSES;
	p->seeded = 1;
	for (unsigned i = 0; i < QM_BB84_SEEDBYTES; i++)
		p->seed[i] = (unsigned char)(tag + 7 * i);
}

static unsigned getbit(const uint64_t *v, uint64_t i)
{
	return (unsigned)((v[i / 64] >> (i % 64)) & 1);
}

/* y = T x by the definition T[i][j] = s[i - j + n - 1], one bit at a time. */
static void toeplitz_naive(const uint64_t *s, const uint64_t *x, uint64_t n,
                           uint64_t m, uint64_t *y)
{
	memset(y, 0, ((m + 63) / 64) * 8);
	for (uint64_t i = 0; i < m; i++) {
		unsigned acc = 0;
		for (uint64_t j = 0; j < n; j++)
			acc ^= getbit(s, i - j + n - 1) & getbit(x, j);
		y[i / 64] |= (uint64_t)acc << (i % 64);
	}
}

static void fill(uint64_t *v, size_t nw, uint64_t seed)
{
	for (size_t i = 0; i < nw; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		v[i] = seed ^ (seed >> 29);
	}
}

static void test_toeplitz_by_hand(void **state)
{
	uint64_t s, x, y;

	(void)state;
	/* n=3, m=2, s = 1,0,1,1: T = [[s2 s1 s0], [s3 s2 s1]] = [[1 0 1],
	 * [1 1 0]]; x = (1,1,0) -> y = (1,0); x = (1,0,1) -> y = (0,1). */
	s = 0xD;
	x = 3;
	assert_int_equal(qm_kme_bb84_toeplitz(&s, &x, 3, 2, &y, NULL), QM_OK);
	assert_int_equal(y, 1);
	x = 5;
	assert_int_equal(qm_kme_bb84_toeplitz(&s, &x, 3, 2, &y, NULL), QM_OK);
	assert_int_equal(y, 2);
	/* n=4, m=3, s = 0,1,1,0,1,0: T = [[0 1 1 0], [1 0 1 1], [0 1 0 1]];
	 * x = (1,0,1,1) -> y = (1,1,1). Bits past the lengths are ignored. */
	s = 22 | (0xF0ull << 8);
	x = 13 | (0xFFull << 8);
	assert_int_equal(qm_kme_bb84_toeplitz(&s, &x, 4, 3, &y, NULL), QM_OK);
	assert_int_equal(y, 7);
	assert_int_equal(qm_kme_bb84_toeplitz(&s, &x, 0, 3, &y, NULL),
	                 QM_ERR_INVAL);
}

static void test_toeplitz_matches_definition(void **state)
{
	/* sizes across word edges and large enough for Karatsuba levels */
	static const uint64_t dims[][2] = {
	    {1, 1},      {64, 64},     {65, 63},    {130, 7},
	    {1000, 999}, {5000, 3001}, {4097, 6000}};

	(void)state;
	for (size_t t = 0; t < sizeof(dims) / sizeof(dims[0]); t++) {
		uint64_t n = dims[t][0], m = dims[t][1];
		size_t ns = (size_t)((n + m - 1 + 63) / 64), nx = (n + 63) / 64;
		size_t ny = (m + 63) / 64;
		uint64_t *s = calloc(ns, 8), *x = calloc(nx, 8);
		uint64_t *y = calloc(ny, 8), *want = calloc(ny, 8);

		assert_non_null(s);
		assert_non_null(x);
		assert_non_null(y);
		assert_non_null(want);
		fill(s, ns, 11 + t);
		fill(x, nx, 99 + t);
		toeplitz_naive(s, x, n, m, want);
		assert_int_equal(qm_kme_bb84_toeplitz(s, x, n, m, y, NULL),
		                 QM_OK);
		assert_memory_equal(y, want, ny * 8);
		free(s);
		free(x);
		free(y);
		free(want);
	}
}

static void test_gf2_mul_matches_naive(void **state)
{
	static const size_t sizes[][2] = {
	    {1, 1}, {3, 2}, {24, 24}, {50, 23}, {97, 61}, {300, 300}, {1, 70}};

	(void)state;
	/* the PCLMULQDQ path (when the CPU has it), then the portable one */
	for (size_t t = 0; t < 2 * sizeof(sizes) / sizeof(sizes[0]); t++) {
		if (t == sizeof(sizes) / sizeof(sizes[0]))
			qm_kme_bb84_gf2_set_portable(1);
		size_t na = sizes[t % 7][0], nb = sizes[t % 7][1];
		uint64_t *a = calloc(na, 8), *b = calloc(nb, 8);
		uint64_t *r = calloc(na + nb, 8), *w = calloc(na + nb, 8);

		assert_non_null(a);
		assert_non_null(b);
		assert_non_null(r);
		assert_non_null(w);
		fill(a, na, 5 + t);
		fill(b, nb, 17 + t);
		/* shift-and-add: w += b x^i for every bit i of a */
		for (size_t i = 0; i < na * 64; i++) {
			size_t q = i / 64, sh = i % 64;
			if (!getbit(a, i))
				continue;
			for (size_t j = 0; j < nb; j++) {
				w[q + j] ^= b[j] << sh;
				if (sh)
					w[q + j + 1] ^= b[j] >> (64 - sh);
			}
		}
		assert_int_equal(qm_kme_bb84_gf2_mul(r, a, na, b, nb, NULL),
		                 QM_OK);
		assert_memory_equal(r, w, (na + nb) * 8);
		free(a);
		free(b);
		free(r);
		free(w);
	}
	qm_kme_bb84_gf2_set_portable(0);
}

static void test_cascade_known_errors(void **state)
{
	enum { N = 20000, ERRS = 200 };
	uint64_t a[N / 64 + 1], b[N / 64 + 1];
	struct qm_bb84_drbg *pub = malloc(sizeof(*pub));
	unsigned char seed[QM_BB84_SEEDBYTES] = {1, 2, 3};
	uint64_t leak = 0, flips = 0;
	double shannon = N * qm_kme_bb84_h2((double)ERRS / N);

	(void)state;
	assert_non_null(pub);
	memset(a, 0, sizeof(a));
	fill(a, N / 64, 4242);
	memcpy(b, a, sizeof(b));
	/* errors at 97 j + 13 (j < 200): spread, some in one pass-1 block */
	for (unsigned j = 0; j < ERRS; j++) {
		uint64_t i = 97u * j + 13u;
		b[i / 64] ^= (uint64_t)1 << (i % 64);
	}
	assert_memory_not_equal(a, b, sizeof(a));
	qm_kme_bb84_drbg_init(pub, seed, 5);
	assert_int_equal(qm_kme_bb84_cascade(a, b, N, (double)ERRS / N, 4, pub,
	                                     &leak, &flips, NULL),
	                 QM_OK);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(flips, ERRS);
	/* leak above the Shannon bound, and within 1.6 times it */
	assert_true((double)leak > shannon);
	assert_true((double)leak < 1.6 * shannon);

	/* one error in a tiny key: found by bisection, leak = parities */
	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	b[0] = 1u << 5;
	leak = flips = 0;
	assert_int_equal(
	    qm_kme_bb84_cascade(a, b, 16, 0.25, 1, pub, &leak, &flips, NULL),
	    QM_OK);
	/* k = max(4, ceil(0.73/0.25)) = 4: 4 block parities and 2
	 * bisection steps in block [4,8) -> 6 bits */
	assert_int_equal(b[0], 0);
	assert_int_equal(flips, 1);
	assert_int_equal(leak, 6);
	assert_int_equal(
	    qm_kme_bb84_cascade(a, b, 16, 0.1, 0, pub, &leak, &flips, NULL),
	    QM_ERR_INVAL);
	qm_wipe(pub, sizeof(*pub));
	free(pub);
}

static void test_prp_is_a_permutation(void **state)
{
	static const uint64_t sizes[] = {1, 2, 3, 7, 1000, 1025, 65537, 200003};
	unsigned char seed[QM_BB84_SEEDBYTES] = {9};
	struct qm_bb84_drbg *pub = malloc(sizeof(*pub));

	(void)state;
	assert_non_null(pub);
	qm_kme_bb84_drbg_init(pub, seed, 5);
	for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
		uint64_t n = sizes[t], near = 0, fixed = 0, prev = 0;
		unsigned char *seen = calloc(n, 1);
		struct qm_bb84_prp prp;

		assert_non_null(seen);
		qm_kme_bb84_prp_init(&prp, n, pub);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t x = qm_kme_bb84_prp_fwd(&prp, i);

			assert_true(x < n);
			assert_false(seen[x]);
			seen[x] = 1;
			assert_int_equal(qm_kme_bb84_prp_inv(&prp, x), i);
			fixed += x == i;
			/* neighbours land apart: error pairs split */
			if (i && (x > prev ? x - prev : prev - x) < 64)
				near++;
			prev = x;
		}
		if (n >= 1000) {
			assert_true(fixed < 10);
			/* a random permutation: about 1 fixed point and about
			 * 127 neighbours closer than 64 */
			assert_true(near < 3 * 128);
		}
		free(seen);
	}
	qm_wipe(pub, sizeof(*pub));
	free(pub);
}

/* The formula of docs/KME.md, written out again independently. */
static uint64_t doc_formula(double n, double k, double ek, double leak,
                            double delta, double eps_pe, double eps_pa)
{
	double mu = sqrt((n + k) / (n * k) * (k + 1) / k * log(1 / eps_pe));
	double eu = fmin(0.5, ek / k + mu), es = eu / (1 - delta), l;

	if (es >= 0.5)
		return 0;
	l = n * (1 - delta) * (1 - qm_kme_bb84_h2(es)) - leak -
	    2 * log2(1 / eps_pa);
	return l >= 8 ? 8 * (uint64_t)floor(l / 8) : 0;
}

static void test_pa_length_formula(void **state)
{
	double qu;

	(void)state;
	/* values computed separately (python3, math module) */
	assert_int_equal(qm_kme_bb84_pa_length(1000000, 100000, 2000, 120000,
	                                       128, 0, 1e-10, 1e-10, &qu),
	                 656560);
	assert_true(fabs(qu - 0.035914989571876804) < 1e-12);
	assert_int_equal(qm_kme_bb84_pa_length(500000, 50000, 1500, 60000, 128,
	                                       0.2, 1e-9, 1e-12, NULL),
	                 202248);
	/* no key: no sample, too many errors, too much leaked */
	assert_int_equal(
	    qm_kme_bb84_pa_length(1000, 0, 0, 0, 0, 0, 1e-10, 1e-10, NULL), 0);
	assert_int_equal(qm_kme_bb84_pa_length(100000, 10000, 4500, 0, 0, 0,
	                                       1e-10, 1e-10, NULL),
	                 0);
	assert_int_equal(qm_kme_bb84_pa_length(100000, 10000, 100, 100000, 128,
	                                       0, 1e-10, 1e-10, NULL),
	                 0);
	for (unsigned i = 1; i <= 20; i++) {
		double n = 20000.0 * i, k = 2000.0 * i, ek = 10.0 * i * i;
		double leak = 900.0 * i;
		assert_int_equal(
		    qm_kme_bb84_pa_length((uint64_t)n, (uint64_t)k,
		                          (uint64_t)ek, (uint64_t)leak, 0,
		                          0.01 * i, 1e-8, 1e-9, NULL),
		    doc_formula(n, k, ek, leak, 0.01 * i, 1e-8, 1e-9));
	}
}

static void assert_run_consistent(const struct qm_bb84_params *p,
                                  const struct qm_bb84_result *r)
{
	assert_int_equal(r->pulses, p->pulses);
	assert_true(r->raw_detections <= r->pulses);
	assert_true(r->sifted_bits <= r->raw_detections);
	assert_int_equal(r->sample_bits + r->kept_bits, r->sifted_bits);
	assert_int_equal(r->final_bits, 8 * (uint64_t)r->key_bytes);
	if (r->final_bits) {
		assert_non_null(r->key_alice);
		assert_non_null(r->key_bob);
		assert_true(qm_sec_contains(r->key_alice, r->key_bytes));
		assert_true(qm_sec_contains(r->key_bob, r->key_bytes));
		assert_int_equal(r->pa_removed_bits + r->final_bits,
		                 r->kept_bits);
		/* the length is exactly the documented formula */
		assert_int_equal(r->final_bits,
		                 qm_kme_bb84_pa_length(
		                     r->kept_bits, r->sample_bits,
		                     r->sample_errors, r->leak_ec_bits,
		                     r->leak_verify_bits, r->multi_photon_delta,
		                     p->eps_pe, p->eps_pa, NULL));
	} else {
		assert_null(r->key_alice);
		assert_null(r->key_bob);
	}
}

static void test_no_eve_identical_keys(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result r;
	struct qm_error e;
	double eta = pow(10, -0.1) * 0.8;

	(void)state;
	seeded(&p, 1);
	assert_int_equal(qm_kme_bb84_run(&p, &r, &e), QM_OK);
	assert_run_consistent(&p, &r);
	/* detection and sifting rates follow the channel */
	assert_true(fabs((double)r.raw_detections / p.pulses - eta) < 0.005);
	assert_true(fabs((double)r.sifted_bits / r.raw_detections - 0.5) <
	            0.005);
	assert_false(r.alarm);
	assert_true(r.ec_verified);
	assert_true(r.errors_before_ec > 0);
	assert_int_equal(r.errors_after_ec, 0);
	assert_int_equal(r.ec_corrected, r.errors_before_ec);
	/* QBER near the configured 1% noise (plus 1e-6 dark counts) */
	assert_true(r.qber > 0.0075 && r.qber < 0.0125);
	assert_true(r.qber_upper > r.qber);
	assert_true(r.final_bits > r.kept_bits / 2);
	assert_memory_equal(r.key_alice, r.key_bob, r.key_bytes);
	qm_kme_bb84_result_clear(&r);
	assert_null(r.key_alice);
	assert_int_equal(r.final_bits, 0);
}

static void test_full_eve_alarm(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result r;

	(void)state;
	seeded(&p, 2);
	p.eve_fraction = 1.0;
	assert_int_equal(qm_kme_bb84_run(&p, &r, NULL), QM_OK);
	assert_run_consistent(&p, &r);
	assert_true(r.qber > 0.20 && r.qber < 0.30);
	/* 25% from Eve plus the 1% misalignment on top: about 0.255 */
	assert_true(fabs(r.qber - 0.255) < 0.01);
	assert_true(r.alarm);
	assert_int_equal(r.final_bits, 0);
	assert_int_equal(r.key_bytes, 0);
	qm_kme_bb84_result_clear(&r);
}

static void test_partial_eve_shorter_key(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result clean, eve;

	(void)state;
	seeded(&p, 3);
	assert_int_equal(qm_kme_bb84_run(&p, &clean, NULL), QM_OK);
	p.eve_fraction = 0.15;
	assert_int_equal(qm_kme_bb84_run(&p, &eve, NULL), QM_OK);
	assert_run_consistent(&p, &eve);
	/* same seed: same photons reach Bob, Eve only adds errors */
	assert_int_equal(eve.sifted_bits, clean.sifted_bits);
	assert_true(eve.qber > 0.035 && eve.qber < 0.06);
	assert_false(eve.alarm);
	assert_true(eve.ec_verified);
	assert_true(eve.final_bits > 0);
	assert_true(eve.final_bits < clean.final_bits);
	assert_true(eve.leak_ec_bits > clean.leak_ec_bits);
	assert_memory_equal(eve.key_alice, eve.key_bob, eve.key_bytes);
	qm_kme_bb84_result_clear(&clean);
	qm_kme_bb84_result_clear(&eve);
}

/* The expected QBER of docs/KME.md ("The quantum part"). */
static double model_qber(const struct qm_bb84_params *p)
{
	double eta = pow(10, -p->loss_db / 10) * p->detector_efficiency;
	double ps = p->mean_photon_number > 0
	                ? 1 - exp(-p->mean_photon_number * eta)
	                : eta;
	double d = p->dark_count_prob, e = p->noise, f = p->eve_fraction;

	return (ps * (1 - d) * (e + f * (1 - 2 * e) / 4) + d / 2) /
	       (1 - (1 - ps) * (1 - d));
}

static void test_qber_matches_model(void **state)
{
	/* loss dB, dark, noise, eve, mu */
	static const double cfg[][5] = {{10, 1e-3, 0.02, 0.3, 0},
	                                {3, 1e-4, 0, 0.5, 0.5},
	                                {20, 2e-3, 0.01, 0, 0},
	                                {0, 0, 0.05, 0.1, 2}};

	(void)state;
	for (size_t i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		struct qm_bb84_params p;
		struct qm_bb84_result r;
		double want, sigma;

		seeded(&p, (unsigned char)(40 + i));
		p.loss_db = cfg[i][0];
		p.dark_count_prob = cfg[i][1];
		p.noise = cfg[i][2];
		p.eve_fraction = cfg[i][3];
		p.mean_photon_number = cfg[i][4];
		p.sample_fraction = 0.5;
		p.qber_threshold = 0.4;
		assert_int_equal(qm_kme_bb84_run(&p, &r, NULL), QM_OK);
		assert_run_consistent(&p, &r);
		want = model_qber(&p);
		sigma = sqrt(want * (1 - want) / (double)r.sample_bits);
		assert_true(r.sample_bits > 1000);
		assert_true(fabs(r.qber - want) < 4 * sigma);
		qm_kme_bb84_result_clear(&r);
	}
}

static void test_threshold_is_configurable(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result r;

	(void)state;
	seeded(&p, 4);
	p.eve_fraction = 0.15; /* about 4.7% */
	p.qber_threshold = 0.03;
	assert_int_equal(qm_kme_bb84_run(&p, &r, NULL), QM_OK);
	assert_true(r.alarm);
	assert_int_equal(r.final_bits, 0);
	qm_kme_bb84_result_clear(&r);
}

static void test_seeded_reproducible(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result a, b, c;

	(void)state;
	seeded(&p, 5);
	assert_int_equal(qm_kme_bb84_run(&p, &a, NULL), QM_OK);
	assert_int_equal(qm_kme_bb84_run(&p, &b, NULL), QM_OK);
	assert_int_equal(a.final_bits, b.final_bits);
	assert_int_equal(a.sample_errors, b.sample_errors);
	assert_int_equal(a.leak_ec_bits, b.leak_ec_bits);
	assert_true(a.final_bits > 0);
	assert_memory_equal(a.key_alice, b.key_alice, a.key_bytes);
	p.seed[0] ^= 1;
	assert_int_equal(qm_kme_bb84_run(&p, &c, NULL), QM_OK);
	assert_true(c.final_bits > 0);
	assert_memory_not_equal(a.key_alice, c.key_alice,
	                        a.key_bytes < c.key_bytes ? a.key_bytes
	                                                  : c.key_bytes);
	qm_kme_bb84_result_clear(&a);
	qm_kme_bb84_result_clear(&b);
	qm_kme_bb84_result_clear(&c);
	/* unseeded runs draw a fresh seed */
	p.seeded = 0;
	assert_int_equal(qm_kme_bb84_run(&p, &a, NULL), QM_OK);
	assert_int_equal(qm_kme_bb84_run(&p, &b, NULL), QM_OK);
	assert_true(a.final_bits > 0 && b.final_bits > 0);
	assert_memory_not_equal(a.key_alice, b.key_alice, 32);
	assert_memory_equal(a.key_alice, a.key_bob, a.key_bytes);
	qm_kme_bb84_result_clear(&a);
	qm_kme_bb84_result_clear(&b);
}

static void test_weak_coherent_pulses(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result single, wcp;

	(void)state;
	seeded(&p, 6);
	assert_int_equal(qm_kme_bb84_run(&p, &single, NULL), QM_OK);
	assert_true(single.multi_photon_delta == 0.0);
	p.mean_photon_number = 0.5;
	assert_int_equal(qm_kme_bb84_run(&p, &wcp, NULL), QM_OK);
	assert_run_consistent(&p, &wcp);
	/* detection probability 1 - exp(-mu eta) */
	assert_true(fabs((double)wcp.raw_detections / p.pulses -
	                 (1 - exp(-0.5 * pow(10, -0.1) * 0.8))) < 0.005);
	assert_true(wcp.multi_photon_delta > 0.2 &&
	            wcp.multi_photon_delta < 0.5);
	assert_true(wcp.final_bits > 0);
	/* fewer clicks and a GLLP penalty: a much shorter key */
	assert_true(wcp.final_bits < single.final_bits / 2);
	qm_kme_bb84_result_clear(&single);
	qm_kme_bb84_result_clear(&wcp);
}

static void test_high_loss_no_key(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result r;

	(void)state;
	seeded(&p, 7);
	p.pulses = 4096;
	p.loss_db = 40; /* ~0.3 clicks in 4096 pulses */
	assert_int_equal(qm_kme_bb84_run(&p, &r, NULL), QM_OK);
	assert_run_consistent(&p, &r);
	assert_int_equal(r.final_bits, 0);
	assert_false(r.alarm);
	qm_kme_bb84_result_clear(&r);
}

static void test_tiny_block_finite_size(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result r;

	(void)state;
	seeded(&p, 10);
	p.pulses = QM_BB84_MIN_PULSES;
	p.loss_db = 0;
	assert_int_equal(qm_kme_bb84_run(&p, &r, NULL), QM_OK);
	assert_run_consistent(&p, &r);
	/* a few hundred bits: Cascade runs and checks, but the statistical
	 * bound on a ~40-bit sample leaves nothing after amplification */
	assert_true(r.kept_bits > 200);
	assert_true(r.leak_ec_bits > 0);
	assert_true(r.ec_verified);
	assert_true(r.qber_upper >= 0.5);
	assert_int_equal(r.final_bits, 0);
	qm_kme_bb84_result_clear(&r);
}

/* Corners of the parameter space: every run consistent, keys equal. */
static void test_parameter_sweep(void **state)
{
	static const double loss[] = {0, 3, 20};
	static const double noise[] = {0, 0.03, 0.5};
	static const double eve[] = {0, 0.3, 1};
	static const double mu[] = {0, 0.1, 10};
	unsigned runs = 0, keys = 0;

	(void)state;
	for (unsigned a = 0; a < 3; a++)
		for (unsigned b = 0; b < 3; b++)
			for (unsigned c = 0; c < 3; c++)
				for (unsigned d = 0; d < 3; d++) {
					struct qm_bb84_params p;
					struct qm_bb84_result r;

					seeded(&p,
					       (unsigned char)(a + 3 * b +
					                       9 * c + 27 * d));
					p.pulses = 1u << 14;
					p.loss_db = loss[a];
					p.noise = noise[b];
					p.eve_fraction = eve[c];
					p.mean_photon_number = mu[d];
					p.dark_count_prob = d == 2 ? 0.1 : 1e-6;
					p.sample_fraction = c == 1 ? 0.5 : 0.1;
					p.cascade_passes = 1 + a * 6 + b;
					assert_int_equal(
					    qm_kme_bb84_run(&p, &r, NULL),
					    QM_OK);
					assert_run_consistent(&p, &r);
					/* 50% noise or full Eve: alarm, once
					 * the sample says anything */
					if ((b == 2 || c == 2) &&
					    r.sample_bits >= 200)
						assert_true(r.alarm);
					if (r.final_bits) {
						keys++;
						assert_memory_equal(
						    r.key_alice, r.key_bob,
						    r.key_bytes);
					}
					runs++;
					qm_kme_bb84_result_clear(&r);
				}
	assert_int_equal(runs, 81);
	assert_true(keys > 0);
}

static void test_absurd_parameters(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_result r;
	struct qm_error e;

	(void)state;
	memset(&r, 0, sizeof(r));
#define BAD(field, value, word)                                                \
	do {                                                                   \
		seeded(&p, 8);                                                 \
		p.field = value;                                               \
		assert_int_equal(qm_kme_bb84_run(&p, &r, &e), QM_ERR_INVAL);   \
		assert_non_null(strstr(e.msg, word));                          \
		assert_null(r.key_alice);                                      \
	} while (0)
	BAD(pulses, 0, "pulses");
	BAD(pulses, QM_BB84_MAX_PULSES + 1, "pulses");
	BAD(mean_photon_number, -1, "mean_photon_number");
	BAD(mean_photon_number, 1e9, "mean_photon_number");
	BAD(loss_db, -3, "loss_db");
	BAD(loss_db, NAN, "loss_db");
	BAD(detector_efficiency, 0, "detector_efficiency");
	BAD(detector_efficiency, 1.5, "detector_efficiency");
	BAD(dark_count_prob, 0.9, "dark_count_prob");
	BAD(noise, 0.7, "noise");
	BAD(eve_fraction, 2, "eve_fraction");
	BAD(eve_fraction, -0.1, "eve_fraction");
	BAD(sample_fraction, 0, "sample_fraction");
	BAD(sample_fraction, 0.9, "sample_fraction");
	BAD(qber_threshold, 0.5, "qber_threshold");
	BAD(qber_threshold, INFINITY, "qber_threshold");
	BAD(cascade_passes, 0, "cascade_passes");
	BAD(cascade_passes, 99, "cascade_passes");
	BAD(eps_pe, 0, "eps_pe");
	BAD(eps_pa, 0.5, "eps_pa");
	BAD(seeded, 7, "seeded");
#undef BAD
	assert_non_null(strstr(e.msg, "got 7"));
	assert_int_equal(qm_kme_bb84_run(NULL, &r, &e), QM_ERR_INVAL);
	seeded(&p, 8);
	assert_int_equal(qm_kme_bb84_run(&p, NULL, &e), QM_ERR_INVAL);
}

static void test_rate_measure(void **state)
{
	struct qm_bb84_params p;
	struct qm_bb84_rate rate;
	struct qm_error e;

	(void)state;
	seeded(&p, 9);
	assert_int_equal(qm_kme_bb84_rate_measure(&p, 2, &rate, &e), QM_OK);
	assert_int_equal(rate.blocks, 2);
	assert_true(rate.final_bits > 0);
	assert_true(rate.bits_per_second > 0);
	assert_true(rate.mean_qber > 0.005 && rate.mean_qber < 0.015);
	printf("# BB84 %u pulses/block: %.0f distilled bits/s "
	       "(%llu bits in %.3f s)\n",
	       p.pulses, rate.bits_per_second,
	       (unsigned long long)rate.final_bits, rate.seconds);
	assert_int_equal(qm_kme_bb84_rate_measure(&p, 0, &rate, &e),
	                 QM_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_toeplitz_by_hand),
	    cmocka_unit_test(test_toeplitz_matches_definition),
	    cmocka_unit_test(test_gf2_mul_matches_naive),
	    cmocka_unit_test(test_prp_is_a_permutation),
	    cmocka_unit_test(test_cascade_known_errors),
	    cmocka_unit_test(test_pa_length_formula),
	    cmocka_unit_test(test_no_eve_identical_keys),
	    cmocka_unit_test(test_full_eve_alarm),
	    cmocka_unit_test(test_partial_eve_shorter_key),
	    cmocka_unit_test(test_qber_matches_model),
	    cmocka_unit_test(test_threshold_is_configurable),
	    cmocka_unit_test(test_seeded_reproducible),
	    cmocka_unit_test(test_weak_coherent_pulses),
	    cmocka_unit_test(test_high_loss_no_key),
	    cmocka_unit_test(test_tiny_block_finite_size),
	    cmocka_unit_test(test_parameter_sweep),
	    cmocka_unit_test(test_absurd_parameters),
	    cmocka_unit_test(test_rate_measure),
	};

	if (qm_core_init(NULL) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
