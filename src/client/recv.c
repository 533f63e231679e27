/* SPDX-License-Identifier: MIT */
/*
 * The receive path: a sync of one account, and one message tried again.
 * A sync first tries the messages that wait for their keys (from the
 * copies kept: no mail server needed), then fetches from the account's
 * mailbox source (recv_source.c: IMAP or POP3 behind one interface) what
 * was refused for a limit the user changed since, then what is new; each
 * message is filed by recv_file.c (parse, classify, open, record), opening
 * a QMail message is recv_open.c's, asking the KME recv_kme.c's.
 *
 * No message stops a sync (docs/CLIENT.md, "Receiving"): one that cannot
 * be opened now because of the account or its KME waits, kept as received
 * and sealed, and is opened by a later sync; a bad one is recorded
 * unreadable and is tried again only when the user asks.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The folder watched for new mail, and the one a POP3 account has; an IMAP
 * account syncs every folder the setting sync_folders names, INBOX first
 * (folders.c). */
#define SYNC_FOLDER "INBOX"

/* Files a message fetched from the server at where (a new one, or one
 * refused before: replace_id). */
static enum qm_err file_new(struct qm_client *c, struct acct_conn *ac,
                            struct recv_ctx *ctx, const struct incoming *where,
                            const struct qm_buf *raw, int64_t replace_id,
                            struct qm_error *err)
{
	struct incoming in = *where;

	in.raw = raw->data;
	in.rawlen = raw->len;
	in.replace_id = replace_id;
	in.replaced = replace_id ? QM_VERIFY_REFUSED : QM_VERIFY_OK;
	return client_recv_file(c, ac, ctx, &in, err);
}

/* A message filed before, from its copy kept in raw, to file again in
 * place of its record m. */
static void incoming_kept(const struct qm_store_msg *m,
                          const struct qm_buf *raw, struct incoming *in)
{
	memset(in, 0, sizeof(*in));
	in->folder = m->folder;
	in->uidvalidity = m->uidvalidity;
	in->uid = m->uid;
	in->uidl = m->uidl;
	in->raw = raw->data;
	in->rawlen = raw->len;
	in->replace_id = m->id;
	in->replaced = m->verify;
}

/*
 * One sync of an account at a time, across processes (the GUI's background
 * sync and `qmail sync`): two syncs of one message would both ask the KME
 * for its keys, and the loser would record it as unreadable. A retry takes
 * the same lock, and so do the operations on the server (ops.c).
 */
enum qm_err client_sync_lock(struct qm_client *c, int64_t account_id,
                             int timeout_s, const char *what, int *fd,
                             struct qm_error *err)
{
	char lockname[64];

	snprintf(lockname, sizeof(lockname), "sync-%lld.lock",
	         (long long)account_id);
	return client_home_lock(c, lockname, timeout_s, what, fd, err);
}

static enum qm_err sync_lock(struct qm_client *c, int64_t account_id,
                             const char *what, int *fd, struct qm_error *err)
{
	return client_sync_lock(c, account_id, 600, what, fd, err);
}

/* Waiting message id, unless its back-off is not over, filed again from
 * its copy (raw: a buffer to use). */
static enum qm_err retry_one(struct qm_client *c, struct acct_conn *ac,
                             struct recv_ctx *ctx, int64_t id, int64_t now,
                             struct qm_buf *raw, struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct msg_meta mm;
	struct incoming in;
	enum qm_err rc = QM_OK;

	memset(&mm, 0, sizeof(mm));
	if (client_msg_meta_load(c, id, &mm, NULL) == QM_OK && mm.next_at > now)
		goto out; /* its back-off is not over */
	qm_buf_reset(raw);
	if (qm_store_msg_get(c->store, id, &l, NULL) != QM_OK || !l->n ||
	    qm_store_msg_body(c->store, id, raw, NULL) != QM_OK)
		goto out;
	incoming_kept(&l->items[0], raw, &in);
	in.replaced = QM_VERIFY_WAITING;
	in.tries = mm.tries;
	rc = client_recv_file(c, ac, ctx, &in, err);
out:
	qm_store_msglist_free(&l);
	client_msg_meta_clear(&mm);
	return rc;
}

/*
 * Tries the account's waiting messages again from the copies kept: every
 * one due. Runs before new mail is fetched, so that a KME still unusable
 * is found out by one request.
 */
static enum qm_err retry_waiting(struct qm_client *c, struct acct_conn *ac,
                                 struct recv_ctx *ctx, struct qm_error *err)
{
	int64_t *ids = NULL, now = qm_now();
	size_t n = 0;
	struct qm_buf raw;
	enum qm_err rc;

