/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the MIME side of the mail layer: canonical header values,
 * the inner protected message, the outer QMail wire message (headers,
 * folding, key-ID copies, Bcc never written), classification of incoming
 * mail, and the bounds on hostile input (size, parts, depth, headers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"
#include "mail/mail.h"

#define assert_ok(call)                                                        \
	do {                                                                   \
		enum qm_err r_ = (call);                                       \
		if (r_ != QM_OK)                                               \
			fprintf(stderr, "%s: %s\n", #call, e.msg);             \
		assert_int_equal(r_, QM_OK);                                   \
	} while (0)

static int setup(void **state)
{
	struct qm_error e;

	(void)state;
	return qm_core_init(&e) == QM_OK ? 0 : -1;
}

/* Every line ends in CRLF and is at most max characters long. */
static void assert_lines(const struct qm_buf *b, size_t max)
{
	size_t start = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] != '\n')
			continue;
		assert_true(i > 0 && b->data[i - 1] == '\r');
		assert_true(i - 1 - start <= max);
		start = i + 1;
	}
	assert_int_equal(start, b->len);
}

/* Whether the header block of a built message (up to the first empty line)
 * has a field called `name`, in any case. */
static bool header_present(const struct qm_buf *b, const char *name)
{
	size_t nl = strlen(name);
	size_t i = 0;

	while (i < b->len) {
		const char *line = (const char *)b->data + i;
		const char *end = memchr(line, '\n', b->len - i);
		size_t len = end ? (size_t)(end - line) + 1 : b->len - i;

		if (len <= 2)
			return false; /* the empty line: the body starts */
		if (len > nl + 1 && strncasecmp(line, name, nl) == 0 &&
		    line[nl] == ':')
			return true;
		i += len;
	}
	return false;
}

static struct qm_mail_hdrs *make_hdrs(size_t nto)
{
	static const char *const pool[] = {
	    "Bob <bob@example.org>", "Zoë Müller <zoe@example.org>",
	    "carol@example.net", "\"Dan, Jr.\" <dan@example.com>"};
	const char *to[64], *cc[] = {"Eve <eve@example.org>"};
	struct qm_mail_hdrs *h = NULL;
	struct qm_error e;

	assert_true(nto <= 64);
	for (size_t i = 0; i < nto; i++)
		to[i] = pool[i % 4];
	assert_ok(qm_mail_hdrs_make("Alice Ångström <alice@example.org>", to,
	                            nto, cc, 1, 1800000000, &h, &e));
	return h;
}

static void test_hdrs_make(void **state)
{
	struct qm_mail_hdrs *h;
	char **specs = NULL;
	size_t n = 0;
	struct qm_error e;
	const char *bad[] = {"not an address <"};

	(void)state;
	h = make_hdrs(4);
	/* non-ASCII display names are RFC 2047-encoded: the wire is ASCII */
	for (const char *p = h->from; *p; p++)
		assert_true((unsigned char)*p < 0x80);
	assert_non_null(strstr(h->from, "=?"));
	assert_non_null(strstr(h->from, "<alice@example.org>"));
	assert_string_equal(h->date, "Fri, 15 Jan 2027 08:00:00 +0000");
	assert_true(h->message_id[0] == '<');
	assert_non_null(strstr(h->message_id, "@example.org>"));
	assert_ok(qm_mail_addr_specs(h->to, &specs, &n, &e));
	assert_int_equal(n, 4);
	assert_string_equal(specs[0], "bob@example.org");
	assert_string_equal(specs[1], "zoe@example.org");
	assert_string_equal(specs[3], "dan@example.com");
	qm_mail_strv_free(&specs, n);
	assert_null(specs);
	qm_mail_hdrs_free(&h);
	assert_null(h);

	assert_int_equal(
	    qm_mail_hdrs_make("alice@example.org", bad, 1, NULL, 0, 0, &h, &e),
	    QM_ERR_PARSE);
	assert_null(h);
	assert_int_equal(qm_mail_addr_specs("", &specs, &n, &e), QM_ERR_PARSE);
}

static void test_inner_roundtrip(void **state)
{
	static const unsigned char bin[] = {0, 1, 2, 255, '\r', '\n', 0x80};
	struct qm_mail_attachment att[] = {
	    {"Résumé 2027.pdf", "application/pdf", bin, sizeof(bin), NULL},
	    {"photo.png", "image/png", bin, 3, NULL},
	    {"empty.txt", NULL, bin, 0, NULL}};
	struct qm_mail_hdrs *h = make_hdrs(2);
	struct qm_mail_compose c = {0};
	struct qm_mail_content *ct = NULL;
	struct qm_buf out;
	struct qm_error e;

	(void)state;
	c.hdrs = h;
	c.subject = "Quarterly numbers – ünïcödé ✓";
	c.text = "Hi Bob,\nthe numbers are attached.\n\n-- \nAlice\n";
	c.html = "<p>Hi <b>Bob</b><script>alert(1)</script></p>";
	c.in_reply_to = "<orig@example.org>";
	c.references = "<root@example.org> <orig@example.org>";
	c.att = att;
	c.natt = 3;
	qm_buf_init_secure(&out, 1 << 20);
	assert_ok(qm_mail_inner_build(&c, &out, &e));
	assert_lines(&out, 998);
	assert_ok(qm_mail_content_parse(out.data, out.len, NULL, &ct, &e));
	assert_string_equal(ct->subject, c.subject);
	assert_string_equal(ct->text, c.text);
	/* HTML is kept as text, never interpreted */
	assert_string_equal(ct->html, c.html);
	assert_string_equal(ct->in_reply_to, c.in_reply_to);
	assert_string_equal(ct->references, c.references);
	assert_string_equal(ct->hdrs.message_id, h->message_id);
	assert_int_equal(ct->natt, 3);
	assert_string_equal(ct->att[0].name, "Résumé 2027.pdf");
	assert_string_equal(ct->att[0].type, "application/pdf");
	assert_int_equal(ct->att[0].len, sizeof(bin));
	assert_memory_equal(ct->att[0].data, bin, sizeof(bin));
	assert_string_equal(ct->att[1].type, "image/png");
	assert_int_equal(ct->att[1].len, 3);
	assert_string_equal(ct->att[2].type, "application/octet-stream");
	assert_int_equal(ct->att[2].len, 0);
	qm_mail_content_free(&ct);
	assert_null(ct);
	qm_buf_free(&out);
	qm_mail_hdrs_free(&h);
}

