/* SPDX-License-Identifier: MIT */
/*
 * crypto: the QMail encryption engine. One envelope format (docs/FORMAT.md)
 * for the four security levels (README.md, "Security levels"): level 1
 * one-time pad with a one-time Poly1305 tag, level 2 QKD key -> HKDF ->
 * AES-256-GCM, level 3 hybrid ML-KEM-768 + X25519 with an ML-DSA-65 +
 * Ed25519 signature, level 4 X25519 + AES-256-GCM with an Ed25519 signature.
 * Identities (the key pairs of levels 3 and 4) with a text armour and a
 * fingerprint.
 *
 * Decryption is two-phase: qm_crypto_env_parse reads an envelope without keys
 * so that the caller learns the level, key IDs, sender SAE ID and the slots,
 * fetches the keys by ID, then calls qm_crypto_env_open. Everything returned by
 * the parser is authenticated only once qm_crypto_env_open succeeds. Call
 * qm_core_init before anything here.
 */
#ifndef QM_CRYPTO_H
#define QM_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ------------------------------------------------------------- constants */

#define QM_ENV_VERSION    1
#define QM_LEVEL_OTP      1       /* quantum secure, one-time pad */
#define QM_LEVEL_QAES     2       /* quantum-aided AES */
#define QM_LEVEL_PQ       3       /* post-quantum hybrid */
#define QM_LEVEL_CLASSIC  4       /* classical */
#define QM_ENV_CHUNK      65536   /* plaintext bytes per AES-GCM chunk (2-4) */
#define QM_ENV_MAXSLOTS   64      /* recipient slots in one envelope */
#define QM_ENV_MAXKEYIDS  1048576 /* key IDs in one level-1 slot */
#define QM_KEYID_MAX      255     /* bytes of one ETSI key ID */
#define QM_LABEL_MAX      255     /* bytes of a sender SAE ID or slot label */
#define QM_BOUND_MAX      4096    /* bytes of one bound header value */
#define QM_BOUND_MAXRCPTS 1000
#define QM_L1_TAGBYTES    16 /* Poly1305 tag */
#define QM_L1_MACKEYBYTES 32 /* one-time Poly1305 key after the pad */
#define QM_L2_KEYBYTES    32 /* one 256-bit QKD key */
#define QM_FPR_BYTES      32 /* SHA-256 fingerprint of a public identity */
/* "XXXX XXXX ... XXXX": 16 groups of 4 hex digits and a NUL. */
#define QM_FPR_TEXTLEN (16 * 5)

/* ------------------------------------------------------ bound headers */

/*
 * The message header values bound into every envelope as associated data.
 * A change in any of them makes qm_crypto_env_open fail with QM_ERR_AUTH. The
 * strings are hashed byte for byte, so the mail layer must pass the same
 * canonical form on both sides (for example lower-case addr-specs without
 * display names). rcpts is the To and Cc addresses; their order does not
 * matter (they are sorted before hashing), duplicates do. All borrowed.
 */
struct qm_bound {
	const char *from;
	const char *const *rcpts;
	size_t nrcpts;
	const char *message_id;
	const char *date;
	/* Sender SAE ID (levels 1 and 2; "" or NULL allowed for 3 and 4).
	 * qm_crypto_env_open: NULL means "take the envelope's"; otherwise it
	 * must equal the envelope's copy (the X-QKD-Sender-SAE header). */
	const char *sender_sae;
};

/* ---------------------------------------------------------- QKD keys */

/* One ETSI key: its key_ID and its bytes (borrowed; keep them in secure
 * memory). */
struct qm_qkey {
	const char *key_id;
	const unsigned char *key;
	size_t len;
};

/*
 * One recipient slot of a level-1 or level-2 message. rcpt is a label the
 * receiver finds its slot by (its SAE ID; any text, "" for one key shared
 * by every recipient through ETSI additional_slave_SAE_IDs). Level 1: the
 * keys are concatenated in this order and must hold at least
 * qm_crypto_l1_key_bytes(plaintext length) bytes; only the last key may have
 * bytes left over, which are discarded, never used again. Level 2: exactly
 * one key of QM_L2_KEYBYTES bytes.
 */
struct qm_qslot {
	const char *rcpt;
	const struct qm_qkey *keys;
	size_t nkeys;
};

/* The number of QKD key bytes one level-1 slot needs for a plaintext of
 * ptlen bytes: ptlen for the pad plus QM_L1_MACKEYBYTES. UINT64_MAX on
 * overflow. */
