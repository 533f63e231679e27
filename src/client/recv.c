/* SPDX-License-Identifier: MIT */
/*
 * The receive path: fetch new mail over IMAP or POP3 and process each
 * message. Plain mail goes to the vault as it is. A QMail message is
 * parsed, its routing headers are compared with the envelope's
 * authenticated copies (no downgrade), its key IDs are checked against the
 * replay log, the keys are fetched from this account's KME (levels 1 and 2)
 * or the sender's public identity is looked up (levels 3 and 4), and it is
 * opened. Only a message that passed every check reaches the vault; a
 * failed one is recorded with its reason and no plaintext.
 */
#include "private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

/* The outcome of processing one fetched message. */
struct outcome {
	enum qm_store_verify verify;
	int level;
	char reason[QM_ERR_MSGMAX];
	struct qm_buf plain; /* secure: the readable MIME message */
	char **key_ids;
	size_t nkey_ids;
	int wait; /* keys could not be fetched now: try next sync */
};

static void outcome_free(struct outcome *oc)
{
	qm_buf_free(&oc->plain);
	for (size_t i = 0; i < oc->nkey_ids; i++)
		free(oc->key_ids[i]);
	free(oc->key_ids);
	oc->key_ids = NULL;
	oc->nkey_ids = 0;
}

/* Copies the IDs of one slot into oc. */
static enum qm_err take_ids(struct outcome *oc, const struct qm_env *env,
                            size_t slot, struct qm_error *err)
{
	size_t n = qm_env_slot_key_count(env, slot);

	oc->key_ids = calloc(n ? n : 1, sizeof(char *));
	if (!oc->key_ids)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		oc->key_ids[i] = strdup(qm_env_slot_key_id(env, slot, i));
		if (!oc->key_ids[i])
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		oc->nkey_ids = i + 1;
	}
	return QM_OK;
}

/* Drops the key IDs of a refused message: none of them was used. */
static void outcome_ids_drop(struct outcome *oc)
{
	for (size_t i = 0; i < oc->nkey_ids; i++)
		free(oc->key_ids[i]);
	free(oc->key_ids);
	oc->key_ids = NULL;
	oc->nkey_ids = 0;
}

/* True (and why, naming limit.key_ids) when the envelope uses more key IDs
 * in all than the user's limit allows. */
static int key_ids_over(const struct qm_env *env,
                        const struct qm_mail_limits *lim, char *why,
                        size_t whylen)
{
	size_t total = 0, max = lim->max_key_ids ? lim->max_key_ids
	                                         : QM_MAIL_DEF_MAXKEYIDS;
	struct qm_error e;

	for (size_t s = 0; s < qm_env_slot_count(env); s++)
		total += qm_env_slot_key_count(env, s);
	if (total <= max)
		return 0;
	qm_mail_limit_error(lim, "limit.key_ids", max, &e,
	                    "the message uses %zu key IDs", total);
	snprintf(why, whylen, "refused before asking the KME: %s",
	         qm_error_msg(&e));
	return 1;
}

/*
 * The routing copies in the X-QKD headers must agree with the envelope:
 * the level, the sender SAE ID, and the key IDs the header lists (the first
 * IDs of the slots in order, and their total count).
 */
static int headers_agree(const struct qm_mail_parsed *mp,
                         const struct qm_env *env, char *why, size_t whylen)
{
	size_t total = 0, k = 0;

	if (mp->level != qm_env_level(env)) {
		snprintf(why, whylen,
		         "the X-QKD-Security-Level header says %d but the "
		         "authenticated envelope says %d (downgrade attempt?)",
		         mp->level, qm_env_level(env));
		return 0;
	}
	if (qm_env_level(env) > 2)
		return 1;
	if (strcmp(mp->sender_sae, qm_env_sender_sae(env)) != 0) {
		snprintf(why, whylen,
		         "the X-QKD-Sender-SAE header does not match the "
		         "envelope");
		return 0;
	}
	for (size_t s = 0; s < qm_env_slot_count(env); s++)
		for (size_t i = 0; i < qm_env_slot_key_count(env, s); i++) {
			if (k < mp->nkey_ids &&
			    strcmp(mp->key_ids[k],
			           qm_env_slot_key_id(env, s, i)) != 0) {
				snprintf(why, whylen,
				         "the X-QKD-KeyID header lists other "
				         "key IDs than the envelope");
				return 0;
			}
			k++;
			total++;
		}
	if (mp->nkey_ids > total ||
	    (mp->key_id_count && mp->key_id_count != total)) {
		snprintf(why, whylen,
		         "the X-QKD-KeyID header counts other key IDs than the "
		         "envelope");
		return 0;
	}
	return 1;
}

