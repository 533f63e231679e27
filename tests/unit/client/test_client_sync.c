/* SPDX-License-Identifier: MIT */
/*
 * The receive path's decisions (src/client/recv*.c) over the scripted KME
 * and mail servers of fakes.h: what becomes of a message when its KME
 * answers each way (docs/CLIENT.md, "Receiving": a bad message is
 * unreadable, keys that are gone leave it without key, an account that
 * cannot use its KME or a KME that is down makes it wait and is said once
 * with one request per sync, a KME that failed for one message backs off),
 * that no message stops a sync, replays and duplicates, the sender
 * binding of levels 1 and 2, downgrades, POP3, a renumbered folder and
 * the user's size limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "harness.h"

static int setup(void **state)
{
	(void)state;
	return eng_setup(ENG_KNOW_BOB | ENG_KNOW_CAROL | ENG_CAROL_POP3);
}

/* Alice sends text to u at level; it must go out. */
static void alice_sends(const struct eu *u, int level, const char *text)
{
	const char *to[] = {u->addr};
	struct qm_client_sent out;
	struct qm_error e;

	assert_ok(eu_send(&alice, to, 1, level, 0, text, &out, &e));
	assert_int_equal(out.n_sent, 1);
}

/* u syncs; the sync itself must succeed whatever the messages are. */
static void sync_ok(struct eu *u, struct qm_client_sync_stats *st)
{
	struct qm_error e;

	assert_ok(eu_sync(u, st, &e));
}

/* u's newest message, read; the caller frees it. */
static struct qm_client_view *newest(struct eu *u)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int64_t id;

	assert_int_equal(eu_inbox(u, &id, 1), 1);
	qm_error_clear(&e);
	assert_ok(qm_client_read(u->c, id, &v, &e));
	return v;
}

/* u's message in state v (there must be one), read; the caller frees it. */
static struct qm_client_view *read_in(struct eu *u, enum qm_store_verify v)
{
	struct qm_client_view *view = NULL;
	struct qm_error e;
	int64_t ids[16];
	size_t n = eu_inbox(u, ids, 16);

	for (size_t i = 0; i < n; i++)
		if (eu_verify(u, ids[i], NULL) == v) {
			qm_error_clear(&e);
			assert_ok(qm_client_read(u->c, ids[i], &view, &e));
			return view;
		}
	fail_msg("%s has no message in state %d", u->name, (int)v);
	return NULL;
}

/* Delivers again to u the INBOX message i with the value of header name
 * replaced (the header must be there). */
static void redeliver(const struct eu *u, size_t i, const char *name,
                      const char *value)
{
	size_t len = 0, nl = strlen(name);
	const unsigned char *m = fake_mail_msg(u->addr, "INBOX", i, &len);
	struct qm_buf b;
	const unsigned char *h = NULL, *end;

	assert_non_null(m);
	for (size_t k = 0; k + nl + 1 < len && !h; k++)
		if ((k == 0 || m[k - 1] == '\n') &&
		    memcmp(m + k, name, nl) == 0 && m[k + nl] == ':')
			h = m + k;
	assert_non_null(h);
	end = memchr(h, '\r', len - (size_t)(h - m));
	assert_non_null(end);
	qm_buf_init(&b, len + 1024);
	assert_int_equal(qm_buf_append(&b, m, (size_t)(h - m), NULL), QM_OK);
	assert_int_equal(qm_buf_appendf(&b, NULL, "%s: %s", name, value),
	                 QM_OK);
	assert_int_equal(qm_buf_append(&b, end, len - (size_t)(end - m), NULL),
	                 QM_OK);
	fake_mail_deliver(u->addr, "INBOX", b.data, b.len);
	qm_buf_free(&b);
}

static void deliver_plain(const struct eu *u, const char *subject)
{
	char msg[512];

	snprintf(msg, sizeof(msg),
	         "From: Dave <dave@example.org>\r\nTo: %s\r\nSubject: %s\r\n"
	         "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
	         "Message-ID: <%s@example.org>\r\n\r\nplain text\r\n",
	         u->addr, subject, subject);
	fake_mail_deliver(u->addr, "INBOX", msg, strlen(msg));
}

/* u's INBOX as the interfaces list it: the snippet of the message in
 * state v (there must be one; static copy). */
