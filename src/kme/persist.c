/* SPDX-License-Identifier: MIT */
/*
 * Pools at rest: every link's key streams and reservations serialised into
 * secure memory and sealed with XChaCha20-Poly1305 (libsodium) under the
 * operator's 32-byte store key, bound to the KME ID, written atomically.
 * Key bytes never reach the disk in clear. Beside them, per peer, the lease
 * and grant files (offsets, written with fsync) that sync.c relies on.
 */
#include "private.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEAL_MAGIC "QKMESEAL1"
#define SEAL_MAGICLEN 9
#define STATE_MAX ((size_t)1 << 32)

enum qm_err kme_store_key_load(struct qm_kme *k, struct qm_error *err)
{
	struct qm_buf b;
	const char *env = getenv("QKME_STORE_KEY");
	enum qm_err rc;
	size_t n;

	qm_buf_init_secure(&b, 4096);
	if (env && *env) {
		rc = qm_buf_append_str(&b, env, err);
	} else if (k->conf.store_key_file[0]) {
		rc = qm_file_read(k->conf.store_key_file, 4096, &b, err);
	} else {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "no store key: set store_key_file in the "
		                  "configuration or QKME_STORE_KEY (64 hex "
		                  "digits) in the environment");
	}
	if (rc)
		goto out;
	n = b.len;
	while (n && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r' ||
	             b.data[n - 1] == ' '))
		n--;
	if (n != 64) {
		rc = qm_error_set(err, QM_ERR_INVAL,
		                  "the store key must be 64 hex digits (32 "
		                  "random bytes), e.g. from `openssl rand -hex "
		                  "32`");
		goto out;
	}
	k->store_key = qm_sec_alloc(32);
	if (!k->store_key) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of secure memory");
		goto out;
	}
	{
		size_t got = 0;
		if (sodium_hex2bin(k->store_key, 32, (const char *)b.data, n,
		                   NULL, &got, NULL) != 0 ||
		    got != 32) {
			qm_sec_free(k->store_key);
			k->store_key = NULL;
			rc = qm_error_set(err, QM_ERR_INVAL,
			                  "the store key is not 64 hex digits");
			goto out;
		}
	}
out:
	qm_buf_free(&b);
	return rc;
}

static enum qm_err put_str(struct qm_buf *b, const char *s,
                           struct qm_error *err)
{
	size_t n = strlen(s);
	enum qm_err rc = qm_buf_append_u16(b, (uint16_t)n, err);
	return rc ? rc : qm_buf_append(b, s, n, err);
}

static enum qm_err put_stream(struct qm_buf *b, const struct kstream *s,
                              struct qm_error *err)
{
	enum qm_err rc;

	if ((rc = qm_buf_append_u64(b, s->next, err)) ||
	    (rc = qm_buf_append_u64(b, s->end, err)) ||
	    (rc = qm_buf_append_u32(b, (uint32_t)s->n, err)))
		return rc;
	for (size_t i = 0; i < s->n; i++) {
		const struct kblock *k = &s->blocks[i];
		if ((rc = qm_buf_append_u64(b, k->start, err)) ||
		    (rc = qm_buf_append_u32(b, (uint32_t)k->len, err)) ||
		    (rc = qm_buf_append_u32(b, (uint32_t)k->live, err)) ||
		    (rc = qm_buf_append(b, k->data, k->len, err)))
			return rc;
	}
	return QM_OK;
}

/* Reservations the link lock stays held for at most, while saving. */
#define SAVE_CHUNK 4096

/* The streams of a link and the reservations for the peer not yet
 * acknowledged (into pend), consistent with each other (lock held). */
static enum qm_err put_link_head(struct qm_buf *b, struct qm_buf *pend,
                                 struct kme_link *l, struct qm_error *err)
{
	enum qm_err rc;

	if ((rc = put_str(b, l->peer->id, err)) ||
	    (rc = put_stream(b, &l->own, err)) ||
	    (rc = put_stream(b, &l->mirror, err)) ||
	    (rc = qm_buf_append_u64(b, l->lo_sent, err)) ||
	    (rc = qm_buf_append_u64(b, l->hi_sent, err)))
		return rc;
	if (l->q)
		return kme_peerq_dump(l->q, pend, err);
	return qm_buf_append_u32(pend, 0, err);
}

