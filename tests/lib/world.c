/* SPDX-License-Identifier: MIT */
/*
 * The end-to-end test world (see world.h).
 */
#include "world.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char *const pass = WORLD_PASS;

static char pwfile[W_NUSERS][600];
static char ports[W_NUSERS][4][16];
static char kmeurl[W_NUSERS][64];
static char paths[W_NUSERS][5][700];

/* Fills an account for user i. */
static void account_for(struct world *w, int i, struct qm_store_account *a)
{
	memset(a, 0, sizeof(*a));
	qm_strlcpy(a->address, qmt_mail_addr(i), sizeof(a->address));
	snprintf(a->display_name, sizeof(a->display_name), "%c%s",
	         qmt_mail_user(i)[0] - 32, qmt_mail_user(i) + 1);
	qm_strlcpy(a->smtp.host, "127.0.0.1", sizeof(a->smtp.host));
	a->smtp.port = w->mail.submission_port;
	a->smtp.tls = QM_TLS_STARTTLS;
	qm_strlcpy(a->imap.host, "127.0.0.1", sizeof(a->imap.host));
	a->imap.port = w->mail.imaps_port;
	a->imap.tls = QM_TLS_IMPLICIT;
	qm_strlcpy(a->pop3.host, "127.0.0.1", sizeof(a->pop3.host));
	a->pop3.port = w->mail.pop3s_port;
	a->pop3.tls = QM_TLS_IMPLICIT;
	qm_strlcpy(a->sae_id, w->sae[i], sizeof(a->sae_id));
	snprintf(a->kme_url, sizeof(a->kme_url), "https://127.0.0.1:%d",
	         w->net.ports[w->kme[i]]);
	snprintf(a->kme_ca, sizeof(a->kme_ca), "%s/ca.crt", w->net.dir);
	snprintf(a->kme_cert, sizeof(a->kme_cert), "%s/sae/%s.crt", w->net.dir,
	         w->sae[i]);
	snprintf(a->kme_key, sizeof(a->kme_key), "%s/sae/%s.key", w->net.dir,
	         w->sae[i]);
	a->default_level = 2;
}

int world_account_args(struct world *w, int i, const char **argv)
{
	struct qm_store_account a;
	int n = 0;

	account_for(w, i, &a);
	snprintf(pwfile[i], sizeof(pwfile[i]), "%s/pw-%d", w->mail.dir, i);
	qmt_write_file(pwfile[i], qmt_mail_password(i));
	snprintf(ports[i][0], 16, "%d", a.smtp.port);
	snprintf(ports[i][1], 16, "%d", a.imap.port);
	snprintf(ports[i][2], 16, "%d", a.pop3.port);
	qm_strlcpy(kmeurl[i], a.kme_url, sizeof(kmeurl[i]));
	qm_strlcpy(paths[i][0], a.kme_ca, sizeof(paths[i][0]));
	qm_strlcpy(paths[i][1], a.kme_cert, sizeof(paths[i][1]));
	qm_strlcpy(paths[i][2], a.kme_key, sizeof(paths[i][2]));
	snprintf(paths[i][3], sizeof(paths[i][3]), "127.0.0.1:%s", ports[i][0]);
	argv[n++] = "--address";
	argv[n++] = qmt_mail_addr(i);
	argv[n++] = "--password-file";
	argv[n++] = pwfile[i];
	argv[n++] = "--smtp";
	argv[n++] = paths[i][3];
	argv[n++] = "--smtp-tls";
	argv[n++] = "starttls";
	snprintf(paths[i][4], sizeof(paths[i][4]), "127.0.0.1:%d", a.imap.port);
	argv[n++] = "--imap";
	argv[n++] = paths[i][4];
	argv[n++] = "--imap-tls";
	argv[n++] = "tls";
	argv[n++] = "--mail-ca";
	argv[n++] = w->mail.ca_file;
	argv[n++] = "--sae";
	argv[n++] = w->sae[i];
	argv[n++] = "--kme";
	argv[n++] = kmeurl[i];
	argv[n++] = "--kme-ca";
	argv[n++] = paths[i][0];
	argv[n++] = "--kme-cert";
	argv[n++] = paths[i][1];
	argv[n++] = "--kme-key";
	argv[n++] = paths[i][2];
	return n;
}

