/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the web GUI's mail HTML sanitiser (qm_web_html_sanitize).
 * Besides not crashing, the output must hold no script element, no event
 * handler attribute and no javascript: URL, whatever came in.
 */
#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "web/web.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	return 0;
}

/* Case-insensitive search in a NUL-terminated string. */
static int has(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return 1;
	return 0;
}

/* needle inside a tag (between '<' and '>'), case-insensitive. */
static int tag_has(const char *s, const char *needle)
{
	size_t n = strlen(needle);
	int in_tag = 0;

	for (; *s; s++) {
		if (*s == '<')
			in_tag = 1;
		else if (*s == '>')
			in_tag = 0;
		else if (in_tag && strncasecmp(s, needle, n) == 0)
			return 1;
	}
	return 0;
}

/* An attribute named on... inside a tag: " onerror=" and the like. */
static int has_handler(const char *s)
{
	int in_tag = 0;

	for (; *s; s++) {
		if (*s == '<')
			in_tag = 1;
		else if (*s == '>')
			in_tag = 0;
		else if (in_tag && isspace((unsigned char)s[0]) &&
		         tolower((unsigned char)s[1]) == 'o' &&
		         tolower((unsigned char)s[2]) == 'n') {
			const char *p = s + 3;

			while (isalpha((unsigned char)*p))
				p++;
			if (p > s + 3 && *p == '=')
				return 1;
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_buf out;
	struct qm_error e;

	for (int remote = 0; remote < 2; remote++) {
		qm_buf_init(&out, 4u << 20);
		if (qm_web_html_sanitize((const char *)data, size, remote, &out,
		                         &e) == QM_OK &&
		    out.data) {
			const char *s = (const char *)out.data;

			if (has(s, "<script") || tag_has(s, "javascript:") ||
			    has(s, "<iframe") || has_handler(s))
				__builtin_trap();
		}
		qm_buf_free(&out);
	}
	return 0;
}
