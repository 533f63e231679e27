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
 * the same verdict and, read in pieces twice, the same envelope bytes;
 * so must the message parsed from a source read in odd pieces
 * (qm_mail_parse_big_src, a large message as it arrived), and each
 * attachment of plain mail read from that source (qm_mail_att_open_src)
 * must be the one decoded whole.
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

/* The message as a source read in odd pieces (a blob it arrived in). */
struct memsrc {
	const uint8_t *p;
	size_t len, off;
};

static enum qm_err mem_read(void *arg, void *buf, size_t want, size_t *got,
                            struct qm_error *err)
{
	struct memsrc *m = arg;
	size_t n = m->len - m->off;

	(void)err;
	if (n > want)
		n = want;
	if (n > 777)
		n = 777;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	*got = n;
	return QM_OK;
}

static enum qm_err mem_seek(void *arg, uint64_t off, struct qm_error *err)
{
	struct memsrc *m = arg;

	if (off > m->len)
		return qm_error_set(err, QM_ERR_INVAL, "seek past the end");
	m->off = (size_t)off;
	return QM_OK;
}

/* Each attachment of plain mail read from the source in pieces
 * (qm_mail_att_open_src, the GUI's download) is the one decoded whole. */
static void same_atts(const uint8_t *data, size_t size)
{
	struct memsrc ms = {data, size, 0};
	struct qm_mail_src src = {mem_read, mem_seek, &ms, size, NULL, NULL};
	struct qm_mail_content *c = NULL;
	struct qm_error e;
	unsigned char buf[1000];

	if (qm_mail_content_parse(data, size, NULL, &c, &e) != QM_OK)
		return;
	for (size_t i = 0; i <= c->natt && i < 8; i++) {
		struct qm_mail_att_src *a = NULL;
		char *name = NULL, *type = NULL;
		uint64_t len = 0;
		size_t have = 0, got = 0;
		enum qm_err rc = qm_mail_att_open_src(&src, NULL, i, &a, &name,
		                                      &type, &len, &e);

		if (i == c->natt) {
			if (rc != QM_ERR_NOTFOUND)
				__builtin_trap();
			break;
		}
		if (rc == QM_ERR_UNSUPPORTED &&
		    strcmp(c->att[i].type, "message/rfc822") == 0)
			continue;
		if (rc != QM_OK || len != c->att[i].len ||
		    strcmp(name, c->att[i].name) != 0 ||
		    strcmp(type, c->att[i].type) != 0)
			__builtin_trap();
		do {
			if (qm_mail_att_read(a, buf, sizeof(buf), &got, &e) !=
			        QM_OK ||
			    have + got > len ||
			    (got && memcmp(buf, c->att[i].data + have, got)))
				__builtin_trap();
			have += got;
		} while (got);
		if (have != len)
			__builtin_trap();
		free(name);
		free(type);
		qm_mail_att_close(&a);
	}
	qm_mail_content_free(&c);
}

/* The envelope left in the message reads as the one decoded whole, and so
 * does the message parsed from a source (a large one as it arrived). */
static void same_big(const uint8_t *data, size_t size, enum qm_err rc,
                     const struct qm_mail_parsed *mp, int from_src)
{
	struct memsrc ms = {data, size, 0};
	struct qm_mail_src src = {mem_read, mem_seek, &ms, size, NULL, NULL};
	struct qm_mail_parsed *q = NULL;
	struct qm_error e;
	unsigned char buf[1000];
	enum qm_err rc2 = from_src
	                      ? qm_mail_parse_big_src(&src, NULL, 1, &q, &e)
	                      : qm_mail_parse_big(data, size, NULL, 1, &q, &e);

	if ((rc2 == QM_OK) != (rc == QM_OK))
		__builtin_trap();
	if (rc2 != QM_OK)
		return;
	if (q->kind != mp->kind || q->envelope_len != mp->envelope_len ||
	    q->level != mp->level || q->nkey_ids != mp->nkey_ids ||
	    strcmp(q->hdrs.message_id, mp->hdrs.message_id) != 0)
		__builtin_trap();
	if (!q->envsrc && q->envelope_len &&
	    memcmp(q->envelope, mp->envelope, mp->envelope_len) != 0)
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

	same_big(data, size, rc, mp, 0);
	same_big(data, size, rc, mp, 1);
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
		same_atts(data, size);
	} else {
		__builtin_trap();
	}
	qm_mail_parsed_free(&mp);
	return 0;
}
