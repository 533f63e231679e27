/* SPDX-License-Identifier: MIT */
/*
 * Address suggestions for a recipient being typed: the account's contacts
 * and the people it corresponded with, from the message index (the sender
 * of mail received, the To addresses of mail sent), ranked by how often
 * and how lately, contacts first, one entry per address whatever its case.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/mail.h"

#define SUGGEST_PAGE 1000 /* messages per index page */
#define SUGGEST_DAY  86400

/* The candidates found so far. */
struct sugg_set {
	struct qm_client_suggestion *v;
	size_t n, cap;
	double *score; /* parallel to v: how often and how lately */
};

/* Whether s starts with q, or a word of s does (case aside). */
static int word_prefix(const char *s, const char *q, size_t ql)
{
	for (const char *p = s; *p; p++)
		if ((p == s || p[-1] == ' ' || p[-1] == '.' || p[-1] == '-' ||
		     p[-1] == '"' || p[-1] == '(') &&
		    strncasecmp(p, q, ql) == 0)
			return 1;
	return 0;
}

/* Whether the typed text q matches an address or its name. */
static int matches(const char *addr, const char *name, const char *q, size_t ql)
{
	return strcasestr(addr, q) || word_prefix(name, q, ql);
}

/* The entry of address in set, added (with name) when new; NULL out of
 * memory or past the limit of candidates. */
static struct qm_client_suggestion *sugg_get(struct sugg_set *set,
                                             const char *address,
                                             const char *name, double **sc)
{
	struct qm_client_suggestion *e;

	for (size_t i = 0; i < set->n; i++)
		if (strcasecmp(set->v[i].address, address) == 0) {
			e = &set->v[i];
			if (!e->name[0] && name)
				qm_strlcpy(e->name, name, sizeof(e->name));
			*sc = &set->score[i];
			return e;
		}
	if (set->n == set->cap) {
		size_t nc = set->cap ? set->cap * 2 : 32;
		void *t, *u;

		if (nc > QM_CLIENT_SUGGEST_CANDIDATES)
			return NULL;
		t = reallocarray(set->v, nc, sizeof(*set->v));
		if (!t)
			return NULL;
		set->v = t;
		u = reallocarray(set->score, nc, sizeof(*set->score));
		if (!u)
			return NULL;
		set->score = u;
		set->cap = nc;
	}
	e = &set->v[set->n];
	memset(e, 0, sizeof(*e));
	qm_strlcpy(e->address, address, sizeof(e->address));
	if (name)
		qm_strlcpy(e->name, name, sizeof(e->name));
	set->score[set->n] = 0;
	*sc = &set->score[set->n++];
	return e;
}

/* One message with address: counted, weighted by its age (a message of
 * today counts 1, one of a month ago 1/2) and by direction (mail sent to
 * them counts twice: the user chose to write). */
static void sugg_count(struct qm_client_suggestion *e, double *sc, int64_t date,
                       int64_t now, int sent)
{
	double age = date < now ? (double)(now - date) / SUGGEST_DAY : 0;

	e->messages++;
	if (date > e->last)
		e->last = date;
	*sc += (sent ? 2.0 : 1.0) / (1.0 + age / 30.0);
}

/* The To addresses of a message the account sent. */
static void sugg_sent(struct sugg_set *set, const struct qm_store_msg *m,
                      const char *own, const char *q, size_t ql, int64_t now)
{
	char **pairs = NULL;
	size_t n = 0;

	/* the raw header holds the typed text unless a name is encoded */
	if (!m->to_addrs ||
	    (!strcasestr(m->to_addrs, q) && !strstr(m->to_addrs, "=?")))
		return;
	if (qm_mail_addr_names(m->to_addrs, &pairs, &n, NULL))
		return;
	for (size_t i = 0; i < n; i++) {
		const char *name = pairs[2 * i], *addr = pairs[2 * i + 1];
		struct qm_client_suggestion *e;
		double *sc;

		if (strcasecmp(addr, own) == 0 || !strchr(addr, '@') ||
		    strlen(addr) >= QM_STORE_ADDRMAX ||
		    !matches(addr, name, q, ql))
			continue;
		if ((e = sugg_get(set, addr, name, &sc)))
			sugg_count(e, sc, m->date, now, 1);
	}
	qm_mail_strv_free(&pairs, 2 * n);
}

/* The sender of a message the account received. */
static void sugg_received(struct sugg_set *set, const struct qm_store_msg *m,
                          const char *q, int64_t now)
{
	struct qm_client_suggestion *e;
	char from[QM_STORE_ADDRMAX];
	double *sc;

	/* a From the index could not make bare is no address to offer */
	if (!m->from_addr || !strcasestr(m->from_addr, q) ||
	    client_addr_bare(m->from_addr, from, sizeof(from), NULL) ||
	    !strcasestr(from, q))
		return;
	if ((e = sugg_get(set, from, NULL, &sc)))
		sugg_count(e, sc, m->date, now, 0);
}

