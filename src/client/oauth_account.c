/* SPDX-License-Identifier: MIT */
/*
 * The OAuth2 sign-in of an account over its life: stored after a sign-in
 * (endpoints in the account record, tokens and client secret sealed in the
 * vault), and the access token renewed with the refresh token before it
 * expires and once after a server refused it. Renewals are serialised by
 * an flock on the home (oauth.lock), across threads with their own
 * qm_client and across processes, and each re-reads the stored tokens
 * under the lock: a provider that rotates refresh tokens (each use gives
 * a new one and kills the old) never sees an old one twice, so none is
 * lost when the GUI's sync and send renew at the same moment.
 */
#include "private.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* Seconds before expiry an access token is renewed: 60, or half its
 * lifetime when that is shorter (a provider giving 60-second tokens). */
#define OAUTH_MARGIN_S 60
/* Room reserved for an access token in acct_conn.secret (renewed in
 * place: the mail layer holds pointers into it). */
#define OAUTH_TOKEN_ROOM 16384

static int token_due(const struct qm_store_account *a)
{
	int64_t margin = OAUTH_MARGIN_S, life;

	if (a->oauth_expires <= 0)
		return 0; /* unknown: used until a server refuses it */
	life = a->oauth_issued > 0 ? a->oauth_expires - a->oauth_issued : 0;
	if (life > 0 && life / 2 < margin)
		margin = life / 2;
	return qm_now() >= a->oauth_expires - margin;
}

/* The message and hint of a sign-in that has ended. */
static enum qm_err sign_in_again(const char *addr, const char *why,
                                 struct qm_error *err)
{
	qm_error_set(err, QM_ERR_DENIED, "sign in to %s again: %s", addr, why);
	return qm_error_hint(err, QM_HINT_SIGN_IN, addr);
}

/* Copies token into ac->secret without moving it (see OAUTH_TOKEN_ROOM). */
static enum qm_err adopt(struct acct_conn *ac, const struct qm_store_account *a,
                         const void *token, size_t len, struct qm_error *err)
{
	if (ac->secret.data && len + 1 > ac->secret.cap)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the provider's access token for %s is "
		                    "larger than %d bytes",
		                    a->address, OAUTH_TOKEN_ROOM);
	qm_buf_reset(&ac->secret);
	if (qm_buf_append(&ac->secret, token, len, err))
		return QM_ERR_NOMEM;
	ac->a.oauth_expires = a->oauth_expires;
	ac->a.oauth_issued = a->oauth_issued;
	ac->renewed = 1;
	return QM_OK;
}

/* Writes renewed tokens (a refresh token given replaces the old one);
 * inside the caller's transaction. */
static enum qm_err store_tokens_tx(struct qm_client *c,
                                   struct qm_store_account *a,
                                   const struct qm_client_oauth_tokens *t,
                                   struct qm_error *err)
{
	enum qm_err rc;

	a->oauth_expires = t->expires;
	a->oauth_issued = t->issued;
	rc = qm_store_account_update(c->store, a, err);
	/* signed in (again): the interfaces stop asking for it */
	if (!rc)
		rc = qm_store_setting_set(c->store, a->id, CLIENT_SET_SIGNIN_NEEDED,
		                          "0", err);
	if (!rc)
		rc =
		    qm_store_secret_set(c->store, a->id, QM_SECRET_OAUTH_ACCESS,
		                        t->access, strlen(t->access), err);
	if (!rc && t->refresh)
		rc = qm_store_secret_set(c->store, a->id,
		                         QM_SECRET_OAUTH_REFRESH, t->refresh,
		                         strlen(t->refresh), err);
	return rc;
}

static enum qm_err store_tokens(struct qm_client *c, struct qm_store_account *a,
                                const struct qm_client_oauth_tokens *t,
                                struct qm_error *err)
{
	enum qm_err rc = qm_store_tx_begin(c->store, err);

