/* SPDX-License-Identifier: MIT */
/*
 * The JSON API of docs/WEB.md, first half: the route table, unlocking and
 * locking, accounts and their presets and connection test, settings,
 * contacts, the keyring and the KME dashboard. Mail itself (messages, sync,
 * compose, drafts, outbox, uploads) is in api_mail.c. Every handler checks
 * its input, calls the client engine, and answers JSON.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "private.h"

#define R_GET   WEB_GET
#define R_POST  WEB_POST
#define R_PUT   WEB_PUT
#define R_DEL   WEB_DELETE
#define MSGBODY WEB_MAX_JSON_MESSAGE

/* method, pattern, auth, body_max, raw_body, needs (0 nothing, 1 client,
 * 2 reader, 3 ops: WEB_NEEDS_*), handler */
const struct web_route web_routes[] = {
    {R_GET, "/api/state", 0, 0, 0, 0, web_api_state},
    {R_POST, "/api/init", 0, 0, 0, 1, web_api_init},
    {R_POST, "/api/unlock", 0, 0, 0, 1, web_api_unlock},
    {R_POST, "/api/lock", 1, 0, 0, 1, web_api_lock},
    {R_POST, "/api/passphrase", 1, 0, 0, 1, web_api_passphrase},
    {R_GET, "/api/presets", 0, 0, 0, 0, web_api_presets},
    {R_GET, "/api/accounts", 1, 0, 0, 1, web_api_accounts_list},
    {R_POST, "/api/accounts", 1, 0, 0, 1, web_api_accounts_add},
    {R_PUT, "/api/accounts/*", 1, 0, 0, 1, web_api_accounts_update},
    {R_DEL, "/api/accounts/*", 1, 0, 0, 1, web_api_accounts_delete},
    {R_POST, "/api/accounts/probe", 1, 0, 0, 1, web_api_accounts_probe},
    {R_POST, "/api/accounts/*/test", 1, 0, 0, 1, web_api_accounts_test},
    {R_POST, "/api/accounts/*/signin", 1, 0, 0, 1, web_api_accounts_signin},
    {R_POST, "/api/discover", 1, 0, 0, 3, web_api_discover},
    {R_POST, "/api/oauth/begin", 1, 0, 0, 3, web_api_oauth_begin},
    {R_POST, "/api/oauth/wait", 1, 0, 0, 0, web_api_oauth_wait},
    {R_POST, "/api/oauth/cancel", 1, 0, 0, 0, web_api_oauth_cancel},
    {R_GET, "/api/settings", 1, 0, 0, 1, web_api_settings_get},
    {R_PUT, "/api/settings", 1, 0, 0, 1, web_api_settings_put},
    {R_GET, "/api/contacts", 1, 0, 0, 1, web_api_contacts_list},
    {R_GET, "/api/contacts/suggest", 1, 0, 0, 2, web_api_contacts_suggest},
    {R_POST, "/api/contacts/import", 1, 0, 1, 1, web_api_contacts_import},
    {R_POST, "/api/mail/import", 1, 0, 1, 1, web_api_mail_import},
    {R_GET, "/api/mail/export", 1, 0, 0, 1, web_api_mail_export},
    {R_GET, "/api/contacts/export", 1, 0, 0, 1, web_api_contacts_export},
    {R_PUT, "/api/contacts/*", 1, 0, 0, 1, web_api_contacts_put},
    {R_GET, "/api/identities", 1, 0, 0, 1, web_api_identities_list},
    {R_PUT, "/api/identities/*", 1, 0, 0, 1, web_api_identities_put},
    {R_DEL, "/api/identities/*", 1, 0, 0, 1, web_api_identities_delete},
    {R_GET, "/api/keyring", 1, 0, 0, 1, web_api_keyring_list},
    {R_POST, "/api/keyring/import", 1, 0, 0, 1, web_api_keyring_import},
    {R_GET, "/api/keyring/export", 1, 0, 0, 1, web_api_keyring_export},
    {R_POST, "/api/keyring/verify", 1, 0, 0, 1, web_api_keyring_verify},
    {R_GET, "/api/keyring/safety", 1, 0, 0, 1, web_api_keyring_safety},
    {R_POST, "/api/keyring/backup", 1, 0, 0, 1, web_api_keyring_backup},
    {R_POST, "/api/keyring/restore", 1, 0, 0, 1, web_api_keyring_restore},
    {R_POST, "/api/keyring/safety", 1, 0, 0, 1, web_api_keyring_safety_verify},
    {R_GET, "/api/kme", 1, 0, 0, 1, web_api_kme},
    {R_GET, "/api/kme/network", 1, 0, 0, 1, web_api_kme_network},
    {R_GET, "/api/folders", 1, 0, 0, 2, web_api_folders},
    {R_POST, "/api/folders", 1, 0, 0, 3, web_api_folder_create},
    {R_POST, "/api/folders/rename", 1, 0, 0, 3, web_api_folder_rename},
    {R_POST, "/api/folders/delete", 1, 0, 0, 3, web_api_folder_delete},
    {R_GET, "/api/messages", 1, 0, 0, 2, web_api_messages_list},
    {R_GET, "/api/messages/*", 1, 0, 0, 1, web_api_message_get},
    {R_GET, "/api/messages/*/html", 1, 0, 0, 1, web_api_message_html},
    {R_GET, "/api/messages/*/attachments/*", 1, 0, 0, 1,
     web_api_message_attachment},
    {R_POST, "/api/messages/*/flags", 1, 0, 0, 3, web_api_message_flags},
    {R_POST, "/api/messages/*/retry", 1, 0, 0, 1, web_api_message_retry},
    {R_POST, "/api/messages/*/forward", 1, 0, 0, 1, web_api_message_forward},
    {R_POST, "/api/messages/*/move", 1, 0, 0, 3, web_api_message_move},
    {R_POST, "/api/messages/*/file", 1, 0, 0, 3, web_api_message_file},
    {R_POST, "/api/messages/*/trash", 1, 0, 0, 3, web_api_message_trash},
    {R_DEL, "/api/messages/*", 1, 0, 0, 2, web_api_message_delete},
    {R_POST, "/api/sync", 1, 0, 0, 0, web_api_sync_start},
    {R_GET, "/api/sync", 1, 0, 0, 0, web_api_sync_get},
    {R_GET, "/api/events", 1, 0, 0, 0, web_api_events},
    {R_POST, "/api/uploads", 1, 0, 1, 0, web_api_upload_add},
    {R_DEL, "/api/uploads/*", 1, 0, 0, 0, web_api_upload_delete},
    {R_POST, "/api/addresses/parse", 1, 0, 0, 0, web_api_addresses_parse},
    {R_POST, "/api/levels", 1, 0, 0, 1, web_api_levels},
    {R_POST, "/api/send", 1, MSGBODY, 0, 1, web_api_send},
    {R_GET, "/api/drafts", 1, 0, 0, 1, web_api_drafts_list},
    {R_POST, "/api/drafts", 1, MSGBODY, 0, 1, web_api_drafts_add},
    {R_PUT, "/api/drafts/*", 1, MSGBODY, 0, 1, web_api_drafts_update},
    {R_DEL, "/api/drafts/*", 1, 0, 0, 1, web_api_drafts_delete},
    {R_GET, "/api/outbox", 1, 0, 0, 1, web_api_outbox_list},
    {R_POST, "/api/outbox/*/retry", 1, 0, 0, 1, web_api_outbox_retry},
    {R_GET, "/api/chats", 1, 0, 0, 2, web_api_chats_list},
    {R_POST, "/api/chats", 1, 0, 0, 1, web_api_chats_send},
    {R_GET, "/api/chats/*", 1, 0, 0, 2, web_api_chat_get},
    {R_POST, "/api/chats/*/messages", 1, 0, 0, 1, web_api_chat_send},
    {R_POST, "/api/chats/*/read", 1, 0, 0, 3, web_api_chat_read},
    {R_POST, "/api/chats/*/level", 1, 0, 0, 3, web_api_chat_level},
    {R_POST, "/api/chats/*/members", 1, 0, 0, 1, web_api_chat_members},
    {R_POST, "/api/chats/*/receipts", 1, 0, 0, 3, web_api_chat_receipts},
    {R_GET, "/api/chats/files/*/*", 1, 0, 0, 2, web_api_chat_file},
};
const size_t web_routes_count = sizeof(web_routes) / sizeof(web_routes[0]);

/* Wipes a string that jansson holds (a passphrase or password) before the
 * JSON object is freed. jansson hands out const pointers to its own
 * malloc'd copy; copying the pointer value avoids casting const away. */
void web_wipe_json_string(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	const char *cv;
	char *w;

	if (!v || !json_is_string(v))
		return;
	cv = json_string_value(v);
	memcpy(&w, &cv, sizeof(w));
	qm_wipe(w, json_string_length(v));
}

