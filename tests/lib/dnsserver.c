/* SPDX-License-Identifier: MIT */
/*
 * dnsmasq as the tests' DNS server (dnsserver.h): its command line built
 * from the test's records, started in the foreground on a free loopback
 * port, waited for on its TCP port, stopped with its process group.
 */
#include "dnsserver.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define DNS_MAXARGS 64

/* The dnsmasq program, or NULL when it is not installed. */
static const char *dnsmasq_path(void)
{
	static const char *const where[] = {
	    "/usr/sbin/dnsmasq", "/sbin/dnsmasq", "/usr/bin/dnsmasq"};

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return NULL;
}

static void show_log(const struct qmt_dns *d)
{
	char log[320];
	char *text;

	snprintf(log, sizeof(log), "%s/dnsmasq.log", d->dir);
	text = qmt_read_file(log, NULL);
	if (text)
		fprintf(stderr, "--- dnsmasq log ---\n%s\n", text);
	free(text);
}

int qmt_dns_start(struct qmt_dns *d, const char *const *records)
{
	const char *prog = dnsmasq_path();
	struct passwd *pw = getpwuid(getuid());
	char port[32], user[64], log[320], progbuf[64];
	static char recs[DNS_MAXARGS][320];
	char *argv[DNS_MAXARGS];
	size_t n = 0;

	memset(d, 0, sizeof(*d));
	if (!prog) {
		fprintf(stderr, "dnsmasq is not installed (Debian package "
		                "dnsmasq-base): skipping\n");
		return 1;
	}
	if (qmt_tmpdir("dns", d->dir, sizeof(d->dir)) < 0)
		return -1;
	for (int attempt = 0; attempt < 3; attempt++) {
		n = 0;
		d->port = qmt_free_port();
		if (!d->port)
			return -1;
		snprintf(port, sizeof(port), "--port=%d", d->port);
		snprintf(user, sizeof(user), "--user=%s",
		         pw ? pw->pw_name : "root");
		snprintf(log, sizeof(log), "%s/dnsmasq.log", d->dir);
		snprintf(progbuf, sizeof(progbuf), "%s", prog);
		argv[n++] = progbuf;
		argv[n++] = "--keep-in-foreground";
		argv[n++] = "--no-resolv";
		argv[n++] = "--no-hosts";
		argv[n++] = "--no-poll";
		argv[n++] = "--pid-file=";
		argv[n++] = "--conf-file=/dev/null";
		argv[n++] = "--listen-address=127.0.0.1";
		argv[n++] = "--bind-interfaces";
		argv[n++] = "--local=/test/";
		argv[n++] = "--log-queries";
		argv[n++] = "--log-facility=-";
		argv[n++] = user;
		argv[n++] = port;
		for (size_t i = 0; records && records[i]; i++) {
			if (n + 2 >= DNS_MAXARGS)
				return -1;
			snprintf(recs[i], sizeof(recs[i]), "%s", records[i]);
			argv[n++] = recs[i];
		}
		argv[n] = NULL;
		d->pid = qmt_spawn(argv, NULL, log);
		if (d->pid < 0)
			return -1;
		if (qmt_wait_port(d->port, 5000) == 0) {
			snprintf(d->server, sizeof(d->server), "127.0.0.1:%d",
			         d->port);
			return 0;
		}
		qmt_stop(d->pid);
		d->pid = 0;
	}
	show_log(d);
	return -1;
}

void qmt_dns_stop(struct qmt_dns *d)
{
	if (d->pid > 0)
		qmt_stop(d->pid);
	d->pid = 0;
	if (d->dir[0] && !getenv("QMT_KEEP"))
		qmt_rmtree(d->dir);
	d->dir[0] = '\0';
}
