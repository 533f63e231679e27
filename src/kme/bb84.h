/* SPDX-License-Identifier: MIT */
/*
 * bb84: the simulated QKD link between two KMEs (internal header of src/kme).
 * One call runs one block of the BB84 protocol end to end: Alice's random
 * bits and bases, a lossy noisy channel with an optional intercept-resend
 * eavesdropper, Bob's detectors and random bases, sifting, QBER estimation on
 * a disclosed random sample, the alarm, Cascade error correction, a
 * universal-hash check of the corrected keys and Toeplitz privacy
 * amplification. Pure computation: no I/O, no threads, no printing; with a
 * seed every run is reproducible. docs/KME.md ("BB84 link") documents the
 * model and the exact key-length formula.
 *
 * Bit order everywhere: bit i of a bit string is bit (i % 64) of word i / 64
 * (uint64_t words); packed into bytes, bit i is bit (i % 8) of byte i / 8.
 */
#ifndef QM_KME_BB84_H
#define QM_KME_BB84_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define QM_BB84_SEEDBYTES   32
#define QM_BB84_MIN_PULSES  1024u
#define QM_BB84_MAX_PULSES  (1u << 24)
#define QM_BB84_MAX_PASSES  16u
#define QM_BB84_VERIFY_BITS 128u /* Poly1305 tag disclosed by the check */

/*
 * What one block of the link does. qm_kme_bb84_params_default() fills the demo
 * defaults documented in docs/KME.md; change fields after it.
 */
struct qm_bb84_params {
	uint32_t pulses;            /* pulses Alice sends per block */
	double mean_photon_number;  /* 0: ideal single photons; else Poisson
	                               mean of weak coherent pulses, (0, 10] */
	double loss_db;             /* channel loss in dB, [0, 100] */
	double detector_efficiency; /* Bob's detectors, (0, 1] */
	double dark_count_prob;     /* dark click per pulse, [0, 0.1] */
	double noise;               /* bit flip on a detected photon
	                               (misalignment), [0, 0.5] */
	double eve_fraction;        /* intercept-resend on this fraction of
	                               pulses, [0, 1] */
	double sample_fraction;     /* sifted bits disclosed for the QBER
	                               estimate, (0, 0.5] */
	double qber_threshold;      /* alarm above this QBER, (0, 0.5) */
	unsigned cascade_passes;    /* 1..QM_BB84_MAX_PASSES */
	double eps_pe;              /* failure probability of the QBER upper
	                               bound, (0, 0.01] */
	double eps_pa;              /* privacy-amplification security
	                               parameter, (0, 0.01] */
	int seeded;                 /* 1: all randomness from seed below */
	unsigned char seed[QM_BB84_SEEDBYTES];
};

/*
 * The outcome of one block. key_alice and key_bob are Alice's and Bob's
 * final keys (key_bytes each, secure memory, NULL when no key was made);
 * they are equal unless ec_verified is 0, in which case no key is returned.
 * The counters say where the bits went; errors_before_ec/errors_after_ec are
 * what only a simulator can know (the true mismatches), for tests and plots.
 */
struct qm_bb84_result {
	unsigned char *key_alice;
	unsigned char *key_bob;
	size_t key_bytes;
	uint64_t final_bits;       /* = 8 * key_bytes */
	uint64_t pulses;           /* sent */
	uint64_t raw_detections;   /* Bob's clicks, any basis */
	uint64_t sifted_bits;      /* clicks where the bases agreed */
	uint64_t sample_bits;      /* k: disclosed and discarded */
	uint64_t sample_errors;    /* mismatches found in the sample */
	uint64_t kept_bits;        /* n = sifted - sample */
	double qber;               /* sample_errors / sample_bits */
	double qber_upper;         /* statistical upper bound (docs/KME.md) */
	double multi_photon_delta; /* GLLP fraction of multi-photon clicks */
	uint64_t leak_ec_bits;     /* parity bits disclosed by Cascade */
	uint64_t leak_verify_bits; /* tag bits disclosed by the check */
	uint64_t ec_corrected;     /* bits Bob flipped */
	uint64_t pa_removed_bits;  /* kept_bits - final_bits when EC ran */
	uint64_t errors_before_ec; /* simulator oracle */
	uint64_t errors_after_ec;  /* simulator oracle */
	int alarm;                 /* qber > qber_threshold: no key */
	int ec_verified;           /* the hashes of both ends matched */
};

