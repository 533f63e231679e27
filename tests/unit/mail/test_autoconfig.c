/* SPDX-License-Identifier: MIT */
/*
 * The autoconfig file parser (Mozilla ISPDB format) on good and hostile
 * files, the host name check, and the order SRV records are tried in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail/mail.h"
#include "qmtest.h"

static enum qm_err parse(const char *xml, const char *addr,
                         struct qm_mail_autoconfig *out, struct qm_error *e)
{
	memset(out, 0, sizeof(*out));
	qm_error_clear(e);
	return qm_mail_autoconfig_parse(xml, strlen(xml), addr, out, e);
}

/* One server element. */
static void server(char *out, size_t n, const char *el, const char *type,
                   const char *host, const char *port, const char *sock,
                   const char *user, const char *auth)
{
	snprintf(out, n,
	         "<%s type=\"%s\"><hostname>%s</hostname><port>%s</port>"
	         "<socketType>%s</socketType><username>%s</username>"
	         "<authentication>%s</authentication></%s>",
	         el, type, host, port, sock, user, auth, el);
}

static char *file(const char *servers)
{
	static char b[8192];

	snprintf(b, sizeof(b),
	         "<?xml version=\"1.0\"?><clientConfig version=\"1.1\">"
	         "<emailProvider id=\"example.org\"><domain>example.org"
	         "</domain><displayName>Example</displayName>%s"
	         "</emailProvider></clientConfig>",
	         servers);
	return b;
}

static void test_good(void **state)
{
	char in1[512], in2[512], out1[512], all[2048];
	struct qm_mail_autoconfig ac;
	struct qm_error e;

	(void)state;
	server(in1, sizeof(in1), "incomingServer", "imap", "imap.example.org",
	       "993", "SSL", "%EMAILLOCALPART%", "password-cleartext");
	server(in2, sizeof(in2), "incomingServer", "pop3", "pop.%EMAILDOMAIN%",
	       "995", "SSL", "%EMAILADDRESS%", "OAuth2");
	server(out1, sizeof(out1), "outgoingServer", "smtp", "smtp.example.org",
	       "587", "STARTTLS", "%EMAILADDRESS%", "password-cleartext");
	snprintf(all, sizeof(all), "%s%s%s", in1, in2, out1);
	assert_ok(parse(file(all), "ann@example.org", &ac, &e));
	assert_string_equal(ac.provider_id, "example.org");
	assert_string_equal(ac.display_name, "Example");
	assert_string_equal(ac.imap.host, "imap.example.org");
	assert_int_equal(ac.imap.port, 993);
	assert_int_equal(ac.imap.tls, QM_MAIL_TLS_IMPLICIT);
	assert_string_equal(ac.imap.username, "ann");
	assert_true(ac.imap.password);
	assert_false(ac.imap.oauth2);
	assert_string_equal(ac.pop3.host, "pop.example.org");
	assert_string_equal(ac.pop3.username, "ann@example.org");
	assert_true(ac.pop3.oauth2);
	assert_string_equal(ac.smtp.host, "smtp.example.org");
	assert_int_equal(ac.smtp.tls, QM_MAIL_TLS_STARTTLS);
	assert_string_equal(ac.refused, "");
}

/* The first usable server of a kind wins; a plain one before it is
 * skipped and named, never used. */
static void test_plain_skipped(void **state)
{
	char a[512], b[512], c[512], all[2048];
	struct qm_mail_autoconfig ac;
	struct qm_error e;

	(void)state;
	server(a, sizeof(a), "incomingServer", "imap", "imap.example.org",
	       "143", "plain", "%EMAILADDRESS%", "password-cleartext");
	server(b, sizeof(b), "incomingServer", "imap", "imaps.example.org",
	       "993", "SSL", "%EMAILADDRESS%", "password-cleartext");
	server(c, sizeof(c), "outgoingServer", "smtp", "smtp.example.org",
	       "465", "SSL", "%EMAILADDRESS%", "password-cleartext");
	snprintf(all, sizeof(all), "%s%s%s", a, b, c);
	assert_ok(parse(file(all), "ann@example.org", &ac, &e));
	assert_string_equal(ac.imap.host, "imaps.example.org");
	assert_has(ac.refused, "imap.example.org:143 without TLS");

	/* only plain: refused with the names */
	snprintf(all, sizeof(all), "%s%s", a, c);
	assert_int_equal(parse(file(all), "ann@example.org", &ac, &e),
	                 QM_ERR_DENIED);
	assert_has(e.msg, "imap.example.org:143 without TLS");
	/* an unknown socketType is no TLS either */
	server(a, sizeof(a), "incomingServer", "imap", "imap.example.org",
	       "993", "maybe", "%EMAILADDRESS%", "password-cleartext");
	snprintf(all, sizeof(all), "%s%s", a, c);
	assert_int_equal(parse(file(all), "ann@example.org", &ac, &e),
	                 QM_ERR_DENIED);
	/* SMTP plain alone */
	server(c, sizeof(c), "outgoingServer", "smtp", "smtp.example.org", "25",
	       "plain", "%EMAILADDRESS%", "password-cleartext");
	snprintf(all, sizeof(all), "%s%s", b, c);
	assert_int_equal(parse(file(all), "ann@example.org", &ac, &e),
	                 QM_ERR_DENIED);
	assert_has(e.msg, "SMTP server smtp.example.org:25 without TLS");
}

