/* SPDX-License-Identifier: MIT */
/*
 * bench_kme: load generator for qkme. Writes a two-KME test network in a
 * temporary folder and starts both qkme processes, then measures two
 * different things and says which is which:
 *
 * (a) API throughput: how fast qkme serves keys. The BB84 link first fills
 *     KME_A's pool with more than the run takes; then CONNS keep-alive
 *     mutual-TLS connections request A_KEYS keys (enc_keys, one 256-bit key
 *     per request) as fast as they can. The pool holds all of them, so a 503
 *     cannot happen: any failed request is a failure of the phase. Before
 *     it, Get status over the same connections (no key, no pool) is the
 *     floor.
 * (b) Sustained rate: what a link serves over B_SECONDS when the SAEs ask
 *     for more than it distils. The same connections first empty the pool
 *     (not measured), then keep asking for B_SECONDS; keys served per
 *     second are bounded by the distilled key rate, and the share of
 *     requests answered 503 ("the pool is refilling") is reported. That
 *     503 is the correct answer to demand above the link's rate; every
 *     other failure counts against the phase.
 *
 * Every failed request is counted by kind (HTTP status and the KME's
 * message, or the transport error), in the table and in the JSON. Then the
 * BB84 simulator alone (one thread, qkme's defaults) for comparison. The
 * last line of output is one JSON object (bench/README.md has the fields).
 * QM_BENCH_KME_TRACE=1 prints phase (b) second by second;
 * QM_BENCH_KME_KEEP=1 keeps the network's folder with both KMEs' logs
 * (QKME_DEBUG=1 in the environment makes them log at debug level).
 */
#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "kme/bb84.h"
#include "kme/kme.h"

#define CONNS    8
#define A_KEYS   64000 /* phase (a): keys taken, all already in the pool */
#define A_MARGIN 2048  /* keys the pool holds beyond A_KEYS at the start */
/* qkme's link simulates at normal priority when a pool SAEs take key from
 * is below a quarter of pool_bytes (docs/KME.md): phase (a) starts with
 * that much more in the pool, so that the simulator, which stands in for
 * QKD hardware, takes no CPU from it */
#define A_FLOOR     (POOL_BYTES / 4 / 32)
#define POOL_BYTES  4194304 /* qkme's default: 131072 keys of 256 bits */
#define STATUS_REQS 64000   /* the Get status floor: requests */
#define B_SECONDS   30      /* phase (b): measured seconds */
#define B_DRAIN_MAX 60      /* phase (b): longest wait for an empty pool, s */
#define FILL_MAX    600     /* longest wait for the link to fill the pool, s */
#define MAXREQ      4000000 /* latency samples per connection */
#define MAXKINDS    16      /* distinct failure kinds kept per phase */

/* ------------------------------------------------------- failure kinds */

/*
 * A failed request's kind: the HTTP status and the body the KME answered
 * (its message and details), or the transport error. Compared as raw text
 * so that a loader does not parse every 503 of phase (b).
 */
struct kinds {
	char raw[MAXKINDS][320];
	long status[MAXKINDS];
	uint64_t n[MAXKINDS];
	int nk;
	uint64_t other; /* past MAXKINDS distinct kinds */
};

static void kinds_add(struct kinds *k, long status, const char *raw, uint64_t n)
{
	for (int i = 0; i < k->nk; i++)
		if (k->status[i] == status && strcmp(k->raw[i], raw) == 0) {
			k->n[i] += n;
			return;
		}
	if (k->nk == MAXKINDS) {
		k->other += n;
		return;
	}
	k->status[k->nk] = status;
	snprintf(k->raw[k->nk], sizeof(k->raw[0]), "%s", raw);
	k->n[k->nk++] = n;
}

/* "503 not enough key material on KME: the pool is refilling; try again
 * later" from a stored body; transport errors are stored as they are. */
