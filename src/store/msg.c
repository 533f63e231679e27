/* SPDX-License-Identifier: MIT */
/*
 * The message index: what a mailbox listing needs, in clear (addresses,
 * dates, level, flags, sizes), and the real subject sealed in the vault;
 * the plaintext MIME sealed in msg_body. Listing is newest first over
 * (account, folder, date, id) indexes with keyset paging, so a page costs
 * the same at message 100,000 as at message 1. Subject and body search
 * uses an FTS5 index that lives only in memory (temp schema, temp_store =
 * MEMORY, wiping allocator): built from the vault on the first search after
 * unlock, kept up to date while unlocked, dropped on lock.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

/* How much of a message's MIME is indexed when no plain text was given. */
#define FTS_MIME_MAX (64 * 1024)

/* ------------------------------------------------------- search index */

void store_fts_drop(struct qm_store *s)
{
	if (!s->db || !s->fts_ready)
		return;
	/* Cached statements may point at the table: drop them first. */
	for (size_t i = 0; i < STMT_CACHE; i++) {
		if (s->cache[i].sql && strstr(s->cache[i].sql, "temp.fts")) {
			sqlite3_finalize(s->cache[i].st);
			s->cache[i].sql = NULL;
			s->cache[i].st = NULL;
		}
	}
	sqlite3_exec(s->db, "DROP TABLE IF EXISTS temp.fts", NULL, NULL, NULL);
	s->fts_ready = 0;
	s->fts_max_id = 0;
	s->fts_count = 0;
	s->fts_dv = -1;
}

/* Adds one message's subject and text to the in-memory index. */
static enum qm_err fts_add(struct qm_store *s, int64_t id, const char *subject,
                           size_t slen, const char *text, size_t tlen,
                           struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "INSERT INTO temp.fts (rowid, subject, body) "
	                   "VALUES (?, ?, ?)",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, subject ? subject : "", (int)slen,
	                  SQLITE_STATIC);
	sqlite3_bind_text(st, 3, text ? text : "", (int)tlen, SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_clear_bindings(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err,
		                     "indexing a message for search");
	return QM_OK;
}

/* SQLite's data_version: changes when another connection commits; -1 on
 * error. */
static int64_t data_version(struct qm_store *s)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (store_db_stmt(s, "PRAGMA data_version", &st, NULL) != QM_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

/* Indexes one row of "id, subject, text, mime". */
static enum qm_err fts_row(struct qm_store *s, sqlite3_stmt *st,
                           struct qm_buf *subj, struct qm_buf *body,
                           struct qm_error *err)
{
	int64_t id = sqlite3_column_int64(st, 0);
	enum qm_err rc = QM_OK;

	qm_buf_reset(subj);
	qm_buf_reset(body);
	if (sqlite3_column_type(st, 1) == SQLITE_BLOB)
		rc = store_vault_open(
		    s, "subject", id, sqlite3_column_blob(st, 1),
		    (size_t)sqlite3_column_bytes(st, 1), subj, err);
	if (rc == QM_OK && sqlite3_column_type(st, 2) == SQLITE_BLOB)
		rc = store_vault_open(s, "text", id, sqlite3_column_blob(st, 2),
		                      (size_t)sqlite3_column_bytes(st, 2), body,
		                      err);
	else if (rc == QM_OK && sqlite3_column_type(st, 3) == SQLITE_BLOB)
		rc = store_vault_open(s, "mime", id, sqlite3_column_blob(st, 3),
		                      (size_t)sqlite3_column_bytes(st, 3), body,
		                      err);
	if (rc == QM_ERR_AUTH)
		rc = QM_OK; /* a damaged item is not searchable; the rest is */
	if (rc == QM_OK)
		rc = fts_add(
		    s, id, (const char *)subj->data, subj->len,
		    (const char *)body->data,
		    body->len > FTS_MIME_MAX ? FTS_MIME_MAX : body->len, err);
	if (rc == QM_OK) {
		s->fts_max_id = id;
		s->fts_count++;
	}
	return rc;
}

/*
 * Brings the in-memory index up to date with the vault: builds it on first
 * use, then indexes what other handles (a background sync) added since.
 * When rows at or below the last indexed id changed (deleted elsewhere), it
 * starts again.
 */
static enum qm_err fts_sync(struct qm_store *s, struct qm_error *err)
{
	struct qm_buf subj, body;
	sqlite3_stmt *st = NULL;
	int64_t below = -1, dv;
	enum qm_err rc;
	int src;

	rc = store_vault_need(s, err);
	if (rc != QM_OK)
		return rc;
	/* Nobody else committed since the last sync: nothing to catch up. */
	dv = data_version(s);
	if (s->fts_ready && dv >= 0 && dv == s->fts_dv)
		return QM_OK;
	qm_buf_init_secure(&subj, QM_STORE_MAXBLOB);
	qm_buf_init_secure(&body, QM_STORE_MAXBLOB);
	rc = store_db_begin_read(s, err); /* one snapshot; writers go on */
	if (rc != QM_OK)
		goto out_free;
	if (s->fts_ready) {
		src = sqlite3_prepare_v2(
		    s->db, "SELECT count(*) FROM msg WHERE id <= ?", -1, &st,
		    NULL);
		if (src == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, s->fts_max_id);
			src = sqlite3_step(st);
		}
		if (src == SQLITE_ROW)
			below = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
		if (below != s->fts_count) {
			store_db_rollback(s);
			store_fts_drop(s);
			rc = store_db_begin_read(s, err);
			if (rc != QM_OK)
				goto out_free;
		}
	}
	if (!s->fts_ready) {
		rc = store_db_exec(
		    s,
		    "CREATE VIRTUAL TABLE temp.fts USING fts5(subject, "
		    "body, content='', tokenize='unicode61 "
		    "remove_diacritics 2')",
		    err);
		if (rc != QM_OK)
			goto out;
		s->fts_ready = 1;
		s->fts_max_id = 0;
		s->fts_count = 0;
	}
	src = sqlite3_prepare_v2(
	    s->db,
	    "SELECT m.id, m.subject, b.text, b.mime FROM msg m LEFT JOIN "
	    "msg_body b ON b.msg_id = m.id WHERE m.id > ? ORDER BY m.id",
	    -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = store_db_fail(s, src, err, "building the search index");
		goto out;
	}
	sqlite3_bind_int64(st, 1, s->fts_max_id);
	while (rc == QM_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
		rc = fts_row(s, st, &subj, &body, err);
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "building the search index");
out:
	sqlite3_finalize(st);
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc != QM_OK)
		store_fts_drop(s);
	else
		s->fts_dv = dv;
out_free:
	qm_buf_free(&subj);
	qm_buf_free(&body);
	return rc;
}

/* -------------------------------------------------------------- adding */

static enum qm_err seal_into(struct qm_store *s, const char *kind, int64_t id,
                             const void *p, size_t n, struct qm_buf *blob,
                             struct qm_error *err)
{
	qm_buf_reset(blob);
	return store_vault_seal(s, kind, id, p, n, blob, err);
}

/* A body blob's record sealed in mime: its ID and size (big-endian). */
#define BLOBREF_BYTES 16

static void put_be64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (i * 8));
}

static uint64_t get_be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The body of message mid as blob bid (complete, kind "msg", owned by the
 * account): its sealed record and text into msg_body, in the caller's
 * transaction. */
