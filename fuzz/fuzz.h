/* SPDX-License-Identifier: MIT */
/*
 * Shared declarations of the fuzz targets (fuzz/fuzz_*.c): libFuzzer entry
 * points, an optional tear-down the replay driver calls so that leak checks
 * see a clean exit, and small set-up helpers that abort on failure (a
 * harness that cannot set up is a bug in the harness, not a finding).
 */
#ifndef QM_FUZZ_H
#define QM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Defined by targets that hold global state (servers, keys). */
void fuzz_teardown(void) __attribute__((weak));

/* Prints what failed and aborts. */
void fuzz_die(const char *what, const struct qm_error *e)
    __attribute__((noreturn));
/* Reads fuzz/<rel> (QM_FUZZ_DIR) into out; aborts when missing. */
void fuzz_read_fixture(const char *rel, struct qm_buf *out);
/* A fresh private temporary folder (removed by fuzz_rmtree). */
void fuzz_tempdir(char *out, size_t outlen);
/* rm -r of a folder made by fuzz_tempdir. */
void fuzz_rmtree(const char *path);

/* The fixed header values every seed envelope and message is bound to. */
#define FUZZ_FROM  "alice@qmail.test"
#define FUZZ_TO    "bob@qmail.test"
#define FUZZ_MSGID "<fuzz-1@qmail.test>"
#define FUZZ_DATE  "Fri, 27 Nov 2026 19:00:00 +0000"
#define FUZZ_SAE_A "SAE_ALICE"
#define FUZZ_SAE_B "SAE_BOB"
/* Level-1/2 keys the harness hands out: FUZZ_KEYLEN bytes derived from the
 * key ID, so that the seed envelopes open. */
#define FUZZ_KEYLEN 64
void fuzz_key_for_id(const char *key_id, unsigned char *key, size_t len);

#endif
