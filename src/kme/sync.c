/* SPDX-License-Identifier: MIT */
/*
 * The two KMEs of a link agree on how far each direction was used, so that
 * no key byte is handed out twice, also when a KME starts from an older
 * copy of its state_dir (a restored backup) or lost its lease file.
 *
 * For our direction, own.next never passes `granted`: a limit the peer has
 * written to its disk (its grant file) before confirming it, and that we
 * wrote into our lease file before asking. Unless a disk went back in
 * time: granted <= the peer's record <= our lease. After every start the
 * link serves no key until kme_link_sync has read the peer's record: our
 * allocation point moves past it and past the last reservation the peer
 * saw, whatever our own files say. A record older than what the other
 * side remembers is a restored state: logged as an error and shown in the
 * link's status. Lock order: lease_lock, grant_lock, lock; requests to the
 * peer only under lease_lock; the handlers here never take lease_lock, so
 * two KMEs asking each other at once cannot wait on each other.
 * docs/KME.md, "Restarts, crashes and restored backups", has the limits.
 */
#include "private.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Longest wait for the peer when giving back a limit on a clean stop. */
#define RELEASE_TIMEOUT_MS 2000

uint64_t kme_grant_step(const struct qm_kme *k)
{
	uint64_t s = (uint64_t)k->conf.pool_bytes / 8;

	return s < 4096 ? 4096 : s;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Member name of o as an offset; clears *ok when absent or not one. */
static uint64_t off_of(json_t *o, const char *name, int *ok)
{
	json_t *v = json_object_get(o, name);
	json_int_t x = json_integer_value(v);

	if (!json_is_integer(v) || x < 0 || (uint64_t)x > (1ULL << 62)) {
		*ok = 0;
		return 0;
	}
	return (uint64_t)x;
}

/* Logs a restored state seen on link l and keeps it for the status. */
static void alarm_set(struct kme_link *l, const char *msg)
{
	qm_log(QM_LOG_ERROR, "link %s: %s", l->peer->id, msg);
	pthread_mutex_lock(&l->lock);
	qm_strlcpy(l->alarm, msg, sizeof(l->alarm));
	pthread_mutex_unlock(&l->lock);
}

/* Raises our record of the peer's limit to at least v (grant_lock taken
 * here; lease_lock may be held). */
static enum qm_err given_raise(struct qm_kme *k, struct kme_link *l, uint64_t v,
                               struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	pthread_mutex_lock(&l->grant_lock);
	if (v > l->grant_given)
		rc = kme_grant_write(k, l, v, err);
	pthread_mutex_unlock(&l->grant_lock);
	return rc;
}

enum qm_err kme_link_sync(struct qm_kme *k, struct kme_link *l,
                          struct qm_error *err)
{
	uint64_t next, seen, given, asked0, asked, lgranted, limit, skip;
	uint64_t before = 0, now = 0, p_lease = 0, p_granted = 0, p_seen = 0;
	uint64_t own_end, mirror_end, p_own_end = 0, p_mirror_end = 0;
	struct qm_buf ans;
	json_t *j = NULL;
	char body[512], ends[128] = "", msg[768];
	enum qm_err rc;
	int ok = 1;

	qm_buf_init(&ans, 64 * 1024);
	pthread_mutex_lock(&l->lease_lock);
	/* the runner compares stream ends too, with no block in flight */
	if (l->i_am_lower)
		pthread_mutex_lock(&l->push_lock);
	pthread_mutex_lock(&l->lock);
	next = l->own.next;
	seen = l->mirror.next;
	given = l->grant_given;
	asked0 = l->lease_asked;
	lgranted = l->lease_granted;
	own_end = l->own.end;
	mirror_end = l->mirror.end;
	pthread_mutex_unlock(&l->lock);
	snprintf(ends, sizeof(ends), ",\"own_end\":%llu,\"mirror_end\":%llu",
	         (unsigned long long)own_end, (unsigned long long)mirror_end);
	/* ask for a margin at once; it is on our disk before the peer sees
	 * it (a failed attempt leaves it there: the next one asks the same) */
	limit = next + kme_grant_step(k);
	asked = asked0;
	if (limit > asked) {
		if ((rc = kme_lease_write(k, l, limit, lgranted, err)))
			goto out;
		asked = limit;
	}
	snprintf(body, sizeof(body),
	         "{\"lease\":%llu,\"granted\":%llu,\"next\":%llu,"
	         "\"grant\":%llu,\"seen\":%llu,\"limit\":%llu%s}",
	         (unsigned long long)asked, (unsigned long long)lgranted,
	         (unsigned long long)next, (unsigned long long)given,
	         (unsigned long long)seen, (unsigned long long)limit, ends);
	if ((rc = kme_peer_request(l, KME_CHAN_GRANT, "/kme/v1/peer/sync", body,
	                           0, NULL, &ans, err)))
		goto out;
	j = ans.data ? json_loadb((const char *)ans.data, ans.len, 0, NULL)
	             : NULL;
	before = off_of(j, "grant_before", &ok);
	now = off_of(j, "grant", &ok);
	p_lease = off_of(j, "lease", &ok);
	p_granted = off_of(j, "granted", &ok);
	p_seen = off_of(j, "seen", &ok);
	p_own_end = off_of(j, "own_end", &ok);
	p_mirror_end = off_of(j, "mirror_end", &ok);
	if (!ok || now < limit) {
		rc = qm_error_set(err, QM_ERR_PROTO,
		                  "KME %s gave a malformed answer to the link "
		                  "check",
		                  l->peer->id);
		goto out;
	}

	/* our direction: the peer's record against our files */
	if (before > asked0) {
		snprintf(
		    msg, sizeof(msg),
		    "this KME's key pool state is older than what KME %s "
		    "recorded (its limit %llu, this KME's lease %llu): the "
		    "state_dir was restored from an older copy, or its "
		    "lease file was lost; every byte up to the limit is "
		    "skipped",
		    l->peer->id, (unsigned long long)before,
		    (unsigned long long)asked0);
		alarm_set(l, msg);
	}
	if (before < lgranted) {
		snprintf(msg, sizeof(msg),
		         "KME %s's record of this KME's limit (%llu) is older "
		         "than what it confirmed before (%llu): KME %s was "
		         "restored from an older copy of its state_dir",
		         l->peer->id, (unsigned long long)before,
		         (unsigned long long)lgranted, l->peer->id);
		alarm_set(l, msg);
	}
	/* the peer's direction: our record against the peer's files */
	if (p_lease < given) {
		snprintf(
		    msg, sizeof(msg),
		    "KME %s's lease (%llu) is older than the limit this KME "
		    "recorded for it (%llu): KME %s was restored from an "
		    "older copy of its state_dir and skips past it",
		    l->peer->id, (unsigned long long)p_lease,
		    (unsigned long long)given, l->peer->id);
		alarm_set(l, msg);
	}
	if (p_granted > given) {
		snprintf(msg, sizeof(msg),
		         "this KME's record of KME %s's limit (%llu) is older "
		         "than what it confirmed to KME %s (%llu): this KME's "
		         "state_dir was restored from an older copy",
		         l->peer->id, (unsigned long long)given, l->peer->id,
		         (unsigned long long)p_granted);
		alarm_set(l, msg);
		if ((rc = given_raise(k, l, p_granted, err)))
			goto out;
	}

	/* the peer recorded `now` (>= limit); keep lease >= record */
	if ((rc = kme_lease_write(k, l, max64(asked, now), now, err)))
		goto out;
	skip = max64(before, p_seen);
	pthread_mutex_lock(&l->lock);
	if (skip > l->own.next) {
		qm_log(QM_LOG_WARN,
		       "link %s: KME %s has seen this KME's pool used up to "
		       "offset %llu; skipping %llu bytes",
		       l->peer->id, l->peer->id, (unsigned long long)skip,
		       (unsigned long long)(skip - l->own.next));
		kme_kstream_skip(&l->own, skip);
		kme_mark_dirty(k);
	}
	if (l->i_am_lower) {
		kme_kstream_align(&l->own, p_mirror_end);
		kme_kstream_align(&l->mirror, p_own_end);
		l->realign = 0;
		kme_mark_dirty(k);
	}
	l->granted = now;
	l->grant_failing = 0;
	l->confirmed = 1;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
out:
	if (l->i_am_lower)
		pthread_mutex_unlock(&l->push_lock);
	pthread_mutex_unlock(&l->lease_lock);
	json_decref(j);
	qm_buf_free(&ans);
	return rc;
}

enum qm_err kme_link_align(struct qm_kme *k, struct kme_link *l,
                           struct qm_error *err)
{
	uint64_t own_end, mirror_end, p_own_end, p_mirror_end;
	struct qm_buf ans;
	json_t *j = NULL;
	char body[128];
	enum qm_err rc;
	int ok = 1;

	(void)k;
	qm_buf_init(&ans, 4096);
	pthread_mutex_lock(&l->push_lock);
	pthread_mutex_lock(&l->lock);
	own_end = l->own.end;
	mirror_end = l->mirror.end;
	pthread_mutex_unlock(&l->lock);
	snprintf(body, sizeof(body), "{\"own_end\":%llu,\"mirror_end\":%llu}",
	         (unsigned long long)own_end, (unsigned long long)mirror_end);
	if ((rc = kme_peer_request(l, KME_CHAN_QUEUE, "/kme/v1/peer/align",
	                           body, 0, NULL, &ans, err)))
		goto out;
	j = ans.data ? json_loadb((const char *)ans.data, ans.len, 0, NULL)
	             : NULL;
	p_own_end = off_of(j, "own_end", &ok);
	p_mirror_end = off_of(j, "mirror_end", &ok);
	if (!ok) {
		rc = qm_error_set(err, QM_ERR_PROTO,
		                  "KME %s gave a malformed answer to the pool "
		                  "comparison",
		                  l->peer->id);
		goto out;
	}
	pthread_mutex_lock(&l->lock);
	kme_kstream_align(&l->own, p_mirror_end);
	kme_kstream_align(&l->mirror, p_own_end);
	l->realign = 0;
	pthread_cond_broadcast(&l->cond); /* the pools may need a refill */
	pthread_mutex_unlock(&l->lock);
	kme_mark_dirty(k);
out:
	pthread_mutex_unlock(&l->push_lock);
	json_decref(j);
	qm_buf_free(&ans);
	return rc;
}

enum qm_err kme_grant_raise(struct qm_kme *k, struct kme_link *l, uint64_t need,
                            struct qm_error *err)
{
	uint64_t target, got;
	struct qm_buf ans;
	json_t *j = NULL;
	char body[64];
	enum qm_err rc = QM_OK;
	int confirmed, ok = 1;

	qm_buf_init(&ans, 4096);
	pthread_mutex_lock(&l->lease_lock);
	pthread_mutex_lock(&l->lock);
	confirmed = l->confirmed;
	got = l->granted;
	pthread_mutex_unlock(&l->lock);
	if (!confirmed) {
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "the link to KME %s is not confirmed yet",
		                  l->peer->id);
		goto out;
	}
	if (need <= got)
		goto out; /* another thread raised it meanwhile */
	target = need + kme_grant_step(k);
	if (target > l->lease_asked &&
	    (rc = kme_lease_write(k, l, target, l->lease_granted, err)))
		goto out;
	snprintf(body, sizeof(body), "{\"limit\":%llu}",
	         (unsigned long long)target);
	if ((rc = kme_peer_request(l, KME_CHAN_GRANT, "/kme/v1/peer/grant",
	                           body, 0, NULL, &ans, err)))
		goto out;
	j = ans.data ? json_loadb((const char *)ans.data, ans.len, 0, NULL)
	             : NULL;
	got = off_of(j, "grant", &ok);
	if (!ok || got < target) {
		rc = qm_error_set(err, QM_ERR_PROTO,
		                  "KME %s did not record the limit asked for",
		                  l->peer->id);
		goto out;
	}
	if ((rc = kme_lease_write(k, l, l->lease_asked, target, err)))
		goto out;
	pthread_mutex_lock(&l->lock);
	if (target > l->granted)
		l->granted = target;
	l->grant_failing = 0;
	pthread_mutex_unlock(&l->lock);
out:
	if (rc) {
		pthread_mutex_lock(&l->lock);
		l->grant_failing = 1;
		pthread_mutex_unlock(&l->lock);
	}
	pthread_mutex_unlock(&l->lease_lock);
	json_decref(j);
	qm_buf_free(&ans);
	return rc;
}

