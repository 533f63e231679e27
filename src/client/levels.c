/* SPDX-License-Identifier: MIT */
/*
 * Which security level a message may use, decided before any key is
 * fetched: the user's level settings (default_level, min_level), each
 * contact's minimum level, the recipients' SAE IDs (confirmed, and never
 * one SAE ID for two recipients of one copy, which the envelope would
 * refuse only after the keys were fetched) and public keys, and for level
 * 1 the KME's status. The send path (send.c) runs the same checks before
 * a message enters the outbox and again before each key fetch, so that a
 * message that cannot go out never costs QKD keys.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ settings */

static int level_setting_name(const char *name)
{
	return name && (strcmp(name, QM_CLIENT_SET_DEFAULT_LEVEL) == 0 ||
	                strcmp(name, QM_CLIENT_SET_MIN_LEVEL) == 0);
}

enum qm_err qm_client_level_setting_get(struct qm_client *c, const char *name,
                                        int *v, struct qm_error *err)
{
	struct qm_buf b;
	struct qm_error e;
	long long x;
	enum qm_err rc;

	*v = 0;
	if (!level_setting_name(name))
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "there is no level setting named %.64s",
		                    name ? name : "");
	qm_buf_init(&b, 64);
	qm_error_clear(&e);
	rc = qm_store_setting_get(c->store, 0, name, &b, &e);
	if (rc == QM_ERR_NOTFOUND) {
		rc = QM_OK;
	} else if (rc) {
		if (err)
			*err = e;
	} else if (!b.data ||
	           qm_parse_ll((const char *)b.data, 0, 4, &x, NULL) != QM_OK) {
		/* an edited or damaged value is never read as "no floor" */
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "the setting %s holds \"%.32s\", which is no "
		                  "security level: set it again (1 to 4, or 0 "
		                  "for none)",
		                  name, b.data ? (const char *)b.data : "");
	} else {
		*v = (int)x;
	}
	qm_buf_free(&b);
	return rc;
}

enum qm_err qm_client_level_setting_set(struct qm_client *c, const char *name,
                                        const char *value, struct qm_error *err)
{
	int is_min = name && strcmp(name, QM_CLIENT_SET_MIN_LEVEL) == 0;
	long long x = -1;
	char text[4];

	if (!level_setting_name(name))
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "there is no level setting named %.64s",
		                    name ? name : "");
	if (value && (strcmp(value, "default") == 0 ||
	              (is_min && strcmp(value, "none") == 0)))
		x = 0;
	else if (!value || qm_parse_ll(value, 0, 4, &x, NULL) != QM_OK)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    is_min ? "%s is the weakest level a message may use: 1 "
		             "(one-time pad), 2 (QKD-AES), 3 (post-quantum) or "
		             "4 (classical), or 0 or \"none\" for no floor; "
		             "\"%.32s\" is none of these"
		           : "%s is the level of a message sent without one: 1 "
		             "(one-time pad), 2 (QKD-AES), 3 (post-quantum) or "
		             "4 (classical), or 0 or \"default\" for each "
		             "account's own; \"%.32s\" is none of these",
		    name, value ? value : "");
	snprintf(text, sizeof(text), "%lld", x);
	return qm_store_setting_set(c->store, 0, name, text, err);
}

enum qm_err qm_client_level_prefs(struct qm_client *c, int64_t account_id,
                                  struct qm_client_level_prefs *out,
                                  struct qm_error *err)
{
	struct qm_store_account a;
	enum qm_err rc;
	int def = 0, min = 0;

	memset(out, 0, sizeof(*out));
	out->account_default = 2;
	if (account_id > 0) {
		rc = qm_store_account_get(c->store, account_id, &a, err);
		if (rc)
			return rc;
		if (a.default_level >= 1 && a.default_level <= 4)
			out->account_default = a.default_level;
	}
	rc = qm_client_level_setting_get(c, QM_CLIENT_SET_DEFAULT_LEVEL, &def,
	                                 err);
	if (!rc)
		rc = qm_client_level_setting_get(c, QM_CLIENT_SET_MIN_LEVEL,
		                                 &min, err);
	if (rc)
		return rc;
	out->default_set = def != 0;
	out->default_level = def ? def : out->account_default;
	out->min_level = min;
	return QM_OK;
}

