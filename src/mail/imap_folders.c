/* SPDX-License-Identifier: MIT */
/*
 * IMAP folders: the listing (LIST with the RFC 5258 / 6154 return options
 * SUBSCRIBED and SPECIAL-USE where offered, else LIST and LSUB; counts by
 * LIST-STATUS or STATUS), special use by the server's marks or, for a use
 * it marks on no folder, by the provider names (Gmail, Outlook, Apple,
 * plain), modified UTF-7 names decoded for people, and CREATE, RENAME,
 * DELETE, SUBSCRIBE / UNSUBSCRIBE, STATUS.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/private.h"

#define MAXFOLDERS 100000
/* the bytes of names and display names one listing keeps: a name may be
 * 1000 bytes, but 100,000 such would be 400 MB on a hostile server's word */
#define MAXNAMEBYTES ((size_t)16 << 20)
#define LISTLIT      ((size_t)64 << 10) /* a name sent as a literal */

/* ------------------------------------------------------------ parsing */

static const struct {
	const char *a;
	unsigned f;
} list_attrs[] = {
    {"\\Noselect", QM_MAIL_FOLDER_NOSELECT},
    {"\\NonExistent", QM_MAIL_FOLDER_NOSELECT | QM_MAIL_FOLDER_NONEXISTENT},
    {"\\Noinferiors", QM_MAIL_FOLDER_NOINFERIORS},
    {"\\HasChildren", QM_MAIL_FOLDER_HASCHILDREN},
    {"\\Subscribed", QM_MAIL_FOLDER_SUBSCRIBED},
    {"\\Sent", QM_MAIL_FOLDER_SENT},
    {"\\Drafts", QM_MAIL_FOLDER_DRAFTS},
    {"\\Trash", QM_MAIL_FOLDER_TRASH},
    {"\\Junk", QM_MAIL_FOLDER_JUNK},
    {"\\Archive", QM_MAIL_FOLDER_ARCHIVE},
    {"\\All", QM_MAIL_FOLDER_ALL},
    {"\\Flagged", QM_MAIL_FOLDER_FLAGGED},
    {"\\Important", QM_MAIL_FOLDER_IMPORTANT}};

/* The attributes of the list "(...)" at p (p at '('); *pp past ')'. */
static unsigned parse_attrs(const char **pp)
{
	const char *p = *pp + 1;
	unsigned r = 0;

	while (*p && *p != ')') {
		size_t n;

		while (*p == ' ')
			p++;
		n = strcspn(p, " )");
		for (size_t i = 0; i < sizeof(list_attrs) / sizeof(*list_attrs);
		     i++)
			if (strlen(list_attrs[i].a) == n &&
			    strncasecmp(p, list_attrs[i].a, n) == 0)
				r |= list_attrs[i].f;
		p += n;
	}
	if (*p == ')')
		p++;
	*pp = p;
	return r;
}

/* UTF-8 for people from bytes that may not be: invalid bytes become
 * U+FFFD, control characters (C0, DEL, C1) a space. */
static char *clean_utf8(const char *s)
{
	size_t n = strlen(s);
	char *r = malloc(3 * n + 1);
	const unsigned char *p = (const unsigned char *)s;
	size_t j = 0;

	if (!r)
		return NULL;
	while (*p) {
		size_t k = 0;
		if (*p < 0x80)
			k = 1;
		else if (*p >= 0xc2 && *p <= 0xdf)
			k = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			k = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			k = 4;
		for (size_t i = 1; i < k; i++)
			if ((p[i] & 0xc0) != 0x80)
				k = 0;
		if (k == 0) {
			memcpy(r + j, "\xef\xbf\xbd", 3);
			j += 3;
			p++;
			continue;
		}
		if ((k == 1 && (*p < 0x20 || *p == 0x7f)) ||
		    (k == 2 && p[0] == 0xc2 && p[1] < 0xa0))
			r[j++] = ' ';
		else
			memcpy(r + j, p, k), j += k;
		p += k;
	}
	r[j] = '\0';
	return r;
}

/* The name for people: decoded from modified UTF-7 when it is that, and
 * cleaned either way (a valid name may encode ESC, CR or LF). */
static char *display_name(const char *name)
{
	char *d = NULL, *r;

	if (qm_mail_imap_name_decode(name, &d, NULL) != QM_OK)
		return clean_utf8(name);
	r = clean_utf8(d);
	free(d);
	return r;
}

