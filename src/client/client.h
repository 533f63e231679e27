/* SPDX-License-Identifier: MIT */
/*
 * client: the QMail client engine that both user interfaces (cli/, web/)
 * drive, and their only door to the layers below. It ties the layers
 * together: accounts and their identities, the send path (compose -> outbox
 * -> KME keys -> envelope -> SMTP, docs/ARCHITECTURE.md invariant 7), the
 * receive path (IMAP/POP3 -> parse -> replay check -> KME keys -> open ->
 * vault), reading, level availability, the keyring and the KME status; and
 * it offers the interfaces everything else they do: accounts, settings,
 * contacts, the message index, drafts, the outbox list, the passphrase.
 * Everything a person sees as a result comes back as values and messages;
 * nothing here prints, and no message names a command or a screen of one
 * interface: an error that a person can act on carries a hint code (enum
 * qm_client_hint) that each interface words its own way.
 *
 * The records (accounts, contacts, messages, outbox entries, keys) are the
 * store's, declared in store/types.h without the store's API. A struct
 * qm_client is used by one thread at a time (qm_client_clone gives another
 * thread its own).
 */
#ifndef QM_CLIENT_H
#define QM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/types.h"

struct qm_client;

/* The algorithm name under which identities are kept in the keyring. */
#define QM_CLIENT_ID_ALG "qmail-hybrid-v1"
/* Largest message (with attachments) the client builds or accepts. */
#define QM_CLIENT_MAXMSG (64u * 1024 * 1024)

struct qm_client_opts {
	/* Folder of the store; NULL: qm_store_home_default. */
	const char *home;
	/* Argon2id cost for a new vault (zeros: the store's default). */
	struct qm_store_kdf kdf;
};

/*
 * Opens the QMail home (creating it), the store, and brings the outbox back
 * to a consistent state after a crash. The vault starts locked.
 */
QM_NODISCARD enum qm_err qm_client_open(const struct qm_client_opts *opts,
                                        struct qm_client **out,
                                        struct qm_error *err);
void qm_client_free(struct qm_client **c);
/*
 * A second handle on c's home for another thread (the web GUI lists
 * messages while its sync worker uses c): its own connection to the same
 * store, unlocked when c is (it holds its own copy of the vault key, wiped
 * by qm_client_lock on it or by qm_client_free). It may do all that c
 * does; the outbox and the sync state are shared through the home. Free
 * with qm_client_free. QM_ERR_NOMEM, or the store's error.
 */
QM_NODISCARD enum qm_err qm_client_clone(struct qm_client *c,
                                         struct qm_client **out,
                                         struct qm_error *err);
/* Tests only (the interfaces go through the calls of this header): the
 * store (borrowed). */
struct qm_store;
struct qm_store *qm_client_store(struct qm_client *c);
/* The home folder (borrowed). */
const char *qm_client_home(const struct qm_client *c);

/* ------------------------------------------------------------------ hints */

/*
 * What a person can do about an error, set by the engine in err->hint
 * (core's struct qm_error) with err->hint_arg naming the thing it is about
 * (said below; "" when none). The message itself says what happened in
 * terms of the thing; each interface adds its own words for the hint
 * ("run `qmail contact add ...`", "open Settings > Contacts").
 */
enum qm_client_hint {
	QM_HINT_NONE = 0,
	QM_HINT_VAULT_LOCKED,        /* unlock QMail first */
	QM_HINT_NO_ACCOUNT,          /* add an account first */
	QM_HINT_ACCOUNT_KME,         /* arg: account address; set its KME (URL,
	                                certificates) and its SAE ID */
	QM_HINT_CONTACT_SAE_MISSING, /* arg: contact address (or ""):
	                                enter the contact's SAE ID */
	QM_HINT_CONTACT_SAE_UNCONFIRMED, /* arg: contact address; confirm the
	                                    SAE ID learned from a message */
	QM_HINT_KEY_MISSING,             /* arg: contact address; import their
	                                    public key */
	QM_HINT_KEY_CHANGED,             /* arg: contact address; compare
	                                    fingerprints, verify the new key */
	QM_HINT_LIMIT_REACHED,   /* arg: the limit's name ("limit.parts");
	                            raise that limit */
	QM_HINT_LIMIT_UNKNOWN,   /* arg: the name given; list the limits */
	QM_HINT_SETTING_UNKNOWN, /* arg: the name given; list the settings */
	QM_HINT_PLAIN,           /* arg: the recipients (comma separated) who
	                            can get no encrypted message; send it to
	                            them unencrypted by choosing so for the
	                            message (allow_plain) */
	QM_HINT_SIGN_IN,         /* arg: account address; its OAuth2 sign-in
	                            ended (refresh token revoked or expired):
	                            sign in to it again */
	QM_HINT__COUNT
};
/* A stable name for the hint, for machine-readable replies
 * ("contact_sae_missing", ...); "" for QM_HINT_NONE or an unknown value. */
const char *qm_client_hint_name(int hint);

/* -------------------------------------------------------- vault session */

int qm_client_initialised(struct qm_client *c);
/* Creates the vault with the passphrase (at least 8 bytes) and unlocks. */
QM_NODISCARD enum qm_err qm_client_init(struct qm_client *c, const char *pass,
                                        size_t len, struct qm_error *err);
QM_NODISCARD enum qm_err qm_client_unlock(struct qm_client *c, const char *pass,
                                          size_t len, struct qm_error *err);
/*
 * Unlock once per session (`qmail unlock`, docs/SECURITY.md invariant 33).
 * The unlock key is the passphrase key: the Argon2id output that unwraps
 * the vault key, QM_CLIENT_UNLOCK_KEYBYTES long. Whoever holds it opens
 * the vault without the passphrase and without Argon2id, until the
 * passphrase is changed (which makes every handed-out key useless): keep
 * it in secure memory, never in a file, argv or the environment, and hand
 * it only to processes of the same user.
 *
 * qm_client_unlock_export: qm_client_unlock that also sets *key to a copy
 * of the unlock key in secure memory (the caller's; wipe and free it with
 * qm_sec_free). Errors as qm_client_unlock; *key set only on success.
 */
#define QM_CLIENT_UNLOCK_KEYBYTES 32
QM_NODISCARD enum qm_err qm_client_unlock_export(struct qm_client *c,
                                                 const char *pass, size_t len,
                                                 unsigned char **key,
                                                 struct qm_error *err);
/*
 * Unlocks with an unlock key (borrowed, len QM_CLIENT_UNLOCK_KEYBYTES),
 * checked against the vault as a passphrase is (the authenticated
 * unwrapping of the vault key): a key that does not open it (another
 * home's, or one from before a passphrase change) gives QM_ERR_DENIED with
 * hint QM_HINT_VAULT_LOCKED and changes nothing; QM_ERR_INVAL for a wrong
 * length; QM_ERR_NOTFOUND when there is no vault.
 */
QM_NODISCARD enum qm_err qm_client_unlock_key(struct qm_client *c,
                                              const unsigned char *key,
                                              size_t len, struct qm_error *err);
void qm_client_lock(struct qm_client *c);
int qm_client_unlocked(struct qm_client *c);
/*
 * Changes the vault passphrase: the vault key is wrapped anew under
 * newpass (at least 8 bytes, as for qm_client_init); nothing sealed is
 * re-encrypted. QM_ERR_DENIED when oldpass is not the passphrase (nothing
 * changes), QM_ERR_INVAL for a short new one. The passphrases are
 * borrowed; the engine keeps no copy.
 */
QM_NODISCARD enum qm_err
qm_client_passphrase_change(struct qm_client *c, const char *oldpass,
                            size_t oldlen, const char *newpass, size_t newlen,
                            struct qm_error *err);

/* ------------------------------------------------- OAuth2 and discovery */

/*
 * Where and how an account signs in with OAuth2 (RFC 6749, PKCE RFC 7636,
 * loopback redirect RFC 8252, device grant RFC 8628): from the provider
 * registry (qm_client_provider_*), from a domain's autoconfig file, or
 * given by the user. Strings are empty when unknown.
 */
struct qm_client_oauth_endpoints {
	char issuer[QM_STORE_PATHMAX];     /* "" when not known */
	char auth_url[QM_STORE_PATHMAX];   /* authorization endpoint */
	char token_url[QM_STORE_PATHMAX];  /* token endpoint */
	char device_url[QM_STORE_PATHMAX]; /* device authorization; "": none */
	char revoke_url[QM_STORE_PATHMAX]; /* RFC 7009; "": none */
	char scope[QM_STORE_PATHMAX];      /* space separated */
	int secret_required; /* the provider wants a client secret too */
	/* more authorization request parameters, URL-encoded "k=v&k=v"
	 * ("": none), as Google's "access_type=offline&prompt=consent"
	 * without which no refresh token comes */
	char extra_params[QM_STORE_NAMEMAX];
};

/*
 * The provider registry: data (src/client/providers.json, built into the
 * library), not code paths. One entry per provider: its servers, how it
 * signs in, its quirks. OAuth client IDs are not in it (they cannot be
 * shipped): the person's own are the global settings
 * "oauth.<oauth_settings>.client_id" and ".client_secret".
 */
struct qm_client_provider {
	char id[32];   /* "gmail", "outlook", "microsoft365", "yahoo" */
	char name[64]; /* for a person: "Gmail / Google Workspace" */
	char oauth_settings[32]; /* "google", "microsoft", "yahoo" */
	struct qm_store_server smtp, imap, pop3;
	int password; /* accepts a password (an app password) */
	int oauth2;   /* signs in with OAuth2 */
	struct qm_client_oauth_endpoints oauth;
	int server_saves_sent; /* its SMTP server files what it sends */
	/* its folder names ("" unknown): sent, drafts, trash, junk, archive */
	char folder_sent[64], folder_drafts[64], folder_trash[64];
	char folder_junk[64], folder_archive[64];
};

/* How many providers the registry has; qm_client_provider_at(i) for
 * i < that fills *out (QM_ERR_NOTFOUND past the end). Need no client. */
size_t qm_client_provider_count(void);
QM_NODISCARD enum qm_err qm_client_provider_at(size_t i,
                                               struct qm_client_provider *out,
                                               struct qm_error *err);
/*
 * The provider named name (its id or an alias, case aside:
 * "gmail", "google", "outlook", "microsoft365", "office365", "yahoo"...),
 * or, with name NULL, the one whose domains hold the domain of address.
 * QM_ERR_NOTFOUND when none. Needs no client.
 */
QM_NODISCARD enum qm_err qm_client_provider_find(const char *name,
                                                 const char *address,
                                                 struct qm_client_provider *out,
                                                 struct qm_error *err);
/* The provider whose MX suffixes match mx (a host name equal to a suffix
 * or ending in "." and the suffix): aspmx.l.google.com -> gmail.
 * QM_ERR_NOTFOUND when none. */
QM_NODISCARD enum qm_err
qm_client_provider_by_mx(const char *mx, struct qm_client_provider *out,
                         struct qm_error *err);

/* Where discovery found an account's servers. */
enum qm_client_found {
	QM_FOUND_NONE = 0,
	QM_FOUND_REGISTRY,   /* the address's domain is in the registry */
	QM_FOUND_AUTOCONFIG, /* https://autoconfig.DOMAIN/mail/config-v1.1.xml
	                      */
	QM_FOUND_WELLKNOWN,  /* https://DOMAIN/.well-known/autoconfig/... */
	QM_FOUND_SRV,        /* RFC 6186 SRV records */
	QM_FOUND_MX,         /* the domain's MX is a registry provider's */
};

/* What discovery found for an address, and where. */
struct qm_client_discovery {
	enum qm_client_found found;
	/* where, for a person: "registry", "autoconfig https://...",
	 * "SRV _imaps._tcp.example.org", "MX aspmx.l.google.com -> gmail" */
	char where[QM_STORE_PATHMAX];
	char provider[32]; /* the registry's id, "" when none */
	char provider_name[128];
	char username[QM_STORE_ADDRMAX];
	/* host "" for a service not found; tls never QM_TLS_NONE */
	struct qm_store_server smtp, imap, pop3;
	int password; /* signs in with a password */
	int oauth2;   /* offers OAuth2 (oauth holds its endpoints) */
	struct qm_client_oauth_endpoints oauth;
	char oauth_settings[32]; /* registry providers: settings' middle name */
	int client_id_set;       /* oauth.<oauth_settings>.client_id is set */
	int server_saves_sent;
	char folder_sent[64], folder_drafts[64], folder_trash[64];
	char folder_junk[64], folder_archive[64];
	/* what was tried and refused on the way, one line each ("\n"
	 * between; "" when nothing) */
	char notes[QM_ERR_MSGMAX];
};

/*
 * Finds the servers of address as Thunderbird does, first hit wins:
 * the provider registry by domain; the domain's autoconfig file over
 * HTTPS (https://autoconfig.DOMAIN/mail/config-v1.1.xml?emailaddress=...,
 * then https://DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml);
 * RFC 6186 SRV records (implicit TLS preferred, RFC 8314); the domain's
 * MX against the registry's MX suffixes. Never plain text: no http, a
 * server offered without TLS is refused. The global settings
 * discover.dns_server, discover.https_port and discover.ca_file (tests,
 * split-horizon DNS) change where it asks. progress (may be NULL) gets
 * each step as a line for a person ("autoconfig https://..."). Fills *out.
 * QM_ERR_NOTFOUND when nothing was found (the message says what was
 * tried: enter the servers by hand), QM_ERR_DENIED when the domain's own
 * autoconfig offers only servers without TLS (the message names them),
 * QM_ERR_INVAL for an address that is not one. Needs no unlocked vault;
 * c may be NULL (no settings are read: the system's resolver and CAs).
 */
QM_NODISCARD enum qm_err
qm_client_discover(struct qm_client *c, const char *address,
                   struct qm_client_discovery *out,
                   void (*progress)(void *arg, const char *step), void *arg,
                   struct qm_error *err);
/* Copies the servers and login name found into a (address kept); a
 * service not found is left empty. */
void qm_client_discovery_apply(const struct qm_client_discovery *d,
                               struct qm_store_account *a);
/* "registry", "autoconfig", "well-known", "SRV", "MX" or "". */
const char *qm_client_found_name(enum qm_client_found f);

/*
 * The application registered with the provider, as the user gives it (a
 * client ID cannot be shipped for them). Borrowed by every call.
 */
struct qm_client_oauth_app {
	const char *client_id;     /* required */
	const char *client_secret; /* NULL: a public client (PKCE only) */
	const char *ca_file; /* CA of the provider's HTTPS; NULL: system */
	/* provider quirks appended to the authorization URL as they are,
	 * "access_type=offline&prompt=consent" (Google); NULL: none */
	const char *auth_params;
};

/*
 * Tokens of one sign-in. access and refresh are NUL-terminated strings in
 * secure memory, owned by the struct: qm_client_oauth_tokens_wipe frees
 * them (wiped) and clears the rest.
 */
struct qm_client_oauth_tokens {
	char *access;                 /* the access token */
	char *refresh;                /* NULL: the provider gave none */
	int64_t issued;               /* Unix seconds, when it came */
	int64_t expires;              /* Unix seconds; 0: the provider did
	                                 not say */
	char scope[QM_STORE_PATHMAX]; /* granted; "": as asked */
};
void qm_client_oauth_tokens_wipe(struct qm_client_oauth_tokens *t);

/*
 * A sign-in in progress: the authorization code flow with PKCE (RFC 7636,
 * S256) and a loopback redirect (RFC 8252), or the device authorization
 * grant (RFC 8628). The handle may be shared by two threads: one blocked
 * in qm_client_oauth_flow_wait, another calling _cancel (and reading the
 * url and device strings, fixed at begin). No qm_client is involved: the
 * tokens are stored on an account with qm_client_account_oauth_set.
 */
struct qm_client_oauth_flow;

/*
 * Starts the code flow: a fresh PKCE verifier and state, and a listener on
 * 127.0.0.1 on a free port; the redirect URI is http://127.0.0.1:PORT/
 * (path "/"; register "http://127.0.0.1" with the provider, which takes
 * any port for loopback as RFC 8252 says). login_hint (NULL: none) is the
 * address the user signs in as. Every endpoint must be https:// (else
 * QM_ERR_INVAL). The user opens qm_client_oauth_flow_url in a browser.
 */
