/* SPDX-License-Identifier: MIT */
/*
 * Roles in qkme are told apart by certificate CN (issue 12, item 7): the
 * KME-to-KME client accepts a peer only when its certificate's CN is the
 * configured peer KME ID, not merely a certificate from the network's CA
 * for the right host name. Here KME_B's server runs with SAE_B's
 * certificate (same CA, same host name 127.0.0.1, CN SAE_B), as whoever
 * holds an SAE certificate could: KME_A must refuse it, say why, and send
 * it no key material.
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

static struct kt_net net;

static int teardown(void **state)
{
	(void)state;
	return kt_net_stop(&net);
}

/* KME_B's certificate and key replaced by those of base (under dir). */
static void impersonate(const char *base)
{
	char src[700], dst[700];
	const char *ext[] = {"crt", "key"};

	for (int i = 0; i < 2; i++) {
		snprintf(src, sizeof(src), "%s/%s.%s", net.dir, base, ext[i]);
		snprintf(dst, sizeof(dst), "%s/KME_B/kme.%s", net.dir, ext[i]);
		assert_int_equal(qmt_rmtree(dst), 0);
		assert_int_equal(kt_copy_dir(src, dst), 0);
	}
}

/* The raw pools KME_B holds on its link with KME_A (operator view). */
static long long b_pool_bytes(void)
{
	json_t *j = NULL, *l;
	long long n;

	assert_int_equal(
	    kt_req(&net, 1, "operator", "/kme/v1/ctl/stats", NULL, &j), 200);
	l = json_object_get(json_object_get(j, "links"), "KME_A");
	assert_non_null(l);
	n = json_integer_value(json_object_get(l, "pool_bytes")) +
	    json_integer_value(json_object_get(l, "peer_pool_bytes"));
	json_decref(j);
	return n;
}

static void test_peer_cn_checked(void **state)
{
	json_t *j = NULL;
	int refused;

	(void)state;
	assert_int_equal(
	    kt_net_write(&net, "kmeroles", 2, 1, "bb84.pulses = 262144"), 0);
	/* an SAE certificate of the same CA, valid for 127.0.0.1 */
	impersonate("sae/SAE_B");
	assert_int_equal(kt_kme_start(&net, 0), 0);
	assert_int_equal(kt_kme_start(&net, 1), 0);
	/* KME_A refuses the server at KME_B's address and names the CN */
	refused = kt_wait_log(&net, 0, "names \"SAE_B\"", 30000);
	/* no key block reached the impostor (checked first: without the CN
	 * check the link fills its pools) */
	assert_int_equal(b_pool_bytes(), 0);
	assert_true(refused);
	assert_true(kt_log_has(&net, 0, "not the peer KME ID \"KME_B\""));
	/* and KME_A serves no key of a link whose peer it cannot confirm */
	assert_int_equal(kt_req(&net, 0, "sae/SAE_A",
	                        "/api/v1/keys/SAE_B/enc_keys", "{}", &j),
	                 503);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_peer_cn_checked, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
