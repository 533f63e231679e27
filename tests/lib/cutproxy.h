/* SPDX-License-Identifier: MIT */
/*
 * A TCP relay for fault tests: listens on 127.0.0.1 (a free port) and
 * forwards every connection to 127.0.0.1:target, counting the bytes of each
 * direction. On request it cuts one connection in the middle, as a mail
 * server that disappears would: after N bytes in a direction, when a byte
 * string goes by (plaintext protocols, or before STARTTLS), or when the
 * server answers after the client has sent N bytes (the answer is withheld:
 * "the server took it, the client never heard"). A rule applies to the
 * connections accepted after it was set (not to one still closing down),
 * fires once, on the first of them that meets it, and the relay then
 * passes everything again. Byte counts are per connection.
 * TLS is relayed as opaque bytes. Runs as threads of the test process, all
 * joined by qmt_cutproxy_stop. Test code only.
 */
#ifndef QMT_CUTPROXY_H
#define QMT_CUTPROXY_H

#include <stddef.h>
#include <stdint.h>

struct qmt_cutproxy;

enum qmt_cut_dir {
	QMT_C2S = 0, /* client -> server */
	QMT_S2C = 1, /* server -> client */
};

/* Starts a relay to 127.0.0.1:target_port. Returns 0 or -1 (reason on
 * stderr). */
int qmt_cutproxy_start(int target_port, struct qmt_cutproxy **out);
/* Cuts every connection, joins the threads, frees *p and sets it NULL. */
void qmt_cutproxy_stop(struct qmt_cutproxy **p);
/* The port it listens on (127.0.0.1). */
int qmt_cutproxy_port(const struct qmt_cutproxy *p);

/* Passes everything from now on (drops a rule that has not fired). */
void qmt_cutproxy_pass(struct qmt_cutproxy *p);
/* Cuts the first connection on which n bytes have passed in dir: exactly
 * n bytes get through, then both directions close. */
void qmt_cutproxy_cut_after(struct qmt_cutproxy *p, enum qmt_cut_dir dir,
                            uint64_t n);
/* Cuts the first connection on which marker (at most 64 bytes) passes in
 * dir, right after the marker was forwarded. */
void qmt_cutproxy_cut_at(struct qmt_cutproxy *p, enum qmt_cut_dir dir,
                         const void *marker, size_t len);
/* Cuts the first connection whose server sends anything after the client
 * sent at least n bytes on it; what the server sent then is not forwarded. */
void qmt_cutproxy_cut_reply(struct qmt_cutproxy *p, uint64_t n);

/* How many cuts were made so far. */
int qmt_cutproxy_cuts(struct qmt_cutproxy *p);
/* Connections accepted so far. */
int qmt_cutproxy_conns(struct qmt_cutproxy *p);
/* Bytes forwarded in dir, over every connection so far. */
uint64_t qmt_cutproxy_bytes(struct qmt_cutproxy *p, enum qmt_cut_dir dir);

#endif
