/* SPDX-License-Identifier: MIT */
/*
 * The HTML sanitiser for mail shown in the GUI. A small tokenizer walks the
 * untrusted HTML once and writes a fresh document from an allow-list: known
 * harmless tags and attributes are re-emitted with every text and attribute
 * value escaped, elements that carry code or load things (script, style,
 * iframe, object, svg, math, form controls, ...) are dropped with their
 * content, and everything unknown is dropped while its text is kept. URLs
 * are decoded the way a browser would before their scheme is checked. The
 * output is also served under a sandbox CSP, so this is the first of two
 * walls, not the only one.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

#include "client/client.h"
#include "private.h"

#define MAXNAME 32
#define MAXATTRS 32
#define MAXDEPTH 128
#define MAXVALUE 8192

/* Tags whose whole content is dropped along with them. */
static const char *const drop_content[] = {
	"script", "style", "iframe", "frame", "frameset", "object", "embed",
	"applet", "noscript", "noembed", "noframes", "template", "title",
	"textarea", "select", "option", "svg", "math", "xmp", "plaintext",
	"head", "audio", "video", "canvas", "map", "button", "datalist",
	"dialog", "portal", "xml", NULL
};

/* Tags kept (with allowed attributes). */
static const char *const allowed_tags[] = {
	"a", "abbr", "address", "b", "bdi", "bdo", "blockquote", "br",
	"caption", "center", "cite", "code", "col", "colgroup", "dd", "del",
	"dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "h1",
	"h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li",
	"mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike",
	"strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
	"tr", "tt", "u", "ul", "var", "wbr", "section", "article", "header",
	"footer", "main", "nav", "aside", "summary", "details", "time", NULL
};

static const char *const void_tags[] = {"br", "hr", "img", "col", "wbr",
                                         NULL};

/* Attributes kept on any allowed tag (URL attributes are handled apart). */
static const char *const allowed_attrs[] = {
	"title", "alt", "dir", "lang", "align", "valign", "width", "height",
	"colspan", "rowspan", "border", "cellpadding", "cellspacing", "bgcolor",
	"color", "face", "size", "start", "reversed", "span", "nowrap",
	"abbr", "scope", "datetime", "open", "style", NULL
};

/* An attribute as found: its name, and its raw value inside the input
 * (decoded only when it is used). */
struct attr {
	char name[MAXNAME];
	const char *raw;
	size_t rawlen;
};

struct san {
	const char *p;
	size_t len;
	size_t i;
	int remote;
	struct qm_buf *out;
	struct qm_error *err;
	enum qm_err rc;
	char stack[MAXDEPTH][MAXNAME];
	int depth;
	struct attr attrs[MAXATTRS];
	char value[MAXVALUE]; /* one decoded attribute value at a time */
	/* the message's own parts a cid: URL may name (may be none) */
	const struct qm_web_inline *parts;
	size_t nparts;
	/* remote images: img elements with an http(s) source, and of them
	 * the plain http ones (qm_web_html_sanitize_stats) */
	size_t remote_n, http_n;
};

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

static void put(struct san *s, const char *p, size_t n)
{
	if (s->rc == QM_OK)
		s->rc = qm_buf_append(s->out, p, n, s->err);
}

static void puts_(struct san *s, const char *p)
{
	put(s, p, strlen(p));
}

/* Escapes one byte for text or attribute context. */
static void put_escaped_byte(struct san *s, unsigned char c)
{
	switch (c) {
	case '<': puts_(s, "&lt;"); break;
	case '>': puts_(s, "&gt;"); break;
	case '"': puts_(s, "&quot;"); break;
	case '\'': puts_(s, "&#39;"); break;
	case '&': puts_(s, "&amp;"); break;
	case '`': puts_(s, "&#96;"); break;
	case 0: break;
	default: put(s, (const char *)&c, 1);
	}
}

/* Length of a well-formed character reference at p ("&amp;", "&#65;",
 * "&#x41;"), or 0. */
