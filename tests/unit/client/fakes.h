/* SPDX-License-Identifier: MIT */
/*
 * Scripted stand-ins for the network half of two layers, for the client
 * engine's unit tests (docs/CLIENT.md, "Testing the engine"):
 *
 *  - fake_kms.c implements the ETSI 014 client calls of src/kms/kms.h
 *    (qm_kms_new, status, enc_keys, dec_keys, the bulk helpers, the last
 *    HTTP status) over an in-memory key store shared by every fake KME,
 *    as the two KMEs of a QKD link share their keys. The key container
 *    and the reply parsers are the real ones (qm_kms_data).
 *  - fake_mail.c implements the SMTP, IMAP and POP3 calls of
 *    src/mail/mail.h over in-memory mailboxes: what one account sends
 *    lands in the recipients' INBOX. MIME building and parsing are the
 *    real ones (qm_mail_mime, GMime).
 *
 * The engine under test is the real src/client compiled a second time
 * against these (tests/unit/client/CMakeLists.txt), so no production code
 * knows about them. A test scripts what a server holds and how it answers
 * next, and reads back how often each call was made. Everything is
 * process-global and single-threaded; fake_reset() starts afresh.
 * Test code only.
 */
#ifndef QMT_FAKES_H
#define QMT_FAKES_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ===================================================================== KMS */

/* The calls a fake KME counts. */
enum fk_op { FK_NEW, FK_STATUS, FK_ENC, FK_DEC, FK_NOPS };

/* How the fake KME answers one request: an HTTP status (200: as the key
 * store says) or, with http 0, a transport failure (QM_ERR_NET, QM_ERR_TLS,
 * QM_ERR_TIMEOUT). msg is the KME's Error message (may be NULL). The
 * mapping to enum qm_err is the one src/kms/kms.h documents: 400 with "not
 * found" is QM_ERR_NOTFOUND, other 400s QM_ERR_PROTO, 401 QM_ERR_DENIED,
 * 503 QM_ERR_UNAVAIL, any other status QM_ERR_PROTO. */
struct fk_answer {
	long http;
	enum qm_err transport;
	const char *msg;
};

#define FK_SCRIPT_MAX 16

/* One KME, found by the URL an account names. Tests set the fields. */
struct fake_kme {
	char url[256];
	unsigned key_bits;            /* key_size reported and served: 256 */
	unsigned max_key_per_request; /* 128 */
	unsigned max_key_size;        /* 8192 */
	/* reports no stored key in its status but serves any enc_keys
	 * request (a KME that makes keys on demand) */
	int on_demand;
	/* every request answered this way (e.g. {0, QM_ERR_NET}: down) */
	struct fk_answer always;
	int always_set;
	/* status_extension as JSON ("": the link's QBER and key rate) */
	char extension[256];
	/* the SAE whose certificate this KME refuses (401 to everything) */
	char deny_sae[64];
	/* answers for the next requests of each kind, in order; then the
	 * key store decides again */
	struct fk_answer next[FK_NOPS][FK_SCRIPT_MAX];
	size_t nnext[FK_NOPS];
	/* requests this KME received, by kind */
	unsigned calls[FK_NOPS];
};

/* Forgets every KME, key and mailbox, and every count (the two halves:
 * fake_kms_reset, fake_mail_reset). */
void fake_reset(void);
void fake_kms_reset(void);
void fake_mail_reset(void);
/* The KME at url (made on first use, with the defaults above). */
struct fake_kme *fake_kme(const char *url);
/* Queues the answer to the next request of kind op at k. */
void fake_kme_next(struct fake_kme *k, enum fk_op op, long http,
                   enum qm_err transport, const char *msg);
/* Adds bytes of key material to the QKD link master -> slave (both KMEs
 * of the link see it), in keys of key_bits. */
void fake_link_add(const char *master, const char *slave, uint64_t bytes);
/* Key material the link master -> slave still holds, in bytes. */
uint64_t fake_link_bytes(const char *master, const char *slave);
/* Keys handed out by enc_keys so far, and how many of them were fetched
 * by their slave with dec_keys. */
size_t fake_keys_issued(void);
size_t fake_keys_fetched(void);
/* Forgets key i of those handed out (as an expired key): its dec_keys
 * then answers 400 "key not found". */
