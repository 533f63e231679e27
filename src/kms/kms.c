/* SPDX-License-Identifier: MIT */
/*
 * The ETSI GS QKD 014 methods: the client handle, Get status, Get key
 * (enc_keys, GET or POST), Get key with key IDs (dec_keys, GET or POST) and
 * the bulk helpers that fetch a message's worth of key material in as few
 * requests as the KME allows.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "private.h"

void qm_kms_config_init(struct qm_kms_config *c)
{
	memset(c, 0, sizeof(*c));
	c->connect_timeout_ms = 5000;
	c->timeout_ms = 30000;
	c->retries = 2;
	c->retry_delay_ms = 200;
	c->retry_delay_max_ms = 3000;
	c->max_body = QM_KMS_BODY_DEFAULT;
	c->max_json_depth = QM_KMS_JSON_DEPTH_DEFAULT;
}

static enum qm_err dup_str(const char *s, char **out, struct qm_error *err)
{
	*out = strdup(s);
	if (!*out)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return QM_OK;
}

static enum qm_err file_check(const char *path, const char *what,
                              struct qm_error *err)
{
	if (!path || !*path)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the KME client needs %s (a PEM file)",
		                    what);
	if (access(path, R_OK) != 0)
		return qm_error_set(err, QM_ERR_IO,
		                    "cannot read %s %s: check the path and its "
		                    "permissions",
		                    what, path);
	return QM_OK;
}

enum qm_err qm_kms_new(const struct qm_kms_config *cfg, struct qm_kms **out,
                       struct qm_error *err)
{
	struct qm_kms *k = NULL;
	size_t n;
	enum qm_err rc;

	qm_kms_global_init();
	if (!cfg || !cfg->url || strncmp(cfg->url, "https://", 8) != 0 ||
	    !cfg->url[8]) {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "the KME URL must start with https:// (the "
		                  "ETSI 014 API runs over mutual TLS only)");
		goto out;
	}
	if ((rc = file_check(cfg->cert_file, "this SAE's client certificate",
	                     err)) ||
	    (rc = file_check(cfg->key_file, "this SAE's private key", err)) ||
	    (rc = file_check(cfg->ca_file, "the KME's CA certificate", err)))
		goto out;
	if (cfg->kme_id && (rc = kms_id_check(cfg->kme_id, "the KME ID", err)))
		goto out;
	if (cfg->max_body > QM_KMS_BODY_MAX) {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "max_body %zu is above the limit of %u bytes",
		                  cfg->max_body, QM_KMS_BODY_MAX);
		goto out;
	}
	if (cfg->max_json_depth > QM_KMS_JSON_DEPTH_MAX) {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "max_json_depth %zu is above the limit of %u",
		                  cfg->max_json_depth, QM_KMS_JSON_DEPTH_MAX);
		goto out;
	}
	k = calloc(1, sizeof(*k));
	if (!k) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = dup_str(cfg->url, &k->url, err)) ||
	    (rc = dup_str(cfg->cert_file, &k->cert_file, err)) ||
	    (rc = dup_str(cfg->key_file, &k->key_file, err)) ||
	    (rc = dup_str(cfg->ca_file, &k->ca_file, err)) ||
	    (cfg->kme_id && (rc = dup_str(cfg->kme_id, &k->kme_id, err))))
		goto out;
	n = strlen(k->url);
	while (n > 8 && k->url[n - 1] == '/')
		k->url[--n] = '\0';
	if (cfg->key_pass) {
		k->key_pass =
		    qm_sec_dup(cfg->key_pass, strlen(cfg->key_pass) + 1);
		if (!k->key_pass) {
			rc = qm_error_set(err, QM_ERR_NOMEM,
			                  "out of secure memory");
			goto out;
		}
	}
	k->connect_timeout_ms =
	    cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000;
	k->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000;
	k->retries = cfg->retries > 10 ? 10 : cfg->retries;
	k->retry_delay_ms = cfg->retry_delay_ms > 0 ? cfg->retry_delay_ms : 1;
	k->retry_delay_max_ms = cfg->retry_delay_max_ms >= k->retry_delay_ms
	                            ? cfg->retry_delay_max_ms
	                            : k->retry_delay_ms;
	k->max_body = cfg->max_body ? cfg->max_body : QM_KMS_BODY_DEFAULT;
	if (k->max_body < QM_KMS_SMALL_BODY_MAX)
		k->max_body = QM_KMS_SMALL_BODY_MAX;
	k->dec_chunk = cfg->dec_chunk;
	k->max_json_depth = cfg->max_json_depth ? cfg->max_json_depth
	                                        : QM_KMS_JSON_DEPTH_DEFAULT;
	rc = kms_http_setup(k, err);
	if (rc)
		goto out;
	*out = k;
	k = NULL;
out:
	qm_kms_free(&k);
	return rc;
}

void qm_kms_free(struct qm_kms **kp)
{
	struct qm_kms *k;

	if (!kp || !*kp)
		return;
	k = *kp;
	if (k->curl)
		curl_easy_cleanup(k->curl);
	qm_sec_free(k->key_pass);
	free(k->url);
	free(k->cert_file);
	free(k->key_file);
	free(k->ca_file);
	free(k->kme_id);
	free(k);
	*kp = NULL;
}

const char *qm_kms_url(const struct qm_kms *k)
{
	return k->url;
}

unsigned long qm_kms_connections(const struct qm_kms *k)
{
	return k->connections;
}

long qm_kms_last_status(const struct qm_kms *k)
{
	return k->last_status;
}

/* "/api/v1/keys/<escaped sae>/<what>" into path. */
static enum qm_err keys_path(struct qm_kms *k, const char *sae,
                             const char *what, struct qm_buf *path,
                             struct qm_error *err)
{
	char *esc = curl_easy_escape(k->curl, sae, (int)strlen(sae));
	enum qm_err rc;

