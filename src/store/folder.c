/* SPDX-License-Identifier: MIT */
/*
 * Folders of an account's IMAP server and the places of messages in them
 * (schema 6): a folder row keeps the server's name, how to show it, its
 * special use and subscription, and where its last sync stopped
 * (UIDVALIDITY, highest mod-sequence, last UID); a place says that a
 * message filed once is at a UID of a folder, with the server's flags as
 * of the last sync, so that one message can be in several folders and a
 * local flag change can be told from a server's. Rows carry no label MAC
 * (store.h says why).
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define FOLDER_COLS                                                            \
	"id, account_id, name, display, delim, special_use, subscribed, "      \
	"selectable, uidvalidity, highestmodseq, lastuid"

void qm_store_folder_clear(struct qm_store_folder *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->display);
	memset(f, 0, sizeof(*f));
}

void qm_store_folders_free(struct qm_store_folder **v, size_t n)
{
	if (!v || !*v)
		return;
	for (size_t i = 0; i < n; i++)
		qm_store_folder_clear(&(*v)[i]);
	free(*v);
	*v = NULL;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	return strdup(t ? t : "");
}

/* The row st is on (FOLDER_COLS first) into *f. */
static enum qm_err folder_row(sqlite3_stmt *st, struct qm_store_folder *f,
                              struct qm_error *err)
{
	const char *d;

	memset(f, 0, sizeof(*f));
	f->id = sqlite3_column_int64(st, 0);
	f->account_id = sqlite3_column_int64(st, 1);
	f->name = col_dup(st, 2);
	f->display = col_dup(st, 3);
	d = (const char *)sqlite3_column_text(st, 4);
	f->delim = d ? d[0] : '\0';
	f->use = (enum qm_store_folder_use)sqlite3_column_int(st, 5);
	f->subscribed = sqlite3_column_int(st, 6);
	f->selectable = sqlite3_column_int(st, 7);
	f->uidvalidity = sqlite3_column_int64(st, 8);
	f->highestmodseq = sqlite3_column_int64(st, 9);
	f->lastuid = sqlite3_column_int64(st, 10);
	if (f->name && f->display)
		return QM_OK;
	qm_store_folder_clear(f);
	return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
}

/* Runs st (bound, no rows) once; what names the step in errors. */
static enum qm_err step_done(struct qm_store *s, sqlite3_stmt *st,
                             const char *what, struct qm_error *err)
{
	int src = sqlite3_step(st);

	sqlite3_reset(st);
	if (src == SQLITE_CONSTRAINT)
		return qm_error_set(err, QM_ERR_EXISTS,
		                    "%s: already there, "
		                    "or what it names is gone",
		                    what);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, what);
	return QM_OK;
}

enum qm_err qm_store_folder_put(struct qm_store *s,
                                const struct qm_store_folder *f, int64_t *id,
                                struct qm_error *err)
{
	char delim[2] = {f->delim, '\0'};
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	if (!f->name || !f->name[0])
		return qm_error_set(err, QM_ERR_INVAL, "a folder needs a name");
	rc = store_check_len("the folder name", f->name, QM_STORE_FOLDERMAX + 1,
	                     err);
	if (rc == QM_OK)
		rc = store_check_len("the folder's display name", f->display,
		                     QM_STORE_FOLDERDISPMAX + 1, err);
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s,
		    "INSERT INTO folder (account_id, name, display, delim, "
		    "special_use, subscribed, selectable) VALUES (?, ?, ?, ?, "
		    "?, ?, ?) ON CONFLICT (account_id, name) DO UPDATE SET "
		    "display = excluded.display, delim = excluded.delim, "
		    "special_use = excluded.special_use, subscribed = "
		    "excluded.subscribed, selectable = excluded.selectable "
		    "RETURNING id",
		    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, f->account_id);
	store_db_bind_text(st, 2, f->name);
	store_db_bind_text(st, 3, f->display ? f->display : f->name);
	store_db_bind_text(st, 4, delim);
	sqlite3_bind_int(st, 5, (int)f->use);
	sqlite3_bind_int(st, 6, f->subscribed ? 1 : 0);
	sqlite3_bind_int(st, 7, f->selectable ? 1 : 0);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW && id)
		*id = sqlite3_column_int64(st, 0);
	if (src == SQLITE_ROW)
		src = sqlite3_step(st);
	sqlite3_reset(st);
	if (src == SQLITE_CONSTRAINT)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "there is no account "
		                    "%lld",
		                    (long long)f->account_id);
	if (src != SQLITE_DONE)
		return store_db_fail(s, src, err, "keeping a folder");
	return QM_OK;
}

