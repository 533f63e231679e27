/* SPDX-License-Identifier: MIT */
/*
 * A scripted KME behind the calls of src/kms/kms.h (see fakes.h), for the
 * client engine's unit tests. It keeps the contract kms.h states: which
 * enum qm_err an answer becomes, qm_kms_last_status, what the bulk helpers
 * ask first (Get status) and when qm_kms_material_get refuses before
 * asking. Keys live in one store that every fake KME shares, as the two
 * KMEs of a QKD link hold the same keys: enc_keys by the master hands out
 * fresh keys from the link's pool, dec_keys by the slave hands each of them
 * out once. The caller's SAE is the base name of its certificate file
 * ("/any/SAE_A.crt" is SAE_A), as mutual TLS tells a real KME.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "kms/kms.h"

#define MAX_KMES  8
#define MAX_LINKS 16
#define MAX_KEYS  4096

struct fk_key {
	char id[40];
	char master[64], slave[64];
	unsigned char bytes[1024];
	size_t len;
	int fetched; /* handed to the slave (dec_keys): gone */
	int expired;
};

struct fk_link {
	char master[64], slave[64];
	uint64_t bytes;
};

static struct fake_kme kmes[MAX_KMES];
static size_t nkmes;
static struct fk_link links[MAX_LINKS];
static size_t nlinks;
static struct fk_key *keys; /* MAX_KEYS */
static size_t nkeys;
static unsigned key_serial;

struct qm_kms {
	struct fake_kme *kme;
	char url[256];
	char sae[64];
	long last_status;
};

void fake_kms_reset(void)
{
	memset(kmes, 0, sizeof(kmes));
	nkmes = 0;
	memset(links, 0, sizeof(links));
	nlinks = 0;
	if (keys)
		qm_wipe(keys, MAX_KEYS * sizeof(*keys));
	free(keys);
	keys = NULL;
	nkeys = 0;
}

struct fake_kme *fake_kme(const char *url)
{
	struct fake_kme *k;

	for (size_t i = 0; i < nkmes; i++)
		if (strcmp(kmes[i].url, url) == 0)
			return &kmes[i];
	if (nkmes == MAX_KMES)
		abort();
	k = &kmes[nkmes++];
	memset(k, 0, sizeof(*k));
	qm_strlcpy(k->url, url, sizeof(k->url));
	k->key_bits = 256;
	k->max_key_per_request = 128;
	k->max_key_size = 8192;
	return k;
}

void fake_kme_next(struct fake_kme *k, enum fk_op op, long http,
                   enum qm_err transport, const char *msg)
{
	if (k->nnext[op] == FK_SCRIPT_MAX)
		abort();
	k->next[op][k->nnext[op]++] = (struct fk_answer){http, transport, msg};
}

static struct fk_link *link_of(const char *master, const char *slave, int make)
{
	for (size_t i = 0; i < nlinks; i++)
		if (strcmp(links[i].master, master) == 0 &&
		    strcmp(links[i].slave, slave) == 0)
			return &links[i];
	if (!make)
		return NULL;
	if (nlinks == MAX_LINKS)
		abort();
	qm_strlcpy(links[nlinks].master, master, sizeof(links[0].master));
	qm_strlcpy(links[nlinks].slave, slave, sizeof(links[0].slave));
	links[nlinks].bytes = 0;
	return &links[nlinks++];
}

void fake_link_add(const char *master, const char *slave, uint64_t bytes)
{
	link_of(master, slave, 1)->bytes += bytes;
}

uint64_t fake_link_bytes(const char *master, const char *slave)
{
	struct fk_link *l = link_of(master, slave, 0);

	return l ? l->bytes : 0;
}

size_t fake_keys_issued(void)
{
	return nkeys;
}

size_t fake_keys_fetched(void)
{
	size_t n = 0;

	for (size_t i = 0; i < nkeys; i++)
		n += (size_t)keys[i].fetched;
	return n;
}

void fake_key_expire(size_t i)
{
	if (i < nkeys)
		keys[i].expired = 1;
}

/* ------------------------------------------------------------- answers */

