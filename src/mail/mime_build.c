/* SPDX-License-Identifier: MIT */
/*
 * Building messages: the canonical header values the envelope binds, the
 * inner "protected" MIME message (GMime) that the crypto layer encrypts,
 * and the outer QMail wire message that wraps the opaque envelope bytes
 * (written by hand so that every byte and every fold is specified in
 * docs/FORMAT.md). Bcc never appears in any header written here.
 */
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "mail/private.h"

#define LINE_SOFT 78 /* RFC 5322 SHOULD */
#define LINE_HARD 998

static int gmime_ready;

void mail_gmime_init(void)
{
	if (!gmime_ready) {
		g_mime_init();
		gmime_ready = 1;
	}
}

void qm_mail_hdrs_free(struct qm_mail_hdrs **ph)
{
	struct qm_mail_hdrs *h = ph ? *ph : NULL;

	if (!h)
		return;
	mail_hdrs_clear(h);
	free(h);
	*ph = NULL;
}

void mail_hdrs_clear(struct qm_mail_hdrs *h)
{
	free(h->from);
	free(h->to);
	free(h->cc);
	free(h->date);
	free(h->message_id);
	h->from = h->to = h->cc = h->date = h->message_id = NULL;
}

void qm_mail_strv_free(char ***v, size_t n)
{
	if (!v || !*v)
		return;
	for (size_t i = 0; i < n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
}

/* Doubles the room of a string vector (at most 10,000). */
static enum qm_err grow_specs(char ***v, size_t *cap, struct qm_error *err)
{
	size_t nc = *cap ? *cap * 2 : 8;
	void *t = nc > 10000 ? NULL : reallocarray(*v, nc, sizeof(**v));

	if (!t)
		return qm_error_set(err, QM_ERR_TOOBIG, "too many addresses");
	*v = t;
	*cap = nc;
	return QM_OK;
}

/* Appends the mailboxes of list (groups flattened) to specs; with names,
 * each as two strings, its display name ("" when none), then its spec. */
static enum qm_err collect_specs(InternetAddressList *list, char ***v,
                                 size_t *n, size_t *cap, int names,
                                 struct qm_error *err)
{
	int count = internet_address_list_length(list);

	for (int i = 0; i < count; i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		enum qm_err e;

		if (INTERNET_ADDRESS_IS_GROUP(a)) {
			InternetAddressList *m =
			    internet_address_group_get_members(
			        INTERNET_ADDRESS_GROUP(a));
			if (m && (e = collect_specs(m, v, n, cap, names, err)))
				return e;
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(a))
			continue;
		if (names) {
			const char *nm = internet_address_get_name(a);

			if (*n == *cap && (e = grow_specs(v, cap, err)))
				return e;
			(*v)[*n] = mail_strdup(nm ? nm : "");
			if (!(*v)[*n])
				return qm_error_set(err, QM_ERR_NOMEM,
				                    "out of memory");
			(*n)++;
		}
		if (*n == *cap && (e = grow_specs(v, cap, err)))
			return e;
		(*v)[*n] = mail_strdup(internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(a)));
		if (!(*v)[*n])
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		(*n)++;
	}
	return QM_OK;
}

/* The mailboxes of list into *v (*cnt strings; with names, two each). */
static enum qm_err addr_list(const char *list, int names, char ***v,
                             size_t *cnt, struct qm_error *err)
{
	InternetAddressList *l;
	size_t cap = 0;
	enum qm_err e;

	*v = NULL;
	*cnt = 0;
	mail_gmime_init();
	if (!list || !*list || !(l = internet_address_list_parse(NULL, list)))
		return QM_OK;
	e = collect_specs(l, v, cnt, &cap, names, err);
	g_object_unref(l);
	if (e)
		qm_mail_strv_free(v, *cnt);
	return e;
}

enum qm_err qm_mail_addr_specs(const char *list, char ***addrs, size_t *n,
                               struct qm_error *err)
{
	char **v = NULL;
	size_t cnt = 0;
	enum qm_err e = addr_list(list, 0, &v, &cnt, err);

