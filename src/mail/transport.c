/* SPDX-License-Identifier: MIT */
/*
 * Shared libcurl plumbing for SMTP, IMAP and POP3: one place that decides
 * how a connection is made (TLS always verified, STARTTLS required when
 * chosen, time-outs against stalled servers), captures the server's reply
 * lines so that a refusal can be shown verbatim, and maps libcurl's codes
 * to qm_err with a message a person can act on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/private.h"

static int curl_ready;

enum qm_err qm_mail_init(struct qm_error *err)
{
	if (curl_ready)
		return QM_OK;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "libcurl could not start");
	curl_ready = 1;
	return QM_OK;
}

long mail_io_ms(const struct qm_mail_server *srv)
{
	return srv->io_timeout_ms > 0 ? srv->io_timeout_ms : MAIL_DEF_IO_MS;
}

size_t mail_max_message(const struct qm_mail_server *srv)
{
	return srv->max_message ? srv->max_message : MAIL_DEF_MAXMSG;
}

/* Keeps what the server said (never what we sent: that has the password). */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t n,
                    void *arg)
{
	struct mail_xfer *x = arg;
	struct curl_tlssessioninfo *tls = NULL;

	if (type != CURLINFO_HEADER_IN)
		return 0;
	if (curl_easy_getinfo(h, CURLINFO_TLS_SSL_PTR, &tls) == CURLE_OK &&
	    tls && tls->backend == CURLSSLBACKEND_OPENSSL && tls->internals)
		x->tls = tls->internals;
	if (n > sizeof(x->log) / 2)
		n = sizeof(x->log) / 2;
	if (x->loglen + n > sizeof(x->log)) {
		size_t drop = x->loglen + n - sizeof(x->log);
		memmove(x->log, x->log + drop, x->loglen - drop);
		x->loglen -= drop;
	}
	memcpy(x->log + x->loglen, data, n);
	x->loglen += n;
	return 0;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
                       curl_off_t ultotal, curl_off_t ulnow)
{
	struct mail_xfer *x = arg;

	if (x->srv->progress) {
		if (ulnow > 0 || ultotal > 0)
			x->srv->progress(x->srv->progress_arg, (uint64_t)ulnow,
			                 (uint64_t)ultotal);
		else if (dlnow > 0)
			x->srv->progress(x->srv->progress_arg, (uint64_t)dlnow,
			                 dltotal > 0 ? (uint64_t)dltotal
			                             : x->expect);
	}
	return 0;
}

static int is_loopback(const char *host)
{
	return strcmp(host, "localhost") == 0 ||
	       strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

static int host_ok(const char *h)
{
	if (!h || !*h || strlen(h) > 253)
		return 0;
	for (const char *p = h; *p; p++)
		if (!(*p == '.' || *p == '-' || *p == ':' || *p == '_' ||
		      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			return 0;
	return 1;
}

enum qm_err mail_curl_setup(CURL *h, const struct qm_mail_server *srv,
                            enum mail_proto proto, const char *path,
                            struct mail_xfer *x, struct qm_error *err)
{
	static const char *const plain[] = {"smtp", "imap", "pop3"};
	static const char *const tls[] = {"smtps", "imaps", "pop3s"};
	static const int port_plain[] = {587, 143, 110};
	static const int port_tls[] = {465, 993, 995};
	char url[1024];
	const char *scheme, *mech = NULL;
	int port, v6, n;
	long io_s;

	if (!host_ok(srv->host))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "mail server host name \"%s\" is not valid",
		                    srv->host ? srv->host : "");
	if (srv->tls == QM_MAIL_TLS_NONE && !is_loopback(srv->host))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "refusing an unencrypted connection to %s: "
		                    "choose implicit TLS or STARTTLS",
		                    srv->host);
	scheme = srv->tls == QM_MAIL_TLS_IMPLICIT ? tls[proto] : plain[proto];
	port = srv->port > 0                      ? srv->port
	       : srv->tls == QM_MAIL_TLS_IMPLICIT ? port_tls[proto]
	                                          : port_plain[proto];
	v6 = strchr(srv->host, ':') != NULL;
	n = snprintf(url, sizeof(url), "%s://%s%s%s:%d/%s", scheme,
	             v6 ? "[" : "", srv->host, v6 ? "]" : "", port,
	             path ? path : "");
	if (n < 0 || (size_t)n >= sizeof(url))
		return qm_error_set(err, QM_ERR_INVAL, "mail URL too long");

	x->srv = srv;
	x->errbuf[0] = '\0';
	io_s = (mail_io_ms(srv) + 999) / 1000;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, scheme);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (srv->ca_file && *srv->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, srv->ca_file);
	if (srv->tls == QM_MAIL_TLS_STARTTLS)
		curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	/* libcurl counts the greeting, STARTTLS and the login as part of the
	 * connection; a server may delay a failed login on purpose */
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	                 (srv->connect_timeout_ms > 0 ? srv->connect_timeout_ms
	                                              : MAIL_DEF_CONNECT_MS) +
	                     mail_io_ms(srv));
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, io_s);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, io_s);
	if (srv->user)
		curl_easy_setopt(h, CURLOPT_USERNAME, srv->user);
	switch (srv->auth) {
	case QM_MAIL_AUTH_PLAIN:
		mech = "AUTH=PLAIN";
		break;
	case QM_MAIL_AUTH_LOGIN:
		mech = "AUTH=LOGIN";
		break;
	case QM_MAIL_AUTH_XOAUTH2:
		mech = "AUTH=XOAUTH2";
		break;
	case QM_MAIL_AUTH_OAUTHBEARER:
		mech = "AUTH=OAUTHBEARER";
		break;
	case QM_MAIL_AUTH_BEARER:
		/* only these two: libcurl would otherwise try CRAM-MD5 and
		 * the like, offered by the server, with an empty password */
		mech = "AUTH=OAUTHBEARER;AUTH=XOAUTH2";
		break;
	case QM_MAIL_AUTH_AUTO:
		break;
	}
	if (srv->auth == QM_MAIL_AUTH_XOAUTH2 ||
	    srv->auth == QM_MAIL_AUTH_OAUTHBEARER ||
	    srv->auth == QM_MAIL_AUTH_BEARER) {
		if (!srv->bearer || !*srv->bearer)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "OAuth2 login chosen but no access "
			                    "token given");
		curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, srv->bearer);
	} else if (srv->password) {
		curl_easy_setopt(h, CURLOPT_PASSWORD, srv->password);
	}
	if (mech)
		curl_easy_setopt(h, CURLOPT_LOGIN_OPTIONS, mech);
	/* SASL initial response: one round trip less per login */
	curl_easy_setopt(h, CURLOPT_SASL_IR, 1L);
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	return QM_OK;
}

