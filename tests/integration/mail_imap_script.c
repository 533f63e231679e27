/* SPDX-License-Identifier: MIT */
/*
 * The IMAP folder, sync, flag, move and search calls against scripted
 * servers (plain TCP on 127.0.0.1) that do what the real Dovecot does not:
 * folders known only by name under "INBOX." with a "." delimiter, names
 * that are not valid modified UTF-7 or are raw 8-bit, LSUB's \Noselect
 * parents and subscriptions of folders that are gone; PERMANENTFLAGS
 * without keywords; COPYUID, VANISHED and ESEARCH sets that name four
 * billion messages; COPYUID sets that do not pair up; a refused CHARSET;
 * synchronizing literals (and a server that answers one wrongly); a
 * NOMODSEQ folder; a refused ENABLE; folded, missing and oversized header
 * fields in summaries. Each script also checks what QMail sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "mail/mail.h"

/* One step: a command QMail must send (its start, after the tag) and the
 * reply ("$T" is the tag). */
struct step {
	const char *expect;
	const char *reply; /* GEN(i): gens[i] writes it (too large here) */
};

static void gen_many_folders(int fd, const char *tag);
static void gen_long_names(int fd, const char *tag);
static void gen_long_line(int fd, const char *tag);
static void (*const gens[])(int fd, const char *tag) = {
    gen_many_folders, gen_long_names, gen_long_line};
#define GEN(i) ("\001" #i)

struct script {
	const char *caps; /* after "IMAP4rev1 AUTH=PLAIN" */
	const struct step *steps;
	int lfd, port;
	pthread_t th;
	char log[65536]; /* every command QMail sent after login */
	size_t loglen;
	char bad[512]; /* the first surprise, for the test to show */
};

static void say(int fd, const char *s, const char *tag)
{
	char out[65536];
	size_t j = 0;

	for (const char *p = s; *p && j + 64 < sizeof(out); p++) {
		if (p[0] == '$' && p[1] == 'T') {
			j += (size_t)snprintf(out + j, sizeof(out) - j, "%s",
			                      tag);
			p++;
		} else {
			out[j++] = *p;
		}
	}
	for (size_t off = 0; off < j;) {
		ssize_t w = send(fd, out + off, j - off, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

/* Reads one command, literals included, into buf; -1 when gone. When
 * early is set, a synchronizing literal gets no "+": the command so far
 * is returned (the script answers it at once). */
static int get_cmd(int fd, char *buf, size_t n, int early)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;

		if (poll(&p, 1, 10000) <= 0 || recv(fd, &c, 1, 0) != 1)
			return -1;
		if (len + 1 < n)
			buf[len++] = c;
		buf[len] = '\0';
		if (c != '\n')
			continue;
		/* "{N}\r\n" or "{N+}\r\n": N bytes of literal follow */
		if (len >= 5 && buf[len - 3] == '}') {
			char *b = strrchr(buf, '{');
			unsigned long v = b ? strtoul(b + 1, NULL, 10) : 0;

			if (!b)
				return (int)len;
			if (buf[len - 4] != '+' && early)
				return (int)len;
			if (buf[len - 4] != '+')
				say(fd, "+ go on\r\n", "");
			for (unsigned long i = 0; i < v; i++) {
				if (poll(&p, 1, 10000) <= 0 ||
				    recv(fd, &c, 1, 0) != 1)
					return -1;
				if (len + 1 < n)
					buf[len++] = c;
			}
			buf[len] = '\0';
			continue;
		}
		return (int)len;
	}
}

static void *serve(void *arg)
{
	struct script *sc = arg;
	char cmd[16384], tag[64], out[1024];
	const struct step *st = sc->steps;
	struct pollfd p = {.fd = sc->lfd, .events = POLLIN};
	int fd;

	if (poll(&p, 1, 10000) <= 0 || (fd = accept(sc->lfd, NULL, NULL)) < 0)
		return NULL;
	say(fd, "* OK scripted IMAP ready\r\n", "");
	while (get_cmd(fd, cmd, sizeof(cmd),
	               st->expect && st->expect[0] == '!') >= 0) {
		char *sp = strchr(cmd, ' ');
		const char *c;
		const char *want;

		if (!sp)
			continue;
		*sp = '\0';
		qm_strlcpy(tag, cmd, sizeof(tag));
		c = sp + 1;
		if (strncasecmp(c, "CAPABILITY", 10) == 0) {
			snprintf(out, sizeof(out),
			         "* CAPABILITY IMAP4rev1 AUTH=PLAIN %s\r\n"
			         "$T OK done\r\n",
			         sc->caps);
			say(fd, out, tag);
		} else if (strncasecmp(c, "AUTHENTICATE", 12) == 0 ||
		           strncasecmp(c, "LOGIN", 5) == 0) {
			if (strncasecmp(c, "AUTHENTICATE", 12) == 0 &&
			    !strchr(c + 13, ' ')) {
				say(fd, "+ \r\n", "");
				get_cmd(fd, cmd, sizeof(cmd), 0);
			}
			say(fd, "$T OK logged in\r\n", tag);
		} else if (strncasecmp(c, "LOGOUT", 6) == 0) {
			say(fd, "* BYE\r\n$T OK bye\r\n", tag);
			break;
		} else {
			size_t n = strlen(c);

			if (sc->loglen + n + 1 < sizeof(sc->log)) {
				memcpy(sc->log + sc->loglen, c, n);
				sc->loglen += n;
				sc->log[sc->loglen] = '\0';
			}
			want = st->expect && st->expect[0] == '!'
			           ? st->expect + 1
			           : st->expect;
			if (!want || strncasecmp(c, want, strlen(want)) != 0) {
				if (!sc->bad[0])
					snprintf(
					    sc->bad, sizeof(sc->bad),
					    "wanted \"%s\", got \"%.400s\"",
					    want ? want : "(end)", c);
				say(fd, "$T BAD not in the script\r\n", tag);
				continue;
			}
			if (st->reply[0] == '\001')
				gens[st->reply[1] - '0'](fd, tag);
			else
				say(fd, st->reply, tag);
			st++;
		}
	}
	close(fd);
	return NULL;
}

static void script_start(struct script *sc, const char *caps,
                         const struct step *steps)
{
	struct sockaddr_in a = {0};
	socklen_t alen = sizeof(a);
	int one = 1;

	memset(sc, 0, sizeof(*sc));
	sc->caps = caps;
	sc->steps = steps;
	sc->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(sc->lfd >= 0);
	setsockopt(sc->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(sc->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(sc->lfd, 4), 0);
	assert_int_equal(getsockname(sc->lfd, (struct sockaddr *)&a, &alen), 0);
	sc->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&sc->th, NULL, serve, sc), 0);
}

