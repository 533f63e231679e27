/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: IMAP server replies as the mail layer reads them. The input
 * is a scripted server's side of a session (scripted.h); the client runs
 * the calls a sync and a send make: open (libcurl login, then CAPABILITY
 * through QMail's own reader), LIST, special-use lookup, SELECT, UID
 * SEARCH, header and body FETCH with literals, flag sync, STORE, MOVE,
 * EXPUNGE and APPEND. An input that starts "#S1\n" .. "#S4\n" runs
 * another session instead: folders (LIST-EXTENDED / LIST-STATUS, special
 * use, create, rename with subscriptions, status, delete), folder sync
 * (ENABLE QRESYNC, SELECT (QRESYNC ...) with VANISHED and FETCH MODSEQ,
 * UIDVALIDITY changes, EXAMINE, STORE on sets), moves (UID MOVE / COPY
 * with COPYUID, the careful EXPUNGE, delete to Trash), and server search
 * with summaries (ESEARCH, CHARSET UTF-8 literals, HEADER.FIELDS).
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

/* A name that decodes has one wire form: encoding it again gives the
 * name back (unless it holds a line break, which encode refuses). */
static void check_name(const char *name)
{
	char *d = NULL, *w = NULL;

	if (qm_mail_imap_name_decode(name, &d, NULL) == QM_OK) {
		if (!strpbrk(d, "\r\n") &&
		    (qm_mail_imap_name_encode(d, &w, NULL) != QM_OK ||
		     strcmp(w, name) != 0))
			__builtin_trap();
		free(w);
		free(d);
	}
}

/* Checks what a folder list promises, then frees it. */
static void check_folders(struct qm_mail_imap_folders *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct qm_mail_imap_folder *x = &f->v[i];
		/* display is always UTF-8 for people */
		if (!x->name || !x->display || !*x->name)
			__builtin_trap();
		if ((x->attrs & QM_MAIL_FOLDER_BYNAME) &&
		    !(x->attrs & QM_MAIL_FOLDER_SPECIAL))
			__builtin_trap();
		/* no control character reaches a person */
		for (const unsigned char *p = (const unsigned char *)x->display;
		     *p; p++)
			if (*p < 0x20 || *p == 0x7f ||
			    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0))
				__builtin_trap();
		check_name(x->name);
	}
	(void)qm_mail_imap_folders_find(f, QM_MAIL_FOLDER_TRASH);
	qm_mail_imap_folders_free(&f);
	if (f)
		__builtin_trap();
}

static void session_folders(struct qm_mail_imap *im)
{
	struct qm_mail_imap_folders *f = NULL;
	struct qm_mail_imap_counts k;
	struct qm_error e;
	char *name = NULL;
	enum qm_err rc;

	rc = qm_mail_imap_folders(im, QM_MAIL_IMAP_LIST_STATUS, &f, &e);
	note("folders", rc, &e);
	if (rc == QM_OK)
		check_folders(f);
	rc = qm_mail_imap_special(im, QM_MAIL_FOLDER_JUNK, &name, &e);
	note("special", rc, &e);
	free(name);
	rc = qm_mail_imap_folder_create(im, "Projekte/Caf&AOk-", 1, &e);
	note("create", rc, &e);
	rc = qm_mail_imap_folder_status(im, "INBOX", &k, &e);
	note("status", rc, &e);
	rc = qm_mail_imap_folder_rename(im, "Projekte/Caf&AOk-", "Projekte/Tee",
	                                &e);
	note("rename", rc, &e);
	rc = qm_mail_imap_folder_subscribe(im, "Projekte/Tee", 0, &e);
	note("unsubscribe", rc, &e);
	rc = qm_mail_imap_folder_delete(im, "Projekte/Tee", &e);
	note("delete", rc, &e);
	{
		/* pipelined: replies in any order, refusals, unasked names */
		const char *const many[] = {"INBOX", "Sent", "Projekte/Tee"};
		struct qm_mail_imap_counts km[3];

		rc = qm_mail_imap_folders_status(im, many, 3, km, &e);
		note("status many", rc, &e);
	}
}

/* The promises of a change list: ascending, no UID twice, vanished only
 * what was known. */
static void check_changes(const struct qm_mail_imap_changes *c,
                          const struct qm_mail_imap_known *k)
{
	for (size_t i = 1; i < c->nadded; i++)
		if (c->added[i].uid <= c->added[i - 1].uid)
			__builtin_trap();
	for (size_t i = 1; i < c->nchanged; i++)
		if (c->changed[i].uid <= c->changed[i - 1].uid)
			__builtin_trap();
	for (size_t i = 0; i < c->nvanished; i++) {
		int known = 0;
		if (i && c->vanished[i] <= c->vanished[i - 1])
			__builtin_trap();
		for (size_t j = 0; j < k->nmsgs; j++)
			known |= k->msgs[j].uid == c->vanished[i];
		if (!known || c->resync)
			__builtin_trap();
	}
	if (c->resync && c->nchanged)
		__builtin_trap();
}

