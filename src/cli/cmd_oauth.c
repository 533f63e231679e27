/* SPDX-License-Identifier: MIT */
/*
 * OAuth2 sign-in on the command line: `account add --oauth2` and `account
 * signin ADDR`. The URL goes to stdout ("url: ..."), a browser is opened
 * where a display is, and the engine waits on 127.0.0.1 for the redirect
 * (5 minutes, Ctrl-C cancels); --device prints the user code instead and
 * polls. Progress goes to stderr.
 */
#include "cli.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SIGNIN_TIMEOUT_MS (5L * 60 * 1000)

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

extern char **environ;

/* Opens url with xdg-open where a display is; never waits for it. */
static void open_browser(const char *url)
{
	posix_spawn_file_actions_t fa;
	char prog[] = "xdg-open", *u, *argv[3];
	pid_t pid;

	if (getenv("QMAIL_NO_BROWSER") ||
	    (!getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY")))
		return;
	if (!(u = strdup(url)))
		return;
	argv[0] = prog;
	argv[1] = u;
	argv[2] = NULL;
	if (posix_spawn_file_actions_init(&fa)) {
		free(u);
		return;
	}
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, "xdg-open", &fa, NULL, argv, environ) == 0)
		fprintf(stderr, "qmail: opened a browser on it\n");
	posix_spawn_file_actions_destroy(&fa);
	free(u);
}

/* Fills the endpoints from the options (issuer: discovery first). */
int cli_oauth_endpoints(const struct cli_oauth_opts *o,
                        struct qm_client_oauth_endpoints *ep)
{
	struct qm_error e;

	qm_error_clear(&e);
	if (o->auth_url)
		qm_strlcpy(ep->auth_url, o->auth_url, sizeof(ep->auth_url));
	if (o->token_url)
		qm_strlcpy(ep->token_url, o->token_url, sizeof(ep->token_url));
	if (o->device_url)
		qm_strlcpy(ep->device_url, o->device_url,
		           sizeof(ep->device_url));
	if (o->revoke_url)
		qm_strlcpy(ep->revoke_url, o->revoke_url,
		           sizeof(ep->revoke_url));
	if (o->scope)
		qm_strlcpy(ep->scope, o->scope, sizeof(ep->scope));
	if (o->issuer &&
	    qm_client_oauth_discover(o->issuer, o->ca_file, ep, &e))
		return cli_fail(&e);
	return 0;
}