/* Ends the session and the script; fails on a surprise. */
static void script_end(struct script *sc, struct qm_mail_imap **im)
{
	qm_mail_imap_free(im);
	pthread_join(sc->th, NULL);
	close(sc->lfd);
	if (sc->bad[0])
		fprintf(stderr, "script: %s\n", sc->bad);
	assert_string_equal(sc->bad, "");
}

static struct qm_mail_server plain_server(const struct script *sc)
{
	struct qm_mail_server s = {0};

	s.host = "127.0.0.1";
	s.port = sc->port;
	s.tls = QM_MAIL_TLS_NONE;
	s.user = "alice@qmail.test";
	s.password = "pw";
	s.connect_timeout_ms = 2000;
	s.io_timeout_ms = 2000;
	return s;
}

#define assert_err(call, want)                                                 \
	do {                                                                   \
		enum qm_err got_ = (call);                                     \
		if (got_ != (want))                                            \
			fprintf(stderr, "%s -> %d: %s\n", #call, (int)got_,    \
			        e.msg);                                        \
		assert_int_equal(got_, (want));                                \
	} while (0)

static struct qm_mail_imap *open_script(struct script *sc,
                                        struct qm_mail_server *s)
{
	struct qm_mail_imap *im = NULL;
	struct qm_error e;

	*s = plain_server(sc);
	assert_err(qm_mail_imap_open(s, &im, &e), QM_OK);
	return im;
}

static const struct qm_mail_imap_folder *
find(const struct qm_mail_imap_folders *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->v[i].name, name) == 0)
			return &f->v[i];
	return NULL;
}

#define SELECT_OK(extra)                                                       \
	"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"          \
	"* 3 EXISTS\r\n* OK [UIDVALIDITY 9] ok\r\n* OK [UIDNEXT 8] "           \
	"ok\r\n" extra "$T OK [READ-WRITE] done\r\n"

/* --------------------------------------------------------------- cases */

