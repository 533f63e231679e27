/* SPDX-License-Identifier: MIT */
/*
 * bench_store: fills a store with 100,000 messages (subject and a 1 KiB
 * body sealed in the vault) and measures the insert rate, listing the
 * newest 50 of a folder, paging deep (keyset and offset), the in-memory
 * search index, and unlocking the vault with the real Argon2id cost. Each
 * figure has beside it the same work on a plain SQLite table (same columns
 * and list index, nothing sealed), the floor the store is measured against.
 * The last line of output is one JSON object with every figure. Any
 * operation that fails (or returns other rows than asked) stops the
 * benchmark with a message before that line, so a JSON line counts its
 * operations with "errors":0.
 * QM_BENCH_STORE_N sets the number of messages (default 100000);
 * QM_BENCH_STORE_KEEP=1 keeps the databases for a look with sqlite3.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "store/store.h"

#define PASS    "bench passphrase"
#define REPS    200
#define FOLDERS 5

static const char *const folders[FOLDERS] = {"INBOX", "Sent", "Archive",
                                             "Lists", "Trash"};

static void die(const char *what, const struct qm_error *e)
{
	fprintf(stderr, "bench_store: %s: %s\n", what,
	        e ? qm_error_msg(e) : "");
	exit(1);
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* CPU time of this process: the unlock figure without the wait for a
 * busy machine's cores. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of REPS samples, in ms. */
static double median(uint64_t *v)
{
	qsort(v, REPS, sizeof(*v), cmp_u64);
	return ms(v[REPS / 2]);
}

static const char *folder_of(long i)
{
	/* INBOX gets 60 %, the rest 10 % each. */
	long r = i % 10;

	return r < 6 ? folders[0] : folders[r - 5];
}

/* ------------------------------------------------------- plain table */

static void plain_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "bench_store: %s: %s\n", sql, msg ? msg : "");
		exit(1);
	}
}

static sqlite3 *plain_open(const char *dir)
{
	char path[1024];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/plain.db", dir);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		die("opening the plain database", NULL);
	plain_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL");
	return db;
}

/* Runs a list query and reads every column of every row (as the store
 * does), returning the rows seen. */
static int plain_rows(sqlite3_stmt *st)
{
	int n = 0;

	while (sqlite3_step(st) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(st); c++)
			(void)sqlite3_column_text(st, c);
		n++;
	}
	sqlite3_reset(st);
	return n;
}

