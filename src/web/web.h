/* SPDX-License-Identifier: MIT */
/*
 * web: the local web GUI behind `qmail web`. An HTTP server (libmicrohttpd)
 * on 127.0.0.1 that serves the embedded single-page front-end and the JSON
 * API of docs/WEB.md over the client engine, with sessions, CSRF tokens,
 * Host and Origin checks, strict security headers and an HTML sanitiser for
 * mail. Nothing here prints or exits.
 */
#ifndef QM_WEB_H
#define QM_WEB_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

struct qm_client; /* the client engine (src/client/client.h) */
struct qm_web_server;

#define QM_WEB_DEFAULT_PORT 8025
#define QM_WEB_DEFAULT_IDLE_S 900
#define QM_WEB_DEFAULT_MAX_UPLOAD (25u * 1024u * 1024u)

/* Server settings; zero-initialise and set what you need. */
struct qm_web_config {
	const char *bind;          /* NULL means "127.0.0.1" */
	uint16_t port;             /* 0 picks a free port */
	const char *tls_cert_path; /* PEM; required when bind is not loopback */
	const char *tls_key_path;  /* PEM */
	unsigned idle_timeout_s;   /* 0 means QM_WEB_DEFAULT_IDLE_S */
	size_t max_upload;         /* 0: the setting limit.web_upload (default
	                              QM_WEB_DEFAULT_MAX_UPLOAD) */
	size_t max_json;           /* JSON request body; 0: limit.web_json
	                              (default 64 KiB) */
	size_t max_message_json;   /* send and draft bodies; 0:
	                              limit.web_message (default 8 MiB) */
	size_t max_json_depth;     /* JSON nesting of a request body; 0:
	                              limit.json_depth (default 32) */
	int no_remote_images;      /* 1 hides "show remote images" (0: the reader
	                            may load https images of one message on request;
	                            they stay off by default) */
	int64_t (*now_ms)(void);   /* the clock of the unlock back-off, in
	                              milliseconds; NULL: the monotonic clock
	                              (tests move their own) */
	/* Unlock once per session (`qmail unlock`): agent_key(agent_arg, key)
	 * puts the session's unlock key (QM_CLIENT_UNLOCK_KEYBYTES, secure
	 * memory) in key and returns 0, or returns non-zero when there is
	 * none (locked, timed out); with key NULL it only tells whether
	 * there is one. NULL: passphrases only. A browser is let in with that
	 * key only by posting the token of qm_web_server_unlock_link; a
	 * server unlocked so locks again (every session ends) at the first
	 * request after the agent has no key (asked at most once a second). */
	int (*agent_key)(void *agent_arg, unsigned char *key);
	void *agent_arg;
};

/*
 * Starts the server in its own thread over client (borrowed: it must
 * outlive the server; the server serialises its calls into it). On success
 * *out owns the server. Fails with QM_ERR_INVAL for a non-loopback bind
 * without TLS files, QM_ERR_NET when the port cannot be bound.
 */
QM_NODISCARD enum qm_err qm_web_server_start(const struct qm_web_config *cfg,
                                             struct qm_client *client,
                                             struct qm_web_server **out,
                                             struct qm_error *err);

/* The port the server listens on (useful after asking for port 0). */
uint16_t qm_web_server_port(const struct qm_web_server *srv);

/* The base URL, e.g. "http://127.0.0.1:8025/" (owned by the server). */
const char *qm_web_server_url(const struct qm_web_server *srv);

/* With cfg.agent_key: the base URL with "#agent=TOKEN", the link that
 * lets a browser in with the agent's key (owned by the server; show it
 * only to the user who started the server). Without: the base URL. */
const char *qm_web_server_unlock_link(const struct qm_web_server *srv);
/* Stops the server, ends every session and wipes their uploads; NULL-safe. */
void qm_web_server_stop(struct qm_web_server **srv);

/*
 * Starts the server, calls ready(url, arg) once it listens (NULL allowed;
 * url is qm_web_server_unlock_link's),
 * then blocks until *stop becomes non-zero (e.g. set by a signal handler)
 * and stops it. For `qmail web`.
 */
QM_NODISCARD enum qm_err qm_web_serve(const struct qm_web_config *cfg,
                                      struct qm_client *client,
                                      volatile sig_atomic_t *stop,
                                      void (*ready)(const char *url, void *arg),
                                      void *arg, struct qm_error *err);

/*
 * Sanitises untrusted mail HTML (len bytes, need not be NUL-terminated)
 * into out: an allow-list of tags and attributes, everything else dropped,
 * every text and attribute re-escaped. Links keep only http, https and
 * mailto; images keep only data:image/ URLs, plus https: when
 * remote_images is non-zero. Returns QM_ERR_TOOBIG when out's limit is hit.
 */
QM_NODISCARD enum qm_err qm_web_html_sanitize(const char *html, size_t len,
                                              int remote_images,
                                              struct qm_buf *out,
                                              struct qm_error *err);

/* One part of the message being shown that its HTML may name with a
 * cid: URL (borrowed): its Content-ID (no angle brackets), type, bytes. */
struct qm_web_inline {
	const char *cid;
	const char *type;
	const unsigned char *data;
	size_t len;
};

/*
 * qm_web_html_sanitize, and an img whose src is cid:ID shows part ID of
 * parts (the message's own parts, nothing else) in place, as a data: URL,
 * when the part is an image (png, gif, jpeg, webp); any other cid: image
 * is dropped as a remote one is.
 */
QM_NODISCARD enum qm_err
qm_web_html_sanitize_parts(const char *html, size_t len, int remote_images,
                           const struct qm_web_inline *parts, size_t nparts,
                           struct qm_buf *out, struct qm_error *err);

/* What the sanitiser blocked of a message's HTML. */
struct qm_web_html_stats {
	size_t remote_images; /* img elements with an http: or https: source
	                         (not shown unless the reader asks) */
	size_t remote_http;   /* of them plain http: or "//host" with no
	                         scheme (never shown) */
};

/*
 * qm_web_html_sanitize_parts, and *stats (NULL allowed) gets the remote
 * images of the HTML, counted whatever remote_images says.
 */
QM_NODISCARD enum qm_err
qm_web_html_sanitize_stats(const char *html, size_t len, int remote_images,
                           const struct qm_web_inline *parts, size_t nparts,
                           struct qm_buf *out, struct qm_web_html_stats *stats,
                           struct qm_error *err);

/*
 * The readable text of untrusted mail HTML, for a message without a text
 * part: sanitised first (nothing of script, style or head is left), then
 * qm_client_html_read_text (paragraphs, lists as "- ", links as "text
 * <url>", table rows as lines). Appends to text (make it secure); *stats
 * (NULL allowed) as qm_web_html_sanitize_stats gives it.
 */
QM_NODISCARD enum qm_err qm_web_html_text(const char *html, size_t len,
                                          struct qm_buf *text,
                                          struct qm_web_html_stats *stats,
                                          struct qm_error *err);

/*
 * The HTML body of a message being composed (the rich-text editor's, or a
 * file's), never trusted: sanitised as the reader would show it (remote
 * images dropped) into clean, and, when text is not NULL, the text part
 * derived from what was kept appended to text. Make both secure.
 */
QM_NODISCARD enum qm_err qm_web_compose_html(const char *html, size_t len,
                                             struct qm_buf *clean,
                                             struct qm_buf *text,
                                             struct qm_error *err);

#endif /* QM_WEB_H */
