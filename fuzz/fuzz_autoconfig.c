/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: autoconfig files (qm_mail_autoconfig_parse), as account
 * discovery fetches them from a domain's web server. Whatever the file
 * says, what comes back must be usable as is: host names that pass the
 * check, ports in range, TLS always, https OAuth2 URLs.
 */
#include <string.h>

#include "fuzz.h"
#include "mail/mail.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	return 0;
}

static void check_server(const struct qm_mail_ac_server *s)
{
	if (!s->host[0])
		return;
	if (!qm_mail_hostname_ok(s->host) || s->port < 1 || s->port > 65535 ||
	    (s->tls != QM_MAIL_TLS_IMPLICIT &&
	     s->tls != QM_MAIL_TLS_STARTTLS) ||
	    strchr(s->username, '%'))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_mail_autoconfig ac;
	struct qm_error e;

	memset(&ac, 0, sizeof(ac));
	if (qm_mail_autoconfig_parse((const char *)data, size,
	                             "fuzz.user@example.org", &ac, &e) != QM_OK)
		return 0;
	if (!ac.smtp.host[0] || (!ac.imap.host[0] && !ac.pop3.host[0]))
		__builtin_trap(); /* success means both kinds */
	check_server(&ac.imap);
	check_server(&ac.pop3);
	check_server(&ac.smtp);
	if (ac.oauth_auth_url[0] &&
	    (strncmp(ac.oauth_auth_url, "https://", 8) != 0 ||
	     strncmp(ac.oauth_token_url, "https://", 8) != 0))
		__builtin_trap();
	return 0;
}
