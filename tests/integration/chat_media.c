/* SPDX-License-Identifier: MIT */
/*
 * Chat media and read receipts (issue 20, docs/CHAT.md "Attachments" and
 * "Read receipts") through the real OpenSMTPD, Dovecot and qkme of
 * tests/lib/world.h: alice sends bob an image, a file and an SVG in one
 * chat message at levels 2 and 4; bob's conversation lists them (the PNG
 * as an image by its bytes, the SVG never) and gives back the same bytes,
 * as alice's does from her outbox and then from her Sent copy. Read
 * receipts: none while bob has not opted in; once he has, reading sends
 * one and alice's message becomes read, the receipt never a bubble; a
 * receipt from carol (not in the conversation) naming alice's message,
 * and one from bob naming a Message-ID alice did not send, change
 * nothing (invariant 39).
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
#include <unistd.h>

#include "harness.h"
#include "qmtest.h"
#include "world.h"

static struct world W;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "chatmedia", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

/* User u's syncs until at least min_fetched messages were fetched and
 * min_chat chat messages (or receipts that changed a read state) filed
 * (30 s at most); returns the chat messages filed. */
static size_t sync_fetch(int u, size_t min_fetched, size_t min_chat)
{
	char why[QM_ERR_MSGMAX + 64];
	size_t chat = 0;

	if (world_sync_chat(&W, u, min_fetched, min_chat, &chat, NULL, why,
	                    sizeof(why)))
		fail_msg("%s", why);
	return chat;
}

static size_t sync_until(int u, size_t min_chat)
{
	return sync_fetch(u, min_chat, min_chat);
}

/* User u's conversation with peer. */
static struct qm_store_chat conv_with(int u, int peer)
{
	struct qm_store_chat c;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(peer)};

	qm_error_clear(&e);
	if (qm_client_chat_find(W.c[u], W.acct[u], to, 1, &c, &e) != QM_OK)
		fail_msg("no conversation: %s", e.msg);
	return c;
}

/* The newest message of user u's conversation with peer (free it). */
static struct qm_client_chat_item *
newest(int u, int peer, struct qm_client_chat_item **all, size_t *n)
{
	struct qm_store_chat c = conv_with(u, peer);
	struct qm_error e;

	qm_error_clear(&e);
	assert_int_equal(qm_client_chat_messages(W.c[u], c.id, all, n, &e),
	                 QM_OK);
	assert_true(*n > 0);
	return &(*all)[*n - 1];
}

/* Attachment k of chat item id at user u equals data, len. */
static void att_equal(int u, int64_t id, size_t k, const unsigned char *data,
                      size_t len, const char *image)
{
	struct qm_client_att *a = NULL;
	const char *img = NULL;
	struct qm_error e;

	qm_error_clear(&e);
	if (qm_client_chat_att(W.c[u], id, k, &a, &img, &e) != QM_OK)
		fail_msg("attachment %zu of chat message %lld: %s", k,
		         (long long)id, e.msg);
	assert_int_equal(a->len, len);
	assert_memory_equal(a->data, data, len);
	assert_string_equal(img, image);
	qm_client_chat_att_free(&a);
}

static unsigned char png[3000], bin[40000];
static const char svg[] =
    "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script>"
    "</svg>";

/* alice sends bob text, a PNG, a file and an SVG at level; both sides
 * list them and give back the same bytes. */
