/* SPDX-License-Identifier: MIT */
/*
 * Accounts (servers, authentication, the user's SAE ID and KME), sealed
 * account secrets, per-account settings, contacts with their SAE IDs, and
 * drafts sealed in the vault. (The provider presets are the client's
 * registry: src/client/providers.c.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

/* --------------------------------------------------------------- accounts */

#define ACCOUNT_COLS_V1                                                        \
	"address, display_name, username, smtp_host, smtp_port, smtp_tls, "    \
	"imap_host, imap_port, imap_tls, pop3_host, pop3_port, pop3_tls, "     \
	"auth, oauth_token_url, oauth_client_id, oauth_expires, sae_id, "      \
	"kme_url, kme_ca, kme_cert, kme_key, default_level"
/* Version 10 added the OAuth2 columns after these. */
#define ACCOUNT_COLS                                                           \
	ACCOUNT_COLS_V1 ", oauth_revoke_url, oauth_scope, oauth_ca, "          \
	                "oauth_issued, oauth_auth_url, oauth_device_url, "     \
	                "oauth_auth_params"
#define ACCOUNT_V10 10

/* A file opened below version 10 (only the migration tests do) has the
 * first 22 columns: each statement comes in both forms. */
static int v10(const struct qm_store *s)
{
	return s->schema >= ACCOUNT_V10;
}

static void bind_server(sqlite3_stmt *st, int i,
                        const struct qm_store_server *v)
{
	sqlite3_bind_text(st, i, v->host, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, i + 1, v->port);
	sqlite3_bind_int(st, i + 2, (int)v->tls);
}

static void bind_account(sqlite3_stmt *st, const struct qm_store_account *a)
{
	sqlite3_bind_text(st, 1, a->address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->display_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->username, -1, SQLITE_STATIC);
	bind_server(st, 4, &a->smtp);
	bind_server(st, 7, &a->imap);
	bind_server(st, 10, &a->pop3);
	sqlite3_bind_int(st, 13, (int)a->auth);
	sqlite3_bind_text(st, 14, a->oauth_token_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 15, a->oauth_client_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 16, a->oauth_expires);
	sqlite3_bind_text(st, 17, a->sae_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 18, a->kme_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 19, a->kme_ca, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 20, a->kme_cert, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 21, a->kme_key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 22, a->default_level);
	if (sqlite3_bind_parameter_count(st) < 29)
		return;
	sqlite3_bind_text(st, 23, a->oauth_revoke_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 24, a->oauth_scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 25, a->oauth_ca, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 26, a->oauth_issued);
	sqlite3_bind_text(st, 27, a->oauth_auth_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 28, a->oauth_device_url, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 29, a->oauth_auth_params, -1, SQLITE_STATIC);
}

static void col_server(sqlite3_stmt *st, int i, struct qm_store_server *v)
{
	store_db_col_text(st, i, v->host, sizeof(v->host));
	v->port = sqlite3_column_int(st, i + 1);
	v->tls = (enum qm_store_tls)sqlite3_column_int(st, i + 2);
}

/* Reads a row of "id, ACCOUNT_COLS". */
static void col_account(sqlite3_stmt *st, struct qm_store_account *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, 0);
	store_db_col_text(st, 1, a->address, sizeof(a->address));
	store_db_col_text(st, 2, a->display_name, sizeof(a->display_name));
	store_db_col_text(st, 3, a->username, sizeof(a->username));
	col_server(st, 4, &a->smtp);
	col_server(st, 7, &a->imap);
	col_server(st, 10, &a->pop3);
	a->auth = (enum qm_store_auth)sqlite3_column_int(st, 13);
	store_db_col_text(st, 14, a->oauth_token_url,
	                  sizeof(a->oauth_token_url));
	store_db_col_text(st, 15, a->oauth_client_id,
	                  sizeof(a->oauth_client_id));
	a->oauth_expires = sqlite3_column_int64(st, 16);
	store_db_col_text(st, 17, a->sae_id, sizeof(a->sae_id));
	store_db_col_text(st, 18, a->kme_url, sizeof(a->kme_url));
	store_db_col_text(st, 19, a->kme_ca, sizeof(a->kme_ca));
	store_db_col_text(st, 20, a->kme_cert, sizeof(a->kme_cert));
	store_db_col_text(st, 21, a->kme_key, sizeof(a->kme_key));
	a->default_level = sqlite3_column_int(st, 22);
	if (sqlite3_column_count(st) < 30)
		return;
	store_db_col_text(st, 23, a->oauth_revoke_url,
	                  sizeof(a->oauth_revoke_url));
	store_db_col_text(st, 24, a->oauth_scope, sizeof(a->oauth_scope));
	store_db_col_text(st, 25, a->oauth_ca, sizeof(a->oauth_ca));
	a->oauth_issued = sqlite3_column_int64(st, 26);
	store_db_col_text(st, 27, a->oauth_auth_url, sizeof(a->oauth_auth_url));
	store_db_col_text(st, 28, a->oauth_device_url,
	                  sizeof(a->oauth_device_url));
	store_db_col_text(st, 29, a->oauth_auth_params,
	                  sizeof(a->oauth_auth_params));
}

