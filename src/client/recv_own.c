/* SPDX-License-Identifier: MIT */
/*
 * The account's own QMail messages on the server (issue 14): the copy of
 * a sent message in Sent (setting save_sent, sentcopy.c), the same copy in
 * Gmail's All Mail, a copy to itself, the Sent copy of another device of
 * the account. A QMail message is encrypted for its recipients: its
 * sender cannot open it, and asking the KME for its keys would fail and
 * read as "no key", "unreadable" or "tampered". Such a message is told
 * apart before any key is asked for (recv_file.c, after the duplicate
 * check and before the replay check and the opening):
 *
 * - the same message as an outbox entry of this home: the same Message-ID
 *   and the same digest of envelope and bound header values
 *   (client_recv_digest) as the entry's ciphertext, byte for byte what
 *   this home encrypted: QM_VERIFY_SENT, shown from the outbox's own copy
 *   of what was sent (sealed in the vault);
 * - its From is this account's address, this account is not among its
 *   To and Cc, and this home did not send it: QM_VERIFY_SENT_ELSEWHERE,
 *   nothing of it shown, kept as received (sealed) so that the user can
 *   still have it opened as mail to this account.
 *
 * - its From is this account's address and its envelope is sealed by the
 *   account's own key to the account's own key (a copy sealed to self,
 *   selfcopy.c: the Sent copy or a draft, from this home or another
 *   device or home of the account): oc->self_copy, opened with that key
 *   (recv_open.c) and QM_VERIFY_SENT once it opens.
 *
 * Anything else, whatever its From says (a copy to itself from another
 * device, a message that names this account among its recipients), is
 * opened as mail to this account, with every check. No key ID is recorded
 * and nothing is claimed for either state, so neither can stop another
 * message (docs/SECURITY.md).
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

/* 1 when the address list holds address (case aside). */
static int names(const char *list, const char *address)
{
	char **v = NULL;
	size_t n = 0;
	int hit = 0;

	if (!list || !list[strspn(list, " \t")] ||
	    qm_mail_addr_specs(list, &v, &n, NULL) != QM_OK)
		return 0;
	for (size_t i = 0; i < n && !hit; i++)
		hit = strcasecmp(v[i], address) == 0;
	qm_mail_strv_free(&v, n);
	return hit;
}

/* 1 when the From header names exactly the account's address. */
static int from_me(const struct acct_conn *ac, const struct qm_mail_parsed *mp)
{
	char bare[QM_STORE_ADDRMAX];

	return mp->hdrs.from &&
	       client_addr_bare(mp->hdrs.from, bare, sizeof(bare), NULL) ==
	           QM_OK &&
	       strcasecmp(bare, ac->a.address) == 0;
}

/* 1 when outbox entry o's ciphertext is message mp (its digest want). */
static int same_as(struct qm_client *c, const struct acct_conn *ac,
                   const struct qm_store_outbox *o, const char want[65])
{
	struct qm_mail_parsed *op = NULL;
	struct qm_buf ct;
	char have[65];
	int same = 0;

	if (!o->has_ciphertext)
		return 0;
	qm_buf_init(&ct, QM_STORE_MAXBLOB);
	if (qm_store_outbox_ciphertext(c->store, o->id, &ct, NULL) != QM_OK ||
	    qm_mail_parse(ct.data, ct.len, &ac->lim, &op, NULL) != QM_OK) {
		qm_buf_free(&ct);
		return 0;
	}
	qm_buf_free(&ct);
	if (op->kind != QM_MAIL_KIND_PLAIN) {
		client_recv_digest(op, have);
		same = sodium_memcmp(have, want, 64) == 0;
	}
	qm_mail_parsed_free(&op);
	return same;
}

/* The outbox entry of this account whose ciphertext is mp (its digest
 * want), into *id (0: none). */
static enum qm_err sent_here(struct qm_client *c, const struct acct_conn *ac,
                             const struct qm_mail_parsed *mp,
                             const char want[65], int64_t *id,
                             struct qm_error *err)
{
	int64_t *ids = NULL;
	size_t n = 0;
	enum qm_err rc;

	*id = 0;
	rc = qm_store_outbox_find_mid(c->store, ac->a.id, mp->hdrs.message_id,
	                              &ids, &n, err);
	if (rc || !n) {
		free(ids);
		return rc;
	}
	for (size_t i = 0; i < n && !*id; i++) {
		struct qm_store_outbox o;

		memset(&o, 0, sizeof(o));
		if (qm_store_outbox_get(c->store, ids[i], &o, NULL) == QM_OK &&
		    same_as(c, ac, &o, want))
			*id = ids[i];
		qm_store_outbox_item_free(&o);
	}
	free(ids);
	return QM_OK;
}

enum qm_err client_recv_own(struct qm_client *c, const struct acct_conn *ac,
                            const struct qm_mail_parsed *mp,
                            const char digest[65], int elsewhere,
                            struct recv_outcome *oc, int *own,
                            struct qm_error *err)
{
	int64_t oid = 0;
	enum qm_err rc;

	*own = 0;
	rc = sent_here(c, ac, mp, digest, &oid, err);
	if (rc)
		return rc;
	if (oid) {
		qm_buf_init_secure(&oc->plain, QM_STORE_MAXBLOB);
		rc = qm_store_outbox_plaintext(c->store, oid, &oc->plain, err);
		if (rc) {
			qm_buf_free(&oc->plain);
			qm_error_prefix(err,
			                "the account's own sent message "
			                "(outbox message %lld): ",
			                (long long)oid);
			return rc;
		}
		oc->verify = QM_VERIFY_SENT;
		oc->level = mp->level;
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "sent by you from this QMail (outbox message %lld): "
		    "the copy on the server is encrypted for its "
		    "recipients; this is QMail's own copy of what you sent",
		    (long long)oid);
		*own = 1;
		return QM_OK;
	}
	if (from_me(ac, mp) && client_self_copy_of(c, ac, mp)) {
		/* sealed by the account's key to the account's key: opened
		 * with it (recv_open.c), every check but the replay rule */
		oc->self_copy = 1;
		return QM_OK;
	}
	if (!elsewhere || !from_me(ac, mp) ||
	    names(mp->hdrs.to, ac->a.address) ||
	    names(mp->hdrs.cc, ac->a.address))
		return QM_OK;
	oc->verify = QM_VERIFY_SENT_ELSEWHERE;
	oc->level = mp->level;
	oc->keep_raw = 1;
	snprintf(oc->reason, sizeof(oc->reason),
	         "from your address, but not sent from this QMail (another "
	         "device of this account, or someone else writing your "
	         "address): it is encrypted for its recipients and cannot be "
	         "read here; nothing of it is shown. If it was sent to you, "
	         "try it again to open it as mail to you");
	*own = 1;
	return QM_OK;
}
