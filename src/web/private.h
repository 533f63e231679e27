/* SPDX-License-Identifier: MIT */
/*
 * Internals of the web layer shared by its files: the request and reply
 * objects handlers see, the route table, sessions, JSON helpers and the
 * embedded assets. Not for other folders.
 */
#ifndef QM_WEB_PRIVATE_H
#define QM_WEB_PRIVATE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "client/client.h"
#include "web.h"

#define WEB_MAX_SESSIONS      64
#define WEB_SESSION_MAX_AGE_S (12 * 3600)
#define WEB_ID_BYTES          32
#define WEB_ID_HEX            (WEB_ID_BYTES * 2 + 1)
/* How often a server unlocked by the unlock agent asks it whether it still
 * holds the key (at most; on requests, and qm_web_serve's timer). */
#define WEB_AGENT_CHECK_MS    1000
#define WEB_MAX_URL           4096
#define WEB_MAX_JSON          (64u * 1024u)
#define WEB_MAX_JSON_MESSAGE  (8u * 1024u * 1024u)
#define WEB_MAX_ARGS          3
#define WEB_MAX_SEGMENT       320
#define WEB_MAX_UPLOADS       32

enum web_method { WEB_GET, WEB_POST, WEB_PUT, WEB_DELETE, WEB_HEAD, WEB_OTHER };

enum {
	WEB_NEEDS_NOTHING = 0,
	WEB_NEEDS_CLIENT = 1,
	WEB_NEEDS_READER = 2,
	WEB_NEEDS_OPS = 3
};

/* An attachment uploaded in a session, waiting to be sent. */
struct web_upload {
	char id[24];
	char name[256];
	struct qm_buf data; /* secure */
};

struct web_session {
	int used;
	unsigned char id[WEB_ID_BYTES];
	char csrf[WEB_ID_HEX];
	int64_t created;
	int64_t last;
	int unlocked;
	struct web_upload *uploads[WEB_MAX_UPLOADS];
};

/* What a handler answers. Either json or raw bytes. */
struct web_reply {
	int status;
	json_t *json;       /* owned */
	unsigned char *raw; /* owned, malloc'd (or secure when raw_secure) */
	size_t raw_len;
	/* or the body read from this as it is sent (owned: a large
	 * attachment from the vault, qm_client_att_open) */
	struct qm_client_att_reader *stream;
	int raw_secure;
	char ctype[96];
	char disposition[600];
	const char *csp; /* overrides the default CSP (static string) */
	const char *cache; /* overrides the Cache-Control header (static) */
	int set_cookie;  /* send the session cookie */
	int clear_cookie;
	long retry_after; /* > 0: a Retry-After header, in seconds */
};

struct web_req {
	struct qm_web_server *srv;
	void *conn; /* struct MHD_Connection */
	enum web_method method;
	char path[WEB_MAX_URL];
	char args[WEB_MAX_ARGS][WEB_MAX_SEGMENT + 1];
	const struct web_route *route;
	struct web_session *session; /* NULL when none */
	struct qm_buf body;          /* secure */
	size_t body_max;
	int replied;
	struct web_reply reply;
};

typedef void (*web_handler)(struct web_req *r);

/* One API route. The pattern's "*" matches one path segment. */
struct web_route {
	enum web_method method;
	const char *pattern;
	int auth;        /* needs an unlocked session */
	size_t body_max; /* 0: WEB_MAX_JSON */
	int raw_body;    /* body is application/octet-stream (uploads) */
	int client;      /* WEB_NEEDS_CLIENT: holds the client lock;
	                    WEB_NEEDS_READER: holds the reader lock and uses
	                    the server's reader (answers during a sync);
	                    WEB_NEEDS_OPS: holds the ops lock and uses the
	                    server's ops handle (quick server operations,
	                    not queued behind a sync) */
	web_handler fn;
};

/* An OAuth2 sign-in of the wizard or of the sign-in banner (api_oauth.c):
 * the engine's flow, then its tokens until the account takes them. */
