/* SPDX-License-Identifier: MIT */
/*
 * Trusted-node key relay (issue 19): keys for a slave SAE at a KME with no
 * link to this one, carried hop by hop along a route (route.c).
 *
 * The master's KME makes the keys (libsodium's generator) and, for each
 * hop, the hop's sender takes total + 32 bytes of ITS direction of the
 * hop's link: a one-time pad for the keys and a one-time Poly1305 key.
 * It takes them from its pad reservoir for that link: a run of its
 * direction announced once through the link's ordered queue (so that the
 * receiver's view of the direction stays in order with the reservations
 * before it) and used a relay at a time. It posts the keys XOR the pad,
 * naming the reservoir and the place, with the Poly1305 tag of the
 * relay's header and ciphertext (/kme/v1/peer/relay) on one of a few kept
 * connections; relays for one target KME that queue up go together, one
 * relay carrying several requests. The receiver waits a moment for a new
 * reservoir if the queue has not brought it yet, takes the named bytes
 * from its mirror of that direction (once: a bit per byte, and they are
 * wiped), checks the tag in constant time, and either passes the keys on
 * to the next KME of the route in the same way or, at the end, keeps them
 * for the slaves. The answer travels back; the master gets its keys only
 * once the last KME has them. Every KME on the way sees the keys: that is
 * what trusting a node means. A tag that does not match (the ciphertext
 * changed between two KMEs) stops the relay: 503 naming the hop, nothing
 * kept.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define MSG_PARAMS   "requested parameters do not adhere to KME specifications"
#define MSG_NOTFOUND "one or more keys specified are not found on KME"
#define MSG_NOKEY    "not enough key material on KME"
#define TAGBYTES     crypto_onetimeauth_BYTES
#define MACKEYBYTES  crypto_onetimeauth_KEYBYTES
#define PAD_TTL_S    60 /* a receiver keeps a reservoir this long */
#define RSV_USE_NS   (20ull * 1000000000ull) /* a sender uses it this long */
#define RELAY_ITEMS  32   /* requests whose keys one relay carries */
#define RELAY_KEYS   1024 /* keys one relay carries */
#ifndef RELAY_INFLIGHT
#define RELAY_INFLIGHT 2 /* relays on their way to one KME at once */
#endif
#define KREL_SLOTS   4096

/* Relays waiting for one target KME (see relay_batched). */
struct rjob {
	struct relay *rl;      /* one request's keys (one item) */
	struct kme_reply fail; /* the answer when the relay failed */
	int done, ok;
	struct rjob *next;
};

struct rbatch {
	pthread_mutex_t mx;
	pthread_cond_t cv;
	int busy; /* relays on their way */
	struct rjob *head;
};

/* ------------------------------------------------------------ kept keys */

/* Secure scratch memory of n bytes: a recycled chunk when n fits one
 * (sodium_malloc maps and protects pages, which costs more than a hop). */
static void *sec_get(size_t n)
{
	return n <= KME_CHUNK ? kme_chunk_get() : qm_sec_alloc(n);
}

static void sec_put(void *p, size_t n)
{
	if (n <= KME_CHUNK)
		kme_chunk_put(p);
	else
		qm_sec_free(p);
}

static size_t krel_slot(const unsigned char id[16])
{
	size_t h = 0;

	memcpy(&h, id, sizeof(h));
	return h % KREL_SLOTS;
}

enum qm_err kme_relay_init(struct qm_kme *k, struct qm_error *err)
{
	pthread_mutex_init(&k->relayed.lock, NULL);
	k->relayed.slots = calloc(KREL_SLOTS, sizeof(*k->relayed.slots));
	k->rbatch = calloc(KME_NET_MAX, sizeof(*k->rbatch));
	if (!k->relayed.slots || !k->rbatch)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < KME_NET_MAX; i++) {
		pthread_mutex_init(&k->rbatch[i].mx, NULL);
		pthread_cond_init(&k->rbatch[i].cv, NULL);
	}
	return QM_OK;
}

static void krel_free(struct krel *x)
{
	qm_sec_free(x->key);
	free(x);
}

void kme_relay_free(struct qm_kme *k)
{
	if (k->rbatch) {
		for (size_t i = 0; i < KME_NET_MAX; i++) {
			pthread_mutex_destroy(&k->rbatch[i].mx);
			pthread_cond_destroy(&k->rbatch[i].cv);
		}
		free(k->rbatch);
		k->rbatch = NULL;
	}
	if (!k->relayed.slots)
		return;
	for (size_t i = 0; i < KREL_SLOTS; i++)
		while (k->relayed.slots[i]) {
			struct krel *x = k->relayed.slots[i];

			k->relayed.slots[i] = x->next;
			krel_free(x);
		}
	free(k->relayed.slots);
	k->relayed.slots = NULL;
	pthread_mutex_destroy(&k->relayed.lock);
}

/* (lock held) */
static struct krel *krel_find(struct krel_map *m, const unsigned char id[16])
{
	for (struct krel *x = m->slots[krel_slot(id)]; x; x = x->next)
		if (memcmp(x->id, id, 16) == 0)
			return x;
	return NULL;
}

/* (lock held) */
static void krel_remove(struct krel_map *m, const unsigned char id[16])
{
	struct krel **pp = &m->slots[krel_slot(id)];

	for (; *pp; pp = &(*pp)->next)
		if (memcmp((*pp)->id, id, 16) == 0) {
			struct krel *x = *pp;

			*pp = x->next;
			m->count--;
			krel_free(x);
			return;
		}
}

/* Takes x into the map (lock held); a key already there is kept as it is
 * (a relay repeated after a lost answer): x is freed then. */
static int krel_add(struct krel_map *m, struct krel *x)
{
	size_t s = krel_slot(x->id);

	if (krel_find(m, x->id)) {
		krel_free(x);
		return 0;
	}
	x->next = m->slots[s];
	m->slots[s] = x;
	m->count++;
	return 1;
}

/* ------------------------------------------------------------ reservoirs */

/*
 * A pad reservoir: a run of the sender's direction of a link, announced
 * once through the link's ordered queue and then used a relay at a time
 * (each relay names the reservoir and where in it its pad starts). The
 * receiver keeps a bit per byte and takes each byte once; the sender
 * holds its reservoir in memory only, so that after a restart it never
 * goes on with one (its lease keeps the bytes from being handed out
 * again), and both ends give up a link's reservoirs when its other end
 * starts again.
 */
struct kpad {
	unsigned char id[16];
	uint64_t off;
	uint32_t len, left; /* left: bytes not used yet */
	int64_t expires;
	unsigned char *used; /* a bit per byte */
	struct kpad *next;
};

struct krsv {
	unsigned char id[16];
	uint64_t off;
	size_t len, at;     /* [at, len) not used yet */
	uint64_t born;      /* qm_mono_ns */
	unsigned char *pad; /* secure */
};

/* Wipes the bytes of p not used yet from the mirror (lock held). */
static void kpad_release_unused(struct kme_link *l, const struct kpad *p)
{
	size_t i = 0;

	while (i < p->len) {
		size_t j;

		if (p->used[i / 8] & (1u << (i % 8))) {
			i++;
			continue;
		}
		for (j = i; j < p->len && !(p->used[j / 8] & (1u << (j % 8)));
		     j++)
			;
		kme_kstream_release(&l->mirror, p->off + i, j - i);
		i = j;
	}
}

static void kpad_free(struct kpad *p)
{
	free(p->used);
	free(p);
}

/* Unlinks *pp, wipes its unused bytes and frees it (lock held). */
static void kpad_drop(struct kme_link *l, struct kpad **pp)
{
	struct kpad *p = *pp;

	*pp = p->next;
	kpad_release_unused(l, p);
	kpad_free(p);
}

static struct kpad *kpad_find(struct kme_link *l, const unsigned char id[16])
{
	for (struct kpad *p = l->pads; p; p = p->next)
		if (memcmp(p->id, id, 16) == 0)
			return p;
	return NULL;
}

