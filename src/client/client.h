/* SPDX-License-Identifier: MIT */
/*
 * client: the QMail client engine that both user interfaces (cli/, web/)
 * drive. It ties the layers together: accounts and their identities, the
 * send path (compose -> outbox -> KME keys -> envelope -> SMTP, DESIGN.md
 * invariant 7), the receive path (IMAP/POP3 -> parse -> replay check -> KME
 * keys -> open -> vault), reading, level availability, the keyring and the
 * KME status. Everything a person sees as a result comes back as values and
 * messages; nothing here prints.
 *
 * Listing messages, accounts, contacts and settings is done with the store
 * directly (qm_client_store): the engine only adds what needs several layers.
 * A struct qm_client is used by one thread at a time.
 */
#ifndef QM_CLIENT_H
#define QM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "store/store.h"

struct qm_client;

/* The algorithm name under which identities are kept in the keyring. */
#define QM_CLIENT_ID_ALG "qmail-hybrid-v1"
/* Largest message (with attachments) the client builds or accepts. */
#define QM_CLIENT_MAXMSG (64u * 1024 * 1024)

struct qm_client_opts {
	/* Folder of the store; NULL: qm_store_home_default. */
	const char *home;
	/* Argon2id cost for a new vault (zeros: the store's default). */
	struct qm_store_kdf kdf;
};

/*
 * Opens the QMail home (creating it), the store, and brings the outbox back
 * to a consistent state after a crash. The vault starts locked.
 */
enum qm_err qm_client_open(const struct qm_client_opts *opts,
                           struct qm_client **out, struct qm_error *err);
void qm_client_free(struct qm_client **c);
/* The store (borrowed): list messages, accounts, contacts, settings. */
struct qm_store *qm_client_store(struct qm_client *c);
/* The home folder (borrowed). */
const char *qm_client_home(const struct qm_client *c);

/* -------------------------------------------------------- vault session */

int qm_client_initialised(struct qm_client *c);
/* Creates the vault with the passphrase (at least 8 bytes) and unlocks. */
enum qm_err qm_client_init(struct qm_client *c, const char *pass, size_t len,
                           struct qm_error *err);
enum qm_err qm_client_unlock(struct qm_client *c, const char *pass,
                             size_t len, struct qm_error *err);
void qm_client_lock(struct qm_client *c);
int qm_client_unlocked(struct qm_client *c);

/* --------------------------------------------------------------- accounts */

/*
 * Adds an account: stores it, seals password (may be NULL for an OAuth2
 * account whose token is set later with qm_store_secret_set), and creates
 * the account's identity for levels 3 and 4 (private half sealed in the
 * vault). Sets a->id. Needs the vault unlocked.
 */
enum qm_err qm_client_account_add(struct qm_client *c,
                                  struct qm_store_account *a,
                                  const char *password, size_t pwlen,
                                  struct qm_error *err);

/* The result of one connectivity check. */
struct qm_client_check {
	int tried; /* 0 when the account does not use this service */
	int ok;
	long ms;
	char message[QM_ERR_MSGMAX];
};

/*
 * Checks the account's SMTP server (connect, TLS, authenticate), its
 * incoming server (IMAP, else POP3) and its KME (Get status with a known
 * contact's SAE ID or its own). Each result is filled; the call itself
 * fails only when the account does not exist or the vault is locked.
 */
enum qm_err qm_client_account_test(struct qm_client *c, int64_t account_id,
                                   struct qm_client_check *smtp,
                                   struct qm_client_check *incoming,
                                   struct qm_client_check *kme,
                                   struct qm_error *err);

/* ------------------------------------------------------------------ send */

/* An attachment to send (borrowed). */
struct qm_client_attachment {
	const char *name;
	const char *type; /* NULL: application/octet-stream */
	const unsigned char *data;
	size_t len;
};

/* A message to send. Addresses are "Name <a@b>" or "a@b"; all borrowed. */
struct qm_client_compose {
	int64_t account_id;
	const char *const *to;
	size_t nto;
	const char *const *cc;
	size_t ncc;
	const char *const *bcc;
	size_t nbcc;
	const char *subject;
	const char *text;
	const char *in_reply_to;
	const char *references;
	const struct qm_client_attachment *att;
	size_t natt;
	int level;          /* 1..4; 0: the default (qm_client_level_prefs) */
	int fallback_level; /* 0: none; else used (and said) when level is not
	                       available now; never silently */
};

