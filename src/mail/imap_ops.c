/* SPDX-License-Identifier: MIT */
/*
 * IMAP operations on sets of messages of the selected folder: flags
 * (UID STORE .SILENT), copy and move with the new UIDs (COPYUID, RFC
 * 4315; MOVE, RFC 6851, or COPY + \Deleted + an expunge of exactly those
 * messages), delete to Trash or by expunge, server search (SEARCH or
 * ESEARCH, CHARSET UTF-8 literals), and the list summaries (one UID FETCH
 * of flags, size, dates and the header fields a message list shows).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mail/private.h"

/* ------------------------------------------------------------- search */

struct search_ctx {
	struct mail_uidv *out;
};

/* "(TAG "Q5")" of an ESEARCH reply: whether it is ours. */
static int esearch_ours(const struct qm_mail_imap *im, const char **pp)
{
	const char *p = *pp;
	char want[24];
	int n;

	if (strncasecmp(p, "(TAG ", 5) != 0)
		return 1; /* untagged ESEARCH: for the current command */
	n = snprintf(want, sizeof(want), "\"Q%u\")", im->tag);
	if (strncmp(p + 5, want, (size_t)n) != 0)
		return 0;
	*pp = p + 5 + n;
	return 1;
}

static enum qm_err on_search(struct qm_mail_imap *im, const char *s, size_t n,
                             struct mail_imap_item *it, void *arg,
                             struct qm_error *err)
{
	struct search_ctx *c = arg;
	const char *p;
	enum qm_err e;

	(void)n;
	(void)it;
	if (strncasecmp(s, "* ESEARCH", 9) == 0 && (s[9] == ' ' || !s[9])) {
		p = s + 9;
		while (*p == ' ')
			p++;
		if (!esearch_ours(im, &p))
			return QM_OK;
		while (*p) {
			while (*p == ' ')
				p++;
			if (strncasecmp(p, "ALL ", 4) == 0) {
				p += 4;
				if ((e = mail_uidset_parse(
				         &p, c->out,
				         MAIL_IMAP_MAXUIDS - c->out->n, err)))
					return e;
				continue;
			}
			/* UID, COUNT n, MIN n, MAX n, MODSEQ n: skip */
			p += strcspn(p, " ");
		}
		return QM_OK;
	}
	if (strncasecmp(s, "* SEARCH", 8) != 0 || (s[8] != ' ' && s[8]))
		return QM_OK;
	for (p = s + 8; *p;) {
		unsigned long v;
		char *end;

		while (*p == ' ')
			p++;
		if (!*p || *p == '(')
			break; /* "(MODSEQ n)" after a CONDSTORE search */
		errno = 0;
		v = strtoul(p, &end, 10);
		if (end == p || v == 0 || v > 0xffffffffUL || errno)
			return mail_imap_fail(im, QM_ERR_PROTO, err,
			                      "malformed SEARCH reply");
		if ((e = mail_uidv_push(c->out, (uint32_t)v, err)))
			return e;
		p = end;
	}
	return QM_OK;
}

void mail_imap_search_begin(struct qm_mail_imap *im, struct mail_imap_cmd *c)
{
	mail_imap_cmd_init(c, im);
	/* cannot fail: a few bytes into an empty 64 KiB command */
	QM_IGNORE(mail_imap_cmd_add(
	    c, NULL, "UID SEARCH %s",
	    qm_mail_imap_has_cap(im, "ESEARCH") ? "RETURN (ALL) " : ""));
}

enum qm_err mail_imap_search_exec(struct qm_mail_imap *im,
                                  const struct mail_imap_cmd *c,
                                  struct mail_uidv *out, struct qm_error *err)
{
	struct search_ctx sc = {out};
	enum qm_err e;

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if ((e = mail_imap_exec(im, c, NULL, on_search, &sc, err))) {
		free(out->v);
		memset(out, 0, sizeof(*out));
		if (e == QM_ERR_PROTO && !im->broken &&
		    strcasestr(im->lastreply, "[BADCHARSET"))
			e = qm_error_set(err, QM_ERR_UNSUPPORTED,
			                 "IMAP %s cannot search in UTF-8 text: "
			                 "%.200s",
			                 im->srv->host, im->lastreply);
		return e;
	}
	mail_uidv_sort(out);
	return QM_OK;
}

