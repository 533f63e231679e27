/* SPDX-License-Identifier: MIT */
/*
 * Keys that travel with mail: every message this home sends carries the
 * account's QMail-Identity header (docs/FORMAT.md), inside the protected
 * message and on the outer one; what a received one carries is kept in the
 * keyring as the receiver may believe it (trust on first use): a first key
 * for an address is UNVERIFIED, a different one CHANGED and not used until
 * the user accepts it, a verified key is never replaced. A header that
 * came in an encrypted message counts only once the message opened, and
 * at levels 3 and 4 only when it names the key that signed; one whose
 * address is not the From address is ignored. Safety numbers: one number
 * per pair of identities, both sides compute the same.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The account's own public identity. */
static enum qm_err own_pubid(struct qm_client *c, int64_t account_id,
                             struct qm_pubid **out, struct qm_error *err)
{
	struct qm_store_key k;
	enum qm_err rc;

	memset(&k, 0, sizeof(k));
	rc = qm_store_key_own_get(c->store, account_id, QM_CLIENT_ID_ALG, &k,
	                          NULL, err);
	if (!rc)
		rc = qm_crypto_pubid_from_bytes(k.pub, k.pub_len, out, err);
	qm_store_key_free(&k);
	return rc;
}

enum qm_err client_idhdr_add(struct qm_client *c, const struct acct_conn *ac,
                             struct qm_buf *msg, struct qm_error *err)
{
	return client_idhdr_add_from(c, ac, NULL, msg, err);
}

enum qm_err client_idhdr_make(struct qm_client *c, const struct acct_conn *ac,
                              const char *from, struct qm_buf *hdr,
                              struct qm_error *err)
{
	struct qm_pubid *me = NULL;
	char addr[QM_STORE_ADDRMAX];
	enum qm_err rc;

	rc = client_addr_bare(from && *from ? from : ac->a.address, addr,
	                      sizeof(addr), err);
	if (!rc)
		rc = own_pubid(c, ac->a.id, &me, err);
	if (!rc)
		rc = qm_crypto_idhdr_build(me, addr, ac->a.sae_id, ac->kme_id,
		                           hdr, err);
	if (rc == QM_ERR_INVAL && me) /* an SAE or KME ID it cannot carry */
		rc = qm_crypto_idhdr_build(me, addr, NULL, NULL, hdr, err);
	if (rc == QM_ERR_NOTFOUND || rc == QM_ERR_INVAL ||
	    rc == QM_ERR_PARSE) {
		/* no identity (an account without one) or an address the
		 * header cannot carry: the message goes without it */
		qm_error_clear(err);
		qm_buf_reset(hdr);
		rc = QM_OK;
	} else if (rc) {
		qm_error_prefix(err,
		                "the identity header of %s: ", ac->a.address);
	}
	qm_crypto_pubid_free(&me);
	return rc;
}

enum qm_err client_idhdr_add_from(struct qm_client *c,
                                  const struct acct_conn *ac, const char *from,
                                  struct qm_buf *msg, struct qm_error *err)
{
	struct qm_buf hdr, nb;
	enum qm_err rc;

	qm_buf_init(&hdr, 16 * 1024);
	if (msg->secure)
		qm_buf_init_secure(&nb, msg->max);
	else
		qm_buf_init(&nb, msg->max);
	rc = client_idhdr_make(c, ac, from, &hdr, err);
	if (rc || !hdr.len)
		goto out;
	rc = qm_buf_append(&nb, hdr.data, hdr.len, err);
	if (!rc && msg->len)
		rc = qm_buf_append(&nb, msg->data, msg->len, err);
	if (!rc) {
		qm_buf_free(msg);
		*msg = nb;
		qm_buf_init(&nb, 0); /* msg's now */
	} else {
		qm_error_prefix(err, "the identity header of %s: ",
		                ac->a.address);
	}
out:
	qm_buf_free(&nb);
	qm_buf_free(&hdr);
	return rc;
}

/* 1 when the header's address is from (case aside). */
static int addr_is(const struct qm_idhdr *h, const char *from)
{
	return strcasecmp(h->addr, from) == 0;
}

enum qm_err client_idhdr_signer(const char *value, const char *from,
                                const unsigned char fpr[QM_FPR_BYTES],
                                struct qm_pubid **out, struct qm_error *err)
{
	struct qm_idhdr h;
	enum qm_err rc;