static const char *snippet_in(struct eu *u, enum qm_store_verify v)
{
	static char out[512];
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	size_t i;

	memset(&q, 0, sizeof(q));
	q.account_id = u->acct;
	q.folder = "INBOX";
	qm_error_clear(&e);
	assert_ok(qm_client_msg_list(u->c, &q, &l, &e));
	for (i = 0; i < l->n && l->items[i].verify != v; i++)
		;
	assert_true(i < l->n);
	assert_non_null(l->items[i].snippet);
	qm_strlcpy(out, l->items[i].snippet, sizeof(out));
	qm_client_msglist_free(&l);
	return out;
}

/* Plain mail and QMail side by side; what opened reads as sent. */
static void test_plain_and_qmail(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;

	(void)state;
	deliver_plain(&bob, "hello");
	alice_sends(&bob, 2, "the secret text");
	sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.plain, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_NOT_QMAIL), 1);
	v = newest(&bob);
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_int_equal(v->level, 2);
	assert_string_equal(v->text, "the secret text\n");
	assert_string_equal(v->sender_sae, "SAE_A");
	assert_string_equal(v->sender_owner, alice.addr);
	assert_int_equal(v->bound, 1);
	qm_client_view_free(&v);
	/* the list gives the first words of each one's text */
	assert_string_equal(snippet_in(&bob, QM_VERIFY_OK), "the secret text");
	assert_string_equal(snippet_in(&bob, QM_VERIFY_NOT_QMAIL),
	                    "plain text");
	/* a second sync fetches nothing again */
	sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 0);
}

/* Delivers to u a plain message with this From (raw header value). */
static void deliver_from(const struct eu *u, const char *from, const char *mid)
{
	char msg[1024];

	snprintf(msg, sizeof(msg),
	         "From: %s\r\nTo: %s\r\nSubject: from test\r\n"
	         "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
	         "Message-ID: <%s@example.org>\r\n\r\nplain text\r\n",
	         from, u->addr, mid);
	fake_mail_deliver(u->addr, "INBOX", msg, strlen(msg));
}

/* The name the interfaces show for the sender of u's INBOX message from
 * addr in state v (there must be one; qm_client_sender_name; static
 * copy). */
static const char *name_from(struct eu *u, const char *addr,
                             enum qm_store_verify v)
{
	static char out[512];
	struct qm_store_msglist *l = NULL;
	struct qm_store_query q;
	struct qm_error e;
	char *name = NULL;
	size_t i;

	memset(&q, 0, sizeof(q));
	q.account_id = u->acct;
	q.folder = "INBOX";
	q.limit = 100;
	qm_error_clear(&e);
	assert_ok(qm_client_msg_list(u->c, &q, &l, &e));
	for (i = 0; i < l->n && (strcmp(l->items[i].from_addr, addr) != 0 ||
	                         l->items[i].verify != v);
	     i++)
		;
	assert_true(i < l->n);
	assert_ok(qm_client_sender_name(u->c, &l->items[i], &name, &e));
	qm_strlcpy(out, name, sizeof(out));
	free(name);
	qm_client_msglist_free(&l);
	return out;
}

/*
 * Sender names (issue 16): a QMail message's from its inner From, plain
 * mail's from its From (RFC 2047 decoded, display-safe); a contact's name
 * wins; a name that looks like another address, or is blank, is no name;
 * a tampered message has none.
 */
