/* SPDX-License-Identifier: MIT */
/*
 * Identities and the keyring for levels 3 and 4: the account's own
 * identity (private half sealed in the vault), contacts' public identities
 * with their trust state, export, import and fingerprint verification. The
 * fingerprint a person compares is the crypto layer's (SHA-256 of the public
 * key bytes, 16 groups of 4 hex digits), the same one the armour carries.
 */
#include "private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum qm_err client_own_identity(struct qm_client *c, int64_t account_id,
                                struct qm_identity **out, struct qm_error *err)
{
	struct qm_store_key k;
	struct qm_buf priv;
	enum qm_err rc;

	memset(&k, 0, sizeof(k));
	qm_buf_init_secure(&priv, 1024 * 1024);
	rc = qm_store_key_own_get(c->store, account_id, QM_CLIENT_ID_ALG, &k,
	                          &priv, err);
	if (!rc)
		rc = qm_crypto_identity_import_secret(priv.data, priv.len, out,
		                                      err);
	qm_store_key_free(&k);
	qm_buf_free(&priv);
	return rc;
}

enum qm_err client_contact_pubid(struct qm_client *c, const char *address,
                                 struct qm_pubid **out,
                                 enum qm_store_trust *trust,
                                 struct qm_error *err)
{
	struct qm_store_key k;
	char bare[QM_STORE_ADDRMAX];
	enum qm_err rc;

	memset(&k, 0, sizeof(k));
	rc = client_addr_bare(address, bare, sizeof(bare), err);
	if (rc)
		return rc;
	rc = qm_store_key_contact_get(c->store, bare, QM_CLIENT_ID_ALG, &k,
	                              err);
	if (rc == QM_ERR_NOTFOUND) {
		qm_error_set(err, QM_ERR_NOTFOUND,
		             "no public key is known for %s (levels 3 and 4 "
		             "need it: it comes with any message from that "
		             "address, or import the key the contact sent)",
		             bare);
		rc = qm_error_hint(err, QM_HINT_KEY_MISSING, bare);
	} else if (rc == QM_ERR_STATE) {
		/* the contact presents another key, not decided on yet */
		qm_error_hint(err, QM_HINT_KEY_CHANGED, bare);
	}
	if (!rc)
		rc = qm_crypto_pubid_from_bytes(k.pub, k.pub_len, out, err);
	if (!rc && trust)
		*trust = k.trust;
	qm_store_key_free(&k);
	return rc;
}

/* The fingerprint text of a public key's bytes. */
static enum qm_err fpr_of(const void *pub, size_t n, char *fpr,
                          struct qm_error *err)
{
	struct qm_pubid *p = NULL;
	unsigned char raw[QM_FPR_BYTES];
	char text[QM_FPR_TEXTLEN];
	enum qm_err rc = qm_crypto_pubid_from_bytes(pub, n, &p, err);

	if (rc)
		return rc;
	qm_crypto_pubid_fingerprint(p, raw);
	qm_crypto_fpr_text(raw, text);
	qm_strlcpy(fpr, text, QM_STORE_FPRMAX);
	qm_crypto_pubid_free(&p);
	return QM_OK;
}

enum qm_err qm_client_key_own_fpr(struct qm_client *c, int64_t account_id,
                                  char *fpr, struct qm_error *err)
{
	struct qm_store_key k;
	enum qm_err rc;

	memset(&k, 0, sizeof(k));
	rc = qm_store_key_own_get(c->store, account_id, QM_CLIENT_ID_ALG, &k,
	                          NULL, err);
	if (!rc)
		rc = fpr_of(k.pub, k.pub_len, fpr, err);
	qm_store_key_free(&k);
	return rc;
}

enum qm_err qm_client_key_export(struct qm_client *c, int64_t account_id,
                                 struct qm_buf *out, struct qm_error *err)
{
	struct qm_store_account a;
	struct qm_store_key k;
	struct qm_pubid *p = NULL;
	enum qm_err rc;