	rc = qm_store_msg_ids_by_verify(c->store, ac->a.id, QM_VERIFY_WAITING,
	                                &ids, &n, err);
	if (rc)
		return rc;
	qm_buf_init_secure(&raw, QM_STORE_MAXBLOB);
	for (size_t i = 0; i < n && !rc; i++)
		rc = retry_one(c, ac, ctx, ids[i], now, &raw, err);
	qm_buf_free(&raw);
	free(ids);
	return rc;
}

/* How many messages of the account wait, into st->waiting. */
static void count_waiting(struct qm_client *c, int64_t account_id,
                          struct qm_client_sync_stats *st)
{
	int64_t *ids = NULL;
	size_t n = 0;

	if (qm_store_msg_ids_by_verify(c->store, account_id, QM_VERIFY_WAITING,
	                               &ids, &n, NULL) == QM_OK)
		st->waiting = n;
	free(ids);
}

/* Message id's record (*l) and its copy kept (raw), when it is one the
 * user may have tried again: waiting, unreadable or without key. */
static enum qm_err retry_load(struct qm_client *c, int64_t id,
                              struct qm_store_msglist **l, struct qm_buf *raw,
                              struct qm_error *err)
{
	enum qm_err rc;

	rc = qm_store_msg_get(c->store, id, l, err);
	if (!rc && !(*l)->n)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %lld",
		                  (long long)id);
	if (rc)
		return rc;
	if ((*l)->items[0].verify != QM_VERIFY_UNREADABLE &&
	    (*l)->items[0].verify != QM_VERIFY_UNKNOWN_KEY &&
	    (*l)->items[0].verify != QM_VERIFY_WAITING)
		return qm_error_set(
		    err, QM_ERR_STATE,
		    "message %lld is not waiting, unreadable or "
		    "without key: there is nothing to try again",
		    (long long)id);
	rc = qm_store_msg_body(c->store, id, raw, err);
	if (rc == QM_ERR_NOTFOUND)
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "message %lld was received before QMail kept "
		                  "a copy of such messages, so it cannot be "
		                  "tried again",
		                  (long long)id);
	return rc;
}

enum qm_err qm_client_msg_retry(struct qm_client *c, int64_t id,
                                int64_t *new_id, enum qm_store_verify *verify,
                                struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct qm_client_sync_stats st;
	struct recv_ctx ctx;
	struct acct_conn ac;
	struct incoming in;
	struct qm_buf raw;
	int lockfd = -1, loaded = 0;
	enum qm_err rc;

	if (!qm_client_unlocked(c))
		return qm_error_set(
		    err, QM_ERR_LOCKED,
		    "unlock QMail first: the message is kept in "
		    "the vault");
	qm_buf_init_secure(&raw, QM_STORE_MAXBLOB);
	rc = retry_load(c, id, &l, &raw, err);
	if (!rc)
		rc = sync_lock(c, l->items[0].account_id, "try a message again",
		               &lockfd, err);
	if (!rc)
		rc = client_acct_conn_load(c, l->items[0].account_id, &ac, err);
	if (rc)
		goto out;
	loaded = 1;
	memset(&st, 0, sizeof(st));
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = &st;
	incoming_kept(&l->items[0], &raw, &in);
	rc = client_recv_file(c, &ac, &ctx, &in, err);
	if (!rc && ctx.last_wait)
		/* the KME's own code (network, TLS, ...), never one that
		 * would read as a problem of the message or the call */
		rc = qm_error_set(
		    err,
		    st.kme_code && st.kme_code != QM_ERR_STATE ? st.kme_code
		                                               : QM_ERR_UNAVAIL,
		    "message %lld stays as it was, its keys "
		    "could not be asked for now: %s",
		    (long long)id,
		    st.kme_problem[0] ? st.kme_problem : ctx.last_reason);
	if (!rc && new_id)
		*new_id = ctx.last_id;
	if (!rc && verify)
		*verify = ctx.last_verify;
out:
	if (loaded)
		client_acct_conn_free(&ac);
	client_home_unlock(&lockfd);
	qm_store_msglist_free(&l);
	qm_buf_free(&raw);
	return rc;
}

/* A message refused for one of the user's limits, to fetch again. */
struct refetch {
	int64_t id; /* its record */
	struct mbox_msg m;
};

