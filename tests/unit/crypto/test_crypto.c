/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the crypto layer: round trips at every level and size with
 * several recipients, the buffer and stream interfaces, tampering with every
 * part of the envelope and every bound header, truncation, appended bytes,
 * reordered chunks, swapped key IDs, level-1 key accounting, size limits,
 * random and mutated envelopes, and identities (export, import, armour,
 * signatures).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/private.h"
#include "kit.h"

#define MiB    (1024u * 1024u)
#define ENVMAX (200u * MiB)

static int is_failure(enum qm_err rc)
{
	return rc == QM_ERR_AUTH || rc == QM_ERR_PARSE ||
	       rc == QM_ERR_UNSUPPORTED || rc == QM_ERR_NOTFOUND;
}

/* Seals n pattern bytes at the kit's level and opens as every recipient. */
static void roundtrip(int level, size_t nrcpt, int shared, size_t n,
                      size_t keylen)
{
	struct kit k;
	struct qm_buf env, out;
	struct qm_error e;
	unsigned char *pt = malloc(n ? n : 1);
	enum qm_err rc;

	kit_pattern(pt, n, (uint32_t)(n + (size_t)level));
	kit_init(&k, level, nrcpt, shared, n, keylen);
	qm_buf_init(&env, ENVMAX);
	rc = kit_seal(&k, pt, n, &env, &e);
	if (rc)
		fail_msg("level %d, %zu bytes: seal: %s", level, n,
		         qm_error_msg(&e));
	for (size_t r = 0; r < nrcpt; r++) {
		qm_buf_init_secure(&out, n + 1);
		rc = kit_open(&k, env.data, env.len, r, NULL, &out, &e);
		if (rc)
			fail_msg("level %d, %zu bytes, recipient %zu: open: %s",
			         level, n, r, qm_error_msg(&e));
		assert_int_equal(out.len, n);
		assert_true(n == 0 || memcmp(out.data, pt, n) == 0);
		qm_buf_free(&out);
	}
	qm_buf_free(&env);
	kit_free(&k);
	free(pt);
}

static const size_t sizes[] = {0, 1, 1024, MiB, 25 * MiB};

static void test_roundtrip_l1(void **state)
{
	(void)state;
	for (size_t i = 0; i < 5; i++) {
		/* 1 MiB with 128-byte keys: thousands of key IDs. */
		size_t kl = sizes[i] == MiB ? 128 : sizes[i] > MiB ? MiB : 1024;
		roundtrip(1, 3, 0, sizes[i], kl);
		roundtrip(1, 2, 1, sizes[i], kl);
	}
}

static void test_roundtrip_l2(void **state)
{
	(void)state;
	for (size_t i = 0; i < 5; i++) {
		roundtrip(2, 3, 0, sizes[i], 0);
		roundtrip(2, 2, 1, sizes[i], 0);
	}
}

static void test_roundtrip_l3(void **state)
{
	(void)state;
	for (size_t i = 0; i < 5; i++)
		roundtrip(3, 3, 0, sizes[i], 0);
}

static void test_roundtrip_l4(void **state)
{
	(void)state;
	for (size_t i = 0; i < 5; i++)
		roundtrip(4, 3, 0, sizes[i], 0);
}

/* A reader over a buffer that hands out odd-sized pieces. */
struct rd {
	const unsigned char *p;
	size_t n, off, piece;
};

static enum qm_err rd_fn(void *arg, void *buf, size_t want, size_t *got,
                         struct qm_error *err)
{
	struct rd *r = arg;
	size_t m = r->n - r->off;

	(void)err;
	if (m > want)
		m = want;
	if (m > r->piece)
		m = r->piece;
	memcpy(buf, r->p + r->off, m);
	r->off += m;
	*got = m;
	return QM_OK;
}

static enum qm_err wr_fn(void *arg, const void *buf, size_t len,
                         struct qm_error *err)
{
	return qm_buf_append(arg, buf, len, err);
}

/* An envelope sink that keeps the bytes and the largest piece given. */
struct sinkrec {
	struct qm_buf b;
	size_t calls, largest;
};

static enum qm_err sink_fn(void *arg, const void *buf, size_t len,
                           struct qm_error *err)
{
	struct sinkrec *k = arg;

	k->calls++;
	if (len > k->largest)
		k->largest = len;
	return qm_buf_append(&k->b, buf, len, err);
}

/*
 * qm_crypto_env_seal_to at every level, one and two recipients: the
 * envelope comes out in pieces no larger than a sealed chunk (but for
 * level 1 with two slots, built whole), and opens with the ordinary
 * opener for every recipient; a plaintext that ends early fails; a limit
 * below the envelope's size is QM_ERR_TOOBIG.
 */
static void test_seal_to(void **state)
{
	const size_t n = 5 * QM_ENV_CHUNK + 333;
	unsigned char *pt = malloc(n);

	(void)state;
	kit_pattern(pt, n, 11);
	for (int level = 1; level <= 4; level++) {
		for (size_t nr = 1; nr <= 2; nr++) {
			struct kit k;
			struct qm_seal_params sp = {0};
			struct rd r = {pt, n, 0, 777};
			struct sinkrec sk;
			struct qm_buf out;
			struct qm_error e;

			kit_init(&k, level, nr, 0, n, 4096);
			sp.level = level;
			sp.bound = &k.bound;
			sp.slots = k.slots;
			sp.nslots = k.nslots;
			sp.sender = kit_sender();
			sp.rcpts = k.rpub;
			sp.nrcpts = level >= 3 ? nr : 0;
			memset(&sk, 0, sizeof(sk));
			qm_buf_init(&sk.b, ENVMAX);
			assert_int_equal(
			    qm_crypto_env_seal_to(&sp, n, rd_fn, &r, ENVMAX,
			                          sink_fn, &sk, &e),
			    QM_OK);
			/* its length was known before (streamed APPEND) */
			{
				uint64_t sz = 0;

				assert_int_equal(
				    qm_crypto_env_size(&sp, n, &sz, &e), QM_OK);
				assert_int_equal(sz, sk.b.len);
			}
			if (level > 1 || nr == 1) {
				assert_true(sk.calls > 5);
				assert_true(sk.largest <= QM_ENV_CHUNK + 16 ||
				            sk.largest < 16384);
			}
			for (size_t i = 0; i < nr; i++) {
				qm_buf_init_secure(&out, n);
				assert_int_equal(kit_open(&k, sk.b.data,
				                          sk.b.len, i, NULL,
				                          &out, &e),
				                 QM_OK);
				assert_int_equal(out.len, n);
				assert_memory_equal(out.data, pt, n);
				qm_buf_free(&out);
			}
			/* one byte flipped anywhere: refused */
			sk.b.data[sk.b.len / 2] ^= 1;
			qm_buf_init_secure(&out, n);
			assert_int_not_equal(kit_open(&k, sk.b.data, sk.b.len,
			                              0, NULL, &out, &e),
			                     QM_OK);
			qm_buf_free(&out);
			/* the plaintext ends early */
			qm_buf_reset(&sk.b);
			r.off = 0;
			r.n = n - 1;
			assert_int_equal(
			    qm_crypto_env_seal_to(&sp, n, rd_fn, &r, ENVMAX,
			                          sink_fn, &sk, &e),
			    QM_ERR_IO);
			/* a limit below the size */
			qm_buf_reset(&sk.b);
			r.off = 0;
			r.n = n;
			assert_int_equal(qm_crypto_env_seal_to(&sp, n, rd_fn,
			                                       &r, n, sink_fn,
			                                       &sk, &e),
			                 QM_ERR_TOOBIG);
			qm_buf_free(&sk.b);
			kit_free(&k);
		}
	}
	free(pt);
}

