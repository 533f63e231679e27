/* SPDX-License-Identifier: MIT */
/*
 * qkme as a network (issue 19, first part), with real qkme processes:
 * KMEs linked as a line or a ring (qkme testnet --topology) learn the
 * links beyond their own from the adverts their peers pass on, and route
 * across them: in a line of four the first KME reaches the last through
 * the two in between; in a ring of five a link whose QBER alarm an
 * eavesdropper raised is avoided and used again once it is quiet, and a
 * KME that stops is routed around, the link to it named in the reason
 * when nothing else is left. The advert endpoint takes adverts from peer
 * KMEs only, and refuses malformed ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kme_net.h"

/* Small pools and blocks: the links fill in a second or two. */
#define EXTRA "pool_bytes = 65536\nbb84.pulses = 65536"

/* The route from KME kme to KME "to" as "KME_A>KME_B>...", or the error
 * ("!" and the message), or "" when the request failed. */
static void route_of(const struct kt_net *n, int kme, const char *to, char *out,
                     size_t outlen)
{
	json_t *j = NULL, *r;
	size_t i;

	out[0] = '\0';
	if (kt_req(n, kme, "operator", "/kme/v1/ctl/routes", NULL, &j) != 200)
		goto out;
	json_array_foreach(json_object_get(j, "routes"), i, r)
	{
		json_t *ids, *id;
		size_t k, off = 0;

		if (strcmp(json_string_value(json_object_get(r, "to")), to))
			continue;
		ids = json_object_get(r, "route");
		if (!ids) {
			snprintf(
			    out, outlen, "!%s",
			    json_string_value(json_object_get(r, "error")));
			break;
		}
		json_array_foreach(ids, k, id) off +=
		    (size_t)snprintf(out + off, outlen - off, "%s%s",
		                     k ? ">" : "", json_string_value(id));
	}
out:
	json_decref(j);
}

/* Waits up to ms for the route kme -> to to be want (or, want starting
 * with "!", to be an error holding the rest); returns the last seen in
 * got, and 1 when it came. */
static int wait_route(const struct kt_net *n, int kme, const char *to,
                      const char *want, int ms, char *got, size_t gotlen)
{
	for (int t = 0; t <= ms; t += 200) {
		route_of(n, kme, to, got, gotlen);
		if (want[0] == '!' ? got[0] == '!' && strstr(got, want + 1)
		                   : strcmp(got, want) == 0)
			return 1;
		usleep(200 * 1000);
	}
	return 0;
}

static void test_line(void **state)
{
	struct kt_net n;
	char got[2048];
	json_t *j = NULL;

	(void)state;
	assert_int_equal(kt_net_start_topo(&n, "kme-line", "line:4", 1, EXTRA),
	                 0);
	/* A reaches D through B and C, and D reaches A back */
	if (!wait_route(&n, 0, "KME_D", "KME_A>KME_B>KME_C>KME_D", 15000, got,
	                sizeof(got)))
		fail_msg("route A -> D: %s", got);
	if (!wait_route(&n, 3, "KME_A", "KME_D>KME_C>KME_B>KME_A", 5000, got,
	                sizeof(got)))
		fail_msg("route D -> A: %s", got);
	/* A has one link of its own (to B); it knows all three */
	assert_int_equal(
	    kt_req(&n, 0, "operator", "/kme/v1/ctl/stats", NULL, &j), 200);
	assert_int_equal(json_object_size(json_object_get(j, "links")), 1);
	json_decref(j);
	assert_int_equal(
	    kt_req(&n, 0, "operator", "/kme/v1/ctl/routes", NULL, &j), 200);
	assert_int_equal(json_array_size(json_object_get(j, "links")), 3);
	{
		json_t *r = json_array_get(json_object_get(j, "routes"), 2);

		assert_string_equal(json_string_value(json_object_get(r, "to")),
		                    "KME_D");
		assert_int_equal(json_integer_value(json_object_get(r, "hops")),
		                 3);
		assert_true(json_integer_value(
		                json_object_get(r, "bottleneck_bytes")) > 0);
		assert_true(json_real_value(
		                json_object_get(r, "bottleneck_rate_bps")) > 0);
	}
	json_decref(j);
	/* routes are for operators: an SAE is refused */
	assert_int_equal(
	    kt_req(&n, 0, "sae/SAE_A", "/kme/v1/ctl/routes", NULL, NULL), 401);
	assert_int_equal(kt_net_stop(&n), 0);
}

