/* SPDX-License-Identifier: MIT */
/*
 * Filing one fetched message (the receive path's filing side, for recv.c):
 * parse it, classify it (plain mail; a QMail message seen before, as a
 * duplicate or a replay; a new one, opened by recv_open.c), read what an
 * opened one holds, and record the outcome. Plain mail goes to the vault
 * as it is. Only a QMail message that passed every check reaches the vault
 * readable; a failed one is recorded with its reason and no plaintext, and
 * one that waits or may open on a later try is kept as received (sealed).
 * What the reader will show of a message that opened is what was
 * authenticated, in the message's sealed security record (msgmeta.c).
 * Each stage is a function of its own; client_recv_file runs them in order.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

/* Back-off of a message the KME failed for: first wait and cap. */
#define WAIT_FIRST_S 60
#define WAIT_MAX_S   (6 * 3600)

int64_t client_date_parse(const char *s)
{
	struct tm tm;
	const char *p = s, *r;
	long off = 0;

	memset(&tm, 0, sizeof(tm));
	if (!s || !*s)
		return 0;
	if (strchr(p, ','))
		p = strchr(p, ',') + 1;
	r = strptime(p, " %d %b %Y %H:%M:%S", &tm);
	if (!r)
		return 0;
	while (*r == ' ')
		r++;
	if ((*r == '+' || *r == '-') && strlen(r) >= 5) {
		long hh = (r[1] - '0') * 10 + (r[2] - '0');
		long mm = (r[3] - '0') * 10 + (r[4] - '0');
		off = (hh * 3600 + mm * 60) * (*r == '-' ? -1 : 1);
	}
	return (int64_t)timegm(&tm) - off;
}

/* The envelope left in the message (qm_mail_parse_big) into h, read in
 * pieces. A read that fails leaves a digest no copy matches: it is then
 * not recognised as a duplicate, and it does not open either. */
static void envelope_hash(const struct qm_mail_parsed *mp,
                          crypto_generichash_state *h)
{
	unsigned char buf[16384];
	size_t got = 0;

	if (qm_mail_envelope_rewind(mp->envsrc, NULL) != QM_OK) {
		crypto_generichash_update(h, (const unsigned char *)"!", 1);
		return;
	}
	do {
		if (qm_mail_envelope_read(mp->envsrc, buf, sizeof(buf), &got,
		                          NULL) != QM_OK) {
			crypto_generichash_update(h, (const unsigned char *)"!",
			                          1);
			return;
		}
		crypto_generichash_update(h, buf, got);
	} while (got);
}

/* The digest's end: h has taken the envelope; the header values follow. */
static void digest_end(const struct qm_mail_parsed *mp,
                       crypto_generichash_state *h, char hex[65])
{
	unsigned char d[32];
	const char *parts[6] = {mp->hdrs.from,       mp->hdrs.to,
	                        mp->hdrs.cc,         mp->hdrs.date,
	                        mp->hdrs.message_id, mp->sender_sae};
	char lvl[16];

	snprintf(lvl, sizeof(lvl), "%d", mp->level);
	crypto_generichash_update(h, (const unsigned char *)lvl,
	                          strlen(lvl) + 1);
	for (size_t i = 0; i < 6; i++) {
		const char *v = parts[i] ? parts[i] : "";

		crypto_generichash_update(h, (const unsigned char *)v,
		                          strlen(v) + 1);
	}
	for (size_t i = 0; i < mp->nkey_ids; i++)
		crypto_generichash_update(h,
		                          (const unsigned char *)mp->key_ids[i],
		                          strlen(mp->key_ids[i]) + 1);
	crypto_generichash_final(h, d, sizeof(d));
	sodium_bin2hex(hex, 65, d, sizeof(d));
}

/* A digest's start: what the envelope goes into first. */
static void digest_begin(crypto_generichash_state *h)
{
	crypto_generichash_init(h, NULL, 0, 32);
}

/*
 * A digest of what makes a QMail message this message: the envelope and
 * every header value the receiver uses (the bound ones, level, sender SAE
 * and key IDs), as 64 hex digits. Two deliveries of one ciphertext (an SMTP
 * retry after a lost "250", the Sent copy of what this home sent) have the
 * same digest; a copy with anything changed does not.
 */
void client_recv_digest(const struct qm_mail_parsed *mp, char hex[65])
{
	crypto_generichash_state h;

	digest_begin(&h);
	if (mp->envsrc)
		envelope_hash(mp, &h);
	else
		crypto_generichash_update(&h, mp->envelope, mp->envelope_len);
	digest_end(mp, &h, hex);
}

/* qm_mail_src's envelope tap: the digest's start takes the envelope. */
static void digest_tap(void *arg, const void *p, size_t n)
{
	crypto_generichash_update(arg, p, n);
}

enum seen { SEEN_NO, SEEN_DUP, SEEN_REPLAY };

/*
 * Whether a QMail message with this Message-ID was received before (other
 * than record skip): the same bytes (its digest) are a duplicate of that
 * one. At levels 3 and 4, which have no key IDs, a different message
 * reusing the Message-ID of an earlier QMail message that opened (the
 * Message-ID is authenticated there) is a replay. A Message-ID that a
 * plain message, or a QMail message that never opened, carried first says
 * nothing: anyone can put any Message-ID on a message. *first gets the
 * earlier record.
 */
