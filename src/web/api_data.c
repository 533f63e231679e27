/* SPDX-License-Identifier: MIT */
/*
 * The user's data in and out (issue 15, "Your data is yours"): contacts
 * as a vCard file, a folder's mail as an mbox download, and an uploaded
 * mbox imported as plain mail. The engine does the work (vcard.c,
 * export.c, import.c); these handlers move the bytes.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/client.h"
#include "private.h"

/* Most bytes an mbox download may come to. */
#define WEB_EXPORT_MAX (256u << 20)

/* Sets a raw download reply from a copy of b (the server wipes it once
 * sent: it may be plaintext mail). */
static void reply_download(struct web_req *r, const struct qm_buf *b,
                           const char *ctype, const char *filename)
{
	size_t i, o;

	r->reply.raw = malloc(b->len ? b->len : 1);
	if (!r->reply.raw) {
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	if (b->len)
		memcpy(r->reply.raw, b->data, b->len);
	r->reply.raw_len = b->len;
	r->reply.status = 200;
	qm_strlcpy(r->reply.ctype, ctype, sizeof(r->reply.ctype));
	o = (size_t)snprintf(r->reply.disposition, sizeof(r->reply.disposition),
	                     "attachment; filename=\"");
	/* a folder name may hold anything: only [A-Za-z0-9._-] go through */
	for (i = 0; filename[i] && o + 3 < sizeof(r->reply.disposition); i++) {
		char c = filename[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '-';

		r->reply.disposition[o++] = ok ? c : '_';
	}
	r->reply.disposition[o++] = '"';
	r->reply.disposition[o] = '\0';
}

/* The file in b as a download, or the engine's error rc (e); b is
 * freed either way. */
static void reply_file(struct web_req *r, enum qm_err rc,
                       const struct qm_error *e, struct qm_buf *b,
                       const char *ctype, const char *filename)
{
	if (rc)
		web_reply_qm_error(r, e);
	else
		reply_download(r, b, ctype, filename);
	qm_buf_free(b);
}

/* POST /api/contacts/import?account=: the body is a vCard file. */
void web_api_contacts_import(struct web_req *r)
{
	struct qm_client_vcard_stats *st;
	struct qm_error e;
	enum qm_err rc;
	int64_t acct;
	json_t *why;

	if ((acct = web_req_account(r)) < 0)
		return;
	st = calloc(1, sizeof(*st));
	if (!st) {
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	rc = qm_client_contacts_import_vcard(
	    r->srv->client, acct,
	    r->body.data ? (const char *)r->body.data : "", r->body.len, st,
	    &e);
	if (rc && !st->cards) {
		web_reply_qm_error(r, &e);
		free(st);
		return;
	}
	why = json_array();
	for (size_t i = 0; i < st->n_why && why; i++)
		json_array_append_new(why, web_jstr(st->why[i]));
	web_reply_json(
	    r, 200,
	    why ? json_pack(
	              "{s:I,s:I,s:I,s:I,s:I,s:o,s:o}", "cards",
	              (json_int_t)st->cards, "added", (json_int_t)st->added,
	              "updated", (json_int_t)st->updated, "unchanged",
	              (json_int_t)st->unchanged, "skipped",
	              (json_int_t)st->skipped, "skipped_why", why, "error",
	              rc ? web_jstr(qm_error_msg(&e)) : json_null())
	        : NULL);
	free(st);
}

/* GET /api/contacts/export?account=: contacts.vcf, vCard 4.0. */
void web_api_contacts_export(struct web_req *r)
{
	struct qm_error e;
	struct qm_buf b;
	int64_t acct;
	size_t n = 0;

	if ((acct = web_req_account(r)) < 0)
		return;
	qm_buf_init(&b, QM_CLIENT_VCARD_MAX);
	reply_file(
	    r,
	    qm_client_contacts_export_vcard(r->srv->client, acct, &b, &n, &e),
	    &e, &b, "text/vcard; charset=utf-8", "contacts.vcf");
}

/* GET /api/mail/export?account=&folder=: the folder's readable mail as
 * one mbox file (plaintext: the same as `qmail export --mbox`). */
void web_api_mail_export(struct web_req *r)
{
	struct qm_client_export_stats st;
	const char *folder = web_query(r, "folder");
	struct qm_store_query q;
	struct qm_error e;
	struct qm_buf b;
	char name[96];
	int64_t acct;

	if ((acct = web_req_account(r)) < 0)
		return;
	if (!folder || !*folder || strlen(folder) > 1000) {
		web_reply_error(r, 400, "bad_request",
		                "folder must name the folder to export.");
		return;
	}
	memset(&q, 0, sizeof(q));
	q.account_id = acct;
	q.folder = folder;
	qm_buf_init_secure(&b, WEB_EXPORT_MAX + QM_CLIENT_MAXMSG);
	snprintf(name, sizeof(name), "%.80s.mbox", folder);
	reply_file(r,
	           qm_client_export_mbox_mem(r->srv->client, &q, WEB_EXPORT_MAX,
	                                     &b, &st, &e),
	           &e, &b, "application/mbox", name);
}

/* POST /api/mail/import?account=&folder=: the body is an mbox file; its
 * messages go into a local folder as plain mail. */
void web_api_mail_import(struct web_req *r)
{
	struct qm_client_import_stats st;
	const char *folder = web_query(r, "folder");
	struct qm_error e;
	enum qm_err rc;
	int64_t acct;

	if ((acct = web_req_account(r)) < 0)
		return;
	if (folder && strlen(folder) > 200) {
		web_reply_error(r, 400, "bad_request",
		                "folder is at most 200 bytes.");
		return;
	}
	rc = qm_client_import_mbox_mem(r->srv->client, acct, folder,
	                               r->body.data, r->body.len, NULL, NULL,
	                               &st, &e);
	if (rc && !st.added) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_counts_forget(r->srv);
	web_reply_json(
	    r, 200,
	    json_pack("{s:s,s:I,s:I,s:I,s:o,s:o}", "folder",
	              folder && *folder ? folder : QM_CLIENT_IMPORT_FOLDER,
	              "added", (json_int_t)st.added, "duplicates",
	              (json_int_t)st.duplicates, "skipped",
	              (json_int_t)st.skipped, "first_skip",
	              st.skipped ? web_jstr(st.first_skip) : json_null(),
	              "error", rc ? web_jstr(qm_error_msg(&e)) : json_null()));
}
