/* SPDX-License-Identifier: MIT */
/*
 * core: what every QMail layer stands on. Errors as values with a message a
 * person can act on, bounded growable buffers, base64 and hex, secure memory
 * over libsodium, a logger that redacts secure memory, a small configuration
 * file parser, and file helpers. Nothing here prints or exits.
 */
#ifndef QM_CORE_H
#define QM_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define QM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define QM_NODISCARD __attribute__((warn_unused_result))
#else
#define QM_PRINTF(a, b)
#define QM_NODISCARD
#endif

/*
 * QM_IGNORE(call): drop the result of a QM_NODISCARD call on purpose, the
 * one way to do so (docs/ARCHITECTURE.md section 2, "Names"). For a
 * cleanup on a path that has already failed, or a best-effort step whose
 * failure changes nothing; each use says why in a comment. A cast to
 * (void) alone does not silence GCC's warn_unused_result; negating the
 * value first makes it an ordinary expression whose value may be dropped.
 */
#define QM_IGNORE(call) ((void)!(call))

/* ------------------------------------------------------------------ errors */

/* Every fallible function returns one of these; 0 is success. */
enum qm_err {
	QM_OK = 0,
	QM_ERR_NOMEM,       /* out of memory */
	QM_ERR_INVAL,       /* a caller passed a bad argument */
	QM_ERR_TOOBIG,      /* input or output passed a configured limit */
	QM_ERR_PARSE,       /* malformed input (envelope, JSON, MIME, reply) */
	QM_ERR_AUTH,        /* an authentication check failed: tampered data */
	QM_ERR_CRYPTO,      /* a crypto primitive failed */
	QM_ERR_IO,          /* file system */
	QM_ERR_NET,         /* connection refused, reset, DNS */
	QM_ERR_TLS,         /* certificate or handshake problem */
	QM_ERR_PROTO,       /* a server answered with an error or out of protocol */
	QM_ERR_NOTFOUND,    /* no such object */
	QM_ERR_EXISTS,      /* object already exists */
	QM_ERR_DENIED,      /* not allowed: 401, wrong passphrase, wrong SAE */
	QM_ERR_UNAVAIL,     /* not enough of something now: 503, short key pool */
	QM_ERR_REPLAY,      /* a key ID was already used */
	QM_ERR_LOCKED,      /* the vault is locked */
	QM_ERR_STATE,       /* call out of order */
	QM_ERR_UNSUPPORTED, /* version or feature not supported */
	QM_ERR_TIMEOUT,     /* a peer did not answer in time */
	QM_ERR__COUNT
};

#define QM_ERR_MSGMAX 512
/* Longest hint argument (an e-mail address fits). */
#define QM_ERR_ARGMAX 324

/*
 * An error with its message. Functions that can fail take a trailing
 * `struct qm_error *err` (which may be NULL) and fill it on failure. The
 * message names what failed and, where known, what to do about it, in
 * terms of the thing (the account, the contact, the limit), never of one
 * user interface.
 *
 * hint is what a person can do about it as a code, for the interfaces to
 * word their own way ("run `qmail contact add ...`", "open Contacts"): 0
 * when there is nothing to add, else a value of the client engine's enum
 * qm_client_hint. hint_arg names the thing the hint is about (an address,
 * a setting's name), "" when none; a lower layer may fill hint_arg alone
 * (the mail layer names the limit an input passed). qm_error_set clears
 * both (a new error has no hint until its maker gives one); qm_error_prefix
 * keeps them.
 */
struct qm_error {
	enum qm_err code;
	int hint;
	char hint_arg[QM_ERR_ARGMAX];
	char msg[QM_ERR_MSGMAX];
};

/* A short name for a code ("tampered data", "not found", ...). Never NULL. */
const char *qm_err_str(enum qm_err code);

/* Clears err to QM_OK and an empty message. err may be NULL. */
void qm_error_clear(struct qm_error *err);