/* The reservations of slots [*slot, ...) into b, SAVE_CHUNK or a few more
 * (whole slots), counting them in *n; *slot moves on (lock held). On disk
 * SAEs are named (the configuration may change between runs). */
static enum qm_err put_res_chunk(struct qm_buf *b, const struct kme_conf *c,
                                 struct kme_link *l, size_t *slot, uint32_t *n,
                                 struct qm_error *err)
{
	enum qm_err rc;
	size_t done = 0;

	for (; *slot < l->res.nslots && done < SAVE_CHUNK; (*slot)++) {
		for (struct kres *r = l->res.slots[*slot]; r; r = r->next) {
			if ((rc = qm_buf_append(b, r->id, 16, err)) ||
			    (rc = qm_buf_append_u64(b, r->off, err)) ||
			    (rc = qm_buf_append_u32(b, r->len, err)) ||
			    (rc = qm_buf_append_u32(b, r->fetched, err)) ||
			    (rc = qm_buf_append_u64(b, (uint64_t)r->expires,
			                            err)) ||
			    (rc = put_str(b, l->peer->saes[r->master], err)) ||
			    (rc = qm_buf_append_u32(b, r->nslaves, err)))
				return rc;
			for (uint32_t j = 0; j < r->nslaves; j++)
				if ((rc = put_str(b, c->saes[r->slaves[j]],
				                  err)))
					return rc;
			(*n)++;
			done++;
		}
	}
	return QM_OK;
}

/*
 * One link into b. The streams and the queue for the peer are taken in one
 * piece under the link lock; the reservations for our slaves, which grow
 * with every key a slave has not fetched yet, SAVE_CHUNK at a time with the
 * lock let go in between (the map does not grow meanwhile), so that a
 * large table does not stop the link, the peer channel and enc_keys for
 * the whole save. A reservation added or removed between two chunks may
 * or may not be in the file, as if it had come a moment later or been
 * fetched a moment earlier; key bytes are never in two places. *held
 * gets the longest time the lock was held.
 */
static enum qm_err put_link(struct qm_buf *b, const struct kme_conf *c,
                            struct kme_link *l, uint64_t *held,
                            struct qm_error *err)
{
	struct qm_buf res, pend;
	enum qm_err rc;
	size_t slot = 0;
	uint32_t n = 0;
	uint64_t t0;

	qm_buf_init(&res, STATE_MAX);
	qm_buf_init(&pend, STATE_MAX);
	pthread_mutex_lock(&l->lock);
	t0 = qm_mono_ns();
	rc = put_link_head(b, &pend, l, err);
	l->res.frozen++;
	for (;;) {
		uint64_t t;

		if (!rc)
			rc = put_res_chunk(&res, c, l, &slot, &n, err);
		t = qm_mono_ns() - t0;
		if (t > *held)
			*held = t;
		if (rc || slot >= l->res.nslots)
			break;
		pthread_mutex_unlock(&l->lock);
		sched_yield(); /* a waiting request or link thread goes first */
		pthread_mutex_lock(&l->lock);
		t0 = qm_mono_ns();
	}
	l->res.frozen--;
	pthread_mutex_unlock(&l->lock);
	if (!rc && !(rc = qm_buf_append_u32(b, n, err)) &&
	    !(rc = qm_buf_append(b, res.data, res.len, err)))
		rc = qm_buf_append(b, pend.data, pend.len, err);
	qm_buf_free(&res);
	qm_buf_free(&pend);
	return rc;
}

enum qm_err kme_state_save(struct qm_kme *k, struct qm_error *err)
{
	struct qm_buf plain, sealed;
	unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
	unsigned char ad[SEAL_MAGICLEN + KME_IDMAX];
	unsigned long long clen = 0;
	size_t adlen;
	enum qm_err rc;
	uint64_t start = qm_mono_ns(), held_max = 0;