/* Takes [at, at + n) of reservoir p into out, once: 0, or -1 when a byte
 * of it is outside p, used already or missing (lock held). */
static int kpad_take(struct kme_link *l, struct kpad *p, uint64_t at, size_t n,
                     unsigned char *out)
{
	int rc;

	if (at > p->len || n > p->len - at || !n)
		return -1;
	for (size_t i = (size_t)at; i < at + n; i++)
		if (p->used[i / 8] & (1u << (i % 8)))
			return -1;
	/* used from here on, whatever follows */
	for (size_t i = (size_t)at; i < at + n; i++)
		p->used[i / 8] |= (unsigned char)(1u << (i % 8));
	p->left -= (uint32_t)n;
	rc = kme_kstream_copy(&l->mirror, p->off + at, n, out, NULL) ? -1 : 0;
	kme_kstream_release(&l->mirror, p->off + at, n);
	if (!p->left)
		for (struct kpad **pp = &l->pads; *pp; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				kpad_free(p);
				break;
			}
	return rc;
}

int kme_relay_take_pads(struct qm_kme *k, struct kme_link *l, void *keys,
                        int64_t now)
{
	json_t *kk;
	size_t j;

	(void)k;
	/* reservoirs past their time (the peer no longer uses them) go */
	for (struct kpad **pp = &l->pads; *pp;)
		if ((*pp)->expires < now)
			kpad_drop(l, pp);
		else
			pp = &(*pp)->next;
	json_array_foreach((json_t *)keys, j, kk)
	{
		unsigned char id[16];
		json_int_t off = json_integer_value(json_object_get(kk, "off"));
		json_int_t len = json_integer_value(json_object_get(kk, "len"));
		struct kpad *x;

		if (kme_uuid_parse(json_string_value(json_object_get(kk, "id")),
		                   id) ||
		    off < 0 || len <= 0 || len > (1 << 24) ||
		    (uint64_t)off + (uint64_t)len > l->mirror.end ||
		    (uint64_t)off < l->mirror.next || kpad_find(l, id) ||
		    !kme_kstream_has(&l->mirror, (uint64_t)off, (size_t)len))
			continue;
		x = calloc(1, sizeof(*x));
		if (!x || !(x->used = calloc(((size_t)len + 7) / 8, 1))) {
			free(x);
			return -1;
		}
		memcpy(x->id, id, 16);
		x->off = (uint64_t)off;
		x->len = x->left = (uint32_t)len;
		x->expires = now + PAD_TTL_S;
		x->next = l->pads;
		l->pads = x;
		if (x->off > l->mirror.next)
			kme_kstream_release(&l->mirror, l->mirror.next,
			                    (size_t)(x->off - l->mirror.next));
		l->mirror.next = x->off + x->len;
		l->mirror_used = qm_mono_ns();
	}
	return 0;
}

/* Gives up a reservoir of ours: its unused bytes are wiped (lock held). */
static void rsv_free(struct krsv **vp)
{
	if (!*vp)
		return;
	qm_sec_free((*vp)->pad);
	free(*vp);
	*vp = NULL;
}

static void rsv_drop(struct kme_link *l)
{
	rsv_free(&l->rsv);
	rsv_free(&l->rsv_next);
}

void kme_relay_peer_restarted(struct kme_link *l)
{
	pthread_mutex_lock(&l->lock);
	while (l->pads)
		kpad_drop(l, &l->pads);
	rsv_drop(l);
	pthread_mutex_unlock(&l->lock);
}

void kme_relay_link_free(struct kme_link *l)
{
	while (l->pads) {
		struct kpad *p = l->pads;

		l->pads = p->next;
		kpad_free(p);
	}
	rsv_drop(l);
}

void kme_relay_link_stats(struct kme_link *l, void *obj)
{
	json_t *o = obj;
	uint64_t left = 0;
	size_t n = 0;
	char sid[37];

	for (struct kpad *p = l->pads; p; p = p->next, n++)
		left += p->left;
	json_object_set_new(o, "relay_bytes",
	                    json_integer((json_int_t)l->relay_bytes));
	json_object_set_new(o, "relay_reserved_bytes",
	                    json_integer((json_int_t)l->relay_reserved));
	if (l->rsv)
		kme_uuid_fmt(l->rsv->id, sid);
	json_object_set_new(o, "relay_reservoir",
	                    l->rsv
	                        ? json_pack("{s:s, s:I, s:I, s:I}", "id", sid,
	                                    "off", (json_int_t)l->rsv->off,
	                                    "len", (json_int_t)l->rsv->len,
	                                    "used", (json_int_t)l->rsv->at)
	                        : json_null());
	json_object_set_new(o, "relay_reservoir_next",
	                    l->rsv_next
	                        ? json_pack("{s:I, s:I}", "off",
	                                    (json_int_t)l->rsv_next->off, "len",
	                                    (json_int_t)l->rsv_next->len)
	                        : json_null());
	json_object_set_new(o, "peer_reservoirs", json_integer((json_int_t)n));
	json_object_set_new(o, "peer_reservoir_bytes_left",
	                    json_integer((json_int_t)left));
}

/* The size of a new reservoir for a relay needing plen bytes. */
static size_t rsv_size(const struct qm_kme *k, size_t plen)
{
	uint64_t size = (uint64_t)k->conf.relay_reservoir;
	uint64_t cap = (uint64_t)k->conf.pool_bytes / 16;

	if (size > cap)
		size = cap;
	return size > plen ? (size_t)size : plen;
}

/* 1 when reservoir v can give plen bytes now (lock held). */
static int rsv_usable(const struct kme_link *l, const struct krsv *v,
                      size_t plen, uint64_t now)
{
	return v && v->len - v->at >= plen && now - v->born < RSV_USE_NS &&
	       l->confirmed && !l->realign && !l->stats.alarm;
}

/*
 * A new reservoir of want bytes, taken from our direction and announced
 * through the link's ordered queue; returns it with the link lock held,
 * or NULL with a 503 in r (lock not held).
 */
static struct krsv *rsv_new(struct qm_kme *k, struct kme_link *l, size_t want,
                            int *kick, struct kme_reply *r)
{
	struct krsv *v = calloc(1, sizeof(*v));
	char sid[37];
	struct qm_error e;
	json_t *res;

	if (v && !(v->pad = qm_sec_alloc(want))) {
		free(v);
		v = NULL;
	}
	if (!v) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		return NULL;
	}
	if (kme_own_take(k, l, want, v->pad, &v->off, kick, r)) {
		rsv_free(&v);
		return NULL;
	}
	kme_uuid_new(v->id);
	kme_uuid_fmt(v->id, sid);
	res =
	    json_pack("{s:b, s:[{s:s, s:I, s:I}]}", "relay", 1, "keys", "id",
	              sid, "off", (json_int_t)v->off, "len", (json_int_t)want);
	/* under the lock: the peer sees it in offset order */
	if (!res || kme_peerq_submit(l->q, res, &e)) {
		pthread_mutex_unlock(&l->lock);
		rsv_free(&v);
		kme_api_error(r, 503, "out of memory on KME", NULL);
		return NULL;
	}
	v->len = want;
	v->born = qm_mono_ns();
	l->relay_reserved += want;
	pthread_cond_broadcast(&l->cond); /* the link may refill now */
	return v;
}

/*
 * plen pad bytes for a relay to l's peer, from our reservoir: the next one
 * (announced ahead, when the current one was half used) or a new one when
 * ours runs short or is RSV_USE_NS old. The reservoir's ID and where in it
 * the pad starts go to id and at. 0, or -1 with a 503 in r.
 */
static int rsv_take(struct qm_kme *k, struct kme_link *l, size_t plen,
                    unsigned char *pad, unsigned char id[16], uint64_t *at,
                    struct kme_reply *r)
{
	size_t full = rsv_size(k, plen), want = full;
	int kick = 0, fresh = 0, ahead;
	uint64_t now = qm_mono_ns();
	struct krsv *v;