static enum qm_err account_valid(const struct qm_store_account *a,
                                 struct qm_error *err)
{
	if (!a->address[0] || !strchr(a->address, '@') ||
	    strnlen(a->address, sizeof(a->address)) >= sizeof(a->address))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an account needs an e-mail address");
	if (a->default_level < 1 || a->default_level > 4)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "the default security level must be 1 to 4");
	return QM_OK;
}

enum qm_err qm_store_account_add(struct qm_store *s, struct qm_store_account *a,
                                 struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = account_valid(a, err);
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s,
		    v10(s)
		        ? "INSERT INTO account (" ACCOUNT_COLS
		          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		          " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		        : "INSERT INTO account (" ACCOUNT_COLS_V1
		          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		          " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    &st, err);
	if (rc != QM_OK)
		return rc;
	bind_account(st, a);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src == SQLITE_CONSTRAINT)
		return qm_error_set(err, QM_ERR_EXISTS,
		                    "an account for %s exists already",
		                    a->address);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "adding the account");
	a->id = sqlite3_last_insert_rowid(s->db);
	return QM_OK;
}

enum qm_err qm_store_account_update(struct qm_store *s,
                                    const struct qm_store_account *a,
                                    struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = account_valid(a, err);
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s,
		    v10(s) ? "UPDATE account SET (" ACCOUNT_COLS
		             ") = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		             " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
		             " WHERE id = ?30"
		           : "UPDATE account SET (" ACCOUNT_COLS_V1
		             ") = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
		             " ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ?23",
		    &st, err);
	if (rc != QM_OK)
		return rc;
	bind_account(st, a);
	sqlite3_bind_int64(st, v10(s) ? 30 : 23, a->id);
	return store_db_done_one(s, st, "updating the account", "account",
	                         a->id, err);
}

static enum qm_err account_one(struct qm_store *s, sqlite3_stmt *st,
                               struct qm_store_account *out,
                               struct qm_error *err, const char *what)
{
	int src = sqlite3_step(st);

	if (src == SQLITE_ROW)
		col_account(st, out);
	sqlite3_reset(st);
	if (src == SQLITE_DONE)
		return qm_error_set(err, QM_ERR_NOTFOUND, "no account %s",
		                    what);
	if (src != SQLITE_ROW)
		return store_db_fail(s, src, err, "reading the account");
	return QM_OK;
}

enum qm_err qm_store_account_get(struct qm_store *s, int64_t id,
                                 struct qm_store_account *out,
                                 struct qm_error *err)
{
	sqlite3_stmt *st;
	char what[32];
	enum qm_err rc;

