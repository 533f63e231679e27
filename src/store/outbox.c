/* SPDX-License-Identifier: MIT */
/*
 * The outbox. A message enters it (plaintext sealed) before any network
 * step; the key IDs the KME hands out are recorded before encryption starts;
 * the ciphertext, once stored, is the only thing ever sent for it. Each
 * transition is one conditional UPDATE (WHERE state = expected), so two
 * processes cannot both move the same entry, and a crash leaves every entry
 * in exactly one state. See store.h for the state machine and recovery.
 *
 * Since schema 12 the plaintext and the ciphertext are sealed blobs
 * (blob.c; kinds "outbox" and "outbox.ct", owned by the entry) that are
 * written and read a chunk at a time; the row holds their IDs, so a
 * transition rewrites a small row. Rows of older versions keep their
 * plaintext and ciphertext columns and are read as before.
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define SCHEMA_BLOBS 12
#define KIND_PT      "outbox"
#define KIND_CT      "outbox.ct"

/* 1 when the outbox keeps its payloads in blobs (schema 12 on). */
static int blobs(const struct qm_store *s)
{
	return s->schema >= SCHEMA_BLOBS;
}

static const char *const state_names[] = {
    "pending", "encrypting", "queued", "sending", "sent", "failed", "retrying",
};

const char *qm_store_outbox_state_str(enum qm_store_outbox_state st)
{
	if ((unsigned)st < sizeof(state_names) / sizeof(state_names[0]))
		return state_names[st];
	return "unknown";
}

/*
 * The database runs with synchronous=NORMAL: a power cut may lose the last
 * commits, never consistency. Outbox steps come before network steps, so
 * they are made durable (synchronous=FULL syncs the WAL at commit, and with
 * it every earlier commit): a message the user was told is queued, and the
 * fact that a ciphertext went out, survive a power cut. Only outside a
 * caller's transaction (the pragma cannot change inside one); returns 1
 * when it switched.
 */
static int durable_on(struct qm_store *s)
{
	return s->tx_depth == 0 &&
	       sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL,
	                    NULL) == SQLITE_OK;
}

static void durable_off(struct qm_store *s, int d)
{
	if (d)
		sqlite3_exec(s->db, "PRAGMA synchronous=NORMAL", NULL, NULL,
		             NULL);
}

void qm_store_outbox_item_free(struct qm_store_outbox *o)
{
	if (!o)
		return;
	free(o->recipients);
	free(o->reply);
	free(o->reason);
	for (size_t i = 0; i < o->n_keys; i++)
		free(o->key_ids[i]);
	free(o->key_ids);
	memset(o, 0, sizeof(*o));
}

/* Seals p into the row's plaintext (kind "outbox") or, with bound set, its
 * record of the bound values (kind "outbox.bound"), bound to row oid. */
static enum qm_err seal_into(struct qm_store *s, int64_t oid, int bound,
                             const void *p, size_t n, struct qm_buf *blob,
                             struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	qm_buf_reset(blob);
	rc = store_vault_seal(s, bound ? "outbox.bound" : "outbox", oid, p, n,
	                      blob, err);
	if (rc == QM_OK)
		/* store_db_stmt caches by the address of the text: literals
		 * only */
		rc = store_db_stmt(
		    s,
		    bound ? "UPDATE outbox SET bound = ? WHERE id = ?"
		          : "UPDATE outbox SET plaintext = ? WHERE "
		            "id = ?",
		    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_blob(st, 1, blob->data, (int)blob->len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, oid);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "adding to the outbox");
	return QM_OK;
}

static enum qm_err add_check(const char *message_id, const char *recipients,
                             int level, struct qm_error *err)
{
	if (!message_id || !*message_id || !recipients || !*recipients ||
	    level < 0 || level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an outbox entry needs a Message-ID, "
		                    "recipients and a level of 1 to 4 (0: "
		                    "sent unencrypted)");
	return store_check_len("the Message-ID", message_id,
	                       QM_STORE_NAMEMAX * 2, err);
}

/* Inserts the row of a new PENDING entry (in the caller's transaction). */
static enum qm_err add_row(struct qm_store *s, int64_t account_id,
                           const char *message_id, const char *recipients,
                           int level, int64_t *oid, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(
	    s,
	    "INSERT INTO outbox (account_id, message_id, recipients, "
	    "level, state, created, updated) VALUES (?1, ?2, ?3, ?4, 0, "
	    "?5, ?5)",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, message_id);
	store_db_bind_text(st, 3, recipients);
	sqlite3_bind_int(st, 4, level);
	sqlite3_bind_int64(st, 5, qm_now());
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "adding to the outbox");
	*oid = sqlite3_last_insert_rowid(s->db);
	return QM_OK;
}

/* ----------------------------------------------- payloads written in pieces */

struct qm_store_outbox_w {
	struct qm_store *s;
	struct qm_store_blob_w *b;
	int64_t id;
	int ct;      /* the ciphertext of an ENCRYPTING entry, else a new one */
	int in_tx;   /* a new entry: the transaction add_begin opened */
	int durable; /* durable_on answered 1 */
};

