/* SPDX-License-Identifier: MIT */
/*
 * What the cmocka tests of QMail write again and again, once: the check
 * that a QMail call succeeded, which shows the call and its error message
 * when it did not, and the check that a message holds a phrase. Include
 * after <cmocka.h>. Test code only.
 */
#ifndef QMT_QMTEST_H
#define QMT_QMTEST_H

#include <stdio.h>
#include <string.h>

/*
 * Fails the test unless call returns QM_OK; first prints the call and the
 * message of the struct qm_error named e in the caller's scope (every
 * test that uses it has one and passes &e to the call).
 */
#define assert_ok(call)                                                        \
	do {                                                                   \
		enum qm_err rc_ = (call);                                      \
		if (rc_ != QM_OK)                                              \
			fprintf(stderr, "%s: %s\n", #call, qm_error_msg(&e));  \
		assert_int_equal(rc_, QM_OK);                                  \
	} while (0)

/* Fails the test unless the text hay holds needle, showing both. */
#define assert_has(hay, needle)                                                \
	do {                                                                   \
		const char *h_ = (hay), *n_ = (needle);                        \
		if (!strstr(h_, n_))                                           \
			fail_msg("\"%s\" lacks \"%s\"", h_, n_);               \
	} while (0)

#endif
