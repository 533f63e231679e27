/* SPDX-License-Identifier: MIT */
/*
 * The copy of a sent message in the account's Sent folder (setting
 * save_sent). The SMTP server took the message; appending its ciphertext
 * to Sent over IMAP is a second network step that can fail on its own (the
 * IMAP server gone mid-APPEND). Such a copy is not dropped: the outbox ID
 * waits in the account setting "sent_copy.pending" and the next
 * qm_client_outbox_run saves it. Before appending, the Sent folder is
 * searched for the Message-ID, because an APPEND whose answer was lost may
 * have reached the server: retry later, nothing duplicated, nothing lost.
 * One copy per Message-ID is kept (the To/Cc copy; a Bcc copy of the same
 * message counts as that message). Runs under the outbox lock, so two
 * processes never append the same copy at once.
 */
#include "private.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_KEY "sent_copy.pending"
#define PENDING_MAX 256 /* IDs remembered per account */

struct idlist {
	int64_t v[PENDING_MAX];
	size_t n;
};

/* Reads the account's pending IDs (none when unset). */
static void pending_read(struct qm_client *c, int64_t acct, struct idlist *l)
{
	struct qm_buf b;
	char *save = NULL, *tok;

	l->n = 0;
	qm_buf_init(&b, PENDING_MAX * 24);
	if (qm_store_setting_get(c->store, acct, PENDING_KEY, &b, NULL) !=
	        QM_OK ||
	    !b.data) {
		qm_buf_free(&b);
		return;
	}
	for (tok = strtok_r((char *)b.data, ",", &save);
	     tok && l->n < PENDING_MAX; tok = strtok_r(NULL, ",", &save)) {
		long long x;

		if (qm_parse_ll(tok, 1, INT64_MAX, &x, NULL) == QM_OK)
			l->v[l->n++] = x;
	}
	qm_buf_free(&b);
}

static enum qm_err pending_write(struct qm_client *c, int64_t acct,
                                 const struct idlist *l, struct qm_error *err)
{
	char s[PENDING_MAX * 24];
	size_t off = 0;

	s[0] = '\0';
	for (size_t i = 0; i < l->n; i++) {
		int w = snprintf(s + off, sizeof(s) - off, "%s%lld",
		                 i ? "," : "", (long long)l->v[i]);

		if (w < 0 || (size_t)w >= sizeof(s) - off)
			break;
		off += (size_t)w;
	}
	return qm_store_setting_set(c->store, acct, PENDING_KEY, s, err);
}

/* Adds (add = 1) or removes id from the account's pending list. */
static enum qm_err pending_mark(struct qm_client *c, int64_t acct, int64_t id,
                                int add, struct qm_error *err)
{
	struct idlist l;
	size_t j = 0;

	pending_read(c, acct, &l);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i] != id)
			l.v[j++] = l.v[i];
	l.n = j;
	if (add) {
		if (l.n == PENDING_MAX)
			return qm_error_set(err, QM_ERR_TOOBIG,
			                    "%d copies for the Sent folder are "
			                    "waiting already: check the IMAP "
			                    "server of the account",
			                    PENDING_MAX);
		l.v[l.n++] = id;
	}
	return pending_write(c, acct, &l, err);
}

/* The header values entry o's message was written with: its sealed
 * record, or (an entry an older QMail queued) the protected message's. */
static enum qm_err
entry_headers(struct qm_client *c, const struct qm_store_outbox *o,
              struct outbox_rec *rec, struct qm_mail_content **mc,
              const struct qm_mail_hdrs **h, struct qm_error *err)
{
	struct qm_buf b;
	enum qm_err rc;

	qm_buf_init_secure(&b, 1 << 20);
	rc = qm_store_outbox_bound(c->store, o->id, &b, err);
	if (!rc)
		rc = client_outbox_rec_decode(b.data, b.len, rec, err);
	qm_buf_free(&b);
	if (!rc) {
		*h = &rec->h;
		return QM_OK;
	}
	if (rc != QM_ERR_NOTFOUND)
		return rc;
	/* no record (queued by a QMail older than schema 5): the message
	 * is read whole and parsed */
	qm_error_clear(err);
	qm_buf_init_secure(&b, QM_CLIENT_MAXMSG);
	rc = qm_store_outbox_plaintext(c->store, o->id, &b, err);
	if (!rc)
		rc = qm_mail_content_parse(b.data, b.len, NULL, mc, err);
	qm_buf_free(&b);
	if (!rc)
		*h = &(*mc)->hdrs;
	return rc;
}

