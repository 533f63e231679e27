/* SPDX-License-Identifier: MIT */
/*
 * Scripted mail servers behind the SMTP, IMAP and POP3 calls of
 * src/mail/mail.h (see fakes.h), for the client engine's unit tests.
 * Mailboxes are found by login name (the account's address): SMTP puts a
 * copy of each message in every recipient's INBOX; IMAP and POP3 read
 * them. What mail.h promises and the engine relies on is kept: UIDs rise
 * and a new UIDVALIDITY makes every message new (with resync set), a
 * message past the session's max_message is QM_ERR_TOOBIG and ends the
 * session, a UID that is gone is QM_ERR_NOTFOUND, POP3 deletions take
 * effect at QUIT, a wrong password is QM_ERR_DENIED. A wait for new mail
 * never sleeps: it answers at once from what the mailbox holds.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fakes.h"
#include "mail/mail.h"

#define MAX_BOXES   8
#define MAX_FOLDERS 12
#define NSTART      5 /* the folders every mailbox starts with */
#define MAX_SENT    64
#define FAIL_MAX    16

struct fm_msg {
	uint32_t uid;
	unsigned flags;
	unsigned char *data;
	size_t len;
	/* a hostile server: what a whole fetch gives instead (NULL: data) */
	unsigned char *alt;
	size_t altlen;
};

struct fm_folder {
	char name[64];
	unsigned attrs; /* QM_MAIL_FOLDER_* */
	uint32_t uidvalidity, uidnext;
	struct fm_msg *v;
	size_t n;
};

struct fm_box {
	char user[256];
	char password[128];
	struct fm_folder f[MAX_FOLDERS];
	size_t nf;
};

unsigned fake_mail_calls[FM_NOPS];
static struct fm_box boxes[MAX_BOXES];
static size_t nboxes;
static struct fm_fail fails[FM_NOPS][FAIL_MAX];
static size_t nfails[FM_NOPS];
static struct {
	void (*fn)(void *arg);
	void *arg;
} hooks[FM_NOPS];
static struct fm_sent sent_log[MAX_SENT];
static size_t nsent;
static uint32_t validity_serial = 1000;

int fake_mail_saves_sent;
int fake_mail_no_uidplus;

static const char *const folder_names[NSTART] = {"INBOX", "Sent", "Trash",
                                                 "Archive", "Junk"};
/* Each folder's special use; Trash and Junk are not subscribed. */
static const unsigned folder_attrs[NSTART] = {
    QM_MAIL_FOLDER_INBOX | QM_MAIL_FOLDER_SUBSCRIBED,
    QM_MAIL_FOLDER_SENT | QM_MAIL_FOLDER_SUBSCRIBED, QM_MAIL_FOLDER_TRASH,
    QM_MAIL_FOLDER_ARCHIVE | QM_MAIL_FOLDER_SUBSCRIBED, QM_MAIL_FOLDER_JUNK};

void fake_mail_reset(void)
{
	for (size_t b = 0; b < nboxes; b++)
		for (size_t f = 0; f < boxes[b].nf; f++) {
			for (size_t i = 0; i < boxes[b].f[f].n; i++) {
				free(boxes[b].f[f].v[i].data);
				free(boxes[b].f[f].v[i].alt);
			}
			free(boxes[b].f[f].v);
		}
	memset(boxes, 0, sizeof(boxes));
	nboxes = 0;
	for (size_t i = 0; i < nsent; i++)
		free(sent_log[i].data);
	memset(sent_log, 0, sizeof(sent_log));
	nsent = 0;
	fake_mail_saves_sent = 0;
	memset(fails, 0, sizeof(fails));
	memset(nfails, 0, sizeof(nfails));
	memset(hooks, 0, sizeof(hooks));
	memset(fake_mail_calls, 0, sizeof(fake_mail_calls));
	fake_mail_no_uidplus = 0;
}

void fake_reset(void)
{
	fake_kms_reset();
	fake_mail_reset();
}

static struct fm_box *box_of(const char *user)
{
	struct fm_box *b;

	for (size_t i = 0; i < nboxes; i++)
		if (strcasecmp(boxes[i].user, user) == 0)
			return &boxes[i];
	if (nboxes == MAX_BOXES)
		abort();
	b = &boxes[nboxes++];
	memset(b, 0, sizeof(*b));
	qm_strlcpy(b->user, user, sizeof(b->user));
	for (size_t f = 0; f < NSTART; f++) {
		qm_strlcpy(b->f[f].name, folder_names[f], sizeof(b->f[f].name));
		b->f[f].attrs = folder_attrs[f];
		b->f[f].uidvalidity = ++validity_serial;
		b->f[f].uidnext = 1;
	}
	b->nf = NSTART;
	return b;
}

static struct fm_folder *folder_of(struct fm_box *b, const char *name)
{
	for (size_t f = 0; f < b->nf; f++)
		if (strcmp(b->f[f].name, name) == 0 ||
		    (strcasecmp(name, "INBOX") == 0 &&
		     strcasecmp(b->f[f].name, name) == 0))
			return &b->f[f];
	return NULL;
}

static uint32_t folder_add(struct fm_folder *f, const void *msg, size_t len,
                           unsigned flags)
{
	struct fm_msg *nv = realloc(f->v, (f->n + 1) * sizeof(*nv));

	if (!nv)
		abort();
	f->v = nv;
	memset(&f->v[f->n], 0, sizeof(f->v[f->n]));
	f->v[f->n].uid = f->uidnext++;
	f->v[f->n].flags = flags;
	f->v[f->n].data = malloc(len ? len : 1);
	if (!f->v[f->n].data)
		abort();
	memcpy(f->v[f->n].data, msg, len);
	f->v[f->n].len = len;
	return f->v[f->n++].uid;
}

static void folder_remove(struct fm_folder *f, size_t i)
{
	free(f->v[i].data);
	free(f->v[i].alt);
	memmove(&f->v[i], &f->v[i + 1], (f->n - i - 1) * sizeof(*f->v));
	f->n--;
}

void fake_mail_hook(enum fm_op op, void (*fn)(void *arg), void *arg)
{
	hooks[op].fn = fn;
	hooks[op].arg = arg;
}

void fake_mail_fail(enum fm_op op, enum qm_err rc, const char *msg,
                    int delivered)
{
	if (nfails[op] == FAIL_MAX)
		abort();
	fails[op][nfails[op]++] = (struct fm_fail){rc, msg, delivered};
}

void fake_mail_password(const char *user, const char *password)
{
	qm_strlcpy(box_of(user)->password, password ? password : "",
	           sizeof(box_of(user)->password));
}

uint32_t fake_mail_deliver(const char *user, const char *folder,
                           const void *msg, size_t len)
{
	struct fm_folder *f = folder_of(box_of(user), folder);

	return f ? folder_add(f, msg, len, 0) : 0;
}

size_t fake_mail_count(const char *user, const char *folder)
{
	struct fm_folder *f = folder_of(box_of(user), folder);

	return f ? f->n : 0;
}

const unsigned char *fake_mail_msg(const char *user, const char *folder,
                                   size_t i, size_t *len)
{
	struct fm_folder *f = folder_of(box_of(user), folder);

	if (!f || i >= f->n)
		return NULL;
	*len = f->v[i].len;
	return f->v[i].data;
}

void fake_mail_drop(const char *user, const char *folder, size_t i)
{
	struct fm_folder *f = folder_of(box_of(user), folder);

	if (f && i < f->n)
		folder_remove(f, i);
}

unsigned fake_mail_flags(const char *user, const char *folder, size_t i)
{
	struct fm_folder *f = folder_of(box_of(user), folder);

	return f && i < f->n ? f->v[i].flags : 0;
}

void fake_mail_set_flags(const char *user, const char *folder, size_t i,
                         unsigned flags)
{
	struct fm_folder *f = folder_of(box_of(user), folder);

	if (f && i < f->n)
		f->v[i].flags = flags;
}

