/* SPDX-License-Identifier: MIT */
/*
 * The JSON API of docs/WEB.md, second half: messages (reading, sanitised
 * HTML, attachments, flags, delete; the list is api_list.c's),
 * the sync button and its status (the worker thread is sync.c's), events,
 * uploads held in secure memory per session, level availability, send,
 * drafts and the outbox.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "client/client.h"
#include "private.h"

#define MAX_RCPTS 100
/* A subject: past one header line's 998 bytes the engine folds it
 * (test_client_compose: test_long_subject); this bounds the request. */
#define WEB_MAX_SUBJECT (16u * 1024u)

/* ------------------------------------------------------------ helpers */

int64_t web_req_account(struct web_req *r)
{
	const char *q = web_query(r, "account");
	long long v;
	struct qm_store_account *list = NULL;
	size_t n = 0;
	int64_t id = -1;

	if (q && *q) {
		if (qm_parse_ll(q, 1, INT64_MAX, &v, NULL) != QM_OK) {
			web_reply_error(r, 400, "bad_request",
			                "account must be an account ID.");
			return -1;
		}
		return v;
	}
	if (qm_client_account_list(web_client(r), &list, &n, NULL) == QM_OK &&
	    n > 0)
		id = list[0].id;
	free(list);
	if (id < 0)
		web_reply_error(
		    r, 404, "not_found",
		    "There is no account yet: add one in Settings.");
	return id;
}

json_t *web_id_json(int64_t id)
{
	char s[24];

	snprintf(s, sizeof(s), "%lld", (long long)id);
	return json_string(s);
}

/* {"name", "address"}, each display-safe again (web_shown): the names of
 * a list are decoded once more by the parser. */
static json_t *addr_json(const char *name, const char *address)
{
	char *n = web_shown(name), *a = web_shown(address);
	json_t *o = json_pack("{s:o,s:o}", "name", web_jstr(n ? n : ""),
	                      "address", web_jstr(a ? a : ""));

	web_shown_free(n);
	web_shown_free(a);
	return o;
}

/* The "from" of a Summary: the sender's name (qm_client_sender_name) and
 * address; a From kept as written (it gave no bare address) shows the
 * address the parser finds in it, never the name written there. */
static json_t *from_json(const char *name, const char *from)
{
	struct qm_client_addr_list l;
	json_t *o = NULL;

	if (from && strchr(from, '<') &&
	    qm_client_parse_addrs(from, &l, NULL) == QM_OK) {
		if (l.n)
			o = addr_json(name, l.v[0].address);
		qm_client_addr_list_clear(&l);
	}
	return o ? o : addr_json(name, from);
}

/* The mailboxes of address list s (the engine's RFC 5322 parser,
 * qm_client_parse_addrs); an entry that is no address is listed as typed,
 * with no name, so that nothing the message names is hidden. */
static json_t *addrs_json(const char *s)
{
	struct qm_client_addr_list l;
	json_t *arr = json_array();

	if (!s || !*s || !arr)
		return arr;
	if (qm_client_parse_addrs(s, &l, NULL) != QM_OK) {
		json_array_append_new(arr, addr_json("", s));
		return arr;
	}
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(arr,
		                      addr_json(l.v[i].name, l.v[i].address));
	for (size_t i = 0; i < l.ninvalid; i++)
		json_array_append_new(arr, addr_json("", l.invalid[i]));
	qm_client_addr_list_clear(&l);
	return arr;
}

static const char *badge_of(const struct qm_store_msg *m)
{
	static const char *const lv[] = {"plain", "l1", "l2", "l3", "l4"};

	if (m->verify == QM_VERIFY_TAMPERED)
		return "tampered";
	if (m->verify == QM_VERIFY_REPLAY)
		return "replay";
	if (m->verify == QM_VERIFY_REFUSED)
		return "refused";
	if (m->verify == QM_VERIFY_UNVERIFIED_SENDER)
		return "unverified";
	if (m->verify == QM_VERIFY_WAITING)
		return "waiting";
	if (m->verify == QM_VERIFY_UNREADABLE)
		return "unreadable";
	if (m->verify == QM_VERIFY_SENT)
		return "sent";
	if (m->verify == QM_VERIFY_SENT_ELSEWHERE)
		return "fromyou";
	if (m->verify == QM_VERIFY_UNKNOWN_KEY)
		return "nokey";
	if (m->level < 1 || m->level > 4)
		return "plain";
	if (!m->has_body)
		return "pending";
	return lv[m->level];
}

/* s in the engine's display-safe form (qm_client_display, one line): a
 * direction control in a subject shows as "[U+202E]", as in the reader;
 * malloc'd, NULL when out of memory. */
char *web_shown(const char *s)
{
	char *d = NULL;

	return qm_client_display_dup(s ? s : "", QM_DISPLAY_LINE, &d, NULL) ==
	               QM_OK
	           ? d
	           : NULL;
}

void web_shown_free(char *d)
{
	if (d) {
		qm_wipe(d, strlen(d));
		free(d);
	}
}

json_t *web_msg_summary(struct qm_client *cl, const struct qm_store_msg *m)
{
	char *subj = web_shown(m->subject), *name = NULL;
	json_t *o;

	/* the sender's name (a contact's, else its authenticated From's;
	 * "" for none): the address alone is shown then */
	if (qm_client_sender_name(cl, m, &name, NULL) != QM_OK)
		name = NULL;
	/* downloaded false: a header-only record, its body fetched when the
	 * message is opened (or by the sync that filed it, later) */
	o = json_pack("{s:o,s:o,s:o,s:o,s:o,s:I,s:b,s:b,s:b,s:I,s:b,s:{s:s,"
	              "s:i}}",
	              "id", web_id_json(m->id), "account",
	              web_id_json(m->account_id), "folder", web_jstr(m->folder),
	              "from", from_json(name ? name : "", m->from_addr),
	              "subject", web_jstr(subj ? subj : ""), "date",
	              (json_int_t)m->date, "seen",
	              (m->flags & QM_FLAG_SEEN) != 0, "flagged",
	              (m->flags & QM_FLAG_FLAGGED) != 0, "has_attachments",
	              m->n_attach > 0, "size", (json_int_t)m->size,
	              "downloaded", !m->body_pending, "security", "badge",
	              badge_of(m), "level", m->level);
	web_shown_free(name);
	web_shown_free(subj);
	return o;
}

/* ------------------------------------------------------------ counts */

#define COUNT_TTL_S 30

int web_counts(struct qm_web_server *srv, struct qm_client *cl, int64_t account,
               const char *folder, int64_t *total, int64_t *unread)
{
	struct qm_store_query q;
	size_t cap = sizeof(srv->counts) / sizeof(srv->counts[0]), i, slot = 0;
	int64_t now = qm_now();

	pthread_mutex_lock(&srv->lock);
	for (i = 0; i < cap; i++) {
		struct web_count *c = &srv->counts[i];
		if (c->at && c->account == account &&
		    strcmp(c->folder, folder) == 0 &&
		    now - c->at < COUNT_TTL_S) {
			*total = c->total;
			*unread = c->unread;
			pthread_mutex_unlock(&srv->lock);
			return 0;
		}
		if (c->at < srv->counts[slot].at)
			slot = i;
	}
	pthread_mutex_unlock(&srv->lock);
	memset(&q, 0, sizeof(q));
	q.account_id = account;
	q.folder = folder;
	if (qm_client_msg_count(cl, &q, total, NULL) != QM_OK)
		return -1;
	*unread = 0;
	if (*total > 0) {
		q.flags_clear = QM_FLAG_SEEN;
		if (qm_client_msg_count(cl, &q, unread, NULL) != QM_OK)
			return -1;
	}
	if (strlen(folder) < sizeof(srv->counts[0].folder)) {
		pthread_mutex_lock(&srv->lock);
		srv->counts[slot].account = account;
		qm_strlcpy(srv->counts[slot].folder, folder,
		           sizeof(srv->counts[slot].folder));
		srv->counts[slot].total = *total;
		srv->counts[slot].unread = *unread;
		srv->counts[slot].at = now;
		pthread_mutex_unlock(&srv->lock);
	}
	return 0;
}

