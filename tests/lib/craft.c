/* SPDX-License-Identifier: MIT */
/*
 * Hand-built QMail messages for the receive-side tests (see craft.h).
 */
#include "craft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/mail.h"

static int fail(const char *what, const struct qm_error *e)
{
	fprintf(stderr, "craft: %s: %s\n", what, qm_error_msg(e));
	return -1;
}

/* "prefix" + value, malloc'd. */
static char *cat(const char *prefix, const char *value)
{
	size_t a = strlen(prefix), b = strlen(value);
	char *s = malloc(a + b + 1);

	if (s) {
		memcpy(s, prefix, a);
		memcpy(s + a, value, b + 1);
	}
	return s;
}

int craft_build(const struct craft_msg *m, struct qm_buf *wire, char *mid)
{
	struct qm_mail_hdrs *h = NULL, in;
	struct qm_mail_compose mc;
	struct qm_seal_params sp;
	struct qm_qslot slot;
	struct qm_bound b;
	struct qm_mail_wire w;
	struct qm_buf pt, env;
	struct qm_error e;
	const char *to[1] = {m->to}, *cc[1] = {m->cc};
	const char *rcpts[2];
	const struct qm_pubid *rp[1] = {m->rcpt};
	const char **ids = NULL;
	char *rto = NULL, *rcc = NULL;
	int rc = -1, no_sae;

	memset(&in, 0, sizeof(in));
	qm_buf_init_secure(&pt,
	                   32 << 20); /* a large message too (recv_large) */
	qm_buf_init(&env, 48 << 20);
	qm_error_clear(&e);
	if (qm_mail_hdrs_make(m->from, to, 1, cc, m->cc ? 1 : 0, qm_now(), &h,
	                      &e))
		return fail("headers", &e);
	if (m->message_id) {
		free(h->message_id);
		h->message_id = strdup(m->message_id);
	}
	/* the inner copies, some replaced */
	in.from = strdup(m->inner_from ? m->inner_from : h->from);
	in.to = strdup(m->inner_to ? m->inner_to : h->to);
	in.cc = strdup(m->inner_cc ? m->inner_cc : h->cc);
	in.date = strdup(m->inner_date ? m->inner_date : h->date);
	in.message_id = strdup(m->inner_mid ? m->inner_mid : h->message_id);
	memset(&mc, 0, sizeof(mc));
	mc.hdrs = &in;
	mc.subject = m->subject ? m->subject : "crafted";
	mc.text = m->text ? m->text : "crafted\n";
	if (m->inner_head &&
	    qm_buf_append_str(&pt, m->inner_head, &e)) { /* extra headers */
		fail("inner message", &e);
		goto out;
	}
	if (qm_mail_inner_build(&mc, &pt, &e)) {
		fail("inner message", &e);
		goto out;
	}
	/* the associated data as the client binds it (src/client
	 * client_bound_make) */
	rto = cat("to:", h->to);
	rcc = cat("cc:", h->cc);
	rcpts[0] = rto;
	rcpts[1] = rcc;
	memset(&b, 0, sizeof(b));
	b.from = h->from;
	b.rcpts = rcpts;
	b.nrcpts = 2;
	b.message_id = h->message_id;
	b.date = h->date;
	/* the crypto layer refuses to seal a level-1/2 message without a
	 * sender SAE; a hostile sender writes one anyway: sealed with "Z",
	 * then cut out of the envelope's header (the length byte after
	 * "QMEV", version, level, flags, chunk, length and the 32-byte salt),
	 * which is checked only when the envelope opens */
	no_sae = m->level <= 2 && !m->sender_sae[0];
	b.sender_sae = m->level <= 2 ? (no_sae ? "Z" : m->sender_sae) : "";
	memset(&sp, 0, sizeof(sp));
	sp.level = m->level;
	sp.bound = &b;
	if (m->level <= 2) {
		slot.rcpt = m->rcpt_sae;
		slot.keys = m->keys;
		slot.nkeys = m->nkeys;
		sp.slots = &slot;
		sp.nslots = 1;
	} else {
		sp.sender = m->sender;
		sp.rcpts = rp;
		sp.nrcpts = 1;
	}
	if (qm_crypto_env_seal(&sp, pt.data, pt.len, &env, &e)) {
		fail("seal", &e);
		goto out;
	}
	if (no_sae) {
		if (env.len < 54 || env.data[52] != 1 || env.data[53] != 'Z') {
			fprintf(stderr, "craft: unexpected envelope header\n");
			goto out;
		}
		env.data[52] = 0;
		memmove(env.data + 53, env.data + 54, env.len - 54);
		env.len--;
	}
	ids = calloc(m->nkeys ? m->nkeys : 1, sizeof(*ids));
	for (size_t i = 0; ids && i < m->nkeys; i++)
		ids[i] = m->keys[i].key_id;
	memset(&w, 0, sizeof(w));
	w.hdrs = h;
	w.level = m->level;
	w.key_ids = m->level <= 2 ? ids : NULL;
	w.nkey_ids = m->level <= 2 ? m->nkeys : 0;
	w.sender_sae = m->level <= 2 ? (no_sae ? "Z" : m->sender_sae) : NULL;
	w.envelope = env.data;
	w.envelope_len = env.len;
	if (qm_mail_wire_build(&w, wire, &e)) {
		fail("wire", &e);
		goto out;
	}
	if (no_sae) {
		/* and without its X-QKD-Sender-SAE header (the mail layer
		 * will not write an empty one either) */
		static const char hdr[] = "X-QKD-Sender-SAE: Z\r\n";
		unsigned char *at =
		    memmem(wire->data, wire->len, hdr, sizeof(hdr) - 1);

		if (!at) {
			fprintf(stderr, "craft: no X-QKD-Sender-SAE header\n");
			goto out;
		}
		memmove(at, at + sizeof(hdr) - 1,
		        wire->len - (size_t)(at - wire->data) -
		            (sizeof(hdr) - 1));
		wire->len -= sizeof(hdr) - 1;
	}
	if (mid)
		qm_strlcpy(mid, h->message_id, 256);
	rc = 0;
out:
	free(ids);
	free(rto);
	free(rcc);
	free(in.from);
	free(in.to);
	free(in.cc);
	free(in.date);
	free(in.message_id);
	qm_mail_hdrs_free(&h);
	qm_buf_free(&pt);
	qm_buf_free(&env);
	return rc;
}

