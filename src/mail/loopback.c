/* SPDX-License-Identifier: MIT */
/*
 * The loopback redirect of a native app's OAuth2 sign-in (RFC 8252 7.3):
 * a listener on 127.0.0.1, any free port, that reads one HTTP request at
 * a time from the user's browser (the request line and headers, at most
 * 16 KiB, within 5 seconds) and answers it with a small page. Everything
 * about what the request means (the state, the code) is the caller's.
 * Hostile input: a local program may connect too; a malformed request is
 * answered 400 and the listener goes on.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mail/private.h"

#define LB_MAXREQ  16384
#define LB_READ_MS 5000

struct qm_mail_loopback {
	int fd;
};

enum qm_err qm_mail_loopback_open(struct qm_mail_loopback **out, int *port,
                                  struct qm_error *err)
{
	struct qm_mail_loopback *lb;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, one = 1;

	*out = NULL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return qm_error_set(
		    err, QM_ERR_IO,
		    "cannot listen on 127.0.0.1 for the sign-in's "
		    "redirect: %s",
		    strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = 0; /* any free port */
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 8) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		int e = errno;

		close(fd);
		return qm_error_set(
		    err, QM_ERR_IO,
		    "cannot listen on 127.0.0.1 for the sign-in's "
		    "redirect: %s",
		    strerror(e));
	}
	if (!(lb = calloc(1, sizeof(*lb)))) {
		close(fd);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	lb->fd = fd;
	*port = ntohs(sa.sin_port);
	*out = lb;
	return QM_OK;
}

void qm_mail_loopback_free(struct qm_mail_loopback **plb)
{
	struct qm_mail_loopback *lb = plb ? *plb : NULL;

	if (!lb)
		return;
	close(lb->fd);
	free(lb);
	*plb = NULL;
}

/* Writes it all (best effort: the browser may be gone). */
static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		struct pollfd pf = {fd, POLLOUT, 0};

		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (poll(&pf, 1, LB_READ_MS) <= 0)
				return;
		} else {
			return;
		}
	}
}

void qm_mail_loopback_reply(struct qm_mail_loopback_req *req, int status,
                            const char *html)
{
	char head[512];
	const char *reason = status == 200   ? "OK"
	                     : status == 400 ? "Bad Request"
	                     : status == 404 ? "Not Found"
	                     : status == 405 ? "Method Not Allowed"
	                     : status == 409 ? "Conflict"
	                                     : "Error";
	size_t n = html ? strlen(html) : 0;
	int hn;

	if (req->fd < 0)
		return;
	hn = snprintf(head, sizeof(head),
	              "HTTP/1.1 %d %s\r\n"
	              "Content-Type: text/html; charset=utf-8\r\n"
	              "Content-Length: %zu\r\n"
	              "Cache-Control: no-store\r\n"
	              "Referrer-Policy: no-referrer\r\n"
	              "Content-Security-Policy: default-src 'none'; "
	              "style-src 'unsafe-inline'\r\n"
	              "Connection: close\r\n\r\n",
	              status, reason, n);
	if (hn > 0 && (size_t)hn < sizeof(head)) {
		write_all(req->fd, head, (size_t)hn);
		write_all(req->fd, html ? html : "", n);
	}
	shutdown(req->fd, SHUT_WR);
	/* a lingering close: what the client still sends is read and
	 * dropped (a while at most), so that closing with unread bytes does
	 * not reset the connection before it has read the answer */
	for (int i = 0; i < 64; i++) {
		struct pollfd pf = {req->fd, POLLIN, 0};
		char sink[1024];

		if (poll(&pf, 1, 100) <= 0 ||
		    recv(req->fd, sink, sizeof(sink), 0) <= 0)
			break;
	}
	close(req->fd);
	req->fd = -1;
}

void qm_mail_loopback_req_wipe(struct qm_mail_loopback_req *req)
{
	if (req->fd >= 0)
		close(req->fd);
	qm_wipe(req, sizeof(*req));
	req->fd = -1;
}

int qm_mail_loopback_parse_head(char *buf, size_t n,
                                struct qm_mail_loopback_req *req)
{
	char *sp1, *sp2, *q, *eol, *end;

