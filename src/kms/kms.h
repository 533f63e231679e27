/* SPDX-License-Identifier: MIT */
/*
 * kms: the ETSI GS QKD 014 V1.1.1 client. An SAE (this QMail account) asks
 * its Key Management Entity for keys over HTTPS with mutual TLS (libcurl,
 * OpenSSL build): Get status, Get key (enc_keys) and Get key with key IDs
 * (dec_keys). The KME's certificate is always verified against the
 * configured CA; there is no way to turn that off. Key bytes go from the
 * base64 in the reply straight into secure memory and every buffer that held
 * them is wiped. Replies are parsed strictly and with hard size limits.
 *
 * A struct qm_kms keeps one connection open to its KME (keep-alive) and is
 * not thread-safe: use one handle per thread.
 */
#ifndef QM_KMS_H
#define QM_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Longest SAE ID, KME ID or key_ID accepted (bytes, without the NUL). */
#define QM_KMS_ID_MAX 255
/* Longest status_extension kept, as compact JSON text (bytes with NUL). */
#define QM_KMS_EXT_MAX 4096
/* Longest message kept from a KME's Error body. */
#define QM_KMS_MSG_MAX 256
/* Default and largest reply size; status and error replies are capped lower. */
#define QM_KMS_BODY_DEFAULT   (16u * 1024 * 1024)
#define QM_KMS_BODY_MAX       (256u * 1024 * 1024)
#define QM_KMS_SMALL_BODY_MAX (64u * 1024)
/* Most keys one container may hold (a bound for hostile replies). */
#define QM_KMS_KEYS_MAX 100000u
/* Default and largest JSON nesting depth accepted in a reply, checked
 * before jansson parses (the deepest legitimate member is a KME's
 * status_extension). */
#define QM_KMS_JSON_DEPTH_DEFAULT 32u
#define QM_KMS_JSON_DEPTH_MAX     1024u

/*
 * How to reach one KME. Fill with qm_kms_config_init (defaults) and set the
 * fields; qm_kms_new copies everything, so the strings may be freed after.
 */
struct qm_kms_config {
	const char
	    *url; /* "https://host:port[/prefix]"; /api/v1/... is added */
	const char *cert_file; /* this SAE's client certificate (PEM) */
	const char *key_file;  /* its private key (PEM) */
	const char *key_pass;  /* passphrase of key_file or NULL; copied to
	                          secure memory */
	const char
	    *ca_file; /* CA certificate(s) that issued the KME's certificate */
	const char *
	    kme_id; /* when set, the KME certificate must name it (CN or SAN) */
	long connect_timeout_ms; /* default 5000 */
	long timeout_ms;         /* whole request, default 30000 */
	unsigned retries;        /* extra attempts on 503 and connection errors,
	                            default 2 */
	long
	    retry_delay_ms; /* first back-off, doubled each time, default 200 */
	long retry_delay_max_ms; /* back-off cap, default 3000 */
	size_t max_body;         /* largest key-container reply, default
	                            QM_KMS_BODY_DEFAULT */
	unsigned dec_chunk; /* key IDs per dec_keys request in the bulk helper;
	                       0: ask status */
	size_t max_json_depth; /* deepest JSON nesting in a reply, default
	                          QM_KMS_JSON_DEPTH_DEFAULT, at most
	                          QM_KMS_JSON_DEPTH_MAX */
};

/* Fills c with the defaults above and NULL strings. */
void qm_kms_config_init(struct qm_kms_config *c);

struct qm_kms;

/*
 * Creates a client for one KME. Checks that the files exist and that libcurl
 * uses OpenSSL; does not connect yet. QM_ERR_INVAL for a missing field or a
 * URL that is not https, QM_ERR_UNSUPPORTED when libcurl is not an OpenSSL
 * build, QM_ERR_IO when a file cannot be read.
 */
QM_NODISCARD enum qm_err qm_kms_new(const struct qm_kms_config *cfg,
                                    struct qm_kms **out, struct qm_error *err);
/* Closes the connection, wipes the passphrase, frees, sets *k to NULL. */
void qm_kms_free(struct qm_kms **k);
/* The KME base URL as configured (without trailing '/'). */
const char *qm_kms_url(const struct qm_kms *k);
/* Number of TCP connections this handle opened so far (to check keep-alive). */
unsigned long qm_kms_connections(const struct qm_kms *k);
/*
 * The HTTP status of the KME's answer to this handle's last request (200,
 * 400, 401, 503, ...), or 0 when that request got no answer (connection,
 * TLS or time-out failure) or none was sent. Lets a caller tell a request
 * the KME refused (400: this request is bad) from a KME it cannot use.
 */
long qm_kms_last_status(const struct qm_kms *k);

/* ------------------------------------------------------------------ status */

