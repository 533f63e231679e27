/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: vCard files (qm_client_vcard_parse), as a contacts import
 * reads them from anywhere. Every card read must write again as vCard
 * 4.0 and read back to the same name and addresses.
 */
#include <string.h>

#include "client/client.h"
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

static struct qm_client_vcard g_back;

static enum qm_err keep(void *arg, const struct qm_client_vcard *card)
{
	(void)arg;
	g_back = *card;
	return QM_OK;
}

/* A card read: written and read back, it must be the same. */
static enum qm_err again(void *arg, const struct qm_client_vcard *card)
{
	struct qm_error e;
	struct qm_buf b;

	(void)arg;
	if (card->refused || !card->n_emails)
		return QM_OK;
	qm_buf_init(&b, 1u << 20);
	if (qm_client_vcard_write(card, &b, &e) != QM_OK)
		__builtin_trap(); /* what we read must write again */
	memset(&g_back, 0, sizeof(g_back));
	if (qm_client_vcard_parse((const char *)b.data, b.len, keep, NULL,
	                          &e) != QM_OK ||
	    g_back.refused || strcmp(g_back.name, card->name) != 0 ||
	    g_back.n_emails != card->n_emails)
		__builtin_trap();
	for (size_t i = 0; i < card->n_emails; i++)
		if (strcmp(g_back.emails[i], card->emails[i]) != 0)
			__builtin_trap();
	qm_buf_free(&b);
	return QM_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_error e;

	QM_IGNORE(
	    qm_client_vcard_parse((const char *)data, size, again, NULL, &e));
	return 0;
}