enum qm_err qm_store_folder_get(struct qm_store *s, int64_t account_id,
                                const char *name, struct qm_store_folder *out,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT " FOLDER_COLS " FROM folder WHERE "
	                   "account_id = ? AND name = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	store_db_bind_text(st, 2, name);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		rc = folder_row(st, out, err);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "there is no folder %s",
		                  name);
	else
		rc = store_db_fail(s, src, err, "reading a folder");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_folder_list(struct qm_store *s, int64_t account_id,
                                 struct qm_store_folder **out, size_t *n,
                                 struct qm_error *err)
{
	struct qm_store_folder *v = NULL;
	size_t cap = 0, k = 0;
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	*out = NULL;
	*n = 0;
	rc = store_db_stmt(
	    s,
	    "SELECT f.id, f.account_id, f.name, f.display, f.delim, "
	    "f.special_use, f.subscribed, f.selectable, f.uidvalidity, "
	    "f.highestmodseq, f.lastuid, count(m.id), "
	    "coalesce(sum((m.flags & 1) = 0), 0) FROM folder f "
	    "LEFT JOIN msg_place p ON p.folder_id = f.id "
	    "LEFT JOIN msg m ON m.id = p.msg_id "
	    "WHERE f.account_id = ? GROUP BY f.id ORDER BY f.name",
	    &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, account_id);
	while (rc == QM_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
		void *nv = store_db_grow(v, &cap, k, 16, sizeof(*v));

		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			break;
		}
		v = nv;
		rc = folder_row(st, &v[k], err);
		if (rc != QM_OK)
			break;
		v[k].total = sqlite3_column_int64(st, 11);
		v[k].unread = sqlite3_column_int64(st, 12);
		k++;
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "listing folders");
	sqlite3_reset(st);
	if (rc != QM_OK) {
		qm_store_folders_free(&v, k);
		return rc;
	}
	*out = v;
	*n = k;
	return QM_OK;
}

enum qm_err qm_store_folder_state_set(struct qm_store *s, int64_t id,
                                      int64_t uidvalidity,
                                      int64_t highestmodseq, int64_t lastuid,
                                      struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s,
	                   "UPDATE folder SET uidvalidity = ?, highestmodseq "
	                   "= ?, lastuid = ? WHERE id = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, uidvalidity);
	sqlite3_bind_int64(st, 2, highestmodseq);
	sqlite3_bind_int64(st, 3, lastuid);
	sqlite3_bind_int64(st, 4, id);
	return store_db_done_one(s, st, "keeping a folder's sync state",
	                         "folder", id, err);
}

/* Deletes the places of folder id (the messages stay). */
static enum qm_err places_drop(struct qm_store *s, int64_t id,
                               struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s, "DELETE FROM msg_place WHERE folder_id = ?", &st,
	                   err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return step_done(s, st, "forgetting a folder's messages", err);
}

