/* SPDX-License-Identifier: MIT */
/*
 * Opening one received QMail message (the receive path's middle, for
 * recv.c): its routing headers against the envelope (no downgrade), the
 * checks that need no KME (our slot, the user's key-ID limit, malformed
 * values, the replay log), the keys from the account's KME (levels 1 and
 * 2, recv_kme.c) or the sender's public key for its From address (3 and
 * 4), the envelope opened with the received header values as associated
 * data. Then what the message may claim: at levels 1 and 2 it is from its
 * From address only when the envelope's sender SAE is the SAE ID
 * confirmed for that address; its inner copies of From, To and Cc must
 * name the authenticated addresses.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void client_recv_outcome_free(struct recv_outcome *oc)
{
	qm_buf_free(&oc->plain);
	for (size_t i = 0; i < oc->nkey_ids; i++)
		free(oc->key_ids[i]);
	free(oc->key_ids);
	oc->key_ids = NULL;
	oc->nkey_ids = 0;
}

/* Copies the IDs of one slot into oc. */
static enum qm_err take_ids(struct recv_outcome *oc, const struct qm_env *env,
                            size_t slot, struct qm_error *err)
{
	size_t n = qm_crypto_env_slot_key_count(env, slot);

	oc->key_ids = calloc(n ? n : 1, sizeof(char *));
	if (!oc->key_ids)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		oc->key_ids[i] =
		    strdup(qm_crypto_env_slot_key_id(env, slot, i));
		if (!oc->key_ids[i])
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		oc->nkey_ids = i + 1;
	}
	return QM_OK;
}

