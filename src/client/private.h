/* SPDX-License-Identifier: MIT */
/*
 * Internals of the client engine, shared by its files and nobody else.
 */
#ifndef QM_CLIENT_PRIVATE_H
#define QM_CLIENT_PRIVATE_H

#include <limits.h>

#include "client.h"
#include "crypto/crypto.h"
#include "kms/kms.h"
#include "mail/mail.h"
#include "store/store.h"

/* Sends the SMTP server accepted but neither the store nor the sent journal
 * (sentlog.c) could record: recorded before the outbox is worked again, so
 * that recovery does not send them a second time (this process only). */
#define QM_UNRECORDED_MAX 32

struct qm_client {
	char home[PATH_MAX];
	struct qm_store *store;
	int64_t unrecorded[QM_UNRECORDED_MAX];
	size_t nunrecorded;
};

/* Account settings kept with qm_store_setting_* (per account; their
 * names, values and defaults: client.h and settings.c). */
#define QM_SET_MAIL_CA QM_CLIENT_SET_MAIL_CA
#define QM_SET_INCOMING QM_CLIENT_SET_INCOMING
#define QM_SET_SAVE_SENT QM_CLIENT_SET_SAVE_SENT
#define QM_SET_POP3_DELETE QM_CLIENT_SET_POP3_DELETE
#define QM_SET_KME_ID QM_CLIENT_SET_KME_ID
/* Global (account 0): bumped whenever the user changes a limit. */
#define QM_SET_LIMITS_GEN "limits.generation"
/* Per account and folder (client_mbox_state_key: "sync.FOLDER.what"):
 * the limits.generation the folder's refused messages were last fetched
 * again under. */
#define QM_SET_REFUSED_GEN "refused.generation"

/*
 * Connection settings of an account for the mail layer. The strings point
 * into *a and *ca (which the caller keeps) and into *secret (secure memory,
 * freed by the caller with qm_buf_free).
 */
/* Per-account setting kept by the engine (not one a person sets): "1" once
 * the provider refused the account's refresh token, "0" once signed in
 * again (qm_client_account_signin_needed). */
#define CLIENT_SET_SIGNIN_NEEDED "oauth.signin_needed"

struct acct_conn {
	struct qm_store_account a;
	char ca[QM_STORE_PATHMAX];
	char kme_id[QM_STORE_NAMEMAX];
	int use_pop3;
	struct qm_buf secret; /* password or bearer token */
	struct qm_mail_limits lim; /* the user's limits (limits.c) */
	size_t json_depth;         /* for KME replies (limits.c) */
	/* OAuth2: the engine and this struct itself, for the mail layer's
	 * renewal after a refused token (qm_mail_server.reauth); the token
	 * is renewed in place in secret, whose room is reserved at load so
	 * that the mail servers' bearer pointers stay valid */
	struct qm_client *c;
	struct acct_conn *self;
	int renewed;        /* the token was renewed since load */
	uint64_t reauth_ns; /* qm_mono_ns of the last renewal after a
	                       refusal (one a minute at most) */
};

/* Loads the account and its secret (vault must be unlocked). */
QM_NODISCARD enum qm_err client_acct_conn_load(struct qm_client *c, int64_t id,
                                               struct acct_conn *ac,
                                               struct qm_error *err);
void client_acct_conn_free(struct acct_conn *ac);
/* Fills a mail server description from one of ac's servers. */
void client_acct_conn_server(const struct acct_conn *ac,
                             const struct qm_store_server *s,
                             struct qm_mail_server *out);
/* A KME client for the account. */
QM_NODISCARD enum qm_err client_acct_kms_new(const struct acct_conn *ac,
                                             struct qm_kms **out,
                                             struct qm_error *err);
/* An account setting as a string into out ("" when unset). */
void client_acct_setting(struct qm_client *c, int64_t id, const char *key,
                         char *out, size_t outlen);

/* Turns the fields of a view a person reads into their display-safe forms
 * (display.c): addresses decoded and marked, subject, date, attachment
 * names and types marked, each attachment's real extension. */
QM_NODISCARD enum qm_err client_view_display(struct qm_client_view *v,
                                             struct qm_error *err);
/* The same for attachment a, the i-th of its message: a name made from
 * its position and type when it has none, name and type marked, its real
 * extension. */
QM_NODISCARD enum qm_err client_att_display(struct qm_client_att *a, size_t i,
                                            struct qm_error *err);

/* The account's identity (private half from the vault). */
QM_NODISCARD enum qm_err client_own_identity(struct qm_client *c,
                                             int64_t account_id,
                                             struct qm_identity **out,
                                             struct qm_error *err);
/* A contact's public identity that may be used: QM_ERR_NOTFOUND when none,
 * QM_ERR_STATE when the key changed and awaits the user's decision. */
QM_NODISCARD enum qm_err client_contact_pubid(struct qm_client *c,
                                              const char *address,
                                              struct qm_pubid **out,
                                              enum qm_store_trust *trust,
                                              struct qm_error *err);
/* An RFC 5322 date as Unix seconds (0 when it does not parse). */
int64_t client_date_parse(const char *s);
/* The bare lower-case address of "Name <a@b>" into out. */
QM_NODISCARD enum qm_err client_addr_bare(const char *in, char *out,
                                          size_t outlen, struct qm_error *err);
/* Sender names (sender.c). client_sender_name_ok copies name into out
 * (cap bytes) without surrounding blanks, or "" when it is no name to show
 * for addr: empty, or holding an '@' (an address) that is not addr
 * itself. client_sender_name_of does so with the display name (RFC 2047
 * decoded) of the mailbox addr in From header value from. */
void client_sender_name_ok(const char *name, const char *addr, char *out,
                           size_t cap);
void client_sender_name_of(const char *from, const char *addr, char *out,
                           size_t cap);
/* The confirmed SAE ID of a contact of account into out. */
QM_NODISCARD enum qm_err
client_contact_sae(struct qm_client *c, int64_t account_id, const char *address,
                   char *out, size_t outlen, struct qm_error *err);

/* Most recipients of one message (To, Cc and Bcc together). */
#define QM_CLIENT_MAXRCPTS 100

/*
 * Recipients as the send path counts them: bare lower-case addresses, each
 * once (levels.c). client_rcpts_add appends the bare form of addr unless it is
 * there already (*dup, may be NULL, is then 1).
 */
struct rcpts {
	char **v;
	size_t n;
};
QM_NODISCARD enum qm_err client_rcpts_add(struct rcpts *r, const char *addr,
                                          int *dup, struct qm_error *err);
int client_rcpts_has(const struct rcpts *r, const char *bare);
void client_rcpts_free(struct rcpts *r);

/* What a level check found besides yes or no (levels.c). */
struct level_info {
	uint64_t needed; /* level 1: key bytes needed per recipient */
	/* level 1: the KME reported too little key for a recipient but may
	 * make keys on demand: its answer to the key request decides */
	int ask;
	char note[QM_ERR_MSGMAX];       /* see struct qm_client_level */
	char unverified[QM_ERR_MSGMAX]; /* comma separated addresses */
};

/*
 * The checks of one copy of a message at level that need no KME: the
 * setting min_level and each recipient contact's minimum level; levels 1
 * and 2: the account's KME and SAE ID, each recipient's confirmed SAE ID
 * (into sae[i] when sae is not NULL) and no SAE ID twice; levels 3 and 4:
 * each recipient's public key known and not changed (those not verified
 * are added to li->unverified when li is not NULL). rcpts are bare and
 * each once. Every failure will not go away by waiting: QM_ERR_UNAVAIL
 * for a floor or a shared SAE ID, others as found; the message names the
 * recipient and what to mend.
 */
