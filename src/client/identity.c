/* SPDX-License-Identifier: MIT */
/*
 * Identities (issue 15): the From addresses an account sends as, each with
 * a display name and a plain-text signature, one of them the default. The
 * account's own address is always one (its name is the account's display
 * name unless its identity row gives another); the others are rows of the
 * store. A message sent from any of them is encrypted and signed with the
 * account's own keys: the identity changes what the From line says and the
 * address the QMail-Identity header names, nothing else. A reply is sent
 * from the identity the original was addressed to.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The account's identities, its own address first (see the header). */
static enum qm_err id_list(struct qm_client *c, int64_t account_id,
                           struct qm_store_identity **out, size_t *n,
                           struct qm_error *err)
{
	struct qm_store_identity *rows = NULL, *v = NULL, *own;
	struct qm_store_account a;
	size_t nrows = 0, k = 1;
	int have_default = 0;
	enum qm_err rc;

	rc = qm_store_account_get(c->store, account_id, &a, err);
	if (!rc)
		rc = qm_store_identity_list(c->store, account_id, &rows, &nrows,
		                            err);
	if (rc)
		return rc;
	v = calloc(nrows + 1, sizeof(*v));
	if (!v) {
		free(rows);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	own = &v[0];
	if (client_addr_bare(a.address, own->address, sizeof(own->address),
	                     NULL) != QM_OK)
		qm_strlcpy(own->address, a.address, sizeof(own->address));
	qm_strlcpy(own->name, a.display_name, sizeof(own->name));
	for (size_t i = 0; i < nrows; i++) {
		if (strcasecmp(rows[i].address, own->address) == 0) {
			if (rows[i].name[0])
				qm_strlcpy(own->name, rows[i].name,
				           sizeof(own->name));
			qm_strlcpy(own->signature, rows[i].signature,
			           sizeof(own->signature));
			own->is_default = rows[i].is_default;
		} else {
			v[k++] = rows[i];
		}
		have_default |= rows[i].is_default;
	}
	if (!have_default)
		own->is_default = 1;
	free(rows);
	*out = v;
	*n = k;
	return QM_OK;
}

enum qm_err qm_client_identity_list(struct qm_client *c, int64_t account_id,
                                    struct qm_store_identity **out, size_t *n,
                                    struct qm_error *err)
{
	return id_list(c, account_id, out, n, err);
}

enum qm_err qm_client_identity_get(struct qm_client *c, int64_t account_id,
                                   const char *address,
                                   struct qm_store_identity *out,
                                   struct qm_error *err)
{
	struct qm_store_identity *v = NULL;
	char bare[QM_STORE_ADDRMAX];
	size_t n = 0;
	enum qm_err rc;

	if (address && *address) {
		rc = client_addr_bare(address, bare, sizeof(bare), err);
		if (rc)
			return rc;
	}
	rc = id_list(c, account_id, &v, &n, err);
	if (rc)
		return rc;
	rc = QM_ERR_NOTFOUND;
	for (size_t i = 0; i < n && rc; i++) {
		if (address && *address ? strcasecmp(v[i].address, bare) == 0
		                        : v[i].is_default) {
			*out = v[i];
			rc = QM_OK;
		}
	}
	free(v);
	if (rc)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "%.200s is not an identity of account %lld",
		                    address ? address : "(default)",
		                    (long long)account_id);
	return QM_OK;
}

/* A name or signature a header or a body can carry: no control character
 * but (in a signature) line ends and tabs. */
static int text_ok(const char *s, int multiline)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (multiline && (ch == '\n' || ch == '\r' || ch == '\t'))
			continue;
		if (ch < 0x20 || ch == 0x7f)
			return 0;
	}
	return 1;
}

enum qm_err qm_client_identity_put(struct qm_client *c, int64_t account_id,
                                   const struct qm_store_identity *id,
                                   struct qm_error *err)
{
	struct qm_store_identity row = *id;
	struct qm_store_account a;
	enum qm_err rc;

	rc = qm_store_account_get(c->store, account_id, &a, err);
	if (rc)
		return rc;
	if (client_addr_bare(id->address, row.address, sizeof(row.address),
	                     NULL) != QM_OK ||
	    strcmp(row.address, id->address) != 0 ||
	    !strchr(row.address, '@')[1])
		return qm_error_set(err, QM_ERR_INVAL,
		                    "\"%.200s\" is not one e-mail address "
		                    "(give the address alone; the name apart)",
		                    id->address);
	if (!text_ok(id->name, 0))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the name of identity %.200s holds a "
		                    "control character",
		                    row.address);
	if (!text_ok(id->signature, 1))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the signature of identity %.200s holds a "
		                    "control character",
		                    row.address);
	rc = qm_store_identity_put(c->store, account_id, &row, err);
	if (!rc && id->is_default)
		rc = qm_store_identity_default(c->store, account_id,
		                               row.address, err);
	return rc;
}

