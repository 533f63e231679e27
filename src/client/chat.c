/* SPDX-License-Identifier: MIT */
/*
 * Chat (issue 20, docs/CHAT.md): conversations over ordinary QMail
 * messages. Sending is qm_client_send with the chat marks inside the
 * envelope and the conversation's level rule in front; receiving reads
 * the messages the sync opened and verified, files those whose
 * authenticated inner message says Chat-Version into their conversation,
 * and moves them to the server folder Chats. No second engine: the outbox,
 * keys, sealing, replay checks and filing are the mail path's.
 */
#include "private.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_FOLDER "Chats"
/* Messages looked at for chat in one pass (each read from the vault). */
#define CHAT_SCAN_MAX 500
/* The inner Subject: "Chat: " and at most this many bytes of the text. */
#define CHAT_SUBJECT_MAX 48
/* Participants of one conversation at most. */
#define CHAT_MEMBERS_MAX 64

/* A sorted, deduplicated list of bare lower-case addresses. */
struct members {
	char *v[CHAT_MEMBERS_MAX];
	size_t n;
};

static void members_clear(struct members *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i]);
	m->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Adds address a (lower-cased) unless it is self or there already. */
static enum qm_err members_add(struct members *m, const char *a,
                               const char *self, struct qm_error *err)
{
	char *d;

	if (!strcasecmp(a, self))
		return QM_OK;
	for (size_t i = 0; i < m->n; i++)
		if (!strcasecmp(m->v[i], a))
			return QM_OK;
	if (m->n == CHAT_MEMBERS_MAX)
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "a conversation has at most %d participants",
		    CHAT_MEMBERS_MAX);
	if (!(d = strdup(a)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	m->v[m->n++] = d;
	return QM_OK;
}

/* Adds the addresses of an address-list value (header or typed). */
static enum qm_err members_add_list(struct members *m, const char *list,
                                    const char *self, struct qm_error *err)
{
	char **v = NULL;
	size_t n = 0;
	enum qm_err rc;

	if (!list || !*list)
		return QM_OK;
	rc = qm_client_addrs_parse(list, &v, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = members_add(m, v[i], self, err);
	qm_client_strv_free(&v, n);
	return rc;
}

enum qm_err client_chat_join(void *addrs, size_t n, const char *what,
                             char *out, size_t cap, struct qm_error *err)
{
	const char *const *v = addrs;
	size_t len = 0;

	qsort(addrs, n, sizeof(v[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(out + len, cap - len, "%s%s", i ? "," : "",
		                 v[i]);

		if (k < 0 || (size_t)k >= cap - len)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "the %s' addresses are longer than "
			                    "%zu bytes together",
			                    what, cap - 1);
		len += (size_t)k;
	}
	return QM_OK;
}

/* The members as the store keeps them: sorted, comma separated. */
static enum qm_err members_join(struct members *m, char *out, size_t cap,
                                struct qm_error *err)
{
	return client_chat_join(m->v, m->n, "participants", out,
	                        cap, err);
}

/* Is bare lower-case address a one of the comma-separated list? */
static int member_of(const char *list, const char *a)
{
	size_t n = strlen(a);

	for (const char *p = list; *p;) {
		const char *e = strchr(p, ',');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (l == n && !strncmp(p, a, n))
			return 1;
		if (!e)
			break;
		p = e + 1;
	}
	return 0;
}

/* The account's own address (what is never a member). */
static enum qm_err account_of(struct qm_client *c, int64_t account_id,
                              struct qm_store_account *a, struct qm_error *err)
{
	enum qm_err rc = qm_store_account_get(c->store, account_id, a, err);

	if (rc == QM_ERR_NOTFOUND)
		qm_error_set(err, QM_ERR_NOTFOUND, "no account %lld",
		             (long long)account_id);
	return rc;
}

/* The participants typed in to[] (without self), joined. */
static enum qm_err typed_members(const char *const *to, size_t nto,
                                 const char *self, struct members *m,
                                 char *joined, size_t cap, struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	for (size_t i = 0; !rc && i < nto; i++)
		rc = members_add_list(m, to[i], self, err);
	if (!rc && !m->n)
		rc = qm_error_set(
		    err, QM_ERR_INVAL,
		    "a chat message needs someone to go to besides "
		    "the account itself");
	if (!rc)
		rc = members_join(m, joined, cap, err);
	return rc;
}

/* Looks up the conversation of these members: one-to-one, or the group. */
static enum qm_err find_conv(struct qm_client *c, int64_t account_id,
                             const struct members *m, const char *joined,
                             struct qm_store_chat *out, struct qm_error *err)
{
	char key[QM_STORE_CHATKEYMAX];

	if (m->n > 1)
		return qm_store_chat_group_find(c->store, account_id, joined,
		                                out, err);
	snprintf(key, sizeof(key), "1:%s", m->v[0]);
	return qm_store_chat_get(c->store, account_id, key, out, err);
}

enum qm_err qm_client_chat_find(struct qm_client *c, int64_t account_id,
                                const char *const *to, size_t nto,
                                struct qm_store_chat *out, struct qm_error *err)
{
	struct qm_store_account a;
	struct members m = {.n = 0};
	char joined[QM_STORE_MEMBERSMAX];
	enum qm_err rc;

	rc = account_of(c, account_id, &a, err);
	if (!rc)
		rc = typed_members(to, nto, a.address, &m, joined,
		                   sizeof(joined), err);
	if (!rc)
		rc = find_conv(c, account_id, &m, joined, out, err);
	if (rc == QM_ERR_NOTFOUND)
		qm_error_set(err, QM_ERR_NOTFOUND,
		             "no conversation with %s yet", joined);
	members_clear(&m);
	return rc;
}

/* The level rule (docs/CHAT.md): *level gets the level to send at. */
static enum qm_err level_rule(const struct qm_store_chat *conv, int asked,
                              int *level, struct qm_error *err)
{
	if (conv->label == QM_LABEL_ALTERED)
		return qm_error_set(
		    err, QM_ERR_AUTH,
		    "the conversation with %s was changed on "
		    "disk outside QMail (its level or members): "
		    "set its level again before sending in it",
		    conv->members);
	if (conv->removed)
		return qm_error_set(
		    err, QM_ERR_STATE,
		    "you are no member of the group with %s any "
		    "more (removed from it, or left it): a member "
		    "has to add you again",
		    conv->members);
	if (asked && asked > conv->level)
		return qm_error_set(err, QM_ERR_STATE,
		                    "the conversation with %s is held to level "
		                    "%d; level %d is weaker: change the "
		                    "conversation's level first to send at it",
		                    conv->members, conv->level, asked);
	*level = asked ? asked : conv->level;
	return QM_OK;
}

/* The inner Subject: "Chat: " and the text's first line, cut on a UTF-8
 * character boundary. */
static void chat_subject(const char *text, char *out, size_t cap)
{
	size_t n = strcspn(text, "\r\n");

	if (n > CHAT_SUBJECT_MAX) {
		n = CHAT_SUBJECT_MAX;
		while (n && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
	}
	snprintf(out, cap, "Chat: %.*s", (int)n, text);
}

/* Makes (or, made meanwhile, reads) the conversation for members. */
static enum qm_err conv_make(struct qm_client *c, int64_t account_id,
                             const struct members *m, const char *joined,
                             const char *group_id, int level,
                             struct qm_store_chat *conv, struct qm_error *err)
{
	enum qm_err rc;

	memset(conv, 0, sizeof(*conv));
	conv->account_id = account_id;
	if (group_id && *group_id)
		snprintf(conv->key, sizeof(conv->key), "g:%s", group_id);
	else
		snprintf(conv->key, sizeof(conv->key), "1:%s", m->v[0]);
	snprintf(conv->group_id, sizeof(conv->group_id), "%s",
	         group_id ? group_id : "");
	snprintf(conv->members, sizeof(conv->members), "%s", joined);
	conv->level = level;
	rc = qm_store_chat_add(c->store, conv, &conv->id, err);
	if (rc == QM_ERR_EXISTS)
		rc = qm_store_chat_get(c->store, account_id, conv->key, conv,
		                       err);
	return rc;
}

/* Records a message just queued in its conversation. */
static enum qm_err record_sent(struct qm_client *c,
                               const struct qm_store_chat *conv,
                               const char *self, const char *text,
                               const struct qm_client_chat_out *m,
                               struct qm_client_chat_sent *out,
                               struct qm_error *err)
{
	struct qm_store_outbox ob;
	struct qm_store_chat_msg cm;
	enum qm_err rc;

	memset(&ob, 0, sizeof(ob));
	rc = qm_store_outbox_get(c->store, out->outbox_id, &ob, err);
	if (rc)
		return rc;
	memset(&cm, 0, sizeof(cm));
	cm.chat_id = conv->id;
	snprintf(cm.message_id, sizeof(cm.message_id), "%s", ob.message_id);
	snprintf(cm.sender, sizeof(cm.sender), "%s", self);
	snprintf(out->message_id, sizeof(out->message_id), "%s", ob.message_id);
	cm.at = ob.created;
	cm.level = out->level;
	cm.outbox_id = out->outbox_id;
	cm.seen = 1;
	qm_store_outbox_item_free(&ob);
	rc = client_chat_att_list_out(m->att, m->natt, &cm.att, err);
	if (!rc)
		rc = qm_store_chat_msg_add(c->store, &cm, text, NULL, err);
	free(cm.att);
	return rc;
}

/* A new group's ID: 32 hex digits. */
static void new_group_id(char out[QM_STORE_GROUPIDMAX])
{
	unsigned char raw[16];

	randombytes_buf(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

enum qm_err qm_client_chat_send(struct qm_client *c,
                                const struct qm_client_chat_out *m,
                                struct qm_client_chat_sent *out,
                                struct qm_error *err)
{
	struct qm_store_account a;
	struct qm_store_chat conv;
	struct qm_client_compose mc;
	struct qm_client_sent sent;
	struct members mem = {.n = 0};
	char joined[QM_STORE_MEMBERSMAX], subject[CHAT_SUBJECT_MAX + 16];
	char gid[QM_STORE_GROUPIDMAX] = "";
	int level = m->level, have = 0;
	enum qm_err rc, rc2;

	memset(out, 0, sizeof(*out));
	if ((!m->text || !*m->text) && !m->natt)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a chat message needs some text or a file");
	if (m->level < 0 || m->level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a level is 1, 2, 3 or 4, not %d",
		                    m->level);
	rc = client_need_unlocked(c, "sending a chat message", err);
	if (!rc)
		rc = account_of(c, m->account_id, &a, err);
	if (!rc && m->chat_id) /* the conversation's members as they are */
		rc = client_chat_conv_of(c, a.id, m->chat_id, &conv, err);
	if (!rc) {
		const char *cur[] = {conv.members};

		rc = m->chat_id ? typed_members(cur, 1, a.address, &mem, joined,
		                                sizeof(joined), err)
		                : typed_members(m->to, m->nto, a.address, &mem,
		                                joined, sizeof(joined), err);
	}
	if (rc)
		goto out;
	rc = m->chat_id ? QM_OK : find_conv(c, a.id, &mem, joined, &conv, err);
	if (rc == QM_OK) {
		have = 1;
		rc = level_rule(&conv, m->level, &level, err);
		snprintf(gid, sizeof(gid), "%s", conv.group_id);
	} else if (rc == QM_ERR_NOTFOUND) {
		rc = QM_OK;
		if (mem.n > 1)
			new_group_id(gid);
	}
	if (rc)
		goto out;
	chat_subject(m->text && *m->text ? m->text
	             : m->att[0].name    ? m->att[0].name
	                                 : "file",
	             subject, sizeof(subject));
	memset(&mc, 0, sizeof(mc));
	mc.account_id = a.id;
	mc.to = (const char *const *)mem.v;
	mc.nto = mem.n;
	mc.subject = subject;
	mc.text = m->text ? m->text : "";
	mc.att = m->att;
	mc.natt = m->natt;
	mc.level = level;
	mc.chat = 1;
	mc.chat_group_id = gid[0] ? gid : NULL;
	memset(&sent, 0, sizeof(sent));
	rc = qm_client_send(c, &mc, NULL, NULL, &sent, err);
	if (!sent.n_outbox)
		goto out; /* nothing queued: nothing to record */
	out->level = sent.level;
	out->outbox_id = sent.outbox_ids[0];
	out->sent = !rc && sent.n_sent == sent.n_outbox;
	snprintf(out->warning, sizeof(out->warning), "%s", sent.warning);
	/* queued: it is in the conversation whatever the network did */
	{
		struct qm_error e2;

		qm_error_clear(&e2);
		rc2 = have ? QM_OK
		           : conv_make(c, a.id, &mem, joined, gid, sent.level,
		                       &conv, &e2);
		if (!rc2)
			rc2 = record_sent(c, &conv, a.address,
			                  m->text ? m->text : "", m, out, &e2);
		if (rc2 && !rc) {
			rc = rc2;
			*err = e2;
			qm_error_prefix(err,
			                "the message was sent, but not kept "
			                "in its conversation: ");
		}
	}
	out->chat_id = conv.id;
out:
	members_clear(&mem);
	return rc;
}

enum qm_err qm_client_chat_list(struct qm_client *c, int64_t account_id,
                                struct qm_store_chat **out, size_t *n,
                                struct qm_error *err)
{
	*out = NULL;
	*n = 0;
	return qm_store_chat_list(c->store, account_id, out, n, err);
}

void qm_client_chat_items_free(struct qm_client_chat_item **pv, size_t n)
{
	struct qm_client_chat_item *v = pv ? *pv : NULL;

	if (!v)
		return;
	for (size_t i = 0; i < n; i++) {
		free(v[i].sender);
		client_chat_files_free(v[i].files, v[i].nfiles);
		if (v[i].text) {
			qm_wipe(v[i].text, strlen(v[i].text));
			free(v[i].text);
		}
	}
	free(v);
	*pv = NULL;
}

/* The delivery state of a sent message: its outbox entry's. */
static void sent_state(struct qm_client *c, int64_t outbox_id, char *out,
                       size_t cap)
{
	struct qm_store_outbox ob;
	struct qm_error e;

	memset(&ob, 0, sizeof(ob));
	if (qm_store_outbox_get(c->store, outbox_id, &ob, &e) != QM_OK) {
		snprintf(out, cap, "%s", "gone");
		return;
	}
	snprintf(out, cap, "%s", qm_client_outbox_state_name(ob.state));
	qm_store_outbox_item_free(&ob);
}

enum qm_err qm_client_chat_messages(struct qm_client *c, int64_t chat_id,
                                    struct qm_client_chat_item **out, size_t *n,
                                    struct qm_error *err)
{
	struct qm_store_chat conv;
	struct qm_store_chat_msg *m = NULL;
	struct qm_client_chat_item *v = NULL;
	size_t k = 0, i;
	enum qm_err rc;

	*out = NULL;
	*n = 0;
	rc = client_need_unlocked(c, "reading a conversation", err);
	if (!rc)
		rc = qm_store_chat_get_id(c->store, chat_id, &conv, err);
	if (!rc)
		rc = qm_store_chat_msgs(c->store, chat_id, &m, &k, err);
	if (rc)
		return rc;
	v = calloc(k ? k : 1, sizeof(*v));
	if (!v) {
		qm_store_chat_msgs_free(&m, k);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (i = 0; i < k; i++) {
		v[i].id = m[i].id;
		v[i].at = m[i].at;
		v[i].level = m[i].level;
		v[i].mine = m[i].outbox_id != 0;
		v[i].seen = m[i].seen;
		v[i].kind = m[i].kind;
		v[i].read_at = m[i].read_at;
		v[i].sender = strdup(m[i].sender);
		v[i].text = strdup(m[i].text ? m[i].text : "");
		if (!v[i].sender || !v[i].text ||
		    client_chat_files(m[i].att, &v[i].files, &v[i].nfiles,
		                      err)) {
			qm_client_chat_items_free(&v, i + 1);
			qm_store_chat_msgs_free(&m, k);
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		}
		if (v[i].mine)
			sent_state(c, m[i].outbox_id, v[i].state,
			           sizeof(v[i].state));
	}
	qm_store_chat_msgs_free(&m, k);
	*out = v;
	*n = k;
	return QM_OK;
}

enum qm_err qm_client_chat_read(struct qm_client *c, int64_t chat_id,
                                size_t *n_marked, struct qm_error *err)
{
	int64_t *ids = NULL;
	char **mids = NULL;
	size_t n = 0, nm = 0;
	enum qm_err rc;

	/* what this marks read: named in a read receipt when opted in */
	rc = qm_store_chat_unseen_mids(c->store, chat_id, &mids, &nm, err);
	if (!rc)
		rc = qm_store_chat_seen(c->store, chat_id, &ids, &n, err);
	for (size_t i = 0; !rc && i < n; i++) {
		rc = qm_client_msg_flags(c, ids[i], QM_FLAG_SEEN, 0, NULL, err);
		if (rc == QM_ERR_NOTFOUND)
			rc = QM_OK; /* its record was deleted meanwhile */
	}
	free(ids);
	if (!rc) {
		struct qm_error e2;

		/* a receipt that cannot go is dropped: the read state here
		 * is what counts (one that entered the outbox is retried) */
		qm_error_clear(&e2);
		if (client_chat_receipts_send(c, chat_id, mids, nm, &e2))
			qm_error_clear(&e2);
	}
	qm_store_chat_mids_free(&mids, nm);
	if (!rc && n_marked)
		*n_marked = n;
	return rc;
}

enum qm_err qm_client_chat_level_set(struct qm_client *c, int64_t chat_id,
                                     int level, struct qm_error *err)
{
	enum qm_err rc = client_need_unlocked(c, "changing a level", err);

	return rc ? rc : qm_store_chat_level_set(c->store, chat_id, level, err);
}

/* ---------------------------------------------------------- receiving */

/* A Chat-Group-ID this engine takes: 1..79 of [A-Za-z0-9._-]. */
static int group_id_ok(const char *g)
{
	size_t n = strlen(g);

	if (!n || n >= QM_STORE_GROUPIDMAX)
		return 0;
	return strspn(g, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789._-") == n;
}

/* The text as a conversation shows it: without the trailing newlines. */
static void trim_text(char *t)
{
	size_t n = strlen(t);

	while (n && (t[n - 1] == '\n' || t[n - 1] == '\r'))
		t[--n] = '\0';
}

/* Files opened message msg (verified; its plaintext mc) when it is chat:
 * *filed 1 when added to a conversation. */
static enum qm_err file_opened(struct qm_client *c,
                               const struct qm_store_account *a,
                               const struct qm_store_msg *msg,
                               struct qm_mail_content *mc, int *filed,
                               struct qm_error *err)
{
	struct members mem = {.n = 0}, from = {.n = 0};
	struct qm_store_chat conv;
	struct qm_store_chat_msg cm;
	struct client_chat_change ch;
	char joined[QM_STORE_MEMBERSMAX];
	const char *gid = mc->chat_group_id;
	enum qm_err rc;

	*filed = 0;
	if (!mc->chat_version || !*mc->chat_version)
		return QM_OK; /* mail, not chat */
	if (*gid && !group_id_ok(gid))
		return QM_OK; /* not a group ID this engine can key: mail */
	/* a membership change this engine cannot take (no group, not one
	 * address, both kinds): mail */
	if (client_chat_change_parse(mc, &ch) < 0)
		return QM_OK;
	/* the authenticated inner From, To and Cc (invariant 16: the same
	 * addresses as the envelope bound) */
	rc = members_add_list(&from, mc->hdrs.from, a->address, err);
	if (!rc && from.n != 1)
		goto out; /* from the account itself, or no one: not filed */
	if (!rc)
		rc = members_add(&mem, from.v[0], a->address, err);
	if (!rc && *gid)
		rc = members_add_list(&mem, mc->hdrs.to, a->address, err);
	if (!rc && *gid)
		rc = members_add_list(&mem, mc->hdrs.cc, a->address, err);
	if (!rc)
		rc = members_join(&mem, joined, sizeof(joined), err);
	if (rc)
		goto out;
	if (*gid) {
		char key[QM_STORE_CHATKEYMAX];

		snprintf(key, sizeof(key), "g:%s", gid);
		rc = qm_store_chat_get(c->store, a->id, key, &conv, err);
		/* only a member speaks in a group: someone else who names
		 * its ID (a past member, anyone a member told it) gets no
		 * voice in it; the message stays mail */
		if (!rc && !member_of(conv.members, from.v[0]))
			goto out;
	} else {
		rc = find_conv(c, a->id, &mem, joined, &conv, err);
	}
	/* a read receipt: into the conversation it belongs to, never one
	 * made for it, never shown (invariant 39) */
	if (*mc->chat_disposition) {
		if (rc == QM_ERR_NOTFOUND)
			rc = QM_OK; /* no conversation with its sender */
		else if (!rc) {
			int changed = 0;

			/* not a message: not counted as one filed (the
			 * page reads the conversation again on new mail) */
			rc = client_chat_receipt_file(c, &conv, msg, from.v[0],
			                              mc, &changed, err);
		}
		goto out;
	}
	if (rc == QM_ERR_NOTFOUND)
		rc = conv_make(c, a->id, &mem, joined, gid, msg->level, &conv,
		               err);
	if (rc)
		goto out;
	if (ch.kind != QM_CHAT_TEXT) {
		/* a verified member's change (only members get here) */
		rc = client_chat_change_file(c, a, msg, &conv, from.v[0],
		                             joined, &ch, filed, err);
		goto out;
	}
	memset(&cm, 0, sizeof(cm));
	cm.chat_id = conv.id;
	snprintf(cm.message_id, sizeof(cm.message_id), "%s",
	         msg->message_id ? msg->message_id : "");
	snprintf(cm.sender, sizeof(cm.sender), "%s", from.v[0]);
	cm.at = msg->date;
	cm.level = msg->level;
	cm.msg_id = msg->id;
	cm.seen = (msg->flags & QM_FLAG_SEEN) != 0;
	trim_text(mc->text);
	rc = client_chat_att_list_parts(mc->att, mc->natt, &cm.att, err);
	if (!rc)
		rc = qm_store_chat_msg_add(c->store, &cm, mc->text, filed, err);
	free(cm.att);
out:
	members_clear(&mem);
	members_clear(&from);
	return rc;
}

/* Looks at message id: chat from someone (verified), or this home's own
 * copy of a chat message it sent. */
static enum qm_err scan_one(struct qm_client *c,
                            const struct qm_store_account *a, int64_t id,
                            int *filed, struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_msg *msg;
	struct qm_store_chat_msg cm;
	struct qm_mail_content *mc = NULL;
	struct qm_mail_limits lim;
	struct qm_buf body;
	enum qm_err rc;

	*filed = 0;
	rc = qm_store_msg_get(c->store, id, &l, err);
	if (rc == QM_ERR_NOTFOUND)
		return QM_OK; /* deleted meanwhile */
	if (rc)
		return rc;
	msg = &l->items[0];
	/* the labels as checked by the store: an altered row reads as
	 * tampered and is never chat */
	if (msg->level < 1 || !msg->message_id || !*msg->message_id)
		goto out;
	if (msg->verify == QM_VERIFY_SENT) {
		rc = qm_store_chat_msg_find(c->store, a->id, msg->message_id,
		                            &cm, err);
		if (rc == QM_ERR_NOTFOUND)
			rc = QM_OK; /* a mail, not a chat message */
		else if (!rc && !cm.msg_id)
			rc = qm_store_chat_msg_link(c->store, cm.id, id, err);
		goto out;
	}
	if (msg->verify != QM_VERIFY_OK)
		goto out;
	client_mail_limits(c, &lim);
	qm_buf_init_secure(&body, QM_STORE_MAXBLOB);
	rc = qm_store_msg_body(c->store, id, &body, err);
	if (!rc)
		rc = qm_mail_content_parse(body.data, body.len, &lim, &mc, err);
	qm_buf_free(&body);
	if (!rc)
		rc = file_opened(c, a, msg, mc, filed, err);
	qm_mail_content_free(&mc);
out:
	qm_store_msglist_free(&l);
	return rc;
}

const char *qm_client_chat_folder(void)
{
	return CHAT_FOLDER;
}

/* The Chats folder of account a exists (made and subscribed when not). */
static enum qm_err chats_folder(struct qm_client *c, int64_t account_id,
                                struct qm_error *err)
{
	struct qm_store_folder *f = NULL;
	size_t n = 0;
	int found = 0;
	enum qm_err rc;

	rc = qm_client_folders(c, account_id, &f, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		if (!strcmp(f[i].name, CHAT_FOLDER) ||
		    !strcmp(f[i].display, CHAT_FOLDER))
			found = 1;
	qm_client_folders_free(&f, n);
	if (!rc && !found)
		rc = qm_client_folder_create(c, account_id, CHAT_FOLDER, err);
	return rc;
}

/* Moves what was filed as chat and is not in Chats yet. */
static enum qm_err move_filed(struct qm_client *c, int64_t account_id,
                              struct qm_error *err)
{
	int64_t *ids = NULL;
	size_t n = 0, done = 0;
	enum qm_err rc;

	rc = qm_store_chat_unmoved(c->store, account_id, &ids, &n, err);
	if (!rc && n)
		rc = chats_folder(c, account_id, err);
	/* one IMAP session for them all; those moved before a failure are
	 * noted as moved all the same */
	if (!rc && n)
		rc = qm_client_msgs_move(c, ids, n, CHAT_FOLDER, &done, err);
	for (size_t i = 0; i < done; i++) {
		struct qm_error e2;
		enum qm_err rc2 = qm_store_chat_moved(c->store, ids[i], &e2);

		if (rc2 && !rc) {
			rc = rc2;
			*err = e2;
		}
	}
	free(ids);
	if (rc)
		qm_error_prefix(err,
		                "moving chat messages to %s: ", CHAT_FOLDER);
	return rc;
}

enum qm_err qm_client_chat_file(struct qm_client *c, int64_t account_id,
                                size_t *filed, struct qm_error *err)
{
	struct qm_store_account a;
	int64_t last = 0, *ids = NULL;
	size_t n = 0, total = 0;
	enum qm_err rc;

	rc = client_need_unlocked(c, "filing chat messages", err);
	if (!rc)
		rc = account_of(c, account_id, &a, err);
	if (!rc)
		rc = qm_store_chat_scan_get(c->store, a.id, &last, err);
	if (!rc)
		rc = qm_store_chat_candidates(c->store, a.id, last,
		                              CHAT_SCAN_MAX, &ids, &n, err);
	for (size_t i = 0; !rc && i < n; i++) {
		int one = 0;

		rc = scan_one(c, &a, ids[i], &one, err);
		/* a message that cannot be read now stays mail; it never
		 * stops the others */
		if (rc && rc != QM_ERR_NOMEM && rc != QM_ERR_LOCKED)
			rc = QM_OK;
		total += (size_t)one;
		if (!rc)
			rc =
			    qm_store_chat_scan_set(c->store, a.id, ids[i], err);
	}
	free(ids);
	if (!rc)
		rc = move_filed(c, a.id, err);
	if (filed)
		*filed = total;
	return rc;
}