QM_NODISCARD enum qm_err
client_copy_check(struct qm_client *c, const struct acct_conn *ac, int level,
                  const char *const *rcpts, size_t n,
                  char (*sae)[QM_STORE_NAMEMAX], struct level_info *li,
                  struct qm_error *err);
/*
 * Whether a message of msg_bytes may go at level now: the To/Cc copy to
 * tocc (bare, each once) and a copy to each of bcc (client_copy_check on
 * each), and level 1 asks the KME's status for each recipient. li (may be
 * NULL) gets what else was found.
 */
QM_NODISCARD enum qm_err
client_level_check(struct qm_client *c, const struct acct_conn *ac, int level,
                   const char *const *tocc, size_t ntocc,
                   const char *const *bcc, size_t nbcc, uint64_t msg_bytes,
                   struct level_info *li, struct qm_error *err);

/*
 * The keys one message is sealed or opened under, whatever its level
 * (msgkeys.c): levels 1 and 2, QKD keys, one slot per recipient SAE
 * (sealing) or this account's slot (opening), ids every key ID in order;
 * levels 3 and 4, the account's identity (self) and the public identities
 * of the recipients or of the sender (peer). sae is the sender SAE the
 * envelope binds (levels 1, 2; NULL at 3, 4, where opening takes the
 * envelope's). Everything is owned and freed by client_msg_keys_free.
 */
struct msg_keys {
	int level;
	const char *sae; /* borrowed */
	size_t n;        /* slots (1, 2) or peers (3, 4) */
	struct qm_kms_keys *kk[QM_CLIENT_MAXRCPTS];
	struct qm_qkey *qk[QM_CLIENT_MAXRCPTS];
	struct qm_qslot slot[QM_CLIENT_MAXRCPTS];
	const char **ids; /* point into kk */
	size_t nids;
	struct qm_identity *self;
	struct qm_pubid *peer[QM_CLIENT_MAXRCPTS];
};
/* How far client_msg_keys_seal came: QM_ERR_* from KEYS_LOCAL (the keyring, no
 * network) do not get better by waiting, from KEYS_PREP (room on the
 * disk, the KME client) they may, from KEYS_KME they are the KME's answer
 * to the key request. */
enum keys_stage { KEYS_LOCAL, KEYS_PREP, KEYS_KME };
void client_msg_keys_init(struct msg_keys *mk, int level,
                          const char *sender_sae);
void client_msg_keys_free(struct msg_keys *mk);
/* 1 for a level whose keys are QKD keys (1, 2), 0 for identities (3, 4). */
int client_msg_keys_qkd(const struct msg_keys *mk);
/* Levels 1 and 2: the keys *ks (taken: *ks is NULL after) become the next
 * slot, labelled rcpt (borrowed; its SAE ID, "" when opening). */
QM_NODISCARD enum qm_err client_msg_keys_take(struct msg_keys *mk,
                                              const char *rcpt,
                                              struct qm_kms_keys **ks,
                                              struct qm_error *err);
/* Levels 3 and 4: the account's identity; the public identity of address
 * as the next peer (errors as client_contact_pubid). */
QM_NODISCARD enum qm_err client_msg_keys_self(struct qm_client *c,
                                              const struct acct_conn *ac,
                                              struct msg_keys *mk,
                                              struct qm_error *err);
QM_NODISCARD enum qm_err client_msg_keys_peer(struct qm_client *c,
                                              const char *address,
                                              struct msg_keys *mk,
                                              struct qm_error *err);
/*
 * Sending: the keys to seal a plaintext of ptlen bytes to the n recipients
 * rcpts (bare), whose SAE IDs sae client_copy_check found (levels 1, 2):
 * levels 1 and 2 ask the KME (after checking that the home has room for
 * what must be written once it answered), 3 and 4 read the keyring.
 * *stage says how far it came when it fails.
 */
QM_NODISCARD enum qm_err client_msg_keys_seal(
    struct qm_client *c, const struct acct_conn *ac, const char *const *rcpts,
    const char (*sae)[QM_STORE_NAMEMAX], size_t n, size_t ptlen,
    struct msg_keys *mk, enum keys_stage *stage, struct qm_error *err);
/* The crypto layer's parameters for sealing or opening (slot: ours, from
 * qm_crypto_env_slot_find) under mk, with the bound values b (borrowed). */
void client_msg_keys_seal_params(const struct msg_keys *mk,
                                 const struct qm_bound *b,
                                 struct qm_seal_params *sp);
void client_msg_keys_open_params(const struct msg_keys *mk,
                                 const struct qm_bound *b, size_t slot,
                                 struct qm_open_params *op);

/* The associated data of a message: fills b from h; "to:"/"cc:" prefixes
 * keep To and Cc apart. rcpt_store holds the two prefixed strings. */
struct bound_store {
	char *rcpt[2];
	const char *rcpts[2];
};
QM_NODISCARD enum qm_err client_bound_make(const struct qm_mail_hdrs *h,
                                           const char *sender_sae,
                                           struct qm_bound *b,
                                           struct bound_store *bs,
                                           struct qm_error *err);
void client_bound_store_free(struct bound_store *bs);

/* The user's mail limits in force (settings limit.*, defaults where unset),
 * with the hint that tells a person how to change one (limits.c). */
void client_mail_limits(struct qm_client *c, struct qm_mail_limits *out);
/* The JSON depth limit in force for KME replies (limit.json_depth). */
size_t client_json_depth(struct qm_client *c);
/* Before a message enters the outbox: QM_ERR_TOOBIG, naming the limit to
 * change, when the protected message of inner_len bytes with natt
 * attachments would pass the user's limits once sent (its size on the
 * wire, the parts). */
QM_NODISCARD enum qm_err
client_send_limits_check(const struct qm_mail_limits *lim, size_t inner_len,
                         size_t natt, struct qm_error *err);

/*
 * Takes the exclusive lock name (a file in the home) for this process,
 * waiting up to timeout_s while another process holds it. what says what
 * the lock is for, in error messages ("send the outbox"). *fd gets the
 * descriptor to give to client_home_unlock. QM_ERR_UNAVAIL after the timeout,
 * QM_ERR_IO when the home is read-only or the file cannot be made.
 */
QM_NODISCARD enum qm_err client_home_lock(struct qm_client *c, const char *name,
                                          int timeout_s, const char *what,
                                          int *fd, struct qm_error *err);
void client_home_unlock(int *fd);
/*
 * QM_ERR_IO with a message saying how much is free when the file system of
 * the home has less than need bytes available, or is read-only. Made before
 * work that cannot be repeated (fetching keys the KME then forgets).
 */
QM_NODISCARD enum qm_err client_home_space_check(struct qm_client *c,
                                                 uint64_t need,
                                                 const char *what,
                                                 struct qm_error *err);
/* The outbox lock: one process works the outbox of a home at a time. */
#define QM_LOCK_OUTBOX "outbox.lock"

/*
 * The copy of a sent outbox entry in the account's Sent folder (sentcopy.c;
 * setting save_sent). client_sent_copy_save tries it once right after the send
 * and, when it fails, keeps the entry for client_sent_copy_retry, which
 * qm_client_outbox_run calls for its account(s) (0: all); *n_saved (may be
 * NULL) gets how many were saved. Neither saves a copy the Sent folder
 * holds already (same Message-ID). The caller of client_sent_copy_save holds
 * the outbox lock; client_sent_copy_retry takes it.
 */
QM_NODISCARD enum qm_err client_sent_copy_save(struct qm_client *c,
                                               struct acct_conn *ac,
                                               const struct qm_store_outbox *o,
                                               struct qm_error *err);
/*
 * The same copy made beside the SMTP upload of a large message: started
 * before it (a thread with its own handle and IMAP session; *bs NULL when
 * the account keeps no sealed copy), held back by one byte until
 * client_sent_copy_finish after the server took the message (or, as
 * client_sent_copy_save, a copy for later) or client_sent_copy_drop after
 * it refused it (nothing stored). Either must follow a start.
 */
