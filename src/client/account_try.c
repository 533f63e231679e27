/* SPDX-License-Identifier: MIT */
/*
 * Trying the servers of an account before it is saved (the GUI's wizard:
 * what discovery found, checked before anything is stored): SMTP and the
 * incoming server, as qm_client_account_test checks a saved account,
 * with the secret given rather than one sealed in the vault.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills ck with how a check that started at t0 ended. */
static void tried(struct qm_client_check *ck, uint64_t t0, enum qm_err rc,
                  const struct qm_error *e, const char *okmsg)
{
	ck->tried = 1;
	ck->ok = rc == QM_OK;
	ck->ms = (long)((qm_mono_ns() - t0) / 1000000);
	qm_strlcpy(ck->message, rc ? qm_error_msg(e) : okmsg,
	           sizeof(ck->message));
}

enum qm_err qm_client_account_try(struct qm_client *c,
                                  const struct qm_store_account *a,
                                  const char *secret, size_t len,
                                  const char *mail_ca,
                                  struct qm_client_check *smtp,
                                  struct qm_client_check *incoming,
                                  struct qm_error *err)
{
	struct acct_conn *ac;
	struct qm_mail_server srv;
	struct qm_error e;
	char msg[QM_ERR_MSGMAX];
	enum qm_err rc;
	uint64_t t0;

	memset(smtp, 0, sizeof(*smtp));
	memset(incoming, 0, sizeof(*incoming));
	if (!a->smtp.host[0] && !a->imap.host[0] && !a->pop3.host[0])
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the account has no server to try");
	if (mail_ca && strlen(mail_ca) >= QM_STORE_PATHMAX)
		return qm_error_set(err, QM_ERR_INVAL, "CA file name too long");
	ac = calloc(1, sizeof(*ac));
	if (!ac)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	ac->a = *a;
	qm_buf_init_secure(&ac->secret, 64 * 1024);
	client_mail_limits(c, &ac->lim);
	qm_strlcpy(ac->ca, mail_ca ? mail_ca : "", sizeof(ac->ca));
	if (secret && len) {
		rc = qm_buf_append(&ac->secret, secret, len, err);
		if (rc)
			goto out;
	}
	if (a->smtp.host[0]) {
		client_acct_conn_server(ac, &ac->a.smtp, &srv);
		qm_error_clear(&e);
		t0 = qm_mono_ns();
		rc = qm_mail_smtp_check(&srv, &e);
		snprintf(msg, sizeof(msg),
		         "SMTP %s:%d: connected, TLS verified and logged in",
		         srv.host, srv.port);
		tried(smtp, t0, rc, &e, msg);
	}
	qm_error_clear(&e);
	t0 = qm_mono_ns();
	if (a->imap.host[0]) {
		struct qm_mail_imap *im = NULL;

		client_acct_conn_server(ac, &ac->a.imap, &srv);
		rc = qm_mail_imap_open(&srv, &im, &e);
		qm_mail_imap_free(&im);
		snprintf(msg, sizeof(msg),
		         "IMAP %s:%d: connected, TLS verified and logged in",
		         srv.host, srv.port);
		tried(incoming, t0, rc, &e, msg);
	} else if (a->pop3.host[0]) {
		struct qm_mail_pop3 *p = NULL;

		client_acct_conn_server(ac, &ac->a.pop3, &srv);
		rc = qm_mail_pop3_open(&srv, &p, &e);
		qm_mail_pop3_free(&p);
		snprintf(msg, sizeof(msg),
		         "POP3 %s:%d: connected, TLS verified and logged in",
		         srv.host, srv.port);
		tried(incoming, t0, rc, &e, msg);
	}
	rc = QM_OK;
out:
	client_acct_conn_free(ac);
	free(ac);
	return rc;
}
