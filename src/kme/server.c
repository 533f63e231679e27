/* SPDX-License-Identifier: MIT */
/*
 * qkme's HTTPS server (libmicrohttpd over GnuTLS): asks every client for a
 * certificate, verifies it against the network's CA on every connection,
 * takes its CN as the caller's SAE (or KME, or operator) ID, and routes the
 * ETSI 014 paths, the KME-to-KME paths and the operator paths.
 */
#include "private.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

/* Per connection: the verified CN, checked once per TLS session. */
struct conn_ctx {
	int checked;
	int ok;
	char cn[KME_IDMAX];
	char why[160];
};

/* Per request: the body gathered so far. */
struct req_ctx {
	struct qm_buf body;
	int too_big;
	int discard; /* no valid certificate: the body is not kept */
	int peer;    /* a peer KME's JSON request: KME_PEER_BODYMAX */
};

static void notify_conn(void *cls, struct MHD_Connection *c, void **sock_ctx,
                        enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)c;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*sock_ctx = calloc(1, sizeof(struct conn_ctx));
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		free(*sock_ctx);
		*sock_ctx = NULL;
	}
}

static void check_cert(struct MHD_Connection *c, struct conn_ctx *cc)
{
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t s;
	const gnutls_datum_t *certs;
	unsigned int n = 0, status = 0;
	gnutls_x509_crt_t crt = NULL;
	size_t len = sizeof(cc->cn) - 1;

	cc->checked = 1;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session) {
		qm_strlcpy(cc->why, "not a TLS connection", sizeof(cc->why));
		return;
	}
	s = (gnutls_session_t)ci->tls_session;
	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || n == 0) {
		qm_strlcpy(cc->why, "no client certificate was presented",
		           sizeof(cc->why));
		return;
	}
	if (gnutls_certificate_verify_peers2(s, &status) < 0 || status) {
		gnutls_datum_t out = {NULL, 0};
		if (gnutls_certificate_verification_status_print(
			    status, GNUTLS_CRT_X509, &out, 0) == 0) {
			snprintf(cc->why, sizeof(cc->why),
			         "client certificate rejected: %s", out.data);
			gnutls_free(out.data);
		} else {
			qm_strlcpy(cc->why, "client certificate rejected",
			           sizeof(cc->why));
		}
		return;
	}
	if (gnutls_x509_crt_init(&crt) < 0)
		return;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	                                  0, cc->cn, &len) < 0 ||
	    len == 0) {
		qm_strlcpy(cc->why, "client certificate has no common name",
		           sizeof(cc->why));
		cc->cn[0] = '\0';
	} else {
		cc->cn[len] = '\0';
		cc->ok = 1;
	}
	gnutls_x509_crt_deinit(crt);
}

static void free_body(void *p)
{
	/* secure reply bodies carry keys: wiped as they are freed */
	qm_sec_free(p);
}