static void session_sync(struct qm_mail_imap *im)
{
	static const struct qm_mail_uid_flags held[] = {
	    {1, 0}, {2, QM_MAIL_FLAG_SEEN}, {3, QM_MAIL_FLAG_FLAGGED}};
	const struct qm_mail_imap_known k = {9, 100, held, 3};
	const uint32_t uids[] = {7, 1, 2, 3, 3};
	struct qm_mail_imap_changes *c = NULL;
	struct qm_mail_imap_folder_state st;
	struct qm_error e;
	enum qm_err rc;

	rc = qm_mail_imap_folder_sync(im, "INBOX", &k, &c, &e);
	note("sync", rc, &e);
	if (rc == QM_OK) {
		check_changes(c, &k);
		qm_mail_imap_changes_free(&c);
	}
	rc = qm_mail_imap_folder_sync(im, "Lists", &k, &c, &e);
	note("sync2", rc, &e);
	if (rc == QM_OK) {
		check_changes(c, &k);
		qm_mail_imap_changes_free(&c);
	}
	rc = qm_mail_imap_folder_select(im, "INBOX", 1, &st, &e);
	note("examine", rc, &e);
	if (rc == QM_OK && qm_mail_imap_store(im, uids, 5, QM_MAIL_FLAG_SEEN, 0,
	                                      &e) != QM_ERR_UNSUPPORTED)
		__builtin_trap(); /* read-only refuses before sending */
	rc = qm_mail_imap_folder_select(im, "INBOX", 0, &st, &e);
	note("select", rc, &e);
	rc = qm_mail_imap_store(im, uids, 5,
	                        QM_MAIL_FLAG_SEEN | QM_MAIL_FLAG_JUNK, 0, &e);
	note("store+", rc, &e);
	rc = qm_mail_imap_store(im, uids, 5, 0, QM_MAIL_FLAG_FLAGGED, &e);
	note("store-", rc, &e);
}

static void check_map(struct qm_mail_imap_uidmap *m, size_t asked)
{
	if (m->n > asked || (m->n && !m->uidvalidity))
		__builtin_trap();
	qm_mail_imap_uidmap_free(&m);
}

static void session_move(struct qm_mail_imap *im)
{
	const uint32_t a[] = {5, 1, 2}, b[] = {3}, c[] = {4}, d[] = {6},
	               f[] = {7};
	struct qm_mail_imap_uidmap *m = NULL;
	struct qm_error e;
	enum qm_err rc;

	rc = qm_mail_imap_select(im, "INBOX", NULL, &e);
	note("select", rc, &e);
	rc = qm_mail_imap_move_uids(im, a, 3, "Archive", &m, &e);
	note("move", rc, &e);
	if (rc == QM_OK)
		check_map(m, 3);
	rc = qm_mail_imap_copy_uids(im, b, 1, "Archive", &m, &e);
	note("copy", rc, &e);
	if (rc == QM_OK)
		check_map(m, 1);
	rc = qm_mail_imap_expunge_uids(im, c, 1, &e);
	note("expunge", rc, &e);
	rc = qm_mail_imap_delete_uids(im, d, 1, "Trash", &m, &e);
	note("trash", rc, &e);
	if (rc == QM_OK)
		check_map(m, 1);
	rc = qm_mail_imap_delete_uids(im, f, 1, NULL, NULL, &e);
	note("delete", rc, &e);
}

struct sum_seen {
	size_t n;
};

static int on_summary(void *arg, const struct qm_mail_imap_summary *s,
                      size_t done, size_t total)
{
	struct sum_seen *c = arg;

	if (!s->subject || !s->from || !s->to || !s->cc || !s->message_id ||
	    !s->references || !s->content_type || done > total || !s->uid ||
	    strlen(s->subject) > QM_MAIL_DEF_MAXHEADERLEN)
		__builtin_trap();
	c->n++;
	return 0;
}

static void session_search(struct qm_mail_imap *im)
{
	struct qm_mail_imap_query q = {0};
	const uint32_t want[] = {1, 2, 3, 7};
	struct sum_seen seen = {0};
	uint32_t *uids = NULL;
	size_t n = 0;
	int resync = 0;
	struct qm_error e;
	enum qm_err rc;

	rc = qm_mail_imap_select(im, "INBOX", NULL, &e);
	note("select", rc, &e);
	q.text = "K\xc3\xb6ln";
	q.from = "bob";
	q.since = 1700000000;
	q.without = QM_MAIL_FLAG_SEEN;
	rc = qm_mail_imap_search(im, &q, &uids, &n, &e);
	note("search", rc, &e);
	if (rc == QM_OK) {
		for (size_t i = 1; i < n; i++)
			if (uids[i] <= uids[i - 1])
				__builtin_trap();
		free(uids);
	}
	rc = qm_mail_imap_fetch_summaries(im, want, 4, on_summary, &seen, &e);
	note("summaries", rc, &e);
	rc = qm_mail_imap_new_uids(im, 9, 3, &uids, &n, &resync, &e);
	note("new_uids", rc, &e);
	if (rc == QM_OK)
		free(uids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_mail_imap *im = NULL;
	struct qm_error e;
	enum qm_err rc;
	int variant = 0;

	if (size >= 4 && data[0] == '#' && data[1] == 'S' && data[2] >= '1' &&
	    data[2] <= '4' && data[3] == '\n') {
		variant = data[2] - '0';
		data += 4;
		size -= 4;
	}
	scripted_set(data, size);
	rc = qm_mail_imap_open(&g_srv, &im, &e);
	note("open", rc, &e);
	if (rc == QM_OK) {
		switch (variant) {
		case 1:
			session_folders(im);
			break;
		case 2:
			session_sync(im);
			break;
		case 3:
			session_move(im);
			break;
		case 4:
			session_search(im);
			break;
		default:
			session(im);
		}
		qm_mail_imap_free(&im);
	}
	scripted_wait();
	return 0;
}
