/* SPDX-License-Identifier: MIT */
/*
 * Parsing messages (GMime) with hard bounds on size, part count, nesting
 * depth and headers: classifies an incoming message as QMail (extracting
 * the envelope bytes, the X-QKD routing copies and the bound header values
 * exactly as on the wire) or plain mail, and turns a readable message (the
 * decrypted inner message or plain mail) into subject, text, html (kept as
 * text, never executed) and attachments.
 */
#include <gmime/gmime.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/private.h"

struct lim {
	size_t size, parts, depth, headers, header_len, key_ids;
	const struct qm_mail_limits *given; /* for the hint; may be NULL */
	/* the source's envelope tap (qm_mail_parse_big_src), or NULL */
	void (*tap)(void *arg, const void *p, size_t n);
	void *tap_arg;
};

static void limits(const struct qm_mail_limits *l, struct lim *o)
{
	o->size = l && l->max_size ? l->max_size : QM_MAIL_DEF_MAXSIZE;
	o->parts = l && l->max_parts ? l->max_parts : QM_MAIL_DEF_MAXPARTS;
	o->depth = l && l->max_depth ? l->max_depth : QM_MAIL_DEF_MAXDEPTH;
	o->headers =
	    l && l->max_headers ? l->max_headers : QM_MAIL_DEF_MAXHEADERS;
	o->header_len = l && l->max_header_len ? l->max_header_len
	                                       : QM_MAIL_DEF_MAXHEADERLEN;
	o->key_ids =
	    l && l->max_key_ids ? l->max_key_ids : QM_MAIL_DEF_MAXKEYIDS;
	o->given = l;
	o->tap = NULL;
	o->tap_arg = NULL;
}

enum qm_err qm_mail_limit_error(const struct qm_mail_limits *lim,
                                const char *name, size_t limit,
                                struct qm_error *err, const char *fmt, ...)
{
	char what[QM_ERR_MSGMAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (lim && lim->hint && *lim->hint)
		qm_error_set(err, QM_ERR_TOOBIG,
		             "%s; your limit is %zu (%s %s N)", what, limit,
		             lim->hint, name);
	else
		qm_error_set(err, QM_ERR_TOOBIG, "%s; the limit is %zu (%s)",
		             what, limit, name);
	/* the limit's name for the layer above, which words what to do */
	qm_error_hint(err, 0, name);
	return QM_ERR_TOOBIG;
}

/* "boundary=" at p (9 bytes there), letters in any case. Inline and
 * without a call per "b": these scans run over every byte of every
 * message, attachments included (about a tenth of a sync's CPU time with
 * strncasecmp at each 'b'). */
static inline int boundary_kw(const unsigned char *p)
{
	static const char kw[] = "boundary";

	if ((p[0] | 0x20) != 'b')
		return 0;
	for (int i = 1; i < 8; i++)
		if ((p[i] | 0x20) != kw[i])
			return 0;
	return p[8] == '=';
}

/* The next "boundary=" whose '=' is at or after *at (memchr finds each
 * '='; the word is checked before it), or NULL; *at moves past it. */
static const unsigned char *next_boundary_kw(const unsigned char *p, size_t n,
                                             size_t *at)
{
	while (*at < n) {
		const unsigned char *q = memchr(p + *at, '=', n - *at);
		size_t k;

		if (!q) {
			*at = n;
			return NULL;
		}
		k = (size_t)(q - p);
		*at = k + 1;
		if (k >= 8 && boundary_kw(p + k - 8))
			return p + k - 8;
	}
	return NULL;
}

/*
 * Counts the lines that open a part ("--" and a declared boundary, not a
 * closing "--b--") before GMime sees the bytes: GMime builds every part of
 * a "many tiny parts" bomb (and takes seconds for a few MB) before the walk
 * below could count them. Each such line is one child part, so the walk's
 * count is at least one more than this. At most maxb boundaries are looked
 * at (count_boundaries has checked there are no more).
 */
static size_t count_delimiters(const unsigned char *p, size_t n, size_t maxb)
{
	struct {
		const unsigned char *s;
		size_t len;
	} *bv = calloc(maxb ? maxb : 1, sizeof(*bv));
	size_t nb = 0, c = 0;

	if (!bv)
		return 0; /* the walk still counts */
	for (size_t at = 0; nb < maxb;) {
		const unsigned char *b = next_boundary_kw(p, n, &at);
		size_t i, j, k;

		if (!b || (i = (size_t)(b - p)) + 9 >= n)
			break;
		j = i + 9;
		if (j < n && p[j] == '"')
			j++;
		for (k = j; k < n && k - j < 200 && p[k] != '"' &&
		            p[k] != ';' && p[k] != ' ' && p[k] != '\t' &&
		            p[k] != '\r' && p[k] != '\n';
		     k++)
			;
		if (k > j) {
			bv[nb].s = p + j;
			bv[nb++].len = k - j;
		}
	}
	/* each line start, found with memchr */
	for (size_t i = 0; nb && i + 2 < n;) {
		const unsigned char *q;

		for (size_t b = 0; p[i] == '-' && p[i + 1] == '-' && b < nb;
		     b++) {
			size_t e = i + 2 + bv[b].len;

			if (e <= n &&
			    memcmp(p + i + 2, bv[b].s, bv[b].len) == 0 &&
			    !(e + 1 < n && p[e] == '-' && p[e + 1] == '-')) {
				c++;
				break;
			}
		}
		if (!(q = memchr(p + i, '\n', n - i)))
			break;
		i = (size_t)(q - p) + 1;
	}
	free(bv);
	return c;
}

/* Counts "boundary=" before GMime sees the bytes: a nesting bomb needs one
 * per level, so this bounds GMime's own recursion. */
static size_t count_boundaries(const unsigned char *p, size_t n)
{
	size_t c = 0, at = 0;

	while (next_boundary_kw(p, n, &at))
		c++;
	return c;
}

static enum qm_err check_headers(GMimeObject *o, const struct lim *l,
                                 struct qm_error *err)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int n = hl ? g_mime_header_list_get_count(hl) : 0;

	if ((size_t)n > l->headers)
		return qm_mail_limit_error(l->given, "limit.headers",
		                           l->headers, err,
		                           "a message part has %d headers", n);
	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *raw = g_mime_header_get_raw_value(h);
		const char *name = g_mime_header_get_name(h);
		size_t max = l->header_len;

		/* every QMail message carries its sender's identity (about
		 * 4.7 KiB folded): a tighter user limit does not refuse
		 * them all; the header has a bound of its own */
		if (name && strcasecmp(name, QM_MAIL_IDHDR_NAME) == 0 &&
		    max < QM_MAIL_IDHDR_RAWMAX)
			max = QM_MAIL_IDHDR_RAWMAX;
		if (raw && strlen(raw) > max)
			return qm_mail_limit_error(
			    l->given, "limit.header_length", max, err,
			    "the header %s is %zu bytes long", name,
			    strlen(raw));
	}
	return QM_OK;
}

