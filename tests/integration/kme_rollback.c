/* SPDX-License-Identifier: MIT */
/*
 * qkme restored from an older copy of its state_dir (issue 12, item 6):
 * the restored KME must never hand out key bytes it already gave out (a
 * reused one-time pad). Each test copies a KME's state_dir while it runs,
 * takes more keys than any local lease covers, stops the KME, puts the
 * copy back, starts it and takes keys again: no byte range of the second
 * set occurs in the first (the bytes are compared, not the key IDs), and
 * the slave SAE still gets the same bytes as the master. Also: a KME
 * restored while its peer is down serves no key of that link until the
 * peer is back and has told it how far the pool was used; a KME killed
 * while the peer pushed it blocks catches up with the link.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "kme_net.h"

/* Keys taken after the copy: 4 requests of 512 keys of 32 bytes (64 KiB),
 * four times the local lease step of a 256 KiB pool and more than the
 * limit a peer confirms ahead of use. */
#define BATCHES   4
#define PER_BATCH 512
#define KEYBYTES  32
/* keys of KEYBYTES in a full pool of 262144 bytes (the setup's) */
#define FULL_POOL (262144 / KEYBYTES)

static struct kt_net net;

static int setup(void **state)
{
	(void)state;
	if (kt_net_start(&net, "kmerollback", 2, 1,
	                 "persist_interval_ms = 200\npool_bytes = 262144\n"
	                 "bb84.pulses = 262144"))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return kt_net_stop(&net);
}

static const char *sae(int kme)
{
	return kme == 0 ? "SAE_A" : "SAE_B";
}

/* Get key at kme for its SAE towards the other KME's SAE; the HTTP status. */
static long try_keys(int kme, int number, json_t **out)
{
	char path[200], cert[64], body[64];

	snprintf(path, sizeof(path), "/api/v1/keys/%s/enc_keys", sae(!kme));
	snprintf(cert, sizeof(cert), "sae/%s", sae(kme));
	snprintf(body, sizeof(body), "{\"number\":%d}", number);
	return kt_req(&net, kme, cert, path, body, out);
}

/* Whether a 503 answer says to come back later because the link is not
 * ready yet (the KMEs compare their pools after a restart, or the peer has
 * not confirmed this KME's use of the pool): an SAE asks again. */
static int not_ready(json_t *j)
{
	const char *d = json_string_value(json_object_get(
	    json_array_get(json_object_get(j, "details"), 0), "message"));

	return d && (strstr(d, "compares the pools") ||
	             strstr(d, "has not yet confirmed"));
}

/* try_keys as an SAE would ask: a 503 "not ready yet" (not_ready) is
 * asked again for up to 60 s; any other answer is returned. */
static long get_keys(int kme, int number, json_t **out)
{
	long st = 0;

	for (int waited = 0; waited <= 60000; waited += 100) {
		*out = NULL;
		st = try_keys(kme, number, out);
		if (st != 503 || !not_ready(*out))
			return st;
		json_decref(*out);
		*out = NULL;
		poll(NULL, 0, 100); /* the KMEs compare their pools meanwhile */
	}
	return st;
}

/* BATCHES containers of PER_BATCH keys each into a[]. */
static void take(int kme, json_t *a[BATCHES])
{
	for (int i = 0; i < BATCHES; i++) {
		long st;

		/* the pool refills between tests and after restarts: wait for
		 * it, with room for a request (after a restart the pool may
		 * have a hole, and a run too short before it is skipped) */
		assert_true(kt_wait_keys(&net, kme, sae(kme), sae(!kme),
		                         2 * PER_BATCH,
		                         60000) >= 2 * PER_BATCH);
		st = get_keys(kme, PER_BATCH, &a[i]);

		if (st != 200) {
			json_t *stats = NULL;
			char *text = json_dumps(a[i], 0), *s2;

			kt_req(&net, kme, "operator", "/kme/v1/ctl/stats", NULL,
			       &stats);
			s2 = json_dumps(stats, 0);
			fail_msg("KME_%c answered %ld to request %d: %s; its "
			         "links: %s",
			         'A' + kme, st, i, text ? text : "",
			         s2 ? s2 : "");
		}
	}
}

static void drop(json_t *a[BATCHES])
{
	for (int i = 0; i < BATCHES; i++)
		json_decref(a[i]);
}

