/* SPDX-License-Identifier: MIT */
/*
 * qmail: the QMail command line. Global options, the subcommand table,
 * passphrase input, error reporting with documented exit codes, and the
 * terminal progress bar.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* The version comes from the build (CMakeLists.txt, project()). */
#ifndef QM_VERSION
#define QM_VERSION "unknown"
#endif

static const char usage_text[] =
    "usage: qmail [--home DIR] [-q] COMMAND [ARGS]\n"
    "\n"
    "QMail: e-mail encrypted with keys from a Quantum Key Distribution key\n"
    "manager (ETSI GS QKD 014), sent through ordinary mail servers.\n"
    "\n"
    "Commands (each has --help):\n"
    "  init             create the QMail home and its passphrase-protected "
    "vault\n"
    "  account          add | list | remove | test | get | set: mail accounts "
    "(gmail, outlook,\n"
    "                   yahoo presets) and their settings (folders synced, "
    "delete, ...)\n"
    "  contact          add | list | confirm contacts and their SAE IDs;\n"
    "                   import | export them as vCard (also `contacts`)\n"
    "  identity         add | list | remove | default From addresses and "
    "signatures\n"
    "  send             encrypt and send a message at security level 1-4\n"
    "  reply, forward   answer or pass on a message\n"
    "  sync             fetch new mail (IMAP or POP3), decrypt and verify it\n"
    "  list             list messages of a folder (--threads, --sort)\n"
    "  folders          the account's folders with unread counts\n"
    "  folder           create | rename | delete a folder on the server\n"
    "  flag ID          mark read/unread, flagged, junk (on the server)\n"
    "  move, copy ID F  move or copy a message to folder F\n"
    "  archive, junk,   file a message in Archive, Junk or back in INBOX\n"
    "  unjunk ID\n"
    "  delete ID        move a message to Trash (from Trash: for good)\n"
    "  search --server  search a folder on the IMAP server\n"
    "  export           readable mail to an mbox file or a Maildir\n"
    "  import           mail from an mbox file or a Maildir, as plain mail\n"
    "  chat             list | send | show | open | level | add | remove |\n"
    "                   receipts: chat over QMail, files with send --attach\n"
    "                   (docs/CHAT.md)\n"
    "  read ID          show a message (--raw, --save-attachments DIR)\n"
    "  retry ID         try once more to open an unreadable or waiting "
    "message\n"
    "  outbox           list | retry | run the outbox\n"
    "  keys             own fingerprint, export, import, verify contacts' "
    "keys\n"
    "  kme status       key pool, key rate and QBER alarm of the account's "
    "KME\n"
    "  kme route ADDR   the KMEs keys for a contact pass through (trusted "
    "nodes)\n"
    "  kme network      the KMEs and links of the account's QKD network\n"
    "  passwd           change the vault passphrase\n"
    "  unlock, lock     unlock once for the session (--for 15m), or forget "
    "it\n"
    "  config           list | get | set resource limits (message size, parts, "
    "...)\n"
    "  web              serve the web GUI on 127.0.0.1\n"
    "\n"
    "Options:\n"
    "  --home DIR   QMail data folder (default $QMAIL_HOME, else\n"
    "               $XDG_DATA_HOME/qmail, else ~/.local/share/qmail)\n"
    "  -q           no progress output\n"
    "  --version    print the version\n"
    "\n"
    "The vault passphrase is read from the terminal, or from the file named\n"
    "by $QMAIL_PASSPHRASE_FILE, or from $QMAIL_PASSPHRASE (for scripts);\n"
    "after `qmail unlock`, from the agent until it times out or `qmail lock`.\n"
    "\n"
    "Exit codes: 0 success; 1 error; 2 bad command line; 3 wrong passphrase,\n"
    "vault locked or login refused; 4 a server or the KME could not be\n"
    "reached (nothing lost: try again later); 5 tampered, replayed or\n"
    "unverifiable mail; 6 the security level cannot be used now.\n";

struct command {
	const char *name;
	cli_cmd_fn fn;
};

