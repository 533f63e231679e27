/* SPDX-License-Identifier: MIT */
/*
 * Local folders of a POP3 account (issue 14: "POP3 accounts keep what POP3
 * can"). A POP3 server keeps one maildrop and no flags, so moving, filing
 * and deleting happen in the vault alone: a message is filed in a folder
 * by name (its msg.folder), INBOX where the sync put it. The folders other
 * than INBOX are folder records of the account whose UIDVALIDITY is
 * LOCAL_VALIDITY: no server knows them, and a query by their name selects
 * by msg.folder (index.c), not by place. Archive, Junk and Trash are made
 * the first time a message is filed there, with their special use. A
 * local folder deleted takes its messages with it, as an IMAP DELETE
 * would; a message deleted from Trash (or with delete_mode = expunge) is
 * gone from the vault (its key IDs stay in the replay log). Copies are
 * refused: a vault keeps one copy of a message. The server's copy is
 * whatever the POP3 sync leaves there; a moved message is never fetched
 * again, because the sync remembers what it fetched by UIDL, not by
 * folder.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int client_acct_over_pop3(struct qm_client *c, int64_t acct)
{
	struct qm_store_account a;
	char inc[16];

	if (qm_store_account_get(c->store, acct, &a, NULL) != QM_OK)
		return 0;
	client_acct_setting(c, acct, QM_SET_INCOMING, inc, sizeof(inc));
	return strcmp(inc, "pop3") == 0 || (!a.imap.host[0] && a.pop3.host[0]);
}

int client_msg_local(struct qm_client *c, int64_t id, int64_t *acct)
{
	struct qm_store_msglist *l = NULL;
	int local = 0;

	*acct = 0;
	if (qm_client_msg_get(c, id, &l, NULL) != QM_OK)
		return 0;
	*acct = l->items[0].account_id;
	local = client_acct_over_pop3(c, *acct);
	qm_store_msglist_free(&l);
	return local;
}

static int is_inbox(const char *name)
{
	return strcmp(name, "INBOX") == 0;
}

/* The local folder record name (QM_ERR_NOTFOUND: none). */
static enum qm_err local_get(struct qm_client *c, int64_t acct,
                             const char *name, struct qm_store_folder *f,
                             struct qm_error *err)
{
	enum qm_err rc = qm_store_folder_get(c->store, acct, name, f, err);

	if (!rc && f->uidvalidity != CLIENT_LOCAL_VALIDITY) {
		qm_store_folder_clear(f);
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no local folder %s",
		                  name);
	}
	return rc;
}

/* Makes local folder name with special use u. */
static enum qm_err local_make(struct qm_client *c, int64_t acct,
                              const char *name, enum qm_store_folder_use u,
                              struct qm_error *err)
{
	struct qm_store_folder f;
	int64_t id = 0;
	enum qm_err rc;

	memset(&f, 0, sizeof(f));
	f.account_id = acct;
	f.name = (char *)(uintptr_t)name;
	f.display = (char *)(uintptr_t)name;
	f.delim = '/';
	f.use = u;
	f.subscribed = 1;
	f.selectable = 1;
	rc = qm_store_folder_put(c->store, &f, &id, err);
	if (!rc)
		rc = qm_store_folder_state_set(
		    c->store, id, CLIENT_LOCAL_VALIDITY, 0, 0, err);
	return rc;
}

