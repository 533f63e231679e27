/* SPDX-License-Identifier: MIT */
/*
 * Sealed blobs: payloads too large to hold in memory whole (a message with
 * a 25 MiB attachment, its ciphertext), written and read a chunk at a
 * time. A blob is one row of `blob` (its kind, owner, sealed key, size,
 * whether it is complete) and rows of `blob_chunk`, each CHUNK plaintext
 * bytes (the last one fewer, possibly none) sealed with XChaCha20-Poly1305
 * under the blob's own random key, with a random nonce, and associated
 * data binding it to (kind, owner, blob, sequence number, last or not).
 * The key is a vault item bound to ("blob " kind, blob id). So chunks
 * cannot be reordered, dropped, repeated, moved to another blob or owner,
 * and a blob cannot be cut at a chunk boundary or made longer: the reader
 * says QM_ERR_AUTH. Each chunk is its own statement (in the caller's
 * transaction when there is one), so writing a large blob does not hold
 * the database's write lock for the whole time; a blob becomes readable
 * when qm_store_blob_end marks it complete, and qm_store_blob_gc removes
 * those never completed (a crash while writing) and the message blobs no
 * message holds (a crash between their end and their filing).
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define CHUNK     QM_STORE_BLOB_CHUNK
#define NONCE     crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG       crypto_aead_xchacha20poly1305_ietf_ABYTES
#define KEYBYTES  crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define KINDMAX   32
#define ADMAX     (sizeof(ad_tag) + KINDMAX + 1 + 8 + 8 + 8 + 1)

static const char ad_tag[] = "qmail-blob-v1 chunk";

struct blob_io {
	struct qm_store *s;
	int entered; /* counted in s->blob_ios */
	char kind[KINDMAX + 1];
	int64_t owner;
	int64_t id;
	uint64_t seq;  /* next chunk */
	uint64_t size; /* plaintext bytes so far (writer) or in all (reader) */
	/* secure: the key, then one chunk of plaintext */
	unsigned char *sec;
	size_t fill;   /* writer: bytes waiting; reader: bytes left to give */
	size_t off;    /* reader: where they start */
	unsigned char *ct; /* one sealed chunk */
	sqlite3_stmt *rows; /* reader: the chunks in order */
	int failed;
};

struct qm_store_blob_w {
	struct blob_io io;
};

struct qm_store_blob_r {
	struct blob_io io;
	uint64_t nchunks;
	uint64_t given;
};

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (i * 8));
}

static size_t chunk_ad(const struct blob_io *b, uint64_t seq, int last,
                       unsigned char *ad)
{
	size_t k = strlen(b->kind), n = sizeof(ad_tag);

	memcpy(ad, ad_tag, sizeof(ad_tag));
	memcpy(ad + n, b->kind, k);
	n += k;
	ad[n++] = 0;
	put64(ad + n, (uint64_t)b->owner);
	n += 8;
	put64(ad + n, (uint64_t)b->id);
	n += 8;
	put64(ad + n, seq);
	n += 8;
	ad[n++] = (unsigned char)(last ? 1 : 0);
	return n;
}

static void key_kind(const char *kind, char *out, size_t n)
{
	snprintf(out, n, "blob %s", kind);
}

