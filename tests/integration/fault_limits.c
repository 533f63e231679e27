/* SPDX-License-Identifier: MIT */
/*
 * Resource limits on untrusted input (issue 8), each tested at the limit
 * and just over it: message size, number of parts (attachments), MIME
 * nesting depth, header count and header length (struct qm_mail_limits),
 * key IDs in the X-QKD-KeyID header, JSON nesting depth and key count in a
 * KME reply. Plus "zip bomb" messages (deep nesting, many tiny parts, huge
 * declared sizes) that must be refused quickly and with bounded memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/core.h"
#include "crypto/crypto.h"
#include "kms/kms.h"
#include "mail/mail.h"

static void add(struct qm_buf *b, const char *fmt, ...) QM_PRINTF(2, 3);

static void add(struct qm_buf *b, const char *fmt, ...)
{
	char tmp[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(tmp));
	assert_int_equal(qm_buf_append(b, tmp, (size_t)n, NULL), QM_OK);
}

static enum qm_err content(const struct qm_buf *b,
                           const struct qm_mail_limits *l, struct qm_error *e)
{
	struct qm_mail_content *c = NULL;
	enum qm_err rc = qm_mail_content_parse(b->data, b->len, l, &c, e);

	qm_mail_content_free(&c);
	return rc;
}

static enum qm_err incoming(const struct qm_buf *b,
                            const struct qm_mail_limits *l, struct qm_error *e)
{
	struct qm_mail_parsed *p = NULL;
	enum qm_err rc = qm_mail_parse(b->data, b->len, l, &p, e);

	qm_mail_parsed_free(&p);
	return rc;
}

/* Both parsers give the same answer (they share the limits). */
static void expect(const struct qm_buf *b, const struct qm_mail_limits *l,
                   enum qm_err want, const char *needle)
{
	struct qm_error e;

	qm_error_clear(&e);
	if (content(b, l, &e) != want) {
		fprintf(stderr, "got \"%s\", want %s\n", e.msg,
		        qm_err_str(want));
		fail();
	}
	if (needle && !strstr(e.msg, needle)) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", e.msg, needle);
		fail();
	}
	assert_int_equal(incoming(b, l, &e), want);
}

static void test_message_size(void **state)
{
	struct qm_mail_limits l = {.max_size = 1000};
	struct qm_buf b;

	(void)state;
	qm_buf_init(&b, 1u << 20);
	add(&b, "From: a@example.org\r\nSubject: s\r\n\r\n");
	while (b.len < 1000)
		assert_int_equal(qm_buf_append_byte(&b, 'x', NULL), QM_OK);
	expect(&b, &l, QM_OK, NULL);
	assert_int_equal(qm_buf_append_byte(&b, 'x', NULL), QM_OK);
	expect(&b, &l, QM_ERR_TOOBIG,
	       "is 1001 bytes; the limit is 1000 (limit.message_size)");
	qm_buf_free(&b);
}

static void test_message_size_default(void **state)
{
	struct qm_buf b;
	size_t def = (size_t)64 << 20;

	(void)state;
	qm_buf_init(&b, def + 16);
	add(&b, "From: a@example.org\r\n\r\n");
	assert_int_equal(qm_buf_reserve(&b, def + 1 - b.len, NULL), QM_OK);
	memset(b.data + b.len, 'x', def + 1 - b.len);
	b.len = def + 1;
	b.data[b.len] = '\0';
	expect(&b, NULL, QM_ERR_TOOBIG, "is 67108865 bytes; the limit is 67108864 (limit.message_size)");
	qm_buf_free(&b);
}

