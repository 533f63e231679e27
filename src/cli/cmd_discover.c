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
	if (d->folder_sent[0]) {
		/* only the folders the registry names ("" means the server
		 * says, by its SPECIAL-USE flags) */
		const struct {
			const char *k, *v;
		} f[] = {{"sent", d->folder_sent},   {"drafts", d->folder_drafts},
		         {"trash", d->folder_trash}, {"junk", d->folder_junk},
		         {"archive", d->folder_archive}};
		const char *sep = "\t";

		printf("folders");
		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			if (f[i].v[0]) {
				printf("%s%s=%s", sep, f[i].k, cli_safe(f[i].v));
				sep = " ";
			}
		printf("\n");
	}
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

int cli_account_add_discover(struct cli *g, struct qm_store_account *a,
                             struct qm_client_discovery *found)
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
	if (found)
		*found = *d;
out:
	free(d);
	return rc;
}

/* A global setting's value into out ("" when unset or unknown). */
static void global_setting(struct cli *g, const char *name, char *out,
                           size_t n)
{
	int set = 0;

	if (qm_client_setting_get(g->client, 0, name, out, n, &set, NULL) ||
	    !set)
		out[0] = '\0';
}

int cli_oauth_from_discovery(struct cli *g, const char *preset,
                             const struct qm_store_account *a,
                             struct qm_client_discovery *d,
                             struct qm_client_oauth_endpoints *ep,
                             char *client_id, size_t idlen,
                             struct qm_buf *secret, char *ca, size_t calen)
{
	struct qm_client_provider p;
	struct qm_error e;
	char name[96], v[QM_STORE_NAMEMAX];

	qm_error_clear(&e);
	if (preset) {
		/* the registry's provider of that name */
		if (qm_client_provider_find(preset, NULL, &p, &e))
			return cli_fail(&e);
		memset(d, 0, sizeof(*d));
		d->oauth2 = p.oauth2;
		d->oauth = p.oauth;
		qm_strlcpy(d->oauth_settings, p.oauth_settings,
		           sizeof(d->oauth_settings));
		qm_strlcpy(d->provider_name, p.name, sizeof(d->provider_name));
	} else if (d->found == QM_FOUND_NONE &&
	           qm_client_discover(g->client, a->address, d, NULL, NULL,
	                              &e)) {
		cli_fail(&e);
		fprintf(stderr, "qmail: give the provider's endpoints with "
		                "--oauth-issuer or --oauth-auth-url and "
		                "--oauth-token-url\n");
		return QM_EXIT_ERROR;
	}
	if (!d->oauth2) {
		fprintf(stderr,
		        "qmail: %s offers no OAuth2 sign-in that QMail knows "
		        "of: give its endpoints with --oauth-issuer, or use "
		        "--password-file\n",
		        cli_safe(a->address));
		return QM_EXIT_USAGE;
	}
	*ep = d->oauth;
	if (!client_id[0] && d->oauth_settings[0]) {
		snprintf(name, sizeof(name), "oauth.%s.client_id",
		         d->oauth_settings);
		global_setting(g, name, client_id, idlen);
	}
	if (!client_id[0]) {
		if (d->oauth_settings[0])
			fprintf(stderr,
			        "qmail: %s signs in only with a client ID of "
			        "your own: register one (docs/USING.md, "
			        "\"OAuth2 sign-in\"), then give it with "
			        "--client-id or keep it with `qmail config set "
			        "oauth.%s.client_id ID`\n",
			        cli_safe(d->provider_name[0] ? d->provider_name
			                                     : a->address),
			        d->oauth_settings);
		else
			fprintf(stderr, "qmail: give the client ID you "
			                "registered with the provider: "
			                "--client-id ID\n");
		return QM_EXIT_USAGE;
	}
	if (!secret->len && d->oauth_settings[0]) {
		snprintf(name, sizeof(name), "oauth.%s.client_secret",
		         d->oauth_settings);
		global_setting(g, name, v, sizeof(v));
		if (v[0] && qm_buf_append(secret, v, strlen(v), &e)) {
			qm_wipe(v, sizeof(v));
			return cli_fail(&e);
		}
		qm_wipe(v, sizeof(v));
	}
	if (ep->secret_required && !secret->len) {
		fprintf(stderr,
		        "qmail: %s wants the client secret that came with the "
		        "client ID too: --client-secret-file F, or `qmail "
		        "config set oauth.%s.client_secret`\n",
		        cli_safe(d->provider_name[0] ? d->provider_name
		                                     : a->address),
		        d->oauth_settings[0] ? d->oauth_settings : "PROVIDER");
		return QM_EXIT_USAGE;
	}
	if (!ca[0])
		global_setting(g, QM_CLIENT_SET_DISCOVER_CA, ca, calen);
	return 0;
}
