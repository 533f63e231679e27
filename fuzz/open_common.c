/* SPDX-License-Identifier: MIT */
/*
 * The receiving side shared by the envelope and incoming-message targets:
 * fixed identities from fuzz/keys/ (Alice sends, Bob receives) and an
 * opener that supplies every key an envelope asks for, so that fuzzed
 * envelopes reach authentication and decryption, not only the parser.
 */
#include <stdlib.h>
#include <string.h>

#include "open_common.h"

static struct qm_identity *g_bob;
static struct qm_pubid *g_alice_pub;

void fuzz_ids_load(void)
{
	struct qm_error e;
	struct qm_buf b;
	struct qm_identity *alice = NULL;

	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	if (g_bob)
		return;
	qm_buf_init_secure(&b, 1u << 20);
	fuzz_read_fixture("keys/bob.sec", &b);
	if (qm_crypto_identity_import_secret(b.data, b.len, &g_bob, &e) !=
	    QM_OK)
		fuzz_die("keys/bob.sec", &e);
	qm_buf_reset(&b);
	fuzz_read_fixture("keys/alice.sec", &b);
	if (qm_crypto_identity_import_secret(b.data, b.len, &alice, &e) !=
	        QM_OK ||
	    qm_crypto_identity_public(alice, &g_alice_pub, &e) != QM_OK)
		fuzz_die("keys/alice.sec", &e);
	qm_crypto_identity_free(&alice);
	qm_buf_free(&b);
}

void fuzz_ids_free(void)
{
	qm_crypto_identity_free(&g_bob);
	qm_crypto_pubid_free(&g_alice_pub);
}

const struct qm_identity *fuzz_bob(void)
{
	return g_bob;
}

const struct qm_pubid *fuzz_alice_pub(void)
{
	return g_alice_pub;
}

enum qm_err fuzz_env_open_all(const struct qm_env *env,
                              const struct qm_bound *bound, size_t maxslots,
                              struct qm_buf *plain)
{
	struct qm_error e;
	enum qm_err last = QM_ERR_NOTFOUND;
	size_t nslots = qm_crypto_env_slot_count(env);
	int level = qm_crypto_env_level(env);

	if (qm_crypto_env_plaintext_len(env) > FUZZ_MAXPLAIN)
		return QM_ERR_TOOBIG;
	for (size_t s = 0; s < nslots && s < maxslots; s++) {
		struct qm_open_params op;
		struct qm_qkey *keys = NULL;
		unsigned char *mat = NULL;
		size_t nk = 0;

		memset(&op, 0, sizeof(op));
		op.bound = bound;
		op.slot = s;
		if (level <= 2) {
			size_t klen = level == 1 ? FUZZ_KEYLEN : QM_L2_KEYBYTES;

			nk = qm_crypto_env_slot_key_count(env, s);
			if (nk == 0 || nk > FUZZ_MAXKEYS)
				continue;
			keys = calloc(nk, sizeof(*keys));
			mat = qm_sec_alloc(nk * klen);
			if (!keys || !mat)
				fuzz_die("out of memory", NULL);
			for (size_t i = 0; i < nk; i++) {
				keys[i].key_id =
				    qm_crypto_env_slot_key_id(env, s, i);
				if (!keys[i].key_id)
					__builtin_trap();
				fuzz_key_for_id(keys[i].key_id, mat + i * klen,
				                klen);
				keys[i].key = mat + i * klen;
				keys[i].len = klen;
			}
			op.keys = keys;
			op.nkeys = nk;
		} else {
			op.self = g_bob;
			op.sender = g_alice_pub;
		}
		qm_buf_reset(plain);
		last = qm_crypto_env_open(env, &op, plain, &e);
		if (last != QM_OK && plain->len != 0)
			__builtin_trap(); /* no plaintext after a failure */
		free(keys);
		qm_sec_free(mat);
		if (last == QM_OK)
			break;
	}
	return last;
}
