/* SPDX-License-Identifier: MIT */
/*
 * The BB84 simulator's random bit generator: ChaCha20 keystream (libsodium)
 * under the run's 32-byte seed, with one stream (nonce) per party so that,
 * for one seed, switching the eavesdropper on does not change Alice's bits.
 * Unseeded runs draw the seed from the system CSPRNG.
 */
#include "bb84.h"

#include <sodium.h>
#include <string.h>

static void refill(struct qm_bb84_drbg *d)
{
	memset(d->buf, 0, sizeof(d->buf));
	crypto_stream_chacha20_xor_ic(d->buf, d->buf, sizeof(d->buf), d->nonce,
	                              d->block, d->key);
	d->block += sizeof(d->buf) / 64;
	d->pos = 0;
}

void qm_kme_bb84_drbg_init(struct qm_bb84_drbg *d,
                           const unsigned char seed[QM_BB84_SEEDBYTES],
                           uint32_t stream)
{
	memcpy(d->key, seed, sizeof(d->key));
	memset(d->nonce, 0, sizeof(d->nonce));
	d->nonce[0] = (unsigned char)(stream & 0xff);
	d->nonce[1] = (unsigned char)((stream >> 8) & 0xff);
	d->nonce[2] = (unsigned char)((stream >> 16) & 0xff);
	d->nonce[3] = (unsigned char)((stream >> 24) & 0xff);
	d->nonce[4] = 'B';
	d->nonce[5] = 'B';
	d->nonce[6] = '8';
	d->nonce[7] = '4';
	d->block = 0;
	d->bits = 0;
	d->nbits = 0;
	refill(d);
}

void qm_kme_bb84_drbg_bytes(struct qm_bb84_drbg *d, void *out, size_t n)
{
	unsigned char *o = out;

	while (n) {
		size_t take = sizeof(d->buf) - d->pos;

		if (take == 0) {
			refill(d);
			continue;
		}
		if (take > n)
			take = n;
		memcpy(o, d->buf + d->pos, take);
		d->pos += take;
		o += take;
		n -= take;
	}
}

uint64_t qm_kme_bb84_drbg_u64(struct qm_bb84_drbg *d)
{
	uint64_t v;

	if (sizeof(d->buf) - d->pos < 8)
		refill(d);
	memcpy(&v, d->buf + d->pos, 8);
	d->pos += 8;
	return v;
}

uint32_t qm_kme_bb84_drbg_u32(struct qm_bb84_drbg *d)
{
	uint32_t v;

	if (sizeof(d->buf) - d->pos < 4)
		refill(d);
	memcpy(&v, d->buf + d->pos, 4);
	d->pos += 4;
	return v;
}

unsigned qm_kme_bb84_drbg_bit(struct qm_bb84_drbg *d)
{
	unsigned b;

	if (d->nbits == 0) {
		d->bits = qm_kme_bb84_drbg_u64(d);
		d->nbits = 64;
	}
	b = (unsigned)(d->bits & 1);
	d->bits >>= 1;
	d->nbits--;
	return b;
}

uint64_t qm_kme_bb84_drbg_below(struct qm_bb84_drbg *d, uint64_t n)
{
	/* Lemire's multiply-shift with rejection: exact, one draw mostly. */
	unsigned __int128 m = (unsigned __int128)qm_kme_bb84_drbg_u64(d) * n;
	uint64_t l = (uint64_t)m;

	if (l < n) {
		uint64_t t = (0 - n) % n;
		while (l < t) {
			m = (unsigned __int128)qm_kme_bb84_drbg_u64(d) * n;
			l = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}
