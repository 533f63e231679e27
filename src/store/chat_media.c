/* SPDX-License-Identifier: MIT */
/*
 * Chat media and read state (schema 16, docs/CHAT.md "Attachments" and
 * "Read receipts"): the sealed list of a chat message's attachments, the
 * read state a member's receipt gives a message this home sent, and the
 * Message-IDs a receipt names. The client engine decides who may mark
 * what read; this file only keeps it.
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

enum qm_err store_chat_att_seal(struct qm_store *s, int64_t id,
                                const char *list, struct qm_error *err)
{
	struct qm_buf sealed;
	sqlite3_stmt *st;
	enum qm_err rc;

	qm_buf_init(&sealed, QM_STORE_MAXBLOB);
	rc = store_vault_seal(s, "chatatt", id, list, strlen(list), &sealed,
	                      err);
	if (!rc)
		rc = store_db_stmt(
		    s, "UPDATE chat_msg SET att = ? WHERE id = ?", &st, err);
	if (!rc) {
		sqlite3_bind_blob(st, 1, sealed.data, (int)sealed.len,
		                  SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, id);
		rc = store_db_done(s, st,
		                   "sealing a chat message's attachments", err);
	}
	qm_buf_free(&sealed);
	return rc;
}

enum qm_err store_chat_att_open(struct qm_store *s, int64_t id,
                                const void *blob, size_t len, char **out,
                                struct qm_error *err)
{
	struct qm_buf pt;
	struct qm_error e2;
	enum qm_err rc = QM_OK;

	*out = NULL;
	if (!blob || !len)
		return QM_OK;
	qm_buf_init_secure(&pt, QM_STORE_MAXBLOB);
	qm_error_clear(&e2);
	if (store_vault_open(s, "chatatt", id, blob, len, &pt, &e2) == QM_OK) {
		if (!(*out = malloc(pt.len + 1)))
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		else {
			if (pt.len)
				memcpy(*out, pt.data, pt.len);
			(*out)[pt.len] = '\0';
		}
	}
	qm_buf_free(&pt);
	return rc;
}

enum qm_err qm_store_chat_msg_get(struct qm_store *s, int64_t id,
                                  struct qm_store_chat_msg *out,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	memset(out, 0, sizeof(*out));
	rc = store_vault_need(s, err);
	if (!rc)
		rc = store_db_stmt(
		    s,
		    "SELECT id, chat_id, message_id, sender, at, "
		    "level, msg_id, outbox_id, seen, moved, kind, "
		    "read_at, att FROM chat_msg WHERE id = ?",
		    &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		out->id = sqlite3_column_int64(st, 0);
		out->chat_id = sqlite3_column_int64(st, 1);
		store_db_col_text(st, 2, out->message_id,
		                  sizeof(out->message_id));
		store_db_col_text(st, 3, out->sender, sizeof(out->sender));
		out->at = sqlite3_column_int64(st, 4);
		out->level = sqlite3_column_int(st, 5);
		out->msg_id = sqlite3_column_int64(st, 6);
		out->outbox_id = sqlite3_column_int64(st, 7);
		out->seen = sqlite3_column_int(st, 8);
		out->moved = sqlite3_column_int(st, 9);
		out->kind = sqlite3_column_int(st, 10);
		out->read_at = sqlite3_column_int64(st, 11);
		rc = store_chat_att_open(
		    s, out->id, sqlite3_column_blob(st, 12),
		    (size_t)sqlite3_column_bytes(st, 12), &out->att, err);
	} else if (src == SQLITE_DONE) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no chat message %lld",
		                  (long long)id);
	} else {
		rc = store_db_fail(s, src, err, "reading a chat message");
	}
	sqlite3_reset(st);
	return rc;
}

void qm_store_chat_mids_free(char ***pm, size_t n)
{
	char **m = pm ? *pm : NULL;

	if (!m)
		return;
	for (size_t i = 0; i < n; i++)
		free(m[i]);
	free(m);
	*pm = NULL;
}

enum qm_err qm_store_chat_unseen_mids(struct qm_store *s, int64_t chat_id,
                                      char ***mids, size_t *n,
                                      struct qm_error *err)
{
	char **v = NULL, **nv;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	*mids = NULL;
	*n = 0;
	rc = store_db_stmt(s,
	                   "SELECT message_id FROM chat_msg WHERE chat_id = ? "
	                   "AND outbox_id IS NULL AND seen = 0 AND kind = 0 " /* QM_CHAT_TEXT */
	                   "ORDER BY at, id",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, chat_id);
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		nv = store_db_grow(v, &cap, cnt, 16, sizeof(*v));
		if (!nv || !(nv[cnt] = strdup(t ? (const char *)t : ""))) {
			if (nv)
				v = nv;
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		v = nv;
		cnt++;
	}
	if (src != SQLITE_DONE) {
		rc = store_db_fail(s, src, err, "reading a conversation");
		goto out;
	}
	*mids = v;
	*n = cnt;
	v = NULL;
	cnt = 0;
out:
	sqlite3_reset(st);
	qm_store_chat_mids_free(&v, cnt);
	return rc;
}

enum qm_err qm_store_chat_msg_read(struct qm_store *s, int64_t chat_id,
                                   const char *message_id, int64_t at,
                                   int *changed, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	if (changed)
		*changed = 0;
	rc = store_db_stmt(s,
	                   "UPDATE chat_msg SET read_at = ? WHERE chat_id = ? "
	                   "AND message_id = ? AND outbox_id IS NOT NULL AND "
	                   "kind = 0 AND read_at = 0",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, at > 0 ? at : 1);
	sqlite3_bind_int64(st, 2, chat_id);
	store_db_bind_text(st, 3, message_id);
	rc = store_db_done(s, st, "noting a chat message read", err);
	if (!rc && changed)
		*changed = sqlite3_changes(s->db) > 0;
	return rc;
}
