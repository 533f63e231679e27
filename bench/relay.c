/* SPDX-License-Identifier: MIT */
/*
 * bench_relay (`make bench-relay`, issue 19): trusted-node key relay
 * against the direct link, in the same run. Writes a line of five KMEs
 * (qkme testnet --topology line:5: A-B-C-D-E) in a temporary folder,
 * starts the five qkme processes, waits until every link's pools hold
 * more than the run takes, then for each target in turn CONNS keep-alive
 * mutual-TLS connections of SAE_A at KME_A ask for NKEYS keys (enc_keys,
 * one 256-bit key per request): for SAE_B over the direct link, for
 * SAE_C relayed over 2 hops and for SAE_E over 4. Keys per second and the
 * latency of a request (p50, p99) for each. After each target one key is
 * fetched at the far KME (dec_keys) and must equal what KME_A gave: the
 * figures are of keys that arrive. Goals from the issue: 4 hops at least
 * half the direct rate, p99 under 20 ms. A failed request is counted by
 * kind and makes goal_met false. Last line: one JSON object
 * (bench/README.md).
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fails.h"
#include "harness.h"
#include "kme/kme.h"

#define NKME  5
#define CONNS 4
#define NKEYS 2000 /* per target */
#define POOL  (1 << 20)

static char dir[512];
static int ports[NKME];
static pid_t pids[NKME];
static struct bench_fails F;
static long ops;

struct body {
	char buf[16384];
	size_t len;
};

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	size_t m = sz * n;

	if (b->len + m < sizeof(b->buf)) {
		memcpy(b->buf + b->len, p, m);
		b->len += m;
		b->buf[b->len] = '\0';
	}
	return m;
}

static CURL *handle(const char *cert, struct body *b)
{
	char crt[700], key[700], ca[600];
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, cert);
	snprintf(key, sizeof(key), "%s/%s.key", dir, cert);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
	curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	return c;
}

/* One GET (or POST of body) as cert to KME kme; the status, the JSON. */
static long req(const char *cert, int kme, const char *path, const char *body,
                json_t **out)
{
	struct body b = {.len = 0};
	char url[400];
	long code = 0;
	CURL *c = handle(cert, &b);

	*out = NULL;
	if (!c)
		return 0;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", ports[kme], path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (body)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	*out = json_loads(b.buf, 0, NULL);
	return code;
}

/* ------------------------------------------------------------- loaders */

struct loader {
	pthread_t th;
	const char *slave;
	uint64_t quota, n, failed;
	uint64_t *lat;
	char kind[256];
	char last_id[64], last_key[128];
	CURL *c;
	struct body b;
};

static struct loader ld[CONNS];
static pthread_barrier_t line;

