/* SPDX-License-Identifier: MIT */
/*
 * The settings a person changes through either interface, in one table:
 * each account's (incoming protocol, private mail CA, expected KME ID,
 * POP3 delete, copies to Sent, folders synced, how a message is deleted,
 * from how many new messages a folder is fetched headers first)
 * and the global ones (the web GUI's background sync; the person's own
 * OAuth2 clients; where account discovery asks; the level settings
 * and the limits, which keep their own rules in levels.c and limits.c and
 * are reached from here by name).
 * A name is checked against the table and a value against its kind, so
 * that neither interface stores a setting the engine does not know. Also
 * the change of the vault passphrase.
 */
#include "private.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

enum set_kind {
	SET_TEXT,     /* free text, at most QM_STORE_NAMEMAX */
	SET_PATH,     /* a file name, at most QM_STORE_PATHMAX */
	SET_BOOL,     /* "1" or "0" */
	SET_INCOMING, /* "imap" or "pop3" */
	SET_SECONDS,  /* 0 to 86400 */
	SET_FOLDERS,  /* "subscribed", "inbox" or "all" */
	SET_DELETE,   /* "trash" or "expunge" */
	SET_COUNT,    /* 0 to 1000000 */
	SET_PORT,     /* 1 to 65535 */
	SET_DNS,      /* "ADDRESS[:PORT]", IPv4 */
	SET_SECRET,   /* free text never shown in full */
};

struct setting {
	const char *name;
	int global; /* 1: account 0 only; 0: an account's */
	const char *def;
	enum set_kind kind;
	const char *values; /* the values it takes, for a person */
	const char *what;   /* what it does, in a few words */
};

static const struct setting table[] = {
    {QM_CLIENT_SET_INCOMING, 0, "", SET_INCOMING, "imap|pop3",
     "how mail is received (unset: IMAP when the account has an IMAP "
     "server)"},
    {QM_CLIENT_SET_MAIL_CA, 0, "", SET_PATH, "FILE",
     "CA certificate of a private mail server"},
    {QM_CLIENT_SET_KME_ID, 0, "", SET_TEXT, "ID",
     "the KME ID the KME's certificate must name"},
    {QM_CLIENT_SET_POP3_DELETE, 0, "0", SET_BOOL, "0|1",
     "POP3: delete mail from the server once downloaded"},
    {QM_CLIENT_SET_SAVE_SENT, 0, "1", SET_BOOL, "0|1",
     "keep a copy of sent mail in the IMAP Sent folder, sealed to your "
     "own key (readable on your other devices)"},
    {QM_CLIENT_SET_SAVE_SENT_L1, 0, "0", SET_BOOL, "0|1",
     "level-1 mail too (the copy is only as strong as level 3)"},

    {QM_CLIENT_SET_SYNC_FOLDERS, 0, "subscribed", SET_FOLDERS,
     "subscribed|all|inbox", "IMAP folders a sync takes besides INBOX"},
    {QM_CLIENT_SET_DELETE_MODE, 0, "trash", SET_DELETE, "trash|expunge",
     "delete moves to Trash, or deletes for good at once"},
    {QM_CLIENT_SET_HEADER_FIRST, 0, QM_CLIENT_HEADER_FIRST_DEF, SET_COUNT,
     "0..1000000",
     "a folder with more new messages than this is fetched headers "
     "first (0: never)"},
    {QM_CLIENT_SET_PLAIN_INVITE, 0, "0", SET_BOOL, "0|1",
     "unencrypted mail to someone without QMail ends with a short note "
     "on what QMail is"},
    {QM_CLIENT_SET_BACKGROUND_SYNC, 1, "300", SET_SECONDS, "0..86400",
     "seconds between the web GUI's background syncs (0: off)"},
    {"oauth.google.client_id", 1, "", SET_TEXT, "ID",
     "your Google OAuth client ID (Desktop app) for Gmail sign-in"},
    {"oauth.google.client_secret", 1, "", SET_SECRET, "SECRET",
     "its client secret (Google wants one for desktop apps)"},
    {"oauth.microsoft.client_id", 1, "", SET_TEXT, "ID",
     "your Microsoft Entra app's client ID for Outlook / Microsoft 365 "
     "sign-in (public client: no secret)"},
    {"oauth.microsoft.client_secret", 1, "", SET_SECRET, "SECRET",
     "its client secret, only if your app registration has one (a "
     "public client has none)"},
    {"oauth.yahoo.client_id", 1, "", SET_TEXT, "ID",
     "your Yahoo app's client ID for Yahoo Mail sign-in"},
    {"oauth.yahoo.client_secret", 1, "", SET_SECRET, "SECRET",
     "its client secret (Yahoo wants one)"},
    {QM_CLIENT_SET_DISCOVER_DNS, 1, "", SET_DNS, "ADDRESS[:PORT]",
     "account discovery asks this DNS server alone (tests, "
     "split-horizon DNS; unset: the system's)"},
    {QM_CLIENT_SET_DISCOVER_PORT, 1, "443", SET_PORT, "1..65535",
     "HTTPS port of autoconfig servers (tests)"},
    {QM_CLIENT_SET_DISCOVER_CA, 1, "", SET_PATH, "FILE",
     "CA file for autoconfig servers (tests; unset: the system's)"},
};