static size_t entity_len(const char *p, size_t n)
{
	size_t i = 1;

	if (n < 3 || p[0] != '&')
		return 0;
	if (p[1] == '#') {
		i = 2;
		if (i < n && (p[i] == 'x' || p[i] == 'X')) {
			i++;
			while (i < n && i < 12 && isxdigit((unsigned char)p[i]))
				i++;
		} else {
			while (i < n && i < 12 && isdigit((unsigned char)p[i]))
				i++;
		}
	} else {
		while (i < n && i < 32 && isalnum((unsigned char)p[i]))
			i++;
	}
	if (i < n && p[i] == ';' && i > 1 && !(p[1] == '#' && i <= 3))
		return i + 1;
	return 0;
}

/* Copies text, keeping well-formed entities and escaping the rest. */
static void put_text(struct san *s, const char *p, size_t n)
{
	size_t i = 0, e;

	while (i < n) {
		if (p[i] == '&' && (e = entity_len(p + i, n - i)) > 0) {
			/* &#0; and friends are harmless: the browser makes U+FFFD. */
			put(s, p + i, e);
			i += e;
			continue;
		}
		put_escaped_byte(s, (unsigned char)p[i]);
		i++;
	}
}

/* Copies decoded text, escaping every special byte. */
static void put_text_plain(struct san *s, const char *p)
{
	for (; *p; p++)
		put_escaped_byte(s, (unsigned char)*p);
}

static void put_utf8(char *dst, size_t *dl, size_t cap, uint32_t cp)
{
	unsigned char b[4];
	size_t n, k;

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xC0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xE0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (unsigned char)(0xF0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	for (k = 0; k < n && *dl + 1 < cap; k++)
		dst[(*dl)++] = (char)b[k];
}

/*
 * Decodes character references in an attribute value the way a browser
 * does before it looks at a URL: numeric ones (with or without ';') and the
 * named ones that matter for schemes. Output is NUL-terminated, bounded.
 */
static void decode_value(const char *p, size_t n, char *dst, size_t cap)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp", '&'},   {"lt", '<'},     {"gt", '>'},
	             {"quot", '"'},  {"apos", '\''},  {"colon", ':'},
	             {"tab", '\t'},  {"newline", '\n'}, {"sol", '/'},
	             {"lpar", '('},  {"rpar", ')'},   {"period", '.'},
	             {"nbsp", ' '}};
	size_t i = 0, dl = 0, k;

	while (i < n && dl + 1 < cap) {
		if (p[i] != '&') {
			dst[dl++] = p[i++];
			continue;
		}
		if (i + 1 < n && p[i + 1] == '#') {
			size_t j = i + 2;
			uint32_t cp = 0;
			int hex = 0, digits = 0;

			if (j < n && (p[j] == 'x' || p[j] == 'X')) {
				hex = 1;
				j++;
			}
			while (j < n && (hex ? isxdigit((unsigned char)p[j])
			                     : isdigit((unsigned char)p[j]))) {
				unsigned v = isdigit((unsigned char)p[j])
				                 ? (unsigned)(p[j] - '0')
				                 : (unsigned)(tolower((unsigned char)p[j]) - 'a' + 10);
				if (cp < 0x110000)
					cp = cp * (hex ? 16u : 10u) + v;
				j++;
				digits++;
			}
			if (digits > 0) {
				if (j < n && p[j] == ';')
					j++;
				put_utf8(dst, &dl, cap, cp);
				i = j;
				continue;
			}
		} else {
			for (k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
				size_t ln = strlen(named[k].name);
				if (i + 1 + ln <= n &&
				    strncasecmp(p + i + 1, named[k].name, ln) == 0) {
					dst[dl++] = named[k].c;
					i += 1 + ln;
					if (i < n && p[i] == ';')
						i++;
					break;
				}
			}
			if (k < sizeof(named) / sizeof(named[0]))
				continue;
		}
		dst[dl++] = p[i++];
	}
	dst[dl] = '\0';
}

/*
 * The URL as a browser reads it: leading and trailing spaces and control
 * characters dropped, tab, CR and LF dropped anywhere, the scheme
 * lower-cased, and the remaining spaces percent-encoded. The check and the
 * output both use this form, so what was checked is what the browser gets.
 */
