/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for qkme's internals: key streams across blocks and holes,
 * the reservation map, key IDs, the configuration checks and the sealed
 * pool file (round trip, wrong key, another KME's file, no clear bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kme/private.h"

static void test_stream_blocks(void **state)
{
	struct kstream s;
	unsigned char a[100], b[50], out[150];
	struct qm_error e;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 100; i++)
		a[i] = (unsigned char)i;
	for (int i = 0; i < 50; i++)
		b[i] = (unsigned char)(200 + i);
	assert_int_equal(kme_kstream_append(&s, 0, a, 100, &e), QM_OK);
	/* a block must follow the end */
	assert_int_equal(kme_kstream_append(&s, 99, b, 50, &e), QM_ERR_STATE);
	assert_int_equal(kme_kstream_append(&s, 100, b, 50, &e), QM_OK);
	assert_int_equal(kme_kstream_avail(&s), 150);
	assert_true(qm_sec_contains(s.blocks[0].data, 100));
	/* a copy across the two blocks */
	assert_int_equal(kme_kstream_copy(&s, 90, 20, out, &e), QM_OK);
	assert_memory_equal(out, a + 90, 10);
	assert_memory_equal(out + 10, b, 10);
	/* release a range in the middle; the first block stays alive */
	kme_kstream_release(&s, 10, 20);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.blocks[0].live, 80);
	assert_int_equal(s.blocks[0].data[15], 0); /* wiped */
	/* release the rest of block 0, across the hole: it is freed */
	kme_kstream_release(&s, 0, 100);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.blocks[0].start, 100);
	assert_int_equal(kme_kstream_copy(&s, 50, 10, out, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(kme_kstream_copy(&s, 140, 11, out, &e),
	                 QM_ERR_NOTFOUND);
	/* a range that starts in a hole still releases what follows */
	kme_kstream_release(&s, 60, 60);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.blocks[0].live, 30);
	assert_int_equal(s.blocks[0].data[19], 0);
	assert_int_equal(s.blocks[0].data[20], 220);
	kme_kstream_release(&s, 100, 50);
	assert_int_equal(s.n, 0);
	kme_kstream_free(&s);
}

static void test_reservations(void **state)
{
	struct kres_map m;
	static unsigned char ids[5000][16];

	(void)state;
	memset(&m, 0, sizeof(m));
	for (int i = 0; i < 5000; i++) {
		struct kres *r = calloc(1, sizeof(*r));
		assert_non_null(r);
		kme_uuid_new(ids[i]);
		memcpy(r->id, ids[i], 16);
		r->off = (uint64_t)i;
		assert_int_equal(kme_kres_add(&m, r, NULL), QM_OK);
	}
	assert_int_equal(m.count, 5000);
	for (int i = 0; i < 5000; i++) {
		struct kres *r = kme_kres_find(&m, ids[i]);
		assert_non_null(r);
		assert_int_equal(r->off, (uint64_t)i);
	}
	{
		struct kres *dup = calloc(1, sizeof(*dup));
		memcpy(dup->id, ids[7], 16);
		assert_int_equal(kme_kres_add(&m, dup, NULL), QM_ERR_EXISTS);
		free(dup);
	}
	kme_kres_remove(&m, ids[7]);
	assert_null(kme_kres_find(&m, ids[7]));
	assert_int_equal(m.count, 4999);
	kme_kres_map_free(&m);
}

static void test_uuid(void **state)
{
	unsigned char id[16], back[16];
	char s[37];

	(void)state;
	kme_uuid_new(id);
	kme_uuid_fmt(id, s);
	assert_int_equal(strlen(s), 36);
	assert_int_equal(s[14], '4'); /* version 4 */
	assert_non_null(strchr("89ab", s[19]));
	assert_int_equal(kme_uuid_parse(s, back), 0);
	assert_memory_equal(id, back, 16);
	assert_int_equal(kme_uuid_parse("1B4E28BA-2FA1-41D2-883F-0016D3CCA427",
	                                back),
	                 0);
	assert_int_equal(back[0], 0x1b);
	assert_int_not_equal(kme_uuid_parse("1b4e28ba2fa141d2883f0016d3cca427",
	                                    back),
	                     0);
	assert_int_not_equal(kme_uuid_parse("1b4e28ba-2fa1-41d2-883f-0016d3cca42g",
	                                    back),
	                     0);
	assert_int_not_equal(kme_uuid_parse(NULL, back), 0);
}

