/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for core: errors, bounded buffers, encodings, the redacting
 * logger, the configuration parser and the file helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

static void test_error_set_and_prefix(void **state)
{
	struct qm_error e;

	(void)state;
	qm_error_clear(&e);
	assert_int_equal(e.code, QM_OK);
	assert_int_equal(qm_error_set(&e, QM_ERR_NOTFOUND, "no key %d", 7),
	                 QM_ERR_NOTFOUND);
	assert_string_equal(e.msg, "no key 7");
	qm_error_prefix(&e, "KME at %s: ", "https://127.0.0.1:1");
	assert_string_equal(e.msg, "KME at https://127.0.0.1:1: no key 7");
	assert_int_equal(qm_error_set(NULL, QM_ERR_IO, "x"), QM_ERR_IO);
	assert_string_equal(qm_err_str((enum qm_err)9999), "unknown error");
}

static void test_buf_limit(void **state)
{
	struct qm_buf b;
	struct qm_error e;

	(void)state;
	qm_buf_init(&b, 10);
	assert_int_equal(qm_buf_append(&b, "0123456789", 10, &e), QM_OK);
	assert_int_equal(qm_buf_append(&b, "x", 1, &e), QM_ERR_TOOBIG);
	assert_int_equal(b.len, 10);
	assert_string_equal((char *)b.data, "0123456789");
	qm_buf_reset(&b);
	assert_int_equal(qm_buf_appendf(&b, &e, "%d-%s", 42, "ab"), QM_OK);
	assert_string_equal((char *)b.data, "42-ab");
	assert_int_equal(qm_buf_appendf(&b, &e, "%s", "123456"), QM_ERR_TOOBIG);
	qm_buf_free(&b);
	assert_null(b.data);
}

static void test_buf_secure_grows(void **state)
{
	struct qm_buf b;
	unsigned char chunk[1000];

	(void)state;
	qm_buf_init_secure(&b, 1 << 20);
	memset(chunk, 0xa5, sizeof(chunk));
	for (int i = 0; i < 100; i++)
		assert_int_equal(qm_buf_append(&b, chunk, sizeof(chunk), NULL),
		                 QM_OK);
	assert_int_equal(b.len, 100000);
	assert_true(qm_sec_contains(b.data, b.len));
	assert_int_equal(b.data[99999], 0xa5);
	qm_buf_free(&b);
}

/* A reservation of a known size takes exactly that room (a secure block of
 * 10 MiB of key, not 16), once; appends within it keep the block; past it
 * the buffer grows as before; the limit holds. */
static void test_buf_reserve_exact(void **state)
{
	struct qm_buf b;
	unsigned char chunk[1000];
	unsigned char *first;

	(void)state;
	memset(chunk, 0x5a, sizeof(chunk));
	qm_buf_init_secure(&b, 64 << 20);
	assert_int_equal(qm_buf_append(&b, chunk, 10, NULL), QM_OK);
	assert_int_equal(qm_buf_reserve_exact(&b, 10u << 20, NULL), QM_OK);
	assert_int_equal(b.cap, 10 + (10u << 20) + 1);
	first = b.data;
	for (size_t n = 10; n + sizeof(chunk) <= 10 + (10u << 20);
	     n += sizeof(chunk))
		assert_int_equal(qm_buf_append(&b, chunk, sizeof(chunk), NULL),
		                 QM_OK);
	assert_ptr_equal(b.data, first);
	assert_int_equal(qm_buf_append(&b, chunk, sizeof(chunk), NULL), QM_OK);
	assert_true(b.cap > 10 + (10u << 20) + 1);
	assert_true(qm_sec_contains(b.data, b.len));
	qm_buf_free(&b);
	qm_buf_init(&b, 100);
	assert_int_equal(qm_buf_reserve_exact(&b, 101, NULL), QM_ERR_TOOBIG);
	assert_int_equal(qm_buf_reserve_exact(&b, 50, NULL), QM_OK);
	assert_int_equal(b.cap, 51);
	qm_buf_free(&b);
}

/* A freed secure block comes back for a request of its exact size only,
 * wiped and registered again; a freed one is no longer "secure". */