/* Progress of long work: what is being done, bytes or items done of total. */
typedef void (*qm_client_progress_fn)(void *arg, const char *what,
                                      uint64_t done, uint64_t total);

/* What a send did. */
struct qm_client_sent {
	int level;         /* the level actually used */
	int fell_back;     /* 1 when fallback_level was used */
	size_t n_outbox;   /* outbox entries made (one per Bcc recipient more) */
	int64_t outbox_ids[8];
	size_t n_sent;     /* of those, sent now */
	/* what a person should know, or "": why it fell back, addresses
	 * listed more than once (each gets one copy) */
	char note[QM_ERR_MSGMAX];
	/* levels 3 and 4: the recipients whose public key is not verified
	 * (sent all the same, to the key as it is), in a sentence, or "" */
	char warning[QM_ERR_MSGMAX];
};

/*
 * Sends a message: builds the protected MIME message, puts it in the
 * outbox (sealed) before any network step, fetches keys (levels 1 and 2)
 * or looks up the recipients' public keys (levels 3 and 4), encrypts,
 * stores the ciphertext, and sends it over SMTP. Bcc recipients each get
 * their own copy, encrypted for them alone. When the KME or the SMTP
 * server fails after the message entered the outbox, the call returns the
 * error and the message waits in the outbox (qm_client_outbox_run retries
 * the same ciphertext). QM_ERR_UNAVAIL when the level cannot be used now
 * (level 1: how much key material is needed and available), unless a
 * fallback level works.
 *
 * Each address gets one copy: an address repeated in To, Cc or Bcc (case
 * aside) is used once, and a Bcc address also in To or Cc gets the To/Cc
 * copy (out->note names them). Everything that can be known before asking
 * the KME is checked before the message enters the outbox (the floors,
 * SAE IDs known, confirmed and not shared by two recipients of one copy,
 * public keys usable): QM_ERR_UNAVAIL, or the fallback. A level-1 message
 * whose KME status reports too little key is tried all the same when the
 * KME might make keys on demand (qm_client_levels says so); when the KME
 * then refuses the keys, nothing is queued and the send falls back or
 * fails with QM_ERR_UNAVAIL and the KME's answer.
 */
enum qm_err qm_client_send(struct qm_client *c,
                           const struct qm_client_compose *m,
                           qm_client_progress_fn progress, void *parg,
                           struct qm_client_sent *out, struct qm_error *err);

/*
 * Works through the outbox of account (0: every account): encrypts what is
 * pending and due (an entry that failed before encryption waits until its
 * retry time, with a back-off from 1 minute to 1 hour), sends what is
 * queued or due for a retry. Before keys are fetched for an entry, what
 * can be checked without the KME is checked again; an entry that fails
 * such a check (a recipient without a usable SAE ID or public key, two
 * recipients on one SAE, a level below a floor) will not get better by
 * waiting: it becomes failed, with the reason, and is not tried again
 * (qm_client_outbox_retry after the cause is mended). *n_sent and
 * *n_failed (may be NULL) get the counts; the first error is in err.
 */
enum qm_err qm_client_outbox_run(struct qm_client *c, int64_t account_id,
                                 size_t *n_sent, size_t *n_failed,
                                 struct qm_error *err);

/*
 * Sends outbox entry id now, even when its retry is not due yet: encrypts
 * it first when it waits for keys. *sent is 1 when the server took it.
 * For an entry that was sent but whose copy for the Sent folder still
 * waits (qm_client_sent_copies), saves that copy instead; *sent is 1 when
 * it is saved. An entry that failed before it was encrypted (no
 * ciphertext; e.g. a recipient's SAE ID was missing) is tried again.
 * QM_ERR_STATE for an entry already sent (and copied), or failed after it
 * was encrypted.
 */
enum qm_err qm_client_outbox_retry(struct qm_client *c, int64_t id,
                                   int *sent, struct qm_error *err);
/*
 * The outbox entries of account_id (0: every account) that were sent but
 * whose copy for the Sent folder failed and waits for the next outbox run.
 * *ids is malloc'd (free it); *n may be 0.
 */
