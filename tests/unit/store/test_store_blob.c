/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for sealed blobs (schema 11, blob.c): sizes around the chunk
 * boundary read back whole in pieces of any size; nothing of the
 * plaintext is in the database file; a chunk altered, removed, swapped,
 * duplicated or moved to another blob, a size changed, another owner or
 * kind named, are refused with QM_ERR_AUTH or QM_ERR_NOTFOUND, never read
 * as data; an unfinished blob is invisible and collected; a locked vault
 * refuses; removing a blob removes its chunks. Seeking gives the bytes
 * from any offset. A message's plaintext kept as a blob (schema 13) reads
 * back through qm_store_msg_body and qm_store_msg_body_open, cannot be
 * moved to another message, and goes with its message.
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

/* Reads from any offset after a seek: the same bytes as from the start. */
/* While a blob is written or read (a large message's chunks, through
 * once), the page cache is held at 2 MiB instead of 16; nested handles
 * keep it there until the last closes; a handle's own smaller limit
 * (qm_store_cache_limit) stays its own. */
static void test_cache_while_blob(void **state)
{
	struct fx *f = *state;
	unsigned char *data = pattern(2 * CHUNK, 4);
	struct qm_store_blob_w *w = NULL;
	struct qm_store_blob_r *r = NULL;
	struct qm_error e;
	int64_t id = put(f->s, "test", 3, data, 2 * CHUNK, 5000), id2;
	uint64_t len;

	assert_int_equal(qm_store_cache_kib_now(f->s), 16384);
	assert_int_equal(qm_store_blob_open(f->s, "test", 3, id, &r, &e),
	                 QM_OK);
	assert_int_equal(qm_store_cache_kib_now(f->s), 2048);
	assert_int_equal(qm_store_blob_begin(f->s, "test", 3, &w, &e), QM_OK);
	assert_int_equal(qm_store_blob_write(w, data, CHUNK + 1, &e), QM_OK);
	qm_store_blob_close(&r);
	assert_int_equal(qm_store_cache_kib_now(f->s), 2048);
	assert_int_equal(qm_store_blob_end(&w, &id2, &len, &e), QM_OK);
	assert_int_equal(qm_store_cache_kib_now(f->s), 16384);
	/* an aborted writer gives it back too */
	assert_int_equal(qm_store_blob_begin(f->s, "test", 3, &w, &e), QM_OK);
	assert_int_equal(qm_store_cache_kib_now(f->s), 2048);
	qm_store_blob_abort(&w);
	assert_int_equal(qm_store_cache_kib_now(f->s), 16384);
	/* a handle limited below 2 MiB keeps its limit */
	assert_int_equal(qm_store_cache_limit(f->s, 1024, &e), QM_OK);
	assert_int_equal(qm_store_blob_open(f->s, "test", 3, id, &r, &e),
	                 QM_OK);
	assert_int_equal(qm_store_cache_kib_now(f->s), 1024);
	qm_store_blob_close(&r);
	assert_int_equal(qm_store_cache_kib_now(f->s), 1024);
	assert_int_equal(qm_store_cache_limit(f->s, 16384, &e), QM_OK);
	free(data);
}

