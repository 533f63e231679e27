/* SPDX-License-Identifier: MIT */
/*
 * The folder list and the message list of docs/WEB.md: an account's
 * folders as the engine knows them (special use, hierarchy, counts), and a
 * folder's messages, newest first by keyset pages, or sorted another way or
 * by conversation from a window of the folder's newest messages (the
 * engine's thread.c orders them; the web layer only pages the result).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "private.h"

#define LIST_LIMIT_MAX 200
/* Messages a sorted or threaded list is built from: the folder's newest. */
#define LIST_WINDOW 1000

/* ------------------------------------------------------------ folders */

static const char *use_name(enum qm_store_folder_use u)
{
	switch (u) {
	case QM_FOLDER_USE_INBOX:
		return "inbox";
	case QM_FOLDER_USE_SENT:
		return "sent";
	case QM_FOLDER_USE_DRAFTS:
		return "drafts";
	case QM_FOLDER_USE_TRASH:
		return "trash";
	case QM_FOLDER_USE_JUNK:
		return "junk";
	case QM_FOLDER_USE_ARCHIVE:
		return "archive";
	case QM_FOLDER_USE_ALL:
		return "all";
	case QM_FOLDER_USE_FLAGGED:
		return "flagged";
	case QM_FOLDER_USE_IMPORTANT:
		return "important";
	default:
		return "";
	}
}

static json_t *folder_json(const struct qm_store_folder *f)
{
	char *disp =
	    web_shown(f->display && *f->display ? f->display : f->name);
	char delim[2] = {f->delim, '\0'};
	json_t *o;

	o = json_pack("{s:o,s:o,s:o,s:s,s:s,s:b,s:b,s:I,s:I}", "id",
	              web_id_json(f->id), "name", web_jstr(f->name), "display",
	              web_jstr(disp ? disp : ""), "delim", delim, "use",
	              use_name(f->use), "subscribed", f->subscribed != 0,
	              "selectable", f->selectable != 0, "total",
	              (json_int_t)f->total, "unread", (json_int_t)f->unread);
	/* the folder the Chats view shows (docs/CHAT.md) */
	if (o && !strcmp(f->name, qm_client_chat_folder()))
		json_object_set_new(o, "chats", json_true());
	web_shown_free(disp);
	return o;
}

