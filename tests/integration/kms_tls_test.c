/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of the ETSI 014 client (src/kms) against a small
 * scripted HTTPS server that runs in a thread of this test: OpenSSL with
 * client-certificate verification, on a free loopback port, with throw-away
 * CAs made by the openssl command in a temporary folder. It does what a real
 * KME will not do on demand: malformed JSON, oversized bodies, 503 then
 * success, dropped connections, a certificate from the wrong CA or for the
 * wrong name or KME ID, refusing the client certificate, 400/401 bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "tlslisten.h"
#include "qmtest.h"
#include "kms/kms.h"

/* ------------------------------------------------------- scripted server */

enum act { REPLY, DROP, DROP_MID, HUGE, HANG };

struct step {
	enum act act;
	int status;
	char *body; /* owned */
};

#define MAXSTEPS 32

struct srv {
	int port;
	int lfd;
	int stop[2];
	SSL_CTX *ctx;
	pthread_t th;
	pthread_mutex_t mu;
	struct step steps[MAXSTEPS];
	int nsteps, next;
	unsigned connections, requests;
	char method[8];
	char path[2048];
	char body[8192];
	char headers[4096];
	size_t body_len;
	char peer_cn[256];
};

static char dir[512];

static void srv_script(struct srv *s, enum act a, int status, const char *body)
{
	pthread_mutex_lock(&s->mu);
	assert_true(s->nsteps < MAXSTEPS);
	s->steps[s->nsteps].act = a;
	s->steps[s->nsteps].status = status;
	s->steps[s->nsteps].body = strdup(body ? body : "");
	s->nsteps++;
	pthread_mutex_unlock(&s->mu);
}

/* Waits until fd is readable (1), or the server stops (0). */
static int wait_readable(struct srv *s, SSL *ssl, int fd)
{
	if (ssl && SSL_pending(ssl) > 0)
		return 1;
	for (;;) {
		struct pollfd p[2] = {{fd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			return 0;
		if (p[0].revents)
			return 1;
	}
}

/* Serves requests on one connection until the client closes it. */
static void serve_conn(struct srv *s, SSL *ssl, int fd)
{
	char req[16384];
	size_t have = 0;

	for (;;) {
		char *end, *cl, hdr[256];
		size_t hlen, blen = 0;
		struct step st;
		int r;

		/* headers */
		while (!(end = memmem(req, have, "\r\n\r\n", 4))) {
			if (have == sizeof(req) || !wait_readable(s, ssl, fd))
				return;
			r = SSL_read(ssl, req + have,
			             (int)(sizeof(req) - have));
			if (r <= 0)
				return;
			have += (size_t)r;
		}
		hlen = (size_t)(end - req) + 4;
		*end = '\0';
		cl = strcasestr(req, "\r\nContent-Length:");
		if (cl)
			blen = strtoul(cl + 17, NULL, 10);
		if (blen > (16u << 20))
			return;
		pthread_mutex_lock(&s->mu);
		s->requests++;
		sscanf(req, "%7s %2047s", s->method, s->path);
		qm_strlcpy(s->headers, req, sizeof(s->headers));
		s->body_len = blen;
		s->body[0] = '\0';
		pthread_mutex_unlock(&s->mu);
		/* the body: the first bytes kept, the rest only counted */
		{
			size_t got = have - hlen < blen ? have - hlen : blen;
			size_t keep = got < sizeof(s->body) - 1
			                  ? got
			                  : sizeof(s->body) - 1;

			memcpy(s->body, req + hlen, keep);
			have -= hlen + got;
			memmove(req, req + hlen + got, have);
			while (got < blen) {
				char tmp[16384];
				size_t want = blen - got < sizeof(tmp)
				                  ? blen - got
				                  : sizeof(tmp);

				if (!wait_readable(s, ssl, fd))
					return;
				r = SSL_read(ssl, tmp, (int)want);
				if (r <= 0)
					return;
				if (keep < sizeof(s->body) - 1) {
					size_t m =
					    (size_t)r <
					            sizeof(s->body) - 1 - keep
					        ? (size_t)r
					        : sizeof(s->body) - 1 - keep;
					memcpy(s->body + keep, tmp, m);
					keep += m;
				}
				got += (size_t)r;
			}
			s->body[keep] = '\0';
		}
		pthread_mutex_lock(&s->mu);
		if (s->next < s->nsteps) {
			st = s->steps[s->next++];
		} else {
			st.act = REPLY;
			st.status = 500;
			st.body = "{\"message\":\"script exhausted\"}";
		}
		pthread_mutex_unlock(&s->mu);

		if (st.act == DROP)
			return;
		if (st.act == HANG)
			continue; /* no answer; wait for the client to give up
			           */
		if (st.act == HUGE) {
			static char chunk[16384];

			memset(chunk, ' ', sizeof(chunk));
			snprintf(
			    hdr, sizeof(hdr),
			    "HTTP/1.1 200 OK\r\nContent-Type: "
			    "application/json\r\nContent-Length: %d\r\n\r\n",
			    64 * 16384);
			if (qmt_ssl_write_all(ssl, hdr, strlen(hdr)))
				return;
			for (int i = 0; i < 64; i++)
				if (qmt_ssl_write_all(ssl, chunk,
				                      sizeof(chunk)))
					return;
			continue;
		}
		snprintf(hdr, sizeof(hdr),
		         "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		         "Content-Length: %zu\r\n\r\n",
		         st.status,
		         strlen(st.body) + (st.act == DROP_MID ? 100 : 0));
		if (qmt_ssl_write_all(ssl, hdr, strlen(hdr)) ||
		    qmt_ssl_write_all(ssl, st.body, strlen(st.body)))
			return;
		if (st.act == DROP_MID)
			return;
	}
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p[2] = {{s->lfd, POLLIN, 0},
		                      {s->stop[0], POLLIN, 0}};
		SSL *ssl;
		X509 *peer;
		int fd;

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents)
			break;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->mu);
		s->connections++;
		pthread_mutex_unlock(&s->mu);
		ssl = SSL_new(s->ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			peer = SSL_get1_peer_certificate(ssl);
			if (peer) {
				pthread_mutex_lock(&s->mu);
				X509_NAME_get_text_by_NID(
				    X509_get_subject_name(peer), NID_commonName,
				    s->peer_cn, sizeof(s->peer_cn));
				pthread_mutex_unlock(&s->mu);
				X509_free(peer);
			}
			serve_conn(s, ssl, fd);
		}
		SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
		ERR_clear_error();
	}
	return NULL;
}

