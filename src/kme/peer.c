/* SPDX-License-Identifier: MIT */
/*
 * The KME-to-KME channel, client side: HTTPS with mutual TLS (this KME's
 * certificate, the network's CA, the peer's certificate verified against
 * its URL and its CN against the peer's KME ID). One thread per link first
 * agrees with the peer on how far the pools were used (sync.c), then sends
 * the reservations that request threads queue, in order and in batches,
 * and keeps the limit the peer recorded for our direction ahead of use.
 */
#include "private.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A reservation waiting to reach the peer (JSON text, no key bytes). */
struct kme_ticket {
	char *json;
	size_t len; /* strlen(json) */
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
	int first_done; /* the first sync attempt is over */
	int kicked;     /* a limit to raise: look now */
	pthread_t thread;
	CURL *curl;       /* the peerq thread's */
	CURL *block_curl; /* used by the link thread only: kept alive */
	CURL *grant_curl; /* used under the link's lease_lock */
	CURL *net_curl;   /* the network thread's (route.c) */
	/* relay.c: a few kept connections for relays, one relay each */
	CURL *relay_curl[KME_RELAY_CONNS];
	int relay_busy[KME_RELAY_CONNS];
	pthread_mutex_t relay_mx;
	pthread_cond_t relay_cv;
};

/* ------------------------------------------------------ peer KME ID */

/*
 * What a connection to the peer expects: a certificate from the network's
 * CA for the URL's host (libcurl checks that) whose CN is the peer's KME
 * ID. The host name alone is not enough: every certificate of the network
 * (an SAE's, an operator's) may name the same host, and the peer's server
 * takes our CN as our role, so we take its CN as its role too.
 */
struct peer_tls {
	char want[KME_IDMAX];
	char seen[KME_IDMAX]; /* the CN of the last refused certificate */
	int mismatch;
};

static int tls_index = -1;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_index_init(void)
{
	tls_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* 1 when the subject has a CN and every CN of it is want. */
static int cn_is(X509 *cert, const char *want, char *seen, size_t seenlen)
{
	X509_NAME *subj = X509_get_subject_name(cert);
	size_t wl = strlen(want);
	int pos = -1, n = 0, ok = 1;

	seen[0] = '\0';
	while (subj && (pos = X509_NAME_get_index_by_NID(subj, NID_commonName,
	                                                 pos)) >= 0) {
		unsigned char *u = NULL;
		int len = ASN1_STRING_to_UTF8(
			&u, X509_NAME_ENTRY_get_data(
				    X509_NAME_get_entry(subj, pos)));

		n++;
		if (len < 0) {
			ok = 0;
			continue;
		}
		if (!seen[0] || ok)
			snprintf(seen, seenlen, "%.*s", len, (const char *)u);
		if ((size_t)len != wl || memcmp(u, want, wl) != 0)
			ok = 0;
		OPENSSL_free(u);
	}
	return ok && n > 0;
}

static int verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl;
	struct peer_tls *t;

	if (!ok || X509_STORE_CTX_get_error_depth(store) != 0)
		return ok;
	ssl = X509_STORE_CTX_get_ex_data(store,
	                                 SSL_get_ex_data_X509_STORE_CTX_idx());
	t = ssl ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_index) : NULL;
	if (!t)
		return 0;
	if (cn_is(X509_STORE_CTX_get_current_cert(store), t->want, t->seen,
	          sizeof(t->seen)))
		return 1;
	t->mismatch = 1;
	X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* libcurl calls this after its own TLS set-up, before each handshake. */
static CURLcode ssl_ctx_cb(CURL *c, void *sslctx, void *arg)
{
	SSL_CTX *ctx = sslctx;

	(void)c;
	if (tls_index < 0 || !SSL_CTX_set_ex_data(ctx, tls_index, arg))
		return CURLE_SSL_CERTPROBLEM;
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), verify_cb);
	return CURLE_OK;
}

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	struct qm_buf *b = arg;

	if (qm_buf_append(b, p, sz * n, NULL))
		return 0;
	return sz * n;
}

static void peer_curl_free(CURL **cp)
{
	struct peer_tls *t = NULL;

	if (!*cp)
		return;
	curl_easy_getinfo(*cp, CURLINFO_PRIVATE, (char **)&t);
	curl_easy_cleanup(*cp);
	free(t);
	*cp = NULL;
}

