/* SPDX-License-Identifier: MIT */
/*
 * The keyring for levels 3 and 4: own identity keys (public half in clear,
 * private half sealed in the vault) and contacts' public keys with their
 * fingerprint, first-seen date and trust. A contact key that differs from
 * the one seen before is stored as CHANGED and blocks use of the contact's
 * keys until the user compares fingerprints: a changed key is never used
 * silently. Own keys have account_id > 0; contacts' keys account_id 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "private.h"

#define KEY_COLS "id, address, alg, pub, fingerprint, trust, first_seen"

void qm_store_key_free(struct qm_store_key *k)
{
	if (!k)
		return;
	free(k->pub);
	memset(k, 0, sizeof(*k));
}

enum qm_err qm_store_key_fingerprint(const char *alg, const void *pub, size_t n,
                                     char *out, size_t outlen,
                                     struct qm_error *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char h[32];
	crypto_generichash_state st;
	size_t o = 0;

	if (outlen < QM_STORE_FPRMAX || !alg)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "fingerprint buffer too small");
	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, (const unsigned char *)alg,
	                          strlen(alg) + 1);
	crypto_generichash_update(&st, pub, n);
	crypto_generichash_final(&st, h, sizeof(h));
	for (size_t i = 0; i < sizeof(h); i++) {
		if (i && i % 2 == 0)
			out[o++] = ' ';
		out[o++] = hex[h[i] >> 4];
		out[o++] = hex[h[i] & 15];
	}
	out[o] = 0;
	return QM_OK;
}

static enum qm_err col_key(sqlite3_stmt *st, struct qm_store_key *k,
                           struct qm_error *err)
{
	size_t n = (size_t)sqlite3_column_bytes(st, 3);

	memset(k, 0, sizeof(*k));
	k->id = sqlite3_column_int64(st, 0);
	db_col_text(st, 1, k->address, sizeof(k->address));
	db_col_text(st, 2, k->alg, sizeof(k->alg));
	db_col_text(st, 4, k->fingerprint, sizeof(k->fingerprint));
	k->trust = (enum qm_store_trust)sqlite3_column_int(st, 5);
	k->first_seen = sqlite3_column_int64(st, 6);
	k->pub = malloc(n ? n : 1);
	if (!k->pub)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (n)
		memcpy(k->pub, sqlite3_column_blob(st, 3), n);
	k->pub_len = n;
	return QM_OK;
}

static enum qm_err key_args(const char *alg, const void *pub, size_t n,
                            struct qm_error *err)
{
	if (!alg || !*alg || strlen(alg) >= 64 || !pub || n == 0 ||
	    n > 1024 * 1024)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a key needs an algorithm name (under 64 "
		                    "bytes) and a public key");
	return QM_OK;
}

enum qm_err qm_store_key_own_put(struct qm_store *s, int64_t account_id,
                                 const char *alg, const void *pub,
                                 size_t pub_len, const void *priv,
                                 size_t priv_len, int64_t *id,
                                 struct qm_error *err)
{
	struct qm_store_account a;
	char fpr[QM_STORE_FPRMAX];
	struct qm_buf blob;
	sqlite3_stmt *st;
	int64_t kid = 0;
	enum qm_err rc;
	int src;

	rc = key_args(alg, pub, pub_len, err);
	if (rc == QM_OK)
		rc = vault_need(s, err);
	if (rc == QM_OK)
		rc = qm_store_account_get(s, account_id, &a, err);
	if (rc == QM_OK)
		rc = qm_store_key_fingerprint(alg, pub, pub_len, fpr,
		                              sizeof(fpr), err);
	if (rc != QM_OK)
		return rc;
	qm_buf_init(&blob, 16u * 1024 * 1024);
	rc = db_begin(s, err);
	if (rc != QM_OK)
		goto out_free;
	rc = db_stmt(s, "DELETE FROM keyring WHERE account_id = ? AND alg = ?",
	             &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, account_id);
	db_bind_text(st, 2, alg);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = db_fail(s, src, err, "replacing the own key");
		goto out;
	}
	rc = db_stmt(s,
	             "INSERT INTO keyring (account_id, address, alg, pub, "
	             "fingerprint, trust, first_seen) VALUES (?, ?, ?, ?, ?, "
	             "1, ?)",
	             &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, account_id);
	db_bind_text(st, 2, a.address);
	db_bind_text(st, 3, alg);
	sqlite3_bind_blob(st, 4, pub, (int)pub_len, SQLITE_STATIC);
	db_bind_text(st, 5, fpr);
	sqlite3_bind_int64(st, 6, qm_now());
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = db_fail(s, src, err, "storing the own key");
		goto out;
	}
	kid = sqlite3_last_insert_rowid(s->db);
	rc = vault_seal(s, "privkey", kid, priv, priv_len, &blob, err);
	if (rc == QM_OK)
		rc = db_stmt(s, "UPDATE keyring SET priv = ? WHERE id = ?", &st,
		             err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_blob(st, 1, blob.data, (int)blob.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, kid);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		rc = db_fail(s, src, err, "storing the own key");
out:
	if (rc == QM_OK)
		rc = db_commit(s, err);
	else
		db_rollback(s);
	if (rc == QM_OK && id)
		*id = kid;
out_free:
	qm_buf_free(&blob);
	return rc;
}

enum qm_err qm_store_key_own_get(struct qm_store *s, int64_t account_id,
                                 const char *alg, struct qm_store_key *out,
                                 struct qm_buf *priv, struct qm_error *err)
{
	struct qm_store_key k;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	memset(&k, 0, sizeof(k));
	if (priv) {
		rc = vault_need(s, err);
		if (rc != QM_OK)
			return rc;
	}
	rc = db_stmt(s,
	             "SELECT " KEY_COLS ", priv FROM keyring WHERE "
	             "account_id = ? AND alg = ? AND priv IS NOT NULL",
	             &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	db_bind_text(st, 2, alg);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		rc = col_key(st, &k, err);
		if (rc == QM_OK && priv)
			rc = vault_open(
			    s, "privkey", k.id, sqlite3_column_blob(st, 7),
			    (size_t)sqlite3_column_bytes(st, 7), priv, err);
	} else if (src == SQLITE_DONE) {
		rc =
		    qm_error_set(err, QM_ERR_NOTFOUND,
		                 "account %lld has no own %s key: generate one",
		                 (long long)account_id, alg ? alg : "");
	} else {
		rc = db_fail(s, src, err, "reading the own key");
	}
	sqlite3_reset(st);
	if (rc == QM_OK)
		*out = k;
	else
		qm_store_key_free(&k);
	return rc;
}

/* Counts contact keys of (address, alg) in trust states a or b. */
static enum qm_err count_trust(struct qm_store *s, const char *address,
                               const char *alg, int a, int b, int64_t *n,
                               struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = db_stmt(s,
	             "SELECT count(*) FROM keyring WHERE account_id = 0 AND "
	             "address = ? COLLATE NOCASE AND alg = ? AND trust IN "
	             "(?, ?)",
	             &st, err);
	if (rc != QM_OK)
		return rc;
	db_bind_text(st, 1, address);
	db_bind_text(st, 2, alg);
	sqlite3_bind_int(st, 3, a);
	sqlite3_bind_int(st, 4, b);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = db_fail(s, src, err, "reading the keyring");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_key_contact_put(struct qm_store *s, const char *address,
                                     const char *alg, const void *pub, size_t n,
                                     enum qm_store_trust *trust,
                                     struct qm_error *err)
{
	char fpr[QM_STORE_FPRMAX];
	sqlite3_stmt *st;
	int64_t in_use = 0;
	int found = -1, src;
	enum qm_err rc;

	rc = key_args(alg, pub, n, err);
	if (rc == QM_OK &&
	    (!address || !*address || strlen(address) >= QM_STORE_ADDRMAX))
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "a contact key needs an "
		                  "address");
	if (rc == QM_OK)
		rc = qm_store_key_fingerprint(alg, pub, n, fpr, sizeof(fpr),
		                              err);
	if (rc == QM_OK)
		rc = db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = db_stmt(s,
	             "SELECT trust FROM keyring WHERE account_id = 0 AND "
	             "address = ? COLLATE NOCASE AND alg = ? AND "
	             "fingerprint = ?",
	             &st, err);
	if (rc != QM_OK)
		goto out;
	db_bind_text(st, 1, address);
	db_bind_text(st, 2, alg);
	db_bind_text(st, 3, fpr);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		found = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (src != SQLITE_ROW && src != SQLITE_DONE) {
		rc = db_fail(s, src, err, "reading the keyring");
		goto out;
	}
	if (found >= 0) {
		if (trust)
			*trust = (enum qm_store_trust)found;
		goto out; /* seen before: nothing changes */
	}
	rc = count_trust(s, address, alg, QM_TRUST_UNVERIFIED,
	                 QM_TRUST_VERIFIED, &in_use, err);
	if (rc == QM_OK)
		rc = db_stmt(
		    s,
		    "INSERT INTO keyring (account_id, address, alg, pub,"
		    " fingerprint, trust, first_seen) VALUES (0, ?, ?, "
		    "?, ?, ?, ?)",
		    &st, err);
	if (rc != QM_OK)
		goto out;
	db_bind_text(st, 1, address);
	db_bind_text(st, 2, alg);
	sqlite3_bind_blob(st, 3, pub, (int)n, SQLITE_STATIC);
	db_bind_text(st, 4, fpr);
	sqlite3_bind_int(st, 5,
	                 in_use ? QM_TRUST_CHANGED : QM_TRUST_UNVERIFIED);
	sqlite3_bind_int64(st, 6, qm_now());
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = db_fail(s, src, err, "storing the contact key");
		goto out;
	}
	if (trust)
		*trust = in_use ? QM_TRUST_CHANGED : QM_TRUST_UNVERIFIED;