static enum seen seen_before(struct qm_client *c, struct acct_conn *ac,
                             const struct qm_mail_parsed *mp,
                             const char want[65], int64_t skip,
                             int64_t *first)
{
	int64_t *ids = NULL;
	size_t n = 0;
	enum seen s = SEEN_NO;

	if (!mp->hdrs.message_id[0] ||
	    qm_store_msg_find_all(c->store, ac->a.id, mp->hdrs.message_id, &ids,
	                          &n, NULL) != QM_OK)
		return SEEN_NO;
	for (size_t i = 0; i < n && s == SEEN_NO; i++) {
		char key[40], have[80] = {0};

		if (ids[i] == skip)
			continue;
		snprintf(key, sizeof(key), "digest.%lld", (long long)ids[i]);
		client_acct_setting(c, ac->a.id, key, have, sizeof(have));
		if (strlen(have) == 64 &&
		    sodium_memcmp(have, want, 65) == 0) {
			s = SEEN_DUP;
			*first = ids[i];
		}
	}
	for (size_t i = 0; i < n && s == SEEN_NO && mp->level >= 3; i++) {
		struct qm_store_msglist *l = NULL;

		if (ids[i] == skip ||
		    qm_store_msg_get(c->store, ids[i], &l, NULL) != QM_OK)
			continue;
		if (l->n && l->items[0].level >= 1 &&
		    (l->items[0].verify == QM_VERIFY_OK ||
		     l->items[0].verify == QM_VERIFY_UNVERIFIED_SENDER)) {
			s = SEEN_REPLAY;
			*first = ids[i];
		}
		qm_store_msglist_free(&l);
	}
	free(ids);
	return s;
}

/* The sealed record of a message with outcome oc (and how long it waits). */
static enum qm_err meta_of(const struct qm_mail_parsed *mp,
                           const struct recv_outcome *oc, int tries,
                           struct qm_buf *out, struct qm_error *err)
{
	struct msg_meta mm;
	int opened = oc->verify == QM_VERIFY_OK ||
	             oc->verify == QM_VERIFY_UNVERIFIED_SENDER;
	enum qm_err rc;

	memset(&mm, 0, sizeof(mm));
	qm_strlcpy(mm.sae, oc->sae, sizeof(mm.sae));
	qm_strlcpy(mm.owner, oc->owner, sizeof(mm.owner));
	if (opened) {
		/* borrowed for the encoding only */
		mm.from = mp->hdrs.from;
		mm.to = mp->hdrs.to;
		mm.cc = mp->hdrs.cc;
		mm.date = mp->hdrs.date;
		mm.mid = mp->hdrs.message_id;
		qm_strlcpy(mm.signer, oc->signer, sizeof(mm.signer));
		qm_strlcpy(mm.signer_addr, oc->signer_addr,
		           sizeof(mm.signer_addr));
		mm.path = oc->path;
	}
	if (oc->wait) {
		int64_t wait = WAIT_FIRST_S;

		mm.wait_kind = (int)oc->wait;
		mm.tries = tries + 1;
		for (int i = 1; i < mm.tries && wait < WAIT_MAX_S; i++)
			wait *= 2;
		/* a message the KME failed for waits longer each time; one the
		 * account's KME could not be asked for goes at the next sync
		 * (one request a sync finds out whether it is back) */
		mm.next_at =
		    oc->wait == MSG_WAIT_MSG
		        ? qm_now() + (wait < WAIT_MAX_S ? wait : WAIT_MAX_S)
		        : 0;
	}
	rc = client_msg_meta_encode(&mm, out, err);
	return rc;
}

/* A record that stays (the outcome is what it was): its reason and its
 * sealed record are brought up to date. */
static enum qm_err record_update(struct qm_client *c, struct acct_conn *ac,
                                 int64_t id, const struct qm_mail_parsed *mp,
                                 const struct recv_outcome *oc, int tries,
                                 struct qm_error *err)
{
	struct qm_buf meta;
	char key[32];
	enum qm_err rc;

	qm_buf_init_secure(&meta, 1 << 20);
	rc = meta_of(mp, oc, tries, &meta, err);
	if (!rc)
		rc = qm_store_msg_meta_set(c->store, id, meta.data, meta.len,
		                           err);
	qm_buf_free(&meta);
	if (!rc) {
		snprintf(key, sizeof(key), "reason.%lld", (long long)id);
		rc = qm_store_setting_set(c->store, ac->a.id, key, oc->reason,
		                          err);
	}
	return rc;
}

/* Counts a filed outcome in the sync's figures. */
static void count(struct recv_ctx *ctx, enum qm_store_verify v)
{
	struct qm_client_sync_stats *st = ctx->st;

	switch (v) {
	case QM_VERIFY_OK:
		st->decrypted++;
		break;
	case QM_VERIFY_UNVERIFIED_SENDER:
		st->unverified++;
		break;
	case QM_VERIFY_NOT_QMAIL:
		st->plain++;
		break;
	case QM_VERIFY_TAMPERED:
		st->tampered++;
		break;
	case QM_VERIFY_REPLAY:
		st->replayed++;
		break;
	case QM_VERIFY_UNREADABLE:
		st->unreadable++;
		break;
	case QM_VERIFY_WAITING:
		break; /* counted at the end of the sync */
	case QM_VERIFY_SENT:
	case QM_VERIFY_SENT_ELSEWHERE:
		st->own++;
		break;
	default:
		st->errors++;
	}
}

/* One message on its way into the index: what each stage found. */
struct filing {
	const struct incoming *in;
	struct qm_mail_parsed *mp;  /* NULL when it did not parse */
	struct qm_mail_content *mc; /* the readable message, if any */
	struct recv_outcome oc;
	int qmail;                  /* parsed, and a QMail message */
	const char *subject, *text; /* what the index gets */
	const void *body;           /* what the vault gets */
	size_t body_len;
	int done; /* nothing (more) to record */
	int blob_taken; /* oc.plain_blob went to the message */
	/* in->raw_blob: read through rawsrc (a reader of it); whether the
	 * message took it as its body (kept as received, or plain mail) */
	struct qm_store_blob_r *rawr;
	struct qm_mail_src rawsrc;
	int raw_taken;
	/* plain: the header-only record this body fills (its id stays) */
	int64_t fill_id;
	/* a QMail message's digest (client_recv_digest), made once; envh:
	 * its start, which took the envelope while the parse measured it
	 * (a large one, read from rawsrc), so that it is not read again */
	crypto_generichash_state envh;
	char digest[65];
	char name[QM_STORE_NAMEMAX]; /* the sender's name the index gets */
};