static void test_folders_by_name(void **state)
{
	static const struct step steps[] = {
	    {"LIST \"\" \"*\"",
	     "* LIST (\\HasChildren) \".\" INBOX\r\n"
	     "* LIST (\\HasNoChildren) \".\" \"INBOX.Sent Messages\"\r\n"
	     "* LIST (\\HasNoChildren) \".\" INBOX.Trash\r\n"
	     "* LIST () \".\" \"INBOX.Entw&APw-rfe\"\r\n"
	     "* LIST () \".\" \"&Jjo!\"\r\n"
	     "* LIST () \".\" \"Evil&ABs-[2J&AA0ACg-x\"\r\n"
	     "* LIST () \".\" {7}\r\nCaf\xc3\xa9 \xff\r\n"
	     "* LIST (\\Noselect) \".\" Spam\r\n"
	     "* LIST () \".\" Junk\r\n"
	     "* LIST () NIL Flat\r\n"
	     "* LIST () \".\" \"Deep.er.Still\"\r\n"
	     "$T OK done\r\n"},
	    /* subscriptions of folders that are gone, then more lookups
	     * (found by fuzz_imap: the lookup ran past its index) */
	    {"LSUB \"\" \"*\"", "* LSUB () \".\" INBOX.Trash\r\n"
	                        "* LSUB (\\Noselect) \".\" INBOX\r\n"
	                        "* LSUB () \".\" Gone\r\n"
	                        "* LSUB () \".\" Zzz\r\n"
	                        "* LSUB () \".\" Zzzz\r\n"
	                        "* LSUB () \".\" Zzzzz\r\n"
	                        "* LSUB () \".\" Junk\r\n"
	                        "* LSUB () \".\" ~\r\n"
	                        "$T OK done\r\n"},
	    {"LIST \"\" \"*\"", "* LIST () \".\" INBOX\r\n"
	                        "* LIST () \".\" \"Sent Items\"\r\n"
	                        "* LIST (\\Sent) \".\" Outbox\r\n"
	                        "$T OK done\r\n"},
	    {NULL, NULL}};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_mail_imap_folders *f = NULL;
	const struct qm_mail_imap_folder *x;
	char *name = NULL;
	struct qm_error e;

	(void)state;
	script_start(&sc, "", steps);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_folders(im, 0, &f, &e), QM_OK);
	x = qm_mail_imap_folders_find(f, QM_MAIL_FOLDER_SENT);
	assert_non_null(x);
	assert_string_equal(x->name, "INBOX.Sent Messages");
	assert_true(x->attrs & QM_MAIL_FOLDER_BYNAME);
	assert_int_equal(x->delim, '.');
	assert_string_equal(
	    qm_mail_imap_folders_find(f, QM_MAIL_FOLDER_TRASH)->name,
	    "INBOX.Trash");
	/* a \Noselect "Spam" is no Junk folder */
	assert_string_equal(
	    qm_mail_imap_folders_find(f, QM_MAIL_FOLDER_JUNK)->name, "Junk");
	assert_null(qm_mail_imap_folders_find(f, QM_MAIL_FOLDER_DRAFTS));
	assert_string_equal(find(f, "INBOX.Entw&APw-rfe")->display,
	                    "INBOX.Entw\xc3\xbcrfe");
	/* control characters encoded in a valid name (ESC, CR, LF) do not
	 * reach a terminal or a page */
	assert_string_equal(find(f, "Evil&ABs-[2J&AA0ACg-x")->display,
	                    "Evil [2J  x");
	/* not modified UTF-7: shown as sent */
	assert_string_equal(find(f, "&Jjo!")->display, "&Jjo!");
	/* raw 8-bit (a literal): shown with the bad byte replaced */
	assert_string_equal(find(f, "Caf\xc3\xa9 \xff")->display,
	                    "Caf\xc3\xa9 \xef\xbf\xbd");
	assert_int_equal(find(f, "Flat")->delim, '\0');
	/* the parents the server did not list */
	x = find(f, "Deep.er");
	assert_non_null(x);
	assert_true(x->attrs & QM_MAIL_FOLDER_NONEXISTENT);
	assert_true(x->attrs & QM_MAIL_FOLDER_HASCHILDREN);
	assert_non_null(find(f, "Deep"));
	assert_true(find(f, "INBOX")->attrs & QM_MAIL_FOLDER_HASCHILDREN);
	/* subscriptions: LSUB's \Noselect INBOX is not one */
	assert_true(find(f, "INBOX.Trash")->attrs & QM_MAIL_FOLDER_SUBSCRIBED);
	assert_false(find(f, "INBOX")->attrs & QM_MAIL_FOLDER_SUBSCRIBED);
	assert_true(find(f, "Junk")->attrs & QM_MAIL_FOLDER_SUBSCRIBED);
	assert_true(find(f, "Zzzzz")->attrs & QM_MAIL_FOLDER_NONEXISTENT);
	assert_true(find(f, "~")->attrs & QM_MAIL_FOLDER_NONEXISTENT);
	x = find(f, "Gone");
	assert_non_null(x);
	assert_int_equal(
	    x->attrs & (QM_MAIL_FOLDER_SUBSCRIBED | QM_MAIL_FOLDER_NONEXISTENT |
	                QM_MAIL_FOLDER_NOSELECT),
	    QM_MAIL_FOLDER_SUBSCRIBED | QM_MAIL_FOLDER_NONEXISTENT |
	        QM_MAIL_FOLDER_NOSELECT);
	qm_mail_imap_folders_free(&f);
	/* the server's mark wins over a name */
	assert_err(qm_mail_imap_special(im, QM_MAIL_FOLDER_SENT, &name, &e),
	           QM_OK);
	assert_string_equal(name, "Outbox");
	free(name);
	script_end(&sc, &im);
}

static void test_flags_sets_and_keywords(void **state)
{
	static const struct step steps[] = {
	    {"SELECT \"INBOX\"",
	     SELECT_OK("* OK [PERMANENTFLAGS (\\Seen \\Deleted)] ok\r\n")},
	    {"UID STORE 1:3,7,10:11 +FLAGS.SILENT (\\Seen)",
	     "* 1 FETCH (FLAGS (\\Seen))\r\n$T OK done\r\n"},
	    {"UID STORE 1:3,7,10:11 -FLAGS.SILENT (\\Deleted)",
	     "$T OK done\r\n"},
	    {"EXAMINE \"INBOX\"", SELECT_OK("* OK [PERMANENTFLAGS ()] ok\r\n")},
	    {NULL, NULL}};
	const uint32_t uids[] = {3, 1, 2, 7, 2, 11, 10, 0};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_mail_imap_folder_state st;
	struct qm_error e;

	(void)state;
	script_start(&sc, "CONDSTORE", steps);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_folder_select(im, "INBOX", 0, &st, &e), QM_OK);
	assert_int_equal(st.permanent,
	                 QM_MAIL_FLAG_SEEN | QM_MAIL_FLAG_DELETED);
	assert_int_equal(st.highestmodseq, 0);
	/* no \* and no $Junk: refused before anything is sent */
	assert_err(qm_mail_imap_store(im, uids, 8, QM_MAIL_FLAG_JUNK, 0, &e),
	           QM_ERR_UNSUPPORTED);
	assert_non_null(strstr(e.msg, "$Junk"));
	assert_err(qm_mail_imap_store(im, uids, 8, QM_MAIL_FLAG_SEEN, 0, &e),
	           QM_OK);
	assert_err(qm_mail_imap_store(im, uids, 8, 0, QM_MAIL_FLAG_DELETED, &e),
	           QM_OK);
	assert_err(qm_mail_imap_folder_select(im, "INBOX", 1, &st, &e), QM_OK);
	assert_int_equal(st.read_only, 1);
	assert_err(qm_mail_imap_expunge_uids(im, uids, 1, &e),
	           QM_ERR_UNSUPPORTED);
	assert_null(strstr(sc.log, "$Junk"));
	script_end(&sc, &im);
}