static void kind_name(const struct kinds *k, int i, char *out, size_t n)
{
	json_t *j = k->status[i] ? json_loads(k->raw[i], 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(j, "message"));
	const char *d = json_string_value(json_object_get(
	    json_array_get(json_object_get(j, "details"), 0), "message"));

	if (!k->status[i])
		snprintf(out, n, "transport: %s", k->raw[i]);
	else if (m)
		snprintf(out, n, "%ld %s%s%s", k->status[i], m, d ? ": " : "",
		         d ? d : "");
	else
		snprintf(out, n, "%ld %.200s", k->status[i], k->raw[i]);
	json_decref(j);
	for (char *p = out; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 32)
			*p = '\''; /* it goes into a JSON string as is */
}

/* 1 when kind i is the expected answer to an empty pool in phase (b). */
static int kind_is_refilling(const struct kinds *k, int i)
{
	return k->status[i] == 503 &&
	       strstr(k->raw[i], "not enough key material on KME") &&
	       strstr(k->raw[i], "the pool is refilling");
}

/* ---------------------------------------------------------- connections */

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
static pid_t pids[2];

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

struct link_view {
	long long keys;   /* stored_key_count */
	long long pool;   /* status_extension.pool_bytes */
	long long blocks; /* status_extension.link_blocks */
	double rate_bps;  /* status_extension.key_rate_bps */
};

/* KME_A's status for SAE_A -> SAE_B; 0 or -1. */
static int status(CURL *c, struct body *b, struct link_view *v)
{
	char url[200];
	json_t *j, *x;
	long code = 0;

	snprintf(url, sizeof(url),
	         "https://127.0.0.1:%d/api/v1/keys/SAE_B/status", ports[0]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	b->len = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200 || !(j = json_loads(b->buf, 0, NULL)))
		return -1;
	x = json_object_get(j, "status_extension");
	v->keys = json_integer_value(json_object_get(j, "stored_key_count"));
	v->pool = json_integer_value(json_object_get(x, "pool_bytes"));
	v->blocks = json_integer_value(json_object_get(x, "link_blocks"));
	v->rate_bps = json_number_value(json_object_get(x, "key_rate_bps"));
	json_decref(j);
	return 0;
}

