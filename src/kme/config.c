/* SPDX-License-Identifier: MIT */
/*
 * qkme's configuration file (core's qm_conf syntax): the KME's identity,
 * TLS files, the SAEs it serves, its peers, key limits, pool size, the
 * store key and the BB84 link parameters. Every value is checked here so
 * that the server never runs with a half-valid setting.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits a comma-separated list into ids; QM_ERR_TOOBIG past max. */
static enum qm_err split_ids(const char *v, char ids[][KME_IDMAX],
                             size_t max, size_t *n, const char *what,
                             struct qm_error *err)
{
	const char *p = v;

	*n = 0;
	while (p && *p) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		while (len && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len) {
			if (*n >= max)
				return qm_error_set(err, QM_ERR_TOOBIG,
				                    "%s: more than %zu IDs", what,
				                    max);
			if (len >= KME_IDMAX)
				return qm_error_set(err, QM_ERR_TOOBIG,
				                    "%s: an ID is longer than %d "
				                    "characters",
				                    what, KME_IDMAX - 1);
			memcpy(ids[*n], p, len);
			ids[*n][len] = '\0';
			(*n)++;
		}
		p = e ? e + 1 : NULL;
	}
	return QM_OK;
}

static enum qm_err get_str(const struct qm_conf *qc, const char *key,
                           char *out, size_t outlen, int required,
                           struct qm_error *err)
{
	const char *v = qm_conf_get(qc, key);

	if (!v) {
		if (required)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "setting \"%s\" is missing", key);
		return QM_OK;
	}
	if (qm_strlcpy(out, v, outlen) != 0)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "setting \"%s\" is too long", key);
	return QM_OK;
}

static enum qm_err get_double(const struct qm_conf *qc, const char *key,
                              double min, double max, double *v,
                              struct qm_error *err)
{
	const char *s = qm_conf_get(qc, key);
	char *end;
	double d;

	if (!s)
		return QM_OK;
	d = strtod(s, &end);
	if (end == s || *end || !(d >= min && d <= max))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "setting \"%s\" must be a number in "
		                    "[%g, %g]",
		                    key, min, max);
	*v = d;
	return QM_OK;
}

int kme_conf_serves(const struct kme_conf *c, const char *sae)
{
	for (size_t i = 0; i < c->nsaes; i++)
		if (strcmp(c->saes[i], sae) == 0)
			return 1;
	return 0;
}

int kme_conf_sae_index(const struct kme_conf *c, const char *sae)
{
	for (size_t i = 0; i < c->nsaes; i++)
		if (strcmp(c->saes[i], sae) == 0)
			return (int)i;
	return -1;
}

int kme_peer_sae_index(const struct kme_peer_conf *p, const char *sae)
{
	for (size_t i = 0; i < p->nsaes; i++)
		if (strcmp(p->saes[i], sae) == 0)
			return (int)i;
	return -1;
}

int kme_conf_is_operator(const struct kme_conf *c, const char *cn)
{
	for (size_t i = 0; i < c->noperators; i++)
		if (strcmp(c->operators[i], cn) == 0)
			return 1;
	return 0;
}

static enum qm_err load_peers(const struct qm_conf *qc, struct kme_conf *c,
                              struct qm_error *err)
{
	for (size_t i = 0; i < qm_conf_count(qc); i++) {
		const char *key = qm_conf_key(qc, i);
		size_t kl = strlen(key);
		struct kme_peer_conf *p;
		char name[KME_IDMAX + 16];
		enum qm_err rc;

		if (strncmp(key, "peer.", 5) != 0 || kl < 9 ||
		    strcmp(key + kl - 4, ".url") != 0)
			continue;
		if (c->npeers >= KME_MAXPEERS)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "more than %d peers", KME_MAXPEERS);
		p = &c->peers[c->npeers];
		if (kl - 9 >= KME_IDMAX)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "peer ID in \"%s\" is too long", key);
		memcpy(p->id, key + 5, kl - 9);
		p->id[kl - 9] = '\0';
		if (strcmp(p->id, c->id) == 0)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "peer %s is this KME itself", p->id);
		if (qm_strlcpy(p->url, qm_conf_value(qc, i), sizeof(p->url)))
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "peer %s: url too long", p->id);
		if (strncmp(p->url, "https://", 8) != 0)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "peer %s: url must start with "
			                    "https://",
			                    p->id);
		snprintf(name, sizeof(name), "peer.%s.saes", p->id);
		rc = split_ids(qm_conf_get(qc, name) ? qm_conf_get(qc, name)
		                                     : "",
		               p->saes, KME_MAXSAES, &p->nsaes, name, err);
		if (rc)
			return rc;
		c->npeers++;
	}
	return QM_OK;
}

