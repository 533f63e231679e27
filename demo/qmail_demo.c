/* SPDX-License-Identifier: MIT */
/*
 * qmail-demo: the program behind `make demo`. In one state folder it starts
 * a complete local QMail world: the mail servers (OpenSMTPD + Dovecot with a
 * throw-away CA, through the project's tests/lib/mailserver code), a QKD
 * network of two qkme KMEs joined by a simulated BB84 link, two QMail homes
 * (Alice and Bob) with accounts, contacts' SAE IDs and verified level 3/4
 * keys, a few seeded messages at every level in both directions, and one web
 * GUI per user on loopback. It prints the addresses, passphrases and CLI
 * commands, then runs until SIGINT/SIGTERM and stops every process it
 * started. Each run wipes and rebuilds the state folder (the mail servers'
 * ports change from run to run, so nothing there could be resumed).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "core/core.h"
#include "harness.h"
#include "mailserver.h"
#include "web/web.h"

#ifndef QM_DEMO_QKME
#define QM_DEMO_QKME "qkme"
#endif
#ifndef QM_DEMO_QMAIL
#define QM_DEMO_QMAIL "qmail"
#endif
#ifndef QM_DEMO_STATE
#define QM_DEMO_STATE ".demo"
#endif

#define NUSERS 2
#define MARKER ".qmail-demo"
/* Key material each direction must hold before seeding: one level-1
 * message of about 1.5 KiB goes each way. One BB84 block gives more, so
 * the demo waits for the first block only (the link runs at idle CPU
 * priority: on a busy machine each block can take a while). */
#define SEED_POOL_BYTES (8u * 1024u)
/* Each direction's pool: small, so that the BB84 threads go quiet soon. */
#define DEMO_POOL_BYTES "2097152"

static const char *const names[NUSERS] = {"Alice", "Bob"};
static const char *const saes[NUSERS] = {"SAE_A", "SAE_B"};
static const char *const passphrases[NUSERS] = {"alice-quantum-demo",
                                                "bob-quantum-demo"};

