/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: QMail-Identity header values (qm_crypto_idhdr_parse), as a
 * hostile sender or server writes them. An accepted header must build
 * again and parse back to the same address, IDs and fingerprint.
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

/* The value of a built header field: name, CRLFs and the first space
 * gone, as the mail layer unfolds it. */
static size_t unfold(const struct qm_buf *b, char *out, size_t max)
{
	size_t o = 0, skip = strlen(QM_IDHDR_NAME) + 2;

	for (size_t i = skip; i < b->len && o + 1 < max; i++)
		if (b->data[i] != '\r' && b->data[i] != '\n')
			out[o++] = (char)b->data[i];
	out[o] = '\0';
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char again[QM_IDHDR_MAX + 1];
	struct qm_idhdr h, h2;
	struct qm_error e;
	struct qm_buf out;
	size_t n;

	if (qm_crypto_idhdr_parse((const char *)data, size, &h, &e) != QM_OK)
		return 0;
	qm_buf_init(&out, 1u << 16);
	if (qm_crypto_idhdr_build(h.key, h.addr, h.sae, h.kme, &out, &e) !=
	    QM_OK)
		__builtin_trap(); /* what we accepted must build again */
	n = unfold(&out, again, sizeof(again));
	if (qm_crypto_idhdr_parse(again, n, &h2, &e) != QM_OK ||
	    strcmp(h.addr, h2.addr) != 0 || strcmp(h.sae, h2.sae) != 0 ||
	    strcmp(h.kme, h2.kme) != 0 ||
	    memcmp(h.fpr, h2.fpr, QM_FPR_BYTES) != 0)
		__builtin_trap();
	qm_crypto_idhdr_clear(&h2);
	qm_crypto_idhdr_clear(&h);
	qm_buf_free(&out);
	return 0;
}
