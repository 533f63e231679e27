/* SPDX-License-Identifier: MIT */
/*
 * A complete QMail world for end-to-end tests: the real mail servers
 * (tests/lib/mailserver.h), three qkme KMEs joined by simulated BB84 links
 * (one per user), and three QMail homes (alice and bob over IMAP, carol
 * over POP3) with accounts, contacts' SAE IDs and verified public keys.
 * Everything runs on loopback in temporary folders and is always stopped.
 * Test code only.
 */
#ifndef QMT_WORLD_H
#define QMT_WORLD_H

#include <stdint.h>

#include "client/client.h"
#include "kme_net.h"
#include "mailserver.h"

enum { W_ALICE, W_BOB, W_CAROL, W_NUSERS };

struct world {
	struct qmt_mail mail;
	struct kt_net net;
	char homes[W_NUSERS][512];
	struct qm_client *c[W_NUSERS];
	int64_t acct[W_NUSERS];
	char sae[W_NUSERS][16];
	int mail_up, net_up;
};

/*
 * Starts it all. extra_kme is added to every KME's configuration (may be
 * NULL). Returns 0, 1 when this machine cannot run the mail servers (skip),
 * -1 on failure (reason on stderr).
 */
int world_start(struct world *w, const char *tag, const char *extra_kme);
void world_stop(struct world *w);
/* Waits until user from's KME holds at least bytes of key for user to. */
int world_wait_pool(struct world *w, int from, int to, uint64_t bytes,
                    int timeout_ms);
/*
 * Closes user's client and opens it again on the same home, unlocked (as a
 * new QMail process would). Returns the error code; e says why.
 */
enum qm_err world_reopen(struct world *w, int user, struct qm_error *e);
/* The account's configuration as `qmail account add` arguments would give
 * it, for CLI tests: writes "--address ... --kme-key ..." into argv (at most
 * 40 entries, pointing into w and static storage); returns the count. */
int world_account_args(struct world *w, int user, const char **argv);

#endif
