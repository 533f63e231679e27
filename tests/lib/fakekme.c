/* SPDX-License-Identifier: MIT */
/*
 * The scripted on-demand KME of fakekme.h. One request per connection
 * ("Connection: close"), served in order by one thread: enough for the
 * client engine, which opens a KME handle per step.
 */
#include "fakekme.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "harness.h"
#include "tlslisten.h"

#define MAXKEYS     4096
#define MAXKEYBYTES 8192
#define REQMAX      65536

struct fkey {
	char id[37];
	char master[64], slave[64];
	unsigned char *bytes;
	size_t len;
	int fetched;
};

struct qmt_fakekme {
	char dir[512];
	char url[64];
	char ca[600];
	int port, lfd, stop[2];
	SSL_CTX *ctx;
	pthread_t th;
	pthread_mutex_t mu;
	int refuse;
	struct qmt_fakekme_counts n;
	struct fkey keys[MAXKEYS];
	size_t nkeys;
};

static const char certs_sh[] =
    "set -e\n"
    "cd \"$1\"; shift\n"
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
    "-keyout ca.key -out ca.pem -days 2 -subj '/CN=Fake KME CA'\n"
    "leaf() { # name cn ext\n"
    "  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
    "-out $1.key\n"
    "  openssl req -new -key $1.key -subj \"/CN=$2\" -out $1.csr\n"
    "  printf \"$3\" > $1.ext\n"
    "  openssl x509 -req -in $1.csr -CA ca.pem -CAkey ca.key "
    "-set_serial $RANDOM$RANDOM -days 2 -extfile $1.ext -out $1.pem; }\n"
    "leaf kme KME_F 'basicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth"
    "\\nsubjectAltName=IP:127.0.0.1\\n'\n"
    "for s in \"$@\"; do\n"
    "  leaf \"$s\" \"$s\" 'basicConstraints=CA:FALSE\\n"
    "extendedKeyUsage=clientAuth\\n'\n"
    "done\n";

static void reply(SSL *ssl, int status, const char *body)
{
	char hdr[256];

	snprintf(hdr, sizeof(hdr),
	         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
	         "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	         status, strlen(body));
	if (qmt_ssl_write_all(ssl, hdr, strlen(hdr)) == 0)
		qmt_ssl_write_all(ssl, body, strlen(body));
}

static void reply_json(SSL *ssl, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	reply(ssl, s ? status : 500, s ? s : "{\"message\":\"out of memory\"}");
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
	json_decref(j);
}

static void reply_error(SSL *ssl, int status, const char *message)
{
	reply_json(ssl, status, json_pack("{s:s}", "message", message));
}

/* The value of query parameter name into out ("" when absent). */
static void query(const char *q, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);

	out[0] = '\0';
	while (q && *q) {
		if (strncmp(q, name, nl) == 0 && q[nl] == '=') {
			const char *v = q + nl + 1;
			size_t n = strcspn(v, "&");

			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return;
		}
		q = strchr(q, '&');
		if (q)
			q++;
	}
}

static json_t *key_json(const struct fkey *k)
{
	char b64[MAXKEYBYTES * 2];

	EVP_EncodeBlock((unsigned char *)b64, k->bytes, (int)k->len);
	return json_pack("{s:s,s:s}", "key_ID", k->id, "key", b64);
}

static void enc_keys(struct qmt_fakekme *f, SSL *ssl, const char *caller,
                     const char *slave, const char *q, const char *body)
{
	long long number = 1, size = 256;
	json_t *keys, *j;
	char v[32];

	if (body && *body) {
		json_error_t je;
		json_t *b = json_loads(body, 0, &je), *x;

		if (!json_is_object(b)) {
			json_decref(b);
			reply_error(ssl, 400, "bad request format");
			return;
		}
		if ((x = json_object_get(b, "number")) && json_is_integer(x))
			number = json_integer_value(x);
		if ((x = json_object_get(b, "size")) && json_is_integer(x))
			size = json_integer_value(x);
		json_decref(b);
	} else {
		query(q, "number", v, sizeof(v));
		if (v[0])
			number = strtoll(v, NULL, 10);
		query(q, "size", v, sizeof(v));
		if (v[0])
			size = strtoll(v, NULL, 10);
	}
	pthread_mutex_lock(&f->mu);
	f->n.enc++;
	if (f->refuse) {
		int st = f->refuse;

		f->n.refused++;
		pthread_mutex_unlock(&f->mu);
		reply_error(ssl, st,
		            st == 503 ? "not enough key material on KME"
		                      : "request refused by the KME");
		return;
	}
	if (number < 1 || number > 128 || size < 64 || size > 65536 ||
	    size % 8 || f->nkeys + (size_t)number > MAXKEYS) {
		pthread_mutex_unlock(&f->mu);
		reply_error(ssl, 400, "number or size out of range");
		return;
	}
	keys = json_array();
	for (long long i = 0; i < number; i++) {
		struct fkey *k = &f->keys[f->nkeys++];
		unsigned char u[16];

		RAND_bytes(u, sizeof(u));
		u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
		u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
		snprintf(k->id, sizeof(k->id),
		         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		         "%02x%02x%02x%02x%02x%02x",
		         u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8],
		         u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
		snprintf(k->master, sizeof(k->master), "%.60s", caller);
		snprintf(k->slave, sizeof(k->slave), "%.60s", slave);
		k->len = (size_t)size / 8;
		k->bytes = malloc(k->len);
		if (k->bytes)
			RAND_bytes(k->bytes, (int)k->len);
		else
			k->len = 0;
		json_array_append_new(keys, key_json(k));
		f->n.keys_out++;
	}
	pthread_mutex_unlock(&f->mu);
	j = json_object();
	json_object_set_new(j, "keys", keys);
	reply_json(ssl, 200, j);
}