static void test_sender_names(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_store_contact ct;
	struct qm_client_view *v;
	struct qm_error e;
	char from[256];

	(void)state;
	alice_sends(&bob, 2, "forged text");
	alice_sends(&bob, 2, "named text");
	/* the first with another name in the outer From (only that copy):
	 * the bound value changed, so tampered, and named by nobody */
	snprintf(from, sizeof(from), "Mallory <%s>", alice.addr);
	redeliver(&bob, 0, "From", from);
	fake_mail_drop(bob.addr, "INBOX", 0);
	deliver_from(&bob, "\"ceo@bank.example\" <evil@x.example>", "spoof");
	deliver_from(&bob, "\"ceo\xef\xbc\xa0" "bank.example\" <fw@x.example>",
	             "fullwidth");
	deliver_from(&bob, "\"  \" <blank@x.example>", "blank");
	deliver_from(&bob, "\"self@x.example\" <self@x.example>", "self");
	deliver_from(&bob, "=?UTF-8?Q?Z=C3=B6e_Example?= <zoe@x.example>",
	             "encoded");
	deliver_from(&bob, "\"Eve\xe2\x80\xae\" <eve@x.example>", "bidi");
	deliver_from(&bob, "Dave Header <dave@x.example>", "dave");
	sync_ok(&bob, &st);
	assert_int_equal(st.tampered, 1);

	assert_string_equal(name_from(&bob, alice.addr, QM_VERIFY_OK), "Alice");
	assert_string_equal(name_from(&bob, alice.addr, QM_VERIFY_TAMPERED),
	                    "");
	assert_string_equal(
	    name_from(&bob, "evil@x.example", QM_VERIFY_NOT_QMAIL), "");
	assert_string_equal(
	    name_from(&bob, "fw@x.example", QM_VERIFY_NOT_QMAIL), "");
	assert_string_equal(
	    name_from(&bob, "blank@x.example", QM_VERIFY_NOT_QMAIL), "");
	assert_string_equal(
	    name_from(&bob, "self@x.example", QM_VERIFY_NOT_QMAIL),
	    "self@x.example");
	assert_string_equal(
	    name_from(&bob, "zoe@x.example", QM_VERIFY_NOT_QMAIL),
	    "Z\xc3\xb6" "e Example");
	assert_string_equal(
	    name_from(&bob, "eve@x.example", QM_VERIFY_NOT_QMAIL),
	    "Eve[U+202E]");
	assert_string_equal(
	    name_from(&bob, "dave@x.example", QM_VERIFY_NOT_QMAIL),
	    "Dave Header");

	/* the user's own name for a contact wins over the header's */
	memset(&ct, 0, sizeof(ct));
	qm_strlcpy(ct.address, "dave@x.example", sizeof(ct.address));
	qm_strlcpy(ct.name, "Dave From Work", sizeof(ct.name));
	qm_error_clear(&e);
	assert_ok(qm_client_contact_put(bob.c, bob.acct, &ct, &e));
	assert_string_equal(
	    name_from(&bob, "dave@x.example", QM_VERIFY_NOT_QMAIL),
	    "Dave From Work");
	qm_strlcpy(ct.address, alice.addr, sizeof(ct.address));
	qm_strlcpy(ct.name, "Alice (my sister)", sizeof(ct.name));
	assert_ok(qm_client_contact_put(bob.c, bob.acct, &ct, &e));
	assert_string_equal(name_from(&bob, alice.addr, QM_VERIFY_OK),
	                    "Alice (my sister)");
	/* not for the tampered copy carrying her address */
	assert_string_equal(name_from(&bob, alice.addr, QM_VERIFY_TAMPERED),
	                    "");

	/* the reader names the sender the same way */
	v = read_in(&bob, QM_VERIFY_OK);
	assert_string_equal(v->from_name, "Alice (my sister)");
	assert_non_null(strstr(v->from, alice.addr));
	qm_client_view_free(&v);
	v = read_in(&bob, QM_VERIFY_TAMPERED);
	assert_string_equal(v->from_name, "");
	qm_client_view_free(&v);
}

/* How many lines of s begin with prefix. */
static size_t lines_with(const char *s, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);

	for (const char *p = s; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, prefix, pl) == 0)
			n++;
	return n;
}

/*
 * The export: the decrypted text of a QMail message and plain mail, into
 * an mbox (mboxrd: body lines "From " quoted, one separator per message,
 * never the ciphertext, the attachment that traveled binary in base64
 * again; an existing file refused) and a Maildir (a file of
 * cur/ per message, its flags in the name, tmp/ left empty).
 */