uint64_t qm_crypto_l1_key_bytes(uint64_t ptlen);

/* ----------------------------------------------------------- identities */

/* A key pair for levels 3 and 4: X25519, Ed25519, ML-KEM-768, ML-DSA-65.
 * The secret halves live in secure memory. */
struct qm_identity;
/* The public half of an identity (someone else's, or our own). */
struct qm_pubid;

/* Creates a fresh identity from the system CSPRNG. */
QM_NODISCARD enum qm_err qm_crypto_identity_new(struct qm_identity **out,
                                                struct qm_error *err);
/* Frees an identity, wiping every secret; sets *id to NULL. */
void qm_crypto_identity_free(struct qm_identity **id);
/*
 * Serialises the secret identity (the store seals it in its vault): the
 * bytes are appended to out, which must be a secure buffer (QM_ERR_INVAL
 * otherwise).
 */
QM_NODISCARD enum qm_err
qm_crypto_identity_export_secret(const struct qm_identity *id,
                                 struct qm_buf *out, struct qm_error *err);
/* Reads what qm_crypto_identity_export_secret wrote; checks that every public
 * key matches its secret key. QM_ERR_PARSE on malformed input. */
QM_NODISCARD enum qm_err qm_crypto_identity_import_secret(
    const void *p, size_t n, struct qm_identity **out, struct qm_error *err);
/* The public half of an identity, as a new object the caller frees. */
QM_NODISCARD enum qm_err qm_crypto_identity_public(const struct qm_identity *id,
                                                   struct qm_pubid **out,
                                                   struct qm_error *err);

/*
 * Appends the public identity in its text armour (docs/CRYPTO.md):
 * BEGIN/END lines, a Version and a Fingerprint line, an optional Comment
 * (e.g. the e-mail address; not covered by the fingerprint; NULL for none;
 * no line breaks), then base64.
 */
QM_NODISCARD enum qm_err qm_crypto_pubid_export(const struct qm_pubid *pk,
                                                const char *comment,
                                                struct qm_buf *out,
                                                struct qm_error *err);
/* Parses the armour; the Fingerprint line must match the key bytes.
 * QM_ERR_PARSE with a message naming the problem. */
QM_NODISCARD enum qm_err qm_crypto_pubid_import(const char *text, size_t len,
                                                struct qm_pubid **out,
                                                struct qm_error *err);
/* Raw public key bytes (the part the fingerprint covers), and back. */
QM_NODISCARD enum qm_err qm_crypto_pubid_to_bytes(const struct qm_pubid *pk,
                                                  struct qm_buf *out,
                                                  struct qm_error *err);
QM_NODISCARD enum qm_err qm_crypto_pubid_from_bytes(const void *p, size_t n,
                                                    struct qm_pubid **out,
                                                    struct qm_error *err);
void qm_crypto_pubid_free(struct qm_pubid **pk);
/* SHA-256 fingerprint of the public key bytes. */
void qm_crypto_pubid_fingerprint(const struct qm_pubid *pk,
                                 unsigned char fpr[QM_FPR_BYTES]);
/* The fingerprint as 16 groups of 4 upper-case hex digits. */
void qm_crypto_fpr_text(const unsigned char fpr[QM_FPR_BYTES],
                        char out[QM_FPR_TEXTLEN]);

/*
 * Composite detached signature: ML-DSA-65 and Ed25519 over msg (hybrid, for
 * level 3 and for anything signed by an identity) or Ed25519 alone
 * (classic). The signature is appended to out. Verification succeeds only
 * when every half verifies; QM_ERR_AUTH otherwise.
 */
QM_NODISCARD enum qm_err qm_crypto_identity_sign(const struct qm_identity *id,
                                                 int hybrid, const void *msg,
                                                 size_t len, struct qm_buf *out,
                                                 struct qm_error *err);
QM_NODISCARD enum qm_err qm_crypto_pubid_verify(const struct qm_pubid *pk,
                                                int hybrid, const void *msg,
                                                size_t len, const void *sig,
                                                size_t siglen,
                                                struct qm_error *err);

/* ------------------------------------------------- the identity header */

/*
 * The QMail-Identity header (docs/FORMAT.md): the sender's address, the
 * fingerprint and the public keys of its identity, its SAE ID and KME ID
 * where set, sent with every message so that the receiver can learn them
 * (trust on first use; authenticated only where the message is).
 */
