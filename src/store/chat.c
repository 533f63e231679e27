/* SPDX-License-Identifier: MIT */
/*
 * Conversations (schema 14, docs/CHAT.md): each account's conversations,
 * keyed by participants or group ID, with the level they are held to (a
 * security label, bound with the members by the label MAC), and their
 * messages, each Message-ID once per conversation, the text sealed in the
 * vault. The client engine decides what is chat; this file only keeps it.
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define CHAT_COLS                                                              \
	"id, account_id, key, group_id, members, level, mac, removed, receipts"

/* The MAC over a conversation's labels. */
static void chat_mac(const struct qm_store *s, int64_t id, int64_t account_id,
                     const char *key, const char *members, int level,
                     int removed, int receipts,
                     unsigned char out[LABEL_MACBYTES])
{
	struct label_mac lm;

	store_label_begin(s, &lm, "chat");
	store_label_int(&lm, id);
	store_label_int(&lm, account_id);
	store_label_text(&lm, key);
	store_label_text(&lm, members);
	store_label_int(&lm, level);
	/* schema 15 and 16: each bound, with its name, only when set, so
	 * that the MAC of a conversation made before stays what it was */
	if (removed) {
		store_label_text(&lm, "removed");
		store_label_int(&lm, removed);
	}
	if (receipts) {
		store_label_text(&lm, "receipts");
		store_label_int(&lm, receipts);
	}
	store_label_end(&lm, out);
}

/* Reads a row of CHAT_COLS into *c, its labels checked while unlocked. */
static void chat_row(const struct qm_store *s, sqlite3_stmt *st,
                     struct qm_store_chat *c)
{
	unsigned char mac[LABEL_MACBYTES];

	memset(c, 0, sizeof(*c));
	c->id = sqlite3_column_int64(st, 0);
	c->account_id = sqlite3_column_int64(st, 1);
	store_db_col_text(st, 2, c->key, sizeof(c->key));
	store_db_col_text(st, 3, c->group_id, sizeof(c->group_id));
	store_db_col_text(st, 4, c->members, sizeof(c->members));
	c->level = sqlite3_column_int(st, 5);
	c->removed = sqlite3_column_int(st, 7);
	c->receipts = sqlite3_column_int(st, 8) != 0;
	if (!s->lkey) {
		c->label = QM_LABEL_UNCHECKED;
		return;
	}
	chat_mac(s, c->id, c->account_id, c->key, c->members, c->level,
	         c->removed, c->receipts, mac);
	c->label = store_label_same(mac, sqlite3_column_blob(st, 6),
	                            (size_t)sqlite3_column_bytes(st, 6))
	               ? QM_LABEL_OK
	               : QM_LABEL_ALTERED;
}

/* Writes conversation id's MAC from its row as it is now. */
static enum qm_err chat_seal(struct qm_store *s, int64_t id,
                             struct qm_error *err)
{
	struct qm_store_chat c;
	unsigned char mac[LABEL_MACBYTES];
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = qm_store_chat_get_id(s, id, &c, err);
	if (!rc)
		rc = store_db_stmt(s, "UPDATE chat SET mac = ? WHERE id = ?",
		                   &st, err);
	if (rc)
		return rc;
	chat_mac(s, c.id, c.account_id, c.key, c.members, c.level, c.removed,
	         c.receipts,
	         mac);
	sqlite3_bind_blob(st, 1, mac, sizeof(mac), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, id);
	return store_db_done(s, st, "sealing the conversation's level", err);
}

/* One conversation selected by st (bound), into *out; QM_ERR_NOTFOUND. */
static enum qm_err chat_one(struct qm_store *s, sqlite3_stmt *st,
                            struct qm_store_chat *out, struct qm_error *err)
{
	int src = sqlite3_step(st);
	enum qm_err rc = QM_OK;