out:
	if (rc == QM_OK)
		return db_commit(s, err);
	db_rollback(s);
	return rc;
}

enum qm_err qm_store_key_contact_get(struct qm_store *s, const char *address,
                                     const char *alg, struct qm_store_key *out,
                                     struct qm_error *err)
{
	struct qm_store_key k;
	sqlite3_stmt *st;
	int64_t changed = 0;
	enum qm_err rc;
	int src;

	memset(&k, 0, sizeof(k));
	rc = count_trust(s, address, alg, QM_TRUST_CHANGED, QM_TRUST_CHANGED,
	                 &changed, err);
	if (rc != QM_OK)
		return rc;
	if (changed)
		return qm_error_set(
		    err, QM_ERR_STATE,
		    "the %s key of %s changed: compare "
		    "fingerprints with %s and verify the new key "
		    "before sending",
		    alg, address, address);
	rc = db_stmt(s,
	             "SELECT " KEY_COLS " FROM keyring WHERE account_id = 0 "
	             "AND address = ? COLLATE NOCASE AND alg = ? AND trust "
	             "IN (0, 1) ORDER BY id DESC LIMIT 1",
	             &st, err);
	if (rc != QM_OK)
		return rc;
	db_bind_text(st, 1, address);
	db_bind_text(st, 2, alg);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = col_key(st, &k, err);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "no %s key for %s in the keyring", alg,
		                  address);
	else
		rc = db_fail(s, src, err, "reading the keyring");
	sqlite3_reset(st);
	if (rc == QM_OK)
		*out = k;
	else
		qm_store_key_free(&k);
	return rc;
}

