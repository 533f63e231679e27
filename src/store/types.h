/* SPDX-License-Identifier: MIT */
/*
 * store/types.h: the records the store keeps, as values: accounts and their
 * servers, contacts, messages of the index and the queries that list them,
 * outbox entries, keyring keys, and the enums of their states (verify,
 * trust, labels, outbox). No function is declared here: store/store.h (the
 * store's API) and client/client.h (the client engine's, which the user
 * interfaces use) both include this header, so the interfaces read and
 * fill these records without seeing the store.
 */
#ifndef QM_STORE_TYPES_H
#define QM_STORE_TYPES_H

#include <stddef.h>
#include <stdint.h>

/* Largest sealed plaintext (a message with its attachments). */
#define QM_STORE_MAXBLOB (256u * 1024u * 1024u)
/* Bounds of the text fields of accounts, contacts and keys. */
#define QM_STORE_ADDRMAX 320
#define QM_STORE_HOSTMAX 256
#define QM_STORE_PATHMAX 1024
#define QM_STORE_NAMEMAX 256
/* Largest number of key IDs one message or outbox entry may use. */
#define QM_STORE_MAXKEYIDS 100000
/* Longest key ID (ETSI 014 key IDs are UUIDs: 36 characters). */
#define QM_STORE_KEYIDMAX 128

/* ----------------------------------------------------------------- vault */

/* Argon2id cost of a new vault (stored with the vault; unlock reads it). */
struct qm_store_kdf {
	uint64_t opslimit;
	uint64_t memlimit; /* bytes */
};

/* -------------------------------------------------------------- accounts */

enum qm_store_tls { QM_TLS_IMPLICIT = 0, QM_TLS_STARTTLS = 1, QM_TLS_NONE = 2 };
enum qm_store_auth {
	QM_AUTH_PASSWORD = 0, /* password or app password */
	QM_AUTH_OAUTH2 = 1,   /* OAuth2 bearer token with refresh data */
};
/* Secrets of an account, sealed in the vault. */
enum qm_store_secret {
	QM_SECRET_PASSWORD = 1,
	QM_SECRET_OAUTH_ACCESS = 2,
	QM_SECRET_OAUTH_REFRESH = 3,
	QM_SECRET_OAUTH_CLIENT = 4, /* the OAuth2 client secret, when given */
};

struct qm_store_server {
	char host[QM_STORE_HOSTMAX];
	int port;
	enum qm_store_tls tls;
};

struct qm_store_account {
	int64_t id; /* set by qm_store_account_add */
	char address[QM_STORE_ADDRMAX];
	char display_name[QM_STORE_NAMEMAX];
	char username[QM_STORE_ADDRMAX]; /* login name, often the address */
	struct qm_store_server smtp, imap, pop3;
	enum qm_store_auth auth;
	char oauth_token_url[QM_STORE_PATHMAX]; /* where to refresh the token */
	char oauth_client_id[QM_STORE_NAMEMAX];
	int64_t
	    oauth_expires; /* access token expiry, Unix seconds, 0 unknown */
	int64_t
	    oauth_issued; /* when the access token came, Unix s; 0 unknown */
	char oauth_revoke_url[QM_STORE_PATHMAX];  /* RFC 7009; "": none */
	char oauth_auth_url[QM_STORE_PATHMAX];    /* to sign in again */
	char oauth_device_url[QM_STORE_PATHMAX];  /* RFC 8628; "": none */
	char oauth_auth_params[QM_STORE_PATHMAX]; /* "prompt=consent"... */
	char oauth_scope[QM_STORE_PATHMAX];       /* scope asked for */
	char oauth_ca[QM_STORE_PATHMAX]; /* CA of the provider; "": system */
	char sae_id[QM_STORE_NAMEMAX];
	char kme_url[QM_STORE_PATHMAX];
	char kme_ca[QM_STORE_PATHMAX];   /* CA certificate path */
	char kme_cert[QM_STORE_PATHMAX]; /* client certificate path */
	char kme_key[QM_STORE_PATHMAX];  /* client key path */
	int default_level;               /* 1..4 */
};

/* ------------------------------------------------------- security labels */

/*
 * The security labels kept in clear (a message's level, verify state and
 * sender; a contact's SAE ID, confirmation and minimum level; a key's
 * trust) are bound by a MAC under a key derived from the vault key
 * (docs/STORE.md "Security labels"). Reading a row says how its check went.
 */