QM_NODISCARD enum qm_err
qm_client_oauth_begin(const struct qm_client_oauth_endpoints *ep,
                      const struct qm_client_oauth_app *app,
                      const char *login_hint, struct qm_client_oauth_flow **out,
                      struct qm_error *err);

/*
 * Starts the device grant: asks the device endpoint for a user code
 * (QM_ERR_UNSUPPORTED when the provider has none). The user opens
 * qm_client_oauth_flow_url (verification_uri_complete when given, else
 * verification_uri) on any device and types the user code.
 */
QM_NODISCARD enum qm_err
qm_client_oauth_device_begin(const struct qm_client_oauth_endpoints *ep,
                             const struct qm_client_oauth_app *app,
                             struct qm_client_oauth_flow **out,
                             struct qm_error *err);

/* The URL the user opens (the authorization URL; for the device grant the
 * verification URI, complete with the code when the provider gave one). */
const char *qm_client_oauth_flow_url(const struct qm_client_oauth_flow *f);
/* Code flow: the redirect URI; device grant: "". */
const char *
qm_client_oauth_flow_redirect_uri(const struct qm_client_oauth_flow *f);

/* What the device grant shows the user (all "" for the code flow). */
struct qm_client_oauth_device {
	char user_code[128];
	char verification_uri[QM_STORE_PATHMAX];
	char verification_uri_complete[QM_STORE_PATHMAX]; /* "": none */
	int interval;    /* seconds between polls, as the provider says */
	int64_t expires; /* Unix seconds when the user code expires */
};
void qm_client_oauth_flow_device(struct qm_client_oauth_flow *f,
                                 struct qm_client_oauth_device *out);

/*
 * Blocks until the sign-in ends or timeout_ms passes (QM_ERR_TIMEOUT: call
 * again). Code flow: the browser's redirect with the right state is
 * answered with a page ("Signed in", or the provider's error), the code
 * exchanged for tokens; requests with a wrong or missing state get 400
 * and the flow keeps waiting, other paths (favicon) 404. Device grant:
 * polls the token endpoint every interval seconds (5 more after
 * slow_down) until the user approves, denies (QM_ERR_DENIED) or the code
 * expires (QM_ERR_TIMEOUT with a message saying so, and the flow ended).
 * On success *out holds the tokens (wipe them); a failed flow gives its
 * error again at every later wait, one whose tokens were handed over
 * QM_ERR_STATE. A flow ended by qm_client_oauth_flow_cancel gives
 * QM_ERR_STATE. Errors of the
 * provider are messages a person can act on: access_denied, invalid_grant,
 * invalid_client (a wrong client ID or secret).
 */
QM_NODISCARD enum qm_err
qm_client_oauth_flow_wait(struct qm_client_oauth_flow *f, long timeout_ms,
                          struct qm_client_oauth_tokens *out,
                          struct qm_error *err);
/* 1 once the flow has ended (its result was given, or it was cancelled):
 * another wait would only say so again. */
int qm_client_oauth_flow_ended(struct qm_client_oauth_flow *f);
/* Ends a flow from any thread: a waiting qm_client_oauth_flow_wait returns
 * QM_ERR_STATE at once; the listener refuses further requests. */
void qm_client_oauth_flow_cancel(struct qm_client_oauth_flow *f);
/* Stops the listener and wipes the flow's secrets. */
void qm_client_oauth_flow_free(struct qm_client_oauth_flow **f);

/*
 * Fills the endpoints from the issuer's OpenID Connect discovery document
 * (ISSUER/.well-known/openid-configuration, over HTTPS only, verified
 * against ca_file or the system's CAs). Only the empty fields of *ep are
 * filled (so the caller's scope or device endpoint win); ep->issuer is set
 * to issuer. The document's issuer must be issuer (OpenID Connect
 * Discovery 4.3), else QM_ERR_AUTH.
 */
QM_NODISCARD enum qm_err
qm_client_oauth_discover(const char *issuer, const char *ca_file,
                         struct qm_client_oauth_endpoints *ep,
                         struct qm_error *err);

/*
 * Stores a sign-in on an account: its endpoints (token, revoke, scope),
 * the app (client ID, the client secret sealed in the vault as
 * QM_SECRET_OAUTH_CLIENT: NULL keeps the stored one, "" forgets it; the
 * CA file), and the tokens sealed (a refresh
 * token given replaces the stored one; none given keeps it). The account
 * then logs in with OAuth2 (auth = QM_AUTH_OAUTH2). From then on the
 * engine renews the access token by itself: before any connection when it
 * expires within min(60 s, half its lifetime), and once when a server
 * refuses it; serialised across threads and processes of one home so that
 * a rotated refresh token is never lost. When the refresh token is
 * refused (invalid_grant), calls fail with QM_ERR_DENIED and the hint
 * QM_HINT_SIGN_IN (arg: the address); the outbox keeps its messages.
 */
QM_NODISCARD enum qm_err
qm_client_account_oauth_set(struct qm_client *c, int64_t account_id,
                            const struct qm_client_oauth_endpoints *ep,
                            const struct qm_client_oauth_app *app,
                            const struct qm_client_oauth_tokens *t,
                            struct qm_error *err);

/*
 * What signing in to the account again needs, from its stored sign-in:
 * the endpoints (auth, token, device, revoke, scope), the client ID, CA
 * file ("": the system's) and the extra authorization parameters (the
 * app's auth_params) into the buffers, and the client secret
 * appended to client_secret (a secure buffer; may be NULL; nothing when
 * none). QM_ERR_NOTFOUND when the account has no stored sign-in.
 */
QM_NODISCARD enum qm_err
qm_client_account_oauth_get(struct qm_client *c, int64_t account_id,
                            struct qm_client_oauth_endpoints *ep,
                            char *client_id, size_t idlen, char *ca_file,
                            size_t calen, char *auth_params, size_t aplen,
                            struct qm_buf *client_secret, struct qm_error *err);

/*
 * Renews the account's access token now (force) or only when it is due
 * (within the margin above); QM_OK for an account that is not OAuth2.
 * Errors as the renewals the engine makes by itself: QM_ERR_DENIED with
 * QM_HINT_SIGN_IN, QM_ERR_NET when the provider cannot be reached.
 */
QM_NODISCARD enum qm_err qm_client_account_oauth_renew(struct qm_client *c,
                                                       int64_t account_id,
                                                       int force,
                                                       struct qm_error *err);

/*
 * Signs account_id out at its provider: its refresh token (else its
 * access token) revoked at the provider's revocation endpoint (RFC 7009),
 * then forgotten here; the account then waits for a new sign-in
 * (qm_client_account_signin_needed). The interfaces call it before they
 * remove an OAuth2 account, so that no token of it stays valid. QM_OK at
 * once for an account that does not sign in with OAuth2, or holds no
 * token; QM_ERR_UNSUPPORTED when the provider has no revocation endpoint
 * (Microsoft: the message says where the person ends it); the provider's
 * refusal or QM_ERR_NET otherwise, the tokens then kept.
 */
QM_NODISCARD enum qm_err
qm_client_account_oauth_revoke(struct qm_client *c, int64_t account_id,
                               struct qm_error *err);

/* 1 when the provider refused account_id's refresh token (a call failed
 * with QM_HINT_SIGN_IN) and it has not been signed in to since: an
 * interface shows "sign in again" whichever call (a background sync)
 * found it. 0 otherwise. */
int qm_client_account_signin_needed(struct qm_client *c, int64_t account_id);

/* Helpers exposed for their tests. The S256 code challenge of a PKCE
 * verifier (RFC 7636 4.2) into out (at least 44 bytes). */
QM_NODISCARD enum qm_err qm_client_oauth_pkce_challenge(const char *verifier,
                                                        char *out,
                                                        size_t outlen,
                                                        struct qm_error *err);
/* The authorization URL (response_type=code) into out. */
QM_NODISCARD enum qm_err
qm_client_oauth_auth_url(const struct qm_client_oauth_endpoints *ep,
                         const struct qm_client_oauth_app *app,
                         const char *redirect_uri, const char *state,
                         const char *challenge, const char *login_hint,
                         char *out, size_t outlen, struct qm_error *err);

/* --------------------------------------------------------------- accounts */

/*
 * Adds an account: stores it, seals password (may be NULL for an OAuth2
 * account whose token is set later with qm_client_account_secret_set),
 * and creates the account's identity for levels 3 and 4 (private half
 * sealed in the vault). Sets a->id. Needs the vault unlocked.
 */
QM_NODISCARD enum qm_err
qm_client_account_add(struct qm_client *c, struct qm_store_account *a,
                      const char *password, size_t pwlen, struct qm_error *err);

/*
 * Fills the server fields of a (SMTP, IMAP, POP3) from the provider
 * registry: the provider named name ("gmail", "outlook", "microsoft365",
 * "yahoo" or an alias: qm_client_provider_find), or, with name NULL, the
 * one for the domain of a->address. QM_ERR_NOTFOUND when none matches.
 * Needs no client.
 */
QM_NODISCARD enum qm_err qm_client_account_preset(struct qm_store_account *a,
                                                  const char *name,
                                                  struct qm_error *err);
/* The account id, or the one with address (case aside) into *out.
 * QM_ERR_NOTFOUND when there is none. */
QM_NODISCARD enum qm_err qm_client_account_get(struct qm_client *c, int64_t id,
                                               struct qm_store_account *out,
                                               struct qm_error *err);
QM_NODISCARD enum qm_err qm_client_account_find(struct qm_client *c,
                                                const char *address,
                                                struct qm_store_account *out,
                                                struct qm_error *err);
/*
 * Every account, ordered by id (the first is the default account of both
 * interfaces), in a malloc'd array the caller frees with free(); *n gets
 * the count (0 and NULL when there is none).
 */
QM_NODISCARD enum qm_err qm_client_account_list(struct qm_client *c,
                                                struct qm_store_account **out,
                                                size_t *n,
                                                struct qm_error *err);
/*
 * Replaces every field of account a->id with a's (its address is kept in
 * its bare lower-case form, a default level outside 1..4 becomes 2) and,
 * when secret is not NULL, seals secret (len bytes, borrowed) as the
 * secret the account logs in with as a->auth says: its password, or its
 * OAuth2 access token. All or nothing. Needs the vault unlocked when a
 * secret is given. QM_ERR_NOTFOUND for an unknown account.
 */
QM_NODISCARD enum qm_err
qm_client_account_update(struct qm_client *c, struct qm_store_account *a,
                         const char *secret, size_t len, struct qm_error *err);
/*
 * Replaces the secret of account id (a password or an app password for
 * QM_AUTH_PASSWORD, an OAuth2 access token for QM_AUTH_OAUTH2; len > 0)
 * and makes the account log in that way from now on. The one place where
 * both interfaces change a password. Needs the vault unlocked; QM_ERR_INVAL
 * for an empty secret.
 */
QM_NODISCARD enum qm_err
qm_client_account_secret_set(struct qm_client *c, int64_t id,
                             enum qm_store_auth auth, const char *secret,
                             size_t len, struct qm_error *err);
/* 1 when the secret account a logs in with (as a->auth says) is sealed
 * in the vault; 0 when not, or when the vault is locked. */
int qm_client_account_has_secret(struct qm_client *c,
                                 const struct qm_store_account *a);
/*
 * Deletes account id and everything that belongs to it (messages, outbox,
 * contacts, settings, its identity); the key IDs it consumed stay in the
 * replay log. QM_ERR_NOTFOUND for an unknown account.
 */
QM_NODISCARD enum qm_err
qm_client_account_delete(struct qm_client *c, int64_t id, struct qm_error *err);

/* The result of one connectivity check. */
struct qm_client_check {
	int tried; /* 0 when the account does not use this service */
	int ok;
	long ms;
	char message[QM_ERR_MSGMAX];
	int hint; /* enum qm_client_hint for message, or 0 */
};

/*
 * Checks the account's SMTP server (connect, TLS, authenticate), its
 * incoming server (IMAP, else POP3) and its KME (Get status with a known
 * contact's SAE ID or its own). Each result is filled; the call itself
 * fails only when the account does not exist or the vault is locked.
 */
QM_NODISCARD enum qm_err
qm_client_account_test(struct qm_client *c, int64_t account_id,
                       struct qm_client_check *smtp,
                       struct qm_client_check *incoming,
                       struct qm_client_check *kme, struct qm_error *err);

/*
 * The same checks of the mail servers for an account not saved yet: a's
 * servers, login name and a->auth, with its password or OAuth2 access
 * token in secret (len bytes, borrowed; NULL for none) and the CA file of
 * a private server in mail_ca (NULL or "": the system's). So that an
 * interface can test what it found before it saves anything. Fails only
 * for a bad argument; each check says how its server answered.
 */
QM_NODISCARD enum qm_err qm_client_account_probe(
    struct qm_client *c, const struct qm_store_account *a, const char *mail_ca,
    const char *secret, size_t len, struct qm_client_check *smtp,
    struct qm_client_check *incoming, struct qm_error *err);

/* ------------------------------------------------------------------ send */

/* An attachment to send (borrowed): its bytes data, len or, with data
 * NULL, the file at path, read as the message is written into the outbox
 * (never whole in memory). */
struct qm_client_attachment {
	const char *name;
	const char *type; /* NULL: application/octet-stream */
	const unsigned char *data;
	size_t len;
	const char *path;
};

/* A message to send. Addresses are "Name <a@b>" or "a@b"; all borrowed. */
struct qm_client_compose {
	int64_t account_id;
	const char *const *to;
	size_t nto;
	const char *const *cc;
	size_t ncc;
	const char *const *bcc;
	size_t nbcc;
	const char *subject;
	const char *text;
	const char *in_reply_to;
	const char *references;
	const struct qm_client_attachment *att;
	size_t natt;
	int level;          /* 1..4; 0: the default (qm_client_level_prefs) */
	int fallback_level; /* 0: none; else used (and said) when level is not
	                       available now; never silently */
	/* 1: the sender chose, for this message, that recipients who can get
	 * no encrypted message (qm_client_plain_msg) get an ordinary,
	 * unencrypted copy; never where a floor is set. 0: they are refused
	 * (QM_ERR_UNAVAIL, hint QM_HINT_PLAIN naming them). */
	int allow_plain;
	/* With allow_plain: when nplain_to > 0, the choice covers these
	 * addresses alone (those a person was shown): another recipient who
	 * can get no encrypted message is refused as without allow_plain. */
	const char *const *plain_to;
	size_t nplain_to;
	/* The identity to send as (its bare address; NULL or "": the
	 * account's default identity): the From line carries its address
	 * and name. QM_ERR_NOTFOUND for an address that is not one of the
	 * account's identities (qm_client_identity_list). The signature is
	 * the interface's to add to text. */
	const char *from;
	/* An HTML body (NULL: none), sent with text as multipart/alternative
	 * inside the protected message. The interface passes it sanitised
	 * (as the reader shows it) and text derived from it
	 * (qm_client_html_text) or written beside it. */
	const char *html;
	/* Chat (docs/CHAT.md; qm_client_chat_send sets them): 1 marks the
	 * protected message with Chat-Version: 1.0; chat_group_id (NULL:
	 * none) adds Chat-Group-ID. Inside the envelope only. */
	int chat;
	const char *chat_group_id;
	/* A group's membership change (qm_client_chat_member_add/_remove set
	 * them; NULL: none): Chat-Group-Member-Added or -Removed. */
	const char *chat_member_added;
	const char *chat_member_removed;
	/* With chat: a read receipt's Chat-Disposition value (NULL: none;
	 * docs/CHAT.md "Read receipts"). Inside the envelope only. */
	const char *chat_disposition;
};

/* Progress of long work: what is being done, bytes or items done of total. */
typedef void (*qm_client_progress_fn)(void *arg, const char *what,
                                      uint64_t done, uint64_t total);

/* What a send did. */
struct qm_client_sent {
	int level;       /* the level used (0: every copy went plain) */
	int fell_back;   /* 1 when fallback_level was used */
	size_t n_outbox; /* outbox entries made (one per Bcc recipient more) */
	int64_t outbox_ids[8];
	size_t n_sent; /* of those, sent now */
	/* what a person should know, or "": why it fell back, addresses
	 * listed more than once (each gets one copy) */
	char note[QM_ERR_MSGMAX];
	/* levels 3 and 4: the recipients whose public key is not verified
	 * (sent all the same, to the key as it is), in a sentence, or "" */
	char warning[QM_ERR_MSGMAX];
	/* allow_plain: the recipients who were sent an unencrypted copy
	 * (comma separated, or ""), and how many */
	char plain[QM_ERR_MSGMAX];
	size_t n_plain;
};

