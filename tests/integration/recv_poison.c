/* SPDX-License-Identifier: MIT */
/*
 * One message must never stop an account's sync (issue 12, item 2), in
 * the real world (world.h: OpenSMTPD, Dovecot, three qkme KMEs; bob over
 * IMAP, carol over POP3):
 *   (a) a level-2 message with a key ID that is not a UUID (the KME
 *       answers 400) and one with an empty sender SAE, then a normal one:
 *       after one sync the normal one is filed and readable, the two are
 *       listed as unreadable with their reasons, the next sync does not
 *       ask the KME about them, and the user can ask for one more try
 *       (engine, CLI, web API);
 *   (b) level-1/2 mail, a level-3 and a plain message to an account whose
 *       KME is down, refuses its certificate, or is not configured: the
 *       level-3 and plain ones are filed at once, the others wait (the
 *       problem said once per sync) and are filed once the KME is back;
 *   and a KME that fails for one message (503 to its dec_keys, while its
 *   status answers) costs a request only when that message's back-off is
 *   over; the user's retry (web API) opens it at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "craft.h"
#include "harness.h"
#include "tlslisten.h"
#include "webclient.h"
#include "qmtest.h"
#include "web/web.h"
#include "world.h"

static struct world W;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "recv-poison", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

static void sync_user(int u, struct qm_client_sync_stats *st)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_sync(W.c[u], W.acct[u], NULL, NULL, st, &e));
	printf("  %s synced: fetched %zu, decrypted %zu, plain %zu, waiting "
	       "%zu, unreadable %zu, resumed %zu, tampered %zu, no key %zu, "
	       "replayed %zu, duplicates %zu%s%s\n",
	       qmt_mail_user(u), st->fetched, st->decrypted, st->plain,
	       st->waiting, st->unreadable, st->resumed, st->tampered,
	       st->errors, st->replayed, st->duplicates,
	       st->kme_problem[0] ? "; KME: " : "", st->kme_problem);
}

/* The ids of user u's messages in state v (malloc'd), *n of them. */
static int64_t *in_state(int u, enum qm_store_verify v, size_t *n)
{
	int64_t *ids = NULL;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_store_msg_ids_by_verify(qm_client_store(W.c[u]), W.acct[u],
	                                     v, &ids, n, &e));
	return ids;
}

/* The one of ids whose status mentions needle, or -1. */
static int64_t with_status(int u, const int64_t *ids, size_t n,
                           const char *needle)
{
	for (size_t i = 0; i < n; i++) {
		struct qm_client_view *v = NULL;
		int hit;

		if (qm_client_read(W.c[u], ids[i], &v, NULL) != QM_OK)
			continue;
		hit = strstr(v->status_text, needle) != NULL;
		if (hit)
			printf("  message %lld: %s\n", (long long)ids[i],
			       v->status_text);
		qm_client_view_free(&v);
		if (hit)
			return ids[i];
	}
	return -1;
}

static void send_from_alice(int to_user, int level, const char *subject)
{
	const char *to[1];
	struct qm_client_compose c;
	struct qm_client_sent sent;
	struct qm_error e;
	int have = qmt_mail_files(&W.mail, to_user, NULL, NULL, 0);

	to[0] = qmt_mail_addr(to_user);
	memset(&c, 0, sizeof(c));
	c.account_id = W.acct[W_ALICE];
	c.to = to;
	c.nto = 1;
	c.subject = subject;
	c.text = "the text of the message\n";
	c.level = level;
	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &c, NULL, NULL, &sent, &e));
	assert_true(qmt_mail_wait_files(&W.mail, to_user, NULL, have + 1,
	                                30000) > have);
}

static void expect_readable(int u, const char *subject)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int64_t id = world_by_subject(&W, u, subject);

	assert_true(id > 0);
	qm_error_clear(&e);
	assert_ok(qm_client_read(W.c[u], id, &v, &e));
	assert_true(v->verify == QM_VERIFY_OK ||
	            v->verify == QM_VERIFY_NOT_QMAIL);
	qm_client_view_free(&v);
}

