/* SPDX-License-Identifier: MIT */
/*
 * The send path (docs/ARCHITECTURE.md invariant 7). A message is built,
 * sealed into the outbox before any network step, then moved along the
 * outbox states: PENDING (plaintext in the vault) -> keys fetched and their
 * IDs recorded (ENCRYPTING) -> ciphertext stored (QUEUED) -> SMTP (SENDING)
 * -> SENT, or RETRYING later with the same ciphertext. Keys are used for one
 * message only, even when sending fails; a crash between fetching keys and
 * storing the ciphertext burns those key IDs and the message is encrypted
 * afresh. Everything that can fail without the KME is checked before the
 * message enters the outbox and again before each key fetch (levels.c), so
 * that keys are fetched only for a message that can be sealed and sent; what
 * fails such a check fails for good (with the reason), what fails on the way
 * (the KME, the network, the disk) waits for a retry with a back-off.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* From this size of ciphertext on, the copy for Sent is uploaded beside
 * the SMTP upload instead of after it (sentcopy.c, client_sent_copy_beside) */
#define SENT_BESIDE_MIN (256u * 1024u)
#define RETRY_FIRST_S 60
#define RETRY_MAX_S 3600
#define MAX_RCPTS QM_CLIENT_MAXRCPTS

struct progress {
	qm_client_progress_fn fn;
	void *arg;
	const char *what;
};

static void on_mail_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;

	if (p->fn)
		p->fn(p->arg, p->what, done, total);
}

/* The recipients of an outbox entry: bare addresses, each once (an entry
 * an older QMail queued may name one person twice). */
static enum qm_err entry_rcpts(const char *list, struct rcpts *r,
                               struct qm_error *err)
{
	char **v = NULL;
	size_t n = 0;
	enum qm_err rc = qm_mail_addr_specs(list, &v, &n, err);

	for (size_t i = 0; i < n && !rc; i++)
		rc = client_rcpts_add(r, v[i], NULL, err);
	qm_mail_strv_free(&v, n);
	return rc;
}

/* How encrypting an entry failed. */
enum enc_fail {
	ENC_TRANSIENT = 0, /* the KME, the network, the disk: try later */
	ENC_PERMANENT,     /* a check before the KME: waiting will not help */
	ENC_KME_REFUSED,   /* the KME answered no to the key request */
};

/* The header values an outbox entry's envelope binds: from its sealed
 * record, or (an entry an older QMail queued) from its MIME. */
struct entry_hdrs {
	struct outbox_rec rec;
	struct qm_mail_content *mc;
	const struct qm_mail_hdrs *h; /* into rec or mc */
};

static void entry_hdrs_free(struct entry_hdrs *eh)
{
	client_outbox_rec_clear(&eh->rec);
	qm_mail_content_free(&eh->mc);
	eh->h = NULL;
}

/* Parses only the header block of the protected message, so that the
 * attachments are not decoded a second time. */
static enum qm_err parse_headers(const unsigned char *p, size_t n,
                                 struct qm_mail_content **out,
                                 struct qm_error *err)
{
	const unsigned char *end = memmem(p, n, "\r\n\r\n", 4);
	size_t len = end ? (size_t)(end - p) + 4 : n;

	if (!end) {
		end = memmem(p, n, "\n\n", 2);
		len = end ? (size_t)(end - p) + 2 : n;
	}
	return qm_mail_content_parse(p, len, NULL, out, err);
}

/*
 * The header values of entry o into eh. The level in the sealed record is
 * the one the message was written at: an entry whose level column says
 * another was changed on disk (QM_ERR_STATE), and goes at neither.
 */
static enum qm_err entry_hdrs_get(struct qm_client *c,
                                  const struct qm_store_outbox *o,
                                  struct entry_hdrs *eh, struct qm_error *err)
{
	struct qm_buf b;
	enum qm_err rc;

	memset(eh, 0, sizeof(*eh));
	qm_buf_init_secure(&b, 1 << 20);
	rc = qm_store_outbox_bound(c->store, o->id, &b, err);
	if (!rc)
		rc = client_outbox_rec_decode(b.data, b.len, &eh->rec, err);
	qm_buf_free(&b);
	if (rc == QM_ERR_NOTFOUND) {
		/* an entry without a record (queued by a QMail older than
		 * schema 5): its headers from its plaintext, read whole */
		qm_error_clear(err);
		qm_buf_init_secure(&b, QM_CLIENT_MAXMSG);
		rc = qm_store_outbox_plaintext(c->store, o->id, &b, err);
		if (!rc)
			rc = parse_headers(b.data, b.len, &eh->mc, err);
		qm_buf_free(&b);
		if (!rc)
			eh->h = &eh->mc->hdrs;
		return rc;
	}
	if (!rc && eh->rec.level != o->level)
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "its level was changed on disk outside QMail "
		                  "(level %d in the outbox, level %d when the "
		                  "message was written): cancel it and write "
		                  "it again",
		                  o->level, eh->rec.level);
	if (!rc)
		eh->h = &eh->rec.h;
	return rc;
}

/* Records the sends that went out while the store could not say so. */
static enum qm_err unrecorded_flush(struct qm_client *c, struct qm_error *err)
{
	while (c->nunrecorded) {
		int64_t id = c->unrecorded[c->nunrecorded - 1];
		struct qm_error e;
		enum qm_err rc;

		qm_error_clear(&e);
		rc = qm_store_outbox_sent(c->store, id, "250 accepted", &e);
		if (rc && rc != QM_ERR_STATE && rc != QM_ERR_NOTFOUND) {
			if (err)
				*err = e;
			qm_error_prefix(err, "outbox message %lld was sent but "
			                     "cannot be recorded yet: ",
			                (long long)id);
			return rc;
		}
		c->nunrecorded--;
	}
	return QM_OK;
}

/*
 * Takes the home's outbox lock and brings the outbox back to a consistent
 * state: under the lock, an entry left ENCRYPTING or SENDING belongs to no
 * living process (each step to those states is undone or completed before
 * the lock is let go), so recovering cannot take over another process's
 * message in flight. A send whose success could not be recorded (disk
 * full) is recorded first, so it is not sent twice.
 */
static enum qm_err outbox_lock_within(struct qm_client *c, int timeout_s,
                                      int *fd, struct qm_error *err)
{
	enum qm_err rc;

	rc = client_home_lock(c, QM_LOCK_OUTBOX, timeout_s, "work the outbox",
	                      fd, err);
	if (rc)
		return rc;
	rc = unrecorded_flush(c, err);
	if (!rc)
		rc = client_sentlog_flush(c, NULL, err);
	if (!rc)
		rc = qm_store_outbox_recover(c->store, NULL, err);
	if (rc) {
		client_home_unlock(fd);
		return rc;
	}
	/* a disk that is full already leaves only the in-memory list for a
	 * send that cannot be recorded: not a reason to hold mail back */
	QM_IGNORE(client_sentlog_prepare(c, NULL));
	return QM_OK;
}

static enum qm_err outbox_lock(struct qm_client *c, int *fd,
                               struct qm_error *err)
{
	return outbox_lock_within(c, 600, fd, err);
}

