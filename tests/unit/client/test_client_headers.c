/* SPDX-License-Identifier: MIT */
/*
 * Header-first fetch of a large folder (docs/CLIENT.md "Large mailboxes")
 * over the scripted servers of fakes.h: a folder with more new messages
 * than the account setting header_first is listed from its headers at
 * once (plain mail as header-only records), QMail messages among them are
 * fetched whole in that first pass, the bodies follow in the same sync;
 * a header-only message opened before its body came is fetched on
 * demand (an error that says so when the server cannot be reached); a
 * server that answers with another message for a body is not believed,
 * and a body that turns out to be QMail is opened as a whole fetch would
 * open it, its keys asked for once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* More new messages than this: headers first. */
#define FROM   "5"
#define NPLAIN 8

static int setup(void **state)
{
	(void)state;
	if (eng_setup(ENG_KNOW_BOB))
		return -1;
	eu_setting(&bob, QM_CLIENT_SET_HEADER_FIRST, FROM);
	return 0;
}

/* A plain message to bob, "plain N" with Message-ID <pN@example.org>; pad
 * bytes of body text beyond the usual. */
static void deliver_plain(int i, size_t pad)
{
	char msg[8192];
	int n;

	n = snprintf(msg, sizeof(msg),
	             "From: Dave <dave@example.org>\r\nTo: %s\r\n"
	             "Subject: plain %d\r\n"
	             "Date: Mon, 1 Jan 2024 10:%02d:00 +0000\r\n"
	             "Message-ID: <p%d@example.org>\r\n\r\nbody of %d\r\n",
	             bob.addr, i, i % 60, i, i);
	assert_true(n > 0 && (size_t)n + pad < sizeof(msg));
	memset(msg + n, 'x', pad);
	fake_mail_deliver(bob.addr, "INBOX", msg, (size_t)n + pad);
}

/* Alice's level-2 QMail message to bob (in bob's INBOX). */
static void alice_sends(const char *text)
{
	const char *to[] = {bob.addr};
	struct qm_client_sent out;
	struct qm_error e;

	assert_ok(eu_send(&alice, to, 1, 2, 0, text, &out, &e));
	assert_int_equal(out.n_sent, 1);
}

/* bob's INBOX records, newest first: how many wait for their body. */
static size_t pending(size_t *total)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	size_t k = 0;

	memset(&q, 0, sizeof(q));
	q.account_id = bob.acct;
	q.folder = "INBOX";
	qm_error_clear(&e);
	assert_ok(qm_client_msg_list(bob.c, &q, &l, &e));
	for (size_t i = 0; i < l->n; i++)
		if (l->items[i].body_pending) {
			k++;
			/* listed with what the headers said */
			assert_int_equal(l->items[i].verify,
			                 QM_VERIFY_NOT_QMAIL);
			assert_string_equal(l->items[i].from_addr,
			                    "dave@example.org");
			assert_non_null(strstr(l->items[i].subject, "plain "));
			assert_false(l->items[i].has_body);
		}
	if (total)
		*total = l->n;
	qm_store_msglist_free(&l);
	return k;
}

/* What the first whole fetch of the sync sees (set as a hook). */
static size_t seen_pending, seen_total, seen_decrypted;

static void at_first_fetch(void *arg)
{
	(void)arg;
	seen_pending = pending(&seen_total);
	seen_decrypted = eu_count(&bob, QM_VERIFY_OK);
}

/* 8 plain messages and one QMail message: listed from their headers
 * first, the QMail one fetched whole (and opened) before any plain body,
 * then every body in the same sync. */
