/* SPDX-License-Identifier: MIT */
/*
 * The client engine's handle: the home folder, the store, the vault
 * session, and small shared helpers (addresses, associated data).
 */
#include "private.h"

_Static_assert(QM_CLIENT_UNLOCK_KEYBYTES == QM_STORE_KEKBYTES,
               "the unlock key is the store's passphrase key");

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum qm_err qm_client_open(const struct qm_client_opts *opts,
                           struct qm_client **out, struct qm_error *err)
{
	struct qm_client *c;
	struct qm_store_opts so;
	enum qm_err rc;

	rc = qm_core_init(err);
	if (rc)
		return rc;
	/* before anything touches libcurl: buffers that carry keys are
	 * wiped when freed */
	qm_kms_global_init();
	rc = qm_mail_init(err);
	if (rc)
		return rc;
	c = calloc(1, sizeof(*c));
	if (!c)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (opts && opts->home) {
		if (qm_strlcpy(c->home, opts->home, sizeof(c->home)) != 0) {
			rc = qm_error_set(err, QM_ERR_INVAL,
			                  "home folder path is too long");
			goto fail;
		}
	} else {
		rc = qm_store_home_default(c->home, sizeof(c->home), err);
		if (rc)
			goto fail;
	}
	rc = qm_mkdirs(c->home, 0700, err);
	if (rc)
		goto fail;
	memset(&so, 0, sizeof(so));
	if (opts)
		so.kdf = opts->kdf;
	rc = qm_store_open(c->home, &so, &c->store, err);
	if (rc)
		goto fail;
	{
		/* recover the outbox of a crashed process, unless a living
		 * one is working it (it recovers when it takes the lock) */
		int fd = -1;

		if (client_home_lock(c, QM_LOCK_OUTBOX, 0, "recover the outbox",
		                     &fd, NULL) == QM_OK) {
			/* sends a dead process could not record come first:
			 * recovery would take them for sends cut short.
			 * While they cannot be recorded, nothing is
			 * recovered (the outbox run says why). */
			if (client_sentlog_flush(c, NULL, NULL) == QM_OK)
				rc = qm_store_outbox_recover(c->store, NULL,
				                             err);
			client_home_unlock(&fd);
			if (rc)
				goto fail;
		}
	}
	*out = c;
	return QM_OK;
fail:
	qm_store_close(&c->store);
	free(c);
	return rc;
}

void qm_client_free(struct qm_client **pc)
{
	if (!pc || !*pc)
		return;
	qm_store_close(&(*pc)->store);
	free(*pc);
	*pc = NULL;
}

enum qm_err qm_client_clone(struct qm_client *c, struct qm_client **out,
                            struct qm_error *err)
{
	struct qm_client *n = calloc(1, sizeof(*n));
	enum qm_err rc;

	if (!n)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	memcpy(n->home, c->home, sizeof(n->home));
	rc = qm_store_clone(c->store, &n->store, err);
	if (rc) {
		free(n);
		return rc;
	}
	*out = n;
	return QM_OK;
}

struct qm_store *qm_client_store(struct qm_client *c)
{
	return c->store;
}

const char *qm_client_hint_name(int hint)
{
	static const char *const names[QM_HINT__COUNT] = {
	    [QM_HINT_VAULT_LOCKED] = "vault_locked",
	    [QM_HINT_NO_ACCOUNT] = "no_account",
	    [QM_HINT_ACCOUNT_KME] = "account_kme",
	    [QM_HINT_CONTACT_SAE_MISSING] = "contact_sae_missing",
	    [QM_HINT_CONTACT_SAE_UNCONFIRMED] = "contact_sae_unconfirmed",
	    [QM_HINT_KEY_MISSING] = "key_missing",
	    [QM_HINT_KEY_CHANGED] = "key_changed",
	    [QM_HINT_LIMIT_REACHED] = "limit_reached",
	    [QM_HINT_LIMIT_UNKNOWN] = "limit_unknown",
	    [QM_HINT_SETTING_UNKNOWN] = "setting_unknown",
	    [QM_HINT_PLAIN] = "plain",
	    [QM_HINT_SIGN_IN] = "sign_in",
	};

	if (hint <= 0 || hint >= QM_HINT__COUNT || !names[hint])
		return "";
	return names[hint];
}

enum qm_err client_need_unlocked(struct qm_client *c, const char *what,
                                 struct qm_error *err)
{
	if (qm_store_vault_is_unlocked(c->store))
		return QM_OK;
	qm_error_set(err, QM_ERR_LOCKED, "QMail is locked: %s needs the vault",
	             what);
	return qm_error_hint(err, QM_HINT_VAULT_LOCKED, NULL);
}

const char *qm_client_home(const struct qm_client *c)
{
	return c->home;
}

int qm_client_initialised(struct qm_client *c)
{
	return qm_store_vault_exists(c->store);
}

enum qm_err qm_client_init(struct qm_client *c, const char *pass, size_t len,
                           struct qm_error *err)
{
	if (len < 8)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the passphrase is too short: use at least 8 "
		                    "characters (a few words are best)");
	return qm_store_vault_create(c->store, pass, len, err);
}

enum qm_err qm_client_unlock(struct qm_client *c, const char *pass,
                             size_t len, struct qm_error *err)
{
	return qm_store_vault_unlock(c->store, pass, len, err);
}