static void test_stream(void **state)
{
	const size_t n = 200000;
	unsigned char *pt = malloc(n);

	(void)state;
	kit_pattern(pt, n, 7);
	for (int level = 1; level <= 4; level++) {
		struct kit k;
		struct qm_buf env, out;
		struct qm_error e;
		struct qm_env *pe = NULL;
		struct qm_open_params op = {0};
		struct qm_seal_params sp = {0};
		struct rd r = {pt, n, 0, 1000};
		unsigned char fpr[QM_FPR_BYTES];
		char ft[QM_FPR_TEXTLEN];
		size_t slot;

		kit_init(&k, level, 2, 0, n, 4096);
		sp.level = level;
		sp.bound = &k.bound;
		sp.slots = k.slots;
		sp.nslots = k.nslots;
		sp.sender = kit_sender();
		sp.rcpts = k.rpub;
		sp.nrcpts = level >= 3 ? 2 : 0;
		qm_buf_init(&env, ENVMAX);
		assert_int_equal(
		    qm_crypto_env_seal_stream(&sp, n, rd_fn, &r, &env, &e),
		    QM_OK);
		/* The stream must end where it said it would. */
		r.off = 0;
		r.n = n - 1;
		{
			struct qm_buf env2;
			qm_buf_init(&env2, ENVMAX);
			assert_int_equal(qm_crypto_env_seal_stream(
			                     &sp, n, rd_fn, &r, &env2, &e),
			                 QM_ERR_IO);
			assert_int_equal(env2.len, 0);
			qm_buf_free(&env2);
		}
		assert_int_equal(
		    qm_crypto_env_parse(env.data, env.len, &pe, &e), QM_OK);
		assert_int_equal(qm_crypto_env_level(pe), level);
		assert_int_equal(qm_crypto_env_plaintext_len(pe), n);
		if (level >= 3) {
			qm_crypto_pubid_fingerprint(k.rpub[1], fpr);
			qm_crypto_fpr_text(fpr, ft);
			assert_int_equal(
			    qm_crypto_env_slot_find(pe, ft, &slot, &e), QM_OK);
		} else {
			assert_int_equal(
			    qm_crypto_env_slot_find(pe, "sae-r1", &slot, &e),
			    QM_OK);
			op.keys = k.keys[1];
			op.nkeys = k.nkeys[1];
		}
		assert_int_equal(slot, 1);
		op.bound = &k.bound;
		op.slot = slot;
		op.self = kit_rid(1);
		op.sender = kit_sender_pub();
		qm_buf_init_secure(&out, n);
		assert_int_equal(
		    qm_crypto_env_open_stream(pe, &op, n, wr_fn, &out, &e),
		    QM_OK);
		assert_int_equal(out.len, n);
		assert_memory_equal(out.data, pt, n);
		/* A limit below the size: refused before any byte. */
		qm_buf_reset(&out);
		assert_int_equal(
		    qm_crypto_env_open_stream(pe, &op, n - 1, wr_fn, &out, &e),
		    QM_ERR_TOOBIG);
		assert_int_equal(out.len, 0);
		qm_buf_free(&out);
		qm_crypto_env_free(&pe);
		/* A flipped last byte of the body: the writer sees nothing
		 * although the first chunks are intact. */
		assert_int_equal(
		    qm_crypto_env_parse(env.data, env.len, &pe, &e), QM_OK);
		env.data[pe->trailer_off - 1] ^= 1;
		qm_buf_init_secure(&out, n);
		assert_int_equal(
		    qm_crypto_env_open_stream(pe, &op, n, wr_fn, &out, &e),
		    QM_ERR_AUTH);
		assert_int_equal(out.len, 0);
		qm_buf_free(&out);
		qm_crypto_env_free(&pe);
		qm_buf_free(&env);
		kit_free(&k);
	}
	free(pt);
}

/* Opens a tampered copy as recipient r; it must fail with no plaintext. */
static enum qm_err open_expect_fail(struct kit *k, const unsigned char *p,
                                    size_t n, size_t r,
                                    const struct qm_bound *b, const char *what,
                                    size_t pos)
{
	struct qm_buf out;
	struct qm_error e;
	enum qm_err rc;

	qm_buf_init_secure(&out, 64 * MiB);
	rc = kit_open(k, p, n, r, b, &out, &e);
	if (rc == QM_OK || !is_failure(rc) || out.len != 0)
		fail_msg("level %d: %s at %zu: rc %d (%s), %zu bytes out",
		         k->level, what, pos, rc, qm_error_msg(&e), out.len);
	qm_buf_free(&out);
	return rc;
}

/* Flips bytes in every part of the envelope. */
static void tamper_level(int level)
{
	const size_t n = 150000; /* three chunks */
	unsigned char *pt = malloc(n), *c;
	struct kit k;
	struct qm_buf env, out;
	struct qm_error e;
	struct qm_env *pe = NULL;
	size_t hdr, toff, body_per_slot;

	kit_pattern(pt, n, 3);
	kit_init(&k, level, 2, 0, n, 50000);
	qm_buf_init(&env, ENVMAX);
	assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
	assert_int_equal(qm_crypto_env_parse(env.data, env.len, &pe, &e),
	                 QM_OK);
	hdr = pe->hdrlen;
	toff = pe->trailer_off;
	qm_crypto_env_free(&pe);
	body_per_slot = level == 1 ? n : toff - hdr;
	c = malloc(env.len);
	/* Header: every byte (every 5th inside the 1120-byte KEM
	 * ciphertexts of level 3), flipped by 0x01 or 0xff in turn. */
	for (size_t i = 0; i < hdr; i += level == 3 && i > 200 ? 5 : 1) {
		memcpy(c, env.data, env.len);
		c[i] ^= i % 2 ? 0xff : 0x01;
		open_expect_fail(&k, c, env.len, 0, NULL, "header", i);
	}
	/* Body (ciphertext and chunk tags) and trailer (tags, signature):
	 * the recipient whose slot holds the byte opens (level 1 keeps one
	 * ciphertext per slot). */
	for (size_t i = hdr; i < env.len; i += i < hdr + 64 || i + 64 > env.len
	                                           ? 1
	                                       : i < toff      ? 997
	                                       : i < toff + 80 ? 1
	                                                       : 7) {
		size_t r = 0;
		enum qm_err rc;

		if (level == 1)
			r = i < toff ? (i - hdr) / body_per_slot
			             : (i - toff) / QM_L1_TAGBYTES;
		if (level == 2 && i >= toff) /* per-slot MACs */
			r = (i - toff) / QM_L1_TAGBYTES;
		memcpy(c, env.data, env.len);
		c[i] ^= 0x20;
		rc = open_expect_fail(&k, c, env.len, r, NULL, "body/trailer",
		                      i);
		assert_int_equal(rc,
		                 i >= toff + 2 || i < toff ? QM_ERR_AUTH : rc);
	}
	/* The untouched envelope still opens for both. */
	for (size_t r = 0; r < 2; r++) {
		qm_buf_init_secure(&out, n);
		assert_int_equal(
		    kit_open(&k, env.data, env.len, r, NULL, &out, &e), QM_OK);
		assert_memory_equal(out.data, pt, n);
		qm_buf_free(&out);
	}
	free(c);
	qm_buf_free(&env);
	kit_free(&k);
	free(pt);
}

