/* SPDX-License-Identifier: MIT */
/*
 * bench_web (`make bench-web`): the web GUI over a store of 100,000
 * messages. Builds a home with one account and 100,000 indexed messages
 * (subjects and small plaintext bodies sealed in the vault, as sync leaves
 * them), serves it with the real web server on 127.0.0.1, unlocks over
 * HTTP, and measures with libcurl: the API time for the first inbox page
 * (50 rows, with total and unread counts), a deep page through the keyset
 * cursor, and opening a cached message (read from the vault and parsed).
 * Then bench/web_render.mjs measures in Chromium (playwright-core) the
 * page's time from navigation start to the first animation frame with
 * inbox rows (the page brings its first inbox page in the document:
 * docs/WEB.md "First paint"). Goals from the issues: inbox page under
 * 20 ms at the API, under 200 ms to render (issue 18). A measured request that
 * fails is counted by kind (left out of the timings, and goal_met is false);
 * when every run of one figure fails, or the setup does, the benchmark stops.
 * Last line: one JSON object (bench/README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "client/client.h"
#include "store/store.h"
#include "core/core.h"
#include "fails.h"
#include "harness.h"
#include "web/web.h"

#define NMSG 100000
#define RUNS 41
#define PASS "bench passphrase for the web GUI"

static char base[128], origin[128], cookie[128], csrf[80];

/* Failed measured operations, by kind. */
static struct bench_fails F;
static int runs; /* measured operations */

static void fail_add(const char *kind)
{
	bench_fail_add(&F, kind);
}

struct body {
	char *p;
	size_t n;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct body *b = arg;
	char *q = realloc(b->p, b->n + sz * n + 1);

	if (!q)
		return 0;
	b->p = q;
	memcpy(b->p + b->n, p, sz * n);
	b->n += sz * n;
	b->p[b->n] = '\0';
	return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	(void)arg;
	if (sz * n > 23 && strncasecmp(p, "Set-Cookie: qm_session=", 23) == 0) {
		size_t k = strcspn(p + 12, ";\r\n");
		if (k < sizeof(cookie)) {
			memcpy(cookie, p + 12, k);
			cookie[k] = '\0';
		}
	}
	return sz * n;
}

/* One request; returns the status, the body in *out (caller frees) and
 * the time in ms in *ms. */