/* The raw value of header name, unfolded (CRLF removed) and trimmed. */
static char *raw_header(GMimeObject *o, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	GMimeHeader *h = hl ? g_mime_header_list_get_header(hl, name) : NULL;
	const char *raw = h ? g_mime_header_get_raw_value(h) : NULL;
	size_t n, j = 0;
	char *r;

	if (!raw)
		return mail_strdup("");
	n = strlen(raw);
	if (!(r = malloc(n + 1)))
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (raw[i] != '\r' && raw[i] != '\n')
			r[j++] = raw[i];
	while (j && (r[j - 1] == ' ' || r[j - 1] == '\t'))
		j--;
	r[j] = '\0';
	n = strspn(r, " \t");
	memmove(r, r + n, j - n + 1);
	return r;
}

/* The raw value of the QMail-Identity header, "" when absent or when
 * there are several (none of them is believed). */
static char *identity_header(GMimeObject *o)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int n = hl ? g_mime_header_list_get_count(hl) : 0, found = 0;

	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
		const char *name = h ? g_mime_header_get_name(h) : NULL;

		if (name && strcasecmp(name, QM_MAIL_IDHDR_NAME) == 0)
			found++;
	}
	return found == 1 ? raw_header(o, QM_MAIL_IDHDR_NAME) : mail_strdup("");
}

static enum qm_err get_hdrs(GMimeObject *o, struct qm_mail_hdrs *h,
                            struct qm_error *err)
{
	if (!(h->from = raw_header(o, "From")) ||
	    !(h->to = raw_header(o, "To")) || !(h->cc = raw_header(o, "Cc")) ||
	    !(h->date = raw_header(o, "Date")) ||
	    !(h->message_id = raw_header(o, "Message-ID")))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return QM_OK;
}

/* Decoded content of a leaf part into a malloc'd buffer (NUL added). */
static enum qm_err part_bytes(GMimePart *p, size_t max, unsigned char **out,
                              size_t *len, struct qm_error *err)
{
	GMimeDataWrapper *w = g_mime_part_get_content(p);
	GMimeStream *ms;
	GByteArray *ba;
	enum qm_err e = QM_OK;

	*out = NULL;
	*len = 0;
	if (!w) {
		*out = calloc(1, 1);
		return *out ? QM_OK
		            : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	ms = g_mime_stream_mem_new();
	if (g_mime_data_wrapper_write_to_stream(w, ms) < 0) {
		g_object_unref(ms);
		return qm_error_set(err, QM_ERR_PARSE,
		                    "a message part could not be decoded");
	}
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	if (ba->len > max)
		e = qm_error_set(err, QM_ERR_TOOBIG,
		                 "a message part of %u bytes is larger than "
		                 "the limit of %zu (limit.message_size)",
		                 ba->len, max);
	else if (!(*out = malloc(ba->len + 1)))
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (e == QM_OK) {
		if (ba->len)
			memcpy(*out, ba->data, ba->len);
		(*out)[ba->len] = '\0';
		*len = ba->len;
	}
	if (ba->len)
		qm_wipe(ba->data, ba->len);
	g_object_unref(ms);
	return e;
}

/* ---------------------------------------------------------- content */

struct walk {
	struct qm_mail_content *c;
	struct lim l;
	size_t parts;
	size_t cap;
	int list_only; /* attachments named, not decoded (data NULL) */
	int sized;     /* with list_only: len their decoded size (counted) */
	/* qm_mail_att_open_src: the attachment wanted, found where */
	size_t want;
	GMimeObject *hit;
};

static enum qm_err add_att_cid(struct walk *w, const char *name,
                               const char *type, const char *cid,
                               unsigned char *data, size_t len,
                               struct qm_error *err);

static enum qm_err add_att(struct walk *w, const char *name, const char *type,
                           unsigned char *data, size_t len,
                           struct qm_error *err)
{
	return add_att_cid(w, name, type, "", data, len, err);
}

static enum qm_err add_att_cid(struct walk *w, const char *name,
                               const char *type, const char *cid,
                               unsigned char *data, size_t len,
                               struct qm_error *err)
{
	struct qm_mail_content *c = w->c;
	struct qm_mail_part *p;

	if (c->natt == w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 4;
		void *t = reallocarray(c->att, nc, sizeof(*c->att));
		if (!t)
			goto nomem;
		c->att = t;
		w->cap = nc;
	}
	p = &c->att[c->natt];
	p->name = mail_strdup(name);
	p->type = mail_strdup(type);
	p->cid = mail_strdup(cid ? cid : "");
	if (!p->name || !p->type || !p->cid) {
		free(p->name);
		free(p->type);
		free(p->cid);
		goto nomem;
	}
	p->data = data;
	p->len = len;
	c->natt++;
	return QM_OK;
nomem:
	if (data) {
		qm_wipe(data, len);
		free(data);
	}
	return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
}

/* Text of a text part converted to UTF-8 by GMime, with LF line ends. */
static enum qm_err text_of(GMimeTextPart *t, size_t max, char **out,
                           struct qm_error *err)
{
	char *s = g_mime_text_part_get_text(t);
	size_t n = s ? strlen(s) : 0;

	if (n > max) {
		if (s) {
			qm_wipe(s, n);
			g_free(s);
		}
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "a text part of %zu bytes is larger than "
		                    "the limit of %zu (limit.message_size)",
		                    n, max);
	}
	/* CRLF (the wire form) becomes LF for the reader */
	if ((*out = malloc(n + 1)) != NULL) {
		size_t j = 0;
		for (size_t i = 0; i < n; i++)
			if (!(s[i] == '\r' && i + 1 < n && s[i + 1] == '\n'))
				(*out)[j++] = s[i];
		(*out)[j] = '\0';
	}
	if (s) {
		qm_wipe(s, n);
		g_free(s);
	}
	return *out ? QM_OK : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
}

/* The decoded size of part p, as part_bytes decodes it, counted through
 * a stream that keeps nothing (no copy of the content is made). */
static enum qm_err part_size(GMimePart *p, size_t *len, struct qm_error *err)
{
	GMimeDataWrapper *w = g_mime_part_get_content(p);
	GMimeStream *ns;
	enum qm_err e = QM_OK;

	*len = 0;
	if (!w)
		return QM_OK;
	ns = g_mime_stream_null_new();
	if (g_mime_data_wrapper_write_to_stream(w, ns) < 0)
		e = qm_error_set(err, QM_ERR_PARSE,
		                 "a message part could not be decoded");
	else
		*len = (size_t)GMIME_STREAM_NULL(ns)->written;
	g_object_unref(ns);
	return e;
}

/* The size of forwarded message m as mail_gmime_write gives it. */
static size_t message_size(GMimeMessage *m)
{
	GMimeFormatOptions *fo = g_mime_format_options_new();
	GMimeStream *ns = g_mime_stream_null_new();
	size_t n;

	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	n = g_mime_object_write_to_stream(GMIME_OBJECT(m), fo, ns) < 0
	        ? 0
	        : (size_t)GMIME_STREAM_NULL(ns)->written;
	g_object_unref(ns);
	g_mime_format_options_free(fo);
	return n;
}