void web_counts_forget(struct qm_web_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	memset(srv->counts, 0, sizeof(srv->counts));
	pthread_mutex_unlock(&srv->lock);
}

/* Loads the summary row of message id; NULL when replied with an error. */
static struct qm_store_msglist *load_row(struct web_req *r, int64_t id)
{
	struct qm_store_msglist *l = NULL;
	struct qm_error e;

	if (qm_client_msg_get(web_client(r), id, &l, &e) != QM_OK) {
		if (e.code == QM_ERR_NOTFOUND)
			web_reply_error(r, 404, "not_found",
			                "There is no message %lld.",
			                (long long)id);
		else
			web_reply_qm_error(r, &e);
		return NULL;
	}
	return l;
}

/* Opens message id through the client, its attachments decoded, or with
 * listed only listed (qm_client_read_listed: data NULL, their sizes);
 * NULL when replied with an error. */
static struct qm_client_view *load_view_as(struct web_req *r, int64_t id,
                                           int listed)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;

	if ((listed ? qm_client_read_listed(r->srv->client, id, &v, &e)
	            : qm_client_read(r->srv->client, id, &v, &e)) != QM_OK) {
		web_reply_qm_error(r, &e);
		return NULL;
	}
	return v;
}

static struct qm_client_view *load_view(struct web_req *r, int64_t id)
{
	return load_view_as(r, id, 0);
}

static const char *verify_name(enum qm_store_verify v)
{
	switch (v) {
	case QM_VERIFY_OK:
		return "verified";
	case QM_VERIFY_TAMPERED:
		return "tampered";
	case QM_VERIFY_NOT_QMAIL:
		return "plain";
	case QM_VERIFY_REPLAY:
		return "replay";
	case QM_VERIFY_REFUSED:
		return "refused";
	case QM_VERIFY_UNVERIFIED_SENDER:
		return "unverified_sender";
	case QM_VERIFY_WAITING:
		return "waiting";
	case QM_VERIFY_UNREADABLE:
		return "unreadable";
	case QM_VERIFY_SENT:
		return "sent";
	case QM_VERIFY_SENT_ELSEWHERE:
		return "sent_elsewhere";
	default:
		return "no_key";
	}
}

/* Whom Reply and Reply all write to, as the engine says:
 * {"to": [...], "all_cc": [...]} (bare addresses), or null. */
static json_t *reply_json(struct qm_client *c, int64_t account_id,
                          const struct qm_client_view *v)
{
	struct qm_store_identity self;
	char **to = NULL, **cc = NULL;
	size_t nto = 0, ncc = 0;
	json_t *o, *a, *b;

	if (qm_client_reply_rcpts(c, account_id, v, 1, &to, &nto, &cc, &ncc,
	                          NULL) != QM_OK)
		return json_null();
	a = json_array();
	b = json_array();
	for (size_t i = 0; a && i < nto; i++)
		json_array_append_new(a, web_jstr(to[i]));
	for (size_t i = 0; b && i < ncc; i++)
		json_array_append_new(b, web_jstr(cc[i]));
	qm_client_strv_free(&to, nto);
	qm_client_strv_free(&cc, ncc);
	/* the identity the message was addressed to: the reply's From */
	if (qm_client_identity_for(c, account_id, v->to, v->cc, &self, NULL) !=
	    QM_OK)
		self.address[0] = '\0';
	o = a && b ? json_pack("{s:o,s:o,s:o}", "to", a, "all_cc", b, "from",
	                       web_jstr(self.address))
	           : NULL;
	if (!o) {
		json_decref(a);
		json_decref(b);
	}
	return o ? o : json_null();
}