struct fl_ctx {
	struct qm_mail_imap_folders *f;
	size_t cap;
	int lsub;      /* the responses are LSUB's */
	size_t *index; /* folder indices sorted by name (for LSUB) */
	size_t nindex; /* how many: the folders when it was built */
	struct qm_mail_imap_counts *status; /* one STATUS reply wanted */
	const char *status_name;            /* the folder it is for */
	const char *const *many_names;    /* STATUS replies wanted for these */
	struct qm_mail_imap_counts *many; /* ... into these */
	size_t nmany;
	size_t bytes; /* of the names and display names kept */
};

static void folder_clear(struct qm_mail_imap_folder *f)
{
	free(f->name);
	free(f->display);
	memset(f, 0, sizeof(*f));
}

void qm_mail_imap_folders_free(struct qm_mail_imap_folders **pf)
{
	struct qm_mail_imap_folders *f = pf ? *pf : NULL;

	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		folder_clear(&f->v[i]);
	free(f->v);
	free(f);
	*pf = NULL;
}

static const struct qm_mail_imap_folders *sort_base;

static int cmp_index(const void *a, const void *b)
{
	return strcmp(sort_base->v[*(const size_t *)a].name,
	              sort_base->v[*(const size_t *)b].name);
}

/* The folder named name, or NULL (c->index when built, else a scan).
 * With the index, only the folders it covers: those added after it (an
 * LSUB's folders that are gone) are not looked at, so that a hostile
 * LSUB of many such names costs no quadratic scan. */
