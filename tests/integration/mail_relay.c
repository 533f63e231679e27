/* SPDX-License-Identifier: MIT */
/*
 * QMail over a QKD network (issue 19): alice's KME and bob's are the two
 * ends of a line of four (KME_A - KME_B - KME_C - KME_D), so every key
 * between them is relayed through the two trusted nodes in between. Alice
 * sends at level 2 and at level 1 through the real mail servers; bob
 * opens both with the keys his own KME gives him, so the bytes he got are
 * alice's; every link of the line paid for them in its pool; the engine
 * and `qmail kme route` name the route and its two trusted nodes.
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
#include "qmtest.h"
#include "world.h"

static struct world W;

static int group_setup(void **state)
{
	int r;

	(void)state;
	r = world_start_topo(&W, "relay", NULL, "line:4");
	if (r == 1)
		W.skipped = 1;
	return r == -1 ? -1 : 0;
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

/* Bytes KME kme's link to peer paid to relays (operator stats). */
static long long relay_bytes(int kme, const char *peer)
{
	json_t *j = NULL;
	long long v = -1;

	if (kt_req(&W.net, kme, "operator", "/kme/v1/ctl/stats", NULL, &j) ==
	    200)
		v = json_integer_value(json_object_get(
		    json_object_get(json_object_get(j, "links"), peer),
		    "relay_bytes"));
	json_decref(j);
	return v;
}

static void send_open(int level)
{
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	char subject[64], body[256];
	char files[64][512];
	int have = qmt_mail_files(&W.mail, W_BOB, NULL, files, 64);
	int64_t id;

	snprintf(subject, sizeof(subject), "over three links, level %d", level);
	snprintf(body, sizeof(body),
	         "Bob, these keys came through KME_B and KME_C.\n"
	         "Marker RELAY-%d-PLAINTEXT\n",
	         level);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = body;
	m.level = level;
	/* a relay that cannot be served now (a hop's pool still filling, a
	 * hop slow to answer on a loaded machine) is a 503 the sender may
	 * try again, as a person would */
	for (int t = 0;; t++) {
		enum qm_err rc;

		qm_error_clear(&e);
		rc = qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e);
		if (rc == QM_OK)
			break;
		if (rc != QM_ERR_UNAVAIL || t == 30)
			fail_msg("send at level %d: %s", level, e.msg);
		print_message("send at level %d: %s; again in 1 s\n", level,
		              e.msg);
		sleep(1);
	}
	assert_int_equal(sent.level, level);
	assert_int_equal(sent.n_sent, 1);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 30000) >
	            have);
	assert_int_equal(
	    qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, &st, &e),
	    QM_OK);
	assert_int_equal(st.decrypted, 1);
	id = world_newest(&W, W_BOB, "INBOX");
	assert_true(id > 0);
	assert_int_equal(qm_client_read(W.c[W_BOB], id, &v, &e), QM_OK);
	/* opened and verified with bob's keys: the relayed bytes are
	 * alice's */
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_int_equal(v->level, level);
	assert_string_equal(v->subject, subject);
	assert_non_null(strstr(v->text, "RELAY-"));
	assert_true(v->nkey_ids >= 1);
	/* and its security details say who else saw the keys: the two
	 * KMEs between, as Bob's KME reported it */
	assert_int_equal(v->relay_hops, 3);
	assert_int_equal(v->relay_trusted, 2);
	assert_string_equal(v->relay_source, "KME_A");
	qm_client_view_free(&v);
	/* and `qmail read` says so */
	{
		char ids[32], *out = NULL;

		snprintf(ids, sizeof(ids), "%lld", (long long)id);
		if (world_qmail(&W, W_BOB, &out, "read", ids, NULL) != 0 ||
		    !strstr(out, "Key path: relayed over 3 QKD links from "
		                 "KME_A through 2 trusted nodes"))
			fail_msg("qmail read said:\n%s", out);
		free(out);
	}
}