static enum MHD_Result send_reply(struct MHD_Connection *c,
                                  struct kme_reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = r->body.len;
	unsigned char *data = r->body.data;

	if (!data) {
		resp = MHD_create_response_from_buffer(0, (void *)"",
		                                       MHD_RESPMEM_PERSISTENT);
	} else if (r->chunk) {
		resp = MHD_create_response_from_buffer_with_free_callback(
			len, data, kme_chunk_put);
		r->body.data = NULL;
	} else if (r->body.secure) {
		data = qm_buf_steal(&r->body, &len);
		resp = MHD_create_response_from_buffer_with_free_callback(
			len, data, free_body);
	} else {
		data = qm_buf_steal(&r->body, &len);
		resp = MHD_create_response_from_buffer_with_free_callback(
			len, data, free);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Splits /api/v1/keys/{id}/{method}: copies id, returns method or NULL. */
static const char *etsi_path(const char *url, char *id, size_t idlen)
{
	static const char pfx[] = "/api/v1/keys/";
	const char *p, *slash;

	if (strncmp(url, pfx, sizeof(pfx) - 1) != 0)
		return NULL;
	p = url + sizeof(pfx) - 1;
	slash = strchr(p, '/');
	if (!slash || slash == p || (size_t)(slash - p) >= idlen)
		return NULL;
	memcpy(id, p, (size_t)(slash - p));
	id[slash - p] = '\0';
	return slash + 1;
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
	struct qm_kme *k = cls;
	struct req_ctx *rq = *con_cls;
	struct kme_reply r;
	const union MHD_ConnectionInfo *ci;
	struct conn_ctx *cc;
	int is_get = strcmp(method, "GET") == 0;
	int is_post = strcmp(method, "POST") == 0;
	char id[KME_IDMAX];
	const char *m;
	const char *body;
	size_t blen;

	(void)version;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	cc = ci ? ci->socket_context : NULL;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		if (cc && !cc->checked)
			check_cert(c, cc);
		/* bodies of the peer channel carry key bytes, and only a peer
		 * KME may make us hold that much; its other requests (key IDs
		 * in batches) have their own bound, not the SAEs' max_body */
		if (strncmp(url, "/kme/v1/peer/block", 18) == 0 && cc &&
		    cc->ok && kme_link_for_peer(k, cc->cn))
			qm_buf_init_secure(&rq->body, 1 << 26);
		else if ((rq->peer = strncmp(url, "/kme/v1/peer/", 13) == 0 &&
		                     cc && cc->ok &&
		                     kme_link_for_peer(k, cc->cn) != NULL))
			qm_buf_init(&rq->body, KME_PEER_BODYMAX);
		else
			qm_buf_init(&rq->body, (size_t)k->conf.max_body);
		/* nobody without a valid certificate makes us buffer a body */
		rq->discard = !cc || !cc->ok;
		*con_cls = rq;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!rq->too_big && !rq->discard &&
		    qm_buf_append(&rq->body, upload, *upload_size, NULL))
			rq->too_big = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	memset(&r, 0, sizeof(r));
	if (!cc) {
		kme_api_error(&r, 503, "out of memory on KME", NULL);
		return send_reply(c, &r);
	}
	if (!cc->ok) {
		kme_api_error(&r, 401, "unauthorized",
		              cc->why[0] ? cc->why
		                         : "a valid client certificate is "
		                           "required");
		return send_reply(c, &r);
	}
	if (rq->too_big) {
		char why[96];

		if (rq->peer)
			snprintf(why, sizeof(why),
			         "the request body is larger than the %d bytes "
			         "a peer KME may send",
			         KME_PEER_BODYMAX);
		else
			snprintf(why, sizeof(why),
			         "the request body is larger than this KME's "
			         "max_body of %lld bytes",
			         k->conf.max_body);
		kme_api_error(&r, 413, "request body too large", why);
		return send_reply(c, &r);
	}
	if (!is_get && !is_post) {
		kme_api_error(&r, 405, "method not allowed", NULL);
		return send_reply(c, &r);
	}
	body = (is_post && rq->body.data) ? (const char *)rq->body.data : NULL;
	blen = rq->body.len;
	if (is_post && !body) {
		body = "";
		blen = 0;
	}
	if ((m = etsi_path(url, id, sizeof(id)))) {
		if (strcmp(m, "status") == 0 && is_get)
			kme_api_status(k, cc->cn, id, &r);
		else if (strcmp(m, "enc_keys") == 0)
			kme_api_enc_keys(k, cc->cn, id, is_post ? body : NULL,
			                 blen, arg(c, "number"), arg(c, "size"),
			                 &r);
		else if (strcmp(m, "dec_keys") == 0)
			kme_api_dec_keys(k, cc->cn, id, is_post ? body : NULL,
			                 blen, arg(c, "key_ID"), &r);
		else
			kme_api_error(&r, 404, "not found",
			              "no such ETSI GS QKD 014 method");
	} else if (is_post && strcmp(url, "/kme/v1/peer/reserve") == 0) {
		kme_api_peer_reserve(k, cc->cn, body, blen, &r);
	} else if (is_post && strcmp(url, "/kme/v1/peer/block") == 0) {
		kme_api_peer_block(k, cc->cn, arg(c, "lo_off"),
		                   arg(c, "lo_len"), arg(c, "hi_off"),
		                   arg(c, "hi_len"), arg(c, "stats"),
		                   arg(c, "blk"),
		                   rq->body.data, rq->body.len, &r);
	} else if (is_post && strcmp(url, "/kme/v1/peer/flush") == 0) {
		kme_api_peer_flush(k, cc->cn, &r);
	} else if (is_post && strcmp(url, "/kme/v1/peer/sync") == 0) {
		kme_api_peer_sync(k, cc->cn, body, blen, &r);
	} else if (is_post && strcmp(url, "/kme/v1/peer/grant") == 0) {
		kme_api_peer_grant(k, cc->cn, body, blen, &r);
	} else if (is_post && strcmp(url, "/kme/v1/peer/align") == 0) {
		kme_api_peer_align(k, cc->cn, body, blen, &r);
	} else if (is_post && strcmp(url, "/kme/v1/peer/eve") == 0) {
		kme_api_eve(k, cc->cn, 1, body, blen, &r);
	} else if (is_post && strcmp(url, "/kme/v1/ctl/eve") == 0) {
		kme_api_eve(k, cc->cn, 0, body, blen, &r);
	} else if (is_get && strcmp(url, "/kme/v1/ctl/stats") == 0) {
		kme_api_stats(k, cc->cn, &r);
	} else if (is_post && strcmp(url, "/kme/v1/peer/lsa") == 0) {
		kme_api_peer_lsa(k, cc->cn, body, blen, &r);
	} else if (is_get && strcmp(url, "/kme/v1/ctl/routes") == 0) {
		kme_api_routes(k, cc->cn, &r);
	} else if (is_get && strcmp(url, "/kme/v1/sae/network") == 0) {
		kme_api_sae_network(k, cc->cn, &r);
	} else if (is_post && strcmp(url, "/kme/v1/peer/relay") == 0) {
		kme_api_peer_relay(k, cc->cn, body, blen, &r);
	} else if (is_post && strcmp(url, "/kme/v1/ctl/relay-tamper") == 0) {
		kme_api_relay_tamper(k, cc->cn, body, blen, &r);
	} else {
		kme_api_error(&r, 404, "not found", NULL);
	}
	return send_reply(c, &r);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *rq = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (rq) {
		qm_buf_free(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	qm_log_format(line, sizeof(line), fmt, ap);
	qm_log(QM_LOG_DEBUG, "http: %s", line);
}

enum qm_err kme_server_start(struct qm_kme *k, struct qm_error *err)
{
	struct sockaddr_in sa;
	enum qm_err rc;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)k->conf.port);
	if (inet_pton(AF_INET, k->conf.listen_addr, &sa.sin_addr) != 1)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "listen address \"%s\" is not an IPv4 "
		                    "address",
		                    k->conf.listen_addr);
	qm_buf_init(&k->cert_pem_buf, 1 << 20);
	qm_buf_init_secure(&k->key_pem_buf, 1 << 20);
	qm_buf_init(&k->ca_pem_buf, 1 << 20);
	if ((rc = qm_file_read(k->conf.cert, 1 << 20, &k->cert_pem_buf, err)) ||
	    (rc = qm_file_read(k->conf.key, 1 << 20, &k->key_pem_buf, err)) ||
	    (rc = qm_file_read(k->conf.ca, 1 << 20, &k->ca_pem_buf, err)))
		return qm_error_prefix(err, "reading the TLS files: ");
	k->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_POLL,
		0, NULL, NULL, handle, k, MHD_OPTION_SOCK_ADDR, &sa,
		MHD_OPTION_HTTPS_MEM_CERT, (const char *)k->cert_pem_buf.data,
		MHD_OPTION_HTTPS_MEM_KEY, (const char *)k->key_pem_buf.data,
		MHD_OPTION_HTTPS_MEM_TRUST, (const char *)k->ca_pem_buf.data,
		MHD_OPTION_NOTIFY_CONNECTION, notify_conn, k,
		MHD_OPTION_NOTIFY_COMPLETED, completed, k,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, k, MHD_OPTION_END);
	if (!k->mhd)
		return qm_error_set(err, QM_ERR_NET,
		                    "cannot listen on %s:%d with the TLS files "
		                    "%s, %s, %s (port in use, or a bad "
		                    "certificate or key)",
		                    k->conf.listen_addr, k->conf.port,
		                    k->conf.cert, k->conf.key, k->conf.ca);
	return QM_OK;
}

void kme_server_stop(struct qm_kme *k)
{
	if (k->mhd) {
		MHD_stop_daemon(k->mhd);
		k->mhd = NULL;
	}
	qm_buf_free(&k->cert_pem_buf);
	qm_buf_free(&k->key_pem_buf);
	qm_buf_free(&k->ca_pem_buf);
}
