/* SPDX-License-Identifier: MIT */
/*
 * qmail config: shows and changes the settings a person may tune without
 * touching an account: the level rules for new messages (default_level,
 * min_level) and the resource limits (message size, parts, MIME depth,
 * headers, key IDs, JSON depth, the web GUI's request bodies). Each limit
 * has a safe default and a hard ceiling; values outside are refused with
 * the allowed range. Also the global settings of the engine's table (the
 * web GUI's background sync, the person's OAuth2 clients, where account
 * discovery asks); a client secret is never printed in full. Needs no
 * passphrase.
 */
#include "cli.h"

#include <string.h>

static const char config_usage[] =
    "usage: qmail config list\n"
    "       qmail config get NAME\n"
    "       qmail config set NAME VALUE|default\n"
    "\n"
    "Shows and changes QMail's settings (global, for every account).\n"
    "\n"
    "Security levels (1 is the strongest, 4 the weakest):\n"
    "  default_level   the level of a message sent without --level: 1 to\n"
    "                  4, or default (0): each account's own level\n"
    "  min_level       never send below this level: 1 to 4, or none (0);\n"
    "                  a send or a --fallback-level below it is refused\n"
    "\n"
    "Resource limits: a limit may be lowered down to its minimum and\n"
    "raised up to its ceiling; `list` shows both with the default. Sizes\n"
    "take K, M or G (binary: 10M is 10 MiB). `set NAME default` goes back\n"
    "to the default. A change counts from the next sync, read or send (the\n"
    "web GUI: body limits from its next start or a change in its\n"
    "Settings).\n"
    "\n"
    "OAuth2 sign-in with your own client (docs/USING.md says how to\n"
    "register one): oauth.google.client_id, oauth.google.client_secret,\n"
    "oauth.microsoft.client_id, oauth.microsoft.client_secret,\n"
    "oauth.yahoo.client_id,\n"
    "oauth.yahoo.client_secret (a secret is never shown in full).\n"
    "\n"
    "Account discovery (`qmail account discover`), for tests and\n"
    "split-horizon DNS: discover.dns_server ADDRESS[:PORT] (one DNS server\n"
    "for every look-up), discover.https_port (autoconfig's HTTPS port),\n"
    "discover.ca_file (the CA of autoconfig servers).\n"
    "\n"
    "Examples: qmail config set min_level 2\n"
    "          qmail config set limit.parts 64\n";

/* 1 for the names of the level settings. */
static int is_level_setting(const char *name)
{
	return strcmp(name, QM_CLIENT_SET_DEFAULT_LEVEL) == 0 ||
	       strcmp(name, QM_CLIENT_SET_MIN_LEVEL) == 0;
}

/* The global setting of the engine's table named name, or -1 (the level
 * settings and the limits have their own code below). */
static int table_setting(const char *name, struct qm_client_setting_info *out)
{
	for (size_t i = 0; qm_client_setting_at(1, i, out) == 0; i++)
		if (strcmp(out->name, name) == 0)
			return 0;
	return -1;
}

/* `config list|get|set` of a setting of the engine's global table: a
 * secret one is never printed in full. */
static int config_table(struct cli *g, int argc, char **argv,
                        const struct qm_client_setting_info *s)
{
	char v[QM_STORE_PATHMAX], shown[16];
	struct qm_error e;

	qm_error_clear(&e);
	if (strcmp(argv[1], "set") == 0 &&
	    qm_client_setting_set(
	        g->client, 0, s->name,
	        strcmp(argv[3], "default") == 0 ? "" : argv[3], &e))
		return cli_fail(&e);
	if (qm_client_setting_get(g->client, 0, s->name, v, sizeof(v), NULL,
	                          &e))
		return cli_fail(&e);
	if (s->secret) {
		qm_client_setting_shown(v, shown, sizeof(shown));
		qm_strlcpy(v, shown, sizeof(v));
	}
	(void)argc;
	if (strcmp(argv[1], "get") == 0)
		printf("%s\n", cli_safe(v));
	else if (!g->quiet)
		printf("%s = %s\n", s->name, cli_safe(v));
	return QM_EXIT_OK;
}

/* "64 MiB" for sizes that are whole KiB or MiB, else the number. */
static void human(const struct qm_client_limit *l, uint64_t v, char *out,
                  size_t n)
{
	if (strcmp(l->unit, "bytes") == 0 && v && v % (1024 * 1024) == 0)
		snprintf(out, n, "%lluM", (unsigned long long)(v >> 20));
	else if (strcmp(l->unit, "bytes") == 0 && v && v % 1024 == 0)
		snprintf(out, n, "%lluK", (unsigned long long)(v >> 10));
	else
		snprintf(out, n, "%llu", (unsigned long long)v);
}

