/* SPDX-License-Identifier: MIT */
/*
 * Finding an account's servers from its address, in Thunderbird's order:
 * the provider registry, the domain's autoconfig file over HTTPS (two
 * places), RFC 6186 SRV records, then the domain's MX against the
 * registry. Never plain text: autoconfig over https only (a redirect to
 * anything else is refused), a server offered without TLS is refused with
 * its name, and SRV records without TLS variants mean STARTTLS required.
 * The network and the XML are the mail layer's; the order and the choice
 * are here. docs/CLIENT.md "Finding the servers".
 */
#include "private.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DISC_REDIRECTS 3
#define DISC_HTTPS_MS  10000L /* an autoconfig file, in all */

struct disc {
	struct qm_client *c;
	const char *address;
	char domain[QM_STORE_HOSTMAX];
	char dns[64];              /* discover.dns_server ("": the system's) */
	char ca[QM_STORE_PATHMAX]; /* discover.ca_file ("": the system's) */
	int https_port;            /* discover.https_port (443) */
	int dns_down; /* a look-up found no DNS server: ask no more */
	struct qm_client_discovery *out;
	void (*progress)(void *arg, const char *step);
	void *arg;
};

const char *qm_client_found_name(enum qm_client_found f)
{
	switch (f) {
	case QM_FOUND_REGISTRY:
		return "registry";
	case QM_FOUND_AUTOCONFIG:
		return "autoconfig";
	case QM_FOUND_WELLKNOWN:
		return "well-known";
	case QM_FOUND_SRV:
		return "SRV";
	case QM_FOUND_MX:
		return "MX";
	case QM_FOUND_NONE:
		break;
	}
	return "";
}

static void step(struct disc *d, const char *fmt, ...) QM_PRINTF(2, 3);
static void step(struct disc *d, const char *fmt, ...)
{
	char line[QM_STORE_PATHMAX];
	va_list ap;

	if (!d->progress)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	d->progress(d->arg, line);
}

/* Adds a line to out->notes: what was tried and refused or missing. */
static void note(struct disc *d, const char *fmt, ...) QM_PRINTF(2, 3);
static void note(struct disc *d, const char *fmt, ...)
{
	char *n = d->out->notes;
	size_t used = strlen(n), cap = sizeof(d->out->notes);
	va_list ap;

	if (used + 3 >= cap)
		return;
	if (used) {
		memcpy(n + used, "\n", 2);
		used += 1;
	}
	va_start(ap, fmt);
	vsnprintf(n + used, cap - used, fmt, ap);
	va_end(ap);
	/* one line each: a note names no line break of its own */
	for (char *q = n + used; *q; q++)
		if (*q == '\n' || *q == '\r')
			*q = ' ';
}

/* A global setting's value into out ("" when unset or unreadable). */
static void setting(struct qm_client *c, const char *name, char *out, size_t n)
{
	int set = 0;

	if (!c || qm_client_setting_get(c, 0, name, out, n, &set, NULL) || !set)
		out[0] = '\0';
}

/* Copies what the registry says of provider p into d->out. */
static void from_provider(struct disc *d, const struct qm_client_provider *p,
                          int servers)
{
	struct qm_client_discovery *o = d->out;
	char name[96], v[QM_STORE_NAMEMAX];

	qm_strlcpy(o->provider, p->id, sizeof(o->provider));
	qm_strlcpy(o->provider_name, p->name, sizeof(o->provider_name));
	if (servers) {
		o->smtp = p->smtp;
		o->imap = p->imap;
		o->pop3 = p->pop3;
		o->password = p->password;
	}
	o->oauth2 = p->oauth2;
	o->oauth = p->oauth;
	qm_strlcpy(o->oauth_settings, p->oauth_settings,
	           sizeof(o->oauth_settings));
	if (p->oauth_settings[0]) {
		snprintf(name, sizeof(name), "oauth.%s.client_id",
		         p->oauth_settings);
		setting(d->c, name, v, sizeof(v));
		o->client_id_set = v[0] != '\0';
	}
	o->server_saves_sent = p->server_saves_sent;
	qm_strlcpy(o->folder_sent, p->folder_sent, sizeof(o->folder_sent));
	qm_strlcpy(o->folder_drafts, p->folder_drafts,
	           sizeof(o->folder_drafts));
	qm_strlcpy(o->folder_trash, p->folder_trash, sizeof(o->folder_trash));
	qm_strlcpy(o->folder_junk, p->folder_junk, sizeof(o->folder_junk));
	qm_strlcpy(o->folder_archive, p->folder_archive,
	           sizeof(o->folder_archive));
}