/*
 * Attachments in the binary encoding (an encrypted message's inner MIME):
 * the bytes come back as they were, whatever they hold (bare CR and LF,
 * NUL, a line that starts like a delimiter, a final line break), in less
 * than the base64 message; qm_mail_mime_7bit turns them into base64 for
 * other programs, and leaves a message without binary parts as it was.
 */
static void test_inner_binary(void **state)
{
	enum { N = 200000 };
	unsigned char *bin = malloc(N);
	struct qm_mail_attachment att[2] = {
	    {"data.bin", NULL, NULL, N, NULL},
	    {"tail.bin", NULL, (const unsigned char *)"x\r\n", 3, NULL}};
	struct qm_mail_hdrs *h = make_hdrs(1);
	struct qm_mail_compose c = {0};
	struct qm_mail_content *ct = NULL;
	struct qm_buf b64, raw, again;
	struct qm_error e;
	int changed = -1;

	(void)state;
	assert_non_null(bin);
	for (size_t i = 0; i < N; i++)
		bin[i] = (unsigned char)((i * 2654435761u) >> 13);
	memcpy(bin + 1000, "\r\n--", 4);
	memcpy(bin + 2000, "\n.\r\n", 4);
	memset(bin + 3000, 0, 64);
	bin[N - 1] = '\n';
	att[0].data = bin;
	c.hdrs = h;
	c.subject = "binary";
	c.text = "see the file\n";
	c.att = att;
	c.natt = 2;
	qm_buf_init_secure(&b64, 1 << 20);
	qm_buf_init_secure(&raw, 1 << 20);
	assert_ok(qm_mail_inner_build(&c, &b64, &e));
	c.binary = 1;
	assert_ok(qm_mail_inner_build(&c, &raw, &e));
	assert_non_null(
	    memmem(raw.data, raw.len, "Content-Transfer-Encoding: binary", 33));
	assert_null(memmem(raw.data, raw.len, "base64", 6));
	/* base64 costs a third more: here 66,000 bytes and more */
	assert_true(raw.len + N / 3 < b64.len);
	assert_ok(qm_mail_content_parse(raw.data, raw.len, NULL, &ct, &e));
	assert_int_equal(ct->natt, 2);
	assert_int_equal(ct->att[0].len, N);
	assert_memory_equal(ct->att[0].data, bin, N);
	assert_int_equal(ct->att[1].len, 3);
	assert_memory_equal(ct->att[1].data, "x\r\n", 3);
	assert_string_equal(ct->text, c.text);
	qm_mail_content_free(&ct);

	/* for an mbox: base64 in lines again, the same bytes */
	assert_ok(qm_mail_mime_7bit(&raw, NULL, &changed, &e));
	assert_int_equal(changed, 1);
	assert_lines(&raw, 998);
	assert_null(
	    memmem(raw.data, raw.len, "Content-Transfer-Encoding: binary", 33));
	for (size_t i = 0; i < raw.len; i++)
		assert_true(raw.data[i] < 128);
	assert_ok(qm_mail_content_parse(raw.data, raw.len, NULL, &ct, &e));
	assert_int_equal(ct->att[0].len, N);
	assert_memory_equal(ct->att[0].data, bin, N);
	assert_memory_equal(ct->att[1].data, "x\r\n", 3);
	qm_mail_content_free(&ct);
	/* nothing binary left (nor in the base64 build): kept byte for byte */
	qm_buf_init_secure(&again, 1 << 20);
	assert_ok(qm_buf_append(&again, raw.data, raw.len, &e));
	assert_ok(qm_mail_mime_7bit(&again, NULL, &changed, &e));
	assert_int_equal(changed, 0);
	assert_int_equal(again.len, raw.len);
	assert_memory_equal(again.data, raw.data, raw.len);
	qm_buf_free(&again);
	qm_buf_free(&raw);
	qm_buf_free(&b64);
	qm_mail_hdrs_free(&h);
	free(bin);
}