/* Fills p with the documented demo defaults (unseeded). */
void qm_kme_bb84_params_default(struct qm_bb84_params *p);

/*
 * Checks every field of p; QM_ERR_INVAL with a message naming the field, its
 * allowed range and the value given.
 */
QM_NODISCARD enum qm_err
qm_kme_bb84_params_check(const struct qm_bb84_params *p, struct qm_error *err);

/*
 * Runs one block of BB84 with p and, on success, fills *r; the caller then
 * owns the keys in it and releases them with qm_kme_bb84_result_clear(). An
 * alarm, too few detections or a failed check are results, not errors:
 * final_bits is then 0 and no key is returned. Fails with QM_ERR_INVAL for
 * bad parameters (the message names the field) and QM_ERR_NOMEM when memory
 * runs out; *r is untouched on failure. Thread-safe: no global state.
 */
QM_NODISCARD enum qm_err qm_kme_bb84_run(const struct qm_bb84_params *p,
                                         struct qm_bb84_result *r,
                                         struct qm_error *err);

/* Wipes and frees the keys in r and zeroes every field. r may be NULL. */
void qm_kme_bb84_result_clear(struct qm_bb84_result *r);

/* Binary entropy h2(x) in bits; 0 at x <= 0 or x >= 1. */
double qm_kme_bb84_h2(double x);

/*
 * The privacy-amplification output length of docs/KME.md, in bits (a
 * multiple of 8, 0 when no secure key can be made): n kept bits, k sample
 * bits with e_k errors, leak_ec + leak_verify disclosed bits, delta the
 * multi-photon fraction (0 for single photons). *qber_upper (may be NULL)
 * gets the bound used.
 */
uint64_t qm_kme_bb84_pa_length(uint64_t n, uint64_t k, uint64_t e_k,
                               uint64_t leak_ec, uint64_t leak_verify,
                               double delta, double eps_pe, double eps_pa,
                               double *qber_upper);

/*
 * Distilled key rate: runs `blocks` blocks with p (1..1000) and reports
 * the bits of final key per second of CPU-bound wall time, for bench/kme.c.
 */
struct qm_bb84_rate {
	uint64_t blocks;
	uint64_t final_bits;    /* summed over blocks */
	double seconds;         /* wall time of the runs */
	double bits_per_second; /* final_bits / seconds */
	double mean_qber;
};
QM_NODISCARD enum qm_err
qm_kme_bb84_rate_measure(const struct qm_bb84_params *p, unsigned blocks,
                         struct qm_bb84_rate *out, struct qm_error *err);

/* ------------------------------------------------ internal building blocks */

/*
 * A deterministic random bit generator: ChaCha20 keystream under a 32-byte
 * seed, one independent stream per party (Alice, Bob, Eve, channel, public
 * discussion). Holds secrets: keep it in secure memory and wipe it.
 */
struct qm_bb84_drbg {
	unsigned char key[32];
	unsigned char nonce[8];
	uint64_t block; /* next ChaCha20 block counter */
	unsigned char buf[4096];
	size_t pos;    /* bytes of buf used */
	uint64_t bits; /* single-bit reservoir */
	unsigned nbits;
};

void qm_kme_bb84_drbg_init(struct qm_bb84_drbg *d,
                           const unsigned char seed[QM_BB84_SEEDBYTES],
                           uint32_t stream);
