/* SPDX-License-Identifier: MIT */
/*
 * The vault: keeps decrypted mail and account secrets encrypted at rest,
 * because the KME destroys a key once delivered and the user must still read
 * old mail. A random vault key is wrapped with XChaCha20-Poly1305 under a key
 * derived from the passphrase with Argon2id (salt and cost stored, so tests
 * can use a cheap cost and a later QMail a dearer one). Each item gets its
 * own random key, wrapped by the vault key; both layers authenticate the
 * item's place (kind, row id), so a blob moved to another row fails to open.
 *
 * Item format: version (1) | nonce (24) | wrapped item key (32 + 16) |
 * nonce (24) | ciphertext (n + 16).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "private.h"

#define ALG_NAME      "argon2id13+xchacha20poly1305"
#define SALTBYTES     crypto_pwhash_SALTBYTES
#define NONCEBYTES    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAGBYTES      crypto_aead_xchacha20poly1305_ietf_ABYTES
#define WRAPBYTES     (NONCEBYTES + VAULT_KEYBYTES + TAGBYTES)
#define ITEM_VERSION  1
#define ITEM_OVERHEAD (1 + WRAPBYTES + NONCEBYTES + TAGBYTES)
/* Per-item randomness drawn at once (one getrandom call): the item key and
 * the two nonces. */
#define SCRATCHBYTES (VAULT_KEYBYTES + 2 * NONCEBYTES)
/* A stored cost above this is refused: a crafted file must not make unlock
 * allocate unbounded memory. */
#define MEMLIMIT_MAX (4ull * 1024 * 1024 * 1024)
#define OPSLIMIT_MAX 64
_Static_assert(QM_STORE_KEKBYTES == VAULT_KEYBYTES,
               "the passphrase key is a vault-key-sized key");

/* The vault key's wrapping names the kind of vault: v2 vaults keep a label
 * MAC on every labelled row (label.c), v1 vaults come from before, and
 * their rows get MACs at the first unlock, which rewraps the key as v2.
 * Only the passphrase can wrap the key, so a file cannot be turned back
 * into a v1 vault to have edited rows sealed again. */
static const unsigned char wrap_ad_v1[] = "qmail-vault-v1 key";
static const unsigned char wrap_ad_v2[] = "qmail-vault-v2 key, labels sealed";

static void kdf_params(const struct qm_store *s, uint64_t *ops, uint64_t *mem)
{
	const char *e = getenv("QM_STORE_KDF");

	*ops = s->opts.kdf.opslimit;
	*mem = s->opts.kdf.memlimit;
	if (*ops && *mem)
		return;
	if (e && strcmp(e, "fast") == 0) {
		*ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
		*mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
	} else {
		*ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
		*mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
	}
}

void qm_store_kdf_cost(const struct qm_store *s, uint64_t *ops, uint64_t *mem)
{
	kdf_params(s, ops, mem);
}

/* Derives the passphrase key into a new secure allocation. */
static enum qm_err derive(const char *pass, size_t len,
                          const unsigned char *salt, uint64_t ops, uint64_t mem,
                          unsigned char **kek, struct qm_error *err)
{
	unsigned char *k = qm_sec_alloc(VAULT_KEYBYTES);

	if (!k)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "no secure memory for the vault key");
	if (crypto_pwhash(k, VAULT_KEYBYTES, pass, len, salt, ops, (size_t)mem,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		qm_sec_free(k);
		return qm_error_set(
		    err, QM_ERR_NOMEM,
		    "Argon2id needs %llu MiB of memory and could "
		    "not get it",
		    (unsigned long long)(mem >> 20));
	}
	*kek = k;
	return QM_OK;
}

int qm_store_vault_exists(struct qm_store *s)
{
	sqlite3_stmt *st;
	int src;

	if (store_db_stmt(s, "SELECT 1 FROM vault WHERE id = 1", &st, NULL) !=
	    QM_OK)
		return 0;
	src = sqlite3_step(st);
	sqlite3_reset(st); /* a statement left running would pin a snapshot */
	return src == SQLITE_ROW;
}

int qm_store_vault_is_unlocked(const struct qm_store *s)
{
	return s && s->vkey != NULL;
}

enum qm_err store_vault_need(struct qm_store *s, struct qm_error *err)
{
	if (!s->vkey)
		return qm_error_set(err, QM_ERR_LOCKED,
		                    "the vault is locked: unlock it with your "
		                    "passphrase first");
	return QM_OK;
}

void qm_store_vault_lock(struct qm_store *s)
{
	if (!s)
		return;
	store_fts_drop(s);
	if (s->vkey) {
		/* wipes, item key scratch and label key included */
		qm_sec_free(s->vkey);
		s->vkey = NULL;
		s->ikey = NULL;
		s->lkey = NULL;
	}
}

