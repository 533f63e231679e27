/* SPDX-License-Identifier: MIT */
/*
 * Waiting for new mail without fetching it (the web GUI's watchers, `sync
 * --watch`): one IMAP session in IDLE on INBOX (a NOOP every 30 s where
 * the server has no IDLE). The other folders the account syncs (the
 * setting sync_folders) cannot be IDLEd on the same session, so a quiet
 * stretch of IDLE ends every WATCH_ROUND_MS with a round of STATUS on
 * them: a folder whose UIDVALIDITY, message count, UIDNEXT or
 * HIGHESTMODSEQ (RFC 7162: raised by any new message, expunge or flag
 * change) differs from what was seen last is news. The first round is
 * against what the last sync recorded (the store's folder rows), so mail
 * that reached another folder while nothing watched is reported at the
 * first wait; later rounds against the previous round, so one change is
 * reported once.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

#define WATCH_FOLDER   "INBOX"
#define WATCH_POLL_MS  30000L /* NOOP interval without IDLE */
#define WATCH_ROUND_MS 60000L /* the other folders are looked at this often */

/* What was seen last of a folder other than INBOX. */
struct watched {
	char *name;
	uint32_t uidvalidity, uidnext, messages;
	uint64_t highestmodseq;
};

struct qm_client_watch {
	struct acct_conn ac;
	struct qm_mail_server srv;
	struct qm_mail_imap *im;       /* NULL until the first wait */
	uint32_t uidvalidity, lastuid; /* of INBOX's last sync, at open */
	struct watched *others;
	size_t nothers;
	int wake_fd;
};

void qm_client_watch_free(struct qm_client_watch **pw)
{
	struct qm_client_watch *w;

	if (!pw || !*pw)
		return;
	w = *pw;
	qm_mail_imap_free(&w->im);
	client_acct_conn_free(&w->ac);
	for (size_t i = 0; i < w->nothers; i++)
		free(w->others[i].name);
	free(w->others);
	free(w);
	*pw = NULL;
}

/* The folders synced besides INBOX, with what the last sync recorded of
 * each (uidnext: one past the highest UID filed). */
static enum qm_err load_others(struct qm_client *c, struct qm_client_watch *w,
                               struct qm_error *err)
{
	struct qm_store_folder *v = NULL;
	char **names = NULL;
	size_t n = 0, nv = 0;
	enum qm_err rc;

	rc = client_folders_to_sync(c, w->ac.a.id, &names, &n, err);
	if (!rc)
		rc = qm_store_folder_list(c->store, w->ac.a.id, &v, &nv, err);
	if (!rc && n > 1) {
		w->others = calloc(n, sizeof(*w->others));
		if (!w->others)
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; !rc && w->others && i < n; i++) {
		struct watched *o = &w->others[w->nothers];

		if (strcmp(names[i], WATCH_FOLDER) == 0)
			continue;
		o->name = strdup(names[i]);
		if (!o->name) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			break;
		}
		for (size_t j = 0; j < nv; j++) {
			if (strcmp(v[j].name, names[i]) != 0)
				continue;
			o->uidvalidity = (uint32_t)v[j].uidvalidity;
			o->uidnext = (uint32_t)v[j].lastuid + 1;
			o->messages = (uint32_t)v[j].total;
			o->highestmodseq = (uint64_t)v[j].highestmodseq;
		}
		w->nothers++;
	}
	qm_store_strv_free(names, n);
	qm_store_folders_free(&v, nv);
	return rc;
}

enum qm_err qm_client_watch_open(struct qm_client *c, int64_t account_id,
                                 int wake_fd, struct qm_client_watch **out,
                                 struct qm_error *err)
{
	struct qm_client_watch *w;
	char kv[300], kl[300];
	enum qm_err rc;

	*out = NULL;
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED, "unlock QMail first");
	w = calloc(1, sizeof(*w));
	if (!w)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = client_acct_conn_load(c, account_id, &w->ac, err);
	if (rc) {
		free(w);
		return rc;
	}
	if (w->ac.use_pop3 || !w->ac.a.imap.host[0]) {
		rc =
		    qm_error_set(err, QM_ERR_UNSUPPORTED,
		                 "%s fetches mail over POP3, which cannot tell "
		                 "when new mail arrives: sync now and then",
		                 w->ac.a.address);
		qm_client_watch_free(&w);
		return rc;
	}
	client_acct_conn_server(&w->ac, &w->ac.a.imap, &w->srv);
	/* the wait runs without the client (another thread may use it
	 * meanwhile), so it cannot renew an OAuth2 token: a refused one
	 * ends the wait, and the next open (or sync) renews it */
	w->srv.reauth = NULL;
	client_mbox_state_key(kv, sizeof(kv), "uidvalidity", WATCH_FOLDER);
	client_mbox_state_key(kl, sizeof(kl), "lastuid", WATCH_FOLDER);
	w->uidvalidity = (uint32_t)client_setting_int(c, account_id, kv);
	w->lastuid = (uint32_t)client_setting_int(c, account_id, kl);
	w->wake_fd = wake_fd;
	rc = load_others(c, w, err);
	if (rc) {
		qm_client_watch_free(&w);
		return rc;
	}
	*out = w;
	return QM_OK;
}