static char dir[512];

static void write_conf(const char *name, const char *extra)
{
	char path[700], text[2000];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(text, sizeof(text),
	         "kme_id = KME_A\nport = 1234\ntls_cert = c\ntls_key = k\n"
	         "client_ca = ca\nstate_dir = %s/state\nsaes = SAE_A, SAE_X\n"
	         "store_key_file = %s/store.key\n%s\n"
	         "[peer.KME_B]\nurl = https://127.0.0.1:1\nsaes = SAE_B\n",
	         dir, dir, extra);
	assert_int_equal(qmt_write_file(path, text), 0);
}

static void test_config(void **state)
{
	struct kme_conf c;
	struct qm_error e;
	char path[700];

	(void)state;
	write_conf("good.conf", "max_SAE_ID_count = 3");
	snprintf(path, sizeof(path), "%s/good.conf", dir);
	assert_int_equal(kme_conf_load(path, &c, &e), QM_OK);
	assert_string_equal(c.id, "KME_A");
	assert_int_equal(c.nsaes, 2);
	assert_string_equal(c.saes[1], "SAE_X");
	assert_int_equal(c.npeers, 1);
	assert_string_equal(c.peers[0].id, "KME_B");
	assert_string_equal(c.peers[0].saes[0], "SAE_B");
	assert_int_equal(c.max_sae_id_count, 3);
	assert_true(kme_conf_serves(&c, "SAE_X"));
	assert_false(kme_conf_serves(&c, "SAE_B"));

	write_conf("bad1.conf", "min_key_size = 12");
	snprintf(path, sizeof(path), "%s/bad1.conf", dir);
	assert_int_equal(kme_conf_load(path, &c, &e), QM_ERR_INVAL);
	assert_non_null(strstr(e.msg, "multiples of 8"));
	write_conf("bad2.conf", "bb84.noise = 0.9");
	snprintf(path, sizeof(path), "%s/bad2.conf", dir);
	assert_int_not_equal(kme_conf_load(path, &c, &e), QM_OK);
	assert_non_null(strstr(e.msg, "bb84.noise"));
	write_conf("bad3.conf", "pool_bytes = lots");
	snprintf(path, sizeof(path), "%s/bad3.conf", dir);
	assert_int_not_equal(kme_conf_load(path, &c, &e), QM_OK);
}

/* A configuration with the given roles: this KME's SAEs and operators,
 * and two peers KME_B and KME_C with their SAEs. */
static void write_roles(const char *name, const char *saes, const char *ops,
                        const char *b_saes, const char *c_saes)
{
	char path[700], text[2048];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(text, sizeof(text),
	         "kme_id = KME_A\nport = 1234\ntls_cert = c\ntls_key = k\n"
	         "client_ca = ca\nstate_dir = %s/state\nsaes = %s\n"
	         "operators = %s\n"
	         "[peer.KME_B]\nurl = https://127.0.0.1:1\nsaes = %s\n"
	         "[peer.KME_C]\nurl = https://127.0.0.1:2\nsaes = %s\n",
	         dir, saes, ops, b_saes, c_saes);
	assert_int_equal(qmt_write_file(path, text), 0);
}

/* Loading the roles must fail with a message naming cn and both roles. */
static void roles_refused(const char *saes, const char *ops,
                          const char *b_saes, const char *c_saes,
                          const char *cn, const char *role1,
                          const char *role2)
{
	struct kme_conf c;
	struct qm_error e;
	char path[700], want[160];

	write_roles("roles.conf", saes, ops, b_saes, c_saes);
	snprintf(path, sizeof(path), "%s/roles.conf", dir);
	qm_error_clear(&e);
	assert_int_equal(kme_conf_load(path, &c, &e), QM_ERR_INVAL);
	snprintf(want, sizeof(want), "\"%s\" is", cn);
	if (!strstr(e.msg, want) || !strstr(e.msg, role1) ||
	    !strstr(e.msg, role2))
		fail_msg("expected %s as %s and %s, got: %s", cn, role1, role2,
		         e.msg);
}

