/* SPDX-License-Identifier: MIT */
/*
 * The simulated QKD link between this KME and one peer. The KME with the
 * lower ID runs it: block after block of BB84 (bb84.h) while either
 * direction's pool is below pool_bytes; Bob's end of each distilled key is
 * handed to the peer over the mutual-TLS KME-to-KME channel with the link
 * statistics, and Alice's end enters the local pools only once the peer
 * has acknowledged, so both KMEs always hold the same bytes at the same
 * offsets. Above the QBER alarm threshold a block yields no key; the alarm
 * and the measured QBER still reach both KMEs. A link has bb84.threads
 * floor threads at normal priority, which simulate while a pool is below
 * its reserve (a quarter of pool_bytes while SAEs use it, a sixteenth
 * otherwise) and alone talk to the peer, and as many helper threads that
 * simulate on idle CPU only and hand their blocks over (link_floor,
 * link_helper).
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

/*
 * A direction below its reserve is wanted: the floor threads then simulate
 * at normal priority, so that SAE requests, even ones the KME must refuse,
 * can never stop the link from making the key they wait for, and a KME
 * whose pools no one uses still gets a little key however busy its
 * machine. The reserve is pool_bytes / LINK_FLOOR_DIV while SAEs took key
 * from that direction in the last LINK_FLOOR_HOLD_NS, pool_bytes /
 * LINK_FLOOR_IDLE_DIV otherwise; above it the helpers fill on idle CPU.
 */
#define LINK_FLOOR_DIV 4
#define LINK_FLOOR_IDLE_DIV 16
#define LINK_FLOOR_HOLD_NS (5ULL * 1000000000ULL)

/*
 * One link thread. With bb84.threads = n, args[link][t] for t < n is
 * floor thread t (normal priority) and args[link][n + t] helper thread t
 * (SCHED_IDLE); both count their blocks' speed in trate[t].
 */
struct link_arg {
	struct qm_kme *k;
	struct kme_link *l;
	int t; /* 0 .. bb84.threads - 1 */
	/* a helper's finished block, waiting for a floor thread (link lock) */
	int ready;
	struct qm_bb84_result res;
	double rate; /* the helper's distilled bits/s, with that block */
	double eve;  /* the eavesdropper that block was simulated with */
};

static struct link_arg args[KME_MAXPEERS][2 * KME_LINK_MAXTHREADS];

/* Either direction below pool_bytes (lock held). */
static int pools_need(const struct kme_link *l, const struct kme_conf *c)
{
	return kstream_avail(&l->own) < (uint64_t)c->pool_bytes ||
	       kstream_avail(&l->mirror) < (uint64_t)c->pool_bytes;
}

/* A direction's reserve: larger while SAEs take key from it. */
static uint64_t reserve(const struct kme_conf *c, uint64_t used, uint64_t now)
{
	uint64_t p = (uint64_t)c->pool_bytes;

	return used && now - used < LINK_FLOOR_HOLD_NS ? p / LINK_FLOOR_DIV
	                                               : p / LINK_FLOOR_IDLE_DIV;
}

/* Either direction below its reserve (lock held). */
static int pools_wanted(const struct kme_link *l, const struct kme_conf *c)
{
	uint64_t now = qm_mono_ns();

	return kstream_avail(&l->own) < reserve(c, l->own_used, now) ||
	       kstream_avail(&l->mirror) < reserve(c, l->mirror_used, now);
}

/* The block parameters in force (lock held); monitor: 1/8 of a block. */
static void block_params(const struct kme_conf *c, const struct kme_link *l,
                         int monitor, struct qm_bb84_params *p)
{
	qm_bb84_params_default(p);
	p->pulses = (uint32_t)c->bb84_pulses;
	if (monitor && p->pulses / 8 >= QM_BB84_MIN_PULSES)
		p->pulses /= 8;
	p->loss_db = c->bb84_loss_db;
	p->noise = c->bb84_noise;
	p->eve_fraction = l->stats.eve;
	p->sample_fraction = c->bb84_sample;
	p->qber_threshold = c->bb84_alarm;
}

/* Runs one block (no lock held) and folds its speed into *rate, the
 * thread's moving average of distilled bits per second; 0 or -1. */
static int run_block(struct kme_link *l, const struct qm_bb84_params *p,
                     struct qm_bb84_result *res, double *rate)
{
	struct qm_error e;
	uint64_t t0 = qm_mono_ns();
	double secs;