/* Drops the key IDs of a message that used none of them. */
static void outcome_ids_drop(struct recv_outcome *oc)
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

	for (size_t s = 0; s < qm_crypto_env_slot_count(env); s++)
		total += qm_crypto_env_slot_key_count(env, s);
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

	if (mp->level != qm_crypto_env_level(env)) {
		snprintf(why, whylen,
		         "the X-QKD-Security-Level header says %d but the "
		         "authenticated envelope says %d (downgrade attempt?)",
		         mp->level, qm_crypto_env_level(env));
		return 0;
	}
	if (qm_crypto_env_level(env) > 2)
		return 1;
	if (strcmp(mp->sender_sae, qm_crypto_env_sender_sae(env)) != 0) {
		snprintf(why, whylen,
		         "the X-QKD-Sender-SAE header does not match the "
		         "envelope");
		return 0;
	}
	for (size_t s = 0; s < qm_crypto_env_slot_count(env); s++)
		for (size_t i = 0; i < qm_crypto_env_slot_key_count(env, s);
		     i++) {
			if (k < mp->nkey_ids &&
			    strcmp(mp->key_ids[k],
			           qm_crypto_env_slot_key_id(env, s, i)) != 0) {
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

/* The one bare address an address-list value names, lower case, into out;
 * QM_ERR_PARSE when it names none or several. */
static enum qm_err one_addr(const char *list, char *out, size_t outlen)
{
	char **v = NULL;
	size_t n = 0;
	enum qm_err rc = qm_mail_addr_specs(list, &v, &n, NULL);

	if (!rc && (n != 1 || qm_strlcpy(out, v[0], outlen) != 0))
		rc = QM_ERR_PARSE;
	for (char *p = out; !rc && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	qm_mail_strv_free(&v, n);
	return rc;
}

/* The account stops asking its KME for the rest of this sync; the first
 * reason is what the sync says (once). */
static void kme_block(struct recv_ctx *ctx, const struct qm_error *why)
{
	ctx->kme_blocked = 1;
	if (!ctx->st->kme_problem[0]) {
		ctx->st->kme_code = why->code ? why->code : QM_ERR_UNAVAIL;
		qm_strlcpy(ctx->st->kme_problem, qm_error_msg(why),
		           sizeof(ctx->st->kme_problem));
	}
}

/*
 * Levels 1 and 2, once the envelope opened: the message counts as sent by
 * its From address only when the envelope's sender SAE is the SAE ID
 * confirmed for that address (a contact of this account). Anything else
 * is readable but says plainly whose SAE sent it.
 */
static void bind_sender(struct qm_client *c, const struct acct_conn *ac,
                        const struct qm_mail_parsed *mp,
                        struct recv_outcome *oc)
{
	struct qm_store_contact *cs = NULL, ct;
	char from[QM_STORE_ADDRMAX];
	char lead[160];
	size_t n = 0;
	int have_from, have_ct = 0;

	snprintf(lead, sizeof(lead), "decrypted at level %d (%s), but",
	         oc->level, qm_client_level_name(oc->level));
	have_from = one_addr(mp->hdrs.from, from, sizeof(from)) == QM_OK;
	if (qm_store_contact_list(c->store, ac->a.id, &cs, &n, NULL) == QM_OK) {
		for (size_t i = 0; i < n && !oc->owner[0]; i++)
			if (cs[i].confirmed && cs[i].sae_id[0] &&
			    strcmp(cs[i].sae_id, oc->sae) == 0)
				qm_strlcpy(oc->owner, cs[i].address,
				           sizeof(oc->owner));
		free(cs);
	}
	if (have_from &&
	    qm_store_contact_get(c->store, ac->a.id, from, &ct, NULL) == QM_OK)
		have_ct = 1;
	if (have_from && have_ct && ct.confirmed &&
	    strcmp(ct.sae_id, oc->sae) == 0) {
		oc->verify = QM_VERIFY_OK;
		qm_strlcpy(oc->owner, from, sizeof(oc->owner));
		snprintf(oc->reason, sizeof(oc->reason),
		         "decrypted and verified at level %d (%s): sent from "
		         "SAE %.100s, the SAE ID confirmed for %.100s",
		         oc->level, qm_client_level_name(oc->level), oc->sae,
		         from);
		return;
	}
	oc->verify = QM_VERIFY_UNVERIFIED_SENDER;
	if (!have_from)
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "%.90s its From header does not name exactly one address "
		    "(sent from SAE %.100s%s%.100s): unverified sender",
		    lead, oc->sae, oc->owner[0] ? ", which belongs to " : "",
		    oc->owner);
	else if (oc->owner[0])
		snprintf(oc->reason, sizeof(oc->reason),
		         "%.90s it was sent from SAE %.100s, which belongs to "
		         "%.100s, not to %.100s: unverified sender",
		         lead, oc->sae, oc->owner, from);
	else if (have_ct && ct.confirmed && ct.sae_id[0])
		snprintf(oc->reason, sizeof(oc->reason),
		         "%.90s it was sent from SAE %.100s, while the SAE ID "
		         "confirmed for %.100s is %.100s: unverified sender",
		         lead, oc->sae, from, ct.sae_id);
	else if (have_ct && strcmp(ct.sae_id, oc->sae) == 0)
		snprintf(oc->reason, sizeof(oc->reason),
		         "%.90s it was sent from SAE %.100s, which an earlier "
		         "message suggested for %.100s but which is not "
		         "confirmed: unverified sender until it is confirmed",
		         lead, oc->sae, from);
	else
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "%.90s it was sent from SAE %.100s, which is not confirmed "
		    "for %.100s or any other contact: unverified sender",
		    lead, oc->sae, from);
}

/*
 * Levels 1 and 2: an SAE ID seen in an opened message is suggested for its
 * From address (learned, used only once the user confirms it) when the
 * address has no contact yet and the SAE ID is confirmed for nobody else.
 * A learned SAE ID never replaces a contact's (the store refuses it too).
 */
static void learn_sae(struct qm_client *c, const struct acct_conn *ac,
                      const struct qm_mail_parsed *mp,
                      const struct recv_outcome *oc)
{
	struct qm_store_contact ct;
	char from[QM_STORE_ADDRMAX];

	if (oc->owner[0] || !oc->sae[0] ||
	    one_addr(mp->hdrs.from, from, sizeof(from)) != QM_OK ||
	    qm_store_contact_get(c->store, ac->a.id, from, &ct, NULL) !=
	        QM_ERR_NOTFOUND)
		return;
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, from, sizeof(ct.address));
	qm_strlcpy(ct.sae_id, oc->sae, sizeof(ct.sae_id));
	ct.source = QM_CONTACT_LEARNED;
	/* best effort: the message is filed either way, and the next
	 * verified message from this sender tries to learn it again */
	QM_IGNORE(qm_store_contact_put(c->store, ac->a.id, &ct, NULL));
}