enum qm_err qm_store_folder_reset(struct qm_store *s, int64_t id,
                                  int64_t uidvalidity, struct qm_error *err)
{
	enum qm_err rc = store_db_begin(s, err);

	if (rc != QM_OK)
		return rc;
	rc = places_drop(s, id, err);
	if (rc == QM_OK)
		rc = qm_store_folder_state_set(s, id, uidvalidity, 0, 0, err);
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_folder_forget(struct qm_store *s, int64_t id,
                                   struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc = store_db_begin(s, err);

	if (rc != QM_OK)
		return rc;
	rc = places_drop(s, id, err);
	if (rc == QM_OK)
		rc = store_db_stmt(s, "DELETE FROM folder WHERE id = ?", &st,
		                   err);
	if (rc == QM_OK) {
		sqlite3_bind_int64(st, 1, id);
		rc = step_done(s, st, "forgetting a folder", err);
	}
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

/* The folders of account acct named name or under it (name, delim,
 * anything), as a WHERE clause on folder with ?1 the account, ?3 the
 * delimiter ('' when flat) and ?N the name. */
#define UNDER(n)                                                               \
	"account_id = ?1 AND (name = ?" n " OR (?3 <> '' AND "                 \
	"substr(name, 1, length(?" n ") + 1) = ?" n " || ?3))"

/* Runs one statement of the rename with its four parameters bound. */
static enum qm_err rename_step(struct qm_store *s, const char *sql,
                               int64_t acct, const char *from, const char *to,
                               const char *delim, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc = store_db_stmt(s, sql, &st, err);

	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, acct);
	store_db_bind_text(st, 2, from);
	store_db_bind_text(st, 3, delim);
	store_db_bind_text(st, 4, to);
	return step_done(s, st, "renaming a folder", err);
}

enum qm_err qm_store_folder_rename(struct qm_store *s, int64_t account_id,
                                   const char *from, const char *to, char delim,
                                   struct qm_error *err)
{
	char d[2] = {delim, '\0'};
	enum qm_err rc;

	if (!from || !*from || !to || !*to)
		return qm_error_set(err, QM_ERR_INVAL, "a folder needs a name");
	rc =
	    store_check_len("the folder name", to, QM_STORE_FOLDERMAX + 1, err);
	if (rc == QM_OK)
		rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	/* rows left under the new name (a folder the server dropped that
	 * no listing has forgotten yet) give way */
	rc = rename_step(s,
	                 "DELETE FROM msg_place WHERE folder_id IN (SELECT id "
	                 "FROM folder WHERE " UNDER("4") ")",
	                 account_id, from, to, d, err);
	if (rc == QM_OK)
		rc = rename_step(s, "DELETE FROM folder WHERE " UNDER("4"),
		                 account_id, from, to, d, err);
	if (rc == QM_OK)
		rc = rename_step(
		    s,
		    "UPDATE folder SET name = ?4 || substr(name, "
		    "length(?2) + 1), display = ?4 || "
		    "substr(name, length(?2) + 1) WHERE " UNDER("2"),
		    account_id, from, to, d, err);
	if (rc == QM_OK && sqlite3_changes(s->db) == 0)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no folder %s", from);
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

/* ------------------------------------------------------------- places */

enum qm_err qm_store_place_find(struct qm_store *s, int64_t folder_id,
                                int64_t uid, int64_t *msg_id,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;
	int src;

	rc = store_db_stmt(s,
	                   "SELECT msg_id FROM msg_place WHERE folder_id = ? "
	                   "AND uid = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, uid);
	src = sqlite3_step(st);
	if (src == SQLITE_ROW)
		*msg_id = sqlite3_column_int64(st, 0);
	else if (src == SQLITE_DONE)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "no message at UID %lld of folder %lld",
		                  (long long)uid, (long long)folder_id);
	else
		rc = store_db_fail(s, src, err, "finding a message's place");
	sqlite3_reset(st);
	return rc;
}

enum qm_err qm_store_place_add(struct qm_store *s, int64_t folder_id,
                               int64_t uid, int64_t msg_id, unsigned flags,
                               struct qm_error *err)
{
	sqlite3_stmt *st;
	int64_t holder = 0;
	enum qm_err rc;

	if (uid <= 0 || uid > UINT32_MAX)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a UID is a number from 1 to 4294967295");
	rc = qm_store_place_find(s, folder_id, uid, &holder, NULL);
	if (rc == QM_OK && holder != msg_id)
		return qm_error_set(err, QM_ERR_EXISTS,
		                    "UID %lld of folder %lld holds message "
		                    "%lld already",
		                    (long long)uid, (long long)folder_id,
		                    (long long)holder);
	rc = store_db_stmt(s,
	                   holder ? "UPDATE msg_place SET flags = ?3 WHERE "
	                            "folder_id = ?1 AND uid = ?2"
	                          : "INSERT INTO msg_place (folder_id, uid, "
	                            "msg_id, flags) VALUES (?1, ?2, ?4, ?3)",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_int(st, 3, (int)flags);
	if (!holder)
		sqlite3_bind_int64(st, 4, msg_id);
	rc = step_done(s, st, "keeping a message's place", err);
	if (rc == QM_ERR_EXISTS)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "message %lld or folder %lld does not exist",
		                  (long long)msg_id, (long long)folder_id);
	return rc;
}

/* Collects the places st (bound) lists. */
static enum qm_err places_collect(struct qm_store *s, sqlite3_stmt *st,
                                  struct qm_store_place **out, size_t *n,
                                  struct qm_error *err)
{
	struct qm_store_place *v = NULL;
	size_t cap = 0, k = 0;
	enum qm_err rc = QM_OK;
	int src;

	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		void *nv = store_db_grow(v, &cap, k, 64, sizeof(*v));

		if (!nv) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			break;
		}
		v = nv;
		v[k].folder_id = sqlite3_column_int64(st, 0);
		v[k].uid = sqlite3_column_int64(st, 1);
		v[k].msg_id = sqlite3_column_int64(st, 2);
		v[k].flags = (unsigned)sqlite3_column_int(st, 3);
		v[k].msg_flags = (unsigned)sqlite3_column_int(st, 4);
		k++;
	}
	if (rc == QM_OK && src != SQLITE_DONE)
		rc = store_db_fail(s, src, err, "listing messages' places");
	sqlite3_reset(st);
	if (rc != QM_OK) {
		free(v);
		return rc;
	}
	*out = v;
	*n = k;
	return QM_OK;
}