/* A curl handle set up for mutual TLS with the peer p (its CN checked). */
static CURL *peer_curl(struct qm_kme *k, const struct kme_peer_conf *p)
{
	CURL *c;
	struct peer_tls *t;

	pthread_once(&tls_once, tls_index_init);
	t = calloc(1, sizeof(*t));
	c = t && tls_index >= 0 ? curl_easy_init() : NULL;
	if (!c) {
		free(t);
		return NULL;
	}
	qm_strlcpy(t->want, p->id, sizeof(t->want));
	curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)t);
	if (curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, t) != CURLE_OK) {
		peer_curl_free(&c); /* no peer without its ID checked */
		return NULL;
	}
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
	struct peer_tls *t = NULL;

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
	curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&t);
	if (t)
		t->mismatch = 0;
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK && t && t->mismatch) {
		rc = qm_error_set(err, QM_ERR_TLS,
		                  "KME %s at %s: the server's certificate names "
		                  "\"%s\", not the peer KME ID \"%s\": refused "
		                  "(another host, or a certificate of another "
		                  "role, answers at that address)",
		                  p->id, p->url, t->seen, p->id);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = qm_error_set(err, QM_ERR_NET, "KME %s at %s: %s", p->id,
		                  p->url, curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (status)
		*status = code;
	if (answer && resp.data &&
	    (rc = qm_buf_append(answer, resp.data, resp.len, err)) != QM_OK) {
		/* never hand on half an answer */
		qm_error_prefix(err, "KME %s: ", p->id);
		goto out;
	}
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
			kme_kstream_release(&l->own, l->own.next,
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
 * Keeps the limit the peer recorded for our direction ahead of use, so that
 * a master rarely waits for that round trip and a master still gets keys
 * for a while when the peer goes down. Outside q->lock.
 */
static void grant_ahead(struct kme_peerq *q, int *warned)
{
	struct kme_link *l = q->l;
	uint64_t step = kme_grant_step(q->k), next, granted;
	struct qm_error e;
	int confirmed;

	pthread_mutex_lock(&l->lock);
	confirmed = l->confirmed;
	next = l->own.next;
	granted = l->granted;
	pthread_mutex_unlock(&l->lock);
	if (!confirmed || next + step / 2 <= granted)
		return;
	if (kme_grant_raise(q->k, l, next + step / 2, &e)) {
		if (!*warned)
			qm_log(QM_LOG_WARN,
			       "link %s: the peer cannot record a new limit "
			       "for this KME's pool now, so masters get keys "
			       "only up to the last one (%llu bytes left): %s",
			       l->peer->id,
			       (unsigned long long)(granted > next ? granted - next
			                                           : 0),
			       e.msg);
		*warned = 1;
		return;
	}
	if (*warned)
		qm_log(QM_LOG_INFO, "link %s: the peer records this KME's limit "
		                    "again",
		       l->peer->id);
	*warned = 0;
}

/* The runner compares stream ends again after the peer restarted. */
static void realign(struct kme_peerq *q, int *warned)
{
	struct kme_link *l = q->l;
	struct qm_error e;
	int need;

	pthread_mutex_lock(&l->lock);
	need = l->realign;
	pthread_mutex_unlock(&l->lock);
	if (!need)
		return;
	if (kme_link_align(q->k, l, &e)) {
		if (!*warned)
			qm_log(QM_LOG_WARN,
			       "link %s: no key of this link is served until "
			       "the pools are compared with the restarted "
			       "peer: %s",
			       l->peer->id, e.msg);
		*warned = 1;
		return;
	}
	*warned = 0;
}

/*
 * Moves the oldest queued reservations to inflight (q->lock held): as many
 * as fit in KME_PEER_BATCH bytes of JSON, at least one, so that a backlog
 * (the peer was down or slow) reaches it in requests it accepts.
 */
static void take_batch(struct kme_peerq *q)
{
	struct kme_ticket *last = q->head;
	size_t size = last ? last->len + 32 : 0;

	if (!last)
		return;
	while (last->next && size + last->next->len + 1 <= KME_PEER_BATCH) {
		last = last->next;
		size += last->len + 1;
	}
	q->inflight = q->head;
	q->head = last->next;
	last->next = NULL;
	if (!q->head)
		q->tail = NULL;
}

/*
 * First agrees with the peer on how far the pools were used (until it
 * succeeds: the link serves no key before), then sends queued
 * reservations in batches, in order, until the peer has each one: a batch
 * that fails for lack of a connection or a 5xx is retried as is (the peer
 * ignores what it already holds), so no reservation is lost while this
 * KME runs; what is still pending at shutdown is saved with the pools and
 * sent after the restart.
 */
static void *peerq_main(void *arg)
{
	struct kme_peerq *q = arg;
	int was_down = 0, sync_warned = 0, grant_warned = 0, align_warned = 0;
	long backoff = 100;
	char last[QM_ERR_MSGMAX] = "";

	for (;;) {
		struct qm_error e;
		enum qm_err rc;

		pthread_mutex_lock(&q->lock);
		if (q->stop) {
			q->first_done = 1;
			pthread_cond_broadcast(&q->cond);
			pthread_mutex_unlock(&q->lock);
			return NULL;
		}
		pthread_mutex_unlock(&q->lock);
		rc = kme_link_sync(q->k, q->l, &e);
		pthread_mutex_lock(&q->lock);
		q->first_done = 1;
		pthread_cond_broadcast(&q->cond);
		if (!rc) {
			pthread_mutex_unlock(&q->lock);
			break;
		}
		/* said once per reason, not once per attempt */
		if (!sync_warned || strcmp(last, e.msg) != 0)
			qm_log(QM_LOG_WARN,
			       "link %s: no key of this link is served until "
			       "KME %s confirms how far the pools were used: %s",
			       q->l->peer->id, q->l->peer->id, e.msg);
		qm_strlcpy(last, e.msg, sizeof(last));
		sync_warned = 1;
		if (!q->kicked)
			q_wait(q, backoff);
		if (q->kicked) {
			/* a sync request from the peer: it is starting and
			 * listens in a moment */
			q->kicked = 0;
			backoff = 100;
			q_wait(q, backoff);
		} else {
			backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
		}
		pthread_mutex_unlock(&q->lock);
	}
	if (sync_warned)
		qm_log(QM_LOG_INFO, "link %s: confirmed by KME %s; keys are "
		                    "served",
		       q->l->peer->id, q->l->peer->id);
	/* a restart may have skipped the allocation point up to the old
	 * limit: raise it now, not after the first idle wait, so masters keep
	 * a margin should the peer go down soon */
	grant_ahead(q, &grant_warned);

	pthread_mutex_lock(&q->lock);
	while (!q->stop) {
		struct kme_ticket *t;
		struct qm_buf body, ans;
		struct qm_error e;
		long status = 0;
		enum qm_err rc;

		if (!q->inflight && !q->head) {
			if (!q->kicked)
				q_wait(q, align_warned ? 200 : 1000);
			q->kicked = 0;
			pthread_mutex_unlock(&q->lock);
			realign(q, &align_warned);
			grant_ahead(q, &grant_warned);
			pthread_mutex_lock(&q->lock);
			continue;
		}
		if (!q->inflight)
			take_batch(q);
		pthread_mutex_unlock(&q->lock);
		realign(q, &align_warned);
		grant_ahead(q, &grant_warned);

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
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	struct kme_peerq *q;

	/* the peer's KME ID is checked in OpenSSL's verification */
	if (!vi->ssl_version || strncmp(vi->ssl_version, "OpenSSL", 7) != 0)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "libcurl uses %s, but qkme needs libcurl "
		                    "built with OpenSSL to check the peer KME's "
		                    "certificate (Debian: libcurl4-openssl-dev)",
		                    vi->ssl_version ? vi->ssl_version
		                                    : "no TLS");
	q = calloc(1, sizeof(*q));
	if (!q)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	q->k = k;
	q->l = l;
	pthread_mutex_init(&q->lock, NULL);
	pthread_mutex_init(&q->relay_mx, NULL);
	pthread_cond_init(&q->relay_cv, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->curl = peer_curl(k, l->peer);
	if (!q->curl) {
		pthread_mutex_destroy(&q->lock);
		pthread_cond_destroy(&q->cond);
		free(q);
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "cannot set up the connection to KME %s",
		                    l->peer->id);
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

void kme_peerq_kick(struct kme_peerq *q)
{
	pthread_mutex_lock(&q->lock);
	q->kicked = 1;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

void kme_peerq_wait_first(struct kme_peerq *q, long timeout_ms)
{
	uint64_t end = qm_mono_ns() + (uint64_t)timeout_ms * 1000000ULL;

	pthread_mutex_lock(&q->lock);
	while (q->started && !q->first_done && qm_mono_ns() < end)
		q_wait(q, 50);
	pthread_mutex_unlock(&q->lock);
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
	peer_curl_free(&q->curl);
	peer_curl_free(&q->block_curl);
	peer_curl_free(&q->grant_curl);
	peer_curl_free(&q->net_curl);
	for (int i = 0; i < KME_RELAY_CONNS; i++)
		peer_curl_free(&q->relay_curl[i]);
	pthread_mutex_destroy(&q->relay_mx);
	pthread_cond_destroy(&q->relay_cv);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
	free(q);
	*qp = NULL;
}

/* Appends one reservation (JSON text, taken over) to the queue. */
static void enqueue(struct kme_peerq *q, char *json, struct kme_ticket *t)
{
	t->json = json;
	t->len = strlen(json);
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

	if (!l->q->block_curl &&
	    !(l->q->block_curl = peer_curl(k, l->peer)))
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
	CURL *c = peer_curl(k, l->peer);
	enum qm_err rc;

	if (!c)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = post(c, l->peer, path, "application/json", body, strlen(body),
	          NULL, NULL, err);
	peer_curl_free(&c);
	return rc;
}

enum qm_err kme_peer_relay_post(struct kme_link *l, const char *body,
                                long timeout_ms, long *status,
                                struct qm_buf *answer, struct qm_error *err)
{
	struct kme_peerq *q = l->q;
	long dflt = (long)q->k->conf.peer_timeout_ms;
	enum qm_err rc;
	int i;

	/* a free connection of the few kept for relays */
	pthread_mutex_lock(&q->relay_mx);
	for (;;) {
		for (i = 0; i < KME_RELAY_CONNS && q->relay_busy[i]; i++)
			;
		if (i < KME_RELAY_CONNS)
			break;
		pthread_cond_wait(&q->relay_cv, &q->relay_mx);
	}
	q->relay_busy[i] = 1;
	pthread_mutex_unlock(&q->relay_mx);
	if (!q->relay_curl[i] &&
	    !(q->relay_curl[i] = peer_curl(q->k, l->peer))) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	} else {
		curl_easy_setopt(q->relay_curl[i], CURLOPT_TIMEOUT_MS,
		                 timeout_ms > 0 ? timeout_ms : dflt);
		rc = post(q->relay_curl[i], l->peer, "/kme/v1/peer/relay",
		          "application/json", body, strlen(body), status,
		          answer, err);
	}
	pthread_mutex_lock(&q->relay_mx);
	q->relay_busy[i] = 0;
	pthread_cond_signal(&q->relay_cv);
	pthread_mutex_unlock(&q->relay_mx);
	return rc;
}

enum qm_err kme_peer_request(struct kme_link *l, enum kme_chan ch,
                             const char *path, const char *body,
                             long timeout_ms, long *status,
                             struct qm_buf *answer, struct qm_error *err)
{
	struct kme_peerq *q = l->q;
	CURL **c = ch == KME_CHAN_QUEUE   ? &q->curl
	           : ch == KME_CHAN_GRANT ? &q->grant_curl
	                                  : &q->net_curl;
	long dflt = (long)q->k->conf.peer_timeout_ms;
	enum qm_err rc;

	if (!*c && !(*c = peer_curl(q->k, l->peer)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (timeout_ms > 0) {
		curl_easy_setopt(*c, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(*c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	}
	rc = post(*c, l->peer, path, "application/json", body, strlen(body),
	          status, answer, err);
	if (timeout_ms > 0) {
		curl_easy_setopt(*c, CURLOPT_TIMEOUT_MS, dflt);
		curl_easy_setopt(*c, CURLOPT_CONNECTTIMEOUT_MS, dflt);
	}
	return rc;
}