	if (rc)
		return rc;
	rc = store_tokens_tx(c, a, t, err);
	if (!rc)
		rc = qm_store_tx_commit(c->store, err);
	if (rc)
		qm_store_tx_rollback(c->store);
	return rc;
}

/* The refresh itself (RFC 6749 6), oauth.lock held. */
static enum qm_err refresh(struct qm_client *c, struct qm_store_account *a,
                           struct qm_client_oauth_tokens *t,
                           struct qm_error *err)
{
	struct qm_buf rt, cs, form;
	char code[64] = "";
	enum qm_err rc;

	qm_buf_init_secure(&rt, 64 * 1024);
	qm_buf_init_secure(&cs, 64 * 1024);
	qm_buf_init_secure(&form, 128 * 1024);
	rc = qm_store_secret_get(c->store, a->id, QM_SECRET_OAUTH_REFRESH, &rt,
	                         err);
	if (rc == QM_ERR_NOTFOUND || (!rc && !a->oauth_token_url[0])) {
		rc = sign_in_again(a->address,
		                   "its OAuth2 access token has expired or was "
		                   "refused, and QMail has no refresh token to "
		                   "renew it",
		                   err);
		goto out;
	}
	if (rc)
		goto out;
	rc = qm_store_secret_get(c->store, a->id, QM_SECRET_OAUTH_CLIENT, &cs,
	                         err);
	if (rc == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		rc = QM_OK;
	}
	if (!rc)
		rc = client_oauth_form_add(&form, "grant_type", "refresh_token",
		                           err);
	if (!rc)
		rc = client_oauth_form_add(&form, "refresh_token",
		                           (const char *)rt.data, err);
	if (!rc)
		rc = client_oauth_form_add(&form, "client_id",
		                           a->oauth_client_id, err);
	if (!rc && cs.len)
		rc = client_oauth_form_add(&form, "client_secret",
		                           (const char *)cs.data, err);
	if (rc)
		goto out;
	rc = client_oauth_token_post(
	    a->oauth_token_url, a->oauth_ca[0] ? a->oauth_ca : NULL, &form,
	    "renewing the sign-in", t, code, sizeof(code), err);
	if (rc && strcmp(code, "invalid_grant") == 0) {
		rc = sign_in_again(a->address,
		                   "the provider no longer accepts its sign-in "
		                   "(the refresh token expired or was revoked)",
		                   err);
	} else if (rc && rc != QM_ERR_NET) {
		qm_error_prefix(err, "account %s: ", a->address);
	}
out:
	qm_buf_free(&form);
	qm_buf_free(&cs);
	qm_buf_free(&rt);
	return rc;
}

enum qm_err client_oauth_fresh(struct qm_client *c, struct acct_conn *ac,
                               int force, struct qm_error *err)
{
	struct qm_client_oauth_tokens t;
	struct qm_store_account a;
	struct qm_buf cur;
	enum qm_err rc;
	int fd = -1;

	if (ac->a.auth != QM_AUTH_OAUTH2 || (!force && !token_due(&ac->a)))
		return QM_OK;
	memset(&t, 0, sizeof(t));
	qm_buf_init_secure(&cur, 64 * 1024);
	rc = client_home_lock(c, "oauth.lock", 90, "renew an OAuth2 sign-in",
	                      &fd, err);
	if (rc)
		goto out;
	rc = qm_store_account_get(c->store, ac->a.id, &a, err);
	if (!rc)
		rc = qm_store_secret_get(c->store, a.id, QM_SECRET_OAUTH_ACCESS,
		                         &cur, err);
	if (rc == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		rc = QM_OK;
	}
	if (rc)
		goto out;
	/* another thread or process may have renewed it while this one
	 * waited for the lock: its token then serves */
	if (cur.len && !token_due(&a) &&
	    (!force || cur.len != ac->secret.len ||
	     sodium_memcmp(cur.data, ac->secret.data, cur.len) != 0)) {
		rc = adopt(ac, &a, cur.data, cur.len, err);
		goto out;
	}
	rc = refresh(c, &a, &t, err);
	if (rc == QM_ERR_DENIED && err && err->hint == QM_HINT_SIGN_IN) {
		/* remembered, so that an interface can ask for the sign-in
		 * whatever call found it ended (a background sync) */
		struct qm_error e2;

		if (qm_store_setting_set(c->store, a.id,
		                         CLIENT_SET_SIGNIN_NEEDED, "1", &e2))
			qm_log(QM_LOG_WARN, "account %lld: %s", (long long)a.id,
			       qm_error_msg(&e2));
	}
	if (!rc)
		rc = store_tokens(c, &a, &t, err);
	if (!rc)
		rc = adopt(ac, &a, t.access, strlen(t.access), err);
out:
	client_home_unlock(&fd);
	qm_client_oauth_tokens_wipe(&t);
	qm_buf_free(&cur);
	return rc;
}

