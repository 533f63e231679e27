/* SPDX-License-Identifier: MIT */
/*
 * qmail account discover ADDR: what the engine finds for an address (the
 * provider registry, the domain's autoconfig over HTTPS, SRV records, the
 * MX) and where, as KEY<TAB>VALUE lines; and the servers `account add`
 * takes when it is given none.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const char discover_help[] =
    "usage: qmail account discover ADDR [--verbose]\n"
    "\n"
    "Finds the servers of ADDR as `account add --address ADDR` does when it\n"
    "is given no server: the provider registry (Gmail, Outlook.com,\n"
    "Microsoft 365, Yahoo), then the domain's autoconfig file over HTTPS\n"
    "(autoconfig.DOMAIN, then DOMAIN/.well-known), RFC 6186 SRV records,\n"
    "then the domain's MX. Servers without TLS are refused. Prints one\n"
    "KEY<TAB>VALUE line each: found, where, provider, smtp, imap, pop3\n"
    "(host:port tls|starttls), username, auth, oauth2.* (endpoints and\n"
    "scope), oauth2.client_id (set or the setting to set), quirk, folders,\n"
    "note (what was tried and refused, one a line).\n"
    "--verbose also shows each step on stderr. Adds nothing.\n";

static const char *tls_word(enum qm_store_tls t)
{
	return t == QM_TLS_IMPLICIT ? "tls" : "starttls";
}

static void server_line(const char *key, const struct qm_store_server *s)
{
	if (s->host[0])
		printf("%s\t%s:%d %s\n", key, cli_safe(s->host), s->port,
		       tls_word(s->tls));
}

static void step_line(void *arg, const char *step)
{
	if (*(int *)arg)
		fprintf(stderr, "qmail: trying %s\n", cli_safe(step));
}

/* Prints what d says, one KEY<TAB>VALUE a line. */
static void discovery_print(const struct qm_client_discovery *d)
{
	const struct qm_client_oauth_endpoints *o = &d->oauth;

	printf("found\t%s\n", qm_client_found_name(d->found));
	printf("where\t%s\n", cli_safe(d->where));
	if (d->provider[0] || d->provider_name[0])
		printf("provider\t%s\t%s\n", d->provider[0] ? d->provider : "-",
		       cli_safe(d->provider_name));
	server_line("smtp", &d->smtp);
	server_line("imap", &d->imap);
	server_line("pop3", &d->pop3);
	printf("username\t%s\n", cli_safe(d->username));
	printf("auth\t%s%s%s\n", d->password ? "password" : "",
	       d->password && d->oauth2 ? " " : "", d->oauth2 ? "oauth2" : "");
	if (d->oauth2) {
		if (o->issuer[0])
			printf("oauth2.issuer\t%s\n", cli_safe(o->issuer));
		printf("oauth2.auth_url\t%s\n", cli_safe(o->auth_url));
		printf("oauth2.token_url\t%s\n", cli_safe(o->token_url));
		if (o->device_url[0])
			printf("oauth2.device_url\t%s\n",
			       cli_safe(o->device_url));
		if (o->revoke_url[0])
			printf("oauth2.revoke_url\t%s\n",
			       cli_safe(o->revoke_url));
		printf("oauth2.scope\t%s\n", cli_safe(o->scope));
		if (o->extra_params[0])
			printf("oauth2.extra_params\t%s\n",
			       cli_safe(o->extra_params));
		if (d->oauth_settings[0])
			printf("oauth2.client_id\t%s\n",
			       d->client_id_set ? "set" : "unset");
		if (d->oauth_settings[0] && !d->client_id_set)
			printf("hint\tset your own client ID: qmail config set "
			       "oauth.%s.client_id ID%s\n",
			       d->oauth_settings,
			       o->secret_required ? " (and .client_secret)"
			                          : "");
	}
	if (d->server_saves_sent)
		printf("quirk\tserver_saves_sent\n");
	if (d->folder_sent[0])
		printf("folders\tsent=%s drafts=%s trash=%s junk=%s "
		       "archive=%s\n",
		       cli_safe(d->folder_sent), cli_safe(d->folder_drafts),
		       cli_safe(d->folder_trash), cli_safe(d->folder_junk),
		       cli_safe(d->folder_archive));
	for (const char *p = d->notes; *p;) {
		char line[QM_ERR_MSGMAX];
		size_t n = strcspn(p, "\n");

		if (n >= sizeof(line))
			n = sizeof(line) - 1;
		memcpy(line, p, n);
		line[n] = '\0';
		printf("note\t%s\n", cli_safe(line));
		p += n;
		p += *p == '\n';
	}
}

int cli_account_discover(struct cli *g, int argc, char **argv)
{
	struct qm_client_discovery *d;
	struct qm_error e;
	const char *addr = NULL;
	int verbose = 0, rc;

	for (int i = 2; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			fputs(discover_help, stdout);
			return QM_EXIT_OK;
		}
		if (strcmp(argv[i], "--verbose") == 0 ||
		    strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (!addr && argv[i][0] != '-')
			addr = argv[i];
		else
			return cli_usage("account discover",
			                 "unexpected argument %s", argv[i]);
	}
	if (!addr)
		return cli_usage("account discover", "give the address");
	if ((rc = cli_open(g)))
		return rc;
	d = calloc(1, sizeof(*d));
	if (!d)
		return QM_EXIT_ERROR;
	qm_error_clear(&e);
	rc = qm_client_discover(g->client, addr, d, step_line, &verbose, &e)
	         ? cli_fail(&e)
	         : QM_EXIT_OK;
	if (!rc)
		discovery_print(d);
	free(d);
	return rc;
}

int cli_account_add_discover(struct cli *g, struct qm_store_account *a)
{
	struct qm_client_discovery *d = calloc(1, sizeof(*d));
	char user[sizeof(a->username)];
	struct qm_error e;
	int verbose = 0, rc = QM_EXIT_OK;

	if (!d)
		return QM_EXIT_ERROR;
	qm_error_clear(&e);
	qm_strlcpy(user, a->username, sizeof(user));
	if (qm_client_discover(g->client, a->address, d, step_line, &verbose,
	                       &e)) {
		rc = cli_fail(&e);
		fprintf(stderr, "qmail: give the servers with --smtp and "
		                "--imap or --pop3\n");
		goto out;
	}
	qm_client_discovery_apply(d, a);
	if (user[0])
		qm_strlcpy(a->username, user, sizeof(a->username));
	printf("servers found: %s\n", cli_safe(d->where));
	server_line("smtp", &d->smtp);
	server_line("imap", &d->imap);
	server_line("pop3", &d->pop3);
out:
	free(d);
	return rc;
}