/* multipart/mixed with n leaf parts: n + 1 parts in all. */
static void mixed(struct qm_buf *b, size_t n)
{
	qm_buf_reset(b);
	add(b, "From: a@example.org\r\nMIME-Version: 1.0\r\n"
	       "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
	for (size_t i = 0; i < n; i++)
		add(b,
		    "--b\r\nContent-Type: application/octet-stream; "
		    "name=\"a%zu.bin\"\r\nContent-Disposition: attachment\r\n"
		    "\r\nx\r\n",
		    i);
	add(b, "--b--\r\n");
}

static void test_parts(void **state)
{
	struct qm_mail_limits l = {.max_parts = 8};
	struct qm_buf b;
	struct qm_mail_content *c = NULL;

	(void)state;
	qm_buf_init(&b, 1u << 20);
	mixed(&b, 7);
	assert_int_equal(qm_mail_content_parse(b.data, b.len, &l, &c, NULL),
	                 QM_OK);
	assert_int_equal(c->natt, 7);
	qm_mail_content_free(&c);
	mixed(&b, 8);
	expect(&b, &l, QM_ERR_TOOBIG, "has at least 9 parts; the limit is 8 (limit.parts)");
	/* the default: 256 */
	mixed(&b, 255);
	expect(&b, NULL, QM_OK, NULL);
	mixed(&b, 256);
	expect(&b, NULL, QM_ERR_TOOBIG, "the limit is 256 (limit.parts)");
	qm_buf_free(&b);
}

/* A leaf inside depth nested multiparts. */
static void nested(struct qm_buf *b, size_t depth)
{
	qm_buf_reset(b);
	add(b, "From: a@example.org\r\nMIME-Version: 1.0\r\n");
	for (size_t i = 0; i < depth; i++)
		add(b,
		    "Content-Type: multipart/mixed; boundary=\"n%zu\"\r\n\r\n"
		    "--n%zu\r\n",
		    i, i);
	add(b, "Content-Type: text/plain\r\n\r\nbottom\r\n");
	for (size_t i = depth; i-- > 0;)
		add(b, "--n%zu--\r\n", i);
}

static void test_depth(void **state)
{
	struct qm_mail_limits l = {.max_depth = 4};
	struct qm_buf b;

	(void)state;
	qm_buf_init(&b, 1u << 20);
	/* depth counts levels of parts: 3 nested multiparts and the leaf */
	nested(&b, 3);
	expect(&b, &l, QM_OK, NULL);
	nested(&b, 4);
	expect(&b, &l, QM_ERR_TOOBIG, "at least 5 levels deep; the limit is 4 (limit.depth)");
	nested(&b, 15);
	expect(&b, NULL, QM_OK, NULL);
	nested(&b, 16);
	expect(&b, NULL, QM_ERR_TOOBIG, "the limit is 16 (limit.depth)");
	qm_buf_free(&b);
}

static void headers(struct qm_buf *b, size_t n, size_t len)
{
	qm_buf_reset(b);
	add(b, "From: a@example.org\r\n");
	for (size_t i = 1; i < n; i++)
		add(b, "X-H%zu: v\r\n", i);
	add(b, "Subject: ");
	for (size_t i = 0; i < len; i++)
		assert_int_equal(qm_buf_append_byte(b, 'y', NULL), QM_OK);
	add(b, "\r\n\r\nbody\r\n");
}

static void test_header_count_and_length(void **state)
{
	struct qm_mail_limits l = {.max_headers = 20, .max_header_len = 100};
	struct qm_buf b;

	(void)state;
	qm_buf_init(&b, 1u << 20);
	headers(&b, 19, 10); /* 19 + Subject = 20 */
	expect(&b, &l, QM_OK, NULL);
	headers(&b, 20, 10);
	expect(&b, &l, QM_ERR_TOOBIG, "has 21 headers; the limit is 20 (limit.headers)");
	headers(&b, 2, 97); /* raw value " yyy...\r\n": 100 bytes */
	expect(&b, &l, QM_OK, NULL);
	headers(&b, 2, 98);
	expect(&b, &l, QM_ERR_TOOBIG, "the limit is 100 (limit.header_length)");
	/* defaults: 512 headers, 64 KiB a header */
	headers(&b, 513, 10);
	expect(&b, NULL, QM_ERR_TOOBIG, "the limit is 512 (limit.headers)");
	headers(&b, 2, 65536);
	expect(&b, NULL, QM_ERR_TOOBIG, "the limit is 65536 (limit.header_length)");
	qm_buf_free(&b);
}

static void qmail_keyids(struct qm_buf *b, size_t n)
{
	qm_buf_reset(b);
	add(b, "From: a@example.org\r\nTo: b@example.org\r\n"
	       "Message-ID: <k@example.org>\r\nX-QKD-Security-Level: 1\r\n"
	       "X-QKD-KeyID: ");
	for (size_t i = 0; i < n; i++)
		add(b, "%sk%zu", i ? ", " : "", i);
	add(b,
	    "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; "
	    "protocol=\"application/x-qmail-encrypted\"; boundary=q\r\n\r\n"
	    "--q\r\nContent-Type: application/x-qmail-encrypted\r\n\r\n"
	    "Version: 1\r\n--q\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nUU1FTlY=\r\n--q--\r\n");
}

static void test_key_ids_in_header(void **state)
{
	struct qm_buf b;
	struct qm_mail_parsed *p = NULL;
	struct qm_error e;

	(void)state;
	qm_buf_init(&b, 1u << 20);
	qmail_keyids(&b, 4096);
	assert_int_equal(qm_mail_parse(b.data, b.len, NULL, &p, &e), QM_OK);
	assert_int_equal(p->nkey_ids, 4096);
	qm_mail_parsed_free(&p);
	qmail_keyids(&b, 4097);
	assert_int_equal(qm_mail_parse(b.data, b.len, NULL, &p, &e),
	                 QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "too many key IDs"));
	qm_buf_free(&b);
}

