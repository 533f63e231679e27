/* SPDX-License-Identifier: MIT */
/*
 * The autoconfig file of a mail domain (Mozilla ISPDB format,
 * config-v1.1.xml, the one Thunderbird reads), parsed with GLib's GMarkup
 * (which GMime brings): the incoming (IMAP, POP3) and outgoing (SMTP)
 * servers with their TLS mode, login name and ways to authenticate, and the
 * <oAuth2> element. The file is untrusted: bounded in size, depth and
 * element count; a server without TLS, an odd host name, a port out of
 * range or an unknown %VARIABLE% is refused and named, never used.
 */
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "private.h"

#define AC_MAXDEPTH   16
#define AC_MAXSERVERS 32
#define AC_TEXTMAX    1024

enum ac_kind { AC_NONE = 0, AC_IMAP, AC_POP3, AC_SMTP, AC_OTHER };

/* One server element as read, before it is checked. */
struct ac_raw {
	enum ac_kind kind;
	char hostname[AC_TEXTMAX];
	char port[32];
	char socket[32];
	char username[AC_TEXTMAX];
	int password, oauth2, auths;
};

struct ac_parse {
	const char *address;
	struct qm_mail_autoconfig *out;
	int depth;
	int root_seen;
	int in_provider;
	int in_oauth;
	int servers;
	struct ac_raw cur;
	int in_server;
	char text[AC_TEXTMAX];
	size_t textlen;
	int text_over;
	/* refused servers by kind, to tell "none" from "only plain" */
	int refused_in, refused_out;
};

