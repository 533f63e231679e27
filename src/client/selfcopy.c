/* SPDX-License-Identifier: MIT */
/*
 * Copies sealed to the account's own identity (docs/CLIENT.md "Copies
 * sealed to yourself"): the server's Sent copy of a sent message and the
 * server's copy of a draft. The recipients' ciphertext is no use to its
 * sender elsewhere (levels 1 and 2: the keys are spent at both KMEs;
 * levels 3 and 4: sealed to the recipients' keys), so the copy kept on the
 * server is the same protected message sealed again at level 3, from the
 * account's identity to the account's identity: another device of the
 * account, or a home restored from a key backup, opens it with the
 * account's secret key and checks the account's own signature. The outer
 * headers are the message's (From, To, Cc, Date, Message-ID: bound by the
 * envelope as for any QMail message) and a QMail-Copy header that says
 * what it is; the header is not authenticated and decides nothing but
 * which copies on the server are QMail's (recv_own.c opens a copy only
 * when the envelope is the account's own key's, sealed to it).
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first line of a Sent copy's plaintext: the level it was sent at. */
#define COPY_LEVEL_HDR "QMail-Sent-Level"

/* A short lead (the level line), then the plaintext from rd. */
struct lead_rd {
	char lead[64];
	size_t nlead, off;
	qm_read_fn rd;
	void *arg;
};

static enum qm_err lead_read(void *arg, void *buf, size_t want, size_t *got,
                             struct qm_error *err)
{
	struct lead_rd *l = arg;
	size_t n = l->nlead - l->off;

	if (n) {
		if (n > want)
			n = want;
		memcpy(buf, l->lead + l->off, n);
		l->off += n;
		*got = n;
		return QM_OK;
	}
	return l->rd(l->arg, buf, want, got, err);
}

enum qm_err client_self_seal_to(struct qm_client *c, const struct acct_conn *ac,
                                const struct qm_mail_hdrs *h, const char *mark,
                                int level, qm_read_fn rd, void *rarg,
                                uint64_t n, qm_write_fn wr, void *warg,
                                struct qm_error *err)
{
	struct msg_keys mk;
	struct qm_bound b;
	struct bound_store bs = {0};
	struct qm_seal_params sp;
	struct qm_mail_wire w;
	struct qm_mail_wire_w *ww = NULL;
	struct lead_rd l;
	struct qm_buf line;
	enum qm_err rc;

	memset(&l, 0, sizeof(l));
	l.rd = rd;
	l.arg = rarg;
	qm_buf_init(&line, 4096);
	client_msg_keys_init(&mk, 3, NULL);
	rc = client_msg_keys_self(c, ac, &mk, err);
	if (!rc)
		rc = qm_crypto_identity_public(mk.self, &mk.peer[0], err);
	if (!rc) {
		mk.n = 1;
		rc = client_bound_make(h, NULL, &b, &bs, err);
	}
	/* the level the message went at, authenticated with it */
	if (!rc && level)
		l.nlead = (size_t)snprintf(l.lead, sizeof(l.lead), "%s: %d\r\n",
		                           COPY_LEVEL_HDR, level);
	if (!rc)
		rc = qm_buf_appendf(&line, err, "%s: %s\r\n",
		                    QM_CLIENT_COPY_HDR, mark);
	if (!rc)
		rc = wr(warg, line.data, line.len, err);
	if (!rc) {
		memset(&w, 0, sizeof(w));
		w.hdrs = h;
		w.level = 3;
		rc = qm_mail_wire_begin(&w, wr, warg, &ww, err);
	}
	if (!rc) {
		client_msg_keys_seal_params(&mk, &b, &sp);
		rc = qm_crypto_env_seal_to(&sp, n + l.nlead, lead_read, &l,
		                           (uint64_t)QM_CLIENT_MAXMSG * 2 +
		                               1024 * 1024,
		                           qm_mail_wire_write, ww, err);
	}
	if (!rc)
		rc = qm_mail_wire_end(&ww, err);
	qm_mail_wire_abort(&ww);
	if (rc)
		qm_error_prefix(
		    err, "a copy sealed to %s's own key: ", ac->a.address);
	qm_buf_free(&line);
	client_bound_store_free(&bs);
	client_msg_keys_free(&mk);
	return rc;
}

