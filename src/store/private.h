/* SPDX-License-Identifier: MIT */
/*
 * store internals shared by the files of src/store: the handle, SQLite
 * helpers (cached statements, nested transactions, error mapping) and the
 * vault's seal/open. Not for other layers.
 */
#ifndef QM_STORE_PRIVATE_H
#define QM_STORE_PRIVATE_H

#include <sodium.h>
#include <sqlite3.h>

#include "store.h"

#define STMT_CACHE     64
#define VAULT_KEYBYTES 32
/* The label key (derived from the vault key) and a label MAC. */
#define LABEL_KEYBYTES 32
#define LABEL_MACBYTES 32
/* The first schema version whose msg, contact and keyring rows carry a
 * label MAC (migrate.c; renumbered with it). */
#define LABEL_SCHEMA 4

struct stmt_slot {
	const char *sql; /* a string literal: compared by address */
	sqlite3_stmt *st;
};

struct qm_store {
	sqlite3 *db;
	char home[QM_STORE_PATHMAX];
	char path[QM_STORE_PATHMAX];
	struct qm_store_opts opts;
	/* Vault key in secure memory, NULL when locked; the same allocation
	 * holds scratch room for one item key (ikey), wiped after each use, so
	 * sealing does not pay for a guarded allocation per item. */
	unsigned char *vkey;
	unsigned char *ikey;
	/* The label key (label.c), in the same allocation; NULL when locked. */
	unsigned char *lkey;
	int tx_depth;
	int cache_kib; /* the page cache's size (STORE_CACHE_KIB) */
	int blob_ios;  /* blob handles open: the page cache is smaller */
	int schema;    /* the schema version after the migrations at open */
	int fts_ready; /* the in-memory FTS index exists */
	int64_t fts_max_id; /* highest message id indexed */
	int64_t fts_count;  /* messages indexed */
	int64_t fts_dv;     /* data_version when last brought up to date */
	struct stmt_slot cache[STMT_CACHE];
};

/*
 * The page cache: 16 MiB for the index (bench_store's 100,000 messages),
 * at most 2 MiB while a blob is written or read (its chunks go through
 * once; a large message would otherwise fill the whole cache with them).
 */
#define STORE_CACHE_KIB      16384
#define STORE_CACHE_BLOB_KIB 2048
void store_blob_io_enter(struct qm_store *s);
void store_blob_io_leave(struct qm_store *s);

/* Fills err from SQLite's last error on s, with what as context. */
QM_NODISCARD enum qm_err store_db_fail(struct qm_store *s, int rc,
                                       struct qm_error *err, const char *what);
/*
 * Makes room for element cnt of a list read row by row: when cnt == *cap
 * the array doubles (first size first). Returns the array to use from now
 * on, or NULL when out of memory (then arr is untouched and still owned by
 * the caller).
 */
void *store_db_grow(void *arr, size_t *cap, size_t cnt, size_t first,
                    size_t elem);
/* A cached prepared statement for sql (a literal), reset and unbound. */
QM_NODISCARD enum qm_err store_db_stmt(struct qm_store *s, const char *sql,
                                       sqlite3_stmt **st, struct qm_error *err);
/* Runs st (bound, no result rows) once and resets it; what names the
 * step in errors ("deleting the draft"). */
QM_NODISCARD enum qm_err store_db_done(struct qm_store *s, sqlite3_stmt *st,
                                       const char *what, struct qm_error *err);
/* As store_db_done; QM_ERR_NOTFOUND ("no <noun> <id>") when it changed
 * no row. */
QM_NODISCARD enum qm_err store_db_done_one(struct qm_store *s,
                                           sqlite3_stmt *st, const char *what,
                                           const char *noun, int64_t id,
                                           struct qm_error *err);
/* Runs SQL without results. */
QM_NODISCARD enum qm_err store_db_exec(struct qm_store *s, const char *sql,
                                       struct qm_error *err);
/* Nested transactions (BEGIN IMMEDIATE / SAVEPOINT). */
QM_NODISCARD enum qm_err store_db_begin(struct qm_store *s,
                                        struct qm_error *err);
/* A read snapshot (BEGIN DEFERRED, or a savepoint when nested). */
QM_NODISCARD enum qm_err store_db_begin_read(struct qm_store *s,
                                             struct qm_error *err);
QM_NODISCARD enum qm_err store_db_commit(struct qm_store *s,
                                         struct qm_error *err);
void store_db_rollback(struct qm_store *s);
/* Binds text or NULL. */
int store_db_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Copies column i as text into out (bounded; "" for NULL). */
void store_db_col_text(sqlite3_stmt *st, int i, char *out, size_t outlen);
/* Collects the integer first column of st's rows into a malloc'd array. */
QM_NODISCARD enum qm_err store_db_collect_ids(struct qm_store *s,
                                              sqlite3_stmt *st, int64_t **ids,
                                              size_t *n, struct qm_error *err);
/* Checks a string field fits its column bound. */
QM_NODISCARD enum qm_err store_check_len(const char *what, const char *v,
                                         size_t max, struct qm_error *err);

/* Vault: seals pt under a fresh item key bound to (kind, id); appends the
 * blob to out (plain buffer: the blob is ciphertext). */
QM_NODISCARD enum qm_err store_vault_seal(struct qm_store *s, const char *kind,
                                          int64_t id, const void *pt, size_t n,
                                          struct qm_buf *out,
                                          struct qm_error *err);
/* Opens a blob sealed for (kind, id) and appends the plaintext to out,
 * which must be secure. */
QM_NODISCARD enum qm_err store_vault_open(struct qm_store *s, const char *kind,
                                          int64_t id, const void *blob,
                                          size_t n, struct qm_buf *out,
                                          struct qm_error *err);