static enum qm_err walk_obj(struct walk *w, GMimeObject *o, size_t depth,
                            struct qm_error *err)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	enum qm_err e;

	if (depth > w->l.depth)
		return qm_mail_limit_error(w->l.given, "limit.depth",
		                           w->l.depth, err,
		                           "the message nests parts at least "
		                           "%zu levels deep",
		                           depth);
	if (++w->parts > w->l.parts)
		return qm_mail_limit_error(
		    w->l.given, "limit.parts", w->l.parts, err,
		    "the message has at least %zu parts", w->parts);
	if ((e = check_headers(o, &w->l, err)))
		return e;
	if (GMIME_IS_MULTIPART(o)) {
		GMimeMultipart *mp = GMIME_MULTIPART(o);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n; i++)
			if ((e = walk_obj(w, g_mime_multipart_get_part(mp, i),
			                  depth + 1, err)))
				return e;
		return QM_OK;
	}
	if (GMIME_IS_MESSAGE_PART(o)) {
		/* a forwarded message: kept whole as an .eml attachment */
		GMimeMessage *m =
		    g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		struct qm_buf b;
		unsigned char *d;
		size_t len;

		if (!m)
			return QM_OK;
		if (w->c->natt == w->want)
			w->hit = o;
		if (w->list_only)
			return add_att(w, "message.eml", "message/rfc822", NULL,
			               w->sized ? message_size(m) : 0, err);
		qm_buf_init(&b, w->l.size);
		if ((e = mail_gmime_write(GMIME_OBJECT(m), &b, err))) {
			qm_buf_free(&b);
			return e;
		}
		d = qm_buf_steal(&b, &len);
		if (!d && !(d = calloc(1, 1)))
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		return add_att(w, "message.eml", "message/rfc822", d, len, err);
	}
	if (GMIME_IS_PART(o)) {
		GMimePart *p = GMIME_PART(o);
		const char *fname = g_mime_part_get_filename(p);
		const char *disp = g_mime_object_get_disposition(o);
		int attach = (fname && *fname) ||
		             (disp && strcasecmp(disp, "attachment") == 0);
		char *type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
		unsigned char *d;
		size_t len;

		if (!attach && GMIME_IS_TEXT_PART(o) &&
		    g_mime_content_type_is_type(ct, "text", "plain") &&
		    !*w->c->text) {
			free(w->c->text);
			w->c->text = NULL;
			e = text_of(GMIME_TEXT_PART(o), w->l.size, &w->c->text,
			            err);
			g_free(type);
			return e;
		}
		if (!attach && GMIME_IS_TEXT_PART(o) &&
		    g_mime_content_type_is_type(ct, "text", "html") &&
		    !w->c->html) {
			e = text_of(GMIME_TEXT_PART(o), w->l.size, &w->c->html,
			            err);
			g_free(type);
			return e;
		}
		if (w->c->natt == w->want)
			w->hit = o;
		/* decoding cannot make a part larger than the message, which
		 * is within the limit already: a list needs no decoding */
		if (w->list_only) {
			d = NULL;
			len = 0;
			e = w->sized ? part_size(p, &len, err) : QM_OK;
		} else
			e = part_bytes(p, w->l.size, &d, &len, err);
		if (e == QM_OK)
			e = add_att_cid(
			    w, fname ? fname : "",
			    type ? type : "application/octet-stream",
			    g_mime_object_get_content_id(o), d, len, err);
		g_free(type);
		return e;
	}
	return QM_OK;
}

void qm_mail_content_free(struct qm_mail_content **pc)
{
	struct qm_mail_content *c = pc ? *pc : NULL;

	if (!c)
		return;
	mail_hdrs_clear(&c->hdrs);
	if (c->subject) {
		qm_wipe(c->subject, strlen(c->subject));
		free(c->subject);
	}
	free(c->in_reply_to);
	free(c->references);
	free(c->reply_to);
	free(c->identity);
	free(c->chat_version);
	free(c->chat_group_id);
	free(c->chat_member_added);
	free(c->chat_member_removed);
	free(c->chat_disposition);
	if (c->text) {
		qm_wipe(c->text, strlen(c->text));
		free(c->text);
	}
	if (c->html) {
		qm_wipe(c->html, strlen(c->html));
		free(c->html);
	}
	for (size_t i = 0; i < c->natt; i++) {
		free(c->att[i].name);
		free(c->att[i].type);
		free(c->att[i].cid);
		if (c->att[i].data) {
			qm_wipe(c->att[i].data, c->att[i].len);
			free(c->att[i].data);
		}
	}
	free(c->att);
	free(c);
	*pc = NULL;
}

/*
 * Parses bytes into a GMime message after the size and boundary checks.
 * The message reads msg in place (no copy of it, nor of its parts: GMime
 * keeps substreams of the input), so msg must stay as it is until the
 * message is released with release_message. Every plaintext copy GMime
 * would otherwise make (and free unwiped) is avoided; what is taken out
 * (text, attachments, the envelope) is copied by the callers, which wipe
 * it. Copying the input and each part was a tenth of a large sync's CPU.
 */
static enum qm_err parse_message(const void *msg, size_t len,
                                 const struct lim *l, GMimeMessage **out,
                                 GByteArray **in, struct qm_error *err)
{
	GMimeStream *s;
	GMimeParser *p;
	GMimeMessage *m;
	size_t nb;

	*in = NULL;
	if (!msg || len == 0)
		return qm_error_set(err, QM_ERR_PARSE, "empty message");
	if (len > l->size)
		return qm_mail_limit_error(l->given, "limit.message_size",
		                           l->size, err,
		                           "the message is %zu bytes", len);
	if ((nb = count_boundaries(msg, len)) > l->parts)
		return qm_mail_limit_error(l->given, "limit.parts", l->parts,
		                           err,
		                           "the message declares %zu multipart "
		                           "boundaries, so it has at least as "
		                           "many parts",
		                           nb);
	/* each delimiter line opens one part, inside at least one more */
	if ((nb = count_delimiters(msg, len, l->parts)) >= l->parts)
		return qm_mail_limit_error(
		    l->given, "limit.parts", l->parts, err,
		    "the message has at least %zu parts", nb + 1);
	mail_gmime_init();
	/* the array borrows msg: the stream does not own it (never freed or
	 * grown by GMime, which only reads), release_message takes it back */
	*in = g_byte_array_new_take((guint8 *)(uintptr_t)msg, len);
	s = g_mime_stream_mem_new_with_byte_array(*in);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(s), FALSE);
	p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_persist_stream(p, TRUE);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s); /* the message's parts keep it while they need it */
	if (!m) {
		g_byte_array_free(*in, FALSE); /* msg stays the caller's */
		*in = NULL;
		return qm_error_set(err, QM_ERR_PARSE,
		                    "the message is not valid MIME");
	}
	*out = m;
	return QM_OK;
}

