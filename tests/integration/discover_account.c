/* SPDX-License-Identifier: MIT */
/*
 * An account added from discovery works: dnsmasq on loopback answers the
 * SRV records of qmail.test with the real Dovecot's ports (implicit TLS
 * IMAP, submission), `qmail account add --address alice@qmail.test` with
 * no server option finds them, `qmail account test` passes and `qmail
 * sync` fetches the mail waiting in alice's INBOX.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/client.h"
#include "dnsserver.h"
#include "harness.h"
#include "mailserver.h"
#include "qmtest.h"

static struct qmt_mail srv;
static struct qmt_dns dns;
static char home[320], pwfile[320], passfile[320];
static int ready;

static int group_setup(void **state)
{
	static char rec[4][160];
	const char *records[5];
	int r;

	(void)state;
	r = qmt_mail_start(&srv);
	if (r == 1) {
		fprintf(stderr, "mail servers unavailable here: skipping\n");
		srv.dir[0] = '\0';
		return 0;
	}
	if (r < 0)
		return -1;
	snprintf(rec[0], sizeof(rec[0]),
	         "--srv-host=_imaps._tcp.%s,localhost,%d", QMT_MAIL_DOMAIN,
	         srv.imaps_port);
	snprintf(rec[1], sizeof(rec[1]),
	         "--srv-host=_imap._tcp.%s,localhost,%d", QMT_MAIL_DOMAIN,
	         srv.imap_port);
	snprintf(rec[2], sizeof(rec[2]),
	         "--srv-host=_submission._tcp.%s,localhost,%d", QMT_MAIL_DOMAIN,
	         srv.submission_port);
	snprintf(rec[3], sizeof(rec[3]),
	         "--srv-host=_pop3s._tcp.%s,localhost,%d", QMT_MAIL_DOMAIN,
	         srv.pop3s_port);
	for (int i = 0; i < 4; i++)
		records[i] = rec[i];
	records[4] = NULL;
	r = qmt_dns_start(&dns, records);
	if (r == 1)
		return 0;
	if (r < 0)
		return -1;
	snprintf(home, sizeof(home), "%s/home", srv.dir);
	snprintf(pwfile, sizeof(pwfile), "%s/alice-pw", srv.dir);
	snprintf(passfile, sizeof(passfile), "%s/passphrase", srv.dir);
	if (qmt_write_file(pwfile, qmt_mail_password(0)) ||
	    qmt_write_file(passfile, "a long passphrase for discovery\n"))
		return -1;
	setenv("QMAIL_PASSPHRASE_FILE", passfile, 1);
	setenv("QM_STORE_KDF", "fast", 1);
	ready = 1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	qmt_dns_stop(&dns);
	qmt_mail_stop(&srv);
	return 0;
}

/* Runs qmail with the NULL-terminated arguments; its output into *out. */
static int qm(char **out, ...)
{
	va_list ap;
	int rc;

	free(*out);
	*out = NULL;
	va_start(ap, out);
	rc = qmt_qmail_va(home, out, ap);
	va_end(ap);
	if (rc != 0)
		fprintf(stderr, "qmail said:\n%s\n", *out ? *out : "");
	return rc;
}