/* Processes one QMail message into oc. A non-zero return is an error that
 * stops the sync (the message is fetched again next time). */
static enum qm_err open_qmail(struct qm_client *c, struct acct_conn *ac,
                              const struct qm_mail_parsed *mp,
                              struct outcome *oc, struct qm_error *err)
{
	struct qm_env *env = NULL;
	struct qm_kms *kms = NULL;
	struct qm_kms_keys *ks = NULL;
	struct qm_identity *self = NULL;
	struct qm_pubid *sender = NULL;
	struct qm_qkey *qk = NULL;
	struct qm_bound b;
	struct bound_store bs = {0};
	struct qm_open_params op;
	struct qm_error e;
	char from[QM_STORE_ADDRMAX], fpr[QM_FPR_TEXTLEN];
	size_t slot = 0;
	enum qm_err rc = QM_OK;

	qm_error_clear(&e);
	oc->level = mp->level;
	if (qm_env_parse(mp->envelope, mp->envelope_len, &env, &e)) {
		oc->verify = QM_VERIFY_TAMPERED;
		snprintf(oc->reason, sizeof(oc->reason),
		         "the encrypted envelope is damaged: %s",
		         qm_error_msg(&e));
		goto out;
	}
	oc->level = qm_env_level(env);
	if (!headers_agree(mp, env, oc->reason, sizeof(oc->reason))) {
		oc->verify = QM_VERIFY_TAMPERED;
		goto out;
	}
	memset(&op, 0, sizeof(op));
	if (oc->level <= 2) {
		if (qm_env_slot_find(env, ac->a.sae_id, &slot, &e)) {
			oc->verify = QM_VERIFY_TAMPERED;
			snprintf(oc->reason, sizeof(oc->reason),
			         "the message holds no key for this account's "
			         "SAE %s",
			         ac->a.sae_id);
			goto out;
		}
		rc = take_ids(oc, env, slot, err);
		if (rc)
			goto out;
		if (key_ids_over(env, &ac->lim, oc->reason,
		                 sizeof(oc->reason))) {
			/* nobody asked the KME for anything: refused */
			oc->verify = QM_VERIFY_REFUSED;
			outcome_ids_drop(oc);
			goto out;
		}
		for (size_t i = 0; i < oc->nkey_ids; i++) {
			if (qm_store_replay_check(c->store, ac->a.id, QM_DIR_IN,
			                          oc->key_ids[i],
			                          NULL) == QM_ERR_REPLAY) {
				oc->verify = QM_VERIFY_REPLAY;
				snprintf(oc->reason, sizeof(oc->reason),
				         "key ID %s was already used by another "
				         "message: this one is a replay and was "
				         "not decrypted",
				         oc->key_ids[i]);
				goto out;
			}
		}
		/* the KME forgets keys once it hands them out: make sure the
		 * plaintext can be stored before asking (the vault keeps about
		 * as many bytes as the envelope, written twice by the WAL) */
		rc = home_space_check(c, (uint64_t)mp->envelope_len * 2 +
		                              (4u << 20),
		                      "fetch the keys of a new message (it "
		                      "stays on the server)",
		                      err);
		if (rc)
			goto out;
		rc = acct_kms_new(ac, &kms, err);
		if (!rc)
			rc = qm_kms_material_by_ids(
				kms, qm_env_sender_sae(env),
				(const char *const *)oc->key_ids, oc->nkey_ids,
				&ks, &e);
		if (rc == QM_OK && !ks)
			rc = QM_ERR_STATE;
		if (rc == QM_ERR_NOTFOUND || rc == QM_ERR_DENIED) {
			/* the keys are gone for good: nobody can read it */
			oc->verify = QM_VERIFY_UNKNOWN_KEY;
			snprintf(oc->reason, sizeof(oc->reason),
			         "the KME does not have the keys of this message "
			         "(already fetched, expired, or not addressed to "
			         "this SAE): %s",
			         qm_error_msg(&e));
			rc = QM_OK;
			goto out;
		}
		if (rc) {
			/* the KME could not be asked now: try again later */
			oc->wait = 1;
			if (err)
				*err = e;
			qm_error_prefix(err, "the keys of a new message could "
			                     "not be fetched (it is fetched "
			                     "again at the next sync): ");
			goto out;
		}
		qk = calloc(oc->nkey_ids ? oc->nkey_ids : 1, sizeof(*qk));
		if (!qk) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < oc->nkey_ids; i++) {
			qk[i].key_id = qm_kms_keys_id(ks, i);
			qk[i].key = qm_kms_keys_key(ks, i, &qk[i].len);
		}
		op.keys = qk;
		op.nkeys = oc->nkey_ids;
	} else {
		unsigned char want[QM_FPR_BYTES], have[QM_FPR_BYTES];
		const unsigned char *efpr = qm_env_sender_fpr(env);
		enum qm_store_trust t = QM_TRUST_UNVERIFIED;

		rc = own_identity(c, ac->a.id, &self, err);
		if (rc)
			goto out;
		if (addr_bare(mp->hdrs.from, from, sizeof(from), &e) ||
		    contact_pubid(c, from, &sender, &t, &e)) {
			oc->verify = QM_VERIFY_UNKNOWN_KEY;
			snprintf(oc->reason, sizeof(oc->reason),
			         "the sender's public key is not known, so the "
			         "signature cannot be checked: %s",
			         qm_error_msg(&e));
			goto out;
		}
		qm_pubid_fingerprint(sender, have);
		if (efpr)
			memcpy(want, efpr, sizeof(want));
		if (!efpr || qm_ct_eq(want, have, sizeof(want)) != 0) {
			oc->verify = QM_VERIFY_UNKNOWN_KEY;
			qm_fpr_text(efpr ? want : have, fpr);
			snprintf(oc->reason, sizeof(oc->reason),
			         "signed with key %s, which is not the key known "
			         "for %s",
			         fpr, from);
			goto out;
		}
		{
			/* our slot is labelled with our key's fingerprint */
			unsigned char mine[QM_FPR_BYTES];
			struct qm_pubid *me = NULL;

			rc = qm_identity_public(self, &me, err);
			if (rc)
				goto out;
			qm_pubid_fingerprint(me, mine);
			qm_fpr_text(mine, fpr);
			qm_pubid_free(&me);
			if (qm_env_slot_find(env, fpr, &slot, &e) != QM_OK) {
				oc->verify = QM_VERIFY_TAMPERED;
				snprintf(oc->reason, sizeof(oc->reason),
				         "the message was not encrypted for this "
				         "account's key");
				goto out;
			}
		}
		op.self = self;
		op.sender = sender;
	}
	rc = bound_make(&mp->hdrs, oc->level <= 2 ? mp->sender_sae : NULL, &b,
	                &bs, err);
	if (rc)
		goto out;
	op.bound = &b;
	op.slot = slot;
	qm_buf_init_secure(&oc->plain, ac->lim.max_size ? ac->lim.max_size
	                                                : QM_CLIENT_MAXMSG);
	if (qm_env_open(env, &op, &oc->plain, &e) != QM_OK) {
		qm_buf_free(&oc->plain);
		oc->verify = QM_VERIFY_TAMPERED;
		snprintf(oc->reason, sizeof(oc->reason),
		         "the message failed its integrity check and is not "
		         "shown: %s",
		         qm_error_msg(&e));
		goto out;
	}
	oc->verify = QM_VERIFY_OK;
	snprintf(oc->reason, sizeof(oc->reason), "decrypted and verified at "
	         "level %d (%s)", oc->level, qm_client_level_name(oc->level));
