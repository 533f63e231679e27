/* SPDX-License-Identifier: MIT */
/*
 * The tests' HTTPS file server (httpsfiles.h): certificates by the openssl
 * command (harness.h), the server by libmicrohttpd with TLS, one table of
 * answers under a mutex.
 */
#include "httpsfiles.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "harness.h"

/* A CA and a certificate for 127.0.0.1 and hosts, read into memory for
 * libmicrohttpd. */
static int make_certs(struct qmt_https *h, const char *const *hosts)
{
	static const char *const ips[] = {"127.0.0.1", NULL};
	char file[sizeof(h->dir) + 16];
	struct qmt_ca ca;

	if (qmt_ca_make(&ca, h->dir, "ca", "QMail discovery test CA") != 0 ||
	    qmt_ca_sign_server(&ca, h->dir, "autoconfig test", hosts, ips) !=
	        0 ||
	    snprintf(h->ca_file, sizeof(h->ca_file), "%s", ca.crt) >=
	        (int)sizeof(h->ca_file))
		return -1;
	snprintf(file, sizeof(file), "%s/server.crt", h->dir);
	h->cert = qmt_read_file(file, NULL);
	snprintf(file, sizeof(file), "%s/server.key", h->dir);
	h->key = qmt_read_file(file, NULL);
	return h->cert && h->key ? 0 : -1;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_len, void **con_cls)
{
	struct qmt_https *h = cls;
	const char *host =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Host");
	char hostname[128] = "";
	struct MHD_Response *r;
	struct qmt_https_file *f = NULL;
	enum MHD_Result ret;
	int status = 404;

	(void)method;
	(void)version;
	(void)upload;
	(void)upload_len;
	if (!*con_cls) { /* the headers: answer on the next call */
		*con_cls = h;
		return MHD_YES;
	}
	if (host) {
		size_t l = strcspn(host, ":");

		if (l < sizeof(hostname)) {
			memcpy(hostname, host, l);
			hostname[l] = '\0';
		}
	}
	pthread_mutex_lock(&h->lock);
	h->requests++;
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->files[i].host, hostname) == 0 &&
		    strcmp(h->files[i].path, url) == 0)
			f = &h->files[i];
	if (f) {
		f->hits++;
		status = f->status;
		r = MHD_create_response_from_buffer(f->len, f->body,
		                                    MHD_RESPMEM_MUST_COPY);
		if (r && f->location[0])
			MHD_add_response_header(r, "Location", f->location);
		if (r)
			MHD_add_response_header(r, "Content-Type", "text/xml");
	} else {
		r = MHD_create_response_from_buffer(9, "not found",
		                                    MHD_RESPMEM_PERSISTENT);
	}
	pthread_mutex_unlock(&h->lock);
	if (!r)
		return MHD_NO;
	ret = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

int qmt_https_start(struct qmt_https *h, const char *const *hosts)
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	if (qmt_tmpdir("https", h->dir, sizeof(h->dir)) < 0)
		return -1;
	if (make_certs(h, hosts) < 0) {
		fprintf(stderr,
		        "httpsfiles: cannot make certificates (see "
		        "%s/openssl.log)\n",
		        h->dir);
		return -1;
	}
	for (int attempt = 0; attempt < 3 && !h->daemon; attempt++) {
		h->port = qmt_free_port();
		h->daemon = MHD_start_daemon(
		    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS,
		    (uint16_t)h->port, NULL, NULL, answer, h,
		    MHD_OPTION_HTTPS_MEM_KEY, h->key, MHD_OPTION_HTTPS_MEM_CERT,
		    h->cert, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
		    MHD_OPTION_END);
	}
	if (!h->daemon) {
		fprintf(stderr, "httpsfiles: libmicrohttpd cannot start "
		                "(TLS support?)\n");
		return -1;
	}
	return qmt_wait_port(h->port, 5000) == 0 ? 0 : -1;
}

int qmt_https_serve(struct qmt_https *h, const char *host, const char *path,
                    int status, const char *body, size_t len,
                    const char *location)
{
	struct qmt_https_file *f;

	pthread_mutex_lock(&h->lock);
	if (h->n >= QMT_HTTPS_MAXFILES) {
		pthread_mutex_unlock(&h->lock);
		return -1;
	}
	f = &h->files[h->n++];
	memset(f, 0, sizeof(*f));
	snprintf(f->host, sizeof(f->host), "%s", host);
	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(f->location, sizeof(f->location), "%s",
	         location ? location : "");
	f->status = status;
	f->body = malloc(len ? len : 1);
	if (f->body && len)
		memcpy(f->body, body, len);
	f->len = f->body ? len : 0;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int qmt_https_hits(struct qmt_https *h, const char *host, const char *path)
{
	int n = 0;

	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; i < h->n; i++)
		if (strcasecmp(h->files[i].host, host) == 0 &&
		    strcmp(h->files[i].path, path) == 0)
			n += h->files[i].hits;
	pthread_mutex_unlock(&h->lock);
	return n;
}

void qmt_https_stop(struct qmt_https *h)
{
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	h->daemon = NULL;
	for (size_t i = 0; i < h->n; i++)
		free(h->files[i].body);
	h->n = 0;
	free(h->cert);
	free(h->key);
	h->cert = h->key = NULL;
	if (h->dir[0] && !getenv("QMT_KEEP"))
		qmt_rmtree(h->dir);
	h->dir[0] = '\0';
	pthread_mutex_destroy(&h->lock);
}
