/* SPDX-License-Identifier: MIT */
/*
 * The receive path: fetch new mail over IMAP or POP3 and process each
 * message. Plain mail goes to the vault as it is. A QMail message is
 * parsed, its routing headers are compared with the envelope's
 * authenticated copies (no downgrade), its key IDs are checked against the
 * replay log, the keys are fetched from this account's KME (levels 1 and 2)
 * or the sender's public identity is looked up (levels 3 and 4), and it is
 * opened. Only a message that passed every check reaches the vault; a
 * failed one is recorded with its reason and no plaintext. What the reader
 * will show of a message that opened is what was authenticated: the
 * outer header values bound into the envelope (the inner copies must name
 * the same addresses), the sender SAE checked against the SAE ID confirmed
 * for the From address (levels 1 and 2), the signing key (3 and 4); all of
 * it goes into the message's sealed security record (msgmeta.c).
 *
 * No message stops a sync (docs/CLIENT.md, "Receiving"): one that cannot
 * be opened now because of the account or its KME waits, kept as received
 * and sealed, and is opened by a later sync; a bad one is recorded
 * unreadable and is tried again only when the user asks. Opening one
 * message is in recv_open.c, asking the KME in recv_kme.c.
 */
#include "private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

/* Back-off of a message the KME failed for: first wait and cap. */
#define WAIT_FIRST_S 60
#define WAIT_MAX_S   (6 * 3600)

/* Turns an RFC 5322 date into Unix seconds (0 when it does not parse). */
static int64_t parse_date(const char *s)
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

/*
 * A digest of what makes a QMail message this message: the envelope and
 * every header value the receiver uses (the bound ones, level, sender SAE
 * and key IDs), as 64 hex digits. Two deliveries of one ciphertext (an SMTP
 * retry after a lost "250") have the same digest; a copy with anything
 * changed does not.
 */