struct sent_beside;
QM_NODISCARD enum qm_err
client_sent_copy_beside(struct qm_client *c, const struct acct_conn *ac,
                        const struct qm_store_outbox *o,
                        struct sent_beside **bs, struct qm_error *err);
QM_NODISCARD enum qm_err
client_sent_copy_finish(struct qm_client *c, struct acct_conn *ac,
                        const struct qm_store_outbox *o,
                        struct sent_beside **bs, struct qm_error *err);
void client_sent_copy_drop(struct sent_beside **bs);
QM_NODISCARD enum qm_err client_sent_copy_retry(struct qm_client *c,
                                                int64_t account_id,
                                                size_t *n_saved,
                                                struct qm_error *err);
/*
 * The sent journal (sentlog.c): sends the SMTP server accepted while the
 * store could not record them, kept in reserved blocks of a file in the
 * home so that a full disk or the process's end does not make them go out
 * twice. All three run under the outbox lock. client_sentlog_prepare reserves
 * the file's blocks (before sending); client_sentlog_add notes id;
 * client_sentlog_flush records every noted ID as sent in the store and clears
 * it (*n_recorded may be NULL), failing while the store still cannot write.
 */
QM_NODISCARD enum qm_err client_sentlog_prepare(struct qm_client *c,
                                                struct qm_error *err);
QM_NODISCARD enum qm_err client_sentlog_add(struct qm_client *c, int64_t id,
                                            struct qm_error *err);
QM_NODISCARD enum qm_err client_sentlog_flush(struct qm_client *c,
                                              size_t *n_recorded,
                                              struct qm_error *err);
/* 1 when the copy of outbox entry id (account acct) waits to be saved. */
int client_sent_copy_waiting(struct qm_client *c, int64_t acct, int64_t id);

/*
 * What asking the KME for a received message's keys came to (recv_kme.c),
 * and so what becomes of the message.
 */
enum kme_fate {
	KME_GOT = 0,   /* the keys are here */
	KME_GONE,      /* not found, or not addressed to this SAE: no key */
	KME_BAD,       /* the message's values are bad (the KME answers 400,
	                  or they fail the checks before asking) */
	KME_ACCOUNT,   /* the account cannot use its KME: none configured,
	                  certificate refused, TLS; waits, said once */
	KME_DOWN,      /* the KME cannot be reached or fails as a whole */
	KME_TRANSIENT, /* the KME failed for this message: back-off */
	KME_FATAL,     /* out of memory: the sync stops */
};
/* KME_BAD (why says which) when the sender SAE or a key ID cannot be
 * asked for at all; else KME_GOT. */
enum kme_fate client_recv_ids_check(const char *sender_sae,
                                    const char *const *key_ids, size_t n,
                                    struct qm_error *why);
/* Fetches the keys; on KME_GOT *out holds them, else why says what
 * happened in words for a person. */
enum kme_fate client_recv_kme_keys(const struct acct_conn *ac,
                                   const char *sender_sae,
                                   const char *const *key_ids, size_t n,
                                   struct qm_kms_keys **out,
                                   struct qm_error *why);

/*
 * The sealed security record of a received message (msgmeta.c): what the
 * receive path established and the reader shows. Strings are malloc'd
 * (NULL when absent); client_msg_meta_clear frees them.
 */
enum msg_wait {
	MSG_WAIT_NONE = 0,
	MSG_WAIT_KME = 1, /* the account could not use its KME: every sync */
	MSG_WAIT_MSG = 2, /* the KME failed for this message: back-off */
};
/*
 * What the receiving KME said of the way a message's QKD keys came
 * (levels 1 and 2; its key_container_extension): relayed through trusted
 * nodes, how many hops from which KME. relayed 0: it said nothing (a
 * direct link, or a KME that does not tell).
 */
struct kme_path {
	int relayed;
	int hops;    /* QKD links the keys crossed (1..QM_KME_PATH_MAXHOPS) */
	int trusted; /* KMEs between the two ends that saw them in clear */
	char source[QM_STORE_NAMEMAX]; /* the sender's KME ID */
};
#define QM_KME_PATH_MAXHOPS 64
/* The path the KME reports in ks's extensions (the longest when several
 * replies disagree) into *p; relayed 0 when none says relayed. */
void client_kme_path_of(const struct qm_kms_keys *ks, struct kme_path *p);

struct msg_meta {
	char sae[QM_STORE_NAMEMAX];        /* envelope's sender SAE (1, 2) */
	char owner[QM_STORE_ADDRMAX];      /* contact it is confirmed for */
	char *from, *to, *cc, *date, *mid; /* the bound header values */
	char signer[QM_STORE_FPRMAX]; /* signing key's fingerprint (3, 4) */
	char signer_addr[QM_STORE_ADDRMAX];
	int wait_kind; /* enum msg_wait */
	int tries;
	int64_t next_at;      /* Unix seconds; 0: the next sync */
	struct kme_path path; /* the keys' way (1, 2) */
};
void client_msg_meta_clear(struct msg_meta *m);
/* Appends the record's text to out. */
QM_NODISCARD enum qm_err client_msg_meta_encode(const struct msg_meta *m,
                                                struct qm_buf *out,
                                                struct qm_error *err);
/* Parses what client_msg_meta_encode wrote into *m (cleared first). */
QM_NODISCARD enum qm_err client_msg_meta_decode(const void *p, size_t n,
                                                struct msg_meta *m,
                                                struct qm_error *err);
/* Opens and parses message id's record; QM_ERR_NOTFOUND when none. */
QM_NODISCARD enum qm_err client_msg_meta_load(struct qm_client *c, int64_t id,
                                              struct msg_meta *m,
                                              struct qm_error *err);

/* ------------------------------------------------ receiving: fetching */

/*
 * One message to file (recv_file.c): where the server keeps it, and its
 * bytes (borrowed).
 */
struct incoming {
	const char *folder;
	int64_t uidvalidity, uid;
	/* IMAP: the folder's row (0: none, as for a copy kept) and the
	 * server's flags: the message's place once filed */
	int64_t folder_id;
	unsigned flags;
	const char *uidl;
	const void *raw;
	size_t rawlen;
	/* or, for a large one written into a blob as it arrived (struct
	 * raw_sink; raw NULL, rawlen its size): that complete blob (kind
	 * QM_STORE_BLOB_MSG, owned by the account), which client_recv_file
	 * takes (the message keeps it as its body, or it is removed) */
	int64_t raw_blob;
	/* > 0: its earlier record (refused, waiting, unreadable, no key), to
	 * replace in the same transaction as the new one comes */
	int64_t replace_id;
	enum qm_store_verify replaced;
	int tries; /* a waiting one: attempts so far */
	/* replace_id is a header-only record (recv_head.c) and raw the body
	 * fetched for it: filed only when it is the message the headers
	 * described (expect_size bytes, Message-ID expect_mid); a plain one
	 * fills the record in place (same id), anything else replaces it as
	 * a whole fetch would have filed it. plain_only: without the sync
	 * lock, a body that is not plain mail is left to the sync */
	int header_only, plain_only;
	const char *expect_mid;
	int64_t expect_size;
};

