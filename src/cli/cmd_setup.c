/* SPDX-License-Identifier: MIT */
/*
 * Setting QMail up: init, passwd, account add|list|remove|test|secret|
 * get|set (an account's settings, checked by the engine), and contact
 * add|list|confirm.
 */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int cli_cmd_init(struct cli *g, int argc, char **argv)
{
	struct qm_buf pass;
	struct qm_error e;
	int rc;

	if (argc > 1 && cli_is_help(argv[1])) {
		printf("usage: qmail init\n\n"
		       "Creates the QMail home folder and its vault, protected "
		       "by a passphrase\n(Argon2id). Everything private QMail "
		       "keeps (decrypted mail, passwords,\nprivate keys) is "
		       "sealed in the vault.\n");
		return 0;
	}
	if ((rc = cli_open(g)))
		return rc;
	if (qm_client_initialised(g->client)) {
		fprintf(stderr, "qmail: %s already has a vault\n",
		        qm_client_home(g->client));
		return QM_EXIT_ERROR;
	}
	qm_buf_init_secure(&pass, 4096);
	if (cli_passphrase("New QMail passphrase: ", 1, &pass)) {
		qm_buf_free(&pass);
		return QM_EXIT_DENIED;
	}
	qm_error_clear(&e);
	rc = qm_client_init(g->client, pass.data ? (char *)pass.data : "",
	                    pass.len, &e)
	             ? cli_fail(&e)
	             : 0;
	qm_buf_free(&pass);
	if (!rc)
		printf("QMail home ready in %s\n", qm_client_home(g->client));
	return rc;
}

int cli_cmd_passwd(struct cli *g, int argc, char **argv)
{
	struct qm_buf oldp, newp;
	struct qm_error e;
	int rc;

	if (argc > 1 && cli_is_help(argv[1])) {
		printf("usage: qmail passwd\n\nChanges the vault passphrase. "
		       "With QMAIL_PASSPHRASE_FILE set, the new\npassphrase is "
		       "read from $QMAIL_NEW_PASSPHRASE_FILE.\n");
		return 0;
	}
	if ((rc = cli_open(g)))
		return rc;
	qm_buf_init_secure(&oldp, 4096);
	qm_buf_init_secure(&newp, 4096);
	rc = QM_EXIT_DENIED;
	if (cli_passphrase("Current passphrase: ", 0, &oldp))
		goto out;
	if (getenv("QMAIL_NEW_PASSPHRASE_FILE")) {
		qm_error_clear(&e);
		if (qm_file_read(getenv("QMAIL_NEW_PASSPHRASE_FILE"), 4096,
		                 &newp, &e)) {
			rc = cli_fail(&e);
			goto out;
		}
		while (newp.len && newp.data[newp.len - 1] == '\n')
			newp.data[--newp.len] = '\0';
	} else {
		unsetenv("QMAIL_PASSPHRASE");
		if (cli_passphrase("New passphrase: ", 1, &newp))
			goto out;
	}
	qm_error_clear(&e);
	rc = qm_client_passphrase_change(
	         g->client, oldp.data ? (char *)oldp.data : "", oldp.len,
	         newp.data ? (char *)newp.data : "", newp.len, &e)
	         ? cli_fail(&e)
	         : 0;
	if (!rc) {
		unsigned char none[1];
		size_t n = 0;

		printf("passphrase changed\n");
		/* an agent of `qmail unlock` holds a key of the old one, which
		 * opens nothing now: it goes, so that nothing waits on it */
		if (cli_agent_call(qm_client_home(g->client), 'L', none, 0,
		                   &n) == 0)
			printf("locked: run `qmail unlock` again with the new "
			       "passphrase\n");
	}
out:
	qm_buf_free(&oldp);
	qm_buf_free(&newp);
	return rc;
}

/* "host:port" into a server; tls from "tls", "starttls" or "none". */
static int parse_server(const char *cmd, const char *hp, const char *tls,
                        struct qm_store_server *s)
{
	const char *colon = strrchr(hp, ':');
	long long port = 0;
	size_t n = colon ? (size_t)(colon - hp) : strlen(hp);

	if (n == 0 || n >= sizeof(s->host))
		return cli_usage(cmd, "bad server \"%s\" (want host:port)", hp);
	memcpy(s->host, hp, n);
	s->host[n] = '\0';
	if (colon && qm_parse_ll(colon + 1, 1, 65535, &port, NULL))
		return cli_usage(cmd, "bad port in \"%s\"", hp);
	if (port)
		s->port = (int)port;
	if (tls) {
		if (strcmp(tls, "tls") == 0)
			s->tls = QM_TLS_IMPLICIT;
		else if (strcmp(tls, "starttls") == 0)
			s->tls = QM_TLS_STARTTLS;
		else if (strcmp(tls, "none") == 0)
			s->tls = QM_TLS_NONE;
		else
			return cli_usage(cmd, "TLS mode is tls, starttls or "
			                      "none, not \"%s\"",
			                 tls);
	}
	return 0;
}