	if (!esc)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = qm_buf_appendf(path, err, "/api/v1/keys/%s/%s", esc, what);
	curl_free(esc);
	return rc;
}

/* ------------------------------------------------------------------ status */

enum qm_err qm_kms_status_get(struct qm_kms *k, const char *slave_sae,
                              struct qm_kms_status *st, struct qm_error *err)
{
	struct qm_buf path, reply;
	enum qm_err rc;

	qm_buf_init(&path, 4096);
	qm_buf_init_secure(&reply, QM_KMS_SMALL_BODY_MAX);
	if ((rc = kms_id_check(slave_sae, "the slave SAE ID", err)) ||
	    (rc = keys_path(k, slave_sae, "status", &path, err)) ||
	    (rc = kms_http(k, KMS_GET, (const char *)path.data, NULL, &reply,
	                   err)))
		goto out;
	rc = kms_status_parse((const char *)reply.data, reply.len,
	                      k->max_json_depth, st, err);
	if (rc)
		qm_error_prefix(err, "KME at %s: ", k->url);
out:
	qm_buf_free(&reply);
	qm_buf_free(&path);
	return rc;
}

/* ---------------------------------------------------------- network view */

enum qm_err qm_kms_network_get(struct qm_kms *k, struct qm_buf *out,
                               struct qm_error *err)
{
	struct qm_buf reply;
	enum qm_err rc;

	qm_buf_init_secure(&reply, QM_KMS_SMALL_BODY_MAX);
	rc = kms_http(k, KMS_GET, "/kme/v1/sae/network", NULL, &reply, err);
	if (!rc)
		rc = qm_json_depth_check((const char *)reply.data, reply.len,
		                         k->max_json_depth, err);
	if (!rc)
		rc = qm_buf_append(out, reply.data, reply.len, err);
	if (rc)
		qm_error_prefix(err, "KME at %s, network view: ", k->url);
	qm_buf_free(&reply);
	return rc;
}

/* ----------------------------------------------------------------- enc_keys */

static enum qm_err ext_add(json_t *obj, const char *name, const char *text,
                           struct qm_error *err)
{
	json_error_t je;
	json_t *v;

