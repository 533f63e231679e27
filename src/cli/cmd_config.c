/* SPDX-License-Identifier: MIT */
/*
 * qmail config: shows and changes the settings a person may tune without
 * touching an account, today the resource limits (message size, parts,
 * MIME depth, headers, key IDs, JSON depth, the web GUI's request bodies).
 * Each has a safe default and a hard ceiling; values outside are refused
 * with the allowed range. Needs no passphrase: no secret is involved.
 */
#include "cli.h"

#include <string.h>

static const char config_usage[] =
    "usage: qmail config list\n"
    "       qmail config get NAME\n"
    "       qmail config set NAME VALUE|default\n"
    "\n"
    "Shows and changes QMail's resource limits (global, for every\n"
    "account). A limit may be lowered down to its minimum and raised up\n"
    "to its ceiling; `list` shows both with the default. Sizes take K, M\n"
    "or G (binary: 10M is 10 MiB). `set NAME default` goes back to the\n"
    "default. A change counts from the next sync, read or send (the web\n"
    "GUI: body limits from its next start or a change in its Settings).\n"
    "\n"
    "Example: qmail config set limit.parts 64\n";

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
	printf("\n* set by you; the others are the defaults.\n");
	return QM_EXIT_OK;
}

int cmd_config(struct cli *g, int argc, char **argv)
{
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
	if (argc > 2 && !qm_client_limit_find(argv[2]))
		return cli_usage("config",
		                 "there is no setting %s (`qmail config list` "
		                 "shows them)",
		                 argv[2]);
	if ((rc = cli_open(g)))
		return rc;
	if (strcmp(argv[1], "list") == 0)
		return config_list(g);
	qm_error_clear(&e);
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
