/* SPDX-License-Identifier: MIT */
/*
 * One IMAP folder brought up to date before its new mail is fetched (the
 * IMAP half of recv_source.c opens with it): what the store holds of the
 * folder (its places: UID and the server's flags as of the last sync) is
 * given to the mail layer's folder sync (QRESYNC, CONDSTORE or a full
 * flag fetch), and what changed is applied. A new UIDVALIDITY drops the
 * folder's places, never a message: each is found again by the receive
 * path (recv_file.c: a QMail message by Message-ID and digest, never
 * opened twice; a plain one by Message-ID and size). A UID that vanished
 * loses its place; a plain message left with no place goes from the index
 * (the server dropped it), a QMail message stays (its keys are spent: the
 * copy in the vault is the only one). Flags go both ways by a three-way
 * merge per place: a flag the user changed in QMail since the last sync
 * (the message's flags against the place's) is written to the server,
 * every other flag follows the server. A change the server cannot take
 * now (read-only folder, a keyword it does not keep) stays queued in the
 * store for the next sync. A folder whose STATUS (taken with the folder
 * list, in the same round trip) shows what the last sync recorded, with
 * no change of the user's waiting, is not selected at all: a sync with
 * nothing new costs one LIST and no SELECT (RFC 7162: any change, new
 * message or expunge raises HIGHESTMODSEQ).
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

/* The flags that go both ways. */
#define SYNC_FLAGS CLIENT_SYNC_FLAGS

/* The store's folder row for name, made when the account has none yet
 * (a folder synced before the first listing, INBOX). */
static enum qm_err folder_row(struct qm_client *c, int64_t acct,
                              const char *name, struct qm_store_folder *out,
                              struct qm_error *err)
{
	struct qm_store_folder f;
	enum qm_err rc;

	rc = qm_store_folder_get(c->store, acct, name, out, NULL);
	if (rc != QM_ERR_NOTFOUND)
		return rc ? qm_store_folder_get(c->store, acct, name, out, err)
		          : QM_OK;
	memset(&f, 0, sizeof(f));
	f.account_id = acct;
	f.name = (char *)(uintptr_t)name;
	f.display = (char *)(uintptr_t)name;
	f.use = strcmp(name, "INBOX") == 0 ? QM_FOLDER_USE_INBOX
	                                   : QM_FOLDER_USE_NONE;
	f.subscribed = 1;
	f.selectable = 1;
	rc = qm_store_folder_put(c->store, &f, NULL, err);
	if (!rc)
		rc = qm_store_folder_get(c->store, acct, name, out, err);
	return rc;
}

enum qm_err client_place_gone(struct qm_client *c, int64_t fid,
                              const struct qm_store_place *p,
                              struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	enum qm_err rc;
	int left = 0;

	rc = qm_store_place_remove(c->store, fid, p->uid, &left, err);
	if (rc || left != 0)
		return rc;
	if (qm_store_msg_get(c->store, p->msg_id, &l, NULL) == QM_OK && l->n &&
	    (l->items[0].verify == QM_VERIFY_NOT_QMAIL ||
	     l->items[0].verify == QM_VERIFY_REFUSED))
		/* plain mail (or refused unread) the server no longer has
		 * anywhere QMail looks: gone; found again if it turns up in
		 * another folder */
		rc = qm_store_msg_delete(c->store, p->msg_id, err);
	qm_store_msglist_free(&l);
	return rc;
}

/* The flags of a place after a sync: server the server's now, p what the
 * store holds (base: the server's at the last sync; the message's). */
static unsigned merged_flags(const struct qm_store_place *p, unsigned server)
{
	unsigned local = (p->msg_flags ^ p->flags) & SYNC_FLAGS;

	return (server & ~local & SYNC_FLAGS) | (p->msg_flags & local) |
	       (p->msg_flags & ~SYNC_FLAGS);
}

/*
 * One place's flags both ways: server is what the server has now. The
 * user's changes are written (those the folder can keep), the server's
 * taken. QM_ERR_UNSUPPORTED from the server leaves the change queued.
 */
