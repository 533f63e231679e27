/* SPDX-License-Identifier: MIT */
/*
 * What a person does to messages and folders, done at once on the IMAP
 * server (issue 14; docs/CLIENT.md "Moving, deleting, folders"): move,
 * copy, file by special use (Archive, Junk, Trash, INBOX), delete, write
 * a flag change now, and create, rename, delete folders. Each works on a
 * message's places (where the last sync saw it on the server) and keeps
 * them true afterwards, so the message is never fetched or opened again:
 * a QMail message moved keeps its one decrypted copy in the vault (the
 * KME gave its keys once), found at its new UID by the server's COPYUID
 * answer or, without one, by its Message-ID in the folder it went to.
 * A UID is used only under the UIDVALIDITY it was seen with: a folder the
 * server renumbered since the last sync is refused, nothing done. Every
 * operation holds the account's sync lock (a sync running at the same
 * time would take a moved message's old place for a deleted message).
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How long an operation waits for a sync of the account to end. */
#define OP_LOCK_WAIT_S 30
/* How long a flag change waits for it (then the next sync writes it). */
#define FLAGS_LOCK_WAIT_S 2

/* One operation's session with the account's IMAP server. */
struct op {
	struct qm_client *c;
	struct acct_conn ac;
	int loaded;
	struct qm_mail_server srv;
	struct qm_mail_imap *im;
	int lock;
	/* the account's folders as the store holds them */
	struct qm_store_folder *fv;
	size_t nf;
};

/* A message and its places. */
struct msg_at {
	struct qm_store_msglist *l; /* its row: l->items[0] */
	struct qm_store_place *p;
	size_t np;
};

static void msg_at_free(struct msg_at *m)
{
	qm_store_msglist_free(&m->l);
	free(m->p);
	m->p = NULL;
	m->np = 0;
}

static enum qm_err msg_at_load(struct qm_client *c, int64_t id,
                               struct msg_at *m, struct qm_error *err)
{
	enum qm_err rc;

	memset(m, 0, sizeof(*m));
	rc = qm_client_msg_get(c, id, &m->l, err);
	if (!rc)
		rc = qm_store_msg_places(c->store, id, &m->p, &m->np, err);
	if (rc)
		msg_at_free(m);
	return rc;
}

static int is_pop3(const struct acct_conn *ac)
{
	return ac->use_pop3 || !ac->a.imap.host[0];
}

static enum qm_err folders_load(struct op *o, struct qm_error *err)
{
	qm_store_folders_free(&o->fv, o->nf);
	o->nf = 0;
	return qm_store_folder_list(o->c->store, o->ac.a.id, &o->fv, &o->nf,
	                            err);
}

/* Loads the account (its password: the vault must be unlocked). what
 * names the operation in errors. */
static enum qm_err op_load(struct qm_client *c, int64_t acct, const char *what,
                           struct op *o, struct qm_error *err)
{
	enum qm_err rc;

	memset(o, 0, sizeof(*o));
	o->c = c;
	o->lock = -1;
	rc = client_need_unlocked(c, what, err);
	if (!rc)
		rc = client_acct_conn_load(c, acct, &o->ac, err);
	if (rc)
		return rc;
	o->loaded = 1;
	return QM_OK;
}

/* Takes the sync lock and logs in (after op_load). */
static enum qm_err op_connect(struct op *o, int wait_s, const char *what,
                              struct qm_error *err)
{
	enum qm_err rc;

	if (is_pop3(&o->ac))
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "%s fetches mail over POP3, whose server "
		                    "keeps one folder and no flags: cannot %s",
		                    o->ac.a.address, what);
	rc = client_sync_lock(o->c, o->ac.a.id, wait_s, what, &o->lock, err);
	if (!rc) {
		client_acct_conn_server(&o->ac, &o->ac.a.imap, &o->srv);
		rc = qm_mail_imap_open(&o->srv, &o->im, err);
	}
	if (!rc)
		rc = folders_load(o, err);
	return rc;
}

static void op_close(struct op *o)
{
	qm_store_folders_free(&o->fv, o->nf);
	o->nf = 0;
	qm_mail_imap_free(&o->im);
	client_home_unlock(&o->lock);
	if (o->loaded)
		client_acct_conn_free(&o->ac);
	o->loaded = 0;
}

static const struct qm_store_folder *folder_by_id(const struct op *o,
                                                  int64_t id)
{
	for (size_t i = 0; i < o->nf; i++)
		if (o->fv[i].id == id)
			return &o->fv[i];
	return NULL;
}

/* A folder a person named: the server's name, or else a display name
 * that only one folder has. NULL when none. */
static const struct qm_store_folder *folder_named(const struct op *o,
                                                  const char *name)
{
	const struct qm_store_folder *hit = NULL;

	for (size_t i = 0; i < o->nf; i++)
		if (strcmp(o->fv[i].name, name) == 0)
			return &o->fv[i];
	for (size_t i = 0; i < o->nf; i++) {
		if (strcmp(o->fv[i].display, name) != 0)
			continue;
		if (hit)
			return NULL;
		hit = &o->fv[i];
	}
	return hit;
}

