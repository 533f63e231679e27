/* SPDX-License-Identifier: MIT */
/*
 * Which security levels the engine offers for a message
 * (qm_client_levels, qm_client_levels_msg), given what the account knows
 * of its recipients (SAE IDs, public keys), the user's floors and what
 * the KME says of its pool: the decisions of src/client/levels.c over the
 * scripted KME of fakes.h, without servers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "engine.h"

static int setup(void **state)
{
	(void)state;
	return eng_setup(0);
}

/* The levels alice may use now for a message of bytes to the addresses
 * in to (and bcc), into out[0..3]. */
static void levels(const char *const *to, size_t nto, const char *const *bcc,
                   size_t nbcc, uint64_t bytes, struct qm_client_level out[4])
{
	struct qm_client_compose m;
	struct qm_error e;
	uint64_t need = 0;

	memset(&m, 0, sizeof(m));
	m.account_id = alice.acct;
	m.to = to;
	m.nto = nto;
	m.bcc = bcc;
	m.nbcc = nbcc;
	qm_error_clear(&e);
	assert_ok(qm_client_levels_msg(alice.c, &m, bytes, out, &need, &e));
	for (int l = 0; l < 4; l++)
		assert_int_equal(out[l].level, l + 1);
	assert_true(need >= bytes);
}

/* Nothing known of bob: no level can be used, and the KME is not asked. */
static void test_unknown_recipient(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_level lv[4];

	(void)state;
	fake_link_add("SAE_A", "SAE_B", 1 << 20);
	levels(to, 1, NULL, 0, 1000, lv);
	for (int l = 0; l < 4; l++)
		assert_false(lv[l].available);
	assert_has(lv[0].reason, "SAE ID");
	assert_has(lv[0].reason, "bob@qmail.test");
	assert_has(lv[1].reason, "SAE ID");
	assert_has(lv[2].reason, "bob@qmail.test");
	assert_int_equal(eu_kme(&alice)->calls[FK_STATUS], 0);
	assert_int_equal(eu_kme(&alice)->calls[FK_ENC], 0);
}

/* Confirmed SAE ID, verified key, a full pool: every level, no notes; the
 * KME is asked for its status once (level 1) and hands out no key. */
static void test_all_levels(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_level lv[4];

	(void)state;
	fake_link_add("SAE_A", "SAE_B", 1 << 20);
	eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
	levels(to, 1, NULL, 0, 1000, lv);
	for (int l = 0; l < 4; l++) {
		assert_true(lv[l].available);
		assert_string_equal(lv[l].reason, "");
		assert_string_equal(lv[l].note, "");
	}
	assert_int_equal(eu_kme(&alice)->calls[FK_STATUS], 1);
	assert_int_equal(eu_kme(&alice)->calls[FK_ENC], 0);
	assert_int_equal(fake_keys_issued(), 0);
}

/* A learned SAE ID counts only once confirmed; a key that is not
 * verified may be used, with a note naming whose it is. */
static void test_learned_sae_unverified_key(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_level lv[4];

	(void)state;
	fake_link_add("SAE_A", "SAE_B", 1 << 20);
	eu_knows(&alice, &bob, EU_SAE_LEARNED | EU_PUBKEY);
	levels(to, 1, NULL, 0, 1000, lv);
	assert_false(lv[0].available);
	assert_false(lv[1].available);
	assert_has(lv[1].reason, "confirm");
	assert_true(lv[2].available);
	assert_true(lv[3].available);
	assert_string_equal(lv[2].unverified, "bob@qmail.test");
	assert_has(lv[3].note, "not verified");
	assert_int_equal(eu_kme(&alice)->calls[FK_STATUS], 0);
}

/* Level 1 against the pool: enough key is available; too little for
 * several requests is not (naming the bytes); too little for one request
 * is tried when sending (the KME's answer decides), with a note. */
static void test_level1_pool(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_level lv[4];
	struct fake_kme *k = eu_kme(&alice);

	(void)state;
	eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
	k->max_key_per_request = 4; /* 4 keys of 1 KiB a request */
	fake_link_add("SAE_A", "SAE_B", 2048);
	levels(to, 1, NULL, 0, 20000, lv);
	assert_false(lv[0].available);
	assert_has(lv[0].reason, "level 1 needs");
	assert_has(lv[0].reason, "the KME holds 2048 bytes");
	assert_true(lv[1].available); /* one 256-bit key: no status asked */

	/* a small message fits one request: asked at send time */
	levels(to, 1, NULL, 0, 100, lv);
	assert_true(lv[0].available);
	assert_string_equal(lv[0].note, "");
	levels(to, 1, NULL, 0, 3000, lv);
	assert_true(lv[0].available);
	assert_has(lv[0].note, "it is asked for them when the message is sent");

	fake_link_add("SAE_A", "SAE_B", 1 << 20);
	levels(to, 1, NULL, 0, 20000, lv);
	assert_true(lv[0].available);
	assert_string_equal(lv[0].note, "");
	assert_int_equal(fake_keys_issued(), 0);
}

