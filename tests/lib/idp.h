/* SPDX-License-Identifier: MIT */
/*
 * The OAuth2 / OpenID Connect authorization server of the tests: Node
 * running tests/oauth/idp.mjs (the npm package oidc-provider, pinned in
 * package.json) over HTTPS on a free loopback port, with a throw-away CA
 * of its own, users alice, bob and carol (tests/lib/mailserver.h's
 * passwords; the token's subject and "email" are the address,
 * alice@qmail.test) and three clients: the public native "qmail-test"
 * (PKCE S256, loopback redirect on any port), the confidential
 * "qmail-secret" and "dovecot" (introspection). Scopes: openid email
 * offline_access mail. The sign-in and consent pages check the password;
 * the robot (tests/oauth/robot.mjs) plays the user's browser. For a real
 * browser: the sign-in page's form#login has input[name=login] (alice or
 * alice@qmail.test), input[name=password] and a "Sign in" button; the
 * consent page's form#consent an "Allow" button and form#abort a "Deny"
 * one (the sign-in page a "Cancel"). Stopped by
 * qmt_idp_stop and by the harness's exit and signal hooks. Test code only;
 * docs/MAIL.md, "OAuth2", says more.
 */
#ifndef QMT_IDP_H
#define QMT_IDP_H

#include <stddef.h>
#include <sys/types.h>

#define QMT_IDP_CLIENT         "qmail-test" /* public, native */
#define QMT_IDP_SECRET_CLIENT  "qmail-secret"
#define QMT_IDP_SECRET         "qmail-secret-Sx-20917" /* client_secret_post */
#define QMT_IDP_DOVECOT        "dovecot" /* confidential: introspection */
#define QMT_IDP_DOVECOT_SECRET "dovecot-Sx-55102" /* client_secret_basic */
/* the endpoints' paths under the issuer https://127.0.0.1:PORT */
#define QMT_IDP_INTROSPECT_PATH "/token/introspection"
#define QMT_IDP_DISCOVERY_PATH  "/.well-known/openid-configuration"
#define QMT_IDP_SCOPE          "openid email offline_access mail"
/* redirect URIs registered for both QMail clients; the port is free
 * (RFC 8252 7.3), the path must be one of "/", "/callback",
 * "/oauth2/callback" on 127.0.0.1, "/" and "/callback" on localhost, "/"
 * on [::1]. */

struct qmt_idp_opts {
	int access_ttl;   /* access token lifetime in seconds; 0: 60 */
	int keep_refresh; /* 1: a refresh returns no new refresh token (as
	                   * Google); 0: rotated at every refresh (as
	                   * Microsoft; a reused old one revokes the grant) */
	/* 0: a free port; else this one (from qmt_free_port, so that
	 * Dovecot's config can name the server before it starts) */
	int port;
	/* NULL: a CA of its own (idp->ca_file); else the server's
	 * certificate is signed by this CA (struct qmt_mail's ca_file and
	 * ca_key_file): one CA for every test server */
	const char *ca_cert_file;
	const char *ca_key_file;
};

struct qmt_idp {
	char dir[256];      /* temporary folder: CA, certificate, logs */
	char ca_file[320];  /* the CA that signed the server's certificate */
	/* the clients' ids and secrets: QMT_IDP_* above */
	char issuer[64];    /* "https://127.0.0.1:PORT" */
	char auth_url[128]; /* authorization endpoint */
	char token_url[128];
	char device_url[128];     /* device authorization (RFC 8628) */
	char revoke_url[128];     /* RFC 7009 */
	char introspect_url[128]; /* RFC 7662 (client "dovecot") */
	char userinfo_url[128];
	char discovery_url[160]; /* .well-known/openid-configuration */
	int port;
	int access_ttl;
	pid_t pid;
};

/*
 * Starts the server with opts (NULL: defaults). Returns 0 when it answers,
 * 1 when this machine cannot run it (no node, or oidc-provider not
 * installed: run scripts/install-deps.sh; the test should skip), -1 on
 * failure (the reason and the server's log go to stderr).
 */
int qmt_idp_start(struct qmt_idp *idp, const struct qmt_idp_opts *opts);
/* Stops it and removes its folder (kept when QMT_KEEP is set). */
void qmt_idp_stop(struct qmt_idp *idp);

struct qmt_mail;
/*
 * Starts the server (opts: NULL for defaults) and the mail servers m
 * (tests/lib/mailserver.h; zeroed, or with the caller's layout set) with
 * Dovecot checking its tokens: introspection as QMT_IDP_DOVECOT, scope
 * "mail", the server's discovery document for RFC 7628 error replies.
 * one_ca 1: one CA for all, the mail servers' (they start first, told the
 * port the server will listen on, and the server's certificate is signed
 * by their CA); 0: the server keeps a CA of its own (it starts first and
 * Dovecot is told its CA), so that a client must use the right CA for
 * each. Returns as qmt_idp_start and qmt_mail_start do (1: the test
 * should skip); on anything but 0 both are stopped.
 */
