/* SPDX-License-Identifier: MIT */
/*
 * cli: the qmail command line. main.c dispatches to one function per
 * subcommand; this header is what those files share. Only this layer (and
 * web/) decides what a person sees: messages on stderr, results on stdout,
 * documented exit codes.
 */
#ifndef QM_CLI_H
#define QM_CLI_H

#include <stdio.h>

#include "client/client.h"
#include "core/core.h"

/* Exit codes (documented in `qmail --help` and docs/CLI.md). */
enum {
	QM_EXIT_OK = 0,
	QM_EXIT_ERROR = 1,    /* anything else */
	QM_EXIT_USAGE = 2,    /* bad command line */
	QM_EXIT_DENIED = 3,   /* wrong passphrase, locked, refused login */
	QM_EXIT_NET = 4,      /* a server or the KME could not be reached:
	                         try again later (nothing was lost) */
	QM_EXIT_SECURITY = 5, /* tampered, replayed or unverifiable mail */
	QM_EXIT_UNAVAIL = 6,  /* the security level cannot be used now */
};

/* Global options, parsed before the subcommand. */
struct cli {
	const char *home;
	int quiet;
	struct qm_client *client;
};

/* A subcommand: argv[0] is its name. Returns an exit code. */
typedef int (*cli_cmd_fn)(struct cli *g, int argc, char **argv);

int cli_cmd_init(struct cli *g, int argc, char **argv);
int cli_cmd_account(struct cli *g, int argc, char **argv);
int cli_cmd_contact(struct cli *g, int argc, char **argv);
int cli_cmd_identity(struct cli *g, int argc, char **argv);
int cli_cmd_send(struct cli *g, int argc, char **argv);
int cli_cmd_reply(struct cli *g, int argc, char **argv);
int cli_cmd_forward(struct cli *g, int argc, char **argv);
int cli_cmd_sync(struct cli *g, int argc, char **argv);
int cli_cmd_list(struct cli *g, int argc, char **argv);
int cli_cmd_read(struct cli *g, int argc, char **argv);
int cli_cmd_retry(struct cli *g, int argc, char **argv);
int cli_cmd_outbox(struct cli *g, int argc, char **argv);
int cli_cmd_keys(struct cli *g, int argc, char **argv);
int cli_cmd_kme(struct cli *g, int argc, char **argv);
int cli_cmd_web(struct cli *g, int argc, char **argv);
int cli_cmd_passwd(struct cli *g, int argc, char **argv);
int cli_cmd_unlock(struct cli *g, int argc, char **argv);
int cli_cmd_lock(struct cli *g, int argc, char **argv);
int cli_cmd_config(struct cli *g, int argc, char **argv);
/* cmd_folders.c: folders and what is done to messages on the server */
int cli_cmd_folders(struct cli *g, int argc, char **argv);
int cli_cmd_folder(struct cli *g, int argc, char **argv);
int cli_cmd_flag(struct cli *g, int argc, char **argv);
int cli_cmd_move(struct cli *g, int argc, char **argv);
int cli_cmd_copy(struct cli *g, int argc, char **argv);
int cli_cmd_archive(struct cli *g, int argc, char **argv);
int cli_cmd_junk(struct cli *g, int argc, char **argv);
int cli_cmd_unjunk(struct cli *g, int argc, char **argv);
int cli_cmd_delete(struct cli *g, int argc, char **argv);
int cli_cmd_search(struct cli *g, int argc, char **argv);
int cli_cmd_export(struct cli *g, int argc, char **argv);
int cli_cmd_import(struct cli *g, int argc, char **argv);
/* cmd_chat.c: `qmail chat list | send | show | level` */
int cli_cmd_chat(struct cli *g, int argc, char **argv);
/* cmd_discover.c: `account discover ADDR` (argv[1] is "discover"), and
 * the servers of a (by its address) for `account add` given none; both
 * print what they found or the error, and return an exit code. */
int cli_account_discover(struct cli *g, int argc, char **argv);
int cli_account_add_discover(struct cli *g, struct qm_store_account *a,
                             struct qm_client_discovery *found);
/*
 * The OAuth2 sign-in of a new account when no endpoint was given: the
 * registry's provider named preset, else what discovery found for the
 * address (d, filled when it was not yet); the client ID (when
 * client_id is "") and secret (when secret is empty) from the
 * provider's settings; the CA (when ca is "") from discover.ca_file.
 * Prints what is missing; returns an exit code.
 */
int cli_oauth_from_discovery(struct cli *g, const char *preset,
                             const struct qm_store_account *a,
                             struct qm_client_discovery *d,
                             struct qm_client_oauth_endpoints *ep,
                             char *client_id, size_t idlen,
                             struct qm_buf *secret, char *ca, size_t calen);