/* The account cannot use its KME (why): the message waits for the next
 * sync, and no other message asks the KME in this one. */
static void wait_for_kme(struct recv_ctx *ctx, const struct qm_error *why,
                         struct recv_outcome *oc)
{
	kme_block(ctx, why);
	oc->wait = MSG_WAIT_KME;
	snprintf(oc->reason, sizeof(oc->reason), "waiting for its keys: %s",
	         qm_error_msg(why));
}

/*
 * Levels 1 and 2, the checks that need no KME: a KME configured, our slot,
 * the user's key-ID limit, well-formed values, the replay log, the KME not
 * found unusable earlier in this sync. *ask is 1 when the KME may be asked
 * for oc->key_ids; else oc says what became of the message.
 */
static enum qm_err qkd_precheck(struct qm_client *c, struct acct_conn *ac,
                                struct recv_ctx *ctx, const struct qm_env *env,
                                size_t *slot, struct recv_outcome *oc, int *ask,
                                struct qm_error *err)
{
	struct qm_error e;
	enum qm_err rc;

	*ask = 0;
	qm_error_clear(&e);
	if (!ac->a.sae_id[0] || !ac->a.kme_url[0]) {
		qm_error_set(&e, QM_ERR_STATE,
		             "account %s has no KME configured (its URL and "
		             "this account's SAE ID): levels 1 and 2 need one",
		             ac->a.address);
		wait_for_kme(ctx, &e, oc);
		return QM_OK;
	}
	if (qm_crypto_env_slot_find(env, ac->a.sae_id, slot, &e)) {
		oc->verify = QM_VERIFY_TAMPERED;
		snprintf(oc->reason, sizeof(oc->reason),
		         "the message holds no key for this account's SAE %s",
		         ac->a.sae_id);
		return QM_OK;
	}
	rc = take_ids(oc, env, *slot, err);
	if (rc)
		return rc;
	if (key_ids_over(env, &ac->lim, oc->reason, sizeof(oc->reason))) {
		/* nobody asked the KME for anything: refused */
		oc->verify = QM_VERIFY_REFUSED;
		outcome_ids_drop(oc);
		return QM_OK;
	}
	if (client_recv_ids_check(oc->sae, (const char *const *)oc->key_ids,
	                          oc->nkey_ids, &e) != KME_GOT) {
		oc->verify = QM_VERIFY_UNREADABLE;
		oc->keep_raw = 1;
		snprintf(oc->reason, sizeof(oc->reason),
		         "unreadable: %s; the KME was not asked",
		         qm_error_msg(&e));
		outcome_ids_drop(oc);
		return QM_OK;
	}
	for (size_t i = 0; i < oc->nkey_ids; i++) {
		if (qm_store_replay_check(c->store, ac->a.id, QM_DIR_IN,
		                          oc->key_ids[i],
		                          NULL) == QM_ERR_REPLAY) {
			oc->verify = QM_VERIFY_REPLAY;
			snprintf(
			    oc->reason, sizeof(oc->reason),
			    "key ID %s was already used by another message: "
			    "this one is a replay and was not decrypted",
			    oc->key_ids[i]);
			return QM_OK;
		}
	}
	if (ctx->kme_blocked) {
		/* said once already; nothing is asked this sync */
		outcome_ids_drop(oc);
		oc->wait = MSG_WAIT_KME;
		snprintf(oc->reason, sizeof(oc->reason),
		         "waiting for its keys: %.400s", ctx->st->kme_problem);
		return QM_OK;
	}
	*ask = 1;
	return QM_OK;
}

