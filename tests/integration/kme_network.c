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
 *
 * Key relay: in the line, keys SAE_A1 gets from KME_A for SAE_D1 (and,
 * multicast, SAE_D2) at KME_D are the bytes KME_D gives them, once each,
 * and so are those multicast to SAE_B1 (a linked KME) and SAE_D2;
 * every hop's link paid the keys and a 32-byte MAC key; a KME that alters
 * what it relays (the test hook) is caught by the next one's tag (503
 * naming it, nothing kept); relayed keys wait through a restart of the
 * last KME; a middle KME killed and restarted delivers nothing twice. In
 * the ring, keys flow the other way round an eavesdropper's link and a
 * stopped KME.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
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
	/* (a link's pool may still be empty just after the start) */
	for (int t = 0; t < 75; t++) {
		json_t *r;

		assert_int_equal(kt_req(&n, 0, "operator", "/kme/v1/ctl/routes",
		                        NULL, &j),
		                 200);
		r = json_array_get(json_object_get(j, "routes"), 2);
		if (json_integer_value(json_object_get(r, "bottleneck_bytes")) >
		    0)
			break;
		json_decref(j);
		j = NULL;
		usleep(200 * 1000);
	}
	assert_non_null(j);
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

/* enc_keys at KME kme for master -> slave (body may add more slaves):
 * the HTTP status; the keys in *keys (caller frees) when 200. */
static long enc(const struct kt_net *n, int kme, const char *master,
                const char *slave, const char *body, json_t **keys)
{
	char path[256], cert[64];
	json_t *j = NULL;
	long st;

	snprintf(path, sizeof(path), "/api/v1/keys/%s/enc_keys", slave);
	snprintf(cert, sizeof(cert), "sae/%s", master);
	st = kt_req(n, kme, cert, path, body ? body : "{\"number\":1}", &j);
	if (keys)
		*keys =
		    st == 200 ? json_incref(json_object_get(j, "keys")) : NULL;
	if (st != 200 && j) {
		char *t = json_dumps(j, JSON_COMPACT);

		fprintf(stderr, "enc_keys %s -> %s: %ld %s\n", master, slave,
		        st, t ? t : "?");
		free(t);
	}
	json_decref(j);
	return st;
}

/* enc as above, tried again for up to 15 s while the answer is 503 (a
 * pool on the way still filling on a loaded machine). */
static long enc_wait(const struct kt_net *n, int kme, const char *master,
                     const char *slave, const char *body, json_t **keys)
{
	long st = 0;

	for (int t = 0; t < 75; t++) {
		st = enc(n, kme, master, slave, body, keys);
		if (st != 503)
			break;
		usleep(200 * 1000);
	}
	return st;
}

/* dec_keys of key i of keys at KME kme as slave; the status, and 1 in
 * *same when the key is the one enc_keys gave. */
static long dec(const struct kt_net *n, int kme, const char *slave,
                const char *master, json_t *keys, size_t i, int *same)
{
	char path[256], cert[64], body[256];
	json_t *j = NULL, *want = json_array_get(keys, i);
	long st;

	snprintf(path, sizeof(path), "/api/v1/keys/%s/dec_keys", master);
	snprintf(cert, sizeof(cert), "sae/%s", slave);
	snprintf(body, sizeof(body), "{\"key_IDs\":[{\"key_ID\":\"%s\"}]}",
	         json_string_value(json_object_get(want, "key_ID")));
	st = kt_req(n, kme, cert, path, body, &j);
	if (same)
		*same =
		    st == 200 &&
		    strcmp(json_string_value(json_object_get(
		               json_array_get(json_object_get(j, "keys"), 0),
		               "key")),
		           json_string_value(json_object_get(want, "key"))) ==
		        0;
	json_decref(j);
	return st;
}

/* A number from KME kme's operator stats: links.PEER.field, or field. */
static long long stat_of(const struct kt_net *n, int kme, const char *peer,
                         const char *field)
{
	json_t *j = NULL, *o;
	long long v = -1;

	if (kt_req(n, kme, "operator", "/kme/v1/ctl/stats", NULL, &j) == 200) {
		o = peer ? json_object_get(json_object_get(j, "links"), peer)
		         : j;
		if (json_is_integer(json_object_get(o, field)))
			v = json_integer_value(json_object_get(o, field));
	}
	json_decref(j);
	return v;
}