static void test_export(void **state)
{
	static const char quoted[] =
	    "From: Dave <dave@example.org>\r\nSubject: quoting\r\n"
	    "Message-ID: <q@example.org>\r\n\r\nFrom here\r\n"
	    ">From there\r\nend\r\n";
	struct qm_client_export_stats st;
	struct qm_client_sync_stats ss;
	struct qm_store_query q;
	struct qm_error e;
	char dir[512], path[600], cur[620];
	char *text;
	size_t len, files = 0;
	DIR *d;
	struct dirent *de;

	(void)state;
	deliver_plain(&bob, "hello");
	fake_mail_deliver(bob.addr, "INBOX", quoted, strlen(quoted));
	{
		/* with a file of every byte value, CR and LF among them */
		const char *to[] = {bob.addr};
		unsigned char bin[512];
		struct qm_client_attachment att = {
		    "every-byte.bin", "application/octet-stream", bin,
		    sizeof(bin), NULL};
		struct qm_client_sent out;
		struct qm_buf mime;
		int64_t id;

		for (size_t i = 0; i < sizeof(bin); i++)
			bin[i] = (unsigned char)i;
		assert_ok(eu_send_att(&alice, to, 1, 2, 0, "the secret text",
		                      &att, 1, &out, &e));
		sync_ok(&bob, &ss);
		assert_int_equal(ss.fetched, 3);
		/* it traveled binary inside the encryption */
		assert_int_equal(eu_inbox(&bob, &id, 1), 1);
		qm_buf_init_secure(&mime, 1 << 20);
		assert_ok(qm_client_msg_mime(bob.c, id, &mime, &e));
		assert_non_null(memmem(mime.data, mime.len,
		                       "Content-Transfer-Encoding: binary", 33));
		assert_non_null(memmem(mime.data, mime.len, bin, sizeof(bin)));
		qm_buf_free(&mime);
	}
	assert_int_equal(qmt_tmpdir("export", dir, sizeof(dir)), 0);
	memset(&q, 0, sizeof(q));
	q.account_id = bob.acct;

	snprintf(path, sizeof(path), "%s/all.mbox", dir);
	qm_error_clear(&e);
	assert_ok(qm_client_export(bob.c, &q, QM_CLIENT_EXPORT_MBOX, path, NULL,
	                           NULL, &st, &e));
	assert_int_equal(st.written, 3);
	assert_int_equal(st.skipped, 0);
	text = qmt_read_file(path, &len);
	assert_non_null(text);
	assert_int_equal(lines_with(text, "From "), 3);
	assert_int_equal(lines_with(text, ">From here"), 1);
	assert_int_equal(lines_with(text, ">>From there"), 1);
	assert_non_null(strstr(text, "the secret text"));
	assert_null(strstr(text, "x-qmail-encrypted"));
	assert_null(strchr(text, '\r'));
	/* the file in base64 again, as mail programs read an mbox */
	assert_null(strstr(text, "Content-Transfer-Encoding: binary"));
	assert_non_null(strstr(text, "filename=every-byte.bin"));
	for (size_t i = 0; i < len; i++)
		assert_true((unsigned char)text[i] < 128);
	free(text);
	assert_int_equal(qm_client_export(bob.c, &q, QM_CLIENT_EXPORT_MBOX,
	                                  path, NULL, NULL, &st, &e),
	                 QM_ERR_EXISTS);

	snprintf(path, sizeof(path), "%s/Mail", dir);
	assert_ok(qm_client_export(bob.c, &q, QM_CLIENT_EXPORT_MAILDIR, path,
	                           NULL, NULL, &st, &e));
	assert_int_equal(st.written, 3);
	snprintf(cur, sizeof(cur), "%s/cur", path);
	d = opendir(cur);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			files++;
			assert_non_null(strstr(de->d_name, ":2,"));
		}
	closedir(d);
	assert_int_equal(files, 3);
	snprintf(cur, sizeof(cur), "%s/tmp", path);
	d = opendir(cur);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		assert_true(de->d_name[0] == '.');
	closedir(d);
	assert_int_equal(qmt_rmtree(dir), 0);
}

/* The second FETCH of a sync fails (the connection is lost mid-batch). */
static void fail_next_fetch(void *arg)
{
	(void)arg;
	fake_mail_fail(FM_IMAP_FETCH, QM_ERR_NET, "connection reset", 0);
}

static void at_first_fetch(void *arg)
{
	(void)arg;
	fake_mail_hook(FM_IMAP_FETCH, fail_next_fetch, NULL);
}

/*
 * A sync files its messages in groups (one store transaction for up to
 * 100 ms): a failure in the middle of a group keeps what was filed
 * before it, whose keys the KME gave away, and the next sync files the
 * rest once.
 */
static void test_cut_keeps_filed(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	(void)state;
	alice_sends(&bob, 2, "first");
	alice_sends(&bob, 2, "second");
	fake_mail_hook(FM_IMAP_FETCH, at_first_fetch, NULL);
	qm_error_clear(&e);
	assert_int_equal(eu_sync(&bob, &st, &e), QM_ERR_NET);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.replayed, 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 2);
}

