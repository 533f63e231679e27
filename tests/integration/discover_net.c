/* SPDX-License-Identifier: MIT */
/*
 * Account discovery against real servers on loopback: dnsmasq answering
 * SRV, MX and A records (tests/lib/dnsserver.h) and an HTTPS server for
 * autoconfig files (tests/lib/httpsfiles.h, libmicrohttpd with the tests'
 * CA). The engine is pointed at them by its settings discover.dns_server,
 * discover.https_port and discover.ca_file. Each domain of *.test stands
 * for one case: the autoconfig host found and preferred, the well-known
 * path, SRV records, MX guessing, and the hostile ones (plain text
 * offered, a redirect to http, a huge file, bad XML, odd host names).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "client/client.h"
#include "dnsserver.h"
#include "harness.h"
#include "httpsfiles.h"
#include "mail/mail.h"
#include "qmtest.h"

#define AC_PATH "/mail/config-v1.1.xml"
#define WK_PATH "/.well-known/autoconfig/mail/config-v1.1.xml"

static struct qmt_dns dns;
static struct qmt_https web;
static struct qm_client *client;
static char home[320];
static int ready;

static const char good_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<clientConfig version=\"1.1\">\n"
    " <emailProvider id=\"ac1.test\">\n"
    "  <domain>ac1.test</domain>\n"
    "  <displayName>AC One Mail</displayName>\n"
    "  <incomingServer type=\"imap\">\n"
    "   <hostname>imap.ac1.test</hostname><port>993</port>\n"
    "   <socketType>SSL</socketType>\n"
    "   <username>%EMAILLOCALPART%</username>\n"
    "   <authentication>OAuth2</authentication>\n"
    "   <authentication>password-cleartext</authentication>\n"
    "  </incomingServer>\n"
    "  <incomingServer type=\"pop3\">\n"
    "   <hostname>pop.%EMAILDOMAIN%</hostname><port>995</port>\n"
    "   <socketType>SSL</socketType>\n"
    "   <username>%EMAILADDRESS%</username>\n"
    "   <authentication>password-cleartext</authentication>\n"
    "  </incomingServer>\n"
    "  <outgoingServer type=\"smtp\">\n"
    "   <hostname>smtp.ac1.test</hostname><port>587</port>\n"
    "   <socketType>STARTTLS</socketType>\n"
    "   <username>%EMAILLOCALPART%</username>\n"
    "   <authentication>OAuth2</authentication>\n"
    "  </outgoingServer>\n"
    " </emailProvider>\n"
    " <oAuth2>\n"
    "  <issuer>login.ac1.test</issuer>\n"
    "  <scope>mail offline_access</scope>\n"
    "  <authURL>https://login.ac1.test/authorize</authURL>\n"
    "  <tokenURL>https://login.ac1.test/token</tokenURL>\n"
    " </oAuth2>\n"
    "</clientConfig>\n";

/* A config whose one of each kind is for the given host, TLS as given. */
static char *config(const char *imap_host, const char *imap_port,
                    const char *imap_socket, const char *smtp_host,
                    const char *smtp_port, const char *smtp_socket)
{
	static char buf[8][2048];
	static int k;
	char *b = buf[k++ % 8];

	snprintf(b, sizeof(buf[0]),
	         "<clientConfig version=\"1.1\"><emailProvider id=\"x\">"
	         "<incomingServer type=\"imap\"><hostname>%s</hostname>"
	         "<port>%s</port><socketType>%s</socketType>"
	         "<username>%%EMAILADDRESS%%</username>"
	         "<authentication>password-cleartext</authentication>"
	         "</incomingServer>"
	         "<outgoingServer type=\"smtp\"><hostname>%s</hostname>"
	         "<port>%s</port><socketType>%s</socketType>"
	         "<username>%%EMAILADDRESS%%</username>"
	         "<authentication>password-cleartext</authentication>"
	         "</outgoingServer></emailProvider></clientConfig>",
	         imap_host, imap_port, imap_socket, smtp_host, smtp_port,
	         smtp_socket);
	return b;
}

static int serve(const char *host, const char *path, int status,
                 const char *body, const char *location)
{
	return qmt_https_serve(&web, host, path, status, body,
	                       body ? strlen(body) : 0, location);
}