static void test_seek(void **state)
{
	struct fx *f = *state;
	const size_t n = 3 * CHUNK + 17;
	const uint64_t offs[] = {0,         1,         CHUNK - 1, CHUNK,
	                         CHUNK + 5, 3 * CHUNK, n - 1,     n,
	                         2 * CHUNK, 7};
	unsigned char *data = pattern(n, 9), *buf = malloc(n);
	struct qm_store_blob_r *r;
	struct qm_error e;
	int64_t id = put(f->s, "test", 3, data, n, 5000);
	int64_t id0 = put(f->s, "test", 3, data, 2 * CHUNK, 5000);
	size_t got, have;

	assert_int_equal(qm_store_blob_open(f->s, "test", 3, id, &r, &e),
	                 QM_OK);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		assert_int_equal(qm_store_blob_seek(r, offs[i], &e), QM_OK);
		have = 0;
		do {
			assert_int_equal(
			    qm_store_blob_read(r, buf + have, 9999, &got, &e),
			    QM_OK);
			have += got;
		} while (got);
		assert_int_equal(have, n - offs[i]);
		if (have)
			assert_memory_equal(buf, data + offs[i], have);
	}
	assert_int_equal(qm_store_blob_seek(r, n + 1, &e), QM_ERR_INVAL);
	qm_store_blob_close(&r);
	/* the end of a blob of whole chunks */
	assert_int_equal(qm_store_blob_open(f->s, "test", 3, id0, &r, &e),
	                 QM_OK);
	assert_int_equal(qm_store_blob_seek(r, 2 * CHUNK, &e), QM_OK);
	assert_int_equal(qm_store_blob_read(r, buf, 10, &got, &e), QM_OK);
	assert_int_equal(got, 0);
	assert_int_equal(qm_store_blob_seek(r, CHUNK + 1, &e), QM_OK);
	assert_int_equal(qm_store_blob_read(r, buf, n, &got, &e), QM_OK);
	assert_int_equal(got, CHUNK - 1);
	assert_memory_equal(buf, data + CHUNK + 1, got);
	qm_store_blob_close(&r);
	free(buf);
	free(data);
}

/* Runs one statement on the database file, outside the store. */
static void sql(const char *path, const char *q)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int64_t add_msg(struct qm_store *s, int64_t acct, int64_t uid,
                       int64_t blob, const char *text, struct qm_error *e)
{
	struct qm_store_msg m;
	int64_t id = 0;
	enum qm_err rc;

	memset(&m, 0, sizeof(m));
	m.account_id = acct;
	m.folder = "INBOX";
	m.uid = uid;
	m.uidvalidity = 1;
	m.message_id = "<m@example.org>";
	m.from_addr = "bob@example.org";
	m.to_addrs = "alice@example.org";
	m.date = 1;
	m.level = 2;
	m.verify = QM_VERIFY_OK;
	m.body_blob = blob;
	rc = qm_store_msg_add(s, &m, "a large one", NULL, 0, NULL, 0, text, &id,
	                      e);
	return rc ? -(int64_t)rc : id;
}

/* A message's plaintext as a blob: read whole or in pieces, searched by its
 * text, refused when the record is moved to another message or names
 * another account's blob, and removed with its message. */
