/* SPDX-License-Identifier: MIT */
/*
 * The KME-to-KME channel, client side: HTTPS with mutual TLS (this KME's
 * certificate, the network's CA, the peer's certificate verified against
 * its URL). Reservations from many request threads are queued in order and
 * sent in batches by one thread per link, so the peer learns of every key
 * before the master SAE receives it, in the order they were taken.
 */
#include "private.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A reservation waiting to reach the peer (JSON text, no key bytes). */
struct kme_ticket {
	char *json;
	struct kme_ticket *next;
};

struct kme_peerq {
	struct qm_kme *k;
	struct kme_link *l;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kme_ticket *head, *tail; /* queued */
	struct kme_ticket *inflight;    /* sent, not yet acknowledged */
	int stop, started;
	pthread_t thread;
	CURL *curl;
	CURL *block_curl; /* used by the link thread only: kept alive */
};

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	struct qm_buf *b = arg;

	if (qm_buf_append(b, p, sz * n, NULL))
		return 0;
	return sz * n;
}

/* A curl handle set up for mutual TLS with the peer. */
static CURL *peer_curl(struct qm_kme *k)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_SSLCERT, k->conf.cert);
	curl_easy_setopt(c, CURLOPT_SSLKEY, k->conf.key);
	curl_easy_setopt(c, CURLOPT_CAINFO, k->conf.ca);
	curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)k->conf.peer_timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)k->conf.peer_timeout_ms);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	return c;
}

/* POSTs body to url + path; QM_OK on a 200 answer. */
static enum qm_err post(CURL *c, const struct kme_peer_conf *p,
                        const char *path, const char *ctype,
                        const void *body, size_t blen, long *status,
                        struct qm_buf *answer, struct qm_error *err)
{
	char url[600];
	struct curl_slist *h = NULL;
	struct qm_buf resp;
	long code = 0;
	CURLcode cc;
	enum qm_err rc = QM_OK;
	char ct[80];

	snprintf(url, sizeof(url), "%s%s", p->url, path);
	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	h = curl_slist_append(h, ct);
	h = curl_slist_append(h, "Expect:");
	qm_buf_init(&resp, 64 * 1024);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		rc = qm_error_set(err, QM_ERR_NET, "KME %s at %s: %s", p->id,
		                  p->url, curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (status)
		*status = code;
	if (answer && resp.data)
		qm_buf_append(answer, resp.data, resp.len, NULL);
	if (code != 200)
		rc = qm_error_set(err, QM_ERR_PROTO,
		                  "KME %s answered %ld: %.200s", p->id, code,
		                  resp.data ? (char *)resp.data : "");
out:
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(h);
	qm_buf_free(&resp);
	return rc;
}

/*
 * The peer answers every batch with the offset up to which it has seen
 * this direction used. When we restarted from an older snapshot that is
 * ahead of our allocation point: skip to it, or we would hand out bytes the
 * peer will never map to a key ID. The skipped bytes are destroyed.
 */
static void skip_to_peer_next(struct kme_peerq *q, const char *answer)
{
	json_t *j = json_loads(answer, 0, NULL);
	json_int_t next = json_integer_value(json_object_get(j, "next"));
	struct kme_link *l = q->l;

	json_decref(j);
	if (next <= 0)
		return;
	pthread_mutex_lock(&l->lock);
	if ((uint64_t)next > l->own.next) {
		uint64_t to = (uint64_t)next < l->own.end ? (uint64_t)next
		                                          : l->own.end;
		if (to > l->own.next)
			kstream_release(&l->own, l->own.next,
			                (size_t)(to - l->own.next));
		l->own.next = (uint64_t)next;
		qm_log(QM_LOG_WARN,
		       "link %s: the peer has seen our pool used up to offset "
		       "%llu (restart from an older snapshot?); skipping to it",
		       l->peer->id, (unsigned long long)next);
	}
	pthread_mutex_unlock(&l->lock);
}

static void free_list(struct kme_ticket *t)
{
	while (t) {
		struct kme_ticket *nx = t->next;
		free(t->json);
		free(t);
		t = nx;
	}
}

/* Waits on q->cond for at most ms milliseconds (q->lock held). */
static void q_wait(struct kme_peerq *q, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&q->cond, &q->lock, &ts);
}

