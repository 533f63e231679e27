/* SPDX-License-Identifier: MIT */
/*
 * mail internals shared by the transport files (smtp.c, imap*.c, pop3.c,
 * transport.c) and the MIME files: libcurl setup with verified TLS and
 * time-outs, capture of server replies for error messages, error mapping;
 * and the IMAP session that imap.c (reader, commands) shares with
 * imap_folders.c, imap_sync.c, imap_ops.c and imap_set.c. Not part of the
 * public API.
 */
#ifndef QM_MAIL_PRIVATE_H
#define QM_MAIL_PRIVATE_H

#include <curl/curl.h>
#include <gmime/gmime.h>

#include "mail/mail.h"

#define MAIL_REPLYLOG       4096 /* server lines kept for errors */
#define MAIL_DEF_CONNECT_MS 15000L
#define MAIL_DEF_IO_MS      60000L
#define MAIL_DEF_MAXMSG     ((size_t)64 << 20)
#define MAIL_MAXLISTING     ((size_t)16 << 20) /* UIDL, LIST, SEARCH replies */

/* One libcurl transfer's context: the reply log and the body sink. */
struct mail_xfer {
	const struct qm_mail_server *srv;
	char errbuf[CURL_ERROR_SIZE];
	char log[MAIL_REPLYLOG]; /* server lines, oldest dropped first */
	size_t loglen;
	struct qm_buf *sink; /* body bytes go here (bounded by its max) */
	int toobig;          /* the sink refused more */
	size_t limit;        /* the sink's maximum, for the message */
	uint64_t expect;     /* total for progress when known */
	void *tls; /* OpenSSL's SSL of the connection, seen during the login
	              (libcurl tells it only while it runs the transfer) */
};

enum mail_proto { MAIL_SMTP, MAIL_IMAP, MAIL_POP3 };

/* Sets up h for srv: URL with path (may be ""), TLS mode, verification,
 * credentials, time-outs, reply capture into x. */
QM_NODISCARD enum qm_err mail_curl_setup(CURL *h,
                                         const struct qm_mail_server *srv,
                                         enum mail_proto proto,
                                         const char *path, struct mail_xfer *x,
                                         struct qm_error *err);
/* Turns a libcurl failure into a qm_err with a message naming what failed,
 * the server's last reply (verbatim) and what to do. */
/*
 * After a failed login (rc): when the server refused an OAuth2 token and
 * srv can renew it (srv->reauth), renews it, sets it on h and returns 1:
 * perform again, once. 0: nothing to renew, report rc. -1: renewing
 * failed, *e and err say why.
 */
int mail_reauth(CURL *h, const struct qm_mail_server *srv, struct mail_xfer *x,
                CURLcode rc, enum qm_err *e, struct qm_error *err);
QM_NODISCARD enum qm_err mail_curl_fail(CURL *h, CURLcode rc,
                                        struct mail_xfer *x, const char *what,
                                        struct qm_error *err);
/* The last server reply line(s) of x worth showing ("" when none). */
void mail_reply_last(const struct mail_xfer *x, enum mail_proto proto,
                     char *out, size_t outlen);
/* Effective time-outs of srv. */
long mail_io_ms(const struct qm_mail_server *srv);
size_t mail_max_message(const struct qm_mail_server *srv);
/* Duplicates a string; NULL on failure. */
char *mail_strdup(const char *s);
/* Duplicates n bytes into a NUL-terminated string; NULL on failure. */
char *mail_strndup(const char *s, size_t n);

/* GMime helpers (mime_build.c). */
void mail_gmime_init(void);
void mail_hdrs_clear(struct qm_mail_hdrs *h);
/* Serialises obj with CRLF line ends into out; wipes GMime's copy. */
QM_NODISCARD enum qm_err mail_gmime_write(GMimeObject *obj, struct qm_buf *out,
                                          struct qm_error *err);

/* A GMimeStream over a message source (mime_src.c): the substreams of one
 * parse share the cursor, which keeps the source's first failure. */
struct mail_src_cursor {
	const struct qm_mail_src *src;
	uint64_t pos;
	enum qm_err rc;
	struct qm_error err;
};
GMimeStream *mail_src_stream_new(struct mail_src_cursor *cur, gint64 start,
                                 gint64 end);

/* ------------------------------------------- IMAP (the imap*.c files) */