out:
	if (oc->level == 1 || oc->level == 2) {
		/* a QMail sender SAE ID is learned once, confirmed by the user */
		struct qm_store_contact ct;

		if (oc->verify == QM_VERIFY_OK &&
		    addr_bare(mp->hdrs.from, from, sizeof(from), NULL) == QM_OK &&
		    qm_store_contact_get(c->store, ac->a.id, from, &ct, NULL) ==
		            QM_ERR_NOTFOUND) {
			memset(&ct, 0, sizeof(ct));
			qm_strlcpy(ct.address, from, sizeof(ct.address));
			qm_strlcpy(ct.sae_id, mp->sender_sae, sizeof(ct.sae_id));
			ct.source = QM_CONTACT_LEARNED;
			qm_store_contact_put(c->store, ac->a.id, &ct, NULL);
		}
	}
	free(qk);
	qm_kms_keys_free(&ks);
	qm_kms_free(&kms);
	qm_identity_free(&self);
	qm_pubid_free(&sender);
	bound_store_free(&bs);
	qm_env_free(&env);
	return rc;
}

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

/* Files one fetched message in the index (and its plaintext in the vault).
 * replace_id > 0: the message was refused before (that record), and is
 * filed again now that a limit was raised: the old record goes in the same
 * transaction as the new one comes. */