/* KMEs reached through others ([node.ID], issue 19): their SAEs are found,
 * and their IDs and SAEs take part in the one-CN-one-role rule. */
static void test_config_nodes(void **state)
{
	struct kme_conf c;
	struct qm_error e;
	char path[700], text[2048];
	static const struct {
		const char *nodes, *cn, *role1, *role2;
	} bad[] = {
	    {"[node.KME_D]\nsaes = SAE_B\n", "SAE_B", "peer KME_B",
	     "[node.KME_D] saes"},
	    {"[node.KME_D]\nsaes = KME_C\n", "KME_C", "peer KME ID",
	     "[node.KME_D] saes"},
	    {"[node.KME_B]\nsaes = SAE_X\n", "KME_B", "peer KME ID",
	     "KME ID of [node.KME_B]"},
	    {"[node.KME_D]\nsaes = SAE_D\n[node.KME_E]\nsaes = SAE_D\n",
	     "SAE_D", "[node.KME_D] saes", "[node.KME_E] saes"},
	    {"[node.KME_D]\nsaes = OPERATOR\n", "OPERATOR", "an operator",
	     "[node.KME_D] saes"},
	};

	(void)state;
	snprintf(path, sizeof(path), "%s/nodes.conf", dir);
	snprintf(text, sizeof(text),
	         "kme_id = KME_A\nport = 1234\ntls_cert = c\ntls_key = k\n"
	         "client_ca = ca\nstate_dir = %s/state\nsaes = SAE_A\n"
	         "operators = OPERATOR\n"
	         "[peer.KME_B]\nurl = https://127.0.0.1:1\nsaes = SAE_B\n"
	         "[node.KME_C]\nsaes = SAE_C1, SAE_C2\n"
	         "[node.KME_D]\nsaes = SAE_D\n",
	         dir);
	assert_int_equal(qmt_write_file(path, text), 0);
	assert_int_equal(kme_conf_load(path, &c, &e), QM_OK);
	assert_int_equal(c.nnodes, 2);
	assert_string_equal(kme_conf_kme_of(&c, "SAE_C2"), "KME_C");
	assert_string_equal(kme_conf_kme_of(&c, "SAE_D"), "KME_D");
	assert_string_equal(kme_conf_kme_of(&c, "SAE_B"), "KME_B");
	assert_string_equal(kme_conf_kme_of(&c, "SAE_A"), "KME_A");
	assert_null(kme_conf_kme_of(&c, "SAE_Z"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		         "kme_id = KME_A\nport = 1234\ntls_cert = c\n"
		         "tls_key = k\nclient_ca = ca\nstate_dir = %s/state\n"
		         "saes = SAE_A\noperators = OPERATOR\n"
		         "[peer.KME_B]\nurl = https://127.0.0.1:1\n"
		         "saes = SAE_B\n[peer.KME_C]\n"
		         "url = https://127.0.0.1:2\nsaes = SAE_C\n%s",
		         dir, bad[i].nodes);
		assert_int_equal(qmt_write_file(path, text), 0);
		qm_error_clear(&e);
		assert_int_equal(kme_conf_load(path, &c, &e), QM_ERR_INVAL);
		if (!strstr(e.msg, bad[i].cn) || !strstr(e.msg, bad[i].role1) ||
		    !strstr(e.msg, bad[i].role2))
			fail_msg("case %zu: expected %s as %s and %s, got: %s",
			         i, bad[i].cn, bad[i].role1, bad[i].role2,
			         e.msg);
	}
	/* a node section with anything but saes, and this KME as a node */
	snprintf(text, sizeof(text),
	         "kme_id = KME_A\nport = 1234\ntls_cert = c\ntls_key = k\n"
	         "client_ca = ca\nstate_dir = %s/state\n"
	         "[node.KME_D]\nurl = https://127.0.0.1:9\n",
	         dir);
	assert_int_equal(qmt_write_file(path, text), 0);
	assert_int_equal(kme_conf_load(path, &c, &e), QM_ERR_INVAL);
	snprintf(text, sizeof(text),
	         "kme_id = KME_A\nport = 1234\ntls_cert = c\ntls_key = k\n"
	         "client_ca = ca\nstate_dir = %s/state\n"
	         "[node.KME_A]\nsaes = SAE_Q\n",
	         dir);
	assert_int_equal(qmt_write_file(path, text), 0);
	assert_int_equal(kme_conf_load(path, &c, &e), QM_ERR_INVAL);
}