#define MAIL_IMAP_LINEMAX  ((size_t)256 * 1024) /* one response line */
#define MAIL_IMAP_SMALLLIT ((size_t)1 << 20)    /* literal nobody asked for */
#define MAIL_IMAP_CMDMAX   ((size_t)64 * 1024)  /* one command we send */
#define MAIL_IMAP_SETMAX   ((size_t)8 * 1024)   /* a UID set in one command */
#define MAIL_IMAP_MAXUIDS  QM_MAIL_IMAP_MAXUIDS /* UIDs in one result */
#define MAIL_IMAP_NAMEMAX  1000 /* a folder name on the wire, bytes */

struct qm_mail_imap {
	const struct qm_mail_server *srv;
	CURL *h;
	curl_socket_t sock;
	struct mail_xfer x;
	unsigned tag;
	int broken;
	char caps[4096];
	char ignored[256]; /* capabilities the caller asked to ignore */
	unsigned char in[16384];
	size_t inlen, inoff;
	void *ssl; /* the connection's OpenSSL SSL, NULL without TLS */
	uint32_t exists;
	uint32_t arrived;     /* messages that arrived (EXISTS growth) */
	uint32_t uidvalidity; /* of the selected folder, 0: none selected */
	char selected[MAIL_IMAP_NAMEMAX + 1]; /* its name as sent */
	int read_only;                        /* selected with EXAMINE */
	uint64_t highestmodseq;   /* of the selected folder, 0: none */
	unsigned permanent;       /* PERMANENTFLAGS as QM_MAIL_FLAG_* */
	int qresync;              /* ENABLE QRESYNC done */
	char lastreply[512];      /* text of the last tagged NO/BAD */
	struct qm_buf *tagged_ok; /* set: the next tagged OK line goes here */
	int wake_fd;              /* readable: end a wait early (-1: none) */
	int idle_wake;            /* set while waiting in IDLE */
	int woken;                /* the last wait ended because of wake_fd */
	/* set during a message fetch: literals past sink->big go there */
	const struct qm_mail_sink *sink;
};

/* One response: the line (literals left as "{N}" markers) and where the
 * literal bytes went. */
struct mail_imap_item {
	struct qm_buf line;
	struct qm_buf *lit; /* literal sink, NULL: small literals discarded */
	size_t nlit;
	size_t litstart; /* where this response's literal bytes begin in lit */
	/* this response's literal went to im->sink (sunk_len bytes), not to
	 * lit */
	int sunk;
	uint64_t sunk_len;
};

/* Called with every untagged response ("* ...") of a command. */
QM_NODISCARD typedef enum qm_err (*mail_imap_untagged_fn)(struct qm_mail_imap *im,
                                             const char *line, size_t n,
                                             struct mail_imap_item *it,
                                             void *arg, struct qm_error *err);

/*
 * A command being built (without its tag): text, with the offsets after
 * which a synchronizing literal waits for the server's "+".
 */
#define MAIL_IMAP_MAXWAITS 16
struct mail_imap_cmd {
	struct qm_buf b;
	size_t wait[MAIL_IMAP_MAXWAITS];
	size_t nwait;
	int lit_plus; /* the server takes non-synchronizing literals */
};

void mail_imap_cmd_init(struct mail_imap_cmd *c, const struct qm_mail_imap *im);
void mail_imap_cmd_free(struct mail_imap_cmd *c);
QM_NODISCARD enum qm_err mail_imap_cmd_add(struct mail_imap_cmd *c, struct qm_error *err,
                              const char *fmt, ...) QM_PRINTF(3, 4);
/* Appends s as a quoted string, or as a literal when it holds bytes a
 * quoted string cannot (8-bit); QM_ERR_INVAL for CR, LF or NUL. */
QM_NODISCARD enum qm_err mail_imap_cmd_string(struct mail_imap_cmd *c, const char *s,
                                 struct qm_error *err);
/* Sends c with a fresh tag, literals waiting for "+" where needed, and
 * reads to its completion, passing every untagged response to fn. */
QM_NODISCARD enum qm_err mail_imap_exec(struct qm_mail_imap *im,
                           const struct mail_imap_cmd *c, struct qm_buf *lit,
                           mail_imap_untagged_fn fn, void *arg,
                           struct qm_error *err);
/* Commands without literals sent together in one write (pipelined, RFC
 * 3501 5.5), their replies read in turn: one round trip for all. res[i]
 * is command i's outcome: QM_OK, or QM_ERR_PROTO when the server refused
 * it (the others still run). Any other failure stops the batch and is
 * returned, the session then marked broken. fn sees every untagged reply
 * of every command. */