static void media_round_trip(int level)
{
	struct qm_client_attachment att[3];
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_client_chat_item *v = NULL, *it;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	size_t n = 0;
	int hb;

	if (W.skipped)
		skip();
	randombytes_buf(png, sizeof(png));
	memcpy(png, "\x89PNG\r\n\x1a\n", 8);
	randombytes_buf(bin, sizeof(bin));
	memset(att, 0, sizeof(att));
	att[0].name = "photo.png";
	att[0].type = "image/png";
	att[0].data = png;
	att[0].len = sizeof(png);
	att[1].name = "notes.bin";
	att[1].type = "application/octet-stream";
	att[1].data = bin;
	att[1].len = sizeof(bin);
	/* declared an image, but SVG: never an inline image */
	att[2].name = "logo.svg";
	att[2].type = "image/svg+xml";
	att[2].data = (const unsigned char *)svg;
	att[2].len = strlen(svg);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.text = level == 2 ? "a photo at level 2" : "a photo at level 4";
	m.level = level;
	m.att = att;
	m.natt = 3;
	hb = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	qm_error_clear(&e);
	if (level == 4) /* the conversation began at level 2 */
		assert_int_equal(
		    qm_client_chat_level_set(
		        W.c[W_ALICE], conv_with(W_ALICE, W_BOB).id, 4, &e),
		    QM_OK);
	if (qm_client_chat_send(W.c[W_ALICE], &m, &out, &e) != QM_OK)
		fail_msg("chat send with files at level %d: %s", level, e.msg);
	assert_true(out.sent);
	assert_int_equal(out.level, level);
	/* alice's own: listed and read back from her outbox */
	it = newest(W_ALICE, W_BOB, &v, &n);
	assert_true(it->mine);
	assert_int_equal(it->nfiles, 3);
	assert_string_equal(it->files[0].name, "photo.png");
	assert_string_equal(it->files[0].type, "image/png");
	assert_true(it->files[0].image);
	assert_int_equal(it->files[0].size, sizeof(png));
	assert_false(it->files[1].image);
	assert_int_equal(it->files[1].size, sizeof(bin));
	assert_false(it->files[2].image);
	att_equal(W_ALICE, it->id, 0, png, sizeof(png), "image/png");
	att_equal(W_ALICE, it->id, 1, bin, sizeof(bin), "");
	qm_client_chat_items_free(&v, n);

	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, hb + 1, 30000) >
	            hb);
	assert_int_equal(sync_until(W_BOB, 1), 1);
	it = newest(W_BOB, W_ALICE, &v, &n);
	assert_false(it->mine);
	assert_string_equal(it->text, m.text);
	assert_int_equal(it->level, level);
	assert_int_equal(it->nfiles, 3);
	assert_string_equal(it->files[0].name, "photo.png");
	assert_true(it->files[0].image);
	assert_string_equal(it->files[1].name, "notes.bin");
	assert_false(it->files[1].image);
	assert_int_equal(it->files[1].size, sizeof(bin));
	assert_string_equal(it->files[2].name, "logo.svg");
	assert_false(it->files[2].image);
	att_equal(W_BOB, it->id, 0, png, sizeof(png), "image/png");
	att_equal(W_BOB, it->id, 1, bin, sizeof(bin), "");
	att_equal(W_BOB, it->id, 2, (const unsigned char *)svg, strlen(svg),
	          "");
	/* no attachment 4 */
	{
		struct qm_client_att *a = NULL;

		assert_int_equal(
		    qm_client_chat_att(W.c[W_BOB], it->id, 3, &a, NULL, &e),
		    QM_ERR_NOTFOUND);
	}
	qm_client_chat_items_free(&v, n);

	/* alice's sync finds her Sent copy: the bytes now come from it */
	sync_fetch(W_ALICE, 1, 0);
	it = newest(W_ALICE, W_BOB, &v, &n);
	att_equal(W_ALICE, it->id, 0, png, sizeof(png), "image/png");
	att_equal(W_ALICE, it->id, 1, bin, sizeof(bin), "");
	qm_client_chat_items_free(&v, n);
}

static void test_media_level2(void **state)
{
	(void)state;
	media_round_trip(2);
}

static void test_media_level4(void **state)
{
	(void)state;
	media_round_trip(4);
}

/* The file alone, by the CLI: `qmail chat send --attach` without -m. */
static void test_cli_attach(void **state)
{
	char path[600], *o = NULL;
	struct qm_client_chat_item *v = NULL, *it;
	size_t n = 0;
	FILE *f;
	int hb;

	(void)state;
	if (W.skipped)
		skip();
	snprintf(path, sizeof(path), "%s/../cli-photo.png", W.homes[W_ALICE]);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(png, 1, sizeof(png), f), sizeof(png));
	fclose(f);
	hb = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	if (world_qmail(&W, W_ALICE, &o, "chat", "send", qmt_mail_addr(W_BOB),
	                "--attach", path, "--level", "4", NULL) != 0)
		fail_msg("qmail chat send --attach: %s", o ? o : "");
	free(o);
	o = NULL;
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, hb + 1, 30000) >
	            hb);
	assert_int_equal(sync_until(W_BOB, 1), 1);
	it = newest(W_BOB, W_ALICE, &v, &n);
	assert_string_equal(it->text, "");
	assert_int_equal(it->nfiles, 1);
	assert_string_equal(it->files[0].name, "cli-photo.png");
	assert_true(it->files[0].image);
	att_equal(W_BOB, it->id, 0, png, sizeof(png), "image/png");
	qm_client_chat_items_free(&v, n);
	assert_int_equal(world_qmail(&W, W_BOB, &o, "chat", "show",
	                             qmt_mail_addr(W_ALICE), "--keep-unread",
	                             NULL),
	                 0);
	assert_non_null(strstr(o, "[image 1] cli-photo.png (3000 bytes, "
	                          "image/png)"));
	free(o);
}