/*
 * Sends a message: builds the protected MIME message, puts it in the
 * outbox (sealed) before any network step, fetches keys (levels 1 and 2)
 * or looks up the recipients' public keys (levels 3 and 4), encrypts,
 * stores the ciphertext, and sends it over SMTP. Bcc recipients each get
 * their own copy, encrypted for them alone. When the KME or the SMTP
 * server fails after the message entered the outbox, the call returns the
 * error and the message waits in the outbox (qm_client_outbox_run retries
 * the same ciphertext). QM_ERR_UNAVAIL when the level cannot be used now
 * (level 1: how much key material is needed and available), unless a
 * fallback level works.
 *
 * Each address gets one copy: an address repeated in To, Cc or Bcc (case
 * aside) is used once, and a Bcc address also in To or Cc gets the To/Cc
 * copy (out->note names them). Everything that can be known before asking
 * the KME is checked before the message enters the outbox (the floors,
 * SAE IDs known, confirmed and not shared by two recipients of one copy,
 * public keys usable): QM_ERR_UNAVAIL, or the fallback. A level-1 message
 * whose KME status reports too little key is tried all the same when the
 * KME might make keys on demand (qm_client_levels says so); when the KME
 * then refuses the keys, nothing is queued and the send falls back or
 * fails with QM_ERR_UNAVAIL and the KME's answer.
 */
QM_NODISCARD enum qm_err qm_client_send(struct qm_client *c,
                                        const struct qm_client_compose *m,
                                        qm_client_progress_fn progress,
                                        void *parg, struct qm_client_sent *out,
                                        struct qm_error *err);

/*
 * Works through the outbox of account (0: every account): encrypts what is
 * pending and due (an entry that failed before encryption waits until its
 * retry time, with a back-off from 1 minute to 1 hour), sends what is
 * queued or due for a retry. Before keys are fetched for an entry, what
 * can be checked without the KME is checked again; an entry that fails
 * such a check (a recipient without a usable SAE ID or public key, two
 * recipients on one SAE, a level below a floor) will not get better by
 * waiting: it becomes failed, with the reason, and is not tried again
 * (qm_client_outbox_retry after the cause is mended). *n_sent and
 * *n_failed (may be NULL) get the counts; the first error is in err.
 */
QM_NODISCARD enum qm_err qm_client_outbox_run(struct qm_client *c,
                                              int64_t account_id,
                                              size_t *n_sent, size_t *n_failed,
                                              struct qm_error *err);

/*
 * Sends outbox entry id now, even when its retry is not due yet: encrypts
 * it first when it waits for keys. *sent is 1 when the server took it.
 * For an entry that was sent but whose copy for the Sent folder still
 * waits (qm_client_sent_copies), saves that copy instead; *sent is 1 when
 * it is saved. An entry that failed before it was encrypted (no
 * ciphertext; e.g. a recipient's SAE ID was missing) is tried again.
 * QM_ERR_STATE for an entry already sent (and copied), or failed after it
 * was encrypted.
 */
QM_NODISCARD enum qm_err qm_client_outbox_retry(struct qm_client *c, int64_t id,
                                                int *sent,
                                                struct qm_error *err);
/*
 * The outbox entries of account_id (0: every account) that were sent but
 * whose copy for the Sent folder failed and waits for the next outbox run.
 * *ids is malloc'd (free it); *n may be 0.
 */
QM_NODISCARD enum qm_err qm_client_sent_copies(struct qm_client *c,
                                               int64_t account_id,
                                               int64_t **ids, size_t *n,
                                               struct qm_error *err);
/*
 * Gives up on outbox entry id (it becomes failed, "cancelled by the
 * user"); keys it reserved stay spent. QM_ERR_STATE once it was sent.
 */
QM_NODISCARD enum qm_err
qm_client_outbox_cancel(struct qm_client *c, int64_t id, struct qm_error *err);

/* One outbox entry as a person sees it (no ciphertext, no key IDs). */
struct qm_client_outbox_item {
	int64_t id;
	int64_t account_id;
	char message_id[QM_STORE_NAMEMAX * 2];
	char *recipients; /* malloc'd, comma separated */
	int level;
	enum qm_store_outbox_state state;
	int attempts;
	int64_t created, updated, retry_at;
	char *reason;  /* malloc'd: why the last attempt failed, or NULL */
	/* malloc'd: the subject it was written with, or NULL when its sealed
	 * plaintext cannot be read (not display-safe: the interface makes it
	 * so) */
	char *subject;
	int encrypted; /* its ciphertext is stored (sent as is from now on) */
	/* sent, but its copy for the Sent folder waits for the next outbox
	 * run (qm_client_sent_copies) */
	int copy_waits;
	/* qm_client_outbox_retry can do something with it now: on its way
	 * (pending, queued, retrying), failed before it was encrypted (once
	 * its cause is mended), or a sent one whose copy waits */
	int can_retry;
};

/*
 * Every outbox entry of account_id (0: every account), by state (pending,
 * encrypting, queued, sending, sent, failed, retrying) and by id within
 * one. *out is a malloc'd array (NULL when *n is 0); free it with
 * qm_client_outbox_items_free.
 */
QM_NODISCARD enum qm_err
qm_client_outbox_list(struct qm_client *c, int64_t account_id,
                      struct qm_client_outbox_item **out, size_t *n,
                      struct qm_error *err);
void qm_client_outbox_items_free(struct qm_client_outbox_item **items,
                                 size_t n);
/* The state's name: "pending", "encrypting", "queued", "sending", "sent",
 * "failed", "retrying". */
const char *qm_client_outbox_state_name(enum qm_store_outbox_state st);

/* Whether each level can be used now for a message. */
struct qm_client_level {
	int level;
	int available;
	char reason[QM_ERR_MSGMAX];   /* why not available, or "" */
	int hint;                     /* what to do about it (enum
	                                 qm_client_hint), or 0 */
	char hint_arg[QM_ERR_ARGMAX]; /* whom or what the hint is about */
	/* available, and a person should know: public keys not verified
	 * (levels 3, 4), or the KME is asked when sending (level 1) */
	char note[QM_ERR_MSGMAX];
	/* levels 3 and 4: the recipients whose public key is not verified,
	 * comma separated, or "" */
	char unverified[QM_ERR_MSGMAX];
};

/*
 * For a message of msg_bytes to these recipients (all of To, Cc, Bcc, as
 * one copy), tells for each level 1..4 whether it is available now: the
 * floors (the setting min_level, each contact's minimum level), levels 1
 * and 2 need every recipient's confirmed SAE ID and no SAE ID twice,
 * level 1 compares the key material needed with what the KME holds
 * (when the KME reports too little but might make keys on demand, the
 * level is available with a note: the KME is asked when sending), levels
 * 3 and 4 need every recipient's public key (known and not changed; not
 * verified is available with a note). out[0..3] are filled;
 * *needed_bytes gets the level-1 key material needed.
 */
QM_NODISCARD enum qm_err
qm_client_levels(struct qm_client *c, int64_t account_id,
                 const char *const *rcpts, size_t n, uint64_t msg_bytes,
                 struct qm_client_level out[4], uint64_t *needed_bytes,
                 struct qm_error *err);
/*
 * The same for a message as qm_client_send sees it: m's account, its To
 * and Cc (one copy) and its Bcc recipients (a copy each); the rest of m
 * is not used. The recipients who can get no encrypted message
 * (qm_client_plain_msg names them) are left out, as qm_client_send leaves
 * them out of the encrypted copies, unless every recipient is one of them.
 */
QM_NODISCARD enum qm_err
qm_client_levels_msg(struct qm_client *c, const struct qm_client_compose *m,
                     uint64_t msg_bytes, struct qm_client_level out[4],
                     uint64_t *needed_bytes, struct qm_error *err);

/* Which recipients of a message would get it unencrypted (allow_plain). */
struct qm_client_plain {
	size_t n;    /* recipients who can get no encrypted message */
	int all;     /* 1: every recipient is one of them */
	int allowed; /* 1: no floor forbids sending them a plain copy */
	int invite;  /* 1: the account's plain copies carry the note on
	                QMail (QM_CLIENT_SET_PLAIN_INVITE) */
	char rcpts[QM_ERR_ARGMAX];  /* their addresses, comma separated */
	char reason[QM_ERR_MSGMAX]; /* !allowed: which floor forbids it */
};

/*
 * For m as qm_client_send sees it (its account and its To, Cc and Bcc):
 * the recipients who can get no encrypted message, because QMail knows no
 * public key (not even a changed one) and no SAE ID for them, and whether
 * a plain copy may go to them (the setting min_level and their contacts'
 * minimum levels unset). qm_client_levels_msg then tells the levels of
 * the others. Fails only when the account or the store cannot be read.
 */
QM_NODISCARD enum qm_err qm_client_plain_msg(struct qm_client *c,
                                             const struct qm_client_compose *m,
                                             struct qm_client_plain *out,
                                             struct qm_error *err);

/* The settings (global, every account) for the level of new messages. */
#define QM_CLIENT_SET_DEFAULT_LEVEL "default_level"
#define QM_CLIENT_SET_MIN_LEVEL     "min_level"

/* The level rules in force for an account. */
struct qm_client_level_prefs {
	int default_level;   /* what a message without a level is sent at */
	int default_set;     /* 1: from default_level; 0: the account's own */
	int account_default; /* the account's own default level */
	int min_level;       /* the weakest level allowed (1..4), 0: any */
};

/*
 * The level rules for account_id (0: the settings alone; then
 * default_level falls back to 2). A message sent without a level goes at
 * the setting default_level when it is set, else at the account's own
 * default level; no message goes below min_level ("never send below";
 * 1 is the strongest level, so level L is below M when L > M), nor below
 * a contact's minimum level. QM_ERR_PARSE when a stored setting is no
 * level (then nothing is sent until it is set again).
 */
QM_NODISCARD enum qm_err
qm_client_level_prefs(struct qm_client *c, int64_t account_id,
                      struct qm_client_level_prefs *out, struct qm_error *err);
/*
 * Reads QM_CLIENT_SET_DEFAULT_LEVEL or QM_CLIENT_SET_MIN_LEVEL into *v: 1
 * to 4, or 0 when unset (default_level: each account's own default;
 * min_level: no floor). QM_ERR_NOTFOUND for another name.
 */
QM_NODISCARD enum qm_err qm_client_level_setting_get(struct qm_client *c,
                                                     const char *name, int *v,
                                                     struct qm_error *err);
/*
 * Sets one of them from text: "1" to "4", or "0" / "default" to unset
 * (min_level also takes "none"). QM_ERR_INVAL naming the allowed values
 * otherwise, QM_ERR_NOTFOUND for another name. Counts from the next send.
 */
QM_NODISCARD enum qm_err qm_client_level_setting_set(struct qm_client *c,
                                                     const char *name,
                                                     const char *value,
                                                     struct qm_error *err);

/* -------------------------------------------------------------- settings */

/* Per-account settings (account_id > 0). */
#define QM_CLIENT_SET_INCOMING                                                 \
	"incoming" /* "imap" or "pop3"; unset:                                 \
	              IMAP when it has a server */
#define QM_CLIENT_SET_MAIL_CA                                                  \
	"mail_ca" /* CA file of a private                                      \
	             mail server */
#define QM_CLIENT_SET_KME_ID                                                   \
	"kme_id"                                /* the KME ID its              \
	                                           certificate must name */
#define QM_CLIENT_SET_POP3_DELETE "pop3_delete" /* "1": delete after fetch */
/* Which IMAP folders a sync takes besides INBOX (always): "subscribed"
 * (unset: every subscribed folder), "inbox" (INBOX alone) or "all" (every
 * folder that can hold mail). POP3 accounts have INBOX alone. */
#define QM_CLIENT_SET_SYNC_FOLDERS "sync_folders"
/* How qm_client_msg_trash deletes an IMAP account's message: "trash"
 * (unset: moved to the Trash folder; deleted for good from Trash) or
 * "expunge" (\Deleted and expunged at once, wherever it is). */
#define QM_CLIENT_SET_DELETE_MODE "delete_mode"
/* An IMAP folder with more new messages than this in one sync is fetched
 * headers first: its plain mail is listed from the headers at once and
 * the bodies come afterwards in the same sync, newest first, or when a
 * message is opened (docs/CLIENT.md "Large mailboxes"); QMail messages
 * are always fetched whole. "0": never; unset: QM_CLIENT_HEADER_FIRST_DEF. */
#define QM_CLIENT_SET_HEADER_FIRST "header_first"
#define QM_CLIENT_HEADER_FIRST_DEF "200"
/* The server's Sent folder gets a copy of what QMail sends (docs/CLIENT.md
 * "Copies sealed to yourself"): unset or "1", a copy sealed to the
 * account's own key (level 3; an unencrypted message as it went), which
 * another device of the account or a home restored from a key backup
 * reads; "0": none (the vault's copy alone). */
#define QM_CLIENT_SET_SAVE_SENT "save_sent"
/* "1": level-1 messages get that copy too (it is only as strong as level
 * 3, while what went to the recipients is a one-time pad); unset or "0":
 * no server copy of a level-1 message. */
#define QM_CLIENT_SET_SAVE_SENT_L1 "save_sent_level1"
/* The header that marks a copy sealed to self on the server, and its
 * values (docs/FORMAT.md): not authenticated, it only tells QMail's copies
 * from others when one replaces another. */
#define QM_CLIENT_COPY_HDR   "QMail-Copy"
#define QM_CLIENT_COPY_SENT  "sent"
#define QM_CLIENT_COPY_DRAFT "draft"
/* Set by QMail (not a setting a person sets): "1" once QMail's Sent copy
 * replaced one the server had saved itself (Gmail and others save what
 * their SMTP server takes). */
#define QM_CLIENT_SET_SERVER_SAVES_SENT "sent_copy.server_saves"
/* "1": an unencrypted message to recipients who can get no encrypted one
 * (allow_plain) ends with a short note on what QMail is (an invitation);
 * unset or "0": nothing is added. Encrypted copies never carry it. */
#define QM_CLIENT_SET_PLAIN_INVITE "plain_invite"
/* Global settings (account 0) kept for an interface: the web GUI's
 * background sync and new-mail watch, seconds between syncs (0: off). */
#define QM_CLIENT_SET_BACKGROUND_SYNC "background_sync_s"
/* Global settings of account discovery (qm_client_discover), for tests
 * and split-horizon setups: one DNS server "ADDRESS[:PORT]" (IPv4) asked
 * for every SRV, MX and A look-up of discovery, the autoconfig hosts
 * included (unset: the system's resolver); the port autoconfig is fetched
 * from over HTTPS (unset: 443); the CA file its certificates are checked
 * against (unset: the system's CAs). */
#define QM_CLIENT_SET_DISCOVER_DNS  "discover.dns_server"
#define QM_CLIENT_SET_DISCOVER_PORT "discover.https_port"
#define QM_CLIENT_SET_DISCOVER_CA   "discover.ca_file"
/* The person's own OAuth2 client of each provider (they cannot be
 * shipped: docs/USING.md says how to register one):
 * "oauth.<provider's oauth_settings>.client_id" and ".client_secret"
 * (Google and Yahoo want one for installed apps; not truly secret there,
 * still never shown in full). */
#define QM_CLIENT_SET_OAUTH_PREFIX "oauth."

/*
 * Sets setting name of account_id (0: the global settings) from text.
 * The per-account settings above take account_id > 0; the global ones
 * account 0: QM_CLIENT_SET_BACKGROUND_SYNC, and also the level settings
 * (as qm_client_level_setting_set) and the limits (as qm_client_limit_set,
 * "default" goes back to the default). value NULL or "" unsets a setting
 * of this section. QM_ERR_NOTFOUND (hint QM_HINT_SETTING_UNKNOWN) for a
 * name that is no setting of that scope, QM_ERR_INVAL naming the allowed
 * values for a bad one, QM_ERR_NOTFOUND for an unknown account.
 */