struct demo {
	char state[200];
	char qkme[300];
	const char *qmail;
	int base_port;
	char kmes[300];
	char homes[NUSERS][300];
	struct qmt_mail mail;
	int mail_up;
	int kme_port[NUSERS];
	pid_t kme_pid[NUSERS];
	struct qm_client *c[NUSERS];
	int64_t acct[NUSERS];
	struct qm_web_server *web[NUSERS];
	FILE *log;
};

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void say(const char *fmt, ...) QM_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
	va_list ap;

	fputs("[demo] ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static int fail(const char *what, const struct qm_error *e)
{
	fprintf(stderr, "qmail-demo: %s: %s\n", what, qm_error_msg(e));
	return -1;
}

/* Library log lines go to STATE/demo.log (the logger redacts secrets). */
static void log_sink(enum qm_log_level level, const char *line, void *arg)
{
	static const char *const lv[] = {"debug", "info", "warning", "error"};
	FILE *f = arg;

	if (f) {
		fprintf(f, "%s: %s\n", lv[level], line);
		fflush(f);
	}
}

static int pathf(char *out, size_t n, const char *fmt, ...) QM_PRINTF(3, 4);
static int pathf(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* ------------------------------------------------------ before starting */

/* Says what is missing when this machine cannot run the demo. */
static int check_machine(void)
{
	static const struct {
		const char *path, *pkg;
	} need[] = {
	    {"/usr/sbin/smtpd", "opensmtpd"},
	    {"/usr/sbin/dovecot", "dovecot-imapd"},
	    {"/usr/lib/dovecot/imap", "dovecot-imapd"},
	    {"/usr/lib/dovecot/pop3", "dovecot-pop3d"},
	    {"/usr/lib/dovecot/lmtp", "dovecot-lmtpd"},
	    {"/usr/lib/dovecot/submission", "dovecot-submissiond"},
	    {"/usr/bin/openssl", "openssl"},
	};
	char missing[256] = "";
	int bad = 0;

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		if (access(need[i].path, X_OK) == 0 ||
		    strstr(missing, need[i].pkg))
			continue;
		size_t l = strlen(missing);
		snprintf(missing + l, sizeof(missing) - l, " %s", need[i].pkg);
	}
	if (missing[0]) {
		fprintf(stderr,
		        "qmail-demo: the demo runs its own mail servers and "
		        "needs these Debian packages:\n"
		        "  sudo apt-get install -y%s\n"
		        "(or run `sudo make demo`, which installs everything "
		        "QMail needs: scripts/install-deps.sh)\n",
		        missing);
		bad = 1;
	}
	if (geteuid() != 0) {
		fprintf(stderr,
		        "qmail-demo: OpenSMTPD and Dovecot must be started as "
		        "root (they drop privileges themselves):\n"
		        "  run `sudo make demo` (or this program as root)\n");
		bad = 1;
	}
	return bad ? -1 : 0;
}

/* Whether /proc/pid/cmdline mentions text. */
static int cmdline_has(pid_t pid, const char *text)
{
	char p[64], buf[4096];
	ssize_t n;
	int fd, found = 0;

	snprintf(p, sizeof(p), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	found = strstr(buf, text) != NULL;
	return found;
}

/*
 * A demo that was killed (SIGKILL) cannot stop its servers: their process
 * groups are listed in STATE/children. Stops those that still run from this
 * state folder.
 */
static void stop_leftovers(const char *state)
{
	char file[300];
	FILE *f;
	int pid;

	if (pathf(file, sizeof(file), "%s/children", state) ||
	    !(f = fopen(file, "r")))
		return;
	while (fscanf(f, "%d", &pid) == 1) {
		if (pid <= 1 || !cmdline_has(pid, state))
			continue;
		say("stopping process group %d left by an earlier run", pid);
		kill(-pid, SIGTERM);
		for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) {
			struct timespec ts = {0, 50 * 1000 * 1000};
			/* not our child: no wait() to block on */
			nanosleep(&ts, NULL);
		}
		kill(-pid, SIGKILL);
	}
	fclose(f);
}

/* Another demo still running on this folder? Its pid, else 0. */
static pid_t running_demo(const char *state)
{
	char file[300], exe[300], self[300];
	FILE *f;
	int pid = 0;
	ssize_t n, m;

	if (pathf(file, sizeof(file), "%s/demo.pid", state) ||
	    !(f = fopen(file, "r")))
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	if (pid <= 1 || pid == getpid() || kill(pid, 0) != 0)
		return 0;
	snprintf(file, sizeof(file), "/proc/%d/exe", pid);
	n = readlink(file, exe, sizeof(exe) - 1);
	m = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || m <= 0)
		return 0;
	exe[n] = self[m] = '\0';
	return strcmp(exe, self) == 0 ? pid : 0;
}

/* Empties the state folder (only one this program made) and recreates it. */
static int fresh_state(struct demo *d)
{
	char marker[300];
	struct stat st;
	pid_t other;

	if (stat(d->state, &st) == 0) {
		DIR *dir;
		struct dirent *de;
		int entries = 0;

		if (!S_ISDIR(st.st_mode)) {
			fprintf(stderr, "qmail-demo: %s is not a folder\n",
			        d->state);
			return -1;
		}
		if ((other = running_demo(d->state)) != 0) {
			fprintf(stderr,
			        "qmail-demo: another demo (pid %d) is running "
			        "on %s: stop it first (Ctrl-C in its terminal, "
			        "or kill -INT %d)\n",
			        (int)other, d->state, (int)other);
			return -1;
		}
		pathf(marker, sizeof(marker), "%s/" MARKER, d->state);
		if ((dir = opendir(d->state)) != NULL) {
			while ((de = readdir(dir)) != NULL)
				if (strcmp(de->d_name, ".") &&
				    strcmp(de->d_name, ".."))
					entries++;
			closedir(dir);
		}
		if (entries && access(marker, F_OK) != 0) {
			fprintf(stderr,
			        "qmail-demo: %s exists and was not made by "
			        "qmail-demo; choose another folder with "
			        "--state DIR, or remove it\n",
			        d->state);
			return -1;
		}
		stop_leftovers(d->state);
		say("removing the previous demo's state in %s", d->state);
		if (qmt_rmtree(d->state) != 0) {
			fprintf(stderr, "qmail-demo: cannot remove %s: %s\n",
			        d->state, strerror(errno));
			return -1;
		}
	}
	/* 0755: Dovecot's mail user must reach the Maildirs below */
	if (mkdir(d->state, 0755) != 0 || chmod(d->state, 0755) != 0) {
		fprintf(stderr, "qmail-demo: cannot create %s: %s\n", d->state,
		        strerror(errno));
		return -1;
	}
	pathf(marker, sizeof(marker), "%s/" MARKER, d->state);
	if (qmt_write_file(marker, "made by qmail-demo; `make demo-clean` "
	                           "removes this folder\n"))
		return -1;
	pathf(marker, sizeof(marker), "%s/demo.pid", d->state);
	{
		char pid[32];
		snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		return qmt_write_file(marker, pid);
	}
}

