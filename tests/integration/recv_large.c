/* SPDX-License-Identifier: MIT */
/*
 * Large messages on the receive side (issue 18), in the real world
 * (world.h: OpenSMTPD, Dovecot, qkme): alice sends bob a 20 MiB attachment
 * at levels 2, 3 and 4; bob's sync decrypts each into a sealed blob of
 * the vault a chunk at a time (recv_open.c open_to_blob), never as one
 * sealed value, and the reader gives back the same bytes. A copy altered
 * on the server (one base64 character of its envelope) or cut in half is
 * refused as tampered with nothing of it filed: no body, no blob left
 * behind; one that opens but whose inner From names someone else is
 * tampered, and the blob it was decrypted into goes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <sys/stat.h>
#include <time.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "craft.h"
#include "harness.h"
#include "qmtest.h"
#include "world.h"

#define MiB     (1024u * 1024u)
#define ATT_LEN (20u * MiB)

static struct world W;
static unsigned char *g_att;

static int group_setup(void **state)
{
	uint32_t x = 88172645u;

	(void)state;
	g_att = malloc(ATT_LEN);
	if (!g_att)
		return -1;
	for (size_t i = 0; i < ATT_LEN; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		g_att[i] = (unsigned char)x;
	}
	return world_setup(&W, "recv-large", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	free(g_att);
	return 0;
}

/* The message blobs in user u's home (sealed plaintexts of large
 * messages), counted in its database. */
static int msg_blobs(int u)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	assert_int_equal(
	    sqlite3_open(qm_store_path(qm_client_store(W.c[u])), &db),
	    SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT count(*) FROM blob WHERE "
	                                    "kind = 'msg'",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/* Alice sends bob the attachment at level, with subject; waits until it is
 * in bob's inbox (want files). */
static void send_big(int level, const char *subject, int want)
{
	const char *to[] = {qmt_mail_addr(W_BOB)};
	struct qm_client_attachment att = {
	    "big.bin", "application/octet-stream", g_att, ATT_LEN, NULL};
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_error e;

	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = "a large attachment\n";
	m.att = &att;
	m.natt = 1;
	m.level = level;
	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	assert_int_equal(sent.level, level);
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_BOB, NULL, want, 300000), want);
}

static void sync_bob(struct qm_client_sync_stats *st)
{
	struct qm_error e;

	memset(st, 0, sizeof(*st));
	qm_error_clear(&e);
	assert_ok(
	    qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, st, &e));
}

/* Levels 2-4: opened into a blob, read back byte for byte. */
static void test_large_levels(void **state)
{
	int files;

	(void)state;
	if (W.skipped)
		skip();
	files = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	for (int level = 2; level <= 4; level++) {
		struct qm_client_sync_stats st;
		struct qm_client_view *v = NULL;
		struct qm_store_blob_r *r = NULL;
		struct qm_error e;
		char subject[64];
		int64_t id;

		snprintf(subject, sizeof(subject), "large at level %d", level);
		send_big(level, subject, ++files);
		sync_bob(&st);
		assert_int_equal(st.decrypted, 1);
		assert_int_equal(st.tampered + st.errors, 0);
		id = world_by_subject(&W, W_BOB, subject);
		assert_true(id > 0);
		/* kept as a blob, not as one sealed value */
		qm_error_clear(&e);
		assert_ok(qm_store_msg_body_open(qm_client_store(W.c[W_BOB]),
		                                 id, &r, &e));
		assert_non_null(r);
		assert_true(qm_store_blob_size(r) > ATT_LEN);
		qm_store_blob_close(&r);
		assert_int_equal(msg_blobs(W_BOB), level - 1);
		/* the reader gives the same bytes */
		assert_ok(qm_client_read(W.c[W_BOB], id, &v, &e));
		assert_int_equal(v->natt, 1);
		assert_int_equal(v->att[0].len, ATT_LEN);
		assert_memory_equal(v->att[0].data, g_att, ATT_LEN);
		assert_non_null(strstr(v->text, "a large attachment"));
		qm_client_view_free(&v);
	}
}

/* The newest message file in bob's inbox (new/ or cur/) into path. */
static int newest_file(char *path, size_t n)
{
	char(*paths)[512] = calloc(64, 512);
	int k = qmt_mail_files(&W.mail, W_BOB, NULL, paths, 64), best = -1;
	time_t bt = 0;

	for (int i = 0; i < k && i < 64; i++) {
		struct stat sb;

		if (stat(paths[i], &sb) == 0 && sb.st_mtime >= bt) {
			bt = sb.st_mtime;
			best = i;
		}
	}
	if (best >= 0)
		snprintf(path, n, "%s", paths[best]);
	free(paths);
	return best >= 0 ? 0 : -1;
}

