/* SPDX-License-Identifier: MIT */
/*
 * One block of the simulated BB84 link, end to end: the quantum part
 * (Alice's source, the channel with loss, misalignment noise, dark counts and
 * an intercept-resend eavesdropper, Bob's detectors), then the classical
 * post-processing (sifting, QBER estimation on a random disclosed sample,
 * alarm, Cascade, Poly1305 check, Toeplitz privacy amplification) with the
 * finite-size key length documented in docs/KME.md.
 */
#include "bb84.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* One independent random stream per party. */
enum {
	STREAM_ALICE = 1, /* Alice's bits and bases */
	STREAM_BOB,       /* Bob's bases */
	STREAM_EVE,       /* which pulses Eve takes, her bases and outcomes */
	STREAM_CHANNEL,   /* clicks, dark counts, misalignment flips */
	STREAM_OUTCOME,   /* Bob's random outcomes (wrong basis, dark count) */
	STREAM_PUBLIC     /* the public discussion: sample, Cascade, hashes */
};

/* Everything secret a run holds, in one secure allocation. */
struct streams {
	unsigned char seed[QM_BB84_SEEDBYTES];
	struct qm_bb84_drbg alice, bob, eve, chan, outcome, pub;
};

void qm_kme_bb84_params_default(struct qm_bb84_params *p)
{
	memset(p, 0, sizeof(*p));
	p->pulses = 1u << 22;
	p->mean_photon_number = 0.0;
	p->loss_db = 1.0;
	p->detector_efficiency = 0.8;
	p->dark_count_prob = 1e-6;
	p->noise = 0.01;
	p->eve_fraction = 0.0;
	p->sample_fraction = 0.1;
	p->qber_threshold = 0.11;
	p->cascade_passes = 4;
	p->eps_pe = 1e-10;
	p->eps_pa = 1e-10;
	p->seeded = 0;
}

/* Fails unless lo <= v <= hi (open ends when the flags say so); NaN fails. */
static enum qm_err check_range(const char *name, double v, double lo,
                               int lo_open, double hi, int hi_open,
                               struct qm_error *err)
{
	int ok = (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);

	if (ok)
		return QM_OK;
	return qm_error_set(err, QM_ERR_INVAL,
	                    "BB84 parameter %s must be in %c%g, %g%c, got %g",
	                    name, lo_open ? '(' : '[', lo, hi,
	                    hi_open ? ')' : ']', v);
}

enum qm_err qm_kme_bb84_params_check(const struct qm_bb84_params *p,
                                     struct qm_error *err)
{
	enum qm_err rc;

	if (!p)
		return qm_error_set(err, QM_ERR_INVAL, "BB84: no parameters");
	if (p->pulses < QM_BB84_MIN_PULSES || p->pulses > QM_BB84_MAX_PULSES)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "BB84 parameter pulses must be in [%u, %u], "
		    "got %u",
		    QM_BB84_MIN_PULSES, QM_BB84_MAX_PULSES, p->pulses);
	if (p->cascade_passes < 1 || p->cascade_passes > QM_BB84_MAX_PASSES)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "BB84 parameter cascade_passes must be in "
		                    "[1, %u], got %u",
		                    QM_BB84_MAX_PASSES, p->cascade_passes);
	if (p->mean_photon_number != 0.0 &&
	    (rc = check_range("mean_photon_number (0 for single photons)",
	                      p->mean_photon_number, 0, 1, 10, 0, err)))
		return rc;
	if ((rc = check_range("loss_db", p->loss_db, 0, 0, 100, 0, err)) ||
	    (rc = check_range("detector_efficiency", p->detector_efficiency, 0,
	                      1, 1, 0, err)) ||
	    (rc = check_range("dark_count_prob", p->dark_count_prob, 0, 0, 0.1,
	                      0, err)) ||
	    (rc = check_range("noise", p->noise, 0, 0, 0.5, 0, err)) ||
	    (rc = check_range("eve_fraction", p->eve_fraction, 0, 0, 1, 0,
	                      err)) ||
	    (rc = check_range("sample_fraction", p->sample_fraction, 0, 1, 0.5,
	                      0, err)) ||
	    (rc = check_range("qber_threshold", p->qber_threshold, 0, 1, 0.5, 1,
	                      err)) ||
	    (rc = check_range("eps_pe", p->eps_pe, 0, 1, 0.01, 0, err)) ||
	    (rc = check_range("eps_pa", p->eps_pa, 0, 1, 0.01, 0, err)))
		return rc;
	if (p->seeded != 0 && p->seeded != 1)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "BB84 parameter seeded must be 0 or 1, got %d", p->seeded);
	return QM_OK;
}

