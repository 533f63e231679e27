/* SPDX-License-Identifier: MIT */
/*
 * Crash safety of the store: a child process works the outbox the way the
 * sender does (add, reserve key IDs, store ciphertext, send to a "server"
 * that is an append-only file, mark sent) and indexes incoming messages,
 * while the parent kills it with SIGKILL at a random point, many times over.
 * After every kill the database must be sound and consistent: no message
 * the child was told is in the outbox is lost, every stored ciphertext
 * (a sealed blob since schema 12, complete whenever its entry names it)
 * matches the key IDs recorded for it, and recovery leaves no payload
 * behind, no key ID serves two messages, and
 * the server never received one message under two different keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "harness.h"
#include "store/store.h"

#define PASS       "crash test passphrase"
#define ITERATIONS 40
#define MAXIDS     20000

static char home[512];
static char server_log[600];
static int64_t g_acct;

/* --------------------------------------------------------- the child */

static void say(int fd, const char *line)
{
	size_t n = strlen(line);

	if (fd >= 0 && write(fd, line, n) != (ssize_t)n)
		_exit(90); /* the parent is gone */
}

static void fail_child(int code, const struct qm_error *e)
{
	fprintf(stderr, "child: step %d: %s\n", code, qm_error_msg(e));
	_exit(code);
}

