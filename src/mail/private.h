/* SPDX-License-Identifier: MIT */
/*
 * mail internals shared by the transport files (smtp.c, imap.c, pop3.c,
 * transport.c) and the MIME files: libcurl setup with verified TLS and
 * time-outs, capture of server replies for error messages, error mapping.
 * Not part of the public API.
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

#endif