enum qm_err client_self_seal_size(struct qm_client *c,
                                  const struct acct_conn *ac,
                                  const struct qm_mail_hdrs *h,
                                  const char *mark, int level, uint64_t n,
                                  uint64_t *size, struct qm_error *err)
{
	struct msg_keys mk;
	struct qm_bound b;
	struct bound_store bs = {0};
	struct qm_seal_params sp;
	struct qm_mail_wire w;
	char lead[64];
	uint64_t env = 0, wire = 0;
	size_t nlead = 0;
	enum qm_err rc;

	*size = 0;
	client_msg_keys_init(&mk, 3, NULL);
	rc = client_msg_keys_self(c, ac, &mk, err);
	if (!rc)
		rc = qm_crypto_identity_public(mk.self, &mk.peer[0], err);
	if (!rc) {
		mk.n = 1;
		rc = client_bound_make(h, NULL, &b, &bs, err);
	}
	/* what client_self_seal_to writes: the mark line, then the wire
	 * message around the envelope of the level line and the text */
	if (!rc && level)
		nlead = (size_t)snprintf(lead, sizeof(lead), "%s: %d\r\n",
		                         COPY_LEVEL_HDR, level);
	if (!rc) {
		client_msg_keys_seal_params(&mk, &b, &sp);
		rc = qm_crypto_env_size(&sp, n + nlead, &env, err);
	}
	if (!rc) {
		memset(&w, 0, sizeof(w));
		w.hdrs = h;
		w.level = 3;
		rc = qm_mail_wire_size(&w, env, &wire, err);
	}
	if (!rc)
		*size =
		    strlen(QM_CLIENT_COPY_HDR) + 2 + strlen(mark) + 2 + wire;
	client_bound_store_free(&bs);
	client_msg_keys_free(&mk);
	return rc;
}

/* A plaintext in memory as a reader; a qm_buf as a writer. */
struct mem_rd {
	const unsigned char *p;
	size_t n, off;
};

static enum qm_err mem_read(void *arg, void *buf, size_t want, size_t *got,
                            struct qm_error *err)
{
	struct mem_rd *m = arg;
	size_t k = m->n - m->off < want ? m->n - m->off : want;

	(void)err;
	memcpy(buf, m->p + m->off, k);
	m->off += k;
	*got = k;
	return QM_OK;
}

static enum qm_err buf_write(void *arg, const void *p, size_t n,
                             struct qm_error *err)
{
	return qm_buf_append(arg, p, n, err);
}

enum qm_err client_self_seal(struct qm_client *c, const struct acct_conn *ac,
                             const struct qm_mail_hdrs *h, const char *mark,
                             int level, const void *pt, size_t n,
                             struct qm_buf *wire, struct qm_error *err)
{
	struct mem_rd m = {pt, n, 0};

	return client_self_seal_to(c, ac, h, mark, level, mem_read, &m, n,
	                           buf_write, wire, err);
}

int client_self_copy_of(struct qm_client *c, const struct acct_conn *ac,
                        const struct qm_mail_parsed *mp)
{
	struct qm_identity *self = NULL;
	struct qm_pubid *me = NULL;
	struct qm_env *env = NULL;
	unsigned char mine[QM_FPR_BYTES];
	char fpr[QM_FPR_TEXTLEN];
	const unsigned char *efpr;
	size_t slot;
	int yes = 0;

	if (mp->kind == QM_MAIL_KIND_PLAIN ||
	    (mp->level != 3 && mp->level != 4))
		return 0;
	if (client_env_parse(mp, &env, NULL) != QM_OK)
		return 0;
	efpr = qm_crypto_env_sender_fpr(env);
	if (efpr && client_own_identity(c, ac->a.id, &self, NULL) == QM_OK &&
	    qm_crypto_identity_public(self, &me, NULL) == QM_OK) {
		qm_crypto_pubid_fingerprint(me, mine);
		qm_crypto_fpr_text(mine, fpr);
		yes = qm_ct_eq(mine, efpr, sizeof(mine)) == 0 &&
		      qm_crypto_env_slot_find(env, fpr, &slot, NULL) == QM_OK;
	}
	qm_crypto_pubid_free(&me);
	qm_crypto_identity_free(&self);
	qm_crypto_env_free(&env);
	return yes;
}

