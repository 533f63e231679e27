/* SPDX-License-Identifier: MIT */
/*
 * Reading a message: its index entry, and for a message that passed its
 * checks, the plaintext from the vault parsed into what a person reads.
 * A tampered or replayed message has no plaintext to show, only its
 * status and the reason. For an opened QMail message the headers shown
 * are the ones the envelope authenticated, taken from the message's sealed
 * security record (msgmeta.c), never the inner copies; the signing key of
 * a level-3/4 message is shown with its trust as the keyring has it now,
 * so a key verified later shows verified.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

void qm_client_view_free(struct qm_client_view **pv)
{
	struct qm_client_view *v;
	char **strs[17];

	if (!pv || !*pv)
		return;
	v = *pv;
	strs[0] = &v->status_text;
	strs[1] = &v->from;
	strs[2] = &v->to;
	strs[3] = &v->cc;
	strs[4] = &v->date;
	strs[5] = &v->message_id;
	strs[6] = &v->subject;
	strs[7] = &v->in_reply_to;
	strs[8] = &v->references;
	strs[9] = &v->text;
	strs[10] = &v->html;
	strs[11] = &v->sender_sae;
	strs[12] = &v->signer_fpr;
	strs[13] = &v->sender_owner;
	strs[14] = &v->signer_addr;
	strs[15] = &v->reply_to;
	strs[16] = &v->from_name;
	for (size_t i = 0; i < 17; i++) {
		if (*strs[i]) {
			qm_wipe(*strs[i], strlen(*strs[i]));
			free(*strs[i]);
		}
	}
	for (size_t i = 0; i < v->natt; i++) {
		free(v->att[i].name);
		free(v->att[i].type);
		free(v->att[i].ext);
		free(v->att[i].cid);
		if (v->att[i].data) {
			qm_wipe(v->att[i].data, v->att[i].len);
			free(v->att[i].data);
		}
	}
	free(v->att);
	for (size_t i = 0; i < v->nkey_ids; i++)
		free(v->key_ids[i]);
	free(v->key_ids);
	free(v);
	*pv = NULL;
}

const char *qm_client_signer_trust_name(enum qm_client_signer_trust t)
{
	switch (t) {
	case QM_SIGNER_VERIFIED:
		return "verified";
	case QM_SIGNER_UNVERIFIED:
		return "unverified";
	case QM_SIGNER_CHANGED:
		return "changed";
	case QM_SIGNER_RETIRED:
		return "retired";
	case QM_SIGNER_UNKNOWN:
		return "unknown";
	default:
		return "";
	}
}

/* The key IDs the message consumed, from the replay log (all of them). */
static void load_key_ids(struct qm_client *c, int64_t id,
                         struct qm_client_view *v)
{
	char **ids = NULL;
	size_t n = 0;

	if (qm_store_msg_key_ids(c->store, id, &ids, &n, NULL) != QM_OK)
		return;
	v->key_ids = ids;
	v->nkey_ids = n;
}

static const char *verify_text(enum qm_store_verify vf)
{
	switch (vf) {
	case QM_VERIFY_OK:
		return "decrypted and verified";
	case QM_VERIFY_TAMPERED:
		return "tampered: the message failed its integrity check and "
		       "is not shown";
	case QM_VERIFY_REPLAY:
		return "replay: it reuses a key ID of an earlier message and "
		       "was not decrypted";
	case QM_VERIFY_NOT_QMAIL:
		return "not encrypted: anyone on the way could read or change "
		       "it";
	case QM_VERIFY_REFUSED:
		return "refused: past one of your limits, so it was not "
		       "opened; it stays on the server and is fetched again "
		       "at the next sync after you raise the limit";
	case QM_VERIFY_UNVERIFIED_SENDER:
		return "decrypted, but its sender is not verified: it was not "
		       "sent from the SAE ID confirmed for its From address";
	case QM_VERIFY_WAITING:
		return "waiting for its keys: a later sync opens it";
	case QM_VERIFY_UNREADABLE:
		return "unreadable: the message is malformed or the KME "
		       "refused its key IDs";
	case QM_VERIFY_SENT:
		return "sent by you from this QMail: the copy on the server "
		       "is encrypted for its recipients; this is QMail's own "
		       "copy of what you sent";
	case QM_VERIFY_SENT_ELSEWHERE:
		return "from your address, but not sent from this QMail: it "
		       "is encrypted for its recipients and cannot be read "
		       "here";
	default:
		return "cannot be read: the key is not available";
	}
}