/* f->digest, made the first time it is asked for: from the start the
 * parse's tap gave it when the envelope stayed in a large message read
 * from its blob (no second pass over it), else from the parsed message. */
static void filing_digest(struct filing *f)
{
	crypto_generichash_state h;

	if (f->digest[0] || !f->mp)
		return;
	if (f->rawr && f->mp->envsrc) {
		memcpy(&h, &f->envh, sizeof(h));
		digest_end(f->mp, &h, f->digest);
	} else
		client_recv_digest(f->mp, f->digest);
}

static int opened(enum qm_store_verify v)
{
	return v == QM_VERIFY_OK || v == QM_VERIFY_UNVERIFIED_SENDER;
}

/* A QMail message whose plaintext goes to the vault: opened, or one this
 * home sent (its plaintext is the outbox's, recv_own.c). */
static int shown(enum qm_store_verify v)
{
	return opened(v) || v == QM_VERIFY_SENT;
}

/* The flags a message's place and record keep (QM_FLAG_*). */
#define PLACE_FLAGS 0xffu

/* Message id is (also) where in says, on the IMAP server: its place. */
static enum qm_err place_at(struct qm_client *c, const struct incoming *in,
                            int64_t id, struct qm_error *err)
{
	enum qm_err rc;

	if (!in->folder_id || !in->uid || !id)
		return QM_OK;
	rc = qm_store_place_add(c->store, in->folder_id, in->uid, id,
	                        in->flags & PLACE_FLAGS, err);
	if (rc == QM_ERR_EXISTS) {
		/* another record holds the place already (filed by another
		 * process meanwhile): it is that one */
		qm_error_clear(err);
		rc = QM_OK;
	}
	return rc;
}

/* Filed already, by an earlier sync whose bookkeeping of where it stopped
 * could not be written (disk full), or filed before places were kept:
 * nothing to do twice (its place is made when it has none). */
static int filed_already(struct qm_client *c, const struct acct_conn *ac,
                         const struct incoming *in)
{
	int64_t id;

	if (in->replace_id)
		return 0;
	if (in->uidl)
		return qm_store_msg_find_uidl(c->store, ac->a.id, in->uidl, &id,
		                              NULL) == QM_OK;
	if (in->folder_id && qm_store_place_find(c->store, in->folder_id,
	                                         in->uid, &id, NULL) == QM_OK)
		return 1;
	if (!in->uid || qm_store_msg_find_uid(c->store, ac->a.id, in->folder,
	                                      in->uidvalidity, in->uid, &id,
	                                      NULL) != QM_OK)
		return 0;
	/* best effort: without its place, the next sync of a renumbered
	 * folder finds it again by what it is */
	QM_IGNORE(place_at(c, in, id, NULL));
	return 1;
}

/*
 * A plain message filed before from another place (the same message in
 * INBOX and [Gmail]/All Mail; moved on the server; a renumbered folder):
 * the same Message-ID and size. *id gets it, 0 when there is none. (Anyone
 * can write any Message-ID: a message made to match one filed here is not
 * shown, and the one filed stays as it was.)
 */
static int64_t plain_seen_before(struct qm_client *c,
                                 const struct acct_conn *ac,
                                 const struct incoming *in,
                                 const struct qm_mail_parsed *mp, int *pending)
{
	int64_t *ids = NULL, found = 0;
	size_t n = 0;

	*pending = 0;

	if (!in->folder_id || !mp->hdrs.message_id[0] ||
	    qm_store_msg_find_all(c->store, ac->a.id, mp->hdrs.message_id, &ids,
	                          &n, NULL) != QM_OK)
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		struct qm_store_msglist *l = NULL;

		if (qm_store_msg_get(c->store, ids[i], &l, NULL) != QM_OK)
			continue;
		if (l->n && l->items[0].verify == QM_VERIFY_NOT_QMAIL &&
		    l->items[0].size == (int64_t)in->rawlen) {
			found = ids[i];
			*pending = l->items[0].body_pending;
		}
		qm_store_msglist_free(&l);
	}
	free(ids);
	return found;
}

/* The readable parts of a message this home sent (the outbox's copy): a
 * copy past the user's limits is kept all the same, the list says why;
 * nothing to read of one sent elsewhere. */
static enum qm_err read_own(const struct acct_conn *ac, struct filing *f)
{
	struct recv_outcome *oc = &f->oc;
	struct qm_error e;

	if (oc->verify != QM_VERIFY_SENT)
		return QM_OK;
	qm_error_clear(&e);
	f->body = oc->plain.data;
	f->body_len = oc->plain.len;
	if (qm_mail_content_parse(f->body, f->body_len, &ac->lim, &f->mc, &e) !=
	    QM_OK)
		f->subject = oc->reason;
	return QM_OK;
}

/* A QMail message: seen before (a duplicate goes), the account's own
 * (recv_own.c), a replay (refused), or opened (recv_open.c). */
static enum qm_err classify_qmail(struct qm_client *c, struct acct_conn *ac,
                                  struct recv_ctx *ctx, struct filing *f,
                                  struct qm_error *err)
{
	const struct incoming *in = f->in;
	int64_t first = 0;
	int own = 0;
	enum seen seen;

	filing_digest(f);
	seen = seen_before(c, ac, f->mp, f->digest, in->replace_id, &first);
	enum qm_err rc = QM_OK;

