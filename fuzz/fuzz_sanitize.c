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

/*
 * Walks the attributes of every tag in the sanitiser's output (which quotes
 * every value with '"'): an attribute named on... or a URL attribute whose
 * value starts with javascript: is a failure. Text inside quoted values is
 * data, not markup, and is not looked at.
 */
static int bad_attribute(const char *s)
{
	while ((s = strchr(s, '<')) != NULL) {
		s++;
		while (*s && *s != '>' && !isspace((unsigned char)*s))
			s++; /* tag name */
		for (;;) {
			char name[32];
			size_t n = 0;
			const char *v = NULL;
			size_t vlen = 0;

			while (isspace((unsigned char)*s))
				s++;
			if (!*s || *s == '>')
				break;
			while (*s && *s != '=' && *s != '>' &&
			       !isspace((unsigned char)*s)) {
				if (n + 1 < sizeof(name))
					name[n++] =
					    (char)tolower((unsigned char)*s);
				s++;
			}
			name[n] = '\0';
			if (*s == '=') {
				s++;
				if (*s == '"') {
					v = ++s;
					while (*s && *s != '"')
						s++;
					vlen = (size_t)(s - v);
					if (*s)
						s++;
				} else {
					v = s;
					while (*s && *s != '>' &&
					       !isspace((unsigned char)*s))
						s++;
					vlen = (size_t)(s - v);
				}
			}
			if (n > 2 && name[0] == 'o' && name[1] == 'n')
				return 1;
			if (v &&
			    (!strcmp(name, "href") || !strcmp(name, "src") ||
			     !strcmp(name, "action") ||
			     !strcmp(name, "formaction"))) {
				while (vlen && isspace((unsigned char)*v)) {
					v++;
					vlen--;
				}
				if (vlen >= 11 &&
				    strncasecmp(v, "javascript:", 11) == 0)
					return 1;
			}
			if (n == 0 && !v)
				s++; /* a stray character: skip it */
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

			if (has(s, "<script") || has(s, "<iframe") ||
			    bad_attribute(s))
				__builtin_trap();
		}
		qm_buf_free(&out);
	}
	return 0;
}