static void test_hostile(void **state)
{
	static const char *const bad_hosts[] = {"imap.example.org;rm",
	                                        "-imap.example.org",
	                                        "imap..example.org",
	                                        "imap.example.org.",
	                                        "",
	                                        "im ap.example.org",
	                                        "%NOPE%.example.org",
	                                        "imap.exa\xc3\xa9mple.org"};
	char a[512], c[512], all[2048];
	struct qm_mail_autoconfig ac;
	struct qm_error e;

	(void)state;
	server(c, sizeof(c), "outgoingServer", "smtp", "smtp.example.org",
	       "465", "SSL", "%EMAILADDRESS%", "password-cleartext");
	for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
		server(a, sizeof(a), "incomingServer", "imap", bad_hosts[i],
		       "993", "SSL", "%EMAILADDRESS%", "password-cleartext");
		snprintf(all, sizeof(all), "%s%s", a, c);
		assert_int_equal(parse(file(all), "ann@example.org", &ac, &e),
		                 QM_ERR_DENIED);
	}
	static const char *const bad_ports[] = {"0",   "65536", "-1",
	                                        "99x", "",      "993 "};
	for (size_t i = 0; i < sizeof(bad_ports) / sizeof(bad_ports[0]) - 1;
	     i++) {
		server(a, sizeof(a), "incomingServer", "imap",
		       "imap.example.org", bad_ports[i], "SSL",
		       "%EMAILADDRESS%", "password-cleartext");
		snprintf(all, sizeof(all), "%s%s", a, c);
		assert_int_equal(parse(file(all), "ann@example.org", &ac, &e),
		                 QM_ERR_DENIED);
	}
	/* unknown and unclosed variables in the login name */
	server(a, sizeof(a), "incomingServer", "imap", "imap.example.org",
	       "993", "SSL", "%REALNAME%", "password-cleartext");
	snprintf(all, sizeof(all), "%s%s", a, c);
	assert_int_equal(parse(file(all), "ann@example.org", &ac, &e),
	                 QM_ERR_DENIED);
	assert_has(e.msg, "unknown variable");
	server(a, sizeof(a), "incomingServer", "imap", "imap.example.org",
	       "993", "SSL", "%EMAILADDRESS", "password-cleartext");
	snprintf(all, sizeof(all), "%s%s", a, c);
	assert_int_equal(parse(file(all), "ann@example.org", &ac, &e),
	                 QM_ERR_DENIED);
	/* only ways to sign in QMail does not know */
	server(a, sizeof(a), "incomingServer", "imap", "imap.example.org",
	       "993", "SSL", "%EMAILADDRESS%", "GSSAPI");
	snprintf(all, sizeof(all), "%s%s", a, c);
	assert_int_equal(parse(file(all), "ann@example.org", &ac, &e),
	                 QM_ERR_DENIED);

	/* malformed, not a clientConfig, too deep, too big, no servers */
	assert_int_equal(parse("<clientConfig><a></b></clientConfig>",
	                       "ann@example.org", &ac, &e),
	                 QM_ERR_PARSE);
	assert_int_equal(parse("<html><body>hello</body></html>",
	                       "ann@example.org", &ac, &e),
	                 QM_ERR_PARSE);
	assert_int_equal(parse("", "ann@example.org", &ac, &e), QM_ERR_PARSE);
	{
		char deep[4096] = "<clientConfig>";
		size_t l = strlen(deep);

		for (int i = 0; i < 40; i++, l += 3)
			memcpy(deep + l, "<x>", 4);
		assert_int_equal(parse(deep, "ann@example.org", &ac, &e),
		                 QM_ERR_PARSE);
	}
	{
		size_t n = QM_MAIL_AUTOCONFIG_MAX + 1;
		char *big = malloc(n + 1);

		assert_non_null(big);
		memset(big, ' ', n);
		big[n] = '\0';
		memcpy(big, "<clientConfig>", 14);
		qm_error_clear(&e);
		assert_int_equal(qm_mail_autoconfig_parse(
		                     big, n, "ann@example.org", &ac, &e),
		                 QM_ERR_TOOBIG);
		free(big);
	}
	assert_int_equal(parse(file(""), "ann@example.org", &ac, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(parse(file(c), "ann@example.org", &ac, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(parse(file(c), "no address", &ac, &e), QM_ERR_INVAL);
}

/* <oAuth2> is kept whole with https URLs only. */
static void test_oauth(void **state)
{
	char a[512], c[512], all[3072];
	struct qm_mail_autoconfig ac;
	struct qm_error e;

	(void)state;
	server(a, sizeof(a), "incomingServer", "imap", "imap.example.org",
	       "993", "SSL", "%EMAILADDRESS%", "OAuth2");
	server(c, sizeof(c), "outgoingServer", "smtp", "smtp.example.org",
	       "465", "SSL", "%EMAILADDRESS%", "OAuth2");
	snprintf(all, sizeof(all),
	         "<clientConfig><emailProvider id=\"x\">%s%s</emailProvider>"
	         "<oAuth2><issuer>id.example.org</issuer><scope>a b</scope>"
	         "<authURL>https://id.example.org/auth</authURL>"
	         "<tokenURL>https://id.example.org/token</tokenURL></oAuth2>"
	         "</clientConfig>",
	         a, c);
	assert_ok(parse(all, "ann@example.org", &ac, &e));
	assert_string_equal(ac.oauth_issuer, "id.example.org");
	assert_string_equal(ac.oauth_scope, "a b");
	assert_string_equal(ac.oauth_auth_url, "https://id.example.org/auth");
	assert_string_equal(ac.oauth_token_url, "https://id.example.org/token");
	snprintf(all, sizeof(all),
	         "<clientConfig><emailProvider id=\"x\">%s%s</emailProvider>"
	         "<oAuth2><issuer>id.example.org</issuer><scope>a b</scope>"
	         "<authURL>http://id.example.org/auth</authURL>"
	         "<tokenURL>https://id.example.org/token</tokenURL></oAuth2>"
	         "</clientConfig>",
	         a, c);
	assert_ok(parse(all, "ann@example.org", &ac, &e));
	assert_string_equal(ac.oauth_auth_url, "");
	assert_string_equal(ac.oauth_token_url, "");
	assert_has(ac.refused, "not https");
}

static void test_hostname(void **state)
{
	(void)state;
	assert_true(qm_mail_hostname_ok("imap.example.org"));
	assert_true(qm_mail_hostname_ok("localhost"));
	assert_true(qm_mail_hostname_ok("a-b.c1"));
	assert_false(qm_mail_hostname_ok(""));
	assert_false(qm_mail_hostname_ok(NULL));
	assert_false(qm_mail_hostname_ok("a_b.example"));
	assert_false(qm_mail_hostname_ok("a.-b.example"));
	assert_false(qm_mail_hostname_ok("a-.example"));
	assert_false(qm_mail_hostname_ok("example."));
	assert_false(qm_mail_hostname_ok(".example"));
	assert_false(qm_mail_hostname_ok("a/b"));
	{
		char label[80];

		memset(label, 'a', 64);
		label[64] = '\0';
		assert_false(qm_mail_hostname_ok(label));
		label[63] = '\0';
		assert_true(qm_mail_hostname_ok(label));
	}
}

/* RFC 2782 order: lower priority first, then the heavier weight. */
static void test_srv_order(void **state)
{
	struct qm_mail_srv v[4] = {
	    {"c.example", 993, 10, 5},
	    {"a.example", 993, 0, 1},
	    {"d.example", 993, 10, 50},
	    {"b.example", 993, 0, 60},
	};

	(void)state;
	qm_mail_srv_sort(v, 4);
	assert_string_equal(v[0].target, "b.example");
	assert_string_equal(v[1].target, "a.example");
	assert_string_equal(v[2].target, "d.example");
	assert_string_equal(v[3].target, "c.example");
	qm_mail_srv_sort(v, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_plain_skipped),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_oauth),
	    cmocka_unit_test(test_hostname),
	    cmocka_unit_test(test_srv_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