/* The folder of that special use (the first by name), NULL when none. */
static const struct qm_store_folder *folder_of_use(const struct op *o,
                                                   enum qm_store_folder_use u)
{
	for (size_t i = 0; i < o->nf; i++)
		if (o->fv[i].use == u && o->fv[i].selectable)
			return &o->fv[i];
	return NULL;
}

/* A person's folder name resolved, listing the server's folders again
 * when the store does not know it (made elsewhere since the last sync). */
static enum qm_err folder_find(struct op *o, const char *name,
                               const struct qm_store_folder **out,
                               struct qm_error *err)
{
	enum qm_err rc;

	*out = folder_named(o, name);
	if (*out)
		return QM_OK;
	rc = client_folders_store(o->c, o->ac.a.id, o->im, err);
	if (!rc)
		rc = folders_load(o, err);
	if (rc)
		return rc;
	*out = folder_named(o, name);
	if (*out)
		return QM_OK;
	qm_error_set(err, QM_ERR_NOTFOUND,
	             "%s has no folder \"%s\" on its server", o->ac.a.address,
	             name);
	return QM_ERR_NOTFOUND;
}

/* Gmail's All Mail, Starred, Important: views that hold mail that is
 * also elsewhere. */
static int is_view(const struct qm_store_folder *f)
{
	return f->use == QM_FOLDER_USE_ALL || f->use == QM_FOLDER_USE_FLAGGED ||
	       f->use == QM_FOLDER_USE_IMPORTANT;
}

/* The place a move or copy takes message m from: not in folder not_fid,
 * a real folder before a view. NULL when none. */
static const struct qm_store_place *
source_of(const struct op *o, const struct msg_at *m, int64_t not_fid)
{
	const struct qm_store_place *view = NULL;

	for (size_t i = 0; i < m->np; i++) {
		const struct qm_store_folder *f =
		    folder_by_id(o, m->p[i].folder_id);

		if (!f || m->p[i].folder_id == not_fid)
			continue;
		if (!is_view(f))
			return &m->p[i];
		if (!view)
			view = &m->p[i];
	}
	return view;
}

static const struct qm_store_place *place_in(const struct msg_at *m,
                                             int64_t fid)
{
	for (size_t i = 0; i < m->np; i++)
		if (m->p[i].folder_id == fid)
			return &m->p[i];
	return NULL;
}

/* An error for a message the last sync saw nowhere on the server. */
static enum qm_err no_place(const struct op *o, int64_t id, const char *what,
                            struct qm_error *err)
{
	return qm_error_set(err, QM_ERR_STATE,
	                    "cannot %s message %lld: the last sync of %s "
	                    "saw it in no folder on the server (sync the "
	                    "account first)",
	                    what, (long long)id, o->ac.a.address);
}

/* Selects folder f read-write; refused when the server renumbered it
 * since the last sync (its UIDs would name other messages now). */
static enum qm_err select_checked(struct op *o, const struct qm_store_folder *f,
                                  struct qm_mail_imap_folder_state *st,
                                  struct qm_error *err)
{
	enum qm_err rc = qm_mail_imap_folder_select(o->im, f->name, 0, st, err);

	if (rc)
		return rc;
	if (f->uidvalidity && st->uidvalidity == (uint32_t)f->uidvalidity)
		return QM_OK;
	return qm_error_set(err, QM_ERR_STATE,
	                    "the folder %s of %s was renumbered on the server "
	                    "since the last sync (a new UIDVALIDITY): nothing "
	                    "was done; sync the account and try again",
	                    f->display, o->ac.a.address);
}

/*
 * Writes the flag changes of place p (selected, state st) that the user
 * made since the last sync: *flags gets the server's flags after (those
 * the folder cannot keep stay queued for a sync). *written is 0 when the
 * server kept some change back.
 */
static enum qm_err push_flags(struct op *o, const struct qm_store_place *p,
                              const struct qm_mail_imap_folder_state *st,
                              unsigned *flags, int *written,
                              struct qm_error *err)
{
	unsigned keep = QM_MAIL_FLAG_SYSTEM | st->permanent;
	unsigned want = p->msg_flags & CLIENT_SYNC_FLAGS;
	unsigned base = p->flags & CLIENT_SYNC_FLAGS;
	unsigned add = want & ~base & keep, del = base & ~want & keep;
	uint32_t uid = (uint32_t)p->uid;
	enum qm_err rc = QM_OK;

	*flags = p->flags;
	*written = (want & ~keep) == (base & ~keep) && !st->read_only;
	if (!(add || del) || st->read_only)
		return QM_OK;
	rc = qm_mail_imap_store(o->im, &uid, 1, add, del, err);
	if (rc == QM_ERR_UNSUPPORTED) {
		qm_error_clear(err);
		*written = 0;
		return QM_OK;
	}
	if (!rc)
		*flags = (p->flags | add) & ~del;
	return rc;
}

/* Where message m went in folder dest (selecting it): the newest UID
 * there with its Message-ID that no other message holds; 0 when none. */