/* The newest QM_CLIENT_SUGGEST_SCAN messages of the account, page by
 * page. */
static enum qm_err sugg_scan(struct qm_client *c, int64_t account_id,
                             const char *own, const char *q,
                             struct sugg_set *set, struct qm_error *err)
{
	struct qm_store_query qy;
	size_t seen = 0, ql = strlen(q);
	int64_t now = qm_now();
	enum qm_err rc = QM_OK;

	memset(&qy, 0, sizeof(qy));
	qy.account_id = account_id;
	qy.limit = SUGGEST_PAGE;
	while (!rc && seen < QM_CLIENT_SUGGEST_SCAN) {
		struct qm_store_msglist *l = NULL;

		rc = qm_store_msg_list(c->store, &qy, &l, err);
		if (rc)
			break;
		for (size_t i = 0; i < l->n; i++) {
			const struct qm_store_msg *m = &l->items[i];

			if (m->from_addr && strcasecmp(m->from_addr, own) == 0)
				sugg_sent(set, m, own, q, ql, now);
			else
				sugg_received(set, m, q, now);
		}
		seen += l->n;
		if (l->n < SUGGEST_PAGE) {
			qm_store_msglist_free(&l);
			break;
		}
		qy.before_date = l->items[l->n - 1].date;
		qy.before_id = l->items[l->n - 1].id;
		qm_store_msglist_free(&l);
	}
	return rc;
}

/* One candidate as it is sorted. */
struct sugg_rank {
	int contact;
	double score;
	int64_t last;
	const char *address;
	size_t i;
};

/* Contacts first, then by score, then the newest, then by address. */
static int sugg_cmp(const void *a, const void *b)
{
	const struct sugg_rank *x = a, *y = b;

	if (x->contact != y->contact)
		return y->contact - x->contact;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	if (x->last != y->last)
		return x->last < y->last ? 1 : -1;
	return strcasecmp(x->address, y->address);
}

enum qm_err qm_client_suggest(struct qm_client *c, int64_t account_id,
                              const char *typed, size_t max,
                              struct qm_client_suggestion **out, size_t *n,
                              struct qm_error *err)
{
	struct qm_store_contact *cts = NULL;
	struct qm_client_suggestion *res = NULL;
	struct qm_store_account a;
	struct sugg_set set = {0};
	struct sugg_rank *order = NULL;
	size_t ncts = 0, k;
	char q[QM_STORE_ADDRMAX];
	enum qm_err rc;

	if (!typed || qm_strlcpy(q, typed, sizeof(q)))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the text to complete is 1 to %d bytes",
		                    QM_STORE_ADDRMAX - 1);
	{
		char *t = q;
		size_t tl;

		while (*t == ' ' || *t == '\t' || *t == '"' || *t == '<')
			t++;
		tl = strlen(t);
		while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
			t[--tl] = '\0';
		memmove(q, t, tl + 1);
	}
	if (!q[0])
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the text to complete is empty");
	if (max == 0 || max > QM_CLIENT_SUGGEST_MAX)
		max = QM_CLIENT_SUGGEST_MAX;
	rc = qm_store_account_get(c->store, account_id, &a, err);
	if (!rc)
		rc = qm_store_contact_list(c->store, account_id, &cts, &ncts,
		                           err);
	for (size_t i = 0; !rc && i < ncts; i++) {
		struct qm_client_suggestion *e;
		double *sc;

		if (!matches(cts[i].address, cts[i].name, q, strlen(q)))
			continue;
		if (!(e = sugg_get(&set, cts[i].address, cts[i].name, &sc)))
			break;
		e->contact = 1;
		if (cts[i].name[0]) /* the user's name for them wins */
			qm_strlcpy(e->name, cts[i].name, sizeof(e->name));
	}
	if (!rc)
		rc = sugg_scan(c, account_id, a.address, q, &set, err);
	if (rc)
		goto out;
	order = calloc(set.n ? set.n : 1, sizeof(*order));
	res = calloc(set.n < max ? (set.n ? set.n : 1) : max, sizeof(*res));
	if (!order || !res) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (k = 0; k < set.n; k++)
		order[k] =
		    (struct sugg_rank){set.v[k].contact, set.score[k],
		                       set.v[k].last, set.v[k].address, k};
	qsort(order, set.n, sizeof(*order), sugg_cmp);
	for (k = 0; k < set.n && k < max; k++)
		res[k] = set.v[order[k].i];
	*out = res;
	*n = k;
	res = NULL;
out:
	free(res);
	free(order);
	free(set.v);
	free(set.score);
	free(cts);
	return rc;
}
