/* SPDX-License-Identifier: MIT */
/*
 * bench_chat (`make bench-chat`, issue 20 "Performance"): chat latency
 * through the real servers. Starts the test world (tests/lib/world.c:
 * OpenSMTPD behind Dovecot's submission, Dovecot IMAP, three qkme KMEs
 * joined by simulated BB84 links, QMail homes for alice and bob), then at
 * each level a ping-pong of N chat messages (QM_BENCH_CHAT_N, default 200:
 * alice sends message 0, bob 1, alice 2, ...). Each side is a thread with
 * its own engine, as two people with their own QMail: it sends with
 * qm_client_chat_send, then waits for the answer as `qmail chat open`
 * does (the engine's watch, qm_client_watch_*: IMAP IDLE on INBOX; on
 * news qm_client_sync_all, which fetches, opens, files the chat message
 * into its conversation and moves it to Chats; then the conversation is
 * read with qm_client_chat_messages). A message's latency is
 * send-to-display: from the call to qm_client_chat_send on one side until
 * the other side's qm_client_chat_messages returns it with its text. The
 * receiver is in IDLE before the send starts (it waits from the moment it
 * sent its own message).
 *
 * Baseline, same run, same servers: bench/chat_baseline.py, the same
 * ping-pong of plain messages, each sent with one `curl` process through
 * the same submission port and read by the other side's Python imaplib
 * session in IDLE (FETCH of the new message's text).
 *
 * Levels run 2, 3, 4, then 1 (the links distil level-1 key meanwhile; a
 * level-1 message costs about 5 KiB of key, mostly its QMail-Identity
 * header: docs/CHAT.md). Before each level the conversation is set to it
 * on both sides (qm_client_chat_level_set, not timed). One exchange at
 * level 3 before any timing makes the conversation and the Chats folder
 * on both sides (a first message's one-off costs).
 *
 * Environment: QM_BENCH_CHAT_N (messages per level, default 200),
 * QM_BENCH_CHAT_LEVELS ("2341": which levels, in that order),
 * QM_BENCH_CHAT_L1_WAIT_S (300: how long level 1 may wait for key from
 * the start), QM_BENCH_CHAT_TRACE=1 (one line per message: where its time
 * went). Goal (issue 20): p50 under 1 s and p99 under 3 s at every level,
 * each within 1.3x of the baseline's. A failed send, sync or a message
 * that does not arrive in 120 s is counted by kind (errors, error_kinds)
 * and makes goal_met false; a message that does not arrive stops its
 * level. The last line of output is one JSON object (bench/README.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fails.h"
#include "harness.h"
#include "world.h"

#define ARRIVE_MS     120000L /* a message not shown by then stops its level */
#define WAIT_SLICE_MS 5000L

static struct world W;
static char tmp[700];
static struct bench_fails F;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static long ops;

static void fail_add(const char *kind)
{
	pthread_mutex_lock(&fail_lock);
	bench_fail_add(&F, kind);
	pthread_mutex_unlock(&fail_lock);
}

static void die(const char *what, const struct qm_error *e)
{
	fprintf(stderr, "bench_chat: %s%s%s\n", what, e ? ": " : "",
	        e ? qm_error_msg(e) : "");
	world_stop(&W);
	exit(1);
}

