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

struct kme_ticket {
	json_t *obj;
	int done;
	enum qm_err rc;
	char msg[256];
	struct kme_ticket *next;
};

struct kme_peerq {
	struct qm_kme *k;
	struct kme_link *l;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct kme_ticket *head, *tail;
	int stop;
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
 * The peer refused a batch because it has seen later offsets used (we
 * restarted from an older snapshot): skip our allocation point past them so
 * the next requests succeed. The skipped bytes are destroyed.
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

static void *peerq_main(void *arg)
{
	struct kme_peerq *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct kme_ticket *batch, *t;
		json_t *root, *arr;
		char *body;
		struct qm_error e;
		struct qm_buf ans;
		long status = 0;
		enum qm_err rc;

		while (!q->head && !q->stop)
			pthread_cond_wait(&q->cond, &q->lock);
		if (!q->head && q->stop)
			break;
		batch = q->head;
		q->head = q->tail = NULL;
		pthread_mutex_unlock(&q->lock);

		root = json_object();
		arr = json_array();
		for (t = batch; t; t = t->next)
			json_array_append(arr, t->obj);
		json_object_set_new(root, "reservations", arr);
		body = json_dumps(root, JSON_COMPACT);
		json_decref(root);
		qm_buf_init(&ans, 64 * 1024);
		if (!body)
			rc = qm_error_set(&e, QM_ERR_NOMEM, "out of memory");
		else
			rc = post(q->curl, q->l->peer, "/kme/v1/peer/reserve",
			          "application/json", body, strlen(body),
			          &status, &ans, &e);
		free(body);
		if (rc && status == 409 && ans.data)
			skip_to_peer_next(q, (const char *)ans.data);
		qm_buf_free(&ans);

		pthread_mutex_lock(&q->lock);
		for (t = batch; t;) {
			struct kme_ticket *nx = t->next;
			t->rc = rc;
			if (rc)
				qm_strlcpy(t->msg, e.msg, sizeof(t->msg));
			t->done = 1;
			t = nx;
		}
		pthread_cond_broadcast(&q->cond);
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
	if (!q->curl || pthread_create(&q->thread, NULL, peerq_main, q)) {
		if (q->curl)
			curl_easy_cleanup(q->curl);
		free(q);
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "cannot start the peer channel thread");
	}
	*out = q;
	return QM_OK;
}

void kme_peerq_free(struct kme_peerq **qp)
{
	struct kme_peerq *q = *qp;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stop = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	curl_easy_cleanup(q->curl);
	if (q->block_curl)
		curl_easy_cleanup(q->block_curl);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
	*qp = NULL;
}

struct kme_ticket *kme_peerq_submit(struct kme_peerq *q, void *json_obj)
{
	struct kme_ticket *t = calloc(1, sizeof(*t));

	if (!t) {
		json_decref(json_obj);
		return NULL;
	}
	t->obj = json_obj;
	pthread_mutex_lock(&q->lock);
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return t;
}

enum qm_err kme_peerq_wait(struct kme_peerq *q, struct kme_ticket *t,
                           struct qm_error *err)
{
	enum qm_err rc;

	pthread_mutex_lock(&q->lock);
	while (!t->done)
		pthread_cond_wait(&q->cond, &q->lock);
	pthread_mutex_unlock(&q->lock);
	rc = t->rc;
	if (rc)
		qm_error_set(err, rc, "%s", t->msg);
	json_decref(t->obj);
	free(t);
	return rc;
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
