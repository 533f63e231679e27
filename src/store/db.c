/* SPDX-License-Identifier: MIT */
/*
 * Opening and closing the store: where the QMail home is, SQLite settings
 * (WAL, busy time-out, temporary data in memory, a memory allocator that
 * wipes what SQLite frees, since the search index holds plaintext words),
 * cached statements, nested transactions and the mapping of SQLite errors
 * to messages a person can act on.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "private.h"

/* ---------------------------------------------- wiping SQLite allocator */

/* Every block carries its size in front so that free can wipe it. */
#define HDR 16

static void *wmalloc(int n)
{
	unsigned char *p;

	if (n <= 0)
		return NULL;
	p = malloc((size_t)n + HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void wfree(void *q)
{
	unsigned char *p;
	int n;

	if (!q)
		return;
	p = (unsigned char *)q - HDR;
	memcpy(&n, p, sizeof(n));
	qm_wipe(p, (size_t)n + HDR);
	free(p);
}

static int wsize(void *q)
{
	int n;

	if (!q)
		return 0;
	memcpy(&n, (unsigned char *)q - HDR, sizeof(n));
	return n;
}

static void *wrealloc(void *q, int n)
{
	void *r;
	int old;

	if (!q)
		return wmalloc(n);
	old = wsize(q);
	r = wmalloc(n);
	if (!r)
		return NULL;
	memcpy(r, q, (size_t)(old < n ? old : n));
	wfree(q);
	return r;
}

static int wroundup(int n)
{
	return (n + 7) & ~7;
}

static int winit(void *a)
{
	(void)a;
	return SQLITE_OK;
}

static void wshutdown(void *a)
{
	(void)a;
}

static const sqlite3_mem_methods wiping_mem = {
    wmalloc, wfree, wrealloc, wsize, wroundup, winit, wshutdown, NULL};

static int sqlite_ready;

static void sqlite_setup(void)
{
	/* Fails harmlessly when someone initialised SQLite before us. */
	sqlite3_config(SQLITE_CONFIG_MALLOC, &wiping_mem);
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite_ready = sqlite3_initialize() == SQLITE_OK;
}

/* ------------------------------------------------------------- locations */

static enum qm_err join(char *out, size_t outlen, const char *a, const char *b,
                        struct qm_error *err)
{
	int n = snprintf(out, outlen, "%s%s", a, b);

	if (n < 0 || (size_t)n >= outlen)
		return qm_error_set(err, QM_ERR_TOOBIG, "path %s%s is too long",
		                    a, b);
	return QM_OK;
}

enum qm_err qm_store_home_default(char *out, size_t outlen,
                                  struct qm_error *err)
{
	const char *v = getenv("QMAIL_HOME");

	if (v && *v)
		return join(out, outlen, v, "", err);
	v = getenv("XDG_DATA_HOME");
	if (v && *v)
		return join(out, outlen, v, "/qmail", err);
	v = getenv("HOME");
	if (v && *v)
		return join(out, outlen, v, "/.local/share/qmail", err);
	return qm_error_set(
	    err, QM_ERR_NOTFOUND,
	    "no QMail home: set QMAIL_HOME or HOME, or pass --home");
}

enum qm_err qm_store_config_dir_default(char *out, size_t outlen,
                                        struct qm_error *err)
{
	const char *v = getenv("XDG_CONFIG_HOME");

	if (v && *v)
		return join(out, outlen, v, "/qmail", err);
	v = getenv("HOME");
	if (v && *v)
		return join(out, outlen, v, "/.config/qmail", err);
	return qm_error_set(
	    err, QM_ERR_NOTFOUND,
	    "no configuration folder: set XDG_CONFIG_HOME or HOME");
}

/* --------------------------------------------------------------- helpers */

void *store_db_grow(void *arr, size_t *cap, size_t cnt, size_t first,
                    size_t elem)
{
	size_t ncap;
	void *n;

	if (cnt < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : first;
	if (ncap < *cap || ncap > SIZE_MAX / elem)
		return NULL;
	n = realloc(arr, ncap * elem);
	if (n)
		*cap = ncap;
	return n;
}

/* Whether the file system holding path (a file) is mounted read-only. */
static int db_on_readonly_fs(const char *path)
{
	struct statvfs sv;

	return statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

enum qm_err store_db_done(struct qm_store *s, sqlite3_stmt *st,
                          const char *what, struct qm_error *err)
{
	int src = sqlite3_step(st);

	sqlite3_reset(st);
	return src == SQLITE_DONE ? QM_OK : store_db_fail(s, src, err, what);
}

enum qm_err store_db_done_one(struct qm_store *s, sqlite3_stmt *st,
                              const char *what, const char *noun, int64_t id,
                              struct qm_error *err)
{
	enum qm_err rc = store_db_done(s, st, what, err);

	if (rc == QM_OK && sqlite3_changes(s->db) == 0)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no %s %lld", noun,
		                  (long long)id);
	return rc;
}

enum qm_err store_db_fail(struct qm_store *s, int rc, struct qm_error *err,
                          const char *what)
{
	const char *m = s && s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return qm_error_set(
		    err, QM_ERR_TIMEOUT,
		    "%s: the database %s stayed busy (another QMail "
		    "process is writing); try again",
		    what, s ? s->path : "");
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return qm_error_set(
		    err, QM_ERR_PARSE,
		    "%s: the database %s is damaged (%s); restore it "
		    "from a backup",
		    what, s ? s->path : "", m);
	case SQLITE_FULL:
		return qm_error_set(err, QM_ERR_IO,
		                    "%s: the disk holding %s is full; free some "
		                    "space and try again (nothing was changed)",
		                    what, s ? s->path : "");
	case SQLITE_CONSTRAINT:
		return qm_error_set(err, QM_ERR_EXISTS,
		                    "%s: already stored (%s)", what, m);
	case SQLITE_NOMEM:
		return qm_error_set(err, QM_ERR_NOMEM, "%s: out of memory",
		                    what);
	case SQLITE_TOOBIG:
		return qm_error_set(err, QM_ERR_TOOBIG, "%s: too big", what);
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_PERM:
		if (s && db_on_readonly_fs(s->path))
			return qm_error_set(
			    err, QM_ERR_IO,
			    "%s: the file system holding %s is read-only; make "
			    "it writable (or use another QMail home) and try "
			    "again",
			    what, s->path);
		return qm_error_set(
		    err, QM_ERR_IO,
		    "%s: cannot write %s (%s); check its permissions", what,
		    s ? s->path : "", m);
	default:
		return qm_error_set(err, QM_ERR_IO, "%s: %s", what, m);
	}
}

enum qm_err store_db_stmt(struct qm_store *s, const char *sql,
                          sqlite3_stmt **st, struct qm_error *err)
{
	struct stmt_slot *free_slot = NULL;
	sqlite3_stmt *p = NULL;
	int rc;

	for (size_t i = 0; i < STMT_CACHE; i++) {
		if (s->cache[i].sql == sql) {
			sqlite3_reset(s->cache[i].st);
			sqlite3_clear_bindings(s->cache[i].st);
			*st = s->cache[i].st;
			return QM_OK;
		}
		if (!s->cache[i].sql && !free_slot)
			free_slot = &s->cache[i];
	}
	rc = sqlite3_prepare_v3(s->db, sql, -1,
	                        free_slot ? SQLITE_PREPARE_PERSISTENT : 0, &p,
	                        NULL);
	if (rc != SQLITE_OK)
		return store_db_fail(s, rc, err, "preparing a query");
	if (!free_slot) {
		/* Cache full (should not happen): evict slot 0. */
		free_slot = &s->cache[0];
		sqlite3_finalize(free_slot->st);
	}
	free_slot->sql = sql;
	free_slot->st = p;
	*st = p;
	return QM_OK;
}

enum qm_err store_db_exec(struct qm_store *s, const char *sql,
                          struct qm_error *err)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return store_db_fail(s, rc, err, "updating the database");
	return QM_OK;
}

enum qm_err store_db_begin(struct qm_store *s, struct qm_error *err)
{
	enum qm_err rc = store_db_exec(
	    s, s->tx_depth ? "SAVEPOINT qm" : "BEGIN IMMEDIATE", err);

	if (rc == QM_OK)
		s->tx_depth++;
	return rc;
}

enum qm_err store_db_begin_read(struct qm_store *s, struct qm_error *err)
{
	enum qm_err rc = store_db_exec(
	    s, s->tx_depth ? "SAVEPOINT qm" : "BEGIN DEFERRED", err);

	if (rc == QM_OK)
		s->tx_depth++;
	return rc;
}

enum qm_err store_db_commit(struct qm_store *s, struct qm_error *err)
{
	enum qm_err rc;

	if (s->tx_depth <= 0)
		return qm_error_set(err, QM_ERR_STATE,
		                    "no transaction to commit");
	rc = store_db_exec(s, s->tx_depth > 1 ? "RELEASE qm" : "COMMIT", err);
	if (rc != QM_OK) {
		store_db_rollback(s);
		return rc;
	}
	s->tx_depth--;
	return QM_OK;
}

void store_db_rollback(struct qm_store *s)
{
	if (s->tx_depth <= 0)
		return;
	if (s->tx_depth > 1)
		sqlite3_exec(s->db, "ROLLBACK TO qm; RELEASE qm", NULL, NULL,
		             NULL);
	else
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	s->tx_depth--;
}

int store_db_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

void store_db_col_text(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	qm_strlcpy(out, t ? (const char *)t : "", outlen);
}

enum qm_err store_check_len(const char *what, const char *v, size_t max,
                            struct qm_error *err)
{
	if (v && strnlen(v, max) >= max)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "%s is longer than %zu bytes", what,
		                    max - 1);
	return QM_OK;
}

