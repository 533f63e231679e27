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
 * The mailboxes of an address-list header value with their display names:
 * *pairs holds 2 * *n malloc'd strings, for each mailbox its name (RFC
 * 2047 decoded to UTF-8, "" when none) then its addr-spec; free with
 * qm_mail_strv_free(pairs, 2 * n). A value that holds no address gives
 * *n = 0 and QM_OK. QM_ERR_TOOBIG past 5,000 mailboxes, QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err qm_mail_addr_names(const char *list, char ***pairs,
                                            size_t *n, struct qm_error *err);

/* Mailboxes read from what a person typed (qm_mail_addr_parse). */
struct qm_mail_addrs {
	char **names; /* n display names, UTF-8, "" when none */
	char **specs; /* n addr-specs, "bob@example.org" */
	size_t n;
	char **bad; /* nbad entries that are no address, as typed (trimmed) */
	size_t nbad;
};

/*
 * Reads an address list as a person types it in To, Cc or Bcc: entries
 * separated by commas or semicolons, each a bare address, "Name <addr>",
 * a quoted name ("Doe, Jane" <jane@x.test>) or RFC 2047 words, and groups
 * ("Team: a@b.test, c@d.test;", the members kept, the group's name not).
 * Each entry is parsed by GMime; one whose mailbox is not an addr-spec
 * (qm_mail_addr_spec_ok) goes to out->bad as typed. *out is filled on
 * success (free with qm_mail_addrs_clear); QM_ERR_TOOBIG past 5,000
 * entries, QM_ERR_NOMEM.
 */
QM_NODISCARD enum qm_err qm_mail_addr_parse(const char *list,
                                            struct qm_mail_addrs *out,
                                            struct qm_error *err);
void qm_mail_addrs_clear(struct qm_mail_addrs *a);
/* True when spec is local@domain: a dot-atom or quoted local part and a
 * host name of two labels or more (letters, digits, hyphens, UTF-8), at
 * most 320 bytes. */
int qm_mail_addr_spec_ok(const char *spec);

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
 * application/octet-stream); name is the file name (UTF-8). Its bytes are
 * data, len or, with data NULL, the file at path, read as the message is
 * written. */
struct qm_mail_attachment {
	const char *name;
	const char *type;
	const unsigned char *data;
	size_t len;
	const char *path;
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
	/* Chat (docs/CHAT.md): 1 writes Chat-Version: 1.0; chat_group_id
	 * (NULL: none) a Chat-Group-ID header. Inner message only. */
	int chat;
	const char *chat_group_id;
	/* A group's membership change (docs/CHAT.md "Groups"; NULL: none):
	 * Chat-Group-Member-Added or -Removed with this address. */
	const char *chat_member_added;
	const char *chat_member_removed;
	/* A read receipt (docs/CHAT.md "Read receipts"; NULL: none): the
	 * value of a Chat-Disposition header ("displayed"); the text lists
	 * the Original-Message-ID fields. Inner message only. */
	const char *chat_disposition;
	/* 1: attachments in the binary transfer encoding (RFC 2045 6.2), as
	 * they are, instead of base64. Only for a message that is encrypted
	 * before it travels (levels 1-4): no mail server or other program
	 * sees the inner message, and base64 would cost a third more bytes
	 * on the wire, in the vault and, at level 1, of QKD key. A message
	 * that goes out as it is (a plain copy, a draft) keeps base64. */
	int binary;
};

/*
 * Builds the inner ("protected") MIME message: the real Subject, copies of
 * From/To/Cc/Date/Message-ID, In-Reply-To/References, text/plain (with a
 * text/html alternative when given) and attachments (base64, or binary
 * with c->binary) with their names and types. The bytes are appended to out;
 * make out secure (they are the plaintext). GMime's own copies are wiped before
 * release.
 */
QM_NODISCARD enum qm_err qm_mail_inner_build(const struct qm_mail_compose *c,
                                             struct qm_buf *out,
                                             struct qm_error *err);

/* Takes len bytes of output; a non-zero return stops the operation (the
 * signature of the crypto layer's qm_write_fn). */
QM_NODISCARD typedef enum qm_err (*qm_mail_write_fn)(void *arg, const void *buf,
                                                     size_t len,
                                                     struct qm_error *err);
/*
 * The same message given to wr in pieces as GMime writes it (a few KiB at
 * a time; attachments given as files are read as they are encoded), so
 * that it is never whole in memory. *written (may be NULL) gets its
 * length. An error of wr stops it and is returned; an attachment file
 * that cannot be opened is QM_ERR_IO naming it.
 */
QM_NODISCARD enum qm_err qm_mail_inner_build_to(const struct qm_mail_compose *c,
                                                qm_mail_write_fn wr, void *arg,
                                                uint64_t *written,
                                                struct qm_error *err);

/* The QMail-Identity header (docs/FORMAT.md; parsed by the crypto layer):
 * its raw value may be this long whatever limit.header_length says. */
#define QM_MAIL_IDHDR_NAME   "QMail-Identity"
#define QM_MAIL_IDHDR_RAWMAX 12288

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

/*
 * The same message given to wr in pieces as it is made, for an envelope
 * too large to hold whole: qm_mail_wire_begin (w's envelope fields are
 * ignored) gives the headers and the parts before the envelope;
 * qm_mail_wire_write (arg: the writer; the signature of qm_write_fn, so
 * that the sealing can write into it) takes envelope bytes, encoded in
 * 76-character lines about 64 KiB at a time; qm_mail_wire_end gives the
 * rest and the closing boundary. The bytes equal qm_mail_wire_build's for
 * the same boundary. end and abort free *ww and set it NULL.
 */
struct qm_mail_wire_w;
QM_NODISCARD enum qm_err qm_mail_wire_begin(const struct qm_mail_wire *w,
                                            qm_mail_write_fn wr, void *arg,
                                            struct qm_mail_wire_w **ww,
                                            struct qm_error *err);
QM_NODISCARD enum qm_err qm_mail_wire_write(void *ww, const void *p, size_t n,
                                            struct qm_error *err);
QM_NODISCARD enum qm_err qm_mail_wire_end(struct qm_mail_wire_w **ww,
                                          struct qm_error *err);
void qm_mail_wire_abort(struct qm_mail_wire_w **ww);

/* The length of the wire message of w (its envelope fields ignored)
 * around an envelope of env_len bytes, as qm_mail_wire_begin, _write and
 * _end give it: a function of the headers and env_len alone (the random
 * boundary has a fixed length). */
QM_NODISCARD enum qm_err qm_mail_wire_size(const struct qm_mail_wire *w,
                                           uint64_t env_len, uint64_t *size,
                                           struct qm_error *err);

