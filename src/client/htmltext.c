/* SPDX-License-Identifier: MIT */
/*
 * The text part of an HTML message (issue 15, HTML compose): what a reader
 * without HTML sees. The input is the sanitised HTML the interface sends
 * (a small set of tags, every attribute value quoted and escaped), so a
 * single pass that keeps text, turns blocks into lines and remembers the
 * open lists and quotes is enough; nothing here is shown as HTML.
 */
#include "private.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HT_DEPTH 16

struct ht {
	struct qm_buf *out;
	struct qm_error *err;
	enum qm_err rc;
	int quote;          /* open blockquotes */
	int list[HT_DEPTH]; /* 0: bulleted, else the next number */
	int nlist;
	char href[1024]; /* the open link's URL */
	size_t link_at;  /* where its text starts in out */
	int in_link;
	int reader; /* the reader's form (qm_client_html_read_text) */
	int pre;    /* open pre elements: spaces kept */
};

static void put(struct ht *h, const char *s, size_t n)
{
	if (!h->rc)
		h->rc = qm_buf_append(h->out, s, n, h->err);
}

/* Starts a new line (unless at one), with the quote marks. */
static void newline(struct ht *h)
{
	if (h->out->len && h->out->data[h->out->len - 1] != '\n')
		put(h, "\n", 1);
}

/* Ends the paragraph: a blank line after it (the reader's form). */
static void blank(struct ht *h)
{
	newline(h);
	if (h->out->len &&
	    !(h->out->len >= 2 && h->out->data[h->out->len - 2] == '\n'))
		put(h, "\n", 1);
}

static void line_lead(struct ht *h)
{
	for (int i = 0; i < h->quote; i++)
		put(h, "> ", 2);
}

/* The value of attribute name in the tag text t (n bytes), decoded of the
 * sanitiser's escapes, into out. */
static void attr_get(const char *t, size_t n, const char *name, char *out,
                     size_t cap)
{
	size_t nl = strlen(name), k = 0;

	out[0] = '\0';
	for (size_t i = 0; i + nl + 2 < n; i++) {
		if ((i == 0 || t[i - 1] != ' ') ||
		    strncasecmp(t + i, name, nl) != 0 || t[i + nl] != '=' ||
		    t[i + nl + 1] != '"')
			continue;
		for (size_t j = i + nl + 2; j < n && t[j] != '"' && k + 1 < cap;
		     j++) {
			if (strncmp(t + j, "&amp;", 5) == 0) {
				out[k++] = '&';
				j += 4;
				continue;
			}
			out[k++] = t[j];
		}
		out[k] = '\0';
		return;
	}
}

