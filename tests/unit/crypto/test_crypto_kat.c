/* SPDX-License-Identifier: MIT */
/*
 * Known-answer tests for the primitives as the crypto layer wires them:
 * HKDF-SHA256 (RFC 5869 case 1), AES-256-GCM (McGrew-Viega cases 13, 14,
 * 16), the data-key and KEK derivations, the hybrid KEM combiner,
 * ML-KEM-768 and ML-DSA-65 from fixed seeds, and the whole hybrid
 * encapsulation; and golden envelopes of format version 1 (golden.h) that
 * must keep opening. The expected values that are not from an RFC or the GCM
 * paper were computed independently with pyca/cryptography 48 (OpenSSL
 * 4.0: its own ML-KEM, ML-DSA, X25519, SHA3 and HKDF); see docs/CRYPTO.md.
 *
 * This program links its own PQCLEAN_randombytes in place of the one in
 * src/crypto/rand.c, so that ML-DSA key generation takes a fixed seed and
 * signing uses rnd = 0 (the deterministic variant of FIPS 204).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "crypto/private.h"
#include "golden.h"

static unsigned char rng_next[32];
static int rng_armed;

int PQCLEAN_randombytes(uint8_t *out, size_t n);

/* The armed 32-byte value once, zeros after that. */
int PQCLEAN_randombytes(uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = rng_armed && i < 32 ? rng_next[i] : 0;
	rng_armed = 0;
	return 0;
}

static void unhex(const char *s, unsigned char *out, size_t n)
{
	struct qm_buf b;

	qm_buf_init(&b, n);
	assert_int_equal(qm_hex_decode(s, strlen(s), &b, NULL), QM_OK);
	assert_int_equal(b.len, n);
	memcpy(out, b.data, n);
	qm_buf_free(&b);
}

static void assert_hex(const unsigned char *p, size_t n, const char *hex)
{
	unsigned char want[256];

	assert_true(n <= sizeof(want));
	unhex(hex, want, n);
	assert_memory_equal(p, want, n);
}

static void assert_sha256(const unsigned char *p, size_t n, const char *hex)
{
	unsigned char d[32];

	crypto_sha256(p, n, d);
	assert_hex(d, 32, hex);
}

static void test_hkdf_rfc5869(void **state)
{
	unsigned char ikm[22], salt[13], info[10], okm[42];

	(void)state;
	memset(ikm, 0x0b, sizeof(ikm));
	for (int i = 0; i < 13; i++)
		salt[i] = (unsigned char)i;
	for (int i = 0; i < 10; i++)
		info[i] = (unsigned char)(0xf0 + i);
	assert_int_equal(crypto_hkdf_sha256(ikm, sizeof(ikm), salt,
	                                    sizeof(salt), info, sizeof(info),
	                                    okm, sizeof(okm), NULL),
	                 QM_OK);
	assert_hex(okm, 42,
	           "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56"
	           "ecc4c5bf34007208d5b887185865");
}

static void test_derivations(void **state)
{
	unsigned char cek[32], salt[32], ikm[32], out[39];
	unsigned char kek[32];

	(void)state;
	memset(cek, 0x11, 32);
	memset(salt, 0x22, 32);
	memset(ikm, 0x33, 32);
	assert_int_equal(crypto_env_data_key(cek, salt, 2, out, NULL), QM_OK);
	assert_hex(out, 39,
	           "b5977501cea8cacd24d9f99b5dd22aa7ca7ae35d9de31253753dde54"
	           "226a1055915b32a011b3db");
	assert_int_equal(
	    crypto_env_kek(2, ikm, 32, salt, 5, "key-1", 5, kek, NULL), QM_OK);
	assert_hex(kek, 32,
	           "c93b93a5ddfeb727d1febb0264354863c9010e930d2a19a1d19e67a2"
	           "3ddcafa9");
}