static const char account_help[] =
    "usage: qmail account add --address ADDR [options]\n"
    "       qmail account discover ADDR [--verbose]\n"
    "       qmail account list\n"
    "       qmail account remove ADDR\n"
    "       qmail account test [ADDR]\n"
    "       qmail account get ADDR [NAME]\n"
    "       qmail account signin ADDR [--device]\n"
    "       qmail account set ADDR NAME VALUE|default\n"
    "\n"
    "add options:\n"
    "  --address ADDR        the account's e-mail address (required)\n"
    "  --name NAME           display name\n"
    "  --preset P            gmail, outlook, microsoft365 or yahoo: fills\n"
    "                        the SMTP, IMAP and POP3 servers from the\n"
    "                        provider registry\n"
    "  (no --preset, --smtp, --imap or --pop3: the servers are found as\n"
    "   `account discover` finds them)\n"
    "  --user NAME           login name (default: the address)\n"
    "  --password-file F     file holding the password or app password\n"
    "  --oauth2-token-file F file holding an OAuth2 access token (no refresh)\n"
    "  --oauth2              sign in with OAuth2 in a browser: prints the URL\n"
    "                        (\"url: ...\"), opens a browser where there is a\n"
    "                        display, waits on 127.0.0.1 for the answer (5 min)\n"
    "  --device              with --oauth2: sign in with a code on another\n"
    "                        device (prints \"user_code: ...\")\n"
    "                        (the provider's endpoints: from the registry or\n"
    "                        the domain's autoconfig file, else the options\n"
    "                        below)\n"
    "  --client-id ID        the OAuth2 client ID registered with the provider\n"
    "                        (default: the setting oauth.PROVIDER.client_id)\n"
    "  --client-secret-file F its client secret, when the provider wants one\n"
    "                        (default: the setting oauth.PROVIDER.client_secret)\n"
    "  --oauth-issuer URL    the provider's issuer: endpoints from its\n"
    "                        /.well-known/openid-configuration (HTTPS)\n"
    "  --oauth-auth-url U, --oauth-token-url U, --oauth-device-url U,\n"
    "  --oauth-revoke-url U, --oauth-scope S: the endpoints by hand\n"
    "  --oauth-ca FILE       CA certificate of a private provider's HTTPS\n"
    "  --oauth-auth-params P extra authorization URL parameters the provider\n"
    "                        wants, e.g. \"access_type=offline&prompt=consent\"\n"
    "  --smtp HOST:PORT      --smtp-tls tls|starttls|none\n"
    "  --imap HOST:PORT      --imap-tls tls|starttls|none\n"
    "  --pop3 HOST:PORT      --pop3-tls tls|starttls|none\n"
    "  --incoming imap|pop3  which one `qmail sync` uses (default imap)\n"
    "  --pop3-delete         delete mail from the POP3 server after fetching\n"
    "  --no-save-sent        keep no copy of sent mail in the IMAP Sent\n"
    "                        folder (default: a copy sealed to your own key)\n"
    "  --mail-ca FILE        CA certificate of private mail servers\n"
    "  --sae ID              this account's SAE ID at its KME\n"
    "  --kme URL             the KME, https://host:port\n"
    "  --kme-ca FILE         CA certificate that issued the KME's certificate\n"
    "  --kme-cert FILE       this SAE's client certificate (PEM)\n"
    "  --kme-key FILE        its private key (PEM)\n"
    "  --kme-id ID           the KME ID its certificate must name (optional)\n"
    "  --level N             default security level, 1-4 (default 2)\n"
    "\n"
    "`account test` connects to SMTP, IMAP or POP3 and the KME and reports\n"
    "each; it sends nothing.\n"
    "\n"
    "       qmail account secret ADDR --password-file F | --oauth2-token-file "
    "F\n"
    "\n"
    "replaces the account's password, or its OAuth2 access token (for\n"
    "example after the provider issued a new one), sealed in the vault.\n"
    "\n"
    "`account get ADDR` lists the account's settings with their values,\n"
    "defaults and allowed values; `account get ADDR NAME` prints one value.\n"
    "`account set ADDR NAME VALUE` changes one (`default` unsets it):\n"
    "  sync_folders   subscribed (default), all or inbox: the IMAP folders\n"
    "                 `qmail sync` takes besides INBOX\n"
    "  delete_mode    trash (default): `qmail delete` moves to Trash;\n"
    "                 expunge: deletes for good at once\n"
    "  header_first   N: a folder with more than N new messages in one\n"
    "                 sync is fetched headers first, the bodies afterwards\n"
    "                 or when a message is opened (0: never; default 200;\n"
    "                 `qmail list` marks those not downloaded yet [headers])\n"
    "  save_sent      1 (default): keep a copy of sent mail in the IMAP Sent\n"
    "                 folder, sealed to your own key; 0: none\n"
    "  save_sent_level1 1: level-1 mail too (default 0: the copy is only\n"
    "                 as strong as level 3)\n"
    "  pop3_delete    1: delete mail from the POP3 server once downloaded\n"
    "  incoming, mail_ca, kme_id: as the add options of the same names.\n"
    "Example: qmail account set alice@example.org sync_folders all\n";

