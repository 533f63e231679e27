/* SPDX-License-Identifier: MIT */
/*
 * Accounts as the engine uses them: the store's record plus its sealed
 * secret, turned into mail-server and KME connection settings; adding an
 * account with its identity; the connectivity check of both interfaces.
 */
#include "private.h"

#include <stdio.h>
#include <string.h>

void client_acct_setting(struct qm_client *c, int64_t id, const char *key,
                         char *out, size_t outlen)
{
	struct qm_buf b;

	out[0] = '\0';
	qm_buf_init(&b, 4096);
	if (qm_store_setting_get(c->store, id, key, &b, NULL) == QM_OK &&
	    b.data)
		qm_strlcpy(out, (const char *)b.data, outlen);
	qm_buf_free(&b);
}

enum qm_err client_acct_conn_load(struct qm_client *c, int64_t id,
                                  struct acct_conn *ac, struct qm_error *err)
{
	enum qm_err rc;
	char v[16];

	memset(ac, 0, sizeof(*ac));
	qm_buf_init_secure(&ac->secret, 64 * 1024);
	client_mail_limits(c, &ac->lim);
	ac->json_depth = client_json_depth(c);
	rc = qm_store_account_get(c->store, id, &ac->a, err);
	if (rc)
		return rc;
	client_acct_setting(c, id, QM_SET_MAIL_CA, ac->ca, sizeof(ac->ca));
	client_acct_setting(c, id, QM_SET_KME_ID, ac->kme_id,
	                    sizeof(ac->kme_id));
	client_acct_setting(c, id, QM_SET_INCOMING, v, sizeof(v));
	ac->use_pop3 = strcmp(v, "pop3") == 0 || (!ac->a.imap.host[0] &&
	                                         ac->a.pop3.host[0]);
	rc = qm_store_secret_get(c->store, id,
	                         ac->a.auth == QM_AUTH_OAUTH2
	                                 ? QM_SECRET_OAUTH_ACCESS
	                                 : QM_SECRET_PASSWORD,
	                         &ac->secret, err);
	if (rc == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		rc = QM_OK; /* a server without authentication */
	}
	if (!rc)
		rc = client_oauth_conn_prepare(c, ac, err);
	if (rc)
		client_acct_conn_free(ac);
	return rc;
}

void client_acct_conn_free(struct acct_conn *ac)
{
	qm_buf_free(&ac->secret);
}

void client_acct_conn_server(const struct acct_conn *ac,
                             const struct qm_store_server *s,
                             struct qm_mail_server *out)
{
	memset(out, 0, sizeof(*out));
	out->host = s->host;
	out->port = s->port;
	out->tls = s->tls == QM_TLS_IMPLICIT   ? QM_MAIL_TLS_IMPLICIT
	           : s->tls == QM_TLS_STARTTLS ? QM_MAIL_TLS_STARTTLS
	                                       : QM_MAIL_TLS_NONE;
	out->ca_file = ac->ca[0] ? ac->ca : NULL;
	out->user = ac->a.username[0] ? ac->a.username : ac->a.address;
	if (ac->secret.len) {
		if (ac->a.auth == QM_AUTH_OAUTH2) {
			out->bearer = (const char *)ac->secret.data;
			/* OAUTHBEARER or XOAUTH2, as the server offers */
			out->auth = QM_MAIL_AUTH_BEARER;
			/* a stored sign-in renews a refused token once; a
			 * probe's token (no account yet) cannot be */
			if (ac->self) {
				out->reauth = client_oauth_reauth;
				out->reauth_arg = ac->self;
			}
		} else {
			out->password = (const char *)ac->secret.data;
		}
	}
	out->max_message = ac->lim.max_size ? ac->lim.max_size : QM_CLIENT_MAXMSG;
}

enum qm_err client_acct_kms_new(const struct acct_conn *ac, struct qm_kms **out,
                                struct qm_error *err)
{
	struct qm_kms_config kc;

