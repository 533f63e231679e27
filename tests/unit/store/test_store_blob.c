/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for sealed blobs (schema 11, blob.c): sizes around the chunk
 * boundary read back whole in pieces of any size; nothing of the
 * plaintext is in the database file; a chunk altered, removed, swapped,
 * duplicated or moved to another blob, a size changed, another owner or
 * kind named, are refused with QM_ERR_AUTH or QM_ERR_NOTFOUND, never read
 * as data; an unfinished blob is invisible and collected; a locked vault
 * refuses; removing a blob removes its chunks.
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

#include "core/core.h"
#include "harness.h"
#include "store/store.h"

#define PASS  "correct horse battery staple"
#define CHUNK QM_STORE_BLOB_CHUNK

struct fx {
	char home[512];
	char db[600];
	struct qm_store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct qm_error e;

	setenv("QM_STORE_KDF", "fast", 1);
	assert_non_null(f);
	assert_int_equal(qmt_tmpdir("store-blob", f->home, sizeof(f->home)), 0);
	assert_int_equal(qm_store_open(f->home, NULL, &f->s, &e), QM_OK);
	assert_int_equal(qm_store_vault_create(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	snprintf(f->db, sizeof(f->db), "%s", qm_store_path(f->s));
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

/* Writes data in pieces of step bytes; returns the blob's ID. */
static int64_t put(struct qm_store *s, const char *kind, int64_t owner,
                   const unsigned char *data, size_t n, size_t step)
{
	struct qm_store_blob_w *w;
	struct qm_error e;
	uint64_t size = 0;
	int64_t id = 0;

	assert_int_equal(qm_store_blob_begin(s, kind, owner, &w, &e), QM_OK);
	for (size_t off = 0; off < n; off += step) {
		size_t k = n - off < step ? n - off : step;

		assert_int_equal(qm_store_blob_write(w, data + off, k, &e),
		                 QM_OK);
	}
	assert_int_equal(qm_store_blob_end(&w, &id, &size, &e), QM_OK);
	assert_null(w);
	assert_int_equal(size, n);
	return id;
}

/* Reads blob id whole in pieces of step bytes into a new buffer; the code
 * of the first failure, else QM_OK with *out and *len. */
static enum qm_err get(struct qm_store *s, const char *kind, int64_t owner,
                       int64_t id, size_t step, unsigned char **out,
                       size_t *len)
{
	struct qm_store_blob_r *r;
	struct qm_error e;
	unsigned char *buf = NULL;
	size_t n = 0, got;
	enum qm_err rc;

	*out = NULL;
	*len = 0;
	rc = qm_store_blob_open(s, kind, owner, id, &r, &e);
	if (rc)
		return rc;
	buf = malloc(qm_store_blob_size(r) + step);
	assert_non_null(buf);
	do {
		rc = qm_store_blob_read(r, buf + n, step, &got, &e);
		if (rc) {
			/* nothing from a failed read */
			assert_int_equal(got, 0);
			break;
		}
		n += got;
		assert_true(n <= qm_store_blob_size(r));
	} while (got);
	qm_store_blob_close(&r);
	if (rc) {
		free(buf);
		return rc;
	}
	*out = buf;
	*len = n;
	return QM_OK;
}

static void test_roundtrip_sizes(void **state)
{
	struct fx *f = *state;
	const size_t sizes[] = {0,         1,         CHUNK - 1, CHUNK,
	                        CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17};
	const size_t steps[] = {1000, 7, CHUNK, 5 * CHUNK};

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned char *data = pattern(sizes[i], (unsigned)i), *back;
		size_t len;
		size_t st = steps[i % 4];
		int64_t id = put(f->s, "test", 7, data, sizes[i],
		                 st > 100 ? st : 100);

		assert_int_equal(get(f->s, "test", 7, id, st, &back, &len),
		                 QM_OK);
		assert_int_equal(len, sizes[i]);
		if (sizes[i])
			assert_memory_equal(back, data, sizes[i]);
		free(back);
		free(data);
	}
}

static void test_read_all_and_delete(void **state)
{
	struct fx *f = *state;
	unsigned char *data = pattern(2 * CHUNK + 5, 3);
	struct qm_buf b;
	struct qm_error e;
	int64_t id = put(f->s, "msg", 42, data, 2 * CHUNK + 5, 4096);
	sqlite3 *db;
	sqlite3_stmt *st;

	qm_buf_init_secure(&b, 1 << 20);
	assert_int_equal(qm_store_blob_read_all(f->s, "msg", 42, id, &b, &e),
	                 QM_OK);
	assert_int_equal(b.len, 2 * CHUNK + 5);
	assert_memory_equal(b.data, data, b.len);
	qm_buf_free(&b);
	assert_int_equal(qm_store_blob_delete(f->s, id, &e), QM_OK);
	qm_buf_init_secure(&b, 1 << 20);
	assert_int_equal(qm_store_blob_read_all(f->s, "msg", 42, id, &b, &e),
	                 QM_ERR_NOTFOUND);
	qm_buf_free(&b);
	/* its chunks went with it */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT count(*) FROM blob_chunk "
	                                    "WHERE blob_id = ?",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_int64(st, 1, id);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(data);
}

/* The plaintext is nowhere in the file (a recognisable run of text). */
static void test_sealed_at_rest(void **state)
{
	struct fx *f = *state;
	size_t n = 3 * CHUNK;
	unsigned char *data = malloc(n);
	static const char word[] = "SECRET-ATTACHMENT-BYTES-";
	FILE *fp;
	unsigned char *file;
	long sz;
	int found = 0;

	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)word[i % (sizeof(word) - 1)];
	(void)put(f->s, "msg", 1, data, n, 10000);
	qm_store_close(&f->s);
	fp = fopen(f->db, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	sz = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	file = malloc((size_t)sz);
	assert_non_null(file);
	assert_int_equal(fread(file, 1, (size_t)sz, fp), (size_t)sz);
	fclose(fp);
	for (long i = 0; i + 24 <= sz && !found; i++)
		found = memcmp(file + i, word, 24) == 0;
	/* the WAL too */
	{
		char wal[700];

		snprintf(wal, sizeof(wal), "%s-wal", f->db);
		fp = fopen(wal, "rb");
		if (fp) {
			unsigned char buf[65536 + 24];
			size_t got, keep = 0;

			while ((got = fread(buf + keep, 1, 65536, fp)) > 0) {
				for (size_t i = 0; i + 24 <= keep + got && !found;
				     i++)
					found = memcmp(buf + i, word, 24) == 0;
				memmove(buf, buf + keep + got - 23, 23);
				keep = 23;
			}
			fclose(fp);
		}
	}
	assert_false(found);
	free(file);
	free(data);
	{
		struct qm_error e;

		assert_int_equal(qm_store_open(f->home, NULL, &f->s, &e), QM_OK);
	}
}

/* Runs one SQL statement on the database behind the store's back. */
static void tamper(struct fx *f, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
	sqlite3_close(db);
}

/* sql with @I replaced by id and @O by other. */
static void subst(char *out, size_t n, const char *sql, int64_t id,
                  int64_t other)
{
	size_t o = 0;

	for (const char *p = sql; *p; p++) {
		int k;

		if (p[0] == '@' && (p[1] == 'I' || p[1] == 'O')) {
			k = snprintf(out + o, n - o, "%lld",
			             (long long)(p[1] == 'I' ? id : other));
			p++;
		} else {
			k = snprintf(out + o, n - o, "%c", *p);
		}
		assert_true(k > 0 && (size_t)k < n - o);
		o += (size_t)k;
	}
}

static void test_tampering(void **state)
{
	struct fx *f = *state;
	size_t n = 3 * CHUNK + 100;
	unsigned char *data = pattern(n, 9), *back;
	size_t len;
	char sql[512];
	struct {
		const char *what;
		const char *sql; /* @I: the blob, @O: the other */
	} cases[] = {
	    {"a flipped byte",
	     "UPDATE blob_chunk SET data = substr(data, 1, 30) || "
	     "x'00' || substr(data, 32) WHERE blob_id = @I AND seq = 1"},
	    {"the last chunk removed",
	     "DELETE FROM blob_chunk WHERE blob_id = @I AND seq = 3"},
	    {"a middle chunk removed and the rest renumbered",
	     "DELETE FROM blob_chunk WHERE blob_id = @I AND seq = 1; "
	     "UPDATE blob_chunk SET seq = seq - 1 WHERE blob_id = @I "
	     "AND seq > 1"},
	    {"two chunks swapped",
	     "UPDATE blob_chunk SET seq = 99 WHERE blob_id = @I AND "
	     "seq = 0; UPDATE blob_chunk SET seq = 0 WHERE blob_id = @I "
	     "AND seq = 1; UPDATE blob_chunk SET seq = 1 WHERE blob_id = "
	     "@I AND seq = 99"},
	    {"a chunk from another blob",
	     "UPDATE blob_chunk SET data = (SELECT data FROM blob_chunk WHERE "
	     "blob_id = @O AND seq = 1) WHERE blob_id = @I AND seq = "
	     "1"},
	    {"the size made shorter (cut at a chunk boundary)",
	     "UPDATE blob SET size = 3 * 65536 WHERE id = @I; DELETE FROM "
	     "blob_chunk WHERE blob_id = @I AND seq = 3"},
	    {"a chunk appended",
	     "INSERT INTO blob_chunk (blob_id, seq, data) SELECT blob_id, 4, "
	     "data FROM blob_chunk WHERE blob_id = @I AND seq = 3"},
	    {"the key of another blob",
	     "UPDATE blob SET wkey = (SELECT wkey FROM blob WHERE id = "
	     "@O) WHERE id = @I"},
	    {"marked as another owner's",
	     "UPDATE blob SET owner = 8 WHERE id = @I"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t id = put(f->s, "msg", 7, data, n, 30000);
		int64_t other = put(f->s, "msg", 7, data, n, 30000);
		enum qm_err rc;

		subst(sql, sizeof(sql), cases[i].sql, id, other);
		tamper(f, sql);
		for (size_t step = 1000; step <= 4 * CHUNK; step *= 8) {
			rc = get(f->s, "msg", 7, id, step, &back, &len);
			if (rc == QM_OK)
				fail_msg("%s: read back without an error",
				         cases[i].what);
			assert_true(rc == QM_ERR_AUTH || rc == QM_ERR_NOTFOUND);
		}
		if (i == sizeof(cases) / sizeof(cases[0]) - 1) {
			/* read as the owner it now names: still refused */
			rc = get(f->s, "msg", 8, id, CHUNK, &back, &len);
			assert_int_equal(rc, QM_ERR_AUTH);
		}
	}
	/* another kind or owner named by the reader */
	{
		int64_t id = put(f->s, "msg", 7, data, n, 30000);

		assert_int_equal(get(f->s, "outbox", 7, id, CHUNK, &back, &len),
		                 QM_ERR_NOTFOUND);
		assert_int_equal(get(f->s, "msg", 6, id, CHUNK, &back, &len),
		                 QM_ERR_NOTFOUND);
	}
	free(data);
}

static void test_unfinished_and_locked(void **state)
{
	struct fx *f = *state;
	struct qm_store_blob_w *w;
	struct qm_error e;
	unsigned char *data = pattern(CHUNK * 2, 4), *back;
	size_t len, removed = 9;
	int64_t id;

	assert_int_equal(qm_store_blob_begin(f->s, "msg", 1, &w, &e), QM_OK);
	id = qm_store_blob_w_id(w);
	assert_int_equal(qm_store_blob_write(w, data, CHUNK * 2, &e), QM_OK);
	/* not readable before its end */
	assert_int_equal(get(f->s, "msg", 1, id, CHUNK, &back, &len),
	                 QM_ERR_NOTFOUND);
	/* collected only when older than the limit */
	assert_int_equal(qm_store_blob_gc(f->s, qm_now() - 3600, &removed, &e),
	                 QM_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(qm_store_blob_gc(f->s, qm_now() + 10, &removed, &e),
	                 QM_OK);
	assert_int_equal(removed, 1);
	/* the writer's end now fails: its blob is gone */
	assert_int_not_equal(qm_store_blob_end(&w, NULL, NULL, &e), QM_OK);
	assert_null(w);
	/* aborted: nothing left */
	assert_int_equal(qm_store_blob_begin(f->s, "msg", 1, &w, &e), QM_OK);
	id = qm_store_blob_w_id(w);
	assert_int_equal(qm_store_blob_write(w, data, 10, &e), QM_OK);
	qm_store_blob_abort(&w);
	assert_null(w);
	assert_int_equal(get(f->s, "msg", 1, id, CHUNK, &back, &len),
	                 QM_ERR_NOTFOUND);
	/* locked: no blob written or read */
	id = put(f->s, "msg", 1, data, 100, 100);
	qm_store_vault_lock(f->s);
	assert_int_equal(qm_store_blob_begin(f->s, "msg", 1, &w, &e),
	                 QM_ERR_LOCKED);
	assert_int_equal(get(f->s, "msg", 1, id, CHUNK, &back, &len),
	                 QM_ERR_LOCKED);
	assert_int_equal(qm_store_vault_unlock(f->s, PASS, strlen(PASS), &e),
	                 QM_OK);
	assert_int_equal(get(f->s, "msg", 1, id, CHUNK, &back, &len), QM_OK);
	assert_int_equal(len, 100);
	assert_memory_equal(back, data, 100);
	free(back);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip_sizes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_read_all_and_delete, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sealed_at_rest, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unfinished_and_locked, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