/*
 * A mailbox source (recv_source.c): an IMAP folder or the POP3 maildrop of
 * an account, behind one interface. client_mbox_open connects (IMAP: and
 * brings folder up to date, client_folder_sync_open, counting in st, which
 * may be NULL; POP3 has one maildrop, INBOX, and lists it); ac and st are
 * borrowed for the source's life. client_mbox_list_new gives what was not filed before
 * (*out malloc'd); client_mbox_holds says whether a record of the account was
 * filed from this source, client_mbox_find finds its message again
 * (QM_ERR_NOTFOUND when the server no longer lists it); client_mbox_fetch gets
 * a message's bytes (QM_ERR_NOTFOUND: gone; QM_ERR_TOOBIG: past
 * limit.message_size, and the session is gone: client_mbox_reopen).
 * client_mbox_seen records a message as filed, so no later sync lists it;
 * client_mbox_settle lets the server's copy go when the account says so (POP3
 * delete after fetch). client_mbox_where fills the location fields of in.
 */
/*
 * Where a message of more than RECV_BLOB_MIN bytes goes as it arrives
 * (issue 18): the mail layer's sink (s), writing it into a sealed blob of
 * kind QM_STORE_BLOB_MSG owned by the account, so that neither the IMAP
 * literal nor the POP3 RETR body is held whole. client_raw_sink_init
 * sets it up; each message begins a new blob (one begun before and not
 * ended goes); client_raw_sink_end completes the message the fetch said
 * is whole and gives its blob to the caller (*blob, *len);
 * client_raw_sink_drop removes one not ended (a fetch cut short: nothing
 * of it stays, and a crash leaves it to qm_store_blob_gc).
 */
struct raw_sink {
	struct qm_client *c;
	int64_t acct;
	struct qm_store_blob_w *w;
	struct qm_mail_sink s;
};
void client_raw_sink_init(struct raw_sink *rs, struct qm_client *c,
                          int64_t acct);
QM_NODISCARD enum qm_err client_raw_sink_end(struct raw_sink *rs, int64_t *blob,
                                             uint64_t *len,
                                             struct qm_error *err);
void client_raw_sink_drop(struct raw_sink *rs);

struct mbox;
struct mbox_msg {
	uint32_t uid;  /* IMAP */
	unsigned flags; /* IMAP: the server's flags when listed */
	uint32_t num;  /* POP3: its number in this session */
	char uidl[72]; /* POP3 */
};
QM_NODISCARD enum qm_err client_mbox_open(struct qm_client *c,
                                          const struct acct_conn *ac,
                                          const char *folder,
                                          struct qm_client_sync_stats *st,
                                          struct mbox **out,
                                          struct qm_error *err);
/*
 * An IMAP session shared by the folders of one sync (one connection and
 * login per sync, not one per folder), with the server it is for, which
 * the session points to and so must outlive it. im NULL: the next source
 * opens one. The sync frees im once every source on it is freed.
 */
struct imap_share {
	struct qm_mail_server srv;
	struct qm_mail_imap *im;
};
/*
 * client_mbox_open on share (NULL: a session of the source's own).
 * status (may be NULL): the folder's STATUS from the listing of this
 * sync, for client_folder_sync_open. A POP3 account ignores both.
 * client_mbox_reopen of a source on a share replaces its session (the
 * server dropped it).
 */
QM_NODISCARD enum qm_err
client_mbox_open_on(struct qm_client *c, const struct acct_conn *ac,
                    const char *folder, struct qm_client_sync_stats *st,
                    struct imap_share *share,
                    const struct qm_mail_imap_counts *status, struct mbox **out,
                    struct qm_error *err);
QM_NODISCARD enum qm_err client_mbox_reopen(struct mbox *mb,
                                            struct qm_error *err);
/* ms[0..n) fetched in few round trips (IMAP), fn called for each as it
 * comes (qm_mail_imap_fetch_many); QM_ERR_UNSUPPORTED, no message set,
 * for a source that fetches one at a time (POP3). */
QM_NODISCARD enum qm_err
client_mbox_fetch_many(struct mbox *mb, const struct mbox_msg *ms, size_t n,
                       qm_mail_msg_fn fn, void *arg, struct qm_error *err);
/* The same, a message of more than RECV_BLOB_MIN bytes written into a
 * blob by rs as it arrives: fn gets msg NULL for it (its size in len) and
 * takes it with client_raw_sink_end; the caller drops what is left. */
QM_NODISCARD enum qm_err
client_mbox_fetch_many_to(struct mbox *mb, const struct mbox_msg *ms, size_t n,
                          struct raw_sink *rs, qm_mail_msg_fn fn, void *arg,
                          struct qm_error *err);
/* The list fields of ms[0..n) (IMAP: qm_mail_imap_fetch_summaries, fn
 * once per message in the server's order); QM_ERR_UNSUPPORTED, no message
 * set, for POP3. */
QM_NODISCARD enum qm_err client_mbox_heads(struct mbox *mb,
                                           const struct mbox_msg *ms, size_t n,
                                           qm_mail_summary_fn fn, void *arg,
                                           struct qm_error *err);
/* The store's row of the IMAP folder (0: POP3). */
int64_t client_mbox_folder_id(const struct mbox *mb);
void client_mbox_free(struct mbox **mb);
QM_NODISCARD enum qm_err client_mbox_list_new(struct mbox *mb,
                                              struct mbox_msg **out, size_t *n,
                                              struct qm_error *err);
int client_mbox_holds(const struct mbox *mb, const struct qm_store_msg *rec);
QM_NODISCARD enum qm_err client_mbox_find(struct mbox *mb,
                                          const struct qm_store_msg *rec,
                                          struct mbox_msg *out);
/* *blob (0: none) gets a message of more than RECV_BLOB_MIN bytes,
 * written into a blob as it arrived (struct raw_sink; raw then empty,
 * *bloblen its size): the caller's, to give to client_recv_file. */
QM_NODISCARD enum qm_err
client_mbox_fetch(struct mbox *mb, const struct mbox_msg *m, struct qm_buf *raw,
                  int64_t *blob, uint64_t *bloblen, struct qm_error *err);
QM_NODISCARD enum qm_err client_mbox_seen(struct mbox *mb,
                                          const struct mbox_msg *m,
                                          struct qm_error *err);
void client_mbox_settle(struct mbox *mb, const struct mbox_msg *m);
void client_mbox_where(const struct mbox *mb, const struct mbox_msg *m,
                       struct incoming *in);
/*
 * An IMAP folder brought up to date (folder_sync.c) before its new mail is
 * fetched: client_folder_sync_open selects it, gives the mail layer what
 * the store holds of it and applies what changed (a new UIDVALIDITY drops
 * its places; vanished UIDs; flags both ways, counted in st), leaving in
 * fs->ch the folder's state and the UIDs added. client_folder_sync_done
 * records where the sync stopped (fs->lastuid: the highest UID filed);
 * client_folder_sync_free frees. status (may be NULL) is the folder's
 * STATUS taken this sync: when it shows the state the last sync recorded
 * (UIDVALIDITY, HIGHESTMODSEQ, as many messages as places) and no flag
 * the user changed waits to be written, the folder is not selected at all
 * (fs->quiet; fs->ch then holds the recorded state and nothing added).
 */
struct folder_sync {
	int64_t folder_id;
	int64_t lastuid;
	int quiet;
	struct qm_mail_imap_changes *ch;
};
QM_NODISCARD enum qm_err
client_folder_sync_open(struct qm_client *c, const struct acct_conn *ac,
                        struct qm_mail_imap *im, const char *name,
                        const struct qm_mail_imap_counts *status,
                        struct folder_sync *fs, struct qm_client_sync_stats *st,
                        struct qm_error *err);
QM_NODISCARD enum qm_err client_folder_sync_done(struct qm_client *c,
                                                 const struct folder_sync *fs,
                                                 struct qm_error *err);
void client_folder_sync_free(struct folder_sync *fs);
/* The flags that go both ways between a message and its places on the
 * server (store QM_FLAG_* = mail QM_MAIL_FLAG_*). */