	memset(res, 0, sizeof(*res));
	if (qm_bb84_run(p, res, &e)) {
		qm_log(QM_LOG_ERROR, "link %s: BB84 block failed: %s",
		       l->peer->id, e.msg);
		qm_bb84_result_clear(res);
		return -1;
	}
	secs = (double)(qm_mono_ns() - t0) / 1e9;
	if (secs > 0) {
		double inst = (double)res->final_bits / secs;
		*rate = *rate == 0 ? inst : 0.8 * *rate + 0.2 * inst;
	}
	if (res->alarm || !res->key_alice)
		*rate = 0.8 * *rate;
	return 0;
}

/*
 * Floor threads only: splits a finished block between the directions that
 * need key now, sends Bob's end to the peer (retrying the same block until
 * the peer has it or we stop) and then adds Alice's end to the local pools
 * at the same offsets; t and rate are the thread that made the block and
 * its speed, eve the eavesdropper it was simulated with: a block made
 * before the operator changed it describes a channel that is gone and is
 * dropped unused. Takes push_lock and the link lock itself.
 */
static void push_block(struct qm_kme *k, struct kme_link *l, int t,
                       struct qm_bb84_result *res, double rate, double eve)
{
	const struct kme_conf *c = &k->conf;
	struct qm_error e;
	struct qm_buf ans;
	uint64_t lo_off, hi_off, blk, lo_had = 0, hi_had = 0;
	size_t lo_len = 0, hi_len = 0;
	int pushed = 0;
	char query[400];

	/* blocks reach the peer one at a time, in offset order */
	pthread_mutex_lock(&l->push_lock);
	pthread_mutex_lock(&l->lock);
	if (eve != l->stats.eve) {
		pthread_mutex_unlock(&l->lock);
		pthread_mutex_unlock(&l->push_lock);
		return;
	}
	/* each direction gets only the room it has left; the rest of the
	 * block is wiped unused (a full pool discards key, as a real KME
	 * does) */
	if (res->key_alice && res->key_bob && res->key_bytes) {
		uint64_t ao = kstream_avail(&l->own);
		uint64_t am = kstream_avail(&l->mirror);
		size_t room_lo = ao < (uint64_t)c->pool_bytes
		                     ? (size_t)((uint64_t)c->pool_bytes - ao)
		                     : 0;
		size_t room_hi = am < (uint64_t)c->pool_bytes
		                     ? (size_t)((uint64_t)c->pool_bytes - am)
		                     : 0;
		size_t total = res->key_bytes;

		if (room_lo && room_hi)
			lo_len = total / 2;
		else if (room_lo)
			lo_len = total;
		lo_len = lo_len < room_lo ? lo_len : room_lo;
		hi_len = total - lo_len < room_hi ? total - lo_len : room_hi;
	}
	l->trate[t] = rate;
	rate = 0;
	for (int i = 0; i < (int)c->link_threads; i++)
		rate += l->trate[i];
	l->stats.qber = res->qber;
	if (res->alarm && !l->stats.alarm)
		qm_log(QM_LOG_WARN,
		       "link %s: QBER %.3f above the alarm threshold "
		       "%.3f: no key is produced",
		       l->peer->id, res->qber, c->bb84_alarm);
	l->stats.alarm = res->alarm;
	l->stats.rate_bps = rate;
	l->stats.blocks++;
	l->stats.bits_total += res->final_bits;
	l->stats.pulses_total += res->pulses;
	l->stats.last_block = qm_now();
	lo_off = l->own.end;
	hi_off = l->mirror.end;
	qm_random(&blk, sizeof(blk));
	blk &= (1ULL << 62) - 1;
	blk |= 1; /* never 0, the value of "no block yet" */
	snprintf(query, sizeof(query),
	         "lo_off=%llu&lo_len=%zu&hi_off=%llu&hi_len=%zu&blk=%llu&"
	         "stats=%.6f,%d,%.1f,%.4f,%llu",
	         (unsigned long long)lo_off, lo_len, (unsigned long long)hi_off,
	         hi_len, (unsigned long long)blk, l->stats.qber, l->stats.alarm,
	         l->stats.rate_bps, l->stats.eve,
	         (unsigned long long)l->stats.blocks);
	pthread_mutex_unlock(&l->lock);