	if (seen != SEEN_DUP) {
		/* the account's own (Sent, All Mail, another device's): no
		 * key asked for, never a replay; one the user asked to open
		 * again as mail to this account is opened */
		rc = client_recv_own(c, ac, f->mp, f->digest,
		                     in->replaced != QM_VERIFY_SENT_ELSEWHERE,
		                     &f->oc, &own, err);
		if (rc || own)
			return rc ? rc : read_own(ac, f);
		/* the account's own key signed it for itself: a replay of
		 * it is a duplicate, and its Message-ID is the one of the
		 * message sent (opened by its recipients, maybe here) */
		if (f->oc.self_copy) {
			rc = client_recv_open_qmail(c, ac, ctx, f->mp, &f->oc,
			                            err);
			/* a draft's copy from another home: one of ours */
			if (!rc && f->oc.verify == QM_VERIFY_SENT &&
			    f->oc.draft_uuid[0])
				rc = client_draft_adopt(
				    c, ac->a.id, f->oc.draft_uuid,
				    f->oc.draft_time, f->oc.plain.data,
				    f->oc.plain.len, err);
			return rc ? rc : read_own(ac, f);
		}
	}
	switch (seen) {
	case SEEN_DUP:
		/* byte for byte one received already (the sender's SMTP retry
		 * after a lost "250", or an attacker delivering it again): the
		 * user has it; nothing is shown twice and nothing raises an
		 * alarm. A waiting copy of it goes. */
		ctx->st->duplicates++;
		if (in->replace_id)
			rc = qm_store_msg_delete(c->store, in->replace_id, err);
		/* the same message in another place (moved on the server,
		 * in two folders, a renumbered folder): shown there too,
		 * never opened a second time */
		if (!rc)
			rc = place_at(c, in, first, err);
		ctx->last_id = first;
		f->done = 1;
		return rc;
	case SEEN_REPLAY:
		f->oc.verify = QM_VERIFY_REPLAY;
		f->oc.level = f->mp->level;
		snprintf(f->oc.reason, sizeof(f->oc.reason),
		         "a QMail message with this Message-ID was already "
		         "received and opened (message %lld): this one is a "
		         "replay and was not decrypted",
		         (long long)first);
		return QM_OK;
	default:
		return client_recv_open_qmail(c, ac, ctx, f->mp, &f->oc, err);
	}
}

/*
 * The body fetched for a header-only record is the message its headers
 * described: as many bytes as the server's size then, the same
 * Message-ID. A server that answers with another message (hostile, or
 * renumbered under the same UIDVALIDITY) is not believed: nothing is
 * filed, the record waits as it was (ctx->body_refused, last_reason).
 */
static int body_matches(struct filing *f, struct recv_ctx *ctx)
{
	const struct incoming *in = f->in;
	const char *mid = f->mp ? f->mp->hdrs.message_id : "";
	const char *want = in->expect_mid ? in->expect_mid : "";

	if ((int64_t)in->rawlen == in->expect_size && strcmp(mid, want) == 0)
		return 1;
	ctx->body_refused = 1;
	snprintf(ctx->last_reason, sizeof(ctx->last_reason),
	         "the server gave another message (%zu bytes, Message-ID "
	         "%.80s) for the body of message %lld (%lld bytes, Message-ID "
	         "%.80s): it was not filed",
	         in->rawlen, mid[0] ? mid : "none", (long long)in->replace_id,
	         (long long)in->expect_size, want[0] ? want : "none");
	f->done = 1;
	return 0;
}

/* Parses the message and decides what it is: malformed or past a limit,
 * plain mail, or a QMail message (classify_qmail). */
static enum qm_err classify(struct qm_client *c, struct acct_conn *ac,
                            struct recv_ctx *ctx, struct filing *f,
                            struct qm_error *err)
{
	struct qm_error e;

	qm_error_clear(&e);
	if (f->in->header_only &&
	    (int64_t)f->in->rawlen != f->in->expect_size) {
		body_matches(f, ctx);
		return QM_OK;
	}
	/* a large envelope stays in the message, read in pieces; a large
	 * message stays in its blob, read a window at a time */
	if (f->rawr) {
		/* the digest takes the envelope as the parse measures it */
		digest_begin(&f->envh);
		f->rawsrc.envelope_tap = digest_tap;
		f->rawsrc.tap_arg = &f->envh;
	}
	if ((f->rawr ? qm_mail_parse_big_src(&f->rawsrc, &ac->lim,
	                                     RECV_BLOB_MIN, &f->mp, &e)
	             : qm_mail_parse_big(f->in->raw, f->in->rawlen, &ac->lim,
	                                 RECV_BLOB_MIN, &f->mp, &e)) != QM_OK) {
		/* a message that claims to be QMail but is malformed; or one
		 * past the user's limits: refused (no key was asked for) */
		f->oc.verify = e.code == QM_ERR_TOOBIG ? QM_VERIFY_REFUSED
		                                       : QM_VERIFY_TAMPERED;
		f->oc.level = 0;
		snprintf(f->oc.reason, sizeof(f->oc.reason), "%s%s",
		         e.code == QM_ERR_TOOBIG ? "refused: " : "",
		         qm_error_msg(&e));
		return QM_OK;
	}
	if (f->in->header_only && !body_matches(f, ctx))
		return QM_OK;
	if (f->mp->kind == QM_MAIL_KIND_PLAIN) {
		int pending = 0;
		int64_t first =
		    f->in->replace_id
		        ? 0
		        : plain_seen_before(c, ac, f->in, f->mp, &pending);

		if (first && !pending) {
			ctx->last_id = first;
			f->done = 1;
			return place_at(c, f->in, first, err);
		}
		/* a header-only record of it (listed from another folder):
		 * this body is its body */
		f->fill_id = first                ? first
		             : f->in->header_only ? f->in->replace_id
		                                  : 0;
		if (first) {
			enum qm_err rc = place_at(c, f->in, first, err);

			if (rc)
				return rc;
		}
		f->oc.verify = QM_VERIFY_NOT_QMAIL;
		/* a large one: its blob is its body (record_fill) */
		f->body = f->in->raw;
		f->body_len = f->in->raw ? f->in->rawlen : 0;
		f->mc = f->mp->content;
		f->mp->content = NULL;
		return QM_OK;
	}
	f->qmail = 1;
	if (f->in->plain_only) {
		/* its keys are the sync's to use, under the sync lock */
		ctx->body_deferred = 1;
		f->done = 1;
		return QM_OK;
	}
	return classify_qmail(c, ac, ctx, f, err);
}