/*
 * qm_error_set, qm_error_prefix and qm_error_hint (and the mail layer's
 * qm_mail_limit_error) are the one exception to "QM_NODISCARD on every
 * function that returns enum qm_err": they cannot fail, and they return
 * the code they record only so that a caller can write
 * "return qm_error_set(...)"; dropping it drops nothing.
 */

/* Sets err to code and the formatted message; returns code. err may be NULL. */
enum qm_err qm_error_set(struct qm_error *err, enum qm_err code,
                         const char *fmt, ...) QM_PRINTF(3, 4);

/*
 * Prefixes the message already in err with context ("sending to bob: ");
 * returns err->code (QM_ERR_INVAL when err is NULL).
 */
enum qm_err qm_error_prefix(struct qm_error *err, const char *fmt, ...)
	QM_PRINTF(2, 3);

/*
 * Gives the error in err its hint code and the thing it is about (arg, may
 * be NULL; cut to QM_ERR_ARGMAX - 1 bytes). Returns err->code (QM_ERR_INVAL
 * when err is NULL).
 */
enum qm_err qm_error_hint(struct qm_error *err, int hint, const char *arg);

/* The message of err, or the code's name when the message is empty. */
const char *qm_error_msg(const struct qm_error *err);

/* ---------------------------------------------------------- secure memory */

/*
 * Initialises libsodium; call once before anything else (cheap and safe to
 * call again). Returns QM_ERR_CRYPTO if libsodium cannot start.
 */
QM_NODISCARD enum qm_err qm_core_init(struct qm_error *err);

/*
 * Secure memory: guarded pages from sodium_malloc, locked against swapping,
 * wiped when freed. Every key, password and shared secret lives here. The
 * logger refuses to print any byte inside a live secure allocation. A freed
 * block is wiped and may be kept (a few, at most 8 MiB) for the next request
 * of exactly its size, which saves the mapping's system calls.
 * qm_sec_alloc returns NULL on failure; qm_sec_free(NULL) does nothing.
 */
void *qm_sec_alloc(size_t n);
void qm_sec_free(void *p);
/* Copies n bytes into a new secure allocation; NULL on failure. */
void *qm_sec_dup(const void *p, size_t n);
/* Wipes n bytes at p (sodium_memzero: the compiler cannot remove it). */
void qm_wipe(void *p, size_t n);
/* Constant-time comparison: 0 when equal. */
int qm_ct_eq(const void *a, const void *b, size_t n);
/* True when [p, p+n) overlaps a live secure allocation. */
int qm_sec_contains(const void *p, size_t n);

/* Fills buf with n random bytes from the system CSPRNG (libsodium). */
void qm_random(void *buf, size_t n);
/* A uniformly random integer in [0, upper). */
uint32_t qm_random_uniform(uint32_t upper);

/* ---------------------------------------------------------------- buffers */

/*
 * A growable byte buffer with a hard maximum, like curl's dynbuf. The data is
 * always followed by a NUL byte so that text can be used as a C string. A
 * secure buffer keeps its bytes in secure memory and wipes them on every
 * reallocation and on free.
 */
struct qm_buf {
	unsigned char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* appending past this fails with QM_ERR_TOOBIG */
	int secure;
};

void qm_buf_init(struct qm_buf *b, size_t max);
void qm_buf_init_secure(struct qm_buf *b, size_t max);
/* Releases the memory (wiping it when secure) and resets b to empty. */
void qm_buf_free(struct qm_buf *b);
/* Sets len to 0 and wipes the old bytes when secure; keeps the memory. */
void qm_buf_reset(struct qm_buf *b);
/* Makes room for n more bytes. */
QM_NODISCARD enum qm_err qm_buf_reserve(struct qm_buf *b, size_t n,
                                        struct qm_error *err);
/* The same, growing (when it must) to exactly that room, not the next
 * power of two: for a size known in advance (a secure block is locked
 * memory, and growing it by doubling holds the old and new block). */
