/* SPDX-License-Identifier: MIT */
/*
 * Asking the account's KME for the keys of one received message, and
 * sorting what can go wrong into what it means for the message
 * (docs/CLIENT.md, "Receiving"): the message is bad (the KME refuses its
 * values: 400), its keys are gone (not found, not addressed to this SAE),
 * the account cannot use its KME now (none configured, the KME refuses
 * this SAE's certificate, TLS), the KME cannot be reached or fails as a
 * whole, or it failed for this one message. When the answer alone does not
 * tell (a 401 may mean "not your key" or "not you"; a time-out may be the
 * KME's or this request's), one Get status with the sender's SAE ID asks
 * the KME whether it serves this SAE at all.
 */
#include "private.h"

#include <jansson.h>
#include <string.h>

/* What the first answer leaves open. */
enum open_q {
	ASK_NONE,
	ASK_DENIED, /* 401/403: this key, or this SAE? */
	ASK_DOWN,   /* no answer or 5xx: the KME, or this request? */
};

static enum kme_fate first_look(enum qm_err rc, long hs, enum open_q *q)
{
	*q = ASK_NONE;
	if (rc == QM_OK)
		return KME_GOT;
	if (rc == QM_ERR_NOMEM)
		return KME_FATAL;
	if (rc == QM_ERR_NOTFOUND)
		return KME_GONE;
	if (rc == QM_ERR_INVAL)
		return KME_BAD; /* refused by the ETSI layer's own checks */
	if (rc == QM_ERR_TLS)
		return KME_ACCOUNT;
	if (hs == 400)
		return KME_BAD;
	if (hs == 401 || hs == 403 || rc == QM_ERR_DENIED) {
		*q = ASK_DENIED;
		return KME_GONE;
	}
	if (hs >= 500 || rc == QM_ERR_NET || rc == QM_ERR_TIMEOUT ||
	    rc == QM_ERR_UNAVAIL || hs == 0) {
		*q = ASK_DOWN;
		return KME_TRANSIENT;
	}
	if (hs == 200)
		return KME_TRANSIENT; /* an answer without what was asked */
	return KME_ACCOUNT;           /* 404, a redirect: not an ETSI KME */
}

/*
 * Get status towards sender_sae: does the KME answer and accept this SAE?
 * KME_GOT when it does (any answer but 401/403/5xx), else what it says of
 * the KME as a whole, with why filled.
 */
static enum kme_fate probe(struct qm_kms *kms, const char *sender_sae,
                           struct qm_error *why)
{
	struct qm_kms_status st;
	struct qm_error e;
	enum qm_err rc;
	long hs;

	qm_error_clear(&e);
	rc = qm_kms_status_get(kms, sender_sae, &st, &e);
	hs = qm_kms_last_status(kms);
	if (rc == QM_OK || (hs > 0 && hs < 500 && hs != 401 && hs != 403))
		return KME_GOT;
	if (rc == QM_ERR_NOMEM)
		return KME_FATAL;
	if (why)
		*why = e;
	if (rc == QM_ERR_TLS || hs == 401 || hs == 403)
		return KME_ACCOUNT;
	return KME_DOWN;
}

static int id_fits(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

enum kme_fate client_recv_ids_check(const char *sender_sae,
                                    const char *const *key_ids, size_t n,
                                    struct qm_error *why)
{
	if (!sender_sae[0]) {
		qm_error_set(why, QM_ERR_PARSE,
		             "the message names no sender SAE, so its keys "
		             "cannot be asked for");
		return KME_BAD;
	}
	if (!id_fits(sender_sae, QM_KMS_ID_MAX)) {
		qm_error_set(why, QM_ERR_PARSE,
		             "the message's sender SAE ID is malformed (1 to "
		             "%d printable characters)",
		             QM_KMS_ID_MAX);
		return KME_BAD;
	}
	for (size_t i = 0; i < n; i++)
		if (!id_fits(key_ids[i], QM_STORE_KEYIDMAX - 1)) {
			qm_error_set(why, QM_ERR_PARSE,
			             "key ID %zu of the message is malformed "
			             "(1 to %d printable characters)",
			             i + 1, QM_STORE_KEYIDMAX - 1);
			return KME_BAD;
		}
	return KME_GOT;
}

enum kme_fate client_recv_kme_keys(const struct acct_conn *ac,
                                   const char *sender_sae,
                                   const char *const *key_ids, size_t n,
                                   struct qm_kms_keys **out,
                                   struct qm_error *why)
{
	struct qm_kms *kms = NULL;
	struct qm_kms_keys *ks = NULL;
	enum open_q q;
	enum kme_fate f;
	enum qm_err rc;

	*out = NULL;
	qm_error_clear(why);
	if (!ac->a.kme_url[0] || !ac->a.sae_id[0]) {
		qm_error_set(why, QM_ERR_STATE,
		             "account %s has no KME configured (its URL and "
		             "this account's SAE ID): levels 1 and 2 need one",
		             ac->a.address);
		return KME_ACCOUNT;
	}
	rc = client_acct_kms_new(ac, &kms, why);
	if (rc == QM_ERR_NOMEM)
		return KME_FATAL;
	if (rc) {
		qm_error_prefix(why, "the KME of account %s cannot be used: ",
		                ac->a.address);
		return KME_ACCOUNT;
	}
	rc = qm_kms_material_by_ids(kms, sender_sae, key_ids, n, &ks, why);
	if (rc == QM_OK && !ks)
		rc = qm_error_set(why, QM_ERR_PROTO, "the KME sent no keys");
	f = first_look(rc, qm_kms_last_status(kms), &q);
	if (q != ASK_NONE) {
		struct qm_error pe;
		enum kme_fate p;

		qm_error_clear(&pe);
		p = probe(kms, sender_sae, &pe);
		if (p == KME_FATAL || p == KME_ACCOUNT) {
			f = p;
			*why = pe;
		} else if (p == KME_DOWN) {
			f = KME_DOWN;
		}
	}
	qm_kms_free(&kms);
	if (f == KME_GOT)
		*out = ks;
	else
		qm_kms_keys_free(&ks);
	return f;
}

void client_kme_path_of(const struct qm_kms_keys *ks, struct kme_path *p)
{
	size_t n = 0;
	const char *const *ex = qm_kms_keys_extensions(ks, &n);

	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_loads(ex[i], 0, NULL);
		json_t *hops = json_object_get(j, "hops");
		json_t *tn = json_object_get(j, "trusted_nodes");
		const char *src =
		    json_string_value(json_object_get(j, "source_KME_ID"));
		json_int_t h = json_integer_value(hops);
		json_int_t t = json_integer_value(tn);

		/* only what is whole and plausible: a KME that says more
		 * hops than a path can have, or more trusted nodes than
		 * hops allow, says nothing usable */
		if (json_is_true(json_object_get(j, "relayed")) &&
		    json_is_integer(hops) && json_is_integer(tn) && h > 0 &&
		    h <= QM_KME_PATH_MAXHOPS && t >= 0 && t < h &&
		    (!p->relayed || h > p->hops)) {
			p->relayed = 1;
			p->hops = (int)h;
			p->trusted = (int)t;
			p->source[0] = '\0';
			if (src && id_fits(src, sizeof(p->source) - 1))
				qm_strlcpy(p->source, src, sizeof(p->source));
		}
		json_decref(j);
	}
}
