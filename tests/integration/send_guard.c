/* SPDX-License-Identifier: MIT */
/*
 * The send path spends QKD keys only on messages that can go out, and
 * obeys the user's level settings (issue 12, items 4, 5 and 7), against
 * the real servers of the test world (world.h: OpenSMTPD, Dovecot, three
 * qkme KMEs) and a scripted on-demand KME (tests/lib/fakekme.h).
 *
 * Keys are counted where they are handed out, never by asking the code
 * under test: at qkme, a key alice fetches for bob becomes a reservation
 * at bob's KME (status_extension.reserved_keys) until bob picks it up;
 * the scripted KME counts what it hands out itself.
 *
 *   - the same address twice (To and Cc), and an outbox entry that names
 *     one person twice: one copy, one set of keys, however often the
 *     outbox runs;
 *   - two contacts that share one SAE ID: refused before any key is
 *     fetched, at send time and for an entry already in the outbox (which
 *     then fails for good, with the reason, and is not retried);
 *   - an entry that failed before encryption waits for its retry time;
 *   - the settings default_level and min_level ("Default level for new
 *     messages", "Never send below") through the engine, the CLI and the
 *     web API;
 *   - level 1 with a KME that reports 0 stored keys but makes them on
 *     demand: asked, used, and refused only on the KME's answer;
 *   - level 3 to a public key that is not verified: sent, and said so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "fakekme.h"
#include "harness.h"
#include "webclient.h"
#include "web/web.h"
#include "world.h"

static struct world W;
static char home2[600], pwfile[600];
static const char pass2[] = "a long passphrase for the second home";
static struct qmt_fakekme *fk;
static struct qm_store_account saved_acct[2]; /* alice, bob before fk */
static int accts_on_fk;

/* ------------------------------------------------------------ helpers */

static struct qm_store *st(int u)
{
	return qm_client_store(W.c[u]);
}

/*
 * Keys alice's KME handed out for user to's SAE that wait at to's KME.
 * A marker key is fetched as alice and picked up as to first: the KME
 * delivers reservations in order and makes a slave's dec_keys wait for
 * them, so every key alice's client fetched before is counted.
 */
static long long reserved_for(int to)
{
	char path[256], cert[64], id[64];
	json_t *j = NULL, *ext;
	long long n;
	long s;

	snprintf(path, sizeof(path), "/api/v1/keys/%s/enc_keys?number=1",
	         W.sae[to]);
	snprintf(cert, sizeof(cert), "sae/%s", W.sae[W_ALICE]);
	s = kt_req(&W.net, W_ALICE, cert, path, NULL, &j);
	assert_int_equal(s, 200);
	qm_strlcpy(
	    id,
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(j, "keys"), 0), "key_ID")),
	    sizeof(id));
	json_decref(j);
	j = NULL;
	snprintf(path, sizeof(path), "/api/v1/keys/%s/dec_keys?key_ID=%s",
	         W.sae[W_ALICE], id);
	snprintf(cert, sizeof(cert), "sae/%s", W.sae[to]);
	assert_int_equal(kt_req(&W.net, to, cert, path, NULL, &j), 200);
	json_decref(j);
	j = NULL;
	snprintf(path, sizeof(path), "/api/v1/keys/%s/status", W.sae[W_ALICE]);
	assert_int_equal(kt_req(&W.net, to, cert, path, NULL, &j), 200);
	ext = json_object_get(j, "status_extension");
	assert_true(json_is_integer(json_object_get(ext, "reserved_keys")));
	n = json_integer_value(json_object_get(ext, "reserved_keys"));
	json_decref(j);
	return n;
}

static void compose(struct qm_client_compose *m, int64_t acct, const char **to,
                    size_t nto, const char **cc, size_t ncc, int level,
                    const char *subject)
{
	memset(m, 0, sizeof(*m));
	m->account_id = acct;
	m->to = to;
	m->nto = nto;
	m->cc = cc;
	m->ncc = ncc;
	m->subject = subject;
	m->text = "send_guard\n";
	m->level = level;
}

/* Runs alice's outbox n times; returns the failures of the first run. */
static size_t outbox_runs(int n)
{
	size_t first_bad = 0;

	for (int i = 0; i < n; i++) {
		size_t ok = 0, bad = 0;
		struct qm_error e;

		qm_error_clear(&e);
		qm_client_outbox_run(W.c[W_ALICE], W.acct[W_ALICE], &ok, &bad,
		                     &e);
		fprintf(stderr,
		        "send_guard: outbox run %d: %zu sent, %zu "
		        "failed%s%s\n",
		        i + 1, ok, bad, qm_error_msg(&e)[0] ? ": " : "",
		        qm_error_msg(&e));
		if (i == 0)
			first_bad = bad;
	}
	return first_bad;
}

/* Puts a message into alice's outbox as an older QMail (or a change of
 * contacts after it was queued) would have left it. */
static int64_t legacy_entry(const char *mid, const char *to_hdr,
                            const char *rcpts, int level)
{
	char mime[2048];
	struct qm_error e;
	int64_t id = 0;

	snprintf(mime, sizeof(mime),
	         "From: Alice <%s>\r\nTo: %s\r\nDate: Mon, 1 Jan 2024 "
	         "10:00:00 +0000\r\nMessage-ID: %s\r\nSubject: left in the "
	         "outbox\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; "
	         "charset=utf-8\r\n\r\nqueued before the check\r\n",
	         qmt_mail_addr(W_ALICE), to_hdr, mid);
	assert_int_equal(qm_store_outbox_add(st(W_ALICE), W.acct[W_ALICE], mid,
	                                     rcpts, level, mime, strlen(mime),
	                                     &id, &e),
	                 QM_OK);
	return id;
}