	if (!text)
		return QM_OK;
	v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!v || !json_is_array(v)) {
		json_decref(v);
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s must be a JSON array of objects", name);
	}
	if (json_object_set_new(obj, name, v) != 0)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return QM_OK;
}

static enum qm_err request_body(const struct qm_kms_key_request *req,
                                char **out, struct qm_error *err)
{
	json_t *o = json_object(), *a = NULL;
	enum qm_err rc = QM_OK;

	if (!o)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (req->number &&
	    json_object_set_new(o, "number", json_integer(req->number)))
		goto nomem;
	if (req->size_bits &&
	    json_object_set_new(o, "size", json_integer(req->size_bits)))
		goto nomem;
	if (req->n_additional) {
		a = json_array();
		if (!a)
			goto nomem;
		for (size_t i = 0; i < req->n_additional; i++) {
			rc = kms_id_check(req->additional_slaves[i],
			                  "an additional slave SAE ID", err);
			if (rc)
				goto out;
			if (json_array_append_new(
			        a, json_string(req->additional_slaves[i])))
				goto nomem;
		}
		if (json_object_set_new(o, "additional_slave_SAE_IDs", a)) {
			a = NULL;
			goto nomem;
		}
		a = NULL;
	}
	if ((rc = ext_add(o, "extension_mandatory", req->extension_mandatory,
	                  err)) ||
	    (rc = ext_add(o, "extension_optional", req->extension_optional,
	                  err)))
		goto out;
	*out = json_dumps(o, JSON_COMPACT);
	if (!*out)
		goto nomem;
	goto out;
nomem:
	rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
out:
	json_decref(a);
	json_decref(o);
	return rc;
}

/* enc_keys, appending the keys to ks. */
static enum qm_err enc_keys_into(struct qm_kms *k, const char *slave_sae,
                                 const struct qm_kms_key_request *req,
                                 struct qm_kms_keys *ks, struct qm_error *err)
{
	struct qm_buf path, reply;
	char *body = NULL;
	size_t before = ks->count, want = req->number ? req->number : 1;
	int post = req->n_additional || req->extension_mandatory ||
	           req->extension_optional;
	enum qm_err rc;

	qm_buf_init(&path, 4096);
	qm_buf_init_secure(&reply, k->max_body);
	if ((rc = kms_id_check(slave_sae, "the slave SAE ID", err)) ||
	    (rc = keys_path(k, slave_sae, "enc_keys", &path, err)))
		goto out;
	if (req->n_additional && !req->additional_slaves) {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "additional slave SAE IDs missing");
		goto out;
	}
	if (post) {
		rc = request_body(req, &body, err);
		if (rc)
			goto out;
	} else if (req->number || req->size_bits) {
		const char *sep = "?";

		if (req->number) {
			rc = qm_buf_appendf(&path, err, "?number=%u",
			                    req->number);
			sep = "&";
		}
		if (!rc && req->size_bits)
			rc = qm_buf_appendf(&path, err, "%ssize=%u", sep,
			                    req->size_bits);
		if (rc)
			goto out;
	}
	rc = kms_http(k, post ? KMS_POST : KMS_GET, (const char *)path.data,
	              body, &reply, err);
	if (rc)
		goto out;
	rc = kms_keys_parse_into(ks, (const char *)reply.data, reply.len,
	                         req->size_bits ? (req->size_bits + 7) / 8 : 0,
	                         k->max_json_depth, err);
	if (rc) {
		qm_error_prefix(err, "KME at %s: ", k->url);
		goto out;
	}
	if (ks->count - before != want) {
		rc = qm_error_set(err, QM_ERR_PROTO,
		                  "KME at %s sent %zu keys, %zu were asked for",
		                  k->url, ks->count - before, want);
		goto out;
	}
out:
	if (rc && ks->count > before) {
		size_t start = ks->off[before];

		qm_wipe(ks->mat.data + start, ks->mat.len - start);
		ks->mat.len = start;
		for (size_t i = before; i < ks->count; i++)
			free(ks->ids[i]);
		ks->count = before;
	}
	free(body);
	qm_buf_free(&reply);
	qm_buf_free(&path);
	return rc;
}

