/* SPDX-License-Identifier: MIT */
/* Failed operations of a benchmark by kind (fails.h). */
#include "fails.h"

#include <stdio.h>
#include <string.h>

void bench_fail_add(struct bench_fails *f, const char *kind)
{
	f->total++;
	for (int i = 0; i < f->nk; i++)
		if (strcmp(f->kind[i], kind) == 0) {
			f->n[i]++;
			return;
		}
	if (f->nk == BENCH_FAIL_KINDS) {
		f->other++;
		return;
	}
	snprintf(f->kind[f->nk], sizeof(f->kind[0]), "%s", kind);
	for (char *p = f->kind[f->nk]; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 32)
			*p = '\''; /* it goes into a JSON string as is */
	f->n[f->nk++] = 1;
}

void bench_fails_lines(const struct bench_fails *f)
{
	for (int i = 0; i < f->nk; i++)
		printf("  failed: %d %s\n", f->n[i], f->kind[i]);
	if (f->other)
		printf("  failed: %d of other kinds\n", f->other);
}

static double rate(int n, long ops)
{
	return ops ? (double)n / (double)ops : 0.0;
}

void bench_fails_json(const struct bench_fails *f, const char *ops_name,
                      long ops)
{
	printf("\"%s\":%ld,\"errors\":%d,\"error_rate\":%.6f,"
	       "\"error_kinds\":[",
	       ops_name, ops, f->total, rate(f->total, ops));
	for (int i = 0; i < f->nk; i++)
		printf("%s{\"kind\":\"%s\",\"count\":%d,\"rate\":%.6f}",
		       i ? "," : "", f->kind[i], f->n[i], rate(f->n[i], ops));
	if (f->other)
		printf("%s{\"kind\":\"other kinds\",\"count\":%d,"
		       "\"rate\":%.6f}",
		       f->nk ? "," : "", f->other, rate(f->other, ops));
	printf("]");
}