	while (!k->stopping) {
		long status = 0;
		enum qm_err rc;

		qm_buf_init(&ans, 4096);
		rc = kme_peer_push_block(k, l, query, res->key_bob,
		                         lo_len + hi_len, &status, &ans, &e);
		if (!rc) {
			pushed = 1;
			lo_had = peer_had(&ans, "lo_had", lo_off);
			hi_had = peer_had(&ans, "hi_had", hi_off);
			qm_buf_free(&ans);
			break;
		}
		if (status == 409 && ans.data) {
			json_t *j = json_loads((char *)ans.data, 0, NULL);
			json_int_t le =
			    json_integer_value(json_object_get(j, "lo_end"));
			json_int_t he =
			    json_integer_value(json_object_get(j, "hi_end"));
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
			qm_log(QM_LOG_WARN, "link %s: %s", l->peer->id, e.msg);
		l->stats.peer_up = 0;
		link_wait(l, 1000);
		pthread_mutex_unlock(&l->lock);
	}
	pthread_mutex_lock(&l->lock);
	if (pushed) {
		l->stats.peer_up = 1;
		/* the peer restarted behind the link and lacks our bytes before
		 * this block: they must never make a key (from our pool, or
		 * from its, which it skips) */
		if (lo_had < lo_off || hi_had < hi_off) {
			qm_log(QM_LOG_WARN,
			       "link %s: the peer restarted behind the "
			       "link; bytes it lacks are dropped here too",
			       l->peer->id);
			kstream_cut(&l->own, lo_had);
			kstream_cut(&l->mirror, hi_had);
		}
		if (lo_len + hi_len &&
		    (kstream_append_fresh(&l->own, lo_off, res->key_alice,
		                          lo_len, &e) ||
		     kstream_append_fresh(&l->mirror, hi_off,
		                          res->key_alice + lo_len, hi_len, &e)))
			qm_log(QM_LOG_ERROR, "link %s: %s", l->peer->id, e.msg);
	}
	pthread_mutex_unlock(&l->push_lock);
	if (res->alarm)
		link_wait(l, 200); /* keep measuring, gently */
	pthread_mutex_unlock(&l->lock);
	if (pushed && lo_len + hi_len)
		kme_mark_dirty(k);
}

/* A helper's block waiting for a floor thread, or NULL (lock held). */
static struct link_arg *ready_block(struct qm_kme *k, struct kme_link *l)
{
	struct link_arg *a = args[l - k->links];

	for (int t = (int)k->conf.link_threads; t < l->nthreads; t++)
		if (a[t].ready)
			return &a[t];
	return NULL;
}

/* Waits on the link's ready condition for at most ms (lock held). */
static void ready_wait(struct kme_link *l, long ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&l->ready_cond, &l->lock, &ts);
}

/*
 * A floor thread, at the normal priority of the process: only floor
 * threads send blocks to the peer and add them to the pools (so that no
 * thread of idle priority ever holds push_lock while the machine is
 * busy), first the blocks the helpers made. A floor thread simulates
 * blocks itself while a direction is below its reserve, so the link keeps
 * its fair share of CPU however busy the server is; above it the helpers
 * fill the pools with CPU nothing else wants. With both pools full
 * floor thread 0 keeps watching the channel with a block of 1/8 the size
 * every two seconds (at once when the operator changes the eavesdropper),
 * so QBER and alarm stay current; that block's key finds no room and is
 * wiped.
 */