/* The fingerprint text of a keyring entry's public key. */
static int key_fpr(const struct qm_store_key *k, char *out, size_t outlen)
{
	struct qm_pubid *p = NULL;
	unsigned char raw[QM_FPR_BYTES];
	char text[QM_FPR_TEXTLEN];

	if (strcmp(k->alg, QM_CLIENT_ID_ALG) != 0 ||
	    qm_crypto_pubid_from_bytes(k->pub, k->pub_len, &p, NULL) != QM_OK)
		return -1;
	qm_crypto_pubid_fingerprint(p, raw);
	qm_crypto_fpr_text(raw, text);
	qm_crypto_pubid_free(&p);
	return qm_strlcpy(out, text, outlen);
}

/* What the keyring says now of the key fpr of address. */
static enum qm_client_signer_trust
signer_trust(struct qm_client *c, const char *address, const char *fpr)
{
	struct qm_store_key *ks = NULL;
	enum qm_client_signer_trust t = QM_SIGNER_UNKNOWN;
	size_t n = 0;
	int other_changed = 0;

	if (qm_store_key_contact_list(c->store, address, &ks, &n, NULL))
		return QM_SIGNER_UNKNOWN;
	for (size_t i = 0; i < n; i++) {
		char have[QM_STORE_FPRMAX];

		if (key_fpr(&ks[i], have, sizeof(have)) != 0)
			continue;
		if (strcmp(have, fpr) != 0) {
			other_changed |= ks[i].trust == QM_TRUST_CHANGED;
			continue;
		}
		t = ks[i].trust == QM_TRUST_VERIFIED     ? QM_SIGNER_VERIFIED
		    : ks[i].trust == QM_TRUST_UNVERIFIED ? QM_SIGNER_UNVERIFIED
		    : ks[i].trust == QM_TRUST_RETIRED    ? QM_SIGNER_RETIRED
		                                         : QM_SIGNER_CHANGED;
	}
	for (size_t i = 0; i < n; i++)
		qm_store_key_free(&ks[i]);
	free(ks);
	/* the contact presents another key, not decided on: the one that
	 * signed this message is no longer simply theirs */
	if (other_changed &&
	    (t == QM_SIGNER_VERIFIED || t == QM_SIGNER_UNVERIFIED))
		t = QM_SIGNER_CHANGED;
	return t;
}

/* The status sentence of an opened level-3/4 message, from its signer. */
static char *signed_status(const struct qm_client_view *v)
{
	char s[QM_ERR_MSGMAX];
	const char *lvl = qm_client_level_name(v->level);

	switch (v->signer_trust) {
	case QM_SIGNER_VERIFIED:
		snprintf(
		    s, sizeof(s),
		    "decrypted and verified at level %d (%s): signed by the "
		    "verified key of %s",
		    v->level, lvl, v->signer_addr);
		break;
	case QM_SIGNER_UNVERIFIED:
		snprintf(
		    s, sizeof(s),
		    "decrypted at level %d (%s) and its signature checked, "
		    "but the signing key of %s is not verified: compare the "
		    "safety number with %s before trusting who sent it",
		    v->level, lvl, v->signer_addr, v->signer_addr);
		break;
	case QM_SIGNER_CHANGED:
		snprintf(
		    s, sizeof(s),
		    "decrypted at level %d (%s) and its signature checked "
		    "with the key %s had then, but %s presents another key "
		    "since (key changed, not decided on yet)",
		    v->level, lvl, v->signer_addr, v->signer_addr);
		break;
	case QM_SIGNER_RETIRED:
		snprintf(s, sizeof(s),
		         "decrypted at level %d (%s) and its signature checked "
		         "with an earlier key of %s, replaced since by the key "
		         "you verified",
		         v->level, lvl, v->signer_addr);
		break;
	default:
		snprintf(s, sizeof(s),
		         "decrypted at level %d (%s) and its signature checked "
		         "with a key of %s that is no longer in your keyring",
		         v->level, lvl, v->signer_addr);
	}
	return strdup(s);
}

/* The content of a readable message into v (attachments copied; one
 * only listed, data NULL, keeps its size and no data). */
