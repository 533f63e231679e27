/* SPDX-License-Identifier: MIT */
/*
 * Group membership (issue 20, docs/CHAT.md "Groups", invariant 38): a
 * member added or removed is itself a chat message of the group, sealed at
 * the group's level and sent through the outbox like any other, with the
 * protected header Chat-Group-Member-Added or Chat-Group-Member-Removed
 * (the names chat-over-email clients use). It goes to the members after
 * the change and, for a removal, to the removed one, who learns it. The
 * receiver applies a change only from a verified message (invariant 37's
 * rule: chat.c files nothing else) of a current member (chat.c files no
 * group message from anyone else), and keeps it as a line of the
 * conversation. Later messages go to the members as they are then: a
 * removed member gets no slot and, at levels 1 and 2, no key.
 */
#include "private.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The inner Subject: "Chat: " and at most this many bytes of the line. */
#define CHANGE_SUBJECT_MAX 48
/* Members of a group at most (as chat.c's CHAT_MEMBERS_MAX). */
#define CHANGE_MEMBERS_MAX 64

/* A member list split for a change: pointers into buf. */
struct mlist {
	char buf[QM_STORE_MEMBERSMAX + QM_STORE_ADDRMAX + 2];
	const char *v[CHANGE_MEMBERS_MAX + 1];
	size_t n;
};

static void mlist_split(struct mlist *l, const char *joined)
{
	char *p;

	snprintf(l->buf, sizeof(l->buf), "%s", joined);
	l->n = 0;
	for (p = l->buf; *p && l->n < CHANGE_MEMBERS_MAX;) {
		l->v[l->n++] = p;
		p += strcspn(p, ",");
		if (*p)
			*p++ = '\0';
	}
}

static int mlist_has(const struct mlist *l, const char *a)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], a))
			return 1;
	return 0;
}

static void mlist_drop(struct mlist *l, const char *a)
{
	size_t k = 0;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], a))
			l->v[k++] = l->v[i];
	l->n = k;
}

/* The list as the store keeps it: sorted, comma separated. */
static enum qm_err mlist_join(struct mlist *l, char *out, size_t cap,
                              struct qm_error *err)
{
	return client_chat_join(l->v, l->n, "members", out, cap, err);
}

/* One bare address, lower case, from value (as typed or as a header
 * holds it); -1 when it is not exactly one. */
static int one_addr(const char *value, char *out, size_t cap)
{
	char **v = NULL;
	size_t n = 0;
	int r = -1;

	if (qm_client_addrs_parse(value, &v, &n, NULL) == QM_OK && n == 1 &&
	    strlen(v[0]) < cap) {
		for (size_t i = 0; v[0][i]; i++)
			out[i] = (char)tolower((unsigned char)v[0][i]);
		out[strlen(v[0])] = '\0';
		r = 0;
	}
	qm_client_strv_free(&v, n);
	return r;
}

int client_chat_change_parse(const struct qm_mail_content *mc,
                             struct client_chat_change *ch)
{
	const char *add = mc->chat_member_added ? mc->chat_member_added : "";
	const char *rem =
	    mc->chat_member_removed ? mc->chat_member_removed : "";

	memset(ch, 0, sizeof(*ch));
	ch->kind = QM_CHAT_TEXT;
	if (!*add && !*rem)
		return 0;
	if ((*add && *rem) || !mc->chat_group_id || !*mc->chat_group_id)
		return -1;
	if (one_addr(*add ? add : rem, ch->addr, sizeof(ch->addr)))
		return -1;
	ch->kind = *add ? QM_CHAT_MEMBER_ADDED : QM_CHAT_MEMBER_REMOVED;
	return 1;
}

enum qm_err client_chat_conv_of(struct qm_client *c, int64_t account_id,
                                int64_t chat_id, struct qm_store_chat *out,
                                struct qm_error *err)
{
	enum qm_err rc = qm_store_chat_get_id(c->store, chat_id, out, err);

	if (rc == QM_ERR_NOTFOUND ||
	    (!rc && account_id && out->account_id != account_id))
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "no conversation %lld in this account",
		                    (long long)chat_id);
	return rc;
}

enum qm_err qm_client_chat_get(struct qm_client *c, int64_t chat_id,
                               struct qm_store_chat *out, struct qm_error *err)
{
	return client_chat_conv_of(c, 0, chat_id, out, err);
}

/* The members and removed flag after change ch by sender of group conv
 * (self: the account's address; joined: the message's own participants,
 * taken when the account itself is added). */
