/* SPDX-License-Identifier: MIT */
/*
 * The JSON API of docs/WEB.md for what changes a message's folder on the
 * server: move, file by special use (archive, junk, trash, back to the
 * inbox) and delete the way a mail client does. Each is one engine call
 * (qm_client_msg_move / _file / _trash), made at once on the server, so
 * they run on the server's ops handle (WEB_NEEDS_OPS), not behind a sync.
 * The folder routes create, rename and delete an account's folders
 * (qm_client_folder_create / _rename / _delete); the engine keeps the
 * rules (INBOX and the folders of a special use stay as they are) and
 * their words, and each answers the folder list as GET /api/folders.
 */
#include <string.h>

#include "client/client.h"
#include "private.h"

/* The Summary of message id after the change; 204 when it left the
 * index (expunged). */
static void reply_summary(struct web_req *r, int64_t id)
{
	struct qm_store_msglist *l = NULL;

	web_counts_forget(r->srv);
	if (qm_client_msg_get(web_client(r), id, &l, NULL) != QM_OK) {
		web_reply_empty(r);
		return;
	}
	web_reply_json(r, 200, web_msg_summary(web_client(r), &l->items[0]));
	qm_client_msglist_free(&l);
}

void web_api_message_move(struct web_req *r)
{
	struct qm_error e;
	const char *folder = NULL;
	json_t *j;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0 || !(j = web_body_json(r)))
		return;
	if (web_get_str(r, j, "folder", 1, 256, &folder) < 0) {
		json_decref(j);
		return;
	}
	if (!*folder) {
		json_decref(j);
		web_reply_error(r, 400, "bad_request",
		                "folder must name a folder.");
		return;
	}
	if (qm_client_msg_move(web_client(r), id, folder, &e) != QM_OK) {
		json_decref(j);
		web_reply_qm_error(r, &e);
		return;
	}
	json_decref(j);
	reply_summary(r, id);
}

void web_api_message_file(struct web_req *r)
{
	static const struct {
		const char *name;
		enum qm_store_folder_use use;
	} uses[] = {{"archive", QM_FOLDER_USE_ARCHIVE},
	            {"junk", QM_FOLDER_USE_JUNK},
	            {"trash", QM_FOLDER_USE_TRASH},
	            {"inbox", QM_FOLDER_USE_INBOX}};
	enum qm_store_folder_use use = QM_FOLDER_USE_NONE;
	struct qm_error e;
	const char *name = NULL;
	json_t *j;
	int64_t id;
	size_t i;

	if (web_arg_id(r, 0, &id) != 0 || !(j = web_body_json(r)))
		return;
	if (web_get_str(r, j, "use", 1, 16, &name) < 0) {
		json_decref(j);
		return;
	}
	for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
		if (strcmp(name, uses[i].name) == 0)
			use = uses[i].use;
	json_decref(j);
	if (use == QM_FOLDER_USE_NONE) {
		web_reply_error(r, 400, "bad_request",
		                "use must be archive, junk, trash or inbox.");
		return;
	}
	if (qm_client_msg_file(web_client(r), id, use, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	reply_summary(r, id);
}

void web_api_message_trash(struct web_req *r)
{
	struct qm_error e;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	if (qm_client_msg_trash(web_client(r), id, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_counts_forget(r->srv);
	web_reply_empty(r);
}

/* ------------------------------------------------------------- folders */

/* Longest folder name a person may type (the server's limits are
 * larger; the store keeps names of this size). */
#define FOLDER_NAME_MAX 200

/* The "name" (and, for a rename, "to") of the request: -1 when replied
 * with an error. j is the parsed body (the caller frees it). */
static int folder_args(struct web_req *r, json_t *j, const char **name,
                       const char **to)
{
	if (web_get_str(r, j, "name", 1, FOLDER_NAME_MAX, name) < 0)
		return -1;
	if (to && web_get_str(r, j, "to", 1, FOLDER_NAME_MAX, to) < 0)
		return -1;
	if (!**name || (to && !**to)) {
		web_reply_error(r, 400, "bad_request",
		                "A folder needs a name: type one.");
		return -1;
	}
	return 0;
}

/* After a change on the server: the counts kept are stale, and the page
 * gets the new folder list. */
static void folders_after(struct web_req *r)
{
	web_counts_forget(r->srv);
	web_api_folders(r);
}

enum folder_op { FOLDER_CREATE, FOLDER_RENAME, FOLDER_DELETE };

/* The three folder routes: the body's names, the engine's call, the new
 * folder list. */
static void folder_route(struct web_req *r, enum folder_op op)
{
	struct qm_error e;
	const char *name = NULL, *to = NULL;
	struct qm_client *c = web_client(r);
	int64_t acct;
	json_t *j;
	enum qm_err rc;

	if ((acct = web_req_account(r)) < 0 || !(j = web_body_json(r)))
		return;
	if (folder_args(r, j, &name, op == FOLDER_RENAME ? &to : NULL) < 0) {
		json_decref(j);
		return;
	}
	rc = op == FOLDER_CREATE ? qm_client_folder_create(c, acct, name, &e)
	     : op == FOLDER_RENAME
	         ? qm_client_folder_rename(c, acct, name, to, &e)
	         : qm_client_folder_delete(c, acct, name, &e);
	json_decref(j);
	if (rc != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	folders_after(r);
}

void web_api_folder_create(struct web_req *r)
{
	folder_route(r, FOLDER_CREATE);
}

void web_api_folder_rename(struct web_req *r)
{
	folder_route(r, FOLDER_RENAME);
}

void web_api_folder_delete(struct web_req *r)
{
	folder_route(r, FOLDER_DELETE);
}