/* Appends a reason to out->refused ("; " between). */
static void refuse(struct ac_parse *p, const char *fmt, ...) QM_PRINTF(2, 3);
static void refuse(struct ac_parse *p, const char *fmt, ...)
{
	char *r = p->out->refused;
	size_t used = strlen(r), cap = sizeof(p->out->refused);
	va_list ap;

	if (used + 3 >= cap)
		return;
	if (used) {
		memcpy(r + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(r + used, cap - used, fmt, ap);
	va_end(ap);
}

/* Replaces %EMAILADDRESS%, %EMAILLOCALPART% and %EMAILDOMAIN% of in into
 * out; -1 for an unknown variable, an unclosed one or no room. */
static int expand(const char *in, const char *address, char *out, size_t n)
{
	const char *at = strrchr(address, '@');
	size_t o = 0;

	while (*in) {
		const char *v = NULL, *end;
		size_t vl = 0;

		if (*in != '%') {
			if (o + 1 >= n)
				return -1;
			out[o++] = *in++;
			continue;
		}
		end = strchr(in + 1, '%');
		if (!end)
			return -1;
		if ((size_t)(end - in) == 13 &&
		    strncmp(in, "%EMAILADDRESS", 13) == 0) {
			v = address;
			vl = strlen(address);
		} else if ((size_t)(end - in) == 15 &&
		           strncmp(in, "%EMAILLOCALPART", 15) == 0 && at) {
			v = address;
			vl = (size_t)(at - address);
		} else if ((size_t)(end - in) == 12 &&
		           strncmp(in, "%EMAILDOMAIN", 12) == 0 && at) {
			v = at + 1;
			vl = strlen(at + 1);
		} else {
			return -1;
		}
		if (o + vl + 1 > n)
			return -1;
		memcpy(out + o, v, vl);
		o += vl;
		in = end + 1;
	}
	out[o] = '\0';
	return 0;
}

static const char *kind_name(enum ac_kind k)
{
	return k == AC_IMAP ? "IMAP" : k == AC_POP3 ? "POP3" : "SMTP";
}

/* Checks the server just read and keeps it when it is the first usable
 * one of its kind. */
static void server_done(struct ac_parse *p)
{
	struct ac_raw *r = &p->cur;
	struct qm_mail_ac_server s, *slot;
	char host[AC_TEXTMAX];
	long long port;
	const char *shown;

	if (r->kind == AC_OTHER || r->kind == AC_NONE)
		return;
	slot = r->kind == AC_IMAP   ? &p->out->imap
	       : r->kind == AC_POP3 ? &p->out->pop3
	                            : &p->out->smtp;
	memset(&s, 0, sizeof(s));
	shown = r->hostname[0] ? r->hostname : "(no host name)";
	if (expand(r->hostname, p->address, host, sizeof(host)) < 0 ||
	    !qm_mail_hostname_ok(host)) {
		refuse(p, "%s server \"%.60s\": not a host name",
		       kind_name(r->kind), shown);
		goto bad;
	}
	if (qm_parse_ll(r->port, 1, 65535, &port, NULL) != QM_OK) {
		refuse(p, "%s server %.60s: port \"%.12s\" is not 1..65535",
		       kind_name(r->kind), host, r->port);
		goto bad;
	}
	if (strcasecmp(r->socket, "SSL") == 0 ||
	    strcasecmp(r->socket, "TLS") == 0) {
		s.tls = QM_MAIL_TLS_IMPLICIT;
	} else if (strcasecmp(r->socket, "STARTTLS") == 0) {
		s.tls = QM_MAIL_TLS_STARTTLS;
	} else {
		refuse(p,
		       "%s server %.60s:%lld without TLS (socketType "
		       "\"%.12s\")",
		       kind_name(r->kind), host, port,
		       r->socket[0] ? r->socket : "none");
		goto bad;
	}
	if (r->username[0] && expand(r->username, p->address, s.username,
	                             sizeof(s.username)) < 0) {
		refuse(p,
		       "%s server %.60s: unknown variable in the user "
		       "name \"%.40s\"",
		       kind_name(r->kind), host, r->username);
		goto bad;
	}
	if (r->auths && !r->password && !r->oauth2) {
		refuse(p, "%s server %.60s: no way to sign in QMail knows",
		       kind_name(r->kind), host);
		goto bad;
	}
	qm_strlcpy(s.host, host, sizeof(s.host));
	s.port = (int)port;
	s.password = r->auths ? r->password : 1;
	s.oauth2 = r->oauth2;
	if (!slot->host[0])
		*slot = s;
	return;
bad:
	if (r->kind == AC_SMTP)
		p->refused_out++;
	else
		p->refused_in++;
}

/* Copies the text of an element into dst (n bytes), trimmed. */
static void take_text(struct ac_parse *p, char *dst, size_t n)
{
	const char *t = p->text;
	size_t len = p->textlen;

	while (len && (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r')) {
		t++;
		len--;
	}
	while (len && (t[len - 1] == ' ' || t[len - 1] == '\t' ||
	               t[len - 1] == '\n' || t[len - 1] == '\r'))
		len--;
	if (p->text_over || len >= n) {
		dst[0] = '\0';
		return;
	}
	memcpy(dst, t, len);
	dst[len] = '\0';
}

static void on_start(GMarkupParseContext *ctx, const gchar *name,
                     const gchar **attr_names, const gchar **attr_values,
                     gpointer data, GError **error)
{
	struct ac_parse *p = data;

	(void)ctx;
	p->textlen = 0;
	p->text_over = 0;
	if (++p->depth > AC_MAXDEPTH) {
		g_set_error(error, G_MARKUP_ERROR,
		            G_MARKUP_ERROR_INVALID_CONTENT, "nested too deep");
		return;
	}
	if (p->depth == 1) {
		if (strcmp(name, "clientConfig") != 0)
			g_set_error(error, G_MARKUP_ERROR,
			            G_MARKUP_ERROR_INVALID_CONTENT,
			            "not a clientConfig file");
		p->root_seen = 1;
		return;
	}
	if (p->depth == 2 && strcmp(name, "emailProvider") == 0) {
		p->in_provider = 1;
		for (int i = 0; attr_names[i]; i++)
			if (strcmp(attr_names[i], "id") == 0)
				qm_strlcpy(p->out->provider_id, attr_values[i],
				           sizeof(p->out->provider_id));
		return;
	}
	if (p->depth == 2 && strcmp(name, "oAuth2") == 0) {
		p->in_oauth = 1;
		return;
	}
	if (p->depth == 3 && p->in_provider &&
	    (strcmp(name, "incomingServer") == 0 ||
	     strcmp(name, "outgoingServer") == 0)) {
		const char *type = "";

		if (++p->servers > AC_MAXSERVERS) {
			g_set_error(error, G_MARKUP_ERROR,
			            G_MARKUP_ERROR_INVALID_CONTENT,
			            "more than %d servers", AC_MAXSERVERS);
			return;
		}
		for (int i = 0; attr_names[i]; i++)
			if (strcmp(attr_names[i], "type") == 0)
				type = attr_values[i];
		memset(&p->cur, 0, sizeof(p->cur));
		p->in_server = 1;
		if (name[0] == 'i')
			p->cur.kind = strcmp(type, "imap") == 0   ? AC_IMAP
			              : strcmp(type, "pop3") == 0 ? AC_POP3
			                                          : AC_OTHER;
		else
			p->cur.kind =
			    strcmp(type, "smtp") == 0 ? AC_SMTP : AC_OTHER;
	}
}

static void on_end(GMarkupParseContext *ctx, const gchar *name, gpointer data,
                   GError **error)
{
	struct ac_parse *p = data;
	struct qm_mail_autoconfig *o = p->out;

	(void)ctx;
	(void)error;
	if (p->in_server && p->depth == 4) {
		struct ac_raw *r = &p->cur;
		char auth[64];

		if (strcmp(name, "hostname") == 0)
			take_text(p, r->hostname, sizeof(r->hostname));
		else if (strcmp(name, "port") == 0)
			take_text(p, r->port, sizeof(r->port));
		else if (strcmp(name, "socketType") == 0)
			take_text(p, r->socket, sizeof(r->socket));
		else if (strcmp(name, "username") == 0)
			take_text(p, r->username, sizeof(r->username));
		else if (strcmp(name, "authentication") == 0) {
			take_text(p, auth, sizeof(auth));
			r->auths++;
			if (strcasecmp(auth, "password-cleartext") == 0 ||
			    strcasecmp(auth, "password-encrypted") == 0 ||
			    strcasecmp(auth, "plain") == 0 ||
			    strcasecmp(auth, "secure") == 0)
				r->password = 1;
			else if (strcasecmp(auth, "OAuth2") == 0)
				r->oauth2 = 1;
		}
	} else if (p->in_server && p->depth == 3) {
		server_done(p);
		p->in_server = 0;
	} else if (p->in_provider && p->depth == 3 &&
	           strcmp(name, "displayName") == 0) {
		take_text(p, o->display_name, sizeof(o->display_name));
	} else if (p->in_oauth && p->depth == 3) {
		if (strcmp(name, "issuer") == 0)
			take_text(p, o->oauth_issuer, sizeof(o->oauth_issuer));
		else if (strcmp(name, "scope") == 0)
			take_text(p, o->oauth_scope, sizeof(o->oauth_scope));
		else if (strcmp(name, "authURL") == 0)
			take_text(p, o->oauth_auth_url,
			          sizeof(o->oauth_auth_url));
		else if (strcmp(name, "tokenURL") == 0)
			take_text(p, o->oauth_token_url,
			          sizeof(o->oauth_token_url));
	} else if (p->depth == 2) {
		p->in_provider = 0;
		p->in_oauth = 0;
	}
	p->textlen = 0;
	p->depth--;
}

static void on_text(GMarkupParseContext *ctx, const gchar *text, gsize len,
                    gpointer data, GError **error)
{
	struct ac_parse *p = data;

	(void)ctx;
	(void)error;
	if (p->textlen + len >= sizeof(p->text)) {
		p->text_over = 1;
		return;
	}
	memcpy(p->text + p->textlen, text, len);
	p->textlen += len;
	p->text[p->textlen] = '\0';
}

/* 1 when url is an https:// URL of printable characters without spaces. */
static int https_url_ok(const char *url)
{
	if (strncmp(url, "https://", 8) != 0 || !url[8])
		return 0;
	for (const char *q = url; *q; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return 0;
	return 1;
}

/* The <oAuth2> element is kept only whole and with https URLs. */
static void oauth_check(struct ac_parse *p)
{
	struct qm_mail_autoconfig *o = p->out;

	if (!o->oauth_auth_url[0] && !o->oauth_token_url[0])
		return;
	if (https_url_ok(o->oauth_auth_url) && https_url_ok(o->oauth_token_url))
		return;
	refuse(p, "OAuth2 endpoints that are not https URLs");
	o->oauth_issuer[0] = o->oauth_scope[0] = '\0';
	o->oauth_auth_url[0] = o->oauth_token_url[0] = '\0';
}

enum qm_err qm_mail_autoconfig_parse(const char *xml, size_t len,
                                     const char *address,
                                     struct qm_mail_autoconfig *out,
                                     struct qm_error *err)
{
	static const GMarkupParser parser = {on_start, on_end, on_text, NULL,
	                                     NULL};
	struct qm_mail_autoconfig *o;
	struct ac_parse p;
	GMarkupParseContext *ctx;
	GError *ge = NULL;
	enum qm_err rc = QM_OK;
	gboolean ok;

	if (len > QM_MAIL_AUTOCONFIG_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the autoconfig file is %zu bytes; QMail "
		                    "reads at most %zu",
		                    len, QM_MAIL_AUTOCONFIG_MAX);
	if (!address || !strchr(address, '@'))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "\"%s\" is not an e-mail address",
		                    address ? address : "");
	o = calloc(1, sizeof(*o));
	if (!o)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	memset(&p, 0, sizeof(p));
	p.address = address;
	p.out = o;
	ctx = g_markup_parse_context_new(&parser, 0, &p, NULL);
	ok = g_markup_parse_context_parse(ctx, xml, (gssize)len, &ge) &&
	     g_markup_parse_context_end_parse(ctx, &ge);
	g_markup_parse_context_free(ctx);
	if (!ok || !p.root_seen) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "the autoconfig file is not valid: %.200s",
		                  ge ? ge->message : "no clientConfig element");
		goto out;
	}
	oauth_check(&p);
	if ((!o->imap.host[0] && !o->pop3.host[0] && p.refused_in) ||
	    (!o->smtp.host[0] && p.refused_out)) {
		rc = qm_error_set(err, QM_ERR_DENIED,
		                  "the autoconfig file offers no server QMail "
		                  "may use: %s",
		                  o->refused);
		goto out;
	}
	if (!o->imap.host[0] && !o->pop3.host[0]) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "the autoconfig file names no IMAP or POP3 "
		                  "server");
		goto out;
	}
	if (!o->smtp.host[0]) {
		rc = qm_error_set(err, QM_ERR_NOTFOUND,
		                  "the autoconfig file names no SMTP server");
		goto out;
	}
	*out = *o;
out:
	if (ge)
		g_error_free(ge);
	free(o);
	return rc;
}
