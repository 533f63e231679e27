/* SPDX-License-Identifier: MIT */
/*
 * test_demo: the proof that `make demo` works. Runs qmail-demo in a
 * temporary state folder with free ports, waits for its ready file, checks
 * that both web GUIs answer (GET / and /api/state), unlocks each with the
 * printed passphrase and finds the seeded messages (levels 1 to 4, opened
 * and verified) in both inboxes through the JSON API, then stops the demo
 * with SIGINT as Ctrl-C would and checks that it exits 0, that no process
 * it started is left, and that no file of either QMail home holds a seeded
 * subject, body, attachment, password or passphrase in the clear. Then it runs
 * the demo a second time on the same folder (a second `make demo`) and checks
 * that it starts afresh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <dirent.h>
#include <ftw.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "webclient.h"

#ifndef QM_DEMO_BIN
#define QM_DEMO_BIN "qmail-demo"
#endif

static char state[256];
static char outlog[300];

struct user {
	char url[128];
	char pass[128];
	char address[128];
};

/* ------------------------------------------------------------- helpers */

static void show_output(void)
{
	char buf[8192];
	FILE *f = fopen(outlog, "r");
	long size;
	size_t n;

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > 6000 ? size - 6000 : 0, SEEK_SET);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- qmail-demo output (tail)\n%s\n----\n", buf);
}

/* Starts the demo; returns its pid. */
static pid_t demo_start(void)
{
	char *argv[] = {QM_DEMO_BIN, "--state", state, "--port", "0", NULL};
	/* a cheap Argon2id: the test unlocks each vault several times */
	char *envp[] = {"QM_STORE_KDF=fast", NULL};

	return qmt_spawn(argv, envp, outlog);
}

/* Waits for STATE/ready (the demo writes it once everything runs) while
 * watching that the demo is still alive. 0 when ready. */
static int wait_ready(pid_t pid, int timeout_ms)
{
	char file[300];

	snprintf(file, sizeof(file), "%s/ready", state);
	for (int waited = 0; waited < timeout_ms; waited += 100) {
		int st;

		if (access(file, R_OK) == 0)
			return 0;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "qmail-demo exited early (status %d)\n",
			        st);
			show_output();
			return -1;
		}
		poll(NULL, 0, 100); /* between two looks for the file */
	}
	fprintf(stderr, "qmail-demo not ready after %d ms\n", timeout_ms);
	show_output();
	return -1;
}

static void read_ready(struct user u[2])
{
	static const char *const who[2] = {"alice", "bob"};
	char file[300], line[512];
	FILE *f;

	memset(u, 0, 2 * sizeof(*u));
	snprintf(file, sizeof(file), "%s/ready", state);
	f = fopen(file, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '=');
		line[strcspn(line, "\n")] = '\0';
		if (!eq)
			continue;
		*eq = '\0';
		for (int i = 0; i < 2; i++) {
			size_t l = strlen(who[i]);
			if (strncmp(line, who[i], l) || line[l] != '_')
				continue;
			if (strcmp(line + l, "_url") == 0)
				snprintf(u[i].url, sizeof(u[i].url), "%s",
				         eq + 1);
			else if (strcmp(line + l, "_passphrase") == 0)
				snprintf(u[i].pass, sizeof(u[i].pass), "%s",
				         eq + 1);
			else if (strcmp(line + l, "_address") == 0)
				snprintf(u[i].address, sizeof(u[i].address),
				         "%s", eq + 1);
		}
	}
	fclose(f);
	for (int i = 0; i < 2; i++) {
		assert_true(strncmp(u[i].url, "http://127.0.0.1:", 17) == 0);
		assert_true(strlen(u[i].pass) >= 12);
	}
	assert_string_not_equal(u[0].url, u[1].url);
}

/* GET (json NULL) or POST path on w's session; the status must be want.
 * Returns the answer's JSON object (a new reference). */
static json_t *req_json(struct qmt_web *w, const char *path, const char *json,
                        long want)
{
	struct qmt_resp r;
	json_t *j;

	assert_int_equal(qmt_web_req(w, json ? "POST" : "GET", path, json, &r),
	                 0);
	if (r.status != want)
		fprintf(stderr, "%s%s: HTTP %ld, body %s\n", w->base, path,
		        r.status, r.body ? r.body : "(none)");
	assert_int_equal(r.status, want);
	j = json_incref(r.json);
	qmt_resp_free(&r);
	assert_non_null(j);
	return j;
}

/*
 * Checks one user's GUI: the page, /api/state, unlock with the passphrase,
 * and the inbox: want_subjects (n of them) each present once, at levels
 * 1..4 all seen, every message opened (badge l1..l4, not tampered).
 */