void qm_store_outbox_w_abort(struct qm_store_outbox_w **wp)
{
	struct qm_store_outbox_w *w = wp ? *wp : NULL;

	if (!w)
		return;
	qm_store_blob_abort(&w->b);
	if (w->in_tx)
		store_db_rollback(w->s);
	durable_off(w->s, w->durable);
	free(w);
	*wp = NULL;
}

static enum qm_err no_blobs(struct qm_store *s, struct qm_error *err)
{
	return qm_error_set(err, QM_ERR_UNSUPPORTED,
	                    "the database %s has schema version %d, which "
	                    "keeps outbox messages whole: open it with this "
	                    "QMail (it upgrades it) before sending",
	                    s->path, s->schema);
}

enum qm_err qm_store_outbox_add_begin(struct qm_store *s, int64_t account_id,
                                      const char *message_id,
                                      const char *recipients, int level,
                                      struct qm_store_outbox_w **out,
                                      struct qm_error *err)
{
	struct qm_store_outbox_w *w;
	enum qm_err rc;

	*out = NULL;
	rc = add_check(message_id, recipients, level, err);
	if (!rc && !blobs(s))
		rc = no_blobs(s, err);
	if (!rc)
		rc = store_vault_need(s, err);
	if (rc)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	w->s = s;
	w->durable = durable_on(s);
	rc = store_db_begin(s, err);
	if (!rc) {
		w->in_tx = 1;
		rc = add_row(s, account_id, message_id, recipients, level,
		             &w->id, err);
	}
	if (!rc)
		rc = qm_store_blob_begin(s, KIND_PT, w->id, &w->b, err);
	if (rc) {
		qm_store_outbox_w_abort(&w);
		return rc;
	}
	*out = w;
	return QM_OK;
}

enum qm_err qm_store_outbox_w_write(struct qm_store_outbox_w *w, const void *p,
                                    size_t n, struct qm_error *err)
{
	if (!w || !w->b)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "writing an outbox message that is not open");
	return qm_store_blob_write(w->b, p, n, err);
}

enum qm_err qm_store_outbox_add_end(struct qm_store_outbox_w **wp,
                                    const void *bound, size_t bound_len,
                                    int64_t *id, struct qm_error *err)
{
	struct qm_store_outbox_w *w = *wp;
	struct qm_buf sb;
	sqlite3_stmt *st;
	int64_t bid = 0;
	enum qm_err rc;

	if (!w || w->ct || !w->in_tx) {
		qm_store_outbox_w_abort(wp);
		return qm_error_set(err, QM_ERR_INVAL,
		                    "ending an outbox message that is not "
		                    "being added");
	}
	rc = qm_store_blob_end(&w->b, &bid, NULL, err);
	if (!rc)
		rc = store_db_stmt(w->s,
		                   "UPDATE outbox SET pt_blob = ? WHERE id = ?",
		                   &st, err);
	if (!rc) {
		sqlite3_bind_int64(st, 1, bid);
		sqlite3_bind_int64(st, 2, w->id);
		rc = store_db_done(w->s, st, "adding to the outbox", err);
	}
	if (!rc && bound) {
		qm_buf_init(&sb, QM_STORE_MAXBLOB + 1024);
		rc = seal_into(w->s, w->id, 1, bound, bound_len, &sb, err);
		qm_buf_free(&sb);
	}
	if (!rc) {
		rc = store_db_commit(w->s, err); /* rolls back on failure */
		w->in_tx = 0;
	}
	if (!rc)
		*id = w->id;
	qm_store_outbox_w_abort(wp);
	return rc;
}

/* The whole of mime as a new entry's plaintext blob. */
static enum qm_err add_blobs(struct qm_store *s, int64_t account_id,
                             const char *message_id, const char *recipients,
                             int level, const void *mime, size_t mime_len,
                             const void *bound, size_t bound_len, int64_t *id,
                             struct qm_error *err)
{
	struct qm_store_outbox_w *w = NULL;
	enum qm_err rc;

	if (mime_len > QM_STORE_MAXBLOB)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the message is larger than %u bytes",
		                    QM_STORE_MAXBLOB);
	rc = qm_store_outbox_add_begin(s, account_id, message_id, recipients,
	                               level, &w, err);
	if (!rc && mime_len)
		rc = qm_store_outbox_w_write(w, mime, mime_len, err);
	if (rc) {
		qm_store_outbox_w_abort(&w);
		return rc;
	}
	return qm_store_outbox_add_end(&w, bound, bound_len, id, err);
}

static enum qm_err outbox_add(struct qm_store *s, int64_t account_id,
                              const char *message_id, const char *recipients,
                              int level, const void *mime, size_t mime_len,
                              const void *bound, size_t bound_len, int64_t *id,
                              struct qm_error *err)
{
	struct qm_buf blob;
	enum qm_err rc;
	int64_t oid = 0;