static int account_add(struct cli *g, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"address", 1, 0, 'a'},       {"name", 1, 0, 'n'},
	    {"preset", 1, 0, 'p'},        {"user", 1, 0, 'u'},
	    {"password-file", 1, 0, 'P'}, {"oauth2-token-file", 1, 0, 'O'},
	    {"smtp", 1, 0, 's'},          {"smtp-tls", 1, 0, 'S'},
	    {"imap", 1, 0, 'i'},          {"imap-tls", 1, 0, 'I'},
	    {"pop3", 1, 0, 'o'},          {"pop3-tls", 1, 0, 'T'},
	    {"incoming", 1, 0, 'c'},      {"pop3-delete", 0, 0, 'D'},
	    {"save-sent", 0, 0, 'v'},     {"no-save-sent", 0, 0, 'V'},
	    {"mail-ca", 1, 0, 'm'},       {"sae", 1, 0, 'e'},
	    {"kme", 1, 0, 'k'},           {"kme-ca", 1, 0, 'A'},
	    {"kme-cert", 1, 0, 'C'},      {"kme-key", 1, 0, 'K'},
	    {"kme-id", 1, 0, 'E'},        {"level", 1, 0, 'l'},
	    {"oauth2", 0, 0, 1000},       {"device", 0, 0, 1001},
	    {"client-id", 1, 0, 1002},    {"client-secret-file", 1, 0, 1003},
	    {"oauth-issuer", 1, 0, 1004}, {"oauth-auth-url", 1, 0, 1005},
	    {"oauth-token-url", 1, 0, 1006}, {"oauth-device-url", 1, 0, 1007},
	    {"oauth-revoke-url", 1, 0, 1008}, {"oauth-scope", 1, 0, 1009},
	    {"oauth-ca", 1, 0, 1010},     {"oauth-auth-params", 1, 0, 1011},
	    {"help", 0, 0, 'h'},          {0, 0, 0, 0}};
	struct cli_oauth_opts oo;
	struct qm_client_oauth_endpoints ep;
	struct qm_client_oauth_app app;
	struct qm_client_oauth_tokens tok;
	struct qm_client_discovery *disc = NULL;
	char cid[QM_STORE_NAMEMAX], ca[QM_STORE_PATHMAX];
	int oauth2 = 0, device = 0;
	struct qm_store_account a;
	const char *preset = NULL, *pwfile = NULL, *tokfile = NULL;
	const char *smtp = NULL, *smtp_tls = NULL, *imap = NULL,
		   *imap_tls = NULL, *pop3 = NULL, *pop3_tls = NULL;
	const char *incoming = NULL, *mail_ca = NULL, *kme_id = NULL;
	int pop3_delete = 0, save_sent = 0, c, rc;
	long long lvl = 0;
	struct qm_buf secret;
	struct qm_error e;
	static const char *const set_names[] = {
	    QM_CLIENT_SET_INCOMING, QM_CLIENT_SET_MAIL_CA, QM_CLIENT_SET_KME_ID,
	    QM_CLIENT_SET_POP3_DELETE, QM_CLIENT_SET_SAVE_SENT};
	const char *set_values[5];

	memset(&a, 0, sizeof(a));
	memset(&oo, 0, sizeof(oo));
	memset(&ep, 0, sizeof(ep));
	memset(&app, 0, sizeof(app));
	memset(&tok, 0, sizeof(tok));
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 1000: oauth2 = 1; break;
		case 1001: device = 1; break;
		case 1002: oo.client_id = optarg; break;
		case 1003: oo.secret_file = optarg; break;
		case 1004: oo.issuer = optarg; break;
		case 1005: oo.auth_url = optarg; break;
		case 1006: oo.token_url = optarg; break;
		case 1007: oo.device_url = optarg; break;
		case 1008: oo.revoke_url = optarg; break;
		case 1009: oo.scope = optarg; break;
		case 1010: oo.ca_file = optarg; break;
		case 1011: oo.auth_params = optarg; break;
		case 'a': qm_strlcpy(a.address, optarg, sizeof(a.address)); break;
		case 'n': qm_strlcpy(a.display_name, optarg, sizeof(a.display_name)); break;
		case 'p': preset = optarg; break;
		case 'u': qm_strlcpy(a.username, optarg, sizeof(a.username)); break;
		case 'P': pwfile = optarg; break;
		case 'O': tokfile = optarg; break;
		case 's': smtp = optarg; break;
		case 'S': smtp_tls = optarg; break;
		case 'i': imap = optarg; break;
		case 'I': imap_tls = optarg; break;
		case 'o': pop3 = optarg; break;
		case 'T': pop3_tls = optarg; break;
		case 'c': incoming = optarg; break;
		case 'D': pop3_delete = 1; break;
		case 'v': save_sent = 1; break;
		case 'V':
			save_sent = -1;
			break;
		case 'm': mail_ca = optarg; break;
		case 'e': qm_strlcpy(a.sae_id, optarg, sizeof(a.sae_id)); break;
		case 'k': qm_strlcpy(a.kme_url, optarg, sizeof(a.kme_url)); break;
		case 'A': qm_strlcpy(a.kme_ca, optarg, sizeof(a.kme_ca)); break;
		case 'C': qm_strlcpy(a.kme_cert, optarg, sizeof(a.kme_cert)); break;
		case 'K': qm_strlcpy(a.kme_key, optarg, sizeof(a.kme_key)); break;
		case 'E': kme_id = optarg; break;
		case 'l':
			if (qm_parse_ll(optarg, 1, 4, &lvl, NULL))
				return cli_usage("account add",
				                 "--level is 1, 2, 3 or 4");
			break;
		case 'h': fputs(account_help, stdout); return 0;
		default: return cli_usage("account add", "bad option");
		}
	}
	if (!a.address[0])
		return cli_usage("account add", "--address is required");
	a.default_level = lvl ? (int)lvl : 2;
	qm_error_clear(&e);
	if (preset && qm_client_account_preset(&a, preset, &e))
		return cli_fail(&e);
	if ((smtp && (rc = parse_server("account add", smtp, smtp_tls, &a.smtp))) ||
	    (imap && (rc = parse_server("account add", imap, imap_tls, &a.imap))) ||
	    (pop3 && (rc = parse_server("account add", pop3, pop3_tls, &a.pop3))))
		return rc;
	if (!smtp && smtp_tls && (rc = parse_server("account add", a.smtp.host[0] ? a.smtp.host : "x", smtp_tls, &a.smtp)))
		return rc;
	if (incoming && strcmp(incoming, "imap") && strcmp(incoming, "pop3"))
		return cli_usage("account add", "--incoming is imap or pop3");
	if (tokfile || oauth2)
		a.auth = QM_AUTH_OAUTH2;
	if (oauth2 && (tokfile || pwfile))
		return cli_usage("account add", "--oauth2 signs in: give no "
		                                "--password-file or "
		                                "--oauth2-token-file with it");
	if (device && !oauth2)
		return cli_usage("account add", "--device goes with --oauth2");
	if ((rc = cli_open_unlocked(g)))
		return rc;
	disc = calloc(1, sizeof(*disc));
	if (!disc)
		return QM_EXIT_ERROR;
	/* no server given: found as `account discover` finds them */
	if (!preset && !smtp && !imap && !pop3 &&
	    (rc = cli_account_add_discover(g, &a, disc))) {
		free(disc);
		return rc;
	}
	qm_buf_init_secure(&secret, 64 * 1024);
	if (oauth2) {
		/* signed in first: an account is added only once it can
		 * log in */
		qm_strlcpy(cid, oo.client_id ? oo.client_id : "", sizeof(cid));
		qm_strlcpy(ca, oo.ca_file ? oo.ca_file : "", sizeof(ca));
		if (oo.secret_file &&
		    (rc = cli_oauth_secret_file(oo.secret_file, &secret)))
			goto oauth_out;
		/* no endpoint given: the registry's or the domain's own */
		if (!oo.issuer && !oo.auth_url && !oo.token_url &&
		    (rc = cli_oauth_from_discovery(g, preset, &a, disc, &ep, cid,
		                                   sizeof(cid), &secret, ca,
		                                   sizeof(ca))))
			goto oauth_out;
		if ((rc = cli_oauth_endpoints(&oo, &ep)))
			goto oauth_out;
		if (!cid[0]) {
			rc = cli_usage("account add",
			               "--oauth2 needs --client-id: the client "
			               "ID you registered with the provider");
			goto oauth_out;
		}
		app.client_id = cid;
		app.client_secret =
		    secret.len ? (const char *)secret.data : NULL;
		app.ca_file = ca[0] ? ca : NULL;
		app.auth_params = oo.auth_params   ? oo.auth_params
		                  : ep.extra_params[0] ? ep.extra_params
		                                       : NULL;
		if ((rc = cli_oauth_signin(&ep, &app, a.address, device, &tok)))
			goto oauth_out;
		rc = qm_client_account_add(g->client, &a, NULL, 0, &e) ||
		             qm_client_account_oauth_set(g->client, a.id, &ep,
		                                         &app, &tok, &e)
		         ? cli_fail(&e)
		         : 0;
	oauth_out:
		qm_client_oauth_tokens_wipe(&tok);
		qm_buf_free(&secret);
		free(disc);
		if (rc)
			return rc;
		goto settings;
	}
	free(disc);
	if ((pwfile || tokfile) &&
	    qm_file_read(pwfile ? pwfile : tokfile, 64 * 1024, &secret, &e)) {
		qm_buf_free(&secret);
		return cli_fail(&e);
	}
	while (secret.len && (secret.data[secret.len - 1] == '\n' ||
	                      secret.data[secret.len - 1] == '\r'))
		secret.data[--secret.len] = '\0';
	rc = qm_client_account_add(g->client, &a,
	                           secret.data ? (char *)secret.data : NULL,
	                           secret.len, &e);
	qm_buf_free(&secret);
	if (rc)
		return cli_fail(&e);
