/* SPDX-License-Identifier: MIT */
/*
 * Where new mail comes from (the receive path's fetching side, for recv.c):
 * a mailbox source is an IMAP folder or a POP3 maildrop behind one small
 * interface (open, list what is new, find a message filed before, fetch,
 * mark seen, settle, close), so that the sync and the fetch-again of
 * refused messages are one loop each, whatever the protocol. What a source
 * remembers between syncs: for an IMAP folder the store's folder row and
 * the places of its messages (folder_sync.c brings them up to date when
 * the source opens: flags both ways, UIDs gone, a new UIDVALIDITY), and
 * for the watch of new mail its UIDVALIDITY and the last UID filed in the
 * settings sync.<folder>.uidvalidity and sync.<folder>.lastuid; for POP3
 * every UIDL seen (pop3.seen.<uidl>).
 * Filing what was fetched is recv_file.c's.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One protocol's half of the interface (curl's struct Curl_handler). */
struct mbox_ops {
	QM_NODISCARD enum qm_err (*open)(struct mbox *mb, struct qm_error *err);
	void (*close)(struct mbox *mb);
	QM_NODISCARD enum qm_err (*list_new)(struct mbox *mb,
	                                     struct mbox_msg **out, size_t *n,
	                                     struct qm_error *err);
	/* the message a record of this source names, or QM_ERR_NOTFOUND */
	QM_NODISCARD enum qm_err (*find)(struct mbox *mb,
	                                 const struct qm_store_msg *rec,
	                                 struct mbox_msg *out);
	/* a large message to rs (sink), *sunk set */
	QM_NODISCARD enum qm_err (*fetch)(struct mbox *mb,
	                                  const struct mbox_msg *m,
	                                  const struct qm_mail_sink *sink,
	                                  struct qm_buf *raw, int *sunk,
	                                  struct qm_error *err);
	QM_NODISCARD enum qm_err (*seen)(struct mbox *mb,
	                                 const struct mbox_msg *m,
	                                 struct qm_error *err);
	void (*settle)(struct mbox *mb, const struct mbox_msg *m);
	/* many messages in few round trips (NULL: one after the other) */
	QM_NODISCARD enum qm_err (*fetch_many)(struct mbox *mb,
	                                       const struct mbox_msg *ms,
	                                       size_t n,
	                                       const struct qm_mail_sink *sink,
	                                       qm_mail_msg_fn fn, void *arg,
	                                       struct qm_error *err);
};

struct mbox {
	const struct mbox_ops *ops;
	struct qm_client *c;
	const struct acct_conn *ac;
	char folder[QM_STORE_FOLDERMAX + 1];
	struct qm_mail_server srv;
	/* IMAP: the session (shared: the sync's, borrowed), the selected
	 * folder's UIDVALIDITY and its sync */
	struct qm_mail_imap *im;
	struct imap_share *shared;
	const struct qm_mail_imap_counts *status;
	uint32_t uidvalidity;
	struct folder_sync fs;
	struct qm_client_sync_stats *st, nost;
	/* POP3: the session, its listing, and delete after fetch */
	struct qm_mail_pop3 *p;
	struct qm_mail_pop3_msg *ms;
	size_t nms;
	int dele;
};

/* ------------------------------------------------------- sync state */

void client_mbox_state_key(char *out, size_t n, const char *what,
                           const char *folder)
{
	snprintf(out, n, "sync.%s.%s", folder, what);
}

int64_t client_setting_int(struct qm_client *c, int64_t acct, const char *key)
{
	char v[32];
	long long x = 0;

	client_acct_setting(c, acct, key, v, sizeof(v));
	if (!v[0] || qm_parse_ll(v, 0, INT64_MAX, &x, NULL))
		return 0;
	return x;
}

enum qm_err client_setting_put_int(struct qm_client *c, int64_t acct,
                                   const char *key, int64_t v,
                                   struct qm_error *err)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	return qm_store_setting_set(c->store, acct, key, s, err);
}

/* ------------------------------------------------------------- IMAP */

static enum qm_err imap_open(struct mbox *mb, struct qm_error *err)
{
	enum qm_err rc;