static void test_header_first(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int64_t ids[16];
	size_t total = 0, n;

	(void)state;
	for (int i = 0; i < NPLAIN / 2; i++)
		deliver_plain(i, 0);
	alice_sends("the secret text");
	for (int i = NPLAIN / 2; i < NPLAIN; i++)
		deliver_plain(i, 0);
	fake_mail_hook(FM_IMAP_FETCH, at_first_fetch, NULL);
	qm_error_clear(&e);
	assert_ok(eu_sync(&bob, &st, &e));
	/* the first whole fetch is the QMail message's: every plain one was
	 * listed before, none had its body, nothing was opened yet */
	assert_int_equal(seen_pending, NPLAIN);
	assert_int_equal(seen_total, NPLAIN);
	assert_int_equal(seen_decrypted, 0);
	assert_true(fake_mail_calls[FM_IMAP_SUMMARY] >= 1);
	assert_int_equal(st.headers_only, NPLAIN);
	assert_int_equal(st.bodies, NPLAIN);
	assert_int_equal(st.decrypted, 1);
	/* every body came in the same sync */
	assert_int_equal(pending(&total), 0);
	assert_int_equal(total, NPLAIN + 1);
	assert_int_equal(eu_kme(&bob)->calls[FK_DEC], 1);
	/* a body filled in reads as any plain message, under its id */
	n = eu_inbox(&bob, ids, 16);
	assert_int_equal(n, NPLAIN + 1);
	for (size_t i = 0; i < n; i++) {
		qm_error_clear(&e);
		assert_ok(qm_client_read(bob.c, ids[i], &v, &e));
		assert_int_equal(v->id, ids[i]);
		if (v->verify == QM_VERIFY_OK)
			assert_string_equal(v->text, "the secret text\n");
		else
			assert_non_null(strstr(v->text, "body of "));
		qm_client_view_free(&v);
	}
	/* nothing new: nothing fetched, no second KME request */
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.fetched, 0);
	assert_int_equal(eu_kme(&bob)->calls[FK_DEC], 1);
}

/* A plain message to bob whose References header is over 1 MiB: its
 * header block is refused by the header pass. */
static void deliver_huge_header(void)
{
	const char *head = "From: Eve <eve@example.org>\r\nTo: bob\r\n"
	                   "Subject: huge header\r\n"
	                   "Message-ID: <huge@example.org>\r\nReferences:";
	char ref[1000];
	const char *tail = "\r\n\r\nthe body\r\n";
	size_t hl = strlen(head), refs = (1u << 20) + 4096, len;
	char *msg = malloc(hl + refs + 2048);

	assert_non_null(msg);
	/* folded lines of 990 bytes (few lines: a sanitizer build pays for
	 * every reallocation of the growing value) */
	memcpy(ref, "\r\n <", 4);
	memset(ref + 4, 'a', 970);
	memcpy(ref + 974, "@example.org>", 14);
	memcpy(msg, head, hl);
	len = hl;
	while (len < hl + refs) {
		memcpy(msg + len, ref, strlen(ref));
		len += strlen(ref);
	}
	memcpy(msg + len, tail, strlen(tail));
	len += strlen(tail);
	fake_mail_deliver(bob.addr, "INBOX", msg, len);
	free(msg);
}

/*
 * A header block over the header pass's bound (1 MiB) among plain
 * messages: that message is fetched whole instead (the session opened
 * again), the others listed from their headers; the sync succeeds, and
 * so does the next one, with nothing new. A hostile sender cannot stop
 * the header pass of a folder for good.
 */
static void test_huge_header_whole(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;
	size_t total = 0;

	(void)state;
	for (int i = 0; i < NPLAIN / 2; i++)
		deliver_plain(i, 0);
	deliver_huge_header();
	for (int i = NPLAIN / 2; i < NPLAIN; i++)
		deliver_plain(i, 0);
	qm_error_clear(&e);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.headers_only, NPLAIN);
	assert_int_equal(st.bodies, NPLAIN);
	assert_int_equal(pending(&total), 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_NOT_QMAIL), NPLAIN);
	/* fetched whole, it meets the parser's own bound (64 KiB per header
	 * value): recorded as refused for a limit, as a too large message */
	assert_int_equal(st.errors, 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REFUSED), 1);
	qm_error_clear(&e);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.fetched, 0);
}