static void test_tamper_l1(void **state)
{
	(void)state;
	tamper_level(1);
}

static void test_tamper_l2(void **state)
{
	(void)state;
	tamper_level(2);
}

static void test_tamper_l3(void **state)
{
	(void)state;
	tamper_level(3);
}

static void test_tamper_l4(void **state)
{
	(void)state;
	tamper_level(4);
}

/* Every bound header value, changed, fails; the To/Cc order does not. */
static void test_bound_headers(void **state)
{
	(void)state;
	for (int level = 1; level <= 4; level++) {
		struct kit k;
		struct qm_buf env, out;
		struct qm_error e;
		struct qm_bound b;
		const char *rc3[3], *rc1[2];
		unsigned char pt[100];

		kit_pattern(pt, sizeof(pt), 9);
		kit_init(&k, level, 2, 0, sizeof(pt), 0);
		qm_buf_init(&env, ENVMAX);
		assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e), QM_OK);
#define TRY(field, value)                                                      \
	do {                                                                   \
		b = k.bound;                                                   \
		b.field = value;                                               \
		assert_int_equal(                                              \
		    open_expect_fail(&k, env.data, env.len, 0, &b, #field, 0), \
		    QM_ERR_AUTH);                                              \
	} while (0)
		TRY(from, "mallory@example.org");
		TRY(from, "Alice@example.org");
		TRY(message_id, "<1234.5679@example.org>");
		TRY(date, "Fri, 27 Nov 2026 19:00:01 +0000");
		TRY(sender_sae, "sae-mallory");
		rc1[0] = k.addrs[0];
		rc1[1] = k.addrs[0];
		TRY(rcpts, rc1);
		b = k.bound;
		b.nrcpts = 1;
		assert_int_equal(open_expect_fail(&k, env.data, env.len, 0, &b,
		                                  "fewer rcpts", 0),
		                 QM_ERR_AUTH);
		rc3[0] = k.addrs[0];
		rc3[1] = k.addrs[1];
		rc3[2] = "eve@example.org";
		b = k.bound;
		b.rcpts = rc3;
		b.nrcpts = 3;
		assert_int_equal(open_expect_fail(&k, env.data, env.len, 0, &b,
		                                  "more rcpts", 0),
		                 QM_ERR_AUTH);
		rc3[0] = k.addrs[1];
		rc3[1] = "rcpt9@example.org";
		b.nrcpts = 2;
		assert_int_equal(open_expect_fail(&k, env.data, env.len, 0, &b,
		                                  "other rcpt", 0),
		                 QM_ERR_AUTH);
#undef TRY
		/* Same set, other order: opens. */
		rc3[0] = k.addrs[1];
		rc3[1] = k.addrs[0];
		b = k.bound;
		b.rcpts = rc3;
		b.sender_sae = NULL; /* take the envelope's */
		qm_buf_init_secure(&out, 1000);
		assert_int_equal(
		    kit_open(&k, env.data, env.len, 1, &b, &out, &e), QM_OK);
		assert_memory_equal(out.data, pt, sizeof(pt));
		qm_buf_free(&out);
		qm_buf_free(&env);
		kit_free(&k);
	}
}

static void test_truncate_append(void **state)
{
	(void)state;
	for (int level = 1; level <= 4; level++) {
		const size_t n = 70000;
		unsigned char *pt = malloc(n), *c;
		struct kit k;
		struct qm_buf env;
		struct qm_error e;

		kit_pattern(pt, n, 11);
		kit_init(&k, level, 1, 0, n, 0);
		qm_buf_init(&env, ENVMAX);
		assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
		c = malloc(env.len + 100);
		memcpy(c, env.data, env.len);
		for (size_t len = 0; len < env.len;
		     len += len < 4000 || len + 200 > env.len ? 1 : 331) {
			struct qm_env *pe = NULL;
			enum qm_err rc = qm_crypto_env_parse(c, len, &pe, &e);
			if (rc == QM_OK)
				fail_msg("level %d: truncated to %zu parsed",
				         level, len);
			assert_true(rc == QM_ERR_PARSE);
			assert_null(pe);
		}
		for (size_t extra = 1; extra <= 100; extra += 33) {
			struct qm_env *pe = NULL;
			c[env.len + extra - 1] = 0;
			assert_int_equal(
			    qm_crypto_env_parse(c, env.len + extra, &pe, &e),
			    QM_ERR_PARSE);
			assert_non_null(strstr(e.msg, "appended"));
		}
		free(c);
		qm_buf_free(&env);
		kit_free(&k);
		free(pt);
	}
}

/* Chunks swapped, or the last chunk dropped with the length field edited
 * to match: both fail. */
static void test_reorder_chunks(void **state)
{
	(void)state;
	for (int level = 2; level <= 4; level++) {
		const size_t n = 3 * QM_ENV_CHUNK, cl = QM_ENV_CHUNK + 16;
		unsigned char *pt = malloc(n), *c, *tmp = malloc(cl);
		struct kit k;
		struct qm_buf env;
		struct qm_error e;
		struct qm_env *pe = NULL;
		size_t hdr, len;

		kit_pattern(pt, n, 12);
		kit_init(&k, level, 1, 0, n, 0);
		qm_buf_init(&env, ENVMAX);
		assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
		assert_int_equal(
		    qm_crypto_env_parse(env.data, env.len, &pe, &e), QM_OK);
		hdr = pe->hdrlen;
		qm_crypto_env_free(&pe);
		c = malloc(env.len);
		for (size_t a = 0; a < 3; a++) {
			size_t b = (a + 1) % 3;
			memcpy(c, env.data, env.len);
			memcpy(tmp, c + hdr + a * cl, cl);
			memcpy(c + hdr + a * cl, c + hdr + b * cl, cl);
			memcpy(c + hdr + b * cl, tmp, cl);
			assert_int_equal(open_expect_fail(&k, c, env.len, 0,
			                                  NULL, "swap", a),
			                 QM_ERR_AUTH);
		}
		/* Drop the last chunk, edit plen (offset 12) to 2 chunks,
		 * keep the signature (levels 3 and 4) after it. */
		memcpy(c, env.data, hdr + 2 * cl);
		len = hdr + 2 * cl;
		memcpy(c + len, env.data + hdr + 3 * cl,
		       env.len - hdr - 3 * cl);
		len += env.len - hdr - 3 * cl;
		c[12 + 5] = 0x02; /* 3 * 65536 = 0x030000 -> 0x020000 */
		assert_int_equal(
		    open_expect_fail(&k, c, len, 0, NULL, "drop last", 0),
		    QM_ERR_AUTH);
		free(c);
		free(tmp);
		qm_buf_free(&env);
		kit_free(&k);
		free(pt);
	}
}

