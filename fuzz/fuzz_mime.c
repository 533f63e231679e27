/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: MIME from strangers as readable content
 * (qm_mail_content_parse): the decrypted inner message and plain mail, with
 * the default limits and with tight ones (so that the limit paths run too).
 */
#include "fuzz.h"
#include "mail/mail.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK || qm_mail_init(&e) != QM_OK)
		fuzz_die("init", &e);
	return 0;
}

static void check(const struct qm_mail_content *c)
{
	if (!c->subject || !c->text || !c->in_reply_to || !c->references ||
	    !c->hdrs.from || !c->hdrs.date)
		__builtin_trap(); /* documented as "" when absent */
	for (size_t i = 0; i < c->natt; i++)
		if (!c->att[i].name || !c->att[i].type ||
		    (c->att[i].len && !c->att[i].data))
			__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_mail_content *c = NULL;
	struct qm_error e;
	struct qm_mail_limits tight = {
		.max_size = 4096,
		.max_parts = 4,
		.max_depth = 3,
		.max_headers = 16,
		.max_header_len = 256,
		.max_key_ids = 8,
	};

	if (qm_mail_content_parse(data, size, NULL, &c, &e) == QM_OK) {
		check(c);
		qm_mail_content_free(&c);
	}
	if (qm_mail_content_parse(data, size, &tight, &c, &e) == QM_OK) {
		check(c);
		if (c->natt > tight.max_parts)
			__builtin_trap();
		qm_mail_content_free(&c);
	}
	return 0;
}
