/* SPDX-License-Identifier: MIT */
/*
 * What is shown of a message is what it holds, and it cannot act on the
 * screen that shows it. Text from a message (a subject, a display name, an
 * attachment's name) may carry terminal escapes, which can rewrite what a
 * terminal shows (the "Security:" line of `qmail read`), and bidirectional-
 * text controls, which make "invoice<U+202E>fdp.exe" look like
 * "invoiceexe.pdf". Both interfaces show such text through the one function
 * here, which puts a visible stand-in in the place of every such character,
 * and the reader's view (read.c) carries these display-safe forms, so the
 * CLI, the web API and a saved attachment all show the same thing.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* U+FFFD, for bytes that are not UTF-8. */
static const char replacement[] = "\xef\xbf\xbd";

/* Decodes one UTF-8 sequence at p (n bytes left): its length, or 0 when p
 * does not start a well-formed sequence (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). */
static size_t utf8_next(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char b = p[0];
	size_t len;
	uint32_t c, min;

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b >= 0xc2 && b <= 0xdf) {
		len = 2;
		c = b & 0x1f;
		min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		len = 3;
		c = b & 0x0f;
		min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		len = 4;
		c = b & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Characters shown as "[U+XXXX]" besides C0 controls and DEL: C1
 * controls, the invisible direction controls and marks, the line and
 * paragraph separators. The stand-in is ASCII, so that even a terminal
 * that takes bytes 0x80-0x9F for C1 controls finds none in it. */
static int marked(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0x061c || c == 0x200e ||
	       c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
	       (c >= 0x2066 && c <= 0x2069) || c == 0x2028 || c == 0x2029;
}

/* The work of qm_client_display; *nmarked (may be NULL) counts the
 * characters replaced. */
static enum qm_err display(const char *s, size_t n, unsigned flags,
                           struct qm_buf *out, size_t *nmarked,
                           struct qm_error *err)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, count = 0;
	enum qm_err rc = QM_OK;

	while (i < n && rc == QM_OK) {
		uint32_t c = 0;
		size_t len = utf8_next(p + i, n - i, &c);
		int text = (flags & QM_DISPLAY_TEXT) != 0;

		if (len && c >= 0x20 && c != 0x7f && !marked(c)) {
			i += len; /* copied in runs */
			continue;
		}
		if (text && len && (c == '\n' || c == '\t')) {
			i += len;
			continue;
		}
		rc = qm_buf_append(out, p + run, i - run, err);
		if (rc != QM_OK)
			break;
		if (text && c == '\r' && len && i + 1 < n && p[i + 1] == '\n') {
			i++; /* CR LF: the newline alone */
			run = i;
			continue;
		}
		count++;
		if (!len) {
			rc = qm_buf_append(out, replacement,
			                   sizeof(replacement) - 1, err);
			len = 1;
		} else {
			rc = qm_buf_appendf(out, err, "[U+%04X]", (unsigned)c);
		}
		i += len;
		run = i;
	}
	if (rc == QM_OK)
		rc = qm_buf_append(out, p + run, n - run, err);
	if (rc == QM_OK && nmarked)
		*nmarked = count;
	return rc;
}

enum qm_err qm_client_display(const char *s, size_t n, unsigned flags,
                              struct qm_buf *out, struct qm_error *err)
{
	return display(s ? s : "", s ? n : 0, flags, out, NULL, err);
}

/* The display form of s as a new string; *nmarked may be NULL. */
static enum qm_err display_dup(const char *s, unsigned flags, char **out,
                               size_t *nmarked, struct qm_error *err)
{
	struct qm_buf b;
	enum qm_err rc;
	size_t n = s ? strlen(s) : 0;

	/* at most 8 bytes ("[U+XXXX]") for each byte in; reserved at once so
	 * that no copy of the text is left behind by a realloc */
	qm_buf_init(&b, 8 * n + 16);
	rc = qm_buf_reserve(&b, 8 * n + 1, err);
	if (rc == QM_OK)
		rc = display(s ? s : "", n, flags, &b, nmarked, err);
	if (rc == QM_OK)
		rc = qm_buf_append_byte(&b, 0, err);
	if (rc == QM_OK) {
		*out = (char *)b.data;
		return QM_OK;
	}
	qm_buf_free(&b);
	return rc;
}

enum qm_err qm_client_display_dup(const char *s, unsigned flags, char **out,
                                  struct qm_error *err)
{
	return display_dup(s, flags, out, NULL, err);
}

void qm_client_display_ext(const char *name, char *ext, size_t extlen)
{
	const char *dot = name ? strrchr(name, '.') : NULL;
	size_t o = 0;

	if (!extlen)
		return;
	if (dot && dot != name) {
		for (const char *p = dot + 1; *p && o + 1 < extlen; p++)
			ext[o++] =
			    *p >= 'A' && *p <= 'Z' ? (char)(*p + 32) : *p;
	}
	ext[o] = '\0';
}

