/* SPDX-License-Identifier: MIT */
/*
 * Unlock once per session (issue 18, invariant 33), against the real qmail
 * program: `qmail unlock` leaves the key with an agent, after which `qmail
 * list` runs with no passphrase anywhere (no QMAIL_PASSPHRASE*, no
 * terminal: each command runs in a new session with stdin on /dev/null);
 * `qmail lock` and `--for 2s` end it (exit 3 again); a wrong passphrase
 * starts no agent; the socket and its folder are 0600 and 0700; another
 * uid is refused by the agent itself (as root: a child as nobody); a
 * passphrase change makes the agent's key useless; the engine refuses a
 * wrong unlock key; `qmail web` lets a browser in with the agent's key
 * only with the token of the link it printed, and locks when the agent
 * goes. Every agent started is killed on every path, and the
 * test checks that none is left.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/client.h"
#include "harness.h"
#include "webclient.h"

static char dir[512], home[600], pwfile[700], badfile[700], sock[700];
static char *out; /* what the last run printed */
static long agents[32];
static size_t nagents;

/* Whether pid is a live process (a zombie is not). */
static int alive(long pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* Waits (polling /proc) until pid is gone; 0 when it went in time. */
static int wait_gone(long pid, int ms)
{
	for (int i = 0; i < ms / 20; i++) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		if (!alive(pid))
			return 0;
		nanosleep(&ts, NULL);
	}
	return alive(pid) ? -1 : 0;
}

static void kill_agents(void)
{
	for (size_t i = 0; i < nagents; i++)
		if (alive(agents[i])) {
			kill((pid_t)agents[i], SIGTERM);
			if (wait_gone(agents[i], 2000))
				kill((pid_t)agents[i], SIGKILL);
		}
}

/* Runs qmail --home home -q ARGS... in a new session (no terminal), stdin
 * /dev/null, with the passphrase file passf (NULL: no passphrase at all).
 * Returns the exit code; out gets what it printed. */