/* The error an answer becomes, as src/kms words and codes it. */
static enum qm_err answer_err(struct qm_kms *k, const struct fk_answer *a,
                              struct qm_error *err)
{
	const char *m = a->msg ? a->msg : "";

	k->last_status = a->http;
	if (a->http == 0)
		return qm_error_set(err,
		                    a->transport ? a->transport : QM_ERR_NET,
		                    "request to the KME at %s failed: %s",
		                    k->url, m[0] ? m : "could not connect");
	switch (a->http) {
	case 200:
		return QM_OK;
	case 400:
		if (strstr(m, "not found"))
			return qm_error_set(err, QM_ERR_NOTFOUND,
			                    "KME at %s has no such keys (400): "
			                    "\"%s\"",
			                    k->url, m);
		return qm_error_set(err, QM_ERR_PROTO,
		                    "KME at %s rejected the request (400 Bad "
		                    "Request): \"%s\"",
		                    k->url, m);
	case 401:
		return qm_error_set(err, QM_ERR_DENIED,
		                    "KME at %s answered 401 Unauthorized",
		                    k->url);
	case 503:
		return qm_error_set(err, QM_ERR_UNAVAIL,
		                    "KME at %s cannot serve now (503 Service "
		                    "Unavailable): \"%s\"",
		                    k->url, m);
	default:
		return qm_error_set(err, QM_ERR_PROTO,
		                    "KME at %s answered with HTTP status %ld",
		                    k->url, a->http);
	}
}

/*
 * A request of kind op arrives: counted, then answered by the script when
 * it has something to say (*scripted = 1: rc is the answer), else left to
 * the key store (QM_OK, *scripted = 0).
 */
static enum qm_err arrive(struct qm_kms *k, enum fk_op op, int *scripted,
                          struct qm_error *err)
{
	struct fake_kme *f = k->kme;
	struct fk_answer a;

	f->calls[op]++;
	*scripted = 1;
	if (f->always_set)
		return answer_err(k, &f->always, err);
	if (f->deny_sae[0] && strcmp(f->deny_sae, k->sae) == 0) {
		a = (struct fk_answer){401, QM_OK, NULL};
		return answer_err(k, &a, err);
	}
	if (f->nnext[op]) {
		a = f->next[op][0];
		memmove(&f->next[op][0], &f->next[op][1],
		        (f->nnext[op] - 1) * sizeof(a));
		f->nnext[op]--;
		if (a.http != 200)
			return answer_err(k, &a, err);
	}
	*scripted = 0;
	k->last_status = 200;
	return QM_OK;
}

/* The key store's own refusal: an HTTP status with a message. */
static enum qm_err refuse(struct qm_kms *k, long http, const char *msg,
                          struct qm_error *err)
{
	struct fk_answer a = {http, QM_OK, msg};

	return answer_err(k, &a, err);
}

/* ---------------------------------------------------------- the handle */

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

enum qm_err qm_kms_new(const struct qm_kms_config *cfg, struct qm_kms **out,
                       struct qm_error *err)
{
	struct qm_kms *k;
	const char *base, *dot;

	qm_kms_global_init();
	if (!cfg || !cfg->url || strncmp(cfg->url, "https://", 8) != 0 ||
	    !cfg->url[8])
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the KME URL must start with https:// (the "
		                    "ETSI 014 API runs over mutual TLS only)");
	if (!cfg->cert_file || !cfg->cert_file[0] || !cfg->key_file ||
	    !cfg->key_file[0] || !cfg->ca_file || !cfg->ca_file[0])
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the KME client needs this SAE's "
		                    "certificate, its key and the KME's CA");
	k = calloc(1, sizeof(*k));
	if (!k)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	k->kme = fake_kme(cfg->url);
	k->kme->calls[FK_NEW]++;
	qm_strlcpy(k->url, cfg->url, sizeof(k->url));
	base = strrchr(cfg->cert_file, '/');
	base = base ? base + 1 : cfg->cert_file;
	dot = strchr(base, '.');
	snprintf(k->sae, sizeof(k->sae), "%.*s",
	         (int)(dot ? (size_t)(dot - base) : strlen(base)), base);
	*out = k;
	return QM_OK;
}

