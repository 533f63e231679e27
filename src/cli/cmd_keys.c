/* SPDX-License-Identifier: MIT */
/*
 * Keys and the KME: `keys` (own fingerprint, export, import, verify,
 * list), `kme status` and `kme route`, and `web` (the GUI server).
 */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "web/web.h"

static const char keys_help[] =
    "usage: qmail keys [fingerprint] [--account ADDR]\n"
    "       qmail keys export [--account ADDR] > mykey.txt\n"
    "       qmail keys import FILE [--address ADDR]\n"
    "       qmail keys verify ADDR FINGERPRINT|SAFETY-NUMBER "
    "[--accept-new-key]\n"
    "       qmail keys safety ADDR [--account ADDR]\n"
    "       qmail keys list ADDR\n"
    "       qmail keys backup [--account ADDR] [-o FILE]\n"
    "       qmail keys restore FILE [--account ADDR]\n"
    "\n"
    "Levels 3 and 4 encrypt to the recipient's public key and sign with\n"
    "yours. Send your exported key to your contacts; import theirs; then\n"
    "compare fingerprints over a channel you trust (read them aloud) and\n"
    "mark the key verified. A contact's key that changes is never used until\n"
    "you verify the new one.\n"
    "\n"
    "Keys also travel with mail: every message carries its sender's public\n"
    "key, and the first one seen for an address is kept (unverified). Then\n"
    "`keys safety ADDR` shows one number that you and the contact both see;\n"
    "when you read the same number, `keys verify ADDR NUMBER` marks the key\n"
    "verified. A new key for a contact (CHANGED) is accepted only with\n"
    "--accept-new-key.\n"
    "\n"
    "`keys backup` writes your own keys sealed under a recovery passphrase\n"
    "(at least 12 characters; asked twice, or read from the file named by\n"
    "$QMAIL_RECOVERY_PASSPHRASE_FILE). Keep the file and the passphrase\n"
    "apart. On a new machine, add the account, then `keys restore FILE`:\n"
    "it reads your level-3/4 mail and the Sent copies and drafts kept\n"
    "sealed to you on the server. Level-1/2 mail already read cannot be\n"
    "read again from the server (its keys are spent): `qmail export` it.\n";

static const char *trust_name(enum qm_store_trust t)
{
	switch (t) {
	case QM_TRUST_VERIFIED:
		return "verified";
	case QM_TRUST_CHANGED:
		return "CHANGED (not used until verified)";
	case QM_TRUST_RETIRED:
		return "retired";
	default:
		return "unverified";
	}
}

/* A safety number (12 groups of 5 digits) rather than a fingerprint
 * (hex): only digits and spaces, 60 digits. */
static int looks_safety(const char *s)
{
	size_t digits = 0;

	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s != ' ' && *s != '-')
			return 0;
	}
	return digits == 60;
}

static void print_safety(const struct qm_client_safety *sn)
{
	printf("safety number for you (%s) and %s:\n\n", sn->own_address,
	       sn->address);
	for (int row = 0; row < 3; row++)
		printf("    %.23s\n", sn->number + row * 24);
	printf("\nstate:   %s%s\n", trust_name(sn->trust),
	       sn->altered ? " (its record was changed outside QMail)" : "");
	printf("their key: %s\nyour key:  %s\n", sn->fpr, sn->own_fpr);
	if (sn->trust == QM_TRUST_VERIFIED)
		printf("\nYou verified this key.\n");
	else if (sn->trust == QM_TRUST_CHANGED)
		printf(
		    "\nWARNING: %s presents a NEW key, not the one you knew. "
		    "It is not used until\nyou accept it. Compare this "
		    "number with %s over a channel you trust\n(in person, "
		    "a call); if it matches, run\n  qmail keys verify %s "
		    "'NUMBER' --accept-new-key\n",
		    sn->address, sn->address, sn->address);
	else
		printf("\nCompare this number with %s over a channel you trust "
		       "(in person, a call);\nboth of you see the same one. If "
		       "it matches, run\n  qmail keys verify %s 'NUMBER'\n",
		       sn->address, sn->address);
}

#define RECOVERY_FILE_VAR "QMAIL_RECOVERY_PASSPHRASE_FILE"

/* `keys backup`: the backup to file (NULL: stdout; never over a file that
 * exists). */