/* Finds needle in hay; its offset or SIZE_MAX. */
static size_t find(const unsigned char *hay, size_t n, const char *needle)
{
	size_t l = strlen(needle);

	for (size_t i = 0; i + l <= n; i++)
		if (memcmp(hay + i, needle, l) == 0)
			return i;
	return SIZE_MAX;
}

static void test_swap_key_ids(void **state)
{
	const size_t n = 10000;
	unsigned char *pt = malloc(n), *c;
	struct kit k;
	struct qm_buf env;
	struct qm_error e;
	size_t a, b, l;

	(void)state;
	kit_pattern(pt, n, 13);
	/* Level 1: keys 0 and 1 of a slot swapped in the envelope. */
	kit_init(&k, 1, 2, 0, n, 1000);
	qm_buf_init(&env, ENVMAX);
	assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
	c = malloc(env.len);
	memcpy(c, env.data, env.len);
	a = find(c, env.len, k.keys[0][0].key_id);
	b = find(c, env.len, k.keys[0][1].key_id);
	l = strlen(k.keys[0][0].key_id);
	assert_true(a != SIZE_MAX && b != SIZE_MAX);
	memcpy(c + a, k.keys[0][1].key_id, l);
	memcpy(c + b, k.keys[0][0].key_id, l);
	assert_int_equal(open_expect_fail(&k, c, env.len, 0, NULL, "swap", a),
	                 QM_ERR_AUTH);
	/* Level 1: the key IDs of the two slots exchanged. */
	memcpy(c, env.data, env.len);
	a = find(c, env.len, k.keys[0][0].key_id);
	b = find(c, env.len, k.keys[1][0].key_id);
	memcpy(c + a, k.keys[1][0].key_id, l);
	memcpy(c + b, k.keys[0][0].key_id, l);
	assert_int_equal(open_expect_fail(&k, c, env.len, 0, NULL, "xslot", a),
	                 QM_ERR_AUTH);
	free(c);
	qm_buf_free(&env);
	kit_free(&k);
	/* Level 2: the two recipients' key IDs exchanged. */
	kit_init(&k, 2, 2, 0, n, 0);
	qm_buf_init(&env, ENVMAX);
	assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
	c = malloc(env.len);
	memcpy(c, env.data, env.len);
	a = find(c, env.len, k.keys[0][0].key_id);
	b = find(c, env.len, k.keys[1][0].key_id);
	memcpy(c + a, k.keys[1][0].key_id, l);
	memcpy(c + b, k.keys[0][0].key_id, l);
	for (size_t r = 0; r < 2; r++)
		assert_int_equal(
		    open_expect_fail(&k, c, env.len, r, NULL, "l2 swap", r),
		    QM_ERR_AUTH);
	free(c);
	qm_buf_free(&env);
	kit_free(&k);
	free(pt);
}

/* Level 1 uses each key byte once: pad, then MAC key, in key-ID order. */
static void test_l1_key_use(void **state)
{
	const size_t n = 5000;
	unsigned char pt[5000], *kb, tag[16], ad[64], idx[2] = {0, 0};
	struct kit k;
	struct qm_buf env, out;
	struct qm_error e;
	struct qm_env *pe = NULL;
	struct qm_qslot s;
	crypto_onetimeauth_state st;

	(void)state;
	assert_int_equal(qm_crypto_l1_key_bytes(0), 32);
	assert_int_equal(qm_crypto_l1_key_bytes(1000), 1032);
	assert_true(qm_crypto_l1_key_bytes(UINT64_MAX - 3) == UINT64_MAX);
	kit_pattern(pt, n, 14);
	kit_init(&k, 1, 1, 0, n, 700);
	kb = k.mat[0];
	qm_buf_init(&env, ENVMAX);
	assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
	assert_int_equal(qm_crypto_env_parse(env.data, env.len, &pe, &e),
	                 QM_OK);
	assert_int_equal(qm_crypto_env_slot_key_count(pe, 0), k.nkeys[0]);
	for (size_t i = 0; i < k.nkeys[0]; i++)
		assert_string_equal(qm_crypto_env_slot_key_id(pe, 0, i),
		                    k.keys[0][i].key_id);
	assert_null(qm_crypto_env_slot_key_id(pe, 0, k.nkeys[0]));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(env.data[pe->hdrlen + i] ^ pt[i], kb[i]);
	/* The tag is Poly1305 keyed by the 32 bytes after the pad. */
	crypto_env_header_hash(env.data, pe->hdrlen, ad);
	assert_int_equal(
	    crypto_env_bound_hash(&k.bound, 1, 1, "sae-alice", ad + 32, &e),
	    QM_OK);
	crypto_onetimeauth_init(&st, kb + n);
	crypto_onetimeauth_update(&st, ad, 64);
	crypto_onetimeauth_update(&st, idx, 2);
	crypto_onetimeauth_update(&st, env.data + pe->hdrlen, n);
	crypto_onetimeauth_final(&st, tag);
	assert_memory_equal(tag, env.data + pe->trailer_off, 16);
	qm_crypto_env_free(&pe);
	qm_buf_free(&env);

	/* One byte short: refused, saying what is needed and available. */
	s = k.slots[0];
	k.keys[0][k.nkeys[0] - 1].len -= k.extra + 1;
	qm_buf_init(&env, ENVMAX);
	assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_ERR_UNAVAIL);
	assert_non_null(strstr(e.msg, "needs 5032 bytes"));
	assert_non_null(strstr(e.msg, "only 5031 are available"));
	assert_int_equal(env.len, 0);
	/* Exactly enough: works; opening with one byte short does not. */
	k.keys[0][k.nkeys[0] - 1].len += 1;
	assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
	k.keys[0][k.nkeys[0] - 1].len -= 1;
	qm_buf_init_secure(&out, n);
	assert_int_equal(kit_open(&k, env.data, env.len, 0, NULL, &out, &e),
	                 QM_ERR_UNAVAIL);
	assert_int_equal(out.len, 0);
	k.keys[0][k.nkeys[0] - 1].len += 1;
	assert_int_equal(kit_open(&k, env.data, env.len, 0, NULL, &out, &e),
	                 QM_OK);
	assert_memory_equal(out.data, pt, n);
	qm_buf_free(&out);
	qm_buf_reset(&env);
	/* A key not needed at all is refused (it would be wasted). */
	k.keys[0][k.nkeys[0] - 1].len += k.extra;
	k.slots[0].nkeys = k.nkeys[0];
	{
		struct qm_qkey more[64];
		memcpy(more, k.keys[0], k.nkeys[0] * sizeof(*more));
		more[k.nkeys[0]] = more[0];
		more[k.nkeys[0]].key_id =
		    "ffffffff-0000-4000-8000-000000000000";
		k.slots[0].keys = more;
		k.slots[0].nkeys = k.nkeys[0] + 1;
		assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_ERR_INVAL);
		assert_non_null(strstr(e.msg, "not needed"));
		/* The same key ID twice. */
		more[1].key_id = more[0].key_id;
		k.slots[0].nkeys = k.nkeys[0];
		assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_ERR_INVAL);
		assert_non_null(strstr(e.msg, "twice"));
		/* Malformed key IDs. */
		more[1].key_id = "a,b";
		assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_ERR_INVAL);
		more[1].key_id = "";
		assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_ERR_INVAL);
	}
	k.slots[0] = s;
	qm_buf_free(&env);
	kit_free(&k);

	/* Two slots may not share a key ID. */
	kit_init(&k, 1, 2, 0, 100, 0);
	k.keys[1][0].key_id = k.keys[0][0].key_id;
	qm_buf_init(&env, ENVMAX);
	assert_int_equal(kit_seal(&k, pt, 100, &env, &e), QM_ERR_INVAL);
	qm_buf_free(&env);
	kit_free(&k);
}

