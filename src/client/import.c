/* SPDX-License-Identifier: MIT */
/*
 * Import of mail from an mbox file (mboxrd or mboxo) or a Maildir into a
 * local folder of an account (issue 15, "Your data is yours"): the
 * opposite of export.c. An imported message is plain mail whatever it
 * claims: it is filed as QM_VERIFY_NOT_QMAIL at level 0 with no security
 * record, so a QMail header or an envelope in it never makes it show as
 * encrypted or verified, and nothing in it reaches the keyring or the
 * contacts (the receive path, which learns keys, is not used). A message
 * whose Message-ID the account has already is skipped, so a second import
 * of the same file adds nothing. The files are hostile input: lines are
 * read in bounded pieces, a message past QM_CLIENT_MAXMSG or that does
 * not parse is skipped and counted.
 */
#include "private.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sodium.h>

#define IMPORT_BUF   65536    /* bytes read from an mbox at a time */
#define IMPORT_BATCH 100      /* messages per store transaction */
#define IMPORT_FILES 1000000u /* most files in one Maildir */

/* What one import carries from message to message. */
struct imp {
	struct qm_client *c;
	int64_t acct;
	const char *folder;
	struct qm_mail_limits lim;
	struct qm_client_import_stats *st;
	size_t in_tx; /* messages added in the open transaction */
};

/* Counts a skipped message, keeping the first reason. */
static void imp_skip(struct imp *im, const char *why)
{
	if (!im->st->skipped++)
		qm_strlcpy(im->st->first_skip, why, sizeof(im->st->first_skip));
}

/* The flags an mbox writer keeps in Status and X-Status headers. */
static unsigned mbox_flags(const unsigned char *p, size_t n)
{
	unsigned f = 0;
	size_t i = 0;

	while (i < n) {
		const unsigned char *nl = memchr(p + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (p + i)) : n - i;
		const char *l = (const char *)p + i;

		if (len == 0 || (len == 1 && l[0] == '\r'))
			break; /* end of the header */
		if (len > 7 && strncasecmp(l, "Status:", 7) == 0 &&
		    memchr(l + 7, 'R', len - 7))
			f |= QM_FLAG_SEEN;
		if (len > 9 && strncasecmp(l, "X-Status:", 9) == 0) {
			if (memchr(l + 9, 'F', len - 9))
				f |= QM_FLAG_FLAGGED;
			if (memchr(l + 9, 'A', len - 9))
				f |= QM_FLAG_ANSWERED;
		}
		i += len + 1;
	}
	return f;
}

/* The Message-ID to know the message by: its own, else one made from a
 * digest of its bytes (the same message imported twice is known). */
static void imp_mid(const struct qm_mail_content *mc, const void *mime,
                    size_t len, char *out, size_t cap)
{
	unsigned char d[16];
	char hex[33];

	if (mc->hdrs.message_id && mc->hdrs.message_id[0] &&
	    strlen(mc->hdrs.message_id) < cap) {
		qm_strlcpy(out, mc->hdrs.message_id, cap);
		return;
	}
	crypto_generichash(d, sizeof(d), mime, len, NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), d, sizeof(d));
	snprintf(out, cap, "<import-%s@qmail.invalid>", hex);
}