enum qm_err qm_mail_imap_new_uids(struct qm_mail_imap *im,
                                  uint32_t known_uidvalidity, uint32_t last_uid,
                                  uint32_t **uids, size_t *n, int *resync,
                                  struct qm_error *err)
{
	struct mail_uidv u = {0};
	struct mail_imap_cmd c;
	size_t j = 0;
	enum qm_err e;
	int rs = 0;

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if (known_uidvalidity != im->uidvalidity) {
		/* a new or rebuilt folder: every message counts as new */
		rs = known_uidvalidity != 0;
		last_uid = 0;
	}
	if (last_uid != UINT32_MAX) {
		mail_imap_search_begin(im, &c);
		e = mail_imap_cmd_add(&c, err, "UID %u:*",
		                      (unsigned)last_uid + 1);
		if (e == QM_OK)
			e = mail_imap_search_exec(im, &c, &u, err);
		mail_imap_cmd_free(&c);
		if (e)
			return e;
	}
	/* "n:*" also matches the highest UID when it is below n */
	for (size_t i = 0; i < u.n; i++)
		if (u.v[i] > last_uid)
			u.v[j++] = u.v[i];
	u.n = j;
	if (!u.n) {
		free(u.v);
		u.v = NULL;
	}
	*uids = u.v;
	*n = u.n;
	*resync = rs;
	return QM_OK;
}

/* Whether s is UTF-8 text without CR or LF; *ascii set when 7-bit. */
static int text_ok(const char *s, int *ascii)
{
	const unsigned char *p = (const unsigned char *)s;

	*ascii = 1;
	while (*p) {
		int k;
		if (*p == '\r' || *p == '\n')
			return 0;
		if (*p < 0x80) {
			p++;
			continue;
		}
		*ascii = 0;
		k = *p >= 0xf0 && *p <= 0xf4   ? 3
		    : *p >= 0xe0 && *p <= 0xef ? 2
		    : *p >= 0xc2 && *p <= 0xdf ? 1
		                               : -1;
		if (k < 0)
			return 0;
		for (int i = 1; i <= k; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		p += k + 1;
	}
	return 1;
}

/* "7-Feb-2025" for the UTC day of t. */
static void imap_date(int64_t t, char *out, size_t n)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr",
	                                  "May", "Jun", "Jul", "Aug",
	                                  "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm))
		memset(&tm, 0, sizeof(tm));
	snprintf(out, n, "%d-%s-%d", tm.tm_mday, mon[tm.tm_mon % 12],
	         tm.tm_year + 1900);
}

static enum qm_err add_flag_keys(struct mail_imap_cmd *c, unsigned flags,
                                 int set, struct qm_error *err)
{
	static const struct {
		unsigned f;
		const char *on, *off;
	} keys[] = {
	    {QM_MAIL_FLAG_SEEN, "SEEN", "UNSEEN"},
	    {QM_MAIL_FLAG_ANSWERED, "ANSWERED", "UNANSWERED"},
	    {QM_MAIL_FLAG_FLAGGED, "FLAGGED", "UNFLAGGED"},
	    {QM_MAIL_FLAG_DELETED, "DELETED", "UNDELETED"},
	    {QM_MAIL_FLAG_DRAFT, "DRAFT", "UNDRAFT"},
	    {QM_MAIL_FLAG_FORWARDED, "KEYWORD $Forwarded",
	     "UNKEYWORD $Forwarded"},
	    {QM_MAIL_FLAG_JUNK, "KEYWORD $Junk", "UNKEYWORD $Junk"},
	    {QM_MAIL_FLAG_NOTJUNK, "KEYWORD $NotJunk", "UNKEYWORD $NotJunk"}};
	enum qm_err e;

	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		if ((flags & keys[i].f) &&
		    (e = mail_imap_cmd_add(c, err, "%s ",
		                           set ? keys[i].on : keys[i].off)))
			return e;
	return QM_OK;
}

enum qm_err qm_mail_imap_search(struct qm_mail_imap *im,
                                const struct qm_mail_imap_query *q,
                                uint32_t **uids, size_t *n,
                                struct qm_error *err)
{
	const struct {
		const char *key;
		const char *val;
	} strs[] = {{"TEXT", q ? q->text : NULL},
	            {"FROM", q ? q->from : NULL},
	            {"TO", q ? q->to : NULL},
	            {"SUBJECT", q ? q->subject : NULL},
	            {"BODY", q ? q->body : NULL}};
	struct mail_uidv u = {0};
	struct mail_imap_cmd c;
	int utf8 = 0, any = 0;
	enum qm_err e;