double qm_kme_bb84_h2(double x)
{
	if (!(x > 0.0) || !(x < 1.0))
		return 0.0;
	return -x * log2(x) - (1.0 - x) * log2(1.0 - x);
}

uint64_t qm_kme_bb84_pa_length(uint64_t n, uint64_t k, uint64_t e_k,
                               uint64_t leak_ec, uint64_t leak_verify,
                               double delta, double eps_pe, double eps_pa,
                               double *qber_upper)
{
	double dn = (double)n, dk = (double)k, mu, eu, es, len;

	if (qber_upper)
		*qber_upper = 0.5;
	if (n == 0 || k == 0 || e_k > k || !(eps_pe > 0) || !(eps_pa > 0))
		return 0;
	mu = sqrt((dn + dk) / (dn * dk) * (dk + 1.0) / dk * log(1.0 / eps_pe));
	eu = (double)e_k / dk + mu;
	if (eu > 0.5)
		eu = 0.5;
	if (qber_upper)
		*qber_upper = eu;
	if (!(delta >= 0.0) || delta >= 1.0)
		return 0;
	es = eu / (1.0 - delta);
	if (es >= 0.5)
		return 0;
	len = dn * (1.0 - delta) * (1.0 - qm_kme_bb84_h2(es)) -
	      (double)leak_ec - (double)leak_verify - 2.0 * log2(1.0 / eps_pa);
	if (!(len >= 8.0))
		return 0;
	return 8 * (uint64_t)floor(len / 8.0);
}

/* A probability as a threshold for a uniform 32-bit draw. */
static uint64_t thr32(double p)
{
	if (!(p > 0))
		return 0;
	if (p >= 1)
		return (uint64_t)1 << 32;
	return (uint64_t)floor(p * 4294967296.0);
}

static inline void bit_set(uint64_t *v, uint64_t i, unsigned b)
{
	v[i >> 6] |= (uint64_t)b << (i & 63);
}

static inline unsigned bit_get(const uint64_t *v, uint64_t i)
{
	return (unsigned)((v[i >> 6] >> (i & 63)) & 1);
}

static uint64_t count_diff(const uint64_t *a, const uint64_t *b, size_t nw)
{
	uint64_t d = 0;

	for (size_t i = 0; i < nw; i++)
		d += (uint64_t)__builtin_popcountll(a[i] ^ b[i]);
	return d;
}

/*
 * The quantum part: fills Alice's and Bob's sifted bits (arrays zeroed by
 * the caller, room for p->pulses bits) and the counters.
 */