void qm_kms_free(struct qm_kms **k)
{
	if (!k || !*k)
		return;
	free(*k);
	*k = NULL;
}

const char *qm_kms_url(const struct qm_kms *k)
{
	return k->url;
}

unsigned long qm_kms_connections(const struct qm_kms *k)
{
	(void)k;
	return 1;
}

long qm_kms_last_status(const struct qm_kms *k)
{
	return k->last_status;
}

/* -------------------------------------------------------------- network */

/* The fake KME has no network view, as a KME that is not qkme. */
enum qm_err qm_kms_network_get(struct qm_kms *k, struct qm_buf *out,
                               struct qm_error *err)
{
	(void)out;
	return refuse(k, 404, "not found", err);
}

/* -------------------------------------------------------------- status */

enum qm_err qm_kms_status_get(struct qm_kms *k, const char *slave_sae,
                              struct qm_kms_status *st, struct qm_error *err)
{
	struct fake_kme *f = k->kme;
	int scripted;
	enum qm_err rc;
	uint64_t bytes;

	rc = arrive(k, FK_STATUS, &scripted, err);
	if (scripted)
		return rc;
	if (!slave_sae || !slave_sae[0] || strcmp(slave_sae, k->sae) == 0)
		/* a pool exists only towards a peer (as qkme answers) */
		return refuse(k, 400, "slave_SAE_ID is not known to this KME",
		              err);
	bytes = fake_link_bytes(k->sae, slave_sae);
	memset(st, 0, sizeof(*st));
	st->present = QM_KMS_HAS_STORED_KEY_COUNT |
	              QM_KMS_HAS_MAX_KEY_PER_REQUEST | QM_KMS_HAS_MAX_KEY_SIZE |
	              QM_KMS_HAS_KEY_SIZE;
	qm_strlcpy(st->master_sae_id, k->sae, sizeof(st->master_sae_id));
	qm_strlcpy(st->slave_sae_id, slave_sae, sizeof(st->slave_sae_id));
	st->key_size = f->key_bits;
	st->stored_key_count = f->on_demand ? 0 : bytes / (f->key_bits / 8);
	st->max_key_count = 100000;
	st->max_key_per_request = f->max_key_per_request;
	st->max_key_size = f->max_key_size;
	st->min_key_size = 64;
	qm_strlcpy(st->extension,
	           f->extension[0]
	               ? f->extension
	               : "{\"link\":{\"qber\":0.021,\"key_rate_bps\":1000}}",
	           sizeof(st->extension));
	return QM_OK;
}

/* ------------------------------------------------------------ key store */

/* Appends the keys idx[0..n) to a container made by the real parser. */
static enum qm_err container(const size_t *idx, size_t n,
                             struct qm_kms_keys **out, struct qm_error *err)
{
	struct qm_buf js;
	enum qm_err rc;

	qm_buf_init_secure(&js, 64u << 20);
	rc = qm_buf_append_str(&js, "{\"keys\":[", err);
	for (size_t i = 0; i < n && !rc; i++) {
		const struct fk_key *kk = &keys[idx[i]];

		rc = qm_buf_appendf(&js, err, "%s{\"key_ID\":\"%s\",\"key\":\"",
		                    i ? "," : "", kk->id);
		if (!rc)
			rc = qm_b64_encode(kk->bytes, kk->len, &js, err);
		if (!rc)
			rc = qm_buf_append_str(&js, "\"}", err);
	}
	if (!rc)
		rc = qm_buf_append_str(&js, "]}", err);
	if (!rc)
		rc = qm_kms_keys_parse((const char *)js.data, js.len, 0, out,
		                       err);
	qm_buf_free(&js);
	return rc;
}

/* enc_keys by k's SAE for slave: number keys of bits each. */
static enum qm_err enc_request(struct qm_kms *k, const char *slave,
                               unsigned number, unsigned bits,
                               struct qm_kms_keys **out, struct qm_error *err)
{
	struct fake_kme *f = k->kme;
	struct fk_link *l;
	size_t idx[512];
	size_t bytes;
	int scripted;
	enum qm_err rc;