/* What the KME's answer for the keys (f, with why) makes of the message;
 * QM_ERR_NOMEM for an answer that stops the sync. */
static enum qm_err kme_outcome(struct recv_ctx *ctx, enum kme_fate f,
                               const struct qm_error *why,
                               struct recv_outcome *oc, struct qm_error *err)
{
	switch (f) {
	case KME_GOT:
		return QM_OK;
	case KME_GONE:
		/* the keys are gone for good: nobody can read it */
		oc->verify = QM_VERIFY_UNKNOWN_KEY;
		oc->keep_raw = 1;
		snprintf(oc->reason, sizeof(oc->reason),
		         "the KME does not have the keys of this message "
		         "(already fetched, expired, or not addressed to this "
		         "SAE): %s",
		         qm_error_msg(why));
		return QM_OK;
	case KME_BAD:
		oc->verify = QM_VERIFY_UNREADABLE;
		oc->keep_raw = 1;
		snprintf(oc->reason, sizeof(oc->reason),
		         "unreadable: the KME refused the key IDs of this "
		         "message (%s%s): %s",
		         oc->key_ids[0], oc->nkey_ids > 1 ? ", ..." : "",
		         qm_error_msg(why));
		break;
	case KME_ACCOUNT:
	case KME_DOWN:
		wait_for_kme(ctx, why, oc);
		break;
	case KME_TRANSIENT:
		oc->wait = MSG_WAIT_MSG;
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "waiting for its keys: the KME failed for this message "
		    "(%s); it is tried again later",
		    qm_error_msg(why));
		break;
	default:
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	outcome_ids_drop(oc); /* none of them was used */
	return QM_OK;
}

/* Levels 1 and 2 up to the keys: the checks that need no KME, then the
 * KME. On return with QM_OK, mk holds the keys of our slot, or oc says why
 * not. */
static enum qm_err qkd_keys(struct qm_client *c, struct acct_conn *ac,
                            struct recv_ctx *ctx,
                            const struct qm_mail_parsed *mp,
                            const struct qm_env *env, size_t *slot,
                            struct recv_outcome *oc, struct msg_keys *mk,
                            struct qm_error *err)
{
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;
	enum kme_fate f;
	enum qm_err rc;
	int ask = 0;

	qm_strlcpy(oc->sae, qm_crypto_env_sender_sae(env), sizeof(oc->sae));
	rc = qkd_precheck(c, ac, ctx, env, slot, oc, &ask, err);
	if (rc || !ask)
		return rc;
	/* the KME forgets keys once it hands them out: make sure the
	 * plaintext can be stored before asking (the vault keeps about as
	 * many bytes as the envelope, written twice by the WAL) */
	rc = client_home_space_check(
	    c, (uint64_t)mp->envelope_len * 2 + (4u << 20),
	    "fetch the keys of a new message (it stays on "
	    "the server)",
	    err);
	if (rc)
		return rc;
	qm_error_clear(&e);
	f = client_recv_kme_keys(ac, oc->sae, (const char *const *)oc->key_ids,
	                         oc->nkey_ids, &ks, &e);
	rc = kme_outcome(ctx, f, &e, oc, err);
	if (!rc && f == KME_GOT) {
		client_kme_path_of(ks, &oc->path);
		rc = client_msg_keys_take(mk, "", &ks, err);
	}
	qm_kms_keys_free(&ks);
	return rc;
}

/*
 * Levels 3 and 4: the key that signed (fingerprint efpr) is not the one
 * the keyring uses for from (known: it has one; kerr: why not). The
 * message's identity header may carry it: then it becomes mk's peer, for
 * the signature check, and oc->key_news says whether it is new or
 * another one. 0 when the header does not carry it.
 */
static int key_from_header(const struct qm_mail_parsed *mp, const char *from,
                           const unsigned char *efpr, int known,
                           const struct qm_error *kerr, struct msg_keys *mk,
                           struct recv_outcome *oc)
{
	struct qm_pubid *hk = NULL;