	if (mb->shared) {
		/* the share's server, which outlives this source */
		rc = mb->shared->im ? QM_OK
		                    : qm_mail_imap_open(&mb->shared->srv,
		                                        &mb->shared->im, err);
		mb->im = mb->shared->im;
	} else {
		rc = qm_mail_imap_open(&mb->srv, &mb->im, err);
	}
	if (!rc)
		rc = client_folder_sync_open(mb->c, mb->ac, mb->im, mb->folder,
		                             mb->status, &mb->fs, mb->st, err);
	if (!rc)
		mb->uidvalidity = mb->fs.ch->st.uidvalidity;
	return rc;
}

static void imap_close(struct mbox *mb)
{
	client_folder_sync_free(&mb->fs);
	if (mb->shared)
		mb->im = NULL; /* the sync's: it frees it */
	else
		qm_mail_imap_free(&mb->im);
}

/* The UIDs the server added past the last one filed (after a new
 * UIDVALIDITY, or on the first sync, every UID), with their flags. A UID
 * at or below it without a place was deleted here, or is a message found
 * again: not fetched again. The watch's state follows the folder's. */
static enum qm_err imap_list_new(struct mbox *mb, struct mbox_msg **out,
                                 size_t *n, struct qm_error *err)
{
	const struct qm_mail_imap_changes *ch = mb->fs.ch;
	char kv[QM_STORE_FOLDERMAX + 32], kl[QM_STORE_FOLDERMAX + 32];
	int64_t acct = mb->ac->a.id, last = mb->fs.lastuid;
	enum qm_err rc = QM_OK;

	client_mbox_state_key(kv, sizeof(kv), "uidvalidity", mb->folder);
	client_mbox_state_key(kl, sizeof(kl), "lastuid", mb->folder);
	if (client_setting_int(mb->c, acct, kv) != (int64_t)mb->uidvalidity) {
		rc = client_setting_put_int(mb->c, acct, kv, mb->uidvalidity,
		                            err);
		if (!rc)
			rc = client_setting_put_int(mb->c, acct, kl, last, err);
	}
	*n = 0;
	*out = rc ? NULL : calloc(ch->nadded ? ch->nadded : 1, sizeof(**out));
	if (!rc && !*out)
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; !rc && i < ch->nadded; i++) {
		if ((int64_t)ch->added[i].uid <= last)
			continue;
		(*out)[*n].uid = ch->added[i].uid;
		(*out)[(*n)++].flags = ch->added[i].flags;
	}
	return rc;
}

static enum qm_err imap_find(struct mbox *mb, const struct qm_store_msg *rec,
                             struct mbox_msg *out)
{
	(void)mb;
	memset(out, 0, sizeof(*out));
	out->uid = (uint32_t)rec->uid;
	return QM_OK; /* the fetch says whether it is still there */
}

static enum qm_err imap_fetch(struct mbox *mb, const struct mbox_msg *m,
                              const struct qm_mail_sink *sink,
                              struct qm_buf *raw, int *sunk,
                              struct qm_error *err)
{
	enum qm_err rc =
	    qm_mail_imap_fetch_to(mb->im, m->uid, sink, raw, sunk, err);

	if (rc == QM_ERR_TOOBIG && mb->shared) {
		/* the session ends with it: the sync's next folder (or
		 * client_mbox_reopen) opens a new one */
		qm_mail_imap_free(&mb->shared->im);
		mb->im = NULL;
	}
	return rc;
}

/* Filed: no later sync lists it (the folder's last UID, and the watch's). */
static enum qm_err imap_fetch_many(struct mbox *mb, const struct mbox_msg *ms,
                                   size_t n, const struct qm_mail_sink *sink,
                                   qm_mail_msg_fn fn, void *arg,
                                   struct qm_error *err)
{
	uint32_t *uids = calloc(n ? n : 1, sizeof(*uids));
	enum qm_err rc;

	if (!uids)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		uids[i] = ms[i].uid;
	rc = qm_mail_imap_fetch_many_to(mb->im, uids, n, sink, fn, arg, err);
	free(uids);
	return rc;
}

static enum qm_err imap_seen(struct mbox *mb, const struct mbox_msg *m,
                             struct qm_error *err)
{
	char kl[QM_STORE_FOLDERMAX + 32];
	enum qm_err rc;