/*
 * An ETSI 014 Status. Fields the KME left out are "" or 0 (other KMEs omit
 * optional members); key_size may be any number of bits, not only multiples
 * of 8. extension is status_extension as compact JSON ("" when absent or
 * longer than QM_KMS_EXT_MAX).
 */
#define QM_KMS_HAS_STORED_KEY_COUNT    0x1u
#define QM_KMS_HAS_MAX_KEY_PER_REQUEST 0x2u
#define QM_KMS_HAS_MAX_KEY_SIZE        0x4u
#define QM_KMS_HAS_KEY_SIZE            0x8u

struct qm_kms_status {
	unsigned present; /* QM_KMS_HAS_* of the members the KME sent */
	char source_kme_id[QM_KMS_ID_MAX + 1];
	char target_kme_id[QM_KMS_ID_MAX + 1];
	char master_sae_id[QM_KMS_ID_MAX + 1];
	char slave_sae_id[QM_KMS_ID_MAX + 1];
	uint64_t key_size;
	uint64_t stored_key_count;
	uint64_t max_key_count;
	uint64_t max_key_per_request;
	uint64_t max_key_size;
	uint64_t min_key_size;
	uint64_t max_sae_id_count;
	char extension[QM_KMS_EXT_MAX];
};

/*
 * Get status: GET /api/v1/keys/{slave_sae}/status. Fills *st on success.
 * Errors: QM_ERR_DENIED (401), QM_ERR_UNAVAIL (503 after the retries),
 * QM_ERR_PROTO (400 or another status, with the KME's message),
 * QM_ERR_PARSE (malformed reply), QM_ERR_TOOBIG, QM_ERR_TLS, QM_ERR_NET,
 * QM_ERR_TIMEOUT. Every message names the KME URL.
 */
QM_NODISCARD enum qm_err qm_kms_status_get(struct qm_kms *k,
                                           const char *slave_sae,
                                           struct qm_kms_status *st,
                                           struct qm_error *err);

/*
 * qkme's view of its QKD network (not ETSI 014: GET /kme/v1/sae/network,
 * for the SAEs it serves): the JSON text, at most 64 KiB and no deeper
 * than the client's JSON depth, appended to out. A KME without it answers
 * 404 (QM_ERR_PROTO).
 */
QM_NODISCARD enum qm_err qm_kms_network_get(struct qm_kms *k,
                                            struct qm_buf *out,
                                            struct qm_error *err);

/* ------------------------------------------------------------ key container */

/*
 * Keys received from a KME, in the order the KME sent them. IDs are plain
 * heap strings (not secret); all key bytes sit in one secure allocation,
 * key after key, so qm_kms_keys_material gives them concatenated.
 */
struct qm_kms_keys;

size_t qm_kms_keys_count(const struct qm_kms_keys *ks);
/* The i-th key_ID (NULL when i is out of range). */
const char *qm_kms_keys_id(const struct qm_kms_keys *ks, size_t i);
/* The i-th key's bytes (secure memory owned by ks) and length in *len. */
const unsigned char *qm_kms_keys_key(const struct qm_kms_keys *ks, size_t i,
                                     size_t *len);
/* All key bytes concatenated, total length in *len (NULL when empty). */
const unsigned char *qm_kms_keys_material(const struct qm_kms_keys *ks,
                                          size_t *len);
/*
 * The key_container_extension of each KME reply the keys came in (a bulk
 * fetch makes several requests) that had a non-empty one, as compact JSON
 * with sorted keys, in the order received; *n gets their number. A KME
 * says there what it knows of the keys' path (qkme: {"relayed":true,
 * "hops":N,"trusted_nodes":N,"source_KME_ID":"..."}); an extension longer
 * than QM_KMS_EXT_MAX is left out.
 */
const char *const *qm_kms_keys_extensions(const struct qm_kms_keys *ks,
                                          size_t *n);
/* Wipes the key bytes, frees everything, sets *ks to NULL. */
void qm_kms_keys_free(struct qm_kms_keys **ks);

/* -------------------------------------------------------------- Get key */

/* A Get key request. Zero / NULL members are left out of the request. */
struct qm_kms_key_request {
	unsigned number;    /* keys wanted; 0: the KME's default (1) */
	unsigned size_bits; /* bits a key; 0: the KME's default key_size */
	const char *const *additional_slaves; /* additional_slave_SAE_IDs */
	size_t n_additional;
	const char *extension_mandatory; /* JSON array text, or NULL */
	const char *extension_optional;  /* JSON array text, or NULL */
};