enum qm_store_label {
	QM_LABEL_UNCHECKED = 0, /* the vault is locked: not checked */
	QM_LABEL_OK = 1,        /* the labels are as QMail wrote them */
	QM_LABEL_ALTERED = 2,   /* changed on disk outside QMail: the row
	                           reads as untrusted (see each kind) */
};

/* ------------------------------------------------------------ identities */

/* A plain-text signature's bound (bytes of UTF-8). */
#define QM_STORE_SIGMAX 2048

/* An identity of an account: a From address with its display name and
 * signature (each may be ""). */
struct qm_store_identity {
	char address[QM_STORE_ADDRMAX];
	char name[QM_STORE_NAMEMAX];
	char signature[QM_STORE_SIGMAX];
	int is_default; /* 1: the account's default From */
};

/* -------------------------------------------------------------- contacts */

enum qm_store_contact_source { QM_CONTACT_USER = 0, QM_CONTACT_LEARNED = 1 };

struct qm_store_contact {
	char address[QM_STORE_ADDRMAX];
	char name[QM_STORE_NAMEMAX];
	char sae_id[QM_STORE_NAMEMAX];
	enum qm_store_contact_source source;
	int confirmed; /* a learned SAE ID counts only once confirmed */
	int min_level; /* 0: none; else never send below this level */
	int64_t updated;
	/* Reading: QM_LABEL_ALTERED comes back not confirmed, with the
	 * strictest floor (min_level 1). Ignored when writing. */
	enum qm_store_label label;
};

/* --------------------------------------------------------- message index */

enum qm_store_verify {
	QM_VERIFY_UNKNOWN_KEY = 0, /* sender key unknown */
	QM_VERIFY_OK = 1,          /* verified */
	QM_VERIFY_TAMPERED = 2,    /* a check failed: no plaintext kept */
	QM_VERIFY_NOT_QMAIL = 3,   /* an ordinary message */
	QM_VERIFY_REPLAY = 4,      /* reused a key ID: not decrypted */
	QM_VERIFY_REFUSED = 5,     /* past one of the user's limits: not
	                              opened, kept on the server */
	/* Levels 1 and 2: opened and authenticated, but sent from an SAE
	 * that is not the one confirmed for its From address: readable, its
	 * sender is not verified. */
	QM_VERIFY_UNVERIFIED_SENDER = 6,
	/* Its keys could not be asked for now (the account cannot use its
	 * KME, or the KME failed for this message): kept as received,
	 * sealed, and opened by a later sync. */
	QM_VERIFY_WAITING = 7,
	/* The message itself is bad (malformed envelope values, the KME
	 * refused its key IDs): kept as received, sealed; tried again only
	 * when the user asks. */
	QM_VERIFY_UNREADABLE = 8,
	/* Since issue 14 (no schema change: the same column): a QMail
	 * message of this account that this home sent (the same bytes as an
	 * outbox entry's ciphertext, found in Sent, All Mail or a copy to
	 * itself): not opened (it is encrypted for its recipients), no key
	 * asked for or consumed; readable from the outbox's own copy of what
	 * was sent, sealed in the vault with it. */
	QM_VERIFY_SENT = 9,
	/* Its From is this account's address, it is not addressed to this
	 * account, and this home did not send it (another device of the
	 * account, or someone writing the address): not opened, no key asked
	 * for or consumed, nothing of it shown; kept as received, sealed,
	 * and opened as mail to this account only when the user asks. */
	QM_VERIFY_SENT_ELSEWHERE = 10,
};

enum {
	QM_FLAG_SEEN = 1u << 0,
	QM_FLAG_ANSWERED = 1u << 1,
	QM_FLAG_FLAGGED = 1u << 2,
	QM_FLAG_DELETED = 1u << 3,
	/* since schema 6 (flags both ways): the IMAP flags a client shows,
	 * the same bits as the mail layer's QM_MAIL_FLAG_* */
	QM_FLAG_DRAFT = 1u << 4,
	QM_FLAG_FORWARDED = 1u << 5, /* $Forwarded */
	QM_FLAG_JUNK = 1u << 6,      /* $Junk */
	QM_FLAG_NOTJUNK = 1u << 7,   /* $NotJunk */
};

