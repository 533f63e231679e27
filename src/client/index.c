/* SPDX-License-Identifier: MIT */
/*
 * The message index and the drafts as the user interfaces see them:
 * listing, searching and counting messages, one message's row, its flags,
 * deleting it, its readable MIME; drafts sealed in the vault. Reading a
 * message as a person reads it is read.c's.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

/*
 * A query by folder name of an account whose folders are known selects by
 * place (the messages in that folder on the server now, wherever they were
 * first filed); without a folder record (POP3's INBOX, a folder never
 * listed) or with a local one (a POP3 account's, local.c) the name selects
 * the folder a message was filed in, as before schema 6.
 */
static enum qm_err index_query(struct qm_client *c,
                               const struct qm_store_query *q,
                               struct qm_store_query *by_place,
                               struct qm_error *err)
{
	struct qm_store_folder f = {0};
	enum qm_err rc;

	*by_place = *q;
	if (!q->folder || !*q->folder || !q->account_id || q->folder_id)
		return QM_OK;
	rc = qm_store_folder_get(c->store, q->account_id, q->folder, &f, err);
	if (rc == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		return QM_OK;
	}
	if (rc)
		return rc;
	/* a POP3 account's local folder (local.c): by the folder filed in */
	if (f.uidvalidity != CLIENT_LOCAL_VALIDITY) {
		by_place->folder = NULL;
		by_place->folder_id = f.id;
	}
	qm_store_folder_clear(&f);
	return QM_OK;
}

enum qm_err qm_client_msg_list(struct qm_client *c,
                               const struct qm_store_query *q,
                               struct qm_store_msglist **out,
                               struct qm_error *err)
{
	struct qm_store_query pq;
	enum qm_err rc;

	if (q->text && *q->text) {
		/* the search index is built from the vault */
		rc = client_need_unlocked(c, "searching", err);
		if (rc)
			return rc;
	}
	rc = index_query(c, q, &pq, err);
	return rc ? rc : qm_store_msg_list(c->store, &pq, out, err);
}

enum qm_err qm_client_msg_count(struct qm_client *c,
                                const struct qm_store_query *q, int64_t *n,
                                struct qm_error *err)
{
	struct qm_store_query pq;
	enum qm_err rc = index_query(c, q, &pq, err);

	return rc ? rc : qm_store_msg_count(c->store, &pq, n, err);
}

enum qm_err qm_client_msg_get(struct qm_client *c, int64_t id,
                              struct qm_store_msglist **out,
                              struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	enum qm_err rc = qm_store_msg_get(c->store, id, &l, err);

	if (rc)
		return rc;
	if (l->n == 0) {
		qm_store_msglist_free(&l);
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "there is no message %lld", (long long)id);
	}
	*out = l;
	return QM_OK;
}

void qm_client_msglist_free(struct qm_store_msglist **l)
{
	qm_store_msglist_free(l);
}

enum qm_err qm_client_msg_flags(struct qm_client *c, int64_t id, unsigned set,
                                unsigned clear, unsigned *flags,
                                struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	unsigned now;
	enum qm_err rc = qm_client_msg_get(c, id, &l, err);

	if (rc)
		return rc;
	now = (l->items[0].flags | set) & ~clear;
	if (now != l->items[0].flags)
		rc = qm_store_msg_set_flags(c->store, id, now, err);
	qm_store_msglist_free(&l);
	if (!rc && flags)
		*flags = now;
	return rc;
}

enum qm_err qm_client_msg_delete(struct qm_client *c, int64_t id,
                                 struct qm_error *err)
{
	return qm_store_msg_delete(c->store, id, err);
}

enum qm_err qm_client_msg_mime(struct qm_client *c, int64_t id,
                               struct qm_buf *out, struct qm_error *err)
{
	enum qm_err rc = client_need_unlocked(c, "reading a message", err);

	/* a header-only record: its body first, as the reader does */
	if (!rc)
		rc = client_msg_body_fetch(c, &id, err);
	if (rc)
		return rc;
	return qm_store_msg_body(c->store, id, out, err);
}

/* A copy of s, "" for NULL; NULL when out of memory. */
static char *refs_dup(const char *s)
{
	return strdup(s ? s : "");
}

enum qm_err qm_client_msg_refs(struct qm_client *c, int64_t id,
                               char **in_reply_to, char **references,
                               struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct qm_mail_content *mc = NULL;
	struct qm_mail_limits lim;
	struct qm_buf body;
	char *irt = NULL, *refs = NULL;
	enum qm_err rc = client_need_unlocked(c, "reading a message", err);
	enum qm_store_verify v;

	if (rc)
		return rc;
	qm_buf_init_secure(&body, QM_STORE_MAXBLOB);
	rc = qm_store_msg_get(c->store, id, &l, err);
	if (rc)
		goto out;
	if (l->n == 0) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "there is no message %lld", (long long)id);
		goto out;
	}
	v = l->items[0].verify;
	if (l->items[0].has_body && l->items[0].label != QM_LABEL_ALTERED &&
	    (v == QM_VERIFY_OK || v == QM_VERIFY_NOT_QMAIL ||
	     v == QM_VERIFY_UNVERIFIED_SENDER || v == QM_VERIFY_SENT)) {
		client_mail_limits(c, &lim);
		rc = qm_store_msg_body(c->store, id, &body, err);
		if (!rc)
			rc = qm_mail_content_parse(body.data, body.len, &lim,
			                           &mc, err);
		if (rc)
			goto out;
	}
	irt = refs_dup(mc ? mc->in_reply_to : NULL);
	refs = refs_dup(mc ? mc->references : NULL);
	if (!irt || !refs) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	*in_reply_to = irt;
	*references = refs;
	irt = refs = NULL;
out:
	free(refs);
	free(irt);
	qm_mail_content_free(&mc);
	qm_buf_free(&body);
	qm_store_msglist_free(&l);
	return rc;
}

/* ----------------------------------------------------------------- drafts */

enum qm_err qm_client_draft_put(struct qm_client *c, int64_t account_id,
                                int64_t *id, const void *p, size_t n,
                                struct qm_error *err)
{
	enum qm_err rc = client_need_unlocked(c, "saving a draft", err);

	if (rc)
		return rc;
	return qm_store_draft_put(c->store, account_id, id, p, n, err);
}

enum qm_err qm_client_draft_get(struct qm_client *c, int64_t id,
                                struct qm_buf *out, struct qm_error *err)
{
	enum qm_err rc = client_need_unlocked(c, "reading a draft", err);

	if (rc)
		return rc;
	return qm_store_draft_get(c->store, id, out, err);
}

enum qm_err qm_client_draft_delete(struct qm_client *c, int64_t id,
                                   struct qm_error *err)
{
	client_draft_forget(c, id);
	return qm_store_draft_delete(c->store, id, err);
}

enum qm_err qm_client_draft_list(struct qm_client *c, int64_t account_id,
                                 int64_t **ids, size_t *n, struct qm_error *err)
{
	return qm_store_draft_list(c->store, account_id, ids, n, err);
}