static void copy_digest(const struct qm_mail_parsed *mp, char hex[65])
{
	unsigned char d[32];
	crypto_generichash_state h;
	const char *parts[6] = {mp->hdrs.from,       mp->hdrs.to,
	                        mp->hdrs.cc,         mp->hdrs.date,
	                        mp->hdrs.message_id, mp->sender_sae};
	char lvl[16];

	crypto_generichash_init(&h, NULL, 0, sizeof(d));
	crypto_generichash_update(&h, mp->envelope, mp->envelope_len);
	snprintf(lvl, sizeof(lvl), "%d", mp->level);
	crypto_generichash_update(&h, (const unsigned char *)lvl,
	                          strlen(lvl) + 1);
	for (size_t i = 0; i < 6; i++) {
		const char *v = parts[i] ? parts[i] : "";

		crypto_generichash_update(&h, (const unsigned char *)v,
		                          strlen(v) + 1);
	}
	for (size_t i = 0; i < mp->nkey_ids; i++)
		crypto_generichash_update(&h,
		                          (const unsigned char *)mp->key_ids[i],
		                          strlen(mp->key_ids[i]) + 1);
	crypto_generichash_final(&h, d, sizeof(d));
	sodium_bin2hex(hex, 65, d, sizeof(d));
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
                             const struct qm_mail_parsed *mp, int64_t skip,
                             int64_t *first)
{
	int64_t *ids = NULL;
	size_t n = 0;
	char want[65];
	enum seen s = SEEN_NO;

	if (!mp->hdrs.message_id[0] ||
	    qm_store_msg_find_all(c->store, ac->a.id, mp->hdrs.message_id, &ids,
	                          &n, NULL) != QM_OK)
		return SEEN_NO;
	copy_digest(mp, want);
	for (size_t i = 0; i < n && s == SEEN_NO; i++) {
		char key[40], have[80] = {0};

		if (ids[i] == skip)
			continue;
		snprintf(key, sizeof(key), "digest.%lld", (long long)ids[i]);
		acct_setting(c, ac->a.id, key, have, sizeof(have));
		if (strlen(have) == 64 &&
		    sodium_memcmp(have, want, sizeof(want)) == 0) {
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
	rc = msg_meta_encode(&mm, out, err);
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
		qm_store_setting_set(c->store, ac->a.id, key, oc->reason, NULL);
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
	default:
		st->errors++;
	}
}

/*
 * Files one message in the index (and its plaintext in the vault), or
 * brings its earlier record up to date (in->replace_id): a record whose
 * outcome changed is replaced in one transaction, one that stays (still
 * waiting, still unreadable) keeps its id. ctx->last_* tell what became of
 * it.
 */
static enum qm_err file_message(struct qm_client *c, struct acct_conn *ac,
                                struct recv_ctx *ctx, const struct incoming *in,
                                struct qm_error *err)
{
	struct qm_mail_parsed *mp = NULL;
	struct qm_mail_content *mc = NULL;
	struct recv_outcome oc;
	struct qm_store_msg m;
	struct qm_error e;
	struct qm_buf meta;
	const char *subject = "";
	const char *text = NULL;
	const void *body = NULL;
	size_t body_len = 0;
	char from[QM_STORE_ADDRMAX];
	int64_t id;
	int used;
	enum qm_err rc = QM_OK;

	memset(&oc, 0, sizeof(oc));
	memset(&m, 0, sizeof(m));
	qm_error_clear(&e);
	qm_buf_init_secure(&meta, 1 << 20);
	ctx->last_id = in->replace_id;
	ctx->last_verify = in->replaced;
	ctx->last_wait = MSG_WAIT_NONE;
	ctx->last_reason[0] = '\0';
	/* filed already, by an earlier sync whose bookkeeping of where it
	 * stopped could not be written (disk full): nothing to do twice */
	if (!in->replace_id &&
	    ((in->uidl && qm_store_msg_find_uidl(c->store, ac->a.id, in->uidl,
	                                         &id, NULL) == QM_OK) ||
	     (!in->uidl && in->uid &&
	      qm_store_msg_find_uid(c->store, ac->a.id, in->folder,
	                            in->uidvalidity, in->uid, &id,
	                            NULL) == QM_OK)))
		return QM_OK;
	if (qm_mail_parse(in->raw, in->rawlen, &ac->lim, &mp, &e) != QM_OK) {
		/* a message that claims to be QMail but is malformed; or one
		 * past the user's limits: refused (no key was asked for) */
		oc.verify = e.code == QM_ERR_TOOBIG ? QM_VERIFY_REFUSED
		                                    : QM_VERIFY_TAMPERED;
		oc.level = 0;
		snprintf(oc.reason, sizeof(oc.reason), "%s%s",
		         e.code == QM_ERR_TOOBIG ? "refused: " : "",
		         qm_error_msg(&e));
		m.from_addr = "";
		goto file;
	}
	if (mp->kind == QM_MAIL_KIND_PLAIN) {
		oc.verify = QM_VERIFY_NOT_QMAIL;
		body = in->raw;
		body_len = in->rawlen;
		mc = mp->content;
		mp->content = NULL;
	} else {
		int64_t first = 0;

		switch (seen_before(c, ac, mp, in->replace_id, &first)) {
		case SEEN_DUP:
			/* byte for byte one received already (the sender's SMTP
			 * retry after a lost "250", or an attacker delivering
			 * it again): the user has it; nothing is shown twice
			 * and nothing raises an alarm. A waiting copy of it
			 * goes. */
			ctx->st->duplicates++;
			if (in->replace_id)
				rc = qm_store_msg_delete(c->store,
				                         in->replace_id, err);
			ctx->last_id = first;
			goto out;
		case SEEN_REPLAY:
			oc.verify = QM_VERIFY_REPLAY;
			oc.level = mp->level;
			snprintf(oc.reason, sizeof(oc.reason),
			         "a QMail message with this Message-ID was "
			         "already received and opened (message %lld): "
			         "this one is a replay and was not decrypted",
			         (long long)first);
			break;
		default:
			rc = recv_open_qmail(c, ac, ctx, mp, &oc, err);
			if (rc)
				goto out;
		}
		if (oc.wait) {
			ctx->last_wait = oc.wait;
			qm_strlcpy(ctx->last_reason, oc.reason,
			           sizeof(ctx->last_reason));
			if (in->replace_id) {
				/* still waiting: its record stays, with the
				 * next try; one the user asked for again is
				 * left as it was */
				if (in->replaced == QM_VERIFY_WAITING)
					rc = record_update(c, ac,
					                   in->replace_id, mp,
					                   &oc, in->tries, err);
				goto out;
			}
			oc.verify = QM_VERIFY_WAITING;
			oc.keep_raw = 1;
		}
		if (oc.verify == QM_VERIFY_OK ||
		    oc.verify == QM_VERIFY_UNVERIFIED_SENDER) {
			body = oc.plain.data;
			body_len = oc.plain.len;
			if (qm_mail_content_parse(body, body_len, &ac->lim,
			                          &mc, &e) == QM_ERR_TOOBIG) {
				/* opened, its keys are spent: kept in the
				 * vault; reading it says which limit to raise
				 */
				snprintf(oc.reason, sizeof(oc.reason),
				         "decrypted and verified, but %s",
				         qm_error_msg(&e));
				subject = oc.reason; /* the list says why */
			} else if (!mc) {
				oc.verify = QM_VERIFY_TAMPERED;
				snprintf(oc.reason, sizeof(oc.reason),
				         "the decrypted message is not readable "
				         "MIME: %s",
				         qm_error_msg(&e));
			} else if (!recv_inner_agrees(&mp->hdrs, &mc->hdrs,
			                              oc.reason,
			                              sizeof(oc.reason))) {
				oc.verify = QM_VERIFY_TAMPERED;
				qm_mail_content_free(&mc);
			}
		}
		if (in->replace_id && oc.verify == in->replaced &&
		    oc.verify != QM_VERIFY_OK &&
		    oc.verify != QM_VERIFY_UNVERIFIED_SENDER) {
			/* tried again, and still the same: the record stays */
			ctx->last_verify = oc.verify;
			qm_strlcpy(ctx->last_reason, oc.reason,
			           sizeof(ctx->last_reason));
			rc = record_update(c, ac, in->replace_id, mp, &oc, 0,
			                   err);
			goto out;
		}
	}
	if (mc) {
		subject = mc->subject;
		text = mc->text;
		m.n_attach = (int)mc->natt;
	}
	m.from_addr = addr_bare(mp->hdrs.from, from, sizeof(from), NULL) == QM_OK
	                      ? from
	                      : mp->hdrs.from;
	m.to_addrs = mp->hdrs.to;
	m.message_id = mp->hdrs.message_id;
	m.date = parse_date(mp->hdrs.date);
	if (oc.verify != QM_VERIFY_NOT_QMAIL) {
		rc = meta_of(mp, &oc, in->tries, &meta, err);
		if (rc)
			goto out;
		m.meta = meta.data;
		m.meta_len = meta.len;
	}
file:
	m.account_id = ac->a.id;
	m.folder = in->folder;
	m.uidvalidity = in->uidvalidity;
	m.uid = in->uid;
	m.uidl = in->uidl;
	m.level = oc.level;
	m.verify = oc.verify;
	m.size = (int64_t)in->rawlen;
	if (!m.date)
		m.date = qm_now();
	if (oc.verify != QM_VERIFY_OK && oc.verify != QM_VERIFY_NOT_QMAIL &&
	    oc.verify != QM_VERIFY_UNVERIFIED_SENDER) {
		/* no plaintext at all; the reason stands in for the subject.
		 * A message that waits, or may open on a later try, is kept
		 * as received (sealed: the vault holds no plaintext of it) */
		subject = oc.reason;
		body = oc.keep_raw ? in->raw : NULL;
		body_len = oc.keep_raw ? in->rawlen : 0;
		text = oc.keep_raw ? "" : NULL;
	}
	if (in->replace_id) {
		rc = qm_store_tx_begin(c->store, err);
		if (rc)
			goto out;
		rc = qm_store_msg_delete(c->store, in->replace_id, err);
		if (rc) {
			qm_store_tx_rollback(c->store);
			goto out;
		}
	}
	/* the key IDs of a message whose keys were fetched are consumed;
	 * one that may be tried again (waiting, unreadable, no key) used
	 * none, and a replay is refused before any */
	used = oc.verify == QM_VERIFY_OK ||
	       oc.verify == QM_VERIFY_UNVERIFIED_SENDER ||
	       oc.verify == QM_VERIFY_TAMPERED;
	rc = qm_store_msg_add(c->store, &m, subject,
	                      used ? (const char *const *)oc.key_ids : NULL,
	                      used ? oc.nkey_ids : 0, body, body_len, text, &id,
	                      err);
	if (rc == QM_ERR_REPLAY) {
		/* raced with another copy: record as a replay, no plaintext */
		qm_error_clear(err);
		m.verify = oc.verify = QM_VERIFY_REPLAY;
		m.meta = NULL;
		rc = qm_store_msg_add(c->store, &m, "key ID reused", NULL, 0,
		                      NULL, 0, NULL, &id, err);
	}
	if (rc == QM_ERR_EXISTS) {
		qm_error_clear(err);
		rc = QM_OK;
		id = 0;
	}
	if (in->replace_id) {
		if (!rc)
			rc = qm_store_tx_commit(c->store, err);
		else
			qm_store_tx_rollback(c->store);
	}
	if (rc || !id)
		goto out;
	count(ctx, oc.verify);
	if (in->replaced == QM_VERIFY_WAITING)
		ctx->st->resumed++;
	ctx->last_id = id;
	ctx->last_verify = oc.verify;
	qm_strlcpy(ctx->last_reason, oc.reason, sizeof(ctx->last_reason));
	if (oc.verify != QM_VERIFY_NOT_QMAIL) {
		char key[32];

		snprintf(key, sizeof(key), "reason.%lld", (long long)id);
		qm_store_setting_set(c->store, ac->a.id, key, oc.reason, NULL);
		if (mp && oc.verify != QM_VERIFY_REPLAY) {
			char hex[65];

			/* what a later identical copy is recognised by */
			copy_digest(mp, hex);
			snprintf(key, sizeof(key), "digest.%lld", (long long)id);
			qm_store_setting_set(c->store, ac->a.id, key, hex,
			                     NULL);
		}
	}
out:
	qm_buf_free(&meta);
	qm_mail_content_free(&mc);
	qm_mail_parsed_free(&mp);
	recv_outcome_free(&oc);
	return rc;
}

/*
 * Records a message the server holds but that is larger than the user's
 * limit.message_size: not fetched, shown with the reason so that the user
 * can raise the limit (the message stays on the server).
 */
static enum qm_err file_refused(struct qm_client *c, struct acct_conn *ac,
                                const struct incoming *in,
                                const struct qm_error *why,
                                struct qm_client_sync_stats *st,
                                struct qm_error *err)
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
	if (rc)
		return rc;
	st->errors++;
	snprintf(key, sizeof(key), "reason.%lld", (long long)id);
	qm_store_setting_set(c->store, ac->a.id, key, reason, NULL);
	return QM_OK;
}

