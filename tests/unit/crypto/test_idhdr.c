/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the QMail-Identity header and safety numbers
 * (src/crypto/idhdr.c): the header built folds within 78 characters and
 * parses back to the same identity; hostile values (too long, bad base64,
 * a key of the wrong length or with another fingerprint, unknown or
 * repeated attributes, another version, a bad address or ID, bytes that
 * are not ASCII) are refused; the safety number is the same from both
 * sides, changes with either key, and matches a value computed
 * independently from the definition in docs/SECURITY.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

static struct qm_identity *g_id;
static struct qm_pubid *g_pub;

/* The header field built for g_pub, unfolded into a malloc'd value (name
 * and CRLFs gone, as the mail layer hands it over). */
static char *built_value(const char *addr, const char *sae, const char *kme)
{
	struct qm_buf b;
	struct qm_error e;
	const char *p;
	char *v;
	size_t o = 0, line = 0;

	qm_buf_init(&b, 1 << 16);
	assert_int_equal(qm_crypto_idhdr_build(g_pub, addr, sae, kme, &b, &e),
	                 QM_OK);
	assert_true(b.len > 4000 && b.len < QM_IDHDR_MAX);
	assert_memory_equal(b.data, "QMail-Identity: v=1;", 20);
	/* CRLF line ends, no line past 78 characters, continuation lines
	 * start with a space */
	for (size_t i = 0; i < b.len; i++) {
		if (b.data[i] == '\n') {
			assert_true(i > 0 && b.data[i - 1] == '\r');
			assert_true(line - 1 <= 78);
			assert_true(i + 1 == b.len || b.data[i + 1] == ' ');
			line = 0;
		} else {
			line++;
		}
	}
	assert_int_equal(b.data[b.len - 1], '\n');
	v = malloc(b.len + 1);
	assert_non_null(v);
	p = (const char *)b.data + strlen("QMail-Identity:");
	for (; p < (const char *)b.data + b.len; p++)
		if (*p != '\r' && *p != '\n')
			v[o++] = *p;
	while (o && v[o - 1] == ' ')
		o--;
	v[o] = '\0';
	memmove(v, v + 1, o); /* the space after the colon */
	qm_buf_free(&b);
	return v;
}

static enum qm_err parse(const char *v, struct qm_idhdr *h)
{
	struct qm_error e;

	return qm_crypto_idhdr_parse(v, strlen(v), h, &e);
}

static void test_idhdr_roundtrip(void **state)
{
	struct qm_idhdr h;
	unsigned char f[QM_FPR_BYTES], f2[QM_FPR_BYTES];
	char *v = built_value("alice@example.org", "sae-alice", "kme-a");

	(void)state;
	assert_int_equal(parse(v, &h), QM_OK);
	assert_string_equal(h.addr, "alice@example.org");
	assert_string_equal(h.sae, "sae-alice");
	assert_string_equal(h.kme, "kme-a");
	qm_crypto_pubid_fingerprint(g_pub, f);
	qm_crypto_pubid_fingerprint(h.key, f2);
	assert_memory_equal(f, f2, QM_FPR_BYTES);
	assert_memory_equal(f, h.fpr, QM_FPR_BYTES);
	qm_crypto_idhdr_clear(&h);
	assert_null(h.key);
	free(v);
	/* no SAE or KME ID: not written, read as "" */
	v = built_value("bob@example.org", NULL, "");
	assert_null(strstr(v, "sae="));
	assert_int_equal(parse(v, &h), QM_OK);
	assert_string_equal(h.sae, "");
	assert_string_equal(h.kme, "");
	qm_crypto_idhdr_clear(&h);
	free(v);
}

/* A copy of v with the first occurrence of from replaced by to. */
static char *edit(const char *v, const char *from, const char *to)
{
	const char *at = strstr(v, from);
	size_t n = strlen(v) + strlen(to) + 1;
	char *r = malloc(n);

	assert_non_null(at);
	assert_non_null(r);
	snprintf(r, n, "%.*s%s%s", (int)(at - v), v, to, at + strlen(from));
	return r;
}

static void expect(const char *v, enum qm_err want, const char *why)
{
	struct qm_idhdr h;
	struct qm_error e;
	enum qm_err rc = qm_crypto_idhdr_parse(v, strlen(v), &h, &e);

	if (rc != want)
		fail_msg("%s: got %d (%s), wanted %d", why, rc,
		         rc ? qm_error_msg(&e) : "accepted", want);
	if (!rc)
		qm_crypto_idhdr_clear(&h);
}