static enum qm_err place_flags(struct qm_client *c, struct qm_mail_imap *im,
                               const struct qm_mail_imap_changes *ch,
                               int64_t fid, const struct qm_store_place *p,
                               unsigned server, struct qm_client_sync_stats *st,
                               struct qm_error *err)
{
	unsigned want = merged_flags(p, server), base = server & SYNC_FLAGS;
	unsigned keep = QM_MAIL_FLAG_SYSTEM | ch->st.permanent;
	unsigned add = want & ~base & keep & SYNC_FLAGS;
	unsigned del = base & ~want & keep & SYNC_FLAGS;
	enum qm_err rc = QM_OK;
	uint32_t uid = (uint32_t)p->uid;

	if ((add || del) && !ch->st.read_only) {
		rc = qm_mail_imap_store(im, &uid, 1, add, del, err);
		if (rc == QM_ERR_UNSUPPORTED) {
			qm_error_clear(err);
			add = del = 0; /* stays queued */
			rc = QM_OK;
		}
		if (rc)
			return rc;
		base = (base | add) & ~del;
		st->flags_pushed++;
	}
	/* the place now holds what the server has: a change not written
	 * stays a difference between the message and its place, which the
	 * next sync tries again */
	if ((want & SYNC_FLAGS) != (p->msg_flags & SYNC_FLAGS))
		st->flags_pulled++;
	if (base == p->flags && want == p->msg_flags)
		return QM_OK;
	rc = qm_store_place_flags_set(c->store, fid, p->uid, base, p->msg_flags,
	                              want, err);
	if (rc == QM_ERR_NOTFOUND) {
		/* deleted here through another handle since the places were
		 * read (the GUI's reader): nothing left to keep */
		qm_error_clear(err);
		rc = QM_OK;
	}
	return rc;
}

/* The flags the server reported changed for uid, or the base. */
static unsigned server_flags(const struct qm_mail_imap_changes *ch,
                             const struct qm_store_place *p)
{
	size_t lo = 0, hi = ch->nchanged;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ch->changed[mid].uid == p->uid)
			return ch->changed[mid].flags;
		if (ch->changed[mid].uid < p->uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return p->flags;
}