#define WEB_OAUTH_MAX   4
#define WEB_OAUTH_TTL_S (15 * 60) /* a sign-in left alone is forgotten */
enum { WEB_OAUTH_PENDING = 0, WEB_OAUTH_DONE = 1, WEB_OAUTH_FAILED = 2 };
struct web_oauth {
	int used;
	char id[33];     /* random, hex: what the page names it by */
	int64_t account; /* signing in to this account again; 0: a new one */
	char address[QM_STORE_ADDRMAX];
	char provider_name[QM_STORE_PATHMAX];
	struct qm_client_oauth_endpoints ep;
	char client_id[QM_STORE_NAMEMAX];
	char ca_file[QM_STORE_PATHMAX];
	struct qm_buf secret; /* the client secret (secure), may be empty */
	struct qm_client_oauth_flow *flow;
	struct qm_client_oauth_tokens tok; /* once done */
	int state;  /* WEB_OAUTH_* */
	int busy;   /* a request is waiting on it: only that one touches it */
	int forget; /* cancelled while busy: the waiter frees it */
	int64_t started;
	char message[QM_ERR_MSGMAX]; /* why it failed */
};

/* A watcher thread (watch.c): IMAP IDLE on one account's INBOX. */
#define WEB_WATCH_MAX 4
struct web_watcher {
	struct qm_web_server *srv;
	int k;       /* watches the k-th account */
	int pipe[2]; /* a byte in it ends the wait (web_watch_kick) */
	pthread_t thread;
	int started;
};

struct qm_web_server {
	void *daemon; /* struct MHD_Daemon */
	struct qm_web_config cfg;
	struct qm_web_config given; /* as the caller passed it (limits) */
	char bind[64];
	struct qm_client *client;
	/* Lock order: client_lock before lock, never the other way. */
	pthread_mutex_t lock; /* sessions, events, sync status, history */
	pthread_mutex_t client_lock; /* the client engine and its store */
	/* A second client engine handle for listing while the client syncs
	 * (qm_client_clone, opened at unlock, closed at lock). Lock order:
	 * client_lock, then reader_lock, then lock. */
	pthread_mutex_t reader_lock;
	struct qm_client *reader;
	/* A third handle for the quick operations on the IMAP server (move,
	 * file, trash, flags written at once): they do not wait for the
	 * client lock, which a background sync holds for all its length;
	 * the engine itself makes them wait for (flags: give way to) a sync
	 * of the same account. Opened and closed with the reader. Lock
	 * order: client_lock, then reader_lock, then ops_lock, then lock. */
	pthread_mutex_t ops_lock;
	struct qm_client *ops;
	int initialized; /* the client has a vault (cached for /api/state) */
	/* unlock back-off (api.c): wrong passphrases in a row on this server,
	 * whatever the session, and the clock time (cfg.now_ms or the
	 * monotonic clock, ms) before which no attempt is tried; under lock */
	unsigned unlock_failures;
	int64_t unlock_until_ms;
	/* unlock once per session (cfg.agent_key): the token a browser posts
	 * (hex), the link holding it, whether the client was unlocked with
	 * the agent's key and when the agent was last asked (ms); under lock */
	char agent_token[2 * WEB_ID_BYTES + 1];
	char link[192];
	int agent_unlocked;
	int agent_lock_pending; /* gone, the vault key not wiped yet */
	int64_t agent_checked_ms;
	struct web_session sessions[WEB_MAX_SESSIONS];
	uint16_t port;
	int tls;
	char url[96];
	struct qm_buf tls_cert, tls_key;
	unsigned long upload_seq;
	/* background sync state */
	pthread_t sync_thread;
	int sync_started;
	int sync_running;
	int sync_stop;
	int sync_again;       /* asked for while running: once more when done */
	int64_t sync_account; /* what the next sync does (0: every account) */
	struct web_watcher watch[WEB_WATCH_MAX];
	pthread_cond_t sync_cond;
	struct web_sync_status {
		long done, total, fresh;
		long passes; /* passes finished since start */
		int64_t last;
		char error[QM_ERR_MSGMAX];
	} sync;
	struct web_event {
		long seq;
		char type[16];
		char text[256];
		char id[32];
	} events[64];
	long event_seq;
	/* OAuth2 sign-ins in progress and the last discovery (api_oauth.c);
	 * under lock */
	struct web_oauth oauth[WEB_OAUTH_MAX];
	char disc_addr[QM_STORE_ADDRMAX];
	int signin_count; /* accounts waiting to be signed in to (sync.c) */
	struct qm_client_discovery disc;
	struct web_kme_sample {
		int64_t t;
		double qber, rate_bps;
		uint64_t pool_bytes;
		int alarm;
	} kme_hist[120];
	size_t kme_hist_n;
	int kme_alarm_seen;
	/* folder counts (total, unread): counting 100,000 rows costs tens of
	 * ms, so they are kept until something changes or 30 s pass */
	struct web_count {
		int64_t account, total, unread, at;
		char folder[64];
	} counts[16];
};

/* Folder counts from the cache or the client engine handle c (whose lock
 * is held). */