static void test_relay_line(void **state)
{
	struct kt_net n;
	char got[2048];
	json_t *keys = NULL, *j = NULL, *ext;
	int same = 0;
	long long before;

	(void)state;
	assert_int_equal(kt_net_start_topo(&n, "kme-relay", "line:4", 2, EXTRA),
	                 0);
	if (!wait_route(&n, 0, "KME_D", "KME_A>KME_B>KME_C>KME_D", 15000, got,
	                sizeof(got)))
		fail_msg("route A -> D: %s", got);
	/* status for a slave three links away: the route and who sees keys;
	 * its stored_key_count is the emptiest pool on the way, which a
	 * loaded machine may still be filling for a few seconds */
	for (int t = 0; t < 75; t++) {
		json_decref(j);
		j = NULL;
		assert_int_equal(kt_req(&n, 0, "sae/SAE_A1",
		                        "/api/v1/keys/SAE_D1/status", NULL, &j),
		                 200);
		if (json_integer_value(json_object_get(j, "stored_key_count")) >
		    0)
			break;
		usleep(200 * 1000);
	}
	ext = json_object_get(j, "status_extension");
	assert_string_equal(
	    json_string_value(json_object_get(j, "target_KME_ID")), "KME_D");
	assert_int_equal(json_integer_value(json_object_get(ext, "hops")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(ext, "trusted_nodes")), 2);
	assert_true(json_integer_value(json_object_get(j, "stored_key_count")) >
	            0);
	json_decref(j);

	/* three keys for SAE_D1 and SAE_D2: each gets the same bytes once */
	assert_int_equal(enc_wait(&n, 0, "SAE_A1", "SAE_D1",
	                          "{\"number\":3,\"size\":256,"
	                          "\"additional_slave_SAE_IDs\":[\"SAE_D2\"]}",
	                          &keys),
	                 200);
	assert_int_equal(json_array_size(keys), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(dec(&n, 3, "SAE_D1", "SAE_A1", keys, i, &same),
		                 200);
		assert_true(same);
		assert_int_equal(dec(&n, 3, "SAE_D2", "SAE_A1", keys, i, &same),
		                 200);
		assert_true(same);
		assert_int_equal(dec(&n, 3, "SAE_D1", "SAE_A1", keys, i, NULL),
		                 400);
	}
	/* every hop paid 3 x 32 bytes of key and a 32-byte MAC key, on
	 * both ends of its link */
	assert_int_equal(stat_of(&n, 0, "KME_B", "relay_bytes"), 128);
	assert_int_equal(stat_of(&n, 1, "KME_A", "relay_bytes"), 128);
	assert_int_equal(stat_of(&n, 1, "KME_C", "relay_bytes"), 128);
	assert_int_equal(stat_of(&n, 2, "KME_D", "relay_bytes"), 128);
	assert_int_equal(stat_of(&n, 3, "KME_C", "relay_bytes"), 128);
	assert_int_equal(stat_of(&n, 3, NULL, "relayed_keys_waiting"), 0);
	json_decref(keys);

	/* multicast to slaves at two KMEs, one linked, one not: each gets
	 * the same key at its own KME */
	assert_int_equal(enc_wait(&n, 0, "SAE_A1", "SAE_B1",
	                          "{\"number\":1,"
	                          "\"additional_slave_SAE_IDs\":[\"SAE_D2\"]}",
	                          &keys),
	                 200);
	assert_int_equal(dec(&n, 1, "SAE_B1", "SAE_A1", keys, 0, &same), 200);
	assert_true(same);
	assert_int_equal(dec(&n, 3, "SAE_D1", "SAE_A1", keys, 0, NULL), 401);
	assert_int_equal(dec(&n, 3, "SAE_D2", "SAE_A1", keys, 0, &same), 200);
	assert_true(same);
	json_decref(keys);

	/* another master's keys, another slave: refused */
	assert_int_equal(enc_wait(&n, 0, "SAE_A1", "SAE_D1", NULL, &keys), 200);
	assert_int_equal(dec(&n, 3, "SAE_D1", "SAE_A2", keys, 0, NULL), 401);
	assert_int_equal(dec(&n, 3, "SAE_D2", "SAE_A1", keys, 0, NULL), 401);
	assert_int_equal(dec(&n, 3, "SAE_D1", "SAE_A1", keys, 0, &same), 200);
	assert_true(same);
	json_decref(keys);

	/* a KME that alters what it relays is caught by the next one */
	assert_int_equal(kt_req(&n, 1, "operator", "/kme/v1/ctl/relay-tamper",
	                        "{\"tamper\":true}", NULL),
	                 200);
	before = stat_of(&n, 3, NULL, "relayed_keys_received");
	{
		const char *d = NULL;

		/* (a pool on the way may still be filling: then again) */
		j = NULL;
		for (int t = 0; t < 75; t++) {
			json_decref(j);
			assert_int_equal(
			    kt_req(&n, 0, "sae/SAE_A1",
			           "/api/v1/keys/SAE_D1/enc_keys?number=1",
			           NULL, &j),
			    503);
			d = json_string_value(json_object_get(
			    json_array_get(json_object_get(j, "details"), 0),
			    "message"));
			if (!d || !strstr(d, "refilling"))
				break;
			usleep(200 * 1000);
		}
		if (!d || !strstr(d, "integrity") || !strstr(d, "KME_C") ||
		    !strstr(d, "KME_B"))
			fail_msg("tampered relay: %s", d ? d : "(no details)");
	}
	json_decref(j);
	assert_int_equal(stat_of(&n, 2, NULL, "relays_refused"), 1);
	assert_int_equal(stat_of(&n, 3, NULL, "relayed_keys_received"), before);
	assert_int_equal(kt_req(&n, 1, "operator", "/kme/v1/ctl/relay-tamper",
	                        "{\"tamper\":false}", NULL),
	                 200);

	/* relayed keys wait through a restart of the last KME */
	assert_int_equal(enc_wait(&n, 0, "SAE_A1", "SAE_D1", NULL, &keys), 200);
	assert_int_equal(kt_kme_stop(&n, 3), 0);
	assert_int_equal(kt_kme_start(&n, 3), 0);
	assert_int_equal(dec(&n, 3, "SAE_D1", "SAE_A1", keys, 0, &same), 200);
	assert_true(same);
	json_decref(keys);

	/* a middle KME killed: no key while it is gone, none twice after */
	if (!wait_route(&n, 0, "KME_D", "KME_A>KME_B>KME_C>KME_D", 15000, got,
	                sizeof(got)))
		fail_msg("route A -> D after D restarted: %s", got);
	before = stat_of(&n, 3, NULL, "relayed_keys_received");
	assert_int_equal(kill(n.pids[2], SIGKILL), 0);
	qmt_stop(n.pids[2]);
	n.pids[2] = 0;
	assert_int_equal(enc(&n, 0, "SAE_A1", "SAE_D1", NULL, NULL), 503);
	assert_int_equal(kt_kme_start(&n, 2), 0);
	if (!wait_route(&n, 0, "KME_D", "KME_A>KME_B>KME_C>KME_D", 20000, got,
	                sizeof(got)))
		fail_msg("route A -> D after C restarted: %s", got);
	assert_int_equal(
	    enc_wait(&n, 0, "SAE_A1", "SAE_D1", "{\"number\":2}", &keys), 200);
	assert_int_equal(stat_of(&n, 3, NULL, "relayed_keys_received"),
	                 before + 2);
	assert_int_equal(stat_of(&n, 3, NULL, "relayed_keys_waiting"), 2);
	json_decref(keys);
	assert_int_equal(kt_net_stop(&n), 0);
}