/*
 * The copy of entry o sealed to the account's own key, made a piece at a
 * time from the entry's plaintext straight into the IMAP APPEND literal
 * (never stored first). An APPEND announces its length, and the length of
 * the copy is a function of the plaintext's (the envelope's size is fixed
 * by its level, its recipients and the plaintext's length; the outer MIME
 * by its headers and the envelope's length): client_self_seal_size. A
 * copy of another length fails the APPEND before its command ends
 * (nothing stored; the copy waits for the next run).
 */
struct copy_maker {
	struct qm_client *c;
	const struct acct_conn *ac;
	const struct qm_store_outbox *o;
	const struct qm_mail_hdrs *h;
	uint64_t n;             /* plaintext bytes */
	uint64_t len;           /* the copy's bytes (copy_measure) */
	struct sent_beside *bs; /* a copy made beside the SMTP upload */
};

static enum qm_err copy_measure(void *arg, uint64_t *len, struct qm_error *err)
{
	struct copy_maker *m = arg;
	enum qm_err rc;

	rc = client_self_seal_size(m->c, m->ac, m->h, QM_CLIENT_COPY_SENT,
	                           m->o->level, m->n, len, err);
	m->len = rc ? 0 : *len;
	return rc;
}

/*
 * A copy made beside the SMTP upload (client_sent_copy_beside): on its own
 * thread, handle on the home and IMAP session, while the message goes out.
 * Its APPEND holds back the literal's last byte until the upload's outcome
 * is known (gate): with it the server stores the copy, without it the
 * command never ends and the server stores nothing when the session goes.
 * So no copy of a message the SMTP server refused ever reaches Sent.
 */
enum gate { GATE_WAIT, GATE_GO, GATE_DROP };

struct sent_beside {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	enum gate gate;
	struct qm_client *c; /* the thread's own handle */
	int64_t acct;
	struct qm_store_outbox o; /* borrowed fields of the caller's entry */
	enum qm_err rc;
	struct qm_error err;
};

/* The APPEND's writer, one byte short until the gate opens. */
struct held {
	qm_write_fn wr;
	void *warg;
	uint64_t left; /* literal bytes not yet given */
	unsigned char last;
	int holding;
	struct sent_beside *bs;
};

static enum qm_err dropped(struct qm_error *err)
{
	return qm_error_set(err, QM_ERR_STATE,
	                    "the message was not sent: its copy for Sent is "
	                    "dropped");
}

static enum gate gate_now(struct sent_beside *bs)
{
	enum gate g;

	pthread_mutex_lock(&bs->mu);
	g = bs->gate;
	pthread_mutex_unlock(&bs->mu);
	return g;
}

static enum qm_err held_wr(void *arg, const void *p, size_t n,
                           struct qm_error *err)
{
	struct held *h = arg;

	/* the message did not go: stop making its copy now */
	if (gate_now(h->bs) == GATE_DROP)
		return dropped(err);
	if (n && n >= h->left && !h->holding) {
		/* this piece ends the literal: its last byte waits */
		h->last = ((const unsigned char *)p)[n - 1];
		h->holding = 1;
		h->left = 0;
		return n > 1 ? h->wr(h->warg, p, n - 1, err) : QM_OK;
	}
	h->left -= n < h->left ? n : h->left;
	return h->wr(h->warg, p, n, err);
}

/* Waits for the upload's outcome; GATE_GO or GATE_DROP. */
static enum gate gate_wait(struct sent_beside *bs)
{
	enum gate g;

