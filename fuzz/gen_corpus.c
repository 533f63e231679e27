/* SPDX-License-Identifier: MIT */
/*
 * Seed-corpus generator (not a test): writes the fixed test identities
 * fuzz/keys/{alice,bob}.sec when missing, then real QMail objects made by
 * the real code into fuzz/corpus/: envelopes of the four levels
 * (corpus/env), the wire messages that carry them and the inner messages
 * (corpus/incoming, corpus/mime), and exported public identities
 * (corpus/pubid). Run by hand after a format change:
 *   build/fuzz/fuzz_gen_corpus   (writes into the source tree)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto/crypto.h"
#include "mail/mail.h"
#include "open_common.h"

static struct qm_identity *g_alice, *g_bob;
static struct qm_pubid *g_alice_pub, *g_bob_pub;

static void out_file(const char *rel, const void *p, size_t n)
{
	char path[4096];
	struct qm_error e;

	snprintf(path, sizeof(path), "%s/%s", QM_FUZZ_DIR, rel);
	if (qm_file_write_atomic(path, p, n, 0644, &e) != QM_OK)
		fuzz_die(path, &e);
	printf("wrote %s (%zu bytes)\n", rel, n);
}

static void identity(const char *rel, struct qm_identity **id,
                     struct qm_pubid **pub)
{
	char path[4096];
	struct qm_buf b;
	struct qm_error e;
	struct stat st;

	qm_buf_init_secure(&b, 1u << 20);
	snprintf(path, sizeof(path), "%s/%s", QM_FUZZ_DIR, rel);
	if (stat(path, &st) == 0) {
		fuzz_read_fixture(rel, &b);
		if (qm_crypto_identity_import_secret(b.data, b.len, id, &e) !=
		    QM_OK)
			fuzz_die(rel, &e);
	} else {
		if (qm_crypto_identity_new(id, &e) != QM_OK ||
		    qm_crypto_identity_export_secret(*id, &b, &e) != QM_OK)
			fuzz_die("new identity", &e);
		out_file(rel, b.data, b.len);
	}
	if (qm_crypto_identity_public(*id, pub, &e) != QM_OK)
		fuzz_die("public identity", &e);
	qm_buf_free(&b);
}

/* Keys for one level-1/2 slot: IDs "<prefix>-<i>" with fuzz_key_for_id. */
struct slotkeys {
	char ids[64][96];
	struct qm_qkey k[64];
	unsigned char mat[64 * FUZZ_KEYLEN];
};

static void make_keys(struct slotkeys *sk, const char *prefix, size_t n,
                      size_t klen)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(sk->ids[i], sizeof(sk->ids[i]),
		         "%s-%04zx-4f1c-9a2e-%012zx", prefix, i, i * 7919);
		fuzz_key_for_id(sk->ids[i], sk->mat + i * klen, klen);
		sk->k[i].key_id = sk->ids[i];
		sk->k[i].key = sk->mat + i * klen;
		sk->k[i].len = klen;
	}
}

/* Seals pt at level for the bound b; nslots slots for levels 1-2 (the
 * first labelled SAE_BOB, or "" when shared), nr recipients for 3-4. */
static void seal(int level, const struct qm_bound *b, size_t nslots, int shared,
                 size_t nr, const void *pt, size_t ptlen, struct qm_buf *env,
                 const char ***ids_out, size_t *nids)
{
	static struct slotkeys sk[2];
	static const char *idv[128];
	struct qm_qslot slots[2];
	const struct qm_pubid *rc[2] = {g_bob_pub, g_alice_pub};
	struct qm_seal_params sp;
	struct qm_error e;
	size_t n = 0;

	memset(&sp, 0, sizeof(sp));
	sp.level = level;
	sp.bound = b;
	if (level <= 2) {
		size_t klen = level == 1 ? FUZZ_KEYLEN : QM_L2_KEYBYTES;
		size_t nk = level == 1 ? (ptlen + 32 + klen - 1) / klen : 1;

		for (size_t s = 0; s < nslots; s++) {
			char prefix[32];

			snprintf(
			    prefix, sizeof(prefix), "%08x",
			    (unsigned)(level * 0x1000 + s * 0x100 + nslots));
			make_keys(&sk[s], prefix, nk, klen);
			slots[s].rcpt =
			    shared ? "" : (s == 0 ? FUZZ_SAE_B : "SAE_CAROL");
			slots[s].keys = sk[s].k;
			slots[s].nkeys = nk;
			for (size_t i = 0; i < nk && n < 128; i++)
				idv[n++] = sk[s].ids[i];
		}
		sp.slots = slots;
		sp.nslots = nslots;
	} else {
		sp.sender = g_alice;
		sp.rcpts = rc;
		sp.nrcpts = nr;
	}
	if (qm_crypto_env_seal(&sp, pt, ptlen, env, &e) != QM_OK)
		fuzz_die("seal", &e);
	if (ids_out) {
		*ids_out = idv;
		*nids = n;
	}
}