enum qm_err client_oauth_conn_prepare(struct qm_client *c, struct acct_conn *ac,
                                      struct qm_error *err)
{
	struct qm_error e;

	ac->c = c;
	ac->self = ac;
	if (ac->a.auth != QM_AUTH_OAUTH2)
		return QM_OK;
	if (qm_buf_reserve(&ac->secret, OAUTH_TOKEN_ROOM, err))
		return QM_ERR_NOMEM;
	/* renewed ahead of time when due; a failure here is not final: the
	 * token may still be good, and a refusal by the server renews it
	 * once more and reports why (client_oauth_reauth) */
	qm_error_clear(&e);
	if (client_oauth_fresh(c, ac, 0, &e) == QM_OK)
		return QM_OK;
	qm_log(QM_LOG_INFO,
	       "account %lld: renewing the OAuth2 token ahead of "
	       "time failed: %s",
	       (long long)ac->a.id, qm_error_msg(&e));
	return QM_OK;
}

enum qm_err client_oauth_reauth(void *arg, const char **bearer,
                                struct qm_error *err)
{
	struct acct_conn *ac = arg;
	enum qm_err rc;
	uint64_t now = qm_mono_ns();

	/* a token refused right after its renewal is refused for another
	 * reason (another user's): renewing again would not help */
	if (ac->reauth_ns && now - ac->reauth_ns < 60ull * 1000000000u)
		return QM_ERR_NOTFOUND;
	ac->reauth_ns = now;
	rc = client_oauth_fresh(ac->c, ac, 1, err);
	if (!rc)
		*bearer = (const char *)ac->secret.data;
	return rc;
}

enum qm_err qm_client_account_oauth_renew(struct qm_client *c,
                                          int64_t account_id, int force,
                                          struct qm_error *err)
{
	struct acct_conn ac;
	enum qm_err rc;

	rc = client_need_unlocked(c, "renewing a sign-in", err);
	if (rc)
		return rc;
	memset(&ac, 0, sizeof(ac));
	qm_buf_init_secure(&ac.secret, 64 * 1024);
	rc = qm_store_account_get(c->store, account_id, &ac.a, err);
	if (!rc && ac.a.auth == QM_AUTH_OAUTH2) {
		rc = qm_store_secret_get(c->store, account_id,
		                         QM_SECRET_OAUTH_ACCESS, &ac.secret,
		                         err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
		}
		if (!rc)
			rc = client_oauth_fresh(c, &ac, force, err);
	}
	qm_buf_free(&ac.secret);
	return rc;
}

enum qm_err
qm_client_account_oauth_set(struct qm_client *c, int64_t account_id,
                            const struct qm_client_oauth_endpoints *ep,
                            const struct qm_client_oauth_app *app,
                            const struct qm_client_oauth_tokens *t,
                            struct qm_error *err)
{
	struct qm_store_account a;
	enum qm_err rc;
	int fd = -1, in_tx = 0;