/* Levels 1 and 2: the message is from its From address only when the
 * envelope's sender SAE is the SAE ID confirmed for it; otherwise it is
 * readable with an unverified sender, and the reason says whose SAE it
 * is. An unknown sender's SAE ID is learned, not confirmed. */
static void test_sender_binding(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct qm_store_contact ct;
	struct qm_error e;
	struct eu dave;

	(void)state;
	eu_open(&dave, "dave", "SAE_D", 0);
	fake_link_add("SAE_A", "SAE_D", 1 << 20);
	eu_knows(&alice, &dave, EU_SAE | EU_VERIFIED);

	/* dave knows nothing of alice: unverified, and her SAE ID learned */
	alice_sends(&dave, 2, "one");
	sync_ok(&dave, &st);
	assert_int_equal(st.unverified, 1);
	assert_int_equal(st.decrypted, 0);
	v = newest(&dave);
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	assert_string_equal(v->text, "one\n");
	assert_has(v->status_text, "not confirmed");
	qm_client_view_free(&v);
	qm_error_clear(&e);
	assert_ok(qm_store_contact_get(qm_client_store(dave.c), dave.acct,
	                               alice.addr, &ct, &e));
	assert_string_equal(ct.sae_id, "SAE_A");
	assert_int_equal(ct.confirmed, 0);
	assert_int_equal(ct.source, QM_CONTACT_LEARNED);

	/* learned is not confirmed: the next message is unverified too */
	alice_sends(&dave, 2, "again");
	sync_ok(&dave, &st);
	assert_int_equal(st.unverified, 1);
	assert_int_equal(st.decrypted, 0);

	/* once confirmed, her messages are verified */
	assert_ok(qm_store_contact_confirm(qm_client_store(dave.c), dave.acct,
	                                   alice.addr, &e));
	alice_sends(&dave, 1, "two");
	sync_ok(&dave, &st);
	assert_int_equal(st.decrypted, 1);

	/* another SAE ID confirmed for alice: unverified, naming it */
	eu_contact(&dave, alice.addr, "SAE_X", 1, 0);
	alice_sends(&dave, 2, "three");
	sync_ok(&dave, &st);
	assert_int_equal(st.unverified, 1);
	v = newest(&dave);
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	assert_has(v->status_text, "SAE_X");
	qm_client_view_free(&v);

	/* alice's SAE ID confirmed for carol: it belongs to her */
	eu_contact(&dave, carol.addr, "SAE_A", 1, 0);
	alice_sends(&dave, 2, "four");
	sync_ok(&dave, &st);
	v = newest(&dave);
	assert_int_equal(v->verify, QM_VERIFY_UNVERIFIED_SENDER);
	assert_string_equal(v->sender_owner, carol.addr);
	assert_has(v->status_text, "belongs to carol@qmail.test");
	qm_client_view_free(&v);
	eu_close(&dave);
}

/* The KME cannot be reached: every message waits, the problem is said
 * once with its code, and only one message's keys are asked for in the
 * sync. When the KME is back, the next sync opens them all. */
static void test_kme_down_waits(void **state)
{
	struct qm_client_sync_stats st;
	struct fake_kme *k = eu_kme(&bob);

	(void)state;
	alice_sends(&bob, 2, "one");
	alice_sends(&bob, 2, "two");
	alice_sends(&bob, 1, "three");
	k->always = (struct fk_answer){0, QM_ERR_NET, "connection refused"};
	k->always_set = 1;
	sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 3);
	assert_int_equal(st.waiting, 3);
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(st.kme_code, QM_ERR_NET);
	assert_has(st.kme_problem, "connection refused");
	assert_int_equal(k->calls[FK_DEC], 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_WAITING), 3);

	/* still down: one request in the next sync, nothing lost */
	sync_ok(&bob, &st);
	assert_int_equal(st.waiting, 3);
	assert_int_equal(k->calls[FK_DEC], 2);

	k->always_set = 0;
	sync_ok(&bob, &st);
	assert_int_equal(st.resumed, 3);
	assert_int_equal(st.decrypted, 3);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.kme_problem[0], '\0');
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 3);
	assert_int_equal(fake_keys_fetched(), fake_keys_issued());
}