enum qm_err store_vault_set_key(struct qm_store *s, const unsigned char *key,
                                struct qm_error *err)
{
	unsigned char *k =
	    qm_sec_alloc(VAULT_KEYBYTES + SCRATCHBYTES + LABEL_KEYBYTES);

	if (!k)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "no secure memory for the vault key");
	memcpy(k, key, VAULT_KEYBYTES);
	qm_wipe(k + VAULT_KEYBYTES, SCRATCHBYTES);
	/* the label key: its own subkey, so a MAC never uses the vault key */
	crypto_kdf_derive_from_key(k + VAULT_KEYBYTES + SCRATCHBYTES,
	                           LABEL_KEYBYTES, 1, "qmlabels", k);
	qm_store_vault_lock(s);
	s->vkey = k;
	s->ikey = k + VAULT_KEYBYTES;
	s->lkey = k + VAULT_KEYBYTES + SCRATCHBYTES;
	return QM_OK;
}

/* The wrapping of a vault made now: v2 once the schema has label MACs. */
static const unsigned char *wrap_ad_now(struct qm_store *s, size_t *len)
{
	if (qm_store_schema_version(s) >= LABEL_SCHEMA) {
		*len = sizeof(wrap_ad_v2);
		return wrap_ad_v2;
	}
	*len = sizeof(wrap_ad_v1);
	return wrap_ad_v1;
}

/* Wraps key under kek into out (WRAPBYTES) with a random nonce, or with
 * nonce when not NULL. */
static void wrap(const unsigned char *kek, const unsigned char *key,
                 const unsigned char *ad, size_t adlen, unsigned char *out,
                 const unsigned char *nonce)
{
	if (nonce)
		memcpy(out, nonce, NONCEBYTES);
	else
		randombytes_buf(out, NONCEBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out + NONCEBYTES, NULL, key,
	                                           VAULT_KEYBYTES, ad, adlen,
	                                           NULL, out, kek);
}

/* Unwraps into key (VAULT_KEYBYTES, secure); -1 when the check fails. */
static int unwrap(const unsigned char *kek, const unsigned char *in,
                  const unsigned char *ad, size_t adlen, unsigned char *key)
{
	return crypto_aead_xchacha20poly1305_ietf_decrypt(
	    key, NULL, NULL, in + NONCEBYTES, VAULT_KEYBYTES + TAGBYTES, ad,
	    adlen, in, kek);
}

static enum qm_err store_wrapped(struct qm_store *s, const char *sql,
                                 const char *pass, size_t len,
                                 const unsigned char *vkey,
                                 struct qm_error *err)
{
	unsigned char salt[SALTBYTES], wrapped[WRAPBYTES];
	const unsigned char *ad;
	unsigned char *kek = NULL;
	uint64_t ops, mem;
	sqlite3_stmt *st;
	enum qm_err rc;
	size_t adlen;
	int src;

	kdf_params(s, &ops, &mem);
	randombytes_buf(salt, sizeof(salt));
	rc = derive(pass, len, salt, ops, mem, &kek, err);
	if (rc != QM_OK)
		return rc;
	ad = wrap_ad_now(s, &adlen);
	wrap(kek, vkey, ad, adlen, wrapped, NULL);
	qm_sec_free(kek);
	rc = store_db_stmt(s, sql, &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_text(st, 1, ALG_NAME, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)ops);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)mem);
	sqlite3_bind_blob(st, 4, salt, sizeof(salt), SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, wrapped, sizeof(wrapped), SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, qm_now());
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "storing the vault key");
	return QM_OK;
}

enum qm_err qm_store_vault_create(struct qm_store *s, const char *pass,
                                  size_t len, struct qm_error *err)
{
	unsigned char *vkey = NULL;
	enum qm_err rc;

	if (!pass || len == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the vault needs a non-empty passphrase");
	vkey = qm_sec_alloc(VAULT_KEYBYTES);
	if (!vkey)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "no secure memory for the vault key");
	randombytes_buf(vkey, VAULT_KEYBYTES);
	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out;
	if (qm_store_vault_exists(s)) {
		store_db_rollback(s);
		rc = qm_error_set(err, QM_ERR_EXISTS,
		                  "this store already has a vault: unlock it");
		goto out;
	}
	rc = store_wrapped(
	    s,
	    "INSERT INTO vault (id, alg, opslimit, memlimit, "
	    "salt, wrapped, created) VALUES (1, ?, ?, ?, ?, ?, ?)",
	    pass, len, vkey, err);
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc != QM_OK)
		goto out;
	rc = store_vault_set_key(s, vkey, err);
