/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the web GUI's request handling (src/web): request line and
 * path routing, query arguments, Host/Origin checks, the session cookie and
 * CSRF token, JSON bodies and the field readers, raw uploads, keyring
 * imports, contacts, settings and drafts. The real server runs over a real
 * client engine in a temporary home; the harness unlocks one session at
 * start and the input is one raw HTTP request sent on a fresh loopback
 * connection, with "$C" replaced by the session cookie, "$X" by its CSRF
 * token and "$H" by host:port, so mutations get past authentication.
 *
 * Requests that would reach the network or end the session are not sent
 * (so the harness stays on 127.0.0.1 and deterministic): any that names
 * sync, send, test, kme, levels, retry, lock, init, passphrase, or that
 * changes accounts (fuzzed mail hosts must never be contacted).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/client.h"
#include "fuzz.h"
#include "web/web.h"

static char g_home[512];
static struct qm_client *g_client;
static struct qm_web_server *g_srv;
static uint16_t g_port;
static char g_cookie[160], g_csrf[80], g_host[64];

/* Sends req on a new connection and reads the whole answer into resp. */
static size_t roundtrip(const void *req, size_t n, char *resp, size_t max)
{
	struct sockaddr_in a;
	int fd = -1, crc = -1;
	size_t got = 0;
	const char *p = req;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(g_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* libFuzzer's timer signal may interrupt connect(): a new socket */
	for (int tries = 0; tries < 5; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			break;
		crc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		if (crc == 0 || errno != EINTR)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0 || crc != 0) {
		char why[160];

		snprintf(why, sizeof(why), "web: cannot connect to the server: %s",
		         strerror(errno));
		fuzz_die(why, NULL);
	}
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		p += w;
		n -= (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd pf = {fd, POLLIN, 0};
		char sink[4096];
		char *dst = got + 1 < max ? resp + got : sink;
		size_t room = got + 1 < max ? max - 1 - got : sizeof(sink);
		ssize_t r;

		if (poll(&pf, 1, 10000) <= 0)
			break;
		r = recv(fd, dst, room, 0);
		if (r <= 0)
			break;
		if (dst != sink)
			got += (size_t)r;
	}
	{
		/* close with a reset: thousands of connections a second would
		 * otherwise leave as many ports in TIME_WAIT, until connect()
		 * finds no free local port (EADDRNOTAVAIL) after ~30 s of
		 * fuzzing; that was the harness, not the server */
		struct linger lg = {1, 0};

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(fd);
	if (max)
		resp[got] = '\0';
	return got;
}

/* Copies the value after name (up to a delimiter in stop) into out. */
static void grab(const char *s, const char *name, const char *stop, char *out,
                 size_t outlen)
{
	const char *p = strstr(s, name);
	size_t n;

	if (!p)
		fuzz_die(name, NULL);
	p += strlen(name);
	n = strcspn(p, stop);
	if (n >= outlen)
		fuzz_die("web: value too long", NULL);
	memcpy(out, p, n);
	out[n] = '\0';
}

static void unlock_session(void)
{
	char req[2048], resp[65536];
	static const char body[] = "{\"passphrase\":\"fuzz passphrase 1\"}";

	snprintf(req, sizeof(req),
	         "GET /api/state HTTP/1.1\r\nHost: %s\r\n\r\n", g_host);
	roundtrip(req, strlen(req), resp, sizeof(resp));
	grab(resp, "Set-Cookie: ", ";", g_cookie, sizeof(g_cookie));
	grab(resp, "\"csrf\":\"", "\"", g_csrf, sizeof(g_csrf));
	snprintf(req, sizeof(req),
	         "POST /api/init HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\n"
	         "Cookie: %s\r\nX-CSRF-Token: %s\r\n"
	         "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	         "\r\n%s",
	         g_host, g_host, g_cookie, g_csrf, strlen(body), body);
	roundtrip(req, strlen(req), resp, sizeof(resp));
	if (!strstr(resp, "\"unlocked\":true"))
		fuzz_die("web: could not unlock a session", NULL);
	grab(resp, "Set-Cookie: ", ";", g_cookie, sizeof(g_cookie));
	grab(resp, "\"csrf\":\"", "\"", g_csrf, sizeof(g_csrf));
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_client_opts co;
	struct qm_web_config wc;
	struct qm_error e;

	(void)argc;
	(void)argv;
	setenv("QM_STORE_KDF", "fast", 1);
	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	fuzz_tempdir(g_home, sizeof(g_home));
	memset(&co, 0, sizeof(co));
	co.home = g_home;
	if (qm_client_open(&co, &g_client, &e) != QM_OK)
		fuzz_die("client open", &e);
	memset(&wc, 0, sizeof(wc));
	wc.max_upload = 64 * 1024;
	if (qm_web_server_start(&wc, g_client, &g_srv, &e) != QM_OK)
		fuzz_die("web server start", &e);
	g_port = qm_web_server_port(g_srv);
	snprintf(g_host, sizeof(g_host), "127.0.0.1:%u", (unsigned)g_port);
	unlock_session();
	return 0;
}

void fuzz_teardown(void)
{
	qm_web_server_stop(&g_srv);
	qm_client_free(&g_client);
	fuzz_rmtree(g_home);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* True when the request must not be sent (see the file comment). The whole
 * input is %-decoded and lower-cased first, so encodings do not hide a
 * name. */
static int refused(const uint8_t *data, size_t size)
{
	static const char *const deny[] = {
	    "sync",  "send", "test", "kme",        "levels",
	    "retry", "lock", "init", "passphrase", "accounts"};
	char *s = malloc(size + 1);
	size_t n = 0;
	int bad = 0;

	if (!s)
		fuzz_die("out of memory", NULL);
	for (size_t i = 0; i < size; i++) {
		int c = data[i];

		/* decode repeatedly: %2573 is %73 is s */
		while (c == '%' && i + 2 < size && hexval(data[i + 1]) >= 0 &&
		       hexval(data[i + 2]) >= 0) {
			c = hexval(data[i + 1]) * 16 + hexval(data[i + 2]);
			i += 2;
		}
		if (c == 0)
			continue; /* a NUL must not split a name */
		s[n++] = (char)tolower(c);
	}
	s[n] = '\0';
	for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]) && !bad; i++)
		if (strstr(s, deny[i]))
			bad = 1;
	free(s);
	return bad;
}