static int group_setup(void **state)
{
	static const char *const hosts[] = {"autoconfig.ac1.test",
	                                    "ac1.test",
	                                    "autoconfig.wk.test",
	                                    "wk.test",
	                                    "autoconfig.plain.test",
	                                    "autoconfig.redir.test",
	                                    "redir.test",
	                                    "autoconfig.big.test",
	                                    "big.test",
	                                    "autoconfig.odd.test",
	                                    NULL};
	static const char *const records[] = {
	    "--host-record=autoconfig.ac1.test,127.0.0.1",
	    "--host-record=ac1.test,127.0.0.1",
	    "--srv-host=_imaps._tcp.ac1.test,imap.srv-loses.test,993",
	    "--srv-host=_submissions._tcp.ac1.test,smtp.srv-loses.test,465",
	    "--host-record=autoconfig.wk.test,127.0.0.1",
	    "--host-record=wk.test,127.0.0.1",
	    "--srv-host=_imaps._tcp.srv.test,imap-b.srv.test,993,10,5",
	    "--srv-host=_imaps._tcp.srv.test,imap-a.srv.test,993,0,5",
	    "--srv-host=_imap._tcp.srv.test,imap-starttls.srv.test,143",
	    "--srv-host=_pop3s._tcp.srv.test",
	    "--srv-host=_pop3._tcp.srv.test,pop.srv.test,110",
	    "--srv-host=_submissions._tcp.srv.test",
	    "--srv-host=_submission._tcp.srv.test,smtp.srv.test,587",
	    "--srv-host=_imaps._tcp.half.test,imap.half.test,993",
	    "--mx-host=mx.test,alt1.aspmx.l.google.com,20",
	    "--mx-host=mx.test,aspmx.l.google.com,10",
	    "--mx-host=m365.test,m365-test.mail.protection.outlook.com,0",
	    "--mx-host=other.test,mx.other.test,10",
	    "--host-record=autoconfig.plain.test,127.0.0.1",
	    "--srv-host=_imaps._tcp.plain.test,imap.plain.test,993",
	    "--srv-host=_submissions._tcp.plain.test,smtp.plain.test,465",
	    "--host-record=autoconfig.redir.test,127.0.0.1",
	    "--host-record=redir.test,127.0.0.1",
	    "--host-record=autoconfig.big.test,127.0.0.1",
	    "--host-record=big.test,127.0.0.1",
	    "--host-record=autoconfig.odd.test,127.0.0.1",
	    NULL};
	struct qm_client_opts o = {0};
	char port[16], *big;
	struct qm_error e;
	int r;

	(void)state;
	if (qm_core_init(&e) != QM_OK || qm_mail_init(&e) != QM_OK)
		return -1;
	r = qmt_dns_start(&dns, records);
	if (r == 1)
		return 0; /* dnsmasq missing: every test skips */
	if (r < 0)
		return -1;
	if (qmt_https_start(&web, hosts) != 0)
		return -1;
	/* ac1: both places have a file; autoconfig.DOMAIN must win */
	serve("autoconfig.ac1.test", AC_PATH, 200, good_xml, NULL);
	serve("ac1.test", WK_PATH, 200,
	      config("imap.wellknown-loses.test", "993", "SSL",
	             "smtp.wellknown-loses.test", "465", "SSL"),
	      NULL);
	/* wk: autoconfig.wk.test answers 404, the well-known path has it */
	serve("wk.test", WK_PATH, 200,
	      config("imap.wk.test", "993", "SSL", "smtp.wk.test", "587",
	             "STARTTLS"),
	      NULL);
	/* plain: the domain's own file offers plain text only */
	serve("autoconfig.plain.test", AC_PATH, 200,
	      config("imap.plain.test", "143", "plain", "smtp.plain.test", "25",
	             "plain"),
	      NULL);
	/* redir: both places send the client to http:// */
	serve("autoconfig.redir.test", AC_PATH, 301, "moved",
	      "http://autoconfig.redir.test/mail/config-v1.1.xml");
	serve("redir.test", WK_PATH, 302, "moved",
	      "http://redir.test/.well-known/autoconfig/mail/"
	      "config-v1.1.xml");
	/* big: 100 KiB of valid-looking XML; the well-known one is broken */
	big = malloc(100 * 1024 + 1);
	if (!big)
		return -1;
	memset(big, ' ', 100 * 1024);
	memcpy(big, "<clientConfig>", 14);
	big[100 * 1024] = '\0';
	serve("autoconfig.big.test", AC_PATH, 200, big, NULL);
	free(big);
	serve("big.test", WK_PATH, 200,
	      "<clientConfig><emailProvider><incomingServer type=\"imap\">"
	      "<hostname>imap.big.test</hostname></emailProvider>",
	      NULL);
	/* odd: a host name with a shell in it, a port out of range, an
	 * unknown variable */
	serve("autoconfig.odd.test", AC_PATH, 200,
	      "<clientConfig><emailProvider id=\"odd\">"
	      "<incomingServer type=\"imap\"><hostname>imap.odd.test;rm -rf "
	      "/</hostname><port>993</port><socketType>SSL</socketType>"
	      "</incomingServer>"
	      "<incomingServer type=\"pop3\"><hostname>pop.odd.test"
	      "</hostname><port>99999</port><socketType>SSL</socketType>"
	      "</incomingServer>"
	      "<incomingServer type=\"imap\"><hostname>imap2.odd.test"
	      "</hostname><port>993</port><socketType>SSL</socketType>"
	      "<username>%EMAILSECRET%</username></incomingServer>"
	      "<outgoingServer type=\"smtp\"><hostname>smtp.odd.test"
	      "</hostname><port>465</port><socketType>SSL</socketType>"
	      "</outgoingServer></emailProvider></clientConfig>",
	      NULL);

	if (qmt_tmpdir("discover-home", home, sizeof(home)) < 0)
		return -1;
	o.home = home;
	if (qm_client_open(&o, &client, &e) != QM_OK)
		return -1;
	snprintf(port, sizeof(port), "%d", web.port);
	if (qm_client_setting_set(client, 0, QM_CLIENT_SET_DISCOVER_DNS,
	                          dns.server, &e) ||
	    qm_client_setting_set(client, 0, QM_CLIENT_SET_DISCOVER_PORT, port,
	                          &e) ||
	    qm_client_setting_set(client, 0, QM_CLIENT_SET_DISCOVER_CA,
	                          web.ca_file, &e)) {
		fprintf(stderr, "settings: %s\n", qm_error_msg(&e));
		return -1;
	}
	ready = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	qm_client_free(&client);
	if (home[0] && !getenv("QMT_KEEP"))
		qmt_rmtree(home);
	if (web.dir[0])
		qmt_https_stop(&web);
	qmt_dns_stop(&dns);
	return 0;
}

