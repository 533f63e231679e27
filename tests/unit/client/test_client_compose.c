/* SPDX-License-Identifier: MIT */
/*
 * Compose basics of issue 15 in the engine, over the scripted servers of
 * fakes.h: identities (the account's own address always one and the
 * default unless another is chosen; a reply goes from the identity the
 * original was addressed to, and never to an identity of one's own), a
 * message sent as an identity (its From, with an RFC 2047 name, on the
 * protected and the outer message; the account's keys sign, so the
 * recipient sees whose SAE sent it), and an HTML body sent as
 * multipart/alternative inside the envelope, read back with both parts.
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

static int setup(void **state)
{
	(void)state;
	return eng_setup(ENG_KNOW_BOB);
}

static void add_alias(const char *addr, const char *name, const char *sig,
                      int def)
{
	struct qm_store_identity id;
	struct qm_error e;

	memset(&id, 0, sizeof(id));
	qm_strlcpy(id.address, addr, sizeof(id.address));
	qm_strlcpy(id.name, name, sizeof(id.name));
	qm_strlcpy(id.signature, sig, sizeof(id.signature));
	id.is_default = def;
	assert_ok(qm_client_identity_put(alice.c, alice.acct, &id, &e));
}

static void test_identities(void **state)
{
	struct qm_store_identity *v = NULL, id;
	struct qm_client_view view;
	char **to = NULL, **cc = NULL;
	size_t n = 0, nto = 0, ncc = 0;
	struct qm_error e;

	(void)state;
	/* the own address alone, the default */
	assert_ok(qm_client_identity_list(alice.c, alice.acct, &v, &n, &e));
	assert_int_equal(n, 1);
	assert_string_equal(v[0].address, alice.addr);
	assert_int_equal(v[0].is_default, 1);
	free(v);

	add_alias("work@qmail.test", "Ålice at Work", "Alice\nWork", 1);
	add_alias("home@qmail.test", "", "", 0);
	assert_ok(qm_client_identity_list(alice.c, alice.acct, &v, &n, &e));
	assert_int_equal(n, 3);
	assert_string_equal(v[0].address, alice.addr);
	assert_int_equal(v[0].is_default, 0);
	assert_string_equal(v[2].address, "work@qmail.test");
	assert_int_equal(v[2].is_default, 1);
	assert_string_equal(v[2].signature, "Alice\nWork");
	free(v);
	assert_ok(qm_client_identity_get(alice.c, alice.acct, NULL, &id, &e));
	assert_string_equal(id.address, "work@qmail.test");

	/* the own address stays; an address with a name, or a name with a
	 * line end, is refused */
	assert_int_equal(
	    qm_client_identity_delete(alice.c, alice.acct, alice.addr, &e),
	    QM_ERR_INVAL);
	memset(&id, 0, sizeof(id));
	qm_strlcpy(id.address, "Eve <eve@qmail.test>", sizeof(id.address));
	assert_int_equal(qm_client_identity_put(alice.c, alice.acct, &id, &e),
	                 QM_ERR_INVAL);
	qm_strlcpy(id.address, "eve@qmail.test", sizeof(id.address));
	qm_strlcpy(id.name, "Eve\r\nBcc: x@y", sizeof(id.name));
	assert_int_equal(qm_client_identity_put(alice.c, alice.acct, &id, &e),
	                 QM_ERR_INVAL);
	assert_int_equal(qm_client_identity_default(alice.c, alice.acct,
	                                            "nobody@qmail.test", &e),
	                 QM_ERR_NOTFOUND);

	/* a reply goes from the identity the message was addressed to (To
	 * before Cc), else the default; reply-all answers none of them */
	assert_ok(qm_client_identity_for(alice.c, alice.acct,
	                                 "Bob <bob@qmail.test>",
	                                 "HOME@qmail.test", &id, &e));
	assert_string_equal(id.address, "home@qmail.test");
	assert_ok(qm_client_identity_for(alice.c, alice.acct, "bob@qmail.test",
	                                 "", &id, &e));
	assert_string_equal(id.address, "work@qmail.test");
	memset(&view, 0, sizeof(view));
	view.from = (char *)"bob@qmail.test";
	view.reply_to = (char *)"";
	view.to = (char *)"home@qmail.test, carol@qmail.test";
	view.cc = (char *)"Alice <alice@qmail.test>, work@qmail.test";
	assert_ok(qm_client_reply_rcpts(alice.c, alice.acct, &view, 1, &to,
	                                &nto, &cc, &ncc, &e));
	assert_int_equal(nto, 1);
	assert_string_equal(to[0], "bob@qmail.test");
	assert_int_equal(ncc, 1);
	assert_string_equal(cc[0], "carol@qmail.test");
	qm_client_strv_free(&to, nto);
	qm_client_strv_free(&cc, ncc);

	/* removing the default makes the own address the default again */
	assert_ok(qm_client_identity_delete(alice.c, alice.acct,
	                                    "work@qmail.test", &e));
	assert_ok(qm_client_identity_get(alice.c, alice.acct, NULL, &id, &e));
	assert_string_equal(id.address, alice.addr);
}

/* Sends from alice to bob at level 2 as identity from with html. */
static enum qm_err send_as(const char *from, const char *text, const char *html,
                           struct qm_error *e)
{
	const char *to[] = {bob.addr};
	struct qm_client_compose m;
	struct qm_client_sent out;