/* A secret string field copied into secure memory; NULL on error (replied). */
char *web_secret_field(struct web_req *r, json_t *o, const char *key,
                       int required, size_t *len)
{
	const char *v = NULL;
	char *s;
	int got = web_get_str(r, o, key, required, 1024, &v);

	if (got < 0)
		return NULL;
	if (got == 0) {
		*len = 0;
		return NULL;
	}
	*len = strlen(v);
	s = qm_sec_dup(v, *len + 1);
	if (!s)
		web_reply_error(r, 500, "internal", "out of secure memory");
	return s;
}

/* ------------------------------------------------------------ session */

void web_api_state(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	int unlocked;
	char csrf[WEB_ID_HEX];
	int fresh = 0;

	/* no client lock here: the page loads even while a sync runs */
	pthread_mutex_lock(&srv->reader_lock);
	unlocked = srv->reader != NULL;
	pthread_mutex_unlock(&srv->reader_lock);

	pthread_mutex_lock(&srv->lock);
	if (!r->session) {
		r->session = web_session_new(srv);
		fresh = 1;
	}
	if (!unlocked)
		r->session->unlocked = 0;
	unlocked = unlocked && r->session->unlocked;
	qm_strlcpy(csrf, r->session->csrf, sizeof(csrf));
	pthread_mutex_unlock(&srv->lock);
	r->reply.set_cookie = fresh;
	web_reply_json(r, 200, web_state_json(srv, unlocked, csrf));
	qm_wipe(csrf, sizeof(csrf));
}

json_t *web_state_json(struct qm_web_server *srv, int unlocked,
                       const char *csrf)
{
	int init;

	pthread_mutex_lock(&srv->lock);
	init = srv->initialized;
	pthread_mutex_unlock(&srv->lock);
	return json_pack("{s:b,s:b,s:s,s:s,s:b}", "initialized", init,
	                 "unlocked", unlocked, "csrf", csrf, "version", "0.1.0",
	                 "remote_images", !srv->cfg.no_remote_images);
}

/* Marks the request's session unlocked with fresh IDs and replies. */
static void unlocked_reply(struct web_req *r)
{
	char csrf[WEB_ID_HEX];

	pthread_mutex_lock(&r->srv->lock);
	web_session_rotate(r->session);
	r->session->unlocked = 1;
	qm_strlcpy(csrf, r->session->csrf, sizeof(csrf));
	pthread_mutex_unlock(&r->srv->lock);
	r->reply.set_cookie = 1;
	web_reply_json(r, 200,
	               json_pack("{s:b,s:s}", "unlocked", 1, "csrf", csrf));
	qm_wipe(csrf, sizeof(csrf));
}

/*
 * Unlock back-off: wrong passphrases in a row on this server (not per
 * session: a new cookie starts no new count). The first WEB_BACKOFF_FREE
 * cost nothing more than the key derivation; each one after them makes the
 * server refuse every attempt, the right passphrase included, for
 * WEB_BACKOFF_BASE_MS, then twice that, ... up to WEB_BACKOFF_MAX_MS. A
 * success resets the count. A refused attempt derives no key and does not
 * count.
 */
#define WEB_BACKOFF_FREE    3u
#define WEB_BACKOFF_BASE_MS 2000
#define WEB_BACKOFF_MAX_MS  (300 * 1000)

static int64_t backoff_now_ms(const struct qm_web_server *srv)
{
	if (srv->cfg.now_ms)
		return srv->cfg.now_ms();
	return (int64_t)(qm_mono_ns() / 1000000u);
}

/* The wait after the n-th wrong passphrase in a row, in ms. */
static int64_t backoff_wait_ms(unsigned n)
{
	int64_t w = WEB_BACKOFF_BASE_MS;

	if (n <= WEB_BACKOFF_FREE)
		return 0;
	for (n -= WEB_BACKOFF_FREE + 1; n > 0 && w < WEB_BACKOFF_MAX_MS; n--)
		w *= 2;
	return w < WEB_BACKOFF_MAX_MS ? w : WEB_BACKOFF_MAX_MS;
}

/* 1 (and the 429 reply) while the server waits after wrong passphrases. */
static int backoff_refuse(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	int64_t left;
	long secs;
	char msg[96];

	pthread_mutex_lock(&srv->lock);
	left = srv->unlock_until_ms - backoff_now_ms(srv);
	pthread_mutex_unlock(&srv->lock);
	if (left <= 0)
		return 0;
	secs = (long)((left + 999) / 1000);
	snprintf(msg, sizeof(msg),
	         "Too many wrong passphrases. Try again in %ld second%s.", secs,
	         secs == 1 ? "" : "s");
	r->reply.retry_after = secs;
	web_reply_json(r, 429,
	               json_pack("{s:{s:s,s:s,s:I}}", "error", "code",
	                         "backoff", "message", msg, "retry_after",
	                         (json_int_t)secs));
	return 1;
}

/* Counts a wrong passphrase (ok 0) or resets the count (ok 1). */
static void backoff_count(struct qm_web_server *srv, int ok)
{
	pthread_mutex_lock(&srv->lock);
	if (ok) {
		srv->unlock_failures = 0;
		srv->unlock_until_ms = 0;
	} else {
		if (srv->unlock_failures < UINT_MAX)
			srv->unlock_failures++;
		srv->unlock_until_ms =
		    backoff_now_ms(srv) + backoff_wait_ms(srv->unlock_failures);
	}
	pthread_mutex_unlock(&srv->lock);
}

/* After an unlock: the reader, the mail watch, the session. */
static void unlocked_now(struct web_req *r, int by_agent)
{
	web_reader_open(r->srv);
	web_watch_kick(r->srv); /* unlocked: start watching for mail */
	pthread_mutex_lock(&r->srv->lock);
	r->srv->initialized = 1;
	r->srv->agent_unlocked = by_agent;
	r->srv->agent_checked_ms = (int64_t)(qm_mono_ns() / 1000000u);
	if (!r->session)
		r->session = web_session_new(r->srv);
	pthread_mutex_unlock(&r->srv->lock);
	unlocked_reply(r);
}

/* Unlock once per session: the browser posts the token of the link
 * `qmail web` printed, and the vault opens with the unlock agent's key. A
 * wrong token counts as a wrong passphrase (the back-off, invariant 28). */