/* Releases a message of parse_message, then its borrowed input. */
static void release_message(GMimeMessage *m, GByteArray *in)
{
	if (m)
		g_object_unref(m);
	if (in)
		g_byte_array_free(in, FALSE); /* the bytes stay the caller's */
}

static enum qm_err content_walk(GMimeMessage *m, struct walk *wp,
                                struct qm_mail_content **out,
                                struct qm_error *err);

/* list_only: 0 decode the attachments, 1 list them, 2 list them with
 * their decoded sizes */
static enum qm_err content_from(GMimeMessage *m, const struct lim *l,
                                int list_only, struct qm_mail_content **out,
                                struct qm_error *err)
{
	struct walk w = {.l = *l,
	                 .list_only = list_only != 0,
	                 .sized = list_only == 2,
	                 .want = SIZE_MAX};

	return content_walk(m, &w, out, err);
}

/* The readable parts of m as the walk w (set up) finds them. */
static enum qm_err content_walk(GMimeMessage *m, struct walk *wp,
                                struct qm_mail_content **out,
                                struct qm_error *err)
{
	struct walk w = *wp;
	const struct lim *l = &wp->l;
	GMimeObject *body = g_mime_message_get_mime_part(m);
	const char *subj = g_mime_message_get_subject(m);
	enum qm_err e;