	if (!q || !uids || !n)
		return qm_error_set(err, QM_ERR_INVAL, "no search given");
	if ((e = mail_imap_need_selected(im, err)))
		return e;
	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++) {
		int ascii;
		if (!strs[i].val || !*strs[i].val)
			continue;
		if (!text_ok(strs[i].val, &ascii) || strlen(strs[i].val) > 1000)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "the %s search text is not one "
			                    "line of UTF-8 text (at most 1000 "
			                    "bytes)",
			                    strs[i].key);
		utf8 |= !ascii;
		any = 1;
	}
	if (!any && !q->since && !q->before && !q->with && !q->without)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "an empty search: give at least one "
		                    "criterion");
	if ((q->with | q->without) &
	    ~(unsigned)(QM_MAIL_FLAG_SYSTEM | QM_MAIL_FLAG_KEYWORDS))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "unknown flags to search");
	mail_imap_search_begin(im, &c);
	e = utf8 ? mail_imap_cmd_add(&c, err, "CHARSET UTF-8 ") : QM_OK;
	for (size_t i = 0; e == QM_OK && i < sizeof(strs) / sizeof(*strs);
	     i++) {
		if (!strs[i].val || !*strs[i].val)
			continue;
		if ((e = mail_imap_cmd_add(&c, err, "%s ", strs[i].key)) ==
		        QM_OK &&
		    (e = mail_imap_cmd_string(&c, strs[i].val, err)) == QM_OK)
			e = mail_imap_cmd_add(&c, err, " ");
	}
	if (e == QM_OK && q->since) {
		char d[32];
		imap_date(q->since, d, sizeof(d));
		e = mail_imap_cmd_add(&c, err, "SINCE %s ", d);
	}
	if (e == QM_OK && q->before) {
		char d[32];
		imap_date(q->before, d, sizeof(d));
		e = mail_imap_cmd_add(&c, err, "BEFORE %s ", d);
	}
	if (e == QM_OK)
		e = add_flag_keys(&c, q->with, 1, err);
	if (e == QM_OK)
		e = add_flag_keys(&c, q->without, 0, err);
	if (e == QM_OK) {
		/* no trailing space on the wire */
		c.b.len--;
		c.b.data[c.b.len] = '\0';
		e = mail_imap_search_exec(im, &c, &u, err);
	}
	mail_imap_cmd_free(&c);
	if (e)
		return e;
	if (!u.n) {
		free(u.v);
		u.v = NULL;
	}
	*uids = u.v;
	*n = u.n;
	return QM_OK;
}

/* --------------------------------------------------------------- flags */

/* "\\Seen $Forwarded" for flags into b. */
static enum qm_err flag_words(unsigned flags, struct qm_buf *b,
                              struct qm_error *err)
{
	static const char *const names[] = {
	    "\\Seen",  "\\Answered", "\\Flagged", "\\Deleted",
	    "\\Draft", "$Forwarded", "$Junk",     "$NotJunk"};
	enum qm_err e;

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
		if ((flags & (1u << i)) &&
		    (e = qm_buf_appendf(b, err, "%s%s", b->len ? " " : "",
		                        names[i])))
			return e;
	return QM_OK;
}

/* UID STORE over every chunk of the sorted set v. */
static enum qm_err store_set(struct qm_mail_imap *im, const struct mail_uidv *v,
                             char sign, unsigned flags, struct qm_error *err)
{
	struct qm_buf set, words;
	enum qm_err e;

	qm_buf_init(&set, MAIL_IMAP_SETMAX + 32);
	qm_buf_init(&words, 256);
	e = flag_words(flags, &words, err);
	for (size_t i = 0; e == QM_OK && i < v->n;) {
		qm_buf_reset(&set);
		if ((e = mail_uidset_next(v->v, v->n, &i, &set,
		                          MAIL_IMAP_SETMAX, err)) == QM_OK)
			e = mail_imap_run(im, NULL, NULL, NULL, err,
			                  "UID STORE %s %cFLAGS.SILENT (%s)",
			                  (const char *)set.data, sign,
			                  (const char *)words.data);
	}
	qm_buf_free(&set);
	qm_buf_free(&words);
	return e;
}