	pthread_mutex_lock(&l->lock);
	if (!rsv_usable(l, l->rsv, plen, now)) {
		rsv_free(&l->rsv);
		if (rsv_usable(l, l->rsv_next, plen, now)) {
			l->rsv = l->rsv_next;
			l->rsv_next = NULL;
		}
	}
	if (!l->rsv) {
		pthread_mutex_unlock(&l->lock);
		while (!(v = rsv_new(k, l, want, &kick, r))) {
			if (want == plen)
				return -1;
			/* too little key for a reservoir: a pad for this
			 * relay only */
			qm_buf_free(&r->body);
			r->status = 0;
			want = plen;
		}
		rsv_free(&l->rsv); /* one another request made meanwhile */
		l->rsv = v;
		fresh = 1;
	}
	v = l->rsv;
	memcpy(pad, v->pad + v->at, plen);
	sodium_memzero(v->pad + v->at, plen);
	memcpy(id, v->id, 16);
	*at = v->at;
	v->at += plen;
	l->relay_bytes += plen;
	if (v->at == v->len)
		rsv_free(&l->rsv);
	/* half used: the next one is announced now, so that the peer has it
	 * when it is needed and no relay waits for the queue */
	ahead = full > plen && !l->rsv_next && !l->rsv_making &&
	        (!l->rsv || l->rsv->at * 2 >= l->rsv->len);
	if (ahead)
		l->rsv_making = 1;
	pthread_mutex_unlock(&l->lock);
	if (ahead) {
		struct kme_reply s;

		memset(&s, 0, sizeof(s));
		if ((v = rsv_new(k, l, full, &kick, &s))) {
			rsv_free(&l->rsv_next);
			l->rsv_next = v;
			fresh = 1;
		} else {
			/* (no key for it now: the next relay tries again) */
			qm_buf_free(&s.body);
			pthread_mutex_lock(&l->lock);
		}
		l->rsv_making = 0;
		pthread_mutex_unlock(&l->lock);
	}
	if (kick)
		kme_peerq_kick(l->q);
	if (fresh)
		kme_mark_dirty(k);
	return 0;
}

/* ------------------------------------------------------------ the MAC */

/* A request's keys in a relay: who asked, for whom, which keys. */
struct ritem {
	char master[KME_IDMAX];
	char slaves[KME_MAXSLAVES][KME_IDMAX];
	size_t nslaves;
	size_t k0, nk; /* its keys: ids[k0 .. k0 + nk) */
};

/* A relay on its way: one or more requests' keys in clear (secure). */
struct relay {
	char route[KME_NET_MAX][KME_IDMAX];
	size_t nroute;
	struct ritem items[RELAY_ITEMS];
	size_t nitems;
	char ids[RELAY_KEYS][37];
	size_t sizes[RELAY_KEYS]; /* bytes */
	size_t nkeys;
	unsigned char *keys; /* secure, total bytes */
	size_t total;
};

/* A relay with nothing in it yet. Not zeroed whole (about 120 KiB, for
 * each request and hop): its arrays are filled before they are read. */
static struct relay *relay_new(void)
{
	struct relay *rl = malloc(sizeof(*rl));

	if (rl) {
		rl->nroute = rl->nitems = rl->nkeys = rl->total = 0;
		rl->keys = NULL;
	}
	return rl;
}

/* What the tag covers besides the ciphertext: every field of the relay,
 * one per line (IDs hold no line breaks: they are checked). */
static enum qm_err relay_head(struct qm_buf *b, const char *hop_id, size_t hop,
                              const char *pad_id, uint64_t at,
                              const struct relay *rl, struct qm_error *err)
{
	enum qm_err rc =
	    qm_buf_appendf(b, err, "qkme relay v2\n%s\n%zu\n%s %llu\n", hop_id,
	                   hop, pad_id, (unsigned long long)at);

	for (size_t i = 0; !rc && i < rl->nroute; i++)
		rc = qm_buf_appendf(b, err, "r %s\n", rl->route[i]);
	for (size_t t = 0; !rc && t < rl->nitems; t++) {
		const struct ritem *it = &rl->items[t];

		rc = qm_buf_appendf(b, err, "m %s\n", it->master);
		for (size_t i = 0; !rc && i < it->nslaves; i++)
			rc = qm_buf_appendf(b, err, "s %s\n", it->slaves[i]);
		for (size_t i = it->k0; !rc && i < it->k0 + it->nk; i++)
			rc = qm_buf_appendf(b, err, "k %s %zu\n", rl->ids[i],
			                    rl->sizes[i]);
	}
	return rc;
}

static void mac(unsigned char tag[TAGBYTES], const struct qm_buf *head,
                const unsigned char *ct, size_t n,
                const unsigned char key[MACKEYBYTES])
{
	crypto_onetimeauth_state st;

	crypto_onetimeauth_init(&st, key);
	crypto_onetimeauth_update(&st, head->data, head->len);
	crypto_onetimeauth_update(&st, ct, n);
	crypto_onetimeauth_final(&st, tag);
	sodium_memzero(&st, sizeof(st));
}

/* ------------------------------------------------------------ one hop */

/* The relay's JSON body (ct and tag filled in by the caller). */
static json_t *relay_json(const struct relay *rl, const char *hop_id,
                          size_t hop, const char *pad_id, uint64_t at)
{
	json_t *rt = json_array(), *items = json_array();

	for (size_t i = 0; i < rl->nroute; i++)
		json_array_append_new(rt, json_string(rl->route[i]));
	for (size_t t = 0; t < rl->nitems; t++) {
		const struct ritem *it = &rl->items[t];
		json_t *sl = json_array(), *keys = json_array();

		for (size_t i = 0; i < it->nslaves; i++)
			json_array_append_new(sl, json_string(it->slaves[i]));
		for (size_t i = it->k0; i < it->k0 + it->nk; i++)
			json_array_append_new(
			    keys,
			    json_pack("{s:s, s:I}", "key_ID", rl->ids[i],
			              "size", (json_int_t)rl->sizes[i] * 8));
		json_array_append_new(
		    items, json_pack("{s:s, s:o, s:o}", "master", it->master,
		                     "slaves", sl, "keys", keys));
	}
	return json_pack("{s:s, s:o, s:I, s:s, s:I, s:o}", "hop_id", hop_id,
	                 "route", rt, "hop", (json_int_t)hop, "pad", pad_id,
	                 "at", (json_int_t)at, "items", items);
}

/*
 * Sends rl to route[hop], a peer of this KME (route[hop - 1]): 0 once that
 * KME answered 200 (every KME after it has the keys too), else -1 with a
 * 503 in r naming why and where.
 */
static int hop_send(struct qm_kme *k, struct relay *rl, size_t hop,
                    struct kme_reply *r)
{
	struct kme_link *l = kme_link_for_peer(k, rl->route[hop]);
	size_t plen = rl->total + MACKEYBYTES;
	unsigned char *pad = NULL, *ct = NULL, tag[TAGBYTES];
	unsigned char hid[16], pid[16];
	char hop_id[37], pad_id[37], d[QM_ERR_MSGMAX + 4 * KME_IDMAX];
	struct qm_buf head, b64, tb;
	json_t *body = NULL;
	struct qm_error e;
	uint64_t at;
	int ret = -1;
	long status = 0;
	char *text = NULL;
	struct qm_buf answer;

