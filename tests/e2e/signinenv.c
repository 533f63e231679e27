/* SPDX-License-Identifier: MIT */
/*
 * The world of the browser test of signing in (tests/e2e/signin.mjs): the
 * real mail servers with Dovecot taking OAuth2 tokens (tests/lib/
 * mailserver.h), the OAuth2 authorization server (tests/lib/idp.h), a DNS
 * server and an HTTPS server publishing qmail.test's autoconfig file with
 * its <oAuth2> section (tests/lib/dnsserver.h, httpsfiles.h), and a web
 * GUI server (qm_web_server_start, the code `qmail web` runs) over a new
 * home whose discovery asks only those servers (discover.* settings). The
 * home is made here with the passphrase and left locked: the page unlocks
 * it. Prints one JSON line with the addresses, then obeys commands on
 * stdin, one per line, answering "ok ..." or "error ...":
 *   revoke        withdraws every grant alice gave QMail at the
 *                 authorization server (as a person does who removes an
 *                 app's access at the provider): the next renewal fails
 *   deliver N     hands N plain messages to alice over the MTA ("Welcome
 *                 note K", K counting on from the messages she has) and
 *                 waits for their delivery
 *   quit          stops everything
 * Test code only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "client/client.h"
#include "dnsserver.h"
#include "harness.h"
#include "httpsfiles.h"
#include "idp.h"
#include "mailserver.h"
#include "web/web.h"

#define PASSPHRASE "correct horse battery staple"

static struct qmt_mail mail;
static struct qmt_idp idp;
static struct qmt_dns dns;
static struct qmt_https files;
static struct qm_client *client;
static struct qm_web_server *web;
static char home[512], bundle[512];

/* The autoconfig file of qmail.test: the real servers' loopback ports,
 * OAuth2 at the authorization server. */
static int publish(void)
{
	char xml[4096];
	int n = snprintf(
	    xml, sizeof(xml),
	    "<?xml version=\"1.0\"?>\n"
	    "<clientConfig version=\"1.1\">\n"
	    " <emailProvider id=\"qmail.test\">\n"
	    "  <domain>qmail.test</domain>\n"
	    "  <displayName>QMail Test Mail</displayName>\n"
	    "  <incomingServer type=\"imap\">\n"
	    "   <hostname>127.0.0.1</hostname><port>%d</port>\n"
	    "   <socketType>SSL</socketType>\n"
	    "   <username>%%EMAILADDRESS%%</username>\n"
	    "   <authentication>OAuth2</authentication>\n"
	    "  </incomingServer>\n"
	    "  <outgoingServer type=\"smtp\">\n"
	    "   <hostname>127.0.0.1</hostname><port>%d</port>\n"
	    "   <socketType>STARTTLS</socketType>\n"
	    "   <username>%%EMAILADDRESS%%</username>\n"
	    "   <authentication>OAuth2</authentication>\n"
	    "  </outgoingServer>\n"
	    " </emailProvider>\n"
	    " <oAuth2>\n"
	    "  <issuer>%s</issuer>\n"
	    "  <scope>" QMT_IDP_SCOPE "</scope>\n"
	    "  <authURL>%s</authURL>\n"
	    "  <tokenURL>%s</tokenURL>\n"
	    " </oAuth2>\n"
	    "</clientConfig>\n",
	    mail.imaps_port, mail.submission_port, idp.issuer, idp.auth_url,
	    idp.token_url);

	if (n < 0 || (size_t)n >= sizeof(xml))
		return -1;
	return qmt_https_serve(&files, "autoconfig.qmail.test",
	                       "/mail/config-v1.1.xml", 200, xml, (size_t)n,
	                       NULL);
}

/* One file holding both CAs: the mail servers' (which also signed the
 * authorization server) and the autoconfig server's. */
static int make_bundle(void)
{
	const char *in[] = {mail.ca_file, files.ca_file};
	FILE *o;

	snprintf(bundle, sizeof(bundle), "%s/discover-ca.pem", mail.dir);
	o = fopen(bundle, "w");
	if (!o)
		return -1;
	for (size_t i = 0; i < 2; i++) {
		char buf[4096];
		size_t n;
		FILE *f = fopen(in[i], "r");

		if (!f) {
			fclose(o);
			return -1;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, o);
		fclose(f);
	}
	return fclose(o) == 0 ? 0 : -1;
}

/* A new home with the passphrase, discovery pointed at the test's DNS
 * and HTTPS servers, left locked. */