/* Files a message fetched from the server at where (a new one, or one
 * refused before: replace_id). */
static enum qm_err file_new(struct qm_client *c, struct acct_conn *ac,
                            struct recv_ctx *ctx, const struct incoming *where,
                            const struct qm_buf *raw, int64_t replace_id,
                            struct qm_error *err)
{
	struct incoming in = *where;

	in.raw = raw->data;
	in.rawlen = raw->len;
	in.replace_id = replace_id;
	in.replaced = replace_id ? QM_VERIFY_REFUSED : QM_VERIFY_OK;
	return file_message(c, ac, ctx, &in, err);
}

/*
 * Tries the account's waiting messages again from the copies kept: every
 * one due (all of them when force is set). Runs before new mail is
 * fetched, so that a KME still unusable is found out by one request.
 */
static enum qm_err retry_waiting(struct qm_client *c, struct acct_conn *ac,
                                 struct recv_ctx *ctx, struct qm_error *err)
{
	int64_t *ids = NULL, now = qm_now();
	size_t n = 0;
	struct qm_buf raw;
	enum qm_err rc;

	rc = qm_store_msg_ids_by_verify(c->store, ac->a.id, QM_VERIFY_WAITING,
	                                &ids, &n, err);
	if (rc)
		return rc;
	qm_buf_init_secure(&raw, QM_STORE_MAXBLOB);
	for (size_t i = 0; i < n && !rc; i++) {
		struct qm_store_msglist *l = NULL;
		struct msg_meta mm;
		struct incoming in;

		memset(&mm, 0, sizeof(mm));
		if (msg_meta_load(c, ids[i], &mm, NULL) == QM_OK &&
		    mm.next_at > now) {
			msg_meta_clear(&mm);
			continue; /* its back-off is not over */
		}
		qm_buf_reset(&raw);
		if (qm_store_msg_get(c->store, ids[i], &l, NULL) != QM_OK ||
		    !l->n ||
		    qm_store_msg_body(c->store, ids[i], &raw, NULL) != QM_OK) {
			qm_store_msglist_free(&l);
			msg_meta_clear(&mm);
			continue;
		}
		memset(&in, 0, sizeof(in));
		in.folder = l->items[0].folder;
		in.uidvalidity = l->items[0].uidvalidity;
		in.uid = l->items[0].uid;
		in.uidl = l->items[0].uidl;
		in.raw = raw.data;
		in.rawlen = raw.len;
		in.replace_id = ids[i];
		in.replaced = QM_VERIFY_WAITING;
		in.tries = mm.tries;
		rc = file_message(c, ac, ctx, &in, err);
		qm_store_msglist_free(&l);
		msg_meta_clear(&mm);
	}
	qm_buf_free(&raw);
	free(ids);
	return rc;
}

