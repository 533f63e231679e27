/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the ETSI 014 client (src/kms) against a real pair of
 * qkme processes: a test network written by `qkme testnet` in a temporary
 * folder (two KMEs with two SAEs each), both KMEs started on free loopback
 * ports and always stopped. Every method in both forms, multicast, keys
 * delivered once, SAEs that ask for what is not theirs, the KME ID check,
 * and the bulk helpers on both sides of a link.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "qmtest.h"
#include "kms/kms.h"

static char dir[512];
static int port[2];
static pid_t pid[2];

#define SAE_A1 "SAE_A1"
#define SAE_A2 "SAE_A2"
#define SAE_B1 "SAE_B1"
#define SAE_B2 "SAE_B2"

/* Checks a call's result and shows the error message when it differs. */
#define expect_rc(call, code)                                                  \
	do {                                                                   \
		enum qm_err rc_ = (call);                                      \
		if (rc_ != (code))                                             \
			fail_msg("%s returned %d (%s), expected %d", #call,    \
			         (int)rc_, e.msg, (int)(code));                \
	} while (0)

/* A client of KME i (0: KME_A, 1: KME_B) holding the certificate of sae. */
static struct qm_kms *client_ex(int i, const char *sae, const char *kme_id,
                                unsigned dec_chunk)
{
	char url[64], cert[700], key[700], ca[700];
	struct qm_kms_config c;
	struct qm_kms *k = NULL;
	struct qm_error e;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port[i]);
	snprintf(cert, sizeof(cert), "%s/sae/%s.crt", dir, sae);
	snprintf(key, sizeof(key), "%s/sae/%s.key", dir, sae);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	qm_kms_config_init(&c);
	c.url = url;
	c.cert_file = cert;
	c.key_file = key;
	c.ca_file = ca;
	c.kme_id = kme_id;
	c.dec_chunk = dec_chunk;
	c.retry_delay_ms = 50;
	c.timeout_ms = 10000;
	if (qm_kms_new(&c, &k, &e) != QM_OK)
		fail_msg("qm_kms_new: %s", e.msg);
	return k;
}

static struct qm_kms *client(int i, const char *sae)
{
	return client_ex(i, sae, i ? "KME_B" : "KME_A", 0);
}

/* Waits until KME_A holds at least want keys for SAE_A1 -> SAE_B1. */
static int wait_keys(uint64_t want, int timeout_ms)
{
	struct qm_kms *k = client(0, SAE_A1);
	struct qm_kms_status st;
	uint64_t t0 = qm_mono_ns();
	int ok = 0;

	while (!ok && qm_mono_ns() - t0 < (uint64_t)timeout_ms * 1000000u) {
		if (qm_kms_status_get(k, SAE_B1, &st, NULL) == QM_OK &&
		    st.stored_key_count >= want)
			ok = 1;
		else
			poll(NULL, 0,
			     50); /* the link fills the pool meanwhile */
	}
	qm_kms_free(&k);
	return ok ? 0 : -1;
}

