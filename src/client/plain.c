/* SPDX-License-Identifier: MIT */
/*
 * Plain mail, never by accident (docs/CLIENT.md "Plain mail"). A recipient
 * QMail knows nothing of (no public key, not even a changed one, and no
 * SAE ID) can get no QMail message: such a recipient may be sent an
 * ordinary, unencrypted message, but only when the sender chose so for
 * that message, and never when a floor is set (the setting min_level or
 * the contact's minimum level): an unencrypted message is below every
 * level. A recipient QMail knows (a key, a changed key, an SAE ID, even an
 * unconfirmed one, a contact record changed on disk) never gets one: what
 * is wrong with it is said, as before. The send path (send.c) keeps the
 * plain copies in their own outbox entries (level 0), so that no plain copy
 * carries ciphertext and no encrypted copy goes to a plain recipient.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The note the setting plain_invite adds to a plain message. */
#define INVITE_NOTE                                                            \
	"\n\n-- \nThis message was sent unencrypted, as ordinary email, "      \
	"because you do not use QMail yet.\nQMail is an email client that "    \
	"encrypts mail end to end, with post-quantum and quantum-key "         \
	"(QKD)\nencryption. With it, we could write to each other "            \
	"encrypted.\n"

enum qm_err client_rcpt_plain_only(struct qm_client *c,
                                   const struct acct_conn *ac, const char *bare,
                                   int *yes, struct qm_error *err)
{
	struct qm_store_key k;
	struct qm_store_contact ct;
	enum qm_err rc;

	*yes = 0;
	memset(&k, 0, sizeof(k));
	rc =
	    qm_store_key_contact_get(c->store, bare, QM_CLIENT_ID_ALG, &k, err);
	qm_store_key_free(&k);
	if (rc == QM_OK || rc == QM_ERR_STATE) {
		/* a key, or a changed one: a QMail user, whose message waits
		 * for the key to be sorted out, never goes plain */
		qm_error_clear(err);
		return QM_OK;
	}
	if (rc != QM_ERR_NOTFOUND)
		return rc;
	qm_error_clear(err);
	rc = qm_store_contact_get(c->store, ac->a.id, bare, &ct, err);
	if (rc == QM_ERR_NOTFOUND) {
		qm_error_clear(err);
		*yes = 1;
		return QM_OK;
	}
	if (rc)
		return rc;
	*yes = !ct.sae_id[0] && ct.label != QM_LABEL_ALTERED;
	return QM_OK;
}

/* Moves the recipients of from that can get no QMail message to to. */
static enum qm_err split_one(struct qm_client *c, const struct acct_conn *ac,
                             struct rcpts *from, struct rcpts *to,
                             struct qm_error *err)
{
	size_t keep = 0;
	enum qm_err rc = QM_OK;

	for (size_t i = 0; i < from->n; i++) {
		int plain = 0;

		if (!rc)
			rc = client_rcpt_plain_only(c, ac, from->v[i], &plain,
			                            err);
		if (!rc && plain)
			rc = client_rcpts_add(to, from->v[i], NULL, err);
		if (!rc && plain) {
			free(from->v[i]);
			continue;
		}
		from->v[keep++] = from->v[i];
	}
	from->n = keep;
	return rc;
}

enum qm_err client_plain_split(struct qm_client *c, const struct acct_conn *ac,
                               struct rcpts *tocc, struct rcpts *bcc,
                               struct rcpts *ptocc, struct rcpts *pbcc,
                               struct qm_error *err)
{
	enum qm_err rc = split_one(c, ac, tocc, ptocc, err);

	if (!rc)
		rc = split_one(c, ac, bcc, pbcc, err);
	return rc;
}

void client_plain_names(const struct rcpts *a, const struct rcpts *b, char *out,
                        size_t outlen)
{
	const struct rcpts *lists[2] = {a, b};
	size_t have = 0;

	if (!outlen)
		return;
	out[0] = '\0';
	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; lists[l] && i < lists[l]->n; i++) {
			int w = snprintf(out + have, outlen - have, "%s%s",
			                 have ? ", " : "", lists[l]->v[i]);

			if (w < 0 || (size_t)w >= outlen - have)
				return; /* cut, as any message is */
			have += (size_t)w;
		}
}

enum qm_err client_plain_allowed(struct qm_client *c,
                                 const struct acct_conn *ac,
                                 const struct rcpts *a, const struct rcpts *b,
                                 struct qm_error *err)
{
	const struct rcpts *lists[2] = {a, b};
	char names[QM_ERR_ARGMAX];
	int min = 0;
	enum qm_err rc;

