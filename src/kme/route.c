/* SPDX-License-Identifier: MIT */
/*
 * The network beyond this KME's links (issue 19): link-state adverts and
 * routes. Every second (and at once when asked) each KME writes what it
 * knows of its own links (up: confirmed, reachable and out of QBER alarm;
 * the key its direction holds; QBER and rate) as an advert with a growing
 * sequence number and posts it, with the adverts of other KMEs it has not
 * passed on yet, to each peer (/kme/v1/peer/lsa). A newer advert of a KME
 * is kept and passed on to the other peers, so every KME of a connected
 * network learns every link within a few seconds; an advert not renewed
 * for KME_LSA_TTL_MS is forgotten (its KME is down or cut off). A route
 * is the cheapest path over hops both of whose ends say the link is up:
 * one unit per hop plus up to one more as the key the sending side of the
 * hop holds runs out, so it takes the fewest hops, and of routes as long,
 * or one hop longer, the one whose hops hold more key.
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define KME_LSA_TTL_MS 10000
#define KME_LSA_POST_MS 2000 /* the longest an advert may take */
/* a hop costs 1, plus up to 1 more as its key runs out: half more at
 * this many bytes, nearly nothing with a full pool */
#define SCARCE_BYTES 4096.0

/* ------------------------------------------------------------ indexes */

/* The network's KMEs: 0 this one, then the peers, then the nodes. */
static size_t net_count(const struct qm_kme *k)
{
	return 1 + k->conf.npeers + k->conf.nnodes;
}

static const char *net_id(const struct qm_kme *k, size_t i)
{
	if (i == 0)
		return k->conf.id;
	if (i <= k->conf.npeers)
		return k->conf.peers[i - 1].id;
	return k->conf.nodes[i - 1 - k->conf.npeers].id;
}

int kme_net_index(const struct qm_kme *k, const char *id)
{
	for (size_t i = 0; i < net_count(k); i++)
		if (strcmp(net_id(k, i), id) == 0)
			return (int)i;
	return -1;
}

/* ------------------------------------------------------------ adverts */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Our own advert, from the links' state (net lock not held). */
static void own_lsa(struct qm_kme *k, struct kme_lsa *a)
{
	struct kme_net *n = &k->net;

	memset(a, 0, sizeof(*a));
	qm_strlcpy(a->origin, k->conf.id, sizeof(a->origin));
	for (size_t i = 0; i < k->nlinks; i++) {
		struct kme_link *l = &k->links[i];
		struct kme_lsa_link *x = &a->links[a->nlinks++];
		int reach;

		pthread_mutex_lock(&n->lock);
		reach = n->reach[i];
		pthread_mutex_unlock(&n->lock);
		qm_strlcpy(x->peer, l->peer->id, sizeof(x->peer));
		pthread_mutex_lock(&l->lock);
		x->alarm = l->stats.alarm;
		x->qber = l->stats.qber;
		x->rate_bps = l->stats.rate_bps;
		x->avail = l->confirmed && !l->realign
		               ? kme_kstream_avail(&l->own)
		               : 0;
		x->up = reach && l->confirmed && !l->realign && !l->stats.alarm;
		pthread_mutex_unlock(&l->lock);
	}
}

static json_t *lsa_json(const struct kme_lsa *a)
{
	json_t *links = json_array();

	for (size_t i = 0; i < a->nlinks; i++) {
		const struct kme_lsa_link *x = &a->links[i];

		json_array_append_new(
		    links,
		    json_pack("{s:s, s:b, s:b, s:f, s:f, s:I}", "peer", x->peer,
		              "up", x->up, "alarm", x->alarm, "qber", x->qber,
		              "rate_bps", x->rate_bps, "avail",
		              (json_int_t)x->avail));
	}
	return json_pack("{s:s, s:I, s:o}", "origin", a->origin, "seq",
	                 (json_int_t)a->seq, "links", links);
}

