/* SPDX-License-Identifier: MIT */
/*
 * qmail export: the readable mail, out of the vault into an mbox file or a
 * Maildir (qm_client_export); qmail import: the other way, an mbox file or
 * a Maildir into a folder of the vault, as plain mail (qm_client_import).
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

/* The options export and import share: --mbox FILE or --maildir DIR
 * (*mbox: which), --account, --folder. Returns -1 when the help was
 * printed, else 0 or the usage error's exit code. */
static int data_args(const char *cmd, const char *help, int argc, char **argv,
                     const char **path, int *mbox, const char **account,
                     const char **folder)
{
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			fputs(help, stdout);
			return -1;
		}
		if ((strcmp(argv[i], "--mbox") == 0 ||
		     strcmp(argv[i], "--maildir") == 0) &&
		    i + 1 < argc) {
			if (*path)
				return cli_usage(cmd, "give one of --mbox and "
				                      "--maildir");
			*mbox = argv[i][3] == 'b';
			*path = argv[++i];
		} else if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			*account = argv[++i];
		else if (strcmp(argv[i], "--folder") == 0 && i + 1 < argc)
			*folder = argv[++i];
		else
			return cli_usage(cmd, "bad argument %s", argv[i]);
	}
	if (!*path)
		return cli_usage(cmd, "%s where? --mbox FILE or --maildir DIR",
		                 strcmp(cmd, "export") == 0 ? "export to"
		                                            : "import from");
	return 0;
}

int cli_cmd_export(struct cli *g, int argc, char **argv)
{
	const char *account = NULL, *folder = NULL, *path = NULL;
	enum qm_client_export_fmt fmt;
	struct qm_client_export_stats st;
	struct qm_store_query q;
	struct qm_error e;
	int rc, mbox = 0;

	rc = data_args("export", export_help, argc, argv, &path, &mbox,
	               &account, &folder);
	if (rc)
		return rc < 0 ? 0 : rc;
	fmt = mbox ? QM_CLIENT_EXPORT_MBOX : QM_CLIENT_EXPORT_MAILDIR;
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

static const char import_help[] =
    "usage: qmail import (--mbox FILE | --maildir DIR) [--account ADDR] "
    "[--folder F]\n\n"
    "Files the messages of an mbox file (mboxrd or mboxo, as Thunderbird, "
    "mutt or `qmail export` write it) or a Maildir (cur/ and new/; the "
    "flags of each file name kept, messages marked T skipped) into a "
    "folder kept on this computer, \"" QM_CLIENT_IMPORT_FOLDER "\" unless "
    "--folder names another (made when missing; a folder of the mail "
    "server is refused). Imported messages are plain mail: whatever their "
    "headers say, they never show as encrypted or verified, and no key or "
    "contact is learned from them. A message whose Message-ID the account "
    "has already is skipped, so importing the same file twice adds "
    "nothing.\n";

int cli_cmd_import(struct cli *g, int argc, char **argv)
{
	const char *account = NULL, *folder = NULL, *path = NULL;
	enum qm_client_import_fmt fmt;
	struct qm_client_import_stats st;
	struct qm_error e;
	int64_t id = 0;
	int rc, mbox = 0;

	rc = data_args("import", import_help, argc, argv, &path, &mbox,
	               &account, &folder);
	if (rc)
		return rc < 0 ? 0 : rc;
	fmt = mbox ? QM_CLIENT_IMPORT_MBOX : QM_CLIENT_IMPORT_MAILDIR;
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, account, &id)))
		return rc;
	qm_error_clear(&e);
	rc = qm_client_import(g->client, id, folder, fmt, path, cli_progress, g,
	                      &st, &e);
	cli_progress_end(g);
	if (rc) {
		if (st.added)
			fprintf(stderr,
			        "qmail: %zu messages were imported before the "
			        "failure\n",
			        st.added);
		return cli_fail(&e);
	}
	printf("imported %zu messages into %s\n", st.added,
	       cli_safe(folder ? folder : QM_CLIENT_IMPORT_FOLDER));
	if (st.duplicates)
		printf("%zu already here (the same Message-ID): skipped\n",
		       st.duplicates);
	if (st.skipped)
		printf("%zu skipped; the first because: %s\n", st.skipped,
		       cli_safe(st.first_skip));
	return 0;
}
