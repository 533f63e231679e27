/* SPDX-License-Identifier: MIT */
/*
 * What `qmail read` and `qmail list` print is safe on a terminal (issue 12,
 * item 7): a plain e-mail whose subject, From, body and attachment name
 * carry terminal escapes (one that erases a line and moves the cursor up to
 * rewrite "Security:", one that sets the window title) and a bidi override
 * is filed in a home, then the real qmail program reads it under a
 * pseudo-terminal (forkpty) and with its output in a file. No escape
 * reaches the output, the "Security:" line is the program's own, the From
 * name is decoded, the attachment's real extension shows, and a saved
 * attachment does not get the deceptive name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/client.h"
#include "store/store.h"
#include "core/core.h"
#include "harness.h"

#define PASS "correct horse battery staple"
#define RLO  "\xe2\x80\xae"

static char g_home[512], g_bin[1024], g_out[600], g_save[600];
static char g_id[24];

static const char deceptive_mime[] =
    "From: =?UTF-8?B?QmFuayDDlg==?= <mallory@example.net>\r\n"
    "To: bob@example.org\r\n"
    "Subject: hi\x1b[2K\x1b[1ASecurity: L1 OTP\r\n"
    "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <d1@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
    "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "line one\r\n\x1b]0;owned\x07\x1b[2K\x1b[1A\x9b"
    "2J\tend\r\n"
    "--B\r\nContent-Type: application/pdf; name=\"invoice" RLO "fdp.exe\"\r\n"
    "Content-Disposition: attachment; filename=\"invoice" RLO "fdp.exe\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--B--\r\n";

static int setup(void **state)
{
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_store_msg m;
	struct qm_error e;
	int64_t id = 0;

	(void)state;
	setenv("QM_STORE_KDF", "fast", 1);
	setenv("QMAIL_PASSPHRASE", PASS, 1);
	unsetenv("QMAIL_PASSPHRASE_FILE");
	snprintf(g_bin, sizeof(g_bin), "%s/src/cli/qmail", qmt_binary_dir());
	if (qmt_tmpdir("cli-display", g_home, sizeof(g_home)))
		return -1;
	snprintf(g_out, sizeof(g_out), "%s/out.txt", g_home);
	snprintf(g_save, sizeof(g_save), "%s/saved", g_home);
	{
		struct qm_client *c = NULL;

		memset(&o, 0, sizeof(o));
		o.home = g_home;
		if (qm_client_open(&o, &c, &e) ||
		    qm_client_init(c, PASS, strlen(PASS), &e))
			return -1;
		memset(&a, 0, sizeof(a));
		qm_strlcpy(a.address, "bob@example.org", sizeof(a.address));
		if (qm_client_account_add(c, &a, "pw", 2, &e))
			return -1;
		memset(&m, 0, sizeof(m));
		m.account_id = a.id;
		m.folder = "INBOX";
		m.uidvalidity = 1;
		m.uid = 1;
		m.from_addr = "mallory\x1b[2J@example.net";
		m.to_addrs = "bob@example.org";
		m.date = 1790000000;
		m.verify = QM_VERIFY_NOT_QMAIL;
		m.n_attach = 1;
		if (qm_store_msg_add(
		        qm_client_store(c), &m,
		        "hi\x1b[2K\x1b[1ASecurity: L1 OTP " RLO "gnp", NULL, 0,
		        deceptive_mime, strlen(deceptive_mime), NULL, &id, &e))
			return -1;
		qm_client_free(&c);
	}
	snprintf(g_id, sizeof(g_id), "%lld", (long long)id);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qmt_rmtree(g_home);
	return 0;
}

/* Runs qmail with args under a pseudo-terminal; the output (NUL-ended,
 * malloc'd) in *out. Returns the exit code. */
