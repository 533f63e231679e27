/* SPDX-License-Identifier: MIT */
/*
 * Disk full and a read-only home, during send and during sync (issue 8),
 * against the real mail servers and KMEs (world.h). Alice's and Bob's homes
 * are moved onto small tmpfs mounts inside a private mount namespace of
 * this test process (nothing is mounted for the rest of the machine, and
 * the mounts vanish with the process). "Full" is a filler file written
 * until the file system says ENOSPC; "read-only" is a remount.
 *
 * What must hold: every failure is an error that says what to do, no
 * message is lost (a send either never entered the outbox and says so, or
 * waits in it; a message that could not be stored stays on the server with
 * its keys still at the KME), and nothing arrives twice.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faultvfs.h"
#include "harness.h"
#include "world.h"

#define FS_SIZE "size=40m,mode=0700"

static struct world W;
static unsigned char *blob;
static const size_t blob_len = 2u << 20;

/* Moves user's home onto its own small tmpfs and reopens the client. */
static int home_to_tmpfs(int user)
{
	char bak[600], cmd[1400];
	struct qm_error e;

	qm_client_free(&W.c[user]);
	snprintf(bak, sizeof(bak), "%s.orig", W.homes[user]);
	if (rename(W.homes[user], bak) != 0 || mkdir(W.homes[user], 0700) != 0)
		return -1;
	if (mount("qmtest", W.homes[user], "tmpfs", 0, FS_SIZE) != 0) {
		fprintf(stderr, "fault_disk: tmpfs: %s\n", strerror(errno));
		return -1;
	}
	snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", bak, W.homes[user]);
	if (system(cmd) != 0)
		return -1;
	qm_error_clear(&e);
	if (world_reopen(&W, user, &e)) {
		fprintf(stderr, "fault_disk: reopen: %s\n", qm_error_msg(&e));
		return -1;
	}
	return 0;
}

static void filler_path(int user, char *out, size_t n)
{
	snprintf(out, n, "%s/filler", W.homes[user]);
}

/* Fills user's file system to the last block; 0 or -1 (no assert: it is
 * also called from inside a send's progress callback). */
static int fill_quiet(int user)
{
	static unsigned char chunk[1 << 16];
	char p[600];
	int fd, rc = 0;
	size_t step = sizeof(chunk);

	filler_path(user, p, sizeof(p));
	fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd < 0)
		return -1;
	memset(chunk, 0x5a, sizeof(chunk));
	while (step) {
		ssize_t w = write(fd, chunk, step);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			if (errno != ENOSPC) {
				rc = -1;
				break;
			}
			step /= 2; /* the last partial blocks */
			if (step < 512)
				break;
		}
	}
	close(fd);
	return rc;
}

static void fill(int user)
{
	assert_int_equal(fill_quiet(user), 0);
}

static void unfill(int user)
{
	char p[600];

	filler_path(user, p, sizeof(p));
	assert_int_equal(unlink(p), 0);
}

static void remount(int user, int ro)
{
	assert_int_equal(mount(NULL, W.homes[user], NULL,
	                       MS_REMOUNT | (ro ? MS_RDONLY : 0), FS_SIZE),
	                 0);
}

static int group_setup(void **state)
{
	(void)state;
	/* a private mount namespace: the tmpfs mounts are this process's */
	if (unshare(CLONE_NEWNS) != 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		fprintf(stderr,
		        "fault_disk: no mount namespace here (%s): "
		        "skipped (needs root)\n",
		        strerror(errno));
		W.skipped = 1;
		return 0;
	}
	if (qmt_faultvfs_install() != 0) {
		fprintf(stderr, "fault_disk: cannot install the fault VFS\n");
		return -1;
	}
	if (world_setup(&W, "disk", NULL))
		return -1;
	if (W.skipped)
		return 0;
	if (home_to_tmpfs(W_ALICE) || home_to_tmpfs(W_BOB))
		return -1;
	blob = malloc(blob_len);
	if (!blob)
		return -1;
	for (size_t i = 0; i < blob_len; i++)
		blob[i] = (unsigned char)((i * 2654435761u) >> 11);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!W.skipped) {
		/* the mounts go first, or world_stop cannot remove the
		 * temporary folder holding them (it was left behind) */
		qm_client_free(&W.c[W_ALICE]);
		qm_client_free(&W.c[W_BOB]);
		umount2(W.homes[W_ALICE], MNT_DETACH);
		umount2(W.homes[W_BOB], MNT_DETACH);
	}
	world_stop(&W);
	free(blob);
	return 0;
}