/* The decoded bytes of every key of the containers, in order. */
static void key_bytes(json_t **a, size_t n, struct qm_buf *out)
{
	qm_buf_init(out, 1u << 26);
	for (size_t i = 0; i < n; i++) {
		json_t *k;
		size_t j;

		json_array_foreach(json_object_get(a[i], "keys"), j, k)
		{
			const char *b64 =
			    json_string_value(json_object_get(k, "key"));
			size_t before = out->len;

			assert_non_null(b64);
			assert_int_equal(
			    qm_b64_decode(b64, strlen(b64), out, NULL), QM_OK);
			assert_int_equal(out->len - before, KEYBYTES);
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The number of keys of b whose 32 bytes occur anywhere in the bytes of
 * a, at any byte position: a byte range handed out again, even shifted
 * against the key boundaries, contains whole keys of b once it is 64
 * bytes or longer.
 */
static size_t reused_n(json_t **a, size_t na, json_t **b, size_t nb)
{
	struct qm_buf x, y;
	uint64_t *idx;
	size_t n, hits = 0;

	key_bytes(a, na, &x);
	key_bytes(b, nb, &y);
	assert_true(x.len >= 8);
	n = x.len - 7;
	idx = calloc(n, sizeof(*idx));
	assert_non_null(idx);
	/* every 8-byte window of a, sorted; a hit is confirmed over the
	 * whole key with memmem */
	for (size_t i = 0; i < n; i++)
		memcpy(&idx[i], x.data + i, 8);
	qsort(idx, n, sizeof(*idx), cmp_u64);
	for (size_t k = 0; k + KEYBYTES <= y.len; k += KEYBYTES) {
		uint64_t w;

		memcpy(&w, y.data + k, 8);
		if (bsearch(&w, idx, n, sizeof(*idx), cmp_u64) &&
		    memmem(x.data, x.len, y.data + k, KEYBYTES))
			hits++;
	}
	free(idx);
	qm_buf_free(&x);
	qm_buf_free(&y);
	return hits;
}

static size_t reused(json_t *a[BATCHES], json_t *b[BATCHES])
{
	return reused_n(a, BATCHES, b, BATCHES);
}

/* dec_keys at the slave's KME returns the bytes the master got. */
static void slave_gets_same(int master_kme, json_t *c)
{
	json_t *b = json_object(), *ids = json_array(), *k, *d = NULL;
	char path[200], cert[64], *body;
	size_t i;
	long st;

	json_array_foreach(json_object_get(c, "keys"), i, k)
	    json_array_append_new(ids, json_pack("{s:O}", "key_ID",
	                                         json_object_get(k, "key_ID")));
	json_object_set_new(b, "key_IDs", ids);
	body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	snprintf(path, sizeof(path), "/api/v1/keys/%s/dec_keys",
	         sae(master_kme));
	snprintf(cert, sizeof(cert), "sae/%s", sae(!master_kme));
	/* the key IDs travel to the slave's KME after the master has its
	 * keys (docs/KME.md "Get key"): on a loaded machine the slave may
	 * ask first, and is answered 400 until they arrive (a 10 s wait
	 * ran out once after both sides were restored, under a loaded make
	 * check; whether they came later was not seen) */
	for (int waited = 0;; waited += 100) {
		st = kt_req(&net, !master_kme, cert, path, body, &d);
		if (st != 400 || waited >= 30000)
			break; /* the last answer is kept for the message */
		json_decref(d);
		d = NULL;
		poll(NULL, 0, 100); /* the reservation is on its way */
	}
	if (st != 200) {
		char *text = json_dumps(d, 0);

		fail_msg("KME_%c answered %ld to the slave: %s",
		         'A' + !master_kme, st, text ? text : "");
	}
	assert_true(
	    json_equal(json_object_get(d, "keys"), json_object_get(c, "keys")));
	json_decref(d);
	free(body);
}

static void state_paths(int kme, char *st, size_t stlen, char *bak,
                        size_t baklen)
{
	snprintf(st, stlen, "%s/KME_%c/state", net.dir, 'A' + kme);
	snprintf(bak, baklen, "%s/KME_%c/state.bak", net.dir, 'A' + kme);
}

/* Puts KME kme's copy back in place of its state_dir (KME stopped). */
static void restore(int kme)
{
	char st[700], bak[700];

	state_paths(kme, st, sizeof(st), bak, sizeof(bak));
	assert_int_equal(qmt_rmtree(st), 0);
	assert_int_equal(kt_copy_dir(bak, st), 0);
}

static void backup(int kme)
{
	char st[700], bak[700];

	state_paths(kme, st, sizeof(st), bak, sizeof(bak));
	assert_int_equal(kt_copy_state(st, bak), 0);
}

/* The test, for the KME of a given side: copy, take, stop,
 * restore, start, take: no key bytes repeat. */
static void restore_one(int kme)
{
	json_t *pre[BATCHES], *post[BATCHES];

	/* a full pool, so that the copy holds the bytes taken next */
	assert_true(kt_wait_keys(&net, kme, sae(kme), sae(!kme),
	                         BATCHES * PER_BATCH * 2,
	                         60000) >= BATCHES * PER_BATCH * 2);
	backup(kme);
	take(kme, pre);
	/* the slave fetches the last keys (its KME pulls the master's queue):
	 * key IDs still queued when the copy is put back would be lost with
	 * it, which a restore cannot avoid (docs/KME.md) */
	slave_gets_same(kme, pre[BATCHES - 1]);
	assert_int_equal(kt_kme_stop(&net, kme), 0);
	restore(kme);
	assert_int_equal(kt_kme_start(&net, kme), 0);
	take(kme, post);
	assert_int_equal(reused(pre, post), 0);
	/* the link still works: the slave gets the master's bytes */
	slave_gets_same(kme, post[0]);
	slave_gets_same(kme, post[BATCHES - 1]);
	/* and the restored KME says what happened */
	assert_true(kt_log_has(&net, kme, "restored from an older copy"));
	drop(pre);
	drop(post);
}

/* KME_A runs the link (lower ID): its restored pools are behind the
 * peer's in both directions. */
static void test_restore_link_runner(void **state)
{
	(void)state;
	restore_one(0);
}

/* KME_B receives the blocks: restored, it is behind the runner. */
static void test_restore_other_side(void **state)
{
	(void)state;
	restore_one(1);
}

/*
 * The restored KME is behind the link in the runner's direction: it lacks
 * the blocks the link added after its copy, and the runner must drop them
 * too. Every key the runner hands out afterwards, through and past the
 * bytes the restored KME lacks, reaches the slave. (Before the fix, the
 * restored KME answered the runner's comparison with its ends after moving
 * them to the runner's, so the runner kept bytes the peer had not: their
 * keys went to the master and the slave got 400 "not found".)
 */
static void test_restore_behind_serves_all(void **state)
{
	json_t *mid[BATCHES];

	(void)state;
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B",
	                         BATCHES * PER_BATCH * 2,
	                         60000) >= BATCHES * PER_BATCH * 2);
	backup(1);
	take(0, mid); /* the link refills: blocks KME_B's copy lacks */
	/* a full pool again, so that the link sends no block with key while
	 * KME_B restarts: the KMEs compare their ends in the sync, not
	 * through the next block */
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B", FULL_POOL, 60000) >=
	            FULL_POOL);
	assert_int_equal(kt_kme_stop(&net, 1), 0);
	restore(1);
	assert_int_equal(kt_kme_start(&net, 1), 0);
	/* a whole pool and more: past every byte KME_B's copy held */
	for (int round = 0; round < 8; round++) {
		json_t *post[BATCHES];

		take(0, post);
		for (int i = 0; i < BATCHES; i++)
			slave_gets_same(0, post[i]);
		assert_int_equal(reused(mid, post), 0);
		drop(post);
	}
	drop(mid);
}