static struct qm_mail_imap_folder *find_name(const struct fl_ctx *c,
                                             const char *name)
{
	size_t lo = 0, hi = c->nindex;

	if (!c->index) {
		for (size_t i = c->f->n; i-- > 0;)
			if (strcmp(c->f->v[i].name, name) == 0)
				return &c->f->v[i];
		return NULL;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(c->f->v[c->index[mid]].name, name);
		if (r == 0)
			return &c->f->v[c->index[mid]];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static enum qm_err add_folder(struct fl_ctx *c, struct qm_mail_imap_folder *nf,
                              struct qm_error *err)
{
	struct qm_mail_imap_folders *f = c->f;
	size_t b = strlen(nf->name) + strlen(nf->display) + 2;

	if (b > MAXNAMEBYTES - c->bytes)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "IMAP: the folder names are more than %zu "
		                    "bytes together",
		                    MAXNAMEBYTES);
	if (f->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		void *t = nc > MAXFOLDERS
		              ? NULL
		              : reallocarray(f->v, nc, sizeof(*f->v));
		if (!t)
			return qm_error_set(
			    err, QM_ERR_TOOBIG,
			    "IMAP: more than %d folders, or out "
			    "of memory",
			    MAXFOLDERS);
		f->v = t;
		c->cap = nc;
	}
	f->v[f->n++] = *nf;
	c->bytes += b;
	memset(nf, 0, sizeof(*nf));
	return QM_OK;
}

/* "(MESSAGES 3 UNSEEN 1 ...)" at p into counts. */
static void parse_status(const char *p, struct qm_mail_imap_counts *k)
{
	while (*p == ' ')
		p++;
	if (*p != '(')
		return;
	memset(k, 0, sizeof(*k));
	k->messages = mail_imap_code(p, "MESSAGES ");
	k->unseen = mail_imap_code(p, "UNSEEN ");
	k->uidnext = mail_imap_code(p, "UIDNEXT ");
	k->uidvalidity = mail_imap_code(p, "UIDVALIDITY ");
	k->highestmodseq = mail_imap_code64(p, "HIGHESTMODSEQ ");
	k->valid = 1;
}

static enum qm_err on_status(struct qm_mail_imap *im, const char *s,
                             struct mail_imap_item *it, struct fl_ctx *c,
                             struct qm_error *err)
{
	const char *p = s + 9;
	struct qm_mail_imap_folder *f;
	char *name;

	(void)im;
	if (!(name = mail_imap_astring(&p, it)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (c->status) {
		if (c->status_name && strcmp(name, c->status_name) == 0)
			parse_status(p, c->status);
	} else if (c->many) {
		for (size_t i = 0; i < c->nmany; i++)
			if (strcmp(name, c->many_names[i]) == 0)
				parse_status(p, &c->many[i]);
	} else if (c->f && c->f->n) {
		/* LIST-STATUS: right after the folder's LIST reply */
		f = &c->f->v[c->f->n - 1];
		if (strcmp(f->name, name) == 0)
			parse_status(p, &f->counts);
	}
	free(name);
	if (it->lit)
		qm_buf_reset(it->lit);
	return QM_OK;
}

/* One LIST or LSUB reply into c. */
static enum qm_err list_reply(struct qm_mail_imap *im, const char *s,
                              struct mail_imap_item *it, struct fl_ctx *c,
                              struct qm_error *err)
{
	struct qm_mail_imap_folder nf = {0};
	const char *p;
	enum qm_err e;

	p = s + 7;
	if (!strchr(p, ')'))
		return mail_imap_fail(im, QM_ERR_PROTO, err,
		                      "malformed %s reply",
		                      c->lsub ? "LSUB" : "LIST");
	nf.attrs = parse_attrs(&p);
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "NIL", 3) == 0) {
		p += 3;
	} else {
		char *d = mail_imap_astring(&p, it);
		if (!d)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		nf.delim = strlen(d) == 1 ? d[0] : '\0';
		free(d);
	}
	if (!(nf.name = mail_imap_astring(&p, it)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (!*nf.name || strlen(nf.name) > MAIL_IMAP_NAMEMAX) {
		/* "" is the hierarchy root; a longer name we could not send */
		folder_clear(&nf);
		return QM_OK;
	}
	if (strcasecmp(nf.name, "INBOX") == 0)
		nf.attrs |= QM_MAIL_FOLDER_INBOX;
	if (c->lsub) {
		struct qm_mail_imap_folder *f = find_name(c, nf.name);

		/* LSUB's \Noselect: a parent that is not subscribed itself */
		if (f && !(nf.attrs & QM_MAIL_FOLDER_NOSELECT))
			f->attrs |= QM_MAIL_FOLDER_SUBSCRIBED;
		if (f || (nf.attrs & QM_MAIL_FOLDER_NOSELECT)) {
			folder_clear(&nf);
			return QM_OK;
		}
		nf.attrs = (nf.attrs & QM_MAIL_FOLDER_INBOX) |
		           QM_MAIL_FOLDER_SUBSCRIBED |
		           QM_MAIL_FOLDER_NONEXISTENT | QM_MAIL_FOLDER_NOSELECT;
	}
	nf.display = display_name(nf.name);
	if (!nf.display) {
		folder_clear(&nf);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	if ((e = add_folder(c, &nf, err)))
		folder_clear(&nf);
	return e;
}

static enum qm_err on_list(struct qm_mail_imap *im, const char *s, size_t n,
                           struct mail_imap_item *it, void *arg,
                           struct qm_error *err)
{
	struct fl_ctx *c = arg;
	enum qm_err e;

	(void)n;
	if (strncasecmp(s, "* STATUS ", 9) == 0)
		return on_status(im, s, it, c, err);
	/* a listing nobody asked for (during STATUS): not ours */
	if (!c->f ||
	    strncasecmp(s, c->lsub ? "* LSUB (" : "* LIST (", 8) != 0) {
		if (it->lit)
			qm_buf_reset(it->lit);
		return QM_OK;
	}
	e = list_reply(im, s, it, c, err);
	/* the next response's literal starts an empty sink */
	if (it->lit)
		qm_buf_reset(it->lit);
	return e;
}

/* ------------------------------------------------- special use by name */

/* The provider names, by use, in the order they are tried; '/' stands
 * for the server's delimiter. */
static const struct {
	unsigned use;
	const char *const names[8];
} by_name[] = {
    {QM_MAIL_FOLDER_SENT,
     {"Sent", "Sent Items", "Sent Messages", "Sent Mail", "[Gmail]/Sent Mail",
      "[Google Mail]/Sent Mail", NULL}},
    {QM_MAIL_FOLDER_DRAFTS,
     {"Drafts", "Draft", "[Gmail]/Drafts", "[Google Mail]/Drafts", NULL}},
    {QM_MAIL_FOLDER_TRASH,
     {"Trash", "Deleted Items", "Deleted Messages", "[Gmail]/Trash",
      "[Google Mail]/Trash", "[Gmail]/Bin", "[Google Mail]/Bin", NULL}},
    {QM_MAIL_FOLDER_JUNK,
     {"Junk", "Junk Email", "Junk E-mail", "Spam", "[Gmail]/Spam",
      "[Google Mail]/Spam", NULL}},
    {QM_MAIL_FOLDER_ARCHIVE, {"Archive", "Archives", NULL}},
    {QM_MAIL_FOLDER_ALL,
     {"[Gmail]/All Mail", "[Google Mail]/All Mail", "All Mail", NULL}},
    {QM_MAIL_FOLDER_FLAGGED,
     {"[Gmail]/Starred", "[Google Mail]/Starred", "Starred", NULL}},
};

/* Whether folder f is called want ('/' for its delimiter), directly or
 * under INBOX (Courier and Cyrus put every folder there). */
static int named(const struct qm_mail_imap_folder *f, const char *want)
{
	const char *n = f->name;
	size_t i;

	if (f->delim && strncasecmp(n, "INBOX", 5) == 0 && n[5] == f->delim)
		n += 6;
	for (i = 0; want[i] && n[i]; i++) {
		char a = want[i] == '/' && f->delim ? f->delim : want[i];
		if (a != n[i] && !((a | 0x20) >= 'a' && (a | 0x20) <= 'z' &&
		                   (a | 0x20) == (n[i] | 0x20)))
			return 0;
	}
	return want[i] == '\0' && n[i] == '\0';
}

static void special_by_name(struct qm_mail_imap_folders *f)
{
	unsigned marked = 0;

	for (size_t i = 0; i < f->n; i++)
		marked |= f->v[i].attrs;
	for (size_t u = 0; u < sizeof(by_name) / sizeof(*by_name); u++) {
		int done = 0;

		if (marked & by_name[u].use)
			continue; /* the server's own marks win */
		for (size_t k = 0; by_name[u].names[k] && !done; k++)
			for (size_t i = 0; i < f->n && !done; i++) {
				struct qm_mail_imap_folder *x = &f->v[i];
				if ((x->attrs & QM_MAIL_FOLDER_NOSELECT) ||
				    (x->attrs & QM_MAIL_FOLDER_SPECIAL) ||
				    !named(x, by_name[u].names[k]))
					continue;
				x->attrs |=
				    by_name[u].use | QM_MAIL_FOLDER_BYNAME;
				done = 1;
			}
	}
}

const struct qm_mail_imap_folder *
qm_mail_imap_folders_find(const struct qm_mail_imap_folders *f, unsigned attr)
{
	if (!f || !attr)
		return NULL;
	for (size_t i = 0; i < f->n; i++)
		if ((f->v[i].attrs & attr) == attr &&
		    !(f->v[i].attrs & QM_MAIL_FOLDER_NONEXISTENT))
			return &f->v[i];
	return NULL;
}

/* ------------------------------------------------------------ listing */

/* A parent to add: its name and the delimiter of the child that named
 * it. */
struct parent {
	char *name;
	char delim;
};

static int cmp_parent(const void *a, const void *b)
{
	return strcmp(((const struct parent *)a)->name,
	              ((const struct parent *)b)->name);
}

/* Sorts c->index by folder name (c->index holds c->f->n entries). */
static enum qm_err build_index(struct fl_ctx *c, struct qm_error *err)
{
	free(c->index);
	c->index = NULL;
	c->nindex = 0;
	if (!c->f->n)
		return QM_OK;
	if (!(c->index = calloc(c->f->n, sizeof(*c->index))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	c->nindex = c->f->n;
	for (size_t i = 0; i < c->f->n; i++)
		c->index[i] = i;
	sort_base = c->f;
	if (c->f->n > 1)
		qsort(c->index, c->f->n, sizeof(*c->index), cmp_index);
	sort_base = NULL;
	return QM_OK;
}

/*
 * Every folder's parents are in the list, so that a tree can be drawn: a
 * parent the server left out (Dovecot does for "[Gmail]" under
 * LIST-EXTENDED) is added as \NonExistent; a parent gets HASCHILDREN.
 */
static enum qm_err add_parents(struct fl_ctx *c, struct qm_error *err)
{
	struct parent *want = NULL;
	const char *last = NULL;
	size_t nw = 0, cw = 0, n0 = c->f->n;
	enum qm_err e;

	if ((e = build_index(c, err)))
		return e;
	for (size_t i = 0; i < n0 && e == QM_OK; i++) {
		const struct qm_mail_imap_folder *f = &c->f->v[i];
		const char *d;

		if (!f->delim)
			continue;
		for (d = strchr(f->name, f->delim); d && e == QM_OK;
		     d = strchr(d + 1, f->delim)) {
			char *p;
			struct qm_mail_imap_folder *x;

			if (d == f->name)
				continue;
			if (!(p = mail_strndup(f->name,
			                       (size_t)(d - f->name)))) {
				e = qm_error_set(err, QM_ERR_NOMEM,
				                 "out of memory");
				break;
			}
			if ((x = find_name(c, p))) {
				x->attrs |= QM_MAIL_FOLDER_HASCHILDREN;
				free(p);
				continue;
			}
			if (nw == cw) {
				size_t nc = cw ? cw * 2 : 16;
				void *t =
				    nc > MAXFOLDERS
				        ? NULL
				        : reallocarray(want, nc, sizeof(*want));
				if (!t) {
					free(p);
					e = qm_error_set(
					    err, QM_ERR_TOOBIG,
					    "IMAP: too many folders");
					break;
				}
				want = t;
				cw = nc;
			}
			want[nw].name = p;
			want[nw++].delim = f->delim;
		}
	}
	if (e == QM_OK && nw > 1)
		qsort(want, nw, sizeof(*want), cmp_parent);
	for (size_t i = 0; i < nw && e == QM_OK; i++) {
		struct qm_mail_imap_folder nf = {0};

		if (last && strcmp(want[i].name, last) == 0)
			continue; /* named by several children */
		nf.delim = want[i].delim;
		nf.attrs = QM_MAIL_FOLDER_NOSELECT |
		           QM_MAIL_FOLDER_NONEXISTENT |
		           QM_MAIL_FOLDER_HASCHILDREN;
		nf.name = want[i].name;
		want[i].name = NULL;
		nf.display = display_name(nf.name);
		if (!nf.display)
			e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		if (e == QM_OK && (e = add_folder(c, &nf, err)) == QM_OK)
			last = c->f->v[c->f->n - 1].name;
		folder_clear(&nf);
	}
	for (size_t i = 0; i < nw; i++)
		free(want[i].name);
	free(want);
	free(c->index);
	c->index = NULL;
	return e;
}

/* The STATUS items we ask for. */
static const char *status_items(struct qm_mail_imap *im)
{
	return qm_mail_imap_has_cap(im, "CONDSTORE") ||
	               qm_mail_imap_has_cap(im, "QRESYNC")
	           ? "MESSAGES UNSEEN UIDNEXT UIDVALIDITY HIGHESTMODSEQ"
	           : "MESSAGES UNSEEN UIDNEXT UIDVALIDITY";
}

/* Lists the folders; subscriptions too when subs is set. */
static enum qm_err list_folders(struct qm_mail_imap *im, unsigned opts,
                                int subs, struct qm_mail_imap_folders **out,
                                struct qm_error *err)
{
	struct fl_ctx c = {0};
	struct qm_buf lit;
	int ext = qm_mail_imap_has_cap(im, "LIST-EXTENDED");
	int su = qm_mail_imap_has_cap(im, "SPECIAL-USE");
	int ls = (opts & QM_MAIL_IMAP_LIST_STATUS) && ext &&
	         qm_mail_imap_has_cap(im, "LIST-STATUS");
	enum qm_err e;

	if (!(c.f = calloc(1, sizeof(*c.f))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	qm_buf_init(&lit, LISTLIT);
	if (ext)
		/* RFC 5258 CHILDREN, 6154 SPECIAL-USE, 5819 STATUS */
		e = mail_imap_run(im, &lit, on_list, &c, err,
		                  "LIST \"\" \"*\" RETURN (%sCHILDREN%s%s%s%s)",
		                  subs ? "SUBSCRIBED " : "",
		                  su ? " SPECIAL-USE" : "",
		                  ls ? " STATUS (" : "",
		                  ls ? status_items(im) : "", ls ? ")" : "");
	else
		e = mail_imap_run(im, &lit, on_list, &c, err,
		                  "LIST \"\" \"*\"");
	if (e == QM_OK && subs && !ext) {
		if ((e = build_index(&c, err)) == QM_OK) {
			c.lsub = 1;
			e = mail_imap_run(im, &lit, on_list, &c, err,
			                  "LSUB \"\" \"*\"");
		}
		free(c.index);
		c.index = NULL;
	}
	if (e == QM_OK && (opts & QM_MAIL_IMAP_LIST_STATUS) && !ls)
		for (size_t i = 0; i < c.f->n && e == QM_OK; i++) {
			struct qm_mail_imap_folder *f = &c.f->v[i];
			if (f->attrs & QM_MAIL_FOLDER_NOSELECT)
				continue;
			e = qm_mail_imap_folder_status(im, f->name, &f->counts,
			                               err);
			if (e == QM_ERR_PROTO && !im->broken) {
				/* a folder the server will not count */
				qm_error_clear(err);
				e = QM_OK;
			}
		}
	qm_buf_free(&lit);
	if (e) {
		qm_mail_imap_folders_free(&c.f);
		return e;
	}
	if ((e = add_parents(&c, err))) {
		qm_mail_imap_folders_free(&c.f);
		return e;
	}
	special_by_name(c.f);
	*out = c.f;
	return QM_OK;
}

enum qm_err qm_mail_imap_folders(struct qm_mail_imap *im, unsigned opts,
                                 struct qm_mail_imap_folders **out,
                                 struct qm_error *err)
{
	if (!im || !out)
		return qm_error_set(err, QM_ERR_INVAL, "no IMAP session given");
	return list_folders(im, opts, 1, out, err);
}

void qm_mail_folders_free(struct qm_mail_folder **f, size_t n)
{
	if (!f || !*f)
		return;
	for (size_t i = 0; i < n; i++)
		free((*f)[i].name);
	free(*f);
	*f = NULL;
}

enum qm_err qm_mail_imap_list(struct qm_mail_imap *im,
                              struct qm_mail_folder **out, size_t *n,
                              struct qm_error *err)
{
	struct qm_mail_imap_folders *f = NULL;
	struct qm_mail_folder *v;
	enum qm_err e;

	if ((e = list_folders(im, 0, 0, &f, err)))
		return e;
	if (!(v = calloc(f->n ? f->n : 1, sizeof(*v)))) {
		qm_mail_imap_folders_free(&f);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < f->n; i++) {
		v[i].name = f->v[i].name; /* handed over */
		v[i].attrs = f->v[i].attrs;
		f->v[i].name = NULL;
	}
	*n = f->n;
	*out = v;
	qm_mail_imap_folders_free(&f);
	return QM_OK;
}

enum qm_err qm_mail_imap_special(struct qm_mail_imap *im, unsigned attr,
                                 char **name, struct qm_error *err)
{
	struct qm_mail_imap_folders *f = NULL;
	const struct qm_mail_imap_folder *x;
	enum qm_err e;

	if ((e = list_folders(im, 0, 0, &f, err)))
		return e;
	if (!(x = qm_mail_imap_folders_find(f, attr)))
		e = qm_error_set(err, QM_ERR_NOTFOUND,
		                 "the server marks no folder for this use");
	else if (!(*name = mail_strdup(x->name)))
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	qm_mail_imap_folders_free(&f);
	return e;
}

/* ---------------------------------------------------------- management */

/* A name we send as the server's form: it must decode. */
static enum qm_err wire_name_ok(const char *name, struct qm_error *err)
{
	char *d = NULL;

	if (!name || !*name)
		return qm_error_set(err, QM_ERR_INVAL, "empty folder name");
	if (qm_mail_imap_name_decode(name, &d, NULL) != QM_OK)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the folder name \"%.200s\" is not in the "
		                    "server's form (modified UTF-7: encode it "
		                    "first)",
		                    name);
	free(d);
	return QM_OK;
}

/* Leaves no folder selected when name is the selected one. */
static void forget_selected(struct qm_mail_imap *im, const char *name)
{
	if (im->uidvalidity && strcmp(im->selected, name) == 0) {
		im->uidvalidity = 0;
		im->selected[0] = '\0';
		im->highestmodseq = 0;
	}
}

enum qm_err qm_mail_imap_folder_create(struct qm_mail_imap *im,
                                       const char *name, int subscribe,
                                       struct qm_error *err)
{
	char q[MAIL_IMAP_NAMEMAX * 2 + 8];
	enum qm_err e;

	if ((e = wire_name_ok(name, err)) ||
	    (e = mail_imap_quote(name, q, sizeof(q), err)) ||
	    (e = mail_imap_run(im, NULL, NULL, NULL, err, "CREATE %s", q)))
		return e;
	if (subscribe)
		e = mail_imap_run(im, NULL, NULL, NULL, err, "SUBSCRIBE %s", q);
	return e;
}

/* Collects the LSUB names that are from or below it. */
struct subs_ctx {
	const char *from;
	char **v;
	size_t n, cap;
};

static enum qm_err on_subs(struct qm_mail_imap *im, const char *s, size_t n,
                           struct mail_imap_item *it, void *arg,
                           struct qm_error *err)
{
	struct subs_ctx *c = arg;
	size_t fl = strlen(c->from);
	const char *p;
	char delim = 0, *name;

	(void)im;
	(void)n;
	if (strncasecmp(s, "* LSUB (", 8) != 0 || !(p = strchr(s + 8, ')')))
		goto out;
	p++;
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "NIL", 3) == 0) {
		p += 3;
	} else {
		char *d = mail_imap_astring(&p, it);
		if (!d)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		delim = strlen(d) == 1 ? d[0] : 0;
		free(d);
	}
	if (!(name = mail_imap_astring(&p, it)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	/* a name too long to send cannot be subscribed again: not kept
	 * (100,000 lines of 256 KiB would be 25 GB) */
	if (strncmp(name, c->from, fl) != 0 ||
	    (name[fl] && (!delim || name[fl] != delim)) ||
	    strlen(name) > MAIL_IMAP_NAMEMAX || c->n >= MAXFOLDERS) {
		free(name);
		goto out;
	}
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 8;
		void *t = reallocarray(c->v, nc, sizeof(*c->v));
		if (!t) {
			free(name);
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		}
		c->v = t;
		c->cap = nc;
	}
	c->v[c->n++] = name;
out:
	if (it->lit)
		qm_buf_reset(it->lit);
	return QM_OK;
}

enum qm_err qm_mail_imap_folder_rename(struct qm_mail_imap *im,
                                       const char *from, const char *to,
                                       struct qm_error *err)
{
	char a[MAIL_IMAP_NAMEMAX * 2 + 8], b[MAIL_IMAP_NAMEMAX * 2 + 8];
	struct subs_ctx sc = {from, NULL, 0, 0};
	struct qm_buf lit;
	enum qm_err e;

	if ((e = mail_imap_quote(from, a, sizeof(a), err)) ||
	    (e = wire_name_ok(to, err)) ||
	    (e = mail_imap_quote(to, b, sizeof(b), err)))
		return e;
	if (strcasecmp(from, "INBOX") == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "INBOX cannot be renamed here (the server "
		                    "would move its messages instead)");
	if (strlen(from) + 2 > sizeof(a) - 4)
		return qm_error_set(err, QM_ERR_INVAL, "folder name too long");
	/* the subscriptions of the folder and its children, which RENAME
	 * leaves behind on some servers (Dovecot) */
	qm_buf_init(&lit, LISTLIT);
	a[strlen(a) - 1] = '\0';
	e = mail_imap_run(im, &lit, on_subs, &sc, err, "LSUB \"\" %s*\"", a);
	qm_buf_free(&lit);
	if (e == QM_OK)
		e = mail_imap_quote(from, a, sizeof(a), err);
	if (e == QM_OK)
		e = mail_imap_run(im, NULL, NULL, NULL, err, "RENAME %s %s", a,
		                  b);
	if (e == QM_OK)
		forget_selected(im, from);
	for (size_t i = 0; e == QM_OK && i < sc.n; i++) {
		struct qm_buf nn;
		char q[MAIL_IMAP_NAMEMAX * 2 + 8];

		qm_buf_init(&nn, MAIL_IMAP_NAMEMAX);
		if (mail_imap_quote(sc.v[i], q, sizeof(q), NULL) == QM_OK)
			e = mail_imap_run(im, NULL, NULL, NULL, err,
			                  "UNSUBSCRIBE %s", q);
		if (e == QM_ERR_PROTO && !im->broken) {
			/* a stale subscription is not worth failing for */
			qm_error_clear(err);
			e = QM_OK;
		}
		if (e == QM_OK &&
		    qm_buf_appendf(&nn, NULL, "%s%s", to,
		                   sc.v[i] + strlen(from)) == QM_OK &&
		    mail_imap_quote((const char *)nn.data, q, sizeof(q),
		                    NULL) == QM_OK)
			e = mail_imap_run(im, NULL, NULL, NULL, err,
			                  "SUBSCRIBE %s", q);
		qm_buf_free(&nn);
		if (e == QM_ERR_PROTO && !im->broken) {
			/* the folder was renamed; a subscription is not
			 * worth failing for */
			qm_error_clear(err);
			e = QM_OK;
		}
	}
	for (size_t i = 0; i < sc.n; i++)
		free(sc.v[i]);
	free(sc.v);
	return e;
}

enum qm_err qm_mail_imap_folder_delete(struct qm_mail_imap *im,
                                       const char *name, struct qm_error *err)
{
	char q[MAIL_IMAP_NAMEMAX * 2 + 8];
	enum qm_err e;

	if ((e = mail_imap_quote(name, q, sizeof(q), err)))
		return e;
	if (strcasecmp(name, "INBOX") == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "INBOX cannot be deleted");
	if (im->uidvalidity && strcmp(im->selected, name) == 0 &&
	    qm_mail_imap_has_cap(im, "UNSELECT")) {
		/* UNSELECT, not CLOSE: CLOSE would expunge */
		if ((e = mail_imap_run(im, NULL, NULL, NULL, err, "UNSELECT")))
			return e;
		forget_selected(im, name);
	}
	if ((e = mail_imap_run(im, NULL, NULL, NULL, err, "DELETE %s", q)))
		return e;
	forget_selected(im, name);
	return QM_OK;
}

enum qm_err qm_mail_imap_folder_subscribe(struct qm_mail_imap *im,
                                          const char *name, int on,
                                          struct qm_error *err)
{
	char q[MAIL_IMAP_NAMEMAX * 2 + 8];
	enum qm_err e;

	if ((e = mail_imap_quote(name, q, sizeof(q), err)))
		return e;
	return mail_imap_run(im, NULL, NULL, NULL, err, "%s %s",
	                     on ? "SUBSCRIBE" : "UNSUBSCRIBE", q);
}

/* STATUS commands sent together per batch (bounds the buffers). */
#define STATUS_BATCH 64

enum qm_err qm_mail_imap_folders_status(struct qm_mail_imap *im,
                                        const char *const *names, size_t n,
                                        struct qm_mail_imap_counts *out,
                                        struct qm_error *err)
{
	char q[MAIL_IMAP_NAMEMAX * 2 + 8], *cmds[STATUS_BATCH];
	enum qm_err res[STATUS_BATCH], e = QM_OK;
	struct fl_ctx c = {0};
	struct qm_buf lit;

	if (!im || (n && (!names || !out)))
		return qm_error_set(err, QM_ERR_INVAL, "no IMAP session given");
	memset(out, 0, n * sizeof(*out));
	qm_buf_init(&lit, LISTLIT);
	for (size_t at = 0; at < n && !e; at += STATUS_BATCH) {
		size_t k = n - at < STATUS_BATCH ? n - at : STATUS_BATCH;
		size_t made = 0;

		for (; made < k && !e; made++) {
			size_t len;

			e = mail_imap_quote(names[at + made], q, sizeof(q),
			                    err);
			len = strlen(q) + strlen(status_items(im)) + 16;
			if (!e && !(cmds[made] = malloc(len)))
				e = qm_error_set(err, QM_ERR_NOMEM,
				                 "out of memory");
			if (e)
				break;
			snprintf(cmds[made], len, "STATUS %s (%s)", q,
			         status_items(im));
		}
		c.many_names = names + at;
		c.many = out + at;
		c.nmany = k;
		if (!e)
			e = mail_imap_run_many(im, (const char *const *)cmds, k,
			                       &lit, on_list, &c, res, err);
		for (size_t i = 0; i < made; i++)
			free(cmds[i]);
	}
	qm_buf_free(&lit);
	return e;
}

enum qm_err qm_mail_imap_folder_status(struct qm_mail_imap *im,
                                       const char *name,
                                       struct qm_mail_imap_counts *out,
                                       struct qm_error *err)
{
	char q[MAIL_IMAP_NAMEMAX * 2 + 8];
	struct qm_mail_imap_counts k = {0};
	struct fl_ctx c = {0};
	struct qm_buf lit;
	enum qm_err e;

	if ((e = mail_imap_quote(name, q, sizeof(q), err)))
		return e;
	c.status = &k;
	c.status_name = name;
	qm_buf_init(&lit, LISTLIT);
	e = mail_imap_run(im, &lit, on_list, &c, err, "STATUS %s (%s)", q,
	                  status_items(im));
	qm_buf_free(&lit);
	if (e)
		return e;
	if (!k.valid)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP %s: STATUS of %s gave no counts",
		                    im->srv->host, name);
	*out = k;
	return QM_OK;
}