/* A made-up level-2 message for user u: key ID and sender SAE as given. */
static void deliver_bad(int u, const char *key_id, const char *sender_sae,
                        const char *subject)
{
	unsigned char key[QM_L2_KEYBYTES];
	struct qm_qkey qk;
	struct craft_msg m;
	struct qm_buf wire;

	qm_random(key, sizeof(key));
	qk.key_id = key_id;
	qk.key = key;
	qk.len = sizeof(key);
	memset(&m, 0, sizeof(m));
	m.level = 2;
	m.from = "Alice <alice@qmail.test>";
	m.to = qmt_mail_addr(u);
	m.subject = subject;
	m.sender_sae = sender_sae;
	m.rcpt_sae = W.sae[u];
	m.keys = &qk;
	m.nkeys = 1;
	qm_buf_init(&wire, 1 << 20);
	assert_int_equal(craft_build(&m, &wire, NULL), 0);
	assert_int_equal(craft_deliver(&W, u, wire.data, wire.len), 0);
	qm_buf_free(&wire);
}

/* (a) for bob (IMAP) and carol (POP3). */
static void test_bad_messages(void **state)
{
	static const int users[] = {W_BOB, W_CAROL};
	struct qm_client_sync_stats st;
	struct qm_error e;
	int64_t bad_id = -1, no_sae = -1;

	(void)state;
	if (W.skipped)
		skip();
	for (size_t k = 0; k < 2; k++) {
		int u = users[k];
		int64_t *ids;
		size_t n = 0;

		deliver_bad(u, "not-a-uuid-1", W.sae[W_ALICE], "bad key ID");
		deliver_bad(u, "0b9f6d1e-8a7c-4e3f-b2d1-6f5e4d3c2b1a", "",
		            "no sender SAE");
		send_from_alice(u, 2, "after the bad ones");
		sync_user(u, &st);
		assert_int_equal(st.fetched, 3);
		assert_int_equal(st.decrypted, 1);
		assert_int_equal(st.unreadable, 2);
		assert_int_equal(st.waiting, 0);
		assert_string_equal(st.kme_problem, "");
		expect_readable(u, "after the bad ones");
		ids = in_state(u, QM_VERIFY_UNREADABLE, &n);
		assert_int_equal(n, 2);
		bad_id = with_status(u, ids, n, "not-a-uuid-1");
		no_sae = with_status(u, ids, n, "sender SAE");
		assert_true(bad_id > 0 && no_sae > 0 && bad_id != no_sae);
		free(ids);

		/* the next sync does not ask the KME about them: with the KME
		 * stopped it has nothing to say */
		assert_int_equal(kt_kme_stop(&W.net, u) >= 0, 1);
		sync_user(u, &st);
		assert_int_equal(st.fetched, 0);
		assert_int_equal(st.waiting, 0);
		assert_string_equal(st.kme_problem, "");
		/* one more try while the KME is down: it stays unreadable */
		qm_error_clear(&e);
		assert_int_not_equal(
		    qm_client_msg_retry(W.c[u], bad_id, NULL, NULL, &e), QM_OK);
		printf("  retry with the KME down: %s\n", qm_error_msg(&e));
		ids = in_state(u, QM_VERIFY_UNREADABLE, &n);
		assert_int_equal(n, 2);
		free(ids);
		assert_int_equal(kt_kme_start(&W.net, u), 0);
	}

	/* one more try (carol's): the KME still refuses the key ID */
	{
		enum qm_store_verify vf = QM_VERIFY_OK;
		int64_t nid = 0;

		qm_error_clear(&e);
		assert_ok(
		    qm_client_msg_retry(W.c[W_CAROL], bad_id, &nid, &vf, &e));
		assert_int_equal(vf, QM_VERIFY_UNREADABLE);
		assert_true(nid > 0);
	}
	/* and through the CLI: the empty sender SAE is still bad */
	{
		char idtext[32], *out = NULL;
		int rc;

		snprintf(idtext, sizeof(idtext), "%lld", (long long)no_sae);
		rc = world_qmail(&W, W_CAROL, &out, "retry", idtext, NULL);
		printf("%s", out);
		assert_int_equal(rc, 5);
		assert_non_null(strstr(out, "unreadable"));
		free(out);
		rc = world_qmail(&W, W_CAROL, &out, "list", NULL);
		assert_non_null(strstr(out, "UNREADABLE"));
		free(out);
	}
}

