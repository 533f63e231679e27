/* SPDX-License-Identifier: MIT */
/*
 * The account's KME as a person sees it: reachable or why not, the pool
 * towards a peer SAE, and the QKD link's figures (QBER, key rate, the
 * eavesdropping alarm) from the ETSI status_extension.
 */
#include "private.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The first number among the names in ext (an object), or -1. */
static double ext_number(json_t *ext, const char *const *names)
{
	for (; *names; names++) {
		json_t *v = json_object_get(ext, *names);
		if (json_is_number(v))
			return json_number_value(v);
	}
	return -1;
}

/* Reads the link figures out of a status_extension object. qkme puts them
 * at the top or under "link"; other KMEs' names are tried as well. */
static void ext_read(const char *text, struct qm_client_kme *out)
{
	static const char *const qber[] = {"qber", "QBER", "last_qber", NULL};
	static const char *const rate[] = {"key_rate_bps", "key_rate",
	                                   "secret_key_rate", NULL};
	json_t *root, *link, *a;
	json_error_t je;

	out->qber = -1;
	out->key_rate_bps = -1;
	if (!text[0])
		return;
	root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(root))
		goto out;
	link = json_object_get(root, "link");
	if (!json_is_object(link))
		link = root;
	out->qber = ext_number(link, qber);
	out->key_rate_bps = ext_number(link, rate);
	a = json_object_get(link, "alarm");
	if (!a)
		a = json_object_get(link, "qber_alarm");
	if (!a)
		a = json_object_get(root, "alarm");
	out->alarm = json_is_true(a) ||
	             (json_is_integer(a) && json_integer_value(a) != 0);
	/* a relayed peer: the route and the trusted nodes on it */
	out->relayed = json_is_true(json_object_get(root, "relayed"));
	{
		json_t *rt = json_object_get(root, "route"), *x;
		const char *s;
		size_t i;

		json_array_foreach(rt, i, x)
		{
			if (!(s = json_string_value(x)) ||
			    out->nroute >=
			        sizeof(out->route) / sizeof(out->route[0]))
				break;
			qm_strlcpy(out->route[out->nroute++], s,
			           sizeof(out->route[0]));
		}
		a = json_object_get(root, "trusted_nodes");
		out->trusted_nodes =
		    json_is_integer(a) && json_integer_value(a) >= 0 &&
		            json_integer_value(a) < 1000
		        ? (int)json_integer_value(a)
		        : (out->nroute > 2 ? (int)out->nroute - 2 : 0);
		s = json_string_value(json_object_get(root, "bottleneck_link"));
		qm_strlcpy(out->bottleneck_link, s ? s : "",
		           sizeof(out->bottleneck_link));
		s = json_string_value(json_object_get(root, "route_error"));
		qm_strlcpy(out->route_error, s ? s : "",
		           sizeof(out->route_error));
	}
out:
	json_decref(root);
}

/* The SAE ID to ask the status for: the first contact with an SAE ID. */
static void default_peer(struct qm_client *c, int64_t account_id,
                         const char *own, char *out, size_t outlen)
{
	struct qm_store_contact *cs = NULL;
	size_t n = 0;

	qm_strlcpy(out, own, outlen);
	if (qm_store_contact_list(c->store, account_id, &cs, &n, NULL))
		return;
	for (size_t i = 0; i < n; i++) {
		if (cs[i].sae_id[0] && cs[i].confirmed) {
			qm_strlcpy(out, cs[i].sae_id, outlen);
			break;
		}
	}
	free(cs);
}

enum qm_err qm_client_kme_status(struct qm_client *c, int64_t account_id,
                                 const char *peer_sae,
                                 struct qm_client_kme *out,
                                 struct qm_error *err)
{
	struct acct_conn ac;
	struct qm_kms *k = NULL;
	struct qm_kms_status st;
	struct qm_error e;
	enum qm_err rc;
	int no_peer = 0;

	memset(out, 0, sizeof(*out));
	out->qber = -1;
	out->key_rate_bps = -1;
	rc = client_acct_conn_load(c, account_id, &ac, err);
	if (rc)
		return rc;
	qm_strlcpy(out->url, ac.a.kme_url, sizeof(out->url));
	if (peer_sae && *peer_sae)
		qm_strlcpy(out->peer_sae, peer_sae, sizeof(out->peer_sae));
	else
		default_peer(c, account_id, ac.a.sae_id, out->peer_sae,
		             sizeof(out->peer_sae));
	no_peer = strcmp(out->peer_sae, ac.a.sae_id) == 0;
	qm_error_clear(&e);
	rc = client_acct_kms_new(&ac, &k, &e);
	if (!rc)
		rc = qm_kms_status_get(k, out->peer_sae, &st, &e);
	if (rc == QM_ERR_PROTO && no_peer) {
		/* the KME answered over mutual TLS and knows this SAE, but a
		 * pool only exists towards a peer: none is known yet */
		out->reachable = 1;
		snprintf(out->message, sizeof(out->message),
		         "mutual TLS ok; no contact with an SAE ID yet, so no "
		         "key pool to show (a pool is shared with a contact's "
		         "SAE); the KME said: %.200s",
		         qm_error_msg(&e));
		out->hint = QM_HINT_CONTACT_SAE_MISSING;
		goto done;
	}
	if (rc) {
		qm_strlcpy(out->message, qm_error_msg(&e), sizeof(out->message));
		goto done;
	}
	out->reachable = 1;
	out->key_size = st.key_size;
	out->stored_key_count = st.stored_key_count;
	out->max_key_count = st.max_key_count;
	out->max_key_per_request = st.max_key_per_request;
	out->max_key_size = st.max_key_size;
	out->pool_bytes = st.stored_key_count * (st.key_size / 8);
	qm_strlcpy(out->extension, st.extension, sizeof(out->extension));
	ext_read(st.extension, out);
done:
	qm_kms_free(&k);
	client_acct_conn_free(&ac);
	return QM_OK;
}