/* Waits for the flow in 1-second steps (Ctrl-C cancels). */
static enum qm_err wait_flow(struct qm_client_oauth_flow *f,
                             struct qm_client_oauth_tokens *t,
                             struct qm_error *e)
{
	struct sigaction sa, old_int, old_term;
	long waited = 0;
	enum qm_err rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	interrupted = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	for (;;) {
		rc = qm_client_oauth_flow_wait(f, 1000, t, e);
		if (rc != QM_ERR_TIMEOUT || qm_client_oauth_flow_ended(f))
			break;
		waited += 1000;
		if (interrupted) {
			qm_client_oauth_flow_cancel(f);
			rc = qm_error_set(e, QM_ERR_STATE,
			                  "the sign-in was cancelled");
			break;
		}
		if (waited >= SIGNIN_TIMEOUT_MS) {
			qm_client_oauth_flow_cancel(f);
			rc = qm_error_set(e, QM_ERR_TIMEOUT,
			                  "no sign-in came back within 5 "
			                  "minutes; run the command again");
			break;
		}
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return rc;
}

int cli_oauth_signin(const struct qm_client_oauth_endpoints *ep,
                     const struct qm_client_oauth_app *app, const char *addr,
                     int device, struct qm_client_oauth_tokens *t)
{
	struct qm_client_oauth_flow *f = NULL;
	struct qm_error e;
	int rc = 0;

	qm_error_clear(&e);
	if (device) {
		struct qm_client_oauth_device d;

		if (qm_client_oauth_device_begin(ep, app, &f, &e))
			return cli_fail(&e);
		qm_client_oauth_flow_device(f, &d);
		printf("user_code: %s\n", cli_safe(d.user_code));
		printf("verification_uri: %s\n", cli_safe(d.verification_uri));
		if (d.verification_uri_complete[0])
			printf("verification_uri_complete: %s\n",
			       cli_safe(d.verification_uri_complete));
		fflush(stdout);
		fprintf(stderr,
		        "qmail: on any device, open %s and enter the code %s "
		        "to sign in as %s; waiting (Ctrl-C cancels)\n",
		        cli_safe(d.verification_uri), cli_safe(d.user_code),
		        cli_safe(addr));
	} else {
		if (qm_client_oauth_begin(ep, app, addr, &f, &e))
			return cli_fail(&e);
		printf("url: %s\n", qm_client_oauth_flow_url(f));
		fflush(stdout);
		fprintf(stderr,
		        "qmail: open the URL above in a browser and sign in as "
		        "%s; waiting for the provider's answer on %s "
		        "(Ctrl-C cancels)\n",
		        cli_safe(addr), qm_client_oauth_flow_redirect_uri(f));
		open_browser(qm_client_oauth_flow_url(f));
	}
	if (wait_flow(f, t, &e))
		rc = cli_fail(&e);
	qm_client_oauth_flow_free(&f);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		; /* xdg-open, when it has ended */
	return rc;
}

/* Reads a client secret file into a secure buffer (trailing newline off). */
int cli_oauth_secret_file(const char *path, struct qm_buf *out)
{
	struct qm_error e;

	qm_error_clear(&e);
	if (qm_file_read(path, 64 * 1024, out, &e))
		return cli_fail(&e);
	while (out->len && (out->data[out->len - 1] == '\n' ||
	                    out->data[out->len - 1] == '\r'))
		out->data[--out->len] = '\0';
	return 0;
}

int cli_account_signin(struct cli *g, int argc, char **argv)
{
	struct cli_oauth_opts o;
	struct qm_client_oauth_endpoints ep;
	struct qm_client_oauth_app app;
	struct qm_client_oauth_tokens t;
	struct qm_buf secret;
	struct qm_error e;
	char client_id[QM_STORE_NAMEMAX], ca[QM_STORE_PATHMAX];
	char params[QM_STORE_PATHMAX];
	const char *addr = NULL;
	int64_t id;
	int rc, device = 0;

	memset(&o, 0, sizeof(o));
	for (int i = 2; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf(
			    "usage: qmail account signin ADDR [--device] "
			    "[--client-id ID] [--client-secret-file F]\n\n"
			    "Signs in to the account's OAuth2 provider again "
			    "(after \"sign in to ADDR again\"),\nwith the "
			    "endpoints and client ID of its last sign-in "
			    "unless given. --device\nsigns in with a code "
			    "on another device.\n");
			return 0;
		}
		if (strcmp(argv[i], "--device") == 0) {
			device = 1;
		} else if (i + 1 < argc &&
		           strcmp(argv[i], "--client-id") == 0) {
			o.client_id = argv[++i];
		} else if (i + 1 < argc &&
		           strcmp(argv[i], "--oauth-auth-params") == 0) {
			o.auth_params = argv[++i];
		} else if (i + 1 < argc &&
		           strcmp(argv[i], "--client-secret-file") == 0) {
			o.secret_file = argv[++i];
		} else if (argv[i][0] != '-' && !addr) {
			addr = argv[i];
		} else {
			return cli_usage("account signin", "bad argument %s",
			                 argv[i]);
		}
	}
	if (!addr)
		return cli_usage("account signin", "give the address");
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, addr, &id)))
		return rc;
	qm_error_clear(&e);
	qm_buf_init_secure(&secret, 64 * 1024);
	memset(&t, 0, sizeof(t));
	if (qm_client_account_oauth_get(g->client, id, &ep, client_id,
	                                sizeof(client_id), ca, sizeof(ca),
	                                params, sizeof(params), &secret, &e)) {
		rc = cli_fail(&e);
		goto out;
	}
	if (o.secret_file) {
		qm_buf_reset(&secret);
		if ((rc = cli_oauth_secret_file(o.secret_file, &secret)))
			goto out;
	}
	memset(&app, 0, sizeof(app));
	app.client_id = o.client_id ? o.client_id : client_id;
	app.client_secret = secret.len ? (const char *)secret.data : NULL;
	app.ca_file = ca[0] ? ca : NULL;
	app.auth_params = o.auth_params ? o.auth_params
	                  : params[0]   ? params
	                                : NULL;
	if ((rc = cli_oauth_signin(&ep, &app, addr, device, &t)))
		goto out;
	if (qm_client_account_oauth_set(g->client, id, &ep, &app, &t, &e)) {
		rc = cli_fail(&e);
		goto out;
	}
	printf("signed in to %s\n", cli_safe(addr));
out:
	qm_client_oauth_tokens_wipe(&t);
	qm_buf_free(&secret);
	return rc;
}
