/* SPDX-License-Identifier: MIT */
/*
 * String helpers shared by the MIME and the transport files of the mail
 * layer. They live with the MIME code (qm_mail_mime), which the transport
 * (qm_mail_net) links, so that the MIME library stands alone.
 */
#include <stdlib.h>
#include <string.h>

#include "mail/private.h"

char *mail_strdup(const char *s)
{
	return mail_strndup(s ? s : "", s ? strlen(s) : 0);
}

char *mail_strndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (!d)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}