/* Starts a server with cert/key (names in dir) that trusts client
 * certificates from client_ca (NULL: does not ask for one). */
static struct srv *srv_start(const char *cert, const char *key,
                             const char *client_ca)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	pthread_mutex_init(&s->mu, NULL);
	{
		struct qmt_tls_listener l;
		char c[1024], k[1024], ca[1024];

		snprintf(c, sizeof(c), "%s/%s", dir, cert);
		snprintf(k, sizeof(k), "%s/%s", dir, key);
		snprintf(ca, sizeof(ca), "%s/%s", dir,
		         client_ca ? client_ca : "");
		assert_int_equal(
		    qmt_tls_listen(&l, c, k, client_ca ? ca : NULL), 0);
		s->ctx = l.ctx;
		s->lfd = l.fd;
		s->port = l.port;
	}
	assert_int_equal(pipe(s->stop), 0);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
	return s;
}

static void srv_stop(struct srv **sp)
{
	struct srv *s = *sp;

	if (!s)
		return;
	assert_int_equal(write(s->stop[1], "x", 1), 1);
	pthread_join(s->th, NULL);
	close(s->lfd);
	close(s->stop[0]);
	close(s->stop[1]);
	SSL_CTX_free(s->ctx);
	for (int i = 0; i < s->nsteps; i++)
		free(s->steps[i].body);
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}

/* ---------------------------------------------------------- certificates */

static const char certs_sh[] =
    "set -e\n"
    "cd \"$1\"\n"
    "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
    "-nodes -keyout $1.key -out $1.pem -days 2 -subj \"/CN=$2\"; }\n"
    "leaf() { # name ca cn ext\n"
    "  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
    "-out $1.key\n"
    "  openssl req -new -key $1.key -subj \"/CN=$3\" -out $1.csr\n"
    "  printf '%s\\n' \"$4\" > $1.ext\n"
    "  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key "
    "-set_serial $RANDOM$RANDOM -days 2 -extfile $1.ext -out $1.pem; }\n"
    "srv='basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth'\n"
    "cli='basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth'\n"
    "ca ca 'QMail Test CA'\n"
    "ca ca2 'Another CA'\n"
    "leaf kme ca KME_A \"$(printf \"$srv\")\n"
    "subjectAltName=IP:127.0.0.1,DNS:localhost\"\n"
    "leaf kmex ca KME_X \"$(printf \"$srv\")\n"
    "subjectAltName=IP:127.0.0.1\"\n"
    "leaf kmename ca KME_A \"$(printf \"$srv\")\n"
    "subjectAltName=DNS:kme.example.org\"\n"
    "leaf kme2 ca2 KME_A \"$(printf \"$srv\")\n"
    "subjectAltName=IP:127.0.0.1\"\n"
    "leaf sae ca SAE_A \"$(printf \"$cli\")\"\n"
    "leaf evil ca2 SAE_A \"$(printf \"$cli\")\"\n"
    "openssl pkey -in sae.key -aes256 -passout pass:open-sesame "
    "-out sae_enc.key\n"
    "# a KME certificate that expired in 2020 (openssl ca sets the dates)\n"
    "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\n"
    "new_certs_dir=.\\nserial=serial\\ndefault_md=sha256\\n"
    "policy=p\\n[p]\\ncommonName=supplied\\n' > ca.cnf\n"
    ": > index.txt; echo 1000 > serial\n"
    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
    "-out old.key\n"
    "openssl req -new -key old.key -subj /CN=KME_A -out old.csr\n"
    "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key "
    "-in old.csr -out old.pem -startdate 20200101000000Z "
    "-enddate 20200102000000Z -extfile kme.ext\n";