/* [node.ID] saes = ...: the KMEs of the network reached through others. */
static enum qm_err load_nodes(const struct qm_conf *qc, struct kme_conf *c,
                              struct qm_error *err)
{
	for (size_t i = 0; i < qm_conf_count(qc); i++) {
		const char *key = qm_conf_key(qc, i);
		size_t kl = strlen(key);
		struct kme_node_conf *nd;
		enum qm_err rc;

		if (strncmp(key, "node.", 5) != 0)
			continue;
		if (kl < 11 || strcmp(key + kl - 5, ".saes") != 0)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "\"%s\": a [node.ID] section has "
			                    "only saes",
			                    key);
		if (c->nnodes >= KME_MAXNODES)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "more than %d [node.ID] sections",
			                    KME_MAXNODES);
		nd = &c->nodes[c->nnodes];
		if (kl - 10 >= KME_IDMAX)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "node ID in \"%s\" is too long", key);
		memcpy(nd->id, key + 5, kl - 10);
		nd->id[kl - 10] = '\0';
		if (strcmp(nd->id, c->id) == 0)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "[node.%s] is this KME itself",
			                    nd->id);
		rc = split_ids(qm_conf_value(qc, i), nd->saes, KME_MAXSAES,
		               &nd->nsaes, key, err);
		if (rc)
			return rc;
		c->nnodes++;
	}
	return QM_OK;
}

const char *kme_conf_kme_of(const struct kme_conf *c, const char *sae)
{
	if (kme_conf_sae_index(c, sae) >= 0)
		return c->id;
	for (size_t p = 0; p < c->npeers; p++)
		if (kme_peer_sae_index(&c->peers[p], sae) >= 0)
			return c->peers[p].id;
	for (size_t n = 0; n < c->nnodes; n++)
		for (size_t i = 0; i < c->nodes[n].nsaes; i++)
			if (strcmp(c->nodes[n].saes[i], sae) == 0)
				return c->nodes[n].id;
	return NULL;
}

/* One CN with one role in this KME's configuration. */
struct role {
	const char *cn;
	char what[2 * KME_IDMAX + 64];
};

/*
 * Every CN this KME acts on: its own ID (what its peers check), the SAEs it
 * serves, each peer's KME ID and SAEs, the operators. The server and the
 * peers tell these roles apart by certificate CN alone, so one CN in two
 * roles would let one certificate act in both (an SAE called like a peer
 * could push key blocks, an operator called like this KME could pass for
 * it at the peers): refused, naming the CN and both roles.
 */
static enum qm_err check_roles(const struct kme_conf *c, struct qm_error *err)
{
	enum { NROLES = 1 + KME_MAXSAES + 8 +
		        (KME_MAXPEERS + KME_MAXNODES) * (1 + KME_MAXSAES) };
	struct role *r = calloc(NROLES, sizeof(*r));
	size_t n = 0;
	enum qm_err rc = QM_OK;

