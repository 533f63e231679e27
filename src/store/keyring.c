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

#define KEY_COLS                                                               \
	"id, address, alg, pub, fingerprint, trust, first_seen, account_id, "  \
	"mac"

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

/* The label MAC of a keyring row: whose key it is, the key itself and how
 * far it is trusted. */
static void key_label(const struct qm_store *s, int64_t id, int64_t account_id,
                      const char *address, const char *alg, const void *pub,
                      size_t n, const char *fpr, int trust,
                      unsigned char out[LABEL_MACBYTES])
{
	struct label_mac lm;

	store_label_begin(s, &lm, "key");
	store_label_int(&lm, id);
	store_label_int(&lm, account_id);
	store_label_text(&lm, address);
	store_label_text(&lm, alg);
	store_label_blob(&lm, pub, n);
	store_label_text(&lm, fpr);
	store_label_int(&lm, trust);
	store_label_end(&lm, out);
}

/*
 * Reads a row of KEY_COLS. While unlocked its labels are checked: a
 * contact's key whose row was changed on disk comes back CHANGED (not
 * used until the user compares fingerprints again).
 */
static enum qm_err col_key(const struct qm_store *s, sqlite3_stmt *st,
                           struct qm_store_key *k, struct qm_error *err)
{
	size_t n = (size_t)sqlite3_column_bytes(st, 3);
	unsigned char mac[LABEL_MACBYTES];
	int64_t account_id = sqlite3_column_int64(st, 7);

	memset(k, 0, sizeof(*k));
	k->id = sqlite3_column_int64(st, 0);
	store_db_col_text(st, 1, k->address, sizeof(k->address));
	store_db_col_text(st, 2, k->alg, sizeof(k->alg));
	store_db_col_text(st, 4, k->fingerprint, sizeof(k->fingerprint));
	k->trust = (enum qm_store_trust)sqlite3_column_int(st, 5);
	k->first_seen = sqlite3_column_int64(st, 6);
	k->pub = malloc(n ? n : 1);
	if (!k->pub)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (n)
		memcpy(k->pub, sqlite3_column_blob(st, 3), n);
	k->pub_len = n;
	k->label = QM_LABEL_UNCHECKED;
	if (!s->lkey)
		return QM_OK;
	key_label(s, k->id, account_id,
	          (const char *)sqlite3_column_text(st, 1),
	          (const char *)sqlite3_column_text(st, 2), k->pub, n,
	          (const char *)sqlite3_column_text(st, 4),
	          sqlite3_column_int(st, 5), mac);
	k->label = store_label_same(mac, sqlite3_column_blob(st, 8),
	                            (size_t)sqlite3_column_bytes(st, 8))
	               ? QM_LABEL_OK
	               : QM_LABEL_ALTERED;
	if (k->label == QM_LABEL_ALTERED && account_id == 0)
		k->trust = QM_TRUST_CHANGED;
	return QM_OK;
}

/* Sets the trust of row k (a contact's key, as read) and its MAC. */
static enum qm_err key_set_trust(struct qm_store *s,
                                 const struct qm_store_key *k,
                                 enum qm_store_trust trust,
                                 struct qm_error *err)
{
	unsigned char mac[LABEL_MACBYTES];
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	key_label(s, k->id, 0, k->address, k->alg, k->pub, k->pub_len,
	          k->fingerprint, (int)trust, mac);
	rc = store_db_stmt(
	    s, "UPDATE keyring SET trust = ?, mac = ? WHERE id = ?", &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int(st, 1, (int)trust);
	sqlite3_bind_blob(st, 2, mac, LABEL_MACBYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, k->id);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "storing the key's trust");
	return QM_OK;
}

enum qm_err store_key_labels_seal(struct qm_store *s, struct qm_error *err)
{
	sqlite3_stmt *rd = NULL, *wr;
	unsigned char mac[LABEL_MACBYTES];
	enum qm_err rc = QM_OK;
	int src;

