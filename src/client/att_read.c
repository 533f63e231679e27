/* SPDX-License-Identifier: MIT */
/*
 * An attachment of a large message read from the vault a piece at a time
 * (issue 18: the GUI's download): the message's plaintext blob is parsed
 * a window at a time (GMime over the blob), and the attachment's part is
 * decoded as it is read, so no copy of the message or the attachment is
 * held whole. A small message kept whole is read from a secure copy of
 * its plaintext (no larger than the blob threshold). The reader has its own
 * handle on the home, so that an interface may read it on the thread that sends
 * it.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

struct qm_client_att_reader {
	struct qm_client *own; /* a clone of the caller's: the reader's */
	struct qm_store_blob_r *r;
	/* a body kept whole (small): read from this secure copy instead */
	struct qm_buf body;
	size_t pos;
	struct qm_mail_src src;
	struct qm_mail_att_src *a;
	struct qm_client_att info;
};

static enum qm_err blob_rd(void *arg, void *buf, size_t want, size_t *got,
                           struct qm_error *err)
{
	return qm_store_blob_read(arg, buf, want, got, err);
}

static enum qm_err blob_seek(void *arg, uint64_t off, struct qm_error *err)
{
	return qm_store_blob_seek(arg, off, err);
}

static enum qm_err mem_rd(void *arg, void *buf, size_t want, size_t *got,
                          struct qm_error *err)
{
	struct qm_client_att_reader *ar = arg;
	size_t n = ar->body.len - ar->pos;

	(void)err;
	if (n > want)
		n = want;
	memcpy(buf, ar->body.data + ar->pos, n);
	ar->pos += n;
	*got = n;
	return QM_OK;
}

static enum qm_err mem_seek(void *arg, uint64_t off, struct qm_error *err)
{
	struct qm_client_att_reader *ar = arg;

	if (off > ar->body.len)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a seek past the end of the message");
	ar->pos = (size_t)off;
	return QM_OK;
}

/* Whether message id has content to show (as qm_client_read decides)
 * and its body is there. */
static enum qm_err att_msg_check(struct qm_client *c, int64_t id,
                                 struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	enum qm_err rc = qm_store_msg_get(c->store, id, &l, err);
	enum qm_store_verify v;

	if (!rc && !l->n)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %lld",
		                  (long long)id);
	if (rc)
		goto out;
	v = l->items[0].verify;
	if (v != QM_VERIFY_OK && v != QM_VERIFY_NOT_QMAIL &&
	    v != QM_VERIFY_UNVERIFIED_SENDER && v != QM_VERIFY_SENT)
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "message %lld has no content to show",
		                  (long long)id);
	else if (l->items[0].body_pending)
		rc = qm_error_set(err, QM_ERR_UNSUPPORTED,
		                  "message %lld is not fetched yet",
		                  (long long)id);
out:
	qm_store_msglist_free(&l);
	return rc;
}

static enum qm_err att_open(struct qm_client *c, int64_t id, size_t n,
                            int sized, struct qm_client_att_reader **out,
                            struct qm_error *err)
{
	struct qm_client_att_reader *ar;
	struct qm_mail_limits lim;
	uint64_t len = 0;
	enum qm_err rc;

	*out = NULL;
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED,
		                    "unlock QMail first: the message is kept "
		                    "in the vault");
	rc = att_msg_check(c, id, err);
	if (rc)
		return rc;
	if (!(ar = calloc(1, sizeof(*ar))))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	qm_buf_init_secure(&ar->body, QM_STORE_MAXBLOB);
	rc = qm_client_clone(c, &ar->own, err);
	if (!rc)
		rc = qm_store_msg_body_open(ar->own->store, id, &ar->r, err);
	if (!rc && !ar->r) /* kept whole: a small message, read from memory */
		rc = qm_store_msg_body(ar->own->store, id, &ar->body, err);
	if (rc)
		goto fail;
	if (ar->r) {
		ar->src.read = blob_rd;
		ar->src.seek = blob_seek;
		ar->src.arg = ar->r;
		ar->src.len = qm_store_blob_size(ar->r);
	} else {
		ar->src.read = mem_rd;
		ar->src.seek = mem_seek;
		ar->src.arg = ar;
		ar->src.len = ar->body.len;
	}
	client_mail_limits(c, &lim);
	rc = qm_mail_att_open_src(&ar->src, &lim, n, &ar->a, &ar->info.name,
	                          &ar->info.type, sized ? &len : NULL, err);
	if (rc == QM_ERR_TOOBIG)
		client_limit_hint(err);
	if (!rc)
		rc = client_att_display(&ar->info, n, err);
	if (rc)
		goto fail;
	ar->info.len = (size_t)len;
	*out = ar;
	return QM_OK;
fail:
	qm_client_att_close(&ar);
	return rc;
}

enum qm_err qm_client_att_open(struct qm_client *c, int64_t id, size_t n,
                               struct qm_client_att_reader **out,
                               struct qm_error *err)
{
	return att_open(c, id, n, 1, out, err);
}

enum qm_err qm_client_att_open_unsized(struct qm_client *c, int64_t id,
                                       size_t n,
                                       struct qm_client_att_reader **out,
                                       struct qm_error *err)
{
	return att_open(c, id, n, 0, out, err);
}

const struct qm_client_att *
qm_client_att_info(const struct qm_client_att_reader *r)
{
	return &r->info;
}

enum qm_err qm_client_att_read(struct qm_client_att_reader *r, void *buf,
                               size_t want, size_t *got, struct qm_error *err)
{
	return qm_mail_att_read(r->a, buf, want, got, err);
}

void qm_client_att_close(struct qm_client_att_reader **pr)
{
	struct qm_client_att_reader *r = pr ? *pr : NULL;

	if (!r)
		return;
	qm_mail_att_close(&r->a); /* reads the blob while it lives */
	qm_store_blob_close(&r->r);
	qm_buf_free(&r->body); /* wiped: a secure buffer */
	qm_client_free(&r->own);
	free(r->info.name);
	free(r->info.type);
	free(r->info.ext);
	free(r->info.cid);
	free(r);
	*pr = NULL;
}
