/* SPDX-License-Identifier: MIT */
/*
 * The HTTPS transport to a KME over libcurl (OpenSSL): mutual TLS with the
 * server certificate always verified against the configured CA only, an
 * optional check that the certificate names the expected KME ID, keep-alive
 * through one easy handle, bounded replies in secure memory, a bounded retry
 * with back-off on 503 and connection errors, and error messages that say
 * what failed and what to do.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "private.h"

/* ------------------------------------------------------ KME ID check */

static int ctx_index = -1;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void ctx_index_init(void)
{
	ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* True when the certificate names id as a subject CN or a DNS/URI SAN. */
static int cert_names(X509 *cert, const char *id, char *seen, size_t seensize)
{
	X509_NAME *subj = X509_get_subject_name(cert);
	GENERAL_NAMES *sans;
	int found = 0, pos = -1;
	size_t idlen = strlen(id);

	while (!found && subj &&
	       (pos = X509_NAME_get_index_by_NID(subj, NID_commonName, pos)) >=
	           0) {
		ASN1_STRING *d =
		    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, pos));
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, d);

		if (n >= 0) {
			if (!seen[0])
				qm_strlcpy(seen, (const char *)u, seensize);
			found = (size_t)n == idlen && memcmp(u, id, idlen) == 0;
			OPENSSL_free(u);
		}
	}
	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; !found && sans && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		const ASN1_IA5STRING *s = NULL;

		if (g->type == GEN_DNS)
			s = g->d.dNSName;
		else if (g->type == GEN_URI)
			s = g->d.uniformResourceIdentifier;
		if (s && (size_t)ASN1_STRING_length(s) == idlen &&
		    memcmp(ASN1_STRING_get0_data(s), id, idlen) == 0)
			found = 1;
	}
	GENERAL_NAMES_free(sans);
	return found;
}

static int verify_cb(int ok, X509_STORE_CTX *store)
{
	SSL *ssl;
	struct qm_kms *k;

	if (!ok || X509_STORE_CTX_get_error_depth(store) != 0)
		return ok;
	ssl = X509_STORE_CTX_get_ex_data(store,
	                                 SSL_get_ex_data_X509_STORE_CTX_idx());
	if (!ssl)
		return 0;
	k = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
	if (!k || !k->kme_id)
		return ok;
	k->peer_name[0] = '\0';
	if (cert_names(X509_STORE_CTX_get_current_cert(store), k->kme_id,
	               k->peer_name, sizeof(k->peer_name)))
		return 1;
	k->id_mismatch = 1;
	X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

/* libcurl calls this after its own TLS set-up, before each handshake. */
static CURLcode ssl_ctx_cb(CURL *curl, void *sslctx, void *arg)
{
	SSL_CTX *ctx = sslctx;

	(void)curl;
	if (ctx_index < 0 || !SSL_CTX_set_ex_data(ctx, ctx_index, arg))
		return CURLE_SSL_CERTPROBLEM;
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), verify_cb);
	return CURLE_OK;
}

/* --------------------------------------------------------------- set-up */

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct qm_buf *b = arg;
	size_t n = size * nmemb;

	if (qm_buf_append(b, p, n, NULL) != QM_OK)
		return 0; /* too big: libcurl stops with CURLE_WRITE_ERROR */
	return n;
}

enum qm_err kms_http_setup(struct qm_kms *k, struct qm_error *err)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	CURLcode c = CURLE_OK;

	if (!vi->ssl_version || strncmp(vi->ssl_version, "OpenSSL", 7) != 0)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "libcurl uses %s, but the KME client needs "
		                    "libcurl built with OpenSSL "
		                    "(Debian: libcurl4-openssl-dev)",
		                    vi->ssl_version ? vi->ssl_version
		                                    : "no TLS");
	pthread_once(&ctx_once, ctx_index_init);
	if (ctx_index < 0)
		return qm_error_set(
		    err, QM_ERR_TLS,
		    "OpenSSL could not reserve an ex_data index");
	k->curl = curl_easy_init();
	if (!k->curl)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "libcurl could not make a handle");
#define SET(opt, val)                                                          \
	do {                                                                   \
		if (c == CURLE_OK)                                             \
			c = curl_easy_setopt(k->curl, opt, val);               \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, k->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, ""); /* never through a proxy from the environment */
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_CAINFO, k->ca_file);
	SET(CURLOPT_CAPATH,
	    NULL); /* only the configured CA, not the system's */
	SET(CURLOPT_SSLCERT, k->cert_file);
	SET(CURLOPT_SSLCERTTYPE, "PEM");
	SET(CURLOPT_SSLKEY, k->key_file);
	SET(CURLOPT_SSLKEYTYPE, "PEM");
	if (k->key_pass)
		SET(CURLOPT_KEYPASSWD, k->key_pass);
	SET(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	SET(CURLOPT_SSL_CTX_DATA, k);
	SET(CURLOPT_CONNECTTIMEOUT_MS, k->connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, k->timeout_ms);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_TCP_NODELAY, 1L);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_USERAGENT, "qmail-kms/0.1");