static void contact_sae_set(int u, int who, const char *sae, int min_level)
{
	struct qm_store_contact ct;
	struct qm_error e;

	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, qmt_mail_addr(who), sizeof(ct.address));
	qm_strlcpy(ct.sae_id, sae, sizeof(ct.sae_id));
	ct.source = QM_CONTACT_USER;
	ct.confirmed = 1;
	ct.min_level = min_level;
	assert_int_equal(qm_store_contact_put(st(u), W.acct[u], &ct, &e),
	                 QM_OK);
}

static char *last_out; /* what the last qm2() printed */

/* Runs qmail on home2 with the arguments (NULL-terminated); what it
 * printed is output()'s. Returns the exit code. */
static int qm2(const char *first, ...)
{
	const char *args[64];
	va_list ap;
	size_t n = 0;
	const char *a;

	args[n++] = first;
	va_start(ap, first);
	while ((a = va_arg(ap, const char *)) && n < 63)
		args[n++] = a;
	va_end(ap);
	free(last_out);
	return qmt_qmail(home2, &last_out, args, n);
}

static char *output(void)
{
	return strdup(last_out ? last_out : "");
}

/* Opens home2 in this process, unlocked. */
static struct qm_client *open2(void)
{
	struct qm_client_opts o;
	struct qm_client *c = NULL;
	struct qm_error e;

	memset(&o, 0, sizeof(o));
	o.home = home2;
	assert_int_equal(qm_client_open(&o, &c, &e), QM_OK);
	assert_int_equal(qm_client_unlock(c, pass2, strlen(pass2), &e), QM_OK);
	return c;
}

static int64_t first_account(struct qm_client *c)
{
	struct qm_store_account *list = NULL;
	size_t n = 0;
	int64_t id;

	assert_int_equal(
	    qm_store_account_list(qm_client_store(c), &list, &n, NULL), QM_OK);
	assert_true(n >= 1);
	id = list[0].id;
	free(list);
	return id;
}

static int group_setup(void **state)
{
	(void)state;
	if (world_setup(&W, "sendguard", NULL))
		return -1;
	if (W.skipped)
		return 0;
	snprintf(home2, sizeof(home2), "%s/alice-second-home", W.mail.dir);
	snprintf(pwfile, sizeof(pwfile), "%s/passphrase2", W.mail.dir);
	qmt_write_file(pwfile, pass2);
	setenv("QMAIL_PASSPHRASE_FILE", pwfile, 1);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

/* Puts alice's and bob's accounts back on their own KMEs. */
static void accounts_restore(void)
{
	struct qm_error e;

	for (int u = 0; u < 2 && accts_on_fk; u++)
		qm_store_account_update(st(u), &saved_acct[u], &e);
	accts_on_fk = 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (!W.skipped)
		accounts_restore();
	qmt_fakekme_stop(&fk);
	free(last_out);
	last_out = NULL;
	world_stop(&W);
	curl_global_cleanup();
	return 0;
}

/* ------------------------------------------------ item 5: repeated rcpts */

/*
 * Level 2 to "To: bob, Cc: Bob <BOB@...>", then the outbox three times:
 * one set of keys (one key for bob), one delivery. The same for an entry
 * already in the outbox that names bob twice. Before the fix each attempt
 * fetched two keys for bob's one SAE, the envelope refused two slots for
 * one recipient, the keys were burnt, and every run did it again.
 */
static void test_repeated_address(void **state)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	char bob_caps[64];
	const char *cc[] = {bob_caps};
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_store_outbox o;
	struct qm_error e;
	long long base, keys;
	int64_t id;
	int mail0;
	enum qm_err rc;

	(void)state;
	if (W.skipped)
		skip();
	snprintf(bob_caps, sizeof(bob_caps), "Bob <BOB@%s>", QMT_MAIL_DOMAIN);
	mail0 = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	base = reserved_for(W_BOB);
	compose(&m, W.acct[W_ALICE], to, 1, cc, 1, 2, "bob twice");
	qm_error_clear(&e);
	rc = qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e);
	fprintf(stderr, "send_guard: To bob, Cc bob: %s (note: %s)\n",
	        rc ? qm_error_msg(&e) : "sent", sent.note);
	outbox_runs(3);
	keys = reserved_for(W_BOB) - base;
	fprintf(stderr, "send_guard: keys fetched for bob: %lld\n", keys);
	assert_true(keys <= 1);
	assert_int_equal(rc, QM_OK);
	assert_int_equal(keys, 1);
	assert_int_equal(sent.n_outbox, 1);
	assert_int_equal(sent.n_sent, 1);
	assert_non_null(strcasestr(sent.note, qmt_mail_addr(W_BOB)));
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, mail0 + 1, 30000),
	    mail0 + 1);

	/* an entry left in the outbox with bob twice */
	base = reserved_for(W_BOB);
	id = legacy_entry("<legacy-twice@qmail.test>",
	                  "bob@qmail.test, bob@qmail.test",
	                  "bob@qmail.test, bob@qmail.test", 2);
	outbox_runs(3);
	keys = reserved_for(W_BOB) - base;
	fprintf(stderr, "send_guard: keys fetched for the old entry: %lld\n",
	        keys);
	assert_true(keys <= 1);
	memset(&o, 0, sizeof(o));
	assert_int_equal(qm_store_outbox_get(st(W_ALICE), id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_SENT);
	assert_int_equal(o.n_keys, 1);
	qm_store_outbox_item_free(&o);
	/* one copy each: the second message is the last one in the box */
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, mail0 + 2, 30000),
	    mail0 + 2);
	assert_int_equal(qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0),
	                 mail0 + 2);
}

/* ------------------------------------------------- item 5: shared SAE */