static void test_wire_roundtrip(void **state)
{
	struct qm_mail_hdrs *h = make_hdrs(40); /* a long, folded To */
	char ids[1200][40];
	const char *idp[1200];
	unsigned char env[5000];
	struct qm_mail_wire w = {0};
	struct qm_mail_parsed *p = NULL;
	struct qm_mail_content *ct = NULL;
	struct qm_buf out;
	struct qm_error e;

	(void)state;
	for (size_t i = 0; i < 1200; i++) {
		snprintf(ids[i], sizeof(ids[i]),
		         "%08zx-1b2c-4d5e-8f90-0123456789ab", i);
		idp[i] = ids[i];
	}
	qm_random(env, sizeof(env));
	w.hdrs = h;
	w.level = 1;
	w.key_ids = idp;
	w.nkey_ids = 1200;
	w.sender_sae = "sae-alice-01";
	w.envelope = env;
	w.envelope_len = sizeof(env);
	qm_buf_init(&out, 1 << 20);
	assert_ok(qm_mail_wire_build(&w, &out, &e));
	/* every line fits the RFC 5322 recommendation */
	assert_lines(&out, 78);
	/* what a reader without QMail sees: an explanation and an attachment */
	assert_ok(qm_mail_content_parse(out.data, out.len, NULL, &ct, &e));
	assert_int_equal(ct->natt, 2);
	assert_non_null(
	    strstr((char *)ct->att[0].data, "encrypted with QMail"));
	assert_string_equal(ct->att[1].name, "message.qmail");
	assert_string_equal(ct->att[1].type, "application/octet-stream");
	assert_int_equal(ct->att[1].len, sizeof(env));
	qm_mail_content_free(&ct);
	{ /* the helper itself: a Bcc field in the header block is found,
	   * "Bcc" in the body is not */
		struct qm_buf t;
		qm_buf_init(&t, 256);
		assert_ok(qm_buf_append_str(&t, "From: a\r\nbcc: b\r\n\r\n", &e));
		assert_true(header_present(&t, "Bcc"));
		qm_buf_reset(&t);
		assert_ok(qm_buf_append_str(&t, "From: a\r\n\r\nBcc: c\r\n", &e));
		assert_false(header_present(&t, "Bcc"));
		qm_buf_free(&t);
	}
	/* no Bcc header: looked for in the header block only, because the
	 * base64 of 5000 random bytes contains "Bcc" about one run in 40 */
	assert_false(header_present(&out, "Bcc"));
	assert_non_null(strstr((char *)out.data,
	                       "Subject: " QM_MAIL_PLACEHOLDER_SUBJECT "\r\n"));
	assert_non_null(
	    strstr((char *)out.data, "X-QKD-Security-Level: 1\r\n"));
	assert_non_null(strstr((char *)out.data, "count=1200"));
	assert_null(strstr((char *)out.data, ids[QM_MAIL_HDR_MAXKEYIDS]));

	assert_ok(qm_mail_parse(out.data, out.len, NULL, &p, &e));
	assert_int_equal(p->kind, QM_MAIL_KIND_QMAIL);
	assert_int_equal(p->version, QM_MAIL_WIRE_VERSION);
	assert_int_equal(p->level, 1);
	assert_int_equal(p->nkey_ids, QM_MAIL_HDR_MAXKEYIDS);
	assert_int_equal(p->key_id_count, 1200);
	for (size_t i = 0; i < p->nkey_ids; i++)
		assert_string_equal(p->key_ids[i], ids[i]);
	assert_string_equal(p->sender_sae, "sae-alice-01");
	assert_int_equal(p->envelope_len, sizeof(env));
	assert_memory_equal(p->envelope, env, sizeof(env));
	assert_string_equal(p->subject, QM_MAIL_PLACEHOLDER_SUBJECT);
	/* the values the envelope binds come back exactly */
	assert_string_equal(p->hdrs.from, h->from);
	assert_string_equal(p->hdrs.to, h->to);
	assert_string_equal(p->hdrs.cc, h->cc);
	assert_string_equal(p->hdrs.date, h->date);
	assert_string_equal(p->hdrs.message_id, h->message_id);
	assert_null(p->content);
	qm_mail_parsed_free(&p);

	/* levels 3 and 4 carry no key IDs and no SAE */
	qm_buf_reset(&out);
	w.level = 3;
	w.key_ids = NULL;
	w.nkey_ids = 0;
	w.sender_sae = NULL;
	assert_ok(qm_mail_wire_build(&w, &out, &e));
	assert_null(strstr((char *)out.data, "X-QKD-KeyID"));
	assert_ok(qm_mail_parse(out.data, out.len, NULL, &p, &e));
	assert_int_equal(p->level, 3);
	assert_int_equal(p->nkey_ids, 0);
	assert_string_equal(p->sender_sae, "");
	qm_mail_parsed_free(&p);
	qm_buf_free(&out);
	qm_mail_hdrs_free(&h);
}

static enum qm_err sink_buf(void *arg, const void *p, size_t n,
                            struct qm_error *err)
{
	return qm_buf_append(arg, p, n, err);
}

/* Copies the MIME boundary of wire message m into bnd; its length. */
static size_t boundary_at(const struct qm_buf *m, char *bnd, size_t n)
{
	const char *p = strstr((const char *)m->data, "boundary=\"");

	assert_non_null(p);
	p += 10;
	assert_true(strlen(p) > 25 && strchr(p, '"') - p < (long)n);
	memcpy(bnd, p, (size_t)(strchr(p, '"') - p));
	bnd[strchr(p, '"') - p] = 0;
	return strlen(bnd);
}

/*
 * The wire message written in pieces (qm_mail_wire_begin/write/end, the
 * envelope given in odd pieces) is byte for byte the one built whole but
 * for its random boundary, at sizes around the encoder's block; it parses
 * back to the same envelope; every line stays within 78 characters.
 */
static void test_wire_streamed(void **state)
{
	static const size_t sizes[] = {1,
	                               2,
	                               3,
	                               57,
	                               57 * 840 - 1,
	                               57 * 840,
	                               57 * 840 + 1,
	                               3 * 57 * 840 + 100,
	                               1u << 20};
	struct qm_mail_hdrs *h = make_hdrs(3);
	const char *ids[] = {"id-1", "id-2"};
	struct qm_mail_wire w = {h, 2, ids, 2, "sae-a", NULL, 0};
	struct qm_mail_parsed *p = NULL;
	struct qm_error e;

	(void)state;
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		size_t n = sizes[z], step = 1 + z * 997;
		unsigned char *env = malloc(n);
		struct qm_mail_wire_w *ww = NULL;
		struct qm_buf whole, parts;
		char b1[80], b2[80];
		size_t bl;

		assert_non_null(env);
		qm_random(env, n);
		w.envelope = env;
		w.envelope_len = n;
		qm_buf_init(&whole, 8u << 20);
		qm_buf_init(&parts, 8u << 20);
		assert_ok(qm_mail_wire_build(&w, &whole, &e));
		assert_ok(qm_mail_wire_begin(&w, sink_buf, &parts, &ww, &e));
		for (size_t off = 0; off < n; off += step)
			assert_ok(qm_mail_wire_write(
			    ww, env + off, n - off < step ? n - off : step,
			    &e));
		assert_ok(qm_mail_wire_end(&ww, &e));
		assert_null(ww);
		assert_int_equal(parts.len, whole.len);
		/* its length was known before (a streamed IMAP APPEND) */
		{
			uint64_t sz = 0;

			assert_ok(qm_mail_wire_size(&w, n, &sz, &e));
			assert_int_equal(sz, parts.len);
		}
		bl = boundary_at(&whole, b1, sizeof(b1));
		assert_int_equal(boundary_at(&parts, b2, sizeof(b2)), bl);
		/* the same bytes once the boundaries are made equal */
		for (unsigned char *q = parts.data;
		     (q = memmem(q, parts.len - (size_t)(q - parts.data), b2,
		                 bl));
		     q += bl)
			memcpy(q, b1, bl);
		assert_memory_equal(parts.data, whole.data, whole.len);
		for (char *l = (char *)parts.data, *nl;
		     (nl = strstr(l, "\r\n")); l = nl + 2)
			assert_true(nl - l <= 78);
		assert_ok(qm_mail_parse(parts.data, parts.len, NULL, &p, &e));
		assert_int_equal(p->kind, QM_MAIL_KIND_QMAIL);
		assert_int_equal(p->envelope_len, n);
		assert_memory_equal(p->envelope, env, n);
		qm_mail_parsed_free(&p);
		qm_buf_free(&whole);
		qm_buf_free(&parts);
		free(env);
	}
	/* bad values are refused before anything is written */
	{
		struct qm_mail_wire_w *ww = NULL;
		struct qm_buf out;

		qm_buf_init(&out, 1 << 20);
		w.sender_sae = "bad sae\r\n";
		assert_int_equal(
		    qm_mail_wire_begin(&w, sink_buf, &out, &ww, &e),
		    QM_ERR_INVAL);
		assert_null(ww);
		assert_int_equal(out.len, 0);
		qm_buf_free(&out);
	}
	qm_mail_hdrs_free(&h);
}

