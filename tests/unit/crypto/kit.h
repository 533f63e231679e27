/* SPDX-License-Identifier: MIT */
/*
 * Test kit for the crypto unit tests: builds the keys, identities and bound
 * header values of a message at any level with several recipients, seals,
 * and opens as a given recipient the way the mail layer will (parse, find
 * the slot, look the keys up by the key IDs the envelope names).
 */
#ifndef QMT_CRYPTO_KIT_H
#define QMT_CRYPTO_KIT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

#define KIT_MAXR 4

struct kit {
	int level;
	size_t nrcpt;  /* recipients */
	int shared;    /* levels 1/2: one key slot shared by all recipients */
	size_t keylen; /* level 1: bytes per ETSI key */
	size_t extra;  /* level 1: key bytes beyond what is needed */
	uint64_t plen;
	/* levels 1 and 2 */
	size_t nslots;
	struct qm_qslot slots[KIT_MAXR];
	struct qm_qkey *keys[KIT_MAXR];
	size_t nkeys[KIT_MAXR];
	unsigned char *mat[KIT_MAXR]; /* secure key material per slot */
	size_t matlen[KIT_MAXR];
	char *idtext[KIT_MAXR]; /* the key IDs, NUL-separated */
	char rcpt[KIT_MAXR][32];
	/* levels 3 and 4 (borrowed from the global identities) */
	const struct qm_pubid *rpub[KIT_MAXR];
	/* bound values */
	const char *addrs[KIT_MAXR + 1];
	struct qm_bound bound;
};

/* Global identities: a sender and KIT_MAXR recipients, made once. */
void kit_global_init(void);
void kit_global_free(void);
const struct qm_identity *kit_sender(void);
const struct qm_pubid *kit_sender_pub(void);
const struct qm_identity *kit_rid(size_t i);

/* Prepares a kit (keys for a plaintext of plen bytes). */
void kit_init(struct kit *k, int level, size_t nrcpt, int shared, uint64_t plen,
              size_t keylen);
void kit_free(struct kit *k);
/* Seals pt into env (which the caller initialised); returns the rc. */
enum qm_err kit_seal(struct kit *k, const void *pt, size_t n,
                     struct qm_buf *env, struct qm_error *err);
/* Opens env as recipient r with bound values b (NULL: the kit's) into out
 * (an initialised empty buffer). Keys are looked up by the IDs the
 * envelope names; an unknown ID gets the kit's key at that position. */
enum qm_err kit_open(struct kit *k, const void *env, size_t n, size_t r,
                     const struct qm_bound *b, struct qm_buf *out,
                     struct qm_error *err);
/*
 * Set: kit_open opens twice, whole (qm_crypto_env_parse, _open) and read
 * from a source in pieces (qm_crypto_env_parse_src, _open_stream), and
 * fails with QM_ERR_INTERNAL (naming both) when the two disagree in result
 * or plaintext; out gets what the stream opener handed out. 2: the same
 * with qm_crypto_env_open_staged (what it handed out is dropped when it
 * fails, as a caller must).
 */
extern int kit_src;
/* The memory source kit_src uses: n bytes at p given at most piece bytes
 * a read; from the flip_pass-th pass on (1: the first), byte flip_at is
 * flipped. */
struct kit_memsrc {
	const unsigned char *p;
	size_t n, off, piece;
	int pass, flip_pass;
	size_t flip_at;
};
void kit_memsrc_init(struct kit_memsrc *m, struct qm_env_src *src,
                     const void *p, size_t n);
/* A writer appending to a struct qm_buf. */
enum qm_err kit_buf_wr(void *arg, const void *p, size_t n,
                       struct qm_error *err);
/* Fills p with n bytes of a deterministic pattern. */
void kit_pattern(unsigned char *p, size_t n, uint32_t seed);

#endif