static void tag(struct ht *h, const char *t, size_t n)
{
	char name[16];
	size_t k = 0, i = 0;
	int end = 0;

	if (i < n && t[i] == '/') {
		end = 1;
		i++;
	}
	while (i < n && k + 1 < sizeof(name) && isalnum((unsigned char)t[i]))
		name[k++] = (char)tolower((unsigned char)t[i++]);
	name[k] = '\0';
	if (!strcmp(name, "br")) {
		put(h, "\n", 1);
		line_lead(h);
	} else if (!strcmp(name, "p") || !strcmp(name, "div") ||
	           (name[0] == 'h' && name[1] >= '1' && name[1] <= '6' &&
	            !name[2]) ||
	           !strcmp(name, "pre") || !strcmp(name, "tr")) {
		if (!strcmp(name, "pre"))
			h->pre += end ? (h->pre > 0 ? -1 : 0) : 1;
		if (h->reader && end && strcmp(name, "div") &&
		    strcmp(name, "tr"))
			blank(h);
		else
			newline(h);
		if (!end)
			line_lead(h);
	} else if ((!strcmp(name, "td") || !strcmp(name, "th")) && !end) {
		/* a table row is one line, its cells apart */
		if (h->out->len && h->out->data[h->out->len - 1] != '\n')
			put(h, " | ", 3);
	} else if (!strcmp(name, "table") && h->reader) {
		blank(h);
	} else if (!strcmp(name, "blockquote")) {
		newline(h);
		h->quote += end ? (h->quote > 0 ? -1 : 0) : 1;
		line_lead(h);
	} else if (!strcmp(name, "ul") || !strcmp(name, "ol")) {
		newline(h);
		if (end && h->nlist > 0)
			h->nlist--;
		if (end && h->reader && h->nlist == 0)
			blank(h);
		else if (!end && h->nlist < HT_DEPTH)
			h->list[h->nlist++] = name[0] == 'o' ? 1 : 0;
	} else if (!strcmp(name, "li") && !end) {
		char mark[32];
		int *l = h->nlist ? &h->list[h->nlist - 1] : NULL;

		newline(h);
		line_lead(h);
		for (int d = 1; d < h->nlist; d++)
			put(h, "  ", 2);
		if (l && *l)
			snprintf(mark, sizeof(mark), "%d. ", (*l)++);
		else
			snprintf(mark, sizeof(mark), h->reader ? "- " : "* ");
		put(h, mark, strlen(mark));
	} else if (!strcmp(name, "a") && !end) {
		attr_get(t, n, "href", h->href, sizeof(h->href));
		h->link_at = h->out->len;
		h->in_link = 1;
	} else if (!strcmp(name, "a") && h->in_link) {
		size_t tl = h->out->len - h->link_at, hl = strlen(h->href);
		const char *txt = (const char *)h->out->data + h->link_at;

		h->in_link = 0;
		if (hl && !(tl == hl && memcmp(txt, h->href, hl) == 0) &&
		    strncmp(h->href, "mailto:", 7) != 0) {
			put(h, " <", 2);
			put(h, h->href, hl);
			put(h, ">", 1);
		}
	}
}

/* Appends code point cp as UTF-8 (none for a surrogate, NUL or past
 * U+10FFFF: U+FFFD). */
