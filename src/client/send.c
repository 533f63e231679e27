/* SPDX-License-Identifier: MIT */
/*
 * The send path (DESIGN.md invariant 7). A message is built, sealed into
 * the outbox before any network step, then moved along the outbox states:
 * PENDING (plaintext in the vault) -> keys fetched and their IDs recorded
 * (ENCRYPTING) -> ciphertext stored (QUEUED) -> SMTP (SENDING) -> SENT, or
 * RETRYING later with the same ciphertext. Keys are used for one message
 * only, even when sending fails; a crash between fetching keys and storing
 * the ciphertext burns those key IDs and the message is encrypted afresh.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_FIRST_S 60
#define RETRY_MAX_S 3600
#define MAX_RCPTS 100

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

/* Splits a comma-separated recipient list into bare addresses. */
static enum qm_err split_rcpts(const char *list, char ***out, size_t *n,
                               struct qm_error *err)
{
	return qm_mail_addr_specs(list, out, n, err);
}

/* Is level usable for these recipients now? reason says why not. */
static enum qm_err level_check(struct qm_client *c, struct acct_conn *ac,
                               int level, const char *const *rcpts, size_t n,
                               uint64_t msg_bytes, uint64_t *needed,
                               struct qm_error *err)
{
	enum qm_err rc = QM_OK;
	char sae[QM_STORE_NAMEMAX];

	if (level < 1 || level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "security level %d does not exist: choose "
		                    "1 (one-time pad), 2 (QKD-AES), 3 "
		                    "(post-quantum) or 4 (classical)",
		                    level);
	if (needed)
		*needed = qm_l1_key_bytes(msg_bytes);
	for (size_t i = 0; i < n && !rc; i++) {
		struct qm_store_contact ct;
		char bare[QM_STORE_ADDRMAX];

		/* a contact whose record was changed on disk: its floor is
		 * unknown, so nothing goes to it until the user enters it
		 * again (docs/STORE.md) */
		if (addr_bare(rcpts[i], bare, sizeof(bare), NULL) == QM_OK &&
		    qm_store_contact_get(c->store, ac->a.id, bare, &ct, NULL) ==
		            QM_OK &&
		    ct.label == QM_LABEL_ALTERED) {
			rc = qm_error_set(err, QM_ERR_STATE,
			                  "the security record of contact %s "
			                  "(SAE ID, confirmation, minimum level) "
			                  "was changed on disk outside QMail: "
			                  "enter the contact again before "
			                  "sending to it",
			                  bare);
			break;
		}
		/* the user's floor for this contact: 1 is the strongest */
		if (addr_bare(rcpts[i], bare, sizeof(bare), NULL) == QM_OK &&
		    qm_store_contact_get(c->store, ac->a.id, bare, &ct, NULL) ==
		            QM_OK &&
		    ct.min_level && level > ct.min_level) {
			rc = qm_error_set(err, QM_ERR_UNAVAIL,
			                  "you set level %d as the weakest allowed "
			                  "for %s; level %d is weaker",
			                  ct.min_level, bare, level);
			break;
		}
		if (level <= 2) {
			rc = contact_sae(c, ac->a.id, rcpts[i], sae, sizeof(sae),
			                 err);
			if (!rc && !ac->a.kme_url[0])
				rc = qm_error_set(err, QM_ERR_STATE,
				                  "levels 1 and 2 need a KME: "
				                  "configure one for %s",
				                  ac->a.address);
			if (!rc && level == 1) {
				struct qm_client_kme ks;
				uint64_t need = qm_l1_key_bytes(msg_bytes);

				qm_client_kme_status(c, ac->a.id, sae, &ks,
				                     NULL);
				if (!ks.reachable)
					rc = qm_error_set(
						err, QM_ERR_UNAVAIL,
						"the KME cannot be reached: %s",
						ks.message);
				else if (ks.pool_bytes < need)
					rc = qm_error_set(
						err, QM_ERR_UNAVAIL,
						"level 1 needs %llu bytes of QKD "
						"key for this message to %s; the "
						"KME holds %llu bytes for that "
						"link now",
						(unsigned long long)need, rcpts[i],
						(unsigned long long)ks.pool_bytes);
			}
		} else {
			struct qm_pubid *p = NULL;
			enum qm_store_trust t;

			rc = contact_pubid(c, rcpts[i], &p, &t, err);
			qm_pubid_free(&p);
			if (rc == QM_ERR_STATE)
				rc = qm_error_set(err, QM_ERR_STATE,
				                  "the public key of %s changed: "
				                  "compare fingerprints and verify "
				                  "the new key before sending at "
				                  "level %d",
				                  rcpts[i], level);
		}
	}
	return rc;
}

