/* SPDX-License-Identifier: MIT */
/*
 * `qmail chat`: conversations over QMail messages (docs/CHAT.md), the
 * engine's chat calls for the command line: list, send, show, level.
 * Everything a conversation holds came from outside and is printed
 * through cli_safe / cli_put_text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CHAT_ADDRS_MAX 64

static const char chat_help[] =
    "usage: qmail chat list [--account ADDR]\n"
    "       qmail chat send ADDR... -m TEXT [--level N] [--account ADDR]\n"
    "       qmail chat show ADDR... [--keep-unread] [--account ADDR]\n"
    "       qmail chat level ADDR... N [--account ADDR]\n"
    "\n"
    "Chat over QMail: each chat message is an encrypted QMail message,\n"
    "sent through the outbox and received by `qmail sync`, which files\n"
    "chat messages in their conversations and moves them to the folder\n"
    "Chats on the server (out of INBOX).\n"
    "\n"
    "  list    the conversations: participants, level, messages, unread\n"
    "  send    one message to the conversation with ADDR... (one address:\n"
    "          one-to-one; several: a group of exactly them); a new\n"
    "          conversation keeps the level of its first message, and a\n"
    "          weaker level (a higher N) is refused until `chat level`\n"
    "  show    a conversation's messages, oldest first, with time, sender,\n"
    "          level and, for yours, delivery state; marks them read\n"
    "          (--keep-unread: not)\n"
    "  level   change the level a conversation is held to (1 strongest)\n";

/* The options of a chat subcommand. */
struct chat_args {
	const char *account;
	const char *text;
	long long level;
	int keep_unread;
	const char *addrs[CHAT_ADDRS_MAX];
	size_t naddrs;
};

/* Parses argv[2..]; addresses are the words that are no option. */
static int parse_args(const char *sub, int argc, char **argv,
                      struct chat_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];

		if (cli_is_help(o)) {
			fputs(chat_help, stdout);
			return -1;
		} else if (!strcmp(o, "--account") && i + 1 < argc) {
			a->account = argv[++i];
		} else if ((!strcmp(o, "-m") || !strcmp(o, "--message")) &&
		           i + 1 < argc) {
			a->text = argv[++i];
		} else if (!strcmp(o, "--level") && i + 1 < argc) {
			if (qm_parse_ll(argv[++i], 1, 4, &a->level, NULL))
				return cli_usage("chat",
				                 "--level is 1 to 4, not "
				                 "\"%s\"",
				                 argv[i]);
		} else if (!strcmp(o, "--keep-unread")) {
			a->keep_unread = 1;
		} else if (o[0] == '-') {
			return cli_usage("chat", "%s: unknown option %s", sub,
			                 o);
		} else if (a->naddrs == CHAT_ADDRS_MAX) {
			return cli_usage("chat", "at most %d participants",
			                 CHAT_ADDRS_MAX);
		} else {
			a->addrs[a->naddrs++] = o;
		}
	}
	return 0;
}

static void fmt_time(int64_t at, char *out, size_t cap)
{
	time_t t = (time_t)at;
	struct tm tm;

	out[0] = '\0';
	if (at && gmtime_r(&t, &tm))
		strftime(out, cap, "%Y-%m-%d %H:%M", &tm);
}

static int chat_list(struct cli *g, const struct chat_args *a)
{
	struct qm_store_chat *v = NULL;
	struct qm_error e;
	size_t n = 0;
	int64_t acct;
	int rc;

	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, a->account, &acct)))
		return rc;
	qm_error_clear(&e);
	if (qm_client_chat_list(g->client, acct, &v, &n, &e))
		return cli_fail(&e);
	printf("%-5s %-5s %5s %6s  %-16s  %s\n", "ID", "LEVEL", "MSGS",
	       "UNREAD", "LAST", "WITH");
	for (size_t i = 0; i < n; i++) {
		char when[32];

		fmt_time(v[i].last_at, when, sizeof(when));
		printf("%-5lld %-5d %5zu %6zu  %-16s  %s%s%s\n",
		       (long long)v[i].id, v[i].level, v[i].n_msgs, v[i].unread,
		       when, v[i].group_id[0] ? "group: " : "",
		       cli_safe(v[i].members),
		       v[i].label == QM_LABEL_ALTERED
		           ? "  [CHANGED ON DISK: set its level again]"
		           : "");
	}
	free(v);
	return 0;
}