#define TABLE_N (sizeof(table) / sizeof(table[0]))

int qm_client_setting_at(int global, size_t i,
                         struct qm_client_setting_info *out)
{
	for (size_t k = 0; k < TABLE_N; k++) {
		if (table[k].global != (global != 0) || i-- != 0)
			continue;
		out->name = table[k].name;
		out->def = table[k].def;
		out->values = table[k].values;
		out->what = table[k].what;
		out->secret = table[k].kind == SET_SECRET;
		return 0;
	}
	return -1;
}

enum qm_err qm_client_passphrase_change(struct qm_client *c,
                                        const char *oldpass, size_t oldlen,
                                        const char *newpass, size_t newlen,
                                        struct qm_error *err)
{
	if (newlen < 8)
		return qm_error_set(
		    err, QM_ERR_INVAL,
		    "the new passphrase is too short: use at "
		    "least 8 characters (a few words are best)");
	return qm_store_vault_rekey(c->store, oldpass, oldlen, newpass, newlen,
	                            err);
}

static int is_level_setting(const char *name)
{
	return strcmp(name, QM_CLIENT_SET_DEFAULT_LEVEL) == 0 ||
	       strcmp(name, QM_CLIENT_SET_MIN_LEVEL) == 0;
}

/* The table's entry for name in the scope of account_id, or NULL. */
static const struct setting *lookup(int64_t account_id, const char *name)
{
	for (size_t i = 0; name && i < TABLE_N; i++)
		if (strcmp(table[i].name, name) == 0 &&
		    table[i].global == (account_id == 0))
			return &table[i];
	return NULL;
}

/* QM_ERR_NOTFOUND with its hint: name is no setting of that scope. */
static enum qm_err unknown(int64_t account_id, const char *name,
                           struct qm_error *err)
{
	qm_error_set(err, QM_ERR_NOTFOUND, "there is no %s setting named %s",
	             account_id ? "account" : "global", name ? name : "");
	qm_error_hint(err, QM_HINT_SETTING_UNKNOWN, name);
	return QM_ERR_NOTFOUND;
}

/* The table's entry for name in the scope of account_id into *out;
 * QM_ERR_NOTFOUND (with its hint) for a name that is no setting there,
 * or for an account that does not exist. */
static enum qm_err find(struct qm_client *c, int64_t account_id,
                        const char *name, const struct setting **out,
                        struct qm_error *err)
{
	struct qm_store_account a;

	*out = lookup(account_id, name);
	if (!*out)
		return unknown(account_id, name, err);
	/* an account's setting: of an account that exists */
	return account_id ? qm_store_account_get(c->store, account_id, &a, err)
	                  : QM_OK;
}

/* 1 for "A.B.C.D" or "A.B.C.D:PORT". */
static int dns_ok(const char *v)
{
	char addr[16];
	const char *colon = strchr(v, ':');
	size_t al = colon ? (size_t)(colon - v) : strlen(v);
	unsigned char bin[4];
	long long port;

	if (al >= sizeof(addr))
		return 0;
	memcpy(addr, v, al);
	addr[al] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1)
		return 0;
	return !colon || qm_parse_ll(colon + 1, 1, 65535, &port, NULL) == QM_OK;
}

void qm_client_setting_shown(const char *value, char *out, size_t n)
{
	if (!n)
		return;
	if (!value || !*value) {
		out[0] = '\0';
		return;
	}
	snprintf(out, n, "%.4s...", value);
}

/* QM_OK when value suits s (value is not empty). */
static enum qm_err check_value(const struct setting *s, const char *value,
                               struct qm_error *err)
{
	long long v;

