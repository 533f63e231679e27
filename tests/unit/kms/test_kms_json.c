/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the ETSI GS QKD 014 reply parsers in src/kms: Status, Key
 * container and Error bodies, with the members other KMEs add or leave out,
 * wrong types, oversized bodies, keys of odd sizes, keys decoded into secure
 * memory, and random corruptions that must give an error and never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kms/kms.h"

#define S(lit) lit, sizeof(lit) - 1

static int setup(void **state)
{
	(void)state;
	assert_int_equal(qm_core_init(NULL), QM_OK);
	qm_kms_global_init();
	return 0;
}

/* ------------------------------------------------------------------ status */

static void test_status_full(void **state)
{
	static const char j[] =
	    "{\"source_KME_ID\":\"KME_A\",\"target_KME_ID\":\"KME_B\","
	    "\"master_SAE_ID\":\"SAE_A\",\"slave_SAE_ID\":\"SAE_B\","
	    "\"key_size\":1001,\"stored_key_count\":25000,"
	    "\"max_key_count\":100000,\"max_key_per_request\":128,"
	    "\"max_key_size\":8192,\"min_key_size\":64,"
	    "\"max_SAE_ID_count\":2,"
	    "\"status_extension\":{\"qber\":0.031,\"alarm\":false},"
	    "\"vendor_field\":[1,2,{\"x\":null}]}";
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	assert_int_equal(qm_kms_status_parse(S(j), &st, &e), QM_OK);
	assert_string_equal(st.source_kme_id, "KME_A");
	assert_string_equal(st.target_kme_id, "KME_B");
	assert_string_equal(st.master_sae_id, "SAE_A");
	assert_string_equal(st.slave_sae_id, "SAE_B");
	assert_int_equal(st.key_size, 1001); /* not a multiple of 8: fine */
	assert_int_equal(st.stored_key_count, 25000);
	assert_int_equal(st.max_key_count, 100000);
	assert_int_equal(st.max_key_per_request, 128);
	assert_int_equal(st.max_key_size, 8192);
	assert_int_equal(st.min_key_size, 64);
	assert_int_equal(st.max_sae_id_count, 2);
	assert_string_equal(st.extension, "{\"alarm\":false,\"qber\":0.031}");
	assert_int_equal(st.present, QM_KMS_HAS_KEY_SIZE |
	                                 QM_KMS_HAS_STORED_KEY_COUNT |
	                                 QM_KMS_HAS_MAX_KEY_PER_REQUEST |
	                                 QM_KMS_HAS_MAX_KEY_SIZE);
}

static void test_status_missing_optional(void **state)
{
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	assert_int_equal(qm_kms_status_parse(S("{\"key_size\":256,"
	                                       "\"slave_SAE_ID\":null}"),
	                                     &st, &e),
	                 QM_OK);
	assert_int_equal(st.key_size, 256);
	assert_int_equal(st.present, QM_KMS_HAS_KEY_SIZE);
	assert_string_equal(st.source_kme_id, "");
	assert_string_equal(st.slave_sae_id, "");
	assert_string_equal(st.extension, "");
	assert_int_equal(st.stored_key_count, 0);
}

