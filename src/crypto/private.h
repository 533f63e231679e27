/* SPDX-License-Identifier: MIT */
/*
 * crypto internals shared by the files of src/crypto (and by the unit tests,
 * which check the primitives as wired against known answers): sizes, the
 * identity structures, the primitive wrappers over OpenSSL, libsodium and
 * PQClean, and the parsed envelope. Not for other layers.
 */
#ifndef QM_CRYPTO_PRIVATE_H
#define QM_CRYPTO_PRIVATE_H

#include <stdint.h>

#include <sodium.h>

#include "crypto.h"

#define QM_MLKEM_PKBYTES    1184
#define QM_MLKEM_SKBYTES    2400
#define QM_MLKEM_CTBYTES    1088
#define QM_MLDSA_PKBYTES    1952
#define QM_MLDSA_SKBYTES    4032
#define QM_MLDSA_SIGBYTES   3309
#define QM_X25519_BYTES     32
#define QM_ED25519_PKBYTES  32
#define QM_ED25519_SKBYTES  64
#define QM_ED25519_SIGBYTES 64
#define QM_SALTBYTES        32
#define QM_CEKBYTES         32
#define QM_GCM_TAGBYTES     16
#define QM_GCM_IVBYTES      12
#define QM_WRAPBYTES        (QM_CEKBYTES + QM_GCM_TAGBYTES)
#define QM_L3_KEMBYTES      (QM_MLKEM_CTBYTES + QM_X25519_BYTES)
#define QM_L4_KEMBYTES      QM_X25519_BYTES
#define QM_SIG_HYBRID       (QM_MLDSA_SIGBYTES + QM_ED25519_SIGBYTES)
#define QM_SIG_CLASSIC      QM_ED25519_SIGBYTES
#define QM_NONCE_PREFIX     7

/* Public key bytes: "QMPK", version 1, X25519, Ed25519, ML-KEM, ML-DSA. */
#define QM_PUB_MAGIC "QMPK"
#define QM_PUB_BYTES                                                           \
	(4 + 1 + QM_X25519_BYTES + QM_ED25519_PKBYTES + QM_MLKEM_PKBYTES +     \
	 QM_MLDSA_PKBYTES)

/* The hybrid KEM combiner's domain label (docs/CRYPTO.md). */
#define QM_KEM_LABEL "QMail-v1 ML-KEM-768+X25519"

struct qm_pubid {
	unsigned char x25519[QM_X25519_BYTES];
	unsigned char ed25519[QM_ED25519_PKBYTES];
	unsigned char mlkem[QM_MLKEM_PKBYTES];
	unsigned char mldsa[QM_MLDSA_PKBYTES];
};

/* The secret halves, in one secure allocation. */
struct qm_idsecret {
	unsigned char x25519[QM_X25519_BYTES];
	unsigned char ed25519[QM_ED25519_SKBYTES];
	unsigned char mlkem[QM_MLKEM_SKBYTES];
	unsigned char mldsa[QM_MLDSA_SKBYTES];
};

struct qm_identity {
	struct qm_pubid pub;
	struct qm_idsecret *sec;
};

/* ------------------------------------------------------------ primitives */

/* HKDF-SHA256 (RFC 5869) through OpenSSL EVP_KDF. */
QM_NODISCARD enum qm_err crypto_hkdf_sha256(const void *ikm, size_t ikmlen,
                                            const void *salt, size_t saltlen,
                                            const void *info, size_t infolen,
                                            void *out, size_t outlen,
                                            struct qm_error *err);

/* AES-256-GCM with a context kept across chunks (one key). */
struct qm_gcm;
QM_NODISCARD enum qm_err crypto_gcm_new(const unsigned char key[32],
                                        int encrypt, struct qm_gcm **out,
                                        struct qm_error *err);
