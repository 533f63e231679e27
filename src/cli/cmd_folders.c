/* SPDX-License-Identifier: MIT */
/*
 * The folder and message-handling commands (issue 14; docs/CLI.md
 * "Folders, flags, moving and deleting"): qmail folders, qmail folder
 * create|rename|delete, qmail flag, move, copy, archive, junk, delete,
 * search --server.
 * Each is one engine call (src/client/ops.c) done at once on the IMAP
 * server; the words and exit codes are the command line's.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* An engine error of an operation on the server: a sync holding the
 * account past the wait is "try again later" (4), not exit code 6 (which
 * is about security levels). */
static int op_fail(const struct qm_error *e)
{
	int rc = cli_fail(e);

	if (e->code == QM_ERR_UNAVAIL)
		return QM_EXIT_NET;
	if (e->code == QM_ERR_STATE)
		fprintf(stderr,
		        "qmail: hint: run `qmail sync`, then try again\n");
	return rc;
}

/* A message ID argument. */
static int parse_id(const char *cmd, const char *s, int64_t *id)
{
	long long v;

	if (qm_parse_ll(s, 1, INT64_MAX, &v, NULL))
		return cli_usage(cmd, "%s is no message ID (see `qmail list`)",
		                 s);
	*id = (int64_t)v;
	return 0;
}

static const char *use_word(enum qm_store_folder_use u)
{
	static const char *const w[] = {
	    "",     "inbox",   "sent", "drafts",  "trash",
	    "junk", "archive", "all",  "flagged", "important"};

	return (unsigned)u < sizeof(w) / sizeof(w[0]) ? w[u] : "";
}

/* The level of folder f in the tree (its delimiters), and its last part. */
static const char *leaf(const struct qm_store_folder *f, int *depth)
{
	const char *s = f->display, *last = s;

	*depth = 0;
	if (!f->delim)
		return s;
	for (const char *p = s; *p; p++)
		if (*p == f->delim && p[1]) {
			(*depth)++;
			last = p + 1;
		}
	return last;
}

int cli_cmd_folders(struct cli *g, int argc, char **argv)
{
	struct qm_store_folder *v = NULL;
	const char *account = NULL;
	struct qm_error e;
	size_t n = 0;
	int refresh = 0, rc;
	int64_t acct;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf(
			    "usage: qmail folders [--refresh] [--account "
			    "ADDR]\n\n"
			    "Lists the account's folders as a tree: name, "
			    "special use, messages QMail holds there and how "
			    "many are unread. --refresh asks the server for "
			    "its folder list first (a sync does too).\n");
			return 0;
		}
		if (strcmp(argv[i], "--refresh") == 0)
			refresh = 1;
		else if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			account = argv[++i];
		else
			return cli_usage("folders", "bad argument %s", argv[i]);
	}
	if ((rc = refresh ? cli_open_unlocked(g) : cli_open(g)) ||
	    (rc = cli_account_pick(g, account, &acct)))
		return rc;
	qm_error_clear(&e);
	if (refresh && qm_client_folders_refresh(g->client, acct, &e))
		return op_fail(&e);
	if (qm_client_folders(g->client, acct, &v, &n, &e))
		return cli_fail(&e);
	printf("%-40s %-9s %7s %7s\n", "FOLDER", "USE", "TOTAL", "UNREAD");
	for (size_t i = 0; i < n; i++) {
		int depth;
		const char *name = leaf(&v[i], &depth);
		char col[256];

		snprintf(col, sizeof(col), "%*s%s%s", depth * 2, "",
		         cli_safe(name), v[i].selectable ? "" : "/");
		printf("%-40s %-9s %7lld %7lld\n", col, use_word(v[i].use),
		       (long long)v[i].total, (long long)v[i].unread);
	}
	qm_client_folders_free(&v, n);
	return 0;
}