static enum qm_err io_init(struct blob_io *b, struct qm_store *s,
                           const char *kind, int64_t owner,
                           struct qm_error *err)
{
	memset(b, 0, sizeof(*b));
	if (!kind || !*kind || strlen(kind) > KINDMAX)
		return qm_error_set(err, QM_ERR_INVAL, "bad blob kind");
	b->s = s;
	memcpy(b->kind, kind, strlen(kind) + 1);
	b->owner = owner;
	b->sec = qm_sec_alloc(KEYBYTES + CHUNK);
	b->ct = malloc(NONCE + CHUNK + TAG);
	if (!b->sec || !b->ct) {
		qm_sec_free(b->sec);
		free(b->ct);
		b->sec = b->ct = NULL;
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	store_blob_io_enter(s);
	b->entered = 1;
	return QM_OK;
}

static void io_free(struct blob_io *b)
{
	if (b->entered)
		store_blob_io_leave(b->s);
	if (b->rows)
		sqlite3_finalize(b->rows);
	qm_sec_free(b->sec);
	free(b->ct);
	memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------- writing */

enum qm_err qm_store_blob_begin(struct qm_store *s, const char *kind,
                                int64_t owner, struct qm_store_blob_w **out,
                                struct qm_error *err)
{
	struct qm_store_blob_w *w;
	struct qm_buf wk;
	sqlite3_stmt *st;
	char kk[KINDMAX + 8];
	enum qm_err rc;

	*out = NULL;
	rc = store_vault_need(s, err);
	if (rc)
		return rc;
	w = calloc(1, sizeof(*w));
	if (!w)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = io_init(&w->io, s, kind, owner, err);
	if (rc) {
		free(w);
		return rc;
	}
	randombytes_buf(w->io.sec, KEYBYTES);
	rc = store_db_stmt(s,
	                   "INSERT INTO blob (kind, owner, wkey, made) "
	                   "VALUES (?, ?, x'', ?)",
	                   &st, err);
	if (!rc) {
		store_db_bind_text(st, 1, kind);
		sqlite3_bind_int64(st, 2, owner);
		sqlite3_bind_int64(st, 3, qm_now());
		rc = store_db_done(s, st, "starting a blob", err);
	}
	if (rc)
		goto fail;
	w->io.id = sqlite3_last_insert_rowid(s->db);
	/* the key, sealed in the vault for this blob */
	key_kind(kind, kk, sizeof(kk));
	qm_buf_init(&wk, 1024);
	rc = store_vault_seal(s, kk, w->io.id, w->io.sec, KEYBYTES, &wk, err);
	if (!rc)
		rc = store_db_stmt(s, "UPDATE blob SET wkey = ? WHERE id = ?",
		                   &st, err);
	if (!rc) {
		sqlite3_bind_blob(st, 1, wk.data, (int)wk.len, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, w->io.id);
		rc = store_db_done(s, st, "starting a blob", err);
	}
	qm_buf_free(&wk);
	if (rc)
		goto fail;
	*out = w;
	return QM_OK;
fail:
	if (w->io.id)
		QM_IGNORE(qm_store_blob_delete(s, w->io.id, NULL));
	io_free(&w->io);
	free(w);
	return rc;
}

/* Seals the waiting bytes as chunk seq and stores it. */
static enum qm_err flush(struct qm_store_blob_w *w, int last,
                         struct qm_error *err)
{
	struct blob_io *b = &w->io;
	unsigned char ad[ADMAX];
	size_t adlen = chunk_ad(b, b->seq, last, ad);
	sqlite3_stmt *st;
	enum qm_err rc;

	randombytes_buf(b->ct, NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
	    b->ct + NONCE, NULL, b->sec + KEYBYTES, b->fill, ad, adlen, NULL,
	    b->ct, b->sec);
	qm_wipe(b->sec + KEYBYTES, b->fill);
	rc = store_db_stmt(b->s,
	                   "INSERT INTO blob_chunk (blob_id, seq, data) "
	                   "VALUES (?, ?, ?)",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, b->id);
	sqlite3_bind_int64(st, 2, (int64_t)b->seq);
	sqlite3_bind_blob(st, 3, b->ct, (int)(NONCE + b->fill + TAG),
	                  SQLITE_STATIC);
	rc = store_db_done(b->s, st, "writing a blob", err);
	if (rc)
		return rc;
	b->seq++;
	b->fill = 0;
	return QM_OK;
}

enum qm_err qm_store_blob_write(struct qm_store_blob_w *w, const void *p,
                                size_t n, struct qm_error *err)
{
	struct blob_io *b = &w->io;
	const unsigned char *q = p;
	enum qm_err rc;

	if (b->failed)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "writing a blob after it failed");
	if (n > QM_STORE_BLOB_MAX - b->size) {
		b->failed = 1;
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "more than %llu bytes for one stored item",
		                    (unsigned long long)QM_STORE_BLOB_MAX);
	}
	while (n) {
		size_t k;

		/* a full chunk goes only once more follows: the last one is
		 * sealed as last by qm_store_blob_end */
		if (b->fill == CHUNK) {
			rc = flush(w, 0, err);
			if (rc) {
				b->failed = 1;
				return rc;
			}
		}
		k = CHUNK - b->fill < n ? CHUNK - b->fill : n;
		memcpy(b->sec + KEYBYTES + b->fill, q, k);
		b->fill += k;
		b->size += k;
		q += k;
		n -= k;
	}
	return QM_OK;
}