void kme_grant_release(struct qm_kme *k, struct kme_link *l)
{
	uint64_t next, got;
	struct qm_buf ans;
	struct qm_error e;
	json_t *j = NULL;
	char body[80];
	int confirmed, ok = 1;
	long t = (long)k->conf.peer_timeout_ms;

	qm_buf_init(&ans, 4096);
	pthread_mutex_lock(&l->lease_lock);
	pthread_mutex_lock(&l->lock);
	confirmed = l->confirmed;
	next = l->own.next;
	pthread_mutex_unlock(&l->lock);
	/* an unconfirmed link's point is not known to be right: keep all */
	if (!confirmed || next >= l->lease_asked)
		goto out;
	/* lower what we count as confirmed first, then the peer's record,
	 * then our lease: a crash in between leaves the order intact */
	if (l->lease_granted > next &&
	    kme_lease_write(k, l, l->lease_asked, next, &e))
		goto fail;
	snprintf(body, sizeof(body), "{\"limit\":%llu,\"release\":true}",
	         (unsigned long long)next);
	if (kme_peer_request(l, KME_CHAN_GRANT, "/kme/v1/peer/grant", body,
	                     t < RELEASE_TIMEOUT_MS ? t : RELEASE_TIMEOUT_MS,
	                     NULL, &ans, &e))
		goto fail;
	j = ans.data ? json_loadb((const char *)ans.data, ans.len, 0, NULL)
	             : NULL;
	got = off_of(j, "grant", &ok);
	if (!ok || got < next) {
		qm_error_set(&e, QM_ERR_PROTO, "malformed answer");
		goto fail;
	}
	if (kme_lease_write(k, l, got, got, &e))
		goto fail;
	goto out;
fail:
	/* nothing lost: the next start skips the margin not given back */
	qm_log(QM_LOG_INFO,
	       "link %s: the unused limit was not given back (%s); the next "
	       "start skips up to %llu bytes",
	       l->peer->id, e.msg, (unsigned long long)(l->lease_asked - next));
out:
	pthread_mutex_unlock(&l->lease_lock);
	json_decref(j);
	qm_buf_free(&ans);
}