/* Replaces the string *s by its display form (one line). */
static enum qm_err line(char **s, size_t *nmarked, struct qm_error *err)
{
	char *safe = NULL;
	enum qm_err rc = display_dup(*s, QM_DISPLAY_LINE, &safe, nmarked, err);

	if (rc != QM_OK)
		return rc;
	qm_wipe(*s, strlen(*s));
	free(*s);
	*s = safe;
	return QM_OK;
}

/* Replaces the address list *s by its decoded, display-safe form. */
static enum qm_err addresses(char **s, struct qm_error *err)
{
	char *dec = NULL;
	enum qm_err rc = qm_mail_addr_display(*s, &dec, err);

	if (rc != QM_OK)
		return rc;
	qm_wipe(*s, strlen(*s));
	free(*s);
	*s = dec;
	return line(s, NULL, err);
}

/* The extension a part of this type is saved with ("bin" when unknown). */
static const char *type_ext(const char *type)
{
	static const char *const map[][2] = {
	    {"application/pdf", "pdf"},
	    {"application/zip", "zip"},
	    {"application/gzip", "gz"},
	    {"application/json", "json"},
	    {"application/xml", "xml"},
	    {"application/msword", "doc"},
	    {"application/vnd.openxmlformats-officedocument."
	     "wordprocessingml.document",
	     "docx"},
	    {"application/vnd.openxmlformats-officedocument.spreadsheetml."
	     "sheet",
	     "xlsx"},
	    {"application/vnd.openxmlformats-officedocument."
	     "presentationml.presentation",
	     "pptx"},
	    {"application/vnd.oasis.opendocument.text", "odt"},
	    {"application/vnd.ms-excel", "xls"},
	    {"application/pgp-keys", "asc"},
	    {"application/ics", "ics"},
	    {"text/calendar", "ics"},
	    {"text/plain", "txt"},
	    {"text/html", "html"},
	    {"text/csv", "csv"},
	    {"text/vcard", "vcf"},
	    {"text/x-vcard", "vcf"},
	    {"message/rfc822", "eml"},
	    {"image/png", "png"},
	    {"image/jpeg", "jpg"},
	    {"image/gif", "gif"},
	    {"image/webp", "webp"},
	    {"image/svg+xml", "svg"},
	    {"audio/mpeg", "mp3"},
	    {"audio/ogg", "ogg"},
	    {"video/mp4", "mp4"},
	};

	for (size_t i = 0; type && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(type, map[i][0]) == 0)
			return map[i][1];
	return "bin";
}

/* An attachment without a file name gets one from its position and type
 * ("attachment-2.pdf"), and named 0; one with a name, named 1. */
static enum qm_err att_name(struct qm_client_att *a, size_t i,
                            struct qm_error *err)
{
	char name[64];
	const char *p = a->name ? a->name : "";

	while (*p == ' ' || *p == '\t')
		p++;
	a->named = *p != '\0';
	if (a->named)
		return QM_OK;
	snprintf(name, sizeof(name), "attachment-%zu.%s", i + 1,
	         type_ext(a->type));
	free(a->name);
	a->name = strdup(name);
	if (!a->name)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return QM_OK;
}

enum qm_err client_view_display(struct qm_client_view *v, struct qm_error *err)
{
	enum qm_err rc;

	rc = addresses(&v->from, err);
	if (rc == QM_OK)
		rc = addresses(&v->to, err);
	if (rc == QM_OK)
		rc = addresses(&v->cc, err);
	if (rc == QM_OK)
		rc = addresses(&v->reply_to, err);
	if (rc == QM_OK)
		rc = line(&v->subject, NULL, err);
	if (rc == QM_OK)
		rc = line(&v->date, NULL, err);
	for (size_t i = 0; rc == QM_OK && i < v->natt; i++)
		rc = client_att_display(&v->att[i], i, err);
	return rc;
}

enum qm_err client_att_display(struct qm_client_att *a, size_t i,
                               struct qm_error *err)
{
	char ext[32];
	size_t nm = 0;
	enum qm_err rc;

	rc = att_name(a, i, err);
	if (rc == QM_OK)
		rc = line(&a->name, &nm, err);
	if (rc == QM_OK)
		rc = line(&a->type, NULL, err);
	if (rc != QM_OK)
		return rc;
	a->disguised = nm > 0;
	qm_client_display_ext(a->name, ext, sizeof(ext));
	free(a->ext);
	a->ext = strdup(ext);
	if (!a->ext)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return QM_OK;
}
