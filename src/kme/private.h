/* SPDX-License-Identifier: MIT */
/*
 * qkme internals shared by the files of src/kme: the configuration, the key
 * streams of a link, the reservations a peer made for our SAEs, the HTTPS
 * server, the KME-to-KME channel and the simulated BB84 link thread.
 */
#ifndef QM_KME_PRIVATE_H
#define QM_KME_PRIVATE_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "kme.h"

#define KME_IDMAX 128          /* KME and SAE IDs (certificate CNs) */
#define KME_MAXSAES 64         /* SAEs served by one KME or one peer */
#define KME_MAXPEERS 16
#define KME_MAXNODES 32        /* KMEs of the network besides the peers */
#define KME_MAXSLAVES 16       /* slave + additional slaves of a key */
#define KME_BODYMAX (256 * 1024) /* default largest request body */
#define KME_BODYMAX_MIN 1024
#define KME_BODYMAX_MAX (16 * 1024 * 1024)
#define KME_JSONDEPTH 32 /* deepest request body (checked before jansson) */
#define KME_LINK_MAXTHREADS 4  /* bb84.threads: simulations per link */
/* JSON bodies on the KME-to-KME channel: what a peer KME may send us (one
 * reservation of max_key_per_request keys fits), and the most key IDs we
 * put into one batch for the peer (at least one reservation per batch).
 * Neither depends on max_body, the SAEs' limit. */
#define KME_PEER_BODYMAX (16 * 1024 * 1024)
#define KME_PEER_BATCH   (1024 * 1024)

/* ------------------------------------------------------------ config */

struct kme_peer_conf {
	char id[KME_IDMAX];
	char url[256];
	char saes[KME_MAXSAES][KME_IDMAX];
	size_t nsaes;
};

/* A KME of the network with no direct link to this one: reached through
 * others (key relay), it serves these SAEs. */
struct kme_node_conf {
	char id[KME_IDMAX];
	char saes[KME_MAXSAES][KME_IDMAX];
	size_t nsaes;
};

struct kme_conf {
	char id[KME_IDMAX];
	char listen_addr[64];
	int port;
	char cert[512], key[512], ca[512];
	char state_dir[512];
	char store_key_file[512];
	char saes[KME_MAXSAES][KME_IDMAX];
	size_t nsaes;
	char operators[8][KME_IDMAX];
	size_t noperators;
	struct kme_peer_conf peers[KME_MAXPEERS];
	size_t npeers;
	struct kme_node_conf nodes[KME_MAXNODES];
	size_t nnodes;
	long long pool_bytes;         /* per direction of each link */
	long long default_key_size;   /* bits */
	long long min_key_size, max_key_size;
	long long max_key_per_request;
	long long max_sae_id_count;
	long long key_expiry_s;       /* 0 = reserved keys never expire */
	long long persist_ms;
	long long peer_timeout_ms;
	long long max_body; /* largest ETSI request body; past it: 413 */
	long long relay_reservoir; /* pad bytes announced at once for relays */
	/* BB84 link parameters (for links this KME runs). */
	long long bb84_pulses;
	double bb84_loss_db, bb84_noise, bb84_eve, bb84_alarm;
	double bb84_sample;
	int link_enabled;
	long long link_threads;
};

QM_NODISCARD enum qm_err kme_conf_load(const char *path, struct kme_conf *c,
                                       struct qm_error *err);
int kme_conf_serves(const struct kme_conf *c, const char *sae);
/* Index of sae in this KME's saes (or in peer p's saes); -1 if absent. */
int kme_conf_sae_index(const struct kme_conf *c, const char *sae);
int kme_peer_sae_index(const struct kme_peer_conf *p, const char *sae);
/* The KME (a peer's or a node's ID, or this KME's own) serving sae, or
 * NULL when no KME of the configuration serves it. */
const char *kme_conf_kme_of(const struct kme_conf *c, const char *sae);
int kme_conf_is_operator(const struct kme_conf *c, const char *cn);

/* ------------------------------------------------------------ streams */