#undef SET
	if (c != CURLE_OK)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "libcurl refused an option: %s",
		                    curl_easy_strerror(c));
	return QM_OK;
}

/* ------------------------------------------------------------- requests */

static int has_alert(const char *s)
{
	return strstr(s, "alert") != NULL;
}

/* A TLS alert by which the KME says it does not take our certificate. */
static int cert_alert(const char *s)
{
	return has_alert(s) &&
	       (strstr(s, "certificate") || strstr(s, "unknown ca") ||
	        strstr(s, "access denied") || strstr(s, "handshake failure"));
}

static int contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return 1;
	return 0;
}

/* With TLS 1.3 a KME that refuses the client certificate often just closes
 * the new connection before its alert is read. */
#define CLOSED_HINT                                                            \
	" right after the TLS handshake; a KME does that when it does not "    \
	"accept this SAE's client certificate: check that it trusts the CA "   \
	"that issued it"

/* Turns a failed transfer into an error a person can act on; fresh is set
 * when the failed attempt had opened a new connection. */
static enum qm_err curl_fail(struct qm_kms *k, CURLcode c, int fresh,
                             size_t limit, size_t got, struct qm_error *err)
{
	const char *eb = k->errbuf[0] ? k->errbuf : curl_easy_strerror(c);

	/* part of an answer came, then the connection ended (on this
	 * attempt or an earlier one): that is what the person should hear,
	 * whatever OpenSSL makes of a later attempt */
	if (got && !cert_alert(eb))
		return qm_error_set(err, QM_ERR_NET,
		                    "KME at %s dropped the connection in the "
		                    "middle of its answer (after %zu bytes of "
		                    "it); nothing of it is used (last attempt: "
		                    "%s)",
		                    k->url, got, eb);

	if (k->id_mismatch)
		return qm_error_set(
		    err, QM_ERR_TLS,
		    "KME at %s presented a certificate for "
		    "\"%s\", which does not name the expected KME "
		    "ID \"%s\": check kme_id, or the URL points at "
		    "another KME",
		    k->url, k->peer_name[0] ? k->peer_name : "?", k->kme_id);
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return qm_error_set(
		    err, QM_ERR_NET,
		    "could not connect to the KME at %s: %s; "
		    "check that the KME runs and the URL is right",
		    k->url, eb);
	case CURLE_OPERATION_TIMEDOUT:
		return qm_error_set(err, QM_ERR_TIMEOUT,
		                    "KME at %s did not answer in time: %s",
		                    k->url, eb);
	case CURLE_PEER_FAILED_VERIFICATION:
		return qm_error_set(
		    err, QM_ERR_TLS,
		    "the certificate of the KME at %s could not be "
		    "verified: %s; check that %s is the CA that "
		    "issued it, that it is valid now and names the "
		    "host in the URL",
		    k->url, eb, k->ca_file);
	case CURLE_SSL_CACERT_BADFILE:
		return qm_error_set(err, QM_ERR_TLS,
		                    "could not load the KME's CA file %s: %s",
		                    k->ca_file, eb);
	case CURLE_SSL_CERTPROBLEM:
		return qm_error_set(
		    err, QM_ERR_TLS,
		    "could not use this SAE's client certificate "
		    "%s with key %s: %s; check the files and the "
		    "key's passphrase",
		    k->cert_file, k->key_file, eb);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		if (cert_alert(eb))
			return qm_error_set(
			    err, QM_ERR_TLS,
			    "KME at %s refused the client "
			    "certificate %s: %s; check that the "
			    "KME trusts the CA that issued it",
			    k->url, k->cert_file, eb);
		if (c == CURLE_SSL_CONNECT_ERROR || has_alert(eb))
			return qm_error_set(err, QM_ERR_TLS,
			                    "TLS with the KME at %s failed: %s",
			                    k->url, eb);
		return qm_error_set(err, QM_ERR_NET,
		                    "connection to the KME at %s broke: %s%s",
		                    k->url, eb, fresh ? CLOSED_HINT : "");
	case CURLE_GOT_NOTHING:
		return qm_error_set(
		    err, QM_ERR_NET,
		    "KME at %s closed the connection without an "
		    "answer%s",
		    k->url, fresh ? CLOSED_HINT : "");
	case CURLE_PARTIAL_FILE:
		return qm_error_set(err, QM_ERR_NET,
		                    "KME at %s dropped the connection in the "
		                    "middle of its answer: %s",
		                    k->url, eb);
	case CURLE_WRITE_ERROR:
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "KME at %s sent an answer larger than the "
		                    "limit of %zu bytes",
		                    k->url, limit);
	default:
		return qm_error_set(err, QM_ERR_NET,
		                    "request to the KME at %s failed: %s (%s)",
		                    k->url, eb, curl_easy_strerror(c));
	}
}

static int retryable(CURLcode c, const char *eb)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return 1;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return !has_alert(eb); /* a TLS alert will not go away */
	default:
		return 0;
	}
}