static int fail(const char *what, const struct qm_error *e)
{
	fprintf(stderr, "world: %s: %s\n", what, qm_error_msg(e));
	return -1;
}

int world_start(struct world *w, const char *tag, const char *extra_kme)
{
	return world_start_layout(w, tag, extra_kme, QMT_MAIL_LAYOUT_PLAIN);
}

/* world_start_layout; with no_keys, nobody holds anybody's public key;
 * topology NULL: one KME per user, all linked. */
static int start(struct world *w, const char *tag, const char *extra_kme,
                 enum qmt_mail_layout layout, int no_keys, const char *topology)
{
	struct qm_error e;
	char extra[1024];
	int r;

	memset(w, 0, sizeof(*w));
	for (int i = 0; i < W_NUSERS; i++)
		w->kme[i] = i;
	w->mail.layout = layout;
	setenv("QM_STORE_KDF", "fast", 1);
	r = qmt_mail_start(&w->mail);
	if (r)
		return r;
	w->mail_up = 1;
	/* pools large enough for a 5 MiB level-1 attachment to two people,
	 * unless extra_kme sets its own */
	if (extra_kme && strstr(extra_kme, "pool_bytes"))
		snprintf(extra, sizeof(extra), "%s", extra_kme);
	else
		snprintf(extra, sizeof(extra), "pool_bytes = 16777216%s%s",
		         extra_kme ? "\n" : "", extra_kme ? extra_kme : "");
	if (topology ? kt_net_start_topo(&w->net, tag, topology, 1, extra)
	             : kt_net_start(&w->net, tag, W_NUSERS, 1, extra)) {
		fprintf(stderr, "world: the KMEs did not start\n");
		return -1;
	}
	if (topology) {
		/* alice first, bob last, carol next to alice */
		w->kme[W_ALICE] = 0;
		w->kme[W_BOB] = w->net.nkmes - 1;
		w->kme[W_CAROL] = 1;
	}
	w->net_up = 1;
	for (int i = 0; i < W_NUSERS; i++) {
		struct qm_client_opts o;
		struct qm_store_account a;

		snprintf(w->sae[i], sizeof(w->sae[i]), "SAE_%c",
		         'A' + w->kme[i]);
		snprintf(w->homes[i], sizeof(w->homes[i]), "%s/home-%s",
		         w->mail.dir, qmt_mail_user(i));
		memset(&o, 0, sizeof(o));
		o.home = w->homes[i];
		qm_error_clear(&e);
		if (qm_client_open(&o, &w->c[i], &e))
			return fail("open", &e);
		if (qm_client_init(w->c[i], pass, strlen(pass), &e))
			return fail("init", &e);
		account_for(w, i, &a);
		if (qm_client_account_add(w->c[i], &a, qmt_mail_password(i),
		                          strlen(qmt_mail_password(i)), &e))
			return fail("account add", &e);
		w->acct[i] = a.id;
		if (qm_store_setting_set(qm_client_store(w->c[i]), a.id,
		                         "mail_ca", w->mail.ca_file, &e))
			return fail("setting", &e);
		if (i == W_CAROL &&
		    qm_store_setting_set(qm_client_store(w->c[i]), a.id,
		                         "incoming", "pop3", &e))
			return fail("setting", &e);
	}
	/* the links have distilled their first keys */
	for (int i = 0; i < W_NUSERS; i++)
		for (int j = 0; j < W_NUSERS; j++)
			if (i != j && world_wait_pool(w, i, j, 4096, 120000))
				return -1;
	/* everyone knows everyone's SAE ID and verified public key */
	for (int i = 0; i < W_NUSERS; i++) {
		for (int j = 0; j < W_NUSERS; j++) {
			struct qm_store_contact ct;
			struct qm_buf armour;
			char fpr[QM_STORE_FPRMAX];

			if (i == j)
				continue;
			memset(&ct, 0, sizeof(ct));
			qm_strlcpy(ct.address, qmt_mail_addr(j),
			           sizeof(ct.address));
			qm_strlcpy(ct.sae_id, w->sae[j], sizeof(ct.sae_id));
			ct.source = QM_CONTACT_USER;
			ct.confirmed = 1;
			if (qm_store_contact_put(qm_client_store(w->c[i]),
			                         w->acct[i], &ct, &e))
				return fail("contact", &e);
			if (no_keys)
				continue;
			qm_buf_init(&armour, 1 << 20);
			if (qm_client_key_export(w->c[j], w->acct[j], &armour,
			                         &e) ||
			    qm_client_key_import(w->c[i], NULL,
			                         (const char *)armour.data,
			                         armour.len, fpr, NULL, &e) ||
			    qm_client_key_verify(w->c[i], qmt_mail_addr(j), fpr,
			                         &e)) {
				qm_buf_free(&armour);
				return fail("keys", &e);
			}
			qm_buf_free(&armour);
		}
	}
	return 0;
}

