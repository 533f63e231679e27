/* SPDX-License-Identifier: MIT */
/*
 * New mail reaches the web GUI without anybody pressing Sync: bob's GUI
 * server (qm_web_server_start over bob's client, as `qmail web` runs it)
 * watches his INBOX with IMAP IDLE on the real Dovecot, and alice sends
 * through the real OpenSMTPD with keys from the real qkme KMEs (world.h).
 * What bob's GUI has filed is read through a second handle on bob's home
 * (its own SQLite connection, as another process would), never through
 * the server's client, which its threads are using.
 *
 * The background interval stays at its default of 300 s, far beyond the
 * waits here, so only the push can file the messages in time; with the
 * setting at 0 ("off") nothing is fetched at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "web/web.h"
#include "world.h"

static struct world W;
static struct qm_client *bob2; /* a second handle on bob's home */

static int group_setup(void **state)
{
	struct qm_client_opts o;
	struct qm_error e;

	(void)state;
	if (world_setup(&W, "push", NULL))
		return -1;
	if (W.skipped)
		return 0;
	memset(&o, 0, sizeof(o));
	o.home = W.homes[W_BOB];
	if (qm_client_open(&o, &bob2, &e) != QM_OK) {
		fprintf(stderr, "web_push: %s\n", qm_error_msg(&e));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	qm_client_free(&bob2);
	world_stop(&W);
	return 0;
}

/* Messages bob's home has filed (read through the second handle). */
static int64_t bob_filed(void)
{
	struct qm_store_query q;
	int64_t n = -1;

	memset(&q, 0, sizeof(q));
	q.account_id = W.acct[W_BOB];
	assert_int_equal(
	    qm_store_msg_count(qm_client_store(bob2), &q, &n, NULL), QM_OK);
	return n;
}

/* Waits up to ms for bob's home to file at least n; returns ms taken or
 * -1. */
static long wait_filed(int64_t n, long ms)
{
	uint64_t t0 = qm_mono_ns();

	for (;;) {
		long took = (long)((qm_mono_ns() - t0) / 1000000u);
		struct timespec ts = {0, 50 * 1000 * 1000};

		if (bob_filed() >= n)
			return took;
		if (took >= ms)
			return -1;
		nanosleep(&ts, NULL);
	}
}

static void alice_sends(const char *subject)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_error e;

	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = "pushed\n";
	m.level = 2;
	qm_error_clear(&e);
	if (qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e) != QM_OK)
		fail_msg("send: %s", qm_error_msg(&e));
	assert_int_equal(sent.n_sent, 1);
}

static struct qm_web_server *bob_gui(void)
{
	struct qm_web_config wc;
	struct qm_web_server *s = NULL;
	struct qm_error e;

	memset(&wc, 0, sizeof(wc));
	if (qm_web_server_start(&wc, W.c[W_BOB], &s, &e) != QM_OK)
		fail_msg("web: %s", qm_error_msg(&e));
	return s;
}

/*
 * Background sync off: the GUI does not watch either. Then on: what came
 * meanwhile is fetched as soon as the GUI starts, and a message sent while
 * it waits in IDLE is filed within seconds.
 */
static void test_push(void **state)
{
	struct qm_web_server *s;
	struct qm_error e;
	int64_t have;
	long took;
	int mail;

	(void)state;
	if (W.skipped)
		skip();
	world_wait_pool(&W, W_ALICE, W_BOB, 4096, 60000);
	have = bob_filed();
	mail = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);

	/* off: nothing is fetched (the server has it within seconds) */
	assert_int_equal(qm_store_setting_set(qm_client_store(W.c[W_BOB]), 0,
	                                      "background_sync_s", "0", &e),
	                 QM_OK);
	s = bob_gui();
	alice_sends("while the GUI does not watch");
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, mail + 1, 60000),
	    mail + 1);
	assert_int_equal(wait_filed(have + 1, 4000), -1);
	qm_web_server_stop(&s);

	/* on (the default, 300 s): the waiting message at once */
	assert_int_equal(qm_store_setting_set(qm_client_store(W.c[W_BOB]), 0,
	                                      "background_sync_s", "300", &e),
	                 QM_OK);
	s = bob_gui();
	took = wait_filed(have + 1, 30000);
	fprintf(stderr,
	        "web_push: the message that waited was filed %ld ms "
	        "after the GUI started\n",
	        took);
	assert_true(took >= 0);

	/* the watcher is in IDLE now: a new message is pushed */
	for (int i = 0; i < 2; i++) {
		char subj[64];

		snprintf(subj, sizeof(subj), "pushed %d", i);
		alice_sends(subj);
		took = wait_filed(have + 2 + i, 30000);
		fprintf(stderr,
		        "web_push: \"%s\" filed %ld ms after the send "
		        "returned\n",
		        subj, took);
		assert_true(took >= 0);
	}
	/* stopping ends the watchers' IDLE at once (measured by ctest) */
	qm_web_server_stop(&s);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_push),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