/* Reads src's envelope whole into a new buffer, in pieces of step. */
static unsigned char *read_env(struct qm_mail_envsrc *src, size_t n,
                               size_t step)
{
	unsigned char *b = malloc(n + step);
	size_t have = 0, got;
	struct qm_error e;

	assert_non_null(b);
	assert_ok(qm_mail_envelope_rewind(src, &e));
	do {
		assert_ok(qm_mail_envelope_read(src, b + have, step, &got, &e));
		have += got;
		assert_true(have <= n);
	} while (got);
	assert_int_equal(have, n);
	return b;
}

/* A wire message from h at level with a random envelope of n bytes into
 * out (made here); returns the envelope (free it). */
static unsigned char *random_wire(const struct qm_mail_hdrs *h, int level,
                                  size_t n, struct qm_buf *out)
{
	unsigned char *env = malloc(n);
	struct qm_mail_wire w = {0};
	struct qm_error e;

	assert_non_null(env);
	qm_random(env, n);
	w.hdrs = h;
	w.level = level;
	w.envelope = env;
	w.envelope_len = n;
	qm_buf_init(out, 16 << 20);
	assert_ok(qm_mail_wire_build(&w, out, &e));
	return env;
}

/* qm_mail_parse_big: an envelope past the threshold is left in the
 * message and read in pieces, the same bytes every time, with the same
 * headers; under it, decoded as before; the size limit still holds. */
static void test_parse_big(void **state)
{
	struct qm_mail_hdrs *h = make_hdrs(2);
	const size_t n = 3 * 1024 * 1024 + 7;
	unsigned char *env, *back;
	struct qm_mail_limits lim = {0};
	struct qm_mail_parsed *p = NULL, *q = NULL;
	struct qm_buf out;
	struct qm_error e;

	(void)state;
	env = random_wire(h, 4, n, &out);
	assert_ok(qm_mail_parse(out.data, out.len, NULL, &p, &e));
	assert_ok(qm_mail_parse_big(out.data, out.len, NULL, 1 << 20, &q, &e));
	assert_null(p->envsrc);
	assert_non_null(q->envsrc);
	assert_null(q->envelope);
	assert_int_equal(q->envelope_len, n);
	assert_int_equal(q->level, 4);
	assert_string_equal(q->hdrs.from, p->hdrs.from);
	assert_string_equal(q->hdrs.message_id, p->hdrs.message_id);
	for (size_t step = 1000; step < 200000; step *= 7) {
		back = read_env(q->envsrc, n, step);
		assert_memory_equal(back, env, n);
		free(back);
	}
	qm_mail_parsed_free(&q);
	/* under the threshold: in memory */
	assert_ok(qm_mail_parse_big(out.data, out.len, NULL, 8 << 20, &q, &e));
	assert_null(q->envsrc);
	assert_memory_equal(q->envelope, env, n);
	qm_mail_parsed_free(&q);
	/* a limit between the message and its envelope: refused both ways */
	lim.max_size = out.len;
	assert_ok(qm_mail_parse_big(out.data, out.len, &lim, 1 << 20, &q, &e));
	qm_mail_parsed_free(&q);
	lim.max_size = n - 1;
	assert_int_equal(
	    qm_mail_parse_big(out.data, out.len, &lim, 1 << 20, &q, &e),
	    QM_ERR_TOOBIG);
	assert_null(q);
	qm_mail_parsed_free(&p);
	qm_buf_free(&out);
	qm_mail_hdrs_free(&h);
	free(env);
}

static void test_wire_rejects_bad_input(void **state)
{
	struct qm_mail_hdrs *h = make_hdrs(1);
	const char *ids[] = {"good-id", "bad id\r\nBcc: x@y"};
	unsigned char env[4] = {1, 2, 3, 4};
	struct qm_mail_wire w = {h, 2, ids, 1, "sae", env, sizeof(env)};
	struct qm_buf out;
	struct qm_error e;
	char *saved;

	(void)state;
	qm_buf_init(&out, 1 << 20);
	w.level = 0;
	assert_int_equal(qm_mail_wire_build(&w, &out, &e), QM_ERR_INVAL);
	w.level = 5;
	assert_int_equal(qm_mail_wire_build(&w, &out, &e), QM_ERR_INVAL);
	w.level = 2;
	w.nkey_ids = 2;
	assert_int_equal(qm_mail_wire_build(&w, &out, &e), QM_ERR_INVAL);
	w.nkey_ids = 1;
	w.sender_sae = NULL;
	assert_int_equal(qm_mail_wire_build(&w, &out, &e), QM_ERR_INVAL);
	w.sender_sae = "sae";
	saved = h->to;
	h->to = "bob@example.org\r\nBcc: spy@example.org";
	qm_buf_reset(&out);
	assert_int_equal(qm_mail_wire_build(&w, &out, &e), QM_ERR_INVAL);
	h->to = saved;
	w.envelope_len = 0;
	assert_int_equal(qm_mail_wire_build(&w, &out, &e), QM_ERR_INVAL);
	qm_buf_free(&out);
	qm_mail_hdrs_free(&h);
}

static void parse_text(const char *msg, struct qm_mail_parsed **p,
                       enum qm_err want)
{
	struct qm_error e;
	enum qm_err r = qm_mail_parse(msg, strlen(msg), NULL, p, &e);

	if (r != want)
		fprintf(stderr, "parse: %s\n", e.msg);
	assert_int_equal(r, want);
}