enum qm_err qm_store_blob_end(struct qm_store_blob_w **wp, int64_t *id,
                              uint64_t *size, struct qm_error *err)
{
	struct qm_store_blob_w *w = *wp;
	struct qm_store *s = w->io.s;
	sqlite3_stmt *st;
	enum qm_err rc;

	if (w->io.failed)
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "ending a blob after it failed");
	else
		rc = flush(w, 1, err);
	if (!rc)
		rc = store_db_stmt(s,
		                   "UPDATE blob SET size = ?, done = 1 "
		                   "WHERE id = ?",
		                   &st, err);
	if (!rc) {
		sqlite3_bind_int64(st, 1, (int64_t)w->io.size);
		sqlite3_bind_int64(st, 2, w->io.id);
		rc = store_db_done(s, st, "ending a blob", err);
	}
	if (rc) {
		qm_store_blob_abort(wp);
		return rc;
	}
	if (id)
		*id = w->io.id;
	if (size)
		*size = w->io.size;
	io_free(&w->io);
	free(w);
	*wp = NULL;
	return QM_OK;
}

void qm_store_blob_abort(struct qm_store_blob_w **wp)
{
	struct qm_store_blob_w *w = wp ? *wp : NULL;

	if (!w)
		return;
	if (w->io.id)
		QM_IGNORE(qm_store_blob_delete(w->io.s, w->io.id, NULL));
	io_free(&w->io);
	free(w);
	*wp = NULL;
}

int64_t qm_store_blob_w_id(const struct qm_store_blob_w *w)
{
	return w->io.id;
}

/* ---------------------------------------------------------------- reading */

static enum qm_err damaged(const struct blob_io *b, const char *why,
                           struct qm_error *err)
{
	return qm_error_set(err, QM_ERR_AUTH,
	                    "stored item %lld (%s) failed its integrity check "
	                    "(%s)",
	                    (long long)b->id, b->kind, why);
}

enum qm_err qm_store_blob_open(struct qm_store *s, const char *kind,
                               int64_t owner, int64_t id,
                               struct qm_store_blob_r **out,
                               struct qm_error *err)
{
	struct qm_store_blob_r *r;
	struct qm_buf key;
	sqlite3_stmt *st;
	char kk[KINDMAX + 8];
	int64_t size = -1;
	enum qm_err rc;
	int step, done = 0;

	*out = NULL;
	rc = store_vault_need(s, err);
	if (rc)
		return rc;
	r = calloc(1, sizeof(*r));
	if (!r)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = io_init(&r->io, s, kind, owner, err);
	if (rc) {
		free(r);
		return rc;
	}
	r->io.id = id;
	qm_buf_init_secure(&key, KEYBYTES);
	rc = store_db_stmt(s,
	                   "SELECT wkey, size, done FROM blob WHERE id = ? "
	                   "AND kind = ? AND owner = ?",
	                   &st, err);
	if (rc)
		goto fail;
	sqlite3_bind_int64(st, 1, id);
	store_db_bind_text(st, 2, kind);
	sqlite3_bind_int64(st, 3, owner);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		key_kind(kind, kk, sizeof(kk));
		size = sqlite3_column_int64(st, 1);
		done = sqlite3_column_int(st, 2);
		rc = store_vault_open(s, kk, id, sqlite3_column_blob(st, 0),
		                      (size_t)sqlite3_column_bytes(st, 0), &key,
		                      err);
	} else if (step == SQLITE_DONE) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "stored item %lld (%s) is missing",
		                  (long long)id, kind);
	} else {
		rc = store_db_fail(s, step, err, "reading a blob");
	}
	sqlite3_reset(st);
	if (rc)
		goto fail;
	if (!done) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "stored item %lld (%s) was never completed",
		                  (long long)id, kind);
		goto fail;
	}
	if (key.len != KEYBYTES || size < 0 ||
	    (uint64_t)size > QM_STORE_BLOB_MAX) {
		rc = damaged(&r->io, "its key or size", err);
		goto fail;
	}
	memcpy(r->io.sec, key.data, KEYBYTES);
	r->io.size = (uint64_t)size;
	r->nchunks = size ? ((uint64_t)size + CHUNK - 1) / CHUNK : 1;
	/* its own statement: a reader may stay open across other calls */
	if (sqlite3_prepare_v2(s->db,
	                       "SELECT seq, data FROM blob_chunk WHERE "
	                       "blob_id = ? ORDER BY seq",
	                       -1, &r->io.rows, NULL) != SQLITE_OK) {
		rc = store_db_fail(s, sqlite3_errcode(s->db), err,
		                   "reading a blob");
		goto fail;
	}
	sqlite3_bind_int64(r->io.rows, 1, id);
	qm_buf_free(&key);
	*out = r;
	return QM_OK;