enum qm_err qm_client_levels(struct qm_client *c, int64_t account_id,
                             const char *const *rcpts, size_t n,
                             uint64_t msg_bytes, struct qm_client_level out[4],
                             uint64_t *needed_bytes, struct qm_error *err)
{
	struct acct_conn ac;
	enum qm_err rc = acct_conn_load(c, account_id, &ac, err);

	if (rc)
		return rc;
	for (int l = 1; l <= 4; l++) {
		struct qm_error e;

		qm_error_clear(&e);
		out[l - 1].level = l;
		out[l - 1].available =
			level_check(c, &ac, l, rcpts, n, msg_bytes, needed_bytes,
			            &e) == QM_OK;
		qm_strlcpy(out[l - 1].reason,
		           out[l - 1].available ? "" : qm_error_msg(&e),
		           sizeof(out[l - 1].reason));
	}
	acct_conn_free(&ac);
	return QM_OK;
}

/* Keys fetched for one outbox entry (levels 1 and 2). */
struct entry_keys {
	struct qm_kms_keys *ks[MAX_RCPTS];
	char sae[MAX_RCPTS][QM_STORE_NAMEMAX];
	size_t n;
};

static void entry_keys_free(struct entry_keys *ek)
{
	for (size_t i = 0; i < ek->n; i++)
		qm_kms_keys_free(&ek->ks[i]);
	ek->n = 0;
}

/* Parses only the header block of the protected message (its From, To,
 * Cc, Date and Message-ID are what the envelope binds), so that the
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

	rc = home_lock(c, QM_LOCK_OUTBOX, timeout_s, "work the outbox", fd,
	               err);
	if (rc)
		return rc;
	rc = unrecorded_flush(c, err);
	if (!rc)
		rc = sentlog_flush(c, NULL, err);
	if (!rc)
		rc = qm_store_outbox_recover(c->store, NULL, err);
	if (rc) {
		home_unlock(fd);
		return rc;
	}
	/* a disk that is full already leaves only the in-memory list for a
	 * send that cannot be recorded: not a reason to hold mail back */
	sentlog_prepare(c, NULL);
	return QM_OK;
}

static enum qm_err outbox_lock(struct qm_client *c, int *fd,
                               struct qm_error *err)
{
	return outbox_lock_within(c, 600, fd, err);
}

/* Encrypts a PENDING entry: keys, reservation, envelope, wire message. */
static enum qm_err entry_encrypt(struct qm_client *c, struct acct_conn *ac,
                                 const struct qm_store_outbox *o,
                                 struct qm_error *err)
{
	struct qm_buf pt, env, wire;
	struct qm_mail_content *mc = NULL;
	struct entry_keys ek;
	struct qm_kms *kms = NULL;
	struct qm_identity *self = NULL;
	struct qm_pubid *pubs[MAX_RCPTS] = {0};
	struct qm_qslot slots[MAX_RCPTS];
	struct qm_qkey *qkeys[MAX_RCPTS] = {0};
	const char **ids = NULL;
	size_t nids = 0;
	char **rcpts = NULL;
	size_t nr = 0;
	struct qm_bound b;
	struct bound_store bs = {0};
	struct qm_seal_params sp;
	struct qm_mail_wire w;
	enum qm_err rc;