QM_NODISCARD enum qm_err store_vault_need(struct qm_store *s,
                                          struct qm_error *err);
/* Installs a copy of key as the vault key (and its item key scratch). */
QM_NODISCARD enum qm_err store_vault_set_key(struct qm_store *s,
                                             const unsigned char *key,
                                             struct qm_error *err);

/*
 * Security labels (label.c): a keyed BLAKE2b MAC under the label key over a
 * row's labels, each field typed and length-prefixed so that no two rows
 * encode alike. store_label_begin names the kind of row; the caller adds the
 * fields in a fixed order and ends. Only while unlocked (s->lkey).
 */
struct label_mac {
	crypto_generichash_state st;
};
void store_label_begin(const struct qm_store *s, struct label_mac *m,
                       const char *kind);
void store_label_int(struct label_mac *m, int64_t v);
/* NULL and "" encode differently. */
void store_label_text(struct label_mac *m, const char *t);
void store_label_blob(struct label_mac *m, const void *p, size_t n);
void store_label_end(struct label_mac *m, unsigned char out[LABEL_MACBYTES]);
/* 1 when the stored MAC (stored, n bytes; NULL when none) equals mac. */
int store_label_same(const unsigned char mac[LABEL_MACBYTES],
                     const void *stored, size_t n);
/* Computes the MAC of every row of msg, contact and keyring (the first
 * unlock after the upgrade; inside the caller's transaction). */
QM_NODISCARD enum qm_err store_labels_seal_all(struct qm_store *s,
                                               struct qm_error *err);
/* Each table's part of store_labels_seal_all (msg.c, account.c, keyring.c). */
QM_NODISCARD enum qm_err store_msg_labels_seal(struct qm_store *s,
                                               struct qm_error *err);
QM_NODISCARD enum qm_err store_contact_labels_seal(struct qm_store *s,
                                                   struct qm_error *err);
QM_NODISCARD enum qm_err store_key_labels_seal(struct qm_store *s,
                                               struct qm_error *err);

/* The first schema version whose msg rows have a snippet column. */
#define SNIPPET_SCHEMA 9
/* msg_body.mime_blob: a body kept as a sealed blob */
#define BODYBLOB_SCHEMA 13
/* At most this many snippets a listing makes from the sealed text of rows
 * that have none yet (rows of schema 8 and before; the rest get theirs
 * from qm_store_msg_snippets_fill). */
#define SNIPPET_MAKE_MAX 50

/* Whether a message in verify state v has text the reader shows (read,
 * plain or sent by this home), so a snippet (snippet.c). */
int store_snippet_verify(enum qm_store_verify v);
/* Whether listed message m may show its snippet: its labels checked and
 * store_snippet_verify, its body there. */
int store_snippet_allowed(const struct qm_store_msg *m);
/*
 * The sealed list item of message id (kind "snippet", msg.snippet): a flag
 * byte (ITEM_SUBJECT: a subject follows; ITEM_NAME: a sender's name
 * follows), the subject, a NUL, then with ITEM_NAME the name and a NUL,
 * then the snippet (never empty in an item without a name: such an item
 * is not made). The subject rides along so that a listing opens one item
 * per row, as before snippets (docs/STORE.md "Snippets"); the subject
 * column stays the subject's own item (search, rows without a snippet).
 * store_snippet_seal makes the snippet of text (may be NULL) and seals it
 * with subject and name (each may be NULL) into blob (reset first; left
 * empty when both the snippet and the name are empty: the row then has
 * none). store_snippet_seal_made seals a snippet already made (sn, n
 * bytes).
 */
#define ITEM_SUBJECT 1u
#define ITEM_NAME    2u
QM_NODISCARD enum qm_err store_snippet_seal(struct qm_store *s, int64_t id,
                                            const char *subject,
                                            const char *name, const char *text,
                                            struct qm_buf *blob,
                                            struct qm_error *err);
QM_NODISCARD enum qm_err
store_snippet_seal_made(struct qm_store *s, int64_t id, const char *subject,
                        const char *name, const char *sn, size_t n,
                        struct qm_buf *blob, struct qm_error *err);
/* Reads list item d (n bytes, d[n] a NUL): the offsets in d of its
 * subject, name and snippet (each NUL-terminated), SIZE_MAX for one it
 * has not. -1 for an item that does not parse. */
int store_item_parse(const unsigned char *d, size_t n, size_t *subject,
                     size_t *name, size_t *snippet);

/* Migrations (migrate.c). */
QM_NODISCARD enum qm_err store_migrate(struct qm_store *s, int max,
                                       struct qm_error *err);

/* The in-memory search index (msg.c). */
void store_fts_drop(struct qm_store *s);
/* Key IDs consumed (keylog.c); msg_id or outbox_id tie them to a row. */
QM_NODISCARD enum qm_err
store_keylog_claim(struct qm_store *s, int64_t account_id,
                   enum qm_store_dir dir, const char *const *key_ids, size_t n,
                   const char *message_id, int64_t msg_id, int64_t outbox_id,
                   struct qm_error *err);

/* Chat attachments' lists (schema 16, src/store/chat_media.c): seals
 * list into chat_msg id's att column (inside the caller's transaction);
 * opens blob (NULL: none, *out NULL) into *out (malloc'd; a list that
 * does not open is left NULL). */
QM_NODISCARD enum qm_err store_chat_att_seal(struct qm_store *s, int64_t id,
                                             const char *list,
                                             struct qm_error *err);
QM_NODISCARD enum qm_err store_chat_att_open(struct qm_store *s, int64_t id,
                                             const void *blob, size_t len,
                                             char **out, struct qm_error *err);

#endif
