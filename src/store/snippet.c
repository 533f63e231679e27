/* SPDX-License-Identifier: MIT */
/*
 * Snippets for the message list (schema 9): the first words of a message's
 * plain text as a mail client shows them under the subject. What the
 * writer quoted and their signature are left out, every run of whitespace
 * is one space, and nothing that is not a printable character is kept, so
 * the snippet is one short line of valid UTF-8. Which messages may have
 * one is decided here too: only those whose text the reader would show.
 */
#include <string.h>

#include "private.h"

int store_snippet_allowed(const struct qm_store_msg *m)
{
	return m->label == QM_LABEL_OK && !m->body_pending &&
	       store_snippet_verify(m->verify);
}

int store_snippet_verify(enum qm_store_verify v)
{
	switch (v) {
	case QM_VERIFY_OK:
	case QM_VERIFY_UNVERIFIED_SENDER:
	case QM_VERIFY_NOT_QMAIL:
	case QM_VERIFY_SENT:
		return 1;
	default:
		/* tampered, replayed, refused, unreadable, waiting, from
		 * this address elsewhere, no key: no text of it is shown */
		return 0;
	}
}

/* The code point at p (n > 0 bytes left) and its length in *len; -1 for
 * a byte that starts no valid sequence (overlong, surrogate, past
 * U+10FFFF, cut short): *len is then 1. */