	memset(&ek, 0, sizeof(ek));
	qm_buf_init_secure(&pt, QM_CLIENT_MAXMSG);
	qm_buf_init(&env, QM_CLIENT_MAXMSG * 2 + 1024 * 1024);
	qm_buf_init(&wire, QM_CLIENT_MAXMSG * 3);
	rc = qm_store_outbox_plaintext(c->store, o->id, &pt, err);
	if (!rc)
		rc = parse_headers(pt.data, pt.len, &mc, err);
	if (!rc)
		rc = split_rcpts(o->recipients, &rcpts, &nr, err);
	if (rc)
		goto out;
	if (nr > MAX_RCPTS) {
		rc = qm_error_set(err, QM_ERR_TOOBIG,
		                  "more than %d recipients", MAX_RCPTS);
		goto out;
	}
	rc = bound_make(&mc->hdrs, o->level <= 2 ? ac->a.sae_id : "", &b, &bs,
	                err);
	if (rc)
		goto out;
	memset(&sp, 0, sizeof(sp));
	sp.level = o->level;
	sp.bound = &b;
	if (o->level <= 2) {
		rc = acct_kms_new(ac, &kms, err);
		if (rc)
			goto out;
		for (size_t i = 0; i < nr && !rc; i++) {
			rc = contact_sae(c, ac->a.id, rcpts[i], ek.sae[i],
			                 sizeof(ek.sae[i]), err);
			if (rc)
				break;
			if (o->level == 1)
				rc = qm_kms_material_get(
					kms, ek.sae[i], qm_l1_key_bytes(pt.len),
					&ek.ks[i], err);
			else
				rc = qm_kms_keys_get(kms, ek.sae[i], 1,
				                     QM_L2_KEYBYTES * 8, NULL, 0,
				                     &ek.ks[i], err);
			if (!rc)
				ek.n = i + 1;
			nids += rc ? 0 : qm_kms_keys_count(ek.ks[i]);
		}
		if (rc)
			goto out;
		ids = calloc(nids ? nids : 1, sizeof(*ids));
		if (!ids) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		nids = 0;
		for (size_t i = 0; i < ek.n && !rc; i++) {
			size_t nk = qm_kms_keys_count(ek.ks[i]);

			qkeys[i] = calloc(nk ? nk : 1, sizeof(struct qm_qkey));
			if (!qkeys[i]) {
				rc = qm_error_set(err, QM_ERR_NOMEM,
				                  "out of memory");
				break;
			}
			for (size_t j = 0; j < nk; j++) {
				qkeys[i][j].key_id = qm_kms_keys_id(ek.ks[i], j);
				qkeys[i][j].key = qm_kms_keys_key(
					ek.ks[i], j, &qkeys[i][j].len);
				ids[nids++] = qkeys[i][j].key_id;
			}
			slots[i].rcpt = ek.sae[i];
			slots[i].keys = qkeys[i];
			slots[i].nkeys = nk;
		}
		if (rc)
			goto out;
		sp.slots = slots;
		sp.nslots = ek.n;
		/* record the key IDs before they protect anything */
		rc = qm_store_outbox_reserve(c->store, o->id, ids, nids, err);
		if (rc)
			goto out;
	} else {
		rc = own_identity(c, ac->a.id, &self, err);
		for (size_t i = 0; i < nr && !rc; i++)
			rc = contact_pubid(c, rcpts[i], &pubs[i], NULL, err);
		if (rc)
			goto out;
		sp.sender = self;
		sp.rcpts = (const struct qm_pubid *const *)pubs;
		sp.nrcpts = nr;
		rc = qm_store_outbox_reserve(c->store, o->id, NULL, 0, err);
		if (rc)
			goto out;
	}
	rc = qm_env_seal(&sp, pt.data, pt.len, &env, err);
	if (rc)
		goto out;
	/* keep peak memory down: the plaintext is done with */
	qm_buf_free(&pt);
	memset(&w, 0, sizeof(w));
	w.hdrs = &mc->hdrs;
	w.level = o->level;
	w.key_ids = o->level <= 2 ? ids : NULL;
	w.nkey_ids = o->level <= 2 ? nids : 0;
	w.sender_sae = o->level <= 2 ? ac->a.sae_id : NULL;
	w.envelope = env.data;
	w.envelope_len = env.len;
	rc = qm_mail_wire_build(&w, &wire, err);
	/* the key bytes and the envelope are done with (ids points into ek
	 * until here) */
	qm_buf_free(&env);
	entry_keys_free(&ek);
	free(ids);
	ids = NULL;
	if (!rc)
		rc = qm_store_outbox_set_ciphertext(c->store, o->id, wire.data,
		                                    wire.len, err);
out:
	for (size_t i = 0; i < MAX_RCPTS; i++) {
		free(qkeys[i]);
		qm_pubid_free(&pubs[i]);
	}
	free(ids);
	entry_keys_free(&ek);
	qm_kms_free(&kms);
	qm_identity_free(&self);
	bound_store_free(&bs);
	qm_mail_strv_free(&rcpts, nr);
	qm_mail_content_free(&mc);
	qm_buf_free(&pt);
	qm_buf_free(&env);
	qm_buf_free(&wire);
	return rc;
}