/*
 * Alice sends bob a large message, which is replaced on the server by a
 * copy altered by alter (kept: the new length); bob's sync must refuse it
 * as tampered with nothing of it filed: no body, no blob left.
 */
static void refused_copy(int level, const char *subject,
                         size_t (*alter)(unsigned char *msg, size_t len))
{
	struct qm_client_sync_stats st;
	struct qm_store_blob_r *r = NULL;
	struct qm_buf body;
	struct qm_error e;
	char path[512], dst[700];
	unsigned char *msg;
	size_t len;
	int files, blobs;
	int64_t id;
	FILE *f;

	blobs = msg_blobs(W_BOB);
	files = qmt_mail_files(&W.mail, W_BOB, NULL, NULL, 0);
	send_big(level, subject, files + 1);
	/* the delivered file is replaced by an altered copy under another
	 * name (a new message for Dovecot, nothing cached of it) */
	assert_int_equal(newest_file(path, sizeof(path)), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	len = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	msg = malloc(len);
	assert_non_null(msg);
	assert_int_equal(fread(msg, 1, len, f), len);
	fclose(f);
	assert_true(len > ATT_LEN);
	len = alter(msg, len);
	assert_int_equal(unlink(path), 0);
	snprintf(dst, sizeof(dst), "%s/mail/%s/Maildir/new/%lld.altered.%s",
	         W.mail.dir, qmt_mail_user(W_BOB), (long long)time(NULL),
	         QMT_MAIL_DOMAIN);
	f = fopen(dst, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(msg, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(msg);
	sync_bob(&st);
	assert_int_equal(st.tampered, 1);
	assert_int_equal(st.decrypted, 0);
	id = world_last_id(&W, W_BOB);
	assert_true(id > 0);
	qm_error_clear(&e);
	qm_buf_init_secure(&body, 64 * MiB);
	assert_int_equal(
	    qm_store_msg_body(qm_client_store(W.c[W_BOB]), id, &body, &e),
	    QM_ERR_NOTFOUND);
	qm_buf_free(&body);
	assert_int_equal(
	    qm_store_msg_body_open(qm_client_store(W.c[W_BOB]), id, &r, &e),
	    QM_ERR_NOTFOUND);
	assert_int_equal(msg_blobs(W_BOB), blobs);
}

/* One base64 character in the middle of the envelope changed. */
static size_t flip_one(unsigned char *msg, size_t len)
{
	size_t pos;

	for (pos = len / 2; pos < len && !isalnum(msg[pos]); pos++)
		;
	assert_true(pos < len);
	msg[pos] = msg[pos] == 'A' ? 'B' : 'A';
	return len;
}

/* A character of the envelope's last line of base64 changed: its last
 * bytes, the signature at levels 3 and 4, checked after every chunk was
 * decrypted into the blob (recv_open.c, open_to_blob). */
static size_t flip_tail(unsigned char *msg, size_t len)
{
	size_t end = len, start;

	/* the last line of base64 long enough to be the envelope's */
	for (;;) {
		while (end > 0 &&
		       (msg[end - 1] == '\n' || msg[end - 1] == '\r'))
			end--;
		for (start = end; start > 0 && msg[start - 1] != '\n';)
			start--;
		if (end - start >= 16 && msg[start] != '-')
			break;
		assert_true(start > 0);
		end = start;
	}
	msg[start + 2] = msg[start + 2] == 'A' ? 'B' : 'A';
	return len;
}

/* The message cut in the middle of its envelope (the MTA or a server
 * giving up half way). */
static size_t cut_half(unsigned char *msg, size_t len)
{
	size_t at = len / 2;

	at -= at % 78; /* whole lines of base64 as far as they go */
	memcpy(msg + at, "\r\n", 2);
	return at + 2;
}

static void test_large_tampered(void **state)
{
	(void)state;
	if (W.skipped)
		skip();
	refused_copy(2, "large, altered", flip_one);
}

static void test_large_bad_signature(void **state)
{
	(void)state;
	if (W.skipped)
		skip();
	refused_copy(3, "large, level 3, its signature altered", flip_tail);
	refused_copy(4, "large, level 4, its signature altered", flip_tail);
}

static void test_large_truncated(void **state)
{
	(void)state;
	if (W.skipped)
		skip();
	refused_copy(2, "large, cut short", cut_half);
}

/*
 * A large message that opens, but whose inner From names someone else:
 * tampered once its text is read from the blob, and the blob it was
 * decrypted into is removed (nothing of it kept).
 */
static void test_large_inner_from(void **state)
{
	struct qm_client_sync_stats st;
	struct qm_identity *ida = NULL;
	struct qm_pubid *pb = NULL;
	struct craft_msg m;
	struct qm_buf wire;
	const size_t tl = 3 * MiB;
	char *text = malloc(tl + 1);
	int blobs;

	(void)state;
	if (W.skipped)
		skip();
	assert_non_null(text);
	for (size_t i = 0; i < tl; i++)
		text[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
	text[tl] = '\0';
	blobs = msg_blobs(W_BOB);
	assert_int_equal(craft_identity(&W, W_ALICE, &ida), 0);
	assert_int_equal(craft_pubid(&W, W_ALICE, qmt_mail_addr(W_BOB), &pb),
	                 0);
	memset(&m, 0, sizeof(m));
	m.level = 3;
	m.from = "Alice <alice@qmail.test>";
	m.to = qmt_mail_addr(W_BOB);
	m.sender = ida;
	m.rcpt = pb;
	m.inner_from = "Carol <carol@qmail.test>";
	m.subject = "large, the inner From is carol";
	m.text = text;
	qm_buf_init(&wire, 32 * MiB);
	assert_int_equal(craft_build(&m, &wire, NULL), 0);
	assert_int_equal(craft_deliver(&W, W_BOB, wire.data, wire.len), 0);
	qm_buf_free(&wire);
	sync_bob(&st);
	assert_int_equal(st.tampered, 1);
	assert_int_equal(st.decrypted, 0);
	assert_int_equal(msg_blobs(W_BOB), blobs);
	qm_crypto_pubid_free(&pb);
	qm_crypto_identity_free(&ida);
	free(text);
}

/* The message file of user u's inbox holding needle (its Message-ID), as
 * the servers give it (bare LF made CRLF), into *out (malloc'd). Not the
 * newest file: messages of the tests before may share its second. */
static size_t served_copy(int u, const char *needle, unsigned char **out)
{
	char(*paths)[512] = calloc(64, 512);
	int k;
	unsigned char *raw = NULL, *o;
	size_t len = 0, n = 0;

	assert_non_null(paths);
	k = qmt_mail_files(&W.mail, u, NULL, paths, 64);
	for (int i = 0; i < k && i < 64 && !raw; i++) {
		FILE *f = fopen(paths[i], "rb");

		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		len = (size_t)ftell(f);
		fseek(f, 0, SEEK_SET);
		raw = malloc(len ? len : 1);
		assert_non_null(raw);
		assert_int_equal(fread(raw, 1, len, f), len);
		fclose(f);
		if (!memmem(raw, len, needle, strlen(needle))) {
			free(raw);
			raw = NULL;
		}
	}
	free(paths);
	assert_non_null(raw);
	o = malloc(2 * len);
	assert_non_null(o);
	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
			o[n++] = '\r';
		o[n++] = raw[i];
	}
	free(raw);
	*out = o;
	return n;
}

/*
 * A large plain message (4 MiB on the wire, a line that starts with a dot
 * for POP3's dot-stuffing) received by bob over IMAP and carol over POP3:
 * written into a blob as it arrived, that blob kept as its body (never
 * read whole into memory, never one sealed value), byte for byte what
 * the server gave, its attachment and text read back.
 */
static void test_large_plain(void **state)
{
	const size_t al = 3 * MiB;
	struct qm_buf wire, body;
	char sub[64], mid[64];

	(void)state;
	if (W.skipped)
		skip();
	qm_buf_init(&wire, 16 * MiB);
	for (int u = W_BOB; u <= W_CAROL; u++) {
		struct qm_client_sync_stats st;
		struct qm_client_view *v = NULL;
		struct qm_store_blob_r *r = NULL;
		struct qm_error e;
		unsigned char *served;
		size_t slen;
		int64_t id;
		int blobs = msg_blobs(u);

		snprintf(sub, sizeof(sub), "large plain mail for %d", u);
		qm_buf_reset(&wire);
		assert_ok(qm_buf_appendf(
		    &wire, NULL,
		    "From: Dora <dora@elsewhere.test>\r\nTo: %s\r\n"
		    "Subject: %s\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
		    "Message-ID: <plain-large-%d@elsewhere.test>\r\n"
		    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
		    "boundary=\"b0\"\r\n\r\n--b0\r\nContent-Type: text/plain"
		    "\r\n\r\nplain and large\r\n.a line with a dot\r\n"
		    "--b0\r\nContent-Type: application/octet-stream; "
		    "name=\"big.bin\"\r\nContent-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; filename=\"big.bin\""
		    "\r\n\r\n",
		    qmt_mail_addr(u), sub, u));
		for (size_t off = 0; off < al; off += 57) {
			size_t k = al - off < 57 ? al - off : 57;

			assert_ok(qm_b64_encode(g_att + off, k, &wire, NULL));
			assert_ok(qm_buf_append(&wire, "\r\n", 2, NULL));
		}
		assert_ok(qm_buf_appendf(&wire, NULL, "--b0--\r\n"));
		assert_int_equal(craft_deliver(&W, u, wire.data, wire.len), 0);
		memset(&st, 0, sizeof(st));
		qm_error_clear(&e);
		assert_ok(
		    qm_client_sync(W.c[u], W.acct[u], NULL, NULL, &st, &e));
		assert_int_equal(st.plain, 1);
		id = world_by_subject(&W, u, sub);
		assert_true(id > 0);
		/* its body is the blob it arrived in */
		assert_ok(qm_store_msg_body_open(qm_client_store(W.c[u]), id,
		                                 &r, &e));
		assert_non_null(r);
		qm_store_blob_close(&r);
		assert_int_equal(msg_blobs(u), blobs + 1);
		snprintf(mid, sizeof(mid), "<plain-large-%d@elsewhere.test>",
		         u);
		slen = served_copy(u, mid, &served);
		qm_buf_init_secure(&body, 64 * MiB);
		assert_ok(
		    qm_store_msg_body(qm_client_store(W.c[u]), id, &body, &e));
		assert_int_equal(body.len, slen);
		assert_memory_equal(body.data, served, slen);
		qm_buf_free(&body);
		free(served);
		assert_ok(qm_client_read(W.c[u], id, &v, &e));
		assert_int_equal(v->natt, 1);
		assert_int_equal(v->att[0].len, al);
		assert_memory_equal(v->att[0].data, g_att, al);
		assert_non_null(strstr(v->text, "\n.a line with a dot"));
		qm_client_view_free(&v);
	}
	qm_buf_free(&wire);
}

/* A large QMail message over POP3 (carol): written into a blob as the
 * RETR body arrived, opened from it, the same bytes read back, nothing
 * of it left in the store but the message's own plaintext blob. */
static void test_large_pop3(void **state)
{
	const char *to[] = {qmt_mail_addr(W_CAROL)};
	struct qm_client_attachment att = {
	    "big.bin", "application/octet-stream", g_att, ATT_LEN, NULL};
	struct qm_client_compose m;
	struct qm_client_sent sent;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int files, blobs;
	int64_t id;

	(void)state;
	if (W.skipped)
		skip();
	files = qmt_mail_files(&W.mail, W_CAROL, NULL, NULL, 0);
	blobs = msg_blobs(W_CAROL);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = "large over POP3";
	m.text = "a large attachment\n";
	m.att = &att;
	m.natt = 1;
	m.level = 2;
	qm_error_clear(&e);
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	assert_int_equal(
	    qmt_mail_wait_files(&W.mail, W_CAROL, NULL, files + 1, 300000),
	    files + 1);
	memset(&st, 0, sizeof(st));
	assert_ok(
	    qm_client_sync(W.c[W_CAROL], W.acct[W_CAROL], NULL, NULL, &st, &e));
	assert_int_equal(st.decrypted, 1);
	assert_int_equal(st.tampered + st.errors, 0);
	/* the plaintext's blob only: the one it arrived in is gone */
	assert_int_equal(msg_blobs(W_CAROL), blobs + 1);
	id = world_by_subject(&W, W_CAROL, "large over POP3");
	assert_true(id > 0);
	assert_ok(qm_client_read(W.c[W_CAROL], id, &v, &e));
	assert_int_equal(v->natt, 1);
	assert_int_equal(v->att[0].len, ATT_LEN);
	assert_memory_equal(v->att[0].data, g_att, ATT_LEN);
	qm_client_view_free(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_large_levels),
	    cmocka_unit_test(test_large_tampered),
	    cmocka_unit_test(test_large_bad_signature),
	    cmocka_unit_test(test_large_truncated),
	    cmocka_unit_test(test_large_inner_from),
	    cmocka_unit_test(test_large_plain),
	    cmocka_unit_test(test_large_pop3),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