	if (blobs(s))
		return add_blobs(s, account_id, message_id, recipients, level,
		                 mime, mime_len, bound, bound_len, id, err);
	rc = add_check(message_id, recipients, level, err);
	if (rc != QM_OK)
		return rc;
	qm_buf_init(&blob, QM_STORE_MAXBLOB + 1024);
	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out_free;
	rc = add_row(s, account_id, message_id, recipients, level, &oid, err);
	if (rc == QM_OK)
		rc = seal_into(s, oid, 0, mime, mime_len, &blob, err);
	if (rc == QM_OK && bound)
		rc = seal_into(s, oid, 1, bound, bound_len, &blob, err);
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc == QM_OK)
		*id = oid;
out_free:
	qm_buf_free(&blob);
	return rc;
}

/* Opens entry id's sealed plaintext or, with bound set, its record of the
 * bound values into out; QM_ERR_NOTFOUND (naming what) when it has none. */
static enum qm_err sealed_get(struct qm_store *s, int64_t id, int bound,
                              const char *what, struct qm_buf *out,
                              struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		/* store_db_stmt caches by the address of the text: literals
		 * only */
		rc = store_db_stmt(s,
		                   bound
		                       ? "SELECT bound FROM outbox WHERE id = ?"
		                       : "SELECT plaintext FROM outbox WHERE "
		                         "id = ?",
		                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB)
		rc = store_vault_open(s, bound ? "outbox.bound" : "outbox", id,
		                      sqlite3_column_blob(st, 0),
		                      (size_t)sqlite3_column_bytes(st, 0), out,
		                      err);
	else if (src == SQLITE_ROW || src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "outbox entry %lld has no %s", (long long)id,
		                  what);
	else
		rc = store_db_fail(s, src, err, "reading the outbox");
	sqlite3_reset(st);
	return rc;
}

/* ----------------------------------------------- payloads read in pieces */

struct qm_store_outbox_r {
	struct qm_store *s;
	struct qm_store_blob_r *b;
	const char *kind;
	int64_t id, blob;
	struct qm_buf mem; /* an older row's column */
	size_t off;
	uint64_t size;
};

/* Where entry id's payload is: *blob, or (an older row) its column in
 * r->mem. QM_ERR_NOTFOUND when it has none. */
static enum qm_err payload_find(struct qm_store *s, int64_t id, int ct,
                                struct qm_store_outbox_r *r,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	/* store_db_stmt caches by the address of the text: literals only */
	if (blobs(s))
		rc = store_db_stmt(
		    s,
		    ct ? "SELECT ct_blob, ciphertext FROM outbox WHERE id = ?"
		       : "SELECT pt_blob, plaintext FROM outbox WHERE id = ?",
		    &st, err);
	else
		rc = store_db_stmt(
		    s,
		    ct ? "SELECT NULL, ciphertext FROM outbox WHERE id = ?"
		       : "SELECT NULL, plaintext FROM outbox WHERE id = ?",
		    &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
		r->blob = sqlite3_column_int64(st, 0);
	} else if (src == SQLITE_ROW &&
	           sqlite3_column_type(st, 1) == SQLITE_BLOB) {
		const void *p = sqlite3_column_blob(st, 1);
		size_t n = (size_t)sqlite3_column_bytes(st, 1);

		if (ct) {
			qm_buf_init(&r->mem, QM_STORE_MAXBLOB);
			rc = qm_buf_append(&r->mem, p, n, err);
		} else {
			qm_buf_init_secure(&r->mem, QM_STORE_MAXBLOB);
			rc = store_vault_open(s, "outbox", id, p, n, &r->mem,
			                      err);
		}
	} else if (src == SQLITE_ROW || src == SQLITE_DONE) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "outbox entry %lld has no %s", (long long)id,
		                  ct ? "ciphertext (it was not encrypted yet)"
		                     : "stored plaintext");
	} else {
		rc = store_db_fail(s, src, err, "reading the outbox");
	}
	sqlite3_reset(st);
	return rc;
}

void qm_store_outbox_r_close(struct qm_store_outbox_r **rp)
{
	struct qm_store_outbox_r *r = rp ? *rp : NULL;

	if (!r)
		return;
	qm_store_blob_close(&r->b);
	qm_buf_free(&r->mem);
	free(r);
	*rp = NULL;
}

enum qm_err qm_store_outbox_open(struct qm_store *s, int64_t id, int ct,
                                 struct qm_store_outbox_r **out,
                                 struct qm_error *err)
{
	struct qm_store_outbox_r *r;
	enum qm_err rc;

	*out = NULL;
	rc = store_vault_need(s, err);
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	r->s = s;
	r->id = id;
	r->kind = ct ? KIND_CT : KIND_PT;
	rc = payload_find(s, id, ct, r, err);
	if (!rc && r->blob) {
		rc = qm_store_blob_open(s, r->kind, id, r->blob, &r->b, err);
		if (rc)
			qm_error_prefix(err,
			                "outbox message %lld: ", (long long)id);
		else
			r->size = qm_store_blob_size(r->b);
	} else if (!rc) {
		r->size = r->mem.len;
	}
	if (rc) {
		qm_store_outbox_r_close(&r);
		return rc;
	}
	*out = r;
	return QM_OK;
}