/* When the IMAP (else SMTP) host found is a registry provider's, its
 * quirks and OAuth2 endpoints (a Workspace domain's autoconfig or SRV
 * pointing at imap.gmail.com). */
static void match_provider(struct disc *d)
{
	struct qm_client_discovery *o = d->out;
	size_t n = qm_client_provider_count();

	for (size_t i = 0; i < n; i++) {
		struct qm_client_provider p;
		int had_oauth = o->oauth.auth_url[0] != '\0';
		struct qm_client_oauth_endpoints keep = o->oauth;

		if (qm_client_provider_at(i, &p, NULL))
			continue;
		if ((o->imap.host[0] &&
		     strcasecmp(o->imap.host, p.imap.host) == 0) ||
		    (o->smtp.host[0] &&
		     strcasecmp(o->smtp.host, p.smtp.host) == 0)) {
			int oauth2 = o->oauth2, pw = o->password;

			from_provider(d, &p, 0);
			o->password = pw;
			if (had_oauth) { /* the domain's own file wins */
				o->oauth = keep;
				o->oauth2 = oauth2;
			}
			return;
		}
	}
}

/* 1 when a DNS look-up failed (rc not QM_OK); a resolver that cannot be
 * reached is noted once and not asked again (each try costs seconds). */
static int dns_failed(struct disc *d, enum qm_err rc)
{
	if (rc == QM_ERR_TIMEOUT) {
		d->dns_down = 1;
		note(d, "the DNS server %s did not answer",
		     d->dns[0] ? d->dns : "of this system");
	}
	return rc != QM_OK;
}

/* ------------------------------------------------------------ autoconfig */