/* A message that cannot be opened now waits, kept as received. One that
 * waited already keeps its record, with the next try; one the user asked
 * for again is left as it was. */
static enum qm_err settle_waiting(struct qm_client *c, struct acct_conn *ac,
                                  struct recv_ctx *ctx, struct filing *f,
                                  struct qm_error *err)
{
	const struct incoming *in = f->in;

	if (!f->oc.wait)
		return QM_OK;
	ctx->last_wait = f->oc.wait;
	qm_strlcpy(ctx->last_reason, f->oc.reason, sizeof(ctx->last_reason));
	if (in->replace_id && !in->header_only) {
		f->done = 1;
		if (in->replaced == QM_VERIFY_WAITING)
			return record_update(c, ac, in->replace_id, f->mp,
			                     &f->oc, in->tries, err);
		return QM_OK;
	}
	f->oc.verify = QM_VERIFY_WAITING;
	f->oc.keep_raw = 1;
	return QM_OK;
}

static enum qm_err blob_rd(void *arg, void *buf, size_t want, size_t *got,
                           struct qm_error *err)
{
	return qm_store_blob_read(arg, buf, want, got, err);
}

static enum qm_err blob_seek(void *arg, uint64_t off, struct qm_error *err)
{
	return qm_store_blob_seek(arg, off, err);
}

/* The readable parts of a large opened message (oc->plain_blob) for the
 * index: its text, headers and attachment list, read from the blob a
 * window at a time (the attachments stay in the blob). */
static enum qm_err parse_blob(struct qm_client *c, const struct acct_conn *ac,
                              struct filing *f, struct qm_error *e)
{
	struct qm_store_blob_r *r = NULL;
	struct qm_mail_src src = {0};
	enum qm_err rc;

	rc = qm_store_blob_open(c->store, QM_STORE_BLOB_MSG, ac->a.id,
	                        f->oc.plain_blob, &r, e);
	if (rc)
		return rc;
	src.read = blob_rd;
	src.seek = blob_seek;
	src.arg = r;
	src.len = qm_store_blob_size(r);
	rc = qm_mail_content_list_src(&src, &ac->lim, &f->mc, e);
	qm_store_blob_close(&r);
	return rc;
}

/* An opened message's readable parts; past a limit it is kept all the same
 * (its keys are spent), inner copies of its headers that name other
 * addresses than the authenticated ones make it tampered. */
static void read_opened(struct qm_client *c, const struct acct_conn *ac,
                        struct filing *f)
{
	struct recv_outcome *oc = &f->oc;
	struct qm_error e;
	enum qm_err rc;

	if (!opened(oc->verify))
		return;
	qm_error_clear(&e);
	f->body = oc->plain.data;
	f->body_len = oc->plain.len;
	if (oc->plain_blob)
		rc = parse_blob(c, ac, f, &e);
	else
		rc = qm_mail_content_parse(f->body, f->body_len, &ac->lim,
		                           &f->mc, &e);
	if (rc == QM_ERR_TOOBIG) {
		/* reading it says which limit to raise */
		snprintf(oc->reason, sizeof(oc->reason),
		         "decrypted and verified, but %s", qm_error_msg(&e));
		f->subject = oc->reason; /* the list says why */
	} else if (!f->mc) {
		oc->verify = QM_VERIFY_TAMPERED;
		snprintf(oc->reason, sizeof(oc->reason),
		         "the decrypted message is not readable MIME: %s",
		         qm_error_msg(&e));
	} else if (!client_recv_inner_agrees(&f->mp->hdrs, &f->mc->hdrs,
	                                     oc->reason, sizeof(oc->reason))) {
		oc->verify = QM_VERIFY_TAMPERED;
		qm_mail_content_free(&f->mc);
	}
}

/* Tried again, and still the same (unreadable, no key, ...): the record
 * stays, brought up to date. */
static enum qm_err keep_if_same(struct qm_client *c, struct acct_conn *ac,
                                struct recv_ctx *ctx, struct filing *f,
                                struct qm_error *err)
{
	const struct incoming *in = f->in;

	if (!f->qmail || !in->replace_id || f->oc.verify != in->replaced ||
	    opened(f->oc.verify))
		return QM_OK;
	ctx->last_verify = f->oc.verify;
	qm_strlcpy(ctx->last_reason, f->oc.reason, sizeof(ctx->last_reason));
	f->done = 1;
	return record_update(c, ac, in->replace_id, f->mp, &f->oc, 0, err);
}

/* The index row of the message (m borrows from f; meta gets its sealed
 * record). */
static enum qm_err record_fill(const struct acct_conn *ac, struct filing *f,
                               struct qm_store_msg *m, char *from,
                               size_t fromlen, struct qm_buf *meta,
                               struct qm_error *err)
{
	const struct incoming *in = f->in;
	const struct qm_mail_parsed *mp = f->mp;
	const struct recv_outcome *oc = &f->oc;

