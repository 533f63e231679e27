/* SPDX-License-Identifier: MIT */
#include "faultvfs.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

struct ffile {
	sqlite3_file base; /* must be first */
	sqlite3_file *real; /* follows this struct in the same allocation */
};

static sqlite3_vfs *g_real;
static sqlite3_vfs g_vfs;
static atomic_int g_armed, g_failures;

#define REAL(f) (((struct ffile *)(f))->real)

static int f_close(sqlite3_file *f)
{
	int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f))
	                           : SQLITE_OK;

	return rc;
}

static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), p, n, off);
}

static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
	if (atomic_load(&g_armed)) {
		atomic_fetch_add(&g_failures, 1);
		return SQLITE_FULL;
	}
	return REAL(f)->pMethods->xWrite(REAL(f), p, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	if (atomic_load(&g_armed)) {
		atomic_fetch_add(&g_failures, 1);
		return SQLITE_FULL;
	}
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int f_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int f_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int f_check(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int f_fcntl(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int f_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int f_shmmap(sqlite3_file *f, int pg, int sz, int ext,
                    void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}

static int f_shmlock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void f_shmbarrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int f_shmunmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, pp);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods g_io = {
    3,         f_close,   f_read,     f_write,      f_truncate,
    f_sync,    f_size,    f_lock,     f_unlock,     f_check,
    f_fcntl,   f_sector,  f_devchar,  f_shmmap,     f_shmlock,
    f_shmbarrier, f_shmunmap, f_fetch, f_unfetch,
};

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f,
                  int flags, int *out_flags)
{
	struct ffile *ff = (struct ffile *)f;
	int rc;

	(void)v;
	ff->real = (sqlite3_file *)(ff + 1);
	memset(ff->real, 0, (size_t)g_real->szOsFile);
	rc = g_real->xOpen(g_real, name, ff->real, flags, out_flags);
	/* xClose is called even when xOpen fails, if pMethods is set */
	ff->base.pMethods = ff->real->pMethods ? &g_io : NULL;
	return rc;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync)
{
	(void)v;
	return g_real->xDelete(g_real, name, sync);
}

static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return g_real->xAccess(g_real, name, flags, out);
}

static int v_full(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return g_real->xFullPathname(g_real, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return g_real->xDlOpen(g_real, name);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	g_real->xDlError(g_real, n, out);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return g_real->xDlSym(g_real, h, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	g_real->xDlClose(g_real, h);
}

static int v_random(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return g_real->xRandomness(g_real, n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return g_real->xSleep(g_real, us);
}

static int v_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return g_real->xCurrentTime(g_real, out);
}

static int v_lasterr(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return g_real->xGetLastError ? g_real->xGetLastError(g_real, n, out)
	                             : 0;
}

static int v_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	return g_real->xCurrentTimeInt64(g_real, out);
}

int qmt_faultvfs_install(void)
{
	if (g_real)
		return 0;
	if (sqlite3_initialize() != SQLITE_OK)
		return -1;
	g_real = sqlite3_vfs_find("unix");
	if (!g_real || g_real->iVersion < 2)
		return -1;
	memset(&g_vfs, 0, sizeof(g_vfs));
	g_vfs.iVersion = 2;
	g_vfs.szOsFile = (int)sizeof(struct ffile) + g_real->szOsFile;
	g_vfs.mxPathname = g_real->mxPathname;
	g_vfs.zName = "qmt-fault";
	g_vfs.xOpen = v_open;
	g_vfs.xDelete = v_delete;
	g_vfs.xAccess = v_access;
	g_vfs.xFullPathname = v_full;
	g_vfs.xDlOpen = v_dlopen;
	g_vfs.xDlError = v_dlerror;
	g_vfs.xDlSym = v_dlsym;
	g_vfs.xDlClose = v_dlclose;
	g_vfs.xRandomness = v_random;
	g_vfs.xSleep = v_sleep;
	g_vfs.xCurrentTime = v_time;
	g_vfs.xGetLastError = v_lasterr;
	g_vfs.xCurrentTimeInt64 = v_time64;
	return sqlite3_vfs_register(&g_vfs, 1) == SQLITE_OK ? 0 : -1;
}

void qmt_faultvfs_arm(int on)
{
	atomic_store(&g_armed, on ? 1 : 0);
}

int qmt_faultvfs_failures(void)
{
	return atomic_load(&g_failures);
}