	qm_buf_init_secure(&plain, STATE_MAX);
	qm_buf_init(&sealed, STATE_MAX);
	pthread_mutex_lock(&k->state_lock);
	{
		/* one allocation up front instead of many doublings */
		size_t est = 1024;
		for (size_t i = 0; i < k->nlinks; i++) {
			struct kme_link *l = &k->links[i];
			pthread_mutex_lock(&l->lock);
			for (size_t b = 0; b < l->own.n; b++)
				est += l->own.blocks[b].len + 16;
			for (size_t b = 0; b < l->mirror.n; b++)
				est += l->mirror.blocks[b].len + 16;
			/* about 50 bytes and two short names each */
			est += l->res.count * 96;
			pthread_mutex_unlock(&l->lock);
		}
		rc = qm_buf_reserve(&plain, est + est / 8, err);
	}
	if (!rc)
		rc = qm_buf_append(&plain, "QKS2", 4, err);
	if (!rc)
		rc = qm_buf_append_u32(&plain, (uint32_t)k->nlinks, err);
	for (size_t i = 0; !rc && i < k->nlinks; i++)
		rc = put_link(&plain, &k->conf, &k->links[i], &held_max, err);
	/* keys relayed to us from KMEs with no link to this one */
	if (!rc)
		rc = kme_relay_dump(k, &plain, err);
	k->dirty = 0;
	if (rc)
		goto out;
	qm_random(nonce, sizeof(nonce));
	memcpy(ad, SEAL_MAGIC, SEAL_MAGICLEN);
	adlen = strlen(k->conf.id);
	memcpy(ad + SEAL_MAGICLEN, k->conf.id, adlen);
	adlen += SEAL_MAGICLEN;
	if ((rc = qm_buf_append(&sealed, SEAL_MAGIC, SEAL_MAGICLEN, err)) ||
	    (rc = qm_buf_append(&sealed, nonce, sizeof(nonce), err)) ||
	    (rc = qm_buf_reserve(&sealed,
	                         plain.len +
	                             crypto_aead_xchacha20poly1305_ietf_ABYTES,
	                         err)))
		goto out;
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		sealed.data + sealed.len, &clen, plain.data, plain.len, ad,
		adlen, NULL, nonce, k->store_key);
	sealed.len += (size_t)clen;
	rc = qm_file_write_atomic(k->state_path, sealed.data, sealed.len, 0600,
	                          err);
	qm_log(QM_LOG_DEBUG,
	       "pools sealed: %zu bytes in %.1f ms (a link locked for at most "
	       "%.2f ms)",
	       sealed.len, (double)(qm_mono_ns() - start) / 1e6,
	       (double)held_max / 1e6);
out:
	if (rc)
		k->dirty = 1;
	pthread_mutex_unlock(&k->state_lock);
	qm_buf_free(&plain);
	qm_buf_free(&sealed);
	if (rc)
		qm_error_prefix(err, "saving the key pools to %s: ",
		                k->state_path);
	return rc;
}

static enum qm_err get_str(struct qm_reader *r, char *out, size_t outlen)
{
	uint16_t n;
	const unsigned char *p;

	if (qm_reader_u16(r, &n) || n >= outlen || qm_reader_bytes(r, n, &p))
		return QM_ERR_PARSE;
	memcpy(out, p, n);
	out[n] = '\0';
	return QM_OK;
}

static enum qm_err get_stream(struct qm_reader *r, struct kstream *s,
                              struct qm_error *err)
{
	uint64_t next, end;
	uint32_t n;

	kme_kstream_free(s);
	if (qm_reader_u64(r, &next) || qm_reader_u64(r, &end) ||
	    qm_reader_u32(r, &n))
		return qm_error_set(err, QM_ERR_PARSE, "truncated stream");
	s->next = next;
	s->end = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t start;
		uint32_t len, live;
		const unsigned char *p;
		enum qm_err rc;

		if (qm_reader_u64(r, &start) || qm_reader_u32(r, &len) ||
		    qm_reader_u32(r, &live) || live > len ||
		    qm_reader_bytes(r, len, &p))
			return qm_error_set(err, QM_ERR_PARSE,
			                    "truncated key block");
		s->end = start; /* blocks may have gaps where all was used */
		if ((rc = kme_kstream_append(s, start, p, len, err)))
			return rc;
		s->blocks[s->n - 1].live = live;
	}
	s->next = next;
	s->end = end;
	return QM_OK;
}

