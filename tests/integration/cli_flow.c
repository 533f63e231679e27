/* SPDX-License-Identifier: MIT */
/*
 * The qmail command line end to end: two people set QMail up with the
 * program alone (init, account add, contact add, keys export/import/verify,
 * account test, kme status), then alice sends at level 2 with an
 * attachment and bob syncs, lists, reads and saves the attachment, and
 * replies at level 3. Exit codes are checked, and the help of every
 * command. Then bob handles his mail on the server from the command line
 * (issue 14): folders, threads and sorting, flags, folder create/rename/
 * delete, move, archive, junk and back, delete to Trash and for good,
 * each checked with a second IMAP client.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "world.h"

static struct world W;
static char qmail_bin[600], homes[2][600], pwfile[600];
static char *last_out; /* what the last qm() or qmv() printed */

/* Runs qmail with home h and the arguments (NULL-terminated); what it
 * printed is output()'s. Returns the exit code. */
static int qm(int h, ...)
{
	va_list ap;
	int rc;

	free(last_out);
	va_start(ap, h);
	rc = qmt_qmail_va(homes[h], &last_out, ap);
	va_end(ap);
	/* what a failed command said, for the log of a failed test */
	if (rc != 0)
		print_message("qmail exited %d:\n%s\n", rc,
		              last_out ? last_out : "");
	return rc;
}

static int qmv(int h, const char **args, int nargs)
{
	free(last_out);
	return qmt_qmail(homes[h], &last_out, args, (size_t)nargs);
}

static char *output(void)
{
	return strdup(last_out ? last_out : "");
}

static int group_setup(void **state)
{
	(void)state;
	if (world_setup(&W, "cli", NULL))
		return -1;
	if (W.skipped)
		return 0;
	snprintf(qmail_bin, sizeof(qmail_bin), "%s/src/cli/qmail",
	         qmt_binary_dir());
	for (int i = 0; i < 2; i++)
		snprintf(homes[i], sizeof(homes[i]), "%s/cli-home-%d",
		         W.mail.dir, i);
	snprintf(pwfile, sizeof(pwfile), "%s/passphrase", W.mail.dir);
	qmt_write_file(pwfile, "a long passphrase for the CLI test\n");
	setenv("QMAIL_PASSPHRASE_FILE", pwfile, 1);
	setenv("QM_STORE_KDF", "fast", 1);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	/* an agent a failed test left running goes with the world */
	if (!W.skipped)
		QM_IGNORE(qm(0, "lock", NULL));
	free(last_out);
	last_out = NULL;
	world_stop(&W);
	return 0;
}

static void test_help(void **state)
{
	static const char *const cmds[] = {
	    "init",    "account", "contact", "send",  "reply", "sync",
	    "list",    "read",    "outbox",  "keys",  "kme",   "web",
	    "passwd",  "folders", "folder",  "flag",  "move",  "copy",
	    "archive", "junk",    "unjunk",  "delete", "search"};
	char *o;

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(qm(0, "--help", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "Exit codes"));
	free(o);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		assert_int_equal(qm(0, cmds[i], "--help", NULL), 0);
		o = output();
		assert_non_null(strstr(o, "usage: qmail"));
		free(o);
	}
	assert_int_equal(qm(0, "no-such-command", NULL), 2);
	assert_int_equal(qm(0, "send", "--level", "7", NULL), 2);
}