/*
 * The messages of this account refused for a limit and filed from mb that
 * the server still lists, when the user changed a limit (limits.generation,
 * bumped by qm_client_limit_set) since this account last looked; the
 * records of those the server no longer lists go. *gen gets the generation
 * to record once they were tried.
 */
static enum qm_err refetch_list(struct qm_client *c, struct acct_conn *ac,
                                struct mbox *mb, const char *key,
                                struct refetch **out, size_t *n, int64_t *gen,
                                struct qm_error *err)
{
	int64_t *ids = NULL;
	size_t nids = 0, k = 0;
	struct refetch *r = NULL;
	enum qm_err rc;

	*out = NULL;
	*n = 0;
	*gen = client_setting_int(c, 0, QM_SET_LIMITS_GEN);
	if (*gen <= client_setting_int(c, ac->a.id, key))
		return QM_OK;
	rc = qm_store_msg_ids_by_verify(c->store, ac->a.id, QM_VERIFY_REFUSED,
	                                &ids, &nids, err);
	if (rc)
		return rc;
	r = calloc(nids ? nids : 1, sizeof(*r));
	if (!r) {
		free(ids);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < nids && !rc; i++) {
		struct qm_store_msglist *l = NULL;

		if (qm_store_msg_get(c->store, ids[i], &l, NULL) != QM_OK)
			continue;
		if (l->n && client_mbox_holds(mb, &l->items[0])) {
			if (client_mbox_find(mb, &l->items[0], &r[k].m) ==
			    QM_OK)
				r[k++].id = ids[i];
			else /* gone from the server meanwhile */
				rc = qm_store_msg_delete(c->store, ids[i], err);
		}
		qm_store_msglist_free(&l);
	}
	free(ids);
	*out = r;
	*n = k;
	return rc;
}

/*
 * Fetches again, once after a limit changed, the messages of mb (folder)
 * refused for a limit (still on the server). One still past
 * limit.message_size ends the session: it is opened again, and the others
 * wait for the next change. Each folder records the generation it tried.
 */
static enum qm_err refetch_refused(struct qm_client *c, struct acct_conn *ac,
                                   struct mbox *mb, const char *folder,
                                   struct qm_buf *raw, struct recv_ctx *ctx,
                                   struct qm_error *err)
{
	struct refetch *r = NULL;
	size_t n = 0;
	int64_t gen;
	int dropped = 0;
	char key[QM_STORE_FOLDERMAX + 64];
	enum qm_err rc;

	client_mbox_state_key(key, sizeof(key), QM_SET_REFUSED_GEN, folder);
	rc = refetch_list(c, ac, mb, key, &r, &n, &gen, err);
	for (size_t i = 0; i < n && !rc; i++) {
		struct incoming in;

		rc = client_mbox_fetch(mb, &r[i].m, raw, err);
		if (rc == QM_ERR_NOTFOUND) {
			/* gone from the server meanwhile: nothing to show */
			qm_error_clear(err);
			rc = qm_store_msg_delete(c->store, r[i].id, err);
			continue;
		}
		if (rc == QM_ERR_TOOBIG) {
			qm_error_clear(err);
			rc = QM_OK;
			dropped = 1;
			break;
		}
		if (rc)
			break;
		ctx->st->fetched++;
		client_mbox_where(mb, &r[i].m, &in);
		rc = file_new(c, ac, ctx, &in, raw, r[i].id, err);
		if (!rc)
			client_mbox_settle(mb, &r[i].m);
	}
	if (!rc && gen)
		rc = client_setting_put_int(c, ac->a.id, key, gen, err);
	free(r);
	if (!rc && dropped)
		rc = client_mbox_reopen(mb, err);
	return rc;
}

/* What the batch fetch's callback needs, and what it did. */
struct batch {
	struct qm_client *c;
	struct acct_conn *ac;
	struct mbox *mb;
	const struct mbox_msg *ms;
	size_t n;
	size_t next; /* ms[next..n) not filed yet */
	qm_client_progress_fn progress;
	void *parg;
	struct recv_ctx *ctx;
	enum qm_err rc; /* a filing that failed, with its error */
	struct qm_error err;
};