static enum qm_err body_blob_insert(struct qm_store *s, int64_t mid,
                                    int64_t account_id, int64_t bid,
                                    const char *text, struct qm_buf *blob,
                                    struct qm_buf *blob2, struct qm_error *err)
{
	unsigned char ref[BLOBREF_BYTES];
	sqlite3_stmt *st;
	int64_t size = 0;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT size FROM blob WHERE id = ? AND kind = ? "
	                   "AND owner = ? AND done = 1",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, bid);
	store_db_bind_text(st, 2, QM_STORE_BLOB_MSG);
	sqlite3_bind_int64(st, 3, account_id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		size = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (src == SQLITE_DONE)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "the message's plaintext (blob %lld) is "
		                    "not in the vault, or not complete",
		                    (long long)bid);
	if (src != SQLITE_ROW)
		return store_db_fail(s, src, err, "adding the message");
	put_be64(ref, (uint64_t)bid);
	put_be64(ref + 8, (uint64_t)size);
	rc = seal_into(s, "mimeblob", mid, ref, sizeof(ref), blob, err);
	if (rc == QM_OK)
		rc = seal_into(s, "text", mid, text, strlen(text), blob2, err);
	if (rc == QM_OK)
		rc = store_db_stmt(s,
		                   "INSERT INTO msg_body (msg_id, mime, text, "
		                   "mime_blob) VALUES (?, ?, ?, ?)",
		                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_blob(st, 2, blob->data, (int)blob->len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, blob2->data, (int)blob2->len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, bid);
	src = sqlite3_step(st);
	sqlite3_clear_bindings(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err,
		                     "storing the message in the vault");
	return QM_OK;
}

/*
 * The label MAC of a message: what says how far to trust it. The verify
 * state goes in as a number, so states added later are covered as they
 * are; a field added to the row's labels is added here (and to the
 * columns store_msg_labels_seal reads).
 */
static void msg_label(const struct qm_store *s, const struct qm_store_msg *m,
                      unsigned char out[LABEL_MACBYTES])
{
	struct label_mac lm;

	store_label_begin(s, &lm, "msg");
	store_label_int(&lm, m->id);
	store_label_int(&lm, m->account_id);
	store_label_int(&lm, m->level);
	store_label_int(&lm, (int64_t)m->verify);
	store_label_text(&lm, m->from_addr);
	store_label_text(&lm, m->to_addrs);
	store_label_text(&lm, m->message_id);
	store_label_int(&lm, m->date);
	/* whether a sealed security record (msg_meta) belongs to it: deleting
	 * that row must not make the reader fall back to what it trusts less */
	store_label_int(&lm, m->has_meta ? 1 : 0);
	store_label_end(&lm, out);
}

enum qm_err store_msg_labels_seal(struct qm_store *s, struct qm_error *err)
{
	sqlite3_stmt *rd = NULL, *wr;
	unsigned char mac[LABEL_MACBYTES];
	enum qm_err rc = QM_OK;
	int src;

	src = sqlite3_prepare_v2(s->db,
	                         "SELECT id, account_id, level, verify, "
	                         "from_addr, to_addrs, message_id, date, "
	                         "has_meta FROM msg ORDER BY id",
	                         -1, &rd, NULL);
	if (src != SQLITE_OK)
		return store_db_fail(s, src, err, "sealing message labels");
	while (rc == QM_OK && (src = sqlite3_step(rd)) == SQLITE_ROW) {
		struct qm_store_msg m;

		memset(&m, 0, sizeof(m));
		m.id = sqlite3_column_int64(rd, 0);
		m.account_id = sqlite3_column_int64(rd, 1);
		m.level = sqlite3_column_int(rd, 2);
		m.verify = (enum qm_store_verify)sqlite3_column_int(rd, 3);
		m.from_addr = (const char *)sqlite3_column_text(rd, 4);
		m.to_addrs = (const char *)sqlite3_column_text(rd, 5);
		m.message_id = (const char *)sqlite3_column_text(rd, 6);
		m.date = sqlite3_column_int64(rd, 7);
		m.has_meta = sqlite3_column_int(rd, 8);
		msg_label(s, &m, mac);
		rc = store_db_stmt(s, "UPDATE msg SET mac = ? WHERE id = ?",
		                   &wr, err);
		if (rc != QM_OK)
			break;
		sqlite3_bind_blob(wr, 1, mac, LABEL_MACBYTES, SQLITE_STATIC);
		sqlite3_bind_int64(wr, 2, m.id);
		src = sqlite3_step(wr);
		sqlite3_reset(wr);
		if (src != SQLITE_DONE)
			rc = store_db_fail(s, src, err,
			                   "sealing message labels");
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "sealing message labels");
	sqlite3_finalize(rd);
	return rc;
}

#define MSG_INSERT                                                             \
	"INSERT INTO msg (id, account_id, folder, uidvalidity, uid, uidl, "    \
	"message_id, from_addr, to_addrs, date, level, verify, flags, size, "  \
	"n_attach, subject, mac, has_meta"
#define MSG_VALUES "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"

/* The insert for a row with body_pending set or not, at a schema with
 * snippets (9) or before: tests write at older versions before they
 * upgrade. */
static const char *msg_insert_sql(const struct qm_store *s, int pending)
{
	if (s->schema >= SNIPPET_SCHEMA)
		return pending ? MSG_INSERT ", body_pending, snippet) VALUES "
		                            "(" MSG_VALUES ", 1, ?19)"
		               : MSG_INSERT ", snippet) VALUES (" MSG_VALUES
		                            ", ?19)";
	return pending ? MSG_INSERT ", body_pending) VALUES (" MSG_VALUES ", 1)"
	               : MSG_INSERT ") VALUES (" MSG_VALUES ")";
}

/* Binds the sealed snippet blob (empty: none, an empty blob, not NULL,
 * which would read as not made yet). */
static void bind_snippet(sqlite3_stmt *st, int i, const struct qm_buf *blob)
{
	if (blob->len)
		sqlite3_bind_blob(st, i, blob->data, (int)blob->len,
		                  SQLITE_STATIC);
	else
		sqlite3_bind_zeroblob(st, i, 0);
}

enum qm_err qm_store_msg_add(struct qm_store *s, const struct qm_store_msg *m,
                             const char *subject, const char *const *key_ids,
                             size_t n_keys, const void *mime, size_t mime_len,
                             const char *text, int64_t *id,
                             struct qm_error *err)
{
	unsigned char mac[LABEL_MACBYTES];
	struct qm_buf blob, blob2, snip;
	sqlite3_stmt *st;
	int64_t mid = 0;
	enum qm_err rc;
	int src;