static void test_wrong_keys(void **state)
{
	unsigned char pt[3000];
	struct kit k;
	struct qm_buf env, out;
	struct qm_error e;
	struct qm_env *pe = NULL;
	struct qm_open_params op = {0};
	struct qm_identity *other = NULL;
	struct qm_pubid *opub = NULL;

	(void)state;
	kit_pattern(pt, sizeof(pt), 15);
	/* Level 2 with the wrong key bytes. */
	kit_init(&k, 2, 1, 0, sizeof(pt), 0);
	qm_buf_init(&env, ENVMAX);
	assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e), QM_OK);
	k.mat[0][0] ^= 1;
	assert_int_equal(
	    open_expect_fail(&k, env.data, env.len, 0, NULL, "wrong key", 0),
	    QM_ERR_AUTH);
	/* Level 2 needs exactly 256 bits. */
	k.keys[0][0].len = 31;
	qm_buf_reset(&env);
	assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e), QM_ERR_INVAL);
	qm_buf_free(&env);
	kit_free(&k);

	/* Level 3: another sender key, another recipient. */
	assert_int_equal(qm_crypto_identity_new(&other, &e), QM_OK);
	assert_int_equal(qm_crypto_identity_public(other, &opub, &e), QM_OK);
	for (int level = 3; level <= 4; level++) {
		kit_init(&k, level, 1, 0, sizeof(pt), 0);
		qm_buf_init(&env, ENVMAX);
		assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e), QM_OK);
		assert_int_equal(
		    qm_crypto_env_parse(env.data, env.len, &pe, &e), QM_OK);
		op.bound = &k.bound;
		op.slot = 0;
		op.self = kit_rid(0);
		op.sender = opub;
		qm_buf_init_secure(&out, sizeof(pt));
		assert_int_equal(qm_crypto_env_open(pe, &op, &out, &e),
		                 QM_ERR_AUTH);
		assert_non_null(strstr(e.msg, "not the sender key"));
		op.sender = kit_sender_pub();
		op.self = other;
		assert_int_equal(qm_crypto_env_open(pe, &op, &out, &e),
		                 QM_ERR_NOTFOUND);
		assert_int_equal(out.len, 0);
		op.self = kit_rid(0);
		assert_int_equal(qm_crypto_env_open(pe, &op, &out, &e), QM_OK);
		assert_memory_equal(out.data, pt, sizeof(pt));
		assert_int_equal(
		    qm_crypto_env_slot_find(pe, "nobody", &op.slot, &e),
		    QM_ERR_NOTFOUND);
		assert_memory_equal(qm_crypto_env_sender_fpr(pe),
		                    pe->sender_fpr, QM_FPR_BYTES);
		qm_buf_free(&out);
		qm_crypto_env_free(&pe);
		qm_buf_free(&env);
		kit_free(&k);
	}
	qm_crypto_pubid_free(&opub);
	qm_crypto_identity_free(&other);
}

/* A co-recipient of a level-2 message knows the content key: it
 * re-encrypts a chunk under it, but the other recipient's one-time MAC (keyed
 * by a QKD key it does not have) refuses the result. */
static void test_l2_insider(void **state)
{
	const size_t n = 3000;
	unsigned char pt[3000], ad[64], cek[32], kek[32], dk[QM_DKBYTES];
	unsigned char iv[QM_GCM_IVBYTES], *c;
	struct kit k;
	struct qm_buf env, out;
	struct qm_error e;
	struct qm_env *pe = NULL;
	struct qm_gcm *g = NULL;
	const struct qm_envslot *sb;

	(void)state;
	kit_pattern(pt, n, 18);
	kit_init(&k, 2, 2, 0, n, 0);
	qm_buf_init(&env, ENVMAX);
	assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
	assert_int_equal(qm_crypto_env_parse(env.data, env.len, &pe, &e),
	                 QM_OK);
	c = malloc(env.len);
	memcpy(c, env.data, env.len);
	/* Recipient 1 (slot 1) takes the content key out of its slot ... */
	sb = &pe->slots[1];
	memcpy(ad, pe->hh, 32);
	assert_int_equal(
	    crypto_env_bound_hash(&k.bound, 1, 2, "sae-alice", ad + 32, &e),
	    QM_OK);
	assert_int_equal(crypto_env_kek(2, k.keys[1][0].key, 32, pe->salt, 1,
	                                sb->keyids[0], strlen(sb->keyids[0]),
	                                kek, &e),
	                 QM_OK);
	assert_int_equal(
	    crypto_env_unwrap(kek, ad + 32, 2, 1, sb->wrap, cek, &e), QM_OK);
	/* ... and re-encrypts the single chunk with other text. */
	assert_int_equal(crypto_env_data_key(cek, pe->salt, 2, dk, &e), QM_OK);
	assert_int_equal(crypto_gcm_new(dk, 1, &g, &e), QM_OK);
	crypto_env_chunk_iv(dk + 32, 0, 1, iv);
	memset(pt, 'X', 100);
	assert_int_equal(crypto_gcm_seal(g, iv, ad, 64, pt, n, c + pe->hdrlen,
	                                 c + pe->hdrlen + n, &e),
	                 QM_OK);
	crypto_gcm_free(&g);
	/* Without the per-slot MAC this would open for recipient 0. */
	assert_int_equal(
	    open_expect_fail(&k, c, env.len, 0, NULL, "insider", 0),
	    QM_ERR_AUTH);
	qm_buf_init_secure(&out, n);
	assert_int_equal(kit_open(&k, env.data, env.len, 0, NULL, &out, &e),
	                 QM_OK);
	qm_buf_free(&out);
	free(c);
	qm_crypto_env_free(&pe);
	qm_buf_free(&env);
	kit_free(&k);
}

