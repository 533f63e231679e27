/* SPDX-License-Identifier: MIT */
/*
 * Small helpers: strict number parsing, bounded string copy, whole-file
 * reads with a limit, atomic file writes, mkdir -p, clocks.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum qm_err qm_parse_ll(const char *s, long long min, long long max,
                        long long *v, struct qm_error *err)
{
	char *end = NULL;
	long long x;

	if (!s || !*s)
		return qm_error_set(err, QM_ERR_PARSE, "expected a number");
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || !end || *end || end == s)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "\"%.40s\" is not a whole number", s);
	if (x < min || x > max)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "%lld is out of range (%lld to %lld)", x, min,
		                    max);
	*v = x;
	return QM_OK;
}

int qm_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n;

	if (size == 0)
		return -1;
	n = strnlen(src, size);
	if (n == size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

enum qm_err qm_file_read(const char *path, size_t max, struct qm_buf *out,
                         struct qm_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	enum qm_err rc = QM_OK;
	struct stat st;

	if (out->len > max)
		return qm_error_set(err, QM_ERR_INVAL, "buffer already past limit");
	if (fd < 0)
		return qm_error_set(err, errno == ENOENT ? QM_ERR_NOTFOUND
		                                         : QM_ERR_IO,
		                    "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (unsigned long long)st.st_size > max) {
		rc = qm_error_set(err, QM_ERR_TOOBIG,
		                  "%s is larger than the limit of %zu bytes", path,
		                  max);
		goto out;
	}
	for (;;) {
		size_t room = max - out->len < 65536 ? max - out->len : 65536;
		unsigned char probe;
		ssize_t n;

		if (room == 0) {
			/* at the limit: one more byte means the file is too big */
			n = read(fd, &probe, 1);
			if (n > 0) {
				rc = qm_error_set(err, QM_ERR_TOOBIG,
				                  "%s is larger than the limit of "
				                  "%zu bytes",
				                  path, max);
				goto out;
			}
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		rc = qm_buf_reserve(out, room, err);
		if (rc)
			goto out;
		n = read(fd, out->data + out->len, room);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = qm_error_set(err, QM_ERR_IO, "cannot read %s: %s",
			                  path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
	}
	if (out->data)
		out->data[out->len] = '\0';
out:
	close(fd);
	return rc;
}

enum qm_err qm_file_write_atomic(const char *path, const void *p, size_t n,
                                 unsigned mode, struct qm_error *err)
{
	char tmp[PATH_MAX];
	const unsigned char *c = p;
	int fd;
	size_t done = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	                     (long)getpid()) >= sizeof(tmp))
		return qm_error_set(err, QM_ERR_INVAL, "path too long: %s", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return qm_error_set(err, QM_ERR_IO, "cannot create %s: %s", tmp,
		                    strerror(errno));
	while (done < n) {
		ssize_t w = write(fd, c + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		fd = -1;
		goto fail;
	}
	return QM_OK;
fail: {
	int e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return qm_error_set(err, QM_ERR_IO, "cannot write %s: %s", path,
	                    strerror(e));
}
}

enum qm_err qm_mkdirs(const char *path, unsigned mode, struct qm_error *err)
{
	char tmp[PATH_MAX];
	size_t n;

	if (qm_strlcpy(tmp, path, sizeof(tmp)) != 0)
		return qm_error_set(err, QM_ERR_INVAL, "path too long: %s", path);
	n = strlen(tmp);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];
			tmp[i] = '\0';
			if (mkdir(tmp, mode) != 0 && errno != EEXIST)
				return qm_error_set(err, QM_ERR_IO,
				                    "cannot create folder %s: %s",
				                    tmp, strerror(errno));
			tmp[i] = c;
		}
	}
	return QM_OK;
}

int64_t qm_now(void)
{
	return (int64_t)time(NULL);
}

uint64_t qm_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