	if ((int64_t)m->uid <= mb->fs.lastuid)
		return QM_OK;
	mb->fs.lastuid = m->uid;
	rc = qm_store_folder_state_set(mb->c->store, mb->fs.folder_id,
	                               mb->uidvalidity, 0, m->uid, err);
	client_mbox_state_key(kl, sizeof(kl), "lastuid", mb->folder);
	if (!rc)
		rc = client_setting_put_int(mb->c, mb->ac->a.id, kl, m->uid,
		                            err);
	return rc;
}

static void imap_settle(struct mbox *mb, const struct mbox_msg *m)
{
	(void)mb;
	(void)m; /* the server keeps its copy */
}

static const struct mbox_ops imap_ops = {
    imap_open,  imap_close, imap_list_new, imap_find,
    imap_fetch, imap_seen,  imap_settle,   imap_fetch_many,
};

/* ------------------------------------------------------------- POP3 */

static enum qm_err pop3_open(struct mbox *mb, struct qm_error *err)
{
	enum qm_err rc;

	rc = qm_mail_pop3_open(&mb->srv, &mb->p, err);
	if (!rc)
		rc = qm_mail_pop3_uidl(mb->p, &mb->ms, &mb->nms, err);
	return rc;
}

static void pop3_close(struct mbox *mb)
{
	qm_mail_pop3_free(&mb->p);
	free(mb->ms);
	mb->ms = NULL;
	mb->nms = 0;
}

static void pop3_seen_key(char *out, size_t n, const char *uidl)
{
	snprintf(out, n, "pop3.seen.%s", uidl);
}

/* The messages whose UIDL was not seen before. */
static enum qm_err pop3_list_new(struct mbox *mb, struct mbox_msg **out,
                                 size_t *n, struct qm_error *err)
{
	struct qm_buf tmp;

	*n = 0;
	*out = calloc(mb->nms ? mb->nms : 1, sizeof(**out));
	if (!*out)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	qm_buf_init(&tmp, 64);
	for (size_t i = 0; i < mb->nms; i++) {
		char key[128];

		pop3_seen_key(key, sizeof(key), mb->ms[i].uidl);
		qm_buf_reset(&tmp);
		if (qm_store_setting_get(mb->c->store, mb->ac->a.id, key, &tmp,
		                         NULL) == QM_OK)
			continue;
		(*out)[*n].num = mb->ms[i].num;
		qm_strlcpy((*out)[*n].uidl, mb->ms[i].uidl,
		           sizeof((*out)[*n].uidl));
		(*n)++;
	}
	qm_buf_free(&tmp);
	return QM_OK;
}

/* A message's number in this session, found by its UIDL. */
static enum qm_err pop3_find(struct mbox *mb, const struct qm_store_msg *rec,
                             struct mbox_msg *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; rec->uidl && i < mb->nms; i++)
		if (strcmp(mb->ms[i].uidl, rec->uidl) == 0) {
			out->num = mb->ms[i].num;
			qm_strlcpy(out->uidl, mb->ms[i].uidl,
			           sizeof(out->uidl));
			return QM_OK;
		}
	return QM_ERR_NOTFOUND;
}

static enum qm_err pop3_fetch(struct mbox *mb, const struct mbox_msg *m,
                              const struct qm_mail_sink *sink,
                              struct qm_buf *raw, int *sunk,
                              struct qm_error *err)
{
	return qm_mail_pop3_retr_to(mb->p, m->num, sink, raw, sunk, err);
}

static enum qm_err pop3_seen(struct mbox *mb, const struct mbox_msg *m,
                             struct qm_error *err)
{
	char key[128];

	pop3_seen_key(key, sizeof(key), m->uidl);
	return qm_store_setting_set(mb->c->store, mb->ac->a.id, key, "1", err);
}

/* Filed (a message that waits is kept as received): the server's copy may
 * go when the account says so (at QUIT). */
static void pop3_settle(struct mbox *mb, const struct mbox_msg *m)
{
	if (mb->dele)
		/* best effort: a copy the server keeps is listed again and
		 * recognised as filed by its UIDL */
		QM_IGNORE(qm_mail_pop3_dele(mb->p, m->num, NULL));
}

static const struct mbox_ops pop3_ops = {
    pop3_open,  pop3_close, pop3_list_new, pop3_find,
    pop3_fetch, pop3_seen,  pop3_settle,   NULL,
};