QM_NODISCARD enum qm_err
qm_client_setting_set(struct qm_client *c, int64_t account_id, const char *name,
                      const char *value, struct qm_error *err);
/*
 * The value of setting name of account_id (0: global) into out (outlen
 * bytes): as set, or its default when unset (as qm_client_setting_at
 * gives it: "" for mail_ca and kme_id, "0" for pop3_delete and
 * save_sent; a level or a limit as in force; incoming: what a sync uses,
 * "pop3" for an account with a POP3 server and no IMAP one, else "imap");
 * *is_set (may be NULL) says
 * which. QM_ERR_NOTFOUND as for qm_client_setting_set; QM_ERR_TOOBIG
 * when out is short.
 */
QM_NODISCARD enum qm_err qm_client_setting_get(struct qm_client *c,
                                               int64_t account_id,
                                               const char *name, char *out,
                                               size_t outlen, int *is_set,
                                               struct qm_error *err);

/*
 * Checks value for setting name of account_id's scope (> 0: an account's,
 * 0: global) as qm_client_setting_set would, storing nothing: so that an
 * interface that sets several can refuse them all before it writes any.
 * The level settings and the limits pass here (their own rules apply when
 * they are set). NULL or "" passes (it unsets). Errors as for
 * qm_client_setting_set, but an account is not looked up.
 */
QM_NODISCARD enum qm_err qm_client_setting_check(int64_t account_id,
                                                 const char *name,
                                                 const char *value,
                                                 struct qm_error *err);

/* One setting of the engine's table, for an interface to list. */
struct qm_client_setting_info {
	const char *name;
	const char *def;    /* its value when unset ("": none) */
	const char *values; /* the values it takes, for a person */
	const char *what;   /* what it does, in a few words */
	int secret; /* 1: never shown in full (qm_client_setting_shown) */
};

/* The value of a secret setting as an interface may show it: its first 4
 * characters and "..." ("" when empty), into out (n bytes). */
void qm_client_setting_shown(const char *value, char *out, size_t n);

/*
 * The i-th (from 0) per-account setting (global 0) or global setting
 * (global 1) into *out, in a fixed order; the strings are static. 0, or
 * -1 past the last. The level settings and the limits are not in this
 * list (qm_client_level_setting_get, qm_client_limit_at).
 */
int qm_client_setting_at(int global, size_t i,
                         struct qm_client_setting_info *out);

/* --------------------------------------------------------------- folders */

/*
 * The folders of account_id as the last sync (or qm_client_folders_refresh)
 * found them on its IMAP server, by name, with the special use, whether
 * subscribed and can hold mail, and the counts of the messages QMail holds
 * in each (total, unread: a message in several folders counts in each);
 * list a folder's messages with qm_store_query.folder_id = its id. Before
 * the first sync the list is INBOX alone; a POP3 account has INBOX alone.
 * *out is malloc'd: free with qm_client_folders_free. No network.
 */
QM_NODISCARD enum qm_err qm_client_folders(struct qm_client *c,
                                           int64_t account_id,
                                           struct qm_store_folder **out,
                                           size_t *n, struct qm_error *err);
void qm_client_folders_free(struct qm_store_folder **v, size_t n);
/* Lists the folders of account_id's IMAP server now (LIST) into what
 * qm_client_folders returns; folders no longer on the server are forgotten
 * (their messages stay). QM_ERR_UNSUPPORTED for a POP3 account. */
QM_NODISCARD enum qm_err qm_client_folders_refresh(struct qm_client *c,
                                                   int64_t account_id,
                                                   struct qm_error *err);

/* ------------------------------------------------------------------ sync */

struct qm_client_sync_stats {
	size_t fetched;   /* messages fetched from the server */
	size_t decrypted; /* QMail messages opened and verified */
	size_t plain;     /* ordinary mail */
	size_t tampered;  /* failed a check */
	size_t replayed;  /* reused a key ID */
	/* messages (new or waiting from before) whose keys could not be
	 * asked for now: kept sealed, opened by a later sync */
	size_t waiting;
	size_t errors; /* no key, refused for a limit */
	/* byte-identical copies of a QMail message already received (an SMTP
	 * retry whose first answer was lost): not filed, not decrypted */
	size_t duplicates;
	/* levels 1 and 2: opened, but the sender SAE is not the one
	 * confirmed for the From address */
	size_t unverified;
	/* bad messages (malformed values, the KME refused their key IDs):
	 * recorded unreadable, not tried again unless asked */
	size_t unreadable;
	/* waiting ones that opened in this sync (also counted above as
	 * decrypted, unverified, ...) */
	size_t resumed;
	/* IMAP (issue 14): folders synced; messages whose flags changed on
	 * the server and were taken; places the user's flag changes were
	 * written to */
	size_t folders;
	size_t flags_pulled;
	size_t flags_pushed;
	/* of the folders synced, those the folder list's STATUS showed
	 * unchanged since the last sync, not selected (docs/CLIENT.md,
	 * "Large mailboxes") */
	size_t folders_quiet;
	/* a large folder's new plain mail listed from its headers alone
	 * (header-only records), and bodies of such records downloaded
	 * since, also counted in plain (docs/CLIENT.md "Large mailboxes") */
	size_t headers_only;
	size_t bodies;
	/* QMail messages of this account itself (its Sent copies, the same
	 * in All Mail, another device's): QM_VERIFY_SENT or
	 * QM_VERIFY_SENT_ELSEWHERE, filed without asking the KME */
	size_t own;
	/* Why this account could not use its KME in this sync (no KME set,
	 * certificate refused, TLS, the KME down or failing), with what to
	 * do; "" when it could. Said once per sync, however many messages
	 * wait for it. */
	enum qm_err kme_code;
	char kme_problem[QM_ERR_MSGMAX];
	/* chat messages filed into their conversations after the sync
	 * (qm_client_chat_file, run by qm_client_sync_all) */
	size_t chat;
};

/*
 * Fetches new mail of the account (IMAP: the folder list, then INBOX and
 * the folders the setting QM_CLIENT_SET_SYNC_FOLDERS names, each brought
 * up to date first: flags both ways, UIDs gone, a new UIDVALIDITY; new
 * UIDs; POP3: new UIDLs of INBOX) and processes each message: plain mail is
 * stored as is (in the vault); QMail mail is checked for replay, its keys are
 * fetched from the account's KME, it is opened with the authenticated level and
 * key IDs, and the plaintext goes to the vault. Tampered and replayed messages
 * are recorded without plaintext. No message stops the sync (docs/CLIENT.md,
 * "Receiving"): one whose keys cannot be asked for now is kept as received
 * (sealed) in state QM_VERIFY_WAITING and opened by a later sync (first
 * the waiting ones that are due, then new mail); a bad one is recorded
 * QM_VERIFY_UNREADABLE. When the account cannot use its KME, st->kme_problem
 * says why, once. Progress is reported per message.
 */
QM_NODISCARD enum qm_err qm_client_sync(struct qm_client *c, int64_t account_id,
                                        qm_client_progress_fn progress,
                                        void *parg,
                                        struct qm_client_sync_stats *st,
                                        struct qm_error *err);

/* What qm_client_sync_all did with one account, as it goes. */
struct qm_client_sync_report {
	int64_t account_id;
	const char *address;   /* borrowed for the call */
	enum qm_err rc;        /* its sync: QM_OK or the error */
	struct qm_error error; /* why, when rc is not QM_OK (with its hint) */
	struct qm_client_sync_stats st;
};
typedef void (*qm_client_sync_report_fn)(void *arg,
                                         const struct qm_client_sync_report *r);

/* What a whole qm_client_sync_all did. */
struct qm_client_sync_all {
	/* the outbox, first */
	size_t sent;           /* outbox entries sent (or copies saved) */
	size_t not_sent;       /* waiting for a retry, or failed for good */
	enum qm_err outbox_rc; /* qm_client_outbox_run's result */
	struct qm_error outbox_error;
	/* then each account */
	size_t accounts;                   /* accounts synced */
	size_t accounts_failed;            /* of those, with an error */
	struct qm_client_sync_stats total; /* their counts added up (no
	                                      kme_problem: see the reports) */
	/* the first thing that failed, "outbox: ..." or "<address>: ...",
	 * or "" */
	char first_error[QM_ERR_MSGMAX];
};

/*
 * One pass of both directions, in this fixed order: first the outbox of
 * account_id (0: of every account) is worked through
 * (qm_client_outbox_run), then the INBOX of that account (0: of each
 * account, by id) is synced (qm_client_sync). The outbox goes first so
 * that what was written is not held back by a long or failing fetch, and
 * so that a message between two accounts of this home arrives in the
 * same pass (docs/CLIENT.md, "Syncing"). progress (may be NULL) gets
 * ("outbox", 0, 1) and ("outbox", 1, 1) around the outbox run, then each
 * account's own progress; report (may be NULL) gets each account's
 * result right after its sync. Last, the list snippets of up to 1000
 * messages filed before the store kept snippets are made
 * (qm_store_msg_snippets_fill; a failure is noted in first_error). No
 * step stops the others: what each did is in *out (may be NULL) and in
 * the reports. The call fails, having
 * done nothing, only when the vault is locked (QM_ERR_LOCKED, hint
 * QM_HINT_VAULT_LOCKED), the accounts cannot be listed, or account_id is
 * unknown (QM_ERR_NOTFOUND).
 */
QM_NODISCARD enum qm_err
qm_client_sync_all(struct qm_client *c, int64_t account_id,
                   qm_client_progress_fn progress,
                   qm_client_sync_report_fn report, void *arg,
                   struct qm_client_sync_all *out, struct qm_error *err);

/*
 * Waits up to timeout_ms for new mail in the account's INBOX without
 * fetching it: IMAP IDLE when the server offers it, else a NOOP every 30 s
 * on one connection; the other folders the account syncs are looked at
 * with STATUS at the first wait and once a minute (a new message, an
 * expunge or a flag change there is news). *news is 1 when mail arrived (then qm_client_sync
 * fetches it), 0 when the time passed quietly. QM_ERR_UNSUPPORTED for an
 * account without IMAP (POP3 has no push: call qm_client_sync now and then).
 */
QM_NODISCARD enum qm_err qm_client_wait_mail(struct qm_client *c,
                                             int64_t account_id,
                                             long timeout_ms, int *news,
                                             struct qm_error *err);

/*
 * The same wait in two steps, for a program that keeps using the client
 * while it waits (the web GUI's watchers). qm_client_watch_open needs the
 * client (and whatever lock guards it) but no network: it loads the
 * account and where the last sync stopped. qm_client_watch_wait uses the
 * watch alone, so another thread may use the client meanwhile. It waits
 * up to timeout_ms (IDLE, or a NOOP every 30 s) for new mail; the first
 * call connects and selects INBOX first, and returns at once with
 * *news = 1 when mail came since the last sync. A wait ends early, with *woken
 * = 1 (may be NULL), when wake_fd (-1: none) becomes readable. After an error,
 * or to see the client's newer sync state, free the watch and open a new one. A
 * watch holds the account's password in secure memory until
 * qm_client_watch_free: free it when the vault is locked.
 */
struct qm_client_watch;
QM_NODISCARD enum qm_err qm_client_watch_open(struct qm_client *c,
                                              int64_t account_id, int wake_fd,
                                              struct qm_client_watch **out,
                                              struct qm_error *err);
QM_NODISCARD enum qm_err qm_client_watch_wait(struct qm_client_watch *w,
                                              long timeout_ms, int *news,
                                              int *woken, struct qm_error *err);
void qm_client_watch_free(struct qm_client_watch **w);

/* ------------------------------------------------------------------ read */

/*
 * A message as a person reads it. Strings are malloc'd; "" when absent.
 * from, to, cc (RFC 2047 display names decoded), subject, date and the
 * attachments' names and types are display-safe: shown through
 * qm_client_display (one line), so a control or direction character in
 * them appears as a visible mark, in every interface and in the name an
 * attachment is saved under. text, html, status_text and sender_sae are
 * as received: each interface shows them its own way (the CLI through
 * qm_client_display, the GUI as text or sanitised HTML).
 */
struct qm_client_att {
	char *name;    /* display-safe file name */
	char *type;    /* the type the sender declared, display-safe */
	char *ext;     /* the real extension of name ("exe"), "" when none */
	int disguised; /* name held control or direction characters */
	unsigned char *data; /* plaintext: wiped on free; NULL when only
	                        listed (qm_client_read_listed) */
	size_t len;          /* its decoded size, also when only listed */
	char *cid; /* its Content-ID (no angle brackets), "" when none */
	int named; /* 0: the part had no file name; name was made from its
	              position and type ("attachment-2.pdf", "-1.bin") */
};

/* What is known now of the key that signed a level-3/4 message. */
enum qm_client_signer_trust {
	QM_SIGNER_NONE = 0,   /* not signed (levels 1, 2), or not opened */
	QM_SIGNER_VERIFIED,   /* the user compared its fingerprint */
	QM_SIGNER_UNVERIFIED, /* never compared: could be an impostor's */
	QM_SIGNER_CHANGED,    /* the contact presents another key since,
	                         not decided on yet */
	QM_SIGNER_RETIRED,    /* replaced by a key the user verified */
	QM_SIGNER_UNKNOWN,    /* no longer in the keyring */
};
/* "verified", "unverified", "changed", "retired", "unknown" or "". */
const char *qm_client_signer_trust_name(enum qm_client_signer_trust t);

struct qm_client_view {
	int64_t id;
	int level;                   /* 0: not encrypted */
	enum qm_store_verify verify; /* verified, tampered, replay, ... */
	char *status_text;           /* one sentence for a person */
	/* For an opened QMail message: the values bound into the envelope
	 * (authenticated), never the inner copies (bound = 1). */
	char *from, *to, *cc, *date, *message_id;
	int bound;
	/* The name shown for the sender (qm_client_sender_name): a
	 * contact's, else the name in the authenticated From (of a QMail
	 * message the inner copy, never the outer one); "" when none: show
	 * from's address. from keeps its meaning (the bound value). */
	char *from_name;
	/* Reply-To ("" when none): where a reply goes instead of From
	 * (qm_client_reply_rcpts); of a QMail message, the protected one */
	char *reply_to;
	char *subject;
	char *in_reply_to, *references;
	char *text;
	char *html; /* NULL when none; unsanitised: the GUI sanitises */
	struct qm_client_att *att;
	size_t natt;
	char **key_ids; /* levels 1 and 2 */
	size_t nkey_ids;
	char *sender_sae;
	/* levels 1 and 2: the contact whose confirmed SAE ID sent it ("" when
	 * none); for QM_VERIFY_UNVERIFIED_SENDER it differs from From */
	char *sender_owner;
	char *signer_fpr;  /* levels 3 and 4: the signing key's fingerprint */
	char *signer_addr; /* whose key it is in the keyring */
	enum qm_client_signer_trust signer_trust; /* as of now */
	/* levels 1 and 2, as the receiving KME reported it: the keys were
	 * relayed over relay_hops QKD links through relay_trusted trusted
	 * nodes (KMEs that saw them) from the KME relay_source ("" when not
	 * said); relay_hops 0 when the KME reported no relay */
	int relay_hops, relay_trusted;
	char relay_source[256];
	/* waiting: when a later sync tries again (Unix seconds, 0: next) */
	int64_t retry_at;
	int retryable; /* qm_client_msg_retry may be asked for it */
};

/*
 * Opens message id for reading: its plaintext from the vault, parsed. A
 * tampered or replayed message comes back with its status and no content.
 * For an opened QMail message the headers shown are the authenticated
 * ones, and the signer's trust is the keyring's as of now. Free with
 * qm_client_view_free (wipes the plaintext).
 */
QM_NODISCARD enum qm_err qm_client_read(struct qm_client *c, int64_t id,
                                        struct qm_client_view **out,
                                        struct qm_error *err);
/*
 * qm_client_read with the attachments listed, not decoded: each has its
 * name, type, extension, Content-ID and decoded size (len) as
 * qm_client_read gives them, and data NULL; the same checks, status,
 * headers and text, and the message is marked read the same way. Its
 * memory is bounded by the text and a window of the message (a large one
 * is parsed from its blob a window at a time), not by the attachments:
 * what an interface needs to show a message; attachment n's bytes come
 * from qm_client_att_open (streamed). The sizes are counted by decoding
 * each attachment into nothing, so the time still grows with them.
 */