	if (!efpr ||
	    client_idhdr_signer(mp->identity, from, efpr, &hk, NULL) != QM_OK)
		return 0;
	if (known) {
		qm_crypto_pubid_free(&mk->peer[0]);
		mk->n = 0;
	}
	mk->peer[mk->n++] = hk;
	oc->key_news = known || kerr->code == QM_ERR_STATE ? 2 : 1;
	return 1;
}

/* Levels 3 and 4 up to the keys: the sender's key for its From address,
 * which must be the one that signed (or, first seen or changed, the one
 * its identity header carries: key_from_header); our slot. On return
 * with QM_OK, mk holds both identities when oc->signer is set and the
 * message is not tampered, or oc says why not. */
static enum qm_err pq_keys(struct qm_client *c, struct acct_conn *ac,
                           const struct qm_mail_parsed *mp,
                           const struct qm_env *env, size_t *slot,
                           struct recv_outcome *oc, struct msg_keys *mk,
                           struct qm_error *err)
{
	unsigned char want[QM_FPR_BYTES], have[QM_FPR_BYTES],
	    mine[QM_FPR_BYTES];
	const unsigned char *efpr = qm_crypto_env_sender_fpr(env);
	struct qm_pubid *me = NULL;
	char from[QM_STORE_ADDRMAX], fpr[QM_FPR_TEXTLEN];
	struct qm_error e;
	enum qm_err rc;
	int known;

	qm_error_clear(&e);
	rc = client_msg_keys_self(c, ac, mk, err);
	if (rc)
		return rc;
	if (one_addr(mp->hdrs.from, from, sizeof(from)) != QM_OK) {
		oc->verify = QM_VERIFY_UNKNOWN_KEY;
		oc->keep_raw = 1;
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "its From header does not name exactly one address, so "
		    "the signature cannot be checked against a sender");
		return QM_OK;
	}
	if (oc->self_copy && strcasecmp(from, ac->a.address) == 0) {
		/* the account's own copy (client_self_copy_of): signed by
		 * the account's own key, which the keyring does not hold */
		known = qm_crypto_identity_public(mk->self, &mk->peer[0], &e) ==
		        QM_OK;
		mk->n = known ? 1 : 0;
	} else {
		known = client_msg_keys_peer(c, from, mk, &e) == QM_OK;
	}
	if (known)
		qm_crypto_pubid_fingerprint(mk->peer[0], have);
	if (efpr)
		memcpy(want, efpr, sizeof(want));
	if ((!known || !efpr || qm_ct_eq(want, have, sizeof(want)) != 0) &&
	    key_from_header(mp, from, efpr, known, &e, mk, oc))
		memcpy(have, want, sizeof(have));
	else if (!known) {
		oc->verify = QM_VERIFY_UNKNOWN_KEY;
		oc->keep_raw = 1;
		snprintf(oc->reason, sizeof(oc->reason),
		         "the sender's public key is not known, so the "
		         "signature cannot be checked: %s",
		         qm_error_msg(&e));
		return QM_OK;
	}
	if (!efpr || qm_ct_eq(want, have, sizeof(want)) != 0) {
		oc->verify = QM_VERIFY_UNKNOWN_KEY;
		oc->keep_raw = 1;
		qm_crypto_fpr_text(efpr ? want : have, fpr);
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "signed with key %s, which is not the key known for %s",
		    fpr, from);
		return QM_OK;
	}
	qm_crypto_fpr_text(have, fpr);
	qm_strlcpy(oc->signer, fpr, sizeof(oc->signer));
	qm_strlcpy(oc->signer_addr, from, sizeof(oc->signer_addr));
	/* our slot is labelled with our key's fingerprint */
	rc = qm_crypto_identity_public(mk->self, &me, err);
	if (rc)
		return rc;
	qm_crypto_pubid_fingerprint(me, mine);
	qm_crypto_fpr_text(mine, fpr);
	qm_crypto_pubid_free(&me);
	if (qm_crypto_env_slot_find(env, fpr, slot, &e) != QM_OK) {
		oc->verify = QM_VERIFY_TAMPERED;
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "the message was not encrypted for this account's key");
	}
	return QM_OK;
}