static void test_sec_reuse_wiped(void **state)
{
	unsigned char *a, *b, *c;
	int reused = 0;

	(void)state;
	for (int round = 0; round < 2; round++) {
		a = qm_sec_alloc(5000);
		assert_non_null(a);
		memset(a, 0x5a, 5000);
		qm_sec_free(a);
		assert_false(qm_sec_contains(a, 1));
		b = qm_sec_alloc(5000);
		assert_non_null(b);
		reused |= b == a;
		for (size_t i = 0; i < 5000; i++)
			assert_int_equal(b[i], 0);
		assert_true(qm_sec_contains(b + 4999, 1));
		/* another size never gets it: the guard page must follow the
		 * last byte asked for */
		c = qm_sec_alloc(4000);
		assert_non_null(c);
		assert_ptr_not_equal(c, b);
		qm_sec_free(c);
		qm_sec_free(b);
	}
	assert_true(reused);
}

static void test_reader_bounds(void **state)
{
	const unsigned char d[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
	struct qm_reader r;
	uint16_t v16;
	uint32_t v32;
	uint8_t v8;
	const unsigned char *p;

	(void)state;
	qm_reader_init(&r, d, sizeof(d));
	assert_int_equal(qm_reader_u16(&r, &v16), QM_OK);
	assert_int_equal(v16, 0x0102);
	assert_int_equal(qm_reader_u32(&r, &v32), QM_OK);
	assert_int_equal(v32, 0x03040506);
	assert_int_equal(qm_reader_u16(&r, &v16), QM_ERR_PARSE);
	assert_int_equal(qm_reader_u8(&r, &v8), QM_OK);
	assert_int_equal(v8, 7);
	assert_int_equal(qm_reader_bytes(&r, 1, &p), QM_ERR_PARSE);
	assert_int_equal(qm_reader_left(&r), 0);
}

static void test_b64_hex(void **state)
{
	struct qm_buf b, d;
	struct qm_error e;

	(void)state;
	qm_buf_init(&b, 100);
	qm_buf_init_secure(&d, 100);
	assert_int_equal(qm_b64_encode("hello!?", 7, &b, &e), QM_OK);
	assert_string_equal((char *)b.data, "aGVsbG8hPw==");
	assert_int_equal(qm_b64_decode("aGVs\r\nbG8h Pw==", 15, &d, &e), QM_OK);
	assert_int_equal(d.len, 7);
	assert_memory_equal(d.data, "hello!?", 7);
	qm_buf_reset(&d);
	assert_int_equal(qm_b64_decode("aGV*", 4, &d, &e), QM_ERR_PARSE);
	assert_int_equal(qm_b64_decode("aGVsbG8", 7, &d, &e), QM_ERR_PARSE);
	qm_buf_reset(&b);
	assert_int_equal(qm_hex_encode("\x01\xab", 2, &b, &e), QM_OK);
	assert_string_equal((char *)b.data, "01ab");
	qm_buf_reset(&d);
	assert_int_equal(qm_hex_decode("01AB", 4, &d, &e), QM_OK);
	assert_memory_equal(d.data, "\x01\xab", 2);
	assert_int_equal(qm_hex_decode("0g", 2, &d, &e), QM_ERR_PARSE);
	assert_int_equal(qm_hex_decode("012", 3, &d, &e), QM_ERR_PARSE);
	qm_buf_free(&b);
	qm_buf_free(&d);
}

static char last_line[4096];

static void capture(enum qm_log_level level, const char *line, void *arg)
{
	(void)level;
	(void)arg;
	qm_strlcpy(last_line, line, sizeof(last_line));
}

/* Invariant 1: a secret in secure memory never reaches a log line. */
static void test_log_redacts_secure_memory(void **state)
{
	char *secret = qm_sec_alloc(32);
	char plain[] = "visible";
	struct qm_error e;

	(void)state;
	qm_strlcpy(secret, "hunter2-passphrase", 32);
	qm_log_set_sink(capture, NULL, QM_LOG_DEBUG);
	qm_log(QM_LOG_INFO, "user %s pass %s n=%zu %5.2s|%-4d|%x|%lld", plain,
	       secret, (size_t)3, "abc", 7, 255u, -5ll);
	assert_null(strstr(last_line, "hunter2"));
	assert_string_equal(last_line,
	                    "user visible pass [redacted] n=3    ab|7   |ff|-5");
	qm_log(QM_LOG_INFO, "%.*s at %p", 4, secret + 2, (void *)secret);
	assert_null(strstr(last_line, "nter"));
	assert_string_equal(last_line, "[redacted] at [redacted]");
	/* error messages use the same formatter */
	qm_error_set(&e, QM_ERR_AUTH, "wrong password %s", secret);
	assert_null(strstr(e.msg, "hunter2"));
	qm_log(QM_LOG_DEBUG, "100%% done, %c", 'z');
	assert_string_equal(last_line, "100% done, z");
	qm_log_set_sink(NULL, NULL, QM_LOG_INFO);
	qm_sec_free(secret);
	/* freed memory is no longer registered */
	assert_false(qm_sec_contains(plain, sizeof(plain)));
}

static void test_conf(void **state)
{
	const char *text = "# comment\n"
	                   "name = alice\n"
	                   "[kme]\n"
	                   "url = \"https://127.0.0.1:8443\"\n"
	                   "  port=8443  \r\n"
	                   "; another\n";
	struct qm_conf *c = NULL;
	struct qm_error e;
	long long v = 0;

	(void)state;
	assert_int_equal(qm_conf_parse(text, strlen(text), &c, &e), QM_OK);
	assert_string_equal(qm_conf_get(c, "name"), "alice");
	assert_string_equal(qm_conf_get(c, "kme.url"), "https://127.0.0.1:8443");
	assert_int_equal(qm_conf_get_int(c, "kme.port", 1, 65535, &v, &e), QM_OK);
	assert_int_equal(v, 8443);
	assert_int_equal(qm_conf_get_int(c, "kme.url", 1, 65535, &v, &e),
	                 QM_ERR_PARSE);
	assert_null(qm_conf_get(c, "url"));
	assert_int_equal(qm_conf_count(c), 3);
	qm_conf_free(&c);
	assert_null(c);

	assert_int_equal(qm_conf_parse("a=1\nbad line\n", 13, &c, &e),
	                 QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "line 2"));
	assert_int_equal(qm_conf_parse("a=1\na=2\n", 8, &c, &e), QM_ERR_PARSE);
	assert_int_equal(qm_conf_parse("[x\n", 3, &c, &e), QM_ERR_PARSE);
	assert_int_equal(qm_conf_parse("k=\"open\n", 8, &c, &e), QM_ERR_PARSE);
	assert_int_equal(qm_conf_parse("k=a\0b\n", 6, &c, &e), QM_ERR_PARSE);
}