/* -------------------------------------------------------- interface */

enum qm_err client_mbox_open(struct qm_client *c, const struct acct_conn *ac,
                             const char *folder,
                             struct qm_client_sync_stats *st,
                             struct mbox **out, struct qm_error *err)
{
	return client_mbox_open_on(c, ac, folder, st, NULL, NULL, out, err);
}

enum qm_err client_mbox_open_on(struct qm_client *c, const struct acct_conn *ac,
                                const char *folder,
                                struct qm_client_sync_stats *st,
                                struct imap_share *session,
                                const struct qm_mail_imap_counts *status,
                                struct mbox **out, struct qm_error *err)
{
	struct mbox *mb;
	char del[8];
	enum qm_err rc;

	*out = NULL;
	if (!(!ac->use_pop3 && ac->a.imap.host[0]) && !ac->a.pop3.host[0])
		return qm_error_set(err, QM_ERR_STATE,
		                    "account %s has no IMAP or POP3 server",
		                    ac->a.address);
	mb = calloc(1, sizeof(*mb));
	if (!mb)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	mb->c = c;
	mb->ac = ac;
	mb->st = st ? st : &mb->nost;
	qm_strlcpy(mb->folder, folder, sizeof(mb->folder));
	if (!ac->use_pop3 && ac->a.imap.host[0]) {
		mb->ops = &imap_ops;
		mb->shared = session;
		mb->status = status;
		client_acct_conn_server(ac, &ac->a.imap, &mb->srv);
	} else {
		mb->ops = &pop3_ops;
		client_acct_conn_server(ac, &ac->a.pop3, &mb->srv);
		client_acct_setting(c, ac->a.id, QM_SET_POP3_DELETE, del,
		                    sizeof(del));
		mb->dele = del[0] == '1';
	}
	rc = mb->ops->open(mb, err);
	if (rc) {
		client_mbox_free(&mb);
		return rc;
	}
	*out = mb;
	return QM_OK;
}

enum qm_err client_mbox_reopen(struct mbox *mb, struct qm_error *err)
{
	mb->ops->close(mb);
	if (mb->shared)
		qm_mail_imap_free(&mb->shared->im); /* the server dropped it */
	mb->status = NULL;                     /* what it said is old now */
	return mb->ops->open(mb, err);
}

enum qm_err client_mbox_done(struct mbox *mb, struct qm_error *err)
{
	if (mb->ops != &imap_ops)
		return QM_OK;
	mb->st->folders++;
	return client_folder_sync_done(mb->c, &mb->fs, err);
}

void client_mbox_free(struct mbox **pmb)
{
	if (!pmb || !*pmb)
		return;
	(*pmb)->ops->close(*pmb);
	free(*pmb);
	*pmb = NULL;
}

enum qm_err client_mbox_list_new(struct mbox *mb, struct mbox_msg **out,
                                 size_t *n, struct qm_error *err)
{
	*out = NULL;
	*n = 0;
	return mb->ops->list_new(mb, out, n, err);
}

int client_mbox_holds(const struct mbox *mb, const struct qm_store_msg *rec)
{
	if (mb->ops == &pop3_ops)
		return rec->uidl && rec->uidl[0];
	return rec->uid && rec->uidvalidity == mb->uidvalidity && rec->folder &&
	       strcmp(rec->folder, mb->folder) == 0;
}

enum qm_err client_mbox_find(struct mbox *mb, const struct qm_store_msg *rec,
                             struct mbox_msg *out)
{
	return mb->ops->find(mb, rec, out);
}

enum qm_err client_mbox_fetch(struct mbox *mb, const struct mbox_msg *m,
                              struct qm_buf *raw, int64_t *blob,
                              uint64_t *bloblen, struct qm_error *err)
{
	struct raw_sink rs;
	int sunk = 0;
	enum qm_err rc;

	*blob = 0;
	*bloblen = 0;
	qm_buf_reset(raw);
	client_raw_sink_init(&rs, mb->c, mb->ac->a.id);
	rc = mb->ops->fetch(mb, m, &rs.s, raw, &sunk, err);
	if (!rc && sunk)
		rc = client_raw_sink_end(&rs, blob, bloblen, err);
	client_raw_sink_drop(&rs);
	return rc;
}

