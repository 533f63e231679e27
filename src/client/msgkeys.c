/* SPDX-License-Identifier: MIT */
/*
 * The keys one message is sealed or opened under, whatever its level, for
 * the send path (send.c) and the receive path (recv_open.c) alike: at
 * levels 1 and 2 QKD keys from the account's KME, one slot per recipient
 * SAE (sealing) or this account's slot (opening), with every key ID in
 * order; at levels 3 and 4 the account's own identity and the public
 * identities of the recipients (sealing) or of the sender (opening). Which
 * kind a level takes is decided here and nowhere else; the callers hand
 * the result to the crypto layer through msg_keys_seal_params and
 * msg_keys_open_params.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

void msg_keys_init(struct msg_keys *mk, int level, const char *sender_sae)
{
	memset(mk, 0, sizeof(*mk));
	mk->level = level;
	/* levels 3 and 4 bind no sender SAE: opening takes the envelope's */
	mk->sae = level <= 2 ? sender_sae : NULL;
}

void msg_keys_free(struct msg_keys *mk)
{
	for (size_t i = 0; i < QM_CLIENT_MAXRCPTS; i++) {
		free(mk->qk[i]);
		qm_kms_keys_free(&mk->kk[i]);
		qm_pubid_free(&mk->peer[i]);
	}
	free(mk->ids);
	qm_identity_free(&mk->self);
	memset(mk, 0, sizeof(*mk));
}

int msg_keys_qkd(const struct msg_keys *mk)
{
	return mk->level <= 2;
}

enum qm_err msg_keys_take(struct msg_keys *mk, const char *rcpt,
                          struct qm_kms_keys **ks, struct qm_error *err)
{
	size_t nk = qm_kms_keys_count(*ks), i = mk->n;
	const char **ids;

	if (i >= QM_CLIENT_MAXRCPTS)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "more than %d recipients",
		                    QM_CLIENT_MAXRCPTS);
	ids = realloc(mk->ids, (mk->nids + nk + 1) * sizeof(*ids));
	if (ids)
		mk->ids = ids;
	mk->qk[i] = calloc(nk ? nk : 1, sizeof(struct qm_qkey));
	if (!ids || !mk->qk[i])
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	mk->kk[i] = *ks;
	*ks = NULL;
	for (size_t j = 0; j < nk; j++) {
		mk->qk[i][j].key_id = qm_kms_keys_id(mk->kk[i], j);
		mk->qk[i][j].key =
		    qm_kms_keys_key(mk->kk[i], j, &mk->qk[i][j].len);
		mk->ids[mk->nids++] = mk->qk[i][j].key_id;
	}
	mk->slot[i].rcpt = rcpt;
	mk->slot[i].keys = mk->qk[i];
	mk->slot[i].nkeys = nk;
	mk->n = i + 1;
	return QM_OK;
}

enum qm_err msg_keys_self(struct qm_client *c, const struct acct_conn *ac,
                          struct msg_keys *mk, struct qm_error *err)
{
	return own_identity(c, ac->a.id, &mk->self, err);
}

enum qm_err msg_keys_peer(struct qm_client *c, const char *address,
                          struct msg_keys *mk, struct qm_error *err)
{
	enum qm_err rc;

	if (mk->n >= QM_CLIENT_MAXRCPTS)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "more than %d recipients",
		                    QM_CLIENT_MAXRCPTS);
	rc = contact_pubid(c, address, &mk->peer[mk->n], NULL, err);
	if (!rc)
		mk->n++;
	return rc;
}

/* Levels 1 and 2: one key request per recipient SAE, for a plaintext of
 * ptlen bytes (level 1: as many key bytes, plus the MAC key; level 2: one
 * 256-bit key). */
static enum qm_err seal_qkd(const struct acct_conn *ac,
                            const char (*sae)[QM_STORE_NAMEMAX], size_t n,
                            size_t ptlen, struct msg_keys *mk,
                            enum keys_stage *stage, struct qm_error *err)
{
	struct qm_kms *kms = NULL;
	enum qm_err rc;

	rc = acct_kms_new(ac, &kms, err);
	if (rc)
		return rc;
	*stage = KEYS_KME;
	for (size_t i = 0; i < n && !rc; i++) {
		struct qm_kms_keys *ks = NULL;

		if (mk->level == 1)
			rc = qm_kms_material_get(
			    kms, sae[i], qm_l1_key_bytes(ptlen), &ks, err);
		else
			rc = qm_kms_keys_get(kms, sae[i], 1, QM_L2_KEYBYTES * 8,
			                     NULL, 0, &ks, err);
		if (!rc)
			rc = msg_keys_take(mk, sae[i], &ks, err);
		qm_kms_keys_free(&ks);
	}
	qm_kms_free(&kms);
	return rc;
}

enum qm_err msg_keys_seal(struct qm_client *c, const struct acct_conn *ac,
                          const char *const *rcpts,
                          const char (*sae)[QM_STORE_NAMEMAX], size_t n,
                          size_t ptlen, struct msg_keys *mk,
                          enum keys_stage *stage, struct qm_error *err)
{
	enum qm_err rc;

	*stage = KEYS_LOCAL;
	if (!msg_keys_qkd(mk)) {
		rc = msg_keys_self(c, ac, mk, err);
		for (size_t i = 0; i < n && !rc; i++)
			rc = msg_keys_peer(c, rcpts[i], mk, err);
		return rc;
	}
	/* the key IDs and the ciphertext must be written once the keys are
	 * out (the KME forgets them): room for them first */
	*stage = KEYS_PREP;
	rc = home_space_check(c, (uint64_t)ptlen * 3 + 1024 * 1024,
	                      "fetch keys for an outbox message", err);
	if (!rc)
		rc = seal_qkd(ac, sae, n, ptlen, mk, stage, err);
	return rc;
}

void msg_keys_seal_params(const struct msg_keys *mk, const struct qm_bound *b,
                          struct qm_seal_params *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->level = mk->level;
	sp->bound = b;
	if (msg_keys_qkd(mk)) {
		sp->slots = mk->slot;
		sp->nslots = mk->n;
	} else {
		sp->sender = mk->self;
		sp->rcpts = (const struct qm_pubid *const *)mk->peer;
		sp->nrcpts = mk->n;
	}
}

void msg_keys_open_params(const struct msg_keys *mk, const struct qm_bound *b,
                          size_t slot, struct qm_open_params *op)
{
	memset(op, 0, sizeof(*op));
	op->bound = b;
	op->slot = slot;
	if (msg_keys_qkd(mk)) {
		op->keys = mk->qk[0];
		op->nkeys = mk->n ? mk->slot[0].nkeys : 0;
	} else {
		op->self = mk->self;
		op->sender = mk->peer[0];
	}
}