	src = sqlite3_prepare_v2(s->db,
	                         "SELECT id, account_id, address, alg, pub, "
	                         "fingerprint, trust FROM keyring ORDER BY id",
	                         -1, &rd, NULL);
	if (src != SQLITE_OK)
		return store_db_fail(s, src, err, "sealing keyring labels");
	while (rc == QM_OK && (src = sqlite3_step(rd)) == SQLITE_ROW) {
		key_label(s, sqlite3_column_int64(rd, 0),
		          sqlite3_column_int64(rd, 1),
		          (const char *)sqlite3_column_text(rd, 2),
		          (const char *)sqlite3_column_text(rd, 3),
		          sqlite3_column_blob(rd, 4),
		          (size_t)sqlite3_column_bytes(rd, 4),
		          (const char *)sqlite3_column_text(rd, 5),
		          sqlite3_column_int(rd, 6), mac);
		rc = store_db_stmt(s, "UPDATE keyring SET mac = ? WHERE id = ?",
		                   &wr, err);
		if (rc != QM_OK)
			break;
		sqlite3_bind_blob(wr, 1, mac, LABEL_MACBYTES, SQLITE_STATIC);
		sqlite3_bind_int64(wr, 2, sqlite3_column_int64(rd, 0));
		src = sqlite3_step(wr);
		sqlite3_reset(wr);
		if (src != SQLITE_DONE)
			rc = store_db_fail(s, src, err,
			                   "sealing keyring labels");
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "sealing keyring labels");
	sqlite3_finalize(rd);
	return rc;
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
	unsigned char mac[LABEL_MACBYTES];
	struct qm_store_account a;
	char fpr[QM_STORE_FPRMAX];
	struct qm_buf blob;
	sqlite3_stmt *st;
	int64_t kid = 0;
	enum qm_err rc;
	int src;

	rc = key_args(alg, pub, pub_len, err);
	if (rc == QM_OK)
		rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = qm_store_account_get(s, account_id, &a, err);
	if (rc == QM_OK)
		rc = qm_store_key_fingerprint(alg, pub, pub_len, fpr,
		                              sizeof(fpr), err);
	if (rc != QM_OK)
		return rc;
	qm_buf_init(&blob, 16u * 1024 * 1024);
	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out_free;
	rc = store_db_stmt(
	    s, "DELETE FROM keyring WHERE account_id = ? AND alg = ?", &st,
	    err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, alg);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "replacing the own key");
		goto out;
	}
	rc = store_db_stmt(
	    s,
	    "INSERT INTO keyring (account_id, address, alg, pub, "
	    "fingerprint, trust, first_seen) VALUES (?, ?, ?, ?, ?, "
	    "1, ?)",
	    &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, a.address);
	store_db_bind_text(st, 3, alg);
	sqlite3_bind_blob(st, 4, pub, (int)pub_len, SQLITE_STATIC);
	store_db_bind_text(st, 5, fpr);
	sqlite3_bind_int64(st, 6, qm_now());
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "storing the own key");
		goto out;
	}
	kid = sqlite3_last_insert_rowid(s->db);
	key_label(s, kid, account_id, a.address, alg, pub, pub_len, fpr,
	          QM_TRUST_VERIFIED, mac);
	rc = store_vault_seal(s, "privkey", kid, priv, priv_len, &blob, err);
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s, "UPDATE keyring SET priv = ?, mac = ? WHERE id = ?", &st,
		    err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_blob(st, 1, blob.data, (int)blob.len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, mac, LABEL_MACBYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, kid);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "storing the own key");
out:
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
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
		rc = store_vault_need(s, err);
		if (rc != QM_OK)
			return rc;
	}
	rc = store_db_stmt(s,
	                   "SELECT " KEY_COLS ", priv FROM keyring WHERE "
	                   "account_id = ? AND alg = ? AND priv IS NOT NULL",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, alg);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		rc = col_key(s, st, &k, err);
		if (rc == QM_OK && k.label == QM_LABEL_ALTERED)
			rc = qm_error_set(
			    err, QM_ERR_AUTH,
			    "the own %s key of account %lld was changed on "
			    "disk outside QMail (its public half no longer "
			    "matches its record): make a new one",
			    alg ? alg : "", (long long)account_id);
		if (rc == QM_OK && priv)
			rc = store_vault_open(
			    s, "privkey", k.id, sqlite3_column_blob(st, 9),
			    (size_t)sqlite3_column_bytes(st, 9), priv, err);
	} else if (src == SQLITE_DONE) {
		rc =
		    qm_error_set(err, QM_ERR_NOTFOUND,
		                 "account %lld has no own %s key: generate one",
		                 (long long)account_id, alg ? alg : "");
	} else {
		rc = store_db_fail(s, src, err, "reading the own key");
	}
	sqlite3_reset(st);
	if (rc == QM_OK)
		*out = k;
	else
		qm_store_key_free(&k);
	return rc;
}