static enum qm_err apply(const struct qm_store_chat *conv, const char *self,
                         const char *joined,
                         const struct client_chat_change *ch, char *members,
                         size_t cap, int *removed, struct qm_error *err)
{
	struct mlist *l = malloc(sizeof(*l));
	enum qm_err rc;

	if (!l)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	*removed = conv->removed;
	if (!strcasecmp(ch->addr, self)) {
		/* about the account itself: out, or in again with the
		 * members the addition went to */
		*removed = ch->kind == QM_CHAT_MEMBER_REMOVED;
		mlist_split(l, *removed ? conv->members : joined);
	} else {
		mlist_split(l, conv->members);
		mlist_drop(l, ch->addr);
		if (ch->kind == QM_CHAT_MEMBER_ADDED) {
			if (l->n == CHANGE_MEMBERS_MAX) {
				free(l);
				return qm_error_set(
				    err, QM_ERR_TOOBIG,
				    "a group has at most %d members",
				    CHANGE_MEMBERS_MAX);
			}
			l->v[l->n++] = ch->addr;
		}
	}
	rc = mlist_join(l, members, cap, err);
	free(l);
	return rc;
}

enum qm_err client_chat_change_file(struct qm_client *c,
                                    const struct qm_store_account *a,
                                    const struct qm_store_msg *msg,
                                    const struct qm_store_chat *conv,
                                    const char *sender, const char *joined,
                                    const struct client_chat_change *ch,
                                    int *filed, struct qm_error *err)
{
	struct qm_store_chat_msg cm;
	char *members = malloc(QM_STORE_MEMBERSMAX);
	int removed = 0;
	enum qm_err rc;

	*filed = 0;
	if (!members)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = apply(conv, a->address, joined, ch, members, QM_STORE_MEMBERSMAX,
	           &removed, err);
	if (rc)
		goto out;
	memset(&cm, 0, sizeof(cm));
	cm.chat_id = conv->id;
	cm.kind = ch->kind;
	snprintf(cm.message_id, sizeof(cm.message_id), "%s",
	         msg->message_id ? msg->message_id : "");
	snprintf(cm.sender, sizeof(cm.sender), "%s", sender);
	cm.at = msg->date;
	cm.level = msg->level;
	cm.msg_id = msg->id;
	cm.seen = (msg->flags & QM_FLAG_SEEN) != 0;
	rc = qm_store_chat_change(c->store, &cm, ch->addr, members, removed,
	                          filed, err);
out:
	free(members);
	return rc;
}

/* ------------------------------------------------------------- sending */

/* What a change says to a person (the body, and the Subject's start). */
static void change_text(const char *self, const struct client_chat_change *ch,
                        char *out, size_t cap)
{
	if (ch->kind == QM_CHAT_MEMBER_REMOVED && !strcmp(ch->addr, self))
		snprintf(out, cap, "%s left the group.", self);
	else if (ch->kind == QM_CHAT_MEMBER_REMOVED)
		snprintf(out, cap, "%s removed %s from the group.", self,
		         ch->addr);
	else
		snprintf(out, cap, "%s added %s to the group.", self, ch->addr);
}

static void change_subject(const char *text, char *out, size_t cap)
{
	size_t n = strlen(text);

	if (n > CHANGE_SUBJECT_MAX) {
		n = CHANGE_SUBJECT_MAX;
		while (n && ((unsigned char)text[n] & 0xC0) == 0x80)
			n--;
	}
	snprintf(out, cap, "Chat: %.*s", (int)n, text);
}

/* A change the account can make in conv: *to (members who get it, into
 * l) and the members after it. */
static enum qm_err plan(const struct qm_store_chat *conv, const char *self,
                        const struct client_chat_change *ch, struct mlist *l,
                        char *members, size_t cap, int *removed,
                        struct qm_error *err)
{
	int leaving = !strcmp(ch->addr, self);
	enum qm_err rc;

	if (!conv->group_id[0])
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "the conversation with %s is one-to-one: members change "
		    "in a group only (start one by writing to several "
		    "addresses)",
		    conv->members);
	if (conv->label == QM_LABEL_ALTERED)
		return qm_error_set(err, QM_ERR_AUTH,
		                    "the group with %s was changed on disk "
		                    "outside QMail (its level or members): set "
		                    "its level again before changing it",
		                    conv->members);
	if (conv->removed)
		return qm_error_set(
		    err, QM_ERR_STATE,
		    "you are no member of the group with %s any "
		    "more: a member has to add you again",
		    conv->members);
	if (ch->kind == QM_CHAT_MEMBER_ADDED && leaving)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "you are in the group already");
	mlist_split(l, conv->members);
	if (ch->kind == QM_CHAT_MEMBER_ADDED && mlist_has(l, ch->addr))
		return qm_error_set(err, QM_ERR_EXISTS,
		                    "%s is in the group already", ch->addr);
	if (ch->kind == QM_CHAT_MEMBER_REMOVED && !leaving &&
	    !mlist_has(l, ch->addr))
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "%s is no member of the group", ch->addr);
	if (ch->kind == QM_CHAT_MEMBER_REMOVED && !leaving && l->n == 1)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "%s is the group's last other member: leave "
		    "the group instead (remove your own address)",
		    ch->addr);
	if (ch->kind == QM_CHAT_MEMBER_ADDED && l->n == CHANGE_MEMBERS_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "a group has at most %d members",
		                    CHANGE_MEMBERS_MAX);
	/* the members after the change; the message goes to them and to
	 * the one removed */
	if (ch->kind == QM_CHAT_MEMBER_ADDED)
		l->v[l->n++] = ch->addr;
	else if (!leaving)
		mlist_drop(l, ch->addr);
	rc = mlist_join(l, members, cap, err);
	if (ch->kind == QM_CHAT_MEMBER_REMOVED && !leaving)
		l->v[l->n++] = ch->addr;
	*removed = leaving;
	return rc;
}