int world_start_layout(struct world *w, const char *tag, const char *extra_kme,
                       enum qmt_mail_layout layout)
{
	return start(w, tag, extra_kme, layout, 0, NULL);
}

int world_start_topo(struct world *w, const char *tag, const char *extra_kme,
                     const char *topology)
{
	return start(w, tag, extra_kme, QMT_MAIL_LAYOUT_PLAIN, 0, topology);
}

int world_setup_strangers(struct world *w, const char *tag)
{
	int r = start(w, tag, NULL, QMT_MAIL_LAYOUT_PLAIN, 1, NULL);

	if (r == 1) {
		w->skipped = 1;
		return 0;
	}
	return r ? -1 : 0;
}

int world_second_home(struct world *w, int user, const char *name,
                      struct qm_client **c, int64_t *acct)
{
	struct qm_client_opts o;
	struct qm_store_account a;
	struct qm_error e;
	char home[600];

	snprintf(home, sizeof(home), "%s/home-%s-%s", w->mail.dir,
	         qmt_mail_user(user), name);
	memset(&o, 0, sizeof(o));
	o.home = home;
	qm_error_clear(&e);
	*c = NULL;
	if (qm_client_open(&o, c, &e))
		return fail("open", &e);
	if (qm_client_init(*c, pass, strlen(pass), &e))
		return fail("init", &e);
	account_for(w, user, &a);
	if (qm_client_account_add(*c, &a, qmt_mail_password(user),
	                          strlen(qmt_mail_password(user)), &e))
		return fail("account add", &e);
	*acct = a.id;
	if (qm_store_setting_set(qm_client_store(*c), a.id, "mail_ca",
	                         w->mail.ca_file, &e))
		return fail("setting", &e);
	return 0;
}

enum qm_err world_reopen(struct world *w, int user, struct qm_error *e)
{
	struct qm_client_opts o;
	enum qm_err rc;

	qm_client_free(&w->c[user]);
	memset(&o, 0, sizeof(o));
	o.home = w->homes[user];
	rc = qm_client_open(&o, &w->c[user], e);
	if (!rc)
		rc = qm_client_unlock(w->c[user], pass, strlen(pass), e);
	if (rc)
		qm_client_free(&w->c[user]);
	return rc;
}

void world_stop(struct world *w)
{
	for (int i = 0; i < W_NUSERS; i++)
		qm_client_free(&w->c[i]);
	if (w->net_up)
		kt_net_stop(&w->net);
	if (w->mail_up)
		qmt_mail_stop(&w->mail);
	w->net_up = w->mail_up = 0;
}