/* ------------------------------------------------------------ handlers */

/* Parses the body of a peer's request; NULL when the reply was set. */
static json_t *peer_body(struct qm_kme *k, const char *caller, const char *body,
                         size_t blen, struct kme_link **lp, struct kme_reply *r)
{
	struct kme_link *l = kme_link_for_peer(k, caller);

	if (!l) {
		kme_api_error(r, 401, "unauthorized", "not a peer KME");
		return NULL;
	}
	*lp = l;
	return body ? kme_api_parse_body(body, blen, r) : NULL;
}

void kme_api_peer_grant(struct qm_kme *k, const char *caller, const char *body,
                        size_t blen, struct kme_reply *r)
{
	struct kme_link *l = NULL;
	json_t *jb = peer_body(k, caller, body, blen, &l, r);
	struct qm_error e;
	uint64_t limit, seen, p;
	int ok = 1, release;

	if (!jb) {
		if (l && !body)
			kme_api_error(r, 400, "bad request format",
			              "a limit is required");
		return;
	}
	limit = off_of(jb, "limit", &ok);
	release = json_is_true(json_object_get(jb, "release"));
	json_decref(jb);
	if (!ok) {
		kme_api_error(r, 400, "bad request format",
		              "limit must be an offset");
		return;
	}
	pthread_mutex_lock(&l->grant_lock);
	pthread_mutex_lock(&l->lock);
	seen = l->mirror.next;
	pthread_mutex_unlock(&l->lock);
	/* a release (the peer stopped cleanly at limit) may lower the
	 * record, never below a reservation we saw */
	p = release ? max64(limit, seen) : max64(l->grant_given, limit);
	if (p != l->grant_given && kme_grant_write(k, l, p, &e)) {
		pthread_mutex_unlock(&l->grant_lock);
		qm_log(QM_LOG_ERROR, "link %s: %s", l->peer->id, e.msg);
		kme_api_error(r, 503, "cannot record the limit", e.msg);
		return;
	}
	pthread_mutex_unlock(&l->grant_lock);
	kme_api_reply_json(
	    r, 200,
	    json_pack("{s:s, s:I}", "message", "ok", "grant", (json_int_t)p));
}