static int make_home(void)
{
	struct qm_client_opts co;
	struct qm_error e;
	char port[16];

	snprintf(home, sizeof(home), "%s/home", mail.dir);
	memset(&co, 0, sizeof(co));
	co.home = home;
	snprintf(port, sizeof(port), "%d", files.port);
	if (qm_client_open(&co, &client, &e) != QM_OK ||
	    qm_client_init(client, PASSPHRASE, strlen(PASSPHRASE), &e) !=
	        QM_OK ||
	    qm_client_setting_set(client, 0, QM_CLIENT_SET_DISCOVER_DNS,
	                          dns.server, &e) != QM_OK ||
	    qm_client_setting_set(client, 0, QM_CLIENT_SET_DISCOVER_PORT, port,
	                          &e) != QM_OK ||
	    qm_client_setting_set(client, 0, QM_CLIENT_SET_DISCOVER_CA, bundle,
	                          &e) != QM_OK) {
		fprintf(stderr, "signinenv: %s\n", qm_error_msg(&e));
		return -1;
	}
	qm_client_lock(client);
	return 0;
}

/* n plain messages to alice through the MTA; waits for delivery. */
static int deliver(int n)
{
	int have = qmt_mail_files(&mail, 0, NULL, NULL, 0);

	for (int i = 0; i < n; i++) {
		char msg[512];

		snprintf(msg, sizeof(msg),
		         "From: Bob <bob@qmail.test>\r\nTo: alice@qmail.test\r\n"
		         "Subject: Welcome note %d\r\nMessage-ID: "
		         "<welcome-%d-%d@qmail.test>\r\n\r\nHello Alice, "
		         "note %d.\r\n",
		         have + i + 1, have, i, have + i + 1);
		if (qmt_mail_deliver(&mail, "bob@qmail.test",
		                     "alice@qmail.test", msg, strlen(msg)) != 0)
			return -1;
	}
	return qmt_mail_wait_files(&mail, 0, NULL, have + n, 60000);
}

int main(void)
{
	static const char *const hosts[] = {"autoconfig.qmail.test", NULL};
	struct qm_web_config wc;
	struct qm_error e;
	char line[256], records[96];
	long long count;
	const char *rec[2];
	int rc = 1, r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	/* one CA for every server */
	r = qmt_idp_mail_start(&idp, NULL, &mail, 1);
	if (r == 0)
		r = qmt_https_start(&files, hosts);
	if (r == 0) {
		snprintf(records, sizeof(records),
		         "--host-record=autoconfig.qmail.test,127.0.0.1");
		rec[0] = records;
		rec[1] = NULL;
		r = qmt_dns_start(&dns, rec);
	}
	if (r == 1) {
		printf("{\"skip\": \"this machine cannot run the test's "
		       "servers\"}\n");
		fflush(stdout);
		rc = 77;
		goto out;
	}
	if (r != 0 || publish() != 0 || make_bundle() != 0 ||
	    make_home() != 0)
		goto out;
	memset(&wc, 0, sizeof(wc));
	if (qm_web_server_start(&wc, client, &web, &e) != QM_OK) {
		fprintf(stderr, "signinenv: %s\n", qm_error_msg(&e));
		goto out;
	}
	printf("{\"url\":\"%s\",\"passphrase\":\"" PASSPHRASE "\","
	       "\"address\":\"alice@qmail.test\",\"user\":\"alice\","
	       "\"password\":\"%s\",\"client_id\":\"" QMT_IDP_CLIENT "\","
	       "\"issuer\":\"%s\",\"mail_ca\":\"%s\"}\n",
	       qm_web_server_url(web), qmt_mail_password(0), idp.issuer,
	       mail.ca_file);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
		if (strcmp(line, "revoke") == 0)
			r = qmt_idp_revoke_user(&idp, "alice") >= 0 ? 0 : -1;
		else if (strncmp(line, "deliver ", 8) == 0)
			r = qm_parse_ll(line + 8, 0, 1000, &count, NULL)
			        ? -1
			        : deliver((int)count);
		else
			r = -2;
		printf(r >= 0 ? "ok %d\n" : "error %d\n", r);
		fflush(stdout);
	}
	rc = 0;
out:
	qm_web_server_stop(&web);
	qm_client_free(&client);
	qmt_dns_stop(&dns);
	qmt_https_stop(&files);
	qmt_idp_stop(&idp);
	qmt_mail_stop(&mail);
	curl_global_cleanup();
	return rc;
}