int mail_reauth(CURL *h, const struct qm_mail_server *srv, struct mail_xfer *x,
                CURLcode rc, enum qm_err *e, struct qm_error *err)
{
	const char *bearer = NULL;
	long code = 0;

	if (!srv->reauth || !srv->bearer || srv->auth == QM_MAIL_AUTH_AUTO ||
	    srv->auth == QM_MAIL_AUTH_PLAIN || srv->auth == QM_MAIL_AUTH_LOGIN)
		return 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_LOGIN_DENIED && code != 535 && code != 534)
		return 0;
	*e = srv->reauth(srv->reauth_arg, &bearer, err);
	if (*e == QM_ERR_NOTFOUND) { /* renewed once already: it stands */
		*e = QM_OK;
		return 0;
	}
	if (*e != QM_OK)
		return -1;
	if (!bearer || !*bearer) {
		*e = qm_error_set(err, QM_ERR_DENIED,
		                  "the renewed OAuth2 token is empty");
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, bearer);
	x->loglen = 0;
	x->errbuf[0] = '\0';
	return 1;
}

/* Copies s[0..n) into out on one line: line ends and control bytes
 * become spaces, so a hostile reply cannot forge lines in a log. */
static void clean_copy(char *out, size_t outlen, const char *s, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; i < n && j + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r')
			continue;
		out[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	while (j > 0 && out[j - 1] == ' ')
		j--;
	out[j] = '\0';
}

/* True when line (length n) is a failure reply of proto. */
static int is_failure(enum mail_proto proto, const char *line, size_t n)
{
	switch (proto) {
	case MAIL_SMTP:
		return n >= 3 && (line[0] == '4' || line[0] == '5');
	case MAIL_POP3:
		return n >= 4 && strncmp(line, "-ERR", 4) == 0;
	case MAIL_IMAP: {
		const char *sp = memchr(line, ' ', n);
		size_t rest;
		if (!sp)
			return 0;
		rest = n - (size_t)(sp + 1 - line);
		return (rest >= 3 && strncmp(sp + 1, "NO ", 3) == 0) ||
		       (rest >= 4 && strncmp(sp + 1, "BAD ", 4) == 0);
	}
	}
	return 0;
}

void mail_reply_last(const struct mail_xfer *x, enum mail_proto proto,
                     char *out, size_t outlen)
{
	const char *start = NULL, *end = NULL, *last = NULL, *last_end = NULL;
	const char *p = x->log, *e = x->log + x->loglen;

	out[0] = '\0';
	/* the last failure line wins; otherwise the last line at all */
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl + 1 : e;
		size_t n = (size_t)(le - p);

		while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
			n--;
		if (n) {
			last = p;
			last_end = p + n;
			if (is_failure(proto, p, n)) {
				/* an SMTP multi-line reply: keep the block */
				if (!(proto == MAIL_SMTP && start && end &&
				      end + 2 >= p &&
				      strncmp(start, p, 3) == 0))
					start = p;
				end = p + n;
			}
		}
		p = le;
	}
	if (!start) {
		start = last;
		end = last_end;
	}
	if (start)
		clean_copy(out, outlen, start, (size_t)(end - start));
}