/* Builds the error for an HTTP status other than 200. */
static enum qm_err http_fail(struct qm_kms *k, long status,
                             const struct qm_buf *reply, struct qm_error *err)
{
	char msg[QM_KMS_MSG_MAX] = "";
	char shown[QM_KMS_MSG_MAX + 32] = "";

	if (reply->len &&
	    kms_error_parse((const char *)reply->data, reply->len,
	                    k->max_json_depth, msg, sizeof(msg),
	                    NULL) == QM_OK &&
	    msg[0])
		snprintf(shown, sizeof(shown), ": \"%s\"", msg);
	switch (status) {
	case 400:
		if (contains_ci(msg, "not found"))
			return qm_error_set(
			    err, QM_ERR_NOTFOUND,
			    "KME at %s has no such keys (400)%s; "
			    "they were fetched already, expired "
			    "or never existed",
			    k->url, shown);
		return qm_error_set(err, QM_ERR_PROTO,
		                    "KME at %s rejected the request (400 Bad "
		                    "Request)%s",
		                    k->url, shown);
	case 401:
		return qm_error_set(
		    err, QM_ERR_DENIED,
		    "KME at %s answered 401 Unauthorized%s: the "
		    "KME did not accept this SAE's certificate, or "
		    "the key was not addressed to this SAE",
		    k->url, shown);
	case 503:
		return qm_error_set(err, QM_ERR_UNAVAIL,
		                    "KME at %s cannot serve now (503 Service "
		                    "Unavailable)%s; try again later",
		                    k->url, shown);
	default:
		return qm_error_set(err, QM_ERR_PROTO,
		                    "KME at %s answered with HTTP status %ld%s",
		                    k->url, status, shown);
	}
}

static void backoff(struct qm_kms *k, unsigned attempt)
{
	long ms = k->retry_delay_ms;
	curl_off_t after = 0;
	struct timespec ts;

	for (unsigned i = 0; i < attempt && ms < k->retry_delay_max_ms; i++)
		ms *= 2;
	/* a KME's Retry-After counts, within the cap */
	if (curl_easy_getinfo(k->curl, CURLINFO_RETRY_AFTER, &after) ==
	        CURLE_OK &&
	    after > 0 && after * 1000 > ms)
		ms = (long)(after * 1000);
	if (ms > k->retry_delay_max_ms)
		ms = k->retry_delay_max_ms;
	/* up to a quarter of jitter so that many clients do not retry in step
	 */
	if (ms > 4)
		ms -= (long)qm_random_uniform((uint32_t)(ms / 4));
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0)
		;
}

enum qm_err kms_http(struct qm_kms *k, enum kms_method method, const char *path,
                     const char *body, struct qm_buf *reply,
                     struct qm_error *err)
{
	struct curl_slist *hdrs = NULL, *h;
	struct qm_buf url;
	enum qm_err rc;
	CURLcode c = CURLE_OK;
	long status = 0, nconn = 0;
	size_t partial = 0; /* most of an answer cut off, over the attempts */

	k->last_status = 0;
	qm_buf_init(&url, 8192);
	rc = qm_buf_appendf(&url, err, "%s%s", k->url, path);
	if (rc)
		goto out;
	h = curl_slist_append(hdrs, "Accept: application/json");
	if (h)
		hdrs = h;
	if (h && method == KMS_POST) {
		h = curl_slist_append(hdrs, "Content-Type: application/json");
		if (h)
			hdrs = h;
		/* no "Expect: 100-continue" round trip for bodies > 1 KiB */
		if (h)
			h = curl_slist_append(hdrs, "Expect:");
		if (h)
			hdrs = h;
	}
	if (!h) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	curl_easy_setopt(k->curl, CURLOPT_URL, (const char *)url.data);
	curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, reply);
	if (method == KMS_POST) {
		curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE,
		                 (long)strlen(body));
	} else {
		curl_easy_setopt(k->curl, CURLOPT_HTTPGET, 1L);
	}
	for (unsigned attempt = 0;; attempt++) {
		qm_buf_reset(reply);
		k->errbuf[0] = '\0';
		k->id_mismatch = 0;
		status = 0;
		c = curl_easy_perform(k->curl);
		if (curl_easy_getinfo(k->curl, CURLINFO_NUM_CONNECTS, &nconn) ==
		    CURLE_OK)
			k->connections += (unsigned long)nconn;
		if (c == CURLE_OK)
			curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE,
			                  &status);
		if (c == CURLE_PARTIAL_FILE || c == CURLE_RECV_ERROR)
			partial = reply->len > partial ? reply->len : partial;
		if (attempt >= k->retries)
			break;
		if (c == CURLE_OK
		        ? status != 503
		        : (k->id_mismatch || !retryable(c, k->errbuf)))
			break;
		backoff(k, attempt);
	}
	k->last_status = c == CURLE_OK ? status : 0;
	if (c != CURLE_OK) {
		rc = curl_fail(k, c, nconn > 0 && c != CURLE_PARTIAL_FILE,
		               reply->max, partial, err);
		goto out;
	}
	if (status != 200) {
		rc = http_fail(k, status, reply, err);
		goto out;
	}
	rc = QM_OK;
out:
	curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hdrs);
	qm_buf_free(&url);
	return rc;
}
