/* SPDX-License-Identifier: MIT */
/*
 * IMAP folder state and sync: SELECT / EXAMINE with what they report
 * (UIDVALIDITY, UIDNEXT, EXISTS, HIGHESTMODSEQ, PERMANENTFLAGS), ENABLE
 * QRESYNC, and "what changed since (uidvalidity, modseq, known UIDs)":
 * one SELECT (QRESYNC ...) with its VANISHED (EARLIER) and FETCH replies
 * (RFC 7162), or CHANGEDSINCE and the UID list under CONDSTORE alone, or
 * every UID's flags compared with what the caller knew.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/private.h"

/* A FETCH seen: UID, flags, and its order (the last one wins). */
struct seen {
	uint32_t uid;
	unsigned flags;
	size_t seq;
};

struct sel_ctx {
	struct qm_mail_imap_folder_state st;
	int have_perm; /* PERMANENTFLAGS came */
	int nomodseq;
	int collect; /* gather VANISHED (EARLIER) and FETCH replies */
	struct mail_uidv vanished;
	struct seen *fv;
	size_t fn, fcap;
};

static void sel_free(struct sel_ctx *c)
{
	free(c->vanished.v);
	free(c->fv);
	c->vanished.v = NULL;
	c->fv = NULL;
	c->vanished.n = c->vanished.cap = c->fn = c->fcap = 0;
}

static enum qm_err seen_push(struct sel_ctx *c, uint32_t uid, unsigned flags,
                             struct qm_error *err)
{
	if (c->fn == c->fcap) {
		size_t nc = c->fcap ? c->fcap * 2 : 64;
		void *t;

		if (c->fn >= MAIL_IMAP_MAXUIDS)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "IMAP: more than %zu messages in "
			                    "one answer",
			                    (size_t)MAIL_IMAP_MAXUIDS);
		if (!(t = reallocarray(c->fv, nc, sizeof(*c->fv))))
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		c->fv = t;
		c->fcap = nc;
	}
	c->fv[c->fn].uid = uid;
	c->fv[c->fn].flags = flags;
	c->fv[c->fn].seq = c->fn;
	c->fn++;
	return QM_OK;
}

