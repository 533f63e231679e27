/* SPDX-License-Identifier: MIT */
/*
 * The user's limits reach the client's receive, read and send paths
 * (issue 8), against the real mail servers and qkme KMEs of world.h. Each
 * limit is lowered with qm_client_limit_set (what `qmail config set` and the
 * GUI's Settings call), then a message just over it is refused with a
 * message that names the limit and how to change it, and one at the limit
 * passes:
 * - limit.parts: a level-3 message with 3 attachments (5 parts) is received
 *   and kept, but reading it at limit 4 fails with QM_ERR_TOOBIG; at 5 it
 *   reads; sending it at limit 4 is refused before the outbox;
 * - limit.message_size: a message larger than the limit is recorded as
 *   refused without being fetched, and the next sync goes on with the next
 *   message (the sync is not stuck on it);
 * - limit.key_ids: a level-1 message with more key IDs than allowed is
 *   refused before the KME is asked: its keys are still in bob's KME
 *   afterwards; at the limit the same kind of message decrypts.
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
#include "qmtest.h"
#include "world.h"
#include "crypto/crypto.h"
#include "kms/kms.h"
#include "mail/mail.h"

static struct world W;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "cfglim", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

static void set_limit(int u, const char *name, const char *value)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(qm_client_limit_set(W.c[u], name, value, &e));
}

/* The newest of user u's last 50 INBOX messages whose subject, status or
 * text holds
 * needle (index id), or -1. Messages filed in the same second tie on the
 * date, so the newest by date alone is not enough. */
static int64_t find_msg(int u, const char *needle)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	int64_t id = -1;

	memset(&q, 0, sizeof(q));
	q.account_id = W.acct[u];
	q.folder = "INBOX";
	q.limit = 50;
	if (qm_store_msg_list(qm_client_store(W.c[u]), &q, &l, NULL) != QM_OK)
		return -1;
	for (size_t i = 0; i < l->n && id < 0; i++) {
		struct qm_client_view *v = NULL;

		if (l->items[i].subject &&
		    strstr(l->items[i].subject, needle)) {
			id = l->items[i].id;
			break;
		}
		if (qm_client_read(W.c[u], l->items[i].id, &v, NULL) == QM_OK &&
		    (strstr(v->status_text, needle) || strstr(v->text, needle)))
			id = l->items[i].id;
		qm_client_view_free(&v);
	}
	qm_store_msglist_free(&l);
	return id;
}

/* Alice sends to user at level with natt attachments of attlen bytes;
 * waits for the message in user's mailbox and returns its file. Returns the
 * send's error code (the file is only looked for on success). */
static enum qm_err send_to(int user, int level, const char *text, size_t natt,
                           size_t attlen, char *path, struct qm_error *e)
{
	struct qm_client_compose m;
	struct qm_client_attachment att[4];
	struct qm_client_sent sent;
	const char *to[] = {qmt_mail_addr(user)};
	char files[256][512];
	unsigned char *data = calloc(1, attlen ? attlen : 1);
	int have = qmt_mail_files(&W.mail, user, NULL, files, 256), n;
	enum qm_err rc;

	assert_non_null(data);
	assert_true(natt <= 4);
	for (size_t i = 0; i < attlen; i++)
		data[i] = (unsigned char)(i * 131 + 7);
	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < natt; i++) {
		static char names[4][32];

		snprintf(names[i], sizeof(names[i]), "part%zu.bin", i);
		att[i].name = names[i];
		att[i].type = NULL;
		att[i].data = data;
		att[i].len = attlen;
	}
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = "limits";
	m.text = text;
	m.att = att;
	m.natt = natt;
	m.level = level;
	qm_error_clear(e);
	rc = qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, e);
	free(data);
	if (rc)
		return rc;
	n = qmt_mail_wait_files(&W.mail, user, NULL, have + 1, 30000);
	assert_true(n > have);
	n = qmt_mail_files(&W.mail, user, NULL, files, 256);
	if (path)
		qm_strlcpy(path, files[n - 1], 512);
	return QM_OK;
}