#define CLIENT_SYNC_FLAGS                                                      \
	(QM_FLAG_SEEN | QM_FLAG_ANSWERED | QM_FLAG_FLAGGED | QM_FLAG_DELETED | \
	 QM_FLAG_DRAFT | QM_FLAG_FORWARDED | QM_FLAG_JUNK | QM_FLAG_NOTJUNK)
/* Place p of folder fid is gone from the server: the place goes, and a
 * plain message left with no place goes from the index (folder_sync.c). */
QM_NODISCARD enum qm_err client_place_gone(struct qm_client *c, int64_t fid,
                                           const struct qm_store_place *p,
                                           struct qm_error *err);
/* The lock a sync of account_id holds (recv.c), waited for up to
 * timeout_s seconds (0: tried once). */
QM_NODISCARD enum qm_err client_sync_lock(struct qm_client *c,
                                          int64_t account_id, int timeout_s,
                                          const char *what, int *fd,
                                          struct qm_error *err);
/* Local folders of a POP3 account (local.c). A local folder is a folder
 * record whose UIDVALIDITY is CLIENT_LOCAL_VALIDITY; a query by its name
 * selects by the folder a message is filed in. */
#define CLIENT_LOCAL_VALIDITY (-1)
/* 1 when account acct fetches its mail over POP3. */
int client_acct_over_pop3(struct qm_client *c, int64_t acct);
/* 1 when message id belongs to a POP3 account (*acct: its account). */
int client_msg_local(struct qm_client *c, int64_t id, int64_t *acct);
QM_NODISCARD enum qm_err client_local_move(struct qm_client *c, int64_t acct,
                                           int64_t id, const char *folder,
                                           int move, struct qm_error *err);
QM_NODISCARD enum qm_err client_local_file(struct qm_client *c, int64_t acct,
                                           int64_t id,
                                           enum qm_store_folder_use u,
                                           struct qm_error *err);
QM_NODISCARD enum qm_err client_local_trash(struct qm_client *c, int64_t acct,
                                            int64_t id, struct qm_error *err);
QM_NODISCARD enum qm_err client_local_folder_create(struct qm_client *c,
                                                    int64_t acct,
                                                    const char *name,
                                                    struct qm_error *err);
QM_NODISCARD enum qm_err
client_local_folder_rename(struct qm_client *c, int64_t acct, const char *from,
                           const char *to, struct qm_error *err);
QM_NODISCARD enum qm_err client_local_folder_delete(struct qm_client *c,
                                                    int64_t acct,
                                                    const char *name,
                                                    struct qm_error *err);
/* INBOX and the local folders, with counts by the folder messages are
 * filed in (free with qm_store_folders_free). */
QM_NODISCARD enum qm_err client_local_folders(struct qm_client *c, int64_t acct,
                                              struct qm_store_folder **out,
                                              size_t *n, struct qm_error *err);
/* The account's IMAP folders to sync now, INBOX first, as the setting
 * sync_folders says (folders.c; the listing the last refresh stored):
 * *names malloc'd strings, free with qm_store_strv_free. */
QM_NODISCARD enum qm_err client_folders_to_sync(struct qm_client *c,
                                                int64_t acct, char ***names,
                                                size_t *n,
                                                struct qm_error *err);
/* Lists the folders of the server im is logged in to into the store. */
QM_NODISCARD enum qm_err client_folders_store(struct qm_client *c, int64_t acct,
                                              struct qm_mail_imap *im,
                                              struct qm_error *err);
/* The mailbox source's sync of an IMAP folder done: records where it
 * stopped (nothing for POP3). */
QM_NODISCARD enum qm_err client_mbox_done(struct mbox *mb,
                                          struct qm_error *err);

/* The account setting under which an IMAP folder's sync state is kept
 * ("sync.<folder>.<what>", what: "uidvalidity" or "lastuid"). */
void client_mbox_state_key(char *out, size_t n, const char *what,
                           const char *folder);
/* An account setting as a number (0 when unset or not one), and back. */
int64_t client_setting_int(struct qm_client *c, int64_t acct, const char *key);
QM_NODISCARD enum qm_err client_setting_put_int(struct qm_client *c,
                                                int64_t acct, const char *key,
                                                int64_t v,
                                                struct qm_error *err);

/*
 * What an outbox entry's envelope will bind, sealed with the entry when the
 * message is built (msgmeta.c; the store's outbox.bound, schema 5): its
 * level and the header values From, To, Cc, Date and Message-ID, so that
 * encrypting it does not parse the MIME again. client_outbox_rec_decode fails
 * with QM_ERR_PARSE when one of them is missing; client_outbox_rec_clear frees.
 */
struct outbox_rec {
	int level; /* 0: sent unencrypted (allow_plain) */
	int has_level;
	struct qm_mail_hdrs h; /* malloc'd strings */
	char *rcpts; /* level 0: the entry's recipients, as sealed (malloc'd) */
};
void client_outbox_rec_clear(struct outbox_rec *r);

QM_NODISCARD enum qm_err client_outbox_rec_encode(int level,
                                                  const struct qm_mail_hdrs *h,
                                                  const char *rcpts,
                                                  struct qm_buf *out,
                                                  struct qm_error *err);
QM_NODISCARD enum qm_err client_outbox_rec_decode(const void *p, size_t n,
                                                  struct outbox_rec *r,
                                                  struct qm_error *err);

/* ------------------------------------------------- plain mail (plain.c) */

/* Whether bare can get no QMail message at all (*yes): no public key is
 * known for it (not even a changed one) and its contact, if any, has no
 * SAE ID and was not changed on disk. Fails when the store cannot say. */
QM_NODISCARD enum qm_err client_rcpt_plain_only(struct qm_client *c,
                                                const struct acct_conn *ac,
                                                const char *bare, int *yes,
                                                struct qm_error *err);
/* Moves the recipients of tocc and bcc that can get no QMail message to
 * ptocc and pbcc (the caller frees all four). */
QM_NODISCARD enum qm_err
client_plain_split(struct qm_client *c, const struct acct_conn *ac,
                   struct rcpts *tocc, struct rcpts *bcc, struct rcpts *ptocc,
                   struct rcpts *pbcc, struct qm_error *err);
/* Whether an unencrypted copy may go to the recipients of a and b (b may
 * be NULL): QM_ERR_UNAVAIL naming the floor that forbids it (the setting
 * min_level, a contact's minimum level), QM_ERR_STATE for a contact whose
 * record was changed on disk. */
QM_NODISCARD enum qm_err client_plain_allowed(struct qm_client *c,
                                              const struct acct_conn *ac,
                                              const struct rcpts *a,
                                              const struct rcpts *b,
                                              struct qm_error *err);
/* QM_ERR_UNAVAIL with hint QM_HINT_PLAIN naming the recipients of ptocc
 * and pbcc, who can get no encrypted message. */
QM_NODISCARD enum qm_err client_plain_refuse(const struct rcpts *ptocc,
                                             const struct rcpts *pbcc,
                                             struct qm_error *err);
/* The addresses of a and b (b may be NULL), comma separated, cut to
 * outlen. */
void client_plain_names(const struct rcpts *a, const struct rcpts *b, char *out,
                        size_t outlen);
/* 1 when account_id's plain copies carry the note on QMail. */
int client_plain_invite(struct qm_client *c, int64_t account_id);
/* That note, appended to the text of a plain copy. */
const char *client_plain_invite_note(void);
/* The recipients of m as one send sees them: tocc To and Cc (each once),
 * bcc the Bcc addresses not among them. */
QM_NODISCARD enum qm_err client_compose_rcpts(const struct qm_client_compose *m,
                                              struct rcpts *tocc,
                                              struct rcpts *bcc,
                                              struct qm_error *err);