/* Percent-encodes s (every byte but unreserved ones) into out. */
static int urlenc(const char *s, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isalnum(ch) || ch == '-' || ch == '.' || ch == '_' ||
		    ch == '~') {
			if (o + 1 >= n)
				return -1;
			out[o++] = (char)ch;
		} else {
			if (o + 3 >= n)
				return -1;
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* The host and port of an https URL; -1 when it is not one. */
static int url_host(const char *url, char *host, size_t n, int *port)
{
	const char *h, *e;
	size_t l;

	if (strncasecmp(url, "https://", 8) != 0)
		return -1;
	h = url + 8;
	e = h + strcspn(h, ":/?#");
	l = (size_t)(e - h);
	if (l == 0 || l >= n)
		return -1;
	memcpy(host, h, l);
	host[l] = '\0';
	*port = 443;
	if (*e == ':') {
		long long p;
		char num[8];
		size_t pl = strcspn(e + 1, "/?#");

		if (pl == 0 || pl >= sizeof(num))
			return -1;
		memcpy(num, e + 1, pl);
		num[pl] = '\0';
		if (qm_parse_ll(num, 1, 65535, &p, NULL))
			return -1;
		*port = (int)p;
	}
	return qm_mail_hostname_ok(host) ? 0 : -1;
}

/*
 * GETs url over HTTPS into body, following up to DISC_REDIRECTS https
 * redirects; a redirect anywhere else is refused (QM_ERR_DENIED). With
 * discover.dns_server set, each host is resolved through it.
 */
static enum qm_err fetch(struct disc *d, const char *first, struct qm_buf *body,
                         struct qm_error *err)
{
	char url[QM_STORE_PATHMAX], loc[QM_STORE_PATHMAX];
	enum qm_err rc;

	qm_strlcpy(url, first, sizeof(url));
	for (int hop = 0; hop <= DISC_REDIRECTS; hop++) {
		struct qm_mail_https_req req;
		char host[QM_STORE_HOSTMAX], ip[64],
		    resolve[QM_STORE_HOSTMAX + 80];
		long status = 0;
		int port;

		memset(&req, 0, sizeof(req));
		if (url_host(url, host, sizeof(host), &port) < 0)
			return qm_error_set(
			    err, QM_ERR_DENIED,
			    "refused to follow %.200s: autoconfig "
			    "is read over https only",
			    url);
		req.url = url;
		req.ca_file = d->ca[0] ? d->ca : NULL;
		req.timeout_ms = DISC_HTTPS_MS;
		if (d->dns[0]) {
			if (d->dns_down)
				return qm_error_set(
				    err, QM_ERR_TIMEOUT,
				    "%.200s: the DNS server did "
				    "not answer",
				    host);
			rc = qm_mail_dns_a(d->dns, host, ip, sizeof(ip), err);
			if (rc == QM_ERR_TIMEOUT)
				d->dns_down = 1;
			if (rc)
				return rc;
			snprintf(resolve, sizeof(resolve), "%s:%d:%s", host,
			         port, ip);
			req.resolve = resolve;
		}
		qm_buf_reset(body);
		rc = qm_mail_https_request(&req, body, &status, loc,
		                           sizeof(loc), err);
		if (rc)
			return rc;
		if (status == 200)
			return QM_OK;
		if (status >= 300 && status < 400 && loc[0]) {
			if (strncasecmp(loc, "https://", 8) != 0)
				return qm_error_set(
				    err, QM_ERR_DENIED,
				    "%.200s redirects to %.200s: "
				    "refused (https only)",
				    url, loc);
			qm_strlcpy(url, loc, sizeof(url));
			continue;
		}
		return qm_error_set(err, QM_ERR_NOTFOUND, "%.200s: HTTP %ld",
		                    url, status);
	}
	return qm_error_set(err, QM_ERR_NOTFOUND,
	                    "%.200s: more than %d redirects", first,
	                    DISC_REDIRECTS);
}

static void ac_server(const struct qm_mail_ac_server *s,
                      struct qm_store_server *o)
{
	memset(o, 0, sizeof(*o));
	if (!s->host[0])
		return;
	qm_strlcpy(o->host, s->host, sizeof(o->host));
	o->port = s->port;
	o->tls =
	    s->tls == QM_MAIL_TLS_STARTTLS ? QM_TLS_STARTTLS : QM_TLS_IMPLICIT;
}

/* Fills d->out from a parsed autoconfig file. */
static void from_autoconfig(struct disc *d, const struct qm_mail_autoconfig *ac)
{
	struct qm_client_discovery *o = d->out;
	const struct qm_mail_ac_server *in =
	    ac->imap.host[0] ? &ac->imap : &ac->pop3;

	ac_server(&ac->imap, &o->imap);
	ac_server(&ac->pop3, &o->pop3);
	ac_server(&ac->smtp, &o->smtp);
	if (in->username[0])
		qm_strlcpy(o->username, in->username, sizeof(o->username));
	qm_strlcpy(o->provider_name,
	           ac->display_name[0] ? ac->display_name : ac->provider_id,
	           sizeof(o->provider_name));
	o->password = in->password;
	o->oauth2 = in->oauth2 && ac->oauth_auth_url[0];
	if (o->oauth2) {
		qm_strlcpy(o->oauth.issuer, ac->oauth_issuer,
		           sizeof(o->oauth.issuer));
		qm_strlcpy(o->oauth.auth_url, ac->oauth_auth_url,
		           sizeof(o->oauth.auth_url));
		qm_strlcpy(o->oauth.token_url, ac->oauth_token_url,
		           sizeof(o->oauth.token_url));
		qm_strlcpy(o->oauth.scope, ac->oauth_scope,
		           sizeof(o->oauth.scope));
	}
	if (ac->refused[0])
		note(d, "refused in the autoconfig file: %s", ac->refused);
}

/* Tries one autoconfig URL: QM_OK when found, QM_ERR_DENIED when the file
 * offers only servers without TLS (discovery stops there), anything else
 * to go on. */
static enum qm_err try_autoconfig(struct disc *d, const char *url,
                                  enum qm_client_found kind,
                                  struct qm_error *err)
{
	struct qm_mail_autoconfig *ac = calloc(1, sizeof(*ac));
	struct qm_error e;
	struct qm_buf body;
	enum qm_err rc;
	int fetched;

	if (!ac)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	qm_buf_init(&body, QM_MAIL_AUTOCONFIG_MAX);
	step(d, "autoconfig %s", url);
	qm_error_clear(&e);
	rc = fetch(d, url, &body, &e);
	fetched = rc == QM_OK;
	if (!rc)
		rc = qm_mail_autoconfig_parse((const char *)body.data, body.len,
		                              d->address, ac, &e);
	if (!rc) {
		from_autoconfig(d, ac);
		d->out->found = kind;
		snprintf(d->out->where, sizeof(d->out->where), "%s %s",
		         qm_client_found_name(kind), url);
	} else if (rc == QM_ERR_DENIED && fetched) {
		/* the domain's own file offers plain text only: stop, say so */
		qm_error_set(err, QM_ERR_DENIED, "%s: %s", url, e.msg);
	} else {
		/* the fetch's messages name the URL; the parser's do not */
		if (fetched)
			note(d, "%s: %s", url, e.msg);
		else
			note(d, "%s", e.msg);
		rc = QM_ERR_NOTFOUND;
	}
	qm_buf_free(&body);
	free(ac);
	return rc;
}

static enum qm_err autoconfig(struct disc *d, struct qm_error *err)
{
	char url[QM_STORE_PATHMAX], enc[QM_STORE_ADDRMAX * 3], port[16] = "";
	int n;
	enum qm_err rc;

	if (d->https_port != 443)
		snprintf(port, sizeof(port), ":%d", d->https_port);
	if (urlenc(d->address, enc, sizeof(enc)) < 0 || strlen(enc) > 600)
		return QM_ERR_NOTFOUND;
	n = snprintf(url, sizeof(url),
	             "https://autoconfig.%s%s/mail/config-v1.1.xml"
	             "?emailaddress=%.*s",
	             d->domain, port, 600, enc);
	if (n < 0 || (size_t)n >= sizeof(url))
		return QM_ERR_NOTFOUND;
	rc = try_autoconfig(d, url, QM_FOUND_AUTOCONFIG, err);
	if (rc != QM_ERR_NOTFOUND)
		return rc;
	snprintf(url, sizeof(url),
	         "https://%s%s/.well-known/autoconfig/mail/config-v1.1.xml",
	         d->domain, port);
	return try_autoconfig(d, url, QM_FOUND_WELLKNOWN, err);
}

/* ------------------------------------------------------------------- SRV */

/*
 * The first usable record of _tls (implicit TLS, preferred: RFC 8314),
 * else of _starttls, into *s; 0 when found, -1 when neither is offered.
 */
static int srv_pick(struct disc *d, const char *tls_svc,
                    const char *starttls_svc, struct qm_store_server *s)
{
	const char *svc[2] = {tls_svc, starttls_svc};

	for (int k = 0; k < 2; k++) {
		struct qm_mail_srv v[8];
		char name[QM_STORE_HOSTMAX + 32];
		size_t n = 0;

		snprintf(name, sizeof(name), "%s.%s", svc[k], d->domain);
		step(d, "SRV %s", name);
		if (d->dns_down ||
		    dns_failed(d,
		               qm_mail_dns_srv(d->dns, name, v, 8, &n, NULL)))
			continue;
		for (size_t i = 0; i < n; i++) {
			char *t = v[i].target;
			size_t l = strlen(t);

			if (l && t[l - 1] == '.')
				t[--l] = '\0';
			if (l == 0)
				break; /* "." : not offered at this domain */
			if (!qm_mail_hostname_ok(t) || v[i].port <= 0) {
				note(d,
				     "SRV %s: target \"%.60s\" port %d "
				     "refused",
				     name, t, v[i].port);
				continue;
			}
			memset(s, 0, sizeof(*s));
			qm_strlcpy(s->host, t, sizeof(s->host));
			s->port = v[i].port;
			s->tls = k == 0 ? QM_TLS_IMPLICIT : QM_TLS_STARTTLS;
			return 0;
		}
	}
	return -1;
}

static enum qm_err srv(struct disc *d)
{
	struct qm_client_discovery *o = d->out;
	int imap, pop3, smtp;

	imap = srv_pick(d, "_imaps._tcp", "_imap._tcp", &o->imap) == 0;
	pop3 = srv_pick(d, "_pop3s._tcp", "_pop3._tcp", &o->pop3) == 0;
	smtp =
	    srv_pick(d, "_submissions._tcp", "_submission._tcp", &o->smtp) == 0;
	if ((imap || pop3) && smtp) {
		o->found = QM_FOUND_SRV;
		o->password = 1;
		snprintf(
		    o->where, sizeof(o->where), "SRV _%s._tcp.%s",
		    imap ? (o->imap.tls == QM_TLS_IMPLICIT ? "imaps" : "imap")
		         : (o->pop3.tls == QM_TLS_IMPLICIT ? "pop3s" : "pop3"),
		    d->domain);
		return QM_OK;
	}
	if (imap || pop3 || smtp)
		note(d, "SRV records of %s name no %s server", d->domain,
		     smtp ? "incoming" : "SMTP submission");
	memset(&o->imap, 0, sizeof(o->imap));
	memset(&o->pop3, 0, sizeof(o->pop3));
	memset(&o->smtp, 0, sizeof(o->smtp));
	return QM_ERR_NOTFOUND;
}

/* -------------------------------------------------------------------- MX */

static enum qm_err mx(struct disc *d)
{
	char hosts[8][QM_MAIL_DNS_NAMEMAX];
	struct qm_client_provider p;
	size_t n = 0;

	step(d, "MX %s", d->domain);
	if (d->dns_down || dns_failed(d, qm_mail_dns_mx(d->dns, d->domain,
	                                                hosts, 8, &n, NULL)))
		return QM_ERR_NOTFOUND;
	for (size_t i = 0; i < n; i++) {
		if (qm_client_provider_by_mx(hosts[i], &p, NULL))
			continue;
		from_provider(d, &p, 1);
		d->out->found = QM_FOUND_MX;
		snprintf(d->out->where, sizeof(d->out->where),
		         "MX %.255s -> %s", hosts[i], p.id);
		return QM_OK;
	}
	note(d, "the MX of %s (%s) is no provider QMail knows", d->domain,
	     hosts[0]);
	return QM_ERR_NOTFOUND;
}

/* -------------------------------------------------------------- discover */

/* Reads the discover.* settings into d. */
static void settings(struct disc *d)
{
	char v[QM_STORE_PATHMAX];
	long long port;

	setting(d->c, QM_CLIENT_SET_DISCOVER_DNS, d->dns, sizeof(d->dns));
	setting(d->c, QM_CLIENT_SET_DISCOVER_CA, d->ca, sizeof(d->ca));
	setting(d->c, QM_CLIENT_SET_DISCOVER_PORT, v, sizeof(v));
	d->https_port = 443;
	if (v[0] && qm_parse_ll(v, 1, 65535, &port, NULL) == QM_OK)
		d->https_port = (int)port;
}

enum qm_err qm_client_discover(struct qm_client *c, const char *address,
                               struct qm_client_discovery *out,
                               void (*progress)(void *arg, const char *step),
                               void *arg, struct qm_error *err)
{
	char notes[sizeof(out->notes)];
	struct qm_client_provider p;
	struct disc d;
	const char *at;
	enum qm_err rc;

	memset(out, 0, sizeof(*out));
	memset(&d, 0, sizeof(d));
	at = address ? strrchr(address, '@') : NULL;
	if (!at || at == address || strlen(address) >= QM_STORE_ADDRMAX ||
	    qm_strlcpy(d.domain, at + 1, sizeof(d.domain)) != 0 ||
	    !qm_mail_hostname_ok(d.domain) || !strchr(d.domain, '.'))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "\"%.80s\" is not an e-mail address",
		                    address ? address : "");
	for (char *q = d.domain; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	d.c = c;
	d.address = address;
	d.out = out;
	d.progress = progress;
	d.arg = arg;
	qm_strlcpy(out->username, address, sizeof(out->username));

	step(&d, "registry %s", d.domain);
	if (qm_client_provider_find(NULL, address, &p, NULL) == QM_OK) {
		from_provider(&d, &p, 1);
		out->found = QM_FOUND_REGISTRY;
		snprintf(out->where, sizeof(out->where), "registry %s", p.id);
		return QM_OK;
	}
	settings(&d);
	rc = autoconfig(&d, err);
	if (rc == QM_ERR_NOTFOUND)
		rc = srv(&d);
	if (rc == QM_ERR_NOTFOUND)
		rc = mx(&d);
	if (rc == QM_OK) {
		if (!out->provider[0])
			match_provider(&d);
		return QM_OK;
	}
	if (rc != QM_ERR_NOTFOUND)
		return rc;
	/* the notes' lines, joined with "; " for one message */
	{
		size_t o = 0;

		for (const char *q = out->notes; *q && o + 3 < sizeof(notes);
		     q++) {
			if (*q == '\n') {
				notes[o++] = ';';
				notes[o++] = ' ';
			} else {
				notes[o++] = *q;
			}
		}
		notes[o] = '\0';
	}
	return qm_error_set(err, QM_ERR_NOTFOUND,
	                    "no servers found for %s (registry, autoconfig, "
	                    "SRV, MX)%s%s: enter them by hand",
	                    d.domain, notes[0] ? ": " : "", notes);
}

void qm_client_discovery_apply(const struct qm_client_discovery *d,
                               struct qm_store_account *a)
{
	a->smtp = d->smtp;
	a->imap = d->imap;
	a->pop3 = d->pop3;
	if (d->username[0])
		qm_strlcpy(a->username, d->username, sizeof(a->username));
}