	switch (s->kind) {
	case SET_BOOL:
		if (strcmp(value, "0") == 0 || strcmp(value, "1") == 0)
			return QM_OK;
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is 1 (on) or 0 (off), not \"%.40s\"",
		                    s->name, value);
	case SET_INCOMING:
		if (strcmp(value, "imap") == 0 || strcmp(value, "pop3") == 0)
			return QM_OK;
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is imap or pop3, not \"%.40s\"",
		                    s->name, value);
	case SET_SECONDS:
		if (qm_parse_ll(value, 0, 86400, &v, NULL) == QM_OK)
			return QM_OK;
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is a number of seconds from 0 (off) to "
		                    "86400, not \"%.40s\"",
		                    s->name, value);
	case SET_FOLDERS:
		if (strcmp(value, "subscribed") == 0 ||
		    strcmp(value, "inbox") == 0 || strcmp(value, "all") == 0)
			return QM_OK;
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is subscribed, inbox or all, not "
		                    "\"%.40s\"",
		                    s->name, value);
	case SET_DELETE:
		if (strcmp(value, "trash") == 0 ||
		    strcmp(value, "expunge") == 0)
			return QM_OK;
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is trash or expunge, not \"%.40s\"",
		                    s->name, value);
	case SET_COUNT:
		if (qm_parse_ll(value, 0, 1000000, &v, NULL) == QM_OK)
			return QM_OK;
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is a number of messages from 0 to "
		                    "1000000, not \"%.40s\"",
		                    s->name, value);
	case SET_PORT:
		if (qm_parse_ll(value, 1, 65535, &v, NULL) == QM_OK)
			return QM_OK;
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is a port from 1 to 65535, not "
		                    "\"%.40s\"",
		                    s->name, value);
	case SET_DNS:
		if (dns_ok(value))
			return QM_OK;
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is an IPv4 address with an optional "
		                    "port (127.0.0.1:5353), not \"%.40s\"",
		                    s->name, value);
	case SET_PATH:
		if (strlen(value) < QM_STORE_PATHMAX)
			return QM_OK;
		break;
	case SET_TEXT:
	case SET_SECRET:
		if (strlen(value) < QM_STORE_NAMEMAX)
			return QM_OK;
		break;
	}
	return qm_error_set(err, QM_ERR_INVAL, "the value of %s is too long",
	                    s->name);
}

enum qm_err qm_client_setting_check(int64_t account_id, const char *name,
                                    const char *value, struct qm_error *err)
{
	const struct setting *s;

	if (account_id == 0 && name &&
	    (is_level_setting(name) || qm_client_limit_find(name)))
		return QM_OK; /* their own rules, when they are set */
	s = lookup(account_id, name);
	if (!s)
		return unknown(account_id, name, err);
	return value && *value ? check_value(s, value, err) : QM_OK;
}

enum qm_err qm_client_setting_set(struct qm_client *c, int64_t account_id,
                                  const char *name, const char *value,
                                  struct qm_error *err)
{
	const struct setting *s;
	enum qm_err rc;

	if (account_id == 0 && name && is_level_setting(name))
		return qm_client_level_setting_set(
		    c, name, value && *value ? value : "0", err);
	if (account_id == 0 && qm_client_limit_find(name))
		return qm_client_limit_set(
		    c, name, value && *value ? value : "default", err);
	rc = find(c, account_id, name, &s, err);
	if (rc)
		return rc;
	if (value && *value) {
		rc = check_value(s, value, err);
		if (rc)
			return rc;
	}
	/* "" is unset: every reader of a setting takes it so */
	return qm_store_setting_set(c->store, account_id, s->name,
	                            value ? value : "", err);
}

enum qm_err qm_client_setting_get(struct qm_client *c, int64_t account_id,
                                  const char *name, char *out, size_t outlen,
                                  int *is_set, struct qm_error *err)
{
	const struct setting *s;
	char text[32];
	const char *v;
	struct qm_buf b;
	enum qm_err rc;
	int set = 0;

	if (account_id == 0 && name && is_level_setting(name)) {
		int x = 0;

		rc = qm_client_level_setting_get(c, name, &x, err);
		if (rc)
			return rc;
		snprintf(text, sizeof(text), "%d", x);
		v = text;
		set = x != 0;
	} else if (account_id == 0 && qm_client_limit_find(name)) {
		uint64_t x = 0;

		rc = qm_client_limit_get(c, name, &x, &set, err);
		if (rc)
			return rc;
		snprintf(text, sizeof(text), "%llu", (unsigned long long)x);
		v = text;
	} else {
		rc = find(c, account_id, name, &s, err);
		if (rc)
			return rc;
		qm_buf_init(&b, QM_STORE_PATHMAX);
		rc = qm_store_setting_get(c->store, account_id, s->name, &b,
		                          err);
		if (rc == QM_ERR_NOTFOUND) {
			qm_error_clear(err);
			rc = QM_OK;
		}
		set = !rc && b.data && b.data[0];
		/* a value a person could not have given is as good as unset */
		if (set && check_value(s, (const char *)b.data, NULL))
			set = 0;
		/* unset, incoming is what the sync does: POP3 for an account
		 * that has a POP3 server and no IMAP one */
		if (!rc && !set && s->kind == SET_INCOMING)
			qm_strlcpy(text,
			           client_acct_over_pop3(c, account_id)
			               ? "pop3"
			               : "imap",
			           sizeof(text));
		if (!rc && qm_strlcpy(out,
		                      set ? (const char *)b.data
		                      : s->kind == SET_INCOMING ? text
		                                                : s->def,
		                      outlen) != 0)
			rc = qm_error_set(err, QM_ERR_TOOBIG,
			                  "the value of %s is too long",
			                  s->name);
		qm_buf_free(&b);
		if (!rc && is_set)
			*is_set = set;
		return rc;
	}
	if (qm_strlcpy(out, v, outlen) != 0)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the value of %s is too long", name);
	if (is_set)
		*is_set = set;
	return QM_OK;
}