enum qm_err qm_kms_enc_keys(struct qm_kms *k, const char *slave_sae,
                            const struct qm_kms_key_request *req,
                            struct qm_kms_keys **out, struct qm_error *err)
{
	struct qm_kms_keys *ks = NULL;
	enum qm_err rc;

	if (!req)
		return qm_error_set(err, QM_ERR_INVAL, "no key request");
	rc = kms_keys_new(&ks, err);
	if (rc)
		return rc;
	rc = enc_keys_into(k, slave_sae, req, ks, err);
	if (rc) {
		qm_kms_keys_free(&ks);
		return rc;
	}
	*out = ks;
	return QM_OK;
}

enum qm_err qm_kms_keys_get(struct qm_kms *k, const char *slave_sae,
                            unsigned number, unsigned size_bits,
                            const char *const *additional, size_t n_additional,
                            struct qm_kms_keys **out, struct qm_error *err)
{
	struct qm_kms_key_request req;

	memset(&req, 0, sizeof(req));
	req.number = number;
	req.size_bits = size_bits;
	req.additional_slaves = additional;
	req.n_additional = n_additional;
	return qm_kms_enc_keys(k, slave_sae, &req, out, err);
}

/* ----------------------------------------------------------------- dec_keys */

/* dec_keys for ids[0..n), appended to dst in the order of ids. */
static enum qm_err dec_keys_into(struct qm_kms *k, const char *master_sae,
                                 const char *const *ids, size_t n,
                                 struct qm_kms_keys *dst, struct qm_error *err)
{
	struct qm_buf path, reply;
	struct qm_kms_keys *got = NULL;
	char *body = NULL, *esc = NULL;
	json_t *o = NULL, *arr = NULL;
	size_t before = dst->count, before_ext = dst->nexts;
	enum qm_err rc;

	qm_buf_init(&path, 4096);
	qm_buf_init_secure(&reply, k->max_body);
	if ((rc = kms_id_check(master_sae, "the master SAE ID", err)) ||
	    (rc = keys_path(k, master_sae, "dec_keys", &path, err)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((rc = kms_id_check(ids[i], "a key ID", err)))
			goto out;
		for (size_t j = 0; j < i; j++)
			if (strcmp(ids[i], ids[j]) == 0) {
				rc = qm_error_set(
				    err, QM_ERR_INVAL,
				    "key ID %s is asked for twice", ids[i]);
				goto out;
			}
	}
	if (n == 1) {
		esc = curl_easy_escape(k->curl, ids[0], (int)strlen(ids[0]));
		if (!esc) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		rc = qm_buf_appendf(&path, err, "?key_ID=%s", esc);
		if (rc)
			goto out;
	} else {
		o = json_object();
		arr = json_array();
		if (!o || !arr)
			goto nomem;
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_pack("{s:s}", "key_ID", ids[i]);

			if (!e || json_array_append_new(arr, e))
				goto nomem;
		}
		if (json_object_set(o, "key_IDs", arr))
			goto nomem;
		body = json_dumps(o, JSON_COMPACT);
		if (!body)
			goto nomem;
	}
	rc = kms_http(k, n == 1 ? KMS_GET : KMS_POST, (const char *)path.data,
	              body, &reply, err);
	if (rc)
		goto out;
	rc = kms_keys_new(&got, err);
	if (rc)
		goto out;
	rc = kms_keys_parse_into(got, (const char *)reply.data, reply.len, 0,
	                         k->max_json_depth, err);
	if (rc) {
		qm_error_prefix(err, "KME at %s: ", k->url);
		goto out;
	}
	if (got->count != n) {
		rc = qm_error_set(err, QM_ERR_PROTO,
		                  "KME at %s sent %zu keys for %zu key IDs",
		                  k->url, got->count, n);
		goto out;
	}
	/* The requested IDs are distinct and as many as the keys received, so
	 * finding each one proves the reply is exactly the set asked for. */
	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < got->count; j++)
			if (strcmp(got->ids[(i + j) % n], ids[i]) == 0)
				break;
		if (j == got->count) {
			rc = qm_error_set(
			    err, QM_ERR_PROTO,
			    "KME at %s did not send key %s that was "
			    "asked for",
			    k->url, ids[i]);
			goto out;
		}
		rc = kms_keys_add_from(dst, got, (i + j) % n, err);
		if (rc)
			goto out;
	}
	for (size_t i = 0; i < got->nexts; i++)
		if ((rc = kms_keys_ext_add(dst, got->exts[i], err)))
			goto out;
	goto out;