	pthread_mutex_lock(&bs->mu);
	while (bs->gate == GATE_WAIT)
		pthread_cond_wait(&bs->cv, &bs->mu);
	g = bs->gate;
	pthread_mutex_unlock(&bs->mu);
	return g;
}

static enum qm_err copy_produce(void *arg, qm_write_fn wr, void *warg,
                                struct qm_error *err)
{
	struct copy_maker *m = arg;
	struct qm_store_outbox_r *pt = NULL;
	enum qm_err rc;

	rc = qm_store_outbox_open(m->c->store, m->o->id, 0, &pt, err);
	if (!rc && qm_store_outbox_r_size(pt) != m->n)
		rc = qm_error_set(err, QM_ERR_STATE,
		                  "the outbox message changed while its copy "
		                  "was made");
	if (!rc && m->bs) {
		struct held h = {wr, warg, m->len, 0, 0, m->bs};

		rc = client_self_seal_to(m->c, m->ac, m->h, QM_CLIENT_COPY_SENT,
		                         m->o->level, qm_store_outbox_r_read,
		                         pt, m->n, held_wr, &h, err);
		qm_store_outbox_r_close(&pt);
		if (!rc && !h.holding)
			rc = qm_error_set(err, QM_ERR_STATE,
			                  "the copy for Sent ended early");
		if (!rc && gate_wait(m->bs) != GATE_GO)
			rc = dropped(err);
		if (!rc)
			rc = wr(warg, &h.last, 1, err);
		return rc;
	}
	if (!rc)
		rc = client_self_seal_to(m->c, m->ac, m->h, QM_CLIENT_COPY_SENT,
		                         m->o->level, qm_store_outbox_r_read,
		                         pt, m->n, wr, warg, err);
	qm_store_outbox_r_close(&pt);
	return rc;
}

/*
 * What the account keeps of entry o on the server (setting save_sent,
 * save_sent_level1): SENT_SELF a copy sealed to its own key, SENT_PLAIN
 * the message as it went (level 0: it went unencrypted), SENT_NONE
 * nothing.
 */
enum sent_kind { SENT_NONE, SENT_SELF, SENT_PLAIN };

static enum sent_kind sent_kind(struct qm_client *c, int64_t acct,
                                const struct qm_store_outbox *o)
{
	char v[8];

	client_acct_setting(c, acct, QM_CLIENT_SET_SAVE_SENT, v, sizeof(v));
	if (v[0] == '0' || !o->has_ciphertext)
		return SENT_NONE; /* unset: the default, a copy */
	if (o->level == 0)
		return SENT_PLAIN;
	if (o->level == 1) {
		client_acct_setting(c, acct, QM_CLIENT_SET_SAVE_SENT_L1, v,
		                    sizeof(v));
		if (v[0] != '1')
			return SENT_NONE;
	}
	return SENT_SELF;
}

/* Saves the copy of entry o over an open session (no duplicate). The
 * server's own copy of the message (Gmail and others save what their SMTP
 * server takes in Sent) is replaced by QMail's; that the server does so
 * is remembered (QM_CLIENT_SET_SERVER_SAVES_SENT). */
static enum qm_err copy_once(struct qm_client *c, const struct acct_conn *ac,
                             struct qm_mail_imap *im,
                             const struct qm_store_outbox *o,
                             struct sent_beside *bs, struct qm_error *err)
{
	struct keep_copy cp;
	struct copy_maker mk;
	struct qm_store_outbox_r *pt = NULL;
	struct outbox_rec rec;
	struct qm_mail_content *mc = NULL;
	struct qm_buf wire;
	enum qm_err rc;
	size_t replaced = 0;
	int saved = 0;