	if (src == SQLITE_ROW)
		chat_row(s, st, out);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no such conversation");
	else
		rc = store_db_fail(s, src, err, "reading a conversation");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_chat_add(struct qm_store *s, const struct qm_store_chat *c,
                              int64_t *id, struct qm_error *err)
{
	sqlite3_stmt *st;
	int64_t nid;
	enum qm_err rc;

	if (c->level < 1 || c->level > 4 || !c->key[0] || !c->members[0])
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a conversation needs a key, members and a "
		                    "level from 1 to 4");
	rc = store_vault_need(s, err);
	if (!rc)
		rc = store_db_begin(s, err);
	if (rc)
		return rc;
	rc = store_db_stmt(s,
	                   "INSERT INTO chat (account_id, key, group_id, "
	                   "members, level) VALUES (?, ?, ?, ?, ?)",
	                   &st, err);
	if (rc)
		goto out;
	sqlite3_bind_int64(st, 1, c->account_id);
	store_db_bind_text(st, 2, c->key);
	store_db_bind_text(st, 3, c->group_id);
	store_db_bind_text(st, 4, c->members);
	sqlite3_bind_int(st, 5, c->level);
	if (sqlite3_step(st) != SQLITE_DONE) {
		int x = sqlite3_extended_errcode(s->db);

		sqlite3_reset(st);
		rc = x == SQLITE_CONSTRAINT_UNIQUE
		         ? qm_error_set(err, QM_ERR_EXISTS,
		                        "the conversation exists already")
		         : store_db_fail(s, x, err, "adding a conversation");
		goto out;
	}
	sqlite3_reset(st);
	nid = sqlite3_last_insert_rowid(s->db);
	rc = chat_seal(s, nid, err);
	if (!rc)
		rc = store_db_commit(s, err);
	if (!rc && id)
		*id = nid;
out:
	if (rc)
		store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_chat_get(struct qm_store *s, int64_t account_id,
                              const char *key, struct qm_store_chat *out,
                              struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "SELECT " CHAT_COLS
	                   " FROM chat WHERE account_id = ? AND key = ?",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, key);
	return chat_one(s, st, out, err);
}

enum qm_err qm_store_chat_get_id(struct qm_store *s, int64_t id,
                                 struct qm_store_chat *out,
                                 struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s, "SELECT " CHAT_COLS " FROM chat WHERE id = ?",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return chat_one(s, st, out, err);
}

enum qm_err qm_store_chat_group_find(struct qm_store *s, int64_t account_id,
                                     const char *members,
                                     struct qm_store_chat *out,
                                     struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "SELECT " CHAT_COLS
	                   " FROM chat WHERE account_id = ? AND members = ? "
	                   "AND group_id <> '' ORDER BY id DESC LIMIT 1",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, members);
	return chat_one(s, st, out, err);
}

/* Sets one labelled column of conversation id (sql binds the value, then
 * the id) and seals its MAC again, in one transaction. */
