/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: POP3 server replies as the mail layer reads them (libcurl
 * speaks the protocol; QMail parses the UIDL listing and takes the RETR
 * body). The input is a scripted server's side of a session (scripted.h):
 * login, UIDL, RETR of the first messages, DELE.
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
	g_srv.port = scripted_start(SCRIPTED_POP3);
	g_srv.tls = QM_MAIL_TLS_NONE;
	g_srv.user = "bob@qmail.test";
	g_srv.password = "fuzz-password";
	g_srv.connect_timeout_ms = 2000;
	g_srv.io_timeout_ms = 2000;
	g_srv.max_message = 1u << 20;
	return 0;
}

void fuzz_teardown(void)
{
	scripted_stop();
}

static void note(const char *what, enum qm_err rc, const struct qm_error *e)
{
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "  %s: %s %s\n", what, qm_err_str(rc),
		        rc ? qm_error_msg(e) : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_mail_pop3 *p = NULL;
	struct qm_mail_pop3_msg *m = NULL;
	struct qm_error e;
	size_t n = 0;
	enum qm_err rc;

	scripted_set(data, size);
	rc = qm_mail_pop3_open(&g_srv, &p, &e);
	note("open", rc, &e);
	if (rc == QM_OK) {
		rc = qm_mail_pop3_uidl(p, &m, &n, &e);
		note("uidl", rc, &e);
		for (size_t i = 0; rc == QM_OK && i < n && i < 2; i++) {
			struct qm_buf b;

			if (memchr(m[i].uidl, 0, sizeof(m[i].uidl)) == NULL)
				__builtin_trap();
			qm_buf_init(&b, 1u << 20);
			note("retr", qm_mail_pop3_retr(p, m[i].num, &b, &e),
			     &e);
			qm_buf_free(&b);
		}
		if (rc == QM_OK)
			free(m);
		note("dele", qm_mail_pop3_dele(p, 1, &e), &e);
		qm_mail_pop3_free(&p);
	}
	scripted_wait();
	return 0;
}