#define QM_IDHDR_NAME    "QMail-Identity"
#define QM_IDHDR_VERSION 1
#define QM_IDHDR_MAX     8192 /* bytes of the unfolded value */
#define QM_IDHDR_ADDRMAX 254
#define QM_IDHDR_IDMAX   128 /* bytes of the SAE ID or the KME ID */

/* A parsed header. key is owned (qm_crypto_idhdr_clear frees it). */
struct qm_idhdr {
	char addr[QM_IDHDR_ADDRMAX + 1];
	char sae[QM_IDHDR_IDMAX + 1]; /* "" when absent */
	char kme[QM_IDHDR_IDMAX + 1]; /* "" when absent */
	unsigned char fpr[QM_FPR_BYTES];
	struct qm_pubid *key;
};

/*
 * Appends the whole header field, "QMail-Identity: v=1; ..." folded into
 * lines of at most 78 characters, each ending in CRLF, to out. addr is the
 * bare address; sae and kme may be NULL or "". QM_ERR_INVAL for a value
 * the header cannot carry.
 */
QM_NODISCARD enum qm_err qm_crypto_idhdr_build(const struct qm_pubid *key,
                                               const char *addr,
                                               const char *sae, const char *kme,
                                               struct qm_buf *out,
                                               struct qm_error *err);
/*
 * Parses a header value (unfolded: line breaks removed) of len bytes into
 * *out: QM_ERR_TOOBIG past QM_IDHDR_MAX, QM_ERR_UNSUPPORTED for another
 * version, QM_ERR_PARSE with the reason for anything malformed (an
 * attribute unknown, missing or given twice, bad base64, a key of the
 * wrong length or whose fingerprint is not fpr=). *out is set only on
 * success. Nothing in it is authenticated: the caller decides what the
 * message it came in proves.
 */
QM_NODISCARD enum qm_err qm_crypto_idhdr_parse(const char *value, size_t len,
                                               struct qm_idhdr *out,
                                               struct qm_error *err);
void qm_crypto_idhdr_clear(struct qm_idhdr *h);

/* "DDDDD DDDDD ...": 12 groups of 5 digits and a NUL. */
#define QM_SAFETY_GROUPS  12
#define QM_SAFETY_TEXTLEN (QM_SAFETY_GROUPS * 6)
/*
 * The safety number of a pair of identities (docs/SECURITY.md, "Safety
 * numbers"): both sides compute the same one, whichever is a. Addresses
 * are bare and compared in lower case. QM_ERR_INVAL for a bad address.
 */
QM_NODISCARD enum qm_err qm_crypto_safety_number(
    const char *addr_a, const unsigned char fpr_a[QM_FPR_BYTES],
    const char *addr_b, const unsigned char fpr_b[QM_FPR_BYTES],
    char out[QM_SAFETY_TEXTLEN], struct qm_error *err);

/* ------------------------------------------------------------ sealing */

/* Reads up to want bytes into buf, sets *got (0 only at the end). */
QM_NODISCARD typedef enum qm_err (*qm_read_fn)(void *arg, void *buf,
                                               size_t want, size_t *got,
                                               struct qm_error *err);
/* Takes len plaintext bytes; a non-zero return stops the operation. */
QM_NODISCARD typedef enum qm_err (*qm_write_fn)(void *arg, const void *buf,
                                                size_t len,
                                                struct qm_error *err);

/* What to seal with. Everything is borrowed. */
struct qm_seal_params {
	int level;                    /* 1..4 */
	const struct qm_bound *bound; /* required */
	/* levels 1 and 2: one slot per recipient, or one shared slot */
	const struct qm_qslot *slots;
	size_t nslots;
	/* levels 3 and 4: the sender (signs) and each recipient */
	const struct qm_identity *sender;
	const struct qm_pubid *const *rcpts;
	size_t nrcpts;
};

/*
 * Encrypts ptlen bytes at pt into a new envelope appended to out (which
 * must be empty; its max is the size limit: QM_ERR_TOOBIG past it). On
 * failure out is reset and nothing of the envelope is left.
 * Level 1 fails with QM_ERR_UNAVAIL when a slot's key material is short,
 * naming how many bytes are needed and how many were given.
 */
QM_NODISCARD enum qm_err qm_crypto_env_seal(const struct qm_seal_params *p,
                                            const void *pt, size_t ptlen,
                                            struct qm_buf *out,
                                            struct qm_error *err);
/* The same, reading exactly ptlen plaintext bytes from rd in pieces
 * (plaintext memory stays bounded; the envelope is built in out). A short
 * read is QM_ERR_IO. */