	if (!(w.c = calloc(1, sizeof(*w.c))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if ((e = check_headers(GMIME_OBJECT(m), l, err)) ||
	    (e = get_hdrs(GMIME_OBJECT(m), &w.c->hdrs, err)))
		goto out;
	if (!(w.c->subject = mail_strdup(subj ? subj : "")) ||
	    !(w.c->in_reply_to = raw_header(GMIME_OBJECT(m), "In-Reply-To")) ||
	    !(w.c->references = raw_header(GMIME_OBJECT(m), "References")) ||
	    !(w.c->reply_to = raw_header(GMIME_OBJECT(m), "Reply-To")) ||
	    !(w.c->identity = identity_header(GMIME_OBJECT(m))) ||
	    !(w.c->chat_version =
	          raw_header(GMIME_OBJECT(m), "Chat-Version")) ||
	    !(w.c->chat_group_id =
	          raw_header(GMIME_OBJECT(m), "Chat-Group-ID")) ||
	    !(w.c->chat_member_added =
	          raw_header(GMIME_OBJECT(m), "Chat-Group-Member-Added")) ||
	    !(w.c->chat_member_removed =
	          raw_header(GMIME_OBJECT(m), "Chat-Group-Member-Removed")) ||
	    !(w.c->chat_disposition =
	          raw_header(GMIME_OBJECT(m), "Chat-Disposition")) ||
	    !(w.c->text = mail_strdup(""))) {
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (body && (e = walk_obj(&w, body, 1, err)))
		goto out;
	*out = w.c;
	w.c = NULL;
	wp->hit = w.hit;
	e = QM_OK;
out:
	qm_mail_content_free(&w.c);
	return e;
}

enum qm_err qm_mail_content_parse(const void *msg, size_t len,
                                  const struct qm_mail_limits *lim,
                                  struct qm_mail_content **out,
                                  struct qm_error *err)
{
	struct lim l;
	GMimeMessage *m = NULL;
	GByteArray *in = NULL;
	enum qm_err e;

	limits(lim, &l);
	if ((e = parse_message(msg, len, &l, &m, &in, err)))
		return e;
	e = content_from(m, &l, 0, out, err);
	release_message(m, in);
	return e;
}

static enum qm_err content_list(const void *msg, size_t len,
                                const struct qm_mail_limits *lim, int mode,
                                struct qm_mail_content **out,
                                struct qm_error *err)
{
	struct lim l;
	GMimeMessage *m = NULL;
	GByteArray *in = NULL;
	enum qm_err e;

	limits(lim, &l);
	if ((e = parse_message(msg, len, &l, &m, &in, err)))
		return e;
	e = content_from(m, &l, mode, out, err);
	release_message(m, in);
	return e;
}

enum qm_err qm_mail_content_list(const void *msg, size_t len,
                                 const struct qm_mail_limits *lim,
                                 struct qm_mail_content **out,
                                 struct qm_error *err)
{
	return content_list(msg, len, lim, 1, out, err);
}

enum qm_err qm_mail_content_outline(const void *msg, size_t len,
                                    const struct qm_mail_limits *lim,
                                    struct qm_mail_content **out,
                                    struct qm_error *err)
{
	return content_list(msg, len, lim, 2, out, err);
}

/* ------------------------------------------------- from a source */

/*
 * The scans of parse_message over a source read in windows: a window's
 * own bytes are [lo, hi), with SCAN_BACK bytes before (a keyword before
 * its '=') and SCAN_AHEAD after (what a check reads past its position: a
 * quote, a boundary of up to 200 bytes, "--") from its neighbours, so
 * each position is looked at once with what the whole-buffer scan sees.
 */
#define SCAN_WIN   (256u * 1024u)
#define SCAN_BACK  8u
#define SCAN_AHEAD 256u
#define BOUNDMAX   200u

struct scan {
	size_t maxb;
	size_t nbound; /* "boundary=" seen */
	size_t nb;     /* declared boundaries kept (at most maxb) */
	char (*bv)[BOUNDMAX];
	size_t *bl;
	size_t delims; /* lines that open a part */
	int second;    /* the pass counting delimiter lines */
};

/* The first pass on one window: "boundary=" and the values declared. */
static void scan_bounds(struct scan *sc, const unsigned char *p, size_t n,
                        size_t lo, size_t hi)
{
	const unsigned char *b;
	size_t at = lo;

	while ((b = next_boundary_kw(p, n, &at)) != NULL) {
		size_t i = (size_t)(b - p), j, k;

		if (i + 8 >= hi)
			break;
		sc->nbound++;
		if (sc->nb >= sc->maxb || i + 9 >= n)
			continue;
		j = i + 9;
		if (j < n && p[j] == '"')
			j++;
		for (k = j; k < n && k - j < BOUNDMAX && p[k] != '"' &&
		            p[k] != ';' && p[k] != ' ' && p[k] != '\t' &&
		            p[k] != '\r' && p[k] != '\n';
		     k++)
			;
		if (k > j) {
			memcpy(sc->bv[sc->nb], p + j, k - j);
			sc->bl[sc->nb++] = k - j;
		}
	}
}

/* The second pass on one window: lines that open a part. */
static void scan_delims(struct scan *sc, const unsigned char *p, size_t n,
                        size_t lo, size_t hi, uint64_t base)
{
	size_t i = lo;

	if (!(base == 0 && lo == 0) && p[lo - 1] != '\n') {
		const unsigned char *q = memchr(p + lo, '\n', n - lo);

		if (!q)
			return;
		i = (size_t)(q - p) + 1;
	}
	while (sc->nb && i < hi && i + 2 < n) {
		const unsigned char *q;

		for (size_t b = 0; p[i] == '-' && p[i + 1] == '-' && b < sc->nb;
		     b++) {
			size_t e = i + 2 + sc->bl[b];

			if (e <= n &&
			    memcmp(p + i + 2, sc->bv[b], sc->bl[b]) == 0 &&
			    !(e + 1 < n && p[e] == '-' && p[e + 1] == '-')) {
				sc->delims++;
				break;
			}
		}
		if (!(q = memchr(p + i, '\n', n - i)))
			break;
		i = (size_t)(q - p) + 1;
	}
}

/* Reads the whole source through buf (SCAN_WIN bytes), one pass. */
static enum qm_err scan_pass(const struct qm_mail_src *src, unsigned char *buf,
                             struct scan *sc, struct qm_error *err)
{
	uint64_t base = 0, off = 0;
	size_t n = 0, lo = 0;
	enum qm_err e = src->seek(src->arg, 0, err);

	while (e == QM_OK) {
		size_t hi, keep;
		int end;

		while (n < SCAN_WIN && off < src->len) {
			size_t got = 0;

			if ((e = src->read(src->arg, buf + n, SCAN_WIN - n,
			                   &got, err)))
				return e;
			if (got == 0 || got > SCAN_WIN - n)
				return qm_error_set(
				    err, QM_ERR_IO,
				    "the message ended at byte "
				    "%llu of %llu",
				    (unsigned long long)off,
				    (unsigned long long)src->len);
			n += got;
			off += got;
		}
		end = off >= src->len;
		hi = end ? n : n - SCAN_AHEAD;
		if (sc->second)
			scan_delims(sc, buf, n, lo, hi, base);
		else
			scan_bounds(sc, buf, n, lo, hi);
		if (end)
			break;
		keep = hi - SCAN_BACK;
		memmove(buf, buf + keep, n - keep);
		base += keep;
		n -= keep;
		lo = SCAN_BACK;
	}
	return e;
}

/* parse_message's size and part-count checks, over the source. */
static enum qm_err src_limits(const struct qm_mail_src *src,
                              const struct lim *l, struct qm_error *err)
{
	struct scan sc = {.maxb = l->parts};
	unsigned char *buf = NULL;
	enum qm_err e;

	if (src->len == 0)
		return qm_error_set(err, QM_ERR_PARSE, "empty message");
	if (src->len > l->size)
		return qm_mail_limit_error(
		    l->given, "limit.message_size", l->size, err,
		    "the message is %llu bytes", (unsigned long long)src->len);
	buf = malloc(SCAN_WIN);
	sc.bv = calloc(sc.maxb ? sc.maxb : 1, sizeof(*sc.bv));
	sc.bl = calloc(sc.maxb ? sc.maxb : 1, sizeof(*sc.bl));
	if (!buf || !sc.bv || !sc.bl) {
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((e = scan_pass(src, buf, &sc, err)))
		goto out;
	if (sc.nbound > l->parts) {
		e = qm_mail_limit_error(l->given, "limit.parts", l->parts, err,
		                        "the message declares %zu multipart "
		                        "boundaries, so it has at least as "
		                        "many parts",
		                        sc.nbound);
		goto out;
	}
	sc.second = 1;
	if ((e = scan_pass(src, buf, &sc, err)))
		goto out;
	if (sc.delims >= l->parts)
		e = qm_mail_limit_error(l->given, "limit.parts", l->parts, err,
		                        "the message has at least %zu parts",
		                        sc.delims + 1);
out:
	if (buf)
		qm_wipe(buf, SCAN_WIN);
	free(buf);
	free(sc.bv);
	free(sc.bl);
	return e;
}

static enum qm_err content_list_src(const struct qm_mail_src *src,
                                    const struct qm_mail_limits *lim, int mode,
                                    struct qm_mail_content **out,
                                    struct qm_error *err)
{
	struct mail_src_cursor cur;
	struct lim l;
	GMimeStream *s;
	GMimeParser *p;
	GMimeMessage *m;
	enum qm_err e;

	if (!src || !src->read || !src->seek)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a message source needs a reader that can "
		                    "seek");
	limits(lim, &l);
	if ((e = src_limits(src, &l, err)))
		return e;
	mail_gmime_init();
	memset(&cur, 0, sizeof(cur));
	cur.src = src;
	cur.pos = UINT64_MAX; /* seek before the first read */
	s = mail_src_stream_new(&cur, 0, (gint64)src->len);
	p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_persist_stream(p, TRUE);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s); /* the message's parts keep it while they need it */
	if (!m) {
		if (cur.rc) {
			if (err)
				*err = cur.err;
			return cur.rc;
		}
		return qm_error_set(err, QM_ERR_PARSE,
		                    "the message is not valid MIME");
	}
	e = content_from(m, &l, mode, out, err);
	g_object_unref(m);
	if (cur.rc) { /* a part the source failed to give */
		if (e == QM_OK)
			qm_mail_content_free(out);
		if (err)
			*err = cur.err;
		e = cur.rc;
	}
	return e;
}

enum qm_err qm_mail_content_list_src(const struct qm_mail_src *src,
                                     const struct qm_mail_limits *lim,
                                     struct qm_mail_content **out,
                                     struct qm_error *err)
{
	return content_list_src(src, lim, 1, out, err);
}

enum qm_err qm_mail_content_outline_src(const struct qm_mail_src *src,
                                        const struct qm_mail_limits *lim,
                                        struct qm_mail_content **out,
                                        struct qm_error *err)
{
	return content_list_src(src, lim, 2, out, err);
}

/* An attachment read from a source (qm_mail_att_open_src): the parsed
 * message, its cursor, and the part's content through its decoder. */
struct qm_mail_att_src {
	GMimeMessage *m;
	struct mail_src_cursor *cur;
	GMimeStream *fs;
};

void qm_mail_att_close(struct qm_mail_att_src **pa)
{
	struct qm_mail_att_src *a = pa ? *pa : NULL;

	if (!a)
		return;
	if (a->fs)
		g_object_unref(a->fs);
	if (a->m)
		g_object_unref(a->m);
	free(a->cur);
	free(a);
	*pa = NULL;
}

enum qm_err qm_mail_att_read(struct qm_mail_att_src *a, void *buf, size_t want,
                             size_t *got, struct qm_error *err)
{
	ssize_t n = 0;

	*got = 0;
	if (!a->fs)
		return QM_OK; /* an empty part */
	/* a piece that decodes to nothing (white space) is not the end */
	while (want && n == 0 && !g_mime_stream_eos(a->fs))
		n = g_mime_stream_read(a->fs, buf, want);
	if (n < 0 && a->cur->rc) {
		if (err)
			*err = a->cur->err;
		return a->cur->rc;
	}
	if (n < 0)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "an attachment could not be decoded");
	*got = (size_t)n;
	return QM_OK;
}

/* a's decoder over part p's content (as part_bytes decodes it), and its
 * decoded size by a first pass. */
static enum qm_err att_stream(struct qm_mail_att_src *a, GMimePart *p,
                              uint64_t *len, struct qm_error *err)
{
	GMimeDataWrapper *w = g_mime_part_get_content(p);
	GMimeContentEncoding enc;
	unsigned char buf[16384];
	size_t got = 0;
	enum qm_err e = QM_OK;

	if (len)
		*len = 0;
	if (!w)
		return QM_OK;
	enc = g_mime_data_wrapper_get_encoding(w);
	g_mime_stream_reset(g_mime_data_wrapper_get_stream(w));
	a->fs = g_mime_stream_filter_new(g_mime_data_wrapper_get_stream(w));
	if (enc != GMIME_CONTENT_ENCODING_DEFAULT &&
	    enc != GMIME_CONTENT_ENCODING_7BIT &&
	    enc != GMIME_CONTENT_ENCODING_8BIT &&
	    enc != GMIME_CONTENT_ENCODING_BINARY) {
		GMimeFilter *f = g_mime_filter_basic_new(enc, FALSE);

		g_mime_stream_filter_add(GMIME_STREAM_FILTER(a->fs), f);
		g_object_unref(f);
	}
	if (!len) /* not wanted: no first pass */
		return QM_OK;
	do {
		e = qm_mail_att_read(a, buf, sizeof(buf), &got, err);
		*len += got;
	} while (!e && got);
	qm_wipe(buf, sizeof(buf));
	if (!e && g_mime_stream_reset(a->fs) != 0)
		e = qm_error_set(err, QM_ERR_INVAL,
		                 "the attachment cannot be read again");
	return e;
}

enum qm_err qm_mail_att_open_src(const struct qm_mail_src *src,
                                 const struct qm_mail_limits *lim, size_t n,
                                 struct qm_mail_att_src **out, char **name,
                                 char **type, uint64_t *len,
                                 struct qm_error *err)
{
	struct qm_mail_att_src *a = NULL;
	struct qm_mail_content *c = NULL;
	struct walk w = {.list_only = 1, .want = n};
	GMimeStream *s;
	GMimeParser *p;
	enum qm_err e;