	if (e)
		return e;
	if (cnt == 0)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "no mail address in \"%.200s\"",
		                    list ? list : "");
	*addrs = v;
	*n = cnt;
	return QM_OK;
}

enum qm_err qm_mail_addr_names(const char *list, char ***pairs, size_t *n,
                               struct qm_error *err)
{
	size_t cnt = 0;
	enum qm_err e = addr_list(list, 1, pairs, &cnt, err);

	*n = e ? 0 : cnt / 2;
	return e;
}

enum qm_err qm_mail_addr_display(const char *list, char **out,
                                 struct qm_error *err)
{
	InternetAddressList *l = NULL;
	char *s = NULL, *r;

	mail_gmime_init();
	if (list && *list && (l = internet_address_list_parse(NULL, list)) &&
	    internet_address_list_length(l) > 0)
		s = internet_address_list_to_string(l, NULL, FALSE);
	else if (list && *list)
		s = g_mime_utils_header_decode_text(NULL, list);
	if (l)
		g_object_unref(l);
	r = mail_strdup(s ? s : "");
	g_free(s);
	if (!r)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	*out = r;
	return QM_OK;
}

/* One encoded list of the addresses in a[0..n); NULL on a bad address. */
static char *encode_list(const char *const *a, size_t n, const char *what,
                         struct qm_error *err)
{
	InternetAddressList *all = internet_address_list_new();
	char *s, *r;

	for (size_t i = 0; i < n; i++) {
		InternetAddressList *l =
		    a[i] ? internet_address_list_parse(NULL, a[i]) : NULL;
		if (!l || internet_address_list_length(l) == 0) {
			if (l)
				g_object_unref(l);
			g_object_unref(all);
			qm_error_set(err, QM_ERR_PARSE,
			             "the %s address \"%.200s\" is not valid",
			             what, a[i] ? a[i] : "");
			return NULL;
		}
		internet_address_list_append(all, l);
		g_object_unref(l);
	}
	s = internet_address_list_to_string(all, NULL, TRUE);
	g_object_unref(all);
	r = mail_strdup(s ? s : "");
	g_free(s);
	if (!r)
		qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return r;
}

enum qm_err qm_mail_hdrs_make(const char *from, const char *const *to,
                              size_t nto, const char *const *cc, size_t ncc,
                              int64_t when, struct qm_mail_hdrs **out,
                              struct qm_error *err)
{
	struct qm_mail_hdrs *h;
	char **spec = NULL, date[64], id[128], rnd[16], hex[33];
	size_t nspec = 0;
	const char *dom;
	time_t t = (time_t)when;
	struct tm tm;
	enum qm_err e;

