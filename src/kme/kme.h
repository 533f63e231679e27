/* SPDX-License-Identifier: MIT */
/*
 * qkme: a Key Management Entity speaking ETSI GS QKD 014 V1.1.1 over HTTPS
 * with mutual TLS. One process per KME; each pair of KMEs shares a link
 * whose key pools are filled by a simulated BB84 exchange and kept in step
 * over an authenticated KME-to-KME channel. See docs/KME.md.
 */
#ifndef QM_KME_H
#define QM_KME_H

#include "core/core.h"

struct qm_kme;

/*
 * Loads the configuration at conf_path, the operator's store key and the
 * persisted pools (if any). The caller owns the result (qm_kme_free).
 * Fails with a message naming the bad setting or file.
 */
QM_NODISCARD enum qm_err qm_kme_new(const char *conf_path, struct qm_kme **out,
                                    struct qm_error *err);

/*
 * Starts the KME-to-KME channel (each link first asks its peer how far the
 * pools were used; a link serves no key before the peer has answered), the
 * HTTPS server, the BB84 link threads and periodic persistence. Returns
 * once everything listens, after one attempt per peer (bounded by
 * peer_timeout_ms).
 */
QM_NODISCARD enum qm_err qm_kme_start(struct qm_kme *k, struct qm_error *err);

/* Stops every thread, saves the pools, releases everything; sets *k NULL. */
void qm_kme_free(struct qm_kme **k);

/* Saves the pools now (sealed); used on shutdown and by the periodic saver. */
QM_NODISCARD enum qm_err qm_kme_save(struct qm_kme *k, struct qm_error *err);

/*
 * Writes a complete test network into dir: a CA, for each of nkmes KMEs a
 * server certificate, nsaes SAE client certificates, an operator
 * certificate, a store key and a qkme.conf whose peers are all the other
 * KMEs; ports[i] is KME i's port. extra (may be NULL) holds "key = value"
 * lines appended to every KME's configuration. Uses the openssl command.
 */
QM_NODISCARD enum qm_err qm_kme_testnet(const char *dir, int nkmes, int nsaes,
                                        const int *ports, const char *extra,
                                        struct qm_error *err);

/* How the KMEs of a test network are linked. */
enum qm_kme_topology {
	QM_KME_MESH, /* every pair */
	QM_KME_LINE, /* A-B, B-C, ... */
	QM_KME_RING, /* a line closed: the last to A */
	QM_KME_STAR, /* A to each of the others */
};
/* Parses "mesh:N", "line:N", "ring:N" or "star:N" (N from 2 to 16; a
 * ring needs 3) into *t and *n. */
QM_NODISCARD enum qm_err qm_kme_topology_parse(const char *s,
                                               enum qm_kme_topology *t,
                                               int *n, struct qm_error *err);
/*
 * qm_kme_testnet with the links of topology t: each KME's configuration
 * names its neighbours as peers ([peer.ID], a link each) and every other
 * KME as a node ([node.ID]: reached by key relay through the others).
 */
QM_NODISCARD enum qm_err
qm_kme_testnet_topo(const char *dir, enum qm_kme_topology t, int nkmes,
                    int nsaes, const int *ports, const char *extra,
                    struct qm_error *err);

#endif