/* The KME refuses this SAE (its certificate: 401 to every request, also
 * to Get status) or TLS fails: the account cannot use its KME, the
 * messages wait; an account with no KME at all waits the same way. */
static void test_account_cannot_use_kme(void **state)
{
	struct qm_client_sync_stats st;
	struct fake_kme *k = eu_kme(&bob);

	(void)state;
	alice_sends(&bob, 2, "one");
	qm_strlcpy(k->deny_sae, "SAE_B", sizeof(k->deny_sae));
	sync_ok(&bob, &st);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(st.kme_code, QM_ERR_DENIED);
	assert_int_equal(k->calls[FK_STATUS], 2); /* bulk helper + probe */

	k->deny_sae[0] = '\0';
	k->always = (struct fk_answer){0, QM_ERR_TLS, "certificate expired"};
	k->always_set = 1;
	sync_ok(&bob, &st);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(st.kme_code, QM_ERR_TLS);
	assert_has(st.kme_problem, "certificate expired");

	k->always_set = 0;
	eu_drop_kme(&bob);
	sync_ok(&bob, &st);
	assert_int_equal(st.waiting, 1);
	assert_has(st.kme_problem, "no KME configured");
	assert_int_equal(eu_count(&bob, QM_VERIFY_WAITING), 1);
	assert_int_equal(fake_keys_fetched(), 0);
}

/* The KME refuses one message's key IDs (400): that message is
 * unreadable, kept, and not tried again by later syncs; the next message
 * opens in the same sync. Asked for by the user, it opens. */
static void test_poison_message(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;
	enum qm_store_verify v;
	int64_t ids[2], new_id = 0;
	struct fake_kme *k = eu_kme(&bob);

	(void)state;
	alice_sends(&bob, 2, "poison");
	alice_sends(&bob, 2, "fine");
	fake_kme_next(k, FK_DEC, 400, QM_OK, "key_ID has a wrong format");
	sync_ok(&bob, &st);
	assert_int_equal(st.unreadable, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(st.kme_problem[0], '\0');
	assert_int_equal(eu_inbox(&bob, ids, 2), 2);
	assert_int_equal(eu_verify(&bob, ids[0], NULL), QM_VERIFY_OK);
	assert_int_equal(eu_verify(&bob, ids[1], NULL), QM_VERIFY_UNREADABLE);

	sync_ok(&bob, &st);
	assert_int_equal(k->calls[FK_DEC], 2);

	qm_error_clear(&e);
	assert_ok(qm_client_msg_retry(bob.c, ids[1], &new_id, &v, &e));
	assert_int_equal(v, QM_VERIFY_OK);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 2);
	assert_int_equal(eu_count(&bob, QM_VERIFY_UNREADABLE), 0);
	/* a message that opened has nothing left to try */
	assert_int_equal(qm_client_msg_retry(bob.c, new_id, NULL, NULL, &e),
	                 QM_ERR_STATE);
}

/* The keys are gone (fetched already, expired) or were not addressed to
 * this SAE while the KME serves it: no key, for good. */
static void test_keys_gone(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct fake_kme *k = eu_kme(&bob);

	(void)state;
	alice_sends(&bob, 2, "expired");
	fake_key_expire(0);
	sync_ok(&bob, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.waiting, 0);
	v = newest(&bob);
	assert_int_equal(v->verify, QM_VERIFY_UNKNOWN_KEY);
	assert_has(v->status_text, "does not have the keys");
	assert_null(strstr(v->text ? v->text : "", "expired"));
	qm_client_view_free(&v);

	/* 401 to dec_keys, but Get status is answered: the key is not ours */
	alice_sends(&bob, 2, "not yours");
	fake_kme_next(k, FK_DEC, 401, QM_OK, NULL);
	sync_ok(&bob, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.waiting, 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_UNKNOWN_KEY), 2);
}

/* The KME failed for one message (503 while its status answers): that
 * message waits with a back-off, later syncs before its time do not ask
 * again, the user may ask now. A KME failing as a whole (500 also to
 * Get status) blocks the account for the sync instead. */