void kme_api_peer_sync(struct qm_kme *k, const char *caller, const char *body,
                       size_t blen, struct kme_reply *r)
{
	struct kme_link *l = NULL;
	json_t *jb = peer_body(k, caller, body, blen, &l, r);
	uint64_t x_lease, x_granted, x_grant, limit, before, p;
	uint64_t asked, lgranted, next, seen, own_end, mirror_end;
	uint64_t x_own_end, x_mirror_end;
	struct qm_error e;
	char msg[768];
	int ok = 1, confirmed;

	if (!jb) {
		if (l && !body)
			kme_api_error(r, 400, "bad request format",
			              "the link check needs a body");
		return;
	}
	x_lease = off_of(jb, "lease", &ok);
	x_granted = off_of(jb, "granted", &ok);
	x_grant = off_of(jb, "grant", &ok);
	limit = off_of(jb, "limit", &ok);
	(void)off_of(jb, "next", &ok);
	(void)off_of(jb, "seen", &ok);
	x_own_end = off_of(jb, "own_end", &ok);
	x_mirror_end = off_of(jb, "mirror_end", &ok);
	json_decref(jb);
	if (!ok || x_granted > x_lease || limit > x_lease) {
		kme_api_error(
		    r, 400, "bad request format",
		    "lease, granted, grant, next, seen, limit, own_end and "
		    "mirror_end must be offsets, granted and limit at most "
		    "lease");
		return;
	}
	pthread_mutex_lock(&l->grant_lock);
	before = l->grant_given;
	p = max64(before, max64(limit, x_granted));
	if (p != before && kme_grant_write(k, l, p, &e)) {
		pthread_mutex_unlock(&l->grant_lock);
		qm_log(QM_LOG_ERROR, "link %s: %s", l->peer->id, e.msg);
		kme_api_error(r, 503, "cannot record the limit", e.msg);
		return;
	}
	pthread_mutex_unlock(&l->grant_lock);
	pthread_mutex_lock(&l->lock);
	/* the ends we answer are the bytes we hold, read before aligning:
	 * the runner drops what we lack (moved ends would hide a hole) */
	own_end = l->own.end;
	mirror_end = l->mirror.end;
	if (!l->i_am_lower) {
		/* the runner sent its ends holding its block lock: exact */
		kme_kstream_align(&l->own, x_mirror_end);
		kme_kstream_align(&l->mirror, x_own_end);
	} else if (x_mirror_end != l->own.end || x_own_end != l->mirror.end) {
		/* we run the link and the peer restarted with other ends than
		 * ours (its own may be late by a block in flight): serve
		 * nothing until we compared them holding our block lock */
		l->realign = 1;
	}
	confirmed = l->confirmed;
	asked = l->lease_asked;
	lgranted = l->lease_granted;
	next = l->own.next;
	seen = l->mirror.next;
	pthread_mutex_unlock(&l->lock);
	/* the peer started again: its relay reservoirs are gone with its
	 * memory, and so is its copy of ours */
	kme_relay_peer_restarted(l);
	/* the runner compares ends now; and a link still waiting for its
	 * own confirmation asks again at once: the peer is up */
	if (l->i_am_lower || !confirmed)
		kme_peerq_kick(l->q);
	if (!l->i_am_lower)
		kme_mark_dirty(k);
	if (before > x_lease) {
		snprintf(msg, sizeof(msg),
		         "KME %s's key pool state is older than the limit it "
		         "asked this KME to record (%llu, its lease %llu): KME "
		         "%s was restored from an older copy of its state_dir; "
		         "it skips past that limit",
		         l->peer->id, (unsigned long long)before,
		         (unsigned long long)x_lease, l->peer->id);
		alarm_set(l, msg);
	}
	if (before < x_granted) {
		snprintf(msg, sizeof(msg),
		         "this KME's record of KME %s's limit (%llu) is older "
		         "than what it confirmed to KME %s (%llu): this KME's "
		         "state_dir was restored from an older copy",
		         l->peer->id, (unsigned long long)before, l->peer->id,
		         (unsigned long long)x_granted);
		alarm_set(l, msg);
	}
	if (x_grant < lgranted) {
		snprintf(msg, sizeof(msg),
		         "KME %s's record of this KME's limit (%llu) is older "
		         "than what it confirmed (%llu): KME %s was restored "
		         "from an older copy of its state_dir",
		         l->peer->id, (unsigned long long)x_grant,
		         (unsigned long long)lgranted, l->peer->id);
		alarm_set(l, msg);
	}
	kme_api_reply_json(
	    r, 200,
	    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	              "message", "ok", "grant_before", (json_int_t)before,
	              "grant", (json_int_t)p, "lease", (json_int_t)asked,
	              "granted", (json_int_t)lgranted, "next", (json_int_t)next,
	              "seen", (json_int_t)seen, "own_end", (json_int_t)own_end,
	              "mirror_end", (json_int_t)mirror_end));
}

