/* SPDX-License-Identifier: MIT */
/*
 * One HTTPS request to an OAuth2 provider (token, device authorization and
 * discovery endpoints): https:// only, certificate and host name always
 * verified, no redirect followed, the reply bounded. A form body is sent
 * from the caller's secure buffer as it is (libcurl does not copy it).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mail/private.h"

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

/* The host of url (for messages). */
static void url_host(const char *url, char *out, size_t outlen)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h ? h + 3 : url;
	n = strcspn(h, "/?#");
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, h, n);
	out[n] = '\0';
}

enum qm_err qm_mail_https_call(const struct qm_mail_https_call *req,
                               struct qm_buf *out, long *status,
                               struct qm_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "", host[256];
	const char *what = req->what ? req->what : "HTTPS request";
	struct curl_slist *hdr = NULL;
	struct sink s = {out, 0};
	enum qm_err rc;
	CURLcode cc;
	CURL *h;

	*status = 0;
	if (!req->url || strncasecmp(req->url, "https://", 8) != 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s: \"%.200s\" is not an https:// URL",
		                    what, req->url ? req->url : "");
	if ((rc = qm_mail_init(err)))
		return rc;
	url_host(req->url, host, sizeof(host));
	if (!(h = curl_easy_init()))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	hdr = curl_slist_append(NULL, "Accept: application/json");
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (req->ca_file && *req->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 15000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
	                 req->timeout_ms > 0 ? req->timeout_ms : 30000L);
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
	switch (cc) {
	case CURLE_OK:
		rc = QM_OK;
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		rc = qm_error_set(err, QM_ERR_TLS,
		                  "%s at %s: the TLS certificate could not be "
		                  "verified (%s); check the CA file (now %s)",
		                  what, host, errbuf[0] ? errbuf : "TLS",
		                  req->ca_file && *req->ca_file
		                      ? req->ca_file
		                      : "the system's");
		break;
	case CURLE_WRITE_ERROR:
		if (s.toobig) {
			rc = qm_error_set(err, QM_ERR_TOOBIG,
			                  "%s at %s: the reply is larger than "
			                  "%zu bytes",
			                  what, host, out->max);
			break;
		}
		/* fall through */
	default:
		rc = qm_error_set(err, QM_ERR_NET,
		                  "%s: cannot reach %s (%s); check the network "
		                  "and try again",
		                  what, host,
		                  errbuf[0] ? errbuf : curl_easy_strerror(cc));
		break;
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rc;
}
