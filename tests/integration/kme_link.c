/* SPDX-License-Identifier: MIT */
/*
 * The simulated BB84 link as two qkme processes run it: with no
 * eavesdropper the QBER is low and keys flow; an operator switches a full
 * intercept-resend eavesdropper on through `qkme ctl` at the KME that does
 * not run the link (the request is forwarded over the KME-to-KME channel),
 * both KMEs then report the alarm with a QBER near 25% and no key is
 * added; switched off, the alarm clears and keys flow again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "harness.h"
#include "kme_net.h"

static struct kt_net net;

struct view {
	double qber;
	int alarm;
	long long keys, blocks;
	double rate;
};

static int look(int kme, struct view *v)
{
	json_t *j = NULL, *x;
	const char *path = kme == 0 ? "/api/v1/keys/SAE_B/status"
	                            : "/api/v1/keys/SAE_A/status";
	const char *cert = kme == 0 ? "sae/SAE_A" : "sae/SAE_B";

	if (kt_req(&net, kme, cert, path, NULL, &j) != 200) {
		json_decref(j);
		return -1;
	}
	x = json_object_get(j, "status_extension");
	v->qber = json_number_value(json_object_get(x, "qber"));
	v->alarm = json_is_true(json_object_get(x, "qber_alarm"));
	v->rate = json_number_value(json_object_get(x, "key_rate_bps"));
	v->blocks = json_integer_value(json_object_get(x, "link_blocks"));
	v->keys = json_integer_value(json_object_get(j, "stored_key_count"));
	json_decref(j);
	return 0;
}

/* Polls both KMEs until both report alarm == want; 0 or -1. */
static int wait_alarm(int want, struct view v[2])
{
	for (int t = 0; t < 400; t++) {
		if (look(0, &v[0]) == 0 && look(1, &v[1]) == 0 &&
		    v[0].alarm == want && v[1].alarm == want)
			return 0;
		poll(NULL, 0, 50); /* between two status polls */
	}
	return -1;
}

static int ctl(int kme, const char *a, const char *b)
{
	char conf[700], path[600];
	char *argv[6];

	snprintf(path, sizeof(path), "%s/src/kme/qkme", qmt_binary_dir());
	snprintf(conf, sizeof(conf), "%s/KME_%c/ctl.conf", net.dir, 'A' + kme);
	argv[0] = path;
	argv[1] = "ctl";
	argv[2] = conf;
	argv[3] = (char *)(uintptr_t)a;
	argv[4] = (char *)(uintptr_t)b;
	argv[5] = NULL;
	return qmt_run(argv, NULL);
}

static void test_eavesdropper(void **state)
{
	struct view v[2], w;

	(void)state;
	assert_int_equal(kt_net_start(&net, "kmelink", 2, 1,
	                              "pool_bytes = 67108864\n"
	                              "bb84.pulses = 262144\n"
	                              "bb84.threads = 1"),
	                 0);
	/* a quiet link: low QBER, no alarm, keys arriving */
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B", 50, 30000) >= 50);
	assert_int_equal(wait_alarm(0, v), 0);
	assert_true(v[0].qber < 0.05);
	assert_true(v[1].qber < 0.05);
	assert_true(v[0].rate > 0);

	/* the operator of the KME that does not run the link */
	assert_int_equal(ctl(1, "eve", "on"), 0);
	assert_int_equal(wait_alarm(1, v), 0);
	assert_true(v[0].qber > 0.2 && v[0].qber < 0.3);
	assert_true(v[1].qber > 0.2 && v[1].qber < 0.3);
	/* while the alarm lasts, blocks run but the pool does not grow */
	for (int t = 0; t < 400; t++) {
		assert_int_equal(look(0, &w), 0);
		assert_true(w.alarm);
		if (w.blocks >= v[0].blocks + 3)
			break;
		poll(NULL, 0, 50);
	}
	assert_true(w.blocks >= v[0].blocks + 3);
	assert_int_equal(w.keys, v[0].keys);
	assert_true(w.qber > 0.2 && w.qber < 0.3);

	/* the stats command works and names the alarm */
	assert_int_equal(ctl(0, "stats", NULL), 0);

	assert_int_equal(ctl(0, "eve", "off"), 0);
	assert_int_equal(wait_alarm(0, v), 0);
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B", w.keys + 50,
	                         30000) >= w.keys + 50);
	/* a bad fraction is refused by the command */
	assert_int_not_equal(ctl(0, "eve", "1.5"), 0);
	assert_int_equal(kt_net_stop(&net), 0);
}