/* How a failure of client_msg_keys_seal at stage counts for the entry. */
static enum enc_fail keys_fail(enum keys_stage stage, enum qm_err rc)
{
	if (stage == KEYS_LOCAL)
		/* the keyring says no for good, unless the store failed */
		return rc == QM_ERR_IO || rc == QM_ERR_NOMEM ||
		               rc == QM_ERR_LOCKED
		           ? ENC_TRANSIENT
		           : ENC_PERMANENT;
	if (stage == KEYS_KME && (rc == QM_ERR_UNAVAIL || rc == QM_ERR_PROTO))
		return ENC_KME_REFUSED;
	return ENC_TRANSIENT;
}

/*
 * What can be known of a PENDING entry without the KME (none of it gets
 * better by waiting, *how = ENC_PERMANENT, but for the store failing):
 * its header values eh, its recipients rs (bare, each once), each one's floor,
 * SAE ID (into sae, levels 1, 2) and public key; b the values its envelope
 * binds (bs holds them).
 */
static enum qm_err entry_check(struct qm_client *c, const struct acct_conn *ac,
                               const struct qm_store_outbox *o,
                               struct entry_hdrs *eh, struct rcpts *rs,
                               char (*sae)[QM_STORE_NAMEMAX],
                               const char *sender_sae, struct qm_bound *b,
                               struct bound_store *bs, enum enc_fail *how,
                               struct qm_error *err)
{
	enum qm_err rc;

	*how = ENC_PERMANENT;
	rc = entry_hdrs_get(c, o, eh, err);
	if (!rc)
		rc = entry_rcpts(o->recipients, rs, err);
	if (!rc && rs->n > MAX_RCPTS)
		rc = qm_error_set(err, QM_ERR_TOOBIG, "more than %d recipients",
		                  MAX_RCPTS);
	if (!rc)
		rc = client_copy_check(c, ac, o->level,
		                       (const char *const *)rs->v, rs->n, sae,
		                       NULL, err);
	if (!rc)
		rc = client_bound_make(eh->h, sender_sae, b, bs, err);
	if (rc == QM_ERR_IO || rc == QM_ERR_NOMEM || rc == QM_ERR_LOCKED)
		*how = ENC_TRANSIENT; /* the store, not the message */
	return rc;
}

/* The entry's ciphertext blob as the sink of its wire message. */
static enum qm_err ct_sink(void *arg, const void *p, size_t n,
                           struct qm_error *err)
{
	return qm_store_outbox_w_write(arg, p, n, err);
}

/*
 * Seals the plaintext read from pt under mk into the wire message that is
 * stored as the entry's ciphertext (ENCRYPTING -> QUEUED), a piece at a
 * time: the identity header, the outer MIME around the base64 of the
 * envelope as it is made. mk is done with after it.
 */
static enum qm_err entry_seal(struct qm_client *c, const struct acct_conn *ac,
                              const struct qm_store_outbox *o,
                              struct qm_store_outbox_r *pt, struct msg_keys *mk,
                              const struct qm_bound *b,
                              const struct qm_mail_hdrs *h,
                              struct qm_error *err)
{
	struct qm_store_outbox_w *ct = NULL;
	struct qm_mail_wire_w *ww = NULL;
	struct qm_seal_params sp;
	struct qm_mail_wire w;
	struct qm_buf idh;
	enum qm_err rc;

	qm_buf_init(&idh, 64 * 1024);
	client_msg_keys_seal_params(mk, b, &sp);
	memset(&w, 0, sizeof(w));
	w.hdrs = h;
	w.level = o->level;
	w.key_ids = mk->nids ? mk->ids : NULL;
	w.nkey_ids = mk->nids;
	w.sender_sae = mk->sae;
	rc = client_idhdr_make(c, ac, h->from, &idh, err);
	if (!rc)
		rc = qm_store_outbox_ct_begin(c->store, o->id, &ct, err);
	if (!rc && idh.len)
		rc = qm_store_outbox_w_write(ct, idh.data, idh.len, err);
	if (!rc)
		rc = qm_mail_wire_begin(&w, ct_sink, ct, &ww, err);
	if (!rc)
		rc = qm_crypto_env_seal_to(
		    &sp, qm_store_outbox_r_size(pt), qm_store_outbox_r_read, pt,
		    (uint64_t)QM_CLIENT_MAXMSG * 2 + 1024 * 1024,
		    qm_mail_wire_write, ww, err);
	if (!rc)
		rc = qm_mail_wire_end(&ww, err);
	/* the key bytes are done with */
	client_msg_keys_free(mk);
	if (!rc)
		rc = qm_store_outbox_ct_end(&ct, err);
	qm_mail_wire_abort(&ww);
	qm_store_outbox_w_abort(&ct);
	qm_buf_free(&idh);
	return rc;
}

/* Takes the outbox lock (*lockfd) and reads entry id under it: another
 * process may have moved it on. On failure the lock is let go. */
static enum qm_err entry_lock_get(struct qm_client *c, int64_t id,
                                  struct qm_store_outbox *o, int *lockfd,
                                  struct qm_error *err)
{
	enum qm_err rc;

	memset(o, 0, sizeof(*o));
	rc = outbox_lock(c, lockfd, err);
	if (rc)
		return rc;
	rc = qm_store_outbox_get(c->store, id, o, err);
	if (rc)
		client_home_unlock(lockfd);
	return rc;
}

/*
 * The checks of a PENDING plain entry (level 0): its sealed record, with
 * the recipients the sender chose plain for (an entry whose recipients
 * were changed on disk, or one without a record, never goes plain); each
 * of them still one QMail knows nothing of; no floor set since.
 */
static enum qm_err plain_check(struct qm_client *c, const struct acct_conn *ac,
                               const struct qm_store_outbox *o,
                               struct rcpts *rs, struct qm_error *err)
{
	struct entry_hdrs eh;
	enum qm_err rc;

	rc = entry_hdrs_get(c, o, &eh, err);
	if (!rc && (eh.mc || !eh.rec.rcpts ||
	            strcmp(eh.rec.rcpts, o->recipients) != 0))
		rc = qm_error_set(
		    err, QM_ERR_STATE,
		    "its recipients were changed on disk outside "
		    "QMail (an unencrypted message goes only to "
		    "the recipients it was written for): cancel it "
		    "and write it again");
	entry_hdrs_free(&eh);
	if (!rc)
		rc = entry_rcpts(o->recipients, rs, err);
	for (size_t i = 0; i < rs->n && !rc; i++) {
		int plain = 0;

		rc = client_rcpt_plain_only(c, ac, rs->v[i], &plain, err);
		if (!rc && !plain)
			rc = qm_error_set(
			    err, QM_ERR_STATE,
			    "%s can now get an encrypted message (a public key "
			    "or an SAE ID is known for it): it is not sent "
			    "unencrypted; cancel this message and write it "
			    "again",
			    rs->v[i]);
	}
	if (!rc)
		rc = client_plain_allowed(c, ac, rs, NULL, err);
	return rc;
}

/* A PENDING plain entry (level 0) into QUEUED: its "ciphertext" is the
 * message itself, as the sender chose for it. */