/* A run of key bytes at an absolute offset of a link direction. */
struct kblock {
	uint64_t start;
	size_t len;
	size_t live;         /* bytes not yet released */
	unsigned char *data; /* secure memory */
};

/*
 * One direction of a link's key material. Bytes [next, end) are free; the
 * owner of the direction allocates at next; the other end mirrors it and
 * keeps reserved ranges below next alive until delivered.
 */
struct kstream {
	struct kblock *blocks;
	size_t n, cap;
	uint64_t next, end;
};

void kme_kstream_free(struct kstream *s);
QM_NODISCARD enum qm_err kme_kstream_append(struct kstream *s, uint64_t start,
                                            const unsigned char *p, size_t len,
                                            struct qm_error *err);
/*
 * A block that has just arrived from the link, at or after the end: a gap
 * before it becomes a hole, and bytes below next (the stream skipped ahead
 * of its end after a restart) die at once, as they can never be used.
 */
QM_NODISCARD enum qm_err kme_kstream_append_fresh(struct kstream *s,
                                                  uint64_t start,
                                                  const unsigned char *p,
                                                  size_t len,
                                                  struct qm_error *err);
/* Bytes present at or after next (holes left by a restart hold none). */
uint64_t kme_kstream_avail(const struct kstream *s);
/*
 * Where len contiguous bytes start at or after next: next moves over holes
 * (and over a run too short before a hole, wiping it). UINT64_MAX when the
 * pool has no such run yet.
 */
uint64_t kme_kstream_take_point(struct kstream *s, size_t len);
/* Copies [off, off+len) into out (must all be present). */
QM_NODISCARD enum qm_err kme_kstream_copy(const struct kstream *s, uint64_t off,
                                          size_t len, unsigned char *out,
                                          struct qm_error *err);
/* Wipes [off, off+len) and frees blocks with no live bytes. */
void kme_kstream_release(struct kstream *s, uint64_t off, size_t len);
/* 1 when every byte of [off, off+len) is in a block (not in a hole). */
int kme_kstream_has(const struct kstream *s, uint64_t off, size_t len);
/* Moves next forward to off (never back), wiping the bytes passed. */
void kme_kstream_skip(struct kstream *s, uint64_t off);
/* Drops the bytes at or after max(from, next): a hole up to end. */
void kme_kstream_cut(struct kstream *s, uint64_t from);
/*
 * The other KME of the link holds this direction up to peer_end: bytes
 * only one side has can never make a key, so both keep a hole between the
 * two ends and both ends become the higher one (our bytes past peer_end
 * are cut; a lower end of ours moves up over a hole).
 */
void kme_kstream_align(struct kstream *s, uint64_t peer_end);

/* A key the peer handed to its master SAE, waiting for our slave SAEs. */
/* SAEs are named by their index in the configuration (a key may wait for
 * a slave for a long time: 48 bytes each, not the names). */
struct kres {
	unsigned char id[16];
	uint64_t off;
	uint32_t len;
	uint32_t fetched; /* bit i: slaves[i] got it */
	int64_t expires;  /* 0 = never */
	struct kres *next;
	uint8_t nslaves;
	uint8_t master;                /* index in the peer's saes */
	uint8_t slaves[KME_MAXSLAVES]; /* indexes in this KME's saes */
};

struct kres_map {
	struct kres **slots;
	size_t nslots, count;
	int frozen; /* a save walks the slots: they are not rehashed */
};

void kme_kres_map_free(struct kres_map *m);
struct kres *kme_kres_find(const struct kres_map *m,
                           const unsigned char id[16]);
QM_NODISCARD enum qm_err kme_kres_add(struct kres_map *m, struct kres *r,
                                      struct qm_error *err);
void kme_kres_remove(struct kres_map *m, const unsigned char id[16]);

struct link_stats {
	double qber;
	int alarm;
	double rate_bps;      /* distilled key rate, moving average */
	uint64_t blocks, bits_total, pulses_total;
	int64_t last_block;
	double eve;
	int peer_up;
};