/* ---------------------------------------------------------- recipients */

int client_rcpts_has(const struct rcpts *r, const char *bare)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i], bare) == 0)
			return 1;
	return 0;
}

enum qm_err client_rcpts_add(struct rcpts *r, const char *addr, int *dup,
                             struct qm_error *err)
{
	char bare[QM_STORE_ADDRMAX];
	char **nv;
	enum qm_err rc;

	if (dup)
		*dup = 0;
	rc = client_addr_bare(addr, bare, sizeof(bare), err);
	if (rc)
		return rc;
	if (client_rcpts_has(r, bare)) {
		if (dup)
			*dup = 1;
		return QM_OK;
	}
	nv = realloc(r->v, (r->n + 1) * sizeof(*nv));
	if (!nv)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	r->v = nv;
	r->v[r->n] = strdup(bare);
	if (!r->v[r->n])
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	r->n++;
	return QM_OK;
}

void client_rcpts_free(struct rcpts *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

/* Appends ", what" (or what) to a note of QM_ERR_MSGMAX bytes. */
static void note_add(char *note, const char *what)
{
	size_t have = strlen(note);

	if (have && have + 2 < QM_ERR_MSGMAX) {
		memcpy(note + have, ", ", 3);
		have += 2;
	}
	qm_strlcpy(note + have, what, QM_ERR_MSGMAX - have);
}

/* -------------------------------------------------------------- checks */

/* The setting min_level: QM_ERR_UNAVAIL naming it when level is below. */
static enum qm_err floor_check(struct qm_client *c, int level,
                               struct qm_error *err)
{
	int min = 0;
	enum qm_err rc;

	rc = qm_client_level_setting_get(c, QM_CLIENT_SET_MIN_LEVEL, &min, err);
	if (rc)
		return rc;
	if (min && level > min)
		return qm_error_set(
		    err, QM_ERR_UNAVAIL,
		    "level %d is below the setting min_level "
		    "(\"never send below\"), which allows level "
		    "%d or stronger for every message",
		    level, min);
	return QM_OK;
}

/* Each recipient contact's own floor (1 is the strongest); a contact whose
 * record was changed on disk has an unknown floor, so nothing goes to it
 * until the user enters it again (docs/STORE.md). */
static enum qm_err contact_floors(struct qm_client *c,
                                  const struct acct_conn *ac, int level,
                                  const char *const *rcpts, size_t n,
                                  struct qm_error *err)
{
	for (size_t i = 0; i < n; i++) {
		struct qm_store_contact ct;

		if (qm_store_contact_get(c->store, ac->a.id, rcpts[i], &ct,
		                         NULL) != QM_OK)
			continue;
		if (ct.label == QM_LABEL_ALTERED)
			return qm_error_set(
			    err, QM_ERR_STATE,
			    "the security record of contact %s "
			    "(SAE ID, confirmation, minimum "
			    "level) was changed on disk outside "
			    "QMail: enter the contact again "
			    "before sending to it",
			    rcpts[i]);
		if (ct.min_level && level > ct.min_level)
			return qm_error_set(
			    err, QM_ERR_UNAVAIL,
			    "you set level %d as the weakest allowed for %s; "
			    "level %d is weaker",
			    ct.min_level, rcpts[i], level);
	}
	return QM_OK;
}

/* Levels 3 and 4: each recipient's public key known and not changed; those
 * not verified are added to li->unverified (li may be NULL). */
static enum qm_err pubkeys_check(struct qm_client *c, int level,
                                 const char *const *rcpts, size_t n,
                                 struct level_info *li, struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	for (size_t i = 0; i < n && !rc; i++) {
		struct qm_pubid *p = NULL;
		enum qm_store_trust t = QM_TRUST_UNVERIFIED;

		rc = client_contact_pubid(c, rcpts[i], &p, &t, err);
		qm_crypto_pubid_free(&p);
		if (rc == QM_ERR_STATE) {
			rc = qm_error_set(
			    err, QM_ERR_STATE,
			    "the public key of %s changed: compare "
			    "fingerprints and verify the new key "
			    "before sending at level %d",
			    rcpts[i], level);
			qm_error_hint(err, QM_HINT_KEY_CHANGED, rcpts[i]);
		}
		if (!rc && t != QM_TRUST_VERIFIED && li)
			note_add(li->unverified, rcpts[i]);
	}
	return rc;
}

/* Levels 1 and 2: the account's KME and SAE ID, each recipient's confirmed
 * SAE ID into sae[i], and no SAE ID twice. */
static enum qm_err saes_check(struct qm_client *c, const struct acct_conn *ac,
                              int level, const char *const *rcpts, size_t n,
                              char (*sae)[QM_STORE_NAMEMAX],
                              struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	if (!ac->a.kme_url[0] || !ac->a.sae_id[0]) {
		if (!ac->a.kme_url[0])
			qm_error_set(err, QM_ERR_STATE,
			             "levels 1 and 2 need a KME: account %s "
			             "has none configured",
			             ac->a.address);
		else
			qm_error_set(err, QM_ERR_STATE,
			             "levels 1 and 2 need the SAE ID of account "
			             "%s (its name at the KME): it has none",
			             ac->a.address);
		return qm_error_hint(err, QM_HINT_ACCOUNT_KME, ac->a.address);
	}
	for (size_t i = 0; i < n && !rc; i++) {
		rc = client_contact_sae(c, ac->a.id, rcpts[i], sae[i],
		                        sizeof(sae[i]), err);
		for (size_t j = 0; j < i && !rc; j++)
			if (strcmp(sae[i], sae[j]) == 0)
				/* the KME hands a key to an SAE once: one of
				 * the two could not read the message */
				rc = qm_error_set(
				    err, QM_ERR_UNAVAIL,
				    "%s and %s have the same SAE ID (%s): a "
				    "QKD "
				    "key reaches one SAE once, so only one of "
				    "them could read a level %d message; send "
				    "it to them separately, or at level 3 or "
				    "4, "
				    "or correct the SAE ID of the contact",
				    rcpts[j], rcpts[i], sae[i], level);
	}
	return rc;
}

enum qm_err client_copy_check(struct qm_client *c, const struct acct_conn *ac,
                              int level, const char *const *rcpts, size_t n,
                              char (*sae)[QM_STORE_NAMEMAX],
                              struct level_info *li, struct qm_error *err)
{
	char(*own)[QM_STORE_NAMEMAX] = NULL;
	enum qm_err rc;

	if (level < 1 || level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "security level %d does not exist: choose "
		                    "1 (one-time pad), 2 (QKD-AES), 3 "
		                    "(post-quantum) or 4 (classical)",
		                    level);
	rc = floor_check(c, level, err);
	if (!rc)
		rc = contact_floors(c, ac, level, rcpts, n, err);
	if (rc)
		return rc;
	if (level >= 3)
		return pubkeys_check(c, level, rcpts, n, li, err);
	if (!sae) {
		own = calloc(n ? n : 1, sizeof(*own));
		if (!own)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		sae = own;
	}
	rc = saes_check(c, ac, level, rcpts, n, sae, err);
	free(own);
	return rc;
}

/*
 * Whether a KME whose status reports too little key should be asked all
 * the same (qm_kms_material_get decides the same way): when it reports no
 * key at all (a KME that makes keys on demand does), or when the material
 * fits in one key request, which a KME serves or refuses whole, so that
 * asking hands out nothing when the answer is no.
 */
static int l1_ask(const struct qm_client_kme *ks, uint64_t need)
{
	uint64_t size = ks->max_key_size ? ks->max_key_size : ks->key_size;
	uint64_t nkeys, per;

	if (ks->stored_key_count == 0)
		return 1;
	size -= size % 8;
	if (size > 8ull * 1024 * 1024)
		size = 8ull * 1024 * 1024;
	if (size == 0)
		return 0;
	nkeys = (need * 8 + size - 1) / size;
	per = ks->max_key_per_request ? ks->max_key_per_request : 1;
	return nkeys <= per;
}

/* Level 1 towards one recipient: the KME's status for its SAE. */
static enum qm_err l1_status(struct qm_client *c, const struct acct_conn *ac,
                             const char *rcpt, const char *sae, uint64_t need,
                             struct level_info *li, struct qm_error *err)
{
	struct qm_client_kme ks;
	char note[QM_ERR_MSGMAX];
	enum qm_err rc = qm_client_kme_status(c, ac->a.id, sae, &ks, err);

	if (rc)
		return rc;
	if (!ks.reachable)
		return qm_error_set(err, QM_ERR_UNAVAIL,
		                    "the KME cannot be reached: %s",
		                    ks.message);
	if (ks.pool_bytes >= need)
		return QM_OK;
	if (!l1_ask(&ks, need))
		return qm_error_set(
		    err, QM_ERR_UNAVAIL,
		    "level 1 needs %llu bytes of QKD key for this "
		    "message to %s; the KME holds %llu bytes for "
		    "that link now",
		    (unsigned long long)need, rcpt,
		    (unsigned long long)ks.pool_bytes);
	if (li) {
		li->ask = 1;
		snprintf(
		    note, sizeof(note),
		    "the KME reports %llu bytes of key for %s, %llu are "
		    "needed: it is asked for them when the message is sent "
		    "(a KME that makes keys on demand reports none), and "
		    "level 1 is used only if it hands them out",
		    (unsigned long long)ks.pool_bytes, rcpt,
		    (unsigned long long)need);
		note_add(li->note, note);
	}
	return QM_OK;
}

enum qm_err client_level_check(struct qm_client *c, const struct acct_conn *ac,
                               int level, const char *const *tocc, size_t ntocc,
                               const char *const *bcc, size_t nbcc,
                               uint64_t msg_bytes, struct level_info *li,
                               struct qm_error *err)
{
	char(*sae)[QM_STORE_NAMEMAX] = NULL;
	uint64_t need = qm_crypto_l1_key_bytes(msg_bytes);
	enum qm_err rc;

	if (li) {
		memset(li, 0, sizeof(*li));
		li->needed = need;
	}
	sae = calloc(ntocc + nbcc ? ntocc + nbcc : 1, sizeof(*sae));
	if (!sae)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = client_copy_check(c, ac, level, tocc, ntocc,
	                       level <= 2 ? sae : NULL, li, err);
	for (size_t i = 0; i < nbcc && !rc; i++)
		rc = client_copy_check(c, ac, level, &bcc[i], 1,
		                       level <= 2 ? &sae[ntocc + i] : NULL, li,
		                       err);
	for (size_t i = 0; level == 1 && i < ntocc + nbcc && !rc; i++)
		rc = l1_status(c, ac, i < ntocc ? tocc[i] : bcc[i - ntocc],
		               sae[i], need, li, err);
	if (!rc && li && li->unverified[0])
		snprintf(li->note, sizeof(li->note),
		         "not verified: the public key of %.380s was not "
		         "compared with its owner (fingerprints); the message "
		         "is encrypted to the key as it is",
		         li->unverified);
	free(sae);
	return rc;
}

enum qm_err client_compose_rcpts(const struct qm_client_compose *m,
                                 struct rcpts *tocc, struct rcpts *bcc,
                                 struct qm_error *err)
{
	const char *const *lists[3] = {m->to, m->cc, m->bcc};
	size_t counts[3] = {m->nto, m->ncc, m->nbcc};
	enum qm_err rc = QM_OK;

	for (size_t l = 0; l < 3 && !rc; l++)
		for (size_t i = 0; i < counts[l] && !rc; i++) {
			char bare[QM_STORE_ADDRMAX];

			rc = client_addr_bare(lists[l][i], bare, sizeof(bare),
			                      err);
			if (!rc && (l < 2 || !client_rcpts_has(tocc, bare)))
				rc = client_rcpts_add(l < 2 ? tocc : bcc, bare,
				                      NULL, err);
		}
	return rc;
}

enum qm_err qm_client_levels_msg(struct qm_client *c,
                                 const struct qm_client_compose *m,
                                 uint64_t msg_bytes,
                                 struct qm_client_level out[4],
                                 uint64_t *needed_bytes, struct qm_error *err)
{
	struct rcpts tocc = {NULL, 0}, bcc = {NULL, 0};
	struct rcpts ptocc = {NULL, 0}, pbcc = {NULL, 0};
	struct acct_conn ac;
	enum qm_err rc;

	if (m->nto + m->ncc + m->nbcc > QM_CLIENT_MAXRCPTS)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "a message may have at most %d recipients",
		                    QM_CLIENT_MAXRCPTS);
	rc = client_acct_conn_load(c, m->account_id, &ac, err);
	if (rc)
		return rc;
	rc = client_compose_rcpts(m, &tocc, &bcc, err);
	/* the recipients who can get no encrypted message would get a plain
	 * copy (qm_client_plain_msg): the levels are those of the others,
	 * unless there are none (then each level says why not) */
	if (!rc)
		rc =
		    client_plain_split(c, &ac, &tocc, &bcc, &ptocc, &pbcc, err);
	if (!rc && tocc.n + bcc.n == 0) {
		struct rcpts t = tocc, b = bcc;

		tocc = ptocc;
		bcc = pbcc;
		ptocc = t;
		pbcc = b;
	}
	if (rc)
		goto out;
	if (needed_bytes)
		*needed_bytes = qm_crypto_l1_key_bytes(msg_bytes);
	for (int l = 1; l <= 4; l++) {
		struct level_info li;
		struct qm_error e;

		qm_error_clear(&e);
		out[l - 1].level = l;
		out[l - 1].available =
		    client_level_check(c, &ac, l, (const char *const *)tocc.v,
		                       tocc.n, (const char *const *)bcc.v,
		                       bcc.n, msg_bytes, &li, &e) == QM_OK;
		qm_strlcpy(out[l - 1].reason,
		           out[l - 1].available ? "" : qm_error_msg(&e),
		           sizeof(out[l - 1].reason));
		out[l - 1].hint = out[l - 1].available ? 0 : e.hint;
		qm_strlcpy(out[l - 1].hint_arg,
		           out[l - 1].available ? "" : e.hint_arg,
		           sizeof(out[l - 1].hint_arg));
		qm_strlcpy(out[l - 1].note, out[l - 1].available ? li.note : "",
		           sizeof(out[l - 1].note));
		qm_strlcpy(out[l - 1].unverified,
		           out[l - 1].available ? li.unverified : "",
		           sizeof(out[l - 1].unverified));
	}
out:
	client_rcpts_free(&ptocc);
	client_rcpts_free(&pbcc);
	client_rcpts_free(&tocc);
	client_rcpts_free(&bcc);
	client_acct_conn_free(&ac);
	return rc;
}

enum qm_err qm_client_levels(struct qm_client *c, int64_t account_id,
                             const char *const *rcpts, size_t n,
                             uint64_t msg_bytes, struct qm_client_level out[4],
                             uint64_t *needed_bytes, struct qm_error *err)
{
	struct qm_client_compose m;

	memset(&m, 0, sizeof(m));
	m.account_id = account_id;
	m.to = rcpts;
	m.nto = n;
	return qm_client_levels_msg(c, &m, msg_bytes, out, needed_bytes, err);
}