static void expect_status_err(const char *j, enum qm_err code,
                              const char *needle)
{
	struct qm_kms_status st;
	struct qm_error e;

	memset(&st, 0x5a, sizeof(st));
	qm_error_clear(&e);
	assert_int_equal(qm_kms_status_parse(j, strlen(j), &st, &e), code);
	if (!strstr(e.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
	/* outputs are set only on success */
	assert_int_equal(st.key_size, 0x5a5a5a5a5a5a5a5aull);
}

static void test_status_wrong_types(void **state)
{
	char id[400];

	(void)state;
	expect_status_err("{\"key_size\":\"256\"}", QM_ERR_PARSE, "key_size");
	expect_status_err("{\"stored_key_count\":-1}", QM_ERR_PARSE,
	                  "stored_key_count is negative");
	expect_status_err("{\"max_key_size\":1.5}", QM_ERR_PARSE,
	                  "max_key_size is not an integer");
	expect_status_err("{\"max_key_per_request\":true}", QM_ERR_PARSE,
	                  "max_key_per_request");
	expect_status_err("{\"source_KME_ID\":7}", QM_ERR_PARSE,
	                  "source_KME_ID is not a string");
	expect_status_err("{\"slave_SAE_ID\":\"a\\nb\"}", QM_ERR_PARSE,
	                  "control characters");
	expect_status_err("{\"status_extension\":[1]}", QM_ERR_PARSE,
	                  "status_extension is not an object");
	expect_status_err("[{\"key_size\":256}]", QM_ERR_PARSE,
	                  "not a JSON object");
	expect_status_err("{\"key_size\":256", QM_ERR_PARSE, "malformed JSON");
	expect_status_err("{\"key_size\":256,\"key_size\":512}", QM_ERR_PARSE,
	                  "duplicate");
	expect_status_err("{\"key_size\":99999999999999999999999}",
	                  QM_ERR_PARSE, "malformed JSON");
	expect_status_err("", QM_ERR_PARSE, "malformed JSON");
	memset(id, 'x', sizeof(id));
	memcpy(id, "{\"master_SAE_ID\":\"", 18);
	memcpy(id + sizeof(id) - 3, "\"}", 3);
	expect_status_err(id, QM_ERR_PARSE, "longer than 255 bytes");
}

static void test_status_oversized(void **state)
{
	size_t n = QM_KMS_SMALL_BODY_MAX + 1;
	char *j = malloc(n + 1);
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	assert_non_null(j);
	/* a valid object padded with white space past the limit */
	memset(j, ' ', n);
	memcpy(j, "{\"key_size\":256}", 16);
	j[n] = '\0';
	assert_int_equal(qm_kms_status_parse(j, n, &st, &e), QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "larger than the limit"));
	assert_int_equal(qm_kms_status_parse(j, n - 1, &st, &e), QM_OK);
	free(j);
}

static void test_status_long_extension_dropped(void **state)
{
	struct qm_buf b;
	struct qm_kms_status st;

	(void)state;
	qm_buf_init(&b, 1 << 20);
	assert_int_equal(qm_buf_append_str(&b,
	                                   "{\"key_size\":8,"
	                                   "\"status_extension\":{\"a\":\"",
	                                   NULL),
	                 QM_OK);
	for (int i = 0; i < QM_KMS_EXT_MAX; i++)
		assert_int_equal(qm_buf_append_byte(&b, 'z', NULL), QM_OK);
	assert_int_equal(qm_buf_append_str(&b, "\"}}", NULL), QM_OK);
	assert_int_equal(qm_kms_status_parse((char *)b.data, b.len, &st, NULL),
	                 QM_OK);
	assert_string_equal(st.extension, "");
	assert_int_equal(st.key_size, 8);
	qm_buf_free(&b);
}

/* ---------------------------------------------------------- key container */

static void test_keys_parse(void **state)
{
	/* 0x00..0x1f and 0xff x 32, the second written with an escaped '/'
	 * as some JSON encoders do */
	static const char j[] =
	    "{\"keys\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\","
	    "\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\","
	    "\"key_ID_extension\":null,\"key_extension\":{\"v\":1},"
	    "\"unknown\":42},"
	    "{\"key_ID\":\"0a782fb5-3434-48fe-aa4d-14f41d46cf92\","
	    "\"key\":\"\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/"
	    "\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/\\/"
	    "\\/\\/\\/\\/\\/\\/8=\"}],"
	    "\"key_container_extension\":{\"note\":\"x\"},\"extra\":\"y\"}";
	struct qm_kms_keys *ks = NULL;
	const unsigned char *p;
	size_t len;
	struct qm_error e;

	(void)state;
	assert_int_equal(qm_kms_keys_parse(S(j), 32, &ks, &e), QM_OK);
	assert_int_equal(qm_kms_keys_count(ks), 2);
	assert_string_equal(qm_kms_keys_id(ks, 0),
	                    "bc490419-7d60-487f-adc1-4ddcc177c139");
	assert_string_equal(qm_kms_keys_id(ks, 1),
	                    "0a782fb5-3434-48fe-aa4d-14f41d46cf92");
	assert_null(qm_kms_keys_id(ks, 2));
	p = qm_kms_keys_key(ks, 0, &len);
	assert_int_equal(len, 32);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(p[i], i);
	assert_true(qm_sec_contains(p, len));
	p = qm_kms_keys_key(ks, 1, &len);
	assert_int_equal(len, 32);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(p[i], 0xff);
	assert_null(qm_kms_keys_key(ks, 2, &len));
	assert_int_equal(len, 0);
	p = qm_kms_keys_material(ks, &len);
	assert_int_equal(len, 64);
	assert_int_equal(p[31], 31);
	assert_int_equal(p[32], 0xff);
	assert_true(qm_sec_contains(p, len));
	/* the container's extension is kept, as compact JSON */
	{
		size_t ne = 9;
		const char *const *ex = qm_kms_keys_extensions(ks, &ne);

		assert_int_equal(ne, 1);
		assert_string_equal(ex[0], "{\"note\":\"x\"}");
	}
	qm_kms_keys_free(&ks);
	assert_null(ks);
	qm_kms_keys_free(&ks); /* twice is harmless */
}

static void test_keys_odd_sizes(void **state)
{
	/* a 20-bit key arrives as 3 bytes; any length passes when none is
	 * expected */
	static const char j[] =
	    "{\"keys\":[{\"key_ID\":\"k1\",\"key\":\"q83w\"},"
	    "{\"key_ID\":\"k2\",\"key\":\"AQ==\"}]}";
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;
	size_t len;

	(void)state;
	assert_int_equal(qm_kms_keys_parse(S(j), 0, &ks, &e), QM_OK);
	assert_non_null(qm_kms_keys_key(ks, 0, &len));
	assert_int_equal(len, 3);
	assert_int_equal(qm_kms_keys_key(ks, 0, NULL)[0], 0xab);
	assert_non_null(qm_kms_keys_key(ks, 1, &len));
	assert_int_equal(len, 1);
	qm_kms_keys_free(&ks);
	/* but when 3 bytes were asked for, the 1-byte key is refused */
	assert_int_equal(qm_kms_keys_parse(S(j), 3, &ks, &e), QM_ERR_PROTO);
	assert_non_null(strstr(e.msg, "key k2 has 1 bytes, 3 were asked for"));
	assert_null(ks);
}

/* Where a KME says nothing of the keys' path (no extension, null, {}),
 * the container has no extension; one too long to keep is left out. */
static void test_keys_no_extension(void **state)
{
	static const char *const js[] = {
	    "{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ==\"}]}",
	    "{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ==\"}],"
	    "\"key_container_extension\":null}",
	    "{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ==\"}],"
	    "\"key_container_extension\":{}}",
	};
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;
	struct qm_buf big;
	size_t ne;

	(void)state;
	for (size_t i = 0; i < sizeof(js) / sizeof(js[0]); i++) {
		assert_int_equal(
		    qm_kms_keys_parse(js[i], strlen(js[i]), 0, &ks, &e), QM_OK);
		ne = 9;
		(void)qm_kms_keys_extensions(ks, &ne);
		assert_int_equal(ne, 0);
		qm_kms_keys_free(&ks);
	}
	qm_buf_init(&big, 1 << 20);
	assert_int_equal(
	    qm_buf_append_str(&big,
	                      "{\"keys\":[{\"key_ID\":\"a\",\"key\":"
	                      "\"AQ==\"}],\"key_container_extension\":{\"n\":\"",
	                      NULL),
	    QM_OK);
	for (size_t i = 0; i < QM_KMS_EXT_MAX; i++)
		assert_int_equal(qm_buf_append_byte(&big, 'x', NULL), QM_OK);
	assert_int_equal(qm_buf_append_str(&big, "\"}}", NULL), QM_OK);
	assert_int_equal(qm_kms_keys_parse((const char *)big.data, big.len, 0,
	                                   &ks, &e),
	                 QM_OK);
	ne = 9;
	(void)qm_kms_keys_extensions(ks, &ne);
	assert_int_equal(ne, 0);
	qm_kms_keys_free(&ks);
	qm_buf_free(&big);
}

static void expect_keys_err(const char *j, enum qm_err code, const char *needle)
{
	struct qm_kms_keys *ks = (struct qm_kms_keys *)&ks;
	struct qm_error e;

	qm_error_clear(&e);
	assert_int_equal(qm_kms_keys_parse(j, strlen(j), 0, &ks, &e), code);
	if (!strstr(e.msg, needle))
		fail_msg("message \"%s\" lacks \"%s\"", e.msg, needle);
	/* *out untouched on failure */
	assert_ptr_equal(ks, (struct qm_kms_keys *)&ks);
}

static void test_keys_wrong_types(void **state)
{
	(void)state;
	expect_keys_err("{}", QM_ERR_PARSE, "no \"keys\" member");
	expect_keys_err("{\"keys\":{}}", QM_ERR_PARSE, "keys is not an array");
	expect_keys_err("{\"keys\":[]}", QM_ERR_PARSE, "holds no keys");
	expect_keys_err("{\"keys\":[1]}", QM_ERR_PARSE,
	                "keys[0] is not an object");
	expect_keys_err("{\"keys\":[{\"key\":\"AQ==\"}]}", QM_ERR_PARSE,
	                "keys[0].key_ID is missing");
	expect_keys_err("{\"keys\":[{\"key_ID\":5,\"key\":\"AQ==\"}]}",
	                QM_ERR_PARSE, "keys[0].key_ID is not a string");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"\",\"key\":\"AQ==\"}]}",
	                QM_ERR_PARSE, "keys[0].key_ID is empty");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ==\"},"
	                "{\"key_ID\":\"b\"}]}",
	                QM_ERR_PARSE, "keys[1].key is missing");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"a\",\"key\":[\"AQ==\"]}]}",
	                QM_ERR_PARSE, "keys[0].key is not a string");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"a\",\"key\":\"A*==\"}]}",
	                QM_ERR_PARSE, "key a: invalid base64");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"a\",\"key\":\"\"}]}",
	                QM_ERR_PARSE, "key a is empty");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ==\","
	                "\"key_extension\":\"x\"}]}",
	                QM_ERR_PARSE, "extension that is not an object");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ==\"}],"
	                "\"key_container_extension\":3}",
	                QM_ERR_PARSE, "key_container_extension");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ==\","
	                "\"key\":\"Ag==\"}]}",
	                QM_ERR_PARSE, "duplicate");
	expect_keys_err(
	    "{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ\\u0000==\"}]}",
	    QM_ERR_PARSE, "malformed JSON");
	expect_keys_err("{\"keys\":[{\"key_ID\":\"a\",\"key\":\"AQ==\"}]} x",
	                QM_ERR_PARSE, "malformed JSON");
	expect_keys_err("\"keys\"", QM_ERR_PARSE, "malformed JSON");
}