enum qm_err client_env_parse(const struct qm_mail_parsed *mp,
                             struct qm_env **env, struct qm_error *err)
{
	struct qm_env_src src;

	if (!mp->envsrc)
		return qm_crypto_env_parse(mp->envelope, mp->envelope_len, env,
		                           err);
	/* a large envelope, read from the message as it is decoded: only
	 * its header is kept (the source lives as long as mp) */
	src.read = qm_mail_envelope_read;
	src.rewind = qm_mail_envelope_rewind;
	src.arg = mp->envsrc;
	src.len = mp->envelope_len;
	return qm_crypto_env_parse_src(&src, env, err);
}

/* The envelope parses and its routing copies in the X-QKD headers agree
 * with it (*env), else oc says why not (tampered). */
static void envelope_check(const struct qm_mail_parsed *mp, struct qm_env **env,
                           struct recv_outcome *oc)
{
	struct qm_error e;

	qm_error_clear(&e);
	oc->level = mp->level;
	oc->verify = QM_VERIFY_TAMPERED;
	if (client_env_parse(mp, env, &e)) {
		snprintf(oc->reason, sizeof(oc->reason),
		         "the encrypted envelope is damaged: %s",
		         qm_error_msg(&e));
		return;
	}
	oc->level = qm_crypto_env_level(*env);
	if (!headers_agree(mp, *env, oc->reason, sizeof(oc->reason)))
		qm_crypto_env_free(env);
}

/* Where a large plaintext goes: the blob writer, and what failed there
 * (a store error, not the message's). */
struct blob_sink {
	struct qm_store_blob_w *w;
	enum qm_err rc;
	struct qm_error err;
};

static enum qm_err blob_sink_wr(void *arg, const void *p, size_t n,
                                struct qm_error *err)
{
	struct blob_sink *bs = arg;

	bs->rc = qm_store_blob_write(bs->w, p, n, &bs->err);
	if (bs->rc)
		return qm_error_set(err, bs->rc, "%s", qm_error_msg(&bs->err));
	return QM_OK;
}

/*
 * Opens a large message into a blob (oc->plain_blob) in one pass
 * (qm_crypto_env_open_staged): the blob, sealed in the vault, takes each
 * chunk as its tag verifies, becomes readable only once the signature or
 * MAC at the end verified too, and is removed on any failure, so nothing
 * unverified is ever shown. *ok as open_envelope; a store that cannot keep
 * it is an error of the sync (the message is fetched again next time).
 */
static enum qm_err open_to_blob(struct qm_client *c, const struct acct_conn *ac,
                                const struct qm_env *env,
                                const struct qm_open_params *op,
                                struct recv_outcome *oc, int *ok,
                                struct qm_error *err)
{
	struct blob_sink bs = {0};
	struct qm_error e;
	uint64_t max = ac->lim.max_size ? ac->lim.max_size : QM_CLIENT_MAXMSG;
	enum qm_err rc;

	qm_error_clear(&e);
	rc = qm_store_blob_begin(c->store, QM_STORE_BLOB_MSG, ac->a.id, &bs.w,
	                         err);
	if (rc)
		return rc;
	if (qm_crypto_env_open_staged(env, op, max, blob_sink_wr, &bs, &e) !=
	    QM_OK) {
		qm_store_blob_abort(&bs.w);
		if (bs.rc) {
			if (err)
				*err = bs.err;
			return bs.rc;
		}
		oc->verify = QM_VERIFY_TAMPERED;
		oc->keep_raw = 0;
		snprintf(oc->reason, sizeof(oc->reason),
		         "the message failed its integrity check and is not "
		         "shown: %s",
		         qm_error_msg(&e));
		return QM_OK;
	}
	rc =
	    qm_store_blob_end(&bs.w, &oc->plain_blob, &oc->plain_blob_len, err);
	if (!rc)
		*ok = 1;
	return rc;
}

