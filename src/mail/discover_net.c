/* SPDX-License-Identifier: MIT */
/*
 * The DNS side of finding a domain's mail servers (the autoconfig file
 * comes through https.c): lookups of SRV (RFC 6186), MX and A records
 * through libresolv, against the system's resolver or one given server
 * (tests, split-horizon DNS).
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

#define DNS_ANSWERMAX 8192

/* -------------------------------------------------------------------- DNS */

/* A resolver state asking server ("ADDRESS[:PORT]", or the system's). */
static enum qm_err dns_open(res_state st, const char *server,
                            struct qm_error *err)
{
	memset(st, 0, sizeof(*st));
	if (res_ninit(st) != 0)
		return qm_error_set(err, QM_ERR_NET,
		                    "cannot read the DNS resolver's settings");
	st->retrans = 2;
	st->retry = 2;
	if (server && *server) {
		char addr[64];
		const char *colon = strrchr(server, ':');
		long long port = 53;
		struct sockaddr_in sa;
		size_t al = colon ? (size_t)(colon - server) : strlen(server);

		memset(&sa, 0, sizeof(sa));
		if (al >= sizeof(addr) ||
		    (colon && qm_parse_ll(colon + 1, 1, 65535, &port, NULL)))
			goto bad;
		memcpy(addr, server, al);
		addr[al] = '\0';
		if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
			goto bad;
		sa.sin_family = AF_INET;
		sa.sin_port = htons((uint16_t)port);
		st->nsaddr_list[0] = sa;
		st->nscount = 1;
	}
	return QM_OK;
bad:
	res_nclose(st);
	return qm_error_set(err, QM_ERR_INVAL,
	                    "DNS server \"%.60s\" is not ADDRESS or "
	                    "ADDRESS:PORT (IPv4)",
	                    server);
}

/* Asks for records of type for name; the answer into ans, its length
 * into *len. */
static enum qm_err dns_query(const char *server, const char *name, int type,
                             unsigned char *ans, int *len, struct qm_error *err)
{
	struct __res_state st;
	const char *tname = type == ns_t_srv  ? "SRV"
	                    : type == ns_t_mx ? "MX"
	                                      : "A";
	enum qm_err rc;
	int n;

	if (!name || strlen(name) >= QM_MAIL_DNS_NAMEMAX)
		return qm_error_set(err, QM_ERR_INVAL, "DNS name too long");
	rc = dns_open(&st, server, err);
	if (rc)
		return rc;
	n = res_nquery(&st, name, ns_c_in, type, ans, DNS_ANSWERMAX);
	if (n < 0) {
		int h = st.res_h_errno;

		res_nclose(&st);
		if (h == HOST_NOT_FOUND || h == NO_DATA)
			return qm_error_set(err, QM_ERR_NOTFOUND,
			                    "no %s record for %.200s", tname,
			                    name);
		if (h == TRY_AGAIN) /* no answer in time, or SERVFAIL */
			return qm_error_set(err, QM_ERR_TIMEOUT,
			                    "the DNS lookup of %.200s (%s) got "
			                    "no answer",
			                    name, tname);
		return qm_error_set(err, QM_ERR_NET,
		                    "the DNS lookup of %.200s (%s) failed: the "
		                    "DNS server refused",
		                    name, tname);
	}
	res_nclose(&st);
	*len = n > DNS_ANSWERMAX ? DNS_ANSWERMAX : n;
	return QM_OK;
}

/* Walks the answer section of ans for records of type, calling each
 * with its rdata; stops at max. */
static enum qm_err dns_walk(const unsigned char *ans, int len, int type,
                            const char *name, size_t max, size_t *n,
                            int (*each)(ns_msg *m, const ns_rr *rr, void *arg,
                                        size_t i),
                            void *arg, struct qm_error *err)
{
	ns_msg msg;
	int count;

	*n = 0;
	if (ns_initparse(ans, len, &msg) < 0)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "malformed DNS answer for %.200s", name);
	count = ns_msg_count(msg, ns_s_an);
	for (int i = 0; i < count && *n < max; i++) {
		ns_rr rr;

		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "malformed DNS answer for %.200s",
			                    name);
		if ((int)ns_rr_type(rr) != type)
			continue; /* a CNAME on the way */
		if (each(&msg, &rr, arg, *n) == 0)
			(*n)++;
	}
	if (*n == 0)
		return qm_error_set(err, QM_ERR_NOTFOUND,
		                    "no usable record for %.200s", name);
	return QM_OK;
}