fail:
	qm_buf_free(&key);
	io_free(&r->io);
	free(r);
	return rc;
}

uint64_t qm_store_blob_size(const struct qm_store_blob_r *r)
{
	return r->io.size;
}

/* Reads and opens the next chunk into the plaintext buffer. */
static enum qm_err next_chunk(struct qm_store_blob_r *r, struct qm_error *err)
{
	struct blob_io *b = &r->io;
	unsigned char ad[ADMAX];
	const unsigned char *data;
	uint64_t want;
	size_t n, adlen;
	int last = b->seq + 1 == r->nchunks;
	int step = sqlite3_step(b->rows);

	if (step == SQLITE_DONE)
		return damaged(b, "cut short", err);
	if (step != SQLITE_ROW)
		return store_db_fail(b->s, step, err, "reading a blob");
	if ((uint64_t)sqlite3_column_int64(b->rows, 0) != b->seq)
		return damaged(b, "a piece missing or out of order", err);
	data = sqlite3_column_blob(b->rows, 1);
	n = (size_t)sqlite3_column_bytes(b->rows, 1);
	want = last ? b->size - b->seq * CHUNK : CHUNK;
	if (n != NONCE + want + TAG)
		return damaged(b, "a piece of the wrong size", err);
	adlen = chunk_ad(b, b->seq, last, ad);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
	        b->sec + KEYBYTES, NULL, NULL, data + NONCE, n - NONCE, ad,
	        adlen, data, b->sec) != 0)
		return damaged(b, "altered or moved", err);
	b->fill = (size_t)want;
	b->off = 0;
	b->seq++;
	if (last && sqlite3_step(b->rows) != SQLITE_DONE)
		return damaged(b, "more pieces than its size", err);
	return QM_OK;
}

enum qm_err qm_store_blob_read(struct qm_store_blob_r *r, void *buf,
                               size_t n, size_t *got, struct qm_error *err)
{
	struct blob_io *b = &r->io;
	unsigned char *q = buf;
	enum qm_err rc;

	*got = 0;
	if (b->failed)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "reading a blob after it failed");
	while (n) {
		size_t k;

		if (!b->fill) {
			if (b->seq == r->nchunks)
				break;
			rc = next_chunk(r, err);
			if (rc) {
				b->failed = 1;
				qm_wipe(buf, *got);
				*got = 0;
				return rc;
			}
			continue;
		}
		k = b->fill < n ? b->fill : n;
		memcpy(q, b->sec + KEYBYTES + b->off, k);
		qm_wipe(b->sec + KEYBYTES + b->off, k);
		b->off += k;
		b->fill -= k;
		q += k;
		n -= k;
		*got += k;
		r->given += k;
	}
	return QM_OK;
}

enum qm_err qm_store_blob_seek(struct qm_store_blob_r *r, uint64_t off,
                               struct qm_error *err)
{
	struct blob_io *b = &r->io;
	sqlite3_stmt *st = NULL;
	uint64_t seq = off / CHUNK;
	enum qm_err rc;

