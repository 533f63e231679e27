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

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
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

/* The special folders of each layout, by QMT_SU_*. */
static const char *const layouts[3][QMT_SU_COUNT] = {
    [QMT_MAIL_LAYOUT_PLAIN] = {"Sent", "Drafts", "Trash", "Junk", "Archive",
                               NULL, NULL},
    [QMT_MAIL_LAYOUT_GMAIL] = {"[Gmail]/Sent Mail", "[Gmail]/Drafts",
                               "[Gmail]/Trash", "[Gmail]/Spam", NULL,
                               "[Gmail]/All Mail", "[Gmail]/Starred"},
    [QMT_MAIL_LAYOUT_OUTLOOK] = {"Sent Items", "Drafts", "Deleted Items",
                                 "Junk Email", "Archive", NULL, NULL}};
static const char *const special_use[QMT_SU_COUNT] = {
    "\\Sent",    "\\Drafts", "\\Trash",  "\\Junk",
    "\\Archive", "\\All",    "\\Flagged"};

const char *qmt_mail_layout_folder(enum qmt_mail_layout l, int which)
{
	if ((unsigned)l > QMT_MAIL_LAYOUT_OUTLOOK || which < 0 ||
	    which >= QMT_SU_COUNT)
		return NULL;
	return layouts[l][which];
}

const char *qmt_mail_layout_name(enum qmt_mail_layout l)
{
	return l == QMT_MAIL_LAYOUT_GMAIL     ? "gmail"
	       : l == QMT_MAIL_LAYOUT_OUTLOOK ? "outlook"
	                                      : "plain";
}