uint32_t fake_mail_move(const char *user, const char *from, size_t i,
                        const char *to)
{
	struct fm_folder *f = folder_of(box_of(user), from);
	struct fm_folder *t = folder_of(box_of(user), to);
	uint32_t uid;

	if (!f || !t || i >= f->n)
		return 0;
	uid = folder_add(t, f->v[i].data, f->v[i].len, f->v[i].flags);
	folder_remove(f, i);
	return uid;
}

void fake_mail_swap_body(const char *user, const char *folder, size_t i,
                         const void *msg, size_t len)
{
	struct fm_folder *f = folder_of(box_of(user), folder);

	if (!f || i >= f->n)
		abort();
	free(f->v[i].alt);
	f->v[i].alt = malloc(len ? len : 1);
	if (!f->v[i].alt)
		abort();
	memcpy(f->v[i].alt, msg, len);
	f->v[i].altlen = len;
}

void fake_mail_renumber(const char *user, const char *folder)
{
	struct fm_folder *f = folder_of(box_of(user), folder);

	if (f)
		f->uidvalidity = ++validity_serial;
}

size_t fake_mail_sent_count(void)
{
	return nsent;
}

const struct fm_sent *fake_mail_sent(size_t i)
{
	return i < nsent ? &sent_log[i] : NULL;
}

/* A call of kind op: counted; a queued failure is taken (*f filled). */
static int arrive(enum fm_op op, struct fm_fail *f)
{
	void (*fn)(void *) = hooks[op].fn;

	fake_mail_calls[op]++;
	if (fn) {
		hooks[op].fn = NULL;
		fn(hooks[op].arg);
	}
	if (!nfails[op])
		return 0;
	*f = fails[op][0];
	memmove(&fails[op][0], &fails[op][1],
	        (nfails[op] - 1) * sizeof(fails[op][0]));
	nfails[op]--;
	return 1;
}

static enum qm_err scripted(const struct fm_fail *f, const char *what,
                            const struct qm_mail_server *srv,
                            struct qm_error *err)
{
	return qm_error_set(err, f->rc, "%s %s:%d: %s", what,
	                    srv->host ? srv->host : "", srv->port,
	                    f->msg ? f->msg : "failed (scripted)");
}

/* The login: the mailbox, or QM_ERR_DENIED for a wrong password. */
static enum qm_err login(const struct qm_mail_server *srv, const char *what,
                         struct fm_box **out, struct qm_error *err)
{
	struct fm_box *b;

	if (!srv->host || !srv->host[0])
		return qm_error_set(err, QM_ERR_INVAL, "%s: no server", what);
	if (!srv->user || !srv->user[0])
		return qm_error_set(err, QM_ERR_INVAL, "%s: no user", what);
	b = box_of(srv->user);
	if (b->password[0] &&
	    (!srv->password || strcmp(srv->password, b->password) != 0))
		return qm_error_set(err, QM_ERR_DENIED,
		                    "%s %s: authentication failed: 535 5.7.8 "
		                    "bad credentials",
		                    what, srv->host);
	*out = b;
	return QM_OK;
}

static size_t max_message(const struct qm_mail_server *srv)
{
	return srv->max_message ? srv->max_message : (size_t)64 << 20;
}

enum qm_err qm_mail_init(struct qm_error *err)
{
	(void)err;
	return QM_OK;
}

/* ---------------------------------------------------------------- SMTP */

enum qm_err qm_mail_smtp_send(const struct qm_mail_server *srv,
                              const char *from, const char *const *rcpts,
                              size_t nrcpt, const void *msg, size_t len,
                              struct qm_error *err)
{
	struct fm_box *b;
	struct fm_fail f = {0};
	struct fm_sent *s;
	int failing = arrive(FM_SMTP_SEND, &f);
	enum qm_err rc;

	rc = login(srv, "SMTP", &b, err);
	if (rc)
		return rc;
	if (nrcpt == 0)
		return qm_error_set(err, QM_ERR_INVAL, "no recipient");
	if (failing && !f.delivered)
		return scripted(&f, "SMTP", srv, err);
	if (nsent == MAX_SENT)
		abort();
	s = &sent_log[nsent++];
	qm_strlcpy(s->from, from, sizeof(s->from));
	s->rcpts[0] = '\0';
	for (size_t i = 0; i < nrcpt; i++) {
		size_t have = strlen(s->rcpts);

		snprintf(s->rcpts + have, sizeof(s->rcpts) - have, "%s%s",
		         i ? "," : "", rcpts[i]);
		fake_mail_deliver(rcpts[i], "INBOX", msg, len);
	}
	if (fake_mail_saves_sent)
		fake_mail_deliver(from, "Sent", msg, len);
	s->data = malloc(len ? len : 1);
	if (!s->data)
		abort();
	memcpy(s->data, msg, len);
	s->len = len;
	if (srv->progress)
		srv->progress(srv->progress_arg, len, len);
	/* delivered, but the "250" never came back */
	return failing ? scripted(&f, "SMTP", srv, err) : QM_OK;
}

/* The message read whole from its source (exactly src->len bytes, as the
 * real upload insists), then as above. */
enum qm_err qm_mail_smtp_send_from(const struct qm_mail_server *srv,
                                   const char *from, const char *const *rcpts,
                                   size_t nrcpt,
                                   const struct qm_mail_source *src,
                                   struct qm_error *err)
{
	unsigned char *msg;
	size_t have = 0, got = 0;
	char probe;
	enum qm_err rc = QM_OK;

	if (!src || !src->read || !src->len || src->len > (256u << 20))
		return qm_error_set(err, QM_ERR_INVAL, "no message");
	msg = malloc((size_t)src->len);
	if (!msg)
		abort();
	while (!rc && have < src->len) {
		rc = src->read(src->arg, msg + have, (size_t)src->len - have,
		               &got, err);
		if (!rc && !got)
			rc = qm_error_set(err, QM_ERR_IO,
			                  "the message ended "
			                  "early");
		have += got;
	}
	if (!rc)
		rc = src->read(src->arg, &probe, 1, &got, err);
	if (!rc && got)
		rc = qm_error_set(err, QM_ERR_IO, "the message is too long");
	if (!rc)
		rc = qm_mail_smtp_send(srv, from, rcpts, nrcpt, msg, have, err);
	free(msg);
	return rc;
}

enum qm_err qm_mail_smtp_check(const struct qm_mail_server *srv,
                               struct qm_error *err)
{
	struct fm_box *b;
	struct fm_fail f;

	if (arrive(FM_SMTP_CHECK, &f))
		return scripted(&f, "SMTP", srv, err);
	return login(srv, "SMTP", &b, err);
}

/* ---------------------------------------------------------------- IMAP */

struct qm_mail_imap {
	const struct qm_mail_server *srv;
	struct fm_box *box;
	struct fm_folder *sel;
	uint32_t seen_next; /* UIDNEXT when selected, for the wait */
	int broken;
	int wake_fd;
	int woken;
};

/*
 * The start of an IMAP call: the session must still be usable (and have
 * a folder selected when need_sel); a call of kind op (FM_NOPS: one that
 * is neither counted nor scripted) is counted and a queued failure is
 * its answer.
 */
static enum qm_err imap_begin(struct qm_mail_imap *im, enum fm_op op,
                              int need_sel, struct qm_error *err)
{
	struct fm_fail f;

	if (im->broken)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP %s: the connection was lost earlier; "
		                    "open a new session",
		                    im->srv->host);
	if (need_sel && !im->sel)
		return qm_error_set(err, QM_ERR_STATE,
		                    "IMAP: no folder selected");
	if (op != FM_NOPS && arrive(op, &f))
		return scripted(&f, "IMAP", im->srv, err);
	return QM_OK;
}

enum qm_err qm_mail_imap_open(const struct qm_mail_server *srv,
                              struct qm_mail_imap **out, struct qm_error *err)
{
	struct qm_mail_imap *im;
	struct fm_box *b;
	struct fm_fail f;
	enum qm_err rc;