	if (!value || !value[0])
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "the message carries no identity header");
	rc = qm_crypto_idhdr_parse(value, strlen(value), &h, err);
	if (rc)
		return rc;
	if (!addr_is(&h, from))
		rc = qm_error_set(err, QM_ERR_AUTH,
		                  "its identity header names %s, not the "
		                  "sender %s",
		                  h.addr, from);
	else if (!fpr || qm_ct_eq(h.fpr, fpr, QM_FPR_BYTES) != 0)
		rc = qm_error_set(err, QM_ERR_AUTH,
		                  "its identity header carries another key "
		                  "than the one that signed");
	if (!rc) {
		*out = h.key;
		h.key = NULL;
	}
	qm_crypto_idhdr_clear(&h);
	return rc;
}

/* A learned contact for address when it has none yet: the keyring's
 * views list it, with the SAE ID the header suggests (sae, may be ""),
 * used once the user confirms it. An existing contact is never changed
 * here (nor by the store: what a message suggests never replaces). */
static void learn_contact(struct qm_client *c, int64_t account_id,
                          const char *address, const char *sae)
{
	struct qm_store_contact ct;

	if (qm_store_contact_get(c->store, account_id, address, &ct, NULL) !=
	    QM_ERR_NOTFOUND)
		return;
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, address, sizeof(ct.address));
	qm_strlcpy(ct.sae_id, sae, sizeof(ct.sae_id));
	ct.source = QM_CONTACT_LEARNED;
	/* best effort: the next message tries again */
	QM_IGNORE(qm_store_contact_put(c->store, account_id, &ct, NULL));
}

/* Appends "; what" to the message's reason (the security details); a
 * plain message's starts by saying it is not encrypted. */
static void reason_add(struct recv_outcome *oc, const char *what)
{
	size_t have;

	if (!oc->reason[0] && oc->verify == QM_VERIFY_NOT_QMAIL)
		qm_strlcpy(oc->reason,
		           "not encrypted: anyone on the way could read or "
		           "change it",
		           sizeof(oc->reason));
	have = strlen(oc->reason);
	snprintf(oc->reason + have, sizeof(oc->reason) - have, "%s%s",
	         have ? "; " : "", what);
}

void client_idhdr_learn(struct qm_client *c, const struct acct_conn *ac,
                        const struct qm_mail_parsed *mp,
                        const struct qm_mail_content *mc,
                        struct recv_outcome *oc)
{
	struct qm_idhdr h;
	struct qm_buf raw;
	enum qm_store_trust t = QM_TRUST_UNVERIFIED;
	char from[QM_STORE_ADDRMAX], me[QM_STORE_ADDRMAX];
	char fpr[QM_FPR_TEXTLEN], note[QM_ERR_MSGMAX];
	const char *value = mc && mc->identity ? mc->identity : "";
	int plain = oc->verify == QM_VERIFY_NOT_QMAIL, keys_only = 0;

	/* only what a message that opened (or plain mail) says */
	if (!mp || !mc ||
	    !(plain || oc->verify == QM_VERIFY_OK ||
	      oc->verify == QM_VERIFY_UNVERIFIED_SENDER))
		return;
	if (!value[0] && !plain && oc->key_news && mp->identity) {
		/* no protected copy: the outer one's key signed the
		 * message (pq_keys checked it), its other values are not
		 * authenticated */
		value = mp->identity;
		keys_only = 1;
	}
	if (!value[0])
		return;
	if (client_addr_bare(mp->hdrs.from, from, sizeof(from), NULL) ||
	    client_addr_bare(ac->a.address, me, sizeof(me), NULL) ||
	    strcasecmp(from, me) == 0)
		return;
	if (qm_crypto_idhdr_parse(value, strlen(value), &h, NULL) != QM_OK)
		return;
	qm_crypto_fpr_text(h.fpr, fpr);
	/* levels 3 and 4: only the key that signed */
	if (!addr_is(&h, from) ||
	    (!plain && oc->level >= 3 && strcmp(fpr, oc->signer) != 0)) {
		qm_crypto_idhdr_clear(&h);
		return;
	}
	qm_buf_init(&raw, 16 * 1024);
	if (qm_crypto_pubid_to_bytes(h.key, &raw, NULL) == QM_OK &&
	    qm_store_key_contact_put(c->store, from, QM_CLIENT_ID_ALG, raw.data,
	                             raw.len, &t, NULL) == QM_OK &&
	    t == QM_TRUST_CHANGED && oc->key_news != 2) {
		/* (a level-3/4 message signed by it says so already) */
		snprintf(note, sizeof(note),
		         "KEY CHANGED: this message carries key %s for %.100s, "
		         "not the key known for that address; it is not used "
		         "until you compare the safety number and accept it",
		         fpr, from);
		reason_add(oc, note);
	}
	learn_contact(c, ac->a.id, from, keys_only ? "" : h.sae);
	qm_buf_free(&raw);
	qm_crypto_idhdr_clear(&h);
}