static enum qm_err get_link(struct qm_kme *k, struct qm_reader *r,
                            struct qm_error *err)
{
	char peer[KME_IDMAX];
	struct kme_link tmp, *l;
	uint32_t nres;
	unsigned dropped = 0;
	enum qm_err rc;

	memset(&tmp, 0, sizeof(tmp));
	if (get_str(r, peer, sizeof(peer)))
		return qm_error_set(err, QM_ERR_PARSE, "truncated link");
	l = kme_link_for_peer(k, peer);
	if (!l) {
		qm_log(QM_LOG_WARN,
		       "saved pools name peer %s, which is no longer "
		       "configured: its keys are dropped",
		       peer);
		l = &tmp;
	}
	if ((rc = get_stream(r, &l->own, err)) ||
	    (rc = get_stream(r, &l->mirror, err)))
		goto out;
	if (qm_reader_u64(r, &l->lo_sent) || qm_reader_u64(r, &l->hi_sent) ||
	    qm_reader_u32(r, &nres)) {
		rc = qm_error_set(err, QM_ERR_PARSE, "truncated link");
		goto out;
	}
	for (uint32_t i = 0; i < nres; i++) {
		struct kres *x = calloc(1, sizeof(*x));
		const unsigned char *id;
		char name[KME_IDMAX];
		uint64_t exp;
		uint32_t ns;
		int known = l != &tmp, ix;

		if (!x) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (qm_reader_bytes(r, 16, &id) || qm_reader_u64(r, &x->off) ||
		    qm_reader_u32(r, &x->len) ||
		    qm_reader_u32(r, &x->fetched) || qm_reader_u64(r, &exp) ||
		    get_str(r, name, sizeof(name)) || qm_reader_u32(r, &ns) ||
		    ns > KME_MAXSLAVES) {
			free(x);
			rc = qm_error_set(err, QM_ERR_PARSE,
			                  "truncated reservation");
			goto out;
		}
		memcpy(x->id, id, 16);
		x->expires = (int64_t)exp;
		x->nslaves = (uint8_t)ns;
		if (known && (ix = kme_peer_sae_index(l->peer, name)) >= 0)
			x->master = (uint8_t)ix;
		else
			known = 0;
		for (uint32_t j = 0; j < ns; j++) {
			if (get_str(r, name, sizeof(name))) {
				free(x);
				rc = qm_error_set(err, QM_ERR_PARSE,
				                  "truncated reservation");
				goto out;
			}
			if (known &&
			    (ix = kme_conf_sae_index(&k->conf, name)) >= 0)
				x->slaves[j] = (uint8_t)ix;
			else
				known = 0;
		}
		if (!known) {
			/* an SAE no longer configured here or at the peer: no
			 * one can fetch the key, its bytes die */
			if (l != &tmp)
				kme_kstream_release(&l->mirror, x->off, x->len);
			free(x);
			dropped++;
			continue;
		}
		if ((rc = kme_kres_add(&l->res, x, err))) {
			free(x);
			goto out;
		}
	}
	if (dropped && l != &tmp)
		qm_log(QM_LOG_WARN,
		       "saved pools hold %u key(s) for SAEs that are no longer "
		       "configured on link %s: they are dropped",
		       dropped, peer);
	{
		uint32_t npend, plen;
		const unsigned char *p;

		if (qm_reader_u32(r, &npend)) {
			rc = qm_error_set(err, QM_ERR_PARSE, "truncated link");
			goto out;
		}
		for (uint32_t i = 0; i < npend; i++) {
			if (qm_reader_u32(r, &plen) ||
			    qm_reader_bytes(r, plen, &p)) {
				rc = qm_error_set(err, QM_ERR_PARSE,
				                  "truncated pending reservation");
				goto out;
			}
			if (l != &tmp && l->q &&
			    (rc = kme_peerq_restore(l->q, (const char *)p, plen,
			                            err)))
				goto out;
		}
	}
out:
	kme_kstream_free(&tmp.own);
	kme_kstream_free(&tmp.mirror);
	kme_kres_map_free(&tmp.res);
	return rc;
}

