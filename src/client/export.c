/* SPDX-License-Identifier: MIT */
/*
 * Export of the readable mail (issue 15, "Your data is yours"): every
 * message a query selects, as the vault keeps it (decrypted, as the
 * sender wrote it), written to an mbox file (mboxrd) or a Maildir that
 * any mail program reads. The only copy of a level-1 or level-2 message
 * once read is the vault's (its keys are gone from the KMEs), so this is
 * also the user's backup of it.
 */
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

/* Messages per page of the walk over the query. */
#define EXPORT_PAGE 200

struct sink {
	enum qm_client_export_fmt fmt;
	const char *path;
	FILE *mbox;
	unsigned n; /* Maildir: files written, for unique names */
	int mem;    /* mbox in memory (open_memstream): nothing to fsync */
};

static enum qm_err io_fail(const char *path, const char *what,
                           struct qm_error *err)
{
	return qm_error_set(err, QM_ERR_IO, "%s %s: %s", what, path,
	                    strerror(errno));
}

/* The bytes of a message as lines ending in LF, mboxrd-quoted when
 * quote is set (a line "From ", after any '>', gets one more '>'). */
static enum qm_err write_lines(FILE *f, const unsigned char *p, size_t n,
                               int quote)
{
	size_t at = 0;

	while (at < n) {
		const unsigned char *nl = memchr(p + at, '\n', n - at);
		size_t end = nl ? (size_t)(nl - p) : n, len = end - at, q = 0;

		if (len && p[end - 1] == '\r' && nl)
			len--; /* CRLF becomes LF */
		while (quote && q < len && p[at + q] == '>')
			q++;
		if (quote && len - q >= 5 &&
		    memcmp(p + at + q, "From ", 5) == 0 && fputc('>', f) == EOF)
			return QM_ERR_IO;
		if ((len && fwrite(p + at, 1, len, f) != len) ||
		    fputc('\n', f) == EOF)
			return QM_ERR_IO;
		at = nl ? end + 1 : n;
	}
	return QM_OK;
}

static enum qm_err mbox_put(struct sink *s, const struct qm_store_msg *m,
                            const struct qm_buf *mime, struct qm_error *err)
{
	char when[64];
	time_t t = (time_t)m->date;
	struct tm tm;
	const char *from =
	    m->from_addr && m->from_addr[0] && !strpbrk(m->from_addr, " \t\r\n")
	        ? m->from_addr
	        : "MAILER-DAEMON";

	if (!gmtime_r(&t, &tm) ||
	    !strftime(when, sizeof(when), "%a %b %e %H:%M:%S %Y", &tm))
		qm_strlcpy(when, "Thu Jan  1 00:00:00 1970", sizeof(when));
	if (fprintf(s->mbox, "From %s %s\n", from, when) < 0 ||
	    write_lines(s->mbox, mime->data, mime->len, 1) ||
	    fputc('\n', s->mbox) == EOF)
		return io_fail(s->path, "could not write to", err);
	return QM_OK;
}

static enum qm_err maildir_put(struct sink *s, const struct qm_store_msg *m,
                               const struct qm_buf *mime, struct qm_error *err)
{
	char name[128], tmp[QM_STORE_PATHMAX + 160],
	    cur[QM_STORE_PATHMAX + 160];
	FILE *f;
	int fd, bad;

	/* unique within this export and beside earlier ones: the message's
	 * time, its id in this home, and a counter */
	snprintf(name, sizeof(name), "%lld.Q%lldN%u.qmail-export",
	         (long long)m->date, (long long)m->id, s->n++);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", s->path, name);
	snprintf(cur, sizeof(cur), "%s/cur/%s:2,%s%s%s", s->path, name,
	         m->flags & QM_FLAG_FLAGGED ? "F" : "",
	         m->flags & QM_FLAG_ANSWERED ? "R" : "",
	         m->flags & QM_FLAG_SEEN ? "S" : "");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return io_fail(tmp, "could not create", err);
	if (!(f = fdopen(fd, "w"))) {
		close(fd);
		unlink(tmp);
		return io_fail(tmp, "could not write to", err);
	}
	bad = write_lines(f, mime->data, mime->len, 0) != QM_OK;
	bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
	bad |= fclose(f) != 0;
	if (bad || rename(tmp, cur) != 0) {
		enum qm_err rc = io_fail(tmp, "could not write", err);

		unlink(tmp);
		return rc;
	}
	return QM_OK;
}

static enum qm_err sink_open(struct sink *s, struct qm_error *err)
{
	if (s->fmt == QM_CLIENT_EXPORT_MBOX) {
		int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		              0600);

		if (fd < 0 && errno == EEXIST)
			return qm_error_set(
			    err, QM_ERR_EXISTS,
			    "%s exists already: export to a new "
			    "file",
			    s->path);
		if (fd < 0 || !(s->mbox = fdopen(fd, "w"))) {
			enum qm_err rc =
			    io_fail(s->path, "could not create", err);

			if (fd >= 0)
				close(fd);
			return rc;
		}
		return QM_OK;
	}
	if (s->fmt != QM_CLIENT_EXPORT_MAILDIR)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "unknown export format %d", (int)s->fmt);
	/* a new Maildir, or one that exists (messages are added) */
	if (mkdir(s->path, 0700) != 0 && errno != EEXIST)
		return io_fail(s->path, "could not create", err);
	for (int i = 0; i < 3; i++) {
		static const char *const sub[] = {"tmp", "new", "cur"};
		char d[QM_STORE_PATHMAX + 8];

		snprintf(d, sizeof(d), "%s/%s", s->path, sub[i]);
		if (mkdir(d, 0700) != 0 && errno != EEXIST)
			return io_fail(d, "could not create", err);
	}
	return QM_OK;
}