static void test_gcm(void **state)
{
	unsigned char key[32] = {0}, iv[12] = {0}, ct[64], tag[16], pt[64];
	unsigned char p16[60], a16[20];
	struct qm_gcm *g = NULL, *d = NULL;

	(void)state;
	/* Cases 13 and 14: zero key and IV, empty and one zero block. */
	assert_int_equal(crypto_gcm_new(key, 1, &g, NULL), QM_OK);
	assert_int_equal(
	    crypto_gcm_seal(g, iv, NULL, 0, NULL, 0, ct, tag, NULL), QM_OK);
	assert_hex(tag, 16, "530f8afbc74536b9a963b4f1c4cb738b");
	memset(pt, 0, 16);
	assert_int_equal(crypto_gcm_seal(g, iv, NULL, 0, pt, 16, ct, tag, NULL),
	                 QM_OK);
	assert_hex(ct, 16, "cea7403d4d606b6e074ec5d3baf39d18");
	assert_hex(tag, 16, "d0d1c8a799996bf0265b98b5d48ab919");
	crypto_gcm_free(&g);
	/* Case 16: 60 bytes with 20 bytes of associated data. */
	unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f94673083"
	      "08",
	      key, 32);
	unhex("cafebabefacedbaddecaf888", iv, 12);
	unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a"
	      "721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	      p16, 60);
	unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", a16, 20);
	assert_int_equal(crypto_gcm_new(key, 1, &g, NULL), QM_OK);
	assert_int_equal(
	    crypto_gcm_seal(g, iv, a16, 20, p16, 60, ct, tag, NULL), QM_OK);
	assert_hex(ct, 60,
	           "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd25"
	           "55d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9"
	           "f662");
	assert_hex(tag, 16, "76fc6ece0f4e1768cddf8853bb2d551b");
	/* And back; a changed AD or tag is QM_ERR_AUTH with output wiped. */
	assert_int_equal(crypto_gcm_new(key, 0, &d, NULL), QM_OK);
	assert_int_equal(crypto_gcm_open(d, iv, a16, 20, ct, 60, tag, pt, NULL),
	                 QM_OK);
	assert_memory_equal(pt, p16, 60);
	a16[0] ^= 1;
	assert_int_equal(crypto_gcm_open(d, iv, a16, 20, ct, 60, tag, pt, NULL),
	                 QM_ERR_AUTH);
	for (int i = 0; i < 60; i++)
		assert_int_equal(pt[i], 0);
	a16[0] ^= 1;
	tag[15] ^= 0x80;
	assert_int_equal(crypto_gcm_open(d, iv, a16, 20, ct, 60, tag, pt, NULL),
	                 QM_ERR_AUTH);
	crypto_gcm_free(&d);
	crypto_gcm_free(&g);
	assert_null(g);
}

static void test_combiner(void **state)
{
	unsigned char in[128], out[32];

	(void)state;
	for (int i = 0; i < 128; i++)
		in[i] = (unsigned char)i;
	crypto_kem_combine(in, in + 32, in + 64, in + 96, out);
	assert_hex(out, 32,
	           "2a6b6ce97b11741261d75e4cac9d25687aa4e84c304a25b8f0ba304e"
	           "f2362ba9");
}

/* ML-KEM-768 from (d, z) = 0..63, ML-DSA-65 from xi = 0..31, X25519 and
 * Ed25519 from fixed seeds; then a hybrid encapsulation with fixed coins
 * and a fixed ephemeral key, and a deterministic ML-DSA signature. */
static void test_pq_fixed_seeds(void **state)
{
	unsigned char xs[32], es[32], ks[64], coins[32], eph[32];
	unsigned char ct[QM_L3_KEMBYTES], ss[32], ss2[32];
	const char msg[] = "QMail known-answer message";
	struct qm_identity *id = NULL;
	struct qm_buf sig;
	struct qm_error e;

	(void)state;
	assert_int_equal(qm_core_init(&e), QM_OK);
	for (int i = 0; i < 32; i++) {
		xs[i] = (unsigned char)(0x10 + i);
		es[i] = (unsigned char)(0x30 + i);
		coins[i] = 0x42;
		eph[i] = (unsigned char)(0x70 + i);
		rng_next[i] = (unsigned char)i;
	}
	for (int i = 0; i < 64; i++)
		ks[i] = (unsigned char)i;
	rng_armed = 1;
	assert_int_equal(crypto_identity_from_seeds(xs, es, ks, &id, &e),
	                 QM_OK);
	assert_hex(id->pub.x25519, 32,
	           "d89e3bad79437dbed9f843418304f460ff05c7fe81fe4a9577a804cb"
	           "9367ff66");
	assert_sha256(id->pub.mlkem, QM_MLKEM_PKBYTES,
	              "0b7934c83125c788995e2ba6bd761e33046b3e40571be53e0233"
	              "09a29f398cc9");
	assert_sha256(id->pub.mldsa, QM_MLDSA_PKBYTES,
	              "d666806e11cee19a7c989f7445f90dd419cf4d2d51db8c0fdb4c"
	              "0f0a542238c9");
	assert_int_equal(
	    crypto_hybrid_encap_derand(&id->pub, coins, eph, ct, ss, &e),
	    QM_OK);
	assert_sha256(ct, QM_L3_KEMBYTES,
	              "db2d99e7e1f987166c2a19af288c0e6af241d9c116f01b71116c"
	              "71e2f3a0f963");
	assert_hex(ss, 32,
	           "228ac9a3112a514adf6119dcbbda585fd4e6ded2ae26f84dfd015cab"
	           "fae9e3ba");
	/* Decapsulation agrees; a changed ciphertext gives another secret
	 * (ML-KEM's implicit rejection), never the same one. */
	assert_int_equal(crypto_hybrid_decap(id, ct, ss2, &e), QM_OK);
	assert_memory_equal(ss, ss2, 32);
	ct[5] ^= 1;
	assert_int_equal(crypto_hybrid_decap(id, ct, ss2, &e), QM_OK);
	assert_memory_not_equal(ss, ss2, 32);
	qm_buf_init(&sig, 8192);
	assert_int_equal(
	    qm_crypto_identity_sign(id, 1, msg, sizeof(msg) - 1, &sig, &e),
	    QM_OK);
	assert_sha256(sig.data, QM_MLDSA_SIGBYTES,
	              "b1da6414cbc83e0af4295f7260f07de54bfbc896d4a3bc5ea822"
	              "09fb70f51cd8");
	assert_int_equal(qm_crypto_pubid_verify(&id->pub, 1, msg,
	                                        sizeof(msg) - 1, sig.data,
	                                        sig.len, &e),
	                 QM_OK);
	qm_buf_free(&sig);
	qm_crypto_identity_free(&id);
}