static void test_limits(void **state)
{
	unsigned char pt[5000];

	(void)state;
	kit_pattern(pt, sizeof(pt), 16);
	for (int level = 1; level <= 4; level++) {
		struct kit k;
		struct qm_buf env, out;
		struct qm_error e;

		kit_init(&k, level, 1, 0, sizeof(pt), 0);
		qm_buf_init(&env, 100);
		assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e),
		                 QM_ERR_TOOBIG);
		assert_int_equal(env.len, 0);
		qm_buf_init(&env, ENVMAX);
		assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e), QM_OK);
		qm_buf_init_secure(&out, sizeof(pt) - 1);
		assert_int_equal(
		    kit_open(&k, env.data, env.len, 0, NULL, &out, &e),
		    QM_ERR_TOOBIG);
		assert_int_equal(out.len, 0);
		qm_buf_free(&out);
		/* Bad parameters are refused with a message. */
		k.level = 5;
		qm_buf_reset(&env);
		assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e),
		                 QM_ERR_INVAL);
		assert_true(strlen(e.msg) > 10);
		k.level = level;
		k.bound.from = NULL;
		assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e),
		                 QM_ERR_INVAL);
		qm_buf_free(&env);
		kit_free(&k);
	}
}

/* Random bytes, valid prefixes with random tails, and mutated envelopes:
 * a clear error every time, never a crash (this runs under ASan/UBSan). */
static void test_bad_input(void **state)
{
	unsigned char pt[3000], *c;
	struct qm_error e;

	(void)state;
	kit_pattern(pt, sizeof(pt), 17);
	c = malloc(70000);
	for (size_t n = 0; n < 3000; n += 7) {
		struct qm_env *pe = NULL;
		qm_random(c, n);
		if (n >= 4)
			memcpy(c, "QMEV", 4);
		if (n >= 6) {
			c[4] = 1;
			c[5] = (unsigned char)(1 + n % 4);
		}
		assert_int_not_equal(qm_crypto_env_parse(c, n, &pe, &e), QM_OK);
		assert_true(strlen(e.msg) > 0);
		assert_null(pe);
	}
	for (int level = 1; level <= 4; level++) {
		struct kit k;
		struct qm_buf env;

		kit_init(&k, level, 1, 0, sizeof(pt), 0);
		qm_buf_init(&env, ENVMAX);
		assert_int_equal(kit_seal(&k, pt, sizeof(pt), &env, &e), QM_OK);
		for (int it = 0; it < 300; it++) {
			size_t n = env.len, cut;
			int flips = 1 + (int)qm_random_uniform(8);

			memcpy(c, env.data, env.len);
			for (int f = 0; f < flips; f++) {
				size_t pos = qm_random_uniform((uint32_t)n);
				c[pos] ^=
				    (unsigned char)(1 + qm_random_uniform(255));
			}
			if (it % 3 == 0) {
				cut = qm_random_uniform((uint32_t)n);
				qm_random(c + cut, n - cut);
			}
			if (memcmp(c, env.data, n) == 0)
				continue;
			open_expect_fail(&k, c, n, 0, NULL, "mutation",
			                 (size_t)it);
		}
		qm_buf_free(&env);
		kit_free(&k);
	}
	free(c);
}

/*
 * The envelope read from a source in pieces (qm_crypto_env_parse_src,
 * qm_crypto_env_open_stream) against the whole-buffer opener: kit_src
 * makes every kit_open open both ways and compare results and plaintext,
 * and the tests of tampering, bound headers, chunk order, key IDs, wrong
 * keys and level-2 insiders run again that way.
 */
static void src_same(void **state, int how)
{
	static const size_t ssz[] = {
	    0,           1, QM_ENV_CHUNK - 1, QM_ENV_CHUNK, QM_ENV_CHUNK + 1,
	    3 * MiB + 17};

	kit_src = how;
	for (int level = 1; level <= 4; level++)
		for (size_t i = 0; i < sizeof(ssz) / sizeof(ssz[0]); i++) {
			roundtrip(level, 2, 0, ssz[i], 0);
			if (level <= 2)
				roundtrip(level, 2, 1, ssz[i], 1000);
		}
	for (int level = 1; level <= 4; level++)
		tamper_level(level);
	test_bound_headers(state);
	test_reorder_chunks(state);
	test_swap_key_ids(state);
	test_wrong_keys(state);
	test_l2_insider(state);
	kit_src = 0;
}

static void test_src_same(void **state)
{
	src_same(state, 1);
}

/* The same again with the one-pass opener (qm_crypto_env_open_staged):
 * every result, error and plaintext equal to the whole-buffer opener's. */
static void test_staged_same(void **state)
{
	src_same(state, 2);
}

/*
 * The one-pass opener on a changed chunk: the chunks before it went to the
 * writer (provisional), none from it on, and the result is the two-pass
 * opener's. A signature or MAC that does not verify after chunks went out
 * is a failure all the same.
 */
static void test_staged_stops(void **state)
{
	(void)state;
	for (int level = 1; level <= 4; level++)
		for (int what = 0; what < 2; what++) {
			const size_t n = 3 * QM_ENV_CHUNK + 5;
			unsigned char *pt = malloc(n);
			struct kit k;
			struct qm_buf env, out, out2;
			struct qm_error e, e2;
			struct qm_env *pe = NULL;
			struct kit_memsrc ms;
			struct qm_env_src es;
			struct qm_open_params op = {0};
			size_t slot, hdr, at;
			enum qm_err rs;

			kit_pattern(pt, n, 23);
			kit_init(&k, level, level == 2 ? 2 : 1, 0, n, 0);
			qm_buf_init(&env, ENVMAX);
			assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
			assert_int_equal(
			    qm_crypto_env_parse(env.data, env.len, &pe, &e),
			    QM_OK);
			hdr = pe->hdrlen;
			qm_crypto_env_free(&pe);
			op.bound = &k.bound;
			op.self = kit_rid(0);
			op.sender = kit_sender_pub();
			op.keys = k.keys[0];
			op.nkeys = k.nkeys[0];
			for (int staged = 0; staged < 2; staged++) {
				struct qm_buf *o = staged ? &out2 : &out;

				kit_memsrc_init(&ms, &es, env.data, env.len);
				assert_int_equal(
				    qm_crypto_env_parse_src(&es, &pe, &e),
				    QM_OK);
				assert_int_equal(
				    qm_crypto_env_slot_find(
				        pe,
				        level >= 3
				            ? qm_crypto_env_slot_rcpt(pe, 0)
				            : k.rcpt[0],
				        &slot, &e),
				    QM_OK);
				op.slot = slot;
				/* what 0: a byte of the second chunk; 1: the
				 * signature's last byte, this slot's MAC, or
				 * the level-1 tag (its last byte) */
				at = what == 0 ? hdr + QM_ENV_CHUNK +
				                     QM_GCM_TAGBYTES + 9
				     : level == 2 ? env.len - 32 + slot * 16
				                  : env.len - 1;
				/* from the opening's pass on */
				ms.flip_pass = 2;
				ms.flip_at = at;
				qm_buf_init_secure(o, n);
				rs = staged
				         ? qm_crypto_env_open_staged(
				               pe, &op, n, kit_buf_wr, o, &e2)
				         : qm_crypto_env_open_stream(
				               pe, &op, n, kit_buf_wr, o, &e);
				assert_int_equal(rs, QM_ERR_AUTH);
				qm_crypto_env_free(&pe);
			}
			assert_string_equal(e.msg, e2.msg);
			assert_int_equal(out.len, 0);
			/* levels 2-4: the chunks before a changed one (one
			 * chunk, or all three before the trailer) went out */
			if (level == 1)
				assert_int_equal(out2.len, 0);
			else if (what == 0)
				assert_int_equal(out2.len, QM_ENV_CHUNK);
			else
				assert_int_equal(out2.len, n);
			if (out2.len)
				assert_memory_equal(out2.data, pt, out2.len);
			qm_buf_free(&out);
			qm_buf_free(&out2);
			qm_buf_free(&env);
			kit_free(&k);
			free(pt);
		}
}

