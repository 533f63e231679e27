/* SPDX-License-Identifier: MIT */
/*
 * The mail clients against scripted misbehaving servers (plain TCP on
 * 127.0.0.1, one connection per case): for SMTP, IMAP and POP3 a garbage
 * greeting, a malformed reply, a connection dropped in the middle of a
 * transfer, an oversized reply or literal, and a server that stalls. Each
 * must end in a clear error, quickly, without a crash or a hang. Also the
 * client side of OAuth2 (XOAUTH2) and IMAP polling where IDLE is absent,
 * which the real test servers cannot show.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
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

enum scenario {
	SMTP_GARBAGE,
	SMTP_DROP_DATA,
	SMTP_STALL,
	SMTP_HUGE_LINE,
	SMTP_XOAUTH2,
	SMTP_REJECT_FROM,
	IMAP_GARBAGE,
	IMAP_HUGE_LITERAL,
	IMAP_DROP_LITERAL,
	IMAP_MALFORMED,
	IMAP_STALL,
	IMAP_BYE,
	IMAP_POLL,
	IMAP_INTERLEAVED,
	POP3_GARBAGE,
	POP3_BAD_UIDL,
	POP3_DROP_RETR,
	POP3_HUGE_RETR,
	POP3_STALL
};

struct fake {
	int lfd;
	int port;
	enum scenario sc;
	pthread_t th;
	char seen[4096]; /* a line the test wants to inspect */
};

static void say(int fd, const char *s)
{
	size_t n = strlen(s), off = 0;

	while (off < n) {
		ssize_t w = send(fd, s + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

/* Reads one line (without CRLF) within 10 s; -1 when the client left. */
static int get_line(int fd, char *buf, size_t n)
{
	size_t len = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		char c;

		if (poll(&p, 1, 10000) <= 0 || recv(fd, &c, 1, 0) != 1)
			return -1;
		if (c == '\n') {
			if (len && buf[len - 1] == '\r')
				len--;
			buf[len] = '\0';
			return (int)len;
		}
		if (len + 1 < n)
			buf[len++] = c;
	}
}

/* Waits until the client hangs up (what a stalled server does). */
static void drain(int fd)
{
	char buf[4096];

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10000) <= 0 ||
		    recv(fd, buf, sizeof(buf), 0) <= 0)
			return;
	}
}

static void smtp_script(struct fake *f, int fd)
{
	char line[8192];

	if (f->sc == SMTP_GARBAGE) {
		say(fd, "this is not an SMTP server\r\n");
		drain(fd);
		return;
	}
	if (f->sc == SMTP_HUGE_LINE) {
		say(fd, "220-");
		for (int i = 0; i < 1024; i++) {
			char chunk[1024];
			memset(chunk, 'x', sizeof(chunk) - 1);
			chunk[sizeof(chunk) - 1] = '\0';
			say(fd, chunk);
		}
		say(fd, "\r\n");
		drain(fd);
		return;
	}
	say(fd, "220 fake ESMTP\r\n");
	while (get_line(fd, line, sizeof(line)) >= 0) {
		if (strncasecmp(line, "EHLO", 4) == 0) {
			if (f->sc == SMTP_STALL) {
				drain(fd);
				return;
			}
			say(fd, "250-fake\r\n250-AUTH PLAIN XOAUTH2\r\n"
			        "250 8BITMIME\r\n");
		} else if (strncasecmp(line, "AUTH", 4) == 0) {
			qm_strlcpy(f->seen, line, sizeof(f->seen));
			if (!strchr(line + 5, ' ')) {
				/* no initial response: ask for it */
				say(fd, "334 \r\n");
				get_line(fd, line, sizeof(line));
			}
			say(fd, "235 2.7.0 ok\r\n");
		} else if (strncasecmp(line, "MAIL", 4) == 0) {
			if (f->sc == SMTP_REJECT_FROM)
				say(fd, "550-5.7.1 Sender rejected:\r\n"
				        "550 5.7.1 policy says no\x1b[31m\r\n");
			else
				say(fd, "250 ok\r\n");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			say(fd, "250 ok\r\n");
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			say(fd, "354 go\r\n");
			if (f->sc == SMTP_DROP_DATA) {
				get_line(fd, line, sizeof(line));
				return; /* hang up mid-transfer */
			}
			while (get_line(fd, line, sizeof(line)) >= 0 &&
			       strcmp(line, ".") != 0)
				;
			say(fd, "250 queued\r\n");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			say(fd, "221 bye\r\n");
			return;
		} else {
			say(fd, "502 unknown\r\n");
		}
	}
}