QM_NODISCARD enum qm_err qm_client_read_listed(struct qm_client *c, int64_t id,
                                               struct qm_client_view **out,
                                               struct qm_error *err);
void qm_client_view_free(struct qm_client_view **v);
/*
 * Attachment n of message id (numbered as qm_client_read numbers them)
 * read from the vault a piece at a time: for a message whose plaintext is
 * kept as a blob (a large one, issue 18) memory stays bounded whatever
 * its size, where qm_client_read holds every attachment whole; one kept
 * whole (under the blob threshold) is read from a secure copy of its
 * plaintext. A message
 * qm_client_read shows no content of (tampered, replayed, not opened) has
 * none: QM_ERR_NOTFOUND, as for no attachment n. QM_ERR_UNSUPPORTED when
 * the plaintext is not fetched yet, or the attachment is a forwarded
 * message: read it with qm_client_read then. The reader has its
 * own handle on the home (qm_client_clone), so it may be read on another
 * thread than c's and outlive the call; qm_client_att_info describes the
 * attachment (display-safe, as qm_client_read gives it, data NULL, len
 * its decoded size; borrowed). Close with qm_client_att_close.
 */
struct qm_client_att_reader;
QM_NODISCARD enum qm_err qm_client_att_open(struct qm_client *c, int64_t id,
                                            size_t n,
                                            struct qm_client_att_reader **out,
                                            struct qm_error *err);
/* The same without counting its size first (info's len 0): one pass
 * less over the attachment, for a caller that only copies it (qmail read
 * --save-attachments). */
QM_NODISCARD enum qm_err
qm_client_att_open_unsized(struct qm_client *c, int64_t id, size_t n,
                           struct qm_client_att_reader **out,
                           struct qm_error *err);
const struct qm_client_att *
qm_client_att_info(const struct qm_client_att_reader *r);
/* The next bytes (*got 0 only at the end); QM_ERR_AUTH when the vault's
 * blob was altered (nothing more is given). */
QM_NODISCARD enum qm_err qm_client_att_read(struct qm_client_att_reader *r,
                                            void *buf, size_t want, size_t *got,
                                            struct qm_error *err);
void qm_client_att_close(struct qm_client_att_reader **r);
/*
 * Whom a reply to v from account_id goes to: *to gets the addresses of
 * v's Reply-To when it has one, else of its From; with all, *cc gets v's
 * To and Cc but the account's own address and the addresses in *to. Bare
 * addresses, each once; both arrays malloc'd (free with
 * qm_client_strv_free; NULL when empty). QM_ERR_PARSE when v names no
 * address to reply to, QM_ERR_NOTFOUND for an unknown account.
 */
QM_NODISCARD enum qm_err qm_client_reply_rcpts(struct qm_client *c,
                                               int64_t account_id,
                                               const struct qm_client_view *v,
                                               int all, char ***to, size_t *nto,
                                               char ***cc, size_t *ncc,
                                               struct qm_error *err);

/*
 * Tries once more to open message id, from the copy kept sealed when it
 * was received: a message recorded unreadable (its keys may still be at
 * the KME), without key (the sender's public key was imported since), or
 * waiting (now, without waiting for its turn). Its record is replaced
 * when the outcome changed; *new_id gets the id of its record afterwards
 * and *verify its state (both may be NULL). QM_ERR_STATE for a message in
 * another state or kept without its copy; when the account cannot use its
 * KME now, QM_ERR_UNAVAIL (or the KME's error) and it stays as it was.
 */
QM_NODISCARD enum qm_err qm_client_msg_retry(struct qm_client *c, int64_t id,
                                             int64_t *new_id,
                                             enum qm_store_verify *verify,
                                             struct qm_error *err);

/* -------------------------------------------------------- message index */

/*
 * Lists the messages q selects (account, folder, sender, dates, level,
 * flags). A folder by name (q->folder with q->account_id) of an account
 * whose folders are known lists the messages in that folder on the server
 * as of the last sync, like q->folder_id; otherwise (POP3) the folder a
 * message was filed in. q->text searches subjects and bodies, which needs the
 * vault unlocked), newest first, a page at a time (q->limit, keyset paging with
 * q->before_date and q->before_id). Subjects are NULL while the vault is
 * locked. QM_ERR_PARSE for a search that cannot be understood. Free the
 * list with qm_client_msglist_free.
 */
QM_NODISCARD enum qm_err qm_client_msg_list(struct qm_client *c,
                                            const struct qm_store_query *q,
                                            struct qm_store_msglist **out,
                                            struct qm_error *err);
/* How many messages q selects (its text, paging and limit not used). */
QM_NODISCARD enum qm_err qm_client_msg_count(struct qm_client *c,
                                             const struct qm_store_query *q,
                                             int64_t *n, struct qm_error *err);
/* Message id's index row, as a list of one. QM_ERR_NOTFOUND when there is
 * no such message. Free with qm_client_msglist_free. */
QM_NODISCARD enum qm_err qm_client_msg_get(struct qm_client *c, int64_t id,
                                           struct qm_store_msglist **out,
                                           struct qm_error *err);
void qm_client_msglist_free(struct qm_store_msglist **l);
/*
 * The name to show for the sender of listed message m (its from_addr):
 * the user's name for the address in the account's contacts, else
 * m->from_name (the name its authenticated From gave), display-safe
 * (qm_client_display, one line). "" (show the address) when there is
 * none, when it looks like an address other than from_addr itself (holds
 * an '@'), and for a message whose sender is not shown (tampered,
 * replayed, refused, unopened, its labels altered); a message from an
 * unverified sender gets only the name its From gave, never a contact's.
 * *out is malloc'd. Fails only out of memory.
 */
QM_NODISCARD enum qm_err qm_client_sender_name(struct qm_client *c,
                                               const struct qm_store_msg *m,
                                               char **out,
                                               struct qm_error *err);
/*
 * Changes message id's flags (QM_FLAG_SEEN, QM_FLAG_FLAGGED, ...): those
 * in set are set, then those in clear cleared; *flags (may be NULL) gets
 * them as they are now. QM_ERR_NOTFOUND for no such message. The change is
 * kept in the store at once and written to the IMAP server at the next
 * sync of the account (in every folder the message is in), so a change
 * made offline is not lost; a flag another client changed meanwhile on
 * the server is taken unless the user changed the same flag here.
 */
QM_NODISCARD enum qm_err qm_client_msg_flags(struct qm_client *c, int64_t id,
                                             unsigned set, unsigned clear,
                                             unsigned *flags,
                                             struct qm_error *err);
/*
 * The threading headers of message id as received (In-Reply-To and
 * References, raw, for qm_client_thread_build), read from its plaintext in
 * the vault: "" for a message that keeps none or may not be shown
 * (tampered, replayed, waiting, ...). Unlike qm_client_read it marks
 * nothing read. Needs the vault unlocked; QM_ERR_NOTFOUND for no such
 * message. *in_reply_to and *references are malloc'd (free them).
 */
QM_NODISCARD enum qm_err qm_client_msg_refs(struct qm_client *c, int64_t id,
                                            char **in_reply_to,
                                            char **references,
                                            struct qm_error *err);
/*
 * qm_client_msg_flags, then written to the IMAP server at once in every
 * folder the message is in (docs/CLIENT.md "Moving, deleting, folders"),
 * for an interface's explicit change (read, unread, star, junk). The
 * change is kept first: when the server cannot be reached, the vault is
 * locked, a sync of the account holds it for more than 2 s, or a folder
 * was renumbered, it stays queued and the next sync writes it (*written
 * = 0); *written = 1 when the server has it now (both may be NULL).
 * Fails only as qm_client_msg_flags fails.
 */
QM_NODISCARD enum qm_err qm_client_msg_flags_now(struct qm_client *c,
                                                 int64_t id, unsigned set,
                                                 unsigned clear,
                                                 unsigned *flags, int *written,
                                                 struct qm_error *err);

/*
 * Operations on the IMAP server, done at once (ops.c; docs/CLIENT.md
 * "Moving, deleting, folders"). Each needs the vault unlocked (the
 * account's password), waits up to 30 s for a sync of the account to end
 * (QM_ERR_UNAVAIL after), and works on where the last sync saw the
 * message (its places): QM_ERR_STATE when it saw it nowhere, or when the
 * folder was renumbered on the server since (nothing is done: sync and
 * try again). A folder is named by the server's name
 * (qm_store_folder.name) or by a display name only one folder has. The
 * message keeps its record: a QMail message moved is never fetched or
 * decrypted again (no KME request, no replay record); its places follow
 * the server's answer (COPYUID), or its Message-ID in the folder it went
 * to. A POP3 account: QM_ERR_UNSUPPORTED (its server keeps one folder),
 * except qm_client_msg_trash. Errors of the server come back as the mail
 * layer gives them (QM_ERR_PROTO with its words, QM_ERR_NET, ...).
 */
/* Moves message id to folder: UID MOVE (RFC 6851), or COPY + \Deleted +
 * UID EXPUNGE where MOVE is not offered; the flags the user changed since
 * the last sync are written first, so the moved copy carries them. A
 * message already in folder leaves its other place. QM_ERR_NOTFOUND for
 * a folder the server does not list. */
QM_NODISCARD enum qm_err qm_client_msg_move(struct qm_client *c, int64_t id,
                                            const char *folder,
                                            struct qm_error *err);
/* Moves messages ids[0..n) of one account to folder as qm_client_msg_move
 * does each, on one IMAP session (one login, one lock) for all. A
 * message deleted meanwhile is skipped. *done gets how many of ids,
 * from the first, are moved or skipped: on an error, those before the
 * one that failed. */
QM_NODISCARD enum qm_err qm_client_msgs_move(struct qm_client *c,
                                             const int64_t *ids, size_t n,
                                             const char *folder, size_t *done,
                                             struct qm_error *err);
/* Copies message id to folder (UID COPY); it gains a place there (one
 * record, shown in both). Already there: nothing to do. */
QM_NODISCARD enum qm_err qm_client_msg_copy(struct qm_client *c, int64_t id,
                                            const char *folder,
                                            struct qm_error *err);
/*
 * Moves message id to the account's folder of that special use:
 * QM_FOLDER_USE_ARCHIVE (Archive; without one, Gmail's All Mail: the
 * message just leaves INBOX), QM_FOLDER_USE_JUNK (and marks it $Junk),
 * QM_FOLDER_USE_TRASH, QM_FOLDER_USE_INBOX (back; a message marked $Junk
 * becomes $NotJunk), or any other use. QM_ERR_NOTFOUND, naming the use,
 * when the account has no such folder; QM_ERR_INVAL for
 * QM_FOLDER_USE_NONE.
 */
QM_NODISCARD enum qm_err qm_client_msg_file(struct qm_client *c, int64_t id,
                                            enum qm_store_folder_use use,
                                            struct qm_error *err);
/*
 * Deletes message id the way a mail client does: moved to the Trash
 * folder. Already in Trash alone, or with the account's setting
 * QM_CLIENT_SET_DELETE_MODE "expunge": \Deleted + UID EXPUNGE in every
 * folder it is in, and it leaves the index and the vault (its key IDs
 * stay in the replay log). A message of a POP3 account, or one the last
 * sync saw in no folder, is deleted here only (qm_client_msg_delete).
 * QM_ERR_NOTFOUND when the account has no Trash folder (and deletes to
 * Trash).
 */
QM_NODISCARD enum qm_err qm_client_msg_trash(struct qm_client *c, int64_t id,
                                             struct qm_error *err);
/* The most hits qm_client_search_server returns. */
#define QM_CLIENT_SEARCH_MAX 1000u
/* A message the server found, downloaded or not. Strings malloc'd, as the
 * server sent them (RFC 2047 decoded, not display-safe: show them through
 * qm_client_display); "" when absent. */
struct qm_client_server_hit {
	uint32_t uid;
	int64_t id; /* the message in QMail (read it so), 0: not downloaded */
	char *subject, *from, *message_id;
	int64_t date; /* its Date header, else when it arrived; 0: unknown */
	uint32_t size;
	unsigned flags; /* the server's (QM_FLAG_*) */
};
/*
 * Searches folder (NULL or "": INBOX) of account_id on the IMAP server
 * for text (IMAP SEARCH TEXT: anywhere in the header or the body, as the
 * server matches), for mail QMail has not downloaded (a folder not
 * synced, mail older than the account in QMail). The server sees only
 * ciphertext of a QMail message: its words are found by the local search
 * (qm_client_msg_list with q.text) alone. The newest max hits (0 or past
 * QM_CLIENT_SEARCH_MAX: that many), oldest first, with their headers
 * (nothing is marked read); *out malloc'd, free with
 * qm_client_server_hits_free. Errors as the operations above.
 */
QM_NODISCARD enum qm_err qm_client_search_server(
    struct qm_client *c, int64_t account_id, const char *folder,
    const char *text, size_t max, struct qm_client_server_hit **out,
    size_t *n, struct qm_error *err);
void qm_client_server_hits_free(struct qm_client_server_hit **v, size_t n);
/*
 * Folders on the account's server: IMAP CREATE (and SUBSCRIBE), RENAME
 * (the folders under it go along; their messages keep their places),
 * DELETE (plain messages that were only there leave the index; QMail
 * messages stay, their vault copy being the only one); the folder list
 * (qm_client_folders) follows. A new name is UTF-8 as a person types it
 * (levels joined by the server's delimiter, qm_store_folder.delim); an
 * existing folder is named as above. INBOX and the folders of a special
 * use (Sent, Drafts, Trash, Junk, Archive, All Mail, ...) cannot be
 * renamed or deleted (QM_ERR_INVAL, nothing changed on the server: other
 * mail clients and the server's own rules rely on them); the server's
 * refusal (a name taken, a folder with children) is QM_ERR_PROTO with its
 * words.
 */
QM_NODISCARD enum qm_err qm_client_folder_create(struct qm_client *c,
                                                 int64_t account_id,
                                                 const char *name,
                                                 struct qm_error *err);
QM_NODISCARD enum qm_err
qm_client_folder_rename(struct qm_client *c, int64_t account_id,
                        const char *from, const char *to, struct qm_error *err);
QM_NODISCARD enum qm_err qm_client_folder_delete(struct qm_client *c,
                                                 int64_t account_id,
                                                 const char *name,
                                                 struct qm_error *err);
/* Deletes message id from the index and its plaintext from the vault;
 * the key IDs it consumed stay in the replay log (never used again). */
QM_NODISCARD enum qm_err qm_client_msg_delete(struct qm_client *c, int64_t id,
                                              struct qm_error *err);
/*
 * Appends the readable MIME message of message id as kept in the vault
 * (decrypted, as the sender wrote it) to out, a secure buffer. Needs the
 * vault unlocked; QM_ERR_NOTFOUND when it has none (tampered, replayed,
 * refused, or waiting messages keep no plaintext).
 */
QM_NODISCARD enum qm_err qm_client_msg_mime(struct qm_client *c, int64_t id,
                                            struct qm_buf *out,
                                            struct qm_error *err);

/* ----------------------------------------------------------------- export */

enum qm_client_export_fmt {
	QM_CLIENT_EXPORT_MBOX = 1,   /* one file, mboxrd */
	QM_CLIENT_EXPORT_MAILDIR = 2 /* a folder with cur/, new/, tmp/ */
};
/* What an export did. */
struct qm_client_export_stats {
	size_t written;        /* messages written */
	size_t skipped;        /* no plaintext: tampered, replayed, refused,
	                          waiting or unreadable */
	size_t not_downloaded; /* a header-only message whose body could not
	                          be fetched now (the server out of reach) */
};
/*
 * Writes the readable message (qm_client_msg_mime: decrypted, as the
 * sender wrote it) of every message q selects (its paging and limit are
 * not used), newest first, to path: a new mbox file (mboxrd: a "From "
 * line begins each message, lines beginning ">*From " get one more '>';
 * created 0600, an existing file is QM_ERR_EXISTS) or a Maildir (created
 * 0700 with cur/, new/ and tmp/ when missing, else added to; each message
 * a file of cur/ with its flags, S F R). Lines end in LF. The plaintext
 * leaves the vault: the files are as readable as the user's other files.
 * A message without plaintext is skipped and counted; a header-only one
 * has its body fetched first. progress (may be NULL) gets "exporting",
 * done of total. Needs the vault unlocked; QM_ERR_IO with the path when
 * a file cannot be written (what was written stays).
 */