static uint32_t find_by_mid(struct op *o, const struct msg_at *m,
                            const struct qm_store_folder *dest,
                            uint32_t *uidvalidity)
{
	const char *mid = m->l->items[0].message_id;
	struct qm_mail_imap_folder_state st;
	uint32_t *uids = NULL, found = 0;
	size_t n = 0;

	if (!mid || !*mid ||
	    qm_mail_imap_folder_select(o->im, dest->name, 1, &st, NULL) ||
	    qm_mail_imap_search_header(o->im, "Message-ID", mid, &uids, &n,
	                               NULL))
		return 0;
	for (size_t i = n; i-- > 0 && !found;) {
		int64_t holder = 0;

		if (qm_store_place_find(o->c->store, dest->id, uids[i], &holder,
		                        NULL) != QM_OK ||
		    holder == m->l->items[0].id)
			found = uids[i];
	}
	free(uids);
	*uidvalidity = st.uidvalidity;
	return found;
}

/*
 * The store after a move (move set) or copy of message m from place src
 * to folder dest, where it is now uid (0: not known; the next sync of
 * dest finds it) under uidvalidity, with the server's flags.
 */
static enum qm_err places_after(struct op *o, const struct msg_at *m,
                                const struct qm_store_place *src,
                                const struct qm_store_folder *dest,
                                uint32_t uid, uint32_t uidvalidity,
                                unsigned flags, int move, struct qm_error *err)
{
	struct qm_store *s = o->c->store;
	enum qm_err rc = qm_store_tx_begin(s, err);

	if (rc)
		return rc;
	if (uid && !dest->uidvalidity)
		/* a folder never synced: its numbering starts now */
		rc = qm_store_folder_state_set(s, dest->id, uidvalidity, 0, 0,
		                               err);
	if (!rc && uid &&
	    (!dest->uidvalidity || dest->uidvalidity == (int64_t)uidvalidity)) {
		rc = qm_store_place_add(s, dest->id, uid, m->l->items[0].id,
		                        flags, err);
		if (rc == QM_ERR_EXISTS) {
			/* held by another record: a sync sorts it out */
			qm_error_clear(err);
			rc = QM_OK;
		}
	}
	if (!rc && move)
		rc = qm_store_place_remove(s, src->folder_id, src->uid, NULL,
		                           err);
	if (!rc)
		return qm_store_tx_commit(s, err);
	qm_store_tx_rollback(s);
	return rc;
}

/* Removes place p (in folder f) from the server: \Deleted and UID
 * EXPUNGE of that UID alone. */
static enum qm_err expunge_place(struct op *o, const struct qm_store_folder *f,
                                 const struct qm_store_place *p,
                                 struct qm_error *err)
{
	struct qm_mail_imap_folder_state st;
	uint32_t uid = (uint32_t)p->uid;
	enum qm_err rc = select_checked(o, f, &st, err);

	if (!rc)
		rc = qm_mail_imap_expunge_uids(o->im, &uid, 1, err);
	if (!rc)
		rc = qm_store_place_remove(o->c->store, p->folder_id, p->uid,
		                           NULL, err);
	return rc;
}

/*
 * Moves (move set) or copies message m to folder dest on the server: the
 * user's pending flag changes first (the copy carries them), then UID
 * MOVE or UID COPY, then the places. A message already in dest: a copy
 * does nothing, a move only leaves its other place.
 */
static enum qm_err transfer(struct op *o, const struct msg_at *m,
                            const struct qm_store_folder *dest, int move,
                            struct qm_error *err)
{
	const struct qm_store_place *src = source_of(o, m, dest->id);
	const struct qm_store_folder *sf;
	struct qm_mail_imap_folder_state st;
	struct qm_mail_imap_uidmap *map = NULL;
	uint32_t uid, newuid = 0, newv = 0;
	unsigned flags = 0;
	int written = 0;
	enum qm_err rc;

	if (!src)
		return place_in(m, dest->id)
		           ? QM_OK
		           : no_place(o, m->l->items[0].id,
		                      move ? "move" : "copy", err);
	sf = folder_by_id(o, src->folder_id);
	if (place_in(m, dest->id))
		return move ? expunge_place(o, sf, src, err) : QM_OK;
	uid = (uint32_t)src->uid;
	rc = select_checked(o, sf, &st, err);
	if (!rc)
		rc = push_flags(o, src, &st, &flags, &written, err);
	if (!rc)
		rc = move ? qm_mail_imap_move_uids(o->im, &uid, 1, dest->name,
		                                   &map, err)
		          : qm_mail_imap_copy_uids(o->im, &uid, 1, dest->name,
		                                   &map, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < map->n; i++)
		if (map->src[i] == uid) {
			newuid = map->dst[i];
			newv = map->uidvalidity;
		}
	if (!newuid) /* no UIDPLUS: by its Message-ID */
		newuid = find_by_mid(o, m, dest, &newv);
	rc = places_after(o, m, src, dest, newuid, newv, flags, move, err);
out:
	qm_mail_imap_uidmap_free(&map);
	return rc;
}

/* The account of message id, loaded (op_load) for what. */
static enum qm_err op_for_msg(struct qm_client *c, int64_t id, const char *what,
                              struct op *o, struct msg_at *m,
                              struct qm_error *err)
{
	enum qm_err rc = msg_at_load(c, id, m, err);

	if (!rc)
		rc = op_load(c, m->l->items[0].account_id, what, o, err);
	if (rc)
		msg_at_free(m);
	return rc;
}

/* Takes the lock and logs in for message m (id), then reads its places
 * again: a sync that ended meanwhile may have changed them. */
static enum qm_err op_connect_msg(struct op *o, int64_t id, struct msg_at *m,
                                  int wait_s, const char *what,
                                  struct qm_error *err)
{
	enum qm_err rc = op_connect(o, wait_s, what, err);

