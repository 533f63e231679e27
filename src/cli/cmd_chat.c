/* SPDX-License-Identifier: MIT */
/*
 * `qmail chat`: conversations over QMail messages (docs/CHAT.md), the
 * engine's chat calls for the command line: list, send, show, level.
 * Everything a conversation holds came from outside and is printed
 * through cli_safe / cli_put_text.
 */
#include <libgen.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define CHAT_ADDRS_MAX 64
#define CHAT_ATT_MAX   8

static const char chat_help[] =
    "usage: qmail chat list [--account ADDR]\n"
    "       qmail chat send ADDR... [-m TEXT] [--attach FILE]... [--level N]\n"
    "                 [--account ADDR]\n"
    "       qmail chat show ADDR... [--keep-unread] [--account ADDR]\n"
    "       qmail chat level ADDR... N [--account ADDR]\n"
    "       qmail chat open ADDR... [--level N] [--account ADDR]\n"
    "       qmail chat add GROUP ADDR\n"
    "       qmail chat remove GROUP ADDR\n"
    "       qmail chat receipts ADDR... on|off [--account ADDR]\n"
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
    "          weaker level (a higher N) is refused until `chat level`;\n"
    "          --attach FILE sends a file with it (repeat; -m may then be\n"
    "          left out), bounded as a mail's attachments\n"
    "  show    a conversation's messages, oldest first, with time, sender,\n"
    "          level and, for yours, delivery state; marks them read\n"
    "          (--keep-unread: not)\n"
    "  level   change the level a conversation is held to (1 strongest)\n"
    "  open    a line mode: the conversation, then each line typed is\n"
    "          sent (Enter) and messages that arrive are shown as they\n"
    "          come (IMAP IDLE); Ctrl-D leaves\n"
    "  add     add ADDR to a group: the change is a chat message to the\n"
    "          members (the new one included), who apply it\n"
    "  remove  remove ADDR from a group (your own address: leave it); the\n"
    "          change goes to the members and to the one removed, and\n"
    "          later messages to the members left only\n"
    "  receipts  on: opening the conversation (show, open, the GUI)\n"
    "          sends its members a read receipt for the messages it\n"
    "          marks read; off (the default): never\n"
    "\n"
    "A conversation can be named by its ID (the ID column of `chat list`)\n"
    "instead of ADDR...: GROUP is such an ID.\n";

/* The options of a chat subcommand. */
struct chat_args {
	const char *account;
	const char *text;
	long long level;
	int keep_unread;
	const char *addrs[CHAT_ADDRS_MAX];
	size_t naddrs;
	const char *att[CHAT_ATT_MAX];
	size_t natt;
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
		} else if (!strcmp(o, "--attach") && i + 1 < argc) {
			if (a->natt == CHAT_ATT_MAX)
				return cli_usage("chat",
				                 "at most %d attachments",
				                 CHAT_ATT_MAX);
			a->att[a->natt++] = argv[++i];
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

/* The conversation ID a lone numeric argument names (0: addresses). */
static int64_t conv_id_arg(const struct chat_args *a)
{
	long long id;

	if (a->naddrs != 1 ||
	    qm_parse_ll(a->addrs[0], 1, INT64_MAX, &id, NULL) != QM_OK)
		return 0;
	return (int64_t)id;
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
		       : v[i].removed ? "  [you are no member any more]"
		                      : "");
	}
	free(v);
	return 0;
}

/* A MIME type for a file sent in chat from its name (the engine shows an
 * image inline by its bytes, whatever this says). */