static const char inner_text[] =
    "Hello Bob,\r\n\r\nthe quarterly figures are attached. Let us meet on "
    "Tuesday.\r\n\r\n-- \r\nAlice\r\n";

static void inner(const struct qm_mail_hdrs *h, int html, int att,
                  struct qm_buf *out)
{
	static const unsigned char png[] = {0x89, 'P',  'N', 'G', '\r', '\n',
	                                    0x1a, '\n', 0,   0,   0,    13};
	struct qm_mail_attachment a[2] = {
	    {"figures.csv", "text/csv",
	     (const unsigned char *)"q,revenue\n1,10\n2,12\n", 20, NULL},
	    {"Gr\xc3\xbc\xc3\x9f"
	     "e.png",
	     "image/png", png, sizeof(png), NULL}};
	struct qm_mail_compose c;
	struct qm_error e;

	memset(&c, 0, sizeof(c));
	c.hdrs = h;
	c.subject = "Quarterly figures \xe2\x80\x94 Q3";
	c.text = inner_text;
	c.html = html ? "<p>Hello <b>Bob</b>,</p><p><a href=\"https://"
	                "example.org/\">figures</a><img src=\"https://"
	                "tracker.example/x.png\" onerror=\"alert(1)\">"
	                "<script>alert(2)</script></p>"
	              : NULL;
	c.in_reply_to = "<prev-1@qmail.test>";
	c.references = "<first-0@qmail.test> <prev-1@qmail.test>";
	c.att = att ? a : NULL;
	c.natt = att ? 2 : 0;
	if (qm_mail_inner_build(&c, out, &e) != QM_OK)
		fuzz_die("inner build", &e);
}

