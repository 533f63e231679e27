/* SPDX-License-Identifier: MIT */
/*
 * Contacts as vCard (src/client/vcard.c): the files address books write
 * (Thunderbird and Proton 4.0, Google Contacts and Apple 3.0, folded
 * lines, groups, several addresses per card) import as contacts; an
 * import never changes an existing contact's SAE ID, confirmation or
 * minimum level, nor the keyring; vCard 2.1 quoted-printable is refused
 * with its reason; the export is vCard 4.0 that reads back the same;
 * garbage and oversized input are refused without a crash.
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
#include "harness.h"
#include "home.h"
#include "store/store.h"

#define PASS "correct horse battery staple"

static char g_home[512];
static struct qm_client *g_c;
static int64_t g_acct;

static int setup(void **state)
{
	struct qm_store_account a;

	(void)state;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "me@example.org", sizeof(a.address));
	if (qmt_home_open("client-vcard", PASS, &a, &g_c, g_home,
	                  sizeof(g_home)))
		return -1;
	g_acct = a.id;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qmt_home_close(&g_c, g_home);
	return 0;
}

static enum qm_err import(const char *v, struct qm_client_vcard_stats *st,
                          struct qm_error *e)
{
	return qm_client_contacts_import_vcard(g_c, g_acct, v, strlen(v), st,
	                                       e);
}

static void get(const char *addr, struct qm_store_contact *ct)
{
	struct qm_error e;

	assert_int_equal(qm_client_contact_get(g_c, g_acct, addr, ct, &e),
	                 QM_OK);
}

/* As Thunderbird (4.0), Proton (4.0, groups), Google (3.0, item1.EMAIL,
 * N only) and Apple (3.0, a folded PHOTO, type=pref) write them. */
static const char g_books[] =
    "BEGIN:VCARD\r\nVERSION:4.0\r\nEMAIL;PREF=1:ann@example.org\r\n"
    "FN:Ann Example\r\nN:Example;Ann;;;\r\nUID:1\r\nEND:VCARD\r\n"
    "BEGIN:VCARD\nVERSION:4.0\nPRODID:-//ProtonMail//\nITEM1.EMAIL;PREF=1:"
    "bo@example.org\nITEM2.EMAIL:bo@work.example\nFN:Bo\\, the \\;Brave"
    "\\\\\nEND:VCARD\n"
    "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Carlsen;Cara;Maria;;\r\n"
    "item1.EMAIL;TYPE=INTERNET:cara@example.org\r\nitem1.X-ABLabel:\r\n"
    "END:VCARD\r\n"
    "begin:vcard\r\nversion:3.0\r\nN:Dahl;Dan;;;\r\nFN:Dan \r\n Dahl\r\n"
    "EMAIL;type=INTERNET;type=HOME;type=pref:dan@exa\r\n\tmple.org\r\n"
    "PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgH"
    "\r\n  BwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5\r"
    "\n end:vcard\r\nEND:VCARD\r\n";

static void test_import_address_books(void **state)
{
	struct qm_client_vcard_stats st;
	struct qm_store_contact ct;
	struct qm_error e;

	(void)state;
	assert_int_equal(import(g_books, &st, &e), QM_OK);
	assert_int_equal(st.cards, 4);
	assert_int_equal(st.added, 5);
	assert_int_equal(st.skipped, 0);
	get("ann@example.org", &ct);
	assert_string_equal(ct.name, "Ann Example");
	get("bo@example.org", &ct);
	assert_string_equal(ct.name, "Bo, the ;Brave\\");
	get("bo@work.example", &ct);
	assert_string_equal(ct.name, "Bo, the ;Brave\\");
	get("cara@example.org", &ct);
	assert_string_equal(ct.name, "Cara Maria Carlsen");
	get("dan@example.org", &ct); /* folded with a tab */
	assert_string_equal(ct.name, "Dan Dahl");
	/* the same file again: nothing new */
	assert_int_equal(import(g_books, &st, &e), QM_OK);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.updated, 0);
	assert_int_equal(st.unchanged, 5);
}

/* An import sets a name and nothing else: the SAE ID, its confirmation,
 * the minimum level and the keyring stay as they were; a learned,
 * unconfirmed SAE ID is never confirmed by an import. */