	memset(&m, 0, sizeof(m));
	m.account_id = alice.acct;
	m.to = to;
	m.nto = 1;
	m.subject = "compose";
	m.text = text;
	m.level = 2;
	m.from = from;
	m.html = html;
	qm_error_clear(e);
	return qm_client_send(alice.c, &m, NULL, NULL, &out, e);
}

static void test_send_as_identity_html(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_buf mime;
	struct qm_error e;
	int64_t id;

	(void)state;
	/* an address that is none of the account's identities: refused
	 * before anything is queued */
	assert_int_equal(send_as("eve@qmail.test", "x", NULL, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(fake_mail_count(bob.addr, "INBOX"), 0);

	add_alias("work@qmail.test", "Ålice at Work", "", 0);
	assert_ok(send_as("work@qmail.test", "Hello *bold*\n",
	                  "<p>Hello <b>bold</b></p>", &e));
	eu_sync_ok(&bob, &st);
	/* opened, but counted unverified: see below */
	assert_int_equal(st.unverified, 1);
	assert_int_equal(eu_inbox(&bob, &id, 1), 1);
	assert_ok(qm_client_read(bob.c, id, &v, &e));
	/* the authenticated From is the identity, its name decoded */
	assert_non_null(strstr(v->from, "work@qmail.test"));
	assert_non_null(strstr(v->from, "Ålice at Work"));
	/* both parts arrived inside the envelope */
	assert_non_null(strstr(v->text, "Hello *bold*"));
	assert_non_null(v->html);
	assert_non_null(strstr(v->html, "<b>bold</b>"));
	/* the account's SAE sent it: bob knows that SAE as alice's, so the
	 * message says whose it is instead of calling it the alias's */
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	assert_string_equal(v->sender_owner, alice.addr);
	qm_client_view_free(&v);

	/* the protected message: multipart/alternative, the name as an
	 * RFC 2047 encoded word */
	qm_buf_init_secure(&mime, 1 << 20);
	assert_ok(qm_client_msg_mime(bob.c, id, &mime, &e));
	assert_non_null(strstr((char *)mime.data, "multipart/alternative"));
	assert_non_null(strstr((char *)mime.data, "From: =?"));
	assert_non_null(strstr((char *)mime.data, "<work@qmail.test>"));
	assert_null(strstr((char *)mime.data, "Ålice"));
	qm_buf_free(&mime);
}

/*
 * Issue 16: a subject far past one header line (998 bytes, RFC 5322
 * 2.1.1) goes out folded and reads back whole: 3,000 characters with
 * spaces (folded between words) and a 1,500-byte word (no space to fold
 * at), at level 2 (the protected message) and in the message's own list
 * row, and no line of the protected message is over 998 bytes.
 */
static void test_long_subject(void **state)
{
	const char *to[] = {bob.addr};
	struct qm_client_compose m;
	struct qm_client_sent out;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_buf mime;
	struct qm_error e;
	char subject[3200];
	size_t n = 0, line = 0;
	int64_t id;

	(void)state;
	while (n < 1500) {
		int k = snprintf(subject + n, sizeof(subject) - n, "word%zu ",
		                 n);
		n += (size_t)k;
	}
	for (; n < 3000; n++) /* one unbroken word of 1,500 bytes */
		subject[n] = (char)('a' + n % 26);
	subject[n] = '\0';
	assert_int_equal(strlen(subject), 3000);

	memset(&m, 0, sizeof(m));
	m.account_id = alice.acct;
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = "long subject\n";
	m.level = 2;
	qm_error_clear(&e);
	assert_ok(qm_client_send(alice.c, &m, NULL, NULL, &out, &e));
	eu_sync_ok(&bob, &st);
	assert_int_equal(eu_inbox(&bob, &id, 1), 1);
	assert_ok(qm_client_read(bob.c, id, &v, &e));
	assert_string_equal(v->subject, subject);
	qm_client_view_free(&v);
	{ /* the list row has it whole too */
		struct qm_store_msglist *l = NULL;

		assert_ok(qm_client_msg_get(bob.c, id, &l, &e));
		assert_string_equal(l->items[0].subject, subject);
		qm_client_msglist_free(&l);
	}

	qm_buf_init_secure(&mime, 1 << 20);
	assert_ok(qm_client_msg_mime(bob.c, id, &mime, &e));
	for (size_t i = 0; i < mime.len; i++) {
		if (mime.data[i] == '\n') {
			assert_true(line <= 999); /* 998 and the CR */
			line = 0;
		} else {
			line++;
		}
	}
	qm_buf_free(&mime);
}

/* The text part derived from an HTML body. */
static void test_html_text(void **state)
{
	struct qm_buf out;
	struct qm_error e;

	(void)state;
	qm_buf_init(&out, 4096);
	assert_ok(qm_client_html_text(
	    "<p>Hi <b>there</b> &amp; you</p><ul><li>one</li><li>two</li>"
	    "</ul><ol><li>first</li></ol><blockquote>quoted<br>line"
	    "</blockquote><p><a href=\"https://x.test/a?b=1&amp;c=2\">site"
	    "</a></p>",
	    &e, &out));
	assert_string_equal((char *)out.data,
	                    "Hi there & you\n* one\n* two\n1. first\n"
	                    "> quoted\n> line\nsite "
	                    "<https://x.test/a?b=1&c=2>\n");
	qm_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identities, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_send_as_identity_html, setup,
	                                    eng_teardown),
	    cmocka_unit_test(test_html_text),
	    cmocka_unit_test_setup_teardown(test_long_subject, setup,
	                                    eng_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