static void test_relay_ring(void **state)
{
	struct kt_net n;
	char got[2048];
	json_t *keys = NULL;
	int same = 0;

	(void)state;
	assert_int_equal(kt_net_start_topo(&n, "kme-rring", "ring:5", 1, EXTRA),
	                 0);
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_B>KME_C", 15000, got,
	                sizeof(got)))
		fail_msg("route A -> C: %s", got);
	assert_int_equal(enc_wait(&n, 0, "SAE_A", "SAE_C", NULL, &keys), 200);
	assert_int_equal(dec(&n, 2, "SAE_C", "SAE_A", keys, 0, &same), 200);
	assert_true(same);
	json_decref(keys);
	assert_int_equal(stat_of(&n, 4, "KME_A", "relay_bytes"), 0);
	/* an eavesdropper on B-C: the keys go round the other way */
	assert_int_equal(kt_req(&n, 1, "operator", "/kme/v1/ctl/eve",
	                        "{\"eavesdropper\":1,\"peer\":\"KME_C\"}",
	                        NULL),
	                 200);
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_E>KME_D>KME_C", 10000, got,
	                sizeof(got)))
		fail_msg("route A -> C with eve on B-C: %s", got);
	{
		long long bc = stat_of(&n, 1, "KME_C", "relay_bytes");

		assert_int_equal(enc_wait(&n, 0, "SAE_A", "SAE_C", NULL, &keys),
		                 200);
		assert_int_equal(dec(&n, 2, "SAE_C", "SAE_A", keys, 0, &same),
		                 200);
		assert_true(same);
		json_decref(keys);
		/* nothing of B-C, the other way paid */
		assert_int_equal(stat_of(&n, 1, "KME_C", "relay_bytes"), bc);
		assert_int_equal(stat_of(&n, 4, "KME_A", "relay_bytes"), 64);
	}
	/* B stops too: still the other way */
	kt_kme_stop(&n, 1);
	assert_int_equal(enc_wait(&n, 0, "SAE_A", "SAE_C", NULL, &keys), 200);
	assert_int_equal(dec(&n, 2, "SAE_C", "SAE_A", keys, 0, &same), 200);
	assert_true(same);
	json_decref(keys);
	assert_int_equal(kt_net_stop(&n), 0);
}

