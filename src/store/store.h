/* SPDX-License-Identifier: MIT */
/*
 * store: everything a QMail user has on one machine, in one SQLite database
 * (WAL mode) under the QMail home. Accounts and their settings, contacts, the
 * encrypted-at-rest vault (plaintext MIME of decrypted mail, real subjects,
 * drafts, account secrets, private keys), the message index, the outbox, the
 * log of consumed key IDs (replay protection) and the keyring. The layers
 * above never write SQL of their own. The store knows nothing of crypto, kms
 * or mail: private keys arrive as opaque blobs, messages as bytes.
 *
 * One handle is one SQLite connection: use a handle from one thread at a
 * time and give each thread (GUI, background sync) its own handle
 * (qm_store_clone). Handles on the same file share it safely: writers take
 * short IMMEDIATE transactions and wait up to the busy time-out.
 */
#ifndef QM_STORE_H
#define QM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/types.h"

/* Database file name inside the QMail home. */
#define QM_STORE_DBNAME "qmail.db"

struct qm_store;

/*
 * The records (accounts, contacts, messages, outbox entries, keys) and
 * their enums are in store/types.h.
 */

/* -------------------------------------------------------------- locations */

/*
 * The QMail data folder: $QMAIL_HOME, else $XDG_DATA_HOME/qmail, else
 * $HOME/.local/share/qmail, written to out. QM_ERR_TOOBIG if out is short,
 * QM_ERR_NOTFOUND if none of the variables is set.
 */
QM_NODISCARD enum qm_err qm_store_home_default(char *out, size_t outlen,
                                               struct qm_error *err);
/* The configuration folder: $XDG_CONFIG_HOME/qmail or $HOME/.config/qmail. */
QM_NODISCARD enum qm_err qm_store_config_dir_default(char *out, size_t outlen,
                                                     struct qm_error *err);

/* ------------------------------------------------------- open and close */

struct qm_store_opts {
	/* Milliseconds a writer waits for another one; 0 means 5000. */
	int busy_timeout_ms;
	/*
	 * Argon2id cost for qm_store_vault_create; zeros mean the real default
	 * (opslimit 3, 256 MiB) unless QM_STORE_KDF=fast is set in the
	 * environment (tests), which selects libsodium's minimum.
	 */
	struct qm_store_kdf kdf;
	/* Tests only: stop migrating at this schema version (0: the latest). */
	int schema_max;
	/* Open an existing database only; never create one. */
	int must_exist;
};

/* The Argon2id cost of a new vault (qm_store_opts.kdf, or the default
 * as said there): what other passphrase boxes of this home use too. */
void qm_store_kdf_cost(const struct qm_store *s, uint64_t *ops, uint64_t *mem);

/* The newest schema version this build knows. */
int qm_store_schema_latest(void);

/*
 * Opens (creating if needed, with mode 0700 for home and 0600 for the file)
 * the store in folder home, sets WAL mode and the busy time-out, and applies
 * every pending numbered migration, each in its own transaction. opts may be
 * NULL. A damaged file gives QM_ERR_PARSE with a message that says so; a
 * database from a newer QMail gives QM_ERR_UNSUPPORTED. The vault starts
 * locked. Free with qm_store_close.
 */
QM_NODISCARD enum qm_err qm_store_open(const char *home,
                                       const struct qm_store_opts *opts,
                                       struct qm_store **out,
                                       struct qm_error *err);
/*
 * A second handle on the same database for another thread; it shares the
 * unlocked state (the vault key is copied into the new handle's own secure
 * memory, and each handle wipes its copy on lock/close).
 */
QM_NODISCARD enum qm_err
qm_store_clone(struct qm_store *s, struct qm_store **out, struct qm_error *err);
/* Limits the handle's page cache to kib KiB (from the default 16 MiB): a
 * handle that streams a large blob through once keeps little of it. */
QM_NODISCARD enum qm_err qm_store_cache_limit(struct qm_store *s, int kib,
                                              struct qm_error *err);
/* Wipes the vault key, closes the connection, frees s and sets *s NULL. */
void qm_store_close(struct qm_store **s);
/* The schema version of the open database. */
int qm_store_schema_version(struct qm_store *s);
/* The handle's page cache limit in KiB now (tests and diagnostics). */
int qm_store_cache_kib_now(struct qm_store *s);
/* The database file's path (borrowed, lives as long as s). */
const char *qm_store_path(const struct qm_store *s);
/*
 * Runs SQLite's integrity check. QM_OK when the file is sound, QM_ERR_PARSE
 * with the first problem otherwise.
 */
QM_NODISCARD enum qm_err qm_store_check(struct qm_store *s,
                                        struct qm_error *err);

/*
 * Groups many changes in one transaction (bulk import, sync of a folder).
 * Nests: the store's own operations become savepoints. Keep it short: other
 * writers wait for it.
 */