	if (arrive(FM_IMAP_OPEN, &f))
		return scripted(&f, "IMAP", srv, err);
	rc = login(srv, "IMAP", &b, err);
	if (rc)
		return rc;
	im = calloc(1, sizeof(*im));
	if (!im)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	im->srv = srv;
	im->box = b;
	im->wake_fd = -1;
	*out = im;
	return QM_OK;
}

void qm_mail_imap_free(struct qm_mail_imap **im)
{
	if (!im || !*im)
		return;
	free(*im);
	*im = NULL;
}

int qm_mail_imap_has_cap(const struct qm_mail_imap *im, const char *cap)
{
	(void)im;
	return strcmp(cap, "IDLE") == 0 || strcmp(cap, "MOVE") == 0 ||
	       (strcmp(cap, "UIDPLUS") == 0 && !fake_mail_no_uidplus);
}

enum qm_err qm_mail_imap_list(struct qm_mail_imap *im,
                              struct qm_mail_folder **out, size_t *n,
                              struct qm_error *err)
{
	struct qm_mail_folder *v;
	size_t nf = im->box->nf;
	enum qm_err rc = imap_begin(im, FM_NOPS, 0, err);

	if (rc)
		return rc;
	v = calloc(nf, sizeof(*v));
	if (!v)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < nf; i++) {
		v[i].name = strdup(im->box->f[i].name);
		v[i].attrs = im->box->f[i].attrs & ~QM_MAIL_FOLDER_SUBSCRIBED;
		if (!v[i].name) {
			qm_mail_folders_free(&v, i);
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		}
	}
	*out = v;
	*n = nf;
	return QM_OK;
}

void qm_mail_folders_free(struct qm_mail_folder **f, size_t n)
{
	if (!f || !*f)
		return;
	for (size_t i = 0; i < n; i++)
		free((*f)[i].name);
	free(*f);
	*f = NULL;
}

enum qm_err qm_mail_imap_special(struct qm_mail_imap *im, unsigned attr,
                                 char **name, struct qm_error *err)
{
	const char *n = attr == QM_MAIL_FOLDER_SENT    ? "Sent"
	                : attr == QM_MAIL_FOLDER_TRASH ? "Trash"
	                : attr == QM_MAIL_FOLDER_INBOX ? "INBOX"
	                                               : NULL;
	enum qm_err rc = imap_begin(im, FM_NOPS, 0, err);

	if (rc)
		return rc;
	if (!n)
		return qm_error_set(err, QM_ERR_NOTFOUND, "no such folder");
	*name = strdup(n);
	return *name ? QM_OK : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
}

enum qm_err qm_mail_imap_select(struct qm_mail_imap *im, const char *folder,
                                struct qm_mail_imap_status *st,
                                struct qm_error *err)
{
	struct fm_folder *f;
	enum qm_err rc = imap_begin(im, FM_IMAP_SELECT, 0, err);

	if (rc)
		return rc;
	f = folder_of(im->box, folder);
	if (!f)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [NONEXISTENT] %s", folder);
	im->sel = f;
	im->seen_next = f->uidnext;
	if (st) {
		st->uidvalidity = f->uidvalidity;
		st->uidnext = f->uidnext;
		st->exists = (uint32_t)f->n;
	}
	return QM_OK;
}

enum qm_err qm_mail_imap_new_uids(struct qm_mail_imap *im,
                                  uint32_t known_uidvalidity, uint32_t last_uid,
                                  uint32_t **uids, size_t *n, int *resync,
                                  struct qm_error *err)
{
	struct fm_folder *f = im->sel;
	uint32_t *v;
	size_t k = 0;
	enum qm_err rc = imap_begin(im, FM_NOPS, 1, err);

	if (rc)
		return rc;
	*resync = 0;
	if (known_uidvalidity != f->uidvalidity) {
		*resync = known_uidvalidity != 0;
		last_uid = 0;
	}
	v = calloc(f->n ? f->n : 1, sizeof(*v));
	if (!v)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].uid > last_uid)
			v[k++] = f->v[i].uid;
	if (!k) {
		free(v);
		v = NULL;
	}
	*uids = v;
	*n = k;
	return QM_OK;
}

static struct fm_msg *by_uid(struct fm_folder *f, uint32_t uid, size_t *at)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].uid == uid) {
			if (at)
				*at = i;
			return &f->v[i];
		}
	return NULL;
}

/* The header block of m (through the blank line). */
static size_t header_len(const struct fm_msg *m)
{
	const unsigned char *e = memmem(m->data, m->len, "\r\n\r\n", 4);

	if (e)
		return (size_t)(e - m->data) + 4;
	e = memmem(m->data, m->len, "\n\n", 2);
	return e ? (size_t)(e - m->data) + 2 : m->len;
}

enum qm_err qm_mail_imap_fetch_headers(struct qm_mail_imap *im, uint32_t uid,
                                       struct qm_buf *out, unsigned *flags,
                                       uint32_t *size, struct qm_error *err)
{
	struct fm_msg *m;
	enum qm_err rc = imap_begin(im, FM_NOPS, 1, err);

	if (rc)
		return rc;
	m = by_uid(im->sel, uid, NULL);
	if (!m)
		return qm_error_set(err, QM_ERR_NOTFOUND, "IMAP: no UID %u",
		                    (unsigned)uid);
	if (flags)
		*flags = m->flags;
	if (size)
		*size = (uint32_t)m->len;
	return qm_buf_append(out, m->data, header_len(m), err);
}

enum qm_err qm_mail_imap_fetch_headers_many(struct qm_mail_imap *im,
                                            const uint32_t *uids, size_t n,
                                            qm_mail_headers_fn fn, void *arg,
                                            struct qm_error *err)
{
	enum qm_err rc = imap_begin(im, FM_NOPS, 1, err);

	for (size_t i = 0; i < n && !rc; i++) {
		struct fm_msg *m = by_uid(im->sel, uids[i], NULL);

		if (m && fn(arg, m->uid, m->flags, (uint32_t)m->len, m->data,
		            header_len(m)))
			rc = qm_error_set(err, QM_ERR_STATE, "fetch stopped");
	}
	return rc;
}

enum qm_err qm_mail_imap_fetch(struct qm_mail_imap *im, uint32_t uid,
                               struct qm_buf *out, struct qm_error *err)
{
	struct fm_msg *m;
	enum qm_err rc = imap_begin(im, FM_IMAP_FETCH, 1, err);

	if (rc)
		return rc;
	m = by_uid(im->sel, uid, NULL);
	if (!m)
		return qm_error_set(err, QM_ERR_NOTFOUND, "IMAP: no UID %u",
		                    (unsigned)uid);
	if (m->len > max_message(im->srv)) {
		/* as libcurl does: the transfer is cut, the session ends */
		im->broken = 1;
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "IMAP: message %u is %zu bytes, more than "
		                    "the limit of %zu",
		                    (unsigned)uid, m->len,
		                    max_message(im->srv));
	}
	if (im->srv->progress)
		im->srv->progress(im->srv->progress_arg, m->len, m->len);
	if (m->alt)
		return qm_buf_append(out, m->alt, m->altlen, err);
	return qm_buf_append(out, m->data, m->len, err);
}

/* As the fetch above, one message after the other (each a call of kind
 * FM_IMAP_FETCH for the scripted failures): a UID gone is skipped. */
enum qm_err qm_mail_imap_fetch_many(struct qm_mail_imap *im,
                                    const uint32_t *uids, size_t n,
                                    qm_mail_msg_fn fn, void *arg,
                                    struct qm_error *err)
{
	struct qm_buf b;
	enum qm_err rc = QM_OK;