static enum qm_err file_message(struct qm_client *c, struct acct_conn *ac,
                                const char *folder, int64_t uidvalidity,
                                int64_t uid, const char *uidl,
                                const void *raw, size_t rawlen,
                                int64_t replace_id,
                                struct qm_client_sync_stats *st,
                                struct qm_error *err)
{
	struct qm_mail_parsed *mp = NULL;
	struct qm_mail_content *mc = NULL;
	struct outcome oc;
	struct qm_store_msg m;
	struct qm_error e;
	const char *subject = "";
	const char *text = NULL;
	const void *body = NULL;
	size_t body_len = 0;
	char from[QM_STORE_ADDRMAX];
	int64_t id;
	enum qm_err rc = QM_OK;

	memset(&oc, 0, sizeof(oc));
	memset(&m, 0, sizeof(m));
	qm_error_clear(&e);
	/* filed already, by an earlier sync whose bookkeeping of where it
	 * stopped could not be written (disk full): nothing to do twice */
	if (!replace_id &&
	    ((uidl && qm_store_msg_find_uidl(c->store, ac->a.id, uidl, &id,
	                                     NULL) == QM_OK) ||
	     (!uidl && uid &&
	      qm_store_msg_find_uid(c->store, ac->a.id, folder, uidvalidity,
	                            uid, &id, NULL) == QM_OK)))
		return QM_OK;
	if (qm_mail_parse(raw, rawlen, &ac->lim, &mp, &e) != QM_OK) {
		/* a message that claims to be QMail but is malformed; or one
		 * past the user's limits: refused (no key was asked for) */
		oc.verify = e.code == QM_ERR_TOOBIG ? QM_VERIFY_REFUSED
		                                    : QM_VERIFY_TAMPERED;
		oc.level = 0;
		snprintf(oc.reason, sizeof(oc.reason), "%s%s",
		         e.code == QM_ERR_TOOBIG ? "refused: " : "",
		         qm_error_msg(&e));
		if (e.code == QM_ERR_TOOBIG)
			st->errors++;
		else
			st->tampered++;
		m.from_addr = "";
		goto file;
	}
	if (mp->kind == QM_MAIL_KIND_PLAIN) {
		oc.verify = QM_VERIFY_NOT_QMAIL;
		body = raw;
		body_len = rawlen;
		mc = mp->content;
		mp->content = NULL;
		st->plain++;
	} else if (mp->hdrs.message_id[0] &&
	           qm_store_msg_find(c->store, ac->a.id, mp->hdrs.message_id,
	                             &id, NULL) == QM_OK &&
	           id != replace_id) {
		/* the Message-ID is bound into the envelope: a second message
		 * carrying it is a copy of one already received. Byte for
		 * byte the same (the sender's SMTP retry after a lost "250",
		 * or an attacker re-delivering it): the user has it already;
		 * nothing is shown twice and nothing raises an alarm. Any
		 * other copy is a replay. */
		char key[40], want[65], have[80] = {0};

		snprintf(key, sizeof(key), "digest.%lld", (long long)id);
		acct_setting(c, ac->a.id, key, have, sizeof(have));
		copy_digest(mp, want);
		if (strlen(have) == 64 &&
		    sodium_memcmp(have, want, sizeof(want)) == 0) {
			st->duplicates++;
			goto out;
		}
		oc.verify = QM_VERIFY_REPLAY;
		oc.level = mp->level;
		snprintf(oc.reason, sizeof(oc.reason),
		         "a message with this Message-ID was already received "
		         "(message %lld): this copy is a replay and was not "
		         "decrypted",
		         (long long)id);
		st->replayed++;
	} else {
		rc = open_qmail(c, ac, mp, &oc, err);
		if (rc || oc.wait) {
			st->waiting += oc.wait;
			if (!rc)
				rc = QM_ERR_UNAVAIL;
			goto out;
		}
		if (oc.verify == QM_VERIFY_OK) {
			body = oc.plain.data;
			body_len = oc.plain.len;
			if (qm_mail_content_parse(body, body_len, &ac->lim,
			                          &mc, &e) == QM_ERR_TOOBIG) {
				/* verified, its keys are spent: kept in the
				 * vault; reading it says which limit to raise */
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
				body = NULL;
				body_len = 0;
			}
		}
		if (oc.verify == QM_VERIFY_OK)
			st->decrypted++;
		else if (oc.verify == QM_VERIFY_REPLAY)
			st->replayed++;
		else if (oc.verify == QM_VERIFY_TAMPERED)
			st->tampered++;
		else
			st->errors++;
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
file:
	m.account_id = ac->a.id;
	m.folder = folder;
	m.uidvalidity = uidvalidity;
	m.uid = uid;
	m.uidl = uidl;
	m.level = oc.level;
	m.verify = oc.verify;
	m.size = (int64_t)rawlen;
	if (!m.date)
		m.date = qm_now();
	if (oc.verify != QM_VERIFY_OK && oc.verify != QM_VERIFY_NOT_QMAIL) {
		/* no plaintext at all; the reason stands in for the subject */
		subject = oc.reason;
		body = NULL;
		body_len = 0;
		text = NULL;
	}
	if (replace_id) {
		rc = qm_store_tx_begin(c->store, err);
		if (rc)
			goto out;
		rc = qm_store_msg_delete(c->store, replace_id, err);
		if (rc) {
			qm_store_tx_rollback(c->store);
			goto out;
		}
	}
	rc = qm_store_msg_add(c->store, &m, subject,
	                      oc.verify == QM_VERIFY_REPLAY
	                              ? NULL
	                              : (const char *const *)oc.key_ids,
	                      oc.verify == QM_VERIFY_REPLAY ? 0 : oc.nkey_ids,
	                      body, body_len, text, &id, err);
	if (rc == QM_ERR_REPLAY) {
		/* raced with another copy: record as a replay, no plaintext */
		qm_error_clear(err);
		m.verify = QM_VERIFY_REPLAY;
		st->replayed++;
		st->decrypted--;
		rc = qm_store_msg_add(c->store, &m, "key ID reused", NULL, 0,
		                      NULL, 0, NULL, &id, err);
	}
	if (rc == QM_ERR_EXISTS) {
		qm_error_clear(err);
		rc = QM_OK;
	}
	if (replace_id) {
		if (!rc)
			rc = qm_store_tx_commit(c->store, err);
		else
			qm_store_tx_rollback(c->store);
	}
	if (!rc && oc.verify != QM_VERIFY_NOT_QMAIL) {
		char key[32];

		snprintf(key, sizeof(key), "reason.%lld", (long long)id);
		qm_store_setting_set(c->store, ac->a.id, key, oc.reason, NULL);
		if (mp && m.verify != QM_VERIFY_REPLAY) {
			char hex[65];

			/* what a later identical copy is recognised by */
			copy_digest(mp, hex);
			snprintf(key, sizeof(key), "digest.%lld", (long long)id);
			qm_store_setting_set(c->store, ac->a.id, key, hex,
			                     NULL);
		}
		if (mp && mp->sender_sae[0]) {
			snprintf(key, sizeof(key), "sae.%lld", (long long)id);
			qm_store_setting_set(c->store, ac->a.id, key,
			                     mp->sender_sae, NULL);
		}
	}
out:
	qm_mail_content_free(&mc);
	qm_mail_parsed_free(&mp);
	outcome_free(&oc);
	return rc;
}

/*
 * Records a message the server holds but that is larger than the user's
 * limit.message_size: not fetched, shown with the reason so that the user
 * can raise the limit (the message stays on the server).
 */
static enum qm_err file_refused(struct qm_client *c, struct acct_conn *ac,
                                const char *folder, int64_t uidvalidity,
                                int64_t uid, const char *uidl,
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
	m.folder = folder;
	m.uidvalidity = uidvalidity;
	m.uid = uid;
	m.uidl = uidl;
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

/* Keys under which the IMAP sync state of a folder is kept. */
static void sync_key(char *out, size_t n, const char *what, const char *folder)
{
	snprintf(out, n, "sync.%s.%s", folder, what);
}

static int64_t setting_int(struct qm_client *c, int64_t acct, const char *key)
{
	char v[32];
	long long x = 0;

	acct_setting(c, acct, key, v, sizeof(v));
	if (!v[0] || qm_parse_ll(v, 0, INT64_MAX, &x, NULL))
		return 0;
	return x;
}

static void setting_put_int(struct qm_client *c, int64_t acct,
                            const char *key, int64_t v)
{
	char s[32];

	snprintf(s, sizeof(s), "%lld", (long long)v);
	qm_store_setting_set(c->store, acct, key, s, NULL);
}

/* A message refused for one of the user's limits, to fetch again. */
struct refetch {
	int64_t id; /* its record */
	int64_t uid;
	char uidl[72];
};

/*
 * The messages of this account refused for a limit, when the user changed
 * a limit (limits.generation, bumped by qm_client_limit_set) since this
 * account last looked: IMAP ones of folder under uidvalidity, or POP3 ones
 * (folder NULL). *gen gets the generation to record once they were tried.
 */
static enum qm_err refetch_list(struct qm_client *c, struct acct_conn *ac,
                                const char *folder, int64_t uidvalidity,
                                struct refetch **out, size_t *n, int64_t *gen,
                                struct qm_error *err)
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
	for (size_t i = 0; i < nids; i++) {
		struct qm_store_msglist *l = NULL;
		const struct qm_store_msg *m;

		if (qm_store_msg_get(c->store, ids[i], &l, NULL) != QM_OK)
			continue;
		m = &l->items[0];
		if (folder ? (m->uid && m->uidvalidity == uidvalidity &&
		              m->folder && strcmp(m->folder, folder) == 0)
		           : (m->uidl && m->uidl[0])) {
			r[k].id = m->id;
			r[k].uid = m->uid;
			if (m->uidl)
				qm_strlcpy(r[k].uidl, m->uidl,
				           sizeof(r[k].uidl));
			k++;
		}
		qm_store_msglist_free(&l);
	}
	free(ids);
	*out = r;
	*n = k;
	return QM_OK;
}

/* Fetches again, once after a limit changed, the IMAP messages refused
 * for a limit (still on the server). */
static enum qm_err refetch_imap(struct qm_client *c, struct acct_conn *ac,
                                struct qm_mail_imap *im, const char *folder,
                                int64_t uidvalidity, struct qm_buf *raw,
                                struct qm_client_sync_stats *st, int *dropped,
                                struct qm_error *err)
{
	struct refetch *r = NULL;
	size_t n = 0;
	int64_t gen;
	enum qm_err rc;