static void test_setup_two_people(void **state)
{
	char keyfile[2][700], *o, fpr[2][128];

	(void)state;
	if (W.skipped)
		skip();
	for (int u = 0; u < 2; u++) {
		const char *args[48];
		int n = 0;

		assert_int_equal(qm(u, "init", NULL), 0);
		args[n++] = "account";
		args[n++] = "add";
		n += world_account_args(&W, u, args + n);
		assert_int_equal(qmv(u, args, n), 0);
		/* no contact yet: the KME is reachable, the test says how to
		 * see a key pool */
		assert_int_equal(qm(u, "account", "test", NULL), 0);
		o = output();
		assert_non_null(strstr(o, "no contact with an SAE ID"));
		free(o);
		/* the wrong passphrase is refused with exit code 3 */
		setenv("QMAIL_PASSPHRASE_FILE", "/dev/null", 1);
		assert_int_equal(qm(u, "account", "list", NULL), 0);
		assert_int_equal(qm(u, "keys", NULL), 3);
		setenv("QMAIL_PASSPHRASE_FILE", pwfile, 1);
		assert_int_equal(qm(u, "keys", "fingerprint", NULL), 0);
		o = output();
		qm_strlcpy(fpr[u], o, sizeof(fpr[u]));
		fpr[u][strcspn(fpr[u], "\n")] = '\0';
		free(o);
		snprintf(keyfile[u], sizeof(keyfile[u]), "%s/key-%d.txt",
		         W.mail.dir, u);
		assert_int_equal(qm(u, "keys", "export", NULL), 0);
		o = output();
		assert_non_null(strstr(o, fpr[u]));
		qmt_write_file(keyfile[u], o);
		free(o);
	}
	for (int u = 0; u < 2; u++) {
		int other = 1 - u;

		assert_int_equal(
		    qm(u, "contact", "add",
		       other ? qmt_mail_addr(W_BOB) : qmt_mail_addr(W_ALICE),
		       "--sae", W.sae[other], NULL),
		    0);
		assert_int_equal(qm(u, "keys", "import", keyfile[other], NULL),
		                 0);
		/* a wrong fingerprint is refused */
		assert_int_not_equal(
		    qm(u, "keys", "verify", qmt_mail_addr(other),
		       "0000 0000 0000 0000 0000 0000 0000 0000", NULL),
		    0);
		assert_int_equal(qm(u, "keys", "verify", qmt_mail_addr(other),
		                    fpr[other], NULL),
		                 0);
	}
	/* a wrong password is reported by the test; putting the right one
	 * back with `account secret` mends it */
	{
		char bad[700], good[700];

		snprintf(bad, sizeof(bad), "%s/wrong-pw", W.mail.dir);
		snprintf(good, sizeof(good), "%s/pw-%d", W.mail.dir, W_ALICE);
		qmt_write_file(bad, "not the password\n");
		assert_int_equal(qm(0, "account", "secret",
		                    qmt_mail_addr(W_ALICE), "--password-file",
		                    bad, NULL),
		                 0);
		assert_int_not_equal(qm(0, "account", "test", NULL), 0);
		o = output();
		assert_non_null(strstr(o, "FAIL"));
		free(o);
		assert_int_equal(qm(0, "account", "secret",
		                    qmt_mail_addr(W_ALICE), "--password-file",
		                    good, NULL),
		                 0);
	}
	assert_int_equal(qm(0, "account", "test", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "SMTP"));
	assert_non_null(strstr(o, "KME"));
	assert_null(strstr(o, "FAIL"));
	free(o);
	assert_int_equal(qm(0, "kme", "status", "--peer", W.sae[W_BOB], NULL),
	                 0);
	o = output();
	assert_non_null(strstr(o, "pool:"));
	assert_non_null(strstr(o, "QBER"));
	free(o);
}

