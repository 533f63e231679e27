/* SPDX-License-Identifier: MIT */
/*
 * Accounts as the user interfaces manage them (the presets are the
 * provider registry's, providers.c): reading and listing, changing an
 * account and the secret it logs in with, and deleting it. Replacing a
 * password or an OAuth2 token happens here and nowhere else, for both
 * interfaces.
 */
#include "private.h"

#include <string.h>

enum qm_err qm_client_account_get(struct qm_client *c, int64_t id,
                                  struct qm_store_account *out,
                                  struct qm_error *err)
{
	return qm_store_account_get(c->store, id, out, err);
}

enum qm_err qm_client_account_find(struct qm_client *c, const char *address,
                                   struct qm_store_account *out,
                                   struct qm_error *err)
{
	return qm_store_account_find(c->store, address, out, err);
}

enum qm_err qm_client_account_list(struct qm_client *c,
                                   struct qm_store_account **out, size_t *n,
                                   struct qm_error *err)
{
	return qm_store_account_list(c->store, out, n, err);
}

/* The kind of sealed secret an account with auth logs in with. */
static enum qm_store_secret secret_kind(enum qm_store_auth auth)
{
	return auth == QM_AUTH_OAUTH2 ? QM_SECRET_OAUTH_ACCESS
	                              : QM_SECRET_PASSWORD;
}

enum qm_err qm_client_account_update(struct qm_client *c,
                                     struct qm_store_account *a,
                                     const char *secret, size_t len,
                                     struct qm_error *err)
{
	char bare[QM_STORE_ADDRMAX];
	enum qm_err rc;

	if (secret) {
		rc = client_need_unlocked(c, "changing an account's secret",
		                          err);
		if (rc)
			return rc;
		if (len == 0)
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "the new password or token of %s is "
			    "empty",
			    a->address);
	}
	rc = client_addr_bare(a->address, bare, sizeof(bare), err);
	if (rc)
		return rc;
	qm_strlcpy(a->address, bare, sizeof(a->address));
	if (a->default_level < 1 || a->default_level > 4)
		a->default_level = 2;
	rc = qm_store_tx_begin(c->store, err);
	if (rc)
		return rc;
	rc = qm_store_account_update(c->store, a, err);
	if (!rc && secret)
		rc = qm_store_secret_set(c->store, a->id, secret_kind(a->auth),
		                         secret, len, err);
	if (!rc)
		rc = qm_store_tx_commit(c->store, err);
	if (rc)
		qm_store_tx_rollback(c->store);
	return rc;
}

enum qm_err qm_client_account_secret_set(struct qm_client *c, int64_t id,
                                         enum qm_store_auth auth,
                                         const char *secret, size_t len,
                                         struct qm_error *err)
{
	struct qm_store_account a;
	enum qm_err rc;

	if (!secret || len == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the new password or token is empty");
	rc = client_need_unlocked(c, "changing an account's secret", err);
	if (!rc)
		rc = qm_store_account_get(c->store, id, &a, err);
	if (rc)
		return rc;
	/* a password given to an OAuth2 account makes it log in with the
	 * password from now on, and a token the other way round */
	a.auth = auth;
	if (auth == QM_AUTH_OAUTH2) {
		/* a token given by hand: its expiry is not known, so it is
		 * used until a server refuses it (then renewed when a
		 * sign-in's refresh token is stored) */
		a.oauth_expires = 0;
		a.oauth_issued = 0;
	}
	return qm_client_account_update(c, &a, secret, len, err);
}

int qm_client_account_has_secret(struct qm_client *c,
                                 const struct qm_store_account *a)
{
	struct qm_buf b;
	int has;

	if (!qm_client_unlocked(c))
		return 0;
	qm_buf_init_secure(&b, 64 * 1024);
	has = qm_store_secret_get(c->store, a->id, secret_kind(a->auth), &b,
	                          NULL) == QM_OK;
	qm_buf_free(&b);
	return has;
}

enum qm_err qm_client_account_delete(struct qm_client *c, int64_t id,
                                     struct qm_error *err)
{
	return qm_store_account_delete(c->store, id, err);
}
