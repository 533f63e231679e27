/* SPDX-License-Identifier: MIT */
/*
 * Address lists as a person types them (issue 16): qm_client_parse_addrs
 * reads names, quoted names with commas, RFC 2047 words, groups, commas
 * and semicolons, and gives back every entry that is no address as typed;
 * qm_client_addr_format makes the recipient entries the engine reads back
 * the same.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "core/core.h"

static void parse(const char *list, struct qm_client_addr_list *l)
{
	struct qm_error e;

	if (qm_client_parse_addrs(list, l, &e) != QM_OK) {
		print_error("%s: %s\n", list, qm_error_msg(&e));
		fail();
	}
}

static void test_names_groups_separators(void **state)
{
	static const char *const want[][2] = {
	    {"Bob Example", "bob@qmail.test"},
	    {"Doe, Jane", "jane@x.test"},
	    {"", "carol@y.test"},
	    {"", "a@b.test"},
	    {"", "c@d.test"},
	    {"Jürgen", "j@x.test"},
	    {"", "dan@z.test"},
	    {"Ann O'Neil", "ann@w.test"},
	};
	struct qm_client_addr_list l;

	(void)state;
	parse("Bob Example <bob@qmail.test>, \"Doe, Jane\" <jane@x.test>, "
	      "carol@y.test; Team: a@b.test, c@d.test; "
	      "=?utf-8?q?J=C3=BCrgen?= <j@x.test>;dan@z.test,,  ; "
	      "Ann O'Neil <ann@w.test>",
	      &l);
	assert_int_equal(l.ninvalid, 0);
	assert_int_equal(l.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < l.n; i++) {
		assert_string_equal(l.v[i].name, want[i][0]);
		assert_string_equal(l.v[i].address, want[i][1]);
	}
	qm_client_addr_list_clear(&l);
	assert_null(l.v);

	/* empty, blank, an empty group */
	parse("", &l);
	assert_int_equal(l.n + l.ninvalid, 0);
	qm_client_addr_list_clear(&l);
	parse(" , ;\t", &l);
	assert_int_equal(l.n + l.ninvalid, 0);
	qm_client_addr_list_clear(&l);
	parse("Nobody:;", &l);
	assert_int_equal(l.n + l.ninvalid, 0);
	qm_client_addr_list_clear(&l);
}

static void test_invalid_named(void **state)
{
	static const char *const bad[] = {
	    "bob@",        "carol",           "@x.test",    "a@b..test",
	    "<bad>",       "bob@@x.test",     "x y@z.test", "a@-b.test",
	    "a@b_c.test",  "a@localhost",     "Bob <bob@>", "a.@b.test",
	    "a..b@c.test", "Eve <eve@x.test",
	    /* a quoted local part that reads as another address or list */
	    "\"ceo@bank.example\"@evil.example", "\"a,b\"@evil.example",
	    "\"<x>\"@evil.example",
	};
	struct qm_client_addr_list l;
	char list[1024];
	size_t o = 0;

	(void)state;
	/* each alone: reported as typed, nothing read */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(bad[i], &l);
		if (!strcmp(bad[i], "Eve <eve@x.test")) {
			/* GMime closes the angle: a mailbox, as typed */
			assert_int_equal(l.n, 1);
			assert_string_equal(l.v[0].address, "eve@x.test");
			qm_client_addr_list_clear(&l);
			continue;
		}
		if (l.n != 0 || l.ninvalid != 1)
			print_error("%s: %zu read, %zu invalid\n", bad[i], l.n,
			            l.ninvalid);
		assert_int_equal(l.n, 0);
		assert_int_equal(l.ninvalid, 1);
		assert_string_equal(l.invalid[0], bad[i]);
		qm_client_addr_list_clear(&l);
	}
	/* among good ones: the good are read, the bad named in order */
	for (size_t i = 0; i < 3; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o,
		                      "ok%zu@q.test,  %s ;", i, bad[i]);
	parse(list, &l);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.ninvalid, 3);
	for (size_t i = 0; i < 3; i++) {
		char want[32];

		snprintf(want, sizeof(want), "ok%zu@q.test", i);
		assert_string_equal(l.v[i].address, want);
		assert_string_equal(l.invalid[i], bad[i]);
	}
	qm_client_addr_list_clear(&l);
}

/* A formatted entry reads back as the same name and address. */
static void test_format_round_trip(void **state)
{
	static const char *const names[] = {
	    "",        "Bob",   "Doe, Jane", "say \"hi\"; now", "back\\slash",
	    "Team: x", "Jürgen"};
	struct qm_client_addr_list l;
	struct qm_error e;
	char one[512];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(qm_client_addr_format(names[i], "p@q.test",
		                                       one, sizeof(one), &e),
		                 QM_OK);
		parse(one, &l);
		assert_int_equal(l.ninvalid, 0);
		assert_int_equal(l.n, 1);
		assert_string_equal(l.v[0].name, names[i]);
		assert_string_equal(l.v[0].address, "p@q.test");
		qm_client_addr_list_clear(&l);
	}
	assert_int_equal(
	    qm_client_addr_format("Bob", "bob@", one, sizeof(one), &e),
	    QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_addr_format("a\nb", "b@c.test", one, sizeof(one), &e),
	    QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_addr_format("Bob", "bob@qmail.test", one, 10, &e),
	    QM_ERR_TOOBIG);
}

/* Hostile input: long, unbalanced, many entries. */
static void test_hostile(void **state)
{
	struct qm_client_addr_list l;
	struct qm_error e;
	size_t n = 6000 * 8 + 1;
	char *big = malloc(n);

	(void)state;
	assert_non_null(big);
	for (size_t i = 0; i < 6000; i++)
		memcpy(big + i * 8, "a@b.cd, ", 8);
	big[n - 1] = '\0';
	assert_int_equal(qm_client_parse_addrs(big, &l, &e), QM_ERR_TOOBIG);
	memset(big, '"', n - 1);
	parse(big, &l);
	qm_client_addr_list_clear(&l);
	memset(big, '(', n - 1);
	parse(big, &l);
	qm_client_addr_list_clear(&l);
	memset(big, '<', n - 1);
	parse(big, &l);
	assert_int_equal(l.n, 0);
	qm_client_addr_list_clear(&l);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_groups_separators),
	    cmocka_unit_test(test_invalid_named),
	    cmocka_unit_test(test_format_round_trip),
	    cmocka_unit_test(test_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