void web_api_folders(struct web_req *r)
{
	struct qm_store_folder *v = NULL;
	struct qm_error e;
	json_t *arr;
	int64_t acct = web_req_account(r);
	size_t i, n = 0;

	if (acct < 0)
		return;
	if (qm_client_folders(web_client(r), acct, &v, &n, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	arr = json_array();
	for (i = 0; i < n && arr; i++)
		json_array_append_new(arr, folder_json(&v[i]));
	qm_client_folders_free(&v, n);
	web_reply_json(r, 200, arr ? json_pack("{s:o}", "folders", arr) : NULL);
}

/* ------------------------------------------------------------ list */

/* A message of the list: its summary and the snippet of its text, made
 * display-safe as its subject is (a direction control shows as a mark). */
static json_t *list_summary(struct qm_client *cl, const struct qm_store_msg *m)
{
	json_t *o = web_msg_summary(cl, m);
	char *snip;

	if (!o)
		return NULL;
	snip = web_shown(m->snippet);
	json_object_set_new(o, "snippet", web_jstr(snip ? snip : ""));
	web_shown_free(snip);
	return o;
}

/* How the page asked for the list. */
struct list_req {
	struct qm_store_query q;
	struct qm_client_sort how;
	int threads;
	int keyset; /* newest first, one message per row: paged by the store */
	long long offset;
};

/* Reads sort=, dir=, unread_first=, threads= and cursor= into lr; -1
 * when replied with an error. */
static int list_args(struct web_req *r, struct list_req *lr)
{
	const char *sort = web_query(r, "sort"), *dir = web_query(r, "dir");
	const char *uf = web_query(r, "unread_first");
	const char *th = web_query(r, "threads");
	const char *cursor = web_query(r, "cursor");

	lr->how.key = QM_SORT_DATE;
	if (sort && *sort) {
		if (strcmp(sort, "date") == 0)
			lr->how.key = QM_SORT_DATE;
		else if (strcmp(sort, "from") == 0)
			lr->how.key = QM_SORT_FROM;
		else if (strcmp(sort, "subject") == 0)
			lr->how.key = QM_SORT_SUBJECT;
		else if (strcmp(sort, "size") == 0)
			lr->how.key = QM_SORT_SIZE;
		else {
			web_reply_error(
			    r, 400, "bad_request",
			    "sort must be date, from, subject or size.");
			return -1;
		}
	}
	/* newest first and largest first unless asked; names A to Z */
	lr->how.descending =
	    lr->how.key == QM_SORT_DATE || lr->how.key == QM_SORT_SIZE;
	if (dir && *dir) {
		if (strcmp(dir, "asc") != 0 && strcmp(dir, "desc") != 0) {
			web_reply_error(r, 400, "bad_request",
			                "dir must be asc or desc.");
			return -1;
		}
		lr->how.descending = strcmp(dir, "desc") == 0;
	}
	lr->how.unread_first = uf && strcmp(uf, "1") == 0;
	lr->threads = th && strcmp(th, "1") == 0;
	lr->keyset = lr->how.key == QM_SORT_DATE && lr->how.descending &&
	             !lr->how.unread_first && !lr->threads;
	if (!cursor || !*cursor)
		return 0;
	if (!lr->keyset) {
		/* a window's pages are counted: "@N" */
		if (cursor[0] != '@' ||
		    qm_parse_ll(cursor + 1, 0, LIST_WINDOW, &lr->offset,
		                NULL) != QM_OK) {
			web_reply_error(r, 400, "bad_request",
			                "The page cursor is not valid.");
			return -1;
		}
		return 0;
	}
	{
		const char *dot = strchr(cursor, '.');
		char d[24];
		long long dv, iv;

		if (!dot || (size_t)(dot - cursor) >= sizeof(d)) {
			web_reply_error(r, 400, "bad_request",
			                "The page cursor is not valid.");
			return -1;
		}
		memcpy(d, cursor, (size_t)(dot - cursor));
		d[dot - cursor] = '\0';
		if (qm_parse_ll(d, INT64_MIN, INT64_MAX, &dv, NULL) != QM_OK ||
		    qm_parse_ll(dot + 1, 1, INT64_MAX, &iv, NULL) != QM_OK) {
			web_reply_error(r, 400, "bad_request",
			                "The page cursor is not valid.");
			return -1;
		}
		lr->q.before_date = dv;
		lr->q.before_id = iv;
	}
	return 0;
}

/* The heads of the window l for the engine's orders; with threads, each
 * message's In-Reply-To and References (refs[2 * i], refs[2 * i + 1],
 * malloc'd) read through the engine, which marks nothing read. */
static int window_heads(struct qm_client *cl, const struct qm_store_msglist *l,
                        int threads, struct qm_client_msg_head *heads,
                        char **refs)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		const struct qm_store_msg *m = &l->items[i];
		struct qm_client_msg_head *hd = &heads[i];

		hd->id = m->id;
		hd->message_id = m->message_id;
		hd->subject = m->subject;
		hd->from = m->from_addr;
		hd->date = m->date;
		hd->size = m->size;
		hd->unread = !(m->flags & QM_FLAG_SEEN);
		if (!threads)
			continue;
		if (qm_client_msg_refs(cl, m->id, &refs[2 * i],
		                       &refs[2 * i + 1], NULL) != QM_OK)
			continue; /* threaded by its subject alone */
		hd->in_reply_to = refs[2 * i];
		hd->references = refs[2 * i + 1];
	}
	return 0;
}

/* One conversation: its counts and its messages in thread order, each
 * with its depth. */