static void transmit(const struct qm_bb84_params *p, struct streams *st,
                     uint64_t *sa, uint64_t *sb, struct qm_bb84_result *r)
{
	double eta = pow(10.0, -p->loss_db / 10.0) * p->detector_efficiency;
	double ps = p->mean_photon_number > 0
	                ? 1.0 - exp(-p->mean_photon_number * eta)
	                : eta;
	double d = p->dark_count_prob;
	uint64_t t_sig = thr32(ps * (1.0 - d));
	uint64_t t_any = thr32(1.0 - (1.0 - ps) * (1.0 - d));
	uint64_t t_eve = thr32(p->eve_fraction);
	uint64_t t_noise = thr32(p->noise);
	uint64_t raw = 0, s = 0;
	uint32_t clicks[64];

	if (t_any < t_sig)
		t_any = t_sig;
	/* 64 pulses at a time: which clicked, which survive sifting */
	for (uint64_t i0 = 0; i0 < p->pulses; i0 += 64) {
		uint64_t abits = qm_kme_bb84_drbg_u64(&st->alice);
		uint64_t abase = qm_kme_bb84_drbg_u64(&st->alice);
		uint64_t bbase = qm_kme_bb84_drbg_u64(&st->bob);
		uint64_t left = p->pulses - i0, click = 0, sift;

		qm_kme_bb84_drbg_bytes(&st->chan, clicks, sizeof(clicks));
		for (unsigned j = 0; j < 64; j++)
			click |= (uint64_t)(clicks[j] < t_any) << j;
		if (left < 64)
			click &= ((uint64_t)1 << left) - 1;
		raw += (uint64_t)__builtin_popcountll(click);
		/* bases differ: dropped at sifting */
		sift = click & ~(abase ^ bbase);
		while (sift) {
			unsigned sh = (unsigned)__builtin_ctzll(sift), val;
			unsigned a = (unsigned)((abits >> sh) & 1);
			unsigned basis = (unsigned)((abase >> sh) & 1);

			sift &= sift - 1;
			if (clicks[sh] < t_sig) {
				unsigned pbit = a, pbasis = basis;

				if (t_eve &&
				    qm_kme_bb84_drbg_u32(&st->eve) < t_eve) {
					/* Eve measures in a random basis and
					 * resends what she found */
					unsigned g =
					    qm_kme_bb84_drbg_bit(&st->eve);
					if (g != basis)
						pbit = qm_kme_bb84_drbg_bit(
						    &st->eve);
					pbasis = g;
				}
				val = pbasis == basis
				          ? pbit
				          : qm_kme_bb84_drbg_bit(&st->outcome);
				if (t_noise &&
				    qm_kme_bb84_drbg_u32(&st->chan) < t_noise)
					val ^= 1;
			} else {
				/* a dark count, alone or with the photon:
				 * a random outcome */
				val = qm_kme_bb84_drbg_bit(&st->outcome);
			}
			bit_set(sa, s, a);
			bit_set(sb, s, val);
			s++;
		}
	}
	r->pulses = p->pulses;
	r->raw_detections = raw;
	r->sifted_bits = s;
}

/*
 * Picks exactly k of the N sifted positions uniformly (Knuth's selection
 * sampling, public stream), counts their mismatches, and copies the other
 * bits to ka/kb (zeroed by the caller).
 */
static void sample_split(const uint64_t *sa, const uint64_t *sb, uint64_t N,
                         uint64_t k, struct qm_bb84_drbg *pub, uint64_t *ka,
                         uint64_t *kb, uint64_t *errors)
{
	uint64_t chosen = 0, e = 0, out = 0;

	for (uint64_t i = 0; i < N; i++) {
		unsigned a = bit_get(sa, i), b = bit_get(sb, i);

		if (chosen < k &&
		    qm_kme_bb84_drbg_below(pub, N - i) < k - chosen) {
			chosen++;
			e += a != b;
			continue;
		}
		bit_set(ka, out, a);
		bit_set(kb, out, b);
		out++;
	}
	*errors = e;
}

/* Bytes of a bit string of n bits. */
static size_t nbytes(uint64_t n)
{
	return (size_t)((n + 7) / 8);
}

static size_t nwords(uint64_t n)
{
	return (size_t)((n + 63) / 64);
}

enum qm_err qm_kme_bb84_run(const struct qm_bb84_params *p,
                            struct qm_bb84_result *r, struct qm_error *err)
{
	struct qm_bb84_result res;
	struct streams *st = NULL;
	uint64_t *sa = NULL, *sb = NULL, *ka = NULL, *kb = NULL;
	uint64_t *tseed = NULL, *ya = NULL, *yb = NULL;
	unsigned char *outa = NULL, *outb = NULL;
	unsigned char polykey[crypto_onetimeauth_KEYBYTES];
	unsigned char taga[crypto_onetimeauth_BYTES];
	unsigned char tagb[crypto_onetimeauth_BYTES];
	size_t wsift, wkept;
	uint64_t N, k, n, ell;
	enum qm_err rc;

