/* SPDX-License-Identifier: MIT */
/*
 * The fixture of the engine's unit tests: QMail homes in temporary
 * folders, each with one account whose servers and KME are the scripted
 * ones of fakes.h, and contacts between them. Everything is in memory or
 * in the temporary folder; nothing listens on a port. Test code only.
 */
#ifndef QMT_ENGINE_H
#define QMT_ENGINE_H

#include <stdint.h>

#include "client/client.h"
#include "fakes.h"
#include "qmtest.h"
#include "store/store.h" /* the fixture arranges what the store holds */

/* One person with a QMail home and one account. */
struct eu {
	char name[16];    /* "alice" */
	char addr[64];    /* "alice@qmail.test" */
	char sae[16];     /* "SAE_A": its name at its KME */
	char kme_url[64]; /* "https://kme-alice.test": its own fake KME */
	char pass[32];    /* the mail password */
	char home[512];
	struct qm_client *c;
	int64_t acct;
};

/* What eu_knows records about a peer. */
enum {
	EU_SAE = 1 << 0,         /* the peer's SAE ID, confirmed */
	EU_SAE_LEARNED = 1 << 1, /* the peer's SAE ID, learned, not confirmed */
	EU_PUBKEY = 1 << 2,      /* the peer's public key, not verified */
	EU_VERIFIED = 1 << 3,    /* the peer's public key, verified */
};

/* The three people of most tests (eng_setup opens them). */
extern struct eu alice, bob, carol;

/* What eng_setup makes besides the three homes. */
enum {
	ENG_KNOW_BOB = 1 << 0,   /* alice and bob know each other (confirmed
	                            SAE IDs, verified keys), and the link
	                            alice -> bob holds 1 MiB of key */
	ENG_KNOW_CAROL = 1 << 1, /* the same for alice and carol */
	ENG_CAROL_POP3 = 1 << 2, /* carol fetches over POP3, not IMAP */
};

/* Starts afresh: forgets the fakes' servers (fake_reset). */
void eng_reset(void);
/* eng_reset, then alice (SAE_A), bob (SAE_B) and carol (SAE_C) as flags
 * (ENG_*) say. Returns 0 (a cmocka setup returns it). */
int eng_setup(unsigned flags);
/* Closes the three (a cmocka teardown). */
int eng_teardown(void **state);
/* Makes the home and the account of name over IMAP (or POP3 when pop3
 * is set), unlocked; its SAE is sae. Fails the test on error. */
void eu_open(struct eu *u, const char *name, const char *sae, int pop3);
/* Closes the client and removes the home. */
void eu_close(struct eu *u);
/* u learns what `what` (EU_*) says of peer. */
void eu_knows(struct eu *u, const struct eu *peer, unsigned what);
/* u's contact addr with SAE ID sae: entered by the user (confirmed) or
 * learned from a message (not), with the minimum level min_level (0:
 * none). */
void eu_contact(struct eu *u, const char *addr, const char *sae, int confirmed,
                int min_level);
/* u's account has no KME any more (its URL cleared). */
void eu_drop_kme(struct eu *u);
/* Sets one of u's account settings (QM_SET_* names of src/client). */
void eu_setting(struct eu *u, const char *key, const char *value);
/* The fake KME u's account uses. */
struct fake_kme *eu_kme(const struct eu *u);

/* Sends text from u to the addresses to[0..nto) at level (fallback 0);
 * returns the engine's answer, with *out and *e filled. */
enum qm_err eu_send(struct eu *u, const char *const *to, size_t nto, int level,
                    int fallback, const char *text, struct qm_client_sent *out,
                    struct qm_error *e);
/* eu_send with the attachments att[0..natt). */
enum qm_err eu_send_att(struct eu *u, const char *const *to, size_t nto,
                        int level, int fallback, const char *text,
                        const struct qm_client_attachment *att, size_t natt,
                        struct qm_client_sent *out, struct qm_error *e);
/* Syncs u's account; the stats in *st. */
enum qm_err eu_sync(struct eu *u, struct qm_client_sync_stats *st,
                    struct qm_error *e);

/* eu_sync that must succeed (fails the test otherwise). */
void eu_sync_ok(struct eu *u, struct qm_client_sync_stats *st);
/* Delivers a plain message from dave@x.test with Message-ID
 * <mid@x.test> and subject "plain mid" into u's folder on the fake
 * server. */
void eu_plain_to(const struct eu *u, const char *folder, const char *mid);

/* The index ids of u's INBOX messages, newest first, into ids (at most
 * max); returns how many. */
size_t eu_inbox(struct eu *u, int64_t *ids, size_t max);
/* The state of message id (its verify) and level. */
enum qm_store_verify eu_verify(struct eu *u, int64_t id, int *level);
/* The number of u's messages in state v. */
size_t eu_count(struct eu *u, enum qm_store_verify v);
/* The state of outbox entry id. */
enum qm_store_outbox_state eu_outbox_state(struct eu *u, int64_t id,
                                           int *attempts, int64_t *retry_at);

#endif