enum qm_err qm_client_sent_copies(struct qm_client *c, int64_t account_id,
                                  int64_t **ids, size_t *n,
                                  struct qm_error *err);
/*
 * Gives up on outbox entry id (it becomes failed, "cancelled by the
 * user"); keys it reserved stay spent. QM_ERR_STATE once it was sent.
 */
enum qm_err qm_client_outbox_cancel(struct qm_client *c, int64_t id,
                                    struct qm_error *err);

/* Whether each level can be used now for a message. */
struct qm_client_level {
	int level;
	int available;
	char reason[QM_ERR_MSGMAX]; /* why not available, or "" */
	/* available, and a person should know: public keys not verified
	 * (levels 3, 4), or the KME is asked when sending (level 1) */
	char note[QM_ERR_MSGMAX];
	/* levels 3 and 4: the recipients whose public key is not verified,
	 * comma separated, or "" */
	char unverified[QM_ERR_MSGMAX];
};

/*
 * For a message of msg_bytes to these recipients (all of To, Cc, Bcc, as
 * one copy), tells for each level 1..4 whether it is available now: the
 * floors (the setting min_level, each contact's minimum level), levels 1
 * and 2 need every recipient's confirmed SAE ID and no SAE ID twice,
 * level 1 compares the key material needed with what the KME holds
 * (when the KME reports too little but might make keys on demand, the
 * level is available with a note: the KME is asked when sending), levels
 * 3 and 4 need every recipient's public key (known and not changed; not
 * verified is available with a note). out[0..3] are filled;
 * *needed_bytes gets the level-1 key material needed.
 */
enum qm_err qm_client_levels(struct qm_client *c, int64_t account_id,
                             const char *const *rcpts, size_t n,
                             uint64_t msg_bytes, struct qm_client_level out[4],
                             uint64_t *needed_bytes, struct qm_error *err);
/*
 * The same for a message as qm_client_send sees it: m's account, its To
 * and Cc (one copy) and its Bcc recipients (a copy each); the rest of m
 * is not used.
 */
enum qm_err qm_client_levels_msg(struct qm_client *c,
                                 const struct qm_client_compose *m,
                                 uint64_t msg_bytes,
                                 struct qm_client_level out[4],
                                 uint64_t *needed_bytes, struct qm_error *err);

/* The settings (global, every account) for the level of new messages. */
#define QM_CLIENT_SET_DEFAULT_LEVEL "default_level"
#define QM_CLIENT_SET_MIN_LEVEL "min_level"

/* The level rules in force for an account. */
struct qm_client_level_prefs {
	int default_level;   /* what a message without a level is sent at */
	int default_set;     /* 1: from default_level; 0: the account's own */
	int account_default; /* the account's own default level */
	int min_level;       /* the weakest level allowed (1..4), 0: any */
};

/*
 * The level rules for account_id (0: the settings alone; then
 * default_level falls back to 2). A message sent without a level goes at
 * the setting default_level when it is set, else at the account's own
 * default level; no message goes below min_level ("never send below";
 * 1 is the strongest level, so level L is below M when L > M), nor below
 * a contact's minimum level. QM_ERR_PARSE when a stored setting is no
 * level (then nothing is sent until it is set again).
 */
QM_NODISCARD enum qm_err
qm_client_level_prefs(struct qm_client *c, int64_t account_id,
                      struct qm_client_level_prefs *out, struct qm_error *err);
/*
 * Reads QM_CLIENT_SET_DEFAULT_LEVEL or QM_CLIENT_SET_MIN_LEVEL into *v: 1
 * to 4, or 0 when unset (default_level: each account's own default;
 * min_level: no floor). QM_ERR_NOTFOUND for another name.
 */
QM_NODISCARD enum qm_err qm_client_level_setting_get(struct qm_client *c,
                                                     const char *name, int *v,
                                                     struct qm_error *err);
/*
 * Sets one of them from text: "1" to "4", or "0" / "default" to unset
 * (min_level also takes "none"). QM_ERR_INVAL naming the allowed values
 * otherwise, QM_ERR_NOTFOUND for another name. Counts from the next send.
 */
QM_NODISCARD enum qm_err qm_client_level_setting_set(struct qm_client *c,
                                                     const char *name,
                                                     const char *value,
                                                     struct qm_error *err);