static void test_plain_mail(void **state)
{
	struct qm_mail_parsed *p = NULL;

	(void)state;
	parse_text("From: x@example.org\r\nTo: y@example.org\r\n"
	           "Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nplain body\r\n",
	           &p, QM_OK);
	assert_int_equal(p->kind, QM_MAIL_KIND_PLAIN);
	assert_string_equal(p->subject, "café");
	assert_non_null(p->content);
	assert_string_equal(p->content->text, "plain body\n");
	assert_null(p->content->html);
	qm_mail_parsed_free(&p);

	/* alternative: text preferred, html kept */
	parse_text("From: x@example.org\r\nMIME-Version: 1.0\r\n"
	           "Content-Type: multipart/alternative; boundary=b\r\n\r\n"
	           "--b\r\nContent-Type: text/html\r\n\r\n<i>hi</i>\r\n"
	           "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n",
	           &p, QM_OK);
	assert_string_equal(p->content->text, "hi");
	assert_string_equal(p->content->html, "<i>hi</i>");
	assert_int_equal(p->content->natt, 0);
	qm_mail_parsed_free(&p);

	/* a multipart/encrypted of another protocol (PGP) is plain mail */
	parse_text("From: x@example.org\r\nMIME-Version: 1.0\r\n"
	           "Content-Type: multipart/encrypted; boundary=b;\r\n"
	           " protocol=\"application/pgp-encrypted\"\r\n\r\n"
	           "--b\r\nContent-Type: application/pgp-encrypted\r\n\r\n"
	           "Version: 1\r\n--b\r\nContent-Type: application/"
	           "octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n"
	           "--b--\r\n",
	           &p, QM_OK);
	assert_int_equal(p->kind, QM_MAIL_KIND_PLAIN);
	assert_int_equal(p->content->natt, 2);
	qm_mail_parsed_free(&p);

	/* an attachment: the classification lists it undecoded, the
	 * content parse (the reader's) decodes it */
	{
		static const char att[] =
		    "From: x@example.org\r\nMIME-Version: 1.0\r\n"
		    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		    "--b\r\nContent-Type: text/plain\r\n\r\nsee\r\n"
		    "--b\r\nContent-Type: application/octet-stream\r\n"
		    "Content-Disposition: attachment; filename=f.bin\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\n"
		    "aGVsbG8=\r\n--b--\r\n";
		struct qm_mail_content *c = NULL;
		struct qm_error e;

		parse_text(att, &p, QM_OK);
		assert_int_equal(p->content->natt, 1);
		assert_string_equal(p->content->att[0].name, "f.bin");
		assert_null(p->content->att[0].data);
		assert_string_equal(p->content->text, "see");
		qm_mail_parsed_free(&p);
		assert_ok(
		    qm_mail_content_parse(att, strlen(att), NULL, &c, &e));
		assert_int_equal(c->natt, 1);
		assert_int_equal(c->att[0].len, 5);
		assert_memory_equal(c->att[0].data, "hello", 5);
		qm_mail_content_free(&c);
	}
}

#define QM_HEAD                                                                \
	"From: x@example.org\r\nMIME-Version: 1.0\r\n"                         \
	"Content-Type: multipart/encrypted; boundary=b;\r\n"                   \
	" protocol=\"application/x-qmail-encrypted\"\r\n\r\n"

static void test_malformed_qmail(void **state)
{
	struct qm_mail_parsed *p = NULL;

	(void)state;
	parse_text(QM_HEAD "--b\r\nContent-Type: application/x-qmail-encrypted"
	                   "\r\n\r\nVersion: 1\r\n--b--\r\n",
	           &p, QM_ERR_PARSE);
	assert_null(p);
	parse_text(QM_HEAD "--b\r\nContent-Type: application/x-qmail-encrypted"
	                   "\r\n\r\nVersion: 2\r\n--b\r\nContent-Type: "
	                   "application/octet-stream\r\n"
	                   "Content-Transfer-Encoding: base64\r\n\r\n"
	                   "AAEC\r\n--b--\r\n",
	           &p, QM_ERR_UNSUPPORTED);
	parse_text(QM_HEAD "--b\r\nContent-Type: application/x-qmail-encrypted"
	                   "\r\n\r\nnonsense\r\n--b\r\nContent-Type: "
	                   "application/octet-stream\r\n\r\nx\r\n--b--\r\n",
	           &p, QM_ERR_PARSE);
	parse_text(QM_HEAD "--b\r\nContent-Type: application/x-qmail-encrypted"
	                   "\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: "
	                   "text/plain\r\n\r\nx\r\n--b--\r\n",
	           &p, QM_ERR_PARSE);
	parse_text(QM_HEAD "--b\r\nContent-Type: application/x-qmail-encrypted"
	                   "\r\n\r\nVersion: 1\r\n--b\r\nContent-Type: "
	                   "application/octet-stream\r\n\r\n--b--\r\n",
	           &p, QM_ERR_PARSE);
}