	*dropped = 0;

	rc = refetch_list(c, ac, folder, uidvalidity, &r, &n, &gen, err);
	for (size_t i = 0; i < n && !rc; i++) {
		qm_buf_reset(raw);
		rc = qm_mail_imap_fetch(im, (uint32_t)r[i].uid, raw, err);
		if (rc == QM_ERR_NOTFOUND) {
			/* gone from the server meanwhile: nothing to show */
			qm_error_clear(err);
			rc = qm_store_msg_delete(c->store, r[i].id, err);
			continue;
		}
		if (rc == QM_ERR_TOOBIG) {
			/* still past limit.message_size; the session is gone
			 * (the caller opens another), the others wait for the
			 * next change */
			qm_error_clear(err);
			rc = QM_OK;
			*dropped = 1;
			break;
		}
		if (rc)
			break;
		st->fetched++;
		rc = file_message(c, ac, folder, uidvalidity, r[i].uid, NULL,
		                  raw->data, raw->len, r[i].id, st, err);
	}
	if (!rc && gen)
		setting_put_int(c, ac->a.id, QM_SET_REFUSED_GEN, gen);
	free(r);
	return rc;
}

static enum qm_err sync_imap(struct qm_client *c, struct acct_conn *ac,
                             qm_client_progress_fn progress, void *parg,
                             struct qm_client_sync_stats *st,
                             struct qm_error *err)
{
	const char *folder = "INBOX";
	struct qm_mail_server srv;
	struct qm_mail_imap *im = NULL;
	struct qm_mail_imap_status ist;
	struct qm_buf raw;
	uint32_t *uids = NULL;
	size_t n = 0;
	int resync = 0, dropped = 0;
	char kv[300], kl[300];
	int64_t known_v, last;
	enum qm_err rc;