enum qm_err qm_client_unlock_export(struct qm_client *c, const char *pass,
                                    size_t len, unsigned char **key,
                                    struct qm_error *err)
{
	return qm_store_vault_unlock_export(c->store, pass, len, key, err);
}

enum qm_err qm_client_unlock_key(struct qm_client *c, const unsigned char *key,
                                 size_t len, struct qm_error *err)
{
	enum qm_err rc = qm_store_vault_unlock_kek(c->store, key, len, err);

	if (rc == QM_ERR_DENIED)
		return qm_error_hint(err, QM_HINT_VAULT_LOCKED, NULL);
	return rc;
}

void qm_client_lock(struct qm_client *c)
{
	qm_store_vault_lock(c->store);
}

int qm_client_unlocked(struct qm_client *c)
{
	return qm_store_vault_is_unlocked(c->store);
}

const char *qm_client_level_name(int level)
{
	switch (level) {
	case 1:
		return "quantum secure (one-time pad with QKD keys)";
	case 2:
		return "quantum-aided AES (AES-256-GCM keyed from a QKD key)";
	case 3:
		return "post-quantum (ML-KEM-768 + X25519, ML-DSA-65 + Ed25519)";
	case 4:
		return "classical (X25519 + AES-256-GCM, Ed25519)";
	default:
		return "not encrypted";
	}
}

const char *qm_client_level_badge(int level)
{
	switch (level) {
	case 1:
		return "L1 OTP";
	case 2:
		return "L2 QKD-AES";
	case 3:
		return "L3 PQC";
	case 4:
		return "L4 classical";
	default:
		return "not encrypted";
	}
}

enum qm_err client_addr_bare(const char *in, char *out, size_t outlen,
                             struct qm_error *err)
{
	const char *lt = strrchr(in, '<'), *s = in, *e;
	size_t n;

	if (lt) {
		s = lt + 1;
		e = strchr(s, '>');
		if (!e)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "address \"%.80s\" has no closing '>'",
			                    in);
	} else {
		while (*s == ' ' || *s == '\t')
			s++;
		e = s + strlen(s);
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
	}
	n = (size_t)(e - s);
	if (n == 0 || n >= outlen || !memchr(s, '@', n))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "\"%.80s\" is not an e-mail address", in);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= ' ' || ch == ',' || ch == '<' || ch == '>' ||
		    ch == 0x7f)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "\"%.80s\" is not an e-mail address",
			                    in);
		out[i] = (char)tolower(ch);
	}
	out[n] = '\0';
	return QM_OK;
}

enum qm_err client_contact_sae(struct qm_client *c, int64_t account_id,
                               const char *address, char *out, size_t outlen,
                               struct qm_error *err)
{
	struct qm_store_contact ct;
	char bare[QM_STORE_ADDRMAX];
	enum qm_err rc;

	rc = client_addr_bare(address, bare, sizeof(bare), err);
	if (rc)
		return rc;
	rc = qm_store_contact_get(c->store, account_id, bare, &ct, err);
	if (rc == QM_ERR_NOTFOUND || (!rc && !ct.sae_id[0])) {
		qm_error_set(err, QM_ERR_NOTFOUND,
		             "no SAE ID is known for %s (levels 1 and 2 need "
		             "the recipient's SAE ID: enter it for the contact)",
		             bare);
		return qm_error_hint(err, QM_HINT_CONTACT_SAE_MISSING, bare);
	}
	if (rc)
		return rc;
	if (!ct.confirmed) {
		qm_error_set(err, QM_ERR_STATE,
		             "the SAE ID %s of %s was learned from a message "
		             "and is not confirmed yet: it is used once the "
		             "contact is confirmed",
		             ct.sae_id, bare);
		return qm_error_hint(err, QM_HINT_CONTACT_SAE_UNCONFIRMED, bare);
	}
	if (qm_strlcpy(out, ct.sae_id, outlen) != 0)
		return qm_error_set(err, QM_ERR_TOOBIG, "SAE ID too long");
	return QM_OK;
}

/* Joins prefix and value into a new string. */
static char *join(const char *prefix, const char *value)
{
	size_t a = strlen(prefix), b = strlen(value);
	char *s = malloc(a + b + 1);

	if (!s)
		return NULL;
	memcpy(s, prefix, a);
	memcpy(s + a, value, b + 1);
	return s;
}

enum qm_err client_bound_make(const struct qm_mail_hdrs *h,
                              const char *sender_sae, struct qm_bound *b,
                              struct bound_store *bs, struct qm_error *err)
{
	memset(bs, 0, sizeof(*bs));
	bs->rcpt[0] = join("to:", h->to ? h->to : "");
	bs->rcpt[1] = join("cc:", h->cc ? h->cc : "");
	if (!bs->rcpt[0] || !bs->rcpt[1]) {
		client_bound_store_free(bs);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	bs->rcpts[0] = bs->rcpt[0];
	bs->rcpts[1] = bs->rcpt[1];
	memset(b, 0, sizeof(*b));
	b->from = h->from ? h->from : "";
	b->rcpts = bs->rcpts;
	b->nrcpts = 2;
	b->message_id = h->message_id ? h->message_id : "";
	b->date = h->date ? h->date : "";
	b->sender_sae = sender_sae;
	return QM_OK;
}

void client_bound_store_free(struct bound_store *bs)
{
	free(bs->rcpt[0]);
	free(bs->rcpt[1]);
	memset(bs, 0, sizeof(*bs));
}