	mail_gmime_init();
	if (!(h = calloc(1, sizeof(*h))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	e = QM_ERR_PARSE;
	if (!(h->from = encode_list(&from, 1, "sender", err)) ||
	    !(h->to = encode_list(to, nto, "To", err)) ||
	    !(h->cc = encode_list(cc, ncc, "Cc", err)))
		goto out;
	if ((e = qm_mail_addr_specs(h->from, &spec, &nspec, err)))
		goto out;
	if (nspec != 1) {
		e = qm_error_set(err, QM_ERR_PARSE,
		                 "the sender must be exactly one address");
		goto out;
	}
	dom = strrchr(spec[0], '@');
	if (!dom || !dom[1] || strpbrk(dom + 1, "<>\" \t")) {
		e = qm_error_set(err, QM_ERR_PARSE,
		                 "the sender address has no valid domain");
		goto out;
	}
	if (!gmtime_r(&t, &tm) ||
	    !strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm)) {
		e = qm_error_set(err, QM_ERR_INVAL, "bad date");
		goto out;
	}
	qm_random(rnd, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)rnd[i]);
	snprintf(id, sizeof(id), "<%s.qmail@%.80s>", hex, dom + 1);
	if (!(h->date = mail_strdup(date)) ||
	    !(h->message_id = mail_strdup(id))) {
		e = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = h;
	h = NULL;
	e = QM_OK;
out:
	qm_mail_strv_free(&spec, nspec);
	qm_mail_hdrs_free(&h);
	return e;
}

/* ------------------------------------------------------------ inner */

static GMimeObject *text_part(const char *subtype, const char *text)
{
	GMimeTextPart *t = g_mime_text_part_new_with_subtype(subtype);

	g_mime_text_part_set_text(t, text);
	g_mime_part_set_content_encoding(
	    GMIME_PART(t), g_mime_part_get_best_content_encoding(
	                       GMIME_PART(t), GMIME_ENCODING_CONSTRAINT_7BIT));
	return GMIME_OBJECT(t);
}

/* The part of attachment a, in base64 or, with binary, as it is (NULL with
 * err set: its file cannot be read). An attachment given as a file is read
 * as the message is written. */
static GMimeObject *attachment_part(const struct qm_mail_attachment *a,
                                    int binary, struct qm_error *err)
{
	const char *type = a->type && strchr(a->type, '/')
	                       ? a->type
	                       : "application/octet-stream";
	GMimeContentType *ct;
	GMimePart *p;
	GMimeStream *s;
	GMimeDataWrapper *w;

	if (a->data || !a->path) {
		s = g_mime_stream_mem_new_with_buffer(
		    (const char *)(a->data ? a->data
		                           : (const unsigned char *)""),
		    a->data ? a->len : 0);
	} else {
		GError *ge = NULL;

		s = g_mime_stream_fs_open(a->path, O_RDONLY | O_CLOEXEC, 0,
		                          &ge);
		if (!s) {
			qm_error_set(err, QM_ERR_IO,
			             "cannot read the attachment %s: %s",
			             a->path, ge ? ge->message : "error");
			if (ge)
				g_error_free(ge);
			return NULL;
		}
	}
	ct = g_mime_content_type_parse(NULL, type);
	if (!ct)
		ct =
		    g_mime_content_type_parse(NULL, "application/octet-stream");
	p = g_mime_part_new_with_type(
	    g_mime_content_type_get_media_type(ct),
	    g_mime_content_type_get_media_subtype(ct));
	g_object_unref(ct);
	w = g_mime_data_wrapper_new_with_stream(s,
	                                        GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(p, w);
	g_object_unref(w);
	g_object_unref(s);
	g_mime_part_set_content_encoding(
	    p, binary ? GMIME_CONTENT_ENCODING_BINARY
	              : GMIME_CONTENT_ENCODING_BASE64);
	g_mime_object_set_disposition(GMIME_OBJECT(p),
	                              GMIME_DISPOSITION_ATTACHMENT);
	if (a->name && *a->name)
		g_mime_part_set_filename(p, a->name);
	return GMIME_OBJECT(p);
}

static int has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

/* Serialises obj with CRLF line ends into out; wipes GMime's buffer. */
enum qm_err mail_gmime_write(GMimeObject *obj, struct qm_buf *out,
                             struct qm_error *err)
{
	GMimeFormatOptions *fo = g_mime_format_options_new();
	GMimeStream *ms = g_mime_stream_mem_new();
	GByteArray *ba;
	enum qm_err e = QM_OK;

	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	if (g_mime_object_write_to_stream(obj, fo, ms) < 0)
		e = qm_error_set(err, QM_ERR_NOMEM,
		                 "writing the MIME message failed");
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
	if (e == QM_OK && ba->len)
		e = qm_buf_append(out, ba->data, ba->len, err);
	if (ba->len)
		qm_wipe(ba->data, ba->len);
	g_object_unref(ms);
	g_mime_format_options_free(fo);
	return e;
}

/*
 * A GMime output stream that hands what GMime writes to a qm_mail_write_fn
 * as it comes (the message is never whole in memory); the first error of
 * the sink stops the writing and is kept.
 */
typedef struct {
	GMimeStream parent;
	qm_mail_write_fn wr;
	void *arg;
	struct qm_error *err;
	enum qm_err rc;
	uint64_t n;
} MailSinkStream;

typedef struct {
	GMimeStreamClass parent_class;
} MailSinkStreamClass;

GType mail_sink_stream_get_type(void);
G_DEFINE_TYPE(MailSinkStream, mail_sink_stream, GMIME_TYPE_STREAM)

static ssize_t sink_write(GMimeStream *st, const char *buf, size_t len)
{
	MailSinkStream *k = (MailSinkStream *)st;

	if (k->rc)
		return -1;
	if (len)
		k->rc = k->wr(k->arg, buf, len, k->err);
	if (k->rc)
		return -1;
	k->n += len;
	st->position += (gint64)len;
	return (ssize_t)len;
}

static ssize_t sink_read(GMimeStream *st, char *buf, size_t len)
{
	(void)st;
	(void)buf;
	(void)len;
	return -1;
}

static int sink_zero(GMimeStream *st)
{
	(void)st;
	return 0;
}

static gboolean sink_eos(GMimeStream *st)
{
	(void)st;
	return TRUE;
}

static gint64 sink_seek(GMimeStream *st, gint64 off, GMimeSeekWhence w)
{
	(void)st;
	(void)off;
	(void)w;
	return -1;
}

static gint64 sink_tell(GMimeStream *st)
{
	return st->position;
}

static gint64 sink_length(GMimeStream *st)
{
	(void)st;
	return -1;
}

static GMimeStream *sink_substream(GMimeStream *st, gint64 start, gint64 end)
{
	(void)st;
	(void)start;
	(void)end;
	return NULL;
}

static void mail_sink_stream_class_init(MailSinkStreamClass *klass)
{
	GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);

	sc->read = sink_read;
	sc->write = sink_write;
	sc->flush = sink_zero;
	sc->close = sink_zero;
	sc->eos = sink_eos;
	sc->reset = sink_zero;
	sc->seek = sink_seek;
	sc->tell = sink_tell;
	sc->length = sink_length;
	sc->substream = sink_substream;
}

static void mail_sink_stream_init(MailSinkStream *k)
{
	(void)k;
}

/* The inner message as a GMime object (NULL with err set on failure). */
static GMimeMessage *inner_message(const struct qm_mail_compose *c,
                                   struct qm_error *err)
{
	GMimeMessage *m = NULL;
	GMimeObject *body = NULL;
	GMimeMultipart *mixed;