/* Truncated, longer, shorter than it says, or changed between the passes:
 * refused as the whole-buffer parse refuses, and nothing handed out. */
static void test_src_refusals(void **state)
{
	(void)state;
	for (int level = 1; level <= 4; level++) {
		const size_t n = 3 * QM_ENV_CHUNK + 5;
		unsigned char *pt = malloc(n), *c;
		struct kit k;
		struct qm_buf env, out;
		struct qm_error e, e2;
		struct qm_env *pe = NULL, *ps = NULL;
		struct kit_memsrc ms;
		struct qm_env_src es;
		struct qm_open_params op = {0};
		size_t slot;

		size_t hdr;

		kit_pattern(pt, n, 21);
		kit_init(&k, level, 1, 0, n, 0);
		qm_buf_init(&env, ENVMAX);
		assert_int_equal(kit_seal(&k, pt, n, &env, &e), QM_OK);
		assert_int_equal(
		    qm_crypto_env_parse(env.data, env.len, &pe, &e), QM_OK);
		hdr = pe->hdrlen;
		qm_crypto_env_free(&pe);
		c = malloc(env.len + 100);
		memcpy(c, env.data, env.len);
		memset(c + env.len, 0, 100);
		/* every length short of the whole, and a few longer */
		for (size_t len = 0; len < env.len + 100;
		     len += len < 2000 || len + 200 > env.len ? 1 : 997) {
			enum qm_err rw, rs;

			if (len == env.len)
				continue;
			rw = qm_crypto_env_parse(c, len, &pe, &e);
			kit_memsrc_init(&ms, &es, c, len);
			rs = qm_crypto_env_parse_src(&es, &ps, &e2);
			if (rw != rs || rw == QM_OK)
				fail_msg("level %d, %zu of %zu bytes: whole %d "
				         "(%s), source %d (%s)",
				         level, len, env.len, rw,
				         qm_error_msg(&e), rs,
				         qm_error_msg(&e2));
			assert_string_equal(e.msg, e2.msg);
			assert_null(ps);
		}
		/* parsed with its length, then shorter, longer or changed
		 * when opened (the first pass, or only the second) */
		for (int t = 0; t < 5; t++) {
			kit_memsrc_init(&ms, &es, c, env.len);
			assert_int_equal(qm_crypto_env_parse_src(&es, &ps, &e),
			                 QM_OK);
			if (t == 0)
				ms.n = env.len - 1;
			else if (t == 1)
				ms.n = env.len + 1;
			else {
				/* a byte of the first chunk in the first pass
				 * of the opening, or only in its second; the
				 * header's first byte in the second */
				ms.flip_pass = t == 2 ? 2 : 3;
				ms.flip_at = t == 4 ? 0 : hdr + 10;
			}
			op.bound = &k.bound;
			op.self = kit_rid(0);
			op.sender = kit_sender_pub();
			op.keys = k.keys[0];
			op.nkeys = k.nkeys[0];
			assert_int_equal(
			    qm_crypto_env_slot_find(
			        ps,
			        level >= 3 ? qm_crypto_env_slot_rcpt(ps, 0)
			                   : k.rcpt[0],
			        &slot, &e),
			    QM_OK);
			op.slot = slot;
			qm_buf_init_secure(&out, n);
			assert_int_equal(qm_crypto_env_open_stream(
			                     ps, &op, n, kit_buf_wr, &out, &e),
			                 QM_ERR_AUTH);
			if (out.len != 0)
				fail_msg("level %d, case %d: %zu bytes handed "
				         "out: %s",
				         level, t, out.len, qm_error_msg(&e));
			qm_buf_free(&out);
			qm_crypto_env_free(&ps);
		}
		free(c);
		qm_buf_free(&env);
		kit_free(&k);
		free(pt);
	}
}