static int config_list(struct cli *g)
{
	struct qm_error e;

	printf("%-20s %-10s %-10s %-17s %s\n", "NAME", "VALUE", "DEFAULT",
	       "RANGE", "WHAT");
	for (int i = 0; i < 2; i++) {
		const char *name =
		    i ? QM_CLIENT_SET_MIN_LEVEL : QM_CLIENT_SET_DEFAULT_LEVEL;
		char v[24];
		int x = 0;

		qm_error_clear(&e);
		if (qm_client_level_setting_get(g->client, name, &x, &e))
			return cli_fail(&e);
		snprintf(v, sizeof(v), "%d%s", x, x ? "*" : "");
		printf("%-20s %-10s %-10s %-17s %s\n", name, v, "0", "0..4",
		       i ? "never send below this level (1 strongest, 4 "
		           "weakest; 0: no floor)"
		         : "level of a message sent without one (0: each "
		           "account's own)");
	}
	for (size_t i = 0; i < qm_client_limit_count(); i++) {
		const struct qm_client_limit *l = qm_client_limit_at(i);
		char v[24], d[24], lo[24], hi[24], range[50];
		uint64_t x;
		int set = 0;

		qm_error_clear(&e);
		if (qm_client_limit_get(g->client, l->name, &x, &set, &e))
			return cli_fail(&e);
		human(l, x, v, sizeof(v));
		if (set)
			qm_strlcpy(v + strlen(v), "*", sizeof(v) - strlen(v));
		human(l, l->def, d, sizeof(d));
		human(l, l->min, lo, sizeof(lo));
		human(l, l->ceiling, hi, sizeof(hi));
		snprintf(range, sizeof(range), "%s..%s", lo, hi);
		printf("%-20s %-10s %-10s %-17s %s (%s)\n", l->name, v, d,
		       range, l->what, l->unit);
	}
	for (size_t i = 0;; i++) {
		struct qm_client_setting_info s;
		char v[QM_STORE_PATHMAX], shown[16];
		int set = 0;

		if (qm_client_setting_at(1, i, &s))
			break;
		qm_error_clear(&e);
		if (qm_client_setting_get(g->client, 0, s.name, v, sizeof(v),
		                          &set, &e))
			return cli_fail(&e);
		if (s.secret) {
			qm_client_setting_shown(v, shown, sizeof(shown));
			qm_strlcpy(v, shown, sizeof(v));
		}
		if (set)
			qm_strlcpy(v + strlen(v), "*", sizeof(v) - strlen(v));
		printf("%-20s %-10s %-10s %-17s %s\n", s.name, cli_safe(v),
		       s.def[0] ? s.def : "-", s.values, s.what);
	}
	printf("\n* set by you; the others are the defaults.\n");
	return QM_EXIT_OK;
}

int cli_cmd_config(struct cli *g, int argc, char **argv)
{
	struct qm_client_setting_info info;
	struct qm_error e;
	uint64_t v;
	int rc;

	if (argc < 2 || cli_is_help(argv[1])) {
		fputs(config_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? QM_EXIT_USAGE : QM_EXIT_OK;
	}
	if (strcmp(argv[1], "list") != 0 && strcmp(argv[1], "get") != 0 &&
	    strcmp(argv[1], "set") != 0)
		return cli_usage(
		    "config", "unknown action %s: list, get or set", argv[1]);
	if (strcmp(argv[1], "list") == 0 && argc != 2)
		return cli_usage("config", "list takes no arguments");
	if (strcmp(argv[1], "get") == 0 && argc != 3)
		return cli_usage("config", "get takes one NAME");
	if (strcmp(argv[1], "set") == 0 && argc != 4)
		return cli_usage("config", "set takes NAME and VALUE");
	if (argc > 2 && !qm_client_limit_find(argv[2]) &&
	    !is_level_setting(argv[2]) && table_setting(argv[2], &info))
		return cli_usage("config",
		                 "there is no setting %s (`qmail config list` "
		                 "shows them)",
		                 argv[2]);
	if ((rc = cli_open(g)))
		return rc;
	if (strcmp(argv[1], "list") == 0)
		return config_list(g);
	if (table_setting(argv[2], &info) == 0)
		return config_table(g, argc, argv, &info);
	qm_error_clear(&e);
	if (is_level_setting(argv[2])) {
		int x = 0;

		if (strcmp(argv[1], "set") == 0 &&
		    qm_client_level_setting_set(g->client, argv[2], argv[3],
		                                &e))
			return cli_fail(&e);
		if (qm_client_level_setting_get(g->client, argv[2], &x, &e))
			return cli_fail(&e);
		if (strcmp(argv[1], "get") == 0)
			printf("%d\n", x);
		else if (!g->quiet)
			printf("%s = %d\n", argv[2], x);
		return QM_EXIT_OK;
	}
	if (strcmp(argv[1], "set") == 0) {
		if (qm_client_limit_set(g->client, argv[2], argv[3], &e))
			return cli_fail(&e);
	}
	if (qm_client_limit_get(g->client, argv[2], &v, NULL, &e))
		return cli_fail(&e);
	if (strcmp(argv[1], "get") == 0)
		printf("%llu\n", (unsigned long long)v);
	else if (!g->quiet)
		printf("%s = %llu\n", argv[2], (unsigned long long)v);
	return QM_EXIT_OK;
}