static void test_send_read_reply(void **state)
{
	char body[700], att[700], dir[700], saved[800], *o;
	const char *line;
	char id[32];

	(void)state;
	if (W.skipped)
		skip();
	snprintf(body, sizeof(body), "%s/body.txt", W.mail.dir);
	snprintf(att, sizeof(att), "%s/plan.txt", W.mail.dir);
	snprintf(dir, sizeof(dir), "%s/saved", W.mail.dir);
	qmt_write_file(body, "Meet at the lab at nine. CLI-MARKER-42\n");
	qmt_write_file(att, "the plan, in an attachment\n");
	assert_int_equal(qm(0, "send", "--to", qmt_mail_addr(W_BOB),
	                    "--subject", "CLI at level 2", "--body-file", body,
	                    "--attach", att, "--level", "2", NULL),
	                 0);
	o = output();
	assert_non_null(strstr(o, "level 2"));
	free(o);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, 1, 30000) >= 1);
	assert_int_equal(qm(1, "sync", NULL), 0);
	assert_int_equal(qm(1, "list", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "CLI at level 2"));
	assert_non_null(strstr(o, "L2-QAES"));
	line = strstr(o, "CLI at level 2");
	while (line > o && line[-1] != '\n')
		line--;
	qm_strlcpy(id, line, sizeof(id));
	id[strspn(id, " 0123456789")] = '\0';
	/* the text shows in the list only when asked for (issue 16) */
	assert_null(strstr(o, "CLI-MARKER-42"));
	free(o);
	assert_int_equal(qm(1, "list", "--snippets", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "\n        Meet at the lab at nine. "
	                          "CLI-MARKER-42\n"));
	free(o);
	{
		char *p = id;
		while (*p == ' ')
			p++;
		memmove(id, p, strlen(p) + 1);
		id[strcspn(id, " ")] = '\0';
	}
	assert_int_equal(qm(1, "read", id, "--save-attachments", dir, NULL), 0);
	o = output();
	assert_non_null(strstr(o, "CLI-MARKER-42"));
	assert_non_null(strstr(o, "L2 QKD-AES"));
	assert_non_null(strstr(o, "Key IDs:"));
	free(o);
	snprintf(saved, sizeof(saved), "%s/plan.txt", dir);
	{
		size_t len = 0;
		unsigned char *d = qmt_mail_read(saved, &len);
		assert_non_null(d);
		assert_string_equal((char *)d, "the plan, in an attachment\n");
		free(d);
	}
	/* bob answers at level 3 */
	qmt_write_file(body, "Nine is fine. REPLY-MARKER\n");
	assert_int_equal(
	    qm(1, "reply", id, "--body-file", body, "--level", "3", NULL), 0);
	assert_true(qmt_mail_wait_files(&W.mail, W_ALICE, NULL, 1, 30000) >= 1);
	assert_int_equal(qm(0, "sync", NULL), 0);
	assert_int_equal(qm(0, "list", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "Re: CLI at level 2"));
	assert_non_null(strstr(o, "L3-PQC"));
	free(o);
	assert_int_equal(qm(0, "outbox", NULL), 0);
}

/* Two processes sync the same home at once (docs/CLIENT.md, "Syncing": the
 * GUI's background sync and `qmail sync`): every message is decrypted once,
 * by one of them, and none is recorded as unreadable. */