/* Files one message (CRLF lines) in the folder as plain mail. */
static enum qm_err imp_one(struct imp *im, const unsigned char *mime,
                           size_t len, unsigned flags, struct qm_error *err)
{
	struct qm_mail_content *mc = NULL;
	struct qm_store_msg m;
	struct qm_error e;
	char mid[1024], from[QM_STORE_ADDRMAX];
	int64_t id = 0;
	enum qm_err rc;

	if (!len) {
		imp_skip(im, "an empty message");
		return QM_OK;
	}
	rc = qm_mail_content_parse(mime, len, &im->lim, &mc, &e);
	if (rc == QM_ERR_PARSE || rc == QM_ERR_TOOBIG ||
	    rc == QM_ERR_UNSUPPORTED) {
		imp_skip(im, qm_error_msg(&e));
		return QM_OK;
	}
	if (rc) {
		if (err)
			*err = e;
		return rc;
	}
	imp_mid(mc, mime, len, mid, sizeof(mid));
	rc = qm_store_msg_find(im->c->store, im->acct, mid, &id, NULL);
	if (rc == QM_OK) {
		im->st->duplicates++;
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.account_id = im->acct;
	m.folder = im->folder;
	m.message_id = mid;
	m.from_addr =
	    mc->hdrs.from && client_addr_bare(mc->hdrs.from, from, sizeof(from),
	                                      NULL) == QM_OK
	        ? from
	        : "";
	m.to_addrs = mc->hdrs.to ? mc->hdrs.to : "";
	m.date = client_date_parse(mc->hdrs.date);
	if (!m.date)
		m.date = qm_now();
	/* plain, whatever its headers claim: no level, no security record */
	m.level = 0;
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.flags = flags;
	m.size = (int64_t)len;
	m.n_attach = (int)mc->natt;
	if (!im->in_tx) {
		rc = qm_store_tx_begin(im->c->store, err);
		if (rc)
			goto out;
	}
	rc = qm_store_msg_add(im->c->store, &m, mc->subject ? mc->subject : "",
	                      NULL, 0, mime, len, mc->text, &id, err);
	if (rc) {
		qm_store_tx_rollback(im->c->store);
		im->st->added -=
		    im->in_tx; /* those went with the transaction */
		im->in_tx = 0;
		goto out;
	}
	im->st->added++;
	if (++im->in_tx == IMPORT_BATCH) {
		im->in_tx = 0;
		rc = qm_store_tx_commit(im->c->store, err);
	}
out:
	qm_mail_content_free(&mc);
	return rc;
}

/* Commits what the last transaction holds. */
static enum qm_err imp_flush(struct imp *im, enum qm_err rc,
                             struct qm_error *err)
{
	if (!im->in_tx)
		return rc;
	im->in_tx = 0;
	if (!rc)
		return qm_store_tx_commit(im->c->store, err);
	qm_store_tx_rollback(im->c->store);
	return rc;
}

/* ------------------------------------------------------------------ mbox */

/* An mbox read in pieces: at most one line, or IMPORT_BUF bytes of it. */
struct mbox_rd {
	FILE *f;
	unsigned char buf[IMPORT_BUF];
	size_t pos, len;
	uint64_t done; /* bytes consumed */
};

/* At least need bytes ahead in the buffer, unless the input ends first. */
static int rd_fill(struct mbox_rd *r, size_t need)
{
	if (r->len - r->pos >= need)
		return 0;
	memmove(r->buf, r->buf + r->pos, r->len - r->pos);
	r->len -= r->pos;
	r->pos = 0;
	while (r->len < need) {
		size_t got =
		    fread(r->buf + r->len, 1, sizeof(r->buf) - r->len, r->f);

		if (!got)
			return ferror(r->f) ? -1 : 0;
		r->len += got;
	}
	return 0;
}

/* The next piece: through the end of the line (*eol set) or the rest of
 * the buffer; 0 at the end of the input. */
static size_t rd_piece(struct mbox_rd *r, const unsigned char **p, int *eol)
{
	const unsigned char *nl;
	size_t n;

	if (rd_fill(r, 1) || r->pos == r->len)
		return 0;
	nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
	n = nl ? (size_t)(nl - (r->buf + r->pos)) + 1 : r->len - r->pos;
	*eol = nl != NULL;
	*p = r->buf + r->pos;
	r->pos += n;
	r->done += n;
	return n;
}

/* The message being read out of an mbox. */
struct mbox_cur {
	struct qm_buf b; /* CRLF lines */
	size_t blanks;   /* blank lines held back: the last one before a
	                    "From " line is the separator's */
	int open, too_big;
};

static enum qm_err msg_put(struct mbox_cur *mm, const void *p, size_t n)
{
	if (mm->too_big)
		return QM_OK;
	if (qm_buf_append(&mm->b, p, n, NULL) != QM_OK) {
		mm->too_big = 1;
		qm_buf_reset(&mm->b);
	}
	return QM_OK;
}

/* One whole line's start (content without its line end), after the
 * blanks held back. */
static void msg_line_start(struct mbox_cur *mm, const unsigned char *p,
                           size_t n)
{
	for (; mm->blanks; mm->blanks--)
		QM_IGNORE(msg_put(mm, "\r\n", 2));
	QM_IGNORE(msg_put(mm, p, n));
}

/* The message read so far goes to the store (its separator line off). */
static enum qm_err msg_end(struct imp *im, struct mbox_cur *mm,
                           struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	if (!mm->open)
		return QM_OK;
	if (mm->blanks)
		mm->blanks--;
	for (; mm->blanks; mm->blanks--)
		QM_IGNORE(msg_put(mm, "\r\n", 2));
	if (mm->too_big)
		imp_skip(im, "a message is larger than QMail takes");
	else
		rc = imp_one(im, mm->b.data, mm->b.len,
		             mbox_flags(mm->b.data, mm->b.len), err);
	qm_buf_reset(&mm->b);
	mm->open = mm->too_big = 0;
	return rc;
}

/* Reads the messages of an mbox one by one into the store. */
static enum qm_err mbox_read(struct imp *im, FILE *f, uint64_t total,
                             qm_client_progress_fn progress, void *parg,
                             struct qm_error *err)
{
	struct mbox_rd *r = calloc(1, sizeof(*r));
	struct mbox_cur mm;
	enum qm_err rc = QM_OK;
	int line_start = 1, prev_blank = 1, skip_line = 0, eol;
	size_t n;
	const unsigned char *p;

	if (!r)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	r->f = f;
	memset(&mm, 0, sizeof(mm));
	qm_buf_init_secure(&mm.b, QM_CLIENT_MAXMSG);
	while (!rc) {
		if (line_start && rd_fill(r, 5) != 0) {
			rc =
			    qm_error_set(err, QM_ERR_IO, "reading the mbox: %s",
			                 strerror(errno));
			break;
		}
		if (!(n = rd_piece(r, &p, &eol)))
			break;
		if (!line_start) { /* the rest of a long line */
			if (!skip_line) {
				size_t k = n;

				if (eol && --k && p[k - 1] == '\r')
					k--;
				QM_IGNORE(msg_put(&mm, p, k));
				if (eol)
					QM_IGNORE(msg_put(&mm, "\r\n", 2));
			}
		} else if (n >= 5 && memcmp(p, "From ", 5) == 0 && prev_blank) {
			rc = msg_end(im, &mm, err);
			mm.open = 1;
			skip_line = 1;
			if (progress)
				progress(parg, "importing", r->done,
				         total ? total : r->done);
		} else if (!mm.open) {
			rc = qm_error_set(
			    err, QM_ERR_PARSE,
			    "this is not an mbox file (it does not "
			    "start with a \"From \" line)");
		} else {
			size_t k = eol ? n - 1 : n, q = 0;

			skip_line = 0;
			if (eol && k && p[k - 1] == '\r')
				k--;
			/* mboxrd: ">From ", ">>From "... lose one '>' */
			while (q < k && p[q] == '>')
				q++;
			if (q && k - q >= 5 && memcmp(p + q, "From ", 5) == 0) {
				p++;
				k--;
			}
			if (eol && k == 0)
				mm.blanks++;
			else {
				msg_line_start(&mm, p, k);
				if (eol)
					QM_IGNORE(msg_put(&mm, "\r\n", 2));
			}
		}
		if (eol) {
			prev_blank =
			    line_start && (n == 1 || (n == 2 && p[0] == '\r'));
			line_start = 1;
			if (skip_line)
				skip_line = 0;
		} else {
			line_start = 0;
			if (skip_line)
				continue;
		}
	}
	if (!rc)
		rc = msg_end(im, &mm, err);
	if (!rc && ferror(f))
		rc = qm_error_set(err, QM_ERR_IO, "reading the mbox failed");
	qm_buf_free(&mm.b);
	free(r);
	return rc;
}

/* --------------------------------------------------------------- Maildir */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The flags of a Maildir file name ("...:2,FRS"); *trashed for T. */
static unsigned maildir_flags(const char *name, int is_new, int *trashed)
{
	const char *info = strstr(name, ":2,");
	unsigned f = 0;

	*trashed = 0;
	if (is_new || !info)
		return 0;
	for (const char *p = info + 3; *p; p++)
		switch (*p) {
		case 'S':
			f |= QM_FLAG_SEEN;
			break;
		case 'R':
			f |= QM_FLAG_ANSWERED;
			break;
		case 'F':
			f |= QM_FLAG_FLAGGED;
			break;
		case 'D':
			f |= QM_FLAG_DRAFT;
			break;
		case 'P':
			f |= QM_FLAG_FORWARDED;
			break;
		case 'T':
			*trashed = 1;
			break;
		default:
			break;
		}
	return f;
}

/* The names of the files in dir (sorted); *n may be 0. */
static enum qm_err list_files(const char *dir, char ***out, size_t *n,
                              struct qm_error *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT
		           ? QM_OK
		           : qm_error_set(err, QM_ERR_IO, "cannot open %s: %s",
		                          dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 64;
			void *t = nc > IMPORT_FILES
			              ? NULL
			              : reallocarray(v, nc, sizeof(*v));

			if (!t)
				break;
			v = t;
			cap = nc;
		}
		if (!(v[cnt] = strdup(de->d_name)))
			break;
		cnt++;
	}
	closedir(d);
	if (de) {
		qm_store_strv_free(v, cnt);
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "%s holds more files than QMail imports "
		                    "(%u) or memory ran out",
		                    dir, IMPORT_FILES);
	}
	if (cnt)
		qsort(v, cnt, sizeof(*v), name_cmp);
	*out = v;
	*n = cnt;
	return QM_OK;
}