/* Alice's newest message to bob: its read_at, its Message-ID. */
static int64_t alice_read_at(int64_t *id)
{
	struct qm_client_chat_item *v = NULL, *it;
	size_t n = 0;
	int64_t at;

	it = newest(W_ALICE, W_BOB, &v, &n);
	assert_true(it->mine);
	at = it->read_at;
	if (id)
		*id = it->id;
	qm_client_chat_items_free(&v, n);
	return at;
}

/* Alice's syncs until her newest message to bob is read (30 s at most). */
static void wait_read(void)
{
	for (int t = 0; t < 150; t++) {
		sync_fetch(W_ALICE, 0, 0);
		if (alice_read_at(NULL) > 0)
			return;
		usleep(200 * 1000);
	}
	fail_msg("alice's message not read after 30 s");
}

/* alice says text to bob at level 4 and bob files it. */
static void alice_to_bob(const char *text)
{
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	struct qm_error e;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	int hb = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);

	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.text = text;
	m.level = 4;
	qm_error_clear(&e);
	if (qm_client_chat_send(W.c[W_ALICE], &m, &out, &e) != QM_OK)
		fail_msg("chat send: %s", e.msg);
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, hb + 1, 30000) >
	            hb);
	assert_int_equal(sync_until(W_BOB, 1), 1);
}

/* How many outbox entries user u has (sent or not). */
static size_t outbox_n(int u)
{
	int64_t *ids = NULL;
	size_t n = 0, total = 0;
	struct qm_error e;

	for (int st = QM_OUTBOX_PENDING; st <= QM_OUTBOX_RETRYING; st++) {
		qm_error_clear(&e);
		assert_int_equal(qm_store_outbox_list(qm_client_store(W.c[u]),
		                                      W.acct[u], st, 0, &ids,
		                                      &n, &e),
		                 QM_OK);
		total += n;
		free(ids);
		ids = NULL;
	}
	return total;
}

static void test_receipts_opt_in(void **state)
{
	struct qm_store_chat cb;
	struct qm_client_chat_item *v = NULL;
	struct qm_error e;
	size_t before, n = 0, marked = 0, count;
	int ha;

	(void)state;
	if (W.skipped)
		skip();
	/* bob has not opted in: reading sends nothing */
	alice_to_bob("will you tell me you read this?");
	cb = conv_with(W_BOB, W_ALICE);
	assert_int_equal(cb.receipts, 0);
	before = outbox_n(W_BOB);
	qm_error_clear(&e);
	assert_int_equal(qm_client_chat_read(W.c[W_BOB], cb.id, &marked, &e),
	                 QM_OK);
	assert_true(marked >= 1);
	assert_int_equal(outbox_n(W_BOB), before);
	sync_fetch(W_ALICE, 1, 0); /* her Sent copy */
	assert_int_equal(alice_read_at(NULL), 0);

	/* bob opts in (`qmail chat receipts`): the next message read sends
	 * one receipt */
	{
		char *o = NULL;

		if (world_qmail(&W, W_BOB, &o, "chat", "receipts",
		                qmt_mail_addr(W_ALICE), "on", NULL) != 0)
			fail_msg("qmail chat receipts on: %s", o ? o : "");
		assert_non_null(strstr(o, "read receipts sent when you read"));
		free(o);
	}
	cb = conv_with(W_BOB, W_ALICE);
	assert_int_equal(cb.receipts, 1);
	assert_int_equal(cb.label, QM_LABEL_OK);
	alice_to_bob("and this one?");
	count = conv_with(W_ALICE, W_BOB).n_msgs;
	ha = qmt_mail_files(&W.mail, W_ALICE, NULL, NULL, 0);
	assert_int_equal(qm_client_chat_read(W.c[W_BOB], cb.id, &marked, &e),
	                 QM_OK);
	assert_int_equal(marked, 1);
	assert_int_equal(outbox_n(W_BOB), before + 1);
	/* reading again sends nothing more */
	assert_int_equal(qm_client_chat_read(W.c[W_BOB], cb.id, &marked, &e),
	                 QM_OK);
	assert_int_equal(marked, 0);
	assert_int_equal(outbox_n(W_BOB), before + 1);
	assert_true(qmt_mail_wait_files(&W.mail, W_ALICE, NULL, ha + 1, 30000) >
	            ha);
	wait_read();
	/* the receipt is no bubble, and the earlier message (read before bob
	 * opted in) stays unknown */
	assert_int_equal(conv_with(W_ALICE, W_BOB).n_msgs, count);
	assert_int_equal(qm_client_chat_messages(W.c[W_ALICE],
	                                         conv_with(W_ALICE, W_BOB).id,
	                                         &v, &n, &e),
	                 QM_OK);
	assert_int_equal(v[n - 1].read_at > 0, 1);
	assert_int_equal(v[n - 2].read_at, 0);
	qm_client_chat_items_free(&v, n);
	/* bob's Sent copy of the receipt is no bubble either */
	count = conv_with(W_BOB, W_ALICE).n_msgs;
	sync_fetch(W_BOB, 1, 0);
	assert_int_equal(conv_with(W_BOB, W_ALICE).n_msgs, count);
}

