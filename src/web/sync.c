/* SPDX-License-Identifier: MIT */
/*
 * The web GUI's sync worker: one thread that waits for the sync button
 * (POST /api/sync), a watcher's news (watch.c) or the background interval
 * (the setting background_sync_s), then runs one pass of the client
 * engine (qm_client_sync_all: the outbox, then each account's new mail)
 * under the client lock, keeps its progress for GET /api/sync and turns
 * what it did into the page's events. The HTTP handlers are in
 * api_mail.c; this file only decides when to sync and what to tell.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client.h"
#include "private.h"

/* qm_client_sync_all's progress: the current account's messages. */
static void sync_progress(void *arg, const char *what, uint64_t done,
                          uint64_t total)
{
	struct qm_web_server *srv = arg;

	(void)what;
	pthread_mutex_lock(&srv->lock);
	srv->sync.done = (long)done;
	srv->sync.total = (long)total;
	pthread_mutex_unlock(&srv->lock);
}

/* qm_client_sync_all's report of one account: what it has to say beyond
 * the counts, messages that wait, with why the account could not use its
 * KME (once per sync). */
static void sync_report(void *arg, const struct qm_client_sync_report *r)
{
	struct qm_web_server *srv = arg;
	const struct qm_client_sync_stats *st = &r->st;

	if (!st->kme_problem[0])
		return;
	pthread_mutex_lock(&srv->lock);
	web_event_add(srv, "failed", NULL,
	              "%s: %zu message%s wait%s for %s keys: %s", r->address,
	              st->waiting, st->waiting == 1 ? "" : "s",
	              st->waiting == 1 ? "s" : "",
	              st->waiting == 1 ? "its" : "their", st->kme_problem);
	pthread_mutex_unlock(&srv->lock);
}

/* The page's events for a whole pass; srv->lock held. */
static void sync_events(struct qm_web_server *srv,
                        const struct qm_client_sync_all *out)
{
	const struct qm_client_sync_stats *t = &out->total;

	if (t->fetched)
		web_event_add(srv, "new_mail", NULL, "%zu new message%s",
		              t->fetched, t->fetched == 1 ? "" : "s");
	/* chat filed into conversations: the Chats view refreshes */
	if (t->chat)
		web_event_add(srv, "chat", NULL, "%zu new chat message%s",
		              t->chat, t->chat == 1 ? "" : "s");
	if (t->tampered)
		web_event_add(
		    srv, "failed", NULL,
		    "%zu message%s failed the integrity check (tampered)",
		    t->tampered, t->tampered == 1 ? "" : "s");
	if (t->replayed)
		web_event_add(
		    srv, "failed", NULL,
		    "%zu message%s reused a key of an earlier message "
		    "(replay) and %s not decrypted",
		    t->replayed, t->replayed == 1 ? "" : "s",
		    t->replayed == 1 ? "was" : "were");
	if (t->unverified)
		web_event_add(srv, "failed", NULL,
		              "%zu message%s decrypted but from an unverified "
		              "sender: not sent from the SAE ID confirmed for "
		              "the From address",
		              t->unverified, t->unverified == 1 ? "" : "s");
	if (t->unreadable)
		web_event_add(srv, "failed", NULL,
		              "%zu message%s unreadable (malformed, or the KME "
		              "refused its key IDs): open it to try again",
		              t->unreadable, t->unreadable == 1 ? "" : "s");
	if (t->resumed)
		web_event_add(srv, "info", NULL,
		              "%zu message%s that waited for %s keys opened",
		              t->resumed, t->resumed == 1 ? "" : "s",
		              t->resumed == 1 ? "its" : "their");
	if (t->duplicates)
		web_event_add(srv, "info", NULL,
		              "%zu identical second cop%s of a message already "
		              "received ignored (a server delivered it twice)",
		              t->duplicates, t->duplicates == 1 ? "y" : "ies");
	if (out->sent)
		web_event_add(srv, "sent", NULL,
		              "%zu message%s sent from the outbox", out->sent,
		              out->sent == 1 ? "" : "s");
	if (out->not_sent)
		web_event_add(srv, "failed", NULL,
		              "%zu message%s could not be sent: see the outbox",
		              out->not_sent, out->not_sent == 1 ? "" : "s");
}

/* How many OAuth2 accounts wait to be signed in to again. */
static int signin_count(struct qm_client *c)
{
	struct qm_store_account *a = NULL;
	size_t n = 0;
	int k = 0;

	if (qm_client_account_list(c, &a, &n, NULL) != QM_OK)
		return 0;
	for (size_t i = 0; i < n; i++)
		k += a[i].auth == QM_AUTH_OAUTH2 &&
		     qm_client_account_signin_needed(c, a[i].id);
	free(a);
	return k;
}

