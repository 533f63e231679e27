/* SPDX-License-Identifier: MIT */
/* One QMail home for a test program (see home.h). */
#include "home.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

int qmt_home_open(const char *tag, const char *pass, struct qm_store_account *a,
                  struct qm_client **c, char *home, size_t cap)
{
	struct qm_client_opts o;
	struct qm_error e;

	setenv("QM_STORE_KDF", "fast", 1);
	if (qmt_tmpdir(tag, home, cap))
		return -1;
	memset(&o, 0, sizeof(o));
	o.home = home;
	qm_error_clear(&e);
	if (qm_client_open(&o, c, &e) ||
	    qm_client_init(*c, pass, strlen(pass), &e) ||
	    qm_client_account_add(*c, a, "pw", 2, &e)) {
		fprintf(stderr, "%s: %s\n", tag, qm_error_msg(&e));
		return -1;
	}
	return 0;
}

void qmt_home_close(struct qm_client **c, const char *home)
{
	qm_client_free(c);
	qmt_rmtree(home);
}