/* How many messages of the account wait, into st->waiting. */
static void count_waiting(struct qm_client *c, int64_t account_id,
                          struct qm_client_sync_stats *st)
{
	int64_t *ids = NULL;
	size_t n = 0;

	if (qm_store_msg_ids_by_verify(c->store, account_id, QM_VERIFY_WAITING,
	                               &ids, &n, NULL) == QM_OK)
		st->waiting = n;
	free(ids);
}

enum qm_err qm_client_msg_retry(struct qm_client *c, int64_t id,
                                int64_t *new_id, enum qm_store_verify *verify,
                                struct qm_error *err)
{
	struct qm_store_msglist *l = NULL;
	struct qm_client_sync_stats st;
	struct recv_ctx ctx;
	struct acct_conn ac;
	struct incoming in;
	struct qm_buf raw;
	char lockname[64];
	int lockfd = -1, loaded = 0;
	enum qm_err rc;

	memset(&ac, 0, sizeof(ac));
	qm_buf_init_secure(&raw, QM_STORE_MAXBLOB);
	if (!qm_client_unlocked(c))
		return qm_error_set(
		    err, QM_ERR_LOCKED,
		    "unlock QMail first: the message is kept in "
		    "the vault");
	rc = qm_store_msg_get(c->store, id, &l, err);
	if (!rc && !l->n)
		rc = qm_error_set(err, QM_ERR_NOTFOUND, "no message %lld",
		                  (long long)id);
	if (rc)
		goto out;
	if (l->items[0].verify != QM_VERIFY_UNREADABLE &&
	    l->items[0].verify != QM_VERIFY_UNKNOWN_KEY &&
	    l->items[0].verify != QM_VERIFY_WAITING) {
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "message %lld is not waiting, unreadable or "
		                  "without key: there is nothing to try again",
		                  (long long)id);
		goto out;
	}
	rc = qm_store_msg_body(c->store, id, &raw, err);
	if (rc == QM_ERR_NOTFOUND)
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "message %lld was received before QMail kept "
		                  "a copy of such messages, so it cannot be "
		                  "tried again",
		                  (long long)id);
	if (rc)
		goto out;
	/* one sync of an account at a time: two would ask the KME for the
	 * same keys */
	snprintf(lockname, sizeof(lockname), "sync-%lld.lock",
	         (long long)l->items[0].account_id);
	rc = home_lock(c, lockname, 600, "try a message again", &lockfd, err);
	if (!rc)
		rc = acct_conn_load(c, l->items[0].account_id, &ac, err);
	if (rc)
		goto out;
	loaded = 1;
	memset(&st, 0, sizeof(st));
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = &st;
	memset(&in, 0, sizeof(in));
	in.folder = l->items[0].folder;
	in.uidvalidity = l->items[0].uidvalidity;
	in.uid = l->items[0].uid;
	in.uidl = l->items[0].uidl;
	in.raw = raw.data;
	in.rawlen = raw.len;
	in.replace_id = id;
	in.replaced = l->items[0].verify;
	rc = file_message(c, &ac, &ctx, &in, err);
	if (rc)
		goto out;
	if (ctx.last_wait) {
		/* the KME's own code (network, TLS, ...), never one that
		 * would read as a problem of the message or the call */
		rc = qm_error_set(
		    err,
		    st.kme_code && st.kme_code != QM_ERR_STATE ? st.kme_code
		                                               : QM_ERR_UNAVAIL,
		    "message %lld stays as it was, its keys "
		    "could not be asked for now: %s",
		    (long long)id,
		    st.kme_problem[0] ? st.kme_problem : ctx.last_reason);
		goto out;
	}
	if (new_id)
		*new_id = ctx.last_id;
	if (verify)
		*verify = ctx.last_verify;