/*
 * One message of the index. Adding: the caller fills the fields it has
 * (strings may be NULL) and passes the subject, key IDs and plaintext MIME
 * separately. Listing: strings point into the list that holds them; subject
 * and snippet are in secure memory, subject NULL while the vault is locked.
 */
struct qm_store_msg {
	int64_t id;
	int64_t account_id;
	const char *folder;
	int64_t uidvalidity; /* IMAP; 0 for POP3 */
	int64_t uid;         /* IMAP; 0 for POP3 */
	const char *uidl;    /* POP3; NULL for IMAP */
	const char *message_id;
	const char *from_addr;
	const char *to_addrs;
	int64_t date; /* Unix seconds */
	int level;    /* 0: not QMail, else 1..4 */
	enum qm_store_verify verify;
	unsigned flags;
	int64_t size;
	int n_attach;
	int has_body; /* plaintext MIME sealed in the vault */
	/* A header-only record (schema 7): a plain message listed from its
	 * headers, its body not downloaded yet (qm_store_msg_body_fill): 1
	 * waiting, 2 the server gave another message for it (fetched only
	 * when opened, qm_store_msg_body_refused). Adding: only with verify
	 * QM_VERIFY_NOT_QMAIL and no MIME. */
	int body_pending;
	/* Adding (schema 12): instead of mime, the plaintext is the complete
	 * blob of this ID (kind QM_STORE_BLOB_MSG, owner account_id), from
	 * then on the message's: it goes when the message goes. 0: none. */
	int64_t body_blob;
	/* Listing: a sealed security record (qm_store_msg_meta_get) belongs
	 * to it; bound by the label MAC. Ignored when adding (meta says). */
	int has_meta;
	const char *subject;
	/* Listing (schema 9): a snippet of the message's text for the list
	 * (qm_store_snippet), never NULL: "" while locked, for a message whose
	 * text is not shown (tampered, replayed, refused, unreadable, waiting,
	 * its labels altered), a header-only record, or one whose sealed
	 * snippet does not open; qm_store_msg_get gives "" for a row of a home
	 * older than schema 9 until its snippet is kept
	 * (qm_store_msg_snippets_fill). Ignored when adding: the store makes
	 * it from the text given. */
	const char *snippet;
	/* The sender's display name as the client chose it from the
	 * message's authenticated From (issue 16), sealed in the list item
	 * with the subject and snippet, never in clear. Adding: may be NULL
	 * or "" (none); kept for a message whose snippet may be made
	 * (store_snippet_verify), at most QM_STORE_NAMEMAX - 1 bytes.
	 * Listing: NULL while locked, for a row without one (older rows,
	 * items written without a name), or when its text is not shown
	 * (tampered, replayed, refused, ..., its labels altered). */
	const char *from_name;
	/* Listing: QM_LABEL_ALTERED comes back with verify
	 * QM_VERIFY_TAMPERED, whatever the row says. Ignored when adding. */
	enum qm_store_label label;
	/* Adding only: the client's security record of the message (opaque
	 * bytes, may be NULL), sealed in the vault with it; read back with
	 * qm_store_msg_meta_get. */
	const void *meta;
	size_t meta_len;
};

/* What to list; zero fields do not filter. */
struct qm_store_query {
	int64_t account_id;
	const char *folder;
	const char *from_addr;      /* exact sender address */
	int64_t date_min, date_max; /* inclusive; 0: open */
	int level;                  /* 1..4 */
	unsigned flags_set;         /* all these flags set */
	unsigned flags_clear;       /* all these flags clear */
	/* Words in subject or body (FTS5 syntax); needs the vault unlocked.
	 * The index lives in memory only, built on first use after unlock. */
	const char *text;
	/* Messages with a place in this folder (qm_store_folder.id, schema
	 * 6): a message in several folders is listed in each. 0: any. */
	int64_t folder_id;
	/* Keyset paging: messages strictly older than (before_date, before_id);
	 * pass the last message of the previous page. 0: from the newest. */
	int64_t before_date, before_id;
	/* Offset paging (slower for deep pages); used when before_id is 0. */
	int64_t offset;
	int limit; /* 1..1000; 0 means 50 */
};

/* A page of messages, newest first. */
struct qm_store_msglist {
	size_t n;
	struct qm_store_msg *items;
	void *priv; /* string storage */
};

/* --------------------------------------------------------------- folders */

