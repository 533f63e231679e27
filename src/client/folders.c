/* SPDX-License-Identifier: MIT */
/*
 * An account's folders as the interfaces see them, and which of them a
 * sync takes: the server's LIST (the mail layer finds the special use, by
 * the server's marks or by a provider's name) kept in the store at every
 * sync or when asked (qm_client_folders_refresh), listed with the counts
 * of the messages the store holds in each (qm_client_folders). The setting
 * sync_folders says which folders a sync takes: every subscribed one (the
 * default), INBOX only, or every folder that can hold mail; INBOX always,
 * first. A POP3 account has one folder, INBOX.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* The store's special use for the mail layer's attributes. */
static enum qm_store_folder_use use_of(const struct qm_mail_imap_folder *f)
{
	static const struct {
		unsigned attr;
		enum qm_store_folder_use use;
	} map[] = {
	    {QM_MAIL_FOLDER_SENT, QM_FOLDER_USE_SENT},
	    {QM_MAIL_FOLDER_DRAFTS, QM_FOLDER_USE_DRAFTS},
	    {QM_MAIL_FOLDER_TRASH, QM_FOLDER_USE_TRASH},
	    {QM_MAIL_FOLDER_JUNK, QM_FOLDER_USE_JUNK},
	    {QM_MAIL_FOLDER_ARCHIVE, QM_FOLDER_USE_ARCHIVE},
	    {QM_MAIL_FOLDER_ALL, QM_FOLDER_USE_ALL},
	    {QM_MAIL_FOLDER_FLAGGED, QM_FOLDER_USE_FLAGGED},
	    {QM_MAIL_FOLDER_IMPORTANT, QM_FOLDER_USE_IMPORTANT},
	};

	if (is_inbox(f->name) || (f->attrs & QM_MAIL_FOLDER_INBOX))
		return QM_FOLDER_USE_INBOX;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (f->attrs & map[i].attr)
			return map[i].use;
	return QM_FOLDER_USE_NONE;
}

/* 1 when the listing l names the folder name. */
static int listed(const struct qm_mail_imap_folders *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return 1;
	return 0;
}

/* Folders the store keeps that the server no longer lists are forgotten
 * (their places go; the messages stay). INBOX always stays. */
static enum qm_err forget_gone(struct qm_client *c, int64_t acct,
                               const struct qm_mail_imap_folders *l,
                               struct qm_error *err)
{
	struct qm_store_folder *v = NULL;
	size_t n = 0;
	enum qm_err rc;

	rc = qm_store_folder_list(c->store, acct, &v, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		if (!is_inbox(v[i].name) && !listed(l, v[i].name) &&
		    v[i].uidvalidity != CLIENT_LOCAL_VALIDITY) /* imported */
			rc = qm_store_folder_forget(c->store, v[i].id, err);
	qm_store_folders_free(&v, n);
	return rc;
}

enum qm_err client_folders_store(struct qm_client *c, int64_t acct,
                                 struct qm_mail_imap *im, struct qm_error *err)
{
	struct qm_mail_imap_folders *l = NULL;
	enum qm_err rc;

	rc = qm_mail_imap_folders(im, 0, &l, err);
	for (size_t i = 0; !rc && i < l->n; i++) {
		const struct qm_mail_imap_folder *mf = &l->v[i];
		struct qm_store_folder f;

		memset(&f, 0, sizeof(f));
		f.account_id = acct;
		f.name = mf->name;
		f.display = mf->display;
		f.delim = mf->delim;
		f.use = use_of(mf);
		f.subscribed = is_inbox(mf->name) ||
		               (mf->attrs & QM_MAIL_FOLDER_SUBSCRIBED) != 0;
		f.selectable = !(mf->attrs & (QM_MAIL_FOLDER_NOSELECT |
		                              QM_MAIL_FOLDER_NONEXISTENT));
		rc = qm_store_folder_put(c->store, &f, NULL, err);
	}
	if (!rc)
		rc = forget_gone(c, acct, l, err);
	qm_mail_imap_folders_free(&l);
	return rc;
}

/* An IMAP account's folder list from the server into the store. */
static enum qm_err refresh(struct qm_client *c, const struct acct_conn *ac,
                           struct qm_error *err)
{
	struct qm_mail_server srv;
	struct qm_mail_imap *im = NULL;
	enum qm_err rc;

	client_acct_conn_server(ac, &ac->a.imap, &srv);
	rc = qm_mail_imap_open(&srv, &im, err);
	if (!rc)
		rc = client_folders_store(c, ac->a.id, im, err);
	qm_mail_imap_free(&im);
	return rc;
}

enum qm_err qm_client_folders_refresh(struct qm_client *c, int64_t account_id,
                                      struct qm_error *err)
{
	struct acct_conn ac;
	enum qm_err rc;