static const struct command commands[] = {
    {"init", cli_cmd_init},        {"account", cli_cmd_account},
    {"contact", cli_cmd_contact},  {"send", cli_cmd_send},
    {"reply", cli_cmd_reply},      {"forward", cli_cmd_forward},
    {"sync", cli_cmd_sync},        {"list", cli_cmd_list},
    {"read", cli_cmd_read},        {"outbox", cli_cmd_outbox},
    {"keys", cli_cmd_keys},        {"kme", cli_cmd_kme},
    {"web", cli_cmd_web},          {"passwd", cli_cmd_passwd},
    {"config", cli_cmd_config},    {"retry", cli_cmd_retry},
    {"folders", cli_cmd_folders},  {"folder", cli_cmd_folder},
    {"flag", cli_cmd_flag},        {"move", cli_cmd_move},
    {"copy", cli_cmd_copy},        {"archive", cli_cmd_archive},
    {"junk", cli_cmd_junk},        {"unjunk", cli_cmd_unjunk},
    {"delete", cli_cmd_delete},    {"search", cli_cmd_search},
    {"export", cli_cmd_export},    {"identity", cli_cmd_identity},
    {"contacts", cli_cmd_contact}, {"import", cli_cmd_import},
    {"unlock", cli_cmd_unlock},    {"lock", cli_cmd_lock},
    {"chat", cli_cmd_chat},
};

int cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_exit_for(enum qm_err code)
{
	switch (code) {
	case QM_OK:
		return QM_EXIT_OK;
	case QM_ERR_DENIED:
	case QM_ERR_LOCKED:
		return QM_EXIT_DENIED;
	case QM_ERR_NET:
	case QM_ERR_TIMEOUT:
	case QM_ERR_TLS:
		return QM_EXIT_NET;
	case QM_ERR_AUTH:
	case QM_ERR_REPLAY:
		return QM_EXIT_SECURITY;
	case QM_ERR_UNAVAIL:
		return QM_EXIT_UNAVAIL;
	case QM_ERR_INVAL:
		return QM_EXIT_USAGE;
	default:
		return QM_EXIT_ERROR;
	}
}

void cli_hint_text(int hint, const char *arg, char *out, size_t outlen)
{
	const char *a = arg && *arg ? cli_safe(arg) : "ADDR";

	switch (hint) {
	case QM_HINT_VAULT_LOCKED:
		snprintf(out, outlen, "give the passphrase on the terminal, "
		                      "or in $QMAIL_PASSPHRASE_FILE");
		break;
	case QM_HINT_NO_ACCOUNT:
		snprintf(out, outlen, "add one with `qmail account add`");
		break;
	case QM_HINT_ACCOUNT_KME:
		snprintf(out, outlen,
		         "an account gets its KME with the --kme, --kme-ca, "
		         "--kme-cert, --kme-key and --sae options of `qmail "
		         "account add` (see `qmail account add --help`)");
		break;
	case QM_HINT_CONTACT_SAE_MISSING:
		snprintf(out, outlen, "run `qmail contact add %s --sae ID`", a);
		break;
	case QM_HINT_CONTACT_SAE_UNCONFIRMED:
		snprintf(out, outlen, "run `qmail contact confirm %s`", a);
		break;
	case QM_HINT_KEY_MISSING:
		snprintf(out, outlen,
		         "the key comes with the first message %s sends you; "
		         "or import the key %s sent you with `qmail keys "
		         "import FILE --address %s`",
		         a, a, a);
		break;
	case QM_HINT_KEY_CHANGED:
		snprintf(out, outlen,
		         "`qmail keys safety %s` shows the number for the new "
		         "key; compare it with %s, then run `qmail keys verify "
		         "%s 'NUMBER' --accept-new-key`",
		         a, a, a);
		break;
	case QM_HINT_PLAIN:
		snprintf(out, outlen,
		         "add --plain to send it to %s unencrypted, as ordinary "
		         "mail anyone on the way can read (the other recipients "
		         "still get it encrypted); or import the key %s sent "
		         "you with `qmail keys import FILE --address ADDR`",
		         arg && *arg ? cli_safe(arg) : "them",
		         arg && *arg && strchr(arg, ',') ? "each of them"
		                                         : "the recipient");
		break;
	case QM_HINT_LIMIT_REACHED:
		snprintf(out, outlen, "raise it with `qmail config set %s N`",
		         arg && *arg ? cli_safe(arg) : "NAME");
		break;
	case QM_HINT_SIGN_IN:
		snprintf(out, outlen,
		         "sign in to %s again: qmail account signin %s", a, a);
		break;
	case QM_HINT_LIMIT_UNKNOWN:
	case QM_HINT_SETTING_UNKNOWN:
		snprintf(out, outlen, "`qmail config list` shows them");
		break;
	default:
		if (outlen)
			out[0] = '\0';
	}
}