out:
	if (loaded)
		acct_conn_free(&ac);
	home_unlock(&lockfd);
	qm_store_msglist_free(&l);
	qm_buf_free(&raw);
	return rc;
}

/* A message refused for one of the user's limits, to fetch again. */
struct refetch {
	int64_t id; /* its record */
	struct mbox_msg m;
};

/*
 * The messages of this account refused for a limit and filed from mb that
 * the server still lists, when the user changed a limit (limits.generation,
 * bumped by qm_client_limit_set) since this account last looked; the
 * records of those the server no longer lists go. *gen gets the generation
 * to record once they were tried.
 */
static enum qm_err refetch_list(struct qm_client *c, struct acct_conn *ac,
                                struct mbox *mb, struct refetch **out,
                                size_t *n, int64_t *gen, struct qm_error *err)
{
	int64_t *ids = NULL;
	size_t nids = 0, k = 0;
	struct refetch *r = NULL;
	enum qm_err rc;

	*out = NULL;
	*n = 0;
	*gen = setting_int(c, 0, QM_SET_LIMITS_GEN);
	if (*gen <= setting_int(c, ac->a.id, QM_SET_REFUSED_GEN))
		return QM_OK;
	rc = qm_store_msg_ids_by_verify(c->store, ac->a.id, QM_VERIFY_REFUSED,
	                                &ids, &nids, err);
	if (rc)
		return rc;
	r = calloc(nids ? nids : 1, sizeof(*r));
	if (!r) {
		free(ids);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < nids && !rc; i++) {
		struct qm_store_msglist *l = NULL;

		if (qm_store_msg_get(c->store, ids[i], &l, NULL) != QM_OK)
			continue;
		if (l->n && mbox_holds(mb, &l->items[0])) {
			if (mbox_find(mb, &l->items[0], &r[k].m) == QM_OK)
				r[k++].id = ids[i];
			else /* gone from the server meanwhile */
				rc = qm_store_msg_delete(c->store, ids[i], err);
		}
		qm_store_msglist_free(&l);
	}
	free(ids);
	*out = r;
	*n = k;
	return rc;
}