/* A KME that makes keys on demand reports none: level 1 is offered with
 * the note; a KME that cannot be reached takes level 1 away, not 2. */
static void test_level1_kme_answers(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_level lv[4];
	struct fake_kme *k = eu_kme(&alice);

	(void)state;
	eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
	k->on_demand = 1;
	levels(to, 1, NULL, 0, 5000, lv);
	assert_true(lv[0].available);
	assert_has(lv[0].note, "reports 0 bytes");

	k->always = (struct fk_answer){0, QM_ERR_NET, "connection refused"};
	k->always_set = 1;
	levels(to, 1, NULL, 0, 5000, lv);
	assert_false(lv[0].available);
	assert_has(lv[0].reason, "cannot be reached");
	assert_has(lv[0].reason, "connection refused");
	assert_true(lv[1].available);
	assert_true(lv[2].available);
}

/* Two recipients of one copy on one SAE ID: a key reaches one SAE once,
 * so levels 1 and 2 are refused before any key is asked for. As Bcc, each
 * has a copy of its own, and the levels come back. */
static void test_shared_sae(void **state)
{
	const char *both[] = {bob.addr, carol.addr};
	const char *to[] = {bob.addr}, *bcc[] = {carol.addr};
	struct qm_client_level lv[4];

	(void)state;
	fake_link_add("SAE_A", "SAE_B", 1 << 20);
	eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
	eu_knows(&alice, &carol, EU_VERIFIED);
	eu_contact(&alice, carol.addr, "SAE_B", 1, 0);
	levels(both, 2, NULL, 0, 1000, lv);
	assert_false(lv[0].available);
	assert_false(lv[1].available);
	assert_has(lv[1].reason, "have the same SAE ID (SAE_B)");
	assert_true(lv[2].available);
	assert_true(lv[3].available);

	levels(to, 1, bcc, 1, 1000, lv);
	assert_true(lv[1].available);
	assert_true(lv[0].available);
	assert_int_equal(fake_keys_issued(), 0);
}

/* The floors: min_level for every message, a contact's minimum level,
 * and a recipient named twice counts once. */
static void test_floors(void **state)
{
	const char *to[] = {bob.addr, "Bob <BOB@qmail.test>"};
	struct qm_client_level lv[4];
	struct qm_error e;

	(void)state;
	fake_link_add("SAE_A", "SAE_B", 1 << 20);
	eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
	qm_error_clear(&e);
	assert_ok(qm_client_level_setting_set(alice.c, QM_CLIENT_SET_MIN_LEVEL,
	                                      "3", &e));
	levels(to, 2, NULL, 0, 1000, lv);
	assert_true(lv[0].available && lv[1].available && lv[2].available);
	assert_false(lv[3].available);
	assert_has(lv[3].reason, "below the setting min_level");

	assert_ok(qm_client_level_setting_set(alice.c, QM_CLIENT_SET_MIN_LEVEL,
	                                      "none", &e));
	eu_contact(&alice, bob.addr, "SAE_B", 1, 1);
	levels(to, 2, NULL, 0, 1000, lv);
	assert_true(lv[0].available);
	for (int l = 1; l < 4; l++) {
		assert_false(lv[l].available);
		assert_has(lv[l].reason, "weakest allowed for bob@qmail.test");
	}
}

/* An account without a KME offers levels 3 and 4 only. */
static void test_account_without_kme(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_level lv[4];

	(void)state;
	eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
	eu_drop_kme(&alice);
	levels(to, 1, NULL, 0, 1000, lv);
	assert_false(lv[0].available);
	assert_false(lv[1].available);
	assert_has(lv[1].reason, "has none configured");
	assert_true(lv[2].available);
	assert_true(lv[3].available);
	assert_int_equal(eu_kme(&alice)->calls[FK_NEW], 0);
}

/* qm_client_levels is qm_client_levels_msg with To alone; more than the
 * most recipients a message may have is refused. */
static void test_levels_plain_list(void **state)
{
	const char *to[] = {bob.addr};
	const char *many[101];
	struct qm_client_level lv[4];
	struct qm_error e;
	uint64_t need = 0;

	(void)state;
	fake_link_add("SAE_A", "SAE_B", 1 << 20);
	eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
	qm_error_clear(&e);
	assert_ok(
	    qm_client_levels(alice.c, alice.acct, to, 1, 500, lv, &need, &e));
	assert_true(lv[0].available && lv[3].available);
	for (size_t i = 0; i < 101; i++)
		many[i] = bob.addr;
	assert_int_equal(qm_client_levels(alice.c, alice.acct, many, 101, 500,
	                                  lv, &need, &e),
	                 QM_ERR_TOOBIG);
}

