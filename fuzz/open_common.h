/* SPDX-License-Identifier: MIT */
/*
 * Receiving-side helpers of the envelope and incoming-message targets
 * (open_common.c).
 */
#ifndef QM_FUZZ_OPEN_COMMON_H
#define QM_FUZZ_OPEN_COMMON_H

#include "crypto/crypto.h"
#include "fuzz.h"

/* Larger plaintexts or key lists are parsed but not opened (time). */
#define FUZZ_MAXPLAIN (1u << 20)
#define FUZZ_MAXKEYS  4096u

/* Loads keys/alice.sec and keys/bob.sec once (aborts when missing). */
void fuzz_ids_load(void);
void fuzz_ids_free(void);
const struct qm_identity *fuzz_bob(void);
const struct qm_pubid *fuzz_alice_pub(void);

/*
 * Tries to open env with bound in each of its first maxslots slots, as Bob
 * with Alice's public identity (levels 3-4) or with the keys of
 * fuzz_key_for_id (levels 1-2). plain (secure, max FUZZ_MAXPLAIN) gets the
 * plaintext of the first slot that opens. Traps when a failed open leaves
 * plaintext behind.
 */
enum qm_err fuzz_env_open_all(const struct qm_env *env,
                              const struct qm_bound *bound, size_t maxslots,
                              struct qm_buf *plain);

#endif