	if (rc)
		return rc;
	msg_at_free(m);
	return msg_at_load(o->c, id, m, err);
}

static enum qm_err move_or_copy(struct qm_client *c, int64_t id,
                                const char *folder, int move,
                                struct qm_error *err)
{
	const char *what = move ? "move a message" : "copy a message";
	const struct qm_store_folder *dest;
	struct msg_at m;
	struct op o;
	enum qm_err rc;
	int64_t acct;

	if (client_msg_local(c, id, &acct)) {
		rc = client_need_unlocked(c, what, err);
		return rc ? rc
		          : client_local_move(c, acct, id, folder, move, err);
	}

	if (!folder || !*folder)
		return qm_error_set(err, QM_ERR_INVAL, "no folder named");
	rc = op_for_msg(c, id, what, &o, &m, err);
	if (rc)
		return rc;
	rc = op_connect_msg(&o, id, &m, OP_LOCK_WAIT_S, what, err);
	if (!rc)
		rc = folder_find(&o, folder, &dest, err);
	if (!rc && !dest->selectable)
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "the folder %s of %s cannot hold messages",
		                  dest->display, o.ac.a.address);
	if (!rc)
		rc = transfer(&o, &m, dest, move, err);
	op_close(&o);
	msg_at_free(&m);
	return rc;
}

enum qm_err qm_client_msg_move(struct qm_client *c, int64_t id,
                               const char *folder, struct qm_error *err)
{
	return move_or_copy(c, id, folder, 1, err);
}

enum qm_err qm_client_msgs_move(struct qm_client *c, const int64_t *ids,
                                size_t n, const char *folder, size_t *done,
                                struct qm_error *err)
{
	const char *what = "move messages";
	const struct qm_store_folder *dest = NULL;
	struct msg_at m;
	struct op o;
	size_t i = 0;
	int64_t acct;
	enum qm_err rc = QM_OK;

	*done = 0;
	if (!n)
		return QM_OK;
	/* a POP3 account's local folders, or one message: one at a time */
	if (n == 1 || client_msg_local(c, ids[0], &acct)) {
		for (; !rc && i < n; i++) {
			rc = msg_at_load(c, ids[i], &m, err);
			msg_at_free(&m);
			if (!rc)
				rc = move_or_copy(c, ids[i], folder, 1, err);
			else if (rc == QM_ERR_NOTFOUND)
				rc = QM_OK; /* deleted meanwhile */
			if (!rc)
				*done = i + 1;
		}
		return rc;
	}
	if (!folder || !*folder)
		return qm_error_set(err, QM_ERR_INVAL, "no folder named");
	/* skip what was deleted meanwhile up to the first message there is */
	for (; i < n; i++) {
		rc = op_for_msg(c, ids[i], what, &o, &m, err);
		if (rc != QM_ERR_NOTFOUND)
			break;
		rc = QM_OK;
		*done = i + 1;
	}
	if (i == n || rc)
		return rc;
	/* one login for all: the lock, the session, the folder */
	rc = op_connect_msg(&o, ids[i], &m, OP_LOCK_WAIT_S, what, err);
	if (!rc)
		rc = folder_find(&o, folder, &dest, err);
	if (!rc && !dest->selectable)
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "the folder %s of %s cannot hold messages",
		                  dest->display, o.ac.a.address);
	for (; !rc && i < n; i++) {
		if (!m.l) {
			rc = msg_at_load(c, ids[i], &m, err);
			if (rc == QM_ERR_NOTFOUND) {
				rc = QM_OK; /* deleted meanwhile */
				*done = i + 1;
				continue;
			}
			if (!rc && m.l->items[0].account_id != o.ac.a.id)
				rc =
				    qm_error_set(err, QM_ERR_INVAL,
				                 "messages of several accounts "
				                 "cannot be moved together");
		}
		if (!rc)
			rc = transfer(&o, &m, dest, 1, err);
		msg_at_free(&m);
		if (!rc)
			*done = i + 1;
	}
	op_close(&o);
	msg_at_free(&m);
	return rc;
}

enum qm_err qm_client_msg_copy(struct qm_client *c, int64_t id,
                               const char *folder, struct qm_error *err)
{
	return move_or_copy(c, id, folder, 0, err);
}

static const char *use_name(enum qm_store_folder_use u)
{
	switch (u) {
	case QM_FOLDER_USE_INBOX:
		return "INBOX";
	case QM_FOLDER_USE_SENT:
		return "Sent";
	case QM_FOLDER_USE_DRAFTS:
		return "Drafts";
	case QM_FOLDER_USE_TRASH:
		return "Trash";
	case QM_FOLDER_USE_JUNK:
		return "Junk";
	case QM_FOLDER_USE_ARCHIVE:
		return "Archive";
	case QM_FOLDER_USE_ALL:
		return "All Mail";
	case QM_FOLDER_USE_FLAGGED:
		return "Flagged";
	case QM_FOLDER_USE_IMPORTANT:
		return "Important";
	case QM_FOLDER_USE_NONE:
		break;
	}
	return "(none)";
}

