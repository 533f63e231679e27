/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the incoming-message path as the client runs it
 * (src/client/recv.c): qm_mail_parse classifies the raw message; for a
 * QMail message the X-QKD level is checked against the envelope, the
 * envelope is parsed and opened with the bound header values taken from the
 * wire (to:/cc: joined as the client does) and the keys the harness
 * supplies, and the decrypted inner message goes through
 * qm_mail_content_parse. The same message parsed with its envelope left
 * in it (qm_mail_parse_big, as the client parses a large one) must give
 * the same verdict and, read in pieces twice, the same envelope bytes.
 * Seeds are wire messages made by fuzz/gen_corpus.c plus plain mail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"
#include "open_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	fuzz_ids_load();
	if (qm_mail_init(&e) != QM_OK)
		fuzz_die("mail init", &e);
	return 0;
}

void fuzz_teardown(void)
{
	fuzz_ids_free();
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *s = malloc(n);

	if (!s)
		fuzz_die("out of memory", NULL);
	snprintf(s, n, "%s%s", a, b);
	return s;
}

static void open_qmail(const struct qm_mail_parsed *mp)
{
	struct qm_env *env = NULL;
	struct qm_mail_content *mc = NULL;
	struct qm_error e;
	struct qm_buf plain;
	char *r[2];
	struct qm_bound b;
	enum qm_err rc;

	if (qm_crypto_env_parse(mp->envelope, mp->envelope_len, &env, &e) !=
	    QM_OK)
		return;
	if (mp->level != qm_crypto_env_level(env))
		goto out; /* the client refuses a header that disagrees */
	r[0] = join("to:", mp->hdrs.to ? mp->hdrs.to : "");
	r[1] = join("cc:", mp->hdrs.cc ? mp->hdrs.cc : "");
	memset(&b, 0, sizeof(b));
	b.from = mp->hdrs.from ? mp->hdrs.from : "";
	b.rcpts = (const char *const *)r;
	b.nrcpts = 2;
	b.message_id = mp->hdrs.message_id ? mp->hdrs.message_id : "";
	b.date = mp->hdrs.date ? mp->hdrs.date : "";
	b.sender_sae = mp->level <= 2 ? mp->sender_sae : NULL;
	qm_buf_init_secure(&plain, FUZZ_MAXPLAIN);
	rc = fuzz_env_open_all(env, &b, 2, &plain);
	if (rc == QM_OK)
		rc =
		    qm_mail_content_parse(plain.data, plain.len, NULL, &mc, &e);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "incoming: level %d, open+parse: %s (%s)\n",
		        mp->level, qm_err_str(rc),
		        mc ? mc->subject : "no content");
	qm_mail_content_free(&mc);
	qm_buf_free(&plain);
	free(r[0]);
	free(r[1]);
out:
	qm_crypto_env_free(&env);
}

/* The envelope left in the message reads as the one decoded whole. */
static void same_big(const uint8_t *data, size_t size, enum qm_err rc,
                     const struct qm_mail_parsed *mp)
{
	struct qm_mail_parsed *q = NULL;
	struct qm_error e;
	unsigned char buf[1000];
	enum qm_err rc2 = qm_mail_parse_big(data, size, NULL, 1, &q, &e);

	if ((rc2 == QM_OK) != (rc == QM_OK))
		__builtin_trap();
	if (rc2 != QM_OK)
		return;
	if (q->kind != mp->kind || q->envelope_len != mp->envelope_len)
		__builtin_trap();
	for (int pass = 0; q->envsrc && pass < 2; pass++) {
		size_t have = 0, got = 0;

		if (qm_mail_envelope_rewind(q->envsrc, &e) != QM_OK)
			__builtin_trap();
		do {
			if (qm_mail_envelope_read(q->envsrc, buf, sizeof(buf),
			                          &got, &e) != QM_OK ||
			    have + got > mp->envelope_len ||
			    memcmp(buf, mp->envelope + have, got) != 0)
				__builtin_trap();
			have += got;
		} while (got);
		if (have != mp->envelope_len)
			__builtin_trap();
	}
	qm_mail_parsed_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_mail_parsed *mp = NULL;
	struct qm_error e;
	enum qm_err rc = qm_mail_parse(data, size, NULL, &mp, &e);

	same_big(data, size, rc, mp);
	if (rc != QM_OK)
		return 0;
	if (!mp->hdrs.from || !mp->hdrs.to || !mp->hdrs.message_id ||
	    !mp->subject || !mp->sender_sae)
		__builtin_trap(); /* documented as "" when absent */
	if (mp->kind == QM_MAIL_KIND_QMAIL) {
		for (size_t i = 0; i < mp->nkey_ids; i++)
			if (!mp->key_ids[i])
				__builtin_trap();
		open_qmail(mp);
	} else if (mp->kind == QM_MAIL_KIND_PLAIN) {
		const struct qm_mail_content *c = mp->content;

		if (!c || !c->text || !c->subject)
			__builtin_trap();
		for (size_t i = 0; i < c->natt; i++)
			if (!c->att[i].name || !c->att[i].type)
				__builtin_trap();
	} else {
		__builtin_trap();
	}
	qm_mail_parsed_free(&mp);
	return 0;
}