static void imap_script(struct fake *f, int fd)
{
	char line[8192], tag[64], out[512];
	int noops = 0;

	if (f->sc == IMAP_GARBAGE) {
		say(fd, "HTTP/1.1 400 Bad Request\r\n\r\n");
		drain(fd);
		return;
	}
	say(fd, "* OK fake IMAP ready\r\n");
	while (get_line(fd, line, sizeof(line)) >= 0) {
		char *sp = strchr(line, ' ');
		const char *cmd;

		if (!sp)
			continue;
		*sp = '\0';
		qm_strlcpy(tag, line, sizeof(tag));
		cmd = sp + 1;
		if (strncasecmp(cmd, "CAPABILITY", 10) == 0) {
			snprintf(out, sizeof(out),
			         "* CAPABILITY IMAP4rev1 AUTH=PLAIN%s\r\n"
			         "%s OK done\r\n",
			         f->sc == IMAP_POLL ? "" : " IDLE", tag);
			say(fd, out);
		} else if (strncasecmp(cmd, "AUTHENTICATE", 12) == 0) {
			if (!strchr(cmd + 13, ' ')) {
				say(fd, "+ \r\n");
				get_line(fd, line, sizeof(line));
			}
			snprintf(out, sizeof(out), "%s OK logged in\r\n", tag);
			say(fd, out);
		} else if (strncasecmp(cmd, "LOGIN", 5) == 0) {
			snprintf(out, sizeof(out), "%s OK logged in\r\n", tag);
			say(fd, out);
		} else if (strncasecmp(cmd, "SELECT", 6) == 0) {
			if (f->sc == IMAP_BYE) {
				say(fd, "* BYE server shutting down\r\n");
				return;
			}
			snprintf(out, sizeof(out),
			         "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n"
			         "* OK [UIDNEXT 2] ok\r\n%s OK [READ-WRITE] "
			         "done\r\n",
			         tag);
			say(fd, out);
		} else if (strncasecmp(cmd, "UID FETCH", 9) == 0) {
			switch (f->sc) {
			case IMAP_HUGE_LITERAL:
				say(fd, "* 1 FETCH (UID 1 BODY[] {99999999999}"
				        "\r\nxxxxxxxx");
				drain(fd);
				return;
			case IMAP_DROP_LITERAL:
				say(fd, "* 1 FETCH (UID 1 BODY[] {1000}\r\n"
				        "From: someone\r\n\r\nonly a little");
				return;
			case IMAP_MALFORMED:
				say(fd, "complete nonsense\r\n");
				drain(fd);
				return;
			case IMAP_STALL:
				drain(fd);
				return;
			case IMAP_INTERLEAVED:
				/* another message's data first, ours split in
				 * two responses */
				snprintf(
				    out, sizeof(out),
				    "* 5 FETCH (UID 9 BODY[] {5}\r\nWRONG)\r\n"
				    "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"
				    "* 1 FETCH (UID 1 BODY[] {11}\r\n"
				    "right bytes)\r\n%s OK\r\n",
				    tag);
				say(fd, out);
				break;
			default:
				snprintf(out, sizeof(out), "%s OK\r\n", tag);
				say(fd, out);
			}
		} else if (strncasecmp(cmd, "NOOP", 4) == 0) {
			if (++noops == 3)
				say(fd, "* 2 EXISTS\r\n");
			snprintf(out, sizeof(out), "%s OK\r\n", tag);
			say(fd, out);
		} else if (strncasecmp(cmd, "LOGOUT", 6) == 0) {
			snprintf(out, sizeof(out), "* BYE\r\n%s OK\r\n", tag);
			say(fd, out);
			return;
		} else {
			snprintf(out, sizeof(out), "%s BAD unknown\r\n", tag);
			say(fd, out);
		}
	}
}