	if (!ep || !app || !t || !t->access || !*t->access)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "no OAuth2 access token to store");
	rc = client_need_unlocked(c,
	                          "storing a sign-in (its tokens are "
	                          "sealed)",
	                          err);
	if (!rc)
		rc = client_oauth_check_url("token endpoint", ep->token_url,
		                            err);
	if (!rc && ep->revoke_url[0])
		rc = client_oauth_check_url("revocation endpoint",
		                            ep->revoke_url, err);
	if (!rc && (!app->client_id || !*app->client_id ||
	            strlen(app->client_id) >= sizeof(a.oauth_client_id)))
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "a sign-in needs the client ID registered "
		                  "with the provider");
	if (!rc)
		rc = qm_store_account_get(c->store, account_id, &a, err);
	if (!rc)
		rc = client_home_lock(c, "oauth.lock", 90,
		                      "store an OAuth2 sign-in", &fd, err);
	if (rc)
		goto out;
	a.auth = QM_AUTH_OAUTH2;
	qm_strlcpy(a.oauth_token_url, ep->token_url, sizeof(a.oauth_token_url));
	qm_strlcpy(a.oauth_client_id, app->client_id,
	           sizeof(a.oauth_client_id));
	qm_strlcpy(a.oauth_revoke_url, ep->revoke_url,
	           sizeof(a.oauth_revoke_url));
	qm_strlcpy(a.oauth_auth_url, ep->auth_url, sizeof(a.oauth_auth_url));
	qm_strlcpy(a.oauth_auth_params,
	           app->auth_params ? app->auth_params : "",
	           sizeof(a.oauth_auth_params));
	qm_strlcpy(a.oauth_device_url, ep->device_url,
	           sizeof(a.oauth_device_url));
	qm_strlcpy(a.oauth_scope, ep->scope, sizeof(a.oauth_scope));
	qm_strlcpy(a.oauth_ca, app->ca_file ? app->ca_file : "",
	           sizeof(a.oauth_ca));
	rc = qm_store_tx_begin(c->store, err);
	if (rc)
		goto out;
	in_tx = 1;
	rc = store_tokens_tx(c, &a, t, err);
	if (!rc && app->client_secret && *app->client_secret)
		rc = qm_store_secret_set(c->store, a.id, QM_SECRET_OAUTH_CLIENT,
		                         app->client_secret,
		                         strlen(app->client_secret), err);
	else if (!rc && app->client_secret)
		rc = qm_store_secret_delete(c->store, a.id,
		                            QM_SECRET_OAUTH_CLIENT, err);
	if (!rc)
		rc = qm_store_tx_commit(c->store, err);
	if (!rc)
		in_tx = 0;
out:
	if (in_tx)
		qm_store_tx_rollback(c->store);
	client_home_unlock(&fd);
	return rc;
}

enum qm_err qm_client_account_oauth_get(struct qm_client *c, int64_t account_id,
                                        struct qm_client_oauth_endpoints *ep,
                                        char *client_id, size_t idlen,
                                        char *ca_file, size_t calen,
                                        char *auth_params, size_t aplen,
                                        struct qm_buf *client_secret,
                                        struct qm_error *err)
{
	struct qm_store_account a;
	enum qm_err rc;

	rc = client_need_unlocked(c, "reading an account's sign-in", err);
	if (!rc)
		rc = qm_store_account_get(c->store, account_id, &a, err);
	if (rc)
		return rc;
	if (!a.oauth_token_url[0] || !a.oauth_client_id[0])
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "account %s has no OAuth2 sign-in stored: "
		                    "give the provider's endpoints and the "
		                    "client ID",
		                    a.address);
	memset(ep, 0, sizeof(*ep));
	qm_strlcpy(ep->auth_url, a.oauth_auth_url, sizeof(ep->auth_url));
	qm_strlcpy(ep->token_url, a.oauth_token_url, sizeof(ep->token_url));
	qm_strlcpy(ep->device_url, a.oauth_device_url, sizeof(ep->device_url));
	qm_strlcpy(ep->revoke_url, a.oauth_revoke_url, sizeof(ep->revoke_url));
	qm_strlcpy(ep->scope, a.oauth_scope, sizeof(ep->scope));
	qm_strlcpy(client_id, a.oauth_client_id, idlen);
	qm_strlcpy(ca_file, a.oauth_ca, calen);
	qm_strlcpy(auth_params, a.oauth_auth_params, aplen);
	if (client_secret) {
		rc = qm_store_secret_get(c->store, account_id,
		                         QM_SECRET_OAUTH_CLIENT, client_secret,
		                         err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
		}
		ep->secret_required = client_secret->len > 0;
	}
	return rc;
}