static int group_setup(void **state)
{
	char script[1024];
	char *argv[] = {"bash", script, dir, NULL};
	char log[1024];

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	if (qm_core_init(NULL) != QM_OK ||
	    qmt_tmpdir("kms-tls", dir, sizeof(dir)))
		return -1;
	snprintf(script, sizeof(script), "%s/certs.sh", dir);
	snprintf(log, sizeof(log), "%s/certs.log", dir);
	if (qmt_write_file(script, certs_sh) || qmt_run(argv, log) != 0) {
		fprintf(stderr, "making the test certificates failed, see %s\n",
		        log);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	qmt_rmtree(dir);
	return 0;
}

/* ----------------------------------------------------------------- client */

static char p_cert[600], p_key[600], p_ca[600], p_url[64];

static void client_cfg(struct qm_kms_config *c, const struct srv *s,
                       const char *cert, const char *key, const char *ca)
{
	qm_kms_config_init(c);
	snprintf(p_url, sizeof(p_url), "https://127.0.0.1:%d/", s->port);
	snprintf(p_cert, sizeof(p_cert), "%s/%s", dir, cert);
	snprintf(p_key, sizeof(p_key), "%s/%s", dir, key);
	snprintf(p_ca, sizeof(p_ca), "%s/%s", dir, ca);
	c->url = p_url;
	c->cert_file = p_cert;
	c->key_file = p_key;
	c->ca_file = p_ca;
	c->connect_timeout_ms = 3000;
	c->timeout_ms = 5000;
	c->retry_delay_ms = 5;
	c->retry_delay_max_ms = 20;
}

static struct qm_kms *client(const struct srv *s)
{
	struct qm_kms_config c;
	struct qm_kms *k = NULL;
	struct qm_error e;

	client_cfg(&c, s, "sae.pem", "sae.key", "ca.pem");
	if (qm_kms_new(&c, &k, &e) != QM_OK)
		fail_msg("qm_kms_new: %s", e.msg);
	return k;
}

/* Checks a call's result and shows the error message when it differs. */
#define expect_rc(call, code)                                                  \
	do {                                                                   \
		enum qm_err rc_ = (call);                                      \
		if (rc_ != (code))                                             \
			fail_msg("%s returned %d (%s), expected %d", #call,    \
			         (int)rc_, e.msg, (int)(code));                \
	} while (0)

/* A key container with n keys of bytes length, key i filled with i+1. */
static char *container(unsigned n, size_t bytes, const char *const *ids)
{
	struct qm_buf b, raw;

	qm_buf_init(&b, 1 << 24);
	qm_buf_init(&raw, 1 << 20);
	assert_int_equal(qm_buf_append_str(&b, "{\"keys\":[", NULL), QM_OK);
	for (unsigned i = 0; i < n; i++) {
		qm_buf_reset(&raw);
		for (size_t j = 0; j < bytes; j++)
			assert_int_equal(
			    qm_buf_append_byte(&raw, (unsigned char)(i + 1),
			                       NULL),
			    QM_OK);
		assert_int_equal(
		    qm_buf_appendf(&b, NULL, "%s{\"key_ID\":\"%s\",\"key\":\"",
		                   i ? "," : "", ids[i]),
		    QM_OK);
		assert_int_equal(qm_b64_encode(raw.data, raw.len, &b, NULL),
		                 QM_OK);
		assert_int_equal(qm_buf_append_str(&b, "\"}", NULL), QM_OK);
	}
	assert_int_equal(qm_buf_append_str(&b, "]}", NULL), QM_OK);
	qm_buf_free(&raw);
	return (char *)qm_buf_steal(&b, NULL);
}

static const char *const ids4[] = {"11111111-1111-4111-8111-111111111111",
                                   "22222222-2222-4222-8222-222222222222",
                                   "33333333-3333-4333-8333-333333333333",
                                   "44444444-4444-4444-8444-444444444444"};

static const char status_json[] =
    "{\"source_KME_ID\":\"KME_A\",\"target_KME_ID\":\"KME_B\","
    "\"master_SAE_ID\":\"SAE_A\",\"slave_SAE_ID\":\"SAE B/1\","
    "\"key_size\":256,\"stored_key_count\":100,\"max_key_count\":1000,"
    "\"max_key_per_request\":2,\"max_key_size\":2048,\"min_key_size\":64,"
    "\"max_SAE_ID_count\":0}";

/* ------------------------------------------------------------------ tests */

static void test_status_and_keepalive(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	srv_script(s, REPLY, 200, status_json);
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_status_get(k, "SAE B/1", &st, &e), QM_OK);
	assert_string_equal(s->method, "GET");
	assert_string_equal(s->path, "/api/v1/keys/SAE%20B%2F1/status");
	assert_string_equal(s->peer_cn, "SAE_A");
	assert_string_equal(st.slave_sae_id, "SAE B/1");
	assert_int_equal(st.max_key_per_request, 2);
	expect_rc(qm_kms_status_get(k, "SAE B/1", &st, &e), QM_OK);
	/* two requests, one TLS connection */
	assert_int_equal(s->requests, 2);
	assert_int_equal(s->connections, 1);
	assert_int_equal(qm_kms_connections(k), 1);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_enc_keys_get_and_post(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	const char *const extra[] = {"SAE_C", "SAE D"};
	struct qm_kms_key_request req;
	struct qm_kms_keys *ks = NULL;
	char *two = container(2, 32, ids4), *one = container(1, 32, ids4);
	struct qm_error e;
	size_t len;

	(void)state;
	srv_script(s, REPLY, 200, two);
	srv_script(s, REPLY, 200, one);
	srv_script(s, REPLY, 200, one);
	srv_script(s, REPLY, 200, two);
	/* only number and size: GET with query parameters */
	expect_rc(qm_kms_keys_get(k, "SAE_B", 2, 256, NULL, 0, &ks, &e), QM_OK);
	assert_string_equal(s->method, "GET");
	assert_string_equal(s->path,
	                    "/api/v1/keys/SAE_B/enc_keys?number=2&size=256");
	assert_int_equal(qm_kms_keys_count(ks), 2);
	assert_string_equal(qm_kms_keys_id(ks, 1), ids4[1]);
	assert_int_equal(qm_kms_keys_key(ks, 1, &len)[0], 2);
	assert_int_equal(len, 32);
	qm_kms_keys_free(&ks);
	/* no parameters at all */
	expect_rc(qm_kms_keys_get(k, "SAE_B", 0, 0, NULL, 0, &ks, &e), QM_OK);
	assert_string_equal(s->path, "/api/v1/keys/SAE_B/enc_keys");
	qm_kms_keys_free(&ks);
	/* additional slaves and extensions: POST with a Key request */
	memset(&req, 0, sizeof(req));
	req.number = 1;
	req.size_bits = 256;
	req.additional_slaves = extra;
	req.n_additional = 2;
	req.extension_optional = "[{\"abc_route_type\":\"direct\"}]";
	expect_rc(qm_kms_enc_keys(k, "SAE_B", &req, &ks, &e), QM_OK);
	assert_string_equal(s->method, "POST");
	assert_string_equal(s->path, "/api/v1/keys/SAE_B/enc_keys");
	assert_string_equal(
	    s->body, "{\"number\":1,\"size\":256,"
	             "\"additional_slave_SAE_IDs\":[\"SAE_C\",\"SAE D\"],"
	             "\"extension_optional\":[{\"abc_route_type\":"
	             "\"direct\"}]}");
	qm_kms_keys_free(&ks);
	/* a KME that sends more keys than asked for is refused */
	expect_rc(qm_kms_keys_get(k, "SAE_B", 1, 256, NULL, 0, &ks, &e),
	          QM_ERR_PROTO);
	assert_has(e.msg, "sent 2 keys, 1 were asked for");
	assert_null(ks);
	/* bad extension text never reaches the KME */
	req.extension_optional = "{\"not\":\"an array\"}";
	expect_rc(qm_kms_enc_keys(k, "SAE_B", &req, &ks, &e), QM_ERR_INVAL);
	assert_int_equal(s->requests, 4);
	assert_int_equal(s->connections, 1);
	free(two);
	free(one);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_dec_keys_get_and_post(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	const char *const rev[] = {ids4[1], ids4[0]};
	const char *const wrong[] = {ids4[0], ids4[2]};
	char *one = container(1, 16, ids4), *two_rev = container(2, 16, rev);
	char *two_wrong = container(2, 16, wrong);
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;
	size_t len;

	(void)state;
	srv_script(s, REPLY, 200, one);
	srv_script(s, REPLY, 200, two_rev);
	srv_script(s, REPLY, 200, two_wrong);
	expect_rc(qm_kms_keys_by_id(k, "SAE A", ids4, 1, &ks, &e), QM_OK);
	assert_string_equal(s->method, "GET");
	assert_string_equal(s->path, "/api/v1/keys/SAE%20A/dec_keys?key_ID="
	                             "11111111-1111-4111-8111-111111111111");
	qm_kms_keys_free(&ks);
	/* several IDs: POST; the KME's order does not matter */
	expect_rc(qm_kms_keys_by_id(k, "SAE A", ids4, 2, &ks, &e), QM_OK);
	assert_string_equal(s->method, "POST");
	assert_string_equal(s->body,
	                    "{\"key_IDs\":[{\"key_ID\":\"11111111-1111-4111-"
	                    "8111-111111111111\"},{\"key_ID\":\"22222222-2222-"
	                    "4222-8222-222222222222\"}]}");
	assert_string_equal(qm_kms_keys_id(ks, 0), ids4[0]);
	assert_int_equal(qm_kms_keys_key(ks, 0, &len)[0], 2); /* 2nd sent */
	assert_int_equal(qm_kms_keys_key(ks, 1, &len)[0], 1);
	qm_kms_keys_free(&ks);
	/* a reply with another key than asked for is refused */
	expect_rc(qm_kms_keys_by_id(k, "SAE A", ids4, 2, &ks, &e),
	          QM_ERR_PROTO);
	assert_has(e.msg, "did not send key 22222222");
	assert_null(ks);
	/* an unexpected HTTP status is reported with its number */
	expect_rc(qm_kms_keys_by_id(k, "SAE A", ids4, 1, &ks, &e),
	          QM_ERR_PROTO); /* the script is used up: 500 */
	assert_has(e.msg, "HTTP status 500: \"script exhausted\"");
	/* the same ID twice is the caller's mistake, not sent */
	{
		const char *const dup[] = {ids4[0], ids4[0]};

		expect_rc(qm_kms_keys_by_id(k, "SAE A", dup, 2, &ks, &e),
		          QM_ERR_INVAL);
	}
	assert_int_equal(s->requests, 4);
	free(one);
	free(two_rev);
	free(two_wrong);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_post_large_body(void **state)
{
	/* 4000 IDs of 255 bytes: a dec_keys body of more than 1 MiB, where
	 * libcurl would otherwise wait for a "100 Continue" */
	enum { N = 4000 };
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	char(*idbuf)[256] = calloc(N, 256);
	const char **ids = calloc(N, sizeof(*ids));
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;
	char *reply;

	(void)state;
	assert_non_null(idbuf);
	assert_non_null(ids);
	for (int i = 0; i < N; i++) {
		memset(idbuf[i], 'k', 255);
		snprintf(idbuf[i], 9, "%08x", i);
		idbuf[i][8] = '-';
		ids[i] = idbuf[i];
	}
	reply = container(N, 32, ids);
	srv_script(s, REPLY, 200, reply);
	expect_rc(qm_kms_keys_by_id(k, "SAE_A", ids, N, &ks, &e), QM_OK);
	assert_true(s->body_len > 1024 * 1024);
	/* no "Expect: 100-continue", so no stall of a second waiting for a
	 * "100 Continue" that a KME need not send */
	assert_null(strcasestr(s->headers, "Expect:"));
	assert_has(s->headers, "Content-Type: application/json");
	assert_int_equal(qm_kms_keys_count(ks), N);
	assert_string_equal(qm_kms_keys_id(ks, N - 1), ids[N - 1]);
	qm_kms_keys_free(&ks);
	free(reply);
	free(ids);
	free(idbuf);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_malformed_and_oversized(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms_config c;
	struct qm_kms *k = NULL;
	struct qm_kms_keys *ks = NULL;
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	client_cfg(&c, s, "sae.pem", "sae.key", "ca.pem");
	c.max_body = QM_KMS_SMALL_BODY_MAX;
	expect_rc(qm_kms_new(&c, &k, &e), QM_OK);
	srv_script(s, REPLY, 200, "{\"keys\":[{\"key_ID\":\"a\",\"key\":");
	srv_script(s, REPLY, 200, "{\"key_size\":\"big\"}");
	srv_script(s, HUGE, 200, NULL);
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_keys_get(k, "SAE_B", 1, 0, NULL, 0, &ks, &e),
	          QM_ERR_PARSE);
	assert_has(e.msg, "KME at https://127.0.0.1:");
	assert_has(e.msg, "malformed JSON in Key container reply");
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_ERR_PARSE);
	assert_has(e.msg, "key_size is not an integer");
	expect_rc(qm_kms_keys_get(k, "SAE_B", 1, 0, NULL, 0, &ks, &e),
	          QM_ERR_TOOBIG);
	assert_has(e.msg, "larger than the limit of 65536 bytes");
	/* the handle still works after the aborted transfer */
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_OK);
	assert_int_equal(s->requests, 4);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_retry_on_503(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	srv_script(s, REPLY, 503, "{\"message\":\"pool empty\"}");
	srv_script(s, REPLY, 503, "");
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_OK);
	assert_int_equal(s->requests, 3);
	/* the default 2 retries used up: 503 reaches the caller */
	srv_script(s, REPLY, 503, "{\"message\":\"pool empty\"}");
	srv_script(s, REPLY, 503, "{\"message\":\"pool empty\"}");
	srv_script(s, REPLY, 503, "{\"message\":\"pool empty\"}");
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_ERR_UNAVAIL);
	assert_has(e.msg,
	           "503 Service Unavailable): \"pool empty\"; try again");
	assert_int_equal(s->requests, 6);
	qm_kms_free(&k);
	srv_stop(&s);
}