static void test_hostile_copyuid(void **state)
{
	static const struct step steps[] = {
	    {"SELECT \"INBOX\"", SELECT_OK("")},
	    {"UID MOVE 1:2 \"Archive\"",
	     "* OK [COPYUID 9 1:4294967295 1:4294967295] moved\r\n"
	     "* 1 EXPUNGE\r\n* 1 EXPUNGE\r\n$T OK done\r\n"},
	    {"UID COPY 1:2 \"Archive\"", "$T OK [COPYUID 9 1,2 5] done\r\n"},
	    {"UID COPY 1:2 \"Archive\"",
	     "$T OK [COPYUID 9 2,1 11:12] done\r\n"},
	    {"UID COPY 1:2 \"Archive\"", "$T OK [COPYUID 9 2:1 0:1] done\r\n"},
	    /* a message that was not copied */
	    {"UID COPY 1:2 \"Archive\"",
	     "$T OK [COPYUID 9 100,2 5:6] done\r\n"},
	    /* one message named twice */
	    {"UID COPY 1:2 \"Archive\"",
	     "* OK [COPYUID 9 1 5] one\r\n$T OK [COPYUID 9 1 6] again\r\n"},
	    {"UID COPY 1:2 \"Archive\"",
	     "* OK [COPYUID 9 1,2,1 5:7] one\r\n$T OK [COPYUID 9 2 8] ok\r\n"},
	    {NULL, NULL}};
	const uint32_t uids[] = {1, 2};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_mail_imap_uidmap *map = NULL;
	struct qm_error e;
	uint64_t t0 = qm_mono_ns();

	(void)state;
	script_start(&sc, "MOVE UIDPLUS", steps);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_select(im, "INBOX", NULL, &e), QM_OK);
	/* four billion pairs named for two messages: left out, at once */
	assert_err(qm_mail_imap_move_uids(im, uids, 2, "Archive", &map, &e),
	           QM_OK);
	assert_int_equal(map->n, 0);
	assert_int_equal(map->uidvalidity, 0);
	qm_mail_imap_uidmap_free(&map);
	assert_true(qm_mono_ns() - t0 < 3000000000u);
	/* sets that do not pair up */
	assert_err(qm_mail_imap_copy_uids(im, uids, 2, "Archive", &map, &e),
	           QM_OK);
	assert_int_equal(map->n, 0);
	qm_mail_imap_uidmap_free(&map);
	/* in the order the server lists them */
	assert_err(qm_mail_imap_copy_uids(im, uids, 2, "Archive", &map, &e),
	           QM_OK);
	assert_int_equal(map->n, 2);
	assert_int_equal(map->uidvalidity, 9);
	assert_int_equal(map->src[0], 2);
	assert_int_equal(map->dst[0], 11);
	assert_int_equal(map->src[1], 1);
	assert_int_equal(map->dst[1], 12);
	qm_mail_imap_uidmap_free(&map);
	/* UID 0 is no UID */
	assert_err(qm_mail_imap_copy_uids(im, uids, 2, "Archive", &map, &e),
	           QM_OK);
	assert_int_equal(map->n, 0);
	qm_mail_imap_uidmap_free(&map);
	/* pairs for a message not asked for: the reply is not believed */
	assert_err(qm_mail_imap_copy_uids(im, uids, 2, "Archive", &map, &e),
	           QM_OK);
	assert_int_equal(map->n, 0);
	qm_mail_imap_uidmap_free(&map);
	/* the first word on a message counts */
	assert_err(qm_mail_imap_copy_uids(im, uids, 2, "Archive", &map, &e),
	           QM_OK);
	assert_int_equal(map->n, 1);
	assert_int_equal(map->src[0], 1);
	assert_int_equal(map->dst[0], 5);
	qm_mail_imap_uidmap_free(&map);
	assert_err(qm_mail_imap_copy_uids(im, uids, 2, "Archive", &map, &e),
	           QM_OK);
	assert_int_equal(map->n, 1);
	assert_int_equal(map->src[0], 2);
	assert_int_equal(map->dst[0], 8);
	qm_mail_imap_uidmap_free(&map);
	script_end(&sc, &im);
}

static void test_hostile_sets(void **state)
{
	static const struct step steps[] = {
	    {"ENABLE QRESYNC", "* ENABLED QRESYNC\r\n$T OK done\r\n"},
	    {"SELECT \"INBOX\" (QRESYNC (9 100 1:3))",
	     "* OK [HIGHESTMODSEQ 120] ok\r\n"
	     "* VANISHED (EARLIER) 1:4294967295\r\n" SELECT_OK("")},
	    /* the session is still in step */
	    {"SELECT \"INBOX\"", SELECT_OK("")},
	    {"UID SEARCH RETURN (ALL) UID 1:*",
	     "* ESEARCH (TAG \"$T\") UID ALL 1:4294967295\r\n$T OK done\r\n"},
	    {"UID SEARCH RETURN (ALL) UID 4:*",
	     "* ESEARCH (TAG \"Qnot\") UID ALL 1:3\r\n"
	     "* ESEARCH (TAG \"$T\") UID ALL 7,5:6\r\n$T OK done\r\n"},
	    {NULL, NULL}};
	const struct qm_mail_uid_flags held[] = {{1, 0}, {2, 0}, {3, 0}};
	struct qm_mail_imap_known k = {9, 100, held, 3};
	struct qm_mail_imap_changes *ch = NULL;
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	uint32_t *uids = NULL;
	size_t n = 0;
	int resync = -1;
	struct qm_error e;

	(void)state;
	script_start(&sc, "QRESYNC CONDSTORE ESEARCH ENABLE", steps);
	im = open_script(&sc, &s);
	/* four billion vanished messages: refused, quickly */
	assert_err(qm_mail_imap_folder_sync(im, "INBOX", &k, &ch, &e),
	           QM_ERR_PROTO);
	assert_non_null(strstr(e.msg, "could hold"));
	assert_null(ch);
	assert_err(
	    qm_mail_imap_store(im, &k.msgs[0].uid, 1, QM_MAIL_FLAG_SEEN, 0, &e),
	    QM_ERR_STATE);
	assert_err(qm_mail_imap_select(im, "INBOX", NULL, &e), QM_OK);
	/* and four billion found by ESEARCH */
	assert_err(qm_mail_imap_new_uids(im, 9, 0, &uids, &n, &resync, &e),
	           QM_ERR_PROTO);
	/* another command's ESEARCH is not ours */
	assert_err(qm_mail_imap_new_uids(im, 9, 3, &uids, &n, &resync, &e),
	           QM_OK);
	assert_int_equal(resync, 0);
	assert_int_equal(n, 3);
	assert_int_equal(uids[0], 5);
	assert_int_equal(uids[2], 7);
	free(uids);
	script_end(&sc, &im);
}