/*
 * A link with one peer KME: both directions, reservations, statistics, and
 * the agreement on how far our direction was used (docs/KME.md,
 * "Restarts, crashes and restored backups"): own.next never passes
 * granted, a limit the peer has recorded on its disk (its grant file) and
 * that we asked for only after writing it into our lease file. After any
 * start the link serves no key until it has compared notes with the peer
 * (confirmed), so a KME restored from an older copy of its state_dir skips
 * past every byte the peer knows it may have handed out.
 */
struct kme_link {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const struct kme_peer_conf *peer;
	int i_am_lower; /* lower KME ID runs the BB84 simulation */
	struct kstream own;    /* we allocate here for our masters */
	struct kstream mirror; /* the peer allocates here for its masters */
	struct kres_map res;   /* keys for our slaves, made by the peer */
	struct link_stats stats;
	uint64_t lo_sent, hi_sent; /* unused, kept for the file format */
	uint64_t last_blk;         /* peer: ID of the last block applied */
	/* (lock) */
	int confirmed;      /* agreed with the peer since this start */
	int realign;        /* runner: the peer restarted; compare stream
	                       ends before serving again */
	uint64_t granted;   /* own.next may grow up to here */
	int grant_failing;  /* the last request to raise granted failed */
	/* when SAEs last took key from own / mirror (qm_mono_ns): the link
	 * simulates at normal priority for a direction in use and low */
	uint64_t own_used, mirror_used;
	char alarm[768];    /* a restored state seen on this link, or "" */
	/* lease_lock: our lease file "asked granted"; never held while
	 * taking lock, held across the requests that raise the limit */
	pthread_mutex_t lease_lock;
	uint64_t lease_asked;   /* written before asking the peer */
	uint64_t lease_granted; /* what the peer confirmed (written after) */
	/* grant_lock: the limit we recorded for the peer's direction (our
	 * grant file); never held while taking lock */
	pthread_mutex_t grant_lock;
	uint64_t grant_given;
	struct kme_peerq *q;
	pthread_t threads[2 * KME_LINK_MAXTHREADS]; /* floor, then helpers */
	int nthreads;
	double trate[KME_LINK_MAXTHREADS]; /* distilled bits/s per simulation */
	pthread_cond_t ready_cond; /* with lock: a helper's block is ready */
	pthread_mutex_t push_lock; /* one block at a time to the peer */
	/* relay.c (lock): the pad reservoirs the peer announced for relays
	 * it sends us, each used a part at a time; our own reservoir for
	 * relays to the peer (memory only: a restart never goes on with
	 * one); what relays used of the link both ways, and what our
	 * reservoirs took from our direction */
	struct kpad *pads;
	struct krsv *rsv, *rsv_next; /* the next one, announced ahead */
	int rsv_making;              /* a request is announcing rsv_next */
	uint64_t relay_bytes, relay_reserved;
};

/* relay.c: a pad reservoir the peer announced (struct kpad) and ours
 * (struct krsv). */
struct kpad;
struct krsv;

/* ------------------------------------------------------------ network */

/* route.c: link-state adverts and routes across the network (issue 19). */
#define KME_NET_MAX (1 + KME_MAXPEERS + KME_MAXNODES)

/* One link as the KME at its one end announces it. */
struct kme_lsa_link {
	char peer[KME_IDMAX];
	int up;         /* confirmed, reachable, out of QBER alarm */
	int alarm;
	double qber, rate_bps;
	uint64_t avail; /* key in the announcing KME's direction, bytes */
};

/* A KME's advert of its links. */
struct kme_lsa {
	char origin[KME_IDMAX];
	uint64_t seq;    /* grows with every advert (0: none yet) */
	uint64_t got_ns; /* when it arrived (qm_mono_ns) */
	int from;        /* the link it came by; -1 for our own */
	int fwd_pending; /* still to pass on to the other peers */
	size_t nlinks;
	struct kme_lsa_link links[KME_MAXPEERS];
};