/* ------------------------------------------------------------------ sync */

struct qm_client_sync_stats {
	size_t fetched;   /* messages fetched from the server */
	size_t decrypted; /* QMail messages opened and verified */
	size_t plain;     /* ordinary mail */
	size_t tampered;  /* failed a check */
	size_t replayed;  /* reused a key ID */
	/* messages (new or waiting from before) whose keys could not be
	 * asked for now: kept sealed, opened by a later sync */
	size_t waiting;
	size_t errors; /* no key, refused for a limit */
	/* byte-identical copies of a QMail message already received (an SMTP
	 * retry whose first answer was lost): not filed, not decrypted */
	size_t duplicates;
	/* levels 1 and 2: opened, but the sender SAE is not the one
	 * confirmed for the From address */
	size_t unverified;
	/* bad messages (malformed values, the KME refused their key IDs):
	 * recorded unreadable, not tried again unless asked */
	size_t unreadable;
	/* waiting ones that opened in this sync (also counted above as
	 * decrypted, unverified, ...) */
	size_t resumed;
	/* Why this account could not use its KME in this sync (no KME set,
	 * certificate refused, TLS, the KME down or failing), with what to
	 * do; "" when it could. Said once per sync, however many messages
	 * wait for it. */
	enum qm_err kme_code;
	char kme_problem[QM_ERR_MSGMAX];
};

/*
 * Fetches new mail of the account's INBOX (IMAP: new UIDs; POP3: new
 * UIDLs) and processes each message: plain mail is stored as is (in the
 * vault); QMail mail is checked for replay, its keys are fetched from the
 * account's KME, it is opened with the authenticated level and key IDs, and
 * the plaintext goes to the vault. Tampered and replayed messages are
 * recorded without plaintext. No message stops the sync (docs/CLIENT.md,
 * "Receiving"): one whose keys cannot be asked for now is kept as received
 * (sealed) in state QM_VERIFY_WAITING and opened by a later sync (first
 * the waiting ones that are due, then new mail); a bad one is recorded
 * QM_VERIFY_UNREADABLE. When the account cannot use its KME, st->kme_problem
 * says why, once. Progress is reported per message.
 */
enum qm_err qm_client_sync(struct qm_client *c, int64_t account_id,
                           qm_client_progress_fn progress, void *parg,
                           struct qm_client_sync_stats *st,
                           struct qm_error *err);

/*
 * Waits up to timeout_ms for new mail in the account's INBOX without
 * fetching it: IMAP IDLE when the server offers it, else a NOOP every 30 s
 * on one connection. *news is 1 when mail arrived (then qm_client_sync
 * fetches it), 0 when the time passed quietly. QM_ERR_UNSUPPORTED for an
 * account without IMAP (POP3 has no push: call qm_client_sync now and then).
 */
enum qm_err qm_client_wait_mail(struct qm_client *c, int64_t account_id,
                                long timeout_ms, int *news,
                                struct qm_error *err);

/*
 * The same wait in two steps, for a program that keeps using the client
 * while it waits (the web GUI's watchers). qm_client_watch_open needs the
 * client (and whatever lock guards it) but no network: it loads the
 * account and where the last sync stopped. qm_client_watch_wait uses the
 * watch alone, so another thread may use the client meanwhile. It waits
 * up to timeout_ms (IDLE, or a NOOP every 30 s) for new mail; the first
 * call connects and selects INBOX first, and returns at once with
 * *news = 1 when mail came since the last sync. A wait ends early, with *woken = 1 (may be NULL), when
 * wake_fd (-1: none) becomes readable. After an error, or to see the
 * client's newer sync state, free the watch and open a new one. A watch
 * holds the account's password in secure memory until
 * qm_client_watch_free: free it when the vault is locked.
 */
struct qm_client_watch;
enum qm_err qm_client_watch_open(struct qm_client *c, int64_t account_id,
                                 int wake_fd, struct qm_client_watch **out,
                                 struct qm_error *err);
enum qm_err qm_client_watch_wait(struct qm_client_watch *w, long timeout_ms,
                                 int *news, int *woken, struct qm_error *err);
void qm_client_watch_free(struct qm_client_watch **w);