/* The level rules: a message without a level goes at the setting
 * default_level when set, else at the account's own; a stored value that
 * is no level is an error, never "no floor". */
static void test_level_settings(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_level_prefs p;
	struct qm_client_sent out;
	struct qm_error e;
	int v = -1;

	(void)state;
	fake_link_add("SAE_A", "SAE_B", 1 << 20);
	eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
	qm_error_clear(&e);
	assert_ok(qm_client_level_prefs(alice.c, alice.acct, &p, &e));
	assert_int_equal(p.default_level, 2);
	assert_int_equal(p.default_set, 0);
	assert_int_equal(p.account_default, 2);
	assert_int_equal(p.min_level, 0);
	assert_ok(eu_send(&alice, to, 1, 0, 0, "x", &out, &e));
	assert_int_equal(out.level, 2);

	assert_ok(qm_client_level_setting_set(
	    alice.c, QM_CLIENT_SET_DEFAULT_LEVEL, "3", &e));
	assert_ok(qm_client_level_setting_get(
	    alice.c, QM_CLIENT_SET_DEFAULT_LEVEL, &v, &e));
	assert_int_equal(v, 3);
	assert_ok(qm_client_level_prefs(alice.c, alice.acct, &p, &e));
	assert_int_equal(p.default_level, 3);
	assert_int_equal(p.default_set, 1);
	assert_ok(eu_send(&alice, to, 1, 0, 0, "x", &out, &e));
	assert_int_equal(out.level, 3);

	assert_int_equal(qm_client_level_setting_set(
	                     alice.c, QM_CLIENT_SET_MIN_LEVEL, "5", &e),
	                 QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_level_setting_set(alice.c, "max_level", "1", &e),
	    QM_ERR_NOTFOUND);
	assert_ok(qm_store_setting_set(qm_client_store(alice.c), 0,
	                               QM_CLIENT_SET_MIN_LEVEL, "banana", &e));
	assert_int_equal(qm_client_level_setting_get(
	                     alice.c, QM_CLIENT_SET_MIN_LEVEL, &v, &e),
	                 QM_ERR_PARSE);
	assert_int_equal(qm_client_level_prefs(alice.c, alice.acct, &p, &e),
	                 QM_ERR_PARSE);
	/* nothing goes out while the floor is unreadable */
	assert_int_not_equal(eu_send(&alice, to, 1, 4, 0, "x", &out, &e),
	                     QM_OK);
	assert_int_equal(fake_mail_sent_count(), 2);
}

/*
 * The levels offered for one recipient by what alice knows of him, one
 * row each: his SAE ID (confirmed or learned), his public key (verified
 * or not), her account's KME. Level 1 also needs the pool (full here).
 */
static void test_what_is_known(void **state)
{
	static const struct {
		const char *what;
		unsigned knows;
		int no_kme;
		int avail[4];
	} rows[] = {
	    {"nothing", 0, 0, {0, 0, 0, 0}},
	    {"confirmed SAE ID", EU_SAE, 0, {1, 1, 0, 0}},
	    {"learned SAE ID", EU_SAE_LEARNED, 0, {0, 0, 0, 0}},
	    {"key, not verified", EU_PUBKEY, 0, {0, 0, 1, 1}},
	    {"verified key", EU_VERIFIED, 0, {0, 0, 1, 1}},
	    {"confirmed SAE ID, verified key",
	     EU_SAE | EU_VERIFIED,
	     0,
	     {1, 1, 1, 1}},
	    {"learned SAE ID, key",
	     EU_SAE_LEARNED | EU_PUBKEY,
	     0,
	     {0, 0, 1, 1}},
	    {"everything, no KME", EU_SAE | EU_VERIFIED, 1, {0, 0, 1, 1}},
	};
	const char *to[] = {bob.addr};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct qm_client_level lv[4];

		eng_teardown(NULL);
		eng_setup(0);
		fake_link_add("SAE_A", "SAE_B", 1 << 20);
		eu_knows(&alice, &bob, rows[i].knows);
		if (rows[i].no_kme)
			eu_drop_kme(&alice);
		levels(to, 1, NULL, 0, 1000, lv);
		for (int l = 0; l < 4; l++)
			if (lv[l].available != rows[i].avail[l])
				fail_msg("%s: level %d is %savailable (%s)",
				         rows[i].what, l + 1,
				         lv[l].available ? "" : "not ",
				         lv[l].reason);
		assert_int_equal(fake_keys_issued(), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_unknown_recipient, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_all_levels, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_learned_sae_unverified_key,
	                                    setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_level1_pool, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_level1_kme_answers, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_shared_sae, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_floors, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_account_without_kme, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_levels_plain_list, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_what_is_known, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_level_settings, setup,
	                                    eng_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