enum qm_err kme_state_load(struct qm_kme *k, struct qm_error *err)
{
	struct qm_buf file, plain;
	unsigned char ad[SEAL_MAGICLEN + KME_IDMAX];
	unsigned long long plen = 0;
	struct qm_reader r;
	struct stat st;
	size_t adlen, hdr = SEAL_MAGICLEN +
	                    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
	uint32_t nlinks;
	enum qm_err rc = QM_OK;

	qm_buf_init(&file, STATE_MAX);
	qm_buf_init_secure(&plain, STATE_MAX);
	if (stat(k->state_path, &st) != 0)
		goto out; /* first start: empty pools */
	if ((rc = qm_file_read(k->state_path, STATE_MAX, &file, err)))
		goto out;
	if (file.len < hdr + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
	    memcmp(file.data, SEAL_MAGIC, SEAL_MAGICLEN) != 0) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "not a sealed qkme pool file");
		goto out;
	}
	memcpy(ad, SEAL_MAGIC, SEAL_MAGICLEN);
	adlen = strlen(k->conf.id);
	memcpy(ad + SEAL_MAGICLEN, k->conf.id, adlen);
	adlen += SEAL_MAGICLEN;
	if ((rc = qm_buf_reserve(&plain, file.len - hdr, err)))
		goto out;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(
		    plain.data, &plen, NULL, file.data + hdr, file.len - hdr,
		    ad, adlen, file.data + SEAL_MAGICLEN, k->store_key) != 0) {
		rc = qm_error_set(err, QM_ERR_AUTH,
		                  "cannot open the sealed pools: wrong store "
		                  "key, another KME's file, or the file was "
		                  "altered");
		goto out;
	}
	plain.len = (size_t)plen;
	qm_reader_init(&r, plain.data, plain.len);
	{
		const unsigned char *m;
		if (qm_reader_bytes(&r, 4, &m) || memcmp(m, "QKS2", 4) ||
		    qm_reader_u32(&r, &nlinks)) {
			rc = qm_error_set(err, QM_ERR_PARSE,
			                  "unknown pool format");
			goto out;
		}
	}
	for (uint32_t i = 0; i < nlinks; i++)
		if ((rc = get_link(k, &r, err)))
			goto out;
	rc = kme_relay_restore(k, &r, err);
out:
	qm_buf_free(&file);
	qm_buf_free(&plain);
	if (rc)
		qm_error_prefix(err, "loading the key pools from %s: ",
		                k->state_path);
	return rc;
}

/* ------------------------------------------------------------ leases */

static void side_path(struct qm_kme *k, const char *what, struct kme_link *l,
                      char *out, size_t n)
{
	snprintf(out, n, "%s/%s-%s", k->conf.state_dir, what, l->peer->id);
}

/* Makes a rename in the state folder durable (a power loss after the
 * rename must not bring the old file back). */
static enum qm_err dir_sync(const char *dir, struct qm_error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int bad;

	if (fd < 0)
		return qm_error_set(err, QM_ERR_IO, "cannot open %s: %s", dir,
		                    strerror(errno));
	bad = fsync(fd) != 0;
	close(fd);
	if (bad)
		return qm_error_set(err, QM_ERR_IO, "cannot sync %s: %s", dir,
		                    strerror(errno));
	return QM_OK;
}

static enum qm_err write_numbers(struct qm_kme *k, const char *path,
                                 const char *text, struct qm_error *err)
{
	enum qm_err rc = qm_file_write_atomic(path, text, strlen(text), 0600,
	                                      err);

	if (!rc)
		rc = dir_sync(k->conf.state_dir, err);
	if (rc)
		qm_error_prefix(err, "recording the pool's allocation limit "
		                     "in %s: ",
		                path);
	return rc;
}

/* Up to two numbers from path; *count 0 when the file does not exist. */
static enum qm_err read_numbers(const char *path, uint64_t v[2], int *count,
                                struct qm_error *err)
{
	struct qm_buf b;
	struct stat st;
	const char *p;
	enum qm_err rc;

