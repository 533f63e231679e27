/* SPDX-License-Identifier: MIT */
/*
 * Test harness helpers shared by integration tests: temporary folders, free
 * loopback ports, starting server processes in their own process group and
 * stopping them on every path, waiting for a port instead of sleeping.
 * Test code only; never linked into QMail programs.
 */
#ifndef QMT_HARNESS_H
#define QMT_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

/* Creates a fresh folder under $TMPDIR (or /tmp) named after tag; the path is
 * written to out. Returns 0 or -1. */
int qmt_tmpdir(const char *tag, char *out, size_t outlen);
/* Removes a folder tree (rm -rf). Returns 0 or -1. */
int qmt_rmtree(const char *path);
/* A TCP port on 127.0.0.1 that was free a moment ago; 0 on failure. Ports are
 * never handed out twice by one process. */
int qmt_free_port(void);
/* Waits until 127.0.0.1:port accepts a connection or timeout_ms passes.
 * Returns 0 when the port is up, -1 on time-out. */
int qmt_wait_port(int port, int timeout_ms);
/* Starts argv[0] (searched in PATH) with argv in its own process group,
 * stdout and stderr appended to logpath (or /dev/null when NULL); envp
 * entries ("K=V") are added to the environment. Returns the pid or -1. The
 * process is registered and killed by qmt_stop_all at exit. */
pid_t qmt_spawn(char *const argv[], char *const envp[], const char *logpath);
/* Sends SIGTERM to the process group, waits up to 5 s, then SIGKILL; reaps
 * it. Returns the exit status as waitpid reports it, or -1. */
int qmt_stop(pid_t pid);
/* Stops every process started by qmt_spawn that is still running. Also runs
 * from atexit and on SIGINT/SIGTERM/SIGABRT so that no server outlives a test.
 */
void qmt_stop_all(void);
/* Runs a command to completion (argv as for qmt_spawn); returns its exit
 * code, or -1 if it could not run or died from a signal. */
int qmt_run(char *const argv[], const char *logpath);
/* Writes a whole file; returns 0 or -1. */
int qmt_write_file(const char *path, const char *text);
/* Reads a whole file (at most 256 MiB) into a malloc'd, NUL-terminated
 * buffer; *len (may be NULL) gets its length. NULL on failure. */
char *qmt_read_file(const char *path, size_t *len);
/* n bytes of a fixed pseudo-random pattern (xorshift32 from seed): test
 * data that differs per seed and does not compress; malloc'd, NULL when
 * out of memory. */
unsigned char *qmt_bytes(size_t n, unsigned seed);
/*
 * Runs the qmail program of the build tree (or $QMT_QMAIL: an installed
 * one, a name searched in PATH) as a person would: qmail
 * --home home -q and the n arguments (qmt_qmail_va: a NULL-terminated
 * list of const char *). The passphrase comes from the environment
 * (QMAIL_PASSPHRASE_FILE). What it printed, stdout and stderr, goes into
 * *out (malloc'd, "" when nothing; out may be NULL). Returns its exit
 * code, or -1 when it could not run.
 */
int qmt_qmail(const char *home, char **out, const char *const *args, size_t n);
int qmt_qmail_va(const char *home, char **out, va_list ap);
/* The source folder (QM_SOURCE_DIR set by CTest) and build folder. */
const char *qmt_source_dir(void);
const char *qmt_binary_dir(void);
/* Prints the last 3,000 bytes of a log file to stderr (a server that did
 * not start, a command that failed); nothing when it cannot be read. */
void qmt_show_log(const char *path);

/*
 * Throw-away certificates for the test servers, made with the openssl
 * command (EC P-256 keys, valid 2 days); openssl's output is appended to
 * DIR/openssl.log, whose tail is shown on failure.
 */
struct qmt_ca {
	char crt[512]; /* the CA certificate (PEM): what a client trusts */
	char key[512]; /* its private key: to sign server certificates */
};
/* Makes a CA named "CN=cn" in dir: dir/NAME.crt and dir/NAME.key, their
 * paths into *ca. Returns 0 or -1. */
int qmt_ca_make(struct qmt_ca *ca, const char *dir, const char *name,
                const char *cn);
/* Signs with ca a server certificate ("CN=cn", serverAuth) for the DNS
 * names dns and the IP addresses ips (NULL-terminated lists, either may be
 * NULL): dir/server.crt and its key dir/server.key (dir also gets
 * server.csr, server.ext and ca.srl). Returns 0 or -1. */
int qmt_ca_sign_server(const struct qmt_ca *ca, const char *dir, const char *cn,
                       const char *const *dns, const char *const *ips);

#endif