/* Sends a QUEUED (or due RETRYING) entry over SMTP. */
static enum qm_err entry_send(struct qm_client *c, struct acct_conn *ac,
                              const struct qm_store_outbox *o,
                              struct progress *pg, int *accepted,
                              struct qm_error *err)
{
	struct qm_mail_server srv;
	char **rcpts = NULL;
	size_t nr = 0;
	enum qm_err rc;

	rc = split_rcpts(o->recipients, &rcpts, &nr, err);
	if (rc)
		return rc;
	rc = qm_store_outbox_begin_send(c->store, o->id, err);
	if (rc)
		goto out;
	acct_conn_server(ac, &ac->a.smtp, &srv);
	pg->what = "sending";
	srv.progress = on_mail_progress;
	srv.progress_arg = pg;
	rc = qm_mail_smtp_send(&srv, ac->a.address, (const char *const *)rcpts,
	                       nr, o->ciphertext, o->ciphertext_len, err);
	if (rc) {
		/* 5xx and refused authentication do not get better by waiting
		 * a minute, but the user may fix the account: retry later all
		 * the same, with a longer back-off */
		int64_t wait = (int64_t)RETRY_FIRST_S << (o->attempts < 6
		                                                  ? o->attempts
		                                                  : 6);
		if (wait > RETRY_MAX_S)
			wait = RETRY_MAX_S;
		qm_store_outbox_fail(c->store, o->id, qm_error_msg(err),
		                     qm_now() + wait, NULL);
		goto out;
	}
	*accepted = 1;
	rc = qm_store_outbox_sent(c->store, o->id, "250 accepted", err);
	if (rc) {
		/* it went out: never send it again because the disk was full
		 * when its success was to be written down. The journal keeps
		 * that across the end of this process; memory, failing it. */
		if (sentlog_add(c, o->id, NULL) != QM_OK &&
		    c->nunrecorded < QM_UNRECORDED_MAX)
			c->unrecorded[c->nunrecorded++] = o->id;
		qm_error_prefix(err, "the server accepted the message, but "
		                     "QMail could not record that: ");
		goto out;
	}
	/* the message went out: a copy for the Sent folder that fails now
	 * waits for the next outbox run (sentcopy.c), never fatal here */
	sent_copy_save(c, ac, o, NULL);
out:
	qm_mail_strv_free(&rcpts, nr);
	return rc;
}

/* Moves one entry as far along as it goes now (force: a retry that is not
 * due yet goes now). */
