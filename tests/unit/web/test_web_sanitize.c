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
	static const char *const bad_in_tag[] = {
		"javascript:", "vbscript:", "data:text", "srcdoc", "expression",
		"url(", "background=", "http://127.0.0.1", "data:image/svg", NULL};
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
	for (p = strchr(low, '<'); p; p = strchr(p + 1, '<')) {
		char *end = strchr(p, '>');
		char tag[4096];
		size_t n = end ? (size_t)(end - p) : strlen(p), k;
		char *q;

		if (n >= sizeof(tag))
			n = sizeof(tag) - 1;
		memcpy(tag, p, n);
		tag[n] = '\0';
		for (k = 0; bad_in_tag[k]; k++)
			if (strstr(tag, bad_in_tag[k])) {
				print_error("payload: %s\noutput: %s\nfound %s in %s\n", payload,
				            out, bad_in_tag[k], tag);
				fail();
			}
		/* no attribute named on...: look for " on" followed by a name and '=' */
		for (q = tag; (q = strstr(q, " on")) != NULL; q++) {
			char *r = q + 3;
			while (isalpha((unsigned char)*r))
				r++;
			if (*r == '=') {
				print_error("payload: %s\noutput: %s\nevent handler in %s\n",
				            payload, out, tag);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keeps_harmless_markup),
		cmocka_unit_test(test_closes_and_escapes),
		cmocka_unit_test(test_images),
		cmocka_unit_test(test_output_limit),
		cmocka_unit_test(test_xss_corpus),
		cmocka_unit_test(test_truncations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