/*
 * Alice's contacts bob and carol both have the SAE ID SAE_B. Levels 1 and
 * 2 say so (naming both and the SAE) and refuse before any key is
 * fetched; a fallback to level 3 works. An entry queued before the
 * contacts were changed fails for good at the next outbox run, with that
 * reason, and the runs after it leave it alone: no key is fetched.
 */
static void test_shared_sae(void **state)
{
	const char *to[] = {qmt_mail_addr(W_BOB), qmt_mail_addr(W_CAROL)};
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_client_level lv[4];
	struct qm_store_outbox o;
	struct qm_error e;
	long long base;
	uint64_t need;
	int64_t id;
	enum qm_err rc;

	(void)state;
	if (W.skipped)
		skip();
	base = reserved_for(W_BOB);
	contact_sae_set(W_ALICE, W_CAROL, W.sae[W_BOB], 0);

	assert_int_equal(qm_client_levels(W.c[W_ALICE], W.acct[W_ALICE], to, 2,
	                                  1000, lv, &need, &e),
	                 QM_OK);
	for (int l = 0; l < 2; l++) {
		fprintf(stderr, "send_guard: level %d: %s\n", l + 1,
		        lv[l].reason);
		assert_false(lv[l].available);
		assert_non_null(strstr(lv[l].reason, W.sae[W_BOB]));
	}
	assert_true(lv[2].available);

	compose(&m, W.acct[W_ALICE], to, 2, NULL, 0, 2, "shared SAE");
	qm_error_clear(&e);
	rc = qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e);
	fprintf(stderr, "send_guard: bob and carol on one SAE: %s\n",
	        qm_error_msg(&e));
	assert_int_equal(reserved_for(W_BOB) - base, 0);
	assert_int_equal(rc, QM_ERR_UNAVAIL);
	assert_int_equal(sent.n_outbox, 0);
	assert_non_null(strstr(qm_error_msg(&e), qmt_mail_addr(W_BOB)));
	assert_non_null(strstr(qm_error_msg(&e), qmt_mail_addr(W_CAROL)));
	assert_non_null(strstr(qm_error_msg(&e), W.sae[W_BOB]));

	/* with a fallback, at level 3 (said so) */
	m.fallback_level = 3;
	qm_error_clear(&e);
	assert_int_equal(
	    qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e), QM_OK);
	assert_int_equal(sent.level, 3);
	assert_true(sent.fell_back);
	assert_non_null(strstr(sent.note, W.sae[W_BOB]));

	/* queued before the change: fails for good, once */
	id = legacy_entry("<legacy-shared@qmail.test>",
	                  "bob@qmail.test, carol@qmail.test",
	                  "bob@qmail.test, carol@qmail.test", 2);
	assert_int_equal(outbox_runs(3), 1);
	assert_int_equal(reserved_for(W_BOB) - base, 0);
	memset(&o, 0, sizeof(o));
	assert_int_equal(qm_store_outbox_get(st(W_ALICE), id, &o, &e), QM_OK);
	fprintf(stderr, "send_guard: the old entry: %s, %s\n",
	        qm_store_outbox_state_str(o.state), o.reason ? o.reason : "");
	assert_int_equal(o.state, QM_OUTBOX_FAILED);
	assert_non_null(o.reason);
	assert_non_null(strstr(o.reason, W.sae[W_BOB]));
	qm_store_outbox_item_free(&o);

	contact_sae_set(W_ALICE, W_CAROL, W.sae[W_CAROL], 0);
	/* the person fixed the contact: a retry sends it (levels 1 and 2
	 * protect each recipient under their own SAE) */
	{
		int sent1 = 0;

		qm_error_clear(&e);
		assert_int_equal(
		    qm_client_outbox_retry(W.c[W_ALICE], id, &sent1, &e),
		    QM_OK);
		assert_int_equal(sent1, 1);
	}
	assert_int_equal(reserved_for(W_BOB) - base, 1);
}

/*
 * An entry whose recipient has no SAE ID any more (the contact changed
 * after it was queued) fails for good at the first run, names the
 * recipient, and later runs do not touch it; the KME is never asked.
 */