/*
 * Sends queued reservations in batches, in order, until the peer has each
 * one: a batch that fails for lack of a connection or a 5xx is retried as
 * is (the peer ignores what it already holds), so no reservation is lost
 * while this KME runs; what is still pending at shutdown is saved with the
 * pools and sent after the restart.
 */
static void *peerq_main(void *arg)
{
	struct kme_peerq *q = arg;
	int was_down = 0;

	pthread_mutex_lock(&q->lock);
	while (!q->stop) {
		struct kme_ticket *t;
		struct qm_buf body, ans;
		struct qm_error e;
		long status = 0;
		enum qm_err rc;

		if (!q->inflight) {
			if (!q->head) {
				pthread_cond_wait(&q->cond, &q->lock);
				continue;
			}
			q->inflight = q->head;
			q->head = q->tail = NULL;
		}
		pthread_mutex_unlock(&q->lock);

		qm_buf_init(&body, (size_t)1 << 30);
		rc = qm_buf_append_str(&body, "{\"reservations\":[", &e);
		for (t = q->inflight; !rc && t; t = t->next)
			rc = qm_buf_appendf(&body, &e, "%s%s",
			                    t == q->inflight ? "" : ",", t->json);
		if (!rc)
			rc = qm_buf_append_str(&body, "]}", &e);
		qm_buf_init(&ans, 64 * 1024);
		if (!rc)
			rc = post(q->curl, q->l->peer, "/kme/v1/peer/reserve",
			          "application/json", body.data, body.len,
			          &status, &ans, &e);
		qm_buf_free(&body);
		if (ans.data && (status == 200 || status == 409))
			skip_to_peer_next(q, (const char *)ans.data);
		qm_buf_free(&ans);

		pthread_mutex_lock(&q->lock);
		if (!rc || (status >= 400 && status < 500 && status != 408 &&
		            status != 429)) {
			if (rc)
				qm_log(QM_LOG_ERROR,
				       "link %s: the peer refused reservations: "
				       "%s",
				       q->l->peer->id, e.msg);
			else if (was_down)
				qm_log(QM_LOG_INFO,
				       "link %s: peer reachable again, "
				       "reservations delivered",
				       q->l->peer->id);
			was_down = 0;
			free_list(q->inflight);
			q->inflight = NULL;
			pthread_cond_broadcast(&q->cond); /* flush waiters */
		} else {
			if (!was_down)
				qm_log(QM_LOG_WARN,
				       "link %s: reservations wait for the peer: "
				       "%s",
				       q->l->peer->id, e.msg);
			was_down = 1;
			q_wait(q, 200);
		}
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

enum qm_err kme_peerq_new(struct qm_kme *k, struct kme_link *l,
                          struct kme_peerq **out, struct qm_error *err)
{
	struct kme_peerq *q = calloc(1, sizeof(*q));

	if (!q)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	q->k = k;
	q->l = l;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->curl = peer_curl(k);
	if (!q->curl) {
		free(q);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	*out = q;
	return QM_OK;
}

enum qm_err kme_peerq_start(struct kme_peerq *q, struct qm_error *err)
{
	if (pthread_create(&q->thread, NULL, peerq_main, q))
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "cannot start the peer channel thread");
	q->started = 1;
	return QM_OK;
}

void kme_peerq_stop(struct kme_peerq *q)
{
	if (!q || !q->started)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	q->started = 0;
}

void kme_peerq_free(struct kme_peerq **qp)
{
	struct kme_peerq *q = *qp;

	if (!q)
		return;
	kme_peerq_stop(q);
	free_list(q->inflight);
	free_list(q->head);
	curl_easy_cleanup(q->curl);
	if (q->block_curl)
		curl_easy_cleanup(q->block_curl);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
	*qp = NULL;
}

/* Appends one reservation (JSON text, taken over) to the queue. */
static void enqueue(struct kme_peerq *q, char *json, struct kme_ticket *t)
{
	t->json = json;
	t->next = NULL;
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
}

enum qm_err kme_peerq_submit(struct kme_peerq *q, void *json_obj,
                             struct qm_error *err)
{
	struct kme_ticket *t = calloc(1, sizeof(*t));
	char *s = json_dumps(json_obj, JSON_COMPACT);

	json_decref(json_obj);
	if (!t || !s) {
		free(t);
		free(s);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	pthread_mutex_lock(&q->lock);
	enqueue(q, s, t);
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return QM_OK;
}

enum qm_err kme_peerq_flush(struct kme_peerq *q, long timeout_ms,
                            struct qm_error *err)
{
	uint64_t end = qm_mono_ns() + (uint64_t)timeout_ms * 1000000ULL;
	enum qm_err rc = QM_OK;

	pthread_mutex_lock(&q->lock);
	while (q->head || q->inflight) {
		if (qm_mono_ns() >= end) {
			rc = qm_error_set(err, QM_ERR_TIMEOUT,
			                  "reservations for %s are still "
			                  "waiting",
			                  q->l->peer->id);
			break;
		}
		q_wait(q, 50);
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

enum qm_err kme_peerq_dump(struct kme_peerq *q, struct qm_buf *b,
                           struct qm_error *err)
{
	uint32_t n = 0;
	enum qm_err rc;

	pthread_mutex_lock(&q->lock);
	for (struct kme_ticket *t = q->inflight; t; t = t->next)
		n++;
	for (struct kme_ticket *t = q->head; t; t = t->next)
		n++;
	rc = qm_buf_append_u32(b, n, err);
	for (struct kme_ticket *t = q->inflight; !rc && t; t = t->next)
		if (!(rc = qm_buf_append_u32(b, (uint32_t)strlen(t->json), err)))
			rc = qm_buf_append_str(b, t->json, err);
	for (struct kme_ticket *t = q->head; !rc && t; t = t->next)
		if (!(rc = qm_buf_append_u32(b, (uint32_t)strlen(t->json), err)))
			rc = qm_buf_append_str(b, t->json, err);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

enum qm_err kme_peerq_restore(struct kme_peerq *q, const char *json,
                              size_t len, struct qm_error *err)
{
	struct kme_ticket *t = calloc(1, sizeof(*t));
	char *s = strndup(json, len);

	if (!t || !s) {
		free(t);
		free(s);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	pthread_mutex_lock(&q->lock);
	enqueue(q, s, t);
	pthread_mutex_unlock(&q->lock);
	return QM_OK;
}

enum qm_err kme_peer_push_block(struct qm_kme *k, struct kme_link *l,
                                const char *query, const unsigned char *p,
                                size_t len, long *status,
                                struct qm_buf *answer, struct qm_error *err)
{
	char path[512];

	if (!l->q->block_curl && !(l->q->block_curl = peer_curl(k)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	snprintf(path, sizeof(path), "/kme/v1/peer/block?%s", query);
	return post(l->q->block_curl, l->peer, path,
	            "application/octet-stream", len ? (const void *)p : "",
	            len, status, answer, err);
}

enum qm_err kme_peer_post_json(struct qm_kme *k, struct kme_link *l,
                               const char *path, const char *body,
                               struct qm_error *err)
{
	CURL *c = peer_curl(k);
	enum qm_err rc;

	if (!c)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = post(c, l->peer, path, "application/json", body, strlen(body),
	          NULL, NULL, err);
	curl_easy_cleanup(c);
	return rc;
}