/* The key a contact presents: a CHANGED one that awaits the user's
 * decision first, else the one in use; QM_ERR_NOTFOUND when none. */
static enum qm_err contact_key(struct qm_client *c, const char *bare,
                               struct qm_store_key *out, struct qm_error *err)
{
	struct qm_store_key *ks = NULL;
	size_t n = 0, pick = SIZE_MAX;
	enum qm_err rc;

	rc = qm_store_key_contact_list(c->store, bare, &ks, &n, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ks[i].alg, QM_CLIENT_ID_ALG) != 0 ||
		    ks[i].trust == QM_TRUST_RETIRED)
			continue;
		if (pick == SIZE_MAX || (ks[i].trust == QM_TRUST_CHANGED &&
		                         ks[pick].trust != QM_TRUST_CHANGED))
			pick = i;
	}
	if (pick == SIZE_MAX) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "no public key is known for %s: it comes "
		                  "with the first message from that address, "
		                  "or import it",
		                  bare);
	} else {
		*out = ks[pick];
		ks[pick].pub = NULL;
	}
	for (size_t i = 0; i < n; i++)
		qm_store_key_free(&ks[i]);
	free(ks);
	return rc;
}

enum qm_err qm_client_key_safety(struct qm_client *c, int64_t account_id,
                                 const char *address,
                                 struct qm_client_safety *out,
                                 struct qm_error *err)
{
	struct qm_store_account a;
	struct qm_store_key k;
	struct qm_pubid *me = NULL, *them = NULL;
	unsigned char fme[QM_FPR_BYTES], fthem[QM_FPR_BYTES];
	char mine[QM_STORE_ADDRMAX];
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	memset(&k, 0, sizeof(k));
	rc = client_addr_bare(address, out->address, sizeof(out->address), err);
	if (!rc)
		rc = qm_store_account_get(c->store, account_id, &a, err);
	if (!rc)
		rc = client_addr_bare(a.address, mine, sizeof(mine), err);
	if (!rc)
		rc = own_pubid(c, account_id, &me, err);
	if (!rc)
		rc = contact_key(c, out->address, &k, err);
	if (!rc)
		rc = qm_crypto_pubid_from_bytes(k.pub, k.pub_len, &them, err);
	if (rc)
		goto out;
	qm_crypto_pubid_fingerprint(me, fme);
	qm_crypto_pubid_fingerprint(them, fthem);
	rc = qm_crypto_safety_number(mine, fme, out->address, fthem,
	                             out->number, err);
	if (rc)
		goto out;
	qm_strlcpy(out->own_address, mine, sizeof(out->own_address));
	qm_crypto_fpr_text(fme, out->own_fpr);
	qm_crypto_fpr_text(fthem, out->fpr);
	out->trust = k.trust;
	out->altered = k.label == QM_LABEL_ALTERED;
out:
	qm_crypto_pubid_free(&them);
	qm_crypto_pubid_free(&me);
	qm_store_key_free(&k);
	return rc;
}

/* Digits of a safety number or fingerprint as typed, without spaces. */
static void digits_only(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in && o + 1 < outlen; in++)
		if (*in != ' ' && *in != '-' && *in != ':')
			out[o++] = *in;
	out[o] = '\0';
}

enum qm_err qm_client_key_safety_verify(struct qm_client *c, int64_t account_id,
                                        const char *address, const char *number,
                                        int accept_changed,
                                        struct qm_error *err)
{
	struct qm_client_safety s;
	char want[QM_SAFETY_TEXTLEN], given[QM_SAFETY_TEXTLEN + 64];
	enum qm_err rc;

	rc = qm_client_key_safety(c, account_id, address, &s, err);
	if (rc)
		return rc;
	digits_only(s.number, want, sizeof(want));
	digits_only(number ? number : "", given, sizeof(given));
	if (strlen(given) != strlen(want) ||
	    qm_ct_eq(given, want, strlen(want)) != 0)
		return qm_error_set(err, QM_ERR_AUTH,
		                    "the safety number given is not the one "
		                    "for you and %s: do not trust this key; "
		                    "compare the number again with the contact",
		                    s.address);
	if (s.trust == QM_TRUST_CHANGED && !accept_changed)
		return qm_error_set(err, QM_ERR_STATE,
		                    "the key of %s changed since it was last "
		                    "seen: accepting the new key is a decision "
		                    "of its own (the safety number matches the "
		                    "new key)",
		                    s.address);
	return qm_client_key_verify(c, s.address, s.fpr, err);
}