/* An envelope whose level-1 slot declares n key IDs (the seed envelope
 * fuzz/corpus/env/l1-shared.qmenv with its count patched). */
static enum qm_err env_with_nkeys(uint32_t n, struct qm_error *e)
{
	char path[4096];
	struct qm_buf b;
	struct qm_env *env = NULL;
	unsigned char *p;
	enum qm_err rc;
	static const unsigned char at[] = {'S', 'A', 'E', '_', 'A', 'L', 'I',
	                                   'C', 'E', 0,   0,   1,   0};

	snprintf(path, sizeof(path), "%s/fuzz/corpus/env/l1-shared.qmenv",
	         getenv("QM_SOURCE_DIR") ? getenv("QM_SOURCE_DIR") : ".");
	qm_buf_init(&b, 1u << 20);
	assert_int_equal(qm_file_read(path, 1u << 20, &b, NULL), QM_OK);
	p = memmem(b.data, b.len, at, sizeof(at));
	assert_non_null(p); /* sender SAE, no fingerprint, 1 slot, label "" */
	p += sizeof(at);
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	rc = qm_crypto_env_parse(b.data, b.len, &env, e);
	qm_crypto_env_free(&env);
	qm_buf_free(&b);
	return rc;
}

static void test_key_ids_in_envelope(void **state)
{
	struct qm_error e;

	(void)state;
	assert_int_equal(env_with_nkeys(1, &e), QM_OK);
	/* at the limit the count is accepted and the missing IDs are
	 * noticed; one over, the count itself is refused */
	assert_int_equal(env_with_nkeys(QM_ENV_MAXKEYIDS, &e), QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "truncated"));
	assert_int_equal(env_with_nkeys(QM_ENV_MAXKEYIDS + 1, &e),
	                 QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "1048577 key IDs"));
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* Refused with TOOBIG in under a second, peak memory up by < 64 MiB. */
static void bomb(const struct qm_buf *b, const char *what)
{
	long rss0 = maxrss_kb();
	uint64_t t0 = qm_mono_ns();
	struct qm_error e;
	enum qm_err a = content(b, NULL, &e), c = incoming(b, NULL, &e);
	double ms = (double)(qm_mono_ns() - t0) / 1e6;
	long grew = maxrss_kb() - rss0;

	printf("  %s (%zu bytes): refused in %.1f ms, peak memory +%ld KiB: "
	       "%s\n",
	       what, b->len, ms, grew, e.msg);
	assert_int_equal(a, QM_ERR_TOOBIG);
	assert_int_equal(c, QM_ERR_TOOBIG);
	assert_true(ms < 1000.0);
	assert_true(grew < 64 * 1024);
}

static void test_zip_bombs(void **state)
{
	struct qm_buf b;

	(void)state;
	qm_buf_init(&b, 64u << 20);
	nested(&b, 20000);
	bomb(&b, "20000 nested multiparts");
	mixed(&b, 20000);
	bomb(&b, "20000 tiny parts");
	/* huge declared sizes: a part that claims gigabytes, and a message
	 * of many parts each declaring a huge length; the parser counts
	 * real bytes, never declared ones */
	qm_buf_reset(&b);
	add(&b, "From: a@example.org\r\nMIME-Version: 1.0\r\n"
	        "Content-Type: multipart/mixed; boundary=z\r\n\r\n");
	for (int i = 0; i < 300; i++)
		add(&b,
		    "--z\r\nContent-Type: application/octet-stream\r\n"
		    "Content-Length: 99999999999999\r\n"
		    "Content-Disposition: attachment; size=99999999999999\r\n"
		    "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n");
	add(&b, "--z--\r\n");
	bomb(&b, "300 parts declaring 99 TB each");
	qm_buf_free(&b);
}