	if (!c || !c->hdrs) {
		qm_error_set(err, QM_ERR_INVAL, "nothing to build");
		return NULL;
	}
	if (has_crlf(c->subject) || has_crlf(c->in_reply_to) ||
	    has_crlf(c->references) || has_crlf(c->chat_group_id) ||
	    has_crlf(c->chat_member_added) ||
	    has_crlf(c->chat_member_removed) ||
	    has_crlf(c->chat_disposition)) {
		qm_error_set(err, QM_ERR_INVAL,
		             "a header value cannot hold a line break");
		return NULL;
	}
	mail_gmime_init();
	m = g_mime_message_new(TRUE);
	g_mime_object_set_header(GMIME_OBJECT(m), "From", c->hdrs->from, NULL);
	if (c->hdrs->to && *c->hdrs->to)
		g_mime_object_set_header(GMIME_OBJECT(m), "To", c->hdrs->to,
		                         NULL);
	if (c->hdrs->cc && *c->hdrs->cc)
		g_mime_object_set_header(GMIME_OBJECT(m), "Cc", c->hdrs->cc,
		                         NULL);
	g_mime_object_set_header(GMIME_OBJECT(m), "Date", c->hdrs->date, NULL);
	g_mime_object_set_header(GMIME_OBJECT(m), "Message-ID",
	                         c->hdrs->message_id, NULL);
	g_mime_message_set_subject(m, c->subject ? c->subject : "", "utf-8");
	if (c->in_reply_to && *c->in_reply_to)
		g_mime_object_set_header(GMIME_OBJECT(m), "In-Reply-To",
		                         c->in_reply_to, NULL);
	if (c->references && *c->references)
		g_mime_object_set_header(GMIME_OBJECT(m), "References",
		                         c->references, NULL);
	if (c->chat)
		g_mime_object_set_header(GMIME_OBJECT(m), "Chat-Version", "1.0",
		                         NULL);
	if (c->chat_group_id && *c->chat_group_id)
		g_mime_object_set_header(GMIME_OBJECT(m), "Chat-Group-ID",
		                         c->chat_group_id, NULL);
	if (c->chat_member_added && *c->chat_member_added)
		g_mime_object_set_header(GMIME_OBJECT(m),
		                         "Chat-Group-Member-Added",
		                         c->chat_member_added, NULL);
	if (c->chat_member_removed && *c->chat_member_removed)
		g_mime_object_set_header(GMIME_OBJECT(m),
		                         "Chat-Group-Member-Removed",
		                         c->chat_member_removed, NULL);
	if (c->chat_disposition && *c->chat_disposition)
		g_mime_object_set_header(GMIME_OBJECT(m), "Chat-Disposition",
		                         c->chat_disposition, NULL);