void crypto_gcm_free(struct qm_gcm **g);
/* Encrypts len bytes (in may equal out) and writes the 16-byte tag. */
QM_NODISCARD enum qm_err
crypto_gcm_seal(struct qm_gcm *g, const unsigned char iv[12], const void *ad,
                size_t adlen, const void *in, size_t len, void *out,
                unsigned char tag[16], struct qm_error *err);
/* Decrypts and checks the tag: QM_ERR_AUTH (out wiped) when it differs. */
QM_NODISCARD enum qm_err
crypto_gcm_open(struct qm_gcm *g, const unsigned char iv[12], const void *ad,
                size_t adlen, const void *in, size_t len,
                const unsigned char tag[16], void *out, struct qm_error *err);

void crypto_sha256(const void *p, size_t n, unsigned char out[32]);

/* SHA3-256(ss_m || ss_x || ct_x || pk_x || QM_KEM_LABEL). */
void crypto_kem_combine(const unsigned char ss_m[32],
                        const unsigned char ss_x[32],
                        const unsigned char ct_x[32],
                        const unsigned char pk_x[32], unsigned char out[32]);

/*
 * Hybrid KEM to a public identity: ct is ML-KEM ciphertext || X25519
 * ephemeral public key (QM_L3_KEMBYTES), ss the combined secret. The
 * _derand form takes the ML-KEM coins and the X25519 ephemeral secret (for
 * known-answer tests).
 */
QM_NODISCARD enum qm_err crypto_hybrid_encap(const struct qm_pubid *pk,
                                             unsigned char ct[QM_L3_KEMBYTES],
                                             unsigned char ss[32],
                                             struct qm_error *err);
QM_NODISCARD enum qm_err crypto_hybrid_encap_derand(
    const struct qm_pubid *pk, const unsigned char coins[32],
    const unsigned char eph[32], unsigned char ct[QM_L3_KEMBYTES],
    unsigned char ss[32], struct qm_error *err);
QM_NODISCARD enum qm_err
crypto_hybrid_decap(const struct qm_identity *id,
                    const unsigned char ct[QM_L3_KEMBYTES],
                    unsigned char ss[32], struct qm_error *err);
/* X25519 alone (level 4): ct is the ephemeral public key, ss the raw
 * shared secret (all-zero results are refused). */
QM_NODISCARD enum qm_err crypto_x25519_encap(const struct qm_pubid *pk,
                                             unsigned char ct[QM_X25519_BYTES],
                                             unsigned char ss[32],
                                             struct qm_error *err);
QM_NODISCARD enum qm_err
crypto_x25519_decap(const struct qm_identity *id,
                    const unsigned char ct[QM_X25519_BYTES],
                    unsigned char ss[32], struct qm_error *err);

/* Identity from fixed seeds (tests): x25519 and ed25519 seeds, ML-KEM
 * coins (64 bytes d || z). ML-DSA keys still come from randombytes. */
QM_NODISCARD enum qm_err crypto_identity_from_seeds(const unsigned char xs[32],
                                                    const unsigned char es[32],
                                                    const unsigned char ks[64],
                                                    struct qm_identity **out,
                                                    struct qm_error *err);

/* Public key bytes into a fixed array (QM_PUB_BYTES). */
void crypto_pubid_serialise(const struct qm_pubid *pk,
                            unsigned char out[QM_PUB_BYTES]);

/* Printable ASCII without control characters, at most max bytes. */
int crypto_label_ok(const char *s, size_t max, int allow_space);

/* ---------------------------------------------------- parsed envelope */

struct qm_envslot {
	char *rcpt; /* in the arena */
	const unsigned char *rcpt_raw;
	size_t rcpt_rawlen;
	size_t nkeys;
	char **keyids; /* in the arena */
	const unsigned char *kem;
	size_t kemlen;
	const unsigned char *wrap;
	size_t wraplen;
};