/*
 * Answers that are not retried, one request each (a dec_keys for one key
 * ID): the HTTP status and the KME's Error body, the enum qm_err they
 * become and what the message says.
 */
struct answer_case {
	int status;
	const char *body;
	enum qm_err rc;
	const char *needle[2];
};

static const struct answer_case answer_cases[] = {
    {400,
     "{\"message\":\"one or more keys specified are not found on KME\"}",
     QM_ERR_NOTFOUND,
     {"\"one or more keys specified are not found on KME\"",
      "fetched already"}},
    {400,
     "{\"message\":\"size shall be a multiple of 8\",\"details\":[]}",
     QM_ERR_PROTO,
     {"rejected the request (400 Bad Request): \"size shall be a "
      "multiple of 8\"",
      NULL}},
    {401,
     "{\"message\":\"unauthorized\"}",
     QM_ERR_DENIED,
     {"401 Unauthorized: \"unauthorized\": the KME did not accept this "
      "SAE's certificate, or the key was not addressed to this SAE",
      NULL}},
    {401, "not json", QM_ERR_DENIED, {"401 Unauthorized", NULL}},
    {403, "", QM_ERR_PROTO, {"HTTP status 403", NULL}},
    {404,
     "{\"message\":\"no such path\"}",
     QM_ERR_PROTO,
     {"HTTP status 404: \"no such path\"", NULL}},
};