/* (b) bob's KME stopped: plain and level 3 at once, levels 1 and 2 later. */
static void test_kme_down(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_buf wire;
	int64_t *ids;
	size_t n = 0;
	char *out = NULL;
	int rc;

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(world_wait_pool(&W, W_ALICE, W_BOB, 64 * 1024, 120000),
	                 0);
	send_from_alice(W_BOB, 2, "waits at level 2");
	qm_buf_init(&wire, 1 << 20);
	assert_int_equal(craft_plain("someone@example.net",
	                             qmt_mail_addr(W_BOB), "plain meanwhile",
	                             NULL, &wire),
	                 0);
	assert_int_equal(craft_deliver(&W, W_BOB, wire.data, wire.len), 0);
	qm_buf_free(&wire);
	send_from_alice(W_BOB, 1, "waits at level 1");
	send_from_alice(W_BOB, 3, "level 3 meanwhile");

	kt_kme_stop(&W.net, W_BOB);
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched, 4);
	assert_int_equal(st.plain, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.waiting, 2);
	assert_true(st.kme_problem[0] != '\0');
	assert_non_null(strstr(st.kme_problem, "127.0.0.1"));
	expect_readable(W_BOB, "plain meanwhile");
	expect_readable(W_BOB, "level 3 meanwhile");
	ids = in_state(W_BOB, QM_VERIFY_WAITING, &n);
	assert_int_equal(n, 2);
	free(ids);

	/* still down: nothing new from the server, the two still wait, the
	 * CLI says the problem once and exits 4 */
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.waiting, 2);
	assert_true(st.kme_problem[0] != '\0');
	rc = world_qmail(&W, W_BOB, &out, "sync", NULL);
	printf("%s", out);
	assert_int_equal(rc, 4);
	{
		/* the KME's problem, said once */
		const char *p = strstr(out, "could not connect to the KME");
		assert_non_null(p);
		assert_null(strstr(p + 1, "could not connect to the KME"));
	}
	assert_non_null(strstr(out, "2 wait"));
	free(out);

	/* back: both are opened and replace their waiting records */
	assert_int_equal(kt_kme_start(&W.net, W_BOB), 0);
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.decrypted, 2);
	assert_int_equal(st.resumed, 2);
	assert_int_equal(st.waiting, 0);
	assert_string_equal(st.kme_problem, "");
	expect_readable(W_BOB, "waits at level 2");
	expect_readable(W_BOB, "waits at level 1");
	ids = in_state(W_BOB, QM_VERIFY_WAITING, &n);
	assert_int_equal(n, 0);
	free(ids);
}

/* (b) bob's KME refuses his certificate (one from another CA). */
static void test_cert_refused(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_account a, saved;
	struct qm_error e;

	(void)state;
	if (W.skipped)
		skip();
	qm_error_clear(&e);
	assert_ok(qm_store_account_get(qm_client_store(W.c[W_BOB]),
	                               W.acct[W_BOB], &a, &e));
	saved = a;
	snprintf(a.kme_cert, sizeof(a.kme_cert), "%s/server.crt", W.mail.dir);
	snprintf(a.kme_key, sizeof(a.kme_key), "%s/server.key", W.mail.dir);
	assert_ok(qm_store_account_update(qm_client_store(W.c[W_BOB]), &a, &e));
	send_from_alice(W_BOB, 2, "while the KME refuses bob");
	send_from_alice(W_BOB, 4, "level 4 while the KME refuses bob");
	sync_user(W_BOB, &st);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.waiting, 1);
	assert_true(st.kme_problem[0] != '\0');
	expect_readable(W_BOB, "level 4 while the KME refuses bob");

	assert_ok(
	    qm_store_account_update(qm_client_store(W.c[W_BOB]), &saved, &e));
	sync_user(W_BOB, &st);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.resumed, 1);
	assert_int_equal(st.waiting, 0);
	expect_readable(W_BOB, "while the KME refuses bob");
}

