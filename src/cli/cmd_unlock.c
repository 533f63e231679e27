/* SPDX-License-Identifier: MIT */
/*
 * `qmail unlock [--for DURATION]` and `qmail lock`: unlock once per
 * session through the agent (agent.c), and forget the key again.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_SECS (15L * 60)

static void say_duration(long secs, char *out, size_t n)
{
	if (secs % 3600 == 0)
		snprintf(out, n, "%ldh", secs / 3600);
	else if (secs % 60 == 0)
		snprintf(out, n, "%ldm", secs / 60);
	else
		snprintf(out, n, "%lds", secs);
}

int cli_cmd_unlock(struct cli *g, int argc, char **argv)
{
	unsigned char *key = NULL;
	char msg[512], until[16], dur[32], *home = NULL;
	struct qm_buf pass;
	struct qm_error e;
	long secs = DEFAULT_SECS, pid = 0;
	time_t end;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: qmail unlock [--for DURATION]\n\n"
			       "Asks for the passphrase once and keeps the "
			       "vault's unlock key in a small agent\nprocess "
			       "(socket %s/agent/sock, for your user only) for "
			       "DURATION\n(default 15m; a number with s, m or "
			       "h, at most 168h). Until then, or until\n`qmail "
			       "lock`, qmail commands and `qmail web` of your "
			       "user need no passphrase.\nAny program running "
			       "as you can use the key meanwhile, as with "
			       "ssh-agent.\n",
			       "HOME");
			return 0;
		}
		if (strcmp(argv[i], "--for") == 0 && i + 1 < argc) {
			if (cli_duration_parse(argv[++i], &secs))
				return cli_usage(
				    "unlock", "--for takes a duration such as "
				              "30s, 15m or 2h (at most 168h)");
		} else {
			return cli_usage("unlock", "bad argument %s", argv[i]);
		}
	}
	if ((rc = cli_open(g)))
		return rc;
	if (!qm_client_initialised(g->client)) {
		fprintf(stderr,
		        "qmail: no vault in %s yet: run `qmail init` "
		        "first\n",
		        qm_client_home(g->client));
		return QM_EXIT_DENIED;
	}
	qm_buf_init_secure(&pass, 4096);
	if (cli_passphrase("QMail passphrase: ", 0, &pass)) {
		qm_buf_free(&pass);
		return QM_EXIT_DENIED;
	}
	qm_error_clear(&e);
	rc = qm_client_unlock_export(g->client,
	                             pass.data ? (char *)pass.data : "",
	                             pass.len, &key, &e)
	         ? cli_fail(&e)
	         : 0;
	qm_buf_free(&pass);
	if (rc)
		return rc; /* a wrong passphrase starts no agent */
	home = strdup(qm_client_home(g->client));
	/* the agent is forked without the database connection */
	qm_client_free(&g->client);
	if (!home) {
		qm_sec_free(key);
		fprintf(stderr, "qmail: out of memory\n");
		return QM_EXIT_ERROR;
	}
	rc = cli_agent_start(home, key, secs, &pid, msg, sizeof(msg));
	qm_sec_free(key);
	free(home);
	if (rc) {
		fprintf(stderr, "qmail: cannot unlock for the session: %s\n",
		        msg);
		return QM_EXIT_ERROR;
	}
	end = time(NULL) + secs;
	strftime(until, sizeof(until), "%H:%M:%S", localtime(&end));
	say_duration(secs, dur, sizeof(dur));
	printf("unlocked for %s (until %s, or `qmail lock`); agent pid %ld\n",
	       dur, until, pid);
	return 0;
}

int cli_cmd_lock(struct cli *g, int argc, char **argv)
{
	unsigned char none[1];
	size_t n = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: qmail lock\n\nForgets the unlock key "
			       "that `qmail unlock` left with the agent\n(the "
			       "agent exits). Later commands ask for the "
			       "passphrase again; a running\n`qmail web` that "
			       "was unlocked by the agent locks too.\n");
			return 0;
		}
		return cli_usage("lock", "bad argument %s", argv[i]);
	}
	if ((rc = cli_open(g)))
		return rc;
	rc = cli_agent_call(qm_client_home(g->client), 'L', none, 0, &n);
	if (rc == 0)
		printf("locked\n");
	else if (rc == 1)
		printf("not unlocked: nothing to forget\n");
	else {
		fprintf(stderr, "qmail: the agent did not answer as it "
		                "should\n");
		return QM_EXIT_ERROR;
	}
	return 0;
}
