/* SPDX-License-Identifier: MIT */
/*
 * A DNS server for tests: Debian's dnsmasq (package dnsmasq-base, no
 * service of its own) on a free loopback port, answering only from the
 * records the test gives (dnsmasq options: --srv-host, --mx-host,
 * --host-record, --address), authoritative for *.test so that any other
 * name there is NXDOMAIN, with no upstream server. Runs in the foreground
 * under the harness (qmt_spawn): stopped by qmt_dns_stop and by the
 * harness's exit and signal hooks. Test code only.
 */
#ifndef QMT_DNSSERVER_H
#define QMT_DNSSERVER_H

#include <sys/types.h>

struct qmt_dns {
	char dir[256];   /* its temporary folder (log) */
	int port;        /* UDP and TCP on 127.0.0.1 */
	char server[32]; /* "127.0.0.1:PORT", for discover.dns_server */
	pid_t pid;
};

/*
 * Starts dnsmasq with records, a NULL-terminated list of dnsmasq options
 * ("--srv-host=_imaps._tcp.example.test,imap.example.test,993",
 * "--mx-host=example.test,aspmx.l.google.com,10",
 * "--host-record=autoconfig.example.test,127.0.0.1"). Returns 0 when it
 * answers, 1 when dnsmasq is not installed (skip the test), -1 on failure
 * (its log goes to stderr).
 */
int qmt_dns_start(struct qmt_dns *d, const char *const *records);
/* Stops it and removes its folder (kept when QMT_KEEP is set). */
void qmt_dns_stop(struct qmt_dns *d);

#endif