	if (!m->folder || !*m->folder || m->level < 0 || m->level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a message needs a folder and a level of 0 "
		                    "to 4");
	if (m->body_pending && (mime || m->body_blob || m->meta ||
	                        m->verify != QM_VERIFY_NOT_QMAIL || m->level))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "only a plain message without its body is "
		                    "a header-only record");
	if (m->body_blob && mime)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a message's plaintext is a blob or MIME, "
		                    "not both");
	if (m->body_blob && s->schema < BODYBLOB_SCHEMA)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "this home (schema %d) cannot keep a "
		                    "message as a blob: open it with this "
		                    "QMail to upgrade it",
		                    s->schema);
	rc = store_check_len("the folder name", m->folder, 1024, err);
	if (rc == QM_OK)
		rc =
		    store_check_len("the Message-ID", m->message_id, 1000, err);
	if (rc == QM_OK)
		rc = store_check_len("the UIDL", m->uidl, 256, err);
	if (rc != QM_OK)
		return rc;
	/* the row's label MAC needs the vault key: nothing is indexed while
	 * locked (docs/STORE.md) */
	if (!s->vkey)
		return store_vault_need(s, err);
	qm_buf_init(&blob, QM_STORE_MAXBLOB + 1024);
	qm_buf_init(&blob2, QM_STORE_MAXBLOB + 1024);
	qm_buf_init(&snip, QM_STORE_MAXBLOB + 1024); /* holds the subject */
	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out_free;
	/* The write lock is ours: the next id is what AUTOINCREMENT would
	 * pick, and the sealed items can be bound to it before the row is
	 * written. */
	rc = store_db_stmt(
	    s,
	    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE "
	    "name = 'msg'), 0), coalesce((SELECT max(id) FROM msg), 0)) "
	    "+ 1",
	    &st, err);
	if (rc != QM_OK)
		goto out;
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		mid = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (src != SQLITE_ROW) {
		rc = store_db_fail(s, src, err, "adding the message");
		goto out;
	}
	{
		struct qm_store_msg row = *m;

		row.id = mid;
		row.has_meta = m->meta != NULL;
		msg_label(s, &row, mac);
	}
	if (subject)
		rc = seal_into(s, "subject", mid, subject, strlen(subject),
		               &blob, err);
	/* a snippet only of text the reader shows: none for a message
	 * tampered, replayed, refused, unreadable or waiting */
	if (rc == QM_OK && m->from_name &&
	    strlen(m->from_name) >= QM_STORE_NAMEMAX)
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "the sender's name is longer than %d bytes",
		                  QM_STORE_NAMEMAX - 1);
	/* the sender's name rides along (a header-only record has one
	 * before its text) */
	if (rc == QM_OK && s->schema >= SNIPPET_SCHEMA &&
	    store_snippet_verify(m->verify))
		rc = store_snippet_seal(s, mid, subject, m->from_name,
		                        mime && !m->body_pending ? text : NULL,
		                        &snip, err);
	if (rc == QM_OK)
		rc = store_db_stmt(s, msg_insert_sql(s, m->body_pending), &st,
		                   err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_int64(st, 2, m->account_id);
	store_db_bind_text(st, 3, m->folder);
	sqlite3_bind_int64(st, 4, m->uidvalidity);
	sqlite3_bind_int64(st, 5, m->uid);
	store_db_bind_text(st, 6, m->uidl);
	store_db_bind_text(st, 7, m->message_id);
	store_db_bind_text(st, 8, m->from_addr);
	store_db_bind_text(st, 9, m->to_addrs);
	sqlite3_bind_int64(st, 10, m->date);
	sqlite3_bind_int(st, 11, m->level);
	sqlite3_bind_int(st, 12, (int)m->verify);
	sqlite3_bind_int(st, 13, (int)m->flags);
	sqlite3_bind_int64(st, 14, m->size);
	sqlite3_bind_int(st, 15, m->n_attach);
	if (subject)
		sqlite3_bind_blob(st, 16, blob.data, (int)blob.len,
		                  SQLITE_STATIC);
	sqlite3_bind_blob(st, 17, mac, LABEL_MACBYTES, SQLITE_STATIC);
	sqlite3_bind_int(st, 18, m->meta != NULL);
	if (s->schema >= SNIPPET_SCHEMA)
		bind_snippet(st, 19, &snip);
	src = sqlite3_step(st);
	sqlite3_clear_bindings(st);
	sqlite3_reset(st);
	if (src == SQLITE_CONSTRAINT) {
		rc = qm_error_set(
		    err, QM_ERR_EXISTS,
		    "the message (%s) is already in the index, or "
		    "its account does not exist",
		    m->message_id ? m->message_id : "no Message-ID");
		goto out;
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "adding the message");
		goto out;
	}
	if (m->body_blob) {
		rc = body_blob_insert(s, mid, m->account_id, m->body_blob,
		                      text ? text : "", &blob, &blob2, err);
		if (rc != QM_OK)
			goto out;
	} else if (mime) {
		rc = seal_into(s, "mime", mid, mime, mime_len, &blob, err);
		if (rc == QM_OK && text)
			rc = seal_into(s, "text", mid, text, strlen(text),
			               &blob2, err);
		if (rc == QM_OK)
			rc = store_db_stmt(
			    s,
			    "INSERT INTO msg_body (msg_id, mime, text) "
			    "VALUES (?, ?, ?)",
			    &st, err);
		if (rc != QM_OK)
			goto out;
		sqlite3_bind_int64(st, 1, mid);
		sqlite3_bind_blob(st, 2, blob.data, (int)blob.len,
		                  SQLITE_STATIC);
		if (text)
			sqlite3_bind_blob(st, 3, blob2.data, (int)blob2.len,
			                  SQLITE_STATIC);
		src = sqlite3_step(st);
		sqlite3_reset(st);
		if (src != SQLITE_DONE) {
			rc = store_db_fail(s, src, err,
			                   "storing the message in the vault");
			goto out;
		}
	}
	if (m->meta) {
		rc =
		    seal_into(s, "meta", mid, m->meta, m->meta_len, &blob, err);
		if (rc == QM_OK)
			rc = store_db_stmt(
			    s,
			    "INSERT INTO msg_meta (msg_id, sealed) "
			    "VALUES (?, ?)",
			    &st, err);
		if (rc != QM_OK)
			goto out;
		sqlite3_bind_int64(st, 1, mid);
		sqlite3_bind_blob(st, 2, blob.data, (int)blob.len,
		                  SQLITE_STATIC);
		src = sqlite3_step(st);
		sqlite3_reset(st);
		if (src != SQLITE_DONE) {
			rc = store_db_fail(
			    s, src, err,
			    "storing the message's security record");
			goto out;
		}
	}
	rc = store_keylog_claim(s, m->account_id, QM_DIR_IN, key_ids, n_keys,
	                        m->message_id, mid, 0, err);
	/* Index it now when it directly follows what is indexed; anything
	 * else is caught up by the next search. */
	if (rc == QM_OK && s->fts_ready && mid == s->fts_max_id + 1) {
		size_t tl = text ? strlen(text) : mime ? mime_len : 0;

		if (m->body_blob && !text)
			text = "";

		rc = fts_add(s, mid, subject, subject ? strlen(subject) : 0,
		             text ? text : (const char *)mime,
		             tl > FTS_MIME_MAX ? FTS_MIME_MAX : tl, err);
	}
out:
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc == QM_OK && s->fts_ready && mid == s->fts_max_id + 1) {
		s->fts_max_id = mid;
		s->fts_count++;
	}
	if (rc == QM_OK)
		*id = mid; /* (a rollback also undoes the temp.fts insert; an
		              outer rollback is noticed by fts_sync's count) */
out_free:
	qm_buf_free(&blob);
	qm_buf_free(&blob2);
	qm_buf_free(&snip);
	return rc;
}

