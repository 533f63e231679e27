/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the QMail envelope (qm_crypto_env_parse, every accessor, then
 * qm_crypto_env_open with the keys the harness supplies; docs/FORMAT.md). Seeds
 * are envelopes of all four levels sealed by fuzz/gen_corpus.c with the
 * same keys, so mutations reach authentication and decryption.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "open_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_ids_load();
	return 0;
}

void fuzz_teardown(void)
{
	fuzz_ids_free();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_env *env = NULL;
	struct qm_error e;
	struct qm_buf plain;
	const char *rcpts[] = {FUZZ_TO};
	struct qm_bound b = {FUZZ_FROM, rcpts, 1, FUZZ_MSGID, FUZZ_DATE, NULL};
	size_t slot;
	enum qm_err rc;

	if (qm_crypto_env_parse(data, size, &env, &e) != QM_OK)
		return 0;
	(void)qm_crypto_env_version(env);
	if (qm_crypto_env_level(env) < 1 || qm_crypto_env_level(env) > 4 ||
	    !qm_crypto_env_sender_sae(env))
		__builtin_trap();
	(void)qm_crypto_env_sender_fpr(env);
	for (size_t s = 0; s < qm_crypto_env_slot_count(env); s++) {
		if (!qm_crypto_env_slot_rcpt(env, s))
			__builtin_trap();
		for (size_t i = 0;
		     i < qm_crypto_env_slot_key_count(env, s) && i < 64; i++)
			if (!qm_crypto_env_slot_key_id(env, s, i))
				__builtin_trap();
	}
	(void)qm_crypto_env_slot_rcpt(env, qm_crypto_env_slot_count(env));
	/* found or not: the target looks for a crash, not a verdict */
	QM_IGNORE(qm_crypto_env_slot_find(env, FUZZ_SAE_B, &slot, &e));
	QM_IGNORE(qm_crypto_env_slot_find(env, "", &slot, &e));
	qm_buf_init_secure(&plain, FUZZ_MAXPLAIN);
	rc = fuzz_env_open_all(env, &b, 4, &plain);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "env: level %d, %zu slots, open: %s\n",
		        qm_crypto_env_level(env), qm_crypto_env_slot_count(env),
		        qm_err_str(rc));
	qm_buf_free(&plain);
	qm_crypto_env_free(&env);
	return 0;
}