/* The receive path's state (recv.c, recv_open.c). */
/* The outcome of processing one fetched message. */
struct recv_outcome {
	enum qm_store_verify verify;
	int level;
	char reason[QM_ERR_MSGMAX];
	struct qm_buf plain; /* secure: the readable MIME message */
	/* or, for a large one (RECV_BLOB_MIN), the blob it was decrypted
	 * into (QM_STORE_BLOB_MSG, owned by the account) and its length;
	 * the filing gives it to the message or removes it */
	int64_t plain_blob;
	uint64_t plain_blob_len;
	char **key_ids;
	size_t nkey_ids;
	enum msg_wait wait; /* not opened now: waits (why: reason) */
	int keep_raw;       /* keep the message as received, for a retry */
	char sae[QM_STORE_NAMEMAX];   /* envelope's sender SAE */
	char owner[QM_STORE_ADDRMAX]; /* whose confirmed SAE ID it is */
	char signer[QM_STORE_FPRMAX]; /* signing key's fingerprint */
	char signer_addr[QM_STORE_ADDRMAX];
	struct kme_path path; /* levels 1 and 2: the keys' way */
	/* levels 3 and 4: the key that signed came with the message (its
	 * identity header), first seen (1) or not the one the keyring uses
	 * for its sender (2) */
	int key_news;
	/* the account's own copy sealed to its own key (client_self_copy_of):
	 * opened with that key, never a replay, QM_VERIFY_SENT once opened */
	int self_copy;
	/* such a copy of a draft (drafts.c): its ID and version time */
	char draft_uuid[33];
	int64_t draft_time;
};

/*
 * Plaintexts above this many bytes are decrypted into a sealed blob a
 * chunk at a time (the opener's two passes, store blob.c) rather than into
 * memory and one sealed value: most mail is far smaller and the one-pass
 * buffer path is faster for it, while past a megabyte the three or four
 * whole copies the buffer path holds (plaintext, sealed value, SQLite's
 * copy, the parser's) are what bounds a sync's memory.
 */
#define RECV_BLOB_MIN (1024u * 1024u)
/* An unfinished blob this old (seconds) is one nobody writes any more:
 * each sync removes those (qm_store_blob_gc). */
#define BLOB_GC_AGE_S 3600

/* Parses the envelope of a QMail message mp, held in memory or left in
 * the message (qm_mail_parse_big: read in pieces, recv_open.c). */
QM_NODISCARD enum qm_err client_env_parse(const struct qm_mail_parsed *mp,
                                          struct qm_env **env,
                                          struct qm_error *err);

/* What one sync (or one retry the user asked for) knows across messages. */
struct recv_ctx {
	struct qm_client_sync_stats *st;
	int kme_blocked; /* the account cannot use its KME in this sync */
	/* the last message filed: its record, state, and whether it waits */
	int64_t last_id;
	enum qm_store_verify last_verify;
	enum msg_wait last_wait;
	char last_reason[QM_ERR_MSGMAX];
	/* a header-only record's body: not the message its headers said
	 * (refused, last_reason says why), or left to the sync (plain_only) */
	int body_refused, body_deferred;
	/* the store transaction the messages being filed share (see
	 * client_recv_group_enter): open, and when it began */
	int group_open;
	uint64_t group_t0;
};
/*
 * Group commit: the messages a sync files go into one store transaction
 * until it is GROUP_MS old (each filing inside stays atomic as a savepoint),
 * so that the b-tree pages every message touches are written once per
 * group instead of once per message, and the list sees them within that
 * time. Enter before filing a message; leave after it (commits when the
 * group is old enough, or always with force, as at the end of a round
 * trip, so that no wait for the server holds the database).
 */
QM_NODISCARD enum qm_err client_recv_group_enter(struct qm_client *c,
                                                 struct recv_ctx *ctx,
                                                 struct qm_error *err);
QM_NODISCARD enum qm_err client_recv_group_leave(struct qm_client *c,
                                                 struct recv_ctx *ctx,
                                                 int force,
                                                 struct qm_error *err);
void client_recv_outcome_free(struct recv_outcome *oc);
/*
 * Puts the account's QMail-Identity header (docs/FORMAT.md) at the head of
 * msg, a message just built (the protected one, the outer one, a plain
 * one): every message this home sends carries it. msg keeps its kind of
 * memory and its limit.
 */
QM_NODISCARD enum qm_err client_idhdr_add(struct qm_client *c,
                                          const struct acct_conn *ac,
                                          struct qm_buf *msg,
                                          struct qm_error *err);
/* The QMail-Identity header of the sender (from, NULL: the account's
 * address) into hdr, which stays empty when there is none to give. */
QM_NODISCARD enum qm_err client_idhdr_make(struct qm_client *c,
                                           const struct acct_conn *ac,
                                           const char *from, struct qm_buf *hdr,
                                           struct qm_error *err);
/* client_idhdr_add, naming the address of from (a From header value: the
 * identity the message is sent as; NULL: the account's address), with the
 * account's keys. */
QM_NODISCARD enum qm_err client_idhdr_add_from(struct qm_client *c,
                                               const struct acct_conn *ac,
                                               const char *from,
                                               struct qm_buf *msg,
                                               struct qm_error *err);
/*
 * Levels 3 and 4, a sender whose key the keyring does not hold (or holds
 * another of): the key the message's outer identity header value carries,
 * when it names from and has the fingerprint fpr of the envelope (the key
 * that signed); the signature is still to be checked. QM_ERR_NOTFOUND,
 * QM_ERR_PARSE or QM_ERR_AUTH otherwise.
 */
QM_NODISCARD enum qm_err
client_idhdr_signer(const char *value, const char *from,
                    const unsigned char fpr[QM_FPR_BYTES],
                    struct qm_pubid **out, struct qm_error *err);
/*
 * Keeps what a received message's identity header says (mc's, the
 * protected copy of an opened message or a plain message's own): its key
 * in the keyring (UNVERIFIED first, CHANGED when different: oc->reason
 * says so loudly), a suggested SAE ID. Ignored unless the message is plain
 * or opened, the header names its From address, and at levels 3 and 4 it
 * carries the key that signed (oc->signer). Best effort: never fails.
 */
void client_idhdr_learn(struct qm_client *c, const struct acct_conn *ac,
                        const struct qm_mail_parsed *mp,
                        const struct qm_mail_content *mc,
                        struct recv_outcome *oc);

/* Processes one QMail message into oc. A non-zero return is an error that
 * stops the sync (out of memory, a full disk, the store); everything the
 * message itself, the account or its KME did is in oc. */
QM_NODISCARD enum qm_err
client_recv_open_qmail(struct qm_client *c, struct acct_conn *ac,
                       struct recv_ctx *ctx, const struct qm_mail_parsed *mp,
                       struct recv_outcome *oc, struct qm_error *err);
/* A digest of what makes QMail message mp that message (its envelope and
 * every header value the receiver uses) as 64 hex digits: two deliveries
 * of one ciphertext have the same one (recv_file.c). */
void client_recv_digest(const struct qm_mail_parsed *mp, char hex[65]);

/* ------------------------------------ copies sealed to self (selfcopy.c) */

/*
 * Seals the n bytes at pt (a protected MIME message, or a draft) at level
 * 3 from the account's identity to the account's identity, into a wire
 * message with headers h (bound as for any QMail message) led by the
 * header QM_CLIENT_COPY_HDR: mark. level (1..4, or 0: none) is the level
 * the message was sent at, sealed with it. Appends to wire.
 */
QM_NODISCARD enum qm_err
client_self_seal(struct qm_client *c, const struct acct_conn *ac,
                 const struct qm_mail_hdrs *h, const char *mark, int level,
                 const void *pt, size_t n, struct qm_buf *wire,
                 struct qm_error *err);
/* The same, the plaintext (n bytes) read from rd and the copy given to wr
 * in pieces as it is made: memory stays bounded whatever n. */