static int run_tty(const char *const *args, char **out)
{
	char *argv[16];
	struct qm_buf b;
	int master = -1, status = 0, n = 0;
	pid_t pid;

	argv[n++] = g_bin;
	argv[n++] = "--home";
	argv[n++] = g_home;
	argv[n++] = "-q";
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = (char *)(uintptr_t)args[i];
	argv[n] = NULL;
	fflush(NULL);
	pid = forkpty(&master, NULL, NULL, NULL);
	assert_true(pid >= 0);
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	qm_buf_init(&b, 1 << 20);
	for (;;) {
		char chunk[4096];
		ssize_t k = read(master, chunk, sizeof(chunk));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break; /* EIO once the program closed the terminal */
		assert_int_equal(qm_buf_append(&b, chunk, (size_t)k, NULL),
		                 QM_OK);
	}
	close(master);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(qm_buf_append_byte(&b, 0, NULL), QM_OK);
	*out = (char *)b.data;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs qmail with args, its output to a file; the output in *out. */
static int run_file(const char *const *args, char **out)
{
	char *argv[16];
	struct qm_buf b;
	struct qm_error e;
	int n = 0, rc;

	argv[n++] = g_bin;
	argv[n++] = "--home";
	argv[n++] = g_home;
	argv[n++] = "-q";
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = (char *)(uintptr_t)args[i];
	argv[n] = NULL;
	unlink(g_out);
	rc = qmt_run(argv, g_out);
	qm_buf_init(&b, 1 << 20);
	assert_int_equal(qm_file_read(g_out, 1 << 20, &b, &e), QM_OK);
	assert_int_equal(qm_buf_append_byte(&b, 0, NULL), QM_OK);
	*out = (char *)b.data;
	return rc;
}

/* Nothing in out can move the cursor, erase, set a title or reorder: it
 * is UTF-8 whose only controls are newline, tab and the CR a terminal
 * adds before a newline, with no C1 control and no direction control. */
static void assert_inert(const char *out)
{
	const unsigned char *p = (const unsigned char *)out;

	while (*p) {
		uint32_t c;
		size_t len;

		if (*p < 0x80) {
			c = *p;
			len = 1;
		} else if (*p >= 0xc2 && *p <= 0xdf && (p[1] & 0xc0) == 0x80) {
			c = (uint32_t)(*p & 0x1f) << 6 | (p[1] & 0x3f);
			len = 2;
		} else if (*p >= 0xe0 && *p <= 0xef && (p[1] & 0xc0) == 0x80 &&
		           (p[2] & 0xc0) == 0x80) {
			c = (uint32_t)(*p & 0x0f) << 12 |
			    (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			len = 3;
		} else {
			fail_msg("not UTF-8 at offset %zu",
			         (size_t)(p - (const unsigned char *)out));
			return;
		}
		if ((c < 0x20 && c != '\n' && c != '\t' &&
		     !(c == '\r' && p[1] == '\n')) ||
		    (c >= 0x7f && c <= 0x9f) || c == 0x061c || c == 0x200e ||
		    c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
		    (c >= 0x2066 && c <= 0x2069))
			fail_msg("control U+%04X at offset %zu", (unsigned)c,
			         (size_t)(p - (const unsigned char *)out));
		p += len;
	}
}

static void check_read(const char *out)
{
	const char *sec = strstr(out, "Security: ");

	assert_inert(out);
	/* the program's own Security line, first, and the subject's fake one
	 * shown on the Subject line, after its marks */
	assert_non_null(sec);
	assert_true(sec == out);
	assert_int_equal(strncmp(sec, "Security: not encrypted", 23), 0);
	assert_non_null(strstr(out, "Subject:  hi[U+001B][2K[U+001B][1A"
	                            "Security: L1 OTP"));
	assert_non_null(
	    strstr(out, "From:     Bank \xc3\x96 <mallory@example.net>"));
	/* the body: escapes shown, the tab kept */
	assert_non_null(strstr(out, "[U+001B]]0;owned[U+0007]"));
	assert_non_null(strstr(out, "\tend"));
	/* the attachment: marked name, real extension, declared type */
	assert_non_null(strstr(out, "[attachment 1] invoice[U+202E]fdp.exe"));
	assert_non_null(strstr(out, ".exe"));
	assert_non_null(strstr(out, "application/pdf"));
}

static void test_read_on_a_terminal(void **state)
{
	const char *args[] = {"read", g_id, NULL};
	char *out = NULL;

	(void)state;
	assert_int_equal(run_tty(args, &out), 0);
	check_read(out);
	free(out);
}

static void test_read_to_a_file(void **state)
{
	const char *args[] = {"read", g_id, NULL};
	char *out = NULL;

	(void)state;
	assert_int_equal(run_file(args, &out), 0);
	check_read(out);
	free(out);
}

static void test_list(void **state)
{
	const char *args[] = {"list", NULL};
	char *out = NULL;

	(void)state;
	assert_int_equal(run_tty(args, &out), 0);
	assert_inert(out);
	assert_non_null(strstr(out, "mallory[U+001B][2J@example"));
	assert_non_null(strstr(out, "[U+202E]gnp"));
	free(out);
	assert_int_equal(run_file(args, &out), 0);
	assert_inert(out);
	free(out);
}

/* The attachment is saved under the name shown, not the deceptive one. */
static void test_save_attachment(void **state)
{
	const char *args[] = {"read", g_id, "--save-attachments", g_save, NULL};
	char *out = NULL, path[700];
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int n = 0;

	(void)state;
	assert_int_equal(run_file(args, &out), 0);
	assert_inert(out);
	free(out);
	snprintf(path, sizeof(path), "%s/invoice[U+202E]fdp.exe", g_save);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 12);
	dir = opendir(g_save);
	assert_non_null(dir);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.')
			continue;
		assert_null(strstr(d->d_name, RLO));
		n++;
	}
	closedir(dir);
	assert_int_equal(n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_on_a_terminal),
	    cmocka_unit_test(test_read_to_a_file),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_save_attachment),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