/* A field of KME kme's reservoir for relays to peer (links.PEER.
 * relay_reservoir.field): a number, or -1 when it has none. */
static long long rsv_of(const struct kt_net *n, int kme, const char *peer,
                        const char *field, char *id, size_t idlen)
{
	json_t *j = NULL, *o;
	long long v = -1;

	if (id)
		id[0] = '\0';
	if (kt_req(n, kme, "operator", "/kme/v1/ctl/stats", NULL, &j) == 200) {
		o = json_object_get(
		    json_object_get(json_object_get(j, "links"), peer),
		    "relay_reservoir");
		if (json_is_integer(json_object_get(o, field)))
			v = json_integer_value(json_object_get(o, field));
		if (id && json_string_value(json_object_get(o, "id")))
			snprintf(id, idlen, "%s",
			         json_string_value(json_object_get(o, "id")));
	}
	json_decref(j);
	return v;
}

/* Waits up to ms for stat_of(...) == want; 1 when it came. */
static int wait_stat(const struct kt_net *n, int kme, const char *peer,
                     const char *field, long long want, int ms)
{
	for (int t = 0; t < ms / 100; t++) {
		if (stat_of(n, kme, peer, field) == want)
			return 1;
		usleep(100 * 1000);
	}
	return stat_of(n, kme, peer, field) == want;
}

/* KME_A (its own certificate) sends KME_B a relay for SAE_C that names
 * bytes pad_id+at of a reservoir; the details of B's answer in *why. */
static long forged_relay(const struct kt_net *n, const char *pad_id,
                         long long at, char *why, size_t whylen)
{
	char body[1024], cert[64];
	json_t *j = NULL;
	long st;

	snprintf(body, sizeof(body),
	         "{\"hop_id\":\"5f0c6b4e-2d7a-4c1e-9a55-0123456789ab\","
	         "\"route\":[\"KME_A\",\"KME_B\",\"KME_C\"],\"hop\":1,"
	         "\"pad\":\"%s\",\"at\":%lld,\"items\":[{\"master\":"
	         "\"SAE_A\",\"slaves\":[\"SAE_C\"],\"keys\":[{\"key_ID\":"
	         "\"6a1f2e3d-4c5b-4a69-8877-665544332211\",\"size\":256}]}],"
	         "\"ct\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	         "\"tag\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}",
	         pad_id, at);
	snprintf(cert, sizeof(cert), "KME_A/kme");
	st = kt_req(n, 1, cert, "/kme/v1/peer/relay", body, &j);
	snprintf(
	    why, whylen, "%s",
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(j, "details"), 0), "message"))
	        ? json_string_value(json_object_get(
	              json_array_get(json_object_get(j, "details"), 0),
	              "message"))
	        : "");
	json_decref(j);
	return st;
}

/*
 * Pad reservoirs: one announcement serves many relays; a byte of one is
 * never used twice, by a relay that names it again or across a restart of
 * either end (the sender starts a new reservoir past the old one, the
 * receiver gives up the old one and wipes its unused bytes).
 */