	rc = arrive(k, FK_ENC, &scripted, err);
	if (scripted)
		return rc;
	if (number == 0)
		number = 1;
	if (bits == 0)
		bits = f->key_bits;
	if (!slave || !slave[0] || strcmp(slave, k->sae) == 0)
		return refuse(k, 400, "slave_SAE_ID is not known to this KME",
		              err);
	if (bits % 8 || bits > f->max_key_size || bits / 8 > 1024 ||
	    number > f->max_key_per_request || number > 512)
		return refuse(k, 400, "wrong parameters", err);
	bytes = (size_t)number * (bits / 8);
	l = link_of(k->sae, slave, 1);
	if (!f->on_demand && l->bytes < bytes)
		return refuse(k, 503, "not enough key material on KME", err);
	if (!keys && !(keys = calloc(MAX_KEYS, sizeof(*keys))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (nkeys + number > MAX_KEYS)
		abort();
	if (!f->on_demand)
		l->bytes -= bytes;
	for (unsigned i = 0; i < number; i++) {
		struct fk_key *kk = &keys[nkeys];

		memset(kk, 0, sizeof(*kk));
		snprintf(kk->id, sizeof(kk->id), "%08x-0000-4000-8000-%012x",
		         ++key_serial, i);
		qm_strlcpy(kk->master, k->sae, sizeof(kk->master));
		qm_strlcpy(kk->slave, slave, sizeof(kk->slave));
		kk->len = bits / 8;
		qm_random(kk->bytes, kk->len);
		idx[i] = nkeys++;
	}
	return container(idx, number, out, err);
}

/* dec_keys by k's SAE (the slave) from master for ids[0..n). */
static enum qm_err dec_request(struct qm_kms *k, const char *master,
                               const char *const *ids, size_t n,
                               struct qm_kms_keys **out, struct qm_error *err)
{
	size_t idx[512];
	int scripted;
	enum qm_err rc;

	rc = arrive(k, FK_DEC, &scripted, err);
	if (scripted)
		return rc;
	if (n == 0 || n > 512)
		return refuse(k, 400, "wrong parameters", err);
	for (size_t i = 0; i < n; i++) {
		size_t j = 0;

		while (j < nkeys && strcmp(keys[j].id, ids[i]) != 0)
			j++;
		if (j == nkeys || keys[j].fetched || keys[j].expired ||
		    strcmp(keys[j].master, master) != 0)
			return refuse(k, 400, "key not found", err);
		if (strcmp(keys[j].slave, k->sae) != 0)
			return refuse(k, 401, "not addressed to this SAE", err);
		idx[i] = j;
	}
	rc = container(idx, n, out, err);
	if (!rc)
		for (size_t i = 0; i < n; i++)
			keys[idx[i]].fetched = 1;
	return rc;
}

/* Appends every key of src to *dst (made on first use). */
static enum qm_err join(struct qm_kms_keys **dst, struct qm_kms_keys **src,
                        struct qm_error *err)
{
	size_t a = *dst ? qm_kms_keys_count(*dst) : 0;
	size_t b = qm_kms_keys_count(*src), *idx;
	enum qm_err rc;

	if (!*dst) {
		*dst = *src;
		*src = NULL;
		return QM_OK;
	}
	/* both containers hold keys of the store: rebuild from it */
	idx = calloc(a + b, sizeof(*idx));
	if (!idx)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < a + b; i++) {
		const char *id = i < a ? qm_kms_keys_id(*dst, i)
		                       : qm_kms_keys_id(*src, i - a);
		size_t j = 0;

		while (j < nkeys && strcmp(keys[j].id, id) != 0)
			j++;
		idx[i] = j;
	}
	qm_kms_keys_free(dst);
	qm_kms_keys_free(src);
	rc = container(idx, a + b, dst, err);
	free(idx);
	return rc;
}

/* ----------------------------------------------------------- Get key */

enum qm_err qm_kms_enc_keys(struct qm_kms *k, const char *slave_sae,
                            const struct qm_kms_key_request *req,
                            struct qm_kms_keys **out, struct qm_error *err)
{
	return enc_request(k, slave_sae, req ? req->number : 0,
	                   req ? req->size_bits : 0, out, err);
}

enum qm_err qm_kms_keys_get(struct qm_kms *k, const char *slave_sae,
                            unsigned number, unsigned size_bits,
                            const char *const *additional, size_t n_additional,
                            struct qm_kms_keys **out, struct qm_error *err)
{
	(void)additional;
	if (n_additional)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "the fake KME serves no additional slaves");
	return enc_request(k, slave_sae, number, size_bits, out, err);
}