static enum qm_err sink_close(struct sink *s, enum qm_err rc,
                              struct qm_error *err)
{
	if (!s->mbox)
		return rc;
	if ((fflush(s->mbox) != 0 ||
	     (!s->mem && fsync(fileno(s->mbox)) != 0)) &&
	    !rc)
		rc = io_fail(s->path, "could not write to", err);
	if (fclose(s->mbox) != 0 && !rc)
		rc = io_fail(s->path, "could not write to", err);
	s->mbox = NULL;
	return rc;
}

/* One message: its plaintext written, or counted as skipped. */
static enum qm_err export_one(struct qm_client *c, struct sink *s,
                              const struct qm_store_msg *m,
                              struct qm_client_export_stats *st,
                              struct qm_error *err)
{
	struct qm_buf mime;
	struct qm_error e;
	enum qm_err rc;

	qm_buf_init_secure(&mime, QM_CLIENT_MAXMSG);
	qm_error_clear(&e);
	rc = qm_client_msg_mime(c, m->id, &mime, &e);
	if (rc == QM_ERR_NOTFOUND || rc == QM_ERR_UNAVAIL) {
		/* no plaintext (tampered, replayed, refused, waiting), or a
		 * body not downloaded yet and the server out of reach */
		if (rc == QM_ERR_UNAVAIL)
			st->not_downloaded++;
		else
			st->skipped++;
		qm_buf_free(&mime);
		return QM_OK;
	}
	/* QMail sends attachments in the binary encoding inside the
	 * encryption: base64 again here, for the programs that read it */
	if (!rc) {
		rc = qm_mail_mime_7bit(&mime, NULL, NULL, &e);
		if (rc == QM_ERR_PARSE || rc == QM_ERR_TOOBIG) {
			/* not MIME it can rewrite: as it is, as before */
			rc = QM_OK;
			qm_error_clear(&e);
		}
	}
	if (rc) {
		if (err)
			*err = e;
	} else
		rc = s->fmt == QM_CLIENT_EXPORT_MBOX
		         ? mbox_put(s, m, &mime, err)
		         : maildir_put(s, m, &mime, err);
	if (!rc)
		st->written++;
	qm_buf_free(&mime);
	return rc;
}

/* Every message page by page into the open sink s; stops past max bytes
 * of an mbox (0: no maximum). */
static enum qm_err export_walk(struct qm_client *c,
                               const struct qm_store_query *q, struct sink *s,
                               size_t max, qm_client_progress_fn progress,
                               void *parg, struct qm_client_export_stats *st,
                               struct qm_error *err)
{
	struct qm_store_query page = *q;
	int64_t total = 0;
	uint64_t done = 0;
	enum qm_err rc;

	rc = qm_client_msg_count(c, q, &total, err);
	page.limit = EXPORT_PAGE;
	page.offset = 0;
	page.before_date = page.before_id = 0;
	while (!rc) {
		struct qm_store_msglist *l = NULL;

		rc = qm_client_msg_list(c, &page, &l, err);
		if (rc || !l->n) {
			qm_client_msglist_free(&l);
			break;
		}
		for (size_t i = 0; i < l->n && !rc; i++) {
			rc = export_one(c, s, &l->items[i], st, err);
			if (!rc && max && ftello(s->mbox) > (off_t)max)
				rc = qm_error_set(err, QM_ERR_TOOBIG,
				                  "the messages come to more "
				                  "than %zu MiB: export fewer "
				                  "at a time",
				                  max >> 20);
			done++;
			if (progress)
				progress(parg, "exporting", done,
				         total > 0 ? (uint64_t)total : done);
		}
		page.before_date = l->items[l->n - 1].date;
		page.before_id = l->items[l->n - 1].id;
		qm_client_msglist_free(&l);
	}
	return rc;
}

enum qm_err qm_client_export(struct qm_client *c,
                             const struct qm_store_query *q,
                             enum qm_client_export_fmt fmt, const char *path,
                             qm_client_progress_fn progress, void *parg,
                             struct qm_client_export_stats *st,
                             struct qm_error *err)
{
	struct sink s = {.fmt = fmt, .path = path};
	enum qm_err rc;

	memset(st, 0, sizeof(*st));
	if (!path || !path[0] || strlen(path) >= QM_STORE_PATHMAX)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "give the file or folder to export to");
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED,
		                    "unlock QMail first: the mail to export is "
		                    "in the vault");
	rc = sink_open(&s, err);
	if (!rc)
		rc = export_walk(c, q, &s, 0, progress, parg, st, err);
	return sink_close(&s, rc, err);
}

enum qm_err qm_client_export_mbox_mem(struct qm_client *c,
                                      const struct qm_store_query *q,
                                      size_t max, struct qm_buf *out,
                                      struct qm_client_export_stats *st,
                                      struct qm_error *err)
{
	struct sink s = {
	    .fmt = QM_CLIENT_EXPORT_MBOX, .path = "the mbox", .mem = 1};
	char *mem = NULL;
	size_t len = 0;
	enum qm_err rc;

	memset(st, 0, sizeof(*st));
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED,
		                    "unlock QMail first: the mail to export is "
		                    "in the vault");
	if (!(s.mbox = open_memstream(&mem, &len)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = export_walk(c, q, &s, max, NULL, NULL, st, err);
	rc = sink_close(&s, rc, err);
	if (!rc)
		rc = qm_buf_append(out, mem, len, err);
	if (mem) {
		sodium_memzero(mem, len); /* plaintext mail */
		free(mem);
	}
	return rc;
}