static void test_search_literals_and_charset(void **state)
{
	static const struct step steps[] = {
	    {"SELECT \"INBOX\"", SELECT_OK("")},
	    {"UID SEARCH CHARSET UTF-8 TEXT {5}\r\nK\xc3\xb6ln FROM \"a\\\"b\" "
	     "UNSEEN",
	     "* SEARCH 3 1\r\n$T OK done\r\n"},
	    {"UID SEARCH CHARSET UTF-8 SUBJECT {2}\r\n\xc3\xa9",
	     "$T NO [BADCHARSET (US-ASCII)] no\r\n"},
	    {"UID SEARCH SINCE 9-Sep-2001 BEFORE 1-Jan-2002 KEYWORD $Junk "
	     "UNKEYWORD $Forwarded",
	     "* SEARCH\r\n$T OK done\r\n"},
	    {"NOOP", "$T OK done\r\n"},
	    {NULL, NULL}};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_mail_imap_query q = {0};
	uint32_t *uids = NULL;
	size_t n = 0;
	int news = -1;
	struct qm_error e;

	(void)state;
	script_start(&sc, "", steps); /* no LITERAL+: "+" first */
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_select(im, "INBOX", NULL, &e), QM_OK);
	q.text = "K\xc3\xb6ln";
	q.from = "a\"b";
	q.without = QM_MAIL_FLAG_SEEN;
	assert_err(qm_mail_imap_search(im, &q, &uids, &n, &e), QM_OK);
	assert_int_equal(n, 2);
	assert_int_equal(uids[0], 1);
	assert_int_equal(uids[1], 3);
	free(uids);
	memset(&q, 0, sizeof(q));
	q.subject = "\xc3\xa9";
	assert_err(qm_mail_imap_search(im, &q, &uids, &n, &e),
	           QM_ERR_UNSUPPORTED);
	memset(&q, 0, sizeof(q));
	q.since = 1000000000; /* 2001-09-09 01:46 UTC */
	q.before = 1009843200;
	q.with = QM_MAIL_FLAG_JUNK;
	q.without = QM_MAIL_FLAG_FORWARDED;
	assert_err(qm_mail_imap_search(im, &q, &uids, &n, &e), QM_OK);
	assert_int_equal(n, 0);
	assert_null(uids);
	assert_err(qm_mail_imap_wait(im, 1, 1, &news, &e), QM_OK);
	script_end(&sc, &im);
}

static void test_literal_answered_early(void **state)
{
	static const struct step steps[] = {
	    {"SELECT \"INBOX\"", SELECT_OK("")},
	    /* refused before the literal: the session goes on */
	    {"!UID SEARCH CHARSET UTF-8 TEXT {5}",
	     "$T NO [BADCHARSET (US-ASCII)] no\r\n"},
	    {"NOOP", "$T OK done\r\n"},
	    /* "done" before the literal came: out of step, broken */
	    {"!UID SEARCH CHARSET UTF-8 TEXT {5}", "$T OK done\r\n"},
	    {NULL, NULL}};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_mail_imap_query q = {.text = "\xc3\xa9t\xc3\xa9"};
	uint32_t *uids = NULL;
	size_t n = 0;
	int news = -1;
	struct qm_error e;

	(void)state;
	script_start(&sc, "", steps);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_select(im, "INBOX", NULL, &e), QM_OK);
	assert_err(qm_mail_imap_search(im, &q, &uids, &n, &e),
	           QM_ERR_UNSUPPORTED);
	assert_err(qm_mail_imap_wait(im, 1, 1, &news, &e), QM_OK);
	assert_err(qm_mail_imap_search(im, &q, &uids, &n, &e), QM_ERR_PROTO);
	assert_non_null(strstr(e.msg, "before its literal"));
	assert_err(qm_mail_imap_wait(im, 1, 1, &news, &e), QM_ERR_STATE);
	script_end(&sc, &im);
}