	body = text_part("plain", c->text ? c->text : "");
	if (c->html) {
		GMimeMultipart *alt =
		    g_mime_multipart_new_with_subtype("alternative");
		GMimeObject *html = text_part("html", c->html);
		g_mime_multipart_add(alt, body);
		g_mime_multipart_add(alt, html);
		g_object_unref(body);
		g_object_unref(html);
		body = GMIME_OBJECT(alt);
	}
	if (c->natt) {
		mixed = g_mime_multipart_new_with_subtype("mixed");
		g_mime_multipart_add(mixed, body);
		g_object_unref(body);
		for (size_t i = 0; i < c->natt; i++) {
			GMimeObject *a =
			    attachment_part(&c->att[i], c->binary, err);

			if (!a) {
				g_object_unref(body);
				g_object_unref(m);
				return NULL;
			}
			g_mime_multipart_add(mixed, a);
			g_object_unref(a);
		}
		body = GMIME_OBJECT(mixed);
	}
	g_mime_message_set_mime_part(m, body);
	g_object_unref(body);
	return m;
}

enum qm_err qm_mail_inner_build(const struct qm_mail_compose *c,
                                struct qm_buf *out, struct qm_error *err)
{
	GMimeMessage *m;
	enum qm_err e;

	if (!out)
		return qm_error_set(err, QM_ERR_INVAL, "nothing to build");
	m = inner_message(c, err);
	if (!m)
		return err ? err->code : QM_ERR_INVAL;
	e = mail_gmime_write(GMIME_OBJECT(m), out, err);
	g_object_unref(m);
	return e;
}

enum qm_err qm_mail_inner_build_to(const struct qm_mail_compose *c,
                                   qm_mail_write_fn wr, void *arg,
                                   uint64_t *written, struct qm_error *err)
{
	GMimeFormatOptions *fo;
	GMimeMessage *m;
	MailSinkStream *k;
	enum qm_err e = QM_OK;

	if (!wr)
		return qm_error_set(err, QM_ERR_INVAL, "nothing to build");
	m = inner_message(c, err);
	if (!m)
		return err ? err->code : QM_ERR_INVAL;
	k = g_object_new(mail_sink_stream_get_type(), NULL);
	g_mime_stream_construct(GMIME_STREAM(k), 0, -1);
	k->wr = wr;
	k->arg = arg;
	k->err = err;
	fo = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
	if (g_mime_object_write_to_stream(GMIME_OBJECT(m), fo,
	                                  GMIME_STREAM(k)) < 0 ||
	    g_mime_stream_flush(GMIME_STREAM(k)) < 0)
		e = k->rc ? k->rc
		          : qm_error_set(err, QM_ERR_IO,
		                         "writing the MIME message failed (an "
		                         "attachment could not be read to the "
		                         "end?)");
	if (!e && written)
		*written = k->n;
	g_mime_format_options_free(fo);
	g_object_unref(k);
	g_object_unref(m);
	return e;
}

/* ------------------------------------------------------------ outer */

/* Writes "Name: value" folded at spaces so that lines stay within 78
 * characters where the value allows it (never past 998). A fold turns a
 * space of the value into CRLF + space: unfolding gives the value back. */
static enum qm_err put_header(struct qm_buf *b, const char *name,
                              const char *value, struct qm_error *err)
{
	size_t col = strlen(name) + 1;
	const char *p = value;
	enum qm_err e;

	if (has_crlf(value))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the %s header cannot hold a line break",
		                    name);
	if ((e = qm_buf_appendf(b, err, "%s:", name)))
		return e;
	for (;;) {
		const char *sp = strchr(p, ' ');
		size_t word = sp ? (size_t)(sp - p) : strlen(p);

		if (p != value && col + 1 + word > LINE_SOFT) {
			if ((e = qm_buf_append(b, "\r\n", 2, err)))
				return e;
			col = 0;
		}
		if (col + 1 + word > LINE_HARD)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "the %s header has a word too long "
			                    "for one line",
			                    name);
		if ((e = qm_buf_append_byte(b, ' ', err)) ||
		    (e = qm_buf_append(b, p, word, err)))
			return e;
		col += 1 + word;
		if (!sp)
			break;
		p = sp + 1;
	}
	return qm_buf_append(b, "\r\n", 2, err);
}

