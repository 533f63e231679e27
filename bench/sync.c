/* SPDX-License-Identifier: MIT */
/*
 * bench_sync (`make bench-sync`, issue 14): a large mailbox. Starts the
 * test mail servers (tests/lib/mailserver.h: Dovecot and OpenSMTPD on
 * loopback, no KME: the fixture is plain mail), writes a deterministic
 * fixture of N plain messages (default 10,000) of varied real-looking
 * sizes (log-normal around a 75 KiB median: short text mails, text + HTML,
 * and mails with a base64 attachment; senders, subjects, threads and dates
 * from a seeded generator, no real mail) into bob's INBOX: a Maildir,
 * imported with doveadm into the mdbox this Dovecot keeps. With
 * QM_BENCH_SYNC_STORAGE=maildir Dovecot serves the Maildir itself, and
 * rescans a folder of that size at every open during the second after a
 * change and rereads its UID list (200 to 600 ms whichever client asks:
 * the server's cost; docs/PERFORMANCE.md). Dovecot indexes the folder once
 * before anything is timed. Then it measures:
 *
 *   (a) the initial sync of that INBOX: `qmail sync` as a user runs it
 *       (one process: unlock, folder list, fetch and file every message),
 *       wall time from spawn to exit, against `mbsync` (isync) pulling the
 *       same folder into a Maildir over the same implicit-TLS IMAP port in
 *       the same run; goal within 1.5x of mbsync's time;
 *   (b) while (a) runs, the time from its start until the GUI's list query
 *       (qm_client_msg_list of INBOX, newest first, 50 rows, from this
 *       process on the same home, as src/web/api_mail.c asks it) returns 50
 *       messages; goal under 2 s;
 *   (c) a sync with nothing new on the N-message folder through the engine
 *       (qm_client_sync on an open, unlocked client, as the GUI's
 *       background sync does every few seconds): median of several runs,
 *       goal under 100 ms; the whole `qmail sync` command (process start
 *       and vault unlock included) beside it for reference;
 *   (d) flags changed on 100 messages by a second IMAP client (spread over
 *       the folder), then one engine sync: goal under 300 ms, and the sync
 *       must report those 100 messages' flags as pulled.
 *
 * Peak memory is the resident high-water mark (ru_maxrss from wait4) of the
 * qmail process of (a), of an idle qmail process on the same home (`qmail
 * list`: unlock and the first page), and of mbsync. The vault uses the
 * fast KDF of the tests (QM_STORE_KDF=fast): an unlock costs what the
 * user's passphrase settings make it cost, which is no part of a sync.
 *
 * Every failed operation is counted by kind (error_kinds) and makes
 * goal_met false: a sync or mbsync run that fails or leaves a message
 * out, a flag change the engine does not see. Environment: QM_BENCH_SYNC_N
 * (messages, default 10000), QM_BENCH_SYNC_RUNS (runs of (c) and (d),
 * default 5), QM_BENCH_SYNC_KEEP=1 keeps the working folder (the
 * fixture's copies, the home, logs), QM_BENCH_SYNC_TRACE=1 runs the qmail
 * commands after the first sync under strace -f -tt into it,
 * QM_BENCH_SYNC_PERF=1 the first sync under `perf record -g` (perf-sync.data
 * there; its figures then include perf's cost); QM_BENCH_SYNC_SYSCALLS=1
 * under `strace -c` (trace-sync there: the count of each system call). The last
 * line of output is one JSON object (bench/README.md).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "store/store.h"
#include "fails.h"
#include "harness.h"
#include "mailserver.h"

extern char **environ;

#define USER         1 /* bob */
#define PASS         "correct horse battery staple"
#define FIRST_ROWS   50
#define MEDIAN_BYTES (75.0 * 1024)
#define MIN_BYTES    1200
#define MAX_BYTES    (4u * 1024 * 1024)
#define FLAG_CHANGES 100

static struct qmt_mail M;
static char dir[512], home[700], pwfile[700];

/* Failures by kind; operations measured. */
static struct bench_fails F;
static long ops;

static void fail_add(const char *kind)
{
	fprintf(stderr, "bench_sync: failed: %s\n", kind);
	bench_fail_add(&F, kind);
}

static void stop(void)
{
	if (M.dovecot || M.smtpd)
		qmt_mail_stop(&M);
	memset(&M, 0, sizeof(M));
	if (dir[0] && !getenv("QM_BENCH_SYNC_KEEP"))
		qmt_rmtree(dir);
}