/*
 * Counts the contact keys of (address, alg) in use (unverified or
 * verified) and changed, as read (col_key: a row changed on disk counts as
 * changed).
 */
static enum qm_err trust_scan(struct qm_store *s, const char *address,
                              const char *alg, int64_t *in_use,
                              int64_t *changed, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	*in_use = *changed = 0;
	rc = store_db_stmt(s,
	                   "SELECT " KEY_COLS
	                   " FROM keyring WHERE account_id = 0 "
	                   "AND address = ? COLLATE NOCASE AND alg = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	store_db_bind_text(st, 1, address);
	store_db_bind_text(st, 2, alg);
	while (rc == QM_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		struct qm_store_key k;

		rc = col_key(s, st, &k, err);
		if (rc == QM_OK && k.trust == QM_TRUST_CHANGED)
			(*changed)++;
		else if (rc == QM_OK && (k.trust == QM_TRUST_UNVERIFIED ||
		                         k.trust == QM_TRUST_VERIFIED))
			(*in_use)++;
		qm_store_key_free(&k);
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "reading the keyring");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_key_contact_put(struct qm_store *s, const char *address,
                                     const char *alg, const void *pub, size_t n,
                                     enum qm_store_trust *trust,
                                     struct qm_error *err)
{
	unsigned char mac[LABEL_MACBYTES];
	char fpr[QM_STORE_FPRMAX];
	struct qm_store_key k;
	enum qm_store_trust t;
	sqlite3_stmt *st;
	int64_t in_use = 0, changed = 0, kid;
	int src;
	enum qm_err rc;

	rc = key_args(alg, pub, n, err);
	if (rc == QM_OK &&
	    (!address || !*address || strlen(address) >= QM_STORE_ADDRMAX))
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "a contact key needs an "
		                  "address");
	if (rc == QM_OK)
		rc = store_vault_need(
		    s, err); /* the row's MAC needs the vault key */
	if (rc == QM_OK)
		rc = qm_store_key_fingerprint(alg, pub, n, fpr, sizeof(fpr),
		                              err);
	if (rc == QM_OK)
		rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = store_db_stmt(s,
	                   "SELECT " KEY_COLS
	                   " FROM keyring WHERE account_id = 0 "
	                   "AND address = ? COLLATE NOCASE AND alg = ? AND "
	                   "fingerprint = ? ORDER BY id LIMIT 1",
	                   &st, err);
	if (rc != QM_OK)
		goto out;
	store_db_bind_text(st, 1, address);
	store_db_bind_text(st, 2, alg);
	store_db_bind_text(st, 3, fpr);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		rc = col_key(s, st, &k, err);
		t = k.trust;
		qm_store_key_free(&k);
	}
	sqlite3_reset(st);
	if (rc == QM_OK && src != SQLITE_ROW && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "reading the keyring");
	if (rc != QM_OK)
		goto out;
	if (src == SQLITE_ROW) {
		if (trust)
			*trust = t;
		goto out; /* seen before: nothing changes */
	}
	rc = trust_scan(s, address, alg, &in_use, &changed, err);
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s,
		    "INSERT INTO keyring (account_id, address, alg, pub,"
		    " fingerprint, trust, first_seen) VALUES (0, ?, ?, "
		    "?, ?, ?, ?)",
		    &st, err);
	if (rc != QM_OK)
		goto out;
	/* a key beside one in use, or one changed, waits for the user */
	t = in_use || changed ? QM_TRUST_CHANGED : QM_TRUST_UNVERIFIED;
	store_db_bind_text(st, 1, address);
	store_db_bind_text(st, 2, alg);
	sqlite3_bind_blob(st, 3, pub, (int)n, SQLITE_STATIC);
	store_db_bind_text(st, 4, fpr);
	sqlite3_bind_int(st, 5, (int)t);
	sqlite3_bind_int64(st, 6, qm_now());
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "storing the contact key");
		goto out;
	}
	kid = sqlite3_last_insert_rowid(s->db);
	key_label(s, kid, 0, address, alg, pub, n, fpr, (int)t, mac);
	rc = store_db_stmt(s, "UPDATE keyring SET mac = ? WHERE id = ?", &st,
	                   err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_blob(st, 1, mac, LABEL_MACBYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, kid);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "storing the contact key");
		goto out;
	}
	if (trust)
		*trust = t;
