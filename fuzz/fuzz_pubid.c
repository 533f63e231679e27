/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: imported public-key files (qm_crypto_pubid_import). An accepted
 * key must export again and re-import to the same fingerprint.
 */
#include <string.h>

#include "crypto/crypto.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_pubid *pk = NULL, *again = NULL;
	struct qm_error e;
	struct qm_buf out;
	unsigned char f1[QM_FPR_BYTES], f2[QM_FPR_BYTES];

	if (qm_crypto_pubid_import((const char *)data, size, &pk, &e) != QM_OK)
		return 0;
	qm_buf_init(&out, 1u << 20);
	qm_crypto_pubid_fingerprint(pk, f1);
	if (qm_crypto_pubid_export(pk, "fuzz@qmail.test", &out, &e) != QM_OK ||
	    qm_crypto_pubid_import((const char *)out.data, out.len, &again,
	                           &e) != QM_OK)
		__builtin_trap(); /* what we accepted must round-trip */
	qm_crypto_pubid_fingerprint(again, f2);
	if (memcmp(f1, f2, sizeof(f1)) != 0)
		__builtin_trap();
	qm_crypto_pubid_free(&again);
	qm_crypto_pubid_free(&pk);
	qm_buf_free(&out);
	return 0;
}
