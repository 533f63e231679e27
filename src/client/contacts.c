/* SPDX-License-Identifier: MIT */
/*
 * Contacts and the keyring as the user interfaces manage them: a contact
 * the user enters (name, SAE ID, minimum level), confirming an SAE ID
 * learned from a message, listing contacts and a contact's keys; and the
 * addresses of a header's address list (a reply to all).
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

enum qm_err qm_client_contact_put(struct qm_client *c, int64_t account_id,
                                  const struct qm_store_contact *ct,
                                  struct qm_error *err)
{
	struct qm_store_contact mine;
	struct qm_store_account a;
	enum qm_err rc;

	if (ct->min_level < 0 || ct->min_level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the minimum level of %s is 1 to 4, or 0 "
		                    "for none",
		                    ct->address);
	/* the labels (SAE ID, confirmation, minimum level) carry a MAC under
	 * the vault key */
	rc = client_need_unlocked(c, "entering a contact", err);
	if (!rc)
		rc = qm_store_account_get(c->store, account_id, &a, err);
	if (rc)
		return rc;
	mine = *ct;
	mine.source = QM_CONTACT_USER;
	mine.confirmed = 1;
	return qm_store_contact_put(c->store, account_id, &mine, err);
}

enum qm_err qm_client_contact_get(struct qm_client *c, int64_t account_id,
                                  const char *address,
                                  struct qm_store_contact *out,
                                  struct qm_error *err)
{
	return qm_store_contact_get(c->store, account_id, address, out, err);
}

enum qm_err qm_client_contact_confirm(struct qm_client *c, int64_t account_id,
                                      const char *address, struct qm_error *err)
{
	enum qm_err rc = client_need_unlocked(c, "confirming a contact", err);

	if (rc)
		return rc;
	return qm_store_contact_confirm(c->store, account_id, address, err);
}

enum qm_err qm_client_contact_list(struct qm_client *c, int64_t account_id,
                                   struct qm_store_contact **out, size_t *n,
                                   struct qm_error *err)
{
	return qm_store_contact_list(c->store, account_id, out, n, err);
}

enum qm_err qm_client_key_list(struct qm_client *c, const char *address,
                               struct qm_store_key **out, size_t *n,
                               struct qm_error *err)
{
	return qm_store_key_contact_list(c->store, address, out, n, err);
}

void qm_client_keys_free(struct qm_store_key **keys, size_t n)
{
	if (!keys || !*keys)
		return;
	for (size_t i = 0; i < n; i++)
		qm_store_key_free(&(*keys)[i]);
	free(*keys);
	*keys = NULL;
}

enum qm_err qm_client_addrs_parse(const char *list, char ***out, size_t *n,
                                 struct qm_error *err)
{
	return qm_mail_addr_specs(list, out, n, err);
}

void qm_client_strv_free(char ***v, size_t n)
{
	qm_mail_strv_free(v, n);
}

void qm_client_addr_list_clear(struct qm_client_addr_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].address);
	}
	for (size_t i = 0; i < l->ninvalid; i++)
		free(l->invalid[i]);
	free(l->v);
	free(l->invalid);
	memset(l, 0, sizeof(*l));
}

enum qm_err qm_client_parse_addrs(const char *list,
                                  struct qm_client_addr_list *out,
                                  struct qm_error *err)
{
	struct qm_mail_addrs a;
	struct qm_client_addr_list l;
	enum qm_err rc;

	rc = qm_mail_addr_parse(list, &a, err);
	if (rc)
		return rc;
	memset(&l, 0, sizeof(l));
	if (a.n && !(l.v = calloc(a.n, sizeof(*l.v)))) {
		qm_mail_addrs_clear(&a);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	/* the strings move over; the mail layer's vectors go */
	for (size_t i = 0; i < a.n; i++) {
		l.v[i].name = a.names[i];
		l.v[i].address = a.specs[i];
	}
	l.n = a.n;
	l.invalid = a.bad;
	l.ninvalid = a.nbad;
	free(a.names);
	free(a.specs);
	*out = l;
	return QM_OK;
}

enum qm_err qm_client_addr_format(const char *name, const char *address,
                                  char *out, size_t cap, struct qm_error *err)
{
	size_t o = 0, need;

	if (!address || !qm_mail_addr_spec_ok(address))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "\"%.200s\" is not an email address",
		                    address ? address : "");
	if (!name || !*name) {
		if (strlen(address) >= cap)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "the address is too long");
		memcpy(out, address, strlen(address) + 1);
		return QM_OK;
	}
	need = strlen(address) + 6; /* "" <> and the NUL */
	for (const char *p = name; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "a name holds a control character");
		need += (*p == '"' || *p == '\\') ? 2 : 1;
	}
	if (need > cap)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the name and address are too long");
	out[o++] = '"';
	for (const char *p = name; *p; p++) {
		if (*p == '"' || *p == '\\')
			out[o++] = '\\';
		out[o++] = *p;
	}
	out[o++] = '"';
	out[o++] = ' ';
	out[o++] = '<';
	memcpy(out + o, address, strlen(address));
	o += strlen(address);
	out[o++] = '>';
	out[o] = '\0';
	return QM_OK;
}
