/* SPDX-License-Identifier: MIT */
/*
 * Chat media and read state (issue 20, docs/CHAT.md "Attachments" and
 * "Read receipts"). Attachments of a chat message are the attachments of
 * its QMail message: sent by qm_client_send, read back from the message
 * record (or, for one sent from here, from the outbox entry's sealed
 * plaintext); the conversation keeps their list (type, size, name) sealed
 * beside the text. A read receipt is a chat message whose protected part
 * says Chat-Disposition: displayed and lists, RFC 8098 style, the
 * Original-Message-ID of each message read; it is filed (and moved to
 * Chats) but never shown, and it marks read only messages this home sent
 * in the conversation of its verified sender (invariant 39).
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The Chat-Disposition value of a read receipt. */
#define CHAT_DISP_READ "displayed"
/* Message-IDs one receipt names at most (more go in the next one). */
#define CHAT_RECEIPT_MAX 64
/* The field a receipt names each message with (RFC 8098 section 3.2.11). */
#define CHAT_ORIG_FIELD "Original-Message-ID:"

const char *qm_client_chat_image_type(const void *p, size_t n)
{
	const unsigned char *b = p;

	if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
		return "image/png";
	if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
		return "image/jpeg";
	if (n >= 6 && (!memcmp(b, "GIF87a", 6) || !memcmp(b, "GIF89a", 6)))
		return "image/gif";
	if (n >= 12 && !memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WEBP", 4))
		return "image/webp";
	return "";
}

/* Appends one line "type<TAB>size<TAB>name" of the list to *list. */
static enum qm_err list_add(char **list, size_t *len, const char *type,
                            uint64_t size, const char *name,
                            struct qm_error *err)
{
	int k = snprintf(NULL, 0, "%s\t%llu\t%s\n", type,
	                 (unsigned long long)size, name);
	char *nl;

	if (k < 0 || !(nl = realloc(*list, *len + (size_t)k + 1)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	snprintf(nl + *len, (size_t)k + 1, "%s\t%llu\t%s\n", type,
	         (unsigned long long)size, name);
	*list = nl;
	*len += (size_t)k;
	return QM_OK;
}

/* Name and type of attachment i made display-safe as the reader shows
 * them (a name made from position and type when it has none), its type
 * the image type its bytes show when they show one. */
static enum qm_err list_one(char **list, size_t *len, size_t i,
                            const char *name, const char *type,
                            const void *head, size_t head_len, uint64_t size,
                            struct qm_error *err)
{
	struct qm_client_att a;
	const char *img = qm_client_chat_image_type(head, head_len);
	enum qm_err rc;

	memset(&a, 0, sizeof(a));
	a.name = strdup(name ? name : "");
	a.type = strdup(type && *type ? type : "application/octet-stream");
	a.cid = NULL;
	if (!a.name || !a.type)
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	else
		rc = client_att_display(&a, i, err);
	/* a tab would end the field: the display form marks controls */
	if (!rc)
		rc =
		    list_add(list, len, *img ? img : a.type, size, a.name, err);
	free(a.name);
	free(a.type);
	free(a.ext);
	return rc;
}

enum qm_err client_chat_att_list_parts(const struct qm_mail_part *att, size_t n,
                                       char **out, struct qm_error *err)
{
	size_t len = 0;
	enum qm_err rc = QM_OK;

	*out = NULL;
	for (size_t i = 0; !rc && i < n; i++)
		rc = list_one(out, &len, i, att[i].name, att[i].type,
		              att[i].data, att[i].len, att[i].len, err);
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* The first bytes and the size of an attachment to send. */
static enum qm_err out_head(const struct qm_client_attachment *a,
                            unsigned char *head, size_t cap, size_t *hn,
                            uint64_t *size, struct qm_error *err)
{
	struct stat sb;
	FILE *f;

	*hn = 0;
	if (a->data || !a->path) {
		*size = a->len;
		*hn = a->len < cap ? a->len : cap;
		if (*hn)
			memcpy(head, a->data, *hn);
		return QM_OK;
	}
	if (stat(a->path, &sb) != 0 || !(f = fopen(a->path, "rb")))
		return qm_error_set(err, QM_ERR_IO, "cannot read %s", a->path);
	*size = (uint64_t)sb.st_size;
	*hn = fread(head, 1, cap, f);
	fclose(f);
	return QM_OK;
}

enum qm_err client_chat_att_list_out(const struct qm_client_attachment *att,
                                     size_t n, char **out, struct qm_error *err)
{
	unsigned char head[16];
	size_t len = 0, hn = 0;
	uint64_t size = 0;
	enum qm_err rc = QM_OK;

	*out = NULL;
	for (size_t i = 0; !rc && i < n; i++) {
		rc = out_head(&att[i], head, sizeof(head), &hn, &size, err);
		if (!rc)
			rc = list_one(out, &len, i, att[i].name, att[i].type,
			              head, hn, size, err);
	}
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

void client_chat_files_free(struct qm_client_chat_file *f, size_t n)
{
	for (size_t i = 0; f && i < n; i++) {
		free(f[i].name);
		free(f[i].type);
	}
	free(f);
}

enum qm_err client_chat_files(const char *list,
                              struct qm_client_chat_file **out, size_t *n,
                              struct qm_error *err)
{
	struct qm_client_chat_file *v;
	size_t k = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!list || !*list)
		return QM_OK;
	for (const char *p = list; *p; p++)
		cap += *p == '\n';
	if (!(v = calloc(cap ? cap : 1, sizeof(*v))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (const char *p = list; *p && k < cap;) {
		const char *t1 = strchr(p, '\t'), *t2, *e = strchr(p, '\n');

		if (!e)
			break;
		if (!t1 || t1 > e || !(t2 = strchr(t1 + 1, '\t')) || t2 > e) {
			p = e + 1; /* not a line of the list: skipped */
			continue;
		}
		v[k].type = strndup(p, (size_t)(t1 - p));
		v[k].size = strtoull(t1 + 1, NULL, 10);
		v[k].name = strndup(t2 + 1, (size_t)(e - t2 - 1));
		if (!v[k].type || !v[k].name) {
			client_chat_files_free(v, k + 1);
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		}
		v[k].image = !strcmp(v[k].type, "image/png") ||
		             !strcmp(v[k].type, "image/jpeg") ||
		             !strcmp(v[k].type, "image/gif") ||
		             !strcmp(v[k].type, "image/webp");
		k++;
		p = e + 1;
	}
	*out = v;
	*n = k;
	return QM_OK;
}

/* ------------------------------------------------------ attachments */

void qm_client_chat_att_free(struct qm_client_att **pa)
{
	struct qm_client_att *a = pa ? *pa : NULL;

	if (!a)
		return;
	free(a->name);
	free(a->type);
	free(a->ext);
	free(a->cid);
	if (a->data) {
		qm_wipe(a->data, a->len);
		free(a->data);
	}
	free(a);
	*pa = NULL;
}

/* Takes part p's bytes and names into a new attachment *out. */
static enum qm_err att_take(const char *name, const char *type,
                            const unsigned char *data, size_t len, size_t i,
                            struct qm_client_att **out, struct qm_error *err)
{
	struct qm_client_att *a = calloc(1, sizeof(*a));
	enum qm_err rc = QM_OK;

	if (!a)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	a->name = strdup(name ? name : "");
	a->type = strdup(type && *type ? type : "application/octet-stream");
	a->cid = strdup("");
	a->data = malloc(len ? len : 1);
	if (!a->name || !a->type || !a->cid || !a->data)
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (!rc) {
		if (len)
			memcpy(a->data, data, len);
		a->len = len;
		rc = client_att_display(a, i, err);
	}
	if (rc)
		qm_client_chat_att_free(&a);
	*out = a;
	return rc;
}

/* Attachment n of the message this home sent as outbox entry id. */
static enum qm_err att_from_outbox(struct qm_client *c, int64_t id, size_t n,
                                   struct qm_client_att **out,
                                   struct qm_error *err)
{
	struct qm_mail_content *mc = NULL;
	struct qm_mail_limits lim;
	struct qm_buf pt;
	enum qm_err rc;

	qm_buf_init_secure(&pt, QM_CLIENT_MAXMSG + (64u << 10));
	rc = qm_store_outbox_plaintext(c->store, id, &pt, err);
	client_mail_limits(c, &lim);
	if (!rc)
		rc = qm_mail_content_parse(pt.data, pt.len, &lim, &mc, err);
	qm_buf_free(&pt);
	if (!rc && n >= mc->natt)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "the message has no attachment %zu", n + 1);
	if (!rc)
		rc = att_take(mc->att[n].name, mc->att[n].type, mc->att[n].data,
		              mc->att[n].len, n, out, err);
	qm_mail_content_free(&mc);
	return rc;
}

/* Attachment n of message record id, as the reader shows it. */
static enum qm_err att_from_msg(struct qm_client *c, int64_t id, size_t n,
                                struct qm_client_att **out,
                                struct qm_error *err)
{
	struct qm_client_view *v = NULL;
	enum qm_err rc = qm_client_read(c, id, &v, err);

	if (!rc && v->verify != QM_VERIFY_OK && v->verify != QM_VERIFY_SENT)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "message %lld has no content to show",
		                  (long long)id);
	if (!rc && n >= v->natt)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "the message has no attachment %zu", n + 1);
	if (!rc) {
		/* already display-safe: taken as they are */
		struct qm_client_att *a = calloc(1, sizeof(*a));

		if (!a)
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		else {
			*a = v->att[n];
			memset(&v->att[n], 0, sizeof(v->att[n]));
			*out = a;
		}
	}
	qm_client_view_free(&v);
	return rc;
}

enum qm_err qm_client_chat_att(struct qm_client *c, int64_t item_id, size_t n,
                               struct qm_client_att **out, const char **image,
                               struct qm_error *err)
{
	struct qm_store_chat_msg m;
	enum qm_err rc;

	*out = NULL;
	if (image)
		*image = "";
	rc = client_need_unlocked(c, "reading a chat attachment", err);
	if (!rc)
		rc = qm_store_chat_msg_get(c->store, item_id, &m, err);
	if (rc)
		return rc;
	free(m.att);
	if (m.kind != QM_CHAT_TEXT)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "no chat message %lld", (long long)item_id);
	if (m.msg_id)
		rc = att_from_msg(c, m.msg_id, n, out, err);
	if (m.outbox_id && (!m.msg_id || rc == QM_ERR_NOTFOUND))
		rc = att_from_outbox(c, m.outbox_id, n, out, err);
	else if (!m.msg_id)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "chat message %lld has no content to show",
		                  (long long)item_id);
	if (!rc && image)
		*image = qm_client_chat_image_type((*out)->data, (*out)->len);
	return rc;
}

/* --------------------------------------------------------- receipts */

enum qm_err qm_client_chat_receipts_set(struct qm_client *c, int64_t chat_id,
                                        int on, struct qm_error *err)
{
	enum qm_err rc = client_need_unlocked(c, "changing read receipts", err);

	return rc ? rc : qm_store_chat_receipts_set(c->store, chat_id, on, err);
}

/* The members "a,b" of conv into to[] (pointers into buf). */
static size_t split_members(const char *members, char *buf, size_t cap,
                            const char **to, size_t max)
{
	size_t n = 0;

	snprintf(buf, cap, "%s", members);
	for (char *p = buf; *p && n < max;) {
		to[n++] = p;
		p += strcspn(p, ",");
		if (*p)
			*p++ = '\0';
	}
	return n;
}

/* Sends one receipt naming mids[0..n) to conv's members and keeps it as
 * a receipt (kind 1) of the conversation, so that its Sent copy is moved
 * to Chats like any chat message's. */
static enum qm_err receipt_send(struct qm_client *c,
                                const struct qm_store_chat *conv,
                                const char *self, char *const *mids, size_t n,
                                struct qm_error *err)
{
	struct qm_client_compose mc;
	struct qm_client_sent sent;
	struct qm_store_outbox ob;
	struct qm_store_chat_msg cm;
	char buf[QM_STORE_MEMBERSMAX];
	const char *to[64];
	struct qm_buf tb;
	const char *text;
	size_t nto;
	enum qm_err rc;

	qm_buf_init(&tb, (size_t)64 << 10);
	rc = qm_buf_append_str(
	    &tb, "Disposition: manual-action/MDN-sent-manually; displayed\n",
	    err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = qm_buf_appendf(&tb, err, "%s %s\n", CHAT_ORIG_FIELD,
		                    mids[i]);
	if (!rc)
		rc = qm_buf_append(&tb, "", 1, err); /* the NUL */
	if (rc) {
		qm_buf_free(&tb);
		return rc;
	}
	text = (char *)tb.data;
	nto = split_members(conv->members, buf, sizeof(buf), to, 64);
	memset(&mc, 0, sizeof(mc));
	mc.account_id = conv->account_id;
	mc.to = to;
	mc.nto = nto;
	mc.subject = "Chat: read";
	mc.text = text;
	mc.level = conv->level;
	mc.chat = 1;
	mc.chat_group_id = conv->group_id[0] ? conv->group_id : NULL;
	mc.chat_disposition = CHAT_DISP_READ;
	memset(&sent, 0, sizeof(sent));
	rc = qm_client_send(c, &mc, NULL, NULL, &sent, err);
	qm_buf_free(&tb);
	if (!sent.n_outbox)
		return rc;
	/* queued: kept as the conversation's receipt whatever the network
	 * did (the outbox retries it) */
	memset(&ob, 0, sizeof(ob));
	if (qm_store_outbox_get(c->store, sent.outbox_ids[0], &ob, err))
		return rc;
	memset(&cm, 0, sizeof(cm));
	cm.chat_id = conv->id;
	snprintf(cm.message_id, sizeof(cm.message_id), "%s", ob.message_id);
	snprintf(cm.sender, sizeof(cm.sender), "%s", self);
	cm.at = ob.created;
	cm.level = sent.level;
	cm.outbox_id = sent.outbox_ids[0];
	cm.seen = 1;
	cm.kind = QM_CHAT_RECEIPT;
	qm_store_outbox_item_free(&ob);
	{
		struct qm_error e2;

		qm_error_clear(&e2);
		if (qm_store_chat_msg_add(c->store, &cm, "", NULL, &e2) &&
		    !rc) {
			*err = e2;
			rc = e2.code;
		}
	}
	return rc;
}

enum qm_err client_chat_receipts_send(struct qm_client *c, int64_t chat_id,
                                      char *const *mids, size_t n,
                                      struct qm_error *err)
{
	struct qm_store_chat conv;
	struct qm_store_account a;
	enum qm_err rc;

	if (!n)
		return QM_OK;
	rc = qm_store_chat_get_id(c->store, chat_id, &conv, err);
	/* the opt-in is the user's: none, or one changed on disk (the label
	 * MAC binds it), sends nothing */
	if (rc || !conv.receipts || conv.label != QM_LABEL_OK)
		return rc;
	rc = qm_store_account_get(c->store, conv.account_id, &a, err);
	for (size_t i = 0; !rc && i < n; i += CHAT_RECEIPT_MAX)
		rc = receipt_send(
		    c, &conv, a.address, mids + i,
		    n - i < CHAT_RECEIPT_MAX ? n - i : CHAT_RECEIPT_MAX, err);
	return rc;
}

/* The next Original-Message-ID of a receipt's text from *p on into mid
 * ("" when no more); *p moves past its line. */
static void next_orig(const char **p, char *mid, size_t cap)
{
	mid[0] = '\0';
	while (**p) {
		const char *l = *p, *e = l + strcspn(l, "\r\n");
		size_t fl = strlen(CHAT_ORIG_FIELD);

		*p = e + strspn(e, "\r\n");
		if ((size_t)(e - l) > fl &&
		    !strncasecmp(l, CHAT_ORIG_FIELD, fl)) {
			const char *v = l + fl;
			size_t n;

			v += strspn(v, " \t");
			n = (size_t)(e - v);
			while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			if (n && n < cap) {
				memcpy(mid, v, n);
				mid[n] = '\0';
				return;
			}
		}
	}
}

enum qm_err client_chat_receipt_file(struct qm_client *c,
                                     const struct qm_store_chat *conv,
                                     const struct qm_store_msg *msg,
                                     const char *sender,
                                     const struct qm_mail_content *mc,
                                     int *changed, struct qm_error *err)
{
	struct qm_store_chat_msg cm;
	char mid[QM_STORE_NAMEMAX * 2];
	const char *p = mc->text;
	int added = 0;
	enum qm_err rc;

	*changed = 0;
	memset(&cm, 0, sizeof(cm));
	cm.chat_id = conv->id;
	snprintf(cm.message_id, sizeof(cm.message_id), "%s",
	         msg->message_id ? msg->message_id : "");
	snprintf(cm.sender, sizeof(cm.sender), "%s", sender);
	cm.at = msg->date;
	cm.level = msg->level;
	cm.msg_id = msg->id;
	cm.seen = 1;
	cm.kind = QM_CHAT_RECEIPT;
	/* kept once (so that it is moved to Chats and never taken twice) */
	rc = qm_store_chat_msg_add(c->store, &cm, "", &added, err);
	if (rc || !added)
		return rc;
	if (strcasecmp(mc->chat_disposition, CHAT_DISP_READ))
		return QM_OK; /* a disposition this engine does not show */
	/* only the messages this home sent in the conversation of this
	 * member (the store's condition: outbox_id set, same chat_id) */
	for (size_t k = 0; !rc && k < 1024; k++) {
		int one = 0;

		next_orig(&p, mid, sizeof(mid));
		if (!mid[0])
			break;
		rc = qm_store_chat_msg_read(c->store, conv->id, mid,
		                            msg->date > 0 ? msg->date : 1, &one,
		                            err);
		*changed |= one;
	}
	return rc;
}