static enum qm_err entry_run_force(struct qm_client *c, struct acct_conn *ac,
                                   int64_t id, struct progress *pg, int *sent,
                                   int force, struct qm_error *err)
{
	struct qm_store_outbox o;
	enum qm_err rc;
	int lockfd = -1;

	*sent = 0;
	memset(&o, 0, sizeof(o));
	rc = outbox_lock(c, &lockfd, err);
	if (rc)
		return rc;
	/* read under the lock: another process may have moved it on */
	rc = qm_store_outbox_get(c->store, id, &o, err);
	if (rc)
		goto out;
	if (o.state == QM_OUTBOX_SENT) {
		/* another process on this home sent it meanwhile */
		*sent = 1;
		goto out;
	}
	if (o.state == QM_OUTBOX_PENDING) {
		if (pg->fn)
			pg->fn(pg->arg, "encrypting", 0, 1);
		rc = entry_encrypt(c, ac, &o, err);
		if (rc) {
			/* keep the reason with the message; keys fetched for
			 * it (if any) are burnt by the store, never reused */
			int64_t wait = (int64_t)RETRY_FIRST_S
			               << (o.attempts < 6 ? o.attempts : 6);
			qm_store_outbox_fail(c->store, id, qm_error_msg(err),
			                     qm_now() + (wait > RETRY_MAX_S
			                                         ? RETRY_MAX_S
			                                         : wait),
			                     NULL);
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
	qm_store_outbox_item_free(&o);
	home_unlock(&lockfd);
	return rc;
}

static enum qm_err entry_run(struct qm_client *c, struct acct_conn *ac,
                             int64_t id, struct progress *pg, int *sent,
                             struct qm_error *err)
{
	return entry_run_force(c, ac, id, pg, sent, 0, err);
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
	    sent_copy_waiting(c, o.account_id, id)) {
		/* the message went out; its copy for Sent is what waits */
		int64_t acct = o.account_id;

		qm_store_outbox_item_free(&o);
		rc = sent_copy_retry(c, acct, NULL, err);
		*sent = !sent_copy_waiting(c, acct, id);
		return rc;
	}
	if (o.state == QM_OUTBOX_SENT || o.state == QM_OUTBOX_FAILED) {
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "outbox message %lld is %s: nothing to retry",
		                  (long long)id,
		                  qm_store_outbox_state_str(o.state));
		qm_store_outbox_item_free(&o);
		return rc;
	}
	rc = acct_conn_load(c, o.account_id, &ac, err);
	qm_store_outbox_item_free(&o);
	if (rc)
		return rc;
	rc = entry_run_force(c, &ac, id, &pg, sent, 1, err);
	acct_conn_free(&ac);
	return rc;
}

enum qm_err qm_client_outbox_cancel(struct qm_client *c, int64_t id,
                                    struct qm_error *err)
{
	struct qm_store_outbox o;
	enum qm_err rc;
	int lockfd = -1;

	memset(&o, 0, sizeof(o));
	rc = outbox_lock(c, &lockfd, err);
	if (rc)
		return rc;
	rc = qm_store_outbox_get(c->store, id, &o, err);
	if (rc) {
		home_unlock(&lockfd);
		return rc;
	}
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
	home_unlock(&lockfd);
	return rc;
}

/* Joins bare addresses of several lists with commas into out. */
static enum qm_err rcpt_list(const char *const *const lists[],
                             const size_t counts[], size_t nlists,
                             struct qm_buf *out, size_t *total,
                             struct qm_error *err)
{
	char bare[QM_STORE_ADDRMAX];
	enum qm_err rc = QM_OK;

	*total = 0;
	for (size_t l = 0; l < nlists && !rc; l++) {
		for (size_t i = 0; i < counts[l] && !rc; i++) {
			rc = addr_bare(lists[l][i], bare, sizeof(bare), err);
			if (!rc && out->len)
				rc = qm_buf_append_str(out, ", ", err);
			if (!rc)
				rc = qm_buf_append_str(out, bare, err);
			(*total)++;
		}
	}
	return rc;
}

enum qm_err qm_client_send(struct qm_client *c,
                           const struct qm_client_compose *m,
                           qm_client_progress_fn progress, void *parg,
                           struct qm_client_sent *out, struct qm_error *err)
{
	struct acct_conn ac;
	struct qm_mail_hdrs *h = NULL;
	struct qm_mail_attachment *att = NULL;
	struct qm_mail_compose mc;
	struct qm_buf mime, main_rcpts;
	struct progress pg = {progress, parg, ""};
	const char *const *lists[3] = {m->to, m->cc, m->bcc};
	size_t counts[3] = {m->nto, m->ncc, m->nbcc};
	const char **all = NULL;
	size_t nall = 0, nmain = 0;
	char from[QM_STORE_ADDRMAX + QM_STORE_NAMEMAX + 4];
	uint64_t size = 0;
	enum qm_err rc;
	int level;

