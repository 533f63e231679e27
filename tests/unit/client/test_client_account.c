/* SPDX-License-Identifier: MIT */
/*
 * The engine's account-level calls over the scripted servers of fakes.h:
 * the connectivity check (qm_client_account_test), the KME as a person
 * sees it (qm_client_kme_status), waiting for new mail (the watch calls
 * and qm_client_wait_mail), the own fingerprint, and the small tables
 * every interface shows (level names and badges, signer trust, limits).
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

#include "engine.h"

static int setup(void **state)
{
	(void)state;
	return eng_setup(ENG_KNOW_BOB | ENG_CAROL_POP3);
}

static void account_test(struct eu *u, struct qm_client_check ck[3])
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(
	    qm_client_account_test(u->c, u->acct, &ck[0], &ck[1], &ck[2], &e));
}

/* Unset, incoming says what a sync uses: POP3 for carol, whose account
 * has a POP3 server alone, IMAP for bob; set, what was set. */
static void test_incoming_default(void **state)
{
	struct qm_error e;
	char v[16];
	int set = 1;

	(void)state;
	qm_error_clear(&e);
	assert_ok(qm_client_setting_get(carol.c, carol.acct,
	                                QM_CLIENT_SET_INCOMING, v, sizeof(v),
	                                &set, &e));
	assert_string_equal(v, "pop3");
	assert_int_equal(set, 0);
	assert_ok(qm_client_setting_get(bob.c, bob.acct, QM_CLIENT_SET_INCOMING,
	                                v, sizeof(v), &set, &e));
	assert_string_equal(v, "imap");
	assert_int_equal(set, 0);
	assert_ok(qm_client_setting_set(bob.c, bob.acct, QM_CLIENT_SET_INCOMING,
	                                "pop3", &e));
	assert_ok(qm_client_setting_get(bob.c, bob.acct, QM_CLIENT_SET_INCOMING,
	                                v, sizeof(v), &set, &e));
	assert_string_equal(v, "pop3");
	assert_int_equal(set, 1);
}

/* Each service is tried once and said to work, in words naming it. */
static void test_account_test_ok(void **state)
{
	struct qm_client_check ck[3];

	(void)state;
	account_test(&alice, ck);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(ck[i].tried, 1);
		assert_int_equal(ck[i].ok, 1);
	}
	assert_has(ck[0].message, "SMTP smtp.qmail.test:587");
	assert_has(ck[1].message, "IMAP imap.qmail.test:993");
	assert_has(ck[2].message, "mutual TLS ok");
	assert_int_equal(fake_mail_calls[FM_SMTP_CHECK], 1);
	assert_int_equal(fake_mail_calls[FM_IMAP_OPEN], 1);
	assert_int_equal(eu_kme(&alice)->calls[FK_STATUS], 1);
	assert_int_equal(fake_mail_sent_count(), 0);

	account_test(&carol, ck);
	assert_has(ck[1].message, "POP3 pop3.qmail.test:995");
	assert_int_equal(ck[1].ok, 1);
	/* carol knows no peer: her KME answers, without a pool to show */
	assert_int_equal(ck[2].ok, 1);
	assert_has(ck[2].message, "no contact with an SAE ID");
}

/* A refused password and an unreachable KME are each reported where
 * they happen; the call itself succeeds. */