int cli_cmd_folder(struct cli *g, int argc, char **argv)
{
	const char *account = NULL, *pos[3] = {NULL, NULL, NULL};
	struct qm_error e;
	int npos = 0, rc;
	int64_t acct;
	enum qm_err r;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf(
			    "usage: qmail folder create NAME | rename NAME "
			    "NEW | delete NAME [--account ADDR]\n\n"
			    "Creates (and subscribes), renames or deletes a "
			    "folder on the account's IMAP server. Levels are "
			    "joined by the server's delimiter (`qmail "
			    "folders` shows the tree). Deleting a folder "
			    "deletes the mail in it on the server; QMail "
			    "keeps the QMail messages it decrypted.\n");
			return 0;
		}
		if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			account = argv[++i];
		else if (npos < 3)
			pos[npos++] = argv[i];
		else
			return cli_usage("folder", "bad argument %s", argv[i]);
	}
	if (!pos[0])
		return cli_usage("folder", "create, rename or delete?");
	if (strcmp(pos[0], "rename") == 0 ? npos != 3 : npos != 2)
		return cli_usage("folder", "%s takes %s", pos[0],
		                 strcmp(pos[0], "rename") == 0 ? "NAME NEW"
		                                               : "NAME");
	if (strcmp(pos[0], "create") != 0 && strcmp(pos[0], "rename") != 0 &&
	    strcmp(pos[0], "delete") != 0)
		return cli_usage("folder", "no subcommand %s", pos[0]);
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, account, &acct)))
		return rc;
	qm_error_clear(&e);
	if (strcmp(pos[0], "create") == 0)
		r = qm_client_folder_create(g->client, acct, pos[1], &e);
	else if (strcmp(pos[0], "rename") == 0)
		r = qm_client_folder_rename(g->client, acct, pos[1], pos[2],
		                            &e);
	else
		r = qm_client_folder_delete(g->client, acct, pos[1], &e);
	if (r)
		return op_fail(&e);
	printf("%s: %s%s%s\n",
	       strcmp(pos[0], "create") == 0   ? "created"
	       : strcmp(pos[0], "rename") == 0 ? "renamed"
	                                       : "deleted",
	       cli_safe(pos[1]), npos == 3 ? " -> " : "",
	       npos == 3 ? cli_safe(pos[2]) : "");
	return 0;
}

/* The flags of a message as the command line prints them. */
static void flags_text(unsigned f, char *out, size_t n)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
	    {QM_FLAG_SEEN, "seen"},         {QM_FLAG_FLAGGED, "flagged"},
	    {QM_FLAG_ANSWERED, "answered"}, {QM_FLAG_FORWARDED, "forwarded"},
	    {QM_FLAG_JUNK, "junk"},         {QM_FLAG_NOTJUNK, "notjunk"}};
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (f & names[i].bit)
			off += (size_t)snprintf(out + off, n - off, "%s%s",
			                        off ? " " : "", names[i].name);
	if (!off)
		snprintf(out, n, "unseen");
}

int cli_cmd_flag(struct cli *g, int argc, char **argv)
{
	static const struct {
		const char *opt;
		unsigned set, clear;
	} opts[] = {
	    {"--seen", QM_FLAG_SEEN, 0},
	    {"--unseen", 0, QM_FLAG_SEEN},
	    {"--flagged", QM_FLAG_FLAGGED, 0},
	    {"--unflagged", 0, QM_FLAG_FLAGGED},
	    {"--answered", QM_FLAG_ANSWERED, 0},
	    {"--junk", QM_FLAG_JUNK, QM_FLAG_NOTJUNK},
	    {"--notjunk", QM_FLAG_NOTJUNK, QM_FLAG_JUNK},
	};
	unsigned set = 0, clear = 0, now = 0;
	const char *ids = NULL;
	struct qm_error e;
	char text[128];
	int written = 0, rc;
	int64_t id = 0;

	for (int i = 1; i < argc; i++) {
		size_t k;

		if (cli_is_help(argv[i])) {
			printf(
			    "usage: qmail flag ID [--seen|--unseen] "
			    "[--flagged|--unflagged] [--answered] "
			    "[--junk|--notjunk]\n\n"
			    "Changes a message's flags, on the server at once "
			    "when it can be reached, else at the next sync "
			    "(the change is kept either way). Without an "
			    "option: prints its flags.\n");
			return 0;
		}
		for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strcmp(argv[i], opts[k].opt) == 0)
				break;
		if (k < sizeof(opts) / sizeof(opts[0])) {
			set = (set & ~opts[k].clear) | opts[k].set;
			clear = (clear & ~opts[k].set) | opts[k].clear;
		} else if (!ids && argv[i][0] != '-') {
			ids = argv[i];
		} else {
			return cli_usage("flag", "bad argument %s", argv[i]);
		}
	}
	if (!ids)
		return cli_usage("flag", "which message? (an ID of `qmail "
		                         "list`)");
	if ((rc = parse_id("flag", ids, &id)) || (rc = cli_open_unlocked(g)))
		return rc;
	qm_error_clear(&e);
	if (qm_client_msg_flags_now(g->client, id, set, clear, &now, &written,
	                            &e))
		return cli_fail(&e);
	flags_text(now, text, sizeof(text));
	printf("%lld: %s%s\n", (long long)id, text,
	       !(set | clear) ? ""
	       : written      ? " (on the server)"
	                      : " (the server gets it at the next sync)");
	return 0;
}