static json_t *thread_json(struct qm_client *cl,
                           const struct qm_client_threads *t,
                           const struct qm_client_thread *th,
                           const struct qm_store_msglist *l)
{
	json_t *msgs = json_array(), *o;
	int flagged = 0;
	size_t k;

	for (k = th->root; msgs && k < th->root + th->nnodes; k++) {
		const struct qm_client_thread_node *nd = &t->nodes[k];
		json_t *s;

		if (nd->msg == QM_THREAD_NONE || nd->msg >= l->n)
			continue; /* a dummy: no message of the list */
		s = list_summary(cl, &l->items[nd->msg]);
		if (s)
			json_object_set_new(
			    s, "depth", json_integer((json_int_t)nd->depth));
		flagged |= (l->items[nd->msg].flags & QM_FLAG_FLAGGED) != 0;
		json_array_append_new(msgs, s);
	}
	if (!msgs)
		return NULL;
	o = json_pack(
	    "{s:I,s:I,s:I,s:I,s:b,s:o,s:o}", "count", (json_int_t)th->count,
	    "unread", (json_int_t)th->unread, "newest", (json_int_t)th->newest,
	    "size", (json_int_t)th->size, "flagged", flagged, "first",
	    web_id_json(th->first_msg < l->n ? l->items[th->first_msg].id : 0),
	    "messages", msgs);
	return o;
}

/* The page [offset, offset + limit) of the window l, ordered by lr: the
 * "messages" (sorted) or "threads" of the reply o. */
static int window_page(struct web_req *r, struct qm_client *cl,
                       const struct list_req *lr,
                       const struct qm_store_msglist *l, json_t *o)
{
	struct qm_client_msg_head *heads =
	    calloc(l->n ? l->n : 1, sizeof(*heads));
	char **refs = calloc(l->n ? 2 * l->n : 1, sizeof(*refs));
	size_t *order = calloc(l->n ? l->n : 1, sizeof(*order));
	struct qm_client_threads *t = NULL;
	struct qm_error e;
	json_t *arr = json_array();
	size_t i, total, end, off = (size_t)lr->offset;
	int rc = -1;

	if (!heads || !refs || !order || !arr) {
		web_reply_error(r, 500, "internal", "Out of memory.");
		goto out;
	}
	window_heads(cl, l, lr->threads, heads, refs);
	if (lr->threads) {
		if (qm_client_thread_build(heads, l->n, &t, &e) != QM_OK ||
		    qm_client_threads_sort(t, heads, l->n, &lr->how, &e) !=
		        QM_OK) {
			web_reply_qm_error(r, &e);
			goto out;
		}
		total = t->nthreads;
	} else {
		if (qm_client_msgs_sort(heads, l->n, &lr->how, order, &e) !=
		    QM_OK) {
			web_reply_qm_error(r, &e);
			goto out;
		}
		total = l->n;
	}
	end = off + (size_t)lr->q.limit;
	if (end > total)
		end = total;
	for (i = off; i < end; i++)
		json_array_append_new(
		    arr, lr->threads ? thread_json(cl, t, &t->threads[i], l)
		                     : list_summary(cl, &l->items[order[i]]));
	json_object_set_new(o, lr->threads ? "threads" : "messages", arr);
	arr = NULL;
	json_object_set_new(
	    o, "conversations",
	    json_integer((json_int_t)(lr->threads ? total : 0)));
	if (end < total) {
		char c[24];

		snprintf(c, sizeof(c), "@%zu", end);
		json_object_set_new(o, "next_cursor", json_string(c));
	} else {
		json_object_set_new(o, "next_cursor", json_null());
	}
	rc = 0;
out:
	if (refs)
		for (i = 0; i < 2 * l->n; i++)
			free(refs[i]);
	free(refs);
	free(heads);
	free(order);
	qm_client_threads_free(&t);
	json_decref(arr);
	return rc;
}

/* Adds the "messages" of the keyset page l (asked for limit rows) to the
 * reply o, and its "next_cursor": the last row's date and id, or null at
 * the end of the folder. */