settings:
	set_values[0] = incoming;
	set_values[1] = mail_ca;
	set_values[2] = kme_id;
	set_values[3] = pop3_delete ? "1" : NULL;
	set_values[4] = save_sent > 0 ? "1" : save_sent < 0 ? "0" : NULL;
	for (size_t i = 0; i < 5; i++)
		if (set_values[i] &&
		    qm_client_setting_set(g->client, a.id, set_names[i],
		                          set_values[i], &e))
			return cli_fail(&e);
	printf("account %s added (id %lld)\n", a.address, (long long)a.id);
	return 0;
}

static const char *tls_name(enum qm_store_tls t)
{
	return t == QM_TLS_IMPLICIT ? "tls" : t == QM_TLS_STARTTLS ? "starttls"
	                                                            : "none";
}

static int account_list(struct cli *g)
{
	struct qm_store_account *as = NULL;
	struct qm_error e;
	size_t n = 0;
	int rc;

	if ((rc = cli_open(g)))
		return rc;
	qm_error_clear(&e);
	if (qm_client_account_list(g->client, &as, &n, &e))
		return cli_fail(&e);
	for (size_t i = 0; i < n; i++) {
		printf("%lld\t%s\t%s\n", (long long)as[i].id, as[i].address,
		       as[i].display_name);
		printf("\tSMTP %s:%d (%s)", as[i].smtp.host, as[i].smtp.port,
		       tls_name(as[i].smtp.tls));
		if (as[i].imap.host[0])
			printf("  IMAP %s:%d (%s)", as[i].imap.host,
			       as[i].imap.port, tls_name(as[i].imap.tls));
		if (as[i].pop3.host[0])
			printf("  POP3 %s:%d (%s)", as[i].pop3.host,
			       as[i].pop3.port, tls_name(as[i].pop3.tls));
		printf("\n\tSAE %s at KME %s, default level %d\n",
		       as[i].sae_id[0] ? as[i].sae_id : "-",
		       as[i].kme_url[0] ? as[i].kme_url : "-",
		       as[i].default_level);
	}
	if (n == 0)
		printf("no accounts: add one with `qmail account add`\n");
	free(as);
	return 0;
}