/* Whether the selected folder can take the changes flags. */
static enum qm_err writable(struct qm_mail_imap *im, unsigned flags,
                            struct qm_error *err)
{
	unsigned kw = flags & QM_MAIL_FLAG_KEYWORDS & ~im->permanent;
	enum qm_err e;

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if (im->read_only)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "IMAP %s: the folder %s is open read-only",
		                    im->srv->host, im->selected);
	if (kw)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "IMAP %s: the folder %s does not keep the "
		                    "flag %s",
		                    im->srv->host, im->selected,
		                    kw & QM_MAIL_FLAG_FORWARDED ? "$Forwarded"
		                    : kw & QM_MAIL_FLAG_JUNK    ? "$Junk"
		                                                : "$NotJunk");
	return QM_OK;
}

enum qm_err qm_mail_imap_store(struct qm_mail_imap *im, const uint32_t *uids,
                               size_t n, unsigned add, unsigned remove,
                               struct qm_error *err)
{
	const unsigned known = QM_MAIL_FLAG_SYSTEM | QM_MAIL_FLAG_KEYWORDS;
	struct mail_uidv v = {0};
	enum qm_err e;

	if ((add | remove) & ~known)
		return qm_error_set(err, QM_ERR_INVAL, "unknown flags to set");
	if (add & remove)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a flag cannot be added and removed at "
		                    "once");
	if (!(add | remove))
		return qm_error_set(err, QM_ERR_INVAL, "no flags to change");
	if ((e = mail_uids_sorted(uids, n, &v, err)))
		return e;
	if ((e = writable(im, add | remove, err))) {
		free(v.v);
		return e;
	}
	if (add)
		e = store_set(im, &v, '+', add, err);
	if (e == QM_OK && remove)
		e = store_set(im, &v, '-', remove, err);
	free(v.v);
	return e;
}

/* ------------------------------------------------- copy, move, expunge */

void qm_mail_imap_uidmap_free(struct qm_mail_imap_uidmap **pm)
{
	struct qm_mail_imap_uidmap *m = pm ? *pm : NULL;

	if (!m)
		return;
	free(m->src);
	free(m->dst);
	free(m);
	*pm = NULL;
}

static int cmp_uid(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct map_ctx {
	struct mail_uidv src, dst;
	uint32_t validity;
	size_t max; /* UIDs in the command: no more can be named */
	const struct mail_uidv *asked; /* every UID copied or moved */
	unsigned char *mapped;         /* mapped[i]: asked->v[i] is in src */
};

static const uint32_t *asked_find(const struct map_ctx *c, uint32_t uid)
{
	return bsearch(&uid, c->asked->v, c->asked->n, sizeof(*c->asked->v),
	               cmp_uid);
}

/* "[COPYUID v src dst]" in s into c. A reply that does not parse or whose
 * sets do not pair up is left out: the move itself was done. */
static void take_copyuid(struct map_ctx *c, const char *s)
{
	const char *p = strcasestr(s, "[COPYUID ");
	struct mail_uidv a = {0}, b = {0};
	unsigned long v;
	char *end;
	int bad = 0;

	if (!p)
		return;
	p += 9;
	errno = 0;
	v = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || !v || v > 0xffffffffUL || errno)
		return;
	p = end + 1;
	if (mail_uidset_parse(&p, &a, c->max, NULL) || *p++ != ' ' ||
	    mail_uidset_parse(&p, &b, c->max, NULL) || *p != ']' ||
	    a.n != b.n || (c->validity && c->validity != v))
		goto out;
	/* every source a message we asked for, not mapped before (a
	 * server's second word on a message does not count) */
	for (size_t i = 0; i < a.n && !bad; i++) {
		const uint32_t *w = asked_find(c, a.v[i]);
		if (!w || c->mapped[w - c->asked->v])
			bad = 1; /* not asked for, or named twice */
		else
			c->mapped[w - c->asked->v] = 2; /* in this reply */
	}
	for (size_t i = 0; i < a.n; i++) {
		const uint32_t *w = asked_find(c, a.v[i]);
		if (w && c->mapped[w - c->asked->v] == 2)
			c->mapped[w - c->asked->v] = bad ? 0 : 1;
	}
	if (bad)
		goto out;
	for (size_t i = 0; i < a.n; i++)
		if (mail_uidv_push(&c->src, a.v[i], NULL) ||
		    mail_uidv_push(&c->dst, b.v[i], NULL))
			goto out; /* cannot happen: at most asked->n pairs */
	c->validity = (uint32_t)v;
out:
	free(a.v);
	free(b.v);
}

