/* SPDX-License-Identifier: MIT */
/*
 * The loopback redirect listener (qm_mail_loopback, OAuth2's RFC 8252
 * redirect) under hostile local clients: something that is no HTTP, a
 * head past 16 KiB and a client that sends nothing are each answered 400
 * (or dropped) and the listener goes on to the next request; query
 * parameters are percent-decoded, and one holding a NUL or too long for
 * the caller's buffer is not given at all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/core.h"
#include "mail/mail.h"

static int port;

/* A client: sends what (n bytes, or nothing when NULL), reads the answer
 * into ans (NUL-terminated), closes. */
struct client {
	const char *what;
	size_t n;
	char ans[4096];
};

static void *client_run(void *arg)
{
	struct client *cl = arg;
	struct sockaddr_in sa;
	size_t got = 0;
	ssize_t r;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cl->ans[0] = '\0';
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return NULL;
	}
	if (cl->what)
		(void)!write(fd, cl->what, cl->n);
	while (got + 1 < sizeof(cl->ans) &&
	       (r = read(fd, cl->ans + got, sizeof(cl->ans) - 1 - got)) > 0)
		got += (size_t)r;
	cl->ans[got] = '\0';
	close(fd);
	return NULL;
}

static void test_hostile_then_good(void **state)
{
	struct qm_mail_loopback *lb = NULL;
	struct qm_mail_loopback_req req;
	struct client bad1 = {"HELLO THERE\r\n\r\n", 15, ""};
	struct client bad2 = {NULL, 0, ""};
	struct client good;
	struct qm_error e;
	pthread_t th;
	char *big, v[64];

	(void)state;
	assert_int_equal(qm_mail_loopback_open(&lb, &port, &e), QM_OK);
	assert_true(port > 0);

	/* no HTTP: 400, and the wait goes on to its time-out */
	assert_int_equal(pthread_create(&th, NULL, client_run, &bad1), 0);
	assert_int_equal(qm_mail_loopback_accept(lb, 1500, -1, &req, &e),
	                 QM_ERR_TIMEOUT);
	pthread_join(th, NULL);
	assert_non_null(strstr(bad1.ans, "HTTP/1.1 400"));

	/* a head past 16 KiB without its end */
	big = malloc(20000);
	assert_non_null(big);
	memcpy(big, "GET /?a=", 8);
	memset(big + 8, 'x', 20000 - 8);
	bad1.what = big;
	bad1.n = 20000;
	assert_int_equal(pthread_create(&th, NULL, client_run, &bad1), 0);
	assert_int_equal(qm_mail_loopback_accept(lb, 1500, -1, &req, &e),
	                 QM_ERR_TIMEOUT);
	pthread_join(th, NULL);
	assert_non_null(strstr(bad1.ans, "HTTP/1.1 400"));
	free(big);

	/* silent: answered 400 after 5 s (the wait overruns its time by
	 * that much at most), and a good request after it is taken */
	assert_int_equal(pthread_create(&th, NULL, client_run, &bad2), 0);
	assert_int_equal(qm_mail_loopback_accept(lb, 1000, -1, &req, &e),
	                 QM_ERR_TIMEOUT);
	pthread_join(th, NULL);
	assert_non_null(strstr(bad2.ans, "HTTP/1.1 400"));

	memset(&good, 0, sizeof(good));
	good.what = "GET /?code=a%2Bb+c&state=S&nul=x%00y&bad=%zz&"
	            "long=0123456789012345678901234567890123456789012345678901"
	            "234567890123456789 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	good.n = strlen(good.what);
	assert_int_equal(pthread_create(&th, NULL, client_run, &good), 0);
	assert_int_equal(qm_mail_loopback_accept(lb, 5000, -1, &req, &e),
	                 QM_OK);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.path, "/");
	assert_int_equal(qm_mail_loopback_param(&req, "code", v, sizeof(v)), 1);
	assert_string_equal(v, "a+b c");
	assert_int_equal(qm_mail_loopback_param(&req, "state", v, sizeof(v)),
	                 1);
	assert_string_equal(v, "S");
	assert_int_equal(qm_mail_loopback_param(&req, "nul", v, sizeof(v)), 0);
	assert_int_equal(qm_mail_loopback_param(&req, "bad", v, sizeof(v)), 1);
	assert_string_equal(v, "%zz");
	assert_int_equal(qm_mail_loopback_param(&req, "long", v, sizeof(v)), 0);
	assert_int_equal(qm_mail_loopback_param(&req, "cod", v, sizeof(v)), 0);
	qm_mail_loopback_reply(&req, 200, "<p>ok</p>");
	qm_mail_loopback_req_wipe(&req);
	pthread_join(th, NULL);
	assert_non_null(strstr(good.ans, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(good.ans, "Content-Length: 9\r\n"));
	assert_non_null(strstr(good.ans, "<p>ok</p>"));
	qm_mail_loopback_free(&lb);
	assert_null(lb);
}

static void test_wake(void **state)
{
	struct qm_mail_loopback *lb = NULL;
	struct qm_mail_loopback_req req;
	struct qm_error e;
	int p[2];
	uint64_t t0;

	(void)state;
	assert_int_equal(qm_mail_loopback_open(&lb, &port, &e), QM_OK);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	t0 = qm_mono_ns();
	assert_int_equal(qm_mail_loopback_accept(lb, 10000, p[0], &req, &e),
	                 QM_ERR_STATE);
	assert_true((qm_mono_ns() - t0) / 1000000u < 2000);
	close(p[0]);
	close(p[1]);
	qm_mail_loopback_free(&lb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hostile_then_good),
	    cmocka_unit_test(test_wake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