void cli_hint(const struct qm_error *e)
{
	char hint[QM_ERR_MSGMAX + QM_ERR_ARGMAX * 3];

	cli_hint_text(e->hint, e->hint_arg, hint, sizeof(hint));
	if (hint[0])
		fprintf(stderr, "qmail: hint: %s\n", hint);
}

int cli_fail(const struct qm_error *e)
{
	/* an error may quote a server or a message: shown safely */
	fprintf(stderr, "qmail: %s\n", cli_safe(qm_error_msg(e)));
	cli_hint(e);
	return cli_exit_for(e->code);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "qmail %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see `qmail %s --help`)\n", cmd);
	return QM_EXIT_USAGE;
}

int cli_open(struct cli *g)
{
	struct qm_client_opts o;
	struct qm_error e;

	if (g->client)
		return 0;
	memset(&o, 0, sizeof(o));
	o.home = g->home;
	qm_error_clear(&e);
	if (qm_client_open(&o, &g->client, &e))
		return cli_fail(&e);
	return 0;
}

/* Reads one line from the terminal without echo into out. */
static int read_tty(const char *prompt, struct qm_buf *out)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
	char c;
	int rc = 0;

	if (fd < 0) {
		fprintf(stderr, "qmail: no terminal to ask for the passphrase: "
		                "set QMAIL_PASSPHRASE_FILE\n");
		return -1;
	}
	if (write(fd, prompt, strlen(prompt)) < 0) {
		close(fd);
		return -1;
	}
	tcgetattr(fd, &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fd, TCSAFLUSH, &quiet);
	for (;;) {
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n')
			break;
		if (qm_buf_append_byte(out, (unsigned char)c, NULL)) {
			rc = -1;
			break;
		}
	}
	qm_wipe(&c, sizeof(c));
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0)
		rc = -1;
	close(fd);
	return rc;
}

int cli_passphrase(const char *prompt, int confirm, struct qm_buf *out)
{
	return cli_passphrase_from("QMAIL_PASSPHRASE_FILE", "QMAIL_PASSPHRASE",
	                           prompt, confirm, out);
}

int cli_passphrase_from(const char *file_var, const char *env_var,
                        const char *prompt, int confirm, struct qm_buf *out)
{
	const char *file = getenv(file_var);
	const char *env = env_var ? getenv(env_var) : NULL;
	struct qm_error e;

	if (file && *file) {
		qm_error_clear(&e);
		if (qm_file_read(file, 4096, out, &e))
			return cli_fail(&e) ? -1 : -1;
		while (out->len && (out->data[out->len - 1] == '\n' ||
		                    out->data[out->len - 1] == '\r'))
			out->data[--out->len] = '\0';
		return 0;
	}
	if (env && *env)
		return qm_buf_append_str(out, env, NULL) ? -1 : 0;
	if (read_tty(prompt, out))
		return -1;
	if (confirm) {
		struct qm_buf again;
		int same;

		qm_buf_init_secure(&again, 4096);
		if (read_tty("Repeat the passphrase: ", &again)) {
			qm_buf_free(&again);
			return -1;
		}
		same = again.len == out->len &&
		       (out->len == 0 ||
		        qm_ct_eq(again.data, out->data, out->len) == 0);
		qm_buf_free(&again);
		if (!same) {
			fprintf(stderr, "qmail: the passphrases differ\n");
			return -1;
		}
	}
	return 0;
}

int cli_unlock_from_agent(struct cli *g)
{
	unsigned char *key = qm_sec_alloc(QM_CLIENT_UNLOCK_KEYBYTES);
	struct qm_error e;
	int rc = -1;

	if (!key)
		return -1;
	if (cli_agent_key(qm_client_home(g->client), key) == 0) {
		qm_error_clear(&e);
		/* a key refused (the passphrase was changed since) falls
		 * back to the passphrase */
		rc = qm_client_unlock_key(g->client, key,
		                          QM_CLIENT_UNLOCK_KEYBYTES, &e)
		         ? -1
		         : 0;
	}
	qm_sec_free(key);
	return rc;
}