/* A folder's special use (RFC 6154, or found by a provider's name). */
enum qm_store_folder_use {
	QM_FOLDER_USE_NONE = 0,
	QM_FOLDER_USE_INBOX = 1,
	QM_FOLDER_USE_SENT = 2,
	QM_FOLDER_USE_DRAFTS = 3,
	QM_FOLDER_USE_TRASH = 4,
	QM_FOLDER_USE_JUNK = 5,
	QM_FOLDER_USE_ARCHIVE = 6,
	QM_FOLDER_USE_ALL = 7,
	QM_FOLDER_USE_FLAGGED = 8,
	QM_FOLDER_USE_IMPORTANT = 9,
};

/* Longest folder name kept: the server's (wire) name, and its display. */
#define QM_STORE_FOLDERMAX 1000
#define QM_STORE_FOLDERDISPMAX 4000

/*
 * A folder of an account's IMAP server (schema 6) and where its last sync
 * stopped. Listing: name and display are malloc'd (qm_store_folders_free,
 * qm_store_folder_clear); total and unread count the messages with a place
 * in it. Writing (qm_store_folder_put): the sync state and counts are
 * ignored.
 */
struct qm_store_folder {
	int64_t id;
	int64_t account_id;
	char *name;    /* as the server gives it (modified UTF-7) */
	char *display; /* UTF-8 for people */
	char delim;    /* hierarchy delimiter, '\0': flat */
	enum qm_store_folder_use use;
	int subscribed;
	int selectable; /* 0: \Noselect or \NonExistent */
	/* sync state: 0 until the first sync */
	int64_t uidvalidity;
	int64_t highestmodseq; /* 0: unknown, every flag is asked for */
	int64_t lastuid;       /* the highest UID filed */
	int64_t total, unread; /* listing only */
};

/*
 * A message's place on the server (schema 6): a UID of a folder. A message
 * is filed once and may have several places (the same message in INBOX
 * and [Gmail]/All Mail; moved and moved back). flags are the server's as
 * of the last sync (what a local change is compared with), msg_flags the
 * message's own (what the user sees).
 */
struct qm_store_place {
	int64_t folder_id;
	int64_t uid;
	int64_t msg_id;
	unsigned flags;
	unsigned msg_flags;
};

/* ------------------------------------------------------------ replay log */

enum qm_store_dir { QM_DIR_IN = 0, QM_DIR_OUT = 1 };

/* ---------------------------------------------------------------- outbox */

/*
 * The outbox. A message enters it before any network step:
 *   PENDING     plaintext sealed in the vault, no key yet
 *   ENCRYPTING  key IDs fetched and recorded (reserved), no ciphertext yet
 *   QUEUED      ciphertext stored; from now on only this ciphertext is sent
 *   SENDING     a send attempt is under way
 *   SENT        the server accepted it (its reply stored)
 *   FAILED      gave up (reason stored)
 *   RETRYING    waits until retry_at, then is sent again as is
 * qm_store_outbox_recover (at start-up) turns SENDING into RETRYING (the
 * same ciphertext is sent again) and ENCRYPTING into PENDING with its key
 * IDs burnt: they stay in the replay log and are never used again, and the
 * message is encrypted afresh under new keys (nothing left with the old).
 */
enum qm_store_outbox_state {
	QM_OUTBOX_PENDING = 0,
	QM_OUTBOX_ENCRYPTING = 1,
	QM_OUTBOX_QUEUED = 2,
	QM_OUTBOX_SENDING = 3,
	QM_OUTBOX_SENT = 4,
	QM_OUTBOX_FAILED = 5,
	QM_OUTBOX_RETRYING = 6,
};

struct qm_store_outbox {
	int64_t id;
	int64_t account_id;
	char message_id[QM_STORE_NAMEMAX * 2];
	char *recipients; /* malloc'd, comma separated; freed by _item_free */
	int level;
	enum qm_store_outbox_state state;
	int attempts;
	int64_t created, updated, retry_at;
	char *reply;  /* server reply of the last attempt or NULL */
	char *reason; /* why the last attempt failed or NULL */
	/* whether it has a ciphertext (from QUEUED on), and its length; the
	 * bytes are read with qm_store_outbox_open or _ciphertext */
	int has_ciphertext;
	size_t ciphertext_len;
	size_t n_keys;
	char **key_ids; /* the key IDs reserved for the current ciphertext */
};

/* --------------------------------------------------------------- keyring */