enum qm_err qm_store_key_contact_verify(struct qm_store *s, const char *address,
                                        const char *alg,
                                        const char *fingerprint,
                                        struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = db_stmt(s,
	             "UPDATE keyring SET trust = 1 WHERE account_id = 0 AND "
	             "address = ? COLLATE NOCASE AND alg = ? AND "
	             "fingerprint = ?",
	             &st, err);
	if (rc != QM_OK)
		goto out;
	db_bind_text(st, 1, address);
	db_bind_text(st, 2, alg);
	db_bind_text(st, 3, fingerprint);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = db_fail(s, src, err, "verifying the key");
		goto out;
	}
	if (sqlite3_changes(s->db) != 1) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "no %s key of %s has the fingerprint %s", alg,
		                  address, fingerprint);
		goto out;
	}
	rc = db_stmt(s,
	             "UPDATE keyring SET trust = 3 WHERE account_id = 0 AND "
	             "address = ? COLLATE NOCASE AND alg = ? AND "
	             "fingerprint <> ?",
	             &st, err);
	if (rc != QM_OK)
		goto out;
	db_bind_text(st, 1, address);
	db_bind_text(st, 2, alg);
	db_bind_text(st, 3, fingerprint);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		rc = db_fail(s, src, err, "verifying the key");
out:
	if (rc == QM_OK)
		return db_commit(s, err);
	db_rollback(s);
	return rc;
}

enum qm_err qm_store_key_contact_list(struct qm_store *s, const char *address,
                                      struct qm_store_key **out, size_t *n,
                                      struct qm_error *err)
{
	struct qm_store_key *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = db_stmt(s,
	             "SELECT " KEY_COLS " FROM keyring WHERE account_id = 0 "
	             "AND address = ? COLLATE NOCASE ORDER BY id DESC",
	             &st, err);
	if (rc != QM_OK)
		return rc;
	db_bind_text(st, 1, address);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = db_grow(v, &cap, cnt, 4, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		rc = col_key(st, &v[cnt], err);
		if (rc != QM_OK)
			goto out;
		cnt++;
	}
	if (src != SQLITE_DONE) {
		rc = db_fail(s, src, err, "listing keys");
		goto out;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
out:
	sqlite3_reset(st);
	for (size_t i = 0; i < cnt; i++)
		qm_store_key_free(&v[i]);
	free(v);
	return rc;
}