	if (!ac->a.kme_url[0]) {
		qm_error_set(err, QM_ERR_STATE,
		             "account %s has no KME configured: set its URL, "
		             "certificates and SAE ID",
		             ac->a.address);
		return qm_error_hint(err, QM_HINT_ACCOUNT_KME, ac->a.address);
	}
	qm_kms_config_init(&kc);
	kc.url = ac->a.kme_url;
	kc.cert_file = ac->a.kme_cert;
	kc.key_file = ac->a.kme_key;
	kc.ca_file = ac->a.kme_ca;
	kc.kme_id = ac->kme_id[0] ? ac->kme_id : NULL;
	kc.max_json_depth = ac->json_depth;
	return qm_kms_new(&kc, out, err);
}

enum qm_err qm_client_account_add(struct qm_client *c,
                                  struct qm_store_account *a,
                                  const char *password, size_t pwlen,
                                  struct qm_error *err)
{
	struct qm_identity *id = NULL;
	struct qm_pubid *pub = NULL;
	struct qm_buf sec, pubb;
	char bare[QM_STORE_ADDRMAX];
	enum qm_err rc;
	int in_tx = 0;

	qm_buf_init_secure(&sec, 64 * 1024);
	qm_buf_init(&pubb, 64 * 1024);
	rc = client_need_unlocked(c, "adding an account (its password and "
	                             "keys are sealed)", err);
	if (rc)
		goto out;
	rc = client_addr_bare(a->address, bare, sizeof(bare), err);
	if (rc)
		goto out;
	qm_strlcpy(a->address, bare, sizeof(a->address));
	if (a->default_level < 1 || a->default_level > 4)
		a->default_level = 2;
	rc = qm_crypto_identity_new(&id, err);
	if (!rc)
		rc = qm_crypto_identity_export_secret(id, &sec, err);
	if (!rc)
		rc = qm_crypto_identity_public(id, &pub, err);
	if (!rc)
		rc = qm_crypto_pubid_to_bytes(pub, &pubb, err);
	if (rc)
		goto out;
	rc = qm_store_tx_begin(c->store, err);
	if (rc)
		goto out;
	in_tx = 1;
	rc = qm_store_account_add(c->store, a, err);
	if (!rc && password && pwlen)
		rc = qm_store_secret_set(c->store, a->id,
		                         a->auth == QM_AUTH_OAUTH2
		                                 ? QM_SECRET_OAUTH_ACCESS
		                                 : QM_SECRET_PASSWORD,
		                         password, pwlen, err);
	if (!rc)
		rc = qm_store_key_own_put(c->store, a->id, QM_CLIENT_ID_ALG,
		                          pubb.data, pubb.len, sec.data, sec.len,
		                          NULL, err);
	if (!rc)
		rc = qm_store_tx_commit(c->store, err);
	if (!rc)
		in_tx = 0;
out:
	if (in_tx)
		qm_store_tx_rollback(c->store);
	qm_crypto_identity_free(&id);
	qm_crypto_pubid_free(&pub);
	qm_buf_free(&sec);
	qm_buf_free(&pubb);
	return rc;
}

/* Runs one check, timing it. */
static void check_done(struct qm_client_check *ck, uint64_t t0, enum qm_err rc,
                       const struct qm_error *e, const char *okmsg)
{
	ck->tried = 1;
	ck->ok = rc == QM_OK;
	ck->ms = (long)((qm_mono_ns() - t0) / 1000000);
	qm_strlcpy(ck->message, rc ? qm_error_msg(e) : okmsg,
	           sizeof(ck->message));
}

/* Logs in to the SMTP and incoming servers of ac, filling both checks. */
static void test_mail(struct acct_conn *ac, struct qm_client_check *smtp,
                      struct qm_client_check *incoming)
{
	struct qm_mail_server srv;
	struct qm_error e;
	enum qm_err rc;
	uint64_t t0;
	char msg[QM_ERR_MSGMAX];