#define NEED_SERVERS()                                                         \
	do {                                                                   \
		if (!ready)                                                    \
			skip();                                                \
	} while (0)

static enum qm_err discover(const char *addr, struct qm_client_discovery *d,
                            struct qm_error *e)
{
	qm_error_clear(e);
	return qm_client_discover(client, addr, d, NULL, NULL, e);
}

/* The registry answers for its domains without asking the network: the
 * DNS server sees no query for them. */
static void test_registry(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_ok(discover("someone@gmail.com", &d, &e));
	assert_int_equal(d.found, QM_FOUND_REGISTRY);
	assert_string_equal(d.provider, "gmail");
	assert_string_equal(d.imap.host, "imap.gmail.com");
	assert_string_equal(d.oauth.scope, "https://mail.google.com/");
	assert_ok(discover("someone@hotmail.com", &d, &e));
	assert_string_equal(d.provider, "outlook");
	assert_int_equal(d.smtp.tls, QM_TLS_STARTTLS);
	assert_ok(discover("someone@ymail.com", &d, &e));
	assert_string_equal(d.provider, "yahoo");
	assert_string_equal(d.oauth.scope, "mail-w");
	assert_string_equal(d.oauth.device_url, "");
}

/* autoconfig.DOMAIN is asked first and wins over the well-known path and
 * the domain's SRV records; %VARIABLES% and <oAuth2> are read. */
