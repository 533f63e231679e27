/* SPDX-License-Identifier: MIT */
/*
 * Failed operations of a benchmark, counted by kind without stopping it
 * (bench/README.md: a benchmark counts its failures). The first
 * BENCH_FAIL_KINDS distinct kinds are kept by name, the rest counted as
 * other kinds.
 */
#ifndef QM_BENCH_FAILS_H
#define QM_BENCH_FAILS_H

#define BENCH_FAIL_KINDS 8

struct bench_fails {
	char kind[BENCH_FAIL_KINDS][320];
	int n[BENCH_FAIL_KINDS];
	int nk, total, other;
};

/* Counts one failure of kind (made safe for a JSON string). */
void bench_fail_add(struct bench_fails *f, const char *kind);
/* "  failed: N kind" lines for the human-readable part. */
void bench_fails_lines(const struct bench_fails *f);
/* The JSON members "<ops_name>":ops, "errors", "error_rate" and
 * "error_kinds" (each kind with its count and rate), with no leading or
 * trailing comma. */
void bench_fails_json(const struct bench_fails *f, const char *ops_name,
                      long ops);

#endif