/* cmd_oauth.c: OAuth2 sign-in. The options that say where to sign in. */
struct cli_oauth_opts {
	const char *issuer; /* discovery from its openid-configuration */
	const char *auth_url, *token_url, *device_url, *revoke_url, *scope;
	const char *client_id, *secret_file, *ca_file;
	const char *auth_params; /* provider quirks: "prompt=consent" */
};
int cli_account_signin(struct cli *g, int argc, char **argv);
/* Endpoints from the options into ep; prints the error, returns an exit
 * code. */
int cli_oauth_endpoints(const struct cli_oauth_opts *o,
                        struct qm_client_oauth_endpoints *ep);
/* Runs a sign-in (device: the device grant) and fills *t; prints what the
 * user does and any error; returns an exit code. */
int cli_oauth_signin(const struct qm_client_oauth_endpoints *ep,
                     const struct qm_client_oauth_app *app, const char *addr,
                     int device, struct qm_client_oauth_tokens *t);
/* A client secret file into a secure buffer; returns an exit code. */
int cli_oauth_secret_file(const char *path, struct qm_buf *out);

/* Opens the client (home from g). Prints the error; returns an exit code. */
int cli_open(struct cli *g);
/* Opens and unlocks (passphrase from QMAIL_PASSPHRASE, QMAIL_PASSPHRASE_FILE
 * or the terminal). */
int cli_open_unlocked(struct cli *g);
/* The unlock agent (agent.c). cli_agent_path: <home>/agent/sock (dir: the
 * folder); -1 when too long for a Unix socket. */
int cli_agent_path(const char *home, char *out, size_t outlen, int dir);
/* One request to the agent of home: 0 answered (payload of *n bytes, at
 * most cap), 1 no agent, 2 refused, -1 a broken answer. */
int cli_agent_call(const char *home, int op, unsigned char *payload, size_t cap,
                   size_t *n);
/* The unlock key into key (QM_CLIENT_UNLOCK_KEYBYTES, secure); as
 * cli_agent_call. */
int cli_agent_key(const char *home, unsigned char *key);
/* Seconds left and the agent's pid; as cli_agent_call. */
int cli_agent_status(const char *home, long *left, long *pid);
/* Starts a detached agent holding key for secs seconds (replacing one that
 * runs); 0 with its pid, or -1 with a message in msg. */
int cli_agent_start(const char *home, const unsigned char *key, long secs,
                    long *pid_out, char *msg, size_t msglen);
/* "30s", "15m", "2h" (a bare number: seconds), at most 168h. */
int cli_duration_parse(const char *s, long *secs);
/* Unlocks g->client with the agent's key: 0 done, else not (no agent,
 * or its key refused). */
int cli_unlock_from_agent(struct cli *g);
/* Reads a passphrase: env, file, or the terminal without echo (twice when
 * confirm). Secure buffer; returns 0 or -1 with a message printed. */
int cli_passphrase(const char *prompt, int confirm, struct qm_buf *out);
/* The same from the file named by $file_var, else $env_var (NULL: none),
 * else the terminal. */
int cli_passphrase_from(const char *file_var, const char *env_var,
                        const char *prompt, int confirm, struct qm_buf *out);
/* Prints "qmail: <msg>" to stderr, and what to do when e has a hint, and
 * returns the exit code for e. */
int cli_fail(const struct qm_error *e);
/* Prints "qmail: hint: <what to do>" to stderr when e has a hint. */
void cli_hint(const struct qm_error *e);
/* The CLI's words for a client hint (enum qm_client_hint) about arg ("run
 * `qmail contact add bob@example.org --sae ID`"), into out; "" for none. */
void cli_hint_text(int hint, const char *arg, char *out, size_t outlen);
/* The exit code for an error code. */
int cli_exit_for(enum qm_err code);
/* Prints a usage error and returns QM_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) QM_PRINTF(2, 3);
/* Finds the account to use: by address, or the only/first one. Prints the
 * error; returns 0 and sets *id, or an exit code. */
int cli_account_pick(struct cli *g, const char *address, int64_t *id);
/* A progress bar on stderr when it is a terminal (client progress fn). */
void cli_progress(void *arg, const char *what, uint64_t done, uint64_t total);
/* Ends a progress line. */
void cli_progress_end(struct cli *g);
/* Is `arg` one of "-h", "--help"? */
int cli_is_help(const char *arg);

/*
 * Text from outside (headers, names, anything a message or a server chose)
 * in a form safe to print (print.c): control and direction characters are
 * shown as visible marks, newlines included. The string returned lives
 * until 8 more calls, so one printf may use up to 8 of them.
 */
const char *cli_safe(const char *s);
/* Wipes what cli_safe handed out (at exit). */
void cli_safe_wipe(void);
/* Prints a message body: newline and tab kept, every other control and
 * direction character shown as a visible mark. */
void cli_put_text(FILE *f, const char *s);

#endif