struct kme_net {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* by kme_net_index: 0 is ours, then the peers', then the nodes' */
	struct kme_lsa lsa[KME_NET_MAX];
	int reach[KME_MAXPEERS]; /* our adverts reach peer i */
	int fails[KME_MAXPEERS]; /* adverts to peer i missed in a row */
	int changed, kicked, stop, started;
	pthread_t thread;
};

/* A path through the network, this KME first. */
struct kme_route {
	size_t n; /* KMEs on it; hops = n - 1 */
	char ids[KME_NET_MAX][KME_IDMAX];
	double bottleneck_rate;    /* the lowest key rate on it, bits/s */
	uint64_t bottleneck_bytes; /* the least key a hop's sender holds */
	char bottleneck_link[2 * KME_IDMAX + 2];
	char why[1024]; /* no route: why (the links out) */
};

/* The index of KME id in the network (0 this KME), or -1. */
int kme_net_index(const struct qm_kme *k, const char *id);
QM_NODISCARD enum qm_err kme_net_start(struct qm_kme *k, struct qm_error *err);
void kme_net_stop(struct qm_kme *k);
/* Sends our advert now (a link changed). */
void kme_net_kick(struct qm_kme *k);
/* The route to KME to (QM_ERR_UNAVAIL naming the links out when there is
 * none, QM_ERR_NOTFOUND for a KME the configuration does not name). */
QM_NODISCARD enum qm_err kme_net_route(struct qm_kme *k, const char *to,
                                       struct kme_route *out,
                                       struct qm_error *err);

/* Recycled secure buffers of KME_CHUNK bytes for small replies. */
#define KME_CHUNK 8192
void *kme_chunk_get(void);
void kme_chunk_put(void *p);

/* ------------------------------------------------------------ uuid */

void kme_uuid_new(unsigned char id[16]);
void kme_uuid_fmt(const unsigned char id[16], char out[37]);
int kme_uuid_parse(const char *s, unsigned char id[16]);

/* ------------------------------------------------------------ the KME */

/* relay.c: a key relayed to us, waiting for our slave SAEs. */
struct krel {
	unsigned char id[16];
	char master[KME_IDMAX]; /* at the KME where the relay began */
	char from[KME_IDMAX];   /* that KME */
	uint8_t hops;           /* links it crossed */
	uint8_t nslaves;
	uint8_t slaves[KME_MAXSLAVES]; /* indexes in our saes */
	uint32_t fetched;
	int64_t expires; /* 0 = never */
	uint32_t len;
	unsigned char *key; /* secure */
	struct krel *next;
};

struct krel_map {
	pthread_mutex_t lock;
	struct krel **slots;
	size_t count;
};

struct qm_kme {
	struct kme_conf conf;
	struct kme_link links[KME_MAXPEERS];
	size_t nlinks;
	unsigned char *store_key; /* 32 bytes, secure */
	char state_path[600];
	pthread_mutex_t state_lock;
	int dirty;
	volatile int stopping;
	pthread_t persist_thread;
	int persist_started;
	struct MHD_Daemon *mhd;
	struct qm_buf cert_pem_buf, key_pem_buf, ca_pem_buf; /* TLS files */
	struct kme_net net;
	struct krel_map relayed;
	int relay_tamper; /* test hook: alter what we relay (atomic) */
	struct rbatch *rbatch; /* relay.c: relays waiting, by target KME */
	uint64_t relayed_out, relayed_via, relayed_in, relay_refused;
};

struct kme_link *kme_link_for_sae(struct qm_kme *k, const char *sae);
struct kme_link *kme_link_for_peer(struct qm_kme *k, const char *peer_id);
void kme_mark_dirty(struct qm_kme *k);

/*
 * persist.c: the small files beside the sealed pools, written with fsync
 * (not secret: offsets). lease-<peer> holds "asked granted" for our
 * direction, grant-<peer> the limit we recorded for the peer's direction.
 * kme_lease_load reads both after the pools and moves own.next past
 * anything the lease says may have been handed out (a crash).
 */
QM_NODISCARD enum qm_err kme_lease_load(struct qm_kme *k, struct kme_link *l,
                                        struct qm_error *err);