static int chat_send(struct cli *g, const struct chat_args *a)
{
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_error e;
	int64_t acct;
	int rc;

	if (!a->naddrs)
		return cli_usage("chat",
		                 "send: give the participants' addresses");
	if (!a->text || !*a->text)
		return cli_usage("chat", "send: give the text with -m TEXT");
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, a->account, &acct)))
		return rc;
	memset(&m, 0, sizeof(m));
	m.account_id = acct;
	m.to = a->addrs;
	m.nto = a->naddrs;
	m.text = a->text;
	m.level = (int)a->level;
	qm_error_clear(&e);
	rc = qm_client_chat_send(g->client, &m, &out, &e) ? cli_fail(&e) : 0;
	if (out.warning[0])
		fprintf(stderr,
		        "qmail: warning: %s (`qmail keys verify` once "
		        "you compared them)\n",
		        cli_safe(out.warning));
	if (rc && out.chat_id) {
		fprintf(stderr,
		        "qmail: it is in conversation %lld; `qmail "
		        "outbox` shows what waits\n",
		        (long long)out.chat_id);
		return rc;
	}
	if (rc) {
		if (e.code == QM_ERR_STATE)
			fprintf(stderr, "qmail: `qmail chat level ADDR... N` "
			                "changes the conversation's level\n");
		return rc;
	}
	printf("sent at level %d (%s) in conversation %lld\n", out.level,
	       qm_client_level_badge(out.level), (long long)out.chat_id);
	return 0;
}

/* The conversation of a->addrs into *conv; prints the error. */
static int chat_pick(struct cli *g, const struct chat_args *a,
                     struct qm_store_chat *conv)
{
	struct qm_error e;
	int64_t acct;
	int rc;

	if (!a->naddrs)
		return cli_usage("chat", "give the participants' addresses");
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, a->account, &acct)))
		return rc;
	qm_error_clear(&e);
	if (qm_client_chat_find(g->client, acct, a->addrs, a->naddrs, conv, &e))
		return cli_fail(&e);
	return 0;
}

static int chat_show(struct cli *g, const struct chat_args *a)
{
	struct qm_store_chat conv;
	struct qm_client_chat_item *v = NULL;
	struct qm_error e;
	size_t n = 0;
	int rc;

	if ((rc = chat_pick(g, a, &conv)))
		return rc;
	qm_error_clear(&e);
	if (qm_client_chat_messages(g->client, conv.id, &v, &n, &e))
		return cli_fail(&e);
	printf("conversation %lld with %s%s, level %d (%s)\n",
	       (long long)conv.id, conv.group_id[0] ? "the group " : "",
	       cli_safe(conv.members), conv.level,
	       qm_client_level_badge(conv.level));
	for (size_t i = 0; i < n; i++) {
		char when[32];

		fmt_time(v[i].at, when, sizeof(when));
		printf("%s  %s  L%d  %s\n", when,
		       v[i].mine ? "me" : cli_safe(v[i].sender), v[i].level,
		       v[i].mine   ? v[i].state
		       : v[i].seen ? "read"
		                   : "new");
		fputs("  ", stdout);
		cli_put_text(stdout, v[i].text);
		fputc('\n', stdout);
	}
	qm_client_chat_items_free(&v, n);
	if (!a->keep_unread &&
	    qm_client_chat_read(g->client, conv.id, NULL, &e))
		return cli_fail(&e);
	return 0;
}

static int chat_level(struct cli *g, struct chat_args *a)
{
	struct qm_store_chat conv;
	struct qm_error e;
	long long lvl;
	int rc;

	if (a->naddrs < 2 ||
	    qm_parse_ll(a->addrs[a->naddrs - 1], 1, 4, &lvl, NULL))
		return cli_usage("chat",
		                 "level: give the participants' "
		                 "addresses and then the level, 1 to 4");
	a->naddrs--;
	if ((rc = chat_pick(g, a, &conv)))
		return rc;
	qm_error_clear(&e);
	if (qm_client_chat_level_set(g->client, conv.id, (int)lvl, &e))
		return cli_fail(&e);
	printf("conversation %lld is held to level %lld (%s) from now on\n",
	       (long long)conv.id, lvl, qm_client_level_badge((int)lvl));
	return 0;
}

int cli_cmd_chat(struct cli *g, int argc, char **argv)
{
	struct chat_args a;
	const char *sub = argc > 1 ? argv[1] : "";
	int rc;

	if (argc < 2 || cli_is_help(sub)) {
		fputs(chat_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? QM_EXIT_USAGE : 0;
	}
	rc = parse_args(sub, argc, argv, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (!strcmp(sub, "list"))
		return chat_list(g, &a);
	if (!strcmp(sub, "send"))
		return chat_send(g, &a);
	if (!strcmp(sub, "show"))
		return chat_show(g, &a);
	if (!strcmp(sub, "level"))
		return chat_level(g, &a);
	return cli_usage(
	    "chat", "unknown subcommand %s (list, send, show, level)", sub);
}