/*
 * Fetches again, once after a limit changed, the messages of mb refused
 * for a limit (still on the server). One still past limit.message_size
 * ends the session: it is opened again, and the others wait for the next
 * change.
 */
static enum qm_err refetch_refused(struct qm_client *c, struct acct_conn *ac,
                                   struct mbox *mb, struct qm_buf *raw,
                                   struct recv_ctx *ctx, struct qm_error *err)
{
	struct refetch *r = NULL;
	size_t n = 0;
	int64_t gen;
	int dropped = 0;
	enum qm_err rc;

	rc = refetch_list(c, ac, mb, &r, &n, &gen, err);
	for (size_t i = 0; i < n && !rc; i++) {
		struct incoming in;

		rc = mbox_fetch(mb, &r[i].m, raw, err);
		if (rc == QM_ERR_NOTFOUND) {
			/* gone from the server meanwhile: nothing to show */
			qm_error_clear(err);
			rc = qm_store_msg_delete(c->store, r[i].id, err);
			continue;
		}
		if (rc == QM_ERR_TOOBIG) {
			qm_error_clear(err);
			rc = QM_OK;
			dropped = 1;
			break;
		}
		if (rc)
			break;
		ctx->st->fetched++;
		mbox_where(mb, &r[i].m, &in);
		rc = file_new(c, ac, ctx, &in, raw, r[i].id, err);
		if (!rc)
			mbox_settle(mb, &r[i].m);
	}
	if (!rc && gen)
		setting_put_int(c, ac->a.id, QM_SET_REFUSED_GEN, gen);
	free(r);
	if (!rc && dropped)
		rc = mbox_reopen(mb, err);
	return rc;
}

