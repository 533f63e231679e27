/* SPDX-License-Identifier: MIT */
/*
 * The ETSI GS QKD 014 V1.1.1 methods (Get status, Get key, Get key with
 * key IDs) and the KME-to-KME and operator endpoints, independent of the
 * HTTP server: each takes the authenticated caller (certificate CN) and the
 * request, and fills a reply. Key containers are written by hand into
 * secure memory so that key bytes never sit in an ordinary heap string.
 */
#include "private.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MSG_NOTFOUND "one or more keys specified are not found on KME"
#define MSG_PARAMS "requested parameters do not adhere to KME specifications"

void kme_api_reply_json(struct kme_reply *r, unsigned status, void *json)
{
	json_t *j = json;
	char *s = json_dumps(j, JSON_COMPACT);

	r->status = status;
	qm_buf_init(&r->body, KME_BODYMAX * 4);
	if (!s || qm_buf_append_str(&r->body, s, NULL)) {
		r->status = 500;
		qm_buf_reset(&r->body);
	}
	free(s);
	json_decref(j);
}

void kme_api_error(struct kme_reply *r, unsigned status, const char *msg,
                   const char *detail)
{
	json_t *j = json_object();

	json_object_set_new(j, "message", json_string(msg));
	if (detail) {
		json_t *d = json_object();
		json_object_set_new(d, "message", json_string(detail));
		json_object_set_new(j, "details", json_pack("[o]", d));
	}
	kme_api_reply_json(r, status, j);
}

int kme_reply_secure(struct kme_reply *r, size_t need)
{
	if (need < KME_CHUNK) {
		memset(&r->body, 0, sizeof(r->body));
		r->body.data = kme_chunk_get();
		if (!r->body.data)
			return -1;
		r->body.cap = KME_CHUNK;
		r->body.max = KME_CHUNK - 1;
		r->body.secure = 1;
		r->chunk = 1;
		return 0;
	}
	qm_buf_init_secure(&r->body, need);
	r->chunk = 0;
	return 0;
}

/* Releases a reply body that will not be sent. */
static void reply_drop(struct kme_reply *r)
{
	if (r->chunk)
		kme_chunk_put(r->body.data);
	else
		qm_buf_free(&r->body);
	memset(&r->body, 0, sizeof(r->body));
	r->chunk = 0;
}

/* The link whose peer serves sae, or NULL. */
struct kme_link *kme_link_for_sae(struct qm_kme *k, const char *sae)
{
	for (size_t i = 0; i < k->nlinks; i++) {
		const struct kme_peer_conf *p = k->links[i].peer;
		for (size_t j = 0; j < p->nsaes; j++)
			if (strcmp(p->saes[j], sae) == 0)
				return &k->links[i];
	}
	return NULL;
}

struct kme_link *kme_link_for_peer(struct qm_kme *k, const char *peer_id)
{
	for (size_t i = 0; i < k->nlinks; i++)
		if (strcmp(k->links[i].peer->id, peer_id) == 0)
			return &k->links[i];
	return NULL;
}

static int not_served(struct qm_kme *k, const char *caller,
                      struct kme_reply *r)
{
	char d[KME_IDMAX + 80];

	if (kme_conf_serves(&k->conf, caller))
		return 0;
	snprintf(d, sizeof(d), "SAE \"%s\" is not served by KME %s", caller,
	         k->conf.id);
	kme_api_error(r, 401, "unauthorized", d);
	return 1;
}

/* Bytes this KME could still hand to its masters on link l if the peer
 * went down now (lock held): the pool up to the limit the peer recorded. */
static uint64_t peer_down_reserve(const struct kme_link *l)
{
	uint64_t n = kme_kstream_avail(&l->own);
	uint64_t left =
	    l->granted > l->own.next ? l->granted - l->own.next : 0;

	if (!l->confirmed || l->realign)
		return 0;
	return n < left ? n : left;
}

/* status_extension: the link's health as the simulator measures it. */
void kme_link_stats_json(struct kme_link *l, const struct kme_conf *c,
                         void *obj)
{
	json_t *o = obj;
	double fill =
	    (double)kme_kstream_avail(&l->own) / (double)c->pool_bytes;

	json_object_set_new(o, "qber", json_real(l->stats.qber));
	json_object_set_new(o, "qber_alarm", json_boolean(l->stats.alarm));
	json_object_set_new(o, "qber_threshold", json_real(c->bb84_alarm));
	json_object_set_new(o, "key_rate_bps", json_real(l->stats.rate_bps));
	json_object_set_new(o, "pool_fill", json_real(fill > 1 ? 1 : fill));
	json_object_set_new(
	    o, "pool_bytes",
	    json_integer((json_int_t)kme_kstream_avail(&l->own)));
	json_object_set_new(o, "reserved_keys",
	                    json_integer((json_int_t)l->res.count));
	json_object_set_new(o, "eavesdropper", json_real(l->stats.eve));
	json_object_set_new(o, "link_blocks",
	                    json_integer((json_int_t)l->stats.blocks));
	json_object_set_new(o, "link_runner", json_boolean(l->i_am_lower));
	json_object_set_new(o, "peer_reachable", json_boolean(l->stats.peer_up));
	json_object_set_new(o, "link_confirmed", json_boolean(l->confirmed));
	json_object_set_new(o, "peer_down_reserve_bytes",
	                    json_integer((json_int_t)peer_down_reserve(l)));
	if (l->alarm[0])
		json_object_set_new(o, "state_alarm", json_string(l->alarm));
}

