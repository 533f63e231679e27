/* SPDX-License-Identifier: MIT */
/*
 * mail: the mail layer. Transport to ordinary mail servers (SMTP send, IMAP
 * folders/sync/flags/move/delete/append/IDLE, POP3 UIDL sync) over libcurl
 * with TLS always verified, and the MIME wire format (GMime): the inner
 * "protected" message that the crypto layer encrypts, the outer QMail wire
 * message that carries the opaque envelope bytes, and the parsers for both.
 * The QMail envelope is opaque here: this layer never encrypts or decrypts.
 * Every server reply and every parsed message is bounded; every network
 * operation has a time-out. See docs/MAIL.md and docs/FORMAT.md.
 */
#ifndef QM_MAIL_H
#define QM_MAIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* =============================================================== MIME === */

/* The fixed outer Subject of every QMail message (the real one is inside). */
#define QM_MAIL_PLACEHOLDER_SUBJECT "[QMail encrypted message]"
/* The protocol parameter of the outer multipart/encrypted. */
#define QM_MAIL_PROTOCOL "application/x-qmail-encrypted"
/* The wire format version written in the control part. */
#define QM_MAIL_WIRE_VERSION 1
/* How many key IDs the X-QKD-KeyID header copies at most (the rest: count). */
#define QM_MAIL_HDR_MAXKEYIDS 8

/* The defaults of struct qm_mail_limits (a zero field means these). */
#define QM_MAIL_DEF_MAXSIZE      ((size_t)64 << 20)
#define QM_MAIL_DEF_MAXPARTS     256
#define QM_MAIL_DEF_MAXDEPTH     16
#define QM_MAIL_DEF_MAXHEADERS   512
#define QM_MAIL_DEF_MAXHEADERLEN ((size_t)64 << 10)
#define QM_MAIL_DEF_MAXKEYIDS    100000

/*
 * Bounds for parsing untrusted messages. A zero field means the default:
 * 64 MiB message, 256 parts, depth 16, 512 headers a part, 64 KiB a header,
 * 100000 key IDs announced by X-QKD-KeyID (checked before any key is
 * asked for). Past a limit the parsers fail with QM_ERR_TOOBIG and a
 * message that gives the value found, the limit and the limit's name
 * ("limit.parts", "limit.message_size", "limit.depth", "limit.headers",
 * "limit.header_length", "limit.key_ids"), and err->hint_arg gets the
 * limit's name alone; when hint is set the message ends "(hint
 * limit.parts N)" so that a person knows how to change it.
 */
struct qm_mail_limits {
	size_t max_size;
	size_t max_parts;
	size_t max_depth;
	size_t max_headers;
	size_t max_header_len;
	size_t max_key_ids;
	const char *hint; /* borrowed; NULL: the message names the limit only */
};

/*
 * Fills err with QM_ERR_TOOBIG: "<what>; your limit is <limit> (<hint>
 * <name> N)", or without a hint "<what>; the limit is <limit> (<name>)",
 * and err->hint_arg with name, as the parsers do, for callers that check a
 * limit of struct qm_mail_limits themselves (the client's key-ID count).
 * Returns QM_ERR_TOOBIG (not QM_NODISCARD: it cannot fail, as qm_error_set).
 */
enum qm_err qm_mail_limit_error(const struct qm_mail_limits *lim,
                                const char *name, size_t limit,
                                struct qm_error *err, const char *fmt, ...)
	QM_PRINTF(5, 6);

/*
 * The header values the envelope binds (docs/FORMAT.md, "Header values
 * the envelope binds"; docs/ARCHITECTURE.md invariant 4), exactly as they
 * appear on the wire once unfolded: addresses RFC 2047-encoded and
 * comma-separated, an RFC 5322 date, a "<id@domain>" Message-ID. The
 * sender binds the values qm_mail_hdrs_make returns; the receiver binds the
 * values qm_mail_parse returns; both are the same strings. Plain data,
 * every field a malloc'd NUL-terminated string ("" when absent).
 */
struct qm_mail_hdrs {
	char *from;
	char *to;
	char *cc;
	char *date;
	char *message_id;
};