/* An identity from seeds base.., base+0x40.., base+0xc0.. (ML-KEM) and
 * base+0x80.. (ML-DSA through the armed randombytes). */
static struct qm_identity *seeded_identity(unsigned char base)
{
	unsigned char xs[32], es[32], ks[64];
	struct qm_identity *id = NULL;

	for (int i = 0; i < 32; i++) {
		xs[i] = (unsigned char)(base + i);
		es[i] = (unsigned char)(base + 0x40 + i);
		rng_next[i] = (unsigned char)(base + 0x80 + i);
	}
	for (int i = 0; i < 64; i++)
		ks[i] = (unsigned char)(base + 0xc0 + i);
	rng_armed = 1;
	assert_int_equal(crypto_identity_from_seeds(xs, es, ks, &id, NULL),
	                 QM_OK);
	return id;
}

/* The golden envelopes of golden.h still parse and open. */
static void test_golden(void **state)
{
	static const char *const golden[4] = {golden_l1, golden_l2, golden_l3,
	                                      golden_l4};
	static const char pt[] = "QMail golden envelope, version 1.";
	const char *rc[2] = {"to:Bob <bob@example.org>", "cc:"};
	struct qm_bound b = {"Alice <alice@example.org>",
	                     rc,
	                     2,
	                     "<golden.1@example.org>",
	                     "Fri, 27 Nov 2026 19:00:00 +0000",
	                     "sae-alice"};
	unsigned char k[80], fpr[QM_FPR_BYTES];
	char ft[QM_FPR_TEXTLEN];
	struct qm_qkey q1[2] = {
	    {"11111111-2222-4333-8444-555555555555", k, 40},
	    {"66666666-7777-4888-8999-aaaaaaaaaaaa", k + 40, 40}};
	struct qm_qkey q2 = {"bbbbbbbb-cccc-4ddd-8eee-ffffffffffff", k, 32};
	struct qm_identity *snd, *rcv;
	struct qm_pubid *sp = NULL;

	(void)state;
	for (int i = 0; i < 80; i++)
		k[i] = (unsigned char)(0xa0 ^ (i * 7));
	snd = seeded_identity(0x00);
	rcv = seeded_identity(0x01);
	assert_int_equal(qm_crypto_identity_public(snd, &sp, NULL), QM_OK);
	qm_crypto_pubid_fingerprint(&rcv->pub, fpr);
	qm_crypto_fpr_text(fpr, ft);
	for (int l = 1; l <= 4; l++) {
		struct qm_buf env, out;
		struct qm_env *e = NULL;
		struct qm_open_params op = {0};
		struct qm_error err;
		size_t slot;

		qm_buf_init(&env, 8192);
		assert_int_equal(qm_hex_decode(golden[l - 1],
		                               strlen(golden[l - 1]), &env,
		                               NULL),
		                 QM_OK);
		assert_int_equal(
		    qm_crypto_env_parse(env.data, env.len, &e, &err), QM_OK);
		assert_int_equal(qm_crypto_env_version(e), 1);
		assert_int_equal(qm_crypto_env_level(e), l);
		assert_string_equal(qm_crypto_env_sender_sae(e), "sae-alice");
		assert_int_equal(qm_crypto_env_plaintext_len(e),
		                 sizeof(pt) - 1);
		assert_int_equal(qm_crypto_env_slot_find(
		                     e, l <= 2 ? "sae-bob" : ft, &slot, &err),
		                 QM_OK);
		op.bound = &b;
		op.slot = slot;
		op.keys = l == 1 ? q1 : &q2;
		op.nkeys = l == 1 ? 2 : 1;
		op.self = rcv;
		op.sender = sp;
		if (l == 1) {
			assert_string_equal(
			    qm_crypto_env_slot_key_id(e, slot, 1),
			    q1[1].key_id);
		}
		qm_buf_init_secure(&out, 100);
		if (qm_crypto_env_open(e, &op, &out, &err))
			fail_msg("golden level %d: %s", l, err.msg);
		assert_int_equal(out.len, sizeof(pt) - 1);
		assert_memory_equal(out.data, pt, sizeof(pt) - 1);
		qm_buf_free(&out);
		qm_crypto_env_free(&e);
		qm_buf_free(&env);
	}
	qm_crypto_pubid_free(&sp);
	qm_crypto_identity_free(&snd);
	qm_crypto_identity_free(&rcv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hkdf_rfc5869),
	    cmocka_unit_test(test_derivations),
	    cmocka_unit_test(test_gcm),
	    cmocka_unit_test(test_combiner),
	    cmocka_unit_test(test_pq_fixed_seeds),
	    cmocka_unit_test(test_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