/* Writes our lease file (lease_lock held); updates the fields. */
QM_NODISCARD enum qm_err kme_lease_write(struct qm_kme *k, struct kme_link *l,
                                         uint64_t asked, uint64_t granted,
                                         struct qm_error *err);
/* Writes our grant file for the peer (grant_lock held). */
QM_NODISCARD enum qm_err kme_grant_write(struct qm_kme *k, struct kme_link *l,
                                         uint64_t v, struct qm_error *err);

/*
 * sync.c: the agreement between the two KMEs of a link.
 * kme_link_sync compares notes with the peer after a start and confirms
 * the link (the peerq thread calls it until it succeeds);
 * kme_grant_raise asks the peer to record a higher limit for our
 * direction (need plus a step), blocking for one round trip;
 * kme_grant_release gives back what was not used, on a clean stop.
 */
uint64_t kme_grant_step(const struct qm_kme *k);
QM_NODISCARD enum qm_err kme_link_sync(struct qm_kme *k, struct kme_link *l,
                                       struct qm_error *err);
/* The runner compares stream ends with the peer (after the peer
 * restarted), holding push_lock so that no block is in flight. */
QM_NODISCARD enum qm_err kme_link_align(struct qm_kme *k, struct kme_link *l,
                                        struct qm_error *err);
QM_NODISCARD enum qm_err kme_grant_raise(struct qm_kme *k, struct kme_link *l,
                                         uint64_t need, struct qm_error *err);
void kme_grant_release(struct qm_kme *k, struct kme_link *l);

/* persist.c */
QM_NODISCARD enum qm_err kme_state_save(struct qm_kme *k, struct qm_error *err);
QM_NODISCARD enum qm_err kme_state_load(struct qm_kme *k, struct qm_error *err);
QM_NODISCARD enum qm_err kme_store_key_load(struct qm_kme *k,
                                            struct qm_error *err);

/* server.c */
QM_NODISCARD enum qm_err kme_server_start(struct qm_kme *k,
                                          struct qm_error *err);
void kme_server_stop(struct qm_kme *k);

/* peer.c: the KME-to-KME channel (client side) */
struct kme_peerq;
/* The queue of reservations for a link's peer; kme_peerq_start starts its
 * sender thread, kme_peerq_stop joins it (pending items stay, so they can
 * be saved), kme_peerq_free releases everything. */
QM_NODISCARD enum qm_err kme_peerq_new(struct qm_kme *k, struct kme_link *l,
                                       struct kme_peerq **out,
                                       struct qm_error *err);
QM_NODISCARD enum qm_err kme_peerq_start(struct kme_peerq *q,
                                         struct qm_error *err);
void kme_peerq_stop(struct kme_peerq *q);
void kme_peerq_free(struct kme_peerq **q);
/*
 * Queues one reservation (a json_t object, consumed) for the peer; call
 * under the link lock so that the peer sees reservations in offset order.
 * The sender delivers it in the background and retries until the peer has
 * it.
 */
QM_NODISCARD enum qm_err kme_peerq_submit(struct kme_peerq *q, void *json_obj,
                                          struct qm_error *err);
/* Waits until every queued reservation reached the peer. */
QM_NODISCARD enum qm_err kme_peerq_flush(struct kme_peerq *q, long timeout_ms,
                                         struct qm_error *err);
/* Pending reservations into / out of the sealed pool file. */
QM_NODISCARD enum qm_err kme_peerq_dump(struct kme_peerq *q, struct qm_buf *b,
                                        struct qm_error *err);
QM_NODISCARD enum qm_err kme_peerq_restore(struct kme_peerq *q,
                                           const char *json, size_t len,
                                           struct qm_error *err);
QM_NODISCARD enum qm_err
kme_peer_push_block(struct qm_kme *k, struct kme_link *l, const char *query,
                    const unsigned char *p, size_t len, long *status,
                    struct qm_buf *answer, struct qm_error *err);