/*
 * Get key (enc_keys) for slave_sae. A GET with ?number=&size= when the
 * request has only those, a POST with a JSON Key request otherwise. The reply
 * must hold exactly the number of keys asked for, each of size_bits (rounded
 * up to bytes) when size_bits was given. *out gets a new container the
 * caller frees with qm_kms_keys_free. Errors as qm_kms_status_get;
 * QM_ERR_INVAL for a bad request (the extensions are not JSON arrays, ...).
 */
QM_NODISCARD enum qm_err qm_kms_enc_keys(struct qm_kms *k,
                                         const char *slave_sae,
                                         const struct qm_kms_key_request *req,
                                         struct qm_kms_keys **out,
                                         struct qm_error *err);

/*
 * Shorthand for qm_kms_enc_keys with number, size_bits and the additional
 * slave SAE IDs (additional may be NULL when n_additional is 0).
 */
QM_NODISCARD enum qm_err
qm_kms_keys_get(struct qm_kms *k, const char *slave_sae, unsigned number,
                unsigned size_bits, const char *const *additional,
                size_t n_additional, struct qm_kms_keys **out,
                struct qm_error *err);

/*
 * Get key with key IDs (dec_keys) from master_sae: GET ?key_ID= for one ID,
 * POST {"key_IDs":[...]} for several. The reply must hold exactly those IDs;
 * the container keeps the order of key_ids. QM_ERR_NOTFOUND when the KME
 * says the keys are not found (already fetched, expired, or never made);
 * QM_ERR_DENIED when the keys were not addressed to this SAE; otherwise
 * errors as qm_kms_status_get.
 */
QM_NODISCARD enum qm_err qm_kms_keys_by_id(struct qm_kms *k,
                                           const char *master_sae,
                                           const char *const *key_ids, size_t n,
                                           struct qm_kms_keys **out,
                                           struct qm_error *err);

/* ------------------------------------------------------ key material in bulk
 */

/*
 * Fetches at least nbytes of key material for slave_sae in as few requests
 * as the KME's status allows: the largest key size that is a multiple of 8
 * (up to max_key_size), as many keys per request as max_key_per_request and
 * max_body permit. The keys come back in one container, in order; the
 * material may be longer than nbytes by less than one key. QM_ERR_UNAVAIL
 * with the amounts needed and available when the KME holds too few keys
 * (checked against stored_key_count before anything is taken) for
 * several requests; when its status reports no key at all (a KME that
 * makes keys on demand), or the material fits in one request, the KME is
 * asked and its answer decides (a refusal hands out nothing).
 */
QM_NODISCARD enum qm_err
qm_kms_material_get(struct qm_kms *k, const char *slave_sae, size_t nbytes,
                    struct qm_kms_keys **out, struct qm_error *err);

/*
 * The receiver's side: fetches the keys with these IDs from master_sae, in
 * chunks of cfg.dec_chunk IDs (or, when that is 0, of max_key_per_request
 * from Get status with master_sae), into one container in key_ids order.
 * Errors as qm_kms_keys_by_id; on failure no container is returned (keys
 * fetched by earlier chunks are wiped).
 */
QM_NODISCARD enum qm_err
qm_kms_material_by_ids(struct qm_kms *k, const char *master_sae,
                       const char *const *key_ids, size_t n,
                       struct qm_kms_keys **out, struct qm_error *err);

/* --------------------------------------------------------------- parsers */

/*
 * The reply parsers, exposed for tests and fuzzing. Each parses len bytes
 * of JSON strictly: the top level must be an object, known members must have
 * the standard's type, unknown members are ignored, duplicate members are
 * rejected (QM_ERR_PARSE naming the member).
 *
 * qm_kms_status_parse fills *st. qm_kms_keys_parse makes a container;
 * expect_bytes, when not 0, is the length every key must have.
 * qm_kms_error_parse copies the Error "message", followed by the string
 * members of the "details" objects in parentheses, into msg (printable
 * ASCII only, truncated to msgsize - 1).
 */
QM_NODISCARD enum qm_err qm_kms_status_parse(const char *json, size_t len,
                                             struct qm_kms_status *st,
                                             struct qm_error *err);
QM_NODISCARD enum qm_err qm_kms_keys_parse(const char *json, size_t len,
                                           size_t expect_bytes,
                                           struct qm_kms_keys **out,
                                           struct qm_error *err);
QM_NODISCARD enum qm_err qm_kms_error_parse(const char *json, size_t len,
                                            char *msg, size_t msgsize,
                                            struct qm_error *err);

/*
 * Makes the JSON libraries wipe what they free: jansson's allocator is set
 * to malloc plus a wipe on free (compatible with memory from plain malloc),
 * and libcurl's the same when it was not initialised yet. Called by
 * qm_kms_new; safe to call again and from several threads. No other code in
 * the process may call json_set_alloc_funcs.
 */
void qm_kms_global_init(void);

#endif /* QM_KMS_H */