uint64_t qm_store_outbox_r_size(const struct qm_store_outbox_r *r)
{
	return r->size;
}

enum qm_err qm_store_outbox_r_read(void *arg, void *buf, size_t n, size_t *got,
                                   struct qm_error *err)
{
	struct qm_store_outbox_r *r = arg;

	enum qm_err rc;

	*got = 0;
	if (r->b) {
		rc = qm_store_blob_read(r->b, buf, n, got, err);
		if (rc)
			qm_error_prefix(
			    err, "outbox message %lld: ", (long long)r->id);
		return rc;
	}
	if (n > r->mem.len - r->off)
		n = r->mem.len - r->off;
	if (n)
		memcpy(buf, r->mem.data + r->off, n);
	r->off += n;
	*got = n;
	return QM_OK;
}

enum qm_err qm_store_outbox_r_rewind(void *arg, struct qm_error *err)
{
	struct qm_store_outbox_r *r = arg;

	r->off = 0;
	if (!r->blob)
		return QM_OK;
	qm_store_blob_close(&r->b);
	return qm_store_blob_open(r->s, r->kind, r->id, r->blob, &r->b, err);
}

/* The whole payload of entry id appended to out. */
static enum qm_err payload_all(struct qm_store *s, int64_t id, int ct,
                               struct qm_buf *out, struct qm_error *err)
{
	struct qm_store_outbox_r *r = NULL;
	enum qm_err rc;
	size_t got = 0;

	rc = qm_store_outbox_open(s, id, ct, &r, err);
	if (!rc && r->size > out->max - out->len)
		rc =
		    qm_error_set(err, QM_ERR_TOOBIG,
		                 "outbox message %lld is larger than %zu bytes",
		                 (long long)id, out->max);
	if (!rc)
		rc = qm_buf_reserve(out, (size_t)r->size, err);
	if (!rc)
		rc = qm_store_outbox_r_read(r, out->data + out->len,
		                            (size_t)r->size, &got, err);
	if (!rc && got != r->size)
		rc =
		    qm_error_set(err, QM_ERR_AUTH,
		                 "outbox message %lld is shorter than its size",
		                 (long long)id);
	if (!rc) {
		out->len += got;
		out->data[out->len] = 0;
	}
	qm_store_outbox_r_close(&r);
	return rc;
}

enum qm_err qm_store_outbox_plaintext(struct qm_store *s, int64_t id,
                                      struct qm_buf *out, struct qm_error *err)
{
	if (!out->secure)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an outbox plaintext must be read into a "
		                    "secure buffer");
	return payload_all(s, id, 0, out, err);
}

enum qm_err qm_store_outbox_ciphertext(struct qm_store *s, int64_t id,
                                       struct qm_buf *out, struct qm_error *err)
{
	return payload_all(s, id, 1, out, err);
}

enum qm_err qm_store_outbox_bound(struct qm_store *s, int64_t id,
                                  struct qm_buf *out, struct qm_error *err)
{
	return sealed_get(s, id, 1, "sealed record of its bound values", out,
	                  err);
}

/* The current state of entry id; QM_ERR_NOTFOUND if there is none. */
static enum qm_err outbox_state(struct qm_store *s, int64_t id, int *state,
                                int64_t *account_id, char *mid, size_t midlen,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT state, account_id, message_id FROM outbox "
	                   "WHERE id = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		*state = sqlite3_column_int(st, 0);
		if (account_id)
			*account_id = sqlite3_column_int64(st, 1);
		if (mid)
			store_db_col_text(st, 2, mid, midlen);
	} else if (src == SQLITE_DONE) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no outbox entry %lld",
		                  (long long)id);
	} else {
		rc = store_db_fail(s, src, err, "reading the outbox");
	}
	sqlite3_reset(st);
	return rc;
}

static enum qm_err wrong_state(struct qm_store *s, int64_t id,
                               const char *action, struct qm_error *err)
{
	int state = -1;
	enum qm_err rc = outbox_state(s, id, &state, NULL, NULL, 0, err);

	if (rc != QM_OK)
		return rc;
	return qm_error_set(
	    err, QM_ERR_STATE, "outbox entry %lld is %s: cannot %s it",
	    (long long)id,
	    qm_store_outbox_state_str((enum qm_store_outbox_state)state),
	    action);
}

static enum qm_err outbox_reserve(struct qm_store *s, int64_t id,
                                  const char *const *key_ids, size_t n,
                                  struct qm_error *err)
{
	char mid[QM_STORE_NAMEMAX * 2];
	sqlite3_stmt *st;
	int64_t account_id = 0;
	int state = -1, src;
	enum qm_err rc;

	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = outbox_state(s, id, &state, &account_id, mid, sizeof(mid), err);
	if (rc != QM_OK)
		goto out;
	if (state != QM_OUTBOX_PENDING) {
		rc = wrong_state(s, id, "reserve keys for", err);
		goto out;
	}
	rc = store_db_stmt(
	    s,
	    "UPDATE outbox SET state = 1, updated = ? WHERE id = ? "
	    "AND state = 0",
	    &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, qm_now());
	sqlite3_bind_int64(st, 2, id);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "reserving keys");
		goto out;
	}
	rc = store_keylog_claim(s, account_id, QM_DIR_OUT, key_ids, n, mid, 0,
	                        id, err);
