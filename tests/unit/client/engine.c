/* SPDX-License-Identifier: MIT */
/*
 * The engine tests' fixture (engine.h).
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

#include "engine.h"
#include "harness.h"

#define PASSPHRASE "correct horse battery staple"

struct eu alice, bob, carol;

void eng_reset(void)
{
	setenv("QM_STORE_KDF", "fast", 1);
	/* the homes on a tmpfs when there is one: these tests check the
	 * engine's decisions, not durability, and every fsync of the store
	 * on a busy disk costs more than a whole test */
	if (!getenv("QMT_ENGINE_DISK") && access("/dev/shm", W_OK) == 0)
		setenv("TMPDIR", "/dev/shm", 1);
	fake_reset();
}

void eu_open(struct eu *u, const char *name, const char *sae, int pop3)
{
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_error e;

	memset(u, 0, sizeof(*u));
	qm_strlcpy(u->name, name, sizeof(u->name));
	snprintf(u->addr, sizeof(u->addr), "%s@qmail.test", name);
	qm_strlcpy(u->sae, sae, sizeof(u->sae));
	snprintf(u->kme_url, sizeof(u->kme_url), "https://kme-%s.test", name);
	snprintf(u->pass, sizeof(u->pass), "pw-%s", name);
	fake_mail_password(u->addr, u->pass);
	if (qmt_tmpdir(name, u->home, sizeof(u->home)))
		fail_msg("no temporary folder");
	memset(&o, 0, sizeof(o));
	o.home = u->home;
	qm_error_clear(&e);
	assert_ok(qm_client_open(&o, &u->c, &e));
	assert_ok(qm_client_init(u->c, PASSPHRASE, strlen(PASSPHRASE), &e));
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, u->addr, sizeof(a.address));
	snprintf(a.display_name, sizeof(a.display_name), "%c%s", name[0] - 32,
	         name + 1);
	qm_strlcpy(a.smtp.host, "smtp.qmail.test", sizeof(a.smtp.host));
	a.smtp.port = 587;
	a.smtp.tls = QM_TLS_STARTTLS;
	if (pop3) {
		qm_strlcpy(a.pop3.host, "pop3.qmail.test", sizeof(a.pop3.host));
		a.pop3.port = 995;
		a.pop3.tls = QM_TLS_IMPLICIT;
	} else {
		qm_strlcpy(a.imap.host, "imap.qmail.test", sizeof(a.imap.host));
		a.imap.port = 993;
		a.imap.tls = QM_TLS_IMPLICIT;
	}
	qm_strlcpy(a.sae_id, sae, sizeof(a.sae_id));
	qm_strlcpy(a.kme_url, u->kme_url, sizeof(a.kme_url));
	qm_strlcpy(a.kme_ca, "/fake/ca.crt", sizeof(a.kme_ca));
	snprintf(a.kme_cert, sizeof(a.kme_cert), "/fake/%s.crt", sae);
	snprintf(a.kme_key, sizeof(a.kme_key), "/fake/%s.key", sae);
	a.default_level = 2;
	assert_ok(
	    qm_client_account_add(u->c, &a, u->pass, strlen(u->pass), &e));
	u->acct = a.id;
}

void eu_close(struct eu *u)
{
	qm_client_free(&u->c);
	if (u->home[0])
		qmt_rmtree(u->home);
	u->home[0] = '\0';
}

int eng_setup(unsigned flags)
{
	eng_reset();
	eu_open(&alice, "alice", "SAE_A", 0);
	eu_open(&bob, "bob", "SAE_B", 0);
	eu_open(&carol, "carol", "SAE_C", (flags & ENG_CAROL_POP3) != 0);
	if (flags & ENG_KNOW_BOB) {
		eu_knows(&alice, &bob, EU_SAE | EU_VERIFIED);
		eu_knows(&bob, &alice, EU_SAE | EU_VERIFIED);
		fake_link_add("SAE_A", "SAE_B", 1 << 20);
	}
	if (flags & ENG_KNOW_CAROL) {
		eu_knows(&alice, &carol, EU_SAE | EU_VERIFIED);
		eu_knows(&carol, &alice, EU_SAE | EU_VERIFIED);
		fake_link_add("SAE_A", "SAE_C", 1 << 20);
	}
	return 0;
}

int eng_teardown(void **state)
{
	(void)state;
	eu_close(&alice);
	eu_close(&bob);
	eu_close(&carol);
	return 0;
}

void eu_contact(struct eu *u, const char *addr, const char *sae, int confirmed,
                int min_level)
{
	struct qm_store_contact ct;
	struct qm_error e;

	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, addr, sizeof(ct.address));
	qm_strlcpy(ct.sae_id, sae, sizeof(ct.sae_id));
	ct.source = confirmed ? QM_CONTACT_USER : QM_CONTACT_LEARNED;
	ct.confirmed = confirmed;
	ct.min_level = min_level;
	qm_error_clear(&e);
	assert_ok(
	    qm_store_contact_put(qm_client_store(u->c), u->acct, &ct, &e));
}