/* Reads one advert; 0, or -1 naming the problem in why. */
static int lsa_read(struct qm_kme *k, json_t *j, struct kme_lsa *a,
                    char *why, size_t whylen)
{
	json_t *links = json_object_get(j, "links"), *x;
	const char *o = json_string_value(json_object_get(j, "origin"));
	json_t *seq = json_object_get(j, "seq");
	size_t i;

	memset(a, 0, sizeof(*a));
	if (!o || kme_net_index(k, o) < 0 || !json_is_integer(seq) ||
	    json_integer_value(seq) <= 0 || !json_is_array(links) ||
	    json_array_size(links) > KME_MAXPEERS) {
		snprintf(why, whylen,
		         "an advert needs a known origin KME, a positive seq "
		         "and at most %d links",
		         KME_MAXPEERS);
		return -1;
	}
	qm_strlcpy(a->origin, o, sizeof(a->origin));
	a->seq = (uint64_t)json_integer_value(seq);
	json_array_foreach(links, i, x)
	{
		struct kme_lsa_link *y = &a->links[a->nlinks];
		const char *p = json_string_value(json_object_get(x, "peer"));
		json_t *up = json_object_get(x, "up");
		json_t *al = json_object_get(x, "alarm");
		json_t *av = json_object_get(x, "avail");
		double q = json_number_value(json_object_get(x, "qber"));
		double r = json_number_value(json_object_get(x, "rate_bps"));

		if (!p || kme_net_index(k, p) < 0 || strcmp(p, o) == 0 ||
		    !json_is_boolean(up) || !json_is_boolean(al) ||
		    !json_is_integer(av) || json_integer_value(av) < 0 ||
		    !isfinite(q) || q < 0 || !isfinite(r) || r < 0) {
			snprintf(why, whylen,
			         "a link of %s's advert is malformed or names "
			         "an unknown KME",
			         o);
			return -1;
		}
		qm_strlcpy(y->peer, p, sizeof(y->peer));
		y->up = json_is_true(up);
		y->alarm = json_is_true(al);
		y->qber = q;
		y->rate_bps = r;
		y->avail = (uint64_t)json_integer_value(av);
		a->nlinks++;
	}
	return 0;
}

void kme_api_peer_lsa(struct qm_kme *k, const char *caller, const char *body,
                      size_t blen, struct kme_reply *r)
{
	struct kme_link *l = kme_link_for_peer(k, caller);
	struct kme_net *n = &k->net;
	json_t *jb, *arr, *x;
	struct kme_lsa a;
	char why[256];
	size_t i, taken = 0;

	if (!l) {
		kme_api_error(r, 401, "unauthorized", "not a peer KME");
		return;
	}
	jb = kme_api_parse_body(body, blen, r);
	if (!jb)
		return;
	arr = json_object_get(jb, "lsas");
	if (!json_is_array(arr) || json_array_size(arr) > KME_NET_MAX) {
		json_decref(jb);
		kme_api_error(r, 400, "bad request format",
		              "lsas must be an array of adverts");
		return;
	}
	json_array_foreach(arr, i, x)
	{
		int at;

		if (lsa_read(k, x, &a, why, sizeof(why))) {
			json_decref(jb);
			kme_api_error(r, 400, "bad request format", why);
			return;
		}
		at = kme_net_index(k, a.origin);
		if (at == 0)
			continue; /* our own, back from the network */
		pthread_mutex_lock(&n->lock);
		if (a.seq > n->lsa[at].seq) {
			a.got_ns = qm_mono_ns();
			a.from = (int)(l - k->links);
			a.fwd_pending = 1;
			n->lsa[at] = a;
			n->changed = 1;
			taken++;
		}
		pthread_mutex_unlock(&n->lock);
	}
	json_decref(jb);
	if (taken) {
		pthread_mutex_lock(&n->lock);
		pthread_cond_broadcast(&n->cond);
		pthread_mutex_unlock(&n->lock);
	}
	kme_api_reply_json(r, 200,
	                   json_pack("{s:s, s:I}", "message", "ok", "taken",
	                             (json_int_t)taken));
}

/* 1 when advert i counts (ours always; another's while it is fresh). */
static int fresh(const struct kme_net *n, size_t i, uint64_t now)
{
	/* (an advert that arrived after now was read is fresh: now is read
	 * before the lock, and the unsigned difference would wrap) */
	return n->lsa[i].seq && (i == 0 || now <= n->lsa[i].got_ns ||
	                         now - n->lsa[i].got_ns <=
	                             (uint64_t)KME_LSA_TTL_MS * 1000000ull);
}

/* ------------------------------------------------------------ the thread */

