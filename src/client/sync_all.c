/* SPDX-License-Identifier: MIT */
/*
 * One pass of both directions for the user interfaces (the CLI's `sync`,
 * the web GUI's sync button and background sync): the outbox first, then
 * each account's INBOX, in that order always (docs/CLIENT.md, "Syncing"
 * says why), with progress and a report per account. Before this file,
 * each interface had its own loop, in opposite orders.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Snippets a pass makes for messages filed before the store had them
 * (docs/STORE.md "Snippets"): about 50 ms of work, so a home of 100,000
 * such messages has them all after 100 passes, newest first, and no
 * unlock or list pays for the whole home. */
#define SNIPPETS_PER_PASS 1000

/* Adds the counts of st to total. */
static void stats_add(struct qm_client_sync_stats *total,
                      const struct qm_client_sync_stats *st)
{
	total->fetched += st->fetched;
	total->decrypted += st->decrypted;
	total->plain += st->plain;
	total->tampered += st->tampered;
	total->replayed += st->replayed;
	total->waiting += st->waiting;
	total->errors += st->errors;
	total->duplicates += st->duplicates;
	total->unverified += st->unverified;
	total->unreadable += st->unreadable;
	total->resumed += st->resumed;
	total->chat += st->chat;
}

/* Notes the first failure of the pass as "<what>: <message>". */
static void first_error(struct qm_client_sync_all *out, const char *what,
                        const struct qm_error *e)
{
	if (!out->first_error[0])
		snprintf(out->first_error, sizeof(out->first_error), "%s: %s",
		         what, qm_error_msg(e));
}

/* The outbox run of account_id (0: all), into out. */
static void outbox_step(struct qm_client *c, int64_t account_id,
                        qm_client_progress_fn progress, void *arg,
                        struct qm_client_sync_all *out)
{
	qm_error_clear(&out->outbox_error);
	if (progress)
		progress(arg, "outbox", 0, 1);
	out->outbox_rc = qm_client_outbox_run(
	    c, account_id, &out->sent, &out->not_sent, &out->outbox_error);
	if (progress)
		progress(arg, "outbox", 1, 1);
	if (out->outbox_rc)
		first_error(out, "outbox", &out->outbox_error);
}

/* The sync of account a, reported. */
static void account_step(struct qm_client *c, const struct qm_store_account *a,
                         qm_client_progress_fn progress,
                         qm_client_sync_report_fn report, void *arg,
                         struct qm_client_sync_all *out)
{
	struct qm_client_sync_report r;

	memset(&r, 0, sizeof(r));
	r.account_id = a->id;
	r.address = a->address;
	qm_error_clear(&r.error);
	r.rc = qm_client_sync(c, a->id, progress, arg, &r.st, &r.error);
	out->accounts++;
	if (r.rc) {
		out->accounts_failed++;
		first_error(out, a->address, &r.error);
	}
	/* chat messages among what is filed (docs/CHAT.md): into their
	 * conversations and out of INBOX; a failure stops nothing */
	{
		struct qm_error e;

		qm_error_clear(&e);
		if (qm_client_chat_file(c, a->id, &r.st.chat, &e) != QM_OK)
			first_error(out, "chat", &e);
	}
	stats_add(&out->total, &r.st);
	if (report)
		report(arg, &r);
}

enum qm_err qm_client_sync_all(struct qm_client *c, int64_t account_id,
                               qm_client_progress_fn progress,
                               qm_client_sync_report_fn report, void *arg,
                               struct qm_client_sync_all *out,
                               struct qm_error *err)
{
	struct qm_client_sync_all mine;
	struct qm_store_account *as = NULL;
	size_t n = 0, k;
	enum qm_err rc;

	if (!out)
		out = &mine;
	memset(out, 0, sizeof(*out));
	rc = client_need_unlocked(c, "syncing", err);
	if (!rc)
		rc = qm_store_account_list(c->store, &as, &n, err);
	if (rc)
		return rc;
	for (k = 0; account_id && k < n && as[k].id != account_id; k++)
		;
	if (account_id && k == n) {
		free(as);
		return qm_error_set(err, QM_ERR_NOTFOUND, "no account %lld",
		                    (long long)account_id);
	}
	/* 1. what waits to go: written mail is not held back by a long or
	 *    failing fetch, and mail between two accounts of this home
	 *    arrives in this same pass */
	outbox_step(c, account_id, progress, arg, out);
	/* 2. each account's new mail, by account id */
	for (size_t i = 0; i < n; i++)
		if (!account_id || as[i].id == account_id)
			account_step(c, &as[i], progress, report, arg, out);
	free(as);
	/* 3. snippets of messages filed by an older QMail, a bounded step */
	{
		struct qm_error e;

		if (qm_store_msg_snippets_fill(c->store, SNIPPETS_PER_PASS,
		                               NULL, &e) != QM_OK)
			first_error(out, "message list", &e);
	}
	return QM_OK;
}