static void test_transient_and_down(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;
	enum qm_store_verify v;
	int64_t id;
	struct fake_kme *k = eu_kme(&bob);

	(void)state;
	alice_sends(&bob, 2, "later");
	alice_sends(&bob, 2, "now");
	fake_kme_next(k, FK_DEC, 503, QM_OK, "busy");
	sync_ok(&bob, &st);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.kme_problem[0], '\0');
	assert_int_equal(k->calls[FK_DEC], 2);

	sync_ok(&bob, &st);
	assert_int_equal(st.waiting, 1);
	assert_int_equal(k->calls[FK_DEC], 2);

	assert_int_equal(eu_count(&bob, QM_VERIFY_WAITING), 1);
	{
		int64_t ids[2];

		assert_int_equal(eu_inbox(&bob, ids, 2), 2);
		id = eu_verify(&bob, ids[0], NULL) == QM_VERIFY_WAITING
		         ? ids[0]
		         : ids[1];
	}
	qm_error_clear(&e);
	assert_ok(qm_client_msg_retry(bob.c, id, NULL, &v, &e));
	assert_int_equal(v, QM_VERIFY_OK);

	/* the KME fails as a whole: the first message is the only one asked */
	alice_sends(&bob, 2, "a");
	alice_sends(&bob, 2, "b");
	fake_kme_next(k, FK_DEC, 500, QM_OK, NULL);
	fake_kme_next(k, FK_STATUS, 500, QM_OK, NULL);
	fake_kme_next(k, FK_STATUS, 500, QM_OK, NULL);
	sync_ok(&bob, &st);
	assert_int_equal(st.waiting, 2);
	assert_int_not_equal(st.kme_problem[0], '\0');
	assert_int_equal(k->calls[FK_DEC], 4);
}

/* A different message that reuses key IDs already used is a replay: not
 * decrypted, and its keys are not asked for. At levels 3 and 4 a new
 * message with the Message-ID of one that opened is a replay. */
static void test_replay(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;
	struct fake_kme *k = eu_kme(&bob);

	(void)state;
	alice_sends(&bob, 2, "original");
	sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 1);
	redeliver(&bob, 0, "Date", "Tue, 2 Jan 2024 10:00:00 +0000");
	sync_ok(&bob, &st);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(st.duplicates, 0);
	assert_int_equal(k->calls[FK_DEC], 1);
	v = read_in(&bob, QM_VERIFY_REPLAY);
	assert_has(v->status_text, "replay");
	qm_client_view_free(&v);

	alice_sends(&bob, 3, "signed");
	sync_ok(&bob, &st);
	assert_int_equal(st.decrypted, 1);
	redeliver(&bob, 2, "Date", "Tue, 2 Jan 2024 10:00:00 +0000");
	sync_ok(&bob, &st);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REPLAY), 2);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 2);
}

/* The same bytes twice are a duplicate: filed once, no alarm, no key
 * asked for twice; also when the server renumbers the folder. */
static void test_duplicates(void **state)
{
	struct qm_client_sync_stats st;
	size_t len = 0;
	const unsigned char *m;

	(void)state;
	alice_sends(&bob, 1, "once");
	sync_ok(&bob, &st);
	m = fake_mail_msg(bob.addr, "INBOX", 0, &len);
	fake_mail_deliver(bob.addr, "INBOX", m, len);
	sync_ok(&bob, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.replayed, 0);

	fake_mail_renumber(bob.addr, "INBOX");
	sync_ok(&bob, &st);
	assert_int_equal(st.fetched, 2);
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(eu_count(&bob, QM_VERIFY_OK), 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REPLAY), 0);
	assert_int_equal(fake_keys_fetched(), fake_keys_issued());
}

/* A routing header that disagrees with the envelope (a downgrade of the
 * level) is tampered, found before the KME is asked; a damaged envelope
 * too; neither stops the sync. */
static void test_downgrade_and_damage(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_client_view *v;

	(void)state;
	alice_sends(&bob, 1, "strong");
	redeliver(&bob, 0, "X-QKD-Security-Level", "2");
	fake_mail_drop(bob.addr, "INBOX", 0); /* only the forged copy */
	deliver_plain(&bob, "after");
	sync_ok(&bob, &st);
	assert_int_equal(st.tampered, 1);
	assert_int_equal(st.plain, 1);
	assert_int_equal(eu_kme(&bob)->calls[FK_DEC], 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_TAMPERED), 1);
	v = read_in(&bob, QM_VERIFY_TAMPERED);
	assert_has(v->status_text, "downgrade");
	assert_string_equal(v->text, "");
	qm_client_view_free(&v);
	/* nothing of a tampered message in the list; the plain one has its
	 * text's first words */
	assert_string_equal(snippet_in(&bob, QM_VERIFY_TAMPERED), "");
	assert_string_equal(snippet_in(&bob, QM_VERIFY_NOT_QMAIL),
	                    "plain text");
}