/* (b) carol (POP3) has no KME configured for a while. */
static void test_no_kme(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_account a, saved;
	struct qm_error e;

	(void)state;
	if (W.skipped)
		skip();
	qm_error_clear(&e);
	assert_ok(qm_store_account_get(qm_client_store(W.c[W_CAROL]),
	                               W.acct[W_CAROL], &a, &e));
	saved = a;
	a.kme_url[0] = '\0';
	assert_ok(
	    qm_store_account_update(qm_client_store(W.c[W_CAROL]), &a, &e));
	send_from_alice(W_CAROL, 2, "to carol without a KME");
	send_from_alice(W_CAROL, 3, "level 3 to carol without a KME");
	sync_user(W_CAROL, &st);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.waiting, 1);
	assert_non_null(strstr(st.kme_problem, "KME"));
	expect_readable(W_CAROL, "level 3 to carol without a KME");

	assert_ok(
	    qm_store_account_update(qm_client_store(W.c[W_CAROL]), &saved, &e));
	sync_user(W_CAROL, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.waiting, 0);
	expect_readable(W_CAROL, "to carol without a KME");
}

/* ------------------------------------------- a KME failing one request */

/*
 * A scripted KME on 127.0.0.1 with bob's KME's certificate (the world's
 * CA, mutual TLS): Get status answers as a KME would, every dec_keys gets
 * 503. It counts the dec_keys requests.
 */
static SSL_CTX *g_ctx;
static int g_lfd = -1, g_port, g_stop;
static volatile int g_dec;
static pthread_t g_thr;