QM_NODISCARD enum qm_err
qm_client_export(struct qm_client *c, const struct qm_store_query *q,
                 enum qm_client_export_fmt fmt, const char *path,
                 qm_client_progress_fn progress, void *parg,
                 struct qm_client_export_stats *st, struct qm_error *err);

/* ----------------------------------------------------------------- drafts */

/*
 * Drafts: bytes an interface keeps for later, sealed in the vault (the
 * engine does not read them; the web GUI keeps its compose fields).
 * qm_client_draft_put saves (*id 0: a new one, *id set) n bytes
 * for account_id; qm_client_draft_get appends draft id to out (a secure
 * buffer); qm_client_draft_list gives the ids of account_id's drafts
 * (malloc'd, free() it; *n may be 0). All need the vault unlocked;
 * QM_ERR_NOTFOUND for an unknown draft.
 */
QM_NODISCARD enum qm_err qm_client_draft_put(struct qm_client *c,
                                             int64_t account_id, int64_t *id,
                                             const void *p, size_t n,
                                             struct qm_error *err);
QM_NODISCARD enum qm_err qm_client_draft_get(struct qm_client *c, int64_t id,
                                             struct qm_buf *out,
                                             struct qm_error *err);
QM_NODISCARD enum qm_err qm_client_draft_delete(struct qm_client *c, int64_t id,
                                                struct qm_error *err);
QM_NODISCARD enum qm_err qm_client_draft_list(struct qm_client *c,
                                              int64_t account_id, int64_t **ids,
                                              size_t *n, struct qm_error *err);
/*
 * Keeps draft id of account_id in the account's IMAP Drafts folder too,
 * sealed to the account's own key (docs/CLIENT.md "Drafts"), replacing
 * its older copies there, so that another home of the account (or one
 * restored from a key backup) continues it: its sync adopts the copy
 * among its drafts. Nothing is sent when the account keeps no server
 * copies (the Sent copy's choice: save_sent; save_sent_level1 for a
 * level-1 draft) or has no IMAP server: *kept (may be NULL) says whether
 * the copy is there. A failure leaves the draft saved in the vault; the
 * message says so. qm_client_draft_delete takes the server's copies away
 * too, as far as the server can be reached.
 */
QM_NODISCARD enum qm_err qm_client_draft_upload(struct qm_client *c,
                                                int64_t account_id, int64_t id,
                                                int *kept,
                                                struct qm_error *err);
/*
 * The draft format the interfaces keep (a small header block and the
 * text: "To: a, b\r\nCc: ...\r\nBcc: ...\r\nSubject: ...\r\n
 * X-QMail-Level: N\r\nIn-Reply-To: ...\r\n\r\n" + text), from m's
 * recipients, subject, text, level and In-Reply-To; appended to out.
 * QM_ERR_INVAL for a value with a line break.
 */
QM_NODISCARD enum qm_err
qm_client_draft_encode(const struct qm_client_compose *m, struct qm_buf *out,
                       struct qm_error *err);

/* ---------------------------------------------------------------- display */

/* What qm_client_display keeps. */
#define QM_DISPLAY_LINE 0u /* a header or a name: every control is marked */
#define QM_DISPLAY_TEXT 1u /* a body: newline and tab stay; CR LF is LF */

/*
 * Appends to out the n bytes of UTF-8 text s in a form that shows what it
 * holds and cannot act on the screen that shows it: C0 and C1 controls
 * and DEL (but newline and tab with QM_DISPLAY_TEXT, where CR LF becomes a
 * newline), the bidirectional-text controls and marks (U+202A-202E,
 * U+2066-2069, U+200E, U+200F, U+061C) and the line and paragraph
 * separators (U+2028, U+2029) each become a visible ASCII "[U+001B]";
 * bytes that are not UTF-8 become U+FFFD. Everything else is copied.
 * Fails only when out is full (QM_ERR_TOOBIG) or out of memory.
 */
QM_NODISCARD enum qm_err qm_client_display(const char *s, size_t n,
                                           unsigned flags, struct qm_buf *out,
                                           struct qm_error *err);
/* The same into a new malloc'd string (*out, set on success). */
QM_NODISCARD enum qm_err qm_client_display_dup(const char *s, unsigned flags,
                                               char **out,
                                               struct qm_error *err);
/*
 * The real extension of a file name (the part after its last dot, in
 * lower case; "" when there is none, or the name's only dot comes first)
 * into ext, cut to extlen - 1 bytes.
 */
void qm_client_display_ext(const char *name, char *ext, size_t extlen);
/*
 * The bare addresses (addr-spec, "a@b") of a header's address list ("Ann
 * <a@b>, \"B, C\" <c@d>"), in order: *out is a malloc'd array of malloc'd
 * strings; free with qm_client_strv_free. QM_ERR_PARSE when the list
 * holds no address.
 */
QM_NODISCARD enum qm_err qm_client_addrs_parse(const char *list, char ***out,
                                               size_t *n, struct qm_error *err);
void qm_client_strv_free(char ***v, size_t n);

/* One mailbox a person typed: display name ("" when none) and address. */
struct qm_client_addr {
	char *name;
	char *address;
};
/* What qm_client_parse_addrs read: the mailboxes, then the entries that
 * are no address, as typed. */
struct qm_client_addr_list {
	struct qm_client_addr *v;
	size_t n;
	char **invalid;
	size_t ninvalid;
};
/*
 * Reads a To, Cc or Bcc field as a person types it (RFC 5322 with the
 * usual slack): "Bob Example <bob@qmail.test>, \"Doe, Jane\"
 * <jane@x.test>, carol@y.test; Team: a@b.test, c@d.test;" gives four
 * mailboxes (commas or semicolons between entries, quoted names, RFC 2047
 * words, groups' members). An entry that is no addr-spec (no @, an empty
 * local part, a bad domain, a space inside) is listed in out->invalid as
 * typed, so that the interface can name it; the rest are still read. On
 * success *out owns everything (free with qm_client_addr_list_clear);
 * QM_ERR_TOOBIG past 5,000 entries, QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err
qm_client_parse_addrs(const char *list, struct qm_client_addr_list *out,
                      struct qm_error *err);
void qm_client_addr_list_clear(struct qm_client_addr_list *l);
/*
 * One mailbox as a recipient entry of struct qm_client_compose: address
 * alone when name is "" or NULL, else "\"name\" <address>" (the name's
 * quotes and backslashes escaped, so commas in it stay in it). QM_ERR_INVAL
 * when address is no addr-spec or the name holds a control character,
 * QM_ERR_TOOBIG when out (cap bytes) is too small.
 */
QM_NODISCARD enum qm_err qm_client_addr_format(const char *name,
                                               const char *address,
                                               char *out, size_t cap,
                                               struct qm_error *err);

/* --------------------------------------------------------------- keyring */

/*
 * Key backup: qm_client_keys_backup appends to out the account's identity
 * (its secret keys for levels 3 and 4, which also open the account's
 * copies sealed to self on the server) sealed under a recovery passphrase
 * of at least 12 bytes (QM_ERR_INVAL otherwise), as text (docs/CLIENT.md
 * "Key backup"). qm_client_keys_restore reads such text into account_id,
 * which must have the address the backup names (QM_ERR_INVAL), and makes
 * its keys the account's own, replacing the ones it had; fpr (may be
 * NULL; QM_STORE_FPRMAX) gets their fingerprint. QM_ERR_AUTH for a wrong
 * passphrase or a backup changed in any byte, QM_ERR_PARSE for text that
 * is not a backup. Both need the vault unlocked.
 */
QM_NODISCARD enum qm_err
qm_client_keys_backup(struct qm_client *c, int64_t account_id, const char *pass,
                      size_t plen, struct qm_buf *out, struct qm_error *err);
QM_NODISCARD enum qm_err
qm_client_keys_restore(struct qm_client *c, int64_t account_id,
                       const char *pass, size_t plen, const char *text,
                       size_t n, char *fpr, struct qm_error *err);

/* Appends the account's public identity in its text armour to out. */
QM_NODISCARD enum qm_err qm_client_key_export(struct qm_client *c,
                                              int64_t account_id,
                                              struct qm_buf *out,
                                              struct qm_error *err);
/*
 * Imports a contact's armoured public identity for address (NULL: the
 * armour's Comment). *fpr (QM_STORE_FPRMAX) gets its fingerprint text and
 * *trust the keyring's state for it.
 */
QM_NODISCARD enum qm_err
qm_client_key_import(struct qm_client *c, const char *address,
                     const char *armour, size_t len, char *fpr,
                     enum qm_store_trust *trust, struct qm_error *err);
/* The user compared fingerprints with the contact: marks the key verified.
 * QM_ERR_AUTH when the fingerprint given differs from the stored key. */
QM_NODISCARD enum qm_err qm_client_key_verify(struct qm_client *c,
                                              const char *address,
                                              const char *fingerprint,
                                              struct qm_error *err);
/* The safety number of the account and a contact (docs/SECURITY.md,
 * "Safety numbers"): both compute the same number for the pair. */
struct qm_client_safety {
	char address[QM_STORE_ADDRMAX];     /* the contact, bare */
	char own_address[QM_STORE_ADDRMAX]; /* the account, bare */
	char number[72]; /* 12 groups of 5 digits (QM_SAFETY_TEXTLEN) */
	char fpr[QM_STORE_FPRMAX]; /* the contact's key */
	char own_fpr[QM_STORE_FPRMAX];
	/* the contact's key: UNVERIFIED, VERIFIED, or CHANGED (a new key
	 * that awaits the user's decision; the number is for it) */
	enum qm_store_trust trust;
	int altered; /* its record was changed outside QMail */
};
/*
 * The safety number of account_id's identity and the key address presents
 * (a CHANGED key first, else the one in use). QM_ERR_NOTFOUND when no key
 * is known for address.
 */
QM_NODISCARD enum qm_err qm_client_key_safety(struct qm_client *c,
                                              int64_t account_id,
                                              const char *address,
                                              struct qm_client_safety *out,
                                              struct qm_error *err);
/*
 * The user compared the safety number with the contact: when number (as
 * typed: spaces ignored) is the pair's, the contact's key becomes VERIFIED
 * and the only one in use. A CHANGED key is accepted only with
 * accept_changed (QM_ERR_STATE otherwise, nothing changes); QM_ERR_AUTH
 * when the numbers differ.
 */
QM_NODISCARD enum qm_err
qm_client_key_safety_verify(struct qm_client *c, int64_t account_id,
                            const char *address, const char *number,
                            int accept_changed, struct qm_error *err);
/* The account's own fingerprint text (QM_STORE_FPRMAX bytes). */
QM_NODISCARD enum qm_err qm_client_key_own_fpr(struct qm_client *c,
                                               int64_t account_id, char *fpr,
                                               struct qm_error *err);
/*
 * Every key the keyring holds for contact address (all trust states),
 * newest first: *out is a malloc'd array (NULL when *n is 0); free it with
 * qm_client_keys_free. A key whose record was changed on disk outside
 * QMail reads as QM_TRUST_CHANGED with label QM_LABEL_ALTERED.
 */
QM_NODISCARD enum qm_err qm_client_key_list(struct qm_client *c,
                                            const char *address,
                                            struct qm_store_key **out,
                                            size_t *n, struct qm_error *err);
void qm_client_keys_free(struct qm_store_key **keys, size_t n);

/* -------------------------------------------------------------- contacts */

/*
 * The user enters (or changes) contact ct->address of account_id: its
 * name, SAE ID and minimum level. A contact the user enters is theirs and
 * confirmed (ct->source and ct->confirmed are not read); written afresh,
 * its security record is sound again. Needs the vault unlocked (the
 * record carries a MAC under the vault key). QM_ERR_NOTFOUND for an
 * unknown account, QM_ERR_INVAL for a bad minimum level.
 */
QM_NODISCARD enum qm_err
qm_client_contact_put(struct qm_client *c, int64_t account_id,
                      const struct qm_store_contact *ct, struct qm_error *err);
/* Contact address of account_id into *out; QM_ERR_NOTFOUND when none. */
QM_NODISCARD enum qm_err qm_client_contact_get(struct qm_client *c,
                                               int64_t account_id,
                                               const char *address,
                                               struct qm_store_contact *out,
                                               struct qm_error *err);
/* The user confirms the SAE ID of contact address that was learned from a
 * message: levels 1 and 2 use it from now on. */
QM_NODISCARD enum qm_err qm_client_contact_confirm(struct qm_client *c,
                                                   int64_t account_id,
                                                   const char *address,
                                                   struct qm_error *err);
/* Every contact of account_id, by address, in a malloc'd array the
 * caller frees with free(); *n may be 0. */
QM_NODISCARD enum qm_err qm_client_contact_list(struct qm_client *c,
                                                int64_t account_id,
                                                struct qm_store_contact **out,
                                                size_t *n,
                                                struct qm_error *err);

/*
 * The text of an HTML body, for the text/plain part sent beside it: tags
 * dropped, blocks and line breaks as new lines, list items as "* " or
 * "1. ", a quote's lines as "> ", a link as "text <url>" when they differ,
 * the common entities decoded. Appends to out (make it secure).
 */
QM_NODISCARD enum qm_err
qm_client_html_text(const char *html, struct qm_error *err, struct qm_buf *out);
/*
 * The text a person reads for a message that has HTML and no text part
 * (issue 16), from HTML the reader's sanitiser made (no script, style or
 * head content is left in it): paragraphs and headings end with a blank
 * line, <br> and blocks end lines, list items as "- " or "1. ", a quote's
 * lines as "> ", a link as "text <url>" when they differ, a table row as
 * one line with " | " between its cells, runs of blanks as one space
 * (but in pre), entities decoded, at most two blank lines in a row.
 * Appends to out (make it secure); QM_ERR_TOOBIG past its limit.
 */
QM_NODISCARD enum qm_err qm_client_html_read_text(const char *html,
                                                  struct qm_error *err,
                                                  struct qm_buf *out);

/* ------------------------------------------------------------ identities */

/*
 * The identities of account_id (From addresses with a name and a
 * signature): its own address first (always there; its name is the
 * account's display name unless set here), then the others by address;
 * exactly one has is_default. A malloc'd array the caller frees with
 * free(). QM_ERR_NOTFOUND for an unknown account.
 */
QM_NODISCARD enum qm_err qm_client_identity_list(struct qm_client *c,
                                                 int64_t account_id,
                                                 struct qm_store_identity **out,
                                                 size_t *n,
                                                 struct qm_error *err);
/* The identity address (any case) of account_id, or its default when
 * address is NULL or "", into *out. QM_ERR_NOTFOUND when none. */
QM_NODISCARD enum qm_err qm_client_identity_get(struct qm_client *c,
                                                int64_t account_id,
                                                const char *address,
                                                struct qm_store_identity *out,
                                                struct qm_error *err);
/*
 * Adds or changes identity id->address of account_id (a bare address; the
 * account's own address takes a name and a signature too), and makes it
 * the default when id->is_default. QM_ERR_INVAL for an address that is
 * not one bare address, or a name or signature with control characters
 * (a signature may hold line ends) or past its bound.
 */
QM_NODISCARD enum qm_err
qm_client_identity_put(struct qm_client *c, int64_t account_id,
                       const struct qm_store_identity *id,
                       struct qm_error *err);
/* Removes identity address; the account's own address cannot be removed
 * (QM_ERR_INVAL). When it was the default, the own address is again. */
QM_NODISCARD enum qm_err qm_client_identity_delete(struct qm_client *c,
                                                   int64_t account_id,
                                                   const char *address,
                                                   struct qm_error *err);
/* Makes identity address the default of account_id; QM_ERR_NOTFOUND
 * when it is none of its identities. */
QM_NODISCARD enum qm_err qm_client_identity_default(struct qm_client *c,
                                                    int64_t account_id,
                                                    const char *address,
                                                    struct qm_error *err);
/*
 * The identity a reply to a message addressed to the lists to and cc
 * (header values, e.g. a view's to and cc; may be NULL) is sent from: the
 * first identity of account_id that to names, else cc, else the default.
 */