QM_NODISCARD enum qm_err
client_self_seal_to(struct qm_client *c, const struct acct_conn *ac,
                    const struct qm_mail_hdrs *h, const char *mark, int level,
                    qm_read_fn rd, void *rarg, uint64_t n, qm_write_fn wr,
                    void *warg, struct qm_error *err);
/* The length of what client_self_seal_to gives wr for n bytes of text:
 * known before it is made (a function of the headers and n). */
QM_NODISCARD enum qm_err
client_self_seal_size(struct qm_client *c, const struct acct_conn *ac,
                      const struct qm_mail_hdrs *h, const char *mark, int level,
                      uint64_t n, uint64_t *size, struct qm_error *err);
/* The opened plaintext of a copy client_self_seal made with a level: that
 * level (1..4), and plain loses the line that said it; 0 when it has none
 * (a draft). */
int client_self_copy_level(struct qm_buf *plain);
/* A copy the account keeps in one of its IMAP folders (the Sent copy, a
 * draft). */
struct keep_copy {
	unsigned use;         /* the folder of this special use ... */
	const char *fallback; /* ... else this one ("Sent", "Drafts") */
	const void *msg;
	size_t len;
	/* or, when set, the copy read from src as it is appended */
	const struct qm_mail_source *src;
	/* or, when set, the copy made as it is appended (never stored
	 * first): measure says its length, then produce gives exactly that
	 * many bytes to wr; both only when it is to be appended */
	QM_NODISCARD enum qm_err (*measure)(void *arg, uint64_t *len,
	                                    struct qm_error *err);
	QM_NODISCARD enum qm_err (*produce)(void *arg, qm_write_fn wr,
	                                    void *warg, struct qm_error *err);
	void *make_arg;
	unsigned flags; /* QM_MAIL_FLAG_* it is appended with */
	/* what finds this copy in the folder (not appended again) */
	struct qm_mail_imap_hcrit this_copy[2];
	/* what finds the copies it replaces, expunged once it is there;
	 * nreplace 0: none */
	struct qm_mail_imap_hcrit replaces[2];
	size_t nreplace;
};
/*
 * Keeps copy cp in its folder over session im: appends it unless
 * this_copy finds it there already (an APPEND whose answer was lost), then
 * expunges exactly what replaces finds. A folder that does not exist yet
 * is tried with APPEND all the same (the server says what is wrong).
 * *saved: appended now; *replaced: copies expunged (either may be NULL).
 */
QM_NODISCARD enum qm_err client_keep_copy(struct qm_mail_imap *im,
                                          const struct keep_copy *cp,
                                          int *saved, size_t *replaced,
                                          struct qm_error *err);
/* Drafts on the server (drafts.c). client_draft_forget: draft id is
 * going; its copies on the server go too (best effort). The opened
 * plaintext of a draft's copy: its ID and version time, and plain loses
 * the line that says them (0 when it has none). client_draft_adopt keeps
 * a draft's copy from the server among the account's drafts, replacing
 * an older version of it; an older copy changes nothing. */
void client_draft_forget(struct qm_client *c, int64_t id);
int client_self_copy_draft(struct qm_buf *plain, char uuid[33], int64_t *t);
QM_NODISCARD enum qm_err
client_draft_adopt(struct qm_client *c, int64_t account_id, const char *uuid,
                   int64_t t, const void *p, size_t n, struct qm_error *err);
/* 1 when QMail message mp is sealed by the account's own key to the
 * account's own key (a copy client_self_seal made, here or on another
 * device of the account); whether it opens is for the opening to tell. */
int client_self_copy_of(struct qm_client *c, const struct acct_conn *ac,
                        const struct qm_mail_parsed *mp);
/*
 * Whether QMail message mp (its client_recv_digest digest) is the
 * account's own (recv_own.c): sent by this
 * home (oc: QM_VERIFY_SENT, oc->plain the outbox's copy of what was sent),
 * or, when elsewhere is set, from the account's address and not to it
 * (oc: QM_VERIFY_SENT_ELSEWHERE, kept as received); *own 1 then, else 0
 * and oc untouched. No KME request either way. A non-zero return is the
 * store's error.
 */
QM_NODISCARD enum qm_err client_recv_own(struct qm_client *c,
                                         const struct acct_conn *ac,
                                         const struct qm_mail_parsed *mp,
                                         const char digest[65], int elsewhere,
                                         struct recv_outcome *oc,
                                         int *own, struct qm_error *err);
/*
 * Files one message (recv_file.c) in the index, and its plaintext in the
 * vault, or brings its earlier record up to date (in->replace_id): a
 * record whose outcome changed is replaced in one transaction, one that
 * stays (still waiting, still unreadable) keeps its id. ctx->last_* tell
 * what became of it. A non-zero return stops the sync (the store, memory,
 * the disk); what the message itself did is in its record.
 */
QM_NODISCARD enum qm_err client_recv_file(struct qm_client *c,
                                          struct acct_conn *ac,
                                          struct recv_ctx *ctx,
                                          const struct incoming *in,
                                          struct qm_error *err);
/*
 * Records a message the server holds at in's location but that is larger
 * than the user's limit.message_size (why: the fetch's error, which may be
 * err): not fetched, shown with the reason so that the user can raise the
 * limit (the message stays on the server).
 */
QM_NODISCARD enum qm_err
client_recv_file_refused(struct qm_client *c, const struct acct_conn *ac,
                         const struct incoming *in, const struct qm_error *why,
                         struct qm_client_sync_stats *st, struct qm_error *err);
/*
 * A new message of a large folder listed from its header fields (hdr, as
 * qm_mail_imap_fetch_summaries gives them; size: RFC822.SIZE; date: the
 * arrival, used when the Date header does not parse) at in's location: a
 * plain message is filed as a header-only record (its body comes later,
 * client_recv_file with in->header_only), a message its headers show as
 * QMail (or that does not parse) is not filed and *whole is set: it is
 * fetched whole at once, as its keys must be used then. A message filed
 * already (its place) is left alone.
 */
QM_NODISCARD enum qm_err
client_recv_file_head(struct qm_client *c, struct acct_conn *ac,
                      struct recv_ctx *ctx, const struct incoming *in,
                      const unsigned char *hdr, size_t hdrlen, int64_t size,
                      int64_t date, int *whole, struct qm_error *err);
/*
 * The body of header-only message *id fetched now from its place on the
 * IMAP server (ops.c: its folder's UIDVALIDITY checked, as every
 * operation does) and filed through client_recv_file; *id is the
 * message's id after (another only when the body was no plain mail and
 * its record was replaced). QM_OK at once for a message that has its
 * body. QM_ERR_UNAVAIL when the server cannot be reached, QM_ERR_PROTO
 * when it gave another message than the headers described.
 */
QM_NODISCARD enum qm_err client_msg_body_fetch(struct qm_client *c, int64_t *id,
                                               struct qm_error *err);
/* An opened message's inner copies of From, To and Cc must name the
 * addresses the envelope authenticated (display names, case and order
 * aside); else 0, and why says which differs. */
int client_recv_inner_agrees(const struct qm_mail_hdrs *outer,
                             const struct qm_mail_hdrs *inner, char *why,
                             size_t whylen);

/* The interfaces' door (client.c, limits.c): QM_OK when the vault is
 * unlocked, else QM_ERR_LOCKED with hint QM_HINT_VAULT_LOCKED, saying
 * that what ("changing an account") needs it. */
/* The From value of identity address (NULL: the default) of account a:
 * "Name <addr>", the name quoted where it needs to be; *id gets the
 * identity. QM_ERR_NOTFOUND when it is none of a's identities. */