void eu_knows(struct eu *u, const struct eu *peer, unsigned what)
{
	struct qm_error e;

	qm_error_clear(&e);
	if (what & (EU_SAE | EU_SAE_LEARNED))
		eu_contact(u, peer->addr, peer->sae, (what & EU_SAE) != 0, 0);
	if (what & (EU_PUBKEY | EU_VERIFIED)) {
		struct qm_buf armour;
		char fpr[QM_STORE_FPRMAX];

		qm_buf_init(&armour, 1 << 20);
		assert_ok(
		    qm_client_key_export(peer->c, peer->acct, &armour, &e));
		assert_ok(qm_client_key_import(u->c, NULL,
		                               (const char *)armour.data,
		                               armour.len, fpr, NULL, &e));
		qm_buf_free(&armour);
		if (what & EU_VERIFIED)
			assert_ok(
			    qm_client_key_verify(u->c, peer->addr, fpr, &e));
	}
}

void eu_drop_kme(struct eu *u)
{
	struct qm_store_account a;
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_store_account_get(qm_client_store(u->c), u->acct, &a, &e));
	a.kme_url[0] = '\0';
	assert_ok(qm_store_account_update(qm_client_store(u->c), &a, &e));
}

void eu_setting(struct eu *u, const char *key, const char *value)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_store_setting_set(qm_client_store(u->c), u->acct, key,
	                               value, &e));
}

struct fake_kme *eu_kme(const struct eu *u)
{
	return fake_kme(u->kme_url);
}

enum qm_err eu_send_att(struct eu *u, const char *const *to, size_t nto,
                        int level, int fallback, const char *text,
                        const struct qm_client_attachment *att, size_t natt,
                        struct qm_client_sent *out, struct qm_error *e)
{
	struct qm_client_compose m;

	memset(&m, 0, sizeof(m));
	m.account_id = u->acct;
	m.to = to;
	m.nto = nto;
	m.subject = "engine test";
	m.text = text;
	m.att = att;
	m.natt = natt;
	m.level = level;
	m.fallback_level = fallback;
	qm_error_clear(e);
	return qm_client_send(u->c, &m, NULL, NULL, out, e);
}

enum qm_err eu_send(struct eu *u, const char *const *to, size_t nto, int level,
                    int fallback, const char *text, struct qm_client_sent *out,
                    struct qm_error *e)
{
	return eu_send_att(u, to, nto, level, fallback, text, NULL, 0, out, e);
}

enum qm_err eu_sync(struct eu *u, struct qm_client_sync_stats *st,
                    struct qm_error *e)
{
	qm_error_clear(e);
	return qm_client_sync(u->c, u->acct, NULL, NULL, st, e);
}

size_t eu_inbox(struct eu *u, int64_t *ids, size_t max)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	size_t n = 0;

	memset(&q, 0, sizeof(q));
	q.account_id = u->acct;
	q.folder = "INBOX";
	q.limit = (int)max;
	if (qm_store_msg_list(qm_client_store(u->c), &q, &l, NULL) != QM_OK)
		fail_msg("cannot list %s's INBOX", u->name);
	for (; n < l->n && n < max; n++)
		ids[n] = l->items[n].id;
	qm_store_msglist_free(&l);
	return n;
}

enum qm_store_verify eu_verify(struct eu *u, int64_t id, int *level)
{
	struct qm_store_msglist *l = NULL;
	enum qm_store_verify v;

	if (qm_store_msg_get(qm_client_store(u->c), id, &l, NULL) != QM_OK ||
	    !l->n)
		fail_msg("no message %lld", (long long)id);
	v = l->items[0].verify;
	if (level)
		*level = l->items[0].level;
	qm_store_msglist_free(&l);
	return v;
}

size_t eu_count(struct eu *u, enum qm_store_verify v)
{
	int64_t *ids = NULL;
	size_t n = 0;

	if (qm_store_msg_ids_by_verify(qm_client_store(u->c), u->acct, v, &ids,
	                               &n, NULL) != QM_OK)
		fail_msg("cannot count %s's messages", u->name);
	free(ids);
	return n;
}

enum qm_store_outbox_state eu_outbox_state(struct eu *u, int64_t id,
                                           int *attempts, int64_t *retry_at)
{
	struct qm_store_outbox o;
	enum qm_store_outbox_state s;
	struct qm_error e;

	memset(&o, 0, sizeof(o));
	qm_error_clear(&e);
	assert_ok(qm_store_outbox_get(qm_client_store(u->c), id, &o, &e));
	s = o.state;
	if (attempts)
		*attempts = o.attempts;
	if (retry_at)
		*retry_at = o.retry_at;
	qm_store_outbox_item_free(&o);
	return s;
}

void eu_sync_ok(struct eu *u, struct qm_client_sync_stats *st)
{
	struct qm_error e;

	assert_ok(eu_sync(u, st, &e));
}

void eu_plain_to(const struct eu *u, const char *folder, const char *mid)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg),
	                 "From: dave@x.test\r\nTo: %s\r\nSubject: plain %s\r\n"
	                 "Date: Mon, 1 Dec 2025 10:00:00 +0000\r\n"
	                 "Message-ID: <%s@x.test>\r\n\r\nhello\r\n",
	                 u->addr, mid, mid);

	assert_true(fake_mail_deliver(u->addr, folder, msg, (size_t)n) > 0);
}