	memset(&k, 0, sizeof(k));
	rc = qm_store_account_get(c->store, account_id, &a, err);
	if (!rc)
		rc = qm_store_key_own_get(c->store, account_id,
		                          QM_CLIENT_ID_ALG, &k, NULL, err);
	if (!rc)
		rc = qm_crypto_pubid_from_bytes(k.pub, k.pub_len, &p, err);
	if (!rc)
		rc = qm_crypto_pubid_export(p, a.address, out, err);
	qm_crypto_pubid_free(&p);
	qm_store_key_free(&k);
	return rc;
}

/* The Comment line of an armour (the address), into out. */
static int armour_comment(const char *text, size_t len, char *out,
                          size_t outlen)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if ((size_t)(le - p) > 9 && strncasecmp(p, "Comment:", 8) == 0) {
			const char *s = p + 8;
			size_t n;
			while (s < le && *s == ' ')
				s++;
			n = (size_t)(le - s);
			while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
				n--;
			if (n == 0 || n >= outlen)
				return -1;
			memcpy(out, s, n);
			out[n] = '\0';
			return 0;
		}
		p = le + 1;
	}
	return -1;
}

enum qm_err qm_client_key_import(struct qm_client *c, const char *address,
                                 const char *armour, size_t len, char *fpr,
                                 enum qm_store_trust *trust,
                                 struct qm_error *err)
{
	struct qm_pubid *p = NULL;
	struct qm_buf raw;
	char addr[QM_STORE_ADDRMAX], bare[QM_STORE_ADDRMAX];
	enum qm_store_trust t = QM_TRUST_UNVERIFIED;
	enum qm_err rc;

	qm_buf_init(&raw, 64 * 1024);
	rc = qm_crypto_pubid_import(armour, len, &p, err);
	if (rc)
		goto out;
	if (!address) {
		if (armour_comment(armour, len, addr, sizeof(addr)) != 0) {
			rc = qm_error_set(err, QM_ERR_INVAL,
			                  "the key names no address: give the "
			                  "contact's address with --address");
			goto out;
		}
		address = addr;
	}
	rc = client_addr_bare(address, bare, sizeof(bare), err);
	if (!rc)
		rc = qm_crypto_pubid_to_bytes(p, &raw, err);
	if (!rc)
		rc = qm_store_key_contact_put(c->store, bare, QM_CLIENT_ID_ALG,
		                              raw.data, raw.len, &t, err);
	if (!rc && fpr)
		rc = fpr_of(raw.data, raw.len, fpr, err);
	if (!rc && trust)
		*trust = t;
out:
	qm_crypto_pubid_free(&p);
	qm_buf_free(&raw);
	return rc;
}

/* Fingerprint texts compared without spaces and case. */
static int fpr_same(const char *a, const char *b)
{
	for (;;) {
		while (*a == ' ' || *a == ':')
			a++;
		while (*b == ' ' || *b == ':')
			b++;
		if (!*a || !*b)
			return !*a && !*b;
		if (toupper((unsigned char)*a) != toupper((unsigned char)*b))
			return 0;
		a++;
		b++;
	}
}

enum qm_err qm_client_key_verify(struct qm_client *c, const char *address,
                                 const char *fingerprint,
                                 struct qm_error *err)
{
	struct qm_store_key *ks = NULL;
	char bare[QM_STORE_ADDRMAX], fpr[QM_STORE_FPRMAX];
	size_t n = 0;
	enum qm_err rc;
	int found = 0;

	rc = client_addr_bare(address, bare, sizeof(bare), err);
	if (!rc)
		rc = qm_store_key_contact_list(c->store, bare, &ks, &n, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !found && !rc; i++) {
		if (strcmp(ks[i].alg, QM_CLIENT_ID_ALG) != 0)
			continue;
		if (fpr_of(ks[i].pub, ks[i].pub_len, fpr, NULL) != QM_OK)
			continue;
		if (fpr_same(fpr, fingerprint)) {
			found = 1;
			rc = qm_store_key_contact_verify(c->store, bare,
			                                 QM_CLIENT_ID_ALG,
			                                 ks[i].fingerprint, err);
		}
	}
	for (size_t i = 0; i < n; i++)
		qm_store_key_free(&ks[i]);
	free(ks);
	if (!rc && !found)
		rc = qm_error_set(err, QM_ERR_AUTH,
		                  "the fingerprint you were given does not match "
		                  "any key known for %s: do not trust this key; "
		                  "ask the contact to send it again",
		                  bare);
	return rc;
}