static enum qm_err entry_plain(struct qm_client *c, struct acct_conn *ac,
                               const struct qm_store_outbox *o,
                               enum enc_fail *how, struct qm_error *err)
{
	struct qm_store_outbox_r *pt = NULL;
	struct qm_store_outbox_w *ct = NULL;
	struct rcpts rs = {NULL, 0};
	unsigned char *buf = NULL;
	size_t got = 0;
	enum qm_err rc;

	*how = ENC_TRANSIENT;
	rc = plain_check(c, ac, o, &rs, err);
	if (rc) {
		if (rc != QM_ERR_IO && rc != QM_ERR_NOMEM &&
		    rc != QM_ERR_LOCKED)
			*how = ENC_PERMANENT;
		goto out;
	}
	buf = qm_sec_alloc(QM_STORE_BLOB_CHUNK);
	if (!buf) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
		goto out;
	}
	rc = qm_store_outbox_open(c->store, o->id, 0, &pt, err);
	if (!rc)
		rc = qm_store_outbox_reserve(c->store, o->id, NULL, 0, err);
	if (!rc)
		rc = qm_store_outbox_ct_begin(c->store, o->id, &ct, err);
	/* copied a chunk at a time: the message goes as it was written */
	while (!rc) {
		rc = qm_store_outbox_r_read(pt, buf, QM_STORE_BLOB_CHUNK, &got,
		                            err);
		if (rc || !got)
			break;
		rc = qm_store_outbox_w_write(ct, buf, got, err);
	}
	if (!rc)
		rc = qm_store_outbox_ct_end(&ct, err);
out:
	qm_store_outbox_w_abort(&ct);
	qm_store_outbox_r_close(&pt);
	qm_sec_free(buf);
	client_rcpts_free(&rs);
	return rc;
}

/*
 * Encrypts a PENDING entry: checks, keys, reservation, envelope, wire
 * message. Every check that needs no KME comes before the first key is
 * fetched (*how = ENC_PERMANENT when one fails); a failure after that is
 * ENC_KME_REFUSED when the KME answered no to a key request, else
 * ENC_TRANSIENT.
 */
static enum qm_err entry_encrypt(struct qm_client *c, struct acct_conn *ac,
                                 const struct qm_store_outbox *o,
                                 enum enc_fail *how, struct qm_error *err)
{
	struct qm_store_outbox_r *pt = NULL;
	struct entry_hdrs eh;
	char(*sae)[QM_STORE_NAMEMAX] = NULL;
	struct msg_keys mk;
	struct rcpts rs = {NULL, 0};
	struct qm_bound b;
	struct bound_store bs = {0};
	enum keys_stage stage;
	enum qm_err rc;

	if (o->level == 0)
		return entry_plain(c, ac, o, how, err);
	*how = ENC_TRANSIENT;
	memset(&eh, 0, sizeof(eh));
	client_msg_keys_init(&mk, o->level, ac->a.sae_id);
	sae = calloc(MAX_RCPTS, sizeof(*sae));
	if (!sae)
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	else
		rc = qm_store_outbox_open(c->store, o->id, 0, &pt, err);
	if (!rc)
		rc = entry_check(c, ac, o, &eh, &rs,
		                 client_msg_keys_qkd(&mk) ? sae : NULL, mk.sae,
		                 &b, &bs, how, err);
	if (rc)
		goto out;
	rc = client_msg_keys_seal(c, ac, (const char *const *)rs.v,
	                          (const char(*)[QM_STORE_NAMEMAX])sae, rs.n,
	                          (size_t)qm_store_outbox_r_size(pt), &mk,
	                          &stage, err);
	if (rc) {
		*how = keys_fail(stage, rc);
		goto out;
	}
	*how = ENC_TRANSIENT;
	/* record the key IDs before they protect anything */
	rc = qm_store_outbox_reserve(c->store, o->id, mk.ids, mk.nids, err);
	if (!rc)
		rc = entry_seal(c, ac, o, pt, &mk, &b, eh.h, err);
out:
	free(sae);
	client_msg_keys_free(&mk);
	client_bound_store_free(&bs);
	client_rcpts_free(&rs);
	entry_hdrs_free(&eh);
	qm_store_outbox_r_close(&pt);
	return rc;
}

/* When an entry that failed after attempts earlier tries is due again:
 * 1, 2, 4 ... minutes, at most an hour. */
static int64_t retry_time(int attempts)
{
	int64_t wait = (int64_t)RETRY_FIRST_S
	               << (attempts < 0 ? 0 : attempts < 6 ? attempts : 6);

	return qm_now() + (wait > RETRY_MAX_S ? RETRY_MAX_S : wait);
}

/* Sends a QUEUED (or due RETRYING) entry over SMTP. */
static enum qm_err entry_send(struct qm_client *c, struct acct_conn *ac,
                              const struct qm_store_outbox *o,
                              struct progress *pg, int *accepted,
                              struct qm_error *err)
{
	struct qm_mail_server srv;
	struct qm_store_outbox_r *ct = NULL;
	struct qm_mail_source src;
	struct rcpts rs = {NULL, 0};
	struct sent_beside *bs = NULL;
	enum qm_err rc;

	rc = entry_rcpts(o->recipients, &rs, err);
	if (rc)
		goto out;
	rc = qm_store_outbox_begin_send(c->store, o->id, err);
	if (rc)
		goto out;
	client_acct_conn_server(ac, &ac->a.smtp, &srv);
	pg->what = "sending";
	srv.progress = on_mail_progress;
	srv.progress_arg = pg;
	/* uploaded as it is read from the outbox, a chunk at a time */
	rc = qm_store_outbox_open(c->store, o->id, 1, &ct, err);
	if (!rc) {
		src.read = qm_store_outbox_r_read;
		src.rewind = qm_store_outbox_r_rewind;
		src.arg = ct;
		src.len = qm_store_outbox_r_size(ct);
		/* a large message's copy for Sent goes up beside it, held
		 * back until the server took it (sentcopy.c); without a
		 * thread for it, after it as a small one's */
		if (src.len >= SENT_BESIDE_MIN)
			QM_IGNORE(client_sent_copy_beside(c, ac, o, &bs, NULL));
		rc = qm_mail_smtp_send_from(&srv, ac->a.address,
		                            (const char *const *)rs.v, rs.n,
		                            &src, err);
	}
	qm_store_outbox_r_close(&ct);
	if (rc) {
		client_sent_copy_drop(&bs);
		/* 5xx and refused authentication do not get better by waiting
		 * a minute, but the user may fix the account: retry later all
		 * the same, with a longer back-off (no key is spent again: the
		 * same ciphertext goes). err already says why; an entry the
		 * store cannot mark stays due and is tried again. */
		QM_IGNORE(qm_store_outbox_fail(c->store, o->id,
		                               qm_error_msg(err),
		                               retry_time(o->attempts), NULL));
		goto out;
	}
	*accepted = 1;
	rc = qm_store_outbox_sent(c->store, o->id, "250 accepted", err);
	if (rc) {
		/* it went out: never send it again because the disk was full
		 * when its success was to be written down. The journal keeps
		 * that across the end of this process; memory, failing it. */
		if (client_sentlog_add(c, o->id, NULL) != QM_OK &&
		    c->nunrecorded < QM_UNRECORDED_MAX)
			c->unrecorded[c->nunrecorded++] = o->id;
		qm_error_prefix(err, "the server accepted the message, but "
		                     "QMail could not record that: ");
		/* it went: a copy under way is let through */
		if (bs)
			QM_IGNORE(client_sent_copy_finish(c, ac, o, &bs, NULL));
		goto out;
	}
	/* the message went out: a copy for the Sent folder that fails now
	 * waits for the next outbox run (sentcopy.c), never fatal here */
	QM_IGNORE(client_sent_copy_finish(c, ac, o, &bs, NULL));
out:
	client_sent_copy_drop(&bs);
	client_rcpts_free(&rs);
	return rc;
}