/*
 * Makes the canonical header values for a new message. from is one address
 * ("Alice <alice@example.org>" or "alice@example.org"); to and cc are arrays
 * of addresses (non-ASCII display names allowed, UTF-8). Bcc is never given
 * here: Bcc recipients appear only in the SMTP envelope. when is the Date
 * (seconds since the epoch, UTC). A random Message-ID is made in the
 * domain of from. Returns QM_ERR_PARSE for an address that does not parse.
 * Free with qm_mail_hdrs_free.
 */
QM_NODISCARD enum qm_err
qm_mail_hdrs_make(const char *from, const char *const *to, size_t nto,
                  const char *const *cc, size_t ncc, int64_t when,
                  struct qm_mail_hdrs **out, struct qm_error *err);
void qm_mail_hdrs_free(struct qm_mail_hdrs **h);

/*
 * The bare addr-specs ("bob@example.org") of an address-list header value,
 * for SMTP RCPT TO. *addrs is a malloc'd array of malloc'd strings; free
 * with qm_mail_strv_free. QM_ERR_PARSE when the list holds no address.
 */
QM_NODISCARD enum qm_err qm_mail_addr_specs(const char *list, char ***addrs,
                                            size_t *n, struct qm_error *err);
void qm_mail_strv_free(char ***v, size_t n);

/*
 * An address-list header value as a person reads it: RFC 2047 display
 * names ("=?UTF-8?B?...?= <a@b>") decoded to UTF-8, quoted where the list
 * syntax needs it; a value that is no address list is decoded as text.
 * *out is malloc'd ("" for NULL or ""). Nothing in it is made safe to
 * show: the caller does that.
 */
QM_NODISCARD enum qm_err qm_mail_addr_display(const char *list, char **out,
                                              struct qm_error *err);

/* An attachment to build (borrowed). type is "image/png" etc. (NULL:
 * application/octet-stream); name is the file name (UTF-8). */
struct qm_mail_attachment {
	const char *name;
	const char *type;
	const unsigned char *data;
	size_t len;
};

/* What the user wrote; all borrowed. NULL strings are absent. */
struct qm_mail_compose {
	const struct qm_mail_hdrs *hdrs;
	const char *subject;     /* UTF-8 */
	const char *text;        /* UTF-8 plain-text body */
	const char *html;        /* optional text/html alternative */
	const char *in_reply_to; /* "<id@domain>" */
	const char *references;  /* "<a@d> <b@d>" */
	const struct qm_mail_attachment *att;
	size_t natt;
};

/*
 * Builds the inner ("protected") MIME message: the real Subject, copies of
 * From/To/Cc/Date/Message-ID, In-Reply-To/References, text/plain (with a
 * text/html alternative when given) and base64 attachments with their names
 * and types. The bytes are appended to out; make out secure (they are the
 * plaintext). GMime's own copies are wiped before release.
 */
QM_NODISCARD enum qm_err qm_mail_inner_build(const struct qm_mail_compose *c,
                                             struct qm_buf *out,
                                             struct qm_error *err);

/* The outer wire message to build (borrowed). */
struct qm_mail_wire {
	const struct qm_mail_hdrs *hdrs;
	int level;                  /* 1..4 */
	const char *const *key_ids; /* levels 1 and 2; NULL otherwise */
	size_t nkey_ids;
	const char *sender_sae; /* levels 1 and 2; NULL otherwise */
	const unsigned char *envelope;
	size_t envelope_len;
};

/*
 * Builds the outer QMail message (docs/FORMAT.md "MIME message"): the
 * hdrs, the placeholder Subject, X-QKD-Security-Level, X-QKD-KeyID (at most
 * QM_MAIL_HDR_MAXKEYIDS IDs and the total count), X-QKD-Sender-SAE,
 * multipart/encrypted with a control part and the base64 envelope. CRLF
 * line ends, every line within 78 characters. Appends to out.
 * QM_ERR_INVAL for a bad level or a header value with CR/LF.
 */
QM_NODISCARD enum qm_err qm_mail_wire_build(const struct qm_mail_wire *w,
                                            struct qm_buf *out,
                                            struct qm_error *err);