static void test_limits(void **state)
{
	struct qm_mail_limits lim = {0};
	struct qm_mail_parsed *p = NULL;
	struct qm_buf b;
	struct qm_error e;

	(void)state;
	/* nesting bomb */
	qm_buf_init(&b, 1 << 20);
	assert_int_equal(
	    qm_buf_append_str(
	        &b, "From: x@example.org\r\nMIME-Version: 1.0\r\n", NULL),
	    QM_OK);
	for (int i = 0; i < 40; i++)
		assert_int_equal(
		    qm_buf_appendf(
		        &b, NULL,
		        "Content-Type: multipart/mixed; boundary=b%d\r\n"
		        "\r\n--b%d\r\n",
		        i, i),
		    QM_OK);
	assert_int_equal(qm_buf_append_str(
	                     &b, "Content-Type: text/plain\r\n\r\nx\r\n", NULL),
	                 QM_OK);
	assert_int_equal(qm_mail_parse(b.data, b.len, NULL, &p, &e),
	                 QM_ERR_TOOBIG);
	lim.max_parts = 30;
	assert_int_equal(qm_mail_parse(b.data, b.len, &lim, &p, &e),
	                 QM_ERR_TOOBIG);
	assert_null(p);
	qm_buf_free(&b);

	/* too many parts */
	qm_buf_init(&b, 1 << 20);
	assert_int_equal(
	    qm_buf_append_str(
	        &b,
	        "From: x@example.org\r\nMIME-Version: 1.0\r\n"
	        "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
	        NULL),
	    QM_OK);
	for (int i = 0; i < 300; i++)
		assert_int_equal(
		    qm_buf_append_str(&b,
		                      "--b\r\nContent-Type: text/plain\r\n\r\n"
		                      "x\r\n",
		                      NULL),
		    QM_OK);
	assert_int_equal(qm_buf_append_str(&b, "--b--\r\n", NULL), QM_OK);
	assert_int_equal(qm_mail_parse(b.data, b.len, NULL, &p, &e),
	                 QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "parts"));
	lim.max_parts = 1000;
	assert_ok(qm_mail_parse(b.data, b.len, &lim, &p, &e));
	assert_int_equal(p->content->natt, 299);
	qm_mail_parsed_free(&p);
	/* the same with the parameter name in mixed case and a quoted
	 * boundary: the pre-count (a memchr for '=') still sees each part */
	qm_buf_reset(&b);
	assert_int_equal(
	    qm_buf_append_str(
	        &b,
	        "From: x@example.org\r\nMIME-Version: 1.0\r\n"
	        "Content-Type: multipart/mixed; BoUnDaRy=\"q\"\r\n\r\n",
	        NULL),
	    QM_OK);
	for (int i = 0; i < 20; i++)
		assert_int_equal(
		    qm_buf_append_str(&b,
		                      "--q\r\nContent-Type: text/plain\r\n\r\n"
		                      "x\r\n",
		                      NULL),
		    QM_OK);
	assert_int_equal(qm_buf_append_str(&b, "--q--\r\n", NULL), QM_OK);
	lim.max_parts = 20;
	assert_int_equal(qm_mail_parse(b.data, b.len, &lim, &p, &e),
	                 QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "at least 21 parts"));
	lim.max_parts = 22;
	assert_ok(qm_mail_parse(b.data, b.len, &lim, &p, &e));
	assert_int_equal(p->content->natt, 19);
	qm_mail_parsed_free(&p);

	/* size */
	lim.max_size = 100;
	assert_int_equal(qm_mail_parse(b.data, b.len, &lim, &p, &e),
	                 QM_ERR_TOOBIG);
	qm_buf_free(&b);

	/* header count and length */
	memset(&lim, 0, sizeof(lim));
	qm_buf_init(&b, 1 << 20);
	for (int i = 0; i < 600; i++)
		assert_int_equal(qm_buf_appendf(&b, NULL, "X-H%d: v\r\n", i),
		                 QM_OK);
	assert_int_equal(qm_buf_append_str(&b, "\r\nbody\r\n", NULL), QM_OK);
	assert_int_equal(qm_mail_parse(b.data, b.len, NULL, &p, &e),
	                 QM_ERR_TOOBIG);
	qm_buf_reset(&b);
	assert_int_equal(qm_buf_append_str(&b, "Subject: ", NULL), QM_OK);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(qm_buf_append_str(&b, "word word\r\n ", NULL),
		                 QM_OK);
	assert_int_equal(qm_buf_append_str(&b, "end\r\n\r\nbody\r\n", NULL),
	                 QM_OK);
	lim.max_header_len = 4096;
	assert_int_equal(qm_mail_parse(b.data, b.len, &lim, &p, &e),
	                 QM_ERR_TOOBIG);
	qm_buf_free(&b);
}

/* A message in memory given as a source, in pieces of at most piece
 * bytes; fail_at (when not 0): a read past it fails. */
struct memsrc {
	const unsigned char *p;
	size_t n, off, piece, fail_at;
	int seeks;
};

static enum qm_err mem_read(void *arg, void *buf, size_t want, size_t *got,
                            struct qm_error *err)
{
	struct memsrc *m = arg;
	size_t k = m->n - m->off;

	if (m->fail_at && m->off + want > m->fail_at)
		return qm_error_set(err, QM_ERR_AUTH, "the blob was altered");
	k = k < want ? k : want;
	k = k < m->piece ? k : m->piece;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	*got = k;
	return QM_OK;
}

static enum qm_err mem_seek(void *arg, uint64_t off, struct qm_error *err)
{
	struct memsrc *m = arg;

	if (off > m->n)
		return qm_error_set(err, QM_ERR_INVAL, "past the end");
	m->off = (size_t)off;
	m->seeks++;
	return QM_OK;
}

/* An envelope tap: what it was given, in order. */
static void tap_collect(void *arg, const void *p, size_t n)
{
	struct qm_buf *b = arg;

	assert_int_equal(qm_buf_append(b, p, n, NULL), QM_OK);
}

/*
 * The envelope tap of qm_mail_parse_big_src (the receiver's digest takes
 * the envelope from it): it is given the decoded envelope, every byte once
 * and in order, when the envelope stays in the message; nothing when it
 * is small enough to be taken whole (that one is in p->envelope).
 */
static void test_envelope_tap(void **state)
{
	struct qm_mail_hdrs *h = make_hdrs(1);
	const size_t n = 2 * 1024 * 1024 + 5;
	unsigned char *env;
	struct qm_mail_parsed *q = NULL;
	struct qm_buf out, seen;
	struct qm_error e;

	(void)state;
	env = random_wire(h, 3, n, &out);
	qm_buf_init(&seen, 16 << 20);
	{
		struct memsrc m = {out.data, out.len, 0, 70001, 0, 0};
		struct qm_mail_src src = {mem_read, mem_seek,  &m,
		                          out.len,  tap_collect, &seen};

		assert_ok(qm_mail_parse_big_src(&src, NULL, 1 << 20, &q, &e));
		assert_non_null(q->envsrc);
		assert_int_equal(seen.len, n);
		assert_memory_equal(seen.data, env, n);
		qm_mail_parsed_free(&q);
	}
	/* under the threshold: whole, the tap not called */
	{
		struct memsrc m = {out.data, out.len, 0, 70001, 0, 0};
		struct qm_mail_src src = {mem_read, mem_seek,  &m,
		                          out.len,  tap_collect, &seen};

		qm_buf_reset(&seen);
		assert_ok(qm_mail_parse_big_src(&src, NULL, 8 << 20, &q, &e));
		assert_null(q->envsrc);
		assert_int_equal(seen.len, 0);
		assert_memory_equal(q->envelope, env, n);
		qm_mail_parsed_free(&q);
	}
	qm_buf_free(&seen);
	qm_buf_free(&out);
	qm_mail_hdrs_free(&h);
	free(env);
}