static void test_json_depth_and_count(void **state)
{
	struct qm_buf b;
	struct qm_kms_status st;
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;
	uint64_t t0;

	(void)state;
	qm_buf_init(&b, 64u << 20);
	/* a status_extension nested 30000 deep, within the 64 KiB a status
	 * reply may have (jansson's depth limit is 2048) */
	add(&b, "{\"key_size\":256,\"status_extension\":{\"x\":");
	for (int i = 0; i < 30000; i++)
		assert_int_equal(qm_buf_append_byte(&b, '[', NULL), QM_OK);
	for (int i = 0; i < 30000; i++)
		assert_int_equal(qm_buf_append_byte(&b, ']', NULL), QM_OK);
	add(&b, "}}");
	t0 = qm_mono_ns();
	assert_int_not_equal(
	    qm_kms_status_parse((const char *)b.data, b.len, &st, &e), QM_OK);
	assert_true(qm_mono_ns() - t0 < 1000000000ull);
	assert_non_null(strstr(e.msg, "deeper than the limit of 32"));
	printf("  JSON nested 30000 deep: %s\n", e.msg);
	/* a container with one key more than QM_KMS_KEYS_MAX */
	qm_buf_reset(&b);
	add(&b, "{\"keys\":[");
	for (unsigned i = 0; i <= QM_KMS_KEYS_MAX; i++)
		add(&b, "%s{\"key_ID\":\"%u\",\"key\":\"AQ==\"}", i ? "," : "",
		    i);
	add(&b, "]}");
	assert_int_not_equal(
	    qm_kms_keys_parse((const char *)b.data, b.len, 0, &ks, &e), QM_OK);
	assert_null(ks);
	printf("  %u keys: %s\n", QM_KMS_KEYS_MAX + 1, e.msg);
	qm_buf_free(&b);
}

/* The count of key IDs a QMail message announces ("k0, k1; count=N"), at
 * and over limit.key_ids: refused by the parser, before any KME. */
static void test_key_id_limit(void **state)
{
	struct qm_mail_limits l = {.max_key_ids = 8};
	struct qm_mail_parsed *p = NULL;
	struct qm_buf b;
	struct qm_error e;

	(void)state;
	qm_buf_init(&b, 1u << 20);
	qmail_keyids(&b, 8);
	assert_int_equal(qm_mail_parse(b.data, b.len, &l, &p, &e), QM_OK);
	assert_int_equal(p->key_id_count, 8);
	qm_mail_parsed_free(&p);
	qmail_keyids(&b, 9);
	assert_int_equal(qm_mail_parse(b.data, b.len, &l, &p, &e),
	                 QM_ERR_TOOBIG);
	assert_null(p);
	assert_non_null(
	    strstr(e.msg, "uses 9 key IDs; the limit is 8 (limit.key_ids)"));
	printf("  9 key IDs at limit 8: %s\n", e.msg);
	/* the default (100000) against an announced count */
	qm_buf_reset(&b);
	add(&b, "From: a@example.org\r\nX-QKD-Security-Level: 1\r\n"
	        "X-QKD-KeyID: k0, k1; count=100001\r\nMIME-Version: 1.0\r\n"
	        "Content-Type: multipart/encrypted; "
	        "protocol=\"application/x-qmail-encrypted\"; boundary=q\r\n\r\n"
	        "--q\r\nContent-Type: application/x-qmail-encrypted\r\n\r\n"
	        "Version: 1\r\n--q\r\nContent-Type: application/octet-stream\r\n"
	        "Content-Transfer-Encoding: base64\r\n\r\nUU1FTlY=\r\n--q--\r\n");
	assert_int_equal(qm_mail_parse(b.data, b.len, NULL, &p, &e),
	                 QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "uses 100001 key IDs; the limit is 100000"));
	qm_buf_free(&b);
}

/* With a hint (what the client passes), every limit's message says how to
 * change it. */
