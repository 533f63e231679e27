/* SPDX-License-Identifier: MIT */
/*
 * The sent journal: outbox entries the SMTP server accepted while the store
 * could not record it (the disk filled between the "250" and the write).
 * Such a message must not be sent again, not even by a process started
 * after this one died, so the fact goes to a small file in the home whose
 * blocks were reserved beforehand (posix_fallocate): overwriting reserved
 * blocks needs no free space, so the journal can be written when the
 * database cannot. The next time the outbox is worked (under its lock) the
 * entries are recorded as sent in the store and their slots cleared.
 *
 * Layout of <home>/outbox.sent: SENTLOG_SLOTS slots of 8 bytes, each an
 * outbox ID in little-endian order, 0 for an empty slot. It holds outbox IDs
 * only, nothing secret. Only touched under the outbox lock.
 */
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SENTLOG_NAME "outbox.sent"
#define SENTLOG_SLOTS 512
#define SENTLOG_SIZE (SENTLOG_SLOTS * 8)

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void sentlog_path(const struct qm_client *c, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", c->home, SENTLOG_NAME);
}

/* Opens the journal (creating it when create is set); -1 with err set. */
static int sentlog_fd(const struct qm_client *c, int create,
                      struct qm_error *err)
{
	char path[PATH_MAX + 32];
	int fd;

	sentlog_path(c, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (fd < 0 && !(errno == ENOENT && !create))
		qm_error_set(err, QM_ERR_IO, "sent journal %s: %s", path,
		             strerror(errno));
	return fd;
}

static enum qm_err sentlog_read(int fd, unsigned char *b,
                                const struct qm_client *c,
                                struct qm_error *err)
{
	ssize_t r;

	memset(b, 0, SENTLOG_SIZE);
	do
		r = pread(fd, b, SENTLOG_SIZE, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return qm_error_set(err, QM_ERR_IO,
		                    "reading the sent journal in %s: %s", c->home,
		                    strerror(errno));
	return QM_OK; /* a short file reads as empty slots past its end */
}

static enum qm_err slot_write(int fd, size_t slot, uint64_t v,
                              const struct qm_client *c, struct qm_error *err)
{
	unsigned char b[8];
	ssize_t w;

	put_le64(b, v);
	do
		w = pwrite(fd, b, sizeof(b), (off_t)(slot * 8));
	while (w < 0 && errno == EINTR);
	if (w != (ssize_t)sizeof(b) || fdatasync(fd) != 0)
		return qm_error_set(err, QM_ERR_IO,
		                    "writing the sent journal in %s: %s", c->home,
		                    w < 0 || errno ? strerror(errno)
		                                   : "short write");
	return QM_OK;
}

enum qm_err client_sentlog_prepare(struct qm_client *c, struct qm_error *err)
{
	int fd = sentlog_fd(c, 1, err);
	int r;

	if (fd < 0)
		return QM_ERR_IO;
	/* reserves the blocks now; a no-op once they are */
	r = posix_fallocate(fd, 0, SENTLOG_SIZE);
	close(fd);
	if (r != 0)
		return qm_error_set(err, QM_ERR_IO,
		                    "reserving the sent journal in %s: %s", c->home,
		                    strerror(r));
	return QM_OK;
}

enum qm_err client_sentlog_add(struct qm_client *c, int64_t id,
                               struct qm_error *err)
{
	unsigned char b[SENTLOG_SIZE];
	struct stat st;
	enum qm_err rc;
	int fd = sentlog_fd(c, 0, err);

	if (fd < 0)
		return qm_error_set(err, QM_ERR_IO,
		                    "the sent journal in %s was never reserved",
		                    c->home);
	/* only the reserved blocks may be written: never grow the file */
	if (fstat(fd, &st) != 0 || st.st_size < SENTLOG_SIZE ||
	    (uint64_t)st.st_blocks * 512u < SENTLOG_SIZE) {
		close(fd);
		return qm_error_set(err, QM_ERR_IO,
		                    "the sent journal in %s is not reserved",
		                    c->home);
	}
	rc = sentlog_read(fd, b, c, err);
	for (size_t i = 0; !rc && i < SENTLOG_SLOTS; i++) {
		uint64_t v = get_le64(b + i * 8);

		if (v == (uint64_t)id)
			goto done; /* there already */
		if (v == 0) {
			rc = slot_write(fd, i, (uint64_t)id, c, err);
			goto done;
		}
	}
	if (!rc)
		rc = qm_error_set(err, QM_ERR_TOOBIG,
		                  "the sent journal in %s is full (%d messages "
		                  "sent but not recorded): free disk space",
		                  c->home, SENTLOG_SLOTS);
done:
	close(fd);
	return rc;
}

enum qm_err client_sentlog_flush(struct qm_client *c, size_t *n_recorded,
                                 struct qm_error *err)
{
	unsigned char b[SENTLOG_SIZE];
	enum qm_err rc;
	size_t done = 0;
	int fd = sentlog_fd(c, 0, err);

	if (n_recorded)
		*n_recorded = 0;
	if (fd < 0)
		return errno == ENOENT ? QM_OK : QM_ERR_IO;
	rc = sentlog_read(fd, b, c, err);
	for (size_t i = 0; !rc && i < SENTLOG_SLOTS; i++) {
		uint64_t v = get_le64(b + i * 8);
		struct qm_error e;
		enum qm_err s;

		if (v == 0)
			continue;
		qm_error_clear(&e);
		s = v > INT64_MAX ? QM_ERR_NOTFOUND
		                  : qm_store_outbox_sent(c->store, (int64_t)v,
		                                         "250 accepted", &e);
		if (s && s != QM_ERR_STATE && s != QM_ERR_NOTFOUND) {
			if (err)
				*err = e;
			qm_error_prefix(err,
			                "outbox message %llu was sent but cannot "
			                "be recorded yet: ",
			                (unsigned long long)v);
			rc = s;
			break;
		}
		rc = slot_write(fd, i, 0, c, err);
		if (!rc)
			done++;
	}
	close(fd);
	if (n_recorded)
		*n_recorded = done;
	return rc;
}