static enum qm_err send_one(const char *subject, int level, size_t attlen,
                            struct qm_client_sent *out, struct qm_error *e)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_client_attachment att = {"data.bin", NULL, blob, attlen,
	                                   NULL};
	struct qm_client_compose m;

	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = "disk fault test\n";
	m.att = attlen ? &att : NULL;
	m.natt = attlen ? 1 : 0;
	m.level = level;
	qm_error_clear(e);
	return qm_client_send(W.c[W_ALICE], &m, NULL, NULL, out, e);
}

/* Entries of alice's outbox in state st. */
static size_t outbox_count(int st)
{
	int64_t *ids = NULL;
	size_t n = 0;
	struct qm_error e;

	assert_int_equal(qm_store_outbox_list(qm_client_store(W.c[W_ALICE]),
	                                      W.acct[W_ALICE], st, 0, &ids, &n,
	                                      &e),
	                 QM_OK);
	free(ids);
	return n;
}

static int says_disk(const struct qm_error *e)
{
	const char *m = qm_error_msg(e);

	return strstr(m, "full") || strstr(m, "free") || strstr(m, "read-only");
}

/* Syncs bob; returns the call's result, stats in *st. */
static enum qm_err bob_sync(struct qm_client_sync_stats *st, struct qm_error *e)
{
	qm_error_clear(e);
	return qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, st, e);
}

/* Bob's mailbox on the server reaches n messages. */
static void wait_bob(int n)
{
	assert_int_equal(qmt_mail_wait_files(&W.mail, W_BOB, NULL, n, 60000),
	                 n);
}

/* Bob syncs and gets exactly one new message, decrypted and verified. */
static void bob_gets_one(void)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	assert_int_equal(bob_sync(&st, &e), QM_OK);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.tampered + st.replayed + st.errors, 0);
}

/*
 * Sending with alice's disk full: the protected message cannot enter the
 * outbox, so nothing is sent and the error says the disk is full; with
 * space again the same message goes out once.
 */
static void test_send_disk_full(void **state)
{
	struct qm_client_sent sent;
	struct qm_error e;
	size_t pending, retrying, queued;
	int have;
	enum qm_err rc;

	(void)state;
	if (W.skipped)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	pending = outbox_count(QM_OUTBOX_PENDING);
	retrying = outbox_count(QM_OUTBOX_RETRYING);
	queued = outbox_count(QM_OUTBOX_QUEUED);
	fill(W_ALICE);
	rc = send_one("full disk at send", 4, blob_len, &sent, &e);
	unfill(W_ALICE);
	assert_int_not_equal(rc, QM_OK);
	fprintf(stderr, "send with a full disk: %s\n", qm_error_msg(&e));
	assert_true(says_disk(&e));
	assert_int_equal(sent.n_outbox, 0);
	assert_int_equal(outbox_count(QM_OUTBOX_PENDING), pending);
	assert_int_equal(outbox_count(QM_OUTBOX_RETRYING), retrying);
	assert_int_equal(outbox_count(QM_OUTBOX_QUEUED), queued);

	/* space again: the user sends it again, it arrives once */
	assert_int_equal(send_one("full disk at send", 4, blob_len, &sent, &e),
	                 QM_OK);
	assert_int_equal(sent.n_sent, 1);
	wait_bob(have + 1);
	bob_gets_one();
}

/*
 * A message waits in the outbox (the mail server was down) when alice's
 * disk fills up; sending it later must neither lose it nor send it twice.
 * SQLite may still find room in its write-ahead log for the state changes
 * of a message it already holds, so either the retry works at once or it
 * fails saying the disk is full and works once there is space again; in
 * both cases bob gets exactly one copy.
 */
static void test_queued_then_disk_full(void **state)
{
	struct qm_client_sent sent;
	struct qm_error e;
	int have, ok = 0;
	enum qm_err rc;

	(void)state;
	if (W.skipped)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	assert_int_equal(qmt_mail_smtpd_stop(&W.mail), 0);
	rc =
	    send_one("queued when the disk filled", 3, blob_len / 2, &sent, &e);
	assert_int_not_equal(rc, QM_OK);
	assert_int_equal(sent.n_outbox, 1);
	assert_int_equal(sent.n_sent, 0);
	assert_int_equal(qmt_mail_smtpd_start(&W.mail), 0);
	fill(W_ALICE);
	rc = qm_client_outbox_retry(W.c[W_ALICE], sent.outbox_ids[0], &ok, &e);
	fprintf(stderr, "retry with a full disk: %s (%s)\n",
	        rc ? "failed" : "worked", rc ? qm_error_msg(&e) : "");
	if (rc) {
		assert_true(says_disk(&e));
		assert_int_equal(ok, 0);
	}
	unfill(W_ALICE);
	if (rc) {
		/* nothing went out; with space it does, once */
		assert_int_equal(qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0),
		                 have);
		qm_error_clear(&e);
		assert_int_equal(qm_client_outbox_retry(
		                     W.c[W_ALICE], sent.outbox_ids[0], &ok, &e),
		                 QM_OK);
	}
	assert_int_equal(ok, 1);
	wait_bob(have + 1);
	/* the outbox is done with it: a later run sends nothing */
	{
		size_t n_sent = 9, n_failed = 9;

		assert_int_equal(qm_client_outbox_run(W.c[W_ALICE], 0, &n_sent,
		                                      &n_failed, &e),
		                 QM_OK);
		assert_int_equal(n_sent, 0);
	}
	bob_gets_one();
}

