/* SPDX-License-Identifier: MIT */
/*
 * qmail export: the readable mail, out of the vault into an mbox file or a
 * Maildir (qm_client_export).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char export_help[] =
    "usage: qmail export (--mbox FILE | --maildir DIR) [--account ADDR] "
    "[--folder F]\n\n"
    "Writes every message QMail can read (decrypted, as the sender wrote "
    "it) to a new mbox file or into a Maildir, for any mail program or a "
    "backup. The files are NOT encrypted: keep them as safe as the mail "
    "itself. Level-1 and level-2 messages cannot be decrypted again once "
    "read (their keys are gone from the KMEs): an export is the only copy "
    "of them outside this home. Messages QMail could not read (tampered, "
    "waiting, refused) are skipped and counted.\n";

int cli_cmd_export(struct cli *g, int argc, char **argv)
{
	const char *account = NULL, *folder = NULL, *path = NULL;
	enum qm_client_export_fmt fmt = 0;
	struct qm_client_export_stats st;
	struct qm_store_query q;
	struct qm_error e;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			fputs(export_help, stdout);
			return 0;
		}
		if ((strcmp(argv[i], "--mbox") == 0 ||
		     strcmp(argv[i], "--maildir") == 0) &&
		    i + 1 < argc) {
			if (path)
				return cli_usage("export", "give one of --mbox "
				                           "and --maildir");
			fmt = argv[i][2] == 'm' && argv[i][3] == 'b'
			          ? QM_CLIENT_EXPORT_MBOX
			          : QM_CLIENT_EXPORT_MAILDIR;
			path = argv[++i];
		} else if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			account = argv[++i];
		else if (strcmp(argv[i], "--folder") == 0 && i + 1 < argc)
			folder = argv[++i];
		else
			return cli_usage("export", "bad argument %s", argv[i]);
	}
	if (!path)
		return cli_usage("export", "export to where? --mbox FILE or "
		                           "--maildir DIR");
	memset(&q, 0, sizeof(q));
	q.folder = folder;
	if ((rc = cli_open_unlocked(g)) ||
	    (account && (rc = cli_account_pick(g, account, &q.account_id))))
		return rc;
	qm_error_clear(&e);
	rc = qm_client_export(g->client, &q, fmt, path, cli_progress, g, &st,
	                      &e);
	cli_progress_end(g);
	if (rc) {
		if (st.written)
			fprintf(stderr,
			        "qmail: %zu messages were written to %s "
			        "before the failure\n",
			        st.written, cli_safe(path));
		return cli_fail(&e);
	}
	printf("exported %zu messages to %s\n", st.written, cli_safe(path));
	if (st.skipped)
		printf("%zu skipped: QMail keeps no readable copy of them "
		       "(tampered, replayed, refused, waiting or unreadable)\n",
		       st.skipped);
	if (st.not_downloaded)
		printf(
		    "%zu not downloaded yet and the mail server could not be "
		    "reached: run `qmail sync`, then export again\n",
		    st.not_downloaded);
	return 0;
}