int qm_client_account_signin_needed(struct qm_client *c, int64_t account_id)
{
	char v[8];

	client_acct_setting(c, account_id, CLIENT_SET_SIGNIN_NEEDED, v,
	                    sizeof(v));
	return strcmp(v, "1") == 0;
}

enum qm_err qm_client_account_oauth_revoke(struct qm_client *c,
                                           int64_t account_id,
                                           struct qm_error *err)
{
	struct qm_store_account a;
	struct qm_buf tok, cs, form;
	enum qm_store_secret kind = QM_SECRET_OAUTH_REFRESH;
	enum qm_err rc;

	rc = client_need_unlocked(c, "signing out", err);
	if (!rc)
		rc = qm_store_account_get(c->store, account_id, &a, err);
	if (rc || a.auth != QM_AUTH_OAUTH2)
		return rc;
	if (!a.oauth_revoke_url[0]) {
		qm_error_set(err, QM_ERR_UNSUPPORTED,
		             "the provider of %s offers no way for a program to "
		             "end its sign-in: remove QMail's access in the "
		             "account's security settings at the provider",
		             a.address);
		return QM_ERR_UNSUPPORTED;
	}
	qm_buf_init_secure(&tok, 64 * 1024);
	qm_buf_init_secure(&cs, 64 * 1024);
	qm_buf_init_secure(&form, 128 * 1024);
	/* the refresh token ends the whole grant; else the access token */
	rc = qm_store_secret_get(c->store, a.id, kind, &tok, err);
	if (rc == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		kind = QM_SECRET_OAUTH_ACCESS;
		rc = qm_store_secret_get(c->store, a.id, kind, &tok, err);
	}
	if (rc == QM_ERR_NOTFOUND) {
		/* nothing to end: never signed in, or signed out already */
		qm_error_clear(err);
		rc = QM_OK;
		goto out;
	}
	if (!rc) {
		rc = qm_store_secret_get(c->store, a.id, QM_SECRET_OAUTH_CLIENT,
		                         &cs, err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
		}
	}
	if (!rc)
		rc = client_oauth_form_add(&form, "token",
		                           (const char *)tok.data, err);
	if (!rc)
		rc = client_oauth_form_add(&form, "token_type_hint",
		                           kind == QM_SECRET_OAUTH_REFRESH
		                               ? "refresh_token"
		                               : "access_token",
		                           err);
	if (!rc)
		rc = client_oauth_form_add(&form, "client_id",
		                           a.oauth_client_id, err);
	if (!rc && cs.len)
		rc = client_oauth_form_add(&form, "client_secret",
		                           (const char *)cs.data, err);
	if (!rc)
		rc = client_oauth_revoke_post(a.oauth_revoke_url,
		                              a.oauth_ca[0] ? a.oauth_ca : NULL,
		                              &form, err);
	if (rc) {
		qm_error_prefix(err, "account %s: ", a.address);
		goto out;
	}
	/* ended there: nothing of it is kept here, and the interfaces ask
	 * for a new sign-in should the account stay */
	rc = qm_store_secret_delete(c->store, a.id, QM_SECRET_OAUTH_REFRESH,
	                            err);
	if (!rc)
		rc = qm_store_secret_delete(c->store, a.id,
		                            QM_SECRET_OAUTH_ACCESS, err);
	if (!rc)
		rc = qm_store_setting_set(c->store, a.id,
		                          CLIENT_SET_SIGNIN_NEEDED, "1", err);
out:
	qm_buf_free(&form);
	qm_buf_free(&cs);
	qm_buf_free(&tok);
	return rc;
}