static void check_gui(const struct user *u, const char *const *want_subjects,
                      size_t n)
{
	struct qmt_web w;
	struct qmt_resp r;
	char path[200], acct[32];
	json_t *j, *msgs;
	int levels[5] = {0};
	size_t i;
	json_t *m;

	qmt_web_init(&w, (unsigned)strtoul(u->url + 17, NULL, 10));
	assert_int_equal(qmt_web_req(&w, "GET", "/", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(r.body);
	assert_non_null(strstr(r.body, "<html"));
	qmt_resp_free(&r);

	j = req_json(&w, "/api/state", NULL, 200);
	assert_true(json_is_true(json_object_get(j, "initialized")));
	assert_non_null(json_string_value(json_object_get(j, "csrf")));
	snprintf(w.csrf, sizeof(w.csrf), "%s",
	         json_string_value(json_object_get(j, "csrf")));
	json_decref(j);

	{
		json_t *p = json_pack("{s:s}", "passphrase", u->pass);
		char *body = json_dumps(p, 0);
		char wrong[] = "{\"passphrase\": \"not-the-demo-passphrase\"}";

		/* the passphrase printed is the one that unlocks, and only it
		 */
		json_decref(req_json(&w, "/api/unlock", wrong, 403));
		j = req_json(&w, "/api/unlock", body, 200);
		free(body);
		json_decref(p);
	}
	assert_true(json_is_true(json_object_get(j, "unlocked")));
	snprintf(w.csrf, sizeof(w.csrf), "%s",
	         json_string_value(json_object_get(j, "csrf")));
	json_decref(j);

	j = req_json(&w, "/api/accounts", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "accounts")), 1);
	m = json_array_get(json_object_get(j, "accounts"), 0);
	assert_string_equal(json_string_value(json_object_get(m, "address")),
	                    u->address);
	snprintf(acct, sizeof(acct), "%s",
	         json_string_value(json_object_get(m, "id")));
	json_decref(j);

	snprintf(path, sizeof(path),
	         "/api/messages?account=%s&folder=INBOX&limit=50", acct);
	j = req_json(&w, path, NULL, 200);
	msgs = json_object_get(j, "messages");
	assert_int_equal(json_array_size(msgs), n);
	json_array_foreach(msgs, i, m)
	{
		json_t *sec = json_object_get(m, "security");
		const char *badge =
		    json_string_value(json_object_get(sec, "badge"));
		int level =
		    (int)json_integer_value(json_object_get(sec, "level"));

		assert_non_null(badge);
		assert_true(level >= 1 && level <= 4);
		assert_int_equal(badge[0], 'l');
		assert_int_equal(badge[1] - '0', level);
		levels[level]++;
	}
	for (int l = 1; l <= 4; l++)
		assert_int_equal(levels[l], 1);
	for (size_t k = 0; k < n; k++) {
		int found = 0;
		json_array_foreach(msgs, i, m)
		{
			const char *s =
			    json_string_value(json_object_get(m, "subject"));
			found += s && strcmp(s, want_subjects[k]) == 0;
		}
		if (found != 1)
			fprintf(stderr, "%s: subject \"%s\" found %d times\n",
			        u->address, want_subjects[k], found);
		assert_int_equal(found, 1);
	}
	/* the level-1 message reads back decrypted and verified */
	json_array_foreach(msgs, i, m)
	{
		json_t *sec = json_object_get(m, "security");
		if (json_integer_value(json_object_get(sec, "level")) != 1)
			continue;
		snprintf(path, sizeof(path), "/api/messages/%s",
		         json_string_value(json_object_get(m, "id")));
		json_t *full = req_json(&w, path, NULL, 200);
		json_t *det = json_object_get(full, "details");
		assert_string_equal(
		    json_string_value(json_object_get(det, "status")),
		    "verified");
		assert_true(
		    json_integer_value(json_object_get(det, "key_count")) >= 1);
		assert_true(strlen(json_string_value(
		                json_object_get(full, "text"))) > 20);
		json_decref(full);
	}
	json_decref(j);
}

/* Process groups the demo started (STATE/children). */
static int read_children(pid_t *pids, int max)
{
	char file[300];
	FILE *f;
	int n = 0, pid;

	snprintf(file, sizeof(file), "%s/children", state);
	if (!(f = fopen(file, "r")))
		return 0;
	while (n < max && fscanf(f, "%d", &pid) == 1)
		pids[n++] = pid;
	fclose(f);
	return n;
}

/* Processes anywhere whose command line names the state folder. */
static int procs_naming_state(void)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int count = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char p[300], buf[4096];
		FILE *f;
		size_t n;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/cmdline", de->d_name);
		if (!(f = fopen(p, "r")))
			continue;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		if (strstr(buf, state)) {
			fprintf(stderr, "left behind: pid %s: %s\n", de->d_name,
			        buf);
			count++;
		}
	}
	closedir(d);
	return count;
}