static int vanished(const struct qm_mail_imap_changes *ch, int64_t uid)
{
	size_t lo = 0, hi = ch->nvanished;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ch->vanished[mid] == uid)
			return 1;
		if (ch->vanished[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Applies what changed to the places p[0..n) of folder fid, in one
 * transaction of the store (a hundred flags changed elsewhere are one
 * commit, not a hundred). */
static enum qm_err apply_changes(struct qm_client *c, struct qm_mail_imap *im,
                                 int64_t fid,
                                 const struct qm_mail_imap_changes *ch,
                                 const struct qm_store_place *p, size_t n,
                                 struct qm_client_sync_stats *st,
                                 struct qm_error *err)
{
	enum qm_err rc;

	if (!ch->nchanged && !ch->nvanished) {
		/* only the user's changes can be left: no transaction held
		 * while they are written to the server */
		rc = QM_OK;
		for (size_t i = 0; i < n && !rc; i++)
			if ((p[i].msg_flags ^ p[i].flags) & SYNC_FLAGS)
				rc = place_flags(c, im, ch, fid, &p[i],
				                 p[i].flags, st, err);
		return rc;
	}
	rc = qm_store_tx_begin(c->store, err);
	for (size_t i = 0; i < n && !rc; i++) {
		if (vanished(ch, p[i].uid))
			rc = client_place_gone(c, fid, &p[i], err);
		else
			rc = place_flags(c, im, ch, fid, &p[i],
			                 server_flags(ch, &p[i]), st, err);
	}
	if (!rc)
		return qm_store_tx_commit(c->store, err);
	qm_store_tx_rollback(c->store);
	return rc;
}

/* What the store holds of folder fid, as the mail layer takes it. */
static enum qm_err known_of(const struct qm_store_folder *f,
                            const struct qm_store_place *p, size_t n,
                            struct qm_mail_uid_flags **v,
                            struct qm_mail_imap_known *k, struct qm_error *err)
{
	memset(k, 0, sizeof(*k));
	*v = calloc(n ? n : 1, sizeof(**v));
	if (!*v)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		(*v)[i].uid = (uint32_t)p[i].uid;
		(*v)[i].flags = p[i].flags & SYNC_FLAGS;
	}
	k->uidvalidity = (uint32_t)f->uidvalidity;
	k->highestmodseq = (uint64_t)f->highestmodseq;
	k->msgs = *v;
	k->nmsgs = n;
	return QM_OK;
}

/* Nothing changed on the server since the last sync (status: now) and
 * nothing of the user's waits to be written (p[0..n): the places). */
static int quiet(const struct qm_store_folder *f,
                 const struct qm_store_place *p, size_t n,
                 const struct qm_mail_imap_counts *s)
{
	if (!s || !s->valid || !s->highestmodseq || !f->uidvalidity ||
	    s->uidvalidity != (uint32_t)f->uidvalidity ||
	    s->highestmodseq != (uint64_t)f->highestmodseq || s->messages != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((p[i].msg_flags ^ p[i].flags) & SYNC_FLAGS)
			return 0;
	return 1;
}

/* The changes of a quiet folder: its recorded state, nothing added. */
static enum qm_err quiet_changes(const struct qm_store_folder *f, size_t n,
                                 const struct qm_mail_imap_counts *s,
                                 struct qm_mail_imap_changes **out,
                                 struct qm_error *err)
{
	struct qm_mail_imap_changes *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	ch->st.uidvalidity = (uint32_t)f->uidvalidity;
	ch->st.highestmodseq = (uint64_t)f->highestmodseq;
	ch->st.uidnext = s->uidnext;
	ch->st.exists = (uint32_t)n;
	ch->mode = QM_MAIL_IMAP_SYNC_CONDSTORE;
	*out = ch;
	return QM_OK;
}

enum qm_err client_folder_sync_open(struct qm_client *c,
                                    const struct acct_conn *ac,
                                    struct qm_mail_imap *im, const char *name,
                                    const struct qm_mail_imap_counts *status,
                                    struct folder_sync *fs,
                                    struct qm_client_sync_stats *st,
                                    struct qm_error *err)
{
	struct qm_store_place *p = NULL;
	struct qm_mail_uid_flags *kv = NULL;
	struct qm_mail_imap_known k;
	struct qm_store_folder f;
	size_t n = 0;
	enum qm_err rc;

	memset(fs, 0, sizeof(*fs));
	rc = folder_row(c, ac->a.id, name, &f, err);
	if (rc)
		return rc;
	fs->folder_id = f.id;
	fs->lastuid = f.lastuid;
	rc = qm_store_place_list(c->store, f.id, &p, &n, err);
	if (!rc && quiet(&f, p, n, status)) {
		fs->quiet = 1;
		st->folders_quiet++;
		rc = quiet_changes(&f, n, status, &fs->ch, err);
		goto out;
	}
	if (!rc)
		rc = known_of(&f, p, n, &kv, &k, err);
	if (!rc)
		rc = qm_mail_imap_folder_sync(im, name, &k, &fs->ch, err);
	if (!rc && fs->ch->resync) {
		/* renumbered: every message is listed again, and each one
		 * filed before is found again by what it is */
		rc = qm_store_folder_reset(c->store, f.id,
		                           fs->ch->st.uidvalidity, err);
		fs->lastuid = 0;
	} else if (!rc) {
		rc = apply_changes(c, im, f.id, fs->ch, p, n, st, err);
	}
	if (!rc && f.uidvalidity != (int64_t)fs->ch->st.uidvalidity)
		fs->lastuid = 0;
out:
	free(kv);
	free(p);
	qm_store_folder_clear(&f);
	if (rc)
		qm_mail_imap_changes_free(&fs->ch);
	return rc;
}

enum qm_err client_folder_sync_done(struct qm_client *c,
                                    const struct folder_sync *fs,
                                    struct qm_error *err)
{
	if (!fs->ch || fs->quiet)
		return QM_OK; /* as recorded */
	return qm_store_folder_state_set(
	    c->store, fs->folder_id, fs->ch->st.uidvalidity,
	    (int64_t)fs->ch->st.highestmodseq, fs->lastuid, err);
}

void client_folder_sync_free(struct folder_sync *fs)
{
	qm_mail_imap_changes_free(&fs->ch);
}