	switch (sent_kind(c, ac->a.id, o)) {
	case SENT_NONE:
		return QM_OK;
	case SENT_PLAIN:
		/* the message as it went, read whole (IMAP APPEND takes it
		 * from memory) */
		qm_buf_init(&wire, QM_CLIENT_MAXMSG * 3);
		rc = qm_store_outbox_ciphertext(c->store, o->id, &wire, err);
		if (!rc)
			rc = qm_mail_imap_save_sent_once(
			    im, wire.data, wire.len, o->message_id, &saved,
			    err);
		qm_buf_free(&wire);
		return rc;
	case SENT_SELF:
		break;
	}
	memset(&rec, 0, sizeof(rec));
	memset(&mk, 0, sizeof(mk));
	rc = entry_headers(c, o, &rec, &mc, &mk.h, err);
	if (!rc)
		rc = qm_store_outbox_open(c->store, o->id, 0, &pt, err);
	if (!rc) {
		mk.c = c;
		mk.ac = ac;
		mk.o = o;
		mk.bs = bs;
		mk.n = qm_store_outbox_r_size(pt);
		qm_store_outbox_r_close(&pt);
		memset(&cp, 0, sizeof(cp));
		cp.use = QM_MAIL_FOLDER_SENT;
		cp.fallback = "Sent";
		cp.measure = copy_measure;
		cp.produce = copy_produce;
		cp.make_arg = &mk;
		cp.flags = QM_MAIL_FLAG_SEEN;
		cp.this_copy[0] =
		    (struct qm_mail_imap_hcrit){"Message-ID", o->message_id, 0};
		cp.this_copy[1] = (struct qm_mail_imap_hcrit){
		    QM_CLIENT_COPY_HDR, QM_CLIENT_COPY_SENT, 0};
		cp.replaces[0] = cp.this_copy[0];
		cp.replaces[1] = (struct qm_mail_imap_hcrit){
		    QM_CLIENT_COPY_HDR, QM_CLIENT_COPY_SENT, 1};
		cp.nreplace = 2;
		rc = client_keep_copy(im, &cp, NULL, &replaced, err);
	}
	client_outbox_rec_clear(&rec);
	qm_mail_content_free(&mc);
	if (!rc && replaced)
		QM_IGNORE(qm_store_setting_set(c->store, ac->a.id,
		                               QM_CLIENT_SET_SERVER_SAVES_SENT,
		                               "1", NULL));
	return rc;
}

/* What a copy that failed after the message went means for the user:
 * kept, it waits for the next outbox run. */
static void copy_failed(struct qm_error *err, int kept)
{
	qm_error_prefix(err, kept ? "the message was sent; its copy for the "
	                            "Sent folder is saved at the next outbox "
	                            "run: "
	                          : "the message was sent; its copy for the "
	                            "Sent folder is lost (it could not be "
	                            "kept for later either): ");
}

enum qm_err client_sent_copy_save(struct qm_client *c, struct acct_conn *ac,
                                  const struct qm_store_outbox *o,
                                  struct qm_error *err)
{
	struct qm_mail_server srv;
	struct qm_mail_imap *im = NULL;
	enum qm_err rc;
	int kept;

	if (!ac->a.imap.host[0] || sent_kind(c, ac->a.id, o) == SENT_NONE)
		return QM_OK;
	/* first remembered, so that a failure (or a crash) below leaves it
	 * for the next outbox run; tried all the same when it cannot be */
	kept = pending_mark(c, ac->a.id, o->id, 1, NULL) == QM_OK;
	client_acct_conn_server(ac, &ac->a.imap, &srv);
	rc = qm_mail_imap_open(&srv, &im, err);
	if (!rc)
		rc = copy_once(c, ac, im, o, NULL, err);
	qm_mail_imap_free(&im);
	if (!rc && kept)
		rc = pending_mark(c, ac->a.id, o->id, 0, err);
	else if (rc)
		copy_failed(err, kept);
	return rc;
}

static void *beside_main(void *arg)
{
	struct sent_beside *bs = arg;
	struct qm_mail_server srv;
	struct qm_mail_imap *im = NULL;
	struct acct_conn ac;

	bs->rc = client_acct_conn_load(bs->c, bs->acct, &ac, &bs->err);
	if (bs->rc)
		return NULL;
	client_acct_conn_server(&ac, &ac.a.imap, &srv);
	bs->rc = qm_mail_imap_open(&srv, &im, &bs->err);
	if (!bs->rc)
		bs->rc = copy_once(bs->c, &ac, im, &bs->o, bs, &bs->err);
	qm_mail_imap_free(&im);
	client_acct_conn_free(&ac);
	return NULL;
}

