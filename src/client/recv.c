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
                            const struct qm_buf *raw, int64_t blob,
                            uint64_t bloblen, int64_t replace_id,
                            struct qm_error *err)
{
	struct incoming in = *where;

	in.raw = blob ? NULL : raw->data;
	in.rawlen = blob ? (size_t)bloblen : raw->len;
	in.raw_blob = blob;
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
	    (*l)->items[0].verify != QM_VERIFY_WAITING &&
	    (*l)->items[0].verify != QM_VERIFY_SENT_ELSEWHERE)
		return qm_error_set(
		    err, QM_ERR_STATE,
		    "message %lld is not waiting, unreadable, without key "
		    "or from this account's address: there is nothing to "
		    "try again",
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
		int64_t blob = 0;
		uint64_t bloblen = 0;

		rc = client_mbox_fetch(mb, &r[i].m, raw, &blob, &bloblen, err);
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
		rc =
		    file_new(c, ac, ctx, &in, raw, blob, bloblen, r[i].id, err);
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
	struct raw_sink rs; /* where a large message goes as it arrives */
	enum qm_err rc; /* a filing that failed, with its error */
	struct qm_error err;
};

/* How long a group of filed messages may stay uncommitted. */
#define GROUP_MS 100

enum qm_err client_recv_group_enter(struct qm_client *c, struct recv_ctx *ctx,
                                    struct qm_error *err)
{
	enum qm_err rc;

	if (ctx->group_open)
		return QM_OK;
	rc = qm_store_tx_begin(c->store, err);
	if (rc)
		return rc;
	ctx->group_open = 1;
	ctx->group_t0 = qm_mono_ns();
	return QM_OK;
}

enum qm_err client_recv_group_leave(struct qm_client *c, struct recv_ctx *ctx,
                                    int force, struct qm_error *err)
{
	if (!ctx->group_open)
		return QM_OK;
	if (!force && qm_mono_ns() - ctx->group_t0 < GROUP_MS * 1000000ull)
		return QM_OK;
	ctx->group_open = 0;
	return qm_store_tx_commit(c->store, err);
}

/* The group's end after rc: what was filed before a failure stays filed
 * (as it did when each message was its own transaction). */
static enum qm_err group_end(struct qm_client *c, struct recv_ctx *ctx,
                             enum qm_err rc, struct qm_error *err)
{
	enum qm_err e = client_recv_group_leave(c, ctx, 1, rc ? NULL : err);

	return rc ? rc : e;
}

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
	b->rc = client_recv_group_enter(b->c, b->ctx, &b->err);
	if (!b->rc && !msg) {
		/* a large one, in a blob as it arrived */
		uint64_t bl = 0;

		b->rc = client_raw_sink_end(&b->rs, &in.raw_blob, &bl, &b->err);
		in.rawlen = (size_t)bl;
	}
	if (!b->rc)
		b->rc = client_recv_file(b->c, b->ac, b->ctx, &in, &b->err);
	if (!b->rc)
		b->rc = client_mbox_seen(b->mb, &b->ms[i], &b->err);
	if (!b->rc)
		b->rc = client_recv_group_leave(b->c, b->ctx, 0, &b->err);
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
	client_raw_sink_init(&b.rs, c, ac->a.id);
	rc = client_mbox_fetch_many_to(mb, ms, n, &b.rs, batch_one, &b, err);
	/* a large message cut short (the server hung up) leaves nothing */
	client_raw_sink_drop(&b.rs);
	b.rc = group_end(c, ctx, b.rc, &b.err);
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
static enum qm_err fetch_each(struct qm_client *c, struct acct_conn *ac,
                              struct mbox *mb, const struct mbox_msg *ms,
                              size_t done, size_t n,
                              qm_client_progress_fn progress, void *parg,
                              struct qm_buf *raw, struct recv_ctx *ctx,
                              int *stopped, struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	for (size_t i = done; i < n && !rc; i++) {
		struct incoming in;

		int64_t blob = 0;
		uint64_t bloblen = 0;

		if (progress)
			progress(parg, "fetching", i, n);
		client_mbox_where(mb, &ms[i], &in);
		rc = client_mbox_fetch(mb, &ms[i], raw, &blob, &bloblen, err);
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
			*stopped = 1;
			break;
		}
		if (rc)
			break;
		ctx->st->fetched++;
		rc = client_recv_group_enter(c, ctx, err);
		if (!rc)
			rc = file_new(c, ac, ctx, &in, raw, blob, bloblen, 0,
			              err);
		else if (blob)
			/* never given to the filing; best effort: the gc
			 * collects a message blob no message holds */
			QM_IGNORE(qm_store_blob_delete(c->store, blob, NULL));
		/* unmarked, the message would be filed again next time */
		if (!rc)
			rc = client_mbox_seen(mb, &ms[i], err);
		if (!rc)
			rc = client_recv_group_leave(c, ctx, 0, err);
		if (rc)
			break;
		client_mbox_settle(mb, &ms[i]);
	}
	return group_end(c, ctx, rc, err);
}

