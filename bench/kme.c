/* SPDX-License-Identifier: MIT */
/*
 * bench_kme: load generator for qkme. Writes a two-KME test network in a
 * temporary folder, starts both qkme processes, waits until the BB84 link
 * has filled enough of the pool, then drives enc_keys for one 256-bit key
 * over mutual TLS with keep-alive from several connections at once and
 * reports keys per second and p50/p99 latency; then measures the BB84
 * simulator's distilled key rate (one thread, KME defaults) and the rate
 * the running link reports. The last line of output is one JSON object.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "kme/bb84.h"
#include "kme/kme.h"

#define CONNS 8
#define SECONDS 3
#define MAXREQ 200000

struct body {
	char buf[4096];
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

static char dir[512];
static int ports[2];
static volatile int stop_load;
static pthread_barrier_t start_line;

static CURL *sae_handle(const char *sae, struct body *b)
{
	char crt[700], key[700], ca[600];
	CURL *c = curl_easy_init();

	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(crt, sizeof(crt), "%s/sae/%s.crt", dir, sae);
	snprintf(key, sizeof(key), "%s/sae/%s.key", dir, sae);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
	curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	return c;
}

static json_t *status(void)
{
	char url[200];
	struct body b = {.len = 0};
	CURL *c = sae_handle("SAE_A", &b);
	json_t *j = NULL;
	long code = 0;

	snprintf(url, sizeof(url),
	         "https://127.0.0.1:%d/api/v1/keys/SAE_B/status", ports[0]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code == 200)
		j = json_loads(b.buf, 0, NULL);
	curl_easy_cleanup(c);
	return j;
}

struct loader {
	pthread_t th;
	const char *what; /* path after /api/v1/keys/SAE_B/ */
	uint64_t *lat;
	size_t n;
	int errors;
};

