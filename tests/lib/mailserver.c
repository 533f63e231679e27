/* SPDX-License-Identifier: MIT */
/*
 * Starts OpenSMTPD and Dovecot for tests (see mailserver.h): a throw-away
 * CA made with the openssl command, configs written into a temporary
 * folder, free loopback ports, three users, Maildirs, and every process
 * stopped on every path (qmt_spawn's exit and signal hooks cover a failing
 * test).
 *
 * OpenSMTPD keeps its queue in /var/spool/smtpd and its control socket in
 * /run, shared by every instance on the machine. When the kernel allows
 * it, the harness runs smtpd in a private mount namespace (unshare -m) with
 * the spool and /run bound to the test's own folder, so that tests can run
 * in parallel; otherwise the tests rely on the CTest RESOURCE_LOCK
 * "mailserver" that every test using this harness carries.
 */
#include "mailserver.h"
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const users[QMT_MAIL_NUSERS] = {"alice", "bob", "carol"};
static const char *const addrs[QMT_MAIL_NUSERS] = {
    "alice@" QMT_MAIL_DOMAIN, "bob@" QMT_MAIL_DOMAIN, "carol@" QMT_MAIL_DOMAIN};
static const char *const passwords[QMT_MAIL_NUSERS] = {
    "alice-Pw-7341", "bob-Pw-1188", "carol-Pw-5520"};

const char *qmt_mail_user(int i)
{
	return i >= 0 && i < QMT_MAIL_NUSERS ? users[i] : NULL;
}

const char *qmt_mail_addr(int i)
{
	return i >= 0 && i < QMT_MAIL_NUSERS ? addrs[i] : NULL;
}

const char *qmt_mail_password(int i)
{
	return i >= 0 && i < QMT_MAIL_NUSERS ? passwords[i] : NULL;
}

static int path(char *out, size_t n, const char *dir, const char *name)
{
	int r = snprintf(out, n, "%s/%s", dir, name);

	return r < 0 || (size_t)r >= n ? -1 : 0;
}

static void show_log(const char *file)
{
	char buf[4096];
	FILE *f = fopen(file, "r");
	size_t n;
	long size;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > 3000 ? size - 3000 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- %s (tail)\n%s\n----\n", file, buf);
}

/* Runs openssl with the given arguments, logging to dir/openssl.log. */
static int ossl(const struct qmt_mail *m, char *const argv[])
{
	char log[320];

	path(log, sizeof(log), m->dir, "openssl.log");
	return qmt_run(argv, log) == 0 ? 0 : -1;
}

