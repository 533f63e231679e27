/* SPDX-License-Identifier: MIT */
/*
 * The mail layer's one HTTPS client (qm_mail_https_request): account
 * discovery's autoconfig files and the OAuth2 provider's token, device
 * authorization and discovery endpoints. https:// only, certificate and
 * host name always verified, no redirect followed (a 3xx's Location is
 * handed back for the caller to check), the reply bounded by the caller's
 * buffer. A form body is sent from the caller's secure buffer as it is
 * (libcurl does not copy it).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "private.h"

#define HTTPS_TIMEOUT_MS 30000L

struct sink {
	struct qm_buf *b;
	int toobig;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;

	if (qm_buf_append(s->b, p, size * n, NULL) != QM_OK) {
		s->toobig = 1;
		return 0;
	}
	return size * n;
}

static int tls_failed(CURLcode cc)
{
	return cc == CURLE_PEER_FAILED_VERIFICATION ||
	       cc == CURLE_SSL_CONNECT_ERROR ||
	       cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM;
}

/* A failed transfer as the caller's messages say it: naming the URL when
 * req->what is NULL, else "WHAT at HOST" (a time-out is then QM_ERR_NET,
 * as any provider that cannot be reached). */
static enum qm_err transfer_error(const struct qm_mail_https_req *req,
                                  CURLcode cc, const char *errbuf, int toobig,
                                  size_t max, long timeout_ms,
                                  struct qm_error *err)
{
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
	char host[256];

	toobig = toobig || cc == CURLE_FILESIZE_EXCEEDED;
	if (!req->what) {
		if (toobig)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "%.200s is larger than %zu bytes: "
			                    "refused",
			                    req->url, max);
		if (cc == CURLE_OPERATION_TIMEDOUT)
			return qm_error_set(err, QM_ERR_TIMEOUT,
			                    "%.200s did not answer in %ld s",
			                    req->url, timeout_ms / 1000);
		return qm_error_set(err,
		                    tls_failed(cc) ? QM_ERR_TLS : QM_ERR_NET,
		                    "%.200s: %s", req->url, why);
	}
	qm_mail_url_host(req->url, host, sizeof(host));
	if (tls_failed(cc))
		return qm_error_set(
		    err, QM_ERR_TLS,
		    "%s at %s: the TLS certificate could not be "
		    "verified (%s); check the CA file (now %s)",
		    req->what, host, errbuf[0] ? errbuf : "TLS",
		    req->ca_file && *req->ca_file ? req->ca_file
		                                  : "the system's");
	if (toobig)
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "%s at %s: the reply is larger than %zu bytes", req->what,
		    host, max);
	return qm_error_set(err, QM_ERR_NET,
	                    "%s: cannot reach %s (%s); check the network "
	                    "and try again",
	                    req->what, host, why);
}

enum qm_err qm_mail_https_request(const struct qm_mail_https_req *req,
                                  struct qm_buf *out, long *status,
                                  char *location, size_t n,
                                  struct qm_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", accept[128];
	long timeout = req->timeout_ms > 0 ? req->timeout_ms : HTTPS_TIMEOUT_MS;
	struct curl_slist *hdr = NULL, *resolve = NULL;
	struct sink s = {out, 0};
	enum qm_err rc = QM_OK;
	char *loc = NULL;
	CURLcode cc;
	CURL *h;

	if (location && n)
		location[0] = '\0';
	*status = 0;
	if (!req->url || strncasecmp(req->url, "https://", 8) != 0) {
		if (req->what)
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "%s: \"%.200s\" is not an https:// URL", req->what,
			    req->url ? req->url : "");
		return qm_error_set(err, QM_ERR_INVAL,
		                    "refused to fetch %.200s: only https:// "
		                    "is allowed",
		                    req->url ? req->url : "(no URL)");
	}
	if ((rc = qm_mail_init(err)))
		return rc;
	if (!(h = curl_easy_init()))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (req->accept) {
		snprintf(accept, sizeof(accept), "Accept: %s", req->accept);
		if (!(hdr = curl_slist_append(NULL, accept))) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (req->resolve && *req->resolve) {
		if (!(resolve = curl_slist_append(NULL, req->resolve))) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		curl_easy_setopt(h, CURLOPT_RESOLVE, resolve);
	}
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file && *req->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout / 2);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	                 (curl_off_t)(out->max - out->len));
	if (hdr)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "QMail");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	if (req->form) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS,
		                 req->form->data ? (const char *)req->form->data
		                                 : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
		                 (long)req->form->len);
	}
	cc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	if (cc != CURLE_OK) {
		rc = transfer_error(req, cc, errbuf, s.toobig, out->max,
		                    timeout, err);
		goto out;
	}
	if (*status >= 300 && *status < 400 && location && n &&
	    curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
	    loc)
		qm_strlcpy(location, loc, n);
out:
	curl_slist_free_all(resolve);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rc;
}