/*
 * Moves one entry as far along as it goes now (force: a retry that is not
 * due yet goes now). *how (may be NULL) says how encrypting it failed.
 */
static enum qm_err entry_run_force(struct qm_client *c, struct acct_conn *ac,
                                   int64_t id, struct progress *pg, int *sent,
                                   int force, enum enc_fail *how,
                                   struct qm_error *err)
{
	struct qm_store_outbox o;
	enum enc_fail fail = ENC_TRANSIENT;
	enum qm_err rc;
	int lockfd = -1;

	*sent = 0;
	rc = entry_lock_get(c, id, &o, &lockfd, err);
	if (rc)
		return rc;
	if (o.state == QM_OUTBOX_SENT) {
		/* another process on this home sent it meanwhile */
		*sent = 1;
		goto out;
	}
	if (o.state == QM_OUTBOX_PENDING && !force && o.retry_at > qm_now())
		goto out; /* failed before encryption: not due yet */
	if (o.state == QM_OUTBOX_PENDING) {
		if (pg->fn)
			pg->fn(pg->arg, "encrypting", 0, 1);
		rc = entry_encrypt(c, ac, &o, &fail, err);
		if (rc && fail == ENC_PERMANENT) {
			/* a recipient, a contact or a setting must change
			 * first: the entry stays, failed, with the reason
			 * (err says why; unmarked, it is tried again) */
			QM_IGNORE(qm_store_outbox_fail(
			    c->store, id, qm_error_msg(err), 0, NULL));
			qm_error_prefix(err,
			                "outbox message %lld cannot be sent "
			                "and is marked failed: ",
			                (long long)id);
		} else if (rc) {
			/* keep the reason with the message; keys fetched for
			 * it (if any) are burnt by the store, never reused
			 * (err says why; unmarked, it is tried again) */
			QM_IGNORE(qm_store_outbox_fail(
			    c->store, id, qm_error_msg(err),
			    retry_time(o.attempts), NULL));
		}
		qm_store_outbox_item_free(&o);
		memset(&o, 0, sizeof(o));
		if (!rc)
			rc = qm_store_outbox_get(c->store, id, &o, err);
		if (rc)
			goto out;
	}
	if (o.state == QM_OUTBOX_QUEUED ||
	    (o.state == QM_OUTBOX_RETRYING &&
	     (force || o.retry_at <= qm_now()))) {
		/* *sent also when the server took it but recording that
		 * failed (the error says so) */
		rc = entry_send(c, ac, &o, pg, sent, err);
	}
out:
	if (how)
		*how = fail;
	qm_store_outbox_item_free(&o);
	client_home_unlock(&lockfd);
	return rc;
}

static enum qm_err entry_run(struct qm_client *c, struct acct_conn *ac,
                             int64_t id, struct progress *pg, int *sent,
                             enum enc_fail *how, struct qm_error *err)
{
	return entry_run_force(c, ac, id, pg, sent, 0, how, err);
}

enum qm_err qm_client_outbox_retry(struct qm_client *c, int64_t id,
                                   int *sent, struct qm_error *err)
{
	struct qm_store_outbox o;
	struct acct_conn ac;
	struct progress pg = {NULL, NULL, ""};
	enum qm_err rc;

	*sent = 0;
	memset(&o, 0, sizeof(o));
	rc = qm_store_outbox_get(c->store, id, &o, err);
	if (rc)
		return rc;
	if (o.state == QM_OUTBOX_SENT &&
	    client_sent_copy_waiting(c, o.account_id, id)) {
		/* the message went out; its copy for Sent is what waits */
		int64_t acct = o.account_id;

		qm_store_outbox_item_free(&o);
		rc = client_sent_copy_retry(c, acct, NULL, err);
		*sent = !client_sent_copy_waiting(c, acct, id);
		return rc;
	}
	if (o.state == QM_OUTBOX_FAILED && !o.has_ciphertext) {
		/* failed before it was encrypted (no key was spent on it):
		 * the person mended the cause and asks again */
		rc = qm_store_outbox_revive(c->store, id, err);
		if (rc) {
			qm_store_outbox_item_free(&o);
			return rc;
		}
		o.state = QM_OUTBOX_PENDING;
	}
	if (o.state == QM_OUTBOX_SENT || o.state == QM_OUTBOX_FAILED) {
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "outbox message %lld is %s: nothing to retry",
		                  (long long)id,
		                  qm_store_outbox_state_str(o.state));
		qm_store_outbox_item_free(&o);
		return rc;
	}
	rc = client_acct_conn_load(c, o.account_id, &ac, err);
	qm_store_outbox_item_free(&o);
	if (rc)
		return rc;
	rc = entry_run_force(c, &ac, id, &pg, sent, 1, NULL, err);
	client_acct_conn_free(&ac);
	return rc;
}

enum qm_err qm_client_outbox_cancel(struct qm_client *c, int64_t id,
                                    struct qm_error *err)
{
	struct qm_store_outbox o;
	enum qm_err rc;
	int lockfd = -1;

	rc = entry_lock_get(c, id, &o, &lockfd, err);
	if (rc)
		return rc;
	switch (o.state) {
	case QM_OUTBOX_QUEUED:
	case QM_OUTBOX_RETRYING:
		/* through SENDING, the only way to FAILED with a ciphertext */
		rc = qm_store_outbox_begin_send(c->store, id, err);
		if (rc)
			break;
		/* fall through */
	case QM_OUTBOX_PENDING:
		rc = qm_store_outbox_fail(c->store, id, "cancelled by the user",
		                          0, err);
		break;
	default:
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "outbox message %lld is %s: it cannot be "
		                  "cancelled",
		                  (long long)id,
		                  qm_store_outbox_state_str(o.state));
	}
	qm_store_outbox_item_free(&o);
	client_home_unlock(&lockfd);
	return rc;
}

/*
 * The message's recipients, each once: tocc gets To and Cc, bcc the Bcc
 * addresses that are not among them (they get the To/Cc copy). A person
 * named twice gets one copy, as in every mail client; note (QM_ERR_MSGMAX
 * bytes) names who was.
 */
