/* SPDX-License-Identifier: MIT */
/*
 * Trusted-node key relay (issue 19): keys for a slave SAE at a KME with no
 * link to this one, carried hop by hop along a route (route.c).
 *
 * The master's KME makes the keys (libsodium's generator) and, for each
 * hop, the hop's sender takes total + 32 bytes of ITS direction of the
 * hop's link: a one-time pad for the keys and a one-time Poly1305 key.
 * It tells the receiver which bytes through the link's ordered queue (a
 * "relay pad", so that the receiver's view of the direction stays in
 * order with the reservations before it) and posts the keys XOR the pad
 * with the Poly1305 tag of the relay's header and ciphertext
 * (/kme/v1/peer/relay) on one of a few kept connections. The receiver
 * waits a moment for the pad if the queue has not brought it yet, takes
 * the same bytes from its mirror of that direction (once: they are
 * wiped), checks the tag in
 * constant time, and either passes the keys on to the next KME of the
 * route in the same way or, at the end, keeps them for the slaves. The
 * answer travels back; the master gets its keys only once the last KME
 * has them. Every KME on the way sees the keys: that is what trusting a
 * node means. A tag that does not match (the ciphertext changed between
 * two KMEs) stops the relay: 503 naming the hop, nothing kept.
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
#define PAD_TTL_S    60
#define KREL_SLOTS   4096

/* ------------------------------------------------------------ kept keys */

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
	if (!k->relayed.slots)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return QM_OK;
}

static void krel_free(struct krel *x)
{
	qm_sec_free(x->key);
	free(x);
}