static void test_identity(void **state)
{
	struct qm_identity *id = NULL, *id2 = NULL;
	struct qm_pubid *pub = NULL, *pub2 = NULL;
	struct qm_buf sec, arm, sig, bad, raw;
	struct qm_error e;
	unsigned char f1[QM_FPR_BYTES], f2[QM_FPR_BYTES];
	char ft[QM_FPR_TEXTLEN];
	const char msg[] = "a message to sign";

	(void)state;
	assert_int_equal(qm_crypto_identity_new(&id, &e), QM_OK);
	assert_true(qm_sec_contains(id->sec, sizeof(*id->sec)));
	assert_int_equal(qm_crypto_identity_public(id, &pub, &e), QM_OK);
	/* Secret export: only to secure memory; round trip. */
	qm_buf_init(&sec, 100000);
	assert_int_equal(qm_crypto_identity_export_secret(id, &sec, &e),
	                 QM_ERR_INVAL);
	qm_buf_init_secure(&sec, 100000);
	assert_int_equal(qm_crypto_identity_export_secret(id, &sec, &e), QM_OK);
	assert_int_equal(
	    qm_crypto_identity_import_secret(sec.data, sec.len, &id2, &e),
	    QM_OK);
	qm_crypto_pubid_fingerprint(pub, f1);
	qm_crypto_pubid_fingerprint(&id2->pub, f2);
	assert_memory_equal(f1, f2, QM_FPR_BYTES);
	assert_memory_equal(id->sec, id2->sec, sizeof(*id->sec));
	qm_crypto_identity_free(&id2);
	assert_null(id2);
	assert_int_equal(
	    qm_crypto_identity_import_secret(sec.data, sec.len - 1, &id2, &e),
	    QM_ERR_PARSE);
	sec.data[5 + 64 + 1152 + 10] ^= 1; /* inside the ML-KEM public key */
	assert_int_equal(
	    qm_crypto_identity_import_secret(sec.data, sec.len, &id2, &e),
	    QM_ERR_PARSE);
	sec.data[5 + 64 + 1152 + 10] ^= 1;
	sec.data[sec.len - 5] ^= 1; /* the ML-DSA public key */
	assert_int_equal(
	    qm_crypto_identity_import_secret(sec.data, sec.len, &id2, &e),
	    QM_ERR_PARSE);
	assert_null(id2);
	qm_buf_free(&sec);

	/* Armour: export, import, fingerprint shown and checked. */
	qm_buf_init(&arm, 20000);
	assert_int_equal(
	    qm_crypto_pubid_export(pub, "alice@example.org", &arm, &e), QM_OK);
	qm_crypto_fpr_text(f1, ft);
	assert_int_equal(strlen(ft), 79);
	assert_non_null(strstr((char *)arm.data, ft));
	assert_non_null(strstr((char *)arm.data, "Comment: alice@example.org"));
	assert_int_equal(
	    qm_crypto_pubid_import((char *)arm.data, arm.len, &pub2, &e),
	    QM_OK);
	qm_crypto_pubid_fingerprint(pub2, f2);
	assert_memory_equal(f1, f2, QM_FPR_BYTES);
	qm_crypto_pubid_free(&pub2);
	assert_int_equal(qm_crypto_pubid_export(pub, "two\nlines", &arm, &e),
	                 QM_ERR_INVAL);
	/* CRLF line ends and text around the block are fine. */
	qm_buf_init(&bad, 40000);
	assert_int_equal(qm_buf_append_str(&bad, "Here is my key:\r\n", NULL),
	                 QM_OK);
	for (size_t i = 0; i < arm.len; i++) {
		if (arm.data[i] == '\n')
			assert_int_equal(qm_buf_append_byte(&bad, '\r', NULL),
			                 QM_OK);
		assert_int_equal(qm_buf_append_byte(&bad, arm.data[i], NULL),
		                 QM_OK);
	}
	assert_int_equal(qm_buf_append_str(&bad, "-- \r\nAlice\r\n", NULL),
	                 QM_OK);
	assert_int_equal(
	    qm_crypto_pubid_import((char *)bad.data, bad.len, &pub2, &e),
	    QM_OK);
	qm_crypto_pubid_free(&pub2);
	/* A changed fingerprint line, key byte, version, missing lines. */
	{
		char *t = strdup((char *)arm.data);
		char *f = strstr(t, "Fingerprint: ") + 13;
		char *b64 = strstr(t, "\n\n") + 2;
		size_t tl = strlen(t);

		f[0] = f[0] == 'A' ? 'B' : 'A';
		assert_int_equal(qm_crypto_pubid_import(t, tl, &pub2, &e),
		                 QM_ERR_PARSE);
		assert_non_null(strstr(e.msg, "does not match"));
		f[0] = ft[0];
		b64[100] = b64[100] == 'A' ? 'B' : 'A';
		assert_int_equal(qm_crypto_pubid_import(t, tl, &pub2, &e),
		                 QM_ERR_PARSE);
		b64[100] = (char)arm.data[b64 + 100 - t];
		assert_int_equal(qm_crypto_pubid_import(t, tl, &pub2, &e),
		                 QM_OK);
		qm_crypto_pubid_free(&pub2);
		strstr(t, "Version: 1")[9] = '2';
		assert_int_equal(qm_crypto_pubid_import(t, tl, &pub2, &e),
		                 QM_ERR_UNSUPPORTED);
		strstr(t, "Version: 2")[9] = '1';
		strstr(t, "-----END")[3] = 'X';
		assert_int_equal(qm_crypto_pubid_import(t, tl, &pub2, &e),
		                 QM_ERR_PARSE);
		assert_int_equal(qm_crypto_pubid_import(t, 10, &pub2, &e),
		                 QM_ERR_PARSE);
		assert_int_equal(qm_crypto_pubid_import("", 0, &pub2, &e),
		                 QM_ERR_PARSE);
		assert_null(pub2);
		free(t);
	}
	/* Raw bytes: round trip; a low-order X25519 key is refused. */
	qm_buf_init(&raw, 10000);
	assert_int_equal(qm_crypto_pubid_to_bytes(pub, &raw, &e), QM_OK);
	assert_int_equal(
	    qm_crypto_pubid_from_bytes(raw.data, raw.len, &pub2, &e), QM_OK);
	qm_crypto_pubid_free(&pub2);
	memset(raw.data + 5, 0, 32);
	assert_int_equal(
	    qm_crypto_pubid_from_bytes(raw.data, raw.len, &pub2, &e),
	    QM_ERR_PARSE);
	assert_int_equal(
	    qm_crypto_pubid_from_bytes(raw.data, raw.len - 1, &pub2, &e),
	    QM_ERR_PARSE);
	qm_buf_free(&raw);

	/* Signatures: composite needs both halves. */
	for (int hybrid = 0; hybrid <= 1; hybrid++) {
		qm_buf_init(&sig, 10000);
		assert_int_equal(qm_crypto_identity_sign(id, hybrid, msg,
		                                         sizeof(msg), &sig, &e),
		                 QM_OK);
		assert_int_equal(sig.len,
		                 hybrid ? QM_SIG_HYBRID : QM_SIG_CLASSIC);
		assert_int_equal(qm_crypto_pubid_verify(pub, hybrid, msg,
		                                        sizeof(msg), sig.data,
		                                        sig.len, &e),
		                 QM_OK);
		assert_int_equal(qm_crypto_pubid_verify(pub, hybrid, msg,
		                                        sizeof(msg) - 1,
		                                        sig.data, sig.len, &e),
		                 QM_ERR_AUTH);
		sig.data[0] ^= 1; /* ML-DSA half (or Ed25519 when classic) */
		assert_int_equal(qm_crypto_pubid_verify(pub, hybrid, msg,
		                                        sizeof(msg), sig.data,
		                                        sig.len, &e),
		                 QM_ERR_AUTH);
		sig.data[0] ^= 1;
		sig.data[sig.len - 40] ^= 1; /* Ed25519 half */
		assert_int_equal(qm_crypto_pubid_verify(pub, hybrid, msg,
		                                        sizeof(msg), sig.data,
		                                        sig.len, &e),
		                 QM_ERR_AUTH);
		assert_int_equal(qm_crypto_pubid_verify(pub, hybrid, msg,
		                                        sizeof(msg), sig.data,
		                                        sig.len - 1, &e),
		                 QM_ERR_AUTH);
		qm_buf_free(&sig);
	}
	qm_buf_free(&bad);
	qm_buf_free(&arm);
	qm_crypto_pubid_free(&pub);
	qm_crypto_identity_free(&id);
}

static int group_setup(void **state)
{
	(void)state;
	kit_global_init();
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	kit_global_free();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_identity),
	    cmocka_unit_test(test_l1_key_use),
	    cmocka_unit_test(test_bound_headers),
	    cmocka_unit_test(test_truncate_append),
	    cmocka_unit_test(test_reorder_chunks),
	    cmocka_unit_test(test_swap_key_ids),
	    cmocka_unit_test(test_wrong_keys),
	    cmocka_unit_test(test_l2_insider),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_stream),
	    cmocka_unit_test(test_seal_to),
	    cmocka_unit_test(test_src_same),
	    cmocka_unit_test(test_staged_same),
	    cmocka_unit_test(test_staged_stops),
	    cmocka_unit_test(test_src_refusals),
	    cmocka_unit_test(test_tamper_l1),
	    cmocka_unit_test(test_tamper_l2),
	    cmocka_unit_test(test_tamper_l3),
	    cmocka_unit_test(test_tamper_l4),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_roundtrip_l1),
	    cmocka_unit_test(test_roundtrip_l2),
	    cmocka_unit_test(test_roundtrip_l3),
	    cmocka_unit_test(test_roundtrip_l4),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