/* Appends a started process group to STATE/children. */
static void note_child(const struct demo *d, pid_t pid)
{
	char file[300];
	FILE *f;

	if (pid <= 0 || pathf(file, sizeof(file), "%s/children", d->state) ||
	    !(f = fopen(file, "a")))
		return;
	fprintf(f, "%d\n", (int)pid);
	fclose(f);
}

/* ---------------------------------------------------------------- KMEs */

static int start_kmes(struct demo *d)
{
	char ports[64], conf[400], log[400];
	char *argv[12];

	if (pathf(d->kmes, sizeof(d->kmes), "%s/kmes", d->state))
		return -1;
	for (int i = 0; i < NUSERS; i++)
		if ((d->kme_port[i] = qmt_free_port()) == 0)
			return -1;
	snprintf(ports, sizeof(ports), "%d,%d", d->kme_port[0], d->kme_port[1]);
	argv[0] = d->qkme;
	argv[1] = "testnet";
	argv[2] = d->kmes;
	argv[3] = "--kmes";
	argv[4] = "2";
	argv[5] = "--saes";
	argv[6] = "1";
	argv[7] = "--ports";
	argv[8] = ports;
	argv[9] = "--set";
	argv[10] = "pool_bytes = " DEMO_POOL_BYTES;
	argv[11] = NULL;
	pathf(log, sizeof(log), "%s/testnet.log", d->state);
	if (qmt_run(argv, log) != 0) {
		fprintf(stderr, "qmail-demo: `qkme testnet` failed: see %s\n",
		        log);
		return -1;
	}
	for (int i = 0; i < NUSERS; i++) {
		char *run[] = {d->qkme, "run", conf, NULL};

		pathf(conf, sizeof(conf), "%s/KME_%c/qkme.conf", d->kmes,
		      'A' + i);
		pathf(log, sizeof(log), "%s/kme%c.log", d->kmes, 'A' + i);
		d->kme_pid[i] = qmt_spawn(run, NULL, log);
		note_child(d, d->kme_pid[i]);
		if (d->kme_pid[i] <= 0 ||
		    qmt_wait_port(d->kme_port[i], 15000) != 0) {
			fprintf(stderr,
			        "qmail-demo: KME_%c did not start: see %s\n",
			        'A' + i, log);
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------- users and keys */

static void account_for(const struct demo *d, int i, struct qm_store_account *a)
{
	memset(a, 0, sizeof(*a));
	qm_strlcpy(a->address, qmt_mail_addr(i), sizeof(a->address));
	qm_strlcpy(a->display_name, names[i], sizeof(a->display_name));
	qm_strlcpy(a->username, qmt_mail_addr(i), sizeof(a->username));
	qm_strlcpy(a->smtp.host, "127.0.0.1", sizeof(a->smtp.host));
	a->smtp.port = d->mail.submission_port;
	a->smtp.tls = QM_TLS_STARTTLS;
	qm_strlcpy(a->imap.host, "127.0.0.1", sizeof(a->imap.host));
	a->imap.port = d->mail.imaps_port;
	a->imap.tls = QM_TLS_IMPLICIT;
	qm_strlcpy(a->pop3.host, "127.0.0.1", sizeof(a->pop3.host));
	a->pop3.port = d->mail.pop3s_port;
	a->pop3.tls = QM_TLS_IMPLICIT;
	qm_strlcpy(a->sae_id, saes[i], sizeof(a->sae_id));
	snprintf(a->kme_url, sizeof(a->kme_url), "https://127.0.0.1:%d",
	         d->kme_port[i]);
	snprintf(a->kme_ca, sizeof(a->kme_ca), "%s/ca.crt", d->kmes);
	snprintf(a->kme_cert, sizeof(a->kme_cert), "%s/sae/%s.crt", d->kmes,
	         saes[i]);
	snprintf(a->kme_key, sizeof(a->kme_key), "%s/sae/%s.key", d->kmes,
	         saes[i]);
	a->default_level = 2;
}

/* Creates both homes, accounts, contacts with SAE IDs, verified keys. */
static int make_users(struct demo *d)
{
	struct qm_error e;

	for (int i = 0; i < NUSERS; i++) {
		struct qm_client_opts o;
		struct qm_store_account a;

		if (pathf(d->homes[i], sizeof(d->homes[i]), "%s/%s", d->state,
		          qmt_mail_user(i)))
			return -1;
		memset(&o, 0, sizeof(o));
		o.home = d->homes[i];
		qm_error_clear(&e);
		if (qm_client_open(&o, &d->c[i], &e))
			return fail("opening a QMail home", &e);
		if (qm_client_init(d->c[i], passphrases[i],
		                   strlen(passphrases[i]), &e))
			return fail("creating the vault", &e);
		account_for(d, i, &a);
		if (qm_client_account_add(d->c[i], &a, qmt_mail_password(i),
		                          strlen(qmt_mail_password(i)), &e))
			return fail("adding the mail account", &e);
		d->acct[i] = a.id;
		if (qm_client_setting_set(d->c[i], a.id, "mail_ca",
		                          d->mail.ca_file, &e))
			return fail("setting the mail CA", &e);
		say("%s: home %s, account %s, SAE %s at KME "
		    "https://127.0.0.1:%d",
		    names[i], d->homes[i], qmt_mail_addr(i), saes[i],
		    d->kme_port[i]);
	}
	/* each knows the other's SAE ID and verified public key (as if they
	 * had compared fingerprints in person) */
	for (int i = 0; i < NUSERS; i++) {
		int j = 1 - i;
		struct qm_store_contact ct;
		struct qm_buf armour;
		char fpr[QM_STORE_FPRMAX];
		enum qm_err rc;

		memset(&ct, 0, sizeof(ct));
		qm_strlcpy(ct.address, qmt_mail_addr(j), sizeof(ct.address));
		qm_strlcpy(ct.name, names[j], sizeof(ct.name));
		qm_strlcpy(ct.sae_id, saes[j], sizeof(ct.sae_id));
		ct.source = QM_CONTACT_USER;
		ct.confirmed = 1;
		qm_error_clear(&e);
		if (qm_client_contact_put(d->c[i], d->acct[i], &ct, &e))
			return fail("adding the contact", &e);
		qm_buf_init(&armour, 1 << 20);
		rc = qm_client_key_export(d->c[j], d->acct[j], &armour, &e);
		if (!rc)
			rc = qm_client_key_import(d->c[i], NULL,
			                          (const char *)armour.data,
			                          armour.len, fpr, NULL, &e);
		if (!rc)
			rc = qm_client_key_verify(d->c[i], qmt_mail_addr(j),
			                          fpr, &e);
		qm_buf_free(&armour);
		if (rc)
			return fail("exchanging public keys", &e);
		say("%s knows %s: SAE ID %s, key %.24s... verified", names[i],
		    names[j], saes[j], fpr);
	}
	return 0;
}

/* Waits until both directions of the link hold bytes of key, asking the
 * KMEs (ETSI Get status) a few times a second. */
static int wait_pools(struct demo *d, uint64_t bytes, int timeout_s)
{
	uint64_t t0 = qm_mono_ns();
	int shown = 0;

	for (;;) {
		int ready = 0;
		struct qm_client_kme k[NUSERS];

		for (int i = 0; i < NUSERS; i++) {
			struct qm_error e;

			memset(&k[i], 0, sizeof(k[i]));
			qm_error_clear(&e);
			if (qm_client_kme_status(d->c[i], d->acct[i],
			                         saes[1 - i], &k[i],
			                         &e) == QM_OK &&
			    k[i].reachable && k[i].pool_bytes >= bytes)
				ready++;
		}
		if (ready == NUSERS) {
			say("QKD link up: %llu and %llu bytes of key in the "
			    "pools, QBER %.3f, %.1f kbit/s",
			    (unsigned long long)k[0].pool_bytes,
			    (unsigned long long)k[1].pool_bytes, k[0].qber,
			    k[0].key_rate_bps / 1000.0);
			return 0;
		}
		if (stop_flag)
			return -1;
		if ((int)((qm_mono_ns() - t0) / 1000000000u) >=
		    10 * (shown + 1)) {
			shown++;
			say("still waiting for key: %llu and %llu of %llu "
			    "bytes "
			    "(the simulated link only gets idle CPU time)",
			    (unsigned long long)k[0].pool_bytes,
			    (unsigned long long)k[1].pool_bytes,
			    (unsigned long long)bytes);
		}
		if ((qm_mono_ns() - t0) / 1000000000u > (uint64_t)timeout_s) {
			fprintf(stderr,
			        "qmail-demo: after %d s the KMEs hold %llu and "
			        "%llu bytes of key (need %llu): the BB84 "
			        "simulation runs only on idle CPU, so a busy "
			        "machine starves it; see also %s/kme*.log\n",
			        timeout_s, (unsigned long long)k[0].pool_bytes,
			        (unsigned long long)k[1].pool_bytes,
			        (unsigned long long)bytes, d->kmes);
			return -1;
		}
		/* the link distils a block in a fraction of a second; the
		 * ETSI API has no event to wait on, so ask again shortly */
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

/* ------------------------------------------------------------- seeding */

struct seed {
	int from;
	int level;
	const char *subject;
	const char *text;
	const char *att_name; /* NULL: none */
	const char *att_text;
	int reply; /* answers the other's level-1 message */
};

static const struct seed first[] = {
    {0, 1, "The one-time pad, for real",
     "Hi Bob,\n\nThis message was encrypted with a one-time pad: as many "
     "bytes of QKD key as the message itself, taken from our KMEs and "
     "destroyed after use, with a one-time MAC on top. Nobody can read it, "
     "not even with a quantum computer, now or later.\n\nAlice\n",
     NULL, NULL, 0},
    {0, 2, "Quarterly figures (QKD-keyed AES)",
     "Bob,\n\nThe figures are attached. Level 2 takes a single 256-bit key "
     "from the KME and runs AES-256-GCM with it, so large attachments cost "
     "almost no key material.\n\nAlice\n",
     "figures.csv", "quarter,revenue,cost\nQ1,120,80\nQ2,135,82\nQ3,150,90\n",
     0},
    {0, 3, "Post-quantum hello",
     "Bob,\n\nNo QKD key in this one: ML-KEM-768 + X25519 to your public "
     "key, signed with ML-DSA-65 + Ed25519. It works with anyone whose "
     "QMail key I have verified.\n\nAlice\n",
     NULL, NULL, 0},
    {0, 4, "Lunch on Friday?",
     "Bob, lunch on Friday at noon? (Level 4: classical X25519 + AES-256-GCM "
     "and Ed25519; fine for today's attackers.)\n\nAlice\n",
     NULL, NULL, 0},
};

static const struct seed second[] = {
    {1, 1, "Re: The one-time pad, for real",
     "Alice,\n\nReceived and decrypted: the key IDs in your message were "
     "fetched from my KME once and are gone now. My answer uses fresh key "
     "from the other direction of the link.\n\nBob\n",
     NULL, NULL, 1},
    {1, 2, "Meeting notes",
     "Alice,\n\nNotes from Monday attached (level 2).\n\nBob\n", "notes.txt",
     "1. Roll out QMail to the team.\n2. Order a second QKD link.\n", 0},
    {1, 3, "Re: Post-quantum hello",
     "Alice,\n\nGot it, signature checked against the key we verified. "
     "Post-quantum back at you.\n\nBob\n",
     NULL, NULL, 0},
    {1, 4, "Re: Lunch on Friday?",
     "Friday at noon works. See you there.\n\nBob\n", NULL, NULL, 0},
};

/* Message-ID of the newest level-1 message in user's inbox, into out. */
static int find_l1(struct demo *d, int user, char *out, size_t n)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	int rc = -1;

	memset(&q, 0, sizeof(q));
	q.account_id = d->acct[user];
	q.folder = "INBOX";
	q.level = 1;
	q.limit = 1;
	qm_error_clear(&e);
	if (qm_client_msg_list(d->c[user], &q, &l, &e) == 0 && l->n == 1 &&
	    l->items[0].message_id)
		rc = qm_strlcpy(out, l->items[0].message_id, n);
	qm_client_msglist_free(&l);
	return rc;
}

static int send_seeds(struct demo *d, const struct seed *s, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const char *to[1] = {qmt_mail_addr(1 - s[k].from)};
		struct qm_client_compose m;
		struct qm_client_attachment att;
		struct qm_client_sent sent;
		struct qm_error e;
		char parent[512];

		memset(&m, 0, sizeof(m));
		m.account_id = d->acct[s[k].from];
		m.to = to;
		m.nto = 1;
		m.subject = s[k].subject;
		m.text = s[k].text;
		m.level = s[k].level;
		if (s[k].att_name) {
			att.name = s[k].att_name;
			att.type = "text/plain";
			att.data = (const unsigned char *)s[k].att_text;
			att.len = strlen(s[k].att_text);
			m.att = &att;
			m.natt = 1;
		}
		if (s[k].reply &&
		    find_l1(d, s[k].from, parent, sizeof(parent)) == 0) {
			m.in_reply_to = parent;
			m.references = parent;
		}
		qm_error_clear(&e);
		if (qm_client_send(d->c[s[k].from], &m, NULL, NULL, &sent, &e))
			return fail("sending a seed message", &e);
		say("%s -> %s, level %d (%s): \"%s\"", names[s[k].from],
		    names[1 - s[k].from], sent.level,
		    qm_client_level_name(sent.level), s[k].subject);
		if (stop_flag)
			return -1;
	}
	return 0;
}

/* Syncs user's inbox until it holds want messages (delivery through
 * OpenSMTPD and LMTP is asynchronous: wait for the Maildir files first). */
static int sync_user(struct demo *d, int user, int want)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	if (qmt_mail_wait_files(&d->mail, user, NULL, want, 30000) < 0) {
		fprintf(stderr,
		        "qmail-demo: %s's mail did not arrive: see %s\n",
		        names[user], d->mail.dir);
		return -1;
	}
	memset(&st, 0, sizeof(st));
	qm_error_clear(&e);
	if (qm_client_sync(d->c[user], d->acct[user], NULL, NULL, &st, &e))
		return fail("syncing", &e);
	say("%s synced: %zu fetched, %zu decrypted and verified, %zu "
	    "tampered, %zu waiting",
	    names[user], st.fetched, st.decrypted, st.tampered, st.waiting);
	if (st.tampered || st.replayed || st.errors || st.waiting) {
		fprintf(stderr,
		        "qmail-demo: %s's sync did not open every "
		        "message (see above)\n",
		        names[user]);
		return -1;
	}
	return 0;
}

static int seed(struct demo *d)
{
	size_t n1 = sizeof(first) / sizeof(first[0]);
	size_t n2 = sizeof(second) / sizeof(second[0]);

	if (send_seeds(d, first, n1) || sync_user(d, 1, (int)n1) ||
	    send_seeds(d, second, n2) || sync_user(d, 0, (int)n2))
		return -1;
	return 0;
}

/* --------------------------------------------------------------- web */

static int start_web(struct demo *d)
{
	int port = d->base_port;

	for (int i = 0; i < NUSERS; i++) {
		struct qm_web_config cfg;
		struct qm_error e;
		enum qm_err rc = QM_ERR_NET;

		memset(&cfg, 0, sizeof(cfg));
		/* the given port or the next free one of 20 */
		for (int t = 0; t < 20 && rc == QM_ERR_NET; t++) {
			cfg.port = (uint16_t)(port ? port + t : 0);
			qm_error_clear(&e);
			rc = qm_web_server_start(&cfg, d->c[i], &d->web[i], &e);
			if (!port)
				break;
		}
		if (rc)
			return fail("starting the web GUI", &e);
		port = port ? qm_web_server_port(d->web[i]) + 1 : 0;
	}
	return 0;
}

/* STATE/ready: what the user (and the CTest check) needs, key=value. */
static int write_ready(const struct demo *d)
{
	char file[300], text[4096];
	struct qm_error e;
	size_t off = 0;

	for (int i = 0; i < NUSERS; i++) {
		const char *u = qmt_mail_user(i);
		int n =
		    snprintf(text + off, sizeof(text) - off,
		             "%s_url=%s\n%s_passphrase=%s\n%s_home=%s\n"
		             "%s_address=%s\n",
		             u, qm_web_server_url(d->web[i]), u, passphrases[i],
		             u, d->homes[i], u, qmt_mail_addr(i));
		if (n < 0 || (size_t)n >= sizeof(text) - off)
			return -1;
		off += (size_t)n;
	}
	if (pathf(file, sizeof(file), "%s/ready", d->state))
		return -1;
	qm_error_clear(&e);
	if (qm_file_write_atomic(file, text, off, 0600, &e))
		return fail("writing the ready file", &e);
	return 0;
}

static void banner(const struct demo *d)
{
	printf(
	    "\n"
	    "================================================================\n"
	    " QMail demo is running (state folder: %s)\n"
	    "================================================================"
	    "\n",
	    d->state);
	for (int i = 0; i < NUSERS; i++)
		printf(" %-5s  %s   passphrase: %s\n", names[i],
		       qm_web_server_url(d->web[i]), passphrases[i]);
	printf(
	    "\n"
	    " Open each address in a browser on this machine and unlock\n"
	    " with the passphrase. Both inboxes hold messages at levels\n"
	    " 1 to 4; write to alice@qmail.test or bob@qmail.test and press\n"
	    " Sync on the other side.\n"
	    "\n"
	    " The command line on the same homes, in another terminal:\n");
	for (int i = 0; i < NUSERS; i++)
		printf("   QMAIL_PASSPHRASE=%s %s --home %s list\n",
		       passphrases[i], d->qmail, d->homes[i]);
	printf("   (then: read ID, send --to ..., sync, kme status, keys)\n"
	       "\n"
	       " Mail server: SMTP submission 127.0.0.1:%d (STARTTLS), IMAPS "
	       "127.0.0.1:%d,\n"
	       "   CA %s\n"
	       " KMEs: KME_A https://127.0.0.1:%d, KME_B https://127.0.0.1:%d "
	       "(%s)\n"
	       "\n"
	       " Press Ctrl-C to stop everything. The next run starts afresh;\n"
	       " `make demo-clean` removes the state folder.\n"
	       "==============================================================="
	       "=\n",
	       d->mail.submission_port, d->mail.imaps_port, d->mail.ca_file,
	       d->kme_port[0], d->kme_port[1], d->kmes);
	fflush(stdout);
}

/* ---------------------------------------------------------------- stop */

static void stop_all(struct demo *d)
{
	char file[300];

	for (int i = 0; i < NUSERS; i++)
		qm_web_server_stop(&d->web[i]);
	for (int i = 0; i < NUSERS; i++)
		qm_client_free(&d->c[i]);
	for (int i = 0; i < NUSERS; i++) {
		if (d->kme_pid[i] > 0) {
			int st = qmt_stop(d->kme_pid[i]);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
				fprintf(stderr,
				        "qmail-demo: KME_%c did not exit "
				        "cleanly: see %s/kme%c.log\n",
				        'A' + i, d->kmes, 'A' + i);
		}
		d->kme_pid[i] = 0;
	}
	if (d->mail_up)
		qmt_mail_stop(&d->mail);
	d->mail_up = 0;
	qmt_stop_all();
	if (pathf(file, sizeof(file), "%s/ready", d->state) == 0)
		unlink(file);
	if (pathf(file, sizeof(file), "%s/demo.pid", d->state) == 0)
		unlink(file);
}

static void usage(void)
{
	printf(
	    "usage: qmail-demo [--state DIR] [--port N]\n"
	    "\n"
	    "Starts a local QMail world: OpenSMTPD + Dovecot on loopback, "
	    "two qkme\nKMEs joined by a simulated BB84 link, Alice and Bob "
	    "with seeded mail at\nevery level, and a web GUI for each. "
	    "Runs until Ctrl-C, then stops\neverything. Needs root (the "
	    "mail servers).\n"
	    "\n"
	    "  --state DIR  the folder for everything (default %s); wiped "
	    "and\n               rebuilt on every run\n"
	    "  --port N     Alice's web GUI port (default 8025; Bob's is the "
	    "next free\n               one); 0 picks free ports\n"
	    "\n"
	    "When everything runs, DIR/ready lists the addresses and "
	    "passphrases.\nExit status: 0 when stopped with Ctrl-C or "
	    "SIGTERM, 1 on an error, 130 when\nstopped before it was "
	    "ready.\n",
	    QM_DEMO_STATE);
}

static int parse_args(struct demo *d, int argc, char **argv)
{
	const char *state = QM_DEMO_STATE;

	d->base_port = QM_WEB_DEFAULT_PORT;
	qm_strlcpy(d->qkme,
	           getenv("QM_DEMO_QKME") ? getenv("QM_DEMO_QKME")
	                                  : QM_DEMO_QKME,
	           sizeof(d->qkme));
	d->qmail = QM_DEMO_QMAIL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
			state = argv[++i];
		} else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
			long long v;
			struct qm_error e;
			if (qm_parse_ll(argv[++i], 0, 65000, &v, &e)) {
				fprintf(stderr, "qmail-demo: --port: %s\n",
				        qm_error_msg(&e));
				return 2;
			}
			d->base_port = (int)v;
		} else if (strcmp(argv[i], "-h") == 0 ||
		           strcmp(argv[i], "--help") == 0) {
			usage();
			return 1;
		} else {
			fprintf(stderr,
			        "qmail-demo: unknown argument %s (see "
			        "--help)\n",
			        argv[i]);
			return 2;
		}
	}
	/* absolute: the CLI commands printed must work from anywhere */
	if (state[0] == '/') {
		if (qm_strlcpy(d->state, state, sizeof(d->state)))
			goto toolong;
	} else {
		char cwd[200];
		if (!getcwd(cwd, sizeof(cwd)) ||
		    pathf(d->state, sizeof(d->state), "%s/%s", cwd, state))
			goto toolong;
	}
	/* Dovecot's sockets go in STATE/qmt-mail-XXXXXX/run/token-login/...,
	 * and a socket path has at most 107 bytes */
	if (strlen(d->state) > 60)
		goto toolong;
	return 0;