enum qm_err qm_store_msg_set_verify(struct qm_store *s, int64_t id, int level,
                                    enum qm_store_verify v,
                                    struct qm_error *err)
{
	unsigned char mac[LABEL_MACBYTES];
	struct qm_store_msglist *l = NULL;
	struct qm_store_msg m;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	if (level < 0 || level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a message has a level of 0 to 4");
	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = qm_store_msg_get(s, id, &l, err);
	if (rc == QM_OK && l->items[0].label != QM_LABEL_OK)
		rc = qm_error_set(err, QM_ERR_AUTH,
		                  "message %lld: its security record was "
		                  "changed on disk outside QMail",
		                  (long long)id);
	if (rc != QM_OK)
		goto out;
	m = l->items[0];
	m.level = level;
	m.verify = v;
	msg_label(s, &m, mac);
	rc =
	    store_db_stmt(s,
	                  "UPDATE msg SET level = ?, verify = ?, mac = ? WHERE "
	                  "id = ?",
	                  &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int(st, 1, level);
	sqlite3_bind_int(st, 2, (int)v);
	sqlite3_bind_blob(st, 3, mac, LABEL_MACBYTES, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, id);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		rc =
		    store_db_fail(s, src, err, "changing the message's status");
out:
	qm_store_msglist_free(&l);
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_msg_set_flags(struct qm_store *s, int64_t id,
                                   unsigned flags, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc =
	    store_db_stmt(s, "UPDATE msg SET flags = ? WHERE id = ?", &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int(st, 1, (int)flags);
	sqlite3_bind_int64(st, 2, id);
	return store_db_done_one(s, st, "setting flags", "message", id, err);
}

enum qm_err qm_store_msg_delete(struct qm_store *s, int64_t id,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s, "DELETE FROM msg WHERE id = ?", &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = store_db_done_one(s, st, "deleting the message", "message", id,
	                       err);
	if (rc != QM_OK)
		return rc;
	/* A contentless FTS5 table cannot forget one row: rebuild on use. */
	store_fts_drop(s);
	return QM_OK;
}

/* The body of header-only record mid into msg_body (blob, blob2: buffers
 * to use), inside the caller's transaction. */
static enum qm_err body_insert(struct qm_store *s, int64_t mid,
                               const void *mime, size_t mime_len,
                               const char *text, struct qm_buf *blob,
                               struct qm_buf *blob2, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = seal_into(s, "mime", mid, mime, mime_len, blob, err);
	if (rc == QM_OK && text)
		rc = seal_into(s, "text", mid, text, strlen(text), blob2, err);
	if (rc == QM_OK)
		rc = store_db_stmt(s,
		                   "INSERT INTO msg_body (msg_id, mime, text) "
		                   "VALUES (?, ?, ?)",
		                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, mid);
	sqlite3_bind_blob(st, 2, blob->data, (int)blob->len, SQLITE_STATIC);
	if (text)
		sqlite3_bind_blob(st, 3, blob2->data, (int)blob2->len,
		                  SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_clear_bindings(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err,
		                     "storing the message in the vault");
	return QM_OK;
}

/* The name in row id's list item (st's column col), if it has one and it
 * opens, copied into name (secure, reset first). */
static enum qm_err item_name(struct qm_store *s, int64_t id, sqlite3_stmt *st,
                             int col, struct qm_buf *name, struct qm_error *err)
{
	struct qm_buf it;
	size_t o_sub, o_name, o_snp;
	enum qm_err rc;

	qm_buf_reset(name);
	if (sqlite3_column_type(st, col) != SQLITE_BLOB ||
	    sqlite3_column_bytes(st, col) <= 0)
		return QM_OK;
	qm_buf_init_secure(&it, QM_STORE_MAXBLOB);
	rc = store_vault_open(s, "snippet", id, sqlite3_column_blob(st, col),
	                      (size_t)sqlite3_column_bytes(st, col), &it, err);
	if (rc == QM_OK)
		rc = qm_buf_append_byte(&it, 0, err);
	if (rc == QM_OK &&
	    store_item_parse(it.data, it.len - 1, &o_sub, &o_name, &o_snp) ==
	        0 &&
	    o_name != SIZE_MAX)
		rc = qm_buf_append(name, it.data + o_name,
		                   strlen((const char *)it.data + o_name) + 1,
		                   err);
	if (rc == QM_ERR_AUTH)
		rc = QM_OK; /* an item that does not open: no name */
	qm_buf_free(&it);
	return rc;
}

/* The list item of message id (its snippet of text with its subject and
 * the sender's name its item had) into blob; a subject that does not open
 * gives the row no item. */
static enum qm_err fill_snippet(struct qm_store *s, int64_t id,
                                const char *text, struct qm_buf *blob,
                                struct qm_error *err)
{
	struct qm_buf subj, name;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src, has = 0;

	qm_buf_reset(blob);
	rc = store_db_stmt(s, "SELECT subject, snippet FROM msg WHERE id = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	qm_buf_init_secure(&subj, QM_STORE_MAXBLOB);
	qm_buf_init_secure(&name, QM_STORE_NAMEMAX + 1);
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB) {
		has = 1;
		rc = store_vault_open(
		    s, "subject", id, sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0), &subj, err);
	} else if (src != SQLITE_ROW) {
		rc =
		    store_db_fail(s, src, err, "reading the message's subject");
	}
	if (rc == QM_OK && src == SQLITE_ROW)
		rc = item_name(s, id, st, 1, &name, err);
	sqlite3_reset(st);
	if (rc == QM_ERR_AUTH)
		rc = QM_OK; /* blob stays empty: no snippet */
	else if (rc == QM_OK)
		rc = store_snippet_seal(
		    s, id, has ? (const char *)subj.data : NULL,
		    name.len ? (const char *)name.data : NULL, text, blob, err);
	qm_buf_free(&name);
	qm_buf_free(&subj);
	return rc;
}

enum qm_err qm_store_msg_body_refused(struct qm_store *s, int64_t id,
                                      struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "UPDATE msg SET body_pending = 2 WHERE id = ? AND "
	                   "body_pending = 1",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return store_db_done(s, st, "marking the message's body refused", err);
}

enum qm_err qm_store_msg_body_fill(struct qm_store *s, int64_t id,
                                   const void *mime, size_t mime_len,
                                   const char *text, int n_attach,
                                   struct qm_error *err)
{
	struct qm_buf blob, blob2;
	sqlite3_stmt *st;
	enum qm_err rc;
	int changed = 0;

	if (!mime)
		return qm_error_set(err, QM_ERR_INVAL, "no body to file");
	rc = store_vault_need(s, err);
	if (rc != QM_OK)
		return rc;
	qm_buf_init(&blob, QM_STORE_MAXBLOB + 1024);
	qm_buf_init(&blob2, QM_STORE_MAXBLOB + 1024);
	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out_free;
	/* only a plain header-only record: the labels say plain */
	rc = store_db_stmt(s,
	                   "UPDATE msg SET body_pending = 0, n_attach = ? "
	                   "WHERE id = ? AND body_pending <> 0 AND level = 0 "
	                   "AND verify = ? AND has_meta = 0",
	                   &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int(st, 1, n_attach);
	sqlite3_bind_int64(st, 2, id);
	sqlite3_bind_int(st, 3, (int)QM_VERIFY_NOT_QMAIL);
	rc = store_db_done(s, st, "filing the message's body", err);
	if (rc != QM_OK)
		goto out;
	changed = sqlite3_changes(s->db);
	if (!changed) {
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "message %lld is not a plain message waiting "
		                  "for its body",
		                  (long long)id);
		goto out;
	}
	rc = body_insert(s, id, mime, mime_len, text, &blob, &blob2, err);
	/* plain mail (the update above says so): the snippet of its text,
	 * sealed with its subject */
	if (rc == QM_OK && s->schema >= SNIPPET_SCHEMA)
		rc = fill_snippet(s, id, text, &blob, err);
	if (rc == QM_OK && s->schema >= SNIPPET_SCHEMA)
		rc = store_db_stmt(s, "UPDATE msg SET snippet = ? WHERE id = ?",
		                   &st, err);
	if (rc == QM_OK && s->schema >= SNIPPET_SCHEMA) {
		bind_snippet(st, 1, &blob);
		sqlite3_bind_int64(st, 2, id);
		rc = store_db_done(s, st, "filing the message's snippet", err);
	}
out:
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	/* A contentless FTS5 table cannot change one row: rebuild on use. */
	if (rc == QM_OK)
		store_fts_drop(s);
out_free:
	qm_buf_free(&blob);
	qm_buf_free(&blob2);
	return rc;
}

/* Where message id's body is: *bid 0 and its sealed MIME appended to
 * out (when out is not NULL), or its blob *bid (of account *acct), the
 * record bound to the message checked. */
static enum qm_err body_where(struct qm_store *s, int64_t id,
                              struct qm_buf *out, int64_t *bid, int64_t *acct,
                              struct qm_error *err)
{
	sqlite3_stmt *st;
	struct qm_buf ref;
	enum qm_err rc;
	int src;

	*bid = 0;
	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s,
		    s->schema >= BODYBLOB_SCHEMA
		        ? "SELECT b.mime, b.mime_blob, m.account_id FROM "
		          "msg_body b JOIN msg m ON m.id = b.msg_id WHERE "
		          "b.msg_id = ?"
		        : "SELECT mime, NULL, 0 FROM msg_body WHERE msg_id = ?",
		    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL) {
		int64_t col = sqlite3_column_int64(st, 1);

		*acct = sqlite3_column_int64(st, 2);
		qm_buf_init_secure(&ref, 1024);
		rc = store_vault_open(
		    s, "mimeblob", id, sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0), &ref, err);
		if (rc == QM_OK && (ref.len != BLOBREF_BYTES ||
		                    get_be64(ref.data) != (uint64_t)col))
			rc =
			    qm_error_set(err, QM_ERR_AUTH,
			                 "the vault's record of message %lld's "
			                 "plaintext was altered",
			                 (long long)id);
		if (rc == QM_OK)
			*bid = col;
		qm_buf_free(&ref);
	} else if (src == SQLITE_ROW) {
		if (out)
			rc = store_vault_open(
			    s, "mime", id, sqlite3_column_blob(st, 0),
			    (size_t)sqlite3_column_bytes(st, 0), out, err);
	} else if (src == SQLITE_DONE) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "message %lld has no plaintext in the vault",
		                  (long long)id);
	} else {
		rc = store_db_fail(s, src, err, "reading the message");
	}
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_msg_body(struct qm_store *s, int64_t id,
                              struct qm_buf *out, struct qm_error *err)
{
	int64_t bid, acct = 0;
	enum qm_err rc = body_where(s, id, out, &bid, &acct, err);