	memset(m, 0, sizeof(*m));
	m->from_addr = "";
	if (f->mc) {
		f->subject = f->mc->subject;
		f->text = f->mc->text;
		m->n_attach = (int)f->mc->natt;
	}
	if (mp) {
		m->from_addr = client_addr_bare(mp->hdrs.from, from, fromlen,
		                                NULL) == QM_OK
		                   ? from
		                   : mp->hdrs.from;
		m->to_addrs = mp->hdrs.to;
		m->message_id = mp->hdrs.message_id;
		m->date = client_date_parse(mp->hdrs.date);
	}
	/* the sender's name: of a QMail message only from its inner From
	 * (what the envelope authenticated with the text), never the outer
	 * one; of plain mail its From */
	if (mp && (shown(oc->verify) || oc->verify == QM_VERIFY_NOT_QMAIL)) {
		const char *hdr = f->mc ? f->mc->hdrs.from
		                  : oc->verify == QM_VERIFY_NOT_QMAIL
		                      ? mp->hdrs.from
		                      : NULL;

		client_sender_name_of(hdr, m->from_addr, f->name,
		                      sizeof(f->name));
		m->from_name = f->name;
	}
	if (mp && oc->verify != QM_VERIFY_NOT_QMAIL) {
		enum qm_err rc = meta_of(mp, oc, in->tries, meta, err);

		if (rc)
			return rc;
		m->meta = meta->data;
		m->meta_len = meta->len;
	}
	m->account_id = ac->a.id;
	m->folder = in->folder;
	m->uidvalidity = in->uidvalidity;
	m->uid = in->uid;
	m->uidl = in->uidl;
	m->flags = in->flags & PLACE_FLAGS;
	m->level = oc->level;
	m->verify = oc->verify;
	m->size = (int64_t)in->rawlen;
	if (shown(oc->verify) && oc->plain_blob)
		m->body_blob = oc->plain_blob; /* a large one: f->body NULL */
	if (oc->verify == QM_VERIFY_NOT_QMAIL && in->raw_blob)
		m->body_blob = in->raw_blob; /* plain, large: as received */
	if (!m->date)
		m->date = qm_now();
	if (!shown(oc->verify) && oc->verify != QM_VERIFY_NOT_QMAIL) {
		/* no plaintext at all; the reason stands in for the subject.
		 * A message that waits, or may open on a later try, is kept
		 * as received (sealed: the vault holds no plaintext of it) */
		f->subject = oc->reason;
		f->body = oc->keep_raw ? in->raw : NULL;
		f->body_len = oc->keep_raw && in->raw ? in->rawlen : 0;
		f->text = oc->keep_raw ? "" : NULL;
		if (oc->keep_raw && in->raw_blob)
			m->body_blob = in->raw_blob; /* large: kept as is */
	}
	return QM_OK;
}

/*
 * Adds the row (and its plaintext to the vault); the record it replaces
 * goes in the same transaction. *id is 0 when the message was filed
 * already (by another process).
 */
static enum qm_err record_store(struct qm_client *c, struct filing *f,
                                struct qm_store_msg *m, int64_t *id,
                                struct qm_error *err)
{
	struct recv_outcome *oc = &f->oc;
	struct qm_store_place *pl = NULL;
	size_t npl = 0;
	int64_t replace_id = f->in->replace_id;
	/* the key IDs of a message whose keys were fetched are consumed;
	 * one that may be tried again (waiting, unreadable, no key) used
	 * none, and a replay is refused before any */
	int used = opened(oc->verify) || oc->verify == QM_VERIFY_TAMPERED;
	enum qm_err rc = QM_OK;

	if (replace_id) {
		rc = qm_store_tx_begin(c->store, err);
		if (rc)
			return rc;
		/* the record replaced keeps its places on the server */
		rc = qm_store_msg_places(c->store, replace_id, &pl, &npl, err);
		if (!rc)
			rc = qm_store_msg_delete(c->store, replace_id, err);
		if (rc) {
			qm_store_tx_rollback(c->store);
			free(pl);
			return rc;
		}
	}
	rc = qm_store_msg_add(c->store, m, f->subject ? f->subject : "",
	                      used ? (const char *const *)oc->key_ids : NULL,
	                      used ? oc->nkey_ids : 0, f->body, f->body_len,
	                      f->text, id, err);
	if (rc == QM_ERR_REPLAY) {
		/* raced with another copy: record as a replay, no plaintext */
		qm_error_clear(err);
		m->verify = oc->verify = QM_VERIFY_REPLAY;
		m->meta = NULL;
		m->body_blob = 0;
		rc = qm_store_msg_add(c->store, m, "key ID reused", NULL, 0,
		                      NULL, 0, NULL, id, err);
	}
	if (rc == QM_ERR_EXISTS) {
		qm_error_clear(err);
		rc = QM_OK;
		*id = 0;
	}
	for (size_t i = 0; !rc && *id && i < npl; i++)
		rc = qm_store_place_add(c->store, pl[i].folder_id, pl[i].uid,
		                        *id, pl[i].flags, err);
	if (!rc)
		rc = place_at(c, f->in, *id, err);
	free(pl);
	if (replace_id) {
		if (!rc)
			rc = qm_store_tx_commit(c->store, err);
		else
			qm_store_tx_rollback(c->store);
	}
	if (!rc && *id && m->body_blob) {
		/* the message's now, gone with it */
		if (m->body_blob == f->in->raw_blob)
			f->raw_taken = 1;
		else
			f->blob_taken = 1;
	}
	return rc;
}

/* What a filed message leaves besides its row: the sync's figures, the
 * reason, and the digest a later identical copy is recognised by (without
 * it, that copy would read as a replay): a store that cannot keep them
 * fails the filing. */