/* The namespace's mailbox { } blocks of m's layout into out. */
static int mailboxes(const struct qmt_mail *m, char *out, size_t n)
{
	size_t off = 0;

	out[0] = '\0';
	for (int i = 0; i < QMT_SU_COUNT; i++) {
		const char *name = qmt_mail_layout_folder(m->layout, i);
		int w;

		if (!name)
			continue;
		if (m->layout == QMT_MAIL_LAYOUT_OUTLOOK)
			w = snprintf(out + off, n - off,
			             "  mailbox \"%s\" {\n"
			             "    auto = subscribe\n  }\n",
			             name);
		else
			w = snprintf(out + off, n - off,
			             "  mailbox \"%s\" {\n"
			             "    special_use = %s\n"
			             "    auto = subscribe\n  }\n",
			             name, special_use[i]);
		if (w < 0 || (size_t)w >= n - off)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

static int path(char *out, size_t n, const char *dir, const char *name)
{
	int r = snprintf(out, n, "%s/%s", dir, name);

	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* The throw-away CA (and an unrelated one, for "bad CA" tests) and the
 * servers' certificate for localhost and 127.0.0.1. */
static int make_certs(struct qmt_mail *m)
{
	static const char *const dns[] = {"localhost", NULL};
	static const char *const ips[] = {"127.0.0.1", NULL};
	struct qmt_ca ca, other;

	if (qmt_ca_make(&ca, m->dir, "ca", "QMail throw-away test CA") != 0 ||
	    qmt_ca_make(&other, m->dir, "other-ca", "Unrelated test CA") != 0 ||
	    qmt_ca_sign_server(&ca, m->dir, "localhost", dns, ips) != 0)
		return -1;
	if (snprintf(m->ca_file, sizeof(m->ca_file), "%s", ca.crt) >=
	        (int)sizeof(m->ca_file) ||
	    snprintf(m->ca_key_file, sizeof(m->ca_key_file), "%s", ca.key) >=
	        (int)sizeof(m->ca_key_file) ||
	    snprintf(m->other_ca_file, sizeof(m->other_ca_file), "%s",
	             other.crt) >= (int)sizeof(m->other_ca_file))
		return -1;
	return 0;
}

/* s with every byte but RFC 3986 unreserved ones %-escaped (malloc'd). */
static char *userinfo_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), o = 0;
	char *out = malloc(3 * n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return out;
}

/* The oauth2 passdb's settings file (see oauth2_introspect_url in the
 * header) into oauth2_file; 0 or -1. */
static int write_oauth2_conf(const struct qmt_mail *m, const char *oauth2_file)
{
	const char *u = m->oauth2_introspect_url, *rest;
	char buf[2048], *id = NULL, *secret = NULL;
	int n, rc = -1;

	/* the client's credentials go in the URL (Dovecot sends them as
	 * HTTP Basic), escaped as RFC 3986 userinfo */
	if (strncmp(u, "https://", 8) != 0 || !m->oauth2_client_id ||
	    !m->oauth2_client_secret)
		return -1;
	rest = u + 8;
	if (!(id = userinfo_escape(m->oauth2_client_id)) ||
	    !(secret = userinfo_escape(m->oauth2_client_secret)))
		goto out;
	n = snprintf(
	    buf, sizeof(buf),
	    "introspection_mode = post\n"
	    "introspection_url = https://%s:%s@%s\n"
	    "force_introspection = yes\n"
	    "username_attribute = email\n"
	    "active_attribute = active\n"
	    "active_value = true\n"
	    "%s%s%s"
	    "%s%s%s"
	    "tls_ca_cert_file = %s\n"
	    "timeout_msecs = 10000\n",
	    id, secret, rest, m->oauth2_scope ? "scope = " : "",
	    m->oauth2_scope ? m->oauth2_scope : "", m->oauth2_scope ? "\n" : "",
	    m->oauth2_openid_config_url ? "openid_configuration_url = " : "",
	    m->oauth2_openid_config_url ? m->oauth2_openid_config_url : "",
	    m->oauth2_openid_config_url ? "\n" : "",
	    m->oauth2_ca_file ? m->oauth2_ca_file : m->ca_file);
	if (n < 0 || (size_t)n >= sizeof(buf) ||
	    qmt_write_file(oauth2_file, buf) != 0)
		goto out;
	/* read by Dovecot's auth process, which is not root */
	rc = chmod(oauth2_file, 0644);
out:
	free(id);
	free(secret);
	return rc;
}

static int write_dovecot_conf(const struct qmt_mail *m, uid_t uid, gid_t gid)
{
	char conf[320], users_file[320], buf[12288], line[640], boxes[2048],
	    oauth2_file[320], oauth2_passdb[512];
	const char *mechs = "plain login", *pw_mechs = "", *trusted = "";
	size_t off = 0;
	FILE *f;
	int n;

	oauth2_passdb[0] = '\0';
	if (m->oauth2_introspect_url) {
		path(oauth2_file, sizeof(oauth2_file), m->dir, "oauth2.conf");
		if (write_oauth2_conf(m, oauth2_file) != 0)
			return -1;
		mechs = "plain login xoauth2 oauthbearer";
		pw_mechs = "  mechanisms = plain login\n";
		/* no growing per-IP delay after failed logins (2 to 15 s
		 * before the next login is even looked at): a token that
		 * lives a few seconds would die waiting. Dovecot 2.3 has no
		 * setting for it; the auth process skips the penalty when
		 * anvil's penalty socket is not there. auth_failure_delay
		 * still holds. And the reason of each failure in the log. */
		trusted = "service anvil {\n"
		          "  unix_listener anvil-auth-penalty {\n"
		          "    mode = 0\n  }\n}\n"
		          "auth_verbose = yes\n";
		n = snprintf(oauth2_passdb, sizeof(oauth2_passdb),
		             "passdb {\n  driver = oauth2\n"
		             "  mechanisms = xoauth2 oauthbearer\n"
		             "  args = %s\n}\n",
		             oauth2_file);
		if (n < 0 || (size_t)n >= sizeof(oauth2_passdb))
			return -1;
	}

	path(users_file, sizeof(users_file), m->dir, "users");
	if (!(f = fopen(users_file, "w")))
		return -1;
	for (int i = 0; i < QMT_MAIL_NUSERS; i++) {
		snprintf(line, sizeof(line), "%s:{PLAIN}%s:%u:%u::%s/mail/%s\n",
		         addrs[i], passwords[i], (unsigned)uid, (unsigned)gid,
		         m->dir, users[i]);
		fputs(line, f);
	}
	if (fclose(f) != 0 || mailboxes(m, boxes, sizeof(boxes)) != 0)
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
	    "auth_mechanisms = %s\n"
	    /* tests fail logins on purpose: a shorter delay per failure
	     * (Dovecot still adds its growing per-IP penalty) */
	    "auth_failure_delay = 1 secs\n%s"
	    "mail_location = %s\n"
	    "passdb {\n  driver = passwd-file\n%s"
	    "  args = scheme=PLAIN username_format=%%u %s\n}\n%s"
	    "userdb {\n  driver = passwd-file\n"
	    "  args = username_format=%%u %s\n}\n"
	    "namespace inbox {\n  inbox = yes\n  separator = /\n%s}\n"
	    "protocol pop3 {\n  pop3_uidl_format = %%08Xu%%08Xv\n}\n"
	    "submission_relay_host = 127.0.0.1\n"
	    "submission_relay_port = %d\n"
	    "submission_relay_trusted = yes\n"
	    "submission_max_mail_size = 64M\n"
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
	    m->dir, m->dir, mechs, trusted,
	    m->mdbox ? "mdbox:~/mdbox" : "maildir:~/Maildir", pw_mechs,
	    users_file, oauth2_passdb, users_file, boxes, m->mta_port,
	    m->imap_port, m->imaps_port, m->pop3_port, m->pop3s_port,
	    m->submission_port, m->submissions_port, m->lmtp_port);
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
	             /* above the default 35 MB: bench_e2e sends a 25 MiB
	              * attachment, base64 twice over (inner MIME, outer) */
	             "smtp max-message-size 64M\n"
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
		qmt_show_log(log);
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

	struct qmt_mail set = *m; /* what the caller set before the start */

	memset(m, 0, sizeof(*m));
	m->layout = set.layout;
	m->mdbox = set.mdbox;
	m->oauth2_introspect_url = set.oauth2_introspect_url;
	m->oauth2_client_id = set.oauth2_client_id;
	m->oauth2_client_secret = set.oauth2_client_secret;
	m->oauth2_ca_file = set.oauth2_ca_file;
	m->oauth2_scope = set.oauth2_scope;
	m->oauth2_openid_config_url = set.oauth2_openid_config_url;
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
			qmt_show_log(log);
			path(log, sizeof(log), m->dir, "dovecot.log");
			qmt_show_log(log);
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

struct upload {
	const unsigned char *p;
	size_t len, off;
};

static size_t upload_read(char *buf, size_t sz, size_t n, void *arg)
{
	struct upload *u = arg;
	size_t k = sz * n;

	if (k > u->len - u->off)
		k = u->len - u->off;
	memcpy(buf, u->p + u->off, k);
	u->off += k;
	return k;
}

int qmt_mail_deliver(const struct qmt_mail *m, const char *from, const char *to,
                     const void *msg, size_t len)
{
	struct upload u = {msg, len, 0};
	struct curl_slist *rcpt = NULL;
	char url[64], sender[330];
	CURLcode rc;
	CURL *c;

	snprintf(url, sizeof(url), "smtp://127.0.0.1:%d", m->mta_port);
	snprintf(sender, sizeof(sender), "<%s>", from);
	if (!(c = curl_easy_init()) || !(rcpt = curl_slist_append(NULL, to))) {
		curl_easy_cleanup(c);
		fprintf(stderr, "mailserver: out of memory\n");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_MAIL_FROM, sender);
	curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
	curl_easy_setopt(c, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(c, CURLOPT_READDATA, &u);
	curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	rc = curl_easy_perform(c);
	curl_slist_free_all(rcpt);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		fprintf(stderr, "mailserver: SMTP to the MTA: %s\n",
		        curl_easy_strerror(rc));
		return -1;
	}
	return 0;
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
		else {
			/* Maildir++: "a/b" is the directory ".a.b" */
			char dotted[200];
			snprintf(dotted, sizeof(dotted), "%.199s", folder);
			for (char *p = dotted; *p; p++)
				if (*p == '/')
					*p = '.';
			snprintf(dir, sizeof(dir), "%s/mail/%s/Maildir/.%s/%s",
			         m->dir, users[user], dotted, subs[s]);
		}
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

/* The Maildir directory of folder ("INBOX" or NULL: the inbox). */
static int maildir_of(const struct qmt_mail *m, int user, const char *folder,
                      char *out, size_t n)
{
	char dotted[200];
	int w;

	if (!folder || strcmp(folder, "INBOX") == 0) {
		w = snprintf(out, n, "%s/mail/%s/Maildir", m->dir, users[user]);
	} else {
		snprintf(dotted, sizeof(dotted), "%.199s", folder);
		for (char *p = dotted; *p; p++)
			if (*p == '/')
				*p = '.';
		w = snprintf(out, n, "%s/mail/%s/Maildir/.%s", m->dir,
		             users[user], dotted);
	}
	return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* The Maildir of user's folder, made when missing (Dovecot makes it at
 * the first login only), owned by the mail user, into dir. */
static int maildir_make(const struct qmt_mail *m, int user, const char *folder,
                        char *dir, size_t n, const struct passwd *pw)
{
	static const char *const subs[] = {"", "/cur", "/new", "/tmp"};
	char sub[600];

	if (user < 0 || user >= QMT_MAIL_NUSERS ||
	    maildir_of(m, user, NULL, dir, n))
		return -1;
	if ((mkdir(dir, 0700) != 0 && errno != EEXIST) ||
	    chown(dir, pw->pw_uid, pw->pw_gid) != 0 ||
	    maildir_of(m, user, folder, dir, n))
		return -1;
	for (size_t i = 0; i < sizeof(subs) / sizeof(*subs); i++) {
		snprintf(sub, sizeof(sub), "%s%s", dir, subs[i]);
		if ((mkdir(sub, 0700) != 0 && errno != EEXIST) ||
		    chown(sub, pw->pw_uid, pw->pw_gid) != 0)
			return -1;
	}
	if (folder && strcmp(folder, "INBOX") != 0) {
		snprintf(sub, sizeof(sub), "%s/maildirfolder", dir);
		if (qmt_write_file(sub, "") != 0 ||
		    chown(sub, pw->pw_uid, pw->pw_gid) != 0)
			return -1;
	}
	return 0;
}

/* The Maildir written for user's folder imported into the mdbox
 * Dovecot serves, then removed. */
static int mdbox_import(const struct qmt_mail *m, int user, const char *folder)
{
	char conf[320], src[600], log[320], root[512];
	char *argv[] = {"doveadm", "-c", conf,      "import", "-u", NULL,
	                src,       "",   "mailbox", NULL,     NULL};
	int rc;

	path(conf, sizeof(conf), m->dir, "dovecot.conf");
	path(log, sizeof(log), m->dir, "doveadm.log");
	if (maildir_of(m, user, NULL, root, sizeof(root)))
		return -1;
	snprintf(src, sizeof(src), "maildir:%s", root);
	argv[5] = (char *)(uintptr_t)addrs[user];
	argv[9] = (char *)(uintptr_t)(folder ? folder : "INBOX");
	rc = qmt_run(argv, log);
	return rc == 0 && qmt_rmtree(root) == 0 ? 0 : -1;
}

int qmt_mail_fill_with(const struct qmt_mail *m, int user, const char *folder,
                       int n, qmt_mail_gen_fn gen, void *arg)
{
	struct passwd *pw = getpwnam("mail");
	char dir[512], file[700];

	if (!pw || maildir_make(m, user, folder, dir, sizeof(dir), pw))
		return -1;
	for (int i = 0; i < n; i++) {
		FILE *f;
		int bad;

		snprintf(file, sizeof(file), "%s/cur/%d.M%dP%d.qmt:2,", dir,
		         1700000000 + i, i, (int)getpid());
		if (!(f = fopen(file, "w")))
			return -1;
		bad = gen(f, i, arg);
		if (fclose(f) != 0 || bad ||
		    chown(file, pw->pw_uid, pw->pw_gid) != 0)
			return -1;
	}
	return m->mdbox ? mdbox_import(m, user, folder) : 0;
}

struct fill_arg {
	const char *tag;
	const char *body;
};

static int fill_one(FILE *f, int i, void *arg)
{
	const struct fill_arg *a = arg;

	return fprintf(f,
	               "From: Bob <bob@" QMT_MAIL_DOMAIN ">\n"
	               "To: Alice <alice@" QMT_MAIL_DOMAIN ">\n"
	               "Subject: fill-%d\n"
	               "Date: Tue, 4 Mar 2025 10:00:00 +0000\n"
	               "Message-ID: <%s-%d@" QMT_MAIL_DOMAIN ">\n"
	               "Content-Type: text/plain; charset=us-ascii\n\n"
	               "%s\n",
	               i, a->tag, i, a->body) < 0;
}

int qmt_mail_fill(const struct qmt_mail *m, int user, const char *folder,
                  const char *tag, int n, size_t size)
{
	size_t blen = size > 600 ? size - 600 : 0;
	struct fill_arg a = {tag, NULL};
	char *body;
	int rc;

	if (!(body = malloc(blen + 1)))
		return -1;
	for (size_t i = 0; i < blen; i++)
		body[i] = (i % 76 == 75) ? '\n' : (char)('a' + i % 26);
	body[blen] = '\0';
	a.body = body;
	rc = qmt_mail_fill_with(m, user, folder, n, fill_one, &a);
	free(body);
	return rc;
}

/* ------------------------------------------- a second, independent client */

#define CLIENT_MAXREPLY ((size_t)64 << 20)
#define CLIENT_WAIT_MS  20000

struct qmt_imap {
	int fd;
	unsigned tag;
	char in[16384];
	size_t inlen, inoff;
	char *reply; /* the last command's reply, NUL-terminated */
	size_t len, cap;
};

static int client_fill(struct qmt_imap *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	ssize_t r;

	if (c->inoff == c->inlen)
		c->inoff = c->inlen = 0;
	if (c->inlen == sizeof(c->in)) {
		memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
		c->inlen -= c->inoff;
		c->inoff = 0;
	}
	if (poll(&p, 1, CLIENT_WAIT_MS) <= 0)
		return -1;
	r = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
	if (r <= 0)
		return -1;
	c->inlen += (size_t)r;
	return 0;
}

static int client_keep(struct qmt_imap *c, const char *p, size_t n)
{
	if (c->len + n + 1 > c->cap) {
		size_t nc = c->cap ? c->cap : 4096;
		char *t;
		while (nc < c->len + n + 1)
			nc *= 2;
		if (nc > CLIENT_MAXREPLY || !(t = realloc(c->reply, nc)))
			return -1;
		c->reply = t;
		c->cap = nc;
	}
	memcpy(c->reply + c->len, p, n);
	c->len += n;
	c->reply[c->len] = '\0';
	return 0;
}

/* Appends one line (with its CRLF) to the reply; its start in *at. */
static int client_line(struct qmt_imap *c, size_t *at)
{
	*at = c->len;
	for (;;) {
		char *s = c->in + c->inoff;
		size_t avail = c->inlen - c->inoff;
		char *nl = memchr(s, '\n', avail);
		size_t take = nl ? (size_t)(nl - s) + 1 : avail;

		if (take && client_keep(c, s, take))
			return -1;
		c->inoff += take;
		if (nl)
			return 0;
		if (client_fill(c))
			return -1;
	}
}

/* A literal of n bytes into the reply. */
static int client_literal(struct qmt_imap *c, size_t n)
{
	while (n) {
		size_t avail = c->inlen - c->inoff,
		       take = avail < n ? avail : n;

		if (!avail) {
			if (client_fill(c))
				return -1;
			continue;
		}
		if (client_keep(c, c->in + c->inoff, take))
			return -1;
		c->inoff += take;
		n -= take;
	}
	return 0;
}

static int client_send(struct qmt_imap *c, const void *p, size_t n)
{
	const char *b = p;

	while (n) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads until the tagged reply (or a "+" when cont is set): 0 OK or "+",
 * 1 NO/BAD, -1 lost. */
static int client_read(struct qmt_imap *c, int cont)
{
	char tag[24];
	int tl = snprintf(tag, sizeof(tag), "T%u ", c->tag);

	for (;;) {
		size_t at, end;
		const char *line;

		if (client_line(c, &at))
			return -1;
		/* a line that ends "{N}": N bytes follow, then more line */
		for (end = c->len;;) {
			const char *b = c->reply + end;
			size_t k = end - at;
			unsigned long v;

			if (k < 5 || b[-1] != '\n' || b[-2] != '\r' ||
			    b[-3] != '}')
				break;
			b -= 4;
			while (b > c->reply + at && *b >= '0' && *b <= '9')
				b--;
			if (*b != '{')
				break;
			v = strtoul(b + 1, NULL, 10);
			if (client_literal(c, v) || client_line(c, &end))
				return -1;
			end = c->len;
		}
		line = c->reply + at;
		if (cont && line[0] == '+')
			return 0;
		if (strncmp(line, tag, (size_t)tl) == 0)
			return strncasecmp(line + tl, "OK", 2) == 0 ? 0 : 1;
	}
}

static int client_vcmd(struct qmt_imap *c, const char *fmt, va_list ap)
{
	char cmd[8192];
	int n, m;

	c->tag++;
	c->len = 0;
	if (c->reply)
		c->reply[0] = '\0';
	n = snprintf(cmd, sizeof(cmd), "T%u ", c->tag);
	m = vsnprintf(cmd + n, sizeof(cmd) - (size_t)n - 2, fmt, ap);
	if (m < 0 || (size_t)(n + m) >= sizeof(cmd) - 2)
		return -1;
	memcpy(cmd + n + m, "\r\n", 2);
	if (client_send(c, cmd, (size_t)(n + m + 2)))
		return -1;
	return client_read(c, 0);
}

int qmt_imap_cmd(struct qmt_imap *c, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = client_vcmd(c, fmt, ap);
	va_end(ap);
	return r;
}

const char *qmt_imap_reply(const struct qmt_imap *c)
{
	return c->reply ? c->reply : "";
}

struct qmt_imap *qmt_imap_open(const struct qmt_mail *m, int user)
{
	struct sockaddr_in a = {0};
	struct qmt_imap *c;
	size_t at;

	if (user < 0 || user >= QMT_MAIL_NUSERS || !(c = calloc(1, sizeof(*c))))
		return NULL;
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)m->imap_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    client_line(c, &at) || strncmp(c->reply + at, "* OK", 4) != 0 ||
	    qmt_imap_cmd(c, "LOGIN \"%s\" \"%s\"", addrs[user],
	                 passwords[user]) != 0) {
		fprintf(stderr, "second IMAP client: login as %s failed: %s\n",
		        addrs[user], c->reply ? c->reply : "(nothing)");
		qmt_imap_close(&c);
		return NULL;
	}
	return c;
}

void qmt_imap_close(struct qmt_imap **pc)
{
	struct qmt_imap *c = pc ? *pc : NULL;

	if (!c)
		return;
	if (c->fd >= 0) {
		(void)qmt_imap_cmd(c, "LOGOUT");
		close(c->fd);
	}
	free(c->reply);
	free(c);
	*pc = NULL;
}

uint32_t qmt_imap_append(struct qmt_imap *c, const char *folder,
                         const char *flags, const void *msg, size_t len)
{
	char cmd[1024];
	const char *p;
	int n;

	c->tag++;
	c->len = 0;
	n = snprintf(cmd, sizeof(cmd), "T%u APPEND \"%s\" (%s) {%zu}\r\n",
	             c->tag, folder, flags ? flags : "", len);
	if (n < 0 || (size_t)n >= sizeof(cmd) ||
	    client_send(c, cmd, (size_t)n) || client_read(c, 1) != 0 ||
	    client_send(c, msg, len) || client_send(c, "\r\n", 2) ||
	    client_read(c, 0) != 0)
		return 0;
	/* "T7 OK [APPENDUID validity uid] ..." */
	if (!(p = strcasestr(c->reply, "[APPENDUID ")) ||
	    !(p = strchr(p + 11, ' ')))
		return 0;
	return (uint32_t)strtoul(p + 1, NULL, 10);
}

int qmt_imap_search(struct qmt_imap *c, const char *criteria, uint32_t *uids,
                    int max)
{
	const char *p;
	int n = 0;

	if (qmt_imap_cmd(c, "UID SEARCH %s", criteria) != 0 ||
	    !(p = strstr(c->reply, "* SEARCH")))
		return -1;
	p += 8;
	while (*p == ' ') {
		char *end;
		unsigned long v = strtoul(p + 1, &end, 10);
		if (end == p + 1)
			break;
		if (n < max)
			uids[n] = (uint32_t)v;
		n++;
		p = end;
	}
	return n;
}

int qmt_imap_flags(struct qmt_imap *c, uint32_t uid, char *out, size_t n)
{
	const char *p, *e;

	if (qmt_imap_cmd(c, "UID FETCH %u (FLAGS)", (unsigned)uid) != 0 ||
	    !(p = strstr(c->reply, "FLAGS (")) || !(e = strchr(p + 7, ')')))
		return -1;
	snprintf(out, n, "%.*s", (int)(e - p - 7), p + 7);
	return 0;
}

size_t qmt_mail_message(char *out, size_t n, const char *subject,
                        const char *id, const char *parent)
{
	int w;

	if (parent)
		w = snprintf(out, n,
		             "From: Bob <bob@" QMT_MAIL_DOMAIN ">\r\n"
		             "To: Alice <alice@" QMT_MAIL_DOMAIN ">\r\n"
		             "Subject: %s\r\n"
		             "Date: Tue, 4 Mar 2025 10:00:00 +0000\r\n"
		             "Message-ID: <%s@" QMT_MAIL_DOMAIN ">\r\n"
		             "In-Reply-To: <%s@" QMT_MAIL_DOMAIN ">\r\n"
		             "References: <%s@" QMT_MAIL_DOMAIN ">\r\n"
		             "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		             "A reply in a thread.\r\n",
		             subject, id, parent, parent);
	else
		w = snprintf(out, n,
		             "From: Bob <bob@" QMT_MAIL_DOMAIN ">\r\n"
		             "To: Alice <alice@" QMT_MAIL_DOMAIN ">\r\n"
		             "Subject: %s\r\n"
		             "Date: Tue, 4 Mar 2025 10:00:00 +0000\r\n"
		             "Message-ID: <%s@" QMT_MAIL_DOMAIN ">\r\n"
		             "Content-Type: text/plain; charset=utf-8\r\n\r\n"
		             "Hello, this is a test message.\r\n",
		             subject, id);
	return w < 0 ? 0 : (size_t)w < n ? (size_t)w : n - 1;
}