/* An ID fit for an X-QKD header: 1..128 characters of a safe set. */
static int token_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-._:@/+=", c)))
			return 0;
	}
	return 1;
}

/* Base64 input taken per write to the sink: whole 76-character lines. */
#define WIRE_B64_IN (57u * 840u)

struct qm_mail_wire_w {
	qm_mail_write_fn wr;
	void *arg;
	char boundary[64];
	unsigned char in[WIRE_B64_IN]; /* envelope bytes not encoded yet */
	size_t nin;
	struct qm_buf lines;
	int failed;
};

/* Everything before the base64 of the envelope, into out. */
static enum qm_err wire_head(const struct qm_mail_wire *w, const char *boundary,
                             struct qm_buf *out, struct qm_error *err)
{
	struct qm_buf h;
	enum qm_err e;
	size_t nshow;

	qm_buf_init(&h, 1 << 16);
	if ((e = put_header(out, "From", w->hdrs->from, err)))
		goto out;
	if (w->hdrs->to && *w->hdrs->to &&
	    (e = put_header(out, "To", w->hdrs->to, err)))
		goto out;
	if (w->hdrs->cc && *w->hdrs->cc &&
	    (e = put_header(out, "Cc", w->hdrs->cc, err)))
		goto out;
	if ((e = put_header(out, "Date", w->hdrs->date, err)) ||
	    (e = put_header(out, "Message-ID", w->hdrs->message_id, err)) ||
	    (e = put_header(out, "Subject", QM_MAIL_PLACEHOLDER_SUBJECT,
	                    err)) ||
	    (e = qm_buf_append_str(out, "MIME-Version: 1.0\r\n", err)) ||
	    (e = qm_buf_appendf(out, err, "X-QKD-Security-Level: %d\r\n",
	                        w->level)))
		goto out;
	if (w->level <= 2) {
		nshow = w->nkey_ids < QM_MAIL_HDR_MAXKEYIDS
		            ? w->nkey_ids
		            : QM_MAIL_HDR_MAXKEYIDS;
		for (size_t i = 0; i < nshow; i++)
			if ((e = qm_buf_appendf(&h, err, "%s%s", i ? ", " : "",
			                        w->key_ids[i])))
				goto out;
		if ((e = qm_buf_appendf(&h, err, "; count=%zu", w->nkey_ids)) ||
		    (e = put_header(out, "X-QKD-KeyID", (char *)h.data, err)) ||
		    (e = put_header(out, "X-QKD-Sender-SAE", w->sender_sae,
		                    err)))
			goto out;
	}
	e = qm_buf_appendf(
	    out, err,
	    "Content-Type: multipart/encrypted;\r\n"
	    " protocol=\"" QM_MAIL_PROTOCOL "\";\r\n"
	    " boundary=\"%s\"\r\n"
	    "\r\n"
	    "This is a QMail encrypted message. It can be read with\r\n"
	    "QMail only; the attachment message.qmail holds it.\r\n"
	    "\r\n"
	    "--%s\r\n"
	    "Content-Type: " QM_MAIL_PROTOCOL "\r\n"
	    "Content-Description: QMail control information\r\n"
	    "\r\n"
	    "Version: %d\r\n"
	    "\r\n"
	    "This message is encrypted with QMail (quantum-secure\r\n"
	    "mail). Open it in QMail to read it.\r\n"
	    "\r\n"
	    "--%s\r\n"
	    "Content-Type: application/octet-stream; "
	    "name=\"message.qmail\"\r\n"
	    "Content-Disposition: attachment; "
	    "filename=\"message.qmail\"\r\n"
	    "Content-Transfer-Encoding: base64\r\n"
	    "Content-Description: QMail encrypted message\r\n"
	    "\r\n",
	    boundary, boundary, QM_MAIL_WIRE_VERSION, boundary);
out:
	qm_buf_free(&h);
	return e;
}