static enum qm_err chat_set_int(struct qm_store *s, int64_t id, const char *sql,
                                int value, const char *what,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_vault_need(s, err);
	if (!rc)
		rc = store_db_begin(s, err);
	if (rc)
		return rc;
	rc = store_db_stmt(s, sql, &st, err);
	if (!rc) {
		sqlite3_bind_int(st, 1, value);
		sqlite3_bind_int64(st, 2, id);
		rc = store_db_done_one(s, st, what, "conversation", id, err);
	}
	if (!rc)
		rc = chat_seal(s, id, err);
	if (!rc)
		rc = store_db_commit(s, err);
	if (rc)
		store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_chat_level_set(struct qm_store *s, int64_t id, int level,
                                    struct qm_error *err)
{
	if (level < 1 || level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a level is 1, 2, 3 or 4, not %d", level);
	return chat_set_int(s, id, "UPDATE chat SET level = ? WHERE id = ?",
	                    level, "setting the conversation's level", err);
}

enum qm_err qm_store_chat_receipts_set(struct qm_store *s, int64_t id, int on,
                                       struct qm_error *err)
{
	return chat_set_int(s, id, "UPDATE chat SET receipts = ? WHERE id = ?",
	                    on ? 1 : 0, "setting the read receipts", err);
}

enum qm_err qm_store_chat_list(struct qm_store *s, int64_t account_id,
                               struct qm_store_chat **out, size_t *n,
                               struct qm_error *err)
{
	struct qm_store_chat *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(
	    s,
	    "SELECT c.id, c.account_id, c.key, c.group_id, c.members, "
	    /* kind 3 (QM_CHAT_RECEIPT): a receipt is never a line */
	    "c.level, c.mac, c.removed, c.receipts, (SELECT max(at) FROM "
	    "chat_msg m WHERE m.chat_id = c.id AND m.kind <> 3), (SELECT "
	    "count(*) FROM chat_msg m WHERE m.chat_id = c.id AND m.kind <> 3), "
	    "(SELECT count(*) FROM chat_msg m WHERE m.chat_id = c.id AND "
	    "m.kind <> 3 AND m.outbox_id IS NULL AND m.seen = 0) AS unread "
	    "FROM chat c "
	    "WHERE ?1 = 0 OR c.account_id = ?1 ORDER BY 10 DESC, c.id DESC",
	    &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(v, &cap, cnt, 8, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		chat_row(s, st, &v[cnt]);
		v[cnt].last_at = sqlite3_column_int64(st, 9);
		v[cnt].n_msgs = (size_t)sqlite3_column_int64(st, 10);
		v[cnt].unread = (size_t)sqlite3_column_int64(st, 11);
		cnt++;
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "listing conversations");
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

/* The vault kind of a line's text: a membership change is sealed apart,
 * so a kind edited on disk opens no text. */
static const char *line_kind(int kind)
{
	return kind == QM_CHAT_TEXT ? "chat" : "chatsys";
}

enum qm_err qm_store_chat_msg_add(struct qm_store *s,
                                  const struct qm_store_chat_msg *m,
                                  const char *text, int *added,
                                  struct qm_error *err)
{
	struct qm_buf sealed;
	sqlite3_stmt *st;
	int64_t id;
	enum qm_err rc;

	if (added)
		*added = 0;
	rc = store_check_len("Message-ID", m->message_id, sizeof(m->message_id),
	                     err);
	if (!rc)
		rc = store_vault_need(s, err);
	if (!rc)
		rc = store_db_begin(s, err);
	if (rc)
		return rc;
	qm_buf_init(&sealed, QM_STORE_MAXBLOB);
	rc = store_db_stmt(s,
	                   "INSERT OR IGNORE INTO chat_msg (chat_id, "
	                   "message_id, sender, at, level, msg_id, outbox_id, "
	                   "seen, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                   &st, err);
	if (rc)
		goto out;
	sqlite3_bind_int64(st, 1, m->chat_id);
	store_db_bind_text(st, 2, m->message_id);
	store_db_bind_text(st, 3, m->sender);
	sqlite3_bind_int64(st, 4, m->at);
	sqlite3_bind_int(st, 5, m->level);
	if (m->msg_id)
		sqlite3_bind_int64(st, 6, m->msg_id);
	if (m->outbox_id)
		sqlite3_bind_int64(st, 7, m->outbox_id);
	sqlite3_bind_int(st, 8, m->seen);
	sqlite3_bind_int(st, 9, m->kind);
	rc = store_db_done(s, st, "adding a chat message", err);
	if (rc || sqlite3_changes(s->db) == 0)
		goto out; /* this Message-ID is there already */
	id = sqlite3_last_insert_rowid(s->db);
	rc = store_vault_seal(s, line_kind(m->kind), id, text ? text : "",
	                      text ? strlen(text) : 0, &sealed, err);
	if (!rc)
		rc = store_db_stmt(
		    s, "UPDATE chat_msg SET text = ? WHERE id = ?", &st, err);
	if (rc)
		goto out;
	sqlite3_bind_blob(st, 1, sealed.data, (int)sealed.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	rc = store_db_done(s, st, "sealing a chat message", err);
	if (!rc && m->att && *m->att)
		rc = store_chat_att_seal(s, id, m->att, err);
	if (!rc && added)
		*added = 1;
out:
	if (!rc)
		rc = store_db_commit(s, err);
	if (rc) {
		store_db_rollback(s);
		if (added)
			*added = 0;
	}
	qm_buf_free(&sealed);
	return rc;
}

#define MSG_COLS                                                               \
	"m.id, m.chat_id, m.message_id, m.sender, m.at, m.level, m.msg_id, "   \
	"m.outbox_id, m.seen, m.moved, m.text, m.kind, m.read_at, m.att"

static void msg_row(sqlite3_stmt *st, struct qm_store_chat_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->id = sqlite3_column_int64(st, 0);
	m->chat_id = sqlite3_column_int64(st, 1);
	store_db_col_text(st, 2, m->message_id, sizeof(m->message_id));
	store_db_col_text(st, 3, m->sender, sizeof(m->sender));
	m->at = sqlite3_column_int64(st, 4);
	m->level = sqlite3_column_int(st, 5);
	m->msg_id = sqlite3_column_int64(st, 6);
	m->outbox_id = sqlite3_column_int64(st, 7);
	m->seen = sqlite3_column_int(st, 8);
	m->moved = sqlite3_column_int(st, 9);
	m->kind = sqlite3_column_int(st, 11);
	m->read_at = sqlite3_column_int64(st, 12);
}

enum qm_err qm_store_chat_msg_find(struct qm_store *s, int64_t account_id,
                                   const char *message_id,
                                   struct qm_store_chat_msg *out,
                                   struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT " MSG_COLS " FROM chat_msg m JOIN chat c ON "
	                   "c.id = m.chat_id WHERE m.message_id = ? AND "
	                   "c.account_id = ? ORDER BY m.id LIMIT 1",
	                   &st, err);
	if (rc)
		return rc;
	store_db_bind_text(st, 1, message_id);
	sqlite3_bind_int64(st, 2, account_id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		msg_row(st, out);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no chat message %s",
		                  message_id);
	else
		rc = store_db_fail(s, src, err, "finding a chat message");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_chat_msg_link(struct qm_store *s, int64_t id,
                                   int64_t msg_id, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "UPDATE chat_msg SET msg_id = ?, moved = 0 WHERE "
	                   "id = ?",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, msg_id);
	sqlite3_bind_int64(st, 2, id);
	return store_db_done_one(s, st, "linking a chat message",
	                         "chat message", id, err);
}

void qm_store_chat_msgs_free(struct qm_store_chat_msg **pm, size_t n)
{
	struct qm_store_chat_msg *m = pm ? *pm : NULL;

	if (!m)
		return;
	for (size_t i = 0; i < n; i++) {
		if (m[i].text) {
			qm_wipe(m[i].text, strlen(m[i].text));
			free(m[i].text);
		}
		if (m[i].att) {
			qm_wipe(m[i].att, strlen(m[i].att));
			free(m[i].att);
		}
	}
	free(m);
	*pm = NULL;
}

/* Opens the sealed text of row m (column 10 of st) into m->text; a text
 * that does not open is left NULL. */
static enum qm_err msg_text(struct qm_store *s, sqlite3_stmt *st,
                            struct qm_store_chat_msg *m, struct qm_error *err)
{
	struct qm_buf pt;
	struct qm_error e2;
	enum qm_err rc = QM_OK;

	if (sqlite3_column_type(st, 10) != SQLITE_BLOB)
		return QM_OK;
	qm_buf_init_secure(&pt, QM_STORE_MAXBLOB);
	qm_error_clear(&e2);
	if (store_vault_open(
	        s, line_kind(m->kind), m->id, sqlite3_column_blob(st, 10),
	        (size_t)sqlite3_column_bytes(st, 10), &pt, &e2) == QM_OK) {
		m->text = malloc(pt.len + 1);
		if (!m->text)
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		else {
			if (pt.len)
				memcpy(m->text, pt.data, pt.len);
			m->text[pt.len] = '\0';
		}
	}
	qm_buf_free(&pt);
	return rc;
}

enum qm_err qm_store_chat_msgs(struct qm_store *s, int64_t chat_id,
                               struct qm_store_chat_msg **out, size_t *n,
                               struct qm_error *err)
{
	struct qm_store_chat_msg *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_vault_need(s, err);
	if (!rc)
		rc =
		    store_db_stmt(s,
		                  "SELECT " MSG_COLS " FROM chat_msg m WHERE "
		                  "m.chat_id = ? AND m.kind <> 3 ORDER BY m.at, "
		                  "m.id",
		                  &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, chat_id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		nv = store_db_grow(v, &cap, cnt, 16, sizeof(*v));
		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		msg_row(st, &v[cnt]);
		cnt++;
		if ((rc = msg_text(s, st, &v[cnt - 1], err)) ||
		    (rc = store_chat_att_open(
		         s, v[cnt - 1].id, sqlite3_column_blob(st, 13),
		         (size_t)sqlite3_column_bytes(st, 13), &v[cnt - 1].att,
		         err)))
			goto out;
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "reading a conversation");
		goto out;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
out:
	sqlite3_reset(st);
	qm_store_chat_msgs_free(&v, cnt);
	return rc;
}

enum qm_err qm_store_chat_seen(struct qm_store *s, int64_t chat_id,
                               int64_t **msg_ids, size_t *n,
                               struct qm_error *err)
{
	int64_t *ids = NULL;
	size_t k = 0;
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_begin(s, err);
	if (rc)
		return rc;
	rc = store_db_stmt(s,
	                   "SELECT msg_id FROM chat_msg WHERE chat_id = ? AND "
	                   "outbox_id IS NULL AND seen = 0 AND msg_id IS NOT "
	                   "NULL AND kind <> 3 ORDER BY id",
	                   &st, err);
	if (!rc) {
		sqlite3_bind_int64(st, 1, chat_id);
		rc = store_db_collect_ids(s, st, &ids, &k, err);
	}
	if (!rc)
		rc = store_db_stmt(
		    s,
		    "UPDATE chat_msg SET seen = 1 WHERE chat_id = "
		    "? AND outbox_id IS NULL AND seen = 0 AND kind <> 3",
		    &st, err);
	if (!rc) {
		sqlite3_bind_int64(st, 1, chat_id);
		rc = store_db_done(s, st, "marking a conversation read", err);
	}
	if (!rc)
		rc = store_db_commit(s, err);
	if (rc) {
		store_db_rollback(s);
		free(ids);
		return rc;
	}
	if (msg_ids) {
		*msg_ids = ids;
		*n = k;
	} else {
		free(ids);
	}
	return QM_OK;
}

enum qm_err qm_store_chat_unmoved(struct qm_store *s, int64_t account_id,
                                  int64_t **msg_ids, size_t *n,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "SELECT DISTINCT m.msg_id FROM chat_msg m JOIN chat "
	                   "c ON c.id = m.chat_id WHERE m.moved = 0 AND "
	                   "m.msg_id IS NOT NULL AND c.account_id = ? ORDER BY "
	                   "m.msg_id",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	return store_db_collect_ids(s, st, msg_ids, n, err);
}

enum qm_err qm_store_chat_moved(struct qm_store *s, int64_t msg_id,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s, "UPDATE chat_msg SET moved = 1 WHERE msg_id = ?",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, msg_id);
	return store_db_done(s, st, "noting a chat message moved", err);
}

enum qm_err qm_store_chat_scan_get(struct qm_store *s, int64_t account_id,
                                   int64_t *last, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT last_msg_id FROM chat_scan WHERE "
	                   "account_id = ?",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*last = sqlite3_column_int64(st, 0);
	else if (src == SQLITE_DONE)
		*last = 0;
	else
		rc = store_db_fail(s, src, err, "reading the chat watermark");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_chat_scan_set(struct qm_store *s, int64_t account_id,
                                   int64_t last, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "INSERT INTO chat_scan (account_id, last_msg_id) "
	                   "VALUES (?1, ?2) ON CONFLICT (account_id) DO UPDATE "
	                   "SET last_msg_id = max(last_msg_id, ?2)",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, last);
	return store_db_done(s, st, "storing the chat watermark", err);
}

enum qm_err qm_store_chat_candidates(struct qm_store *s, int64_t account_id,
                                     int64_t after_id, size_t max,
                                     int64_t **ids, size_t *n,
                                     struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "SELECT id FROM msg WHERE account_id = ? AND id > ? "
	                   "AND level > 0 AND verify IN (?, ?) ORDER BY id "
	                   "LIMIT ?",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int64(st, 2, after_id);
	sqlite3_bind_int(st, 3, QM_VERIFY_OK);
	sqlite3_bind_int(st, 4, QM_VERIFY_SENT);
	sqlite3_bind_int64(st, 5, (int64_t)max);
	return store_db_collect_ids(s, st, ids, n, err);
}

enum qm_err qm_store_chat_change(struct qm_store *s,
                                 const struct qm_store_chat_msg *m,
                                 const char *addr, const char *members,
                                 int removed, int *added, struct qm_error *err)
{
	sqlite3_stmt *st;
	int one = 0;
	enum qm_err rc;

	if (added)
		*added = 0;
	if (m->kind != QM_CHAT_MEMBER_ADDED &&
	    m->kind != QM_CHAT_MEMBER_REMOVED)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a membership change adds or removes");
	rc = store_vault_need(s, err);
	if (!rc)
		rc = store_db_begin(s, err);
	if (rc)
		return rc;
	/* the line first: a Message-ID seen before changes nothing again */
	rc = qm_store_chat_msg_add(s, m, addr, &one, err);
	if (rc || !one)
		goto out;
	rc = store_db_stmt(
	    s, "UPDATE chat SET members = ?, removed = ? WHERE id = ?", &st,
	    err);
	if (!rc) {
		store_db_bind_text(st, 1, members);
		sqlite3_bind_int(st, 2, removed ? 1 : 0);
		sqlite3_bind_int64(st, 3, m->chat_id);
		rc = store_db_done_one(s, st, "changing a group's members",
		                       "conversation", m->chat_id, err);
	}
	if (!rc)
		rc = chat_seal(s, m->chat_id, err);
out:
	if (!rc)
		rc = store_db_commit(s, err);
	else
		store_db_rollback(s);
	if (!rc && added)
		*added = one;
	return rc;
}