enum qm_store_trust {
	QM_TRUST_UNVERIFIED = 0, /* first seen, not compared */
	QM_TRUST_VERIFIED = 1,   /* fingerprints compared by the user */
	QM_TRUST_CHANGED = 2, /* differs from the key seen before: not used */
	QM_TRUST_RETIRED = 3, /* replaced by a key the user accepted */
};

#define QM_STORE_FPRMAX 80

struct qm_store_key {
	int64_t id;
	char address[QM_STORE_ADDRMAX];
	char alg[64]; /* the crypto layer's name, e.g. "mlkem768-x25519" */
	char fingerprint[QM_STORE_FPRMAX]; /* hex groups of BLAKE2b(alg, pub) */
	enum qm_store_trust trust;
	int64_t first_seen;
	unsigned char *pub; /* malloc'd; freed by qm_store_key_free */
	size_t pub_len;
	/* Reading: a contact's key with QM_LABEL_ALTERED comes back as
	 * QM_TRUST_CHANGED (not used until the user verifies it). */
	enum qm_store_label label;
};

/* ------------------------------------------------------------------ chat */

/* Largest conversation key, group ID and member list (docs/CHAT.md). */
#define QM_STORE_CHATKEYMAX 400
#define QM_STORE_GROUPIDMAX 80
#define QM_STORE_MEMBERSMAX 4096

/* A conversation of one account (schema 14). */
struct qm_store_chat {
	int64_t id;
	int64_t account_id;
	/* "1:<address>" (one-to-one) or "g:<Chat-Group-ID>" (group) */
	char key[QM_STORE_CHATKEYMAX];
	char group_id[QM_STORE_GROUPIDMAX]; /* "" for one-to-one */
	/* the other participants' bare addresses, lower case, sorted, comma
	 * separated (never the account's own) */
	char members[QM_STORE_MEMBERSMAX];
	int level; /* 1..4: messages are sent at this level or stronger */
	/* a group the account was removed from (or left): nothing is sent
	 * in it (schema 15; bound by the label MAC) */
	int removed;
	/* Reading: QM_LABEL_ALTERED when members or level were changed on
	 * disk outside QMail (nothing is sent in it until the level is set
	 * again). Ignored when writing. */
	enum qm_store_label label;
	/* Listing: the newest message's time (0: none), how many messages,
	 * how many received ones are unread. */
	int64_t last_at;
	size_t n_msgs, unread;
	/* Listing (schema 16): the user opted in to send read receipts in
	 * this conversation (docs/CHAT.md "Read receipts"). */
	int receipts;
};

/* What a line of a conversation is (schema 15). */
enum qm_store_chat_kind {
	QM_CHAT_TEXT = 0,           /* a message */
	QM_CHAT_MEMBER_ADDED = 1,   /* sender added the text's address */
	QM_CHAT_MEMBER_REMOVED = 2, /* sender removed the text's address */
	QM_CHAT_RECEIPT = 3,        /* a read receipt (schema 16): filed once
	                             * and moved to Chats, never listed */
};

/* One message of a conversation. */
struct qm_store_chat_msg {
	int64_t id;
	int64_t chat_id;
	char message_id[QM_STORE_NAMEMAX * 2];
	char sender[QM_STORE_ADDRMAX]; /* bare address */
	int64_t at;                    /* Unix seconds: its Date */
	int level;
	/* the message record it was read from (received; or the sender's own
	 * copy found on the server); 0: none (yet) */
	int64_t msg_id;
	/* sent from this home: its (first) outbox entry; 0: received */
	int64_t outbox_id;
	int seen;  /* received: read in the conversation */
	int moved; /* msg_id is in the Chats folder (0: a move is due) */
	int kind;  /* enum qm_store_chat_kind (sealed apart: vault kind
	            * "chatsys" for anything but a message, so an edited kind
	            * opens no text) */
	/* sent: when a member's read receipt named it (0: not yet) */
	int64_t read_at;
	/* Listing: the text, malloc'd (freed by qm_store_chat_msgs_free);
	 * NULL when its sealed copy does not open. Adding: ignored (the
	 * text is given beside). */
	char *text;
	/* schema 16: its attachments, one line each "type<TAB>size<TAB>
	 * name" (display-safe names: no control characters), sealed (kind
	 * "chatatt"); NULL when none. Listing: malloc'd; adding: sealed when
	 * not NULL. */
	char *att;
};

#endif /* QM_STORE_TYPES_H */