static void normalise_url(const char *in, char *out, size_t cap)
{
	size_t i, o = 0, end = strlen(in);
	int in_scheme = 1;

	i = 0;
	while (i < end && (unsigned char)in[i] <= 0x20)
		i++;
	while (end > i && (unsigned char)in[end - 1] <= 0x20)
		end--;
	for (; i < end && o + 4 < cap; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\t' || c == '\n' || c == '\r')
			continue;
		if (c < 0x20 || c == 0x7f) {
			o = 0; /* a control byte inside: not a URL we keep */
			break;
		}
		if (c == ':' || c == '/' || c == '?' || c == '#')
			in_scheme = 0;
		if (c == ' ') {
			if (in_scheme) {
				o = 0;
				break;
			}
			memcpy(out + o, "%20", 3);
			o += 3;
			continue;
		}
		out[o++] = in_scheme ? (char)tolower(c) : (char)c;
	}
	out[o] = '\0';
}

/* True when the (decoded) URL may be kept in an href. */
static int href_ok(const char *url)
{
	char n[MAXVALUE];

	normalise_url(url, n, sizeof(n));
	return strncmp(n, "https://", 8) == 0 || strncmp(n, "http://", 7) == 0 ||
	       strncmp(n, "mailto:", 7) == 0;
}

/* True when the (decoded) URL may be kept in an img src. */
static int src_ok(const char *url, int remote)
{
	static const char *const types[] = {"data:image/png;", "data:image/gif;",
	                                    "data:image/jpeg;", "data:image/webp;",
	                                    NULL};
	char n[MAXVALUE];
	size_t i;

	normalise_url(url, n, sizeof(n));
	for (i = 0; types[i]; i++)
		if (strncasecmp(n, types[i], strlen(types[i])) == 0)
			return 1;
	return remote && strncmp(n, "https://", 8) == 0;
}

/* Counts an img source that is remote (blocked unless asked for; http:
 * never loads); 1 when it was one. */
static int count_remote(struct san *s, const char *url)
{
	char n[MAXVALUE];

	normalise_url(url, n, sizeof(n));
	if (strncmp(n, "https://", 8) == 0) {
		s->remote_n++;
		return 1;
	}
	/* http:, and "//host/..." (no scheme): neither ever loads */
	if (strncmp(n, "http://", 7) == 0 || strncmp(n, "//", 2) == 0) {
		s->remote_n++;
		s->http_n++;
		return 1;
	}
	return 0;
}

/*
 * The part of this message a cid: URL names (RFC 2392: "cid:" and the
 * Content-ID, percent-encoded), when it is one of the image types an img
 * may show; NULL for anything else (another message's part, a part that
 * is no image, an unknown ID): such an image is dropped like a remote one.
 */
static const struct qm_web_inline *cid_part(const struct san *s,
                                            const char *url)
{
	static const char *const types[] = {"image/png", "image/gif",
	                                    "image/jpeg", "image/webp", NULL};
	char n[MAXVALUE], id[MAXVALUE];
	size_t k = 0;

	normalise_url(url, n, sizeof(n));
	if (strncasecmp(n, "cid:", 4) != 0)
		return NULL;
	for (const char *p = url + strspn(url, " \t\r\n") + 4; *p; p++) {
		if (p[0] == '%' && isxdigit((unsigned char)p[1]) &&
		    isxdigit((unsigned char)p[2])) {
			char hx[3] = {p[1], p[2], 0};
			id[k++] = (char)strtol(hx, NULL, 16);
			p += 2;
		} else {
			id[k++] = *p;
		}
		if (k + 1 >= sizeof(id))
			return NULL;
	}
	id[k] = '\0';
	for (size_t i = 0; i < s->nparts; i++) {
		const struct qm_web_inline *pt = &s->parts[i];

		if (!pt->cid || !*pt->cid || strcmp(pt->cid, id) != 0)
			continue;
		return pt->type && in_list(types, pt->type) ? pt : NULL;
	}
	return NULL;
}