	qm_buf_init(&b, max_message(im->srv));
	for (size_t i = 0; i < n && !rc; i++) {
		qm_buf_reset(&b);
		rc = qm_mail_imap_fetch(im, uids[i], &b, err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
			continue;
		}
		if (!rc && fn(arg, uids[i],
		              b.data ? b.data : (unsigned char *)"", b.len))
			rc = qm_error_set(err, QM_ERR_STATE, "fetch stopped");
	}
	qm_buf_free(&b);
	return rc;
}

/* A fetched message given on: past sink->big to the sink in pieces, as
 * the mail layer does (*sunk 1), else into out. */
static enum qm_err fm_deliver(const struct qm_mail_sink *sink,
                              const struct qm_buf *msg, struct qm_buf *out,
                              int *sunk, struct qm_error *err)
{
	enum qm_err rc;

	*sunk = 0;
	if (!sink || msg->len <= sink->big)
		return qm_buf_append(
		    out, msg->data ? msg->data : (const unsigned char *)"",
		    msg->len, err);
	*sunk = 1;
	rc = sink->begin(sink->arg, msg->len, err);
	for (size_t off = 0; !rc && off < msg->len; off += 65536)
		rc = sink->write(
		    sink->arg, msg->data + off,
		    msg->len - off < 65536 ? msg->len - off : 65536, err);
	return rc;
}

enum qm_err qm_mail_imap_fetch_to(struct qm_mail_imap *im, uint32_t uid,
                                  const struct qm_mail_sink *sink,
                                  struct qm_buf *out, int *sunk,
                                  struct qm_error *err)
{
	struct qm_buf b;
	enum qm_err rc;

	*sunk = 0;
	qm_buf_init(&b, max_message(im->srv));
	rc = qm_mail_imap_fetch(im, uid, &b, err);
	if (!rc)
		rc = fm_deliver(sink, &b, out, sunk, err);
	qm_buf_free(&b);
	return rc;
}

enum qm_err qm_mail_imap_fetch_many_to(struct qm_mail_imap *im,
                                       const uint32_t *uids, size_t n,
                                       const struct qm_mail_sink *sink,
                                       qm_mail_msg_fn fn, void *arg,
                                       struct qm_error *err)
{
	struct qm_buf b, o;
	enum qm_err rc = QM_OK;

	qm_buf_init(&b, max_message(im->srv));
	qm_buf_init(&o, max_message(im->srv));
	for (size_t i = 0; i < n && !rc; i++) {
		int sunk = 0;

		qm_buf_reset(&b);
		qm_buf_reset(&o);
		rc = qm_mail_imap_fetch(im, uids[i], &b, err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
			continue;
		}
		if (!rc)
			rc = fm_deliver(sink, &b, &o, &sunk, err);
		if (!rc && fn(arg, uids[i],
		              sunk     ? NULL
		              : o.data ? o.data
		                       : (unsigned char *)"",
		              sunk ? b.len : o.len))
			rc = qm_error_set(err, QM_ERR_STATE, "fetch stopped");
	}
	qm_buf_free(&b);
	qm_buf_free(&o);
	return rc;
}

enum qm_err qm_mail_imap_flags_all(struct qm_mail_imap *im,
                                   struct qm_mail_uid_flags **out, size_t *n,
                                   struct qm_error *err)
{
	struct qm_mail_uid_flags *v;
	enum qm_err rc = imap_begin(im, FM_NOPS, 1, err);

	if (rc)
		return rc;
	v = calloc(im->sel->n ? im->sel->n : 1, sizeof(*v));
	if (!v)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < im->sel->n; i++) {
		v[i].uid = im->sel->v[i].uid;
		v[i].flags = im->sel->v[i].flags;
	}
	*out = v;
	*n = im->sel->n;
	return QM_OK;
}

enum qm_err qm_mail_imap_flags_set(struct qm_mail_imap *im, uint32_t uid,
                                   unsigned flags, int op, struct qm_error *err)
{
	struct fm_msg *m;
	enum qm_err rc = imap_begin(im, FM_NOPS, 1, err);

	if (rc)
		return rc;
	m = by_uid(im->sel, uid, NULL);
	if (!m)
		return qm_error_set(err, QM_ERR_NOTFOUND, "IMAP: no UID %u",
		                    (unsigned)uid);
	m->flags = op > 0   ? m->flags | flags
	           : op < 0 ? m->flags & ~flags
	                    : flags;
	return QM_OK;
}

enum qm_err qm_mail_imap_move(struct qm_mail_imap *im, uint32_t uid,
                              const char *folder, struct qm_error *err)
{
	struct fm_folder *to;
	struct fm_msg *m;
	size_t at = 0;
	enum qm_err rc = imap_begin(im, FM_NOPS, 1, err);

	if (rc)
		return rc;
	to = folder_of(im->box, folder);
	m = by_uid(im->sel, uid, &at);
	if (!to)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [TRYCREATE] %s", folder);
	if (!m)
		return qm_error_set(err, QM_ERR_NOTFOUND, "IMAP: no UID %u",
		                    (unsigned)uid);
	folder_add(to, m->data, m->len, m->flags);
	folder_remove(im->sel, at);
	return QM_OK;
}

enum qm_err qm_mail_imap_delete(struct qm_mail_imap *im, uint32_t uid,
                                struct qm_error *err)
{
	size_t at = 0;
	enum qm_err rc = imap_begin(im, FM_NOPS, 1, err);

	if (rc)
		return rc;
	if (!by_uid(im->sel, uid, &at))
		return qm_error_set(err, QM_ERR_NOTFOUND, "IMAP: no UID %u",
		                    (unsigned)uid);
	folder_remove(im->sel, at);
	return QM_OK;
}

enum qm_err qm_mail_imap_append(struct qm_mail_imap *im, const char *folder,
                                const void *msg, size_t len, unsigned flags,
                                struct qm_error *err)
{
	struct fm_folder *f;
	enum qm_err rc = imap_begin(im, FM_IMAP_APPEND, 0, err);

	if (rc)
		return rc;
	f = folder_of(im->box, folder);
	if (!f)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [TRYCREATE] %s", folder);
	folder_add(f, msg, len, flags);
	return QM_OK;
}

/* The message read whole from its source, then as above. */
enum qm_err qm_mail_imap_append_from(struct qm_mail_imap *im,
                                     const char *folder,
                                     const struct qm_mail_source *src,
                                     unsigned flags, struct qm_error *err)
{
	unsigned char *msg;
	size_t have = 0, got = 0;
	enum qm_err rc = QM_OK;

	if (!src || !src->read || src->len > (256u << 20))
		return qm_error_set(err, QM_ERR_INVAL, "no message");
	msg = malloc(src->len ? (size_t)src->len : 1);
	if (!msg)
		abort();
	while (!rc && have < src->len) {
		rc = src->read(src->arg, msg + have, (size_t)src->len - have,
		               &got, err);
		if (!rc && !got)
			rc = qm_error_set(err, QM_ERR_IO,
			                  "the message ended "
			                  "early");
		have += got;
	}
	if (!rc)
		rc = qm_mail_imap_append(im, folder, msg, have, flags, err);
	free(msg);
	return rc;
}

/* The message gathered whole as its maker gives it, then as above. */
struct qm_mail_imap_append_w {
	struct qm_mail_imap *im;
	char *folder;
	unsigned flags;
	unsigned char *msg;
	uint64_t len, off;
};

enum qm_err qm_mail_imap_append_begin(struct qm_mail_imap *im,
                                      const char *folder, uint64_t len,
                                      unsigned flags,
                                      struct qm_mail_imap_append_w **out,
                                      struct qm_error *err)
{
	struct qm_mail_imap_append_w *aw;

	*out = NULL;
	if (len > (256u << 20))
		return qm_error_set(err, QM_ERR_INVAL, "no message");
	aw = calloc(1, sizeof(*aw));
	if (!aw || !(aw->folder = strdup(folder)) ||
	    !(aw->msg = malloc(len ? (size_t)len : 1)))
		abort();
	aw->im = im;
	aw->flags = flags;
	aw->len = len;
	*out = aw;
	return QM_OK;
}

