/* SPDX-License-Identifier: MIT */
/*
 * Unlock once per session: `qmail unlock` derives the passphrase key once
 * (Argon2id at the vault's cost) and leaves it with a small agent process,
 * as ssh-agent and gpg-agent do; later qmail commands of the same user
 * take it from the agent instead of asking for the passphrase. The agent
 * keeps the key in secure memory (mlock'd, not dumpable), listens on a
 * Unix socket in the home (<home>/agent/sock: folder 0700, socket 0600),
 * answers only peers of its own uid (SO_PEERCRED), and exits when its time
 * is up, at `qmail lock`, or when its socket or home disappears.
 *
 * Why not the kernel keyring: it works on this machine, but the default
 * Docker seccomp profile blocks add_key/keyctl, so CI and containers would
 * need a second path anyway; the agent is the one that always works.
 *
 * The protocol, version 1: a request is 8 bytes, "QMAG", the version, an
 * operation ('K' the key, 'S' status, 'L' lock), two zero bytes. A reply
 * is "QMAG", the version, a status (AGENT_OK, AGENT_NO, AGENT_REFUSED), a
 * 16-bit big-endian length and at most AGENT_MAXPAYLOAD bytes: the key for
 * 'K', the seconds left and the agent's pid (32-bit big-endian each) for
 * 'S'. One request per connection. The key travels only over the socket.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_VERSION    1
#define AGENT_OK         0
#define AGENT_NO         1 /* unknown operation */
#define AGENT_REFUSED    2 /* another uid */
#define AGENT_MAXPAYLOAD 64
#define AGENT_MAXSECS    (7L * 24 * 3600)

static volatile sig_atomic_t agent_stop;

static void on_agent_signal(int sig)
{
	(void)sig;
	agent_stop = 1;
}

int cli_agent_path(const char *home, char *out, size_t outlen, int dir)
{
	struct sockaddr_un sa;
	int n = snprintf(out, outlen, "%s/agent%s", home, dir ? "" : "/sock");

	if (n < 0 || (size_t)n >= outlen || (size_t)n >= sizeof(sa.sun_path))
		return -1;
	return 0;
}