/* The folder a message of use u is filed in. */
static enum qm_err use_folder(struct op *o, enum qm_store_folder_use u,
                              const struct qm_store_folder **out,
                              struct qm_error *err)
{
	*out = u == QM_FOLDER_USE_INBOX ? folder_named(o, "INBOX")
	                                : folder_of_use(o, u);
	if (!*out && u == QM_FOLDER_USE_ARCHIVE)
		/* Gmail: archiving is leaving INBOX for All Mail */
		*out = folder_of_use(o, QM_FOLDER_USE_ALL);
	if (*out)
		return QM_OK;
	qm_error_set(err, QM_ERR_NOTFOUND,
	             "%s has no %s folder on its server (none marked so, "
	             "none by a known name)",
	             o->ac.a.address, use_name(u));
	return QM_ERR_NOTFOUND;
}

/* Junk and back: the $Junk / $NotJunk marks follow (written with the
 * move, so other clients' filters learn from them). */
static enum qm_err junk_marks(struct op *o, struct msg_at *m,
                              enum qm_store_folder_use u, struct qm_error *err)
{
	unsigned set = 0, clear = 0, now;
	int64_t id = m->l->items[0].id;
	enum qm_err rc;

	if (u == QM_FOLDER_USE_JUNK) {
		set = QM_FLAG_JUNK;
		clear = QM_FLAG_NOTJUNK;
	} else if (u == QM_FOLDER_USE_INBOX &&
	           (m->l->items[0].flags & QM_FLAG_JUNK)) {
		set = QM_FLAG_NOTJUNK;
		clear = QM_FLAG_JUNK;
	} else {
		return QM_OK;
	}
	rc = qm_client_msg_flags(o->c, id, set, clear, &now, err);
	for (size_t i = 0; !rc && i < m->np; i++)
		m->p[i].msg_flags = now;
	return rc;
}

enum qm_err qm_client_msg_file(struct qm_client *c, int64_t id,
                               enum qm_store_folder_use use,
                               struct qm_error *err)
{
	const struct qm_store_folder *dest = NULL;
	struct msg_at m;
	struct op o;
	enum qm_err rc;
	int64_t acct;

	if (use != QM_FOLDER_USE_NONE && client_msg_local(c, id, &acct)) {
		rc = client_need_unlocked(c, "file a message", err);
		return rc ? rc : client_local_file(c, acct, id, use, err);
	}

	if (use == QM_FOLDER_USE_NONE)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "filing a message needs a special use");
	rc = op_for_msg(c, id, "file a message", &o, &m, err);
	if (rc)
		return rc;
	rc = op_connect_msg(&o, id, &m, OP_LOCK_WAIT_S, "file a message",
	                    err);
	if (!rc)
		rc = use_folder(&o, use, &dest, err);
	if (!rc)
		rc = junk_marks(&o, &m, use, err);
	if (!rc)
		rc = transfer(&o, &m, dest, 1, err);
	op_close(&o);
	msg_at_free(&m);
	return rc;
}

/* Deleted for good: every place expunged, then the record and its
 * plaintext (the key IDs stay in the replay log). */
static enum qm_err expunge_all(struct op *o, const struct msg_at *m,
                               struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	for (size_t i = 0; !rc && i < m->np; i++) {
		const struct qm_store_folder *f =
		    folder_by_id(o, m->p[i].folder_id);

		if (f)
			rc = expunge_place(o, f, &m->p[i], err);
	}
	if (!rc)
		rc = qm_store_msg_delete(o->c->store, m->l->items[0].id, err);
	return rc;
}

enum qm_err qm_client_msg_trash(struct qm_client *c, int64_t id,
                                struct qm_error *err)
{
	const struct qm_store_folder *trash;
	char mode[16];
	struct msg_at m;
	struct op o;
	enum qm_err rc;
	int64_t acct;

	if (client_msg_local(c, id, &acct)) {
		rc = client_need_unlocked(c, "delete a message", err);
		return rc ? rc : client_local_trash(c, acct, id, err);
	}

	rc = msg_at_load(c, id, &m, err);
	if (rc)
		return rc;
	if (m.np == 0) {
		/* nowhere on the server that QMail knows: deleted here, as
		 * before issue 14 (POP3: local.c, above) */
		rc = qm_store_msg_delete(c->store, id, err);
		msg_at_free(&m);
		return rc;
	}
	msg_at_free(&m);
	rc = op_for_msg(c, id, "delete a message", &o, &m, err);
	if (rc)
		return rc;
	rc = op_connect_msg(&o, id, &m, OP_LOCK_WAIT_S, "delete a message",
	                    err);
	if (rc)
		goto out;
	client_acct_setting(c, o.ac.a.id, QM_CLIENT_SET_DELETE_MODE, mode,
	                    sizeof(mode));
	trash = folder_of_use(&o, QM_FOLDER_USE_TRASH);
	if (strcmp(mode, "expunge") == 0 ||
	    (trash && place_in(&m, trash->id) && !source_of(&o, &m, trash->id)))
		rc = expunge_all(&o, &m, err);
	else if (!trash)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "%s has no Trash folder on its server (none "
		                  "marked so, none by a known name): set its "
		                  "delete_mode to expunge to delete for good",
		                  o.ac.a.address);
	else
		rc = transfer(&o, &m, trash, 1, err);
out:
	op_close(&o);
	msg_at_free(&m);
	return rc;
}

/* ------------------------------------------------------- flags at once */

