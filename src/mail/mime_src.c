/* SPDX-License-Identifier: MIT */
/*
 * A GMimeStream over a message read in pieces (struct qm_mail_src: a
 * sealed blob of the store, a file), so that GMime parses a large message
 * without it in memory: seekable, so the parser (persist-stream) keeps
 * each part as a substream of it rather than a copy, and a part's content
 * is read from the source only when asked for. Every substream shares one
 * cursor over the source and seeks it when it is not where the read
 * starts; the first failure of the source is kept for the caller.
 */
#include "private.h"

#include <gmime/gmime.h>

typedef struct {
	GMimeStream parent;
	struct mail_src_cursor *cur;
} SrcStream;

typedef struct {
	GMimeStreamClass parent;
} SrcStreamClass;

GType mail_src_stream_get_type(void);

G_DEFINE_TYPE(SrcStream, mail_src_stream, GMIME_TYPE_STREAM)

static gint64 end_of(GMimeStream *s)
{
	SrcStream *ss = (SrcStream *)s;

	return s->bound_end != -1 ? s->bound_end : (gint64)ss->cur->src->len;
}

/* Notes the source's first failure; -1 for GMime. */
static ssize_t failed(struct mail_src_cursor *c, enum qm_err rc,
                      const struct qm_error *e)
{
	if (!c->rc) {
		c->rc = rc;
		c->err = *e;
	}
	return -1;
}

static ssize_t src_read(GMimeStream *s, char *buf, size_t len)
{
	struct mail_src_cursor *c = ((SrcStream *)s)->cur;
	gint64 end = end_of(s);
	struct qm_error e;
	size_t have = 0;
	enum qm_err rc;

	if (c->rc)
		return -1;
	if (s->position >= end)
		return 0;
	if ((gint64)len > end - s->position)
		len = (size_t)(end - s->position);
	qm_error_clear(&e);
	if (c->pos != (uint64_t)s->position) {
		rc = c->src->seek(c->src->arg, (uint64_t)s->position, &e);
		if (rc)
			return failed(c, rc, &e);
		c->pos = (uint64_t)s->position;
	}
	/* all that is asked for, as a memory stream gives it: GMime's
	 * parser reads a message differently after a short read */
	while (have < len) {
		size_t got = 0;

		rc =
		    c->src->read(c->src->arg, buf + have, len - have, &got, &e);
		if (rc)
			return failed(c, rc, &e);
		if (got == 0 || got > len - have) {
			qm_error_set(&e, QM_ERR_IO,
			             "the message ended at byte %llu of %llu",
			             (unsigned long long)c->pos,
			             (unsigned long long)c->src->len);
			return failed(c, QM_ERR_IO, &e);
		}
		have += got;
		c->pos += got;
	}
	s->position += (gint64)have;
	return (ssize_t)have;
}

static ssize_t src_write(GMimeStream *s, const char *buf, size_t len)
{
	(void)s;
	(void)buf;
	(void)len;
	return -1; /* read only */
}

static int src_flush(GMimeStream *s)
{
	(void)s;
	return 0;
}

static int src_close(GMimeStream *s)
{
	(void)s;
	return 0; /* the source is the caller's */
}

static gboolean src_eos(GMimeStream *s)
{
	return s->position >= end_of(s);
}

static int src_reset(GMimeStream *s)
{
	s->position = s->bound_start;
	return 0;
}

static gint64 src_seek(GMimeStream *s, gint64 off, GMimeSeekWhence whence)
{
	gint64 end = end_of(s), at;

	switch (whence) {
	case GMIME_STREAM_SEEK_SET:
		at = off;
		break;
	case GMIME_STREAM_SEEK_CUR:
		at = s->position + off;
		break;
	case GMIME_STREAM_SEEK_END:
		at = end + off;
		break;
	default:
		return -1;
	}
	if (at < s->bound_start || at > end)
		return -1;
	s->position = at; /* the source moves at the next read */
	return at;
}

static gint64 src_tell(GMimeStream *s)
{
	return s->position;
}

static gint64 src_length(GMimeStream *s)
{
	return end_of(s) - s->bound_start;
}

static GMimeStream *src_substream(GMimeStream *s, gint64 start, gint64 end)
{
	return mail_src_stream_new(((SrcStream *)s)->cur, start, end);
}

static void mail_src_stream_class_init(SrcStreamClass *k)
{
	GMimeStreamClass *sc = GMIME_STREAM_CLASS(k);

	sc->read = src_read;
	sc->write = src_write;
	sc->flush = src_flush;
	sc->close = src_close;
	sc->eos = src_eos;
	sc->reset = src_reset;
	sc->seek = src_seek;
	sc->tell = src_tell;
	sc->length = src_length;
	sc->substream = src_substream;
}

static void mail_src_stream_init(SrcStream *s)
{
	s->cur = NULL;
}

GMimeStream *mail_src_stream_new(struct mail_src_cursor *cur, gint64 start,
                                 gint64 end)
{
	SrcStream *s = g_object_new(mail_src_stream_get_type(), NULL);

	s->cur = cur;
	g_mime_stream_construct(GMIME_STREAM(s), start, end);
	return GMIME_STREAM(s);
}