	if (!r)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	r[n].cn = c->id;
	snprintf(r[n++].what, sizeof(r[0].what), "this KME's own ID (kme_id)");
	for (size_t i = 0; i < c->nsaes; i++) {
		r[n].cn = c->saes[i];
		snprintf(r[n++].what, sizeof(r[0].what),
		         "an SAE this KME serves (saes)");
	}
	for (size_t i = 0; i < c->noperators; i++) {
		r[n].cn = c->operators[i];
		snprintf(r[n++].what, sizeof(r[0].what),
		         "an operator (operators)");
	}
	for (size_t p = 0; p < c->npeers; p++) {
		const struct kme_peer_conf *pc = &c->peers[p];

		r[n].cn = pc->id;
		snprintf(r[n++].what, sizeof(r[0].what),
		         "the peer KME ID of [peer.%s]", pc->id);
		for (size_t i = 0; i < pc->nsaes; i++) {
			r[n].cn = pc->saes[i];
			snprintf(r[n++].what, sizeof(r[0].what),
			         "an SAE served by peer %s ([peer.%s] saes)",
			         pc->id, pc->id);
		}
	}
	for (size_t p = 0; p < c->nnodes; p++) {
		const struct kme_node_conf *nd = &c->nodes[p];

		r[n].cn = nd->id;
		snprintf(r[n++].what, sizeof(r[0].what),
		         "the KME ID of [node.%s]", nd->id);
		for (size_t i = 0; i < nd->nsaes; i++) {
			r[n].cn = nd->saes[i];
			snprintf(r[n++].what, sizeof(r[0].what),
			         "an SAE served by KME %s ([node.%s] saes)",
			         nd->id, nd->id);
		}
	}
	for (size_t i = 0; !rc && i < n; i++)
		for (size_t j = 0; !rc && j < i; j++)
			if (strcmp(r[i].cn, r[j].cn) == 0)
				rc = qm_error_set(
					err, QM_ERR_INVAL,
					"\"%s\" is %s and %s: qkme tells roles "
					"apart by the certificate's CN alone, so "
					"each CN may have one role",
					r[i].cn, r[j].what,
					strcmp(r[i].what, r[j].what) == 0
						? "is listed twice"
						: r[i].what);
	free(r);
	return rc;
}

enum qm_err kme_conf_load(const char *path, struct kme_conf *c,
                          struct qm_error *err)
{
	struct qm_conf *qc = NULL;
	long long v;
	enum qm_err rc;
	const char *s;

	memset(c, 0, sizeof(*c));
	qm_strlcpy(c->listen_addr, "127.0.0.1", sizeof(c->listen_addr));
	c->pool_bytes = 4 << 20;
	c->default_key_size = 256;
	c->min_key_size = 8;
	c->max_key_size = 8192;
	c->max_key_per_request = 1024;
	c->max_sae_id_count = 8;
	c->key_expiry_s = 0;
	c->persist_ms = 1000;
	c->peer_timeout_ms = 5000;
	c->max_body = KME_BODYMAX;
	c->relay_reservoir = 16384;
	c->bb84_pulses = 1 << 20;
	c->link_threads = 2;
	c->bb84_loss_db = 1.0;
	c->bb84_noise = 0.01;
	c->bb84_eve = 0.0;
	c->bb84_alarm = 0.11;
	c->bb84_sample = 0.1;
	c->link_enabled = 1;