/* The folder of special use `use` (its wire name), else fallback. */
static enum qm_err special_or(struct qm_mail_imap *im, unsigned use,
                              const char *fallback, char **out,
                              struct qm_error *err)
{
	enum qm_err e = qm_mail_imap_special(im, use, out, err);

	if (e == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		*out = strdup(fallback);
		e = *out ? QM_OK
		         : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	return e;
}

/* Selects folder; one the server refuses to select (it does not exist
 * yet) is no error: *exists 0. */
static enum qm_err select_maybe(struct qm_mail_imap *im, const char *folder,
                                int *exists, struct qm_error *err)
{
	enum qm_err e = qm_mail_imap_select(im, folder, NULL, err);

	*exists = e == QM_OK;
	if (e == QM_ERR_PROTO) {
		qm_error_clear(err);
		e = QM_OK;
	}
	return e;
}

/* Appends the copy cp makes as it goes: a literal of the length measured,
 * filled as the copy is made. A maker that fails or gives another length
 * leaves the APPEND unended: nothing is stored, the session is done. */
static enum qm_err append_made(struct qm_mail_imap *im, const char *folder,
                               const struct keep_copy *cp, struct qm_error *err)
{
	struct qm_mail_imap_append_w *aw = NULL;
	uint64_t len = 0;
	enum qm_err e;

	e = cp->measure(cp->make_arg, &len, err);
	if (!e)
		e = qm_mail_imap_append_begin(im, folder, len, cp->flags, &aw,
		                              err);
	if (!e)
		e = cp->produce(cp->make_arg, qm_mail_imap_append_write, aw,
		                err);
	if (!e)
		e = qm_mail_imap_append_end(&aw, err);
	qm_mail_imap_append_abort(&aw);
	return e;
}

enum qm_err client_keep_copy(struct qm_mail_imap *im,
                             const struct keep_copy *cp, int *saved,
                             size_t *replaced, struct qm_error *err)
{
	char *folder = NULL;
	uint32_t *uids = NULL;
	size_t n = 0;
	int exists = 0;
	enum qm_err e;

	if (saved)
		*saved = 0;
	if (replaced)
		*replaced = 0;
	e = special_or(im, cp->use, cp->fallback, &folder, err);
	if (!e)
		e = select_maybe(im, folder, &exists, err);
	if (!e && exists)
		e = qm_mail_imap_search_headers(im, cp->this_copy, 2, &uids, &n,
		                                err);
	/* no such folder yet (a server without Drafts): made and
	 * subscribed, as other mail programs do; APPEND says what is wrong
	 * if that failed */
	if (!e && !exists)
		QM_IGNORE(qm_mail_imap_folder_create(im, folder, 1, NULL));
	if (!e && n == 0) {
		if (cp->produce)
			e = append_made(im, folder, cp, err);
		else if (cp->src)
			e = qm_mail_imap_append_from(im, folder, cp->src,
			                             cp->flags, err);
		else
			e = qm_mail_imap_append(im, folder, cp->msg, cp->len,
			                        cp->flags, err);
		if (!e && saved)
			*saved = 1;
	}
	free(uids);
	uids = NULL;
	n = 0;
	/* the copies it replaces (the server's own copy of a sent message,
	 * the older versions of a draft) go once it is there */
	if (!e && cp->nreplace && !exists)
		e = select_maybe(im, folder, &exists, err);
	if (!e && cp->nreplace && exists) {
		e = qm_mail_imap_search_headers(im, cp->replaces, cp->nreplace,
		                                &uids, &n, err);
		if (!e && n)
			e = qm_mail_imap_expunge_uids(im, uids, n, err);
		if (!e && replaced)
			*replaced = n;
	}
	free(uids);
	free(folder);
	return e;
}

int client_self_copy_level(struct qm_buf *plain)
{
	static const char lead[] = COPY_LEVEL_HDR ": ";
	const size_t ll = sizeof(lead) - 1;
	int level;

	if (plain->len < ll + 3 || memcmp(plain->data, lead, ll) != 0 ||
	    plain->data[ll] < '1' || plain->data[ll] > '4' ||
	    plain->data[ll + 1] != '\r' || plain->data[ll + 2] != '\n')
		return 0;
	level = plain->data[ll] - '0';
	/* the message as it was sent, without the line */
	memmove(plain->data, plain->data + ll + 3, plain->len - ll - 3);
	plain->len -= ll + 3;
	return level;
}