static int run(const char *passf, ...)
{
	char bin[1024], log[800];
	char *argv[32];
	size_t k = 0;
	const char *a;
	va_list ap;
	int status, fd;
	pid_t pid;

	snprintf(bin, sizeof(bin), "%s/src/cli/qmail", qmt_binary_dir());
	snprintf(log, sizeof(log), "%s/out.log", dir);
	argv[k++] = bin;
	argv[k++] = "--home";
	argv[k++] = home;
	argv[k++] = "-q";
	va_start(ap, passf);
	while ((a = va_arg(ap, const char *)) && k < 31)
		argv[k++] = (char *)(uintptr_t)a;
	va_end(ap);
	argv[k] = NULL;
	unlink(log);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		setsid(); /* no controlling terminal to ask on */
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		unsetenv("QMAIL_PASSPHRASE");
		if (passf)
			setenv("QMAIL_PASSPHRASE_FILE", passf, 1);
		else
			unsetenv("QMAIL_PASSPHRASE_FILE");
		execv(bin, argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	free(out);
	out = qmt_read_file(log, NULL);
	if (!out)
		out = strdup("");
	return WEXITSTATUS(status);
}

/* `qmail unlock` with the right passphrase; records the agent's pid. */
static long unlock_for(const char *dur)
{
	const char *p;
	long pid;

	assert_int_equal(run(pwfile, "unlock", "--for", dur, NULL), 0);
	p = strstr(out, "agent pid ");
	assert_non_null(p);
	pid = strtol(p + 10, NULL, 10);
	assert_true(pid > 1);
	if (nagents < sizeof(agents) / sizeof(*agents))
		agents[nagents++] = pid;
	assert_true(alive(pid));
	return pid;
}

static int setup(void **state)
{
	(void)state;
	if (qmt_tmpdir("unlock", dir, sizeof(dir)))
		return -1;
	snprintf(home, sizeof(home), "%s/h", dir);
	snprintf(pwfile, sizeof(pwfile), "%s/pw", dir);
	snprintf(badfile, sizeof(badfile), "%s/bad", dir);
	snprintf(sock, sizeof(sock), "%s/agent/sock", home);
	qmt_write_file(pwfile, "the right passphrase of this test\n");
	qmt_write_file(badfile, "not the passphrase at all\n");
	setenv("QM_STORE_KDF", "fast", 1);
	if (run(pwfile, "init", NULL) != 0 ||
	    run(pwfile, "account", "add", "--address", "me@example.test",
	        "--smtp", "127.0.0.1:1", "--smtp-tls", "tls", "--imap",
	        "127.0.0.1:2", "--imap-tls", "tls", "--password-file", pwfile,
	        NULL) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	QM_IGNORE(run(NULL, "lock", NULL));
	kill_agents();
	for (size_t i = 0; i < nagents; i++)
		if (alive(agents[i]))
			fprintf(stderr, "agent %ld left behind\n", agents[i]);
	qmt_rmtree(dir);
	free(out);
	out = NULL;
	return 0;
}

static void test_wrong_passphrase_starts_no_agent(void **state)
{
	(void)state;
	assert_int_equal(run(badfile, "unlock", NULL), 3);
	assert_non_null(strstr(out, "wrong passphrase"));
	assert_int_equal(access(sock, F_OK), -1);
	/* and locked means locked: no passphrase, exit 3 */
	assert_int_equal(run(NULL, "list", NULL), 3);
	assert_non_null(strstr(out, "passphrase"));
}

static void test_unlock_list_lock(void **state)
{
	struct stat st;
	long pid;

	(void)state;
	pid = unlock_for("5m");
	assert_non_null(strstr(out, "unlocked for 5m"));
	assert_int_equal(lstat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	{
		char d[700];

		snprintf(d, sizeof(d), "%s/agent", home);
		assert_int_equal(lstat(d, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	assert_int_equal(run(NULL, "list", NULL), 0);
	assert_non_null(strstr(out, "no messages"));
	/* a second command takes it again (one request per connection) */
	assert_int_equal(run(NULL, "list", NULL), 0);
	assert_int_equal(run(NULL, "lock", NULL), 0);
	assert_non_null(strstr(out, "locked"));
	assert_int_equal(wait_gone(pid, 3000), 0);
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(run(NULL, "list", NULL), 3);
	assert_non_null(strstr(out, "passphrase"));
	assert_int_equal(run(NULL, "lock", NULL), 0);
	assert_non_null(strstr(out, "not unlocked"));
}

/* --home given relative to the working folder: the agent, which leaves
 * that folder, still serves (and watches) the right socket. */
static void test_relative_home(void **state)
{
	char saved[600], cwd[4096];
	long pid;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(saved, sizeof(saved), "%s", home);
	assert_int_equal(chdir(dir), 0);
	snprintf(home, sizeof(home), "h");
	pid = unlock_for("5m");
	assert_int_equal(run(NULL, "list", NULL), 0);
	assert_true(alive(pid));
	assert_int_equal(run(NULL, "lock", NULL), 0);
	assert_int_equal(wait_gone(pid, 3000), 0);
	snprintf(home, sizeof(home), "%s", saved);
	assert_int_equal(chdir(cwd), 0);
}

static void test_times_out(void **state)
{
	long pid;

	(void)state;
	pid = unlock_for("2s");
	assert_int_equal(run(NULL, "list", NULL), 0);
	/* the agent exits when its time is up */
	assert_int_equal(wait_gone(pid, 5000), 0);
	assert_int_equal(access(sock, F_OK), -1);
	assert_int_equal(run(NULL, "list", NULL), 3);
}

static void test_unlock_replaces_and_home_gone(void **state)
{
	char moved[700];
	long a, b;

	(void)state;
	a = unlock_for("5m");
	b = unlock_for("5m");
	/* a second unlock replaces the first agent */
	assert_int_equal(wait_gone(a, 3000), 0);
	assert_true(alive(b));
	assert_int_equal(run(NULL, "list", NULL), 0);
	/* the agent leaves when its socket (the home) goes away */
	snprintf(moved, sizeof(moved), "%s/h-moved", dir);
	assert_int_equal(rename(home, moved), 0);
	assert_int_equal(wait_gone(b, 5000), 0);
	assert_int_equal(rename(moved, home), 0);
}

/* One raw request to the agent: the reply's status byte, or -1. */
static int raw_request(int op, unsigned char *payload, size_t *n)
{
	struct sockaddr_un sa;
	unsigned char req[8] = {'Q', 'M', 'A', 'G', 1, (unsigned char)op, 0, 0};
	unsigned char hdr[8];
	size_t len;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(sock) >= sizeof(sa.sun_path)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	memcpy(sa.sun_path, sock, strlen(sock) + 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (send(fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req) ||
	    recv(fd, hdr, sizeof(hdr), MSG_WAITALL) != (ssize_t)sizeof(hdr)) {
		close(fd);
		return -1;
	}
	len = (size_t)hdr[6] << 8 | hdr[7];
	*n = 0;
	if (len && len <= 64 &&
	    recv(fd, payload, len, MSG_WAITALL) == (ssize_t)len)
		*n = len;
	close(fd);
	return memcmp(hdr, "QMAG", 4) == 0 ? hdr[5] : -1;
}

static void test_other_uid_refused(void **state)
{
	struct passwd *pw = getpwnam("nobody");
	unsigned char buf[64];
	char d[700];
	size_t n = 0;
	int status;
	long pid;
	pid_t c;

	(void)state;
	pid = unlock_for("5m");
	/* the owner gets the key */
	assert_int_equal(raw_request('K', buf, &n), 0);
	assert_int_equal(n, QM_CLIENT_UNLOCK_KEYBYTES);
	/* an unknown operation is answered "no" */
	assert_int_equal(raw_request('?', buf, &n), 1);
	assert_int_equal(n, 0);
	if (geteuid() != 0 || !pw) {
		print_message("not root: the other-uid part is skipped\n");
		goto out;
	}
	/* as nobody, with the modes as they are: the folder stops it */
	fflush(NULL);
	c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		if (setgid(pw->pw_gid) || setuid(pw->pw_uid))
			_exit(10);
		_exit(raw_request('K', buf, &n) == -1 ? 0 : 1);
	}
	assert_int_equal(waitpid(c, &status, 0), c);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* opened to everyone on purpose: the agent's own uid check refuses */
	chmod(dir, 0711);
	chmod(home, 0711);
	snprintf(d, sizeof(d), "%s/agent", home);
	chmod(d, 0711);
	chmod(sock, 0666);
	fflush(NULL);
	c = fork();
	assert_true(c >= 0);
	if (c == 0) {
		int st;

		if (setgid(pw->pw_gid) || setuid(pw->pw_uid))
			_exit(10);
		st = raw_request('K', buf, &n);
		/* refused (2), and no key bytes came */
		_exit(st == 2 && n == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(c, &status, 0), c);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	chmod(sock, 0600);
	chmod(d, 0700);
	chmod(home, 0700);
	chmod(dir, 0700);
	/* the agent still serves its owner */
	assert_int_equal(run(NULL, "list", NULL), 0);
out:
	qm_wipe(buf, sizeof(buf));
	assert_int_equal(run(NULL, "lock", NULL), 0);
	assert_int_equal(wait_gone(pid, 3000), 0);
}

static void test_engine_refuses_wrong_key(void **state)
{
	struct qm_client_opts o;
	struct qm_client *c = NULL;
	unsigned char *key = NULL, wrong[QM_CLIENT_UNLOCK_KEYBYTES];
	struct qm_error e;
	char *pass = qmt_read_file(pwfile, NULL);

	(void)state;
	assert_non_null(pass);
	pass[strcspn(pass, "\n")] = '\0';
	memset(&o, 0, sizeof(o));
	o.home = home;
	qm_error_clear(&e);
	assert_int_equal(qm_client_open(&o, &c, &e), QM_OK);
	assert_int_equal(
	    qm_client_unlock_export(c, "wrong passphrase!", 17, &key, &e),
	    QM_ERR_DENIED);
	assert_null(key);
	assert_int_equal(
	    qm_client_unlock_export(c, pass, strlen(pass), &key, &e), QM_OK);
	assert_non_null(key);
	qm_client_lock(c);
	assert_false(qm_client_unlocked(c));
	memcpy(wrong, key, sizeof(wrong));
	wrong[0] ^= 1;
	assert_int_equal(qm_client_unlock_key(c, wrong, sizeof(wrong), &e),
	                 QM_ERR_DENIED);
	assert_int_equal(e.hint, QM_HINT_VAULT_LOCKED);
	assert_false(qm_client_unlocked(c));
	assert_int_equal(qm_client_unlock_key(c, key, 16, &e), QM_ERR_INVAL);
	assert_false(qm_client_unlocked(c));
	assert_int_equal(
	    qm_client_unlock_key(c, key, QM_CLIENT_UNLOCK_KEYBYTES, &e), QM_OK);
	assert_true(qm_client_unlocked(c));
	qm_sec_free(key);
	qm_client_free(&c);
	free(pass);
}

static void test_passwd_voids_agent_key(void **state)
{
	char newf[700];
	long pid;

	(void)state;
	pid = unlock_for("5m");
	assert_int_equal(run(NULL, "list", NULL), 0);
	/* the agent holds the passphrase key: a new passphrase voids it */
	snprintf(newf, sizeof(newf), "%s/pw-new", dir);
	qmt_write_file(newf, "the right passphrase of this test\n");
	setenv("QMAIL_NEW_PASSPHRASE_FILE", newf, 1);
	assert_int_equal(run(pwfile, "passwd", NULL), 0);
	unsetenv("QMAIL_NEW_PASSPHRASE_FILE");
	/* and `passwd` sends it away: nothing waits on a dead key */
	assert_int_equal(wait_gone(pid, 3000), 0);
	assert_int_equal(run(NULL, "list", NULL), 3);
}

/* Waits until the file at path holds needle; its text (free it) or NULL. */
static char *wait_text(const char *path, const char *needle, int ms)
{
	for (int i = 0; i < ms / 50; i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		char *t = qmt_read_file(path, NULL);

		if (t && strstr(t, needle))
			return t;
		free(t);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static long post_agent(struct qmt_web *w, const char *token)
{
	struct qmt_resp r;
	char body[160];
	long st;

	snprintf(body, sizeof(body), "{\"agent\":\"%s\"}", token);
	if (qmt_web_req(w, "POST", "/api/unlock", body, &r))
		return 0;
	st = r.status;
	if (st == 200 && qmt_json_str(r.json, "csrf", NULL)[0])
		snprintf(w->csrf, sizeof(w->csrf), "%s",
		         qmt_json_str(r.json, "csrf", NULL));
	qmt_resp_free(&r);
	return st;
}

static long get_status(struct qmt_web *w, const char *path)
{
	struct qmt_resp r;
	long st;

	if (qmt_web_req(w, "GET", path, NULL, &r))
		return 0;
	st = r.status;
	if (path[5] == 's' && r.status == 200) /* /api/state */
		snprintf(w->csrf, sizeof(w->csrf), "%s",
		         qmt_json_str(r.json, "csrf", NULL));
	qmt_resp_free(&r);
	return st;
}

static void test_web_uses_agent(void **state)
{
	char bin[1024], log[800], token[80], wrong[80], *t, *p;
	char *const envp[] = {"QM_STORE_KDF=fast", NULL};
	struct qmt_web w, other;
	unsigned port = 0;
	long pid, st = 0;
	pid_t web;

	(void)state;
	pid = unlock_for("5m");
	snprintf(bin, sizeof(bin), "%s/src/cli/qmail", qmt_binary_dir());
	snprintf(log, sizeof(log), "%s/web.log", dir);
	{
		char *const argv[] = {bin,      "--home", home, "web",
		                      "--port", "0",      NULL};

		web = qmt_spawn(argv, envp, log);
	}
	assert_true(web > 0);
	t = wait_text(log, "#agent=", 10000);
	assert_non_null(t);
	p = strstr(t, "http://127.0.0.1:");
	assert_non_null(p);
	port = (unsigned)strtoul(p + 17, NULL, 10);
	p = strstr(t, "#agent=");
	assert_int_equal(strspn(p + 7, "0123456789abcdef"), 64);
	snprintf(token, sizeof(token), "%.64s", p + 7);
	free(t);
	/* a browser without the token stays out; a wrong token is refused */
	qmt_web_init(&other, port);
	assert_int_equal(get_status(&other, "/api/state"), 200);
	snprintf(wrong, sizeof(wrong), "%s", token);
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	assert_int_equal(post_agent(&other, wrong), 403);
	assert_int_equal(get_status(&other, "/api/accounts"), 401);
	/* with it: in, without the passphrase (the web has none) */
	qmt_web_init(&w, port);
	assert_int_equal(get_status(&w, "/api/state"), 200);
	assert_int_equal(post_agent(&w, token), 200);
	assert_int_equal(get_status(&w, "/api/accounts"), 200);
	/* qmail lock: the GUI locks too, at a request after the agent left */
	assert_int_equal(run(NULL, "lock", NULL), 0);
	assert_int_equal(wait_gone(pid, 3000), 0);
	for (int i = 0; i < 60; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		st = get_status(&w, "/api/accounts");
		if (st == 401)
			break;
		nanosleep(&ts, NULL);
	}
	assert_int_equal(st, 401);
	/* and the token alone no longer opens it */
	assert_int_equal(get_status(&w, "/api/state"), 200);
	assert_int_equal(post_agent(&w, token), 403);
	assert_int_equal(qmt_stop(web), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wrong_passphrase_starts_no_agent),
	    cmocka_unit_test(test_unlock_list_lock),
	    cmocka_unit_test(test_times_out),
	    cmocka_unit_test(test_relative_home),
	    cmocka_unit_test(test_unlock_replaces_and_home_gone),
	    cmocka_unit_test(test_other_uid_refused),
	    cmocka_unit_test(test_engine_refuses_wrong_key),
	    cmocka_unit_test(test_passwd_voids_agent_key),
	    cmocka_unit_test(test_web_uses_agent),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