	qm_buf_init(&head, 1 << 20);
	qm_buf_init(&b64, 1 << 26);
	qm_buf_init(&tb, 64);
	qm_buf_init(&answer, 1 << 16);
	if (!l) {
		snprintf(d, sizeof(d),
		         "the route goes to %s, which is no peer "
		         "of KME %s",
		         rl->route[hop], k->conf.id);
		kme_api_error(r, 503, MSG_NOKEY, d);
		goto out;
	}
	pad = sec_get(plen);
	ct = malloc(rl->total ? rl->total : 1);
	if (!pad || !ct) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	kme_uuid_new(hid);
	kme_uuid_fmt(hid, hop_id);
	/* the pad: the next bytes of our reservoir for this link */
	if (rsv_take(k, l, plen, pad, pid, &at, r))
		goto out;
	kme_uuid_fmt(pid, pad_id);
	for (size_t i = 0; i < rl->total; i++)
		ct[i] = rl->keys[i] ^ pad[i];
	if (relay_head(&head, hop_id, hop, pad_id, at, rl, &e) ||
	    qm_b64_encode(ct, rl->total, &b64, &e)) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	mac(tag, &head, ct, rl->total, pad + rl->total);
	sodium_memzero(pad, plen);
	/* the operator's test hook: a byte changed on the way */
	if (__atomic_load_n(&k->relay_tamper, __ATOMIC_RELAXED) && b64.len)
		b64.data[0] = b64.data[0] == 'A' ? 'B' : 'A';
	body = relay_json(rl, hop_id, hop, pad_id, at);
	if (body && !qm_b64_encode(tag, TAGBYTES, &tb, &e) &&
	    !json_object_set_new(body, "tag",
	                         json_stringn((const char *)tb.data, tb.len)) &&
	    !json_object_set_new(
	        body, "ct",
	        json_stringn(b64.data ? (const char *)b64.data : "", b64.len)))
		text = json_dumps(body, JSON_COMPACT);
	if (!text) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	/* each hop further on may take its own round trips */
	if (kme_peer_relay_post(l, text,
	                        (long)k->conf.peer_timeout_ms *
	                            (long)(rl->nroute - hop),
	                        &status, &answer, &e) == QM_OK) {
		ret = 0;
		goto out;
	}
	/* the next KME's own refusal goes back as it is */
	{
		json_t *a = answer.len ? json_loadb((const char *)answer.data,
		                                    answer.len, 0, NULL)
		                       : NULL;
		const char *m =
		    json_string_value(json_object_get(a, "message"));
		json_t *det = json_array_get(json_object_get(a, "details"), 0);
		const char *dm =
		    json_string_value(json_object_get(det, "message"));
		char nopad[2 * KME_IDMAX];

		/* that KME lost our reservoir (it restarted): the next relay
		 * starts a new one */
		snprintf(nopad, sizeof(nopad), "relay: KME %s has no pad ",
		         l->peer->id);
		if (dm && strncmp(dm, nopad, strlen(nopad)) == 0) {
			pthread_mutex_lock(&l->lock);
			if (l->rsv && memcmp(l->rsv->id, pid, 16) == 0)
				rsv_drop(l);
			pthread_mutex_unlock(&l->lock);
		}
		if (status >= 400 && m) {
			snprintf(d, sizeof(d), "%s", dm ? dm : "");
			kme_api_error(r, 503, m, dm ? d : NULL);
		} else {
			snprintf(d, sizeof(d),
			         "relay: KME %s could not be reached: %s",
			         l->peer->id, e.msg);
			kme_api_error(r, 503, MSG_NOKEY, d);
		}
		json_decref(a);
	}
out:
	free(text);
	json_decref(body);
	sec_put(pad, plen);
	free(ct);
	qm_buf_free(&head);
	qm_buf_free(&b64);
	qm_buf_free(&tb);
	qm_buf_free(&answer);
	return ret;
}

/* ------------------------------------------------------------ batches */

/*
 * Relays to one KME wait here while one is on its way, and then go
 * together: one relay carries the keys of up to RELAY_ITEMS requests (each
 * with its own master, slaves and key IDs), so that a hop costs one
 * request and one tag for all of them.
 */
static int same_route(const struct relay *a, const struct relay *b)
{
	if (a->nroute != b->nroute)
		return 0;
	for (size_t i = 0; i < a->nroute; i++)
		if (strcmp(a->route[i], b->route[i]) != 0)
			return 0;
	return 1;
}

/* Relays the jobs' keys in one relay and tells each job how it went. */
static void batch_send(struct qm_kme *k, struct rjob **jobs, size_t n)
{
	struct relay *rl = jobs[0]->rl, *all = NULL;
	struct kme_reply fr;
	int ok;

	memset(&fr, 0, sizeof(fr));
	if (n > 1) {
		size_t at = 0;

		all = relay_new();
		if (all) {
			for (size_t j = 0; j < n; j++)
				all->total += jobs[j]->rl->total;
			all->keys = sec_get(all->total);
		}
		if (!all || !all->keys) {
			free(all);
			kme_api_error(&fr, 503, "out of memory on KME", NULL);
			ok = 0;
			goto told;
		}
		memcpy(all->route, rl->route,
		       rl->nroute * sizeof(rl->route[0]));
		all->nroute = rl->nroute;
		for (size_t j = 0; j < n; j++) {
			const struct relay *x = jobs[j]->rl;
			struct ritem *it = &all->items[all->nitems++];

			*it = x->items[0];
			it->k0 = all->nkeys;
			memcpy(all->ids[all->nkeys], x->ids,
			       x->nkeys * sizeof(x->ids[0]));
			memcpy(all->sizes + all->nkeys, x->sizes,
			       x->nkeys * sizeof(x->sizes[0]));
			all->nkeys += x->nkeys;
			memcpy(all->keys + at, x->keys, x->total);
			at += x->total;
		}
		rl = all;
	}
	ok = hop_send(k, rl, 1, &fr) == 0;
told:
	for (size_t j = 0; j < n; j++) {
		jobs[j]->ok = ok;
		if (ok)
			continue;
		jobs[j]->fail.status = fr.status;
		qm_buf_init(&jobs[j]->fail.body, KME_BODYMAX * 4);
		if (fr.body.data &&
		    qm_buf_append(&jobs[j]->fail.body, fr.body.data,
		                  fr.body.len, NULL))
			jobs[j]->fail.status = 500;
	}
	qm_buf_free(&fr.body);
	if (all) {
		sec_put(all->keys, all->total);
		free(all);
	}
}

/*
 * Relays job's keys to the KME at the end of its route (index t): joins
 * the relays waiting for that KME, and sends a batch of them itself
 * whenever none is on its way. Returns when job's relay is over.
 */
static void relay_batched(struct qm_kme *k, size_t t, struct rjob *job)
{
	struct rbatch *b = &k->rbatch[t];
	struct rjob **pp;

	pthread_mutex_lock(&b->mx);
	for (pp = &b->head; *pp; pp = &(*pp)->next)
		;
	*pp = job;
	while (!job->done) {
		struct rjob *take[RELAY_ITEMS] = {NULL};
		size_t n = 0, nkeys = 0;

		/* (our job may be on its way with another's batch) */
		if (b->busy >= RELAY_INFLIGHT || !b->head) {
			pthread_cond_wait(&b->cv, &b->mx);
			continue;
		}
		b->busy++;
		for (pp = &b->head; *pp && n < RELAY_ITEMS;) {
			struct rjob *j = *pp;

			if (n == 0 || (same_route(j->rl, take[0]->rl) &&
			               nkeys + j->rl->nkeys <= RELAY_KEYS)) {
				*pp = j->next;
				j->next = NULL;
				take[n++] = j;
				nkeys += j->rl->nkeys;
			} else {
				pp = &j->next;
			}
		}
		pthread_mutex_unlock(&b->mx);
		batch_send(k, take, n);
		pthread_mutex_lock(&b->mx);
		for (size_t i = 0; i < n; i++)
			take[i]->done = 1;
		b->busy--;
		pthread_cond_broadcast(&b->cv);
	}
	pthread_mutex_unlock(&b->mx);
}

/* ------------------------------------------------------------ enc_keys */