static void test_error_statuses(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;
	size_t n = sizeof(answer_cases) / sizeof(answer_cases[0]);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		const struct answer_case *a = &answer_cases[i];

		srv_script(s, REPLY, a->status, a->body);
		expect_rc(qm_kms_keys_by_id(k, "SAE_A", ids4, 1, &ks, &e),
		          a->rc);
		for (size_t j = 0; j < 2 && a->needle[j]; j++)
			assert_has(e.msg, a->needle[j]);
		assert_null(ks);
		assert_int_equal(qm_kms_last_status(k), a->status);
		/* never asked again */
		assert_int_equal(s->requests, i + 1);
	}
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_dropped_connections(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	/* dropped once: the retry on a new connection succeeds */
	srv_script(s, DROP, 0, NULL);
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_OK);
	assert_int_equal(s->connections, 2);
	/* always dropped, before or in the middle of the answer; on a new
	 * handle, since libcurl itself retries once on a reused connection
	 * that died */
	qm_kms_free(&k);
	k = client(s);
	for (int i = 0; i < 3; i++)
		srv_script(s, DROP, 0, NULL);
	for (int i = 0; i < 3; i++)
		srv_script(s, DROP_MID, 200, "{\"key_size\":");
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_ERR_NET);
	assert_has(e.msg, "closed the connection without an answer");
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_ERR_NET);
	assert_has(e.msg, "dropped the connection in the middle of its answer");
	assert_int_equal(s->requests, 8);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_timeout(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms_config c;
	struct qm_kms *k = NULL;
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	client_cfg(&c, s, "sae.pem", "sae.key", "ca.pem");
	/* long enough for the TLS handshake of a loaded machine under ASan
	 * (at 300 ms the time ran out before the request reached the
	 * server, once in CI-like runs) */
	c.timeout_ms = 2000;
	expect_rc(qm_kms_new(&c, &k, &e), QM_OK);
	srv_script(s, HANG, 0, NULL);
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_ERR_TIMEOUT);
	assert_has(e.msg, "did not answer in time");
	/* one attempt only: a slow KME is not asked again at once */
	assert_int_equal(s->requests, 1);
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_OK);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_connection_refused(void **state)
{
	struct srv fake;
	struct qm_kms_config c;
	struct qm_kms *k = NULL;
	struct qm_kms_status st;
	struct qm_error e;

	(void)state;
	memset(&fake, 0, sizeof(fake));
	fake.port = qmt_free_port(); /* nothing listens there */
	client_cfg(&c, &fake, "sae.pem", "sae.key", "ca.pem");
	expect_rc(qm_kms_new(&c, &k, &e), QM_OK);
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), QM_ERR_NET);
	assert_has(e.msg, "could not connect to the KME at https://127.0.0.1:");
	assert_has(e.msg, "check that the KME runs");
	qm_kms_free(&k);
}