static void *load(void *arg)
{
	struct loader *l = arg;
	struct body b;
	char url[200];
	CURL *c = sae_handle("SAE_A", &b);

	snprintf(url, sizeof(url),
	         "https://127.0.0.1:%d/api/v1/keys/SAE_B/%s", ports[0],
	         l->what);
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* connect (TLS handshake) before the clock starts */
	b.len = 0;
	curl_easy_perform(c);
	pthread_barrier_wait(&start_line);
	while (!stop_load && l->n < MAXREQ) {
		uint64_t t0 = qm_mono_ns();
		long code = 0;

		b.len = 0;
		if (curl_easy_perform(c) == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code != 200) {
			l->errors++;
			continue;
		}
		l->lat[l->n++] = qm_mono_ns() - t0;
	}
	curl_easy_cleanup(c);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct figures {
	double per_s, p50_ms, p99_ms, seconds;
	uint64_t total;
	int errors;
};

/* CONNS connections request `what` for SECONDS seconds; -1 on failure. */
static int run_load(const char *what, struct figures *f)
{
	static struct loader ld[CONNS];
	uint64_t *all, total = 0, t0, t1;

	memset(f, 0, sizeof(*f));
	stop_load = 0;
	pthread_barrier_init(&start_line, NULL, CONNS + 1);
	for (int i = 0; i < CONNS; i++) {
		memset(&ld[i], 0, sizeof(ld[i]));
		ld[i].what = what;
		ld[i].lat = calloc(MAXREQ, sizeof(uint64_t));
		if (!ld[i].lat || pthread_create(&ld[i].th, NULL, load, &ld[i]))
			return -1;
	}
	/* every connection has finished its handshake */
	pthread_barrier_wait(&start_line);
	t0 = qm_mono_ns();
	{
		struct timespec ts = {SECONDS, 0};
		nanosleep(&ts, NULL);
	}
	stop_load = 1;
	for (int i = 0; i < CONNS; i++)
		pthread_join(ld[i].th, NULL);
	t1 = qm_mono_ns();
	pthread_barrier_destroy(&start_line);
	for (int i = 0; i < CONNS; i++) {
		total += ld[i].n;
		f->errors += ld[i].errors;
	}
	all = calloc(total ? total : 1, sizeof(uint64_t));
	if (!all)
		return -1;
	total = 0;
	for (int i = 0; i < CONNS; i++) {
		memcpy(all + total, ld[i].lat, ld[i].n * sizeof(uint64_t));
		total += ld[i].n;
		free(ld[i].lat);
	}
	qsort(all, total, sizeof(uint64_t), cmp_u64);
	f->total = total;
	f->seconds = (double)(t1 - t0) / 1e9;
	f->per_s = (double)total / f->seconds;
	f->p50_ms = total ? (double)all[total / 2] / 1e6 : 0;
	f->p99_ms = total ? (double)all[total * 99 / 100] / 1e6 : 0;
	free(all);
	return 0;
}

int main(void)
{
	struct qm_error e;
	struct qm_bb84_params p;
	struct qm_bb84_rate rate;
	char conf[700], logs[2][700];
	pid_t pids[2] = {0, 0};
	struct figures base, enc;
	uint64_t t0;
	double link_bps = 0, fill_s;
	int need = 0;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	qm_core_init(NULL);
	if (qmt_tmpdir("benchkme", dir, sizeof(dir)))
		return 1;
	ports[0] = qmt_free_port();
	ports[1] = qmt_free_port();
	if (qm_kme_testnet(dir, 2, 1, ports,
	                   "pool_bytes = 2097152", &e)) {
		fprintf(stderr, "bench_kme: %s\n", e.msg);
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		char *argv[4];
		static char path[600];
		snprintf(path, sizeof(path), "%s/src/kme/qkme",
		         qmt_binary_dir());
		snprintf(conf, sizeof(conf), "%s/KME_%c/qkme.conf", dir, 'A' + i);
		snprintf(logs[i], sizeof(logs[i]), "%s/kme%c.log", dir, 'A' + i);
		argv[0] = path;
		argv[1] = "run";
		argv[2] = conf;
		argv[3] = NULL;
		pids[i] = qmt_spawn(argv, NULL, logs[i]);
		if (pids[i] <= 0 || qmt_wait_port(ports[i], 15000)) {
			fprintf(stderr, "bench_kme: qkme did not start (%s)\n",
			        logs[i]);
			goto fail;
		}
	}
	/* the pool must hold what the run will take: wait for the link */
	need = 12000 * SECONDS;
	t0 = qm_mono_ns();
	for (;;) {
		json_t *j = status();
		long long have = json_integer_value(
			json_object_get(j, "stored_key_count"));
		long long maxk = json_integer_value(
			json_object_get(j, "max_key_count"));
		link_bps = json_number_value(json_object_get(
			json_object_get(j, "status_extension"), "key_rate_bps"));
		json_decref(j);
		if (have >= need || (maxk && have >= maxk))
			break;
		if (qm_mono_ns() - t0 > 120ULL * 1000000000ULL) {
			fprintf(stderr, "bench_kme: the pool did not fill\n");
			goto fail;
		}
		{
			struct timespec ts = {0, 200000000L};
			nanosleep(&ts, NULL); /* between two status polls */
		}
	}
	fill_s = (double)(qm_mono_ns() - t0) / 1e9;
	printf("pool filled by the BB84 link in %.1f s (link reports %.0f "
	       "bit/s distilled)\n",
	       fill_s, link_bps);

	/* the floor: Get status over the same connections (no key, no pool) */
	if (run_load("status", &base))
		goto fail;
	printf("baseline: status, %d keep-alive mutual-TLS connections: "
	       "%.0f requests/s, p50 %.3f ms, p99 %.3f ms, %d errors\n",
	       CONNS, base.per_s, base.p50_ms, base.p99_ms, base.errors);
	if (run_load("enc_keys?number=1&size=256", &enc))
		goto fail;
	printf("enc_keys (1 x 256 bit), %d keep-alive mutual-TLS connections: "
	       "%llu keys in %.2f s = %.0f keys/s, p50 %.3f ms, p99 %.3f ms, "
	       "%d errors\n",
	       CONNS, (unsigned long long)enc.total, enc.seconds, enc.per_s,
	       enc.p50_ms, enc.p99_ms, enc.errors);
	for (int i = 0; i < 2; i++)
		qmt_stop(pids[i]);
	pids[0] = pids[1] = 0;

	/* the simulator alone, one thread, the KME's default block */
	qm_bb84_params_default(&p);
	p.pulses = 1u << 20; /* qkme's defaults (docs/KME.md) */
	p.loss_db = 1.0;
	p.noise = 0.01;
	if (qm_bb84_rate_measure(&p, 8, &rate, &e)) {
		fprintf(stderr, "bench_kme: %s\n", e.msg);
		goto fail;
	}
	printf("BB84 simulator (2^20 pulses, 1 dB, 1%% noise, one thread): "
	       "%.0f bit/s distilled, QBER %.4f; 1 MiB level-1 attachment "
	       "from an empty pool: %.1f s (one thread), %.1f s (link "
	       "measured)\n",
	       rate.bits_per_second, rate.mean_qber,
	       (1048576.0 + 32) * 8 / rate.bits_per_second,
	       link_bps > 0 ? (1048576.0 + 32) * 8 / link_bps : 0);
	printf("{\"bench\":\"kme\",\"connections\":%d,\"keys_per_s\":%.0f,"
	       "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"errors\":%d,"
	       "\"baseline_status_per_s\":%.0f,\"baseline_status_p50_ms\":%.3f,"
	       "\"baseline_status_p99_ms\":%.3f,"
	       "\"bb84_bits_per_s_one_thread\":%.0f,"
	       "\"link_bits_per_s\":%.0f,\"bb84_qber\":%.4f,"
	       "\"attachment_1mib_s\":%.2f,"
	       "\"goal_keys_per_s\":10000,\"goal_p99_ms\":5,\"goal_met\":%s}\n",
	       CONNS, enc.per_s, enc.p50_ms, enc.p99_ms, enc.errors + base.errors,
	       base.per_s, base.p50_ms, base.p99_ms, rate.bits_per_second,
	       link_bps, rate.mean_qber,
	       link_bps > 0 ? (1048576.0 + 32) * 8 / link_bps : -1.0,
	       enc.per_s >= 10000 && enc.p99_ms < 5 ? "true" : "false");
	qmt_rmtree(dir);
	return 0;
fail:
	for (int i = 0; i < 2; i++)
		if (pids[i] > 0)
			qmt_stop(pids[i]);
	fprintf(stderr, "bench_kme: failed; files kept in %s\n", dir);
	return 1;
}
