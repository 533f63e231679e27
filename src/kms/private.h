/* SPDX-License-Identifier: MIT */
/*
 * kms internals shared by the files of src/kms: the key container's body,
 * the client handle and the HTTP transport. Nothing outside src/kms sees it.
 */
#ifndef QM_KMS_PRIVATE_H
#define QM_KMS_PRIVATE_H

#include <curl/curl.h>

#include "kms.h"

/* Keys in order; bytes of key i are mat.data[off[i] .. off[i] + len[i]). */
struct qm_kms_keys {
	size_t count;
	size_t cap;
	char **ids;
	size_t *off;
	size_t *len;
	struct qm_buf mat; /* secure */
	/* the key_container_extension of each reply that had one, compact
	 * JSON with sorted keys, in the order the replies came */
	char **exts;
	size_t nexts;
};

struct qm_kms {
	char *url; /* base, no trailing '/' */
	char *cert_file;
	char *key_file;
	char *ca_file;
	char *kme_id;   /* NULL: no KME ID check */
	char *key_pass; /* secure memory or NULL */
	long connect_timeout_ms;
	long timeout_ms;
	unsigned retries;
	long retry_delay_ms;
	long retry_delay_max_ms;
	size_t max_body;
	unsigned dec_chunk;
	size_t max_json_depth;

	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	unsigned long connections;
	long last_status; /* HTTP status of the last answer, 0: none */
	/* set by the certificate check when the KME ID does not match */
	int id_mismatch;
	char peer_name[QM_KMS_ID_MAX + 1];
};

/* An empty container that may hold up to max_material key bytes. */
QM_NODISCARD enum qm_err kms_keys_new(struct qm_kms_keys **out,
                                      struct qm_error *err);
/* Appends one key: copies id, decodes b64 (n chars) into secure memory. */
/* Room for bytes of key material in all, taken at once (the bulk helpers
 * know it: no growth by doubling of the locked block). */
QM_NODISCARD enum qm_err kms_keys_expect(struct qm_kms_keys *ks, uint64_t bytes,
                                         struct qm_error *err);
QM_NODISCARD enum qm_err kms_keys_add_b64(struct qm_kms_keys *ks,
                                          const char *id, const char *b64,
                                          size_t n, size_t expect_bytes,
                                          struct qm_error *err);
/* Appends src's key i (id and bytes) to dst. */
/* Appends a copy of ext (compact JSON) to ks's extensions. */
QM_NODISCARD enum qm_err kms_keys_ext_add(struct qm_kms_keys *ks,
                                          const char *ext,
                                          struct qm_error *err);
QM_NODISCARD enum qm_err kms_keys_add_from(struct qm_kms_keys *dst,
                                           const struct qm_kms_keys *src,
                                           size_t i, struct qm_error *err);
/* Parses a Key container and appends its keys to ks; JSON nesting deeper
 * than depth is refused before jansson parses. */
QM_NODISCARD enum qm_err kms_keys_parse_into(struct qm_kms_keys *ks,
                                             const char *json, size_t len,
                                             size_t expect_bytes, size_t depth,
                                             struct qm_error *err);
/* qm_kms_status_parse and qm_kms_error_parse with a JSON depth limit. */
QM_NODISCARD enum qm_err kms_status_parse(const char *json, size_t len,
                                          size_t depth,
                                          struct qm_kms_status *st,
                                          struct qm_error *err);
QM_NODISCARD enum qm_err kms_error_parse(const char *json, size_t len,
                                         size_t depth, char *msg,
                                         size_t msgsize, struct qm_error *err);

/* Checks an SAE ID or key ID from a caller: 1..QM_KMS_ID_MAX bytes, no
 * control characters. what names it in the message. */
QM_NODISCARD enum qm_err kms_id_check(const char *id, const char *what,
                                      struct qm_error *err);

enum kms_method { KMS_GET, KMS_POST };

/*
 * One request to path (starting with "/api/v1/") with retries. body is the
 * JSON text of a POST (NULL for GET). The reply goes into reply (a secure
 * buffer the caller initialised with its limit). Returns QM_OK only for a
 * 200 reply; otherwise err says what the KME or the connection did.
 */
QM_NODISCARD enum qm_err kms_http(struct qm_kms *k, enum kms_method method,
                                  const char *path, const char *body,
                                  struct qm_buf *reply, struct qm_error *err);
/* Sets up the easy handle of a new client (TLS files, time-outs). */
QM_NODISCARD enum qm_err kms_http_setup(struct qm_kms *k, struct qm_error *err);

#endif /* QM_KMS_PRIVATE_H */
