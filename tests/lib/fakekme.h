/* SPDX-License-Identifier: MIT */
/*
 * A scripted ETSI GS QKD 014 KME for tests: an HTTPS server in a thread of
 * the test (OpenSSL, client certificates required, a throw-away CA made
 * with the openssl command) that makes keys on demand. Its Get status
 * always reports stored_key_count 0, as KMEs that generate keys when asked
 * do; enc_keys makes fresh random keys (or refuses with a status the test
 * chooses, handing out nothing), dec_keys gives each key once to the slave
 * SAE it was made for. The caller's SAE ID is its certificate's CN. It
 * counts what it handed out, so a test can see which keys were fetched
 * without trusting the code under test. Test code only.
 */
#ifndef QMT_FAKEKME_H
#define QMT_FAKEKME_H

#include <stddef.h>

struct qmt_fakekme;

/*
 * Makes a CA, a server certificate for 127.0.0.1 (CN KME_F) and a client
 * certificate for each SAE ID in saes under dir (which must exist), and
 * starts serving on a free loopback port. Returns 0 or -1 (reason on
 * stderr).
 */
int qmt_fakekme_start(const char *dir, const char *const *saes, size_t nsaes,
                      struct qmt_fakekme **out);
void qmt_fakekme_stop(struct qmt_fakekme **k);

/* "https://127.0.0.1:PORT" */
const char *qmt_fakekme_url(const struct qmt_fakekme *k);
/* The CA file clients must trust. */
const char *qmt_fakekme_ca(const struct qmt_fakekme *k);
/* The certificate and key files of sae (one given to start) into cert and
 * key (each at least 600 bytes). */
void qmt_fakekme_cert(const struct qmt_fakekme *k, const char *sae, char *cert,
                      char *key);

/*
 * From now on, enc_keys answers with HTTP status (503 or 400) and an ETSI
 * error body instead of serving keys; 0 serves again.
 */
void qmt_fakekme_refuse(struct qmt_fakekme *k, int status);

/* Counters since start. */
struct qmt_fakekme_counts {
	unsigned status;   /* Get status requests */
	unsigned enc;      /* enc_keys requests (served or refused) */
	unsigned refused;  /* of those, refused */
	unsigned keys_out; /* keys handed out by enc_keys */
	unsigned dec;      /* dec_keys requests */
	unsigned keys_in;  /* keys handed out by dec_keys */
};
void qmt_fakekme_counts(struct qmt_fakekme *k, struct qmt_fakekme_counts *out);
/* 1 when enc_keys handed out key_id. */
int qmt_fakekme_made(struct qmt_fakekme *k, const char *key_id);

#endif