/* The places the statement sql (one ? for id) selects. */
static enum qm_err places_where(struct qm_store *s, const char *sql, int64_t id,
                                struct qm_store_place **out, size_t *n,
                                struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	*out = NULL;
	*n = 0;
	rc = store_db_stmt(s, sql, &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return places_collect(s, st, out, n, err);
}

#define PLACES_SELECT                                                          \
	"SELECT p.folder_id, p.uid, p.msg_id, p.flags, m.flags FROM "          \
	"msg_place p JOIN msg m ON m.id = p.msg_id "

enum qm_err qm_store_place_list(struct qm_store *s, int64_t folder_id,
                                struct qm_store_place **out, size_t *n,
                                struct qm_error *err)
{
	return places_where(
	    s, PLACES_SELECT "WHERE p.folder_id = ? ORDER BY p.uid", folder_id,
	    out, n, err);
}

enum qm_err qm_store_place_pending(struct qm_store *s, int64_t folder_id,
                                   struct qm_store_place **out, size_t *n,
                                   struct qm_error *err)
{
	return places_where(s,
	                    PLACES_SELECT "WHERE p.folder_id = ? AND "
	                                  "m.body_pending = 1 ORDER BY p.uid DESC",
	                    folder_id, out, n, err);
}

enum qm_err qm_store_msg_places(struct qm_store *s, int64_t msg_id,
                                struct qm_store_place **out, size_t *n,
                                struct qm_error *err)
{
	return places_where(
	    s, PLACES_SELECT "WHERE p.msg_id = ? ORDER BY p.folder_id, p.uid",
	    msg_id, out, n, err);
}

enum qm_err qm_store_place_remove(struct qm_store *s, int64_t folder_id,
                                  int64_t uid, int *left, struct qm_error *err)
{
	sqlite3_stmt *st;
	int64_t msg_id = 0;
	enum qm_err rc;

	if (left)
		*left = -1;
	rc = qm_store_place_find(s, folder_id, uid, &msg_id, NULL);
	if (rc == QM_ERR_NOTFOUND)
		return QM_OK;
	rc = store_db_stmt(s,
	                   "DELETE FROM msg_place WHERE folder_id = ? AND "
	                   "uid = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, uid);
	rc = step_done(s, st, "forgetting a message's place", err);
	if (rc != QM_OK || !left)
		return rc;
	rc = store_db_stmt(s, "SELECT count(*) FROM msg_place WHERE msg_id = ?",
	                   &st, err);
	if (rc != QM_OK)
		return rc;
	sqlite3_bind_int64(st, 1, msg_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		*left = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return QM_OK;
}

enum qm_err qm_store_place_flags_set(struct qm_store *s, int64_t folder_id,
                                     int64_t uid, unsigned flags,
                                     unsigned msg_was, unsigned msg_flags,
                                     struct qm_error *err)
{
	sqlite3_stmt *st;
	int64_t msg_id = 0;
	enum qm_err rc;

	rc = store_db_begin(s, err);
	if (rc != QM_OK)
		return rc;
	rc = qm_store_place_find(s, folder_id, uid, &msg_id, err);
	if (rc == QM_OK)
		rc = store_db_stmt(s,
		                   "UPDATE msg_place SET flags = ? WHERE "
		                   "folder_id = ? AND uid = ?",
		                   &st, err);
	if (rc == QM_OK) {
		sqlite3_bind_int(st, 1, (int)flags);
		sqlite3_bind_int64(st, 2, folder_id);
		sqlite3_bind_int64(st, 3, uid);
		rc = step_done(s, st, "keeping a message's flags", err);
	}
	if (rc == QM_OK && msg_flags != msg_was)
		rc = store_db_stmt(s,
		                   "UPDATE msg SET flags = ? WHERE id = ? AND "
		                   "flags = ?",
		                   &st, err);
	if (rc == QM_OK && msg_flags != msg_was) {
		sqlite3_bind_int(st, 1, (int)msg_flags);
		sqlite3_bind_int64(st, 2, msg_id);
		sqlite3_bind_int(st, 3, (int)msg_was);
		rc = step_done(s, st, "keeping a message's flags", err);
	}
	if (rc == QM_OK)
		return store_db_commit(s, err);
	store_db_rollback(s);
	return rc;
}

enum qm_err qm_store_msg_refile(struct qm_store *s, int64_t id,
                                const char *folder, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc = store_check_len("the folder name", folder, 1024, err);

	if (rc == QM_OK && !*folder)
		rc = qm_error_set(err, QM_ERR_INVAL, "a folder needs a name");
	if (rc == QM_OK)
		rc = store_db_stmt(s, "UPDATE msg SET folder = ? WHERE id = ?",
		                   &st, err);
	if (rc != QM_OK)
		return rc;
	store_db_bind_text(st, 1, folder);
	sqlite3_bind_int64(st, 2, id);
	return store_db_done_one(s, st, "filing the message", "message", id,
	                         err);
}

enum qm_err qm_store_msg_refile_all(struct qm_store *s, int64_t account_id,
                                    const char *from, const char *to,
                                    struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc = store_check_len("the folder name", to, 1024, err);

	if (rc == QM_OK && !*to)
		rc = qm_error_set(err, QM_ERR_INVAL, "a folder needs a name");
	if (rc == QM_OK)
		rc = store_db_stmt(
		    s,
		    "UPDATE msg SET folder = ? WHERE account_id = "
		    "? AND folder = ?",
		    &st, err);
	if (rc != QM_OK)
		return rc;
	store_db_bind_text(st, 1, to);
	sqlite3_bind_int64(st, 2, account_id);
	store_db_bind_text(st, 3, from);
	return step_done(s, st, "filing the folder's messages", err);
}