static void die(const char *what, const struct qm_error *e)
{
	fprintf(stderr, "bench_sync: %s%s%s\n", what, e ? ": " : "",
	        e ? qm_error_msg(e) : "");
	stop();
	exit(1);
}

static double ms_since(uint64_t t0)
{
	return (double)(qm_mono_ns() - t0) / 1e6;
}

static long env_long(const char *name, long def, long lo, long hi)
{
	const char *v = getenv(name);
	long long x;

	if (!v || !*v)
		return def;
	if (qm_parse_ll(v, lo, hi, &x, NULL))
		die("bad number in the environment", NULL);
	return (long)x;
}

/* ------------------------------------------------------------ fixture */

struct fixture {
	uint64_t seed;
	int n;
	size_t *sizes; /* wanted size of each message */
	uint64_t bytes;
	uint64_t written; /* bytes of the messages as written */
};

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static double unit(uint64_t *s)
{
	return ((double)(rnd(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(uint64_t *s)
{
	double u = unit(s), v = unit(s);

	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static const char *const WORDS[] = {
    "the",      "meeting",  "project",  "report",   "budget",   "review",
    "draft",    "please",   "attached", "thanks",   "schedule", "update",
    "quarter",  "results",  "team",     "customer", "release",  "notes",
    "question", "proposal", "invoice",  "travel",   "agenda",   "follow",
    "up",       "on",       "our",      "call",     "we",       "will",
    "need",     "to",       "confirm",  "before",   "friday",   "and",
    "a",        "new",      "version",  "of",       "plan",     "with",
    "changes",  "from",     "last",     "week",     "is",       "ready",
    "for",      "your",     "comments", "let",      "me",       "know",
    "if",       "you",      "have",     "any",      "concerns", "about",
    "timeline", "cost",     "scope",    "risk"};
#define NWORDS (sizeof(WORDS) / sizeof(*WORDS))

static const char *const NAMES[][2] = {
    {"Ana Lima", "ana.lima@example.org"},
    {"Ben Okafor", "ben@okafor.example"},
    {"Chen Wei", "chen.wei@example.com"},
    {"Dana Kowalski", "dana.k@example.net"},
    {"Erik Nilsson", "erik.nilsson@example.se"},
    {"Fatima Haddad", "f.haddad@example.org"},
    {"GitLab", "gitlab@notify.example.com"},
    {"Hiroshi Sato", "sato@example.jp"},
    {"Invoices", "billing@vendor.example"},
    {"Julia Meyer", "julia.meyer@example.de"},
    {"Kofi Mensah", "kofi@example.gh"},
    {"Lists", "announce@lists.example.org"},
};
#define NNAMES (sizeof(NAMES) / sizeof(*NAMES))

/* words of text, lines of at most 72 columns, about n bytes */
static int put_words(FILE *f, uint64_t *s, size_t n)
{
	size_t col = 0, out = 0;

	while (out < n) {
		const char *w = WORDS[rnd(s) % NWORDS];
		size_t l = strlen(w);

		if (col + l + 1 > 72) {
			if (fputc('\n', f) == EOF)
				return -1;
			col = 0;
			out++;
		} else if (col) {
			fputc(' ', f);
			col++;
			out++;
		}
		if (fputs(w, f) == EOF)
			return -1;
		col += l;
		out += l;
	}
	return fputc('\n', f) == EOF ? -1 : 0;
}

/* n bytes of pseudo-random base64 in 76-column lines (an attachment) */
static int put_base64(FILE *f, uint64_t *s, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[78];

	while (n) {
		size_t k = n > 77 ? 76 : (n > 1 ? n - 1 : 1);
		uint64_t r = 0;

		for (size_t i = 0; i < k; i++) {
			if (i % 10 == 0)
				r = rnd(s);
			line[i] = b64[r & 63];
			r >>= 6;
		}
		line[k] = '\n';
		if (fwrite(line, 1, k + 1, f) != k + 1)
			return -1;
		n -= n > k ? k + 1 : n;
	}
	return 0;
}

static void subject_of(uint64_t *s, int i, char *out, size_t n)
{
	size_t k = 0, words = 3 + rnd(s) % 6;

	if (i % 5 == 3)
		k += (size_t)snprintf(out, n, "Re: ");
	for (size_t w = 0; w < words && k < n; w++)
		k += (size_t)snprintf(out + k, n - k, "%s%s", w ? " " : "",
		                      WORDS[rnd(s) % NWORDS]);
}

/* Message i of the fixture, about its size, into f. */
static int gen_msg(FILE *f, int i, void *arg)
{
	struct fixture *fx = arg;
	uint64_t s = fx->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
	size_t want = fx->sizes[i], head, text;
	int who = (int)(rnd(&s) % NNAMES), attach = want > 24 * 1024;
	time_t date = 1704067200 + (time_t)i * 2111; /* from 2024-01-01 */
	char subj[160], dbuf[64];
	struct tm tm;
	long pos;

	subject_of(&s, i, subj, sizeof(subj));
	gmtime_r(&date, &tm);
	strftime(dbuf, sizeof(dbuf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (fprintf(f,
	            "Return-Path: <%s>\n"
	            "Delivered-To: bob@" QMT_MAIL_DOMAIN "\n"
	            "Received: from mx.example.net (mx.example.net "
	            "[192.0.2.%d])\n\tby mail." QMT_MAIL_DOMAIN
	            " with ESMTPS id %08x\n\tfor <bob@" QMT_MAIL_DOMAIN
	            ">; %s\n"
	            "From: %s <%s>\n"
	            "To: Bob <bob@" QMT_MAIL_DOMAIN ">\n"
	            "Subject: %s\n"
	            "Date: %s\n"
	            "Message-ID: <bench-%d.%08x@example.net>\n",
	            NAMES[who][1], 1 + i % 250, (unsigned)rnd(&s), dbuf,
	            NAMES[who][0], NAMES[who][1], subj, dbuf, i,
	            (unsigned)rnd(&s)) < 0)
		return -1;
	if (i % 5 == 3 && i > 0)
		fprintf(f,
		        "In-Reply-To: <bench-%d.thread@example.net>\n"
		        "References: <bench-%d.thread@example.net>\n",
		        i - 3, i - 3);
	if (who == 11)
		fputs("List-Id: Announcements <announce.lists.example.org>\n",
		      f);
	fputs("MIME-Version: 1.0\n", f);
	if ((pos = ftell(f)) < 0)
		return -1;
	head = (size_t)pos;
	if (!attach) {
		fputs("Content-Type: text/plain; charset=utf-8\n"
		      "Content-Transfer-Encoding: 8bit\n\n",
		      f);
		return put_words(f, &s,
		                 want > head + 60 ? want - head - 60 : 40);
	}
	text = 1500 + rnd(&s) % 6000;
	fprintf(f,
	        "Content-Type: multipart/mixed; boundary=\"b1-%d\"\n\n"
	        "--b1-%d\n"
	        "Content-Type: multipart/alternative; boundary=\"b2-%d\"\n\n"
	        "--b2-%d\nContent-Type: text/plain; charset=utf-8\n\n",
	        i, i, i, i);
	if (put_words(f, &s, text))
		return -1;
	fprintf(f,
	        "--b2-%d\nContent-Type: text/html; charset=utf-8\n\n"
	        "<html><body><p>",
	        i);
	if (put_words(f, &s, text + text / 3))
		return -1;
	fprintf(f,
	        "</p></body></html>\n--b2-%d--\n\n--b1-%d\n"
	        "Content-Type: %s; name=\"file-%d.%s\"\n"
	        "Content-Disposition: attachment; filename=\"file-%d.%s\"\n"
	        "Content-Transfer-Encoding: base64\n\n",
	        i, i, i % 2 ? "application/pdf" : "image/jpeg", i,
	        i % 2 ? "pdf" : "jpg", i, i % 2 ? "pdf" : "jpg");
	if ((pos = ftell(f)) < 0)
		return -1;
	if ((size_t)pos + 40 < want &&
	    put_base64(f, &s, want - (size_t)pos - 40))
		return -1;
	return fprintf(f, "--b1-%d--\n", i) < 0 ? -1 : 0;
}

/* gen_msg, its size counted into written. */
static int gen_counted(FILE *f, int i, void *arg)
{
	struct fixture *fx = arg;
	long pos;

	if (gen_msg(f, i, arg) || (pos = ftell(f)) < 0)
		return -1;
	fx->written += (uint64_t)pos;
	return 0;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

/* The sizes (log-normal around the median, sigma 0.9, clamped). */
static void fixture_plan(struct fixture *fx, int n, size_t *median)
{
	uint64_t s = 0x51a7e5eedull;
	size_t *sorted;

	fx->seed = 0xb16b00b5c0ffeeull;
	fx->n = n;
	fx->sizes = calloc((size_t)n, sizeof(*fx->sizes));
	sorted = calloc((size_t)n, sizeof(*sorted));
	if (!fx->sizes || !sorted)
		die("out of memory", NULL);
	fx->bytes = 0;
	for (int i = 0; i < n; i++) {
		double v = exp(log(MEDIAN_BYTES) + 0.9 * gauss(&s));

		if (v < MIN_BYTES)
			v = MIN_BYTES;
		if (v > MAX_BYTES)
			v = MAX_BYTES;
		fx->sizes[i] = sorted[i] = (size_t)v;
		fx->bytes += (size_t)v;
	}
	qsort(sorted, (size_t)n, sizeof(*sorted), cmp_size);
	*median = sorted[n / 2];
	free(sorted);
}

/* Bytes of the fixture as written (the files in the Maildir). */
static uint64_t maildir_bytes(const char *path, int *count)
{
	char sub[1024];
	uint64_t total = 0;

	*count = 0;
	for (int k = 0; k < 2; k++) {
		DIR *d;
		struct dirent *e;

		snprintf(sub, sizeof(sub), "%s/%s", path, k ? "new" : "cur");
		if (!(d = opendir(sub)))
			continue;
		while ((e = readdir(d))) {
			char f[1400];
			struct stat st;
			int fd;

			if (e->d_name[0] == '.')
				continue;
			snprintf(f, sizeof(f), "%s/%s", sub, e->d_name);
			if (stat(f, &st) != 0 || !S_ISREG(st.st_mode))
				continue;
			total += (uint64_t)st.st_size;
			(*count)++;
			/* read once: the page cache holds it for both sides */
			if ((fd = open(f, O_RDONLY)) >= 0) {
				char buf[65536];

				while (read(fd, buf, sizeof(buf)) > 0)
					;
				close(fd);
			}
		}
		closedir(d);
	}
	return total;
}

/* ------------------------------------------------------------ processes */

struct proc {
	pid_t pid;
	uint64_t t0;
	double ms;     /* wall time, spawn to exit */
	long peak_kib; /* ru_maxrss */
	double cpu_s;  /* user + system CPU time */
	int code;      /* exit code, -1 for a signal */
};

/* Starts argv (PATH search) with stdout and stderr to log. */
static int proc_start(struct proc *p, char *const argv[], const char *log)
{
	posix_spawn_file_actions_t fa;
	int rc;

	memset(p, 0, sizeof(*p));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, log,
	                                 O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	p->t0 = qm_mono_ns();
	rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		fprintf(stderr, "bench_sync: cannot run %s: %s\n", argv[0],
		        strerror(rc));
		return -1;
	}
	return 0;
}

/* 1 when it ended (figures set), 0 when it still runs; block waits. */
static int proc_done(struct proc *p, int block)
{
	struct rusage ru;
	int st;
	pid_t r;

	while ((r = wait4(p->pid, &st, block ? 0 : WNOHANG, &ru)) < 0)
		if (errno != EINTR)
			return -1;
	if (r == 0)
		return 0;
	p->ms = ms_since(p->t0);
	p->peak_kib = ru.ru_maxrss;
	p->cpu_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	p->code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return 1;
}

static int proc_run(struct proc *p, char *const argv[], const char *log)
{
	if (proc_start(p, argv, log))
		return -1;
	return proc_done(p, 1) == 1 ? 0 : -1;
}

static void show_log(const char *path)
{
	char *s = qmt_read_file(path, NULL);

	if (s) {
		size_t l = strlen(s);
		fprintf(stderr, "--- %s\n%s\n---\n", path,
		        l > 2000 ? s + l - 2000 : s);
	}
	free(s);
}

/* ------------------------------------------------------------- mbsync */

static int mbsync_run(struct proc *p, int n, long *files)
{
	char cfg[700], maildir[700], log[700], text[4096];
	char *argv[] = {"mbsync", "-c", cfg, "-q", "-a", NULL};
	uint64_t b;
	int cnt;

	snprintf(cfg, sizeof(cfg), "%s/mbsyncrc", dir);
	snprintf(maildir, sizeof(maildir), "%s/mbsync", dir);
	snprintf(log, sizeof(log), "%s/mbsync.log", dir);
	if (mkdir(maildir, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(text, sizeof(text),
	         "IMAPAccount bench\n"
	         "Host localhost\n"
	         "Port %d\n"
	         "User %s\n"
	         "Pass \"%s\"\n"
	         "SSLType IMAPS\n"
	         "CertificateFile %s\n\n"
	         "IMAPStore far\n"
	         "Account bench\n\n"
	         "MaildirStore near\n"
	         "Path %s/\n"
	         "Inbox %s/INBOX\n\n"
	         "Channel inbox\n"
	         "Far :far:INBOX\n"
	         "Near :near:INBOX\n"
	         "Create Near\n"
	         "Sync Pull\n"
	         "Expunge None\n"
	         "SyncState *\n",
	         M.imaps_port, qmt_mail_addr(USER), qmt_mail_password(USER),
	         M.ca_file, maildir, maildir);
	if (qmt_write_file(cfg, text))
		return -1;
	if (proc_run(p, argv, log))
		return -1;
	if (p->code != 0) {
		show_log(log);
		fail_add("mbsync failed");
	}
	snprintf(maildir, sizeof(maildir), "%s/mbsync/INBOX", dir);
	b = maildir_bytes(maildir, &cnt);
	(void)b;
	*files = cnt;
	if (cnt != n)
		fail_add("mbsync left messages out");
	return 0;
}

/* -------------------------------------------------------------- QMail */

static struct qm_client *C;
static int64_t ACCT;

static void home_make(void)
{
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_error e;

	snprintf(home, sizeof(home), "%s/home-bob", dir);
	snprintf(pwfile, sizeof(pwfile), "%s/passphrase", dir);
	if (qmt_write_file(pwfile, PASS "\n"))
		die("cannot write the passphrase file", NULL);
	setenv("QMAIL_PASSPHRASE_FILE", pwfile, 1);
	memset(&o, 0, sizeof(o));
	o.home = home;
	qm_error_clear(&e);
	if (qm_client_open(&o, &C, &e) ||
	    qm_client_init(C, PASS, strlen(PASS), &e))
		die("cannot make the QMail home", &e);
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, qmt_mail_addr(USER), sizeof(a.address));
	qm_strlcpy(a.display_name, "Bob", sizeof(a.display_name));
	qm_strlcpy(a.smtp.host, "127.0.0.1", sizeof(a.smtp.host));
	a.smtp.port = M.submission_port;
	a.smtp.tls = QM_TLS_STARTTLS;
	qm_strlcpy(a.imap.host, "127.0.0.1", sizeof(a.imap.host));
	a.imap.port = M.imaps_port;
	a.imap.tls = QM_TLS_IMPLICIT;
	a.default_level = 4;
	if (qm_client_account_add(C, &a, qmt_mail_password(USER),
	                          strlen(qmt_mail_password(USER)), &e) ||
	    qm_store_setting_set(qm_client_store(C), a.id, "mail_ca", M.ca_file,
	                         &e))
		die("cannot add the account", &e);
	ACCT = a.id;
}

/* Rows the GUI's first page of INBOX shows now. */
static size_t first_page(void)
{
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	size_t n = 0;

	memset(&q, 0, sizeof(q));
	q.account_id = ACCT;
	q.folder = "INBOX";
	q.limit = FIRST_ROWS;
	if (qm_client_msg_list(C, &q, &l, NULL) == QM_OK)
		n = l->n;
	qm_client_msglist_free(&l);
	return n;
}

static int64_t inbox_count(void)
{
	struct qm_store_query q;
	int64_t n = -1;

	memset(&q, 0, sizeof(q));
	q.account_id = ACCT;
	q.folder = "INBOX";
	if (qm_client_msg_count(C, &q, &n, NULL) != QM_OK)
		return -1;
	return n;
}

static char qmail_bin[1024];

/* `qmail --home H -q ARGS...` into p; *first_ms the time its first
 * page filled (when first_ms is not NULL). */
static int qmail_cmd(struct proc *p, const char *cmd, double *first_ms)
{
	char log[800];
	char *argv[] = {qmail_bin, "--home", home, "-q", (char *)(uintptr_t)cmd,
	                NULL};
	char trace[800], perf[800];
	char *targv[] = {
	    "strace",  "-f",     "-tt", "-o", trace,
	    qmail_bin, "--home", home,  "-q", (char *)(uintptr_t)cmd,
	    NULL};
	char *pargv[] = {"perf", "record", "-g", "-o", perf,
	                 qmail_bin, "--home", home, "-q",
	                 (char *)(uintptr_t)cmd, NULL};
	char *const *run = argv;
	int r;

	snprintf(log, sizeof(log), "%s/qmail-%s.log", dir, cmd);
	snprintf(trace, sizeof(trace), "%s/trace-%s", dir, cmd);
	snprintf(perf, sizeof(perf), "%s/perf-%s.data", dir, cmd);
	if (getenv("QM_BENCH_SYNC_TRACE") && !first_ms)
		run = targv;
	else if (getenv("QM_BENCH_SYNC_PERF") && first_ms)
		run = pargv;
	else if (getenv("QM_BENCH_SYNC_SYSCALLS") && first_ms) {
		targv[2] = "-c"; /* a count per system call, not a trace */
		run = targv;
	}
	if (proc_start(p, run, log))
		return -1;
	if (first_ms)
		*first_ms = -1;
	while (first_ms && (r = proc_done(p, 0)) == 0) {
		struct timespec ts = {0, 2000000};

		if (*first_ms < 0 && first_page() >= FIRST_ROWS) {
			*first_ms = ms_since(p->t0);
			break;
		}
		nanosleep(&ts, NULL); /* a sampling period, not a wait */
	}
	if (p->ms == 0 && proc_done(p, 1) != 1)
		return -1;
	if (p->code != 0) {
		show_log(log);
		fail_add(strcmp(cmd, "sync") == 0 ? "qmail sync failed"
		                                  : "qmail command failed");
	}
	return 0;
}

/* One engine sync, its time; st its counts. */
static double engine_sync(struct qm_client_sync_stats *st)
{
	struct qm_error e;
	uint64_t t0 = qm_mono_ns();
	double ms;

	qm_error_clear(&e);
	ops++;
	if (qm_client_sync(C, ACCT, NULL, NULL, st, &e) != QM_OK) {
		char k[QM_ERR_MSGMAX + 32];

		snprintf(k, sizeof(k), "engine sync: %s", qm_error_msg(&e));
		fail_add(k);
	}
	ms = ms_since(t0);
	return ms;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* (d): flags of 100 messages spread over the folder changed by another
 * client (run r: \Flagged set on even runs, cleared on odd ones). */
static int flags_elsewhere(int n, int r)
{
	struct qmt_imap *c2 = qmt_imap_open(&M, USER);
	char set[2048];
	size_t k = 0;
	int step = n / FLAG_CHANGES, rc;

	if (!c2)
		return -1;
	if (step < 1)
		step = 1;
	for (int i = 0; i < FLAG_CHANGES && i * step < n; i++)
		k += (size_t)snprintf(set + k, sizeof(set) - k, "%s%d",
		                      i ? "," : "",
		                      1 + i * step + (r / 2) % step);
	rc = qmt_imap_cmd(c2, "SELECT INBOX") ||
	     qmt_imap_cmd(c2, "STORE %s %cFLAGS.SILENT (\\Flagged)", set,
	                  r % 2 ? '-' : '+');
	qmt_imap_close(&c2);
	return rc ? -1 : 0;
}

/* ---------------------------------------------------------------- main */

int main(void)
{
	int n = (int)env_long("QM_BENCH_SYNC_N", 10000, 100, 100000);
	int runs = (int)env_long("QM_BENCH_SYNC_RUNS", 5, 1, 50);
	struct fixture fx;
	struct proc mb, qs, qi, qn;
	struct qmt_imap *c2;
	double first_ms = -1, c_ms[50], d_ms[50], c_med, d_med, ratio;
	size_t median_size;
	uint64_t t0, disk_bytes;
	long mb_files = 0;
	int64_t got;
	int pulled_ok = 1, r;
	size_t quiet = 0, folders = 0;
	int goal_a, goal_b, goal_c, goal_d;
	char exists[64];
	const char *storage;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("QM_STORE_KDF", "fast", 1);
	if (access("/usr/bin/mbsync", X_OK) != 0) {
		printf("{\"bench\":\"sync\",\"skipped\":\"mbsync (Debian "
		       "package isync) is not installed: run "
		       "scripts/install-deps.sh\"}\n");
		return 0;
	}
	snprintf(qmail_bin, sizeof(qmail_bin), "%s/src/cli/qmail",
	         qmt_binary_dir());
	memset(&M, 0, sizeof(M));
	storage = getenv("QM_BENCH_SYNC_STORAGE");
	if (!storage || !*storage)
		storage = "mdbox";
	if (strcmp(storage, "mdbox") != 0 && strcmp(storage, "maildir") != 0)
		die("QM_BENCH_SYNC_STORAGE is mdbox or maildir", NULL);
	M.mdbox = strcmp(storage, "mdbox") == 0;
	r = qmt_mail_start(&M);
	if (r == 1) {
		printf("{\"bench\":\"sync\",\"skipped\":\"this machine cannot "
		       "run the test mail servers (root and Dovecot "
		       "needed)\"}\n");
		return 0;
	}
	if (r)
		die("the mail servers did not start", NULL);
	if (qmt_tmpdir("bench-sync", dir, sizeof(dir)))
		die("no temporary folder", NULL);

	/* the fixture: a Maildir (imported into the server's mdbox) */
	fixture_plan(&fx, n, &median_size);
	t0 = qm_mono_ns();
	if (qmt_mail_fill_with(&M, USER, "INBOX", n, gen_counted, &fx))
		die("cannot write the fixture", NULL);
	disk_bytes = fx.written;
	/* Dovecot indexes the folder once, for everyone after */
	snprintf(exists, sizeof(exists), "* %d EXISTS", n);
	if (!(c2 = qmt_imap_open(&M, USER)) || qmt_imap_cmd(c2, "SELECT INBOX"))
		die("the second IMAP client cannot read the fixture", NULL);
	if (!strstr(qmt_imap_reply(c2), exists))
		die("the fixture is not all there", NULL);
	if (qmt_imap_cmd(c2, "FETCH 1:* (UID FLAGS RFC822.SIZE)"))
		die("the second IMAP client cannot read the fixture", NULL);
	qmt_imap_close(&c2);
	printf("fixture: %d messages, %.1f MiB, median %.1f KiB, written and "
	       "indexed in %.1f s (Dovecot %s)\n",
	       n, (double)disk_bytes / 1048576.0, (double)median_size / 1024,
	       ms_since(t0) / 1000, storage);

	/* (a) the baseline first, then QMail (the same warm server) */
	ops++;
	if (mbsync_run(&mb, n, &mb_files))
		die("cannot run mbsync", NULL);
	printf("mbsync: %.2f s, %ld messages, CPU %.2f s, peak %.1f MiB\n",
	       mb.ms / 1000, mb_files, mb.cpu_s, (double)mb.peak_kib / 1024);
	home_make();
	ops++;
	if (qmail_cmd(&qs, "sync", &first_ms))
		die("cannot run qmail sync", NULL);
	got = inbox_count();
	if (got != n)
		fail_add("qmail sync left messages out");
	if (first_ms < 0)
		fail_add("the first page never showed 50 messages during the "
		         "sync");
	printf("qmail sync: %.2f s, %lld messages, first %d rows at %.0f ms, "
	       "CPU %.2f s, peak %.1f MiB\n",
	       qs.ms / 1000, (long long)got, FIRST_ROWS, first_ms, qs.cpu_s,
	       (double)qs.peak_kib / 1024);
	ops++;
	if (qmail_cmd(&qi, "list", NULL))
		die("cannot run qmail list", NULL);

	/* (c) nothing new: the engine, then the command once */
	if (!qm_client_unlocked(C) &&
	    qm_client_unlock(C, PASS, strlen(PASS), NULL))
		die("cannot unlock the home", NULL);
	{
		struct qm_client_sync_stats st;

		engine_sync(&st); /* the client's first sync: a warm-up */
		for (int i = 0; i < runs; i++) {
			c_ms[i] = engine_sync(&st);
			quiet = st.folders_quiet;
			folders = st.folders;
			if (st.fetched || st.flags_pulled)
				fail_add("a sync with nothing new fetched or "
				         "changed something");
		}
	}
	c_med = median(c_ms, runs);
	ops++;
	if (qmail_cmd(&qn, "sync", NULL))
		die("cannot run qmail sync", NULL);
	printf("nothing new: engine %.1f ms (median of %d; %zu of %zu folders "
	       "not selected), the command %.0f ms\n",
	       c_med, runs, quiet, folders, qn.ms);

	/* (d) 100 flags changed elsewhere */
	for (int i = 0; i < runs; i++) {
		struct qm_client_sync_stats st;

		if (flags_elsewhere(n, i))
			die("the second IMAP client cannot change flags", NULL);
		d_ms[i] = engine_sync(&st);
		if (st.flags_pulled != FLAG_CHANGES) {
			char k[128];

			snprintf(k, sizeof(k),
			         "flags changed elsewhere on %d messages, the "
			         "sync saw %zu",
			         FLAG_CHANGES, st.flags_pulled);
			fail_add(k);
			pulled_ok = 0;
		}
	}
	d_med = median(d_ms, runs);
	printf("100 flags changed elsewhere: %.1f ms (median of %d)\n", d_med,
	       runs);

	ratio = mb.ms > 0 ? qs.ms / mb.ms : -1;
	goal_a = ratio > 0 && ratio <= 1.5;
	goal_b = first_ms >= 0 && first_ms < 2000;
	goal_c = c_med < 100;
	goal_d = d_med < 300 && pulled_ok;
	printf("\n| figure | QMail | baseline | goal | |\n| --- | --- | --- | "
	       "--- | --- |\n");
	printf("| (a) initial sync of %d messages | %.2f s | mbsync %.2f s "
	       "| within 1.5x | %s (%.2fx) |\n",
	       n, qs.ms / 1000, mb.ms / 1000, goal_a ? "met" : "NOT met",
	       ratio);
	printf("| (b) first %d rows listed | %.0f ms | - | under 2 s | %s |\n",
	       FIRST_ROWS, first_ms, goal_b ? "met" : "NOT met");
	printf("| (c) sync, nothing new | %.1f ms | - | under 100 ms | %s |\n",
	       c_med, goal_c ? "met" : "NOT met");
	printf("| (d) sync, 100 flags changed | %.1f ms | - | under 300 ms | "
	       "%s |\n",
	       d_med, goal_d ? "met" : "NOT met");
	printf("| failed operations | %d of %ld | | none | %s |\n\n", F.total,
	       ops, F.total ? "NOT met" : "met");

	printf("{\"bench\":\"sync\",\"storage\":\"%s\","
	       "\"messages\":%d,\"fixture_mib\":%.1f,"
	       "\"fixture_median_kib\":%.1f,"
	       "\"initial_sync_s\":%.3f,\"baseline_mbsync_s\":%.3f,"
	       "\"mbsync_ratio\":%.3f,\"baseline_mbsync_messages\":%ld,"
	       "\"first50_ms\":%.1f,"
	       "\"nochange_sync_ms\":%.2f,\"nochange_command_ms\":%.1f,"
	       "\"nochange_folders\":%zu,\"nochange_folders_quiet\":%zu,"
	       "\"flags100_sync_ms\":%.2f,\"runs\":%d,"
	       "\"initial_sync_cpu_s\":%.2f,\"baseline_mbsync_cpu_s\":%.2f,"
	       "\"initial_sync_peak_mib\":%.1f,\"idle_peak_mib\":%.1f,"
	       "\"initial_sync_above_idle_mib\":%.1f,"
	       "\"baseline_mbsync_peak_mib\":%.1f,",
	       storage, n, (double)disk_bytes / 1048576.0,
	       (double)median_size / 1024, qs.ms / 1000, mb.ms / 1000, ratio,
	       mb_files, first_ms, c_med, qn.ms, folders, quiet, d_med, runs, qs.cpu_s, mb.cpu_s,
	       (double)qs.peak_kib / 1024, (double)qi.peak_kib / 1024,
	       (double)(qs.peak_kib - qi.peak_kib) / 1024,
	       (double)mb.peak_kib / 1024);
	printf("\"goal_mbsync_ratio\":1.5,\"goal_first50_ms\":2000,"
	       "\"goal_nochange_ms\":100,\"goal_flags100_ms\":300,"
	       "\"goal_a_met\":%s,\"goal_b_met\":%s,\"goal_c_met\":%s,"
	       "\"goal_d_met\":%s,",
	       goal_a ? "true" : "false", goal_b ? "true" : "false",
	       goal_c ? "true" : "false", goal_d ? "true" : "false");
	bench_fails_json(&F, "operations", ops);
	printf(",\"goal_met\":%s}\n",
	       goal_a && goal_b && goal_c && goal_d && !F.total ? "true"
	                                                        : "false");
	qm_client_free(&C);
	free(fx.sizes);
	stop();
	return 0;
}