	*out = NULL;
	*name = *type = NULL;
	if (len)
		*len = 0;
	if (!src || !src->read || !src->seek)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a message source needs a reader that can "
		                    "seek");
	limits(lim, &w.l);
	if ((e = src_limits(src, &w.l, err)))
		return e;
	if (!(a = calloc(1, sizeof(*a))) ||
	    !(a->cur = calloc(1, sizeof(*a->cur)))) {
		free(a);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	mail_gmime_init();
	a->cur->src = src;
	a->cur->pos = UINT64_MAX; /* seek before the first read */
	s = mail_src_stream_new(a->cur, 0, (gint64)src->len);
	p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_persist_stream(p, TRUE);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	a->m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s);
	if (!a->m)
		e = qm_error_set(err, QM_ERR_PARSE,
		                 "the message is not valid MIME");
	else
		e = content_walk(a->m, &w, &c, err);
	if (!e && (!w.hit || n >= c->natt))
		e = qm_error_set(err, QM_ERR_NOTFOUND,
		                 "the message has no attachment %zu", n);
	if (!e && !GMIME_IS_PART(w.hit))
		e = qm_error_set(err, QM_ERR_UNSUPPORTED,
		                 "attachment %zu is a forwarded message, only "
		                 "given whole",
		                 n);
	if (!e)
		e = att_stream(a, GMIME_PART(w.hit), len, err);
	if (!e && (!(*name = mail_strdup(c->att[n].name)) ||
	           !(*type = mail_strdup(c->att[n].type))))
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (a->cur->rc) { /* the source failed somewhere on the way */
		if (err)
			*err = a->cur->err;
		e = a->cur->rc;
	}
	qm_mail_content_free(&c);
	if (e) {
		free(*name);
		free(*type);
		*name = *type = NULL;
		if (len)
			*len = 0;
		qm_mail_att_close(&a);
		return e;
	}
	*out = a;
	return QM_OK;
}

/* ------------------------------------------------------------ QMail */

/* An envelope left in the message (qm_mail_parse_big): the parsed message
 * and its borrowed input stay alive with the decoding stream over it. */
struct qm_mail_envsrc {
	GMimeMessage *m;
	GByteArray *in;
	struct mail_src_cursor *cur; /* or the source it reads */
	GMimeStream *fs; /* the part's content through its decoder */
};

static void envsrc_free(struct qm_mail_envsrc **ps)
{
	struct qm_mail_envsrc *s = *ps;

	if (!s)
		return;
	if (s->fs)
		g_object_unref(s->fs);
	release_message(s->m, s->in);
	free(s->cur);
	free(s);
	*ps = NULL;
}

enum qm_err qm_mail_envelope_read(void *src, void *buf, size_t want,
                                  size_t *got, struct qm_error *err)
{
	struct qm_mail_envsrc *s = src;
	ssize_t n = 0;

	*got = 0;
	if (!s)
		return qm_error_set(err, QM_ERR_INVAL, "no envelope to read");
	/* a piece of the source that decodes to nothing (white space) is a
	 * read of 0 bytes that is not the end */
	while (want && n == 0 && !g_mime_stream_eos(s->fs))
		n = g_mime_stream_read(s->fs, buf, want);
	if (n < 0 && s->cur && s->cur->rc) {
		/* the source failed (a blob altered, the disk) */
		if (err)
			*err = s->cur->err;
		return s->cur->rc;
	}
	if (n < 0)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "QMail message: the envelope part could "
		                    "not be decoded");
	*got = (size_t)n;
	return QM_OK;
}

enum qm_err qm_mail_envelope_rewind(void *src, struct qm_error *err)
{
	struct qm_mail_envsrc *s = src;

	if (!s || g_mime_stream_reset(s->fs) != 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the envelope cannot be read again");
	return QM_OK;
}

/* The envelope part's content through its transfer decoding, as
 * g_mime_data_wrapper_write_to_stream reads it; *len its decoded size,
 * refused past max. The bytes read to measure it go to l's tap. */
static enum qm_err envsrc_open(GMimePart *part, const struct lim *l,
                               struct qm_mail_envsrc *s, size_t *len,
                               struct qm_error *err)
{
	size_t max = l->size;
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	GMimeContentEncoding enc;
	unsigned char buf[16384];
	size_t total = 0, got;
	enum qm_err e = QM_OK;