static void test_add_from_srv_and_sync(void **state)
{
	char port[16], want[128], *out = NULL;

	(void)state;
	if (!ready)
		skip();
	assert_int_equal(qmt_mail_fill(&srv, 0, "INBOX", "disc", 2, 2000), 0);
	assert_int_equal(qm(&out, "init", NULL), 0);
	assert_int_equal(
	    qm(&out, "config", "set", "discover.dns_server", dns.server, NULL),
	    0);

	/* what was found and where, before anything is saved */
	assert_int_equal(
	    qm(&out, "account", "discover", qmt_mail_addr(0), NULL), 0);
	assert_has(out, "found\tSRV\n");
	assert_has(out, "where\tSRV _imaps._tcp.qmail.test\n");
	snprintf(want, sizeof(want), "imap\tlocalhost:%d tls\n",
	         srv.imaps_port);
	assert_has(out, want);
	snprintf(want, sizeof(want), "smtp\tlocalhost:%d starttls\n",
	         srv.submission_port);
	assert_has(out, want);

	/* no server option: discovery fills them */
	assert_int_equal(qm(&out, "account", "add", "--address",
	                    qmt_mail_addr(0), "--password-file", pwfile,
	                    "--mail-ca", srv.ca_file, NULL),
	                 0);
	assert_has(out, "servers found: SRV _imaps._tcp.qmail.test");
	assert_int_equal(qm(&out, "account", "list", NULL), 0);
	snprintf(port, sizeof(port), ":%d (tls)", srv.imaps_port);
	assert_has(out, port);
	assert_int_equal(qm(&out, "account", "test", NULL), 0);
	assert_int_equal(qm(&out, "sync", NULL), 0);
	assert_int_equal(qm(&out, "list", NULL), 0);
	assert_has(out, "fill-1");
	free(out);
}

/* The wizard's way: discover, try what was found with the password given,
 * nothing saved; a wrong password says so for each server. */
static void test_try_before_saving(void **state)
{
	struct qm_client_opts o = {0};
	struct qm_client_check smtp, in;
	struct qm_client_discovery d;
	struct qm_store_account a;
	struct qm_client *c = NULL;
	struct qm_store_account *list = NULL;
	char h2[340];
	struct qm_error e;
	size_t n = 0;

	(void)state;
	if (!ready)
		skip();
	snprintf(h2, sizeof(h2), "%s/home-try", srv.dir);
	o.home = h2;
	qm_error_clear(&e);
	assert_ok(qm_core_init(&e));
	assert_ok(qm_client_open(&o, &c, &e));
	assert_ok(qm_client_setting_set(c, 0, QM_CLIENT_SET_DISCOVER_DNS,
	                                dns.server, &e));
	assert_ok(qm_client_discover(c, qmt_mail_addr(0), &d, NULL, NULL, &e));
	assert_int_equal(d.found, QM_FOUND_SRV);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, qmt_mail_addr(0), sizeof(a.address));
	qm_client_discovery_apply(&d, &a);
	assert_ok(qm_client_account_probe(
	    c, &a, srv.ca_file, qmt_mail_password(0),
	    strlen(qmt_mail_password(0)), &smtp, &in, &e));
	assert_true(smtp.tried && smtp.ok);
	assert_true(in.tried && in.ok);
	assert_has(in.message, "IMAP localhost:");
	assert_ok(qm_client_account_probe(c, &a, srv.ca_file, "wrong", 5, &smtp,
	                                  &in, &e));
	assert_true(smtp.tried && !smtp.ok);
	assert_true(in.tried && !in.ok);
	/* without the test CA the certificate is refused */
	assert_ok(qm_client_account_probe(c, &a, NULL, qmt_mail_password(0),
	                                  strlen(qmt_mail_password(0)), &smtp,
	                                  &in, &e));
	assert_false(in.ok);
	assert_ok(qm_client_account_list(c, &list, &n, &e));
	assert_int_equal(n, 0);
	free(list);
	qm_client_free(&c);
}

/* Nothing found: `account add` says so and adds nothing. */
static void test_add_nothing_found(void **state)
{
	char *out = NULL;

	(void)state;
	if (!ready)
		skip();
	assert_int_equal(
	    qm(&out, "init", NULL) == 0 || strstr(out, "already") != NULL, 1);
	assert_int_equal(
	    qm(&out, "config", "set", "discover.dns_server", dns.server, NULL),
	    0);
	assert_true(qm(&out, "account", "add", "--address", "zed@nowhere.test",
	               "--password-file", pwfile, NULL) != 0);
	assert_has(out, "no servers found for nowhere.test");
	assert_has(out, "--smtp");
	assert_int_equal(qm(&out, "account", "list", NULL), 0);
	assert_null(strstr(out, "zed@nowhere.test"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_from_srv_and_sync),
	    cmocka_unit_test(test_try_before_saving),
	    cmocka_unit_test(test_add_nothing_found),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