static long env_long(const char *name, long def, long min, long max)
{
	const char *s = getenv(name);
	long long v;

	if (!s || qm_parse_ll(s, min, max, &v, NULL))
		return def;
	return (long)v;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* One message of a ping-pong: when each step ended (mono ns). */
struct sample {
	uint64_t t0;     /* qm_client_chat_send called */
	uint64_t sent;   /* it returned (submitted over SMTP) */
	uint64_t news;   /* the receiver's watch said news (last time) */
	uint64_t synced; /* the receiver's sync that filed it returned */
	uint64_t shown;  /* the conversation showed it */
	int64_t outbox_id;
	int syncs; /* syncs the receiver ran for it */
	int ok;
};

/* One level's ping-pong. */
struct run {
	int level;
	size_t n;
	struct sample *s;
	int stop; /* a side gave up: the other stops too */
	pthread_mutex_t lock;
};

struct side {
	struct run *r;
	int u, peer;
	struct qm_client_watch *w;
	int64_t chat_id;
	size_t nseen; /* messages of the conversation seen */
};

static struct side sides[2];

static int stopped(struct run *r)
{
	int s;

	pthread_mutex_lock(&r->lock);
	s = r->stop;
	pthread_mutex_unlock(&r->lock);
	return s;
}

static void stop_all(struct run *r)
{
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_mutex_unlock(&r->lock);
}

static void text_of(char *out, size_t cap, int level, size_t k)
{
	snprintf(out, cap, "ping %zu at level %d from %s", k, level,
	         qmt_mail_user((int)(k % 2)));
}

static void fail_e(const char *what, int level, const struct qm_error *e)
{
	char k[QM_ERR_MSGMAX + 80];

	snprintf(k, sizeof(k), "level %d: %s: %s", level, what,
	         qm_error_msg(e));
	fail_add(k);
}

/* QM_BENCH_CHAT_MARKS=1: a write of what to /dev/null, to find the steps
 * in `strace -f -tt` output (diagnosis). */
static void mark(const char *what)
{
	static int fd = -2;

	if (fd == -2)
		fd = getenv("QM_BENCH_CHAT_MARKS") ? open("/dev/null", O_WRONLY)
		                                   : -1;
	if (fd >= 0 && write(fd, what, strlen(what)) < 0)
		fd = -1;
}

static void send_one(struct side *sd, size_t k)
{
	struct run *r = sd->r;
	struct sample *s = &r->s[k];
	const char *to[] = {qmt_mail_addr(sd->peer)};
	struct qm_client_chat_out m;
	struct qm_client_chat_sent out;
	char text[128];
	struct qm_error e;

	text_of(text, sizeof(text), r->level, k);
	memset(&m, 0, sizeof(m));
	m.account_id = W.acct[sd->u];
	m.to = to;
	m.nto = 1;
	m.text = text;
	m.level = r->level;
	qm_error_clear(&e);
	mark("send start");
	s->t0 = qm_mono_ns();
	if (qm_client_chat_send(W.c[sd->u], &m, &out, &e) != QM_OK) {
		fail_e("qm_client_chat_send", r->level, &e);
		if (!out.outbox_id)
			stop_all(r); /* nothing queued: nothing will come */
	} else if (!out.sent || out.level != r->level) {
		fail_add("qm_client_chat_send did not send at once at the "
		         "level asked");
	}
	s->sent = qm_mono_ns();
	mark("send end");
	s->outbox_id = out.outbox_id;
	if (!sd->chat_id)
		sd->chat_id = out.chat_id;
}

/* Looks for message k in the side's conversation: 1 when shown. */
static int look(struct side *sd, size_t k)
{
	struct qm_client_chat_item *v = NULL;
	size_t n = 0;
	char text[128];
	struct qm_error e;
	int found = 0;

	qm_error_clear(&e);
	if (!sd->chat_id) {
		struct qm_store_chat conv;
		const char *to[] = {qmt_mail_addr(sd->peer)};

		if (qm_client_chat_find(W.c[sd->u], W.acct[sd->u], to, 1, &conv,
		                        &e))
			return 0;
		sd->chat_id = conv.id;
	}
	if (qm_client_chat_messages(W.c[sd->u], sd->chat_id, &v, &n, &e)) {
		fail_e("qm_client_chat_messages", sd->r->level, &e);
		return 0;
	}
	text_of(text, sizeof(text), sd->r->level, k);
	for (size_t i = n; i-- > sd->nseen;)
		if (!v[i].mine && !strcmp(v[i].text, text)) {
			found = 1;
			break;
		}
	if (found)
		sd->nseen = n;
	qm_client_chat_items_free(&v, n);
	return found;
}

/* QM_BENCH_CHAT_STEPS=1 (diagnosis): the steps of qm_client_sync_all
 * one by one, each timed, instead of the call itself. */
static void steps(struct side *sd)
{
	struct qm_client_sync_stats st;
	struct qm_error e;
	size_t a = 0, b = 0;
	uint64_t t0 = qm_mono_ns(), t1, t2, t3;

	qm_error_clear(&e);
	if (qm_client_outbox_run(W.c[sd->u], W.acct[sd->u], &a, &b, &e))
		fail_e("outbox", sd->r->level, &e);
	t1 = qm_mono_ns();
	memset(&st, 0, sizeof(st));
	if (qm_client_sync(W.c[sd->u], W.acct[sd->u], NULL, NULL, &st, &e))
		fail_e("qm_client_sync", sd->r->level, &e);
	t2 = qm_mono_ns();
	if (qm_client_chat_file(W.c[sd->u], W.acct[sd->u], &a, &e))
		fail_e("qm_client_chat_file", sd->r->level, &e);
	t3 = qm_mono_ns();
	printf("  steps %s: outbox %.1f, sync %.1f (fetched %zu), chat_file "
	       "%.1f ms\n",
	       qmt_mail_user(sd->u), ms(t1 - t0), ms(t2 - t1), st.fetched,
	       ms(t3 - t2));
}

/* Waits for message k as `qmail chat open` does: IDLE, sync on news. */
static void receive_one(struct side *sd, size_t k)
{
	struct run *r = sd->r;
	struct sample *s = &r->s[k];
	uint64_t start = qm_mono_ns();
	struct qm_error e;

	for (;;) {
		int news = 0;
		enum qm_err rc = QM_OK;

		if (stopped(r))
			return;
		if ((qm_mono_ns() - start) / 1000000 > (uint64_t)ARRIVE_MS) {
			char kind[128];

			snprintf(kind, sizeof(kind),
			         "level %d: a message was not shown within %ld "
			         "s (the level stopped there)",
			         r->level, ARRIVE_MS / 1000);
			fail_add(kind);
			stop_all(r);
			return;
		}
		qm_error_clear(&e);
		if (!sd->w)
			rc = qm_client_watch_open(W.c[sd->u], W.acct[sd->u], -1,
			                          &sd->w, &e);
		if (!rc)
			rc = qm_client_watch_wait(sd->w, WAIT_SLICE_MS, &news,
			                          NULL, &e);
		if (rc) {
			fail_e("the IMAP IDLE watch", r->level, &e);
			qm_client_watch_free(&sd->w);
			/* and sync, as chat open does after a pause */
			news = 1;
			usleep(200 * 1000);
		}
		if (!news)
			continue;
		s->news = qm_mono_ns();
		mark("news");
		{
			struct qm_client_sync_all out;

			qm_error_clear(&e);
			s->syncs++;
			if (getenv("QM_BENCH_CHAT_STEPS"))
				steps(sd);
			else if (qm_client_sync_all(W.c[sd->u], W.acct[sd->u],
			                            NULL, NULL, NULL, &out, &e))
				fail_e("qm_client_sync_all", r->level, &e);
			else if (out.first_error[0]) {
				char kind[QM_ERR_MSGMAX + 40];

				snprintf(kind, sizeof(kind),
				         "level %d: sync: %s", r->level,
				         out.first_error);
				fail_add(kind);
			}
		}
		s->synced = qm_mono_ns();
		mark("synced");
		if (look(sd, k)) {
			s->shown = qm_mono_ns();
			s->ok = 1;
			return;
		}
	}
}

static void *side_main(void *arg)
{
	struct side *sd = arg;
	struct run *r = sd->r;

	for (size_t k = 0; k < r->n && !stopped(r); k++) {
		if ((int)(k % 2) == sd->u)
			send_one(sd, k);
		else
			receive_one(sd, k);
	}
	return NULL;
}

/* Sets both sides' conversation to level (it exists after the warm-up). */
static void level_set(int level)
{
	for (int u = 0; u < 2; u++) {
		struct qm_store_chat conv;
		const char *to[] = {qmt_mail_addr(1 - u)};
		struct qm_error e;

		qm_error_clear(&e);
		if (qm_client_chat_find(W.c[u], W.acct[u], to, 1, &conv, &e) ||
		    qm_client_chat_level_set(W.c[u], conv.id, level, &e))
			die("setting the conversation's level", &e);
		sides[u].chat_id = conv.id;
	}
}

/* Runs a ping-pong of n messages at level in two threads. */
static void pingpong(struct run *r, int level, size_t n)
{
	pthread_t th[2];

	memset(r, 0, sizeof(*r));
	r->level = level;
	r->n = n;
	r->s = calloc(n, sizeof(*r->s));
	if (!r->s)
		die("out of memory", NULL);
	pthread_mutex_init(&r->lock, NULL);
	for (int u = 0; u < 2; u++) {
		sides[u].r = r;
		sides[u].u = u;
		sides[u].peer = 1 - u;
		if (pthread_create(&th[u], NULL, side_main, &sides[u]))
			die("pthread_create", NULL);
	}
	for (int u = 0; u < 2; u++)
		pthread_join(th[u], NULL);
	pthread_mutex_destroy(&r->lock);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p (0..100) of n sorted values. */
static double pct(const double *v, size_t n, double p)
{
	size_t i;

	if (!n)
		return -1;
	i = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	return v[i > n ? n - 1 : i - 1];
}

struct stats {
	size_t n, ok;
	double p50, p99, max, mean;
	/* medians of the steps (ms): send call, send end to news, sync,
	 * conversation read */
	double send50, deliver50, sync50, read50;
	double syncs; /* syncs per message */
	double wall_s;
};

static double median_of(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return pct(v, n, 50);
}

static void stats_of(const struct run *r, struct stats *st, double wall_s)
{
	double *lat = calloc(r->n + 1, sizeof(double));
	double *a = calloc(r->n + 1, sizeof(double));
	double *b = calloc(r->n + 1, sizeof(double));
	double *c = calloc(r->n + 1, sizeof(double));
	double *d = calloc(r->n + 1, sizeof(double));
	size_t k = 0;
	long syncs = 0;

	if (!lat || !a || !b || !c || !d)
		die("out of memory", NULL);
	memset(st, 0, sizeof(*st));
	st->n = r->n;
	st->wall_s = wall_s;
	for (size_t i = 0; i < r->n; i++) {
		const struct sample *s = &r->s[i];

		if (!s->ok)
			continue;
		lat[k] = ms(s->shown - s->t0);
		a[k] = ms(s->sent - s->t0);
		b[k] = s->news > s->sent ? ms(s->news - s->sent) : 0;
		c[k] = ms(s->synced - s->news);
		d[k] = ms(s->shown - s->synced);
		st->mean += lat[k];
		syncs += s->syncs;
		k++;
	}
	st->ok = k;
	if (k) {
		qsort(lat, k, sizeof(*lat), cmp_d);
		st->p50 = pct(lat, k, 50);
		st->p99 = pct(lat, k, 99);
		st->max = lat[k - 1];
		st->mean /= (double)k;
		st->send50 = median_of(a, k);
		st->deliver50 = median_of(b, k);
		st->sync50 = median_of(c, k);
		st->read50 = median_of(d, k);
		st->syncs = (double)syncs / (double)k;
	}
	free(lat);
	free(a);
	free(b);
	free(c);
	free(d);
}

static void trace(const struct run *r)
{
	if (!getenv("QM_BENCH_CHAT_TRACE"))
		return;
	for (size_t i = 0; i < r->n; i++) {
		const struct sample *s = &r->s[i];

		if (!s->ok)
			continue;
		printf("  L%d #%zu %s: %.1f ms = send %.1f + to news %.1f + "
		       "sync %.1f + read %.1f (%d syncs)\n",
		       r->level, i, i % 2 ? "bob->alice" : "alice->bob",
		       ms(s->shown - s->t0), ms(s->sent - s->t0),
		       s->news > s->sent ? ms(s->news - s->sent) : 0.0,
		       ms(s->synced - s->news), ms(s->shown - s->synced),
		       s->syncs);
	}
}

/* QKD key (bytes) the run's messages reserved, per message. */
static double key_per_msg(const struct run *r)
{
	uint64_t bytes = 0;
	size_t n = 0;

	for (int u = 0; u < 2; u++) {
		struct qm_client_kme k;
		struct qm_error e;
		uint64_t ks;

		qm_error_clear(&e);
		if (qm_client_kme_status(W.c[u], W.acct[u], W.sae[1 - u], &k,
		                         &e) ||
		    !k.reachable)
			return -1;
		ks = r->level == 1
		         ? (k.max_key_size ? k.max_key_size : k.key_size) / 8
		         : k.key_size / 8;
		for (size_t i = (size_t)u; i < r->n; i += 2) {
			struct qm_store_outbox ob;

			if (!r->s[i].outbox_id)
				continue;
			memset(&ob, 0, sizeof(ob));
			if (qm_store_outbox_get(qm_client_store(W.c[u]),
			                        r->s[i].outbox_id, &ob, &e))
				continue;
			bytes += ob.n_keys * ks;
			n++;
			qm_store_outbox_item_free(&ob);
		}
	}
	return n ? (double)bytes / (double)n : -1;
}

/* Median ms of one Get status from user u's engine to its KME (a new
 * mutual-TLS connection each, as every key request of the engine): what
 * a level-1/2 message's two key requests (enc_keys, dec_keys) pay at
 * least. */
static double kme_status_ms(int u)
{
	double v[15];
	size_t k = 0;

	for (size_t i = 0; i < 15; i++) {
		struct qm_client_kme st;
		struct qm_error e;
		uint64_t t0 = qm_mono_ns();

		qm_error_clear(&e);
		if (qm_client_kme_status(W.c[u], W.acct[u], W.sae[1 - u], &st,
		                         &e) ||
		    !st.reachable) {
			fail_e("KME status", 0, &e);
			continue;
		}
		v[k++] = ms(qm_mono_ns() - t0);
	}
	ops += 15;
	return k ? median_of(v, k) : -1;
}

/* ------------------------------------------------------------- baseline */

static void baseline(size_t n, struct stats *st, double *lat_store)
{
	char script[800], out[800], smtp[16], imap[16], nn[24];
	char line[512];
	size_t k = 0;
	uint64_t t0;
	FILE *f;

	snprintf(script, sizeof(script), "%s/bench/chat_baseline.py",
	         qmt_source_dir());
	snprintf(out, sizeof(out), "%s/baseline.out", tmp);
	snprintf(smtp, sizeof(smtp), "%d", W.mail.submission_port);
	snprintf(imap, sizeof(imap), "%d", W.mail.imaps_port);
	snprintf(nn, sizeof(nn), "%zu", n);
	{
		char *argv[] = {"python3",
		                script,
		                "127.0.0.1",
		                W.mail.ca_file,
		                smtp,
		                imap,
		                nn,
		                tmp,
		                (char *)(uintptr_t)qmt_mail_addr(W_ALICE),
		                (char *)(uintptr_t)qmt_mail_password(W_ALICE),
		                (char *)(uintptr_t)qmt_mail_addr(W_BOB),
		                (char *)(uintptr_t)qmt_mail_password(W_BOB),
		                NULL};

		t0 = qm_mono_ns();
		if (qmt_run(argv, out) != 0) {
			qmt_show_log(out);
			die("the baseline (bench/chat_baseline.py) did not run",
			    NULL);
		}
	}
	memset(st, 0, sizeof(*st));
	st->n = n;
	st->wall_s = (double)(qm_mono_ns() - t0) / 1e9;
	f = fopen(out, "r");
	if (!f)
		die("the baseline wrote nothing", NULL);
	while (fgets(line, sizeof(line), f)) {
		size_t i;
		double v;

		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "lat %zu %lf", &i, &v) == 2 && k < n) {
			lat_store[k++] = v;
		} else if (!strncmp(line, "fail ", 5)) {
			char kind[600];

			snprintf(kind, sizeof(kind), "baseline: %s", line + 5);
			fail_add(kind);
		}
	}
	fclose(f);
	ops += (long)n;
	st->ok = k;
	if (k) {
		for (size_t i = 0; i < k; i++)
			st->mean += lat_store[i];
		st->mean /= (double)k;
		qsort(lat_store, k, sizeof(double), cmp_d);
		st->p50 = pct(lat_store, k, 50);
		st->p99 = pct(lat_store, k, 99);
		st->max = lat_store[k - 1];
	}
	if (k < n) {
		char kind[128];

		snprintf(kind, sizeof(kind),
		         "baseline: %zu of %zu messages were not received",
		         n - k, n);
		fail_add(kind);
	}
}