	memset(out, 0, sizeof(*out));
	qm_buf_init_secure(&mime, QM_CLIENT_MAXMSG);
	qm_buf_init(&main_rcpts, 64 * 1024);
	memset(&ac, 0, sizeof(ac));
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
	if (m->nbcc > 7)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "at most 7 Bcc recipients (each gets its "
		                    "own encrypted copy)");
	rc = acct_conn_load(c, m->account_id, &ac, err);
	if (rc)
		return rc;
	level = m->level ? m->level : ac.a.default_level;

	/* every recipient, for the level check */
	all = calloc(m->nto + m->ncc + m->nbcc, sizeof(*all));
	if (!all) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; i < counts[l]; i++)
			all[nall++] = lists[l][i];
	size = (m->text ? strlen(m->text) : 0) + 4096;
	for (size_t i = 0; i < m->natt; i++) {
		/* base64 in lines of 76 characters and CRLF, as GMime writes
		 * it: level 1 needs a key byte for each of them */
		uint64_t b64 = (m->att[i].len + 2) / 3 * 4;

		size += b64 + (b64 + 75) / 76 * 2 + 512;
	}
	rc = level_check(c, &ac, level, all, nall, size, NULL, err);
	if (rc && m->fallback_level && m->fallback_level != level) {
		struct qm_error e2;

		qm_error_clear(&e2);
		if (level_check(c, &ac, m->fallback_level, all, nall, size,
		                NULL, &e2) == QM_OK) {
			snprintf(out->note, sizeof(out->note),
			         "level %d was not available (%s); sent at "
			         "level %d as you allowed",
			         level, qm_error_msg(err), m->fallback_level);
			level = m->fallback_level;
			out->fell_back = 1;
			qm_error_clear(err);
			rc = QM_OK;
		}
	}
	if (rc)
		goto out;
	out->level = level;

	/* the protected message */
	if (ac.a.display_name[0])
		snprintf(from, sizeof(from), "%s <%s>", ac.a.display_name,
		         ac.a.address);
	else
		qm_strlcpy(from, ac.a.address, sizeof(from));
	rc = qm_mail_hdrs_make(from, m->to, m->nto, m->cc, m->ncc, qm_now(),
	                       &h, err);
	if (rc)
		goto out;
	att = calloc(m->natt ? m->natt : 1, sizeof(*att));
	if (!att) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < m->natt; i++) {
		att[i].name = m->att[i].name;
		att[i].type = m->att[i].type;
		att[i].data = m->att[i].data;
		att[i].len = m->att[i].len;
	}
	memset(&mc, 0, sizeof(mc));
	mc.hdrs = h;
	mc.subject = m->subject ? m->subject : "";
	mc.text = m->text ? m->text : "";
	mc.in_reply_to = m->in_reply_to;
	mc.references = m->references;
	mc.att = att;
	mc.natt = m->natt;
	rc = qm_mail_inner_build(&mc, &mime, err);
	if (!rc)
		rc = client_send_limits_check(&ac.lim, mime.len, m->natt, err);
	if (rc)
		goto out;

	/* into the outbox before any network step: one copy for To and Cc,
	 * one per Bcc recipient */
	rc = rcpt_list(lists, counts, 2, &main_rcpts, &nmain, err);
	if (rc)
		goto out;
	if (nmain) {
		rc = qm_store_outbox_add(c->store, m->account_id, h->message_id,
		                         (const char *)main_rcpts.data, level,
		                         mime.data, mime.len,
		                         &out->outbox_ids[out->n_outbox], err);
		if (rc)
			goto out;
		out->n_outbox++;
	}
	for (size_t i = 0; i < m->nbcc; i++) {
		char bare[QM_STORE_ADDRMAX];

		rc = addr_bare(m->bcc[i], bare, sizeof(bare), err);
		if (!rc)
			rc = qm_store_outbox_add(
				c->store, m->account_id, h->message_id, bare,
				level, mime.data, mime.len,
				&out->outbox_ids[out->n_outbox], err);
		if (rc)
			goto out;
		out->n_outbox++;
	}
	qm_buf_free(&mime); /* sealed in the vault now */

	/* and on its way */
	for (size_t i = 0; i < out->n_outbox; i++) {
		int sent = 0;

		rc = entry_run(c, &ac, out->outbox_ids[i], &pg, &sent, err);
		out->n_sent += (size_t)sent;
		if (rc) {
			if (!sent)
				qm_error_prefix(err, "the message waits in the "
				                     "outbox (`qmail outbox`): ");
			goto out;
		}
	}