enum qm_err qm_mail_imap_append_write(void *arg, const void *p, size_t n,
                                      struct qm_error *err)
{
	struct qm_mail_imap_append_w *aw = arg;

	if (n > aw->len - aw->off)
		return qm_error_set(err, QM_ERR_IO, "longer than announced");
	memcpy(aw->msg + aw->off, p, n);
	aw->off += n;
	return QM_OK;
}

void qm_mail_imap_append_abort(struct qm_mail_imap_append_w **awp)
{
	if (!*awp)
		return;
	free((*awp)->folder);
	free((*awp)->msg);
	free(*awp);
	*awp = NULL;
}

enum qm_err qm_mail_imap_append_end(struct qm_mail_imap_append_w **awp,
                                    struct qm_error *err)
{
	struct qm_mail_imap_append_w *aw = *awp;
	enum qm_err rc;

	rc = aw->off != aw->len
	         ? qm_error_set(err, QM_ERR_IO, "the message ended early")
	         : qm_mail_imap_append(aw->im, aw->folder, aw->msg,
	                               (size_t)aw->len, aw->flags, err);
	qm_mail_imap_append_abort(awp);
	return rc;
}

enum qm_err qm_mail_imap_save_sent(struct qm_mail_imap *im, const void *msg,
                                   size_t len, struct qm_error *err)
{
	return qm_mail_imap_append(im, "Sent", msg, len, QM_MAIL_FLAG_SEEN,
	                           err);
}

/* 1 when the header field of m's header block holds value (any case). */
static int header_has(const struct fm_msg *m, const char *field,
                      const char *value)
{
	size_t hl = header_len(m), fl = strlen(field);
	char *h = strndup((const char *)m->data, hl);
	int hit = 0;

	if (!h)
		abort();
	for (char *line = h; line && *line && !hit;) {
		char *next = strchr(line, '\n');

		if (next)
			*next++ = '\0';
		if (strncasecmp(line, field, fl) == 0 && line[fl] == ':' &&
		    strcasestr(line + fl + 1, value))
			hit = 1;
		line = next;
	}
	free(h);
	return hit;
}

enum qm_err qm_mail_imap_search_headers(struct qm_mail_imap *im,
                                        const struct qm_mail_imap_hcrit *h,
                                        size_t nh, uint32_t **uids, size_t *n,
                                        struct qm_error *err)
{
	uint32_t *v;
	size_t k = 0;
	enum qm_err rc = imap_begin(im, FM_NOPS, 1, err);

	if (rc)
		return rc;
	v = calloc(im->sel->n ? im->sel->n : 1, sizeof(*v));
	if (!v)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < im->sel->n; i++) {
		int all = 1;

		for (size_t j = 0; j < nh && all; j++)
			all = !header_has(&im->sel->v[i], h[j].field,
			                  h[j].value) == !!h[j].not ;
		if (all)
			v[k++] = im->sel->v[i].uid;
	}
	if (!k) {
		free(v);
		v = NULL;
	}
	*uids = v;
	*n = k;
	return QM_OK;
}

enum qm_err qm_mail_imap_search_header(struct qm_mail_imap *im,
                                       const char *field, const char *value,
                                       uint32_t **uids, size_t *n,
                                       struct qm_error *err)
{
	struct qm_mail_imap_hcrit h = {field, value, 0};

	return qm_mail_imap_search_headers(im, &h, 1, uids, n, err);
}

enum qm_err qm_mail_imap_save_sent_once(struct qm_mail_imap *im,
                                        const void *msg, size_t len,
                                        const char *message_id, int *saved,
                                        struct qm_error *err)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	enum qm_err rc;

	*saved = 0;
	rc = qm_mail_imap_select(im, "Sent", NULL, err);
	if (!rc)
		rc = qm_mail_imap_search_header(im, "Message-ID", message_id,
		                                &uids, &n, err);
	free(uids);
	if (!rc && n == 0) {
		rc = qm_mail_imap_save_sent(im, msg, len, err);
		*saved = rc == QM_OK;
	}
	return rc;
}

enum qm_err qm_mail_imap_wait(struct qm_mail_imap *im, long timeout_ms,
                              long poll_ms, int *news, struct qm_error *err)
{
	struct pollfd p;
	enum qm_err rc;

	(void)timeout_ms;
	(void)poll_ms;
	*news = 0;
	im->woken = 0;
	rc = imap_begin(im, FM_IMAP_WAIT, 1, err);
	if (rc)
		return rc;
	if (im->sel->uidnext > im->seen_next) {
		im->seen_next = im->sel->uidnext;
		*news = 1;
		return QM_OK;
	}
	p.fd = im->wake_fd;
	p.events = POLLIN;
	if (im->wake_fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
		im->woken = 1;
	return QM_OK;
}

void qm_mail_imap_set_wake(struct qm_mail_imap *im, int fd)
{
	im->wake_fd = fd;
}

int qm_mail_imap_woken(const struct qm_mail_imap *im)
{
	return im->woken;
}

int qm_mail_imap_broken(const struct qm_mail_imap *im)
{
	return !im || im->broken;
}

/* ---------------------------------------------------------------- POP3 */

struct qm_mail_pop3 {
	const struct qm_mail_server *srv;
	struct fm_box *box;
	uint32_t *uids; /* message num i + 1 is uids[i] (a snapshot) */
	int *dele;
	size_t n;
	int broken;
};

enum qm_err qm_mail_pop3_open(const struct qm_mail_server *srv,
                              struct qm_mail_pop3 **out, struct qm_error *err)
{
	struct qm_mail_pop3 *p;
	struct fm_folder *in;
	struct fm_box *b;
	struct fm_fail f;
	enum qm_err rc;

	if (arrive(FM_POP3_OPEN, &f))
		return scripted(&f, "POP3", srv, err);
	rc = login(srv, "POP3", &b, err);
	if (rc)
		return rc;
	in = folder_of(b, "INBOX");
	p = calloc(1, sizeof(*p));
	if (p) {
		p->uids = calloc(in->n ? in->n : 1, sizeof(*p->uids));
		p->dele = calloc(in->n ? in->n : 1, sizeof(*p->dele));
	}
	if (!p || !p->uids || !p->dele) {
		if (p) {
			free(p->uids);
			free(p->dele);
		}
		free(p);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	p->srv = srv;
	p->box = b;
	p->n = in->n;
	for (size_t i = 0; i < in->n; i++)
		p->uids[i] = in->v[i].uid;
	*out = p;
	return QM_OK;
}

void qm_mail_pop3_free(struct qm_mail_pop3 **pp)
{
	struct qm_mail_pop3 *p;
	struct fm_folder *in;

	if (!pp || !*pp)
		return;
	p = *pp;
	in = folder_of(p->box, "INBOX");
	/* QUIT: the deletions take effect (not after a lost connection) */
	for (size_t i = 0; i < p->n && !p->broken; i++) {
		size_t at;

		if (p->dele[i] && by_uid(in, p->uids[i], &at))
			folder_remove(in, at);
	}
	free(p->uids);
	free(p->dele);
	free(p);
	*pp = NULL;
}

enum qm_err qm_mail_pop3_uidl(struct qm_mail_pop3 *p,
                              struct qm_mail_pop3_msg **out, size_t *n,
                              struct qm_error *err)
{
	struct fm_folder *in = folder_of(p->box, "INBOX");
	struct qm_mail_pop3_msg *v;

	if (p->broken)
		return qm_error_set(err, QM_ERR_STATE, "POP3: connection lost");
	v = calloc(p->n ? p->n : 1, sizeof(*v));
	if (!v)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < p->n; i++) {
		v[i].num = (uint32_t)(i + 1);
		snprintf(v[i].uidl, sizeof(v[i].uidl), "%u.%u",
		         (unsigned)in->uidvalidity, (unsigned)p->uids[i]);
	}
	*out = v;
	*n = p->n;
	return QM_OK;
}

enum qm_err qm_mail_pop3_retr(struct qm_mail_pop3 *p, uint32_t num,
                              struct qm_buf *out, struct qm_error *err)
{
	struct fm_folder *in = folder_of(p->box, "INBOX");
	struct fm_msg *m;
	struct fm_fail f;

	if (p->broken)
		return qm_error_set(err, QM_ERR_STATE, "POP3: connection lost");
	if (arrive(FM_POP3_RETR, &f))
		return scripted(&f, "POP3", p->srv, err);
	if (num == 0 || num > p->n || p->dele[num - 1] ||
	    !(m = by_uid(in, p->uids[num - 1], NULL)))
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "POP3: -ERR no such message %u",
		                    (unsigned)num);
	if (m->len > max_message(p->srv)) {
		p->broken = 1;
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "POP3: message %u is %zu bytes, more than "
		                    "the limit of %zu",
		                    (unsigned)num, m->len, max_message(p->srv));
	}
	return qm_buf_append(out, m->data, m->len, err);
}