static void test_account_test_failures(void **state)
{
	struct qm_client_check ck[3];
	struct fake_kme *k = eu_kme(&alice);
	struct qm_store_account a;
	struct qm_error e;

	(void)state;
	fake_mail_password(alice.addr, "changed on the server");
	k->always = (struct fk_answer){0, QM_ERR_TIMEOUT, "timed out"};
	k->always_set = 1;
	account_test(&alice, ck);
	assert_int_equal(ck[0].ok, 0);
	assert_has(ck[0].message, "authentication failed");
	assert_int_equal(ck[1].ok, 0);
	assert_has(ck[1].message, "authentication failed");
	assert_int_equal(ck[2].tried, 1);
	assert_int_equal(ck[2].ok, 0);
	assert_has(ck[2].message, "timed out");

	/* a service the account does not use is not tried */
	qm_error_clear(&e);
	assert_ok(
	    qm_store_account_get(qm_client_store(bob.c), bob.acct, &a, &e));
	a.smtp.host[0] = '\0';
	a.kme_url[0] = '\0';
	assert_ok(qm_store_account_update(qm_client_store(bob.c), &a, &e));
	account_test(&bob, ck);
	assert_int_equal(ck[0].tried, 0);
	assert_int_equal(ck[1].ok, 1);
	assert_int_equal(ck[2].tried, 0);
	assert_int_equal(
	    qm_client_account_test(bob.c, 999, &ck[0], &ck[1], &ck[2], &e),
	    QM_ERR_NOTFOUND);
}

/* The pool towards the first contact with an SAE ID (or the one asked
 * for), the link's figures from status_extension, the alarm; a KME that
 * cannot be reached is reachable = 0 with the reason. */
