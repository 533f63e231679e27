/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: configuration files (qm_conf_parse), then every lookup the
 * programs make: count, keys, values, and bounded integers.
 */
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_conf *c = NULL;
	struct qm_error e;

	if (qm_conf_parse((const char *)data, size, &c, &e) != QM_OK)
		return 0;
	for (size_t i = 0; i < qm_conf_count(c); i++) {
		const char *k = qm_conf_key(c, i);
		const char *v = qm_conf_value(c, i);
		long long n = 0;

		if (!k || !v)
			__builtin_trap();
		if (qm_conf_get(c, k) == NULL)
			__builtin_trap(); /* every listed key must be found */
		/* any value: the target looks for a crash, not a verdict */
		QM_IGNORE(qm_conf_get_int(c, k, -1000000, 1000000, &n, &e));
	}
	(void)qm_conf_get(c, "account.port");
	qm_conf_free(&c);
	if (c)
		__builtin_trap();
	return 0;
}