static void keyset_page(struct qm_client *cl, const struct qm_store_msglist *l,
                        int limit, json_t *o)
{
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < l->n && arr; i++)
		json_array_append_new(arr, list_summary(cl, &l->items[i]));
	json_object_set_new(o, "messages", arr ? arr : json_array());
	if (l->n == (size_t)limit && l->n > 0) {
		char c[48];
		const struct qm_store_msg *last = &l->items[l->n - 1];
		snprintf(c, sizeof(c), "%lld.%lld", (long long)last->date,
		         (long long)last->id);
		json_object_set_new(o, "next_cursor", json_string(c));
	} else {
		json_object_set_new(o, "next_cursor", json_null());
	}
}

void web_api_messages_list(struct web_req *r)
{
	struct qm_client *cl = web_client(r);
	struct list_req lr;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	const char *folder = web_query(r, "folder");
	const char *limit = web_query(r, "limit"), *text = web_query(r, "q");
	int64_t acct = web_req_account(r), total = 0, unread = 0;
	long long lim = 50;
	json_t *o;

	if (acct < 0)
		return;
	memset(&lr, 0, sizeof(lr));
	lr.q.account_id = acct;
	lr.q.folder = folder && *folder ? folder : "INBOX";
	if (strlen(lr.q.folder) > 256) {
		web_reply_error(r, 400, "bad_request",
		                "The folder name is too long.");
		return;
	}
	if (limit &&
	    qm_parse_ll(limit, 1, LIST_LIMIT_MAX, &lim, NULL) != QM_OK) {
		web_reply_error(r, 400, "bad_request", "limit must be 1 to %d.",
		                LIST_LIMIT_MAX);
		return;
	}
	if (list_args(r, &lr) != 0)
		return;
	if (text && *text) {
		if (strlen(text) > 200) {
			web_reply_error(r, 400, "bad_request",
			                "Search for at most 200 characters.");
			return;
		}
		lr.q.text = text;
	}
	/* sorted or threaded: the folder's newest LIST_WINDOW, ordered here */
	lr.q.limit = lr.keyset ? (int)lim : LIST_WINDOW;
	if (qm_client_msg_list(cl, &lr.q, &l, &e) != QM_OK) {
		if (e.code == QM_ERR_PARSE && lr.q.text)
			web_reply_error(
			    r, 400, "bad_request",
			    "The search could not be understood: %s",
			    qm_error_msg(&e));
		else
			web_reply_qm_error(r, &e);
		return;
	}
	web_counts(r->srv, cl, acct, lr.q.folder, &total, &unread);
	o = json_pack("{s:I,s:I,s:b}", "total", (json_int_t)total, "unread",
	              (json_int_t)unread, "window",
	              !lr.keyset && l->n == (size_t)LIST_WINDOW);
	if (!o) {
		qm_client_msglist_free(&l);
		web_reply_json(r, 500, NULL);
		return;
	}
	if (!lr.keyset) {
		lr.q.limit = (int)lim;
		if (window_page(r, cl, &lr, l, o) != 0)
			json_decref(o);
		else
			web_reply_json(r, 200, o);
		qm_client_msglist_free(&l);
		return;
	}
	keyset_page(cl, l, lr.q.limit, o);
	qm_client_msglist_free(&l);
	web_reply_json(r, 200, o);
}

json_t *web_list_first(struct qm_web_server *srv, struct qm_client *cl,
                       const char *folder, int limit, int64_t *account)
{
	struct qm_store_account *accts = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	size_t n = 0;
	int64_t acct = -1, total = 0, unread = 0;
	json_t *o = NULL;

	/* the account the list API takes when none is named */
	if (qm_client_account_list(cl, &accts, &n, NULL) == QM_OK && n > 0)
		acct = accts[0].id;
	free(accts);
	if (acct < 0)
		return NULL;
	memset(&q, 0, sizeof(q));
	q.account_id = acct;
	q.folder = folder;
	q.limit = limit;
	if (qm_client_msg_list(cl, &q, &l, NULL) != QM_OK)
		return NULL;
	web_counts(srv, cl, acct, folder, &total, &unread);
	o = json_pack("{s:I,s:I,s:b}", "total", (json_int_t)total, "unread",
	              (json_int_t)unread, "window", 0);
	if (o)
		keyset_page(cl, l, limit, o);
	qm_client_msglist_free(&l);
	if (o)
		*account = acct;
	return o;
}