/* Roles are told apart by certificate CN only: one CN, one role. */
static void test_config_roles(void **state)
{
	struct kme_conf c;
	struct qm_error e;
	char path[700];

	(void)state;
	write_roles("roles_ok.conf", "SAE_A1, SAE_A2", "OPERATOR", "SAE_B",
	            "SAE_C");
	snprintf(path, sizeof(path), "%s/roles_ok.conf", dir);
	assert_int_equal(kme_conf_load(path, &c, &e), QM_OK);
	assert_int_equal(c.npeers, 2);

	/* an SAE of ours named like a peer KME */
	roles_refused("SAE_A, KME_B", "OPERATOR", "SAE_B", "SAE_C", "KME_B",
	              "an SAE this KME serves", "peer KME ID");
	/* an SAE of ours that is also an operator */
	roles_refused("SAE_A, OPERATOR", "OPERATOR", "SAE_B", "SAE_C",
	              "OPERATOR", "an SAE this KME serves", "an operator");
	/* a peer KME that is also an operator */
	roles_refused("SAE_A", "OPERATOR, KME_C", "SAE_B", "SAE_C", "KME_C",
	              "peer KME ID", "an operator");
	/* an SAE of a peer that is an operator here */
	roles_refused("SAE_A", "OPERATOR, SAE_B", "SAE_B", "SAE_C", "SAE_B",
	              "an SAE served by peer KME_B", "an operator");
	/* an SAE of a peer named like another peer KME */
	roles_refused("SAE_A", "OPERATOR", "SAE_B, KME_C", "SAE_C", "KME_C",
	              "an SAE served by peer KME_B", "peer KME ID");
	/* one SAE served here and by a peer, or by two peers */
	roles_refused("SAE_A, SAE_B", "OPERATOR", "SAE_B", "SAE_C", "SAE_B",
	              "an SAE this KME serves", "an SAE served by peer KME_B");
	roles_refused("SAE_A", "OPERATOR", "SAE_B, SAE_X", "SAE_C, SAE_X",
	              "SAE_X", "an SAE served by peer KME_B",
	              "an SAE served by peer KME_C");
	/* this KME's own ID as an SAE or an operator: whoever holds that
	 * certificate would pass for this KME at its peers */
	roles_refused("SAE_A, KME_A", "OPERATOR", "SAE_B", "SAE_C", "KME_A",
	              "this KME's own ID", "an SAE this KME serves");
	roles_refused("SAE_A", "KME_A", "SAE_B", "SAE_C", "KME_A",
	              "this KME's own ID", "an operator");
}

/* A KME with one link and some pool and reservations, not started. */
static struct qm_kme *make_kme(const char *conf)
{
	struct qm_kme *k = NULL;
	struct qm_error e;
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", dir, conf);
	if (qm_kme_new(path, &k, &e) != QM_OK)
		fail_msg("qm_kme_new: %s", e.msg);
	return k;
}