static void test_msg_body_blob(void **state)
{
	struct fx *f = *state;
	const size_t n = 2 * CHUNK + 100;
	unsigned char *data = pattern(n, 11), *back;
	struct qm_store_account a;
	struct qm_store_blob_r *r;
	struct qm_buf b;
	struct qm_error e;
	int64_t acct, bid, bid2, other, mid, mid2;
	size_t len;
	char q[256];

	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "alice@example.org", sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(f->s, &a, &e), QM_OK);
	acct = a.id;
	bid = put(f->s, QM_STORE_BLOB_MSG, acct, data, n, 7000);
	/* another account's blob, an unfinished one, none: not taken */
	other = put(f->s, QM_STORE_BLOB_MSG, acct + 100, data, n, 7000);
	assert_int_equal(add_msg(f->s, acct, 1, other, "x", &e),
	                 -(int64_t)QM_ERR_NOTFOUND);
	assert_int_equal(add_msg(f->s, acct, 1, 99999, "x", &e),
	                 -(int64_t)QM_ERR_NOTFOUND);
	mid = add_msg(f->s, acct, 1, bid, "findable words", &e);
	assert_true(mid > 0);
	qm_buf_init_secure(&b, 1 << 20);
	assert_int_equal(qm_store_msg_body(f->s, mid, &b, &e), QM_OK);
	assert_int_equal(b.len, n);
	assert_memory_equal(b.data, data, n);
	qm_buf_free(&b);
	assert_int_equal(qm_store_msg_body_open(f->s, mid, &r, &e), QM_OK);
	assert_non_null(r);
	assert_int_equal(qm_store_blob_size(r), n);
	qm_store_blob_close(&r);
	/* a second message with its own blob; its record moved onto the
	 * first: refused */
	bid2 = put(f->s, QM_STORE_BLOB_MSG, acct, data + 1, n - 1, 7000);
	mid2 = add_msg(f->s, acct, 2, bid2, "", &e);
	assert_true(mid2 > 0);
	snprintf(q, sizeof(q),
	         "UPDATE msg_body SET mime = (SELECT mime FROM msg_body WHERE "
	         "msg_id = %lld), mime_blob = %lld WHERE msg_id = %lld",
	         (long long)mid2, (long long)bid2, (long long)mid);
	sql(f->db, q);
	qm_buf_init_secure(&b, 1 << 20);
	assert_int_equal(qm_store_msg_body(f->s, mid, &b, &e), QM_ERR_AUTH);
	qm_buf_free(&b);
	/* only the column changed: refused too */
	snprintf(q, sizeof(q),
	         "UPDATE msg_body SET mime_blob = %lld WHERE msg_id = %lld",
	         (long long)bid, (long long)mid2);
	sql(f->db, q);
	assert_int_equal(qm_store_msg_body_open(f->s, mid2, &r, &e),
	                 QM_ERR_AUTH);
	assert_null(r);
	/* deleting a message deletes its blob */
	assert_int_equal(qm_store_msg_delete(f->s, mid2, &e), QM_OK);
	assert_int_equal(
	    get(f->s, QM_STORE_BLOB_MSG, acct, bid, 1000, &back, &len),
	    QM_ERR_NOTFOUND);
	assert_int_equal(
	    get(f->s, QM_STORE_BLOB_MSG, acct, bid2, 1000, &back, &len), QM_OK);
	free(back);
	assert_int_equal(qm_store_msg_delete(f->s, mid, &e), QM_OK);
	assert_int_equal(
	    get(f->s, QM_STORE_BLOB_MSG, acct, bid2, 1000, &back, &len),
	    QM_ERR_NOTFOUND);
	free(data);
}

/* Schema 12 to 13: a message kept whole before reads as before; a blob
 * body is refused at 12 and taken at 13. */