int kme_relay_wanted(struct qm_kme *k, const char *slave, const char *body,
                     size_t blen)
{
	const char *at = kme_conf_kme_of(&k->conf, slave);
	json_t *j, *v, *x;
	size_t i;
	int want = 0;

	if (!at || strcmp(at, k->conf.id) == 0)
		return 0;
	if (!kme_link_for_sae(k, slave))
		return 1; /* a KME with no link to this one */
	if (!body || qm_json_depth_check(body, blen, KME_JSONDEPTH, NULL))
		return 0;
	j = json_loadb(body, blen, 0, NULL);
	v = json_object_get(j, "additional_slave_SAE_IDs");
	/* multicast to slaves at more than one KME: relayed to each */
	json_array_foreach(v, i, x)
	{
		const char *o =
		    json_string_value(x)
		        ? kme_conf_kme_of(&k->conf, json_string_value(x))
		        : NULL;

		if (o && strcmp(o, at) != 0 && strcmp(o, k->conf.id) != 0)
			want = 1;
	}
	json_decref(j);
	return want;
}

void kme_relay_enc_keys(struct qm_kme *k, const char *caller, const char *slave,
                        const char *body, size_t blen, const char *q_number,
                        const char *q_size, struct kme_reply *r)
{
	struct relay *rl = relay_new();
	struct ritem *it;
	const char *targets[KME_MAXSLAVES];
	size_t ntargets = 0;
	struct keyreq q;
	json_t *jb = NULL;
	size_t klen;

	if (!rl) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		return;
	}
	if (body && !(jb = kme_api_parse_body(body, blen, r)))
		goto out;
	if (kme_parse_keyreq(k, NULL, slave, jb, q_number, q_size, &q, r))
		goto out;
	if (q.number > RELAY_KEYS) {
		kme_api_error(r, 400, MSG_PARAMS,
		              "at most 1024 relayed keys per request");
		goto out;
	}
	/* the KMEs of the slaves, each once */
	for (size_t i = 0; i < q.nslaves; i++) {
		const char *t = kme_conf_kme_of(&k->conf, q.slaves[i]);
		size_t j;

		for (j = 0; j < ntargets && strcmp(targets[j], t) != 0; j++)
			;
		if (j == ntargets)
			targets[ntargets++] = t;
	}
	klen = (size_t)q.size / 8;
	it = &rl->items[0];
	it->k0 = 0;
	rl->nitems = 1;
	qm_strlcpy(it->master, caller, sizeof(it->master));
	rl->nkeys = it->nk = (size_t)q.number;
	rl->total = klen * rl->nkeys;
	rl->keys = sec_get(rl->total);
	if (!rl->keys) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	/* the keys are made here, as QKD hardware's generator would */
	randombytes_buf(rl->keys, rl->total);
	for (size_t i = 0; i < rl->nkeys; i++) {
		unsigned char id[16];

		kme_uuid_new(id);
		kme_uuid_fmt(id, rl->ids[i]);
		rl->sizes[i] = klen;
	}
	/* the same keys to each KME, for its own slaves */
	for (size_t t = 0; t < ntargets; t++) {
		struct kme_route rt;
		struct qm_error e;
		struct rjob job;

		if (kme_net_route(k, targets[t], &rt, &e)) {
			char d[QM_ERR_MSGMAX + 64];

			snprintf(d, sizeof(d), "%s", e.msg);
			kme_api_error(r, 503, MSG_NOKEY, d);
			goto out;
		}
		rl->nroute = rt.n;
		for (size_t i = 0; i < rt.n; i++)
			memcpy(rl->route[i], rt.ids[i], KME_IDMAX);
		it->nslaves = 0;
		for (size_t i = 0; i < q.nslaves; i++)
			if (strcmp(kme_conf_kme_of(&k->conf, q.slaves[i]),
			           targets[t]) == 0)
				qm_strlcpy(it->slaves[it->nslaves++],
				           q.slaves[i], KME_IDMAX);
		memset(&job, 0, sizeof(job));
		job.rl = rl;
		relay_batched(k, (size_t)kme_net_index(k, targets[t]), &job);
		if (!job.ok) {
			r->status = job.fail.status;
			r->body = job.fail.body;
			r->chunk = 0;
			goto out;
		}
	}
	__atomic_add_fetch(&k->relayed_out, rl->nkeys, __ATOMIC_RELAXED);
	r->status = 200;
	if (kme_reply_secure(r, rl->total * 2 + rl->nkeys * 80 + 64) ||
	    qm_buf_append_str(&r->body, "{\"keys\":[", NULL))
		goto oom;
	for (size_t i = 0; i < rl->nkeys; i++) {
		unsigned char id[16];

		if (kme_uuid_parse(rl->ids[i], id) ||
		    kme_put_key(&r->body, i == 0, id, rl->keys + i * klen,
		                klen))
			goto oom;
	}
	if (qm_buf_append_str(&r->body, "]}", NULL))
		goto oom;
	goto out;
oom:
	qm_buf_free(&r->body);
	r->chunk = 0;
	kme_api_error(r, 503, "out of memory on KME", NULL);
out:
	json_decref(jb);
	sec_put(rl->keys, rl->total);
	free(rl);
}

/* ------------------------------------------------------------ a hop in */

/* A string member of at most KME_IDMAX - 1 printable bytes, or NULL. */
static const char *idstr(json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || !*s || strlen(s) >= KME_IDMAX)
		return NULL;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return NULL;
	return s;
}

/* Reads one item of a relay into rl (its keys after the ones there);
 * 0, or -1 when it is malformed. */
static int item_read(struct qm_kme *k, json_t *x, int last, struct relay *rl)
{
	struct ritem *it = &rl->items[rl->nitems];
	json_t *v;
	size_t i;

	it->nslaves = it->nk = 0;
	if (!idstr(json_object_get(x, "master")) ||
	    !json_is_array(json_object_get(x, "slaves")) ||
	    !json_is_array(json_object_get(x, "keys")) ||
	    json_array_size(json_object_get(x, "keys")) >
	        (size_t)k->conf.max_key_per_request)
		return -1;
	qm_strlcpy(it->master, json_string_value(json_object_get(x, "master")),
	           sizeof(it->master));
	json_array_foreach(json_object_get(x, "slaves"), i, v)
	{
		const char *s = idstr(v);

		if (!s || i >= KME_MAXSLAVES)
			return -1;
		qm_strlcpy(it->slaves[i], s, KME_IDMAX);
		it->nslaves = i + 1;
		/* at the end of the route every slave must be ours */
		if (last && !kme_conf_serves(&k->conf, s))
			return -1;
	}
	it->k0 = rl->nkeys;
	json_array_foreach(json_object_get(x, "keys"), i, v)
	{
		const char *s = json_string_value(json_object_get(v, "key_ID"));
		json_t *sz = json_object_get(v, "size");
		unsigned char id[16];

		if (rl->nkeys >= RELAY_KEYS || !s || kme_uuid_parse(s, id) ||
		    !json_is_integer(sz) ||
		    json_integer_value(sz) < k->conf.min_key_size ||
		    json_integer_value(sz) > k->conf.max_key_size ||
		    json_integer_value(sz) % 8)
			return -1;
		kme_uuid_fmt(id, rl->ids[rl->nkeys]);
		rl->sizes[rl->nkeys] = (size_t)json_integer_value(sz) / 8;
		rl->total += rl->sizes[rl->nkeys];
		rl->nkeys++;
		it->nk++;
	}
	if (!it->nslaves || !it->nk)
		return -1;
	rl->nitems++;
	return 0;
}

/* Keeps the keys of rl for our slaves; how many were new, or -1 when out
 * of memory. */