static void *load(void *arg)
{
	struct loader *l = arg;
	char url[300];

	snprintf(url, sizeof(url),
	         "https://127.0.0.1:%d/api/v1/keys/%s/enc_keys", ports[0],
	         l->slave);
	curl_easy_setopt(l->c, CURLOPT_URL, url);
	pthread_barrier_wait(&line);
	for (uint64_t i = 0; i < l->quota; i++) {
		uint64_t t0 = qm_mono_ns();
		long code = 0;
		CURLcode cc;

		l->b.len = 0;
		l->b.buf[0] = '\0';
		cc = curl_easy_perform(l->c);
		if (cc == CURLE_OK)
			curl_easy_getinfo(l->c, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200) {
			l->lat[l->n++] = qm_mono_ns() - t0;
			if (i + 1 == l->quota) {
				json_t *j = json_loads(l->b.buf, 0, NULL);
				json_t *k = json_array_get(
				    json_object_get(j, "keys"), 0);

				snprintf(l->last_id, sizeof(l->last_id), "%s",
				         json_string_value(
				             json_object_get(k, "key_ID")));
				snprintf(l->last_key, sizeof(l->last_key), "%s",
				         json_string_value(
				             json_object_get(k, "key")));
				json_decref(j);
			}
			continue;
		}
		l->failed++;
		snprintf(l->kind, sizeof(l->kind),
		         "enc_keys for %s: %ld %.200s", l->slave, code,
		         cc == CURLE_OK ? l->b.buf : curl_easy_strerror(cc));
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct fig {
	double per_s, p50_ms, p99_ms;
	uint64_t ok;
	int checked; /* the far KME gave the same key */
};

/* CONNS connections of SAE_A ask for NKEYS keys for slave at KME far. */
static int run_target(const char *slave, int far, struct fig *f)
{
	uint64_t t0, total = 0, *all;
	char status_path[200];

	memset(f, 0, sizeof(*f));
	snprintf(status_path, sizeof(status_path), "/api/v1/keys/%s/status",
	         slave);
	pthread_barrier_init(&line, NULL, CONNS + 1);
	for (int i = 0; i < CONNS; i++) {
		char url[300];

		memset(&ld[i], 0, sizeof(ld[i]));
		ld[i].slave = slave;
		ld[i].quota = NKEYS / CONNS;
		ld[i].lat = calloc(ld[i].quota, sizeof(uint64_t));
		ld[i].c = handle("sae/SAE_A", &ld[i].b);
		if (!ld[i].lat || !ld[i].c)
			return -1;
		/* the TLS handshake before the clock starts */
		snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", ports[0],
		         status_path);
		curl_easy_setopt(ld[i].c, CURLOPT_URL, url);
		if (curl_easy_perform(ld[i].c) != CURLE_OK)
			return -1;
		if (pthread_create(&ld[i].th, NULL, load, &ld[i]))
			return -1;
	}
	pthread_barrier_wait(&line);
	t0 = qm_mono_ns();
	for (int i = 0; i < CONNS; i++)
		pthread_join(ld[i].th, NULL);
	f->per_s = 0;
	for (int i = 0; i < CONNS; i++) {
		f->ok += ld[i].n;
		ops += (long)ld[i].quota;
		for (uint64_t k = 0; k < ld[i].failed; k++)
			bench_fail_add(&F, ld[i].kind);
	}
	f->per_s = (double)f->ok / ((double)(qm_mono_ns() - t0) / 1e9);
	all = calloc(f->ok ? f->ok : 1, sizeof(uint64_t));
	if (!all)
		return -1;
	for (int i = 0; i < CONNS; i++) {
		memcpy(all + total, ld[i].lat, ld[i].n * sizeof(uint64_t));
		total += ld[i].n;
	}
	qsort(all, total, sizeof(uint64_t), cmp_u64);
	f->p50_ms = total ? (double)all[total / 2] / 1e6 : 0;
	f->p99_ms = total ? (double)all[total * 99 / 100] / 1e6 : 0;
	free(all);
	/* the last key of connection 0 arrives at the far KME intact */
	if (ld[0].last_id[0]) {
		char path[300], cert[64];
		json_t *j;

		snprintf(path, sizeof(path),
		         "/api/v1/keys/SAE_A/dec_keys?key_ID=%s",
		         ld[0].last_id);
		snprintf(cert, sizeof(cert), "sae/%s", slave);
		ops++;
		if (req(cert, far, path, NULL, &j) == 200 &&
		    strcmp(json_string_value(json_object_get(
		               json_array_get(json_object_get(j, "keys"), 0),
		               "key")),
		           ld[0].last_key) == 0)
			f->checked = 1;
		else
			bench_fail_add(&F, "the far KME did not give the key");
		json_decref(j);
	}
	for (int i = 0; i < CONNS; i++) {
		curl_easy_cleanup(ld[i].c);
		free(ld[i].lat);
	}
	pthread_barrier_destroy(&line);
	return 0;
}

/* ------------------------------------------------------------- network */

static int start(void)
{
	char extra[128], conf[700], log[700], path[600];
	struct qm_error e;

	for (int i = 0; i < NKME; i++)
		ports[i] = qmt_free_port();
	snprintf(extra, sizeof(extra), "pool_bytes = %d", POOL);
	if (qm_kme_testnet_topo(dir, QM_KME_LINE, NKME, 1, ports, extra, &e)) {
		fprintf(stderr, "bench_relay: %s\n", e.msg);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/src/kme/qkme", qmt_binary_dir());
	for (int i = 0; i < NKME; i++) {
		char *argv[] = {path, "run", conf, NULL};

		snprintf(conf, sizeof(conf), "%s/KME_%c/qkme.conf", dir,
		         'A' + i);
		snprintf(log, sizeof(log), "%s/kme%c.log", dir, 'A' + i);
		pids[i] = qmt_spawn(argv, NULL, log);
		if (pids[i] <= 0 || qmt_wait_port(ports[i], 15000)) {
			fprintf(stderr,
			        "bench_relay: qkme did not start (%s)\n", log);
			return -1;
		}
	}
	return 0;
}

/* Waits until KME_A routes to KME_E and every hop's sender holds need
 * bytes; 0 or -1 after limit_s. */
static int wait_full(uint64_t need, int limit_s)
{
	for (int t = 0; t < limit_s * 2; t++) {
		json_t *j;
		long long least = -1;

		if (req("operator", 0, "/kme/v1/ctl/routes", NULL, &j) == 200) {
			json_t *r = json_array_get(json_object_get(j, "routes"),
			                           NKME - 2);

			if (json_object_get(r, "route"))
				least = json_integer_value(
				    json_object_get(r, "bottleneck_bytes"));
		}
		json_decref(j);
		if (least >= 0 && (uint64_t)least >= need)
			return 0;
		usleep(500 * 1000);
	}
	return -1;
}

int main(void)
{
	struct fig direct, two, four;
	int rc = 1, goal;

	if (qm_core_init(NULL) != QM_OK)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (qmt_tmpdir("bench-relay", dir, sizeof(dir)) || start())
		goto out;
	printf("bench_relay: a line of %d KMEs, %d keys of 256 bits per "
	       "target over %d connections\n",
	       NKME, NKEYS, CONNS);
	/* every hop pays 32 bytes of key and 32 of MAC key per request */
	if (wait_full((uint64_t)NKEYS * 64 + POOL / 8, 300)) {
		fprintf(stderr,
		        "bench_relay: the links did not fill in time\n");
		goto out;
	}
	if (run_target("SAE_B", 1, &direct) || run_target("SAE_C", 2, &two) ||
	    run_target("SAE_E", 4, &four))
		goto out;
	printf("%-22s %10s %10s %10s %8s\n", "", "keys/s", "p50 ms", "p99 ms",
	       "checked");
	printf("%-22s %10.0f %10.2f %10.2f %8s\n", "direct (A-B)", direct.per_s,
	       direct.p50_ms, direct.p99_ms, direct.checked ? "yes" : "NO");
	printf("%-22s %10.0f %10.2f %10.2f %8s\n", "relayed, 2 hops (A-C)",
	       two.per_s, two.p50_ms, two.p99_ms, two.checked ? "yes" : "NO");
	printf("%-22s %10.0f %10.2f %10.2f %8s\n", "relayed, 4 hops (A-E)",
	       four.per_s, four.p50_ms, four.p99_ms,
	       four.checked ? "yes" : "NO");
	goal =
	    F.total == 0 && four.per_s >= direct.per_s / 2 && four.p99_ms < 20;
	printf("4 hops: %.2fx the direct rate (goal: at least 0.5), p99 %.2f "
	       "ms (goal: under 20): %s\n",
	       direct.per_s > 0 ? four.per_s / direct.per_s : 0, four.p99_ms,
	       goal ? "met" : "NOT met");
	bench_fails_lines(&F);
	printf("{\"bench\":\"relay\",\"kmes\":%d,\"keys_per_target\":%d,"
	       "\"conns\":%d,\"baseline_direct_keys_per_s\":%.1f,"
	       "\"baseline_direct_p50_ms\":%.3f,"
	       "\"baseline_direct_p99_ms\":%.3f,\"hops2_keys_per_s\":%.1f,"
	       "\"hops2_p50_ms\":%.3f,\"hops2_p99_ms\":%.3f,"
	       "\"hops4_keys_per_s\":%.1f,\"hops4_p50_ms\":%.3f,"
	       "\"hops4_p99_ms\":%.3f,\"hops4_direct_ratio\":%.3f,"
	       "\"goal_ratio\":0.5,\"goal_p99_ms\":20,",
	       NKME, NKEYS, CONNS, direct.per_s, direct.p50_ms, direct.p99_ms,
	       two.per_s, two.p50_ms, two.p99_ms, four.per_s, four.p50_ms,
	       four.p99_ms, direct.per_s > 0 ? four.per_s / direct.per_s : 0);
	bench_fails_json(&F, "requests", ops);
	printf(",\"goal_met\":%s}\n", goal ? "true" : "false");
	rc = 0;
out:
	for (int i = 0; i < NKME; i++)
		if (pids[i] > 0)
			qmt_stop(pids[i]);
	if (dir[0])
		qmt_rmtree(dir);
	return rc;
}