static void test_autoconfig_preferred(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_ok(discover("ann@ac1.test", &d, &e));
	assert_int_equal(d.found, QM_FOUND_AUTOCONFIG);
	assert_has(d.where, "https://autoconfig.ac1.test:");
	assert_has(d.where, "emailaddress=ann%40ac1.test");
	assert_string_equal(d.imap.host, "imap.ac1.test");
	assert_int_equal(d.imap.port, 993);
	assert_int_equal(d.imap.tls, QM_TLS_IMPLICIT);
	assert_string_equal(d.pop3.host, "pop.ac1.test");
	assert_string_equal(d.smtp.host, "smtp.ac1.test");
	assert_int_equal(d.smtp.tls, QM_TLS_STARTTLS);
	assert_string_equal(d.username, "ann");
	assert_string_equal(d.provider_name, "AC One Mail");
	assert_true(d.oauth2);
	assert_true(d.password);
	assert_string_equal(d.oauth.auth_url,
	                    "https://login.ac1.test/authorize");
	assert_string_equal(d.oauth.token_url, "https://login.ac1.test/token");
	assert_string_equal(d.oauth.scope, "mail offline_access");
	assert_int_equal(qmt_https_hits(&web, "ac1.test", WK_PATH), 0);
	assert_true(qmt_https_hits(&web, "autoconfig.ac1.test", AC_PATH) >= 1);
}

/* autoconfig.wk.test has no file (404): the well-known path is next. */
static void test_wellknown(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_ok(discover("bo@wk.test", &d, &e));
	assert_int_equal(d.found, QM_FOUND_WELLKNOWN);
	assert_has(d.where, "https://wk.test:");
	assert_has(d.where, WK_PATH);
	assert_string_equal(d.imap.host, "imap.wk.test");
	assert_string_equal(d.smtp.host, "smtp.wk.test");
	assert_int_equal(d.smtp.port, 587);
	assert_int_equal(d.smtp.tls, QM_TLS_STARTTLS);
	assert_string_equal(d.username, "bo@wk.test");
	assert_has(d.notes, "HTTP 404");
}

/* No autoconfig host: the SRV records, in priority order, implicit TLS
 * before STARTTLS (RFC 8314), "." meaning not offered. */
static void test_srv(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_ok(discover("cy@srv.test", &d, &e));
	assert_int_equal(d.found, QM_FOUND_SRV);
	assert_string_equal(d.where, "SRV _imaps._tcp.srv.test");
	assert_string_equal(d.imap.host, "imap-a.srv.test");
	assert_int_equal(d.imap.port, 993);
	assert_int_equal(d.imap.tls, QM_TLS_IMPLICIT);
	/* _pop3s is ".": the STARTTLS one, never plain */
	assert_string_equal(d.pop3.host, "pop.srv.test");
	assert_int_equal(d.pop3.tls, QM_TLS_STARTTLS);
	/* _submissions is ".": submission with STARTTLS required */
	assert_string_equal(d.smtp.host, "smtp.srv.test");
	assert_int_equal(d.smtp.port, 587);
	assert_int_equal(d.smtp.tls, QM_TLS_STARTTLS);
	assert_string_equal(d.username, "cy@srv.test");
	/* an incoming server alone is not enough */
	assert_int_equal(discover("di@half.test", &d, &e), QM_ERR_NOTFOUND);
	assert_has(e.msg, "no SMTP submission server");
}

/* The MX says who hosts the domain: Google Workspace, Microsoft 365. */
static void test_mx(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_ok(discover("ed@mx.test", &d, &e));
	assert_int_equal(d.found, QM_FOUND_MX);
	assert_string_equal(d.where, "MX aspmx.l.google.com -> gmail");
	assert_string_equal(d.provider, "gmail");
	assert_string_equal(d.imap.host, "imap.gmail.com");
	assert_string_equal(d.oauth.extra_params,
	                    "access_type=offline&prompt=consent");
	assert_ok(discover("fi@m365.test", &d, &e));
	assert_string_equal(d.provider, "microsoft365");
	assert_string_equal(d.smtp.host, "smtp.office365.com");
	assert_string_equal(d.oauth.scope,
	                    "https://outlook.office.com/IMAP.AccessAsUser.All "
	                    "https://outlook.office.com/POP.AccessAsUser.All "
	                    "https://outlook.office.com/SMTP.Send "
	                    "offline_access");
	assert_int_equal(discover("gu@other.test", &d, &e), QM_ERR_NOTFOUND);
	assert_has(e.msg, "mx.other.test");
}