static void pop3_script(struct fake *f, int fd)
{
	char line[8192];

	if (f->sc == POP3_GARBAGE) {
		say(fd, "hello there\r\n");
		drain(fd);
		return;
	}
	say(fd, "+OK fake POP3\r\n");
	while (get_line(fd, line, sizeof(line)) >= 0) {
		if (strncasecmp(line, "CAPA", 4) == 0) {
			say(fd, "+OK\r\nUSER\r\nUIDL\r\n.\r\n");
		} else if (strncasecmp(line, "USER", 4) == 0 ||
		           strncasecmp(line, "PASS", 4) == 0 ||
		           strncasecmp(line, "NOOP", 4) == 0) {
			say(fd, "+OK\r\n");
		} else if (strncasecmp(line, "UIDL", 4) == 0) {
			if (f->sc == POP3_STALL) {
				drain(fd);
				return;
			}
			if (f->sc == POP3_BAD_UIDL)
				say(fd,
				    "+OK\r\n1 abc\r\nnot a number\r\n.\r\n");
			else
				say(fd, "+OK\r\n1 abc\r\n.\r\n");
		} else if (strncasecmp(line, "RETR", 4) == 0) {
			say(fd, "+OK\r\nFrom: a@b\r\n\r\n");
			if (f->sc == POP3_DROP_RETR)
				return;
			for (int i = 0; i < 40000; i++)
				say(fd,
				    "0123456789012345678901234567890123456"
				    "789012345678901234567890123456789\r\n");
			say(fd, ".\r\n");
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			say(fd, "+OK bye\r\n");
			return;
		} else {
			say(fd, "-ERR unknown\r\n");
		}
	}
}

static void *serve(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = {.fd = f->lfd, .events = POLLIN};
	int fd;

	/* one connection per case, each handled to its end */
	while (poll(&p, 1, 10000) > 0) {
		if ((fd = accept(f->lfd, NULL, NULL)) < 0)
			break;
		if (f->sc <= SMTP_REJECT_FROM)
			smtp_script(f, fd);
		else if (f->sc <= IMAP_INTERLEAVED)
			imap_script(f, fd);
		else
			pop3_script(f, fd);
		close(fd);
	}
	return NULL;
}

static void fake_start(struct fake *f, enum scenario sc)
{
	struct sockaddr_in a = {0};
	socklen_t alen = sizeof(a);
	int one = 1;

	memset(f, 0, sizeof(*f));
	f->sc = sc;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &alen), 0);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->th, NULL, serve, f), 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);
	close(f->lfd);
	pthread_join(f->th, NULL);
}

static struct qm_mail_server plain_server(const struct fake *f)
{
	struct qm_mail_server s = {0};

	s.host = "127.0.0.1";
	s.port = f->port;
	s.tls = QM_MAIL_TLS_NONE;
	s.user = "alice@qmail.test";
	s.password = "pw";
	s.connect_timeout_ms = 2000;
	s.io_timeout_ms = 1000;
	return s;
}

/* Runs one SMTP send against scenario sc; returns the code, fills e. */
static enum qm_err smtp_case(enum scenario sc, struct qm_mail_server *over,
                             struct fake *f, struct qm_error *e)
{
	static const char msg[] = "From: a@b\r\nSubject: t\r\n\r\nbody\r\n";
	const char *rcpt[] = {"bob@qmail.test"};
	struct qm_mail_server s;
	uint64_t t0 = qm_mono_ns();
	enum qm_err r;

	fake_start(f, sc);
	s = plain_server(f);
	if (over) {
		s.auth = over->auth;
		s.bearer = over->bearer;
	}
	r = qm_mail_smtp_send(&s, "alice@qmail.test", rcpt, 1, msg,
	                      sizeof(msg) - 1, e);
	fake_stop(f);
	fprintf(stderr, "smtp case %d -> %d: %s\n", (int)sc, (int)r,
	        r ? e->msg : "ok");
	/* never a hang: everything ends within a few io time-outs */
	assert_true(qm_mono_ns() - t0 < 8000000000u);
	return r;
}

static void test_smtp_misbehaving(void **state)
{
	struct fake f;
	struct qm_error e;
	enum qm_err r;

	(void)state;
	/* libcurl waits for a reply line it can read: a time-out that
	 * quotes what the server said */
	r = smtp_case(SMTP_GARBAGE, NULL, &f, &e);
	assert_true(r == QM_ERR_PROTO || r == QM_ERR_NET ||
	            r == QM_ERR_TIMEOUT);
	assert_non_null(strstr(e.msg, "this is not an SMTP server"));
	assert_non_null(strstr(e.msg, "sending mail"));

	r = smtp_case(SMTP_DROP_DATA, NULL, &f, &e);
	assert_true(r == QM_ERR_NET || r == QM_ERR_PROTO);

	r = smtp_case(SMTP_STALL, NULL, &f, &e);
	assert_int_equal(r, QM_ERR_TIMEOUT);
	assert_non_null(strstr(e.msg, "did not answer in time"));

	r = smtp_case(SMTP_HUGE_LINE, NULL, &f, &e);
	assert_int_equal(r, QM_ERR_PROTO);
	assert_non_null(strstr(e.msg, "oversized"));

	r = smtp_case(SMTP_REJECT_FROM, NULL, &f, &e);
	assert_int_equal(r, QM_ERR_PROTO);
	/* a multi-line reply, whole, on one line, control bytes flattened */
	assert_non_null(strstr(e.msg, "\"550-5.7.1 Sender rejected: "
	                              "550 5.7.1 policy says no [31m\""));
	assert_null(strchr(e.msg, '\x1b'));
}