static enum qm_err view_content(struct qm_client_view *v,
                                const struct qm_mail_content *mc,
                                struct qm_error *err)
{
	v->subject = dup_or_empty(mc->subject);
	v->in_reply_to = dup_or_empty(mc->in_reply_to);
	v->references = dup_or_empty(mc->references);
	v->reply_to = dup_or_empty(mc->reply_to);
	v->text = dup_or_empty(mc->text);
	v->html = mc->html ? strdup(mc->html) : NULL;
	v->att = calloc(mc->natt ? mc->natt : 1, sizeof(*v->att));
	if (!v->att || (mc->html && !v->html))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < mc->natt; i++) {
		v->att[i].name = dup_or_empty(mc->att[i].name);
		v->att[i].type = dup_or_empty(mc->att[i].type);
		v->att[i].cid = dup_or_empty(mc->att[i].cid);
		v->att[i].len = mc->att[i].len;
		if (!mc->att[i].data) {
			v->natt = i + 1;
			if (!v->att[i].name || !v->att[i].type ||
			    !v->att[i].cid)
				return qm_error_set(err, QM_ERR_NOMEM,
				                    "out of memory");
			continue;
		}
		v->att[i].data = malloc(mc->att[i].len ? mc->att[i].len : 1);
		if (!v->att[i].data) {
			free(v->att[i].name);
			free(v->att[i].type);
			free(v->att[i].cid);
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		}
		memcpy(v->att[i].data, mc->att[i].data, mc->att[i].len);
		v->natt = i + 1;
	}
	return QM_OK;
}

/*
 * The message's sealed security record into *mm (*has_meta 1), and the
 * reason its status reads: a record that does not open, or is missing while
 * the message's labels say it has one, or labels changed on disk, make the
 * message read as tampered (v->verify), with nothing of it shown.
 */
static enum qm_err view_record(struct qm_client *c,
                               const struct qm_store_msg *m,
                               struct qm_client_view *v, struct msg_meta *mm,
                               int *has_meta, char *reason, size_t reasonlen,
                               struct qm_error *err)
{
	struct qm_error me;
	char key[32];
	enum qm_err rc;

	*has_meta = 0;
	snprintf(key, sizeof(key), "reason.%lld", (long long)m->id);
	client_acct_setting(c, m->account_id, key, reason, reasonlen);
	if (m->label == QM_LABEL_ALTERED) {
		/* the store made it tampered: nothing it recorded is trusted */
		qm_strlcpy(reason,
		           "tampered: its security record was changed on disk "
		           "(its level, status or sender no longer match what "
		           "QMail recorded), so it is not shown",
		           reasonlen);
		return QM_OK;
	}
	if (m->verify == QM_VERIFY_NOT_QMAIL)
		return QM_OK;
	qm_error_clear(&me);
	rc = client_msg_meta_load(c, m->id, mm, &me);
	if (rc == QM_ERR_NOTFOUND && !m->has_meta)
		return QM_OK; /* received before QMail kept the record */
	if (rc == QM_ERR_NOTFOUND || rc == QM_ERR_AUTH || rc == QM_ERR_PARSE) {
		/* what the receiver established cannot be trusted (the record
		 * was altered, or removed while the message's labels say it
		 * has one): show nothing of the message */
		v->verify = QM_VERIFY_TAMPERED;
		snprintf(
		    reason, reasonlen,
		    "tampered in storage: the message's security record in "
		    "the vault was altered or removed (%s); it is not shown",
		    qm_error_msg(&me));
		return QM_OK;
	}
	if (rc) {
		if (err)
			*err = me;
		return rc;
	}
	*has_meta = 1;
	return QM_OK;
}

/* Who sent it and what became of it: sender SAE and its owner, signer,
 * the next try of one that waits, whether it may be tried again, the key
 * IDs it consumed. */
static void view_sender(struct qm_client *c, const struct qm_store_msg *m,
                        const struct msg_meta *mm, int has_meta,
                        struct qm_client_view *v)
{
	char key[32], sae[QM_STORE_NAMEMAX];

	if (has_meta && mm->sae[0]) {
		v->sender_sae = strdup(mm->sae);
	} else {
		snprintf(key, sizeof(key), "sae.%lld", (long long)m->id);
		client_acct_setting(c, m->account_id, key, sae, sizeof(sae));
		v->sender_sae = strdup(sae);
	}
	v->sender_owner = dup_or_empty(mm->owner);
	v->signer_fpr = dup_or_empty(mm->signer);
	v->signer_addr = dup_or_empty(mm->signer_addr);
	if (mm->path.relayed) {
		v->relay_hops = mm->path.hops;
		v->relay_trusted = mm->path.trusted;
		qm_strlcpy(v->relay_source, mm->path.source,
		           sizeof(v->relay_source));
	}
	v->retry_at = mm->wait_kind ? mm->next_at : 0;
	v->retryable = m->label != QM_LABEL_ALTERED && m->has_body &&
	               (v->verify == QM_VERIFY_UNREADABLE ||
	                v->verify == QM_VERIFY_UNKNOWN_KEY ||
	                v->verify == QM_VERIFY_WAITING ||
	                v->verify == QM_VERIFY_SENT_ELSEWHERE);
	load_key_ids(c, m->id, v);
}