/* Keys KME_B keeps for SAE_B (reserved_keys of its status); -1 unknown. */
static long long peer_reserved(void)
{
	char url[200];
	struct body b;
	CURL *c = sae_handle("SAE_B", &b);
	json_t *j;
	long code = 0;
	long long n = -1;

	snprintf(url, sizeof(url),
	         "https://127.0.0.1:%d/api/v1/keys/SAE_A/status", ports[1]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	b.len = 0;
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (code == 200 && (j = json_loads(b.buf, 0, NULL))) {
		n = json_integer_value(json_object_get(
		    json_object_get(j, "status_extension"), "reserved_keys"));
		json_decref(j);
	}
	curl_easy_cleanup(c);
	return n;
}

/* Peak resident memory of pid (VmHWM), MiB; -1 unknown. */
static double peak_mib(pid_t pid)
{
	char path[64], line[256];
	double kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtod(line + 6, NULL);
	fclose(f);
	return kb >= 0 ? kb / 1024 : -1;
}

/* CPU seconds (user + system) of pid's threads named name, or of all of
 * its threads when name is NULL; -1 when /proc cannot tell. */
static double cpu_s(pid_t pid, const char *name)
{
	char path[384], buf[1024];
	struct dirent *de;
	double total = 0;
	long hz = sysconf(_SC_CLK_TCK);
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if (!(d = opendir(path)))
		return -1;
	while ((de = readdir(d))) {
		FILE *f;
		char *p;
		unsigned long ut = 0, st = 0;

		if (de->d_name[0] == '.')
			continue;
		if (name) {
			snprintf(path, sizeof(path), "/proc/%d/task/%s/comm",
			         (int)pid, de->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			buf[0] = '\0';
			if (!fgets(buf, sizeof(buf), f))
				buf[0] = '\0';
			fclose(f);
			buf[strcspn(buf, "\n")] = '\0';
			if (strcmp(buf, name) != 0)
				continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid,
		         de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(
		        p + 2,
		        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		        &ut, &st) == 2)
			total += (double)(ut + st) / (double)hz;
		fclose(f);
	}
	closedir(d);
	return total;
}

static double load1(void)
{
	double l[3] = {0, 0, 0};

	return getloadavg(l, 3) > 0 ? l[0] : -1;
}

/* --------------------------------------------------------------- loaders */

enum mode {
	BY_COUNT,    /* each connection makes quota requests */
	BY_TIME,     /* until stop is set */
	UNTIL_EMPTY, /* until the pool answers "refilling" (or stop) */
};

struct loader {
	pthread_t th;
	const char *what; /* path after /api/v1/keys/SAE_B/ */
	enum mode mode;
	uint64_t quota;
	uint64_t *lat;    /* latency of each successful request, ns */
	uint64_t n;       /* successful requests */
	uint64_t ok_live; /* n, readable while it runs */
	uint64_t failed;
	struct kinds kinds;
	CURL *c;
	struct body b;
};

static volatile int stop_load;
static volatile int saw_empty; /* UNTIL_EMPTY: "the pool is refilling" */
static pthread_barrier_t start_line;
static struct loader ld[CONNS];

static void *load(void *arg)
{
	struct loader *l = arg;
	char url[200];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d/api/v1/keys/SAE_B/%s",
	         ports[0], l->what);
	curl_easy_setopt(l->c, CURLOPT_URL, url);
	pthread_barrier_wait(&start_line);
	for (uint64_t i = 0;; i++) {
		uint64_t t0 = qm_mono_ns();
		long code = 0;
		CURLcode cc;

		if (l->mode == BY_COUNT ? i >= l->quota : stop_load)
			break;
		l->b.len = 0;
		l->b.buf[0] = '\0';
		cc = curl_easy_perform(l->c);
		if (cc == CURLE_OK)
			curl_easy_getinfo(l->c, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200) {
			if (l->n < MAXREQ)
				l->lat[l->n] = qm_mono_ns() - t0;
			l->n++;
			__atomic_store_n(&l->ok_live, l->n, __ATOMIC_RELAXED);
			continue;
		}
		l->failed++;
		kinds_add(&l->kinds, code,
		          cc == CURLE_OK ? l->b.buf : curl_easy_strerror(cc),
		          1);
		if (l->mode == UNTIL_EMPTY && code == 503 &&
		    strstr(l->b.buf, "the pool is refilling"))
			saw_empty = stop_load = 1;
	}
	return NULL;
}

static int stop_load_empty(void)
{
	return saw_empty;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct figures {
	double per_s, p50_ms, p99_ms, seconds;
	uint64_t ok, failed;
	struct kinds kinds;
};

/* Opens the CONNS connections (TLS handshakes before any clock starts). */
static int conns_open(void)
{
	char url[200];

	snprintf(url, sizeof(url),
	         "https://127.0.0.1:%d/api/v1/keys/SAE_B/status", ports[0]);
	for (int i = 0; i < CONNS; i++) {
		ld[i].c = sae_handle("SAE_A", &ld[i].b);
		ld[i].lat = calloc(MAXREQ, sizeof(uint64_t));
		if (!ld[i].c || !ld[i].lat)
			return -1;
		curl_easy_setopt(ld[i].c, CURLOPT_URL, url);
		if (curl_easy_perform(ld[i].c) != CURLE_OK)
			return -1;
	}
	return 0;
}

static void conns_close(void)
{
	for (int i = 0; i < CONNS; i++) {
		if (ld[i].c)
			curl_easy_cleanup(ld[i].c);
		free(ld[i].lat);
		ld[i].c = NULL;
		ld[i].lat = NULL;
	}
}

/* Starts the loaders on what; the caller stops them with finish(). */
static int launch(const char *what, enum mode mode, uint64_t total)
{
	stop_load = 0;
	pthread_barrier_init(&start_line, NULL, CONNS + 1);
	for (int i = 0; i < CONNS; i++) {
		ld[i].what = what;
		ld[i].mode = mode;
		ld[i].quota = total / CONNS + ((uint64_t)i < total % CONNS);
		ld[i].n = ld[i].ok_live = ld[i].failed = 0;
		memset(&ld[i].kinds, 0, sizeof(ld[i].kinds));
		if (pthread_create(&ld[i].th, NULL, load, &ld[i]))
			return -1;
	}
	pthread_barrier_wait(&start_line);
	return 0;
}

static uint64_t ok_so_far(void)
{
	uint64_t t = 0;

	for (int i = 0; i < CONNS; i++)
		t += __atomic_load_n(&ld[i].ok_live, __ATOMIC_RELAXED);
	return t;
}

/* Joins the loaders and sums their figures; t0 is when launch returned. */
static int finish(uint64_t t0, struct figures *f)
{
	uint64_t *all, total = 0, t1, nlat = 0;

	stop_load = 1;
	for (int i = 0; i < CONNS; i++)
		pthread_join(ld[i].th, NULL);
	t1 = qm_mono_ns();
	pthread_barrier_destroy(&start_line);
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < CONNS; i++) {
		f->ok += ld[i].n;
		f->failed += ld[i].failed;
		nlat += ld[i].n < MAXREQ ? ld[i].n : MAXREQ;
		for (int k = 0; k < ld[i].kinds.nk; k++)
			kinds_add(&f->kinds, ld[i].kinds.status[k],
			          ld[i].kinds.raw[k], ld[i].kinds.n[k]);
		f->kinds.other += ld[i].kinds.other;
	}
	all = calloc(nlat ? nlat : 1, sizeof(uint64_t));
	if (!all)
		return -1;
	for (int i = 0; i < CONNS; i++) {
		uint64_t m = ld[i].n < MAXREQ ? ld[i].n : MAXREQ;
		memcpy(all + total, ld[i].lat, m * sizeof(uint64_t));
		total += m;
	}
	qsort(all, total, sizeof(uint64_t), cmp_u64);
	f->seconds = (double)(t1 - t0) / 1e9;
	f->per_s = (double)f->ok / f->seconds;
	f->p50_ms = total ? (double)all[total / 2] / 1e6 : 0;
	f->p99_ms = total ? (double)all[total * 99 / 100] / 1e6 : 0;
	free(all);
	return 0;
}

/* ---------------------------------------------------------------- output */

static void print_kinds(const char *phase, const struct figures *f)
{
	char name[400];
	uint64_t n = f->ok + f->failed;

	for (int i = 0; i < f->kinds.nk; i++) {
		kind_name(&f->kinds, i, name, sizeof(name));
		printf("  %s failed: %llu (%.2f%%) %s\n", phase,
		       (unsigned long long)f->kinds.n[i],
		       n ? 100.0 * (double)f->kinds.n[i] / (double)n : 0.0,
		       name);
	}
	if (f->kinds.other)
		printf("  %s failed: %llu of other kinds\n", phase,
		       (unsigned long long)f->kinds.other);
}

/* "<p>_requests":..,"<p>_errors":..,"<p>_error_rate":..,
 * "<p>_error_kinds":[{"kind":..,"status":..,"count":..,"rate":..}] */
static void json_errors(const char *p, const struct figures *f)
{
	char name[400];
	uint64_t n = f->ok + f->failed;

	printf(
	    ",\"%s_requests\":%llu,\"%s_errors\":%llu,\"%s_error_rate\":%.6f,"
	    "\"%s_error_kinds\":[",
	    p, (unsigned long long)n, p, (unsigned long long)f->failed, p,
	    n ? (double)f->failed / (double)n : 0.0, p);
	for (int i = 0; i < f->kinds.nk; i++) {
		kind_name(&f->kinds, i, name, sizeof(name));
		printf("%s{\"kind\":\"%s\",\"status\":%ld,\"count\":%llu,"
		       "\"rate\":%.6f}",
		       i ? "," : "", name, f->kinds.status[i],
		       (unsigned long long)f->kinds.n[i],
		       n ? (double)f->kinds.n[i] / (double)n : 0.0);
	}
	if (f->kinds.other)
		printf(
		    "%s{\"kind\":\"other kinds\",\"status\":0,\"count\":%llu,"
		    "\"rate\":%.6f}",
		    f->kinds.nk ? "," : "", (unsigned long long)f->kinds.other,
		    n ? (double)f->kinds.other / (double)n : 0.0);
	printf("]");
}

static int start_kmes(void)
{
	char conf[700], logs[2][700];
	struct qm_error e;
	char extra[256];

	ports[0] = qmt_free_port();
	ports[1] = qmt_free_port();
	snprintf(extra, sizeof(extra), "pool_bytes = %d\n%s", POOL_BYTES,
	         getenv("QM_BENCH_KME_EXTRA") ? getenv("QM_BENCH_KME_EXTRA")
	                                      : "");
	if (qm_kme_testnet(dir, 2, 1, ports, extra, &e)) {
		fprintf(stderr, "bench_kme: %s\n", e.msg);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		char *argv[4];
		static char path[600];

		snprintf(path, sizeof(path), "%s/src/kme/qkme",
		         qmt_binary_dir());
		snprintf(conf, sizeof(conf), "%s/KME_%c/qkme.conf", dir,
		         'A' + i);
		snprintf(logs[i], sizeof(logs[i]), "%s/kme%c.log", dir,
		         'A' + i);
		argv[0] = path;
		argv[1] = "run";
		argv[2] = conf;
		argv[3] = NULL;
		pids[i] = qmt_spawn(argv, NULL, logs[i]);
		if (pids[i] <= 0 || qmt_wait_port(ports[i], 15000)) {
			fprintf(stderr, "bench_kme: qkme did not start (%s)\n",
			        logs[i]);
			return -1;
		}
	}
	return 0;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL); /* between two status polls */
}