/* LF line ends as CRLF (a lone CR stays), into out. */
static enum qm_err to_crlf(const struct qm_buf *in, struct qm_buf *out,
                           struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	for (size_t i = 0; i < in->len && !rc; i++) {
		if (in->data[i] == '\n' && (i == 0 || in->data[i - 1] != '\r'))
			rc = qm_buf_append_byte(out, '\r', err);
		if (!rc)
			rc = qm_buf_append_byte(out, in->data[i], err);
	}
	return rc;
}

/* One file of a Maildir. */
static enum qm_err maildir_one(struct imp *im, const char *path, unsigned flags,
                               struct qm_error *err)
{
	struct qm_buf raw, crlf;
	struct qm_error e;
	enum qm_err rc;

	qm_buf_init_secure(&raw, QM_CLIENT_MAXMSG);
	qm_buf_init_secure(&crlf, QM_CLIENT_MAXMSG);
	rc = qm_file_read(path, QM_CLIENT_MAXMSG, &raw, &e);
	if (!rc)
		rc = to_crlf(&raw, &crlf, &e);
	if (rc == QM_ERR_TOOBIG) {
		imp_skip(im, "a message is larger than QMail takes");
		rc = QM_OK;
	} else if (rc) {
		if (err)
			*err = e;
	} else
		rc = imp_one(im, crlf.data, crlf.len, flags, err);
	qm_buf_free(&crlf);
	qm_buf_free(&raw);
	return rc;
}