	qm_buf_init(&raw, ac->lim.max_size ? ac->lim.max_size : QM_CLIENT_MAXMSG);
	sync_key(kv, sizeof(kv), "uidvalidity", folder);
	sync_key(kl, sizeof(kl), "lastuid", folder);
	known_v = setting_int(c, ac->a.id, kv);
	last = setting_int(c, ac->a.id, kl);
	acct_conn_server(ac, &ac->a.imap, &srv);
	rc = qm_mail_imap_open(&srv, &im, err);
	if (!rc)
		rc = qm_mail_imap_select(im, folder, &ist, err);
	if (!rc)
		rc = qm_mail_imap_new_uids(im, (uint32_t)known_v,
		                           (uint32_t)last, &uids, &n, &resync,
		                           err);
	if (rc)
		goto out;
	if (resync || known_v != (int64_t)ist.uidvalidity) {
		/* first sync, or the server renumbered the folder */
		last = 0;
		setting_put_int(c, ac->a.id, kv, ist.uidvalidity);
		setting_put_int(c, ac->a.id, kl, 0);
		if (known_v && !resync) {
			free(uids);
			uids = NULL;
			rc = qm_mail_imap_new_uids(im, ist.uidvalidity, 0, &uids,
			                           &n, &resync, err);
			if (rc)
				goto out;
		}
	}
	/* after the user changed a limit: what was refused for one first */
	rc = refetch_imap(c, ac, im, folder, ist.uidvalidity, &raw, st,
	                  &dropped, err);
	if (!rc && dropped) {
		qm_mail_imap_free(&im);
		rc = qm_mail_imap_open(&srv, &im, err);
		if (!rc)
			rc = qm_mail_imap_select(im, folder, &ist, err);
	}
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (progress)
			progress(parg, "fetching", i, n);
		qm_buf_reset(&raw);
		rc = qm_mail_imap_fetch(im, uids[i], &raw, err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
			continue;
		}
		if (rc == QM_ERR_TOOBIG) {
			/* past limit.message_size: recorded, not fetched
			 * again; the server dropped the session, so the rest
			 * waits for the next sync */
			rc = file_refused(c, ac, folder, ist.uidvalidity,
			                  uids[i], NULL, err, st, err);
			if (!rc)
				setting_put_int(c, ac->a.id, kl, uids[i]);
			break;
		}
		if (rc)
			break;
		st->fetched++;
		rc = file_message(c, ac, folder, ist.uidvalidity, uids[i], NULL,
		                  raw.data, raw.len, 0, st, err);
		if (rc)
			break;
		setting_put_int(c, ac->a.id, kl, uids[i]);
	}
	if (progress && !rc)
		progress(parg, "fetching", n, n);
out:
	free(uids);
	qm_buf_free(&raw);
	qm_mail_imap_free(&im);
	return rc;
}