static int srv_each(ns_msg *m, const ns_rr *rr, void *arg, size_t i)
{
	struct qm_mail_srv *v = arg;
	const unsigned char *d = ns_rr_rdata(*rr);

	if (ns_rr_rdlen(*rr) < 7)
		return -1;
	v[i].priority = ns_get16(d);
	v[i].weight = ns_get16(d + 2);
	v[i].port = ns_get16(d + 4);
	if (dn_expand(ns_msg_base(*m), ns_msg_end(*m), d + 6, v[i].target,
	              sizeof(v[i].target)) < 0)
		return -1;
	if (v[i].target[0] == '\0')
		qm_strlcpy(v[i].target, ".", sizeof(v[i].target));
	return 0;
}

enum qm_err qm_mail_dns_srv(const char *server, const char *name,
                            struct qm_mail_srv *out, size_t max, size_t *n,
                            struct qm_error *err)
{
	unsigned char *ans = malloc(DNS_ANSWERMAX);
	enum qm_err rc;
	int len = 0;

	*n = 0;
	if (!ans)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = dns_query(server, name, ns_t_srv, ans, &len, err);
	if (!rc)
		rc = dns_walk(ans, len, ns_t_srv, name, max, n, srv_each, out,
		              err);
	if (!rc)
		qm_mail_srv_sort(out, *n);
	free(ans);
	return rc;
}

struct mx_rec {
	int pref;
	char host[QM_MAIL_DNS_NAMEMAX];
};

static int mx_each(ns_msg *m, const ns_rr *rr, void *arg, size_t i)
{
	struct mx_rec *v = arg;
	const unsigned char *d = ns_rr_rdata(*rr);

	if (ns_rr_rdlen(*rr) < 3)
		return -1;
	v[i].pref = ns_get16(d);
	if (dn_expand(ns_msg_base(*m), ns_msg_end(*m), d + 2, v[i].host,
	              sizeof(v[i].host)) < 0)
		return -1;
	return 0;
}

static int mx_cmp(const void *a, const void *b)
{
	const struct mx_rec *x = a, *y = b;

	return x->pref != y->pref ? (x->pref < y->pref ? -1 : 1)
	                          : strcmp(x->host, y->host);
}

enum qm_err qm_mail_dns_mx(const char *server, const char *domain,
                           char (*out)[QM_MAIL_DNS_NAMEMAX], size_t max,
                           size_t *n, struct qm_error *err)
{
	unsigned char *ans = malloc(DNS_ANSWERMAX);
	struct mx_rec *v = calloc(max ? max : 1, sizeof(*v));
	enum qm_err rc;
	int len = 0;

	*n = 0;
	if (!ans || !v) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = dns_query(server, domain, ns_t_mx, ans, &len, err);
	if (!rc)
		rc = dns_walk(ans, len, ns_t_mx, domain, max, n, mx_each, v,
		              err);
	if (!rc) {
		qsort(v, *n, sizeof(*v), mx_cmp);
		for (size_t i = 0; i < *n; i++)
			qm_strlcpy(out[i], v[i].host, sizeof(out[i]));
	}
out:
	free(v);
	free(ans);
	return rc;
}

static int a_each(ns_msg *m, const ns_rr *rr, void *arg, size_t i)
{
	char *out = arg;

	(void)m;
	(void)i;
	if (ns_rr_rdlen(*rr) != 4)
		return -1;
	return inet_ntop(AF_INET, ns_rr_rdata(*rr), out, INET_ADDRSTRLEN) ? 0
	                                                                  : -1;
}

enum qm_err qm_mail_dns_a(const char *server, const char *host, char *out,
                          size_t n, struct qm_error *err)
{
	unsigned char *ans = malloc(DNS_ANSWERMAX);
	char addr[INET_ADDRSTRLEN] = "";
	enum qm_err rc;
	size_t got = 0;
	int len = 0;

	if (!ans)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = dns_query(server, host, ns_t_a, ans, &len, err);
	if (!rc)
		rc = dns_walk(ans, len, ns_t_a, host, 1, &got, a_each, addr,
		              err);
	if (!rc && qm_strlcpy(out, addr, n) != 0)
		rc =
		    qm_error_set(err, QM_ERR_INVAL, "address buffer too small");
	free(ans);
	return rc;
}