/* Keeps the change just queued as a line, with the new members. */
static enum qm_err record(struct qm_client *c, const struct qm_store_chat *conv,
                          const char *self, const struct client_chat_change *ch,
                          const char *members, int removed,
                          struct qm_client_chat_sent *out, struct qm_error *err)
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
	cm.kind = ch->kind;
	snprintf(cm.message_id, sizeof(cm.message_id), "%s", ob.message_id);
	snprintf(out->message_id, sizeof(out->message_id), "%s", ob.message_id);
	snprintf(cm.sender, sizeof(cm.sender), "%s", self);
	cm.at = ob.created;
	cm.level = out->level;
	cm.outbox_id = out->outbox_id;
	cm.seen = 1;
	qm_store_outbox_item_free(&ob);
	return qm_store_chat_change(c->store, &cm, ch->addr, members, removed,
	                            NULL, err);
}

static enum qm_err member_change(struct qm_client *c, int64_t chat_id,
                                 const char *addr, int kind,
                                 struct qm_client_chat_sent *out,
                                 struct qm_error *err)
{
	struct qm_store_account a;
	struct qm_store_chat conv;
	struct qm_client_compose mc;
	struct qm_client_sent sent;
	struct client_chat_change ch;
	struct mlist *l = NULL;
	char *members = NULL, self[QM_STORE_ADDRMAX];
	char text[2 * QM_STORE_ADDRMAX + 64];
	char subject[CHANGE_SUBJECT_MAX + 16];
	int removed = 0;
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	memset(&ch, 0, sizeof(ch));
	ch.kind = kind;
	rc = client_need_unlocked(c, "changing a group's members", err);
	if (!rc)
		rc = client_chat_conv_of(c, 0, chat_id, &conv, err);
	if (!rc)
		rc = qm_store_account_get(c->store, conv.account_id, &a, err);
	if (rc)
		return rc;
	if (one_addr(addr ? addr : "", ch.addr, sizeof(ch.addr)) ||
	    one_addr(a.address, self, sizeof(self)))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a member is one address like "
		                    "bob@example.org, not \"%s\"",
		                    addr ? addr : "");
	l = malloc(sizeof(*l));
	members = malloc(QM_STORE_MEMBERSMAX);
	if (!l || !members) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = plan(&conv, self, &ch, l, members, QM_STORE_MEMBERSMAX, &removed,
	          err);
	if (rc)
		goto out;
	change_text(self, &ch, text, sizeof(text));
	change_subject(text, subject, sizeof(subject));
	memset(&mc, 0, sizeof(mc));
	mc.account_id = a.id;
	mc.to = l->v;
	mc.nto = l->n;
	mc.subject = subject;
	mc.text = text;
	mc.level = conv.level;
	mc.chat = 1;
	mc.chat_group_id = conv.group_id;
	if (kind == QM_CHAT_MEMBER_ADDED)
		mc.chat_member_added = ch.addr;
	else
		mc.chat_member_removed = ch.addr;
	memset(&sent, 0, sizeof(sent));
	rc = qm_client_send(c, &mc, NULL, NULL, &sent, err);
	if (!sent.n_outbox)
		goto out; /* nothing queued: nothing changed */
	out->level = sent.level;
	out->outbox_id = sent.outbox_ids[0];
	out->sent = !rc && sent.n_sent == sent.n_outbox;
	snprintf(out->warning, sizeof(out->warning), "%s", sent.warning);
	/* queued: the members are the new ones whatever the network did */
	{
		struct qm_error e2;
		enum qm_err rc2;

		qm_error_clear(&e2);
		rc2 = record(c, &conv, self, &ch, members, removed, out, &e2);
		if (rc2 && !rc) {
			rc = rc2;
			*err = e2;
			qm_error_prefix(err, "the change was sent, but not "
			                     "kept in the conversation: ");
		}
	}
	out->chat_id = conv.id;
out:
	free(l);
	free(members);
	return rc;
}

enum qm_err qm_client_chat_member_add(struct qm_client *c, int64_t chat_id,
                                      const char *addr,
                                      struct qm_client_chat_sent *out,
                                      struct qm_error *err)
{
	return member_change(c, chat_id, addr, QM_CHAT_MEMBER_ADDED, out, err);
}

enum qm_err qm_client_chat_member_remove(struct qm_client *c, int64_t chat_id,
                                         const char *addr,
                                         struct qm_client_chat_sent *out,
                                         struct qm_error *err)
{
	return member_change(c, chat_id, addr, QM_CHAT_MEMBER_REMOVED, out,
	                     err);
}