static void test_permanent_failure(void **state)
{
	struct qm_store_outbox o;
	struct qm_error e;
	long long base;
	int64_t id, updated;

	(void)state;
	if (W.skipped)
		skip();
	base = reserved_for(W_BOB);
	contact_sae_set(W_ALICE, W_BOB, "", 0);
	id = legacy_entry("<legacy-no-sae@qmail.test>", "bob@qmail.test",
	                  "bob@qmail.test", 2);
	assert_int_equal(outbox_runs(1), 1);
	memset(&o, 0, sizeof(o));
	assert_int_equal(qm_store_outbox_get(st(W_ALICE), id, &o, &e), QM_OK);
	fprintf(stderr, "send_guard: no SAE ID: %s, %s\n",
	        qm_store_outbox_state_str(o.state), o.reason ? o.reason : "");
	assert_int_equal(o.state, QM_OUTBOX_FAILED);
	assert_non_null(strstr(o.reason, qmt_mail_addr(W_BOB)));
	updated = o.updated;
	qm_store_outbox_item_free(&o);
	assert_int_equal(outbox_runs(2), 0);
	assert_int_equal(qm_store_outbox_get(st(W_ALICE), id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_FAILED);
	assert_int_equal(o.updated, updated);
	qm_store_outbox_item_free(&o);
	assert_int_equal(reserved_for(W_BOB) - base, 0);
	contact_sae_set(W_ALICE, W_BOB, W.sae[W_BOB], 0);
}

/* ------------------------------------------- item 7: default and floor */

/*
 * The engine: a send without a level goes at default_level (else the
 * account's own); nothing goes below min_level, a fallback neither; a
 * contact's minimum level still counts; a setting that holds no level
 * stops sends instead of lifting the floor.
 */
static void test_engine_levels(void **state)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	const char *two[] = {qmt_mail_addr(W_BOB), qmt_mail_addr(W_CAROL)};
	struct qm_client *c;
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_client_level lv[4];
	struct qm_client_level_prefs p;
	struct qm_error e;
	uint64_t need;
	int v = -1;

	(void)state;
	if (W.skipped)
		skip();
	c = W.c[W_ALICE];
	assert_int_equal(qm_client_level_prefs(c, W.acct[W_ALICE], &p, &e),
	                 QM_OK);
	assert_int_equal(p.default_level, 2); /* the account's */
	assert_false(p.default_set);
	assert_int_equal(p.min_level, 0);
	assert_int_equal(qm_client_level_setting_set(c, "min_level", "5", &e),
	                 QM_ERR_INVAL);
	assert_int_equal(qm_client_level_setting_set(c, "max_level", "2", &e),
	                 QM_ERR_NOTFOUND);

	/* the default */
	assert_int_equal(qm_client_level_setting_set(
	                     c, QM_CLIENT_SET_DEFAULT_LEVEL, "3", &e),
	                 QM_OK);
	compose(&m, W.acct[W_ALICE], to, 1, NULL, 0, 0, "default level");
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e), QM_OK);
	assert_int_equal(sent.level, 3);
	assert_string_equal(sent.warning,
	                    ""); /* the world's keys are verified */

	/* the floor: the default is below it, so is an explicit level 4 */
	assert_int_equal(
	    qm_client_level_setting_set(c, QM_CLIENT_SET_MIN_LEVEL, "2", &e),
	    QM_OK);
	assert_int_equal(qm_client_level_setting_get(c, "min_level", &v, &e),
	                 QM_OK);
	assert_int_equal(v, 2);
	qm_error_clear(&e);
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e),
	                 QM_ERR_UNAVAIL);
	assert_non_null(strstr(qm_error_msg(&e), "min_level"));
	assert_int_equal(sent.n_outbox, 0);
	m.level = 4;
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e),
	                 QM_ERR_UNAVAIL);
	/* a fallback at the floor is taken */
	m.level = 0;
	m.fallback_level = 2;
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e), QM_OK);
	assert_int_equal(sent.level, 2);
	assert_true(sent.fell_back);
	assert_non_null(strstr(sent.note, "min_level"));
	/* a fallback below it is not: level 1 to two people on one SAE */
	contact_sae_set(W_ALICE, W_CAROL, W.sae[W_BOB], 0);
	compose(&m, W.acct[W_ALICE], two, 2, NULL, 0, 1, "fallback below");
	m.fallback_level = 3;
	qm_error_clear(&e);
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e),
	                 QM_ERR_UNAVAIL);
	fprintf(stderr, "send_guard: fallback below the floor: %s\n",
	        qm_error_msg(&e));
	assert_non_null(strstr(qm_error_msg(&e), "fallback"));
	assert_non_null(strstr(qm_error_msg(&e), "min_level"));
	assert_int_equal(sent.n_outbox, 0);
	contact_sae_set(W_ALICE, W_CAROL, W.sae[W_CAROL], 0);
	/* the levels say it */
	assert_int_equal(
	    qm_client_levels(c, W.acct[W_ALICE], to, 1, 1000, lv, &need, &e),
	    QM_OK);
	assert_true(lv[1].available);
	assert_false(lv[2].available);
	assert_non_null(strstr(lv[2].reason, "min_level"));
	assert_false(lv[3].available);

	/* a contact's own minimum keeps working */
	assert_int_equal(
	    qm_client_level_setting_set(c, QM_CLIENT_SET_MIN_LEVEL, "none", &e),
	    QM_OK);
	contact_sae_set(W_ALICE, W_BOB, W.sae[W_BOB], 2);
	compose(&m, W.acct[W_ALICE], to, 1, NULL, 0, 3, "contact minimum");
	qm_error_clear(&e);
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e),
	                 QM_ERR_UNAVAIL);
	assert_non_null(strstr(qm_error_msg(&e), qmt_mail_addr(W_BOB)));
	contact_sae_set(W_ALICE, W_BOB, W.sae[W_BOB], 0);

	/* a setting edited into something that is no level: no send */
	assert_int_equal(
	    qm_store_setting_set(st(W_ALICE), 0, "min_level", "lots", &e),
	    QM_OK);
	qm_error_clear(&e);
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e),
	                 QM_ERR_PARSE);
	assert_non_null(strstr(qm_error_msg(&e), "min_level"));
	assert_int_equal(
	    qm_client_level_setting_set(c, QM_CLIENT_SET_MIN_LEVEL, "0", &e),
	    QM_OK);
	assert_int_equal(qm_client_level_setting_set(
	                     c, QM_CLIENT_SET_DEFAULT_LEVEL, "default", &e),
	                 QM_OK);
	assert_int_equal(qm_client_level_prefs(c, W.acct[W_ALICE], &p, &e),
	                 QM_OK);
	assert_int_equal(p.default_level, 2);
	assert_int_equal(p.min_level, 0);
}

/* The settings through the command line, on a second home of alice made
 * with the CLI (bob's key imported, not verified). */
