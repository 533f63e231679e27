/* SPDX-License-Identifier: MIT */
/*
 * Recipient suggestions (src/client/suggest.c): from the contacts and
 * from the message index (senders of mail received, To of mail sent,
 * with the display name the sent mail gave), contacts first, then by
 * how often and how lately, one entry per address whatever its case,
 * never the account's own address, at most as many as asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/client.h"
#include "core/core.h"
#include "harness.h"
#include "home.h"
#include "store/store.h"

#define PASS "correct horse battery staple"
#define DAY  86400

static char g_home[512];
static struct qm_client *g_c;
static int64_t g_acct;

/* Files a message in the index as sync would: from, to, days ago. */
static void add_msg(const char *folder, const char *from, const char *to,
                    int days)
{
	static int64_t uid = 1;
	struct qm_store_msg m;
	struct qm_error e;
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	m.account_id = g_acct;
	m.folder = folder;
	m.uidvalidity = 1;
	m.uid = uid++;
	m.from_addr = from;
	m.to_addrs = to;
	m.date = qm_now() - (int64_t)days * DAY;
	m.verify = QM_VERIFY_NOT_QMAIL;
	assert_int_equal(qm_store_msg_add(qm_client_store(g_c), &m, "s", NULL,
	                                  0, NULL, 0, NULL, &id, &e),
	                 QM_OK);
}

static int setup(void **state)
{
	struct qm_store_account a;
	struct qm_store_contact ct;
	struct qm_error e;

	(void)state;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "me@example.org", sizeof(a.address));
	if (qmt_home_open("client-suggest", PASS, &a, &g_c, g_home,
	                  sizeof(g_home)))
		return -1;
	g_acct = a.id;
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "zach@c.example", sizeof(ct.address));
	qm_strlcpy(ct.name, "Zach Contact", sizeof(ct.name));
	if (qm_client_contact_put(g_c, g_acct, &ct, &e))
		return -1;
	/* zed wrote four times lately */
	for (int i = 0; i < 4; i++)
		add_msg("INBOX", "zed@far.example", "me@example.org", 1);
	/* the user wrote to Zoe once (her name in the To), she answered
	 * from the same address in other case */
	add_msg("Sent", "me@example.org",
	        "\"Zoe Zimmer\" <ZOE@far.example>, =?UTF-8?B?w4VzYQ==?= "
	        "<asa@far.example>, me@example.org",
	        1);
	add_msg("INBOX", "zoe@far.example", "me@example.org", 1);
	/* zelda, once, long ago */
	add_msg("INBOX", "zelda@far.example", "me@example.org", 400);
	/* someone who matches nothing typed below */
	add_msg("INBOX", "bob@near.example", "me@example.org", 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qmt_home_close(&g_c, g_home);
	return 0;
}

static size_t suggest(const char *q, size_t max,
                      struct qm_client_suggestion **s)
{
	struct qm_error e;
	size_t n = 0;

	assert_int_equal(qm_client_suggest(g_c, g_acct, q, max, s, &n, &e),
	                 QM_OK);
	return n;
}

/* Contacts first, then by how often and how lately; deduplicated. */
static void test_suggest_ranks(void **state)
{
	struct qm_client_suggestion *s = NULL;
	size_t n;

	(void)state;
	n = suggest("z", 0, &s);
	assert_int_equal(n, 4);
	assert_string_equal(s[0].address, "zach@c.example");
	assert_true(s[0].contact);
	assert_string_equal(s[0].name, "Zach Contact");
	assert_string_equal(s[1].address, "zed@far.example");
	assert_false(s[1].contact);
	assert_int_equal(s[1].messages, 4);
	assert_int_equal(strcasecmp(s[2].address, "zoe@far.example"), 0);
	assert_string_equal(s[2].name, "Zoe Zimmer");
	assert_int_equal(s[2].messages, 2);
	assert_string_equal(s[3].address, "zelda@far.example");
	free(s);
	/* at most as many as asked */
	n = suggest("z", 2, &s);
	assert_int_equal(n, 2);
	assert_string_equal(s[1].address, "zed@far.example");
	free(s);
}

/* A word of a name, an encoded name, any part of an address; never the
 * account itself. */
static void test_suggest_matches(void **state)
{
	struct qm_client_suggestion *s = NULL;
	size_t n;

	(void)state;
	n = suggest("zim", 0, &s);
	assert_int_equal(n, 1);
	assert_string_equal(s[0].name, "Zoe Zimmer");
	free(s);
	n = suggest("\xc3\x85s", 0, &s); /* "Ås", from =?UTF-8?B?...?= */
	assert_int_equal(n, 1);
	assert_string_equal(s[0].address, "asa@far.example");
	free(s);
	n = suggest("near.ex", 0, &s);
	assert_int_equal(n, 1);
	assert_string_equal(s[0].address, "bob@near.example");
	free(s);
	n = suggest("me@", 0, &s);
	assert_int_equal(n, 0);
	free(s);
}

static void test_suggest_refuses_empty(void **state)
{
	struct qm_client_suggestion *s = NULL;
	struct qm_error e;
	size_t n = 0;

	(void)state;
	assert_int_equal(qm_client_suggest(g_c, g_acct, "  ", 0, &s, &n, &e),
	                 QM_ERR_INVAL);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_suggest_ranks),
	    cmocka_unit_test(test_suggest_matches),
	    cmocka_unit_test(test_suggest_refuses_empty),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