/* From how many new messages folder mb is fetched headers first (the
 * account setting header_first; 0: never). */
static size_t header_first_from(struct qm_client *c, const struct acct_conn *ac)
{
	char v[32];
	long long x = 0;

	client_acct_setting(c, ac->a.id, QM_CLIENT_SET_HEADER_FIRST, v,
	                    sizeof(v));
	if (!v[0] || qm_parse_ll(v, 0, 1000000, &x, NULL) != QM_OK)
		return (size_t)strtoul(QM_CLIENT_HEADER_FIRST_DEF, NULL, 10);
	return (size_t)x;
}

/* Header-first, one chunk of new messages listed at a time: its plain
 * ones filed as header-only records, the others (QMail) fetched whole
 * before the next chunk. */
#define HEAD_CHUNK 256

/* What the header pass's callback needs, and what it did. */
struct heads {
	struct qm_client *c;
	struct acct_conn *ac;
	struct mbox *mb;
	const struct mbox_msg *ms; /* the chunk */
	size_t n, base, total;     /* its length, where it starts, of all */
	struct mbox_msg *whole;    /* to fetch whole (room for n) */
	unsigned char *got;        /* got[i]: ms[i]'s headers came */
	size_t nwhole;
	qm_client_progress_fn progress;
	void *parg;
	struct recv_ctx *ctx;
	enum qm_err rc;
	struct qm_error err;
};

/* One message's list fields, as they arrive. */
static int head_one(void *arg, const struct qm_mail_imap_summary *s,
                    size_t done, size_t total)
{
	struct heads *h = arg;
	struct incoming in;
	size_t i = 0;
	int whole = 0;

	(void)total;
	while (i < h->n && h->ms[i].uid != s->uid)
		i++;
	if (i == h->n || h->got[i])
		return 0; /* not asked for */
	h->got[i] = 1;
	if (h->progress)
		h->progress(h->parg, "headers", h->base + done, h->total);
	client_mbox_where(h->mb, &h->ms[i], &in);
	in.flags = s->flags;
	if (h->ac->lim.max_size && s->size > h->ac->lim.max_size) {
		/* refused as a whole fetch would be, without fetching it */
		qm_error_set(&h->err, QM_ERR_TOOBIG,
		             "the server says it is %lu bytes",
		             (unsigned long)s->size);
		h->rc = client_recv_file_refused(h->c, h->ac, &in, &h->err,
		                                 h->ctx->st, &h->err);
	} else if (!(h->rc = client_recv_group_enter(h->c, h->ctx, &h->err)))
		h->rc = client_recv_file_head(h->c, h->ac, h->ctx, &in, s->hdr,
		                              s->hdrlen, (int64_t)s->size,
		                              s->internaldate, &whole, &h->err);
	if (!h->rc)
		h->rc = client_recv_group_leave(h->c, h->ctx, 0, &h->err);
	if (!h->rc && whole)
		h->whole[h->nwhole++] = h->ms[i];
	return h->rc ? 1 : 0;
}