enum qm_err qm_mail_pop3_retr_to(struct qm_mail_pop3 *p, uint32_t num,
                                 const struct qm_mail_sink *sink,
                                 struct qm_buf *out, int *sunk,
                                 struct qm_error *err)
{
	struct qm_buf b;
	enum qm_err rc;

	*sunk = 0;
	qm_buf_init(&b, max_message(p->srv));
	rc = qm_mail_pop3_retr(p, num, &b, err);
	if (!rc)
		rc = fm_deliver(sink, &b, out, sunk, err);
	qm_buf_free(&b);
	return rc;
}

enum qm_err qm_mail_pop3_dele(struct qm_mail_pop3 *p, uint32_t num,
                              struct qm_error *err)
{
	struct fm_fail f;

	if (p->broken)
		return qm_error_set(err, QM_ERR_STATE, "POP3: connection lost");
	if (arrive(FM_POP3_DELE, &f))
		return scripted(&f, "POP3", p->srv, err);
	if (num == 0 || num > p->n)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "POP3: -ERR no such message %u",
		                    (unsigned)num);
	p->dele[num - 1] = 1;
	return QM_OK;
}

/* ------------------------------------------- IMAP: folders, folder sync */

void qm_mail_imap_folders_free(struct qm_mail_imap_folders **pf)
{
	if (!pf || !*pf)
		return;
	for (size_t i = 0; i < (*pf)->n; i++) {
		free((*pf)->v[i].name);
		free((*pf)->v[i].display);
	}
	free((*pf)->v);
	free(*pf);
	*pf = NULL;
}

enum qm_err qm_mail_imap_folders(struct qm_mail_imap *im, unsigned opts,
                                 struct qm_mail_imap_folders **out,
                                 struct qm_error *err)
{
	struct qm_mail_imap_folders *l;
	enum qm_err rc = imap_begin(im, FM_IMAP_LIST, 0, err);

	(void)opts; /* no counts: the engine does not ask for them */
	if (rc)
		return rc;
	l = calloc(1, sizeof(*l));
	if (l)
		l->v = calloc(im->box->nf, sizeof(*l->v));
	for (size_t i = 0; l && l->v && i < im->box->nf; i++) {
		l->v[i].name = strdup(im->box->f[i].name);
		l->v[i].display = strdup(im->box->f[i].name);
		l->v[i].delim = '/';
		l->v[i].attrs = im->box->f[i].attrs;
		l->n++;
		if (!l->v[i].name || !l->v[i].display)
			break;
	}
	if (!l || !l->v || l->n != im->box->nf || !l->v[l->n - 1].display) {
		qm_mail_imap_folders_free(&l);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	*out = l;
	return QM_OK;
}

/* STATUS of folder f (no HIGHESTMODSEQ: the fake has no CONDSTORE). */
static void counts_of(const struct fm_folder *f, struct qm_mail_imap_counts *k)
{
	memset(k, 0, sizeof(*k));
	k->valid = 1;
	k->messages = (uint32_t)f->n;
	for (size_t i = 0; i < f->n; i++)
		k->unseen += !(f->v[i].flags & QM_MAIL_FLAG_SEEN);
	k->uidnext = f->uidnext;
	k->uidvalidity = f->uidvalidity;
}

/* One round trip for all: counted as one LIST; a folder not there is
 * left invalid. */
enum qm_err qm_mail_imap_folders_status(struct qm_mail_imap *im,
                                        const char *const *names, size_t n,
                                        struct qm_mail_imap_counts *out,
                                        struct qm_error *err)
{
	enum qm_err rc = imap_begin(im, FM_IMAP_LIST, 0, err);

	if (rc)
		return rc;
	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		struct fm_folder *f = folder_of(im->box, names[i]);

		if (f)
			counts_of(f, &out[i]);
	}
	return QM_OK;
}

enum qm_err qm_mail_imap_folder_status(struct qm_mail_imap *im,
                                       const char *name,
                                       struct qm_mail_imap_counts *out,
                                       struct qm_error *err)
{
	struct fm_folder *f;
	enum qm_err rc = imap_begin(im, FM_IMAP_LIST, 0, err);

	if (rc)
		return rc;
	f = folder_of(im->box, name);
	if (!f)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [NONEXISTENT] Mailbox doesn't "
		                    "exist: %s",
		                    name);
	counts_of(f, out);
	return QM_OK;
}

void qm_mail_imap_changes_free(struct qm_mail_imap_changes **c)
{
	if (!c || !*c)
		return;
	free((*c)->added);
	free((*c)->changed);
	free((*c)->vanished);
	free(*c);
	*c = NULL;
}

static const struct qm_mail_uid_flags *
known_uid(const struct qm_mail_imap_known *k, uint32_t uid)
{
	for (size_t i = 0; k && i < k->nmsgs; i++)
		if (k->msgs[i].uid == uid)
			return &k->msgs[i];
	return NULL;
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The full mode of the real call (UID FETCH 1:* FLAGS compared with what
 * the caller knows), which every server allows. */
static void changes_full(const struct fm_folder *f,
                         const struct qm_mail_imap_known *k,
                         struct qm_mail_imap_changes *c)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct qm_mail_uid_flags *h =
		    c->resync ? NULL : known_uid(k, f->v[i].uid);
		struct qm_mail_uid_flags u = {f->v[i].uid, f->v[i].flags};

		if (!h)
			c->added[c->nadded++] = u;
		else if (h->flags != u.flags)
			c->changed[c->nchanged++] = u;
	}
	for (size_t i = 0; !c->resync && k && i < k->nmsgs; i++) {
		int there = 0;

		for (size_t j = 0; j < f->n && !there; j++)
			there = f->v[j].uid == k->msgs[i].uid;
		if (!there && k->msgs[i].uid)
			c->vanished[c->nvanished++] = k->msgs[i].uid;
	}
	qsort(c->vanished, c->nvanished, sizeof(*c->vanished), uid_cmp);
}

enum qm_err qm_mail_imap_folder_sync(struct qm_mail_imap *im,
                                     const char *folder,
                                     const struct qm_mail_imap_known *known,
                                     struct qm_mail_imap_changes **out,
                                     struct qm_error *err)
{
	struct qm_mail_imap_changes *c;
	struct fm_folder *f;
	size_t nk = known ? known->nmsgs : 0;
	enum qm_err rc = imap_begin(im, FM_IMAP_SELECT, 0, err);