static void test_keys_too_many(void **state)
{
	struct qm_buf b;
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;

	(void)state;
	qm_buf_init(&b, 16 << 20);
	assert_int_equal(qm_buf_append_str(&b, "{\"keys\":[", NULL), QM_OK);
	for (unsigned i = 0; i <= QM_KMS_KEYS_MAX; i++)
		assert_int_equal(qm_buf_appendf(&b, NULL,
		                                "%s{\"key_ID\":\"%u\",\"key\":"
		                                "\"AQ==\"}",
		                                i ? "," : "", i),
		                 QM_OK);
	assert_int_equal(qm_buf_append_str(&b, "]}", NULL), QM_OK);
	assert_int_equal(qm_kms_keys_parse((char *)b.data, b.len, 0, &ks, &e),
	                 QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "more than the limit"));
	assert_null(ks);
	qm_buf_free(&b);
}

/* Random byte flips, cuts and insertions of a valid container: each result
 * is a container or an error, never a crash (ASan watches the rest). */
static void test_keys_mutations(void **state)
{
	static const char base[] =
	    "{\"keys\":[{\"key_ID\":\"bc490419-7d60-487f-adc1-4ddcc177c139\","
	    "\"key\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"},"
	    "{\"key_ID\":\"0a782fb5\",\"key\":\"q83vq83vq83vq83v\","
	    "\"key_extension\":{}}],\"key_container_extension\":null}";
	static const char alphabet[] = "{}[]\":,\\ 0aZ=/+-.eE\x01\xff";
	char buf[sizeof(base) + 8];
	unsigned ok = 0, bad = 0;

	(void)state;
	for (int iter = 0; iter < 5000; iter++) {
		size_t n = sizeof(base) - 1;
		struct qm_kms_keys *ks = NULL;
		struct qm_kms_status st;
		char msg[64];
		enum qm_err rc;

		memcpy(buf, base, n);
		for (int m = 0, muts = 1 + (int)qm_random_uniform(3); m < muts;
		     m++) {
			size_t at = qm_random_uniform((uint32_t)n);

			switch (qm_random_uniform(3)) {
			case 0:
				buf[at] = alphabet[qm_random_uniform(
				    sizeof(alphabet) - 1)];
				break;
			case 1:
				n = at;
				break;
			default:
				if (n < sizeof(buf) - 1) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = alphabet[qm_random_uniform(
					    sizeof(alphabet) - 1)];
					n++;
				}
			}
		}
		rc = qm_kms_keys_parse(buf, n, 0, &ks, NULL);
		if (rc == QM_OK) {
			assert_true(qm_kms_keys_count(ks) >= 1);
			ok++;
		} else {
			assert_null(ks);
			bad++;
		}
		qm_kms_keys_free(&ks);
		/* any verdict: only a crash or a leak fails here */
		QM_IGNORE(qm_kms_status_parse(buf, n, &st, NULL));
		QM_IGNORE(qm_kms_error_parse(buf, n, msg, sizeof(msg), NULL));
	}
	assert_true(bad > 0);
	assert_true(ok + bad == 5000);
}