static void same_str(const char *a, const char *b)
{
	if (!a || !b)
		assert_true(a == b);
	else
		assert_string_equal(a, b);
}

/* The outline of msg (qm_mail_content_outline), whole and from a source:
 * every attachment listed with no data and the size the whole parse
 * decodes it to. */
static void same_outline(const struct qm_buf *b,
                         const struct qm_mail_limits *lim, size_t piece)
{
	struct qm_mail_content *full = NULL, *o1 = NULL, *o2 = NULL;
	struct memsrc m = {b->data, b->len, 0, piece, 0, 0};
	struct qm_mail_src src = {mem_read, mem_seek, &m, b->len, NULL, NULL};
	struct qm_error e;

	if (qm_mail_content_parse(b->data, b->len, lim, &full, &e) != QM_OK)
		return; /* a refusal: the list's checks cover it */
	assert_ok(qm_mail_content_outline(b->data, b->len, lim, &o1, &e));
	assert_ok(qm_mail_content_outline_src(&src, lim, &o2, &e));
	assert_int_equal(o1->natt, full->natt);
	assert_int_equal(o2->natt, full->natt);
	for (size_t i = 0; i < full->natt; i++) {
		assert_null(o1->att[i].data);
		assert_null(o2->att[i].data);
		same_str(o1->att[i].name, full->att[i].name);
		assert_int_equal(o1->att[i].len, full->att[i].len);
		assert_int_equal(o2->att[i].len, full->att[i].len);
	}
	same_str(o1->text, full->text);
	same_str(o2->text, full->text);
	qm_mail_content_free(&full);
	qm_mail_content_free(&o1);
	qm_mail_content_free(&o2);
}

/* The list of msg whole and from a source: the same result, message and
 * content. */
static void same_list(const struct qm_buf *b, const struct qm_mail_limits *lim,
                      size_t piece)
{
	struct qm_mail_content *c1 = NULL, *c2 = NULL;
	struct memsrc m = {b->data, b->len, 0, piece, 0, 0};
	struct qm_mail_src src = {mem_read, mem_seek, &m, b->len, NULL, NULL};
	struct qm_error e1, e2;
	enum qm_err r1, r2;

	r1 = qm_mail_content_list(b->data, b->len, lim, &c1, &e1);
	r2 = qm_mail_content_list_src(&src, lim, &c2, &e2);
	if (r1 != r2)
		fail_msg("whole %d (%s), from a source %d (%s)", r1,
		         r1 ? e1.msg : "", r2, r2 ? e2.msg : "");
	if (r1) {
		assert_string_equal(e1.msg, e2.msg);
		return;
	}
	same_str(c1->subject, c2->subject);
	same_str(c1->text, c2->text);
	same_str(c1->html, c2->html);
	same_str(c1->hdrs.from, c2->hdrs.from);
	same_str(c1->hdrs.to, c2->hdrs.to);
	same_str(c1->hdrs.message_id, c2->hdrs.message_id);
	same_str(c1->identity, c2->identity);
	assert_int_equal(c1->natt, c2->natt);
	for (size_t i = 0; i < c1->natt; i++) {
		same_str(c1->att[i].name, c2->att[i].name);
		same_str(c1->att[i].type, c2->att[i].type);
		assert_null(c2->att[i].data);
	}
	qm_mail_content_free(&c1);
	qm_mail_content_free(&c2);
	same_outline(b, lim, piece);
}

/*
 * qm_mail_content_list_src (a large message read from a sealed blob)
 * against qm_mail_content_list: messages of several hundred KiB whose
 * boundaries fall on every side of the scan windows, a long boundary, a
 * 3 MiB attachment, and the limits (parts, nesting, size) refused the
 * same way; a source that fails is an error, not a message.
 */
static void test_list_src(void **state)
{
	struct qm_mail_limits lim = {0};
	struct qm_mail_content *c = NULL;
	struct qm_buf b;
	struct qm_error e;
	char bnd[160];

	(void)state;
	memset(bnd, 'z', sizeof(bnd) - 1);
	bnd[sizeof(bnd) - 1] = '\0';
	for (int round = 0; round < 2; round++) {
		const char *bd = round ? bnd : "b";

		qm_buf_init(&b, 64 << 20);
		assert_ok(qm_buf_appendf(
		    &b, &e,
		    "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\n"
		    "Subject: parts\r\nMessage-ID: <p@example.org>\r\n"
		    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
		    "boundary=\"%s\"\r\n\r\n",
		    bd));
		assert_ok(qm_buf_appendf(&b, &e,
		                         "--%s\r\nContent-Type: text/plain\r\n"
		                         "\r\nthe text\r\n",
		                         bd));
		for (int i = 0; i < 280; i++) {
			assert_ok(qm_buf_appendf(
			    &b, &e,
			    "--%s\r\nContent-Type: text/plain\r\n"
			    "Content-Disposition: attachment; "
			    "filename=\"f%d.txt\"\r\n\r\n",
			    bd, i));
			for (int k = 0; k < (i * 37) % 4000; k += 50)
				assert_ok(qm_buf_append_str(
				    &b,
				    "0123456789012345678901234567890123456789"
				    "0123456\r\n",
				    &e));
		}
		assert_ok(qm_buf_appendf(&b, &e, "--%s--\r\n", bd));
		assert_true(b.len > 2 * 256 * 1024);
		same_list(&b, NULL, 1000); /* 282 parts: refused */
		lim.max_parts = 281;
		same_list(&b, &lim, 4096); /* at least 282: refused */
		lim.max_parts = 1000;
		same_list(&b, &lim, 70000);
		same_list(&b, &lim, 1);
		lim.max_size = 1000;
		same_list(&b, &lim, 1000);
		memset(&lim, 0, sizeof(lim));
		qm_buf_free(&b);
	}
	/* a nesting bomb */
	qm_buf_init(&b, 1 << 20);
	assert_ok(qm_buf_append_str(
	    &b, "From: x@example.org\r\nMIME-Version: 1.0\r\n", &e));
	for (int i = 0; i < 40; i++)
		assert_ok(qm_buf_appendf(
		    &b, &e,
		    "Content-Type: multipart/mixed; boundary=b%d\r\n"
		    "\r\n--b%d\r\n",
		    i, i));
	assert_ok(
	    qm_buf_append_str(&b, "Content-Type: text/plain\r\n\r\nx\r\n", &e));
	same_list(&b, NULL, 100);
	qm_buf_free(&b);
	/* a large attachment, base64 */
	qm_buf_init(&b, 64 << 20);
	assert_ok(qm_buf_append_str(
	    &b,
	    "From: a@example.org\r\nTo: b@example.org\r\nSubject: big\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
	    "boundary=X\r\n\r\n--X\r\nContent-Type: text/html\r\n\r\n"
	    "<p>hi</p>\r\n--X\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\nContent-Disposition: "
	    "attachment; filename=big.bin\r\n\r\n",
	    &e));
	for (int i = 0; i < 55000; i++)
		assert_ok(qm_buf_append_str(
		    &b,
		    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w"
		    "cXJzdHV2\r\n",
		    &e));
	assert_ok(qm_buf_append_str(&b, "--X--\r\n", &e));
	same_list(&b, NULL, 65536);
	{
		struct memsrc m = {b.data, b.len, 0, 65536, 0, 0};
		struct qm_mail_src src = {mem_read, mem_seek, &m, b.len, NULL,
		                          NULL};

		assert_ok(qm_mail_content_list_src(&src, NULL, &c, &e));
		assert_int_equal(c->natt, 1);
		assert_string_equal(c->att[0].name, "big.bin");
		qm_mail_content_free(&c);
		/* a source that fails: its error */
		m.fail_at = b.len / 2;
		assert_int_equal(qm_mail_content_list_src(&src, NULL, &c, &e),
		                 QM_ERR_AUTH);
		assert_null(c);
		assert_non_null(strstr(e.msg, "altered"));
	}
	qm_buf_free(&b);
}