static void test_smtp_xoauth2(void **state)
{
	struct qm_mail_server over = {0};
	struct qm_buf dec;
	struct fake f;
	struct qm_error e;
	const char *b64;
	static const char want[] = "user=alice@qmail.test\001"
	                           "auth=Bearer tok-123\001\001";

	(void)state;
	over.auth = QM_MAIL_AUTH_XOAUTH2;
	over.bearer = "tok-123";
	assert_int_equal(smtp_case(SMTP_XOAUTH2, &over, &f, &e), QM_OK);
	assert_true(strncmp(f.seen, "AUTH XOAUTH2 ", 13) == 0);
	b64 = f.seen + 13;
	qm_buf_init(&dec, 4096);
	assert_int_equal(qm_b64_decode(b64, strlen(b64), &dec, &e), QM_OK);
	assert_int_equal(dec.len, sizeof(want) - 1);
	assert_memory_equal(dec.data, want, sizeof(want) - 1);
	qm_buf_free(&dec);

	/* no token: refused before any connection */
	over.bearer = NULL;
	assert_int_equal(smtp_case(SMTP_XOAUTH2, &over, &f, &e), QM_ERR_INVAL);
}

static void test_plain_refused_off_loopback(void **state)
{
	struct qm_mail_server s = {0};
	struct qm_mail_imap *im = NULL;
	struct qm_error e;

	(void)state;
	s.host = "mail.example.org";
	s.tls = QM_MAIL_TLS_NONE;
	assert_int_equal(qm_mail_imap_open(&s, &im, &e), QM_ERR_INVAL);
	assert_non_null(strstr(e.msg, "unencrypted"));
	s.host = "bad host\r\n";
	s.tls = QM_MAIL_TLS_IMPLICIT;
	assert_int_equal(qm_mail_imap_open(&s, &im, &e), QM_ERR_INVAL);
}

/* Opens, selects and fetches UID 1 against scenario sc. */
static enum qm_err imap_case(enum scenario sc, struct qm_error *e,
                             int *broken_after)
{
	struct fake f;
	struct qm_mail_server s;
	struct qm_mail_imap *im = NULL;
	struct qm_buf b;
	uint64_t t0 = qm_mono_ns();
	enum qm_err r;

	fake_start(&f, sc);
	s = plain_server(&f);
	s.max_message = 1 << 20;
	qm_buf_init(&b, 8u << 20);
	r = qm_mail_imap_open(&s, &im, e);
	if (r == QM_OK)
		r = qm_mail_imap_select(im, "INBOX", NULL, e);
	if (r == QM_OK)
		r = qm_mail_imap_fetch(im, 1, &b, e);
	if (broken_after && im) {
		struct qm_error e2;
		*broken_after =
		    qm_mail_imap_select(im, "INBOX", NULL, &e2) == QM_ERR_STATE;
	}
	qm_mail_imap_free(&im);
	qm_buf_free(&b);
	fake_stop(&f);
	fprintf(stderr, "imap case %d -> %d: %s\n", (int)sc, (int)r,
	        r ? e->msg : "ok");
	assert_true(qm_mono_ns() - t0 < 8000000000u);
	return r;
}

static void test_imap_misbehaving(void **state)
{
	struct qm_error e;
	int broken = 0;
	enum qm_err r;

	(void)state;
	r = imap_case(IMAP_GARBAGE, &e, NULL);
	assert_true(r == QM_ERR_PROTO || r == QM_ERR_NET ||
	            r == QM_ERR_TIMEOUT);
	assert_non_null(strstr(e.msg, "400 Bad Request"));
	assert_non_null(strstr(e.msg, "IMAP"));

	r = imap_case(IMAP_HUGE_LITERAL, &e, &broken);
	assert_int_equal(r, QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "99999999999"));
	assert_true(broken);

	r = imap_case(IMAP_DROP_LITERAL, &e, &broken);
	assert_int_equal(r, QM_ERR_NET);
	assert_non_null(strstr(e.msg, "closed the connection"));
	assert_true(broken);

	r = imap_case(IMAP_MALFORMED, &e, &broken);
	assert_int_equal(r, QM_ERR_PROTO);
	assert_non_null(strstr(e.msg, "complete nonsense"));

	r = imap_case(IMAP_STALL, &e, &broken);
	assert_int_equal(r, QM_ERR_TIMEOUT);
	assert_true(broken);

	r = imap_case(IMAP_BYE, &e, NULL);
	assert_int_equal(r, QM_ERR_NET);
	assert_non_null(strstr(e.msg, "shutting down"));
}

