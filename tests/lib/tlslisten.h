/* SPDX-License-Identifier: MIT */
/*
 * The TLS side of the scripted HTTPS servers of the tests (a KME that
 * fails on command, the ETSI 014 test server, the fake KME): a server
 * context with its certificate chain and key, client certificates
 * required from a CA when one is given, and a socket listening on a free
 * loopback port. Test code only.
 */
#ifndef QMT_TLSLISTEN_H
#define QMT_TLSLISTEN_H

#include <stddef.h>

#include <openssl/ssl.h>

struct qmt_tls_listener {
	SSL_CTX *ctx;
	int fd;   /* listening on 127.0.0.1 */
	int port; /* where */
};

/*
 * Loads cert (a PEM chain) and key; when client_ca is not NULL every
 * client must present a certificate issued by it (mutual TLS, as a KME
 * asks). Then listens on a free loopback port. Returns 0, or -1 with
 * nothing left open.
 */
int qmt_tls_listen(struct qmt_tls_listener *l, const char *cert,
                   const char *key, const char *client_ca);
/* Closes the socket and frees the context. */
void qmt_tls_close(struct qmt_tls_listener *l);
/* Writes all n bytes to ssl; 0, or -1 when the connection failed. */
int qmt_ssl_write_all(SSL *ssl, const void *p, size_t n);

#endif
