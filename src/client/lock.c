/* SPDX-License-Identifier: MIT */
/*
 * Several QMail processes may use one home at once (the GUI and the command
 * line). The store's transitions are atomic, but some work spans network
 * steps and must not be done twice at the same time: syncing an account
 * (both would ask the KME for the same keys) and working the outbox (both
 * would send one message, and one process's crash recovery would take over
 * the other's message in flight). Each is guarded by an flock() on a file
 * in the home, released by the kernel when the process dies, so a crash
 * never leaves a lock behind. Also here: the free-space check made before
 * work that cannot be undone once started.
 */
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

enum qm_err client_home_lock(struct qm_client *c, const char *name,
                             int timeout_s, const char *what, int *fd_out,
                             struct qm_error *err)
{
	char path[PATH_MAX + 64];
	uint64_t t0 = qm_mono_ns();
	int fd;

	snprintf(path, sizeof(path), "%s/%s", c->home, name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM))
		return qm_error_set(err, QM_ERR_IO,
		                    "cannot %s: the QMail home %s is read-only "
		                    "(%s); make it writable and try again",
		                    what, c->home, strerror(errno));
	if (fd < 0)
		return qm_error_set(err, QM_ERR_IO, "cannot %s: opening %s: %s",
		                    what, path, strerror(errno));
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		struct timespec ts = {0, 50 * 1000 * 1000};

		if (errno != EWOULDBLOCK && errno != EINTR) {
			int e = errno;

			close(fd);
			return qm_error_set(err, QM_ERR_IO,
			                    "cannot %s: locking %s: %s", what,
			                    path, strerror(e));
		}
		if ((qm_mono_ns() - t0) / 1000000000u >= (uint64_t)timeout_s) {
			close(fd);
			return qm_error_set(err, QM_ERR_UNAVAIL,
			                    "cannot %s: another QMail process on "
			                    "this home has been doing it for %d s; "
			                    "try again when it is done",
			                    what, timeout_s);
		}
		/* the other process holds it: look again shortly */
		nanosleep(&ts, NULL);
	}
	*fd_out = fd;
	return QM_OK;
}

void client_home_unlock(int *fd)
{
	if (*fd >= 0)
		close(*fd); /* releases the lock */
	*fd = -1;
}

enum qm_err client_home_space_check(struct qm_client *c, uint64_t need,
                                    const char *what, struct qm_error *err)
{
	struct statvfs sv;
	uint64_t avail;

	if (statvfs(c->home, &sv) != 0)
		return QM_OK; /* cannot tell: the write itself will say */
	avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	if (sv.f_flag & ST_RDONLY)
		return qm_error_set(err, QM_ERR_IO,
		                    "cannot %s: the QMail home %s is on a "
		                    "read-only file system; make it writable and "
		                    "try again",
		                    what, c->home);
	if (avail < need)
		return qm_error_set(err, QM_ERR_IO,
		                    "cannot %s: the disk holding %s has %llu KiB "
		                    "free and this needs about %llu KiB; free some "
		                    "space and try again",
		                    what, c->home,
		                    (unsigned long long)(avail / 1024),
		                    (unsigned long long)((need + 1023) / 1024));
	return QM_OK;
}