out:
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

/* Runs a one-entry transition; QM_ERR_STATE when id was not in a state the
 * statement accepts. */
static enum qm_err transition(struct qm_store *s, sqlite3_stmt *st, int64_t id,
                              const char *action, struct qm_error *err)
{
	int src = sqlite3_step(st);

	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "updating the outbox");
	if (sqlite3_changes(s->db) != 1)
		return wrong_state(s, id, action, err);
	return QM_OK;
}

enum qm_err qm_store_outbox_ct_begin(struct qm_store *s, int64_t id,
                                     struct qm_store_outbox_w **out,
                                     struct qm_error *err)
{
	struct qm_store_outbox_w *w;
	enum qm_err rc;
	int state = -1;

	*out = NULL;
	rc = blobs(s) ? store_vault_need(s, err) : no_blobs(s, err);
	if (!rc)
		rc = outbox_state(s, id, &state, NULL, NULL, 0, err);
	if (!rc && state != QM_OUTBOX_ENCRYPTING)
		rc = wrong_state(s, id, "store a ciphertext for", err);
	if (rc)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	w->s = s;
	w->id = id;
	w->ct = 1;
	/* each chunk its own statement: no lock held while encrypting */
	rc = qm_store_blob_begin(s, KIND_CT, id, &w->b, err);
	if (rc) {
		free(w);
		return rc;
	}
	*out = w;
	return QM_OK;
}

enum qm_err qm_store_outbox_ct_end(struct qm_store_outbox_w **wp,
                                   struct qm_error *err)
{
	struct qm_store_outbox_w *w = *wp;
	struct qm_store *s;
	sqlite3_stmt *st;
	int64_t bid = 0;
	uint64_t size = 0;
	enum qm_err rc;
	int d;

	if (!w || !w->ct) {
		qm_store_outbox_w_abort(wp);
		return qm_error_set(err, QM_ERR_INVAL,
		                    "ending an outbox ciphertext that is not "
		                    "being written");
	}
	s = w->s;
	rc = qm_store_blob_end(&w->b, &bid, &size, err);
	if (!rc && size == 0)
		rc = qm_error_set(err, QM_ERR_INVAL, "the ciphertext is empty");
	if (rc)
		goto out;
	/* one statement: the entry is QUEUED with its complete ciphertext
	 * or stays ENCRYPTING; a ciphertext it has is never replaced */
	d = durable_on(s);
	rc = store_db_stmt(s,
	                   "UPDATE outbox SET ct_blob = ?, state = 2, "
	                   "updated = ? WHERE id = ? AND state = 1 AND "
	                   "ct_blob IS NULL AND ciphertext IS NULL",
	                   &st, err);
	if (!rc) {
		sqlite3_bind_int64(st, 1, bid);
		sqlite3_bind_int64(st, 2, qm_now());
		sqlite3_bind_int64(st, 3, w->id);
		rc = transition(s, st, w->id, "store a ciphertext for", err);
	}
	durable_off(s, d);
out:
	if (rc && bid)
		QM_IGNORE(qm_store_blob_delete(s, bid, NULL));
	qm_store_outbox_w_abort(wp);
	return rc;
}

static enum qm_err outbox_set_ciphertext(struct qm_store *s, int64_t id,
                                         const void *ct, size_t n,
                                         struct qm_error *err)
{
	struct qm_store_outbox_w *w = NULL;
	sqlite3_stmt *st;
	enum qm_err rc;

	if (!ct || n == 0 || n > QM_STORE_MAXBLOB)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the ciphertext is empty or larger than %u "
		                    "bytes",
		                    QM_STORE_MAXBLOB);
	if (blobs(s)) {
		rc = qm_store_outbox_ct_begin(s, id, &w, err);
		if (!rc)
			rc = qm_store_outbox_w_write(w, ct, n, err);
		if (rc) {
			qm_store_outbox_w_abort(&w);
			return rc;
		}
		return qm_store_outbox_ct_end(&w, err);
	}
	rc = store_db_stmt(s,
	                   "UPDATE outbox SET ciphertext = ?, state = 2, "
	                   "updated = ? WHERE id = ? AND state = 1",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_blob(st, 1, ct, (int)n, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, qm_now());
	sqlite3_bind_int64(st, 3, id);
	return transition(s, st, id, "store a ciphertext for", err);
}

static enum qm_err outbox_begin_send(struct qm_store *s, int64_t id,
                                     struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(
	    s,
	    "UPDATE outbox SET state = 3, attempts = attempts + 1, "
	    "updated = ? WHERE id = ? AND state IN (2, 6)",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, qm_now());
	sqlite3_bind_int64(st, 2, id);
	return transition(s, st, id, "send", err);
}