int main(void)
{
	const char *nenv = getenv("QM_BENCH_STORE_N");
	char dir[] = "/tmp/qm-bench-store-XXXXXX";
	struct qm_store *s = NULL;
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_buf plan;
	struct qm_error e;
	unsigned char body[1024];
	char text[1024];
	uint64_t t0, t_ins, t_plain_ins, samples[REPS];
	double list_ms, plain_list_ms, win_ms, old_list_ms, fill_ms, deep_ms,
	    plain_deep_ms, off_ms, plain_off_ms, unlock_ms, unlock_cpu_ms,
	    plain_open_ms, build_ms, search_ms;
	uint64_t cpu0;
	char phrase[64];
	int64_t deep_date = 0, deep_id = 0, inbox = 0;
	long n = 100000, ops;
	sqlite3 *db;
	sqlite3_stmt *ins, *lst, *kst, *ost;
	int plan_ok;

	if (nenv && *nenv) {
		long long v;

		if (qm_parse_ll(nenv, 1000, 10000000, &v, &e) != QM_OK)
			die("QM_BENCH_STORE_N", &e);
		n = (long)v;
	}
	unsetenv("QM_STORE_KDF"); /* unlock is measured at the real cost */
	if (!mkdtemp(dir))
		die("creating a temporary folder", NULL);
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (unsigned char)('a' + i % 26);
	/* the plain text given with it: words, a quote, a signature */
	for (size_t i = 0; i < sizeof(text) - 1; i++)
		text[i] = i % 7 == 6 ? ' ' : (char)('a' + i % 26);
	memcpy(text + 600, "\n> quoted\n-- \nsig\n", 19);
	text[sizeof(text) - 1] = '\0';

	/* ---- fill the store */
	if (qm_store_open(dir, NULL, &s, &e) != QM_OK)
		die("opening the store", &e);
	{
		/* Fill with the real cost too: the vault is created once. */
		struct qm_store_account a;

		if (qm_store_vault_create(s, PASS, strlen(PASS), &e) != QM_OK)
			die("creating the vault", &e);
		memset(&a, 0, sizeof(a));
		qm_strlcpy(a.address, "bench@example.org", sizeof(a.address));
		a.default_level = 2;
		if (qm_store_account_add(s, &a, &e) != QM_OK)
			die("adding the account", &e);
	}
	t0 = qm_mono_ns();
	for (long i = 0; i < n; i++) {
		struct qm_store_msg m;
		char subj[64], mid[64], from[64];
		int64_t id;

		if (i % 1000 == 0 && qm_store_tx_begin(s, &e) != QM_OK)
			die("begin", &e);
		memset(&m, 0, sizeof(m));
		snprintf(subj, sizeof(subj), "Subject of message %ld", i);
		snprintf(mid, sizeof(mid), "<%ld@bench.example.org>", i);
		snprintf(from, sizeof(from), "sender%ld@example.org", i % 500);
		m.account_id = 1;
		m.folder = folder_of(i);
		m.uidvalidity = 1;
		m.uid = i + 1;
		m.message_id = mid;
		m.from_addr = from;
		/* a sender's name, sealed in the list item (issue 16) */
		m.from_name = "Bench Sender Name";
		m.to_addrs = "bench@example.org";
		m.date = 1700000000 + i * 60;
		m.level = 1 + (int)(i % 4);
		m.verify = QM_VERIFY_OK;
		m.size = (int64_t)sizeof(body);
		if (qm_store_msg_add(s, &m, subj, NULL, 0, body, sizeof(body),
		                     text, &id, &e) != QM_OK)
			die("adding a message", &e);
		if ((i % 1000 == 999 || i == n - 1) &&
		    qm_store_tx_commit(s, &e) != QM_OK)
			die("commit", &e);
	}
	t_ins = qm_mono_ns() - t0;

	/* ---- the same rows in a plain table */
	db = plain_open(dir);
	plain_exec(
	    db, "CREATE TABLE msg (id INTEGER PRIMARY KEY, account_id, "
	        "folder, uidvalidity, uid, message_id, from_addr, to_addrs,"
	        " date, level, verify, flags, size, subject, body);"
	        "CREATE INDEX msg_list ON msg(account_id, folder, date, id)");
	if (sqlite3_prepare_v2(
	        db,
	        "INSERT INTO msg VALUES (NULL, 1, ?, 1, ?, ?, "
	        "?, 'bench@example.org', ?, ?, 1, 0, 1024, ?, ?)",
	        -1, &ins, NULL) != SQLITE_OK)
		die("preparing", NULL);
	t0 = qm_mono_ns();
	for (long i = 0; i < n; i++) {
		char subj[64], mid[64], from[64];

		if (i % 1000 == 0)
			plain_exec(db, "BEGIN");
		snprintf(subj, sizeof(subj), "Subject of message %ld", i);
		snprintf(mid, sizeof(mid), "<%ld@bench.example.org>", i);
		snprintf(from, sizeof(from), "sender%ld@example.org", i % 500);
		sqlite3_bind_text(ins, 1, folder_of(i), -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, i + 1);
		sqlite3_bind_text(ins, 3, mid, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, from, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 5, 1700000000 + i * 60);
		sqlite3_bind_int(ins, 6, 1 + (int)(i % 4));
		sqlite3_bind_text(ins, 7, subj, -1, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 8, body, sizeof(body), SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die("plain insert", NULL);
		sqlite3_reset(ins);
		if (i % 1000 == 999 || i == n - 1)
			plain_exec(db, "COMMIT");
	}
	t_plain_ins = qm_mono_ns() - t0;
	sqlite3_finalize(ins);

	/* ---- newest 50 of INBOX */
	memset(&q, 0, sizeof(q));
	q.account_id = 1;
	q.folder = "INBOX";
	q.limit = 50;
	if (qm_store_msg_count(s, &q, &inbox, &e) != QM_OK)
		die("count", &e);
	for (int r = 0; r < REPS; r++) {
		t0 = qm_mono_ns();
		if (qm_store_msg_list(s, &q, &l, &e) != QM_OK || l->n != 50 ||
		    !l->items[0].subject)
			die("listing", &e);
		samples[r] = qm_mono_ns() - t0;
		qm_store_msglist_free(&l);
	}
	list_ms = median(samples);
	/* the web GUI's sorted or threaded list: a window of the newest 1000 */
	q.limit = 1000;
	for (int r = 0; r < REPS / 10; r++) {
		t0 = qm_mono_ns();
		if (qm_store_msg_list(s, &q, &l, &e) != QM_OK || l->n != 1000)
			die("listing a window", &e);
		samples[r] = qm_mono_ns() - t0;
		qm_store_msglist_free(&l);
	}
	qsort(samples, REPS / 10, sizeof(*samples), cmp_u64);
	win_ms = ms(samples[REPS / 20]);
	q.limit = 50;
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, account_id, folder, uidvalidity, "
	                       "uid, message_id, from_addr, to_addrs, date, "
	                       "level, verify, flags, size, subject FROM msg "
	                       "WHERE account_id = 1 AND folder = 'INBOX' "
	                       "ORDER BY date DESC, id DESC LIMIT 50",
	                       -1, &lst, NULL) != SQLITE_OK)
		die("preparing", NULL);
	for (int r = 0; r < REPS; r++) {
		t0 = qm_mono_ns();
		if (plain_rows(lst) != 50)
			die("plain listing", NULL);
		samples[r] = qm_mono_ns() - t0;
	}
	plain_list_ms = median(samples);
	sqlite3_finalize(lst);

	/* ---- deep page: the 50 messages after position inbox - 100 */
	q.offset = inbox - 101;
	q.limit = 1;
	if (qm_store_msg_list(s, &q, &l, &e) != QM_OK || l->n != 1)
		die("finding the deep cursor", &e);
	deep_date = l->items[0].date;
	deep_id = l->items[0].id;
	qm_store_msglist_free(&l);
	q.offset = 0;
	q.limit = 50;
	q.before_date = deep_date;
	q.before_id = deep_id;
	for (int r = 0; r < REPS; r++) {
		t0 = qm_mono_ns();
		if (qm_store_msg_list(s, &q, &l, &e) != QM_OK || l->n != 50)
			die("deep keyset page", &e);
		samples[r] = qm_mono_ns() - t0;
		qm_store_msglist_free(&l);
	}
	deep_ms = median(samples);
	qm_buf_init(&plan, 1 << 16);
	if (qm_store_msg_list_plan(s, &q, &plan, &e) != QM_OK)
		die("query plan", &e);
	plan_ok = strstr((char *)plan.data, "USING INDEX msg_list") &&
	          !strstr((char *)plan.data, "TEMP B-TREE");
	qm_buf_free(&plan);
	q.before_date = q.before_id = 0;
	q.offset = inbox - 100;
	for (int r = 0; r < REPS; r++) {
		t0 = qm_mono_ns();
		if (qm_store_msg_list(s, &q, &l, &e) != QM_OK || l->n != 50)
			die("deep offset page", &e);
		samples[r] = qm_mono_ns() - t0;
		qm_store_msglist_free(&l);
	}
	off_ms = median(samples);
	if (sqlite3_prepare_v2(
	        db,
	        "SELECT id, account_id, folder, uidvalidity, "
	        "uid, message_id, from_addr, to_addrs, date, "
	        "level, verify, flags, size, subject FROM msg "
	        "WHERE account_id = 1 AND folder = 'INBOX' AND "
	        "(date, id) < (?, ?) ORDER BY date DESC, id DESC "
	        "LIMIT 50",
	        -1, &kst, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
	                       "SELECT id, account_id, folder, uidvalidity, "
	                       "uid, message_id, from_addr, to_addrs, date, "
	                       "level, verify, flags, size, subject FROM msg "
	                       "WHERE account_id = 1 AND folder = 'INBOX' "
	                       "ORDER BY date DESC, id DESC LIMIT 50 OFFSET ?",
	                       -1, &ost, NULL) != SQLITE_OK)
		die("preparing", NULL);
	/* The plain table's ids differ from the store's: take its own cursor
	 * at the same depth. */
	sqlite3_bind_int64(ost, 1, inbox - 101);
	if (sqlite3_step(ost) != SQLITE_ROW)
		die("plain cursor", NULL);
	deep_date = sqlite3_column_int64(ost, 8);
	deep_id = sqlite3_column_int64(ost, 0);
	sqlite3_reset(ost);
	sqlite3_bind_int64(kst, 1, deep_date);
	sqlite3_bind_int64(kst, 2, deep_id);
	for (int r = 0; r < REPS; r++) {
		t0 = qm_mono_ns();
		if (plain_rows(kst) != 50)
			die("plain keyset page", NULL);
		samples[r] = qm_mono_ns() - t0;
	}
	plain_deep_ms = median(samples);
	sqlite3_bind_int64(ost, 1, inbox - 100);
	for (int r = 0; r < REPS; r++) {
		t0 = qm_mono_ns();
		if (plain_rows(ost) != 50)
			die("plain offset page", NULL);
		samples[r] = qm_mono_ns() - t0;
	}
	plain_off_ms = median(samples);
	sqlite3_finalize(kst);
	sqlite3_finalize(ost);

	/* ---- search: building the in-memory index, then one query */
	memset(&q, 0, sizeof(q));
	snprintf(phrase, sizeof(phrase), "\"message %ld\"", n / 2 + 7);
	q.text = phrase;
	t0 = qm_mono_ns();
	if (qm_store_msg_list(s, &q, &l, &e) != QM_OK || l->n < 1)
		die("first search", &e);
	build_ms = ms(qm_mono_ns() - t0);
	qm_store_msglist_free(&l);
	t0 = qm_mono_ns();
	if (qm_store_msg_list(s, &q, &l, &e) != QM_OK || l->n < 1)
		die("search", &e);
	search_ms = ms(qm_mono_ns() - t0);
	qm_store_msglist_free(&l);

	/* ---- a home made before schema 9: no row has its snippet; a list
	 * makes its page's in memory, the sync's step keeps 1000 at a time */
	{
		sqlite3 *raw;
		char path[1024];
		int64_t left = 0;

		snprintf(path, sizeof(path), "%s/qmail.db", dir);
		if (sqlite3_open(path, &raw) != SQLITE_OK)
			die("opening the store's database", NULL);
		plain_exec(raw, "UPDATE msg SET snippet = NULL");
		sqlite3_close(raw);
		memset(&q, 0, sizeof(q));
		q.account_id = 1;
		q.folder = "INBOX";
		q.limit = 50;
		for (int r = 0; r < REPS; r++) {
			t0 = qm_mono_ns();
			if (qm_store_msg_list(s, &q, &l, &e) != QM_OK ||
			    l->n != 50 || !*l->items[49].snippet)
				die("listing rows without snippets", &e);
			samples[r] = qm_mono_ns() - t0;
			qm_store_msglist_free(&l);
		}
		old_list_ms = median(samples);
		t0 = qm_mono_ns();
		if (qm_store_msg_snippets_fill(s, 1000, &left, &e) != QM_OK ||
		    left != n - 1000)
			die("making 1000 snippets", &e);
		fill_ms = ms(qm_mono_ns() - t0);
	}

	/* ---- unlock with the real cost; baseline: open a plain database */
	qm_store_vault_lock(s);
	cpu0 = cpu_ns();
	t0 = qm_mono_ns();
	if (qm_store_vault_unlock(s, PASS, strlen(PASS), &e) != QM_OK)
		die("unlock", &e);
	unlock_ms = ms(qm_mono_ns() - t0);
	unlock_cpu_ms = ms(cpu_ns() - cpu0);
	qm_store_close(&s);
	sqlite3_close(db);
	t0 = qm_mono_ns();
	db = plain_open(dir);
	plain_exec(db, "SELECT count(*) FROM msg WHERE id = 1");
	plain_open_ms = ms(qm_mono_ns() - t0);
	sqlite3_close(db);

	printf("store, %ld messages (%lld in INBOX), 1 KiB body each, sealed\n",
	       n, (long long)inbox);
	printf("  %-34s %12s %12s\n", "", "store", "plain table");
	printf("  %-34s %12.0f %12.0f\n", "insert (messages/s)",
	       (double)n / ((double)t_ins / 1e9),
	       (double)n / ((double)t_plain_ins / 1e9));
	printf("  %-34s %12.3f %12.3f\n", "list newest 50 (ms, median)",
	       list_ms, plain_list_ms);
	printf("  %-34s %12.3f %12s\n", "list newest 1000 (ms, median)", win_ms,
	       "-");
	printf("  %-34s %12.3f %12s\n", "list 50, no snippets yet (ms)",
	       old_list_ms, "-");
	printf("  %-34s %12.1f %12s\n", "keep 1000 snippets (ms)", fill_ms,
	       "-");
	printf("  %-34s %12.3f %12.3f\n", "deep page, keyset (ms, median)",
	       deep_ms, plain_deep_ms);
	printf("  %-34s %12.3f %12.3f\n", "deep page, offset (ms, median)",
	       off_ms, plain_off_ms);
	printf("  %-34s %12.1f %12s\n", "search: build index (ms)", build_ms,
	       "-");
	printf("  %-34s %12.3f %12s\n", "search: query (ms)", search_ms, "-");
	printf("  %-34s %12.1f %12.3f\n", "unlock / open (ms)", unlock_ms,
	       plain_open_ms);
	printf("  %-34s %12.1f %12s\n", "unlock, CPU time (ms)", unlock_cpu_ms,
	       "-");
	ops = 2 * n + 7 * REPS + REPS / 10 + 2 + 2 + 1;
	printf("  operations: %ld measured, 0 failed (a failure stops the "
	       "benchmark)\n",
	       ops);
	printf("  list plan index-backed: %s; goal list < 5 ms: %s\n",
	       plan_ok ? "yes" : "NO", list_ms < 5.0 ? "met" : "MISSED");
	printf("{\"bench\":\"store\",\"messages\":%ld,\"insert_per_s\":%.0f,"
	       "\"baseline_insert_per_s\":%.0f,\"list50_ms\":%.3f,"
	       "\"baseline_list50_ms\":%.3f,\"list1000_ms\":%.3f,"
	       "\"list50_nosnippet_ms\":%.3f,\"snippets_fill1000_ms\":%.1f,"
	       "\"deep_keyset_ms\":%.3f,"
	       "\"baseline_deep_keyset_ms\":%.3f,\"deep_offset_ms\":%.3f,"
	       "\"baseline_deep_offset_ms\":%.3f,\"search_build_ms\":%.1f,"
	       "\"search_ms\":%.3f,\"unlock_ms\":%.1f,\"unlock_cpu_ms\":%.1f,"
	       "\"baseline_open_ms\":%.3f,"
	       "\"plan_index\":%s,\"operations\":%ld,\"errors\":0,"
	       "\"error_rate\":0,\"error_kinds\":[],"
	       "\"goal_list50_ms\":5,\"goal_met\":%s}\n",
	       n, (double)n / ((double)t_ins / 1e9),
	       (double)n / ((double)t_plain_ins / 1e9), list_ms, plain_list_ms,
	       win_ms, old_list_ms, fill_ms, deep_ms, plain_deep_ms, off_ms,
	       plain_off_ms, build_ms, search_ms, unlock_ms, unlock_cpu_ms,
	       plain_open_ms, plan_ok ? "true" : "false", ops,
	       list_ms < 5.0 ? "true" : "false");
	if (getenv("QM_BENCH_STORE_KEEP")) {
		fprintf(stderr, "bench_store: kept %s\n", dir);
		return 0;
	}
	{
		char cmd[128];

		/* The folder holds only our files. */
		snprintf(cmd, sizeof(cmd), "%s/qmail.db", dir);
		remove(cmd);
		snprintf(cmd, sizeof(cmd), "%s/qmail.db-wal", dir);
		remove(cmd);
		snprintf(cmd, sizeof(cmd), "%s/qmail.db-shm", dir);
		remove(cmd);
		snprintf(cmd, sizeof(cmd), "%s/plain.db", dir);
		remove(cmd);
		snprintf(cmd, sizeof(cmd), "%s/plain.db-wal", dir);
		remove(cmd);
		snprintf(cmd, sizeof(cmd), "%s/plain.db-shm", dir);
		remove(cmd);
		remove(dir);
	}
	return 0;
}
