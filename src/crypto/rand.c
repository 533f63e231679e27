/* SPDX-License-Identifier: MIT */
/*
 * The randomness PQClean asks for (key generation, ML-DSA's hedged signing
 * nonce): libsodium's CSPRNG. Kept alone in its file so that a known-answer
 * test can link its own deterministic source in place of this one.
 */
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

int PQCLEAN_randombytes(uint8_t *output, size_t n);

int PQCLEAN_randombytes(uint8_t *output, size_t n)
{
	randombytes_buf(output, n);
	return 0;
}