static enum qm_err outbox_sent(struct qm_store *s, int64_t id,
                               const char *reply, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(
	    s,
	    "UPDATE outbox SET state = 4, reply = ?, reason = NULL, "
	    "updated = ? WHERE id = ? AND state = 3",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	store_db_bind_text(st, 1, reply ? reply : "");
	sqlite3_bind_int64(st, 2, qm_now());
	sqlite3_bind_int64(st, 3, id);
	return transition(s, st, id, "mark as sent", err);
}

/* Burns the key IDs of entries in ENCRYPTING (id 0: all) and puts them back
 * to PENDING (or FAILED with failed set); *n gets how many moved. */
static enum qm_err burn(struct qm_store *s, int64_t id, int failed,
                        const char *reason, size_t *n, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc =
	    store_db_stmt(s,
	                  "UPDATE keylog SET burnt = 1 WHERE burnt = 0 AND "
	                  "outbox_id IN (SELECT id FROM outbox WHERE state = 1 "
	                  "AND (?1 = 0 OR id = ?1))",
	                  &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "burning reserved key IDs");
	rc = store_db_stmt(
	    s,
	    "UPDATE outbox SET state = ?2, reason = ?3, updated = ?4 "
	    "WHERE state = 1 AND (?1 = 0 OR id = ?1)",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, failed ? QM_OUTBOX_FAILED : QM_OUTBOX_PENDING);
	store_db_bind_text(st, 3, reason);
	sqlite3_bind_int64(st, 4, qm_now());
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "updating the outbox");
	*n = (size_t)sqlite3_changes(s->db);
	return QM_OK;
}

static enum qm_err outbox_fail(struct qm_store *s, int64_t id,
                               const char *reason, int64_t retry_at,
                               struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int state = -1, src;
	size_t n = 0;

	rc = store_db_begin(s, err);
	if (rc == QM_OK)
		rc = outbox_state(s, id, &state, NULL, NULL, 0, err);
	if (rc != QM_OK)
		goto out;
	switch (state) {
	case QM_OUTBOX_ENCRYPTING:
		/* Encryption failed after the keys came: they are spent. */
		rc = burn(s, id, retry_at == 0, reason, &n, err);
		if (rc == QM_OK && retry_at) {
			rc = store_db_stmt(
			    s,
			    "UPDATE outbox SET retry_at = ?, attempts "
			    "= attempts + 1 WHERE id = ?",
			    &st, err);
			if (rc == QM_OK) {
				sqlite3_bind_int64(st, 1, retry_at);
				sqlite3_bind_int64(st, 2, id);
				src = sqlite3_step(st);
				sqlite3_reset(st);
				if (src != SQLITE_DONE)
					rc = store_db_fail(
					    s, src, err, "updating the outbox");
			}
		}
		break;
	case QM_OUTBOX_PENDING:
	case QM_OUTBOX_SENDING:
		/* PENDING stays PENDING when it will be retried (no ciphertext
		 * yet; the failed try counts, for the back-off); SENDING waits
		 * as RETRYING with its ciphertext (begin_send counted it). */
		rc = store_db_stmt(
		    s,
		    "UPDATE outbox SET state = CASE WHEN ?1 = 0 THEN 5 "
		    "WHEN state = 0 THEN 0 ELSE 6 END, retry_at = ?1, "
		    "attempts = attempts + (state = 0), "
		    "reason = ?2, updated = ?3 WHERE id = ?4",
		    &st, err);
		if (rc != QM_OK)
			break;
		sqlite3_bind_int64(st, 1, retry_at);
		store_db_bind_text(st, 2, reason ? reason : "unknown error");
		sqlite3_bind_int64(st, 3, qm_now());
		sqlite3_bind_int64(st, 4, id);
		rc = transition(s, st, id, "fail", err);
		break;
	default:
		rc = wrong_state(s, id, "fail", err);
	}
out:
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? strdup((const char *)t) : NULL;
}

enum qm_err qm_store_outbox_get(struct qm_store *s, int64_t id,
                                struct qm_store_outbox *out,
                                struct qm_error *err)
{
	struct qm_store_outbox o;
	sqlite3_stmt *st;
	enum qm_err rc;
	size_t cap = 0;
	int src;