QM_NODISCARD enum qm_err
qm_crypto_env_seal_stream(const struct qm_seal_params *p, uint64_t ptlen,
                          qm_read_fn rd, void *arg, struct qm_buf *out,
                          struct qm_error *err);

/*
 * The same, the envelope given to wr in pieces as it is made (header,
 * then each sealed chunk, then the tags and, levels 3/4, the signature,
 * which covers everything before it): memory stays bounded by a chunk
 * whatever ptlen. The bytes are those qm_crypto_env_seal would make with
 * the same randomness, and open with qm_crypto_env_open. max bounds the
 * envelope (QM_ERR_TOOBIG). Level 1 with several recipient slots is built
 * in memory first (each slot's ciphertext follows the other's). On
 * failure what wr was given is to be thrown away.
 */
QM_NODISCARD enum qm_err qm_crypto_env_seal_to(const struct qm_seal_params *p,
                                               uint64_t ptlen, qm_read_fn rd,
                                               void *rarg, uint64_t max,
                                               qm_write_fn wr, void *warg,
                                               struct qm_error *err);

/*
 * The length of the envelope qm_crypto_env_seal and qm_crypto_env_seal_to
 * make of ptlen bytes under p: a function of the level, the slots or
 * recipients and ptlen alone (nothing random in it), so that a writer
 * that must announce a length (an IMAP APPEND literal) can stream the
 * envelope. Errors as the sealing's for bad parameters.
 */
QM_NODISCARD enum qm_err qm_crypto_env_size(const struct qm_seal_params *p,
                                            uint64_t ptlen, uint64_t *size,
                                            struct qm_error *err);

/* ------------------------------------------------- parsing and opening */

/* A parsed envelope. It borrows the bytes given to qm_crypto_env_parse: keep
 * them alive and unchanged until qm_crypto_env_free. */
struct qm_env;

/*
 * Parses an envelope without keys. Checks the structure and every length
 * (QM_ERR_PARSE: truncated, appended, malformed; QM_ERR_UNSUPPORTED: an
 * unknown version or level). Nothing is authenticated yet.
 */
QM_NODISCARD enum qm_err qm_crypto_env_parse(const void *p, size_t n,
                                             struct qm_env **out,
                                             struct qm_error *err);
/*
 * An envelope read in pieces (from a file or a sealed blob) rather than
 * held whole: len bytes that read gives in order, and rewind starts again
 * at byte 0. All borrowed; they must outlive the parsed envelope.
 */
/* Starts a source again at its first byte. */
QM_NODISCARD typedef enum qm_err (*qm_rewind_fn)(void *arg,
                                                 struct qm_error *err);
struct qm_env_src {
	qm_read_fn read;
	qm_rewind_fn rewind;
	void *arg;
	uint64_t len;
};
/*
 * The same parse reading only the envelope's header from src (held in
 * memory: under 120 KiB at levels 2-4; a level-1 header grows with its key
 * IDs); the same checks and errors, except that a wrong signature length
 * field is found when opening. Opening reads the body again from src:
 * qm_crypto_env_open_stream reads it twice (everything is authenticated
 * in the first pass, and every byte of the second is checked again before
 * it is handed out: a source that changes between passes fails with
 * QM_ERR_AUTH), qm_crypto_env_open likewise into its buffer.
 */
QM_NODISCARD enum qm_err qm_crypto_env_parse_src(const struct qm_env_src *src,
                                                 struct qm_env **out,
                                                 struct qm_error *err);
void qm_crypto_env_free(struct qm_env **e);

int qm_crypto_env_version(const struct qm_env *e);
int qm_crypto_env_level(const struct qm_env *e);
/* The sender SAE ID ("" when none); NUL-terminated, owned by e. */
const char *qm_crypto_env_sender_sae(const struct qm_env *e);
/* Levels 3 and 4: the fingerprint of the sender's identity; else NULL. */
const unsigned char *qm_crypto_env_sender_fpr(const struct qm_env *e);
uint64_t qm_crypto_env_plaintext_len(const struct qm_env *e);
size_t qm_crypto_env_slot_count(const struct qm_env *e);
/* A slot's label: the rcpt text of levels 1 and 2, or for levels 3 and 4
 * the recipient's fingerprint in qm_crypto_fpr_text form. NULL past the end. */