int world_wait_pool(struct world *w, int from, int to, uint64_t bytes,
                    int timeout_ms)
{
	uint64_t t0 = qm_mono_ns();

	for (;;) {
		struct qm_client_kme k;
		struct qm_error e;

		qm_error_clear(&e);
		if (qm_client_kme_status(w->c[from], w->acct[from], w->sae[to],
		                         &k, &e) == QM_OK &&
		    k.reachable && k.pool_bytes >= bytes)
			return 0;
		if ((qm_mono_ns() - t0) / 1000000 > (uint64_t)timeout_ms) {
			fprintf(stderr,
			        "world: pool %s->%s has %llu of %llu "
			        "bytes after %d ms\n",
			        w->sae[from], w->sae[to],
			        (unsigned long long)k.pool_bytes,
			        (unsigned long long)bytes, timeout_ms);
			return -1;
		}
		/* the link distils a block every fraction of a second: ask
		 * again after a short pause (no event to wait on over ETSI) */
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int world_setup(struct world *w, const char *tag, const char *extra_kme)
{
	return world_setup_layout(w, tag, extra_kme, QMT_MAIL_LAYOUT_PLAIN);
}

int world_setup_layout(struct world *w, const char *tag, const char *extra_kme,
                       enum qmt_mail_layout layout)
{
	int r = world_start_layout(w, tag, extra_kme, layout);

	if (r == 1) {
		w->skipped = 1;
		return 0;
	}
	return r ? -1 : 0;
}

/* User u's messages (folder NULL: any; at most limit), or NULL. */
static struct qm_store_msglist *msgs(struct world *w, int u, const char *folder,
                                     int limit)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;

	memset(&q, 0, sizeof(q));
	q.account_id = w->acct[u];
	q.folder = folder;
	q.limit = limit;
	if (qm_store_msg_list(qm_client_store(w->c[u]), &q, &l, NULL) != QM_OK)
		return NULL;
	return l;
}

int64_t world_newest(struct world *w, int u, const char *folder)
{
	struct qm_store_msglist *l = msgs(w, u, folder, 1);
	int64_t id = l && l->n ? l->items[0].id : -1;

	qm_store_msglist_free(&l);
	return id;
}

int world_sync_chat(struct world *w, int u, size_t min_fetched,
                    size_t min_chat, size_t *chat, size_t *fetched,
                    char *why, size_t whylen)
{
	size_t c = 0, f = 0;

	for (int t = 0; t < 150; t++) {
		struct qm_client_sync_all out;
		struct qm_error e;

		memset(&out, 0, sizeof(out));
		qm_error_clear(&e);
		if (qm_client_sync_all(w->c[u], w->acct[u], NULL, NULL, NULL,
		                       &out, &e) != QM_OK ||
		    out.first_error[0]) {
			snprintf(why, whylen, "sync of user %d: %s", u,
			         out.first_error[0] ? out.first_error
			                            : qm_error_msg(&e));
			return -1;
		}
		c += out.total.chat;
		f += out.total.fetched;
		if (f >= min_fetched && c >= min_chat) {
			if (chat)
				*chat = c;
			if (fetched)
				*fetched = f;
			return 0;
		}
		usleep(200 * 1000);
	}
	snprintf(why, whylen,
	         "sync of user %d: %zu fetched, %zu chat after 30 s (wanted "
	         "%zu, %zu)",
	         u, f, c, min_fetched, min_chat);
	return -1;
}

int64_t world_last_id(struct world *w, int u)
{
	struct qm_store_msglist *l = msgs(w, u, "INBOX", 1000);
	int64_t id = -1;

	for (size_t i = 0; l && i < l->n; i++)
		if (l->items[i].id > id)
			id = l->items[i].id;
	qm_store_msglist_free(&l);
	return id;
}

int64_t world_count(struct world *w, int u)
{
	struct qm_store_query q;
	int64_t n = -1;

	memset(&q, 0, sizeof(q));
	q.account_id = w->acct[u];
	if (qm_store_msg_count(qm_client_store(w->c[u]), &q, &n, NULL) != QM_OK)
		return -1;
	return n;
}

int64_t world_by_subject(struct world *w, int u, const char *subject)
{
	struct qm_store_msglist *l = msgs(w, u, NULL, 1000);
	int64_t id = -1;

	for (size_t i = 0; l && i < l->n; i++)
		if (l->items[i].subject &&
		    strcmp(l->items[i].subject, subject) == 0)
			id = l->items[i].id;
	qm_store_msglist_free(&l);
	return id;
}

int world_qmail(struct world *w, int u, char **out, ...)
{
	char pw[600];
	va_list ap;
	int rc;

	snprintf(pw, sizeof(pw), "%s/passphrase", w->mail.dir);
	if (qmt_write_file(pw, WORLD_PASS "\n"))
		return -1;
	setenv("QMAIL_PASSPHRASE_FILE", pw, 1);
	va_start(ap, out);
	rc = qmt_qmail_va(w->homes[u], out, ap);
	va_end(ap);
	return rc;
}