/* "Sends" entry id: the server log gets its ciphertext, then it is SENT. */
static void send_one(struct qm_store *s, int64_t id, int fd)
{
	struct qm_error e;
	struct qm_buf line, ct;
	int lf;

	if (qm_store_outbox_begin_send(s, id, &e) != QM_OK)
		fail_child(10, &e);
	say(fd, "P\n");
	qm_buf_init(&ct, 1 << 16);
	if (qm_store_outbox_ciphertext(s, id, &ct, &e) != QM_OK)
		fail_child(11, &e);
	qm_buf_init(&line, 1 << 16);
	if (qm_buf_appendf(&line, &e, "%lld %.*s\n", (long long)id, (int)ct.len,
	                   (const char *)ct.data) != QM_OK)
		fail_child(12, &e);
	qm_buf_free(&ct);
	lf = open(server_log, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (lf < 0 || write(lf, line.data, line.len) != (ssize_t)line.len)
		_exit(13);
	close(lf);
	qm_buf_free(&line);
	say(fd, "P\n");
	if (qm_store_outbox_sent(s, id, "250 ok", &e) != QM_OK)
		fail_child(14, &e);
	say(fd, "P\n");
}

/* Reserves fresh key IDs for a PENDING entry, encrypts (the "ciphertext"
 * names its keys, so the checker can match them), and queues it. */
static void encrypt_one(struct qm_store *s, int64_t id, unsigned *counter,
                        int fd)
{
	char k[3][64], ct[256];
	const char *keys[3] = {k[0], k[1], k[2]};
	struct qm_error e;

	for (int i = 0; i < 3; i++)
		snprintf(k[i], sizeof(k[i]), "key-%d-%u", (int)getpid(),
		         (*counter)++);
	if (qm_store_outbox_reserve(s, id, keys, 3, &e) != QM_OK)
		fail_child(20, &e);
	say(fd, "P\n");
	snprintf(ct, sizeof(ct), "CT|%s,%s,%s", k[0], k[1], k[2]);
	if (qm_store_outbox_set_ciphertext(s, id, ct, strlen(ct), &e) != QM_OK)
		fail_child(21, &e);
	say(fd, "P\n");
}

/* Works the outbox until nothing is due: what the sender does at start. */
static void drain(struct qm_store *s, unsigned *counter, int fd)
{
	struct qm_error e;
	int64_t *ids = NULL;
	size_t n = 0;

	if (qm_store_outbox_list(s, 0, QM_OUTBOX_PENDING, 0, &ids, &n, &e) !=
	    QM_OK)
		fail_child(30, &e);
	for (size_t i = 0; i < n; i++)
		encrypt_one(s, ids[i], counter, fd);
	free(ids);
	if (qm_store_outbox_list(s, 0, -1, INT64_MAX, &ids, &n, &e) != QM_OK)
		fail_child(31, &e);
	for (size_t i = 0; i < n; i++)
		send_one(s, ids[i], fd);
	free(ids);
}

static void child(int fd)
{
	struct qm_store *s = NULL;
	struct qm_store_opts o = {0};
	struct qm_error e;
	unsigned counter = 0;
	char line[64], mid[64], key[64];

	o.must_exist = 1;
	if (qm_store_open(home, &o, &s, &e) != QM_OK)
		fail_child(40, &e);
	if (qm_store_vault_unlock(s, PASS, strlen(PASS), &e) != QM_OK)
		fail_child(41, &e);
	if (qm_store_outbox_recover(s, NULL, &e) != QM_OK)
		fail_child(42, &e);
	say(fd, "P\n");
	drain(s, &counter, fd);
	for (int round = 0; round < 1000; round++) {
		struct qm_store_msg m;
		const char *keys[1] = {key};
		int64_t id;

		snprintf(mid, sizeof(mid), "<%d.%d@crash>", (int)getpid(),
		         round);
		if (qm_store_outbox_add(s, g_acct, mid, "bob@example.org", 1,
		                        "plaintext", 9, &id, &e) != QM_OK)
			fail_child(50, &e);
		snprintf(line, sizeof(line), "A %lld\n", (long long)id);
		say(fd, line);
		encrypt_one(s, id, &counter, fd);
		send_one(s, id, fd);

		memset(&m, 0, sizeof(m));
		snprintf(key, sizeof(key), "in-%d-%d", (int)getpid(), round);
		m.account_id = g_acct;
		m.folder = "INBOX";
		m.uidvalidity = 1;
		m.uid = (int64_t)getpid() * 10000 + round;
		m.message_id = mid;
		m.date = qm_now();
		m.level = 1;
		if (qm_store_msg_add(s, &m, "subject", keys, 1, "mime", 4, NULL,
		                     &id, &e) != QM_OK)
			fail_child(51, &e);
		say(fd, "P\n");
	}
	qm_store_close(&s);
	_exit(0);
}

/* ------------------------------------------------------- the checker */

static int64_t added[MAXIDS];
static size_t nadded;

/* Runs a query that must return no rows; fails with what it found. */
static void expect_none(sqlite3 *db, const char *what, const char *sql)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		fail_msg("%s: outbox entry %lld", what,
		         (long long)sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
}

static void check_consistent(int recovered)
{
	struct qm_store_opts so = {0};
	struct qm_store *s = NULL;
	struct qm_error e;
	struct qm_buf ct;
	char path[600];
	sqlite3 *db;
	sqlite3_stmt *st;
	FILE *f;
	char line[512];

	so.must_exist = 1;
	qm_buf_init(&ct, 1 << 16);
	snprintf(path, sizeof(path), "%s/qmail.db", home);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
	                 SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);

	/* Never lost: every entry the child saw committed is there. */
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT 1 FROM outbox WHERE "
	                                    "id = ?",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	for (size_t i = 0; i < nadded; i++) {
		sqlite3_bind_int64(st, 1, added[i]);
		if (sqlite3_step(st) != SQLITE_ROW)
			fail_msg("outbox entry %lld was lost",
			         (long long)added[i]);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);

	expect_none(db, "bad state",
	            "SELECT id FROM outbox WHERE state NOT BETWEEN 0 AND 6");
	expect_none(db, "queued without ciphertext",
	            "SELECT id FROM outbox WHERE state IN (2,3,4,6) AND "
	            "ciphertext IS NULL AND ct_blob IS NULL");
	expect_none(db, "ciphertext before queued",
	            "SELECT id FROM outbox WHERE state IN (0,1) AND "
	            "ct_blob IS NOT NULL");
	expect_none(db, "plaintext missing",
	            "SELECT id FROM outbox WHERE plaintext IS NULL AND "
	            "pt_blob IS NULL");
	/* a payload the row names is complete (crash while writing one);
	 * a row that names none is not asked (NULL NOT IN an empty set is
	 * true in SQL: killed while the first ciphertext was written, there
	 * is no complete one yet) */
	expect_none(db, "payload unfinished or missing",
	            "SELECT id FROM outbox WHERE (pt_blob IS NOT NULL AND "
	            "pt_blob NOT IN (SELECT id FROM blob WHERE done = 1 AND "
	            "kind = 'outbox')) OR (ct_blob IS NOT NULL AND ct_blob "
	            "NOT IN (SELECT id FROM blob WHERE done = 1 AND kind = "
	            "'outbox.ct'))");
	if (recovered)
		expect_none(db, "payload left behind by its entry",
		            "SELECT owner FROM blob WHERE kind IN ('outbox', "
		            "'outbox.ct') AND id NOT IN (SELECT pt_blob FROM "
		            "outbox WHERE pt_blob IS NOT NULL UNION ALL SELECT "
		            "ct_blob FROM outbox WHERE ct_blob IS NOT NULL)");
	expect_none(
	    db, "pending with live keys",
	    "SELECT outbox_id FROM keylog WHERE burnt = 0 AND outbox_id IN "
	    "(SELECT id FROM outbox WHERE state = 0)");
	expect_none(
	    db, "ciphertext without keys",
	    "SELECT id FROM outbox WHERE ct_blob IS NOT NULL AND id NOT "
	    "IN (SELECT outbox_id FROM keylog WHERE burnt = 0 AND "
	    "outbox_id IS NOT NULL)");
	expect_none(
	    db, "incoming message without its key",
	    "SELECT id FROM msg WHERE id NOT IN (SELECT msg_id FROM keylog "
	    "WHERE msg_id IS NOT NULL)");
	expect_none(db, "subject not sealed",
	            "SELECT id FROM msg WHERE subject IS NULL");

	/* The ciphertext (sealed: read through the store) names exactly
	 * the key IDs recorded for it. */
	assert_int_equal(qm_store_open(home, &so, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "SELECT o.id, 'CT|' || (SELECT "
	                       "group_concat(key_id, ',') FROM (SELECT key_id "
	                       "FROM keylog WHERE outbox_id = o.id AND burnt = "
	                       "0 ORDER BY seq)) FROM outbox o WHERE ct_blob "
	                       "IS NOT NULL",
	                       -1, &st, NULL),
	    SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const char *want = (const char *)sqlite3_column_text(st, 1);

		qm_buf_reset(&ct);
		assert_int_equal(qm_store_outbox_ciphertext(s, id, &ct, &e),
		                 QM_OK);
		if (!want || strcmp((const char *)ct.data, want) != 0)
			fail_msg("outbox entry %lld: ciphertext %s does not "
			         "match its key IDs (%s)",
			         (long long)id, (const char *)ct.data,
			         want ? want : "none");
	}
	sqlite3_finalize(st);

	/* The server never got one message under two different keys, and
	 * what it got is what the outbox holds. */
	f = fopen(server_log, "r");
	while (f && fgets(line, sizeof(line), f)) {
		long long id;
		char sent[400];

		assert_int_equal(sscanf(line, "%lld %399s", &id, sent), 2);
		qm_buf_reset(&ct);
		assert_int_equal(qm_store_outbox_ciphertext(s, id, &ct, &e),
		                 QM_OK);
		if (strcmp((const char *)ct.data, sent) != 0)
			fail_msg(
			    "message %lld reached the server as %s but the "
			    "outbox holds %s",
			    id, sent, (const char *)ct.data);
	}
	if (f)
		fclose(f);
	qm_buf_free(&ct);
	qm_store_close(&s);
	sqlite3_close(db);
}