void kme_api_peer_align(struct qm_kme *k, const char *caller, const char *body,
                        size_t blen, struct kme_reply *r)
{
	struct kme_link *l = NULL;
	json_t *jb = peer_body(k, caller, body, blen, &l, r);
	uint64_t x_own_end, x_mirror_end, own_end, mirror_end;
	int ok = 1;

	if (!jb) {
		if (l && !body)
			kme_api_error(r, 400, "bad request format",
			              "the comparison needs a body");
		return;
	}
	x_own_end = off_of(jb, "own_end", &ok);
	x_mirror_end = off_of(jb, "mirror_end", &ok);
	json_decref(jb);
	if (!ok || l->i_am_lower) {
		kme_api_error(r, 400, "bad request format",
		              "only the KME that runs the link compares, with "
		              "own_end and mirror_end");
		return;
	}
	pthread_mutex_lock(&l->lock);
	/* answered: the ends before aligning (see kme_api_peer_sync) */
	own_end = l->own.end;
	mirror_end = l->mirror.end;
	kme_kstream_align(&l->own, x_mirror_end);
	kme_kstream_align(&l->mirror, x_own_end);
	pthread_mutex_unlock(&l->lock);
	kme_mark_dirty(k);
	kme_api_reply_json(r, 200,
	                   json_pack("{s:s, s:I, s:I}", "message", "ok",
	                             "own_end", (json_int_t)own_end,
	                             "mirror_end", (json_int_t)mirror_end));
}
