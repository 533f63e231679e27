/* SPDX-License-Identifier: MIT */
/*
 * Real mail servers for tests: OpenSMTPD (the MTA) delivering over LMTP to
 * Dovecot (IMAP, POP3, LMTP and the SMTP submission service with STARTTLS
 * and implicit TLS), each from its Debian package, with configs, a
 * throw-away CA, Maildirs and logs in a temporary folder, on free loopback
 * ports, with users alice, bob and carol of domain qmail.test. Every
 * process is stopped by qmt_mail_stop, and by the harness's exit and
 * signal hooks when a test fails. Test code only.
 *
 * Three folder layouts (set qmt_mail.layout before qmt_mail_start): the
 * plain one (Sent, Drafts, Trash, Junk, Archive with RFC 6154 special
 * use), Gmail's ([Gmail]/Sent Mail, All Mail, Trash, Spam, Drafts,
 * Starred with special use) and Outlook's names with no special use at
 * all (Sent Items, Deleted Items, Junk Email, Drafts, Archive), for the
 * clients that must go by name. And a second IMAP client, independent of
 * QMail's (plain TCP on loopback, its own few lines of parsing), that
 * changes flags, moves, expunges and appends behind QMail's back.
 *
 * Why submission goes through Dovecot: Debian 12's OpenSMTPD 6.8.0p2 cannot
 * serve TLS with OpenSSL 3 (its privilege-separated key engine fails every
 * handshake with "missing private key", OpenSMTPD issues 1171 and 1239), so
 * Dovecot's submission service does STARTTLS/implicit TLS and AUTH and
 * relays to OpenSMTPD on a plain loopback port; OpenSMTPD queues and hands
 * the mail to Dovecot over LMTP. See docs/MAIL.md.
 */
#ifndef QMT_MAILSERVER_H
#define QMT_MAILSERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define QMT_MAIL_DOMAIN "qmail.test"
#define QMT_MAIL_NUSERS 3

/* The folders every user has (subscribed, made at the first login). */
enum qmt_mail_layout {
	QMT_MAIL_LAYOUT_PLAIN = 0,  /* Sent Drafts Trash Junk Archive */
	QMT_MAIL_LAYOUT_GMAIL = 1,  /* [Gmail]/Sent Mail ... [Gmail]/Starred */
	QMT_MAIL_LAYOUT_OUTLOOK = 2 /* Outlook's names, no special use */
};

/* Names of the layout's special folders (NULL: the layout has none);
 * which is one QMT_SU_*. */
enum {
	QMT_SU_SENT,
	QMT_SU_DRAFTS,
	QMT_SU_TRASH,
	QMT_SU_JUNK,
	QMT_SU_ARCHIVE,
	QMT_SU_ALL,
	QMT_SU_FLAGGED,
	QMT_SU_COUNT
};
const char *qmt_mail_layout_folder(enum qmt_mail_layout l, int which);
const char *qmt_mail_layout_name(enum qmt_mail_layout l);

struct qmt_mail {
	enum qmt_mail_layout layout; /* set before qmt_mail_start */
	/* set before qmt_mail_start: Dovecot keeps mail as mdbox (index
	 * based; filled through `doveadm import`), not Maildir */
	int mdbox;
	/*
	 * Set before qmt_mail_start, all optional: Dovecot also takes OAuth2
	 * bearer tokens (SASL XOAUTH2 and OAUTHBEARER, RFC 7628) for IMAP,
	 * POP3 and submission, each checked at every login by RFC 7662
	 * introspection at oauth2_introspect_url (HTTPS, its certificate
	 * chaining to oauth2_ca_file; NULL: to ca_file) as the confidential
	 * client oauth2_client_id / oauth2_client_secret; the answer must
	 * say "active": true, an "email" equal to the login name, and the
	 * scope oauth2_scope (NULL: any). Passwords still work with PLAIN
	 * and LOGIN (and only those: a token is never tried as a password,
	 * nor a password as a token). NULL URL: passwords only, as without
	 * these. tests/lib/idp.h is such a server; the server is asked only
	 * at logins, so it may start after the mail servers (then signed by
	 * ca_file / ca_key_file: one CA for all).
	 */
	const char *oauth2_introspect_url;
	const char *oauth2_client_id;
	const char *oauth2_client_secret;
	const char *oauth2_ca_file;
	const char *oauth2_scope;
	const char *oauth2_openid_config_url; /* RFC 7628 error replies */
	char dir[256];               /* the temporary folder */
	char ca_file[320];           /* the test CA that signed the servers */
	char ca_key_file[320];       /* its key: to sign more test servers */
	char other_ca_file[320];     /* an unrelated CA: for "bad CA" tests */
	const char *host;            /* "127.0.0.1" (also valid: "localhost") */
	int submission_port;         /* SMTP submission, STARTTLS, AUTH */
	int submissions_port;        /* SMTP submission, implicit TLS, AUTH */
	int mta_port;   /* OpenSMTPD, plain, no AUTH (qmail.test) */
	int imap_port;  /* STARTTLS */
	int imaps_port; /* implicit TLS */
	int pop3_port;  /* STLS */
	int pop3s_port; /* implicit TLS */
	int lmtp_port;
	pid_t dovecot;
	pid_t smtpd;
	int private_spool; /* OpenSMTPD runs with its own spool (see .c) */
};