nomem:
	rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
out:
	if (rc && dst->count > before) {
		size_t start = dst->off[before];

		qm_wipe(dst->mat.data + start, dst->mat.len - start);
		dst->mat.len = start;
		for (size_t i = before; i < dst->count; i++)
			free(dst->ids[i]);
		dst->count = before;
	}
	while (rc && dst->nexts > before_ext)
		free(dst->exts[--dst->nexts]);
	qm_kms_keys_free(&got);
	json_decref(arr);
	json_decref(o);
	free(body);
	curl_free(esc);
	qm_buf_free(&reply);
	qm_buf_free(&path);
	return rc;
}

enum qm_err qm_kms_keys_by_id(struct qm_kms *k, const char *master_sae,
                              const char *const *key_ids, size_t n,
                              struct qm_kms_keys **out, struct qm_error *err)
{
	struct qm_kms_keys *ks = NULL;
	enum qm_err rc;

	if (!key_ids || n == 0)
		return qm_error_set(err, QM_ERR_INVAL, "no key IDs to fetch");
	rc = kms_keys_new(&ks, err);
	if (rc)
		return rc;
	rc = dec_keys_into(k, master_sae, key_ids, n, ks, err);
	if (rc) {
		qm_kms_keys_free(&ks);
		return rc;
	}
	*out = ks;
	return QM_OK;
}

/* ----------------------------------------------------------- bulk material */

/* Keys that fit in one reply of max_body bytes: base64 plus ~120 bytes of
 * JSON a key (key_ID, member names), with a tenth to spare. */
static uint64_t per_body(const struct qm_kms *k, uint64_t key_bytes)
{
	uint64_t each = (key_bytes + 2) / 3 * 4 + 120;
	uint64_t n = (uint64_t)k->max_body / 10 * 9 / each;

	return n ? n : 1;
}

enum qm_err qm_kms_material_get(struct qm_kms *k, const char *slave_sae,
                                size_t nbytes, struct qm_kms_keys **out,
                                struct qm_error *err)
{
	struct qm_kms_status st;
	struct qm_kms_keys *ks = NULL;
	uint64_t size, nkeys, per, have, need_bits;
	enum qm_err rc;