enum qm_err client_sent_copy_beside(struct qm_client *c,
                                    const struct acct_conn *ac,
                                    const struct qm_store_outbox *o,
                                    struct sent_beside **out,
                                    struct qm_error *err)
{
	struct sent_beside *bs;
	enum qm_err rc;

	*out = NULL;
	if (!ac->a.imap.host[0] || sent_kind(c, ac->a.id, o) != SENT_SELF)
		return QM_OK;
	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = qm_client_clone(c, &bs->c, err);
	if (rc) {
		free(bs);
		return rc;
	}
	/* it reads the plaintext through once: no cache worth 16 MiB */
	QM_IGNORE(qm_store_cache_limit(qm_client_store(bs->c), 1024, NULL));
	bs->acct = ac->a.id;
	bs->o = *o; /* its strings stay the caller's until the end */
	bs->gate = GATE_WAIT;
	qm_error_clear(&bs->err);
	pthread_mutex_init(&bs->mu, NULL);
	pthread_cond_init(&bs->cv, NULL);
	if (pthread_create(&bs->th, NULL, beside_main, bs) != 0) {
		pthread_cond_destroy(&bs->cv);
		pthread_mutex_destroy(&bs->mu);
		qm_client_free(&bs->c);
		free(bs);
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "no thread for the copy for Sent");
	}
	*out = bs;
	return QM_OK;
}

/* Opens or shuts the gate, waits for the thread; its result. */
static enum qm_err beside_join(struct sent_beside **bsp, int go,
                               struct qm_error *err)
{
	struct sent_beside *bs = *bsp;
	enum qm_err rc;

	pthread_mutex_lock(&bs->mu);
	bs->gate = go ? GATE_GO : GATE_DROP;
	pthread_cond_broadcast(&bs->cv);
	pthread_mutex_unlock(&bs->mu);
	pthread_join(bs->th, NULL);
	rc = bs->rc;
	if (rc && err)
		*err = bs->err;
	pthread_cond_destroy(&bs->cv);
	pthread_mutex_destroy(&bs->mu);
	qm_client_free(&bs->c);
	free(bs);
	*bsp = NULL;
	return rc;
}

void client_sent_copy_drop(struct sent_beside **bs)
{
	if (*bs)
		QM_IGNORE(beside_join(bs, 0, NULL));
}

enum qm_err client_sent_copy_finish(struct qm_client *c, struct acct_conn *ac,
                                    const struct qm_store_outbox *o,
                                    struct sent_beside **bs,
                                    struct qm_error *err)
{
	enum qm_err rc;
	int kept;

	if (!*bs)
		return client_sent_copy_save(c, ac, o, err);
	/* remembered first, as client_sent_copy_save does, then let go;
	 * a copy that failed waits for the next outbox run */
	kept = pending_mark(c, ac->a.id, o->id, 1, NULL) == QM_OK;
	rc = beside_join(bs, 1, err);
	if (rc) {
		copy_failed(err, kept);
		return rc;
	}
	return kept ? pending_mark(c, ac->a.id, o->id, 0, err) : QM_OK;
}