QM_NODISCARD enum qm_err qm_store_tx_begin(struct qm_store *s,
                                           struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_tx_commit(struct qm_store *s,
                                            struct qm_error *err);
void qm_store_tx_rollback(struct qm_store *s);

/* ----------------------------------------------------------------- vault */

/*
 * The vault: a random 256-bit vault key, wrapped with XChaCha20-Poly1305
 * under a key derived from the passphrase with Argon2id (salt and cost
 * stored). Each sealed item has its own random key, wrapped by the vault
 * key, and is bound to its place (kind and row) so items cannot be swapped.
 */

/* True when a vault exists in this database. */
int qm_store_vault_exists(struct qm_store *s);
/*
 * Creates the vault with passphrase pass (len bytes) and leaves it
 * unlocked. QM_ERR_EXISTS if there is one already.
 */
QM_NODISCARD enum qm_err qm_store_vault_create(struct qm_store *s,
                                               const char *pass, size_t len,
                                               struct qm_error *err);
/*
 * Unlocks the vault. A wrong passphrase gives QM_ERR_DENIED and changes
 * nothing; no vault gives QM_ERR_NOTFOUND.
 */
QM_NODISCARD enum qm_err qm_store_vault_unlock(struct qm_store *s,
                                               const char *pass, size_t len,
                                               struct qm_error *err);
/* The size of the passphrase key (the Argon2id output that unwraps the
 * vault key), what qm_store_vault_unlock_export hands out. */
#define QM_STORE_KEKBYTES 32
/*
 * qm_store_vault_unlock that also hands out the passphrase key in *kek
 * (QM_STORE_KEKBYTES of secure memory, the caller's: qm_sec_free), so that
 * a later process can unlock without Argon2id (qm_store_vault_unlock_kek).
 * Whoever holds it can open the vault until the passphrase is changed.
 * kek may be NULL. *kek is set only on success.
 */
QM_NODISCARD enum qm_err
qm_store_vault_unlock_export(struct qm_store *s, const char *pass, size_t len,
                             unsigned char **kek, struct qm_error *err);
/*
 * Unlocks with a passphrase key from qm_store_vault_unlock_export (len
 * QM_STORE_KEKBYTES, borrowed), checked by the same authenticated
 * unwrapping of the vault key as a passphrase: a key that does not open it
 * (another vault, or the passphrase changed since) gives QM_ERR_DENIED and
 * changes nothing; QM_ERR_INVAL for a wrong length.
 */
QM_NODISCARD enum qm_err qm_store_vault_unlock_kek(struct qm_store *s,
                                                   const unsigned char *kek,
                                                   size_t len,
                                                   struct qm_error *err);
/* Wipes the vault key and the in-memory search index. */
void qm_store_vault_lock(struct qm_store *s);
int qm_store_vault_is_unlocked(const struct qm_store *s);
/* Re-wraps the vault key under a new passphrase (the old one must match). */
QM_NODISCARD enum qm_err
qm_store_vault_rekey(struct qm_store *s, const char *oldpass, size_t oldlen,
                     const char *newpass, size_t newlen, struct qm_error *err);

/* -------------------------------------------------------------- accounts */

/* Adds an account (address unique: QM_ERR_EXISTS); sets a->id. */
QM_NODISCARD enum qm_err qm_store_account_add(struct qm_store *s,
                                              struct qm_store_account *a,
                                              struct qm_error *err);
/* Replaces every field of the account a->id. */
QM_NODISCARD enum qm_err
qm_store_account_update(struct qm_store *s, const struct qm_store_account *a,
                        struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_account_get(struct qm_store *s, int64_t id,
                                              struct qm_store_account *out,
                                              struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_account_find(struct qm_store *s,
                                               const char *address,
                                               struct qm_store_account *out,
                                               struct qm_error *err);
/*
 * All accounts, ordered by id, in a malloc'd array the caller frees with
 * free(); *n gets the count (0 and NULL when there are none).
 */
QM_NODISCARD enum qm_err qm_store_account_list(struct qm_store *s,
                                               struct qm_store_account **out,
                                               size_t *n, struct qm_error *err);
/* Deletes the account and everything that belongs to it. */
QM_NODISCARD enum qm_err qm_store_account_delete(struct qm_store *s, int64_t id,
                                                 struct qm_error *err);
/* Seals a secret (vault must be unlocked: QM_ERR_LOCKED). */
QM_NODISCARD enum qm_err qm_store_secret_set(struct qm_store *s,
                                             int64_t account_id,
                                             enum qm_store_secret kind,
                                             const void *p, size_t n,
                                             struct qm_error *err);
/*
 * Appends the secret to out, which must be a secure buffer (QM_ERR_INVAL
 * otherwise). QM_ERR_NOTFOUND when not set.
 */
QM_NODISCARD enum qm_err qm_store_secret_get(struct qm_store *s,
                                             int64_t account_id,
                                             enum qm_store_secret kind,
                                             struct qm_buf *out,
                                             struct qm_error *err);
/* Forgets a secret; QM_OK when there was none. */
QM_NODISCARD enum qm_err qm_store_secret_delete(struct qm_store *s,
                                                int64_t account_id,
                                                enum qm_store_secret kind,
                                                struct qm_error *err);

/* Per-account settings (account 0: global), text key -> text value. */
QM_NODISCARD enum qm_err
qm_store_setting_set(struct qm_store *s, int64_t account_id, const char *key,
                     const char *value, struct qm_error *err);
/* Appends the value to out; QM_ERR_NOTFOUND when unset. */
QM_NODISCARD enum qm_err
qm_store_setting_get(struct qm_store *s, int64_t account_id, const char *key,
                     struct qm_buf *out, struct qm_error *err);

/* ------------------------------------------------------------ identities */

/*
 * Adds or replaces the identity (account_id, id->address): its name and
 * signature (id->is_default is not read: qm_store_identity_default sets
 * it). Addresses compare without case. QM_ERR_INVAL for a field past its
 * bound.
 */
QM_NODISCARD enum qm_err
qm_store_identity_put(struct qm_store *s, int64_t account_id,
                      const struct qm_store_identity *id, struct qm_error *err);
/* Removes identity address of account_id; QM_ERR_NOTFOUND when none. */
QM_NODISCARD enum qm_err qm_store_identity_del(struct qm_store *s,
                                               int64_t account_id,
                                               const char *address,
                                               struct qm_error *err);
/* Makes address the default identity of account_id (NULL or an address
 * without a row: none is, and the account's own address is the default). */
QM_NODISCARD enum qm_err qm_store_identity_default(struct qm_store *s,
                                                   int64_t account_id,
                                                   const char *address,
                                                   struct qm_error *err);
/* The identity rows of account_id, by address, in a malloc'd array the
 * caller frees with free(); *n may be 0. */
QM_NODISCARD enum qm_err qm_store_identity_list(struct qm_store *s,
                                                int64_t account_id,
                                                struct qm_store_identity **out,
                                                size_t *n,
                                                struct qm_error *err);

/* -------------------------------------------------------------- contacts */

/*
 * Adds or replaces the contact (account_id, c->address). A contact entered
 * by the user is confirmed. A learned SAE ID that differs from a confirmed
 * one does not replace it: QM_ERR_STATE ("SAE ID changed").
 */
QM_NODISCARD enum qm_err qm_store_contact_put(struct qm_store *s,
                                              int64_t account_id,
                                              const struct qm_store_contact *c,
                                              struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_contact_get(struct qm_store *s,
                                              int64_t account_id,
                                              const char *address,
                                              struct qm_store_contact *out,
                                              struct qm_error *err);
/* Marks a learned contact confirmed by the user. */
QM_NODISCARD enum qm_err qm_store_contact_confirm(struct qm_store *s,
                                                  int64_t account_id,
                                                  const char *address,
                                                  struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_contact_list(struct qm_store *s,
                                               int64_t account_id,
                                               struct qm_store_contact **out,
                                               size_t *n, struct qm_error *err);

/* --------------------------------------------------------- message index */

/*
 * Adds a message to the index with its real subject and, when mime is not
 * NULL, its plaintext MIME (and text, the plain body for search, optional),
 * all sealed in the vault (QM_ERR_LOCKED when locked and anything is to be
 * sealed). key_ids (n_keys) are recorded as consumed (direction in) for this
 * message in the same transaction: QM_ERR_REPLAY when one was already used
 * by another message. A second message with the same (account, folder,
 * uidvalidity, uid) or (account, uidl) gives QM_ERR_EXISTS. Sets *id.
 * A large message's plaintext comes as m->body_blob instead of mime (a
 * complete blob of kind QM_STORE_BLOB_MSG owned by the account, schema 12:
 * QM_ERR_UNSUPPORTED before; QM_ERR_NOTFOUND when there is no such blob):
 * the message then owns it, and text should be given (search and snippet
 * take it, never the blob). On failure the blob stays the caller's.
 */
QM_NODISCARD enum qm_err
qm_store_msg_add(struct qm_store *s, const struct qm_store_msg *m,
                 const char *subject, const char *const *key_ids, size_t n_keys,
                 const void *mime, size_t mime_len, const char *text,
                 int64_t *id, struct qm_error *err);
/*
 * Changes the level and verify state of message id (a message opened on a
 * later try, or marked after the fact), with a fresh label MAC. Needs the
 * vault unlocked; QM_ERR_AUTH when the row's labels were already changed
 * on disk (its other labels are not blessed). Any code that changes a
 * labelled column of msg goes through here (docs/STORE.md).
 */
QM_NODISCARD enum qm_err qm_store_msg_set_verify(struct qm_store *s, int64_t id,
                                                 int level,
                                                 enum qm_store_verify v,
                                                 struct qm_error *err);
/* Sets the flags of a message. */
QM_NODISCARD enum qm_err qm_store_msg_set_flags(struct qm_store *s, int64_t id,
                                                unsigned flags,
                                                struct qm_error *err);
/* Removes a message from the index and its plaintext from the vault. The
 * consumed key IDs stay in the replay log. */
QM_NODISCARD enum qm_err qm_store_msg_delete(struct qm_store *s, int64_t id,
                                             struct qm_error *err);
/*
 * Appends the sealed plaintext MIME of message id to out (a secure buffer).
 * QM_ERR_LOCKED, QM_ERR_NOTFOUND, or QM_ERR_AUTH when the vault entry was
 * altered.
 */
QM_NODISCARD enum qm_err qm_store_msg_body(struct qm_store *s, int64_t id,
                                           struct qm_buf *out,
                                           struct qm_error *err);
struct qm_store_blob_r;
/*
 * The plaintext MIME of message id when it is kept as a blob (a large
 * message): *r reads it a chunk at a time (close it with
 * qm_store_blob_close); *r is NULL when the body is kept whole (read it
 * with qm_store_msg_body, which also reads a blob whole). QM_ERR_NOTFOUND
 * when there is no body, QM_ERR_AUTH when its record or blob was altered.
 */
QM_NODISCARD enum qm_err qm_store_msg_body_open(struct qm_store *s, int64_t id,
                                                struct qm_store_blob_r **r,
                                                struct qm_error *err);
/*
 * Fills in the body of header-only record id (body_pending): its MIME
 * and text sealed in the vault, its attachment count, body_pending 0, in
 * one transaction. QM_ERR_STATE when the record is no header-only plain
 * message (filled already, by another handle), QM_ERR_NOTFOUND when it
 * is gone. The search index of this handle is built again at its next
 * use.
 */
QM_NODISCARD enum qm_err qm_store_msg_body_fill(struct qm_store *s, int64_t id,
                                                const void *mime,
                                                size_t mime_len,
                                                const char *text, int n_attach,
                                                struct qm_error *err);
/*
 * Header-only record id's body, as the server gave it, was another
 * message (docs/CLIENT.md "Large mailboxes"): body_pending 1 -> 2, so the
 * body pass (qm_store_place_pending) stops asking for it at every sync;
 * opening the message still fetches it on demand. QM_OK when the record
 * was no waiting one (filled, gone, marked already).
 */
QM_NODISCARD enum qm_err qm_store_msg_body_refused(struct qm_store *s,
                                                   int64_t id,
                                                   struct qm_error *err);
/*
 * The places in folder_id of header-only records waiting for their body
 * (body_pending 1; not 2), newest UID first (msg_flags filled); *out
 * malloc'd (free() it), *n may be 0.
 */
QM_NODISCARD enum qm_err qm_store_place_pending(struct qm_store *s,
                                                int64_t folder_id,
                                                struct qm_store_place **out,
                                                size_t *n,
                                                struct qm_error *err);
/* Finds a message by (account, Message-ID); QM_ERR_NOTFOUND. */
QM_NODISCARD enum qm_err qm_store_msg_find(struct qm_store *s,
                                           int64_t account_id,
                                           const char *message_id, int64_t *id,
                                           struct qm_error *err);

/*
 * Every message of account carrying message_id, oldest first (malloc'd;
 * free() it; *n may be 0).
 */
QM_NODISCARD enum qm_err qm_store_msg_find_all(struct qm_store *s,
                                               int64_t account_id,
                                               const char *message_id,
                                               int64_t **ids, size_t *n,
                                               struct qm_error *err);
/*
 * The sealed security record of message id (m->meta when it was added, or
 * the last qm_store_msg_meta_set), appended to out (a secure buffer).
 * QM_ERR_NOTFOUND when it has none, QM_ERR_LOCKED, QM_ERR_AUTH when the
 * record was altered or belongs to another message.
 */
QM_NODISCARD enum qm_err qm_store_msg_meta_get(struct qm_store *s, int64_t id,
                                               struct qm_buf *out,
                                               struct qm_error *err);
/* Replaces the sealed security record of message id. QM_ERR_NOTFOUND
 * when there is no such message, QM_ERR_STATE when it was added without
 * one (whether it has one is bound by its label MAC). */
QM_NODISCARD enum qm_err qm_store_msg_meta_set(struct qm_store *s, int64_t id,
                                               const void *p, size_t n,
                                               struct qm_error *err);

/* Finds the IMAP message (account, folder, uidvalidity, uid). */
QM_NODISCARD enum qm_err
qm_store_msg_find_uid(struct qm_store *s, int64_t account_id,
                      const char *folder, int64_t uidvalidity, int64_t uid,
                      int64_t *id, struct qm_error *err);
/* Finds the POP3 message (account, uidl). */
QM_NODISCARD enum qm_err qm_store_msg_find_uidl(struct qm_store *s,
                                                int64_t account_id,
                                                const char *uidl, int64_t *id,
                                                struct qm_error *err);
/* The highest UID indexed for (account, folder, uidvalidity), 0 when none:
 * where an IMAP sync resumes. */
QM_NODISCARD enum qm_err
qm_store_msg_max_uid(struct qm_store *s, int64_t account_id, const char *folder,
                     int64_t uidvalidity, int64_t *uid, struct qm_error *err);
/*
 * The key IDs message id consumed, in their order: a malloc'd array of
 * malloc'd strings (*n of them); free with qm_store_strv_free.
 */
QM_NODISCARD enum qm_err qm_store_msg_key_ids(struct qm_store *s, int64_t id,
                                              char ***ids, size_t *n,
                                              struct qm_error *err);
void qm_store_strv_free(char **v, size_t n);

/* Lists messages; free the result with qm_store_msglist_free. */
QM_NODISCARD enum qm_err qm_store_msg_list(struct qm_store *s,
                                           const struct qm_store_query *q,
                                           struct qm_store_msglist **out,
                                           struct qm_error *err);
/*
 * Ids of account's messages in verify state v, oldest first (malloc'd;
 * free() it). The receive path uses it to fetch again the messages it
 * refused once the user raised a limit.
 */
QM_NODISCARD enum qm_err qm_store_msg_ids_by_verify(struct qm_store *s,
                                                    int64_t account_id,
                                                    enum qm_store_verify v,
                                                    int64_t **ids, size_t *n,
                                                    struct qm_error *err);
/*
 * Snippets for the list (schema 9, docs/STORE.md "Snippets"): at most
 * QM_STORE_SNIPPET_CHARS characters of a message's plain text, whitespace
 * runs as one space, quoted lines ("> ...") and a signature (after a
 * "-- " line) left out, control characters and broken UTF-8 dropped, never
 * a multibyte sequence cut. qm_store_snippet appends the snippet of text
 * (n bytes, UTF-8) to out (a secure buffer), without a terminating NUL.
 */
#define QM_STORE_SNIPPET_CHARS 200
QM_NODISCARD enum qm_err qm_store_snippet(const char *text, size_t n,
                                          struct qm_buf *out,
                                          struct qm_error *err);
/*
 * Makes the snippets of up to max messages that have none yet (rows of a
 * home made before schema 9), newest first, from their sealed text, in
 * one write transaction; *left (may be NULL) gets how many are still
 * without one. A listing shows the snippets of such rows already (it makes
 * up to 50 per page in memory); this keeps them. Needs the vault unlocked.
 */
QM_NODISCARD enum qm_err qm_store_msg_snippets_fill(struct qm_store *s,
                                                    size_t max, int64_t *left,
                                                    struct qm_error *err);
/* One message by id, as a list of one. */
QM_NODISCARD enum qm_err qm_store_msg_get(struct qm_store *s, int64_t id,
                                          struct qm_store_msglist **out,
                                          struct qm_error *err);
void qm_store_msglist_free(struct qm_store_msglist **l);
/* Number of messages matching q (text, paging and limit ignored). */
QM_NODISCARD enum qm_err qm_store_msg_count(struct qm_store *s,
                                            const struct qm_store_query *q,
                                            int64_t *n, struct qm_error *err);
/*
 * SQLite's query plan for the list query q, one line per step, appended to
 * out: lets tests and benchmarks check that listing uses an index.
 */
QM_NODISCARD enum qm_err qm_store_msg_list_plan(struct qm_store *s,
                                                const struct qm_store_query *q,
                                                struct qm_buf *out,
                                                struct qm_error *err);

/* --------------------------------------------------------------- folders */

/*
 * Folders of an account's IMAP server and the places of messages in them
 * (schema 6, folder.c; docs/STORE.md "Folders and places"). A folder's
 * name is the server's; its sync state (UIDVALIDITY, highest mod-sequence,
 * last UID) says where the last sync stopped. No label MAC: where a
 * message is and its flags are no trust claim (a place edited on disk can
 * make a sync skip a message or move a flag, never make a message read as
 * verified or open twice: the replay log and the message's own labels
 * decide that).
 */

/* Adds folder f->name of f->account_id, or updates its display name,
 * delimiter, special use, subscription and selectability (the sync state
 * stays). *id (may be NULL) gets its id. QM_ERR_INVAL for an empty name,
 * QM_ERR_TOOBIG for one over QM_STORE_FOLDERMAX bytes. */
QM_NODISCARD enum qm_err qm_store_folder_put(struct qm_store *s,
                                             const struct qm_store_folder *f,
                                             int64_t *id, struct qm_error *err);
/* Folder name of account_id into *out (free with qm_store_folder_clear);
 * QM_ERR_NOTFOUND. Counts are not filled. */
QM_NODISCARD enum qm_err qm_store_folder_get(struct qm_store *s,
                                             int64_t account_id,
                                             const char *name,
                                             struct qm_store_folder *out,
                                             struct qm_error *err);
/* Every folder of account_id by name, with its message and unread counts
 * (messages with a place in it); *out malloc'd, free with
 * qm_store_folders_free; *n may be 0. */
QM_NODISCARD enum qm_err qm_store_folder_list(struct qm_store *s,
                                              int64_t account_id,
                                              struct qm_store_folder **out,
                                              size_t *n, struct qm_error *err);
void qm_store_folder_clear(struct qm_store_folder *f);
void qm_store_folders_free(struct qm_store_folder **v, size_t n);
/* Where the sync of folder id stopped. */
QM_NODISCARD enum qm_err qm_store_folder_state_set(struct qm_store *s,
                                                   int64_t id,
                                                   int64_t uidvalidity,
                                                   int64_t highestmodseq,
                                                   int64_t lastuid,
                                                   struct qm_error *err);
/* The server renumbered folder id (a new UIDVALIDITY): every place in it
 * goes (the messages stay), its state starts afresh at uidvalidity, in one
 * transaction. */
QM_NODISCARD enum qm_err qm_store_folder_reset(struct qm_store *s, int64_t id,
                                               int64_t uidvalidity,
                                               struct qm_error *err);
/* Forgets folder id and the places in it (the messages stay). */
QM_NODISCARD enum qm_err qm_store_folder_forget(struct qm_store *s, int64_t id,
                                                struct qm_error *err);

/* Folder from of account_id is now to, and so are the folders under it
 * (from, delim, ...: renamed with it, as IMAP RENAME does; delim '\0':
 * none), keeping their places and sync state, in one transaction; a row
 * already under the new names is dropped. The display names become the
 * new names until the next listing. QM_ERR_NOTFOUND when there is no
 * folder from. */
QM_NODISCARD enum qm_err
qm_store_folder_rename(struct qm_store *s, int64_t account_id, const char *from,
                       const char *to, char delim, struct qm_error *err);

/* Message id is now filed in folder (a local folder of a POP3 account:
 * the folder a query by name selects when the account keeps no folder
 * record for it, or its record is local). QM_ERR_NOTFOUND. */
QM_NODISCARD enum qm_err qm_store_msg_refile(struct qm_store *s, int64_t id,
                                             const char *folder,
                                             struct qm_error *err);
/* Every message of account_id filed in from is now filed in to. */
QM_NODISCARD enum qm_err
qm_store_msg_refile_all(struct qm_store *s, int64_t account_id,
                        const char *from, const char *to, struct qm_error *err);

/* Message msg_id is at uid of folder folder_id with the server's flags.
 * The same place of the same message again: its flags are updated.
 * QM_ERR_EXISTS when another message holds the place; QM_ERR_NOTFOUND
 * when the message or folder does not exist. */
QM_NODISCARD enum qm_err qm_store_place_add(struct qm_store *s,
                                            int64_t folder_id, int64_t uid,
                                            int64_t msg_id, unsigned flags,
                                            struct qm_error *err);
/* The message at uid of folder_id; QM_ERR_NOTFOUND. */
QM_NODISCARD enum qm_err qm_store_place_find(struct qm_store *s,
                                             int64_t folder_id, int64_t uid,
                                             int64_t *msg_id,
                                             struct qm_error *err);
/* Every place in folder_id by UID (msg_flags filled); *out malloc'd (free()
 * it), *n may be 0. */
QM_NODISCARD enum qm_err qm_store_place_list(struct qm_store *s,
                                             int64_t folder_id,
                                             struct qm_store_place **out,
                                             size_t *n, struct qm_error *err);
/* Every place of message msg_id (msg_flags filled); as above. */
QM_NODISCARD enum qm_err qm_store_msg_places(struct qm_store *s,
                                             int64_t msg_id,
                                             struct qm_store_place **out,
                                             size_t *n, struct qm_error *err);
/* The place uid of folder_id is gone from the server. *left (may be
 * NULL) gets how many places its message still has (-1: there was no
 * such place). The message stays. */
QM_NODISCARD enum qm_err qm_store_place_remove(struct qm_store *s,
                                               int64_t folder_id, int64_t uid,
                                               int *left,
                                               struct qm_error *err);
/* After a flag sync of place (folder_id, uid): the server's flags are
 * now flags, and the message's become msg_flags when they are still
 * msg_was (the user did not change them meanwhile through another handle:
 * then they stay, and the next sync writes them), in one transaction. */
QM_NODISCARD enum qm_err
qm_store_place_flags_set(struct qm_store *s, int64_t folder_id, int64_t uid,
                         unsigned flags, unsigned msg_was, unsigned msg_flags,
                         struct qm_error *err);

/* ------------------------------------------------------------ replay log */

/*
 * Records key IDs as consumed by one message (message_id, the RFC 5322
 * Message-ID, for the record). All or nothing: QM_ERR_REPLAY, naming the
 * key ID and the message that used it first, when any was already used in
 * that direction by this account. Incoming mail calls this (or
 * qm_store_msg_add) before decrypting.
 */
QM_NODISCARD enum qm_err
qm_store_replay_claim(struct qm_store *s, int64_t account_id,
                      enum qm_store_dir dir, const char *const *key_ids,
                      size_t n, const char *message_id, struct qm_error *err);
/* QM_OK when key_id is unused, QM_ERR_REPLAY when used. */
QM_NODISCARD enum qm_err qm_store_replay_check(struct qm_store *s,
                                               int64_t account_id,
                                               enum qm_store_dir dir,
                                               const char *key_id,
                                               struct qm_error *err);

/* ----------------------------------------------------------------- blobs */

/*
 * Sealed blobs (blob.c): an item too large to hold in memory whole (a
 * message with a large attachment, its ciphertext) is written and read a
 * chunk at a time, so memory stays bounded by QM_STORE_BLOB_CHUNK whatever
 * its size. Each blob has its own random key, sealed in the vault, and
 * belongs to (kind, owner): a reader names both, and a blob altered,
 * reordered, cut short, made longer or moved to another owner fails with
 * QM_ERR_AUTH. The vault must be unlocked (QM_ERR_LOCKED).
 *
 * Writing: qm_store_blob_begin, qm_store_blob_write any number of times,
 * qm_store_blob_end (the blob is then complete and readable; its ID goes
 * in the owner's row) or qm_store_blob_abort. Each chunk is a statement
 * of its own (in the caller's transaction when there is one); a blob
 * never ended is invisible to readers and qm_store_blob_gc removes it.
 * After a failed write only abort is allowed (end fails and aborts).
 */
#define QM_STORE_BLOB_CHUNK (64u * 1024u)
/* The kind of a message's plaintext (qm_store_msg_add's body_blob). */
#define QM_STORE_BLOB_MSG   "msg"
#define QM_STORE_BLOB_MAX   (512ull * 1024 * 1024)
struct qm_store_blob_w;
struct qm_store_blob_r;

QM_NODISCARD enum qm_err qm_store_blob_begin(struct qm_store *s,
                                             const char *kind, int64_t owner,
                                             struct qm_store_blob_w **w,
                                             struct qm_error *err);
/* The blob's ID (known from begin on). */
int64_t qm_store_blob_w_id(const struct qm_store_blob_w *w);
QM_NODISCARD enum qm_err qm_store_blob_write(struct qm_store_blob_w *w,
                                             const void *p, size_t n,
                                             struct qm_error *err);
/* Completes the blob; *id and *size (each may be NULL) get its ID and
 * length. *w is freed and set NULL whatever happens; on failure the blob
 * is removed. */
QM_NODISCARD enum qm_err qm_store_blob_end(struct qm_store_blob_w **w,
                                           int64_t *id, uint64_t *size,
                                           struct qm_error *err);
/* Removes what was written and frees *w (NULL: nothing). */
void qm_store_blob_abort(struct qm_store_blob_w **w);

/* Opens complete blob id of (kind, owner) for reading (QM_ERR_NOTFOUND
 * when there is none, or it was never completed). */
QM_NODISCARD enum qm_err qm_store_blob_open(struct qm_store *s,
                                            const char *kind, int64_t owner,
                                            int64_t id,
                                            struct qm_store_blob_r **r,
                                            struct qm_error *err);
/* Its plaintext length. */
uint64_t qm_store_blob_size(const struct qm_store_blob_r *r);
/*
 * Reads up to n bytes into buf; *got is 0 only at the end. Each chunk is
 * authenticated before any of its bytes is given; on failure nothing more
 * is given (QM_ERR_AUTH names the blob and why) and *got is 0.
 */
QM_NODISCARD enum qm_err qm_store_blob_read(struct qm_store_blob_r *r,
                                            void *buf, size_t n, size_t *got,
                                            struct qm_error *err);
/* The next read starts at byte off (at most the size): the chunks are read
 * again from the one that holds it, each authenticated as by a read. */
QM_NODISCARD enum qm_err qm_store_blob_seek(struct qm_store_blob_r *r,
                                            uint64_t off, struct qm_error *err);
void qm_store_blob_close(struct qm_store_blob_r **r);
/* The whole blob appended to out (a secure buffer): for small ones. */
QM_NODISCARD enum qm_err qm_store_blob_read_all(struct qm_store *s,
                                                const char *kind,
                                                int64_t owner, int64_t id,
                                                struct qm_buf *out,
                                                struct qm_error *err);
/* Removes blob id (nothing when there is none). */
QM_NODISCARD enum qm_err qm_store_blob_delete(struct qm_store *s, int64_t id,
                                              struct qm_error *err);
/* Removes the blobs begun before older_than (unix seconds) and never
 * completed, and the complete ones of kind QM_STORE_BLOB_MSG that no
 * message holds (never filed: a crash before the filing or the removal);
 * *removed (may be NULL) gets how many. */
QM_NODISCARD enum qm_err qm_store_blob_gc(struct qm_store *s,
                                          int64_t older_than, size_t *removed,
                                          struct qm_error *err);

/* ---------------------------------------------------------------- outbox */

/* The outbox's states are described with enum qm_store_outbox_state
 * (store/types.h). */
/* The state's name ("queued", ...). */
const char *qm_store_outbox_state_str(enum qm_store_outbox_state st);

/* Frees what an outbox item holds (not the struct itself). */
void qm_store_outbox_item_free(struct qm_store_outbox *o);

/*
 * Puts a new message in the outbox (state PENDING): its plaintext MIME is
 * sealed in the vault (QM_ERR_LOCKED when locked). Sets *id.
 */
QM_NODISCARD enum qm_err qm_store_outbox_add(struct qm_store *s,
                                             int64_t account_id,
                                             const char *message_id,
                                             const char *recipients, int level,
                                             const void *mime, size_t mime_len,
                                             int64_t *id, struct qm_error *err);
/*
 * The same, with the client's record of the values the entry's envelope
 * will bind (bound, bound_len; NULL: none), sealed with the entry in the
 * same transaction (schema 5).
 */
QM_NODISCARD enum qm_err qm_store_outbox_add_bound(
    struct qm_store *s, int64_t account_id, const char *message_id,
    const char *recipients, int level, const void *mime, size_t mime_len,
    const void *bound, size_t bound_len, int64_t *id, struct qm_error *err);
/*
 * A new entry written in pieces (schema 12; QM_ERR_UNSUPPORTED before):
 * qm_store_outbox_add_begin checks the values and opens a transaction in
 * which the entry is inserted (PENDING) and its plaintext sealed, a chunk
 * at a time, into its blob as qm_store_outbox_w_write gives it;
 * qm_store_outbox_add_end seals the record of the bound values (bound may
 * be NULL) and commits, setting *id; qm_store_outbox_w_abort rolls back
 * (nothing of the entry stays). Use the store for nothing else between
 * begin and end/abort but reading: the transaction is the caller's. The
 * writer is freed (and *w set NULL) by end and abort, whatever happens.
 */
struct qm_store_outbox_w;
QM_NODISCARD enum qm_err
qm_store_outbox_add_begin(struct qm_store *s, int64_t account_id,
                          const char *message_id, const char *recipients,
                          int level, struct qm_store_outbox_w **w,
                          struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_outbox_w_write(struct qm_store_outbox_w *w,
                                                 const void *p, size_t n,
                                                 struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_outbox_add_end(struct qm_store_outbox_w **w,
                                                 const void *bound,
                                                 size_t bound_len, int64_t *id,
                                                 struct qm_error *err);
void qm_store_outbox_w_abort(struct qm_store_outbox_w **w);
/* Appends the sealed plaintext of entry id to out (a secure buffer). */
QM_NODISCARD enum qm_err qm_store_outbox_plaintext(struct qm_store *s,
                                                   int64_t id,
                                                   struct qm_buf *out,
                                                   struct qm_error *err);
/* Appends the ciphertext of entry id (what is sent) to out: for small
 * ones; QM_ERR_NOTFOUND before it is encrypted. */
QM_NODISCARD enum qm_err qm_store_outbox_ciphertext(struct qm_store *s,
                                                    int64_t id,
                                                    struct qm_buf *out,
                                                    struct qm_error *err);
/*
 * Opens entry id's plaintext (ct 0) or ciphertext (ct 1) for reading a
 * piece at a time: memory stays bounded by a blob chunk (an entry of
 * schema 11 or older is read whole). QM_ERR_NOTFOUND when it has none.
 * qm_store_outbox_r_read has the signature of a qm_read_fn (crypto.h) and
 * qm_mail_read_fn (mail.h), with the reader as arg; every piece is
 * authenticated before it is given (QM_ERR_AUTH otherwise).
 * qm_store_outbox_r_rewind starts again from the first byte.
 */
struct qm_store_outbox_r;
QM_NODISCARD enum qm_err qm_store_outbox_open(struct qm_store *s, int64_t id,
                                              int ct,
                                              struct qm_store_outbox_r **r,
                                              struct qm_error *err);
uint64_t qm_store_outbox_r_size(const struct qm_store_outbox_r *r);
QM_NODISCARD enum qm_err qm_store_outbox_r_read(void *r, void *buf, size_t n,
                                                size_t *got,
                                                struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_outbox_r_rewind(void *r,
                                                  struct qm_error *err);
void qm_store_outbox_r_close(struct qm_store_outbox_r **r);
/* Appends the sealed record of entry id's bound values to out (a secure
 * buffer); QM_ERR_NOTFOUND for an entry added without one (by
 * qm_store_outbox_add, or by a QMail older than schema 5). */
QM_NODISCARD enum qm_err qm_store_outbox_bound(struct qm_store *s, int64_t id,
                                               struct qm_buf *out,
                                               struct qm_error *err);
/*
 * Records the key IDs just fetched from the KME for entry id (PENDING ->
 * ENCRYPTING), as consumed in direction out: QM_ERR_REPLAY if one was used
 * before. Call right after enc_keys answers, before encrypting. Levels 3/4
 * call it with n = 0.
 */
QM_NODISCARD enum qm_err qm_store_outbox_reserve(struct qm_store *s, int64_t id,
                                                 const char *const *key_ids,
                                                 size_t n,
                                                 struct qm_error *err);
/*
 * Stores the ciphertext (ENCRYPTING -> QUEUED). Refused in any other state,
 * so a stored ciphertext is never replaced.
 */
QM_NODISCARD enum qm_err
qm_store_outbox_set_ciphertext(struct qm_store *s, int64_t id, const void *ct,
                               size_t n, struct qm_error *err);
/*
 * The same in pieces (schema 12): qm_store_outbox_ct_begin (entry id must
 * be ENCRYPTING, else QM_ERR_STATE), qm_store_outbox_w_write any number of
 * times (each chunk its own statement: no lock is held meanwhile), then
 * qm_store_outbox_ct_end, which makes the entry QUEUED with it in one
 * statement, or qm_store_outbox_w_abort. A ciphertext left unfinished by
 * a crash is removed by qm_store_outbox_recover. *w is freed and set NULL
 * by end and abort, whatever happens.
 */
QM_NODISCARD enum qm_err qm_store_outbox_ct_begin(struct qm_store *s,
                                                  int64_t id,
                                                  struct qm_store_outbox_w **w,
                                                  struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_outbox_ct_end(struct qm_store_outbox_w **w,
                                                struct qm_error *err);
/* QUEUED or RETRYING -> SENDING; counts the attempt. */
QM_NODISCARD enum qm_err qm_store_outbox_begin_send(struct qm_store *s,
                                                    int64_t id,
                                                    struct qm_error *err);
/* SENDING -> SENT with the server's reply. */
QM_NODISCARD enum qm_err qm_store_outbox_sent(struct qm_store *s, int64_t id,
                                              const char *reply,
                                              struct qm_error *err);
/*
 * Records a failed attempt with its reason. SENDING -> RETRYING at retry_at
 * (the same ciphertext goes again), or FAILED when retry_at is 0. Before
 * encryption: PENDING stays PENDING with retry_at set (e.g. the KME had too
 * little key), ENCRYPTING burns its key IDs and goes back to PENDING (or
 * FAILED); both count the attempt (attempts + 1, for the back-off). Other
 * states: QM_ERR_STATE.
 */
QM_NODISCARD enum qm_err qm_store_outbox_fail(struct qm_store *s, int64_t id,
                                              const char *reason,
                                              int64_t retry_at,
                                              struct qm_error *err);
/*
 * The user asks again for an entry that failed before it was encrypted
 * (FAILED without a ciphertext: e.g. a recipient's SAE ID was missing):
 * FAILED -> PENDING, due now. QM_ERR_STATE for any other entry (one that
 * has a ciphertext is never encrypted a second time).
 */
QM_NODISCARD enum qm_err qm_store_outbox_revive(struct qm_store *s, int64_t id,
                                                struct qm_error *err);
/*
 * Deletes entry id, which must be PENDING and never have had a key ID
 * reserved (the KME refused the keys it was to be sent under, and the
 * sender was told that nothing was sent). QM_ERR_STATE otherwise.
 */
QM_NODISCARD enum qm_err qm_store_outbox_discard(struct qm_store *s, int64_t id,
                                                 struct qm_error *err);
/* Reads entry id with its key IDs, whether it has a ciphertext and its
 * length (not the bytes: qm_store_outbox_open). */
QM_NODISCARD enum qm_err qm_store_outbox_get(struct qm_store *s, int64_t id,
                                             struct qm_store_outbox *out,
                                             struct qm_error *err);
/*
 * Ids of the entries of account (0: all) in state st (with now > 0: only
 * those whose retry time has come), or, with st < 0, every entry ready to
 * go at time now (QUEUED, or RETRYING due). malloc'd array; free() it.
 */
QM_NODISCARD enum qm_err qm_store_outbox_list(struct qm_store *s,
                                              int64_t account_id, int st,
                                              int64_t now, int64_t **ids,
                                              size_t *n, struct qm_error *err);
/*
 * Ids of account_id's outbox entries with this Message-ID that have a
 * ciphertext (encrypted, whatever happened since: the bytes the servers
 * may hold), oldest first: the To/Cc copy and each Bcc copy of one message
 * share it. None (*n 0) for an empty Message-ID. malloc'd array; free().
 */
QM_NODISCARD enum qm_err qm_store_outbox_find_mid(struct qm_store *s,
                                                  int64_t account_id,
                                                  const char *message_id,
                                                  int64_t **ids, size_t *n,
                                                  struct qm_error *err);
/* Brings the outbox back to a consistent state after a crash (see above);
 * *n_fixed (may be NULL) gets how many entries changed. */
QM_NODISCARD enum qm_err qm_store_outbox_recover(struct qm_store *s,
                                                 size_t *n_fixed,
                                                 struct qm_error *err);

/* ---------------------------------------------------------------- drafts */

/* Saves (id 0: new, sets *id) a draft's MIME sealed in the vault. */
QM_NODISCARD enum qm_err qm_store_draft_put(struct qm_store *s,
                                            int64_t account_id, int64_t *id,
                                            const void *mime, size_t n,
                                            struct qm_error *err);
/* Appends draft id to out (secure buffer). */
QM_NODISCARD enum qm_err qm_store_draft_get(struct qm_store *s, int64_t id,
                                            struct qm_buf *out,
                                            struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_draft_delete(struct qm_store *s, int64_t id,
                                               struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_draft_list(struct qm_store *s,
                                             int64_t account_id, int64_t **ids,
                                             size_t *n, struct qm_error *err);

/* --------------------------------------------------------------- keyring */

void qm_store_key_free(struct qm_store_key *k);
/* The fingerprint the keyring shows for (alg, pub). */
QM_NODISCARD enum qm_err qm_store_key_fingerprint(const char *alg,
                                                  const void *pub, size_t n,
                                                  char *out, size_t outlen,
                                                  struct qm_error *err);
/*
 * Adds an own identity key of an account: the public half in clear, the
 * private half (opaque blob) sealed in the vault. Replaces an earlier own
 * key of the same alg. Sets *id when id is not NULL.
 */
QM_NODISCARD enum qm_err
qm_store_key_own_put(struct qm_store *s, int64_t account_id, const char *alg,
                     const void *pub, size_t pub_len, const void *priv,
                     size_t priv_len, int64_t *id, struct qm_error *err);
/* The own key: public half in out, private half appended to priv (secure;
 * may be NULL to skip, then the vault may stay locked). */
QM_NODISCARD enum qm_err
qm_store_key_own_get(struct qm_store *s, int64_t account_id, const char *alg,
                     struct qm_store_key *out, struct qm_buf *priv,
                     struct qm_error *err);
/*
 * Records a contact's public key as seen (e.g. in a verified message). A
 * first key is UNVERIFIED; the same key again changes nothing; a different
 * key is stored as CHANGED and not used until the user verifies it. *trust
 * (may be NULL) gets the state of the key as stored.
 */
QM_NODISCARD enum qm_err
qm_store_key_contact_put(struct qm_store *s, const char *address,
                         const char *alg, const void *pub, size_t n,
                         enum qm_store_trust *trust, struct qm_error *err);
/*
 * The key to use for a contact: QM_ERR_NOTFOUND when none, QM_ERR_STATE
 * ("key changed") when a changed key awaits the user's decision.
 */
QM_NODISCARD enum qm_err qm_store_key_contact_get(struct qm_store *s,
                                                  const char *address,
                                                  const char *alg,
                                                  struct qm_store_key *out,
                                                  struct qm_error *err);
/*
 * The user compared fingerprints: the key of address with this fingerprint
 * becomes VERIFIED and the only one in use (others RETIRED).
 */
QM_NODISCARD enum qm_err qm_store_key_contact_verify(struct qm_store *s,
                                                     const char *address,
                                                     const char *alg,
                                                     const char *fingerprint,
                                                     struct qm_error *err);
/* Every key of a contact (all states), newest first; free each with
 * qm_store_key_free, then the array with free(). */
QM_NODISCARD enum qm_err qm_store_key_contact_list(struct qm_store *s,
                                                   const char *address,
                                                   struct qm_store_key **out,
                                                   size_t *n,
                                                   struct qm_error *err);

/* ------------------------------------------------------------------ chat */

/*
 * Conversations and their messages (schema 14, docs/CHAT.md). A
 * conversation's members and level are security labels (bound by the
 * label MAC): writing needs the vault unlocked; reading while locked
 * gives QM_LABEL_UNCHECKED.
 */

/* Adds conversation c (account_id, key, group_id, members, level);
 * *id gets its id. QM_ERR_EXISTS when the account has one with that key. */
QM_NODISCARD enum qm_err qm_store_chat_add(struct qm_store *s,
                                           const struct qm_store_chat *c,
                                           int64_t *id, struct qm_error *err);
/* The conversation of account_id with key into *out; QM_ERR_NOTFOUND. */
QM_NODISCARD enum qm_err qm_store_chat_get(struct qm_store *s,
                                           int64_t account_id, const char *key,
                                           struct qm_store_chat *out,
                                           struct qm_error *err);
/* Conversation id into *out; QM_ERR_NOTFOUND. */
QM_NODISCARD enum qm_err qm_store_chat_get_id(struct qm_store *s, int64_t id,
                                              struct qm_store_chat *out,
                                              struct qm_error *err);
/* The newest group of account_id whose members are exactly members (the
 * sorted list); QM_ERR_NOTFOUND. */
QM_NODISCARD enum qm_err qm_store_chat_group_find(struct qm_store *s,
                                                  int64_t account_id,
                                                  const char *members,
                                                  struct qm_store_chat *out,
                                                  struct qm_error *err);
/* Sets conversation id's level (1..4), its label MAC anew. */
QM_NODISCARD enum qm_err qm_store_chat_level_set(struct qm_store *s, int64_t id,
                                                 int level,
                                                 struct qm_error *err);
/* The conversations of account_id (0: all), newest message first, with
 * their counts; *out malloc'd (free()), NULL when *n is 0. */
QM_NODISCARD enum qm_err qm_store_chat_list(struct qm_store *s,
                                            int64_t account_id,
                                            struct qm_store_chat **out,
                                            size_t *n, struct qm_error *err);
/*
 * Adds message m to conversation m->chat_id with its text (sealed in the
 * vault, kind "chat", bound to the row). A Message-ID the conversation
 * has already is not added again: *added (may be NULL) is 0 then, 1 when
 * added.
 */
QM_NODISCARD enum qm_err
qm_store_chat_msg_add(struct qm_store *s, const struct qm_store_chat_msg *m,
                      const char *text, int *added, struct qm_error *err);
/* The message of account_id's conversations with message_id into *out
 * (text NULL); QM_ERR_NOTFOUND. */
QM_NODISCARD enum qm_err qm_store_chat_msg_find(struct qm_store *s,
                                                int64_t account_id,
                                                const char *message_id,
                                                struct qm_store_chat_msg *out,
                                                struct qm_error *err);
/*
 * A group's membership change (docs/CHAT.md "Groups"): adds line m (kind
 * QM_CHAT_MEMBER_ADDED or _REMOVED, its text the member's address addr)
 * and sets conversation m->chat_id's members and removed flag (the account
 * is no member any more), sealed again, in one transaction. A line whose
 * Message-ID the conversation has from that sender changes nothing
 * (*added 0; may be NULL).
 */
QM_NODISCARD enum qm_err qm_store_chat_change(struct qm_store *s,
                                              const struct qm_store_chat_msg *m,
                                              const char *addr,
                                              const char *members, int removed,
                                              int *added, struct qm_error *err);
/* Links chat message id to message record msg_id (its copy found on the
 * server), a move to Chats due. */
QM_NODISCARD enum qm_err qm_store_chat_msg_link(struct qm_store *s, int64_t id,
                                                int64_t msg_id,
                                                struct qm_error *err);
/* The user's opt-in to send read receipts in conversation id (bound by
 * its label MAC with the level). */
QM_NODISCARD enum qm_err qm_store_chat_receipts_set(struct qm_store *s,
                                                    int64_t id, int on,
                                                    struct qm_error *err);
/* Chat message id (any kind) with its attachment list, text NULL;
 * QM_ERR_NOTFOUND. Free with qm_store_chat_msgs_free(&p, 1) on a
 * malloc'd copy, or free out->att. */
QM_NODISCARD enum qm_err qm_store_chat_msg_get(struct qm_store *s, int64_t id,
                                               struct qm_store_chat_msg *out,
                                               struct qm_error *err);
/* The Message-IDs of conversation chat_id's received messages not read
 * yet (kind 0), oldest first: what marking it read makes read. *mids
 * malloc'd (qm_store_chat_mids_free). */
QM_NODISCARD enum qm_err qm_store_chat_unseen_mids(struct qm_store *s,
                                                   int64_t chat_id,
                                                   char ***mids, size_t *n,
                                                   struct qm_error *err);
void qm_store_chat_mids_free(char ***mids, size_t n);
/* A read receipt from a member: the message of conversation chat_id with
 * message_id that this home sent (outbox_id set, kind 0) is read at at,
 * unless it was already. *changed (may be NULL) 1 when it changed; a
 * Message-ID this home did not send in chat_id changes nothing. */
QM_NODISCARD enum qm_err qm_store_chat_msg_read(struct qm_store *s,
                                                int64_t chat_id,
                                                const char *message_id,
                                                int64_t at, int *changed,
                                                struct qm_error *err);
/* Conversation chat_id's messages, oldest first (time, then the order
 * they were added), texts opened; *out malloc'd (qm_store_chat_msgs_free). */
QM_NODISCARD enum qm_err qm_store_chat_msgs(struct qm_store *s, int64_t chat_id,
                                            struct qm_store_chat_msg **out,
                                            size_t *n, struct qm_error *err);
void qm_store_chat_msgs_free(struct qm_store_chat_msg **m, size_t n);
/* Marks conversation chat_id's received messages read; *msg_ids (may be
 * NULL) gets the message records of those that were unread (malloc'd). */
QM_NODISCARD enum qm_err qm_store_chat_seen(struct qm_store *s, int64_t chat_id,
                                            int64_t **msg_ids, size_t *n,
                                            struct qm_error *err);
/* The message records of account_id's chat messages not yet moved to the
 * Chats folder (malloc'd, may be empty). */
QM_NODISCARD enum qm_err qm_store_chat_unmoved(struct qm_store *s,
                                               int64_t account_id,
                                               int64_t **msg_ids, size_t *n,
                                               struct qm_error *err);
/* Notes that message record msg_id is in the Chats folder. */
QM_NODISCARD enum qm_err qm_store_chat_moved(struct qm_store *s, int64_t msg_id,
                                             struct qm_error *err);
/* The highest message id of account_id looked at for chat (0: none yet),
 * and setting it. */
QM_NODISCARD enum qm_err qm_store_chat_scan_get(struct qm_store *s,
                                                int64_t account_id,
                                                int64_t *last,
                                                struct qm_error *err);
QM_NODISCARD enum qm_err qm_store_chat_scan_set(struct qm_store *s,
                                                int64_t account_id,
                                                int64_t last,
                                                struct qm_error *err);
/* Up to max ids of account_id's messages past after_id that may be chat
 * (opened QMail messages: verified, or sent by this home), by id. */
QM_NODISCARD enum qm_err qm_store_chat_candidates(struct qm_store *s,
                                                  int64_t account_id,
                                                  int64_t after_id, size_t max,
                                                  int64_t **ids, size_t *n,
                                                  struct qm_error *err);

#endif /* QM_STORE_H */
