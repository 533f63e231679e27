/* SPDX-License-Identifier: MIT */
/*
 * Conversations from the headers of a list of messages, after Jamie
 * Zawinski's threading algorithm (References and In-Reply-To first, then
 * the subject for the roots they leave), and the orders of the message
 * list (date, sender, subject, size, unread first). Everything here is
 * computed from what the caller passes: no store, no network, nothing kept
 * between calls. The headers come from strangers, so every walk is
 * iterative and bounded, message IDs are looked up with a keyed hash
 * (SipHash: no one can choose IDs that collide), and a message's place is
 * decided by its own headers alone. docs/CLIENT.md, "Threads", gives the
 * rules and the bounds.
 */
#include "private.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

/* ------------------------------------------------------------ small text */

static int is_ws(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static unsigned char lower(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch + 32) : ch;
}

static int is_alpha(unsigned char ch)
{
	ch = lower(ch);
	return ch >= 'a' && ch <= 'z';
}

static int is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Whether message a is older than message b (by date, then the order
 * given). */
static int date_older(const struct qm_client_msg_head *in, size_t a, size_t b)
{
	if (in[a].date != in[b].date)
		return in[a].date < in[b].date;
	return a < b;
}

/* Compares two texts without ASCII case, any run of white space as one
 * space; at most QM_THREAD_TEXTMAX bytes of each. */
static int text_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i = 0, j = 0;

	if (an > QM_THREAD_TEXTMAX)
		an = QM_THREAD_TEXTMAX;
	if (bn > QM_THREAD_TEXTMAX)
		bn = QM_THREAD_TEXTMAX;
	while (i < an && j < bn) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[j];

		if (x == y && x > ' ') {
			i++;
			j++;
			continue;
		}
		if (is_ws(x) && is_ws(y)) {
			while (i < an && is_ws((unsigned char)a[i]))
				i++;
			while (j < bn && is_ws((unsigned char)b[j]))
				j++;
			continue;
		}
		x = is_ws(x) ? ' ' : lower(x);
		y = is_ws(y) ? ' ' : lower(y);
		if (x != y)
			return x < y ? -1 : 1;
		i++;
		j++;
	}
	if (i < an)
		return 1;
	if (j < bn)
		return -1;
	return 0;
}

/* The first 8 bytes of a text as text_cmp sees it, big-endian, padded
 * with zeros: two texts whose prefixes differ compare as their prefixes
 * do, so most comparisons of a sort are one integer comparison. */
static uint64_t text_prefix(const char *s, size_t n)
{
	uint64_t v = 0;
	size_t i = 0, k = 0;

	if (n > QM_THREAD_TEXTMAX)
		n = QM_THREAD_TEXTMAX;
	while (i < n && k < 8) {
		unsigned char ch = (unsigned char)s[i++];

		if (is_ws(ch)) {
			while (i < n && is_ws((unsigned char)s[i]))
				i++;
			ch = ' ';
		}
		v = v << 8 | lower(ch);
		k++;
	}
	return v << (8 * (8 - k));
}

/* text_cmp, first by the prefixes. */
static int key_cmp(uint64_t xp, const char *x, size_t xn, uint64_t yp,
                   const char *y, size_t yn)
{
	if (xp != yp)
		return xp < yp ? -1 : 1;
	return text_cmp(x, xn, y, yn);
}

/* The length of a reply or forward prefix ("Re:", "AW :", "Re[2]:") at
 * the start of s, or 0. */
static size_t prefix_len(const char *s, size_t n)
{
	static const char *const words[] = {"re",  "fw", "fwd", "aw",
	                                    "sv",  "vs", "wg",  "antw",
	                                    "odp", "tr", "rv"};
	size_t i = 0, k, w;
	int known = 0;

	while (i < n && i < 5 && is_alpha((unsigned char)s[i]))
		i++;
	if (i == 0 || i == 5 || (i < n && is_alpha((unsigned char)s[i])))
		return 0;
	for (w = 0; w < sizeof(words) / sizeof(words[0]) && !known; w++) {
		if (strlen(words[w]) != i)
			continue;
		for (k = 0; k < i; k++)
			if (lower((unsigned char)s[k]) !=
			    (unsigned char)words[w][k])
				break;
		known = k == i;
	}
	if (!known)
		return 0;
	if (i < n && (s[i] == '[' || s[i] == '(')) {
		char close = s[i] == '[' ? ']' : ')';
		size_t j = i + 1;

		while (j < n && j - i <= 6 && is_digit((unsigned char)s[j]))
			j++;
		if (j == i + 1 || j >= n || s[j] != close)
			return 0;
		i = j + 1;
	}
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < n && s[i] == ':' ? i + 1 : 0;
}