	if (rc == QM_OK && bid)
		rc = qm_store_blob_read_all(s, QM_STORE_BLOB_MSG, acct, bid,
		                            out, err);
	return rc;
}

enum qm_err qm_store_msg_body_open(struct qm_store *s, int64_t id,
                                   struct qm_store_blob_r **r,
                                   struct qm_error *err)
{
	int64_t bid, acct = 0;
	enum qm_err rc = body_where(s, id, NULL, &bid, &acct, err);

	*r = NULL;
	if (rc == QM_OK && bid)
		rc =
		    qm_store_blob_open(s, QM_STORE_BLOB_MSG, acct, bid, r, err);
	return rc;
}

enum qm_err qm_store_msg_find(struct qm_store *s, int64_t account_id,
                              const char *message_id, int64_t *id,
                              struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT id FROM msg WHERE account_id = ? AND "
	                   "message_id = ? ORDER BY id LIMIT 1",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, message_id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %s",
		                  message_id ? message_id : "");
	else
		rc = store_db_fail(s, src, err, "looking up the message");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_msg_find_all(struct qm_store *s, int64_t account_id,
                                  const char *message_id, int64_t **ids,
                                  size_t *n, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "SELECT id FROM msg WHERE account_id = ? AND "
	                   "message_id = ? ORDER BY id",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, message_id);
	return store_db_collect_ids(s, st, ids, n, err);
}

enum qm_err qm_store_msg_meta_get(struct qm_store *s, int64_t id,
                                  struct qm_buf *out, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_vault_need(s, err);
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s, "SELECT sealed FROM msg_meta WHERE msg_id = ?", &st,
		    err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = store_vault_open(s, "meta", id, sqlite3_column_blob(st, 0),
		                      (size_t)sqlite3_column_bytes(st, 0), out,
		                      err);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "message %lld has no security record",
		                  (long long)id);
	else
		rc = store_db_fail(s, src, err, "reading the security record");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_msg_meta_set(struct qm_store *s, int64_t id, const void *p,
                                  size_t n, struct qm_error *err)
{
	struct qm_buf blob;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_vault_need(s, err);
	if (rc != QM_OK)
		return rc;
	qm_buf_init(&blob, QM_STORE_MAXBLOB + 1024);
	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out_free;
	rc =
	    store_db_stmt(s, "SELECT has_meta FROM msg WHERE id = ?", &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %lld",
		                  (long long)id);
	else if (src != SQLITE_ROW)
		rc = store_db_fail(s, src, err, "looking up the message");
	else if (!sqlite3_column_int(st, 0))
		/* the record's presence is one of the message's labels: a
		 * message filed without one keeps none */
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "message %lld has no security record to "
		                  "replace",
		                  (long long)id);
	sqlite3_reset(st);
	if (rc == QM_OK)
		rc = seal_into(s, "meta", id, p, n, &blob, err);
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s,
		    "INSERT OR REPLACE INTO msg_meta (msg_id, sealed) "
		    "VALUES (?, ?)",
		    &st, err);
	if (rc != QM_OK)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_blob(st, 2, blob.data, (int)blob.len, SQLITE_STATIC);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src != SQLITE_DONE)
		rc = store_db_fail(s, src, err,
		                   "storing the message's security record");
out:
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
out_free:
	qm_buf_free(&blob);
	return rc;
}

/* Runs st (one int64 column) expecting at most one row. */
static enum qm_err one_id(struct qm_store *s, sqlite3_stmt *st, int64_t *id,
                          const char *what, struct qm_error *err)
{
	int src = sqlite3_step(st);
	enum qm_err rc = QM_OK;

	if (src == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %s", what);
	else
		rc = store_db_fail(s, src, err, "looking up the message");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_msg_find_uid(struct qm_store *s, int64_t account_id,
                                  const char *folder, int64_t uidvalidity,
                                  int64_t uid, int64_t *id,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(
	    s,
	    "SELECT id FROM msg WHERE account_id = ? AND folder = ? "
	    "AND uidvalidity = ? AND uid = ? AND uid <> 0",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, folder);
	sqlite3_bind_int64(st, 3, uidvalidity);
	sqlite3_bind_int64(st, 4, uid);
	return one_id(s, st, id, "with that UID", err);
}

enum qm_err qm_store_msg_find_uidl(struct qm_store *s, int64_t account_id,
                                   const char *uidl, int64_t *id,
                                   struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(
	    s, "SELECT id FROM msg WHERE account_id = ? AND uidl = ?", &st,
	    err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, uidl);
	return one_id(s, st, id, "with that UIDL", err);
}

enum qm_err qm_store_msg_max_uid(struct qm_store *s, int64_t account_id,
                                 const char *folder, int64_t uidvalidity,
                                 int64_t *uid, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(
	    s,
	    "SELECT coalesce(max(uid), 0) FROM msg WHERE "
	    "account_id = ? AND folder = ? AND uidvalidity = ? AND "
	    "uid <> 0",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, folder);
	sqlite3_bind_int64(st, 3, uidvalidity);
	return one_id(s, st, uid, "", err);
}

void qm_store_strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

enum qm_err qm_store_msg_key_ids(struct qm_store *s, int64_t id, char ***ids,
                                 size_t *n, struct qm_error *err)
{
	char **v = NULL, **nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(
	    s, "SELECT key_id FROM keylog WHERE msg_id = ? ORDER BY seq", &st,
	    err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		nv = store_db_grow(v, &cap, cnt, 4, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		v[cnt] = strdup(t ? (const char *)t : "");
		if (!v[cnt]) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		cnt++;
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "reading key IDs");
		goto out;
	}
	*ids = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
out:
	sqlite3_reset(st);
	qm_store_strv_free(v, cnt);
	return rc;
}

enum qm_err qm_store_msg_ids_by_verify(struct qm_store *s, int64_t account_id,
                                       enum qm_store_verify v, int64_t **ids,
                                       size_t *n, struct qm_error *err)
{
	int64_t *out = NULL, *nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(
	    s,
	    "SELECT id FROM msg WHERE account_id = ? AND verify = ? "
	    "ORDER BY id",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)v);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(out, &cap, cnt, 8, sizeof(*out));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		out = nv;
		out[cnt++] = sqlite3_column_int64(st, 0);
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "listing messages");
		goto out;
	}
	*ids = out;
	*n = cnt;
	out = NULL;
out:
	sqlite3_reset(st);
	free(out);
	return rc;
}

/* ------------------------------------------------------------- listing */

#define MSG_COLS                                                               \
	"m.id, m.account_id, m.folder, m.uidvalidity, m.uid, m.uidl, "         \
	"m.message_id, m.from_addr, m.to_addrs, m.date, m.level, m.verify, "   \
	"m.flags, m.size, m.n_attach, m.subject, "                             \
	"EXISTS (SELECT 1 FROM msg_body b WHERE b.msg_id = m.id), m.mac, "     \
	"m.has_meta, m.body_pending, m.snippet"

