/* SPDX-License-Identifier: MIT */
/*
 * TLS listeners for the tests' scripted servers (see tlslisten.h).
 */
#include "tlslisten.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int qmt_tls_listen(struct qmt_tls_listener *l, const char *cert,
                   const char *key, const char *client_ca)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->ctx = SSL_CTX_new(TLS_server_method());
	if (!l->ctx || SSL_CTX_use_certificate_chain_file(l->ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(l->ctx, key, SSL_FILETYPE_PEM) != 1)
		goto fail;
	if (client_ca) {
		if (SSL_CTX_load_verify_locations(l->ctx, client_ca, NULL) != 1)
			goto fail;
		SSL_CTX_set_verify(
		    l->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
		    NULL);
	}
	/* resumed sessions with client certificates need an ID context */
	SSL_CTX_set_session_id_context(l->ctx, (const unsigned char *)"qmt", 3);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(l->fd, 16) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&a, &al) != 0)
		goto fail;
	l->port = ntohs(a.sin_port);
	return 0;
fail:
	qmt_tls_close(l);
	return -1;
}

void qmt_tls_close(struct qmt_tls_listener *l)
{
	if (l->fd >= 0)
		close(l->fd);
	SSL_CTX_free(l->ctx);
	l->fd = -1;
	l->ctx = NULL;
}

int qmt_ssl_write_all(SSL *ssl, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		int w = SSL_write(ssl, c, n > 16384 ? 16384 : (int)n);

		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}