int web_counts(struct qm_web_server *srv, struct qm_client *c, int64_t account,
               const char *folder, int64_t *total, int64_t *unread);
/* The client engine handle a handler uses: the server's reader on reader
 * routes, its ops handle on ops routes, the client otherwise. */
struct qm_client *web_client(struct web_req *r);
/* Opens (after unlock) or closes (at lock) the server's reader and ops
 * handle; the caller holds the client lock. */
void web_reader_open(struct qm_web_server *srv);
void web_reader_close(struct qm_web_server *srv);
/* Forgets every cached count (after sync, flags, delete, send). */
void web_counts_forget(struct qm_web_server *srv);

/* The API routes (api.c) and their count. */
extern const struct web_route web_routes[];
extern const size_t web_routes_count;

/* ------------------------------------------------------------ replies */

/* Sets a JSON reply (takes ownership of j; j NULL means out of memory). */
void web_reply_json(struct web_req *r, int status, json_t *j);
/* Sets a JSON error reply {"error": {"code", "message"}}. */
void web_reply_error(struct web_req *r, int status, const char *code,
                     const char *fmt, ...) QM_PRINTF(4, 5);
/* Maps a client/core error to a status and code and replies with it. */
void web_reply_qm_error(struct web_req *r, const struct qm_error *e);
/* Replies 204 No Content. */
void web_reply_empty(struct web_req *r);
/* Wipes the string jansson holds for key in o (a password), before o is
 * freed. */
void web_wipe_json_string(json_t *o, const char *key);
/* A secret string field (at most 1024 bytes) copied into secure memory
 * (qm_sec_free it); NULL when absent (*len 0) or on error (replied). */
char *web_secret_field(struct web_req *r, json_t *o, const char *key,
                       int required, size_t *len);

/* ------------------------------------------------------ OAuth2 sign-in */

/* Tests a new account's servers with the access token of the finished
 * sign-in flow (the wizard's); 0, or -1 (replied). Sets a->auth. */
int web_oauth_probe(struct web_req *r, const char *flow,
                    struct qm_store_account *a, const char *mail_ca,
                    struct qm_client_check *smtp, struct qm_client_check *in);
/* Stores the tokens of the finished flow on account_id (its address must
 * be the flow's), which then signs in with OAuth2; the flow goes. 0, or
 * -1 (replied). */
int web_oauth_store(struct web_req *r, const char *flow, int64_t account_id);
/* Cancels and forgets every sign-in and the kept discovery (lock, stop). */
void web_oauth_forget_all(struct qm_web_server *srv);

/* ------------------------------------------------------------ requests */

/* Parses the body as a JSON object; replies 400 and returns NULL on error. */
json_t *web_body_json(struct web_req *r);
/*
 * Sets the body limits of srv->cfg (upload, JSON, message JSON, JSON
 * depth): the value in given when not 0, else the user's setting
 * (limit.web_upload, limit.web_json, limit.web_message, limit.json_depth),
 * else the default. Called at start and after the settings change.
 */
void web_limits_load(struct qm_web_server *srv,
                     const struct qm_web_config *given);
/* A query argument, or NULL. */
const char *web_query(struct web_req *r, const char *name);
/* A request header, or NULL. */
const char *web_header(struct web_req *r, const char *name);

/*
 * Field readers for request objects: each checks the type and length and,
 * on failure, replies 400 naming the field and returns -1. A missing
 * optional field leaves *out untouched and returns 0; 1 means found.
 */
int web_get_str(struct web_req *r, json_t *o, const char *key, int required,
                size_t maxlen, const char **out);
int web_get_int(struct web_req *r, json_t *o, const char *key, int required,
                long long min, long long max, long long *out);
int web_get_bool(struct web_req *r, json_t *o, const char *key, int *out);
/*
 * An address field (api_addr.c): one string as typed or an array of such
 * strings, read by the engine (qm_client_parse_addrs); at most max
 * addresses. On success the field in o is replaced by an array of
 * recipient entries ("bob@x.test" or "\"Bob\" <bob@x.test>") and *out
 * borrows it. An entry that is no address is 400 with "field": key and
 * "invalid": [...], the message naming the first.
 */
int web_get_addrs(struct web_req *r, json_t *o, const char *key, size_t max,
                  json_t **out);
/* True when s looks like addr-spec: local@domain, printable, bounded. */
int web_addr_ok(const char *s);

/* ------------------------------------------------------------ sessions */

/* Finds the session named by the request's cookie (constant time). */
struct web_session *web_session_find(struct qm_web_server *srv,
                                     const char *cookie_hex);