	/* the head ends at the first empty line; a NUL before it is no
	 * HTTP */
	if (memchr(buf, '\0', n))
		return -1;
	end = memmem(buf, n, "\r\n\r\n", 4);
	if (!end)
		end = memmem(buf, n, "\n\n", 2);
	if (!end)
		return n >= LB_MAXREQ ? -1 : 1;
	*end = '\0';
	/* "GET /path?query HTTP/1.1" */
	eol = strpbrk(buf, "\r\n");
	if (eol)
		*eol = '\0';
	sp1 = strchr(buf, ' ');
	if (!sp1 || sp1 == buf || sp1 - buf >= (long)sizeof(req->method))
		return -1;
	sp2 = strchr(sp1 + 1, ' ');
	if (!sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp1[1] != '/')
		return -1;
	*sp1 = *sp2 = '\0';
	memcpy(req->method, buf, (size_t)(sp1 - buf) + 1);
	q = strchr(sp1 + 1, '?');
	if (q)
		*q++ = '\0';
	if (strlen(sp1 + 1) >= sizeof(req->path) ||
	    (q && strlen(q) >= sizeof(req->query)))
		return -1;
	qm_strlcpy(req->path, sp1 + 1, sizeof(req->path));
	qm_strlcpy(req->query, q ? q : "", sizeof(req->query));
	return 0;
}

/* Reads the request head from fd into req (0), or -1 when it is no HTTP
 * request in time and bounds. */
static int read_head(int fd, struct qm_mail_loopback_req *req)
{
	char buf[LB_MAXREQ + 1];
	size_t n = 0;
	uint64_t t0 = qm_mono_ns();
	int rc = -1;

	for (;;) {
		long left = LB_READ_MS - (long)((qm_mono_ns() - t0) / 1000000u);
		struct pollfd pf = {fd, POLLIN, 0};
		ssize_t r;

		if (n) {
			rc = qm_mail_loopback_parse_head(buf, n, req);
			if (rc <= 0)
				break;
			rc = -1;
		}
		if (n >= LB_MAXREQ || left <= 0 || poll(&pf, 1, left) <= 0)
			break;
		r = recv(fd, buf + n, LB_MAXREQ - n, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	qm_wipe(buf, sizeof(buf)); /* it may hold an authorization code */
	return rc;
}

enum qm_err qm_mail_loopback_accept(struct qm_mail_loopback *lb,
                                    long timeout_ms, int wake_fd,
                                    struct qm_mail_loopback_req *req,
                                    struct qm_error *err)
{
	uint64_t t0 = qm_mono_ns();

	memset(req, 0, sizeof(*req));
	req->fd = -1;
	for (;;) {
		long left = timeout_ms - (long)((qm_mono_ns() - t0) / 1000000u);
		struct pollfd pf[2] = {{lb->fd, POLLIN, 0},
		                       {wake_fd, POLLIN, 0}};
		int fd, pr;

		if (left <= 0)
			return qm_error_set(
			    err, QM_ERR_TIMEOUT,
			    "no request on the loopback listener "
			    "yet");
		pr = poll(pf, wake_fd >= 0 ? 2 : 1, left);
		if (pr < 0 && errno != EINTR)
			return qm_error_set(
			    err, QM_ERR_IO,
			    "waiting for the sign-in's redirect: %s",
			    strerror(errno));
		if (pr > 0 && wake_fd >= 0 && (pf[1].revents & POLLIN))
			return qm_error_set(err, QM_ERR_STATE,
			                    "the wait was ended");
		if (pr <= 0 || !(pf[0].revents & POLLIN))
			continue;
		fd = accept4(lb->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		req->fd = fd;
		if (read_head(fd, req) == 0)
			return QM_OK;
		qm_mail_loopback_reply(req, 400,
		                       "<!doctype html><title>Bad request"
		                       "</title><p>Not an HTTP request.</p>");
	}
}

/* The value of a hex digit, or -1. */
static int hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	                              : -1;
}

int qm_mail_loopback_param(const struct qm_mail_loopback_req *req,
                           const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = req->query;

	while (*p) {
		const char *end = p + strcspn(p, "&");

		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			size_t j = 0;

			for (p += nl + 1; p < end; p++) {
				int c = (unsigned char)*p, h, l;

				if (c == '+') {
					c = ' ';
				} else if (c == '%' && end - p >= 3 &&
				           (h = hexval(p[1])) >= 0 &&
				           (l = hexval(p[2])) >= 0) {
					c = h * 16 + l;
					p += 2;
				}
				if (c == 0 || j + 1 >= outlen)
					return 0; /* a NUL or too long: none */
				out[j++] = (char)c;
			}
			out[j] = '\0';
			return 1;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}