static void test_cli_levels(void **state)
{
	char keyfile[700], body[700], *o;
	const char *args[48];
	struct qm_buf armour;
	struct qm_error e;
	int n = 0;

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(qm2("init", NULL), 0);
	args[n++] = "account";
	args[n++] = "add";
	n += world_account_args(&W, W_ALICE, args + n);
	args[n] = NULL;
	assert_int_equal(qmt_qmail(home2, NULL, args, (size_t)n), 0);
	assert_int_equal(qm2("contact", "add", qmt_mail_addr(W_BOB), "--sae",
	                     W.sae[W_BOB], NULL),
	                 0);
	qm_buf_init(&armour, 1 << 20);
	assert_int_equal(
	    qm_client_key_export(W.c[W_BOB], W.acct[W_BOB], &armour, &e),
	    QM_OK);
	snprintf(keyfile, sizeof(keyfile), "%s/bob-key.txt", W.mail.dir);
	qmt_write_file(keyfile, (const char *)armour.data);
	qm_buf_free(&armour);
	assert_int_equal(qm2("keys", "import", keyfile, NULL), 0);
	snprintf(body, sizeof(body), "%s/body2.txt", W.mail.dir);
	qmt_write_file(body, "from the second home\n");

	/* unset: the account's own default (2) */
	assert_int_equal(qm2("config", "get", "default_level", NULL), 0);
	o = output();
	assert_string_equal(o, "0\n");
	free(o);
	assert_int_equal(qm2("config", "set", "default_level", "3", NULL), 0);
	assert_int_equal(qm2("config", "get", "default_level", NULL), 0);
	o = output();
	assert_string_equal(o, "3\n");
	free(o);
	assert_int_equal(qm2("config", "list", NULL), 0);
	o = output();
	assert_non_null(strstr(o, "default_level"));
	assert_non_null(strstr(o, "min_level"));
	free(o);
	assert_int_not_equal(qm2("config", "set", "min_level", "5", NULL), 0);

	/* no --level: the default, 3; bob's key is not verified: said so */
	assert_int_equal(qm2("send", "--to", qmt_mail_addr(W_BOB), "--subject",
	                     "default level", "--body-file", body, NULL),
	                 0);
	o = output();
	fprintf(stderr, "send_guard: qmail send: %s", o);
	assert_non_null(strstr(o, "sent at level 3"));
	assert_non_null(strstr(o, "not verified"));
	assert_non_null(strstr(o, qmt_mail_addr(W_BOB)));
	free(o);

	/* the floor: level 3 is weaker than 2 */
	assert_int_equal(qm2("config", "set", "min_level", "2", NULL), 0);
	assert_int_equal(qm2("send", "--to", qmt_mail_addr(W_BOB), "--subject",
	                     "below the floor", "--body-file", body, "--level",
	                     "3", NULL),
	                 6);
	o = output();
	fprintf(stderr, "send_guard: qmail send --level 3: %s", o);
	assert_non_null(strstr(o, "min_level"));
	free(o);
	/* the default (3) is below the floor too */
	assert_int_equal(qm2("send", "--to", qmt_mail_addr(W_BOB), "--subject",
	                     "below the floor", "--body-file", body, NULL),
	                 6);
	/* level 2 is allowed */
	assert_int_equal(qm2("send", "--to", qmt_mail_addr(W_BOB), "--subject",
	                     "at the floor", "--body-file", body, "--level",
	                     "2", NULL),
	                 0);
	assert_int_equal(qm2("config", "set", "min_level", "default", NULL), 0);
	assert_int_equal(qm2("config", "set", "default_level", "default", NULL),
	                 0);
	assert_int_equal(qm2("config", "get", "min_level", NULL), 0);
	o = output();
	assert_string_equal(o, "0\n");
	free(o);
}

/*
 * Item 4, the send side: bob's key in the second home is not verified.
 * Level 3 is available and says whose key; the send goes and says so;
 * levels 1 and 2 (no public key involved) say nothing.
 */
static void test_unverified_key(void **state)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_client *c;
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_client_level lv[4];
	struct qm_error e;
	uint64_t need;
	int64_t acct;

	(void)state;
	if (W.skipped)
		skip();
	c = open2();
	acct = first_account(c);
	assert_int_equal(qm_client_levels(c, acct, to, 1, 1000, lv, &need, &e),
	                 QM_OK);
	for (int l = 2; l < 4; l++) {
		fprintf(stderr, "send_guard: level %d: %s\n", l + 1,
		        lv[l].note);
		assert_true(lv[l].available);
		assert_string_equal(lv[l].unverified, qmt_mail_addr(W_BOB));
		assert_non_null(strstr(lv[l].note, "not verified"));
		assert_non_null(strstr(lv[l].note, qmt_mail_addr(W_BOB)));
	}
	assert_true(lv[1].available);
	assert_string_equal(lv[1].unverified, "");
	compose(&m, acct, to, 1, NULL, 0, 4, "to a key not verified");
	qm_error_clear(&e);
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e), QM_OK);
	assert_non_null(strstr(sent.warning, qmt_mail_addr(W_BOB)));
	m.level = 2;
	assert_int_equal(qm_client_send(c, &m, NULL, NULL, &sent, &e), QM_OK);
	assert_string_equal(sent.warning, "");
	qm_client_free(&c);
}

/* ---------------------------------------------------------- web API */

static struct qmt_web g_web; /* the session with the GUI of a test */

/*
 * The GUI's settings reach the engine: PUT /api/settings, then a send
 * without a level goes at the default, the levels call says which is the
 * default and that bob's key is not verified, and a send below the floor
 * is refused with 422 naming the setting.
 */