/* Whether address is the account's own (bare, any case). */
static int is_own(const struct qm_store_account *a, const char *address)
{
	char own[QM_STORE_ADDRMAX], bare[QM_STORE_ADDRMAX];

	return client_addr_bare(a->address, own, sizeof(own), NULL) == QM_OK &&
	       client_addr_bare(address, bare, sizeof(bare), NULL) == QM_OK &&
	       strcasecmp(own, bare) == 0;
}

enum qm_err qm_client_identity_delete(struct qm_client *c, int64_t account_id,
                                      const char *address, struct qm_error *err)
{
	struct qm_store_account a;
	enum qm_err rc;

	rc = qm_store_account_get(c->store, account_id, &a, err);
	if (rc)
		return rc;
	if (is_own(&a, address))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%.200s is the account's own address, "
		                    "always one of its identities",
		                    address);
	return qm_store_identity_del(c->store, account_id, address, err);
}

enum qm_err qm_client_identity_default(struct qm_client *c, int64_t account_id,
                                       const char *address,
                                       struct qm_error *err)
{
	struct qm_store_identity id;
	enum qm_err rc;

	rc = qm_client_identity_get(c, account_id, address, &id, err);
	if (!rc)
		rc = qm_store_identity_default(c->store, account_id, id.address,
		                               err);
	return rc;
}

/* The first identity of v (n) that list names, or NULL. */
static const struct qm_store_identity *
named_in(const char *list, const struct qm_store_identity *v, size_t n)
{
	const struct qm_store_identity *hit = NULL;
	char **a = NULL;
	size_t na = 0;

	if (!list || !*list || qm_mail_addr_specs(list, &a, &na, NULL) != QM_OK)
		return NULL;
	for (size_t i = 0; i < na && !hit; i++)
		for (size_t k = 0; k < n && !hit; k++)
			if (strcasecmp(a[i], v[k].address) == 0)
				hit = &v[k];
	qm_mail_strv_free(&a, na);
	return hit;
}

enum qm_err qm_client_identity_for(struct qm_client *c, int64_t account_id,
                                   const char *to, const char *cc,
                                   struct qm_store_identity *out,
                                   struct qm_error *err)
{
	const struct qm_store_identity *hit;
	struct qm_store_identity *v = NULL;
	size_t n = 0;
	enum qm_err rc;

	rc = id_list(c, account_id, &v, &n, err);
	if (rc)
		return rc;
	hit = named_in(to, v, n);
	if (!hit)
		hit = named_in(cc, v, n);
	for (size_t i = 0; i < n && !hit; i++)
		if (v[i].is_default)
			hit = &v[i];
	*out = hit ? *hit : v[0];
	free(v);
	return QM_OK;
}

enum qm_err client_identity_from(struct qm_client *c,
                                 const struct qm_store_account *a,
                                 const char *address,
                                 struct qm_store_identity *id, char *from,
                                 size_t fromlen, struct qm_error *err)
{
	enum qm_err rc;
	size_t k = 0;

	rc = qm_client_identity_get(c, a->id, address, id, err);
	if (rc)
		return rc;
	if (!id->name[0]) {
		qm_strlcpy(from, id->address, fromlen);
		return QM_OK;
	}
	if (!strpbrk(id->name, "()<>[]:;@\\,.\"")) {
		snprintf(from, fromlen, "%s <%s>", id->name, id->address);
		return QM_OK;
	}
	/* a name with specials goes as a quoted string (RFC 5322 3.2.4) */
	if (fromlen < 4)
		return qm_error_set(err, QM_ERR_TOOBIG, "sender too long");
	from[k++] = '"';
	for (const char *p = id->name; *p && k + 3 < fromlen; p++) {
		if (*p == '"' || *p == '\\')
			from[k++] = '\\';
		from[k++] = *p;
	}
	from[k] = '\0';
	if (snprintf(from + k, fromlen - k, "\" <%s>", id->address) >=
	    (int)(fromlen - k))
		return qm_error_set(
		    err, QM_ERR_TOOBIG,
		    "the sender's name and address are too long");
	return QM_OK;
}