/* One ID, and a folder when folder is not NULL. */
static int id_and_folder(const char *cmd, int argc, char **argv,
                         const char *help, int64_t *id, const char **folder)
{
	const char *pos[2] = {NULL, NULL};
	int npos = 0, want = folder ? 2 : 1;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("%s", help);
			return -1;
		}
		if (npos == want)
			return cli_usage(cmd, "bad argument %s", argv[i]);
		pos[npos++] = argv[i];
	}
	if (npos != want)
		return cli_usage(cmd, "takes %s", folder ? "ID FOLDER" : "ID");
	if (folder)
		*folder = pos[1];
	return parse_id(cmd, pos[0], id);
}

/* The commands that move one message. */
enum mv { MV_MOVE, MV_COPY, MV_ARCHIVE, MV_JUNK, MV_INBOX, MV_DELETE };

static int move_cmd(struct cli *g, int argc, char **argv, enum mv how)
{
	static const char *const help[] = {
	    [MV_MOVE] = "usage: qmail move ID FOLDER\n\nMoves a message to "
	                "another folder of its account's IMAP server, at "
	                "once. A QMail message keeps its decrypted copy: it "
	                "is never fetched or decrypted again.\n",
	    [MV_COPY] = "usage: qmail copy ID FOLDER\n\nCopies a message to "
	                "another folder on the server; QMail shows it in "
	                "both.\n",
	    [MV_ARCHIVE] = "usage: qmail archive ID\n\nMoves a message to "
	                   "the account's Archive folder (Gmail: out of "
	                   "INBOX, into All Mail).\n",
	    [MV_JUNK] = "usage: qmail junk ID\n\nMoves a message to the "
	                "account's Junk folder and marks it junk.\n",
	    [MV_INBOX] = "usage: qmail unjunk ID\n\nMoves a message back to "
	                 "INBOX (marked not junk when it was junk).\n",
	    [MV_DELETE] = "usage: qmail delete ID\n\nDeletes a message: "
	                  "moved to the Trash folder; in Trash already, or "
	                  "with the account setting delete_mode = expunge, "
	                  "deleted for good on the server and in QMail. "
	                  "POP3 accounts: the same in the folders QMail "
	                  "keeps for them.\n"};
	static const char *const done[] = {
	    [MV_MOVE] = "moved to",        [MV_COPY] = "copied to",
	    [MV_ARCHIVE] = "archived",     [MV_JUNK] = "moved to Junk",
	    [MV_INBOX] = "moved to INBOX", [MV_DELETE] = "deleted"};
	const char *folder = NULL;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	int64_t id = 0;
	int rc, gone = 0;
	enum qm_err r;

	rc = id_and_folder(argv[0], argc, argv, help[how], &id,
	                   how <= MV_COPY ? &folder : NULL);
	if (rc)
		return rc < 0 ? 0 : rc;
	if ((rc = cli_open_unlocked(g)))
		return rc;
	qm_error_clear(&e);
	switch (how) {
	case MV_MOVE:
		r = qm_client_msg_move(g->client, id, folder, &e);
		break;
	case MV_COPY:
		r = qm_client_msg_copy(g->client, id, folder, &e);
		break;
	case MV_ARCHIVE:
		r = qm_client_msg_file(g->client, id, QM_FOLDER_USE_ARCHIVE,
		                       &e);
		break;
	case MV_JUNK:
		r = qm_client_msg_file(g->client, id, QM_FOLDER_USE_JUNK, &e);
		break;
	case MV_INBOX:
		r = qm_client_msg_file(g->client, id, QM_FOLDER_USE_INBOX, &e);
		break;
	default:
		r = qm_client_msg_trash(g->client, id, &e);
		gone = r == QM_OK &&
		       qm_client_msg_get(g->client, id, &l, NULL) != QM_OK;
		qm_client_msglist_free(&l);
		break;
	}
	if (r)
		return op_fail(&e);
	printf("%lld: %s%s%s%s\n", (long long)id, done[how], folder ? " " : "",
	       folder ? cli_safe(folder) : "",
	       how == MV_DELETE ? (gone ? " for good" : " (moved to Trash)")
	                        : "");
	return 0;
}

