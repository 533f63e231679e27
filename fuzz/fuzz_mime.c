/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: MIME from strangers as readable content
 * (qm_mail_content_parse): the decrypted inner message and plain mail, with
 * the default limits and with tight ones (so that the limit paths run too);
 * and the index's list of it read whole (qm_mail_content_list) and from a
 * source in pieces with seeks (qm_mail_content_list_src, as a large
 * message is read from the vault), which must agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The input as a source given in pieces of 333 bytes. */
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
	k = k < 333 ? k : 333;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	*got = k;
	return QM_OK;
}

static enum qm_err mem_seek(void *arg, uint64_t off, struct qm_error *err)
{
	struct memsrc *m = arg;

	(void)err;
	if (off > m->n) {
		if (getenv("FUZZ_VERBOSE"))
			fprintf(stderr, "  seek to %llu of %zu\n",
			        (unsigned long long)off, m->n);
		__builtin_trap(); /* GMime asked past the end */
	}
	m->off = (size_t)off;
	return QM_OK;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Listed whole and from a source: the same verdict and list. */
static void same_list(const uint8_t *data, size_t size,
                      const struct qm_mail_limits *lim)
{
	struct qm_mail_content *a = NULL, *b = NULL;
	struct memsrc m = {data, size, 0};
	struct qm_mail_src src = {mem_read, mem_seek, &m, size, NULL, NULL};
	struct qm_error e1, e2;
	enum qm_err r1 = qm_mail_content_list(data, size, lim, &a, &e1);
	enum qm_err r2 = qm_mail_content_list_src(&src, lim, &b, &e2);

	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "list: whole %d (%s), from a source %d (%s)\n",
		        r1, r1 ? e1.msg : "", r2, r2 ? e2.msg : "");
	if (r1 != r2 || (r1 && strcmp(e1.msg, e2.msg) != 0))
		__builtin_trap();
	if (!r1 && getenv("FUZZ_VERBOSE"))
		fprintf(
		    stderr,
		    "  subject %d, text %d (%zu/%zu), html %d, natt %zu/%zu\n",
		    same(a->subject, b->subject), same(a->text, b->text),
		    strlen(a->text), strlen(b->text), same(a->html, b->html),
		    a->natt, b->natt);
	if (!r1) {
		check(b);
		if (!same(a->subject, b->subject) || !same(a->text, b->text) ||
		    !same(a->html, b->html) || a->natt != b->natt)
			__builtin_trap();
		for (size_t i = 0; i < a->natt; i++)
			if (!same(a->att[i].name, b->att[i].name) ||
			    !same(a->att[i].type, b->att[i].type))
				__builtin_trap();
	}
	qm_mail_content_free(&a);
	qm_mail_content_free(&b);
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
	same_list(data, size, NULL);
	same_list(data, size, &tight);
	return 0;
}
