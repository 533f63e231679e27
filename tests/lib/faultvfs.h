/* SPDX-License-Identifier: MIT */
/*
 * An SQLite VFS for fault tests: it passes everything to the platform's
 * own VFS ("unix") and, while armed, makes every write and truncate of a
 * database, journal or WAL file fail with SQLITE_FULL, as a disk that
 * filled up would. It lets a test fill the disk at an exact point (between
 * two writes the code under test makes) that filling a file system from
 * outside cannot hit: SQLite reuses blocks its WAL already holds. Installed
 * as the default VFS of the test process, so the store uses it without
 * knowing. Test code only.
 */
#ifndef QMT_FAULTVFS_H
#define QMT_FAULTVFS_H

/* Registers the VFS as the process default. Returns 0 or -1. */
int qmt_faultvfs_install(void);
/* Arms (1) or disarms (0) the failures. */
void qmt_faultvfs_arm(int on);
/* How many writes failed since the install. */
int qmt_faultvfs_failures(void);

#endif