/* Whether s shows a change against what was seen of o; o becomes s. */
static int changed(struct watched *o, const struct qm_mail_imap_counts *s)
{
	int ch = s->uidvalidity != o->uidvalidity ||
	         s->messages != o->messages || s->uidnext > o->uidnext ||
	         (s->highestmodseq && s->highestmodseq != o->highestmodseq);

	o->uidvalidity = s->uidvalidity;
	o->messages = s->messages;
	o->uidnext = s->uidnext;
	o->highestmodseq = s->highestmodseq;
	return ch;
}

/* A round of STATUS on the other folders, pipelined (one round trip):
 * *news = 1 when one changed. A folder the server refuses now (deleted or
 * renamed meanwhile) is news too, once: it is not watched any more, and
 * the next sync lists the folders again. */
static enum qm_err round_others(struct qm_client_watch *w, int *news,
                                struct qm_error *err)
{
	struct qm_mail_imap_counts *k;
	const char **names;
	enum qm_err rc;
	size_t keep = 0;

	if (!w->nothers)
		return QM_OK;
	k = calloc(w->nothers, sizeof(*k));
	names = calloc(w->nothers, sizeof(*names));
	if (!k || !names) {
		free(k);
		free(names);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < w->nothers; i++)
		names[i] = w->others[i].name;
	rc = qm_mail_imap_folders_status(w->im, names, w->nothers, k, err);
	for (size_t i = 0; !rc && i < w->nothers; i++) {
		if (!k[i].valid) {
			*news = 1;
			free(w->others[i].name);
			continue;
		}
		if (changed(&w->others[i], &k[i]))
			*news = 1;
		w->others[keep++] = w->others[i];
	}
	if (!rc)
		w->nothers = keep;
	free(names);
	free(k);
	return rc;
}

enum qm_err qm_client_watch_wait(struct qm_client_watch *w, long timeout_ms,
                                 int *news, int *woken, struct qm_error *err)
{
	enum qm_err rc;
	long left = timeout_ms;

	*news = 0;
	if (woken)
		*woken = 0;
	if (!w->im) {
		struct qm_mail_imap_status ist;
		uint32_t *uids = NULL;
		size_t n = 0;
		int resync = 0;

		rc = qm_mail_imap_open(&w->srv, &w->im, err);
		if (!rc)
			rc = qm_mail_imap_select(w->im, WATCH_FOLDER, &ist, err);
		/* mail that came after the last sync but before this wait
		 * began would not wake IDLE: look for it first */
		if (!rc)
			rc = qm_mail_imap_new_uids(w->im, w->uidvalidity,
			                           w->lastuid, &uids, &n,
			                           &resync, err);
		free(uids);
		if (!rc)
			rc = round_others(w, news, err);
		if (rc) {
			qm_mail_imap_free(&w->im);
			return rc;
		}
		qm_mail_imap_set_wake(w->im, w->wake_fd);
		if (n || resync)
			*news = 1;
		if (*news)
			return QM_OK;
	}
	do {
		long slice = w->nothers && left > WATCH_ROUND_MS
		                 ? WATCH_ROUND_MS
		                 : left;

		rc = qm_mail_imap_wait(w->im, slice, WATCH_POLL_MS, news, err);
		left -= slice;
		if (!rc && woken)
			*woken = qm_mail_imap_woken(w->im);
		if (rc || *news || (woken && *woken))
			break;
		rc = round_others(w, news, err);
	} while (!rc && !*news && left > 0);
	return rc;
}

enum qm_err qm_client_wait_mail(struct qm_client *c, int64_t account_id,
                                long timeout_ms, int *news,
                                struct qm_error *err)
{
	struct qm_client_watch *w = NULL;
	enum qm_err rc;

	*news = 0;
	rc = qm_client_watch_open(c, account_id, -1, &w, err);
	if (!rc)
		rc = qm_client_watch_wait(w, timeout_ms, news, NULL, err);
	qm_client_watch_free(&w);
	return rc;
}