static enum qm_err record_after(struct qm_client *c, struct acct_conn *ac,
                                struct recv_ctx *ctx, struct filing *f,
                                int64_t id, struct qm_error *err)
{
	const struct recv_outcome *oc = &f->oc;
	char key[32];
	enum qm_err rc;

	count(ctx, oc->verify);
	if (f->in->replaced == QM_VERIFY_WAITING)
		ctx->st->resumed++;
	ctx->last_id = id;
	ctx->last_verify = oc->verify;
	qm_strlcpy(ctx->last_reason, oc->reason, sizeof(ctx->last_reason));
	/* plain mail has a reason only when its identity header said
	 * something loud (a changed key) */
	if (oc->verify == QM_VERIFY_NOT_QMAIL && !oc->reason[0])
		return QM_OK;
	snprintf(key, sizeof(key), "reason.%lld", (long long)id);
	rc = qm_store_setting_set(c->store, ac->a.id, key, oc->reason, err);
	if (!rc && f->mp && oc->verify != QM_VERIFY_REPLAY &&
	    oc->verify != QM_VERIFY_NOT_QMAIL) {
		filing_digest(f);
		snprintf(key, sizeof(key), "digest.%lld", (long long)id);
		rc = qm_store_setting_set(c->store, ac->a.id, key, f->digest,
		                          err);
	}
	return rc;
}

/* A plain body for a header-only record: filled in, the record keeps its
 * id (a list or a reader showing it goes on). Filled already by another
 * handle meanwhile: nothing to do. */
static enum qm_err record_body(struct qm_client *c, struct acct_conn *ac,
                               struct recv_ctx *ctx, struct filing *f,
                               struct qm_error *err)
{
	struct qm_buf whole;
	enum qm_err rc = QM_OK;

	/* a large one that arrived into a blob: a body filled in is one
	 * sealed value (rare: the same large plain message listed from
	 * another folder first), read whole here */
	qm_buf_init_secure(&whole, QM_STORE_MAXBLOB);
	if (f->in->raw_blob) {
		rc = qm_store_blob_read_all(c->store, QM_STORE_BLOB_MSG,
		                            ac->a.id, f->in->raw_blob, &whole,
		                            err);
		f->body = whole.data;
		f->body_len = whole.len;
	}
	if (!rc)
		rc = qm_store_msg_body_fill(c->store, f->fill_id, f->body,
		                            f->body_len,
		                            f->mc ? f->mc->text : NULL,
		                            f->mc ? (int)f->mc->natt : 0, err);
	qm_buf_free(&whole);
	f->body = NULL;
	if (rc == QM_ERR_STATE) {
		qm_error_clear(err);
		rc = QM_OK;
	} else if (!rc) {
		ctx->st->bodies++;
		ctx->st->plain++;
	}
	ctx->last_id = f->fill_id;
	ctx->last_verify = QM_VERIFY_NOT_QMAIL;
	return rc;
}

/* Files the message as the stages decided. */
static enum qm_err record(struct qm_client *c, struct acct_conn *ac,
                          struct recv_ctx *ctx, struct filing *f,
                          struct qm_error *err)
{
	struct qm_store_msg m;
	struct qm_buf meta;
	char from[QM_STORE_ADDRMAX];
	int64_t id = 0;
	enum qm_err rc;

	if (f->fill_id && f->oc.verify == QM_VERIFY_NOT_QMAIL)
		return record_body(c, ac, ctx, f, err);
	qm_buf_init_secure(&meta, 1 << 20);
	rc = record_fill(ac, f, &m, from, sizeof(from), &meta, err);
	if (!rc)
		rc = record_store(c, f, &m, &id, err);
	if (!rc && id)
		rc = record_after(c, ac, ctx, f, id, err);
	qm_buf_free(&meta);
	return rc;
}

enum qm_err client_recv_file(struct qm_client *c, struct acct_conn *ac,
                             struct recv_ctx *ctx, const struct incoming *in,
                             struct qm_error *err)
{
	struct filing f;
	enum qm_err rc;

	memset(&f, 0, sizeof(f));
	f.in = in;
	ctx->last_id = in->replace_id;
	ctx->last_verify = in->replaced;
	ctx->last_wait = MSG_WAIT_NONE;
	ctx->last_reason[0] = '\0';
	ctx->body_refused = ctx->body_deferred = 0;
	rc = QM_OK;
	if (filed_already(c, ac, in))
		goto out;
	if (in->raw_blob) {
		rc = qm_store_blob_open(c->store, QM_STORE_BLOB_MSG, ac->a.id,
		                        in->raw_blob, &f.rawr, err);
		if (rc)
			goto out;
		f.rawsrc.read = blob_rd;
		f.rawsrc.seek = blob_seek;
		f.rawsrc.arg = f.rawr;
		f.rawsrc.len = qm_store_blob_size(f.rawr);
	}
	rc = classify(c, ac, ctx, &f, err);
	if (!rc && !f.done)
		rc = settle_waiting(c, ac, ctx, &f, err);
	if (!rc && !f.done)
		read_opened(c, ac, &f);
	if (!rc && !f.done)
		client_idhdr_learn(c, ac, f.mp, f.mc, &f.oc);
	if (!rc && !f.done)
		rc = keep_if_same(c, ac, ctx, &f, err);
	if (!rc && !f.done)
		rc = record(c, ac, ctx, &f, err);
	/* a large plaintext no message took (tampered after all, filed
	 * already, a failure): removed; undone anyway with a transaction
	 * rolled back */
	if (f.oc.plain_blob && !f.blob_taken)
		QM_IGNORE(
		    qm_store_blob_delete(c->store, f.oc.plain_blob, NULL));
out:
	qm_mail_content_free(&f.mc);
	qm_mail_parsed_free(&f.mp); /* reads the blob while it lives */
	client_recv_outcome_free(&f.oc);
	qm_store_blob_close(&f.rawr);
	/* the message as received, when no record took it: removed (best
	 * effort: the gc collects a message blob no message holds) */
	if (in->raw_blob && !f.raw_taken)
		QM_IGNORE(qm_store_blob_delete(c->store, in->raw_blob, NULL));
	return rc;
}