enum qm_err mail_curl_fail(CURL *h, CURLcode rc, struct mail_xfer *x,
                           const char *what, struct qm_error *err)
{
	char reply[600], said[700] = "";
	const char *detail = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	const char *ca = x->srv->ca_file ? x->srv->ca_file : "(system store)";
	enum mail_proto proto = MAIL_SMTP;
	long code = 0;
	char *url = NULL;

	curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url);
	if (url && strncmp(url, "imap", 4) == 0)
		proto = MAIL_IMAP;
	else if (url && strncmp(url, "pop3", 4) == 0)
		proto = MAIL_POP3;
	mail_reply_last(x, proto, reply, sizeof(reply));
	if (reply[0])
		snprintf(said, sizeof(said), "; the server said: \"%s\"",
		         reply);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);

	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		return qm_error_set(
		    err, QM_ERR_TLS,
		    "%s: the server's TLS certificate could not "
		    "be verified (%s); for a private server set "
		    "its CA file (now %s), and check the host name",
		    what, detail, ca);
	case CURLE_SSL_CACERT_BADFILE:
		return qm_error_set(err, QM_ERR_TLS,
		                    "%s: the CA file %s could not be read (%s)",
		                    what, ca, detail);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
		return qm_error_set(
		    err, QM_ERR_TLS,
		    "%s: the TLS handshake failed (%s); check the "
		    "port and the TLS mode (implicit TLS or "
		    "STARTTLS)",
		    what, detail);
	case CURLE_USE_SSL_FAILED:
		return qm_error_set(
		    err, QM_ERR_TLS,
		    "%s: the server does not offer STARTTLS, so "
		    "the password was not sent; use implicit TLS "
		    "or another port%s",
		    what, said);
	case CURLE_LOGIN_DENIED:
		if (x->srv->bearer && x->srv->auth != QM_MAIL_AUTH_PLAIN &&
		    x->srv->auth != QM_MAIL_AUTH_LOGIN)
			return qm_error_set(
			    err, QM_ERR_DENIED,
			    "%s: the server refused the OAuth2 sign-in for %s"
			    "%s; the token may be for another "
			    "account: sign in again as %s",
			    what, x->srv->user ? x->srv->user : "the account",
			    said, x->srv->user ? x->srv->user : "its address");
		return qm_error_set(
		    err, QM_ERR_DENIED,
		    "%s: login refused; check the user name and "
		    "password (or token)%s",
		    what, said);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return qm_error_set(
		    err, QM_ERR_NET,
		    "%s: cannot connect to %s (%s); the message "
		    "stays queued, try again later",
		    what, x->srv->host, detail);
	case CURLE_OPERATION_TIMEDOUT:
		return qm_error_set(
		    err, QM_ERR_TIMEOUT,
		    "%s: the server did not answer in time (%s); "
		    "try again later%s",
		    what, detail, said);
	case CURLE_WRITE_ERROR:
		if (x->toobig)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "%s: the server sent more than the "
			                    "configured limit of %zu bytes",
			                    what, x->limit);
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		if (strstr(detail, "Too large"))
			return qm_error_set(
			    err, QM_ERR_PROTO,
			    "%s: the server sent an oversized reply "
			    "(%s)",
			    what, detail);
		if (code < 400)
			return qm_error_set(err, QM_ERR_NET,
			                    "%s: the connection was lost (%s); "
			                    "try again later%s",
			                    what, detail, said);
		break;
	case CURLE_WEIRD_SERVER_REPLY:
		/* libcurl says "weird" for any code it did not expect, e.g. a
		 * 451 after DATA: a well-formed reply code decides below */
		if (code >= 400 && code < 600)
			break;
		return qm_error_set(
		    err, QM_ERR_PROTO,
		    "%s: the server sent a malformed reply (%s)%s", what,
		    detail, said);
	default:
		break;
	}
	if (code == 535 || code == 534 || code == 530)
		return qm_error_set(err, QM_ERR_DENIED,
		                    "%s: authentication refused%s", what, said);
	if (code >= 400 && code < 500)
		return qm_error_set(err, QM_ERR_UNAVAIL,
		                    "%s: temporary failure, try again later%s",
		                    what, said);
	if (code >= 500)
		return qm_error_set(err, QM_ERR_PROTO, "%s: refused%s", what,
		                    said);
	return qm_error_set(err, QM_ERR_PROTO, "%s: %s%s", what, detail, said);
}
