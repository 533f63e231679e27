/* SPDX-License-Identifier: MIT */
/*
 * The SMTP connectivity check behind `qmail account test`: connect, secure
 * the connection (implicit TLS or STARTTLS, certificate verified) and
 * authenticate, then hang up without sending anything.
 */
#include <stdlib.h>

#include "mail/private.h"

enum qm_err qm_mail_smtp_check(const struct qm_mail_server *srv,
                               struct qm_error *err)
{
	struct mail_xfer *x = NULL;
	CURL *h = NULL;
	CURLcode rc;
	enum qm_err e;

	if (!srv)
		return qm_error_set(err, QM_ERR_INVAL, "no SMTP server given");
	if ((e = qm_mail_init(err)) != QM_OK)
		return e;
	x = calloc(1, sizeof(*x));
	h = curl_easy_init();
	if (!x || !h) {
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((e = mail_curl_setup(h, srv, MAIL_SMTP, "", x, err)) != QM_OK)
		goto out;
	/* libcurl's SMTP connect phase is EHLO, STARTTLS and AUTH */
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK) {
		int again = mail_reauth(h, srv, x, rc, &e, err);

		if (again < 0)
			goto out;
		if (again)
			rc = curl_easy_perform(h);
	}
	if (rc != CURLE_OK) {
		e = mail_curl_fail(h, rc, x, "checking the SMTP server", err);
		goto out;
	}
	e = QM_OK;
out:
	if (h)
		curl_easy_cleanup(h);
	free(x);
	return e;
}