static enum qm_err maildir_read(struct imp *im, const char *path,
                                qm_client_progress_fn progress, void *parg,
                                struct qm_error *err)
{
	char *sub[2] = {NULL, NULL}, **names[2] = {NULL, NULL};
	size_t n[2] = {0, 0}, total, done = 0;
	struct stat sb;
	enum qm_err rc = QM_OK;

	if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return qm_error_set(err, QM_ERR_NOTFOUND, "%s is not a folder",
		                    path);
	for (int k = 0; k < 2 && !rc; k++) {
		if (asprintf(&sub[k], "%s/%s", path, k ? "new" : "cur") < 0) {
			sub[k] = NULL;
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		} else
			rc = list_files(sub[k], &names[k], &n[k], err);
	}
	if (!rc && (stat(sub[0], &sb) != 0 || !S_ISDIR(sb.st_mode)))
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "%s is not a Maildir (it has no cur folder)",
		                  path);
	total = n[0] + n[1];
	for (int k = 0; k < 2 && !rc; k++)
		for (size_t i = 0; i < n[k] && !rc; i++) {
			char *file = NULL;
			int trashed;
			unsigned fl = maildir_flags(names[k][i], k, &trashed);

			if (trashed)
				imp_skip(im, "a message marked deleted (T)");
			else if (asprintf(&file, "%s/%s", sub[k], names[k][i]) <
			         0) {
				file = NULL;
				rc = qm_error_set(err, QM_ERR_NOMEM,
				                  "out of memory");
			} else
				rc = maildir_one(im, file, fl, err);
			free(file);
			if (progress)
				progress(parg, "importing", ++done, total);
		}
	for (int k = 0; k < 2; k++) {
		qm_store_strv_free(names[k], n[k]);
		free(sub[k]);
	}
	return rc;
}