static long http(CURL *c, const char *method, const char *path,
                 const char *json, char **out, double *ms)
{
	struct body b = {NULL, 0};
	struct curl_slist *h = NULL;
	char url[512], line[160];
	long st = 0;
	uint64_t t0;

	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	if (json) {
		h = curl_slist_append(h, "Content-Type: application/json");
		snprintf(line, sizeof(line), "Origin: %s", origin);
		h = curl_slist_append(h, line);
		snprintf(line, sizeof(line), "X-CSRF-Token: %s", csrf);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_COOKIE, cookie[0] ? cookie : NULL);
	t0 = qm_mono_ns();
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
	if (ms)
		*ms = (double)(qm_mono_ns() - t0) / 1e6;
	curl_slist_free_all(h);
	if (out)
		*out = b.p;
	else
		free(b.p);
	return st;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median and 95th percentile of the successful ones of RUNS timings of
 * one GET (what is the page: what; a failure is counted); -1 when every
 * run failed. */
static int measure(CURL *c, const char *what, const char *path, double *med,
                   double *p95)
{
	double t[RUNS], ms;
	int i, ok = 0;

	for (i = 0; i < RUNS; i++) {
		long st = http(c, "GET", path, NULL, NULL, &ms);
		char kind[200];

		runs++;
		if (st == 200) {
			t[ok++] = ms;
			continue;
		}
		snprintf(kind, sizeof(kind), "%s: %s %ld", what,
		         st ? "HTTP" : "no answer, status", st);
		fail_add(kind);
	}
	if (!ok)
		return -1;
	qsort(t, (size_t)ok, sizeof(t[0]), cmp_d);
	*med = t[ok / 2];
	*p95 = t[(ok * 95) / 100];
	return 0;
}

static int fill(struct qm_client *cl, int64_t acct)
{
	static const char *const who[] = {"Alice Example <alice@example.org>",
	                                  "bob@example.org", "Carol <carol@example.net>",
	                                  "Dave Q. <dave@quantum.example>"};
	struct qm_store *s = qm_client_store(cl);
	struct qm_error e;
	char subj[128], mime[512];
	int i;

	for (i = 0; i < NMSG; i++) {
		struct qm_store_msg m;
		int64_t id;
		if (i % 1000 == 0 && qm_store_tx_begin(s, &e) != QM_OK)
			goto fail;
		memset(&m, 0, sizeof(m));
		m.account_id = acct;
		m.folder = "INBOX";
		m.uidvalidity = 1;
		m.uid = i + 1;
		m.from_addr = who[i % 4];
		m.to_addrs = "me@example.org";
		m.date = 1700000000 + (int64_t)i * 60;
		m.level = i % 5;
		m.verify = m.level ? QM_VERIFY_OK : QM_VERIFY_NOT_QMAIL;
		m.flags = i % 3 ? QM_FLAG_SEEN : 0;
		m.n_attach = i % 7 == 0;
		snprintf(subj, sizeof(subj), "Quarterly figures %d, draft %d", i / 10, i % 10);
		snprintf(mime, sizeof(mime),
		         "From: %s\r\nTo: me@example.org\r\nSubject: %s\r\n"
		         "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMIME-Version: 1.0\r\n"
		         "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		         "Hello,\r\nthe figures for week %d are attached.\r\n",
		         who[i % 4], subj, i);
		m.size = (int64_t)strlen(mime);
		if (qm_store_msg_add(s, &m, subj, NULL, 0, mime, strlen(mime), NULL, &id,
		                     &e) != QM_OK)
			goto fail;
		if (i % 1000 == 999 && qm_store_tx_commit(s, &e) != QM_OK)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "bench_web: filling the store: %s\n", qm_error_msg(&e));
	return -1;
}

int main(void)
{
	struct qm_client_opts co;
	struct qm_client *cl = NULL;
	struct qm_web_server *srv = NULL;
	struct qm_web_config wc;
	struct qm_store_account a;
	struct qm_error e;
	char home[512], path[256], cmd[1024], line[4096], body[256], ubody[64];
	double page_med, page_p95, deep_med, deep_p95, open_med, open_p95, cold;
	double render_ms = -1, unlock_ms = -1, fill_s;
	int unlock_lists = -1;
	double store_list_ms = 0, store_count_ms = 0, store_unread_ms = 0;
	char *out = NULL;
	json_t *j;
	CURL *c = NULL;
	FILE *p;
	uint64_t t0;
	int rc = 1, goal;

	setenv("QM_STORE_KDF", "fast", 1);
	if (qmt_tmpdir("bench-web", home, sizeof(home)) != 0)
		return 1;
	memset(&co, 0, sizeof(co));
	co.home = home;
	if (qm_client_open(&co, &cl, &e) != QM_OK ||
	    qm_client_init(cl, PASS, strlen(PASS), &e) != QM_OK)
		goto fail;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "me@example.org", sizeof(a.address));
	qm_strlcpy(a.smtp.host, "127.0.0.1", sizeof(a.smtp.host));
	qm_strlcpy(a.imap.host, "127.0.0.1", sizeof(a.imap.host));
	a.default_level = 2;
	if (qm_client_account_add(cl, &a, "x", 1, &e) != QM_OK)
		goto fail;
	t0 = qm_mono_ns();
	if (fill(cl, a.id) != 0)
		goto out;
	fill_s = (double)(qm_mono_ns() - t0) / 1e9;
	{
		/* the store calls one inbox page makes, for the record */
		struct qm_store_query q;
		struct qm_store_msglist *l = NULL;
		int64_t n;
		memset(&q, 0, sizeof(q));
		q.account_id = a.id;
		q.folder = "INBOX";
		q.limit = 50;
		t0 = qm_mono_ns();
		if (qm_store_msg_list(qm_client_store(cl), &q, &l, &e) ||
		    l->n != 50)
			fail_add("store: listing 50 messages failed");
		store_list_ms = (double)(qm_mono_ns() - t0) / 1e6;
		qm_store_msglist_free(&l);
		t0 = qm_mono_ns();
		if (qm_store_msg_count(qm_client_store(cl), &q, &n, &e) ||
		    n != NMSG)
			fail_add("store: counting the inbox failed");
		store_count_ms = (double)(qm_mono_ns() - t0) / 1e6;
		q.flags_clear = QM_FLAG_SEEN;
		t0 = qm_mono_ns();
		if (qm_store_msg_count(qm_client_store(cl), &q, &n, &e))
			fail_add("store: counting unread messages failed");
		store_unread_ms = (double)(qm_mono_ns() - t0) / 1e6;
		runs += 3;
	}
	memset(&wc, 0, sizeof(wc));
	if (qm_web_server_start(&wc, cl, &srv, &e) != QM_OK)
		goto fail;
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)qm_web_server_port(srv));
	qm_strlcpy(origin, base, sizeof(origin));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	c = curl_easy_init();
	if (!c || http(c, "GET", "/api/state", NULL, &out, NULL) != 200)
		goto http_fail;
	j = json_loads(out, 0, NULL);
	free(out);
	out = NULL;
	qm_strlcpy(csrf, j ? json_string_value(json_object_get(j, "csrf")) : "", sizeof(csrf));
	json_decref(j);
	if (http(c, "POST", "/api/unlock", "{\"passphrase\":\"" PASS "\"}", &out,
	         NULL) != 200)
		goto http_fail;
	j = json_loads(out, 0, NULL);
	free(out);
	out = NULL;
	qm_strlcpy(csrf, j ? json_string_value(json_object_get(j, "csrf")) : "", sizeof(csrf));
	json_decref(j);

	/* cold first page (the full-text index and caches are not built yet) */
	if (http(c, "GET", "/api/messages?folder=INBOX&limit=50", NULL, &out, &cold) != 200)
		goto http_fail;
	j = json_loads(out, 0, NULL);
	free(out);
	out = NULL;
	if (!j || json_integer_value(json_object_get(j, "total")) != NMSG) {
		fprintf(stderr, "bench_web: the inbox does not list %d messages\n", NMSG);
		json_decref(j);
		goto out;
	}
	snprintf(path, sizeof(path), "/api/messages/%s",
	         json_string_value(json_object_get(
			 json_array_get(json_object_get(j, "messages"), 0), "id")));
	json_decref(j);
	if (measure(c, "first inbox page",
	            "/api/messages?folder=INBOX&limit=50", &page_med,
	            &page_p95) ||
	    measure(
	        c, "deep page",
	        "/api/messages?folder=INBOX&limit=50&cursor=1703000000.50001",
	        &deep_med, &deep_p95) ||
	    measure(c, "open a message", path, &open_med, &open_p95))
		goto http_fail;

	/* time to first render in Chromium */
	snprintf(cmd, sizeof(cmd), "node %s/bench/web_render.mjs %s/ '%s'",
	         qmt_source_dir(), base, PASS);
	p = popen(cmd, "r");
	runs++;
	if (p) {
		int st;

		while (fgets(line, sizeof(line), p)) {
			json_t *r = json_loads(line, 0, NULL);
			fprintf(stderr, "web_render.mjs: %s", line);
			if (r && json_is_number(json_object_get(r, "render_ms")))
				render_ms = json_number_value(json_object_get(r, "render_ms"));
			if (r && json_is_number(
			             json_object_get(r, "unlock_to_rows_ms")))
				unlock_ms = json_number_value(
				    json_object_get(r, "unlock_to_rows_ms"));
			if (r && json_is_integer(json_object_get(
			             r, "list_requests_after_unlock")))
				unlock_lists =
				    (int)json_integer_value(json_object_get(
				        r, "list_requests_after_unlock"));
			json_decref(r);
		}
		st = pclose(p);
		if (render_ms < 0)
			fail_add(
			    st ? "Chromium: web_render.mjs failed (its error "
			         "is above)"
			       : "Chromium: web_render.mjs gave no render_ms");
	} else {
		fail_add("Chromium: web_render.mjs did not start");
	}

	/* one list request per unlock: a second is the page's waste */
	goal = page_med < 20.0 && render_ms >= 0 && render_ms < 200.0 &&
	       unlock_lists == 1 && F.total == 0;
	printf("web GUI over %d messages (store filled in %.1f s)\n", NMSG, fill_s);
	printf("%-44s %10s %10s\n", "", "median ms", "p95 ms");
	printf("%-44s %10.2f %10s\n", "first inbox page, cold (50 rows + counts)", cold, "");
	printf("%-44s %10.2f %10.2f\n", "first inbox page (50 rows + counts)", page_med, page_p95);
	printf("%-44s %10.2f %10.2f\n", "page 1000 through the cursor", deep_med, deep_p95);
	printf("%-44s %10.2f %10.2f\n", "open a cached message", open_med, open_p95);
	printf("%-44s %10.1f\n", "Chromium: navigation to first rows", render_ms);
	printf("%-44s %10.1f\n", "Chromium: Unlock click to first rows",
	       unlock_ms);
	printf("  (this bench's store uses the fast test KDF: add the Argon2id "
	       "time of `qmail unlock` for a real home)\n");
	printf("%-44s %10d\n", "  list requests after the last unlock",
	       unlock_lists);
	printf("store, once: list 50 %.2f ms, count %.2f ms, count unread %.2f ms\n",
	       store_list_ms, store_count_ms, store_unread_ms);
	printf("measured: %d requests and runs, %d failed\n", runs, F.total);
	bench_fails_lines(&F);
	printf("goals: inbox page < 20 ms at the API, < 200 ms to render, one "
	       "list request per unlock, no failure: %s\n",
	       goal ? "met" : "NOT met");
	snprintf(body, sizeof(body), "%.1f", render_ms);
	snprintf(ubody, sizeof(ubody), "%.1f", unlock_ms);
	printf("{\"bench\":\"web\",\"messages\":%d,\"inbox_page_cold_ms\":%.3f,"
	       "\"inbox_page_ms\":%.3f,\"inbox_page_p95_ms\":%.3f,"
	       "\"deep_page_ms\":%.3f,\"open_message_ms\":%.3f,"
	       "\"open_message_p95_ms\":%.3f,\"render_ms\":%s,",
	       NMSG, cold, page_med, page_p95, deep_med, open_med, open_p95,
	       render_ms >= 0 ? body : "null");
	printf("\"unlock_to_rows_ms\":%s,\"list_requests_after_unlock\":%d,",
	       unlock_ms >= 0 ? ubody : "null", unlock_lists);
	bench_fails_json(&F, "requests", runs);
	printf(",\"goal_inbox_page_ms\":20,\"goal_render_ms\":200,"
	       "\"goal_met\":%s}\n",
	       goal ? "true" : "false");
	rc = 0;
	goto out;
http_fail:
	fprintf(stderr, "bench_web: an API request failed\n");
	for (int i = 0; i < F.nk; i++)
		fprintf(stderr, "bench_web: failed %d times: %s\n", F.n[i],
		        F.kind[i]);
	goto out;
fail:
	fprintf(stderr, "bench_web: %s\n", qm_error_msg(&e));
out:
	free(out);
	if (c)
		curl_easy_cleanup(c);
	qm_web_server_stop(&srv);
	qm_client_free(&cl);
	qmt_rmtree(home);
	return rc;
}
