/* SPDX-License-Identifier: MIT */
/*
 * New mail pushed to the GUI: a watcher thread per account (the first
 * WEB_WATCH_MAX accounts) keeps an IMAP session in IDLE on the account's
 * INBOX (qm_client_watch_*) and asks the sync worker for a sync of that
 * account the moment the server says a message arrived, so mail shows up
 * within a second or so instead of at the next background interval. The
 * interval stays as the fallback (POP3 accounts, a server without IDLE
 * still gets a NOOP every 30 s).
 *
 * A watcher loads its account under the client lock and connects and waits
 * without it, so the GUI and the sync worker go on meanwhile (a mail server
 * that does not answer never holds the GUI up). Each watcher has a pipe:
 * a byte written to it (web_watch_kick) ends the wait at once, and the
 * watcher looks again at what it should watch. That happens when the vault
 * is locked (the session and its password in secure memory are dropped),
 * unlocked, when accounts or the background setting change, and at stop.
 * The background setting 0 ("off") turns watching off as well.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "client/client.h"
#include "private.h"

#define WATCH_IDLE_MS (25L * 60 * 1000) /* under the 29 min of RFC 2177 */
#define WATCH_RETRY_MS 60000L           /* after an error */
#define WATCH_QUIET_MS 30000L           /* nothing to watch: look again */

static int stopping(struct qm_web_server *srv)
{
	int s;

	pthread_mutex_lock(&srv->lock);
	s = srv->sync_stop;
	pthread_mutex_unlock(&srv->lock);
	return s;
}

static void drain(int fd)
{
	char b[64];

	while (read(fd, b, sizeof(b)) > 0)
		;
}

/* Sleeps up to ms or until kicked. */
static void pause_or_kick(struct web_watcher *wt, long ms)
{
	struct pollfd p = {.fd = wt->pipe[0], .events = POLLIN};

	while (poll(&p, 1, (int)ms) < 0 && errno == EINTR)
		;
}

/* The k-th account's ID (0: fewer accounts). Client lock held. */
static int64_t kth_account(struct qm_web_server *srv, int k)
{
	struct qm_store_account *list = NULL;
	size_t n = 0;
	int64_t id = 0;

	if (qm_client_account_list(srv->client, &list, &n, NULL) == QM_OK &&
	    (size_t)k < n)
		id = list[k].id;
	free(list);
	return id;
}

static void *watch_main(void *arg)
{
	struct web_watcher *wt = arg;
	struct qm_web_server *srv = wt->srv;

	while (!stopping(srv)) {
		struct qm_client_watch *w = NULL;
		struct qm_error e;
		int64_t acct = 0;
		long pause = WATCH_QUIET_MS;
		int news = 0;
		enum qm_err rc = QM_OK;

		drain(wt->pipe[0]);
		pthread_mutex_lock(&srv->client_lock);
		if (srv->client && qm_client_unlocked(srv->client) &&
		    web_sync_interval_locked(srv) > 0)
			acct = kth_account(srv, wt->k);
		if (acct) {
			/* no network under the lock: the GUI goes on */
			qm_error_clear(&e);
			rc = qm_client_watch_open(srv->client, acct, wt->pipe[0],
			                          &w, &e);
			if (rc == QM_ERR_UNSUPPORTED)
				pause = -1; /* POP3: until something changes */
			else if (rc)
				pause = WATCH_RETRY_MS;
		}
		pthread_mutex_unlock(&srv->client_lock);
		if (!w) {
			pause_or_kick(wt, pause);
			continue;
		}
		for (;;) {
			int woken = 0;

			if (stopping(srv))
				break;
			qm_error_clear(&e);
			/* the first wait connects, and reports at once mail
			 * that came since the last sync */
			rc = qm_client_watch_wait(w, WATCH_IDLE_MS, &news,
			                          &woken, &e);
			if (!rc && news)
				web_sync_request(srv, acct);
			/* an error, a kick, or 25 quiet minutes: start over
			 * (a fresh session, the account list looked at again) */
			if (rc || woken || !news)
				break;
		}
		qm_client_watch_free(&w);
		if (rc && !stopping(srv))
			pause_or_kick(wt, WATCH_RETRY_MS);
	}
	return NULL;
}

void web_watch_kick(struct qm_web_server *srv)
{
	for (int k = 0; k < WEB_WATCH_MAX; k++) {
		struct web_watcher *wt = &srv->watch[k];

		if (wt->started && write(wt->pipe[1], "k", 1) < 0) {
			/* a full pipe is kicked already */
		}
	}
}

void web_watch_start(struct qm_web_server *srv)
{
	for (int k = 0; k < WEB_WATCH_MAX; k++) {
		struct web_watcher *wt = &srv->watch[k];

		wt->srv = srv;
		wt->k = k;
		if (pipe2(wt->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
			continue;
		if (pthread_create(&wt->thread, NULL, watch_main, wt) != 0) {
			close(wt->pipe[0]);
			close(wt->pipe[1]);
			continue;
		}
		wt->started = 1;
	}
}

/* After sync_stop is set. */
void web_watch_stop(struct qm_web_server *srv)
{
	web_watch_kick(srv);
	for (int k = 0; k < WEB_WATCH_MAX; k++) {
		struct web_watcher *wt = &srv->watch[k];

		if (!wt->started)
			continue;
		pthread_join(wt->thread, NULL);
		close(wt->pipe[0]);
		close(wt->pipe[1]);
		wt->started = 0;
	}
}