/* One message of the batch, as it arrives: filed, then marked filed. */
static int batch_one(void *arg, uint32_t uid, const unsigned char *msg,
                     size_t len)
{
	struct batch *b = arg;
	struct incoming in;
	size_t i = b->next;

	/* the server answers in UID order; a UID it skipped is gone */
	while (i < b->n && b->ms[i].uid != uid)
		i++;
	if (i == b->n)
		return 0; /* not asked for */
	if (b->progress)
		b->progress(b->parg, "fetching", i, b->n);
	b->ctx->st->fetched++;
	client_mbox_where(b->mb, &b->ms[i], &in);
	in.raw = msg;
	in.rawlen = len;
	in.replaced = QM_VERIFY_OK;
	b->rc = client_recv_file(b->c, b->ac, b->ctx, &in, &b->err);
	if (!b->rc)
		b->rc = client_mbox_seen(b->mb, &b->ms[i], &b->err);
	if (b->rc)
		return 1;
	client_mbox_settle(b->mb, &b->ms[i]);
	b->next = i + 1;
	return 0;
}

/*
 * The new messages in few round trips where the source can (IMAP: 64 per
 * command instead of one round trip each, which on a large mailbox was
 * most of a first sync's time); *done: how many of ms were dealt with. A
 * message past limit.message_size ends the session: it is opened again
 * and the one-by-one loop takes over from there (and records that message
 * as refused).
 */
static enum qm_err fetch_batch(struct qm_client *c, struct acct_conn *ac,
                               struct mbox *mb, const struct mbox_msg *ms,
                               size_t n, qm_client_progress_fn progress,
                               void *parg, struct recv_ctx *ctx, size_t *done,
                               struct qm_error *err)
{
	struct batch b;
	enum qm_err rc;

	memset(&b, 0, sizeof(b));
	b.c = c;
	b.ac = ac;
	b.mb = mb;
	b.ms = ms;
	b.n = n;
	b.progress = progress;
	b.parg = parg;
	b.ctx = ctx;
	*done = 0;
	rc = client_mbox_fetch_many(mb, ms, n, batch_one, &b, err);
	if (rc == QM_ERR_UNSUPPORTED)
		return QM_OK; /* one at a time */
	if (b.rc) {
		if (err)
			*err = b.err;
		return b.rc;
	}
	*done = rc ? b.next : n;
	if (rc == QM_ERR_TOOBIG) {
		qm_error_clear(err);
		rc = client_mbox_reopen(mb, err);
	}
	return rc;
}

/*
 * Fetches and files what mb holds that was not filed before, in order:
 * in batches where the source can (fetch_batch), else one at a time.
 * Whatever becomes of a message (filed, waiting, unreadable), the sync goes
 * on past it; one past limit.message_size is recorded as refused, not
 * fetched again, and ends the sync (the server dropped the session).
 */
static enum qm_err fetch_new(struct qm_client *c, struct acct_conn *ac,
                             struct mbox *mb, qm_client_progress_fn progress,
                             void *parg, struct qm_buf *raw,
                             struct recv_ctx *ctx, struct qm_error *err)
{
	struct mbox_msg *ms = NULL;
	size_t n = 0, done = 0;
	enum qm_err rc;

	rc = client_mbox_list_new(mb, &ms, &n, err);
	if (!rc && n)
		rc = fetch_batch(c, ac, mb, ms, n, progress, parg, ctx, &done,
		                 err);
	for (size_t i = done; i < n && !rc; i++) {
		struct incoming in;

		if (progress)
			progress(parg, "fetching", i, n);
		client_mbox_where(mb, &ms[i], &in);
		rc = client_mbox_fetch(mb, &ms[i], raw, err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
			continue;
		}
		if (rc == QM_ERR_TOOBIG) {
			rc = client_recv_file_refused(c, ac, &in, err, ctx->st,
			                              err);
			if (!rc)
				rc = client_mbox_seen(mb, &ms[i], err);
			break;
		}
		if (rc)
			break;
		ctx->st->fetched++;
		rc = file_new(c, ac, ctx, &in, raw, 0, err);
		if (rc)
			break;
		/* unmarked, the message would be filed again next time */
		rc = client_mbox_seen(mb, &ms[i], err);
		if (rc)
			break;
		client_mbox_settle(mb, &ms[i]);
	}
	if (progress && !rc)
		progress(parg, "fetching", n, n);
	free(ms);
	return rc;
}

/* New mail of folder: after the user changed a limit, what was refused for
 * one first, then what is new. */
static enum qm_err sync_folder(struct qm_client *c, struct acct_conn *ac,
                               const char *folder, struct imap_share *im,
                               const struct qm_mail_imap_counts *status,
                               qm_client_progress_fn progress, void *parg,
                               struct recv_ctx *ctx, struct qm_error *err)
{
	struct mbox *mb = NULL;
	struct qm_buf raw;
	enum qm_err rc;