/* The local folder of use u (made when missing): its name into name. */
static enum qm_err local_of_use(struct qm_client *c, int64_t acct,
                                enum qm_store_folder_use u, char *name,
                                size_t len, struct qm_error *err)
{
	static const struct {
		enum qm_store_folder_use u;
		const char *name;
	} def[] = {
	    {QM_FOLDER_USE_ARCHIVE, "Archive"},
	    {QM_FOLDER_USE_JUNK, "Junk"},
	    {QM_FOLDER_USE_TRASH, "Trash"},
	};
	struct qm_store_folder *v = NULL;
	size_t n = 0;
	enum qm_err rc;

	if (u == QM_FOLDER_USE_INBOX) {
		qm_strlcpy(name, "INBOX", len);
		return QM_OK;
	}
	rc = qm_store_folder_list(c->store, acct, &v, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		if (v[i].use == u &&
		    v[i].uidvalidity == CLIENT_LOCAL_VALIDITY) {
			qm_strlcpy(name, v[i].name, len);
			qm_store_folders_free(&v, n);
			return QM_OK;
		}
	qm_store_folders_free(&v, n);
	if (rc)
		return rc;
	for (size_t i = 0; i < sizeof(def) / sizeof(def[0]); i++)
		if (def[i].u == u) {
			qm_strlcpy(name, def[i].name, len);
			return local_make(c, acct, name, u, err);
		}
	return qm_error_set(err, QM_ERR_UNSUPPORTED,
	                    "a POP3 account keeps no such folder: its "
	                    "server has one maildrop, and QMail keeps INBOX, "
	                    "Archive, Junk, Trash and folders made by hand");
}

/* Message id into folder name (INBOX or a local folder). */
static enum qm_err refile(struct qm_client *c, int64_t acct, int64_t id,
                          const char *name, struct qm_error *err)
{
	struct qm_store_folder f;
	enum qm_err rc;

	if (!is_inbox(name)) {
		rc = local_get(c, acct, name, &f, err);
		if (rc == QM_ERR_NOTFOUND)
			return qm_error_set(err, QM_ERR_NOTFOUND,
			                    "there is no folder %s: a POP3 "
			                    "account's folders are kept here, "
			                    "make it first",
			                    name);
		if (rc)
			return rc;
		qm_store_folder_clear(&f);
	}
	return qm_store_msg_refile(c->store, id, name, err);
}

enum qm_err client_local_move(struct qm_client *c, int64_t acct, int64_t id,
                              const char *folder, int move,
                              struct qm_error *err)
{
	if (!move)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "a POP3 account's folders are kept in the "
		                    "vault, which holds one copy of a message: "
		                    "move it instead");
	if (!folder || !*folder)
		return qm_error_set(err, QM_ERR_INVAL, "a folder needs a name");
	return refile(c, acct, id, folder, err);
}

enum qm_err client_local_file(struct qm_client *c, int64_t acct, int64_t id,
                              enum qm_store_folder_use u, struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	char name[QM_STORE_FOLDERMAX + 1];
	unsigned set = 0, clear = 0;
	enum qm_err rc;

	rc = local_of_use(c, acct, u, name, sizeof(name), err);
	if (!rc)
		rc = qm_client_msg_get(c, id, &l, err);
	if (rc)
		return rc;
	/* the junk marks follow, as on an IMAP server */
	if (u == QM_FOLDER_USE_JUNK) {
		set = QM_FLAG_JUNK;
		clear = QM_FLAG_NOTJUNK;
	} else if (u == QM_FOLDER_USE_INBOX &&
	           (l->items[0].flags & QM_FLAG_JUNK)) {
		set = QM_FLAG_NOTJUNK;
		clear = QM_FLAG_JUNK;
	}
	qm_store_msglist_free(&l);
	if (set)
		rc = qm_client_msg_flags(c, id, set, clear, NULL, err);
	return rc ? rc : refile(c, acct, id, name, err);
}

enum qm_err client_local_trash(struct qm_client *c, int64_t acct, int64_t id,
                               struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_folder f;
	char mode[16], name[QM_STORE_FOLDERMAX + 1];
	int in_trash = 0;
	enum qm_err rc;

	client_acct_setting(c, acct, QM_CLIENT_SET_DELETE_MODE, mode,
	                    sizeof(mode));
	rc = qm_client_msg_get(c, id, &l, err);
	if (rc)
		return rc;
	if (!is_inbox(l->items[0].folder) &&
	    local_get(c, acct, l->items[0].folder, &f, NULL) == QM_OK) {
		in_trash = f.use == QM_FOLDER_USE_TRASH;
		qm_store_folder_clear(&f);
	}
	qm_store_msglist_free(&l);
	if (strcmp(mode, "expunge") == 0 || in_trash)
		return qm_store_msg_delete(c->store, id, err);
	rc =
	    local_of_use(c, acct, QM_FOLDER_USE_TRASH, name, sizeof(name), err);
	return rc ? rc : refile(c, acct, id, name, err);
}

/* ------------------------------------------------------------- folders */

/* Archive, Junk and Trash keep their names, as on a server (ops.c):
 * filing finds them by their use. done is "renamed" or "deleted". */
static enum qm_err not_special(const struct qm_store_folder *f,
                               const char *done, struct qm_error *err)
{
	if (f->use == QM_FOLDER_USE_NONE)
		return QM_OK;
	return qm_error_set(err, QM_ERR_INVAL,
	                    "%s is the folder QMail files messages in by its "
	                    "use: it cannot be %s",
	                    f->name, done);
}

/* A name a person may give a local folder. */
static enum qm_err name_ok(const char *name, struct qm_error *err)
{
	if (!name || !*name)
		return qm_error_set(err, QM_ERR_INVAL, "a folder needs a name");
	if (strlen(name) > QM_STORE_FOLDERMAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "a folder name is at most %d bytes",
		                    QM_STORE_FOLDERMAX);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "a folder name cannot hold control "
			                    "characters");
	if (strcasecmp(name, "INBOX") == 0)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "INBOX is there already and keeps its name");
	return QM_OK;
}