/* src="data:TYPE;base64,..." of part pt. */
static void put_inline(struct san *s, const struct qm_web_inline *pt)
{
	struct qm_buf b64;

	qm_buf_init(&b64, s->out->max ? s->out->max : (size_t)64 << 20);
	if (s->rc == QM_OK)
		s->rc = qm_b64_encode(pt->data, pt->len, &b64, s->err);
	puts_(s, " src=\"data:");
	puts_(s, pt->type);
	puts_(s, ";base64,");
	if (b64.len)
		put(s, (const char *)b64.data, b64.len);
	puts_(s, "\"");
	qm_buf_free(&b64);
}

/* True when an inline style can do nothing but change looks. */
static int style_ok(const char *css)
{
	static const char *const bad[] = {"url(", "expression", "@", "\\",
	                                  "/*", "position", "behavior",
	                                  "binding", "javascript", "image",
	                                  "src", "content", "<", ">", NULL};
	char low[MAXVALUE];
	size_t i;

	for (i = 0; css[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)css[i]);
	low[i] = '\0';
	for (i = 0; bad[i]; i++)
		if (strstr(low, bad[i]))
			return 0;
	return 1;
}

static void put_attr(struct san *s, const char *name, const char *value)
{
	size_t i;

	puts_(s, " ");
	puts_(s, name);
	puts_(s, "=\"");
	for (i = 0; value[i]; i++)
		put_escaped_byte(s, (unsigned char)value[i]);
	puts_(s, "\"");
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static int name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == ':';
}

/* Reads a tag or attribute name, lower-cased; truncates past MAXNAME. */
static void read_name(struct san *s, char *name)
{
	size_t k = 0;

	while (s->i < s->len && name_char(s->p[s->i])) {
		if (k + 1 < MAXNAME)
			name[k++] = (char)tolower((unsigned char)s->p[s->i]);
		s->i++;
	}
	name[k] = '\0';
}

/* Skips to just after the next '>' (or the end). */
static void skip_past_gt(struct san *s)
{
	while (s->i < s->len && s->p[s->i] != '>')
		s->i++;
	if (s->i < s->len)
		s->i++;
}

/* Skips the content of a dropped element up to its own end tag, counting
 * nested elements of the same name. */
static void skip_element(struct san *s, const char *name)
{
	size_t ln = strlen(name);
	int depth = 1;

	while (s->i < s->len) {
		if (s->p[s->i] == '<') {
			size_t j = s->i + 1;
			int closing = 0;
			if (j < s->len && s->p[j] == '/') {
				closing = 1;
				j++;
			}
			if (j + ln <= s->len && strncasecmp(s->p + j, name, ln) == 0 &&
			    (j + ln == s->len || !name_char(s->p[j + ln]))) {
				s->i = j + ln;
				skip_past_gt(s);
				depth += closing ? -1 : 1;
				if (depth == 0)
					return;
				continue;
			}
		}
		s->i++;
	}
}


/* Parses the attributes of a start tag up to its '>'; keeps up to max. */
static size_t read_attrs(struct san *s, struct attr *attrs, size_t max,
                         int *selfclose)
{
	size_t n = 0;

	*selfclose = 0;
	while (s->i < s->len) {
		char c = s->p[s->i];
		const char *v = NULL;
		size_t vl = 0;
		char name[MAXNAME];

		if (is_space(c)) {
			s->i++;
			continue;
		}
		if (c == '>') {
			s->i++;
			return n;
		}
		if (c == '/') {
			*selfclose = 1;
			s->i++;
			continue;
		}
		*selfclose = 0;
		if (!name_char(c)) {
			/* a stray quote, '=', '<' ...: the name is junk */
			s->i++;
			while (s->i < s->len && !is_space(s->p[s->i]) &&
			       s->p[s->i] != '>' && s->p[s->i] != '=')
				s->i++;
			name[0] = '\0';
		} else {
			read_name(s, name);
		}
		while (s->i < s->len && is_space(s->p[s->i]))
			s->i++;
		if (s->i < s->len && s->p[s->i] == '=') {
			s->i++;
			while (s->i < s->len && is_space(s->p[s->i]))
				s->i++;
			if (s->i < s->len && (s->p[s->i] == '"' || s->p[s->i] == '\'')) {
				char q = s->p[s->i++];
				v = s->p + s->i;
				while (s->i < s->len && s->p[s->i] != q)
					s->i++;
				vl = (size_t)(s->p + s->i - v);
				if (s->i < s->len)
					s->i++;
			} else {
				v = s->p + s->i;
				while (s->i < s->len && !is_space(s->p[s->i]) &&
				       s->p[s->i] != '>')
					s->i++;
				vl = (size_t)(s->p + s->i - v);
			}
		}
		if (name[0] == '\0' || n >= max)
			continue;
		qm_strlcpy(attrs[n].name, name, sizeof(attrs[n].name));
		attrs[n].raw = v ? v : "";
		attrs[n].rawlen = v ? vl : 0;
		n++;
	}
	return n;
}