enum qm_err qm_kms_keys_by_id(struct qm_kms *k, const char *master_sae,
                              const char *const *key_ids, size_t n,
                              struct qm_kms_keys **out, struct qm_error *err)
{
	if (!key_ids || n == 0)
		return qm_error_set(err, QM_ERR_INVAL, "no key IDs to fetch");
	return dec_request(k, master_sae, key_ids, n, out, err);
}

/* As src/kms/kms.c: the status first; a KME that holds some key but too
 * little for several requests is believed and not asked; otherwise its
 * answers decide. */
enum qm_err qm_kms_material_get(struct qm_kms *k, const char *slave_sae,
                                size_t nbytes, struct qm_kms_keys **out,
                                struct qm_error *err)
{
	struct qm_kms_status st;
	struct qm_kms_keys *ks = NULL, *got = NULL;
	uint64_t size, nk, per;
	enum qm_err rc;

	if (nbytes == 0 || nbytes > QM_KMS_BODY_MAX)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "cannot fetch %zu bytes of key material",
		                    nbytes);
	rc = qm_kms_status_get(k, slave_sae, &st, err);
	if (rc)
		return rc;
	size = st.max_key_size ? st.max_key_size : st.key_size;
	size -= size % 8;
	if (size > 8192)
		size = 8192; /* the store's keys are at most 1 KiB */
	nk = ((uint64_t)nbytes * 8 + size - 1) / size;
	per = st.max_key_per_request ? st.max_key_per_request : 1;
	if (st.stored_key_count &&
	    st.stored_key_count * st.key_size < nk * size && nk > per)
		return qm_error_set(
		    err, QM_ERR_UNAVAIL,
		    "KME at %s holds %llu bytes of key material "
		    "for %s, %llu bytes are needed",
		    k->url,
		    (unsigned long long)(st.stored_key_count * st.key_size / 8),
		    slave_sae, (unsigned long long)(nk * size / 8));
	for (uint64_t done = 0; done < nk && !rc;) {
		unsigned num = (unsigned)(nk - done < per ? nk - done : per);

		rc = enc_request(k, slave_sae, num, (unsigned)size, &got, err);
		if (!rc)
			rc = join(&ks, &got, err);
		done += num;
	}
	qm_kms_keys_free(&got);
	if (rc) {
		qm_kms_keys_free(&ks);
		return rc;
	}
	*out = ks;
	return QM_OK;
}

enum qm_err qm_kms_material_by_ids(struct qm_kms *k, const char *master_sae,
                                   const char *const *key_ids, size_t n,
                                   struct qm_kms_keys **out,
                                   struct qm_error *err)
{
	struct qm_kms_status st;
	struct qm_kms_keys *ks = NULL, *got = NULL;
	size_t per = 1;
	enum qm_err rc = QM_OK;

	if (!key_ids || n == 0)
		return qm_error_set(err, QM_ERR_INVAL, "no key IDs to fetch");
	/* dec_chunk 0 (the engine's): ask the status, as src/kms does */
	if (qm_kms_status_get(k, master_sae, &st, NULL) == QM_OK &&
	    st.max_key_per_request)
		per = st.max_key_per_request;
	for (size_t done = 0; done < n && !rc;) {
		size_t m = n - done < per ? n - done : per;

		rc = dec_request(k, master_sae, key_ids + done, m, &got, err);
		if (!rc)
			rc = join(&ks, &got, err);
		done += m;
	}
	qm_kms_keys_free(&got);
	if (rc) {
		qm_kms_keys_free(&ks);
		return rc;
	}
	*out = ks;
	return QM_OK;
}