/* Opens the envelope under mk with the received header values as
 * associated data: the plaintext into oc->plain (a large one into
 * a blob, oc->plain_blob) and *ok = 1, or oc says
 * why it failed (tampered). */
static enum qm_err
open_envelope(struct qm_client *c, const struct acct_conn *ac,
              const struct qm_mail_parsed *mp, const struct qm_env *env,
              const struct msg_keys *mk, size_t slot, struct recv_outcome *oc,
              int *ok, struct qm_error *err)
{
	struct qm_bound b;
	struct bound_store bs = {0};
	struct qm_open_params op;
	struct qm_error e;
	enum qm_err rc;

	*ok = 0;
	qm_error_clear(&e);
	rc = client_bound_make(&mp->hdrs, mk->sae, &b, &bs, err);
	if (rc)
		return rc;
	client_msg_keys_open_params(mk, &b, slot, &op);
	/* the account's own copies stay in memory (what they hold is read
	 * from the plaintext: recv_own.c, drafts) */
	if (!oc->self_copy &&
	    qm_crypto_env_plaintext_len(env) > RECV_BLOB_MIN) {
		rc = open_to_blob(c, ac, env, &op, oc, ok, err);
		client_bound_store_free(&bs);
		return rc;
	}
	qm_buf_init_secure(&oc->plain, ac->lim.max_size ? ac->lim.max_size
	                                                : QM_CLIENT_MAXMSG);
	if (qm_crypto_env_open(env, &op, &oc->plain, &e) != QM_OK) {
		qm_buf_free(&oc->plain);
		oc->verify = QM_VERIFY_TAMPERED;
		oc->keep_raw = 0;
		snprintf(oc->reason, sizeof(oc->reason),
		         "the message failed its integrity check and is not "
		         "shown: %s",
		         qm_error_msg(&e));
	} else {
		*ok = 1;
	}
	client_bound_store_free(&bs);
	return QM_OK;
}

/* What an opened message may claim: levels 1 and 2, the sender its SAE ID
 * is confirmed for; levels 3 and 4, the owner of the key that signed. */
static void claim_sender(struct qm_client *c, const struct acct_conn *ac,
                         const struct qm_mail_parsed *mp,
                         struct recv_outcome *oc)
{
	if (oc->level <= 2) {
		bind_sender(c, ac, mp, oc);
		learn_sae(c, ac, mp, oc);
		return;
	}
	oc->verify = QM_VERIFY_OK;
	if (oc->key_news == 1) {
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "decrypted at level %d (%s); signed by key %.80s, which "
		    "came with this message (its identity header) and "
		    "was seen for %.100s for the first time: not verified "
		    "until you compare the safety number",
		    oc->level, qm_client_level_name(oc->level), oc->signer,
		    oc->signer_addr);
		return;
	}
	if (oc->key_news == 2) {
		oc->verify = QM_VERIFY_UNVERIFIED_SENDER;
		snprintf(
		    oc->reason, sizeof(oc->reason),
		    "KEY CHANGED: decrypted at level %d (%s), but signed "
		    "by key %.80s, which came with this message and is not "
		    "the key known for %.100s: unverified sender; the new "
		    "key is not used until you compare the safety number "
		    "and accept it",
		    oc->level, qm_client_level_name(oc->level), oc->signer,
		    oc->signer_addr);
		return;
	}
	snprintf(oc->reason, sizeof(oc->reason),
	         "decrypted at level %d (%s); its signature by the key of %s "
	         "checked",
	         oc->level, qm_client_level_name(oc->level), oc->signer_addr);
}

enum qm_err client_recv_open_qmail(struct qm_client *c, struct acct_conn *ac,
                                   struct recv_ctx *ctx,
                                   const struct qm_mail_parsed *mp,
                                   struct recv_outcome *oc,
                                   struct qm_error *err)
{
	struct qm_env *env = NULL;
	struct msg_keys mk;
	size_t slot = 0;
	int ready, ok = 0;
	enum qm_err rc;