/*
 * The list fields of h's chunk. A header block past the reader's bound
 * (1 MiB) ends the session before any of it is read: the session is
 * opened again, the first message whose headers did not come (the
 * server answers in UID order) is fetched whole, as any message of a
 * small folder, and the pass goes on with the rest, so that no message
 * stops the header pass of its folder at every sync.
 */
static enum qm_err heads_chunk(struct qm_client *c, struct acct_conn *ac,
                               struct mbox *mb, struct heads *h,
                               struct qm_buf *raw, struct recv_ctx *ctx,
                               int *stopped, struct qm_error *err)
{
	struct mbox_msg *rest = NULL;
	size_t nrest = h->n;
	enum qm_err rc;

	for (;;) {
		size_t first = h->n;

		rc = client_mbox_heads(mb, rest ? rest : h->ms, nrest, head_one,
		                       h, err);
		h->rc = group_end(c, ctx, h->rc, &h->err);
		if (h->rc) {
			if (err)
				*err = h->err;
			rc = h->rc;
		}
		if (rc != QM_ERR_TOOBIG || h->rc)
			break;
		qm_error_clear(err);
		for (size_t i = 0; i < h->n && first == h->n; i++)
			if (!h->got[i])
				first = i;
		rc = client_mbox_reopen(mb, err);
		if (rc || first == h->n)
			break;
		h->got[first] = 1;
		rc = fetch_each(c, ac, mb, h->ms, first, first + 1, NULL, NULL,
		                raw, ctx, stopped, err);
		if (rc || *stopped)
			break;
		if (!rest && !(rest = calloc(h->n, sizeof(*rest)))) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			break;
		}
		nrest = 0;
		for (size_t i = 0; i < h->n; i++)
			if (!h->got[i])
				rest[nrest++] = h->ms[i];
		if (!nrest)
			break;
	}
	free(rest);
	return rc;
}

/*
 * The header pass over ms[0..n) (IMAP): each chunk's list fields in one
 * round trip, its QMail messages fetched whole (fetch_batch, then one at a
 * time from where a batch stopped), then the chunk marked filed. *stopped:
 * a message past limit.message_size ended the session.
 */
static enum qm_err fetch_heads(struct qm_client *c, struct acct_conn *ac,
                               struct mbox *mb, const struct mbox_msg *ms,
                               size_t n, qm_client_progress_fn progress,
                               void *parg, struct qm_buf *raw,
                               struct recv_ctx *ctx, int *stopped,
                               struct qm_error *err)
{
	struct heads h;
	enum qm_err rc = QM_OK;