static void test_idhdr_hostile(void **state)
{
	char *v = built_value("alice@example.org", "sae-alice", "kme-a");
	char *x, *keys = strstr(v, "keys=") + 5;
	char big[QM_IDHDR_MAX + 2];
	struct qm_idhdr h;
	struct qm_error e;

	(void)state;
	/* too long, even when the rest is well-formed */
	memset(big, ' ', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, v, strlen(v));
	assert_int_equal(qm_crypto_idhdr_parse(big, strlen(big), &h, &e),
	                 QM_ERR_TOOBIG);
	/* bad base64, same length */
	x = strdup(v);
	x[keys - v + 10] = '!';
	expect(x, QM_ERR_PARSE, "a character outside base64");
	free(x);
	x = strdup(v);
	x[strlen(x) - 3] = '=';
	expect(x, QM_ERR_PARSE, "padding inside the key");
	free(x);
	/* a key four characters short, or one more block */
	x = strdup(v);
	x[strlen(x) - 4] = '\0';
	expect(x, QM_ERR_PARSE, "a short key");
	free(x);
	x = edit(v, "keys=", "keys=AAAA");
	expect(x, QM_ERR_PARSE, "a long key");
	free(x);
	/* keys that are not the fingerprint's */
	x = strdup(v);
	x[strstr(x, "fpr=") - x + 4] =
	    x[strstr(x, "fpr=") - x + 4] == '0' ? '1' : '0';
	expect(x, QM_ERR_PARSE, "one hex digit of fpr changed");
	free(x);
	x = strdup(v);
	{
		size_t at = (size_t)(keys - v) + 2000;

		while (x[at] == ' ')
			at++;
		x[at] = x[at] == 'A' ? 'B' : 'A'; /* inside ML-KEM */
	}
	expect(x, QM_ERR_PARSE, "a changed key byte");
	free(x);
	/* upper-case fingerprint, short fingerprint */
	x = edit(v, "fpr=", "fpr=A");
	expect(x, QM_ERR_PARSE, "a fingerprint of 65 characters");
	free(x);
	/* version, attributes */
	x = edit(v, "v=1", "v=2");
	expect(x, QM_ERR_UNSUPPORTED, "version 2");
	free(x);
	x = edit(v, "v=1;", "");
	expect(x, QM_ERR_PARSE, "no version");
	free(x);
	x = edit(v, "addr=", "color=blue; addr=");
	expect(x, QM_ERR_PARSE, "an unknown attribute");
	free(x);
	x = edit(v, "addr=", "_color=blue; addr=");
	expect(x, QM_OK, "an optional attribute (leading _) is skipped");
	free(x);
	x = edit(v, "addr=", "sae=other; addr=");
	expect(x, QM_ERR_PARSE, "sae= twice");
	free(x);
	x = edit(v, "addr=", "; addr=");
	expect(x, QM_ERR_PARSE, "an empty attribute");
	free(x);
	x = edit(v, "addr=alice@example.org;", "");
	expect(x, QM_ERR_PARSE, "no address");
	free(x);
	x = edit(v, "addr=alice@example.org", "addr=alice@evil@example.org");
	expect(x, QM_ERR_PARSE, "two @");
	free(x);
	x = edit(v, "addr=alice@example.org", "addr=<alice@example.org>");
	expect(x, QM_ERR_PARSE, "an address with brackets");
	free(x);
	x = edit(v, "addr=alice@example.org", "addr=al ice@example.org");
	expect(x, QM_ERR_PARSE, "an address with a space");
	free(x);
	x = edit(v, "sae=sae-alice", "sae=sae alice");
	expect(x, QM_ERR_PARSE, "an SAE ID with a space");
	free(x);
	x = edit(v, "kme=kme-a", "kme=");
	expect(x, QM_ERR_PARSE, "an empty KME ID");
	free(x);
	x = edit(v, "kme=kme-a", "kme=k\xc3\xa9");
	expect(x, QM_ERR_PARSE, "a byte that is not ASCII");
	free(x);
	x = edit(v, "v=1", "v=1\n");
	expect(x, QM_ERR_PARSE, "a line feed left in the value");
	free(x);
	x = edit(v, "v=1;", "addr=x@y; v=1;");
	expect(x, QM_ERR_PARSE, "v= not first");
	free(x);
	expect("", QM_ERR_PARSE, "empty");
	expect("v=1", QM_ERR_PARSE, "only a version");
	free(v);
}

/* The safety number: symmetric, 12 groups of 5 digits, a function of both
 * keys and both addresses (case aside). */
static void test_safety_number(void **state)
{
	unsigned char fa[QM_FPR_BYTES], fb[QM_FPR_BYTES];
	char n1[QM_SAFETY_TEXTLEN], n2[QM_SAFETY_TEXTLEN],
	    n3[QM_SAFETY_TEXTLEN];
	struct qm_error e;

	(void)state;
	for (size_t i = 0; i < QM_FPR_BYTES; i++) {
		fa[i] = (unsigned char)i;
		fb[i] = (unsigned char)(0xff - i);
	}
	assert_int_equal(qm_crypto_safety_number("alice@example.org", fa,
	                                         "bob@example.org", fb, n1, &e),
	                 QM_OK);
	assert_int_equal(qm_crypto_safety_number("Bob@Example.ORG", fb,
	                                         "alice@example.org", fa, n2,
	                                         &e),
	                 QM_OK);
	assert_string_equal(n1, n2);
	assert_int_equal(strlen(n1), QM_SAFETY_TEXTLEN - 1);
	for (size_t i = 0; i < strlen(n1); i++)
		assert_true(i % 6 == 5 ? n1[i] == ' '
		                       : (n1[i] >= '0' && n1[i] <= '9'));
	/* computed from the definition with Python's hashlib */
	assert_string_equal(n1, "74962 81341 56246 82554 43471 72470 01907 "
	                        "89611 67904 12667 29710 68003");
	fb[31] ^= 1;
	assert_int_equal(qm_crypto_safety_number("alice@example.org", fa,
	                                         "bob@example.org", fb, n3, &e),
	                 QM_OK);
	assert_string_not_equal(n1, n3);
	fb[31] ^= 1;
	assert_int_equal(qm_crypto_safety_number("alice@example.org", fa,
	                                         "carol@example.org", fb, n3,
	                                         &e),
	                 QM_OK);
	assert_string_not_equal(n1, n3);
	assert_int_equal(
	    qm_crypto_safety_number("alice", fa, "bob@example.org", fb, n3, &e),
	    QM_ERR_INVAL);
}

static int setup(void **state)
{
	struct qm_error e;

	(void)state;
	if (qm_core_init(&e) || qm_crypto_identity_new(&g_id, &e) ||
	    qm_crypto_identity_public(g_id, &g_pub, &e))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qm_crypto_pubid_free(&g_pub);
	qm_crypto_identity_free(&g_id);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idhdr_roundtrip),
	    cmocka_unit_test(test_idhdr_hostile),
	    cmocka_unit_test(test_safety_number),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
