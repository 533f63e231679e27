/* SPDX-License-Identifier: MIT */
/*
 * Large messages end to end (issue 18): alice sends a 20 MiB attachment at
 * levels 2, 3 and 4 through the real SMTP server, bob syncs over IMAP and
 * reads exactly those bytes. On alice's side the outbox keeps the message
 * and its ciphertext as sealed blobs (no payload column in the row), the
 * ciphertext is what reached bob's mailbox, and the sending process's
 * memory grows by less than 64 MiB (the message is built, encrypted,
 * uploaded and copied to Sent a chunk at a time). Bob's reader view
 * (qm_client_read_listed) lists the attachment with its size and no
 * content, and its bytes streamed (qm_client_att_open) are the ones sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "qmtest.h"
#include "world.h"

#define MiB      (1024u * 1024u)
#define BIG      (20u * MiB)
#define ATT_NAME "big-figures.bin"

static struct world W;

static int group_setup(void **state)
{
	(void)state;
	return world_setup(&W, "e2ebig", NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	world_stop(&W);
	return 0;
}

/* A field of /proc/self/status in kB, or -1. */
static long status_kb(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, name, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* Resets VmHWM to the present RSS; 0 or -1 (an old kernel). */
static int clear_hwm(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return -1;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

/* Entry id's ciphertext from alice's outbox, read a chunk at a time. */
static unsigned char *outbox_ct(int64_t id, size_t *len)
{
	struct qm_store_outbox_r *r = NULL;
	struct qm_error e;
	unsigned char *p;
	size_t have = 0, got = 0;

	assert_ok(
	    qm_store_outbox_open(qm_client_store(W.c[W_ALICE]), id, 1, &r, &e));
	*len = (size_t)qm_store_outbox_r_size(r);
	p = malloc(*len + 1);
	assert_non_null(p);
	do {
		assert_ok(
		    qm_store_outbox_r_read(r, p + have, 100000, &got, &e));
		have += got;
	} while (got);
	assert_int_equal(have, *len);
	qm_store_outbox_r_close(&r);
	return p;
}

/* Removes every CR of p; the new length. */
static size_t strip_cr(unsigned char *p, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (p[i] != '\r')
			p[k++] = p[i];
	return k;
}

/* qm_client_read_listed of bob's message id, then its attachment through
 * qm_client_att_open, compared with data. */
static void listed_read(int64_t id, const char *subject,
                        const unsigned char *data)
{
	struct qm_client_att_reader *ar = NULL;
	struct qm_client_view *v = NULL;
	struct qm_error e;
	unsigned char *buf = malloc(BIG + 1);
	size_t have = 0, got = 0;
	long base, hwm;

	assert_non_null(buf);
	qm_error_clear(&e);
	/* what earlier steps freed goes back to the system, so that the
	 * high-water mark counts what the read allocates */
	malloc_trim(0);
	base = status_kb("VmRSS");
	hwm = clear_hwm() == 0 ? 0 : -1;
	assert_ok(qm_client_read_listed(W.c[W_BOB], id, &v, &e));
	if (hwm == 0)
		hwm = status_kb("VmHWM");
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_string_equal(v->subject, subject);
	assert_string_equal(v->text, "20 MiB attached\n");
	assert_int_equal(v->natt, 1);
	assert_string_equal(v->att[0].name, ATT_NAME);
	assert_string_equal(v->att[0].type, "application/octet-stream");
	assert_string_equal(v->att[0].ext, "bin");
	assert_int_equal(v->att[0].len, BIG);
	assert_null(v->att[0].data);
	qm_client_view_free(&v);
	if (hwm > 0 && !getenv("QM_SANITIZED")) {
		double up = (double)(hwm - base) / 1024.0;

		fprintf(stderr,
		        "e2e_big: the listed read took %.1f MiB above the "
		        "process before it\n",
		        up);
		/* a whole read holds the attachment twice (40 MiB and
		 * more): the listed one no copy of it */
		assert_true(up < 24.0);
	}
	/* sized (the GUI's download) and unsized (qmail read --save: no
	 * first pass): the same bytes */
	for (int sized = 1; sized >= 0; sized--) {
		have = 0;
		memset(buf, 0, BIG + 1);
		assert_ok(sized ? qm_client_att_open(W.c[W_BOB], id, 0, &ar, &e)
		                : qm_client_att_open_unsized(W.c[W_BOB], id, 0,
		                                             &ar, &e));
		assert_int_equal(qm_client_att_info(ar)->len,
		                 sized ? BIG : 0);
		assert_string_equal(qm_client_att_info(ar)->name, ATT_NAME);
		do {
			assert_ok(qm_client_att_read(
			    ar, buf + have,
			    have + 100000 <= BIG + 1 ? 100000
			                             : BIG + 1 - have,
			    &got, &e));
			have += got;
		} while (got && have <= BIG);
		qm_client_att_close(&ar);
		assert_int_equal(have, BIG);
		assert_memory_equal(buf, data, BIG);
	}
	free(buf);
}

static void round_trip(int level)
{
	struct qm_error e;
	struct qm_client_compose m;
	struct qm_client_attachment att;
	struct qm_client_sent sent;
	struct qm_client_sync_stats st;
	struct qm_client_view *v = NULL;
	const char *to[] = {qmt_mail_addr(W_BOB)};
	unsigned char *data, *ct, *file;
	char files[64][512], subject[64];
	size_t ctlen = 0, flen = 0;
	long base, hwm;
	int have, sent_have;
	int64_t id;

	if (W.skipped)
		skip();
	data = qmt_bytes(BIG, 40u + (unsigned)level);
	snprintf(subject, sizeof(subject), "big at level %d", level);
	have = qmt_mail_files(&W.mail, W_BOB, NULL, files, 64);
	sent_have = qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[W_ALICE];
	m.to = to;
	m.nto = 1;
	m.subject = subject;
	m.text = "20 MiB attached\n";
	att.name = ATT_NAME;
	att.type = "application/octet-stream";
	att.data = data;
	att.len = BIG;
	m.att = &att;
	m.natt = 1;
	m.level = level;
	qm_error_clear(&e);
	base = status_kb("VmRSS");
	hwm = clear_hwm() == 0 ? 0 : -1;
	assert_ok(qm_client_send(W.c[W_ALICE], &m, NULL, NULL, &sent, &e));
	if (hwm == 0)
		hwm = status_kb("VmHWM");
	assert_int_equal(sent.n_sent, 1);
	assert_int_equal(sent.level, level);
	id = sent.outbox_ids[0];
	/* (not under the sanitizers: ASan keeps freed memory in its
	 * quarantine, up to 256 MiB) */
	if (hwm > 0 && !getenv("QM_SANITIZED")) {
		double up = (double)(hwm - base) / 1024.0;

		fprintf(stderr,
		        "e2e_big: level %d: the send took %.1f MiB "
		        "above the process before it\n",
		        level, up);
		/* measured 20-36 MiB; whole copies of the message, its
		 * envelope and wire form (and those of the Sent copy) took
		 * 150 MiB and more before they were streamed */
		assert_true(up < 64.0);
	}

	/* alice's outbox: the entry went with its whole ciphertext */
	{
		struct qm_store_outbox o;

		assert_ok(qm_store_outbox_get(qm_client_store(W.c[W_ALICE]), id,
		                              &o, &e));
		assert_int_equal(o.state, QM_OUTBOX_SENT);
		assert_true(o.has_ciphertext);
		assert_true(o.ciphertext_len > BIG * 4 / 3);
		qm_store_outbox_item_free(&o);
	}
	ct = outbox_ct(id, &ctlen);
	/* its copy went to alice's Sent folder, sealed into the APPEND as it
	 * went (its length known before): none waits */
	{
		int64_t *w = NULL;
		size_t nw = 1;

		assert_ok(qm_client_sent_copies(W.c[W_ALICE], 0, &w, &nw, &e));
		assert_int_equal(nw, 0);
		free(w);
		assert_int_equal(
		    qmt_mail_files(&W.mail, W_ALICE, "Sent", NULL, 0),
		    sent_have + 1);
	}
	/* alice's sync files that copy (large: read from its blob) as hers,
	 * and nothing else */
	assert_ok(
	    qm_client_sync(W.c[W_ALICE], W.acct[W_ALICE], NULL, NULL, &st, &e));
	assert_int_equal(st.own, 1);
	assert_int_equal(st.decrypted + st.tampered + st.replayed + st.errors,
	                 0);

	/* what reached bob's mailbox is that ciphertext (after the
	 * headers the servers add in front; the mailbox may keep bare LF) */
	assert_true(qmt_mail_wait_files(&W.mail, W_BOB, NULL, have + 1, 60000) >
	            have);
	{
		int n = qmt_mail_files(&W.mail, W_BOB, NULL, files, 64);

		file = qmt_mail_read(files[n - 1], &flen);
		assert_non_null(file);
		flen = strip_cr(file, flen);
		ctlen = strip_cr(ct, ctlen);
		assert_true(flen >= ctlen);
		assert_memory_equal(file + flen - ctlen, ct, ctlen);
		free(file);
	}
	free(ct);

	/* bob reads the very bytes */
	assert_ok(
	    qm_client_sync(W.c[W_BOB], W.acct[W_BOB], NULL, NULL, &st, &e));
	assert_true(st.decrypted >= 1);
	assert_int_equal(st.tampered, 0);
	id = world_newest(&W, W_BOB, "INBOX");
	assert_true(id > 0);
	/* first the reader's view: the attachment listed, not decoded (the
	 * memory measured before a whole read has made its heap large) */
	listed_read(id, subject, data);
	assert_ok(qm_client_read(W.c[W_BOB], id, &v, &e));
	assert_int_equal(v->verify, QM_VERIFY_OK);
	assert_int_equal(v->level, level);
	assert_string_equal(v->subject, subject);
	assert_int_equal(v->natt, 1);
	assert_string_equal(v->att[0].name, ATT_NAME);
	assert_int_equal(v->att[0].len, BIG);
	assert_memory_equal(v->att[0].data, data, BIG);
	qm_client_view_free(&v);
	free(data);
}

static void test_level2(void **state)
{
	(void)state;
	round_trip(2);
}

static void test_level3(void **state)
{
	(void)state;
	round_trip(3);
}

static void test_level4(void **state)
{
	(void)state;
	round_trip(4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_level2),
	    cmocka_unit_test(test_level3),
	    cmocka_unit_test(test_level4),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
