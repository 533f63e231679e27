/* SPDX-License-Identifier: MIT */
/*
 * The simulated QKD link between this KME and one peer. The KME with the
 * lower ID runs it: block after block of BB84 (bb84.h) while either
 * direction's pool is below pool_bytes; Bob's end of each distilled key is
 * handed to the peer over the mutual-TLS KME-to-KME channel with the link
 * statistics, and Alice's end enters the local pools only once the peer
 * has acknowledged, so both KMEs always hold the same bytes at the same
 * offsets. Above the QBER alarm threshold a block yields no key; the alarm
 * and the measured QBER still reach both KMEs.
 */
#include "private.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bb84.h"

/* Waits on the link's condition for at most ms milliseconds (lock held). */
static void link_wait(struct kme_link *l, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&l->cond, &l->lock, &ts);
}

/*
 * After a 409 the peer's ends win: bytes we never had become a hole (our
 * allocation skips it, reservations cannot use it); the bytes we hold
 * before it the peer holds too, so they stay.
 */
static void resync(struct kstream *s, uint64_t peer_end)
{
	if (peer_end > s->end)
		s->end = peer_end;
}

/* The peer's answer to a block: where it was before it (it restarted
 * behind the link, and lacks our bytes from there to the block). */
static uint64_t peer_had(const struct qm_buf *ans, const char *name,
                         uint64_t dflt)
{
	json_t *j = ans->data ? json_loadb((const char *)ans->data, ans->len,
	                                   0, NULL)
	                      : NULL;
	json_t *v = json_object_get(j, name);
	uint64_t r = json_is_integer(v) && json_integer_value(v) >= 0
	                     ? (uint64_t)json_integer_value(v)
	                     : dflt;

	json_decref(j);
	return r;
}

struct link_arg {
	struct qm_kme *k;
	struct kme_link *l;
	int t; /* thread index within the link */
};

static struct link_arg args[KME_MAXPEERS][4];