static int cmp_seen(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	if (x->uid != y->uid)
		return x->uid < y->uid ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorts by UID, keeping the last reply for each. */
static void seen_sort(struct sel_ctx *c)
{
	size_t j = 0;

	if (c->fn > 1)
		qsort(c->fv, c->fn, sizeof(*c->fv), cmp_seen);
	for (size_t i = 0; i < c->fn; i++) {
		if (j && c->fv[j - 1].uid == c->fv[i].uid)
			c->fv[j - 1] = c->fv[i];
		else
			c->fv[j++] = c->fv[i];
	}
	c->fn = j;
}

/* A FETCH reply with UID and FLAGS, collected. */
static enum qm_err on_fetch_flags(struct qm_mail_imap *im, const char *s,
                                  size_t n, struct mail_imap_item *it,
                                  void *arg, struct qm_error *err)
{
	struct sel_ctx *c = arg;
	uint32_t uid = mail_imap_fetch_uid(s);

	(void)im;
	(void)n;
	(void)it;
	if (uid == 0 || !strcasestr(s, "FLAGS ("))
		return QM_OK;
	return seen_push(c, uid, mail_imap_fetch_flags(s), err);
}

static enum qm_err on_select(struct qm_mail_imap *im, const char *s, size_t n,
                             struct mail_imap_item *it, void *arg,
                             struct qm_error *err)
{
	struct sel_ctx *c = arg;

	if (strncasecmp(s, "* OK [UIDVALIDITY ", 18) == 0) {
		c->st.uidvalidity = mail_imap_code(s, "[UIDVALIDITY ");
	} else if (strncasecmp(s, "* OK [UIDNEXT ", 14) == 0) {
		c->st.uidnext = mail_imap_code(s, "[UIDNEXT ");
	} else if (strncasecmp(s, "* OK [HIGHESTMODSEQ ", 20) == 0) {
		c->st.highestmodseq = mail_imap_code64(s, "[HIGHESTMODSEQ ");
	} else if (strncasecmp(s, "* OK [NOMODSEQ]", 15) == 0) {
		c->nomodseq = 1;
	} else if (strncasecmp(s, "* OK [PERMANENTFLAGS (", 22) == 0) {
		int star = 0;

		c->st.permanent = mail_imap_flag_list(s + 21, &star);
		if (star)
			c->st.permanent |= QM_MAIL_FLAG_KEYWORDS;
		c->have_perm = 1;
	} else if (c->collect &&
	           strncasecmp(s, "* VANISHED (EARLIER) ", 21) == 0) {
		const char *p = s + 21;
		return mail_uidset_parse(&p, &c->vanished, MAIL_IMAP_MAXUIDS,
		                         err);
	} else if (c->collect && strchr(s + 2, ' ') &&
	           strncasecmp(strchr(s + 2, ' '), " FETCH (", 8) == 0) {
		return on_fetch_flags(im, s, n, it, arg, err);
	}
	return QM_OK;
}

enum qm_err mail_imap_enable_qresync(struct qm_mail_imap *im,
                                     struct qm_error *err)
{
	enum qm_err e;

	if (im->qresync || !qm_mail_imap_has_cap(im, "QRESYNC"))
		return QM_OK;
	/* RFC 5161: ENABLE before a folder is selected */
	if (im->uidvalidity && qm_mail_imap_has_cap(im, "UNSELECT")) {
		if ((e = mail_imap_run(im, NULL, NULL, NULL, err, "UNSELECT")))
			return e;
		im->uidvalidity = 0;
		im->selected[0] = '\0';
	}
	e = mail_imap_run(im, NULL, NULL, NULL, err, "ENABLE QRESYNC");
	if (e == QM_ERR_PROTO && !im->broken) {
		/* refused: go on without it (CONDSTORE or a full compare) */
		qm_error_clear(err);
		im->qresync = -1;
		return QM_OK;
	}
	if (e == QM_OK)
		im->qresync = 1;
	return e;
}

/* SELECT or EXAMINE folder with the parameter list param ("" or
 * " (CONDSTORE)" ...), parsing what it reports into c. */
static enum qm_err select_core(struct qm_mail_imap *im, const char *folder,
                               int read_only, const char *param,
                               struct sel_ctx *c, struct qm_error *err)
{
	char q[MAIL_IMAP_NAMEMAX * 2 + 8];
	struct qm_buf ok;
	struct qm_buf *was = im->tagged_ok;
	enum qm_err e;

	if (!folder || strlen(folder) > MAIL_IMAP_NAMEMAX)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "folder name missing or too long");
	if ((e = mail_imap_quote(folder, q, sizeof(q), err)))
		return e;
	im->exists = 0;
	im->uidvalidity = 0;
	im->selected[0] = '\0';
	im->highestmodseq = 0;
	qm_buf_init(&ok, 1024);
	im->tagged_ok = &ok;
	e = mail_imap_run(im, NULL, on_select, c, err, "%s %s%s",
	                  read_only ? "EXAMINE" : "SELECT", q, param);
	im->tagged_ok = was;
	if (e == QM_OK && c->st.uidvalidity == 0)
		e = qm_error_set(err, QM_ERR_PROTO,
		                 "IMAP %s: SELECT %s gave no UIDVALIDITY",
		                 im->srv->host, folder);
	if (e == QM_OK) {
		c->st.exists = im->exists;
		c->st.read_only =
		    read_only || (ok.data && strcasestr((const char *)ok.data,
		                                        "[READ-ONLY]"));
		if (c->nomodseq)
			c->st.highestmodseq = 0;
		/* RFC 3501: no PERMANENTFLAGS means every flag sticks */
		if (!c->have_perm)
			c->st.permanent =
			    QM_MAIL_FLAG_SYSTEM | QM_MAIL_FLAG_KEYWORDS;
		if (c->st.read_only)
			c->st.permanent = 0;
		im->uidvalidity = c->st.uidvalidity;
		im->highestmodseq = c->st.highestmodseq;
		im->permanent = c->st.permanent;
		im->read_only = c->st.read_only;
		qm_strlcpy(im->selected, folder, sizeof(im->selected));
	}
	qm_buf_free(&ok);
	return e;
}

