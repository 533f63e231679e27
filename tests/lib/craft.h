/* SPDX-License-Identifier: MIT */
/*
 * Hand-built QMail messages for the receive-side tests: what a hostile
 * correspondent or a broken sender could put on the wire, built with the
 * crypto and mail layers (not the client engine, which never builds such
 * a message), then handed to the world's real MTA (OpenSMTPD, plain SMTP
 * on loopback) for delivery into a user's Dovecot mailbox. Test code only.
 */
#ifndef QMT_CRAFT_H
#define QMT_CRAFT_H

#include <stddef.h>

#include "crypto/crypto.h"
#include "kms/kms.h"
#include "world.h"

/*
 * One message. The outer header values (from, to, cc: single addresses;
 * cc may be NULL) are the ones bound into the envelope; the inner
 * (encrypted) message carries copies of them unless an inner_* value is
 * given, which replaces that copy only. Levels 1 and 2 take sender_sae
 * (written into the envelope and X-QKD-Sender-SAE as it is, even "") and
 * one slot for rcpt_sae with keys; levels 3 and 4 take the signing
 * identity and the recipient's public key.
 */
struct craft_msg {
	int level;
	const char *from, *to, *cc;
	const char *message_id; /* NULL: a fresh one */
	const char *inner_from, *inner_to, *inner_cc, *inner_date, *inner_mid;
	const char *subject, *text;
	const char *sender_sae, *rcpt_sae;
	const struct qm_qkey *keys;
	size_t nkeys;
	const struct qm_identity *sender;
	const struct qm_pubid *rcpt;
	/* header fields (CRLF-terminated) put at the head of the inner
	 * message, or NULL */
	const char *inner_head;
};

/* Builds the wire message into wire (plain buffer); *mid (may be NULL,
 * 256 bytes) gets its outer Message-ID. 0 or -1 (reason on stderr). */
int craft_build(const struct craft_msg *m, struct qm_buf *wire, char *mid);
/* A plain (not QMail) message with this Message-ID (NULL: a fresh one). */
int craft_plain(const char *from, const char *to, const char *subject,
                const char *mid, struct qm_buf *wire);
/* Hands msg to the MTA for user and waits until Dovecot filed it. */
int craft_deliver(struct world *w, int user, const void *msg, size_t len);
/* A KME client for user's account, as the account is configured. */
int craft_kms(struct world *w, int user, struct qm_kms **out);
/* User's own identity (private half from the vault). */
int craft_identity(struct world *w, int user, struct qm_identity **out);
/* The public key holder's keyring has for address. */
int craft_pubid(struct world *w, int holder, const char *address,
                struct qm_pubid **out);

#endif