	memset(&res, 0, sizeof(res));
	if (!r)
		return qm_error_set(err, QM_ERR_INVAL, "BB84: no result given");
	if ((rc = qm_kme_bb84_params_check(p, err)) != QM_OK)
		return rc;
	if ((rc = qm_core_init(err)) != QM_OK)
		return rc;
	wsift = nwords(p->pulses);
	st = qm_sec_alloc(sizeof(*st));
	sa = qm_sec_alloc(wsift * 8);
	sb = qm_sec_alloc(wsift * 8);
	if (!st || !sa || !sb)
		goto nomem;
	memset(sa, 0, wsift * 8);
	memset(sb, 0, wsift * 8);
	if (p->seeded)
		memcpy(st->seed, p->seed, sizeof(st->seed));
	else
		qm_random(st->seed, sizeof(st->seed));
	qm_kme_bb84_drbg_init(&st->alice, st->seed, STREAM_ALICE);
	qm_kme_bb84_drbg_init(&st->bob, st->seed, STREAM_BOB);
	qm_kme_bb84_drbg_init(&st->eve, st->seed, STREAM_EVE);
	qm_kme_bb84_drbg_init(&st->chan, st->seed, STREAM_CHANNEL);
	qm_kme_bb84_drbg_init(&st->outcome, st->seed, STREAM_OUTCOME);
	qm_kme_bb84_drbg_init(&st->pub, st->seed, STREAM_PUBLIC);

	transmit(p, st, sa, sb, &res);
	if (p->mean_photon_number > 0) {
		/* GLLP: assume every multi-photon pulse was detected */
		double mu = p->mean_photon_number;
		double pm = 1.0 - exp(-mu) * (1.0 + mu);
		double q = (double)res.raw_detections / (double)res.pulses;
		res.multi_photon_delta = q > 0 ? pm / q : 1.0;
		if (res.multi_photon_delta > 1.0)
			res.multi_photon_delta = 1.0;
	}

	/* parameter estimation on a disclosed random sample */
	N = res.sifted_bits;
	k = (uint64_t)llround((double)N * p->sample_fraction);
	if (k > N)
		k = N;
	n = N - k;
	res.sample_bits = k;
	res.kept_bits = n;
	res.qber_upper = 0.5;
	wkept = nwords(n ? n : 1);
	ka = qm_sec_alloc(wkept * 8);
	kb = qm_sec_alloc(wkept * 8);
	if (!ka || !kb)
		goto nomem;
	memset(ka, 0, wkept * 8);
	memset(kb, 0, wkept * 8);
	sample_split(sa, sb, N, k, &st->pub, ka, kb, &res.sample_errors);
	qm_sec_free(sa);
	qm_sec_free(sb);
	sa = sb = NULL;
	if (k == 0 || n == 0)
		goto done; /* too few detections to estimate anything */
	res.qber = (double)res.sample_errors / (double)k;
	if (res.qber > p->qber_threshold) {
		res.alarm = 1;
		goto done;
	}

	/* error correction and its check */
	res.errors_before_ec = count_diff(ka, kb, wkept);
	rc = qm_kme_bb84_cascade(ka, kb, n, res.qber, p->cascade_passes,
	                         &st->pub, &res.leak_ec_bits, &res.ec_corrected,
	                         err);
	if (rc)
		goto out;
	res.errors_after_ec = count_diff(ka, kb, wkept);
	qm_kme_bb84_drbg_bytes(&st->pub, polykey, sizeof(polykey));
	crypto_onetimeauth(taga, (const unsigned char *)ka, nbytes(n), polykey);
	crypto_onetimeauth(tagb, (const unsigned char *)kb, nbytes(n), polykey);
	res.leak_verify_bits = QM_BB84_VERIFY_BITS;
	res.ec_verified = sodium_memcmp(taga, tagb, sizeof(taga)) == 0;
	if (!res.ec_verified)
		goto done;