static void test_web_levels(void **state)
{
	struct qm_client *c;
	struct qm_web_server *srv = NULL;
	struct qm_web_config wc;
	struct qm_error e;
	struct qmt_resp r;
	char body[1024];
	int64_t acct, failed_id = 0;
	json_t *lv;

	(void)state;
	if (W.skipped)
		skip();
	c = open2();
	acct = first_account(c);
	/* an entry that failed for good: bob had no SAE ID when it was tried */
	{
		struct qm_store_contact ct;
		char mime[512];
		size_t ok = 0, bad = 0;

		memset(&ct, 0, sizeof(ct));
		qm_strlcpy(ct.address, qmt_mail_addr(W_BOB),
		           sizeof(ct.address));
		ct.source = QM_CONTACT_USER;
		assert_int_equal(
		    qm_store_contact_put(qm_client_store(c), acct, &ct, &e),
		    QM_OK);
		snprintf(mime, sizeof(mime),
		         "From: %s\r\nTo: %s\r\nDate: Mon, 1 Jan 2024 10:00:00 "
		         "+0000\r\nMessage-ID: <web-retry@qmail.test>\r\n"
		         "Subject: retried in the GUI\r\n\r\nhi\r\n",
		         qmt_mail_addr(W_ALICE), qmt_mail_addr(W_BOB));
		assert_int_equal(qm_store_outbox_add(qm_client_store(c), acct,
		                                     "<web-retry@qmail.test>",
		                                     qmt_mail_addr(W_BOB), 2,
		                                     mime, strlen(mime),
		                                     &failed_id, &e),
		                 QM_OK);
		qm_client_outbox_run(c, acct, &ok, &bad, &e);
		assert_int_equal(bad, 1);
		qm_strlcpy(ct.sae_id, W.sae[W_BOB], sizeof(ct.sae_id));
		assert_int_equal(
		    qm_store_contact_put(qm_client_store(c), acct, &ct, &e),
		    QM_OK);
	}
	memset(&wc, 0, sizeof(wc));
	assert_int_equal(qm_web_server_start(&wc, c, &srv, &e), QM_OK);
	qmt_web_init(&g_web, (unsigned)qm_web_server_port(srv));
	assert_int_equal(qmt_web_unlock(&g_web, pass2), 200);

	assert_int_equal(qmt_web_req(&g_web, "PUT", "/api/settings",
	                             "{\"default_level\":3,\"min_level\":0}",
	                             &r),
	                 0);
	assert_int_equal(r.status, 200);
	qmt_resp_free(&r);
	snprintf(body, sizeof(body),
	         "{\"account\":\"%lld\",\"to\":[\"%s\"],\"body_bytes\":100}",
	         (long long)acct, qmt_mail_addr(W_BOB));
	assert_int_equal(qmt_web_req(&g_web, "POST", "/api/levels", body, &r),
	                 0);
	fprintf(stderr, "send_guard: /api/levels: %s\n", r.body);
	assert_int_equal(r.status, 200);
	assert_int_equal(
	    json_integer_value(json_object_get(r.json, "default_level")), 3);
	lv = json_array_get(json_object_get(r.json, "levels"), 2);
	assert_true(json_is_true(json_object_get(lv, "available")));
	assert_non_null(strstr(json_string_value(json_object_get(lv, "note")),
	                       qmt_mail_addr(W_BOB)));
	qmt_resp_free(&r);

	snprintf(body, sizeof(body),
	         "{\"account\":\"%lld\",\"to\":[\"%s\"],\"subject\":\"GUI "
	         "default\",\"text\":\"hi\"}",
	         (long long)acct, qmt_mail_addr(W_BOB));
	assert_int_equal(qmt_web_req(&g_web, "POST", "/api/send", body, &r), 0);
	fprintf(stderr, "send_guard: /api/send: %s\n", r.body);
	assert_int_equal(r.status, 202);
	assert_int_equal(json_integer_value(json_object_get(r.json, "level")),
	                 3);
	assert_non_null(
	    strstr(json_string_value(json_object_get(r.json, "warning")),
	           qmt_mail_addr(W_BOB)));
	qmt_resp_free(&r);

	assert_int_equal(qmt_web_req(&g_web, "PUT", "/api/settings",
	                             "{\"min_level\":2}", &r),
	                 0);
	assert_int_equal(r.status, 200);
	qmt_resp_free(&r);
	snprintf(body, sizeof(body),
	         "{\"account\":\"%lld\",\"to\":[\"%s\"],\"subject\":\"GUI "
	         "floor\",\"text\":\"hi\",\"level\":3}",
	         (long long)acct, qmt_mail_addr(W_BOB));
	assert_int_equal(qmt_web_req(&g_web, "POST", "/api/send", body, &r), 0);
	fprintf(stderr, "send_guard: /api/send below the floor: %s\n", r.body);
	assert_int_equal(r.status, 422);
	assert_non_null(strstr(r.body, "min_level"));
	qmt_resp_free(&r);
	snprintf(body, sizeof(body),
	         "{\"account\":\"%lld\",\"to\":[\"%s\"],\"body_bytes\":100}",
	         (long long)acct, qmt_mail_addr(W_BOB));
	assert_int_equal(qmt_web_req(&g_web, "POST", "/api/levels", body, &r),
	                 0);
	lv = json_array_get(json_object_get(r.json, "levels"), 2);
	assert_false(json_is_true(json_object_get(lv, "available")));
	assert_non_null(strstr(json_string_value(json_object_get(lv, "reason")),
	                       "min_level"));
	qmt_resp_free(&r);

	/* the failed entry: the GUI offers to try again, and it goes */
	{
		char path[64];
		json_t *it;
		size_t i;
		int found = 0;

		snprintf(path, sizeof(path), "/api/outbox?account=%lld",
		         (long long)acct);
		assert_int_equal(qmt_web_req(&g_web, "GET", path, NULL, &r), 0);
		json_array_foreach(json_object_get(r.json, "items"), i, it)
		{
			if (strtoll(
			        json_string_value(json_object_get(it, "id")),
			        NULL, 10) == failed_id) {
				found = 1;
				assert_string_equal(
				    json_string_value(
				        json_object_get(it, "state")),
				    "failed");
				assert_true(json_is_true(
				    json_object_get(it, "can_retry")));
			}
		}
		assert_true(found);
		qmt_resp_free(&r);
		snprintf(path, sizeof(path), "/api/outbox/%lld/retry",
		         (long long)failed_id);
		assert_int_equal(qmt_web_req(&g_web, "POST", path, "{}", &r),
		                 0);
		fprintf(stderr, "send_guard: retry in the GUI: %s\n", r.body);
		assert_int_equal(r.status, 200);
		assert_int_equal(
		    json_integer_value(json_object_get(r.json, "sent")), 1);
		qmt_resp_free(&r);
	}

	/* back to "each account's own default", no floor */
	assert_int_equal(qmt_web_req(&g_web, "PUT", "/api/settings",
	                             "{\"default_level\":0,\"min_level\":0}",
	                             &r),
	                 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(
	    json_integer_value(json_object_get(r.json, "default_level")), 0);
	qmt_resp_free(&r);
	qm_web_server_stop(&srv);
	qm_client_free(&c);
}

/* ------------------------------------- item 7: level 1 from an on-demand KME
 */

/* Moves alice's and bob's accounts to the scripted KME. */
static void accounts_on_fakekme(void)
{
	static const char *const saes[] = {"SAE_A", "SAE_B"};
	char dir[700];
	struct qm_error e;

	if (accts_on_fk)
		return;
	snprintf(dir, sizeof(dir), "%s/fakekme", W.mail.dir);
	{
		char *argv[] = {"mkdir", "-p", dir, NULL};
		assert_int_equal(qmt_run(argv, NULL), 0);
	}
	if (!fk)
		assert_int_equal(qmt_fakekme_start(dir, saes, 2, &fk), 0);
	for (int u = 0; u < 2; u++) {
		struct qm_store_account a;

		assert_int_equal(
		    qm_store_account_get(st(u), W.acct[u], &saved_acct[u], &e),
		    QM_OK);
		a = saved_acct[u];
		qm_strlcpy(a.kme_url, qmt_fakekme_url(fk), sizeof(a.kme_url));
		qm_strlcpy(a.kme_ca, qmt_fakekme_ca(fk), sizeof(a.kme_ca));
		qmt_fakekme_cert(fk, saes[u], a.kme_cert, a.kme_key);
		assert_int_equal(qm_store_account_update(st(u), &a, &e), QM_OK);
	}
	accts_on_fk = 1;
}

/*
 * The scripted KME reports stored_key_count 0 and makes keys when asked.
 * Level 1 is offered, the message goes out under keys the KME made (the
 * same IDs, none thrown away), and bob reads it. When the KME refuses
 * (503, then 400) nothing is handed out and nothing waits in the outbox:
 * the send is refused with the KME's answer, or falls back when allowed.
 */
static void test_level1_on_demand(void **state)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_client_level lv[4];
	struct qm_client_sync_stats ss;
	struct qmt_fakekme_counts n0, n1;
	struct qm_store_outbox o;
	struct qm_error e;
	uint64_t need;
	int64_t *pend = NULL;
	size_t npend = 0, npend0 = 0;
	int mail0;
	enum qm_err rc;

	(void)state;
	if (W.skipped)
		skip();
	/* bob's earlier mail is read under his own KME first */
	memset(&ss, 0, sizeof(ss));
	qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, &ss, &e);
	accounts_on_fakekme();

	assert_int_equal(qm_client_levels(W.c[W_ALICE], W.acct[W_ALICE], to, 1,
	                                  2000, lv, &need, &e),
	                 QM_OK);
	fprintf(
	    stderr, "send_guard: level 1 with an on-demand KME: %s%s\n",
	    lv[0].available ? "available" : "not available: ", lv[0].reason);
	assert_true(lv[0].available);

	qmt_fakekme_counts(fk, &n0);
	mail0 = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	compose(&m, W.acct[W_ALICE], to, 1, NULL, 0, 1,
	        "one-time pad on demand");
	qm_error_clear(&e);
	rc = qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e);
	fprintf(stderr, "send_guard: level 1 send: %s\n",
	        rc ? qm_error_msg(&e) : "sent");
	assert_int_equal(rc, QM_OK);
	assert_int_equal(sent.level, 1);
	assert_int_equal(sent.n_sent, 1);
	qmt_fakekme_counts(fk, &n1);
	memset(&o, 0, sizeof(o));
	assert_int_equal(
	    qm_store_outbox_get(st(W_ALICE), sent.outbox_ids[0], &o, &e),
	    QM_OK);
	/* every key the KME made went into this message */
	assert_true(o.n_keys >= 1);
	assert_int_equal(n1.keys_out - n0.keys_out, o.n_keys);
	for (size_t i = 0; i < o.n_keys; i++)
		assert_true(qmt_fakekme_made(fk, o.key_ids[i]));
	/* and bob reads it with them (synced until it is there: mail sent
	 * to him earlier may still be arriving) */
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, mail0 + 1,
	                                30000) >= mail0 + 1);
	{
		struct qm_client_view *v = NULL;
		uint64_t t0 = qm_mono_ns();
		int64_t mid = 0;

		while (!mid && qm_mono_ns() - t0 < 60000000000ull) {
			struct qm_store_query q;
			struct qm_store_msglist *l = NULL;
			struct timespec ts = {0, 200 * 1000 * 1000};

			memset(&ss, 0, sizeof(ss));
			qm_error_clear(&e);
			assert_int_equal(qm_client_sync(W.c[W_BOB],
			                                W.acct[W_BOB], NULL,
			                                NULL, &ss, &e),
			                 QM_OK);
			memset(&q, 0, sizeof(q));
			q.account_id = W.acct[W_BOB];
			q.level = 1;
			q.text = "demand";
			assert_int_equal(
			    qm_store_msg_list(st(W_BOB), &q, &l, &e), QM_OK);
			if (l->n)
				mid = l->items[0].id;
			qm_store_msglist_free(&l);
			if (!mid)
				nanosleep(&ts, NULL);
		}
		assert_true(mid > 0);
		assert_int_equal(qm_client_read(W.c[W_BOB], mid, &v, &e),
		                 QM_OK);
		assert_int_equal(v->verify, QM_VERIFY_OK);
		assert_int_equal(v->level, 1);
		assert_int_equal(v->nkey_ids, o.n_keys);
		for (size_t i = 0; i < o.n_keys; i++)
			assert_string_equal(v->key_ids[i], o.key_ids[i]);
		qm_client_view_free(&v);
	}
	qm_store_outbox_item_free(&o);

	/* the KME says no: nothing handed out, nothing queued */
	assert_int_equal(qm_store_outbox_list(st(W_ALICE), W.acct[W_ALICE],
	                                      QM_OUTBOX_PENDING, 0, &pend,
	                                      &npend0, &e),
	                 QM_OK);
	free(pend);
	pend = NULL;
	for (int refusal = 0; refusal < 2; refusal++) {
		qmt_fakekme_refuse(fk, refusal ? 400 : 503);
		qmt_fakekme_counts(fk, &n0);
		m.fallback_level = 0;
		qm_error_clear(&e);
		rc = qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e);
		fprintf(stderr, "send_guard: level 1, KME refuses: %s\n",
		        qm_error_msg(&e));
		assert_int_equal(rc, QM_ERR_UNAVAIL);
		assert_int_equal(sent.n_outbox, 0);
		assert_non_null(strstr(qm_error_msg(&e), "KME"));
		m.fallback_level = 3;
		qm_error_clear(&e);
		rc = qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e);
		assert_int_equal(rc, QM_OK);
		assert_int_equal(sent.level, 3);
		assert_true(sent.fell_back);
		qmt_fakekme_counts(fk, &n1);
		assert_true(n1.refused > n0.refused);
		assert_int_equal(n1.keys_out, n0.keys_out);
		assert_int_equal(qm_store_outbox_list(
		                     st(W_ALICE), W.acct[W_ALICE],
		                     QM_OUTBOX_PENDING, 0, &pend, &npend, &e),
		                 QM_OK);
		free(pend);
		pend = NULL;
		assert_int_equal(npend, npend0);
	}
	qmt_fakekme_refuse(fk, 0);
}