static int group_setup(void **state)
{
	char qkme[700], ports[32], log[700], conf[2][700];
	char *tn[] = {qkme,     "testnet", dir,
	              "--saes", "2",       "--ports",
	              ports,    "--set",   "max_key_per_request = 8",
	              NULL};

	(void)state;
	if (qm_core_init(NULL) != QM_OK ||
	    qmt_tmpdir("kms-qkme", dir, sizeof(dir)))
		return -1;
	snprintf(qkme, sizeof(qkme), "%s/src/kme/qkme", qmt_binary_dir());
	port[0] = qmt_free_port();
	port[1] = qmt_free_port();
	snprintf(ports, sizeof(ports), "%d,%d", port[0], port[1]);
	snprintf(log, sizeof(log), "%s/testnet.log", dir);
	if (qmt_run(tn, log) != 0) {
		fprintf(stderr, "qkme testnet failed, see %s\n", log);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		char *run[] = {qkme, "run", conf[i], NULL};

		snprintf(conf[i], sizeof(conf[i]), "%s/KME_%c/qkme.conf", dir,
		         'A' + i);
		snprintf(log, sizeof(log), "%s/KME_%c.log", dir, 'A' + i);
		pid[i] = qmt_spawn(run, NULL, log);
		if (pid[i] < 0 || qmt_wait_port(port[i], 10000) != 0) {
			fprintf(stderr, "qkme did not start, see %s\n", log);
			return -1;
		}
	}
	/* 400 keys of 256 bits: enough for every test below */
	if (wait_keys(400, 30000) != 0) {
		fprintf(stderr, "the qkme link filled no keys, see %s\n", dir);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		if (pid[i] > 0)
			qmt_stop(pid[i]);
	qmt_rmtree(dir);
	return 0;
}

static void assert_same_keys(const struct qm_kms_keys *a,
                             const struct qm_kms_keys *b)
{
	const unsigned char *pa, *pb;
	size_t la, lb;

	assert_int_equal(qm_kms_keys_count(a), qm_kms_keys_count(b));
	for (size_t i = 0; i < qm_kms_keys_count(a); i++)
		assert_string_equal(qm_kms_keys_id(a, i), qm_kms_keys_id(b, i));
	pa = qm_kms_keys_material(a, &la);
	pb = qm_kms_keys_material(b, &lb);
	assert_int_equal(la, lb);
	assert_true(la > 0);
	assert_int_equal(qm_ct_eq(pa, pb, la), 0);
}

/* ------------------------------------------------------------------ tests */

static void test_status(void **state)
{
	struct qm_kms *a = client(0, SAE_A1), *b = client(1, SAE_B1);
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	expect_rc(qm_kms_status_get(a, SAE_B1, &st, &e), QM_OK);
	assert_string_equal(st.source_kme_id, "KME_A");
	assert_string_equal(st.target_kme_id, "KME_B");
	assert_string_equal(st.master_sae_id, SAE_A1);
	assert_string_equal(st.slave_sae_id, SAE_B1);
	assert_int_equal(st.key_size, 256);
	assert_int_equal(st.max_key_per_request, 8);
	assert_true(st.stored_key_count >= 1);
	assert_true(st.max_key_size >= st.min_key_size);
	assert_true(st.max_sae_id_count > 0);
	assert_has(st.extension, "\"qber\":");
	/* the other side of the link */
	expect_rc(qm_kms_status_get(b, SAE_A1, &st, &e), QM_OK);
	assert_string_equal(st.source_kme_id, "KME_B");
	assert_string_equal(st.target_kme_id, "KME_A");
	/* an SAE no KME serves */
	expect_rc(qm_kms_status_get(a, "SAE_Z", &st, &e), QM_ERR_PROTO);
	assert_has(e.msg, "400 Bad Request");
	qm_kms_free(&a);
	qm_kms_free(&b);
}

static void test_get_forms_and_once(void **state)
{
	struct qm_kms *a = client(0, SAE_A1), *b = client(1, SAE_B1);
	struct qm_kms_keys *ka = NULL, *kb = NULL;
	const char *id;
	struct qm_error e;
	size_t len;

	(void)state;
	/* GET without parameters: one key of the default size */
	expect_rc(qm_kms_keys_get(a, SAE_B1, 0, 0, NULL, 0, &ka, &e), QM_OK);
	assert_int_equal(qm_kms_keys_count(ka), 1);
	assert_non_null(qm_kms_keys_key(ka, 0, &len));
	assert_int_equal(len, 32);
	assert_true(qm_sec_contains(qm_kms_keys_key(ka, 0, NULL), len));
	id = qm_kms_keys_id(ka, 0);
	assert_int_equal(strlen(id), 36); /* a UUID */
	/* dec_keys GET ?key_ID= on the other KME: the same bytes */
	expect_rc(qm_kms_keys_by_id(b, SAE_A1, &id, 1, &kb, &e), QM_OK);
	assert_same_keys(ka, kb);
	qm_kms_keys_free(&kb);
	/* delivered once: a second fetch finds nothing */
	expect_rc(qm_kms_keys_by_id(b, SAE_A1, &id, 1, &kb, &e),
	          QM_ERR_NOTFOUND);
	assert_has(e.msg, "one or more keys specified are not found on KME");
	assert_null(kb);
	qm_kms_keys_free(&ka);

	/* GET with number and size, POST dec_keys with several IDs */
	expect_rc(qm_kms_keys_get(a, SAE_B1, 3, 512, NULL, 0, &ka, &e), QM_OK);
	assert_int_equal(qm_kms_keys_count(ka), 3);
	{
		const char *ids[3] = {qm_kms_keys_id(ka, 2),
		                      qm_kms_keys_id(ka, 0),
		                      qm_kms_keys_id(ka, 1)};
		const unsigned char *p0, *q0;

		expect_rc(qm_kms_keys_by_id(b, SAE_A1, ids, 3, &kb, &e), QM_OK);
		/* in the order asked for */
		assert_string_equal(qm_kms_keys_id(kb, 0), ids[0]);
		p0 = qm_kms_keys_key(ka, 2, &len);
		assert_int_equal(len, 64);
		q0 = qm_kms_keys_key(kb, 0, &len);
		assert_int_equal(len, 64);
		assert_int_equal(qm_ct_eq(p0, q0, 64), 0);
	}
	qm_kms_keys_free(&ka);
	qm_kms_keys_free(&kb);
	assert_int_equal(qm_kms_connections(a), 1); /* keep-alive */
	qm_kms_free(&a);
	qm_kms_free(&b);
}

static void test_post_multicast(void **state)
{
	struct qm_kms *a = client(0, SAE_A1), *b1 = client(1, SAE_B1),
	              *b2 = client(1, SAE_B2);
	const char *const extra[] = {SAE_B2};
	struct qm_kms_key_request req;
	struct qm_kms_keys *ka = NULL, *k1 = NULL, *k2 = NULL;
	const char *ids[2];
	struct qm_error e;

	(void)state;
	memset(&req, 0, sizeof(req));
	req.number = 2;
	req.size_bits = 256;
	req.additional_slaves = extra;
	req.n_additional = 1;
	expect_rc(qm_kms_enc_keys(a, SAE_B1, &req, &ka, &e), QM_OK);
	assert_int_equal(qm_kms_keys_count(ka), 2);
	ids[0] = qm_kms_keys_id(ka, 0);
	ids[1] = qm_kms_keys_id(ka, 1);
	/* each named slave gets the same keys, once */
	expect_rc(qm_kms_keys_by_id(b1, SAE_A1, ids, 2, &k1, &e), QM_OK);
	expect_rc(qm_kms_keys_by_id(b2, SAE_A1, ids, 2, &k2, &e), QM_OK);
	assert_same_keys(ka, k1);
	assert_same_keys(ka, k2);
	qm_kms_keys_free(&k2);
	expect_rc(qm_kms_keys_by_id(b2, SAE_A1, ids, 2, &k2, &e),
	          QM_ERR_NOTFOUND);
	qm_kms_keys_free(&ka);
	qm_kms_keys_free(&k1);

	/* POST without additional slaves (an optional extension) */
	memset(&req, 0, sizeof(req));
	req.number = 1;
	req.extension_optional = "[{\"qmail_note\":\"ignored\"}]";
	expect_rc(qm_kms_enc_keys(a, SAE_B1, &req, &ka, &e), QM_OK);
	assert_int_equal(qm_kms_keys_count(ka), 1);
	ids[0] = qm_kms_keys_id(ka, 0);
	expect_rc(qm_kms_keys_by_id(b1, SAE_A1, ids, 1, &k1, &e), QM_OK);
	assert_same_keys(ka, k1);
	qm_kms_keys_free(&ka);
	qm_kms_keys_free(&k1);
	qm_kms_free(&a);
	qm_kms_free(&b1);
	qm_kms_free(&b2);
}

static void test_not_yours(void **state)
{
	struct qm_kms *a = client(0, SAE_A1), *b2 = client(1, SAE_B2),
	              *wrong_kme = client(1, SAE_A1), *b1 = client(1, SAE_B1);
	struct qm_kms_keys *ka = NULL, *kb = NULL;
	struct qm_kms_status st;
	const char *id;
	struct qm_error e;

	(void)state;
	expect_rc(qm_kms_keys_get(a, SAE_B1, 1, 0, NULL, 0, &ka, &e), QM_OK);
	id = qm_kms_keys_id(ka, 0);
	/* SAE_B2 asks for a key addressed to SAE_B1 */
	expect_rc(qm_kms_keys_by_id(b2, SAE_A1, &id, 1, &kb, &e),
	          QM_ERR_DENIED);
	assert_has(e.msg, "401 Unauthorized");
	assert_has(e.msg, "not addressed to this SAE");
	/* SAE_A1's certificate at a KME that does not serve it */
	expect_rc(qm_kms_status_get(wrong_kme, SAE_B1, &st, &e), QM_ERR_DENIED);
	assert_has(e.msg, "is not served by KME");
	/* the right SAE still gets it afterwards */
	expect_rc(qm_kms_keys_by_id(b1, SAE_A1, &id, 1, &kb, &e), QM_OK);
	assert_same_keys(ka, kb);
	qm_kms_keys_free(&ka);
	qm_kms_keys_free(&kb);
	qm_kms_free(&a);
	qm_kms_free(&b1);
	qm_kms_free(&b2);
	qm_kms_free(&wrong_kme);
}

static void test_bad_requests(void **state)
{
	struct qm_kms *a = client(0, SAE_A1);
	struct qm_kms_keys *ka = NULL;
	struct qm_error e;

	(void)state;
	expect_rc(qm_kms_keys_get(a, SAE_B1, 1, 7, NULL, 0, &ka, &e),
	          QM_ERR_PROTO);
	assert_has(e.msg, "size shall be a multiple of 8");
	expect_rc(qm_kms_keys_get(a, SAE_B1, 1000000, 256, NULL, 0, &ka, &e),
	          QM_ERR_PROTO);
	assert_has(e.msg, "400 Bad Request");
	expect_rc(qm_kms_keys_get(a, SAE_B1, 1, 1u << 30, NULL, 0, &ka, &e),
	          QM_ERR_PROTO);
	assert_null(ka);
	qm_kms_free(&a);
}

static void test_kme_id_check(void **state)
{
	struct qm_kms *a = client_ex(0, SAE_A1, "KME_B", 0);
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	expect_rc(qm_kms_status_get(a, SAE_B1, &st, &e), QM_ERR_TLS);
	assert_has(e.msg, "for \"KME_A\", which does not name the expected "
	                  "KME ID \"KME_B\"");
	qm_kms_free(&a);
}

static void test_bulk_both_sides(void **state)
{
	/* the receiver learns the chunk size (8) from its own status call */
	struct qm_kms *a = client(0, SAE_A1),
	              *b = client_ex(1, SAE_B1, NULL, 0);
	struct qm_kms_keys *ka = NULL, *kb = NULL;
	const char **ids;
	struct qm_kms_status st;
	struct qm_error e;
	size_t n, len;

	(void)state;
	expect_rc(qm_kms_status_get(a, SAE_B1, &st, &e), QM_OK);
	/* 10 KiB in 8192-bit keys: 10 keys, 2 requests of at most 8 */
	expect_rc(qm_kms_material_get(a, SAE_B1, 10 * 1024, &ka, &e), QM_OK);
	n = qm_kms_keys_count(ka);
	assert_int_equal(n, (10 * 1024 * 8 + st.max_key_size - 1) /
	                        st.max_key_size);
	assert_non_null(qm_kms_keys_material(ka, &len));
	assert_true(len >= 10 * 1024);
	ids = calloc(n, sizeof(*ids));
	assert_non_null(ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = qm_kms_keys_id(ka, i);
	expect_rc(qm_kms_material_by_ids(b, SAE_A1, ids, n, &kb, &e), QM_OK);
	assert_same_keys(ka, kb);
	free(ids);
	qm_kms_keys_free(&ka);
	qm_kms_keys_free(&kb);
	/* more than the pool holds: refused before anything is taken */
	expect_rc(qm_kms_material_get(a, SAE_B1, 64u * 1024 * 1024, &ka, &e),
	          QM_ERR_UNAVAIL);
	assert_has(e.msg, "bytes of key material for SAE_B1, 67108864 bytes "
	                  "are needed");
	qm_kms_free(&a);
	qm_kms_free(&b);
}

/* ---------------------------------------------- one handle per thread */

#define NTHREADS  8
#define PERTHREAD 16

struct worker {
	struct qm_kms_keys *keys[PERTHREAD];
	enum qm_err rc;
	char msg[QM_ERR_MSGMAX];
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct qm_kms *k = client(0, SAE_A1);
	struct qm_error e;

	w->rc = QM_OK;
	for (int i = 0; i < PERTHREAD && !w->rc; i++) {
		w->rc = qm_kms_keys_get(k, SAE_B1, 2, 256, NULL, 0, &w->keys[i],
		                        &e);
		if (w->rc)
			qm_strlcpy(w->msg, e.msg, sizeof(w->msg));
	}
	qm_kms_free(&k);
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_threads(void **state)
{
	static struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	const char *ids[NTHREADS * PERTHREAD * 2];
	struct qm_kms *b = client_ex(1, SAE_B1, "KME_B", 8);
	struct qm_kms_keys *kb = NULL;
	const unsigned char *pb;
	size_t n = 0, len;
	struct qm_error e;

	(void)state;
	assert_int_equal(wait_keys(NTHREADS * PERTHREAD * 2 + 8, 30000), 0);
	memset(w, 0, sizeof(w));
	for (int t = 0; t < NTHREADS; t++)
		assert_int_equal(
		    pthread_create(&th[t], NULL, worker_main, &w[t]), 0);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	for (int t = 0; t < NTHREADS; t++) {
		if (w[t].rc)
			fail_msg("thread %d: %s", t, w[t].msg);
		for (int i = 0; i < PERTHREAD; i++)
			for (size_t j = 0; j < 2; j++)
				ids[n++] = qm_kms_keys_id(w[t].keys[i], j);
	}
	/* the slave gets every key, in the order asked for, same bytes */
	expect_rc(qm_kms_material_by_ids(b, SAE_A1, ids, n, &kb, &e), QM_OK);
	pb = qm_kms_keys_material(kb, &len);
	assert_int_equal(len, n * 32);
	/* no key ID was handed out twice */
	qsort(ids, n, sizeof(ids[0]), cmp_str);
	for (size_t i = 1; i < n; i++)
		assert_string_not_equal(ids[i - 1], ids[i]);
	n = 0;
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < PERTHREAD; i++) {
			size_t la;
			const unsigned char *pa =
			    qm_kms_keys_material(w[t].keys[i], &la);

			assert_int_equal(la, 64);
			assert_int_equal(qm_ct_eq(pa, pb + n * 32, 64), 0);
			n += 2;
			qm_kms_keys_free(&w[t].keys[i]);
		}
	qm_kms_keys_free(&kb);
	qm_kms_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_get_forms_and_once),
	    cmocka_unit_test(test_post_multicast),
	    cmocka_unit_test(test_not_yours),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_kme_id_check),
	    cmocka_unit_test(test_bulk_both_sides),
	    cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