static const char *att_type(const char *name)
{
	static const char *const map[][2] = {
	    {".png", "image/png"},   {".jpg", "image/jpeg"},
	    {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
	    {".webp", "image/webp"}, {".pdf", "application/pdf"},
	    {".txt", "text/plain"},  {".zip", "application/zip"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(dot, map[i][0]) == 0)
			return map[i][1];
	return "application/octet-stream";
}

static int chat_send(struct cli *g, const struct chat_args *a)
{
	struct qm_client_attachment att[CHAT_ATT_MAX];
	char names[CHAT_ATT_MAX][256];
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_error e;
	int64_t acct;
	int rc;

	if (!a->naddrs)
		return cli_usage("chat",
		                 "send: give the participants' addresses");
	if ((!a->text || !*a->text) && !a->natt)
		return cli_usage("chat", "send: give the text with -m TEXT "
		                         "or a file with --attach FILE");
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, a->account, &acct)))
		return rc;
	memset(&m, 0, sizeof(m));
	m.account_id = acct;
	m.to = a->addrs;
	m.nto = a->naddrs;
	m.text = a->text ? a->text : "";
	m.level = (int)a->level;
	m.chat_id = conv_id_arg(a);
	memset(att, 0, sizeof(att));
	for (size_t i = 0; i < a->natt; i++) {
		char tmp[1024];

		qm_strlcpy(tmp, a->att[i], sizeof(tmp));
		qm_strlcpy(names[i], basename(tmp), sizeof(names[i]));
		att[i].name = names[i];
		att[i].type = att_type(names[i]);
		att[i].path =
		    a->att[i]; /* read as it is written: never whole */
	}
	m.att = att;
	m.natt = a->natt;
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
	if (conv_id_arg(a)
	        ? qm_client_chat_get(g->client, conv_id_arg(a), conv, &e)
	        : qm_client_chat_find(g->client, acct, a->addrs, a->naddrs,
	                              conv, &e))
		return cli_fail(&e);
	return 0;
}

/* Prints conversation chat_id's messages with an id past *last (0: all),
 * oldest first; *last moves to the newest printed. */
static int print_msgs(struct cli *g, int64_t chat_id, int64_t *last)
{
	struct qm_client_chat_item *v = NULL;
	struct qm_error e;
	size_t n = 0;

	qm_error_clear(&e);
	if (qm_client_chat_messages(g->client, chat_id, &v, &n, &e))
		return cli_fail(&e);
	for (size_t i = 0; i < n; i++) {
		char when[32];

		if (v[i].id <= *last)
			continue;
		fmt_time(v[i].at, when, sizeof(when));
		if (v[i].kind != QM_CHAT_TEXT) {
			/* a membership change: a line of its own */
			printf("%s  * %s %s ", when,
			       v[i].mine ? "you" : cli_safe(v[i].sender),
			       v[i].kind == QM_CHAT_MEMBER_ADDED ? "added"
			                                         : "removed");
			printf("%s (L%d%s%s)\n", cli_safe(v[i].text),
			       v[i].level, v[i].mine ? ", " : "",
			       v[i].mine ? v[i].state : "");
			*last = v[i].id;
			continue;
		}
		printf("%s  %s  L%d  %s\n", when,
		       v[i].mine ? "me" : cli_safe(v[i].sender), v[i].level,
		       v[i].mine && v[i].read_at ? "read by them"
		       : v[i].mine               ? v[i].state
		       : v[i].seen               ? "read"
		                                 : "new");
		if (v[i].text[0]) {
			fputs("  ", stdout);
			cli_put_text(stdout, v[i].text);
			fputc('\n', stdout);
		}
		for (size_t k = 0; k < v[i].nfiles; k++)
			printf("  [%s %zu] %s (%llu bytes, %s)\n",
			       v[i].files[k].image ? "image" : "file", k + 1,
			       cli_safe(v[i].files[k].name),
			       (unsigned long long)v[i].files[k].size,
			       cli_safe(v[i].files[k].type));
		*last = v[i].id;
	}
	qm_client_chat_items_free(&v, n);
	fflush(stdout);
	return 0;
}

static void print_head(const struct qm_store_chat *conv)
{
	printf("conversation %lld with %s%s, level %d (%s)%s\n",
	       (long long)conv->id, conv->group_id[0] ? "the group " : "",
	       cli_safe(conv->members), conv->level,
	       qm_client_level_badge(conv->level),
	       conv->removed ? "; you are no member any more" : "");
}