/*
 * One Get status over the TLS set-up of a row: the KME's certificate,
 * this SAE's certificate and key (with its passphrase), the KME ID
 * expected; what the call gives and what its message says. A TLS
 * failure is not retried and never reaches the HTTP layer.
 */
struct tls_case {
	const char *name;
	const char *kme_cert, *kme_key;
	const char *sae_cert, *sae_key, *key_pass;
	const char *kme_id;
	enum qm_err rc;
	const char *needle[2];
	int one_connection; /* the failure came from the KME's side */
};

static struct tls_case tls_cases[] = {
    {"tls: the KME's certificate is from another CA",
     "kme2.pem",
     "kme2.key",
     "sae.pem",
     "sae.key",
     NULL,
     NULL,
     QM_ERR_TLS,
     {"could not be verified: SSL certificate problem: unable to get "
      "local issuer",
      NULL},
     1},
    {"tls: the KME's certificate has expired",
     "old.pem",
     "old.key",
     "sae.pem",
     "sae.key",
     NULL,
     NULL,
     QM_ERR_TLS,
     {"certificate has expired", NULL},
     1},
    {"tls: the KME's certificate names another host",
     "kmename.pem",
     "kmename.key",
     "sae.pem",
     "sae.key",
     NULL,
     NULL,
     QM_ERR_TLS,
     {"matches target host name '127.0.0.1'", NULL},
     1},
    {"tls: the KME ID expected is the one named",
     "kme.pem",
     "kme.key",
     "sae.pem",
     "sae.key",
     NULL,
     "KME_A",
     QM_OK,
     {NULL, NULL},
     1},
    {"tls: the KME's certificate names another KME ID",
     "kmex.pem",
     "kmex.key",
     "sae.pem",
     "sae.key",
     NULL,
     "KME_A",
     QM_ERR_TLS,
     {"presented a certificate for \"KME_X\", which does not name the "
      "expected KME ID \"KME_A\"",
      NULL},
     1},
    {"tls: this SAE's key with its passphrase",
     "kme.pem",
     "kme.key",
     "sae.pem",
     "sae_enc.key",
     "open-sesame",
     NULL,
     QM_OK,
     {NULL, NULL},
     1},
    {"tls: this SAE's key with a wrong passphrase",
     "kme.pem",
     "kme.key",
     "sae.pem",
     "sae_enc.key",
     "wrong",
     NULL,
     QM_ERR_TLS,
     {"could not use this SAE's client certificate", "passphrase"},
     0},
};