static void *link_floor(void *arg)
{
	struct link_arg *a = arg;
	struct qm_kme *k = a->k;
	struct kme_link *l = a->l;
	const struct kme_conf *c = &k->conf;
	double rate = 0;
	int t = a->t;

	/* named for top -H and /proc (bench/kme.c reads its CPU time) */
	pthread_setname_np(pthread_self(), "qkme-link");
	while (!k->stopping) {
		struct qm_bb84_params p;
		struct qm_bb84_result res;
		struct link_arg *h;
		int monitor = 0;

		pthread_mutex_lock(&l->lock);
		/* no block for a peer that has not confirmed the link: it may
		 * be down, or not the peer at all */
		if (!l->confirmed) {
			link_wait(l, 1000);
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		if ((h = ready_block(k, l))) {
			double hrate = h->rate, heve = h->eve;
			int ht = h->t;

			res = h->res;
			memset(&h->res, 0, sizeof(h->res));
			h->ready = 0;
			pthread_cond_broadcast(&l->cond); /* its slot is free */
			pthread_mutex_unlock(&l->lock);
			push_block(k, l, ht, &res, hrate, heve);
			qm_bb84_result_clear(&res);
			continue;
		}
		if (!pools_need(l, c)) {
			link_wait(l, t == 0 ? 2000 : 500);
			if (t != 0 || k->stopping || pools_need(l, c) ||
			    ready_block(k, l)) {
				pthread_mutex_unlock(&l->lock);
				continue;
			}
			monitor = 1;
		} else if (!pools_wanted(l, c)) {
			/* the helpers fill; wake for their blocks */
			ready_wait(l, 200);
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		block_params(c, l, monitor, &p);
		pthread_mutex_unlock(&l->lock);
		if (run_block(l, &p, &res, &rate)) {
			pthread_mutex_lock(&l->lock);
			link_wait(l, 1000);
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		push_block(k, l, t, &res, rate, p.eve_fraction);
		qm_bb84_result_clear(&res);
	}
	return NULL;
}

/*
 * A helper thread: simulates at SCHED_IDLE priority, so that it uses only
 * CPU that serving SAEs leaves idle, while a direction is below
 * pool_bytes; it hands each block to a floor thread and waits until one
 * took it.
 */
static void *link_helper(void *arg)
{
	struct link_arg *a = arg;
	struct qm_kme *k = a->k;
	struct kme_link *l = a->l;
	const struct kme_conf *c = &k->conf;
	struct sched_param sp = {0};
	double rate = 0;

	pthread_setname_np(pthread_self(), "qkme-link");
	pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
	while (!k->stopping) {
		struct qm_bb84_params p;
		struct qm_bb84_result res;

		pthread_mutex_lock(&l->lock);
		if (!l->confirmed || a->ready || !pools_need(l, c)) {
			link_wait(l, 500);
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		block_params(c, l, 0, &p);
		pthread_mutex_unlock(&l->lock);
		if (run_block(l, &p, &res, &rate)) {
			pthread_mutex_lock(&l->lock);
			link_wait(l, 1000);
			pthread_mutex_unlock(&l->lock);
			continue;
		}
		pthread_mutex_lock(&l->lock);
		a->res = res;
		a->rate = rate;
		a->eve = p.eve_fraction;
		a->ready = 1;
		pthread_cond_signal(&l->ready_cond);
		if (res.alarm)
			link_wait(l, 200); /* keep measuring, gently */
		pthread_mutex_unlock(&l->lock);
	}
	return NULL;
}
enum qm_err kme_link_start(struct qm_kme *k, struct kme_link *l,
                           struct qm_error *err)
{
	size_t i = (size_t)(l - k->links);
	int n = (int)k->conf.link_threads;

	if (!l->i_am_lower || !k->conf.link_enabled)
		return QM_OK;
	for (int t = 0; t < 2 * n; t++) {
		args[i][t].k = k;
		args[i][t].l = l;
		args[i][t].t = t % n;
		if (pthread_create(&l->threads[t], NULL,
		                   t < n ? link_floor : link_helper,
		                   &args[i][t]))
			return qm_error_set(
			    err, QM_ERR_NOMEM,
			    "cannot start the link thread to %s", l->peer->id);
		l->nthreads = t + 1;
	}
	return QM_OK;
}

void kme_link_stop(struct qm_kme *k, struct kme_link *l)
{
	size_t i = (size_t)(l - k->links);

	pthread_mutex_lock(&l->lock);
	pthread_cond_broadcast(&l->cond);
	pthread_cond_broadcast(&l->ready_cond);
	pthread_mutex_unlock(&l->lock);
	/* a helper in the middle of a block may get no CPU at idle priority
	 * while other work runs (another KME's floor on the same machine):
	 * let it finish at normal priority where we may (root, or a
	 * RLIMIT_NICE that allows nice 0), else wait for it */
	for (int t = (int)k->conf.link_threads; t < l->nthreads; t++) {
		struct sched_param sp = {0};
		pthread_setschedparam(l->threads[t], SCHED_OTHER, &sp);
	}
	for (int t = 0; t < l->nthreads; t++)
		pthread_join(l->threads[t], NULL);
	/* blocks a helper made that never reached the peer: never used */
	for (int t = 0; t < l->nthreads; t++) {
		qm_bb84_result_clear(&args[i][t].res);
		args[i][t].ready = 0;
	}
	l->nthreads = 0;
}