/* A decoded body part: attachment or inline part. */
struct qm_mail_part {
	char *name; /* file name, "" when none */
	char *type; /* "image/png" */
	unsigned char *data;
	size_t len;
	char *cid; /* its Content-ID without the angle brackets, "" when none
	              (what a cid: URL of the same message names) */
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
	char *reply_to; /* the Reply-To header as written; "" when none */
	char *text; /* preferred: text/plain; "" when the mail has only HTML */
	char *html;
	struct qm_mail_part *att;
	size_t natt;
	/* The QMail-Identity header's value, unfolded and trimmed (not
	 * parsed: crypto's qm_crypto_idhdr_parse does that); "" when absent
	 * or given more than once. */
	char *identity;
	/* The Chat-Version and Chat-Group-ID headers as written ("" when
	 * absent): of a decrypted inner message, authenticated with it. */
	char *chat_version;
	char *chat_group_id;
	/* Chat-Group-Member-Added and -Removed as written ("" when absent):
	 * a group's membership change (docs/CHAT.md "Groups"). */
	char *chat_member_added;
	char *chat_member_removed;
	/* The Chat-Disposition header as written ("" when absent): a read
	 * receipt (docs/CHAT.md), authenticated with the inner message. */
	char *chat_disposition;
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
/* The same without decoding the attachments: each is listed (name, type,
 * Content-ID) with data NULL and len 0; what an index needs of a large
 * message (its headers, text and attachment list) without a copy of its
 * attachments. */
QM_NODISCARD enum qm_err qm_mail_content_list(const void *msg, size_t len,
                                              const struct qm_mail_limits *lim,
                                              struct qm_mail_content **out,
                                              struct qm_error *err);
/* The same with each attachment's decoded size in len (data still NULL):
 * counted by decoding it into nothing, so that a reader can list a
 * message's attachments with their sizes without holding any of them
 * (qm_client_read_listed); qm_mail_att_open_src gives the bytes. */
QM_NODISCARD enum qm_err
qm_mail_content_outline(const void *msg, size_t len,
                        const struct qm_mail_limits *lim,
                        struct qm_mail_content **out, struct qm_error *err);
/*
 * A message read in pieces rather than held whole (a sealed blob of the
 * store): read as qm_read_fn, seek to a byte offset (at most len), its
 * length. Borrowed.
 */
QM_NODISCARD typedef enum qm_err (*qm_mail_src_read_fn)(void *arg, void *buf,
                                                        size_t want,
                                                        size_t *got,
                                                        struct qm_error *err);
QM_NODISCARD typedef enum qm_err (*qm_mail_seek_fn)(void *arg, uint64_t off,
                                                    struct qm_error *err);
struct qm_mail_src {
	qm_mail_src_read_fn read;
	qm_mail_seek_fn seek;
	void *arg;
	uint64_t len;
	/* Optional (NULL: none): qm_mail_parse_big_src hands every decoded
	 * byte of an envelope it leaves in the message (envsrc) to
	 * envelope_tap, once and in order, while it measures the envelope,
	 * so that a caller's digest of it needs no pass of its own. */
	void (*envelope_tap)(void *tap_arg, const void *p, size_t n);
	void *tap_arg;
};
/*
 * qm_mail_content_list of a message read from src, with memory bounded by
 * a window of it and the text (the limits' scans run over the source in
 * windows; GMime keeps each part as a place in the source, not a copy).
 * The same results and refusals as qm_mail_content_list; a failure of the
 * source is returned as it is.
 */
QM_NODISCARD enum qm_err
qm_mail_content_list_src(const struct qm_mail_src *src,
                         const struct qm_mail_limits *lim,
                         struct qm_mail_content **out, struct qm_error *err);
/* qm_mail_content_outline of a message read from src (bounded as
 * qm_mail_content_list_src). */
QM_NODISCARD enum qm_err
qm_mail_content_outline_src(const struct qm_mail_src *src,
                            const struct qm_mail_limits *lim,
                            struct qm_mail_content **out, struct qm_error *err);

/*
 * mime (a whole MIME message, within lim) with every part in the binary
 * transfer encoding re-encoded to base64, so that the message is 7-bit
 * and line-based again, as an mbox, a Maildir or another mail program
 * expects; the other parts keep their encoding where it fits 7 bits.
 * *changed (may be NULL) is 1 when mime was rewritten; a message with no
 * binary part is left byte for byte as it was. mime must be a secure
 * buffer when it holds plaintext: its replacement is one too.
 */
QM_NODISCARD enum qm_err qm_mail_mime_7bit(struct qm_buf *mime,
                                           const struct qm_mail_limits *lim,
                                           int *changed, struct qm_error *err);
void qm_mail_content_free(struct qm_mail_content **c);
/*
 * Attachment n of the message read from src (numbered as
 * qm_mail_content_parse lists them), its bytes decoded as
 * qm_mail_content_parse decodes them but read a piece at a time: memory
 * stays bounded by a window whatever its size (issue 18: a download from
 * the vault). *name and *type (malloc'd, as the list gives them) and *len
 * (its decoded size, found by a first pass; len NULL: not counted, no
 * first pass) describe it. QM_ERR_NOTFOUND
 * when there is no attachment n; QM_ERR_UNSUPPORTED for a forwarded
 * message (message/rfc822), which qm_mail_content_parse gives whole. The
 * same limits and refusals as qm_mail_content_list_src; src must stay
 * open until qm_mail_att_close.
 */
struct qm_mail_att_src;
QM_NODISCARD enum qm_err
qm_mail_att_open_src(const struct qm_mail_src *src,
                     const struct qm_mail_limits *lim, size_t n,
                     struct qm_mail_att_src **out, char **name, char **type,
                     uint64_t *len, struct qm_error *err);
/* The next bytes of a (*got 0 only at the end); a failure of the source
 * is returned as it is. */
QM_NODISCARD enum qm_err qm_mail_att_read(struct qm_mail_att_src *a, void *buf,
                                          size_t want, size_t *got,
                                          struct qm_error *err);
void qm_mail_att_close(struct qm_mail_att_src **a);

enum qm_mail_kind {
	QM_MAIL_KIND_PLAIN =
	    1, /* not QMail: shown as is, marked not encrypted */
	QM_MAIL_KIND_QMAIL = 2 /* multipart/encrypted with our protocol */
};

/*
 * An incoming message, classified. For QMail: the envelope bytes and the
 * routing copies from the X-QKD headers (untrusted: the envelope's own
 * copies count); key_ids holds the IDs the header lists and key_id_count
 * the total the header announces. For plain mail: content, whose
 * attachments are listed (name, type) but not decoded: data NULL, len 0
 * (qm_mail_content_parse of the message decodes them; a list and the
 * index need only their count, and decoding them cost a large sync a
 * tenth of its time).
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
	/* qm_mail_parse_big: an envelope past its threshold is left in the
	 * message (envelope NULL, envelope_len its decoded size) and read in
	 * pieces through this (qm_mail_envelope_read / _rewind) */
	struct qm_mail_envsrc *envsrc;
	struct qm_mail_content *content; /* plain mail only */
	/* The outer QMail-Identity header, as qm_mail_content's identity. */
	char *identity;
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
/*
 * The same, but an envelope of more than big bytes (as on the wire) is not
 * decoded into memory: *out->envsrc reads it a piece at a time, decoded
 * as qm_mail_parse decodes it, from msg, which must then stay as it is
 * until qm_mail_parsed_free. Its decoded size (envelope_len) and the
 * size limit are found by a first decoding pass.
 */
QM_NODISCARD enum qm_err qm_mail_parse_big(const void *msg, size_t len,
                                           const struct qm_mail_limits *lim,
                                           size_t big,
                                           struct qm_mail_parsed **out,
                                           struct qm_error *err);
/*
 * qm_mail_parse_big of a message read from src (a sealed blob: a large
 * message as it arrived) rather than held in memory, with memory bounded
 * by a window of it: the same results and refusals. src must stay open
 * and as it is until qm_mail_parsed_free (the envelope is read from it);
 * a failure of the source is returned as it is.
 */
QM_NODISCARD enum qm_err qm_mail_parse_big_src(const struct qm_mail_src *src,
                                               const struct qm_mail_limits *lim,
                                               size_t big,
                                               struct qm_mail_parsed **out,
                                               struct qm_error *err);
/* Reads the next decoded envelope bytes of src (a qm_mail_parsed's
 * envsrc) as qm_read_fn does (*got 0 only at the end); rewind starts it
 * again. */
QM_NODISCARD enum qm_err qm_mail_envelope_read(void *src, void *buf,
                                               size_t want, size_t *got,
                                               struct qm_error *err);
QM_NODISCARD enum qm_err qm_mail_envelope_rewind(void *src,
                                                 struct qm_error *err);

/* ========================================================== transport === */

enum qm_mail_tls {
	QM_MAIL_TLS_IMPLICIT = 0, /* TLS from the first byte (465/993/995) */
	QM_MAIL_TLS_STARTTLS = 1, /* plain greeting, then STARTTLS required */
	QM_MAIL_TLS_NONE = 2 /* refused unless host is a loopback address */
};

enum qm_mail_auth {
	QM_MAIL_AUTH_AUTO = 0, /* best password mechanism the server offers */
	QM_MAIL_AUTH_PLAIN,    /* SASL PLAIN */
	QM_MAIL_AUTH_LOGIN,    /* SASL LOGIN */
	QM_MAIL_AUTH_XOAUTH2,  /* bearer token, Google/Microsoft style */
	QM_MAIL_AUTH_OAUTHBEARER, /* bearer token, RFC 7628 */
	QM_MAIL_AUTH_BEARER /* bearer token: OAUTHBEARER or XOAUTH2, whichever
	                       the server offers (OAUTHBEARER first) */
};

/*
 * OAuth2: called once when the server refuses the bearer token of a login
 * (it expired early or was revoked): renews the token and points *bearer
 * at the new one, which must stay valid, at the same address as
 * srv->bearer, while srv is in use. The login is then tried once more. An
 * error (the sign-in has ended, the network) is returned as it is;
 * QM_ERR_NOTFOUND (err untouched): nothing to renew, the refusal stands.
 */
QM_NODISCARD typedef enum qm_err (*qm_mail_reauth_fn)(void *arg,
                                                      const char **bearer,
                                                      struct qm_error *err);

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
	qm_mail_reauth_fn reauth; /* NULL: a refused token is final */
	void *reauth_arg;
	long connect_timeout_ms; /* 0: 15 s */
	long io_timeout_ms;      /* a server silent this long fails; 0: 60 s */
	size_t max_message;      /* largest message fetched; 0: 64 MiB */
	/* bounds of the header fields of list summaries (max_header_len);
	 * NULL: the defaults */
	const struct qm_mail_limits *limits;
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

/* Reads up to want bytes into buf and sets *got (0 only at the end): the
 * signature of the crypto layer's qm_read_fn. */
QM_NODISCARD typedef enum qm_err (*qm_mail_read_fn)(void *arg, void *buf,
                                                    size_t want, size_t *got,
                                                    struct qm_error *err);
/* Starts a source again from its first byte. */
QM_NODISCARD typedef enum qm_err (*qm_mail_rewind_fn)(void *arg,
                                                      struct qm_error *err);

/* A message given in pieces: exactly len bytes from read(arg, ...);
 * rewind (NULL: none) lets an upload start again (a retry after the
 * OAuth2 token was renewed). Borrowed. */
struct qm_mail_source {
	qm_mail_read_fn read;
	qm_mail_rewind_fn rewind;
	void *arg;
	uint64_t len;
};

/*
 * As qm_mail_smtp_send, the message read from src as libcurl uploads it:
 * memory stays bounded by libcurl's upload buffer whatever its size. An
 * error of the source stops the upload and is returned as it is (the
 * message is then not sent: the server never sees the end of DATA); a
 * source shorter or longer than src->len is QM_ERR_IO.
 */
QM_NODISCARD enum qm_err
qm_mail_smtp_send_from(const struct qm_mail_server *srv, const char *from,
                       const char *const *rcpts, size_t nrcpt,
                       const struct qm_mail_source *src, struct qm_error *err);

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

/*
 * Folder attributes from LIST: RFC 6154 special use (\Sent, \Drafts,
 * \Trash, \Junk, \Archive, \All, \Flagged), RFC 8457 \Important,
 * RFC 3501 / 5258 \Noselect, \NonExistent, \HasChildren,
 * \Noinferiors, \Subscribed. When the server marks no folder for a use,
 * the provider names are recognised instead (docs/MAIL.md "Folders") and
 * QM_MAIL_FOLDER_BYNAME is set on the folder so found.
 */
enum {
	QM_MAIL_FOLDER_NOSELECT = 1 << 0,
	QM_MAIL_FOLDER_SENT = 1 << 1,
	QM_MAIL_FOLDER_DRAFTS = 1 << 2,
	QM_MAIL_FOLDER_TRASH = 1 << 3,
	QM_MAIL_FOLDER_JUNK = 1 << 4,
	QM_MAIL_FOLDER_ARCHIVE = 1 << 5,
	QM_MAIL_FOLDER_INBOX = 1 << 6,
	QM_MAIL_FOLDER_ALL = 1 << 7,       /* every message (Gmail All Mail) */
	QM_MAIL_FOLDER_FLAGGED = 1 << 8,   /* flagged ones (Gmail Starred) */
	QM_MAIL_FOLDER_IMPORTANT = 1 << 9, /* RFC 8457 */
	QM_MAIL_FOLDER_SUBSCRIBED = 1 << 10,
	QM_MAIL_FOLDER_HASCHILDREN = 1 << 11,
	QM_MAIL_FOLDER_NOINFERIORS = 1 << 12, /* cannot hold sub-folders */
	QM_MAIL_FOLDER_NONEXISTENT = 1 << 13, /* subscribed, but gone */
	QM_MAIL_FOLDER_BYNAME = 1 << 14 /* special use guessed from the name */
};
/* The special-use bits. */
#define QM_MAIL_FOLDER_SPECIAL                                                 \
	(QM_MAIL_FOLDER_SENT | QM_MAIL_FOLDER_DRAFTS | QM_MAIL_FOLDER_TRASH |  \
	 QM_MAIL_FOLDER_JUNK | QM_MAIL_FOLDER_ARCHIVE | QM_MAIL_FOLDER_ALL |   \
	 QM_MAIL_FOLDER_FLAGGED | QM_MAIL_FOLDER_IMPORTANT)

struct qm_mail_folder {
	char *name; /* as the server names it (modified UTF-7 left as is) */
	unsigned attrs;
};

/* Lists every folder (names as the server gives them; special use by
 * name as described above). Free with qm_mail_folders_free. For the
 * decoded names, the delimiter and subscriptions: qm_mail_imap_folders. */
QM_NODISCARD enum qm_err qm_mail_imap_list(struct qm_mail_imap *im,
                              struct qm_mail_folder **out, size_t *n,
                              struct qm_error *err);
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

/*
 * Message flags: the RFC 3501 system flags and the keywords a client shows
 * ($Forwarded, RFC 5788; $Junk / $NotJunk, also read from Thunderbird's
 * older "Junk" / "NonJunk"). Other keywords are not reported.
 */
enum {
	QM_MAIL_FLAG_SEEN = 1 << 0,
	QM_MAIL_FLAG_ANSWERED = 1 << 1,
	QM_MAIL_FLAG_FLAGGED = 1 << 2,
	QM_MAIL_FLAG_DELETED = 1 << 3,
	QM_MAIL_FLAG_DRAFT = 1 << 4,
	QM_MAIL_FLAG_FORWARDED = 1 << 5, /* $Forwarded */
	QM_MAIL_FLAG_JUNK = 1 << 6,      /* $Junk */
	QM_MAIL_FLAG_NOTJUNK = 1 << 7    /* $NotJunk */
};
#define QM_MAIL_FLAG_SYSTEM   0x1fu /* the five system flags */
#define QM_MAIL_FLAG_KEYWORDS 0xe0u /* the keywords above */

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
/*
 * Called once per message by qm_mail_imap_fetch_many: the whole message
 * (borrowed for the call). A non-zero return stops the fetch (the call
 * then returns QM_ERR_STATE).
 */
typedef int (*qm_mail_msg_fn)(void *arg, uint32_t uid, const unsigned char *msg,
                              size_t len);
/*
 * Whole messages (BODY.PEEK[]: nothing is marked seen) in few round trips,
 * for a sync: UID FETCH of up to 64 UIDs at once, fn called for each as it
 * arrives (in the server's order), one message held at a time, bounded
 * by srv->max_message. UIDs that no longer exist are skipped. A message
 * past srv->max_message is QM_ERR_TOOBIG and ends the session, as with
 * qm_mail_imap_fetch; those before it were given to fn.
 */
QM_NODISCARD enum qm_err qm_mail_imap_fetch_many(struct qm_mail_imap *im,
                                                 const uint32_t *uids, size_t n,
                                                 qm_mail_msg_fn fn, void *arg,
                                                 struct qm_error *err);
/* Fetches the whole message uid (BODY.PEEK[]) into out, bounded by
 * srv->max_message; progress is reported. QM_ERR_NOTFOUND when gone. */
QM_NODISCARD enum qm_err qm_mail_imap_fetch(struct qm_mail_imap *im,
                                            uint32_t uid, struct qm_buf *out,
                                            struct qm_error *err);

/*
 * Where a large message goes as it arrives instead of into memory (issue
 * 18: a 25 MiB attachment is a 47 MiB message on the wire): a message of
 * more than big bytes (an IMAP literal announcing more; a POP3 RETR body
 * once more than big bytes came, the first big bytes then given at once)
 * starts with begin (len: the IMAP literal's size, 0 for POP3: unknown),
 * then its bytes in order through write, so memory stays bounded by a
 * window. Nothing says the message ended: the call that fetched it says
 * whether it is whole (QM_OK) or not (an error: what the sink was given
 * is a part, to drop). An error of begin or write stops the fetch, is
 * returned as it is, and leaves the session unusable. Borrowed.
 */
QM_NODISCARD typedef enum qm_err (*qm_mail_sink_begin_fn)(void *arg,
                                                          uint64_t len,
                                                          struct qm_error *err);
QM_NODISCARD typedef enum qm_err (*qm_mail_sink_write_fn)(void *arg,
                                                          const void *p,
                                                          size_t n,
                                                          struct qm_error *err);
struct qm_mail_sink {
	uint64_t big;
	qm_mail_sink_begin_fn begin;
	qm_mail_sink_write_fn write;
	void *arg;
};
/* qm_mail_imap_fetch, a message of more than sink->big bytes given to
 * sink (NULL: none) as it arrives: *sunk is then 1 and out untouched;
 * else 0 and the message is in out. */
QM_NODISCARD enum qm_err qm_mail_imap_fetch_to(struct qm_mail_imap *im,
                                               uint32_t uid,
                                               const struct qm_mail_sink *sink,
                                               struct qm_buf *out, int *sunk,
                                               struct qm_error *err);
/* qm_mail_imap_fetch_many, each message of more than sink->big bytes
 * given to sink as it arrives; fn is called for it once it is whole with
 * msg NULL and len its size. (A message of a UID fn does not want may
 * have gone to the sink too: each begin starts a new one.) */
QM_NODISCARD enum qm_err
qm_mail_imap_fetch_many_to(struct qm_mail_imap *im, const uint32_t *uids,
                           size_t n, const struct qm_mail_sink *sink,
                           qm_mail_msg_fn fn, void *arg, struct qm_error *err);

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
 * The same, the message given in pieces by its maker (a copy sealed as it
 * is appended): begin announces a literal of len bytes; append_write
 * (the signature of qm_write_fn, arg: *aw) sends bytes as they come;
 * append_end checks that exactly len bytes went, ends the command and
 * reads the answer. More bytes than announced fail the write, fewer fail
 * end, and abort gives up: in each case the command is never ended (the
 * server stores nothing) and the session is unusable. end and abort free
 * *aw and set it NULL.
 */
struct qm_mail_imap_append_w;
QM_NODISCARD enum qm_err qm_mail_imap_append_begin(
    struct qm_mail_imap *im, const char *folder, uint64_t len, unsigned flags,
    struct qm_mail_imap_append_w **aw, struct qm_error *err);
QM_NODISCARD enum qm_err qm_mail_imap_append_write(void *aw, const void *p,
                                                   size_t n,
                                                   struct qm_error *err);
QM_NODISCARD enum qm_err
qm_mail_imap_append_end(struct qm_mail_imap_append_w **aw,
                        struct qm_error *err);
void qm_mail_imap_append_abort(struct qm_mail_imap_append_w **aw);
/* As qm_mail_imap_append, the message read from src 64 KiB at a time as it is
 * sent (a literal of src->len bytes): never whole in memory. A source that
 * fails or ends early fails the APPEND and leaves the session unusable. */
QM_NODISCARD enum qm_err
qm_mail_imap_append_from(struct qm_mail_imap *im, const char *folder,
                         const struct qm_mail_source *src, unsigned flags,
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
/* 1 when the session is out of step or lost (a refusal leaves it usable):
 * every later call fails; open a new one. */
int qm_mail_imap_broken(const struct qm_mail_imap *im);

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
/* One header criterion of a search: HEADER field value (a substring
 * match), or NOT HEADER field value. Printable ASCII values only. */
struct qm_mail_imap_hcrit {
	const char *field;
	const char *value;
	int not ;
};
/* UID SEARCH of the selected folder for messages matching all of
 * h[0..nh) (1 to 4); *uids, *n as qm_mail_imap_search gives them. */
QM_NODISCARD enum qm_err
qm_mail_imap_search_headers(struct qm_mail_imap *im,
                            const struct qm_mail_imap_hcrit *h, size_t nh,
                            uint32_t **uids, size_t *n, struct qm_error *err);

QM_NODISCARD enum qm_err
qm_mail_imap_save_sent_once(struct qm_mail_imap *im, const void *msg,
                            size_t len, const char *message_id, int *saved,
                            struct qm_error *err);

/* ------------------------------------------------- IMAP: folders, sync */

/*
 * Common to every call of this part (docs/MAIL.md "Folders, flags, moves
 * and search"): folder names given and returned are the server's wire
 * names (modified UTF-7), never qm_mail_imap_folder.display. Errors:
 * QM_ERR_INVAL for bad arguments (nothing sent), QM_ERR_STATE when the
 * session is broken (a reply that could not be read to its end: open a
 * new session) or a call needs a selected folder and none is,
 * QM_ERR_PROTO for a server's NO / BAD (its words in the message) or a
 * malformed reply, QM_ERR_TOOBIG past a bound, QM_ERR_UNSUPPORTED when
 * the server cannot do what is asked, QM_ERR_NET / QM_ERR_TIMEOUT. An
 * output pointer is set only when the call returns QM_OK.
 */

/*
 * The most UIDs one result may hold (a folder listing, a search, the
 * changes of a sync): past it the call fails with QM_ERR_TOOBIG rather
 * than grow without bound on a hostile server's word.
 */
#define QM_MAIL_IMAP_MAXUIDS ((size_t)4 << 20)

/*
 * Capabilities the session must not use although the server offers them
 * ("QRESYNC", "CONDSTORE", "MOVE", "UIDPLUS", "LIST-EXTENDED",
 * "SPECIAL-USE", "ESEARCH", "IDLE", "LITERAL+", "LIST-STATUS"): for a
 * server whose extension is broken, and for tests of the fallbacks.
 * Call right after qm_mail_imap_open. QM_ERR_INVAL for an empty name or
 * when the list is full.
 */
QM_NODISCARD enum qm_err qm_mail_imap_cap_ignore(struct qm_mail_imap *im,
                                                 const char *cap,
                                                 struct qm_error *err);

/*
 * Folder names on the wire are modified UTF-7 (RFC 3501 5.1.3); people
 * read UTF-8. Every call below takes and returns the server's name
 * (qm_mail_imap_folder.name); these two convert. decode refuses what the
 * RFC forbids (an unterminated or non-canonical "&...-" run, a broken
 * UTF-16 surrogate pair, an encoded printable ASCII character, 8-bit
 * bytes) with QM_ERR_PARSE; encode refuses bytes that are not UTF-8, and
 * CR, LF and NUL, with QM_ERR_INVAL. Both bound the result at 1000 bytes
 * of wire name (QM_ERR_TOOBIG). *out is malloc'd.
 */
QM_NODISCARD enum qm_err qm_mail_imap_name_decode(const char *wire, char **out,
                                                  struct qm_error *err);
QM_NODISCARD enum qm_err qm_mail_imap_name_encode(const char *utf8, char **out,
                                                  struct qm_error *err);

/* STATUS of a folder (RFC 3501 6.3.10, RFC 7162 HIGHESTMODSEQ). */
struct qm_mail_imap_counts {
	int valid; /* 0: not asked for, or the folder cannot be selected */
	uint32_t messages;
	uint32_t unseen;
	uint32_t uidnext;
	uint32_t uidvalidity;
	uint64_t highestmodseq; /* 0: the server keeps none */
};

struct qm_mail_imap_folder {
	char *name;     /* the server's name: give it back to every call */
	char *display;  /* UTF-8 for people: name decoded (name itself when it
	                   does not decode, bytes that are not UTF-8 replaced
	                   by U+FFFD); control characters (C0, DEL, C1), even
	                   encoded ones, are spaces. Never give it back to a
	                   call: two names may show the same */
	char delim;     /* hierarchy delimiter, '\0': a flat namespace */
	unsigned attrs; /* QM_MAIL_FOLDER_* */
	struct qm_mail_imap_counts counts; /* with QM_MAIL_IMAP_LIST_STATUS */
};

struct qm_mail_imap_folders {
	struct qm_mail_imap_folder *v;
	size_t n;
};

/* Options of qm_mail_imap_folders. */
enum {
	/* also the counts of every selectable folder: LIST-STATUS (RFC
	 * 5819) in the same round trip when offered, else one STATUS each */
	QM_MAIL_IMAP_LIST_STATUS = 1 << 0
};

/*
 * Every folder of the account, in the server's order, then the parents it
 * left out (QM_MAIL_FOLDER_NONEXISTENT | NOSELECT | HASCHILDREN): LIST ""
 * "*" RETURN (SUBSCRIBED CHILDREN SPECIAL-USE) where LIST-EXTENDED (RFC
 * 5258) is offered, else LIST and LSUB. Subscribed folders that no longer
 * exist come with QM_MAIL_FOLDER_NONEXISTENT | NOSELECT. Special use as
 * described at QM_MAIL_FOLDER_*: the server's marks win; for a use it
 * marks on no folder, the provider names count (first match in
 * docs/MAIL.md's order). With QM_MAIL_IMAP_LIST_STATUS, counts.valid is
 * set on each folder the server counted. Bounds: 100,000 folders and
 * 16 MiB of names and display names (QM_ERR_TOOBIG; the session goes
 * on); a name over 1000 bytes is left out. *out is malloc'd, with every
 * string in it: free with qm_mail_imap_folders_free (NULL is fine).
 */
QM_NODISCARD enum qm_err qm_mail_imap_folders(struct qm_mail_imap *im,
                                              unsigned opts,
                                              struct qm_mail_imap_folders **out,
                                              struct qm_error *err);
void qm_mail_imap_folders_free(struct qm_mail_imap_folders **f);
/* The first folder of f with every bit of attr set (a special use), not
 * a NONEXISTENT one; NULL when none or f is NULL. Points into f. */
const struct qm_mail_imap_folder *
qm_mail_imap_folders_find(const struct qm_mail_imap_folders *f, unsigned attr);

/*
 * Folder management; names are the server's (encode a name a person typed
 * with qm_mail_imap_name_encode, joining levels with the delimiter); the
 * new names of create and rename must decode as modified UTF-7
 * (QM_ERR_INVAL otherwise, nothing sent). create subscribes the new
 * folder when subscribe is set. rename carries the subscriptions of the
 * folder and its children along (LSUB, then UNSUBSCRIBE old and
 * SUBSCRIBE new for each; a refusal of those is ignored). delete sends
 * UNSELECT (RFC 3691, when offered) first when it is the selected
 * folder, never CLOSE (it would expunge). Deleting or renaming the
 * selected folder leaves none selected. INBOX cannot be renamed or deleted
 * (QM_ERR_INVAL). A refusal is QM_ERR_PROTO with the server's words (an
 * existing name, a folder with children on some servers).
 */
QM_NODISCARD enum qm_err qm_mail_imap_folder_create(struct qm_mail_imap *im,
                                                    const char *name,
                                                    int subscribe,
                                                    struct qm_error *err);
QM_NODISCARD enum qm_err qm_mail_imap_folder_rename(struct qm_mail_imap *im,
                                                    const char *from,
                                                    const char *to,
                                                    struct qm_error *err);
QM_NODISCARD enum qm_err qm_mail_imap_folder_delete(struct qm_mail_imap *im,
                                                    const char *name,
                                                    struct qm_error *err);
/* SUBSCRIBE (on) or UNSUBSCRIBE (!on). */
QM_NODISCARD enum qm_err qm_mail_imap_folder_subscribe(struct qm_mail_imap *im,
                                                       const char *name, int on,
                                                       struct qm_error *err);
/* STATUS of one folder (it need not be selected; it is best not): only
 * the server's STATUS reply for that name counts; QM_ERR_PROTO when none
 * came. HIGHESTMODSEQ is asked for under CONDSTORE / QRESYNC. */
QM_NODISCARD enum qm_err
qm_mail_imap_folder_status(struct qm_mail_imap *im, const char *name,
                           struct qm_mail_imap_counts *out,
                           struct qm_error *err);

/* STATUS of n folders in one round trip (the commands pipelined): out[i]
 * is names[i]'s counts, valid only where the server answered for that
 * name (a folder it refuses is left invalid, not an error). Cheaper than
 * LIST-STATUS on some servers: Dovecot over Maildir rereads a large
 * folder's UID list (hundreds of ms at 10,000 messages) for LIST-STATUS
 * and for any folder opened after the folder list was touched. */
QM_NODISCARD enum qm_err
qm_mail_imap_folders_status(struct qm_mail_imap *im, const char *const *names,
                            size_t n, struct qm_mail_imap_counts *out,
                            struct qm_error *err);

/* What SELECT / EXAMINE said about a folder. */
struct qm_mail_imap_folder_state {
	uint32_t uidvalidity;
	uint32_t uidnext; /* 0 when the server did not say */
	uint32_t exists;
	uint64_t highestmodseq; /* 0: no mod-sequences (no CONDSTORE, or the
	                           folder is NOMODSEQ) */
	unsigned permanent;     /* flags that stick (PERMANENTFLAGS; a listed
	                           keyword, or every keyword under "\*") */
	int read_only;
};

/*
 * Selects folder (EXAMINE when read_only: nothing changes \Seen or
 * \Recent). With CONDSTORE the server reports HIGHESTMODSEQ (QRESYNC is
 * ENABLEd once a session when offered; a refused ENABLE is remembered).
 * Later calls work on this folder. st may be NULL. A failure (no valid
 * UIDVALIDITY in the reply: QM_ERR_PROTO) leaves no folder selected.
 */
QM_NODISCARD enum qm_err
qm_mail_imap_folder_select(struct qm_mail_imap *im, const char *folder,
                           int read_only, struct qm_mail_imap_folder_state *st,
                           struct qm_error *err);

/* What the caller holds of a folder, from its last sync. */
struct qm_mail_imap_known {
	uint32_t uidvalidity;   /* 0: nothing (a first sync) */
	uint64_t highestmodseq; /* 0: unknown (every flag is fetched) */
	/* every message held, with the flags last seen (any order; UID 0
	 * is skipped; one entry per UID); at most QM_MAIL_IMAP_MAXUIDS
	 * (QM_ERR_INVAL). Borrowed for the call. */
	const struct qm_mail_uid_flags *msgs;
	size_t nmsgs;
};

/* How qm_mail_imap_folder_sync found the changes. */
enum qm_mail_imap_sync_mode {
	QM_MAIL_IMAP_SYNC_FULL = 1,      /* UID FETCH 1:* FLAGS, compared */
	QM_MAIL_IMAP_SYNC_CONDSTORE = 2, /* CHANGEDSINCE + the UID list */
	QM_MAIL_IMAP_SYNC_QRESYNC = 3    /* SELECT (QRESYNC ...) alone */
};

/* The changes of a folder since what the caller knew. */
struct qm_mail_imap_changes {
	struct qm_mail_imap_folder_state st; /* the folder now */
	enum qm_mail_imap_sync_mode mode;
	/* UIDVALIDITY changed: drop what was held; added is every message */
	int resync;
	/* each list ascending by UID, NULL when empty, owned by the
	 * changes (qm_mail_imap_changes_free) */
	struct qm_mail_uid_flags *added; /* new to the caller */
	size_t nadded;
	/* held messages whose flags differ from the known ones (the new
	 * flags) */
	struct qm_mail_uid_flags *changed;
	size_t nchanged;
	uint32_t *vanished; /* held messages that are gone */
	size_t nvanished;
};

/*
 * Selects folder (read-write; it stays selected) and says what changed
 * since known (NULL: nothing known): new messages with their flags,
 * changed flags, expunged messages. With QRESYNC (RFC 7162) and a known
 * HIGHESTMODSEQ of the same UIDVALIDITY it is one SELECT (QRESYNC ...)
 * round trip (VANISHED (EARLIER) and FETCH ... MODSEQ); with CONDSTORE
 * alone UID FETCH 1:* (FLAGS) (CHANGEDSINCE m) and the UID list;
 * otherwise UID FETCH 1:* (FLAGS) compared with known. When the server
 * names one UID in several FETCH replies the last counts; vanished only
 * ever names UIDs of known. The caller applies the changes, then stores
 * st.uidvalidity, st.highestmodseq and st.uidnext (docs/MAIL.md "Folder
 * sync"). Bounds: QM_MAIL_IMAP_MAXUIDS UIDs in any list or server reply
 * (QM_ERR_TOOBIG or QM_ERR_PROTO; a VANISHED range over it is refused
 * before anything is allocated). *out is malloc'd: free with
 * qm_mail_imap_changes_free (NULL is fine; it sets *c to NULL).
 */
QM_NODISCARD enum qm_err
qm_mail_imap_folder_sync(struct qm_mail_imap *im, const char *folder,
                         const struct qm_mail_imap_known *known,
                         struct qm_mail_imap_changes **out,
                         struct qm_error *err);
void qm_mail_imap_changes_free(struct qm_mail_imap_changes **c);

/* --------------------------------------- IMAP: flags, move, search, list */

/*
 * Adds the flags add and removes the flags remove (QM_MAIL_FLAG_*) on
 * the messages uids[0..n) of the selected folder: UID STORE
 * +FLAGS.SILENT / -FLAGS.SILENT, UIDs in compressed sets, split into
 * several commands past 8 KiB of set. uids in any order; duplicates and
 * UID 0 are dropped; none left, n over QM_MAIL_IMAP_MAXUIDS (TOOBIG),
 * an unknown flag, nothing to change or a flag both added and removed:
 * refused before anything is sent. A keyword the folder does not keep
 * (PERMANENTFLAGS) fails with QM_ERR_UNSUPPORTED before anything is
 * sent; so does a read-only folder. UIDs that no longer exist are
 * skipped by the server. On a failure part of the set may be changed.
 */
QM_NODISCARD enum qm_err qm_mail_imap_store(struct qm_mail_imap *im,
                                            const uint32_t *uids, size_t n,
                                            unsigned add, unsigned remove,
                                            struct qm_error *err);

/*
 * Where copied or moved messages went (RFC 4315 COPYUID). Only pairs
 * whose source is a message of the request count, each source once; a
 * COPYUID reply with any other pair, unequal sets or UID 0 is dropped
 * whole. Messages the server gave no pair for (no UIDPLUS, or a reply
 * dropped): find them in the destination by Message-ID.
 */
struct qm_mail_imap_uidmap {
	uint32_t uidvalidity; /* of the destination; 0 when n is 0 */
	uint32_t *src;        /* src[i] is now dst[i] in the destination, */
	uint32_t *dst;        /* in the server's order; NULL when n is 0 */
	size_t n;             /* at most the UIDs asked for */
};
void qm_mail_imap_uidmap_free(struct qm_mail_imap_uidmap **m);

/*
 * Copies (UID COPY) or moves (UID MOVE, RFC 6851; without MOVE: UID COPY,
 * \Deleted and an expunge of just these messages as in
 * qm_mail_imap_expunge_uids) the messages uids[0..n) of the selected
 * folder to folder. uids as in qm_mail_imap_store; a move needs a
 * read-write folder (QM_ERR_UNSUPPORTED). When map is not NULL, *map
 * gets the new UIDs the server reported (malloc'd, even when empty:
 * qm_mail_imap_uidmap_free). On a failure part of the set may have been
 * copied or moved: sync both folders.
 */
QM_NODISCARD enum qm_err
qm_mail_imap_copy_uids(struct qm_mail_imap *im, const uint32_t *uids, size_t n,
                       const char *folder, struct qm_mail_imap_uidmap **map,
                       struct qm_error *err);
QM_NODISCARD enum qm_err
qm_mail_imap_move_uids(struct qm_mail_imap *im, const uint32_t *uids, size_t n,
                       const char *folder, struct qm_mail_imap_uidmap **map,
                       struct qm_error *err);
/*
 * Sets \Deleted on uids[0..n) and expunges exactly them: UID EXPUNGE
 * (RFC 4315 UIDPLUS); without it, the other messages marked \Deleted
 * (UID SEARCH DELETED) lose the mark for a plain EXPUNGE and get it back
 * after, whatever EXPUNGE said, so nothing else goes (except a message
 * another client marks in between: IMAP4rev1 has no better). uids as in
 * qm_mail_imap_store; a read-only folder: QM_ERR_UNSUPPORTED.
 */
QM_NODISCARD enum qm_err qm_mail_imap_expunge_uids(struct qm_mail_imap *im,
                                                   const uint32_t *uids,
                                                   size_t n,
                                                   struct qm_error *err);
/*
 * Deletes uids[0..n) the way the caller chose: trash NULL expunges them
 * (qm_mail_imap_expunge_uids); otherwise they move to the folder trash
 * (found with qm_mail_imap_folders_find(QM_MAIL_FOLDER_TRASH)), and are
 * expunged when trash is the selected folder itself. map as in move.
 */
QM_NODISCARD enum qm_err qm_mail_imap_delete_uids(
    struct qm_mail_imap *im, const uint32_t *uids, size_t n, const char *trash,
    struct qm_mail_imap_uidmap **map, struct qm_error *err);

/*
 * A server search in the selected folder; every criterion given must
 * match (AND). Strings are UTF-8, matched as substrings by the server
 * (case-insensitively on most); a non-ASCII one is sent as a literal with
 * CHARSET UTF-8 (a server that refuses it: QM_ERR_UNSUPPORTED).
 */
struct qm_mail_imap_query {
	const char *text;    /* TEXT: anywhere in the header or body */
	const char *from;    /* FROM */
	const char *to;      /* TO */
	const char *subject; /* SUBJECT */
	const char *body;    /* BODY */
	int64_t since;       /* arrived on or after this day (the UTC date of
	                        this time, INTERNALDATE); 0: any */
	int64_t before;      /* arrived before this day; 0: any */
	unsigned with;       /* QM_MAIL_FLAG_* that must be set */
	unsigned without;    /* QM_MAIL_FLAG_* that must not be set */
};

/*
 * The UIDs matching q in the selected folder, ascending, each once (UID
 * SEARCH; ESEARCH's compact answer, RFC 4731, when offered; an ESEARCH
 * reply tagged for another command is ignored). QM_ERR_INVAL for an empty
 * query, unknown flags, or a string that is not one line of UTF-8 of at
 * most 1000 bytes. Bounds: QM_MAIL_IMAP_MAXUIDS UIDs (QM_ERR_TOOBIG); a
 * hit of 0 or over 2^32 - 1 is a malformed reply (QM_ERR_PROTO, the
 * session broken). *uids is malloc'd (NULL when none), *n its length.
 */
QM_NODISCARD enum qm_err qm_mail_imap_search(struct qm_mail_imap *im,
                                             const struct qm_mail_imap_query *q,
                                             uint32_t **uids, size_t *n,
                                             struct qm_error *err);

/*
 * What a message list shows of one message, from one UID FETCH of FLAGS,
 * RFC822.SIZE, INTERNALDATE (MODSEQ with CONDSTORE) and the header fields
 * Date, From, Sender, To, Cc, Subject, Message-ID, In-Reply-To,
 * References, Content-Type, List-Id and the X-QKD ones (BODY.PEEK: nothing
 * is marked seen). Strings are NUL-terminated, "" when absent, each cut at
 * the limits' max_header_len; all borrowed for the callback only.
 */
struct qm_mail_imap_summary {
	uint32_t uid;
	unsigned flags;
	uint32_t size;        /* RFC822.SIZE */
	int64_t internaldate; /* arrival, seconds since the epoch; 0 unknown */
	int64_t date;         /* the Date header; 0 when it does not parse */
	uint64_t modseq;      /* 0 without CONDSTORE */
	const char *subject;  /* RFC 2047 decoded, UTF-8 */
	const char *from;     /* as qm_mail_addr_display shows it */
	const char *to;       /* as qm_mail_addr_display shows it */
	const char *cc;       /* as qm_mail_addr_display shows it */
	const char *message_id;   /* as sent, unfolded */
	const char *in_reply_to;  /* as sent, unfolded */
	const char *references;   /* as sent, unfolded */
	const char *content_type; /* as sent, unfolded */
	const unsigned char *hdr; /* the header fields fetched, raw */
	size_t hdrlen;
};

/*
 * Called once per message by qm_mail_imap_fetch_summaries; done messages
 * of total have been delivered (this one included): the progress. A
 * non-zero return stops the fetch (the call then returns QM_ERR_STATE).
 */
typedef int (*qm_mail_summary_fn)(void *arg,
                                  const struct qm_mail_imap_summary *s,
                                  size_t done, size_t total);

/*
 * The summaries of uids[0..n) of the selected folder (uids as in
 * qm_mail_imap_store; sent as compressed sets, one UID FETCH per 8 KiB
 * of set), at most one callback per UID asked for, in the server's
 * order; FETCH data for any other UID, or for a UID already delivered,
 * is ignored, so done never passes total (the distinct UIDs asked for).
 * UIDs that no longer exist are skipped. Bounds: a header block over
 * 1 MiB is refused before it is read (QM_ERR_TOOBIG, the session
 * broken); each string field is cut at the server's limits'
 * max_header_len (default QM_MAIL_DEF_MAXHEADERLEN) on a UTF-8 boundary.
 * A callback's non-zero return: QM_ERR_STATE, the session still usable.
 */
QM_NODISCARD enum qm_err
qm_mail_imap_fetch_summaries(struct qm_mail_imap *im, const uint32_t *uids,
                             size_t n, qm_mail_summary_fn fn, void *arg,
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
/* RETR num, a message of more than sink->big bytes given to sink as it
 * arrives (struct qm_mail_sink; NULL: none): *sunk is then 1 and out holds
 * nothing of it; else 0 and the message is in out. The message is whole
 * only when the call returns QM_OK (a server that hung up mid-message is
 * QM_ERR_NET, as for qm_mail_pop3_retr). */
QM_NODISCARD enum qm_err qm_mail_pop3_retr_to(struct qm_mail_pop3 *p,
                                              uint32_t num,
                                              const struct qm_mail_sink *sink,
                                              struct qm_buf *out, int *sunk,
                                              struct qm_error *err);
/* DELE num (effective at QUIT). Delete-after-fetch is the caller's
 * choice and off by default. */
QM_NODISCARD enum qm_err qm_mail_pop3_dele(struct qm_mail_pop3 *p, uint32_t num,
                                           struct qm_error *err);

/* ========================================================== discovery === */

/*
 * What finding a domain's mail servers needs from the network and from
 * untrusted files (docs/CLIENT.md "Finding the servers"): the autoconfig
 * file of the Mozilla ISPDB format (config-v1.1.xml) fetched over HTTPS
 * only, and DNS lookups (SRV RFC 6186, MX, A) through libresolv. The
 * order, the provider registry and the choice are the client engine's.
 */

/* The largest autoconfig file read (bigger ones are refused). */
#define QM_MAIL_AUTOCONFIG_MAX ((size_t)64 << 10)
#define QM_MAIL_DNS_NAMEMAX    256

/* One server of an autoconfig file; host "" when the file offers none
 * usable of that kind. */
struct qm_mail_ac_server {
	char host[QM_MAIL_DNS_NAMEMAX];
	int port;
	enum qm_mail_tls tls; /* SSL: IMPLICIT; STARTTLS: STARTTLS */
	char username[320];   /* %VARIABLES% replaced */
	int password;         /* password-cleartext / password-encrypted */
	int oauth2;           /* OAuth2 */
};

struct qm_mail_autoconfig {
	char provider_id[128];  /* emailProvider id="..." */
	char display_name[128]; /* displayName */
	struct qm_mail_ac_server imap, pop3, smtp;
	/* the <oAuth2> element, https URLs only ("" when absent) */
	char oauth_issuer[256];
	char oauth_scope[1024];
	char oauth_auth_url[1024];
	char oauth_token_url[1024];
	/* what was refused and why ("" when nothing): servers without TLS,
	 * bad host names or ports, unknown %VARIABLES%, a non-https URL */
	char refused[512];
};

/*
 * Parses an autoconfig file (xml, len bytes, at most QM_MAIL_AUTOCONFIG_MAX)
 * for address into *out: the first usable server of each kind in the
 * file's order. A server offered without TLS (socketType plain or
 * unknown), with a host name that is no DNS name, a port outside 1..65535
 * or an unknown %VARIABLE% is skipped and named in out->refused. Fails
 * with QM_ERR_PARSE for malformed XML or a file that is no clientConfig,
 * QM_ERR_TOOBIG past the size, QM_ERR_DENIED when the file offers an
 * incoming server or an SMTP server only without TLS (the message names
 * them), QM_ERR_NOTFOUND when it offers no incoming or no SMTP server.
 */
QM_NODISCARD enum qm_err
qm_mail_autoconfig_parse(const char *xml, size_t len, const char *address,
                         struct qm_mail_autoconfig *out, struct qm_error *err);

/* 1 when host is a DNS name QMail connects to: letters, digits, '-' and
 * '.', labels of 1..63 bytes not starting or ending with '-', 1..253
 * bytes in all (a trailing dot is not allowed). */
int qm_mail_hostname_ok(const char *host);

struct qm_mail_srv {
	char target[QM_MAIL_DNS_NAMEMAX]; /* "." (or ""): not offered */
	int port;
	int priority;
	int weight;
};

/*
 * DNS lookups through libresolv, at most a few seconds each. server is
 * NULL or "" for the system's resolver, or "ADDRESS[:PORT]" (IPv4) to ask
 * that one server alone. Each fills at most max entries and *n with the
 * count; QM_ERR_NOTFOUND when the name or the record does not exist,
 * QM_ERR_NET / QM_ERR_TIMEOUT when the resolver cannot be reached,
 * QM_ERR_PARSE for a malformed answer.
 * SRV records come in the order to try them: priority ascending, then
 * weight descending.
 */
QM_NODISCARD enum qm_err qm_mail_dns_srv(const char *server, const char *name,
                                         struct qm_mail_srv *out, size_t max,
                                         size_t *n, struct qm_error *err);
/* MX host names of domain, by preference (lowest first). */
QM_NODISCARD enum qm_err qm_mail_dns_mx(const char *server, const char *domain,
                                        char (*out)[QM_MAIL_DNS_NAMEMAX],
                                        size_t max, size_t *n,
                                        struct qm_error *err);
/* The first IPv4 address of host, dotted, into out (n bytes). */
QM_NODISCARD enum qm_err qm_mail_dns_a(const char *server, const char *host,
                                       char *out, size_t n,
                                       struct qm_error *err);
/* Sorts SRV records into the order to try them (as qm_mail_dns_srv). */
void qm_mail_srv_sort(struct qm_mail_srv *v, size_t n);

/* Process-wide setup of libcurl and GMime; call once from main (cheap to
 * call again). QM_ERR_NOMEM if libcurl cannot start. */
QM_NODISCARD enum qm_err qm_mail_init(struct qm_error *err);

/* ----------------------- HTTPS; the loopback redirect of OAuth2 sign-in */

/* One HTTPS request (qm_mail_https_request): an autoconfig file of account
 * discovery, an OAuth2 provider's token, device or discovery endpoint. */
struct qm_mail_https_req {
	const char *url;           /* https:// only; anything else is refused */
	const char *ca_file;       /* NULL or "": the system's CAs */
	const struct qm_buf *form; /* a POST of this form body, sent from the
	                              caller's (secure) buffer as it is;
	                              NULL: a GET */
	const char *accept;        /* the Accept header ("application/json");
	                              NULL: libcurl's (any type) */
	const char *resolve;       /* NULL, or "host:port:address"
	                              (CURLOPT_RESOLVE): where to connect for
	                              a host resolved elsewhere */
	long timeout_ms;           /* the whole request; 0: 30 s. Connecting
	                              may take half of it. */
	const char *what;          /* how messages name the request ("renewing
	                              the sign-in"), see below; NULL: by its
	                              URL */
};

/*
 * Sends req over HTTPS (certificate and host name verified, no redirect
 * followed): *status gets the HTTP status, out the body (bounded by
 * out->max: QM_ERR_TOOBIG past it) and, for a 3xx, location (n bytes; may
 * be NULL) the Location given ("" otherwise) for the caller to check and
 * follow. QM_ERR_INVAL for a URL that is not https://; QM_ERR_TLS when
 * the certificate cannot be verified; QM_ERR_NET when the server cannot
 * be reached or the transfer fails. A time-out is QM_ERR_TIMEOUT ("URL did
 * not answer in N s") when req->what is NULL, and QM_ERR_NET ("WHAT:
 * cannot reach HOST ...") when it is given, so that a caller that tries
 * again after QM_ERR_NET (a device sign-in's polling) does so after a
 * time-out too; the other messages also name the URL, or WHAT and the
 * host, accordingly.
 */
QM_NODISCARD enum qm_err
qm_mail_https_request(const struct qm_mail_https_req *req, struct qm_buf *out,
                      long *status, char *location, size_t n,
                      struct qm_error *err);

/* The host (and port) of url, for messages: what follows "://" up to the
 * path, query or fragment, cut to outlen bytes with its NUL. */
void qm_mail_url_host(const char *url, char *out, size_t outlen);

/*
 * The loopback redirect of a native app's sign-in (RFC 8252 7.3): a
 * listener on 127.0.0.1 on a free port (*port), one request at a time.
 */
struct qm_mail_loopback;
struct qm_mail_loopback_req {
	char method[8];
	char path[256];   /* without the query: "/" */
	char query[8192]; /* as sent, percent-encoded */
	int fd;           /* the connection, until qm_mail_loopback_reply */
};
QM_NODISCARD enum qm_err qm_mail_loopback_open(struct qm_mail_loopback **out,
                                               int *port, struct qm_error *err);
/*
 * Waits up to timeout_ms for a request whose head (request line and
 * headers, at most 16 KiB) arrives within 5 s; a connection that sends
 * none is answered 400 and the wait goes on. QM_ERR_TIMEOUT when the time
 * is up, QM_ERR_STATE at once when wake_fd (-1: none) is readable. On
 * QM_OK answer it with qm_mail_loopback_reply, then wipe it.
 */
QM_NODISCARD enum qm_err
qm_mail_loopback_accept(struct qm_mail_loopback *lb, long timeout_ms,
                        int wake_fd, struct qm_mail_loopback_req *req,
                        struct qm_error *err);
/* The value of the query parameter name, percent-decoded, into out: 1, or
 * 0 when absent, too long or holding a NUL. */
/*
 * Parses the head of a request (n bytes at buf, which it may change) into
 * req's method, path and query: 0 when done, 1 when the head is not
 * complete yet, -1 when it is no HTTP request or passes the bounds.
 */
int qm_mail_loopback_parse_head(char *buf, size_t n,
                                struct qm_mail_loopback_req *req);
int qm_mail_loopback_param(const struct qm_mail_loopback_req *req,
                           const char *name, char *out, size_t outlen);
/* Answers with status and an HTML page and closes the connection. */
void qm_mail_loopback_reply(struct qm_mail_loopback_req *req, int status,
                            const char *html);
/* Closes the connection if still open and wipes req (its query may hold
 * an authorization code). */
void qm_mail_loopback_req_wipe(struct qm_mail_loopback_req *req);
void qm_mail_loopback_free(struct qm_mail_loopback **lb);

#endif /* QM_MAIL_H */