static void ssl_reply(SSL *s, const char *status, const char *body)
{
	char h[256];
	int n = snprintf(h, sizeof(h),
	                 "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 status, strlen(body));

	SSL_write(s, h, n);
	SSL_write(s, body, (int)strlen(body));
}

/* Reads one request; its first line into line. 0 at the end. */
static int read_request(SSL *s, char *line, size_t cap)
{
	char buf[16384], *end, *cl;
	size_t len = 0;
	long clen = 0;

	for (;;) {
		int r = SSL_read(s, buf + len, (int)(sizeof(buf) - 1 - len));

		if (r <= 0)
			return 0;
		len += (size_t)r;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
		if (len >= sizeof(buf) - 1)
			return 0;
	}
	snprintf(line, cap, "%.*s", (int)strcspn(buf, "\r\n"), buf);
	if ((cl = strcasestr(buf, "Content-Length:")) != NULL)
		clen = strtol(cl + 15, NULL, 10);
	len -= (size_t)(end + 4 - buf);
	while ((long)len < clen) {
		int r = SSL_read(s, buf, (int)sizeof(buf));

		if (r <= 0)
			return 0;
		len += (size_t)r;
	}
	return 1;
}

static void *kme_run(void *arg)
{
	static const char status[] =
	    "{\"source_KME_ID\":\"KME_B\",\"target_KME_ID\":\"KME_A\","
	    "\"master_SAE_ID\":\"SAE_B\",\"slave_SAE_ID\":\"SAE_A\","
	    "\"key_size\":256,\"stored_key_count\":10,\"max_key_count\":"
	    "100,\"max_key_per_request\":10,\"max_key_size\":1024,"
	    "\"min_key_size\":64,\"max_SAE_ID_count\":0}";
	static const char busy[] = "{\"message\":\"the key store is busy\"}";

	(void)arg;
	while (!g_stop) {
		struct pollfd pf = {g_lfd, POLLIN, 0};
		char line[1024];
		SSL *s;
		int fd;

		if (poll(&pf, 1, 100) <= 0 ||
		    (fd = accept(g_lfd, NULL, NULL)) < 0)
			continue;
		s = SSL_new(g_ctx);
		SSL_set_fd(s, fd);
		if (SSL_accept(s) == 1) {
			while (read_request(s, line, sizeof(line))) {
				if (strstr(line, "/dec_keys")) {
					g_dec++;
					ssl_reply(s, "503 Service Unavailable",
					          busy);
				} else {
					ssl_reply(s, "200 OK", status);
				}
			}
		}
		SSL_shutdown(s);
		SSL_free(s);
		close(fd);
	}
	return NULL;
}

static int kme_start(void)
{
	char crt[1200], key[1200], ca[1200];

	snprintf(crt, sizeof(crt), "%s/KME_B/kme.crt", W.net.dir);
	snprintf(key, sizeof(key), "%s/KME_B/kme.key", W.net.dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", W.net.dir);
	{
		struct qmt_tls_listener l;

		if (qmt_tls_listen(&l, crt, key, ca) != 0)
			return -1;
		g_ctx = l.ctx;
		g_lfd = l.fd;
		g_port = l.port;
	}
	return pthread_create(&g_thr, NULL, kme_run, NULL) ? -1 : 0;
}

static void kme_stop(void)
{
	g_stop = 1;
	pthread_join(g_thr, NULL);
	close(g_lfd);
	SSL_CTX_free(g_ctx);
}

static void test_backoff(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_account a, saved;
	struct qm_client_view *v = NULL;
	struct qm_web_server *s = NULL;
	struct qm_web_config wc;
	struct qm_error e;
	struct qmt_resp r;
	struct qmt_web wb;
	char path[128];
	int64_t *ids, id;
	size_t n = 0;
	int first;

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(kme_start(), 0);
	qm_error_clear(&e);
	assert_ok(qm_store_account_get(qm_client_store(W.c[W_BOB]),
	                               W.acct[W_BOB], &a, &e));
	saved = a;
	snprintf(a.kme_url, sizeof(a.kme_url), "https://127.0.0.1:%d", g_port);
	assert_ok(qm_store_account_update(qm_client_store(W.c[W_BOB]), &a, &e));
	send_from_alice(W_BOB, 2, "the KME fails for this one");

	sync_user(W_BOB, &st);
	first = g_dec;
	printf("  dec_keys requests: %d\n", first);
	assert_true(first >= 1);
	assert_int_equal(st.waiting, 1);
	/* the KME answers: nothing wrong with the account */
	assert_string_equal(st.kme_problem, "");
	ids = in_state(W_BOB, QM_VERIFY_WAITING, &n);
	assert_int_equal(n, 1);
	id = ids[0];
	free(ids);
	assert_ok(qm_client_read(W.c[W_BOB], id, &v, &e));
	printf("  %s (next try in %lld s)\n", v->status_text,
	       (long long)(v->retry_at - qm_now()));
	assert_true(v->retry_at > qm_now());
	assert_true(v->retryable);
	qm_client_view_free(&v);

	/* its back-off is not over: the next syncs do not ask again */
	sync_user(W_BOB, &st);
	sync_user(W_BOB, &st);
	assert_int_equal(g_dec, first);
	assert_int_equal(st.waiting, 1);
	kme_stop();

	/* the real KME again; the user's retry, through the web API, opens
	 * it at once */
	assert_ok(
	    qm_store_account_update(qm_client_store(W.c[W_BOB]), &saved, &e));
	memset(&wc, 0, sizeof(wc));
	assert_ok(qm_store_setting_set(qm_client_store(W.c[W_BOB]), 0,
	                               "background_sync_s", "0", &e));
	assert_ok(qm_web_server_start(&wc, W.c[W_BOB], &s, &e));
	qmt_web_init(&wb, qm_web_server_port(s));
	assert_int_equal(qmt_web_unlock(&wb, WORLD_PASS), 200);
	snprintf(path, sizeof(path), "/api/messages/%lld", (long long)id);
	assert_int_equal(qmt_web_req(&wb, "GET", path, NULL, &r), 0);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(r.json, "details"), "status")),
	                    "waiting");
	assert_true(json_is_true(
	    json_object_get(json_object_get(r.json, "details"), "retryable")));
	qmt_resp_free(&r);
	snprintf(path, sizeof(path), "/api/messages/%lld/retry", (long long)id);
	assert_int_equal(qmt_web_req(&wb, "POST", path, "{}", &r), 0);
	printf("  retry: %ld %s\n", r.status, r.body ? r.body : "");
	assert_int_equal(r.status, 200);
	assert_string_equal(
	    json_string_value(json_object_get(r.json, "status")), "verified");
	qmt_resp_free(&r);
	qm_web_server_stop(&s);
	expect_readable(W_BOB, "the KME fails for this one");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_messages),
	    cmocka_unit_test(test_kme_down),
	    cmocka_unit_test(test_cert_refused),
	    cmocka_unit_test(test_no_kme),
	    cmocka_unit_test(test_backoff),
	};

	if (qm_core_init(NULL) != QM_OK)
		return 1;
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
