/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the QMail envelope (qm_crypto_env_parse, every accessor, then
 * qm_crypto_env_open with the keys the harness supplies; docs/FORMAT.md), and
 * the same envelope read from a source in pieces (qm_crypto_env_parse_src),
 * which must give the same result and plaintext. Seeds
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

/* The input as a source given in pieces of 777 bytes. */
struct memsrc {
	const uint8_t *p;
	size_t n, off;
};

static enum qm_err mem_read(void *arg, void *buf, size_t want, size_t *got,
                            struct qm_error *err)
{
	struct memsrc *m = arg;
	size_t k = m->n - m->off;

	(void)err;
	k = k < want ? k : want;
	k = k < 777 ? k : 777;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	*got = k;
	return QM_OK;
}

static enum qm_err mem_rewind(void *arg, struct qm_error *err)
{
	(void)err;
	((struct memsrc *)arg)->off = 0;
	return QM_OK;
}

/* Parsed and opened from a source: the same verdicts as whole (rc, rc2:
 * the whole parse and open; plain: the whole plaintext). */
static void same_from_src(const uint8_t *data, size_t size, enum qm_err rc,
                          enum qm_err orc, const struct qm_buf *plain,
                          const struct qm_bound *b)
{
	struct memsrc m = {data, size, 0};
	struct qm_env_src src = {mem_read, mem_rewind, &m, size};
	struct qm_env *env = NULL;
	struct qm_buf p2;
	struct qm_error e;
	enum qm_err src_rc;

	src_rc = qm_crypto_env_parse_src(&src, &env, &e);
	if (rc != QM_OK && src_rc == QM_OK) {
		/* a wrong signature length field: found by the whole parse,
		 * by the source's open */
		if (rc != QM_ERR_PARSE)
			__builtin_trap();
		qm_buf_init_secure(&p2, FUZZ_MAXPLAIN);
		if (fuzz_env_open_all(env, b, 4, &p2) == QM_OK || p2.len)
			__builtin_trap();
		goto out;
	}
	if (src_rc != rc)
		__builtin_trap();
	if (src_rc)
		return;
	qm_buf_init_secure(&p2, FUZZ_MAXPLAIN);
	src_rc = fuzz_env_open_all(env, b, 4, &p2);
	if (src_rc != orc)
		__builtin_trap();
	if (!orc && (p2.len != plain->len ||
	             (p2.len && memcmp(p2.data, plain->data, p2.len) != 0)))
		__builtin_trap();
out:
	qm_buf_free(&p2);
	qm_crypto_env_free(&env);
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

	rc = qm_crypto_env_parse(data, size, &env, &e);
	if (rc != QM_OK) {
		same_from_src(data, size, rc, rc, NULL, &b);
		return 0;
	}
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
	same_from_src(data, size, QM_OK, rc, &plain, &b);
	qm_buf_free(&plain);
	qm_crypto_env_free(&env);
	return 0;
}