	if (ac->a.smtp.host[0]) {
		client_acct_conn_server(ac, &ac->a.smtp, &srv);
		qm_error_clear(&e);
		t0 = qm_mono_ns();
		rc = qm_mail_smtp_check(&srv, &e);
		snprintf(msg, sizeof(msg), "SMTP %s:%d: connected, TLS verified "
		         "and logged in", srv.host, srv.port);
		check_done(smtp, t0, rc, &e, msg);
	}
	qm_error_clear(&e);
	t0 = qm_mono_ns();
	if (!ac->use_pop3 && ac->a.imap.host[0]) {
		struct qm_mail_imap *im = NULL;

		client_acct_conn_server(ac, &ac->a.imap, &srv);
		rc = qm_mail_imap_open(&srv, &im, &e);
		qm_mail_imap_free(&im);
		snprintf(msg, sizeof(msg), "IMAP %s:%d: connected, TLS verified "
		         "and logged in", srv.host, srv.port);
		check_done(incoming, t0, rc, &e, msg);
	} else if (ac->a.pop3.host[0]) {
		struct qm_mail_pop3 *p = NULL;

		client_acct_conn_server(ac, &ac->a.pop3, &srv);
		rc = qm_mail_pop3_open(&srv, &p, &e);
		qm_mail_pop3_free(&p);
		snprintf(msg, sizeof(msg), "POP3 %s:%d: connected, TLS verified "
		         "and logged in", srv.host, srv.port);
		check_done(incoming, t0, rc, &e, msg);
	}
}

enum qm_err qm_client_account_test(struct qm_client *c, int64_t account_id,
                                   struct qm_client_check *smtp,
                                   struct qm_client_check *incoming,
                                   struct qm_client_check *kme,
                                   struct qm_error *err)
{
	struct acct_conn ac;
	struct qm_error e;
	enum qm_err rc;
	uint64_t t0;

	memset(smtp, 0, sizeof(*smtp));
	memset(incoming, 0, sizeof(*incoming));
	memset(kme, 0, sizeof(*kme));
	rc = client_acct_conn_load(c, account_id, &ac, err);
	if (rc)
		return rc;
	test_mail(&ac, smtp, incoming);
	if (ac.a.kme_url[0]) {
		struct qm_client_kme ks;

		t0 = qm_mono_ns();
		if (qm_client_kme_status(c, account_id, NULL, &ks, &e))
			/* ks is cleared (not reachable): say why below */
			qm_strlcpy(ks.message, qm_error_msg(&e),
			           sizeof(ks.message));
		kme->tried = 1;
		kme->ok = ks.reachable;
		kme->ms = (long)((qm_mono_ns() - t0) / 1000000);
		if (ks.reachable && ks.message[0])
			snprintf(kme->message, sizeof(kme->message),
			         "KME %.100s: %.380s", ks.url, ks.message);
		else if (ks.reachable)
			snprintf(kme->message, sizeof(kme->message),
			         "KME %.200s: mutual TLS ok, %llu keys of %llu "
			         "bits stored",
			         ks.url, (unsigned long long)ks.stored_key_count,
			         (unsigned long long)ks.key_size);
		else
			qm_strlcpy(kme->message, ks.message,
			           sizeof(kme->message));
		kme->hint = ks.hint;
	}
	client_acct_conn_free(&ac);
	return QM_OK;
}

enum qm_err qm_client_account_probe(struct qm_client *c,
                                    const struct qm_store_account *a,
                                    const char *mail_ca, const char *secret,
                                    size_t len, struct qm_client_check *smtp,
                                    struct qm_client_check *incoming,
                                    struct qm_error *err)
{
	struct acct_conn ac;
	enum qm_err rc;

	memset(smtp, 0, sizeof(*smtp));
	memset(incoming, 0, sizeof(*incoming));
	if (!a || !a->address[0])
		return qm_error_set(err, QM_ERR_INVAL, "no account to test");
	memset(&ac, 0, sizeof(ac));
	qm_buf_init_secure(&ac.secret, 64 * 1024);
	client_mail_limits(c, &ac.lim);
	ac.json_depth = client_json_depth(c);
	ac.a = *a;
	if (mail_ca)
		qm_strlcpy(ac.ca, mail_ca, sizeof(ac.ca));
	ac.use_pop3 = !a->imap.host[0] && a->pop3.host[0];
	/* the buffer keeps a NUL after the data: a C string for libcurl */
	if (secret && len &&
	    (rc = qm_buf_append(&ac.secret, secret, len, err)) != QM_OK) {
		client_acct_conn_free(&ac);
		return rc;
	}
	test_mail(&ac, smtp, incoming);
	client_acct_conn_free(&ac);
	return QM_OK;
}