out:
	qm_sec_free(vkey);
	return rc;
}

/*
 * The first unlock of a v1 vault in a schema with label MACs: in one
 * transaction, computes the MAC of every labelled row (as the rows are:
 * written by an older QMail, they had none) and rewraps the vault key as
 * v2 under the same passphrase key. A second process that did it first is
 * noticed inside the transaction. Leaves the lock state as it was.
 */
static enum qm_err seal_labels_once(struct qm_store *s,
                                    const unsigned char *kek,
                                    const unsigned char *vkey,
                                    struct qm_error *err)
{
	unsigned char wrapped[WRAPBYTES], probe[VAULT_KEYBYTES];
	int was_unlocked = s->vkey != NULL, src;
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = store_db_stmt(s, "SELECT wrapped FROM vault WHERE id = 1", &st,
	                   err);
	if (rc != QM_OK)
		goto out;
	src = sqlite3_step(st);
	if (src == SQLITE_ROW && sqlite3_column_bytes(st, 0) == WRAPBYTES)
		memcpy(wrapped, sqlite3_column_blob(st, 0), WRAPBYTES);
	sqlite3_reset(st);
	if (src != SQLITE_ROW) {
		rc = store_db_fail(s, src, err, "reading the vault");
		goto out;
	}
	if (unwrap(kek, wrapped, wrap_ad_v2, sizeof(wrap_ad_v2), probe) == 0)
		goto out; /* another process sealed them meanwhile */
	if (!was_unlocked)
		rc = store_vault_set_key(s, vkey, err);
	if (rc == QM_OK)
		rc = store_labels_seal_all(s, err);
	if (rc != QM_OK)
		goto out;
	wrap(kek, vkey, wrap_ad_v2, sizeof(wrap_ad_v2), wrapped, NULL);
	rc = store_db_stmt(s, "UPDATE vault SET wrapped = ? WHERE id = 1", &st,
	                   err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_blob(st, 1, wrapped, WRAPBYTES, SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "sealing the security labels");
out:
	qm_wipe(probe, sizeof(probe));
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (!was_unlocked)
		qm_store_vault_lock(s);
	if (rc != QM_OK)
		return qm_error_prefix(err, "sealing the security labels of "
		                            "the rows of an older QMail: ");
	return QM_OK;
}

/* Reads the vault record: salt, wrapped key and the Argon2id cost, checked
 * against the bounds (a crafted file must not make unlock allocate
 * unbounded memory). */
static enum qm_err read_vault(struct qm_store *s, unsigned char *salt,
                              unsigned char *wrapped, uint64_t *ops,
                              uint64_t *mem, struct qm_error *err)
{
	sqlite3_int64 o, m;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT alg, opslimit, memlimit, salt, wrapped "
	                   "FROM vault WHERE id = 1",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	src = sqlite3_step(st);
	if (src == SQLITE_DONE) {
		sqlite3_reset(st);
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "this store has no vault yet: create one");
	}
	if (src != SQLITE_ROW)
		return store_db_fail(s, src, err, "reading the vault");
	o = sqlite3_column_int64(st, 1);
	m = sqlite3_column_int64(st, 2);
	if (!sqlite3_column_text(st, 0) ||
	    strcmp((const char *)sqlite3_column_text(st, 0), ALG_NAME) != 0 ||
	    sqlite3_column_bytes(st, 3) != SALTBYTES ||
	    sqlite3_column_bytes(st, 4) != WRAPBYTES ||
	    o < (sqlite3_int64)crypto_pwhash_argon2id_OPSLIMIT_MIN ||
	    o > OPSLIMIT_MAX ||
	    m < (sqlite3_int64)crypto_pwhash_argon2id_MEMLIMIT_MIN ||
	    (uint64_t)m > MEMLIMIT_MAX) {
		sqlite3_reset(st);
		return qm_error_set(
		    err, QM_ERR_PARSE,
		    "the vault record in %s is damaged or of an "
		    "unknown kind",
		    s->path);
	}
	memcpy(salt, sqlite3_column_blob(st, 3), SALTBYTES);
	memcpy(wrapped, sqlite3_column_blob(st, 4), WRAPBYTES);
	sqlite3_reset(st);
	*ops = (uint64_t)o;
	*mem = (uint64_t)m;
	return QM_OK;
}

/* Unwraps the vault key with the passphrase key kek; *out in secure
 * memory. A v1 vault is brought to v2 on the way (seal_labels_once). A kek
 * that does not open the wrapping: QM_ERR_DENIED, nothing changed. */