static long keep_keys(struct qm_kme *k, const struct relay *rl)
{
	int64_t now = qm_now();
	size_t kept = 0, at = 0;

	pthread_mutex_lock(&k->relayed.lock);
	for (size_t t = 0; t < rl->nitems; t++) {
		const struct ritem *it = &rl->items[t];

		for (size_t i = it->k0; i < it->k0 + it->nk; i++) {
			struct krel *y = calloc(1, sizeof(*y));

			if (!y || !(y->key = qm_sec_alloc(rl->sizes[i]))) {
				free(y);
				pthread_mutex_unlock(&k->relayed.lock);
				return -1;
			}
			memcpy(y->key, rl->keys + at, rl->sizes[i]);
			at += rl->sizes[i];
			if (kme_uuid_parse(rl->ids[i], y->id)) {
				krel_free(y);
				continue;
			}
			y->len = (uint32_t)rl->sizes[i];
			qm_strlcpy(y->master, it->master, sizeof(y->master));
			y->nslaves = (uint8_t)it->nslaves;
			for (size_t s = 0; s < it->nslaves; s++)
				y->slaves[s] = (uint8_t)kme_conf_sae_index(
				    &k->conf, it->slaves[s]);
			qm_strlcpy(y->from, rl->route[0], sizeof(y->from));
			y->hops = (uint8_t)(rl->nroute - 1);
			y->expires = k->conf.key_expiry_s
			                 ? now + k->conf.key_expiry_s
			                 : 0;
			kept += (size_t)krel_add(&k->relayed, y);
		}
	}
	pthread_mutex_unlock(&k->relayed.lock);
	return (long)kept;
}

void kme_api_peer_relay(struct qm_kme *k, const char *caller, const char *body,
                        size_t blen, struct kme_reply *r)
{
	struct kme_link *l = kme_link_for_peer(k, caller);
	struct relay *rl = NULL;
	json_t *jb = NULL, *v, *x;
	const char *hop_id, *pad_id, *ct64, *tag64;
	unsigned char hid[16], pid[16], tag[TAGBYTES], *pad = NULL;
	struct qm_buf ctb, tagb, head;
	struct qm_error e;
	char d[QM_ERR_MSGMAX + 4 * KME_IDMAX];
	size_t hop, i, plen = 0;
	uint64_t at;
	struct kpad *p;
	int last, got;

	qm_buf_init(&ctb, 1 << 26);
	qm_buf_init(&tagb, 64);
	qm_buf_init(&head, 1 << 20);
	if (!l) {
		kme_api_error(r, 401, "unauthorized", "not a peer KME");
		goto out;
	}
	if (!body || !(jb = kme_api_parse_body(body, blen, r)))
		goto out;
	rl = relay_new();
	if (!rl) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	hop_id = json_string_value(json_object_get(jb, "hop_id"));
	pad_id = json_string_value(json_object_get(jb, "pad"));
	v = json_object_get(jb, "hop");
	x = json_object_get(jb, "at");
	ct64 = json_string_value(json_object_get(jb, "ct"));
	tag64 = json_string_value(json_object_get(jb, "tag"));
	if (!hop_id || kme_uuid_parse(hop_id, hid) || !pad_id ||
	    kme_uuid_parse(pad_id, pid) || !json_is_integer(v) ||
	    !json_is_integer(x) || json_integer_value(x) < 0 || !ct64 ||
	    !tag64 || !json_is_array(json_object_get(jb, "route")) ||
	    !json_is_array(json_object_get(jb, "items")) ||
	    json_array_size(json_object_get(jb, "items")) == 0 ||
	    json_array_size(json_object_get(jb, "items")) > RELAY_ITEMS)
		goto bad;
	hop = (size_t)json_integer_value(v);
	at = (uint64_t)json_integer_value(x);
	json_array_foreach(json_object_get(jb, "route"), i, x)
	{
		const char *s = idstr(x);

		if (!s || i >= KME_NET_MAX || kme_net_index(k, s) < 0)
			goto bad;
		qm_strlcpy(rl->route[i], s, KME_IDMAX);
		rl->nroute = i + 1;
	}
	/* we are route[hop], the caller the KME before us */
	if (json_integer_value(v) < 1 || hop >= rl->nroute ||
	    strcmp(rl->route[hop], k->conf.id) != 0 ||
	    strcmp(rl->route[hop - 1], caller) != 0)
		goto bad;
	last = hop + 1 == rl->nroute;
	json_array_foreach(json_object_get(jb, "items"), i,
	                   x) if (item_read(k, x, last, rl)) goto bad;
	if (qm_b64_decode(ct64, strlen(ct64), &ctb, &e) ||
	    ctb.len != rl->total ||
	    qm_b64_decode(tag64, strlen(tag64), &tagb, &e) ||
	    tagb.len != TAGBYTES)
		goto bad;
	/* the pad: bytes of a reservoir announced through the link's queue */
	plen = rl->total + MACKEYBYTES;
	pad = sec_get(plen);
	rl->keys = sec_get(rl->total);
	if (!pad || !rl->keys) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	pthread_mutex_lock(&l->lock);
	/* a new reservoir comes through the link's queue, sent before the
	 * relay: it may be a moment behind */
	{
		uint64_t until = qm_mono_ns() +
		                 (uint64_t)k->conf.peer_timeout_ms * 1000000ull;

		while (!(p = kpad_find(l, pid)) && qm_mono_ns() < until &&
		       !k->stopping) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 20 * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&l->cond, &l->lock, &ts);
		}
	}
	/* used once: whatever the tag says, these bytes are gone */
	got = p && kpad_take(l, p, at, plen, pad) == 0;
	if (got)
		l->relay_bytes += plen;
	pthread_mutex_unlock(&l->lock);
	if (!got) {
		snprintf(d, sizeof(d),
		         "relay: KME %s has no pad %s+%llu from KME %s (never "
		         "announced, used already, or past its time)",
		         k->conf.id, pad_id, (unsigned long long)at, caller);
		kme_api_error(r, 503, MSG_NOKEY, d);
		goto out;
	}
	kme_mark_dirty(k);
	if (relay_head(&head, hop_id, hop, pad_id, at, rl, &e)) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	mac(tag, &head, ctb.data, ctb.len, pad + rl->total);
	if (sodium_memcmp(tag, tagb.data, TAGBYTES) != 0) {
		qm_log(QM_LOG_WARN,
		       "relay %s from KME %s failed its integrity check: "
		       "altered on the way; nothing kept or passed on",
		       hop_id, caller);
		__atomic_add_fetch(&k->relay_refused, 1, __ATOMIC_RELAXED);
		snprintf(d, sizeof(d),
		         "relay failed at KME %s: the keys from KME %s failed "
		         "their integrity check (altered between the two); "
		         "nothing was delivered",
		         k->conf.id, caller);
		kme_api_error(r, 503, MSG_NOKEY, d);
		goto out;
	}
	for (i = 0; i < rl->total; i++)
		rl->keys[i] = ctb.data[i] ^ pad[i];
	sodium_memzero(pad, plen);
	if (!last) {
		/* on to the next KME of the route, as we got it */
		if (hop_send(k, rl, hop + 1, r))
			goto out;
		__atomic_add_fetch(&k->relayed_via, rl->nkeys,
		                   __ATOMIC_RELAXED);
		kme_api_reply_json(r, 200, json_pack("{s:s}", "message", "ok"));
		goto out;
	}
	/* the end of the route: the keys wait here for the slaves */
	{
		long kept = keep_keys(k, rl);

		if (kept < 0) {
			kme_api_error(r, 503, "out of memory on KME", NULL);
			goto out;
		}
		__atomic_add_fetch(&k->relayed_in, (uint64_t)kept,
		                   __ATOMIC_RELAXED);
		kme_mark_dirty(k);
		kme_api_reply_json(r, 200,
		                   json_pack("{s:s, s:I}", "message", "ok",
		                             "kept", (json_int_t)kept));
	}
	goto out;
bad:
	kme_api_error(r, 400, "bad request format",
	              "a relay needs hop_id, route (this KME at hop, the "
	              "caller before it), pad and at, items with master, "
	              "slaves (served here at the end) and keys with key_ID "
	              "and size, ct and tag");