static void *net_main(void *arg)
{
	struct qm_kme *k = arg;
	struct kme_net *n = &k->net;
	uint64_t own_due = 0; /* qm_mono_ns: our next advert */

	for (;;) {
		struct kme_lsa own;
		json_t *body[KME_MAXPEERS];
		struct timespec until;
		uint64_t now = qm_mono_ns(), wait_ns;
		int send_own;

		/* our own advert once a second and when asked; in between only
		 * the adverts of others still to pass on (a new advert of ours
		 * for every advert taken would be taken as new by the peers,
		 * who would answer with theirs: adverts back and forth without
		 * end) */
		pthread_mutex_lock(&n->lock);
		send_own = n->kicked || now >= own_due;
		n->kicked = 0;
		pthread_mutex_unlock(&n->lock);
		if (send_own)
			own_lsa(k, &own);
		pthread_mutex_lock(&n->lock);
		if (n->stop) {
			pthread_mutex_unlock(&n->lock);
			break;
		}
		if (send_own) {
			uint64_t t = now_ns();

			own.seq = t > n->lsa[0].seq ? t : n->lsa[0].seq + 1;
			own.got_ns = qm_mono_ns();
			own.from = -1;
			n->lsa[0] = own;
			own_due = now + 1000000000ull;
		}
		/* ours to every peer, and each advert not passed on yet to
		 * every peer but the one it came from and its origin */
		for (size_t p = 0; p < k->nlinks; p++) {
			json_t *arr = json_array();

			if (send_own)
				json_array_append_new(arr, lsa_json(&own));
			for (size_t i = 1; i < net_count(k); i++)
				if (n->lsa[i].fwd_pending &&
				    n->lsa[i].from != (int)p &&
				    strcmp(n->lsa[i].origin,
				           k->links[p].peer->id) != 0)
					json_array_append_new(
					    arr, lsa_json(&n->lsa[i]));
			if (json_array_size(arr) == 0) {
				json_decref(arr);
				body[p] = NULL;
			} else {
				body[p] = json_pack("{s:o}", "lsas", arr);
			}
		}
		for (size_t i = 1; i < net_count(k); i++)
			n->lsa[i].fwd_pending = 0;
		n->changed = 0;
		pthread_mutex_unlock(&n->lock);

		for (size_t p = 0; p < k->nlinks; p++) {
			char *s;
			struct qm_error e;
			long status = 0;
			int ok;

			if (!body[p])
				continue; /* nothing for this peer */
			s = json_dumps(body[p], JSON_COMPACT);
			/* short: another advert follows within a second, and
			 * a stop waits for this one */
			ok = s && !n->stop &&
			     kme_peer_request(&k->links[p], KME_CHAN_NET,
			                      "/kme/v1/peer/lsa", s,
			                      KME_LSA_POST_MS, &status, NULL,
			                      &e) == QM_OK;
			free(s);
			json_decref(body[p]);
			pthread_mutex_lock(&n->lock);
			/* a peer that came back: say so at once; one that
			 * missed three adverts in a row (a busy machine may slow
			 * one or two down) is unreachable */
			if (ok && !n->reach[p])
				n->kicked = 1;
			n->fails[p] = ok ? 0 : n->fails[p] + 1;
			if (ok)
				n->reach[p] = 1;
			else if (n->fails[p] >= 3)
				n->reach[p] = 0;
			pthread_mutex_unlock(&n->lock);
		}

		/* until our next advert, or an advert to pass on */
		now = qm_mono_ns();
		wait_ns = own_due > now ? own_due - now : 0;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)(wait_ns / 1000000000ull);
		until.tv_nsec += (long)(wait_ns % 1000000000ull);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&n->lock);
		while (!n->stop && !n->changed && !n->kicked &&
		       pthread_cond_timedwait(&n->cond, &n->lock, &until) == 0)
			;
		pthread_mutex_unlock(&n->lock);
	}
	return NULL;
}

enum qm_err kme_net_start(struct qm_kme *k, struct qm_error *err)
{
	struct kme_net *n = &k->net;
	int e;

	if (!k->nlinks)
		return QM_OK;
	e = pthread_create(&n->thread, NULL, net_main, k);
	if (e)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "cannot start the network thread: %s",
		                    strerror(e));
	n->started = 1;
	return QM_OK;
}

void kme_net_stop(struct qm_kme *k)
{
	struct kme_net *n = &k->net;

	pthread_mutex_lock(&n->lock);
	n->stop = 1;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
	if (n->started)
		pthread_join(n->thread, NULL);
	n->started = 0;
}

void kme_net_kick(struct qm_kme *k)
{
	pthread_mutex_lock(&k->net.lock);
	k->net.kicked = 1;
	pthread_cond_broadcast(&k->net.cond);
	pthread_mutex_unlock(&k->net.lock);
}