static int make_certs(struct qmt_mail *m)
{
	char ca_key[320], ca_crt[320], key[320], csr[320], crt[320], ext[320],
	    oca_key[320], serial[320];
	char *ca[] = {"openssl",
	              "req",
	              "-x509",
	              "-newkey",
	              "ec",
	              "-pkeyopt",
	              "ec_paramgen_curve:P-256",
	              "-nodes",
	              "-keyout",
	              ca_key,
	              "-out",
	              ca_crt,
	              "-days",
	              "2",
	              "-subj",
	              "/CN=QMail throw-away test CA",
	              NULL};
	char *oca[] = {"openssl",
	               "req",
	               "-x509",
	               "-newkey",
	               "ec",
	               "-pkeyopt",
	               "ec_paramgen_curve:P-256",
	               "-nodes",
	               "-keyout",
	               oca_key,
	               "-out",
	               m->other_ca_file,
	               "-days",
	               "2",
	               "-subj",
	               "/CN=Unrelated test CA",
	               NULL};
	char *req[] = {"openssl",
	               "req",
	               "-newkey",
	               "ec",
	               "-pkeyopt",
	               "ec_paramgen_curve:P-256",
	               "-nodes",
	               "-keyout",
	               key,
	               "-out",
	               csr,
	               "-subj",
	               "/CN=localhost",
	               NULL};
	char *sign[] = {"openssl",  "x509",      "-req",  "-in",
	                csr,        "-CA",       ca_crt,  "-CAkey",
	                ca_key,     "-CAserial", serial,  "-CAcreateserial",
	                "-out",     crt,         "-days", "2",
	                "-extfile", ext,         NULL};

	path(ca_key, sizeof(ca_key), m->dir, "ca.key");
	path(ca_crt, sizeof(ca_crt), m->dir, "ca.crt");
	path(oca_key, sizeof(oca_key), m->dir, "other-ca.key");
	path(key, sizeof(key), m->dir, "server.key");
	path(csr, sizeof(csr), m->dir, "server.csr");
	path(crt, sizeof(crt), m->dir, "server.crt");
	path(ext, sizeof(ext), m->dir, "server.ext");
	path(serial, sizeof(serial), m->dir, "ca.srl");
	path(m->ca_file, sizeof(m->ca_file), m->dir, "ca.crt");
	path(m->other_ca_file, sizeof(m->other_ca_file), m->dir,
	     "other-ca.crt");
	if (qmt_write_file(ext, "basicConstraints=CA:FALSE\n"
	                        "keyUsage=digitalSignature,keyEncipherment\n"
	                        "extendedKeyUsage=serverAuth\n"
	                        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"))
		return -1;
	return ossl(m, ca) || ossl(m, oca) || ossl(m, req) || ossl(m, sign) ? -1
	                                                                    : 0;
}

static int write_dovecot_conf(const struct qmt_mail *m, uid_t uid, gid_t gid)
{
	char conf[320], users_file[320], buf[8192], line[640];
	size_t off = 0;
	FILE *f;
	int n;

	path(users_file, sizeof(users_file), m->dir, "users");
	if (!(f = fopen(users_file, "w")))
		return -1;
	for (int i = 0; i < QMT_MAIL_NUSERS; i++) {
		snprintf(line, sizeof(line), "%s:{PLAIN}%s:%u:%u::%s/mail/%s\n",
		         addrs[i], passwords[i], (unsigned)uid, (unsigned)gid,
		         m->dir, users[i]);
		fputs(line, f);
	}
	if (fclose(f) != 0)
		return -1;
	n = snprintf(
	    buf + off, sizeof(buf) - off,
	    "protocols = imap pop3 lmtp submission\n"
	    "listen = 127.0.0.1\n"
	    "base_dir = %s/run\n"
	    "state_dir = %s/state\n"
	    "instance_name = qmt-%d\n"
	    "log_path = %s/dovecot.log\n"
	    "default_internal_user = dovecot\n"
	    "default_login_user = dovenull\n"
	    "first_valid_uid = %u\n"
	    "first_valid_gid = %u\n"
	    "hostname = localhost\n"
	    "ssl = yes\n"
	    "ssl_cert = <%s/server.crt\n"
	    "ssl_key = <%s/server.key\n"
	    "ssl_min_protocol = TLSv1.2\n"
	    "auth_mechanisms = plain login\n"
	    /* tests fail logins on purpose: a shorter delay per failure
	     * (Dovecot still adds its growing per-IP penalty) */
	    "auth_failure_delay = 1 secs\n"
	    "mail_location = maildir:~/Maildir\n"
	    "passdb {\n  driver = passwd-file\n"
	    "  args = scheme=PLAIN username_format=%%u %s\n}\n"
	    "userdb {\n  driver = passwd-file\n"
	    "  args = username_format=%%u %s\n}\n"
	    "namespace inbox {\n  inbox = yes\n  separator = /\n"
	    "  mailbox Sent {\n    special_use = \\Sent\n"
	    "    auto = subscribe\n  }\n"
	    "  mailbox Drafts {\n    special_use = \\Drafts\n"
	    "    auto = subscribe\n  }\n"
	    "  mailbox Trash {\n    special_use = \\Trash\n"
	    "    auto = subscribe\n  }\n"
	    "  mailbox Junk {\n    special_use = \\Junk\n"
	    "    auto = subscribe\n  }\n}\n"
	    "protocol pop3 {\n  pop3_uidl_format = %%08Xu%%08Xv\n}\n"
	    "submission_relay_host = 127.0.0.1\n"
	    "submission_relay_port = %d\n"
	    "submission_relay_trusted = yes\n"
	    "service imap-login {\n"
	    "  inet_listener imap {\n    port = %d\n  }\n"
	    "  inet_listener imaps {\n    port = %d\n    ssl = yes\n  }\n}\n"
	    "service pop3-login {\n"
	    "  inet_listener pop3 {\n    port = %d\n  }\n"
	    "  inet_listener pop3s {\n    port = %d\n    ssl = yes\n  }\n}\n"
	    "service submission-login {\n"
	    "  inet_listener submission {\n    port = %d\n  }\n"
	    "  inet_listener submissions {\n    port = %d\n"
	    "    ssl = yes\n  }\n}\n"
	    "service lmtp {\n"
	    "  inet_listener lmtp {\n    address = 127.0.0.1\n"
	    "    port = %d\n  }\n}\n",
	    m->dir, m->dir, m->imap_port, m->dir, (unsigned)uid, (unsigned)gid,
	    m->dir, m->dir, users_file, users_file, m->mta_port, m->imap_port,
	    m->imaps_port, m->pop3_port, m->pop3s_port, m->submission_port,
	    m->submissions_port, m->lmtp_port);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	path(conf, sizeof(conf), m->dir, "dovecot.conf");
	return qmt_write_file(conf, buf);
}

static int write_smtpd_conf(const struct qmt_mail *m)
{
	char conf[320], virt[320], buf[2048], v[512];
	size_t off = 0;
	int n;

	for (int i = 0; i < QMT_MAIL_NUSERS; i++) {
		n = snprintf(v + off, sizeof(v) - off, "%s mail\n", addrs[i]);
		if (n < 0 || (size_t)n >= sizeof(v) - off)
			return -1;
		off += (size_t)n;
	}
	path(virt, sizeof(virt), m->dir, "virtual");
	if (qmt_write_file(virt, v))
		return -1;
	n = snprintf(buf, sizeof(buf),
	             "table virt file:%s\n"
	             "listen on 127.0.0.1 port %d hostname localhost\n"
	             "action \"lmtp\" lmtp \"127.0.0.1:%d\" rcpt-to "
	             "virtual <virt>\n"
	             "match from any for domain \"" QMT_MAIL_DOMAIN
	             "\" action \"lmtp\"\n",
	             virt, m->mta_port, m->lmtp_port);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	path(conf, sizeof(conf), m->dir, "smtpd.conf");
	if (qmt_write_file(conf, buf))
		return -1;
	return chmod(conf, 0600);
}

int qmt_mail_smtpd_start(struct qmt_mail *m)
{
	char conf[320], log[320], script[1200];
	int n;

	path(conf, sizeof(conf), m->dir, "smtpd.conf");
	path(log, sizeof(log), m->dir, "smtpd.log");
	if (m->private_spool) {
		char *argv[] = {"unshare", "-m",   "--", "sh",
		                "-c",      script, NULL};
		n = snprintf(script, sizeof(script),
		             "mkdir -p /var/spool/smtpd && "
		             "mount --bind '%s/spool' /var/spool/smtpd && "
		             "mount -t tmpfs -o mode=0755 tmpfs /run && "
		             "exec smtpd -d -f '%s'",
		             m->dir, conf);
		if (n < 0 || (size_t)n >= sizeof(script))
			return -1;
		m->smtpd = qmt_spawn(argv, NULL, log);
	} else {
		char *argv[] = {"smtpd", "-d", "-f", conf, NULL};
		m->smtpd = qmt_spawn(argv, NULL, log);
	}
	if (m->smtpd < 0 || qmt_wait_port(m->mta_port, 15000) != 0) {
		fprintf(stderr, "mailserver: OpenSMTPD did not start\n");
		show_log(log);
		return -1;
	}
	return 0;
}

int qmt_mail_smtpd_stop(struct qmt_mail *m)
{
	if (m->smtpd <= 0)
		return 0;
	qmt_stop(m->smtpd);
	m->smtpd = 0;
	return 0;
}

int qmt_mail_start(struct qmt_mail *m)
{
	char sub[320], conf[320], log[320];
	char *probe[] = {"unshare", "-m", "true", NULL};
	struct passwd *pw;
	int *ports[] = {&m->submission_port, &m->submissions_port,
	                &m->mta_port,        &m->imap_port,
	                &m->imaps_port,      &m->pop3_port,
	                &m->pop3s_port,      &m->lmtp_port};

	memset(m, 0, sizeof(*m));
	m->host = "127.0.0.1";
	if (geteuid() != 0 || access("/usr/sbin/smtpd", X_OK) != 0 ||
	    access("/usr/sbin/dovecot", X_OK) != 0 ||
	    access("/usr/lib/dovecot/submission", X_OK) != 0 ||
	    !(pw = getpwnam("mail"))) {
		fprintf(stderr, "mailserver: needs root, opensmtpd, "
		                "dovecot-imapd/-pop3d/-lmtpd/-submissiond\n");
		return 1;
	}
	if (qmt_tmpdir("mail", m->dir, sizeof(m->dir)) != 0 ||
	    chmod(m->dir, 0755) != 0)
		return -1;
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if ((*ports[i] = qmt_free_port()) == 0)
			goto fail;
	if (make_certs(m) != 0) {
		fprintf(stderr, "mailserver: making the test CA failed\n");
		path(log, sizeof(log), m->dir, "openssl.log");
		show_log(log);
		goto fail;
	}
	path(sub, sizeof(sub), m->dir, "mail");
	if (mkdir(sub, 0755) != 0 || chown(sub, pw->pw_uid, pw->pw_gid) != 0)
		goto fail;
	for (int i = 0; i < QMT_MAIL_NUSERS; i++) {
		char home[400];
		snprintf(home, sizeof(home), "%s/%s", sub, users[i]);
		if (mkdir(home, 0700) != 0 ||
		    chown(home, pw->pw_uid, pw->pw_gid) != 0)
			goto fail;
	}
	path(sub, sizeof(sub), m->dir, "spool");
	if (mkdir(sub, 0711) != 0)
		goto fail;
	path(sub, sizeof(sub), m->dir, "run");
	if (mkdir(sub, 0755) != 0)
		goto fail;
	path(sub, sizeof(sub), m->dir, "state");
	if (mkdir(sub, 0755) != 0)
		goto fail;
	if (write_dovecot_conf(m, pw->pw_uid, pw->pw_gid) != 0 ||
	    write_smtpd_conf(m) != 0)
		goto fail;

	path(conf, sizeof(conf), m->dir, "dovecot.conf");
	path(log, sizeof(log), m->dir, "dovecot.out");
	{
		char *argv[] = {"dovecot", "-F", "-c", conf, NULL};
		m->dovecot = qmt_spawn(argv, NULL, log);
	}
	if (m->dovecot < 0)
		goto fail;
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		if (ports[i] == &m->mta_port)
			continue;
		if (qmt_wait_port(*ports[i], 15000) != 0) {
			fprintf(stderr,
			        "mailserver: Dovecot port %d is not "
			        "up\n",
			        *ports[i]);
			show_log(log);
			path(log, sizeof(log), m->dir, "dovecot.log");
			show_log(log);
			goto fail;
		}
	}
	m->private_spool = qmt_run(probe, NULL) == 0;
	if (qmt_mail_smtpd_start(m) != 0)
		goto fail;
	return 0;
fail:
	qmt_mail_stop(m);
	return -1;
}

void qmt_mail_stop(struct qmt_mail *m)
{
	qmt_mail_smtpd_stop(m);
	if (m->dovecot > 0)
		qmt_stop(m->dovecot);
	m->dovecot = 0;
	if (m->dir[0] && !getenv("QMT_KEEP"))
		qmt_rmtree(m->dir);
	m->dir[0] = '\0';
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(a, b);
}

int qmt_mail_files(const struct qmt_mail *m, int user, const char *folder,
                   char (*paths)[512], int max)
{
	static const char *const subs[] = {"new", "cur"};
	int count = 0;

	if (user < 0 || user >= QMT_MAIL_NUSERS)
		return -1;
	for (int s = 0; s < 2; s++) {
		char dir[512];
		DIR *d;
		struct dirent *de;
		int inbox = !folder || strcmp(folder, "INBOX") == 0;

		if (inbox)
			snprintf(dir, sizeof(dir), "%s/mail/%s/Maildir/%s",
			         m->dir, users[user], subs[s]);
		else
			snprintf(dir, sizeof(dir), "%s/mail/%s/Maildir/.%s/%s",
			         m->dir, users[user], folder, subs[s]);
		if (!(d = opendir(dir)))
			continue;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			if (count < max && paths) {
				int w =
				    snprintf(paths[count], 512, "%.250s/%.250s",
				             dir, de->d_name);
				if (w < 0 || w >= 512)
					continue;
			}
			count++;
		}
		closedir(d);
	}
	if (paths && count > 1)
		qsort(paths, (size_t)(count < max ? count : max), 512,
		      cmp_path);
	return count;
}

int qmt_mail_wait_files(const struct qmt_mail *m, int user, const char *folder,
                        int n, int timeout_ms)
{
	for (int waited = 0;; waited += 20) {
		int c = qmt_mail_files(m, user, folder, NULL, 0);
		if (c >= n)
			return c;
		if (waited >= timeout_ms)
			return -1;
		/* poll with no fds: the interval between two looks at the
		 * folder (delivery gives no event to wait on) */
		poll(NULL, 0, 20);
	}
}

unsigned char *qmt_mail_read(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	unsigned char *buf = NULL;
	long size;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)size + 1)) != NULL) {
		if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
			free(buf);
			buf = NULL;
		} else {
			buf[size] = '\0';
			*len = (size_t)size;
		}
	}
	fclose(f);
	return buf;
}

int qmt_mail_rewrite(const char *p, const void *data, size_t len)
{
	int fd = open(p, O_WRONLY | O_TRUNC);
	const unsigned char *b = data;
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t w = write(fd, b + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	return close(fd);
}