/* ------------------------------------------------------------------ read */

/*
 * A message as a person reads it. Strings are malloc'd; "" when absent.
 * from, to, cc (RFC 2047 display names decoded), subject, date and the
 * attachments' names and types are display-safe: shown through
 * qm_client_display (one line), so a control or direction character in
 * them appears as a visible mark, in every interface and in the name an
 * attachment is saved under. text, html, status_text and sender_sae are
 * as received: each interface shows them its own way (the CLI through
 * qm_client_display, the GUI as text or sanitised HTML).
 */
struct qm_client_att {
	char *name;    /* display-safe file name */
	char *type;    /* the type the sender declared, display-safe */
	char *ext;     /* the real extension of name ("exe"), "" when none */
	int disguised; /* name held control or direction characters */
	unsigned char *data; /* plaintext: wiped on free */
	size_t len;
};

/* What is known now of the key that signed a level-3/4 message. */
enum qm_client_signer_trust {
	QM_SIGNER_NONE = 0,   /* not signed (levels 1, 2), or not opened */
	QM_SIGNER_VERIFIED,   /* the user compared its fingerprint */
	QM_SIGNER_UNVERIFIED, /* never compared: could be an impostor's */
	QM_SIGNER_CHANGED,    /* the contact presents another key since,
	                         not decided on yet */
	QM_SIGNER_RETIRED,    /* replaced by a key the user verified */
	QM_SIGNER_UNKNOWN,    /* no longer in the keyring */
};
/* "verified", "unverified", "changed", "retired", "unknown" or "". */
const char *qm_client_signer_trust_name(enum qm_client_signer_trust t);

struct qm_client_view {
	int64_t id;
	int level;                    /* 0: not encrypted */
	enum qm_store_verify verify;  /* verified, tampered, replay, ... */
	char *status_text;            /* one sentence for a person */
	/* For an opened QMail message: the values bound into the envelope
	 * (authenticated), never the inner copies (bound = 1). */
	char *from, *to, *cc, *date, *message_id;
	int bound;
	char *subject;
	char *in_reply_to, *references;
	char *text;
	char *html; /* NULL when none; unsanitised: the GUI sanitises */
	struct qm_client_att *att;
	size_t natt;
	char **key_ids; /* levels 1 and 2 */
	size_t nkey_ids;
	char *sender_sae;
	/* levels 1 and 2: the contact whose confirmed SAE ID sent it ("" when
	 * none); for QM_VERIFY_UNVERIFIED_SENDER it differs from From */
	char *sender_owner;
	char *signer_fpr;  /* levels 3 and 4: the signing key's fingerprint */
	char *signer_addr; /* whose key it is in the keyring */
	enum qm_client_signer_trust signer_trust; /* as of now */
	/* waiting: when a later sync tries again (Unix seconds, 0: next) */
	int64_t retry_at;
	int retryable; /* qm_client_msg_retry may be asked for it */
};

/*
 * Opens message id for reading: its plaintext from the vault, parsed. A
 * tampered or replayed message comes back with its status and no content.
 * For an opened QMail message the headers shown are the authenticated
 * ones, and the signer's trust is the keyring's as of now. Free with
 * qm_client_view_free (wipes the plaintext).
 */
enum qm_err qm_client_read(struct qm_client *c, int64_t id,
                           struct qm_client_view **out, struct qm_error *err);
void qm_client_view_free(struct qm_client_view **v);

/*
 * Tries once more to open message id, from the copy kept sealed when it
 * was received: a message recorded unreadable (its keys may still be at
 * the KME), without key (the sender's public key was imported since), or
 * waiting (now, without waiting for its turn). Its record is replaced
 * when the outcome changed; *new_id gets the id of its record afterwards
 * and *verify its state (both may be NULL). QM_ERR_STATE for a message in
 * another state or kept without its copy; when the account cannot use its
 * KME now, QM_ERR_UNAVAIL (or the KME's error) and it stays as it was.
 */
enum qm_err qm_client_msg_retry(struct qm_client *c, int64_t id,
                                int64_t *new_id, enum qm_store_verify *verify,
                                struct qm_error *err);

/* ---------------------------------------------------------------- display */

