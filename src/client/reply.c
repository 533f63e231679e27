/* SPDX-License-Identifier: MIT */
/*
 * Whom a reply goes to (issue 15): the message's Reply-To when it has one,
 * else its From; a reply to all adds its To and Cc, without the account's
 * own address and without anyone named twice. Both interfaces take the
 * recipients from here, so that `qmail reply` and the GUI's Reply agree.
 * The view's addresses are the ones it shows: of a QMail message the
 * authenticated ones, and its Reply-To from the protected message.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

/* Appends the addresses of list to r, but those in skip (may be NULL) and
 * in self (the account's identities; may be NULL); a list that holds no
 * address adds nothing. */
static enum qm_err add_list(const char *list, const struct rcpts *self,
                            const struct rcpts *skip, struct rcpts *r,
                            struct qm_error *err)
{
	char **v = NULL;
	size_t n = 0;
	enum qm_err rc = QM_OK;

	if (!list || !*list || qm_mail_addr_specs(list, &v, &n, NULL) != QM_OK)
		return QM_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		char bare[QM_STORE_ADDRMAX];

		if (client_addr_bare(v[i], bare, sizeof(bare), NULL) != QM_OK)
			continue;
		if ((self && client_rcpts_has(self, bare)) ||
		    (skip && client_rcpts_has(skip, bare)))
			continue;
		rc = client_rcpts_add(r, bare, NULL, err);
	}
	qm_mail_strv_free(&v, n);
	return rc;
}

/* Moves r's addresses into a malloc'd array (*out, *n). */
static void give(struct rcpts *r, char ***out, size_t *n)
{
	*out = r->v;
	*n = r->n;
	r->v = NULL;
	r->n = 0;
}

enum qm_err qm_client_reply_rcpts(struct qm_client *c, int64_t account_id,
                                  const struct qm_client_view *v, int all,
                                  char ***to, size_t *nto, char ***cc,
                                  size_t *ncc, struct qm_error *err)
{
	struct rcpts t = {NULL, 0}, k = {NULL, 0}, self = {NULL, 0};
	enum qm_err rc = QM_OK;

	*to = *cc = NULL;
	*nto = *ncc = 0;
	if (account_id > 0) {
		/* none of the account's identities is answered */
		struct qm_store_identity *ids = NULL;
		size_t nids = 0;

		rc = qm_client_identity_list(c, account_id, &ids, &nids, err);
		for (size_t i = 0; i < nids && !rc; i++)
			rc = client_rcpts_add(&self, ids[i].address, NULL, err);
		free(ids);
		if (rc) {
			client_rcpts_free(&self);
			return rc;
		}
	}
	rc = add_list(v->reply_to, NULL, NULL, &t, err);
	if (!rc && t.n == 0)
		rc = add_list(v->from, NULL, NULL, &t, err);
	if (!rc && t.n == 0)
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "message %lld names no address to reply to "
		                  "(neither Reply-To nor From)",
		                  (long long)v->id);
	if (!rc && all)
		rc = add_list(v->to, &self, &t, &k, err);
	if (!rc && all)
		rc = add_list(v->cc, &self, &t, &k, err);
	if (!rc) {
		give(&t, to, nto);
		give(&k, cc, ncc);
	}
	client_rcpts_free(&t);
	client_rcpts_free(&k);
	client_rcpts_free(&self);
	return rc;
}