/* Replaces $C, $X and $H. */
static char *expand(const uint8_t *data, size_t size, size_t *outlen)
{
	size_t cap = size * 4 + 256, n = 0;
	char *o = malloc(cap);

	if (!o)
		fuzz_die("out of memory", NULL);
	for (size_t i = 0; i < size; i++) {
		const char *rep = NULL;

		if (data[i] == '$' && i + 1 < size) {
			rep = data[i + 1] == 'C'   ? g_cookie
			      : data[i + 1] == 'X' ? g_csrf
			      : data[i + 1] == 'H' ? g_host
			                           : NULL;
		}
		if (rep && n + strlen(rep) < cap) {
			memcpy(o + n, rep, strlen(rep));
			n += strlen(rep);
			i++;
		} else if (n < cap) {
			o[n++] = (char)data[i];
		}
	}
	*outlen = n;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char resp[1 << 16];
	size_t n;
	char *req;

	if (refused(data, size))
		return -1; /* libFuzzer: do not add to the corpus */
	req = expand(data, size, &n);
	roundtrip(req, n, resp, sizeof(resp));
	free(req);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "%.120s\n", resp);
	/* every answer of the API carries the security headers of
	 * docs/WEB.md (libmicrohttpd's own 400s for broken requests aside) */
	if (strncmp(resp, "HTTP/1.", 7) == 0 && strstr(resp, "\r\n\r\n{") &&
	    (!strstr(resp, "Content-Security-Policy") ||
	     !strstr(resp, "X-Content-Type-Options: nosniff")))
		__builtin_trap();
	return 0;
}