	rc = store_db_stmt(
	    s,
	    v10(s) ? "SELECT id, " ACCOUNT_COLS " FROM account WHERE id = ?"
	           : "SELECT id, " ACCOUNT_COLS_V1 " FROM account WHERE id = ?",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	snprintf(what, sizeof(what), "%lld", (long long)id);
	return account_one(s, st, out, err, what);
}

enum qm_err qm_store_account_find(struct qm_store *s, const char *address,
                                  struct qm_store_account *out,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   v10(s) ? "SELECT id, " ACCOUNT_COLS " FROM account "
	                            "WHERE address = ? COLLATE NOCASE"
	                          : "SELECT id, " ACCOUNT_COLS_V1
	                            " FROM account "
	                            "WHERE address = ? COLLATE NOCASE",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	store_db_bind_text(st, 1, address);
	return account_one(s, st, out, err, address ? address : "");
}

enum qm_err qm_store_account_list(struct qm_store *s,
                                  struct qm_store_account **out, size_t *n,
                                  struct qm_error *err)
{
	struct qm_store_account *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(
	    s,
	    v10(s) ? "SELECT id, " ACCOUNT_COLS " FROM account ORDER BY id"
	           : "SELECT id, " ACCOUNT_COLS_V1 " FROM account ORDER BY id",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(v, &cap, cnt, 4, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		col_account(st, &v[cnt++]);
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "listing accounts");
		goto out;
	}
	*out = v;
	*n = cnt;
	v = NULL;
out:
	sqlite3_reset(st);
	free(v);
	return rc;
}

enum qm_err qm_store_account_delete(struct qm_store *s, int64_t id,
                                    struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = store_db_stmt(s, "DELETE FROM keyring WHERE account_id = ?", &st,
	                   err);
	if (rc == QM_OK) {
		sqlite3_bind_int64(st, 1, id);
		src = sqlite3_step(st);
		sqlite3_reset(st);
		if (src != SQLITE_DONE)
			rc = store_db_fail(s, src, err,
			                   "deleting the account's keys");
	}
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s, "DELETE FROM setting WHERE account_id = ?", &st, err);
	if (rc == QM_OK) {
		sqlite3_bind_int64(st, 1, id);
		src = sqlite3_step(st);
		sqlite3_reset(st);
		if (src != SQLITE_DONE)
			rc =
			    store_db_fail(s, src, err, "deleting the settings");
	}
	if (rc == QM_OK)
		rc = store_db_stmt(s, "DELETE FROM account WHERE id = ?", &st,
		                   err);
	if (rc == QM_OK) {
		sqlite3_bind_int64(st, 1, id);
		rc = store_db_done_one(s, st, "deleting the account",
		                       "account", id, err);
	}
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc == QM_OK)
		store_fts_drop(s);
	return rc;
}

/* ---------------------------------------------------------------- secrets */

/* Vault item id of a secret: account and kind in one number. */
static int64_t secret_item(int64_t account_id, enum qm_store_secret kind)
{
	return account_id * 16 + (int64_t)kind;
}

enum qm_err qm_store_secret_set(struct qm_store *s, int64_t account_id,
                                enum qm_store_secret kind, const void *p,
                                size_t n, struct qm_error *err)
{
	struct qm_buf blob;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	qm_buf_init(&blob, QM_STORE_MAXBLOB + 1024);
	rc = store_vault_seal(s, "secret", secret_item(account_id, kind), p, n,
	                      &blob, err);
	if (rc == QM_OK)
		rc =
		    store_db_stmt(s,
		                  "INSERT OR REPLACE INTO account_secret "
		                  "(account_id, kind, sealed) VALUES (?, ?, ?)",
		                  &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)kind);
	sqlite3_bind_blob(st, 3, blob.data, (int)blob.len, SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src == SQLITE_CONSTRAINT)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no account %lld",
		                  (long long)account_id);
	else if (src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "storing the secret");
out:
	qm_buf_free(&blob);
	return rc;
}

enum qm_err qm_store_secret_delete(struct qm_store *s, int64_t account_id,
                                   enum qm_store_secret kind,
                                   struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "DELETE FROM account_secret "
	                   "WHERE account_id = ? AND kind = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)kind);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "forgetting the secret");
	return QM_OK;
}

enum qm_err qm_store_secret_get(struct qm_store *s, int64_t account_id,
                                enum qm_store_secret kind, struct qm_buf *out,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = store_db_stmt(s,
		                   "SELECT sealed FROM account_secret "
		                   "WHERE account_id = ? AND kind = ?",
		                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)kind);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = store_vault_open(
		    s, "secret", secret_item(account_id, kind),
		    sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0), out, err);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "account %lld has no such secret stored",
		                  (long long)account_id);
	else
		rc = store_db_fail(s, src, err, "reading the secret");
	sqlite3_reset(st);
	return rc;
}

/* --------------------------------------------------------------- settings */

enum qm_err qm_store_setting_set(struct qm_store *s, int64_t account_id,
                                 const char *key, const char *value,
                                 struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	if (!key || !*key || !value)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a setting needs a name "
		                    "and a value");
	rc = store_db_stmt(
	    s,
	    "INSERT OR REPLACE INTO setting (account_id, key, value)"
	    " VALUES (?, ?, ?)",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, key);
	store_db_bind_text(st, 3, value);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "storing the setting");
	return QM_OK;
}