QM_NODISCARD enum qm_err kme_peer_post_json(struct qm_kme *k,
                                            struct kme_link *l,
                                            const char *path, const char *body,
                                            struct qm_error *err);
/* Which kept connection a JSON request to the peer uses. */
enum kme_chan {
	KME_CHAN_QUEUE, /* the peerq thread (sync, reservations) */
	KME_CHAN_GRANT, /* holders of the link's lease_lock */
	KME_CHAN_NET,   /* the network thread (route.c: adverts) */
};
/* Connections kept per link for relays (relay.c), one relay at a time on
 * each: as many relays through a link at once. */
#define KME_RELAY_CONNS 4
/* POSTs a relay to the peer on a free relay connection (waits for one). */
QM_NODISCARD enum qm_err
kme_peer_relay_post(struct kme_link *l, const char *body, long timeout_ms,
                    long *status, struct qm_buf *answer, struct qm_error *err);
/* POSTs a JSON body to the peer on a kept connection; timeout_ms 0 means
 * peer_timeout_ms. QM_OK on 200 (the answer in *answer). */
QM_NODISCARD enum qm_err kme_peer_request(struct kme_link *l, enum kme_chan ch,
                                          const char *path, const char *body,
                                          long timeout_ms, long *status,
                                          struct qm_buf *answer,
                                          struct qm_error *err);
/* Wakes the peerq thread (a limit to raise ahead of use). */
void kme_peerq_kick(struct kme_peerq *q);
/* Waits until the first sync attempt is over (or timeout_ms). */
void kme_peerq_wait_first(struct kme_peerq *q, long timeout_ms);

/* link.c */
QM_NODISCARD enum qm_err kme_link_start(struct qm_kme *k, struct kme_link *l,
                                        struct qm_error *err);
void kme_link_stop(struct qm_kme *k, struct kme_link *l);

/* api.c: request handlers; each returns an HTTP status and a body */
struct kme_reply {
	unsigned status;
	struct qm_buf body; /* secure when it carries keys */
	int chunk;          /* body.data is a kme_chunk */
};
/* Points r's body at a recycled chunk (or a growing secure buffer when
 * need is larger); 0 or -1 when out of memory. */
int kme_reply_secure(struct kme_reply *r, size_t need);
void kme_api_status(struct qm_kme *k, const char *caller, const char *slave,
                    struct kme_reply *r);
void kme_api_enc_keys(struct qm_kme *k, const char *caller, const char *slave,
                      const char *body, size_t blen, const char *q_number,
                      const char *q_size, struct kme_reply *r);
void kme_api_dec_keys(struct qm_kme *k, const char *caller, const char *master,
                      const char *body, size_t blen, const char *q_keyid,
                      struct kme_reply *r);
void kme_api_error(struct kme_reply *r, unsigned status, const char *msg,
                   const char *detail);
/* A key request (api.c), also for relayed keys (relay.c). */
struct keyreq {
	long long number, size;
	const char *slaves[KME_MAXSLAVES];
	size_t nslaves;
};
int kme_parse_keyreq(struct qm_kme *k, struct kme_link *l, const char *slave,
                     void *body_json, const char *qn, const char *qs,
                     struct keyreq *q, struct kme_reply *r);
QM_NODISCARD enum qm_err kme_put_key(struct qm_buf *b, int first,
                                     const unsigned char id[16],
                                     const unsigned char *key, size_t len);
int kme_own_take(struct qm_kme *k, struct kme_link *l, size_t total,
                 unsigned char *bytes, uint64_t *off, int *kick,
                 struct kme_reply *r);
void kme_api_peer_reserve(struct qm_kme *k, const char *caller,
                          const char *body, size_t blen, struct kme_reply *r);
void kme_api_peer_block(struct qm_kme *k, const char *caller,
                        const char *q_lo_off, const char *q_lo_len,
                        const char *q_hi_off, const char *q_hi_len,
                        const char *q_stats, const char *q_blk,
                        const unsigned char *p,
                        size_t len, struct kme_reply *r);
void kme_api_peer_flush(struct qm_kme *k, const char *caller,
                        struct kme_reply *r);