void qm_kme_bb84_drbg_bytes(struct qm_bb84_drbg *d, void *out, size_t n);
uint32_t qm_kme_bb84_drbg_u32(struct qm_bb84_drbg *d);
uint64_t qm_kme_bb84_drbg_u64(struct qm_bb84_drbg *d);
unsigned qm_kme_bb84_drbg_bit(struct qm_bb84_drbg *d);
/* Uniform in [0, n) without bias; n > 0. */
uint64_t qm_kme_bb84_drbg_below(struct qm_bb84_drbg *d, uint64_t n);

/*
 * Polynomial product over GF(2): r (na + nb words) = a (na words) * b (nb
 * words). Karatsuba over carry-less multiplication (PCLMULQDQ when the CPU
 * has it). Temporaries are secure memory. QM_ERR_NOMEM on failure.
 */
QM_NODISCARD enum qm_err qm_kme_bb84_gf2_mul(uint64_t *r, const uint64_t *a,
                                             size_t na, const uint64_t *b,
                                             size_t nb, struct qm_error *err);
/* Tests only: 1 makes the product use the portable loop even with PCLMUL. */
void qm_kme_bb84_gf2_set_portable(int on);

/*
 * Toeplitz hashing: y (m bits) = T x (x has n bits) over GF(2) with
 * T[i][j] = s[i - j + n - 1], s a string of n + m - 1 bits (so the first
 * row of T is s[n-1], s[n-2], ..., s[0] and the first column s[n-1], s[n],
 * ..., s[n+m-2]). Bits of s and x past their lengths are ignored; y gets
 * exactly ceil(m / 64) words with the unused top bits zero. Runs in
 * O(n^1.58) word operations.
 */
QM_NODISCARD enum qm_err qm_kme_bb84_toeplitz(const uint64_t *s,
                                              const uint64_t *x, uint64_t n,
                                              uint64_t m, uint64_t *y,
                                              struct qm_error *err);

/*
 * A keyed pseudo-random permutation of [0, n) (1 <= n <= 2^31): a 4-round
 * Feistel network over Z_a x Z_b with a = ceil(sqrt(n)), b = ceil(n / a),
 * and cycle walking over the fewer than a values in [n, a b); keys from the
 * public stream. Cascade uses it to reorder the key in each pass after the
 * first, in O(1) memory; fwd and inv are each other's inverse.
 */
#define QM_BB84_PRP_ROUNDS 4
#define QM_BB84_PRP_MAXN   ((uint64_t)1 << 31)
struct qm_bb84_prp {
	uint64_t n;
	uint64_t a, b; /* the two moduli, a b >= n */
	uint64_t key[QM_BB84_PRP_ROUNDS];
};
void qm_kme_bb84_prp_init(struct qm_bb84_prp *p, uint64_t n,
                          struct qm_bb84_drbg *pub);
uint64_t qm_kme_bb84_prp_fwd(const struct qm_bb84_prp *p, uint64_t i);
uint64_t qm_kme_bb84_prp_inv(const struct qm_bb84_prp *p, uint64_t x);

/*
 * Cascade error correction: Bob's bits (n of them) are corrected towards
 * Alice's over `passes` passes; the first block size is
 * max(4, ceil(0.73 / qber)) with qber clamped to [0.001, 0.25], doubled
 * each pass (at most n), and every pass after the first works on a
 * pseudo-random permutation (qm_bb84_prp) keyed from pub, the public
 * discussion. Each parity Alice discloses adds one bit to *leak; *flips
 * gets the bits Bob changed. Alice's array is only read for the parities she
 * would disclose. QM_ERR_NOMEM on failure.
 */
QM_NODISCARD enum qm_err
qm_kme_bb84_cascade(const uint64_t *alice, uint64_t *bob, uint64_t n,
                    double qber, unsigned passes, struct qm_bb84_drbg *pub,
                    uint64_t *leak, uint64_t *flips, struct qm_error *err);

#endif /* QM_KME_BB84_H */