static void test_import_keeps_trust(void **state)
{
	struct qm_client_vcard_stats st;
	struct qm_store_contact ct;
	struct qm_error e;

	(void)state;
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "eve@example.org", sizeof(ct.address));
	qm_strlcpy(ct.sae_id, "SAE_EVE", sizeof(ct.sae_id));
	ct.min_level = 2;
	assert_int_equal(qm_client_contact_put(g_c, g_acct, &ct, &e), QM_OK);
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "lea@example.org", sizeof(ct.address));
	qm_strlcpy(ct.sae_id, "SAE_LEARNED", sizeof(ct.sae_id));
	ct.source = QM_CONTACT_LEARNED;
	assert_int_equal(
	    qm_store_contact_put(qm_client_store(g_c), g_acct, &ct, &e), QM_OK);
	assert_int_equal(import("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Eve New\r\n"
	                        "EMAIL:EVE@example.org\r\nKEY:data:application/"
	                        "pgp-keys;base64,AAAA\r\nEND:VCARD\r\n"
	                        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Lea\r\n"
	                        "EMAIL:lea@example.org\r\nEND:VCARD\r\n",
	                        &st, &e),
	                 QM_OK);
	assert_int_equal(st.updated, 1);
	assert_int_equal(st.skipped, 1);
	assert_non_null(strstr(st.why[0], "not confirmed"));
	get("eve@example.org", &ct);
	assert_string_equal(ct.name, "Eve New");
	assert_string_equal(ct.sae_id, "SAE_EVE");
	assert_int_equal(ct.min_level, 2);
	assert_int_equal(ct.confirmed, 1);
	get("lea@example.org", &ct);
	assert_string_equal(ct.name, "");
	assert_int_equal(ct.confirmed, 0);
	assert_int_equal(ct.source, QM_CONTACT_LEARNED);
}

/* vCard 2.1 quoted-printable, a card without an address, a bad address,
 * a card never ended: skipped, each with its reason; the good ones in
 * the same file are imported. */
static void test_import_refusals(void **state)
{
	struct qm_client_vcard_stats st;
	struct qm_error e;
	int qp = 0, none = 0, bad = 0, open = 0;

	(void)state;
	assert_int_equal(
	    import(
	        "BEGIN:VCARD\r\nVERSION:2.1\r\nFN;ENCODING=QUOTED-PRINTABLE;"
	        "CHARSET=ISO-8859-1:J=F6rg\r\nEMAIL;INTERNET:jorg@example.org"
	        "\r\nEND:VCARD\r\n"
	        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Nobody\r\nTEL:+1\r\n"
	        "END:VCARD\r\n"
	        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Bad\r\nEMAIL:not an "
	        "address\r\nEMAIL:ok@example.org\r\nEND:VCARD\r\n"
	        "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Open\r\n"
	        "EMAIL:open@example.org\r\n",
	        &st, &e),
	    QM_OK);
	assert_int_equal(st.cards, 4);
	assert_int_equal(st.added, 1);
	assert_int_equal(st.skipped, 4);
	for (size_t i = 0; i < st.n_why; i++) {
		qp += strstr(st.why[i], "quoted-printable") != NULL;
		none += strstr(st.why[i], "no e-mail address") != NULL;
		bad += strstr(st.why[i], "not an e-mail address") != NULL;
		open += strstr(st.why[i], "no END:VCARD") != NULL;
	}
	assert_int_equal(qp + none + bad + open, 4);
	assert_true(qp && none && bad && open);
}

/* Not a vCard, too large, a field past its maximum. */
static void test_import_hostile(void **state)
{
	struct qm_client_vcard_stats st;
	struct qm_error e;
	char *big;
	size_t n = QM_CLIENT_VCARD_MAX + 1;

	(void)state;
	assert_int_equal(import("From: x\r\n\r\nhello\r\n", &st, &e),
	                 QM_ERR_PARSE);
	assert_non_null(strstr(e.msg, "not a vCard"));
	big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'A', n);
	big[n] = '\0';
	assert_int_equal(
	    qm_client_contacts_import_vcard(g_c, g_acct, big, n, &st, &e),
	    QM_ERR_TOOBIG);
	/* one card whose FN is 200 KiB of folded lines */
	memcpy(big, "BEGIN:VCARD\r\nFN:", 16);
	for (size_t i = 16; i < 200000; i += 4)
		memcpy(big + i, "x\r\n ", 4);
	memcpy(big + 200000, "\r\nEMAIL:long@example.org\r\nEND:VCARD\r\n", 38);
	assert_int_equal(
	    qm_client_contacts_import_vcard(g_c, g_acct, big, 200038, &st, &e),
	    QM_OK);
	assert_int_equal(st.skipped, 1);
	assert_int_equal(st.added, 0);
	free(big);
}