static enum qm_err wire_check(const struct qm_mail_wire *w,
                              struct qm_error *err)
{
	if (!w || !w->hdrs)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "nothing to wrap: no envelope");
	if (w->level < 1 || w->level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "security level %d is not 1..4", w->level);
	if (w->level <= 2) {
		if (!w->nkey_ids || !w->key_ids || !token_ok(w->sender_sae))
			return qm_error_set(err, QM_ERR_INVAL,
			                    "levels 1 and 2 need key IDs and a "
			                    "valid sender SAE ID");
		for (size_t i = 0; i < w->nkey_ids; i++)
			if (!token_ok(w->key_ids[i]))
				return qm_error_set(err, QM_ERR_INVAL,
				                    "key ID %zu is not valid",
				                    i);
	}
	return QM_OK;
}

void qm_mail_wire_abort(struct qm_mail_wire_w **wp)
{
	struct qm_mail_wire_w *ww = wp ? *wp : NULL;

	if (!ww)
		return;
	qm_buf_free(&ww->lines);
	free(ww);
	*wp = NULL;
}

enum qm_err qm_mail_wire_begin(const struct qm_mail_wire *w,
                               qm_mail_write_fn wr, void *arg,
                               struct qm_mail_wire_w **out,
                               struct qm_error *err)
{
	struct qm_mail_wire_w *ww;
	unsigned char rnd[16];
	enum qm_err e;

	*out = NULL;
	if ((e = wire_check(w, err)))
		return e;
	if (!wr)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the wire message needs somewhere to go");
	ww = calloc(1, sizeof(*ww));
	if (!ww)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	ww->wr = wr;
	ww->arg = arg;
	qm_buf_init(&ww->lines, 1 << 20);
	qm_random(rnd, sizeof(rnd));
	memcpy(ww->boundary, "=_qmail_", 8);
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(ww->boundary + 8 + 2 * i, 3, "%02x", rnd[i]);
	e = wire_head(w, ww->boundary, &ww->lines, err);
	if (!e)
		e = wr(arg, ww->lines.data, ww->lines.len, err);
	if (e) {
		qm_mail_wire_abort(&ww);
		return e;
	}
	*out = ww;
	return QM_OK;
}

/*
 * Encodes the waiting bytes into base64 lines of 76 and gives them. The
 * envelope is ciphertext, public: GLib's table-driven encoder, about six
 * times the speed of libsodium's constant-time one (qm_b64_encode, for
 * secrets), which was a third of a large send's CPU. Every flush but the
 * last holds whole lines (WIRE_B64_IN is a multiple of 57), so each line
 * is encoded on its own, padded only at the very end.
 */
static enum qm_err wire_flush(struct qm_mail_wire_w *ww, struct qm_error *err)
{
	size_t lines = (ww->nin + 56) / 57;
	enum qm_err e;