/* Bytes this KME can hand to its masters on link l now (lock held): none
 * before the peer has confirmed the link, and while the peer cannot record
 * a higher limit, no more than the limit it recorded. */
static uint64_t servable(const struct kme_link *l)
{
	uint64_t n = kme_kstream_avail(&l->own);

	if (!l->confirmed || l->realign)
		return 0;
	if (l->grant_failing) {
		uint64_t left = l->granted > l->own.next
		                        ? l->granted - l->own.next
		                        : 0;
		n = n < left ? n : left;
	}
	return n;
}

void kme_api_status(struct qm_kme *k, const char *caller, const char *slave,
                    struct kme_reply *r)
{
	const struct kme_conf *c = &k->conf;
	struct kme_link *l;
	json_t *j, *ext;
	long long kb = c->default_key_size / 8;

	if (not_served(k, caller, r))
		return;
	l = kme_link_for_sae(k, slave);
	if (!l && kme_conf_kme_of(c, slave) &&
	    strcmp(kme_conf_kme_of(c, slave), c->id) != 0) {
		kme_relay_status(k, caller, slave, r); /* relay.c */
		return;
	}
	if (!l) {
		kme_api_error(r, 400, MSG_PARAMS,
		              "slave_SAE_ID is not known to this KME");
		return;
	}
	ext = json_object();
	pthread_mutex_lock(&l->lock);
	j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	              "source_KME_ID", c->id, "target_KME_ID", l->peer->id,
	              "master_SAE_ID", caller, "slave_SAE_ID", slave,
	              "key_size", (json_int_t)c->default_key_size,
	              "stored_key_count",
	              (json_int_t)(servable(l) / (uint64_t)kb),
	              "max_key_count", (json_int_t)(c->pool_bytes / kb),
	              "max_key_per_request",
	              (json_int_t)c->max_key_per_request, "max_key_size",
	              (json_int_t)c->max_key_size, "min_key_size",
	              (json_int_t)c->min_key_size, "max_SAE_ID_count",
	              (json_int_t)c->max_sae_id_count);
	kme_link_stats_json(l, c, ext);
	pthread_mutex_unlock(&l->lock);
	json_object_set_new(j, "status_extension", ext);
	kme_api_reply_json(r, 200, j);
}

/* Parses a decimal query value; -1 when malformed or out of range. */
static long long query_int(const char *s)
{
	long long v;

	if (qm_parse_ll(s, 0, 1LL << 40, &v, NULL))
		return -1;
	return v;
}

/* Fills q from the body or the query; 0, or a reply was set. The
 * additional slaves must be served where the slave is: over link l, or
 * (l NULL) by the remote KME of the slave. */
int kme_parse_keyreq(struct qm_kme *k, struct kme_link *l, const char *slave,
                     void *body_json, const char *qn, const char *qs,
                     struct keyreq *q, struct kme_reply *r)
{
	json_t *body = body_json;
	const struct kme_conf *c = &k->conf;

	q->number = 1;
	q->size = c->default_key_size;
	q->slaves[0] = slave;
	q->nslaves = 1;
	if (body) {
		json_t *v;
		const char *key;

		json_object_foreach(body, key, v) {
			if (strcmp(key, "number") == 0) {
				if (!json_is_integer(v)) {
					kme_api_error(r, 400, MSG_PARAMS,
					              "number must be an integer");
					return -1;
				}
				q->number = json_integer_value(v);
			} else if (strcmp(key, "size") == 0) {
				if (!json_is_integer(v)) {
					kme_api_error(r, 400, MSG_PARAMS,
					              "size must be an integer");
					return -1;
				}
				q->size = json_integer_value(v);
			} else if (strcmp(key, "additional_slave_SAE_IDs") == 0) {
				size_t i;
				json_t *e;
				if (!json_is_array(v)) {
					kme_api_error(r, 400, MSG_PARAMS,
					              "additional_slave_SAE_IDs must "
					              "be an array of strings");
					return -1;
				}
				if (json_array_size(v) >
				    (size_t)c->max_sae_id_count) {
					kme_api_error(r, 400, MSG_PARAMS,
					              "additional_slave_SAE_IDs has "
					              "more entries than "
					              "max_SAE_ID_count");
					return -1;
				}
				json_array_foreach(v, i, e) {
					const char *s = json_string_value(e);
					if (!s) {
						kme_api_error(r, 400, MSG_PARAMS,
						              "additional_slave_SAE_"
						              "IDs must be an array "
						              "of strings");
						return -1;
					}
					if (l ? kme_link_for_sae(k, s) != l
					      : !kme_conf_kme_of(&k->conf, s) ||
					            strcmp(kme_conf_kme_of(
					                       &k->conf, s),
					                   k->conf.id) == 0) {
						kme_api_error(
						    r, 400, MSG_PARAMS,
						    l ? "every additional "
						        "slave SAE must be "
						        "served by the same "
						        "KME as the slave SAE"
						      : "every additional "
						        "slave SAE must be "
						        "served by a KME of "
						        "the network other "
						        "than this one");
						return -1;
					}
					for (size_t t = 0; t < q->nslaves; t++)
						if (strcmp(q->slaves[t], s) == 0) {
							kme_api_error(
								r, 400, MSG_PARAMS,
								"a slave SAE is "
								"named twice");
							return -1;
						}
					q->slaves[q->nslaves++] = s;
				}
			} else if (strcmp(key, "extension_mandatory") == 0) {
				if (!json_is_array(v)) {
					kme_api_error(r, 400, MSG_PARAMS,
					              "extension_mandatory must be "
					              "an array");
					return -1;
				}
				if (json_array_size(v) > 0) {
					kme_api_error(r, 400,
					              "not all extension_mandatory "
					              "parameters are supported",
					              NULL);
					return -1;
				}
			}
			/* extension_optional and unknown members: ignored */
		}
	} else {
		if (qn && (q->number = query_int(qn)) < 0) {
			kme_api_error(r, 400, MSG_PARAMS,
			              "number must be a positive integer");
			return -1;
		}
		if (qs && (q->size = query_int(qs)) < 0) {
			kme_api_error(r, 400, MSG_PARAMS,
			              "size must be a positive integer");
			return -1;
		}
	}
	if (q->size % 8) {
		kme_api_error(r, 400, "size shall be a multiple of 8", NULL);
		return -1;
	}
	if (q->number < 1 || q->number > c->max_key_per_request) {
		kme_api_error(r, 400, MSG_PARAMS,
		              "number must be between 1 and "
		              "max_key_per_request");
		return -1;
	}
	if (q->size < c->min_key_size || q->size > c->max_key_size) {
		kme_api_error(r, 400, MSG_PARAMS,
		              "size must be between min_key_size and "
		              "max_key_size");
		return -1;
	}
	return 0;
}