	qm_buf_init(&raw,
	            ac->lim.max_size ? ac->lim.max_size : QM_CLIENT_MAXMSG);
	/* what was refused for a limit is fetched again only from a
	 * selected folder: no shortcut then */
	if (client_setting_int(c, 0, QM_SET_LIMITS_GEN) >
	    client_setting_int(c, ac->a.id, QM_SET_REFUSED_GEN))
		status = NULL;
	rc = client_mbox_open_on(c, ac, folder, ctx->st, im, status, &mb, err);
	if (!rc)
		rc = refetch_refused(c, ac, mb, folder, &raw, ctx, err);
	if (!rc)
		rc = fetch_new(c, ac, mb, progress, parg, &raw, ctx, err);
	if (!rc)
		rc = client_mbox_done(mb, err);
	client_mbox_free(&mb);
	qm_buf_free(&raw);
	return rc;
}

/* Folder name's STATUS in the listing l (NULL: none). */
static const struct qm_mail_imap_counts *
status_of(const struct qm_mail_imap_folders *l, const char *name)
{
	for (size_t i = 0; l && i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return l->v[i].counts.valid ? &l->v[i].counts : NULL;
	return NULL;
}

/*
 * Every folder the account syncs: POP3 its one maildrop; IMAP the folder
 * list first (into the store), then INBOX and the folders the setting
 * sync_folders names. A folder the server refuses (deleted meanwhile)
 * does not stop the others; the first such refusal is returned at the end.
 */
static enum qm_err sync_folders(struct qm_client *c, struct acct_conn *ac,
                                qm_client_progress_fn progress, void *parg,
                                struct recv_ctx *ctx, struct qm_error *err)
{
	struct imap_share sh;
	struct qm_mail_imap_folders *list = NULL;
	struct qm_error first;
	char **names = NULL;
	size_t n = 0;
	enum qm_err rc;

	if (ac->use_pop3 || !ac->a.imap.host[0])
		return sync_folder(c, ac, SYNC_FOLDER, NULL, NULL, progress,
		                   parg, ctx, err);
	/* one session for the folder list (with each folder's STATUS when
	 * it comes in the same round trip) and every folder */
	memset(&sh, 0, sizeof(sh));
	client_acct_conn_server(ac, &ac->a.imap, &sh.srv);
	rc = qm_mail_imap_open(&sh.srv, &sh.im, err);
	if (!rc)
		rc = client_folders_store_status(c, ac->a.id, sh.im, &list,
		                                 err);
	if (!rc)
		rc = client_folders_to_sync(c, ac->a.id, &names, &n, err);
	qm_error_clear(&first);
	for (size_t i = 0; !rc && i < n; i++) {
		rc =
		    sync_folder(c, ac, names[i], &sh, status_of(list, names[i]),
		                progress, parg, ctx, err);
		if (rc == QM_ERR_PROTO && i > 0) {
			if (!first.code && err)
				first = *err;
			first.code = QM_ERR_PROTO;
			qm_error_clear(err);
			rc = QM_OK;
			/* the next folder on a session of its own, in case
			 * this one is not usable any more */
			qm_mail_imap_free(&sh.im);
		}
	}
	qm_mail_imap_free(&sh.im);
	qm_mail_imap_folders_free(&list);
	qm_store_strv_free(names, n);
	if (!rc && first.code) {
		if (err)
			*err = first;
		rc = first.code;
	}
	return rc;
}

enum qm_err qm_client_sync(struct qm_client *c, int64_t account_id,
                           qm_client_progress_fn progress, void *parg,
                           struct qm_client_sync_stats *st,
                           struct qm_error *err)
{
	struct acct_conn ac;
	struct recv_ctx ctx;
	enum qm_err rc;
	int lockfd = -1;

	memset(st, 0, sizeof(*st));
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = st;
	if (!qm_client_unlocked(c))
		return qm_error_set(
		    err, QM_ERR_LOCKED,
		    "unlock QMail first: new mail goes into the "
		    "vault");
	rc = sync_lock(c, account_id, "sync this account", &lockfd, err);
	if (rc)
		return rc;
	rc = client_acct_conn_load(c, account_id, &ac, err);
	if (rc) {
		client_home_unlock(&lockfd);
		return rc;
	}
	/* first what waits from earlier syncs (from the copies kept: no
	 * mail server needed), then new mail */
	rc = retry_waiting(c, &ac, &ctx, err);
	if (!rc)
		rc = sync_folders(c, &ac, progress, parg, &ctx, err);
	count_waiting(c, account_id, st);
	client_acct_conn_free(&ac);
	client_home_unlock(&lockfd);
	return rc;
}