/* The domain's own file offering plain text is refused with the servers
 * named, and discovery stops there: no silent fallback to the SRV
 * records the domain also has. */
static void test_plain_refused(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(discover("ha@plain.test", &d, &e), QM_ERR_DENIED);
	assert_has(e.msg, "imap.plain.test:143 without TLS");
	assert_has(e.msg, "smtp.plain.test:25 without TLS");
	assert_int_equal(d.found, QM_FOUND_NONE);
	assert_string_equal(d.imap.host, "");
}

/* A redirect from the HTTPS autoconfig to http:// is not followed. */
static void test_http_redirect_refused(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(discover("ix@redir.test", &d, &e), QM_ERR_NOTFOUND);
	assert_has(e.msg, "redirects to http://autoconfig.redir.test/");
	assert_has(e.msg, "refused");
	assert_has(e.msg, "redirects to http://redir.test/");
	assert_int_equal(qmt_https_hits(&web, "autoconfig.redir.test", AC_PATH),
	                 1);
}

/* A file past 64 KiB and a malformed one are refused, not parsed. */
static void test_big_and_malformed(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(discover("jo@big.test", &d, &e), QM_ERR_NOTFOUND);
	assert_has(e.msg, "larger than 65536 bytes");
	assert_has(e.msg, "not valid");
}

/* Odd host names, ports and variables: each server refused and named. */
static void test_odd_values(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(discover("ka@odd.test", &d, &e), QM_ERR_DENIED);
	assert_has(e.msg, "not a host name");
	assert_has(e.msg, "port \"99999\"");
	assert_has(e.msg, "unknown variable");
	assert_int_equal(discover("not-an-address", &d, &e), QM_ERR_INVAL);
	assert_int_equal(discover("x@bad_host!.test", &d, &e), QM_ERR_INVAL);
}

/* A DNS server that does not answer costs one time-out, not one per
 * look-up, and is named. */
static void test_dns_down(void **state)
{
	struct qm_client_discovery d;
	struct qm_error e;
	char dead[32];
	time_t t0;

	(void)state;
	NEED_SERVERS();
	snprintf(dead, sizeof(dead), "127.0.0.1:%d", qmt_free_port());
	assert_ok(qm_client_setting_set(client, 0, QM_CLIENT_SET_DISCOVER_DNS,
	                                dead, &e));
	t0 = time(NULL);
	assert_int_equal(discover("lu@srv.test", &d, &e), QM_ERR_NOTFOUND);
	assert_true(time(NULL) - t0 < 15);
	assert_has(e.msg, "did not answer");
	/* the registry still answers */
	assert_ok(discover("lu@gmail.com", &d, &e));
	assert_ok(qm_client_setting_set(client, 0, QM_CLIENT_SET_DISCOVER_DNS,
	                                dns.server, &e));
	assert_ok(discover("lu@srv.test", &d, &e));
}

/* The command line shows what was found and where. */
static void test_cli(void **state)
{
	const char *args[] = {"account", "discover", "ann@ac1.test"};
	char *out = NULL;

	(void)state;
	NEED_SERVERS();
	assert_int_equal(qmt_qmail(home, &out, args, 3), 0);
	assert_has(out, "found\tautoconfig\n");
	assert_has(out, "imap\timap.ac1.test:993 tls\n");
	assert_has(out, "smtp\tsmtp.ac1.test:587 starttls\n");
	assert_has(out, "oauth2.token_url\thttps://login.ac1.test/token\n");
	free(out);
	out = NULL;
	args[2] = "ha@plain.test";
	assert_int_equal(qmt_qmail(home, &out, args, 3), 3);
	assert_has(out, "without TLS");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_registry),
	    cmocka_unit_test(test_autoconfig_preferred),
	    cmocka_unit_test(test_wellknown),
	    cmocka_unit_test(test_srv),
	    cmocka_unit_test(test_mx),
	    cmocka_unit_test(test_plain_refused),
	    cmocka_unit_test(test_http_redirect_refused),
	    cmocka_unit_test(test_big_and_malformed),
	    cmocka_unit_test(test_odd_values),
	    cmocka_unit_test(test_dns_down),
	    cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