	rc = qm_conf_load(path, &qc, err);
	if (rc)
		goto out;
	if ((rc = get_str(qc, "kme_id", c->id, sizeof(c->id), 1, err)) ||
	    (rc = get_str(qc, "listen", c->listen_addr,
	                  sizeof(c->listen_addr), 0, err)) ||
	    (rc = get_str(qc, "tls_cert", c->cert, sizeof(c->cert), 1, err)) ||
	    (rc = get_str(qc, "tls_key", c->key, sizeof(c->key), 1, err)) ||
	    (rc = get_str(qc, "client_ca", c->ca, sizeof(c->ca), 1, err)) ||
	    (rc = get_str(qc, "state_dir", c->state_dir,
	                  sizeof(c->state_dir), 1, err)) ||
	    (rc = get_str(qc, "store_key_file", c->store_key_file,
	                  sizeof(c->store_key_file), 0, err)))
		goto out;
	v = 0;
	if ((rc = qm_conf_get_int(qc, "port", 1, 65535, &v, err)))
		goto out;
	if (!v) {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "setting \"port\" is missing");
		goto out;
	}
	c->port = (int)v;
	s = qm_conf_get(qc, "saes");
	if ((rc = split_ids(s ? s : "", c->saes, KME_MAXSAES, &c->nsaes,
	                    "saes", err)))
		goto out;
	s = qm_conf_get(qc, "operators");
	if ((rc = split_ids(s ? s : "", c->operators, 8, &c->noperators,
	                    "operators", err)))
		goto out;
	if ((rc = qm_conf_get_int(qc, "pool_bytes", 64, 1LL << 30,
	                          &c->pool_bytes, err)) ||
	    (rc = qm_conf_get_int(qc, "default_key_size", 8, 1 << 20,
	                          &c->default_key_size, err)) ||
	    (rc = qm_conf_get_int(qc, "min_key_size", 8, 1 << 20,
	                          &c->min_key_size, err)) ||
	    (rc = qm_conf_get_int(qc, "max_key_size", 8, 1 << 20,
	                          &c->max_key_size, err)) ||
	    (rc = qm_conf_get_int(qc, "max_key_per_request", 1, 100000,
	                          &c->max_key_per_request, err)) ||
	    (rc = qm_conf_get_int(qc, "max_SAE_ID_count", 0, KME_MAXSLAVES - 1,
	                          &c->max_sae_id_count, err)) ||
	    (rc = qm_conf_get_int(qc, "key_expiry_seconds", 0, 1LL << 40,
	                          &c->key_expiry_s, err)) ||
	    (rc = qm_conf_get_int(qc, "persist_interval_ms", 10, 3600000,
	                          &c->persist_ms, err)) ||
	    (rc = qm_conf_get_int(qc, "peer_timeout_ms", 100, 600000,
	                          &c->peer_timeout_ms, err)) ||
	    (rc = qm_conf_get_int(qc, "max_body", KME_BODYMAX_MIN,
	                          KME_BODYMAX_MAX, &c->max_body, err)) ||
	    (rc = qm_conf_get_int(qc, "relay_reservoir_bytes", 0, 1 << 20,
	                          &c->relay_reservoir, err)) ||
	    (rc = qm_conf_get_int(qc, "bb84.pulses", 1024, 1 << 24,
	                          &c->bb84_pulses, err)) ||
	    (rc = get_double(qc, "bb84.loss_db", 0, 60, &c->bb84_loss_db,
	                     err)) ||
	    (rc = get_double(qc, "bb84.noise", 0, 0.5, &c->bb84_noise, err)) ||
	    (rc = get_double(qc, "bb84.eve", 0, 1, &c->bb84_eve, err)) ||
	    (rc = get_double(qc, "bb84.alarm", 0.01, 0.5, &c->bb84_alarm,
	                     err)) ||
	    (rc = get_double(qc, "bb84.sample", 0.01, 0.9, &c->bb84_sample,
	                     err)))
		goto out;
	if ((rc = qm_conf_get_int(qc, "bb84.threads", 1, KME_LINK_MAXTHREADS,
	                          &c->link_threads, err)))
		goto out;
	v = 1;
	if ((rc = qm_conf_get_int(qc, "bb84.enabled", 0, 1, &v, err)))
		goto out;
	c->link_enabled = (int)v;
	if (c->min_key_size % 8 || c->max_key_size % 8 ||
	    c->default_key_size % 8 || c->min_key_size > c->max_key_size ||
	    c->default_key_size < c->min_key_size ||
	    c->default_key_size > c->max_key_size) {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "key sizes must be multiples of 8 with "
		                  "min_key_size <= default_key_size <= "
		                  "max_key_size");
		goto out;
	}
	if ((rc = load_peers(qc, c, err)) || (rc = load_nodes(qc, c, err)) ||
	    (rc = check_roles(c, err)))
		goto out;
out:
	if (rc)
		qm_error_prefix(err, "configuration %s: ", path);
	qm_conf_free(&qc);
	return rc;
}
