/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: SMTP server replies as the mail layer meets them (libcurl
 * speaks the protocol; QMail maps failures and keeps the server's reply
 * lines for the error message, flattening control bytes). The input is a
 * scripted server's side (scripted.h): greeting, EHLO, AUTH, MAIL, RCPT,
 * DATA; then the same against qm_mail_smtp_check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mail/mail.h"
#include "scripted.h"

static struct qm_mail_server g_srv;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK || qm_mail_init(&e) != QM_OK)
		fuzz_die("init", &e);
	memset(&g_srv, 0, sizeof(g_srv));
	g_srv.host = "127.0.0.1";
	g_srv.port = scripted_start(SCRIPTED_SMTP);
	g_srv.tls = QM_MAIL_TLS_NONE;
	g_srv.user = "alice@qmail.test";
	g_srv.password = "fuzz-password";
	g_srv.connect_timeout_ms = 2000;
	g_srv.io_timeout_ms = 2000;
	return 0;
}

void fuzz_teardown(void)
{
	scripted_stop();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char msg[] =
	    "From: alice@qmail.test\r\nTo: bob@qmail.test\r\n"
	    "Subject: [QMail encrypted message]\r\n\r\nbody\r\n.dot\r\n";
	const char *rcpts[] = {"bob@qmail.test", "carol@qmail.test"};
	struct qm_error e;
	enum qm_err rc;

	scripted_set(data, size);
	rc = qm_mail_smtp_send(&g_srv, "alice@qmail.test", rcpts, 2, msg,
	                       sizeof(msg) - 1, &e);
	if (rc != QM_OK) {
		for (const char *p = e.msg; *p; p++)
			if ((unsigned char)*p < 0x20 && *p != '\n')
				__builtin_trap(); /* control bytes flattened */
	}
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "  send: %s %s\n", qm_err_str(rc),
		        rc ? qm_error_msg(&e) : "");
	scripted_wait();
	return 0;
}