/* A decoded body part: attachment or inline part. */
struct qm_mail_part {
	char *name; /* file name, "" when none */
	char *type; /* "image/png" */
	unsigned char *data;
	size_t len;
};

/*
 * A parsed readable message (the decrypted inner message, or a plain mail).
 * html is kept as text for the GUI to sanitise; nothing here is executed.
 * Strings are malloc'd and NUL-terminated; "" when absent, except html
 * which is NULL when absent. Freed (and wiped) by qm_mail_content_free.
 */
struct qm_mail_content {
	struct qm_mail_hdrs hdrs; /* copies found in this message */
	char *subject;
	char *in_reply_to;
	char *references;
	char *text; /* preferred: text/plain; "" when the mail has only HTML */
	char *html;
	struct qm_mail_part *att;
	size_t natt;
};

/*
 * Parses a message into its readable parts (subject, text, html,
 * attachments). Used for the decrypted inner message and for plain mail.
 * Bounded by lim (NULL: defaults). QM_ERR_TOOBIG past a limit, QM_ERR_PARSE
 * for a message that is not MIME at all.
 */
QM_NODISCARD enum qm_err qm_mail_content_parse(const void *msg, size_t len,
                                               const struct qm_mail_limits *lim,
                                               struct qm_mail_content **out,
                                               struct qm_error *err);
void qm_mail_content_free(struct qm_mail_content **c);

enum qm_mail_kind {
	QM_MAIL_KIND_PLAIN =
	    1, /* not QMail: shown as is, marked not encrypted */
	QM_MAIL_KIND_QMAIL = 2 /* multipart/encrypted with our protocol */
};

/*
 * An incoming message, classified. For QMail: the envelope bytes and the
 * routing copies from the X-QKD headers (untrusted: the envelope's own
 * copies count); key_ids holds the IDs the header lists and key_id_count
 * the total the header announces. For plain mail: content.
 */
struct qm_mail_parsed {
	enum qm_mail_kind kind;
	struct qm_mail_hdrs hdrs; /* wire values, unfolded: what is bound */
	char *subject;            /* outer Subject, decoded */
	int version;              /* QMail control part "Version: N" */
	int level;                /* X-QKD-Security-Level, 0 when absent */
	char **key_ids;
	size_t nkey_ids;
	size_t key_id_count;
	char *sender_sae; /* "" when absent */
	unsigned char *envelope;
	size_t envelope_len;
	struct qm_mail_content *content; /* plain mail only */
};

/*
 * Parses an incoming message (bounded by lim, NULL: defaults). A message
 * that claims to be QMail but is malformed (no envelope part, bad base64,
 * unknown version) gives QM_ERR_PARSE or QM_ERR_UNSUPPORTED with the reason;
 * anything else is parsed as plain mail.
 */
QM_NODISCARD enum qm_err qm_mail_parse(const void *msg, size_t len,
                                       const struct qm_mail_limits *lim,
                                       struct qm_mail_parsed **out,
                                       struct qm_error *err);
void qm_mail_parsed_free(struct qm_mail_parsed **p);

/* ========================================================== transport === */

enum qm_mail_tls {
	QM_MAIL_TLS_IMPLICIT = 0, /* TLS from the first byte (465/993/995) */
	QM_MAIL_TLS_STARTTLS = 1, /* plain greeting, then STARTTLS required */
	QM_MAIL_TLS_NONE = 2 /* refused unless host is a loopback address */
};

enum qm_mail_auth {
	QM_MAIL_AUTH_AUTO = 0,   /* best password mechanism the server offers */
	QM_MAIL_AUTH_PLAIN,      /* SASL PLAIN */
	QM_MAIL_AUTH_LOGIN,      /* SASL LOGIN */
	QM_MAIL_AUTH_XOAUTH2,    /* bearer token, Google/Microsoft style */
	QM_MAIL_AUTH_OAUTHBEARER /* bearer token, RFC 7628 */
};

/* Called during large transfers: bytes done of total (0: unknown). */
typedef void (*qm_mail_progress_fn)(void *arg, uint64_t done, uint64_t total);