/* ----------------------------------------------------------- the entries */

/* The folder to import into: a local folder, made when missing. */
static enum qm_err imp_start(struct imp *im, struct qm_client *c,
                             int64_t account_id, const char *folder,
                             struct qm_client_import_stats *st,
                             struct qm_error *err)
{
	struct qm_store_account a;
	struct qm_store_folder f;
	enum qm_err rc;

	memset(st, 0, sizeof(*st));
	memset(im, 0, sizeof(*im));
	im->c = c;
	im->acct = account_id;
	im->folder = folder && *folder ? folder : QM_CLIENT_IMPORT_FOLDER;
	im->st = st;
	client_mail_limits(c, &im->lim);
	rc = client_need_unlocked(c, "importing mail", err);
	if (!rc)
		rc = qm_store_account_get(c->store, account_id, &a, err);
	if (rc)
		return rc;
	rc = qm_store_folder_get(c->store, account_id, im->folder, &f, NULL);
	if (rc == QM_ERR_NOTFOUND)
		return client_local_folder_create(c, account_id, im->folder,
		                                  err);
	if (rc)
		return qm_error_set(err, rc, "reading the folder %s",
		                    im->folder);
	rc = f.uidvalidity == CLIENT_LOCAL_VALIDITY
	         ? QM_OK
	         : qm_error_set(err, QM_ERR_EXISTS,
	                        "%s is a folder of the mail server: import "
	                        "into a folder of its own, kept on this "
	                        "computer",
	                        im->folder);
	qm_store_folder_clear(&f);
	return rc;
}

enum qm_err qm_client_import(struct qm_client *c, int64_t account_id,
                             const char *folder, enum qm_client_import_fmt fmt,
                             const char *path, qm_client_progress_fn progress,
                             void *parg, struct qm_client_import_stats *st,
                             struct qm_error *err)
{
	struct imp im;
	struct stat sb;
	enum qm_err rc;
	FILE *f;

	if (!path || !*path)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "give the mbox file or Maildir to import");
	if (fmt != QM_CLIENT_IMPORT_MBOX && fmt != QM_CLIENT_IMPORT_MAILDIR)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "unknown import format %d", (int)fmt);
	rc = imp_start(&im, c, account_id, folder, st, err);
	if (rc)
		return rc;
	if (fmt == QM_CLIENT_IMPORT_MAILDIR)
		return imp_flush(
		    &im, maildir_read(&im, path, progress, parg, err), err);
	if (!(f = fopen(path, "rbe")))
		return qm_error_set(err, QM_ERR_IO, "cannot open %s: %s", path,
		                    strerror(errno));
	if (fstat(fileno(f), &sb) != 0 || S_ISDIR(sb.st_mode)) {
		fclose(f);
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is a folder, not an mbox file", path);
	}
	rc = mbox_read(&im, f, (uint64_t)sb.st_size, progress, parg, err);
	fclose(f);
	return imp_flush(&im, rc, err);
}

enum qm_err qm_client_import_mbox_mem(
    struct qm_client *c, int64_t account_id, const char *folder,
    const void *data, size_t len, qm_client_progress_fn progress, void *parg,
    struct qm_client_import_stats *st, struct qm_error *err)
{
	struct imp im;
	enum qm_err rc;
	FILE *f;

	rc = imp_start(&im, c, account_id, folder, st, err);
	if (rc)
		return rc;
	if (!len)
		return qm_error_set(err, QM_ERR_PARSE, "the mbox is empty");
	f = fmemopen((void *)(uintptr_t)data, len, "rb");
	if (!f)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = mbox_read(&im, f, len, progress, parg, err);
	fclose(f);
	return imp_flush(&im, rc, err);
}