	if (rc)
		return rc;
	f = folder_of(im->box, folder);
	if (!f)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [NONEXISTENT] %s", folder);
	im->sel = f;
	im->seen_next = f->uidnext;
	c = calloc(1, sizeof(*c));
	if (c) {
		c->added = calloc(f->n + 1, sizeof(*c->added));
		c->changed = calloc(f->n + 1, sizeof(*c->changed));
		c->vanished = calloc(nk + 1, sizeof(*c->vanished));
	}
	if (!c || !c->added || !c->changed || !c->vanished) {
		qm_mail_imap_changes_free(&c);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	c->st.uidvalidity = f->uidvalidity;
	c->st.uidnext = f->uidnext;
	c->st.exists = (uint32_t)f->n;
	c->st.permanent = QM_MAIL_FLAG_KEYWORDS;
	c->mode = QM_MAIL_IMAP_SYNC_FULL;
	c->resync = known && known->uidvalidity &&
	            known->uidvalidity != f->uidvalidity;
	changes_full(f, known, c);
	*out = c;
	return QM_OK;
}

enum qm_err qm_mail_imap_store(struct qm_mail_imap *im, const uint32_t *uids,
                               size_t n, unsigned add, unsigned remove,
                               struct qm_error *err)
{
	enum qm_err rc = imap_begin(im, FM_IMAP_STORE, 1, err);

	if (rc)
		return rc;
	if (!n || (!add && !remove) || (add & remove) ||
	    ((add | remove) & ~0xffu))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "IMAP: nothing to store, or a flag both "
		                    "added and removed");
	for (size_t i = 0; i < n; i++) {
		struct fm_msg *m = by_uid(im->sel, uids[i], NULL);

		if (m)
			m->flags = (m->flags | add) & ~remove;
	}
	return QM_OK;
}

/* ------------------------------------ IMAP: select, move, copy, folders */

enum qm_err qm_mail_imap_folder_select(struct qm_mail_imap *im,
                                       const char *folder, int read_only,
                                       struct qm_mail_imap_folder_state *st,
                                       struct qm_error *err)
{
	struct fm_folder *f;
	enum qm_err rc = imap_begin(im, FM_IMAP_SELECT, 0, err);

	if (rc)
		return rc;
	im->sel = NULL;
	f = folder_of(im->box, folder);
	if (!f)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [NONEXISTENT] %s", folder);
	im->sel = f;
	im->seen_next = f->uidnext;
	if (st) {
		memset(st, 0, sizeof(*st));
		st->uidvalidity = f->uidvalidity;
		st->uidnext = f->uidnext;
		st->exists = (uint32_t)f->n;
		st->permanent = QM_MAIL_FLAG_KEYWORDS;
		st->read_only = read_only;
	}
	return QM_OK;
}

void qm_mail_imap_uidmap_free(struct qm_mail_imap_uidmap **m)
{
	if (!m || !*m)
		return;
	free((*m)->src);
	free((*m)->dst);
	free(*m);
	*m = NULL;
}

/* UID COPY or UID MOVE of uids[0..n) of the selected folder to folder,
 * with COPYUID pairs unless fake_mail_no_uidplus. */
static enum qm_err copy_or_move(struct qm_mail_imap *im, const uint32_t *uids,
                                size_t n, const char *folder, int move,
                                struct qm_mail_imap_uidmap **map,
                                struct qm_error *err)
{
	struct qm_mail_imap_uidmap *m;
	struct fm_folder *to;
	enum qm_err rc = imap_begin(im, FM_IMAP_MOVE, 1, err);

	if (rc)
		return rc;
	to = folder_of(im->box, folder);
	if (!to)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [TRYCREATE] %s", folder);
	m = calloc(1, sizeof(*m));
	if (m) {
		m->src = calloc(n + 1, sizeof(*m->src));
		m->dst = calloc(n + 1, sizeof(*m->dst));
	}
	if (!m || !m->src || !m->dst) {
		qm_mail_imap_uidmap_free(&m);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		size_t at = 0;
		struct fm_msg *msg = by_uid(im->sel, uids[i], &at);
		uint32_t nu;

		if (!msg)
			continue;
		nu = folder_add(to, msg->data, msg->len, msg->flags);
		if (!fake_mail_no_uidplus) {
			m->src[m->n] = uids[i];
			m->dst[m->n++] = nu;
			m->uidvalidity = to->uidvalidity;
		}
		if (move && to != im->sel)
			folder_remove(im->sel, at);
	}
	if (map)
		*map = m;
	else
		qm_mail_imap_uidmap_free(&m);
	return QM_OK;
}

enum qm_err qm_mail_imap_copy_uids(struct qm_mail_imap *im,
                                   const uint32_t *uids, size_t n,
                                   const char *folder,
                                   struct qm_mail_imap_uidmap **map,
                                   struct qm_error *err)
{
	return copy_or_move(im, uids, n, folder, 0, map, err);
}

enum qm_err qm_mail_imap_move_uids(struct qm_mail_imap *im,
                                   const uint32_t *uids, size_t n,
                                   const char *folder,
                                   struct qm_mail_imap_uidmap **map,
                                   struct qm_error *err)
{
	return copy_or_move(im, uids, n, folder, 1, map, err);
}

enum qm_err qm_mail_imap_expunge_uids(struct qm_mail_imap *im,
                                      const uint32_t *uids, size_t n,
                                      struct qm_error *err)
{
	enum qm_err rc = imap_begin(im, FM_IMAP_EXPUNGE, 1, err);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		size_t at = 0;

		if (by_uid(im->sel, uids[i], &at))
			folder_remove(im->sel, at);
	}
	return QM_OK;
}

enum qm_err qm_mail_imap_folder_create(struct qm_mail_imap *im,
                                       const char *name, int subscribe,
                                       struct qm_error *err)
{
	struct fm_box *b = im->box;
	struct fm_folder *f;
	enum qm_err rc = imap_begin(im, FM_IMAP_FOLDER, 0, err);

	if (rc)
		return rc;
	if (folder_of(b, name))
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [ALREADYEXISTS] Mailbox already "
		                    "exists");
	if (b->nf == MAX_FOLDERS || strlen(name) >= sizeof(b->f[0].name))
		abort();
	f = &b->f[b->nf++];
	memset(f, 0, sizeof(*f));
	qm_strlcpy(f->name, name, sizeof(f->name));
	f->attrs = subscribe ? QM_MAIL_FOLDER_SUBSCRIBED : 0;
	f->uidvalidity = ++validity_serial;
	f->uidnext = 1;
	return QM_OK;
}

/* name is from, or under it (from/...). */
static int under(const char *name, const char *from)
{
	size_t n = strlen(from);

	return strcmp(name, from) == 0 ||
	       (strncmp(name, from, n) == 0 && name[n] == '/');
}

enum qm_err qm_mail_imap_folder_rename(struct qm_mail_imap *im,
                                       const char *from, const char *to,
                                       struct qm_error *err)
{
	struct fm_box *b = im->box;
	enum qm_err rc = imap_begin(im, FM_IMAP_FOLDER, 0, err);

	if (rc)
		return rc;
	if (strcasecmp(from, "INBOX") == 0)
		return qm_error_set(err, QM_ERR_INVAL, "INBOX stays");
	if (!folder_of(b, from))
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [NONEXISTENT] %s", from);
	if (folder_of(b, to))
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [ALREADYEXISTS] %s", to);
	for (size_t i = 0; i < b->nf; i++) {
		char nn[sizeof(b->f[i].name)];

		if (!under(b->f[i].name, from))
			continue;
		snprintf(nn, sizeof(nn), "%s%s", to,
		         b->f[i].name + strlen(from));
		qm_strlcpy(b->f[i].name, nn, sizeof(b->f[i].name));
	}
	im->sel = NULL;
	return QM_OK;
}

enum qm_err qm_mail_imap_folder_delete(struct qm_mail_imap *im,
                                       const char *name, struct qm_error *err)
{
	struct fm_box *b = im->box;
	struct fm_folder *f;
	size_t i;
	enum qm_err rc = imap_begin(im, FM_IMAP_FOLDER, 0, err);

	if (rc)
		return rc;
	if (strcasecmp(name, "INBOX") == 0)
		return qm_error_set(err, QM_ERR_INVAL, "INBOX stays");
	f = folder_of(b, name);
	if (!f)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [NONEXISTENT] %s", name);
	i = (size_t)(f - b->f);
	for (size_t k = 0; k < f->n; k++)
		free(f->v[k].data);
	free(f->v);
	memmove(&b->f[i], &b->f[i + 1], (b->nf - i - 1) * sizeof(b->f[0]));
	b->nf--;
	im->sel = NULL;
	return QM_OK;
}