/* Builds the WHERE clause of q with named parameters. */
static enum qm_err where(const struct qm_store_query *q, int paging,
                         struct qm_buf *sql, struct qm_error *err)
{
	enum qm_err rc = qm_buf_append_str(sql, " WHERE 1", err);

	if (rc == QM_OK && q->account_id)
		rc = qm_buf_append_str(sql, " AND m.account_id = :acct", err);
	if (rc == QM_OK && q->folder)
		rc = qm_buf_append_str(sql, " AND m.folder = :folder", err);
	if (rc == QM_OK && q->folder_id)
		rc = qm_buf_append_str(sql,
		                       " AND m.id IN (SELECT msg_id FROM "
		                       "msg_place WHERE folder_id = :fid)",
		                       err);
	if (rc == QM_OK && q->from_addr)
		rc = qm_buf_append_str(sql, " AND m.from_addr = :from", err);
	if (rc == QM_OK && q->date_min)
		rc = qm_buf_append_str(sql, " AND m.date >= :dmin", err);
	if (rc == QM_OK && q->date_max)
		rc = qm_buf_append_str(sql, " AND m.date <= :dmax", err);
	if (rc == QM_OK && q->level)
		rc = qm_buf_append_str(sql, " AND m.level = :level", err);
	if (rc == QM_OK && q->flags_set)
		rc = qm_buf_append_str(sql, " AND (m.flags & :fset) = :fset",
		                       err);
	if (rc == QM_OK && q->flags_clear)
		rc = qm_buf_append_str(sql, " AND (m.flags & :fclr) = 0", err);
	if (rc == QM_OK && q->text && paging)
		rc = qm_buf_append_str(sql,
		                       " AND m.id IN (SELECT rowid FROM "
		                       "temp.fts WHERE fts MATCH :text)",
		                       err);
	if (rc == QM_OK && paging && q->before_id)
		rc = qm_buf_append_str(
		    sql, " AND (m.date, m.id) < (:bdate, :bid)", err);
	return rc;
}

static void bind_named(sqlite3_stmt *st, const char *name, int64_t v)
{
	int i = sqlite3_bind_parameter_index(st, name);

	if (i > 0)
		sqlite3_bind_int64(st, i, v);
}

static void bind_query(sqlite3_stmt *st, const struct qm_store_query *q)
{
	int i;

	bind_named(st, ":acct", q->account_id);
	bind_named(st, ":fid", q->folder_id);
	if ((i = sqlite3_bind_parameter_index(st, ":folder")) > 0)
		store_db_bind_text(st, i, q->folder);
	if ((i = sqlite3_bind_parameter_index(st, ":from")) > 0)
		store_db_bind_text(st, i, q->from_addr);
	if ((i = sqlite3_bind_parameter_index(st, ":text")) > 0)
		store_db_bind_text(st, i, q->text);
	bind_named(st, ":dmin", q->date_min);
	bind_named(st, ":dmax", q->date_max);
	bind_named(st, ":level", q->level);
	bind_named(st, ":fset", q->flags_set);
	bind_named(st, ":fclr", q->flags_clear);
	bind_named(st, ":bdate", q->before_date);
	bind_named(st, ":bid", q->before_id);
	bind_named(st, ":limit", q->limit > 0 ? q->limit : 50);
	bind_named(st, ":offset", q->before_id ? 0 : q->offset);
}

static enum qm_err list_sql(const struct qm_store_query *q, struct qm_buf *sql,
                            struct qm_error *err)
{
	enum qm_err rc;

	if (q->limit < 0 || q->limit > 1000 || q->offset < 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a page holds 1 to 1000 messages");
	rc = qm_buf_append_str(sql, "SELECT " MSG_COLS " FROM msg m", err);
	if (rc == QM_OK)
		rc = where(q, 1, sql, err);
	if (rc == QM_OK)
		rc = qm_buf_append_str(sql,
		                       " ORDER BY m.date DESC, m.id DESC "
		                       "LIMIT :limit OFFSET :offset",
		                       err);
	return rc;
}

/* String storage of a list: offsets while filling, pointers at the end. */
struct list_priv {
	struct qm_buf strs; /* public fields */
	struct qm_buf subj; /* secure: subjects and snippets */
	size_t *off;        /* NSTR offsets per item, SIZE_MAX for NULL */
	unsigned char (*mac)[LABEL_MACBYTES]; /* each row's stored MAC */
	unsigned char *has_mac;
	unsigned char *no_snip; /* the row has no snippet made yet */
};

/* Strings per item: folder, uidl, message_id, from, to, subject,
 * snippet, the sender's name. */
#define NSTR    8
#define OFF_SUB 5
#define OFF_SNP 6
#define OFF_NAM 7

static enum qm_err keep_text(struct qm_buf *b, sqlite3_stmt *st, int col,
                             size_t *off, struct qm_error *err)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	enum qm_err rc;

	if (!t) {
		*off = SIZE_MAX;
		return QM_OK;
	}
	*off = b->len;
	rc = qm_buf_append(b, t, (size_t)sqlite3_column_bytes(st, col), err);
	if (rc == QM_OK)
		rc = qm_buf_append_byte(b, 0, err);
	return rc;
}

static const char *at(const struct qm_buf *b, size_t off)
{
	return off == SIZE_MAX ? NULL : (const char *)b->data + off;
}

void qm_store_msglist_free(struct qm_store_msglist **lp)
{
	struct qm_store_msglist *l;
	struct list_priv *p;

	if (!lp || !*lp)
		return;
	l = *lp;
	p = l->priv;
	if (p) {
		qm_buf_free(&p->strs);
		qm_buf_free(&p->subj);
		free(p->off);
		free(p->mac);
		free(p->has_mac);
		free(p->no_snip);
		free(p);
	}
	free(l->items);
	free(l);
	*lp = NULL;
}

/* Opens sealed item kind of row id (column col of st, a blob) into the
 * page's secure strings at *off; an item that does not open (altered,
 * another row's) is left out (*off SIZE_MAX), the rest of the page is
 * shown. */
static enum qm_err open_item(struct qm_store *s, struct list_priv *p,
                             const char *kind, int64_t id, sqlite3_stmt *st,
                             int col, size_t *off, struct qm_error *err)
{
	enum qm_err rc;

	*off = p->subj.len;
	rc = store_vault_open(s, kind, id, sqlite3_column_blob(st, col),
	                      (size_t)sqlite3_column_bytes(st, col), &p->subj,
	                      err);
	if (rc == QM_ERR_AUTH) {
		p->subj.len = *off; /* nothing of it was appended */
		*off = SIZE_MAX;
		return QM_OK;
	}
	if (rc == QM_OK)
		rc = qm_buf_append_byte(&p->subj, 0, err);
	return rc;
}

/* Opens the list item of row id (column col of st: flag, subject, NUL,
 * name, NUL, snippet; snippet.c) into the page's strings: off[OFF_SUB],
 * off[OFF_NAM] and off[OFF_SNP] point into it. One that does not open
 * (altered, another row's) or does not parse leaves them SIZE_MAX. */
static enum qm_err open_list_item(struct qm_store *s, struct list_priv *p,
                                  int64_t id, sqlite3_stmt *st, int col,
                                  size_t *off, struct qm_error *err)
{
	size_t at0, o_sub, o_name, o_snp;
	enum qm_err rc;

	rc = open_item(s, p, "snippet", id, st, col, &at0, err);
	if (rc != QM_OK || at0 == SIZE_MAX)
		return rc;
	/* the item and the NUL open_item put after it */
	if (store_item_parse(p->subj.data + at0, p->subj.len - at0 - 1, &o_sub,
	                     &o_name, &o_snp) != 0) {
		qm_wipe(p->subj.data + at0, p->subj.len - at0);
		p->subj.len = at0;
		return QM_OK;
	}
	off[OFF_SUB] = o_sub != SIZE_MAX ? at0 + o_sub : SIZE_MAX;
	off[OFF_NAM] = o_name != SIZE_MAX ? at0 + o_name : SIZE_MAX;
	off[OFF_SNP] = at0 + o_snp;
	return QM_OK;
}