out:
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_key_contact_get(struct qm_store *s, const char *address,
                                     const char *alg, struct qm_store_key *out,
                                     struct qm_error *err)
{
	struct qm_store_key k;
	sqlite3_stmt *st;
	int64_t changed = 0, in_use = 0;
	enum qm_err rc;
	int src, found = 0;

	memset(&k, 0, sizeof(k));
	rc = trust_scan(s, address, alg, &in_use, &changed, err);
	if (rc != QM_OK)
		return rc;
	if (changed)
		return qm_error_set(
		    err, QM_ERR_STATE,
		    "the %s key of %s changed: compare "
		    "fingerprints with %s and verify the new key "
		    "before sending",
		    alg, address, address);
	rc = store_db_stmt(
	    s,
	    "SELECT " KEY_COLS " FROM keyring WHERE account_id = 0 "
	    "AND address = ? COLLATE NOCASE AND alg = ? AND trust "
	    "IN (0, 1) ORDER BY id DESC",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	store_db_bind_text(st, 1, address);
	store_db_bind_text(st, 2, alg);
	while (!found && (src = sqlite3_step(st)) == SQLITE_ROW) {
		rc = col_key(s, st, &k, err);
		if (rc != QM_OK)
			break;
		found = k.trust == QM_TRUST_UNVERIFIED ||
		        k.trust == QM_TRUST_VERIFIED;
		if (!found)
			qm_store_key_free(&k);
	}
	if (rc == QM_OK && !found && src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "no %s key for %s in the keyring", alg,
		                  address);
	else if (rc == QM_OK && !found)
		rc = store_db_fail(s, src, err, "reading the keyring");
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
	struct qm_store_key *v = NULL, *nv;
	char fpr[QM_STORE_FPRMAX];
	size_t cnt = 0, cap = 0, target = SIZE_MAX, hits = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_vault_need(s, err); /* the rows' MACs need the vault key */
	if (rc == QM_OK)
		rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = store_db_stmt(s,
	                   "SELECT " KEY_COLS
	                   " FROM keyring WHERE account_id = 0 "
	                   "AND address = ? COLLATE NOCASE AND alg = ?",
	                   &st, err);
	if (rc != QM_OK)
		goto out;
	store_db_bind_text(st, 1, address);
	store_db_bind_text(st, 2, alg);
	while (rc == QM_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(v, &cap, cnt, 4, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			break;
		}
		v = nv;
		rc = col_key(s, st, &v[cnt], err);
		if (rc != QM_OK)
			break;
		if (fingerprint &&
		    strcmp(v[cnt].fingerprint, fingerprint) == 0) {
			target = cnt;
			hits++;
		}
		cnt++;
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "verifying the key");
	sqlite3_reset(st);
	if (rc != QM_OK)
		goto out;
	if (hits != 1) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "no %s key of %s has the fingerprint %s", alg,
		                  address, fingerprint ? fingerprint : "");
		goto out;
	}
	/* The user compared this fingerprint: it blesses the key only if
	 * the bytes stored are the key it was computed from (a row changed
	 * on disk may carry another key under the old fingerprint). */
	rc = qm_store_key_fingerprint(v[target].alg, v[target].pub,
	                              v[target].pub_len, fpr, sizeof(fpr), err);
	if (rc == QM_OK && strcmp(fpr, fingerprint) != 0)
		rc = qm_error_set(
		    err, QM_ERR_AUTH,
		    "the %s key of %s stored under the fingerprint "
		    "%s is another key: the keyring was changed "
		    "on disk outside QMail; import the key again",
		    alg, address, fingerprint);
	for (size_t i = 0; rc == QM_OK && i < cnt; i++)
		rc = key_set_trust(
		    s, &v[i],
		    i == target ? QM_TRUST_VERIFIED : QM_TRUST_RETIRED, err);
out:
	for (size_t i = 0; i < cnt; i++)
		qm_store_key_free(&v[i]);
	free(v);
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
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

	rc = store_db_stmt(s,
	                   "SELECT " KEY_COLS
	                   " FROM keyring WHERE account_id = 0 "
	                   "AND address = ? COLLATE NOCASE ORDER BY id DESC",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	store_db_bind_text(st, 1, address);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(v, &cap, cnt, 4, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		rc = col_key(s, st, &v[cnt], err);
		if (rc != QM_OK)
			goto out;
		cnt++;
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "listing keys");
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