static enum qm_err send_rcpts(const struct qm_client_compose *m,
                              struct rcpts *tocc, struct rcpts *bcc,
                              char *note, struct qm_error *err)
{
	const char *const *lists[3] = {m->to, m->cc, m->bcc};
	size_t counts[3] = {m->nto, m->ncc, m->nbcc};
	struct rcpts rep = {NULL, 0};
	struct qm_buf b;
	enum qm_err rc = QM_OK;

	for (size_t l = 0; l < 3 && !rc; l++)
		for (size_t i = 0; i < counts[l] && !rc; i++) {
			char bare[QM_STORE_ADDRMAX];
			int dup = 0;

			rc = client_addr_bare(lists[l][i], bare, sizeof(bare),
			                      err);
			if (rc)
				break;
			if (l == 2 && client_rcpts_has(tocc, bare))
				dup = 1;
			else
				rc = client_rcpts_add(l < 2 ? tocc : bcc, bare,
				                      &dup, err);
			if (!rc && dup)
				rc = client_rcpts_add(&rep, bare, NULL, err);
		}
	if (!rc && rep.n) {
		qm_buf_init(&b, QM_ERR_MSGMAX);
		for (size_t i = 0; i < rep.n; i++)
			/* a list too long for the note is cut, as the
			 * note itself is (snprintf below) */
			QM_IGNORE(qm_buf_appendf(&b, NULL, "%s%s",
			                         i ? ", " : "", rep.v[i]));
		snprintf(note, QM_ERR_MSGMAX,
		         "%s %s listed more than once among the recipients: "
		         "one copy each",
		         b.data ? (const char *)b.data : "",
		         rep.n > 1 ? "were" : "was");
		qm_buf_free(&b);
	}
	client_rcpts_free(&rep);
	return rc;
}

/* Joins the addresses with commas into out. */
static enum qm_err rcpts_join(const struct rcpts *r, struct qm_buf *out,
                              struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	for (size_t i = 0; i < r->n && !rc; i++)
		rc = qm_buf_appendf(out, err, "%s%s", i ? ", " : "", r->v[i]);
	return rc;
}

/* Appends "; what" (or what) to out->note. */
static void sent_note(struct qm_client_sent *out, const char *what)
{
	size_t have = strlen(out->note);

	if (have && have + 2 < sizeof(out->note)) {
		memcpy(out->note + have, "; ", 3);
		have += 2;
	}
	qm_strlcpy(out->note + have, what, sizeof(out->note) - have);
}

/*
 * The level a message goes at: level if it may be used now, else the
 * fallback (said in out->note), else the error of level (and of the
 * fallback). li gets what the check of the chosen level found.
 */
static enum qm_err send_level(struct qm_client *c, const struct acct_conn *ac,
                              const struct qm_client_compose *m,
                              const struct rcpts *tocc,
                              const struct rcpts *bcc, uint64_t size,
                              int *level, struct level_info *li,
                              struct qm_client_sent *out, struct qm_error *err)
{
	struct qm_error e2;
	char note[QM_ERR_MSGMAX * 2];
	enum qm_err rc, rc2;

	rc = client_level_check(c, ac, *level, (const char *const *)tocc->v,
	                        tocc->n, (const char *const *)bcc->v, bcc->n,
	                        size, li, err);
	if (!rc || !m->fallback_level || m->fallback_level == *level)
		return rc;
	qm_error_clear(&e2);
	rc2 = client_level_check(c, ac, m->fallback_level,
	                         (const char *const *)tocc->v, tocc->n,
	                         (const char *const *)bcc->v, bcc->n, size, li,
	                         &e2);
	if (rc2) {
		/* neither: say both (a fallback below a floor names it) */
		qm_error_prefix(err, "level %d: ", *level);
		snprintf(note, sizeof(note),
		         "%s; the fallback level %d cannot be used either: %s",
		         qm_error_msg(err), m->fallback_level,
		         qm_error_msg(&e2));
		/* the same error reworded: its hint (what to mend for the
		 * level asked for) stays */
		if (err)
			qm_strlcpy(err->msg, note, sizeof(err->msg));
		return rc;
	}
	snprintf(note, sizeof(note),
	         "level %d was not available (%s); sent at level %d as you "
	         "allowed",
	         *level, qm_error_msg(err), m->fallback_level);
	sent_note(out, note);
	*level = m->fallback_level;
	out->fell_back = 1;
	qm_error_clear(err);
	return QM_OK;
}

/* The plaintext blob of an entry being added as the sink of its MIME. */
static enum qm_err outbox_sink(void *arg, const void *p, size_t n,
                               struct qm_error *err)
{
	return qm_store_outbox_w_write(arg, p, n, err);
}

/* Copies the plaintext of entry src into w a chunk at a time; *n gets its
 * length. */
static enum qm_err copy_plaintext(struct qm_client *c, int64_t src,
                                  struct qm_store_outbox_w *w, uint64_t *n,
                                  struct qm_error *err)
{
	struct qm_store_outbox_r *r = NULL;
	unsigned char *buf = qm_sec_alloc(QM_STORE_BLOB_CHUNK);
	size_t got = 0;
	enum qm_err rc;

	*n = 0;
	if (!buf)
		return qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
	rc = qm_store_outbox_open(c->store, src, 0, &r, err);
	while (!rc) {
		rc = qm_store_outbox_r_read(r, buf, QM_STORE_BLOB_CHUNK, &got,
		                            err);
		if (rc || !got)
			break;
		rc = qm_store_outbox_w_write(w, buf, got, err);
		*n += got;
	}
	qm_store_outbox_r_close(&r);
	qm_sec_free(buf);
	return rc;
}

/*
 * Adds one entry for who: its plaintext, the identity header and then the
 * MIME of mc written into the outbox as GMime makes it (attachments read
 * from their files as they are encoded), or, with copy_of, the plaintext
 * of that entry of the same message; within the user's limits, else
 * nothing of it stays.
 */
static enum qm_err queue_one(struct qm_client *c, struct acct_conn *ac,
                             const struct qm_mail_hdrs *h,
                             const struct qm_mail_compose *mc, int64_t copy_of,
                             int level, const char *who,
                             const struct qm_buf *rec, int64_t *id,
                             struct qm_error *err)
{
	struct qm_store_outbox_w *w = NULL;
	struct qm_buf idh;
	uint64_t n = 0;
	enum qm_err rc;

	qm_buf_init(&idh, 64 * 1024);
	rc = client_idhdr_make(c, ac, h->from, &idh, err);
	if (!rc)
		rc = qm_store_outbox_add_begin(
		    c->store, ac->a.id, h->message_id, who, level, &w, err);
	if (!rc && copy_of) {
		rc = copy_plaintext(c, copy_of, w, &n, err);
	} else if (!rc) {
		if (idh.len)
			rc = qm_store_outbox_w_write(w, idh.data, idh.len, err);
		if (!rc)
			rc =
			    qm_mail_inner_build_to(mc, outbox_sink, w, &n, err);
		n += idh.len;
	}
	if (!rc)
		rc = n > QM_CLIENT_MAXMSG
		         ? qm_error_set(err, QM_ERR_TOOBIG,
		                        "the message is larger than %u bytes",
		                        (unsigned)QM_CLIENT_MAXMSG)
		         : client_send_limits_check(&ac->lim, (size_t)n,
		                                    mc->natt, err);
	if (rc)
		qm_store_outbox_w_abort(&w);
	else
		rc = qm_store_outbox_add_end(&w, rec->data, rec->len, id, err);
	qm_buf_free(&idh);
	return rc;
}

/* Puts the message mc into the outbox: one entry for To and Cc, one per
 * Bcc recipient, each with the sealed record of what its envelope binds;
 * the first is built, the others copy its plaintext. */