/*
 * Fetches and files what mb holds that was not filed before, in order.
 * Whatever becomes of a message (filed, waiting, unreadable), the sync goes
 * on past it; one past limit.message_size is recorded as refused, not
 * fetched again, and ends the sync (the server dropped the session).
 */
static enum qm_err fetch_new(struct qm_client *c, struct acct_conn *ac,
                             struct mbox *mb, qm_client_progress_fn progress,
                             void *parg, struct qm_buf *raw,
                             struct recv_ctx *ctx, struct qm_error *err)
{
	struct mbox_msg *ms = NULL;
	size_t n = 0;
	enum qm_err rc;

	rc = mbox_list_new(mb, &ms, &n, err);
	for (size_t i = 0; i < n && !rc; i++) {
		struct incoming in;

		if (progress)
			progress(parg, "fetching", i, n);
		mbox_where(mb, &ms[i], &in);
		rc = mbox_fetch(mb, &ms[i], raw, err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
			continue;
		}
		if (rc == QM_ERR_TOOBIG) {
			rc = file_refused(c, ac, &in, err, ctx->st, err);
			if (!rc)
				mbox_seen(mb, &ms[i]);
			break;
		}
		if (rc)
			break;
		ctx->st->fetched++;
		rc = file_new(c, ac, ctx, &in, raw, 0, err);
		if (rc)
			break;
		mbox_seen(mb, &ms[i]);
		mbox_settle(mb, &ms[i]);
	}
	if (progress && !rc)
		progress(parg, "fetching", n, n);
	free(ms);
	return rc;
}

/* New mail of folder: after the user changed a limit, what was refused for
 * one first, then what is new. */
static enum qm_err sync_folder(struct qm_client *c, struct acct_conn *ac,
                               const char *folder,
                               qm_client_progress_fn progress, void *parg,
                               struct recv_ctx *ctx, struct qm_error *err)
{
	struct mbox *mb = NULL;
	struct qm_buf raw;
	enum qm_err rc;

	qm_buf_init(&raw,
	            ac->lim.max_size ? ac->lim.max_size : QM_CLIENT_MAXMSG);
	rc = mbox_open(c, ac, folder, &mb, err);
	if (!rc)
		rc = refetch_refused(c, ac, mb, &raw, ctx, err);
	if (!rc)
		rc = fetch_new(c, ac, mb, progress, parg, &raw, ctx, err);
	mbox_free(&mb);
	qm_buf_free(&raw);
	return rc;
}
enum qm_err qm_client_sync(struct qm_client *c, int64_t account_id,
                           qm_client_progress_fn progress, void *parg,
                           struct qm_client_sync_stats *st,
                           struct qm_error *err)
{
	struct acct_conn ac;
	struct recv_ctx ctx;
	enum qm_err rc;
	int lockfd = -1;
	char lockname[64];