static void test_levels_1_and_2(void **state)
{
	long long before[3], after[3];
	static const char *const peer[] = {"KME_B", "KME_C", "KME_D"};

	(void)state;
	if (W.skipped)
		skip();
	for (int i = 0; i < 3; i++)
		before[i] = relay_bytes(i, peer[i]);
	send_open(2);
	assert_int_equal(world_wait_pool(&W, W_ALICE, W_BOB, 16384, 120000), 0);
	send_open(1);
	/* each link of the line paid, on its sending side */
	for (int i = 0; i < 3; i++) {
		after[i] = relay_bytes(i, peer[i]);
		if (after[i] <= before[i])
			fail_msg("link %c-%s paid nothing: %lld -> %lld",
			         'A' + i, peer[i], before[i], after[i]);
	}
	/* the same amount on each hop: the same keys crossed them all */
	assert_int_equal(after[0] - before[0], after[1] - before[1]);
	assert_int_equal(after[1] - before[1], after[2] - before[2]);
}

static void test_route_shown(void **state)
{
	struct qm_client_kme k;
	struct qm_error e;
	char *out = NULL;
	char pass[600];

	(void)state;
	if (W.skipped)
		skip();
	qm_error_clear(&e);
	assert_int_equal(qm_client_kme_route(W.c[W_ALICE], W.acct[W_ALICE],
	                                     qmt_mail_addr(W_BOB), &k, &e),
	                 QM_OK);
	assert_true(k.relayed);
	assert_int_equal(k.nroute, 4);
	assert_string_equal(k.route[0], "KME_A");
	assert_string_equal(k.route[3], "KME_D");
	assert_int_equal(k.trusted_nodes, 2);
	/* carol's KME is linked to alice's: no trusted node */
	assert_int_equal(qm_client_kme_route(W.c[W_ALICE], W.acct[W_ALICE],
	                                     qmt_mail_addr(W_CAROL), &k, &e),
	                 QM_OK);
	assert_false(k.relayed);
	assert_int_equal(qm_client_kme_route(W.c[W_ALICE], W.acct[W_ALICE],
	                                     "nobody@qmail.test", &k, &e),
	                 QM_ERR_NOTFOUND);
	/* the same through the CLI */
	snprintf(pass, sizeof(pass), "%s/pass", W.mail.dir);
	assert_int_equal(qmt_write_file(pass, WORLD_PASS), 0);
	setenv("QMAIL_PASSPHRASE_FILE", pass, 1);
	{
		const char *args[] = {"kme", "route", qmt_mail_addr(W_BOB)};

		assert_int_equal(qmt_qmail(W.homes[W_ALICE], &out, args, 3), 0);
	}
	if (!strstr(out, "KME_A -> KME_B -> KME_C -> KME_D") ||
	    !strstr(out, "2 trusted nodes"))
		fail_msg("qmail kme route said:\n%s", out);
	free(out);
}

static void test_network_view(void **state)
{
	struct qm_client_kme_net *n = calloc(1, sizeof(*n));
	struct qm_error e;
	char *out = NULL;

	(void)state;
	if (W.skipped)
		skip();
	assert_non_null(n);
	qm_error_clear(&e);
	assert_int_equal(
	    qm_client_kme_network(W.c[W_BOB], W.acct[W_BOB], n, &e), QM_OK);
	assert_string_equal(n->kme_id, "KME_D");
	assert_int_equal(n->nkmes, 4);
	assert_int_equal(n->nlinks, 3);
	for (size_t i = 0; i < n->nlinks; i++) {
		assert_true(n->links[i].up);
		assert_false(n->links[i].alarm);
		assert_true(n->links[i].rate_bps > 0);
	}
	free(n);
	{
		const char *args[] = {"kme", "network"};

		assert_int_equal(qmt_qmail(W.homes[W_ALICE], &out, args, 2), 0);
	}
	if (!strstr(out, "your KME:   KME_A") ||
	    !strstr(out, "link:       KME_B - KME_C  up") ||
	    !strstr(out, "KMEs:       4"))
		fail_msg("qmail kme network said:\n%s", out);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_levels_1_and_2),
	    cmocka_unit_test(test_route_shown),
	    cmocka_unit_test(test_network_view),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