/* Creates a session (evicting the oldest idle one when full). */
struct web_session *web_session_new(struct qm_web_server *srv);
/* Gives s a fresh ID and CSRF token (on unlock). */
void web_session_rotate(struct web_session *s);
/* Ends one session and wipes its uploads. */
void web_session_end(struct web_session *s);
/* Ends every session (on lock and on stop). */
void web_session_end_all(struct qm_web_server *srv);
/* Ends sessions past their idle or absolute limit. Returns 1 when an
 * unlocked session ended and no unlocked one is left (time to lock). */
int web_session_expire(struct qm_web_server *srv);
/* The session's ID as hex into out (WEB_ID_HEX bytes). */
void web_session_id_hex(const struct web_session *s, char *out);
/* Finds an upload of the session by ID, or NULL. */
struct web_upload *web_upload_find(struct web_session *s, const char *id);
/* Removes and wipes one upload. */
void web_upload_drop(struct web_session *s, struct web_upload *u);

/* Adds an event for the page's notices (new mail, sent, failed, alarm). */
void web_event_add(struct qm_web_server *srv, const char *type, const char *id,
                   const char *fmt, ...) QM_PRINTF(4, 5);

/* ------------------------------------------------------------ assets */

struct web_asset {
	const char *path; /* "/index.html" */
	const char *ctype;
	const unsigned char *data;
	size_t len;
};
extern const struct web_asset web_assets[];
extern const size_t web_assets_count;
/* What the assets are served under: /v/VERSION/ (embed.cmake). */
extern const char web_assets_version[];

/* Background work started with the server (sync.c: the sync worker and,
 * through web_watch_start, the new-mail watchers). */
void web_api_start(struct qm_web_server *srv);
void web_api_stop(struct qm_web_server *srv);
/* Asks the sync worker for a sync of account (0: all), now or, when one
 * runs, right after it. Takes srv->lock. */
void web_sync_request(struct qm_web_server *srv, int64_t account);
/* The background sync interval setting in seconds (0: off); the caller
 * holds the client lock. */
long web_sync_interval_locked(struct qm_web_server *srv);
/* New-mail watchers (watch.c). web_watch_kick makes each look again at
 * what it watches (after lock, unlock, account or setting changes);
 * web_watch_stop joins them once sync_stop is set. */
void web_watch_start(struct qm_web_server *srv);
void web_watch_kick(struct qm_web_server *srv);
void web_watch_stop(struct qm_web_server *srv);

/* JSON string from possibly invalid UTF-8 (bad bytes become U+FFFD). */
json_t *web_jstr(const char *s);
/* Parses a decimal ID path argument; replies 400 and returns -1 if bad. */
int web_arg_id(struct web_req *r, int i, int64_t *id);

/* Helpers shared by api_mail.c and api_list.c. The account of ?account=,
 * else the first; -1 when replied with an error. */
int64_t web_req_account(struct web_req *r);
/* An ID as a JSON string. */
json_t *web_id_json(int64_t id);
struct qm_store_msg;
/* The Summary object of docs/WEB.md for one index row. */
json_t *web_msg_summary(struct qm_client *cl, const struct qm_store_msg *m);
/*
 * The first page (limit rows, newest first) of folder in the first
 * account, as GET /api/messages?folder=F&limit=N answers it, through the
 * engine handle cl (whose lock the caller holds); the account's ID in
 * *account. NULL when there is no account or the engine failed (the page
 * then asks the list API, which says why).
 */
json_t *web_list_first(struct qm_web_server *srv, struct qm_client *cl,
                       const char *folder, int limit, int64_t *account);
/* The reply of GET /api/state for a session unlocked or not, with its
 * CSRF token. */
json_t *web_state_json(struct qm_web_server *srv, int unlocked,
                       const char *csrf);
/*
 * The page (index.html) for r: with an unlocked session, the first inbox
 * page and the session's state in a JSON data block (boot.c). Sets
 * r->reply.
 */
void web_page_reply(struct web_req *r, const struct web_asset *page);
/* s display-safe (qm_client_display, one line), malloc'd; NULL when out of
 * memory. Free with web_shown_free (wipes it). */
char *web_shown(const char *s);
void web_shown_free(char *d);