static void test_ring(void **state)
{
	struct kt_net n;
	char got[2048];
	json_t *j = NULL;

	(void)state;
	assert_int_equal(kt_net_start_topo(&n, "kme-ring", "ring:5", 1, EXTRA),
	                 0);
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_B>KME_C", 15000, got,
	                sizeof(got)))
		fail_msg("route A -> C: %s", got);
	/* an eavesdropper on B-C: its alarm is announced and routed around */
	assert_int_equal(kt_req(&n, 1, "operator", "/kme/v1/ctl/eve",
	                        "{\"eavesdropper\":1,\"peer\":\"KME_C\"}",
	                        NULL),
	                 200);
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_E>KME_D>KME_C", 10000, got,
	                sizeof(got)))
		fail_msg("route A -> C with eve on B-C: %s", got);
	/* the other links of B are untouched */
	route_of(&n, 0, "KME_B", got, sizeof(got));
	assert_string_equal(got, "KME_A>KME_B");
	/* quiet again: the short way back */
	assert_int_equal(kt_req(&n, 1, "operator", "/kme/v1/ctl/eve",
	                        "{\"eavesdropper\":0,\"peer\":\"KME_C\"}",
	                        NULL),
	                 200);
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_B>KME_C", 15000, got,
	                sizeof(got)))
		fail_msg("route A -> C once quiet: %s", got);
	/* B stops: C is reached the other way, and B not at all */
	kt_kme_stop(&n, 1);
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_E>KME_D>KME_C", 10000, got,
	                sizeof(got)))
		fail_msg("route A -> C with B down: %s", got);
	if (!wait_route(&n, 0, "KME_B", "!KME_A-KME_B", 5000, got, sizeof(got)))
		fail_msg("route A -> B with B down: %s", got);
	/* adverts only from peer KMEs, and only well formed */
	assert_int_equal(kt_req(&n, 0, "sae/SAE_A", "/kme/v1/peer/lsa",
	                        "{\"lsas\":[]}", NULL),
	                 401);
	assert_int_equal(kt_req(&n, 0, "KME_E/kme", "/kme/v1/peer/lsa",
	                        "{\"lsas\":[{\"origin\":\"KME_Z\",\"seq\":1,"
	                        "\"links\":[]}]}",
	                        &j),
	                 400);
	json_decref(j);
	assert_int_equal(kt_req(&n, 0, "KME_E/kme", "/kme/v1/peer/lsa",
	                        "{\"lsas\":[{\"origin\":\"KME_D\",\"seq\":1,"
	                        "\"links\":[{\"peer\":\"KME_Q\",\"up\":true,"
	                        "\"alarm\":false,\"avail\":5}]}]}",
	                        NULL),
	                 400);
	assert_int_equal(kt_req(&n, 0, "KME_E/kme", "/kme/v1/peer/lsa",
	                        "{\"lsas\":{}}", NULL),
	                 400);
	/* an old advert (seq 1) changes nothing */
	assert_int_equal(kt_req(&n, 0, "KME_E/kme", "/kme/v1/peer/lsa",
	                        "{\"lsas\":[{\"origin\":\"KME_D\",\"seq\":1,"
	                        "\"links\":[]}]}",
	                        &j),
	                 200);
	assert_int_equal(json_integer_value(json_object_get(j, "taken")), 0);
	json_decref(j);
	route_of(&n, 0, "KME_C", got, sizeof(got));
	assert_string_equal(got, "KME_A>KME_E>KME_D>KME_C");
	assert_int_equal(kt_net_stop(&n), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line),
	    cmocka_unit_test(test_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
