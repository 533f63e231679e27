/* SPDX-License-Identifier: MIT */
/*
 * 32 parallel clients against two qkme processes, masters on both sides:
 * every key ID handed out is unique across all masters, and every slave
 * gets exactly the bytes its master got.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "kme_net.h"

#define NTHREADS 32
#define ROUNDS 8
#define PERREQ 4

static struct kt_net net;

struct worker {
	int idx;
	int failures;
	char ids[ROUNDS * PERREQ][37];
	size_t nids;
};

struct body {
	char *p;
	size_t len;
};

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	char *np = realloc(b->p, b->len + sz * n + 1);

	if (!np)
		return 0;
	memcpy(np + b->len, p, sz * n);
	b->p = np;
	b->len += sz * n;
	b->p[b->len] = '\0';
	return sz * n;
}

/* A keep-alive handle for one SAE. */
static CURL *handle(const char *sae, struct body *b)
{
	static char ca[600];
	char crt[700], key[700];
	CURL *c = curl_easy_init();

	snprintf(ca, sizeof(ca), "%s/ca.crt", net.dir);
	snprintf(crt, sizeof(crt), "%s/sae/%s.crt", net.dir, sae);
	snprintf(key, sizeof(key), "%s/sae/%s.key", net.dir, sae);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
	curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	return c;
}

static json_t *perform(CURL *c, struct body *b, const char *url,
                       const char *post, long *code)
{
	json_t *j = NULL;

	b->len = 0;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
	*code = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	if (b->p && b->len)
		j = json_loadb(b->p, b->len, 0, NULL);
	return j;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	int side = w->idx % 2; /* even: masters at KME_A; odd: at KME_B */
	int pair = (w->idx / 2) % 4 + 1;
	char master[16], slave[16], url[300];
	struct body bm = {NULL, 0}, bs = {NULL, 0};
	CURL *cm, *cs;

	snprintf(master, sizeof(master), "SAE_%c%d", side ? 'B' : 'A', pair);
	snprintf(slave, sizeof(slave), "SAE_%c%d", side ? 'A' : 'B', pair);
	cm = handle(master, &bm);
	cs = handle(slave, &bs);
	for (int r = 0; r < ROUNDS; r++) {
		json_t *c, *d, *ids, *k;
		long code;
		size_t i;
		char *body;

		snprintf(url, sizeof(url),
		         "https://127.0.0.1:%d/api/v1/keys/%s/enc_keys",
		         net.ports[side], slave);
		c = perform(cm, &bm, url, "{\"number\":4,\"size\":256}", &code);
		if (code != 200 ||
		    json_array_size(json_object_get(c, "keys")) != PERREQ) {
			fprintf(stderr, "enc_keys %ld: %s\n", code,
			        bm.p ? bm.p : "");
			w->failures++;
			json_decref(c);
			continue;
		}
		ids = json_array();
		json_array_foreach(json_object_get(c, "keys"), i, k) {
			qm_strlcpy(w->ids[w->nids++],
			           json_string_value(json_object_get(k, "key_ID")),
			           37);
			json_array_append_new(
				ids, json_pack("{s:O}", "key_ID",
			                       json_object_get(k, "key_ID")));
		}
		d = json_pack("{s:o}", "key_IDs", ids);
		body = json_dumps(d, JSON_COMPACT);
		json_decref(d);
		snprintf(url, sizeof(url),
		         "https://127.0.0.1:%d/api/v1/keys/%s/dec_keys",
		         net.ports[!side], master);
		d = perform(cs, &bs, url, body, &code);
		free(body);
		if (code != 200 || !json_equal(json_object_get(d, "keys"),
		                               json_object_get(c, "keys"))) {
			fprintf(stderr, "dec_keys %ld: %s\n", code,
			        bs.p ? bs.p : "");
			w->failures++;
		}
		json_decref(c);
		json_decref(d);
	}
	curl_easy_cleanup(cm);
	curl_easy_cleanup(cs);
	free(bm.p);
	free(bs.p);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void test_parallel_clients(void **state)
{
	static struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	char (*all)[37];
	size_t n = 0;
	int failures = 0;
	uint64_t tstart = qm_mono_ns(), t0;

	(void)state;
	assert_int_equal(kt_net_start(&net, "kmeconc", 2, 4,
	                              "bb84.pulses = 262144"),
	                 0);
	/* enough key material in both directions for every client */
	assert_true(kt_wait_keys(&net, 0, "SAE_A1", "SAE_B1",
	                         NTHREADS / 2 * ROUNDS * PERREQ, 60000) >=
	            NTHREADS / 2 * ROUNDS * PERREQ);
	assert_true(kt_wait_keys(&net, 1, "SAE_B1", "SAE_A1",
	                         NTHREADS / 2 * ROUNDS * PERREQ, 60000) >=
	            NTHREADS / 2 * ROUNDS * PERREQ);
	t0 = qm_mono_ns();
	fprintf(stderr, "pools filled in %.2f s\n", (double)(t0 - tstart) / 1e9);
	for (int i = 0; i < NTHREADS; i++) {
		w[i].idx = i;
		assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	fprintf(stderr, "%d clients: %d enc_keys + dec_keys rounds in %.2f s\n",
	        NTHREADS, NTHREADS * ROUNDS,
	        (double)(qm_mono_ns() - t0) / 1e9);
	all = calloc(NTHREADS * ROUNDS * PERREQ, sizeof(*all));
	assert_non_null(all);
	for (int i = 0; i < NTHREADS; i++) {
		failures += w[i].failures;
		for (size_t j = 0; j < w[i].nids; j++)
			memcpy(all[n++], w[i].ids[j], 37);
	}
	assert_int_equal(failures, 0);
	assert_int_equal(n, NTHREADS * ROUNDS * PERREQ);
	qsort(all, n, sizeof(*all), cmp);
	for (size_t i = 1; i < n; i++)
		assert_string_not_equal(all[i - 1], all[i]);
	free(all);
	assert_int_equal(kt_net_stop(&net), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parallel_clients),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