static void test_parse_ll(void **state)
{
	long long v = 0;

	(void)state;
	assert_int_equal(qm_parse_ll("123", 0, 200, &v, NULL), QM_OK);
	assert_int_equal(v, 123);
	assert_int_equal(qm_parse_ll("123x", 0, 200, &v, NULL), QM_ERR_PARSE);
	assert_int_equal(qm_parse_ll("", 0, 200, &v, NULL), QM_ERR_PARSE);
	assert_int_equal(qm_parse_ll("201", 0, 200, &v, NULL), QM_ERR_PARSE);
	assert_int_equal(qm_parse_ll("99999999999999999999", 0, 200, &v, NULL),
	                 QM_ERR_PARSE);
	assert_int_equal(v, 123);
}

static void test_files(void **state)
{
	char dir[] = "/tmp/qm-core-XXXXXX";
	char path[512], sub[256];
	struct qm_buf b;
	struct qm_error e;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/a/b/c", dir);
	assert_int_equal(qm_mkdirs(sub, 0700, &e), QM_OK);
	snprintf(path, sizeof(path), "%s/f", sub);
	assert_int_equal(qm_file_write_atomic(path, "hello", 5, 0600, &e), QM_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	qm_buf_init(&b, 5);
	assert_int_equal(qm_file_read(path, 5, &b, &e), QM_OK);
	assert_string_equal((char *)b.data, "hello");
	qm_buf_free(&b);
	qm_buf_init(&b, 100);
	assert_int_equal(qm_file_read(path, 4, &b, &e), QM_ERR_TOOBIG);
	qm_buf_free(&b);
	snprintf(sub, sizeof(sub), "%s/missing", dir);
	qm_buf_init(&b, 100);
	assert_int_equal(qm_file_read(sub, 4, &b, &e), QM_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "missing"));
	qm_buf_free(&b);
	unlink(path);
	for (int i = 0; i < 3; i++) {
		char *slash = strrchr(path, '/');
		*slash = '\0';
		rmdir(path);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_error_set_and_prefix),
	    cmocka_unit_test(test_buf_limit),
	    cmocka_unit_test(test_buf_secure_grows),
	    cmocka_unit_test(test_buf_reserve_exact),
	    cmocka_unit_test(test_sec_reuse_wiped),
	    cmocka_unit_test(test_reader_bounds),
	    cmocka_unit_test(test_b64_hex),
	    cmocka_unit_test(test_log_redacts_secure_memory),
	    cmocka_unit_test(test_conf),
	    cmocka_unit_test(test_parse_ll),
	    cmocka_unit_test(test_files),
	};

	if (qm_core_init(NULL) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