/* ------------------------------------------------ item 5: back-off */

/*
 * Level 2 while the KME refuses (503): the message waits in the outbox
 * with a retry time; outbox runs before that time do not ask the KME
 * again; a forced retry does, and waits longer after it fails again;
 * once the KME serves, the retry sends it.
 */
static void test_pending_backoff(void **state)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qmt_fakekme_counts n0, n1;
	struct qm_store_outbox o;
	struct qm_error e;
	int64_t id, wait1;
	enum qm_err rc;
	int sent1 = 0;

	(void)state;
	if (W.skipped)
		skip();
	accounts_on_fakekme();
	qmt_fakekme_refuse(fk, 503);
	compose(&m, W.acct[W_ALICE], to, 1, NULL, 0, 2,
	        "while the KME refuses");
	qm_error_clear(&e);
	rc = qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e);
	fprintf(stderr, "send_guard: level 2, KME refuses: %s\n",
	        qm_error_msg(&e));
	assert_int_not_equal(rc, QM_OK);
	assert_int_equal(sent.n_outbox, 1);
	id = sent.outbox_ids[0];
	memset(&o, 0, sizeof(o));
	assert_int_equal(qm_store_outbox_get(st(W_ALICE), id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_PENDING);
	assert_true(o.retry_at > qm_now());
	wait1 = o.retry_at - o.updated;
	qm_store_outbox_item_free(&o);

	/* forced: asked again, and the next wait is longer (two minutes:
	 * the runs below come well before it, however slow the machine) */
	qmt_fakekme_counts(fk, &n0);
	qm_error_clear(&e);
	assert_int_not_equal(
	    qm_client_outbox_retry(W.c[W_ALICE], id, &sent1, &e), QM_OK);
	qmt_fakekme_counts(fk, &n1);
	assert_true(n1.enc > n0.enc);
	assert_int_equal(qm_store_outbox_get(st(W_ALICE), id, &o, &e), QM_OK);
	assert_int_equal(o.state, QM_OUTBOX_PENDING);
	assert_true(o.retry_at - o.updated > wait1);
	qm_store_outbox_item_free(&o);

	/* runs before the retry time leave it alone */
	qmt_fakekme_counts(fk, &n0);
	outbox_runs(3);
	qmt_fakekme_counts(fk, &n1);
	fprintf(stderr, "send_guard: enc_keys requests during the runs: %u\n",
	        n1.enc - n0.enc);
	assert_int_equal(n1.enc, n0.enc);

	qmt_fakekme_refuse(fk, 0);
	qm_error_clear(&e);
	assert_int_equal(qm_client_outbox_retry(W.c[W_ALICE], id, &sent1, &e),
	                 QM_OK);
	assert_int_equal(sent1, 1);
	accounts_restore();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_repeated_address),
	    cmocka_unit_test(test_shared_sae),
	    cmocka_unit_test(test_permanent_failure),
	    cmocka_unit_test(test_engine_levels),
	    cmocka_unit_test(test_cli_levels),
	    cmocka_unit_test(test_unverified_key),
	    cmocka_unit_test(test_web_levels),
	    cmocka_unit_test(test_level1_on_demand),
	    cmocka_unit_test(test_pending_backoff),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
