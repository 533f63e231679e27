/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: IMAP server replies as the mail layer reads them. The input
 * is a scripted server's side of a session (scripted.h); the client runs
 * the calls a sync and a send make: open (libcurl login, then CAPABILITY
 * through QMail's own reader), LIST, special-use lookup, SELECT, UID
 * SEARCH, header and body FETCH with literals, flag sync, STORE, MOVE,
 * EXPUNGE and APPEND.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "mail/mail.h"
#include "scripted.h"

static struct qm_mail_server g_srv;

static int g_wake[2] = {-1, -1};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (pipe(g_wake) != 0)
		abort();
	if (qm_core_init(&e) != QM_OK || qm_mail_init(&e) != QM_OK)
		fuzz_die("init", &e);
	memset(&g_srv, 0, sizeof(g_srv));
	g_srv.host = "127.0.0.1";
	g_srv.port = scripted_start(SCRIPTED_IMAP);
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

static void session(struct qm_mail_imap *im)
{
	struct qm_error e;
	struct qm_mail_folder *f = NULL;
	struct qm_mail_imap_status st;
	struct qm_mail_uid_flags *uf = NULL;
	uint32_t *uids = NULL;
	size_t n = 0, nu = 0;
	char *name = NULL;
	int resync = 0;
	enum qm_err rc;
	static const char msg[] = "From: a@b\r\nSubject: x\r\n\r\nbody\r\n";

	(void)qm_mail_imap_has_cap(im, "IDLE");
	rc = qm_mail_imap_list(im, &f, &n, &e);
	note("list", rc, &e);
	if (rc == QM_OK) {
		for (size_t i = 0; i < n; i++)
			if (!f[i].name)
				__builtin_trap();
		qm_mail_folders_free(&f, n);
	}
	rc = qm_mail_imap_special(im, QM_MAIL_FOLDER_SENT, &name, &e);
	note("special", rc, &e);
	free(name);
	rc = qm_mail_imap_select(im, "INBOX", &st, &e);
	note("select", rc, &e);
	rc = qm_mail_imap_new_uids(im, 7, 0, &uids, &nu, &resync, &e);
	note("new_uids", rc, &e);
	if (rc == QM_OK) {
		for (size_t i = 0; i < nu && i < 2; i++) {
			struct qm_buf b;
			unsigned flags = 0;
			uint32_t size = 0;

			qm_buf_init(&b, 1u << 20);
			rc = qm_mail_imap_fetch_headers(im, uids[i], &b, &flags,
			                                &size, &e);
			note("fetch_headers", rc, &e);
			qm_buf_reset(&b);
			rc = qm_mail_imap_fetch(im, uids[i], &b, &e);
			note("fetch", rc, &e);
			qm_buf_free(&b);
		}
		free(uids);
	}
	rc = qm_mail_imap_flags_all(im, &uf, &n, &e);
	note("flags_all", rc, &e);
	if (rc == QM_OK)
		free(uf);
	rc = qm_mail_imap_flags_set(im, 1, QM_MAIL_FLAG_SEEN, 1, &e);
	note("flags_set", rc, &e);
	rc = qm_mail_imap_move(im, 1, "Archive", &e);
	note("move", rc, &e);
	rc = qm_mail_imap_delete(im, 2, &e);
	note("delete", rc, &e);
	rc = qm_mail_imap_append(im, "Sent", msg, sizeof(msg) - 1,
	                         QM_MAIL_FLAG_SEEN, &e);
	note("append", rc, &e);
	{
		uint32_t *hits = NULL;
		size_t nh = 0;
		int saved = -1;

		rc = qm_mail_imap_search_header(im, "Message-ID", "<a@b>",
		                                &hits, &nh, &e);
		note("search_header", rc, &e);
		if (rc == QM_OK)
			free(hits);
		rc = qm_mail_imap_save_sent_once(im, msg, sizeof(msg) - 1,
		                                 "<a@b>", &saved, &e);
		note("save_sent_once", rc, &e);
		if (rc == QM_OK && saved != 0 && saved != 1)
			abort(); /* the contract: *saved is 0 or 1 */
	}
	{
		/* IDLE (or NOOP polling without it), with a wake pipe that
		 * nobody writes: the scripted server always ends with FIN,
		 * so the time-out is a safety net, not a pace */
		int news = -1;

		qm_mail_imap_set_wake(im, g_wake[0]);
		rc = qm_mail_imap_wait(im, 1000, 100, &news, &e);
		note("wait", rc, &e);
		if (rc == QM_OK && news != 0 && news != 1)
			abort();
		if (qm_mail_imap_woken(im))
			abort(); /* nobody wrote to the pipe */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_mail_imap *im = NULL;
	struct qm_error e;
	enum qm_err rc;

	scripted_set(data, size);
	rc = qm_mail_imap_open(&g_srv, &im, &e);
	note("open", rc, &e);
	if (rc == QM_OK) {
		session(im);
		qm_mail_imap_free(&im);
	}
	scripted_wait();
	return 0;
}