	qm_buf_reset(&ww->lines);
	e = qm_buf_reserve(&ww->lines, lines * 78 + 8, err);
	for (size_t off = 0; !e && off < ww->nin; off += 57) {
		size_t n = ww->nin - off < 57 ? ww->nin - off : 57;
		char *o = (char *)ww->lines.data + ww->lines.len;
		gint state = 0, save = 0;
		gsize k = g_base64_encode_step(ww->in + off, n, FALSE, o,
		                               &state, &save);

		k += g_base64_encode_close(FALSE, o + k, &state, &save);
		o[k] = '\r';
		o[k + 1] = '\n';
		ww->lines.len += k + 2;
	}
	if (!e && ww->lines.len)
		e = ww->wr(ww->arg, ww->lines.data, ww->lines.len, err);
	ww->nin = 0;
	return e;
}

enum qm_err qm_mail_wire_write(void *arg, const void *p, size_t n,
                               struct qm_error *err)
{
	struct qm_mail_wire_w *ww = arg;
	const unsigned char *q = p;
	enum qm_err e;

	if (ww->failed)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "writing a wire message after it failed");
	while (n) {
		size_t k =
		    WIRE_B64_IN - ww->nin < n ? WIRE_B64_IN - ww->nin : n;

		memcpy(ww->in + ww->nin, q, k);
		ww->nin += k;
		q += k;
		n -= k;
		if (ww->nin == WIRE_B64_IN && (e = wire_flush(ww, err))) {
			ww->failed = 1;
			return e;
		}
	}
	return QM_OK;
}

enum qm_err qm_mail_wire_end(struct qm_mail_wire_w **wp, struct qm_error *err)
{
	struct qm_mail_wire_w *ww = *wp;
	enum qm_err e;

	if (ww->failed)
		e = qm_error_set(err, QM_ERR_INVAL,
		                 "ending a wire message after it failed");
	else
		e = wire_flush(ww, err);
	if (!e) {
		qm_buf_reset(&ww->lines);
		e = qm_buf_appendf(&ww->lines, err, "--%s--\r\n", ww->boundary);
	}
	if (!e)
		e = ww->wr(ww->arg, ww->lines.data, ww->lines.len, err);
	qm_mail_wire_abort(wp);
	return e;
}

enum qm_err qm_mail_wire_size(const struct qm_mail_wire *w, uint64_t env_len,
                              uint64_t *size, struct qm_error *err)
{
	/* a boundary as long as qm_mail_wire_begin's random one */
	char boundary[8 + 32 + 1];
	struct qm_buf head;
	uint64_t b64;
	enum qm_err e;

	*size = 0;
	if ((e = wire_check(w, err)))
		return e;
	if (env_len > UINT64_MAX / 2)
		return qm_error_set(err, QM_ERR_TOOBIG, "envelope too large");
	memcpy(boundary, "=_qmail_", 8);
	memset(boundary + 8, '0', 32);
	boundary[40] = '\0';
	qm_buf_init(&head, 1 << 20);
	e = wire_head(w, boundary, &head, err);
	/* the head; the base64 in lines of 76 and CRLF (every flush but the
	 * last takes a multiple of 57 bytes: the lines run on as if encoded
	 * at once); the closing boundary */
	b64 = (env_len + 2) / 3 * 4;
	if (!e)
		*size = head.len + b64 + (b64 + 75) / 76 * 2 + 2 +
		        strlen(boundary) + 4;
	qm_buf_free(&head);
	return e;
}

/* A qm_buf as the sink of a wire message. */
static enum qm_err buf_sink(void *arg, const void *p, size_t n,
                            struct qm_error *err)
{
	return qm_buf_append(arg, p, n, err);
}

enum qm_err qm_mail_wire_build(const struct qm_mail_wire *w, struct qm_buf *out,
                               struct qm_error *err)
{
	struct qm_mail_wire_w *ww = NULL;
	enum qm_err e;

	if (!w || !w->hdrs || !out || !w->envelope || !w->envelope_len)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "nothing to wrap: no envelope");
	e = qm_mail_wire_begin(w, buf_sink, out, &ww, err);
	if (!e)
		e = qm_mail_wire_write(ww, w->envelope, w->envelope_len, err);
	if (e) {
		qm_mail_wire_abort(&ww);
		return e;
	}
	return qm_mail_wire_end(&ww, err);
}