/* Reads row st into item i of the list l. */
static enum qm_err list_row(struct qm_store *s, sqlite3_stmt *st,
                            struct qm_store_msglist *l, struct qm_error *err)
{
	struct list_priv *p = l->priv;
	struct qm_store_msg *m = &l->items[l->n];
	size_t *off = &p->off[l->n * NSTR];
	enum qm_err rc;

	m->id = sqlite3_column_int64(st, 0);
	m->account_id = sqlite3_column_int64(st, 1);
	m->uidvalidity = sqlite3_column_int64(st, 3);
	m->uid = sqlite3_column_int64(st, 4);
	m->date = sqlite3_column_int64(st, 9);
	m->level = sqlite3_column_int(st, 10);
	m->verify = (enum qm_store_verify)sqlite3_column_int(st, 11);
	m->flags = (unsigned)sqlite3_column_int(st, 12);
	m->size = sqlite3_column_int64(st, 13);
	m->n_attach = sqlite3_column_int(st, 14);
	m->has_body = sqlite3_column_int(st, 16);
	m->has_meta = sqlite3_column_int(st, 18);
	m->body_pending = sqlite3_column_int(st, 19);
	if (sqlite3_column_bytes(st, 17) == LABEL_MACBYTES) {
		memcpy(p->mac[l->n], sqlite3_column_blob(st, 17),
		       LABEL_MACBYTES);
		p->has_mac[l->n] = 1;
	}
	rc = keep_text(&p->strs, st, 2, &off[0], err);
	if (rc == QM_OK)
		rc = keep_text(&p->strs, st, 5, &off[1], err);
	if (rc == QM_OK)
		rc = keep_text(&p->strs, st, 6, &off[2], err);
	if (rc == QM_OK)
		rc = keep_text(&p->strs, st, 7, &off[3], err);
	if (rc == QM_OK)
		rc = keep_text(&p->strs, st, 8, &off[4], err);
	off[OFF_SUB] = off[OFF_SNP] = off[OFF_NAM] = SIZE_MAX;
	if (rc != QM_OK || !s->vkey)
		return rc;
	/* the snippet: NULL not made yet (an older row), empty none; else
	 * the list item, with the subject: one item to open per row */
	if (sqlite3_column_type(st, 20) == SQLITE_NULL)
		p->no_snip[l->n] = 1;
	else if (sqlite3_column_bytes(st, 20) > 0)
		rc = open_list_item(s, p, m->id, st, 20, off, err);
	/* none, or it did not open: the subject's own item */
	if (rc == QM_OK && off[OFF_SNP] == SIZE_MAX &&
	    sqlite3_column_type(st, 15) == SQLITE_BLOB)
		rc = open_item(s, p, "subject", m->id, st, 15, &off[OFF_SUB],
		               err);
	return rc;
}

/* The snippet of listed message m (item i), whose row has none yet, made
 * from its sealed text into the page's secure strings (text: scratch). */
static enum qm_err list_make_snippet(struct qm_store *s, struct list_priv *p,
                                     const struct qm_store_msg *m, size_t i,
                                     struct qm_buf *text, struct qm_error *err)
{
	size_t *off = &p->off[i * NSTR];
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s, "SELECT text FROM msg_body WHERE msg_id = ?", &st,
	                   err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, m->id);
	src = sqlite3_step(st);
	qm_buf_reset(text);
	if (src == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_BLOB)
		rc = store_vault_open(
		    s, "text", m->id, sqlite3_column_blob(st, 0),
		    (size_t)sqlite3_column_bytes(st, 0), text, err);
	else if (src != SQLITE_ROW && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "listing messages");
	sqlite3_reset(st);
	if (rc == QM_ERR_AUTH) {
		qm_buf_reset(text); /* an altered text makes no snippet */
		rc = QM_OK;
	}
	if (rc != QM_OK || !text->len)
		return rc;
	off[OFF_SNP] = p->subj.len;
	rc = qm_store_snippet((const char *)text->data, text->len, &p->subj,
	                      err);
	if (rc == QM_OK)
		rc = qm_buf_append_byte(&p->subj, 0, err);
	return rc;
}

/* Checks each listed row's label MAC; then makes the snippets of up to
 * make rows that have none made yet. */
static enum qm_err list_finish(struct qm_store *s, struct qm_store_msglist *l,
                               size_t make, struct qm_error *err)
{
	struct list_priv *p = l->priv;
	struct qm_buf text;
	size_t made = 0;
	enum qm_err rc = QM_OK;

	for (size_t i = 0; i < l->n; i++) {
		struct qm_store_msg *m = &l->items[i];
		size_t *off = &p->off[i * NSTR];

		m->folder = at(&p->strs, off[0]);
		m->uidl = at(&p->strs, off[1]);
		m->message_id = at(&p->strs, off[2]);
		m->from_addr = at(&p->strs, off[3]);
		m->to_addrs = at(&p->strs, off[4]);
		m->label = QM_LABEL_UNCHECKED;
		if (s->lkey) {
			unsigned char mac[LABEL_MACBYTES];

			msg_label(s, m, mac);
			m->label =
			    p->has_mac[i] && store_label_same(mac, p->mac[i],
			                                      LABEL_MACBYTES)
			        ? QM_LABEL_OK
			        : QM_LABEL_ALTERED;
			/* an edited row is not trusted, whatever it says */
			if (m->label == QM_LABEL_ALTERED)
				m->verify = QM_VERIFY_TAMPERED;
		}
	}
	qm_buf_init_secure(&text, QM_STORE_MAXBLOB);
	for (size_t i = 0; rc == QM_OK && i < l->n; i++) {
		if (!p->no_snip[i] || !store_snippet_allowed(&l->items[i]) ||
		    !l->items[i].has_body || made >= make)
			continue;
		rc = list_make_snippet(s, p, &l->items[i], i, &text, err);
		made++;
	}
	qm_buf_free(&text);
	for (size_t i = 0; rc == QM_OK && i < l->n; i++) {
		struct qm_store_msg *m = &l->items[i];
		const size_t *off = &p->off[i * NSTR];

		m->subject = at(&p->subj, off[OFF_SUB]);
		m->snippet =
		    store_snippet_allowed(m) && off[OFF_SNP] != SIZE_MAX
		        ? at(&p->subj, off[OFF_SNP])
		        : "";
		/* the name as the snippet, but before the body is there */
		m->from_name =
		    m->label == QM_LABEL_OK && store_snippet_verify(m->verify)
		        ? at(&p->subj, off[OFF_NAM])
		        : NULL;
	}
	return rc;
}

/* Runs a prepared list statement into a new list, making up to make
 * snippets not made yet. */
static enum qm_err run_list(struct qm_store *s, sqlite3_stmt *st, size_t cap,
                            size_t make, struct qm_store_msglist **out,
                            struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct list_priv *p = NULL;
	size_t c1 = cap ? cap : 1;
	enum qm_err rc = QM_OK;
	int src = SQLITE_DONE;

	l = calloc(1, sizeof(*l));
	p = calloc(1, sizeof(*p));
	if (!l || !p) {
		free(l);
		free(p);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	l->priv = p;
	qm_buf_init(&p->strs, 64u * 1024 * 1024);
	qm_buf_init_secure(&p->subj, 16u * 1024 * 1024);
	l->items = calloc(c1, sizeof(*l->items));
	p->off = calloc(c1 * NSTR, sizeof(*p->off));
	p->mac = calloc(c1, sizeof(*p->mac));
	p->has_mac = calloc(c1, 1);
	p->no_snip = calloc(c1, 1);
	if (!l->items || !p->off || !p->mac || !p->has_mac || !p->no_snip) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* One guarded allocation for the page's subjects and snippets:
	 * growing a secure buffer costs a fresh mmap/mlock each time (a
	 * subject and a snippet of 200 ASCII characters fit a row's share;
	 * more room costs its wiping at every list: measured) */
	if (s->vkey) {
		rc = qm_buf_reserve(&p->subj, c1 * 384, err);
		if (rc != QM_OK)
			goto out;
	}
	while (l->n < cap && (src = sqlite3_step(st)) == SQLITE_ROW) {
		rc = list_row(s, st, l, err);
		if (rc != QM_OK)
			goto out;
		l->n++;
	}
	if (l->n < cap && src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "listing messages");
		goto out;
	}
	rc = list_finish(s, l, make, err);
	if (rc != QM_OK)
		goto out;
	*out = l;
	l = NULL;
out:
	qm_store_msglist_free(&l);
	return rc;
}

