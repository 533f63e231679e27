/* SPDX-License-Identifier: MIT */
/*
 * An HTTPS file server for tests (autoconfig files): libmicrohttpd with
 * TLS on a free loopback port, in this process (its own thread; stopped by
 * qmt_https_stop), with a throw-away CA made by the openssl command and a
 * server certificate for the host names the test gives. It answers by the
 * Host header and the path (the query string aside) from a table the test
 * fills: a status, a body and, for redirects, a Location; anything else
 * is 404. It counts the requests of each entry. Test code only.
 */
#ifndef QMT_HTTPSFILES_H
#define QMT_HTTPSFILES_H

#include <pthread.h>
#include <stddef.h>

#define QMT_HTTPS_MAXFILES 16

struct qmt_https_file {
	char host[128];
	char path[256];
	int status;
	char *body; /* malloc'd copy */
	size_t len;
	char location[512];
	int hits;
};

struct qmt_https {
	char dir[256];
	char ca_file[320]; /* the CA that signed the server's certificate */
	int port;
	void *daemon; /* struct MHD_Daemon */
	char *cert, *key;
	pthread_mutex_t lock;
	struct qmt_https_file files[QMT_HTTPS_MAXFILES];
	size_t n;
	int requests; /* every request, known or not */
};

/*
 * Makes the CA and a certificate for hosts (NULL-terminated DNS names;
 * also valid for 127.0.0.1) and starts the server. Returns 0, 1 when
 * openssl is missing (skip), -1 on failure.
 */
int qmt_https_start(struct qmt_https *h, const char *const *hosts);
/* Serves body (len bytes, copied) with status at https://host/path
 * (location: the Location header, or NULL). Returns 0 or -1 (table full). */
int qmt_https_serve(struct qmt_https *h, const char *host, const char *path,
                    int status, const char *body, size_t len,
                    const char *location);
/* How many requests the entry host/path answered. */
int qmt_https_hits(struct qmt_https *h, const char *host, const char *path);
void qmt_https_stop(struct qmt_https *h);

#endif