static enum qm_err unwrap_vault_key(struct qm_store *s,
                                    const unsigned char *kek,
                                    const unsigned char *wrapped,
                                    unsigned char **out, struct qm_error *err)
{
	unsigned char *vkey = qm_sec_alloc(VAULT_KEYBYTES);
	enum qm_err rc = QM_OK;

	if (!vkey)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "no secure memory for the vault key");
	if (unwrap(kek, wrapped, wrap_ad_v2, sizeof(wrap_ad_v2), vkey) != 0) {
		if (unwrap(kek, wrapped, wrap_ad_v1, sizeof(wrap_ad_v1),
		           vkey) != 0) {
			rc = qm_error_set(err, QM_ERR_DENIED,
			                  "wrong passphrase: the vault did not "
			                  "open; nothing was changed");
			goto out;
		}
		if (qm_store_schema_version(s) >= LABEL_SCHEMA) {
			rc = seal_labels_once(s, kek, vkey, err);
			if (rc != QM_OK)
				goto out;
		}
	}
	*out = vkey;
	vkey = NULL;
out:
	qm_sec_free(vkey);
	return rc;
}

/* Derives the passphrase key for pass and unwraps the vault key with it;
 * both in secure memory (*kek_out may be NULL: the passphrase key is then
 * wiped here). */
static enum qm_err open_vault_key(struct qm_store *s, const char *pass,
                                  size_t len, unsigned char **out,
                                  unsigned char **kek_out, struct qm_error *err)
{
	unsigned char salt[SALTBYTES], wrapped[WRAPBYTES];
	unsigned char *kek = NULL;
	uint64_t ops, mem;
	enum qm_err rc;

	rc = read_vault(s, salt, wrapped, &ops, &mem, err);
	if (rc != QM_OK)
		return rc;
	rc = derive(pass, len, salt, ops, mem, &kek, err);
	if (rc != QM_OK)
		return rc;
	rc = unwrap_vault_key(s, kek, wrapped, out, err);
	if (rc == QM_OK && kek_out) {
		*kek_out = kek;
		kek = NULL;
	}
	qm_sec_free(kek);
	return rc;
}

enum qm_err qm_store_vault_unlock(struct qm_store *s, const char *pass,
                                  size_t len, struct qm_error *err)
{
	return qm_store_vault_unlock_export(s, pass, len, NULL, err);
}

enum qm_err qm_store_vault_unlock_export(struct qm_store *s, const char *pass,
                                         size_t len, unsigned char **kek,
                                         struct qm_error *err)
{
	unsigned char *vkey = NULL, *k = NULL;
	enum qm_err rc;

	if (!pass)
		return qm_error_set(err, QM_ERR_INVAL, "no passphrase given");
	rc = open_vault_key(s, pass, len, &vkey, kek ? &k : NULL, err);
	if (rc != QM_OK)
		return rc;
	rc = store_vault_set_key(s, vkey, err);
	qm_sec_free(vkey);
	if (rc == QM_OK && kek)
		*kek = k;
	else
		qm_sec_free(k);
	return rc;
}

enum qm_err qm_store_vault_unlock_kek(struct qm_store *s,
                                      const unsigned char *kek, size_t len,
                                      struct qm_error *err)
{
	unsigned char salt[SALTBYTES], wrapped[WRAPBYTES];
	unsigned char *vkey = NULL;
	uint64_t ops, mem;
	enum qm_err rc;

	if (!kek || len != QM_STORE_KEKBYTES)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an unlock key is %d bytes, not %zu",
		                    QM_STORE_KEKBYTES, len);
	rc = read_vault(s, salt, wrapped, &ops, &mem, err);
	if (rc != QM_OK)
		return rc;
	rc = unwrap_vault_key(s, kek, wrapped, &vkey, err);
	if (rc == QM_ERR_DENIED)
		return qm_error_set(err, QM_ERR_DENIED,
		                    "the unlock key does not open this vault "
		                    "(another home, or the passphrase was "
		                    "changed since); nothing was changed");
	if (rc != QM_OK)
		return rc;
	rc = store_vault_set_key(s, vkey, err);
	qm_sec_free(vkey);
	return rc;
}