out:
	free(all);
	free(att);
	qm_mail_hdrs_free(&h);
	qm_buf_free(&mime);
	qm_buf_free(&main_rcpts);
	acct_conn_free(&ac);
	return rc;
}

enum qm_err qm_client_outbox_run(struct qm_client *c, int64_t account_id,
                                 size_t *n_sent, size_t *n_failed,
                                 struct qm_error *err)
{
	int64_t *ids = NULL, *pend = NULL;
	size_t n = 0, np = 0, ok = 0, bad = 0;
	struct progress pg = {NULL, NULL, ""};
	enum qm_err rc, first = QM_OK;

	if (n_sent)
		*n_sent = 0;
	if (n_failed)
		*n_failed = 0;
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED, "unlock QMail first");
	{
		/* settle first (sends to record, a dead process's entries to
		 * recover) unless another process is working the outbox: a
		 * send that cannot be recorded yet stops the run here */
		int fd = -1;
		struct qm_error e;

		qm_error_clear(&e);
		rc = outbox_lock_within(c, 0, &fd, &e);
		if (rc == QM_OK)
			home_unlock(&fd);
		else if (rc != QM_ERR_UNAVAIL) {
			if (err)
				*err = e;
			return rc;
		}
	}
	rc = qm_store_outbox_list(c->store, account_id, QM_OUTBOX_PENDING, 0,
	                          &pend, &np, err);
	if (!rc)
		rc = qm_store_outbox_list(c->store, account_id, -1, qm_now(),
		                          &ids, &n, err);
	if (rc)
		goto out;
	for (size_t pass = 0; pass < 2; pass++) {
		int64_t *list = pass ? ids : pend;
		size_t cnt = pass ? n : np;

		for (size_t i = 0; i < cnt; i++) {
			struct qm_store_outbox o;
			struct acct_conn ac;
			struct qm_error e;
			int sent = 0;

			memset(&o, 0, sizeof(o));
			qm_error_clear(&e);
			if (qm_store_outbox_get(c->store, list[i], &o, &e))
				continue;
			if (o.state == QM_OUTBOX_SENT ||
			    o.state == QM_OUTBOX_FAILED) {
				/* done by another process meanwhile */
				qm_store_outbox_item_free(&o);
				continue;
			}
			rc = acct_conn_load(c, o.account_id, &ac, &e);
			qm_store_outbox_item_free(&o);
			if (!rc) {
				rc = entry_run(c, &ac, list[i], &pg, &sent, &e);
				acct_conn_free(&ac);
			}
			if (rc && !first) {
				first = rc;
				if (err)
					*err = e;
			}
			/* sent counts as sent even when recording it failed */
			if (sent)
				ok++;
			else if (rc)
				bad++;
		}
	}
	{
		/* copies for the Sent folder whose first try failed */
		struct qm_error e;

		qm_error_clear(&e);
		rc = sent_copy_retry(c, account_id, NULL, &e);
		if (rc && !first) {
			first = rc;
			if (err)
				*err = e;
		}
	}
	rc = first;
out:
	free(ids);
	free(pend);
	if (n_sent)
		*n_sent = ok;
	if (n_failed)
		*n_failed = bad;
	return rc;
}