/* Full pools do not hide an eavesdropper: the link keeps measuring. */
static void test_alarm_with_full_pools(void **state)
{
	struct view v[2];
	json_t *j = NULL;
	long long maxk = 0;

	(void)state;
	assert_int_equal(kt_net_start(&net, "kmefull", 2, 1,
	                              "pool_bytes = 8192\n"
	                              "bb84.pulses = 262144"),
	                 0);
	assert_int_equal(kt_req(&net, 0, "sae/SAE_A",
	                        "/api/v1/keys/SAE_B/status", NULL, &j),
	                 200);
	maxk = json_integer_value(json_object_get(j, "max_key_count"));
	json_decref(j);
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B", maxk, 30000) ==
	            maxk);
	assert_int_equal(wait_alarm(0, v), 0);
	assert_int_equal(ctl(0, "eve", "on"), 0);
	assert_int_equal(wait_alarm(1, v), 0);
	assert_true(v[0].qber > 0.2 && v[1].qber > 0.2);
	assert_int_equal(ctl(1, "eve", "off"), 0);
	assert_int_equal(wait_alarm(0, v), 0);
	assert_int_equal(kt_net_stop(&net), 0);
}

/* Reserved keys not fetched within key_expiry_seconds are destroyed. */
static void test_expiry(void **state)
{
	json_t *c = NULL, *d = NULL;
	char q[100];
	long long reserved = -1;

	(void)state;
	assert_int_equal(kt_net_start(&net, "kmeexp", 2, 1,
	                              "key_expiry_seconds = 1\n"
	                              "persist_interval_ms = 50\n"
	                              "pool_bytes = 65536"),
	                 0);
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B", 1, 30000) >= 1);
	assert_int_equal(kt_req(&net, 0, "sae/SAE_A",
	                        "/api/v1/keys/SAE_B/enc_keys", NULL, &c),
	                 200);
	/* the slave's KME holds it, then lets it expire */
	for (int t = 0, seen = 0; t < 400; t++) {
		json_t *j = NULL;
		assert_int_equal(kt_req(&net, 1, "sae/SAE_B",
		                        "/api/v1/keys/SAE_A/status", NULL, &j),
		                 200);
		reserved = json_integer_value(json_object_get(
			json_object_get(j, "status_extension"), "reserved_keys"));
		json_decref(j);
		if (reserved > 0)
			seen = 1;
		if (seen && reserved == 0)
			break;
		poll(NULL, 0, 25); /* between two status polls */
	}
	assert_int_equal(reserved, 0);
	snprintf(q, sizeof(q), "/api/v1/keys/SAE_A/dec_keys?key_ID=%s",
	         json_string_value(json_object_get(
			 json_array_get(json_object_get(c, "keys"), 0), "key_ID")));
	assert_int_equal(kt_req(&net, 1, "sae/SAE_B", q, NULL, &d), 400);
	json_decref(d);
	json_decref(c);
	assert_int_equal(kt_net_stop(&net), 0);
}

/* Counts pid's threads named qkme-link by scheduling policy. */
static void link_threads(pid_t pid, int *normal, int *idle)
{
	char path[300], name[64];
	struct dirent *de;
	DIR *d;

	*normal = *idle = 0;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d))) {
		FILE *f;
		long long tid;

		if (qm_parse_ll(de->d_name, 1, 1LL << 31, &tid, NULL))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid,
		         de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* the thread has just ended */
		if (!fgets(name, sizeof(name), f))
			name[0] = '\0';
		fclose(f);
		if (strcmp(name, "qkme-link\n") != 0)
			continue;
		switch (sched_getscheduler((pid_t)tid)) {
		case SCHED_OTHER:
			(*normal)++;
			break;
		case SCHED_IDLE:
			(*idle)++;
			break;
		default:
			fail_msg("a link thread with another policy");
		}
	}
	closedir(d);
}

/*
 * The link never depends on idle CPU alone: SAE requests (even ones
 * answered 503) could then take every cycle and no key would be made.
 * The KME that runs the link has bb84.threads simulation threads at the
 * normal priority of the process (they work while a pool is below its
 * reserve, docs/KME.md) and as many at idle priority; the other KME has
 * none.
 */
static void test_link_priority(void **state)
{
	int normal, idle;

	(void)state;
	assert_int_equal(kt_net_start(&net, "kmeprio", 2, 1,
	                              "bb84.pulses = 262144\n"
	                              "bb84.threads = 3"),
	                 0);
	/* the link has made key: its threads run */
	assert_true(kt_wait_keys(&net, 0, "SAE_A", "SAE_B", 1, 30000) >= 1);
	link_threads(net.pids[0], &normal, &idle);
	assert_int_equal(normal, 3);
	assert_int_equal(idle, 3);
	link_threads(net.pids[1], &normal, &idle);
	assert_int_equal(normal + idle, 0);
	assert_int_equal(kt_net_stop(&net), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_eavesdropper),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_alarm_with_full_pools),
	    cmocka_unit_test(test_link_priority),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