int craft_plain(const char *from, const char *to, const char *subject,
                const char *mid, struct qm_buf *wire)
{
	unsigned char r[12];
	char fresh[64];

	if (!mid) {
		qm_random(r, sizeof(r));
		snprintf(fresh, sizeof(fresh),
		         "<%02x%02x%02x%02x%02x%02x%02x%02x.plain@qmail.test>",
		         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
		mid = fresh;
	}
	return qm_buf_appendf(wire, NULL,
	                      "From: %s\r\nTo: %s\r\nSubject: %s\r\n"
	                      "Date: Mon, 07 Dec 2026 10:00:00 +0000\r\n"
	                      "Message-ID: %s\r\nMIME-Version: 1.0\r\n"
	                      "Content-Type: text/plain; charset=us-ascii\r\n"
	                      "\r\nA plain message.\r\n",
	                      from, to, subject, mid)
	           ? -1
	           : 0;
}

int craft_deliver(struct world *w, int user, const void *msg, size_t len)
{
	int have = qmt_mail_files(&w->mail, user, NULL, NULL, 0);

	if (qmt_mail_deliver(&w->mail, "sender@qmail.test", qmt_mail_addr(user),
	                     msg, len) != 0)
		return -1;
	return qmt_mail_wait_files(&w->mail, user, NULL, have + 1, 30000) > have
	           ? 0
	           : -1;
}

int craft_kms(struct world *w, int user, struct qm_kms **out)
{
	struct qm_store_account a;
	struct qm_kms_config kc;
	struct qm_error e;

	qm_error_clear(&e);
	if (qm_store_account_get(qm_client_store(w->c[user]), w->acct[user], &a,
	                         &e))
		return fail("account", &e);
	qm_kms_config_init(&kc);
	kc.url = a.kme_url;
	kc.cert_file = a.kme_cert;
	kc.key_file = a.kme_key;
	kc.ca_file = a.kme_ca;
	if (qm_kms_new(&kc, out, &e))
		return fail("kms", &e);
	return 0;
}

int craft_identity(struct world *w, int user, struct qm_identity **out)
{
	struct qm_store_key k;
	struct qm_buf priv;
	struct qm_error e;
	int rc = 0;

	memset(&k, 0, sizeof(k));
	qm_buf_init_secure(&priv, 1 << 20);
	qm_error_clear(&e);
	if (qm_store_key_own_get(qm_client_store(w->c[user]), w->acct[user],
	                         QM_CLIENT_ID_ALG, &k, &priv, &e) ||
	    qm_crypto_identity_import_secret(priv.data, priv.len, out, &e))
		rc = fail("identity", &e);
	qm_store_key_free(&k);
	qm_buf_free(&priv);
	return rc;
}

int craft_pubid(struct world *w, int holder, const char *address,
                struct qm_pubid **out)
{
	struct qm_store_key k;
	struct qm_error e;
	int rc = 0;

	memset(&k, 0, sizeof(k));
	qm_error_clear(&e);
	if (qm_store_key_contact_get(qm_client_store(w->c[holder]), address,
	                             QM_CLIENT_ID_ALG, &k, &e) ||
	    qm_crypto_pubid_from_bytes(k.pub, k.pub_len, out, &e))
		rc = fail("public key", &e);
	qm_store_key_free(&k);
	return rc;
}