const char *qm_client_subject_base(const char *s, size_t *len, int *reply)
{
	size_t n, i = 0, e, j, k;
	int r = 0;

	if (!s)
		s = "";
	n = strnlen(s, QM_THREAD_TEXTMAX);
	for (;;) {
		while (i < n && is_ws((unsigned char)s[i]))
			i++;
		if (i < n && s[i] == '[') {
			/* a list tag, taken off only when text follows it */
			for (j = i + 1;
			     j < n && j - i < 128 && s[j] != ']' && s[j] != '[';
			     j++)
				;
			if (j >= n || s[j] != ']')
				break;
			for (k = j + 1; k < n && is_ws((unsigned char)s[k]);
			     k++)
				;
			if (k >= n)
				break;
			i = k;
			continue;
		}
		j = prefix_len(s + i, n - i);
		if (!j)
			break;
		i += j;
		r = 1;
	}
	e = n;
	for (;;) {
		while (e > i && is_ws((unsigned char)s[e - 1]))
			e--;
		if (e - i >= 5 && text_cmp(s + e - 5, 5, "(fwd)", 5) == 0) {
			e -= 5;
			r = 1;
			continue;
		}
		break;
	}
	*len = e - i;
	if (reply)
		*reply = r;
	return s + i;
}

/* The part of a From value a list is sorted by: the display name without
 * its quotes, else the address. */
static const char *sender_key(const char *f, size_t *len)
{
	size_t n, a, b, lt;

	if (!f)
		f = "";
	n = strnlen(f, QM_THREAD_TEXTMAX);
	for (lt = 0; lt < n && f[lt] != '<'; lt++)
		;
	a = 0;
	b = lt;
	while (a < b && (is_ws((unsigned char)f[a]) || f[a] == '"'))
		a++;
	while (b > a && (is_ws((unsigned char)f[b - 1]) || f[b - 1] == '"'))
		b--;
	if (b == a && lt < n) {
		/* no name: the address between < and > */
		a = lt + 1;
		for (b = a; b < n && f[b] != '>'; b++)
			;
	}
	*len = b - a;
	return f + a;
}

/* ------------------------------------------------------------ message IDs */

struct idref {
	const char *p;
	uint32_t len;
};

/* Whether p[0..n) may be a message ID: 1..QM_THREAD_IDMAX bytes, none of
 * them white space, a control, '<' or '>'. */
static int id_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > QM_THREAD_IDMAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch <= 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return 0;
	}
	return 1;
}

/*
 * The next "<id>" of s[*pos..end) outside comments and quoted strings;
 * white space just inside the brackets is allowed, a token that is no ID
 * is skipped. 1 with *id set and *pos past it, 0 when there is none. Each
 * byte is looked at a bounded number of times: an unclosed '<' stops at
 * the next '<', which starts the next try.
 */