/* ------------------------------------------------------------ routes */

/* The hop u -> v as u's fresh advert says it (NULL: none or down). */
static const struct kme_lsa_link *hop(const struct qm_kme *k, size_t u,
                                      size_t v, uint64_t now)
{
	const struct kme_net *n = &k->net;

	if (!fresh(n, u, now))
		return NULL;
	for (size_t i = 0; i < n->lsa[u].nlinks; i++)
		if (strcmp(n->lsa[u].links[i].peer, net_id(k, v)) == 0)
			return &n->lsa[u].links[i];
	return NULL;
}

/* Why the link u-v cannot carry key now, or NULL when it can. */
static const char *hop_down(const struct qm_kme *k, size_t u, size_t v,
                            uint64_t now)
{
	const struct kme_lsa_link *a = hop(k, u, v, now), *b = hop(k, v, u, now);

	if (!a || !b)
		return "not announced (a KME down or cut off)";
	if (a->alarm || b->alarm)
		return "QBER alarm";
	if (!a->up || !b->up)
		return "down (unreachable or not confirmed)";
	return NULL;
}

enum qm_err kme_net_route(struct qm_kme *k, const char *to,
                          struct kme_route *out, struct qm_error *err)
{
	struct kme_net *n = &k->net;
	size_t cnt = net_count(k), dst;
	double dist[KME_NET_MAX];
	int prev[KME_NET_MAX], done[KME_NET_MAX] = {0};
	uint64_t now = qm_mono_ns();
	int t = kme_net_index(k, to);

	memset(out, 0, sizeof(*out));
	if (t < 0)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "%s is no KME of this network", to);
	dst = (size_t)t;
	pthread_mutex_lock(&n->lock);
	for (size_t i = 0; i < cnt; i++) {
		dist[i] = INFINITY;
		prev[i] = -1;
	}
	dist[0] = 0;
	for (;;) {
		size_t u = cnt;

		for (size_t i = 0; i < cnt; i++)
			if (!done[i] && isfinite(dist[i]) &&
			    (u == cnt || dist[i] < dist[u]))
				u = i;
		if (u == cnt || u == dst)
			break;
		done[u] = 1;
		for (size_t v = 0; v < cnt; v++) {
			const struct kme_lsa_link *a;
			double w;

			if (done[v] || v == u || hop_down(k, u, v, now))
				continue;
			a = hop(k, u, v, now);
			w = 1.0 +
			    SCARCE_BYTES / ((double)a->avail + SCARCE_BYTES);
			if (dist[u] + w < dist[v]) {
				dist[v] = dist[u] + w;
				prev[v] = (int)u;
			}
		}
	}
	if (!isfinite(dist[dst])) {
		/* say which links are out, to find the bottleneck */
		size_t off = 0;

		off += (size_t)snprintf(out->why, sizeof(out->why),
		                        "no route from %s to %s", k->conf.id,
		                        to);
		for (size_t u = 0; u < cnt; u++)
			for (size_t i = 0; fresh(n, u, now) &&
			                   i < n->lsa[u].nlinks &&
			                   off < sizeof(out->why) - 64;
			     i++) {
				int v = kme_net_index(k,
				                      n->lsa[u].links[i].peer);
				const char *d;

				if (v < 0 || (size_t)v < u)
					continue;
				d = hop_down(k, u, (size_t)v, now);
				if (d)
					off += (size_t)snprintf(
					    out->why + off,
					    sizeof(out->why) - off,
					    "%s %s-%s: %s",
					    off > 40 ? ";" : ":", net_id(k, u),
					    net_id(k, (size_t)v), d);
			}
		pthread_mutex_unlock(&n->lock);
		return qm_error_set(err, QM_ERR_UNAVAIL, "%s", out->why);
	}
	/* the path, back to front */
	{
		size_t path[KME_NET_MAX], len = 0;

		for (int v = (int)dst; v >= 0; v = prev[v])
			path[len++] = (size_t)v;
		out->bottleneck_rate = INFINITY;
		out->bottleneck_bytes = UINT64_MAX;
		for (size_t i = 0; i < len; i++) {
			size_t u = path[len - 1 - i];

			qm_strlcpy(out->ids[i], net_id(k, u),
			           sizeof(out->ids[i]));
			if (i + 1 < len) {
				size_t v = path[len - 2 - i];
				const struct kme_lsa_link *a = hop(k, u, v, now);

				if (a->rate_bps < out->bottleneck_rate)
					out->bottleneck_rate = a->rate_bps;
				if (a->avail < out->bottleneck_bytes) {
					out->bottleneck_bytes = a->avail;
					snprintf(out->bottleneck_link,
					         sizeof(out->bottleneck_link),
					         "%s-%s", net_id(k, u),
					         net_id(k, v));
				}
			}
		}
		out->n = len;
		if (len < 2) {
			out->bottleneck_rate = 0;
			out->bottleneck_bytes = 0;
		}
	}
	pthread_mutex_unlock(&n->lock);
	return QM_OK;
}

