/* SPDX-License-Identifier: MIT */
/*
 * Conversation threading and list orders (src/client/thread.c, issue 14):
 * reply chains as real mail clients and mailing lists write them (a
 * missing parent, In-Reply-To only, References only, a forward, a subject
 * changed mid-thread, the subject as the only link, unrelated messages
 * with one subject) each give an exact tree; hostile headers (loops, a
 * message that is its own parent, duplicate and missing Message-IDs, a
 * References header of thousands of IDs, random garbage, a chain of
 * 10,000 messages) give a well-formed forest in which every message
 * appears once. Each tree is written as "a(b(c),d)", a dummy as "*",
 * threads newest first separated by " | ".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "core/core.h"

/* A message of a fixture: its label names it in the expected trees. */
struct fx {
	const char *label;
	const char *mid;
	const char *irt;
	const char *refs;
	const char *subject;
	int64_t date;
};

/* Appends src to dst (size bytes), cut when full. */
static void cat(char *dst, const char *src, size_t size)
{
	size_t n = strlen(dst);

	if (n + 1 < size)
		qm_strlcpy(dst + n, src, size - n);
}

static struct qm_client_msg_head *heads(const struct fx *f, size_t n)
{
	struct qm_client_msg_head *h = calloc(n ? n : 1, sizeof(*h));
	size_t i;

	assert_non_null(h);
	for (i = 0; i < n; i++) {
		h[i].id = 1000 + (int64_t)i;
		h[i].message_id = f[i].mid;
		h[i].in_reply_to = f[i].irt;
		h[i].references = f[i].refs;
		h[i].subject = f[i].subject;
		h[i].date = f[i].date;
	}
	return h;
}

/* Checks what every result must be, whatever the input: each message
 * once, links that agree with each other, depths, children oldest first,
 * dummies only as roots with two children or more, counts and the newest
 * date of each thread, threads newest first. */
static void check_forest(const struct qm_client_threads *t,
                         const struct qm_client_msg_head *in, size_t n)
{
	unsigned char *seen = calloc(n ? n : 1, 1);
	size_t i, j, at = 0, total = 0;

	assert_non_null(seen);
	assert_int_equal(t->nmsgs, n);
	for (i = 0; i < t->nthreads; i++) {
		const struct qm_client_thread *th = &t->threads[i];
		size_t count = 0, unread = 0;
		int64_t newest = INT64_MIN;

		assert_int_equal(th->root, at);
		assert_true(th->nnodes >= 1);
		if (i > 0)
			assert_true(t->threads[i - 1].newest >= th->newest);
		for (j = th->root; j < th->root + th->nnodes; j++) {
			const struct qm_client_thread_node *nd = &t->nodes[j];
			size_t c, k = 0;
			int64_t last = INT64_MIN;

			if (j == th->root) {
				assert_int_equal(nd->parent, QM_THREAD_NONE);
				assert_int_equal(nd->depth, 0);
			} else {
				assert_true(nd->parent >= th->root &&
				            nd->parent < j);
				assert_int_equal(
				    nd->depth, t->nodes[nd->parent].depth + 1);
			}
			if (nd->msg == QM_THREAD_NONE) {
				assert_int_equal(nd->parent, QM_THREAD_NONE);
				assert_true(nd->nchild >= 2);
				assert_int_equal(nd->id, 0);
			} else {
				assert_true(nd->msg < n);
				assert_false(seen[nd->msg]);
				seen[nd->msg] = 1;
				assert_int_equal(nd->id, in[nd->msg].id);
				count++;
				unread += in[nd->msg].unread != 0;
				if (in[nd->msg].date > newest)
					newest = in[nd->msg].date;
			}
			for (c = nd->child; c != QM_THREAD_NONE;
			     c = t->nodes[c].next) {
				assert_true(c > j && c < th->root + th->nnodes);
				assert_int_equal(t->nodes[c].parent, j);
				assert_true(t->nodes[c].msg != QM_THREAD_NONE);
				assert_true(in[t->nodes[c].msg].date >= last);
				last = in[t->nodes[c].msg].date;
				k++;
			}
			assert_int_equal(k, nd->nchild);
		}
		assert_int_equal(th->count, count);
		assert_int_equal(th->unread, unread);
		assert_true(th->newest == newest);
		assert_true(th->newest_msg < n);
		assert_true(in[th->newest_msg].date == newest);
		at += th->nnodes;
		total += count;
	}
	assert_int_equal(at, t->nnodes);
	assert_int_equal(total, n);
	free(seen);
}

