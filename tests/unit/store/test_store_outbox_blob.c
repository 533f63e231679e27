/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the outbox's payloads in sealed blobs (schema 12): a
 * message added whole or in pieces reads back equal in pieces of any size,
 * with nothing of it in the row; the ciphertext is written in pieces and
 * stored once (never replaced, refused outside ENCRYPTING); transitions
 * leave the blobs alone; a writer that dies half-way leaves nothing that
 * counts and recovery removes it; discarding an entry, or removing its
 * account, removes its blobs; a failed add leaves nothing; entries of
 * schema 11 (payloads in columns) still read, send and discard after the
 * upgrade, and no outbox ID is used twice across it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/core.h"
#include "harness.h"
#include "store/store.h"

#define PASS  "correct horse battery staple"
#define CHUNK QM_STORE_BLOB_CHUNK

struct fx {
	char home[512];
	char db[600];
	struct qm_store *s;
	int64_t acct;
};

static void make_home(struct fx *f, int schema_max)
{
	struct qm_store_opts o = {0};
	struct qm_store_account a;
	struct qm_error e;

	setenv("QM_STORE_KDF", "fast", 1);
	assert_int_equal(qmt_tmpdir("store-obx", f->home, sizeof(f->home)), 0);
	o.schema_max = schema_max;
	assert_int_equal(qm_store_open(f->home, &o, &f->s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(f->s, &a, &e), QM_OK);
	f->acct = a.id;
	snprintf(f->db, sizeof(f->db), "%s", qm_store_path(f->s));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	make_home(f, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	qm_store_close(&f->s);
	qmt_rmtree(f->home);
	free(f);
	return 0;
}

static unsigned char *pattern(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);
	uint32_t x = 2463534242u ^ seed;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

/* The integer a query on the database file answers. */
static int64_t q_int(const struct fx *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(
	    sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void q_exec(const struct fx *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Reads entry id's payload through a reader in pieces of step bytes and
 * checks it is want; then once more after a rewind. */
static void expect_payload(struct qm_store *s, int64_t id, int ct,
                           const unsigned char *want, size_t n, size_t step)
{
	struct qm_store_outbox_r *r = NULL;
	unsigned char *buf = malloc(n + step + 1);
	struct qm_error e;

	assert_non_null(buf);
	assert_int_equal(qm_store_outbox_open(s, id, ct, &r, &e), QM_OK);
	assert_int_equal(qm_store_outbox_r_size(r), n);
	for (int pass = 0; pass < 2; pass++) {
		size_t have = 0, got = 0;

		do {
			assert_int_equal(qm_store_outbox_r_read(r, buf + have,
			                                        step, &got, &e),
			                 QM_OK);
			have += got;
			assert_true(have <= n);
		} while (got);
		assert_int_equal(have, n);
		assert_memory_equal(buf, want, n);
		assert_int_equal(qm_store_outbox_r_rewind(r, &e), QM_OK);
	}
	qm_store_outbox_r_close(&r);
	assert_null(r);
	free(buf);
}

static int64_t blobs_of(const struct fx *f, const char *kind)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
	         "SELECT count(*) FROM blob WHERE kind = '%s'", kind);
	return q_int(f, sql);
}

/* Adds a message of n bytes written in pieces of step. */
static int64_t add_pieces(struct fx *f, const char *mid, const unsigned char *p,
                          size_t n, size_t step)
{
	struct qm_store_outbox_w *w = NULL;
	struct qm_error e;
	int64_t id = 0;

	assert_int_equal(qm_store_outbox_add_begin(
	                     f->s, f->acct, mid, "bob@example.org", 2, &w, &e),
	                 QM_OK);
	for (size_t off = 0; off < n; off += step)
		assert_int_equal(
		    qm_store_outbox_w_write(
		        w, p + off, n - off < step ? n - off : step, &e),
		    QM_OK);
	assert_int_equal(qm_store_outbox_add_end(&w, "rec", 3, &id, &e), QM_OK);
	assert_null(w);
	return id;
}

/* Stores ct for PENDING entry id, written in pieces of step. */
static void encrypt_pieces(struct fx *f, int64_t id, const char *key,
                           const unsigned char *ct, size_t n, size_t step)
{
	struct qm_store_outbox_w *w = NULL;
	const char *keys[1] = {key};
	struct qm_error e;

	assert_int_equal(qm_store_outbox_reserve(f->s, id, keys, 1, &e), QM_OK);
	assert_int_equal(qm_store_outbox_ct_begin(f->s, id, &w, &e), QM_OK);
	for (size_t off = 0; off < n; off += step)
		assert_int_equal(
		    qm_store_outbox_w_write(
		        w, ct + off, n - off < step ? n - off : step, &e),
		    QM_OK);
	assert_int_equal(qm_store_outbox_ct_end(&w, &e), QM_OK);
	assert_null(w);
}

/*
 * A large message goes in and out a chunk at a time, equal; its row holds
 * blob IDs only; the ciphertext is stored once; transitions leave the
 * blobs as they are.
 */
static void test_payloads_in_blobs(void **state)
{
	struct fx *f = *state;
	size_t n = 3 * CHUNK + 1234, m = 4 * CHUNK + 17;
	unsigned char *pt = pattern(n, 1), *ct = pattern(m, 2);
	struct qm_store_outbox_w *w = NULL;
	struct qm_store_outbox o;
	struct qm_error e;
	struct qm_buf b;
	int64_t id, id2, ptb, ctb;

	assert_true(qm_store_schema_version(f->s) >= 12);
	id = add_pieces(f, "<big@x>", pt, n, 1000);
	expect_payload(f->s, id, 0, pt, n, 4096);
	expect_payload(f->s, id, 0, pt, n, 3 * CHUNK);
	/* whole, as before */
	qm_buf_init_secure(&b, QM_STORE_MAXBLOB);
	assert_int_equal(qm_store_outbox_plaintext(f->s, id, &b, &e), QM_OK);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, pt, n);
	qm_buf_free(&b);
	qm_buf_init_secure(&b, 100);
	assert_int_equal(qm_store_outbox_bound(f->s, id, &b, &e), QM_OK);
	assert_memory_equal(b.data, "rec", 3);
	qm_buf_free(&b);
	/* the row keeps IDs, not the message */
	assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE "
	                          "plaintext IS NULL AND ciphertext IS NULL "
	                          "AND pt_blob IS NOT NULL"),
	                 1);
	assert_int_equal(
	    q_int(f, "SELECT max(length(bound)) FROM outbox") < 1024, 1);
	/* no ciphertext yet */
	assert_int_equal(qm_store_outbox_open(
	                     f->s, id, 1, &(struct qm_store_outbox_r *){0}, &e),
	                 QM_ERR_NOTFOUND);
	/* a ciphertext only while ENCRYPTING */
	assert_int_equal(qm_store_outbox_ct_begin(f->s, id, &w, &e),
	                 QM_ERR_STATE);
	assert_null(w);
	encrypt_pieces(f, id, "k-1", ct, m, 777);
	expect_payload(f->s, id, 1, ct, m, 5000);
	assert_int_equal(qm_store_outbox_get(f->s, id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_QUEUED);
	assert_true(o.has_ciphertext);
	assert_int_equal(o.ciphertext_len, m);
	qm_store_outbox_item_free(&o);
	ptb = q_int(f, "SELECT pt_blob FROM outbox");
	ctb = q_int(f, "SELECT ct_blob FROM outbox");
	/* stored once: never replaced */
	assert_int_equal(qm_store_outbox_ct_begin(f->s, id, &w, &e),
	                 QM_ERR_STATE);
	assert_int_equal(qm_store_outbox_set_ciphertext(f->s, id, "X", 1, &e),
	                 QM_ERR_STATE);
	/* transitions touch the row only */
	assert_int_equal(qm_store_outbox_begin_send(f->s, id, &e), QM_OK);
	assert_int_equal(qm_store_outbox_fail(f->s, id, "4xx", qm_now(), &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_begin_send(f->s, id, &e), QM_OK);
	assert_int_equal(qm_store_outbox_sent(f->s, id, "250", &e), QM_OK);
	assert_int_equal(q_int(f, "SELECT pt_blob FROM outbox"), ptb);
	assert_int_equal(q_int(f, "SELECT ct_blob FROM outbox"), ctb);
	expect_payload(f->s, id, 1, ct, m, CHUNK);
	/* the ciphertext is found by its Message-ID */
	{
		int64_t *ids = NULL;
		size_t k = 0;

		assert_int_equal(qm_store_outbox_find_mid(
		                     f->s, f->acct, "<big@x>", &ids, &k, &e),
		                 QM_OK);
		assert_int_equal(k, 1);
		assert_int_equal(ids[0], id);
		free(ids);
	}
	/* an empty message and one exactly a chunk long */
	id2 = add_pieces(f, "<empty@x>", pt, 0, 1);
	expect_payload(f->s, id2, 0, pt, 0, 10);
	id2 = add_pieces(f, "<chunk@x>", pt, CHUNK, CHUNK);
	expect_payload(f->s, id2, 0, pt, CHUNK, 100);
	/* an empty ciphertext is refused, and nothing is kept of it */
	{
		const char *keys[1] = {"k-2"};

		assert_int_equal(
		    qm_store_outbox_reserve(f->s, id2, keys, 1, &e), QM_OK);
		assert_int_equal(qm_store_outbox_ct_begin(f->s, id2, &w, &e),
		                 QM_OK);
		assert_int_not_equal(qm_store_outbox_ct_end(&w, &e), QM_OK);
		assert_null(w);
		assert_int_equal(blobs_of(f, "outbox.ct"), 1);
	}
	free(pt);
	free(ct);
}

/* The blobs of each entry are sealed to it: a row naming another entry's
 * blob, or a chunk altered, does not read. */
static void test_blob_bound_to_entry(void **state)
{
	struct fx *f = *state;
	unsigned char *pt = pattern(CHUNK + 5, 3);
	struct qm_buf b;
	struct qm_error e;
	int64_t a, c;
	char sql[200];

	a = add_pieces(f, "<a@x>", pt, CHUNK + 5, 4096);
	c = add_pieces(f, "<c@x>", pt, CHUNK + 5, 4096);
	snprintf(sql, sizeof(sql),
	         "UPDATE outbox SET pt_blob = (SELECT pt_blob FROM outbox "
	         "WHERE id = %lld) WHERE id = %lld",
	         (long long)a, (long long)c);
	q_exec(f, sql);
	qm_buf_init_secure(&b, QM_STORE_MAXBLOB);
	assert_int_not_equal(qm_store_outbox_plaintext(f->s, c, &b, &e), QM_OK);
	assert_int_equal(b.len, 0);
	snprintf(sql, sizeof(sql),
	         "UPDATE blob_chunk SET data = zeroblob(length(data)) WHERE "
	         "seq = 1 AND blob_id = (SELECT pt_blob FROM outbox WHERE id "
	         "= %lld)",
	         (long long)a);
	q_exec(f, sql);
	assert_int_equal(qm_store_outbox_plaintext(f->s, a, &b, &e),
	                 QM_ERR_AUTH);
	assert_non_null(strstr(qm_error_msg(&e), "outbox message"));
	qm_buf_free(&b);
	free(pt);
}

/*
 * The process writing a ciphertext dies half-way: the entry stays
 * ENCRYPTING with no ciphertext; recovery burns its keys, puts it back to
 * PENDING and removes the half-written blob; it is then encrypted anew.
 */
static void test_crash_while_encrypting(void **state)
{
	struct fx *f = *state;
	size_t n = 2 * CHUNK + 9;
	unsigned char *pt = pattern(n, 4), *ct = pattern(3 * CHUNK, 5);
	struct qm_store_outbox o;
	struct qm_error e;
	int64_t id, *ids = NULL;
	size_t k = 0;
	pid_t pid;
	int status;

	id = add_pieces(f, "<crash@x>", pt, n, CHUNK);
	qm_store_close(&f->s);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct qm_store *s = NULL;
		struct qm_store_outbox_w *w = NULL;
		const char *keys[1] = {"k-crash"};

		if (qm_store_open(f->home, NULL, &s, &e) ||
		    qm_store_vault_unlock(s, PASS, strlen(PASS), &e) ||
		    qm_store_outbox_reserve(s, id, keys, 1, &e) ||
		    qm_store_outbox_ct_begin(s, id, &w, &e) ||
		    qm_store_outbox_w_write(w, ct, 3 * CHUNK, &e))
			_exit(1);
		_exit(0); /* dies without ending or aborting */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(qm_store_open(f->home, NULL, &f->s, &e), QM_OK);
	assert_int_equal(qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	/* chunks were written; nothing of it counts */
	assert_true(q_int(f, "SELECT count(*) FROM blob_chunk WHERE blob_id "
	                     "IN (SELECT id FROM blob WHERE kind = "
	                     "'outbox.ct')") >= 2);
	assert_int_equal(qm_store_outbox_get(f->s, id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_ENCRYPTING);
	assert_false(o.has_ciphertext);
	qm_store_outbox_item_free(&o);
	assert_int_equal(qm_store_outbox_recover(f->s, &k, &e), QM_OK);
	assert_int_equal(k, 1);
	assert_int_equal(blobs_of(f, "outbox.ct"), 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM blob_chunk WHERE "
	                          "blob_id NOT IN (SELECT id FROM blob)"),
	                 0);
	assert_int_equal(q_int(f, "SELECT burnt FROM keylog WHERE key_id = "
	                          "'k-crash'"),
	                 1);
	assert_int_equal(
	    qm_store_outbox_list(f->s, 0, QM_OUTBOX_PENDING, 0, &ids, &k, &e),
	    QM_OK);
	assert_int_equal(k, 1);
	assert_int_equal(ids[0], id);
	free(ids);
	/* the plaintext is still there, and goes under new keys */
	expect_payload(f->s, id, 0, pt, n, 999);
	encrypt_pieces(f, id, "k-new", ct, 3 * CHUNK, CHUNK);
	expect_payload(f->s, id, 1, ct, 3 * CHUNK, 4096);
	/* recovery leaves a complete entry's blobs alone */
	assert_int_equal(qm_store_outbox_recover(f->s, &k, &e), QM_OK);
	assert_int_equal(blobs_of(f, "outbox"), 1);
	assert_int_equal(blobs_of(f, "outbox.ct"), 1);
	free(pt);
	free(ct);
}

/* A failed or abandoned add leaves no entry and no blob; discarding an
 * entry or removing its account removes its blobs. */
static void test_blobs_go_with_entry(void **state)
{
	struct fx *f = *state;
	unsigned char *pt = pattern(CHUNK * 2, 6);
	struct qm_store_outbox_w *w = NULL;
	struct qm_error e;
	int64_t id, id2;

	assert_int_equal(qm_store_outbox_add_begin(f->s, f->acct, "<ab@x>",
	                                           "bob@example.org", 2, &w,
	                                           &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_w_write(w, pt, CHUNK * 2, &e), QM_OK);
	qm_store_outbox_w_abort(&w);
	assert_null(w);
	assert_int_equal(q_int(f, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM blob"), 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM blob_chunk"), 0);
	/* bad values: refused before anything is written */
	assert_int_equal(qm_store_outbox_add_begin(
	                     f->s, f->acct, "", "bob@example.org", 2, &w, &e),
	                 QM_ERR_INVAL);
	assert_null(w);

	id = add_pieces(f, "<d@x>", pt, CHUNK * 2, CHUNK);
	id2 = add_pieces(f, "<e@x>", pt, 10, 10);
	assert_int_equal(blobs_of(f, "outbox"), 2);
	assert_int_equal(qm_store_outbox_discard(f->s, id, &e), QM_OK);
	assert_int_equal(blobs_of(f, "outbox"), 1);
	assert_int_equal(q_int(f, "SELECT count(*) FROM blob_chunk WHERE "
	                          "blob_id NOT IN (SELECT id FROM blob)"),
	                 0);
	encrypt_pieces(f, id2, "k-e", pt, 100, 100);
	assert_int_equal(blobs_of(f, "outbox.ct"), 1);
	assert_int_equal(qm_store_account_delete(f->s, f->acct, &e), QM_OK);
	assert_int_equal(q_int(f, "SELECT count(*) FROM outbox"), 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM blob"), 0);
	assert_int_equal(q_int(f, "SELECT count(*) FROM blob_chunk"), 0);
	/* a locked vault: nothing in or out */
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_outbox_add_begin(f->s, f->acct, "<l@x>",
	                                           "bob@example.org", 2, &w,
	                                           &e),
	                 QM_ERR_LOCKED);
	free(pt);
}

/*
 * A home of schema 11: its entries keep their payloads in columns. After
 * the upgrade they read (whole and in pieces), go out and are discarded
 * as before; new ones use blobs; no ID is used twice across the rebuild
 * of the table.
 */
static void test_old_rows(void **state)
{
	struct fx g, *f = &g;
	struct qm_store_outbox o;
	struct qm_error e;
	struct qm_buf b;
	const char *keys[1] = {"k-old"};
	int64_t sent_id, pend_id, gone_id, new_id;

	(void)state;
	memset(&g, 0, sizeof(g));
	make_home(f, 11);
	assert_int_equal(qm_store_schema_version(f->s), 11);
	assert_int_equal(qm_store_outbox_add_bound(
	                     f->s, f->acct, "<o1@x>", "bob@example.org", 2,
	                     "OLD MIME", 8, "R", 1, &sent_id, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_reserve(f->s, sent_id, keys, 1, &e),
	                 QM_OK);
	assert_int_equal(
	    qm_store_outbox_set_ciphertext(f->s, sent_id, "OLD CT", 6, &e),
	    QM_OK);
	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<o2@x>",
	                                     "bob@example.org", 2, "PENDING", 7,
	                                     &pend_id, &e),
	                 QM_OK);
	assert_int_equal(qm_store_outbox_add(f->s, f->acct, "<o3@x>",
	                                     "bob@example.org", 2, "GONE", 4,
	                                     &gone_id, &e),
	                 QM_OK);
	/* the last ID, removed before the upgrade, is not handed out again */
	assert_int_equal(qm_store_outbox_discard(f->s, gone_id, &e), QM_OK);
	/* schema 11 cannot take a message in pieces */
	{
		struct qm_store_outbox_w *w = NULL;

		assert_int_equal(
		    qm_store_outbox_add_begin(f->s, f->acct, "<p@x>",
		                              "bob@example.org", 2, &w, &e),
		    QM_ERR_UNSUPPORTED);
	}
	assert_int_equal(q_int(f, "SELECT count(*) FROM outbox WHERE "
	                          "plaintext IS NOT NULL"),
	                 2);
	qm_store_close(&f->s);

	assert_int_equal(qm_store_open(f->home, NULL, &f->s, &e), QM_OK);
	assert_true(qm_store_schema_version(f->s) >= 12);
	assert_int_equal(qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	expect_payload(f->s, sent_id, 0, (const unsigned char *)"OLD MIME", 8,
	               3);
	expect_payload(f->s, sent_id, 1, (const unsigned char *)"OLD CT", 6, 4);
	qm_buf_init_secure(&b, 100);
	assert_int_equal(qm_store_outbox_plaintext(f->s, pend_id, &b, &e),
	                 QM_OK);
	assert_memory_equal(b.data, "PENDING", 7);
	qm_buf_reset(&b);
	assert_int_equal(qm_store_outbox_bound(f->s, sent_id, &b, &e), QM_OK);
	assert_memory_equal(b.data, "R", 1);
	qm_buf_free(&b);
	assert_int_equal(qm_store_outbox_get(f->s, sent_id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_QUEUED);
	assert_true(o.has_ciphertext);
	assert_int_equal(o.ciphertext_len, 6);
	assert_int_equal(o.n_keys, 1);
	qm_store_outbox_item_free(&o);
	/* it goes out as it is */
	assert_int_equal(qm_store_outbox_begin_send(f->s, sent_id, &e), QM_OK);
	assert_int_equal(qm_store_outbox_sent(f->s, sent_id, "250", &e), QM_OK);
	/* the old pending one is encrypted into a blob */
	encrypt_pieces(f, pend_id, "k-p", (const unsigned char *)"NEW CT", 6,
	               2);
	expect_payload(f->s, pend_id, 1, (const unsigned char *)"NEW CT", 6,
	               100);
	expect_payload(f->s, pend_id, 0, (const unsigned char *)"PENDING", 7,
	               100);
	new_id = add_pieces(f, "<n@x>", (const unsigned char *)"NEW", 3, 3);
	assert_true(new_id > gone_id);
	assert_int_equal(qm_store_outbox_discard(f->s, new_id, &e), QM_OK);
	qm_store_close(&f->s);
	qmt_rmtree(f->home);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_payloads_in_blobs, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_blob_bound_to_entry, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_crash_while_encrypting, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_blobs_go_with_entry, setup,
	                                    teardown),
	    cmocka_unit_test(test_old_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