struct qm_env {
	const unsigned char *p;
	size_t n;
	int version;
	int level;
	uint32_t chunk;
	uint64_t plen;
	const unsigned char *salt;
	char sender_sae[QM_LABEL_MAX + 1];
	int has_fpr;
	unsigned char sender_fpr[QM_FPR_BYTES];
	size_t nslots;
	struct qm_envslot *slots;
	size_t hdrlen;        /* header bytes from offset 0 */
	size_t body_len;      /* body follows the header */
	size_t trailer_off;   /* tags (level 1) or signature (3, 4) */
	size_t sig_len;       /* levels 3 and 4 */
	unsigned char hh[32]; /* header hash */
	char *arena;
	char **keyptrs;
	/* parsed from a source (qm_crypto_env_parse_src): p is the header
	 * (own, allocated), the body and trailer are read from src */
	int from_src;
	struct qm_env_src src;
	unsigned char *own;
};

/* Header hash and bound-values hash (docs/FORMAT.md, "associated data"). */
void crypto_env_header_hash(const void *hdr, size_t len, unsigned char out[32]);
QM_NODISCARD enum qm_err crypto_env_bound_hash(const struct qm_bound *b,
                                               int version, int level,
                                               const char *sender_sae,
                                               unsigned char out[32],
                                               struct qm_error *err);
/* Number of AES-GCM chunks for a plaintext of plen bytes (at least 1). */
uint64_t crypto_env_nchunks(uint64_t plen);
/* The STREAM nonce of chunk i. */
void crypto_env_chunk_iv(const unsigned char prefix[QM_NONCE_PREFIX],
                         uint32_t i, int last,
                         unsigned char iv[QM_GCM_IVBYTES]);
/* Data key (32 bytes) then nonce prefix (QM_NONCE_PREFIX) from the
 * content key (levels 2-4), into dk (secure, caller's). */
#define QM_DKBYTES (32 + QM_NONCE_PREFIX)
QM_NODISCARD enum qm_err
crypto_env_data_key(const unsigned char cek[QM_CEKBYTES],
                    const unsigned char salt[QM_SALTBYTES], int level,
                    unsigned char dk[QM_DKBYTES], struct qm_error *err);
/* One secure allocation holds every secret of a seal or open: the content
 * key, a shared secret and KEK, and the data key. */
#define QM_WORK_CEK  0
#define QM_WORK_SS   32
#define QM_WORK_KEK  64
#define QM_WORK_DK   96
#define QM_WORKBYTES 144
/* The key-encryption key of slot i (levels 2-4); ikm is the QKD key, the
 * combined KEM secret or the X25519 secret; ctx the per-level context. */
QM_NODISCARD enum qm_err crypto_env_kek(int level, const unsigned char *ikm,
                                        size_t ikmlen,
                                        const unsigned char salt[QM_SALTBYTES],
                                        uint16_t slot, const void *ctx,
                                        size_t ctxlen, unsigned char kek[32],
                                        struct qm_error *err);
/* Wraps / unwraps the content key of slot i under kek. */
QM_NODISCARD enum qm_err
crypto_env_wrap(const unsigned char kek[32], const unsigned char bh[32],
                int level, uint16_t slot, const unsigned char cek[QM_CEKBYTES],
                unsigned char wrap[QM_WRAPBYTES], struct qm_error *err);
QM_NODISCARD enum qm_err
crypto_env_unwrap(const unsigned char kek[32], const unsigned char bh[32],
                  int level, uint16_t slot,
                  const unsigned char wrap[QM_WRAPBYTES],
                  unsigned char cek[QM_CEKBYTES], struct qm_error *err);
/* The digest a level-3/4 signature covers: envelope bytes before the
 * signature, with the bound hash. */
void crypto_env_sig_digest(const unsigned char bh[32], const void *p, size_t n,
                           unsigned char out[32]);
/* The same digest in pieces: begin (NULL when out of memory), update
 * (-1 on failure; nothing for a NULL digest), end (frees; a random digest
 * that never verifies when something failed). */