static void *link_main(void *arg)
{
	struct link_arg *a = arg;
	struct qm_kme *k = a->k;
	struct kme_link *l = a->l;
	const struct kme_conf *c = &k->conf;
	double rate = 0;
	int t = a->t;
	struct sched_param sp = {0};

	/* the simulation only uses CPU that serving SAEs leaves idle */
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);

	while (!k->stopping) {
		struct qm_bb84_params p;
		struct qm_bb84_result res;
		struct qm_error e;
		struct qm_buf ans;
		uint64_t lo_off, hi_off, t0, blk, lo_had = 0, hi_had = 0;
		size_t lo_len = 0, hi_len = 0;
		int need_lo, need_hi, pushed = 0, monitor;
		char query[400];
		double secs;

		pthread_mutex_lock(&l->lock);
		/* no block for a peer that has not confirmed the link: it may
		 * be down, or not the peer at all */
		if (!l->confirmed) {
			link_wait(l, 1000);
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		need_lo = kstream_avail(&l->own) < (uint64_t)c->pool_bytes;
		need_hi = kstream_avail(&l->mirror) < (uint64_t)c->pool_bytes;
		monitor = 0;
		if (!need_lo && !need_hi) {
			/*
			 * Full pools: the other threads rest; thread 0 keeps
			 * watching the channel with a small block every two
			 * seconds (or at once when the operator changes the
			 * eavesdropper), so QBER and alarm stay current. Its
			 * key finds no room and is wiped.
			 */
			link_wait(l, t == 0 ? 2000 : 500);
			need_lo = kstream_avail(&l->own) <
			          (uint64_t)c->pool_bytes;
			need_hi = kstream_avail(&l->mirror) <
			          (uint64_t)c->pool_bytes;
			if (t != 0 || k->stopping || need_lo || need_hi) {
				pthread_mutex_unlock(&l->lock);
				continue;
			}
			monitor = 1;
		}
		qm_bb84_params_default(&p);
		p.pulses = (uint32_t)c->bb84_pulses;
		if (monitor && p.pulses / 8 >= QM_BB84_MIN_PULSES)
			p.pulses /= 8;
		p.loss_db = c->bb84_loss_db;
		p.noise = c->bb84_noise;
		p.eve_fraction = l->stats.eve;
		p.sample_fraction = c->bb84_sample;
		p.qber_threshold = c->bb84_alarm;
		pthread_mutex_unlock(&l->lock);

		memset(&res, 0, sizeof(res));
		t0 = qm_mono_ns();
		if (qm_bb84_run(&p, &res, &e)) {
			qm_log(QM_LOG_ERROR, "link %s: BB84 block failed: %s",
			       l->peer->id, e.msg);
			qm_bb84_result_clear(&res);
			pthread_mutex_lock(&l->lock);
			link_wait(l, 1000);
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		secs = (double)(qm_mono_ns() - t0) / 1e9;
		if (secs > 0) {
			double inst = (double)res.final_bits / secs;
			rate = rate == 0 ? inst : 0.8 * rate + 0.2 * inst;
		}
		if (res.alarm || !res.key_alice)
			rate = 0.8 * rate;
		if (res.key_alice && res.key_bob && res.key_bytes) {
			if (need_lo && need_hi) {
				lo_len = res.key_bytes / 2;
				hi_len = res.key_bytes - lo_len;
			} else if (need_lo) {
				lo_len = res.key_bytes;
			} else {
				hi_len = res.key_bytes;
			}
		}
		/* blocks reach the peer one at a time, in offset order */
		pthread_mutex_lock(&l->push_lock);
		pthread_mutex_lock(&l->lock);
		/* the pools may have filled while this block ran: give each
		 * direction only the room it has left; the rest of the block
		 * is wiped unused (a full pool discards key, as a real KME
		 * does) */
		{
			size_t total = lo_len + hi_len;
			uint64_t ao = kstream_avail(&l->own);
			uint64_t am = kstream_avail(&l->mirror);
			size_t room_lo = ao < (uint64_t)c->pool_bytes
			                         ? (size_t)((uint64_t)c->pool_bytes - ao)
			                         : 0;
			size_t room_hi = am < (uint64_t)c->pool_bytes
			                         ? (size_t)((uint64_t)c->pool_bytes - am)
			                         : 0;

			lo_len = lo_len < room_lo ? lo_len : room_lo;
			hi_len = total - lo_len < room_hi ? total - lo_len
			                                  : room_hi;
		}
		l->trate[t] = rate;
		rate = 0;
		for (int i = 0; i < l->nthreads; i++)
			rate += l->trate[i];
		l->stats.qber = res.qber;
		if (res.alarm && !l->stats.alarm)
			qm_log(QM_LOG_WARN,
			       "link %s: QBER %.3f above the alarm threshold "
			       "%.3f: no key is produced",
			       l->peer->id, res.qber, c->bb84_alarm);
		l->stats.alarm = res.alarm;
		l->stats.rate_bps = rate;
		rate = l->trate[t];
		l->stats.blocks++;
		l->stats.bits_total += res.final_bits;
		l->stats.pulses_total += res.pulses;
		l->stats.last_block = qm_now();
		lo_off = l->own.end;
		hi_off = l->mirror.end;
		qm_random(&blk, sizeof(blk));
		blk &= (1ULL << 62) - 1;
		blk |= 1; /* never 0, the value of "no block yet" */
		snprintf(query, sizeof(query),
		         "lo_off=%llu&lo_len=%zu&hi_off=%llu&hi_len=%zu&blk=%llu&"
		         "stats=%.6f,%d,%.1f,%.4f,%llu",
		         (unsigned long long)lo_off, lo_len,
		         (unsigned long long)hi_off, hi_len,
		         (unsigned long long)blk, l->stats.qber, l->stats.alarm,
		         l->stats.rate_bps, l->stats.eve,
		         (unsigned long long)l->stats.blocks);
		pthread_mutex_unlock(&l->lock);

		/* Bob's end goes to the peer; retry the same block until the
		 * peer has it or we stop. */
		while (!k->stopping) {
			long status = 0;
			enum qm_err rc;

			qm_buf_init(&ans, 4096);
			rc = kme_peer_push_block(k, l, query, res.key_bob,
			                         lo_len + hi_len, &status, &ans,
			                         &e);
			if (!rc) {
				pushed = 1;
				lo_had = peer_had(&ans, "lo_had", lo_off);
				hi_had = peer_had(&ans, "hi_had", hi_off);
				qm_buf_free(&ans);
				break;
			}
			if (status == 409 && ans.data) {
				json_t *j = json_loads((char *)ans.data, 0, NULL);
				json_int_t le = json_integer_value(
					json_object_get(j, "lo_end"));
				json_int_t he = json_integer_value(
					json_object_get(j, "hi_end"));
				json_decref(j);
				qm_log(QM_LOG_WARN,
				       "link %s: peer is ahead of us "
				       "(restart during a transfer); skipping to "
				       "its offsets",
				       l->peer->id);
				pthread_mutex_lock(&l->lock);
				resync(&l->own, (uint64_t)le);
				resync(&l->mirror, (uint64_t)he);
				pthread_mutex_unlock(&l->lock);
				qm_buf_free(&ans);
				break; /* this block is dropped */
			}
			qm_buf_free(&ans);
			pthread_mutex_lock(&l->lock);
			if (l->stats.peer_up)
				qm_log(QM_LOG_WARN, "link %s: %s", l->peer->id,
				       e.msg);
			l->stats.peer_up = 0;
			link_wait(l, 1000);
			pthread_mutex_unlock(&l->lock);
		}
		pthread_mutex_lock(&l->lock);
		if (pushed) {
			l->stats.peer_up = 1;
			/* the peer restarted behind the link and lacks our
			 * bytes before this block: they must never make a key
			 * (from our pool, or from its, which it skips) */
			if (lo_had < lo_off || hi_had < hi_off) {
				qm_log(QM_LOG_WARN,
				       "link %s: the peer restarted behind the "
				       "link; bytes it lacks are dropped here too",
				       l->peer->id);
				kstream_cut(&l->own, lo_had);
				kstream_cut(&l->mirror, hi_had);
			}
			if (lo_len + hi_len &&
			    (kstream_append_fresh(&l->own, lo_off, res.key_alice,
			                          lo_len, &e) ||
			     kstream_append_fresh(&l->mirror, hi_off,
			                          res.key_alice + lo_len, hi_len,
			                          &e)))
				qm_log(QM_LOG_ERROR, "link %s: %s", l->peer->id,
				       e.msg);
		}
		pthread_mutex_unlock(&l->push_lock);
		if (res.alarm)
			link_wait(l, 200); /* keep measuring, gently */
		pthread_mutex_unlock(&l->lock);
		if (pushed && lo_len + hi_len)
			kme_mark_dirty(k);
		qm_bb84_result_clear(&res);
	}
	return NULL;
}

enum qm_err kme_link_start(struct qm_kme *k, struct kme_link *l,
                           struct qm_error *err)
{
	size_t i = (size_t)(l - k->links);

	if (!l->i_am_lower || !k->conf.link_enabled)
		return QM_OK;
	for (int t = 0; t < (int)k->conf.link_threads; t++) {
		args[i][t].k = k;
		args[i][t].l = l;
		args[i][t].t = t;
		if (pthread_create(&l->threads[t], NULL, link_main,
		                   &args[i][t]))
			return qm_error_set(err, QM_ERR_NOMEM,
			                    "cannot start the link thread to %s",
			                    l->peer->id);
		l->nthreads = t + 1;
	}
	return QM_OK;
}

void kme_link_stop(struct qm_kme *k, struct kme_link *l)
{
	(void)k;
	pthread_mutex_lock(&l->lock);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	for (int t = 0; t < l->nthreads; t++)
		pthread_join(l->threads[t], NULL);
	l->nthreads = 0;
}