	rc = qm_client_level_setting_get(c, QM_CLIENT_SET_MIN_LEVEL, &min, err);
	if (rc)
		return rc;
	client_plain_names(a, b, names, sizeof(names));
	if (min)
		return qm_error_set(
		    err, QM_ERR_UNAVAIL,
		    "%.200s cannot get an encrypted message (no public key or "
		    "SAE ID is known), and the setting min_level (\"never "
		    "send below\") requires level %d or stronger for every "
		    "message: an unencrypted message is below every level",
		    names, min);
	for (size_t l = 0; l < 2; l++)
		for (size_t i = 0; lists[l] && i < lists[l]->n; i++) {
			const char *who = lists[l]->v[i];
			struct qm_store_contact ct;

			if (qm_store_contact_get(c->store, ac->a.id, who, &ct,
			                         NULL) != QM_OK)
				continue;
			if (ct.label == QM_LABEL_ALTERED)
				return qm_error_set(
				    err, QM_ERR_STATE,
				    "the security record of contact %s (SAE "
				    "ID, confirmation, minimum level) was "
				    "changed on disk outside QMail: enter the "
				    "contact again before sending to it",
				    who);
			if (ct.min_level)
				return qm_error_set(
				    err, QM_ERR_UNAVAIL,
				    "you set level %d as the weakest allowed "
				    "for %s, who cannot get an encrypted "
				    "message (no public key or SAE ID is "
				    "known): an unencrypted message is below "
				    "every level",
				    ct.min_level, who);
		}
	return QM_OK;
}

enum qm_err client_plain_refuse(const struct rcpts *ptocc,
                                const struct rcpts *pbcc, struct qm_error *err)
{
	char names[QM_ERR_ARGMAX];
	size_t n = ptocc->n + pbcc->n;

	client_plain_names(ptocc, pbcc, names, sizeof(names));
	qm_error_set(err, QM_ERR_UNAVAIL,
	             "%.300s cannot get an encrypted message: no public key "
	             "and no SAE ID %s known for %s. %s can be sent an "
	             "ordinary, unencrypted message instead, if you choose so "
	             "for this message (anyone on the way can read it), or "
	             "encrypted once %s key is known",
	             names, n > 1 ? "are" : "is", n > 1 ? "them" : "it",
	             n > 1 ? "They" : "It", n > 1 ? "their" : "the");
	return qm_error_hint(err, QM_HINT_PLAIN, names);
}

int client_plain_invite(struct qm_client *c, int64_t account_id)
{
	char v[8];

	client_acct_setting(c, account_id, QM_CLIENT_SET_PLAIN_INVITE, v,
	                    sizeof(v));
	return v[0] == '1';
}

const char *client_plain_invite_note(void)
{
	return INVITE_NOTE;
}

enum qm_err qm_client_plain_msg(struct qm_client *c,
                                const struct qm_client_compose *m,
                                struct qm_client_plain *out,
                                struct qm_error *err)
{
	struct rcpts tocc = {NULL, 0}, bcc = {NULL, 0};
	struct rcpts ptocc = {NULL, 0}, pbcc = {NULL, 0};
	struct acct_conn ac;
	struct qm_error e;
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	rc = client_acct_conn_load(c, m->account_id, &ac, err);
	if (rc)
		return rc;
	rc = client_compose_rcpts(m, &tocc, &bcc, err);
	if (!rc)
		rc =
		    client_plain_split(c, &ac, &tocc, &bcc, &ptocc, &pbcc, err);
	if (rc || ptocc.n + pbcc.n == 0)
		goto out;
	out->n = ptocc.n + pbcc.n;
	out->all = tocc.n + bcc.n == 0;
	client_plain_names(&ptocc, &pbcc, out->rcpts, sizeof(out->rcpts));
	qm_error_clear(&e);
	out->allowed = client_plain_allowed(c, &ac, &ptocc, &pbcc, &e) == QM_OK;
	qm_strlcpy(out->reason, out->allowed ? "" : qm_error_msg(&e),
	           sizeof(out->reason));
	out->invite = client_plain_invite(c, m->account_id);
out:
	client_rcpts_free(&ptocc);
	client_rcpts_free(&pbcc);
	client_rcpts_free(&tocc);
	client_rcpts_free(&bcc);
	client_acct_conn_free(&ac);
	return rc;
}