/* ------------------------------------------------------------ operator */

/* The routes to every KME and every link the adverts name. */
static json_t *network_json(struct qm_kme *k)
{
	struct kme_net *n = &k->net;
	json_t *j, *routes, *links;
	uint64_t now = qm_mono_ns();

	j = json_object();
	routes = json_array();
	links = json_array();
	json_object_set_new(j, "kme_id", json_string(k->conf.id));
	for (size_t i = 1; i < net_count(k); i++) {
		struct kme_route rt;
		struct qm_error e;
		json_t *o = json_pack("{s:s}", "to", net_id(k, i));

		if (kme_net_route(k, net_id(k, i), &rt, &e) == QM_OK) {
			json_t *ids = json_array();

			for (size_t h = 0; h < rt.n; h++)
				json_array_append_new(ids,
				                      json_string(rt.ids[h]));
			json_object_set_new(o, "route", ids);
			json_object_set_new(o, "hops",
			                    json_integer((json_int_t)rt.n - 1));
			json_object_set_new(o, "bottleneck_rate_bps",
			                    json_real(rt.bottleneck_rate));
			json_object_set_new(
			    o, "bottleneck_bytes",
			    json_integer((json_int_t)rt.bottleneck_bytes));
			json_object_set_new(o, "bottleneck_link",
			                    json_string(rt.bottleneck_link));
		} else {
			json_object_set_new(o, "error",
			                    json_string(qm_error_msg(&e)));
		}
		json_array_append_new(routes, o);
	}
	/* every link the adverts name, once, with both ends' view */
	pthread_mutex_lock(&n->lock);
	for (size_t u = 0; u < net_count(k); u++)
		for (size_t i = 0; fresh(n, u, now) && i < n->lsa[u].nlinks;
		     i++) {
			const struct kme_lsa_link *a = &n->lsa[u].links[i], *b;
			int v = kme_net_index(k, a->peer);
			const char *d;

			if (v < 0 || ((size_t)v < u && hop(k, (size_t)v, u, now)))
				continue;
			b = hop(k, (size_t)v, u, now);
			d = hop_down(k, u, (size_t)v, now);
			json_array_append_new(
			    links,
			    json_pack("{s:s, s:s, s:b, s:b, s:f, s:f, s:I, s:I, "
			              "s:s}",
			              "a", net_id(k, u), "b", a->peer, "up", !d,
			              "alarm", a->alarm || (b && b->alarm),
			              "qber", a->qber > (b ? b->qber : 0)
			                          ? a->qber
			                          : (b ? b->qber : 0),
			              "rate_bps", a->rate_bps, "avail_ab",
			              (json_int_t)a->avail, "avail_ba",
			              (json_int_t)(b ? b->avail : 0), "state",
			              d ? d : "up"));
		}
	pthread_mutex_unlock(&n->lock);
	json_object_set_new(j, "routes", routes);
	json_object_set_new(j, "links", links);
	return j;
}

void kme_api_routes(struct qm_kme *k, const char *caller, struct kme_reply *r)
{
	if (!kme_conf_is_operator(&k->conf, caller)) {
		kme_api_error(r, 401, "unauthorized",
		              "routes need an operator certificate");
		return;
	}
	kme_api_reply_json(r, 200, network_json(k));
}

void kme_api_sae_network(struct qm_kme *k, const char *caller,
                         struct kme_reply *r)
{
	/* what the network looks like from here, for the SAEs it serves
	 * (no key, no offset: the links' health and the routes) */
	if (!kme_conf_serves(&k->conf, caller) &&
	    !kme_conf_is_operator(&k->conf, caller)) {
		kme_api_error(r, 401, "unauthorized",
		              "the network view is for this KME's SAEs");
		return;
	}
	kme_api_reply_json(r, 200, network_json(k));
}