/* True when s holds nothing but blanks. */
static int blank_text(const char *s)
{
	for (; s && *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			return 0;
	return 1;
}

/*
 * A message's "text" (for HTML-only mail, the text made from its HTML,
 * with "text_from_html": true) and the remote images its HTML names
 * ("remote_images", of them plain http "remote_http"). v NULL: a message
 * whose content is not shown.
 */
static void html_fields(json_t *o, const struct qm_client_view *v)
{
	struct qm_web_html_stats st = {0, 0};
	struct qm_buf text;
	int from_html = 0;

	qm_buf_init_secure(&text, QM_CLIENT_MAXMSG * 2);
	/* a message too large to convert keeps its (empty) text */
	if (v && v->html && blank_text(v->text))
		from_html = qm_web_html_text(v->html, strlen(v->html), &text,
		                             &st, NULL) == QM_OK &&
		            qm_buf_append(&text, "", 1, NULL) == QM_OK;
	else if (v && v->html) /* only counted: the scratch copy goes */
		QM_IGNORE(qm_web_html_sanitize_stats(v->html, strlen(v->html),
		                                     0, NULL, 0, &text, &st,
		                                     NULL));
	json_object_set_new(o, "text",
	                    web_jstr(from_html ? (const char *)text.data
	                                       : v ? v->text : ""));
	json_object_set_new(o, "text_from_html", json_boolean(from_html));
	json_object_set_new(o, "remote_images",
	                    json_integer((json_int_t)st.remote_images));
	json_object_set_new(o, "remote_http",
	                    json_integer((json_int_t)st.remote_http));
	qm_buf_free(&text);
}

void web_api_message_get(struct web_req *r)
{
	struct qm_store_msglist *l;
	struct qm_client_view *v;
	json_t *o, *atts, *keys, *details;
	int64_t id;
	size_t i;
	int bad, marked;

	if (web_arg_id(r, 0, &id) != 0 || !(l = load_row(r, id)))
		return;
	/* the reader lists the attachments; their bytes come from
	 * .../attachments/N, streamed from the vault */
	v = load_view_as(r, id, 1);
	if (!v) {
		qm_client_msglist_free(&l);
		return;
	}
	marked = !(l->items[0].flags & QM_FLAG_SEEN);
	if (marked) {
		/* shown as read; when the flag cannot be kept now, the next
		 * list shows it unread. The server learns it from the page's
		 * POST .../flags right after it shows the message (marked_read
		 * below), on the ops handle, so this answer never waits for
		 * the IMAP server. */
		if (qm_client_msg_flags(r->srv->client, id, QM_FLAG_SEEN, 0,
		                        NULL, NULL) == QM_OK)
			web_counts_forget(r->srv);
		l->items[0].flags |= QM_FLAG_SEEN;
	}
	bad = v->verify == QM_VERIFY_TAMPERED || v->verify == QM_VERIFY_REPLAY;
	o = web_msg_summary(web_client(r), &l->items[0]);
	atts = json_array();
	for (i = 0; !bad && i < v->natt && atts; i++)
		/* name and type display-safe from the engine; extension: the
		 * real one, which a disguised name hides */
		json_array_append_new(
		    atts,
		    json_pack("{s:I,s:o,s:o,s:o,s:b,s:I,s:b}", "index",
		              (json_int_t)i, "name", web_jstr(v->att[i].name),
		              "type", web_jstr(v->att[i].type), "extension",
		              web_jstr(v->att[i].ext), "disguised",
		              v->att[i].disguised, "size",
		              (json_int_t)v->att[i].len, "named",
		              v->att[i].named));
	keys = json_array();
	for (i = 0; i < v->nkey_ids && i < 50 && keys; i++)
		json_array_append_new(keys, web_jstr(v->key_ids[i]));
	details = json_pack(
	    "{s:i,s:s,s:o,s:o,s:I,s:o}", "level", v->level, "status",
	    verify_name(v->verify), "explanation", web_jstr(v->status_text),
	    "key_ids", keys ? keys : json_array(), "key_count",
	    (json_int_t)v->nkey_ids, "sender_sae", web_jstr(v->sender_sae));
	if (details) {
		json_object_set_new(details, "sender_owner",
		                    web_jstr(v->sender_owner));
		json_object_set_new(details, "retryable",
		                    json_boolean(v->retryable));
		if (v->relay_hops)
			json_object_set_new(
			    details, "relay",
			    json_pack("{s:i,s:i,s:o}", "hops", v->relay_hops,
			              "trusted_nodes", v->relay_trusted,
			              "source_kme", web_jstr(v->relay_source)));
		if (v->retry_at)
			json_object_set_new(
			    details, "retry_at",
			    json_integer((json_int_t)v->retry_at));
	}
	/* the signing key and its trust as of now (a key verified later
	 * shows verified) */
	if (details && v->signer_fpr && v->signer_fpr[0])
		json_object_set_new(
		    details, "signer",
		    json_pack("{s:o,s:s,s:o}", "fingerprint",
		              web_jstr(v->signer_fpr), "trust",
		              qm_client_signer_trust_name(v->signer_trust),
		              "address", web_jstr(v->signer_addr)));
	if (o && v->signer_fpr && v->signer_fpr[0])
		json_object_set_new(
		    json_object_get(o, "security"), "signer",
		    json_string(qm_client_signer_trust_name(v->signer_trust)));
	if (o) {
		if (!bad && v->subject && v->subject[0])
			json_object_set_new(o, "subject", web_jstr(v->subject));
		/* the reader's name: also a row filed before names have its
		 * From's (qm_client_read) */
		json_object_set_new(
		    o, "from", from_json(v->from_name, l->items[0].from_addr));
		json_object_set_new(o, "to", addrs_json(v->to));
		json_object_set_new(o, "cc", addrs_json(v->cc));
		json_object_set_new(o, "message_id", web_jstr(v->message_id));
		json_object_set_new(o, "in_reply_to", web_jstr(v->in_reply_to));
		json_object_set_new(o, "reply_to", addrs_json(v->reply_to));
		json_object_set_new(
		    o, "reply",
		    reply_json(r->srv->client, l->items[0].account_id, v));
		html_fields(o, bad ? NULL : v);
		json_object_set_new(o, "has_html",
		                    json_boolean(!bad && v->html));
		json_object_set_new(o, "attachments",
		                    atts ? atts : json_array());
		json_object_set_new(o, "details",
		                    details ? details : json_object());
		if (marked)
			json_object_set_new(o, "marked_read", json_true());
	} else {
		json_decref(atts);
		json_decref(details);
	}
	qm_client_view_free(&v);
	qm_client_msglist_free(&l);
	web_reply_json(r, 200, o);
}

#define SANDBOX_CSP                                                            \
	"sandbox allow-popups allow-popups-to-escape-sandbox; default-src "    \
	"'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors "   \
	"'self'; base-uri 'none'; form-action 'none'"
#define SANDBOX_CSP_REMOTE                                                     \
	"sandbox allow-popups allow-popups-to-escape-sandbox; default-src "    \
	"'none'; img-src data: https:; style-src 'unsafe-inline'; "            \
	"frame-ancestors 'self'; base-uri 'none'; form-action 'none'"

void web_api_message_html(struct web_req *r)
{
	struct qm_web_inline *parts = NULL;
	struct qm_client_view *v;
	struct qm_buf out;
	struct qm_error e;
	const char *remote_q = web_query(r, "remote");
	int remote = remote_q && strcmp(remote_q, "1") == 0 &&
	             !r->srv->cfg.no_remote_images;
	int64_t id;
	static const char head[] =
	    "<!doctype html><html><head><meta charset=\"utf-8\">"
	    "<meta name=\"referrer\" content=\"no-referrer\"></head><body>";
	static const char tail[] = "</body></html>";

	if (web_arg_id(r, 0, &id) != 0 || !(v = load_view_as(r, id, 1)))
		return;
	/* the inline parts (cid:) are shown in place: only then are the
	 * attachments decoded (a message without any is never) */
	for (size_t i = 0; v->html && i < v->natt; i++) {
		if (!v->att[i].cid[0])
			continue;
		qm_client_view_free(&v);
		if (!(v = load_view(r, id)))
			return;
		break;
	}
	if (!v->html || v->verify == QM_VERIFY_TAMPERED ||
	    v->verify == QM_VERIFY_REPLAY) {
		qm_client_view_free(&v);
		web_reply_error(r, 404, "not_found",
		                "This message has no HTML part.");
		return;
	}
	/* cid: images are this message's own parts, shown in place */
	parts = calloc(v->natt ? v->natt : 1, sizeof(*parts));
	if (!parts) {
		qm_client_view_free(&v);
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	for (size_t i = 0; i < v->natt; i++) {
		parts[i].cid = v->att[i].cid;
		parts[i].type = v->att[i].type;
		parts[i].data = v->att[i].data;
		parts[i].len = v->att[i].len;
	}
	/* inline images grow by a third as data: URLs */
	qm_buf_init_secure(&out, QM_CLIENT_MAXMSG * 2);
	if (qm_buf_append(&out, head, sizeof(head) - 1, &e) != QM_OK ||
	    qm_web_html_sanitize_parts(v->html, strlen(v->html), remote, parts,
	                               v->natt, &out, &e) != QM_OK ||
	    qm_buf_append(&out, tail, sizeof(tail) - 1, &e) != QM_OK) {
		free(parts);
		qm_client_view_free(&v);
		qm_buf_free(&out);
		web_reply_qm_error(r, &e);
		return;
	}
	free(parts);
	qm_client_view_free(&v);
	r->reply.raw = malloc(out.len);
	if (!r->reply.raw) {
		qm_buf_free(&out);
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	memcpy(r->reply.raw, out.data, out.len);
	r->reply.raw_len = out.len;
	qm_buf_free(&out);
	r->reply.status = 200;
	r->reply.csp = remote ? SANDBOX_CSP_REMOTE : SANDBOX_CSP;
	qm_strlcpy(r->reply.ctype, "text/html; charset=utf-8",
	           sizeof(r->reply.ctype));
}

/* filename*=UTF-8''... with every byte outside [A-Za-z0-9._-] encoded. */
static void disposition(char *out, size_t cap, const char *name)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o, i;

	o = (size_t)snprintf(out, cap, "attachment; filename*=UTF-8''");
	for (i = 0; name[i] && o + 4 < cap; i++) {
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
	if (i == 0 && o + 11 < cap) {
		memcpy(out + o, "attachment", 10);
		o += 10;
	}
	out[o] = '\0';
}

/* Attachment n of message id streamed from the vault: 1 when the reply
 * is set (the stream, or an error), -1 when there is no such attachment
 * to show, 0 when it is to be read whole (a forwarded message, one not
 * fetched yet). */
static int att_stream(struct web_req *r, int64_t id, size_t n)
{
	struct qm_client_att_reader *ar = NULL;
	const struct qm_client_att *a;
	struct qm_error e;
	enum qm_err rc;

	qm_error_clear(&e);
	rc = qm_client_att_open(r->srv->client, id, n, &ar, &e);
	if (rc == QM_ERR_UNSUPPORTED)
		return 0;
	if (rc == QM_ERR_NOTFOUND)
		return -1;
	if (rc) {
		web_reply_qm_error(r, &e);
		return 1;
	}
	a = qm_client_att_info(ar);
	r->reply.stream = ar;
	r->reply.status = 200;
	qm_strlcpy(r->reply.ctype, "application/octet-stream",
	           sizeof(r->reply.ctype));
	disposition(r->reply.disposition, sizeof(r->reply.disposition),
	            a->name ? a->name : "");
	return 1;
}

void web_api_message_attachment(struct web_req *r)
{
	struct qm_client_view *v;
	long long n;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	if (qm_parse_ll(r->args[1], 0, 100000, &n, NULL) != QM_OK) {
		web_reply_error(r, 400, "bad_request",
		                "Bad attachment number.");
		return;
	}
	/* an attachment is sent from the vault as it is read (issue 18);
	 * a forwarded message (message/rfc822) is given whole below */
	switch (att_stream(r, id, (size_t)n)) {
	case 1:
		return;
	case -1:
		web_reply_error(r, 404, "not_found",
		                "This message has no attachment %lld.", n);
		return;
	default:
		break;
	}
	if (!(v = load_view(r, id)))
		return;
	if ((size_t)n >= v->natt || v->verify == QM_VERIFY_TAMPERED ||
	    v->verify == QM_VERIFY_REPLAY) {
		qm_client_view_free(&v);
		web_reply_error(r, 404, "not_found",
		                "This message has no attachment %lld.", n);
		return;
	}
	r->reply.raw = malloc(v->att[n].len ? v->att[n].len : 1);
	if (!r->reply.raw) {
		qm_client_view_free(&v);
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	memcpy(r->reply.raw, v->att[n].data, v->att[n].len);
	r->reply.raw_len = v->att[n].len;
	r->reply.status = 200;
	qm_strlcpy(r->reply.ctype, "application/octet-stream",
	           sizeof(r->reply.ctype));
	disposition(r->reply.disposition, sizeof(r->reply.disposition),
	            v->att[n].name ? v->att[n].name : "");
	qm_client_view_free(&v);
}

void web_api_message_flags(struct web_req *r)
{
	struct qm_store_msglist *l;
	struct qm_error e;
	json_t *j;
	int64_t id;
	int seen = -1, flagged = -1, written = 0;
	unsigned set = 0, clear = 0, flags = 0;
	json_t *o;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	j = web_body_json(r);
	if (!j)
		return;
	if (web_get_bool(r, j, "seen", &seen) < 0 ||
	    web_get_bool(r, j, "flagged", &flagged) < 0) {
		json_decref(j);
		return;
	}
	json_decref(j);
	if (!(l = load_row(r, id)))
		return;
	if (seen >= 0)
		*(seen ? &set : &clear) |= QM_FLAG_SEEN;
	if (flagged >= 0)
		*(flagged ? &set : &clear) |= QM_FLAG_FLAGGED;
	/* written to the server at once (the engine queues it for the next
	 * sync when the server cannot take it now) */
	if (qm_client_msg_flags_now(web_client(r), id, set, clear, &flags,
	                            &written, &e) != QM_OK) {
		qm_client_msglist_free(&l);
		web_reply_qm_error(r, &e);
		return;
	}
	l->items[0].flags = flags;
	web_counts_forget(r->srv);
	o = web_msg_summary(web_client(r), &l->items[0]);
	if (o)
		json_object_set_new(o, "written", json_boolean(written));
	web_reply_json(r, 200, o);
	qm_client_msglist_free(&l);
}

void web_api_message_delete(struct web_req *r)
{
	struct qm_error e;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	if (qm_client_msg_delete(web_client(r), id, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_counts_forget(r->srv);
	web_reply_empty(r);
}

/* ------------------------------------------------------------ sync */

static json_t *sync_json(struct qm_web_server *srv)
{
	return json_pack(
	    "{s:b,s:I,s:I,s:I,s:I,s:I,s:o}", "running", srv->sync_running,
	    "done", (json_int_t)srv->sync.done, "total",
	    (json_int_t)srv->sync.total, "new", (json_int_t)srv->sync.fresh,
	    "passes", (json_int_t)srv->sync.passes, "last",
	    (json_int_t)srv->sync.last, "error",
	    srv->sync.error[0] ? web_jstr(srv->sync.error) : json_null());
}

void web_api_sync_start(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	long long acct = 0;
	json_t *j = r->body.len ? web_body_json(r) : json_object();

	if (!j)
		return;
	if (web_get_int(r, j, "account", 0, 1, INT64_MAX, &acct) < 0) {
		json_decref(j);
		return;
	}
	json_decref(j);
	pthread_mutex_lock(&srv->lock);
	if (!srv->sync_running) {
		srv->sync_account = acct;
		srv->sync_running = 1;
		srv->sync.error[0] = '\0';
		pthread_cond_broadcast(&srv->sync_cond);
	} else {
		/* the pass under way may have started before what the
		 * person wants synced (a flag just changed): once more */
		srv->sync_again = 1;
	}
	web_reply_json(r, 202, sync_json(srv));
	pthread_mutex_unlock(&srv->lock);
}

void web_api_sync_get(struct web_req *r)
{
	pthread_mutex_lock(&r->srv->lock);
	web_reply_json(r, 200, sync_json(r->srv));
	pthread_mutex_unlock(&r->srv->lock);
}

void web_api_events(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	const char *since_q = web_query(r, "since");
	long long since = 0;
	size_t cap = sizeof(srv->events) / sizeof(srv->events[0]), i;
	json_t *arr = json_array();

	/* no since (or since=now): a page that just loaded starts after the
	 * events it has not seen, rather than replaying them as notices */
	int from_now = !since_q || !strcmp(since_q, "now");

	if (!from_now &&
	    qm_parse_ll(since_q, 0, INT64_MAX, &since, NULL) != QM_OK) {
		json_decref(arr);
		web_reply_error(r, 400, "bad_request",
		                "since must be a number or \"now\".");
		return;
	}
	pthread_mutex_lock(&srv->lock);
	if (from_now)
		since = srv->event_seq;
	for (i = 0; i < cap && arr; i++) {
		long seq = srv->event_seq - (long)cap + 1 + (long)i;
		const struct web_event *e;
		if (seq <= since || seq <= 0)
			continue;
		e = &srv->events[seq % (long)cap];
		if (e->seq != seq)
			continue;
		json_array_append_new(
		    arr, json_pack("{s:I,s:s,s:o,s:s}", "seq",
		                   (json_int_t)e->seq, "type", e->type, "text",
		                   web_jstr(e->text), "id", e->id));
	}
	web_reply_json(r, 200,
	               arr ? json_pack("{s:o,s:I}", "events", arr, "seq",
	                               (json_int_t)srv->event_seq)
	                   : NULL);
	pthread_mutex_unlock(&srv->lock);
}

/* ------------------------------------------------------------ uploads */

/* Decodes a percent-encoded file name; 0, or -1 when it is not acceptable. */
static int decode_name(const char *in, char *out, size_t cap)
{
	size_t o = 0, i;

	for (i = 0; in[i]; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '%') {
			int hi, lo;
			char h1 = in[i + 1], h2 = h1 ? in[i + 2] : 0;
			hi = h1 >= '0' && h1 <= '9' ? h1 - '0'
			     : (h1 | 32) >= 'a' && (h1 | 32) <= 'f'
			         ? (h1 | 32) - 'a' + 10
			         : -1;
			lo = h2 >= '0' && h2 <= '9' ? h2 - '0'
			     : (h2 | 32) >= 'a' && (h2 | 32) <= 'f'
			         ? (h2 | 32) - 'a' + 10
			         : -1;
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' ||
		    o + 1 >= cap)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (o == 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		return -1;
	return 0;
}

void web_api_upload_add(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	const char *fname = web_header(r, "X-Filename");
	struct web_upload *u;
	size_t i, slot = WEB_MAX_UPLOADS, held = 0;
	json_t *j;

	u = calloc(1, sizeof(*u));
	if (!u) {
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	if (!fname || decode_name(fname, u->name, sizeof(u->name)) != 0) {
		free(u);
		web_reply_error(
		    r, 400, "bad_request",
		    "The upload needs an X-Filename header with a file name "
		    "(percent-encoded UTF-8, no folders).");
		return;
	}
	pthread_mutex_lock(&srv->lock);
	if (!r->session || !r->session->unlocked) {
		pthread_mutex_unlock(&srv->lock);
		free(u);
		web_reply_error(r, 401, "unauthorized",
		                "Your session has ended.");
		return;
	}
	for (i = 0; i < WEB_MAX_UPLOADS; i++) {
		if (!r->session->uploads[i] && slot == WEB_MAX_UPLOADS)
			slot = i;
		if (r->session->uploads[i])
			held += r->session->uploads[i]->data.len;
	}
	if (slot == WEB_MAX_UPLOADS ||
	    held + r->body.len > 4 * srv->cfg.max_upload) {
		pthread_mutex_unlock(&srv->lock);
		free(u);
		web_reply_error(
		    r, 413, "too_large",
		    "Too many attachments waiting (at most %d files and %zu MB "
		    "in all). Send or remove some first.",
		    WEB_MAX_UPLOADS, 4 * srv->cfg.max_upload >> 20);
		return;
	}
	snprintf(u->id, sizeof(u->id), "u%lu", ++srv->upload_seq);
	u->data = r->body; /* the secure buffer moves into the session */
	qm_buf_init_secure(&r->body, 0);
	r->session->uploads[slot] = u;
	j = json_pack("{s:s,s:o,s:I}", "id", u->id, "name", web_jstr(u->name),
	              "size", (json_int_t)u->data.len);
	pthread_mutex_unlock(&srv->lock);
	web_reply_json(r, 201, j);
}

/* An attachment's name as an upload's: the part after any folder, or
 * "attachment-N" when that leaves nothing. */
static void forward_name(const char *name, size_t n, char *out, size_t outlen)
{
	const char *b = name ? name : "";
	const char *p;

	for (p = b; *p; p++)
		if (*p == '/' || *p == '\\')
			b = p + 1;
	if (!*b || strcmp(b, ".") == 0 || strcmp(b, "..") == 0)
		snprintf(out, outlen, "attachment-%zu", n + 1);
	else
		qm_strlcpy(out, b, outlen);
}

/*
 * POST /api/messages/{id}/forward: the message's attachments (decrypted,
 * read as the reader reads them) become uploads of the session, so that
 * a forward carries them as the CLI's does; compose lists them as if
 * picked, and the user may remove any. The session's upload limits hold.
 */
void web_api_message_forward(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	struct qm_client_view *v;
	size_t held = 0, slots = 0, need = 0;
	json_t *arr;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	if (!(v = load_view(r, id)))
		return;
	if (v->verify == QM_VERIFY_TAMPERED || v->verify == QM_VERIFY_REPLAY) {
		qm_client_view_free(&v);
		web_reply_error(r, 409, "conflict",
		                "A tampered or replayed message cannot be "
		                "forwarded with its attachments.");
		return;
	}
	for (size_t k = 0; k < v->natt; k++) {
		need += v->att[k].len;
		if (v->att[k].len > srv->cfg.max_upload) {
			web_reply_error(r, 413, "too_large",
			                "The attachment %s is larger than the "
			                "upload limit of %zu MB.",
			                v->att[k].name ? v->att[k].name : "",
			                srv->cfg.max_upload >> 20);
			qm_client_view_free(&v);
			return;
		}
	}
	arr = json_array();
	pthread_mutex_lock(&srv->lock);
	if (!r->session || !r->session->unlocked) {
		pthread_mutex_unlock(&srv->lock);
		qm_client_view_free(&v);
		json_decref(arr);
		web_reply_error(r, 401, "unauthorized",
		                "Your session has ended.");
		return;
	}
	for (size_t i = 0; i < WEB_MAX_UPLOADS; i++) {
		if (!r->session->uploads[i])
			slots++;
		else
			held += r->session->uploads[i]->data.len;
	}
	if (slots < v->natt || held + need > 4 * srv->cfg.max_upload) {
		pthread_mutex_unlock(&srv->lock);
		qm_client_view_free(&v);
		json_decref(arr);
		web_reply_error(
		    r, 413, "too_large",
		    "Too many attachments waiting (at most %d files and %zu MB "
		    "in all). Send or remove some first.",
		    WEB_MAX_UPLOADS, 4 * srv->cfg.max_upload >> 20);
		return;
	}
	for (size_t k = 0, i = 0; k < v->natt && arr; k++) {
		struct web_upload *u = calloc(1, sizeof(*u));

		while (r->session->uploads[i])
			i++;
		if (!u) {
			json_decref(arr);
			arr = NULL;
			break;
		}
		forward_name(v->att[k].name, k, u->name, sizeof(u->name));
		qm_buf_init_secure(&u->data, v->att[k].len ? v->att[k].len : 1);
		if (v->att[k].len &&
		    qm_buf_append(&u->data, v->att[k].data, v->att[k].len,
		                  NULL) != QM_OK) {
			qm_buf_free(&u->data);
			free(u);
			json_decref(arr);
			arr = NULL;
			break;
		}
		snprintf(u->id, sizeof(u->id), "u%lu", ++srv->upload_seq);
		r->session->uploads[i] = u;
		json_array_append_new(arr, json_pack("{s:s,s:o,s:I}", "id",
		                                     u->id, "name",
		                                     web_jstr(u->name), "size",
		                                     (json_int_t)u->data.len));
	}
	pthread_mutex_unlock(&srv->lock);
	qm_client_view_free(&v);
	if (!arr) {
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	web_reply_json(r, 201, json_pack("{s:o}", "uploads", arr));
}

void web_api_upload_delete(struct web_req *r)
{
	struct web_upload *u;

	pthread_mutex_lock(&r->srv->lock);
	u = r->session ? web_upload_find(r->session, r->args[0]) : NULL;
	if (u)
		web_upload_drop(r->session, u);
	pthread_mutex_unlock(&r->srv->lock);
	if (u)
		web_reply_empty(r);
	else
		web_reply_error(r, 404, "not_found", "There is no upload %s.",
		                r->args[0]);
}

/* ------------------------------------------------------------ compose */

/* Appends the strings of a JSON array to v[*n]; bounded by cap. */
static void collect(json_t *arr, const char **v, size_t *n, size_t cap)
{
	size_t i;
	json_t *e;

	if (!arr)
		return;
	json_array_foreach(arr, i, e)
	{
		if (*n < cap)
			v[(*n)++] = json_string_value(e);
	}
}

/* The addresses of a comma-separated list as a JSON array. */
static json_t *addr_array(const char *list)
{
	json_t *a = json_array();

	while (a && list && *list) {
		size_t n = strcspn(list, ",");
		char one[QM_STORE_ADDRMAX];

		while (*list == ' ' && n) {
			list++;
			n--;
		}
		if (n && n < sizeof(one)) {
			memcpy(one, list, n);
			one[n] = '\0';
			json_array_append_new(a, web_jstr(one));
		}
		list += n;
		if (*list == ',')
			list++;
	}
	return a;
}

/* {"recipients": [...], "all", "allowed", "reason", "invite"}: who would
 * get the message unencrypted (qm_client_plain_msg), or NULL. */
static json_t *plain_json(const struct qm_client_plain *pl)
{
	return json_pack("{s:o,s:b,s:b,s:o,s:b}", "recipients",
	                 addr_array(pl->rcpts), "all", pl->all, "allowed",
	                 pl->allowed, "reason", web_jstr(pl->reason), "invite",
	                 pl->invite);
}

void web_api_levels(struct web_req *r)
{
	struct qm_client_plain pl;
	struct qm_client_level lv[4];
	struct qm_client_level_prefs prefs;
	struct qm_client_compose m;
	struct qm_error e;
	json_t *j = web_body_json(r), *to = NULL, *cc = NULL, *bcc = NULL, *ups,
	       *arr;
	const char *tov[MAX_RCPTS], *ccv[MAX_RCPTS], *bccv[MAX_RCPTS];
	size_t i;
	long long acct = 0, body = 0;
	uint64_t bytes, needed = 0;

	if (!j)
		return;
	if (web_get_int(r, j, "account", 1, 1, INT64_MAX, &acct) < 0 ||
	    web_get_int(r, j, "body_bytes", 0, 0, QM_CLIENT_MAXMSG, &body) <
	        0 ||
	    web_get_addrs(r, j, "to", MAX_RCPTS, &to) < 0 ||
	    web_get_addrs(r, j, "cc", MAX_RCPTS, &cc) < 0 ||
	    web_get_addrs(r, j, "bcc", MAX_RCPTS, &bcc) < 0)
		goto out;
	memset(&m, 0, sizeof(m));
	m.account_id = acct;
	collect(to, tov, &m.nto, MAX_RCPTS);
	collect(cc, ccv, &m.ncc, MAX_RCPTS);
	collect(bcc, bccv, &m.nbcc, MAX_RCPTS);
	m.to = tov;
	m.cc = ccv;
	m.bcc = bccv;
	bytes = (uint64_t)body;
	ups = json_object_get(j, "uploads");
	if (json_is_array(ups)) {
		json_t *u;
		pthread_mutex_lock(&r->srv->lock);
		json_array_foreach(ups, i, u)
		{
			struct web_upload *up =
			    json_is_string(u) && r->session
			        ? web_upload_find(r->session,
			                          json_string_value(u))
			        : NULL;
			if (up)
				bytes += up->data.len + strlen(up->name);
		}
		pthread_mutex_unlock(&r->srv->lock);
	}
	if (m.nto + m.ncc + m.nbcc == 0) {
		web_reply_error(
		    r, 400, "bad_request",
		    "Add a recipient to see which levels can be used.");
		goto out;
	}
	if (qm_client_level_prefs(r->srv->client, acct, &prefs, &e) != QM_OK ||
	    qm_client_plain_msg(r->srv->client, &m, &pl, &e) != QM_OK ||
	    qm_client_levels_msg(r->srv->client, &m, bytes, lv, &needed, &e) !=
	        QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	arr = json_array();
	for (i = 0; i < 4 && arr; i++) {
		json_t *o = json_pack("{s:i,s:b,s:o,s:o,s:o}", "level",
		                      lv[i].level, "available", lv[i].available,
		                      "reason", web_jstr(lv[i].reason), "note",
		                      web_jstr(lv[i].note), "unverified",
		                      addr_array(lv[i].unverified));

		/* what to mend, for the page to word (as in error replies) */
		if (o && *qm_client_hint_name(lv[i].hint)) {
			json_object_set_new(
			    o, "hint",
			    json_string(qm_client_hint_name(lv[i].hint)));
			json_object_set_new(o, "hint_arg",
			                    web_jstr(lv[i].hint_arg));
		}
		json_array_append_new(arr, o);
	}
	/* default_level: what a message without a level goes at; min_level:
	 * the setting (0: none); plain: who can get no encrypted message
	 * (the levels are those of the others) */
	web_reply_json(r, 200,
	               arr ? json_pack("{s:I,s:o,s:i,s:i,s:o*}", "needed_bytes",
	                               (json_int_t)needed, "levels", arr,
	                               "default_level", prefs.default_level,
	                               "min_level", prefs.min_level, "plain",
	                               plain_json(&pl))
	                   : NULL);
out:
	json_decref(j);
}

void web_api_send(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_client_attachment att[WEB_MAX_UPLOADS];
	struct web_upload *taken[WEB_MAX_UPLOADS];
	unsigned char session_id[WEB_ID_BYTES];
	struct qm_error e;
	json_t *j = web_body_json(r), *to = NULL, *cc = NULL, *bcc = NULL, *ups,
	       *pto = NULL;
	const char *tov[MAX_RCPTS], *ccv[MAX_RCPTS], *bccv[MAX_RCPTS],
	    *ptov[MAX_RCPTS];
	const char *subject = "", *text = "", *irt = NULL, *from = NULL,
	           *html = NULL;
	struct qm_buf clean, htext;
	long long acct = 0, level = 0, draft = 0;
	size_t nt = 0, i, k;
	enum qm_err rc;
	json_t *ids;
	int allow_plain = 0;

	if (!j)
		return;
	memset(&m, 0, sizeof(m));
	if (web_get_int(r, j, "account", 1, 1, INT64_MAX, &acct) < 0 ||
	    web_get_int(r, j, "level", 0, 1, 4, &level) < 0 ||
	    web_get_int(r, j, "draft", 0, 1, INT64_MAX, &draft) < 0 ||
	    web_get_addrs(r, j, "to", MAX_RCPTS, &to) < 0 ||
	    web_get_addrs(r, j, "cc", MAX_RCPTS, &cc) < 0 ||
	    web_get_addrs(r, j, "bcc", MAX_RCPTS, &bcc) < 0 ||
	    web_get_str(r, j, "subject", 0, WEB_MAX_SUBJECT, &subject) < 0 ||
	    web_get_str(r, j, "text", 0, WEB_MAX_JSON_MESSAGE, &text) < 0 ||
	    web_get_str(r, j, "in_reply_to", 0, 998, &irt) < 0 ||
	    web_get_bool(r, j, "allow_plain", &allow_plain) < 0 ||
	    web_get_addrs(r, j, "plain_to", MAX_RCPTS, &pto) < 0 ||
	    web_get_str(r, j, "from", 0, 320, &from) < 0 ||
	    web_get_str(r, j, "html", 0, WEB_MAX_JSON_MESSAGE, &html) < 0) {
		json_decref(j);
		return;
	}
	if (allow_plain == 1 && (!pto || json_array_size(pto) == 0)) {
		json_decref(j);
		web_reply_error(
		    r, 400, "bad_request",
		    "allow_plain needs plain_to: the recipients the "
		    "person chose to send this message to "
		    "unencrypted.");
		return;
	}
	if (!to || json_array_size(to) == 0) {
		json_decref(j);
		web_reply_error(r, 400, "bad_request",
		                "Add at least one recipient in To.");
		return;
	}
	m.account_id = acct;
	collect(to, tov, &m.nto, MAX_RCPTS);
	collect(cc, ccv, &m.ncc, MAX_RCPTS);
	collect(bcc, bccv, &m.nbcc, MAX_RCPTS);
	m.to = tov;
	m.cc = ccv;
	m.bcc = bccv;
	m.subject = subject ? subject : "";
	m.text = text ? text : "";
	m.in_reply_to = irt && *irt ? irt : NULL;
	m.level = (int)level;
	/* only the literal true of this request sends anything unencrypted,
	 * and only to the recipients it names (those the page showed) */
	m.allow_plain = allow_plain == 1;
	collect(pto, ptov, &m.nplain_to, MAX_RCPTS);
	m.plain_to = ptov;
	m.from = from && *from ? from : NULL;
	/* the editor's HTML is the page's: sanitised here as the reader
	 * would show it, and the text part made from what was kept */
	qm_buf_init_secure(&clean, QM_CLIENT_MAXMSG);
	qm_buf_init_secure(&htext, QM_CLIENT_MAXMSG);
	if (html && *html) {
		if (qm_web_compose_html(html, strlen(html), &clean,
		                        text && *text ? NULL : &htext, &e)) {
			qm_buf_free(&clean);
			qm_buf_free(&htext);
			json_decref(j);
			web_reply_qm_error(r, &e);
			return;
		}
		m.html = clean.data ? (const char *)clean.data : "";
		if (!(text && *text))
			m.text = htext.data ? (const char *)htext.data : "";
	}
	/* Take the uploads out of the session while the client works on them,
	 * so that a lock in another tab cannot free them under us. */
	ups = json_object_get(j, "uploads");
	pthread_mutex_lock(&srv->lock);
	if (!r->session) {
		pthread_mutex_unlock(&srv->lock);
		qm_buf_free(&clean);
		qm_buf_free(&htext);
		json_decref(j);
		web_reply_error(r, 401, "unauthorized",
		                "Your session has ended.");
		return;
	}
	memcpy(session_id, r->session->id, sizeof(session_id));
	if (json_is_array(ups)) {
		json_t *u;
		json_array_foreach(ups, i, u)
		{
			struct web_upload *up =
			    json_is_string(u)
			        ? web_upload_find(r->session,
			                          json_string_value(u))
			        : NULL;
			int twice = 0;

			for (k = 0; up && k < nt; k++)
				twice |= taken[k] == up;
			/* An upload is taken (and later freed) once: a list
			 * that names one twice is refused before anything is
			 * taken, and the uploads stay in the session. */
			if (!up || twice) {
				pthread_mutex_unlock(&srv->lock);
				qm_buf_free(&clean);
				qm_buf_free(&htext);
				json_decref(j);
				if (twice)
					web_reply_error(
					    r, 400, "bad_request",
					    "The same attachment is listed "
					    "twice. "
					    "Attach each file once.");
				else
					web_reply_error(r, 400, "bad_request",
					                "An attachment is no "
					                "longer here (it "
					                "expired with your "
					                "session). Attach it "
					                "again.");
				return;
			}
			if (nt < WEB_MAX_UPLOADS)
				taken[nt++] = up;
		}
	}
	for (k = 0; k < nt; k++)
		for (i = 0; i < WEB_MAX_UPLOADS; i++)
			if (r->session->uploads[i] == taken[k])
				r->session->uploads[i] = NULL;
	pthread_mutex_unlock(&srv->lock);
	for (k = 0; k < nt; k++) {
		att[k].name = taken[k]->name;
		att[k].type = NULL;
		att[k].data = taken[k]->data.data ? taken[k]->data.data
		                                  : (const unsigned char *)"";
		att[k].len = taken[k]->data.len;
		att[k].path = NULL; /* the upload is held in memory */
	}
	m.att = att;
	m.natt = nt;
	memset(&sent, 0, sizeof(sent));
	rc = qm_client_send(srv->client, &m, NULL, NULL, &sent, &e);
	if (rc == QM_OK || sent.n_outbox > 0) {
		/* In the outbox: the uploads have served. */
		for (k = 0; k < nt; k++) {
			qm_buf_free(&taken[k]->data);
			qm_wipe(taken[k], sizeof(*taken[k]));
			free(taken[k]);
		}
		/* sent: the draft it came from has served (one that cannot
		 * be deleted now stays in the list) */
		if (draft > 0 &&
		    qm_client_draft_delete(srv->client, draft, NULL) != QM_OK)
			qm_log(QM_LOG_WARN,
			       "draft %lld was sent but stays in "
			       "the drafts",
			       draft);
		web_counts_forget(srv);
		ids = json_array();
		for (i = 0; i < sent.n_outbox && i < 8 && ids; i++)
			json_array_append_new(ids,
			                      web_id_json(sent.outbox_ids[i]));
		web_reply_json(
		    r, 202,
		    json_pack("{s:o,s:i,s:b,s:o,s:s,s:o,s:o,s:o}", "outbox_ids",
		              ids ? ids : json_array(), "level", sent.level,
		              "fell_back", sent.fell_back, "plain",
		              addr_array(sent.plain), "state",
		              rc == QM_OK && sent.n_sent == sent.n_outbox
		                  ? "sent"
		                  : "queued",
		              "note", web_jstr(sent.note), "warning",
		              web_jstr(sent.warning), "error",
		              rc == QM_OK ? json_null()
		                          : web_jstr(qm_error_msg(&e))));
		qm_buf_free(&clean);
		qm_buf_free(&htext);
		json_decref(j);
		return;
	}
	/* Nothing entered the outbox: give the uploads back if the session
	 * lives. */
	pthread_mutex_lock(&srv->lock);
	r->session = NULL;
	for (i = 0; i < WEB_MAX_SESSIONS; i++)
		if (srv->sessions[i].used &&
		    qm_ct_eq(srv->sessions[i].id, session_id, WEB_ID_BYTES) ==
		        0)
			r->session = &srv->sessions[i];
	for (k = 0; k < nt; k++) {
		size_t slot = WEB_MAX_UPLOADS;
		for (i = 0; r->session && i < WEB_MAX_UPLOADS; i++)
			if (!r->session->uploads[i]) {
				slot = i;
				break;
			}
		if (slot < WEB_MAX_UPLOADS) {
			r->session->uploads[slot] = taken[k];
		} else {
			qm_buf_free(&taken[k]->data);
			free(taken[k]);
		}
	}
	pthread_mutex_unlock(&srv->lock);
	qm_wipe(session_id, sizeof(session_id));
	if (rc == QM_ERR_UNAVAIL && e.hint == QM_HINT_PLAIN) {
		/* who can get no encrypted message: the page asks the person
		 * and sends again with allow_plain */
		web_reply_qm_error(r, &e);
		r->reply.status = 422;
		json_object_set_new(json_object_get(r->reply.json, "error"),
		                    "code", json_string("plain_needed"));
	} else if (rc == QM_ERR_UNAVAIL)
		web_reply_error(r, 422, "unavailable_level", "%s",
		                qm_error_msg(&e));
	else
		web_reply_qm_error(r, &e);
	qm_buf_free(&clean);
	qm_buf_free(&htext);
	json_decref(j);
}

/* ------------------------------------------------------------ drafts */

/*
 * A draft is kept sealed in the store in the engine's draft format
 * (qm_client_draft_encode: a small header block and the text), and in the
 * account's Drafts folder sealed to its own key (qm_client_draft_upload).
 */

/* The strings of a JSON array of addresses (borrowed from it). */
static const char **addr_list(json_t *a, size_t *n)
{
	const char **v = calloc(json_array_size(a) + 1, sizeof(*v));
	size_t i;
	json_t *x;

	*n = 0;
	if (!v)
		return NULL;
	json_array_foreach(a, i, x) v[(*n)++] = json_string_value(x);
	return v;
}

static enum qm_err draft_encode(json_t *j, struct web_req *r, struct qm_buf *b)
{
	static const char *const lists[] = {"to", "cc", "bcc"};
	struct qm_client_compose m;
	json_t *a[3] = {NULL, NULL, NULL};
	const char **v[3] = {NULL, NULL, NULL};
	size_t n[3] = {0, 0, 0};
	const char *subject = "", *text = "", *irt = "";
	long long level = 0;
	struct qm_error e;
	enum qm_err rc = QM_ERR_INVAL;

	for (size_t i = 0; i < 3; i++)
		if (web_get_addrs(r, j, lists[i], MAX_RCPTS, &a[i]) < 0)
			return QM_ERR_INVAL;
	if (web_get_str(r, j, "subject", 0, WEB_MAX_SUBJECT, &subject) < 0 ||
	    web_get_str(r, j, "text", 0, WEB_MAX_JSON_MESSAGE, &text) < 0 ||
	    web_get_str(r, j, "in_reply_to", 0, 998, &irt) < 0 ||
	    web_get_int(r, j, "level", 0, 1, 4, &level) < 0)
		return QM_ERR_INVAL;
	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < 3; i++)
		if (a[i] && !(v[i] = addr_list(a[i], &n[i])))
			goto out;
	m.to = v[0];
	m.nto = n[0];
	m.cc = v[1];
	m.ncc = n[1];
	m.bcc = v[2];
	m.nbcc = n[2];
	m.subject = subject;
	m.text = text;
	m.in_reply_to = irt;
	m.level = (int)level;
	qm_error_clear(&e);
	rc = qm_client_draft_encode(&m, b, &e);
out:
	for (size_t i = 0; i < 3; i++)
		free(v[i]);
	if (rc == QM_ERR_INVAL) {
		web_reply_error(r, 400, "bad_request", "%s", qm_error_msg(&e));
	} else if (rc) { /* never keep a draft with recipients or text cut */
		web_reply_error(r, 413, "too_large", "The draft is too large.");
	}
	return rc;
}

/* A draft's To, Cc or Bcc line as the list of entries it was saved from
 * (names kept: "\"Doe, Jane\" <jane@x.test>"), or NULL. */
static json_t *draft_addrs(const char *val)
{
	struct qm_client_addr_list l;
	json_t *arr = json_array();

	if (!arr || qm_client_parse_addrs(val, &l, NULL) != QM_OK)
		return arr;
	for (size_t i = 0; i < l.n; i++) {
		char one[QM_STORE_ADDRMAX + 600];

		if (qm_client_addr_format(l.v[i].name, l.v[i].address, one,
		                          sizeof(one), NULL) == QM_OK)
			json_array_append_new(arr, web_jstr(one));
	}
	for (size_t i = 0; i < l.ninvalid; i++)
		json_array_append_new(arr, web_jstr(l.invalid[i]));
	qm_client_addr_list_clear(&l);
	return arr;
}

/* The header value of name in the draft block, split into a list for To/Cc/Bcc.
 */
static json_t *draft_decode(int64_t id, int64_t account, const char *p,
                            size_t n)
{
	json_t *o = json_pack("{s:o,s:o,s:[],s:[],s:[],s:s,s:s,s:i,s:s}", "id",
	                      web_id_json(id), "account", web_id_json(account),
	                      "to", "cc", "bcc", "subject", "", "text", "",
	                      "level", 0, "in_reply_to", "");
	const char *end = p + n, *line = p;

	if (!o)
		return NULL;
	while (line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		size_t ll = eol ? (size_t)(eol - line) : (size_t)(end - line);
		char *val;
		const char *colon;
		size_t vl;
		if (ll && line[ll - 1] == '\r')
			ll--;
		if (ll == 0) {
			const char *body = eol ? eol + 1 : end;
			json_object_set_new(
			    o, "text",
			    json_stringn(body, (size_t)(end - body)));
			break;
		}
		colon = memchr(line, ':', ll);
		if (colon) {
			vl = ll - (size_t)(colon - line) - 1;
			if (vl && colon[1] == ' ') {
				colon++;
				vl--;
			}
			/* a line of any length the draft holds (a long
			 * subject, many recipients) */
			if (!(val = malloc(vl + 1)))
				break;
			memcpy(val, colon + 1, vl);
			val[vl] = '\0';
			if (!strncasecmp(line, "To:", 3) ||
			    !strncasecmp(line, "Cc:", 3) ||
			    !strncasecmp(line, "Bcc:", 4)) {
				const char *key =
				    !strncasecmp(line, "To:", 3)   ? "to"
				    : !strncasecmp(line, "Cc:", 3) ? "cc"
				                                   : "bcc";
				json_t *arr = draft_addrs(val);

				if (arr)
					json_object_set_new(o, key, arr);
			} else if (!strncasecmp(line, "Subject:", 8)) {
				json_object_set_new(o, "subject",
				                    web_jstr(val));
			} else if (!strncasecmp(line, "In-Reply-To:", 12)) {
				json_object_set_new(o, "in_reply_to",
				                    web_jstr(val));
			} else if (!strncasecmp(line, "X-QMail-Level:", 14)) {
				long long lv = 0;
				/* not a level: 0, the default level */
				QM_IGNORE(qm_parse_ll(val, 0, 4, &lv, NULL));
				json_object_set_new(o, "level",
				                    json_integer(lv));
			}
			free(val);
		}
		line = eol ? eol + 1 : end;
	}
	return o;
}

static void draft_save(struct web_req *r, int64_t id)
{
	struct qm_buf b;
	struct qm_error e;
	long long acct = 0;
	json_t *o;
	int kept = 0;
	json_t *j = web_body_json(r);

	if (!j)
		return;
	qm_buf_init_secure(&b, WEB_MAX_JSON_MESSAGE + 8192);
	if (web_get_int(r, j, "account", 1, 1, INT64_MAX, &acct) < 0 ||
	    draft_encode(j, r, &b) != QM_OK)
		goto out;
	if (qm_client_draft_put(r->srv->client, acct, &id, b.data, b.len, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	/* saved here; the server's copy is said apart (the draft is not
	 * lost when the server cannot be reached) */
	o = draft_decode(id, acct, (const char *)b.data, b.len);
	qm_error_clear(&e);
	if (o && qm_client_draft_upload(r->srv->client, acct, id, &kept, &e))
		json_object_set_new(o, "server_error",
		                    web_jstr(qm_error_msg(&e)));
	if (o)
		json_object_set_new(o, "on_server", json_boolean(kept));
	web_reply_json(r, r->route->method == WEB_POST ? 201 : 200, o);
out:
	qm_buf_free(&b);
	json_decref(j);
}

void web_api_drafts_add(struct web_req *r)
{
	draft_save(r, 0);
}

void web_api_drafts_update(struct web_req *r)
{
	int64_t id;

	if (web_arg_id(r, 0, &id) == 0)
		draft_save(r, id);
}

void web_api_drafts_delete(struct web_req *r)
{
	struct qm_error e;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	if (qm_client_draft_delete(r->srv->client, id, &e) != QM_OK)
		web_reply_qm_error(r, &e);
	else
		web_reply_empty(r);
}

void web_api_drafts_list(struct web_req *r)
{
	struct qm_client *cl = r->srv->client;
	struct qm_error e;
	int64_t acct = web_req_account(r), *ids = NULL;
	size_t n = 0, i;
	json_t *arr;

	if (acct < 0)
		return;
	if (qm_client_draft_list(cl, acct, &ids, &n, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	arr = json_array();
	for (i = 0; i < n && arr; i++) {
		struct qm_buf b;
		qm_buf_init_secure(&b, WEB_MAX_JSON_MESSAGE + 8192);
		if (qm_client_draft_get(cl, ids[i], &b, NULL) == QM_OK)
			json_array_append_new(
			    arr,
			    draft_decode(ids[i], acct,
			                 b.data ? (const char *)b.data : "",
			                 b.len));
		qm_buf_free(&b);
	}
	free(ids);
	web_reply_json(r, 200, arr ? json_pack("{s:o}", "drafts", arr) : NULL);
}

/* ------------------------------------------------------------ outbox */

void web_api_outbox_list(struct web_req *r)
{
	struct qm_client_outbox_item *items = NULL;
	struct qm_error e;
	int64_t acct = web_req_account(r);
	size_t n = 0;
	json_t *arr;

	if (acct < 0)
		return;
	if (qm_client_outbox_list(r->srv->client, acct, &items, &n, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n && arr; i++) {
		const struct qm_client_outbox_item *o = &items[i];
		json_t *it = json_pack(
		    "{s:o,s:o,s:o,s:i,s:s,s:i,s:I,s:I,s:I,s:o,s:b}", "id",
		    web_id_json(o->id), "message_id", web_jstr(o->message_id),
		    "to", web_jstr(o->recipients), "level", o->level, "state",
		    qm_client_outbox_state_name(o->state), "attempts",
		    o->attempts, "created", (json_int_t)o->created, "updated",
		    (json_int_t)o->updated, "retry_at", (json_int_t)o->retry_at,
		    "error", o->reason ? web_jstr(o->reason) : json_null(),
		    /* what POST .../retry can do something with (the
		     * engine's rule) */
		    "can_retry", o->can_retry);

		if (it && o->copy_waits)
			json_object_set_new(it, "sent_copy_waits", json_true());
		if (it) {
			/* display-safe, as a listed subject; null: unknown */
			char *subj = o->subject ? web_shown(o->subject) : NULL;
			json_object_set_new(it, "subject",
			                    subj ? web_jstr(subj) : json_null());
			web_shown_free(subj);
		}
		json_array_append_new(arr, it);
	}
	qm_client_outbox_items_free(&items, n);
	web_reply_json(r, 200, arr ? json_pack("{s:o}", "items", arr) : NULL);
}

/* POST /api/messages/{id}/retry: one more try to open a message that is
 * unreadable, without key, or waiting (the engine's qm_client_msg_retry). */
void web_api_message_retry(struct web_req *r)
{
	struct qm_client_view *v = NULL;
	enum qm_store_verify vf = QM_VERIFY_UNKNOWN_KEY;
	struct qm_error e;
	int64_t id, nid = 0;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	qm_error_clear(&e);
	if (qm_client_msg_retry(r->srv->client, id, &nid, &vf, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_counts_forget(r->srv);
	if (qm_client_read(r->srv->client, nid, &v, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_reply_json(r, 200,
	               json_pack("{s:o,s:s,s:o}", "id", web_id_json(nid),
	                         "status", verify_name(v->verify),
	                         "explanation", web_jstr(v->status_text)));
	qm_client_view_free(&v);
}

void web_api_outbox_retry(struct web_req *r)
{
	struct qm_error e;
	int64_t id;
	int sent = 0;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	/* This entry, now, even when its retry time has not come, or when it
	 * failed before it was encrypted and the person mended the cause; the
	 * others go with the next outbox run. */
	qm_error_clear(&e);
	if (qm_client_outbox_retry(r->srv->client, id, &sent, &e) != QM_OK &&
	    !sent) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_reply_json(r, 200,
	               json_pack("{s:i,s:i}", "sent", sent ? 1 : 0, "failed",
	                         sent ? 0 : 1));
}