static void test_kill_writer(void **state)
{
	struct qm_store *s = NULL;
	struct qm_store_account a;
	struct qm_error e;
	int kills = 0;

	(void)state;
	setenv("QM_STORE_KDF", "fast", 1);
	assert_int_equal(qmt_tmpdir("store-crash", home, sizeof(home)), 0);
	snprintf(server_log, sizeof(server_log), "%s/server.log", home);
	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 1;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	g_acct = a.id;
	qm_store_close(&s);

	for (int it = 0; it < ITERATIONS; it++) {
		int pfd[2], status;
		unsigned want = 1 + qm_random_uniform(40), got = 0;
		char line[64];
		FILE *in;
		pid_t pid;

		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			child(pfd[1]);
		}
		close(pfd[1]);
		in = fdopen(pfd[0], "r");
		assert_non_null(in);
		/* Let it run a random number of steps, then kill it wherever
		 * it is: inside a commit, between two steps, anywhere. */
		while (got < want && fgets(line, sizeof(line), in)) {
			if (line[0] == 'A' && nadded < MAXIDS)
				added[nadded++] = strtoll(line + 2, NULL, 10);
			got++;
		}
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		fclose(in);
		if (WIFEXITED(status))
			fail_msg("the writer stopped by itself with code %d",
			         WEXITSTATUS(status));
		kills++;
		check_consistent(0);
	}
	assert_int_equal(kills, ITERATIONS);
	assert_true(nadded > 0);

	/* At the end everything goes out, each under the keys it had. */
	{
		struct qm_store_opts o = {0};
		unsigned counter = 1u << 30;
		struct qm_store_outbox ob;

		o.must_exist = 1;
		assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
		assert_int_equal(
		    qm_store_vault_unlock(s, PASS, strlen(PASS), &e), QM_OK);
		assert_int_equal(qm_store_outbox_recover(s, NULL, &e), QM_OK);
		drain(s, &counter, -1);
		for (size_t i = 0; i < nadded; i++) {
			assert_int_equal(
			    qm_store_outbox_get(s, added[i], &ob, &e), QM_OK);
			assert_int_equal(ob.state, QM_OUTBOX_SENT);
			qm_store_outbox_item_free(&ob);
		}
		qm_store_close(&s);
		check_consistent(1);
	}
	qmt_rmtree(home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_kill_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