enum qm_err
client_recv_file_refused(struct qm_client *c, const struct acct_conn *ac,
                         const struct incoming *in, const struct qm_error *why,
                         struct qm_client_sync_stats *st, struct qm_error *err)
{
	struct qm_store_msg m;
	struct qm_error e;
	char reason[QM_ERR_MSGMAX], key[32];
	int64_t id;
	enum qm_err rc;

	qm_mail_limit_error(&ac->lim, "limit.message_size", ac->lim.max_size,
	                    &e, "refused without fetching it (%s)",
	                    qm_error_msg(why));
	qm_strlcpy(reason, qm_error_msg(&e), sizeof(reason));
	qm_error_clear(err); /* why may be err: the fetch error is handled */
	memset(&m, 0, sizeof(m));
	m.account_id = ac->a.id;
	m.folder = in->folder;
	m.uidvalidity = in->uidvalidity;
	m.uid = in->uid;
	m.uidl = in->uidl;
	m.from_addr = "";
	m.message_id = "";
	m.to_addrs = "";
	m.date = qm_now();
	m.verify = QM_VERIFY_REFUSED;
	rc = qm_store_msg_add(c->store, &m, reason, NULL, 0, NULL, 0, NULL, &id,
	                      err);
	if (rc == QM_ERR_EXISTS) {
		qm_error_clear(err);
		return QM_OK;
	}
	if (!rc)
		rc = place_at(c, in, id, err);
	if (rc)
		return rc;
	st->errors++;
	snprintf(key, sizeof(key), "reason.%lld", (long long)id);
	return qm_store_setting_set(c->store, ac->a.id, key, reason, err);
}

/* Whether header fields hdr show a QMail message, or one that might be:
 * an X-QKD- field or a multipart/encrypted body (any protocol). Wrong
 * only on the safe side: such a plain message is fetched whole. */
static int head_looks_qmail(const unsigned char *hdr, size_t len)
{
	static const char *const marks[] = {"x-qkd-", "multipart/encrypted",
	                                    QM_MAIL_PROTOCOL};

	for (size_t i = 0; i < len; i++)
		for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
			size_t ml = strlen(marks[k]);

			if (len - i >= ml && strncasecmp((const char *)hdr + i,
			                                 marks[k], ml) == 0)
				return 1;
		}
	return 0;
}

/* The index row of a header-only record from the parsed fields mp. */
static void head_fill(const struct acct_conn *ac, const struct incoming *in,
                      const struct qm_mail_parsed *mp, int64_t size,
                      int64_t date, struct qm_store_msg *m, char *from,
                      size_t fromlen, char *name, size_t namelen)
{
	memset(m, 0, sizeof(*m));
	m->account_id = ac->a.id;
	m->folder = in->folder;
	m->uidvalidity = in->uidvalidity;
	m->uid = in->uid;
	m->flags = in->flags & PLACE_FLAGS;
	m->from_addr =
	    client_addr_bare(mp->hdrs.from, from, fromlen, NULL) == QM_OK
	        ? from
	        : mp->hdrs.from;
	client_sender_name_of(mp->hdrs.from, m->from_addr, name, namelen);
	m->from_name = name;
	m->to_addrs = mp->hdrs.to;
	m->message_id = mp->hdrs.message_id;
	m->date = client_date_parse(mp->hdrs.date);
	if (!m->date)
		m->date = date ? date : qm_now();
	m->level = 0;
	m->verify = QM_VERIFY_NOT_QMAIL;
	m->size = size;
	m->body_pending = 1;
}

enum qm_err client_recv_file_head(struct qm_client *c, struct acct_conn *ac,
                                  struct recv_ctx *ctx,
                                  const struct incoming *in,
                                  const unsigned char *hdr, size_t hdrlen,
                                  int64_t size, int64_t date, int *whole,
                                  struct qm_error *err)
{
	struct qm_mail_parsed *mp = NULL;
	struct qm_store_msg m;
	struct incoming at = *in;
	char from[QM_STORE_ADDRMAX], name[QM_STORE_NAMEMAX];
	const char *subject;
	int64_t id = 0, first;
	int pending = 0;
	enum qm_err rc;

	*whole = 0;
	if (filed_already(c, ac, in))
		return QM_OK;
	if (!hdr || head_looks_qmail(hdr, hdrlen) ||
	    qm_mail_parse(hdr, hdrlen, &ac->lim, &mp, NULL) != QM_OK ||
	    mp->kind != QM_MAIL_KIND_PLAIN) {
		qm_mail_parsed_free(&mp);
		*whole = 1;
		return QM_OK;
	}
	/* the same message filed from another place: shown here too */
	at.rawlen = (size_t)size;
	first = plain_seen_before(c, ac, &at, mp, &pending);
	if (first) {
		qm_mail_parsed_free(&mp);
		return place_at(c, in, first, err);
	}
	head_fill(ac, in, mp, size, date, &m, from, sizeof(from), name,
	          sizeof(name));
	subject = mp->content && mp->content->subject ? mp->content->subject
	                                              : mp->subject;
	rc = qm_store_msg_add(c->store, &m, subject ? subject : "", NULL, 0,
	                      NULL, 0, NULL, &id, err);
	if (rc == QM_ERR_EXISTS) {
		qm_error_clear(err);
		rc = QM_OK;
		id = 0;
	}
	if (!rc && id)
		rc = place_at(c, in, id, err);
	if (!rc && id)
		ctx->st->headers_only++;
	qm_mail_parsed_free(&mp);
	return rc;
}