static void bob_sync(struct qm_client_sync_stats *st)
{
	struct qm_error e;

	qm_error_clear(&e);
	assert_ok(
	    qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, st, &e));
}

static void test_parts(void **state)
{
	struct qm_error e;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	int64_t id;

	(void)state;
	if (W.skipped)
		skip();
	/* the sender's own limit: refused before the outbox, actionable */
	set_limit(W_ALICE, QM_LIMIT_PARTS, "4");
	assert_int_equal(send_to(W_BOB, 3, "three parts\n", 3, 100, NULL, &e),
	                 QM_ERR_TOOBIG);
	printf("  send at limit.parts 4: %s\n", e.msg);
	assert_has(e.msg, "would have 5 parts; the limit is 4 (limit.parts)");
	/* what to do is a hint each interface words, not a command */
	assert_int_equal(e.hint, QM_HINT_LIMIT_REACHED);
	assert_string_equal(e.hint_arg, QM_LIMIT_PARTS);
	assert_null(strstr(e.msg, "qmail "));
	set_limit(W_ALICE, QM_LIMIT_PARTS, "default");
	assert_ok(send_to(W_BOB, 3, "three parts\n", 3, 100, NULL, &e));

	/* the receiver's limit: kept (verified), refused when read */
	set_limit(W_BOB, QM_LIMIT_PARTS, "4");
	bob_sync(&st);
	assert_int_equal(st.decrypted, 1);
	id = find_msg(W_BOB, "decrypted and verified, but");
	qm_error_clear(&e);
	assert_int_equal(qm_client_read(W.c[W_BOB], id, &v, &e), QM_ERR_TOOBIG);
	printf("  read at limit.parts 4: %s\n", e.msg);
	assert_has(e.msg, "at least 5 parts; the limit is 4 (limit.parts)");
	assert_int_equal(e.hint, QM_HINT_LIMIT_REACHED);
	assert_string_equal(e.hint_arg, QM_LIMIT_PARTS);
	assert_null(v);
	/* at the limit it reads, with its three attachments */
	set_limit(W_BOB, QM_LIMIT_PARTS, "5");
	assert_ok(qm_client_read(W.c[W_BOB], id, &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_int_equal(v->natt, 3);
	assert_string_equal(v->text, "three parts\n");
	qm_client_view_free(&v);
	set_limit(W_BOB, QM_LIMIT_PARTS, "default");
}

static void test_message_size(void **state)
{
	struct qm_error e;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;

	(void)state;
	if (W.skipped)
		skip();
	set_limit(W_BOB, QM_LIMIT_MESSAGE_SIZE, "64K");
	/* 60 KiB of attachment: about 110 KiB on the wire */
	assert_ok(send_to(W_BOB, 3, "too big\n", 1, 60 * 1024, NULL, &e));
	bob_sync(&st);
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(st.errors, 1);
	assert_ok(qm_client_read(W.c[W_BOB], find_msg(W_BOB, "refused without"),
	                         &v, &e));
	printf("  over limit.message_size 64K: %s\n", v->status_text);
	assert_int_not_equal(v->verify, QM_VERIFY_OK);
	assert_has(v->status_text, "refused without fetching it");
	assert_has(v->status_text, "the limit is 65536 (limit.message_size)");
	assert_string_equal(v->text, "");
	qm_client_view_free(&v);
	/* a small message after it arrives: the sync is not stuck */
	assert_ok(send_to(W_BOB, 3, "small\n", 0, 0, NULL, &e));
	bob_sync(&st);
	assert_int_equal(st.decrypted, 1);
	assert_ok(
	    qm_client_read(W.c[W_BOB], find_msg(W_BOB, "small\n"), &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_string_equal(v->text, "small\n");
	qm_client_view_free(&v);
	/* the limit raised again: the next sync fetches the refused message
	 * (still on the server) once, and it takes the refused one's place */
	set_limit(W_BOB, QM_LIMIT_MESSAGE_SIZE, "default");
	bob_sync(&st);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(find_msg(W_BOB, "refused without"), -1);
	assert_ok(
	    qm_client_read(W.c[W_BOB], find_msg(W_BOB, "too big\n"), &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_int_equal(v->natt, 1);
	qm_client_view_free(&v);
	bob_sync(&st);
	assert_int_equal(st.fetched, 0);
}

/* The same over POP3 (carol): RETR past the limit is refused, recorded,
 * and the next message follows at the next sync. */
static void test_message_size_pop3(void **state)
{
	struct qm_error e;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;

	(void)state;
	if (W.skipped)
		skip();
	set_limit(W_CAROL, QM_LIMIT_MESSAGE_SIZE, "64K");
	assert_ok(send_to(W_CAROL, 3, "too big\n", 1, 60 * 1024, NULL, &e));
	qm_error_clear(&e);
	assert_ok(
	    qm_client_sync(W.c[W_CAROL], W.acct[W_CAROL], NULL, NULL, &st, &e));
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(st.errors, 1);
	assert_ok(qm_client_read(W.c[W_CAROL],
	                         find_msg(W_CAROL, "refused without"), &v, &e));
	printf("  POP3 over limit.message_size 64K: %s\n", v->status_text);
	assert_has(v->status_text, "the limit is 65536 (limit.message_size)");
	qm_client_view_free(&v);
	assert_ok(send_to(W_CAROL, 3, "small pop3\n", 0, 0, NULL, &e));
	assert_ok(
	    qm_client_sync(W.c[W_CAROL], W.acct[W_CAROL], NULL, NULL, &st, &e));
	assert_int_equal(st.decrypted, 1);
	assert_ok(qm_client_read(W.c[W_CAROL], find_msg(W_CAROL, "small pop3"),
	                         &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	qm_client_view_free(&v);
	/* raised again: fetched over POP3 once, in the refused one's place */
	set_limit(W_CAROL, QM_LIMIT_MESSAGE_SIZE, "default");
	assert_ok(
	    qm_client_sync(W.c[W_CAROL], W.acct[W_CAROL], NULL, NULL, &st, &e));
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(find_msg(W_CAROL, "refused without"), -1);
	assert_ok(qm_client_read(W.c[W_CAROL], find_msg(W_CAROL, "too big\n"),
	                         &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	qm_client_view_free(&v);
	assert_ok(
	    qm_client_sync(W.c[W_CAROL], W.acct[W_CAROL], NULL, NULL, &st, &e));
	assert_int_equal(st.fetched, 0);
}

/* The key IDs of bob's slot in the QMail message stored in file path. */
static void message_key_ids(const char *path, char ***ids, size_t *n)
{
	struct qm_mail_parsed *p = NULL;
	struct qm_env *env = NULL;
	struct qm_error e;
	size_t len = 0, slot = 0;
	unsigned char *raw = qmt_mail_read(path, &len);

	assert_non_null(raw);
	assert_ok(qm_mail_parse(raw, len, NULL, &p, &e));
	assert_ok(qm_env_parse(p->envelope, p->envelope_len, &env, &e));
	assert_ok(qm_env_slot_find(env, W.sae[W_BOB], &slot, &e));
	*n = qm_env_slot_key_count(env, slot);
	*ids = calloc(*n, sizeof(char *));
	assert_non_null(*ids);
	for (size_t i = 0; i < *n; i++)
		(*ids)[i] = strdup(qm_env_slot_key_id(env, slot, i));
	qm_env_free(&env);
	qm_mail_parsed_free(&p);
	free(raw);
}

static void test_key_ids(void **state)
{
	static const char text[] =
	    "A level-1 message that needs a few keys of the KME.\n";
	struct qm_error e;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_store_account a;
	struct qm_kms_config kc;
	struct qm_kms *kms = NULL;
	struct qm_kms_keys *ks = NULL;
	char path[512], lim[24];
	char **ids = NULL;
	size_t n = 0;

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(world_wait_pool(&W, W_ALICE, W_BOB, 24 * 1024, 120000),
	                 0);
	set_limit(W_BOB, QM_LIMIT_KEY_IDS, "1");
	assert_ok(send_to(W_BOB, 1, text, 1, 3000, path, &e));
	message_key_ids(path, &ids, &n);
	printf("  level-1 message with %zu key IDs\n", n);
	assert_true(n >= 2);
	bob_sync(&st);
	assert_int_equal(st.decrypted, 0);
	assert_ok(qm_client_read(W.c[W_BOB], find_msg(W_BOB, "limit.key_ids"),
	                         &v, &e));
	printf("  at limit.key_ids 1: %s\n", v->status_text);
	assert_int_not_equal(v->verify, QM_VERIFY_OK);
	assert_has(v->status_text, "the limit is 1 (limit.key_ids)");
	qm_client_view_free(&v);
	/* nobody asked bob's KME: the keys are still there for bob */
	assert_ok(qm_store_account_get(qm_client_store(W.c[W_BOB]),
	                               W.acct[W_BOB], &a, &e));
	qm_kms_config_init(&kc);
	kc.url = a.kme_url;
	kc.cert_file = a.kme_cert;
	kc.key_file = a.kme_key;
	kc.ca_file = a.kme_ca;
	assert_ok(qm_kms_new(&kc, &kms, &e));
	assert_ok(qm_kms_material_by_ids(kms, W.sae[W_ALICE],
	                                 (const char *const *)ids, n, &ks, &e));
	assert_int_equal(qm_kms_keys_count(ks), n);
	qm_kms_keys_free(&ks);
	qm_kms_free(&kms);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);

	/* exactly at the limit (the count of the new message): it decrypts */
	assert_ok(send_to(W_BOB, 1, text, 1, 3000, path, &e));
	message_key_ids(path, &ids, &n);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	snprintf(lim, sizeof(lim), "%zu", n);
	set_limit(W_BOB, QM_LIMIT_KEY_IDS, lim);
	bob_sync(&st);
	/* the new message decrypts; the one refused at limit 1 is fetched
	 * again now that the limit was raised, but this test took its keys
	 * from the KME above (to show they were still there), so it becomes
	 * "no key" instead of staying "refused" */
	printf("  limit raised to %s: fetched %zu, decrypted %zu, errors %zu\n",
	       lim, st.fetched, st.decrypted, st.errors);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.errors, 1);
	assert_int_equal(find_msg(W_BOB, "limit.key_ids"), -1);
	assert_ok(qm_client_read(
	    W.c[W_BOB], find_msg(W_BOB, "does not have the keys"), &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_UNKNOWN_KEY);
	qm_client_view_free(&v);
	assert_ok(
	    qm_client_read(W.c[W_BOB], find_msg(W_BOB, "A level-1"), &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_string_equal(v->text, text);
	qm_client_view_free(&v);

	/* without the X-QKD-KeyID header (renamed on the server), the count
	 * in the envelope is checked, still before the KME */
	assert_ok(send_to(W_BOB, 1, text, 1, 3000, path, &e));
	message_key_ids(path, &ids, &n);
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	{
		size_t len = 0;
		unsigned char *d = qmt_mail_read(path, &len);
		unsigned char *hit =
		    d ? memmem(d, len, "X-QKD-KeyID:", 12) : NULL;

		assert_non_null(hit);
		memcpy(hit, "X-QKD-KeyIX:", 12);
		assert_int_equal(qmt_mail_rewrite(path, d, len), 0);
		free(d);
	}
	snprintf(lim, sizeof(lim), "%zu", n - 1);
	set_limit(W_BOB, QM_LIMIT_KEY_IDS, lim);
	bob_sync(&st);
	assert_int_equal(st.decrypted, 0);
	assert_ok(qm_client_read(
	    W.c[W_BOB], find_msg(W_BOB, "refused before asking the KME"), &v,
	    &e));
	printf("  envelope over limit.key_ids %s: %s\n", lim, v->status_text);
	assert_has(v->status_text, "the limit is");
	assert_int_equal(v->verify, QM_VERIFY_REFUSED);
	qm_client_view_free(&v);
	set_limit(W_BOB, QM_LIMIT_KEY_IDS, "default");
	bob_sync(&st);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(find_msg(W_BOB, "refused before asking the KME"), -1);
}

/* Runs `qmail --home <bob's home> config ARGS...`; returns its exit code,
 * its output in out. */
static int qmail_config(char *out, size_t outlen, const char *a1,
                        const char *a2, const char *a3)
{
	char bin[600], log[600], arg[3][64] = {"", "", ""};
	char *argv[8];
	size_t len = 0;
	unsigned char *d;
	int rc;

	snprintf(bin, sizeof(bin), "%s/src/cli/qmail", qmt_binary_dir());
	snprintf(log, sizeof(log), "%s/config.out", W.homes[W_BOB]);
	unlink(log);
	argv[0] = bin;
	argv[1] = "--home";
	argv[2] = W.homes[W_BOB];
	argv[3] = "config";
	qm_strlcpy(arg[0], a1, sizeof(arg[0]));
	if (a2)
		qm_strlcpy(arg[1], a2, sizeof(arg[1]));
	if (a3)
		qm_strlcpy(arg[2], a3, sizeof(arg[2]));
	argv[4] = arg[0];
	argv[5] = a2 ? arg[1] : NULL;
	argv[6] = a3 ? arg[2] : NULL;
	argv[7] = NULL;
	rc = qmt_run(argv, log);
	d = qmt_mail_read(log, &len);
	qm_strlcpy(out, d ? (const char *)d : "", outlen);
	free(d);
	return rc;
}

/* `qmail config` changes what the client uses; the KME client honours its
 * JSON depth limit against a real qkme (whose Status nests 2 levels). */
static void test_cli_and_kms_depth(void **state)
{
	struct qm_error e;
	struct qm_store_account a;
	struct qm_kms_config kc;
	struct qm_kms *kms = NULL;
	struct qm_kms_status st;
	char out[4096];
	uint64_t v = 0;

	(void)state;
	if (W.skipped)
		skip();
	assert_int_equal(
	    qmail_config(out, sizeof(out), "set", "limit.parts", "3"), 2);
	assert_has(out, "limit.parts must be between 4 and 10000 parts");
	assert_int_equal(
	    qmail_config(out, sizeof(out), "set", "limit.parts", "8"), 0);
	assert_int_equal(
	    qmail_config(out, sizeof(out), "get", "limit.parts", NULL), 0);
	assert_string_equal(out, "8\n");
	qm_error_clear(&e);
	assert_ok(
	    qm_client_limit_get(W.c[W_BOB], QM_LIMIT_PARTS, &v, NULL, &e));
	assert_int_equal(v, 8);
	assert_int_equal(qmail_config(out, sizeof(out), "list", NULL, NULL), 0);
	assert_has(out, "limit.parts          8*");
	assert_int_equal(
	    qmail_config(out, sizeof(out), "set", "limit.parts", "default"), 0);
	assert_ok(
	    qm_client_limit_get(W.c[W_BOB], QM_LIMIT_PARTS, &v, NULL, &e));
	assert_int_equal(v, 256);

	assert_ok(qm_store_account_get(qm_client_store(W.c[W_BOB]),
	                               W.acct[W_BOB], &a, &e));
	for (size_t depth = 1; depth <= 2; depth++) {
		qm_kms_config_init(&kc);
		kc.url = a.kme_url;
		kc.cert_file = a.kme_cert;
		kc.key_file = a.kme_key;
		kc.ca_file = a.kme_ca;
		kc.max_json_depth = depth;
		assert_ok(qm_kms_new(&kc, &kms, &e));
		qm_error_clear(&e);
		if (depth == 1) {
			assert_int_equal(
			    qm_kms_status_get(kms, W.sae[W_ALICE], &st, &e),
			    QM_ERR_TOOBIG);
			printf("  KME status at JSON depth 1: %s\n", e.msg);
			assert_has(e.msg, "deeper than the limit of 1 levels");
		} else {
			assert_ok(
			    qm_kms_status_get(kms, W.sae[W_ALICE], &st, &e));
		}
		qm_kms_free(&kms);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parts),
	    cmocka_unit_test(test_message_size),
	    cmocka_unit_test(test_message_size_pop3),
	    cmocka_unit_test(test_key_ids),
	    cmocka_unit_test(test_cli_and_kms_depth),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