enum qm_err qm_client_msg_flags_now(struct qm_client *c, int64_t id,
                                    unsigned set, unsigned clear,
                                    unsigned *flags, int *written,
                                    struct qm_error *err)
{
	struct qm_error e;
	struct msg_at m;
	struct op o;
	unsigned now = 0;
	int all = 1;
	enum qm_err rc;

	if (written)
		*written = 0;
	/* kept first: whatever the server does, the change is not lost */
	rc = qm_client_msg_flags(c, id, set, clear, &now, err);
	if (rc)
		return rc;
	if (flags)
		*flags = now;
	qm_error_clear(&e);
	if (msg_at_load(c, id, &m, &e))
		return QM_OK;
	if (m.np == 0 ||
	    op_load(c, m.l->items[0].account_id, "write flags", &o, &e)) {
		msg_at_free(&m);
		return QM_OK;
	}
	rc = op_connect_msg(&o, id, &m, FLAGS_LOCK_WAIT_S, "write flags", &e);
	for (size_t i = 0; !rc && i < m.np; i++) {
		const struct qm_store_folder *f =
		    folder_by_id(&o, m.p[i].folder_id);
		struct qm_mail_imap_folder_state st;
		unsigned base = 0;
		int ok = 0;

		if (!f)
			continue;
		rc = select_checked(&o, f, &st, &e);
		if (!rc)
			rc = push_flags(&o, &m.p[i], &st, &base, &ok, &e);
		if (!rc && base != m.p[i].flags)
			rc = qm_store_place_flags_set(
			    c->store, f->id, m.p[i].uid, base, m.p[i].msg_flags,
			    m.p[i].msg_flags, &e);
		all = all && ok;
	}
	/* not reached, refused: the next sync writes it */
	if (written)
		*written = !rc && all;
	op_close(&o);
	msg_at_free(&m);
	return QM_OK;
}

/* ------------------------------------------------------------- folders */

/* A folder name a person typed, for the server (modified UTF-7). */
static enum qm_err wire_name(const char *name, char **out, struct qm_error *err)
{
	if (!name || !*name)
		return qm_error_set(err, QM_ERR_INVAL, "a folder needs a name");
	return qm_mail_imap_name_encode(name, out, err);
}

/* The folder list again, after a change on the server. */
static enum qm_err relist(struct op *o, struct qm_error *err)
{
	return client_folders_store(o->c, o->ac.a.id, o->im, err);
}

static enum qm_err folder_op_open(struct qm_client *c, int64_t acct,
                                  const char *what, struct op *o,
                                  struct qm_error *err)
{
	enum qm_err rc = op_load(c, acct, what, o, err);

	if (!rc)
		rc = op_connect(o, OP_LOCK_WAIT_S, what, err);
	return rc;
}

/* INBOX and the folders of a special use (Sent, Drafts, Trash, Junk,
 * Archive, ...) stay as they are: other mail clients and the server's
 * own rules find them there. done is "renamed" or "deleted". */
static enum qm_err folder_fixed(const struct op *o,
                                const struct qm_store_folder *f,
                                const char *done, struct qm_error *err)
{
	if (strcasecmp(f->name, "INBOX") == 0 || f->use == QM_FOLDER_USE_INBOX)
		return qm_error_set(err, QM_ERR_INVAL, "INBOX cannot be %s",
		                    done);
	if (f->use != QM_FOLDER_USE_NONE)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is the %s folder of %s (a special use, "
		                    "which other mail clients rely on): it "
		                    "cannot be %s",
		                    f->display && *f->display ? f->display
		                                              : f->name,
		                    use_name(f->use), o->ac.a.address, done);
	return QM_OK;
}

enum qm_err qm_client_folder_create(struct qm_client *c, int64_t account_id,
                                    const char *name, struct qm_error *err)
{
	char *wire = NULL;
	struct op o;
	enum qm_err rc;

	if (client_acct_over_pop3(c, account_id)) {
		rc = client_need_unlocked(c, "make a folder", err);
		return rc ? rc
		          : client_local_folder_create(c, account_id, name,
		                                       err);
	}

	memset(&o, 0, sizeof(o));
	o.lock = -1;
	rc = wire_name(name, &wire, err);
	if (!rc)
		rc = folder_op_open(c, account_id, "create a folder", &o, err);
	if (!rc)
		rc = qm_mail_imap_folder_create(o.im, wire, 1, err);
	if (!rc)
		rc = relist(&o, err);
	op_close(&o);
	free(wire);
	return rc;
}

enum qm_err qm_client_folder_rename(struct qm_client *c, int64_t account_id,
                                    const char *from, const char *to,
                                    struct qm_error *err)
{
	const struct qm_store_folder *f = NULL;
	char *wire = NULL;
	struct op o;
	enum qm_err rc;

	if (client_acct_over_pop3(c, account_id)) {
		rc = client_need_unlocked(c, "rename a folder", err);
		return rc ? rc
		          : client_local_folder_rename(c, account_id, from, to,
		                                       err);
	}

