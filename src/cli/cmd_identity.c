/* SPDX-License-Identifier: MIT */
/*
 * qmail identity: the From addresses (with a name and a signature) an
 * account sends as, over the engine's identities (docs/CLIENT.md).
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char identity_help[] =
    "usage: qmail identity add ADDR [--name NAME] [--signature TEXT |\n"
    "                          --signature-file FILE] [--default]\n"
    "       qmail identity list\n"
    "       qmail identity remove ADDR\n"
    "       qmail identity default ADDR\n"
    "\n"
    "An identity is a From address an account sends as, with a display\n"
    "name and a plain-text signature that `qmail send` puts under the text\n"
    "(\"-- \" and the signature; --no-signature leaves it out). The\n"
    "account's own address is always one; `add` on it sets its name and\n"
    "signature. Every identity's mail is encrypted and signed with the\n"
    "account's keys; your mail server must accept the address as a sender.\n"
    "`qmail send --from ADDR` picks one; a reply goes from the identity the\n"
    "message was addressed to. Options: --account ADDR.\n";

/* Prints the identities of account id. */
static int identity_list(struct cli *g, int64_t id)
{
	struct qm_store_identity *v = NULL;
	struct qm_error e;
	size_t n = 0;

	qm_error_clear(&e);
	if (qm_client_identity_list(g->client, id, &v, &n, &e))
		return cli_fail(&e);
	for (size_t i = 0; i < n; i++) {
		const char *nl = strchr(v[i].signature, '\n');

		printf("%s%s\t%s\tsignature: %s%s\n", cli_safe(v[i].address),
		       v[i].is_default ? " (default)" : "",
		       v[i].name[0] ? cli_safe(v[i].name) : "-",
		       v[i].signature[0] ? "" : "-",
		       v[i].signature[0] ? (nl ? "several lines" : "one line")
		                         : "");
	}
	free(v);
	return 0;
}

int cli_cmd_identity(struct cli *g, int argc, char **argv)
{
	static const struct option opts[] = {{"name", 1, 0, 'n'},
	                                     {"signature", 1, 0, 's'},
	                                     {"signature-file", 1, 0, 'f'},
	                                     {"default", 0, 0, 'd'},
	                                     {"account", 1, 0, 'a'},
	                                     {"help", 0, 0, 'h'},
	                                     {0, 0, 0, 0}};
	struct qm_store_identity ident;
	const char *account = NULL, *sigfile = NULL, *sig = NULL;
	struct qm_error e;
	int64_t id;
	int c, rc, have_name = 0;

	if (argc < 2 || cli_is_help(argv[1])) {
		fputs(identity_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? QM_EXIT_USAGE : 0;
	}
	memset(&ident, 0, sizeof(ident));
	optind = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			qm_strlcpy(ident.name, optarg, sizeof(ident.name));
			have_name = 1;
			break;
		case 's':
			sig = optarg;
			break;
		case 'f':
			sigfile = optarg;
			break;
		case 'd':
			ident.is_default = 1;
			break;
		case 'a':
			account = optarg;
			break;
		case 'h':
			fputs(identity_help, stdout);
			return 0;
		default:
			return cli_usage("identity", "bad option");
		}
	}
	if ((rc = cli_open(g)) || (rc = cli_account_pick(g, account, &id)))
		return rc;
	qm_error_clear(&e);
	if (strcmp(argv[1], "list") == 0)
		return identity_list(g, id);
	if (optind + 1 >= argc)
		return cli_usage("identity", "give the address");
	if (strcmp(argv[1], "add") == 0) {
		struct qm_store_identity old;

		/* what is not given stays as it was */
		if (qm_client_identity_get(g->client, id, argv[optind + 1],
		                           &old, NULL) == QM_OK) {
			if (!have_name)
				qm_strlcpy(ident.name, old.name,
				           sizeof(ident.name));
			if (!sig && !sigfile)
				qm_strlcpy(ident.signature, old.signature,
				           sizeof(ident.signature));
		}
		if (sigfile) {
			struct qm_buf b;

			qm_buf_init(&b, sizeof(ident.signature) - 1);
			if (qm_file_read(sigfile, sizeof(ident.signature) - 1,
			                 &b, &e)) {
				qm_buf_free(&b);
				return cli_fail(&e);
			}
			qm_strlcpy(ident.signature,
			           b.data ? (char *)b.data : "",
			           sizeof(ident.signature));
			qm_buf_free(&b);
		} else if (sig) {
			if (strlen(sig) >= sizeof(ident.signature))
				return cli_usage("identity",
				                 "the signature is too long");
			qm_strlcpy(ident.signature, sig,
			           sizeof(ident.signature));
		}
		qm_strlcpy(ident.address, argv[optind + 1],
		           sizeof(ident.address));
		if (qm_client_identity_put(g->client, id, &ident, &e))
			return cli_fail(&e);
		printf("identity %s%s\n", cli_safe(ident.address),
		       ident.is_default ? " (default)" : "");
		return 0;
	}
	if (strcmp(argv[1], "remove") == 0) {
		if (qm_client_identity_delete(g->client, id, argv[optind + 1],
		                              &e))
			return cli_fail(&e);
		printf("identity %s removed\n", cli_safe(argv[optind + 1]));
		return 0;
	}
	if (strcmp(argv[1], "default") == 0) {
		if (qm_client_identity_default(g->client, id, argv[optind + 1],
		                               &e))
			return cli_fail(&e);
		printf("identity %s is the default\n",
		       cli_safe(argv[optind + 1]));
		return 0;
	}
	return cli_usage("identity", "unknown subcommand \"%s\"", argv[1]);
}