int qmt_idp_mail_start(struct qmt_idp *idp, const struct qmt_idp_opts *opts,
                       struct qmt_mail *m, int one_ca);
/* Stops both (safe after any return of qmt_idp_mail_start). */
void qmt_idp_mail_stop(struct qmt_idp *idp, struct qmt_mail *m);

/*
 * The user's browser (robot.mjs): opens auth_url, signs in as user
 * ("alice", "bob", "carol") with the right password, presses Allow (deny
 * 0) or Deny (deny 1), and follows the redirect to the client's loopback
 * listener, which must be waiting (another thread). Blocking. Returns 0
 * when every step went as asked, -1 otherwise (the robot's log on stderr).
 */
int qmt_idp_browser(const struct qmt_idp *idp, const char *auth_url,
                    const char *user, int deny);
/* The same with a wrong password: 0 when the sign-in page refused it. */
int qmt_idp_browser_badpass(const struct qmt_idp *idp, const char *auth_url,
                            const char *user);
/* The user's side of the device grant: opens verification_uri, types
 * user_code, confirms (or aborts, deny 1), signs in as user and allows.
 * Returns 0 or -1 as above. */
int qmt_idp_device(const struct qmt_idp *idp, const char *verification_uri,
                   const char *user_code, const char *user, int deny);

/*
 * How many token requests of grant_type succeeded so far
 * ("authorization_code", "refresh_token", "device_code" or the full
 * urn:ietf:params:oauth:grant-type:device_code); with failed set, how many
 * failed (any error: invalid_grant for a revoked refresh token, also
 * authorization_pending while a device polls). -1 when it cannot tell.
 */
long qmt_idp_grants(const struct qmt_idp *idp, const char *grant_type,
                    int failed);

/*
 * Revokes token (access or refresh) at the RFC 7009 endpoint as the
 * client it was issued to; revoking a refresh token revokes its whole
 * grant (the access tokens too). Returns 0 when introspection then says
 * the token is inactive, -1 otherwise.
 */
int qmt_idp_revoke(const struct qmt_idp *idp, const char *token);
/*
 * The user withdraws every client's access, as on a provider's account
 * page (test-only endpoint /test/revoke): each of user's grants is gone
 * with its refresh and access tokens, so the next refresh answers
 * invalid_grant. For tests that cannot see the tokens (QMail keeps them
 * sealed). Returns how many grants went, or -1.
 */
long qmt_idp_revoke_user(const struct qmt_idp *idp, const char *user);
/* RFC 7662 as Dovecot asks: 1 active (the subject into sub, may be NULL),
 * 0 inactive, -1 on failure. */
int qmt_idp_introspect(const struct qmt_idp *idp, const char *token, char *sub,
                       size_t subn);

/* ---------------------------- a client of its own, for server-side tests */

struct qmt_idp_tokens {
	char access[256];
	char refresh[256]; /* "" when none was issued */
	long expires_in;
	char scope[128];
};

/*
 * The whole code flow as a client does it, without QMail: a loopback
 * listener, PKCE S256, the robot as user (password right), the code
 * exchanged for tokens. client is QMT_IDP_CLIENT or QMT_IDP_SECRET_CLIENT;
 * scope NULL: QMT_IDP_SCOPE. Returns 0 or -1 (reason on stderr).
 */
int qmt_idp_sign_in(const struct qmt_idp *idp, const char *client,
                    const char *user, const char *scope,
                    struct qmt_idp_tokens *out);
/* The refresh grant: new tokens into out (refresh "" when not rotated).
 * Returns 0, 1 when the server refused the refresh token (invalid_grant),
 * -1 on failure. */
int qmt_idp_refresh(const struct qmt_idp *idp, const char *client,
                    const char *refresh_token, struct qmt_idp_tokens *out);
/* The code flow with user pressing Deny at the consent page: 0 when the
 * redirect to the listener said error=access_denied and brought no code,
 * -1 otherwise. */
int qmt_idp_sign_in_denied(const struct qmt_idp *idp, const char *client,
                           const char *user);

/* The device grant (RFC 8628) as a client: the device authorization
 * request (scope NULL: QMT_IDP_SCOPE). 0 or -1. */
struct qmt_idp_device_auth {
	char device_code[128];
	char user_code[32];         /* "ABCD-EFGH" */
	char verification_uri[160]; /* the page where the user types it */
	long interval;              /* seconds between polls */
};
int qmt_idp_device_begin(const struct qmt_idp *idp, const char *client,
                         const char *scope, struct qmt_idp_device_auth *d);
/* One poll of the token endpoint: 0 with tokens in out, 2 while the user
 * has not answered (authorization_pending, slow_down), 1 when refused
 * (access_denied, expired_token), -1 on failure. */
int qmt_idp_device_poll(const struct qmt_idp *idp, const char *client,
                        const char *device_code, struct qmt_idp_tokens *out);

#endif