	memset(&o, 0, sizeof(o));
	o.lock = -1;
	rc = wire_name(to, &wire, err);
	if (!rc)
		rc = folder_op_open(c, account_id, "rename a folder", &o, err);
	if (!rc)
		rc = folder_find(&o, from ? from : "", &f, err);
	if (!rc)
		rc = folder_fixed(&o, f, "renamed", err);
	if (!rc)
		rc = qm_mail_imap_folder_rename(o.im, f->name, wire, err);
	/* its places and sync state go along (the server keeps the UIDs) */
	if (!rc)
		rc = qm_store_folder_rename(c->store, account_id, f->name, wire,
		                            f->delim, err);
	if (!rc)
		rc = relist(&o, err);
	op_close(&o);
	free(wire);
	return rc;
}

/* Folder f is gone from the server: its places go as a sync lets them
 * go (a plain message left nowhere leaves the index; a QMail one stays,
 * its vault copy being the only one). */
static enum qm_err places_gone(struct op *o, const struct qm_store_folder *f,
                               struct qm_error *err)
{
	struct qm_store_place *p = NULL;
	size_t n = 0;
	enum qm_err rc;

	rc = qm_store_place_list(o->c->store, f->id, &p, &n, err);
	for (size_t i = 0; !rc && i < n; i++)
		rc = client_place_gone(o->c, f->id, &p[i], err);
	free(p);
	return rc;
}

enum qm_err qm_client_folder_delete(struct qm_client *c, int64_t account_id,
                                    const char *name, struct qm_error *err)
{
	const struct qm_store_folder *f = NULL;
	struct op o;
	enum qm_err rc;

	if (client_acct_over_pop3(c, account_id)) {
		rc = client_need_unlocked(c, "delete a folder", err);
		return rc ? rc
		          : client_local_folder_delete(c, account_id, name,
		                                       err);
	}

	rc = folder_op_open(c, account_id, "delete a folder", &o, err);
	if (!rc)
		rc = folder_find(&o, name ? name : "", &f, err);
	if (!rc)
		rc = folder_fixed(&o, f, "deleted", err);
	if (!rc)
		rc = qm_mail_imap_folder_delete(o.im, f->name, err);
	if (!rc)
		rc = places_gone(&o, f, err);
	if (!rc)
		rc = relist(&o, err);
	op_close(&o);
	return rc;
}

/* ------------------------------------------------------- server search */

/* What the search keeps of each summary the server sends. */
struct hits {
	struct op *o;
	int64_t fid;
	struct qm_client_server_hit *v;
	size_t n, max;
	enum qm_err rc;
};

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

static int hit_add(void *arg, const struct qm_mail_imap_summary *s,
                   size_t done, size_t total)
{
	struct hits *h = arg;
	struct qm_client_server_hit *d;
	int64_t id = 0;

	(void)done;
	(void)total;
	if (h->n == h->max)
		return 1;
	d = &h->v[h->n];
	memset(d, 0, sizeof(*d));
	d->uid = s->uid;
	if (h->fid && qm_store_place_find(h->o->c->store, h->fid, s->uid, &id,
	                                  NULL) == QM_OK)
		d->id = id;
	d->subject = dup_or_empty(s->subject);
	d->from = dup_or_empty(s->from);
	d->message_id = dup_or_empty(s->message_id);
	d->date = s->date ? s->date : s->internaldate;
	d->size = s->size;
	d->flags = s->flags;
	h->n++;
	if (!d->subject || !d->from || !d->message_id) {
		h->rc = QM_ERR_NOMEM;
		return 1;
	}
	return 0;
}

void qm_client_server_hits_free(struct qm_client_server_hit **v, size_t n)
{
	if (!v || !*v)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*v)[i].subject);
		free((*v)[i].from);
		free((*v)[i].message_id);
	}
	free(*v);
	*v = NULL;
}

enum qm_err qm_client_search_server(struct qm_client *c, int64_t account_id,
                                    const char *folder, const char *text,
                                    size_t max,
                                    struct qm_client_server_hit **out,
                                    size_t *n, struct qm_error *err)
{
	const struct qm_store_folder *f = NULL;
	struct qm_mail_imap_query q;
	struct hits h;
	uint32_t *uids = NULL;
	size_t nu = 0, from;
	struct op o;
	enum qm_err rc;

	*out = NULL;
	*n = 0;
	if (!text || !*text)
		return qm_error_set(err, QM_ERR_INVAL, "nothing to search for");
	if (!max || max > QM_CLIENT_SEARCH_MAX)
		max = QM_CLIENT_SEARCH_MAX;
	memset(&h, 0, sizeof(h));
	rc = op_load(c, account_id, "search the server", &o, err);
	if (!rc)
		rc = op_connect(&o, OP_LOCK_WAIT_S, "search the server", err);
	if (!rc)
		rc = folder_find(&o, folder && *folder ? folder : "INBOX", &f,
		                 err);
	if (!rc)
		rc = qm_mail_imap_folder_select(o.im, f->name, 1, NULL, err);
	memset(&q, 0, sizeof(q));
	q.text = text;
	if (!rc)
		rc = qm_mail_imap_search(o.im, &q, &uids, &nu, err);
	/* the newest max of them (UIDs ascend with arrival) */
	from = nu > max ? nu - max : 0;
	h.o = &o;
	h.fid = f ? f->id : 0;
	h.max = nu - from;
	if (!rc && h.max) {
		h.v = calloc(h.max, sizeof(*h.v));
		rc = h.v ? qm_mail_imap_fetch_summaries(o.im, uids + from, h.max,
		                                        hit_add, &h, err)
		         : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		if (h.rc)
			rc = qm_error_set(err, h.rc, "out of memory");
	}
	free(uids);
	op_close(&o);
	if (rc) {
		qm_client_server_hits_free(&h.v, h.n);
		return rc;
	}
	*out = h.v;
	*n = h.n;
	return QM_OK;
}