static void test_tls_case(void **state)
{
	const struct tls_case *t = *state;
	struct srv *s = srv_start(t->kme_cert, t->kme_key, "ca.pem");
	struct qm_kms_config c;
	struct qm_kms *k = NULL;
	struct qm_kms_status st;
	struct qm_error e;

	client_cfg(&c, s, t->sae_cert, t->sae_key, "ca.pem");
	c.kme_id = t->kme_id;
	c.key_pass = t->key_pass;
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_new(&c, &k, &e), QM_OK);
	expect_rc(qm_kms_status_get(k, "SAE_B", &st, &e), t->rc);
	for (size_t i = 0; i < 2 && t->needle[i]; i++)
		assert_has(e.msg, t->needle[i]);
	if (t->rc == QM_OK) {
		assert_int_equal(s->requests, 1);
		assert_string_equal(s->peer_cn, "SAE_A");
	} else {
		assert_int_equal(s->requests, 0);
		if (t->one_connection)
			assert_int_equal(s->connections, 1);
	}
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_tls_client_cert_refused(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms_config c;
	struct qm_kms *k = NULL;
	struct qm_kms_status st;
	struct qm_error e;
	enum qm_err rc;

	(void)state;
	/* the KME trusts only ca.pem; this SAE's certificate is from ca2 */
	client_cfg(&c, s, "evil.pem", "evil.key", "ca.pem");
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_new(&c, &k, &e), QM_OK);
	rc = qm_kms_status_get(k, "SAE_B", &st, &e);
	/* TLS 1.3: the alert is read (TLS error), or the KME's close comes
	 * first (connection error); both tell what to check */
	if (rc == QM_ERR_TLS)
		assert_has(e.msg, "refused the client certificate");
	else if (rc == QM_ERR_NET)
		assert_has(e.msg,
		           "does not accept this SAE's client certificate");
	else
		fail_msg("unexpected result %d: %s", (int)rc, e.msg);
	assert_int_equal(s->requests, 0);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_config_checks(void **state)
{
	struct srv fake;
	struct qm_kms_config c;
	struct qm_kms *k = NULL;
	struct qm_error e;

	(void)state;
	memset(&fake, 0, sizeof(fake));
	fake.port = 1;
	client_cfg(&c, &fake, "sae.pem", "sae.key", "ca.pem");
	c.url = "http://127.0.0.1:1";
	expect_rc(qm_kms_new(&c, &k, &e), QM_ERR_INVAL);
	assert_has(e.msg, "must start with https://");
	client_cfg(&c, &fake, "sae.pem", "nope.key", "ca.pem");
	expect_rc(qm_kms_new(&c, &k, &e), QM_ERR_IO);
	assert_has(e.msg, "nope.key");
	client_cfg(&c, &fake, "sae.pem", "sae.key", "ca.pem");
	c.ca_file = NULL;
	expect_rc(qm_kms_new(&c, &k, &e), QM_ERR_INVAL);
	assert_null(k);
}