/* Fills alice's disk and makes her database's writes fail the moment the
 * whole message went to the SMTP server, before its "250" is read. */
struct at_end {
	int armed;
	int fill_failed;
};

static void fill_at_end_of_data(void *arg, const char *what, uint64_t done,
                                uint64_t total)
{
	struct at_end *a = arg;

	if (a->armed || !what || strcmp(what, "sending") != 0 || !total ||
	    done < total)
		return;
	a->fill_failed = fill_quiet(W_ALICE) != 0;
	qmt_faultvfs_arm(1);
	a->armed = 1;
}

static int64_t outbox_state(int64_t id)
{
	struct qm_store_outbox o;
	struct qm_error e;
	int st;

	memset(&o, 0, sizeof(o));
	assert_int_equal(
	    qm_store_outbox_get(qm_client_store(W.c[W_ALICE]), id, &o, &e),
	    QM_OK);
	st = (int)o.state;
	qm_store_outbox_item_free(&o);
	return st;
}

/*
 * The disk fills after the SMTP server took the message but before QMail
 * wrote that down ("250" read, the store's write fails). The message went
 * out, so it must never go out again: not from this process, and not from
 * the next one if this one ends before the disk has room (a user closing
 * the GUI). The fact is kept in the sent journal, whose blocks were
 * reserved beforehand, so it is written although the file system is full.
 * SQLite cannot be made to fail at that instant from outside (its WAL
 * reuses blocks it holds), so the database's writes are failed by a fault
 * VFS (tests/lib/faultvfs.h) while the tmpfs is filled for real.
 */
static void test_sent_not_recorded(void **state)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_client_attachment att = {"data.bin", NULL, NULL, 256 * 1024,
	                                   NULL};
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct at_end a = {0, 0};
	struct qm_error e;
	size_t n_sent = 9, n_failed = 9;
	int have, fails;
	int64_t id;
	enum qm_err rc;

	(void)state;
	if (W.skipped)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	att.data = blob;
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = "sent while the disk filled";
	m.text = "sent once\n";
	m.att = &att;
	m.natt = 1;
	m.level = 4;
	fails = qmt_faultvfs_failures();
	qm_error_clear(&e);
	memset(&sent, 0, sizeof(sent));
	rc = qm_client_send(W.c[W_ALICE], &m, fill_at_end_of_data, &a, &sent,
	                    &e);
	assert_true(a.armed);
	assert_false(a.fill_failed);
	assert_int_not_equal(rc, QM_OK);
	fprintf(stderr, "fault_disk: the unrecorded send said: %s\n",
	        qm_error_msg(&e));
	assert_non_null(strstr(qm_error_msg(&e), "server accepted"));
	assert_true(qmt_faultvfs_failures() > fails);
	/* it went out, and the error says so (not "waits in the outbox") */
	assert_null(strstr(qm_error_msg(&e), "waits"));
	assert_int_equal(sent.n_sent, 1);
	assert_int_equal(sent.n_outbox, 1);
	id = sent.outbox_ids[0];
	wait_bob(have + 1);

	/* this process ends with the disk still full; the next one starts */
	assert_int_equal(world_reopen(&W, W_ALICE, &e), QM_OK);
	/* it cannot record the send yet, and sends nothing meanwhile */
	rc = qm_client_outbox_run(W.c[W_ALICE], 0, &n_sent, &n_failed, &e);
	assert_int_not_equal(rc, QM_OK);
	fprintf(stderr, "fault_disk: outbox run, disk still full: %s\n",
	        qm_error_msg(&e));
	assert_non_null(strstr(qm_error_msg(&e), "was sent"));
	assert_int_equal(n_sent, 0);

	/* room again: recorded as sent, and not sent a second time */
	qmt_faultvfs_arm(0);
	unfill(W_ALICE);
	qm_error_clear(&e);
	assert_int_equal(
	    qm_client_outbox_run(W.c[W_ALICE], 0, &n_sent, &n_failed, &e),
	    QM_OK);
	assert_int_equal(n_sent, 0);
	assert_int_equal(outbox_state(id), QM_OUTBOX_SENT);
	/* a second copy would take well under 5 s to arrive */
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 2, 5000), -1);
	assert_int_equal(qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0),
	                 have + 1);
	bob_gets_one();
}