enum qm_err client_local_folder_create(struct qm_client *c, int64_t acct,
                                       const char *name, struct qm_error *err)
{
	struct qm_store_folder f;
	enum qm_err rc = name_ok(name, err);

	if (rc)
		return rc;
	rc = qm_store_folder_get(c->store, acct, name, &f, NULL);
	if (!rc) {
		qm_store_folder_clear(&f);
		return qm_error_set(err, QM_ERR_EXISTS,
		                    "there is a folder %s already", name);
	}
	return local_make(c, acct, name, QM_FOLDER_USE_NONE, err);
}

enum qm_err client_local_folder_rename(struct qm_client *c, int64_t acct,
                                       const char *from, const char *to,
                                       struct qm_error *err)
{
	struct qm_store_folder f;
	enum qm_err rc = name_ok(to, err);

	if (!rc && from && is_inbox(from))
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "INBOX keeps its name: move its messages "
		                  "instead");
	if (!rc)
		rc = local_get(c, acct, from ? from : "", &f, err);
	if (rc)
		return rc;
	rc = not_special(&f, "renamed", err);
	qm_store_folder_clear(&f);
	if (rc)
		return rc;
	if (qm_store_folder_get(c->store, acct, to, &f, NULL) == QM_OK) {
		qm_store_folder_clear(&f);
		return qm_error_set(err, QM_ERR_EXISTS,
		                    "there is a folder %s already", to);
	}
	rc = qm_store_folder_rename(c->store, acct, from, to, '/', err);
	if (!rc)
		rc = qm_store_msg_refile_all(c->store, acct, from, to, err);
	return rc;
}

enum qm_err client_local_folder_delete(struct qm_client *c, int64_t acct,
                                       const char *name, struct qm_error *err)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_store_folder f;
	enum qm_err rc;

	if (name && is_inbox(name))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "INBOX cannot be deleted");
	rc = local_get(c, acct, name ? name : "", &f, err);
	if (!rc && (rc = not_special(&f, "deleted", err)))
		qm_store_folder_clear(&f);
	if (rc)
		return rc;
	/* its messages go with it, as with IMAP DELETE */
	memset(&q, 0, sizeof(q));
	q.account_id = acct;
	q.folder = name;
	q.limit = 1000;
	do {
		qm_store_msglist_free(&l);
		rc = qm_store_msg_list(c->store, &q, &l, err);
		for (size_t i = 0; !rc && i < l->n; i++)
			rc = qm_store_msg_delete(c->store, l->items[i].id, err);
	} while (!rc && l->n);
	qm_store_msglist_free(&l);
	if (!rc)
		rc = qm_store_folder_forget(c->store, f.id, err);
	qm_store_folder_clear(&f);
	return rc;
}

enum qm_err client_local_folders(struct qm_client *c, int64_t acct,
                                 struct qm_store_folder **out, size_t *n,
                                 struct qm_error *err)
{
	struct qm_store_folder *v = NULL, *r;
	size_t nv = 0, k = 0;
	enum qm_err rc;

	*out = NULL;
	*n = 0;
	rc = qm_store_folder_list(c->store, acct, &v, &nv, err);
	if (rc)
		return rc;
	r = calloc(nv + 1, sizeof(*r));
	if (!r) {
		qm_store_folders_free(&v, nv);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	r[k].account_id = acct;
	r[k].name = strdup("INBOX");
	r[k].display = strdup("INBOX");
	r[k].use = QM_FOLDER_USE_INBOX;
	r[k].subscribed = r[k].selectable = 1;
	k++;
	for (size_t i = 0; i < nv; i++) {
		if (v[i].uidvalidity != CLIENT_LOCAL_VALIDITY)
			continue;
		r[k] = v[i];
		memset(&v[i], 0, sizeof(v[i])); /* r[k] owns its strings */
		k++;
	}
	qm_store_folders_free(&v, nv);
	for (size_t i = 0; !rc && i < k; i++) {
		struct qm_store_query q;

		if (!r[i].name || !r[i].display) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			break;
		}
		/* counted by the folder a message is filed in */
		memset(&q, 0, sizeof(q));
		q.account_id = acct;
		q.folder = r[i].name;
		rc = qm_store_msg_count(c->store, &q, &r[i].total, err);
		q.flags_clear = QM_FLAG_SEEN;
		if (!rc)
			rc =
			    qm_store_msg_count(c->store, &q, &r[i].unread, err);
	}
	if (rc) {
		qm_store_folders_free(&r, k);
		return rc;
	}
	*out = r;
	*n = k;
	return QM_OK;
}