	memset(&h, 0, sizeof(h));
	h.whole = calloc(HEAD_CHUNK, sizeof(*h.whole));
	h.got = calloc(HEAD_CHUNK, 1);
	if (!h.whole || !h.got) {
		free(h.whole);
		free(h.got);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (size_t at = 0; at < n && !rc && !*stopped; at += HEAD_CHUNK) {
		size_t k = n - at < HEAD_CHUNK ? n - at : HEAD_CHUNK, done = 0;

		h.c = c;
		h.ac = ac;
		h.mb = mb;
		h.ms = ms + at;
		h.n = k;
		h.base = at;
		h.total = n;
		h.nwhole = 0;
		h.progress = progress;
		h.parg = parg;
		h.ctx = ctx;
		h.rc = QM_OK;
		memset(h.got, 0, k);
		rc = heads_chunk(c, ac, mb, &h, raw, ctx, stopped, err);
		if (!rc && h.nwhole)
			rc = fetch_batch(c, ac, mb, h.whole, h.nwhole, NULL,
			                 NULL, ctx, &done, err);
		if (!rc && done < h.nwhole)
			rc = fetch_each(c, ac, mb, h.whole, done, h.nwhole,
			                NULL, NULL, raw, ctx, stopped, err);
		/* every message of the chunk is filed (or refused): the
		 * next sync lists none of them */
		if (!rc && !*stopped)
			rc = client_mbox_seen(mb, &ms[at + k - 1], err);
	}
	free(h.whole);
	free(h.got);
	return rc;
}

/*
 * Fetches and files what mb holds that was not filed before, in order:
 * a folder with more new messages than the setting header_first says
 * headers first (fetch_heads; the bodies follow in fetch_bodies), else
 * in batches where the source can (fetch_batch), else one at a time.
 * Whatever becomes of a message (filed, waiting, unreadable), the sync
 * goes on past it; one past limit.message_size is recorded as refused,
 * not fetched again, and ends the sync of the folder (the server dropped
 * the session: *stopped).
 */
static enum qm_err fetch_new(struct qm_client *c, struct acct_conn *ac,
                             struct mbox *mb, qm_client_progress_fn progress,
                             void *parg, struct qm_buf *raw,
                             struct recv_ctx *ctx, int *stopped,
                             struct qm_error *err)
{
	struct mbox_msg *ms = NULL;
	size_t n = 0, done = 0, from;
	enum qm_err rc;

	rc = client_mbox_list_new(mb, &ms, &n, err);
	from = header_first_from(c, ac);
	if (!rc && n && from && n > from && client_mbox_folder_id(mb)) {
		rc = fetch_heads(c, ac, mb, ms, n, progress, parg, raw, ctx,
		                 stopped, err);
		done = n;
	} else if (!rc && n) {
		rc = fetch_batch(c, ac, mb, ms, n, progress, parg, ctx, &done,
		                 err);
	}
	if (!rc)
		rc = fetch_each(c, ac, mb, ms, done, n, progress, parg, raw,
		                ctx, stopped, err);
	if (progress && !rc)
		progress(parg, "fetching", n, n);
	free(ms);
	return rc;
}

/* What the body pass's callback needs, and what it did. */
struct bodies {
	struct qm_client *c;
	struct acct_conn *ac;
	struct mbox *mb;
	const struct qm_store_place *pl; /* the batch's places */
	size_t n, done, total;
	qm_client_progress_fn progress;
	void *parg;
	struct recv_ctx *ctx;
	enum qm_err rc;
	struct qm_error err;
};

/* The body of one header-only record, as it arrives: filed through the
 * same path as a whole fetch, if it is the message the headers were. */
static int body_one(void *arg, uint32_t uid, const unsigned char *msg,
                    size_t len)
{
	struct bodies *b = arg;
	struct qm_store_msglist *l = NULL;
	struct mbox_msg m;
	struct incoming in;
	size_t i = 0;

	while (i < b->n && b->pl[i].uid != (int64_t)uid)
		i++;
	if (i == b->n)
		return 0; /* not asked for */
	if (b->progress)
		b->progress(b->parg, "bodies", ++b->done, b->total);
	b->rc = qm_store_msg_get(b->c->store, b->pl[i].msg_id, &l, &b->err);
	if (b->rc || !l->n || !l->items[0].body_pending) {
		/* gone, or filled meanwhile (a reader opened it) */
		qm_store_msglist_free(&l);
		return b->rc ? 1 : 0;
	}
	memset(&m, 0, sizeof(m));
	m.uid = uid;
	client_mbox_where(b->mb, &m, &in);
	in.flags = b->pl[i].flags;
	in.raw = msg;
	in.rawlen = len;
	in.replace_id = l->items[0].id;
	in.replaced = QM_VERIFY_NOT_QMAIL;
	in.header_only = 1;
	in.expect_mid = l->items[0].message_id;
	in.expect_size = l->items[0].size;
	b->ctx->st->fetched++;
	b->rc = client_recv_group_enter(b->c, b->ctx, &b->err);
	if (!b->rc)
		b->rc = client_recv_file(b->c, b->ac, b->ctx, &in, &b->err);
	if (!b->rc && b->ctx->body_refused) {
		/* not asked for again at every sync; opening it still tries */
		b->ctx->st->errors++;
		b->rc = qm_store_msg_body_refused(b->c->store, l->items[0].id,
		                                  &b->err);
	}
	if (!b->rc)
		b->rc = client_recv_group_leave(b->c, b->ctx, 0, &b->err);
	qm_store_msglist_free(&l);
	return b->rc ? 1 : 0;
}

/* Keeps, in order, the places of pl[0..n) whose message is within
 * limit.message_size (lowered since it was listed: its fetch would end
 * the session at every sync and hold back the bodies after it; it is
 * fetched, and refused, when it is opened); returns how many. */
static size_t fits(struct qm_client *c, const struct acct_conn *ac,
                   struct qm_store_place *pl, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct qm_store_msglist *l = NULL;
		int keep = 1;

		if (ac->lim.max_size &&
		    qm_store_msg_get(c->store, pl[i].msg_id, &l, NULL) ==
		        QM_OK &&
		    l->n && l->items[0].size > (int64_t)ac->lim.max_size)
			keep = 0;
		qm_store_msglist_free(&l);
		if (keep)
			pl[k++] = pl[i];
	}
	return k;
}