/*
 * One server account (borrowed by every call). Certificate and host name
 * are always verified, against ca_file when set, else the system store.
 * password and bearer should live in secure memory; they are never logged.
 */
struct qm_mail_server {
	const char *host;
	int port; /* 0: the protocol's default for tls */
	enum qm_mail_tls tls;
	const char *ca_file;
	const char *user;
	const char *password;
	const char *bearer;
	enum qm_mail_auth auth;
	long connect_timeout_ms; /* 0: 15 s */
	long io_timeout_ms;      /* a server silent this long fails; 0: 60 s */
	size_t max_message;      /* largest message fetched; 0: 64 MiB */
	qm_mail_progress_fn progress;
	void *progress_arg;
};

/* ---------------------------------------------------------------- SMTP */

/*
 * Sends msg (the whole RFC 5322 message, CRLF) from the envelope sender
 * from (a bare address) to every address in rcpts (To, Cc and Bcc: Bcc only
 * here). On a refusal err holds the server's reply lines verbatim and the
 * code is QM_ERR_DENIED (authentication), QM_ERR_PROTO (5xx) or
 * QM_ERR_UNAVAIL (4xx: try again later); QM_ERR_TLS for a certificate
 * problem, QM_ERR_NET / QM_ERR_TIMEOUT for the connection.
 */
QM_NODISCARD enum qm_err qm_mail_smtp_send(const struct qm_mail_server *srv,
                                           const char *from,
                                           const char *const *rcpts,
                                           size_t nrcpt, const void *msg,
                                           size_t len, struct qm_error *err);

/*
 * Checks an SMTP server without sending: connects, secures the connection
 * (certificate verified) and authenticates, then hangs up. Errors as
 * qm_mail_smtp_send.
 */
QM_NODISCARD enum qm_err qm_mail_smtp_check(const struct qm_mail_server *srv,
                                            struct qm_error *err);

/* ---------------------------------------------------------------- IMAP */

struct qm_mail_imap;

/*
 * Connects, secures and logs in (through libcurl), then keeps the
 * authenticated connection for the calls below. srv is borrowed and
 * must outlive the session. Free with qm_mail_imap_free (LOGOUT).
 */
QM_NODISCARD enum qm_err qm_mail_imap_open(const struct qm_mail_server *srv,
                                           struct qm_mail_imap **out,
                                           struct qm_error *err);
void qm_mail_imap_free(struct qm_mail_imap **im);
/* True when the server announced the capability ("IDLE", "MOVE", ...). */
int qm_mail_imap_has_cap(const struct qm_mail_imap *im, const char *cap);

/* Folder attributes from LIST (RFC 6154 special use). */
enum {
	QM_MAIL_FOLDER_NOSELECT = 1 << 0,
	QM_MAIL_FOLDER_SENT = 1 << 1,
	QM_MAIL_FOLDER_DRAFTS = 1 << 2,
	QM_MAIL_FOLDER_TRASH = 1 << 3,
	QM_MAIL_FOLDER_JUNK = 1 << 4,
	QM_MAIL_FOLDER_ARCHIVE = 1 << 5,
	QM_MAIL_FOLDER_INBOX = 1 << 6
};

struct qm_mail_folder {
	char *name; /* as the server names it (modified UTF-7 left as is) */
	unsigned attrs;
};

/* Lists every folder. Free with qm_mail_folders_free. */
QM_NODISCARD enum qm_err qm_mail_imap_list(struct qm_mail_imap *im,
                                           struct qm_mail_folder **out,
                                           size_t *n, struct qm_error *err);
void qm_mail_folders_free(struct qm_mail_folder **f, size_t n);
/* The folder with attribute attr (QM_MAIL_FOLDER_SENT, ...), or
 * QM_ERR_NOTFOUND. *name is malloc'd. */
QM_NODISCARD enum qm_err qm_mail_imap_special(struct qm_mail_imap *im,
                                              unsigned attr, char **name,
                                              struct qm_error *err);

struct qm_mail_imap_status {
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t exists;
};

/* Selects folder (read-write); fills st. Later calls work on it. */
QM_NODISCARD enum qm_err qm_mail_imap_select(struct qm_mail_imap *im,
                                             const char *folder,
                                             struct qm_mail_imap_status *st,
                                             struct qm_error *err);