QM_NODISCARD enum qm_err qm_client_identity_for(struct qm_client *c,
                                                int64_t account_id,
                                                const char *to, const char *cc,
                                                struct qm_store_identity *out,
                                                struct qm_error *err);

/* ------------------------------------------------------------------- KME */

struct qm_client_kme {
	char url[QM_STORE_PATHMAX];
	int reachable;
	/* why not reachable; or, reachable without a known peer SAE, what
	 * to do to see a pool */
	char message[QM_ERR_MSGMAX];
	int hint; /* enum qm_client_hint for message, or 0 */
	char peer_sae[QM_STORE_NAMEMAX];
	uint64_t key_size, stored_key_count, max_key_count;
	uint64_t max_key_per_request, max_key_size;
	uint64_t pool_bytes;  /* stored_key_count * key_size / 8 */
	double key_rate_bps;  /* from status_extension, -1 when not told */
	double qber;          /* from status_extension, -1 when not told */
	int alarm;            /* eavesdropping alarm from the link */
	char extension[4096]; /* status_extension JSON as sent */
	/* A peer at a KME with no link to the account's: the keys are
	 * relayed through trusted nodes (qkme's status_extension; 0 and
	 * empty when the KME says nothing of it). */
	int relayed;
	char route[16][QM_STORE_NAMEMAX]; /* KME IDs, the account's first */
	size_t nroute;
	int trusted_nodes; /* KMEs between the two that see the keys */
	char bottleneck_link[2 * QM_STORE_NAMEMAX];
	char route_error[QM_ERR_MSGMAX]; /* no route: why, as the KME says */
};

/*
 * The status of the account's KME towards peer_sae (NULL: the first
 * contact with an SAE ID, else the account's own SAE ID). Fills *out; the
 * call fails only when the account is unknown (a KME that cannot be
 * reached comes back as reachable = 0 with the reason).
 */
QM_NODISCARD enum qm_err qm_client_kme_status(struct qm_client *c,
                                              int64_t account_id,
                                              const char *peer_sae,
                                              struct qm_client_kme *out,
                                              struct qm_error *err);

/*
 * The way keys for contact address take from the account's KME to the
 * contact's (qm_client_kme_status towards the contact's SAE ID): relayed,
 * route, trusted_nodes, or route_error. QM_ERR_NOTFOUND for an address
 * that is no contact or has no SAE ID.
 */
QM_NODISCARD enum qm_err qm_client_kme_route(struct qm_client *c,
                                             int64_t account_id,
                                             const char *address,
                                             struct qm_client_kme *out,
                                             struct qm_error *err);

/* The QKD network as the account's KME sees it (qkme's network view). */
#define QM_CLIENT_NET_MAX 48 /* KMEs or links kept */
struct qm_client_kme_link {
	char a[QM_STORE_NAMEMAX], b[QM_STORE_NAMEMAX]; /* KME IDs */
	int up, alarm;
	double qber, rate_bps;
	uint64_t avail_ab, avail_ba; /* key each end holds for the other */
	char state[128];             /* "up", or why not */
};
struct qm_client_kme_net {
	char kme_id[QM_STORE_NAMEMAX]; /* the account's KME */
	char kmes[QM_CLIENT_NET_MAX][QM_STORE_NAMEMAX];
	size_t nkmes;
	struct qm_client_kme_link links[QM_CLIENT_NET_MAX];
	size_t nlinks;
};
/*
 * The network of the account's KME: every KME and link it knows, each
 * link's health. QM_ERR_UNSUPPORTED when the KME has no network view (not
 * qkme, or an older one); the other errors as qm_client_kme_status's.
 */
QM_NODISCARD enum qm_err qm_client_kme_network(struct qm_client *c,
                                               int64_t account_id,
                                               struct qm_client_kme_net *out,
                                               struct qm_error *err);

/* The level's short name ("one-time pad", ...) and badge ("L1 OTP"). */
const char *qm_client_level_name(int level);
const char *qm_client_level_badge(int level);

/* -------------------------------------------------------- resource limits */

/* The names of the limits (global settings). */
#define QM_LIMIT_MESSAGE_SIZE  "limit.message_size"
#define QM_LIMIT_PARTS         "limit.parts"
#define QM_LIMIT_DEPTH         "limit.depth"
#define QM_LIMIT_HEADERS       "limit.headers"
#define QM_LIMIT_HEADER_LENGTH "limit.header_length"
#define QM_LIMIT_KEY_IDS       "limit.key_ids"
#define QM_LIMIT_JSON_DEPTH    "limit.json_depth"
#define QM_LIMIT_WEB_JSON      "limit.web_json"
#define QM_LIMIT_WEB_MESSAGE   "limit.web_message"
#define QM_LIMIT_WEB_UPLOAD    "limit.web_upload"

/* One limit the user may set: a global setting with a safe default, which
 * may be lowered to min and raised up to ceiling (docs/SECURITY.md). */
struct qm_client_limit {
	const char *name; /* QM_LIMIT_* */
	const char *what; /* one line for people */
	const char *unit; /* "bytes", "parts", "levels", "headers", "key IDs" */
	uint64_t def;
	uint64_t min;
	uint64_t ceiling;
};

/* The number of limits; the i-th (static; NULL past the end); by name
 * (NULL when there is no such limit). */
size_t qm_client_limit_count(void);
const struct qm_client_limit *qm_client_limit_at(size_t i);
const struct qm_client_limit *qm_client_limit_find(const char *name);

/*
 * Reads a value for l from text: a whole number, for sizes optionally with
 * K, M or G (binary: KiB, MiB, GiB). QM_ERR_INVAL, naming the allowed range
 * and the default, when it is not a number or lies outside [min, ceiling].
 */
QM_NODISCARD enum qm_err qm_client_limit_parse(const struct qm_client_limit *l,
                                               const char *text, uint64_t *v,
                                               struct qm_error *err);
/*
 * The value in force of the limit name: the setting, or the default when
 * unset. *is_set (may be NULL) says which. QM_ERR_NOTFOUND for a name that
 * is no limit. Needs no unlocked vault.
 */
QM_NODISCARD enum qm_err qm_client_limit_get(struct qm_client *c,
                                             const char *name, uint64_t *v,
                                             int *is_set, struct qm_error *err);
/*
 * Sets the limit name from text (as qm_client_limit_parse; "default" goes
 * back to the default). Takes effect at the next sync, read or send.
 * QM_ERR_NOTFOUND for an unknown name, QM_ERR_INVAL for a bad value.
 */
QM_NODISCARD enum qm_err qm_client_limit_set(struct qm_client *c,
                                             const char *name,
                                             const char *value,
                                             struct qm_error *err);

/* ---------------------------------------------------------------- threads */

/*
 * Conversations and orders for a list of messages (thread.c): pure
 * computation on what the caller passes, no store, no network, nothing
 * kept between calls (docs/CLIENT.md, "Threads").
 */

/* The most messages one call takes. */
#define QM_THREAD_MSGMAX 1000000u
/* IDs read from the end of one References header; earlier ones are left. */
#define QM_THREAD_REFMAX 32u
/* The longest message ID (between < and >) that is read; longer: garbage. */
#define QM_THREAD_IDMAX 250u
/* Bytes read of one header: the last ones of References, the first ones
 * of Message-ID and In-Reply-To. */
#define QM_THREAD_SCANMAX 65536u
/* Bytes of a subject or a sender compared. */
#define QM_THREAD_TEXTMAX 1024u
/* "No such node / message" in a result. */
#define QM_THREAD_NONE SIZE_MAX

/*
 * What threading and sorting read of one message; all borrowed, a string
 * may be NULL or "". The three ID headers are their raw values as
 * received (folded or not, with comments); subject and from as shown
 * (RFC 2047 decoded).
 */
struct qm_client_msg_head {
	int64_t id; /* the caller's own, opaque: handed back in the result */
	const char *message_id;
	const char *in_reply_to;
	const char *references;
	const char *subject;
	const char *from; /* "Name <a@b>" or "a@b" */
	int64_t date;     /* Unix seconds; 0 when unknown */
	int64_t size;     /* bytes */
	int unread;       /* not \Seen */
};

/* One place in a thread. */
struct qm_client_thread_node {
	/* index in the messages given, or QM_THREAD_NONE for a dummy: a
	 * message that is not in the list but that several others answer
	 * (only ever a root with two or more children) */
	size_t msg;
	int64_t id;    /* that message's id; 0 for a dummy */
	size_t parent; /* index in nodes; QM_THREAD_NONE for a root */
	size_t child;  /* first (oldest) reply, QM_THREAD_NONE when none */
	size_t next;   /* next (younger) sibling, QM_THREAD_NONE when none */
	size_t nchild;
	size_t depth; /* 0 for a root */
};

/* One conversation: nodes[root .. root + nnodes), each message before its
 * replies and replies oldest first (a depth-first walk). */
struct qm_client_thread {
	size_t root;
	size_t nnodes;
	size_t count;      /* messages (a dummy is none) */
	size_t unread;     /* of those, unread */
	int64_t newest;    /* the date of its newest message */
	size_t newest_msg; /* which (index in the messages given) */
	/* the message that names the thread: the root, or a dummy root's
	 * oldest reply */
	size_t first_msg;
	int64_t size; /* of all its messages, bytes */
};

struct qm_client_threads {
	struct qm_client_thread_node *nodes;
	size_t nnodes;
	struct qm_client_thread *threads; /* newest conversation first */
	size_t nthreads;
	size_t nmsgs; /* the number of messages it was built from */
};

/*
 * Threads the n messages in (JWZ threading; docs/CLIENT.md, "Threads"):
 * a message goes under the last ID of its References (In-Reply-To's
 * first ID is added when References lacks it), absent parents become
 * dummies that are pruned as JWZ prunes them, loops are cut, and roots
 * that claim by their subject (Re:, Fwd:, ...) to answer another root
 * with the same base subject go under it. Every message appears exactly
 * once. Pass the messages in the order they arrived: when two carry the
 * same Message-ID, the first one given keeps it (both are threaded). A
 * message's own headers alone decide its parent: no other message can
 * move it. Time is O(n log n) and memory O(n) (at most
 * QM_THREAD_REFMAX + 2 containers per message), whatever the headers
 * hold: each is parsed no further than QM_THREAD_SCANMAX bytes. *out
 * (free with qm_client_threads_free) is set on success; QM_ERR_INVAL
 * without in or out, QM_ERR_TOOBIG past QM_THREAD_MSGMAX messages,
 * QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err
qm_client_thread_build(const struct qm_client_msg_head *in, size_t n,
                       struct qm_client_threads **out, struct qm_error *err);
void qm_client_threads_free(struct qm_client_threads **t);

/*
 * The heads of the messages of a list (qm_client_msg_list, newest first)
 * for qm_client_thread_build and the sorts, oldest first (the order they
 * arrived in: the first message with a Message-ID keeps it): subject,
 * sender, date, size, unread and Message-ID from the index, borrowed from
 * l (keep l until the heads are freed); In-Reply-To and References read
 * from each message's plaintext in the vault (a QMail message's inner,
 * authenticated header; "" for a message without plaintext), owned. Needs
 * the vault unlocked. Free with qm_client_heads_free.
 */
struct qm_client_heads {
	struct qm_client_msg_head *v;
	size_t n;
};
QM_NODISCARD enum qm_err qm_client_msg_heads(struct qm_client *c,
                                             const struct qm_store_msglist *l,
                                             struct qm_client_heads **out,
                                             struct qm_error *err);
void qm_client_heads_free(struct qm_client_heads **h);

/* What a list is sorted by. */
enum qm_client_sort_key {
	QM_SORT_DATE = 0,
	QM_SORT_FROM,    /* the display name, else the address; no case */
	QM_SORT_SUBJECT, /* the base subject (no Re:, Fwd:, [list]); no case */
	QM_SORT_SIZE,
};

struct qm_client_sort {
	enum qm_client_sort_key key;
	int descending;   /* newest, Z to A, largest first */
	int unread_first; /* unread ones (threads: with one) before the rest */
};

/*
 * Sorts the n messages in: order (n entries, the caller's) gets their
 * indices in the order how asks for. Ties go newest first, then in the
 * order given. QM_ERR_TOOBIG past QM_THREAD_MSGMAX messages, QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err
qm_client_msgs_sort(const struct qm_client_msg_head *in, size_t n,
                    const struct qm_client_sort *how, size_t *order,
                    struct qm_error *err);
/*
 * Reorders t->threads (the nodes stay) by how: date is a thread's newest
 * message, size the sum of its messages, from and subject those of its
 * first_msg. in and n are the messages t was built from (QM_ERR_INVAL
 * when n differs). Ties go newest first. QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err
qm_client_threads_sort(struct qm_client_threads *t,
                       const struct qm_client_msg_head *in, size_t n,
                       const struct qm_client_sort *how, struct qm_error *err);

/*
 * The base subject of s (NULL: ""): without leading "Re:", "Fwd:", "Fw:",
 * "AW:", "SV:", "VS:", "WG:", "Antw:", "Odp:", "TR:", "RV:" (any case,
 * "Re[2]:" too), "[list]" tags and a trailing "(fwd)", and without the
 * white space around; at most QM_THREAD_TEXTMAX bytes of s are read.
 * Returns a pointer into s, its length in *len; *reply (may be NULL) is 1
 * when a reply or forward prefix was taken off.
 */
const char *qm_client_subject_base(const char *s, size_t *len, int *reply);

/* ------------------------------------------- contacts as vCard (vcard.c) */

#define QM_CLIENT_VCARD_MAX    (16u << 20) /* largest vCard file read */
#define QM_CLIENT_VCARD_CARDS  100000u     /* most cards in one file */
#define QM_CLIENT_VCARD_EMAILS 32          /* most addresses in one card */
#define QM_CLIENT_VCARD_WHY    16          /* skip reasons kept */

/* One card of a vCard file, as read: its display name (FN, else built
 * from N; "" when neither) and its e-mail addresses. */
struct qm_client_vcard {
	size_t number; /* 1 for the file's first card */
	char name[QM_STORE_NAMEMAX];
	char emails[QM_CLIENT_VCARD_EMAILS][QM_STORE_ADDRMAX];
	size_t n_emails;
	/* EMAIL values that are no address a contact can have */
	char bad[QM_CLIENT_VCARD_EMAILS][QM_STORE_ADDRMAX];
	size_t n_bad;
	/* NULL, or why the card cannot be read (a static sentence): vCard
	 * 2.1 quoted-printable or another charset, not UTF-8, a field past
	 * its maximum, no END:VCARD */
	const char *refused;
};

/* Called for each card in file order; a non-zero return stops the
 * reading and is returned. */
QM_NODISCARD typedef enum qm_err (*qm_client_vcard_fn)(
    void *arg, const struct qm_client_vcard *card);

/*
 * Reads a vCard file (3.0 or 4.0; folded lines, groups, parameters and
 * escapes as RFC 6350 and RFC 2426 write them) of len bytes and calls fn
 * for each card. Only FN, N and EMAIL are read; a card with a problem is
 * passed with its reason in refused. QM_ERR_TOOBIG past
 * QM_CLIENT_VCARD_MAX bytes or QM_CLIENT_VCARD_CARDS cards, QM_ERR_PARSE
 * when no card starts, QM_ERR_NOMEM, or what fn returned.
 */
QM_NODISCARD enum qm_err qm_client_vcard_parse(const char *data, size_t len,
                                               qm_client_vcard_fn fn, void *arg,
                                               struct qm_error *err);
/* Appends card as vCard 4.0 (FN, one EMAIL per address; escaped, folded
 * at 75 octets, CRLF) to out. QM_ERR_INVAL without an address, or what
 * the buffer refuses (QM_ERR_TOOBIG past its maximum). */
QM_NODISCARD enum qm_err
qm_client_vcard_write(const struct qm_client_vcard *card, struct qm_buf *out,
                      struct qm_error *err);

/* What an import did, counted per address (a card may carry several). */
struct qm_client_vcard_stats {
	size_t cards;     /* cards read */
	size_t added;     /* new contacts */
	size_t updated;   /* existing contacts whose name was set */
	size_t unchanged; /* existing contacts, nothing to change */
	size_t skipped;   /* cards or addresses not imported */
	size_t n_why;     /* the first skipped ones, each with its reason */
	char why[QM_CLIENT_VCARD_WHY][400];
};