void fake_key_expire(size_t i);

/* ==================================================================== MAIL */

/* The calls the fake mail servers count and may be told to fail. */
enum fm_op {
	FM_SMTP_SEND,
	FM_SMTP_CHECK,
	FM_IMAP_OPEN,
	FM_IMAP_SELECT,
	FM_IMAP_FETCH,
	FM_IMAP_APPEND, /* append, save_sent, save_sent_once */
	FM_IMAP_WAIT,
	FM_IMAP_LIST,  /* folders */
	FM_IMAP_STORE, /* flags */
	FM_IMAP_MOVE,  /* UID MOVE and UID COPY */
	FM_IMAP_EXPUNGE,
	FM_IMAP_FOLDER, /* create, rename, delete, subscribe */
	FM_IMAP_SEARCH,
	FM_POP3_OPEN,
	FM_POP3_RETR,
	FM_POP3_DELE,
	FM_IMAP_SUMMARY, /* the list fields of many messages (headers) */
	FM_NOPS
};

/* A scripted failure: the call returns rc with msg. For FM_SMTP_SEND with
 * delivered set, the server takes the message all the same (its "250"
 * was lost on the way back). */
struct fm_fail {
	enum qm_err rc;
	const char *msg;
	int delivered;
};

/* What one SMTP send handed over. */
struct fm_sent {
	char from[256];
	char rcpts[512]; /* comma separated */
	unsigned char *data;
	size_t len;
};

/* Counts of each call, over every mailbox. */
extern unsigned fake_mail_calls[FM_NOPS];

/* Queues a failure for the next call of kind op. */
void fake_mail_fail(enum fm_op op, enum qm_err rc, const char *msg,
                    int delivered);
/* Runs fn(arg) once, at the next call of kind op, before the call does
 * its work: another handle or client acting in the middle of a sync. */
void fake_mail_hook(enum fm_op op, void (*fn)(void *arg), void *arg);
/* The password user's mailbox requires (NULL or "": any). */
void fake_mail_password(const char *user, const char *password);
/* Puts a message into user's folder ("INBOX", "Sent", "Trash", "Archive",
 * "Junk" at first; Trash and Junk unsubscribed); returns its UID. */
uint32_t fake_mail_deliver(const char *user, const char *folder,
                           const void *msg, size_t len);
/* The number of messages in user's folder (not deleted). */
size_t fake_mail_count(const char *user, const char *folder);
/* Message i (0: the oldest) of user's folder; NULL past the end. */
const unsigned char *fake_mail_msg(const char *user, const char *folder,
                                   size_t i, size_t *len);
/* Takes message i of user's folder away (as another client would). */
void fake_mail_drop(const char *user, const char *folder, size_t i);
/* The flags of message i of user's folder (QM_MAIL_FLAG_*), and a change
 * of them by another client. */
unsigned fake_mail_flags(const char *user, const char *folder, size_t i);
void fake_mail_set_flags(const char *user, const char *folder, size_t i,
                         unsigned flags);
/* Moves message i of user's folder from to folder to (as another client
 * would): it gets the next UID there. Returns it, 0 when there is none. */
uint32_t fake_mail_move(const char *user, const char *from, size_t i,
                        const char *to);
/* 1 when user's mailbox has folder. */
int fake_mail_has_folder(const char *user, const char *folder);
/* Set: the IMAP server gives no COPYUID (no UIDPLUS); reset clears it. */
extern int fake_mail_no_uidplus;
/* Set: the server saves what its SMTP server takes in the sender's Sent
 * folder itself (as Gmail does); reset clears it. */
extern int fake_mail_saves_sent;
/* A hostile server: a whole fetch of message i of user's folder gives
 * msg instead of it (its headers and size are still the message's). */
void fake_mail_swap_body(const char *user, const char *folder, size_t i,
                         const void *msg, size_t len);
/* Gives user's folder a new UIDVALIDITY (the server renumbered it). */
void fake_mail_renumber(const char *user, const char *folder);
/* Every SMTP send the server accepted, in order. */
size_t fake_mail_sent_count(void);
const struct fm_sent *fake_mail_sent(size_t i);

#endif