toolong:
	fprintf(stderr, "qmail-demo: the state folder's path must be at most "
	                "60 characters (Dovecot's socket paths below it are "
	                "limited to 107):\n"
	                "choose a shorter --state DIR\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct demo d;
	struct qm_error e;
	struct sigaction sa;
	sigset_t block, old;
	char logpath[300];
	int rc = 1, r;

	memset(&d, 0, sizeof(d));
	if ((r = parse_args(&d, argc, argv)) != 0)
		return r == 1 ? 0 : 2;
	if (check_machine())
		return 1;
	qm_error_clear(&e);
	if (qm_core_init(&e)) {
		fail("starting libsodium", &e);
		return 1;
	}
	if (fresh_state(&d))
		return 1;
	say("state folder: %s (wiped and rebuilt on every run)", d.state);
	pathf(logpath, sizeof(logpath), "%s/demo.log", d.state);
	d.log = fopen(logpath, "a");
	qm_log_set_sink(log_sink, d.log, QM_LOG_INFO);

	/* the mail servers' folder goes under the state folder */
	setenv("TMPDIR", d.state, 1);
	say("starting OpenSMTPD and Dovecot with a throw-away CA...");
	r = qmt_mail_start(&d.mail);
	if (r != 0) {
		fprintf(stderr, "qmail-demo: the mail servers did not start "
		                "(messages above)\n");
		goto out;
	}
	d.mail_up = 1;
	note_child(&d, d.mail.dovecot);
	note_child(&d, d.mail.smtpd);
	say("mail servers up in %s: submission 127.0.0.1:%d, IMAPS "
	    "127.0.0.1:%d, users alice and bob @" QMT_MAIL_DOMAIN,
	    d.mail.dir, d.mail.submission_port, d.mail.imaps_port);

	/* From here a signal asks for a clean stop (the harness's own handler,
	 * installed by the first spawn, would kill the children and exit). */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	say("starting two KMEs and their simulated BB84 link...");
	if (start_kmes(&d) || stop_flag)
		goto out;
	say("KME_A on 127.0.0.1:%d, KME_B on 127.0.0.1:%d", d.kme_port[0],
	    d.kme_port[1]);
	if (make_users(&d) || stop_flag)
		goto out;
	say("waiting for QKD key in both directions of the link...");
	if (wait_pools(&d, SEED_POOL_BYTES, 180) || stop_flag)
		goto out;
	say("seeding messages at every level...");
	if (seed(&d) || stop_flag)
		goto out;
	/* the web servers' threads inherit a mask that blocks the stop
	 * signals, so that they reach sigsuspend below */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (start_web(&d) || write_ready(&d)) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		goto out;
	}
	banner(&d);
	while (!stop_flag)
		sigsuspend(&old);
	sigprocmask(SIG_SETMASK, &old, NULL);
	rc = 0;
out:
	if (stop_flag)
		say("stopping...");
	stop_all(&d);
	if (rc && stop_flag) {
		say("everything stopped (interrupted before the demo was "
		    "ready)");
		rc = 130;
	} else {
		say("everything stopped%s", rc ? " (after an error)" : "");
	}
	if (d.log)
		fclose(d.log);
	return rc;
}