static void dec_keys(struct qmt_fakekme *f, SSL *ssl, const char *caller,
                     const char *master, const char *q, const char *body)
{
	const char *ids[128];
	char one[64];
	size_t n = 0;
	json_t *b = NULL, *keys, *j;
	struct fkey *found[128];

	if (body && *body) {
		json_error_t je;
		json_t *arr, *e;
		size_t i;

		b = json_loads(body, 0, &je);
		arr = json_object_get(b, "key_IDs");
		json_array_foreach(arr, i, e)
		{
			const char *s =
			    json_string_value(json_object_get(e, "key_ID"));
			if (s && n < 128)
				ids[n++] = s;
		}
	} else {
		query(q, "key_ID", one, sizeof(one));
		if (one[0])
			ids[n++] = one;
	}
	if (n == 0) {
		json_decref(b);
		reply_error(ssl, 400, "bad request format");
		return;
	}
	pthread_mutex_lock(&f->mu);
	f->n.dec++;
	for (size_t i = 0; i < n; i++) {
		found[i] = NULL;
		for (size_t k = 0; k < f->nkeys; k++)
			if (strcmp(f->keys[k].id, ids[i]) == 0 &&
			    strcmp(f->keys[k].master, master) == 0 &&
			    strcmp(f->keys[k].slave, caller) == 0 &&
			    !f->keys[k].fetched)
				found[i] = &f->keys[k];
		if (!found[i]) {
			pthread_mutex_unlock(&f->mu);
			json_decref(b);
			reply_error(ssl, 400, "key not found");
			return;
		}
	}
	keys = json_array();
	for (size_t i = 0; i < n; i++) {
		found[i]->fetched = 1;
		json_array_append_new(keys, key_json(found[i]));
		f->n.keys_in++;
	}
	pthread_mutex_unlock(&f->mu);
	json_decref(b);
	j = json_object();
	json_object_set_new(j, "keys", keys);
	reply_json(ssl, 200, j);
}

static void status(struct qmt_fakekme *f, SSL *ssl, const char *caller,
                   const char *slave)
{
	pthread_mutex_lock(&f->mu);
	f->n.status++;
	pthread_mutex_unlock(&f->mu);
	/* keys are made when asked for: none are stored */
	reply_json(ssl, 200,
	           json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i}",
	                     "source_KME_ID", "KME_F", "target_KME_ID", "KME_F",
	                     "master_SAE_ID", caller, "slave_SAE_ID", slave,
	                     "key_size", 256, "stored_key_count", 0,
	                     "max_key_count", 100000, "max_key_per_request",
	                     128, "max_key_size", 65536, "min_key_size", 64,
	                     "max_SAE_ID_count", 0));
}

/* Reads one request (headers and body) and answers it. */
static void serve(struct qmt_fakekme *f, SSL *ssl, int fd, const char *caller)
{
	char *req = malloc(REQMAX + 1), *end, *cl, *q, *sae, *meth;
	char method[8], path[1024];
	size_t have = 0, hlen, blen = 0;

	if (!req)
		return;
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		int r;

		req[have] = '\0';
		end = strstr(req, "\r\n\r\n");
		if (end) {
			hlen = (size_t)(end - req) + 4;
			cl = strcasestr(req, "\r\nContent-Length:");
			blen = cl ? strtoul(cl + 17, NULL, 10) : 0;
			if (have >= hlen + blen)
				break;
		}
		if (have == REQMAX)
			goto out;
		if (SSL_pending(ssl) <= 0 && poll(&p, 1, 10000) <= 0)
			goto out;
		r = SSL_read(ssl, req + have, (int)(REQMAX - have));
		if (r <= 0)
			goto out;
		have += (size_t)r;
	}
	req[hlen + blen] = '\0';
	if (sscanf(req, "%7s %1023s", method, path) != 2)
		goto out;
	q = strchr(path, '?');
	if (q)
		*q++ = '\0';
	if (strncmp(path, "/api/v1/keys/", 13) != 0) {
		reply_error(ssl, 404, "no such path");
		goto out;
	}
	sae = path + 13;
	meth = strchr(sae, '/');
	if (!meth) {
		reply_error(ssl, 404, "no such path");
		goto out;
	}
	*meth++ = '\0';
	if (strcmp(meth, "status") == 0)
		status(f, ssl, caller, sae);
	else if (strcmp(meth, "enc_keys") == 0)
		enc_keys(f, ssl, caller, sae, q,
		         strcmp(method, "POST") == 0 ? req + hlen : NULL);
	else if (strcmp(meth, "dec_keys") == 0)
		dec_keys(f, ssl, caller, sae, q,
		         strcmp(method, "POST") == 0 ? req + hlen : NULL);
	else
		reply_error(ssl, 404, "no such method");
