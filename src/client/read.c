/* SPDX-License-Identifier: MIT */
/*
 * Reading a message: its index entry, and for a message that passed its
 * checks, the plaintext from the vault parsed into what a person reads.
 * A tampered or replayed message has no plaintext to show, only its
 * status and the reason.
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
	char **strs[15];

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
	for (size_t i = 0; i < 15; i++) {
		if (*strs[i]) {
			qm_wipe(*strs[i], strlen(*strs[i]));
			free(*strs[i]);
		}
	}
	for (size_t i = 0; i < v->natt; i++) {
		free(v->att[i].name);
		free(v->att[i].type);
		qm_wipe(v->att[i].data, v->att[i].len);
		free(v->att[i].data);
	}
	free(v->att);
	for (size_t i = 0; i < v->nkey_ids; i++)
		free(v->key_ids[i]);
	free(v->key_ids);
	free(v);
	*pv = NULL;
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
		return "refused: past one of your limits (qmail config list), "
		       "so it was not opened; it stays on the server and is "
		       "fetched again at the next sync after you raise the "
		       "limit";
	default:
		return "cannot be read: the key is not available";
	}
}

enum qm_err qm_client_read(struct qm_client *c, int64_t id,
                           struct qm_client_view **out, struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_msg *m;
	struct qm_client_view *v = NULL;
	struct qm_mail_content *mc = NULL;
	struct qm_buf body;
	char key[32], reason[QM_ERR_MSGMAX], sae[QM_STORE_NAMEMAX];
	enum qm_err rc;

	qm_buf_init_secure(&body, QM_STORE_MAXBLOB);
	rc = qm_store_msg_get(c->store, id, &l, err);
	if (rc)
		goto out;
	if (!l->n) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %lld",
		                  (long long)id);
		goto out;
	}
	m = &l->items[0];
	v = calloc(1, sizeof(*v));
	if (!v) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	v->id = id;
	v->level = m->level;
	v->verify = m->verify;
	snprintf(key, sizeof(key), "reason.%lld", (long long)id);
	acct_setting(c, m->account_id, key, reason, sizeof(reason));
	v->status_text = strdup(reason[0] ? reason : verify_text(m->verify));
	snprintf(key, sizeof(key), "sae.%lld", (long long)id);
	acct_setting(c, m->account_id, key, sae, sizeof(sae));
	v->sender_sae = strdup(sae);
	load_key_ids(c, id, v);
	if (m->verify == QM_VERIFY_OK || m->verify == QM_VERIFY_NOT_QMAIL) {
		struct qm_mail_limits lim;

		client_mail_limits(c, &lim);
		rc = qm_store_msg_body(c->store, id, &body, err);
		if (!rc)
			rc = qm_mail_content_parse(body.data, body.len, &lim,
			                           &mc, err);
		if (rc)
			goto out;
	}
	if (mc) {
		v->from = dup_or_empty(mc->hdrs.from);
		v->to = dup_or_empty(mc->hdrs.to);
		v->cc = dup_or_empty(mc->hdrs.cc);
		v->date = dup_or_empty(mc->hdrs.date);
		v->message_id = dup_or_empty(mc->hdrs.message_id);
		v->subject = dup_or_empty(mc->subject);
		v->in_reply_to = dup_or_empty(mc->in_reply_to);
		v->references = dup_or_empty(mc->references);
		v->text = dup_or_empty(mc->text);
		v->html = mc->html ? strdup(mc->html) : NULL;
		v->att = calloc(mc->natt ? mc->natt : 1, sizeof(*v->att));
		if (!v->att) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < mc->natt; i++) {
			v->att[i].name = dup_or_empty(mc->att[i].name);
			v->att[i].type = dup_or_empty(mc->att[i].type);
			v->att[i].data = malloc(mc->att[i].len ? mc->att[i].len
			                                       : 1);
			if (!v->att[i].data) {
				rc = qm_error_set(err, QM_ERR_NOMEM,
				                  "out of memory");
				goto out;
			}
			memcpy(v->att[i].data, mc->att[i].data,
			       mc->att[i].len);
			v->att[i].len = mc->att[i].len;
			v->natt = i + 1;
		}
	} else {
		v->from = dup_or_empty(m->from_addr);
		v->to = dup_or_empty(m->to_addrs);
		v->cc = strdup("");
		v->date = strdup("");
		v->message_id = dup_or_empty(m->message_id);
		v->subject = strdup("");
		v->in_reply_to = strdup("");
		v->references = strdup("");
		v->text = strdup("");
	}
	v->signer_fpr = strdup("");
	v->sender_owner = strdup("");
	v->signer_addr = strdup("");
	if (!v->sender_owner || !v->signer_addr) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!v->status_text || !v->from || !v->to || !v->cc || !v->date ||
	    !v->message_id || !v->subject || !v->in_reply_to ||
	    !v->references || !v->text || !v->sender_sae || !v->signer_fpr ||
	    (mc && mc->html && !v->html)) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!(m->flags & QM_FLAG_SEEN))
		qm_store_msg_set_flags(c->store, id, m->flags | QM_FLAG_SEEN,
		                       NULL);
	*out = v;
	v = NULL;
out:
	qm_client_view_free(&v);
	qm_mail_content_free(&mc);
	qm_store_msglist_free(&l);
	qm_buf_free(&body);
	return rc;
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