	rc = client_need_unlocked(c, "listing an account's folders", err);
	if (!rc)
		rc = client_acct_conn_load(c, account_id, &ac, err);
	if (rc)
		return rc;
	if (ac.use_pop3 || !ac.a.imap.host[0])
		rc = qm_error_set(err, QM_ERR_UNSUPPORTED,
		                  "%s fetches mail over POP3, which has one "
		                  "folder (INBOX) and no others",
		                  ac.a.address);
	else
		rc = refresh(c, &ac, err);
	client_acct_conn_free(&ac);
	return rc;
}

/* INBOX counted by the messages filed there (they have no places): a
 * POP3 account's one folder, and an IMAP account's before its first
 * folder list. */
static enum qm_err pop3_inbox(struct qm_client *c, int64_t acct,
                              struct qm_store_folder **out, size_t *n,
                              struct qm_error *err)
{
	struct qm_store_query q;
	struct qm_store_folder *f;
	enum qm_err rc;

	f = calloc(1, sizeof(*f));
	if (!f)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	f->account_id = acct;
	f->name = strdup("INBOX");
	f->display = strdup("INBOX");
	f->use = QM_FOLDER_USE_INBOX;
	f->subscribed = f->selectable = 1;
	memset(&q, 0, sizeof(q));
	q.account_id = acct;
	q.folder = "INBOX";
	rc = f->name && f->display
	         ? qm_store_msg_count(c->store, &q, &f->total, err)
	         : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	q.flags_clear = QM_FLAG_SEEN;
	if (!rc)
		rc = qm_store_msg_count(c->store, &q, &f->unread, err);
	if (rc) {
		qm_store_folders_free(&f, 1);
		return rc;
	}
	*out = f;
	*n = 1;
	return QM_OK;
}

enum qm_err qm_client_folders(struct qm_client *c, int64_t account_id,
                              struct qm_store_folder **out, size_t *n,
                              struct qm_error *err)
{
	struct qm_store_account a;
	enum qm_err rc;

	*out = NULL;
	*n = 0;
	rc = qm_store_account_get(c->store, account_id, &a, err);
	if (rc)
		return rc;
	if (client_acct_over_pop3(c, account_id))
		return client_local_folders(c, account_id, out, n, err);
	rc = qm_store_folder_list(c->store, account_id, out, n, err);
	if (rc || *n)
		return rc;
	/* not listed yet (no sync): INBOX is always there, with the messages
	 * filed in it; no folder record is kept for it, since one would make
	 * a list by name select by place before the sync gave any */
	return pop3_inbox(c, account_id, out, n, err);
}

void qm_client_folders_free(struct qm_store_folder **v, size_t n)
{
	qm_store_folders_free(v, n);
}

/*
 * Whether folder f is synced under the setting's value. Sent, Drafts and
 * All Mail are synced like any folder: the account's own QMail messages
 * in them (sealed to their recipients' keys) are told apart before any
 * key is asked for (recv_own.c). Never the views of flagged and important
 * mail (Gmail's Starred and Important, a server's virtual Flagged): each
 * message in them is a message of another folder (All Mail holds them
 * all), already filed once and shown with its \Flagged flag, so a sync of
 * them would only fetch every message a second time to find the record it
 * has (docs/CLIENT.md "Which folders a sync takes").
 */
static int wanted(const struct qm_store_folder *f, const char *setting)
{
	if (!f->selectable || f->uidvalidity == CLIENT_LOCAL_VALIDITY ||
	    f->use == QM_FOLDER_USE_FLAGGED ||
	    f->use == QM_FOLDER_USE_IMPORTANT)
		return 0;
	if (strcmp(setting, "inbox") == 0)
		return 0;
	if (strcmp(setting, "all") == 0)
		return 1;
	return f->subscribed; /* "subscribed", the default */
}

enum qm_err client_folders_to_sync(struct qm_client *c, int64_t acct,
                                   char ***names, size_t *n,
                                   struct qm_error *err)
{
	struct qm_store_folder *v = NULL;
	char setting[32], **out;
	size_t nv = 0, k = 0;
	enum qm_err rc;

	*names = NULL;
	*n = 0;
	client_acct_setting(c, acct, QM_CLIENT_SET_SYNC_FOLDERS, setting,
	                    sizeof(setting));
	rc = qm_store_folder_list(c->store, acct, &v, &nv, err);
	if (rc)
		return rc;
	out = calloc(nv + 1, sizeof(*out));
	if (out)
		out[k++] = strdup("INBOX");
	for (size_t i = 0; out && i < nv; i++)
		if (!is_inbox(v[i].name) && wanted(&v[i], setting))
			out[k++] = strdup(v[i].name);
	for (size_t i = 0; out && i < k; i++)
		if (!out[i])
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (!out)
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	qm_store_folders_free(&v, nv);
	if (rc) {
		qm_store_strv_free(out, k);
		return rc;
	}
	*names = out;
	*n = k;
	return QM_OK;
}