out:
	explicit_bzero(req, REQMAX + 1);
	free(req);
}

static void *srv_main(void *arg)
{
	struct qmt_fakekme *f = arg;

	for (;;) {
		struct pollfd p[2] = {{f->lfd, POLLIN, 0},
		                      {f->stop[0], POLLIN, 0}};
		char cn[64] = "";
		SSL *ssl;
		X509 *peer;
		int fd;

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			break;
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		ssl = SSL_new(f->ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			peer = SSL_get1_peer_certificate(ssl);
			if (peer) {
				X509_NAME_get_text_by_NID(
				    X509_get_subject_name(peer), NID_commonName,
				    cn, sizeof(cn));
				X509_free(peer);
				serve(f, ssl, fd, cn);
			}
			SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
	}
	return NULL;
}

int qmt_fakekme_start(const char *dir, const char *const *saes, size_t nsaes,
                      struct qmt_fakekme **out)
{
	struct qmt_fakekme *f = calloc(1, sizeof(*f));
	char script[700], log[700];
	char *argv[16];
	size_t n = 0;

	if (!f || nsaes > 10)
		goto fail;
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	snprintf(script, sizeof(script), "%s/fakekme-certs.sh", dir);
	snprintf(log, sizeof(log), "%s/fakekme-certs.log", dir);
	argv[n++] = "bash";
	argv[n++] = script;
	argv[n++] = f->dir;
	for (size_t i = 0; i < nsaes; i++)
		argv[n++] = (char *)(uintptr_t)saes[i];
	argv[n] = NULL;
	if (qmt_write_file(script, certs_sh) || qmt_run(argv, log) != 0) {
		fprintf(stderr, "fakekme: making certificates failed, see %s\n",
		        log);
		goto fail;
	}
	snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", dir);
	pthread_mutex_init(&f->mu, NULL);
	{
		struct qmt_tls_listener l;
		char cert[700], key[700];

		snprintf(cert, sizeof(cert), "%s/kme.pem", dir);
		snprintf(key, sizeof(key), "%s/kme.key", dir);
		if (qmt_tls_listen(&l, cert, key, f->ca) != 0)
			goto fail;
		f->ctx = l.ctx;
		f->lfd = l.fd;
		f->port = l.port;
	}
	if (pipe(f->stop) != 0 ||
	    pthread_create(&f->th, NULL, srv_main, f) != 0)
		goto fail;
	snprintf(f->url, sizeof(f->url), "https://127.0.0.1:%d", f->port);
	*out = f;
	return 0;
fail:
	fprintf(stderr, "fakekme: could not start\n");
	if (f && f->ctx)
		SSL_CTX_free(f->ctx);
	free(f);
	return -1;
}

void qmt_fakekme_stop(struct qmt_fakekme **kp)
{
	struct qmt_fakekme *f = *kp;

	if (!f)
		return;
	if (write(f->stop[1], "x", 1) == 1)
		pthread_join(f->th, NULL);
	close(f->lfd);
	close(f->stop[0]);
	close(f->stop[1]);
	SSL_CTX_free(f->ctx);
	for (size_t i = 0; i < f->nkeys; i++) {
		if (f->keys[i].bytes)
			explicit_bzero(f->keys[i].bytes, f->keys[i].len);
		free(f->keys[i].bytes);
	}
	pthread_mutex_destroy(&f->mu);
	free(f);
	*kp = NULL;
}

const char *qmt_fakekme_url(const struct qmt_fakekme *k)
{
	return k->url;
}

const char *qmt_fakekme_ca(const struct qmt_fakekme *k)
{
	return k->ca;
}

void qmt_fakekme_cert(const struct qmt_fakekme *k, const char *sae, char *cert,
                      char *key)
{
	snprintf(cert, 600, "%s/%s.pem", k->dir, sae);
	snprintf(key, 600, "%s/%s.key", k->dir, sae);
}

void qmt_fakekme_refuse(struct qmt_fakekme *k, int status)
{
	pthread_mutex_lock(&k->mu);
	k->refuse = status;
	pthread_mutex_unlock(&k->mu);
}

void qmt_fakekme_counts(struct qmt_fakekme *k, struct qmt_fakekme_counts *out)
{
	pthread_mutex_lock(&k->mu);
	*out = k->n;
	pthread_mutex_unlock(&k->mu);
}

int qmt_fakekme_made(struct qmt_fakekme *k, const char *key_id)
{
	int found = 0;

	pthread_mutex_lock(&k->mu);
	for (size_t i = 0; i < k->nkeys && !found; i++)
		found = strcmp(k->keys[i].id, key_id) == 0;
	pthread_mutex_unlock(&k->mu);
	return found;
}