/* ------------------------------------------------------------------ error */

static void test_error_parse(void **state)
{
	char msg[QM_KMS_MSG_MAX];
	char tiny[8];
	struct qm_error e;

	(void)state;
	assert_int_equal(
	    qm_kms_error_parse(S("{\"message\":\"size shall be a multiple "
	                         "of 8\",\"details\":[{\"size\":\"7\"}],"
	                         "\"x\":1}"),
	                       msg, sizeof(msg), &e),
	    QM_OK);
	assert_string_equal(msg, "size shall be a multiple of 8 (size: 7)");
	assert_int_equal(
	    qm_kms_error_parse(S("{\"message\":\"unauthorized\",\"details\":"
	                         "[{\"message\":\"SAE X is not served\"},7,"
	                         "{\"parameter_name\":\"number\","
	                         "\"parameter_value\":10}]}"),
	                       msg, sizeof(msg), &e),
	    QM_OK);
	assert_string_equal(msg, "unauthorized (SAE X is not served; "
	                         "parameter_name: number)");
	/* control characters and non-ASCII never reach a screen */
	assert_int_equal(qm_kms_error_parse(S("{\"message\":\"a\\u001b[31mb"
	                                      "\\u00e9\"}"),
	                                    msg, sizeof(msg), &e),
	                 QM_OK);
	assert_string_equal(msg, "a?[31mb??");
	assert_int_equal(qm_kms_error_parse(S("{\"message\":\"0123456789\"}"),
	                                    tiny, sizeof(tiny), &e),
	                 QM_OK);
	assert_string_equal(tiny, "0123456");
	assert_int_equal(
	    qm_kms_error_parse(S("{\"details\":null}"), msg, sizeof(msg), &e),
	    QM_OK);
	assert_string_equal(msg, "");
	assert_int_equal(
	    qm_kms_error_parse(S("{\"message\":5}"), msg, sizeof(msg), &e),
	    QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "message is not a string"));
	assert_int_equal(qm_kms_error_parse(S("{\"message\":\"m\","
	                                      "\"details\":{}}"),
	                                    msg, sizeof(msg), &e),
	                 QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "details is not an array"));
	assert_int_equal(qm_kms_error_parse(S("<html>Bad Gateway</html>"), msg,
	                                    sizeof(msg), &e),
	                 QM_ERR_PARSE);
}

/* ------------------------------------------------------ global allocators */

static void test_jansson_wipes(void **state)
{
	json_malloc_t m;
	json_free_t f;

	(void)state;
	json_get_alloc_funcs(&m, &f);
	assert_ptr_equal(m, malloc);
	assert_ptr_not_equal(f, free); /* our wiping free is installed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_full),
	    cmocka_unit_test(test_status_missing_optional),
	    cmocka_unit_test(test_status_wrong_types),
	    cmocka_unit_test(test_status_oversized),
	    cmocka_unit_test(test_status_long_extension_dropped),
	    cmocka_unit_test(test_keys_parse),
	    cmocka_unit_test(test_keys_odd_sizes),
	    cmocka_unit_test(test_keys_no_extension),
	    cmocka_unit_test(test_keys_wrong_types),
	    cmocka_unit_test(test_keys_too_many),
	    cmocka_unit_test(test_keys_mutations),
	    cmocka_unit_test(test_error_parse),
	    cmocka_unit_test(test_jansson_wipes),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