static enum qm_err blob_rd(void *arg, void *buf, size_t want, size_t *got,
                           struct qm_error *err)
{
	return qm_store_blob_read(arg, buf, want, got, err);
}

static enum qm_err blob_seek(void *arg, uint64_t off, struct qm_error *err)
{
	return qm_store_blob_seek(arg, off, err);
}

/* The content of message id with its attachments listed, not decoded
 * (qm_client_read_listed): a body kept as a blob is parsed a window at a
 * time, one kept whole from memory. */
static enum qm_err body_outline(struct qm_client *c, int64_t id,
                                const struct qm_mail_limits *lim,
                                struct qm_mail_content **mc,
                                struct qm_error *err)
{
	struct qm_store_blob_r *r = NULL;
	struct qm_mail_src src = {0};
	struct qm_buf body;
	enum qm_err rc = qm_store_msg_body_open(c->store, id, &r, err);

	if (!rc && r) {
		src.read = blob_rd;
		src.seek = blob_seek;
		src.arg = r;
		src.len = qm_store_blob_size(r);
		rc = qm_mail_content_outline_src(&src, lim, mc, err);
		qm_store_blob_close(&r);
		return rc;
	}
	if (rc)
		return rc;
	qm_buf_init_secure(&body, QM_STORE_MAXBLOB);
	rc = qm_store_msg_body(c->store, id, &body, err);
	if (!rc)
		rc = qm_mail_content_outline(body.data, body.len, lim, mc, err);
	qm_buf_free(&body);
	return rc;
}

/* The readable content of a message that may be shown (*mc kept for its
 * headers), else empty fields; listed: attachments not decoded. */
static enum qm_err view_body(struct qm_client *c, int64_t id, int listed,
                             struct qm_client_view *v,
                             struct qm_mail_content **mc, struct qm_error *err)
{
	struct qm_mail_limits lim;
	struct qm_buf body;
	enum qm_err rc;

	if (v->verify != QM_VERIFY_OK && v->verify != QM_VERIFY_NOT_QMAIL &&
	    v->verify != QM_VERIFY_UNVERIFIED_SENDER &&
	    v->verify != QM_VERIFY_SENT) {
		v->subject = strdup("");
		v->in_reply_to = strdup("");
		v->references = strdup("");
		v->reply_to = strdup("");
		v->text = strdup("");
		return QM_OK;
	}
	client_mail_limits(c, &lim);
	if (listed) {
		rc = body_outline(c, id, &lim, mc, err);
		if (rc)
			client_limit_hint(err);
		else
			rc = view_content(v, *mc, err);
		return rc;
	}
	qm_buf_init_secure(&body, QM_STORE_MAXBLOB);
	rc = qm_store_msg_body(c->store, id, &body, err);
	if (!rc)
		rc = qm_mail_content_parse(body.data, body.len, &lim, mc, err);
	if (rc)
		client_limit_hint(err);
	else
		rc = view_content(v, *mc, err);
	qm_buf_free(&body);
	return rc;
}

/* The header values shown: what the envelope authenticated (the sealed
 * record), not the inner copies; those of a plain message; the index's
 * for one that is not shown. */
static void view_headers(const struct qm_store_msg *m,
                         const struct msg_meta *mm, int has_meta,
                         const struct qm_mail_content *mc,
                         struct qm_client_view *v)
{
	if (mc && has_meta && mm->from) {
		v->bound = 1;
		v->from = dup_or_empty(mm->from);
		v->to = dup_or_empty(mm->to);
		v->cc = dup_or_empty(mm->cc);
		v->date = dup_or_empty(mm->date);
		v->message_id = dup_or_empty(mm->mid);
	} else if (mc) {
		v->from = dup_or_empty(mc->hdrs.from);
		v->to = dup_or_empty(mc->hdrs.to);
		v->cc = dup_or_empty(mc->hdrs.cc);
		v->date = dup_or_empty(mc->hdrs.date);
		v->message_id = dup_or_empty(mc->hdrs.message_id);
	} else {
		v->from = dup_or_empty(m->from_addr);
		v->to = dup_or_empty(m->to_addrs);
		v->cc = strdup("");
		v->date = strdup("");
		v->message_id = dup_or_empty(m->message_id);
	}
}