/*
 * Incremental sync of the selected folder: the UIDs above last_uid, in
 * ascending order. When the folder's UIDVALIDITY differs from
 * known_uidvalidity (0: first sync) every UID is new and *resync is set:
 * the caller drops what it had stored for the folder. *uids is malloc'd.
 */
QM_NODISCARD enum qm_err
qm_mail_imap_new_uids(struct qm_mail_imap *im, uint32_t known_uidvalidity,
                      uint32_t last_uid, uint32_t **uids, size_t *n,
                      int *resync, struct qm_error *err);

/* Message flags. */
enum {
	QM_MAIL_FLAG_SEEN = 1 << 0,
	QM_MAIL_FLAG_ANSWERED = 1 << 1,
	QM_MAIL_FLAG_FLAGGED = 1 << 2,
	QM_MAIL_FLAG_DELETED = 1 << 3,
	QM_MAIL_FLAG_DRAFT = 1 << 4
};

/*
 * Fetches the header block of uid without marking it seen (BODY.PEEK),
 * with its flags and size. Appends the headers to out.
 */
QM_NODISCARD enum qm_err
qm_mail_imap_fetch_headers(struct qm_mail_imap *im, uint32_t uid,
                           struct qm_buf *out, unsigned *flags, uint32_t *size,
                           struct qm_error *err);
/*
 * Called once per message by qm_mail_imap_fetch_headers_many: the header
 * block (borrowed for the call), flags and size. A non-zero return stops
 * the fetch (the call then returns QM_ERR_STATE).
 */
typedef int (*qm_mail_headers_fn)(void *arg, uint32_t uid, unsigned flags,
                                  uint32_t size, const unsigned char *hdr,
                                  size_t len);
/*
 * The headers of many messages in few round trips (UID FETCH of up to 128
 * UIDs at once, BODY.PEEK: nothing is marked seen), for a message list.
 * UIDs that no longer exist are skipped. Each header block is bounded
 * (1 MiB).
 */
QM_NODISCARD enum qm_err
qm_mail_imap_fetch_headers_many(struct qm_mail_imap *im, const uint32_t *uids,
                                size_t n, qm_mail_headers_fn fn, void *arg,
                                struct qm_error *err);
/* Fetches the whole message uid (BODY.PEEK[]) into out, bounded by
 * srv->max_message; progress is reported. QM_ERR_NOTFOUND when gone. */
QM_NODISCARD enum qm_err qm_mail_imap_fetch(struct qm_mail_imap *im,
                                            uint32_t uid, struct qm_buf *out,
                                            struct qm_error *err);

struct qm_mail_uid_flags {
	uint32_t uid;
	unsigned flags;
};
/* Flags of every message in the selected folder (flag sync). */
QM_NODISCARD enum qm_err qm_mail_imap_flags_all(struct qm_mail_imap *im,
                                                struct qm_mail_uid_flags **out,
                                                size_t *n,
                                                struct qm_error *err);
/* Adds (op > 0), removes (op < 0) or replaces (op == 0) flags of uid. */
QM_NODISCARD enum qm_err qm_mail_imap_flags_set(struct qm_mail_imap *im,
                                                uint32_t uid, unsigned flags,
                                                int op, struct qm_error *err);
/* Moves uid to folder (MOVE, or COPY + delete + expunge). */
QM_NODISCARD enum qm_err qm_mail_imap_move(struct qm_mail_imap *im,
                                           uint32_t uid, const char *folder,
                                           struct qm_error *err);
/* Marks uid deleted and expunges it (UID EXPUNGE when offered). */
QM_NODISCARD enum qm_err qm_mail_imap_delete(struct qm_mail_imap *im,
                                             uint32_t uid,
                                             struct qm_error *err);
/* Appends msg to folder with flags (e.g. QM_MAIL_FLAG_SEEN for Sent). */
QM_NODISCARD enum qm_err qm_mail_imap_append(struct qm_mail_imap *im,
                                             const char *folder,
                                             const void *msg, size_t len,
                                             unsigned flags,
                                             struct qm_error *err);