QM_NODISCARD enum qm_err
mail_imap_run_many(struct qm_mail_imap *im, const char *const *cmds, size_t n,
                   struct qm_buf *lit, mail_imap_untagged_fn fn, void *arg,
                   enum qm_err *res, struct qm_error *err);
/* mail_imap_exec of a formatted command without literals. */
QM_NODISCARD enum qm_err mail_imap_run(struct qm_mail_imap *im, struct qm_buf *lit,
                          mail_imap_untagged_fn fn, void *arg,
                          struct qm_error *err, const char *fmt, ...)
    QM_PRINTF(6, 7);
/* Marks the session broken and fills err ("IMAP host: ..."). */
QM_NODISCARD enum qm_err mail_imap_fail(struct qm_mail_imap *im, enum qm_err code,
                           struct qm_error *err, const char *fmt, ...)
    QM_PRINTF(4, 5);
/* name as an IMAP quoted string into out; QM_ERR_INVAL when it cannot be. */
QM_NODISCARD enum qm_err mail_imap_quote(const char *name, char *out, size_t outlen,
                            struct qm_error *err);
QM_NODISCARD enum qm_err mail_imap_need_selected(struct qm_mail_imap *im,
                                    struct qm_error *err);
/* An astring (atom, quoted string or the item's literal) at *pp; NULL
 * when out of memory. *pp moves past it. */
char *mail_imap_astring(const char **pp, const struct mail_imap_item *it);
/* The flags of the parenthesised list at p (after "FLAGS "), as
 * QM_MAIL_FLAG_*; *star is set for "\*" when star is not NULL. */
unsigned mail_imap_flag_list(const char *p, int *star);
/* The flags of the "FLAGS (...)" item in a FETCH response line. */
unsigned mail_imap_fetch_flags(const char *s);
/* "* n FETCH (... UID u ...": u, 0 when absent. */
uint32_t mail_imap_fetch_uid(const char *s);
/* The number after code ("[UIDNEXT ") in s; 0 when absent or too big. */
uint32_t mail_imap_code(const char *s, const char *code);
uint64_t mail_imap_code64(const char *s, const char *code);
/* Starts a "UID SEARCH" command (with RETURN (ALL) under ESEARCH); the
 * caller adds the criteria, then mail_imap_search_exec runs it and
 * collects the UIDs, ascending and without duplicates. */
void mail_imap_search_begin(struct qm_mail_imap *im, struct mail_imap_cmd *c);
struct mail_uidv;
QM_NODISCARD enum qm_err mail_imap_search_exec(struct qm_mail_imap *im,
                                  const struct mail_imap_cmd *c,
                                  struct mail_uidv *out, struct qm_error *err);
/* Sends ENABLE QRESYNC once per session when offered. */
QM_NODISCARD enum qm_err mail_imap_enable_qresync(struct qm_mail_imap *im,
                                     struct qm_error *err);

/* Growable UID vector bounded by MAIL_IMAP_MAXUIDS (imap_set.c). */
struct mail_uidv {
	uint32_t *v;
	size_t n, cap;
};
QM_NODISCARD enum qm_err mail_uidv_push(struct mail_uidv *u, uint32_t uid,
                           struct qm_error *err);
/* Sorts ascending and drops duplicates. */
void mail_uidv_sort(struct mail_uidv *u);
/* A sorted copy of uids without duplicates or zeros; QM_ERR_INVAL when
 * nothing is left. */
QM_NODISCARD enum qm_err mail_uids_sorted(const uint32_t *uids, size_t n,
                             struct mail_uidv *out, struct qm_error *err);
/* Whether uid is in the ascending array v[0..n). */
int mail_uids_has(const uint32_t *v, size_t n, uint32_t uid);
/* Appends v[*i..] as an IMAP set ("1:5,9") of at most max bytes to out,
 * ranges compressed; *i moves past what was written. v is ascending. */
QM_NODISCARD enum qm_err mail_uidset_next(const uint32_t *v, size_t n, size_t *i,
                             struct qm_buf *out, size_t max,
                             struct qm_error *err);
/* Parses the UID set at *pp ("1:5,9", no '*') into out, in the order
 * written, each range in the direction written; at most max UIDs in all
 * (QM_ERR_PROTO past it, or for a malformed set). *pp moves past it. */
QM_NODISCARD enum qm_err mail_uidset_parse(const char **pp, struct mail_uidv *out,
                              size_t max, struct qm_error *err);
/* How many UIDs the set at s names (stops counting at cap); 0 when
 * malformed. */
size_t mail_uidset_count(const char *s, size_t cap);

#endif
