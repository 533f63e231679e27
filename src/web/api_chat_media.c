/* SPDX-License-Identifier: MIT */
/*
 * Chat media and read receipts in the GUI (docs/WEB.md "Chats",
 * docs/CHAT.md "Attachments", "Read receipts"): the files of a chat
 * message as the page lists them, their bytes (an image inline only when
 * its bytes are PNG, JPEG, GIF or WebP, never SVG; anything else as a
 * download), the uploads a chat send takes, and the opt-in to send read
 * receipts. The engine's calls do the work (qm_client_chat_att,
 * qm_client_chat_receipts_set).
 */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "private.h"

/* What a chat file is served with: nothing runs in it, whatever it is. */
#define CHAT_FILE_CSP "default-src 'none'; sandbox"

json_t *web_chat_files_json(const struct qm_client_chat_item *it)
{
	json_t *a = json_array();
	char url[96];

	for (size_t k = 0; a && k < it->nfiles; k++) {
		const struct qm_client_chat_file *f = &it->files[k];

		snprintf(url, sizeof(url), "/api/chats/files/%lld/%zu",
		         (long long)it->id, k);
		json_array_append_new(
		    a, json_pack("{s:o,s:o,s:I,s:b,s:s}", "name",
		                 web_jstr(f->name), "type", web_jstr(f->type),
		                 "size", (json_int_t)f->size, "image", f->image,
		                 "url", url));
	}
	return a;
}

/* filename*=UTF-8''... with every byte outside [A-Za-z0-9._-] encoded. */
static void disposition(char *out, size_t cap, const char *how,
                        const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = (size_t)snprintf(out, cap, "%s; filename*=UTF-8''", how);

	for (size_t i = 0; name[i] && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

void web_api_chat_file(struct web_req *r)
{
	struct qm_client_att *a = NULL;
	const char *image = "", *dl = web_query(r, "download");
	struct qm_error e;
	long long n;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	if (qm_parse_ll(r->args[1], 0, 1000, &n, NULL) != QM_OK) {
		web_reply_error(r, 400, "bad_request", "Bad file number.");
		return;
	}
	qm_error_clear(&e);
	if (qm_client_chat_att(web_client(r), id, (size_t)n, &a, &image, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	r->reply.raw = malloc(a->len ? a->len : 1);
	if (!r->reply.raw) {
		qm_client_chat_att_free(&a);
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	memcpy(r->reply.raw, a->data, a->len);
	r->reply.raw_len = a->len;
	r->reply.status = 200;
	r->reply.csp = CHAT_FILE_CSP;
	/* the type is what the bytes show, never what the sender declared:
	 * an image is one of four raster types, anything else (SVG
	 * included) is bytes to save */
	if (*image && !(dl && !strcmp(dl, "1"))) {
		qm_strlcpy(r->reply.ctype, image, sizeof(r->reply.ctype));
		disposition(r->reply.disposition, sizeof(r->reply.disposition),
		            "inline", a->name);
	} else {
		qm_strlcpy(r->reply.ctype, "application/octet-stream",
		           sizeof(r->reply.ctype));
		disposition(r->reply.disposition, sizeof(r->reply.disposition),
		            "attachment", a->name);
	}
	qm_client_chat_att_free(&a);
}

void web_api_chat_receipts(struct web_req *r)
{
	struct qm_error e;
	int64_t id;
	int on = -1;
	json_t *j;

	if (web_arg_id(r, 0, &id) != 0 || !(j = web_body_json(r)))
		return;
	if (web_get_bool(r, j, "on", &on) < 0) {
		json_decref(j);
		return;
	}
	json_decref(j);
	if (on < 0) {
		web_reply_error(r, 400, "bad_request",
		                "Say \"on\": true or false.");
		return;
	}
	qm_error_clear(&e);
	if (qm_client_chat_receipts_set(web_client(r), id, on, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_reply_json(r, 200, json_pack("{s:b}", "receipts", on));
}

int web_chat_uploads_take(struct web_req *r, json_t *ups,
                          struct qm_client_attachment *att,
                          struct web_upload **taken, size_t max, size_t *n,
                          unsigned char sid[WEB_ID_BYTES])
{
	struct qm_web_server *srv = r->srv;
	size_t i, k;
	json_t *u;

	*n = 0;
	if (!json_is_array(ups) || !json_array_size(ups))
		return 0;
	if (json_array_size(ups) > max) {
		web_reply_error(r, 400, "bad_request",
		                "At most %zu files go with one chat message.",
		                max);
		return -1;
	}
	pthread_mutex_lock(&srv->lock);
	json_array_foreach(ups, i, u)
	{
		struct web_upload *up =
		    r->session && json_is_string(u)
		        ? web_upload_find(r->session, json_string_value(u))
		        : NULL;

		for (k = 0; up && k < *n; k++)
			if (taken[k] == up)
				up = NULL; /* named twice */
		if (!up) {
			pthread_mutex_unlock(&srv->lock);
			*n = 0;
			web_reply_error(r, 400, "bad_request",
			                "A file is no longer here (it expired "
			                "with your session) or is named twice. "
			                "Attach it again.");
			return -1;
		}
		taken[(*n)++] = up;
	}
	/* out of the session while the engine works on them */
	memcpy(sid, r->session->id, WEB_ID_BYTES);
	for (k = 0; k < *n; k++)
		for (i = 0; i < WEB_MAX_UPLOADS; i++)
			if (r->session->uploads[i] == taken[k])
				r->session->uploads[i] = NULL;
	pthread_mutex_unlock(&srv->lock);
	for (k = 0; k < *n; k++) {
		memset(&att[k], 0, sizeof(att[k]));
		att[k].name = taken[k]->name;
		att[k].data = taken[k]->data.data ? taken[k]->data.data
		                                  : (const unsigned char *)"";
		att[k].len = taken[k]->data.len;
	}
	return 0;
}

static void upload_free(struct web_upload *u)
{
	qm_buf_free(&u->data);
	qm_wipe(u, sizeof(*u));
	free(u);
}

void web_chat_uploads_done(struct web_req *r, struct web_upload **taken,
                           size_t n, int used,
                           const unsigned char sid[WEB_ID_BYTES])
{
	struct qm_web_server *srv = r->srv;
	struct web_session *s = NULL;

	if (used) {
		for (size_t k = 0; k < n; k++)
			upload_free(taken[k]);
		return;
	}
	/* nothing queued: back into the session for another try (freed
	 * when the session is gone or full) */
	pthread_mutex_lock(&srv->lock);
	/* the session that gave them, if it lives (found again: its slot
	 * may hold another session by now) */
	for (size_t i = 0; i < WEB_MAX_SESSIONS; i++)
		if (srv->sessions[i].used &&
		    qm_ct_eq(srv->sessions[i].id, sid, WEB_ID_BYTES) == 0)
			s = &srv->sessions[i];
	for (size_t k = 0; k < n; k++) {
		size_t i = 0;

		while (s && i < WEB_MAX_UPLOADS && s->uploads[i])
			i++;
		if (s && i < WEB_MAX_UPLOADS)
			s->uploads[i] = taken[k];
		else
			upload_free(taken[k]);
	}
	pthread_mutex_unlock(&srv->lock);
}