/* The CONDSTORE select parameter when it is useful. */
static const char *condstore_param(const struct qm_mail_imap *im)
{
	return im->qresync != 1 && qm_mail_imap_has_cap(im, "CONDSTORE")
	           ? " (CONDSTORE)"
	           : "";
}

enum qm_err qm_mail_imap_folder_select(struct qm_mail_imap *im,
                                       const char *folder, int read_only,
                                       struct qm_mail_imap_folder_state *st,
                                       struct qm_error *err)
{
	struct sel_ctx c = {0};
	enum qm_err e;

	if ((e = mail_imap_enable_qresync(im, err)))
		return e;
	e = select_core(im, folder, read_only, condstore_param(im), &c, err);
	if (e == QM_OK && st)
		*st = c.st;
	sel_free(&c);
	return e;
}

enum qm_err qm_mail_imap_select(struct qm_mail_imap *im, const char *folder,
                                struct qm_mail_imap_status *st,
                                struct qm_error *err)
{
	struct sel_ctx c = {0};
	enum qm_err e;

	/* a plain SELECT, as before (QRESYNC stays off unless a folder
	 * sync asks for it) */
	e = select_core(im, folder, 0, "", &c, err);
	if (e == QM_OK && st) {
		st->uidvalidity = c.st.uidvalidity;
		st->uidnext = c.st.uidnext;
		st->exists = c.st.exists;
	}
	sel_free(&c);
	return e;
}

/* ---------------------------------------------------------------- sync */

void qm_mail_imap_changes_free(struct qm_mail_imap_changes **pc)
{
	struct qm_mail_imap_changes *c = pc ? *pc : NULL;

	if (!c)
		return;
	free(c->added);
	free(c->changed);
	free(c->vanished);
	free(c);
	*pc = NULL;
}