static long utf8_at(const unsigned char *p, size_t n, size_t *len)
{
	long c;
	size_t k, need;

	*len = 1;
	if (p[0] < 0x80)
		return p[0];
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 1;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 2;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 3;
		c = p[0] & 0x07;
	} else {
		return -1;
	}
	if (n < need + 1)
		return -1;
	for (k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return -1;
		c = (c << 6) | (p[k] & 0x3f);
	}
	if ((need == 2 && c < 0x800) || (need == 3 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return -1;
	*len = need + 1;
	return c;
}

/* Whitespace that becomes one space. */
static int is_space(long c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0 ||
	       c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
	       c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* What is dropped: C0 and C1 controls, DEL, the byte order mark. Direction
 * controls are kept: each interface shows them as marks, as in a
 * subject. */
static int is_dropped(long c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0xfeff;
}

/* Whether line [p, p + n) (without its newline) is quoted: its first
 * character after blanks is '>'. */
static int line_quoted(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return i < n && p[i] == '>';
}

/* Whether the line is the signature separator "-- " (or "--", as some
 * programs strip the blank). */
static int line_sig(const char *p, size_t n)
{
	if (n && p[n - 1] == '\r')
		n--;
	return (n == 3 && memcmp(p, "-- ", 3) == 0) ||
	       (n == 2 && memcmp(p, "--", 2) == 0);
}

/* The snippet being written. */
struct snip {
	struct qm_buf *out;
	size_t chars; /* code points written */
	int space;    /* whitespace seen since the last character */
	int any;      /* a character written */
};

/* Adds the characters of line [p, p + n) to sn. */
static enum qm_err snip_line(struct snip *sn, const char *p, size_t n,
                             struct qm_error *err)
{
	enum qm_err rc = QM_OK;
	size_t i = 0, len;

	while (rc == QM_OK && i < n && sn->chars < QM_STORE_SNIPPET_CHARS) {
		long c = utf8_at((const unsigned char *)p + i, n - i, &len);

		i += len;
		if (c < 0 || is_dropped(c))
			continue;
		if (is_space(c)) {
			sn->space = 1;
			continue;
		}
		if (sn->space && sn->any) {
			/* no blank at the end */
			if (sn->chars + 2 > QM_STORE_SNIPPET_CHARS) {
				sn->chars = QM_STORE_SNIPPET_CHARS;
				break;
			}
			rc = qm_buf_append_byte(sn->out, ' ', err);
			sn->chars++;
		}
		sn->space = 0;
		if (rc == QM_OK)
			rc = qm_buf_append(sn->out, p + i - len, len, err);
		sn->chars++;
		sn->any = 1;
	}
	sn->space = 1; /* the line's end */
	return rc;
}

enum qm_err qm_store_snippet(const char *text, size_t n, struct qm_buf *out,
                             struct qm_error *err)
{
	struct snip sn = {out, 0, 0, 0};
	enum qm_err rc = QM_OK;
	size_t pos = 0;

	while (rc == QM_OK && pos < n && sn.chars < QM_STORE_SNIPPET_CHARS) {
		const char *nl = memchr(text + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - text) : n;

		if (line_sig(text + pos, end - pos))
			break;
		if (!line_quoted(text + pos, end - pos))
			rc = snip_line(&sn, text + pos, end - pos, err);
		pos = end + 1;
	}
	return rc;
}

enum qm_err store_snippet_seal_made(struct qm_store *s, int64_t id,
                                    const char *subject, const char *name,
                                    const char *sn, size_t n,
                                    struct qm_buf *blob, struct qm_error *err)
{
	struct qm_buf pt;
	enum qm_err rc;
	int named = name && *name;

	qm_buf_reset(blob);
	if (!n && !named)
		return QM_OK;
	qm_buf_init_secure(&pt, QM_STORE_MAXBLOB);
	rc = qm_buf_append_byte(
	    &pt, (subject ? ITEM_SUBJECT : 0) | (named ? ITEM_NAME : 0), err);
	if (rc == QM_OK && subject)
		rc = qm_buf_append_str(&pt, subject, err);
	if (rc == QM_OK)
		rc = qm_buf_append_byte(&pt, 0, err);
	if (rc == QM_OK && named)
		rc = qm_buf_append(&pt, name, strnlen(name, QM_STORE_NAMEMAX),
		                   err);
	if (rc == QM_OK && named)
		rc = qm_buf_append_byte(&pt, 0, err);
	if (rc == QM_OK)
		rc = qm_buf_append(&pt, sn, n, err);
	if (rc == QM_OK)
		rc = store_vault_seal(s, "snippet", id, pt.data, pt.len, blob,
		                      err);
	qm_buf_free(&pt);
	return rc;
}

enum qm_err store_snippet_seal(struct qm_store *s, int64_t id,
                               const char *subject, const char *name,
                               const char *text, struct qm_buf *blob,
                               struct qm_error *err)
{
	struct qm_buf sn;
	enum qm_err rc = QM_OK;

	qm_buf_reset(blob);
	if ((!text || !*text) && (!name || !*name))
		return QM_OK;
	qm_buf_init_secure(&sn, 4 * QM_STORE_SNIPPET_CHARS);
	if (text)
		rc = qm_store_snippet(text, strlen(text), &sn, err);
	if (rc == QM_OK)
		rc = store_snippet_seal_made(s, id, subject, name,
		                             (const char *)sn.data, sn.len,
		                             blob, err);
	qm_buf_free(&sn);
	return rc;
}

int store_item_parse(const unsigned char *d, size_t n, size_t *subject,
                     size_t *name, size_t *snippet)
{
	const unsigned char *nul, *nul2;

	*subject = *name = *snippet = SIZE_MAX;
	/* at least the flag and the NUL after the subject */
	if (n < 2 || d[0] > (ITEM_SUBJECT | ITEM_NAME) || d[n] != 0)
		return -1;
	nul = memchr(d + 1, 0, n - 1);
	if (!nul)
		return -1;
	if (d[0] & ITEM_SUBJECT)
		*subject = 1;
	if (!(d[0] & ITEM_NAME)) {
		/* an item without a name has a snippet (as schema 9 first
		 * wrote it) */
		if ((size_t)(nul - d) + 1 >= n)
			return -1;
		*snippet = (size_t)(nul - d) + 1;
		return 0;
	}
	if ((size_t)(nul - d) + 1 >= n)
		return -1;
	nul2 = memchr(nul + 1, 0, n - (size_t)(nul - d) - 1);
	if (!nul2 || nul2 == nul + 1)
		return -1; /* a name item holds a name */
	*name = (size_t)(nul - d) + 1;
	*snippet = (size_t)(nul2 - d) + 1; /* may be "" (d[n]) */
	return 0;
}
