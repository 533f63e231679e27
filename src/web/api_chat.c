/* SPDX-License-Identifier: MIT */
/*
 * The JSON API of the GUI's Chats view (docs/WEB.md "Chats", docs/CHAT.md):
 * the conversations of an account, one conversation's messages, sending
 * (a new conversation, or an answer in one), marking read and the
 * explicit change of a conversation's level. Everything goes through the
 * engine's chat calls (qm_client_chat_*): the engine keeps the level rule
 * and its words; this file only shapes what it answers. Addresses and
 * texts come from other people: they are made display-safe here
 * (qm_client_display) and sent as JSON strings the page sets as text.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "private.h"

/* Conversations answered by one list (newest first). */
#define CHAT_LIST_MAX 200
/* A preview: at most this many bytes of the newest message's text. */
#define CHAT_PREVIEW_MAX 120
/* A chat message's text, as typed (the engine takes any length; a chat
 * line this long is a mail). */
#define CHAT_TEXT_MAX (64u * 1024u)
/* Files one chat message takes at most. */
#define CHAT_FILES_MAX 8
/* Participants a new conversation names at most. */
#define CHAT_TO_MAX 64

/* s made display-safe with flags as a JSON string ("" when it fails). */
static json_t *shown_json(const char *s, unsigned flags)
{
	char *d = NULL;
	json_t *j;

	if (qm_client_display_dup(s ? s : "", flags, &d, NULL) != QM_OK)
		return json_string("");
	j = web_jstr(d);
	qm_wipe(d, strlen(d));
	free(d);
	return j;
}