static enum qm_err
queue_entries(struct qm_client *c, struct acct_conn *ac,
              const struct qm_mail_hdrs *h, const struct qm_mail_compose *mc,
              int level, const struct rcpts *tocc, const struct rcpts *bcc,
              struct qm_client_sent *out, struct qm_error *err)
{
	struct qm_buf list, rec;
	size_t first = tocc->n ? 1 : 0;
	int64_t built = 0;
	enum qm_err rc;

	qm_buf_init(&list, 64 * 1024);
	if (tocc->n)
		rc = rcpts_join(tocc, &list, err);
	else
		rc = QM_OK;
	for (size_t i = 0; i < first + bcc->n && !rc; i++) {
		const char *who =
		    i < first ? (const char *)list.data : bcc->v[i - first];
		int64_t *id = &out->outbox_ids[out->n_outbox];

		/* a plain entry seals its recipients with it: it goes to
		 * them alone, whatever the database says */
		qm_buf_init_secure(&rec, 1 << 20);
		rc = client_outbox_rec_encode(level, h, level ? NULL : who,
		                              &rec, err);
		if (!rc)
			rc = queue_one(c, ac, h, mc, built, level, who, &rec,
			               id, err);
		qm_buf_free(&rec);
		if (!rc) {
			if (!built)
				built = *id;
			out->n_outbox++;
		}
	}
	qm_buf_free(&list);
	return rc;
}

/* Takes this send's entries out of the outbox again: nothing of them was
 * sent and none has a key (the KME refused the first one's keys). */
static enum qm_err send_discard(struct qm_client *c,
                                struct qm_client_sent *out,
                                struct qm_error *err)
{
	enum qm_err rc = QM_OK;
	int lockfd = -1;

	rc = outbox_lock(c, &lockfd, err);
	for (size_t i = 0; i < out->n_outbox && !rc; i++)
		rc = qm_store_outbox_discard(c->store, out->outbox_ids[i], err);
	client_home_unlock(&lockfd);
	if (!rc)
		out->n_outbox = 0;
	return rc;
}

/* One send: what qm_client_send's stages share. */
struct send {
	struct qm_client *c;
	const struct qm_client_compose *m;
	struct qm_client_sent *out;
	struct acct_conn ac;
	struct rcpts tocc, bcc;
	struct rcpts ptocc, pbcc; /* who gets a plain copy (allow_plain) */
	struct level_info li;
	struct qm_mail_hdrs *h;
	/* the protected message and the plain copy (when ptocc or pbcc),
	 * built as they go into the outbox; ptext: the plain copy's text
	 * with the note on QMail (secure) */
	struct qm_mail_attachment *att;
	struct qm_mail_compose mc, pc;
	struct qm_buf ptext;
	struct progress pg;
	uint64_t size; /* the protected message's size, estimated */
	int level;
};

/*
 * Puts the message into the outbox (queue_entries: the encrypted copies at
 * s->level, then the plain ones at level 0) and sends each entry, the
 * encrypted ones first. *refused is 1 when the first entry's keys were
 * refused by the KME: then nothing went out and no entry has a key.
 */
static enum qm_err send_entries(struct send *s, int *refused,
                                struct qm_error *err)
{
	struct qm_client_sent *out = s->out;
	size_t nenc;
	enum qm_err rc = QM_OK;

	*refused = 0;
	if (s->tocc.n + s->bcc.n)
		rc = queue_entries(s->c, &s->ac, s->h, &s->mc, s->level,
		                   &s->tocc, &s->bcc, out, err);
	nenc = out->n_outbox;
	if (!rc && s->ptocc.n + s->pbcc.n)
		rc = queue_entries(s->c, &s->ac, s->h, &s->pc, 0, &s->ptocc,
		                   &s->pbcc, out, err);
	if (rc && out->n_outbox) {
		/* a copy could not be built (an attachment unreadable, past
		 * a limit): none of them goes, as if it never entered */
		struct qm_error e2;

		qm_error_clear(&e2);
		if (send_discard(s->c, out, &e2))
			qm_error_prefix(err, "(copies already queued wait in "
			                     "the outbox) ");
		return rc;
	}
	/* and on its way */
	for (size_t i = 0; i < out->n_outbox && !rc; i++) {
		enum enc_fail how = ENC_TRANSIENT;
		int sent = 0;

		rc = entry_run(s->c, &s->ac, out->outbox_ids[i], &s->pg, &sent,
		               &how, err);
		out->n_sent += (size_t)sent;
		if (rc && i == 0 && nenc && how == ENC_KME_REFUSED)
			*refused = 1;
		else if (rc && !sent && how != ENC_PERMANENT)
			qm_error_prefix(err,
			                "the message waits in the outbox: ");
	}
	return rc;
}

/* The bytes of attachment a: in memory, or its file's size now (0 when
 * it cannot be read: building the message says why). */
static uint64_t att_size(const struct qm_client_attachment *a)
{
	struct stat st;

	if (a->data || !a->path)
		return a->len;
	return stat(a->path, &st) == 0 && S_ISREG(st.st_mode)
	           ? (uint64_t)st.st_size
	           : 0;
}

/* The protected message's size as the level check counts it: level 1
 * needs a key byte for each byte of it. */
static uint64_t compose_size(const struct qm_client_compose *m)
{
	/* headers, and the identity header (about 4.5 KiB) */
	uint64_t size = (m->text ? strlen(m->text) : 0) + 4096 + 6144;

	/* attachments as they are (binary): level 1 needs a key byte for
	 * each of their bytes, and their part headers */
	for (size_t i = 0; i < m->natt; i++)
		size += att_size(&m->att[i]) + 512;
	return size;
}

/* What needs nothing but the call: the vault unlocked, recipients. */
static enum qm_err send_precheck(struct qm_client *c,
                                 const struct qm_client_compose *m,
                                 struct qm_error *err)
{
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED,
		                    "unlock QMail first: the outbox keeps the "
		                    "message sealed in the vault");
	if (m->nto + m->ncc + m->nbcc == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the message has no recipient");
	if (m->nto + m->ncc + m->nbcc > MAX_RCPTS)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "a message may have at most %d recipients",
		                    MAX_RCPTS);
	return QM_OK;
}

/* With m->plain_to: every plain recipient is one of those the sender
 * chose plain for, else the refusal names the others. */
static enum qm_err plain_chosen(struct send *s, struct qm_error *err)
{
	struct rcpts chosen = {NULL, 0}, other[2] = {{NULL, 0}, {NULL, 0}};
	const struct rcpts *plain[2] = {&s->ptocc, &s->pbcc};
	enum qm_err rc = QM_OK;

	if (!s->m->nplain_to)
		return QM_OK;
	for (size_t i = 0; i < s->m->nplain_to && !rc; i++)
		rc = client_rcpts_add(&chosen, s->m->plain_to[i], NULL, err);
	for (size_t l = 0; l < 2 && !rc; l++)
		for (size_t i = 0; i < plain[l]->n && !rc; i++)
			if (!client_rcpts_has(&chosen, plain[l]->v[i]))
				rc = client_rcpts_add(&other[l], plain[l]->v[i],
				                      NULL, err);
	if (!rc && other[0].n + other[1].n)
		rc = client_plain_refuse(&other[0], &other[1], err);
	client_rcpts_free(&chosen);
	client_rcpts_free(&other[0]);
	client_rcpts_free(&other[1]);
	return rc;
}