static void agent_unlock(struct web_req *r, const char *tok)
{
	struct qm_web_server *srv = r->srv;
	size_t n = strlen(srv->agent_token);
	unsigned char *key = NULL;
	struct qm_error e;
	enum qm_err rc;

	if (backoff_refuse(r))
		return;
	if (!srv->client || !srv->cfg.agent_key || n == 0 || strlen(tok) != n ||
	    qm_ct_eq(tok, srv->agent_token, n) != 0) {
		backoff_count(srv, 0);
		web_reply_error(r, 403, "denied",
		                "This unlock link is not the one qmail web "
		                "printed. Enter your passphrase.");
		return;
	}
	key = qm_sec_alloc(QM_CLIENT_UNLOCK_KEYBYTES);
	if (!key) {
		web_reply_error(r, 500, "internal", "Out of secure memory.");
		return;
	}
	if (srv->cfg.agent_key(srv->cfg.agent_arg, key) != 0) {
		qm_sec_free(key);
		web_reply_error(r, 403, "denied",
		                "QMail is no longer unlocked for the session "
		                "(locked, or its time ran out). Enter your "
		                "passphrase.");
		return;
	}
	qm_error_clear(&e);
	rc = qm_client_unlock_key(srv->client, key, QM_CLIENT_UNLOCK_KEYBYTES,
	                          &e);
	qm_sec_free(key);
	if (rc == QM_ERR_DENIED) {
		web_reply_error(
		    r, 403, "denied",
		    "The session's key no longer opens QMail (the "
		    "passphrase was changed). Enter your passphrase.");
		return;
	}
	if (rc != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	backoff_count(srv, 1);
	unlocked_now(r, 1);
}

static void unlock_or_init(struct web_req *r, int init)
{
	struct qm_error e;
	json_t *j = web_body_json(r);
	char *pass = NULL;
	size_t len = 0;
	enum qm_err rc;

	if (!j)
		return;
	if (!init && json_is_string(json_object_get(j, "agent"))) {
		char tok[2 * WEB_ID_BYTES + 2];

		qm_strlcpy(tok, json_string_value(json_object_get(j, "agent")),
		           sizeof(tok));
		json_decref(j);
		agent_unlock(r, tok);
		qm_wipe(tok, sizeof(tok));
		return;
	}
	pass = web_secret_field(r, j, "passphrase", 1, &len);
	web_wipe_json_string(j, "passphrase");
	json_decref(j);
	if (!pass)
		return;
	/* before the key derivation: a refused attempt costs nothing */
	if (!init && backoff_refuse(r))
		goto out;
	if (!r->srv->client) {
		web_reply_error(r, 503, "unavailable",
		                "No client engine is attached.");
		goto out;
	}
	if (init) {
		if (len < 12) {
			web_reply_error(
			    r, 400, "bad_request",
			    "Choose a passphrase of at least 12 characters.");
			goto out;
		}
		if (qm_client_initialised(r->srv->client)) {
			web_reply_error(
			    r, 409, "conflict",
			    "QMail is already set up here: unlock it instead.");
			goto out;
		}
		rc = qm_client_init(r->srv->client, pass, len, &e);
	} else {
		rc = qm_client_unlock(r->srv->client, pass, len, &e);
		if (rc == QM_OK || rc == QM_ERR_DENIED)
			backoff_count(r->srv, rc == QM_OK);
	}
	if (rc == QM_ERR_DENIED) {
		web_reply_error(r, 403, "denied",
		                "That passphrase is not right. Check Caps Lock "
		                "and try again.");
		goto out;
	}
	if (rc != QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	unlocked_now(r, 0);
out:
	qm_sec_free(pass);
}

void web_api_init(struct web_req *r)
{
	unlock_or_init(r, 1);
}

void web_api_unlock(struct web_req *r)
{
	unlock_or_init(r, 0);
}

void web_api_lock(struct web_req *r)
{
	pthread_mutex_lock(&r->srv->lock);
	r->srv->agent_unlocked = 0;
	pthread_mutex_unlock(&r->srv->lock);
	web_reader_close(r->srv);
	if (r->srv->client)
		qm_client_lock(r->srv->client);
	web_watch_kick(r->srv); /* drop the sessions and their passwords */
	web_oauth_forget_all(r->srv); /* and the sign-ins' tokens */
	pthread_mutex_lock(&r->srv->lock);
	web_session_end_all(r->srv);
	r->session = NULL;
	pthread_mutex_unlock(&r->srv->lock);
	r->reply.clear_cookie = 1;
	web_reply_json(r, 200, json_pack("{s:b}", "unlocked", 0));
}

void web_api_passphrase(struct web_req *r)
{
	struct qm_error e;
	json_t *j = web_body_json(r);
	char *oldp = NULL, *newp = NULL;
	size_t ol = 0, nl = 0;
	enum qm_err rc;

	if (!j)
		return;
	oldp = web_secret_field(r, j, "old", 1, &ol);
	if (oldp)
		newp = web_secret_field(r, j, "new", 1, &nl);
	web_wipe_json_string(j, "old");
	web_wipe_json_string(j, "new");
	json_decref(j);
	if (!oldp || !newp)
		goto out;
	if (nl < 12) {
		web_reply_error(
		    r, 400, "bad_request",
		    "Choose a new passphrase of at least 12 characters.");
		goto out;
	}
	rc =
	    qm_client_passphrase_change(r->srv->client, oldp, ol, newp, nl, &e);
	if (rc == QM_ERR_DENIED)
		web_reply_error(r, 403, "denied",
		                "The current passphrase is not right.");
	else if (rc != QM_OK)
		web_reply_qm_error(r, &e);
	else
		web_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
out:
	qm_sec_free(oldp);
	qm_sec_free(newp);
}

/* ------------------------------------------------------------ accounts */

static const char *tls_name(enum qm_store_tls t)
{
	return t == QM_TLS_STARTTLS ? "starttls"
	       : t == QM_TLS_NONE   ? "none"
	                            : "tls";
}

static json_t *server_json(const struct qm_store_server *s)
{
	return json_pack("{s:o,s:i,s:s}", "host", web_jstr(s->host), "port",
	                 s->port, "security", tls_name(s->tls));
}

/* The per-account settings the account JSON carries, by the engine's
 * names, and their JSON type (the engine keeps text: "1"/"0" for a
 * boolean, digits for a number). */
enum acct_set_type { AS_TEXT, AS_BOOL, AS_INT };
static const struct {
	const char *name;
	enum acct_set_type type;
} acct_sets[] = {
    {QM_CLIENT_SET_MAIL_CA, AS_TEXT},      {QM_CLIENT_SET_INCOMING, AS_TEXT},
    {QM_CLIENT_SET_SYNC_FOLDERS, AS_TEXT}, {QM_CLIENT_SET_DELETE_MODE, AS_TEXT},
    {QM_CLIENT_SET_HEADER_FIRST, AS_INT},  {QM_CLIENT_SET_SAVE_SENT, AS_BOOL},
    {QM_CLIENT_SET_SAVE_SENT_L1, AS_BOOL}, {QM_CLIENT_SET_POP3_DELETE, AS_BOOL},
    {QM_CLIENT_SET_PLAIN_INVITE, AS_BOOL},
};
#define ACCT_SETS (sizeof(acct_sets) / sizeof(acct_sets[0]))

static json_t *account_json(struct qm_web_server *srv,
                            const struct qm_store_account *a)
{
	int has_pw = qm_client_account_has_secret(srv->client, a);

	return json_pack(
	    "{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:{s:o,s:o,s:o,s:o},"
	    "s:i,s:b}",
	    "id", "", "name", web_jstr(a->display_name), "address",
	    web_jstr(a->address), "username", web_jstr(a->username), "sae_id",
	    web_jstr(a->sae_id), "smtp", server_json(&a->smtp), "imap",
	    server_json(&a->imap), "pop3", server_json(&a->pop3), "kme", "url",
	    web_jstr(a->kme_url), "ca", web_jstr(a->kme_ca), "cert",
	    web_jstr(a->kme_cert), "key", web_jstr(a->kme_key), "default_level",
	    a->default_level, "has_password", has_pw);
}

/* json_pack has no int64 conversion into a string: set "id" afterwards. */
static json_t *account_json_id(struct qm_web_server *srv,
                               const struct qm_store_account *a)
{
	json_t *j = account_json(srv, a);
	char id[24];

	if (!j)
		return NULL;
	snprintf(id, sizeof(id), "%lld", (long long)a->id);
	json_object_set_new(j, "id", json_string(id));
	json_object_set_new(j, "auth",
	                    json_string(a->auth == QM_AUTH_OAUTH2 ? "oauth2"
	                                                          : "password"));
	json_object_set_new(
	    j, "needs_signin",
	    json_boolean(a->auth == QM_AUTH_OAUTH2 &&
	                 qm_client_account_signin_needed(srv->client, a->id)));
	for (size_t i = 0; i < ACCT_SETS; i++) {
		char v[QM_STORE_PATHMAX];
		long long x = 0;
		int set = 0;

		if (qm_client_setting_get(srv->client, a->id, acct_sets[i].name,
		                          v, sizeof(v), &set, NULL) != QM_OK)
			v[0] = '\0';
		switch (acct_sets[i].type) {
		case AS_BOOL:
			json_object_set_new(j, acct_sets[i].name,
			                    json_boolean(strcmp(v, "1") == 0));
			break;
		case AS_INT:
			if (qm_parse_ll(v, 0, LLONG_MAX, &x, NULL) != QM_OK)
				x = 0;
			json_object_set_new(j, acct_sets[i].name,
			                    json_integer((json_int_t)x));
			break;
		case AS_TEXT:
			json_object_set_new(j, acct_sets[i].name, web_jstr(v));
			break;
		}
	}
	return j;
}

void web_api_presets(struct web_req *r)
{
	static const char *const ids[] = {"gmail", "outlook", "yahoo"};
	static const char *const names[] = {"Gmail", "Outlook / Microsoft 365",
	                                    "Yahoo Mail"};
	json_t *arr = json_array();
	size_t i;

	for (i = 0; i < 3 && arr; i++) {
		struct qm_store_account a;
		memset(&a, 0, sizeof(a));
		if (qm_client_account_preset(&a, ids[i], NULL) != QM_OK)
			continue;
		json_array_append_new(arr,
		                      json_pack("{s:s,s:s,s:o,s:o,s:o}", "id",
		                                ids[i], "name", names[i],
		                                "smtp", server_json(&a.smtp),
		                                "imap", server_json(&a.imap),
		                                "pop3", server_json(&a.pop3)));
	}
	web_reply_json(r, 200, arr ? json_pack("{s:o}", "presets", arr) : NULL);
}

void web_api_accounts_list(struct web_req *r)
{
	struct qm_store_account *list = NULL;
	struct qm_error e;
	size_t n = 0, i;
	json_t *arr;

	if (qm_client_account_list(r->srv->client, &list, &n, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	arr = json_array();
	for (i = 0; i < n && arr; i++)
		json_array_append_new(arr, account_json_id(r->srv, &list[i]));
	free(list);
	web_reply_json(r, 200,
	               arr ? json_pack("{s:o}", "accounts", arr) : NULL);
}

/* Reads a server object {host, port, security} into s; 0 or -1 (replied). */
static int read_server(struct web_req *r, json_t *o, const char *key,
                       struct qm_store_server *s)
{
	json_t *v = json_object_get(o, key);
	const char *host = NULL, *sec = NULL;
	long long port = s->port;

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		web_reply_error(
		    r, 400, "bad_request",
		    "\"%s\" must be an object {host, port, security}.", key);
		return -1;
	}
	if (web_get_str(r, v, "host", 0, QM_STORE_HOSTMAX - 1, &host) < 0 ||
	    web_get_int(r, v, "port", 0, 0, 65535, &port) < 0 ||
	    web_get_str(r, v, "security", 0, 16, &sec) < 0)
		return -1;
	if (host) {
		size_t i;
		for (i = 0; host[i]; i++)
			if (!(host[i] == '.' || host[i] == '-' ||
			      host[i] == ':' ||
			      (host[i] >= '0' && host[i] <= '9') ||
			      (host[i] >= 'a' && host[i] <= 'z') ||
			      (host[i] >= 'A' && host[i] <= 'Z'))) {
				web_reply_error(
				    r, 400, "bad_request",
				    "The %s host \"%s\" is not a host name.",
				    key, host);
				return -1;
			}
		qm_strlcpy(s->host, host, sizeof(s->host));
	}
	s->port = (int)port;
	if (sec) {
		if (strcmp(sec, "tls") == 0)
			s->tls = QM_TLS_IMPLICIT;
		else if (strcmp(sec, "starttls") == 0)
			s->tls = QM_TLS_STARTTLS;
		else if (strcmp(sec, "none") == 0)
			s->tls = QM_TLS_NONE;
		else {
			web_reply_error(
			    r, 400, "bad_request",
			    "%s security must be tls, starttls or none.", key);
			return -1;
		}
	}
	return 0;
}

/* Copies an optional text field into a fixed buffer; 0 or -1 (replied). */
static int read_text(struct web_req *r, json_t *o, const char *key, char *dst,
                     size_t cap)
{
	const char *v = NULL;
	int got = web_get_str(r, o, key, 0, cap - 1, &v);

	if (got < 0)
		return -1;
	if (got > 0)
		qm_strlcpy(dst, v, cap);
	return 0;
}

/* Fills a from the request object; 0 or -1 (replied). */
static int read_account(struct web_req *r, json_t *j,
                        struct qm_store_account *a)
{
	json_t *kme = json_object_get(j, "kme");
	long long lvl = a->default_level ? a->default_level : 2;

	if (read_text(r, j, "name", a->display_name, sizeof(a->display_name)) ||
	    read_text(r, j, "address", a->address, sizeof(a->address)) ||
	    read_text(r, j, "username", a->username, sizeof(a->username)) ||
	    read_text(r, j, "sae_id", a->sae_id, sizeof(a->sae_id)) ||
	    read_server(r, j, "smtp", &a->smtp) ||
	    read_server(r, j, "imap", &a->imap) ||
	    read_server(r, j, "pop3", &a->pop3) ||
	    web_get_int(r, j, "default_level", 0, 1, 4, &lvl) < 0)
		return -1;
	a->default_level = (int)lvl;
	if (kme && json_is_object(kme)) {
		if (read_text(r, kme, "url", a->kme_url, sizeof(a->kme_url)) ||
		    read_text(r, kme, "ca", a->kme_ca, sizeof(a->kme_ca)) ||
		    read_text(r, kme, "cert", a->kme_cert,
		              sizeof(a->kme_cert)) ||
		    read_text(r, kme, "key", a->kme_key, sizeof(a->kme_key)))
			return -1;
	}
	if (!web_addr_ok(a->address)) {
		web_reply_error(
		    r, 400, "bad_request",
		    "\"%s\" is not an e-mail address like name@example.org.",
		    a->address);
		return -1;
	}
	if (!a->username[0])
		qm_strlcpy(a->username, a->address, sizeof(a->username));
	return 0;
}

/* The values of the per-account settings in request j, as the engine
 * keeps them (NULL: not in the request), checked by the engine before
 * anything is written. */
struct acct_vals {
	const char *v[ACCT_SETS];
	char num[ACCT_SETS][24];
};

/* Reads and checks the settings of request j into *out; 0, or -1 (replied:
 * the engine's message for a value it refuses). */
static int account_settings_read(struct web_req *r, json_t *j,
                                 struct acct_vals *out)
{
	struct qm_error e;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < ACCT_SETS; i++) {
		const char *name = acct_sets[i].name;
		json_t *v = json_object_get(j, name);
		int b = 0;

		if (!v || json_is_null(v))
			continue;
		switch (acct_sets[i].type) {
		case AS_BOOL:
			if (web_get_bool(r, j, name, &b) < 0)
				return -1;
			out->v[i] = b ? "1" : "0";
			break;
		case AS_INT:
			if (json_is_integer(v)) {
				snprintf(out->num[i], sizeof(out->num[i]),
				         "%lld",
				         (long long)json_integer_value(v));
				out->v[i] = out->num[i];
				break;
			}
			/* text: the engine says what it takes */
			if (web_get_str(r, j, name, 0, sizeof(out->num[i]) - 1,
			                &out->v[i]) < 0)
				return -1;
			break;
		case AS_TEXT:
			if (web_get_str(r, j, name, 0, QM_STORE_PATHMAX - 1,
			                &out->v[i]) < 0)
				return -1;
			break;
		}
		qm_error_clear(&e);
		if (qm_client_setting_check(1, name, out->v[i], &e) != QM_OK) {
			web_reply_qm_error(r, &e);
			return -1;
		}
	}
	return 0;
}

/* Stores the settings account_settings_read took from the request
 * (mail_ca, incoming, sync_folders, delete_mode, header_first, save_sent,
 * pop3_delete; "" unsets); 0 or -1 (replied). */
static int account_settings(struct web_req *r, const struct acct_vals *in,
                            int64_t id)
{
	struct qm_error e;

	for (size_t i = 0; i < ACCT_SETS; i++)
		if (in->v[i] &&
		    qm_client_setting_set(r->srv->client, id, acct_sets[i].name,
		                          in->v[i], &e) != QM_OK) {
			web_reply_qm_error(r, &e);
			return -1;
		}
	return 0;
}

void web_api_accounts_add(struct web_req *r)
{
	struct acct_vals vals;
	struct qm_store_account a;
	struct qm_error e;
	json_t *j = web_body_json(r);
	const char *preset = NULL, *flow = NULL;
	char *pw = NULL;
	size_t pwlen = 0;

	if (!j)
		return;
	memset(&a, 0, sizeof(a));
	if (web_get_str(r, j, "preset", 0, 16, &preset) < 0)
		goto out;
	if (preset && qm_client_account_preset(&a, preset, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	if (read_account(r, j, &a) != 0 ||
	    account_settings_read(r, j, &vals) != 0)
		goto out;
	if (web_get_str(r, j, "oauth_flow", 0, 64, &flow) < 0)
		goto out;
	pw = flow ? NULL : web_secret_field(r, j, "password", 0, &pwlen);
	if (r->reply.status)
		goto out;
	if (qm_client_account_add(r->srv->client, &a, pw, pwlen, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	/* the wizard's sign-in: its tokens go to the new account; without
	 * them the account is of no use, so it goes too */
	if (flow && web_oauth_store(r, flow, a.id) != 0) {
		if (qm_client_account_delete(r->srv->client, a.id, &e) != QM_OK)
			qm_error_clear(&e);
		goto out;
	}
	if (flow && qm_client_account_get(r->srv->client, a.id, &a, &e) !=
	                QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	if (account_settings(r, &vals, a.id) != 0)
		goto out;
	web_watch_kick(r->srv); /* watch what the accounts are now */
	web_reply_json(r, 201, account_json_id(r->srv, &a));
out:
	web_wipe_json_string(j, "password");
	json_decref(j);
	qm_sec_free(pw);
}

void web_api_accounts_update(struct web_req *r)
{
	struct acct_vals vals;
	struct qm_store_account a;
	struct qm_error e;
	json_t *j;
	int64_t id;
	char *pw = NULL;
	size_t pwlen = 0;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	if (qm_client_account_get(r->srv->client, id, &a, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	j = web_body_json(r);
	if (!j)
		return;
	if (read_account(r, j, &a) != 0 ||
	    account_settings_read(r, j, &vals) != 0)
		goto out;
	pw = web_secret_field(r, j, "password", 0, &pwlen);
	if (r->reply.status)
		goto out;
	/* a password typed here is what the account logs in with */
	if (pw)
		a.auth = QM_AUTH_PASSWORD;
	if (qm_client_account_update(r->srv->client, &a, pw, pwlen, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	if (account_settings(r, &vals, id) != 0)
		goto out;
	web_watch_kick(r->srv); /* watch what the accounts are now */
	web_reply_json(r, 200, account_json_id(r->srv, &a));
out:
	web_wipe_json_string(j, "password");
	json_decref(j);
	qm_sec_free(pw);
}

void web_api_accounts_delete(struct web_req *r)
{
	struct qm_error e;
	int64_t id;

	struct qm_error re;
	enum qm_err rrc;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	/* an OAuth2 account is signed out at its provider first (a no-op for
	 * the others); a failure there does not keep the account */
	qm_error_clear(&re);
	rrc = qm_client_account_oauth_revoke(r->srv->client, id, &re);
	if (rrc == QM_ERR_NOTFOUND) {
		web_reply_qm_error(r, &re);
		return;
	}
	if (qm_client_account_delete(r->srv->client, id, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_counts_forget(r->srv);
	web_watch_kick(r->srv);
	web_reply_json(r, 200,
	               json_pack("{s:b,s:o}", "signed_out", rrc == QM_OK,
	                         "message",
	                         web_jstr(rrc == QM_OK ? "" : qm_error_msg(&re))));
}

static json_t *check_json(const struct qm_client_check *c)
{
	return json_pack("{s:b,s:b,s:o,s:I}", "tried", c->tried, "ok", c->ok,
	                 "message", web_jstr(c->message), "ms",
	                 (json_int_t)c->ms);
}

void web_api_accounts_test(struct web_req *r)
{
	struct qm_client_check smtp, in, kme;
	struct qm_error e;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	memset(&smtp, 0, sizeof(smtp));
	memset(&in, 0, sizeof(in));
	memset(&kme, 0, sizeof(kme));
	if (qm_client_account_test(r->srv->client, id, &smtp, &in, &kme, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_reply_json(r, 200,
	               json_pack("{s:o,s:o,s:o}", "smtp", check_json(&smtp),
	                         "incoming", check_json(&in), "kme",
	                         check_json(&kme)));
}

/* Tests the servers of an account not saved yet (the wizard's "Test and
 * save"): the same fields as POST /api/accounts, with its password or
 * the OAuth2 sign-in of the wizard (oauth_flow); nothing is stored. */
void web_api_accounts_probe(struct web_req *r)
{
	struct qm_client_check smtp, in;
	struct qm_store_account a;
	struct qm_error e;
	json_t *j = web_body_json(r);
	const char *ca = NULL, *flow = NULL;
	char *pw = NULL;
	size_t pwlen = 0;

	if (!j)
		return;
	memset(&a, 0, sizeof(a));
	if (read_account(r, j, &a) != 0 ||
	    web_get_str(r, j, QM_CLIENT_SET_MAIL_CA, 0, QM_STORE_PATHMAX - 1,
	                &ca) < 0 ||
	    web_get_str(r, j, "oauth_flow", 0, 64, &flow) < 0)
		goto out;
	if (flow) {
		/* the access token of the wizard's sign-in, borrowed */
		if (web_oauth_probe(r, flow, &a, ca, &smtp, &in) != 0)
			goto out;
	} else {
		pw = web_secret_field(r, j, "password", 0, &pwlen);
		if (r->reply.status)
			goto out;
		if (qm_client_account_probe(r->srv->client, &a, ca, pw, pwlen,
		                            &smtp, &in, &e) != QM_OK) {
			web_reply_qm_error(r, &e);
			goto out;
		}
	}
	web_reply_json(r, 200,
	               json_pack("{s:o,s:o}", "smtp", check_json(&smtp),
	                         "incoming", check_json(&in)));
out:
	web_wipe_json_string(j, "password");
	json_decref(j);
	qm_sec_free(pw);
}

/* ------------------------------------------------------------ settings */

/* Settings the engine keeps for the GUI (the level settings go through
 * the engine's level rules: qm_client_level_setting_*). */
static const char *const setting_keys[] = {QM_CLIENT_SET_BACKGROUND_SYNC, NULL};
static const char *const level_keys[] = {QM_CLIENT_SET_DEFAULT_LEVEL,
                                         QM_CLIENT_SET_MIN_LEVEL, NULL};

/* Every limit with its value in force, default, range and whether the
 * user set it; the web server's own body limits as they are now. */
static json_t *limits_json(struct qm_web_server *srv)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < qm_client_limit_count(); i++) {
		const struct qm_client_limit *l = qm_client_limit_at(i);
		uint64_t v = l->def;
		int set = 0;

		/* cannot fail for a name of the engine's own table; v
		 * stays the default, as the engine itself falls back to */
		QM_IGNORE(
		    qm_client_limit_get(srv->client, l->name, &v, &set, NULL));
		json_array_append_new(
		    a,
		    json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:b}", "name",
		              l->name, "what", l->what, "unit", l->unit,
		              "value", (json_int_t)v, "default",
		              (json_int_t)l->def, "min", (json_int_t)l->min,
		              "ceiling", (json_int_t)l->ceiling, "set", set));
	}
	return a;
}

/* The engine's global settings of signing in and finding servers
 * (oauth.*: the person's own client IDs; discover.*), by the engine's
 * table: name, what it does, whether set, and its value (a secret one
 * shown as its first characters only, never whole). */
static int signin_setting(const char *name)
{
	return strncmp(name, QM_CLIENT_SET_OAUTH_PREFIX,
	               strlen(QM_CLIENT_SET_OAUTH_PREFIX)) == 0 ||
	       strncmp(name, "discover.", 9) == 0;
}

static json_t *signin_settings_json(struct qm_web_server *srv)
{
	struct qm_client_setting_info in;
	json_t *a = json_array();

	for (size_t i = 0; a && qm_client_setting_at(1, i, &in) == 0; i++) {
		char v[QM_STORE_PATHMAX], shown[QM_STORE_PATHMAX];
		int set = 0;

		if (!signin_setting(in.name))
			continue;
		if (qm_client_setting_get(srv->client, 0, in.name, v,
		                          sizeof(v), &set, NULL) != QM_OK)
			v[0] = '\0';
		if (in.secret)
			qm_client_setting_shown(set ? v : "", shown,
			                        sizeof(shown));
		else
			qm_strlcpy(shown, set ? v : "", sizeof(shown));
		qm_wipe(v, sizeof(v));
		json_array_append_new(
		    a, json_pack("{s:s,s:s,s:s,s:b,s:b,s:o}", "name", in.name,
		                 "what", in.what, "values", in.values, "secret",
		                 in.secret, "set", set, "value",
		                 web_jstr(shown)));
	}
	return a;
}

/* Sets {"signin": {"oauth.google.client_id": "...", ...}}: each checked
 * by the engine before any is written; "" unsets. 0, or -1 (replied). */
static int signin_settings_put(struct web_req *r, json_t *j)
{
	json_t *o = json_object_get(j, "signin"), *v;
	const char *k;
	struct qm_error e;

	if (!o)
		return 0;
	if (!json_is_object(o)) {
		web_reply_error(r, 400, "bad_request",
		                "\"signin\" must be an object of settings.");
		return -1;
	}
	json_object_foreach(o, k, v)
	{
		if (!signin_setting(k) || !json_is_string(v)) {
			web_reply_error(r, 400, "bad_request",
			                "\"%.80s\" is not a sign-in setting with "
			                "a text value.",
			                k);
			return -1;
		}
		if (qm_client_setting_check(0, k, json_string_value(v), &e) !=
		    QM_OK) {
			web_reply_qm_error(r, &e);
			return -1;
		}
	}
	json_object_foreach(o, k, v)
	{
		if (qm_client_setting_set(r->srv->client, 0, k,
		                          json_string_value(v), &e) != QM_OK) {
			web_reply_qm_error(r, &e);
			return -1;
		}
	}
	return 0;
}

void web_api_settings_get(struct web_req *r)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; level_keys[i] && o; i++) {
		/* 0: unset (each account's own default; no floor) */
		int v = 0;
		struct qm_error e;

		if (qm_client_level_setting_get(r->srv->client, level_keys[i],
		                                &v, &e) != QM_OK) {
			json_decref(o);
			web_reply_qm_error(r, &e);
			return;
		}
		json_object_set_new(o, level_keys[i], json_integer(v));
	}
	for (i = 0; setting_keys[i] && o; i++) {
		char text[32];
		long long v = 0;
		if (qm_client_setting_get(r->srv->client, 0, setting_keys[i],
		                          text, sizeof(text), NULL,
		                          NULL) == QM_OK &&
		    qm_parse_ll(text, 0, 1 << 30, &v, NULL) == QM_OK)
			json_object_set_new(o, setting_keys[i],
			                    json_integer(v));
		else
			json_object_set_new(o, setting_keys[i],
			                    json_integer(300));
	}
	if (o)
		json_object_set_new(
		    o, "remote_images",
		    json_boolean(!r->srv->cfg.no_remote_images));
	if (o)
		json_object_set_new(o, "limits", limits_json(r->srv));
	if (o)
		json_object_set_new(o, "signin", signin_settings_json(r->srv));
	web_reply_json(r, 200, o);
}

/* Sets the limits of {"limits": {"limit.parts": 8, "limit.web_upload":
 * "10M", ...}}; "default" (or null) goes back to the default. Returns -1
 * when it replied with an error. */
static int limits_put(struct web_req *r, json_t *j)
{
	json_t *lims = json_object_get(j, "limits"), *v;
	const char *name;
	struct qm_error e;

	if (!lims)
		return 0;
	if (!json_is_object(lims)) {
		web_reply_error(r, 400, "bad_request",
		                "limits must be an object of name: value.");
		return -1;
	}
	json_object_foreach(lims, name, v)
	{
		char text[32];

		if (!qm_client_limit_find(name)) {
			web_reply_error(r, 400, "bad_request",
			                "There is no limit named %.64s.", name);
			return -1;
		}
		if (json_is_integer(v))
			snprintf(text, sizeof(text), "%lld",
			         (long long)json_integer_value(v));
		else if (json_is_string(v) &&
		         json_string_length(v) < sizeof(text))
			qm_strlcpy(text, json_string_value(v), sizeof(text));
		else if (json_is_null(v))
			qm_strlcpy(text, "default", sizeof(text));
		else {
			web_reply_error(r, 400, "bad_request",
			                "%.64s: give a number, a size such as "
			                "\"10M\", or \"default\".",
			                name);
			return -1;
		}
		qm_error_clear(&e);
		if (qm_client_limit_set(r->srv->client, name, text, &e) !=
		    QM_OK) {
			web_reply_qm_error(r, &e);
			return -1;
		}
	}
	/* the body limits of this server count from the next request */
	web_limits_load(r->srv, &r->srv->given);
	return 0;
}

void web_api_settings_put(struct web_req *r)
{
	static const long long lo[] = {0}, hi[] = {86400};
	struct qm_error e;
	json_t *j = web_body_json(r);
	size_t i;

	if (!j)
		return;
	if (limits_put(r, j) != 0 || signin_settings_put(r, j) != 0)
		goto out;
	for (i = 0; level_keys[i]; i++) {
		/* 1..4, or 0 for unset; the engine says what is allowed */
		long long v;
		char text[24];
		int got = web_get_int(r, j, level_keys[i], 0, 0, 4, &v);
		if (got < 0)
			goto out;
		if (got == 0)
			continue;
		snprintf(text, sizeof(text), "%lld", v);
		if (qm_client_level_setting_set(r->srv->client, level_keys[i],
		                                text, &e) != QM_OK) {
			web_reply_qm_error(r, &e);
			goto out;
		}
	}
	for (i = 0; setting_keys[i]; i++) {
		long long v;
		char text[24];
		int got =
		    web_get_int(r, j, setting_keys[i], 0, lo[i], hi[i], &v);
		if (got < 0)
			goto out;
		if (got == 0)
			continue;
		snprintf(text, sizeof(text), "%lld", v);
		if (qm_client_setting_set(r->srv->client, 0, setting_keys[i],
		                          text, &e) != QM_OK) {
			web_reply_qm_error(r, &e);
			goto out;
		}
	}
	web_watch_kick(r->srv); /* background sync on or off */
	web_api_settings_get(r);
out:
	/* a client secret came in it */
	if (json_is_object(json_object_get(j, "signin"))) {
		const char *k;
		json_t *v;

		json_object_foreach(json_object_get(j, "signin"), k, v)
		    web_wipe_json_string(json_object_get(j, "signin"), k);
	}
	json_decref(j);
}

/* ------------------------------------------------------------ contacts */

/* The account named by ?account=, or the first account; -1 when replied. */
static int query_account(struct web_req *r, int64_t *id)
{
	const char *q = web_query(r, "account");
	long long v;
	struct qm_store_account *list = NULL;
	size_t n = 0;

	if (q && *q) {
		if (qm_parse_ll(q, 1, INT64_MAX, &v, NULL) != QM_OK) {
			web_reply_error(r, 400, "bad_request",
			                "account must be an account ID.");
			return -1;
		}
		*id = v;
		return 0;
	}
	if (qm_client_account_list(r->srv->client, &list, &n, NULL) != QM_OK ||
	    n == 0) {
		free(list);
		web_reply_error(
		    r, 404, "not_found",
		    "There is no account yet: add one in Settings.");
		return -1;
	}
	*id = list[0].id;
	free(list);
	return 0;
}

/* "altered": the contact's security record was changed on disk outside
 * QMail (docs/STORE.md): not confirmed, nothing sent to it until the user
 * saves it again. */
static json_t *contact_json(const struct qm_store_contact *c)
{
	return json_pack("{s:o,s:o,s:o,s:s,s:b,s:i,s:b}", "address",
	                 web_jstr(c->address), "name", web_jstr(c->name),
	                 "sae_id", web_jstr(c->sae_id), "source",
	                 c->source == QM_CONTACT_USER ? "user" : "learned",
	                 "confirmed", c->confirmed, "min_level", c->min_level,
	                 "altered", c->label == QM_LABEL_ALTERED);
}

void web_api_contacts_list(struct web_req *r)
{
	struct qm_store_contact *list = NULL;
	struct qm_error e;
	size_t n = 0, i;
	int64_t acct;
	json_t *arr;

	if (query_account(r, &acct) != 0)
		return;
	if (qm_client_contact_list(r->srv->client, acct, &list, &n, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	arr = json_array();
	for (i = 0; i < n && arr; i++)
		json_array_append_new(arr, contact_json(&list[i]));
	free(list);
	web_reply_json(r, 200,
	               arr ? json_pack("{s:o}", "contacts", arr) : NULL);
}

void web_api_contacts_suggest(struct web_req *r)
{
	struct qm_client_suggestion *list = NULL;
	const char *q = web_query(r, "q");
	struct qm_error e;
	size_t n = 0, i;
	int64_t acct;
	json_t *arr;

	if (!q || !*q || strlen(q) > 320) {
		web_reply_error(r, 400, "bad_request",
		                "q must be 1 to 320 characters.");
		return;
	}
	if ((acct = web_req_account(r)) < 0)
		return;
	/* the reader: suggestions come while a sync holds the client */
	if (qm_client_suggest(web_client(r), acct, q, 10, &list, &n, &e) !=
	    QM_OK) {
		if (e.code == QM_ERR_INVAL) /* only spaces or quotes typed */
			n = 0;
		else {
			web_reply_qm_error(r, &e);
			return;
		}
	}
	arr = json_array();
	for (i = 0; i < n && arr; i++)
		json_array_append_new(
		    arr, json_pack("{s:o,s:o,s:b,s:I}", "name",
		                   web_jstr(list[i].name), "address",
		                   web_jstr(list[i].address), "contact",
		                   list[i].contact, "messages",
		                   (json_int_t)list[i].messages));
	free(list);
	web_reply_json(r, 200,
	               arr ? json_pack("{s:o}", "contacts", arr) : NULL);
}

void web_api_contacts_put(struct web_req *r)
{
	struct qm_store_contact c;
	struct qm_error e;
	json_t *j;
	int64_t acct;
	long long lvl = 0;

	if (query_account(r, &acct) != 0)
		return;
	if (!web_addr_ok(r->args[0])) {
		web_reply_error(r, 400, "bad_request",
		                "\"%s\" is not an e-mail address.", r->args[0]);
		return;
	}
	memset(&c, 0, sizeof(c));
	if (qm_client_contact_get(r->srv->client, acct, r->args[0], &c, NULL) !=
	    QM_OK) {
		memset(&c, 0, sizeof(c));
		qm_strlcpy(c.address, r->args[0], sizeof(c.address));
	}
	j = web_body_json(r);
	if (!j)
		return;
	lvl = c.min_level;
	if (read_text(r, j, "name", c.name, sizeof(c.name)) ||
	    read_text(r, j, "sae_id", c.sae_id, sizeof(c.sae_id)) ||
	    web_get_int(r, j, "min_level", 0, 0, 4, &lvl) < 0)
		goto out;
	c.min_level = (int)lvl;
	if (qm_client_contact_put(r->srv->client, acct, &c, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	/* entered by the user: confirmed, written afresh with its MAC */
	c.source = QM_CONTACT_USER;
	c.confirmed = 1;
	c.label = QM_LABEL_OK;
	web_reply_json(r, 200, contact_json(&c));
out:
	json_decref(j);
}

/* ------------------------------------------------------------ keyring */

static const char *trust_name(enum qm_store_trust t)
{
	switch (t) {
	case QM_TRUST_VERIFIED:
		return "verified";
	case QM_TRUST_CHANGED:
		return "changed";
	case QM_TRUST_RETIRED:
		return "retired";
	default:
		return "unverified";
	}
}

void web_api_keyring_list(struct web_req *r)
{
	struct qm_client *cl = r->srv->client;
	struct qm_store_account *accts = NULL;
	struct qm_store_contact *cs = NULL;
	size_t na = 0, nc = 0, i, k;
	json_t *own = json_array(), *contacts = json_array();
	int64_t acct;

	if (query_account(r, &acct) != 0)
		goto out;
	if (qm_client_account_list(cl, &accts, &na, NULL) == QM_OK)
		for (i = 0; i < na && own; i++) {
			char fpr[QM_STORE_FPRMAX];
			if (qm_client_key_own_fpr(cl, accts[i].id, fpr, NULL) !=
			    QM_OK)
				continue;
			json_array_append_new(
			    own,
			    json_pack(
			        "{s:o,s:s,s:s}", "address",
			        web_jstr(accts[i].address), "fingerprint", fpr,
			        "algorithms",
			        "ML-KEM-768 + X25519, ML-DSA-65 + Ed25519"));
		}
	if (qm_client_contact_list(cl, acct, &cs, &nc, NULL) == QM_OK)
		for (i = 0; i < nc && contacts; i++) {
			struct qm_store_key *keys = NULL;
			size_t nk = 0;
			if (qm_client_key_list(cl, cs[i].address, &keys, &nk,
			                       NULL) != QM_OK)
				continue;
			for (k = 0; k < nk; k++) {
				json_array_append_new(
				    contacts,
				    json_pack(
				        "{s:o,s:o,s:s,s:I}", "address",
				        web_jstr(keys[k].address),
				        "fingerprint",
				        web_jstr(keys[k].fingerprint), "trust",
				        trust_name(keys[k].trust), "added",
				        (json_int_t)keys[k].first_seen));
			}
			qm_client_keys_free(&keys, nk);
		}
	web_reply_json(r, 200,
	               own && contacts ? json_pack("{s:O,s:O}", "own", own,
	                                           "contacts", contacts)
	                               : NULL);
out:
	free(accts);
	free(cs);
	json_decref(own);
	json_decref(contacts);
}

void web_api_keyring_import(struct web_req *r)
{
	struct qm_error e;
	json_t *j = web_body_json(r);
	const char *key = NULL, *addr = NULL;
	char fpr[QM_STORE_FPRMAX];
	enum qm_store_trust trust;

	if (!j)
		return;
	if (web_get_str(r, j, "key", 1, 60000, &key) < 0 ||
	    web_get_str(r, j, "address", 0, 320, &addr) < 0)
		goto out;
	if (addr && !web_addr_ok(addr)) {
		web_reply_error(r, 400, "bad_request",
		                "\"%s\" is not an e-mail address.", addr);
		goto out;
	}
	if (qm_client_key_import(r->srv->client, addr, key, strlen(key), fpr,
	                         &trust, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	web_reply_json(r, 201,
	               json_pack("{s:o,s:s,s:s}", "address",
	                         web_jstr(addr ? addr : ""), "fingerprint", fpr,
	                         "trust", trust_name(trust)));
out:
	json_decref(j);
}

/* The account and the recovery passphrase of a backup request (the
 * passphrase in secure memory, wiped from the JSON); -1 when refused
 * (replied). */
static int backup_args(struct web_req *r, json_t *j, int64_t *acct, char **pass,
                       size_t *plen)
{
	long long a = 0;

	*pass = NULL;
	if (web_get_int(r, j, "account", 1, 1, INT64_MAX, &a) < 0)
		return -1;
	*acct = a;
	*pass = web_secret_field(r, j, "passphrase", 1, plen);
	web_wipe_json_string(j, "passphrase");
	return *pass ? 0 : -1;
}

void web_api_keyring_backup(struct web_req *r)
{
	struct qm_buf b;
	struct qm_error e;
	json_t *j = web_body_json(r);
	char *pass = NULL;
	size_t plen = 0;
	int64_t acct;

	if (!j)
		return;
	qm_buf_init(&b, 1 << 20);
	if (backup_args(r, j, &acct, &pass, &plen) == 0) {
		if (qm_client_keys_backup(r->srv->client, acct, pass, plen, &b,
		                          &e) != QM_OK)
			web_reply_qm_error(r, &e);
		else
			web_reply_json(r, 200,
			               json_pack("{s:s%}", "backup",
			                         (const char *)b.data, b.len));
	}
	qm_sec_free(pass);
	qm_buf_free(&b);
	json_decref(j);
}

void web_api_keyring_restore(struct web_req *r)
{
	struct qm_error e;
	json_t *j = web_body_json(r);
	const char *text = NULL;
	char *pass = NULL, fpr[QM_STORE_FPRMAX];
	size_t plen = 0;
	int64_t acct;
	enum qm_err rc;

	if (!j)
		return;
	if (backup_args(r, j, &acct, &pass, &plen) == 0 &&
	    web_get_str(r, j, "backup", 1, 60000, &text) > 0) {
		rc = qm_client_keys_restore(r->srv->client, acct, pass, plen,
		                            text, strlen(text), fpr, &e);
		if (rc == QM_ERR_AUTH)
			web_reply_error(r, 403, "denied", "%s",
			                qm_error_msg(&e));
		else if (rc)
			web_reply_qm_error(r, &e);
		else
			web_reply_json(r, 200,
			               json_pack("{s:s}", "fingerprint", fpr));
	}
	qm_sec_free(pass);
	json_decref(j);
}

void web_api_keyring_export(struct web_req *r)
{
	struct qm_buf b;
	struct qm_error e;
	int64_t acct;

	if (query_account(r, &acct) != 0)
		return;
	qm_buf_init(&b, 1 << 20);
	if (qm_client_key_export(r->srv->client, acct, &b, &e) != QM_OK)
		web_reply_qm_error(r, &e);
	else
		web_reply_json(r, 200,
		               json_pack("{s:s%}", "key",
		                         b.data ? (const char *)b.data : "",
		                         b.len));
	qm_buf_free(&b);
}

void web_api_keyring_verify(struct web_req *r)
{
	struct qm_error e;
	json_t *j = web_body_json(r);
	const char *addr = NULL, *fpr = NULL;
	enum qm_err rc;

	if (!j)
		return;
	if (web_get_str(r, j, "address", 1, 320, &addr) < 0 ||
	    web_get_str(r, j, "fingerprint", 1, QM_STORE_FPRMAX - 1, &fpr) < 0)
		goto out;
	rc = qm_client_key_verify(r->srv->client, addr, fpr, &e);
	if (rc == QM_ERR_AUTH)
		web_reply_error(
		    r, 409, "conflict",
		    "The fingerprints differ: this is not the key %s has. "
		    "Do not trust it; ask them to send their key again.",
		    addr);
	else if (rc != QM_OK)
		web_reply_qm_error(r, &e);
	else
		web_reply_json(r, 200, json_pack("{s:s}", "trust", "verified"));
out:
	json_decref(j);
}

/* GET /api/keyring/safety?account=ID&address=A: the safety number of the
 * account and contact A, with its QR code. */
void web_api_keyring_safety(struct web_req *r)
{
	struct qm_client_safety sn;
	struct qm_error e;
	const char *addr = web_query(r, "address");
	char *svg = NULL;
	int64_t acct;

	if (query_account(r, &acct) != 0)
		return;
	if (!addr || !web_addr_ok(addr)) {
		web_reply_error(r, 400, "bad_request",
		                "address must be an e-mail address.");
		return;
	}
	qm_error_clear(&e);
	if (qm_client_key_safety(r->srv->client, acct, addr, &sn, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	svg = web_qr_svg(sn.number);
	web_reply_json(r, 200,
	               json_pack("{s:o,s:o,s:s,s:s,s:s,s:s,s:b,s:s}", "address",
	                         web_jstr(sn.address), "own_address",
	                         web_jstr(sn.own_address), "number", sn.number,
	                         "fingerprint", sn.fpr, "own_fingerprint",
	                         sn.own_fpr, "trust", trust_name(sn.trust),
	                         "altered", sn.altered, "qr_svg",
	                         svg ? svg : ""));
	free(svg);
}

/* POST /api/keyring/safety {account?, address, number, accept_new_key?}:
 * the user compared the number; a changed key needs accept_new_key. */
void web_api_keyring_safety_verify(struct web_req *r)
{
	struct qm_error e;
	json_t *j = web_body_json(r);
	const char *addr = NULL, *number = NULL;
	long long acct = 0;
	int accept = 0;
	enum qm_err rc;
	int64_t id;

	if (!j)
		return;
	if (web_get_str(r, j, "address", 1, 320, &addr) < 0 ||
	    web_get_str(r, j, "number", 1, 200, &number) < 0 ||
	    web_get_int(r, j, "account", 0, 1, INT64_MAX, &acct) < 0 ||
	    web_get_bool(r, j, "accept_new_key", &accept) < 0)
		goto out;
	if (acct)
		id = acct;
	else if (query_account(r, &id) != 0)
		goto out;
	qm_error_clear(&e);
	rc = qm_client_key_safety_verify(r->srv->client, id, addr, number,
	                                 accept, &e);
	if (rc == QM_ERR_AUTH)
		web_reply_error(
		    r, 409, "conflict",
		    "The safety numbers differ: this is not the key "
		    "%s has. Do not trust it; compare again.",
		    addr);
	else if (rc == QM_ERR_STATE)
		web_reply_error(
		    r, 409, "key_changed",
		    "%s presents a new key. Accept it only if %s "
		    "confirmed this number: use \"Accept new key\".",
		    addr, addr);
	else if (rc != QM_OK)
		web_reply_qm_error(r, &e);
	else
		web_reply_json(r, 200, json_pack("{s:s}", "trust", "verified"));
out:
	json_decref(j);
}

/* ------------------------------------------------------------ KME */

/* The QKD network of the account's KME, and the route of each contact
 * with an SAE ID (issue 19): what the key manager's network view draws. */
void web_api_kme_network(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	struct qm_client_kme_net *n = calloc(1, sizeof(*n));
	struct qm_client_kme *k = calloc(1, sizeof(*k));
	struct qm_store_contact *cs = NULL;
	struct qm_error e;
	json_t *o, *kmes, *links, *contacts;
	size_t ncs = 0;
	int64_t acct;
	enum qm_err rc;

	if (!n || !k) {
		free(n);
		free(k);
		web_reply_error(r, 503, "busy", "Out of memory.");
		return;
	}
	if (query_account(r, &acct) != 0)
		goto out;
	qm_error_clear(&e);
	rc = qm_client_kme_network(srv->client, acct, n, &e);
	if (rc == QM_ERR_UNSUPPORTED) {
		/* a KME without the view: said, not an error */
		web_reply_json(r, 200,
		               json_pack("{s:b,s:o}", "supported", 0, "message",
		                         web_jstr(qm_error_msg(&e))));
		goto out;
	}
	if (rc) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	kmes = json_array();
	for (size_t i = 0; i < n->nkmes; i++)
		json_array_append_new(kmes, web_jstr(n->kmes[i]));
	links = json_array();
	for (size_t i = 0; i < n->nlinks; i++) {
		const struct qm_client_kme_link *l = &n->links[i];

		json_array_append_new(
		    links,
		    json_pack("{s:o,s:o,s:b,s:b,s:f,s:f,s:I,s:I,s:o}", "a",
		              web_jstr(l->a), "b", web_jstr(l->b), "up", l->up,
		              "alarm", l->alarm, "qber", l->qber, "rate_bps",
		              l->rate_bps, "avail_ab", (json_int_t)l->avail_ab,
		              "avail_ba", (json_int_t)l->avail_ba, "state",
		              web_jstr(l->state)));
	}
	/* each contact with an SAE ID: the way its keys take (at most 20
	 * asked, one status request each) */
	contacts = json_array();
	if (qm_client_contact_list(srv->client, acct, &cs, &ncs, NULL) ==
	    QM_OK) {
		size_t asked = 0;

		for (size_t i = 0; i < ncs && asked < 20; i++) {
			json_t *c, *route;

			if (!cs[i].sae_id[0])
				continue;
			asked++;
			c = json_pack("{s:o,s:o}", "address",
			              web_jstr(cs[i].address), "sae_id",
			              web_jstr(cs[i].sae_id));
			if (qm_client_kme_status(srv->client, acct,
			                         cs[i].sae_id, k, NULL) != QM_OK ||
			    !k->reachable) {
				json_object_set_new(
				    c, "error",
				    web_jstr(k->message[0]
				                 ? k->message
				                 : "the KME did not answer"));
			} else if (k->route_error[0]) {
				json_object_set_new(c, "error",
				                    web_jstr(k->route_error));
			} else {
				route = json_array();
				for (size_t h = 0; h < k->nroute; h++)
					json_array_append_new(
					    route, web_jstr(k->route[h]));
				json_object_set_new(c, "route", route);
				json_object_set_new(c, "relayed",
				                    json_boolean(k->relayed));
				json_object_set_new(
				    c, "trusted_nodes",
				    json_integer(k->trusted_nodes));
			}
			json_array_append_new(contacts, c);
		}
		free(cs);
	}
	o = json_pack("{s:b,s:o,s:o,s:o,s:o}", "supported", 1, "kme_id",
	              web_jstr(n->kme_id), "kmes", kmes, "links", links,
	              "contacts", contacts);
	web_reply_json(r, 200, o);
out:
	free(n);
	free(k);
}

void web_api_kme(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	struct qm_client_kme k;
	struct qm_error e;
	int64_t acct;
	json_t *o, *hist, *ext;
	size_t i;

	if (query_account(r, &acct) != 0)
		return;
	memset(&k, 0, sizeof(k));
	{
		/* no KME configured: nothing to ask (and no lock held on a
		 * connection that cannot succeed) */
		struct qm_store_account a;
		if (qm_client_account_get(srv->client, acct, &a, &e) != QM_OK) {
			web_reply_qm_error(r, &e);
			return;
		}
		if (!a.kme_url[0]) {
			web_reply_json(
			    r, 200,
			    json_pack("{s:s,s:b,s:s,s:b,s:[]}", "url", "",
			              "reachable", 0, "message",
			              "No key manager is configured for this "
			              "account: add one in Settings.",
			              "alarm", 0, "history"));
			return;
		}
	}
	if (qm_client_kme_status(srv->client, acct, NULL, &k, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return;
	}
	pthread_mutex_lock(&srv->lock);
	if (k.reachable) {
		size_t cap = sizeof(srv->kme_hist) / sizeof(srv->kme_hist[0]);
		struct web_kme_sample *s;
		if (srv->kme_hist_n == cap) {
			memmove(srv->kme_hist, srv->kme_hist + 1,
			        (cap - 1) * sizeof(srv->kme_hist[0]));
			srv->kme_hist_n--;
		}
		s = &srv->kme_hist[srv->kme_hist_n++];
		s->t = qm_now();
		s->qber = k.qber;
		s->rate_bps = k.key_rate_bps;
		s->pool_bytes = k.pool_bytes;
		s->alarm = k.alarm;
	}
	if (k.alarm && !srv->kme_alarm_seen)
		web_event_add(
		    srv, "alarm", NULL,
		    "Eavesdropping alarm: the quantum link's error rate is too "
		    "high. Levels 1 and 2 are unavailable.");
	srv->kme_alarm_seen = k.alarm;
	hist = json_array();
	for (i = 0; i < srv->kme_hist_n && hist; i++)
		json_array_append_new(
		    hist, json_pack("{s:I,s:f,s:f,s:I,s:b}", "t",
		                    (json_int_t)srv->kme_hist[i].t, "qber",
		                    srv->kme_hist[i].qber, "rate_bps",
		                    srv->kme_hist[i].rate_bps, "pool_bytes",
		                    (json_int_t)srv->kme_hist[i].pool_bytes,
		                    "alarm", srv->kme_hist[i].alarm));
	pthread_mutex_unlock(&srv->lock);
	ext = k.extension[0] ? json_loads(k.extension, 0, NULL) : NULL;
	o = json_pack(
	    "{s:o,s:b,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:b,s:o}", "url",
	    web_jstr(k.url), "reachable", k.reachable, "message",
	    web_jstr(k.message), "peer_sae", web_jstr(k.peer_sae), "key_size",
	    (json_int_t)k.key_size, "stored_key_count",
	    (json_int_t)k.stored_key_count, "max_key_count",
	    (json_int_t)k.max_key_count, "max_key_per_request",
	    (json_int_t)k.max_key_per_request, "max_key_size",
	    (json_int_t)k.max_key_size, "pool_bytes", (json_int_t)k.pool_bytes,
	    "key_rate_bps", k.key_rate_bps, "qber", k.qber, "alarm", k.alarm,
	    "history", hist ? hist : json_array());
	if (o && ext)
		json_object_set_new(o, "extension", ext);
	else if (ext)
		json_decref(ext);
	web_reply_json(r, 200, o);
}
