/* SPDX-License-Identifier: MIT */
/*
 * Test harness helpers: temporary folders, free ports, child servers in
 * their own process group that are always stopped.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXCHILD 64

static pid_t children[MAXCHILD];
static int nchildren;
static int hooks_installed;
static int used_ports[1024];
static int nused;

int qmt_tmpdir(const char *tag, char *out, size_t outlen)
{
	const char *base = getenv("TMPDIR");
	int n;

	if (!base || !*base)
		base = "/tmp";
	n = snprintf(out, outlen, "%s/qmt-%s-XXXXXX", base, tag);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return mkdtemp(out) ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int qmt_rmtree(const char *path)
{
	if (!path || !*path || strcmp(path, "/") == 0)
		return -1;
	return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

int qmt_free_port(void)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		struct sockaddr_in a;
		socklen_t alen = sizeof(a);
		int fd = socket(AF_INET, SOCK_STREAM, 0), port, dup = 0;

		if (fd < 0)
			return 0;
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
			close(fd);
			return 0;
		}
		close(fd);
		port = ntohs(a.sin_port);
		for (int i = 0; i < nused; i++)
			if (used_ports[i] == port)
				dup = 1;
		if (dup)
			continue;
		if (nused < (int)(sizeof(used_ports) / sizeof(used_ports[0])))
			used_ports[nused++] = port;
		return port;
	}
	return 0;
}

int qmt_wait_port(int port, int timeout_ms)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct sockaddr_in a;
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
		long elapsed;

		if (fd < 0)
			return -1;
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((unsigned short)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed = (now.tv_sec - start.tv_sec) * 1000 +
		          (now.tv_nsec - start.tv_nsec) / 1000000;
		if (elapsed > timeout_ms)
			return -1;
		/* poll with no fds: a short back-off between connection
		 * attempts */
		poll(NULL, 0, 20);
	}
}

static void on_signal(int sig)
{
	qmt_stop_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_hooks(void)
{
	if (hooks_installed)
		return;
	hooks_installed = 1;
	atexit(qmt_stop_all);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGABRT, on_signal);
	signal(SIGSEGV, on_signal);
}

pid_t qmt_spawn(char *const argv[], char *const envp[], const char *logpath)
{
	pid_t pid, parent;

	install_hooks();
	if (nchildren >= MAXCHILD)
		return -1;
	fflush(NULL);
	parent = getpid();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd;

		/* a test killed outright (SIGKILL from a CTest time-out) runs
		 * no hook: the server then dies with it instead of staying
		 * behind. Servers are spawned from the main thread, which
		 * lives as long as the test. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127); /* the test died before prctl */
		setpgid(0, 0);
		fd = open(logpath ? logpath : "/dev/null",
		          O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		for (int i = 0; envp && envp[i]; i++)
			putenv(envp[i]);
		execvp(argv[0], argv);
		_exit(127);
	}
	setpgid(pid, pid);
	children[nchildren++] = pid;
	return pid;
}

int qmt_stop(pid_t pid)
{
	int status = -1;

	if (pid <= 0)
		return -1;
	kill(-pid, SIGTERM);
	kill(pid, SIGTERM);
	for (int i = 0; i < 250; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD))
			goto reaped;
		poll(NULL, 0, 20);
	}
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
reaped:
	/* anything the server forked into its group goes too */
	kill(-pid, SIGKILL);
	for (int i = 0; i < nchildren; i++) {
		if (children[i] == pid) {
			children[i] = children[--nchildren];
			break;
		}
	}
	return status;
}

void qmt_stop_all(void)
{
	while (nchildren > 0)
		qmt_stop(children[nchildren - 1]);
}