/*
 * Imports the vCard file data (len bytes) into the contacts of
 * account_id: each address becomes a contact with the card's name; a
 * contact that exists gets the card's name and nothing else (its SAE ID,
 * confirmation and minimum level stay, and the keyring is never
 * touched); a contact whose SAE ID was learned and not confirmed, or
 * that was changed on disk, is skipped with its reason. Needs the vault
 * unlocked (QM_ERR_LOCKED). *st is filled, also when an error stops the
 * import part way (what was imported stays); errors as
 * qm_client_vcard_parse, and the store's.
 */
QM_NODISCARD enum qm_err qm_client_contacts_import_vcard(
    struct qm_client *c, int64_t account_id, const char *data, size_t len,
    struct qm_client_vcard_stats *st, struct qm_error *err);
/*
 * Appends every contact of account_id to out as vCard 4.0 (one card per
 * contact: FN, its name or else its address, and EMAIL); *n gets the
 * number of cards. Errors: the store's, QM_ERR_TOOBIG from out.
 */
QM_NODISCARD enum qm_err qm_client_contacts_export_vcard(struct qm_client *c,
                                                         int64_t account_id,
                                                         struct qm_buf *out,
                                                         size_t *n,
                                                         struct qm_error *err);

/* ------------------------------- recipient suggestions (suggest.c) */

#define QM_CLIENT_SUGGEST_MAX        50   /* most suggestions given */
#define QM_CLIENT_SUGGEST_SCAN       5000 /* newest messages looked at */
#define QM_CLIENT_SUGGEST_CANDIDATES 4096 /* most addresses weighed */

/* One address to suggest for a recipient being typed. */
struct qm_client_suggestion {
	char name[QM_STORE_NAMEMAX];    /* the contact's, else the newest
	                                   display name seen; may be "" */
	char address[QM_STORE_ADDRMAX]; /* bare */
	int contact;                    /* 1: one of the account's contacts */
	size_t messages; /* messages with them among those looked at */
	int64_t last;    /* the newest of them (Unix seconds), 0: none */
};

/*
 * Addresses for the recipient the user is typing (typed: the start of an
 * address or of a word of a name, or any part of an address; white space
 * around and a leading '"' or '<' ignored): the contacts of account_id
 * and the people it corresponded with among the newest
 * QM_CLIENT_SUGGEST_SCAN messages of the index (the sender of mail it
 * received, the To addresses of mail it sent; not its own address),
 * contacts first, then by how often and how lately (mail sent to them
 * counting twice), one entry per address whatever its case, at most max
 * (0 or past QM_CLIENT_SUGGEST_MAX: QM_CLIENT_SUGGEST_MAX). *out is
 * malloc'd (free()), *n its count (may be 0). QM_ERR_INVAL for an empty
 * or too long typed, the store's errors.
 */
QM_NODISCARD enum qm_err qm_client_suggest(struct qm_client *c,
                                           int64_t account_id,
                                           const char *typed, size_t max,
                                           struct qm_client_suggestion **out,
                                           size_t *n, struct qm_error *err);

/* --------------------------------------------------- import (import.c) */

#define QM_CLIENT_IMPORT_FOLDER "Imported" /* the folder when none given */

enum qm_client_import_fmt {
	QM_CLIENT_IMPORT_MBOX = 1,   /* one file: mboxrd or mboxo */
	QM_CLIENT_IMPORT_MAILDIR = 2 /* a folder with cur/ and new/ */
};
/* What an import did. */
struct qm_client_import_stats {
	size_t added;      /* messages filed */
	size_t duplicates; /* the account has their Message-ID already */
	size_t skipped;    /* empty, not mail, past a limit, or Maildir T */
	char first_skip[QM_ERR_MSGMAX]; /* why the first was skipped */
};

/*
 * Files the messages of path (an mbox file, "From " lines, ">From "
 * unescaped as mboxrd does; or a Maildir, cur/ and new/, flags from the
 * ":2,FRS" info of each file name, a T message skipped) into the local
 * folder named folder (NULL: QM_CLIENT_IMPORT_FOLDER) of account_id, made
 * when missing; a folder of the mail server of that name is refused
 * (QM_ERR_EXISTS). Each message is plain mail whatever its headers claim:
 * QM_VERIFY_NOT_QMAIL, level 0, no security record; nothing in it is
 * learned (no key, no contact). A message whose Message-ID (or, when it
 * has none, a digest of its bytes) the account has already is counted as
 * a duplicate and skipped. progress (may be NULL) gets bytes (mbox) or
 * files (Maildir) done. Needs the vault unlocked (QM_ERR_LOCKED). *st is
 * filled, also on an error part way (what was filed before the last
 * batch stays). QM_ERR_PARSE for a file that is no mbox or a folder that
 * is no Maildir, QM_ERR_IO, the store's errors.
 */
QM_NODISCARD enum qm_err
qm_client_import(struct qm_client *c, int64_t account_id, const char *folder,
                 enum qm_client_import_fmt fmt, const char *path,
                 qm_client_progress_fn progress, void *parg,
                 struct qm_client_import_stats *st, struct qm_error *err);
/*
 * qm_client_export as mbox into out (a secure buffer) instead of a file,
 * for a download: QM_ERR_TOOBIG once the mbox passes max bytes (or out's
 * own maximum). *st as qm_client_export.
 */
QM_NODISCARD enum qm_err
qm_client_export_mbox_mem(struct qm_client *c, const struct qm_store_query *q,
                          size_t max, struct qm_buf *out,
                          struct qm_client_export_stats *st,
                          struct qm_error *err);
/* The same for an mbox held in memory (data, len bytes: an upload). */
QM_NODISCARD enum qm_err qm_client_import_mbox_mem(
    struct qm_client *c, int64_t account_id, const char *folder,
    const void *data, size_t len, qm_client_progress_fn progress, void *parg,
    struct qm_client_import_stats *st, struct qm_error *err);

/* ------------------------------------------------------------------ Chat */

/*
 * Chat (issue 20, docs/CHAT.md): a second interface on the same engine.
 * A chat message is an ordinary QMail message marked inside its envelope
 * (Chat-Version, Chat-Group-ID), sent through qm_client_send and the
 * outbox, received by the sync; conversations are records of the store
 * (struct qm_store_chat, struct qm_store_chat_msg in types.h).
 */

/* A chat message to send; all borrowed. */
struct qm_client_chat_out {
	int64_t account_id;
	/* the other participants: one address (one-to-one) or more (a
	 * group, keyed by exactly these members); as a person types them */
	const char *const *to;
	size_t nto;
	const char *text; /* UTF-8; not empty unless natt > 0 */
	/* 1..4; 0: the conversation's level (a new conversation: the level
	 * a message is sent at by default, qm_client_level_prefs) */
	int level;
	/* Not 0: the conversation with this id (its members as they are
	 * now; to and nto are ignored): how a group is written to after its
	 * members changed (docs/CHAT.md "Groups"). */
	int64_t chat_id;
	/* files sent with the text (docs/CHAT.md "Attachments"), as
	 * qm_client_compose.att: bounded as any message (QM_CLIENT_MAXMSG) */
	const struct qm_client_attachment *att;
	size_t natt;
};

/* What qm_client_chat_send did. */
struct qm_client_chat_sent {
	int64_t chat_id;
	int level;
	int64_t outbox_id;
	char message_id[QM_STORE_NAMEMAX * 2];
	int sent; /* the SMTP server took it now; 0: it waits in the outbox */
	/* levels 3, 4: the recipients whose public key is not verified, in a
	 * sentence, or "" (as qm_client_sent.warning) */
	char warning[QM_ERR_MSGMAX];
};

/*
 * Sends text to the conversation with m->to (made when new: one-to-one
 * for one address, else a group with a new Chat-Group-ID) through
 * qm_client_send: the outbox first, then the network, at the
 * conversation's level or a stronger one. A weaker level than the
 * conversation's (a higher number) is refused with QM_ERR_STATE, and a
 * conversation whose level was changed on disk with QM_ERR_AUTH, before
 * anything is queued. Every check of qm_client_send applies (floors,
 * SAE IDs, public keys). When the message entered the outbox but could not
 * go now (the KME or the SMTP server failed), it is in the conversation
 * all the same (its delivery state is its outbox entry's: "retrying", or
 * "failed" for a failure that waiting will not mend), out->chat_id and
 * out->outbox_id are set, out->sent is 0, and the call returns
 * qm_client_send's error ("the message waits in the outbox: ...").
 */
QM_NODISCARD enum qm_err qm_client_chat_send(struct qm_client *c,
                                             const struct qm_client_chat_out *m,
                                             struct qm_client_chat_sent *out,
                                             struct qm_error *err);

/*
 * The name of the folder on the server that chat messages are moved to
 * (docs/CHAT.md "Filing: the Chats folder"): an interface shows its
 * messages as conversations, not among the mail folders.
 */
const char *qm_client_chat_folder(void);

/*
 * The conversations of account_id (0: every account), newest message
 * first, each with its message count and unread count (free() *out).
 * Members and key are the store's (not display-safe: outside input).
 */
QM_NODISCARD enum qm_err qm_client_chat_list(struct qm_client *c,
                                             int64_t account_id,
                                             struct qm_store_chat **out,
                                             size_t *n, struct qm_error *err);

/*
 * The conversation of account_id with exactly the participants to (as
 * typed; the account's own address left out): the one-to-one
 * conversation for one address, else the group with these members.
 * QM_ERR_NOTFOUND when there is none.
 */
QM_NODISCARD enum qm_err qm_client_chat_find(struct qm_client *c,
                                             int64_t account_id,
                                             const char *const *to, size_t nto,
                                             struct qm_store_chat *out,
                                             struct qm_error *err);

/* One message of a conversation as an interface shows it. */
struct qm_client_chat_item {
	int64_t id;
	int64_t at;   /* Unix seconds */
	char *sender; /* bare address (outside input: make display-safe) */
	char *text;   /* the text; "" when its sealed copy does not open */
	int level;    /* the level it was sent at */
	int mine;     /* sent from this home */
	int seen;     /* received: read */
	/* sent: the outbox entry's state ("pending", "queued", "sent",
	 * "retrying", "failed", ...), "" for a received message */
	char state[16];
	/* QM_CHAT_TEXT: a message; QM_CHAT_MEMBER_ADDED or _REMOVED: a
	 * membership change (a system line: sender added or removed text,
	 * the member's bare address) */
	int kind;
	/* sent: when a member's read receipt named it (0: not known read;
	 * docs/CHAT.md "Read receipts") */
	int64_t read_at;
	/* its attachments (numbered from 0 as qm_client_chat_att takes
	 * them): display-safe name, the type (an image's is the type its
	 * bytes show: image/png, image/jpeg, image/gif, image/webp; else the
	 * declared one, display-safe) and the size in bytes */
	struct qm_client_chat_file *files;
	size_t nfiles;
};

struct qm_client_chat_file {
	char *name;
	char *type;
	uint64_t size;
	int image; /* 1: one of the four image types, shown inline */
};

/*
 * Conversation chat_id's messages, oldest first (free with
 * qm_client_chat_items_free). QM_ERR_NOTFOUND for no such conversation.
 */
QM_NODISCARD enum qm_err
qm_client_chat_messages(struct qm_client *c, int64_t chat_id,
                        struct qm_client_chat_item **out, size_t *n,
                        struct qm_error *err);
void qm_client_chat_items_free(struct qm_client_chat_item **v, size_t n);

/*
 * Marks conversation chat_id read: its received messages read here and
 * their message records \Seen (written to the server at the next sync).
 * *n_marked (may be NULL) gets how many were unread. When the user opted
 * in to read receipts in it (qm_client_chat_receipts_set), one read
 * receipt naming those messages is sent to its members (a chat message
 * at the conversation's level, never shown as one); a receipt that
 * cannot go is dropped (the read state here is what counts).
 */
QM_NODISCARD enum qm_err qm_client_chat_read(struct qm_client *c,
                                             int64_t chat_id, size_t *n_marked,
                                             struct qm_error *err);

/*
 * The user changes conversation chat_id's level (1..4), stronger or
 * weaker; also what sets it again after it was changed on disk.
 */
QM_NODISCARD enum qm_err qm_client_chat_level_set(struct qm_client *c,
                                                  int64_t chat_id, int level,
                                                  struct qm_error *err);

/*
 * Attachment n (from 0) of chat message item_id (a qm_client_chat_item's
 * id) into *out (free with qm_client_chat_att_free;
 * data whole, bounded by the mail limits): read from the message record
 * it came as (received, or this home's own copy found on the server),
 * else, for a message sent from here, from its outbox entry's sealed
 * plaintext. Only what qm_client_read shows content of: a message that
 * failed a check has none (QM_ERR_NOTFOUND, as for no attachment n).
 * Name and type display-safe. *image gets the image type its first bytes
 * show ("image/png", "image/jpeg", "image/gif", "image/webp") or "" (not
 * one of these: never shown inline, an SVG included).
 */
QM_NODISCARD enum qm_err qm_client_chat_att(struct qm_client *c,
                                            int64_t item_id, size_t n,
                                            struct qm_client_att **out,
                                            const char **image,
                                            struct qm_error *err);
void qm_client_chat_att_free(struct qm_client_att **a);
/* The image type the bytes p, n show (png, jpeg, gif, webp by their
 * magic numbers) or "" for anything else. */
const char *qm_client_chat_image_type(const void *p, size_t n);

/*
 * The user's opt-in to send read receipts in conversation chat_id
 * (docs/CHAT.md "Read receipts"; off when a conversation is made). When
 * on, qm_client_chat_read sends the members one receipt naming the
 * messages it marked read. Only the receiver's choice: a conversation
 * never opted in never sends one.
 */
QM_NODISCARD enum qm_err qm_client_chat_receipts_set(struct qm_client *c,
                                                     int64_t chat_id, int on,
                                                     struct qm_error *err);

/*
 * Files account_id's chat messages received since the last call: each
 * opened and verified QMail message whose authenticated inner message has
 * Chat-Version goes into its conversation (once per Message-ID) and is
 * moved on the server to the folder Chats (made when missing); a chat
 * message sent from this home joins its record when its Sent copy is
 * found, and the copy is moved too. A message that failed any check, or
 * from an unverified sender, is never chat. Moves that fail now are tried
 * at the next call. *filed (may be NULL) gets the messages filed into
 * conversations. qm_client_sync_all calls it after each account's sync.
 */
QM_NODISCARD enum qm_err qm_client_chat_file(struct qm_client *c,
                                             int64_t account_id, size_t *filed,
                                             struct qm_error *err);

/* Conversation chat_id (QM_ERR_NOTFOUND for none). */
QM_NODISCARD enum qm_err qm_client_chat_get(struct qm_client *c,
                                            int64_t chat_id,
                                            struct qm_store_chat *out,
                                            struct qm_error *err);

/*
 * Group membership (docs/CHAT.md "Groups"): a change is itself a chat
 * message of the group, sealed at the group's level and sent through the
 * outbox with the protected header Chat-Group-Member-Added or
 * Chat-Group-Member-Removed naming addr (one address). An addition goes
 * to the members with the new one (who makes the group from it); a
 * removal to the members left and to the removed one (who learns it and
 * sends no more in the group). Once the change is in the outbox the
 * conversation's members are the new ones (later messages go to them
 * only) and the change is a line of the conversation (kind
 * QM_CHAT_MEMBER_ADDED or _REMOVED). Removing the account's own address
 * leaves the group. Receivers apply a change only from a verified message
 * of a current member (invariant 38). QM_ERR_INVAL: not a group, or not
 * one address; QM_ERR_EXISTS: already a member; QM_ERR_NOTFOUND: not a
 * member; QM_ERR_STATE: the account is no member any more; QM_ERR_AUTH:
 * the conversation was changed on disk. out as qm_client_chat_send's
 * (out->chat_id set once the change is kept).
 */
QM_NODISCARD enum qm_err
qm_client_chat_member_add(struct qm_client *c, int64_t chat_id,
                          const char *addr, struct qm_client_chat_sent *out,
                          struct qm_error *err);
QM_NODISCARD enum qm_err
qm_client_chat_member_remove(struct qm_client *c, int64_t chat_id,
                             const char *addr, struct qm_client_chat_sent *out,
                             struct qm_error *err);

#endif /* QM_CLIENT_H */