static enum qm_err collect(void *arg, const struct qm_client_vcard *card)
{
	struct qm_client_vcard *out = arg;

	*out = *card;
	return QM_OK;
}

/* The export is vCard 4.0: CRLF, lines of at most 75 octets, the
 * special characters escaped, UTF-8 never cut; it reads back the same. */
static void test_export_round_trip(void **state)
{
	static struct qm_client_vcard in, back;
	struct qm_error e;
	struct qm_buf b;
	const char *p;
	size_t n;

	(void)state;
	memset(&in, 0, sizeof(in));
	/* 40 two-octet letters, commas, semicolons, a backslash */
	for (n = 0; n < 80; n += 2)
		memcpy(in.name + n, "\xc3\xa9", 2);
	qm_strlcpy(in.name + 80, " a,b;c\\d", sizeof(in.name) - 80);
	qm_strlcpy(in.emails[0], "ex@example.org", sizeof(in.emails[0]));
	in.n_emails = 1;
	qm_buf_init(&b, 1 << 16);
	assert_int_equal(qm_client_vcard_write(&in, &b, &e), QM_OK);
	p = (const char *)b.data;
	assert_memory_equal(p, "BEGIN:VCARD\r\nVERSION:4.0\r\n", 26);
	assert_non_null(strstr(p, "a\\,b\\;c\\\\d"));
	for (const char *l = p; *l;) {
		const char *eol = strstr(l, "\r\n");

		assert_non_null(eol);
		assert_true(eol - l <= 75);
		/* a continuation line never starts inside a UTF-8 letter */
		assert_false(l[0] == ' ' &&
		             ((unsigned char)l[1] & 0xc0) == 0x80);
		l = eol + 2;
	}
	assert_null(strstr(p, "\n\n"));
	assert_int_equal(qm_client_vcard_parse(p, b.len, collect, &back, &e),
	                 QM_OK);
	assert_string_equal(back.name, in.name);
	assert_int_equal(back.n_emails, 1);
	assert_string_equal(back.emails[0], in.emails[0]);
	qm_buf_free(&b);
}

/* The contacts of an account exported, then imported into another
 * account: the same addresses and names. */
static void test_export_contacts(void **state)
{
	struct qm_store_contact *l1 = NULL, *l2 = NULL;
	struct qm_store_account a;
	struct qm_client_vcard_stats st;
	struct qm_error e;
	struct qm_buf b;
	size_t n = 0, n1 = 0, n2 = 0;

	(void)state;
	qm_buf_init(&b, 1 << 20);
	assert_int_equal(
	    qm_client_contacts_export_vcard(g_c, g_acct, &b, &n, &e), QM_OK);
	assert_true(n >= 5);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "other@example.org", sizeof(a.address));
	assert_int_equal(qm_client_account_add(g_c, &a, "pw", 2, &e), QM_OK);
	assert_int_equal(qm_client_contacts_import_vcard(
	                     g_c, a.id, (const char *)b.data, b.len, &st, &e),
	                 QM_OK);
	assert_int_equal(st.added, n);
	assert_int_equal(qm_client_contact_list(g_c, g_acct, &l1, &n1, &e),
	                 QM_OK);
	assert_int_equal(qm_client_contact_list(g_c, a.id, &l2, &n2, &e),
	                 QM_OK);
	assert_int_equal(n1, n2);
	for (size_t i = 0; i < n1; i++) {
		assert_string_equal(l1[i].address, l2[i].address);
		assert_string_equal(l1[i].name, l2[i].name);
		/* the SAE IDs stay behind: a vCard carries names only */
		assert_string_equal(l2[i].sae_id, "");
	}
	free(l1);
	free(l2);
	qm_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_import_address_books),
	    cmocka_unit_test(test_import_keeps_trust),
	    cmocka_unit_test(test_import_refusals),
	    cmocka_unit_test(test_import_hostile),
	    cmocka_unit_test(test_export_round_trip),
	    cmocka_unit_test(test_export_contacts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