int qmt_run(char *const argv[], const char *logpath)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(logpath ? logpath : "/dev/null",
		              O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

int qmt_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	size_t n = strlen(text);
	int rc;

	if (!f)
		return -1;
	rc = fwrite(text, 1, n, f) == n ? 0 : -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

const char *qmt_source_dir(void)
{
	const char *s = getenv("QM_SOURCE_DIR");
	return s ? s : ".";
}

const char *qmt_binary_dir(void)
{
	const char *s = getenv("QM_BINARY_DIR");
	return s ? s : ".";
}

char *qmt_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *d = NULL;
	size_t n = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t got;

		if (n + 4096 + 1 > cap) {
			char *nd;

			cap = cap ? cap * 2 : 65536;
			if (cap > ((size_t)256 << 20) ||
			    !(nd = realloc(d, cap))) {
				free(d);
				fclose(f);
				return NULL;
			}
			d = nd;
		}
		got = fread(d + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	d[n] = '\0';
	if (len)
		*len = n;
	return d;
}

unsigned char *qmt_bytes(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);
	uint32_t x = seed * 2654435761u + 1;

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

int qmt_qmail(const char *home, char **out, const char *const *args, size_t n)
{
	const char *tmp = getenv("TMPDIR");
	char bin[1024], log[1024];
	char *argv[128];
	size_t k = 0;
	int fd, rc;

	if (out)
		*out = NULL;
	if (n > 120)
		return -1;
	if (getenv("QMT_QMAIL") && *getenv("QMT_QMAIL"))
		snprintf(bin, sizeof(bin), "%s", getenv("QMT_QMAIL"));
	else
		snprintf(bin, sizeof(bin), "%s/src/cli/qmail",
		         qmt_binary_dir());
	snprintf(log, sizeof(log), "%s/qmt-qmail-XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	fd = mkstemp(log);
	if (fd < 0)
		return -1;
	close(fd);
	argv[k++] = bin;
	argv[k++] = "--home";
	argv[k++] = (char *)(uintptr_t)home;
	argv[k++] = "-q";
	for (size_t i = 0; i < n; i++)
		argv[k++] = (char *)(uintptr_t)args[i];
	argv[k] = NULL;
	rc = qmt_run(argv, log);
	if (out) {
		*out = qmt_read_file(log, NULL);
		if (!*out)
			*out = strdup("");
	}
	unlink(log);
	return rc;
}

int qmt_qmail_va(const char *home, char **out, va_list ap)
{
	const char *args[120];
	const char *a;
	size_t n = 0;

	while ((a = va_arg(ap, const char *)) && n < 120)
		args[n++] = a;
	return qmt_qmail(home, out, args, n);
}

void qmt_show_log(const char *path)
{
	char *text = qmt_read_file(path, NULL);
	size_t n;

	if (!text)
		return;
	n = strlen(text);
	fprintf(stderr, "---- %s (tail)\n%s\n----\n", path,
	        n > 3000 ? text + n - 3000 : text);
	free(text);
}

/* dir/name into out; -1 when it does not fit. */
static int in_dir(char *out, size_t n, const char *dir, const char *name)
{
	int r = snprintf(out, n, "%s/%s", dir, name);

	return r < 0 || (size_t)r >= n ? -1 : 0;
}

/* Runs openssl with args (after "openssl") logging to dir/openssl.log,
 * whose tail is shown when it fails. */
static int openssl(const char *dir, const char *const *args)
{
	char *argv[24], log[512];
	size_t n = 0;

	argv[n++] = "openssl";
	while (*args && n + 1 < sizeof(argv) / sizeof(argv[0]))
		argv[n++] = (char *)(uintptr_t)*args++;
	argv[n] = NULL;
	if (in_dir(log, sizeof(log), dir, "openssl.log") != 0)
		return -1;
	if (qmt_run(argv, log) == 0)
		return 0;
	qmt_show_log(log);
	return -1;
}

int qmt_ca_make(struct qmt_ca *ca, const char *dir, const char *name,
                const char *cn)
{
	char crt[256], key[256], subj[256];
	const char *args[] = {"req",    "-x509",    "-newkey",
	                      "ec",     "-pkeyopt", "ec_paramgen_curve:P-256",
	                      "-nodes", "-keyout",  ca->key,
	                      "-out",   ca->crt,    "-days",
	                      "2",      "-subj",    subj,
	                      NULL};

	snprintf(crt, sizeof(crt), "%s.crt", name);
	snprintf(key, sizeof(key), "%s.key", name);
	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	if (in_dir(ca->crt, sizeof(ca->crt), dir, crt) != 0 ||
	    in_dir(ca->key, sizeof(ca->key), dir, key) != 0)
		return -1;
	return openssl(dir, args);
}

int qmt_ca_sign_server(const struct qmt_ca *ca, const char *dir, const char *cn,
                       const char *const *dns, const char *const *ips)
{
	char key[512], csr[512], crt[512], ext[512], serial[512], subj[256];
	char conf[4096] = "basicConstraints=CA:FALSE\n"
	                  "keyUsage=digitalSignature,keyEncipherment\n"
	                  "extendedKeyUsage=serverAuth\n"
	                  "subjectAltName=";
	const char *sep = "";
	const char *req[] = {
	    "req",    "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
	    "-nodes", "-keyout", key,  "-out",     csr,
	    "-subj",  subj,      NULL};
	const char *sign[] = {"x509",
	                      "-req",
	                      "-in",
	                      csr,
	                      "-CA",
	                      ca->crt,
	                      "-CAkey",
	                      ca->key,
	                      "-CAserial",
	                      serial,
	                      "-CAcreateserial",
	                      "-out",
	                      crt,
	                      "-days",
	                      "2",
	                      "-extfile",
	                      ext,
	                      NULL};
	size_t l;

	if (in_dir(key, sizeof(key), dir, "server.key") ||
	    in_dir(csr, sizeof(csr), dir, "server.csr") ||
	    in_dir(crt, sizeof(crt), dir, "server.crt") ||
	    in_dir(ext, sizeof(ext), dir, "server.ext") ||
	    in_dir(serial, sizeof(serial), dir, "ca.srl"))
		return -1;
	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	for (int kind = 0; kind < 2; kind++) {
		const char *const *v = kind ? ips : dns;

		for (size_t i = 0; v && v[i]; i++, sep = ",") {
			l = strlen(conf);
			if (snprintf(conf + l, sizeof(conf) - l, "%s%s:%s", sep,
			             kind ? "IP" : "DNS",
			             v[i]) >= (int)(sizeof(conf) - l))
				return -1;
		}
	}
	l = strlen(conf);
	if (!*sep || l + 2 > sizeof(conf))
		return -1; /* no name at all, or no room for the newline */
	conf[l] = '\n';
	conf[l + 1] = '\0';
	if (qmt_write_file(ext, conf) != 0)
		return -1;
	return openssl(dir, req) || openssl(dir, sign) ? -1 : 0;
}