	memset(&o, 0, sizeof(o));
	rc = store_db_begin(s, err); /* one snapshot for the row and its keys */
	if (rc != QM_OK)
		return rc;
	/* store_db_stmt caches by the address of the text: literals only */
	if (!blobs(s))
		rc = store_db_stmt(
		    s,
		    "SELECT id, account_id, message_id, recipients, level, "
		    "state, attempts, created, updated, retry_at, reply, "
		    "reason, ciphertext IS NOT NULL, length(ciphertext), NULL "
		    "FROM outbox WHERE id = ?",
		    &st, err);
	else
		rc = store_db_stmt(
		    s,
		    "SELECT id, account_id, message_id, recipients, level, "
		    "state, attempts, created, updated, retry_at, reply, "
		    "reason, ciphertext IS NOT NULL OR ct_blob IS NOT NULL, "
		    "length(ciphertext), (SELECT size FROM blob WHERE id = "
		    "ct_blob) FROM outbox WHERE id = ?",
		    &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		o.id = sqlite3_column_int64(st, 0);
		o.account_id = sqlite3_column_int64(st, 1);
		store_db_col_text(st, 2, o.message_id, sizeof(o.message_id));
		o.recipients = dup_col(st, 3);
		o.level = sqlite3_column_int(st, 4);
		o.state = (enum qm_store_outbox_state)sqlite3_column_int(st, 5);
		o.attempts = sqlite3_column_int(st, 6);
		o.created = sqlite3_column_int64(st, 7);
		o.updated = sqlite3_column_int64(st, 8);
		o.retry_at = sqlite3_column_int64(st, 9);
		o.reply = dup_col(st, 10);
		o.reason = dup_col(st, 11);
		o.has_ciphertext = sqlite3_column_int(st, 12);
		o.ciphertext_len =
		    (size_t)(sqlite3_column_type(st, 13) == SQLITE_INTEGER
		                 ? sqlite3_column_int64(st, 13)
		                 : sqlite3_column_int64(st, 14));
		if (!o.recipients)
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	} else if (src == SQLITE_DONE) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no outbox entry %lld",
		                  (long long)id);
	} else {
		rc = store_db_fail(s, src, err, "reading the outbox");
	}
	sqlite3_reset(st);
	if (rc != QM_OK)
		goto out;
	rc = store_db_stmt(s,
	                   "SELECT key_id FROM keylog WHERE outbox_id = ? AND "
	                   "burnt = 0 ORDER BY seq",
	                   &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (o.n_keys == cap) {
			char **nk;

			cap = cap ? cap * 2 : 4;
			nk = realloc(o.key_ids, cap * sizeof(*nk));
			if (!nk) {
				rc = qm_error_set(err, QM_ERR_NOMEM,
				                  "out of memory");
				break;
			}
			o.key_ids = nk;
		}
		o.key_ids[o.n_keys] = dup_col(st, 0);
		if (!o.key_ids[o.n_keys]) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			break;
		}
		o.n_keys++;
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "reading reserved key IDs");
	sqlite3_reset(st);
out:
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc == QM_OK)
		*out = o;
	else
		qm_store_outbox_item_free(&o);
	return rc;
}

enum qm_err qm_store_outbox_list(struct qm_store *s, int64_t account_id,
                                 int st_want, int64_t now, int64_t **ids,
                                 size_t *n, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	if (st_want >= 0)
		rc = store_db_stmt(s,
		                   "SELECT id FROM outbox WHERE state = ?1 AND "
		                   "(?2 = 0 OR account_id = ?2) AND (?3 = 0 OR "
		                   "retry_at <= ?3) ORDER BY id",
		                   &st, err);
	else
		rc = store_db_stmt(s,
		                   "SELECT id FROM outbox WHERE (state = 2 OR "
		                   "(state = 6 AND retry_at <= ?3)) AND "
		                   "(?2 = 0 OR account_id = ?2) ORDER BY id",
		                   &st, err);
	if (rc != QM_OK)
		return rc;
	if (st_want >= 0)
		sqlite3_bind_int(st, 1, st_want);
	sqlite3_bind_int64(st, 2, account_id);
	sqlite3_bind_int64(st, 3, now);
	return store_db_collect_ids(s, st, ids, n, err);
}

enum qm_err qm_store_outbox_find_mid(struct qm_store *s, int64_t account_id,
                                     const char *message_id, int64_t **ids,
                                     size_t *n, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	*ids = NULL;
	*n = 0;
	if (!message_id || !*message_id)
		return QM_OK;
	/* store_db_stmt caches by the address of the text: literals only */
	if (blobs(s))
		rc =
		    store_db_stmt(s,
		                  "SELECT id FROM outbox WHERE account_id = ?1 "
		                  "AND message_id = ?2 AND (ciphertext IS NOT "
		                  "NULL OR ct_blob IS NOT NULL) ORDER BY id",
		                  &st, err);
	else
		rc =
		    store_db_stmt(s,
		                  "SELECT id FROM outbox WHERE account_id = ?1 "
		                  "AND message_id = ?2 AND ciphertext IS NOT "
		                  "NULL ORDER BY id",
		                  &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, message_id);
	return store_db_collect_ids(s, st, ids, n, err);
}