enum qm_err qm_client_kme_route(struct qm_client *c, int64_t account_id,
                                const char *address, struct qm_client_kme *out,
                                struct qm_error *err)
{
	struct qm_store_contact ct;
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	rc = qm_client_contact_get(c, account_id, address, &ct, err);
	if (rc == QM_ERR_NOTFOUND)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "%s is not a contact of this account; add "
		                    "the contact with its SAE ID first",
		                    address);
	if (rc)
		return rc;
	if (!ct.sae_id[0])
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "no SAE ID is known for %s: levels 1 and 2 "
		                    "need one (set it on the contact)",
		                    address);
	return qm_client_kme_status(c, account_id, ct.sae_id, out, err);
}

/* Adds id to the network's KMEs once. */
static void net_kme(struct qm_client_kme_net *n, const char *id)
{
	for (size_t i = 0; i < n->nkmes; i++)
		if (strcmp(n->kmes[i], id) == 0)
			return;
	if (n->nkmes < QM_CLIENT_NET_MAX)
		qm_strlcpy(n->kmes[n->nkmes++], id, sizeof(n->kmes[0]));
}

/* A non-negative JSON number, or 0. */
static double nonneg(json_t *v)
{
	double d = json_number_value(v);

	return d > 0 && d < 1e18 ? d : 0;
}

enum qm_err qm_client_kme_network(struct qm_client *c, int64_t account_id,
                                  struct qm_client_kme_net *out,
                                  struct qm_error *err)
{
	struct acct_conn ac;
	struct qm_kms *k = NULL;
	struct qm_buf body;
	json_t *root = NULL, *x;
	enum qm_err rc;
	size_t i;

	memset(out, 0, sizeof(*out));
	rc = client_acct_conn_load(c, account_id, &ac, err);
	if (rc)
		return rc;
	qm_buf_init(&body, 1 << 20);
	rc = client_acct_kms_new(&ac, &k, err);
	if (!rc)
		rc = qm_kms_network_get(k, &body, err);
	if (rc == QM_ERR_PROTO && qm_kms_last_status(k) == 404)
		rc = qm_error_set(err, QM_ERR_UNSUPPORTED,
		                  "the KME at %s shows no network view (it is "
		                  "not qkme, or an older one)",
		                  ac.a.kme_url);
	if (rc)
		goto out;
	root = json_loadb((const char *)body.data, body.len,
	                  JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root)) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "the KME at %s sent a network view that is "
		                  "not a JSON object",
		                  ac.a.kme_url);
		goto out;
	}
	/* names from the KME are shown: bounded, nothing else trusted */
	if (json_string_value(json_object_get(root, "kme_id")))
		qm_strlcpy(out->kme_id,
		           json_string_value(json_object_get(root, "kme_id")),
		           sizeof(out->kme_id));
	if (out->kme_id[0])
		net_kme(out, out->kme_id);
	json_array_foreach(json_object_get(root, "routes"), i, x)
	{
		const char *to = json_string_value(json_object_get(x, "to"));

		if (to)
			net_kme(out, to);
	}
	json_array_foreach(json_object_get(root, "links"), i, x)
	{
		struct qm_client_kme_link *l;
		const char *a = json_string_value(json_object_get(x, "a"));
		const char *b = json_string_value(json_object_get(x, "b"));
		const char *st = json_string_value(json_object_get(x, "state"));

		if (!a || !b || out->nlinks >= QM_CLIENT_NET_MAX)
			continue;
		l = &out->links[out->nlinks++];
		qm_strlcpy(l->a, a, sizeof(l->a));
		qm_strlcpy(l->b, b, sizeof(l->b));
		net_kme(out, a);
		net_kme(out, b);
		l->up = json_is_true(json_object_get(x, "up"));
		l->alarm = json_is_true(json_object_get(x, "alarm"));
		l->qber = nonneg(json_object_get(x, "qber"));
		l->rate_bps = nonneg(json_object_get(x, "rate_bps"));
		l->avail_ab = (uint64_t)nonneg(json_object_get(x, "avail_ab"));
		l->avail_ba = (uint64_t)nonneg(json_object_get(x, "avail_ba"));
		qm_strlcpy(l->state, st ? st : (l->up ? "up" : "down"),
		           sizeof(l->state));
	}
out:
	json_decref(root);
	qm_buf_free(&body);
	qm_kms_free(&k);
	client_acct_conn_free(&ac);
	return rc;
}