static void print_check(const char *what, const struct qm_client_check *c)
{
	char hint[QM_ERR_MSGMAX];

	if (!c->tried) {
		printf("%-8s not configured\n", what);
		return;
	}
	printf("%-8s %s  %s (%ld ms)\n", what, c->ok ? "ok  " : "FAIL",
	       c->message, c->ms);
	cli_hint_text(c->hint, NULL, hint, sizeof(hint));
	if (hint[0])
		printf("%-8s hint: %s\n", "", hint);
}

/* An error of the engine about an account setting, with this command's
 * words for an unknown name. */
static int setting_fail(const struct qm_error *e, const char *addr)
{
	if (e->hint != QM_HINT_SETTING_UNKNOWN)
		return cli_fail(e);
	fprintf(stderr, "qmail: %s\n", cli_safe(qm_error_msg(e)));
	fprintf(stderr, "qmail: hint: `qmail account get %s` lists them\n",
	        cli_safe(addr));
	return QM_EXIT_USAGE;
}

/* qmail account get ADDR [NAME]: one value, or the table of them all with
 * "*" on those set by the person. */
static int account_get(struct cli *g, int argc, char **argv)
{
	struct qm_client_setting_info si;
	char v[QM_STORE_PATHMAX + 2];
	struct qm_error e;
	int64_t id;
	int rc, set;

	if (argc != 3 && argc != 4)
		return cli_usage("account get", "give ADDR and perhaps a NAME");
	if ((rc = cli_open(g)) || (rc = cli_account_pick(g, argv[2], &id)))
		return rc;
	qm_error_clear(&e);
	if (argc == 4) {
		if (qm_client_setting_get(g->client, id, argv[3], v, sizeof(v),
		                          NULL, &e))
			return setting_fail(&e, argv[2]);
		printf("%s\n", cli_safe(v));
		return 0;
	}
	printf("%-16s %-12s %-12s %-22s %s\n", "NAME", "VALUE", "DEFAULT",
	       "VALUES", "WHAT");
	for (size_t i = 0; qm_client_setting_at(0, i, &si) == 0; i++) {
		set = 0;
		if (qm_client_setting_get(g->client, id, si.name, v,
		                          sizeof(v) - 1, &set, &e))
			return setting_fail(&e, argv[2]);
		if (set)
			qm_strlcpy(v + strlen(v), "*", sizeof(v) - strlen(v));
		printf("%-16s %-12s %-12s %-22s %s\n", si.name,
		       v[0] ? cli_safe(v) : "-", si.def[0] ? si.def : "-",
		       si.values, si.what);
	}
	printf("\n* set by you; the others are the defaults.\n");
	return 0;
}