/* Handlers (api.c, api_mail.c, api_list.c). */
void web_api_state(struct web_req *r);
/* The Chats view (api_chat.c). */
void web_api_chats_list(struct web_req *r);
void web_api_chats_send(struct web_req *r);
void web_api_chat_get(struct web_req *r);
void web_api_chat_send(struct web_req *r);
void web_api_chat_read(struct web_req *r);
void web_api_chat_level(struct web_req *r);
void web_api_chat_members(struct web_req *r);
/* Chat media and read receipts (api_chat_media.c). */
void web_api_chat_receipts(struct web_req *r);
void web_api_chat_file(struct web_req *r);
json_t *web_chat_files_json(const struct qm_client_chat_item *it);
/* Takes the uploads named by the JSON array ups out of the session into
 * att (at most max; names borrowed from the uploads, which *taken holds
 * until web_chat_uploads_done). -1 when replied (an upload is gone). */
int web_chat_uploads_take(struct web_req *r, json_t *ups,
                          struct qm_client_attachment *att,
                          struct web_upload **taken, size_t max, size_t *n,
                          unsigned char sid[WEB_ID_BYTES]);
/* Frees them (used: in the outbox) or gives them back to session sid
 * when it lives. */
void web_chat_uploads_done(struct web_req *r, struct web_upload **taken,
                           size_t n, int used,
                           const unsigned char sid[WEB_ID_BYTES]);
void web_api_init(struct web_req *r);
void web_api_unlock(struct web_req *r);
void web_api_lock(struct web_req *r);
void web_api_passphrase(struct web_req *r);
void web_api_presets(struct web_req *r);
void web_api_accounts_list(struct web_req *r);
void web_api_accounts_add(struct web_req *r);
void web_api_accounts_update(struct web_req *r);
void web_api_accounts_delete(struct web_req *r);
void web_api_accounts_test(struct web_req *r);
void web_api_accounts_probe(struct web_req *r);
void web_api_accounts_signin(struct web_req *r);
void web_api_discover(struct web_req *r);
void web_api_oauth_begin(struct web_req *r);
void web_api_oauth_wait(struct web_req *r);
void web_api_oauth_cancel(struct web_req *r);
void web_api_settings_get(struct web_req *r);
void web_api_settings_put(struct web_req *r);
void web_api_contacts_list(struct web_req *r);
void web_api_contacts_put(struct web_req *r);
void web_api_contacts_suggest(struct web_req *r);
void web_api_identities_list(struct web_req *r);
void web_api_identities_put(struct web_req *r);
void web_api_identities_delete(struct web_req *r);
void web_api_contacts_import(struct web_req *r);
void web_api_contacts_export(struct web_req *r);
void web_api_mail_import(struct web_req *r);
void web_api_mail_export(struct web_req *r);
void web_api_keyring_list(struct web_req *r);
void web_api_keyring_import(struct web_req *r);
void web_api_keyring_backup(struct web_req *r);
void web_api_keyring_restore(struct web_req *r);
void web_api_keyring_export(struct web_req *r);
void web_api_keyring_verify(struct web_req *r);
void web_api_keyring_safety(struct web_req *r);
void web_api_keyring_safety_verify(struct web_req *r);
/* text as a QR code in an SVG document (malloc'd), or NULL (qr.c). */
char *web_qr_svg(const char *text);
void web_api_kme(struct web_req *r);
void web_api_kme_network(struct web_req *r);
void web_api_folders(struct web_req *r);
void web_api_folder_create(struct web_req *r);
void web_api_folder_rename(struct web_req *r);
void web_api_folder_delete(struct web_req *r);
void web_api_messages_list(struct web_req *r);
void web_api_message_get(struct web_req *r);
void web_api_message_html(struct web_req *r);
void web_api_message_attachment(struct web_req *r);
void web_api_message_flags(struct web_req *r);
void web_api_message_delete(struct web_req *r);
void web_api_sync_start(struct web_req *r);
void web_api_sync_get(struct web_req *r);
void web_api_events(struct web_req *r);
void web_api_upload_add(struct web_req *r);
void web_api_upload_delete(struct web_req *r);
void web_api_levels(struct web_req *r);
void web_api_send(struct web_req *r);
void web_api_drafts_list(struct web_req *r);
void web_api_drafts_add(struct web_req *r);
void web_api_drafts_update(struct web_req *r);
void web_api_drafts_delete(struct web_req *r);
void web_api_outbox_list(struct web_req *r);
void web_api_outbox_retry(struct web_req *r);
void web_api_message_retry(struct web_req *r);
void web_api_message_forward(struct web_req *r);
void web_api_message_move(struct web_req *r);
void web_api_message_file(struct web_req *r);
void web_api_message_trash(struct web_req *r);
void web_api_addresses_parse(struct web_req *r);

#endif /* QM_WEB_PRIVATE_H */