	if (nbytes == 0 || nbytes > QM_KMS_BODY_MAX)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "cannot fetch %zu bytes of key material "
		                    "(1 to %u bytes)",
		                    nbytes, QM_KMS_BODY_MAX);
	rc = qm_kms_status_get(k, slave_sae, &st, err);
	if (rc)
		goto out;
	/* The largest key size that is whole bytes. */
	size = (st.present & QM_KMS_HAS_MAX_KEY_SIZE) ? st.max_key_size
	                                              : st.key_size;
	size -= size % 8;
	if (size > 8ull * 1024 * 1024)
		size = 8ull * 1024 * 1024;
	if (size == 0 || size < st.min_key_size) {
		rc = qm_error_set(err, QM_ERR_UNSUPPORTED,
		                  "KME at %s offers no key size in whole bytes "
		                  "(key_size %llu, min %llu, max %llu bits)",
		                  k->url, (unsigned long long)st.key_size,
		                  (unsigned long long)st.min_key_size,
		                  (unsigned long long)st.max_key_size);
		goto out;
	}
	nkeys = ((uint64_t)nbytes * 8 + size - 1) / size;
	need_bits = nkeys * size;
	per = (st.present & QM_KMS_HAS_MAX_KEY_PER_REQUEST) &&
	              st.max_key_per_request
	          ? st.max_key_per_request
	          : 1;
	if (per > per_body(k, size / 8))
		per = per_body(k, size / 8);
	if (per > UINT32_MAX)
		per = UINT32_MAX;
	if ((st.present & QM_KMS_HAS_STORED_KEY_COUNT) && st.key_size) {
		have = st.stored_key_count * st.key_size;
		if (st.stored_key_count &&
		    have / st.stored_key_count != st.key_size)
			have = UINT64_MAX;
		/* The count may understate: a KME that makes keys on demand
		 * reports none and serves. Its answer decides, as long as
		 * asking hands out nothing when the answer is no: the whole
		 * material in one request (served or refused whole), or a
		 * KME that reports no key at all (its first answer decides).
		 * One that holds some, but too little for several requests,
		 * is believed: its first requests would be served and lost. */
		if (have < need_bits && st.stored_key_count != 0 &&
		    nkeys > per) {
			rc = qm_error_set(
			    err, QM_ERR_UNAVAIL,
			    "KME at %s holds %llu bytes of key "
			    "material for %s, %llu bytes are needed",
			    k->url, (unsigned long long)(have / 8), slave_sae,
			    (unsigned long long)(need_bits / 8));
			goto out;
		}
	}
	rc = kms_keys_new(&ks, err);
	if (!rc)
		rc = kms_keys_expect(ks, need_bits / 8, err);
	if (rc)
		goto out;
	for (uint64_t done = 0; done < nkeys;) {
		struct qm_kms_key_request req;

		memset(&req, 0, sizeof(req));
		req.number =
		    (unsigned)(nkeys - done < per ? nkeys - done : per);
		req.size_bits = (unsigned)size;
		rc = enc_keys_into(k, slave_sae, &req, ks, err);
		if (rc) {
			qm_error_prefix(
			    err, "after %llu of %llu keys of key material: ",
			    (unsigned long long)done,
			    (unsigned long long)nkeys);
			goto out;
		}
		done += req.number;
	}
	*out = ks;
	ks = NULL;
out:
	qm_kms_keys_free(&ks);
	return rc;
}

enum qm_err qm_kms_material_by_ids(struct qm_kms *k, const char *master_sae,
                                   const char *const *key_ids, size_t n,
                                   struct qm_kms_keys **out,
                                   struct qm_error *err)
{
	struct qm_kms_keys *ks = NULL;
	struct qm_kms_status st;
	uint64_t per = k->dec_chunk;
	enum qm_err rc;

	if (!key_ids || n == 0)
		return qm_error_set(err, QM_ERR_INVAL, "no key IDs to fetch");
	if (n > QM_KMS_KEYS_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "%zu key IDs, more than the limit of %u", n,
		                    QM_KMS_KEYS_MAX);
	if (per == 0) {
		/* Not every KME answers a slave's status call: one at a time
		 * then, which is slow but works. */
		if (qm_kms_status_get(k, master_sae, &st, NULL) == QM_OK &&
		    (st.present & QM_KMS_HAS_MAX_KEY_PER_REQUEST) &&
		    st.max_key_per_request)
			per = st.max_key_per_request;
		else
			per = 1;
	}
	rc = kms_keys_new(&ks, err);
	if (rc)
		goto out;
	for (size_t done = 0; done < n;) {
		size_t m = n - done < per ? n - done : (size_t)per;

		rc = dec_keys_into(k, master_sae, key_ids + done, m, ks, err);
		if (!rc && done == 0 && m < n && ks->count)
			/* the rest as large as the first reply's keys */
			rc = kms_keys_expect(
			    ks, (uint64_t)ks->mat.len / ks->count * n, err);
		if (rc) {
			qm_error_prefix(err, "after %zu of %zu keys: ", done,
			                n);
			goto out;
		}
		done += m;
	}
	*out = ks;
	ks = NULL;
out:
	qm_kms_keys_free(&ks);
	return rc;
}