	memset(st, 0, sizeof(*st));
	memset(&ctx, 0, sizeof(ctx));
	ctx.st = st;
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED,
		                    "unlock QMail first: new mail goes into the "
		                    "vault");
	/* one sync of an account at a time, across processes (the GUI's
	 * background sync and `qmail sync`): two syncs of one message would
	 * both ask the KME for its keys, and the loser would record it as
	 * unreadable */
	snprintf(lockname, sizeof(lockname), "sync-%lld.lock",
	         (long long)account_id);
	rc = home_lock(c, lockname, 600, "sync this account", &lockfd, err);
	if (rc)
		return rc;
	rc = acct_conn_load(c, account_id, &ac, err);
	if (rc) {
		home_unlock(&lockfd);
		return rc;
	}
	/* first what waits from earlier syncs (from the copies kept: no
	 * mail server needed), then new mail */
	rc = retry_waiting(c, &ac, &ctx, err);
	if (!rc)
		rc = sync_folder(c, &ac, "INBOX", progress, parg, &ctx, err);
	count_waiting(c, account_id, st);
	acct_conn_free(&ac);
	home_unlock(&lockfd);
	return rc;
}

struct qm_client_watch {
	struct acct_conn ac;
	struct qm_mail_server srv;
	struct qm_mail_imap *im; /* NULL until the first wait */
	uint32_t uidvalidity, lastuid; /* of the last sync, at open */
	int wake_fd;
};

void qm_client_watch_free(struct qm_client_watch **pw)
{
	struct qm_client_watch *w;

	if (!pw || !*pw)
		return;
	w = *pw;
	qm_mail_imap_free(&w->im);
	acct_conn_free(&w->ac);
	free(w);
	*pw = NULL;
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
	rc = acct_conn_load(c, account_id, &w->ac, err);
	if (rc) {
		free(w);
		return rc;
	}
	if (w->ac.use_pop3 || !w->ac.a.imap.host[0]) {
		rc = qm_error_set(err, QM_ERR_UNSUPPORTED,
		                  "%s fetches mail over POP3, which cannot tell "
		                  "when new mail arrives: sync now and then",
		                  w->ac.a.address);
		qm_client_watch_free(&w);
		return rc;
	}
	acct_conn_server(&w->ac, &w->ac.a.imap, &w->srv);
	mbox_state_key(kv, sizeof(kv), "uidvalidity", "INBOX");
	mbox_state_key(kl, sizeof(kl), "lastuid", "INBOX");
	w->uidvalidity = (uint32_t)setting_int(c, account_id, kv);
	w->lastuid = (uint32_t)setting_int(c, account_id, kl);
	w->wake_fd = wake_fd;
	*out = w;
	return QM_OK;
}

enum qm_err qm_client_watch_wait(struct qm_client_watch *w, long timeout_ms,
                                 int *news, int *woken, struct qm_error *err)
{
	enum qm_err rc;

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
			rc = qm_mail_imap_select(w->im, "INBOX", &ist, err);
		/* mail that came after the last sync but before this wait
		 * began would not wake IDLE: look for it first */
		if (!rc)
			rc = qm_mail_imap_new_uids(w->im, w->uidvalidity,
			                           w->lastuid, &uids, &n, &resync,
			                           err);
		free(uids);
		if (rc) {
			qm_mail_imap_free(&w->im);
			return rc;
		}
		qm_mail_imap_set_wake(w->im, w->wake_fd);
		if (n || resync) {
			*news = 1;
			return QM_OK;
		}
	}
	rc = qm_mail_imap_wait(w->im, timeout_ms, 30000, news, err);
	if (!rc && woken)
		*woken = qm_mail_imap_woken(w->im);
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