static int keys_backup(struct cli *g, int64_t id, const char *file)
{
	struct qm_buf pass, out;
	struct qm_error e;
	int rc = 0;

	qm_error_clear(&e);
	qm_buf_init_secure(&pass, 4096);
	qm_buf_init(&out, 1 << 20);
	if (!file && isatty(STDOUT_FILENO)) {
		fputs("qmail: give the backup file with -o FILE (or redirect "
		      "the output)\n",
		      stderr);
		rc = QM_EXIT_USAGE;
	} else if (file && access(file, F_OK) == 0) {
		fprintf(stderr,
		        "qmail: %s exists already: give a new file name\n",
		        cli_safe(file));
		rc = QM_EXIT_USAGE;
	} else if (cli_passphrase_from(
	               RECOVERY_FILE_VAR, NULL,
	               "Recovery passphrase for the backup: ", 1, &pass)) {
		rc = QM_EXIT_DENIED;
	} else if (qm_client_keys_backup(g->client, id, (const char *)pass.data,
	                                 pass.len, &out, &e) ||
	           (file ? qm_file_write_atomic(file, out.data, out.len, 0600,
	                                        &e)
	                 : (fwrite(out.data, 1, out.len, stdout) != out.len
	                        ? qm_error_set(&e, QM_ERR_IO,
	                                       "cannot write the backup")
	                        : QM_OK))) {
		rc = cli_fail(&e);
	} else if (file) {
		printf("key backup written to %s\nKeep it apart from the "
		       "recovery passphrase; `qmail keys restore %s` reads "
		       "it on a new machine.\n",
		       cli_safe(file), cli_safe(file));
	}
	qm_buf_free(&pass);
	qm_buf_free(&out);
	return rc;
}

/* `keys restore FILE`. */
static int keys_restore(struct cli *g, int64_t id, const char *file)
{
	struct qm_buf pass, in;
	struct qm_error e;
	char fpr[QM_STORE_FPRMAX];
	int rc = 0;

	qm_error_clear(&e);
	qm_buf_init_secure(&pass, 4096);
	qm_buf_init(&in, 64 * 1024);
	if (qm_file_read(file, 64 * 1024, &in, &e)) {
		rc = cli_fail(&e);
	} else if (cli_passphrase_from(RECOVERY_FILE_VAR, NULL,
	                               "Recovery passphrase of the backup: ", 0,
	                               &pass)) {
		rc = QM_EXIT_DENIED;
	} else if (qm_client_keys_restore(
	               g->client, id, (const char *)pass.data, pass.len,
	               (const char *)in.data, in.len, fpr, &e)) {
		rc = cli_fail(&e);
	} else {
		printf("keys restored: %s\nThe next sync reads your Sent "
		       "copies and drafts on the server.\n",
		       fpr);
	}
	qm_buf_free(&pass);
	qm_buf_free(&in);
	return rc;
}