static int chat_show(struct cli *g, const struct chat_args *a)
{
	struct qm_store_chat conv;
	struct qm_error e;
	int64_t last = 0;
	int rc;

	if ((rc = chat_pick(g, a, &conv)))
		return rc;
	print_head(&conv);
	if ((rc = print_msgs(g, conv.id, &last)))
		return rc;
	qm_error_clear(&e);
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

static int chat_receipts(struct cli *g, struct chat_args *a)
{
	struct qm_store_chat conv;
	struct qm_error e;
	const char *w = a->naddrs ? a->addrs[a->naddrs - 1] : "";
	int on = !strcmp(w, "on");

	if (a->naddrs < 2 || (!on && strcmp(w, "off")))
		return cli_usage("chat", "receipts: give the participants' "
		                         "addresses and then on or off");
	a->naddrs--;
	if (chat_pick(g, a, &conv))
		return 1;
	qm_error_clear(&e);
	if (qm_client_chat_receipts_set(g->client, conv.id, on, &e))
		return cli_fail(&e);
	printf("conversation %lld: read receipts %s\n", (long long)conv.id,
	       on ? "sent when you read it" : "never sent");
	return 0;
}

/* chat open: the conversation of a->addrs (NULL conv: none yet), then
 * each line typed sent and each message that comes shown. */
struct open_state {
	struct cli *g;
	const struct chat_args *a;
	int64_t acct;
	int64_t chat_id; /* 0: no conversation yet */
	int64_t last;    /* the newest message shown */
	struct qm_client_watch *w;
};

/* Shows what is new in the conversation (found once it exists) and marks
 * it read. */
static void open_refresh(struct open_state *o)
{
	struct qm_store_chat conv;
	struct qm_error e;

	qm_error_clear(&e);
	if (!o->chat_id) {
		if (conv_id_arg(o->a)
		        ? qm_client_chat_get(o->g->client, conv_id_arg(o->a),
		                             &conv, &e)
		        : qm_client_chat_find(o->g->client, o->acct,
		                              o->a->addrs, o->a->naddrs, &conv,
		                              &e))
			return;
		o->chat_id = conv.id;
		print_head(&conv);
	}
	if (print_msgs(o->g, o->chat_id, &o->last) == 0 &&
	    qm_client_chat_read(o->g->client, o->chat_id, NULL, &e))
		cli_fail(&e);
}

/* Sends one typed line (without its newline). */
static void open_send(struct open_state *o, const char *line)
{
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_error e;

	memset(&m, 0, sizeof(m));
	m.account_id = o->acct;
	m.to = o->a->addrs;
	m.nto = o->a->naddrs;
	m.text = line;
	m.level = (int)o->a->level;
	m.chat_id = conv_id_arg(o->a);
	qm_error_clear(&e);
	if (qm_client_chat_send(o->g->client, &m, &out, &e)) {
		cli_fail(&e);
		if (e.code == QM_ERR_STATE)
			fprintf(stderr, "qmail: `qmail chat level ADDR... N` "
			                "changes the conversation's level\n");
	}
	open_refresh(o);
}

/* A sync of the account, quiet; a failure is said and the line mode
 * goes on. */
static void open_sync(struct open_state *o)
{
	struct qm_client_sync_all out;
	struct qm_error e;

	qm_error_clear(&e);
	if (qm_client_sync_all(o->g->client, o->acct, NULL, NULL, NULL, &out,
	                       &e))
		cli_fail(&e);
	else if (out.first_error[0])
		fprintf(stderr, "qmail: %s\n", cli_safe(out.first_error));
	open_refresh(o);
}

/* Waits for a typed line or for mail: IMAP IDLE with standard input as
 * the wake-up, on one watch kept open (each change is news once); without
 * IMAP (POP3) or after a network error, a sync every 30 s. *typed 1 when
 * a line can be read, *mail 1 when mail came. */
static void open_wait(struct open_state *o, int *typed, int *mail)
{
	struct pollfd p = {.fd = 0, .events = POLLIN};
	struct qm_error e;
	int news = 0, woken = 0;
	enum qm_err rc = QM_OK;

	*typed = *mail = 0;
	qm_error_clear(&e);
	if (!o->w)
		rc = qm_client_watch_open(o->g->client, o->acct, 0, &o->w, &e);
	if (!rc)
		rc = qm_client_watch_wait(o->w, 120000, &news, &woken, &e);
	if (rc) {
		qm_client_watch_free(&o->w);
		if (e.code != QM_ERR_UNSUPPORTED)
			cli_fail(&e);
		news = poll(&p, 1, 30000) <= 0;
	}
	*mail = news;
	/* a line typed while mail kept coming is not left waiting */
	*typed = woken || poll(&p, 1, 0) > 0;
}

static int chat_open(struct cli *g, const struct chat_args *a)
{
	struct open_state o = {.g = g, .a = a};
	char *line = NULL;
	size_t cap = 0;
	int rc;

	if (!a->naddrs)
		return cli_usage("chat", "open: give the participants' "
		                         "addresses");
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, a->account, &o.acct)))
		return rc;
	open_refresh(&o);
	if (!o.chat_id)
		printf("no conversation with them yet: the first line you "
		       "send starts it\n");
	printf("-- type a line and Enter to send it; Ctrl-D leaves --\n");
	fflush(stdout);
	for (;;) {
		int typed, mail;
		ssize_t len;

		open_wait(&o, &typed, &mail);
		if (mail)
			open_sync(&o);
		if (!typed)
			continue;
		if ((len = getline(&line, &cap, stdin)) < 0)
			break;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len)
			open_send(&o, line);
	}
	qm_client_watch_free(&o.w);
	if (line) {
		qm_wipe(line, cap);
		free(line);
	}
	return 0;
}