void kme_relay_free(struct qm_kme *k)
{
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

/* ------------------------------------------------------------ the MAC */

/* What the tag covers besides the ciphertext: every field of the relay,
 * one per line (IDs hold no line breaks: they are checked). */
static enum qm_err relay_head(struct qm_buf *b, const char *hop_id,
                              char route[][KME_IDMAX], size_t nroute,
                              size_t hop, const char *master,
                              const char *const *slaves, size_t nslaves,
                              const char (*ids)[37], const size_t *sizes,
                              size_t nkeys, struct qm_error *err)
{
	enum qm_err rc =
	    qm_buf_appendf(b, err, "qkme relay v1\n%s\n%zu\n", hop_id, hop);

	for (size_t i = 0; !rc && i < nroute; i++)
		rc = qm_buf_appendf(b, err, "r %s\n", route[i]);
	if (!rc)
		rc = qm_buf_appendf(b, err, "m %s\n", master);
	for (size_t i = 0; !rc && i < nslaves; i++)
		rc = qm_buf_appendf(b, err, "s %s\n", slaves[i]);
	for (size_t i = 0; !rc && i < nkeys; i++)
		rc = qm_buf_appendf(b, err, "k %s %zu\n", ids[i], sizes[i]);
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

/* A relay on its way: the keys in clear (secure) and what names them. */
struct relay {
	char route[KME_NET_MAX][KME_IDMAX];
	size_t nroute;
	char master[KME_IDMAX];
	const char *slaves[KME_MAXSLAVES];
	char slavebuf[KME_MAXSLAVES][KME_IDMAX];
	size_t nslaves;
	char ids[1024][37]; /* max_key_per_request is at most this */
	size_t sizes[1024]; /* bytes */
	size_t nkeys;
	unsigned char *keys; /* secure, total bytes */
	size_t total;
};

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
	unsigned char hid[16];
	char hop_id[37], d[QM_ERR_MSGMAX + 4 * KME_IDMAX];
	struct qm_buf head, b64;
	json_t *res = NULL, *body = NULL;
	struct qm_error e;
	uint64_t off;
	int kick = 0, ret = -1;
	long status = 0;
	char *text = NULL;
	struct qm_buf answer;

	qm_buf_init(&head, 1 << 20);
	qm_buf_init(&b64, 1 << 26);
	qm_buf_init(&answer, 1 << 16);
	if (!l) {
		snprintf(d, sizeof(d),
		         "the route goes to %s, which is no peer "
		         "of KME %s",
		         rl->route[hop], k->conf.id);
		kme_api_error(r, 503, MSG_NOKEY, d);
		goto out;
	}
	pad = qm_sec_alloc(plen);
	ct = malloc(rl->total ? rl->total : 1);
	if (!pad || !ct) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	kme_uuid_new(hid);
	kme_uuid_fmt(hid, hop_id);
	/* the pad: the next bytes of our direction, announced in order */
	if (kme_own_take(k, l, plen, pad, &off, &kick, r))
		goto out;
	res =
	    json_pack("{s:b, s:[{s:s, s:I, s:I}]}", "relay", 1, "keys", "id",
	              hop_id, "off", (json_int_t)off, "len", (json_int_t)plen);
	if (!res || kme_peerq_submit(l->q, res, &e)) {
		pthread_mutex_unlock(&l->lock);
		res = NULL;
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	res = NULL;
	l->relay_bytes += plen;
	pthread_cond_broadcast(&l->cond); /* the link may refill now */
	pthread_mutex_unlock(&l->lock);
	if (kick)
		kme_peerq_kick(l->q);
	kme_mark_dirty(k);
	for (size_t i = 0; i < rl->total; i++)
		ct[i] = rl->keys[i] ^ pad[i];
	if (relay_head(&head, hop_id, rl->route, rl->nroute, hop, rl->master,
	               rl->slaves, rl->nslaves, (const char(*)[37])rl->ids,
	               rl->sizes, rl->nkeys, &e) ||
	    qm_b64_encode(ct, rl->total, &b64, &e)) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	mac(tag, &head, ct, rl->total, pad + rl->total);
	sodium_memzero(pad, plen);
	/* the operator's test hook: a byte changed on the way */
	if (__atomic_load_n(&k->relay_tamper, __ATOMIC_RELAXED) && b64.len)
		b64.data[0] = b64.data[0] == 'A' ? 'B' : 'A';
	{
		json_t *rt = json_array(), *sl = json_array(),
		       *keys = json_array();
		char t64[64];
		struct qm_buf tb;

		for (size_t i = 0; i < rl->nroute; i++)
			json_array_append_new(rt, json_string(rl->route[i]));
		for (size_t i = 0; i < rl->nslaves; i++)
			json_array_append_new(sl, json_string(rl->slaves[i]));
		for (size_t i = 0; i < rl->nkeys; i++)
			json_array_append_new(
			    keys,
			    json_pack("{s:s, s:I}", "key_ID", rl->ids[i],
			              "size", (json_int_t)rl->sizes[i] * 8));
		qm_buf_init(&tb, sizeof(t64));
		if (qm_b64_encode(tag, TAGBYTES, &tb, &e))
			tb.len = 0;
		snprintf(t64, sizeof(t64), "%.*s", (int)tb.len,
		         tb.data ? (const char *)tb.data : "");
		qm_buf_free(&tb);
		body = json_pack("{s:s, s:o, s:I, s:s, s:o, s:o, s:s%, s:s}",
		                 "hop_id", hop_id, "route", rt, "hop",
		                 (json_int_t)hop, "master", rl->master,
		                 "slaves", sl, "keys", keys, "ct",
		                 b64.data ? (const char *)b64.data : "",
		                 b64.len, "tag", t64);
	}
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
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
	json_decref(res);
	qm_sec_free(pad);
	free(ct);
	qm_buf_free(&head);
	qm_buf_free(&b64);
	qm_buf_free(&answer);
	return ret;
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
	struct relay *rl = calloc(1, sizeof(*rl));
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
	if (q.number > (long long)(sizeof(rl->ids) / sizeof(rl->ids[0]))) {
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
	qm_strlcpy(rl->master, caller, sizeof(rl->master));
	rl->nkeys = (size_t)q.number;
	rl->total = klen * rl->nkeys;
	rl->keys = qm_sec_alloc(rl->total);
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

		if (kme_net_route(k, targets[t], &rt, &e)) {
			char d[QM_ERR_MSGMAX + 64];

			snprintf(d, sizeof(d), "%s", e.msg);
			kme_api_error(r, 503, MSG_NOKEY, d);
			goto out;
		}
		rl->nroute = rt.n;
		for (size_t i = 0; i < rt.n; i++)
			memcpy(rl->route[i], rt.ids[i], KME_IDMAX);
		rl->nslaves = 0;
		for (size_t i = 0; i < q.nslaves; i++)
			if (strcmp(kme_conf_kme_of(&k->conf, q.slaves[i]),
			           targets[t]) == 0) {
				qm_strlcpy(rl->slavebuf[rl->nslaves],
				           q.slaves[i], KME_IDMAX);
				rl->slaves[rl->nslaves] =
				    rl->slavebuf[rl->nslaves];
				rl->nslaves++;
			}
		if (hop_send(k, rl, 1, r))
			goto out;
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
	qm_sec_free(rl->keys);
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

void kme_api_peer_relay(struct qm_kme *k, const char *caller, const char *body,
                        size_t blen, struct kme_reply *r)
{
	struct kme_link *l = kme_link_for_peer(k, caller);
	struct relay *rl = NULL;
	json_t *jb = NULL, *v, *x;
	const char *hop_id, *ct64, *tag64;
	unsigned char hid[16], tag[TAGBYTES], *pad = NULL;
	struct qm_buf ctb, tagb, head;
	struct qm_error e;
	char d[QM_ERR_MSGMAX + 4 * KME_IDMAX];
	size_t hop, i, plen;
	struct kres *p;
	int last;

	qm_buf_init(&ctb, 1 << 26);
	qm_buf_init(&tagb, 64);
	qm_buf_init(&head, 1 << 20);
	if (!l) {
		kme_api_error(r, 401, "unauthorized", "not a peer KME");
		goto out;
	}
	if (!body || !(jb = kme_api_parse_body(body, blen, r)))
		goto out;
	rl = calloc(1, sizeof(*rl));
	if (!rl) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	hop_id = json_string_value(json_object_get(jb, "hop_id"));
	v = json_object_get(jb, "hop");
	ct64 = json_string_value(json_object_get(jb, "ct"));
	tag64 = json_string_value(json_object_get(jb, "tag"));
	if (!hop_id || kme_uuid_parse(hop_id, hid) || !json_is_integer(v) ||
	    !ct64 || !tag64 || !idstr(json_object_get(jb, "master")) ||
	    !json_is_array(json_object_get(jb, "route")) ||
	    !json_is_array(json_object_get(jb, "slaves")) ||
	    !json_is_array(json_object_get(jb, "keys")))
		goto bad;
	hop = (size_t)json_integer_value(v);
	qm_strlcpy(rl->master, json_string_value(json_object_get(jb, "master")),
	           sizeof(rl->master));
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
	json_array_foreach(json_object_get(jb, "slaves"), i, x)
	{
		const char *s = idstr(x);

		if (!s || i >= KME_MAXSLAVES)
			goto bad;
		qm_strlcpy(rl->slavebuf[i], s, KME_IDMAX);
		rl->slaves[i] = rl->slavebuf[i];
		rl->nslaves = i + 1;
		/* at the end of the route every slave must be ours */
		if (last && !kme_conf_serves(&k->conf, s))
			goto bad;
	}
	if (!rl->nslaves)
		goto bad;
	json_array_foreach(json_object_get(jb, "keys"), i, x)
	{
		const char *s = json_string_value(json_object_get(x, "key_ID"));
		json_t *sz = json_object_get(x, "size");
		unsigned char id[16];

		if (i >= (size_t)k->conf.max_key_per_request ||
		    i >= sizeof(rl->ids) / sizeof(rl->ids[0]) || !s ||
		    kme_uuid_parse(s, id) || !json_is_integer(sz) ||
		    json_integer_value(sz) < k->conf.min_key_size ||
		    json_integer_value(sz) > k->conf.max_key_size ||
		    json_integer_value(sz) % 8)
			goto bad;
		kme_uuid_fmt(id, rl->ids[i]);
		rl->sizes[i] = (size_t)json_integer_value(sz) / 8;
		rl->total += rl->sizes[i];
		rl->nkeys = i + 1;
	}
	if (!rl->nkeys || qm_b64_decode(ct64, strlen(ct64), &ctb, &e) ||
	    ctb.len != rl->total ||
	    qm_b64_decode(tag64, strlen(tag64), &tagb, &e) ||
	    tagb.len != TAGBYTES)
		goto bad;
	/* the pad this relay names, announced through the link's queue */
	plen = rl->total + MACKEYBYTES;
	pad = qm_sec_alloc(plen);
	rl->keys = qm_sec_alloc(rl->total);
	if (!pad || !rl->keys) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	pthread_mutex_lock(&l->lock);
	/* the pad comes through the link's queue, sent before the relay:
	 * it may be a moment behind */
	{
		uint64_t until = qm_mono_ns() +
		                 (uint64_t)k->conf.peer_timeout_ms * 1000000ull;

		while (!(p = kme_kres_find(&l->pads, hid)) &&
		       qm_mono_ns() < until && !k->stopping) {
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
	if (!p || p->len != plen ||
	    kme_kstream_copy(&l->mirror, p->off, plen, pad, NULL)) {
		pthread_mutex_unlock(&l->lock);
		snprintf(d, sizeof(d),
		         "relay: KME %s has no pad %s from KME %s (never "
		         "announced, used already, or of another size)",
		         k->conf.id, hop_id, caller);
		kme_api_error(r, 503, MSG_NOKEY, d);
		goto out;
	}
	/* used once: whatever the tag says, these bytes are gone */
	kme_kstream_release(&l->mirror, p->off, plen);
	kme_kres_remove(&l->pads, hid);
	l->relay_bytes += plen;
	pthread_mutex_unlock(&l->lock);
	kme_mark_dirty(k);
	if (relay_head(&head, hop_id, rl->route, rl->nroute, hop, rl->master,
	               rl->slaves, rl->nslaves, (const char(*)[37])rl->ids,
	               rl->sizes, rl->nkeys, &e)) {
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
		int64_t now = qm_now();
		size_t kept = 0, at = 0;

		pthread_mutex_lock(&k->relayed.lock);
		for (i = 0; i < rl->nkeys; i++) {
			struct krel *y = calloc(1, sizeof(*y));

			if (!y || !(y->key = qm_sec_alloc(rl->sizes[i]))) {
				free(y);
				pthread_mutex_unlock(&k->relayed.lock);
				kme_api_error(r, 503, "out of memory on KME",
				              NULL);
				goto out;
			}
			if (kme_uuid_parse(rl->ids[i], y->id)) {
				krel_free(y);
				continue;
			}
			memcpy(y->key, rl->keys + at, rl->sizes[i]);
			at += rl->sizes[i];
			y->len = (uint32_t)rl->sizes[i];
			qm_strlcpy(y->master, rl->master, sizeof(y->master));
			y->nslaves = (uint8_t)rl->nslaves;
			for (size_t s = 0; s < rl->nslaves; s++)
				y->slaves[s] = (uint8_t)kme_conf_sae_index(
				    &k->conf, rl->slaves[s]);
			qm_strlcpy(y->from, rl->route[0], sizeof(y->from));
			y->hops = (uint8_t)(rl->nroute - 1);
			y->expires = k->conf.key_expiry_s
			                 ? now + k->conf.key_expiry_s
			                 : 0;
			kept += (size_t)krel_add(&k->relayed, y);
		}
		pthread_mutex_unlock(&k->relayed.lock);
		__atomic_add_fetch(&k->relayed_in, kept, __ATOMIC_RELAXED);
		kme_mark_dirty(k);
		kme_api_reply_json(r, 200,
		                   json_pack("{s:s, s:I}", "message", "ok",
		                             "kept", (json_int_t)kept));
	}
	goto out;
bad:
	kme_api_error(r, 400, "bad request format",
	              "a relay needs hop_id, route (this KME at hop, the "
	              "caller before it), master, slaves (served here at the "
	              "end), keys with key_ID and size, ct and tag");
out:
	qm_sec_free(pad);
	if (rl)
		qm_sec_free(rl->keys);
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
	return rc;
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
	return QM_OK;
}