/*
 * Takes the recipients who can get no encrypted message out of s->tocc and
 * s->bcc into s->ptocc and s->pbcc: refused unless the sender chose plain
 * for this message (hint QM_HINT_PLAIN) and no floor forbids it. Each
 * entry is a copy of its own (the outbox holds at most 8 per message).
 */
static enum qm_err send_plain_rcpts(struct send *s, struct qm_error *err)
{
	size_t copies;
	enum qm_err rc;

	rc = client_plain_split(s->c, &s->ac, &s->tocc, &s->bcc, &s->ptocc,
	                        &s->pbcc, err);
	if (rc || s->ptocc.n + s->pbcc.n == 0)
		return rc;
	/* a floor first: no choice of the sender's passes it */
	rc = client_plain_allowed(s->c, &s->ac, &s->ptocc, &s->pbcc, err);
	if (rc)
		return rc;
	if (!s->m->allow_plain)
		return client_plain_refuse(&s->ptocc, &s->pbcc, err);
	rc = plain_chosen(s, err);
	if (rc)
		return rc;
	copies =
	    (s->tocc.n ? 1 : 0) + s->bcc.n + (s->ptocc.n ? 1 : 0) + s->pbcc.n;
	if (copies > sizeof(s->out->outbox_ids) / sizeof(s->out->outbox_ids[0]))
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "this message would need %zu copies (one encrypted and one "
		    "unencrypted for To and Cc, one per Bcc recipient); at "
		    "most %zu: send it in two",
		    copies,
		    sizeof(s->out->outbox_ids) / sizeof(s->out->outbox_ids[0]));
	s->out->n_plain = s->ptocc.n + s->pbcc.n;
	client_plain_names(&s->ptocc, &s->pbcc, s->out->plain,
	                   sizeof(s->out->plain));
	return QM_OK;
}

/* Everything that can be checked before the message enters the outbox
 * and any key is fetched: the recipients, each once, and the level. */
static enum qm_err send_prepare(struct send *s, struct qm_error *err)
{
	struct qm_client_level_prefs prefs;
	enum qm_err rc;

	rc = qm_client_level_prefs(s->c, s->m->account_id, &prefs, err);
	if (!rc)
		rc = send_rcpts(s->m, &s->tocc, &s->bcc, s->out->note, err);
	if (rc)
		return rc;
	if (s->bcc.n > 7)
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "at most 7 Bcc recipients (each gets its own "
		    "encrypted copy)");
	rc = send_plain_rcpts(s, err);
	if (rc)
		return rc;
	s->level = s->m->level ? s->m->level : prefs.default_level;
	s->size = compose_size(s->m);
	if (s->tocc.n + s->bcc.n == 0) {
		/* every recipient gets the plain copy */
		s->level = 0;
		s->out->level = 0;
		return QM_OK;
	}
	rc = send_level(s->c, &s->ac, s->m, &s->tocc, &s->bcc, s->size,
	                &s->level, &s->li, s->out, err);
	if (!rc)
		s->out->level = s->level;
	return rc;
}

/* The plain copy: the same message, with the note on QMail when the
 * account's setting plain_invite asks for it. */
static enum qm_err send_build_plain(struct send *s, struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	s->pc = s->mc;
	s->pc.binary = 0; /* it travels as it is: base64 */
	if (client_plain_invite(s->c, s->m->account_id)) {
		rc = qm_buf_append_str(&s->ptext, s->mc.text, err);
		if (!rc)
			rc = qm_buf_append_str(&s->ptext,
			                       client_plain_invite_note(), err);
		if (!rc)
			rc = qm_buf_append_byte(&s->ptext, '\0', err);
		if (!rc)
			s->pc.text = (const char *)s->ptext.data;
	}
	return rc;
}

/*
 * Prepares the protected message: its header values s->h (what the
 * envelope binds) and what its MIME is made of (s->mc). The MIME itself is
 * written into the outbox by queue_entries, attachments given as files
 * read as it is written; it is checked against the user's limits there.
 */
static enum qm_err send_build(struct send *s, struct qm_error *err)
{
	const struct qm_client_compose *m = s->m;
	char from[QM_STORE_ADDRMAX + 2 * QM_STORE_NAMEMAX + 8];
	struct qm_store_identity id;
	uint64_t total = 0;
	enum qm_err rc;

	/* the identity chosen (or the default): its name and address; the
	 * account's keys sign whichever it is */
	rc = client_identity_from(s->c, &s->ac.a, m->from, &id, from,
	                          sizeof(from), err);
	if (rc)
		return rc;
	rc = qm_mail_hdrs_make(from, m->to, m->nto, m->cc, m->ncc, qm_now(),
	                       &s->h, err);
	if (rc)
		return rc;
	s->att = calloc(m->natt ? m->natt : 1, sizeof(*s->att));
	if (!s->att)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < m->natt; i++) {
		s->att[i].name = m->att[i].name;
		s->att[i].type = m->att[i].type;
		s->att[i].data = m->att[i].data;
		s->att[i].len = m->att[i].len;
		s->att[i].path = m->att[i].data ? NULL : m->att[i].path;
		if (!m->att[i].data && !m->att[i].path && m->att[i].len)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "attachment %zu has neither bytes "
			                    "nor a file",
			                    i + 1);
		total += att_size(&m->att[i]);
	}
	/* not even written into the outbox when the files alone pass the
	 * largest message */
	if (total > QM_CLIENT_MAXMSG)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the attachments are %llu bytes together, "
		                    "more than the %u a message may hold",
		                    (unsigned long long)total,
		                    (unsigned)QM_CLIENT_MAXMSG);
	memset(&s->mc, 0, sizeof(s->mc));
	s->mc.hdrs = s->h;
	s->mc.subject = m->subject ? m->subject : "";
	s->mc.text = m->text ? m->text : "";
	s->mc.html = m->html && *m->html ? m->html : NULL;
	s->mc.in_reply_to = m->in_reply_to;
	s->mc.references = m->references;
	s->mc.att = s->att;
	s->mc.natt = m->natt;
	s->mc.chat = m->chat;
	s->mc.chat_group_id = m->chat_group_id;
	s->mc.chat_member_added = m->chat_member_added;
	s->mc.chat_member_removed = m->chat_member_removed;
	s->mc.chat_disposition = m->chat_disposition;
	/* encrypted before it travels: attachments as they are */
	s->mc.binary = 1;
	if (s->ptocc.n + s->pbcc.n)
		rc = send_build_plain(s, err);
	return rc;
}

/*
 * Level 1 was tried because the KME might make keys on demand, and it
 * refused the keys (err says so, rc is the send's code): nothing was
 * handed out for this message or sent. Its entries go, and it goes at the
 * fallback level when the sender allowed one, else QM_ERR_UNAVAIL with the
 * KME's answer.
 */
static enum qm_err send_refused(struct send *s, enum qm_err rc,
                                struct qm_error *err)
{
	const struct qm_client_compose *m = s->m;
	struct qm_client_compose only = *m;
	struct qm_error e2;
	char why[QM_ERR_MSGMAX * 2];
	int refused = 0;