	*count = 0;
	v[0] = v[1] = 0;
	if (stat(path, &st) != 0)
		return QM_OK;
	qm_buf_init(&b, 128);
	if ((rc = qm_file_read(path, 128, &b, err)))
		goto out;
	for (p = b.data ? (const char *)b.data : "";;) {
		char *end;
		unsigned long long x;

		while (*p == ' ' || *p == '\n')
			p++;
		if (!*p)
			break;
		errno = 0;
		x = *p >= '0' && *p <= '9' ? strtoull(p, &end, 10) : 0;
		if (*p < '0' || *p > '9' || errno || x > (1ULL << 62) ||
		    *count == 2 || (*end && *end != ' ' && *end != '\n')) {
			rc = qm_error_set(err, QM_ERR_PARSE,
			                  "%s does not hold offsets", path);
			goto out;
		}
		v[(*count)++] = (uint64_t)x;
		p = end;
	}
	if (*count == 0)
		rc = qm_error_set(err, QM_ERR_PARSE, "%s is empty", path);
out:
	qm_buf_free(&b);
	return rc;
}

enum qm_err kme_lease_write(struct qm_kme *k, struct kme_link *l,
                            uint64_t asked, uint64_t granted,
                            struct qm_error *err)
{
	char path[700], text[64];
	enum qm_err rc;

	side_path(k, "lease", l, path, sizeof(path));
	snprintf(text, sizeof(text), "%llu %llu\n", (unsigned long long)asked,
	         (unsigned long long)granted);
	rc = write_numbers(k, path, text, err);
	if (!rc) {
		pthread_mutex_lock(&l->lock);
		l->lease_asked = asked;
		l->lease_granted = granted;
		pthread_mutex_unlock(&l->lock);
	}
	return rc;
}

enum qm_err kme_grant_write(struct qm_kme *k, struct kme_link *l, uint64_t v,
                            struct qm_error *err)
{
	char path[700], text[32];
	enum qm_err rc;

	side_path(k, "grant", l, path, sizeof(path));
	snprintf(text, sizeof(text), "%llu\n", (unsigned long long)v);
	rc = write_numbers(k, path, text, err);
	if (!rc) {
		pthread_mutex_lock(&l->lock);
		l->grant_given = v;
		pthread_mutex_unlock(&l->lock);
	}
	return rc;
}

enum qm_err kme_lease_load(struct qm_kme *k, struct kme_link *l,
                           struct qm_error *err)
{
	char path[700];
	uint64_t v[2], g[2];
	int n, ng;
	struct stat st;
	enum qm_err rc;

	side_path(k, "lease", l, path, sizeof(path));
	if ((rc = read_numbers(path, v, &n, err)))
		return rc;
	if (n == 0) {
		/* no lease: a first start, or a state_dir that lost the file
		 * (then the peer's record decides, before any key is served) */
		if (l->own.next && stat(k->state_path, &st) == 0)
			qm_log(QM_LOG_WARN,
			       "link %s: %s is missing although pools were "
			       "saved; no key of this link is served until "
			       "the peer has confirmed how far it was used",
			       l->peer->id, path);
		v[0] = l->own.next;
		v[1] = 0;
	} else if (n == 1) {
		v[1] = 0; /* written by an older qkme: nothing was granted */
	}
	if (v[0] > l->own.next) {
		qm_log(QM_LOG_WARN,
		       "link %s: the last stop was not clean; skipping %llu "
		       "bytes of key that may have been handed out",
		       l->peer->id,
		       (unsigned long long)(v[0] - l->own.next));
		kme_kstream_skip(&l->own, v[0]);
		kme_mark_dirty(k);
	}
	l->lease_asked = v[0];
	l->lease_granted = v[1] <= v[0] ? v[1] : v[0];
	side_path(k, "grant", l, path, sizeof(path));
	if ((rc = read_numbers(path, g, &ng, err)))
		return rc;
	l->grant_given = g[0];
	l->granted = 0;   /* nothing until the peer has confirmed */
	l->confirmed = 0;
	return QM_OK;
}