/*
 * Starts both servers. Returns 0 when every port is up, 1 when this
 * machine cannot run them (not root, a package missing: the test should
 * skip), -1 on failure (the reason and the servers' logs go to stderr).
 */
int qmt_mail_start(struct qmt_mail *m);
/* Stops both servers and removes the folder (kept when QMT_KEEP is set). */
void qmt_mail_stop(struct qmt_mail *m);
/* Stops / starts OpenSMTPD alone (outage tests: submission then answers
 * with a temporary 4xx failure). Return 0 or -1. */
int qmt_mail_smtpd_stop(struct qmt_mail *m);
int qmt_mail_smtpd_start(struct qmt_mail *m);

/* The users: index 0..2 -> "alice", "bob", "carol"; their addresses
 * ("alice@qmail.test", also the login name) and passwords. */
const char *qmt_mail_user(int i);
const char *qmt_mail_addr(int i);
const char *qmt_mail_password(int i);

/*
 * Hands one raw message (len bytes, CRLF line ends) to the MTA over plain
 * SMTP on loopback, from and to as the envelope's addresses (to: one
 * recipient). Delivery goes on after the return: qmt_mail_wait_files
 * waits for it. Returns 0, or -1 with the reason on stderr.
 */
int qmt_mail_deliver(const struct qmt_mail *m, const char *from, const char *to,
                     const void *msg, size_t len);

/*
 * Message files in a user's folder (folder NULL or "INBOX": the inbox,
 * else a folder such as "Sent" or "[Gmail]/Sent Mail"), sorted by name. Writes
 * up to max paths (each at most 512 bytes) into paths and returns how many
 * there are in all, or -1.
 */
int qmt_mail_files(const struct qmt_mail *m, int user, const char *folder,
                   char (*paths)[512], int max);
/* Waits until the folder holds at least n message files or timeout_ms
 * passes (delivery is asynchronous). Returns the count or -1 on time-out. */
int qmt_mail_wait_files(const struct qmt_mail *m, int user, const char *folder,
                        int n, int timeout_ms);
/*
 * Reads a stored message file (malloc'd, NUL-terminated, *len set) or
 * NULL. Rewriting one in place (tamper tests): keep the length the same,
 * or Dovecot's cached size disagrees with the file.
 */
unsigned char *qmt_mail_read(const char *path, size_t *len);
int qmt_mail_rewrite(const char *path, const void *p, size_t len);

/*
 * Writes n messages of about size bytes each ("fill-<i>" subjects and
 * Message-IDs <tag-i@qmail.test>) straight into user's folder on disk
 * (Maildir++, made when missing, unread), for tests of large folders:
 * much faster than APPEND. Dovecot indexes them at the next SELECT.
 * Returns 0 or -1.
 */
int qmt_mail_fill(const struct qmt_mail *m, int user, const char *folder,
                  const char *tag, int n, size_t size);

/*
 * The same with messages of the caller's making: gen writes message i
 * (0..n-1, LF line ends as Maildir keeps them) into f and returns 0, or
 * non-zero to stop. For fixtures of real-looking mail (bench/sync.c).
 * With mdbox the messages are written to a Maildir first, imported with
 * doveadm, and the Maildir removed. Returns 0 or -1.
 */
typedef int (*qmt_mail_gen_fn)(FILE *f, int i, void *arg);
int qmt_mail_fill_with(const struct qmt_mail *m, int user, const char *folder,
                       int n, qmt_mail_gen_fn gen, void *arg);

/* ------------------------------------------- a second, independent client */

struct qmt_imap;

/* Logs user in over plain IMAP on loopback (Dovecot allows it there).
 * NULL on failure (the reason goes to stderr). */
struct qmt_imap *qmt_imap_open(const struct qmt_mail *m, int user);
void qmt_imap_close(struct qmt_imap **c);
/*
 * Sends one command (the tag is added) and reads its whole reply: 0 for
 * OK, 1 for NO or BAD, -1 for a lost connection. The reply (untagged
 * lines, literals inline, the tagged line last) stays readable with
 * qmt_imap_reply until the next command.
 */
int qmt_imap_cmd(struct qmt_imap *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *qmt_imap_reply(const struct qmt_imap *c);
/* APPENDs msg to folder with flags (e.g. "\\Seen", "" for none); the new
 * UID (APPENDUID), 0 on failure. */
uint32_t qmt_imap_append(struct qmt_imap *c, const char *folder,
                         const char *flags, const void *msg, size_t len);
/* UID SEARCH criteria in the selected folder: up to max UIDs into uids,
 * ascending; how many matched, -1 on failure. */
int qmt_imap_search(struct qmt_imap *c, const char *criteria, uint32_t *uids,
                    int max);
/* The FLAGS list of uid as the server writes it ("\\Seen $Forwarded")
 * into out; 0, or -1 when there is no such message. */
int qmt_imap_flags(struct qmt_imap *c, uint32_t uid, char *out, size_t n);
/* A small message (CRLF) into out: the subject, Message-ID <id@qmail.test>
 * and In-Reply-To <parent@qmail.test> when parent is not NULL. Returns
 * its length. */
size_t qmt_mail_message(char *out, size_t n, const char *subject,
                        const char *id, const char *parent);

#endif