/* The pending copies of one account, under the outbox lock. */
static enum qm_err retry_account(struct qm_client *c, int64_t acct,
                                 size_t *n_saved, struct qm_error *err)
{
	struct idlist l;
	struct acct_conn ac;
	struct qm_mail_server srv;
	struct qm_mail_imap *im = NULL;
	enum qm_err rc = QM_OK;
	int loaded = 0;

	pending_read(c, acct, &l);
	for (size_t i = 0; i < l.n && !rc; i++) {
		struct qm_store_outbox o;
		struct qm_error e;
		enum qm_err g;

		memset(&o, 0, sizeof(o));
		qm_error_clear(&e);
		g = qm_store_outbox_get(c->store, l.v[i], &o, &e);
		if (g == QM_ERR_NOTFOUND ||
		    (g == QM_OK &&
		     (o.state == QM_OUTBOX_FAILED || !o.has_ciphertext))) {
			/* deleted, or never went out: no copy to keep */
			qm_store_outbox_item_free(&o);
			rc = pending_mark(c, acct, l.v[i], 0, err);
			continue;
		}
		if (g || o.state != QM_OUTBOX_SENT) {
			qm_store_outbox_item_free(&o);
			continue;
		}
		if (!loaded) {
			rc = client_acct_conn_load(c, acct, &ac, err);
			if (rc) {
				qm_store_outbox_item_free(&o);
				break;
			}
			loaded = 1;
			if (!ac.a.imap.host[0]) {
				/* no IMAP server any more: nowhere to save */
				struct idlist none = {.n = 0};

				qm_store_outbox_item_free(&o);
				rc = pending_write(c, acct, &none, err);
				break;
			}
			client_acct_conn_server(&ac, &ac.a.imap, &srv);
			rc = qm_mail_imap_open(&srv, &im, err);
		}
		if (!rc)
			rc = copy_once(c, &ac, im, &o, NULL, err);
		if (!rc) {
			rc = pending_mark(c, acct, l.v[i], 0, err);
			(*n_saved)++;
		}
		qm_store_outbox_item_free(&o);
	}
	qm_mail_imap_free(&im);
	if (loaded)
		client_acct_conn_free(&ac);
	return rc;
}

enum qm_err client_sent_copy_retry(struct qm_client *c, int64_t account_id,
                                   size_t *n_saved, struct qm_error *err)
{
	struct qm_store_account *as = NULL;
	size_t n = 0, saved = 0;
	enum qm_err rc, first = QM_OK;
	int fd = -1;

	if (account_id) {
		as = calloc(1, sizeof(*as));
		if (!as)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		as->id = account_id;
		n = 1;
	} else {
		rc = qm_store_account_list(c->store, &as, &n, err);
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		struct idlist l;
		struct qm_error e;

		/* most accounts have nothing waiting: no lock, no network */
		pending_read(c, as[i].id, &l);
		if (!l.n)
			continue;
		qm_error_clear(&e);
		rc =
		    client_home_lock(c, QM_LOCK_OUTBOX, 600,
		                     "save copies in the Sent folder", &fd, &e);
		if (!rc) {
			rc = retry_account(c, as[i].id, &saved, &e);
			client_home_unlock(&fd);
		}
		if (rc && !first) {
			first = rc;
			if (err)
				*err = e;
			qm_error_prefix(err,
			                "a sent message's copy for the Sent "
			                "folder still waits: ");
		}
	}
	free(as);
	if (n_saved)
		*n_saved = saved;
	return first;
}

int client_sent_copy_waiting(struct qm_client *c, int64_t acct, int64_t id)
{
	struct idlist l;

	pending_read(c, acct, &l);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i] == id)
			return 1;
	return 0;
}

enum qm_err qm_client_sent_copies(struct qm_client *c, int64_t account_id,
                                  int64_t **ids, size_t *n,
                                  struct qm_error *err)
{
	struct qm_store_account *as = NULL;
	size_t na = 0, cap = 0;
	enum qm_err rc;

	*ids = NULL;
	*n = 0;
	if (!qm_client_unlocked(c))
		return qm_error_set(err, QM_ERR_LOCKED, "unlock QMail first");
	rc = qm_store_account_list(c->store, &as, &na, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < na && !rc; i++) {
		struct idlist l;

		if (account_id && as[i].id != account_id)
			continue;
		pending_read(c, as[i].id, &l);
		for (size_t j = 0; j < l.n; j++) {
			if (*n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				int64_t *v = realloc(*ids, nc * sizeof(*v));

				if (!v) {
					rc = qm_error_set(err, QM_ERR_NOMEM,
					                  "out of memory");
					break;
				}
				*ids = v;
				cap = nc;
			}
			(*ids)[(*n)++] = l.v[j];
		}
	}
	free(as);
	if (rc) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}