/* The members "a@x,b@y" as a JSON array of display-safe addresses. */
static json_t *members_json(const char *members)
{
	json_t *a = json_array();
	const char *p = members;

	while (a && p && *p) {
		size_t n = strcspn(p, ",");
		char one[QM_STORE_ADDRMAX];

		if (n && n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
			json_array_append_new(a,
			                      shown_json(one, QM_DISPLAY_LINE));
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return a;
}

/* The text's first line, cut to a preview on a UTF-8 boundary. */
static json_t *preview_json(const char *text)
{
	char buf[CHAT_PREVIEW_MAX + 4];
	size_t n = strcspn(text, "\r\n");

	if (n > CHAT_PREVIEW_MAX) {
		n = CHAT_PREVIEW_MAX;
		while (n && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (text[n] && text[n] != '\r' && text[n] != '\n')
		memcpy(buf + n, "\xE2\x80\xA6", 4); /* … */
	return shown_json(buf, QM_DISPLAY_LINE);
}

/* What a line is: "text", or a membership change "added" / "removed"
 * (its text the member's address). */
static const char *kind_name(int kind)
{
	return kind == QM_CHAT_MEMBER_ADDED     ? "added"
	       : kind == QM_CHAT_MEMBER_REMOVED ? "removed"
	                                        : "text";
}

/* One message of a conversation (docs/WEB.md "Chats"). */
static json_t *item_json(const struct qm_client_chat_item *it)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "id", web_id_json(it->id));
	json_object_set_new(o, "at", json_integer(it->at));
	json_object_set_new(o, "sender",
	                    shown_json(it->sender, QM_DISPLAY_LINE));
	json_object_set_new(o, "text", shown_json(it->text, QM_DISPLAY_TEXT));
	json_object_set_new(o, "level", json_integer(it->level));
	json_object_set_new(o, "mine", json_boolean(it->mine));
	json_object_set_new(o, "seen", json_boolean(it->seen));
	json_object_set_new(o, "state", json_string(it->state));
	/* a membership change: "added" or "removed", text the member */
	json_object_set_new(o, "kind", json_string(kind_name(it->kind)));
	json_object_set_new(o, "read_at", json_integer(it->read_at));
	json_object_set_new(o, "files", web_chat_files_json(it));
	return o;
}

/* A conversation (a list row); with its newest message as the preview
 * when last is not NULL. */
static json_t *chat_json(const struct qm_store_chat *ch,
                         const struct qm_client_chat_item *last)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	json_object_set_new(o, "id", web_id_json(ch->id));
	json_object_set_new(o, "account", web_id_json(ch->account_id));
	json_object_set_new(o, "group", json_boolean(ch->group_id[0] != '\0'));
	json_object_set_new(o, "members", members_json(ch->members));
	json_object_set_new(o, "level", json_integer(ch->level));
	json_object_set_new(o, "altered",
	                    json_boolean(ch->label == QM_LABEL_ALTERED));
	json_object_set_new(o, "removed", json_boolean(ch->removed));
	json_object_set_new(o, "last_at", json_integer(ch->last_at));
	json_object_set_new(o, "count", json_integer((json_int_t)ch->n_msgs));
	json_object_set_new(o, "unread", json_integer((json_int_t)ch->unread));
	json_object_set_new(o, "receipts", json_boolean(ch->receipts));
	if (last)
		json_object_set_new(
		    o, "preview",
		    json_pack("{s:o,s:o,s:b,s:s}", "text",
		              preview_json(last->text[0] || !last->nfiles
		                               ? last->text
		                               : last->files[0].name),
		              "sender",
		              shown_json(last->sender, QM_DISPLAY_LINE), "mine",
		              last->mine, "kind", kind_name(last->kind)));
	else
		json_object_set_new(o, "preview", json_null());
	return o;
}

/* The conversation chat_id of c's conversations into *out; -1 when
 * replied (404 for none). */
static int chat_get(struct web_req *r, struct qm_client *c, int64_t chat_id,
                    struct qm_store_chat *out)
{
	struct qm_store_chat *v = NULL;
	struct qm_error e;
	size_t n = 0, i;
	int found = -1;

	if (qm_client_chat_list(c, 0, &v, &n, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (v[i].id == chat_id) {
			*out = v[i];
			found = 0;
		}
	free(v);
	if (found < 0)
		web_reply_error(r, 404, "not_found",
		                "There is no such conversation.");
	return found;
}

void web_api_chats_list(struct web_req *r)
{
	struct qm_client *c = web_client(r);
	struct qm_store_chat *v = NULL;
	struct qm_error e;
	const char *pv = web_query(r, "previews");
	/* ?previews=0: the counts alone (the sidebar), no text read */
	int previews = !(pv && strcmp(pv, "0") == 0);
	size_t n = 0, i, unread = 0;
	int64_t acct;
	json_t *a;

	if ((acct = web_req_account(r)) < 0)
		return;
	if (qm_client_chat_list(c, acct, &v, &n, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	a = json_array();
	for (i = 0; a && i < n; i++) {
		struct qm_client_chat_item *it = NULL;
		size_t k = 0;

		unread += v[i].unread;
		if (i >= CHAT_LIST_MAX)
			continue;
		/* the newest message for the preview (a conversation whose
		 * texts do not open now is listed without one) */
		if (!previews ||
		    qm_client_chat_messages(c, v[i].id, &it, &k, NULL) != QM_OK)
			k = 0;
		json_array_append_new(a,
		                      chat_json(&v[i], k ? &it[k - 1] : NULL));
		qm_client_chat_items_free(&it, k);
	}
	free(v);
	web_reply_json(r, 200,
	               a ? json_pack("{s:o,s:I,s:I}", "chats", a, "unread",
	                             (json_int_t)unread, "total", (json_int_t)n)
	                 : NULL);
}

void web_api_chat_get(struct web_req *r)
{
	struct qm_client *c = web_client(r);
	struct qm_client_chat_item *it = NULL;
	struct qm_store_chat ch;
	struct qm_error e;
	size_t k = 0, i;
	int64_t id;
	json_t *a;

	if (web_arg_id(r, 0, &id) != 0 || chat_get(r, c, id, &ch) != 0)
		return;
	if (qm_client_chat_messages(c, id, &it, &k, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	a = json_array();
	for (i = 0; a && i < k; i++)
		json_array_append_new(a, item_json(&it[i]));
	web_reply_json(r, 200,
	               a ? json_pack("{s:o,s:o}", "chat",
	                             chat_json(&ch, k ? &it[k - 1] : NULL),
	                             "messages", a)
	                 : NULL);
	qm_client_chat_items_free(&it, k);
}

/* The participants of a send: the "to" field (a new conversation) read
 * by the engine's address parser, or the conversation's members. */
struct chat_to {
	const char *v[CHAT_TO_MAX];
	size_t n;
	char members[QM_STORE_MEMBERSMAX]; /* split in place */
};

/* Splits the members "a@x,b@y" into to. */
static void to_from_members(struct chat_to *to, const char *members)
{
	char *p;

	qm_strlcpy(to->members, members, sizeof(to->members));
	to->n = 0;
	for (p = to->members; *p && to->n < CHAT_TO_MAX;) {
		to->v[to->n++] = p;
		p += strcspn(p, ",");
		if (*p)
			*p++ = '\0';
	}
}

/* Sends text to to at level (0: the conversation's) and answers what
 * happened. A refusal by the level rule carries "chat_level" (the
 * conversation's level) and "asked", for the page to offer the change. */
static void chat_send(struct web_req *r, int64_t acct, const struct chat_to *to,
                      int64_t chat_id, const char *text, int level,
                      json_t *ups)
{
	struct qm_client *c = web_client(r);
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_client_attachment att[CHAT_FILES_MAX];
	struct web_upload *taken[CHAT_FILES_MAX];
	unsigned char sid[WEB_ID_BYTES];
	size_t natt = 0;
	struct qm_error e;
	enum qm_err rc;

	if (web_chat_uploads_take(r, ups, att, taken, CHAT_FILES_MAX, &natt,
	                          sid) < 0)
		return;
	if (!natt && !text[strspn(text, " \t\r\n")]) {
		web_reply_error(
		    r, 400, "bad_request",
		    "The message is empty: type something to send.");
		return;
	}

	memset(&m, 0, sizeof(m));
	memset(&out, 0, sizeof(out));
	m.account_id = acct;
	m.to = to->v;
	m.nto = to->n;
	m.text = text;
	m.level = level;
	m.chat_id = chat_id;
	m.att = att;
	m.natt = natt;
	qm_error_clear(&e);
	rc = qm_client_chat_send(c, &m, &out, &e);
	web_chat_uploads_done(r, taken, natt, out.outbox_id != 0, sid);
	web_counts_forget(r->srv);
	if (rc != QM_OK && !out.outbox_id) {
		struct qm_store_chat ch;
		json_t *o;

		web_reply_qm_error(r, &e);
		o = json_object_get(r->reply.json, "error");
		/* the level rule: a weaker level than the conversation's */
		if (o && rc == QM_ERR_STATE && level > 0 &&
		    (chat_id ? qm_client_chat_get(c, chat_id, &ch, NULL)
		             : qm_client_chat_find(c, acct, to->v, to->n, &ch,
		                                   NULL)) == QM_OK &&
		    !ch.removed && level > ch.level) {
			json_object_set_new(o, "chat", web_id_json(ch.id));
			json_object_set_new(o, "chat_level",
			                    json_integer(ch.level));
			json_object_set_new(o, "asked", json_integer(level));
		}
		return;
	}
	/* in the conversation: sent now, or waiting in the outbox (the
	 * error says why) */
	web_reply_json(
	    r, 201,
	    json_pack("{s:o,s:i,s:o,s:s,s:o,s:o}", "chat",
	              web_id_json(out.chat_id), "level", out.level, "outbox_id",
	              web_id_json(out.outbox_id), "state",
	              out.sent ? "sent" : "queued", "warning",
	              web_jstr(out.warning), "error",
	              rc == QM_OK ? json_null() : web_jstr(qm_error_msg(&e))));
}

/* The "text" and optional "level" of a send body; -1 when replied (an
 * empty text is refused by chat_send unless files go). */
static int send_args(struct web_req *r, json_t *j, const char **text,
                     long long *level)
{
	if (web_get_str(r, j, "text", 0, CHAT_TEXT_MAX, text) < 0 ||
	    web_get_int(r, j, "level", 0, 0, 4, level) < 0)
		return -1;
	if (!*text)
		*text = "";
	return 0;
}

void web_api_chats_send(struct web_req *r)
{
	struct chat_to to;
	const char *text = NULL;
	long long level = 0;
	json_t *j, *addrs = NULL;
	int64_t acct;
	size_t i;

	if ((acct = web_req_account(r)) < 0 || !(j = web_body_json(r)))
		return;
	if (web_get_addrs(r, j, "to", CHAT_TO_MAX, &addrs) < 0 ||
	    send_args(r, j, &text, &level) < 0) {
		json_decref(j);
		return;
	}
	to.n = 0;
	for (i = 0; addrs && i < json_array_size(addrs); i++)
		to.v[to.n++] = json_string_value(json_array_get(addrs, i));
	if (!to.n) {
		json_decref(j);
		web_reply_error(r, 400, "bad_request",
		                "Name at least one person to chat with.");
		return;
	}
	chat_send(r, acct, &to, 0, text, (int)level,
	          json_object_get(j, "uploads"));
	json_decref(j);
}

void web_api_chat_send(struct web_req *r)
{
	struct qm_store_chat ch;
	struct chat_to to;
	const char *text = NULL;
	long long level = 0;
	int64_t id;
	json_t *j;

	if (web_arg_id(r, 0, &id) != 0 ||
	    chat_get(r, web_client(r), id, &ch) != 0 || !(j = web_body_json(r)))
		return;
	if (send_args(r, j, &text, &level) < 0) {
		json_decref(j);
		return;
	}
	/* to the conversation's members as they are (a group's change) */
	to_from_members(&to, ch.members);
	chat_send(r, ch.account_id, &to, ch.id, text, (int)level,
	          json_object_get(j, "uploads"));
	json_decref(j);
}

void web_api_chat_read(struct web_req *r)
{
	struct qm_error e;
	size_t marked = 0;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	if (qm_client_chat_read(web_client(r), id, &marked, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_counts_forget(r->srv);
	web_reply_json(r, 200,
	               json_pack("{s:I}", "marked", (json_int_t)marked));
}

void web_api_chat_level(struct web_req *r)
{
	struct qm_store_chat ch;
	struct qm_error e;
	long long level = 0;
	int64_t id;
	json_t *j;

	if (web_arg_id(r, 0, &id) != 0 || !(j = web_body_json(r)))
		return;
	if (web_get_int(r, j, "level", 1, 1, 4, &level) < 0) {
		json_decref(j);
		return;
	}
	json_decref(j);
	if (qm_client_chat_level_set(web_client(r), id, (int)level, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	if (chat_get(r, web_client(r), id, &ch) != 0)
		return;
	web_reply_json(r, 200, chat_json(&ch, NULL));
}

/* POST /api/chats/ID/members {"add": ADDR} or {"remove": ADDR}: a group's
 * membership change (docs/CHAT.md "Groups"), itself a chat message of the
 * group; answers the conversation as it is after. */
void web_api_chat_members(struct web_req *r)
{
	struct qm_client *c = web_client(r);
	struct qm_store_chat ch;
	struct qm_client_chat_sent out;
	struct qm_error e;
	const char *add = NULL, *rem = NULL;
	int64_t id;
	enum qm_err rc;
	json_t *j;

	if (web_arg_id(r, 0, &id) != 0 || chat_get(r, c, id, &ch) != 0 ||
	    !(j = web_body_json(r)))
		return;
	if (web_get_str(r, j, "add", 0, QM_STORE_ADDRMAX, &add) < 0 ||
	    web_get_str(r, j, "remove", 0, QM_STORE_ADDRMAX, &rem) < 0) {
		json_decref(j);
		return;
	}
	if (!add == !rem) {
		json_decref(j);
		web_reply_error(r, 400, "bad_request",
		                "Name one address to add or to remove.");
		return;
	}
	memset(&out, 0, sizeof(out));
	qm_error_clear(&e);
	rc = add ? qm_client_chat_member_add(c, id, add, &out, &e)
	         : qm_client_chat_member_remove(c, id, rem, &out, &e);
	json_decref(j);
	web_counts_forget(r->srv);
	if (rc != QM_OK && !out.chat_id) {
		web_reply_qm_error(r, &e);
		return;
	}
	if (chat_get(r, c, id, &ch) != 0)
		return;
	/* kept: sent now, or waiting in the outbox (the error says why) */
	web_reply_json(
	    r, 200,
	    json_pack("{s:o,s:s,s:o,s:o}", "chat", chat_json(&ch, NULL),
	              "state", out.sent ? "sent" : "queued", "warning",
	              web_jstr(out.warning), "error",
	              rc == QM_OK ? json_null() : web_jstr(qm_error_msg(&e))));
}