static enum qm_err outbox_recover(struct qm_store *s, size_t *n_fixed,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	size_t n = 0;
	int src;

	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc =
	    burn(s, 0, 0,
	         "interrupted between fetching keys and encrypting: those "
	         "keys are spent, the message will be encrypted under new ones",
	         &n, err);
	if (rc != QM_OK)
		goto out;
	rc = store_db_stmt(
	    s,
	    "UPDATE outbox SET state = 6, retry_at = ?1, updated = ?1,"
	    " reason = 'interrupted while sending: the same "
	    "ciphertext will be sent again' WHERE state = 3",
	    &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, qm_now());
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "recovering the outbox");
		goto out;
	}
	n += (size_t)sqlite3_changes(s->db);
	if (blobs(s)) {
		/* a ciphertext being written when the process ended (the
		 * outbox lock is held: no other is being written), or one
		 * complete that its entry never took */
		rc = store_db_stmt(
		    s,
		    "DELETE FROM blob WHERE kind IN ('outbox', 'outbox.ct') "
		    "AND id NOT IN (SELECT pt_blob FROM outbox WHERE pt_blob "
		    "IS NOT NULL UNION ALL SELECT ct_blob FROM outbox WHERE "
		    "ct_blob IS NOT NULL)",
		    &st, err);
		if (rc == QM_OK)
			rc = store_db_done(s, st, "recovering the outbox", err);
		/* a Sent copy is made, appended and removed within a
		 * minute or so: one an hour old was left by a process that
		 * ended */
		if (rc == QM_OK)
			rc = store_db_stmt(s,
			                   "DELETE FROM blob WHERE kind = "
			                   "'outbox.copy' AND made < ?",
			                   &st, err);
		if (rc == QM_OK) {
			sqlite3_bind_int64(st, 1, qm_now() - 3600);
			rc = store_db_done(s, st, "recovering the outbox", err);
		}
	}
out:
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc == QM_OK && n_fixed)
		*n_fixed = n;
	return rc;
}

/* FAILED without a ciphertext -> PENDING, due now. */
static enum qm_err outbox_revive(struct qm_store *s, int64_t id,
                                 struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	/* store_db_stmt caches by the address of the text: literals only */
	if (blobs(s))
		rc = store_db_stmt(
		    s,
		    "UPDATE outbox SET state = 0, retry_at = 0, updated = ? "
		    "WHERE id = ? AND state = 5 AND ciphertext IS NULL AND "
		    "ct_blob IS NULL",
		    &st, err);
	else
		rc = store_db_stmt(
		    s,
		    "UPDATE outbox SET state = 0, retry_at = 0, updated = ? "
		    "WHERE id = ? AND state = 5 AND ciphertext IS NULL",
		    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, qm_now());
	sqlite3_bind_int64(st, 2, id);
	return transition(s, st, id, "try again", err);
}

/* Deletes a PENDING entry that never had a key ID reserved. */
static enum qm_err outbox_discard(struct qm_store *s, int64_t id,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(
	    s,
	    "DELETE FROM outbox WHERE id = ?1 AND state = 0 AND NOT "
	    "EXISTS (SELECT 1 FROM keylog WHERE outbox_id = ?1)",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return transition(s, st, id, "discard", err);
}

/* ---------------------------------------- public entry points, durable */

enum qm_err qm_store_outbox_add(struct qm_store *s, int64_t account_id,
                                const char *message_id, const char *recipients,
                                int level, const void *mime, size_t mime_len,
                                int64_t *id, struct qm_error *err)
{
	return qm_store_outbox_add_bound(s, account_id, message_id, recipients,
	                                 level, mime, mime_len, NULL, 0, id,
	                                 err);
}

enum qm_err qm_store_outbox_add_bound(struct qm_store *s, int64_t account_id,
                                      const char *message_id,
                                      const char *recipients, int level,
                                      const void *mime, size_t mime_len,
                                      const void *bound, size_t bound_len,
                                      int64_t *id, struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc =
	    outbox_add(s, account_id, message_id, recipients, level, mime,
	               mime_len, bound, bound_len, id, err);

	durable_off(s, d);
	return rc;
}

enum qm_err qm_store_outbox_reserve(struct qm_store *s, int64_t id,
                                    const char *const *key_ids, size_t n,
                                    struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc = outbox_reserve(s, id, key_ids, n, err);

	durable_off(s, d);
	return rc;
}

enum qm_err qm_store_outbox_set_ciphertext(struct qm_store *s, int64_t id,
                                           const void *ct, size_t n,
                                           struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc = outbox_set_ciphertext(s, id, ct, n, err);

	durable_off(s, d);
	return rc;
}

enum qm_err qm_store_outbox_begin_send(struct qm_store *s, int64_t id,
                                       struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc = outbox_begin_send(s, id, err);

	durable_off(s, d);
	return rc;
}

enum qm_err qm_store_outbox_sent(struct qm_store *s, int64_t id,
                                 const char *reply, struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc = outbox_sent(s, id, reply, err);

	durable_off(s, d);
	return rc;
}

enum qm_err qm_store_outbox_fail(struct qm_store *s, int64_t id,
                                 const char *reason, int64_t retry_at,
                                 struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc = outbox_fail(s, id, reason, retry_at, err);

	durable_off(s, d);
	return rc;
}

enum qm_err qm_store_outbox_recover(struct qm_store *s, size_t *n_fixed,
                                    struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc = outbox_recover(s, n_fixed, err);

	durable_off(s, d);
	return rc;
}

enum qm_err qm_store_outbox_revive(struct qm_store *s, int64_t id,
                                   struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc = outbox_revive(s, id, err);

	durable_off(s, d);
	return rc;
}

enum qm_err qm_store_outbox_discard(struct qm_store *s, int64_t id,
                                    struct qm_error *err)
{
	int d = durable_on(s);
	enum qm_err rc = outbox_discard(s, id, err);

	durable_off(s, d);
	return rc;
}