/* Reads or writes exactly n bytes (the socket has a time-out). */
static int io_full(int fd, void *buf, size_t n, int wr)
{
	unsigned char *p = buf;

	while (n) {
		ssize_t k =
		    wr ? send(fd, p, n, MSG_NOSIGNAL) : recv(fd, p, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void set_timeout(int fd, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static uid_t peer_uid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
	    len != sizeof(cr))
		return (uid_t)-1;
	return cr.uid;
}

int cli_agent_call(const char *home, int op, unsigned char *payload, size_t cap,
                   size_t *n)
{
	struct sockaddr_un sa;
	unsigned char req[8] = {'Q', 'M', 'A', 'G', AGENT_VERSION, 0, 0, 0};
	unsigned char hdr[8];
	size_t len;
	int fd, rc = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (cli_agent_path(home, sa.sun_path, sizeof(sa.sun_path), 0))
		return 1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return 1; /* no agent: not unlocked */
	}
	set_timeout(fd, 2000);
	/* a socket of another user in our home is not our agent */
	if (peer_uid(fd) != geteuid())
		goto out;
	req[5] = (unsigned char)op;
	if (io_full(fd, req, sizeof(req), 1) || io_full(fd, hdr, 8, 0))
		goto out;
	len = (size_t)hdr[6] << 8 | hdr[7];
	if (memcmp(hdr, "QMAG", 4) != 0 || hdr[4] != AGENT_VERSION ||
	    len > AGENT_MAXPAYLOAD)
		goto out;
	if (hdr[5] != AGENT_OK) {
		rc = 2;
		goto out;
	}
	if (len > cap || io_full(fd, payload, len, 0))
		goto out;
	*n = len;
	rc = 0;
out:
	close(fd);
	return rc;
}

int cli_agent_key(const char *home, unsigned char *key)
{
	size_t n = 0;
	int rc = cli_agent_call(home, 'K', key, QM_CLIENT_UNLOCK_KEYBYTES, &n);

	if (rc == 0 && n != QM_CLIENT_UNLOCK_KEYBYTES) {
		qm_wipe(key, QM_CLIENT_UNLOCK_KEYBYTES);
		return -1;
	}
	return rc;
}

int cli_agent_status(const char *home, long *left, long *pid)
{
	unsigned char p[8];
	size_t n = 0;
	int rc = cli_agent_call(home, 'S', p, sizeof(p), &n);

	if (rc != 0)
		return rc;
	if (n != 8)
		return -1;
	*left = (long)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	               (uint32_t)p[2] << 8 | p[3]);
	*pid = (long)((uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
	              (uint32_t)p[6] << 8 | p[7]);
	return 0;
}

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Answers one connection; returns 1 when the agent is to stop. */
static int serve_one(int cfd, const unsigned char *key, uint64_t deadline)
{
	unsigned char req[8], rep[8 + AGENT_MAXPAYLOAD];
	size_t len = 0;
	int stop = 0;

	memcpy(rep, "QMAG", 4);
	rep[4] = AGENT_VERSION;
	rep[5] = AGENT_OK;
	set_timeout(cfd, 1000); /* a silent client cannot hold the agent */
	if (io_full(cfd, req, sizeof(req), 0) || memcmp(req, "QMAG", 4) != 0 ||
	    req[4] != AGENT_VERSION)
		return 0; /* not our protocol: hang up */
	if (peer_uid(cfd) != getuid()) {
		rep[5] = AGENT_REFUSED; /* another user: nothing but "no" */
	} else if (req[5] == 'K') {
		memcpy(rep + 8, key, QM_CLIENT_UNLOCK_KEYBYTES);
		len = QM_CLIENT_UNLOCK_KEYBYTES;
	} else if (req[5] == 'S') {
		uint64_t now = qm_mono_ns();

		put32(rep + 8,
		      (uint32_t)(deadline > now ? (deadline - now) / 1000000000u
		                                : 0));
		put32(rep + 12, (uint32_t)getpid());
		len = 8;
	} else if (req[5] == 'L') {
		stop = 1;
	} else {
		rep[5] = AGENT_NO;
	}
	rep[6] = (unsigned char)(len >> 8);
	rep[7] = (unsigned char)len;
	QM_IGNORE(io_full(cfd, rep, 8 + len, 1));
	qm_wipe(rep, sizeof(rep));
	return stop;
}

/* Whether the socket file is still ours (the home may have been removed,
 * or another `qmail unlock` may have taken the place). */
static int still_ours(const char *path, const struct stat *mine)
{
	struct stat st;

	return lstat(path, &st) == 0 && st.st_ino == mine->st_ino &&
	       st.st_dev == mine->st_dev;
}

/* The agent itself (the detached grandchild): never returns. */
static void agent_main(const char *path, int lfd, unsigned char *key, long secs)
{
	uint64_t deadline = qm_mono_ns() + (uint64_t)secs * 1000000000u;
	struct sigaction sa;
	struct stat mine;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_agent_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (fstat(lfd, &mine) != 0 || lstat(path, &mine) != 0)
		agent_stop = 1;
	while (!agent_stop) {
		uint64_t now = qm_mono_ns();
		struct pollfd pfd = {lfd, POLLIN, 0};
		uint64_t left_ms;
		int cfd;

		if (now >= deadline || !still_ours(path, &mine))
			break;
		left_ms = (deadline - now) / 1000000u + 1;
		if (poll(&pfd, 1, left_ms > 1000 ? 1000 : (int)left_ms) <= 0)
			continue;
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		if (qm_mono_ns() < deadline && serve_one(cfd, key, deadline))
			agent_stop = 1;
		close(cfd);
	}
	qm_sec_free(key);
	if (still_ours(path, &mine))
		unlink(path);
	close(lfd);
	_exit(0);
}

/* Stops an agent that already answers at path (a new unlock replaces it)
 * and removes a stale socket file. */
static void replace_old(const char *home, const char *path)
{
	size_t n = 0;
	unsigned char none[1];

	if (cli_agent_call(home, 'L', none, 0, &n) == 0) {
		/* it unlinks its socket as it goes; wait a moment for it */
		for (int i = 0; i < 100 && access(path, F_OK) == 0; i++) {
			struct timespec ts = {0, 10 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
	}
	unlink(path);
}

/* The agent folder: created 0700, or an existing one that is a folder of
 * ours, set to 0700. */
static int agent_dir(const char *dir, char *msg, size_t msglen)
{
	struct stat st;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(msg, msglen, "creating %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != geteuid() || chmod(dir, 0700) != 0) {
		snprintf(msg, msglen, "%s is not a folder of yours", dir);
		return -1;
	}
	return 0;
}

/* Binds and listens on path (mode 0600 from the umask, then chmod). */
static int agent_listen(const char *path, char *msg, size_t msglen)
{
	struct sockaddr_un sa;
	mode_t old;
	int fd, rc;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(msg, msglen, "the socket path is too long");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(msg, msglen, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(077);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc != 0 || chmod(path, 0600) != 0 || listen(fd, 16) != 0) {
		snprintf(msg, msglen, "listening on the agent socket: %s",
		         strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int cli_agent_start(const char *home, const unsigned char *key, long secs,
                    long *pid_out, char *msg, size_t msglen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char path[sizeof(dir)], buf[256], *abs;
	int pfd[2], status, bad;
	ssize_t got = 0;
	pid_t pid;

	/* the agent leaves the working folder: it needs the full path */
	abs = realpath(home, NULL);
	if (!abs) {
		snprintf(msg, msglen, "the QMail home: %s", strerror(errno));
		return -1;
	}
	bad = cli_agent_path(abs, dir, sizeof(dir), 1) ||
	      cli_agent_path(abs, path, sizeof(path), 0);
	free(abs);
	if (bad) {
		snprintf(msg, msglen,
		         "the QMail home's path is too long for a Unix socket "
		         "(%zu bytes at most)",
		         sizeof(((struct sockaddr_un *)0)->sun_path) - 12);
		return -1;
	}
	if (agent_dir(dir, msg, msglen))
		return -1;
	replace_old(home, path);
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(msg, msglen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (pid == 0) {
		unsigned char *k;
		int lfd, nul;

		/* detach: a new session, and a grandchild that init adopts */
		close(pfd[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		/* mlock is not inherited across fork: a fresh secure copy */
		k = qm_sec_alloc(QM_CLIENT_UNLOCK_KEYBYTES);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); /* no ptrace, no core */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != pfd[1])
				close(fd);
		lfd = k ? agent_listen(path, buf + 1, sizeof(buf) - 1) : -1;
		if (lfd < 0) {
			buf[0] = 'E';
			if (!k)
				snprintf(buf + 1, sizeof(buf) - 1,
				         "no secure memory for the key");
			QM_IGNORE(write(pfd[1], buf, strlen(buf)));
			_exit(1);
		}
		memcpy(k, key, QM_CLIENT_UNLOCK_KEYBYTES);
		if (chdir("/") != 0)
			_exit(1);
		nul = open("/dev/null", O_RDWR);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			dup2(nul, 2);
			if (nul > 2)
				close(nul);
		}
		snprintf(buf, sizeof(buf), "R%ld", (long)getpid());
		QM_IGNORE(write(pfd[1], buf, strlen(buf)));
		close(pfd[1]);
		agent_main(path, lfd, k, secs);
	}
	close(pfd[1]);
	waitpid(pid, &status, 0); /* the first child exits at once */
	for (;;) {
		ssize_t k =
		    read(pfd[0], buf + got, sizeof(buf) - 1 - (size_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += k;
	}
	close(pfd[0]);
	buf[got] = '\0';
	if (got > 1 && buf[0] == 'R') {
		*pid_out = strtol(buf + 1, NULL, 10);
		return 0;
	}
	snprintf(msg, msglen, "the agent did not start: %s",
	         got > 1 ? buf + 1 : "it exited");
	return -1;
}

int cli_duration_parse(const char *s, long *secs)
{
	char *end;
	long v, mul = 1;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v <= 0)
		return -1;
	if (*end == 's' || *end == '\0')
		mul = 1;
	else if (*end == 'm')
		mul = 60;
	else if (*end == 'h')
		mul = 3600;
	else
		return -1;
	if (*end && end[1])
		return -1;
	if (v > AGENT_MAXSECS / mul)
		return -1;
	*secs = v * mul;
	return 0;
}