/* Room again after test_sent_not_recorded, whatever it got to. */
static int after_sent_not_recorded(void **state)
{
	char p[600];

	(void)state;
	qmt_faultvfs_arm(0);
	filler_path(W_ALICE, p, sizeof(p));
	unlink(p);
	return 0;
}

/*
 * Bob's disk is full when a level-2 message arrives. The sync stops before
 * asking the KME for the message's key (which the KME would forget once
 * handed out), says how much space is missing, and leaves the message on
 * the server; with space again it is fetched, its key is still there, and
 * it is decrypted once.
 */
static void test_sync_disk_full(void **state)
{
	struct qm_client_sent sent;
	struct qm_client_sync_stats st;
	struct qm_error e;
	int have;

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(world_wait_pool(&W, W_ALICE, W_BOB, 64, 120000), 0);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	assert_int_equal(
	    send_one("arrives on a full disk", 2, blob_len, &sent, &e), QM_OK);
	wait_bob(have + 1);
	fill(W_BOB);
	assert_int_not_equal(bob_sync(&st, &e), QM_OK);
	fprintf(stderr, "sync with a full disk: %s\n", qm_error_msg(&e));
	assert_true(says_disk(&e));
	assert_int_equal(st.decrypted, 0);
	/* a second attempt, still full, changes nothing either */
	assert_int_not_equal(bob_sync(&st, &e), QM_OK);
	assert_int_equal(st.decrypted, 0);
	unfill(W_BOB);
	bob_gets_one();
	/* and only once */
	assert_int_equal(bob_sync(&st, &e), QM_OK);
	assert_int_equal(st.fetched + st.decrypted, 0);
}

/*
 * Bob's home is read-only (a full or failing disk remounted read-only, a
 * backup mount): QMail says so when it starts; the new message stays on
 * the server with its key at the KME, and once the home is writable again
 * it is fetched and decrypted once.
 */
static void test_readonly_home(void **state)
{
	struct qm_client_sent sent;
	struct qm_client_sync_stats st;
	struct qm_error e;
	int have;
	enum qm_err rc;

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(world_wait_pool(&W, W_ALICE, W_BOB, 64, 120000), 0);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	assert_int_equal(
	    send_one("arrives on a read-only home", 2, 4096, &sent, &e), QM_OK);
	wait_bob(have + 1);
	qm_client_free(&W.c[W_BOB]);
	remount(W_BOB, 1);
	qm_error_clear(&e);
	rc = world_reopen(&W, W_BOB, &e);
	if (rc == QM_OK) {
		/* opened for reading: syncing must fail clearly */
		rc = bob_sync(&st, &e);
		assert_int_equal(st.decrypted, 0);
	}
	fprintf(stderr, "read-only home: %s\n", qm_error_msg(&e));
	assert_int_not_equal(rc, QM_OK);
	assert_non_null(strstr(qm_error_msg(&e), "read-only"));
	qm_client_free(&W.c[W_BOB]);
	remount(W_BOB, 0);
	assert_int_equal(world_reopen(&W, W_BOB, &e), QM_OK);
	bob_gets_one();
}

/*
 * Alice's home is read-only when she sends: the message cannot enter the
 * outbox, the error says why, nothing is sent.
 */
static void test_readonly_send(void **state)
{
	struct qm_client_sent sent;
	struct qm_error e;
	int have;
	enum qm_err rc;

	(void)state;
	if (W.skipped)
		skip();
	have = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	qm_client_free(&W.c[W_ALICE]);
	remount(W_ALICE, 1);
	qm_error_clear(&e);
	rc = world_reopen(&W, W_ALICE, &e);
	if (rc == QM_OK)
		rc = send_one("sent from a read-only home", 4, 4096, &sent, &e);
	fprintf(stderr, "send from a read-only home: %s\n", qm_error_msg(&e));
	assert_int_not_equal(rc, QM_OK);
	assert_non_null(strstr(qm_error_msg(&e), "read-only"));
	qm_client_free(&W.c[W_ALICE]);
	remount(W_ALICE, 0);
	assert_int_equal(world_reopen(&W, W_ALICE, &e), QM_OK);
	assert_int_equal(qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0), have);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_send_disk_full),
	    cmocka_unit_test(test_queued_then_disk_full),
	    cmocka_unit_test_teardown(test_sent_not_recorded,
	                              after_sent_not_recorded),
	    cmocka_unit_test(test_sync_disk_full),
	    cmocka_unit_test(test_readonly_home),
	    cmocka_unit_test(test_readonly_send),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