static void test_limit_hint(void **state)
{
	struct qm_mail_limits l = {.max_parts = 8,
	                           .max_size = 1000,
	                           .hint = "qmail config set"};
	struct qm_buf b;
	struct qm_error e;

	(void)state;
	qm_buf_init(&b, 1u << 20);
	mixed(&b, 8);
	expect(&b, &l, QM_ERR_TOOBIG,
	       "the message has at least 9 parts; your limit is 8 (qmail "
	       "config set limit.parts N)");
	qm_buf_reset(&b);
	add(&b, "From: a@example.org\r\n\r\n");
	while (b.len < 1001)
		assert_int_equal(qm_buf_append_byte(&b, 'x', NULL), QM_OK);
	expect(&b, &l, QM_ERR_TOOBIG,
	       "the message is 1001 bytes; your limit is 1000 (qmail config "
	       "set limit.message_size N)");
	assert_int_equal(qm_mail_limit_error(&l, "limit.key_ids", 5, &e,
	                                     "the message uses %d key IDs", 6),
	                 QM_ERR_TOOBIG);
	assert_string_equal(e.msg, "the message uses 6 key IDs; your limit is "
	                           "5 (qmail config set limit.key_ids N)");
	qm_buf_free(&b);
}

/* The JSON depth pre-scan: at and over the limit, brackets in strings
 * (with escaped quotes) do not count; the KMS parsers use 32 levels. */
static void test_json_depth_limit(void **state)
{
	static const char in_string[] = "{\"a\":\"[[[[\\\"{{{{\",\"b\":[1]}";
	struct qm_buf b;
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	assert_int_equal(qm_json_depth_check("[[[]]]", 6, 3, &e), QM_OK);
	assert_int_equal(qm_json_depth_check("[[[[]]]]", 8, 3, &e),
	                 QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "deeper than the limit of 3 levels"));
	assert_int_equal(qm_json_depth_check(in_string, strlen(in_string), 2,
	                                     &e),
	                 QM_OK);
	/* a status whose status_extension makes 32 levels in all passes the
	 * scan (and parses); 33 levels are refused before jansson */
	qm_buf_init(&b, 1u << 20);
	for (int depth = 32; depth <= 33; depth++) {
		qm_buf_reset(&b);
		add(&b, "{\"source_KME_ID\":\"A\",\"target_KME_ID\":\"B\","
		        "\"master_SAE_ID\":\"a\",\"slave_SAE_ID\":\"b\","
		        "\"key_size\":256,\"stored_key_count\":1,"
		        "\"max_key_count\":1,\"max_key_per_request\":1,"
		        "\"max_key_size\":256,\"min_key_size\":8,"
		        "\"max_SAE_ID_count\":0,\"status_extension\":{\"x\":");
		for (int i = 0; i < depth - 2; i++)
			assert_int_equal(qm_buf_append_byte(&b, '[', NULL), QM_OK);
		for (int i = 0; i < depth - 2; i++)
			assert_int_equal(qm_buf_append_byte(&b, ']', NULL), QM_OK);
		add(&b, "}}");
		qm_error_clear(&e);
		if (depth == 32) {
			assert_int_equal(qm_kms_status_parse((const char *)b.data,
			                                     b.len, &st, &e),
			                 QM_OK);
		} else {
			assert_int_equal(qm_kms_status_parse((const char *)b.data,
			                                     b.len, &st, &e),
			                 QM_ERR_TOOBIG);
			assert_non_null(strstr(e.msg, "limit of 32 levels"));
			printf("  status nested 33 deep: %s\n", e.msg);
		}
	}
	qm_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_message_size),
	    cmocka_unit_test(test_message_size_default),
	    cmocka_unit_test(test_parts),
	    cmocka_unit_test(test_depth),
	    cmocka_unit_test(test_header_count_and_length),
	    cmocka_unit_test(test_key_ids_in_header),
	    cmocka_unit_test(test_key_ids_in_envelope),
	    cmocka_unit_test(test_zip_bombs),
	    cmocka_unit_test(test_json_depth_and_count),
	    cmocka_unit_test(test_key_id_limit),
	    cmocka_unit_test(test_limit_hint),
	    cmocka_unit_test(test_json_depth_limit),
	};
	struct qm_error e;

	if (qm_core_init(&e) != QM_OK || qm_mail_init(&e) != QM_OK)
		return 1;
	qm_kms_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