static void test_kme_status(void **state)
{
	struct qm_client_kme ks;
	struct qm_error e;
	struct fake_kme *k = eu_kme(&alice);

	(void)state;
	qm_error_clear(&e);
	assert_ok(qm_client_kme_status(alice.c, alice.acct, NULL, &ks, &e));
	assert_int_equal(ks.reachable, 1);
	assert_string_equal(ks.peer_sae, "SAE_B");
	assert_string_equal(ks.url, alice.kme_url);
	assert_int_equal(ks.key_size, 256);
	assert_int_equal(ks.stored_key_count, (1 << 20) / 32);
	assert_int_equal(ks.pool_bytes, 1 << 20);
	assert_true(ks.qber > 0.02 && ks.qber < 0.022);
	assert_true(ks.key_rate_bps == 1000);
	assert_int_equal(ks.alarm, 0);

	fake_link_add("SAE_A", "SAE_C", 4096);
	qm_strlcpy(k->extension, "{\"qber\":0.3,\"alarm\":true}",
	           sizeof(k->extension));
	assert_ok(qm_client_kme_status(alice.c, alice.acct, "SAE_C", &ks, &e));
	assert_int_equal(ks.pool_bytes, 4096);
	assert_int_equal(ks.alarm, 1);
	assert_true(ks.qber > 0.29);
	assert_true(ks.key_rate_bps < 0);

	k->always = (struct fk_answer){0, QM_ERR_NET, "no route to host"};
	k->always_set = 1;
	assert_ok(qm_client_kme_status(alice.c, alice.acct, NULL, &ks, &e));
	assert_int_equal(ks.reachable, 0);
	assert_has(ks.message, "no route to host");
	assert_int_equal(qm_client_kme_status(alice.c, 999, NULL, &ks, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(fake_keys_issued(), 0);
}

/* Waiting for new mail: mail that came since the last sync is said at
 * once; then a wait is quiet until mail arrives; a wake descriptor ends
 * a wait early; POP3 cannot wait. */
static void test_watch(void **state)
{
	struct qm_client_watch *w = NULL;
	struct qm_client_sync_stats st;
	struct qm_error e;
	int news = -1, woken = -1, fds[2];
	const char msg[] = "From: a@b.example\r\nSubject: hi\r\n\r\nhi\r\n";

	(void)state;
	assert_int_equal(pipe(fds), 0);
	qm_error_clear(&e);
	assert_ok(qm_client_watch_open(bob.c, bob.acct, fds[0], &w, &e));
	assert_ok(qm_client_watch_wait(w, 10, &news, &woken, &e));
	assert_int_equal(news, 0);
	assert_int_equal(woken, 0);
	fake_mail_deliver(bob.addr, "INBOX", msg, strlen(msg));
	assert_ok(qm_client_watch_wait(w, 10, &news, &woken, &e));
	assert_int_equal(news, 1);
	assert_int_equal(write(fds[1], "x", 1), 1);
	assert_ok(qm_client_watch_wait(w, 10, &news, &woken, &e));
	assert_int_equal(news, 0);
	assert_int_equal(woken, 1);
	qm_client_watch_free(&w);
	assert_null(w);

	/* not synced yet: a new watch says so at once */
	assert_ok(qm_client_watch_open(bob.c, bob.acct, -1, &w, &e));
	assert_ok(qm_client_watch_wait(w, 10, &news, NULL, &e));
	assert_int_equal(news, 1);
	qm_client_watch_free(&w);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.plain, 1);
	assert_ok(qm_client_wait_mail(bob.c, bob.acct, 10, &news, &e));
	assert_int_equal(news, 0);

	/* the server fails the wait: the error comes back */
	fake_mail_fail(FM_IMAP_OPEN, QM_ERR_NET, "connection refused", 0);
	assert_int_equal(qm_client_wait_mail(bob.c, bob.acct, 10, &news, &e),
	                 QM_ERR_NET);
	assert_int_equal(
	    qm_client_wait_mail(carol.c, carol.acct, 10, &news, &e),
	    QM_ERR_UNSUPPORTED);
	assert_int_equal(qm_client_watch_open(carol.c, carol.acct, -1, &w, &e),
	                 QM_ERR_UNSUPPORTED);
	assert_null(w);
	qm_client_lock(bob.c);
	assert_int_equal(qm_client_watch_open(bob.c, bob.acct, -1, &w, &e),
	                 QM_ERR_LOCKED);
	close(fds[0]);
	close(fds[1]);
}

/* The other folders the account syncs are watched too, by a round of
 * STATUS when a wait is quiet: mail that reached one since the last sync
 * is news at the first wait, mail that arrives while watching at the end
 * of the wait it arrived in, each change once; a folder deleted on the
 * server is news once and then not watched. */
static void test_watch_folders(void **state)
{
	struct qm_client_watch *w = NULL;
	struct qm_client_sync_stats st;
	struct qm_error e;
	int news = -1;
	const char msg[] = "From: a@b.example\r\nSubject: hi\r\n\r\nhi\r\n";

	(void)state;
	qm_error_clear(&e);
	assert_ok(qm_client_setting_set(bob.c, bob.acct,
	                                QM_CLIENT_SET_SYNC_FOLDERS, "all", &e));
	assert_ok(qm_client_folder_create(bob.c, bob.acct, "Lists", &e));
	assert_ok(eu_sync(&bob, &st, &e));

	/* arrived while nothing watched */
	assert_true(fake_mail_deliver(bob.addr, "Lists", msg, strlen(msg)));
	assert_ok(qm_client_watch_open(bob.c, bob.acct, -1, &w, &e));
	assert_ok(qm_client_watch_wait(w, 10, &news, NULL, &e));
	assert_int_equal(news, 1);
	qm_client_watch_free(&w);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.plain, 1);

	/* quiet, then mail in the other folder, reported once */
	assert_ok(qm_client_watch_open(bob.c, bob.acct, -1, &w, &e));
	assert_ok(qm_client_watch_wait(w, 10, &news, NULL, &e));
	assert_int_equal(news, 0);
	assert_true(fake_mail_deliver(bob.addr, "Lists", msg, strlen(msg)));
	assert_ok(qm_client_watch_wait(w, 10, &news, NULL, &e));
	assert_int_equal(news, 1);
	assert_ok(qm_client_watch_wait(w, 10, &news, NULL, &e));
	assert_int_equal(news, 0);

	/* deleted on the server: news once, then no more asked for */
	assert_ok(qm_client_folder_delete(bob.c, bob.acct, "Lists", &e));
	assert_ok(qm_client_watch_wait(w, 10, &news, NULL, &e));
	assert_int_equal(news, 1);
	assert_ok(qm_client_watch_wait(w, 10, &news, NULL, &e));
	assert_int_equal(news, 0);
	qm_client_watch_free(&w);

	/* INBOX only: the other folders are not looked at */
	assert_ok(qm_client_setting_set(bob.c, bob.acct,
	                                QM_CLIENT_SET_SYNC_FOLDERS, "inbox",
	                                &e));
	assert_ok(qm_client_folder_create(bob.c, bob.acct, "Later", &e));
	assert_true(fake_mail_deliver(bob.addr, "Later", msg, strlen(msg)));
	assert_ok(qm_client_watch_open(bob.c, bob.acct, -1, &w, &e));
	assert_ok(qm_client_watch_wait(w, 10, &news, NULL, &e));
	assert_int_equal(news, 0);
	qm_client_watch_free(&w);
}