	envelope_check(mp, &env, oc);
	if (!env)
		return QM_OK;
	oc->verify = QM_VERIFY_UNKNOWN_KEY;
	client_msg_keys_init(&mk, oc->level, mp->sender_sae);
	if (client_msg_keys_qkd(&mk)) {
		rc = qkd_keys(c, ac, ctx, mp, env, &slot, oc, &mk, err);
		ready = mk.n == 1;
	} else {
		rc = pq_keys(c, ac, mp, env, &slot, oc, &mk, err);
		ready = oc->signer[0] && oc->verify != QM_VERIFY_TAMPERED;
	}
	if (!rc && ready)
		rc = open_envelope(c, ac, mp, env, &mk, slot, oc, &ok, err);
	if (!rc && ok)
		claim_sender(c, ac, mp, oc);
	if (!rc && ok && oc->self_copy && oc->verify == QM_VERIFY_OK) {
		int sent_at = client_self_copy_level(&oc->plain);

		if (!sent_at)
			QM_IGNORE(client_self_copy_draft(
			    &oc->plain, oc->draft_uuid, &oc->draft_time));

		oc->verify = QM_VERIFY_SENT;
		if (sent_at)
			snprintf(oc->reason, sizeof(oc->reason),
			         "sent by you at level %d (%s): opened from "
			         "the copy on the server sealed to your own "
			         "key at level 3 and signed by it (%.80s)",
			         sent_at, qm_client_level_name(sent_at),
			         oc->signer);
		else
			snprintf(oc->reason, sizeof(oc->reason),
			         "written by you: opened from the copy on the "
			         "server sealed to your own key at level 3 and "
			         "signed by it (%.80s)",
			         oc->signer);
		if (sent_at)
			oc->level = sent_at;
	}
	client_msg_keys_free(&mk);
	qm_crypto_env_free(&env);
	return rc;
}

/* 1 when the address lists a and b name the same addresses: case and
 * display names aside, in any order. */
static int same_addrs(const char *a, const char *b)
{
	char **va = NULL, **vb = NULL;
	size_t na = 0, nb = 0;
	int ea, eb, same = 1;

	ea = a[strspn(a, " \t")] ? qm_mail_addr_specs(a, &va, &na, NULL) : 0;
	eb = b[strspn(b, " \t")] ? qm_mail_addr_specs(b, &vb, &nb, NULL) : 0;
	if (ea || eb) {
		same = strcmp(a, b) == 0;
		goto out;
	}
	if (na != nb) {
		same = 0;
		goto out;
	}
	for (size_t i = 0; i < na && same; i++) {
		size_t j = 0;

		while (j < nb && (!vb[j] || strcasecmp(va[i], vb[j]) != 0))
			j++;
		if (j == nb) {
			same = 0;
		} else {
			free(vb[j]); /* each one matches once */
			vb[j] = NULL;
		}
	}
out:
	qm_mail_strv_free(&va, na);
	qm_mail_strv_free(&vb, nb);
	return same;
}

int client_recv_inner_agrees(const struct qm_mail_hdrs *outer,
                             const struct qm_mail_hdrs *inner, char *why,
                             size_t whylen)
{
	const char *names[3] = {"From", "To", "Cc"};
	const char *o[3] = {outer->from, outer->to, outer->cc};
	const char *in[3] = {inner->from, inner->to, inner->cc};

	for (size_t i = 0; i < 3; i++) {
		if (same_addrs(o[i] ? o[i] : "", in[i] ? in[i] : ""))
			continue;
		snprintf(
		    why, whylen,
		    "the encrypted copy of its %s header (%.120s) names "
		    "other addresses than the authenticated one (%.120s): "
		    "it would show another sender or other recipients than "
		    "the ones checked, so it is not shown",
		    names[i], in[i] ? in[i] : "", o[i] ? o[i] : "");
		return 0;
	}
	return 1;
}