/* ------------------------------------------------ a body on demand */

/* How long the reader waits for a sync of the account before fetching a
 * plain body without it. */
#define BODY_LOCK_WAIT_S 2

/* The body of header-only message m fetched from place p (its folder
 * selected, UIDVALIDITY checked) and filed; *id gets the message's id
 * after (another when the body was not plain mail and replaced it). */
static enum qm_err body_from(struct op *o, const struct msg_at *m,
                             const struct qm_store_place *p,
                             const struct qm_store_folder *f, int64_t *id,
                             struct qm_error *err)
{
	const struct qm_store_msg *rec = &m->l->items[0];
	struct qm_client_sync_stats st;
	struct recv_ctx ctx;
	struct incoming in;
	struct qm_buf raw;
	enum qm_err rc;

	memset(&st, 0, sizeof(st));
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = &st;
	qm_buf_init(&raw,
	            o->ac.lim.max_size ? o->ac.lim.max_size : QM_CLIENT_MAXMSG);
	rc = qm_mail_imap_fetch(o->im, (uint32_t)p->uid, &raw, err);
	memset(&in, 0, sizeof(in));
	in.folder = f->name;
	in.uidvalidity = f->uidvalidity;
	in.uid = p->uid;
	in.folder_id = f->id;
	in.flags = p->flags;
	in.raw = raw.data;
	in.rawlen = raw.len;
	in.replace_id = rec->id;
	in.replaced = QM_VERIFY_NOT_QMAIL;
	in.header_only = 1;
	in.plain_only = o->lock < 0;
	in.expect_mid = rec->message_id;
	in.expect_size = rec->size;
	if (!rc)
		rc = client_recv_file(o->c, &o->ac, &ctx, &in, err);
	if (!rc && ctx.body_refused)
		rc = qm_error_set(err, QM_ERR_PROTO, "%s", ctx.last_reason);
	else if (!rc && ctx.body_deferred)
		rc = qm_error_set(err, QM_ERR_UNAVAIL,
		                  "message %lld is a QMail message, not the "
		                  "plain message its headers said: it is "
		                  "opened by the sync of %s under way",
		                  (long long)rec->id, o->ac.a.address);
	else if (!rc)
		*id = ctx.last_id ? ctx.last_id : rec->id;
	qm_buf_free(&raw);
	return rc;
}

enum qm_err client_msg_body_fetch(struct qm_client *c, int64_t *id,
                                  struct qm_error *err)
{
	struct msg_at m;
	struct op o;
	struct qm_error le;
	enum qm_err rc;
	int tried = 0;

	rc = msg_at_load(c, *id, &m, err);
	if (rc)
		return rc;
	if (!m.l->items[0].body_pending) {
		msg_at_free(&m);
		return QM_OK;
	}
	rc = op_load(c, m.l->items[0].account_id,
	             "download the body of a message", &o, err);
	if (!rc && is_pop3(&o.ac))
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "the body of message %lld was never "
		                  "downloaded and %s reads mail over POP3",
		                  (long long)*id, o.ac.a.address);
	if (rc)
		goto out;
	/* with the sync lock the body may be opened whatever it is; without
	 * it (a sync under way) only plain mail is filed (in.plain_only) */
	qm_error_clear(&le);
	if (client_sync_lock(c, o.ac.a.id, BODY_LOCK_WAIT_S,
	                     "download the body of a message", &o.lock,
	                     &le) != QM_OK)
		o.lock = -1;
	client_acct_conn_server(&o.ac, &o.ac.a.imap, &o.srv);
	rc = qm_mail_imap_open(&o.srv, &o.im, err);
	if (rc) {
		qm_error_prefix(err,
		                "the body of message %lld has not been "
		                "downloaded yet; connect to the mail server of "
		                "%s to read it: ",
		                (long long)*id, o.ac.a.address);
		rc = QM_ERR_UNAVAIL;
		if (err)
			err->code = QM_ERR_UNAVAIL;
		goto out;
	}
	rc = folders_load(&o, err);
	for (size_t i = 0; !rc && i < m.np; i++) {
		const struct qm_store_folder *f =
		    folder_by_id(&o, m.p[i].folder_id);
		struct qm_mail_imap_folder_state st;

		if (!f)
			continue;
		tried = 1;
		rc = select_checked(&o, f, &st, err);
		if (!rc)
			rc = body_from(&o, &m, &m.p[i], f, id, err);
		if (rc != QM_ERR_NOTFOUND || i + 1 == m.np)
			break;
		qm_error_clear(err); /* gone from there: the next place */
		rc = QM_OK;
	}
	if (!rc && !tried)
		rc = qm_error_set(
		    err, QM_ERR_NOTFOUND,
		    "the body of message %lld has not been "
		    "downloaded, and the last sync of %s saw it in "
		    "no folder on the server",
		    (long long)*id, o.ac.a.address);
out:
	op_close(&o);
	msg_at_free(&m);
	return rc;
}