const char *qm_crypto_env_slot_rcpt(const struct qm_env *e, size_t slot);
/* The key IDs of a level-1 or level-2 slot, in the order the keys are
 * used; NULL past the end. */
size_t qm_crypto_env_slot_key_count(const struct qm_env *e, size_t slot);
const char *qm_crypto_env_slot_key_id(const struct qm_env *e, size_t slot,
                                      size_t i);
/* Finds the slot labelled rcpt (a SAE ID, or a fingerprint text); when no
 * label matches and there is a single slot labelled "", that slot (a
 * shared key). QM_ERR_NOTFOUND otherwise. */
QM_NODISCARD enum qm_err qm_crypto_env_slot_find(const struct qm_env *e,
                                                 const char *rcpt, size_t *slot,
                                                 struct qm_error *err);

/* What to open with. Everything is borrowed. */
struct qm_open_params {
	const struct qm_bound *bound; /* the header values as received */
	size_t slot;                  /* from qm_crypto_env_slot_find */
	/* levels 1 and 2: the slot's keys, same IDs in the same order */
	const struct qm_qkey *keys;
	size_t nkeys;
	/* levels 3 and 4: our identity and the sender's public identity */
	const struct qm_identity *self;
	const struct qm_pubid *sender;
};

/*
 * Authenticates and decrypts. The plaintext is appended to out (empty on
 * entry; make it secure; its max is the size limit, QM_ERR_TOOBIG before
 * any decryption when the plaintext would pass it). QM_ERR_AUTH when any
 * authenticated byte or bound value differs; on every failure out is
 * wiped and reset, so no plaintext byte is returned.
 */
QM_NODISCARD enum qm_err qm_crypto_env_open(const struct qm_env *e,
                                            const struct qm_open_params *p,
                                            struct qm_buf *out,
                                            struct qm_error *err);
/*
 * The same, handing the plaintext to wr in pieces of at most QM_ENV_CHUNK
 * bytes with bounded memory. Everything is authenticated before the first
 * byte goes to wr (for levels 2-4 this decrypts twice). max is the limit.
 */
QM_NODISCARD enum qm_err
qm_crypto_env_open_stream(const struct qm_env *e,
                          const struct qm_open_params *p, uint64_t max,
                          qm_write_fn wr, void *arg, struct qm_error *err);
/*
 * The same for a writer whose bytes stay provisional until this returns
 * QM_OK: a store that completes what it got only then, and discards it on
 * any error (a sealed blob, never the screen). An envelope read from a
 * source (qm_crypto_env_parse_src) at levels 2-4 is then read and
 * decrypted once: each chunk goes to wr as soon as its AES-GCM tag
 * verifies, before the signature (3, 4) or the slot MAC (2) at the end is
 * checked, and a chunk that does not verify stops the output there. The
 * result and its error are those of qm_crypto_env_open_stream for the same
 * bytes. Level 1, and an envelope held whole, go as
 * qm_crypto_env_open_stream goes.
 */
QM_NODISCARD enum qm_err
qm_crypto_env_open_staged(const struct qm_env *e,
                          const struct qm_open_params *p, uint64_t max,
                          qm_write_fn wr, void *arg, struct qm_error *err);

/* ------------------------------------------------ a box under a passphrase */

/*
 * Seals n bytes under a key Argon2id derives from the passphrase (cost
 * ops passes, mem bytes; a fresh random salt) with XChaCha20-Poly1305,
 * ad authenticated with them; the box (its cost, salt, nonce, ciphertext)
 * is appended to out. QM_ERR_INVAL for a cost out of bounds.
 */
QM_NODISCARD enum qm_err qm_crypto_passbox_seal(const char *pass, size_t plen,
                                                uint64_t ops, uint64_t mem,
                                                const void *ad, size_t adlen,
                                                const void *pt, size_t n,
                                                struct qm_buf *out,
                                                struct qm_error *err);
/*
 * Opens a box with the passphrase and the same ad; the content is
 * appended to out (secure). QM_ERR_PARSE for what is not a box or asks for
 * a cost out of bounds (at most 64 passes and 4 GiB), QM_ERR_AUTH for a
 * wrong passphrase or a changed byte, QM_ERR_NOMEM when Argon2id cannot
 * get its memory.
 */
QM_NODISCARD enum qm_err qm_crypto_passbox_open(const char *pass, size_t plen,
                                                const void *ad, size_t adlen,
                                                const void *box, size_t n,
                                                struct qm_buf *out,
                                                struct qm_error *err);

#endif /* QM_CRYPTO_H */
