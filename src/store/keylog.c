/* SPDX-License-Identifier: MIT */
/*
 * The replay log: every key ID consumed, by account, direction and message.
 * The primary key (account, direction, key ID) makes a second use impossible
 * at the database level, whatever the caller does: an incoming message that
 * reuses a key ID is refused before decryption, and an outgoing key ID is
 * never bound to two messages. Key IDs of one local account are independent
 * of another's, since one ETSI key may be delivered to several recipients.
 */
#include <string.h>

#include "private.h"

static enum qm_err replay_error(struct qm_store *s, int64_t account_id,
                                enum qm_store_dir dir, const char *key_id,
                                struct qm_error *err)
{
	char first[QM_STORE_NAMEMAX] = "";
	sqlite3_stmt *st;

	if (store_db_stmt(s,
	                  "SELECT message_id FROM keylog WHERE account_id = ? "
	                  "AND dir = ? AND key_id = ?",
	                  &st, NULL) == QM_OK) {
		sqlite3_bind_int64(st, 1, account_id);
		sqlite3_bind_int(st, 2, (int)dir);
		store_db_bind_text(st, 3, key_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			store_db_col_text(st, 0, first, sizeof(first));
		sqlite3_reset(st);
	}
	return qm_error_set(err, QM_ERR_REPLAY,
	                    "key ID %s was already used (%s, by message %s): "
	                    "refused as a replay",
	                    key_id, dir == QM_DIR_IN ? "received" : "sent",
	                    first[0] ? first : "unknown");
}

enum qm_err store_keylog_claim(struct qm_store *s, int64_t account_id,
                               enum qm_store_dir dir,
                               const char *const *key_ids, size_t n,
                               const char *message_id, int64_t msg_id,
                               int64_t outbox_id, struct qm_error *err)
{
	sqlite3_stmt *ins, *link;
	enum qm_err rc;
	int src;

	if (n > QM_STORE_MAXKEYIDS)
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "%zu key IDs for one message is more than %d", n,
		    QM_STORE_MAXKEYIDS);
	for (size_t i = 0; i < n; i++)
		if (!key_ids[i] || !key_ids[i][0] ||
		    strnlen(key_ids[i], QM_STORE_KEYIDMAX) >= QM_STORE_KEYIDMAX)
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "key ID %zu is empty or longer than %d "
			    "bytes",
			    i, QM_STORE_KEYIDMAX - 1);
	if (n == 0)
		return QM_OK;
	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	for (size_t i = 0; i < n && rc == QM_OK; i++) {
		rc = store_db_stmt(
		    s,
		    "INSERT OR IGNORE INTO keylog (account_id, dir, "
		    "key_id, message_id, msg_id, outbox_id, at, seq) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		    &ins, err);
		if (rc != QM_OK)
			break;
		sqlite3_bind_int64(ins, 1, account_id);
		sqlite3_bind_int(ins, 2, (int)dir);
		store_db_bind_text(ins, 3, key_ids[i]);
		store_db_bind_text(ins, 4, message_id);
		if (msg_id)
			sqlite3_bind_int64(ins, 5, msg_id);
		if (outbox_id)
			sqlite3_bind_int64(ins, 6, outbox_id);
		sqlite3_bind_int64(ins, 7, qm_now());
		sqlite3_bind_int64(ins, 8, (sqlite3_int64)i);
		src = sqlite3_step(ins);
		sqlite3_reset(ins);
		if (src != SQLITE_DONE) {
			rc = store_db_fail(s, src, err, "recording a key ID");
			break;
		}
		if (sqlite3_changes(s->db) == 1)
			continue;
		/* Already there: only the claim made for this very incoming
		 * message before decryption may be tied to its index row. */
		if (!msg_id || !message_id) {
			rc = replay_error(s, account_id, dir, key_ids[i], err);
			break;
		}
		rc = store_db_stmt(
		    s,
		    "UPDATE keylog SET msg_id = ? WHERE account_id = ? "
		    "AND dir = ? AND key_id = ? AND msg_id IS NULL "
		    "AND outbox_id IS NULL AND message_id = ?",
		    &link, err);
		if (rc != QM_OK)
			break;
		sqlite3_bind_int64(link, 1, msg_id);
		sqlite3_bind_int64(link, 2, account_id);
		sqlite3_bind_int(link, 3, (int)dir);
		store_db_bind_text(link, 4, key_ids[i]);
		store_db_bind_text(link, 5, message_id);
		src = sqlite3_step(link);
		sqlite3_reset(link);
		if (src != SQLITE_DONE)
			rc = store_db_fail(s, src, err, "recording a key ID");
		else if (sqlite3_changes(s->db) != 1)
			rc = replay_error(s, account_id, dir, key_ids[i], err);
	}
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_replay_claim(struct qm_store *s, int64_t account_id,
                                  enum qm_store_dir dir,
                                  const char *const *key_ids, size_t n,
                                  const char *message_id, struct qm_error *err)
{
	return store_keylog_claim(s, account_id, dir, key_ids, n, message_id, 0,
	                          0, err);
}

enum qm_err qm_store_replay_check(struct qm_store *s, int64_t account_id,
                                  enum qm_store_dir dir, const char *key_id,
                                  struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(
	    s,
	    "SELECT 1 FROM keylog WHERE account_id = ? AND dir = ? "
	    "AND key_id = ?",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	sqlite3_bind_int(st, 2, (int)dir);
	store_db_bind_text(st, 3, key_id);
	src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src == SQLITE_ROW)
		return replay_error(s, account_id, dir, key_id, err);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "looking up a key ID");
	return QM_OK;
}