/* As many messages as the setting allows: fetched whole as before. */
static void test_small_folder_whole(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	(void)state;
	for (int i = 0; i < 5; i++)
		deliver_plain(i, 0);
	qm_error_clear(&e);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(fake_mail_calls[FM_IMAP_SUMMARY], 0);
	assert_int_equal(st.headers_only, 0);
	assert_int_equal(st.plain, 5);
}

/* The id of bob's message "plain i". */
static int64_t id_of(int i)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_error e;
	char subj[32];
	int64_t id = 0;

	snprintf(subj, sizeof(subj), "plain %d", i);
	memset(&q, 0, sizeof(q));
	q.account_id = bob.acct;
	qm_error_clear(&e);
	assert_ok(qm_client_msg_list(bob.c, &q, &l, &e));
	for (size_t k = 0; k < l->n; k++)
		if (strcmp(l->items[k].subject, subj) == 0)
			id = l->items[k].id;
	qm_store_msglist_free(&l);
	assert_true(id > 0);
	return id;
}

/* The body pass cut short (the server fails it): the header-only
 * messages are listed; one opened is fetched on demand; offline, reading
 * one says its body has not been downloaded yet. */
static void test_on_demand(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int64_t id;

	(void)state;
	for (int i = 0; i < NPLAIN; i++)
		deliver_plain(i, 0);
	fake_mail_fail(FM_IMAP_FETCH, QM_ERR_NET, "connection reset", 0);
	qm_error_clear(&e);
	assert_int_equal(eu_sync(&bob, &st, &e), QM_ERR_NET);
	assert_int_equal(st.headers_only, NPLAIN);
	assert_int_equal(pending(NULL), NPLAIN);

	/* offline: said in terms of the message, no command named */
	id = id_of(3);
	fake_mail_fail(FM_IMAP_OPEN, QM_ERR_NET, "no route to host", 0);
	qm_error_clear(&e);
	assert_int_equal(qm_client_read(bob.c, id, &v, &e), QM_ERR_UNAVAIL);
	assert_null(v);
	assert_non_null(strstr(qm_error_msg(&e), "not been downloaded yet"));
	assert_non_null(strstr(qm_error_msg(&e), bob.addr));
	assert_null(strstr(qm_error_msg(&e), "qmail "));
	assert_int_equal(pending(NULL), NPLAIN);

	/* online: one round trip for this body, the same id */
	qm_error_clear(&e);
	assert_ok(qm_client_read(bob.c, id, &v, &e));
	assert_int_equal(v->id, id);
	assert_int_equal(v->verify, QM_VERIFY_NOT_QMAIL);
	assert_string_equal(v->subject, "plain 3");
	assert_non_null(strstr(v->text, "body of 3"));
	qm_client_view_free(&v);
	assert_int_equal(pending(NULL), NPLAIN - 1);

	/* the next sync brings the rest */
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.bodies, NPLAIN - 1);
	assert_int_equal(pending(NULL), 0);
}

/* A hostile server gives another message for a body than the headers it
 * listed (another Message-ID; or the same one and another size): the
 * body is not filed, the record waits as it was, in the sync and when
 * the message is opened, and later syncs do not fetch it again. */