/* The handle's small facts, and the account's own fingerprint is the one
 * a contact imports. */
static void test_handle_and_fingerprint(void **state)
{
	struct qm_buf armour;
	struct qm_error e;
	char mine[QM_STORE_FPRMAX], theirs[QM_STORE_FPRMAX];

	(void)state;
	assert_string_equal(qm_client_home(alice.c), alice.home);
	assert_true(qm_client_initialised(alice.c));
	assert_true(qm_client_unlocked(alice.c));
	qm_error_clear(&e);
	assert_ok(qm_client_key_own_fpr(alice.c, alice.acct, mine, &e));
	qm_buf_init(&armour, 1 << 20);
	assert_ok(qm_client_key_export(alice.c, alice.acct, &armour, &e));
	assert_ok(qm_client_key_import(carol.c, NULL, (const char *)armour.data,
	                               armour.len, theirs, NULL, &e));
	qm_buf_free(&armour);
	assert_string_equal(mine, theirs);
	assert_ok(qm_client_key_own_fpr(bob.c, bob.acct, theirs, &e));
	assert_string_not_equal(mine, theirs);
	qm_client_lock(alice.c);
	assert_false(qm_client_unlocked(alice.c));
	assert_true(qm_client_initialised(alice.c));
}

/* The tables every interface shows come from the engine, one entry per
 * value (a table test: each row is one case). */
