/* SPDX-License-Identifier: MIT */
/*
 * The outbox as a person sees it: each entry with its state, attempts and
 * last error, whether its copy for the Sent folder waits, and whether
 * qm_client_outbox_retry can do something with it now (the engine's rule,
 * so that both interfaces offer the same), and its subject (from the
 * sealed plaintext: ten entries to the same person are told apart).
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

const char *qm_client_outbox_state_name(enum qm_store_outbox_state st)
{
	return qm_store_outbox_state_str(st);
}

void qm_client_outbox_items_free(struct qm_client_outbox_item **items, size_t n)
{
	if (!items || !*items)
		return;
	for (size_t i = 0; i < n; i++) {
		free((*items)[i].recipients);
		free((*items)[i].reason);
		if ((*items)[i].subject) {
			qm_wipe((*items)[i].subject, strlen((*items)[i].subject));
			free((*items)[i].subject);
		}
	}
	free(*items);
	*items = NULL;
}

/* Fills it from o; QM_ERR_NOMEM when a string cannot be copied. */
static enum qm_err item_fill(struct qm_client_outbox_item *it,
                             const struct qm_store_outbox *o,
                             const int64_t *waiting, size_t nwaiting,
                             struct qm_error *err)
{
	memset(it, 0, sizeof(*it));
	it->id = o->id;
	it->account_id = o->account_id;
	memcpy(it->message_id, o->message_id, sizeof(it->message_id));
	it->level = o->level;
	it->state = o->state;
	it->attempts = o->attempts;
	it->created = o->created;
	it->updated = o->updated;
	it->retry_at = o->retry_at;
	it->encrypted = o->has_ciphertext;
	for (size_t w = 0; w < nwaiting; w++)
		it->copy_waits |= waiting[w] == o->id;
	it->can_retry = o->state == QM_OUTBOX_PENDING ||
	                o->state == QM_OUTBOX_QUEUED ||
	                o->state == QM_OUTBOX_RETRYING ||
	                (o->state == QM_OUTBOX_FAILED && !o->has_ciphertext) ||
	                it->copy_waits;
	it->recipients = strdup(o->recipients ? o->recipients : "");
	if (o->reason)
		it->reason = strdup(o->reason);
	if (!it->recipients || (o->reason && !it->reason)) {
		free(it->recipients);
		free(it->reason);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	return QM_OK;
}

/* The length of the header section of message p (through its blank
 * line), or n when it has none. */
static size_t header_len(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] == '\n' && p[i + 1] == '\n')
			return i + 2;
		if (i + 3 < n && memcmp(p + i, "\r\n\r\n", 4) == 0)
			return i + 4;
	}
	return n;
}

/* The subject entry id was written with, from its sealed plaintext (its
 * header section only is parsed); NULL when it cannot be read. */
static char *entry_subject(struct qm_client *c, int64_t id)
{
	struct qm_buf pt;
	struct qm_mail_content *mc = NULL;
	struct qm_error e;
	char *s = NULL;

	qm_buf_init_secure(&pt, QM_CLIENT_MAXMSG);
	if (qm_store_outbox_plaintext(c->store, id, &pt, &e) == QM_OK &&
	    pt.len &&
	    qm_mail_content_parse(pt.data, header_len(pt.data, pt.len), NULL,
	                          &mc, &e) == QM_OK &&
	    mc->subject)
		s = strdup(mc->subject);
	qm_mail_content_free(&mc);
	qm_buf_free(&pt);
	return s;
}

/* Appends the entries of account_id in state st to *v (*n of *cap). */
static enum qm_err list_state(struct qm_client *c, int64_t account_id, int st,
                              const int64_t *waiting, size_t nwaiting,
                              struct qm_client_outbox_item **v, size_t *n,
                              size_t *cap, struct qm_error *err)
{
	int64_t *ids = NULL;
	size_t nids = 0;
	enum qm_err rc;

	rc =
	    qm_store_outbox_list(c->store, account_id, st, 0, &ids, &nids, err);
	for (size_t i = 0; !rc && i < nids; i++) {
		struct qm_store_outbox o;

		memset(&o, 0, sizeof(o));
		/* gone since it was listed (sent and cleaned, cancelled) */
		if (qm_store_outbox_get(c->store, ids[i], &o, NULL) != QM_OK)
			continue;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 16;
			struct qm_client_outbox_item *nv =
			    realloc(*v, ncap * sizeof(*nv));

			if (!nv)
				rc = qm_error_set(err, QM_ERR_NOMEM,
				                  "out of memory");
			else {
				*v = nv;
				*cap = ncap;
			}
		}
		if (!rc)
			rc = item_fill(&(*v)[*n], &o, waiting, nwaiting, err);
		if (!rc)
			(*v)[(*n)++].subject = entry_subject(c, o.id);
		qm_store_outbox_item_free(&o);
	}
	free(ids);
	return rc;
}

enum qm_err qm_client_outbox_list(struct qm_client *c, int64_t account_id,
                                  struct qm_client_outbox_item **out, size_t *n,
                                  struct qm_error *err)
{
	struct qm_client_outbox_item *v = NULL;
	int64_t *waiting = NULL;
	size_t nv = 0, cap = 0, nwaiting = 0;
	enum qm_err rc;

	rc = qm_client_sent_copies(c, account_id, &waiting, &nwaiting, err);
	for (int st = QM_OUTBOX_PENDING; !rc && st <= QM_OUTBOX_RETRYING; st++)
		rc = list_state(c, account_id, st, waiting, nwaiting, &v, &nv,
		                &cap, err);
	free(waiting);
	if (rc) {
		qm_client_outbox_items_free(&v, nv);
		return rc;
	}
	*out = v;
	*n = nv;
	return QM_OK;
}