static void test_body_swapped(void **state)
{
	static const char head[] =
	    "From: Mallory <m@example.org>\r\nTo: bob@qmail.test\r\n"
	    "Subject: not what was listed\r\n"
	    "Message-ID: <other@example.org>\r\n\r\n";
	char other[512], same_mid[512];
	size_t len2 = 0;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int n;

	(void)state;
	for (int i = 0; i < NPLAIN; i++)
		deliver_plain(i, 0);
	/* another Message-ID, the size the server listed */
	assert_non_null(fake_mail_msg(bob.addr, "INBOX", 2, &len2));
	assert_true(len2 > strlen(head) && len2 < sizeof(other));
	memcpy(other, head, strlen(head));
	memset(other + strlen(head), 'y', len2 - strlen(head));
	fake_mail_swap_body(bob.addr, "INBOX", 2, other, len2);
	n = snprintf(same_mid, sizeof(same_mid),
	             "From: Mallory <m@example.org>\r\nTo: %s\r\n"
	             "Subject: plain 5\r\nMessage-ID: <p5@example.org>\r\n"
	             "\r\nswapped, with the listed Message-ID\r\n",
	             bob.addr);
	fake_mail_swap_body(bob.addr, "INBOX", 5, same_mid, (size_t)n);
	qm_error_clear(&e);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.headers_only, NPLAIN);
	assert_int_equal(st.bodies, NPLAIN - 2);
	assert_int_equal(st.errors, 2);
	assert_int_equal(pending(NULL), 2);

	qm_error_clear(&e);
	assert_int_equal(qm_client_read(bob.c, id_of(2), &v, &e), QM_ERR_PROTO);
	assert_null(v);
	assert_non_null(strstr(qm_error_msg(&e), "another message"));
	qm_error_clear(&e);
	assert_int_equal(qm_client_read(bob.c, id_of(5), &v, &e), QM_ERR_PROTO);
	assert_int_equal(pending(NULL), 2);

	/* the next sync does not ask for those bodies again */
	qm_error_clear(&e);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.fetched, 0);
	assert_int_equal(st.bodies, 0);
	assert_int_equal(st.errors, 0);
	assert_int_equal(pending(NULL), 2);
}

/* Headers that say plain, a body that is a QMail message (the same
 * Message-ID and size): the body goes the way of a whole fetch, opened
 * once, its keys asked for once. */
static void test_body_is_qmail(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_error e;
	const unsigned char *q;
	unsigned char *qm;
	char mid[256] = "", *p, plain[32768]; /* QMail messages: over 8 KiB */
	size_t qlen, hl;
	int64_t ids[16];
	int n;

	(void)state;
	alice_sends("hidden behind plain headers");
	q = fake_mail_msg(bob.addr, "INBOX", 0, &qlen);
	assert_non_null(q);
	qm = malloc(qlen);
	assert_non_null(qm);
	memcpy(qm, q, qlen);
	fake_mail_drop(bob.addr, "INBOX", 0);
	/* its Message-ID, for plain headers of the same size */
	p = strstr((char *)qm, "Message-ID: ");
	assert_non_null(p);
	p += strlen("Message-ID: ");
	hl = strcspn(p, "\r\n");
	assert_true(hl < sizeof(mid));
	memcpy(mid, p, hl);
	n = snprintf(plain, sizeof(plain),
	             "From: Dave <dave@example.org>\r\nTo: %s\r\n"
	             "Subject: plain 9\r\nMessage-ID: %s\r\n\r\n",
	             bob.addr, mid);
	assert_true(n > 0 && (size_t)n < qlen && qlen < sizeof(plain));
	memset(plain + n, 'x', qlen - (size_t)n);
	for (int i = 0; i < NPLAIN; i++)
		deliver_plain(i, 0);
	fake_mail_deliver(bob.addr, "INBOX", plain, qlen);
	fake_mail_swap_body(bob.addr, "INBOX", NPLAIN, qm, qlen);
	free(qm);

	qm_error_clear(&e);
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(st.headers_only, NPLAIN + 1);
	assert_int_equal(st.bodies, NPLAIN);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(pending(NULL), 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	assert_int_equal(eu_kme(&bob)->calls[FK_DEC], 1);
	assert_int_equal(eu_inbox(&bob, ids, 16), NPLAIN + 1);
	for (size_t i = 0; i < NPLAIN + 1; i++)
		if (eu_verify(&bob, ids[i], NULL) == QM_VERIFY_OK) {
			qm_error_clear(&e);
			assert_ok(qm_client_read(bob.c, ids[i], &v, &e));
			assert_string_equal(v->text,
			                    "hidden behind plain headers\n");
			qm_client_view_free(&v);
		}
	assert_ok(eu_sync(&bob, &st, &e));
	assert_int_equal(eu_kme(&bob)->calls[FK_DEC], 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REPLAY), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_huge_header_whole, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_header_first, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_small_folder_whole, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_on_demand, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_body_swapped, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_body_is_qmail, setup,
	                                    eng_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