static void test_names(void **state)
{
	static const struct {
		int level;
		const char *badge, *name_part;
	} levels[] = {
	    {1, "L1 OTP", "one-time pad"},
	    {2, "L2 QKD-AES", "AES-256-GCM"},
	    {3, "L3 PQC", "ML-KEM-768"},
	    {4, "L4 classical", "X25519"},
	    {0, "not encrypted", "not encrypted"},
	    {7, "not encrypted", "not encrypted"},
	};
	static const struct {
		enum qm_client_signer_trust t;
		const char *name;
	} trust[] = {
	    {QM_SIGNER_NONE, ""},
	    {QM_SIGNER_VERIFIED, "verified"},
	    {QM_SIGNER_UNVERIFIED, "unverified"},
	    {QM_SIGNER_CHANGED, "changed"},
	    {QM_SIGNER_RETIRED, "retired"},
	    {QM_SIGNER_UNKNOWN, "unknown"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		assert_string_equal(qm_client_level_badge(levels[i].level),
		                    levels[i].badge);
		assert_has(qm_client_level_name(levels[i].level),
		           levels[i].name_part);
	}
	for (size_t i = 0; i < sizeof(trust) / sizeof(trust[0]); i++)
		assert_string_equal(qm_client_signer_trust_name(trust[i].t),
		                    trust[i].name);
}

/* Every limit is found by its name, parses its default and its bounds,
 * refuses a value outside them, and reads back as set. */
static void test_limits_table(void **state)
{
	static const struct {
		const char *name, *text;
		enum qm_err rc;
		uint64_t v;
	} cases[] = {
	    {QM_LIMIT_MESSAGE_SIZE, "64K", QM_OK, 65536},
	    {QM_LIMIT_MESSAGE_SIZE, "2M", QM_OK, 2u << 20},
	    {QM_LIMIT_MESSAGE_SIZE, "1K", QM_ERR_INVAL, 0},
	    {QM_LIMIT_MESSAGE_SIZE, "lots", QM_ERR_INVAL, 0},
	    {QM_LIMIT_PARTS, "4", QM_OK, 4},
	    {QM_LIMIT_PARTS, "3", QM_ERR_INVAL, 0},
	    {QM_LIMIT_DEPTH, "65", QM_ERR_INVAL, 0},
	    {QM_LIMIT_KEY_IDS, "1", QM_OK, 1},
	};
	struct qm_error e;
	uint64_t v;
	int is_set = -1;

	(void)state;
	assert_true(qm_client_limit_count() >= 10);
	assert_null(qm_client_limit_at(qm_client_limit_count()));
	assert_null(qm_client_limit_find("limit.nonsense"));
	for (size_t i = 0; i < qm_client_limit_count(); i++) {
		const struct qm_client_limit *l = qm_client_limit_at(i);
		char text[32];

		assert_ptr_equal(qm_client_limit_find(l->name), l);
		assert_true(l->min <= l->def && l->def <= l->ceiling);
		snprintf(text, sizeof(text), "%llu",
		         (unsigned long long)l->def);
		qm_error_clear(&e);
		assert_ok(qm_client_limit_parse(l, text, &v, &e));
		assert_int_equal(v, l->def);
		snprintf(text, sizeof(text), "%llu",
		         (unsigned long long)l->ceiling + 1);
		assert_int_equal(qm_client_limit_parse(l, text, &v, &e),
		                 QM_ERR_INVAL);
		assert_ok(
		    qm_client_limit_get(alice.c, l->name, &v, &is_set, &e));
		assert_int_equal(v, l->def);
		assert_int_equal(is_set, 0);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		qm_error_clear(&e);
		v = 0;
		assert_int_equal(qm_client_limit_set(alice.c, cases[i].name,
		                                     cases[i].text, &e),
		                 cases[i].rc);
		if (cases[i].rc)
			continue;
		assert_ok(qm_client_limit_get(alice.c, cases[i].name, &v,
		                              &is_set, &e));
		assert_int_equal(v, cases[i].v);
		assert_int_equal(is_set, 1);
	}
	assert_ok(qm_client_limit_set(alice.c, QM_LIMIT_PARTS, "default", &e));
	assert_ok(
	    qm_client_limit_get(alice.c, QM_LIMIT_PARTS, &v, &is_set, &e));
	assert_int_equal(is_set, 0);
	assert_int_equal(
	    qm_client_limit_set(alice.c, "limit.nonsense", "1", &e),
	    QM_ERR_NOTFOUND);
}

/* Text as every interface shows it: controls and direction marks become
 * visible marks; text keeps its newlines, a header line does not. */
static void test_display(void **state)
{
	static const struct {
		const char *in;
		unsigned flags;
		const char *out;
	} cases[] = {
	    {"plain", QM_DISPLAY_LINE, "plain"},
	    {"a\nb", QM_DISPLAY_LINE, "a[U+000A]b"},
	    {"a\r\nb\tc", QM_DISPLAY_TEXT, "a\nb\tc"},
	    {"evil\xe2\x80\xae"
	     "exe.pdf",
	     QM_DISPLAY_LINE, "evil[U+202E]exe.pdf"},
	    {"\x1b[31m", QM_DISPLAY_TEXT, "[U+001B][31m"},
	    {"bad \xff byte", QM_DISPLAY_LINE, "bad \xef\xbf\xbd byte"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct qm_buf b;
		struct qm_error e;

		qm_buf_init(&b, 1024);
		qm_error_clear(&e);
		assert_ok(qm_client_display(cases[i].in, strlen(cases[i].in),
		                            cases[i].flags, &b, &e));
		assert_string_equal((const char *)b.data, cases[i].out);
		qm_buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_incoming_default, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_account_test_ok, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_account_test_failures, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_kme_status, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_watch, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_watch_folders, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_handle_and_fingerprint, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_names, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_limits_table, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_display, setup, eng_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