/* qmail account set ADDR NAME VALUE|default. */
static int account_set(struct cli *g, int argc, char **argv)
{
	char v[QM_STORE_PATHMAX + 1];
	struct qm_error e;
	int64_t id;
	int rc;

	if (argc != 5)
		return cli_usage("account set", "give ADDR, NAME and VALUE "
		                                "(or default)");
	if ((rc = cli_open(g)) || (rc = cli_account_pick(g, argv[2], &id)))
		return rc;
	qm_error_clear(&e);
	if (qm_client_setting_set(
	        g->client, id, argv[3],
	        strcmp(argv[4], "default") == 0 ? "" : argv[4], &e) ||
	    qm_client_setting_get(g->client, id, argv[3], v, sizeof(v), NULL,
	                          &e))
		return setting_fail(&e, argv[2]);
	if (!g->quiet)
		printf("%s of %s = %s\n", argv[3], cli_safe(argv[2]),
		       v[0] ? cli_safe(v) : "(none)");
	return 0;
}

int cli_cmd_account(struct cli *g, int argc, char **argv)
{
	struct qm_error e;
	int64_t id;
	int rc;

	if (argc < 2 || cli_is_help(argv[1])) {
		fputs(account_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? QM_EXIT_USAGE : 0;
	}
	qm_error_clear(&e);
	if (strcmp(argv[1], "add") == 0)
		return account_add(g, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return account_list(g);
	if (strcmp(argv[1], "discover") == 0)
		return cli_account_discover(g, argc, argv);
	if (strcmp(argv[1], "get") == 0)
		return account_get(g, argc, argv);
	if (strcmp(argv[1], "set") == 0)
		return account_set(g, argc, argv);
	if (strcmp(argv[1], "signin") == 0)
		return cli_account_signin(g, argc, argv);
	if (strcmp(argv[1], "remove") == 0) {
		if (argc != 3)
			return cli_usage("account remove", "give the address");
		struct qm_store_account ra;

		if ((rc = cli_open(g)) || (rc = cli_account_pick(g, argv[2], &id)))
			return rc;
		if (qm_client_account_get(g->client, id, &ra, &e))
			return cli_fail(&e);
		/* an OAuth2 account is signed out at the provider first, so
		 * that no token of it stays valid there */
		if (ra.auth == QM_AUTH_OAUTH2) {
			if ((rc = cli_open_unlocked(g)))
				return rc;
			if (qm_client_account_oauth_revoke(g->client, id, &e))
				fprintf(stderr,
				        "qmail: warning: %s; its sign-in stays "
				        "valid at the provider until you remove "
				        "QMail's access there\n",
				        cli_safe(qm_error_msg(&e)));
			else
				printf("signed out at the provider\n");
		}
		if (qm_client_account_delete(g->client, id, &e))
			return cli_fail(&e);
		printf("account %s removed\n", argv[2]);
		return 0;
	}
	if (strcmp(argv[1], "secret") == 0) {
		struct qm_buf secret;
		const char *file;
		int oauth;

		if (argc != 5 || (strcmp(argv[3], "--password-file") &&
		                  strcmp(argv[3], "--oauth2-token-file")))
			return cli_usage("account secret",
			                 "give ADDR and --password-file F or "
			                 "--oauth2-token-file F");
		oauth = argv[3][2] == 'o';
		file = argv[4];
		if ((rc = cli_open_unlocked(g)) ||
		    (rc = cli_account_pick(g, argv[2], &id)))
			return rc;
		qm_buf_init_secure(&secret, 64 * 1024);
		rc = qm_file_read(file, 64 * 1024, &secret, &e);
		while (!rc && secret.len &&
		       (secret.data[secret.len - 1] == '\n' ||
		        secret.data[secret.len - 1] == '\r'))
			secret.data[--secret.len] = '\0';
		if (!rc && secret.len == 0)
			rc = qm_error_set(&e, QM_ERR_INVAL, "%s is empty", file);
		if (!rc)
			rc = qm_client_account_secret_set(
			    g->client, id, oauth ? QM_AUTH_OAUTH2 : QM_AUTH_PASSWORD,
			    (const char *)secret.data, secret.len, &e);
		qm_buf_free(&secret);
		if (rc)
			return cli_fail(&e);
		printf("%s of %s replaced\n", oauth ? "OAuth2 token" : "password",
		       argv[2]);
		return 0;
	}
	if (strcmp(argv[1], "test") == 0) {
		struct qm_client_check s, in, k;

		if ((rc = cli_open_unlocked(g)) ||
		    (rc = cli_account_pick(g, argc > 2 ? argv[2] : NULL, &id)))
			return rc;
		if (qm_client_account_test(g->client, id, &s, &in, &k, &e))
			return cli_fail(&e);
		print_check("SMTP", &s);
		print_check("incoming", &in);
		print_check("KME", &k);
		return (s.tried && !s.ok) || (in.tried && !in.ok) ||
		               (k.tried && !k.ok)
		               ? QM_EXIT_NET
		               : 0;
	}
	return cli_usage("account", "unknown subcommand \"%s\"", argv[1]);
}

static const char contact_help[] =
    "usage: qmail contact add ADDR --sae ID [--name NAME] [--min-level N]\n"
    "       qmail contact list\n"
    "       qmail contact confirm ADDR\n"
    "       qmail contact import FILE.vcf\n"
    "       qmail contact export [FILE.vcf]\n"
    "\n"
    "Levels 1 and 2 need each recipient's SAE ID (the name of their\n"
    "application at their KME). An SAE ID learned from a verified QMail\n"
    "message is used only once you confirm it. --min-level N refuses to\n"
    "send to this contact below level N. Options: --account ADDR.\n"
    "\n"
    "import reads a vCard file (3.0 or 4.0, as Thunderbird, Proton, Google\n"
    "Contacts and Apple export them): each address becomes a contact with\n"
    "the card's name; an existing contact gets the name only (its SAE ID,\n"
    "minimum level and keys stay). export writes vCard 4.0 to FILE, or to\n"
    "the standard output. `qmail contacts` is the same command.\n";

/* qmail contact import FILE: the counts, then why some were skipped. */
static int contact_import(struct cli *g, int64_t id, const char *path)
{
	struct qm_client_vcard_stats *st;
	struct qm_error e;
	struct qm_buf b;
	int rc = 0;

	st = calloc(1, sizeof(*st));
	if (!st)
		return cli_usage("contact import", "out of memory");
	qm_error_clear(&e);
	qm_buf_init(&b, QM_CLIENT_VCARD_MAX);
	if (qm_file_read(path, QM_CLIENT_VCARD_MAX, &b, &e) ||
	    qm_client_contacts_import_vcard(g->client, id,
	                                    b.data ? (const char *)b.data : "",
	                                    b.len, st, &e))
		rc = cli_fail(&e);
	if (!rc || st->cards)
		printf("%zu cards read: %zu contacts added, %zu names "
		       "updated, %zu unchanged, %zu skipped\n",
		       st->cards, st->added, st->updated, st->unchanged,
		       st->skipped);
	for (size_t i = 0; i < st->n_why; i++)
		printf("skipped: %s\n", cli_safe(st->why[i]));
	if (st->skipped > st->n_why)
		printf("(and %zu more skipped)\n", st->skipped - st->n_why);
	qm_buf_free(&b);
	free(st);
	return rc;
}

/* qmail contact export [FILE]: vCard 4.0 to FILE or the standard output. */
static int contact_export(struct cli *g, int64_t id, const char *path)
{
	struct qm_error e;
	struct qm_buf b;
	size_t n = 0;
	int rc = 0;

	qm_error_clear(&e);
	qm_buf_init(&b, QM_CLIENT_VCARD_MAX);
	if (qm_client_contacts_export_vcard(g->client, id, &b, &n, &e))
		rc = cli_fail(&e);
	else if (path &&
	         qm_file_write_atomic(path, b.data ? (const void *)b.data : "",
	                              b.len, 0600, &e))
		rc = cli_fail(&e);
	else if (path)
		printf("exported %zu contacts to %s\n", n, cli_safe(path));
	else if (b.len && fwrite(b.data, 1, b.len, stdout) != b.len)
		rc = 1;
	qm_buf_free(&b);
	return rc;
}

int cli_cmd_contact(struct cli *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{"sae", 1, 0, 's'},   {"name", 1, 0, 'n'},
		{"min-level", 1, 0, 'm'}, {"account", 1, 0, 'a'},
		{"help", 0, 0, 'h'},  {0, 0, 0, 0}};
	struct qm_store_contact ct;
	const char *account = NULL;
	struct qm_error e;
	long long ml = 0;
	int64_t id;
	int c, rc;

	if (argc < 2 || cli_is_help(argv[1])) {
		fputs(contact_help, argc < 2 ? stderr : stdout);
		return argc < 2 ? QM_EXIT_USAGE : 0;
	}
	memset(&ct, 0, sizeof(ct));
	optind = 0;
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': qm_strlcpy(ct.sae_id, optarg, sizeof(ct.sae_id)); break;
		case 'n': qm_strlcpy(ct.name, optarg, sizeof(ct.name)); break;
		case 'a': account = optarg; break;
		case 'm':
			if (qm_parse_ll(optarg, 1, 4, &ml, NULL))
				return cli_usage("contact", "--min-level is 1-4");
			break;
		case 'h': fputs(contact_help, stdout); return 0;
		default: return cli_usage("contact", "bad option");
		}
	}
	/* unlocked: a contact's labels carry a MAC under the vault key */
	if ((rc = cli_open_unlocked(g)) ||
	    (rc = cli_account_pick(g, account, &id)))
		return rc;
	qm_error_clear(&e);
	if (strcmp(argv[1], "add") == 0) {
		if (optind + 1 >= argc)
			return cli_usage("contact add", "give the address");
		qm_strlcpy(ct.address, argv[optind + 1], sizeof(ct.address));
		ct.min_level = (int)ml;
		if (qm_client_contact_put(g->client, id, &ct, &e))
			return cli_fail(&e);
		printf("contact %s: SAE %s\n", ct.address,
		       ct.sae_id[0] ? ct.sae_id : "-");
		return 0;
	}
	if (strcmp(argv[1], "confirm") == 0) {
		if (optind + 1 >= argc)
			return cli_usage("contact confirm", "give the address");
		if (qm_client_contact_confirm(g->client, id, argv[optind + 1],
		                              &e))
			return cli_fail(&e);
		printf("contact %s confirmed\n", argv[optind + 1]);
		return 0;
	}
	if (strcmp(argv[1], "import") == 0) {
		if (optind + 1 >= argc)
			return cli_usage("contact import",
			                 "give the vCard file");
		return contact_import(g, id, argv[optind + 1]);
	}
	if (strcmp(argv[1], "export") == 0)
		return contact_export(
		    g, id, optind + 1 < argc ? argv[optind + 1] : NULL);
	if (strcmp(argv[1], "suggest") == 0) {
		struct qm_client_suggestion *sg = NULL;
		size_t n = 0;

		if (optind + 1 >= argc)
			return cli_usage("contact suggest", "give the text");
		if (qm_client_suggest(g->client, id, argv[optind + 1], 0, &sg,
		                      &n, &e))
			return cli_fail(&e);
		for (size_t i = 0; i < n; i++)
			printf("%s%s%s%s\t%s%zu message%s\n",
			       cli_safe(sg[i].name), sg[i].name[0] ? " <" : "",
			       cli_safe(sg[i].address),
			       sg[i].name[0] ? ">" : "",
			       sg[i].contact ? "contact, " : "", sg[i].messages,
			       sg[i].messages == 1 ? "" : "s");
		free(sg);
		return 0;
	}
	if (strcmp(argv[1], "list") == 0) {
		struct qm_store_contact *cs = NULL;
		size_t n = 0;

		if (qm_client_contact_list(g->client, id, &cs, &n, &e))
			return cli_fail(&e);
		for (size_t i = 0; i < n; i++)
			printf("%s\t%s\tSAE %s%s\tmin level %d\n",
			       cli_safe(cs[i].address), cli_safe(cs[i].name),
			       cs[i].sae_id[0] ? cli_safe(cs[i].sae_id) : "-",
			       cs[i].label == QM_LABEL_ALTERED
			               ? " (CHANGED ON DISK: not used; add the "
			                 "contact again)"
			       : cs[i].sae_id[0] && !cs[i].confirmed
			               ? " (learned, not confirmed)"
			               : "",
			       cs[i].min_level);
		free(cs);
		return 0;
	}
	return cli_usage("contact", "unknown subcommand \"%s\"", argv[1]);
}