/* The peer is down when the restored KME starts: no key of that link
 * until the peer has confirmed how far the pool was used. */
static void test_restore_peer_down(void **state)
{
	json_t *pre[BATCHES], *post[BATCHES], *j = NULL;

	(void)state;
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B",
	                         BATCHES * PER_BATCH * 2,
	                         60000) >= BATCHES * PER_BATCH * 2);
	backup(0);
	take(0, pre);
	slave_gets_same(0, pre[BATCHES - 1]); /* delivered before the stop */
	assert_int_equal(kt_kme_stop(&net, 0), 0);
	assert_int_equal(kt_kme_stop(&net, 1), 0);
	restore(0);
	assert_int_equal(kt_kme_start(&net, 0), 0);
	/* KME_B is down: KME_A cannot know how far its pool was used */
	assert_int_equal(try_keys(0, 1, &j), 503);
	{
		char *text = json_dumps(j, 0);

		assert_non_null(text);
		assert_non_null(strstr(text, "KME_B"));
		free(text);
	}
	json_decref(j);
	assert_int_equal(
	    kt_req(&net, 0, "sae/SAE_A", "/api/v1/keys/SAE_B/status", NULL, &j),
	    200);
	assert_int_equal(
	    json_integer_value(json_object_get(j, "stored_key_count")), 0);
	assert_true(json_is_false(json_object_get(
	    json_object_get(j, "status_extension"), "link_confirmed")));
	json_decref(j);
	/* the peer is back: the link agrees and serves fresh bytes */
	assert_int_equal(kt_kme_start(&net, 1), 0);
	take(0, post);
	assert_int_equal(reused(pre, post), 0);
	slave_gets_same(0, post[0]);
	slave_gets_same(0, post[BATCHES - 1]);
	drop(pre);
	drop(post);
}