QM_NODISCARD enum qm_err qm_buf_reserve_exact(struct qm_buf *b, size_t n,
                                              struct qm_error *err);
QM_NODISCARD enum qm_err qm_buf_append(struct qm_buf *b, const void *p,
                                       size_t n, struct qm_error *err);
QM_NODISCARD enum qm_err qm_buf_append_str(struct qm_buf *b, const char *s,
                                           struct qm_error *err);
QM_NODISCARD enum qm_err qm_buf_append_byte(struct qm_buf *b, unsigned char c,
                                            struct qm_error *err);
QM_NODISCARD enum qm_err qm_buf_appendf(struct qm_buf *b, struct qm_error *err,
                                        const char *fmt, ...) QM_PRINTF(3, 4);
/* Big-endian integers, for binary formats. */
QM_NODISCARD enum qm_err qm_buf_append_u16(struct qm_buf *b, uint16_t v,
                                           struct qm_error *err);
QM_NODISCARD enum qm_err qm_buf_append_u32(struct qm_buf *b, uint32_t v,
                                           struct qm_error *err);
QM_NODISCARD enum qm_err qm_buf_append_u64(struct qm_buf *b, uint64_t v,
                                           struct qm_error *err);
/*
 * Hands the bytes to the caller (who frees them with free(), or with
 * qm_sec_free() for a secure buffer) and resets b. *len gets the length
 * when len is not NULL. Returns NULL for an empty buffer that never grew.
 */
unsigned char *qm_buf_steal(struct qm_buf *b, size_t *len);

/*
 * A read cursor over bytes: bounded big-endian reads for parsers of untrusted
 * input. Every read checks the remaining length.
 */
struct qm_reader {
	const unsigned char *p;
	size_t len;
	size_t off;
};

void qm_reader_init(struct qm_reader *r, const void *p, size_t len);
size_t qm_reader_left(const struct qm_reader *r);
QM_NODISCARD enum qm_err qm_reader_u8(struct qm_reader *r, uint8_t *v);
QM_NODISCARD enum qm_err qm_reader_u16(struct qm_reader *r, uint16_t *v);
QM_NODISCARD enum qm_err qm_reader_u32(struct qm_reader *r, uint32_t *v);
QM_NODISCARD enum qm_err qm_reader_u64(struct qm_reader *r, uint64_t *v);
/* Points *p at the next n bytes (no copy) and advances. */
QM_NODISCARD enum qm_err qm_reader_bytes(struct qm_reader *r, size_t n,
                                         const unsigned char **p);

/* ------------------------------------------------------------- encodings */

/*
 * Standard base64 (RFC 4648, with padding). Encoding appends to out.
 * Decoding ignores ASCII white space and appends to out (make out secure to
 * decode a key straight into secure memory); bad input gives QM_ERR_PARSE.
 */
QM_NODISCARD enum qm_err qm_b64_encode(const void *p, size_t n,
                                       struct qm_buf *out,
                                       struct qm_error *err);
QM_NODISCARD enum qm_err qm_b64_decode(const char *s, size_t n,
                                       struct qm_buf *out,
                                       struct qm_error *err);
/* Lower-case hex. */
QM_NODISCARD enum qm_err qm_hex_encode(const void *p, size_t n,
                                       struct qm_buf *out,
                                       struct qm_error *err);
QM_NODISCARD enum qm_err qm_hex_decode(const char *s, size_t n,
                                       struct qm_buf *out,
                                       struct qm_error *err);

/* ---------------------------------------------------------------- logging */

enum qm_log_level { QM_LOG_DEBUG, QM_LOG_INFO, QM_LOG_WARN, QM_LOG_ERROR };

/* Where log lines go: set by a program's main; the default drops them. */
typedef void (*qm_log_sink)(enum qm_log_level level, const char *line,
                            void *arg);
void qm_log_set_sink(qm_log_sink sink, void *arg, enum qm_log_level min);