/* ------------------------------------------------------- open and close */

enum qm_err qm_store_tx_begin(struct qm_store *s, struct qm_error *err)
{
	return store_db_begin(s, err);
}

enum qm_err qm_store_tx_commit(struct qm_store *s, struct qm_error *err)
{
	return store_db_commit(s, err);
}

void qm_store_tx_rollback(struct qm_store *s)
{
	store_db_rollback(s);
}

/* The integer a PRAGMA query answers (def when it cannot be read). */
static int pragma_int(struct qm_store *s, const char *sql, int def)
{
	sqlite3_stmt *st = NULL;
	int v = def;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static enum qm_err connect(struct qm_store *s, struct qm_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	enum qm_err rc;
	int src;

	pthread_once(&once, sqlite_setup);
	if (!sqlite_ready)
		return qm_error_set(err, QM_ERR_IO, "SQLite failed to start");
	if (!s->opts.must_exist)
		flags |= SQLITE_OPEN_CREATE;
	src = sqlite3_open_v2(s->path, &s->db, flags, NULL);
	if (src != SQLITE_OK) {
		rc = qm_error_set(
		    err, QM_ERR_IO, "cannot open the database %s: %s", s->path,
		    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
		if (db_on_readonly_fs(s->path))
			rc = qm_error_set(err, QM_ERR_IO,
			                  "cannot open the database %s: its file "
			                  "system is read-only; make it writable "
			                  "(or use another QMail home) and try again",
			                  s->path);
		if (src == SQLITE_CANTOPEN && s->opts.must_exist)
			rc = qm_error_set(err, QM_ERR_NOTFOUND,
			                  "no QMail database at %s", s->path);
		return rc;
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, s->opts.busy_timeout_ms > 0
	                                ? s->opts.busy_timeout_ms
	                                : 5000);
	/* Temporary tables, sorts and the search index stay in memory; freed
	 * pages are zeroed so deleted plaintext does not linger in the file. */
	rc = store_db_exec(s,
	                   "PRAGMA page_size=16384; "
	                   "PRAGMA temp_store=MEMORY; PRAGMA secure_delete=ON; "
	                   "PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL",
	                   err);
	if (rc == QM_OK)
		rc = qm_store_cache_limit(s, STORE_CACHE_KIB, err);
	if (rc != QM_OK)
		return rc;
	/* The first statement that reads the file: a file that is not a
	 * database fails here. */
	src = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
	if (src != SQLITE_OK)
		return store_db_fail(s, src, err, "opening the database");
	/* the log is checkpointed at about 4 MiB whatever the page size (the
	 * default, 1,000 pages, is 16 MiB with 16 KiB pages: a small disk
	 * fills sooner) */
	return store_db_exec(s,
	                     pragma_int(s, "PRAGMA page_size", 0) > 4096
	                         ? "PRAGMA wal_autocheckpoint=256"
	                         : "PRAGMA wal_autocheckpoint=1000",
	                     err);
}

enum qm_err qm_store_open(const char *home, const struct qm_store_opts *opts,
                          struct qm_store **out, struct qm_error *err)
{
	struct qm_store *s = NULL;
	enum qm_err rc;

	if (!home || !*home || !out)
		return qm_error_set(err, QM_ERR_INVAL, "no QMail home given");
	rc = qm_core_init(err);
	if (rc != QM_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (!s)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (opts)
		s->opts = *opts;
	rc = join(s->home, sizeof(s->home), home, "", err);
	if (rc == QM_OK)
		rc = join(s->path, sizeof(s->path), home, "/" QM_STORE_DBNAME,
		          err);
	if (rc != QM_OK)
		goto out;
	if (!s->opts.must_exist) {
		rc = qm_mkdirs(home, 0700, err);
		if (rc != QM_OK)
			goto out;
	}
	if (!s->opts.must_exist) {
		/* Create the file 0600 ourselves (SQLite would follow the
		 * umask); its WAL and shared-memory files take the same mode.
		 */
		int fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0 && errno == EROFS) {
			rc = qm_error_set(err, QM_ERR_IO,
			                  "cannot open the database %s: the QMail "
			                  "home %s is on a read-only file system; "
			                  "make it writable (or use another home) "
			                  "and try again",
			                  s->path, home);
			goto out;
		}
		if (fd < 0) {
			rc = qm_error_set(err, QM_ERR_IO,
			                  "cannot create the database %s: %s",
			                  s->path, strerror(errno));
			goto out;
		}
		close(fd);
	}
	rc = connect(s, err);
	if (rc != QM_OK)
		goto out;
	rc = store_migrate(s, s->opts.schema_max, err);
	if (rc != QM_OK)
		goto out;
	*out = s;
	s = NULL;
out:
	if (s)
		qm_store_close(&s);
	return rc;
}

enum qm_err qm_store_clone(struct qm_store *s, struct qm_store **out,
                           struct qm_error *err)
{
	struct qm_store_opts o = s->opts;
	struct qm_store *c = NULL;
	enum qm_err rc;

	o.must_exist = 1;
	o.schema_max = 0;
	rc = qm_store_open(s->home, &o, &c, err);
	if (rc != QM_OK)
		return rc;
	if (s->vkey) {
		rc = store_vault_set_key(c, s->vkey, err);
		if (rc != QM_OK) {
			qm_store_close(&c);
			return rc;
		}
	}
	*out = c;
	return QM_OK;
}

static enum qm_err cache_set(struct qm_store *s, int kib, struct qm_error *err)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA cache_size=-%d", kib);
	return store_db_exec(s, sql, err);
}

enum qm_err qm_store_cache_limit(struct qm_store *s, int kib,
                                 struct qm_error *err)
{
	if (kib < 64)
		kib = 64;
	s->cache_kib = kib;
	if (s->blob_ios && kib > STORE_CACHE_BLOB_KIB)
		return QM_OK; /* a blob is open: set when it closes */
	return cache_set(s, kib, err);
}

void store_blob_io_enter(struct qm_store *s)
{
	if (s->blob_ios++ == 0 && s->cache_kib > STORE_CACHE_BLOB_KIB)
		QM_IGNORE(cache_set(s, STORE_CACHE_BLOB_KIB, NULL));
}

void store_blob_io_leave(struct qm_store *s)
{
	if (s->blob_ios > 0 && --s->blob_ios == 0 &&
	    s->cache_kib > STORE_CACHE_BLOB_KIB)
		QM_IGNORE(cache_set(s, s->cache_kib, NULL));
}

void qm_store_close(struct qm_store **sp)
{
	struct qm_store *s;

	if (!sp || !*sp)
		return;
	s = *sp;
	qm_store_vault_lock(s);
	while (s->tx_depth > 0)
		store_db_rollback(s);
	for (size_t i = 0; i < STMT_CACHE; i++)
		if (s->cache[i].st)
			sqlite3_finalize(s->cache[i].st);
	if (s->db)
		sqlite3_close_v2(s->db);
	free(s);
	*sp = NULL;
}

int qm_store_schema_version(struct qm_store *s)
{
	return pragma_int(s, "PRAGMA user_version", -1);
}

int qm_store_cache_kib_now(struct qm_store *s)
{
	int v = pragma_int(s, "PRAGMA cache_size", 0);

	return v < 0 ? -v : v;
}

const char *qm_store_path(const struct qm_store *s)
{
	return s->path;
}

enum qm_err qm_store_check(struct qm_store *s, struct qm_error *err)
{
	sqlite3_stmt *st = NULL;
	enum qm_err rc = QM_OK;
	int src;

	src = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check(5)", -1, &st,
	                         NULL);
	if (src != SQLITE_OK)
		return store_db_fail(s, src, err, "checking the database");
	src = sqlite3_step(st);
	if (src == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(st, 0);

		if (!t || strcmp((const char *)t, "ok") != 0)
			rc = qm_error_set(
			    err, QM_ERR_PARSE,
			    "the database %s is damaged: %s; restore "
			    "it from a backup",
			    s->path, t ? (const char *)t : "?");
	} else {
		rc = store_db_fail(s, src, err, "checking the database");
	}
	sqlite3_finalize(st);
	return rc;
}