enum qm_err qm_store_setting_get(struct qm_store *s, int64_t account_id,
                                 const char *key, struct qm_buf *out,
                                 struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT value FROM setting WHERE account_id = ? "
	                   "AND key = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, key);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = qm_buf_append(out, sqlite3_column_text(st, 0),
		                   (size_t)sqlite3_column_bytes(st, 0), err);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "setting %s is not set",
		                  key ? key : "");
	else
		rc = store_db_fail(s, src, err, "reading the setting");
	sqlite3_reset(st);
	return rc;
}

/* --------------------------------------------------------------- contacts */

/* The label MAC of a contact: what decides whether its SAE ID may be used
 * and how low a message to it may go. */
static void contact_label(const struct qm_store *s, int64_t account_id,
                          const char *address, const char *sae_id, int source,
                          int confirmed, int min_level,
                          unsigned char out[LABEL_MACBYTES])
{
	struct label_mac lm;

	store_label_begin(s, &lm, "contact");
	store_label_int(&lm, account_id);
	store_label_text(&lm, address);
	store_label_text(&lm, sae_id);
	store_label_int(&lm, source);
	store_label_int(&lm, confirmed);
	store_label_int(&lm, min_level);
	store_label_end(&lm, out);
}

/*
 * Reads a contact row (CONTACT_COLS, then mac) of account_id. While
 * unlocked its labels are checked: an altered contact comes back not
 * confirmed, with the strictest floor, so that nothing that does not know
 * of labels uses it as it stands.
 */
static void col_contact(const struct qm_store *s, int64_t account_id,
                        sqlite3_stmt *st, struct qm_store_contact *c)
{
	unsigned char mac[LABEL_MACBYTES];

	memset(c, 0, sizeof(*c));
	store_db_col_text(st, 0, c->address, sizeof(c->address));
	store_db_col_text(st, 1, c->name, sizeof(c->name));
	store_db_col_text(st, 2, c->sae_id, sizeof(c->sae_id));
	c->source = (enum qm_store_contact_source)sqlite3_column_int(st, 3);
	c->confirmed = sqlite3_column_int(st, 4);
	c->min_level = sqlite3_column_int(st, 5);
	c->updated = sqlite3_column_int64(st, 6);
	c->label = QM_LABEL_UNCHECKED;
	if (!s->lkey)
		return;
	/* the MAC is over the row as stored, not as cut to the struct */
	contact_label(s, account_id, (const char *)sqlite3_column_text(st, 0),
	              (const char *)sqlite3_column_text(st, 2),
	              sqlite3_column_int(st, 3), sqlite3_column_int(st, 4),
	              sqlite3_column_int(st, 5), mac);
	c->label = store_label_same(mac, sqlite3_column_blob(st, 7),
	                            (size_t)sqlite3_column_bytes(st, 7))
	               ? QM_LABEL_OK
	               : QM_LABEL_ALTERED;
	if (c->label == QM_LABEL_ALTERED) {
		c->confirmed = 0;
		c->min_level = 1;
	}
}

#define CONTACT_COLS                                                           \
	"address, name, sae_id, source, confirmed, min_level, updated"

enum qm_err store_contact_labels_seal(struct qm_store *s, struct qm_error *err)
{
	sqlite3_stmt *rd = NULL, *wr;
	unsigned char mac[LABEL_MACBYTES];
	enum qm_err rc = QM_OK;
	int src;

	src = sqlite3_prepare_v2(s->db,
	                         "SELECT account_id, address, sae_id, source, "
	                         "confirmed, min_level FROM contact",
	                         -1, &rd, NULL);
	if (src != SQLITE_OK)
		return store_db_fail(s, src, err, "sealing contact labels");
	while (rc == QM_OK && (src = sqlite3_step(rd)) == SQLITE_ROW) {
		contact_label(s, sqlite3_column_int64(rd, 0),
		              (const char *)sqlite3_column_text(rd, 1),
		              (const char *)sqlite3_column_text(rd, 2),
		              sqlite3_column_int(rd, 3),
		              sqlite3_column_int(rd, 4),
		              sqlite3_column_int(rd, 5), mac);
		rc = store_db_stmt(
		    s,
		    "UPDATE contact SET mac = ? WHERE account_id = ? "
		    "AND address = ?",
		    &wr, err);
		if (rc != QM_OK)
			break;
		sqlite3_bind_blob(wr, 1, mac, LABEL_MACBYTES, SQLITE_STATIC);
		sqlite3_bind_int64(wr, 2, sqlite3_column_int64(rd, 0));
		sqlite3_bind_value(wr, 3, sqlite3_column_value(rd, 1));
		src = sqlite3_step(wr);
		sqlite3_reset(wr);
		if (src != SQLITE_DONE)
			rc = store_db_fail(s, src, err,
			                   "sealing contact labels");
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "sealing contact labels");
	sqlite3_finalize(rd);
	return rc;
}