/* One pass for account only (0: every account); client lock held. */
static void sync_once(struct qm_web_server *srv, int64_t only)
{
	struct qm_client_sync_all out;
	struct qm_error e;
	int signin;

	/* locked: nothing to sync (the watchers wait for an unlock too) */
	if (!qm_client_unlocked(srv->client))
		return;
	qm_error_clear(&e);
	if (qm_client_sync_all(srv->client, only > 0 ? only : 0, sync_progress,
	                       sync_report, srv, &out, &e) != QM_OK) {
		memset(&out, 0, sizeof(out));
		qm_strlcpy(out.first_error, qm_error_msg(&e),
		           sizeof(out.first_error));
	}
	web_counts_forget(srv);
	signin = signin_count(srv->client);
	pthread_mutex_lock(&srv->lock);
	/* an account's sign-in ended: the page shows its banner */
	if (signin > srv->signin_count)
		web_event_add(srv, "signin", NULL,
		              "Sign in again: the provider ended QMail's "
		              "sign-in to %d account%s",
		              signin, signin == 1 ? "" : "s");
	srv->signin_count = signin;
	srv->sync.fresh = (long)out.total.fetched;
	srv->sync.last = qm_now();
	qm_strlcpy(srv->sync.error, out.first_error, sizeof(srv->sync.error));
	sync_events(srv, &out);
	pthread_mutex_unlock(&srv->lock);
}

long web_sync_interval_locked(struct qm_web_server *srv)
{
	long long v = 300;
	char text[32];

	if (!srv->client)
		return v;
	if (qm_client_unlocked(srv->client) &&
	    qm_client_setting_get(srv->client, 0, QM_CLIENT_SET_BACKGROUND_SYNC,
	                          text, sizeof(text), NULL, NULL) == QM_OK &&
	    qm_parse_ll(text, 0, 86400, &v, NULL) != QM_OK)
		v = 300;
	return (long)v;
}

/* The background sync interval from the settings (0: off); 300 s unless
 * set. Takes the client lock: call without srv->lock held. */
static long sync_interval(struct qm_web_server *srv)
{
	long v;

	pthread_mutex_lock(&srv->client_lock);
	v = web_sync_interval_locked(srv);
	pthread_mutex_unlock(&srv->client_lock);
	return v;
}

void web_sync_request(struct qm_web_server *srv, int64_t account)
{
	pthread_mutex_lock(&srv->lock);
	if (!srv->sync_running) {
		srv->sync_account = account;
		srv->sync_running = 1;
		pthread_cond_broadcast(&srv->sync_cond);
	} else {
		srv->sync_again = 1;
	}
	pthread_mutex_unlock(&srv->lock);
}

/* The sync worker: waits for the button or the background interval. */
static void *sync_main(void *arg)
{
	struct qm_web_server *srv = arg;

	pthread_mutex_lock(&srv->lock);
	while (!srv->sync_stop) {
		struct timespec until;
		int64_t only;
		long every;
		pthread_mutex_unlock(&srv->lock);
		every = sync_interval(srv);
		pthread_mutex_lock(&srv->lock);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += every > 0 ? every : 86400;
		while (!srv->sync_stop && !srv->sync_running) {
			if (pthread_cond_timedwait(&srv->sync_cond, &srv->lock,
			                           &until) != 0 &&
			    every > 0) {
				srv->sync_running = 1; /* background interval */
				srv->sync_account = 0;
			}
		}
		if (srv->sync_stop)
			break;
		only = srv->sync_account;
		srv->sync.done = 0;
		srv->sync.total = 0;
		pthread_mutex_unlock(&srv->lock);
		if (srv->client) {
			pthread_mutex_lock(&srv->client_lock);
			sync_once(srv, only);
			pthread_mutex_unlock(&srv->client_lock);
		}
		pthread_mutex_lock(&srv->lock);
		srv->sync_running = 0;
		srv->sync.passes++;
		if (srv->sync_again) {
			/* mail came in while this sync ran */
			srv->sync_again = 0;
			srv->sync_running = 1;
			srv->sync_account = 0;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

void web_api_start(struct qm_web_server *srv)
{
	if (pthread_create(&srv->sync_thread, NULL, sync_main, srv) == 0)
		srv->sync_started = 1;
	web_watch_start(srv);
}

void web_api_stop(struct qm_web_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	srv->sync_stop = 1;
	pthread_cond_broadcast(&srv->sync_cond);
	pthread_mutex_unlock(&srv->lock);
	web_watch_stop(srv);
	if (!srv->sync_started)
		return;
	pthread_join(srv->sync_thread, NULL);
	srv->sync_started = 0;
}