/* chat add | remove GROUP ADDR: a membership change (docs/CHAT.md
 * "Groups"), itself a chat message of the group. */
static int chat_member(struct cli *g, struct chat_args *a, int add)
{
	struct qm_store_chat conv;
	struct qm_client_chat_sent out;
	struct qm_error e;
	const char *who;
	int rc;

	if (a->naddrs != 2)
		return cli_usage("chat",
		                 "%s: give the group (its ID in `chat list`) "
		                 "and one address",
		                 add ? "add" : "remove");
	who = a->addrs[1];
	a->naddrs = 1;
	if (!conv_id_arg(a))
		return cli_usage("chat",
		                 "%s: the group is its ID in `chat list`, not "
		                 "\"%s\"",
		                 add ? "add" : "remove", cli_safe(a->addrs[0]));
	if ((rc = chat_pick(g, a, &conv)))
		return rc;
	qm_error_clear(&e);
	rc = (add ? qm_client_chat_member_add(g->client, conv.id, who, &out, &e)
	          : qm_client_chat_member_remove(g->client, conv.id, who, &out,
	                                         &e))
	         ? cli_fail(&e)
	         : 0;
	if (out.warning[0])
		fprintf(stderr,
		        "qmail: warning: %s (`qmail keys verify` once "
		        "you compared them)\n",
		        cli_safe(out.warning));
	if (!out.chat_id)
		return rc;
	printf("you %s %s %s the group (conversation %lld); the change %s at "
	       "level %d (%s)\n",
	       add ? "added" : "removed", cli_safe(who), add ? "to" : "from",
	       (long long)conv.id, rc ? "waits in the outbox" : "went",
	       out.level, qm_client_level_badge(out.level));
	return rc;
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
	if (!strcmp(sub, "receipts"))
		return chat_receipts(g, &a);
	if (!strcmp(sub, "level"))
		return chat_level(g, &a);
	if (!strcmp(sub, "open"))
		return chat_open(g, &a);
	if (!strcmp(sub, "add") || !strcmp(sub, "remove"))
		return chat_member(g, &a, sub[0] == 'a');
	return cli_usage("chat",
	                 "unknown subcommand %s (list, send, show, open, "
	                 "level, add, remove, receipts)",
	                 sub);
}