int cli_open_unlocked(struct cli *g)
{
	struct qm_buf pass;
	struct qm_error e;
	int rc;

	if ((rc = cli_open(g)))
		return rc;
	if (qm_client_unlocked(g->client))
		return 0;
	if (!qm_client_initialised(g->client)) {
		fprintf(stderr, "qmail: no vault in %s yet: run `qmail init` "
		                "first\n",
		        qm_client_home(g->client));
		return QM_EXIT_DENIED;
	}
	if (cli_unlock_from_agent(g) == 0)
		return 0;
	qm_buf_init_secure(&pass, 4096);
	if (cli_passphrase("QMail passphrase: ", 0, &pass)) {
		qm_buf_free(&pass);
		return QM_EXIT_DENIED;
	}
	qm_error_clear(&e);
	rc = qm_client_unlock(g->client, pass.data ? (char *)pass.data : "",
	                      pass.len, &e)
	             ? cli_fail(&e)
	             : 0;
	qm_buf_free(&pass);
	return rc;
}

int cli_account_pick(struct cli *g, const char *address, int64_t *id)
{
	struct qm_store_account *as = NULL, a;
	struct qm_error e;
	size_t n = 0;

	qm_error_clear(&e);
	if (address) {
		if (qm_client_account_find(g->client, address, &a, &e))
			return cli_fail(&e);
		*id = a.id;
		return 0;
	}
	if (qm_client_account_list(g->client, &as, &n, &e))
		return cli_fail(&e);
	if (n == 0) {
		free(as);
		fprintf(stderr, "qmail: no account yet: add one with `qmail "
		                "account add --help`\n");
		return QM_EXIT_ERROR;
	}
	*id = as[0].id;
	free(as);
	return 0;
}

struct progress_state {
	struct cli *g;
	int shown;
};

static struct progress_state pstate;

void cli_progress(void *arg, const char *what, uint64_t done, uint64_t total)
{
	struct cli *g = arg;
	char bar[31];
	size_t fill;

	if (g->quiet || !isatty(2))
		return;
	pstate.shown = 1;
	if (total == 0) {
		fprintf(stderr, "\r%-10s %llu", what, (unsigned long long)done);
		return;
	}
	fill = (size_t)(done * 30 / total);
	if (fill > 30)
		fill = 30;
	memset(bar, '#', fill);
	memset(bar + fill, '.', 30 - fill);
	bar[30] = '\0';
	fprintf(stderr, "\r%-10s [%s] %3u%% (%llu/%llu)", what, bar,
	        (unsigned)(done * 100 / total), (unsigned long long)done,
	        (unsigned long long)total);
}

void cli_progress_end(struct cli *g)
{
	(void)g;
	if (pstate.shown)
		fputc('\n', stderr);
	pstate.shown = 0;
}

static void log_to_stderr(enum qm_log_level level, const char *line,
                          void *arg)
{
	static const char *const names[] = {"debug", "info", "warning",
	                                    "error"};

	(void)arg;
	fprintf(stderr, "qmail: %s: %s\n", names[level], line);
}

int main(int argc, char **argv)
{
	struct cli g;
	int i = 1, rc;

	memset(&g, 0, sizeof(g));
	qm_log_set_sink(log_to_stderr, NULL,
	                getenv("QMAIL_DEBUG") ? QM_LOG_DEBUG : QM_LOG_WARN);
	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
			g.home = argv[i + 1];
			i += 2;
		} else if (strncmp(argv[i], "--home=", 7) == 0) {
			g.home = argv[i] + 7;
			i++;
		} else if (strcmp(argv[i], "-q") == 0) {
			g.quiet = 1;
			i++;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("qmail %s\n", QM_VERSION);
			return 0;
		} else if (cli_is_help(argv[i])) {
			fputs(usage_text, stdout);
			return 0;
		} else {
			fprintf(stderr, "qmail: unknown option %s\n%s", argv[i],
			        usage_text);
			return QM_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return QM_EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc) {
			char *h[] = {argv[i + 1], "--help", NULL};
			for (size_t k = 0; k < sizeof(commands) / sizeof(*commands);
			     k++)
				if (strcmp(commands[k].name, argv[i + 1]) == 0)
					return commands[k].fn(&g, 2, h);
		}
		fputs(usage_text, stdout);
		return 0;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(*commands); k++) {
		if (strcmp(commands[k].name, argv[i]) == 0) {
			rc = commands[k].fn(&g, argc - i, argv + i);
			qm_client_free(&g.client);
			cli_safe_wipe();
			return rc;
		}
	}
	fprintf(stderr, "qmail: unknown command \"%s\"\n%s", argv[i],
	        usage_text);
	return QM_EXIT_USAGE;
}