/* Fetches again, once after a limit changed, the POP3 messages refused
 * for a limit (ms: the server's list). *dropped: the session is gone. */
static enum qm_err refetch_pop3(struct qm_client *c, struct acct_conn *ac,
                                struct qm_mail_pop3 *p,
                                const struct qm_mail_pop3_msg *ms, size_t n,
                                int dele, struct qm_buf *raw,
                                struct qm_client_sync_stats *st, int *dropped,
                                struct qm_error *err)
{
	struct refetch *r = NULL;
	size_t nr = 0;
	int64_t gen;
	enum qm_err rc;

	*dropped = 0;
	rc = refetch_list(c, ac, NULL, 0, &r, &nr, &gen, err);
	for (size_t k = 0; k < nr && !rc; k++) {
		size_t i = 0;

		while (i < n && strcmp(ms[i].uidl, r[k].uidl) != 0)
			i++;
		if (i == n) {
			/* gone from the server meanwhile */
			rc = qm_store_msg_delete(c->store, r[k].id, err);
			continue;
		}
		qm_buf_reset(raw);
		rc = qm_mail_pop3_retr(p, ms[i].num, raw, err);
		if (rc == QM_ERR_TOOBIG) {
			qm_error_clear(err);
			rc = QM_OK;
			*dropped = 1;
			break;
		}
		if (rc)
			break;
		st->fetched++;
		rc = file_message(c, ac, "INBOX", 0, 0, ms[i].uidl, raw->data,
		                  raw->len, r[k].id, st, err);
		if (!rc && dele)
			qm_mail_pop3_dele(p, ms[i].num, NULL);
	}
	if (!rc && gen)
		setting_put_int(c, ac->a.id, QM_SET_REFUSED_GEN, gen);
	free(r);
	return rc;
}