int main(void)
{
	struct qm_error e;
	struct qm_buf b, env, pt;
	const char *to[] = {FUZZ_TO}, *cc[] = {"carol@qmail.test"};
	const char *rc1[] = {FUZZ_TO};
	struct qm_bound fixed = {FUZZ_FROM,  rc1,       1,
	                         FUZZ_MSGID, FUZZ_DATE, FUZZ_SAE_A};
	struct qm_mail_hdrs *h = NULL;
	char name[128];

	if (qm_core_init(&e) != QM_OK || qm_mail_init(&e) != QM_OK)
		fuzz_die("init", &e);
	mkdir(QM_FUZZ_DIR "/keys", 0755);
	mkdir(QM_FUZZ_DIR "/corpus", 0755);
	mkdir(QM_FUZZ_DIR "/corpus/pubid", 0755);
	mkdir(QM_FUZZ_DIR "/corpus/env", 0755);
	mkdir(QM_FUZZ_DIR "/corpus/incoming", 0755);
	mkdir(QM_FUZZ_DIR "/corpus/mime", 0755);
	identity("keys/alice.sec", &g_alice, &g_alice_pub);
	identity("keys/bob.sec", &g_bob, &g_bob_pub);

	/* Public identities as exported for import. */
	qm_buf_init(&b, 1u << 20);
	if (qm_crypto_pubid_export(g_alice_pub, "alice@qmail.test", &b, &e))
		fuzz_die("export", &e);
	out_file("corpus/pubid/alice.pub", b.data, b.len);
	qm_buf_reset(&b);
	if (qm_crypto_pubid_export(g_bob_pub, NULL, &b, &e))
		fuzz_die("export", &e);
	out_file("corpus/pubid/bob-nocomment.pub", b.data, b.len);
	qm_buf_free(&b);

	/* Raw envelopes bound to the fixed header values of fuzz.h. */
	static const struct {
		int level;
		size_t nslots;
		int shared;
		size_t nr;
		size_t ptlen;
		const char *name;
	} ev[] = {
	    {1, 1, 0, 0, 100, "l1-one-slot"}, {1, 2, 0, 0, 40, "l1-two-slots"},
	    {1, 1, 1, 0, 10, "l1-shared"},    {1, 1, 0, 0, 0, "l1-empty"},
	    {2, 1, 0, 0, 300, "l2-one-slot"}, {2, 2, 0, 0, 20, "l2-two-slots"},
	    {2, 1, 1, 0, 70000, "l2-chunks"}, {3, 0, 0, 1, 50, "l3-one"},
	    {3, 0, 0, 2, 5, "l3-two"},        {4, 0, 0, 1, 120, "l4-one"},
	    {4, 0, 0, 2, 0, "l4-two-empty"},
	};
	qm_buf_init(&pt, 1u << 20);
	for (size_t i = 0; i < 70000; i++)
		if (qm_buf_append_byte(&pt, (unsigned char)('a' + i % 26), &e))
			fuzz_die("plaintext", &e);
	for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++) {
		qm_buf_init(&env, 1u << 24);
		fixed.sender_sae = ev[i].level <= 2 ? FUZZ_SAE_A : "";
		seal(ev[i].level, &fixed, ev[i].nslots, ev[i].shared, ev[i].nr,
		     pt.data, ev[i].ptlen, &env, NULL, NULL);
		snprintf(name, sizeof(name), "corpus/env/%s.qmenv", ev[i].name);
		out_file(name, env.data, env.len);
		qm_buf_free(&env);
	}
	qm_buf_free(&pt);

	/* Wire messages and inner messages, bound as the client binds. */
	if (qm_mail_hdrs_make("Alice Example <" FUZZ_FROM ">", to, 1, cc, 1,
	                      1795806000, &h, &e) != QM_OK)
		fuzz_die("hdrs", &e);
	for (int level = 1; level <= 4; level++) {
		char r0[512], r1[512];
		const char *rv[2] = {r0, r1};
		struct qm_bound bb = {h->from, rv,
		                      2,       h->message_id,
		                      h->date, level <= 2 ? FUZZ_SAE_A : ""};
		const char **ids = NULL;
		size_t nids = 0;
		struct qm_mail_wire w;

		snprintf(r0, sizeof(r0), "to:%s", h->to);
		snprintf(r1, sizeof(r1), "cc:%s", h->cc);
		qm_buf_init_secure(&pt, 1u << 20);
		inner(h, level % 2, level != 4, &pt);
		if (level == 1) {
			out_file("corpus/mime/inner-text-att.eml", pt.data,
			         pt.len);
		} else if (level == 2) {
			out_file("corpus/mime/inner-html.eml", pt.data, pt.len);
		}
		qm_buf_init(&env, 1u << 24);
		seal(level, &bb, 1, 0, 1, pt.data, pt.len, &env, &ids, &nids);
		memset(&w, 0, sizeof(w));
		w.hdrs = h;
		w.level = level;
		w.key_ids = level <= 2 ? ids : NULL;
		w.nkey_ids = level <= 2 ? nids : 0;
		w.sender_sae = level <= 2 ? FUZZ_SAE_A : NULL;
		w.envelope = env.data;
		w.envelope_len = env.len;
		qm_buf_init(&b, 1u << 24);
		if (qm_mail_wire_build(&w, &b, &e) != QM_OK)
			fuzz_die("wire build", &e);
		snprintf(name, sizeof(name), "corpus/incoming/qmail-l%d.eml",
		         level);
		out_file(name, b.data, b.len);
		qm_buf_free(&b);
		qm_buf_free(&env);
		qm_buf_free(&pt);
	}
	qm_mail_hdrs_free(&h);
	qm_crypto_identity_free(&g_alice);
	qm_crypto_identity_free(&g_bob);
	qm_crypto_pubid_free(&g_alice_pub);
	qm_crypto_pubid_free(&g_bob_pub);
	return 0;
}