/* Ctrl-C: SIGINT to the demo alone; it must stop everything and exit 0. */
static void stop_demo(pid_t pid)
{
	pid_t kids[16];
	int n = read_children(kids, 16), st = -1, waited;
	char ready[300];

	/* mail servers (Dovecot, OpenSMTPD) and two KMEs */
	assert_true(n >= 4);
	for (int i = 0; i < n; i++)
		assert_int_equal(kill(-kids[i], 0), 0);
	assert_int_equal(kill(pid, SIGINT), 0);
	for (waited = 0; waited < 60000; waited += 50) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		poll(NULL, 0, 50); /* between two looks at the child */
	}
	if (waited >= 60000)
		show_output();
	assert_true(waited < 60000);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) != 0)
		show_output();
	assert_int_equal(WEXITSTATUS(st), 0);
	/* no process of any group it started is left, nor anything else
	 * running from its state folder */
	for (int i = 0; i < n; i++) {
		errno = 0;
		assert_int_equal(kill(-kids[i], 0), -1);
		assert_int_equal(errno, ESRCH);
	}
	assert_int_equal(procs_naming_state(), 0);
	snprintf(ready, sizeof(ready), "%s/ready", state);
	assert_int_not_equal(access(ready, F_OK), 0);
}

/* Never on disk in the clear (docs/ARCHITECTURE.md invariant 1). */
static const char *const secrets[] = {
    "The one-time pad, for real",
    "Lunch on Friday?",
    "Meeting notes",
    "Nobody can read it",
    "quarter,revenue,cost",
    "Roll out QMail",
    "alice-Pw-7341",
    "bob-Pw-1188", /* mail passwords (tests/lib) */
    "alice-quantum-demo",
    "bob-quantum-demo", /* vault passphrases */
};
static int leaks;

static int scan_one(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	FILE *f;
	char *buf;
	size_t n;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode) || st->st_size <= 0)
		return 0;
	if (!(f = fopen(path, "rb")))
		return 0;
	buf = malloc((size_t)st->st_size);
	n = buf ? fread(buf, 1, (size_t)st->st_size, f) : 0;
	fclose(f);
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (n && memmem(buf, n, secrets[i], strlen(secrets[i]))) {
			fprintf(stderr, "%s holds \"%s\" in the clear\n", path,
			        secrets[i]);
			leaks++;
		}
	}
	free(buf);
	return 0;
}

/* Both QMail homes (store, vault, WAL, logs) after the demo stopped: no
 * subject, body, attachment, password or passphrase in any file. */
static void check_homes_hold_no_plaintext(void)
{
	char dir[300];

	leaks = 0;
	snprintf(dir, sizeof(dir), "%s/alice", state);
	assert_int_equal(nftw(dir, scan_one, 16, FTW_PHYS), 0);
	snprintf(dir, sizeof(dir), "%s/bob", state);
	assert_int_equal(nftw(dir, scan_one, 16, FTW_PHYS), 0);
	snprintf(dir, sizeof(dir), "%s/demo.log", state);
	{
		struct stat st;
		if (stat(dir, &st) == 0)
			scan_one(dir, &st, FTW_F, NULL);
	}
	assert_int_equal(leaks, 0);
}

/* --------------------------------------------------------------- tests */

static const char *const bob_inbox[] = {
    "The one-time pad, for real", "Quarterly figures (QKD-keyed AES)",
    "Post-quantum hello", "Lunch on Friday?"};
static const char *const alice_inbox[] = {
    "Re: The one-time pad, for real", "Meeting notes", "Re: Post-quantum hello",
    "Re: Lunch on Friday?"};

static void test_demo_runs_and_stops(void **unused)
{
	struct user u[2];
	pid_t pid;
	struct stat st;

	(void)unused;
	if (geteuid() != 0 || access("/usr/sbin/smtpd", X_OK) != 0 ||
	    access("/usr/sbin/dovecot", X_OK) != 0) {
		fprintf(stderr, "skipped: needs root, opensmtpd and dovecot\n");
		skip();
	}
	assert_int_equal(qmt_tmpdir("demo", state, sizeof(state)), 0);
	snprintf(outlog, sizeof(outlog), "%s.out", state);

	/* the second run (make demo twice) is skipped under the sanitizers,
	 * where one run takes three times as long */
	for (int run = 0; run < (getenv("QM_SANITIZED") ? 1 : 2); run++) {
		pid = demo_start();
		assert_true(pid > 0);
		assert_int_equal(wait_ready(pid, 240000), 0);
		read_ready(u);
		check_gui(&u[0], alice_inbox, 4);
		check_gui(&u[1], bob_inbox, 4);
		stop_demo(pid);
		/* the homes stay in the state folder after a stop, and hold
		 * no plaintext */
		assert_int_equal(stat(state, &st), 0);
		check_homes_hold_no_plaintext();
	}
	if (!getenv("QMT_KEEP")) {
		qmt_rmtree(state);
		unlink(outlog);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_demo_runs_and_stops),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