static void test_sealed_pools(void **state)
{
	struct qm_kme *k;
	struct qm_error e;
	unsigned char key[64], out[64];
	struct kres *r;
	char path[700], statef[700];
	struct qm_buf f;

	(void)state;
	snprintf(path, sizeof(path), "%s/store.key", dir);
	assert_int_equal(qmt_write_file(path, "000102030405060708090a0b0c0d0e0f"
	                                      "101112131415161718191a1b1c1d1e1f\n"),
	                 0);
	write_conf("kme.conf", "");
	k = make_kme("kme.conf");
	assert_int_equal(k->nlinks, 1);
	qm_random(key, sizeof(key));
	assert_int_equal(kme_kstream_append(&k->links[0].own, 0, key, 32, &e),
	                 QM_OK);
	assert_int_equal(
	    kme_kstream_append(&k->links[0].mirror, 0, key + 32, 32, &e),
	    QM_OK);
	r = calloc(1, sizeof(*r));
	kme_uuid_new(r->id);
	r->off = 0;
	r->len = 32;
	r->nslaves = 1;
	r->master = 0;    /* SAE_B, the peer's */
	r->slaves[0] = 0; /* SAE_A, ours */
	assert_int_equal(kme_kres_add(&k->links[0].res, r, &e), QM_OK);
	k->links[0].mirror.next = 32;
	assert_int_equal(qm_kme_save(k, &e), QM_OK);
	{
		unsigned char id[16];
		memcpy(id, r->id, 16);
		qm_kme_free(&k);
		/* nothing of the keys in clear in the file */
		snprintf(statef, sizeof(statef), "%s/state/pools.sealed", dir);
		qm_buf_init(&f, 1 << 20);
		assert_int_equal(qm_file_read(statef, 1 << 20, &f, &e), QM_OK);
		assert_null(memmem(f.data, f.len, key, 16));
		assert_null(memmem(f.data, f.len, key + 32, 16));
		assert_null(memmem(f.data, f.len, "SAE_A", 5));
		/* a round trip */
		k = make_kme("kme.conf");
		assert_int_equal(kme_kstream_avail(&k->links[0].own), 32);
		assert_int_equal(
		    kme_kstream_copy(&k->links[0].own, 0, 32, out, &e), QM_OK);
		assert_memory_equal(out, key, 32);
		r = kme_kres_find(&k->links[0].res, id);
		assert_non_null(r);
		assert_int_equal(r->nslaves, 1);
		assert_string_equal(k->conf.saes[r->slaves[0]], "SAE_A");
		assert_string_equal(k->links[0].peer->saes[r->master], "SAE_B");
		assert_int_equal(kme_kstream_copy(&k->links[0].mirror, r->off,
		                                  r->len, out, &e),
		                 QM_OK);
		assert_memory_equal(out, key + 32, 32);
		qm_kme_free(&k);
	}
	/* one flipped bit: refused */
	f.data[f.len / 2] ^= 1;
	assert_int_equal(qm_file_write_atomic(statef, f.data, f.len, 0600, &e),
	                 QM_OK);
	f.data[f.len / 2] ^= 1;
	snprintf(path, sizeof(path), "%s/kme.conf", dir);
	assert_int_equal(qm_kme_new(path, &k, &e), QM_ERR_AUTH);
	/* the right file under another store key: refused */
	assert_int_equal(qm_file_write_atomic(statef, f.data, f.len, 0600, &e),
	                 QM_OK);
	setenv("QKME_STORE_KEY",
	       "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	       1);
	assert_int_equal(qm_kme_new(path, &k, &e), QM_ERR_AUTH);
	setenv("QKME_STORE_KEY", "short", 1);
	assert_int_equal(qm_kme_new(path, &k, &e), QM_ERR_INVAL);
	unsetenv("QKME_STORE_KEY");
	qm_buf_free(&f);
}

static int setup(void **state)
{
	(void)state;
	if (qm_core_init(NULL))
		return -1;
	return qmt_tmpdir("kmeunit", dir, sizeof(dir));
}

static int teardown(void **state)
{
	(void)state;
	return qmt_rmtree(dir) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stream_blocks),
	    cmocka_unit_test(test_reservations),
	    cmocka_unit_test(test_uuid),
	    cmocka_unit_test(test_config),
	    cmocka_unit_test(test_config_roles),
	    cmocka_unit_test(test_config_nodes),
	    cmocka_unit_test(test_sealed_pools),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