void kme_api_peer_sync(struct qm_kme *k, const char *caller,
                       const char *body, size_t blen, struct kme_reply *r);
void kme_api_peer_grant(struct qm_kme *k, const char *caller,
                        const char *body, size_t blen, struct kme_reply *r);
void kme_api_peer_align(struct qm_kme *k, const char *caller,
                        const char *body, size_t blen, struct kme_reply *r);
/* api.c helpers shared with sync.c */
void *kme_api_parse_body(const char *body, size_t blen, struct kme_reply *r);
void kme_api_reply_json(struct kme_reply *r, unsigned status, void *json);
void kme_api_eve(struct qm_kme *k, const char *caller, int from_peer,
                 const char *body, size_t blen, struct kme_reply *r);
void kme_api_stats(struct qm_kme *k, const char *caller, struct kme_reply *r);
void kme_api_peer_lsa(struct qm_kme *k, const char *caller, const char *body,
                      size_t blen, struct kme_reply *r);
void kme_api_routes(struct qm_kme *k, const char *caller, struct kme_reply *r);
void kme_api_sae_network(struct qm_kme *k, const char *caller,
                         struct kme_reply *r);

/* relay.c: keys for slaves at KMEs with no link to this one */
QM_NODISCARD enum qm_err kme_relay_init(struct qm_kme *k, struct qm_error *err);
void kme_relay_free(struct qm_kme *k);
/* 1 when enc_keys for slave (with body's additional slaves) is relayed:
 * the slave's KME has no link to this one, or the slaves are at several
 * KMEs. */
int kme_relay_wanted(struct qm_kme *k, const char *slave, const char *body,
                     size_t blen);
void kme_relay_enc_keys(struct qm_kme *k, const char *caller, const char *slave,
                        const char *body, size_t blen, const char *q_number,
                        const char *q_size, struct kme_reply *r);
void kme_relay_dec_keys(struct qm_kme *k, const char *caller,
                        const char *master, unsigned char (*ids)[16], size_t n,
                        struct kme_reply *r);
/* 1 when key id was relayed to this KME and waits here. */
int kme_relay_holds(struct qm_kme *k, const unsigned char id[16]);
void kme_relay_status(struct qm_kme *k, const char *caller, const char *slave,
                      struct kme_reply *r);
void kme_api_peer_relay(struct qm_kme *k, const char *caller, const char *body,
                        size_t blen, struct kme_reply *r);
void kme_api_relay_tamper(struct qm_kme *k, const char *caller,
                          const char *body, size_t blen, struct kme_reply *r);
void kme_relay_stats_json(struct qm_kme *k, void *obj);
/* Pad reservoirs the peer announced through the reservation queue (a JSON
 * array of {id, off, len}); drops the ones past their time. -1 when out of
 * memory. (link lock held) */
int kme_relay_take_pads(struct qm_kme *k, struct kme_link *l, void *keys,
                        int64_t now);
/* The peer started again: the reservoirs of both directions of the link
 * are given up (the unused bytes of the peer's are wiped here; ours are
 * never used again). Takes the link lock. */
void kme_relay_peer_restarted(struct kme_link *l);
/* Frees a link's reservoirs (at shutdown; the link lock not needed). */
void kme_relay_link_free(struct kme_link *l);
/* A link's reservoir figures for ctl stats (link lock held). */
void kme_relay_link_stats(struct kme_link *l, void *obj);
/* The kept relayed keys into / out of the sealed pool file (persist.c). */
QM_NODISCARD enum qm_err kme_relay_dump(struct qm_kme *k, struct qm_buf *b,
                                        struct qm_error *err);
/* (kme_relay_dump also writes the unused runs of the peers' reservoirs,
 * which kme_relay_restore wipes from the mirrors: a reservoir never
 * outlives a restart) */
QM_NODISCARD enum qm_err kme_relay_restore(struct qm_kme *k, void *reader,
                                           struct qm_error *err);
void kme_link_stats_json(struct kme_link *l, const struct kme_conf *c,
                         void *obj);

#endif