static void test_relay_reservoir(void **state)
{
	struct kt_net n;
	char got[2048], id0[64], id1[64], id2[64], why[512];
	long long off0, len0, off1, len1, off2;
	json_t *keys = NULL;
	int same = 0;

	(void)state;
	assert_int_equal(kt_net_start_topo(&n, "kme-rsv", "line:3", 1, EXTRA),
	                 0);
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_B>KME_C", 15000, got,
	                sizeof(got)))
		fail_msg("route A -> C: %s", got);
	/* two relays, one reservoir: 64 bytes each of 4096 (pool_bytes/16),
	 * announced once */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(enc_wait(&n, 0, "SAE_A", "SAE_C", NULL, &keys),
		                 200);
		assert_int_equal(dec(&n, 2, "SAE_C", "SAE_A", keys, 0, &same),
		                 200);
		assert_true(same);
		json_decref(keys);
	}
	off0 = rsv_of(&n, 0, "KME_B", "off", id0, sizeof(id0));
	len0 = rsv_of(&n, 0, "KME_B", "len", NULL, 0);
	assert_true(off0 >= 0);
	assert_int_equal(len0, 4096);
	assert_int_equal(rsv_of(&n, 0, "KME_B", "used", NULL, 0), 128);
	assert_int_equal(stat_of(&n, 0, "KME_B", "relay_reserved_bytes"), 4096);
	assert_int_equal(stat_of(&n, 0, "KME_B", "relay_bytes"), 128);
	assert_int_equal(stat_of(&n, 1, "KME_A", "relay_bytes"), 128);
	assert_int_equal(stat_of(&n, 1, "KME_A", "peer_reservoirs"), 1);
	assert_int_equal(stat_of(&n, 1, "KME_A", "peer_reservoir_bytes_left"),
	                 4096 - 128);
	/* bytes already used, named again: refused before any tag check */
	assert_int_equal(forged_relay(&n, id0, 0, why, sizeof(why)), 503);
	if (!strstr(why, "has no pad"))
		fail_msg("a used pad named again: %s", why);
	assert_int_equal(forged_relay(&n, id0, 64, why, sizeof(why)), 503);
	if (!strstr(why, "has no pad"))
		fail_msg("a used pad named again: %s", why);
	assert_int_equal(stat_of(&n, 1, "KME_A", "peer_reservoir_bytes_left"),
	                 4096 - 128);

	/* the sender restarts: the receiver gives the reservoir up, and the
	 * sender's next one starts past it */
	assert_int_equal(kt_kme_stop(&n, 0), 0);
	assert_int_equal(kt_kme_start(&n, 0), 0);
	if (!wait_stat(&n, 1, "KME_A", "peer_reservoirs", 0, 15000))
		fail_msg("KME_B kept KME_A's reservoir after KME_A restarted");
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_B>KME_C", 20000, got,
	                sizeof(got)))
		fail_msg("route A -> C after A restarted: %s", got);
	assert_int_equal(enc_wait(&n, 0, "SAE_A", "SAE_C", NULL, &keys), 200);
	assert_int_equal(dec(&n, 2, "SAE_C", "SAE_A", keys, 0, &same), 200);
	assert_true(same);
	json_decref(keys);
	off1 = rsv_of(&n, 0, "KME_B", "off", id1, sizeof(id1));
	len1 = rsv_of(&n, 0, "KME_B", "len", NULL, 0);
	assert_true(off1 >= off0 + len0);
	assert_string_not_equal(id1, id0);
	assert_int_equal(forged_relay(&n, id0, 128, why, sizeof(why)), 503);
	if (!strstr(why, "has no pad"))
		fail_msg("a reservoir of before the restart: %s", why);

	/* the receiver restarts: the sender gives its reservoir up and the
	 * next relay goes through at once on a new one past it */
	assert_int_equal(kt_kme_stop(&n, 1), 0);
	assert_int_equal(kt_kme_start(&n, 1), 0);
	for (int t = 0; t < 150 && rsv_of(&n, 0, "KME_B", "off", NULL, 0) >= 0;
	     t++)
		usleep(100 * 1000);
	assert_int_equal(rsv_of(&n, 0, "KME_B", "off", NULL, 0), -1);
	if (!wait_route(&n, 0, "KME_C", "KME_A>KME_B>KME_C", 20000, got,
	                sizeof(got)))
		fail_msg("route A -> C after B restarted: %s", got);
	assert_int_equal(enc_wait(&n, 0, "SAE_A", "SAE_C", NULL, &keys), 200);
	assert_int_equal(dec(&n, 2, "SAE_C", "SAE_A", keys, 0, &same), 200);
	assert_true(same);
	json_decref(keys);
	off2 = rsv_of(&n, 0, "KME_B", "off", id2, sizeof(id2));
	assert_true(off2 >= off1 + len1);
	assert_int_equal(forged_relay(&n, id1, 64, why, sizeof(why)), 503);
	if (!strstr(why, "has no pad"))
		fail_msg("a reservoir of before the receiver restarted: %s",
		         why);
	assert_int_equal(stat_of(&n, 1, "KME_A", "peer_reservoirs"), 1);
	assert_int_equal(kt_net_stop(&n), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line),
	    cmocka_unit_test(test_ring),
	    cmocka_unit_test(test_relay_line),
	    cmocka_unit_test(test_relay_ring),
	    cmocka_unit_test(test_relay_reservoir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