int cli_cmd_keys(struct cli *g, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "fingerprint";
	const char *account = NULL, *address = NULL, *outfile = NULL;
	const char *pos[3] = {0};
	struct qm_error e;
	size_t npos = 0;
	int64_t id;
	int rc, accept_new = 0;

	for (int i = 2; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			fputs(keys_help, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			account = argv[++i];
		else if (strcmp(argv[i], "--address") == 0 && i + 1 < argc)
			address = argv[++i];
		else if (strcmp(argv[i], "--accept-new-key") == 0)
			accept_new = 1;
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			outfile = argv[++i];
		else if (npos < 3)
			pos[npos++] = argv[i];
		else
			return cli_usage("keys", "too many arguments");
	}
	if (cli_is_help(sub)) {
		fputs(keys_help, stdout);
		return 0;
	}
	if (strcmp(sub, "--account") == 0 && argc > 2) {
		account = argv[2];
		sub = "fingerprint";
	}
	qm_error_clear(&e);
	if ((rc = cli_open_unlocked(g)))
		return rc;
	if (strcmp(sub, "fingerprint") == 0) {
		char fpr[QM_STORE_FPRMAX];

		if ((rc = cli_account_pick(g, account, &id)))
			return rc;
		if (qm_client_key_own_fpr(g->client, id, fpr, &e))
			return cli_fail(&e);
		printf("%s\n", fpr);
		return 0;
	}
	if (strcmp(sub, "export") == 0) {
		struct qm_buf b;

		if ((rc = cli_account_pick(g, account, &id)))
			return rc;
		qm_buf_init(&b, 1 << 20);
		rc = qm_client_key_export(g->client, id, &b, &e);
		if (!rc)
			fwrite(b.data, 1, b.len, stdout);
		qm_buf_free(&b);
		return rc ? cli_fail(&e) : 0;
	}
	if (strcmp(sub, "import") == 0) {
		struct qm_buf b;
		char fpr[QM_STORE_FPRMAX];
		enum qm_store_trust t;

		if (npos != 1)
			return cli_usage("keys import", "give the key file");
		qm_buf_init(&b, 64 * 1024);
		rc = qm_file_read(pos[0], 64 * 1024, &b, &e);
		if (!rc)
			rc = qm_client_key_import(g->client, address,
			                          (const char *)b.data, b.len, fpr,
			                          &t, &e);
		qm_buf_free(&b);
		if (rc)
			return cli_fail(&e);
		printf("imported key %s: %s\nCompare this fingerprint with the "
		       "contact, then run `qmail keys verify ADDR "
		       "FINGERPRINT`.\n",
		       fpr, trust_name(t));
		return 0;
	}
	if (strcmp(sub, "verify") == 0) {
		if (npos != 2)
			return cli_usage("keys verify",
			                 "give the address and the fingerprint "
			                 "or the safety number");
		if (looks_safety(pos[1])) {
			if ((rc = cli_account_pick(g, account, &id)))
				return rc;
			rc = qm_client_key_safety_verify(
			    g->client, id, pos[0], pos[1], accept_new, &e);
			if (rc == QM_ERR_STATE) {
				qm_error_prefix(&e, "not verified: ");
				rc = cli_fail(&e);
				fputs("qmail: if the contact confirmed the new "
				      "key, add --accept-new-key\n",
				      stderr);
				return rc;
			}
		} else {
			rc =
			    qm_client_key_verify(g->client, pos[0], pos[1], &e);
		}
		if (rc)
			return cli_fail(&e);
		printf("the key of %s is verified\n", pos[0]);
		return 0;
	}
	if (strcmp(sub, "safety") == 0) {
		struct qm_client_safety sn;

		if (npos != 1)
			return cli_usage("keys safety", "give the address");
		if ((rc = cli_account_pick(g, account, &id)))
			return rc;
		if (qm_client_key_safety(g->client, id, pos[0], &sn, &e))
			return cli_fail(&e);
		print_safety(&sn);
		return 0;
	}
	if (strcmp(sub, "backup") == 0 || strcmp(sub, "restore") == 0) {
		if ((rc = cli_account_pick(g, account, &id)))
			return rc;
		if (strcmp(sub, "backup") == 0)
			return keys_backup(g, id, npos ? pos[0] : outfile);
		if (npos != 1)
			return cli_usage("keys restore",
			                 "give the backup file");
		return keys_restore(g, id, pos[0]);
	}
	if (strcmp(sub, "list") == 0) {
		struct qm_store_key *ks = NULL;
		size_t n = 0;

		if (npos != 1)
			return cli_usage("keys list", "give the address");
		if (qm_client_key_list(g->client, pos[0], &ks, &n, &e))
			return cli_fail(&e);
		for (size_t i = 0; i < n; i++) {
			printf("%s  %s  first seen %lld%s\n", cli_safe(ks[i].alg),
			       trust_name(ks[i].trust),
			       (long long)ks[i].first_seen,
			       ks[i].label == QM_LABEL_ALTERED
			               ? "  (changed on disk outside QMail: "
			                 "verify it again)"
			               : "");
		}
		qm_client_keys_free(&ks, n);
		if (n == 0)
			printf("no key known for %s\n", pos[0]);
		return 0;
	}
	return cli_usage("keys", "unknown subcommand \"%s\"", sub);
}

/* The route lines of a relayed peer (qm_client_kme route fields). */
static void print_route(const struct qm_client_kme *k)
{
	if (k->route_error[0]) {
		printf("route:      NONE: %s\n", cli_safe(k->route_error));
		return;
	}
	if (!k->nroute)
		return;
	printf("route:      ");
	for (size_t i = 0; i < k->nroute; i++)
		printf("%s%s", i ? " -> " : "", cli_safe(k->route[i]));
	printf("\n");
	if (k->relayed)
		printf("relayed:    %zu links; %d trusted node%s on the way "
		       "see%s the keys\n",
		       k->nroute - 1, k->trusted_nodes,
		       k->trusted_nodes == 1 ? "" : "s",
		       k->trusted_nodes == 1 ? "s" : "");
	if (k->bottleneck_link[0])
		printf("bottleneck: %s (the least key on the route)\n",
		       cli_safe(k->bottleneck_link));
}

/* qmail kme network: the KMEs and links the account's KME knows. */
static int kme_network(struct cli *g, int64_t id)
{
	struct qm_client_kme_net *n = calloc(1, sizeof(*n));
	struct qm_error e;
	int bad = 0;

	qm_error_clear(&e);
	if (!n) {
		qm_error_set(&e, QM_ERR_NOMEM, "out of memory");
		return cli_fail(&e);
	}
	if (qm_client_kme_network(g->client, id, n, &e)) {
		free(n);
		return cli_fail(&e);
	}
	printf("your KME:   %s\n", cli_safe(n->kme_id));
	printf("KMEs:       %zu\n", n->nkmes);
	for (size_t i = 0; i < n->nlinks; i++) {
		const struct qm_client_kme_link *l = &n->links[i];

		printf("link:       %s - %s  %s", cli_safe(l->a), cli_safe(l->b),
		       l->alarm ? "ALARM (QBER above threshold)"
		                : l->up ? "up"
		                        : cli_safe(l->state));
		printf("  QBER %.2f %%  %.0f bit/s  key %llu / %llu bytes\n",
		       l->qber * 100, l->rate_bps,
		       (unsigned long long)l->avail_ab,
		       (unsigned long long)l->avail_ba);
		bad |= l->alarm;
	}
	free(n);
	return bad ? QM_EXIT_SECURITY : 0;
}

int cli_cmd_kme(struct cli *g, int argc, char **argv)
{
	struct qm_client_kme k;
	struct qm_error e;
	const char *account = NULL, *peer = NULL, *contact = NULL;
	int64_t id;
	int rc, route;

	if (argc < 2 || cli_is_help(argv[1]) ||
	    (strcmp(argv[1], "status") && strcmp(argv[1], "route") &&
	     strcmp(argv[1], "network"))) {
		printf("usage: qmail kme status [--peer SAE_ID] "
		       "[--account ADDR]\n"
		       "       qmail kme route CONTACT [--account ADDR]\n"
		       "       qmail kme network [--account ADDR]\n\n"
		       "status asks the account's KME (ETSI GS QKD 014 Get "
		       "status, mutual TLS) for the\nkey pool shared with a "
		       "peer SAE, and shows the QKD link's key rate, QBER and\n"
		       "eavesdropping alarm. route shows how keys for a "
		       "contact travel: the KMEs on\nthe way when the "
		       "contact's KME has no link to yours (each one in "
		       "between is a\ntrusted node and sees the keys). network "
		       "lists the KMEs and links the\naccount's KME knows, "
		       "each link's state, QBER, key rate and key.\n");
		return argc < 2 ? QM_EXIT_USAGE : 0;
	}
	route = strcmp(argv[1], "route") == 0;
	if (strcmp(argv[1], "network") == 0) {
		for (int i = 2; i < argc; i++) {
			if (i + 1 < argc && strcmp(argv[i], "--account") == 0)
				account = argv[++i];
			else
				return cli_usage("kme network",
				                 "bad argument %s", argv[i]);
		}
		if ((rc = cli_open_unlocked(g)) ||
		    (rc = cli_account_pick(g, account, &id)))
			return rc;
		return kme_network(g, id);
	}
	for (int i = 2; i < argc; i++) {
		if (route && !contact && argv[i][0] != '-')
			contact = argv[i];
		else if (i + 1 < argc && !route &&
		         strcmp(argv[i], "--peer") == 0)
			peer = argv[++i];
		else if (i + 1 < argc && strcmp(argv[i], "--account") == 0)
			account = argv[++i];
		else
			return cli_usage(route ? "kme route" : "kme status",
			                 "bad argument %s", argv[i]);
	}
	if (route && !contact)
		return cli_usage("kme route", "which contact?");
	if ((rc = cli_open_unlocked(g)) || (rc = cli_account_pick(g, account, &id)))
		return rc;
	qm_error_clear(&e);
	if (route ? qm_client_kme_route(g->client, id, contact, &k, &e)
	          : qm_client_kme_status(g->client, id, peer, &k, &e))
		return cli_fail(&e);
	printf("KME:        %s\n", k.url);
	if (!k.reachable) {
		printf("status:     UNREACHABLE: %s\n", cli_safe(k.message));
		return QM_EXIT_NET;
	}
	if (k.message[0]) {
		char hint[QM_ERR_MSGMAX];

		printf("note:       %s\n", cli_safe(k.message));
		cli_hint_text(k.hint, NULL, hint, sizeof(hint));
		if (hint[0])
			printf("hint:       %s\n", hint);
	}
	printf("peer SAE:   %s\n", cli_safe(k.peer_sae));
	printf("pool:       %llu keys of %llu bits (%llu bytes), at most "
	       "%llu\n",
	       (unsigned long long)k.stored_key_count,
	       (unsigned long long)k.key_size, (unsigned long long)k.pool_bytes,
	       (unsigned long long)k.max_key_count);
	printf("per request: %llu keys, up to %llu bits each\n",
	       (unsigned long long)k.max_key_per_request,
	       (unsigned long long)k.max_key_size);
	if (k.key_rate_bps >= 0)
		printf("key rate:   %.0f bit/s\n", k.key_rate_bps);
	if (k.qber >= 0)
		printf("QBER:       %.2f %%\n", k.qber * 100);
	if (k.alarm)
		printf("ALARM:      the QKD link reports an eavesdropper (QBER "
		       "above threshold): it produces no key\n");
	print_route(&k);
	if (route && !k.nroute && !k.route_error[0])
		printf("route:      the contact's KME has a link to yours "
		       "(no trusted node in between)\n");
	return k.alarm ? QM_EXIT_SECURITY : k.route_error[0] ? QM_EXIT_NET : 0;
}

static volatile sig_atomic_t web_stop;

static void on_stop(int sig)
{
	(void)sig;
	web_stop = 1;
}

static void web_ready(const char *url, void *arg)
{
	(void)arg;
	printf("QMail web GUI: %s\n", url);
	fflush(stdout);
}

/* The unlock agent of the home `qmail web` serves (web.h agent_key). */
static char web_home[4096];

static int web_agent_key(void *arg, unsigned char *key)
{
	long left = 0, pid = 0;

	(void)arg;
	if (!key)
		return cli_agent_status(web_home, &left, &pid) == 0 && left > 0
		           ? 0
		           : 1;
	return cli_agent_key(web_home, key) == 0 ? 0 : 1;
}

int cli_cmd_web(struct cli *g, int argc, char **argv)
{
	struct qm_web_config cfg;
	struct qm_error e;
	struct sigaction sa;
	long long port = QM_WEB_DEFAULT_PORT;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: qmail web [--port N] [--no-remote-images] "
			       "[--max-upload SIZE]\n"
			       "                 [--bind ADDR --tls-cert PEM "
			       "--tls-key PEM]\n\n"
			       "Serves the QMail web GUI on 127.0.0.1 (port "
			       "8025 by default; 0 picks a free\none) until "
			       "Ctrl-C. Binding another address needs a TLS "
			       "certificate.\n--no-remote-images removes the "
			       "reader's \"show remote images\" button.\n"
			       "--max-upload SIZE (e.g. 10M) overrides the "
			       "setting limit.web_upload for this run\n(`qmail "
			       "config list` shows the other body limits).\n");
			return 0;
		}
		if (strcmp(argv[i], "--no-remote-images") == 0) {
			cfg.no_remote_images = 1;
			continue;
		}
		if (i + 1 >= argc)
			return cli_usage("web", "%s needs a value", argv[i]);
		if (strcmp(argv[i], "--port") == 0) {
			if (qm_parse_ll(argv[++i], 0, 65535, &port, NULL))
				return cli_usage("web", "--port is 0-65535");
		} else if (strcmp(argv[i], "--max-upload") == 0) {
			uint64_t v;

			qm_error_clear(&e);
			if (qm_client_limit_parse(
			        qm_client_limit_find(QM_LIMIT_WEB_UPLOAD),
			        argv[++i], &v, &e))
				return cli_usage("web", "--max-upload: %s",
				                 qm_error_msg(&e));
			cfg.max_upload = (size_t)v;
		} else if (strcmp(argv[i], "--bind") == 0) {
			cfg.bind = argv[++i];
		} else if (strcmp(argv[i], "--tls-cert") == 0) {
			cfg.tls_cert_path = argv[++i];
		} else if (strcmp(argv[i], "--tls-key") == 0) {
			cfg.tls_key_path = argv[++i];
		} else {
			return cli_usage("web", "bad argument %s", argv[i]);
		}
	}
	cfg.port = (uint16_t)port;
	if ((rc = cli_open(g)))
		return rc;
	/* started after `qmail unlock`: the printed link lets the browser in
	 * with the agent's key, and the GUI locks when the agent goes */
	qm_strlcpy(web_home, qm_client_home(g->client), sizeof(web_home));
	if (web_agent_key(NULL, NULL) == 0)
		cfg.agent_key = web_agent_key;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	qm_error_clear(&e);
	if (qm_web_serve(&cfg, g->client, &web_stop, web_ready, NULL, &e))
		return cli_fail(&e);
	return 0;
}