out:
	sec_put(pad, plen);
	if (rl)
		sec_put(rl->keys, rl->total);
	free(rl);
	json_decref(jb);
	qm_buf_free(&ctb);
	qm_buf_free(&tagb);
	qm_buf_free(&head);
}

/* ------------------------------------------------------------ dec_keys */

void kme_relay_dec_keys(struct qm_kme *k, const char *caller,
                        const char *master, unsigned char (*ids)[16], size_t n,
                        struct kme_reply *r)
{
	struct krel **found = calloc(n ? n : 1, sizeof(*found));
	int cidx = kme_conf_sae_index(&k->conf, caller);
	int missing = 0, denied = 0;
	size_t total = 0, far = 0;

	if (!found) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		return;
	}
	pthread_mutex_lock(&k->relayed.lock);
	for (size_t i = 0; i < n; i++) {
		struct krel *x = krel_find(&k->relayed, ids[i]);
		int slot = -1;

		if (x)
			for (uint32_t s = 0; s < x->nslaves; s++)
				if (x->slaves[s] == cidx)
					slot = (int)s;
		if (!x || (slot >= 0 && (x->fetched & (1u << slot))))
			missing = 1;
		else if (slot < 0 || strcmp(x->master, master) != 0)
			denied = 1;
		else {
			found[i] = x;
			total += x->len;
		}
	}
	if (missing || denied) {
		pthread_mutex_unlock(&k->relayed.lock);
		if (missing)
			kme_api_error(r, 400, MSG_NOTFOUND, NULL);
		else
			kme_api_error(r, 401, "unauthorized",
			              "one or more keys were not addressed to "
			              "this SAE by this master SAE");
		free(found);
		return;
	}
	r->status = 200;
	if (kme_reply_secure(r, total * 2 + n * 80 + 64) ||
	    qm_buf_append_str(&r->body, "{\"keys\":[", NULL))
		goto oom;
	for (size_t i = 0; i < n; i++)
		if (kme_put_key(&r->body, i == 0, found[i]->id, found[i]->key,
		                found[i]->len))
			goto oom;
	/* where the keys came from, and how many KMEs saw them on the way
	 * (ETSI 014's key_container_extension): the longest way any of them
	 * took, as the keys of one request may have taken different routes */
	for (size_t i = 1; i < n; i++)
		if (found[i]->hops > found[far]->hops)
			far = i;
	if (qm_buf_appendf(&r->body, NULL,
	                   "],\"key_container_extension\":{\"relayed\":true,"
	                   "\"source_KME_ID\":\"%s\",\"hops\":%u,"
	                   "\"trusted_nodes\":%u}}",
	                   found[far]->from, (unsigned)found[far]->hops,
	                   found[far]->hops ? (unsigned)found[far]->hops - 1u
	                                    : 0u))
		goto oom;
	/* delivered: gone for this SAE, and gone when every slave has it */
	for (size_t i = 0; i < n; i++) {
		struct krel *x = found[i];
		uint32_t all =
		    x->nslaves >= 32 ? 0xffffffffu : (1u << x->nslaves) - 1;

		for (uint32_t s = 0; s < x->nslaves; s++)
			if (x->slaves[s] == cidx)
				x->fetched |= 1u << s;
		if ((x->fetched & all) == all)
			krel_remove(&k->relayed, x->id);
	}
	pthread_mutex_unlock(&k->relayed.lock);
	kme_mark_dirty(k);
	free(found);
	return;
oom:
	pthread_mutex_unlock(&k->relayed.lock);
	qm_buf_free(&r->body);
	r->chunk = 0;
	kme_api_error(r, 503, "out of memory on KME", NULL);
	free(found);
}

int kme_relay_holds(struct qm_kme *k, const unsigned char id[16])
{
	int has;

	pthread_mutex_lock(&k->relayed.lock);
	has = krel_find(&k->relayed, id) != NULL;
	pthread_mutex_unlock(&k->relayed.lock);
	return has;
}

/* ------------------------------------------------------------ status */

void kme_relay_status(struct qm_kme *k, const char *caller, const char *slave,
                      struct kme_reply *r)
{
	const struct kme_conf *c = &k->conf;
	const char *target = kme_conf_kme_of(c, slave);
	long long kb = c->default_key_size / 8;
	struct kme_route rt;
	struct qm_error e;
	json_t *j, *ext, *route;
	uint64_t can = 0;

	ext = json_object();
	if (kme_net_route(k, target, &rt, &e) == QM_OK) {
		route = json_array();
		for (size_t i = 0; i < rt.n; i++)
			json_array_append_new(route, json_string(rt.ids[i]));
		json_object_set_new(ext, "route", route);
		json_object_set_new(ext, "hops",
		                    json_integer((json_int_t)rt.n - 1));
		json_object_set_new(ext, "trusted_nodes",
		                    json_integer((json_int_t)rt.n - 2));
		json_object_set_new(ext, "bottleneck_rate_bps",
		                    json_real(rt.bottleneck_rate));
		json_object_set_new(ext, "bottleneck_link",
		                    json_string(rt.bottleneck_link));
		/* every hop pays the key and a 32-byte MAC key */
		can = rt.bottleneck_bytes / (uint64_t)(kb + MACKEYBYTES);
	} else {
		json_object_set_new(ext, "route_error",
		                    json_string(qm_error_msg(&e)));
	}
	json_object_set_new(ext, "relayed", json_true());
	j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	              "source_KME_ID", c->id, "target_KME_ID", target,
	              "master_SAE_ID", caller, "slave_SAE_ID", slave,
	              "key_size", (json_int_t)c->default_key_size,
	              "stored_key_count", (json_int_t)can, "max_key_count",
	              (json_int_t)(c->pool_bytes / (kb + MACKEYBYTES)),
	              "max_key_per_request", (json_int_t)c->max_key_per_request,
	              "max_key_size", (json_int_t)c->max_key_size,
	              "min_key_size", (json_int_t)c->min_key_size,
	              "max_SAE_ID_count", (json_int_t)c->max_sae_id_count);
	json_object_set_new(j, "status_extension", ext);
	kme_api_reply_json(r, 200, j);
}

/* ------------------------------------------------------------ operator */

void kme_api_relay_tamper(struct qm_kme *k, const char *caller,
                          const char *body, size_t blen, struct kme_reply *r)
{
	json_t *jb, *v;

	if (!kme_conf_is_operator(&k->conf, caller)) {
		kme_api_error(r, 401, "unauthorized",
		              "the relay test hook needs an operator "
		              "certificate");
		return;
	}
	if (!body || !(jb = kme_api_parse_body(body, blen, r)))
		return;
	v = json_object_get(jb, "tamper");
	if (!json_is_boolean(v)) {
		json_decref(jb);
		kme_api_error(r, 400, "bad request format",
		              "tamper must be true or false");
		return;
	}
	__atomic_store_n(&k->relay_tamper, json_is_true(v), __ATOMIC_RELAXED);
	qm_log(QM_LOG_WARN, "relay test hook: keys this KME relays are %s",
	       json_is_true(v) ? "ALTERED on the way (a test)"
	                       : "sent as "
	                         "they are");
	json_decref(jb);
	kme_api_reply_json(r, 200,
	                   json_pack("{s:s, s:b}", "message", "ok", "tamper",
	                             json_is_true(v)));
}

void kme_relay_stats_json(struct qm_kme *k, void *obj)
{
	json_t *o = obj;

	pthread_mutex_lock(&k->relayed.lock);
	json_object_set_new(o, "relayed_keys_waiting",
	                    json_integer((json_int_t)k->relayed.count));
	pthread_mutex_unlock(&k->relayed.lock);
	json_object_set_new(o, "relayed_keys_sent",
	                    json_integer((json_int_t)__atomic_load_n(
	                        &k->relayed_out, __ATOMIC_RELAXED)));
	json_object_set_new(o, "relayed_keys_passed_on",
	                    json_integer((json_int_t)__atomic_load_n(
	                        &k->relayed_via, __ATOMIC_RELAXED)));
	json_object_set_new(o, "relayed_keys_received",
	                    json_integer((json_int_t)__atomic_load_n(
	                        &k->relayed_in, __ATOMIC_RELAXED)));
	json_object_set_new(o, "relays_refused",
	                    json_integer((json_int_t)__atomic_load_n(
	                        &k->relay_refused, __ATOMIC_RELAXED)));
}