/* The QMail-Identity header: read once ("" when absent or repeated),
 * and allowed past a tight limit.header_length up to its own bound, so a
 * user's 1 KiB limit does not refuse every QMail message. */
static void test_identity_header(void **state)
{
	struct qm_mail_limits lim = {0};
	struct qm_mail_content *c = NULL;
	struct qm_mail_parsed *p = NULL;
	struct qm_error e;
	char *msg, *v;
	size_t n = 64 * 1024, o = 0;

	(void)state;
	msg = malloc(n);
	v = malloc(20000);
	assert_non_null(msg);
	assert_non_null(v);
	memset(v, 'A', 4999);
	v[4999] = '\0';
	o = (size_t)snprintf(msg, n,
	                     "QMail-Identity: v=1;\r\n keys=%s\r\n"
	                     "From: a@example.org\r\nTo: b@example.org\r\n"
	                     "Subject: x\r\n\r\nhello\r\n",
	                     v);
	lim.max_header_len = 1024;
	assert_ok(qm_mail_parse(msg, o, &lim, &p, &e));
	assert_memory_equal(p->identity, "v=1; keys=AAAA", 14);
	assert_memory_equal(p->content->identity, "v=1; keys=AAAA", 14);
	qm_mail_parsed_free(&p);
	/* another header that long is still refused */
	o = (size_t)snprintf(
	    msg, n, "X-Other: %s\r\nFrom: a@example.org\r\n\r\nhi\r\n", v);
	assert_int_equal(qm_mail_parse(msg, o, &lim, &p, &e), QM_ERR_TOOBIG);
	/* past its own bound, it is refused too */
	memset(v, 'A', 19999);
	v[19999] = '\0';
	o = (size_t)snprintf(msg, n,
	                     "QMail-Identity: v=1; keys=%s\r\n"
	                     "From: a@example.org\r\n\r\nhi\r\n",
	                     v);
	assert_int_equal(qm_mail_parse(msg, o, &lim, &p, &e), QM_ERR_TOOBIG);
	/* twice: none */
	o = (size_t)snprintf(msg, n,
	                     "QMail-Identity: v=1; addr=x@y\r\n"
	                     "QMail-Identity: v=1; addr=z@y\r\n"
	                     "From: a@example.org\r\n\r\nhi\r\n");
	assert_ok(qm_mail_content_parse(msg, o, NULL, &c, &e));
	assert_string_equal(c->identity, "");
	qm_mail_content_free(&c);
	o = (size_t)snprintf(msg, n, "From: a@example.org\r\n\r\nhi\r\n");
	assert_ok(qm_mail_content_parse(msg, o, NULL, &c, &e));
	assert_string_equal(c->identity, "");
	qm_mail_content_free(&c);
	free(v);
	free(msg);
}

static void test_garbage_never_crashes(void **state)
{
	unsigned char buf[4096];
	struct qm_mail_parsed *p = NULL;
	struct qm_mail_content *c = NULL;
	struct qm_error e;

	(void)state;
	for (int round = 0; round < 200; round++) {
		size_t n = 1 + qm_random_uniform(sizeof(buf));
		qm_random(buf, n);
		if (round % 2)
			memcpy(buf, QM_HEAD,
			       n < sizeof(QM_HEAD) - 1 ? n
			                               : sizeof(QM_HEAD) - 1);
		if (qm_mail_parse(buf, n, NULL, &p, &e) == QM_OK)
			qm_mail_parsed_free(&p);
		assert_null(p);
		if (qm_mail_content_parse(buf, n, NULL, &c, &e) == QM_OK)
			qm_mail_content_free(&c);
		assert_null(c);
	}
	assert_int_equal(qm_mail_parse("", 0, NULL, &p, &e), QM_ERR_PARSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hdrs_make),
	    cmocka_unit_test(test_inner_roundtrip),
	    cmocka_unit_test(test_inner_binary),
	    cmocka_unit_test(test_wire_roundtrip),
	    cmocka_unit_test(test_wire_streamed),
	    cmocka_unit_test(test_wire_rejects_bad_input),
	    cmocka_unit_test(test_plain_mail),
	    cmocka_unit_test(test_malformed_qmail),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_list_src),
	    cmocka_unit_test(test_parse_big),
	    cmocka_unit_test(test_envelope_tap),
	    cmocka_unit_test(test_identity_header),
	    cmocka_unit_test(test_garbage_never_crashes),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
