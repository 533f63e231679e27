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
#include "store/store.h"
#include "kme_net.h"
#include "mailserver.h"

enum { W_ALICE, W_BOB, W_CAROL, W_NUSERS };

/* The passphrase of every home of the world. */
#define WORLD_PASS "correct horse battery staple"

struct world {
	struct qmt_mail mail;
	struct kt_net net;
	char homes[W_NUSERS][512];
	struct qm_client *c[W_NUSERS];
	int64_t acct[W_NUSERS];
	char sae[W_NUSERS][16];
	int kme[W_NUSERS]; /* the index of each user's KME in net */
	int mail_up, net_up;
	int skipped; /* world_setup: this machine cannot run the servers */
};

/*
 * Starts it all. extra_kme is added to every KME's configuration (may be
 * NULL). Returns 0, 1 when this machine cannot run the mail servers (skip),
 * -1 on failure (reason on stderr).
 */
int world_start(struct world *w, const char *tag, const char *extra_kme);
void world_stop(struct world *w);
/*
 * world_start for a cmocka group setup: a machine that cannot run the mail
 * servers is no failure, w->skipped is set instead (each test then skips).
 * Returns 0, or -1 on failure.
 */
int world_setup(struct world *w, const char *tag, const char *extra_kme);
/* The same with the mail server's folders laid out as layout says
 * (tests/lib/mailserver.h: plain, Gmail's, Outlook's). */
int world_start_layout(struct world *w, const char *tag, const char *extra_kme,
                       enum qmt_mail_layout layout);
/*
 * world_start over a QKD network of topology ("line:4": qkme testnet
 * --topology): alice at the first KME, bob at the last, carol at the
 * second, so that keys between alice and bob are relayed through the
 * KMEs in between.
 */
int world_start_topo(struct world *w, const char *tag, const char *extra_kme,
                     const char *topology);
int world_setup_layout(struct world *w, const char *tag, const char *extra_kme,
                       enum qmt_mail_layout layout);
/* world_setup, but nobody holds anybody's public key (the contacts' SAE
 * IDs are set): for keys that travel with mail. */
int world_setup_strangers(struct world *w, const char *tag);
/*
 * A second home of user's account (another device, a new machine): made
 * in the world's folder under name, initialised with the world's
 * passphrase, the same account and mail server, and a fresh identity.
 * *c is the caller's to free (qm_client_free); *acct its account. Returns
 * 0, or -1 (reason on stderr).
 */
int world_second_home(struct world *w, int user, const char *name,
                      struct qm_client **c, int64_t *acct);
/* Waits until user from's KME holds at least bytes of key for user to. */
int world_wait_pool(struct world *w, int from, int to, uint64_t bytes,
                    int timeout_ms);
/*
 * Closes user's client and opens it again on the same home, unlocked (as a
 * new QMail process would). Returns the error code; e says why.
 */
enum qm_err world_reopen(struct world *w, int user, struct qm_error *e);
/* User u's message index: the newest message (in folder, NULL: any) by
 * the index's order, or -1; the highest id filed, or -1; how many it
 * holds (-1 on error); the last one whose subject is subject, or -1. */
int64_t world_newest(struct world *w, int u, const char *folder);
/*
 * User u syncs every folder (qm_client_sync_all) until at least
 * min_fetched messages were fetched and min_chat filed as chat (or read
 * receipts that changed a read state), 0 and 0: once; a message file may
 * be in the Maildir a moment before Dovecot's index has it. 0 with
 * *chat and *fetched (either may be NULL) what the syncs did; -1 after
 * 30 s or a failed sync, with why.
 */
int world_sync_chat(struct world *w, int u, size_t min_fetched,
                    size_t min_chat, size_t *chat, size_t *fetched,
                    char *why, size_t whylen);
int64_t world_last_id(struct world *w, int u);
int64_t world_count(struct world *w, int u);
int64_t world_by_subject(struct world *w, int u, const char *subject);
/*
 * Runs the qmail program of the build tree on user u's home with the
 * arguments (a NULL-terminated list of const char *) and the world's
 * passphrase (qmt_qmail in harness.h): *out gets what it printed. Returns
 * its exit code, or -1 when it could not run.
 */
int world_qmail(struct world *w, int u, char **out, ...);
/* The account's configuration as `qmail account add` arguments would give
 * it, for CLI tests: writes "--address ... --kme-key ..." into argv (at most
 * 40 entries, pointing into w and static storage); returns the count. */
int world_account_args(struct world *w, int user, const char **argv);

#endif