static void test_bulk_material(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	struct qm_kms_keys *ks = NULL;
	char *two_a = container(2, 256, ids4),
	     *two_b = container(2, 256, ids4 + 2);
	const unsigned char *m;
	struct qm_error e;
	size_t len;

	(void)state;
	/* 1000 bytes with 2048-bit keys, 2 a request: 4 keys, 2 requests */
	srv_script(s, REPLY, 200, status_json);
	srv_script(s, REPLY, 200, two_a);
	srv_script(s, REPLY, 200, two_b);
	expect_rc(qm_kms_material_get(k, "SAE_B", 1000, &ks, &e), QM_OK);
	assert_int_equal(s->requests, 3);
	assert_string_equal(s->path,
	                    "/api/v1/keys/SAE_B/enc_keys?number=2&size=2048");
	assert_int_equal(qm_kms_keys_count(ks), 4);
	m = qm_kms_keys_material(ks, &len);
	assert_int_equal(len, 1024);
	assert_int_equal(m[0], 1);
	assert_int_equal(m[256], 2);
	assert_int_equal(m[512], 1); /* first key of the second reply */
	assert_string_equal(qm_kms_keys_id(ks, 3), ids4[3]);
	qm_kms_keys_free(&ks);
	/* too little in the pool: said before anything is taken */
	srv_script(s, REPLY, 200, status_json);
	expect_rc(qm_kms_material_get(k, "SAE_B", 5000, &ks, &e),
	          QM_ERR_UNAVAIL);
	assert_has(e.msg, "holds 3200 bytes of key material for SAE_B, 5120 "
	                  "bytes are needed");
	assert_int_equal(s->requests, 4);
	free(two_a);
	free(two_b);
	qm_kms_free(&k);
	srv_stop(&s);
}

static void test_bulk_by_ids(void **state)
{
	struct srv *s = srv_start("kme.pem", "kme.key", "ca.pem");
	struct qm_kms *k = client(s);
	struct qm_kms_keys *ks = NULL;
	char *two = container(2, 8, ids4), *one = container(1, 8, ids4 + 2);
	struct qm_error e;
	size_t len;

	(void)state;
	/* chunk size from the status: 2, then 1 */
	srv_script(s, REPLY, 200, status_json);
	srv_script(s, REPLY, 200, two);
	srv_script(s, REPLY, 200, one);
	expect_rc(qm_kms_material_by_ids(k, "SAE_A", ids4, 3, &ks, &e), QM_OK);
	assert_int_equal(s->requests, 3);
	assert_string_equal(s->method, "GET");
	assert_has(s->path, "dec_keys?key_ID=33333333");
	assert_int_equal(qm_kms_keys_count(ks), 3);
	assert_non_null(qm_kms_keys_material(ks, &len));
	assert_int_equal(len, 24);
	qm_kms_keys_free(&ks);
	/* a failure in a later chunk returns nothing */
	srv_script(s, REPLY, 200, status_json);
	srv_script(s, REPLY, 200, two);
	srv_script(s, REPLY, 400,
	           "{\"message\":\"one or more keys specified "
	           "are not found on KME\"}");
	expect_rc(qm_kms_material_by_ids(k, "SAE_A", ids4, 3, &ks, &e),
	          QM_ERR_NOTFOUND);
	assert_has(e.msg, "after 2 of 3 keys");
	assert_null(ks);
	free(two);
	free(one);
	qm_kms_free(&k);
	srv_stop(&s);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
	    cmocka_unit_test(test_status_and_keepalive),
	    cmocka_unit_test(test_enc_keys_get_and_post),
	    cmocka_unit_test(test_dec_keys_get_and_post),
	    cmocka_unit_test(test_post_large_body),
	    cmocka_unit_test(test_malformed_and_oversized),
	    cmocka_unit_test(test_retry_on_503),
	    cmocka_unit_test(test_error_statuses),
	    cmocka_unit_test(test_dropped_connections),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_connection_refused),
	    cmocka_unit_test(test_tls_client_cert_refused),
	    cmocka_unit_test(test_config_checks),
	    cmocka_unit_test(test_bulk_material),
	    cmocka_unit_test(test_bulk_by_ids),
	};
	enum {
		NFIXED = sizeof(fixed) / sizeof(fixed[0]),
		NTLS = sizeof(tls_cases) / sizeof(tls_cases[0])
	};
	struct CMUnitTest tests[NFIXED + NTLS];

	/* one test per row of the TLS table, named by it */
	for (size_t i = 0; i < NFIXED; i++)
		tests[i] = fixed[i];
	for (size_t i = 0; i < NTLS; i++)
		tests[NFIXED + i] = (struct CMUnitTest){
		    .name = tls_cases[i].name,
		    .test_func = test_tls_case,
		    .initial_state = &tls_cases[i],
		};
	return _cmocka_run_group_tests("kms_tls_test", tests, NFIXED + NTLS,
	                               group_setup, group_teardown);
}