static int cmp_uf(const void *a, const void *b)
{
	const struct qm_mail_uid_flags *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* What the caller knows, sorted by UID without duplicates. */
static enum qm_err known_sorted(const struct qm_mail_imap_known *k,
                                struct qm_mail_uid_flags **out, size_t *n,
                                struct qm_error *err)
{
	struct qm_mail_uid_flags *v;
	size_t j = 0;

	*out = NULL;
	*n = 0;
	if (!k || !k->nmsgs)
		return QM_OK;
	if (!k->msgs || k->nmsgs > MAIL_IMAP_MAXUIDS)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the known messages are missing or too "
		                    "many");
	if (!(v = malloc(k->nmsgs * sizeof(*v))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	memcpy(v, k->msgs, k->nmsgs * sizeof(*v));
	qsort(v, k->nmsgs, sizeof(*v), cmp_uf);
	for (size_t i = 0; i < k->nmsgs; i++)
		if (v[i].uid && (j == 0 || v[j - 1].uid != v[i].uid))
			v[j++] = v[i];
	*out = v;
	*n = j;
	return QM_OK;
}

static const struct qm_mail_uid_flags *
known_find(const struct qm_mail_uid_flags *v, size_t n, uint32_t uid)
{
	struct qm_mail_uid_flags key = {uid, 0};

	return n ? bsearch(&key, v, n, sizeof(*v), cmp_uf) : NULL;
}

struct ufv {
	struct qm_mail_uid_flags *v;
	size_t n, cap;
};

static enum qm_err ufv_push(struct ufv *u, uint32_t uid, unsigned flags,
                            struct qm_error *err)
{
	if (u->n == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 64;
		void *t = reallocarray(u->v, nc, sizeof(*u->v));
		if (!t)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		u->v = t;
		u->cap = nc;
	}
	u->v[u->n].uid = uid;
	u->v[u->n].flags = flags;
	u->n++;
	return QM_OK;
}

/* Splits the FETCH replies in c into new and changed against kv. */
static enum qm_err classify(const struct sel_ctx *c,
                            const struct qm_mail_uid_flags *kv, size_t kn,
                            struct ufv *added, struct ufv *changed,
                            struct qm_error *err)
{
	enum qm_err e = QM_OK;

	for (size_t i = 0; i < c->fn && e == QM_OK; i++) {
		const struct qm_mail_uid_flags *k =
		    known_find(kv, kn, c->fv[i].uid);
		if (!k)
			e = ufv_push(added, c->fv[i].uid, c->fv[i].flags, err);
		else if (k->flags != c->fv[i].flags)
			e = ufv_push(changed, c->fv[i].uid, c->fv[i].flags,
			             err);
	}
	return e;
}

/* The known UIDs not in the ascending list now[0..nn). */
static enum qm_err gone(const struct qm_mail_uid_flags *kv, size_t kn,
                        const uint32_t *now, size_t nn, struct mail_uidv *out,
                        struct qm_error *err)
{
	enum qm_err e;

	for (size_t i = 0; i < kn; i++)
		if (!mail_uids_has(now, nn, kv[i].uid) &&
		    (e = mail_uidv_push(out, kv[i].uid, err)))
			return e;
	return QM_OK;
}

/* UID FETCH of set with FLAGS (and the CHANGEDSINCE modifier when
 * since is not 0) into c's FETCH list. */
static enum qm_err fetch_flags(struct qm_mail_imap *im, const char *set,
                               uint64_t since, struct sel_ctx *c,
                               struct qm_error *err)
{
	if (since)
		return mail_imap_run(im, NULL, on_fetch_flags, c, err,
		                     "UID FETCH %s (UID FLAGS) (CHANGEDSINCE "
		                     "%llu)",
		                     set, (unsigned long long)since);
	return mail_imap_run(im, NULL, on_fetch_flags, c, err,
	                     "UID FETCH %s (UID FLAGS)", set);
}

/* The new UIDs whose flags no FETCH reply gave: fetch them. */
static enum qm_err fill_flags(struct qm_mail_imap *im, const uint32_t *now,
                              size_t nn, const struct qm_mail_uid_flags *kv,
                              size_t kn, struct sel_ctx *c,
                              struct qm_error *err)
{
	struct mail_uidv want = {0};
	struct qm_buf set;
	enum qm_err e = QM_OK;

	for (size_t i = 0; i < nn && e == QM_OK; i++) {
		struct seen key = {now[i], 0, 0};
		int have = 0;

		if (known_find(kv, kn, now[i]))
			continue;
		/* c->fv is sorted by UID (seq ties only) */
		for (size_t lo = 0, hi = c->fn; lo < hi;) {
			size_t mid = lo + (hi - lo) / 2;
			if (c->fv[mid].uid == key.uid) {
				have = 1;
				break;
			}
			if (c->fv[mid].uid < key.uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!have)
			e = mail_uidv_push(&want, now[i], err);
	}
	qm_buf_init(&set, MAIL_IMAP_SETMAX + 32);
	for (size_t i = 0; e == QM_OK && i < want.n;) {
		qm_buf_reset(&set);
		if ((e = mail_uidset_next(want.v, want.n, &i, &set,
		                          MAIL_IMAP_SETMAX, err)) == QM_OK)
			e = fetch_flags(im, (const char *)set.data, 0, c, err);
	}
	qm_buf_free(&set);
	free(want.v);
	if (e == QM_OK)
		seen_sort(c);
	return e;
}

/* The SELECT (QRESYNC (v m [uids])) parameter. */
static enum qm_err qresync_param(const struct qm_mail_imap_known *k,
                                 const struct qm_mail_uid_flags *kv, size_t kn,
                                 struct qm_buf *out, struct qm_error *err)
{
	struct mail_uidv u = {0};
	struct qm_buf set;
	size_t i = 0;
	enum qm_err e = QM_OK;

	qm_buf_init(&set, MAIL_IMAP_SETMAX + 32);
	for (size_t j = 0; j < kn && e == QM_OK; j++)
		e = mail_uidv_push(&u, kv[j].uid, err);
	if (e == QM_OK && u.n)
		e = mail_uidset_next(u.v, u.n, &i, &set, MAIL_IMAP_SETMAX, err);
	/* a known-UID list too long for one command is left out: the
	 * server then reports every expunge since the mod-sequence */
	if (e == QM_OK)
		e = qm_buf_appendf(out, err, " (QRESYNC (%u %llu%s%s))",
		                   (unsigned)k->uidvalidity,
		                   (unsigned long long)k->highestmodseq,
		                   u.n && i == u.n ? " " : "",
		                   u.n && i == u.n ? (const char *)set.data
		                                   : "");
	qm_buf_free(&set);
	free(u.v);
	return e;
}

/* The UIDs of the selected folder now (UID SEARCH ALL). */
static enum qm_err all_uids(struct qm_mail_imap *im, struct mail_uidv *out,
                            struct qm_error *err)
{
	struct mail_imap_cmd c;
	enum qm_err e;

	if (im->exists == 0)
		return QM_OK;
	mail_imap_search_begin(im, &c);
	e = mail_imap_cmd_add(&c, err, "ALL");
	if (e == QM_OK)
		e = mail_imap_search_exec(im, &c, out, err);
	mail_imap_cmd_free(&c);
	return e;
}

/* Moves the vectors into the result. */
static void hand_over(struct qm_mail_imap_changes *ch, struct ufv *added,
                      struct ufv *changed, struct mail_uidv *vanished)
{
	if (added->n > 1)
		qsort(added->v, added->n, sizeof(*added->v), cmp_uf);
	if (changed->n > 1)
		qsort(changed->v, changed->n, sizeof(*changed->v), cmp_uf);
	mail_uidv_sort(vanished);
	ch->added = added->v;
	ch->nadded = added->n;
	ch->changed = changed->v;
	ch->nchanged = changed->n;
	ch->vanished = vanished->v;
	ch->nvanished = vanished->n;
	added->v = changed->v = NULL;
	vanished->v = NULL;
}

enum qm_err qm_mail_imap_folder_sync(struct qm_mail_imap *im,
                                     const char *folder,
                                     const struct qm_mail_imap_known *known,
                                     struct qm_mail_imap_changes **out,
                                     struct qm_error *err)
{
	static const struct qm_mail_imap_known none = {0};
	const struct qm_mail_imap_known *k = known ? known : &none;
	struct qm_mail_imap_changes *ch = NULL;
	struct qm_mail_uid_flags *kv = NULL;
	size_t kn = 0;
	struct sel_ctx c = {0};
	struct ufv added = {0}, changed = {0};
	struct mail_uidv vanished = {0}, now = {0};
	struct qm_buf param;
	uint32_t top;
	int try_qr;
	enum qm_err e;

	if (!im || !out)
		return qm_error_set(err, QM_ERR_INVAL, "no IMAP session given");
	qm_buf_init(&param, MAIL_IMAP_SETMAX + 128);
	if ((e = known_sorted(k, &kv, &kn, err)) ||
	    (e = mail_imap_enable_qresync(im, err)))
		goto out;
	if (!(ch = calloc(1, sizeof(*ch)))) {
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	try_qr = im->qresync == 1 && k->uidvalidity && k->highestmodseq;
	if (try_qr)
		e = qresync_param(k, kv, kn, &param, err);
	else
		e = qm_buf_append_str(&param, condstore_param(im), err);
	if (e)
		goto out;
	c.collect = try_qr;
	if ((e = select_core(im, folder, 0,
	                     param.data ? (const char *)param.data : "", &c,
	                     err)))
		goto out;
	ch->st = c.st;
	if (k->uidvalidity != c.st.uidvalidity) {
		/* a new or rebuilt folder: nothing held is valid */
		ch->resync = k->uidvalidity != 0;
		kn = 0;
	}
	seen_sort(&c);
	if (k->uidvalidity == c.st.uidvalidity && try_qr &&
	    c.st.highestmodseq && c.st.highestmodseq >= k->highestmodseq) {
		/* QRESYNC: the SELECT said it all */
		ch->mode = QM_MAIL_IMAP_SYNC_QRESYNC;
		/* servers report changes to the known UIDs; what came after
		 * them is asked for when UIDNEXT says something did */
		top = kn ? kv[kn - 1].uid : 0;
		if (top < UINT32_MAX &&
		    (c.st.uidnext == 0 || c.st.uidnext > top + 1) &&
		    c.st.exists) {
			char set[32];

			snprintf(set, sizeof(set), "%u:*", (unsigned)top + 1);
			if ((e = fetch_flags(im, set, 0, &c, err)))
				goto out;
			seen_sort(&c);
		}
		for (size_t i = 0; i < c.vanished.n && e == QM_OK; i++)
			if (known_find(kv, kn, c.vanished.v[i]))
				e = mail_uidv_push(&vanished, c.vanished.v[i],
				                   err);
		if (e == QM_OK)
			e = classify(&c, kv, kn, &added, &changed, err);
		goto done;
	}
	sel_free(&c);
	if (k->uidvalidity == c.st.uidvalidity && k->highestmodseq &&
	    c.st.highestmodseq && c.st.highestmodseq >= k->highestmodseq &&
	    (qm_mail_imap_has_cap(im, "CONDSTORE") || im->qresync == 1)) {
		/* CONDSTORE: flag changes since the mod-sequence, then the
		 * UID list for what came and went */
		ch->mode = QM_MAIL_IMAP_SYNC_CONDSTORE;
		if (c.st.highestmodseq == k->highestmodseq && c.st.exists == kn)
			goto done; /* nothing came, changed or went */
		if (c.st.highestmodseq != k->highestmodseq && c.st.exists &&
		    (e = fetch_flags(im, "1:*", k->highestmodseq, &c, err)))
			goto out;
		seen_sort(&c);
		if ((e = all_uids(im, &now, err)) ||
		    (e = gone(kv, kn, now.v, now.n, &vanished, err)) ||
		    (e = fill_flags(im, now.v, now.n, kv, kn, &c, err)))
			goto out;
		/* a reply for a message expunged meanwhile is not news */
		{
			size_t j = 0;
			for (size_t i = 0; i < c.fn; i++)
				if (mail_uids_has(now.v, now.n, c.fv[i].uid))
					c.fv[j++] = c.fv[i];
			c.fn = j;
		}
		e = classify(&c, kv, kn, &added, &changed, err);
		goto done;
	}
	/* no mod-sequences to go by: every UID with its flags */
	ch->mode = QM_MAIL_IMAP_SYNC_FULL;
	if (c.st.exists && (e = fetch_flags(im, "1:*", 0, &c, err)))
		goto out;
	seen_sort(&c);
	for (size_t i = 0; i < c.fn && e == QM_OK; i++)
		e = mail_uidv_push(&now, c.fv[i].uid, err);
	if (e == QM_OK)
		e = gone(kv, kn, now.v, now.n, &vanished, err);
	if (e == QM_OK)
		e = classify(&c, kv, kn, &added, &changed, err);
done:
	if (e == QM_OK) {
		hand_over(ch, &added, &changed, &vanished);
		*out = ch;
		ch = NULL;
	}
out:
	qm_mail_imap_changes_free(&ch);
	qm_buf_free(&param);
	sel_free(&c);
	free(added.v);
	free(changed.v);
	free(vanished.v);
	free(now.v);
	free(kv);
	return e;
}