static enum qm_err on_copyuid(struct qm_mail_imap *im, const char *s, size_t n,
                              struct mail_imap_item *it, void *arg,
                              struct qm_error *err)
{
	(void)im;
	(void)n;
	(void)it;
	(void)err;
	if (strncasecmp(s, "* OK [COPYUID ", 14) == 0)
		take_copyuid(arg, s);
	return QM_OK;
}

/* UID COPY or UID MOVE of every chunk of v to the quoted folder q. */
static enum qm_err copy_set(struct qm_mail_imap *im, const struct mail_uidv *v,
                            const char *verb, const char *q, struct map_ctx *m,
                            struct qm_error *err)
{
	struct qm_buf set, ok;
	struct qm_buf *was = im->tagged_ok;
	enum qm_err e = QM_OK;

	if (!m->mapped && !(m->mapped = calloc(v->n, 1)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	m->asked = v;
	qm_buf_init(&set, MAIL_IMAP_SETMAX + 32);
	qm_buf_init(&ok, MAIL_IMAP_LINEMAX);
	im->tagged_ok = &ok;
	m->max = v->n;
	for (size_t i = 0; e == QM_OK && i < v->n;) {
		qm_buf_reset(&set);
		qm_buf_reset(&ok);
		if ((e = mail_uidset_next(v->v, v->n, &i, &set,
		                          MAIL_IMAP_SETMAX, err)))
			break;
		e = mail_imap_run(im, NULL, on_copyuid, m, err, "UID %s %s %s",
		                  verb, (const char *)set.data, q);
		if (e == QM_OK && ok.data)
			take_copyuid(m, (const char *)ok.data);
	}
	im->tagged_ok = was;
	qm_buf_free(&set);
	qm_buf_free(&ok);
	return e;
}

static enum qm_err map_out(struct map_ctx *m, struct qm_mail_imap_uidmap **out,
                           struct qm_error *err)
{
	struct qm_mail_imap_uidmap *r;

	if (!out)
		return QM_OK;
	if (!(r = calloc(1, sizeof(*r))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	r->uidvalidity = m->src.n ? m->validity : 0;
	r->src = m->src.v;
	r->dst = m->dst.v;
	r->n = m->src.n;
	m->src.v = m->dst.v = NULL;
	*out = r;
	return QM_OK;
}

/* \Deleted on v, then an expunge of exactly v. */
static enum qm_err expunge_set(struct qm_mail_imap *im,
                               const struct mail_uidv *v, struct qm_error *err)
{
	struct mail_uidv marked = {0}, others = {0};
	struct mail_imap_cmd c;
	struct qm_buf set;
	enum qm_err e, e2;

	if ((e = store_set(im, v, '+', QM_MAIL_FLAG_DELETED, err)))
		return e;
	qm_buf_init(&set, MAIL_IMAP_SETMAX + 32);
	if (qm_mail_imap_has_cap(im, "UIDPLUS")) {
		for (size_t i = 0; e == QM_OK && i < v->n;) {
			qm_buf_reset(&set);
			if ((e = mail_uidset_next(v->v, v->n, &i, &set,
			                          MAIL_IMAP_SETMAX, err)) ==
			    QM_OK)
				e = mail_imap_run(im, NULL, NULL, NULL, err,
				                  "UID EXPUNGE %s",
				                  (const char *)set.data);
		}
		qm_buf_free(&set);
		return e;
	}
	/* no UID EXPUNGE: spare the other messages marked \Deleted */
	mail_imap_search_begin(im, &c);
	e = mail_imap_cmd_add(&c, err, "DELETED");
	if (e == QM_OK)
		e = mail_imap_search_exec(im, &c, &marked, err);
	mail_imap_cmd_free(&c);
	for (size_t i = 0; e == QM_OK && i < marked.n; i++)
		if (!mail_uids_has(v->v, v->n, marked.v[i]))
			e = mail_uidv_push(&others, marked.v[i], err);
	if (e == QM_OK && others.n)
		e = store_set(im, &others, '-', QM_MAIL_FLAG_DELETED, err);
	if (e == QM_OK) {
		e = mail_imap_run(im, NULL, NULL, NULL, err, "EXPUNGE");
		/* give the others their mark back, whatever EXPUNGE said */
		if (others.n && !im->broken &&
		    (e2 = store_set(im, &others, '+', QM_MAIL_FLAG_DELETED,
		                    e ? NULL : err)) &&
		    e == QM_OK)
			e = e2;
	}
	qm_buf_free(&set);
	free(marked.v);
	free(others.v);
	return e;
}

enum qm_err qm_mail_imap_expunge_uids(struct qm_mail_imap *im,
                                      const uint32_t *uids, size_t n,
                                      struct qm_error *err)
{
	struct mail_uidv v = {0};
	enum qm_err e;

	if ((e = writable(im, 0, err)) ||
	    (e = mail_uids_sorted(uids, n, &v, err)))
		return e;
	e = expunge_set(im, &v, err);
	free(v.v);
	return e;
}

/* Copy (move 0) or move (move 1) of uids to folder. */
static enum qm_err transfer(struct qm_mail_imap *im, const uint32_t *uids,
                            size_t n, const char *folder, int move,
                            struct qm_mail_imap_uidmap **map,
                            struct qm_error *err)
{
	char q[MAIL_IMAP_NAMEMAX * 2 + 8];
	struct mail_uidv v = {0};
	struct map_ctx m = {0};
	enum qm_err e;

	if ((e = (move ? writable(im, 0, err)
	               : mail_imap_need_selected(im, err))) ||
	    (e = mail_imap_quote(folder, q, sizeof(q), err)) ||
	    (e = mail_uids_sorted(uids, n, &v, err)))
		return e;
	if (move && qm_mail_imap_has_cap(im, "MOVE")) {
		e = copy_set(im, &v, "MOVE", q, &m, err);
	} else {
		e = copy_set(im, &v, "COPY", q, &m, err);
		if (e == QM_OK && move)
			e = expunge_set(im, &v, err);
	}
	if (e == QM_OK)
		e = map_out(&m, map, err);
	free(v.v);
	free(m.src.v);
	free(m.dst.v);
	free(m.mapped);
	return e;
}

enum qm_err qm_mail_imap_copy_uids(struct qm_mail_imap *im,
                                   const uint32_t *uids, size_t n,
                                   const char *folder,
                                   struct qm_mail_imap_uidmap **map,
                                   struct qm_error *err)
{
	return transfer(im, uids, n, folder, 0, map, err);
}

enum qm_err qm_mail_imap_move_uids(struct qm_mail_imap *im,
                                   const uint32_t *uids, size_t n,
                                   const char *folder,
                                   struct qm_mail_imap_uidmap **map,
                                   struct qm_error *err)
{
	return transfer(im, uids, n, folder, 1, map, err);
}

enum qm_err qm_mail_imap_delete_uids(struct qm_mail_imap *im,
                                     const uint32_t *uids, size_t n,
                                     const char *trash,
                                     struct qm_mail_imap_uidmap **map,
                                     struct qm_error *err)
{
	enum qm_err e;

	if ((e = mail_imap_need_selected(im, err)))
		return e;
	if (!trash || strcmp(trash, im->selected) == 0) {
		if ((e = qm_mail_imap_expunge_uids(im, uids, n, err)))
			return e;
		if (map && !(*map = calloc(1, sizeof(**map))))
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		return QM_OK;
	}
	return transfer(im, uids, n, trash, 1, map, err);
}

/* ---------------------------------------------------------- summaries */

#define SUMMARY_FIELDS                                                         \
	"DATE FROM SENDER TO CC SUBJECT MESSAGE-ID IN-REPLY-TO REFERENCES "    \
	"CONTENT-TYPE LIST-ID X-QKD-SECURITY-LEVEL X-QKD-SENDER-SAE"

struct sum_ctx {
	qm_mail_summary_fn fn;
	void *arg;
	const uint32_t *want; /* the UIDs asked for, ascending */
	unsigned char *got;   /* got[i]: want[i] was delivered */
	int stopped;
	size_t done, total;
	size_t maxfield;
	int modseq;
	enum qm_err e;
};

/*
 * The value of header field name in the block h[0..n), unfolded (line
 * breaks removed) and trimmed, cut at max bytes; "" when absent. The first
 * occurrence counts.
 */
static char *field(const unsigned char *h, size_t n, const char *name,
                   size_t max)
{
	size_t nl = strlen(name), i = 0;

	while (i < n) {
		size_t end = i;

		while (end < n && h[end] != '\n')
			end++;
		if (end - i > nl &&
		    strncasecmp((const char *)h + i, name, nl) == 0 &&
		    h[i + nl] == ':') {
			struct qm_buf v;
			size_t j = i + nl + 1;
			char *r;

			qm_buf_init(&v, max);
			for (;;) {
				for (; j < end; j++)
					if (h[j] != '\r' &&
					    qm_buf_append_byte(&v, h[j], NULL))
						break;
				/* a continuation line starts with WSP */
				if (end + 1 < n &&
				    (h[end + 1] == ' ' || h[end + 1] == '\t')) {
					j = end + 1;
					end = j;
					while (end < n && h[end] != '\n')
						end++;
					continue;
				}
				break;
			}
			{
				const char *s =
				    v.data ? (const char *)v.data : "";
				size_t a = strspn(s, " \t"), b = v.len;
				while (b > a &&
				       (s[b - 1] == ' ' || s[b - 1] == '\t'))
					b--;
				r = mail_strndup(s + a, b - a);
			}
			qm_buf_free(&v);
			return r;
		}
		i = end + 1;
	}
	return mail_strdup("");
}

/* INTERNALDATE "17-Jul-1996 02:44:25 -0700" to seconds; 0 when bad. */
static int64_t internaldate(const char *s)
{
	static const char mon[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = strcasestr(s, "INTERNALDATE \"");
	struct tm tm = {0};
	int d, y, hh, mm, ss, zh, zm;
	char m[4], sign;
	const char *hit;
	time_t t;

	if (!p)
		return 0;
	p += 14;
	if (sscanf(p, "%2d-%3c-%4d %2d:%2d:%2d %c%2d%2d", &d, m, &y, &hh, &mm,
	           &ss, &sign, &zh, &zm) != 9)
		return 0;
	m[3] = '\0';
	if (!(hit = strstr(mon, m)) || (hit - mon) % 3 || d < 1 || d > 31 ||
	    y < 1970 || y > 9999 || hh > 23 || mm > 59 || ss > 60 ||
	    (sign != '+' && sign != '-'))
		return 0;
	tm.tm_mday = d;
	tm.tm_mon = (int)((hit - mon) / 3);
	tm.tm_year = y - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	if ((t = timegm(&tm)) == (time_t)-1)
		return 0;
	return (int64_t)t - (sign == '-' ? -1 : 1) * (zh * 3600 + zm * 60);
}

/* The Date header to seconds; 0 when it does not parse. */
static int64_t header_date(const char *v)
{
	GDateTime *dt;
	int64_t t;

	if (!*v || !(dt = g_mime_utils_header_decode_date(v)))
		return 0;
	t = g_date_time_to_unix(dt);
	g_date_time_unref(dt);
	return t;
}

/* Cuts s at max bytes on a UTF-8 character boundary. */
static void cut_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}

static enum qm_err summarise(struct sum_ctx *c, const char *line,
                             const unsigned char *h, size_t hn, uint32_t uid,
                             struct qm_error *err)
{
	enum {
		F_SUBJ,
		F_FROM,
		F_TO,
		F_CC,
		F_MID,
		F_IRT,
		F_REFS,
		F_CT,
		F_DATE,
		F_N
	};
	static const char *const names[F_N] = {
	    "Subject",     "From",       "To",           "Cc",  "Message-ID",
	    "In-Reply-To", "References", "Content-Type", "Date"};
	char *raw[F_N] = {0}, *subject = NULL, *from = NULL, *to = NULL,
	     *cc = NULL;
	struct qm_mail_imap_summary s = {0};
	enum qm_err e = QM_OK;

	for (size_t i = 0; i < F_N; i++)
		if (!(raw[i] = field(h, hn, names[i], c->maxfield))) {
			e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
	if (!*raw[F_FROM]) {
		/* no From: the Sender is the best we have */
		char *snd = field(h, hn, "Sender", c->maxfield);
		if (snd) {
			free(raw[F_FROM]);
			raw[F_FROM] = snd;
		}
	}
	{
		gchar *d =
		    *raw[F_SUBJ]
		        ? g_mime_utils_header_decode_text(NULL, raw[F_SUBJ])
		        : NULL;
		subject = mail_strdup(d ? d : raw[F_SUBJ]);
		g_free(d);
	}
	if (!subject || (e = qm_mail_addr_display(raw[F_FROM], &from, err)) ||
	    (e = qm_mail_addr_display(raw[F_TO], &to, err)) ||
	    (e = qm_mail_addr_display(raw[F_CC], &cc, err))) {
		if (!e)
			e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	cut_utf8(subject, c->maxfield);
	cut_utf8(from, c->maxfield);
	cut_utf8(to, c->maxfield);
	cut_utf8(cc, c->maxfield);
	s.uid = uid;
	s.flags = mail_imap_fetch_flags(line);
	s.size = mail_imap_code(line, "RFC822.SIZE ");
	s.internaldate = internaldate(line);
	s.date = header_date(raw[F_DATE]);
	s.modseq = mail_imap_code64(line, "MODSEQ (");
	s.subject = subject;
	s.from = from;
	s.to = to;
	s.cc = cc;
	s.message_id = raw[F_MID];
	s.in_reply_to = raw[F_IRT];
	s.references = raw[F_REFS];
	s.content_type = raw[F_CT];
	s.hdr = h;
	s.hdrlen = hn;
	c->done++;
	if (c->fn(c->arg, &s, c->done, c->total))
		c->stopped = 1;
out:
	for (size_t i = 0; i < F_N; i++)
		free(raw[i]);
	free(subject);
	free(from);
	free(to);
	free(cc);
	return e;
}

static enum qm_err on_summary(struct qm_mail_imap *im, const char *s, size_t n,
                              struct mail_imap_item *it, void *arg,
                              struct qm_error *err)
{
	struct sum_ctx *c = arg;
	uint32_t uid = mail_imap_fetch_uid(s);
	const uint32_t *w = uid && c->total ? bsearch(&uid, c->want, c->total,
	                                              sizeof(*c->want), cmp_uid)
	                                    : NULL;
	enum qm_err e = QM_OK;

	(void)im;
	(void)n;
	/* only the messages asked for, each once: a server's other FETCH
	 * data (unsolicited, or repeated) is no summary */
	if (w && !c->got[w - c->want] && it->lit && it->nlit && !c->stopped) {
		c->got[w - c->want] = 1;
		e = summarise(c, s,
		              it->lit->data ? it->lit->data + it->litstart
		                            : (const unsigned char *)"",
		              it->lit->len - it->litstart, uid, err);
	}
	/* the next response starts with an empty sink */
	if (it->lit)
		qm_buf_reset(it->lit);
	return e;
}

enum qm_err qm_mail_imap_fetch_summaries(struct qm_mail_imap *im,
                                         const uint32_t *uids, size_t n,
                                         qm_mail_summary_fn fn, void *arg,
                                         struct qm_error *err)
{
	const struct qm_mail_limits *lim = im ? im->srv->limits : NULL;
	struct sum_ctx c = {0};
	struct mail_uidv v = {0};
	struct qm_buf lit, set;
	enum qm_err e;

	if (!fn)
		return qm_error_set(err, QM_ERR_INVAL, "no callback given");
	if ((e = mail_imap_need_selected(im, err)) ||
	    (e = mail_uids_sorted(uids, n, &v, err)))
		return e;
	mail_gmime_init();
	c.fn = fn;
	c.arg = arg;
	c.total = v.n;
	c.want = v.v;
	if (!(c.got = calloc(v.n, 1))) {
		free(v.v);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	c.maxfield = lim && lim->max_header_len ? lim->max_header_len
	                                        : QM_MAIL_DEF_MAXHEADERLEN;
	c.modseq = im->highestmodseq != 0;
	qm_buf_init(&lit, MAIL_IMAP_SMALLLIT);
	qm_buf_init(&set, MAIL_IMAP_SETMAX + 32);
	for (size_t i = 0; e == QM_OK && !c.stopped && i < v.n;) {
		qm_buf_reset(&set);
		if ((e = mail_uidset_next(v.v, v.n, &i, &set, MAIL_IMAP_SETMAX,
		                          err)))
			break;
		e = mail_imap_run(im, &lit, on_summary, &c, err,
		                  "UID FETCH %s (UID FLAGS RFC822.SIZE "
		                  "INTERNALDATE%s BODY.PEEK[HEADER.FIELDS "
		                  "(" SUMMARY_FIELDS ")])",
		                  (const char *)set.data,
		                  c.modseq ? " MODSEQ" : "");
	}
	qm_buf_free(&lit);
	qm_buf_free(&set);
	free(c.got);
	free(v.v);
	if (e == QM_OK && c.stopped)
		e = qm_error_set(err, QM_ERR_STATE,
		                 "IMAP: the summary fetch was stopped by the "
		                 "caller");
	return e;
}
