/* SPDX-License-Identifier: MIT */
/*
 * Key backups (docs/CLIENT.md "Key backup"): the account's identity (the
 * secret keys of levels 3 and 4, which also open the copies sealed to
 * self on the server) sealed under a recovery passphrase, as text a
 * person can keep anywhere:
 *
 *   -----BEGIN QMAIL KEY BACKUP-----
 *   Version: 1
 *   Account: alice@example.org
 *   Fingerprint: 16 groups of 4 hex digits
 *
 *   base64 of the passphrase box (src/crypto/passbox.c), 64 per line
 *   -----END QMAIL KEY BACKUP-----
 *
 * The Version, Account and Fingerprint lines are the box's associated
 * data: changing one makes the backup fail to open. Restoring checks
 * that the keys inside make that fingerprint and that the account is the
 * one named. QKD keys (levels 1 and 2) are never in a backup: they are
 * spent once used, at both KMEs.
 */
#include "private.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define BEGIN_LINE "-----BEGIN QMAIL KEY BACKUP-----"
#define END_LINE   "-----END QMAIL KEY BACKUP-----"
#define BACKUP_MAX (64 * 1024)
#define PASS_MIN   12

static enum qm_err pass_check(size_t plen, struct qm_error *err)
{
	if (plen < PASS_MIN)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the recovery passphrase is too short: use "
		                    "at least %d characters (a few words are "
		                    "best); it is all that protects the backup",
		                    PASS_MIN);
	return QM_OK;
}

/* The associated data: the lines a backup names in clear. */
static enum qm_err head_lines(const char *addr, const char *fpr,
                              struct qm_buf *out, struct qm_error *err)
{
	return qm_buf_appendf(
	    out, err, "Version: 1\nAccount: %s\nFingerprint: %s\n", addr, fpr);
}

enum qm_err qm_client_keys_backup(struct qm_client *c, int64_t account_id,
                                  const char *pass, size_t plen,
                                  struct qm_buf *out, struct qm_error *err)
{
	struct qm_store_account a;
	struct qm_identity *id = NULL;
	struct qm_buf sec, head, box, b64;
	char fpr[QM_STORE_FPRMAX];
	uint64_t ops, mem;
	enum qm_err rc = client_need_unlocked(c, "backing up keys", err);

	if (rc)
		return rc;
	if ((rc = pass_check(plen, err)))
		return rc;
	qm_buf_init_secure(&sec, 1 << 20);
	qm_buf_init(&head, 4096);
	qm_buf_init(&box, 1 << 20);
	qm_buf_init(&b64, 2 << 20);
	memset(&a, 0, sizeof(a));
	rc = qm_store_account_get(c->store, account_id, &a, err);
	if (!rc)
		rc = client_own_identity(c, account_id, &id, err);
	if (!rc)
		rc = qm_crypto_identity_export_secret(id, &sec, err);
	if (!rc)
		rc = qm_client_key_own_fpr(c, account_id, fpr, err);
	if (!rc)
		rc = head_lines(a.address, fpr, &head, err);
	if (!rc) {
		qm_store_kdf_cost(c->store, &ops, &mem);
		rc = qm_crypto_passbox_seal(pass, plen, ops, mem, head.data,
		                            head.len, sec.data, sec.len, &box,
		                            err);
	}
	if (!rc)
		rc = qm_b64_encode(box.data, box.len, &b64, err);
	if (!rc)
		rc = qm_buf_appendf(out, err, "%s\n%.*s\n", BEGIN_LINE,
		                    (int)head.len, (const char *)head.data);
	for (size_t i = 0; !rc && i < b64.len; i += 64)
		rc = qm_buf_appendf(out, err, "%.*s\n",
		                    (int)(b64.len - i < 64 ? b64.len - i : 64),
		                    (const char *)b64.data + i);
	if (!rc)
		rc = qm_buf_appendf(out, err, "%s\n", END_LINE);
	qm_crypto_identity_free(&id);
	qm_buf_free(&sec);
	qm_buf_free(&head);
	qm_buf_free(&box);
	qm_buf_free(&b64);
	return rc;
}

/* The value of "Name: value" at the start of *p (one line), advancing. */
static int take_line(const char **p, const char *end, const char *name,
                     char *out, size_t outlen)
{
	const char *eol = memchr(*p, '\n', (size_t)(end - *p));
	size_t nl = strlen(name), vl;

	if (!eol || (size_t)(eol - *p) < nl + 2 || strncmp(*p, name, nl) != 0 ||
	    (*p)[nl] != ':' || (*p)[nl + 1] != ' ')
		return 0;
	vl = (size_t)(eol - *p) - nl - 2;
	if (vl && (*p)[nl + 2 + vl - 1] == '\r')
		vl--;
	if (vl == 0 || vl >= outlen)
		return 0;
	memcpy(out, *p + nl + 2, vl);
	out[vl] = '\0';
	*p = eol + 1;
	return 1;
}