/* Whether a POP3 UIDL was seen before (kept as a setting per UIDL). */
static enum qm_err sync_pop3(struct qm_client *c, struct acct_conn *ac,
                             qm_client_progress_fn progress, void *parg,
                             struct qm_client_sync_stats *st,
                             struct qm_error *err)
{
	struct qm_mail_server srv;
	struct qm_mail_pop3 *p = NULL;
	struct qm_mail_pop3_msg *ms = NULL;
	struct qm_buf raw, tmp;
	size_t n = 0;
	char del[8];
	int dropped = 0;
	enum qm_err rc;

	qm_buf_init(&raw, ac->lim.max_size ? ac->lim.max_size : QM_CLIENT_MAXMSG);
	qm_buf_init(&tmp, 64);
	acct_setting(c, ac->a.id, QM_SET_POP3_DELETE, del, sizeof(del));
	acct_conn_server(ac, &ac->a.pop3, &srv);
	rc = qm_mail_pop3_open(&srv, &p, err);
	if (!rc)
		rc = qm_mail_pop3_uidl(p, &ms, &n, err);
	/* after the user changed a limit: what was refused for one first */
	if (!rc)
		rc = refetch_pop3(c, ac, p, ms, n, del[0] == '1', &raw, st,
		                  &dropped, err);
	if (!rc && dropped) {
		qm_mail_pop3_free(&p);
		free(ms);
		ms = NULL;
		n = 0;
		rc = qm_mail_pop3_open(&srv, &p, err);
		if (!rc)
			rc = qm_mail_pop3_uidl(p, &ms, &n, err);
	}
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char key[128];

		if (progress)
			progress(parg, "fetching", i, n);
		snprintf(key, sizeof(key), "pop3.seen.%s", ms[i].uidl);
		qm_buf_reset(&tmp);
		if (qm_store_setting_get(c->store, ac->a.id, key, &tmp, NULL) ==
		    QM_OK)
			continue;
		qm_buf_reset(&raw);
		rc = qm_mail_pop3_retr(p, ms[i].num, &raw, err);
		if (rc == QM_ERR_TOOBIG) {
			/* past limit.message_size: recorded, not fetched again */
			rc = file_refused(c, ac, "INBOX", 0, 0, ms[i].uidl, err,
			                  st, err);
			if (!rc)
				qm_store_setting_set(c->store, ac->a.id, key,
				                     "1", NULL);
			break;
		}
		if (rc)
			break;
		st->fetched++;
		rc = file_message(c, ac, "INBOX", 0, 0, ms[i].uidl, raw.data,
		                  raw.len, 0, st, err);
		if (rc)
			break;
		qm_store_setting_set(c->store, ac->a.id, key, "1", NULL);
		if (del[0] == '1')
			qm_mail_pop3_dele(p, ms[i].num, NULL);
	}
	if (progress && !rc)
		progress(parg, "fetching", n, n);

out:
	free(ms);
	qm_buf_free(&raw);
	qm_buf_free(&tmp);
	qm_mail_pop3_free(&p);
	return rc;
}

enum qm_err qm_client_sync(struct qm_client *c, int64_t account_id,
                           qm_client_progress_fn progress, void *parg,
                           struct qm_client_sync_stats *st,
                           struct qm_error *err)
{
	struct acct_conn ac;
	enum qm_err rc;
	int lockfd = -1;
	char lockname[64];

	memset(st, 0, sizeof(*st));
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
	if (!ac.use_pop3 && ac.a.imap.host[0])
		rc = sync_imap(c, &ac, progress, parg, st, err);
	else if (ac.a.pop3.host[0])
		rc = sync_pop3(c, &ac, progress, parg, st, err);
	else
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "account %s has no IMAP or POP3 server",
		                  ac.a.address);
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
	sync_key(kv, sizeof(kv), "uidvalidity", "INBOX");
	sync_key(kl, sizeof(kl), "lastuid", "INBOX");
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

enum qm_err qm_client_msg_retry(struct qm_client *c, int64_t id,
                                int64_t *new_id, enum qm_store_verify *verify,
                                struct qm_error *err)
{
	(void)c;
	(void)id;
	(void)new_id;
	(void)verify;
	return qm_error_set(err, QM_ERR_UNSUPPORTED, "not yet");
}