enum qm_err client_mbox_fetch_many(struct mbox *mb, const struct mbox_msg *ms,
                                   size_t n, qm_mail_msg_fn fn, void *arg,
                                   struct qm_error *err)
{
	if (!mb->ops->fetch_many)
		return QM_ERR_UNSUPPORTED; /* no message: the caller goes on */
	return mb->ops->fetch_many(mb, ms, n, NULL, fn, arg, err);
}

enum qm_err client_mbox_fetch_many_to(struct mbox *mb,
                                      const struct mbox_msg *ms, size_t n,
                                      struct raw_sink *rs, qm_mail_msg_fn fn,
                                      void *arg, struct qm_error *err)
{
	if (!mb->ops->fetch_many)
		return QM_ERR_UNSUPPORTED; /* no message: the caller goes on */
	return mb->ops->fetch_many(mb, ms, n, &rs->s, fn, arg, err);
}

/* ------------------------------------------------ large, as it arrives */

static enum qm_err raw_begin(void *arg, uint64_t len, struct qm_error *err)
{
	struct raw_sink *rs = arg;

	(void)len; /* the store bounds a blob (QM_STORE_BLOB_MAX) */
	/* one the fetch did not say was whole (a response nobody asked
	 * for) goes */
	qm_store_blob_abort(&rs->w);
	return qm_store_blob_begin(rs->c->store, QM_STORE_BLOB_MSG, rs->acct,
	                           &rs->w, err);
}

static enum qm_err raw_write(void *arg, const void *p, size_t n,
                             struct qm_error *err)
{
	struct raw_sink *rs = arg;

	if (!rs->w)
		return qm_error_set(err, QM_ERR_STATE,
		                    "a message's bytes came before it began");
	return qm_store_blob_write(rs->w, p, n, err);
}

void client_raw_sink_init(struct raw_sink *rs, struct qm_client *c,
                          int64_t acct)
{
	memset(rs, 0, sizeof(*rs));
	rs->c = c;
	rs->acct = acct;
	rs->s.big = RECV_BLOB_MIN;
	rs->s.begin = raw_begin;
	rs->s.write = raw_write;
	rs->s.arg = rs;
}

enum qm_err client_raw_sink_end(struct raw_sink *rs, int64_t *blob,
                                uint64_t *len, struct qm_error *err)
{
	*blob = 0;
	*len = 0;
	if (!rs->w)
		return qm_error_set(err, QM_ERR_STATE,
		                    "no large message was received");
	return qm_store_blob_end(&rs->w, blob, len, err);
}

void client_raw_sink_drop(struct raw_sink *rs)
{
	qm_store_blob_abort(&rs->w);
}

enum qm_err client_mbox_heads(struct mbox *mb, const struct mbox_msg *ms,
                              size_t n, qm_mail_summary_fn fn, void *arg,
                              struct qm_error *err)
{
	uint32_t *uids;
	enum qm_err rc;

	if (mb->ops != &imap_ops)
		return QM_ERR_UNSUPPORTED; /* no message: the caller goes on */
	uids = calloc(n ? n : 1, sizeof(*uids));
	if (!uids)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		uids[i] = ms[i].uid;
	rc = qm_mail_imap_fetch_summaries(mb->im, uids, n, fn, arg, err);
	free(uids);
	return rc;
}

int64_t client_mbox_folder_id(const struct mbox *mb)
{
	return mb->ops == &imap_ops ? mb->fs.folder_id : 0;
}

enum qm_err client_mbox_seen(struct mbox *mb, const struct mbox_msg *m,
                             struct qm_error *err)
{
	return mb->ops->seen(mb, m, err);
}

void client_mbox_settle(struct mbox *mb, const struct mbox_msg *m)
{
	mb->ops->settle(mb, m);
}

void client_mbox_where(const struct mbox *mb, const struct mbox_msg *m,
                       struct incoming *in)
{
	memset(in, 0, sizeof(*in));
	if (mb->ops == &pop3_ops) {
		in->folder = "INBOX";
		in->uidl = m->uidl;
		return;
	}
	in->folder = mb->folder;
	in->uidvalidity = mb->uidvalidity;
	in->uid = m->uid;
	in->folder_id = mb->fs.folder_id;
	in->flags = m->flags;
}