/* What qm_client_display keeps. */
#define QM_DISPLAY_LINE 0u /* a header or a name: every control is marked */
#define QM_DISPLAY_TEXT 1u /* a body: newline and tab stay; CR LF is LF */

/*
 * Appends to out the n bytes of UTF-8 text s in a form that shows what it
 * holds and cannot act on the screen that shows it: C0 and C1 controls
 * and DEL (but newline and tab with QM_DISPLAY_TEXT, where CR LF becomes a
 * newline), the bidirectional-text controls and marks (U+202A-202E,
 * U+2066-2069, U+200E, U+200F, U+061C) and the line and paragraph
 * separators (U+2028, U+2029) each become a visible ASCII "[U+001B]";
 * bytes that are not UTF-8 become U+FFFD. Everything else is copied.
 * Fails only when out is full (QM_ERR_TOOBIG) or out of memory.
 */
enum qm_err qm_client_display(const char *s, size_t n, unsigned flags,
                              struct qm_buf *out, struct qm_error *err);
/* The same into a new malloc'd string (*out, set on success). */
enum qm_err qm_client_display_dup(const char *s, unsigned flags, char **out,
                                  struct qm_error *err);
/*
 * The real extension of a file name (the part after its last dot, in
 * lower case; "" when there is none, or the name's only dot comes first)
 * into ext, cut to extlen - 1 bytes.
 */
void qm_client_display_ext(const char *name, char *ext, size_t extlen);

/* --------------------------------------------------------------- keyring */

/* Appends the account's public identity in its text armour to out. */
enum qm_err qm_client_key_export(struct qm_client *c, int64_t account_id,
                                 struct qm_buf *out, struct qm_error *err);
/*
 * Imports a contact's armoured public identity for address (NULL: the
 * armour's Comment). *fpr (QM_STORE_FPRMAX) gets its fingerprint text and
 * *trust the keyring's state for it.
 */
enum qm_err qm_client_key_import(struct qm_client *c, const char *address,
                                 const char *armour, size_t len, char *fpr,
                                 enum qm_store_trust *trust,
                                 struct qm_error *err);
/* The user compared fingerprints with the contact: marks the key verified.
 * QM_ERR_AUTH when the fingerprint given differs from the stored key. */
enum qm_err qm_client_key_verify(struct qm_client *c, const char *address,
                                 const char *fingerprint,
                                 struct qm_error *err);
/* The account's own fingerprint text (QM_STORE_FPRMAX bytes). */
enum qm_err qm_client_key_own_fpr(struct qm_client *c, int64_t account_id,
                                  char *fpr, struct qm_error *err);

/* ------------------------------------------------------------------- KME */

struct qm_client_kme {
	char url[QM_STORE_PATHMAX];
	int reachable;
	/* why not reachable; or, reachable without a known peer SAE, what
	 * to do to see a pool */
	char message[QM_ERR_MSGMAX];
	char peer_sae[QM_STORE_NAMEMAX];
	uint64_t key_size, stored_key_count, max_key_count;
	uint64_t max_key_per_request, max_key_size;
	uint64_t pool_bytes;  /* stored_key_count * key_size / 8 */
	double key_rate_bps;  /* from status_extension, -1 when not told */
	double qber;          /* from status_extension, -1 when not told */
	int alarm;            /* eavesdropping alarm from the link */
	char extension[4096]; /* status_extension JSON as sent */
};

/*
 * The status of the account's KME towards peer_sae (NULL: the first
 * contact with an SAE ID, else the account's own SAE ID). Fills *out; the
 * call fails only when the account is unknown (a KME that cannot be
 * reached comes back as reachable = 0 with the reason).
 */
enum qm_err qm_client_kme_status(struct qm_client *c, int64_t account_id,
                                 const char *peer_sae,
                                 struct qm_client_kme *out,
                                 struct qm_error *err);

/* The level's short name ("one-time pad", ...) and badge ("L1 OTP"). */
const char *qm_client_level_name(int level);
const char *qm_client_level_badge(int level);

/* -------------------------------------------------------- resource limits */