/* Appends {"key_ID":..., "key":...} to a secure container body. */
enum qm_err kme_put_key(struct qm_buf *b, int first, const unsigned char id[16],
                        const unsigned char *key, size_t len)
{
	char ids[37];
	enum qm_err rc;

	kme_uuid_fmt(id, ids);
	if ((rc = qm_buf_append_str(b, first ? "{\"key_ID\":\"" :
	                                       ",{\"key_ID\":\"",
	                            NULL)) ||
	    (rc = qm_buf_append_str(b, ids, NULL)) ||
	    (rc = qm_buf_append_str(b, "\",\"key\":\"", NULL)) ||
	    (rc = qm_b64_encode(key, len, b, NULL)) ||
	    (rc = qm_buf_append_str(b, "\"}", NULL)))
		return rc;
	return QM_OK;
}

void *kme_api_parse_body(const char *body, size_t blen, struct kme_reply *r)
{
	json_error_t je;
	json_t *j;
	struct qm_error e;

	/* ETSI 014 bodies nest three or four levels; extensions a few more */
	if (qm_json_depth_check(body, blen, KME_JSONDEPTH, &e) != QM_OK) {
		char d[200];
		snprintf(d, sizeof(d), "%.190s", qm_error_msg(&e));
		kme_api_error(r, 400, "bad request format", d);
		return NULL;
	}
	j = json_loadb(body, blen, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		char d[200];
		snprintf(d, sizeof(d), "malformed JSON: %.150s", je.text);
		kme_api_error(r, 400, "bad request format", d);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		kme_api_error(r, 400, "bad request format",
		              "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/*
 * Takes total bytes at the next offset of l's own direction (for our
 * masters, or a relay's pad), copies them into bytes and wipes them from
 * the pool: 0 with the link lock HELD (the caller queues what tells the
 * peer under it) and *off set; else -1 with a 503 reply in r and the lock
 * not held. *kick is set when the peer should record a higher limit soon.
 */
int kme_own_take(struct qm_kme *k, struct kme_link *l, size_t total,
                 unsigned char *bytes, uint64_t *offp, int *kickp,
                 struct kme_reply *r)
{
	struct qm_error e;
	uint64_t off;

	for (int attempt = 0;; attempt++) {
		char d[QM_ERR_MSGMAX + 2 * KME_IDMAX + 200];

		pthread_mutex_lock(&l->lock);
		if (!l->confirmed || l->realign) {
			pthread_mutex_unlock(&l->lock);
			if (l->confirmed)
				snprintf(d, sizeof(d),
				         "KME %s restarted; this KME compares "
				         "the pools with it before it hands out "
				         "keys again",
				         l->peer->id);
			else
				snprintf(d, sizeof(d),
				         "KME %s has not yet confirmed how far "
				         "this KME's pool was used since it "
				         "started (is KME %s running?); no key of "
				         "this link is handed out before",
				         l->peer->id, l->peer->id);
			kme_api_error(r, 503, "not enough key material on KME",
			              d);
			return -1;
		}
		if (kme_kstream_avail(&l->own) < total ||
		    (off = kme_kstream_take_point(&l->own, total)) ==
		        UINT64_MAX) {
			pthread_mutex_unlock(&l->lock);
			kme_api_error(r, 503, "not enough key material on KME",
			              l->stats.alarm
			                  ? "the QKD link is in QBER alarm and "
			                    "produces no key"
			                  : "the pool is refilling; try again "
			                    "later");
			return -1;
		}
		if (off + total <= l->granted)
			break; /* keeps the lock */
		pthread_mutex_unlock(&l->lock);
		/* the peer must record a higher limit first (rare: a thread
		 * keeps it ahead of use) */
		if (attempt >= 2 || kme_grant_raise(k, l, off + total, &e)) {
			snprintf(d, sizeof(d),
			         "KME %s must record how far this KME's pool "
			         "is used before more keys are handed out, and "
			         "it cannot now: %s",
			         l->peer->id,
			         attempt >= 2 ? "other requests took the new "
			                        "limit first; try again"
			                      : e.msg);
			kme_api_error(r, 503, "not enough key material on KME",
			              d);
			return -1;
		}
	}
	if (kme_kstream_copy(&l->own, off, total, bytes, &e)) {
		pthread_mutex_unlock(&l->lock);
		kme_api_error(r, 503, "key pool error on KME", e.msg);
		return -1;
	}
	kme_kstream_release(&l->own, off, total);
	l->own.next = off + total;
	l->own_used = qm_mono_ns();
	if (l->own.next + kme_grant_step(k) / 2 > l->granted)
		*kickp = 1;
	*offp = off;
	return 0;
}

void kme_api_enc_keys(struct qm_kme *k, const char *caller, const char *slave,
                      const char *body, size_t blen, const char *q_number,
                      const char *q_size, struct kme_reply *r)
{
	struct kme_link *l;
	struct keyreq q;
	json_t *jb = NULL, *res = NULL, *keys;
	unsigned char *bytes = NULL, (*ids)[16] = NULL;
	struct qm_error e;
	size_t klen, total = 0;
	uint64_t off;
	int kick = 0;

	if (not_served(k, caller, r))
		return;
	l = kme_link_for_sae(k, slave);
	if (kme_relay_wanted(k, slave, body, blen)) {
		/* at a KME with no link to this one, or multicast to slaves
		 * at several KMEs: relayed (relay.c) */
		kme_relay_enc_keys(k, caller, slave, body, blen, q_number,
		                   q_size, r);
		return;
	}
	if (!l) {
		kme_api_error(r, 400, MSG_PARAMS,
		              "slave_SAE_ID is not known to this KME");
		return;
	}
	if (body && !(jb = kme_api_parse_body(body, blen, r)))
		return;
	if (kme_parse_keyreq(k, l, slave, jb, q_number, q_size, &q, r))
		goto out;
	klen = (size_t)q.size / 8;
	total = klen * (size_t)q.number;
	bytes = total <= KME_CHUNK ? kme_chunk_get() : qm_sec_alloc(total);
	ids = calloc((size_t)q.number, sizeof(*ids));
	res = json_object();
	keys = json_array();
	if (!bytes || !ids || !res || !keys) {
		json_decref(keys);
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	json_object_set_new(res, "master", json_string(caller));
	{
		json_t *sl = json_array();
		for (size_t i = 0; i < q.nslaves; i++)
			json_array_append_new(sl, json_string(q.slaves[i]));
		json_object_set_new(res, "slaves", sl);
	}
	json_object_set_new(res, "keys", keys);
	if (kme_own_take(k, l, total, bytes, &off, &kick, r))
		goto out;
	for (long long i = 0; i < q.number; i++) {
		kme_uuid_new(ids[i]);
		char s[37];
		kme_uuid_fmt(ids[i], s);
		json_array_append_new(
			keys, json_pack("{s:s, s:I, s:I}", "id", s, "off",
		                        (json_int_t)(off + (uint64_t)i * klen),
		                        "len", (json_int_t)klen));
	}
	/* the peer learns the key IDs in the background, in order; a slave
	 * asking before they arrive makes its KME pull them (dec_keys) */
	if (kme_peerq_submit(l->q, res, &e)) {
		res = NULL;
		pthread_mutex_unlock(&l->lock);
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	res = NULL;
	pthread_cond_broadcast(&l->cond); /* the link may refill now */
	pthread_mutex_unlock(&l->lock);
	if (kick)
		kme_peerq_kick(l->q); /* raise the limit ahead of use */
	kme_mark_dirty(k);
	r->status = 200;
	if (kme_reply_secure(r, total * 2 + (size_t)q.number * 80 + 64) ||
	    qm_buf_append_str(&r->body, "{\"keys\":[", NULL))
		goto oom;
	for (long long i = 0; i < q.number; i++)
		if (kme_put_key(&r->body, i == 0, ids[i],
		                bytes + (size_t)i * klen, klen))
			goto oom;
	if (qm_buf_append_str(&r->body, "]}", NULL))
		goto oom;
	goto out;
oom:
	reply_drop(r);
	kme_api_error(r, 503, "out of memory on KME", NULL);
out:
	if (bytes && total <= KME_CHUNK)
		kme_chunk_put(bytes);
	else
		qm_sec_free(bytes);
	free(ids);
	json_decref(res);
	json_decref(jb);
}

/* Finds every key ID for the SAE of index caller (a slave of the master
 * of index master on l); counts what is missing or not addressed to the
 * caller. Link lock held. */
static void lookup(struct kme_link *l, unsigned char (*ids)[16], size_t n,
                   int caller, int master, struct kres **found, size_t *total,
                   int *missing, int *denied)
{
	for (size_t i = 0; i < n; i++) {
		struct kres *x = kme_kres_find(&l->res, ids[i]);
		int slot = -1;

		found[i] = NULL;
		if (x)
			for (uint32_t s = 0; s < x->nslaves; s++)
				if (x->slaves[s] == caller)
					slot = (int)s;
		if (!x || (slot >= 0 && (x->fetched & (1u << slot)))) {
			*missing = 1;
		} else if (slot < 0 || x->master != master) {
			*denied = 1;
		} else {
			found[i] = x;
			*total += x->len;
		}
	}
}

void kme_api_dec_keys(struct qm_kme *k, const char *caller, const char *master,
                      const char *body, size_t blen, const char *q_keyid,
                      struct kme_reply *r)
{
	struct kme_link *l;
	json_t *jb = NULL;
	unsigned char (*ids)[16] = NULL;
	struct kres **found = NULL;
	size_t n = 0, total = 0;
	unsigned char *bytes = NULL;
	int denied = 0, missing = 0, unreachable = 0, cidx, midx;

	if (not_served(k, caller, r))
		return;
	if (body) {
		json_t *arr, *e;
		size_t i;

		if (!(jb = kme_api_parse_body(body, blen, r)))
			return;
		arr = json_object_get(jb, "key_IDs");
		if (!json_is_array(arr) || json_array_size(arr) == 0) {
			kme_api_error(r, 400, "bad request format",
			              "key_IDs must be a non-empty array");
			goto out;
		}
		if (json_array_size(arr) > (size_t)k->conf.max_key_per_request) {
			kme_api_error(r, 400, MSG_PARAMS,
			              "more key_IDs than max_key_per_request");
			goto out;
		}
		ids = calloc(json_array_size(arr), sizeof(*ids));
		if (!ids) {
			kme_api_error(r, 503, "out of memory on KME", NULL);
			goto out;
		}
		json_array_foreach(arr, i, e) {
			const char *s = json_string_value(
				json_object_get(e, "key_ID"));
			if (!json_is_object(e) || !s ||
			    kme_uuid_parse(s, ids[n])) {
				kme_api_error(r, 400, "bad request format",
				              "each key_IDs entry needs a "
				              "key_ID that is a UUID string");
				goto out;
			}
			n++;
		}
	} else {
		if (!q_keyid) {
			kme_api_error(r, 400, "bad request format",
			              "key_ID is missing");
			goto out;
		}
		ids = calloc(1, sizeof(*ids));
		if (!ids || kme_uuid_parse(q_keyid, ids[0])) {
			kme_api_error(r, 400, "bad request format",
			              "key_ID must be a UUID string");
			goto out;
		}
		n = 1;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (memcmp(ids[i], ids[j], 16) == 0) {
				kme_api_error(r, 400, "bad request format",
				              "a key_ID is named twice");
				goto out;
			}
	l = kme_link_for_sae(k, master);
	if ((!l && kme_conf_kme_of(&k->conf, master) &&
	     strcmp(kme_conf_kme_of(&k->conf, master), k->conf.id) != 0) ||
	    (l && kme_relay_holds(k, ids[0]))) {
		/* keys relayed to us (from a KME with no link to this one,
		 * or multicast from a linked one to slaves at several KMEs) */
		kme_relay_dec_keys(k, caller, master, ids, n, r);
		goto out;
	}
	if (!l) {
		kme_api_error(r, 400, MSG_NOTFOUND,
		              "master_SAE_ID is not known to this KME");
		goto out;
	}
	/* both served (not_served, kme_link_for_sae): reservations name
	 * SAEs by these indexes */
	cidx = kme_conf_sae_index(&k->conf, caller);
	midx = kme_peer_sae_index(l->peer, master);
	found = calloc(n, sizeof(*found));
	if (!found) {
		kme_api_error(r, 503, "out of memory on KME", NULL);
		goto out;
	}
	for (int attempt = 0;; attempt++) {
		pthread_mutex_lock(&l->lock);
		total = 0;
		missing = denied = 0;
		lookup(l, ids, n, cidx, midx, found, &total, &missing, &denied);
		if (!missing || attempt == 1)
			break;
		pthread_mutex_unlock(&l->lock);
		/* the keys may still be on their way from the master's KME:
		 * ask it to deliver what it has queued for us, then look again */
		if (kme_peer_post_json(k, l, "/kme/v1/peer/flush", "{}", NULL)) {
			unreachable = 1;
			pthread_mutex_lock(&l->lock);
			total = 0;
			missing = denied = 0;
			lookup(l, ids, n, cidx, midx, found, &total, &missing,
			       &denied);
			break;
		}
	}
	if (missing || denied) {
		pthread_mutex_unlock(&l->lock);
		if (missing && unreachable) {
			/* the IDs may still be in the peer's queue: "not
			 * found" would tell the slave they never will be */
			char d[2 * KME_IDMAX + 200];

			snprintf(d, sizeof(d),
			         "the keys may still be on their way from KME "
			         "%s, which cannot be reached now; try again "
			         "later",
			         l->peer->id);
			kme_api_error(r, 503, "keys not yet on this KME", d);
		} else if (missing)
			kme_api_error(r, 400, MSG_NOTFOUND, NULL);
		else
			kme_api_error(r, 401, "unauthorized",
			              "one or more keys were not addressed to "
			              "this SAE by this master SAE");
		goto out;
	}
	bytes = total <= KME_CHUNK ? kme_chunk_get() : qm_sec_alloc(total);
	r->status = 200;
	if (!bytes || kme_reply_secure(r, total * 2 + n * 80 + 64) ||
	    qm_buf_append_str(&r->body, "{\"keys\":[", NULL)) {
		pthread_mutex_unlock(&l->lock);
		goto oom;
	}
	for (size_t i = 0, at = 0; i < n; i++) {
		struct kres *x = found[i];
		if (kme_kstream_copy(&l->mirror, x->off, x->len, bytes + at,
		                     NULL) ||
		    kme_put_key(&r->body, i == 0, x->id, bytes + at, x->len)) {
			/* nothing was marked yet for this key: stop here */
			pthread_mutex_unlock(&l->lock);
			goto oom;
		}
		at += x->len;
	}
	/* every key could be delivered: now destroy them for this SAE */
	for (size_t i = 0; i < n; i++) {
		struct kres *x = found[i];
		uint32_t all = (x->nslaves >= 32) ? 0xffffffffu
		                                  : ((1u << x->nslaves) - 1);
		for (uint32_t s = 0; s < x->nslaves; s++)
			if (x->slaves[s] == cidx)
				x->fetched |= 1u << s;
		if ((x->fetched & all) == all) {
			kme_kstream_release(&l->mirror, x->off, x->len);
			kme_kres_remove(&l->res, x->id);
		}
	}
	pthread_mutex_unlock(&l->lock);
	kme_mark_dirty(k);
	if (qm_buf_append_str(&r->body, "]}", NULL))
		goto oom;
	goto out;
oom:
	reply_drop(r);
	kme_api_error(r, 503, "out of memory on KME", NULL);
out:
	if (bytes && total <= KME_CHUNK)
		kme_chunk_put(bytes);
	else
		qm_sec_free(bytes);
	free(found);
	free(ids);
	json_decref(jb);
}

/* ---------------------------------------------------- KME-to-KME endpoints */

struct pres {
	unsigned char id[16];
	uint64_t off;
	uint32_t len;
};

void kme_api_peer_reserve(struct qm_kme *k, const char *caller,
                          const char *body, size_t blen, struct kme_reply *r)
{
	struct kme_link *l = kme_link_for_peer(k, caller);
	json_t *jb, *arr, *e, *ans;
	size_t i;
	int64_t now = qm_now();
	unsigned skipped = 0, added = 0, missing = 0;

	if (!l) {
		kme_api_error(r, 401, "unauthorized", "not a peer KME");
		return;
	}
	if (!body || !(jb = kme_api_parse_body(body, blen, r)))
		return;
	arr = json_object_get(jb, "reservations");
	if (!json_is_array(arr)) {
		kme_api_error(r, 400, "bad request format",
		              "reservations must be an array");
		json_decref(jb);
		return;
	}
	/*
	 * Each key is applied on its own and the whole call is idempotent: a
	 * batch resent after a lost answer or a restart finds its keys known
	 * (same offset) or already used up (below next) and skips them.
	 */
	pthread_mutex_lock(&l->lock);
	json_array_foreach(arr, i, e) {
		json_t *keys = json_object_get(e, "keys"), *kk;
		json_t *sl = json_object_get(e, "slaves"), *se;
		const char *m = json_string_value(json_object_get(e, "master"));
		size_t j;
		int ok = 1;

		if (json_is_true(json_object_get(e, "relay"))) {
			/* a pad reservoir for relays the peer will send */
			if (kme_relay_take_pads(k, l, keys, now) < 0)
				goto oom;
			added++;
			continue;
		}

		if (!m || strlen(m) >= KME_IDMAX || !json_is_array(keys) ||
		    !json_is_array(sl) || json_array_size(sl) == 0 ||
		    json_array_size(sl) > KME_MAXSLAVES ||
		    kme_link_for_sae(k, m) != l)
			ok = 0;
		json_array_foreach(sl, j, se) {
			const char *s = json_string_value(se);
			if (!s || strlen(s) >= KME_IDMAX ||
			    !kme_conf_serves(&k->conf, s))
				ok = 0;
		}
		if (!ok) {
			skipped += (unsigned)json_array_size(keys);
			qm_log(QM_LOG_WARN,
			       "peer %s sent a reservation for SAEs this KME "
			       "does not serve: ignored",
			       caller);
			continue;
		}
		json_array_foreach(keys, j, kk) {
			unsigned char id[16];
			json_int_t off = json_integer_value(
				json_object_get(kk, "off"));
			json_int_t len = json_integer_value(
				json_object_get(kk, "len"));
			struct kres *x;

			if (kme_uuid_parse(
			        json_string_value(json_object_get(kk, "id")),
			        id) ||
			    off < 0 || len <= 0 || len > (1 << 20) ||
			    (uint64_t)off + (uint64_t)len > l->mirror.end ||
			    (uint64_t)off < l->mirror.next ||
			    kme_kres_find(&l->res, id)) {
				skipped++;
				continue;
			}
			/* bytes this KME lost (it restarted behind the link):
			 * the key cannot be delivered, never map it */
			if (!kme_kstream_has(&l->mirror, (uint64_t)off,
			                     (size_t)len)) {
				missing++;
				skipped++;
				continue;
			}
			x = calloc(1, sizeof(*x));
			if (!x)
				goto oom;
			memcpy(x->id, id, 16);
			x->off = (uint64_t)off;
			x->len = (uint32_t)len;
			x->nslaves = (uint8_t)json_array_size(sl);
			for (uint32_t s = 0; s < x->nslaves; s++)
				x->slaves[s] = (uint8_t)kme_conf_sae_index(
				    &k->conf,
				    json_string_value(json_array_get(sl, s)));
			x->master = (uint8_t)kme_peer_sae_index(l->peer, m);
			x->expires = k->conf.key_expiry_s
			                     ? now + k->conf.key_expiry_s
			                     : 0;
			if (kme_kres_add(&l->res, x, NULL)) {
				free(x);
				goto oom;
			}
			/* bytes the peer skipped die here */
			if (x->off > l->mirror.next)
				kme_kstream_release(
				    &l->mirror, l->mirror.next,
				    (size_t)(x->off - l->mirror.next));
			l->mirror.next = x->off + x->len;
			l->mirror_used = qm_mono_ns();
			added++;
		}
	}
	if (missing)
		qm_log(QM_LOG_WARN,
		       "link %s: %u key(s) of KME %s use bytes this KME no "
		       "longer has (it restarted behind the link): their slaves "
		       "cannot fetch them",
		       l->peer->id, missing, l->peer->id);
	ans = json_pack("{s:s, s:I, s:i, s:i}", "message", "ok", "next",
	                (json_int_t)l->mirror.next, "added", (int)added,
	                "skipped", (int)skipped);
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	json_decref(jb);
	if (added)
		kme_mark_dirty(k);
	kme_api_reply_json(r, 200, ans);
	return;
oom:
	pthread_mutex_unlock(&l->lock);
	json_decref(jb);
	kme_api_error(r, 503, "out of memory on KME", NULL);
}

void kme_api_peer_flush(struct qm_kme *k, const char *caller,
                        struct kme_reply *r)
{
	struct kme_link *l = kme_link_for_peer(k, caller);
	struct qm_error e;

	if (!l) {
		kme_api_error(r, 401, "unauthorized", "not a peer KME");
		return;
	}
	if (kme_peerq_flush(l->q, k->conf.peer_timeout_ms, &e)) {
		kme_api_error(r, 503, "reservations not delivered", e.msg);
		return;
	}
	kme_api_error(r, 200, "ok", NULL);
}

void kme_api_peer_block(struct qm_kme *k, const char *caller,
                        const char *q_lo_off, const char *q_lo_len,
                        const char *q_hi_off, const char *q_hi_len,
                        const char *q_stats, const char *q_blk,
                        const unsigned char *p, size_t len,
                        struct kme_reply *r)
{
	struct kme_link *l = kme_link_for_peer(k, caller);
	long long lo_off, lo_len, hi_off, hi_len, blk;
	double qber = 0, rate = 0, eve = 0;
	int alarm = 0;
	unsigned long long blocks = 0;
	uint64_t lo_had = 0, hi_had = 0;

	if (!l || l->i_am_lower) {
		kme_api_error(r, 401, "unauthorized",
		              "not the peer KME that runs this link");
		return;
	}
	if (qm_parse_ll(q_lo_off ? q_lo_off : "", 0, 1LL << 62, &lo_off,
	                NULL) ||
	    qm_parse_ll(q_lo_len ? q_lo_len : "", 0, 1 << 26, &lo_len, NULL) ||
	    qm_parse_ll(q_hi_off ? q_hi_off : "", 0, 1LL << 62, &hi_off,
	                NULL) ||
	    qm_parse_ll(q_hi_len ? q_hi_len : "", 0, 1 << 26, &hi_len, NULL) ||
	    qm_parse_ll(q_blk ? q_blk : "", 0, 1LL << 62, &blk, NULL) ||
	    (size_t)(lo_len + hi_len) != len || !q_stats ||
	    sscanf(q_stats, "%lf,%d,%lf,%lf,%llu", &qber, &alarm, &rate, &eve,
	           &blocks) != 5) {
		kme_api_error(r, 400, "bad request format",
		              "malformed key block");
		return;
	}
	/* what we had before this block: nothing missing unless applied */
	lo_had = (uint64_t)lo_off;
	hi_had = (uint64_t)hi_off;
	pthread_mutex_lock(&l->lock);
	/* the lower KME's direction is our mirror, the higher is ours */
	if (len && (uint64_t)blk != l->last_blk) {
		/* the runner is behind us (it restarted from older pools):
		 * what it lacks we drop too, and it moves to our ends over a
		 * hole and sends a new block */
		if ((uint64_t)lo_off < l->mirror.end ||
		    (uint64_t)hi_off < l->own.end) {
			json_t *j;

			kme_kstream_cut(&l->mirror, (uint64_t)lo_off);
			kme_kstream_cut(&l->own, (uint64_t)hi_off);
			j = json_pack(
				"{s:s, s:I, s:I}", "message",
				"key block out of sequence", "lo_end",
				(json_int_t)l->mirror.end, "hi_end",
				(json_int_t)l->own.end);
			pthread_mutex_unlock(&l->lock);
			kme_api_reply_json(r, 409, j);
			return;
		}
		/* we are behind (we restarted from older pools): the bytes in
		 * between are lost here, a hole that our allocation skips and
		 * reservations cannot use; the answer tells the runner what we
		 * lack so that it never uses those bytes either */
		lo_had = l->mirror.end;
		hi_had = l->own.end;
		if (kme_kstream_append_fresh(&l->mirror, (uint64_t)lo_off, p,
		                             (size_t)lo_len, NULL) ||
		    kme_kstream_append_fresh(&l->own, (uint64_t)hi_off,
		                             p + lo_len, (size_t)hi_len,
		                             NULL)) {
			pthread_mutex_unlock(&l->lock);
			kme_api_error(r, 503, "out of memory on KME", NULL);
			return;
		}
		if (lo_had < (uint64_t)lo_off || hi_had < (uint64_t)hi_off)
			qm_log(QM_LOG_WARN,
			       "link %s: this KME restarted behind the link; "
			       "bytes up to offsets %lld/%lld it never got are "
			       "skipped on both sides",
			       l->peer->id, lo_off, hi_off);
		l->last_blk = (uint64_t)blk;
	}
	l->stats.qber = qber;
	l->stats.alarm = alarm;
	l->stats.rate_bps = rate;
	l->stats.eve = eve;
	l->stats.blocks = blocks;
	l->stats.peer_up = 1;
	l->stats.last_block = qm_now();
	pthread_mutex_unlock(&l->lock);
	if (len)
		kme_mark_dirty(k);
	kme_api_reply_json(r, 200,
	                   json_pack("{s:s, s:I, s:I}", "message", "ok",
	                             "lo_had", (json_int_t)lo_had, "hi_had",
	                             (json_int_t)hi_had));
}

/* ------------------------------------------------------------ operator */

void kme_api_eve(struct qm_kme *k, const char *caller, int from_peer,
                 const char *body, size_t blen, struct kme_reply *r)
{
	json_t *jb, *v;
	double f;
	char fwd[64], only[KME_IDMAX] = "";

	if (from_peer ? !kme_link_for_peer(k, caller)
	              : !kme_conf_is_operator(&k->conf, caller)) {
		kme_api_error(r, 401, "unauthorized",
		              "the eavesdropper control needs an operator "
		              "certificate");
		return;
	}
	if (!body || !(jb = kme_api_parse_body(body, blen, r)))
		return;
	v = json_object_get(jb, "eavesdropper");
	if (!json_is_number(v) || json_number_value(v) < 0 ||
	    json_number_value(v) > 1) {
		json_decref(jb);
		kme_api_error(r, 400, "bad request format",
		              "eavesdropper must be a number in [0, 1] (the "
		              "fraction of photons intercepted)");
		return;
	}
	f = json_number_value(v);
	/* the operator may name one link (its peer); else every link */
	v = json_object_get(jb, "peer");
	if (!from_peer && v &&
	    (!json_is_string(v) ||
	     !kme_link_for_peer(k, json_string_value(v)))) {
		json_decref(jb);
		kme_api_error(r, 400, "bad request format",
		              "peer must name a peer KME of this one");
		return;
	}
	if (!from_peer && v)
		qm_strlcpy(only, json_string_value(v), sizeof(only));
	json_decref(jb);
	snprintf(fwd, sizeof(fwd), "{\"eavesdropper\":%.6f}", f);
	for (size_t i = 0; i < k->nlinks; i++) {
		struct kme_link *l = &k->links[i];
		if (from_peer && strcmp(l->peer->id, caller) != 0)
			continue;
		if (only[0] && strcmp(l->peer->id, only) != 0)
			continue;
		if (l->i_am_lower) {
			pthread_mutex_lock(&l->lock);
			l->stats.eve = f;
			pthread_cond_broadcast(&l->cond);
			pthread_mutex_unlock(&l->lock);
		} else if (!from_peer) {
			struct qm_error e;
			if (kme_peer_post_json(k, l, "/kme/v1/peer/eve", fwd,
			                       &e)) {
				char d[QM_ERR_MSGMAX + 256];
				snprintf(d, sizeof(d), "peer %s: %s",
				         l->peer->id, e.msg);
				kme_api_error(r, 503,
				              "could not reach the KME that "
				              "runs the link",
				              d);
				return;
			}
		}
	}
	qm_log(QM_LOG_INFO, "eavesdropper set to %.3f by %s%s%s", f, caller,
	       only[0] ? " on the link to " : "", only);
	kme_api_stats(k, caller, r);
}

void kme_api_stats(struct qm_kme *k, const char *caller, struct kme_reply *r)
{
	json_t *j, *links;

	if (!kme_conf_is_operator(&k->conf, caller) &&
	    !kme_link_for_peer(k, caller)) {
		kme_api_error(r, 401, "unauthorized",
		              "link statistics need an operator certificate");
		return;
	}
	j = json_object();
	links = json_object();
	json_object_set_new(j, "kme_id", json_string(k->conf.id));
	for (size_t i = 0; i < k->nlinks; i++) {
		json_t *o = json_object();
		pthread_mutex_lock(&k->links[i].lock);
		kme_link_stats_json(&k->links[i], &k->conf, o);
		json_object_set_new(o, "peer_pool_bytes",
		                    json_integer((json_int_t)kme_kstream_avail(
		                        &k->links[i].mirror)));
		kme_relay_link_stats(&k->links[i], o);
		pthread_mutex_unlock(&k->links[i].lock);
		json_object_set_new(links, k->links[i].peer->id, o);
	}
	json_object_set_new(j, "links", links);
	kme_relay_stats_json(k, j);
	kme_api_reply_json(r, 200, j);
}