static void start_tag(struct san *s, const char *tag)
{
	struct attr *list = s->attrs;
	size_t n, k;
	int selfclose, is_void;

	n = read_attrs(s, list, MAXATTRS, &selfclose);
	if (in_list(drop_content, tag)) {
		if (!selfclose)
			skip_element(s, tag);
		return;
	}
	if (!in_list(allowed_tags, tag))
		return;
	is_void = in_list(void_tags, tag);
	if (strcmp(tag, "img") == 0) {
		int have_src = 0, counted = 0;
		for (k = 0; k < n; k++)
			if (strcmp(list[k].name, "src") == 0) {
				decode_value(list[k].raw, list[k].rawlen, s->value,
				             sizeof(s->value));
				if (!counted)
					counted = count_remote(s, s->value);
				if (src_ok(s->value, s->remote) ||
				    cid_part(s, s->value))
					have_src = 1;
			}
		if (!have_src) {
			/* keep the alt text so the reader knows an image was here */
			for (k = 0; k < n; k++)
				if (strcmp(list[k].name, "alt") == 0 && list[k].rawlen) {
					decode_value(list[k].raw, list[k].rawlen, s->value,
					             sizeof(s->value));
					puts_(s, "[");
					put_text_plain(s, s->value);
					puts_(s, "]");
				}
			return;
		}
	}
	if (!is_void && s->depth >= MAXDEPTH)
		return;
	puts_(s, "<");
	puts_(s, tag);
	for (k = 0; k < n; k++) {
		const char *an = list[k].name, *av = s->value;
		decode_value(list[k].raw, list[k].rawlen, s->value, sizeof(s->value));
		if (strcmp(an, "href") == 0 || strcmp(an, "src") == 0) {
			char url[MAXVALUE];
			normalise_url(av, url, sizeof(url));
			if (strcmp(an, "href") == 0 && strcmp(tag, "a") == 0 && href_ok(url))
				put_attr(s, "href", url);
			else if (strcmp(an, "src") == 0 && strcmp(tag, "img") == 0 &&
			         src_ok(url, s->remote))
				put_attr(s, "src", url);
			else if (strcmp(an, "src") == 0 &&
			         strcmp(tag, "img") == 0 && cid_part(s, av))
				put_inline(s, cid_part(s, av));
		} else if (strcmp(an, "style") == 0) {
			if (style_ok(av))
				put_attr(s, "style", av);
		} else if (in_list(allowed_attrs, an)) {
			put_attr(s, an, av);
		}
	}
	if (strcmp(tag, "a") == 0)
		puts_(s, " target=\"_blank\" rel=\"noopener noreferrer\"");
	if (strcmp(tag, "img") == 0)
		puts_(s, " referrerpolicy=\"no-referrer\"");
	puts_(s, ">");
	if (!is_void)
		qm_strlcpy(s->stack[s->depth++], tag, MAXNAME);
}

static void end_tag(struct san *s, const char *tag)
{
	int d;

	for (d = s->depth - 1; d >= 0; d--)
		if (strcmp(s->stack[d], tag) == 0)
			break;
	if (d < 0)
		return; /* not open: ignore, as browsers do */
	while (s->depth > d) {
		s->depth--;
		puts_(s, "</");
		puts_(s, s->stack[s->depth]);
		puts_(s, ">");
	}
}