static void test_nomodseq_and_refused_enable(void **state)
{
	static const struct step steps[] = {
	    {"ENABLE QRESYNC", "$T BAD not now\r\n"},
	    {"SELECT \"Lists\" (CONDSTORE)",
	     SELECT_OK("* OK [NOMODSEQ] no mod-sequences here\r\n")},
	    {"UID FETCH 1:* (UID FLAGS)",
	     "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"
	     "* 2 FETCH (FLAGS (\\Flagged $Junk) UID 4)\r\n"
	     "* 3 FETCH (UID 6 FLAGS ())\r\n"
	     "* 3 FETCH (UID 6 FLAGS (\\Answered))\r\n$T OK done\r\n"},
	    {NULL, NULL}};
	const struct qm_mail_uid_flags held[] = {
	    {1, QM_MAIL_FLAG_SEEN}, {2, 0}, {4, QM_MAIL_FLAG_FLAGGED}};
	struct qm_mail_imap_known k = {9, 50, held, 3};
	struct qm_mail_imap_changes *ch = NULL;
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_error e;

	(void)state;
	script_start(&sc, "QRESYNC CONDSTORE ENABLE", steps);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_folder_sync(im, "Lists", &k, &ch, &e), QM_OK);
	assert_int_equal(ch->mode, QM_MAIL_IMAP_SYNC_FULL);
	assert_int_equal(ch->st.highestmodseq, 0);
	assert_int_equal(ch->nvanished, 1);
	assert_int_equal(ch->vanished[0], 2);
	assert_int_equal(ch->nchanged, 1);
	assert_int_equal(ch->changed[0].uid, 4);
	assert_int_equal(ch->changed[0].flags,
	                 QM_MAIL_FLAG_FLAGGED | QM_MAIL_FLAG_JUNK);
	/* the last reply for a UID counts */
	assert_int_equal(ch->nadded, 1);
	assert_int_equal(ch->added[0].uid, 6);
	assert_int_equal(ch->added[0].flags, QM_MAIL_FLAG_ANSWERED);
	qm_mail_imap_changes_free(&ch);
	assert_null(ch);
	script_end(&sc, &im);
}

struct got {
	int n;
	char subject[128], from[128], refs[256];
	size_t hdrlen;
	uint32_t size;
	int64_t internaldate;
};

static int on_sum(void *arg, const struct qm_mail_imap_summary *s, size_t done,
                  size_t total)
{
	struct got *g = arg;

	(void)done;
	(void)total;
	g->n++;
	qm_strlcpy(g->subject, s->subject, sizeof(g->subject));
	qm_strlcpy(g->from, s->from, sizeof(g->from));
	qm_strlcpy(g->refs, s->references, sizeof(g->refs));
	g->hdrlen = s->hdrlen;
	g->size = s->size;
	g->internaldate = s->internaldate;
	return 0;
}

static void test_summary_headers(void **state)
{
	static const struct step steps[] = {
	    {"SELECT \"INBOX\"", SELECT_OK("* OK [HIGHESTMODSEQ 7] ok\r\n")},
	    {"UID FETCH 5 (UID FLAGS RFC822.SIZE INTERNALDATE MODSEQ "
	     "BODY.PEEK[HEADER.FIELDS (",
	     "* 1 FETCH (UID 5 FLAGS (\\Seen) RFC822.SIZE 99 INTERNALDATE "
	     "\" 7-Feb-2025 10:00:00 +0100\" MODSEQ (7) "
	     "BODY[HEADER.FIELDS (SUBJECT)] {109}\r\n"
	     "Subject: a folded\r\n"
	     "\tsubject line\r\n"
	     "Sender: Bob <bob@qmail.test>\r\n"
	     "References: <a@x> <b@x> <c@x> <d@x> <e@x>\r\n"
	     "\r\n)\r\n$T OK done\r\n"},
	    {NULL, NULL}};
	const struct qm_mail_limits lim = {.max_header_len = 16};
	const uint32_t uid = 5;
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct got g = {0};
	struct qm_error e;

	(void)state;
	script_start(&sc, "CONDSTORE", steps);
	s = plain_server(&sc);
	s.limits = &lim;
	assert_err(qm_mail_imap_open(&s, &im, &e), QM_OK);
	assert_err(qm_mail_imap_folder_select(im, "INBOX", 0, NULL, &e), QM_OK);
	assert_err(qm_mail_imap_fetch_summaries(im, &uid, 1, on_sum, &g, &e),
	           QM_OK);
	assert_int_equal(g.n, 1);
	/* unfolded, cut at 16 bytes */
	assert_string_equal(g.subject, "a folded\tsubjec");
	assert_non_null(strstr(g.from, "Bob"));
	assert_int_equal(strlen(g.refs), 15);
	assert_int_equal(g.hdrlen, 109);
	script_end(&sc, &im);
}

/* ------------------------------------------------- oversized replies */