int main(void)
{
	struct qm_error e;
	struct qm_bb84_params p;
	struct qm_bb84_rate rate;
	struct figures base, enc, sus, drain;
	struct link_view v0, v1, va0;
	struct body sb;
	CURL *sc = NULL;
	uint64_t t0;
	double fill_s, link_idle_bps, la[4], cpu_link_a = -1, cpu_kme_a;
	double cpu_a0, cpu_a1, cpu_b0, cpu_b1, cl0, cl1;
	double drain_s, own_bps, served_bps, peak_a, peak_b;
	uint64_t drain_others = 0;
	int emptied;
	long long reserved;
	uint64_t refill_sum = 0, refill_n = 0;
	int b_ok, a_ok, trace = getenv("QM_BENCH_KME_TRACE") != NULL;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	qm_core_init(NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (qmt_tmpdir("benchkme", dir, sizeof(dir)))
		return 1;
	if (start_kmes())
		goto fail;
	sc = sae_handle("SAE_A", &sb);

	/* (a) needs a pool that holds every key the run takes */
	la[0] = load1();
	t0 = qm_mono_ns();
	for (;;) {
		if (status(sc, &sb, &va0) == 0 &&
		    va0.keys >= A_KEYS + A_MARGIN + A_FLOOR)
			break;
		if (qm_mono_ns() - t0 > FILL_MAX * 1000000000ULL) {
			fprintf(stderr,
			        "bench_kme: the link did not put %d keys into "
			        "the pool in %d s\n",
			        A_KEYS + A_MARGIN + A_FLOOR, FILL_MAX);
			goto fail;
		}
		pause_ms(200);
	}
	fill_s = (double)(qm_mono_ns() - t0) / 1e9;
	link_idle_bps = va0.rate_bps;
	printf("kme: two qkme processes, %d keep-alive mutual-TLS "
	       "connections (SAE_A -> SAE_B), load average %.2f\n",
	       CONNS, la[0]);
	printf("pool: %lld keys of 256 bit put in by the BB84 link in %.1f s "
	       "(the link reports %.2f Mbit/s distilled)\n",
	       va0.keys, fill_s, link_idle_bps / 1e6);

	if (conns_open()) {
		fprintf(stderr, "bench_kme: cannot connect to KME_A\n");
		goto fail;
	}
	/* the floor: Get status over the same connections (no key, no pool) */
	if (launch("status", BY_COUNT, STATUS_REQS))
		goto fail;
	t0 = qm_mono_ns(); /* every loader is past the barrier */
	if (finish(t0, &base))
		goto fail;
	if (status(sc, &sb, &v0))
		goto fail;
	la[1] = load1();
	cl0 = cpu_s(pids[0], "qkme-link");
	if (launch("enc_keys?number=1&size=256", BY_COUNT, A_KEYS))
		goto fail;
	t0 = qm_mono_ns();
	if (finish(t0, &enc))
		goto fail;
	cl1 = cpu_s(pids[0], "qkme-link");
	printf("\n(a) API throughput, the pool holds every key taken (%lld "
	       "keys at the start, %d taken)\n",
	       v0.keys, A_KEYS);
	printf("  baseline Get status: %llu requests in %.2f s = %.0f "
	       "requests/s, p50 %.3f ms, p99 %.3f ms, %llu failed\n",
	       (unsigned long long)(base.ok + base.failed), base.seconds,
	       base.per_s, base.p50_ms, base.p99_ms,
	       (unsigned long long)base.failed);
	print_kinds("status", &base);
	printf("  enc_keys (1 x 256 bit): %llu keys in %.2f s = %.0f keys/s, "
	       "p50 %.3f ms, p99 %.3f ms, %llu failed of %llu (%.2f%%)\n",
	       (unsigned long long)enc.ok, enc.seconds, enc.per_s, enc.p50_ms,
	       enc.p99_ms, (unsigned long long)enc.failed,
	       (unsigned long long)(enc.ok + enc.failed),
	       100.0 * (double)enc.failed / (double)(enc.ok + enc.failed));
	print_kinds("enc_keys", &enc);
	printf("  the link threads used %.2f s of CPU meanwhile\n",
	       cl1 >= 0 && cl0 >= 0 ? cl1 - cl0 : -1.0);
	a_ok = enc.failed == 0 && base.failed == 0 && enc.per_s >= 10000 &&
	       enc.p99_ms < 5;

	/* (b) first empty the pool (not measured) */
	t0 = qm_mono_ns();
	if (launch("enc_keys?number=1&size=256", UNTIL_EMPTY, 0))
		goto fail;
	while (!stop_load && qm_mono_ns() - t0 < B_DRAIN_MAX * 1000000000ULL)
		pause_ms(50);
	if (finish(t0, &drain))
		goto fail;
	drain_s = drain.seconds;
	/* the link may keep up with this load: then (b) says so and measures
	 * what was served and what the link made all the same */
	emptied = stop_load_empty();
	for (int i = 0; i < drain.kinds.nk; i++)
		if (!kind_is_refilling(&drain.kinds, i))
			drain_others += drain.kinds.n[i];
	drain_others += drain.kinds.other;
	if (status(sc, &sb, &v0))
		goto fail;
	la[2] = load1();
	cpu_a0 = cpu_s(pids[0], NULL);
	cpu_b0 = cpu_s(pids[1], NULL);
	cl0 = cpu_s(pids[0], "qkme-link");
	if (launch("enc_keys?number=1&size=256", BY_TIME, 0))
		goto fail;
	t0 = qm_mono_ns();
	{
		uint64_t last_ok = 0;
		long long last_blocks = v0.blocks;

		for (int s = 1; s <= B_SECONDS; s++) {
			struct link_view v;
			uint64_t ok;

			while (qm_mono_ns() - t0 < (uint64_t)s * 1000000000ULL)
				pause_ms(20);
			ok = ok_so_far();
			if (status(sc, &sb, &v) == 0) {
				if (trace)
					printf(
					    "  (b) %2d s: %6llu keys served, "
					    "pool %7lld bytes, %3lld blocks, "
					    "link %.2f Mbit/s\n",
					    s,
					    (unsigned long long)(ok - last_ok),
					    v.pool, v.blocks - last_blocks,
					    v.rate_bps / 1e6);
				last_blocks = v.blocks;
				refill_sum += (uint64_t)v.pool;
				refill_n++;
			}
			last_ok = ok;
		}
	}
	if (finish(t0, &sus))
		goto fail;
	cpu_a1 = cpu_s(pids[0], NULL);
	cpu_b1 = cpu_s(pids[1], NULL);
	cl1 = cpu_s(pids[0], "qkme-link");
	if (status(sc, &sb, &v1))
		goto fail;
	la[3] = load1();
	reserved = peer_reserved();
	peak_a = peak_mib(pids[0]);
	peak_b = peak_mib(pids[1]);
	if (cl0 >= 0 && cl1 >= 0)
		cpu_link_a = cl1 - cl0;
	cpu_kme_a = cpu_a1 - cpu_a0; /* the whole of KME_A */
	served_bps = (double)sus.ok * 256 / sus.seconds;
	/* what the link put into this direction: served + what is left */
	own_bps = ((double)sus.ok * 32 + (double)(v1.pool - v0.pool)) * 8 /
	          sus.seconds;
	{
		uint64_t expected = 0, others = 0;

		for (int i = 0; i < sus.kinds.nk; i++) {
			if (kind_is_refilling(&sus.kinds, i))
				expected += sus.kinds.n[i];
			else
				others += sus.kinds.n[i];
		}
		others += sus.kinds.other;
		b_ok = others == 0 && drain_others == 0 && sus.ok > 0;
		if (emptied)
			printf(
			    "\n(b) sustained rate, %d s after the pool ran "
			    "empty (%.1f s of load, %llu keys, emptied it)\n",
			    B_SECONDS, drain_s, (unsigned long long)drain.ok);
		else
			printf(
			    "\n(b) sustained rate, %d s after %.1f s of load "
			    "(%llu keys): the pool did not run empty, the "
			    "link kept up with this load\n",
			    B_SECONDS, drain_s, (unsigned long long)drain.ok);
		if (drain_others)
			print_kinds("emptying the pool", &drain);
		printf("  enc_keys: %llu keys in %.2f s = %.0f keys/s (%.3f "
		       "Mbit/s), p50 %.3f ms, p99 %.3f ms\n",
		       (unsigned long long)sus.ok, sus.seconds, sus.per_s,
		       served_bps / 1e6, sus.p50_ms, sus.p99_ms);
		printf("  503 share: %llu of %llu requests (%.1f%%) answered "
		       "\"the pool is refilling\"; %llu other failures\n",
		       (unsigned long long)expected,
		       (unsigned long long)(sus.ok + sus.failed),
		       100.0 * (double)expected / (double)(sus.ok + sus.failed),
		       (unsigned long long)others);
		print_kinds("enc_keys", &sus);
		printf("  the link put %.3f Mbit/s into this direction (%lld "
		       "blocks; it reports %.2f Mbit/s); its threads used %.1f "
		       "s of CPU, all of KME_A %.1f s, KME_B %.1f s, in %.1f s "
		       "on %ld cores; mean pool %.0f bytes\n",
		       own_bps / 1e6, v1.blocks - v0.blocks, v1.rate_bps / 1e6,
		       cpu_link_a, cpu_kme_a, cpu_b1 - cpu_b0, sus.seconds,
		       sysconf(_SC_NPROCESSORS_ONLN),
		       refill_n ? (double)refill_sum / (double)refill_n : 0.0);
		printf(
		    "  KME_B keeps %lld keys for SAE_B (this benchmark never "
		    "fetches them); peak memory KME_A %.0f MiB, KME_B %.0f "
		    "MiB\n",
		    reserved, peak_a, peak_b);
		printf("  load average %.2f before (a), %.2f before (b), %.2f "
		       "after\n",
		       la[1], la[2], la[3]);

		for (int i = 0; i < 2; i++)
			qmt_stop(pids[i]);
		pids[0] = pids[1] = 0;
		conns_close();
		curl_easy_cleanup(sc);
		sc = NULL;

		/* the simulator alone, one thread, the KME's default block */
		qm_bb84_params_default(&p);
		p.pulses = 1u << 20; /* qkme's defaults (docs/KME.md) */
		p.loss_db = 1.0;
		p.noise = 0.01;
		if (qm_bb84_rate_measure(&p, 8, &rate, &e)) {
			fprintf(stderr, "bench_kme: %s\n", e.msg);
			goto fail;
		}
		printf("\nBB84 simulator (2^20 pulses, 1 dB, 1%% noise, one "
		       "thread): %.2f Mbit/s distilled, QBER %.4f; 1 MiB "
		       "level-1 attachment from an empty pool: %.1f s (one "
		       "thread), %.1f s (the link, idle), %.1f s (the link, "
		       "phase b)\n",
		       rate.bits_per_second / 1e6, rate.mean_qber,
		       (1048576.0 + 32) * 8 / rate.bits_per_second,
		       link_idle_bps > 0 ? (1048576.0 + 32) * 8 / link_idle_bps
		                         : -1.0,
		       own_bps > 0 ? (1048576.0 + 32) * 8 / own_bps : -1.0);
		printf("goals: (a) >= 10,000 keys/s, p99 < 5 ms, no failed "
		       "request: %s; (b) no failure but \"the pool is "
		       "refilling\": %s\n",
		       a_ok ? "met" : "NOT met", b_ok ? "met" : "NOT met");

		printf("{\"bench\":\"kme\",\"connections\":%d,"
		       "\"pool_bytes\":%d,\"keys_per_s\":%.0f,\"p50_ms\":%.3f,"
		       "\"p99_ms\":%.3f,\"keys\":%llu,\"seconds\":%.3f",
		       CONNS, POOL_BYTES, enc.per_s, enc.p50_ms, enc.p99_ms,
		       (unsigned long long)enc.ok, enc.seconds);
		json_errors("a", &enc);
		printf(",\"errors\":%llu,\"baseline_status_per_s\":%.0f,"
		       "\"baseline_status_p50_ms\":%.3f,"
		       "\"baseline_status_p99_ms\":%.3f",
		       (unsigned long long)(enc.failed + base.failed),
		       base.per_s, base.p50_ms, base.p99_ms);
		json_errors("baseline_status", &base);
		printf(",\"sustained_seconds\":%.3f,\"sustained_keys\":%llu,"
		       "\"sustained_keys_per_s\":%.0f,"
		       "\"sustained_bits_per_s\":%.0f,"
		       "\"sustained_p50_ms\":%.3f,\"sustained_p99_ms\":%.3f,"
		       "\"sustained_503_share\":%.4f,"
		       "\"sustained_other_errors\":%llu",
		       sus.seconds, (unsigned long long)sus.ok, sus.per_s,
		       served_bps, sus.p50_ms, sus.p99_ms,
		       (double)expected / (double)(sus.ok + sus.failed),
		       (unsigned long long)others);
		json_errors("b", &sus);
		printf(
		    ",\"sustained_link_bits_per_s\":%.0f,"
		    "\"sustained_link_blocks\":%lld,"
		    "\"sustained_link_cpu_s\":%.2f,\"sustained_kme_cpu_s\":%"
		    ".2f,"
		    "\"drain_seconds\":%.2f,\"fill_seconds\":%.2f,"
		    "\"pool_ran_empty\":%s,\"drain_other_errors\":%llu,"
		    "\"peer_reserved_keys\":%lld,\"kme_a_peak_mib\":%.0f,"
		    "\"kme_b_peak_mib\":%.0f,"
		    "\"bb84_bits_per_s_one_thread\":%.0f,"
		    "\"link_bits_per_s\":%.0f,\"bb84_qber\":%.4f,"
		    "\"attachment_1mib_s\":%.2f,"
		    "\"attachment_1mib_sustained_s\":%.2f,"
		    "\"load_before\":%.2f,\"load_after\":%.2f,"
		    "\"goal_keys_per_s\":10000,\"goal_p99_ms\":5,"
		    "\"goal_a_errors\":0,\"goal_a_met\":%s,"
		    "\"goal_b_met\":%s,\"goal_met\":%s}\n",
		    own_bps, v1.blocks - v0.blocks, cpu_link_a, cpu_kme_a,
		    drain_s, fill_s, emptied ? "true" : "false",
		    (unsigned long long)drain_others, reserved, peak_a, peak_b,
		    rate.bits_per_second, link_idle_bps, rate.mean_qber,
		    link_idle_bps > 0 ? (1048576.0 + 32) * 8 / link_idle_bps
		                      : -1.0,
		    own_bps > 0 ? (1048576.0 + 32) * 8 / own_bps : -1.0, la[0],
		    la[3], a_ok ? "true" : "false", b_ok ? "true" : "false",
		    a_ok && b_ok ? "true" : "false");
	}
	if (getenv("QM_BENCH_KME_KEEP"))
		fprintf(stderr, "bench_kme: kept %s\n", dir);
	else
		qmt_rmtree(dir);
	return 0;
fail:
	for (int i = 0; i < 2; i++)
		if (pids[i] > 0)
			qmt_stop(pids[i]);
	conns_close();
	if (sc)
		curl_easy_cleanup(sc);
	fprintf(stderr, "bench_kme: failed; files kept in %s\n", dir);
	return 1;
}