enum qm_err qm_web_html_sanitize(const char *html, size_t len,
                                 int remote_images, struct qm_buf *out,
                                 struct qm_error *err)
{
	return qm_web_html_sanitize_parts(html, len, remote_images, NULL, 0,
	                                  out, err);
}

enum qm_err qm_web_html_sanitize_parts(const char *html, size_t len,
                                       int remote_images,
                                       const struct qm_web_inline *parts,
                                       size_t nparts, struct qm_buf *out,
                                       struct qm_error *err)
{
	return qm_web_html_sanitize_stats(html, len, remote_images, parts,
	                                  nparts, out, NULL, err);
}

enum qm_err qm_web_html_text(const char *html, size_t len,
                             struct qm_buf *text,
                             struct qm_web_html_stats *stats,
                             struct qm_error *err)
{
	struct qm_buf clean;
	enum qm_err rc;

	qm_buf_init_secure(&clean, QM_CLIENT_MAXMSG * 2);
	rc = qm_web_html_sanitize_stats(html, len, 0, NULL, 0, &clean, stats,
	                                err);
	if (!rc)
		rc = qm_client_html_read_text(
		    clean.data ? (const char *)clean.data : "", err, text);
	qm_buf_free(&clean);
	return rc;
}

enum qm_err qm_web_html_sanitize_stats(const char *html, size_t len,
                                       int remote_images,
                                       const struct qm_web_inline *parts,
                                       size_t nparts, struct qm_buf *out,
                                       struct qm_web_html_stats *stats,
                                       struct qm_error *err)
{
	struct san *s;
	enum qm_err rc;

	if (!html || !out)
		return qm_error_set(err, QM_ERR_INVAL, "sanitise: no input");
	/* malloc, not calloc: the attribute scratch space (about 260 KB) is
	 * written before it is read, so only the header needs clearing */
	s = malloc(sizeof(*s));
	if (!s)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory sanitising HTML");
	memset(s, 0, offsetof(struct san, attrs));
	s->p = html;
	s->len = len;
	s->remote = remote_images;
	s->parts = parts;
	s->nparts = nparts;
	s->remote_n = s->http_n = 0; /* past the cleared header */
	s->out = out;
	s->err = err;
	while (s->i < s->len && s->rc == QM_OK) {
		size_t start = s->i;
		char tag[MAXNAME];

		if (s->p[s->i] != '<') {
			while (s->i < s->len && s->p[s->i] != '<')
				s->i++;
			put_text(s, s->p + start, s->i - start);
			continue;
		}
		if (s->i + 3 < s->len && strncmp(s->p + s->i, "<!--", 4) == 0) {
			const char *end = memmem(s->p + s->i + 4, s->len - s->i - 4,
			                         "-->", 3);
			s->i = end ? (size_t)(end - s->p) + 3 : s->len;
			continue;
		}
		if (s->i + 1 < s->len &&
		    (s->p[s->i + 1] == '!' || s->p[s->i + 1] == '?')) {
			skip_past_gt(s);
			continue;
		}
		if (s->i + 1 < s->len && s->p[s->i + 1] == '/') {
			s->i += 2;
			if (s->i < s->len && isalpha((unsigned char)s->p[s->i])) {
				read_name(s, tag);
				skip_past_gt(s);
				end_tag(s, tag);
			} else {
				skip_past_gt(s); /* "</ >" and "</3": a bogus comment */
			}
			continue;
		}
		if (s->i + 1 < s->len && isalpha((unsigned char)s->p[s->i + 1])) {
			s->i++;
			read_name(s, tag);
			start_tag(s, tag);
			continue;
		}
		puts_(s, "&lt;");
		s->i++;
	}
	while (s->depth > 0 && s->rc == QM_OK) {
		s->depth--;
		puts_(s, "</");
		puts_(s, s->stack[s->depth]);
		puts_(s, ">");
	}
	rc = s->rc;
	if (!rc && stats) {
		stats->remote_images = s->remote_n;
		stats->remote_http = s->http_n;
	}
	free(s);
	return rc;
}
