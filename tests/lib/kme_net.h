/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the qkme integration tests: a test network written by
 * `qkme testnet` in a temporary folder, its KMEs started on free loopback
 * ports (and always stopped), and ETSI 014 requests over mutual TLS with
 * libcurl as a given SAE. Test code only.
 */
#ifndef KME_NET_H
#define KME_NET_H

#include <jansson.h>
#include <sys/types.h>

#define KT_MAXKME 8

struct kt_net {
	char dir[512];
	int nkmes, nsaes;
	int ports[KT_MAXKME];
	pid_t pids[KT_MAXKME];
	char logs[KT_MAXKME][600];
};

/* Writes the network (extra: "key = value" lines for every KME, may be
 * NULL) and starts every KME; 0 or -1. */
int kt_net_start(struct kt_net *n, const char *tag, int nkmes, int nsaes,
                 const char *extra);
/* Only writes the network (as kt_net_start) and starts nothing, so that a
 * test can change a KME's files first; 0 or -1. */
int kt_net_write(struct kt_net *n, const char *tag, int nkmes, int nsaes,
                 const char *extra);
/* The same with the links of a topology ("ring:5", "line:4": qkme
 * testnet --topology; the number of KMEs comes from it). */
int kt_net_write_topo(struct kt_net *n, const char *tag, const char *topology,
                      int nsaes, const char *extra);
int kt_net_start_topo(struct kt_net *n, const char *tag, const char *topology,
                      int nsaes, const char *extra);
/* Starts (again) KME i; waits for its port. 0 or -1. */
int kt_kme_start(struct kt_net *n, int i);
/* Stops KME i with SIGTERM; returns its exit status as waitpid gives it. */
int kt_kme_stop(struct kt_net *n, int i);
/* Stops everything and removes the folder (kept when KT_KEEP is set or a
 * KME did not exit cleanly). Returns 0 when every KME exited with status 0
 * on SIGTERM (a sanitizer report makes it non-zero), else -1. */
int kt_net_stop(struct kt_net *n);

/*
 * One HTTPS request to KME kme as the holder of certificate cert_base
 * ("sae/SAE_A" under the network folder, an absolute path base, or NULL
 * for no client certificate). body NULL means GET. Returns the HTTP status
 * (0 on a transport failure) and the parsed JSON in *out (may be NULL).
 */
long kt_req(const struct kt_net *n, int kme, const char *cert_base,
            const char *path, const char *body, json_t **out);

/* Copies the folder src to dst (cp -a); 0 or -1. */
int kt_copy_dir(const char *src, const char *dst);
/* Copies a running KME's state folder src to the new folder dst, file by
 * file (each file whole, temporary files left out); 0 or -1. */
int kt_copy_state(const char *src, const char *dst);
/* 1 when KME i's log holds text. */
int kt_log_has(const struct kt_net *n, int i, const char *text);
/* Waits up to timeout_ms for text in KME i's log; 1 when it appeared. */
int kt_wait_log(const struct kt_net *n, int i, const char *text,
                int timeout_ms);

/* Waits until stored_key_count for master -> slave at kme is >= want, or
 * timeout_ms passes; returns the last count seen. */
long long kt_wait_keys(const struct kt_net *n, int kme, const char *master,
                       const char *slave, long long want, int timeout_ms);

#endif