enum qm_err qm_store_msg_list(struct qm_store *s,
                              const struct qm_store_query *q,
                              struct qm_store_msglist **out,
                              struct qm_error *err)
{
	struct qm_buf sql;
	sqlite3_stmt *st = NULL;
	enum qm_err rc;
	int src;

	if (q->text) {
		rc = fts_sync(s, err);
		if (rc != QM_OK)
			return rc;
	}
	qm_buf_init(&sql, 4096);
	rc = list_sql(q, &sql, err);
	if (rc != QM_OK)
		goto out;
	src = sqlite3_prepare_v2(s->db, (const char *)sql.data, -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = store_db_fail(s, src, err, "listing messages");
		goto out;
	}
	bind_query(st, q);
	rc = run_list(s, st, (size_t)(q->limit > 0 ? q->limit : 50),
	              SNIPPET_MAKE_MAX, out, err);
	if (rc == QM_ERR_IO && q->text)
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "the search \"%s\" is not valid: use words, "
		                  "\"phrases\", AND, OR, NOT",
		                  q->text);
out:
	sqlite3_finalize(st);
	qm_buf_free(&sql);
	return rc;
}

/* Message id as a list of one, making its snippet (up to make) when the
 * row has none yet. */
static enum qm_err msg_get(struct qm_store *s, int64_t id, size_t make,
                           struct qm_store_msglist **out,
                           struct qm_error *err);

/* Keeps the snippet of message id (made from the sealed text, or none),
 * unless another handle did first. */
static enum qm_err snippet_keep(struct qm_store *s, int64_t id,
                                struct qm_buf *blob, struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = msg_get(s, id, 1, &l, err);
	qm_buf_reset(blob);
	if (rc == QM_OK)
		rc = store_snippet_seal_made(
		    s, id, l->items[0].subject, l->items[0].from_name,
		    l->items[0].snippet, strlen(l->items[0].snippet), blob,
		    err);
	qm_store_msglist_free(&l);
	if (rc == QM_OK)
		rc =
		    store_db_stmt(s,
		                  "UPDATE msg SET snippet = ? WHERE id = ? AND "
		                  "snippet IS NULL",
		                  &st, err);
	if (rc != QM_OK)
		return rc;
	bind_snippet(st, 1, blob);
	sqlite3_bind_int64(st, 2, id);
	return store_db_done(s, st, "keeping the message's snippet", err);
}

enum qm_err qm_store_msg_snippets_fill(struct qm_store *s, size_t max,
                                       int64_t *left, struct qm_error *err)
{
	struct qm_buf blob;
	sqlite3_stmt *st;
	int64_t *ids = NULL, n_left = 0;
	size_t n = 0;
	enum qm_err rc;

	rc = store_vault_need(s, err);
	if (rc != QM_OK)
		return rc;
	if (s->schema < SNIPPET_SCHEMA)
		return qm_error_set(err, QM_ERR_STATE,
		                    "the message index has no snippets yet "
		                    "(schema %d)",
		                    s->schema);
	qm_buf_init(&blob, QM_STORE_MAXBLOB + 1024); /* holds the subject */
	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		goto out_free;
	/* newest first: the rows a list shows first */
	rc = store_db_stmt(s,
	                   "SELECT id FROM msg WHERE snippet IS NULL "
	                   "ORDER BY id DESC LIMIT ?",
	                   &st, err);
	if (rc == QM_OK) {
		sqlite3_bind_int64(
		    st, 1, (int64_t)(max > INT32_MAX ? INT32_MAX : max));
		rc = store_db_collect_ids(s, st, &ids, &n, err);
	}
	for (size_t i = 0; rc == QM_OK && i < n; i++)
		rc = snippet_keep(s, ids[i], &blob, err);
	if (rc == QM_OK && left)
		rc = store_db_stmt(
		    s, "SELECT count(*) FROM msg WHERE snippet IS NULL", &st,
		    err);
	if (rc == QM_OK && left) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n_left = sqlite3_column_int64(st, 0);
		else
			rc = store_db_fail(
			    s, sqlite3_errcode(s->db), err,
			    "counting messages without a snippet");
		sqlite3_reset(st);
	}
	if (rc == QM_OK)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (rc == QM_OK && left)
		*left = n_left;
out_free:
	free(ids);
	qm_buf_free(&blob);
	return rc;
}

enum qm_err qm_store_msg_get(struct qm_store *s, int64_t id,
                             struct qm_store_msglist **out,
                             struct qm_error *err)
{
	/* the many lookups of the engine make no snippet: a row of an older
	 * home has none here until kept */
	return msg_get(s, id, 0, out, err);
}

static enum qm_err msg_get(struct qm_store *s, int64_t id, size_t make,
                           struct qm_store_msglist **out, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s, "SELECT " MSG_COLS " FROM msg m WHERE m.id = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	rc = run_list(s, st, 1, make, out, err);
	sqlite3_reset(st);
	if (rc == QM_OK && (*out)->n == 0) {
		qm_store_msglist_free(out);
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %lld",
		                  (long long)id);
	}
	return rc;
}

enum qm_err qm_store_msg_count(struct qm_store *s,
                               const struct qm_store_query *q, int64_t *n,
                               struct qm_error *err)
{
	struct qm_buf sql;
	sqlite3_stmt *st = NULL;
	enum qm_err rc;
	int src;

	qm_buf_init(&sql, 4096);
	rc = qm_buf_append_str(&sql, "SELECT count(*) FROM msg m", err);
	if (rc == QM_OK)
		rc = where(q, 0, &sql, err);
	if (rc != QM_OK)
		goto out;
	src = sqlite3_prepare_v2(s->db, (const char *)sql.data, -1, &st, NULL);
	if (src == SQLITE_OK) {
		bind_query(st, q);
		src = sqlite3_step(st);
	}
	if (src == SQLITE_ROW)
		*n = sqlite3_column_int64(st, 0);
	else
		rc = store_db_fail(s, src, err, "counting messages");
out:
	sqlite3_finalize(st);
	qm_buf_free(&sql);
	return rc;
}

enum qm_err qm_store_msg_list_plan(struct qm_store *s,
                                   const struct qm_store_query *q,
                                   struct qm_buf *out, struct qm_error *err)
{
	struct qm_buf sql;
	sqlite3_stmt *st = NULL;
	enum qm_err rc;
	int src;

	if (q->text) {
		rc = fts_sync(s, err);
		if (rc != QM_OK)
			return rc;
	}
	qm_buf_init(&sql, 4096);
	rc = qm_buf_append_str(&sql, "EXPLAIN QUERY PLAN ", err);
	if (rc == QM_OK)
		rc = list_sql(q, &sql, err);
	if (rc != QM_OK)
		goto out;
	src = sqlite3_prepare_v2(s->db, (const char *)sql.data, -1, &st, NULL);
	if (src != SQLITE_OK) {
		rc = store_db_fail(s, src, err, "explaining the list query");
		goto out;
	}
	bind_query(st, q);
	while (rc == QM_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 3);

		rc = qm_buf_appendf(out, err, "%s\n", t ? (const char *)t : "");
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "explaining the list query");
out:
	sqlite3_finalize(st);
	qm_buf_free(&sql);
	return rc;
}