int cli_cmd_move(struct cli *g, int argc, char **argv)
{
	return move_cmd(g, argc, argv, MV_MOVE);
}

int cli_cmd_copy(struct cli *g, int argc, char **argv)
{
	return move_cmd(g, argc, argv, MV_COPY);
}

int cli_cmd_archive(struct cli *g, int argc, char **argv)
{
	return move_cmd(g, argc, argv, MV_ARCHIVE);
}

int cli_cmd_junk(struct cli *g, int argc, char **argv)
{
	return move_cmd(g, argc, argv, MV_JUNK);
}

int cli_cmd_unjunk(struct cli *g, int argc, char **argv)
{
	return move_cmd(g, argc, argv, MV_INBOX);
}

int cli_cmd_delete(struct cli *g, int argc, char **argv)
{
	return move_cmd(g, argc, argv, MV_DELETE);
}

/* The hits of a server search, one row each ("-": not downloaded). */
static void print_hits(const struct qm_client_server_hit *v, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		char date[32] = "----------------";
		char id[24] = "-";
		time_t t = (time_t)v[i].date;
		struct tm tm;

		if (v[i].date && gmtime_r(&t, &tm))
			strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
		if (v[i].id)
			snprintf(id, sizeof(id), "%lld", (long long)v[i].id);
		printf("%6s  %s  %c %-28.28s  %s\n", id, date,
		       v[i].flags & QM_FLAG_SEEN ? ' ' : '*',
		       cli_safe(v[i].from), cli_safe(v[i].subject));
	}
	if (n == 0)
		printf("no messages\n");
}

int cli_cmd_search(struct cli *g, int argc, char **argv)
{
	const char *account = NULL, *folder = NULL, *words = NULL;
	struct qm_client_server_hit *v = NULL;
	long long lim = 50;
	struct qm_error e;
	size_t n = 0;
	int server = 0, rc;
	int64_t acct;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf(
			    "usage: qmail search WORDS --server [--folder F] "
			    "[--limit N] [--account ADDR]\n\n"
			    "Searches a folder (INBOX) on the IMAP server "
			    "(IMAP SEARCH TEXT), for mail QMail has not "
			    "downloaded: the newest N hits, newest first; "
			    "ID - means not downloaded. The server holds "
			    "QMail messages encrypted: search those with "
			    "`qmail list --search WORDS`.\n");
			return 0;
		}
		if (strcmp(argv[i], "--server") == 0)
			server = 1;
		else if (strcmp(argv[i], "--folder") == 0 && i + 1 < argc)
			folder = argv[++i];
		else if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			account = argv[++i];
		else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (qm_parse_ll(argv[++i], 1, QM_CLIENT_SEARCH_MAX,
			                &lim, NULL))
				return cli_usage("search", "--limit is 1-%u",
				                 QM_CLIENT_SEARCH_MAX);
		} else if (!words && argv[i][0] != '-')
			words = argv[i];
		else
			return cli_usage("search", "bad argument %s", argv[i]);
	}
	if (!words)
		return cli_usage("search", "search for what?");
	if (!server)
		return cli_usage("search", "without --server, use `qmail list "
		                           "--search WORDS`");
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, account, &acct)))
		return rc;
	qm_error_clear(&e);
	if (qm_client_search_server(g->client, acct, folder, words, (size_t)lim,
	                            &v, &n, &e))
		return op_fail(&e);
	print_hits(v, n);
	qm_client_server_hits_free(&v, n);
	return 0;
}