static void test_imap_poll_without_idle(void **state)
{
	struct fake f;
	struct qm_mail_server s;
	struct qm_mail_imap *im = NULL;
	struct qm_error e;
	int news = 0;

	(void)state;
	fake_start(&f, IMAP_POLL);
	s = plain_server(&f);
	assert_int_equal(qm_mail_imap_open(&s, &im, &e), QM_OK);
	assert_false(qm_mail_imap_has_cap(im, "IDLE"));
	assert_int_equal(qm_mail_imap_select(im, "INBOX", NULL, &e), QM_OK);
	/* the third NOOP brings "* 2 EXISTS" */
	assert_int_equal(qm_mail_imap_wait(im, 5000, 50, &news, &e), QM_OK);
	assert_int_equal(news, 1);
	qm_mail_imap_free(&im);
	fake_stop(&f);
}

static enum qm_err pop3_case(enum scenario sc, struct qm_error *e)
{
	struct fake f;
	struct qm_mail_server s;
	struct qm_mail_pop3 *p = NULL;
	struct qm_mail_pop3_msg *list = NULL;
	struct qm_buf b;
	size_t n = 0;
	uint64_t t0 = qm_mono_ns();
	enum qm_err r;

	fake_start(&f, sc);
	s = plain_server(&f);
	s.max_message = 1 << 20;
	qm_buf_init(&b, 8u << 20);
	r = qm_mail_pop3_open(&s, &p, e);
	if (r == QM_OK)
		r = qm_mail_pop3_uidl(p, &list, &n, e);
	if (r == QM_OK) {
		assert_int_equal(n, 1);
		assert_string_equal(list[0].uidl, "abc");
		r = qm_mail_pop3_retr(p, list[0].num, &b, e);
	}
	free(list);
	qm_mail_pop3_free(&p);
	qm_buf_free(&b);
	fake_stop(&f);
	fprintf(stderr, "pop3 case %d -> %d: %s\n", (int)sc, (int)r,
	        r ? e->msg : "ok");
	assert_true(qm_mono_ns() - t0 < 8000000000u);
	return r;
}

static void test_imap_interleaved_fetch(void **state)
{
	struct fake f;
	struct qm_mail_server s;
	struct qm_mail_imap *im = NULL;
	struct qm_buf b;
	struct qm_error e;

	(void)state;
	fake_start(&f, IMAP_INTERLEAVED);
	s = plain_server(&f);
	qm_buf_init(&b, 1 << 20);
	assert_int_equal(qm_mail_imap_open(&s, &im, &e), QM_OK);
	assert_int_equal(qm_mail_imap_select(im, "INBOX", NULL, &e), QM_OK);
	assert_int_equal(qm_mail_imap_fetch(im, 1, &b, &e), QM_OK);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.data, "right bytes", 11);
	qm_buf_free(&b);
	qm_mail_imap_free(&im);
	fake_stop(&f);
}

static void test_pop3_misbehaving(void **state)
{
	struct qm_error e;
	enum qm_err r;

	(void)state;
	r = pop3_case(POP3_GARBAGE, &e);
	assert_int_not_equal(r, QM_OK);
	assert_non_null(strstr(e.msg, "POP3"));

	r = pop3_case(POP3_BAD_UIDL, &e);
	assert_int_equal(r, QM_ERR_PROTO);
	assert_non_null(strstr(e.msg, "malformed"));

	r = pop3_case(POP3_DROP_RETR, &e);
	assert_int_equal(r, QM_ERR_NET);
	assert_non_null(strstr(e.msg, "before the end"));

	r = pop3_case(POP3_HUGE_RETR, &e);
	assert_int_equal(r, QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "limit of 1048576"));

	r = pop3_case(POP3_STALL, &e);
	assert_int_equal(r, QM_ERR_TIMEOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_smtp_misbehaving),
	    cmocka_unit_test(test_smtp_xoauth2),
	    cmocka_unit_test(test_plain_refused_off_loopback),
	    cmocka_unit_test(test_imap_misbehaving),
	    cmocka_unit_test(test_imap_poll_without_idle),
	    cmocka_unit_test(test_imap_interleaved_fetch),
	    cmocka_unit_test(test_pop3_misbehaving),
	};
	struct qm_error e;

	if (qm_core_init(&e) != QM_OK || qm_mail_init(&e) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
