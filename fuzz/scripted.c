/* SPDX-License-Identifier: MIT */
/*
 * The scripted mail server of the protocol fuzz targets (see scripted.h).
 * One thread accepts connections on 127.0.0.1 and plays the current script
 * across them in order (libcurl may open a second connection).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "scripted.h"

#define SEP "~~\n"
/* A client silent this long after a reply it must answer: go on with the
 * script. 1 s keeps corpus replay deterministic on a loaded machine;
 * fuzz/run.sh sets FUZZ_QUIET_MS lower for speed. */
static int quiet_ms(void)
{
	static int ms;

	if (!ms) {
		const char *v = getenv("FUZZ_QUIET_MS");
		long long n = 1000;

		if (v)
			/* a value out of range keeps the default */
			QM_IGNORE(qm_parse_ll(v, 1, 60000, &n, NULL));
		ms = (int)n;
	}
	return ms;
}

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static enum scripted_proto g_proto;
static int g_lfd = -1, g_port, g_stop, g_busy;
static pthread_t g_thr;
static uint8_t *g_script;
static size_t g_len, g_off;

/* Next chunk of the script, or 0 when it is used up. */
static int next_chunk(const uint8_t **p, size_t *n)
{
	const uint8_t *s, *sep;

	pthread_mutex_lock(&g_mu);
	if (g_off > g_len || !g_script || (g_off == g_len && g_len)) {
		pthread_mutex_unlock(&g_mu);
		return 0;
	}
	s = g_script + g_off;
	sep = memmem(s, g_len - g_off, SEP, strlen(SEP));
	*p = s;
	*n = sep ? (size_t)(sep - s) : g_len - g_off;
	g_off += *n + (sep ? strlen(SEP) : 1);
	pthread_mutex_unlock(&g_mu);
	return 1;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Sends chunk with "$T" replaced by tag, in one send(): pieces sent one
 * by one met Nagle's algorithm and the client's delayed ACK, 40 ms per
 * command (a whole IMAP session took about a second). */
static void send_chunk(int fd, const uint8_t *p, size_t n, const char *tag)
{
	size_t tl = strlen(tag), cap = n + 1, len = 0, from = 0;
	uint8_t *out;

	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '$' && p[i + 1] == 'T')
			cap += tl;
	out = malloc(cap);
	if (!out)
		fuzz_die("out of memory", NULL);
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '$' && p[i + 1] == 'T') {
			memcpy(out + len, p + from, i - from);
			len += i - from;
			memcpy(out + len, tag, tl);
			len += tl;
			from = i + 2;
			i++;
		}
	memcpy(out + len, p + from, n - from);
	len += n - from;
	send_all(fd, out, len);
	free(out);
}

/* True when the client must answer this chunk before it goes on: a tagged
 * line or a continuation (IMAP), a final reply line (SMTP "NNN "), a POP3
 * status whose multi-line body (if any) is complete. */
static int expects_client(const uint8_t *p, size_t n, const char *tag)
{
	size_t tl = strlen(tag);

	for (size_t i = 0; i < n;) {
		const uint8_t *line = p + i, *nl = memchr(line, '\n', n - i);
		size_t ll = nl ? (size_t)(nl - line) : n - i;

		switch (g_proto) {
		case SCRIPTED_IMAP:
			if ((ll >= 1 && line[0] == '+') ||
			    (ll >= 3 && line[0] == '$' && line[1] == 'T') ||
			    (tl && ll > tl && memcmp(line, tag, tl) == 0 &&
			     line[tl] == ' '))
				return 1;
			break;
		case SCRIPTED_SMTP:
			if (ll >= 4 && line[3] == ' ')
				return 1;
			break;
		case SCRIPTED_POP3:
			if (ll >= 1 && (line[0] == '+' || line[0] == '-'))
				return 1;
			break;
		}
		i += ll + 1;
	}
	return 0;
}

/* The tag of the client's command: the first word when it looks like one. */
static void take_tag(const char *buf, size_t n, char *tag, size_t tagsize)
{
	size_t i = 0;

	while (i < n && i + 1 < tagsize &&
	       ((buf[i] >= 'A' && buf[i] <= 'Z') ||
	        (buf[i] >= '0' && buf[i] <= '9')))
		i++;
	if (i > 1 && i < n && buf[i] == ' ' && buf[0] >= 'A' && buf[0] <= 'Z') {
		memcpy(tag, buf, i);
		tag[i] = '\0';
	}
}

/* Whether the SMTP message ends ("\r\n.\r\n") in this batch of client
 * bytes, the end possibly split across batches: tail keeps the last four
 * bytes seen (*ntail of them). */