/* The names of the limits (global settings). */
#define QM_LIMIT_MESSAGE_SIZE  "limit.message_size"
#define QM_LIMIT_PARTS         "limit.parts"
#define QM_LIMIT_DEPTH         "limit.depth"
#define QM_LIMIT_HEADERS       "limit.headers"
#define QM_LIMIT_HEADER_LENGTH "limit.header_length"
#define QM_LIMIT_KEY_IDS       "limit.key_ids"
#define QM_LIMIT_JSON_DEPTH    "limit.json_depth"
#define QM_LIMIT_WEB_JSON      "limit.web_json"
#define QM_LIMIT_WEB_MESSAGE   "limit.web_message"
#define QM_LIMIT_WEB_UPLOAD    "limit.web_upload"

/* One limit the user may set: a global setting with a safe default, which
 * may be lowered to min and raised up to ceiling (docs/SECURITY.md). */
struct qm_client_limit {
	const char *name; /* QM_LIMIT_* */
	const char *what; /* one line for people */
	const char *unit; /* "bytes", "parts", "levels", "headers", "key IDs" */
	uint64_t def;
	uint64_t min;
	uint64_t ceiling;
};

/* The number of limits; the i-th (static; NULL past the end); by name
 * (NULL when there is no such limit). */
size_t qm_client_limit_count(void);
const struct qm_client_limit *qm_client_limit_at(size_t i);
const struct qm_client_limit *qm_client_limit_find(const char *name);

/*
 * Reads a value for l from text: a whole number, for sizes optionally with
 * K, M or G (binary: KiB, MiB, GiB). QM_ERR_INVAL, naming the allowed range
 * and the default, when it is not a number or lies outside [min, ceiling].
 */
enum qm_err qm_client_limit_parse(const struct qm_client_limit *l,
                                  const char *text, uint64_t *v,
                                  struct qm_error *err);
/*
 * The value in force of the limit name: the setting, or the default when
 * unset. *is_set (may be NULL) says which. QM_ERR_NOTFOUND for a name that
 * is no limit. Needs no unlocked vault.
 */
enum qm_err qm_client_limit_get(struct qm_client *c, const char *name,
                                uint64_t *v, int *is_set,
                                struct qm_error *err);
/*
 * Sets the limit name from text (as qm_client_limit_parse; "default" goes
 * back to the default). Takes effect at the next sync, read or send.
 * QM_ERR_NOTFOUND for an unknown name, QM_ERR_INVAL for a bad value.
 */
enum qm_err qm_client_limit_set(struct qm_client *c, const char *name,
                                const char *value, struct qm_error *err);

/* ---------------------------------------------------------------- threads */

/*
 * Conversations and orders for a list of messages (thread.c): pure
 * computation on what the caller passes, no store, no network, nothing
 * kept between calls (docs/CLIENT.md, "Threads").
 */

/* The most messages one call takes. */
#define QM_THREAD_MSGMAX 1000000u
/* IDs read from the end of one References header; earlier ones are left. */
#define QM_THREAD_REFMAX 32u
/* The longest message ID (between < and >) that is read; longer: garbage. */
#define QM_THREAD_IDMAX 250u
/* Bytes read of one header: the last ones of References, the first ones
 * of Message-ID and In-Reply-To. */
#define QM_THREAD_SCANMAX 65536u
/* Bytes of a subject or a sender compared. */
#define QM_THREAD_TEXTMAX 1024u
/* "No such node / message" in a result. */
#define QM_THREAD_NONE SIZE_MAX

/*
 * What threading and sorting read of one message; all borrowed, a string
 * may be NULL or "". The three ID headers are their raw values as
 * received (folded or not, with comments); subject and from as shown
 * (RFC 2047 decoded).
 */
struct qm_client_msg_head {
	int64_t id; /* the caller's own, opaque: handed back in the result */
	const char *message_id;
	const char *in_reply_to;
	const char *references;
	const char *subject;
	const char *from; /* "Name <a@b>" or "a@b" */
	int64_t date;     /* Unix seconds; 0 when unknown */
	int64_t size;     /* bytes */
	int unread;       /* not \Seen */
};

/* One place in a thread. */
struct qm_client_thread_node {
	/* index in the messages given, or QM_THREAD_NONE for a dummy: a
	 * message that is not in the list but that several others answer
	 * (only ever a root with two or more children) */
	size_t msg;
	int64_t id;    /* that message's id; 0 for a dummy */
	size_t parent; /* index in nodes; QM_THREAD_NONE for a root */
	size_t child;  /* first (oldest) reply, QM_THREAD_NONE when none */
	size_t next;   /* next (younger) sibling, QM_THREAD_NONE when none */
	size_t nchild;
	size_t depth; /* 0 for a root */
};