enum qm_err qm_mail_imap_folder_subscribe(struct qm_mail_imap *im,
                                          const char *name, int on,
                                          struct qm_error *err)
{
	struct fm_folder *f;
	enum qm_err rc = imap_begin(im, FM_IMAP_FOLDER, 0, err);

	if (rc)
		return rc;
	f = folder_of(im->box, name);
	if (!f)
		return qm_error_set(err, QM_ERR_PROTO,
		                    "IMAP: NO [NONEXISTENT] %s", name);
	f->attrs = on ? f->attrs | QM_MAIL_FOLDER_SUBSCRIBED
	              : f->attrs & ~QM_MAIL_FOLDER_SUBSCRIBED;
	return QM_OK;
}

int fake_mail_has_folder(const char *user, const char *folder)
{
	return folder_of(box_of(user), folder) != NULL;
}

/* ------------------------------------------------ IMAP: search, summaries */

enum qm_err qm_mail_imap_search(struct qm_mail_imap *im,
                                const struct qm_mail_imap_query *q,
                                uint32_t **uids, size_t *n,
                                struct qm_error *err)
{
	struct fm_folder *f;
	uint32_t *v;
	size_t k = 0;
	enum qm_err rc = imap_begin(im, FM_IMAP_SEARCH, 1, err);

	if (rc)
		return rc;
	if (!q->text || !*q->text)
		return qm_error_set(err, QM_ERR_INVAL, "IMAP: empty search");
	f = im->sel;
	v = calloc(f->n ? f->n : 1, sizeof(*v));
	if (!v)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < f->n; i++) {
		char *t = strndup((const char *)f->v[i].data, f->v[i].len);

		if (!t)
			abort();
		if (strcasestr(t, q->text))
			v[k++] = f->v[i].uid;
		free(t);
	}
	if (!k) {
		free(v);
		v = NULL;
	}
	*uids = v;
	*n = k;
	return QM_OK;
}

/* The value of header field name of m into out (n bytes), "" if none. */
static void field_of(const struct fm_msg *m, const char *name, char *out,
                     size_t n)
{
	size_t hl = header_len(m), fl = strlen(name);
	char *h = strndup((const char *)m->data, hl);

	if (!h)
		abort();
	out[0] = '\0';
	for (char *line = h; line && *line;) {
		char *next = strchr(line, '\n');

		if (next)
			*next++ = '\0';
		if (strncasecmp(line, name, fl) == 0 && line[fl] == ':') {
			char *v = line + fl + 1;

			v += strspn(v, " \t");
			qm_strlcpy(out, v, n);
			out[strcspn(out, "\r")] = '\0';
			break;
		}
		line = next;
	}
	free(h);
}

enum qm_err qm_mail_imap_fetch_summaries(struct qm_mail_imap *im,
                                         const uint32_t *uids, size_t n,
                                         qm_mail_summary_fn fn, void *arg,
                                         struct qm_error *err)
{
	size_t done = 0;
	enum qm_err rc = imap_begin(im, FM_IMAP_SUMMARY, 1, err);

	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct fm_msg *m = by_uid(im->sel, uids[i], NULL);
		struct qm_mail_imap_summary s;
		char subj[256], from[256], mid[256];

		if (!m)
			continue;
		field_of(m, "Subject", subj, sizeof(subj));
		field_of(m, "From", from, sizeof(from));
		field_of(m, "Message-ID", mid, sizeof(mid));
		memset(&s, 0, sizeof(s));
		s.uid = m->uid;
		s.flags = m->flags;
		s.size = (uint32_t)m->len;
		s.subject = subj;
		s.from = from;
		s.message_id = mid;
		s.to = s.cc = s.in_reply_to = s.references = s.content_type =
		    "";
		/* the whole header block: a real server sends the fields
		 * asked for, QMail's among them */
		s.hdr = m->data;
		s.hdrlen = header_len(m);
		if (s.hdrlen > ((size_t)1 << 20)) {
			/* as the real reader: refused before it is read, the
			 * session broken (src/mail/mail.h) */
			im->broken = 1;
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "IMAP: a header block of %zu bytes "
			                    "is more than 1 MiB",
			                    s.hdrlen);
		}
		if (fn(arg, &s, ++done, n))
			return qm_error_set(err, QM_ERR_STATE,
			                    "IMAP: fetch stopped");
	}
	return QM_OK;
}

/* --------------------------------------------------------- HTTPS and DNS */

/* The engine's unit tests have no network: discovery beyond the provider
 * registry finds nothing (tests/integration/discover_*.c use real DNS and
 * HTTPS servers), and the OAuth2 sign-in is tested against the real
 * authorization server (tests/integration/oauth_flow.c). */
enum qm_err qm_mail_https_request(const struct qm_mail_https_req *req,
                                  struct qm_buf *out, long *status,
                                  char *location, size_t n,
                                  struct qm_error *err)
{
	(void)out;
	*status = 0;
	if (location && n)
		location[0] = '\0';
	return qm_error_set(err, QM_ERR_NET, "%s: no network in unit tests",
	                    req->url ? req->url : "");
}

enum qm_err qm_mail_dns_srv(const char *server, const char *name,
                            struct qm_mail_srv *out, size_t max, size_t *n,
                            struct qm_error *err)
{
	(void)server;
	(void)out;
	(void)max;
	*n = 0;
	return qm_error_set(err, QM_ERR_NOTFOUND, "no SRV record for %s", name);
}

enum qm_err qm_mail_dns_mx(const char *server, const char *domain,
                           char (*out)[QM_MAIL_DNS_NAMEMAX], size_t max,
                           size_t *n, struct qm_error *err)
{
	(void)server;
	(void)out;
	(void)max;
	*n = 0;
	return qm_error_set(err, QM_ERR_NOTFOUND, "no MX record for %s",
	                    domain);
}

enum qm_err qm_mail_dns_a(const char *server, const char *host, char *out,
                          size_t n, struct qm_error *err)
{
	(void)server;
	(void)out;
	(void)n;
	return qm_error_set(err, QM_ERR_NOTFOUND, "no A record for %s", host);
}

/* ------------------------------------- OAuth2's loopback: not scripted */

enum qm_err qm_mail_loopback_open(struct qm_mail_loopback **out, int *port,
                                  struct qm_error *err)
{
	*out = NULL;
	*port = 0;
	return qm_error_set(err, QM_ERR_UNSUPPORTED, "no network in the fake");
}

enum qm_err qm_mail_loopback_accept(struct qm_mail_loopback *lb,
                                    long timeout_ms, int wake_fd,
                                    struct qm_mail_loopback_req *req,
                                    struct qm_error *err)
{
	(void)lb;
	(void)timeout_ms;
	(void)wake_fd;
	req->fd = -1;
	return qm_error_set(err, QM_ERR_UNSUPPORTED, "no network in the fake");
}

int qm_mail_loopback_param(const struct qm_mail_loopback_req *req,
                           const char *name, char *out, size_t outlen)
{
	(void)req;
	(void)name;
	(void)out;
	(void)outlen;
	return 0;
}

void qm_mail_loopback_reply(struct qm_mail_loopback_req *req, int status,
                            const char *html)
{
	(void)status;
	(void)html;
	req->fd = -1;
}

void qm_mail_loopback_req_wipe(struct qm_mail_loopback_req *req)
{
	qm_wipe(req, sizeof(*req));
	req->fd = -1;
}

void qm_mail_loopback_free(struct qm_mail_loopback **lb)
{
	if (lb)
		*lb = NULL;
}