static int data_ends(char *tail, size_t *ntail, const char *buf, size_t n)
{
	char edge[8];
	size_t k = n < 4 ? n : 4, e = *ntail + k;

	memcpy(edge, tail, *ntail);
	memcpy(edge + *ntail, buf, k);
	if (memmem(edge, e, "\r\n.\r\n", 5) || memmem(buf, n, "\r\n.\r\n", 5))
		return 1;
	/* keep the last four bytes of edge + buf */
	if (n >= 4) {
		memcpy(tail, buf + n - 4, 4);
		*ntail = 4;
	} else {
		size_t keep = e < 4 ? e : 4;

		memmove(tail, edge + e - keep, keep);
		*ntail = keep;
	}
	return 0;
}

static void serve(int fd)
{
	char tag[32] = "*", buf[65536], tail[4];
	size_t ntail = 0;
	const uint8_t *p;
	size_t n;
	int in_data = 0;

	if (next_chunk(&p, &n))
		send_chunk(fd, p, n, tag);
	else
		goto done;
	for (;;) {
		struct pollfd pf = {fd, POLLIN, 0};
		int wait = expects_client(p, n, tag) || in_data;
		int r = poll(&pf, 1, wait ? quiet_ms() : 0);

		if (r > 0) {
			ssize_t got = recv(fd, buf, sizeof(buf), 0);

			if (got <= 0)
				goto done;
			if (getenv("FUZZ_VERBOSE"))
				fprintf(stderr, "C: %.*s",
				        (int)(got > 200 ? 200 : got), buf);
			take_tag(buf, (size_t)got, tag, sizeof(tag));
			if (in_data && !data_ends(tail, &ntail, buf,
			                          (size_t)got))
				continue; /* SMTP message still coming */
			in_data = 0;
		}
		if (!next_chunk(&p, &n))
			goto done;
		send_chunk(fd, p, n, tag);
		if (g_proto == SCRIPTED_SMTP && n >= 4 &&
		    memcmp(p, "354", 3) == 0) {
			/* the message starts on a new line: a lone "." line
			 * right away ends it too */
			memcpy(tail, "\r\n", 2);
			ntail = 2;
			in_data = 1;
		}
	}
done:
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd pf = {fd, POLLIN, 0};

		if (poll(&pf, 1, quiet_ms()) <= 0 ||
		    recv(fd, buf, sizeof(buf), 0) <= 0)
			break;
	}
	close(fd);
}

static void *run(void *arg)
{
	(void)arg;
	for (;;) {
		struct pollfd pf = {g_lfd, POLLIN, 0};
		int fd;

		pthread_mutex_lock(&g_mu);
		if (g_stop) {
			pthread_mutex_unlock(&g_mu);
			break;
		}
		pthread_mutex_unlock(&g_mu);
		if (poll(&pf, 1, 100) <= 0)
			continue;
		fd = accept(g_lfd, NULL, NULL);
		if (fd < 0)
			continue;
		{
			int one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			           sizeof(one));
		}
		pthread_mutex_lock(&g_mu);
		g_busy++;
		pthread_mutex_unlock(&g_mu);
		serve(fd);
		pthread_mutex_lock(&g_mu);
		g_busy--;
		pthread_cond_broadcast(&g_cv);
		pthread_mutex_unlock(&g_mu);
	}
	return NULL;
}

int scripted_start(enum scripted_proto proto)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int one = 1;

	if (g_lfd >= 0)
		return g_port;
	g_proto = proto;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	g_lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (g_lfd < 0 ||
	    setsockopt(g_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(g_lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(g_lfd, 16) || getsockname(g_lfd, (struct sockaddr *)&a, &al))
		fuzz_die("scripted server: cannot listen on 127.0.0.1", NULL);
	g_port = ntohs(a.sin_port);
	if (pthread_create(&g_thr, NULL, run, NULL))
		fuzz_die("scripted server: no thread", NULL);
	return g_port;
}

void scripted_set(const uint8_t *data, size_t size)
{
	pthread_mutex_lock(&g_mu);
	free(g_script);
	g_script = malloc(size ? size : 1);
	if (!g_script)
		fuzz_die("out of memory", NULL);
	if (size)
		memcpy(g_script, data, size);
	g_len = size;
	g_off = 0;
	pthread_mutex_unlock(&g_mu);
}

void scripted_wait(void)
{
	pthread_mutex_lock(&g_mu);
	while (g_busy)
		pthread_cond_wait(&g_cv, &g_mu);
	pthread_mutex_unlock(&g_mu);
}

void scripted_stop(void)
{
	if (g_lfd < 0)
		return;
	pthread_mutex_lock(&g_mu);
	g_stop = 1;
	pthread_mutex_unlock(&g_mu);
	pthread_join(g_thr, NULL);
	close(g_lfd);
	g_lfd = -1;
	free(g_script);
	g_script = NULL;
}