/* Bodies per round trip in the body pass. */
#define BODY_BATCH 64

/*
 * The body pass (IMAP): the header-only records with a place in mb's
 * folder get their bodies, newest first, BODY_BATCH per round trip. A
 * sync cut short leaves the rest to the next sync, or to the reader.
 */
static enum qm_err fetch_bodies(struct qm_client *c, struct acct_conn *ac,
                                struct mbox *mb, qm_client_progress_fn progress,
                                void *parg, struct recv_ctx *ctx,
                                struct qm_error *err)
{
	struct qm_store_place *pl = NULL;
	struct mbox_msg ms[BODY_BATCH];
	struct bodies b;
	size_t n = 0;
	int64_t fid = client_mbox_folder_id(mb);
	enum qm_err rc;

	if (!fid)
		return QM_OK;
	rc = qm_store_place_pending(c->store, fid, &pl, &n, err);
	memset(&b, 0, sizeof(b));
	b.c = c;
	b.ac = ac;
	b.mb = mb;
	b.total = n;
	b.progress = progress;
	b.parg = parg;
	b.ctx = ctx;
	if (!rc)
		n = fits(c, ac, pl, n);
	b.total = n;
	for (size_t at = 0; !rc && at < n; at += BODY_BATCH) {
		size_t k = n - at < BODY_BATCH ? n - at : BODY_BATCH;

		memset(ms, 0, sizeof(ms));
		for (size_t j = 0; j < k; j++)
			ms[j].uid = (uint32_t)pl[at + j].uid;
		b.pl = pl + at;
		b.n = k;
		rc = client_mbox_fetch_many(mb, ms, k, body_one, &b, err);
		b.rc = group_end(c, ctx, b.rc, &b.err);
		if (b.rc) {
			if (err)
				*err = b.err;
			rc = b.rc;
		} else if (rc == QM_ERR_TOOBIG) {
			/* larger than its size said: the session is gone; the
			 * rest waits for the next sync or the reader */
			qm_error_clear(err);
			rc = client_mbox_reopen(mb, err);
			break;
		}
	}
	free(pl);
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
	int stopped = 0;
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
		rc = fetch_new(c, ac, mb, progress, parg, &raw, ctx, &stopped,
		               err);
	if (!rc && !stopped)
		rc = fetch_bodies(c, ac, mb, progress, parg, ctx, err);
	if (!rc)
		rc = client_mbox_done(mb, err);
	client_mbox_free(&mb);
	qm_buf_free(&raw);
	return rc;
}

/*
 * STATUS of folder name alone, *k invalid when the server gave none (a
 * refusal is no failure: the folder is then selected to find out).
 */