QM_NODISCARD enum qm_err
client_identity_from(struct qm_client *c, const struct qm_store_account *a,
                     const char *address, struct qm_store_identity *id,
                     char *from, size_t fromlen, struct qm_error *err);
QM_NODISCARD enum qm_err client_need_unlocked(struct qm_client *c,
                                              const char *what,
                                              struct qm_error *err);
/* Gives a QM_ERR_TOOBIG error whose hint_arg names a limit (the mail
 * layer's, or the engine's own check) the hint QM_HINT_LIMIT_REACHED. */
void client_limit_hint(struct qm_error *err);

/* ------------------------------------------------- OAuth2 (oauth*.c) */

/* True for an https:// URL with a host. */
int client_oauth_https(const char *url);
/* QM_OK for an https:// URL without blanks; else why, naming what. */
QM_NODISCARD enum qm_err
client_oauth_check_url(const char *what, const char *url, struct qm_error *err);
/* Appends "&name=value" (form-encoded; no '&' first) to b. */
QM_NODISCARD enum qm_err client_oauth_form_add(struct qm_buf *b,
                                               const char *name,
                                               const char *value,
                                               struct qm_error *err);
/* 32 random bytes as base64url (43 characters) into out (>= 44). */
void client_oauth_random(char *out, size_t outlen);
/* A provider's error (RFC 6749 5.2 code, description) as a qm_err with a
 * message a person can act on. */
QM_NODISCARD enum qm_err
client_oauth_provider_error(const char *what, const char *host, long status,
                            const char *code, const char *desc,
                            struct qm_error *err);
/*
 * POSTs form to the token endpoint and reads the tokens into *out (wiped
 * on failure). code (may be NULL) gets the provider's error code
 * ("invalid_grant", "authorization_pending"...).
 */
QM_NODISCARD enum qm_err
client_oauth_token_post(const char *token_url, const char *ca_file,
                        const struct qm_buf *form, const char *what,
                        struct qm_client_oauth_tokens *out, char *code,
                        size_t codelen, struct qm_error *err);
/* Reads a token endpoint's reply (HTTP status, body) as
 * client_oauth_token_post does; host names the provider in messages. */
QM_NODISCARD enum qm_err
client_oauth_token_reply(const char *what, const char *host, long status,
                         const struct qm_buf *body,
                         struct qm_client_oauth_tokens *out, char *code,
                         size_t codelen, struct qm_error *err);
/* Reads a device authorization endpoint's reply as
 * client_oauth_device_post does. */
QM_NODISCARD enum qm_err
client_oauth_device_reply(const char *host, long status,
                          const struct qm_buf *body,
                          struct qm_client_oauth_device *dev,
                          char **device_code, struct qm_error *err);
/* POSTs form (token, token_type_hint, client) to the revocation endpoint
 * (RFC 7009); QM_OK once the provider answered 200. */
QM_NODISCARD enum qm_err client_oauth_revoke_post(const char *revoke_url,
                                                  const char *ca_file,
                                                  const struct qm_buf *form,
                                                  struct qm_error *err);
/* POSTs form to the device authorization endpoint: what to show, and the
 * device code (secure memory, qm_sec_free). */
QM_NODISCARD enum qm_err
client_oauth_device_post(const char *device_url, const char *ca_file,
                         const struct qm_buf *form,
                         struct qm_client_oauth_device *dev, char **device_code,
                         struct qm_error *err);
/*
 * Makes ac's access token fit for a login (oauth_account.c): renewed when
 * it expires within the margin, or when force (a server refused used, the
 * token ac holds). QM_OK at once for an account that is not OAuth2.
 */
QM_NODISCARD enum qm_err client_oauth_fresh(struct qm_client *c,
                                            struct acct_conn *ac, int force,
                                            struct qm_error *err);
/* At load: ties ac to c for renewals, reserves room for the token and
 * renews it ahead of time when due (a failure is only logged). */
QM_NODISCARD enum qm_err client_oauth_conn_prepare(struct qm_client *c,
                                                   struct acct_conn *ac,
                                                   struct qm_error *err);
/* qm_mail_server.reauth of OAuth2 accounts (arg: the acct_conn): a
 * forced renewal, at most one a minute per load (QM_ERR_NOTFOUND, err
 * untouched, within the minute: the refusal stands). Runs on the thread
 * that uses ac->c. */
QM_NODISCARD enum qm_err client_oauth_reauth(void *arg, const char **bearer,
                                             struct qm_error *err);

/* Sorts addrs (n pointers to addresses: char * or const char *) and
 * joins them as the store keeps members: comma separated, in out (cap
 * bytes); QM_ERR_TOOBIG naming what ("members") when too long. */
QM_NODISCARD enum qm_err client_chat_join(void *addrs, size_t n,
                                          const char *what, char *out,
                                          size_t cap, struct qm_error *err);
/*
 * Group membership changes (chat_members.c, docs/CHAT.md "Groups"). A
 * received chat message's change: kind QM_CHAT_TEXT when it names none.
 */
struct client_chat_change {
	int kind;                    /* enum qm_store_chat_kind */
	char addr[QM_STORE_ADDRMAX]; /* bare, lower case */
};
/* Reads mc's Chat-Group-Member-Added / -Removed into *ch: 0 none, 1 one
 * change, -1 one this engine does not take (no Chat-Group-ID, not exactly
 * one address, both headers): the message stays mail. */
int client_chat_change_parse(const struct qm_mail_content *mc,
                             struct client_chat_change *ch);
/* Files verified message msg of member sender (a->address excluded from
 * members), a change ch of group conv: the line and the new members in one
 * step; joined is the message's From, To and Cc without the account (the
 * members when the account itself is added). *filed 1 when new. */
QM_NODISCARD enum qm_err
client_chat_change_file(struct qm_client *c, const struct qm_store_account *a,
                        const struct qm_store_msg *msg,
                        const struct qm_store_chat *conv, const char *sender,
                        const char *joined, const struct client_chat_change *ch,
                        int *filed, struct qm_error *err);
/* Conversation chat_id of account account_id into *out (QM_ERR_NOTFOUND
 * for none, or another account's). */
QM_NODISCARD enum qm_err
client_chat_conv_of(struct qm_client *c, int64_t account_id, int64_t chat_id,
                    struct qm_store_chat *out, struct qm_error *err);
/* Chat media and read receipts (chat_media.c, docs/CHAT.md). The list
 * of attachments a conversation keeps (store's chat_msg.att) of parsed
 * parts, or of attachments to send; parsed back into files. */
QM_NODISCARD enum qm_err
client_chat_att_list_parts(const struct qm_mail_part *att, size_t n, char **out,
                           struct qm_error *err);
QM_NODISCARD enum qm_err
client_chat_att_list_out(const struct qm_client_attachment *att, size_t n,
                         char **out, struct qm_error *err);
QM_NODISCARD enum qm_err client_chat_files(const char *list,
                                           struct qm_client_chat_file **out,
                                           size_t *n, struct qm_error *err);
void client_chat_files_free(struct qm_client_chat_file *f, size_t n);
/* Sends conversation chat_id's members a read receipt naming mids, when
 * the user opted in there (else nothing). */
QM_NODISCARD enum qm_err client_chat_receipts_send(struct qm_client *c,
                                                   int64_t chat_id,
                                                   char *const *mids, size_t n,
                                                   struct qm_error *err);
/* Files received read receipt msg (verified, from member sender of
 * conv; its plaintext mc) once; marks read the messages it names that
 * this home sent in conv. *changed 1 when one was marked. */
QM_NODISCARD enum qm_err
client_chat_receipt_file(struct qm_client *c, const struct qm_store_chat *conv,
                         const struct qm_store_msg *msg, const char *sender,
                         const struct qm_mail_content *mc, int *changed,
                         struct qm_error *err);

#endif