static void test_two_syncs_one_home(void **state)
{
	char *argv[8], log[700], *o;
	int have, status = -1;
	pid_t pid;

	(void)state;
	if (W.skipped)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	for (int i = 0; i < 3; i++) {
		char subj[64];

		snprintf(subj, sizeof(subj), "concurrent sync %d", i);
		assert_int_equal(qm(0, "send", "--to", qmt_mail_addr(W_BOB),
		                    "--subject", subj, "--level", "2",
		                    "--body-file", "/dev/null", NULL),
		                 0);
	}
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 3,
	                                30000) >= have + 3);
	snprintf(log, sizeof(log), "%s/sync2.log", W.mail.dir);
	argv[0] = qmail_bin;
	argv[1] = "--home";
	argv[2] = homes[1];
	argv[3] = "-q";
	argv[4] = "sync";
	argv[5] = NULL;
	pid = qmt_spawn(argv, NULL, log);
	assert_true(pid > 0);
	assert_int_equal(qm(1, "sync", NULL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	qmt_stop(pid); /* already reaped: only forgets it */
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(qm(1, "list", "--limit", "100", NULL), 0);
	o = output();
	for (int i = 0; i < 3; i++) {
		char subj[64];
		char *hit;

		snprintf(subj, sizeof(subj), "concurrent sync %d", i);
		hit = strstr(o, subj);
		assert_non_null(hit);
		assert_null(strstr(hit + 1, subj));
	}
	assert_null(strstr(o, "no-key"));
	assert_null(strstr(o, "TAMPERED"));
	free(o);
}

/*
 * The GUI sends a large message while `qmail outbox run` starts again and
 * again on the same home. Each start used to recover the outbox as after a
 * crash, turning the other process's message in flight (SENDING) into a
 * retry that it then sent a second time. Now the outbox is worked under a
 * lock and recovered only by the process holding it: the message is sent
 * once, in one attempt.
 */
static void test_two_senders_one_home(void **state)
{
	char *argv[20], log[700], att[700], *o, *hit;
	unsigned char *blob;
	size_t blen = 6u << 20;
	int have, status = -1, runs = 0, during = 0;
	pid_t pid, w = 0;

	(void)state;
	if (W.skipped)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	snprintf(att, sizeof(att), "%s/big.bin", W.mail.dir);
	blob = malloc(blen);
	assert_non_null(blob);
	for (size_t i = 0; i < blen; i++)
		blob[i] = (unsigned char)(i * 2654435761u >> 13);
	assert_int_equal(qmt_write_file(att, ""), 0);
	assert_int_equal(qmt_mail_rewrite(att, blob, blen), 0);
	free(blob);
	/* the key from an agent: each outbox run then starts in
	 * milliseconds, not after Argon2id (seconds under a sanitizer, longer
	 * than the whole send), so runs begin and end during the send */
	assert_int_equal(qm(0, "unlock", "--for", "2m", NULL), 0);
	snprintf(log, sizeof(log), "%s/send2.log", W.mail.dir);
	argv[0] = qmail_bin;
	argv[1] = "--home";
	argv[2] = homes[0];
	argv[3] = "-q";
	argv[4] = "send";
	argv[5] = "--to";
	argv[6] = (char *)(uintptr_t)qmt_mail_addr(W_BOB);
	argv[7] = "--subject";
	argv[8] = "two senders";
	argv[9] = "--level";
	argv[10] = "4";
	argv[11] = "--attach";
	argv[12] = att;
	argv[13] = "--body-file";
	argv[14] = "/dev/null";
	argv[15] = NULL;
	pid = qmt_spawn(argv, NULL, log);
	assert_true(pid > 0);
	/* the other process starts and works the outbox while the send is
	 * under way (each start used to run the crash recovery) */
	while ((w = waitpid(pid, &status, WNOHANG)) == 0) {
		assert_int_equal(qm(0, "outbox", "run", NULL), 0);
		runs++;
		if (waitpid(pid, &status, WNOHANG) == 0)
			during++;
		else
			break;
	}
	if (w == 0)
		w = pid;
	qmt_stop(pid); /* already reaped: only forgets it */
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != 0) {
		size_t len = 0;
		unsigned char *d = qmt_mail_read(log, &len);

		fprintf(stderr, "qmail send: %.*s\n", (int)len,
		        d ? (const char *)d : "");
		free(d);
	}
	assert_int_equal(WEXITSTATUS(status), 0);
	/* the race was really run: outbox runs began and ended while the
	 * sender was still at work */
	assert_true(during >= 1);
	assert_true(runs >= 1);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1,
	                                60000) >= have + 1);
	/* once, in one attempt: a second attempt is a second copy */
	assert_int_equal(qm(0, "outbox", "list", NULL), 0);
	o = output();
	{
		/* the newest entry (highest ID) is this message */
		const char *line = o, *best = NULL;
		long long bid = 0;

		while (line && *line) {
			long long id = strtoll(line, NULL, 10);

			if (id > bid) {
				bid = id;
				best = line;
			}
			line = strchr(line, '\n');
			line = line ? line + 1 : NULL;
		}
		assert_non_null(best);
		assert_true(strncmp(strstr(best, "sent"), "sent", 4) == 0);
		assert_non_null(strstr(best, "attempts 1"));
		assert_true(strstr(best, "attempts 1") < strchr(best, '\n'));
		assert_true(strstr(best, "sent") < strchr(best, '\n'));
	}
	free(o);
	assert_int_equal(qm(0, "lock", NULL), 0);
	assert_int_equal(qm(1, "sync", NULL), 0);
	assert_int_equal(qm(1, "list", "--limit", "200", NULL), 0);
	o = output();
	hit = strstr(o, "two senders");
	assert_non_null(hit);
	assert_null(strstr(hit + 1, "two senders"));
	free(o);
}

