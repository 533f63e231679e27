/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for IMAP folder names in modified UTF-7 (RFC 3501 section
 * 5.1.3): the RFC's own example, non-ASCII names in several scripts and
 * outside the BMP both ways, "&" as "&-", every form the RFC forbids
 * refused on decoding (so that one folder cannot have two names), input
 * that is not UTF-8 refused on encoding, the length bound, and random
 * round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "mail/mail.h"

static void pair(const char *utf8, const char *wire)
{
	struct qm_error e;
	char *w = NULL, *u = NULL;

	if (qm_mail_imap_name_encode(utf8, &w, &e) != QM_OK)
		fail_msg("encode %s: %s", utf8, e.msg);
	assert_string_equal(w, wire);
	if (qm_mail_imap_name_decode(wire, &u, &e) != QM_OK)
		fail_msg("decode %s: %s", wire, e.msg);
	assert_string_equal(u, utf8);
	free(w);
	free(u);
}

static void test_names_known_pairs(void **state)
{
	(void)state;
	/* RFC 3501 5.1.3's example */
	pair("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
	     "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
	pair("INBOX", "INBOX");
	pair("&", "&-");
	pair("Tom & Jerry", "Tom &- Jerry");
	pair("Entw\xc3\xbcrfe", "Entw&APw-rfe"); /* Entwürfe */
	pair("\xd0\x9a\xd0\xbe\xd1\x80\xd0\xb7\xd0\xb8\xd0\xbd\xd0\xb0",
	     "&BBoEPgRABDcEOAQ9BDA-"); /* Корзина */
	pair("\xe9\x80\x81\xe4\xbf\xa1\xe6\xb8\x88\xe3\x81\xbf",
	     "&kAFP4W4IMH8-"); /* 送信済み */
	pair("\xf0\x9f\x93\x81 Projects", "&2D3cwQ- Projects"); /* U+1F4C1 */
	pair("Caf\xc3\xa9 \xe2\x98\x95", "Caf&AOk- &JhU-");
	/* a control character is not printable: it is encoded */
	pair("a\tb", "a&AAk-b");
	pair("", "");
}

static void test_names_decode_refuses(void **state)
{
	static const char *const bad[] = {
	    "&Jjo!",              /* the run never ends */
	    "&AOk",               /* no '-' */
	    "&U,BTFw-&ZeVnLIqe-", /* two runs in a row: one name, two ways */
	    "&AGE-",              /* "a" encoded: it must stand for itself */
	    "&ACY-",              /* "&" encoded */
	    "&2D0-",              /* a high surrogate alone */
	    "&3ME-",              /* a low surrogate alone */
	    "&2D3YPQ-",           /* high, then high */
	    "&A-",                /* six stray bits */
	    "&AOl-",              /* stray bits that are not zero */
	    "&AAA-",              /* NUL */
	    "Caf\xc3\xa9",        /* 8-bit: not modified UTF-7 at all */
	    "a\tb",               /* a control byte */
	    "&AO*-",              /* outside the alphabet */
	    "&AO/-",              /* '/' is ',' in modified base64 */
	};
	struct qm_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *out = (char *)"untouched";
		enum qm_err r = qm_mail_imap_name_decode(bad[i], &out, &e);

		if (r != QM_ERR_PARSE)
			fail_msg("\"%s\" decoded (%d)", bad[i], (int)r);
		assert_string_equal(out, "untouched");
		assert_non_null(strstr(e.msg, "modified UTF-7"));
	}
}

static void test_names_encode_refuses(void **state)
{
	static const char *const bad[] = {
	    "\xc0\xaf",         /* overlong '/' */
	    "\xed\xa0\x80",     /* a surrogate in UTF-8 */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\xff",             /* not a lead byte */
	    "\xc3",             /* cut short */
	    "two\r\nlines",     /* a line break */
	};
	char longname[1200], *out = NULL;
	struct qm_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(qm_mail_imap_name_encode(bad[i], &out, &e),
		                 QM_ERR_INVAL);
	assert_null(out);
	/* 1000 bytes on the wire at most, either way */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(qm_mail_imap_name_encode(longname, &out, &e),
	                 QM_ERR_TOOBIG);
	assert_int_equal(qm_mail_imap_name_decode(longname, &out, &e),
	                 QM_ERR_TOOBIG);
	longname[1000] = '\0';
	assert_int_equal(qm_mail_imap_name_encode(longname, &out, &e), QM_OK);
	free(out);
	out = NULL;
	/* 400 times "é": 2 bytes of UTF-8, 8/3 characters on the wire */
	for (size_t i = 0; i < 400; i++)
		memcpy(longname + 2 * i, "\xc3\xa9", 2);
	longname[800] = '\0';
	assert_int_equal(qm_mail_imap_name_encode(longname, &out, &e),
	                 QM_ERR_TOOBIG);
	assert_null(out);
}

/* A random UTF-8 code point at p (1..4 bytes); returns its length. */
static size_t random_cp(char *p)
{
	uint32_t cp;

	switch (qm_random_uniform(4)) {
	case 0:
		cp = 0x20 + qm_random_uniform(0x5f);
		break;
	case 1:
		cp = 0x80 + qm_random_uniform(0x780);
		break;
	case 2:
		do
			cp = 0x800 + qm_random_uniform(0xf800);
		while (cp >= 0xd800 && cp <= 0xdfff);
		break;
	default:
		cp = 0x10000 + qm_random_uniform(0x100000);
	}
	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (char)(0xc0 | cp >> 6);
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | cp >> 12);
		p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | cp >> 18);
	p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static void test_names_random_round_trips(void **state)
{
	static const char alphabet[] =
	    "&-AZaz09+,/ "
	    ".~ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	struct qm_error e;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		char utf8[128], wire[64], *w = NULL, *u = NULL;
		size_t n = 0, k = qm_random_uniform(20);

		for (size_t i = 0; i < k; i++)
			n += random_cp(utf8 + n);
		utf8[n] = '\0';
		assert_int_equal(qm_mail_imap_name_encode(utf8, &w, &e), QM_OK);
		assert_int_equal(qm_mail_imap_name_decode(w, &u, &e), QM_OK);
		assert_string_equal(u, utf8);
		free(w);
		free(u);
		w = u = NULL;
		/* any printable string: refused, or its one canonical form */
		k = qm_random_uniform(24);
		for (size_t i = 0; i < k; i++)
			wire[i] =
			    alphabet[qm_random_uniform(sizeof(alphabet) - 1)];
		wire[k] = '\0';
		if (qm_mail_imap_name_decode(wire, &u, &e) == QM_OK) {
			assert_int_equal(qm_mail_imap_name_encode(u, &w, &e),
			                 QM_OK);
			assert_string_equal(w, wire);
		}
		free(w);
		free(u);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_known_pairs),
	    cmocka_unit_test(test_names_decode_refuses),
	    cmocka_unit_test(test_names_encode_refuses),
	    cmocka_unit_test(test_names_random_round_trips),
	};
	struct qm_error e;

	if (qm_core_init(&e) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