/* POP3: fetched once (the UIDL is remembered), and deleted from the
 * server after the fetch only when the account says so. */
static void test_pop3(void **state)
{
	struct qm_client_sync_stats st;

	(void)state;
	alice_sends(&carol, 2, "over pop3");
	sync_ok(&carol, &st);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(fake_mail_calls[FM_POP3_RETR], 1);
	sync_ok(&carol, &st);
	assert_int_equal(st.fetched, 0);
	assert_int_equal(fake_mail_calls[FM_POP3_RETR], 1);
	assert_int_equal(fake_mail_count(carol.addr, "INBOX"), 1);

	eu_setting(&carol, "pop3_delete", "1");
	alice_sends(&carol, 3, "and gone");
	sync_ok(&carol, &st);
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(fake_mail_count(carol.addr, "INBOX"), 1);
	assert_int_equal(eu_count(&carol, QM_VERIFY_OK), 2);
}

/* A message larger than limit.message_size is refused without fetching
 * it (it stays on the server) and the sync ends there; raising the limit
 * fetches it again once. */
/* A plain message of 100 KiB to folder of bob's server. */
static void deliver_big(const char *folder, const char *mid)
{
	size_t n = 100 * 1024, hl;
	char *big = malloc(n + 200);

	assert_non_null(big);
	snprintf(big, 200,
	         "From: dave@example.org\r\nTo: bob@qmail.test\r\n"
	         "Subject: big\r\nMessage-ID: <%s@example.org>\r\n\r\n",
	         mid);
	hl = strlen(big);
	memset(big + hl, 'a', n);
	fake_mail_deliver(bob.addr, folder, big, hl + n);
	free(big);
}

static void test_size_limit(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	(void)state;
	qm_error_clear(&e);
	assert_ok(qm_client_limit_set(bob.c, QM_LIMIT_MESSAGE_SIZE, "64K", &e));
	deliver_big("INBOX", "big");
	deliver_plain(&bob, "small");
	sync_ok(&bob, &st);
	assert_int_equal(st.errors, 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REFUSED), 1);
	assert_int_equal(st.plain, 0);

	sync_ok(&bob, &st);
	assert_int_equal(st.plain, 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REFUSED), 1);

	assert_ok(qm_client_limit_set(bob.c, QM_LIMIT_MESSAGE_SIZE, "1M", &e));
	sync_ok(&bob, &st);
	assert_int_equal(st.plain, 1);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REFUSED), 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_NOT_QMAIL), 2);
}

/* Raising the limit fetches what was refused in every folder synced, not
 * only in the first one (INBOX). */
static void test_size_limit_folders(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_error e;

	(void)state;
	qm_error_clear(&e);
	assert_ok(qm_client_limit_set(bob.c, QM_LIMIT_MESSAGE_SIZE, "64K", &e));
	deliver_big("INBOX", "big-in");
	deliver_big("Archive", "big-ar");
	sync_ok(&bob, &st);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REFUSED), 2);

	assert_ok(qm_client_limit_set(bob.c, QM_LIMIT_MESSAGE_SIZE, "1M", &e));
	sync_ok(&bob, &st);
	assert_int_equal(eu_count(&bob, QM_VERIFY_REFUSED), 0);
	assert_int_equal(eu_count(&bob, QM_VERIFY_NOT_QMAIL), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_plain_and_qmail, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_sender_names, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_sender_binding, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_kme_down_waits, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_account_cannot_use_kme, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_poison_message, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_keys_gone, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_transient_and_down, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_replay, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_duplicates, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_downgrade_and_damage, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_pop3, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_cut_keeps_filed, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_export, setup, eng_teardown),
	    cmocka_unit_test_setup_teardown(test_size_limit, setup,
	                                    eng_teardown),
	    cmocka_unit_test_setup_teardown(test_size_limit_folders, setup,
	                                    eng_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