/*
 * Logs one line. The formatter knows the conversions d i u x X c s p with
 * the h hh l ll z j t modifiers, width, precision and '*'. A %s or %p whose
 * pointer lies in secure memory is printed as "[redacted]", so no key or
 * password can reach a log even by mistake. Unknown conversions print "?".
 */
void qm_log(enum qm_log_level level, const char *fmt, ...) QM_PRINTF(2, 3);
/* Formats like qm_log into buf (always NUL-terminated); returns the length. */
size_t qm_log_format(char *buf, size_t size, const char *fmt, va_list ap);

/* ----------------------------------------------------------- config files */

/*
 * Configuration files: "key = value" lines, "[section]" headers, '#' or ';'
 * comments, values optionally in double quotes. At most QM_CONF_MAXENTRIES
 * entries, QM_CONF_MAXLINE bytes a line. Keys are looked up as
 * "section.key" (or "key" before the first section).
 */
#define QM_CONF_MAXENTRIES 1024
#define QM_CONF_MAXLINE 4096
#define QM_CONF_MAXFILE (1024 * 1024)

struct qm_conf;

/* Parses text (len bytes). On a syntax error the message names the line. */
QM_NODISCARD enum qm_err qm_conf_parse(const char *text, size_t len,
                                       struct qm_conf **out,
                                       struct qm_error *err);
QM_NODISCARD enum qm_err qm_conf_load(const char *path, struct qm_conf **out,
                                      struct qm_error *err);
void qm_conf_free(struct qm_conf **c);
/* The value for "section.key", or NULL. */
const char *qm_conf_get(const struct qm_conf *c, const char *key);
/* Integer value in [min, max]; *v is untouched when the key is absent. */
QM_NODISCARD enum qm_err qm_conf_get_int(const struct qm_conf *c,
                                         const char *key, long long min,
                                         long long max, long long *v,
                                         struct qm_error *err);
/* Number of entries, and the i-th entry's key and value. */
size_t qm_conf_count(const struct qm_conf *c);
const char *qm_conf_key(const struct qm_conf *c, size_t i);
const char *qm_conf_value(const struct qm_conf *c, size_t i);

/* ------------------------------------------------------------ small utils */

/* Parses a whole decimal string into [min, max]; QM_ERR_PARSE otherwise. */
QM_NODISCARD enum qm_err qm_parse_ll(const char *s, long long min,
                                     long long max, long long *v,
                                     struct qm_error *err);
/* Bounded string copy that always terminates; returns 0 or -1 if truncated. */
int qm_strlcpy(char *dst, const char *src, size_t size);

/*
 * Reads a whole file of at most max bytes into out (secure when out is).
 * QM_ERR_TOOBIG past max.
 */
QM_NODISCARD enum qm_err qm_file_read(const char *path, size_t max,
                                      struct qm_buf *out, struct qm_error *err);
/*
 * Writes a file atomically: a temporary file in the same folder, fsync,
 * rename. mode is the permission of the new file (0600 for anything private).
 */
QM_NODISCARD enum qm_err qm_file_write_atomic(const char *path, const void *p,
                                              size_t n, unsigned mode,
                                              struct qm_error *err);
/* mkdir -p with mode for the folders it creates. */
QM_NODISCARD enum qm_err qm_mkdirs(const char *path, unsigned mode,
                                   struct qm_error *err);

/* Wall-clock seconds and monotonic nanoseconds. */
int64_t qm_now(void);
uint64_t qm_mono_ns(void);

/* ------------------------------------------------------------ JSON depth */

/*
 * Checks, before a JSON parser sees the n bytes at p, that arrays and
 * objects nest at most max_depth levels (brackets inside strings do not
 * count). QM_ERR_TOOBIG naming the limit when they nest deeper; QM_OK
 * otherwise, also for text that is not valid JSON (the parser says so).
 */
QM_NODISCARD enum qm_err qm_json_depth_check(const char *p, size_t n,
                                             size_t max_depth,
                                             struct qm_error *err);

#endif /* QM_CORE_H */