/* Sends all of n bytes, or gives up quietly (QMail may hang up first). */
static int put(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* 100,001 folders: one more than a listing holds. */
static void gen_many_folders(int fd, const char *tag)
{
	char line[128];

	for (int i = 0; i <= 100000; i++) {
		int k = snprintf(line, sizeof(line),
		                 "* LIST () \".\" f%06d\r\n", i);
		if (put(fd, line, (size_t)k))
			return;
	}
	say(fd, "$T OK done\r\n", tag);
}

/* 9,000 folders with 1000-byte names (the longest a name may be): each
 * is allowed, but together they are 9 MB of names, 18 MB with their
 * display forms, more than a listing keeps (16 MiB). */
static void gen_long_names(int fd, const char *tag)
{
	char line[1100];

	for (int i = 0; i < 9000; i++) {
		int k =
		    snprintf(line, sizeof(line), "* LIST () \".\" \"%06d", i);
		memset(line + k, 'n', 994);
		k += 994;
		k += snprintf(line + k, sizeof(line) - (size_t)k, "\"\r\n");
		if (put(fd, line, (size_t)k))
			return;
	}
	say(fd, "$T OK done\r\n", tag);
}

/* One LIST line of 300 KiB (a line holds 256 KiB). */
static void gen_long_line(int fd, const char *tag)
{
	static char name[300 * 1024];

	(void)tag;
	memset(name, 'x', sizeof(name));
	if (put(fd, "* LIST () \".\" ", 14) == 0)
		put(fd, name, sizeof(name));
	put(fd, "\r\n", 2);
}

static void test_hostile_sizes(void **state)
{
	static const struct step steps[] = {
	    {"LIST \"\" \"*\"", GEN(0)},
	    {"STATUS \"x\"", "* STATUS x (MESSAGES 1)\r\n$T OK done\r\n"},
	    {"LIST \"\" \"*\"", GEN(1)},
	    {"STATUS \"x\"", "* STATUS x (MESSAGES 1)\r\n$T OK done\r\n"},
	    /* numbers past their range */
	    {"SELECT \"INBOX\"",
	     "* FLAGS (\\Seen)\r\n* 3 EXISTS\r\n"
	     "* OK [UIDVALIDITY 4294967296] ok\r\n$T OK done\r\n"},
	    {"SELECT \"INBOX\"",
	     "* 4294967296 EXISTS\r\n* 7 EXISTS\r\n"
	     "* OK [UIDVALIDITY 9] ok\r\n"
	     "* OK [UIDNEXT 99999999999999999999999] ok\r\n"
	     "* OK [HIGHESTMODSEQ 18446744073709551615] ok\r\n"
	     "$T OK done\r\n"},
	    {"UID FETCH 5 (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK",
	     "* 1 FETCH (UID 5 RFC822.SIZE 99999999999 INTERNALDATE \"bogus\" "
	     "BODY[HEADER.FIELDS (SUBJECT)] {12}\r\nSubject: x\r\n)\r\n"
	     "* 2 FETCH (UID 4294967296 BODY[HEADER.FIELDS (SUBJECT)] "
	     "{12}\r\nSubject: y\r\n)\r\n$T OK done\r\n"},
	    /* a header block of 2 MB: refused before it is read */
	    {"UID FETCH 5 (UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK",
	     "* 1 FETCH (UID 5 BODY[HEADER.FIELDS (SUBJECT)] {2000000}\r\n"},
	    {NULL, NULL}};
	static const struct step steps2[] = {
	    {"SELECT \"INBOX\"", SELECT_OK("")},
	    {"UID SEARCH UNSEEN", "* SEARCH 1 4294967296 3\r\n$T OK done\r\n"},
	    {NULL, NULL}};
	static const struct step steps3[] = {{"LIST \"\" \"*\"", GEN(2)},
	                                     {NULL, NULL}};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_mail_imap_folders *f = NULL;
	struct qm_mail_imap_folder_state st;
	struct qm_mail_imap_query q = {.without = QM_MAIL_FLAG_SEEN};
	const uint32_t uid = 5;
	uint32_t *uids = NULL;
	size_t n = 0;
	struct got g = {0};
	struct qm_mail_imap_counts k;
	uint64_t t0;
	struct qm_error e;

	(void)state;
	script_start(&sc, "", steps);
	im = open_script(&sc, &s);
	/* too many folders: a clean refusal, the rest of the reply read */
	assert_err(qm_mail_imap_folders(im, 0, &f, &e), QM_ERR_TOOBIG);
	assert_null(f);
	assert_non_null(strstr(e.msg, "folders"));
	assert_err(qm_mail_imap_folder_status(im, "x", &k, &e), QM_OK);
	assert_int_equal(k.messages, 1);
	/* too many bytes of names */
	assert_err(qm_mail_imap_folders(im, 0, &f, &e), QM_ERR_TOOBIG);
	assert_null(f);
	assert_err(qm_mail_imap_folder_status(im, "x", &k, &e), QM_OK);
	assert_int_equal(k.messages, 1);
	/* UIDVALIDITY past 2^32 - 1 is none */
	assert_err(qm_mail_imap_folder_select(im, "INBOX", 0, &st, &e),
	           QM_ERR_PROTO);
	assert_non_null(strstr(e.msg, "UIDVALIDITY"));
	assert_err(qm_mail_imap_folder_select(im, "INBOX", 0, &st, &e), QM_OK);
	assert_int_equal(st.exists, 7);
	assert_int_equal(st.uidnext, 0);
	assert_int_equal(st.highestmodseq, 0);
	/* a size past 2^32 - 1 and a bad date are unknown; a UID past
	 * 2^32 - 1 is no message of ours */
	assert_err(qm_mail_imap_fetch_summaries(im, &uid, 1, on_sum, &g, &e),
	           QM_OK);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.subject, "x");
	assert_int_equal(g.size, 0);
	assert_int_equal(g.internaldate, 0);
	t0 = qm_mono_ns();
	assert_err(qm_mail_imap_fetch_summaries(im, &uid, 1, on_sum, &g, &e),
	           QM_ERR_TOOBIG);
	assert_true(qm_mono_ns() - t0 < 1500000000u); /* not the 2 s time-out */
	assert_int_equal(g.n, 1);
	/* the 2 MB were not read: the session cannot go on */
	assert_err(qm_mail_imap_folder_status(im, "x", &k, &e), QM_ERR_STATE);
	script_end(&sc, &im);

	/* a UID past 2^32 - 1 in a search: malformed */
	script_start(&sc, "", steps2);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_folder_select(im, "INBOX", 0, &st, &e), QM_OK);
	assert_err(qm_mail_imap_search(im, &q, &uids, &n, &e), QM_ERR_PROTO);
	assert_null(uids);
	assert_int_equal(n, 0);
	script_end(&sc, &im);

	/* a line longer than 256 KiB */
	script_start(&sc, "", steps3);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_folders(im, 0, &f, &e), QM_ERR_TOOBIG);
	assert_null(f);
	assert_non_null(strstr(e.msg, "line"));
	assert_err(qm_mail_imap_folders(im, 0, &f, &e), QM_ERR_STATE);
	script_end(&sc, &im);
}