/* A hand-made receipt from user from to alice naming mid (a verified
 * level-4 chat message made with qm_client_send). */
static void receipt_from(int from, const char *mid)
{
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_error e;
	char text[600];
	const char *to[] = {qmt_mail_addr(W_ALICE)};
	int ha = qmt_mail_files(&W.mail, W_ALICE, NULL, NULL, 0);

	snprintf(text, sizeof(text),
	         "Disposition: manual-action/MDN-sent-manually; displayed\n"
	         "Original-Message-ID: %s\n",
	         mid);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[from];
	m.to = to;
	m.nto = 1;
	m.subject = "Chat: read";
	m.text = text;
	m.level = 4;
	m.chat = 1;
	m.chat_disposition = "displayed";
	qm_error_clear(&e);
	if (qm_client_send(W.c[from], &m, NULL, NULL, &sent, &e) != QM_OK)
		fail_msg("receipt from user %d: %s", from, e.msg);
	assert_true(qmt_mail_wait_files(&W.mail, W_ALICE, NULL, ha + 1, 30000) >
	            ha);
}

static void test_forged_receipts(void **state)
{
	struct qm_store_chat_msg cm;
	struct qm_store_chat c;
	struct qm_error e;
	int64_t id;
	const char *to_c[] = {qmt_mail_addr(W_CAROL)};

	(void)state;
	if (W.skipped)
		skip();
	alice_to_bob("unread by anyone yet");
	sync_fetch(W_ALICE, 1, 0); /* her Sent copy, before what is tested */
	assert_int_equal(alice_read_at(&id), 0);
	qm_error_clear(&e);
	assert_int_equal(
	    qm_store_chat_msg_get(qm_client_store(W.c[W_ALICE]), id, &cm, &e),
	    QM_OK);
	free(cm.att);
	/* carol, not in the conversation, says bob read it: nothing */
	receipt_from(W_CAROL, cm.message_id);
	assert_int_equal(sync_fetch(W_ALICE, 1, 0), 0);
	assert_int_equal(alice_read_at(NULL), 0);
	/* and no conversation with carol made for it */
	assert_int_equal(
	    qm_client_chat_find(W.c[W_ALICE], W.acct[W_ALICE], to_c, 1, &c, &e),
	    QM_ERR_NOTFOUND);
	/* bob names a Message-ID alice never sent: nothing either */
	receipt_from(W_BOB, "<not-alices@qmail.test>");
	assert_int_equal(sync_fetch(W_ALICE, 1, 0), 0);
	assert_int_equal(alice_read_at(NULL), 0);
	/* the same receipt from bob, a member, naming it: read */
	receipt_from(W_BOB, cm.message_id);
	wait_read();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_media_level2),
	    cmocka_unit_test(test_media_level4),
	    cmocka_unit_test(test_cli_attach),
	    cmocka_unit_test(test_receipts_opt_in),
	    cmocka_unit_test(test_forged_receipts),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