	*len = 0;
	if (!w)
		return QM_OK;
	enc = g_mime_data_wrapper_get_encoding(w);
	g_mime_stream_reset(g_mime_data_wrapper_get_stream(w));
	s->fs = g_mime_stream_filter_new(g_mime_data_wrapper_get_stream(w));
	if (enc == GMIME_CONTENT_ENCODING_BASE64 ||
	    enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE ||
	    enc == GMIME_CONTENT_ENCODING_UUENCODE) {
		GMimeFilter *f = g_mime_filter_basic_new(enc, FALSE);

		g_mime_stream_filter_add(GMIME_STREAM_FILTER(s->fs), f);
		g_object_unref(f);
	}
	do {
		e = qm_mail_envelope_read(s, buf, sizeof(buf), &got, err);
		total += got;
		if (!e && got && l->tap && total <= max)
			l->tap(l->tap_arg, buf, got);
	} while (!e && got && total <= max);
	if (!e && total > max)
		e = qm_error_set(err, QM_ERR_TOOBIG,
		                 "a message part of more than %zu bytes is "
		                 "larger than the limit of %zu "
		                 "(limit.message_size)",
		                 max, max);
	if (!e)
		e = qm_mail_envelope_rewind(s, err);
	if (!e)
		*len = total;
	return e;
}

void qm_mail_parsed_free(struct qm_mail_parsed **pp)
{
	struct qm_mail_parsed *p = pp ? *pp : NULL;

	if (!p)
		return;
	mail_hdrs_clear(&p->hdrs);
	free(p->subject);
	qm_mail_strv_free(&p->key_ids, p->nkey_ids);
	free(p->sender_sae);
	free(p->identity);
	free(p->envelope);
	envsrc_free(&p->envsrc);
	qm_mail_content_free(&p->content);
	free(p);
	*pp = NULL;
}

/* "id1, id2; count=N" -> key_ids, key_id_count. */
static enum qm_err parse_key_ids(const char *v, struct qm_mail_parsed *p,
                                 struct qm_error *err)
{
	const char *semi = strchr(v, ';'), *s = v;
	const char *end = semi ? semi : v + strlen(v);
	size_t cap = 0;

	while (s < end) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		const char *e = c ? c : end;
		const char *a = s, *b = e;

		while (a < b && (*a == ' ' || *a == '\t'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
			b--;
		if (b > a) {
			if (p->nkey_ids == cap) {
				size_t nc = cap ? cap * 2 : 8;
				void *t = nc > 4096
				              ? NULL
				              : reallocarray(p->key_ids, nc,
				                             sizeof(char *));
				if (!t)
					return qm_error_set(
					    err, QM_ERR_TOOBIG,
					    "too many key IDs in "
					    "X-QKD-KeyID");
				p->key_ids = t;
				cap = nc;
			}
			if (!(p->key_ids[p->nkey_ids] =
			          mail_strndup(a, (size_t)(b - a))))
				return qm_error_set(err, QM_ERR_NOMEM,
				                    "out of memory");
			p->nkey_ids++;
		}
		s = c ? c + 1 : end;
	}
	p->key_id_count = p->nkey_ids;
	if (semi) {
		const char *c = strstr(semi, "count=");
		long long n;
		char num[24];
		size_t k = 0;

		if (c) {
			c += 6;
			while (k + 1 < sizeof(num) && c[k] >= '0' &&
			       c[k] <= '9') {
				num[k] = c[k];
				k++;
			}
			num[k] = '\0';
			if (qm_parse_ll(num, 0, 100000000, &n, NULL) == QM_OK &&
			    (size_t)n >= p->nkey_ids)
				p->key_id_count = (size_t)n;
		}
	}
	return QM_OK;
}

/* The envelope part's size as on the wire (0 when unknown). */
static size_t env_wire_len(GMimePart *part)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	gint64 n =
	    w ? g_mime_stream_length(g_mime_data_wrapper_get_stream(w)) : -1;

	return n > 0 ? (size_t)n : 0;
}

static enum qm_err parse_qmail(GMimeMessage *m, GMimeMultipart *mp,
                               const struct lim *l, size_t big,
                               struct qm_mail_parsed *p, struct qm_error *err)
{
	GMimeObject *ctl, *env;
	GMimeContentType *ct;
	unsigned char *d = NULL;
	size_t len = 0;
	const char *v;
	char *raw;
	long long n;
	enum qm_err e;

	if (g_mime_multipart_get_count(mp) != 2)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "QMail message: expected 2 parts, found %d",
		                    g_mime_multipart_get_count(mp));
	ctl = g_mime_multipart_get_part(mp, 0);
	env = g_mime_multipart_get_part(mp, 1);
	ct = g_mime_object_get_content_type(ctl);
	if (!GMIME_IS_PART(ctl) || !ct ||
	    !g_mime_content_type_is_type(ct, "application",
	                                 "x-qmail-encrypted"))
		return qm_error_set(
		    err, QM_ERR_PARSE,
		    "QMail message: the control part is missing");
	if ((e = check_headers(ctl, l, err)) ||
	    (e = check_headers(env, l, err)))
		return e;
	if ((e = part_bytes(GMIME_PART(ctl), 4096, &d, &len, err)))
		return e;
	if (strncasecmp((char *)d, "Version:", 8) != 0 ||
	    qm_parse_ll(strtok((char *)d + 8, " \t\r\n") ?: "", 0, 1000000, &n,
	                NULL) != QM_OK) {
		free(d);
		return qm_error_set(err, QM_ERR_PARSE,
		                    "QMail message: the control part has no "
		                    "valid Version line");
	}
	free(d);
	p->version = (int)n;
	if (p->version != QM_MAIL_WIRE_VERSION)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "QMail message format version %d is not "
		                    "supported (this QMail reads version %d); "
		                    "update QMail",
		                    p->version, QM_MAIL_WIRE_VERSION);
	ct = g_mime_object_get_content_type(env);
	if (!GMIME_IS_PART(env) || !ct ||
	    !g_mime_content_type_is_type(ct, "application", "octet-stream"))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "QMail message: the envelope part is "
		                    "missing");
	if (big && env_wire_len(GMIME_PART(env)) > big) {
		if (!(p->envsrc = calloc(1, sizeof(*p->envsrc))))
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		e = envsrc_open(GMIME_PART(env), l, p->envsrc,
		                &p->envelope_len, err);
	} else {
		e = part_bytes(GMIME_PART(env), l->size, &p->envelope,
		               &p->envelope_len, err);
	}
	if (e)
		return e;
	if (p->envelope_len == 0)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "QMail message: the envelope is empty");
	v = g_mime_object_get_header(GMIME_OBJECT(m), "X-QKD-Security-Level");
	if (v && qm_parse_ll(v, 1, 4, &n, NULL) == QM_OK)
		p->level = (int)n;
	if (!(raw = raw_header(GMIME_OBJECT(m), "X-QKD-KeyID")))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	e = parse_key_ids(raw, p, err);
	free(raw);
	if (e)
		return e;
	/* refused here, before anybody asks a KME for that many keys */
	if (p->key_id_count > l->key_ids)
		return qm_mail_limit_error(
		    l->given, "limit.key_ids", l->key_ids, err,
		    "the message uses %zu key IDs", p->key_id_count);
	if (!(p->sender_sae = raw_header(GMIME_OBJECT(m), "X-QKD-Sender-SAE")))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return QM_OK;
}

