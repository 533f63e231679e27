/* SPDX-License-Identifier: MIT */
/*
 * qkme's request body limit (issue 8): `max_body` in qkme.conf, 256 KiB by
 * default. A body one byte over the limit is answered 413 with an ETSI
 * Error body that names the setting; a body exactly at the limit gets past
 * the limit and is answered for what it asks (keys, or 503 when the pool
 * is empty), never 413. Two real qkme networks: the default and a lowered
 * limit of 4096 bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kme_net.h"

#define PATH "/api/v1/keys/SAE_B/enc_keys"

/* A valid Get key body of exactly n bytes: JSON padded with spaces. */
static char *body_of(size_t n)
{
	static const char json[] = "{\"number\":1,\"size\":256}";
	char *b = malloc(n + 1);

	assert_non_null(b);
	assert_true(n >= sizeof(json) - 1);
	memset(b, ' ', n);
	memcpy(b, json, sizeof(json) - 1);
	b[n] = '\0';
	return b;
}

/* The Error body's detail text, or "". */
static const char *detail(json_t *j)
{
	json_t *d = json_array_get(json_object_get(j, "details"), 0);
	const char *s = json_string_value(json_object_get(d, "message"));

	return s ? s : "";
}

static void check_limit(struct kt_net *net, size_t limit)
{
	json_t *j = NULL;
	char *b;
	long st;

	/* at the limit: not refused for its size */
	b = body_of(limit);
	st = kt_req(net, 0, "sae/SAE_A", PATH, b, &j);
	free(b);
	printf("  body of %zu bytes (the limit): HTTP %ld\n", limit, st);
	assert_true(st == 200 || st == 503);
	json_decref(j);
	j = NULL;
	/* one byte over: 413, and the reason names the setting */
	b = body_of(limit + 1);
	st = kt_req(net, 0, "sae/SAE_A", PATH, b, &j);
	free(b);
	printf("  body of %zu bytes: HTTP %ld, \"%s\"\n", limit + 1, st,
	       detail(j));
	assert_int_equal(st, 413);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "message")),
	                    "request body too large");
	assert_non_null(strstr(detail(j), "max_body"));
	json_decref(j);
	/* the KME still answers afterwards */
	j = NULL;
	st = kt_req(net, 0, "sae/SAE_A", "/api/v1/keys/SAE_B/status", NULL, &j);
	assert_int_equal(st, 200);
	json_decref(j);
}

static struct kt_net net;
static int started;

static int start_default(void **state)
{
	(void)state;
	int rc = kt_net_start(&net, "kmelimdef", 2, 1, "bb84.enabled = 0\n");

	if (rc) {
		/* cmocka skips the teardown of a failed setup */
		kt_net_stop(&net);
		return -1;
	}
	started = 1;
	return 0;
}

static int start_lowered(void **state)
{
	(void)state;
	int rc = kt_net_start(&net, "kmelimlow", 2, 1,
	                      "bb84.enabled = 0\nmax_body = 4096\n");

	if (rc) {
		/* cmocka skips the teardown of a failed setup */
		kt_net_stop(&net);
		return -1;
	}
	started = 1;
	return 0;
}

/* Always stops the KMEs, also after a failed assertion. */
static int stop(void **state)
{
	(void)state;
	if (!started)
		return 0;
	started = 0;
	return kt_net_stop(&net);
}

static void test_default_limit(void **state)
{
	(void)state;
	check_limit(&net, 256 * 1024);
}

/* A body nested deeper than 32 levels is refused before jansson parses
 * it (400, the depth named); 32 levels get past that check. */
static void test_json_depth(void **state)
{
	json_t *j = NULL;
	char b[512];
	size_t n = 0;
	long st;

	(void)state;
	if (!started)
		skip();
	for (int deep = 32; deep <= 33; deep++) {
		/* {"number":1,"size":256,"extension_optional":[[[...]]]} */
		n = (size_t)snprintf(b, sizeof(b), "{\"number\":1,\"size\":256,"
		                                   "\"extension_optional\":");
		for (int i = 1; i < deep; i++)
			b[n++] = '[';
		for (int i = 1; i < deep; i++)
			b[n++] = ']';
		b[n++] = '}';
		b[n] = '\0';
		st = kt_req(&net, 0, "sae/SAE_A", PATH, b, &j);
		printf("  body nested %d levels: HTTP %ld, \"%s\"\n", deep, st,
		       j ? detail(j) : "");
		if (deep == 33) {
			assert_int_equal(st, 400);
			assert_non_null(strstr(detail(j), "32"));
		} else {
			/* past the depth check: judged for what it says */
			assert_true(st != 400 ||
			            !strstr(detail(j), "nest"));
		}
		json_decref(j);
		j = NULL;
	}
}

static void test_lowered_limit(void **state)
{
	(void)state;
	check_limit(&net, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_default_limit, start_default,
	                                    stop),
	    cmocka_unit_test_setup_teardown(test_json_depth, start_default,
	                                    stop),
	    cmocka_unit_test_setup_teardown(test_lowered_limit, start_lowered,
	                                    stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