/* ------------------------------------------------------------ at rest */

/* Strings as persist.c writes them: u16 length, bytes. */
static enum qm_err put_s(struct qm_buf *b, const char *s, struct qm_error *err)
{
	size_t n = strlen(s);
	enum qm_err rc = qm_buf_append_u16(b, (uint16_t)n, err);

	return rc ? rc : qm_buf_append(b, s, n, err);
}

static int get_s(struct qm_reader *r, char *out, size_t outlen)
{
	uint16_t n;
	const unsigned char *p;

	if (qm_reader_u16(r, &n) || n >= outlen || qm_reader_bytes(r, n, &p))
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

enum qm_err kme_relay_dump(struct qm_kme *k, struct qm_buf *b,
                           struct qm_error *err)
{
	enum qm_err rc;

	pthread_mutex_lock(&k->relayed.lock);
	rc = qm_buf_append(b, "RLY1", 4, err);
	if (!rc)
		rc = qm_buf_append_u32(b, (uint32_t)k->relayed.count, err);
	for (size_t i = 0; !rc && i < KREL_SLOTS; i++)
		for (struct krel *x = k->relayed.slots[i]; !rc && x;
		     x = x->next) {
			if ((rc = qm_buf_append(b, x->id, 16, err)) ||
			    (rc = put_s(b, x->master, err)) ||
			    (rc = put_s(b, x->from, err)) ||
			    (rc = qm_buf_append_byte(b, x->hops, err)) ||
			    (rc = qm_buf_append_u32(b, x->fetched, err)) ||
			    (rc = qm_buf_append_u64(b, (uint64_t)x->expires,
			                            err)) ||
			    (rc = qm_buf_append_byte(b, x->nslaves, err)))
				break;
			for (uint8_t s = 0; !rc && s < x->nslaves; s++)
				rc = put_s(b, k->conf.saes[x->slaves[s]], err);
			if (!rc)
				rc = qm_buf_append_u32(b, x->len, err);
			if (!rc)
				rc = qm_buf_append(b, x->key, x->len, err);
		}
	pthread_mutex_unlock(&k->relayed.lock);
	/* the unused runs of the peers' reservoirs: wiped at the next start,
	 * as the peers give those reservoirs up when we start again */
	if (!rc)
		rc = qm_buf_append(b, "PAD1", 4, err);
	if (!rc)
		rc = qm_buf_append_u32(b, (uint32_t)k->nlinks, err);
	for (size_t i = 0; !rc && i < k->nlinks; i++) {
		struct kme_link *l = &k->links[i];
		uint32_t n = 0;

		rc = put_s(b, l->peer->id, err);
		pthread_mutex_lock(&l->lock);
		for (struct kpad *p = l->pads; p; p = p->next)
			n++;
		if (!rc)
			rc = qm_buf_append_u32(b, n, err);
		for (struct kpad *p = l->pads; !rc && p; p = p->next)
			if (!(rc = qm_buf_append_u64(b, p->off, err)) &&
			    !(rc = qm_buf_append_u32(b, p->len, err)))
				rc = qm_buf_append(b, p->used, (p->len + 7) / 8,
				                   err);
		pthread_mutex_unlock(&l->lock);
	}
	return rc;
}

/* Wipes the unused bytes of the peers' reservoirs saved by
 * kme_relay_dump (only below the mirror's next: bytes past it are free
 * key, never a reservoir's). */
static enum qm_err pads_restore(struct qm_kme *k, struct qm_reader *r,
                                struct qm_error *err)
{
	const unsigned char *m;
	uint32_t nl;

	if (qm_reader_left(r) == 0)
		return QM_OK; /* a file from before reservoirs */
	if (qm_reader_bytes(r, 4, &m) || memcmp(m, "PAD1", 4) ||
	    qm_reader_u32(r, &nl))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "unknown section after the relayed keys");
	for (uint32_t i = 0; i < nl; i++) {
		char peer[KME_IDMAX];
		struct kme_link *l;
		uint32_t np;

		if (get_s(r, peer, sizeof(peer)) || qm_reader_u32(r, &np))
			goto bad;
		l = kme_link_for_peer(k, peer);
		for (uint32_t j = 0; j < np; j++) {
			struct kpad p;
			uint64_t off;
			const unsigned char *used;

			memset(&p, 0, sizeof(p));
			if (qm_reader_u64(r, &off) ||
			    qm_reader_u32(r, &p.len) || p.len > (1u << 24) ||
			    qm_reader_bytes(r, (p.len + 7) / 8, &used))
				goto bad;
			if (!l || off >= l->mirror.next)
				continue;
			if (p.len > l->mirror.next - off)
				p.len = (uint32_t)(l->mirror.next - off);
			p.off = off;
			p.used = (unsigned char *)(uintptr_t)used;
			kpad_release_unused(l, &p);
		}
	}
	return QM_OK;
bad:
	return qm_error_set(err, QM_ERR_PARSE,
	                    "the relay reservoirs are malformed");
}

enum qm_err kme_relay_restore(struct qm_kme *k, void *reader,
                              struct qm_error *err)
{
	struct qm_reader *r = reader;
	const unsigned char *m;
	uint32_t n;
	int64_t now = qm_now();

	if (qm_reader_left(r) == 0)
		return QM_OK; /* a file from before relays */
	if (qm_reader_bytes(r, 4, &m) || memcmp(m, "RLY1", 4) ||
	    qm_reader_u32(r, &n))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "unknown section after the links");
	for (uint32_t i = 0; i < n; i++) {
		struct krel *x = calloc(1, sizeof(*x));
		const unsigned char *p;
		uint64_t exp;
		uint8_t ns;
		int drop = 0;

		if (!x)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		if (qm_reader_bytes(r, 16, &p))
			goto bad;
		memcpy(x->id, p, 16);
		if (get_s(r, x->master, sizeof(x->master)) ||
		    get_s(r, x->from, sizeof(x->from)) ||
		    qm_reader_u8(r, &x->hops) ||
		    qm_reader_u32(r, &x->fetched) || qm_reader_u64(r, &exp) ||
		    qm_reader_u8(r, &ns) || ns > KME_MAXSLAVES)
			goto bad;
		x->expires = (int64_t)exp;
		for (uint8_t s = 0; s < ns; s++) {
			char name[KME_IDMAX];
			int at;

			if (get_s(r, name, sizeof(name)))
				goto bad;
			/* an SAE no longer served: its share is gone */
			at = kme_conf_sae_index(&k->conf, name);
			if (at < 0) {
				drop = 1;
				continue;
			}
			x->slaves[x->nslaves++] = (uint8_t)at;
		}
		if (qm_reader_u32(r, &x->len) || x->len > (1u << 20) ||
		    qm_reader_bytes(r, x->len, &p))
			goto bad;
		x->key = qm_sec_alloc(x->len ? x->len : 1);
		if (!x->key) {
			free(x);
			return qm_error_set(err, QM_ERR_NOMEM,
			                    "out of secure memory");
		}
		memcpy(x->key, p, x->len);
		if ((drop && !x->nslaves) || (x->expires && x->expires < now)) {
			krel_free(x);
			continue;
		}
		pthread_mutex_lock(&k->relayed.lock);
		krel_add(&k->relayed, x);
		pthread_mutex_unlock(&k->relayed.lock);
		continue;
	bad:
		free(x);
		return qm_error_set(err, QM_ERR_PARSE,
		                    "the relayed keys are malformed");
	}
	return pads_restore(k, r, err);
}
