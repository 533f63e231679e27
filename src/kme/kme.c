/* SPDX-License-Identifier: MIT */
/*
 * One KME: its configuration, a link per peer, the HTTPS server, the
 * KME-to-KME queues, the link threads and the periodic sealed snapshot of
 * the pools. Start and stop order matters: the server stops before the
 * links and queues it uses, and the pools are saved last.
 */
#include "private.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void kme_mark_dirty(struct qm_kme *k)
{
	__atomic_store_n(&k->dirty, 1, __ATOMIC_RELAXED);
}

enum qm_err qm_kme_new(const char *conf_path, struct qm_kme **out,
                       struct qm_error *err)
{
	struct qm_kme *k = calloc(1, sizeof(*k));
	enum qm_err rc;

	if (!k)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&k->state_lock, NULL);
	pthread_mutex_init(&k->net.lock, NULL);
	pthread_cond_init(&k->net.cond, NULL);
	if ((rc = qm_core_init(err)) ||
	    (rc = kme_conf_load(conf_path, &k->conf, err)) ||
	    (rc = kme_relay_init(k, err)))
		goto fail;
	for (size_t i = 0; i < k->conf.npeers; i++) {
		struct kme_link *l = &k->links[i];
		pthread_mutex_init(&l->lock, NULL);
		pthread_cond_init(&l->cond, NULL);
		pthread_cond_init(&l->ready_cond, NULL);
		pthread_mutex_init(&l->push_lock, NULL);
		pthread_mutex_init(&l->lease_lock, NULL);
		pthread_mutex_init(&l->grant_lock, NULL);
		l->peer = &k->conf.peers[i];
		l->i_am_lower = strcmp(k->conf.id, l->peer->id) < 0;
		l->stats.eve = k->conf.bb84_eve;
		k->nlinks++;
	}
	for (size_t i = 0; i < k->nlinks; i++)
		if ((rc = kme_peerq_new(k, &k->links[i], &k->links[i].q, err)))
			goto fail;
	snprintf(k->state_path, sizeof(k->state_path), "%s/pools.sealed",
	         k->conf.state_dir);
	if ((rc = qm_mkdirs(k->conf.state_dir, 0700, err)) ||
	    (rc = kme_store_key_load(k, err)) ||
	    (rc = kme_state_load(k, err)))
		goto fail;
	for (size_t i = 0; i < k->nlinks; i++)
		if ((rc = kme_lease_load(k, &k->links[i], err)))
			goto fail;
	*out = k;
	return QM_OK;
fail:
	qm_kme_free(&k);
	return rc;
}

static void *persist_main(void *arg)
{
	struct qm_kme *k = arg;
	uint64_t last = qm_mono_ns();

	while (!k->stopping) {
		struct timespec ts = {0, 20 * 1000000L};
		uint64_t now;

		nanosleep(&ts, NULL);
		now = qm_mono_ns();
		if (now - last < (uint64_t)k->conf.persist_ms * 1000000ULL)
			continue;
		last = now;
		/* reserved keys past their expiry are destroyed */
		if (k->conf.key_expiry_s) {
			int64_t t = qm_now();
			for (size_t i = 0; i < k->nlinks; i++) {
				struct kme_link *l = &k->links[i];
				pthread_mutex_lock(&l->lock);
				for (size_t s = 0; s < l->res.nslots; s++) {
					struct kres *r = l->res.slots[s];
					while (r) {
						struct kres *nx = r->next;
						if (r->expires && r->expires <= t) {
							kme_kstream_release(
							    &l->mirror, r->off,
							    r->len);
							kme_kres_remove(&l->res,
							                r->id);
							kme_mark_dirty(k);
						}
						r = nx;
					}
				}
				pthread_mutex_unlock(&l->lock);
			}
		}
		if (__atomic_load_n(&k->dirty, __ATOMIC_RELAXED)) {
			struct qm_error e;
			if (kme_state_save(k, &e))
				qm_log(QM_LOG_ERROR, "%s", e.msg);
		}
	}
	return NULL;
}

enum qm_err qm_kme_start(struct qm_kme *k, struct qm_error *err)
{
	enum qm_err rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return qm_error_set(err, QM_ERR_NET, "libcurl failed to start");
	/* each link first compares notes with its peer (sync.c); a peer that
	 * is up confirms the link before we listen, so a client that sees
	 * the port open finds keys; a peer that is down is asked again in
	 * the background, and its link serves no key until it answers */
	for (size_t i = 0; i < k->nlinks; i++)
		if ((rc = kme_peerq_start(k->links[i].q, err)))
			return rc;
	for (size_t i = 0; i < k->nlinks; i++)
		kme_peerq_wait_first(k->links[i].q,
		                     (long)k->conf.peer_timeout_ms + 1000);
	if ((rc = kme_server_start(k, err)))
		return rc;
	for (size_t i = 0; i < k->nlinks; i++)
		if ((rc = kme_link_start(k, &k->links[i], err)))
			return rc;
	if (pthread_create(&k->persist_thread, NULL, persist_main, k))
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "cannot start the persistence thread");
	k->persist_started = 1;
	/* the network beyond the links: adverts and routes (route.c) */
	if ((rc = kme_net_start(k, err)))
		return rc;
	qm_log(QM_LOG_INFO, "KME %s listening on https://%s:%d, %zu peer(s)",
	       k->conf.id, k->conf.listen_addr, k->conf.port, k->nlinks);
	return QM_OK;
}

enum qm_err qm_kme_save(struct qm_kme *k, struct qm_error *err)
{
	return kme_state_save(k, err);
}

void qm_kme_free(struct qm_kme **kp)
{
	struct qm_kme *k = *kp;
	struct qm_error e;

	if (!k)
		return;
	k->stopping = 1;
	kme_server_stop(k);
	kme_net_stop(k);
	for (size_t i = 0; i < k->nlinks; i++)
		kme_link_stop(k, &k->links[i]);
	for (size_t i = 0; i < k->nlinks; i++)
		kme_peerq_stop(k->links[i].q);
	if (k->persist_started)
		pthread_join(k->persist_thread, NULL);
	/* reservations not yet delivered are saved with the pools; then the
	 * limits the peers recorded for us and that we did not use are given
	 * back, so that the next start skips nothing */
	if (k->store_key && k->persist_started) {
		if (kme_state_save(k, &e))
			qm_log(QM_LOG_ERROR, "%s", e.msg);
		else
			for (size_t i = 0; i < k->nlinks; i++)
				kme_grant_release(k, &k->links[i]);
	}
	for (size_t i = 0; i < k->nlinks; i++)
		kme_peerq_free(&k->links[i].q);
	for (size_t i = 0; i < k->nlinks; i++) {
		struct kme_link *l = &k->links[i];
		kme_kstream_free(&l->own);
		kme_kstream_free(&l->mirror);
		kme_kres_map_free(&l->res);
		kme_relay_link_free(l);
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->cond);
		pthread_cond_destroy(&l->ready_cond);
		pthread_mutex_destroy(&l->push_lock);
		pthread_mutex_destroy(&l->lease_lock);
		pthread_mutex_destroy(&l->grant_lock);
	}
	qm_sec_free(k->store_key);
	kme_relay_free(k);
	pthread_mutex_destroy(&k->state_lock);
	pthread_mutex_destroy(&k->net.lock);
	pthread_cond_destroy(&k->net.cond);
	free(k);
	*kp = NULL;
}