/* The classification of parsed message m into *out; an envelope left in
 * the message (p->envsrc) is read through m, which the caller then hands
 * over to it. */
static enum qm_err parsed_of(GMimeMessage *m, const struct lim *lp, size_t big,
                             struct qm_mail_parsed **out, struct qm_error *err)
{
	struct qm_mail_parsed *p = NULL;
	GMimeObject *body;
	GMimeContentType *ct;
	const char *proto, *subj;
	struct lim l = *lp;
	enum qm_err e;

	if (!(p = calloc(1, sizeof(*p)))) {
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	subj = g_mime_message_get_subject(m);
	if ((e = check_headers(GMIME_OBJECT(m), &l, err)) ||
	    (e = get_hdrs(GMIME_OBJECT(m), &p->hdrs, err)))
		goto out;
	if (!(p->subject = mail_strdup(subj ? subj : "")) ||
	    !(p->identity = identity_header(GMIME_OBJECT(m)))) {
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	body = g_mime_message_get_mime_part(m);
	ct = body ? g_mime_object_get_content_type(body) : NULL;
	proto = ct ? g_mime_content_type_get_parameter(ct, "protocol") : NULL;
	if (body && GMIME_IS_MULTIPART(body) &&
	    g_mime_content_type_is_type(ct, "multipart", "encrypted") &&
	    proto && strcasecmp(proto, QM_MAIL_PROTOCOL) == 0) {
		p->kind = QM_MAIL_KIND_QMAIL;
		e = parse_qmail(m, GMIME_MULTIPART(body), &l, big, p, err);
	} else {
		p->kind = QM_MAIL_KIND_PLAIN;
		/* mail.h promises "" when absent, for plain mail too */
		if (!(p->sender_sae = mail_strdup("")))
			e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		else
			e = content_from(m, &l, 1, &p->content, err);
	}
	if (e)
		goto out;
	*out = p;
	p = NULL;
out:
	qm_mail_parsed_free(&p);
	return e;
}

static enum qm_err parse_any(const void *msg, size_t len,
                             const struct qm_mail_limits *lim, size_t big,
                             struct qm_mail_parsed **out, struct qm_error *err)
{
	GMimeMessage *m = NULL;
	GByteArray *in = NULL;
	struct lim l;
	enum qm_err e;

	limits(lim, &l);
	if ((e = parse_message(msg, len, &l, &m, &in, err)))
		return e;
	e = parsed_of(m, &l, big, out, err);
	if (!e && (*out)->envsrc) {
		/* the envelope is read from the message: it stays parsed */
		(*out)->envsrc->m = m;
		(*out)->envsrc->in = in;
		return QM_OK;
	}
	release_message(m, in);
	return e;
}

enum qm_err qm_mail_parse_big_src(const struct qm_mail_src *src,
                                  const struct qm_mail_limits *lim, size_t big,
                                  struct qm_mail_parsed **out,
                                  struct qm_error *err)
{
	struct mail_src_cursor *cur;
	struct lim l;
	GMimeStream *s;
	GMimeParser *p;
	GMimeMessage *m;
	enum qm_err e;

	if (!src || !src->read || !src->seek)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a message source needs a reader that can "
		                    "seek");
	limits(lim, &l);
	l.tap = src->envelope_tap;
	l.tap_arg = src->tap_arg;
	if ((e = src_limits(src, &l, err)))
		return e;
	if (!(cur = calloc(1, sizeof(*cur))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	mail_gmime_init();
	cur->src = src;
	cur->pos = UINT64_MAX; /* seek before the first read */
	s = mail_src_stream_new(cur, 0, (gint64)src->len);
	p = g_mime_parser_new_with_stream(s);
	g_mime_parser_set_persist_stream(p, TRUE);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(s); /* the message's parts keep it while they need it */
	if (!m) {
		e = cur->rc ? cur->rc
		            : qm_error_set(err, QM_ERR_PARSE,
		                           "the message is not valid MIME");
		if (cur->rc && err)
			*err = cur->err;
		free(cur);
		return e;
	}
	e = parsed_of(m, &l, big, out, err);
	if (cur->rc) { /* a part the source failed to give */
		if (e == QM_OK)
			qm_mail_parsed_free(out);
		if (err)
			*err = cur->err;
		e = cur->rc;
	}
	if (!e && (*out)->envsrc) {
		/* the envelope is read from the source: the message and its
		 * cursor stay */
		(*out)->envsrc->m = m;
		(*out)->envsrc->cur = cur;
		return QM_OK;
	}
	g_object_unref(m);
	free(cur);
	return e;
}

enum qm_err qm_mail_parse(const void *msg, size_t len,
                          const struct qm_mail_limits *lim,
                          struct qm_mail_parsed **out, struct qm_error *err)
{
	return parse_any(msg, len, lim, 0, out, err);
}

enum qm_err qm_mail_parse_big(const void *msg, size_t len,
                              const struct qm_mail_limits *lim, size_t big,
                              struct qm_mail_parsed **out, struct qm_error *err)
{
	return parse_any(msg, len, lim, big, out, err);
}

/* g_mime_message_foreach: a leaf part in the binary transfer encoding
 * goes to base64; *data (an int) counts them. */
static void binary_to_base64(GMimeObject *parent, GMimeObject *part,
                             gpointer data)
{
	(void)parent;
	if (GMIME_IS_PART(part) &&
	    g_mime_part_get_content_encoding(GMIME_PART(part)) ==
	        GMIME_CONTENT_ENCODING_BINARY) {
		g_mime_part_set_content_encoding(GMIME_PART(part),
		                                 GMIME_CONTENT_ENCODING_BASE64);
		(*(int *)data)++;
	}
}

enum qm_err qm_mail_mime_7bit(struct qm_buf *mime,
                              const struct qm_mail_limits *lim, int *changed,
                              struct qm_error *err)
{
	GMimeMessage *m = NULL;
	GByteArray *in = NULL;
	struct qm_buf out;
	struct lim l;
	int binary = 0;
	enum qm_err e;

	if (changed)
		*changed = 0;
	if (!mime)
		return qm_error_set(err, QM_ERR_INVAL, "no message");
	limits(lim, &l);
	if ((e = parse_message(mime->data, mime->len, &l, &m, &in, err)))
		return e;
	/* GMime's own g_mime_object_encode leaves binary parts as they
	 * are: each is set to base64 here */
	g_mime_message_foreach(m, binary_to_base64, &binary);
	if (!binary) {
		release_message(m, in);
		return QM_OK;
	}
	qm_buf_init_secure(&out, QM_MAIL_DEF_MAXSIZE * 2);
	e = mail_gmime_write(GMIME_OBJECT(m), &out, err);
	release_message(m, in);
	if (!e) {
		qm_buf_free(mime);
		*mime = out;
		if (changed)
			*changed = 1;
	} else
		qm_buf_free(&out);
	return e;
}