enum qm_err qm_store_vault_rekey(struct qm_store *s, const char *oldpass,
                                 size_t oldlen, const char *newpass,
                                 size_t newlen, struct qm_error *err)
{
	unsigned char *vkey = NULL;
	enum qm_err rc;

	if (!newpass || newlen == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the vault needs a non-empty passphrase");
	rc = open_vault_key(s, oldpass, oldlen, &vkey, NULL, err);
	if (rc != QM_OK)
		return rc;
	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out;
	rc = store_wrapped(
	    s,
	    "UPDATE vault SET alg = ?, opslimit = ?, memlimit = ?, "
	    "salt = ?, wrapped = ?, created = ? WHERE id = 1",
	    newpass, newlen, vkey, err);
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
out:
	qm_sec_free(vkey);
	return rc;
}

/* The associated data that binds an item to its place. */
static size_t item_ad(const char *kind, int64_t id, unsigned char *ad,
                      size_t adlen)
{
	size_t k = strnlen(kind, 32), n = 0;
	static const char tag[] = "qmail-vault-v1 item";

	if (sizeof(tag) + k + 1 + 8 > adlen)
		return 0;
	memcpy(ad, tag, sizeof(tag));
	n = sizeof(tag);
	memcpy(ad + n, kind, k);
	n += k;
	ad[n++] = 0;
	for (int i = 7; i >= 0; i--)
		ad[n++] = (unsigned char)((uint64_t)id >> (i * 8));
	return n;
}

enum qm_err store_vault_seal(struct qm_store *s, const char *kind, int64_t id,
                             const void *pt, size_t n, struct qm_buf *out,
                             struct qm_error *err)
{
	unsigned char ad[96], *ikey, *p;
	size_t adlen, start;
	enum qm_err rc;

	rc = store_vault_need(s, err);
	if (rc != QM_OK)
		return rc;
	if (n > QM_STORE_MAXBLOB)
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "%s: %zu bytes is more than the vault takes "
		    "in one item (%u)",
		    kind, n, QM_STORE_MAXBLOB);
	adlen = item_ad(kind, id, ad, sizeof(ad));
	if (!adlen)
		return qm_error_set(err, QM_ERR_INVAL, "bad vault item kind");
	ikey = s->ikey;
	start = out->len;
	rc = qm_buf_reserve(out, ITEM_OVERHEAD + n, err);
	if (rc != QM_OK)
		goto out;
	p = out->data + start;
	p[0] = ITEM_VERSION;
	randombytes_buf(ikey, SCRATCHBYTES);
	wrap(s->vkey, ikey, ad, adlen, p + 1, ikey + VAULT_KEYBYTES);
	memcpy(p + 1 + WRAPBYTES, ikey + VAULT_KEYBYTES + NONCEBYTES,
	       NONCEBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    p + 1 + WRAPBYTES + NONCEBYTES, NULL, pt, n, ad, adlen, NULL,
	    p + 1 + WRAPBYTES, ikey);
	out->len = start + ITEM_OVERHEAD + n;
	out->data[out->len] = 0;
out:
	qm_wipe(ikey, SCRATCHBYTES);
	return rc;
}

enum qm_err store_vault_open(struct qm_store *s, const char *kind, int64_t id,
                             const void *blob, size_t n, struct qm_buf *out,
                             struct qm_error *err)
{
	const unsigned char *b = blob;
	unsigned char ad[96], *ikey;
	size_t adlen, ptlen, start;
	enum qm_err rc;

	rc = store_vault_need(s, err);
	if (rc != QM_OK)
		return rc;
	if (!out->secure)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "vault plaintext must go to a secure buffer");
	if (n < ITEM_OVERHEAD || b[0] != ITEM_VERSION)
		return qm_error_set(err, QM_ERR_AUTH,
		                    "%s %lld in the vault is damaged", kind,
		                    (long long)id);
	adlen = item_ad(kind, id, ad, sizeof(ad));
	if (!adlen)
		return qm_error_set(err, QM_ERR_INVAL, "bad vault item kind");
	ptlen = n - ITEM_OVERHEAD;
	ikey = s->ikey;
	start = out->len;
	rc = qm_buf_reserve(out, ptlen, err);
	if (rc != QM_OK)
		goto out;
	if (unwrap(s->vkey, b + 1, ad, adlen, ikey) != 0 ||
	    crypto_aead_xchacha20poly1305_ietf_decrypt(
	        out->data + start, NULL, NULL, b + 1 + WRAPBYTES + NONCEBYTES,
	        n - 1 - WRAPBYTES - NONCEBYTES, ad, adlen, b + 1 + WRAPBYTES,
	        ikey) != 0) {
		qm_wipe(out->data + start, ptlen);
		rc = qm_error_set(err, QM_ERR_AUTH,
		                  "%s %lld in the vault failed its integrity "
		                  "check (altered or moved)",
		                  kind, (long long)id);
		goto out;
	}
	out->len = start + ptlen;
	out->data[out->len] = 0;
out:
	qm_wipe(ikey, VAULT_KEYBYTES);
	return rc;
}