/* The armour's lines into addr and fpr, its base64 decoded into box. */
static enum qm_err unarmour(const char *text, size_t n, char *addr,
                            size_t addrlen, char *fpr, size_t fprlen,
                            struct qm_buf *box, struct qm_error *err)
{
	const char *p = text, *end = text + n, *body, *stop;
	char ver[8];
	enum qm_err rc;

	if (n > BACKUP_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "a key backup is at most %d KiB; this file "
		                    "is not one",
		                    BACKUP_MAX / 1024);
	p = memmem(text, n, BEGIN_LINE "\n", sizeof(BEGIN_LINE));
	if (!p)
		p = memmem(text, n, BEGIN_LINE "\r\n", sizeof(BEGIN_LINE) + 1);
	if (!p)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "not a QMail key backup (no \"%s\" line)",
		                    BEGIN_LINE);
	p = (const char *)memchr(p, '\n', (size_t)(end - p)) + 1;
	if (!take_line(&p, end, "Version", ver, sizeof(ver)))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "the key backup has no Version line");
	if (strcmp(ver, "1") != 0)
		return qm_error_set(err, QM_ERR_UNSUPPORTED,
		                    "a key backup of version %s, which this "
		                    "QMail does not read",
		                    ver);
	if (!take_line(&p, end, "Account", addr, addrlen) ||
	    !take_line(&p, end, "Fingerprint", fpr, fprlen))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "the key backup lacks its Account or "
		                    "Fingerprint line");
	body = p;
	stop = memmem(body, (size_t)(end - body), END_LINE, strlen(END_LINE));
	if (!stop)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "the key backup is cut short (no \"%s\" "
		                    "line)",
		                    END_LINE);
	rc = qm_b64_decode(body, (size_t)(stop - body), box, err);
	if (rc == QM_ERR_PARSE)
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "the key backup's text is damaged (not "
		                  "base64)");
	return rc;
}

enum qm_err qm_client_keys_restore(struct qm_client *c, int64_t account_id,
                                   const char *pass, size_t plen,
                                   const char *text, size_t n, char *fpr_out,
                                   struct qm_error *err)
{
	struct qm_store_account a;
	struct qm_identity *id = NULL;
	struct qm_pubid *pub = NULL;
	struct qm_buf box, head, sec, pubb;
	unsigned char raw[QM_FPR_BYTES];
	char addr[QM_STORE_ADDRMAX], fpr[QM_STORE_FPRMAX], have[QM_FPR_TEXTLEN];
	enum qm_err rc = client_need_unlocked(c, "restoring keys", err);

	if (rc)
		return rc;
	qm_buf_init(&box, BACKUP_MAX);
	qm_buf_init(&head, 4096);
	qm_buf_init_secure(&sec, 1 << 20);
	qm_buf_init(&pubb, 1 << 20);
	memset(&a, 0, sizeof(a));
	rc = qm_store_account_get(c->store, account_id, &a, err);
	if (!rc)
		rc = unarmour(text, n, addr, sizeof(addr), fpr, sizeof(fpr),
		              &box, err);
	if (!rc && strcasecmp(addr, a.address) != 0)
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "the key backup is of %s, not of the account "
		                  "%s: restore it into an account with that "
		                  "address",
		                  addr, a.address);
	if (!rc)
		rc = head_lines(addr, fpr, &head, err);
	if (!rc)
		rc = qm_crypto_passbox_open(pass, plen, head.data, head.len,
		                            box.data, box.len, &sec, err);
	if (!rc)
		rc = qm_crypto_identity_import_secret(sec.data, sec.len, &id,
		                                      err);
	if (rc == QM_ERR_PARSE && sec.len)
		qm_error_prefix(err, "the key backup opened but its keys are "
		                     "damaged: ");
	if (!rc)
		rc = qm_crypto_identity_public(id, &pub, err);
	if (!rc) {
		qm_crypto_pubid_fingerprint(pub, raw);
		qm_crypto_fpr_text(raw, have);
		if (strcmp(have, fpr) != 0)
			rc = qm_error_set(err, QM_ERR_AUTH,
			                  "the keys in the backup are not the "
			                  "ones its Fingerprint line names");
	}
	if (!rc)
		rc = qm_crypto_pubid_to_bytes(pub, &pubb, err);
	if (!rc)
		rc = qm_store_key_own_put(c->store, account_id,
		                          QM_CLIENT_ID_ALG, pubb.data, pubb.len,
		                          sec.data, sec.len, NULL, err);
	if (!rc && fpr_out)
		qm_strlcpy(fpr_out, have, QM_STORE_FPRMAX);
	qm_crypto_pubid_free(&pub);
	qm_crypto_identity_free(&id);
	qm_buf_free(&box);
	qm_buf_free(&head);
	qm_buf_free(&sec);
	qm_buf_free(&pubb);
	return rc;
}