void *crypto_env_sig_begin(const unsigned char bh[32]);
int crypto_env_sig_update(void *c, const void *p, size_t n);
void crypto_env_sig_end(void **c, unsigned char out[32]);
/*
 * Level 2 with several slots: the one-time Poly1305 tag of slot j over
 * AD || u16 j || body, keyed by HKDF of that slot's QKD key, so that no
 * co-recipient (who knows the content key) can alter the text for others.
 */
QM_NODISCARD enum qm_err crypto_env_l2_mac(
    const struct qm_qkey *k, const unsigned char salt[QM_SALTBYTES],
    uint16_t slot, const unsigned char ad[64], const unsigned char *body,
    size_t len, unsigned char tag[QM_L1_TAGBYTES], struct qm_error *err);
/* The same tag in pieces: st (secure, caller's) is keyed and has taken
 * AD and j; the caller updates it with the body and finalises it. */
QM_NODISCARD enum qm_err
crypto_env_l2_mac_init(const struct qm_qkey *k,
                       const unsigned char salt[QM_SALTBYTES], uint16_t slot,
                       const unsigned char ad[64], crypto_onetimeauth_state *st,
                       struct qm_error *err);
/* Opening (open.c, open_src.c): the AUTH error naming what failed; the
 * checks of the keys or identities against the slot; the content key of
 * the slot (levels 2-4) into cek, ss a secure scratch of 64 bytes. */
QM_NODISCARD enum qm_err crypto_open_tampered(struct qm_error *err,
                                              const char *what);
QM_NODISCARD enum qm_err crypto_open_check(const struct qm_env *e,
                                           const struct qm_open_params *p,
                                           struct qm_error *err);
QM_NODISCARD enum qm_err crypto_open_cek(const struct qm_env *e,
                                         const struct qm_open_params *p,
                                         const unsigned char bh[32],
                                         unsigned char *cek, unsigned char *ss,
                                         struct qm_error *err);
/*
 * Opens an envelope parsed from a source: to wr, or appended to buf when
 * wr is NULL (buf is wiped and reset on failure), at most max bytes.
 * staged (with wr): levels 2-4 in one pass, wr getting each chunk once its
 * tag verifies and before the signature or MAC at the end is checked
 * (qm_crypto_env_open_staged).
 */
QM_NODISCARD enum qm_err crypto_open_src(const struct qm_env *e,
                                         const struct qm_open_params *p,
                                         uint64_t max, qm_write_fn wr,
                                         void *arg, struct qm_buf *buf,
                                         int staged, struct qm_error *err);
/* Bytes of per-slot tags after the body: levels 1, and 2 with 2+ slots. */
size_t crypto_env_slot_tags(int level, size_t nslots);
/* XOR: out = a ^ b over n bytes (out may equal a). */
void crypto_xor(unsigned char *out, const unsigned char *a,
                const unsigned char *b, size_t n);

/* A cursor over the concatenated QKD keys of a level-1 slot. */
struct qm_keystream {
	const struct qm_qkey *keys;
	size_t nkeys;
	size_t ki;
	size_t off;
};
void crypto_ks_init(struct qm_keystream *ks, const struct qm_qkey *keys,
                    size_t nkeys);
/* These assume crypto_l1_check_keys passed (enough bytes remain). */
void crypto_ks_skip(struct qm_keystream *ks, uint64_t n);
void crypto_ks_xor(struct qm_keystream *ks, unsigned char *out,
                   const unsigned char *in, size_t n);
void crypto_ks_copy(struct qm_keystream *ks, unsigned char *out, size_t n);
/* Level-1 key checks: valid IDs, enough bytes (QM_ERR_UNAVAIL naming both
 * figures), no key left wholly unused. who names the slot in messages. */
QM_NODISCARD enum qm_err crypto_l1_check_keys(const struct qm_qkey *keys,
                                              size_t nkeys, uint64_t plen,
                                              const char *who,
                                              struct qm_error *err);
/* A key ID is 1..QM_KEYID_MAX printable bytes without space or comma. */
int crypto_keyid_ok(const char *id);

#endif /* QM_CRYPTO_PRIVATE_H */