/* The sender's name (qm_client_sender_name): the one the row's list
 * item keeps, else (a row filed before names) the one of the From in the
 * plaintext shown (of a QMail message its inner copy). */
static enum qm_err view_name(struct qm_client *c, const struct qm_store_msg *m,
                             const struct qm_mail_content *mc,
                             struct qm_client_view *v, struct qm_error *err)
{
	struct qm_store_msg row = *m;
	char name[QM_STORE_NAMEMAX];

	if ((!row.from_name || !*row.from_name) && mc) {
		client_sender_name_of(mc->hdrs.from, m->from_addr, name,
		                      sizeof(name));
		row.from_name = name;
	}
	return qm_client_sender_name(c, &row, &v->from_name, err);
}

/* The status sentence: a level-3/4 message's from its signer's trust now,
 * others from the reason recorded. */
static void view_status(struct qm_client *c, const char *reason,
                        struct qm_client_view *v)
{
	if (v->verify == QM_VERIFY_OK && v->level >= 3 && v->signer_fpr &&
	    v->signer_fpr[0] && v->signer_addr) {
		v->signer_trust =
		    signer_trust(c, v->signer_addr, v->signer_fpr);
		v->status_text = signed_status(v);
	} else {
		v->status_text =
		    strdup(reason[0] ? reason : verify_text(v->verify));
	}
}

/* 1 when every string of the view is there (none failed to copy). */
static int view_complete(const struct qm_client_view *v)
{
	return v->status_text && v->from && v->to && v->cc && v->date &&
	       v->message_id && v->subject && v->in_reply_to && v->references &&
	       v->reply_to && v->text && v->sender_sae && v->signer_fpr &&
	       v->sender_owner && v->signer_addr;
}

static enum qm_err read_view(struct qm_client *c, int64_t id, int listed,
                             struct qm_client_view **out, struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_msg *m;
	struct qm_client_view *v = NULL;
	struct qm_mail_content *mc = NULL;
	struct msg_meta mm;
	char reason[QM_ERR_MSGMAX];
	int has_meta = 0;
	enum qm_err rc;

	memset(&mm, 0, sizeof(mm));
	/* a header-only record: its body first (a large folder's sync lists
	 * plain mail from its headers and fetches bodies afterwards) */
	rc = client_msg_body_fetch(c, &id, err);
	if (!rc)
		rc = qm_store_msg_get(c->store, id, &l, err);
	if (!rc && !l->n)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %lld",
		                  (long long)id);
	if (!rc && !(v = calloc(1, sizeof(*v))))
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (rc)
		goto out;
	m = &l->items[0];
	v->id = id;
	v->level = m->level;
	v->verify = m->verify;
	rc = view_record(c, m, v, &mm, &has_meta, reason, sizeof(reason), err);
	if (rc)
		goto out;
	view_sender(c, m, &mm, has_meta, v);
	rc = view_body(c, id, listed, v, &mc, err);
	if (rc)
		goto out;
	view_headers(m, &mm, has_meta, mc, v);
	rc = view_name(c, m, mc, v, err);
	if (rc)
		goto out;
	view_status(c, reason, v);
	rc = view_complete(v)
	         ? QM_OK
	         : qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (!rc)
		rc = client_view_display(v, err); /* what a person sees */
	if (rc)
		goto out;
	if (!(m->flags & QM_FLAG_SEEN))
		/* best effort: the message was read; an unwritable store
		 * leaves it marked unread, which a later read retries */
		QM_IGNORE(qm_store_msg_set_flags(
		    c->store, id, m->flags | QM_FLAG_SEEN, NULL));
	*out = v;
	v = NULL;
out:
	client_msg_meta_clear(&mm);
	qm_client_view_free(&v);
	qm_mail_content_free(&mc);
	qm_store_msglist_free(&l);
	return rc;
}

enum qm_err qm_client_read(struct qm_client *c, int64_t id,
                           struct qm_client_view **out, struct qm_error *err)
{
	return read_view(c, id, 0, out, err);
}

enum qm_err qm_client_read_listed(struct qm_client *c, int64_t id,
                                  struct qm_client_view **out,
                                  struct qm_error *err)
{
	return read_view(c, id, 1, out, err);
}