static void put_cp(struct ht *h, unsigned long cp)
{
	char u[4];

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		u[0] = (char)cp;
		put(h, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		put(h, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		put(h, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		put(h, u, 4);
	}
}

/* The reader's further entities: numeric ones (&#8364; &#x20AC;) and
 * the named ones mail uses most; the length read, 0 when none. */
static size_t entity_more(struct ht *h, const char *s)
{
	static const struct {
		const char *name;
		unsigned long cp;
	} names[] = {
	    {"copy;", 0xA9},    {"reg;", 0xAE},     {"trade;", 0x2122},
	    {"euro;", 0x20AC},  {"pound;", 0xA3},   {"yen;", 0xA5},
	    {"cent;", 0xA2},    {"mdash;", 0x2014}, {"ndash;", 0x2013},
	    {"hellip;", 0x2026}, {"lsquo;", 0x2018}, {"rsquo;", 0x2019},
	    {"ldquo;", 0x201C}, {"rdquo;", 0x201D}, {"bull;", 0x2022},
	    {"middot;", 0xB7},  {"laquo;", 0xAB},   {"raquo;", 0xBB},
	    {"apos;", 0x27},    {"zwnj;", 0x200C},  {"shy;", 0xAD},
	};
	unsigned long cp = 0;
	size_t i = 1, digits = 0;
	int hex;

	if (s[0] != '#') {
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (!strncmp(s, names[k].name, strlen(names[k].name))) {
				put_cp(h, names[k].cp);
				return strlen(names[k].name);
			}
		return 0;
	}
	hex = s[1] == 'x' || s[1] == 'X';
	i += (size_t)hex;
	for (; digits < 8 && isxdigit((unsigned char)s[i]) &&
	       (hex || isdigit((unsigned char)s[i]));
	     i++, digits++)
		cp = cp * (hex ? 16 : 10) +
		     (unsigned long)(isdigit((unsigned char)s[i])
		                         ? s[i] - '0'
		                         : (tolower((unsigned char)s[i]) - 'a' +
		                            10));
	if (!digits || s[i] != ';')
		return 0;
	put_cp(h, cp);
	return i + 1;
}

/* An entity at s (after '&'): appends its character, returns its
 * length; 0 when it is none this knows (the '&' is kept). */
static size_t entity(struct ht *h, const char *s)
{
	static const char *const map[][2] = {
	    {"amp;", "&"}, {"lt;", "<"},   {"gt;", ">"},   {"quot;", "\""},
	    {"#39;", "'"}, {"nbsp;", " "}, {"#34;", "\""}, {"#38;", "&"},
	    {"#60;", "<"}, {"#62;", ">"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i][0]);

		if (strncmp(s, map[i][0], n) == 0) {
			put(h, map[i][1], strlen(map[i][1]));
			return n;
		}
	}
	return h->reader ? entity_more(h, s) : 0;
}

/* The conversion of both forms; reader: qm_client_html_read_text's. */
static enum qm_err html_text(const char *html, int reader,
                             struct qm_error *err, struct qm_buf *out)
{
	struct ht h;
	const char *p = html ? html : "";

	memset(&h, 0, sizeof(h));
	h.out = out;
	h.err = err;
	h.reader = reader;
	while (*p && !h.rc) {
		if (*p == '<') {
			const char *e = strchr(p, '>');

			if (!e)
				break;
			if (p[1] != '!')
				tag(&h, p + 1, (size_t)(e - p - 1));
			p = e + 1;
		} else if (*p == '&') {
			size_t n = entity(&h, p + 1);

			if (!n)
				put(&h, "&", 1);
			p += 1 + n;
		} else if (*p == '\n' || *p == '\r') {
			/* source line ends are spaces in HTML */
			if (out->len && out->data[out->len - 1] != '\n' &&
			    out->data[out->len - 1] != ' ')
				put(&h, " ", 1);
			p++;
		} else if (reader && !h.pre && (*p == ' ' || *p == '\t')) {
			/* runs of blanks are one space, none at a line's start */
			if (out->len && out->data[out->len - 1] != '\n' &&
			    out->data[out->len - 1] != ' ')
				put(&h, " ", 1);
			p++;
		} else {
			put(&h, p, 1);
			p++;
		}
	}
	if (!h.rc)
		newline(&h);
	return h.rc;
}

enum qm_err qm_client_html_text(const char *html, struct qm_error *err,
                                struct qm_buf *out)
{
	return html_text(html, 0, err, out);
}

enum qm_err qm_client_html_read_text(const char *html, struct qm_error *err,
                                     struct qm_buf *out)
{
	struct qm_buf t;
	enum qm_err rc;
	size_t nl = 0, sp = 0;
	int started = 0;

	qm_buf_init_secure(&t, out->max ? out->max : QM_CLIENT_MAXMSG);
	rc = html_text(html, 1, err, &t);
	/* no blanks at a line's end, no blank lines first, at most two
	 * blank lines in a row */
	for (size_t i = 0; !rc && i < t.len; i++) {
		char c = (char)t.data[i];

		if (c == ' ') {
			sp++;
			continue;
		}
		if (c == '\n') {
			sp = 0;
			if (started && nl < 3)
				rc = qm_buf_append(out, "\n", 1, err);
			nl++;
			continue;
		}
		for (; !rc && sp; sp--)
			rc = qm_buf_append(out, " ", 1, err);
		if (!rc)
			rc = qm_buf_append(out, &c, 1, err);
		started = 1;
		nl = 0;
	}
	/* one line end last */
	while (!rc && out->len >= 2 && out->data[out->len - 1] == '\n' &&
	       out->data[out->len - 2] == '\n')
		out->len--;
	qm_buf_free(&t);
	return rc;
}