/* A LIST nobody asked for, in the middle of STATUS (found by fuzz_imap:
 * it was filed into a listing that did not exist, a NULL dereference),
 * and another folder's STATUS (it overwrote the counts asked for). */
static void test_unsolicited_list(void **state)
{
	static const struct step steps[] = {
	    {"STATUS \"x\"", "* LIST () \".\" x\r\n* LSUB () \".\" x\r\n"
	                     "* STATUS x (MESSAGES 4)\r\n"
	                     "* STATUS y (MESSAGES 9)\r\n$T OK done\r\n"},
	    {NULL, NULL}};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_mail_imap_counts k;
	struct qm_error e;

	(void)state;
	script_start(&sc, "", steps);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_folder_status(im, "x", &k, &e), QM_OK);
	assert_int_equal(k.messages, 4);
	script_end(&sc, &im);
}

/* STATUS of several folders pipelined: each reply goes to the folder it
 * names (one for a folder not asked for is dropped), a refusal leaves its
 * folder without counts and the others still count, and the session is
 * in step after (the next command is answered as itself). */
static void test_status_pipelined(void **state)
{
	static const struct step steps[] = {
	    {"STATUS \"a\"", "* STATUS b (MESSAGES 9)\r\n"
	                     "* STATUS a (MESSAGES 4 UIDNEXT 7)\r\n"
	                     "$T OK done\r\n"},
	    {"STATUS \"gone\"", "$T NO [NONEXISTENT] no such folder\r\n"},
	    {"STATUS \"c d\"", "* STATUS \"c d\" (MESSAGES 2)\r\n"
	                       "$T OK done\r\n"},
	    {"STATUS \"a\"", "* STATUS a (MESSAGES 5)\r\n$T OK done\r\n"},
	    {NULL, NULL}};
	const char *const names[] = {"a", "gone", "c d"};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct qm_mail_imap_counts k[3], one;
	struct qm_error e;

	(void)state;
	script_start(&sc, "", steps);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_folders_status(im, names, 3, k, &e), QM_OK);
	assert_true(k[0].valid);
	assert_int_equal(k[0].messages, 4);
	assert_int_equal(k[0].uidnext, 7);
	assert_false(k[1].valid);
	assert_true(k[2].valid);
	assert_int_equal(k[2].messages, 2);
	assert_false(qm_mail_imap_broken(im));
	assert_err(qm_mail_imap_folder_status(im, "a", &one, &e), QM_OK);
	assert_int_equal(one.messages, 5);
	script_end(&sc, &im);
}

struct counted {
	int n, over;
	uint32_t uids[8];
};

static int on_count(void *arg, const struct qm_mail_imap_summary *s,
                    size_t done, size_t total)
{
	struct counted *c = arg;

	if (done > total || done != (size_t)c->n + 1)
		c->over = 1;
	if (c->n < 8)
		c->uids[c->n] = s->uid;
	c->n++;
	return 0;
}

/* Summaries for messages nobody asked for, and one message twice: one
 * callback per message asked for, and done never past total. */
static void test_summary_unasked(void **state)
{
	static const struct step steps[] = {
	    {"SELECT \"INBOX\"", SELECT_OK("")},
	    {"UID FETCH 5,7 (UID FLAGS",
	     "* 1 FETCH (UID 6 BODY[HEADER.FIELDS (SUBJECT)] {12}\r\n"
	     "Subject: 6\r\n)\r\n"
	     "* 2 FETCH (UID 5 BODY[HEADER.FIELDS (SUBJECT)] {12}\r\n"
	     "Subject: 5\r\n)\r\n"
	     "* 2 FETCH (UID 5 BODY[HEADER.FIELDS (SUBJECT)] {12}\r\n"
	     "Subject: 5\r\n)\r\n"
	     "* 3 FETCH (UID 99 BODY[HEADER.FIELDS (SUBJECT)] {13}\r\n"
	     "Subject: 99\r\n)\r\n"
	     "* 4 FETCH (UID 7 BODY[HEADER.FIELDS (SUBJECT)] {12}\r\n"
	     "Subject: 7\r\n)\r\n$T OK done\r\n"},
	    {NULL, NULL}};
	const uint32_t uids[] = {7, 5};
	struct script sc;
	struct qm_mail_server s;
	struct qm_mail_imap *im;
	struct counted c = {0};
	struct qm_error e;

	(void)state;
	script_start(&sc, "", steps);
	im = open_script(&sc, &s);
	assert_err(qm_mail_imap_select(im, "INBOX", NULL, &e), QM_OK);
	assert_err(qm_mail_imap_fetch_summaries(im, uids, 2, on_count, &c, &e),
	           QM_OK);
	assert_int_equal(c.n, 2);
	assert_false(c.over);
	assert_int_equal(c.uids[0], 5);
	assert_int_equal(c.uids[1], 7);
	script_end(&sc, &im);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_folders_by_name),
	    cmocka_unit_test(test_flags_sets_and_keywords),
	    cmocka_unit_test(test_hostile_copyuid),
	    cmocka_unit_test(test_hostile_sets),
	    cmocka_unit_test(test_search_literals_and_charset),
	    cmocka_unit_test(test_literal_answered_early),
	    cmocka_unit_test(test_nomodseq_and_refused_enable),
	    cmocka_unit_test(test_summary_headers),
	    cmocka_unit_test(test_hostile_sizes),
	    cmocka_unit_test(test_unsolicited_list),
	    cmocka_unit_test(test_status_pipelined),
	    cmocka_unit_test(test_summary_unasked),
	};
	struct qm_error e;

	if (qm_core_init(&e) != QM_OK || qm_mail_init(&e) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
