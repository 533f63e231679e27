/* SPDX-License-Identifier: MIT */
/*
 * A bracket-depth pre-scan for JSON text, run before a JSON library parses
 * it: a hostile body of a few kilobytes of "[[[[..." would otherwise make
 * the parser recurse (jansson stops only at 2048 levels). Strings are
 * skipped with their escapes, so brackets inside them do not count. The
 * scan does not validate JSON: that is the parser's job afterwards.
 */
#include "core.h"

enum qm_err qm_json_depth_check(const char *p, size_t n, size_t max_depth,
                                struct qm_error *err)
{
	size_t depth = 0;
	int in_str = 0;

	if (!p)
		return QM_OK;
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (in_str) {
			if (ch == '\\')
				i++; /* the escaped character cannot end it */
			else if (ch == '"')
				in_str = 0;
			continue;
		}
		if (ch == '"') {
			in_str = 1;
		} else if (ch == '[' || ch == '{') {
			if (++depth > max_depth)
				return qm_error_set(
				    err, QM_ERR_TOOBIG,
				    "the JSON text nests deeper than the limit "
				    "of %zu levels",
				    max_depth);
		} else if ((ch == ']' || ch == '}') && depth > 0) {
			depth--;
		}
	}
	return QM_OK;
}