	snprintf(why, sizeof(why),
	         "level 1 is not available: the KME refused the keys for this "
	         "message (%s)",
	         qm_error_msg(err));
	qm_error_clear(&e2);
	if (send_discard(s->c, s->out, &e2)) {
		qm_error_prefix(err, "the message waits in the outbox: ");
		return rc;
	}
	rc = qm_error_set(err, QM_ERR_UNAVAIL, "%.500s", why);
	if (s->out->fell_back || !m->fallback_level ||
	    m->fallback_level == s->level)
		return rc;
	only.fallback_level = 0;
	s->level = m->fallback_level;
	qm_error_clear(&e2);
	if (send_level(s->c, &s->ac, &only, &s->tocc, &s->bcc, s->size,
	               &s->level, &s->li, s->out, &e2))
		return qm_error_set(
		    err, QM_ERR_UNAVAIL,
		    "%.250s; the fallback level %d cannot be used "
		    "either: %.240s",
		    why, m->fallback_level, qm_error_msg(&e2));
	snprintf(why + strlen(why), sizeof(why) - strlen(why),
	         "; sent at level %d as you allowed", s->level);
	sent_note(s->out, why);
	s->out->fell_back = 1;
	s->out->level = s->level;
	qm_error_clear(err);
	rc = send_entries(s, &refused, err);
	if (rc && refused)
		qm_error_prefix(err, "the message waits in the outbox: ");
	return rc;
}

/* Into the outbox before any network step, and on its way. */
static enum qm_err send_go(struct send *s, struct qm_error *err)
{
	int refused = 0;
	enum qm_err rc;

	rc = send_entries(s, &refused, err);
	if (rc && refused && !s->li.ask)
		/* the KME's status said it had the keys: a refusal now is a
		 * moment's shortage, and the message waits for a retry */
		qm_error_prefix(err, "the message waits in the outbox: ");
	if (rc && refused && s->li.ask)
		rc = send_refused(s, rc, err);
	if (s->out->n_outbox && s->li.unverified[0] && s->out->level >= 3)
		snprintf(s->out->warning, sizeof(s->out->warning),
		         "not verified: the public key of %.380s was not "
		         "compared with its owner (fingerprints); the message "
		         "was encrypted to the key as it is",
		         s->li.unverified);
	return rc;
}

enum qm_err qm_client_send(struct qm_client *c,
                           const struct qm_client_compose *m,
                           qm_client_progress_fn progress, void *parg,
                           struct qm_client_sent *out, struct qm_error *err)
{
	struct send s;
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	rc = send_precheck(c, m, err);
	if (rc)
		return rc;
	memset(&s, 0, sizeof(s));
	s.c = c;
	s.m = m;
	s.out = out;
	s.pg.fn = progress;
	s.pg.arg = parg;
	s.pg.what = "";
	rc = client_acct_conn_load(c, m->account_id, &s.ac, err);
	if (rc)
		return rc;
	qm_buf_init_secure(&s.ptext, QM_CLIENT_MAXMSG);
	rc = send_prepare(&s, err);
	if (!rc)
		rc = send_build(&s, err);
	if (!rc)
		rc = send_go(&s, err);
	client_rcpts_free(&s.tocc);
	client_rcpts_free(&s.bcc);
	client_rcpts_free(&s.ptocc);
	client_rcpts_free(&s.pbcc);
	qm_mail_hdrs_free(&s.h);
	qm_buf_free(&s.ptext);
	free(s.att);
	client_acct_conn_free(&s.ac);
	return rc;
}

/* Before a run: records the sends to record and recovers a dead process's
 * entries, unless another process is working the outbox. A send that
 * cannot be recorded yet stops the run. */
static enum qm_err outbox_settle(struct qm_client *c, struct qm_error *err)
{
	int fd = -1;
	struct qm_error e;
	enum qm_err rc;

	qm_error_clear(&e);
	rc = outbox_lock_within(c, 0, &fd, &e);
	if (rc == QM_OK)
		client_home_unlock(&fd);
	else if (rc != QM_ERR_UNAVAIL) {
		if (err)
			*err = e;
		return rc;
	}
	return QM_OK;
}

/* Moves entry id along as far as it goes now, unless another process
 * finished it meanwhile. *sent: it went out (even when recording that
 * failed). */
static enum qm_err outbox_run_one(struct qm_client *c, int64_t id,
                                  struct progress *pg, int *sent,
                                  struct qm_error *err)
{
	struct qm_store_outbox o;
	struct acct_conn ac;
	enum qm_err rc;

	*sent = 0;
	memset(&o, 0, sizeof(o));
	if (qm_store_outbox_get(c->store, id, &o, err)) {
		qm_error_clear(err);
		return QM_OK;
	}
	if (o.state == QM_OUTBOX_SENT || o.state == QM_OUTBOX_FAILED) {
		/* done by another process meanwhile */
		qm_store_outbox_item_free(&o);
		return QM_OK;
	}
	rc = client_acct_conn_load(c, o.account_id, &ac, err);
	qm_store_outbox_item_free(&o);
	if (!rc) {
		rc = entry_run(c, &ac, id, pg, sent, NULL, err);
		client_acct_conn_free(&ac);
	}
	return rc;
}

/* Keeps the first error of a run in err. */
static void run_error(enum qm_err rc, const struct qm_error *e,
                      enum qm_err *first, struct qm_error *err)
{
	if (rc && !*first) {
		*first = rc;
		if (err)
			*err = *e;
	}
}

enum qm_err qm_client_outbox_run(struct qm_client *c, int64_t account_id,
                                 size_t *n_sent, size_t *n_failed,
                                 struct qm_error *err)
{
	int64_t *lists[2] = {NULL, NULL};
	size_t counts[2] = {0, 0}, ok = 0, bad = 0;
	struct progress pg = {NULL, NULL, ""};
	struct qm_error e;
	enum qm_err rc, first = QM_OK;

	if (n_sent)
		*n_sent = 0;
	if (n_failed)
		*n_failed = 0;
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED, "unlock QMail first");
	rc = outbox_settle(c, err);
	if (rc)
		return rc;
	/* pending entries whose retry time has come (0: never failed), then
	 * the ones ready to go */
	rc = qm_store_outbox_list(c->store, account_id, QM_OUTBOX_PENDING,
	                          qm_now(), &lists[0], &counts[0], err);
	if (!rc)
		rc = qm_store_outbox_list(c->store, account_id, -1, qm_now(),
		                          &lists[1], &counts[1], err);
	for (size_t pass = 0; pass < 2 && !rc; pass++)
		for (size_t i = 0; i < counts[pass]; i++) {
			int sent = 0;
			enum qm_err r;

			qm_error_clear(&e);
			r = outbox_run_one(c, lists[pass][i], &pg, &sent, &e);
			run_error(r, &e, &first, err);
			if (sent)
				ok++;
			else if (r)
				bad++;
		}
	if (!rc) {
		/* copies for the Sent folder whose first try failed */
		qm_error_clear(&e);
		run_error(client_sent_copy_retry(c, account_id, NULL, &e), &e,
		          &first, err);
		rc = first;
	}
	free(lists[0]);
	free(lists[1]);
	if (n_sent)
		*n_sent = ok;
	if (n_failed)
		*n_failed = bad;
	return rc;
}
