/* SPDX-License-Identifier: MIT */
/*
 * The identities of an account (schema 8): From addresses besides the
 * account's own, each with a display name and a plain-text signature, and
 * which one is the default. The rows are plain (no MAC): an identity
 * chooses what the sender's own message says, never whom a message is
 * believed to come from. The client engine adds the account's own address.
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

enum qm_err qm_store_identity_put(struct qm_store *s, int64_t account_id,
                                  const struct qm_store_identity *id,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	if (!id->address[0])
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an identity needs an address");
	rc = store_check_len("identity address", id->address,
	                     sizeof(id->address), err);
	if (!rc)
		rc = store_check_len("identity name", id->name,
		                     sizeof(id->name), err);
	if (!rc)
		rc = store_check_len("signature", id->signature,
		                     sizeof(id->signature), err);
	if (!rc)
		rc = store_db_stmt(
		    s,
		    "INSERT INTO identity (account_id, address, name, "
		    "signature) VALUES (?, ?, ?, ?) ON CONFLICT (account_id, "
		    "address) DO UPDATE SET address = excluded.address, "
		    "name = excluded.name, signature = excluded.signature",
		    &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, id->address);
	store_db_bind_text(st, 3, id->name);
	store_db_bind_text(st, 4, id->signature);
	return store_db_done(s, st, "storing the identity", err);
}

enum qm_err qm_store_identity_del(struct qm_store *s, int64_t account_id,
                                  const char *address, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "DELETE FROM identity WHERE account_id = ? AND "
	                   "address = ?",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, address);
	rc = store_db_done(s, st, "removing the identity", err);
	if (!rc && sqlite3_changes(s->db) == 0)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "%s is not an identity of this account",
		                    address);
	return rc;
}

enum qm_err qm_store_identity_default(struct qm_store *s, int64_t account_id,
                                      const char *address, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "UPDATE identity SET is_default = "
	                   "(address = ?2) WHERE account_id = ?1",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, address ? address : "");
	return store_db_done(s, st, "choosing the default identity", err);
}

enum qm_err qm_store_identity_list(struct qm_store *s, int64_t account_id,
                                   struct qm_store_identity **out, size_t *n,
                                   struct qm_error *err)
{
	struct qm_store_identity *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT address, name, signature, is_default FROM "
	                   "identity WHERE account_id = ? ORDER BY address",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(v, &cap, cnt, 4, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		memset(&v[cnt], 0, sizeof(v[cnt]));
		store_db_col_text(st, 0, v[cnt].address,
		                  sizeof(v[cnt].address));
		store_db_col_text(st, 1, v[cnt].name, sizeof(v[cnt].name));
		store_db_col_text(st, 2, v[cnt].signature,
		                  sizeof(v[cnt].signature));
		v[cnt].is_default = sqlite3_column_int(st, 3) != 0;
		cnt++;
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "listing identities");
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