static int id_next(const char *s, size_t end, size_t *pos, struct idref *id)
{
	size_t i = *pos, j, a, b, depth;

	while (i < end) {
		switch (s[i]) {
		case '(':
			for (depth = 1, i++; i < end && depth; i++) {
				if (s[i] == '\\')
					i++;
				else if (s[i] == '(')
					depth++;
				else if (s[i] == ')')
					depth--;
			}
			break;
		case '"':
			for (i++; i < end && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
			break;
		case '<':
			for (j = i + 1; j < end && s[j] != '>' && s[j] != '<';
			     j++)
				;
			if (j >= end)
				return 0;
			if (s[j] == '<') {
				i = j;
				break;
			}
			for (a = i + 1; a < j && is_ws((unsigned char)s[a]);
			     a++)
				;
			for (b = j; b > a && is_ws((unsigned char)s[b - 1]);
			     b--)
				;
			i = j + 1;
			if (id_ok(s + a, b - a)) {
				id->p = s + a;
				id->len = (uint32_t)(b - a);
				*pos = i;
				return 1;
			}
			break;
		default:
			i++;
		}
	}
	return 0;
}

/* The first ID of a Message-ID or In-Reply-To value; a Message-ID without
 * brackets ("a@b") is taken as it is. */
static int id_first(const char *s, int bare, struct idref *id)
{
	size_t n, pos = 0, a, b;

	if (!s)
		return 0;
	n = strnlen(s, QM_THREAD_SCANMAX);
	if (id_next(s, n, &pos, id))
		return 1;
	if (!bare || memchr(s, '<', n))
		return 0;
	for (a = 0; a < n && is_ws((unsigned char)s[a]); a++)
		;
	for (b = n; b > a && is_ws((unsigned char)s[b - 1]); b--)
		;
	if (!id_ok(s + a, b - a))
		return 0;
	id->p = s + a;
	id->len = (uint32_t)(b - a);
	return 1;
}

/* The last QM_THREAD_REFMAX IDs of a References value, in their order,
 * read from its last QM_THREAD_SCANMAX bytes. */
static size_t refs_read(const char *s, struct idref *out)
{
	struct idref ring[QM_THREAD_REFMAX], id;
	size_t n, pos = 0, count = 0, k, first;

	if (!s)
		return 0;
	n = strlen(s);
	if (n > QM_THREAD_SCANMAX) {
		s += n - QM_THREAD_SCANMAX;
		n = QM_THREAD_SCANMAX;
	}
	while (id_next(s, n, &pos, &id))
		ring[count++ % QM_THREAD_REFMAX] = id;
	first = count > QM_THREAD_REFMAX ? count - QM_THREAD_REFMAX : 0;
	for (k = first; k < count; k++)
		out[k - first] = ring[k % QM_THREAD_REFMAX];
	return count - first;
}

/* ------------------------------------------------------------- containers */

/* One message ID seen, with or without its message (a dummy). */
struct cont {
	const char *id; /* borrowed from a header; NULL: not in the table */
	uint32_t idlen;
	uint32_t hash;
	uint32_t msg;    /* the message in it, NIL: a dummy */
	uint32_t parent; /* NIL: none */
	uint32_t seq;    /* when an inferred parent was set (first wins) */
	uint32_t stamp;  /* the last message whose chain named it, plus one */
	uint8_t own;     /* parent from the message's own headers */
};

struct tb {
	const struct qm_client_msg_head *in;
	size_t n;
	struct cont *c;
	size_t nc, capc;
	uint32_t *slot;  /* open addressing, NIL when empty */
	size_t nslot;    /* a power of two, at least twice nc */
	uint32_t *mcont; /* message -> its container */
	unsigned char key[crypto_shorthash_KEYBYTES];
	uint32_t seq;
};

static uint32_t id_hash(const struct tb *b, const char *p, size_t n)
{
	unsigned char h[crypto_shorthash_BYTES];

	crypto_shorthash(h, (const unsigned char *)p, n, b->key);
	return (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
	       (uint32_t)h[3] << 24;
}

static enum qm_err cont_add(struct tb *b, const char *id, uint32_t idlen,
                            uint32_t hash, uint32_t msg, uint32_t *out)
{
	struct cont *c;

	if (b->nc == b->capc) {
		size_t cap = b->capc ? b->capc * 2 : 64;

		c = realloc(b->c, cap * sizeof(*c));
		if (!c)
			return QM_ERR_NOMEM;
		b->c = c;
		b->capc = cap;
	}
	c = &b->c[b->nc];
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->idlen = idlen;
	c->hash = hash;
	c->msg = msg;
	c->parent = NIL;
	*out = (uint32_t)b->nc++;
	return QM_OK;
}

static void slot_put(uint32_t *slot, size_t nslot, uint32_t hash, uint32_t v)
{
	size_t i = hash & (nslot - 1);

	while (slot[i] != NIL)
		i = (i + 1) & (nslot - 1);
	slot[i] = v;
}

/* Makes the table at least twice as large as want (id_get keeps it at
 * most half full). */
static enum qm_err table_room(struct tb *b, size_t want)
{
	size_t ns = b->nslot ? b->nslot : 64, i;
	uint32_t *s;

	while (ns < 2 * want)
		ns *= 2;
	if (ns == b->nslot)
		return QM_OK;
	s = malloc(ns * sizeof(*s));
	if (!s)
		return QM_ERR_NOMEM;
	memset(s, 0xff, ns * sizeof(*s));
	for (i = 0; i < b->nc; i++)
		if (b->c[i].id)
			slot_put(s, ns, b->c[i].hash, (uint32_t)i);
	free(b->slot);
	b->slot = s;
	b->nslot = ns;
	return QM_OK;
}

/*
 * *out: the container of ID id. When there is none: with create, a new
 * one holding message msg (NIL: a dummy), else NIL. *found tells whether
 * it was there before.
 */
static enum qm_err id_get(struct tb *b, const struct idref *id, int create,
                          uint32_t msg, uint32_t *out, int *found)
{
	uint32_t h = id_hash(b, id->p, id->len), v;
	size_t i = h & (b->nslot - 1);
	enum qm_err rc;

	*found = 0;
	for (; (v = b->slot[i]) != NIL; i = (i + 1) & (b->nslot - 1)) {
		const struct cont *c = &b->c[v];

		if (c->hash == h && c->idlen == id->len &&
		    memcmp(c->id, id->p, id->len) == 0) {
			*found = 1;
			*out = v;
			return QM_OK;
		}
	}
	*out = NIL;
	if (!create)
		return QM_OK;
	if ((rc = cont_add(b, id->p, id->len, h, msg, out)) != QM_OK)
		return rc;
	if (2 * b->nc > b->nslot)
		return table_room(b, b->nc);
	b->slot[i] = *out;
	return QM_OK;
}

/* Pass 1: every message gets its container; the first message with an ID
 * holds it, a later one with the same ID is kept outside the table. */
static enum qm_err place_messages(struct tb *b)
{
	struct idref id;
	uint32_t v;
	size_t i;
	int found;
	enum qm_err rc;

	for (i = 0; i < b->n; i++) {
		if (id_first(b->in[i].message_id, 1, &id)) {
			rc = id_get(b, &id, 1, (uint32_t)i, &v, &found);
			if (rc != QM_OK)
				return rc;
			if (!found) {
				b->mcont[i] = v;
				continue;
			}
		}
		if ((rc = cont_add(b, NULL, 0, 0, (uint32_t)i, &v)) != QM_OK)
			return rc;
		b->mcont[i] = v;
	}
	return QM_OK;
}

/*
 * Pass 2: the chain of ancestors each message names (References, then
 * In-Reply-To's first ID when References lacks it; repeats and the
 * message's own ID dropped). Each link of the chain gives a dummy its
 * parent when it has none yet (the first message to say so wins); the
 * last ID is the message's parent, from its own headers, or it has none.
 */
static enum qm_err link_messages(struct tb *b)
{
	struct idref ids[QM_THREAD_REFMAX + 1], irt, own;
	uint32_t chain[QM_THREAD_REFMAX + 1], self, selfid, v;
	size_t i, k, nid, nch;
	int found, dup;
	enum qm_err rc;

	for (i = 0; i < b->n; i++) {
		const struct qm_client_msg_head *m = &b->in[i];
		uint32_t stamp = (uint32_t)i + 1;

		self = b->mcont[i];
		selfid = NIL;
		if (id_first(m->message_id, 1, &own)) {
			rc = id_get(b, &own, 0, NIL, &selfid, &found);
			if (rc != QM_OK)
				return rc;
		}
		nid = refs_read(m->references, ids);
		if (id_first(m->in_reply_to, 0, &irt)) {
			for (dup = 0, k = 0; k < nid && !dup; k++)
				dup = ids[k].len == irt.len &&
				      memcmp(ids[k].p, irt.p, irt.len) == 0;
			if (!dup)
				ids[nid++] = irt;
		}
		nch = 0;
		for (k = 0; k < nid; k++) {
			rc = id_get(b, &ids[k], 1, NIL, &v, &found);
			if (rc != QM_OK)
				return rc;
			if (v == self || v == selfid || b->c[v].stamp == stamp)
				continue;
			b->c[v].stamp = stamp;
			chain[nch++] = v;
		}
		for (k = 1; k < nch; k++) {
			struct cont *c = &b->c[chain[k]];

			if (c->msg == NIL && c->parent == NIL) {
				c->parent = chain[k - 1];
				c->seq = ++b->seq;
			}
		}
		b->c[self].parent = nch ? chain[nch - 1] : NIL;
		b->c[self].own = 1;
	}
	return QM_OK;
}

/* Whether x's link to its parent gives way to y's in a loop: a link
 * inferred from others' References before a message's own; of two
 * inferred, the later; of two own, the older message's (it becomes the
 * root: a conversation starts with its oldest message). */
static int weaker(const struct tb *b, uint32_t x, uint32_t y)
{
	const struct cont *cx = &b->c[x], *cy = &b->c[y];
	const struct qm_client_msg_head *mx, *my;

	if (cx->own != cy->own)
		return !cx->own;
	if (!cx->own)
		return cx->seq > cy->seq;
	mx = &b->in[cx->msg];
	my = &b->in[cy->msg];
	if (mx->date != my->date)
		return mx->date < my->date;
	return cx->msg < cy->msg;
}

/* Pass 3: cuts each loop of parent links at its weakest link. Every
 * container has at most one parent, so each tree holds at most one loop
 * and one cut per loop leaves a forest. */
static enum qm_err cut_loops(struct tb *b)
{
	unsigned char *state = calloc(b->nc ? b->nc : 1, 1);
	uint32_t u, v, w, cut;

	if (!state)
		return QM_ERR_NOMEM;
	for (u = 0; u < b->nc; u++) {
		if (state[u])
			continue;
		for (v = u; v != NIL && !state[v]; v = b->c[v].parent)
			state[v] = 1;
		if (v != NIL && state[v] == 1) {
			/* a loop through v: done with all of it, cut it */
			cut = v;
			state[v] = 2;
			for (w = b->c[v].parent; w != v; w = b->c[w].parent) {
				state[w] = 2;
				if (weaker(b, w, cut))
					cut = w;
			}
			b->c[cut].parent = NIL;
		}
		/* the path from u up to what was done before */
		for (v = u; v != NIL && state[v] == 1; v = b->c[v].parent)
			state[v] = 2;
	}
	free(state);
	return QM_OK;
}

/* --------------------------------------------------------------- sorting */

/* What one thing is sorted by. */
struct skey {
	const char *s;
	uint64_t pfx; /* text_prefix(s) */
	int64_t v;
	int64_t date;
	size_t slen;
	uint32_t idx; /* the last tie-break, and what the key is about */
	uint32_t node;
	int unread;
};

typedef int (*skey_cmp_fn)(const struct skey *, const struct skey *,
                           const struct qm_client_sort *);

/* A stable bottom-up merge sort of a (n entries, tmp as large). */
static void skey_sort(struct skey *a, struct skey *tmp, size_t n,
                      skey_cmp_fn cmp, const struct qm_client_sort *how)
{
	struct skey *src = a, *dst = tmp, *t;
	size_t width, lo, mid, hi, i, j, k;

	for (width = 1; width < n; width *= 2) {
		for (lo = 0; lo < n; lo += 2 * width) {
			mid = lo + width < n ? lo + width : n;
			hi = lo + 2 * width < n ? lo + 2 * width : n;
			for (i = lo, j = mid, k = lo; k < hi; k++) {
				if (i < mid && (j >= hi || cmp(&src[j], &src[i],
				                               how) >= 0))
					dst[k] = src[i++];
				else
					dst[k] = src[j++];
			}
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

static int cmp_i64(int64_t x, int64_t y)
{
	return x < y ? -1 : x > y;
}

/* The list orders: unread first, the key, newest first, the order given. */
static int list_cmp(const struct skey *x, const struct skey *y,
                    const struct qm_client_sort *how)
{
	int r;

	if (how->unread_first && x->unread != y->unread)
		return x->unread ? -1 : 1;
	switch (how->key) {
	case QM_SORT_FROM:
	case QM_SORT_SUBJECT:
		r = key_cmp(x->pfx, x->s, x->slen, y->pfx, y->s, y->slen);
		break;
	case QM_SORT_SIZE:
		r = cmp_i64(x->v, y->v);
		break;
	default:
		r = cmp_i64(x->date, y->date);
		break;
	}
	if (r)
		return how->descending ? -r : r;
	if ((r = cmp_i64(y->date, x->date)) != 0)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Oldest first, then in the order given. */
static int date_cmp(const struct skey *x, const struct skey *y,
                    const struct qm_client_sort *how)
{
	int r = cmp_i64(x->date, y->date);

	(void)how;
	if (r)
		return r;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* By base subject; in each subject the originals (v 0) before the rest;
 * then oldest first. */
static int subject_cmp(const struct skey *x, const struct skey *y,
                       const struct qm_client_sort *how)
{
	int r = key_cmp(x->pfx, x->s, x->slen, y->pfx, y->s, y->slen);

	if (r)
		return r;
	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return date_cmp(x, y, how);
}

static void list_key(const struct qm_client_msg_head *m, size_t idx,
                     enum qm_client_sort_key key, struct skey *k)
{
	memset(k, 0, sizeof(*k));
	k->idx = (uint32_t)idx;
	k->date = m->date;
	k->unread = m->unread != 0;
	k->v = m->size;
	if (key == QM_SORT_FROM)
		k->s = sender_key(m->from, &k->slen);
	else if (key == QM_SORT_SUBJECT)
		k->s = qm_client_subject_base(m->subject, &k->slen, NULL);
	if (k->s)
		k->pfx = text_prefix(k->s, k->slen);
}

enum qm_err qm_client_msgs_sort(const struct qm_client_msg_head *in, size_t n,
                                const struct qm_client_sort *how, size_t *order,
                                struct qm_error *err)
{
	struct skey *k;
	size_t i;

	if (n && (!in || !order || !how))
		return qm_error_set(err, QM_ERR_INVAL, "nothing to sort");
	if (n > QM_THREAD_MSGMAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "%zu messages are more than can be sorted "
		                    "at once (at most %u)",
		                    n, QM_THREAD_MSGMAX);
	if (n == 0)
		return QM_OK;
	k = malloc(2 * n * sizeof(*k));
	if (!k)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "not enough memory to sort %zu messages",
		                    n);
	for (i = 0; i < n; i++)
		list_key(&in[i], i, how->key, &k[i]);
	skey_sort(k, k + n, n, list_cmp, how);
	for (i = 0; i < n; i++)
		order[i] = k[i].idx;
	free(k);
	return QM_OK;
}

enum qm_err qm_client_threads_sort(struct qm_client_threads *t,
                                   const struct qm_client_msg_head *in,
                                   size_t n, const struct qm_client_sort *how,
                                   struct qm_error *err)
{
	struct qm_client_thread *copy;
	struct skey *k;
	size_t i, nt;

	if (!t || !how || (n && !in))
		return qm_error_set(err, QM_ERR_INVAL, "no threads to sort");
	if (n != t->nmsgs)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the threads were built from %zu messages, "
		                    "not %zu",
		                    t->nmsgs, n);
	nt = t->nthreads;
	if (nt == 0)
		return QM_OK;
	k = malloc(2 * nt * sizeof(*k));
	copy = malloc(nt * sizeof(*copy));
	if (!k || !copy) {
		free(k);
		free(copy);
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "not enough memory to sort %zu threads",
		                    nt);
	}
	for (i = 0; i < nt; i++) {
		const struct qm_client_thread *th = &t->threads[i];

		list_key(&in[th->first_msg], i, how->key, &k[i]);
		k[i].date = th->newest;
		k[i].v = th->size;
		k[i].unread = th->unread > 0;
	}
	skey_sort(k, k + nt, nt, list_cmp, how);
	memcpy(copy, t->threads, nt * sizeof(*copy));
	for (i = 0; i < nt; i++)
		t->threads[i] = copy[k[i].idx];
	free(copy);
	free(k);
	return QM_OK;
}

/* ---------------------------------------------------------------- forest */

/*
 * The forest after pruning, in nodes: node i < n is message i, a node >= n
 * a dummy root. par[] is each node's parent node (NIL: a root).
 */
struct forest {
	uint32_t *par;
	uint32_t *fwd;   /* a dummy merged into another node: that node */
	uint32_t *first; /* a dummy root: its oldest child (a message) */
	size_t nn;       /* nodes in use */
};

/*
 * Pass 4: prunes as JWZ prunes. A dummy with a message above it vanishes
 * and its children go to that message; a dummy root keeps its place only
 * with two or more children (one child becomes a root itself, none: it
 * vanishes). top[] (per container) is, for a dummy, the nearest message
 * above it, or the dummy root it hangs from.
 */
static enum qm_err prune(struct tb *b, struct forest *f)
{
	uint32_t *top = NULL, *cnt = NULL, *dnode = NULL, v, w, res, p;
	size_t i, ndummy = 0;
	enum qm_err rc = QM_ERR_NOMEM;

	top = malloc(b->nc * sizeof(*top));
	cnt = calloc(b->nc, sizeof(*cnt));
	dnode = malloc(b->nc * sizeof(*dnode));
	if (!top || !cnt || !dnode)
		goto out;
	memset(top, 0xff, b->nc * sizeof(*top));
	memset(dnode, 0xff, b->nc * sizeof(*dnode));
	for (i = 0; i < b->nc; i++) {
		if (b->c[i].msg != NIL || top[i] != NIL)
			continue;
		for (v = (uint32_t)i;; v = p) {
			p = b->c[v].parent;
			if (p == NIL) {
				res = v;
				break;
			}
			if (b->c[p].msg != NIL) {
				res = p;
				break;
			}
			if (top[p] != NIL) {
				res = top[p];
				break;
			}
		}
		for (w = (uint32_t)i;; w = b->c[w].parent) {
			top[w] = res;
			if (w == v)
				break;
		}
	}
	/* f->par[i] first holds a container: the message's or dummy root's */
	for (i = 0; i < b->n; i++) {
		p = b->c[b->mcont[i]].parent;
		if (p != NIL && b->c[p].msg == NIL)
			p = top[p];
		f->par[i] = p;
		if (p != NIL && b->c[p].msg == NIL)
			cnt[p]++;
	}
	for (i = 0; i < b->n; i++) {
		p = f->par[i];
		if (p == NIL)
			continue;
		if (b->c[p].msg != NIL) {
			f->par[i] = b->c[p].msg;
			continue;
		}
		if (cnt[p] < 2) {
			f->par[i] = NIL;
			continue;
		}
		if (dnode[p] == NIL) {
			dnode[p] = (uint32_t)(b->n + ndummy++);
			f->par[dnode[p]] = NIL;
			f->first[dnode[p]] = (uint32_t)i;
		}
		f->par[i] = dnode[p];
		if (date_older(b->in, i, f->first[dnode[p]]))
			f->first[dnode[p]] = (uint32_t)i;
	}
	f->nn = b->n + ndummy;
	rc = QM_OK;
out:
	free(dnode);
	free(cnt);
	free(top);
	return rc;
}

/* Hangs root x under node to: a message goes itself; a dummy vanishes and
 * its children follow (resolved in lay_out). */
static void attach(struct forest *f, size_t n, uint32_t x, uint32_t to)
{
	if (x < n)
		f->par[x] = to;
	else
		f->fwd[x] = to;
}

/*
 * Pass 5: the subject, for roots only. Roots are grouped by base subject
 * (a dummy root by its oldest child's). In a group, the originals (a
 * message whose subject had no Re:/Fwd: prefix) stay roots, each with its
 * own conversation; every other root (a reply by its subject, or a dummy:
 * the answers to a missing message) goes under the newest original not
 * younger than it (else the oldest original). Without an original, two or
 * more such roots are gathered under one dummy (the oldest dummy among
 * them, else a new one).
 */
static enum qm_err group_subjects(struct tb *b, struct forest *f)
{
	struct skey *k;
	size_t n = b->n, nk = 0, lo, mo, hi, e, a, z, m;
	uint32_t r, g;

	k = malloc(2 * (f->nn ? f->nn : 1) * sizeof(*k));
	if (!k)
		return QM_ERR_NOMEM;
	for (r = 0; r < f->nn; r++) {
		size_t rep = r < n ? r : f->first[r];
		int reply;

		if (f->par[r] != NIL)
			continue;
		memset(&k[nk], 0, sizeof(k[nk]));
		k[nk].s = qm_client_subject_base(b->in[rep].subject,
		                                 &k[nk].slen, &reply);
		if (k[nk].slen == 0)
			continue;
		k[nk].pfx = text_prefix(k[nk].s, k[nk].slen);
		k[nk].v = r < n ? reply : 1;
		k[nk].date = b->in[rep].date;
		k[nk].idx = (uint32_t)rep;
		k[nk].node = r;
		nk++;
	}
	skey_sort(k, k + nk, nk, subject_cmp, NULL);
	for (lo = 0; lo < nk; lo = hi) {
		for (hi = lo + 1;
		     hi < nk && key_cmp(k[lo].pfx, k[lo].s, k[lo].slen,
		                        k[hi].pfx, k[hi].s, k[hi].slen) == 0;
		     hi++)
			;
		for (mo = lo; mo < hi && k[mo].v == 0; mo++)
			;
		if (mo > lo) {
			for (e = mo; e < hi; e++) {
				/* the last original with date <= e's */
				a = lo;
				z = mo;
				while (a < z) {
					m = a + (z - a) / 2;
					if (k[m].date <= k[e].date)
						a = m + 1;
					else
						z = m;
				}
				attach(f, n, k[e].node,
				       k[a > lo ? a - 1 : lo].node);
			}
			continue;
		}
		if (hi - mo < 2)
			continue;
		for (g = NIL, e = mo; e < hi && g == NIL; e++)
			if (k[e].node >= n)
				g = k[e].node;
		if (g == NIL) {
			g = (uint32_t)f->nn++;
			f->par[g] = NIL;
			f->fwd[g] = NIL;
		}
		f->first[g] = (uint32_t)k[mo].idx;
		for (e = mo; e < hi; e++)
			if (k[e].node != g)
				attach(f, n, k[e].node, g);
	}
	free(k);
	return QM_OK;
}

/* Sorts the n messages a (in the order given) oldest first, stably: by
 * insertion when few (most messages have one reply or none), else by
 * merging, with tmp (n entries) as room. */
static void kids_sort(uint32_t *a, size_t n, const int64_t *date, uint32_t *tmp)
{
	uint32_t *src = a, *dst = tmp, *t, x;
	size_t width, lo, mid, hi, i, j, k;

	if (n <= 16) {
		for (i = 1; i < n; i++) {
			x = a[i];
			for (j = i; j > 0 && date[a[j - 1]] > date[x]; j--)
				a[j] = a[j - 1];
			a[j] = x;
		}
		return;
	}
	for (width = 1; width < n; width *= 2) {
		for (lo = 0; lo < n; lo += 2 * width) {
			mid = lo + width < n ? lo + width : n;
			hi = lo + 2 * width < n ? lo + 2 * width : n;
			for (i = lo, j = mid, k = lo; k < hi; k++) {
				if (i < mid &&
				    (j >= hi || date[src[j]] >= date[src[i]]))
					dst[k] = src[i++];
				else
					dst[k] = src[j++];
			}
		}
		t = src;
		src = dst;
		dst = t;
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

/* Saturating sum of sizes (a negative size counts as 0). */
static int64_t size_add(int64_t a, int64_t b)
{
	if (b <= 0)
		return a;
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* What lay_out and walk share: each node's children, oldest first, are
 * kids[cstart[v] .. cstart[v + 1]). */
struct layout {
	const struct tb *b;
	const struct forest *f;
	uint32_t *cstart, *kids;
	uint32_t *stack; /* positions in kids still to visit */
	uint32_t *pos;   /* where each node was written */
};

/*
 * Walks the thread under root depth first (each message before its
 * replies, replies oldest first) and fills *th; when nodes is not NULL,
 * writes its nodes from nodes[at] on. Iterative: a chain of any depth
 * takes no more stack than a flat thread.
 */
static void walk(const struct layout *l, uint32_t root,
                 struct qm_client_thread_node *nodes, size_t at,
                 struct qm_client_thread *th)
{
	const struct qm_client_msg_head *in = l->b->in;
	size_t n = l->b->n, sp = 0, j;
	uint32_t v = root, q = NIL, p;

	memset(th, 0, sizeof(*th));
	th->root = at;
	th->newest_msg = QM_THREAD_NONE;
	th->first_msg = root < n ? root : l->f->first[root];
	for (;;) {
		if (nodes) {
			struct qm_client_thread_node *nd = &nodes[at];

			l->pos[v] = (uint32_t)at;
			nd->msg = v < n ? v : QM_THREAD_NONE;
			nd->id = v < n ? in[v].id : 0;
			nd->child = nd->next = QM_THREAD_NONE;
			nd->nchild = l->cstart[v + 1] - l->cstart[v];
			nd->parent = QM_THREAD_NONE;
			nd->depth = 0;
			if ((p = l->f->par[v]) != NIL) {
				nd->parent = l->pos[p];
				nd->depth = nodes[l->pos[p]].depth + 1;
				if (q == l->cstart[p])
					nodes[l->pos[p]].child = at;
				else
					nodes[l->pos[l->kids[q - 1]]].next = at;
			}
		}
		if (v < n) {
			th->count++;
			th->unread += in[v].unread != 0;
			th->size = size_add(th->size, in[v].size);
			if (th->newest_msg == QM_THREAD_NONE ||
			    !date_older(in, v, th->newest_msg)) {
				th->newest = in[v].date;
				th->newest_msg = v;
			}
		}
		at++;
		for (j = l->cstart[v + 1]; j > l->cstart[v]; j--)
			l->stack[sp++] = (uint32_t)(j - 1);
		if (!sp)
			break;
		q = l->stack[--sp];
		v = l->kids[q];
	}
	th->nnodes = at - th->root;
}

/*
 * Pass 6: the result. Children (messages only: a dummy is always a root)
 * go oldest first; the threads are measured, sorted newest first, then
 * written in that order.
 */
static enum qm_err lay_out(struct tb *b, struct forest *f,
                           struct qm_client_threads *t)
{
	struct layout l = {b, f, NULL, NULL, NULL, NULL};
	struct qm_client_thread th;
	struct qm_client_sort newest = {QM_SORT_DATE, 1, 0};
	struct skey *k = NULL;
	int64_t *dates = NULL;
	uint32_t *roots = NULL, p;
	size_t n = b->n, nn = f->nn, i, at, nt = 0, nalive = 0;
	enum qm_err rc = QM_ERR_NOMEM;

	for (i = 0; i < n; i++) {
		p = f->par[i];
		if (p != NIL && p >= n && f->fwd[p] != NIL)
			f->par[i] = f->fwd[p];
	}
	for (i = 0; i < nn; i++)
		nalive += i < n || f->fwd[i] == NIL;
	roots = malloc((nn ? nn : 1) * sizeof(*roots));
	if (!roots)
		goto out;
	for (i = 0; i < nn; i++)
		if (f->par[i] == NIL && (i < n || f->fwd[i] == NIL))
			roots[nt++] = (uint32_t)i;
	k = malloc(2 * (nt ? nt : 1) * sizeof(*k));
	dates = malloc((n ? n : 1) * sizeof(*dates));
	l.cstart = calloc(nn + 1, sizeof(*l.cstart));
	l.kids = malloc((n ? n : 1) * sizeof(*l.kids));
	l.stack = malloc((nn ? nn : 1) * sizeof(*l.stack));
	l.pos = malloc((nn ? nn : 1) * sizeof(*l.pos));
	t->nodes = malloc((nalive ? nalive : 1) * sizeof(*t->nodes));
	t->threads = malloc((nt ? nt : 1) * sizeof(*t->threads));
	if (!k || !dates || !l.cstart || !l.kids || !l.stack || !l.pos ||
	    !t->nodes || !t->threads)
		goto out;
	/* children by parent (counting sort), then oldest first in each */
	for (i = 0; i < n; i++) {
		dates[i] = b->in[i].date;
		if (f->par[i] != NIL)
			l.cstart[f->par[i] + 1]++;
	}
	for (i = 0; i < nn; i++)
		l.cstart[i + 1] += l.cstart[i];
	memcpy(l.pos, l.cstart, nn * sizeof(*l.pos)); /* fill cursors */
	for (i = 0; i < n; i++)
		if ((p = f->par[i]) != NIL)
			l.kids[l.pos[p]++] = (uint32_t)i;
	for (i = 0; i < nn; i++)
		kids_sort(l.kids + l.cstart[i], l.cstart[i + 1] - l.cstart[i],
		          dates, l.stack);
	/* each thread's newest message; newest thread first */
	for (i = 0; i < nt; i++) {
		walk(&l, roots[i], NULL, 0, &th);
		memset(&k[i], 0, sizeof(k[i]));
		k[i].date = th.newest;
		k[i].idx = (uint32_t)i;
	}
	skey_sort(k, k + nt, nt, list_cmp, &newest);
	for (at = 0, i = 0; i < nt; i++) {
		walk(&l, roots[k[i].idx], t->nodes, at, &t->threads[i]);
		at += t->threads[i].nnodes;
	}
	t->nnodes = at;
	t->nthreads = nt;
	rc = QM_OK;
out:
	free(roots);
	free(l.pos);
	free(l.stack);
	free(l.kids);
	free(l.cstart);
	free(dates);
	free(k);
	return rc;
}

void qm_client_threads_free(struct qm_client_threads **t)
{
	if (!t || !*t)
		return;
	free((*t)->nodes);
	free((*t)->threads);
	free(*t);
	*t = NULL;
}

enum qm_err qm_client_thread_build(const struct qm_client_msg_head *in,
                                   size_t n, struct qm_client_threads **out,
                                   struct qm_error *err)
{
	struct tb b;
	struct forest f;
	struct qm_client_threads *t = NULL;
	size_t cap;
	enum qm_err rc = QM_ERR_NOMEM;

	if (!out || (n && !in))
		return qm_error_set(err, QM_ERR_INVAL, "no messages to thread");
	if (n > QM_THREAD_MSGMAX)
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "%zu messages are more than can be threaded "
		    "at once (at most %u)",
		    n, QM_THREAD_MSGMAX);
	memset(&b, 0, sizeof(b));
	memset(&f, 0, sizeof(f));
	b.in = in;
	b.n = n;
	qm_random(b.key, sizeof(b.key));
	/* dummies left after pruning each have two children or more */
	cap = n + n / 2 + 1;
	b.mcont = malloc((n ? n : 1) * sizeof(*b.mcont));
	f.par = malloc(cap * sizeof(*f.par));
	f.fwd = malloc(cap * sizeof(*f.fwd));
	f.first = malloc(cap * sizeof(*f.first));
	t = calloc(1, sizeof(*t));
	if (!b.mcont || !f.par || !f.fwd || !f.first || !t)
		goto out;
	memset(f.fwd, 0xff, cap * sizeof(*f.fwd));
	if ((rc = table_room(&b, n + 16)) != QM_OK ||
	    (rc = place_messages(&b)) != QM_OK ||
	    (rc = link_messages(&b)) != QM_OK ||
	    (rc = cut_loops(&b)) != QM_OK || (rc = prune(&b, &f)) != QM_OK ||
	    (rc = group_subjects(&b, &f)) != QM_OK ||
	    (rc = lay_out(&b, &f, t)) != QM_OK)
		goto out;
	t->nmsgs = n;
	*out = t;
	t = NULL;
out:
	qm_client_threads_free(&t);
	free(f.first);
	free(f.fwd);
	free(f.par);
	free(b.mcont);
	free(b.slot);
	free(b.c);
	sodium_memzero(b.key, sizeof(b.key));
	if (rc != QM_OK)
		return qm_error_set(
		    err, rc, "not enough memory to thread %zu messages", n);
	return QM_OK;
}