/*
 * Waits for new mail in the selected folder: IDLE when the server offers
 * it, else a NOOP every poll_ms. Returns QM_OK with *news = 1 when a new
 * message arrived (EXISTS grew), *news = 0 when timeout_ms passed quietly.
 * The connection stays usable afterwards.
 */
QM_NODISCARD enum qm_err qm_mail_imap_wait(struct qm_mail_imap *im,
                                           long timeout_ms, long poll_ms,
                                           int *news, struct qm_error *err);
/*
 * A descriptor that ends qm_mail_imap_wait early when it becomes readable
 * (a pipe another thread writes to, to stop a watcher); -1: none. The wait
 * then returns QM_OK with *news = 0 and qm_mail_imap_woken is 1; the
 * session stays usable. The caller drains the descriptor.
 */
void qm_mail_imap_set_wake(struct qm_mail_imap *im, int fd);
int qm_mail_imap_woken(const struct qm_mail_imap *im);

/*
 * Appends a sent message, marked seen, to the account's Sent folder. The
 * caller skips it for a provider that saves sent mail itself (Gmail does:
 * an account setting). Finds Sent by special use, falling back to "Sent".
 */
QM_NODISCARD enum qm_err qm_mail_imap_save_sent(struct qm_mail_imap *im,
                                                const void *msg, size_t len,
                                                struct qm_error *err);
/*
 * The UIDs of the messages of the selected folder whose header field holds
 * value (UID SEARCH HEADER: a case-insensitive substring match), ascending.
 * field is a header name, value printable ASCII (QM_ERR_INVAL otherwise).
 * *uids is malloc'd (NULL when none).
 */
QM_NODISCARD enum qm_err qm_mail_imap_search_header(struct qm_mail_imap *im,
                                                    const char *field,
                                                    const char *value,
                                                    uint32_t **uids, size_t *n,
                                                    struct qm_error *err);
/*
 * Like qm_mail_imap_save_sent, but only when the Sent folder holds no
 * message with this Message-ID yet: a copy whose APPEND reached the server
 * although its answer was lost is not saved twice. *saved is 1 when it was
 * appended now, 0 when it was there already. Leaves Sent selected.
 */
QM_NODISCARD enum qm_err
qm_mail_imap_save_sent_once(struct qm_mail_imap *im, const void *msg,
                            size_t len, const char *message_id, int *saved,
                            struct qm_error *err);

/* ---------------------------------------------------------------- POP3 */

struct qm_mail_pop3;

struct qm_mail_pop3_msg {
	uint32_t num;  /* message number in this session */
	char uidl[72]; /* unique ID (RFC 1939: at most 70 characters) */
};

/* Connects and logs in (libcurl). Free with qm_mail_pop3_free (QUIT:
 * deletions take effect then). srv is borrowed for the session. */
QM_NODISCARD enum qm_err qm_mail_pop3_open(const struct qm_mail_server *srv,
                                           struct qm_mail_pop3 **out,
                                           struct qm_error *err);
void qm_mail_pop3_free(struct qm_mail_pop3 **p);
/* UIDL: every message with its unique ID. *out is malloc'd. */
QM_NODISCARD enum qm_err qm_mail_pop3_uidl(struct qm_mail_pop3 *p,
                                           struct qm_mail_pop3_msg **out,
                                           size_t *n, struct qm_error *err);
/* RETR num into out, bounded by srv->max_message. */
QM_NODISCARD enum qm_err qm_mail_pop3_retr(struct qm_mail_pop3 *p, uint32_t num,
                                           struct qm_buf *out,
                                           struct qm_error *err);
/* DELE num (effective at QUIT). Delete-after-fetch is the caller's
 * choice and off by default. */
QM_NODISCARD enum qm_err qm_mail_pop3_dele(struct qm_mail_pop3 *p, uint32_t num,
                                           struct qm_error *err);

/* Process-wide setup of libcurl and GMime; call once from main (cheap to
 * call again). QM_ERR_NOMEM if libcurl cannot start. */
QM_NODISCARD enum qm_err qm_mail_init(struct qm_error *err);

#endif /* QM_MAIL_H */