/* One conversation: nodes[root .. root + nnodes), each message before its
 * replies and replies oldest first (a depth-first walk). */
struct qm_client_thread {
	size_t root;
	size_t nnodes;
	size_t count;      /* messages (a dummy is none) */
	size_t unread;     /* of those, unread */
	int64_t newest;    /* the date of its newest message */
	size_t newest_msg; /* which (index in the messages given) */
	/* the message that names the thread: the root, or a dummy root's
	 * oldest reply */
	size_t first_msg;
	int64_t size; /* of all its messages, bytes */
};

struct qm_client_threads {
	struct qm_client_thread_node *nodes;
	size_t nnodes;
	struct qm_client_thread *threads; /* newest conversation first */
	size_t nthreads;
	size_t nmsgs; /* the number of messages it was built from */
};

/*
 * Threads the n messages in (JWZ threading; docs/CLIENT.md, "Threads"):
 * a message goes under the last ID of its References (In-Reply-To's
 * first ID is added when References lacks it), absent parents become
 * dummies that are pruned as JWZ prunes them, loops are cut, and roots
 * that claim by their subject (Re:, Fwd:, ...) to answer another root
 * with the same base subject go under it. Every message appears exactly
 * once. Pass the messages in the order they arrived: when two carry the
 * same Message-ID, the first one given keeps it (both are threaded). A
 * message's own headers alone decide its parent: no other message can
 * move it. Time is O(n log n) and memory O(n) (at most
 * QM_THREAD_REFMAX + 2 containers per message), whatever the headers
 * hold: each is parsed no further than QM_THREAD_SCANMAX bytes. *out
 * (free with qm_client_threads_free) is set on success; QM_ERR_INVAL
 * without in or out, QM_ERR_TOOBIG past QM_THREAD_MSGMAX messages,
 * QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err
qm_client_thread_build(const struct qm_client_msg_head *in, size_t n,
                       struct qm_client_threads **out, struct qm_error *err);
void qm_client_threads_free(struct qm_client_threads **t);

/* What a list is sorted by. */
enum qm_client_sort_key {
	QM_SORT_DATE = 0,
	QM_SORT_FROM,    /* the display name, else the address; no case */
	QM_SORT_SUBJECT, /* the base subject (no Re:, Fwd:, [list]); no case */
	QM_SORT_SIZE,
};

struct qm_client_sort {
	enum qm_client_sort_key key;
	int descending;   /* newest, Z to A, largest first */
	int unread_first; /* unread ones (threads: with one) before the rest */
};

/*
 * Sorts the n messages in: order (n entries, the caller's) gets their
 * indices in the order how asks for. Ties go newest first, then in the
 * order given. QM_ERR_TOOBIG past QM_THREAD_MSGMAX messages, QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err
qm_client_msgs_sort(const struct qm_client_msg_head *in, size_t n,
                    const struct qm_client_sort *how, size_t *order,
                    struct qm_error *err);
/*
 * Reorders t->threads (the nodes stay) by how: date is a thread's newest
 * message, size the sum of its messages, from and subject those of its
 * first_msg. in and n are the messages t was built from (QM_ERR_INVAL
 * when n differs). Ties go newest first. QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err
qm_client_threads_sort(struct qm_client_threads *t,
                       const struct qm_client_msg_head *in, size_t n,
                       const struct qm_client_sort *how, struct qm_error *err);

/*
 * The base subject of s (NULL: ""): without leading "Re:", "Fwd:", "Fw:",
 * "AW:", "SV:", "VS:", "WG:", "Antw:", "Odp:", "TR:", "RV:" (any case,
 * "Re[2]:" too), "[list]" tags and a trailing "(fwd)", and without the
 * white space around; at most QM_THREAD_TEXTMAX bytes of s are read.
 * Returns a pointer into s, its length in *len; *reply (may be NULL) is 1
 * when a reply or forward prefix was taken off.
 */
const char *qm_client_subject_base(const char *s, size_t *len, int *reply);

#endif /* QM_CLIENT_H */