enum qm_err qm_store_contact_get(struct qm_store *s, int64_t account_id,
                                 const char *address,
                                 struct qm_store_contact *out,
                                 struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT " CONTACT_COLS ", mac FROM contact WHERE "
	                   "account_id = ? AND address = ? COLLATE NOCASE",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, address);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		col_contact(s, account_id, st, out);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no contact %s",
		                  address ? address : "");
	else
		rc = store_db_fail(s, src, err, "reading the contact");
	sqlite3_reset(st);
	return rc;
}

/* The error for a contact whose labels were changed on disk. */
static enum qm_err contact_altered(const char *address, struct qm_error *err)
{
	return qm_error_set(err, QM_ERR_STATE,
	                    "the security record of contact %s (SAE ID, "
	                    "confirmation, minimum level) was changed on disk "
	                    "outside QMail: enter the contact again with its "
	                    "SAE ID and minimum level",
	                    address);
}

/* Writes contact c of account_id with these labels (and their MAC). */
static enum qm_err contact_write(struct qm_store *s, int64_t account_id,
                                 const struct qm_store_contact *c,
                                 int confirmed, struct qm_error *err)
{
	unsigned char mac[LABEL_MACBYTES];
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	contact_label(s, account_id, c->address, c->sae_id, (int)c->source,
	              confirmed, c->min_level, mac);
	rc = store_db_stmt(
	    s,
	    "INSERT OR REPLACE INTO contact (account_id, " CONTACT_COLS
	    ", mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_text(st, 2, c->address, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->sae_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)c->source);
	sqlite3_bind_int(st, 6, confirmed);
	sqlite3_bind_int(st, 7, c->min_level);
	sqlite3_bind_int64(st, 8, qm_now());
	sqlite3_bind_blob(st, 9, mac, LABEL_MACBYTES, SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "storing the contact");
	return QM_OK;
}

enum qm_err qm_store_contact_put(struct qm_store *s, int64_t account_id,
                                 const struct qm_store_contact *c,
                                 struct qm_error *err)
{
	struct qm_store_contact old;
	struct qm_error e2;
	enum qm_err rc;
	int confirmed;

	if (!c->address[0] ||
	    strnlen(c->address, sizeof(c->address)) >= sizeof(c->address) ||
	    c->min_level < 0 || c->min_level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a contact needs an address and a minimum "
		                    "level of 0 to 4");
	rc = store_vault_need(s, err); /* the labels' MAC needs the vault key */
	if (rc == QM_OK)
		rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	confirmed = c->source == QM_CONTACT_USER ? 1 : c->confirmed;
	rc = qm_store_contact_get(s, account_id, c->address, &old, &e2);
	if (rc == QM_OK && c->source == QM_CONTACT_LEARNED &&
	    old.label == QM_LABEL_ALTERED) {
		/* only the user may put an edited contact right */
		rc = contact_altered(c->address, err);
		goto out;
	}
	/* what a message suggests never changes a contact that exists:
	 * neither its SAE ID (confirmed or not: the first suggestion stays
	 * until the user decides) nor its name, source or minimum level */
	if (rc == QM_OK && c->source == QM_CONTACT_LEARNED &&
	    strcmp(old.sae_id, c->sae_id) != 0) {
		rc = qm_error_set(
		    err, QM_ERR_STATE,
		    "the SAE ID of %s changed from %s to %s: confirm "
		    "the new one with the contact before using it",
		    c->address, old.sae_id, c->sae_id);
		goto out;
	}
	if (rc == QM_OK && c->source == QM_CONTACT_LEARNED)
		goto out; /* the same SAE ID: nothing to change */
	if (rc != QM_OK && rc != QM_ERR_NOTFOUND) {
		if (err)
			*err = e2;
		goto out;
	}
	rc = contact_write(s, account_id, c, confirmed, err);
out:
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_contact_confirm(struct qm_store *s, int64_t account_id,
                                     const char *address, struct qm_error *err)
{
	struct qm_store_contact c;
	enum qm_err rc;

	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = qm_store_contact_get(s, account_id, address, &c, err);
	if (rc == QM_OK && c.label == QM_LABEL_ALTERED)
		rc = contact_altered(c.address, err); /* never bless an edit */
	if (rc == QM_OK)
		rc = contact_write(s, account_id, &c, 1, err);
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_contact_list(struct qm_store *s, int64_t account_id,
                                  struct qm_store_contact **out, size_t *n,
                                  struct qm_error *err)
{
	struct qm_store_contact *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT " CONTACT_COLS ", mac FROM contact WHERE "
	                   "account_id = ? ORDER BY address",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(v, &cap, cnt, 8, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		col_contact(s, account_id, st, &v[cnt++]);
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "listing contacts");
		goto out;
	}
	*out = v;
	*n = cnt;
	v = NULL;
out:
	sqlite3_reset(st);
	free(v);
	return rc;
}

/* ----------------------------------------------------------------- drafts */

enum qm_err qm_store_draft_put(struct qm_store *s, int64_t account_id,
                               int64_t *id, const void *mime, size_t n,
                               struct qm_error *err)
{
	struct qm_buf blob;
	sqlite3_stmt *st;
	int64_t did = *id;
	enum qm_err rc;
	int src;

	qm_buf_init(&blob, QM_STORE_MAXBLOB + 1024);
	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out_free;
	if (did == 0) {
		/* The row first: the sealed blob is bound to its id. */
		rc = store_db_stmt(s,
		                   "INSERT INTO draft (account_id, updated) "
		                   "VALUES (?, ?)",
		                   &st, err);
		if (rc != QM_OK)
			goto out;
		sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_int64(st, 2, qm_now());
		src = sqlite3_step(st);
		sqlite3_reset(st);
		if (src != SQLITE_DONE) {
			rc = store_db_fail(s, src, err, "adding the draft");
			goto out;
		}
		did = sqlite3_last_insert_rowid(s->db);
	}
	rc = store_vault_seal(s, "draft", did, mime, n, &blob, err);
	if (rc == QM_OK)
		rc = store_db_stmt(s,
		                   "UPDATE draft SET sealed = ?, updated = ? "
		                   "WHERE id = ? AND account_id = ?",
		                   &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_blob(st, 1, blob.data, (int)blob.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, qm_now());
	sqlite3_bind_int64(st, 3, did);
	sqlite3_bind_int64(st, 4, account_id);
	rc = store_db_done_one(s, st, "saving the draft", "draft", did, err);
out:
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc == QM_OK)
		*id = did;
out_free:
	qm_buf_free(&blob);
	return rc;
}

enum qm_err qm_store_draft_get(struct qm_store *s, int64_t id,
                               struct qm_buf *out, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = store_db_stmt(s, "SELECT sealed FROM draft WHERE id = ?",
		                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = store_vault_open(
		    s, "draft", id, sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0), out, err);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no draft %lld",
		                  (long long)id);
	else
		rc = store_db_fail(s, src, err, "reading the draft");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_draft_delete(struct qm_store *s, int64_t id,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s, "DELETE FROM draft WHERE id = ?", &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return store_db_done_one(s, st, "deleting the draft", "draft", id,
	                         err);
}

/* Collects the int64 first column of st into a malloc'd array. */
static enum qm_err collect_ids(struct qm_store *s, sqlite3_stmt *st,
                               int64_t **ids, size_t *n, struct qm_error *err)
{
	int64_t *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	enum qm_err rc = QM_OK;
	int src;

	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(v, &cap, cnt, 16, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		v[cnt++] = sqlite3_column_int64(st, 0);
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "listing");
		goto out;
	}
	*ids = v;
	*n = cnt;
	v = NULL;
out:
	sqlite3_reset(st);
	free(v);
	return rc;
}

enum qm_err store_db_collect_ids(struct qm_store *s, sqlite3_stmt *st,
                                 int64_t **ids, size_t *n, struct qm_error *err)
{
	return collect_ids(s, st, ids, n, err);
}

enum qm_err qm_store_draft_list(struct qm_store *s, int64_t account_id,
                                int64_t **ids, size_t *n, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "SELECT id FROM draft WHERE account_id = ? "
	                   "ORDER BY updated DESC, id DESC",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	return collect_ids(s, st, ids, n, err);
}