	/* privacy amplification */
	ell = qm_kme_bb84_pa_length(
	    n, k, res.sample_errors, res.leak_ec_bits, res.leak_verify_bits,
	    res.multi_photon_delta, p->eps_pe, p->eps_pa, &res.qber_upper);
	res.pa_removed_bits = n - ell;
	if (ell == 0)
		goto done;
	tseed = malloc(nwords(n + ell - 1) * 8);
	ya = qm_sec_alloc(nwords(ell) * 8);
	yb = qm_sec_alloc(nwords(ell) * 8);
	outa = qm_sec_alloc(nbytes(ell));
	outb = qm_sec_alloc(nbytes(ell));
	if (!tseed || !ya || !yb || !outa || !outb)
		goto nomem;
	qm_kme_bb84_drbg_bytes(&st->pub, tseed, nwords(n + ell - 1) * 8);
	if ((rc = qm_kme_bb84_toeplitz(tseed, ka, n, ell, ya, err)))
		goto out;
	/*
	 * Bob's hash T kb = T ka + T (ka + kb) over GF(2): hashing the
	 * difference gives exactly his output and costs nothing when the
	 * corrected keys already agree.
	 */
	{
		uint64_t any = 0;

		for (size_t i = 0; i < wkept; i++) {
			kb[i] ^= ka[i];
			any |= kb[i];
		}
		if (any) {
			rc = qm_kme_bb84_toeplitz(tseed, kb, n, ell, yb, err);
			if (rc)
				goto out;
		} else {
			memset(yb, 0, nwords(ell) * 8);
		}
		for (size_t i = 0; i < nwords(ell); i++)
			yb[i] ^= ya[i];
	}
	memcpy(outa, ya, nbytes(ell));
	memcpy(outb, yb, nbytes(ell));
	res.key_alice = outa;
	res.key_bob = outb;
	res.key_bytes = nbytes(ell);
	res.final_bits = ell;
	outa = outb = NULL;

done:
	*r = res;
	memset(&res, 0, sizeof(res));
	rc = QM_OK;
	goto out;
nomem:
	rc = qm_error_set(err, QM_ERR_NOMEM,
	                  "out of memory simulating a BB84 block of %u pulses: "
	                  "lower the pulses per block",
	                  p->pulses);
out:
	qm_sec_free(res.key_alice);
	qm_sec_free(res.key_bob);
	qm_sec_free(outb);
	qm_sec_free(outa);
	qm_sec_free(yb);
	qm_sec_free(ya);
	free(tseed);
	qm_sec_free(kb);
	qm_sec_free(ka);
	qm_sec_free(sb);
	qm_sec_free(sa);
	qm_sec_free(st);
	qm_wipe(polykey, sizeof(polykey));
	qm_wipe(taga, sizeof(taga));
	qm_wipe(tagb, sizeof(tagb));
	return rc;
}

void qm_kme_bb84_result_clear(struct qm_bb84_result *r)
{
	if (!r)
		return;
	qm_sec_free(r->key_alice);
	qm_sec_free(r->key_bob);
	memset(r, 0, sizeof(*r));
}

enum qm_err qm_kme_bb84_rate_measure(const struct qm_bb84_params *p,
                                     unsigned blocks, struct qm_bb84_rate *out,
                                     struct qm_error *err)
{
	struct qm_bb84_rate rate;
	struct qm_bb84_params q;
	uint64_t t0, t1;
	double qsum = 0;
	enum qm_err rc;

	if (!p || !out || blocks < 1 || blocks > 1000)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "BB84 rate: give parameters and 1..1000 "
		                    "blocks (got %u)",
		                    blocks);
	memset(&rate, 0, sizeof(rate));
	q = *p;
	t0 = qm_mono_ns();
	for (unsigned i = 0; i < blocks; i++) {
		struct qm_bb84_result r;

		memset(&r, 0, sizeof(r));
		if (q.seeded) /* a new block: the seed's last bytes count */
			for (unsigned j = 0; j < 4; j++)
				q.seed[QM_BB84_SEEDBYTES - 1 - j] =
				    p->seed[QM_BB84_SEEDBYTES - 1 - j] ^
				    (unsigned char)((i + 1) >> (8 * j));
		rc = qm_kme_bb84_run(&q, &r, err);
		if (rc)
			return rc;
		rate.final_bits += r.final_bits;
		qsum += r.qber;
		qm_kme_bb84_result_clear(&r);
	}
	t1 = qm_mono_ns();
	rate.blocks = blocks;
	rate.seconds = (double)(t1 - t0) / 1e9;
	rate.bits_per_second =
	    rate.seconds > 0 ? (double)rate.final_bits / rate.seconds : 0;
	rate.mean_qber = qsum / blocks;
	*out = rate;
	return QM_OK;
}
