/* SPDX-License-Identifier: MIT */
/*
 * One QMail home for a test program that uses the real engine without
 * servers (test_client_display, _labels, _pipes): a temporary folder,
 * initialised and unlocked, with one account. Test code only.
 */
#ifndef QMT_HOME_H
#define QMT_HOME_H

#include <stddef.h>

#include "client/client.h"

/*
 * Makes a home in a temporary folder named after tag (its path into home),
 * initialises it with pass (the store's fast KDF), leaves it unlocked in
 * *c and adds account a (its address and servers as the caller set them,
 * mail password "pw"; a->id is set). Returns 0, or -1 with the reason on
 * stderr (a cmocka setup returns it).
 */
int qmt_home_open(const char *tag, const char *pass, struct qm_store_account *a,
                  struct qm_client **c, char *home, size_t cap);
/* Closes *c and removes home (a cmocka teardown's work). */
void qmt_home_close(struct qm_client **c, const char *home);

#endif