static enum qm_err status_one(struct qm_mail_imap *im, const char *name,
                              struct qm_mail_imap_counts *k,
                              struct qm_error *err)
{
	enum qm_err rc = qm_mail_imap_folder_status(im, name, k, err);

	if (rc == QM_ERR_PROTO && !qm_mail_imap_broken(im)) {
		qm_error_clear(err);
		memset(k, 0, sizeof(*k));
		rc = QM_OK;
	}
	return rc;
}

/*
 * Every folder the account syncs: POP3 its one maildrop; IMAP INBOX
 * first (its STATUS, and its sync when that shows a change), then the
 * folder list (into the store), then the other folders the setting
 * sync_folders names, their STATUS in one round trip. INBOX goes first
 * because new mail lands there, and because touching the folder list
 * first makes Dovecot over Maildir reread a large INBOX's UID list when
 * it is opened next (about 200 ms at 10,000 messages; docs/PERFORMANCE.md).
 * A folder the server refuses (deleted meanwhile) does not stop the
 * others; the first such refusal is returned at the end.
 */
static enum qm_err sync_folders(struct qm_client *c, struct acct_conn *ac,
                                qm_client_progress_fn progress, void *parg,
                                struct recv_ctx *ctx, struct qm_error *err)
{
	struct imap_share sh;
	struct qm_mail_imap_counts inbox, *counts = NULL;
	struct qm_error first;
	char **names = NULL;
	size_t n = 0;
	enum qm_err rc;

	if (ac->use_pop3 || !ac->a.imap.host[0])
		return sync_folder(c, ac, SYNC_FOLDER, NULL, NULL, progress,
		                   parg, ctx, err);
	/* one session for every folder */
	memset(&sh, 0, sizeof(sh));
	client_acct_conn_server(ac, &ac->a.imap, &sh.srv);
	rc = qm_mail_imap_open(&sh.srv, &sh.im, err);
	if (!rc)
		rc = status_one(sh.im, SYNC_FOLDER, &inbox, err);
	if (!rc)
		rc = sync_folder(c, ac, SYNC_FOLDER, &sh,
		                 inbox.valid ? &inbox : NULL, progress, parg,
		                 ctx, err);
	if (!rc && !sh.im)
		rc = qm_mail_imap_open(&sh.srv, &sh.im, err);
	if (!rc)
		rc = client_folders_store(c, ac->a.id, sh.im, err);
	if (!rc)
		rc = client_folders_to_sync(c, ac->a.id, &names, &n, err);
	if (!rc && n > 1 && !(counts = calloc(n, sizeof(*counts))))
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (!rc && n > 1) /* names[0] is INBOX, synced above */
		rc = qm_mail_imap_folders_status(sh.im,
		                                 (const char *const *)names + 1,
		                                 n - 1, counts + 1, err);
	qm_error_clear(&first);
	for (size_t i = 1; !rc && i < n; i++) {
		rc = sync_folder(c, ac, names[i], &sh,
		                 counts[i].valid ? &counts[i] : NULL, progress,
		                 parg, ctx, err);
		if (rc == QM_ERR_PROTO) {
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
	free(counts);
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
	/* a large message's blob left unfinished by a sync that died while
	 * writing it (one filed outside a store transaction) goes */
	QM_IGNORE(
	    qm_store_blob_gc(c->store, qm_now() - BLOB_GC_AGE_S, NULL, NULL));
	/* first what waits from earlier syncs (from the copies kept: no
	 * mail server needed), then new mail */
	rc = retry_waiting(c, &ac, &ctx, err);
	if (!rc)
		rc = sync_folders(c, &ac, progress, parg, &ctx, err);
	rc = group_end(c, &ctx, rc, err); /* every path ends its group */
	count_waiting(c, account_id, st);
	client_acct_conn_free(&ac);
	client_home_unlock(&lockfd);
	return rc;
}