static void render_node(const struct qm_client_threads *t, const struct fx *f,
                        size_t i, char *out, size_t cap)
{
	const struct qm_client_thread_node *nd = &t->nodes[i];
	size_t c;

	cat(out, nd->msg == QM_THREAD_NONE ? "*" : f[nd->msg].label, cap);
	if (nd->child == QM_THREAD_NONE)
		return;
	cat(out, "(", cap);
	for (c = nd->child; c != QM_THREAD_NONE; c = t->nodes[c].next) {
		if (c != nd->child)
			cat(out, ",", cap);
		render_node(t, f, c, out, cap);
	}
	cat(out, ")", cap);
}

/* Threads f (n messages) and returns the forest as text (static). */
static const char *thread_text(const struct fx *f, size_t n)
{
	static char out[4096];
	struct qm_client_msg_head *h = heads(f, n);
	struct qm_client_threads *t = NULL;
	struct qm_error e;
	size_t i;

	assert_int_equal(qm_client_thread_build(h, n, &t, &e), QM_OK);
	check_forest(t, h, n);
	out[0] = '\0';
	for (i = 0; i < t->nthreads; i++) {
		if (i)
			cat(out, " | ", sizeof(out));
		render_node(t, f, t->threads[i].root, out, sizeof(out));
	}
	qm_client_threads_free(&t);
	assert_null(t);
	free(h);
	return out;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The same fixture given backwards threads the same (no duplicate IDs). */
static void assert_order_free(const struct fx *f, size_t n)
{
	struct fx *r = calloc(n, sizeof(*r));
	char fwd[4096];
	size_t i;

	assert_non_null(r);
	qm_strlcpy(fwd, thread_text(f, n), sizeof(fwd));
	for (i = 0; i < n; i++)
		r[i] = f[n - 1 - i];
	assert_string_equal(thread_text(r, n), fwd);
	free(r);
}

/* A mailing-list thread whose first message is not in the folder (the
 * user subscribed later): its replies gather under a dummy; a reply whose
 * own parent is missing too goes to the nearest message above it. */
static void test_missing_parent(void **state)
{
	static const struct fx f[] = {
	    {"b", "<b1@mail.gmail.com>", "<start@list.example>",
	     "<start@list.example>", "Re: [dev] build fails on arm64", 100},
	    {"c", "<c1@example.net>", "<start@list.example>",
	     "<start@list.example>", "Re: [dev] build fails on arm64", 110},
	    {"d", "<d1@example.org>", "<b1@mail.gmail.com>",
	     "<start@list.example> <b1@mail.gmail.com>",
	     "Re: [dev] build fails on arm64", 120},
	    {"e", "<e1@example.org>", NULL,
	     "<start@list.example>\r\n <c1@example.net>\r\n <gone@example.org>",
	     "Re: [dev] build fails on arm64", 130},
	    /* one reply to a missing message: a root of its own */
	    {"x", "<x1@example.com>", "<away@example.com>", NULL,
	     "Re: holiday plans", 50},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "*(b(d),c(e)) | x");
	assert_order_free(f, N(f));
}

/* A refs B and B refs A: the loop is cut at the older message, which
 * becomes the root; a loop among missing messages is cut at the link
 * seen last, and a three-message loop holds together. */
static void test_loop(void **state)
{
	static const struct fx two[] = {
	    {"a", "<a@x>", NULL, "<b@x>", "ping", 100},
	    {"b", "<b@x>", NULL, "<a@x>", "Re: ping", 200},
	};
	static const struct fx dummies[] = {
	    {"m", "<m@x>", NULL, "<p@x> <q@x>", "Re: loop", 100},
	    {"n", "<n@x>", NULL, "<q@x> <p@x>", "Re: loop", 200},
	};
	static const struct fx three[] = {
	    {"a", "<a@x>", NULL, "<c@x>", "one", 300},
	    {"b", "<b@x>", "<a@x>", NULL, "two", 100},
	    {"c", "<c@x>", NULL, "<b@x>", "three", 200},
	};

	(void)state;
	assert_string_equal(thread_text(two, N(two)), "a(b)");
	assert_string_equal(thread_text(dummies, N(dummies)), "*(m,n)");
	/* b is the oldest: a(c) is cut at b's link, b -> c -> a */
	assert_string_equal(thread_text(three, N(three)), "b(c(a))");
}

/* A reply that changes the subject stays in its thread (References link
 * it); a new message with that subject is a thread of its own. */
static void test_changed_subject(void **state)
{
	static const struct fx f[] = {
	    {"a", "<lunch@a.example>", NULL, NULL, "lunch?", 100},
	    {"b", "<b@b.example>", "<lunch@a.example>", "<lunch@a.example>",
	     "Re: lunch?", 110},
	    {"c", "<c@a.example>", "<b@b.example>",
	     "<lunch@a.example> <b@b.example>", "Pizza or sushi? (was: lunch?)",
	     120},
	    {"d", "<d@b.example>", "<c@a.example>",
	     "<lunch@a.example> <b@b.example> <c@a.example>",
	     "Re: Pizza or sushi? (was: lunch?)", 130},
	    {"p", "<p@c.example>", NULL, NULL, "Pizza or sushi? (was: lunch?)",
	     90},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "a(b(c(d))) | p");
}

/* Clients that write In-Reply-To only, with the forms found in the wild:
 * a comment after the ID, the old "Your message of" phrase, a quoted name
 * with an address in it, folding inside the brackets. */
static void test_in_reply_to_only(void **state)
{
	static const struct fx f[] = {
	    {"a", "<root@host.example>", NULL, NULL, "report", 100},
	    {"b", "<b@host.example>",
	     "<root@host.example> (Alice's message of Mon, 1 Jan 2024)", NULL,
	     "Re: report", 110},
	    {"c", "<c@host.example>",
	     "Your message of \"Mon, 1 Jan\"\r\n\t<b@host.example>", NULL,
	     "Re: report", 120},
	    {"d", "<d@host.example>",
	     "\"Bob <bob@host.example>\" <c@host.example>", NULL, "Re: report",
	     130},
	    {"e", "<e@host.example>", "<\r\n root@host.example\r\n >", NULL,
	     "Re: report", 140},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "a(b(c(d)),e)");
	assert_order_free(f, N(f));
}

/* References only, with a comment and folding; when References and
 * In-Reply-To disagree, References decides, and In-Reply-To is added
 * after it when it names a message References lacks. */
static void test_references_only(void **state)
{
	static const struct fx f[] = {
	    {"a", "<a@x.example>", NULL, NULL, "plan", 100},
	    {"b", "<b@x.example>", NULL, "<a@x.example>", "Re: plan", 110},
	    {"c", "<c@x.example>", NULL,
	     "<a@x.example> (the plan)\r\n\t<b@x.example>", "Re: plan", 120},
	    {"d", "<d@x.example>", "<a@x.example>",
	     "<a@x.example> <b@x.example> <c@x.example>", "Re: plan", 130},
	    {"e", "<e@x.example>", "<c@x.example>", "<a@x.example>", "Re: plan",
	     140},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "a(b(c(d,e)))");
	assert_order_free(f, N(f));
}

/* A forward without References goes under the message it forwards by its
 * subject; one with References (as Thunderbird writes them) by them; a
 * forward of a message not in the list stays alone. */
static void test_forward(void **state)
{
	static const struct fx f[] = {
	    {"a", "<q3@corp.example>", NULL, NULL, "Q3 numbers", 100},
	    {"b", "<b@corp.example>", NULL, NULL, "Fwd: Q3 numbers", 200},
	    {"c", "<c@corp.example>", NULL, "<q3@corp.example>",
	     "Fw: Q3 numbers", 150},
	    {"d", "<d@corp.example>", NULL, NULL, "WG: Q3 numbers (fwd)", 300},
	    {"x", "<x@corp.example>", NULL, NULL, "Fwd: travel policy", 250},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "a(c,b,d) | x");
}

/* Two different messages with one Message-ID: both are kept; the first
 * given holds the ID (replies go under it), the second is placed by its
 * own headers; the same message listed twice (two folders) gives two
 * siblings. */
static void test_duplicate_ids(void **state)
{
	static const struct fx f[] = {
	    {"a", "<same@x>", NULL, NULL, "original", 100},
	    {"b", "<same@x>", NULL, "<other@x>", "Re: something else", 300},
	    {"o", "<other@x>", NULL, NULL, "something else", 50},
	    {"r", "<r@x>", "<same@x>", "<same@x>", "Re: original", 200},
	    {"s1", "<s@x>", NULL, "<other@x>", "Re: something else", 60},
	    {"s2", "<s@x>", NULL, "<other@x>", "Re: something else", 60},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "o(s1,s2,b) | a(r)");
}

/* A message naming itself as its parent (In-Reply-To, References, or as
 * one of its ancestors) is placed as if it had not: a root, or under the
 * ID before its own (subjects that link nothing: the IDs alone decide). */
static void test_own_parent(void **state)
{
	static const struct fx f[] = {
	    {"a", "<a@x>", "<a@x>", "<a@x>", "me", 100},
	    {"p", "<p@x>", NULL, NULL, "parent", 110},
	    {"b", "<b@x>", "<b@x>", "<p@x> <b@x>", "first answer", 120},
	    {"c", "<c@x>", NULL, "<c@x> <p@x> <c@x>", "second answer", 130},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "p(b,c) | a");
}

/* Replies from clients that write neither header are gathered by their
 * subject under the original: any case, any prefix, list tags, white
 * space; a reply with no original around joins the other orphan replies
 * of its subject under a dummy. */
static void test_subject_only(void **state)
{
	static const struct fx f[] = {
	    {"a", "<a@x>", NULL, NULL, "Meeting on Friday", 100},
	    {"b", "<b@x>", NULL, NULL, "Re: Meeting on Friday", 110},
	    {"c", "<c@x>", NULL, NULL, "RE:  meeting on\r\n friday ", 120},
	    {"d", "<d@x>", NULL, NULL, "AW: Re[2]: [team] Meeting on Friday",
	     130},
	    {"e", "<e@x>", NULL, NULL, "SV: Re: Meeting on Friday", 140},
	    {"f", "<f@x>", NULL, "<f-parent@elsewhere>", "Re: budget", 90},
	    {"g", "<g@x>", NULL, NULL, "Re: budget", 95},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "a(b,c,d,e) | *(f,g)");
	assert_order_free(f, N(f));
}

/* Two messages that merely share a common subject are not merged (only a
 * reply by its subject joins an original); a reply goes to the newest
 * original not younger than itself; a message linked by References is
 * never moved by its subject. */
static void test_same_subject_unrelated(void **state)
{
	static const struct fx f[] = {
	    {"h1", "<h1@alice>", NULL, NULL, "hello", 100},
	    {"h2", "<h2@bob>", NULL, NULL, "Hello", 1000},
	    {"r1", "<r1@carol>", NULL, NULL, "Re: hello", 500},
	    {"r2", "<r2@dave>", NULL, NULL, "Re: hello", 2000},
	    {"r0", "<r0@erin>", NULL, NULL, "Re: hello", 10},
	    {"x", "<x@frank>", NULL, "<h1@alice>", "Re: hello", 3000},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "h1(r0,r1,x) | h2(r2)");
}

/* A message that names another as its child cannot move it: a root stays
 * a root and a reply stays under its own parent. */
static void test_no_hijack(void **state)
{
	static const struct fx f[] = {
	    {"v", "<invoice@supplier>", NULL, NULL, "Invoice 2024-118", 100},
	    {"w", "<w@supplier>", NULL, "<invoice@supplier>",
	     "Re: Invoice 2024-118", 110},
	    {"evil", "<evil@attacker>", NULL, NULL, "New bank details", 50},
	    {"e2", "<e2@attacker>", NULL,
	     "<evil@attacker> <invoice@supplier> <e2@attacker>",
	     "New bank details", 60},
	    {"e3", "<e3@attacker>", NULL, "<evil@attacker> <w@supplier> <zz>",
	     "New bank details", 70},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "v(e2,w(e3)) | evil");
}

/* Messages without a usable Message-ID are threaded all the same. */
static void test_missing_ids(void **state)
{
	static const struct fx f[] = {
	    {"a", NULL, NULL, NULL, "status", 100},
	    {"b", "", NULL, NULL, "status", 110},
	    {"c", "<>", NULL, NULL, "other", 120},
	    {"d", "not an id", "<>", "< >", "Re: other", 130},
	    {"e", "bare@id.example", NULL, NULL, "third", 140},
	    {"f", "<f@x>", NULL, "<bare@id.example>", "Re: third", 150},
	};

	(void)state;
	assert_string_equal(thread_text(f, N(f)), "e(f) | c(d) | b | a");
}

/* Garbage in the ID headers: brackets that never close, nested ones,
 * unclosed comments and quotes, controls, over-long IDs. */
static void test_garbage_headers(void **state)
{
	static char longid[400];
	static char refs[600];
	struct fx f[] = {
	    {"a", "<a@x>", NULL, NULL, "base", 100},
	    {"b", "<b@x>", NULL, "<<<< <a@x", "Re: x", 110},
	    {"c", "<c@x>", NULL, "<<a@x>", "c", 120},
	    {"d", "<d@x>", "(unclosed <a@x>", NULL, "d", 130},
	    {"e", "<e@x>", "\"unclosed <a@x>", NULL, "e", 140},
	    {"f", "<f@x>", NULL, "<a\x01@x> <a@x> <\x7f>", "f", 150},
	    {"g", "<g@x>", NULL, refs, "g", 160},
	    {"h", longid, NULL, NULL, "h", 170},
	    {"i", "<i@x>", "(a (nested \\) comment) <c@x>) <a@x>", NULL, "i",
	     180},
	};

	(void)state;
	memset(longid, 'z', sizeof(longid) - 1);
	longid[0] = '<';
	longid[sizeof(longid) - 2] = '>';
	snprintf(refs, sizeof(refs), "%s <a@x>", longid);
	assert_string_equal(thread_text(f, N(f)), "a(c,f,g,i) | h | e | d | b");
}

/* A References header of 5,000 IDs (and 1 MB of it): only its last
 * QM_THREAD_REFMAX IDs are read, and the message goes under the last. */
static void test_huge_references(void **state)
{
	struct qm_client_msg_head h[3];
	struct qm_client_threads *t = NULL;
	struct qm_error e;
	struct qm_buf big;
	size_t i;

	(void)state;
	qm_buf_init(&big, 8u << 20);
	for (i = 0; i < 5000; i++)
		assert_int_equal(
		    qm_buf_appendf(&big, NULL, "<id%zu@spam.example>\r\n ", i),
		    QM_OK);
	assert_int_equal(qm_buf_append_str(&big, "<p@x>", NULL), QM_OK);
	memset(h, 0, sizeof(h));
	h[0].message_id = "<p@x>";
	h[0].subject = "parent";
	h[0].date = 1;
	h[1].message_id = "<c@x>";
	h[1].references = (const char *)big.data;
	h[1].subject = "child";
	h[1].date = 2;
	/* 1 MB of brackets that never close */
	h[2].message_id = "<z@x>";
	h[2].in_reply_to = (const char *)big.data;
	h[2].date = 3;
	{
		char *junk = malloc(1u << 20);

		assert_non_null(junk);
		memset(junk, '<', (1u << 20) - 1);
		junk[(1u << 20) - 1] = '\0';
		h[2].references = junk;
		assert_int_equal(qm_client_thread_build(h, 3, &t, &e), QM_OK);
		free(junk);
	}
	check_forest(t, h, 3);
	/* c under p; z under the first ID of its In-Reply-To: missing */
	assert_int_equal(t->nthreads, 2);
	assert_int_equal(t->nodes[t->threads[0].root].msg, 2);
	assert_int_equal(t->nodes[t->threads[1].root].msg, 0);
	assert_int_equal(t->nodes[t->threads[1].root + 1].msg, 1);
	assert_int_equal(t->nodes[t->threads[1].root + 1].depth, 1);
	qm_client_threads_free(&t);
	qm_buf_free(&big);
}

/* 10,000 messages each answering the one before (In-Reply-To and a
 * References with the root and the parent), given newest first; and
 * 10,000 answers to one message. */
static void test_deep_and_wide(void **state)
{
	enum { M = 10000 };
	struct qm_client_msg_head *h = calloc(M, sizeof(*h));
	char(*mid)[32] = calloc(M, sizeof(*mid));
	char(*ref)[80] = calloc(M, sizeof(*ref));
	struct qm_client_threads *t = NULL;
	struct qm_error e;
	size_t i, j;

	(void)state;
	assert_true(h && mid && ref);
	for (i = 0; i < M; i++) {
		j = M - 1 - i; /* message i is the j-th of the chain */
		snprintf(mid[i], sizeof(mid[i]), "<m%zu@x>", j);
		if (j)
			snprintf(ref[i], sizeof(ref[i]), "<m0@x> <m%zu@x>",
			         j - 1);
		h[i].id = (int64_t)i;
		h[i].message_id = mid[i];
		h[i].references = j ? ref[i] : NULL;
		h[i].in_reply_to = j ? strrchr(ref[i], '<') : NULL;
		h[i].subject = j ? "Re: long" : "long";
		h[i].date = (int64_t)j;
		h[i].unread = (int)(j % 2);
	}
	assert_int_equal(qm_client_thread_build(h, M, &t, &e), QM_OK);
	check_forest(t, h, M);
	assert_int_equal(t->nthreads, 1);
	assert_int_equal(t->threads[0].count, M);
	assert_int_equal(t->threads[0].unread, M / 2);
	for (i = 0; i < M; i++) {
		assert_int_equal(t->nodes[i].depth, i);
		assert_int_equal(t->nodes[i].msg, M - 1 - i);
	}
	assert_int_equal(t->threads[0].newest_msg, 0);
	qm_client_threads_free(&t);

	for (i = 1; i < M; i++) {
		h[i].references = mid[0];
		h[i].in_reply_to = NULL;
	}
	h[0].references = NULL;
	h[0].in_reply_to = NULL;
	assert_int_equal(qm_client_thread_build(h, M, &t, &e), QM_OK);
	check_forest(t, h, M);
	assert_int_equal(t->nthreads, 1);
	assert_int_equal(t->nodes[0].msg, 0);
	assert_int_equal(t->nodes[0].nchild, M - 1);
	qm_client_threads_free(&t);
	free(ref);
	free(mid);
	free(h);
}

/* A small fixed generator: the same headers on every run. */
static uint32_t rnd(uint32_t *x)
{
	*x = *x * 1103515245u + 12345u;
	return (*x >> 16) & 0x7fff;
}

/* Random headers over a small pool of IDs (loops everywhere, duplicates,
 * self references, garbage): always a well-formed forest. */
static void test_random_headers(void **state)
{
	enum { M = 3000, POOL = 400 };
	static const char *const junk[] = {"",  "<",     ">",  "(",  ")", "\"",
	                                   " ", "\r\n ", "<>", "\\", "x"};
	struct qm_client_msg_head *h = calloc(M, sizeof(*h));
	char(*mid)[40] = calloc(M, sizeof(*mid));
	char(*irt)[40] = calloc(M, sizeof(*irt));
	char(*ref)[400] = calloc(M, sizeof(*ref));
	static const char *const subj[] = {"a", "Re: a", "b",     "Fwd: b",
	                                   "",  "Re: c", "[l] c", "re:re:a"};
	struct qm_client_threads *t = NULL;
	struct qm_error e;
	uint32_t x = 12345;
	size_t i, k, round;

	(void)state;
	assert_true(h && mid && irt && ref);
	for (round = 0; round < 5; round++) {
		for (i = 0; i < M; i++) {
			snprintf(mid[i], sizeof(mid[i]), "<%u@p>",
			         (unsigned)(rnd(&x) % POOL));
			snprintf(irt[i], sizeof(irt[i]), "%s<%u@p>%s",
			         junk[rnd(&x) % N(junk)],
			         (unsigned)(rnd(&x) % POOL),
			         junk[rnd(&x) % N(junk)]);
			ref[i][0] = '\0';
			for (k = rnd(&x) % 12; k > 0; k--) {
				char one[40];

				snprintf(one, sizeof(one), "%s<%u@p>",
				         junk[rnd(&x) % N(junk)],
				         (unsigned)(rnd(&x) % POOL));
				cat(ref[i], one, sizeof(ref[i]));
			}
			h[i].id = (int64_t)i;
			h[i].message_id = rnd(&x) % 10 ? mid[i] : NULL;
			h[i].in_reply_to = rnd(&x) % 2 ? irt[i] : NULL;
			h[i].references = rnd(&x) % 3 ? ref[i] : NULL;
			h[i].subject = subj[rnd(&x) % N(subj)];
			h[i].date = (int64_t)(rnd(&x) % 50);
			h[i].unread = (int)(rnd(&x) % 2);
		}
		assert_int_equal(qm_client_thread_build(h, M, &t, &e), QM_OK);
		check_forest(t, h, M);
		qm_client_threads_free(&t);
	}
	free(ref);
	free(irt);
	free(mid);
	free(h);
}

/* The base subject and whether it is a reply or forward. */
static void test_subject_base(void **state)
{
	static const struct {
		const char *in, *base;
		int reply;
	} v[] = {
	    {"hello", "hello", 0},
	    {"Re: hello", "hello", 1},
	    {"RE:RE: re : hello  ", "hello", 1},
	    {"Fwd: Re: [list] Re: [list] hello (fwd)", "hello", 1},
	    {"AW: SV: VS: WG: Antw: Odp: TR: RV: Fw: hello", "hello", 1},
	    {"Re[3]: Re(2): hello", "hello", 1},
	    {"[list] hello", "hello", 0},
	    {"[list]", "[list]", 0},
	    {"Re:", "", 1},
	    {"Reply: hello", "Reply: hello", 0},
	    {"Regarding: hello", "Regarding: hello", 0},
	    {"Re hello", "Re hello", 0},
	    {"Re[x]: hello", "Re[x]: hello", 0},
	    {"[unclosed hello", "[unclosed hello", 0},
	    {"", "", 0},
	};
	size_t i, len;
	const char *b;
	int reply;

	(void)state;
	for (i = 0; i < N(v); i++) {
		b = qm_client_subject_base(v[i].in, &len, &reply);
		assert_int_equal(len, strlen(v[i].base));
		assert_memory_equal(b, v[i].base, len);
		assert_int_equal(reply, v[i].reply);
	}
	b = qm_client_subject_base(NULL, &len, NULL);
	assert_int_equal(len, 0);
	assert_non_null(b);
}

static const struct qm_client_msg_head sort_in[] = {
    {1, NULL, NULL, NULL, "Re: banana", "\"Zoe Q\" <zoe@x>", 300, 10, 0},
    {2, NULL, NULL, NULL, "apple", "adam@x", 100, 30, 1},
    {3, NULL, NULL, NULL, "Cherry", "Bob <bob@x>", 200, 20, 0},
    {4, NULL, NULL, NULL, "Fwd: apple", "<carl@x>", 400, 20, 1},
};

static void sorted(const struct qm_client_sort *how, const char *want)
{
	size_t order[N(sort_in)], i;
	char got[32] = "";
	struct qm_error e;

	assert_int_equal(
	    qm_client_msgs_sort(sort_in, N(sort_in), how, order, &e), QM_OK);
	for (i = 0; i < N(sort_in); i++) {
		char one[4];

		snprintf(one, sizeof(one), "%lld",
		         (long long)sort_in[order[i]].id);
		cat(got, one, sizeof(got));
	}
	assert_string_equal(got, want);
}

/* The list orders; ties go newest first. */
static void test_sort_list(void **state)
{
	struct qm_client_sort how = {QM_SORT_DATE, 0, 0};

	(void)state;
	sorted(&how, "2314");
	how.descending = 1;
	sorted(&how, "4132");
	how.unread_first = 1;
	sorted(&how, "4213");
	how = (struct qm_client_sort){QM_SORT_SUBJECT, 0, 0};
	sorted(&how, "4213"); /* apple (400, 100), banana, Cherry */
	how.descending = 1;
	sorted(&how, "3142");
	how = (struct qm_client_sort){QM_SORT_FROM, 0, 0};
	sorted(&how, "2341"); /* adam, Bob, carl, Zoe Q */
	how = (struct qm_client_sort){QM_SORT_SIZE, 1, 0};
	sorted(&how, "2431");
	how.unread_first = 1;
	sorted(&how, "2431");
	how = (struct qm_client_sort){QM_SORT_SIZE, 0, 1};
	sorted(&how, "4213");
}

/* Threads come newest first and can be sorted like the list. */
static void test_sort_threads(void **state)
{
	static const struct fx f[] = {
	    {"a", "<a@x>", NULL, NULL, "zebra", 100},
	    {"b", "<b@x>", NULL, "<a@x>", "Re: zebra", 900},
	    {"c", "<c@x>", NULL, NULL, "apple", 500},
	    {"d", "<d@x>", NULL, NULL, "mango", 700},
	};
	struct qm_client_msg_head *h = heads(f, N(f));
	struct qm_client_threads *t = NULL;
	struct qm_client_sort how = {QM_SORT_SUBJECT, 0, 0};
	struct qm_error e;

	(void)state;
	h[2].unread = 1;
	h[1].size = 5;
	h[0].size = 7;
	assert_int_equal(qm_client_thread_build(h, N(f), &t, &e), QM_OK);
	assert_int_equal(t->nthreads, 3);
	assert_int_equal(t->nodes[t->threads[0].root].msg, 0);
	assert_int_equal(t->threads[0].newest, 900);
	assert_int_equal(t->threads[0].newest_msg, 1);
	assert_int_equal(t->threads[0].size, 12);
	assert_int_equal(t->nodes[t->threads[1].root].msg, 3);
	assert_int_equal(t->nodes[t->threads[2].root].msg, 2);
	assert_int_equal(qm_client_threads_sort(t, h, N(f), &how, &e), QM_OK);
	assert_int_equal(t->threads[0].first_msg, 2);
	assert_int_equal(t->threads[1].first_msg, 3);
	assert_int_equal(t->threads[2].first_msg, 0);
	how = (struct qm_client_sort){QM_SORT_DATE, 1, 1};
	assert_int_equal(qm_client_threads_sort(t, h, N(f), &how, &e), QM_OK);
	assert_int_equal(t->threads[0].first_msg, 2);
	assert_int_equal(t->threads[1].first_msg, 0);
	assert_int_equal(t->threads[2].first_msg, 3);
	assert_int_equal(qm_client_threads_sort(t, h, 2, &how, &e),
	                 QM_ERR_INVAL);
	qm_client_threads_free(&t);
	free(h);
}

/* Nothing to thread, too much to thread, no output. */
static void test_edges(void **state)
{
	struct qm_client_msg_head one[1];
	struct qm_client_threads *t = NULL;
	struct qm_error e;

	(void)state;
	memset(one, 0, sizeof(one));
	assert_int_equal(qm_client_thread_build(NULL, 0, &t, &e), QM_OK);
	assert_int_equal(t->nthreads, 0);
	assert_int_equal(t->nnodes, 0);
	qm_client_threads_free(&t);
	qm_client_threads_free(&t);
	assert_int_equal(qm_client_thread_build(NULL, 3, &t, &e), QM_ERR_INVAL);
	assert_int_equal(qm_client_thread_build(one, 1, NULL, &e),
	                 QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_thread_build(one, QM_THREAD_MSGMAX + 1u, &t, &e),
	    QM_ERR_TOOBIG);
	assert_non_null(strstr(e.msg, "at most"));
	assert_null(t);
	assert_int_equal(qm_client_thread_build(one, 1, &t, &e), QM_OK);
	assert_int_equal(t->nthreads, 1);
	qm_client_threads_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_missing_parent),
	    cmocka_unit_test(test_loop),
	    cmocka_unit_test(test_changed_subject),
	    cmocka_unit_test(test_in_reply_to_only),
	    cmocka_unit_test(test_references_only),
	    cmocka_unit_test(test_forward),
	    cmocka_unit_test(test_duplicate_ids),
	    cmocka_unit_test(test_own_parent),
	    cmocka_unit_test(test_subject_only),
	    cmocka_unit_test(test_same_subject_unrelated),
	    cmocka_unit_test(test_no_hijack),
	    cmocka_unit_test(test_missing_ids),
	    cmocka_unit_test(test_garbage_headers),
	    cmocka_unit_test(test_huge_references),
	    cmocka_unit_test(test_deep_and_wide),
	    cmocka_unit_test(test_random_headers),
	    cmocka_unit_test(test_subject_base),
	    cmocka_unit_test(test_sort_list),
	    cmocka_unit_test(test_sort_threads),
	    cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