static void test_migrate_body_blob(void **state)
{
	struct qm_store_opts o = {0};
	struct qm_store_account a;
	struct qm_store_msg m;
	struct qm_store_blob_r *r;
	struct qm_store *s = NULL;
	struct qm_buf b;
	struct qm_error e;
	unsigned char *data = pattern(CHUNK + 3, 5);
	int64_t mid = 0, bid;
	char home[512];

	(void)state;
	assert_int_equal(qmt_tmpdir("store-v12", home, sizeof(home)), 0);
	o.schema_max = 12;
	assert_int_equal(qm_store_open(home, &o, &s, &e), QM_OK);
	assert_int_equal(qm_store_schema_version(s), 12);
	assert_int_equal(qm_store_vault_create(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "old@example.org", sizeof(a.address));
	a.default_level = 3;
	assert_int_equal(qm_store_account_add(s, &a, &e), QM_OK);
	memset(&m, 0, sizeof(m));
	m.account_id = a.id;
	m.folder = "INBOX";
	m.uid = 1;
	m.level = 3;
	m.verify = QM_VERIFY_OK;
	assert_int_equal(qm_store_msg_add(s, &m, "old", NULL, 0, "MIME old", 8,
	                                  "old", &mid, &e),
	                 QM_OK);
	bid = put(s, QM_STORE_BLOB_MSG, a.id, data, CHUNK + 3, 1000);
	m.uid = 2;
	m.body_blob = bid;
	assert_int_equal(
	    qm_store_msg_add(s, &m, "new", NULL, 0, NULL, 0, "", &mid, &e),
	    QM_ERR_UNSUPPORTED);
	qm_store_close(&s);

	assert_int_equal(qm_store_open(home, NULL, &s, &e), QM_OK);
	assert_true(qm_store_schema_version(s) >= 13);
	assert_int_equal(qm_store_vault_unlock(s, PASS, strlen(PASS), &e),
	                 QM_OK);
	qm_buf_init_secure(&b, 1 << 20);
	assert_int_equal(qm_store_msg_body(s, 1, &b, &e), QM_OK);
	assert_int_equal(b.len, 8);
	assert_memory_equal(b.data, "MIME old", 8);
	qm_buf_free(&b);
	assert_int_equal(qm_store_msg_body_open(s, 1, &r, &e), QM_OK);
	assert_null(r); /* kept whole */
	assert_int_equal(
	    qm_store_msg_add(s, &m, "new", NULL, 0, NULL, 0, "", &mid, &e),
	    QM_OK);
	qm_buf_init_secure(&b, 1 << 20);
	assert_int_equal(qm_store_msg_body(s, mid, &b, &e), QM_OK);
	assert_int_equal(b.len, CHUNK + 3);
	assert_memory_equal(b.data, data, b.len);
	qm_buf_free(&b);
	qm_store_close(&s);
	qmt_rmtree(home);
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
	    /* byte 31 made another value (setting it to 0 changed nothing
	     * when it was 0 already: once in 256 runs) */
	    {"a flipped byte",
	     "UPDATE blob_chunk SET data = substr(data, 1, 30) || "
	     "CASE WHEN substr(data, 31, 1) = x'00' THEN x'01' ELSE x'00' "
	     "END || substr(data, 32) WHERE blob_id = @I AND seq = 1"},
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

/* A complete message blob that no message holds (a message received as
 * it arrived, then the process died before filing or removing it) is
 * collected once old, like an unfinished one; one a message holds, and
 * another kind's, stay. */
static void test_gc_unfiled_msg_blob(void **state)
{
	struct fx *f = *state;
	const size_t n = CHUNK + 10;
	unsigned char *data = pattern(n, 5), *back;
	struct qm_store_account a;
	struct qm_error e;
	int64_t acct, held, loose, other, mid;
	size_t len, removed = 9;

	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "bob@example.org", sizeof(a.address));
	a.default_level = 2;
	assert_int_equal(qm_store_account_add(f->s, &a, &e), QM_OK);
	acct = a.id;
	held = put(f->s, QM_STORE_BLOB_MSG, acct, data, n, 5000);
	loose = put(f->s, QM_STORE_BLOB_MSG, acct, data, n, 5000);
	other = put(f->s, "outbox", acct, data, n, 5000);
	mid = add_msg(f->s, acct, 1, held, "words", &e);
	assert_true(mid > 0);
	/* young: nothing goes */
	assert_int_equal(qm_store_blob_gc(f->s, qm_now() - 3600, &removed, &e),
	                 QM_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(
	    get(f->s, QM_STORE_BLOB_MSG, acct, loose, CHUNK, &back, &len),
	    QM_OK);
	free(back);
	/* old: only the one no message holds */
	assert_int_equal(qm_store_blob_gc(f->s, qm_now() + 10, &removed, &e),
	                 QM_OK);
	assert_int_equal(removed, 1);
	assert_int_equal(
	    get(f->s, QM_STORE_BLOB_MSG, acct, loose, CHUNK, &back, &len),
	    QM_ERR_NOTFOUND);
	assert_int_equal(
	    get(f->s, QM_STORE_BLOB_MSG, acct, held, CHUNK, &back, &len),
	    QM_OK);
	assert_int_equal(len, n);
	free(back);
	assert_int_equal(get(f->s, "outbox", acct, other, CHUNK, &back, &len),
	                 QM_OK);
	free(back);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_seek, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_while_blob, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_msg_body_blob, setup,
	                                    teardown),
	    cmocka_unit_test(test_migrate_body_blob),
	    cmocka_unit_test_setup_teardown(test_roundtrip_sizes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_read_all_and_delete, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_sealed_at_rest, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unfinished_and_locked, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_gc_unfiled_msg_blob, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