/* Whether file path holds needle (polled by the watch test). */
static int file_has(const char *path, const char *needle)
{
	size_t len = 0;
	unsigned char *d = qmt_mail_read(path, &len);
	int hit = d && memmem(d, len, needle, strlen(needle)) != NULL;

	free(d);
	return hit;
}

/*
 * `qmail sync --watch` on Bob's home: after its first pass it waits on
 * IMAP IDLE, so a message Alice sends then is fetched and decrypted well
 * before the two-minute interval would have come round.
 */
static void test_sync_watch(void **state)
{
	char *argv[10], log[700], *o = NULL;
	uint64_t t0;
	int found = 0;
	pid_t pid;

	(void)state;
	if (W.skipped)
		skip();
	snprintf(log, sizeof(log), "%s/watch.log", W.mail.dir);
	argv[0] = qmail_bin;
	argv[1] = "--home";
	argv[2] = homes[1];
	argv[3] = "-q";
	argv[4] = "sync";
	argv[5] = "--watch";
	argv[6] = "--interval";
	argv[7] = "120";
	argv[8] = NULL;
	pid = qmt_spawn(argv, NULL, log);
	assert_true(pid > 0);
	/* the first pass is done (it always prints its line) */
	t0 = qm_mono_ns();
	while (!file_has(log, " new (") &&
	       qm_mono_ns() - t0 < 60ull * 1000000000u) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_true(file_has(log, " new ("));
	assert_int_equal(qm(0, "send", "--to", qmt_mail_addr(W_BOB),
	                    "--subject", "woken by IDLE", "--level", "3",
	                    "--body-file", "/dev/null", NULL),
	                 0);
	t0 = qm_mono_ns();
	while (!found && qm_mono_ns() - t0 < 60ull * 1000000000u) {
		struct timespec ts = {0, 250 * 1000 * 1000};

		assert_int_equal(qm(1, "list", "--limit", "20", NULL), 0);
		o = output();
		found = strstr(o, "woken by IDLE") != NULL;
		free(o);
		if (!found)
			nanosleep(&ts, NULL);
	}
	printf("  watch: fetched %.1f s after the send\n",
	       (double)(qm_mono_ns() - t0) / 1e9);
	assert_true(found);
	/* it printed the pass that fetched it (once the pass is over: the
	 * account's other folders are synced after INBOX), and is still
	 * running */
	t0 = qm_mono_ns();
	while (!file_has(log, "1 new (1 decrypted") &&
	       qm_mono_ns() - t0 < 30ull * 1000000000u) {
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_true(file_has(log, "1 new (1 decrypted"));
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
	qmt_stop(pid);
}

/* The ID of the row of the last list whose line holds text; 0 when none. */
static long long row_id(const char *text)
{
	const char *line = last_out ? strstr(last_out, text) : NULL;

	if (!line)
		return 0;
	while (line > last_out && line[-1] != '\n')
		line--;
	return strtoll(line, NULL, 10);
}

/* How many of bob's messages in folder carry Message-ID <mid@qmail.test>
 * in a second client's view. */
static int bob_has(struct qmt_imap *c2, const char *folder, const char *mid)
{
	uint32_t uids[8];

	if (qmt_imap_cmd(c2, "SELECT \"%s\"", folder) != 0)
		return -1;
	return qmt_imap_search(c2, mid, uids, 8);
}

static int on_list(struct qmt_imap *c2, const char *folder)
{
	char want[128];

	if (qmt_imap_cmd(c2, "LIST \"\" \"*\"") != 0)
		return -1;
	snprintf(want, sizeof(want), " %s\r\n", folder);
	return strstr(qmt_imap_reply(c2), want) != NULL;
}

/* Folders, threads, sort, flags, moves and deletes from the command line,
 * each seen on the server by another client. */
static void test_folders_and_moves(void **state)
{
	const char *zeb = "HEADER Message-ID <cli-zebra@qmail.test>";
	struct qmt_imap *c2;
	char msg[1024], ids[32], fl[256], *o;
	uint32_t uids[4];
	long long id;
	size_t len;

	(void)state;
	if (W.skipped)
		skip();
	c2 = qmt_imap_open(&W.mail, W_BOB);
	assert_non_null(c2);
	len = qmt_mail_message(msg, sizeof(msg), "cli thread root", "cli-root",
	                       NULL);
	assert_true(qmt_imap_append(c2, "INBOX", "", msg, len) > 0);
	len = qmt_mail_message(msg, sizeof(msg), "Re: cli thread root",
	                       "cli-reply", "cli-root");
	assert_true(qmt_imap_append(c2, "INBOX", "", msg, len) > 0);
	len = qmt_mail_message(msg, sizeof(msg), "zebra crossing", "cli-zebra",
	                       NULL);
	assert_true(qmt_imap_append(c2, "INBOX", "", msg, len) > 0);
	assert_int_equal(qm(1, "sync", NULL), 0);

	assert_int_equal(qm(1, "folders", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "INBOX"));
	assert_non_null(strstr(o, "archive"));
	assert_non_null(strstr(o, "Trash"));
	free(o);

	/* threads: the two of the conversation on one row */
	assert_int_equal(qm(1, "list", "--threads", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "cli thread root  [2 messages, 2 unread]"));
	assert_null(strstr(o, "Re: cli thread root"));
	assert_non_null(strstr(o, "zebra crossing"));
	free(o);
	assert_int_equal(qm(1, "list", "--sort", "subject", NULL), 0);
	o = output();
	assert_true(strstr(o, "cli thread root") < strstr(o, "zebra crossing"));
	free(o);
	assert_int_equal(qm(1, "list", "--sort", "colour", NULL), 2);
	assert_int_equal(qm(1, "list", NULL), 0);
	id = row_id("Re: cli thread root");
	assert_true(id > 0);
	snprintf(ids, sizeof(ids), "%lld", id);

	/* reading an unread message marks it read on the server at once */
	{
		const char *root = "HEADER Message-ID <cli-reply@qmail.test>";

		assert_int_equal(bob_has(c2, "INBOX", root), 1);
		assert_int_equal(qmt_imap_search(c2, root, uids, 4), 1);
		assert_int_equal(qmt_imap_flags(c2, uids[0], fl, sizeof(fl)),
		                 0);
		assert_null(strstr(fl, "\\Seen"));
		assert_int_equal(qm(1, "read", ids, NULL), 0);
		assert_int_equal(qmt_imap_search(c2, root, uids, 4), 1);
		assert_int_equal(qmt_imap_flags(c2, uids[0], fl, sizeof(fl)),
		                 0);
		assert_non_null(strstr(fl, "\\Seen"));
	}
	assert_int_equal(qm(1, "list", NULL), 0);
	id = row_id("zebra crossing");
	assert_true(id > 0);
	snprintf(ids, sizeof(ids), "%lld", id);

	/* flags, on the server at once */
	assert_int_equal(qm(1, "flag", ids, "--seen", "--flagged", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "on the server"));
	free(o);
	assert_int_equal(bob_has(c2, "INBOX", zeb), 1);
	assert_int_equal(qmt_imap_search(c2, zeb, uids, 4), 1);
	assert_int_equal(qmt_imap_flags(c2, uids[0], fl, sizeof(fl)), 0);
	assert_non_null(strstr(fl, "\\Flagged"));
	assert_non_null(strstr(fl, "\\Seen"));

	/* a folder of its own, and the message moved there */
	assert_int_equal(qm(1, "folder", "create", "Receipts", NULL), 0);
	assert_int_equal(on_list(c2, "Receipts"), 1);
	assert_int_equal(qm(1, "move", ids, "Receipts", NULL), 0);
	assert_int_equal(bob_has(c2, "INBOX", zeb), 0);
	assert_int_equal(bob_has(c2, "Receipts", zeb), 1);
	assert_int_equal(qm(1, "list", "--folder", "Receipts", NULL), 0);
	assert_int_equal(row_id("zebra crossing"), id);
	assert_int_equal(qm(1, "folder", "rename", "Receipts", "Bills", NULL),
	                 0);
	assert_int_equal(on_list(c2, "Receipts"), 0);
	assert_int_equal(bob_has(c2, "Bills", zeb), 1);

	/* archive, junk and back */
	assert_int_equal(qm(1, "archive", ids, NULL), 0);
	assert_int_equal(bob_has(c2, "Bills", zeb), 0);
	assert_int_equal(bob_has(c2, "Archive", zeb), 1);
	assert_int_equal(qm(1, "junk", ids, NULL), 0);
	assert_int_equal(bob_has(c2, "Junk", zeb), 1);
	assert_int_equal(qmt_imap_search(c2, zeb, uids, 4), 1);
	assert_int_equal(qmt_imap_flags(c2, uids[0], fl, sizeof(fl)), 0);
	assert_non_null(strstr(fl, "$Junk"));
	assert_int_equal(qm(1, "unjunk", ids, NULL), 0);
	assert_int_equal(bob_has(c2, "INBOX", zeb), 1);
	assert_int_equal(qm(1, "folder", "delete", "Bills", NULL), 0);
	assert_int_equal(on_list(c2, "Bills"), 0);

	/* delete: to Trash, then for good */
	assert_int_equal(qm(1, "delete", ids, NULL), 0);
	o = output();
	assert_non_null(strstr(o, "moved to Trash"));
	free(o);
	assert_int_equal(bob_has(c2, "INBOX", zeb), 0);
	assert_int_equal(bob_has(c2, "Trash", zeb), 1);
	assert_int_equal(qm(1, "delete", ids, NULL), 0);
	o = output();
	assert_non_null(strstr(o, "for good"));
	free(o);
	assert_int_equal(bob_has(c2, "Trash", zeb), 0);
	assert_int_equal(qm(1, "list", "--folder", "Trash", NULL), 0);
	assert_int_equal(row_id("zebra crossing"), 0);

	/* the server searched for what is not downloaded yet */
	len = qmt_mail_message(msg, sizeof(msg), "needle in the haystack",
	                       "cli-needle", NULL);
	assert_true(qmt_imap_append(c2, "INBOX", "", msg, len) > 0);
	assert_int_equal(qm(1, "search", "haystack", "--server", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "     -  "));
	assert_non_null(strstr(o, "needle in the haystack"));
	free(o);
	assert_int_equal(qm(1, "search", "haystack", NULL), 2);

	/* what the command line refuses */
	assert_int_equal(qm(1, "move", ids, NULL), 2);
	assert_int_equal(qm(1, "move", "abc", "Archive", NULL), 2);
	assert_int_equal(qm(1, "move", ids, "Archive", NULL), 1);
	assert_int_equal(qm(1, "folder", "delete", "INBOX", NULL), 2);
	assert_int_equal(qm(1, "folder", "explode", "x", NULL), 2);
	assert_int_equal(qm(1, "sync", NULL), 0);
	qmt_imap_close(&c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_help),
	    cmocka_unit_test(test_setup_two_people),
	    cmocka_unit_test(test_send_read_reply),
	    cmocka_unit_test(test_two_syncs_one_home),
	    cmocka_unit_test(test_two_senders_one_home),
	    cmocka_unit_test(test_sync_watch),
	    cmocka_unit_test(test_folders_and_moves),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