/* ---------------------------------------------------------------- level 1 */

/* Level 1 waits until both pools hold need bytes, until deadline; 0 or
 * -1 with why. */
static int wait_l1(uint64_t need, uint64_t deadline, char *why, size_t cap)
{
	for (int u = 0; u < 2; u++) {
		uint64_t now = qm_mono_ns();
		long left =
		    now < deadline ? (long)((deadline - now) / 1000000) : 0;

		if (world_wait_pool(&W, u, 1 - u, need, (int)left)) {
			snprintf(
			    why, cap,
			    "the pool %s->%s did not hold the %llu bytes "
			    "of QKD key the run needs within the %ld s "
			    "budget (QM_BENCH_CHAT_L1_WAIT_S)",
			    qmt_mail_user(u), qmt_mail_user(1 - u),
			    (unsigned long long)need,
			    env_long("QM_BENCH_CHAT_L1_WAIT_S", 300, 0, 3600));
			return -1;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ main */

struct level_res {
	int done;
	char skipped[400];
	struct stats st;
	double key_bytes;
};

int main(void)
{
	static struct level_res L[5];
	static struct run runs[5];
	struct stats base;
	double *blat;
	long n = env_long("QM_BENCH_CHAT_N", 200, 2, 100000);
	long l1_wait = env_long("QM_BENCH_CHAT_L1_WAIT_S", 300, 0, 3600);
	const char *order = getenv("QM_BENCH_CHAT_LEVELS");
	uint64_t start = qm_mono_ns(), t0;
	int r, goal = 1, measured = 0;
	double kme_ms;

	if (!order || !*order)
		order = "2341";
	if (qm_core_init(NULL) != QM_OK)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = world_start(&W, "bench-chat", NULL);
	if (r == 1) {
		printf(
		    "{\"bench\":\"chat\",\"skipped\":\"the mail servers cannot "
		    "run on this machine (needs root, OpenSMTPD, Dovecot)\"}"
		    "\n");
		world_stop(&W);
		return 0;
	}
	if (r)
		die("the test world did not start", NULL);
	snprintf(tmp, sizeof(tmp), "%s/bench", W.mail.dir);
	if (mkdir(tmp, 0700))
		die("mkdir", NULL);
	printf("bench_chat: ping-pong of %ld chat messages alice <-> bob per "
	       "level (levels %s), real OpenSMTPD + Dovecot + qkme, "
	       "send-to-display latency\n",
	       n, order);

	/* the plain baseline first: its messages are in both INBOXes before
	 * QMail's first sync, which takes them in (not timed) */
	blat = calloc((size_t)n + 1, sizeof(double));
	if (!blat)
		die("out of memory", NULL);
	printf("baseline: curl + Python imaplib IDLE, %ld messages...\n", n);
	baseline((size_t)n, &base, blat);
	printf("  p50 %.0f ms, p99 %.0f ms, max %.0f ms, %zu of %zu, %.0f s\n",
	       base.p50, base.p99, base.max, base.ok, base.n, base.wall_s);

	/* warm-up, not timed: both conversations and Chats folders made */
	{
		struct run w;

		printf("warm-up: one exchange at level 3 (not timed)...\n");
		pingpong(&w, 3, 2);
		if (!w.s[0].ok || !w.s[1].ok)
			die("the warm-up exchange did not go through", NULL);
		free(w.s);
	}

	for (const char *p = order; *p; p++) {
		int lv = *p - '0';
		struct level_res *lr;

		if (lv < 1 || lv > 4 || L[lv].done || L[lv].skipped[0])
			continue;
		lr = &L[lv];
		if (lv == 1) {
			/* about 5 KiB a message, n/2 from each side */
			uint64_t need = (uint64_t)(n / 2 + 1) * 6 * 1024;

			if (wait_l1(need,
			            start + (uint64_t)l1_wait * 1000000000ull,
			            lr->skipped, sizeof(lr->skipped))) {
				printf("level 1: skipped: %s\n", lr->skipped);
				continue;
			}
		}
		level_set(lv);
		printf("level %d: %ld messages...\n", lv, n);
		t0 = qm_mono_ns();
		pingpong(&runs[lv], lv, (size_t)n);
		stats_of(&runs[lv], &lr->st, (double)(qm_mono_ns() - t0) / 1e9);
		ops += (long)n;
		trace(&runs[lv]);
		lr->key_bytes = lv <= 2 ? key_per_msg(&runs[lv]) : 0;
		lr->done = 1;
		printf("  p50 %.0f ms, p99 %.0f ms, max %.0f ms, %zu of %zu, "
		       "%.0f s; medians: send %.0f + to news %.0f + sync %.0f "
		       "+ read %.0f ms, %.2f syncs a message\n",
		       lr->st.p50, lr->st.p99, lr->st.max, lr->st.ok, lr->st.n,
		       lr->st.wall_s, lr->st.send50, lr->st.deliver50,
		       lr->st.sync50, lr->st.read50, lr->st.syncs);
	}
	for (int u = 0; u < 2; u++)
		qm_client_watch_free(&sides[u].w);
	kme_ms = kme_status_ms(W_ALICE);
	printf("a Get status from the engine to its KME (new mutual-TLS "
	       "connection): %.1f ms (median of 15)\n",
	       kme_ms);

	/* the table */
	printf("\n%-22s %9s %9s %9s %7s %8s %10s\n", "", "p50 ms", "p99 ms",
	       "max ms", "ratio", "shown", "key B/msg");
	printf("%-22s %9.0f %9.0f %9.0f %7s %4zu/%-3zu %10s\n",
	       "plain curl + imaplib", base.p50, base.p99, base.max, "1.00",
	       base.ok, base.n, "-");
	for (int lv = 1; lv <= 4; lv++) {
		char name[32];
		const struct stats *st = &L[lv].st;
		int ok;

		snprintf(name, sizeof(name), "QMail level %d", lv);
		if (!L[lv].done) {
			printf("%-22s skipped: %s\n", name,
			       L[lv].skipped[0] ? L[lv].skipped : "not asked");
			if (L[lv].skipped[0])
				goal = 0;
			continue;
		}
		measured++;
		printf("%-22s %9.0f %9.0f %9.0f %6.2fx %4zu/%-3zu %10.0f\n",
		       name, st->p50, st->p99, st->max,
		       base.p50 > 0 ? st->p50 / base.p50 : -1.0, st->ok, st->n,
		       L[lv].key_bytes);
		ok = st->ok == st->n && st->p50 < 1000 && st->p99 < 3000 &&
		     base.p50 > 0 && st->p50 <= 1.3 * base.p50 &&
		     base.p99 > 0 && st->p99 <= 1.3 * base.p99;
		goal = goal && ok;
	}
	bench_fails_lines(&F);
	printf("goal: p50 < 1000 ms, p99 < 3000 ms, each within 1.3x of the "
	       "baseline's; whole run %.0f s\n",
	       (double)(qm_mono_ns() - start) / 1e9);

	/* the JSON line */
	printf("{\"bench\":\"chat\",\"n\":%ld,\"levels\":\"%s\"", n, order);
	printf(",\"baseline_p50_ms\":%.1f,\"baseline_p99_ms\":%.1f,"
	       "\"baseline_max_ms\":%.1f,\"baseline_mean_ms\":%.1f,"
	       "\"baseline_shown\":%zu,\"baseline_seconds\":%.1f",
	       base.p50, base.p99, base.max, base.mean, base.ok, base.wall_s);
	for (int lv = 1; lv <= 4; lv++) {
		const struct stats *st = &L[lv].st;

		if (!L[lv].done) {
			if (L[lv].skipped[0])
				printf(",\"skipped_l%d\":\"%s\"", lv,
				       L[lv].skipped);
			continue;
		}
		printf(",\"l%d_p50_ms\":%.1f,\"l%d_p99_ms\":%.1f,"
		       "\"l%d_max_ms\":%.1f,\"l%d_mean_ms\":%.1f,"
		       "\"l%d_shown\":%zu,\"l%d_seconds\":%.1f,"
		       "\"l%d_p50_ratio\":%.3f,\"l%d_p99_ratio\":%.3f,"
		       "\"l%d_send_p50_ms\":%.1f,\"l%d_to_news_p50_ms\":%.1f,"
		       "\"l%d_sync_p50_ms\":%.1f,\"l%d_read_p50_ms\":%.1f,"
		       "\"l%d_syncs_per_msg\":%.2f",
		       lv, st->p50, lv, st->p99, lv, st->max, lv, st->mean, lv,
		       st->ok, lv, st->wall_s, lv,
		       base.p50 > 0 ? st->p50 / base.p50 : -1.0, lv,
		       base.p99 > 0 ? st->p99 / base.p99 : -1.0, lv, st->send50,
		       lv, st->deliver50, lv, st->sync50, lv, st->read50, lv,
		       st->syncs);
		if (lv <= 2)
			printf(",\"l%d_key_bytes_per_msg\":%.0f", lv,
			       L[lv].key_bytes);
	}
	printf(",\"kme_status_ms\":%.1f", kme_ms);
	printf(",\"seconds\":%.1f,", (double)(qm_mono_ns() - start) / 1e9);
	bench_fails_json(&F, "operations", ops);
	printf(",\"goal_p50_ms\":1000,\"goal_p99_ms\":3000,"
	       "\"goal_baseline_ratio\":1.3,\"goal_met\":%s}\n",
	       goal && measured && F.total == 0 ? "true" : "false");
	for (int lv = 1; lv <= 4; lv++)
		free(runs[lv].s);
	free(blat);
	world_stop(&W);
	return 0;
}
