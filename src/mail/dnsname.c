/* SPDX-License-Identifier: MIT */
/*
 * Checks and orderings of discovery that need no network: whether a name
 * from an untrusted source (an autoconfig file, a DNS answer) is a host
 * name QMail connects to, the order SRV records are tried in (RFC 2782:
 * priority, then weight), and the host of a URL for messages.
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

int qm_mail_hostname_ok(const char *host)
{
	size_t len = host ? strlen(host) : 0, label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)host[i];

		if (ch == '.') {
			if (label == 0 || host[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9') && ch != '-')
			return 0;
		if (ch == '-' && label == 0)
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && host[len - 1] != '-';
}

static int srv_cmp(const void *a, const void *b)
{
	const struct qm_mail_srv *x = a, *y = b;

	if (x->priority != y->priority)
		return x->priority < y->priority ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	return strcmp(x->target, y->target);
}

void qm_mail_srv_sort(struct qm_mail_srv *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), srv_cmp);
}

void qm_mail_url_host(const char *url, char *out, size_t outlen)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h ? h + 3 : url;
	n = strcspn(h, "/?#");
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, h, n);
	out[n] = '\0';
}