/*
 * The hole the issue names: keys handed out before the peer knows of them.
 * KME_B is down while KME_A hands out keys (their reservations wait in
 * KME_A's queue), then KME_A is restored from a copy taken before: the
 * waiting reservations are gone, and KME_B never heard of those keys. KME_A
 * hands out no more than KME_B recorded as its limit before it went down,
 * so after the restore it skips past all of them.
 */
static void test_restore_after_peer_outage(void **state)
{
	json_t *out[64], *post[BATCHES];
	size_t got = 0;
	long st = 0;

	(void)state;
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B",
	                         BATCHES * PER_BATCH * 2,
	                         60000) >= BATCHES * PER_BATCH * 2);
	backup(0);
	assert_int_equal(kt_kme_stop(&net, 1), 0);
	/* keys while the peer is down, until the limit it recorded stops
	 * them (well before the pool is empty) */
	while (got < 64) {
		json_t *c = NULL;

		st = try_keys(0, 64, &c);
		if (st != 200) {
			char *text = json_dumps(c, 0);

			assert_non_null(text);
			assert_non_null(strstr(text, "must record"));
			free(text);
			json_decref(c);
			break;
		}
		out[got++] = c;
	}
	assert_int_equal(st, 503);
	assert_true(got >= 1);
	assert_int_equal(kt_kme_stop(&net, 0), 0);
	restore(0);
	assert_int_equal(kt_kme_start(&net, 1), 0);
	assert_int_equal(kt_kme_start(&net, 0), 0);
	take(0, post);
	assert_int_equal(reused_n(out, got, post, BATCHES), 0);
	for (size_t i = 0; i < got; i++)
		json_decref(out[i]);
	drop(post);
}

/*
 * Both KMEs restored, from copies of different ages: KME_B's copy is older
 * than keys KME_A handed out and KME_B recorded. Both notice and say so;
 * KME_A's newer copy still covers every byte it handed out, so nothing
 * repeats. (Keys taken after the newer copy could repeat: no KME
 * remembers them. docs/KME.md says so.)
 */
static void test_restore_both_sides(void **state)
{
	json_t *mid[BATCHES], *post[BATCHES];

	(void)state;
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B",
	                         BATCHES * PER_BATCH * 2,
	                         60000) >= BATCHES * PER_BATCH * 2);
	backup(1);
	take(0, mid);
	backup(0);
	assert_int_equal(kt_kme_stop(&net, 0), 0);
	assert_int_equal(kt_kme_stop(&net, 1), 0);
	restore(0);
	restore(1);
	assert_int_equal(kt_kme_start(&net, 0), 0);
	assert_int_equal(kt_kme_start(&net, 1), 0);
	take(0, post);
	assert_int_equal(reused(mid, post), 0);
	assert_true(kt_log_has(&net, 0, "KME KME_B was restored"));
	assert_true(kt_log_has(&net, 1, "this KME's state_dir was restored"));
	slave_gets_same(0, post[0]);
	drop(mid);
	drop(post);
}

/* A network whose KMEs save their pools only when they stop. */
static int setup_no_snapshot(void **state)
{
	(void)state;
	if (kt_net_start(&net, "kmecrashb", 2, 1,
	                 "persist_interval_ms = 3600000\npool_bytes = 262144\n"
	                 "bb84.pulses = 262144"))
		return -1;
	return 0;
}

/* KME_B (not the runner) dies after the runner pushed it blocks that no
 * snapshot holds: restarted, it is behind the link in both directions,
 * catches up, and both directions serve keys the other side can deliver. */
static void test_crash_other_side(void **state)
{
	json_t *pre[BATCHES], *c = NULL;

	(void)state;
	take(1, pre);
	assert_int_equal(kill(net.pids[1], SIGKILL), 0);
	qmt_stop(net.pids[1]); /* reaps it */
	net.pids[1] = 0;
	assert_int_equal(kt_kme_start(&net, 1), 0);
	for (int kme = 0; kme < 2; kme++) {
		assert_true(kt_wait_keys(&net, kme, sae(kme), sae(!kme), 256,
		                         60000) >= 256);
		assert_int_equal(get_keys(kme, 256, &c), 200);
		slave_gets_same(kme, c);
		json_decref(c);
	}
	drop(pre);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_restore_link_runner, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restore_other_side, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restore_behind_serves_all,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore_peer_down, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_restore_after_peer_outage,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restore_both_sides, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_crash_other_side,
	                                    setup_no_snapshot, teardown),
	};
	/* KT_FILTER=test_restore_both_sides runs one test (to loop it) */
	if (getenv("KT_FILTER"))
		cmocka_set_test_filter(getenv("KT_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