	if (b->failed)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "seeking in a blob after it failed");
	if (off > b->size)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "offset %llu is past the end of stored "
		                    "item %lld (%llu bytes)",
		                    (unsigned long long)off, (long long)b->id,
		                    (unsigned long long)b->size);
	/* the chunks from the one that holds off, in order */
	if (sqlite3_prepare_v2(b->s->db,
	                       "SELECT seq, data FROM blob_chunk WHERE "
	                       "blob_id = ? AND seq >= ? ORDER BY seq",
	                       -1, &st, NULL) != SQLITE_OK) {
		sqlite3_finalize(st);
		return store_db_fail(b->s, sqlite3_errcode(b->s->db), err,
		                     "reading a blob");
	}
	sqlite3_bind_int64(st, 1, b->id);
	sqlite3_bind_int64(st, 2, (int64_t)seq);
	sqlite3_finalize(b->rows);
	b->rows = st;
	qm_wipe(b->sec + KEYBYTES + b->off, b->fill);
	b->seq = seq;
	b->fill = 0;
	b->off = 0;
	r->given = off;
	if (seq == r->nchunks)
		return QM_OK; /* at the end of a blob of whole chunks */
	rc = next_chunk(r, err);
	if (rc) {
		b->failed = 1;
		return rc;
	}
	qm_wipe(b->sec + KEYBYTES, (size_t)(off % CHUNK));
	b->off = (size_t)(off % CHUNK);
	b->fill -= b->off;
	return QM_OK;
}

void qm_store_blob_close(struct qm_store_blob_r **rp)
{
	struct qm_store_blob_r *r = rp ? *rp : NULL;

	if (!r)
		return;
	io_free(&r->io);
	free(r);
	*rp = NULL;
}

enum qm_err qm_store_blob_read_all(struct qm_store *s, const char *kind,
                                   int64_t owner, int64_t id,
                                   struct qm_buf *out, struct qm_error *err)
{
	struct qm_store_blob_r *r;
	enum qm_err rc;
	size_t got;

	if (!out->secure)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a stored item must be read into a secure "
		                    "buffer");
	rc = qm_store_blob_open(s, kind, owner, id, &r, err);
	if (rc)
		return rc;
	rc = qm_buf_reserve(out, (size_t)qm_store_blob_size(r), err);
	if (!rc)
		rc = qm_store_blob_read(r, out->data + out->len,
		                        (size_t)qm_store_blob_size(r), &got,
		                        err);
	if (!rc) {
		out->len += got;
		out->data[out->len] = 0;
	}
	qm_store_blob_close(&r);
	return rc;
}

/* ------------------------------------------------------------- removing */

enum qm_err qm_store_blob_delete(struct qm_store *s, int64_t id,
                                 struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	rc = store_db_stmt(s, "DELETE FROM blob WHERE id = ?", &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, id);
	return store_db_done(s, st, "removing a stored item", err);
}

enum qm_err qm_store_blob_gc(struct qm_store *s, int64_t older_than,
                             size_t *removed, struct qm_error *err)
{
	sqlite3_stmt *st;
	enum qm_err rc;

	if (removed)
		*removed = 0;
	/* a message blob is held by its message (msg_body.mime_blob) from
	 * the filing on; one completed but never filed (a received message
	 * written as it arrived, or its plaintext, when the process died
	 * before the filing or the removal) is as dead as an unfinished one */
	rc = store_db_stmt(s,
	                   "DELETE FROM blob WHERE made < ?1 AND (done = 0 OR "
	                   "(kind = ?2 AND id NOT IN (SELECT mime_blob FROM "
	                   "msg_body WHERE mime_blob IS NOT NULL)))",
	                   &st, err);
	if (rc)
		return rc;
	sqlite3_bind_int64(st, 1, older_than);
	store_db_bind_text(st, 2, QM_STORE_BLOB_MSG);
	rc = store_db_done(s, st, "removing unfinished stored items", err);
	if (!rc && removed)
		*removed = (size_t)sqlite3_changes(s->db);
	return rc;
}
