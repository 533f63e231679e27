/* SPDX-License-Identifier: MIT */
/*
 * Drafts on the server (docs/CLIENT.md "Drafts"): a draft kept in the vault
 * (qm_client_draft_put) is also kept in the account's IMAP Drafts folder,
 * sealed to the account's own key as the Sent copy is (selfcopy.c), so
 * that a draft started on one machine continues on another. Each draft has
 * a random ID that travels with it: the first plaintext line of the copy,
 * "QMail-Draft: ID TIME" (authenticated), and the outer header
 * "QMail-Copy: draft ID" (to find its older copies, which a newer one
 * replaces). A home that syncs a copy of a draft it does not have adopts
 * it into its own drafts; a newer version replaces the one it has, an
 * older one changes nothing. The draft format is the interfaces' (a header
 * block and the text: qm_client_draft_encode), itself a readable message.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#define DRAFT_LINE "QMail-Draft: "
#define UUID_HEX   32

/* Global (account 0) settings: draft id -> "ACCOUNT UUID TIME", and uuid
 * -> draft id. */
static void key_of_id(int64_t id, char *k, size_t n)
{
	snprintf(k, n, "draft.%lld", (long long)id);
}

static void key_of_uuid(const char *uuid, char *k, size_t n)
{
	snprintf(k, n, "draft.uuid.%s", uuid);
}

struct draft_ref {
	int64_t account;
	char uuid[UUID_HEX + 1];
	int64_t time; /* milliseconds of the version this home has */
};

static int ref_get(struct qm_client *c, int64_t id, struct draft_ref *r)
{
	char k[48], v[128];
	long long a = 0, t = 0;

	key_of_id(id, k, sizeof(k));
	client_acct_setting(c, 0, k, v, sizeof(v));
	memset(r, 0, sizeof(*r));
	if (sscanf(v, "%lld %32[0-9a-f] %lld", &a, r->uuid, &t) != 3 ||
	    strlen(r->uuid) != UUID_HEX)
		return 0;
	r->account = a;
	r->time = t;
	return 1;
}

static enum qm_err ref_put(struct qm_client *c, int64_t id,
                           const struct draft_ref *r, struct qm_error *err)
{
	char k[48], v[128], sid[24];
	enum qm_err rc;

	key_of_id(id, k, sizeof(k));
	snprintf(v, sizeof(v), "%lld %s %lld", (long long)r->account, r->uuid,
	         (long long)r->time);
	rc = qm_store_setting_set(c->store, 0, k, v, err);
	key_of_uuid(r->uuid, k, sizeof(k));
	snprintf(sid, sizeof(sid), "%lld", (long long)id);
	if (!rc)
		rc = qm_store_setting_set(c->store, 0, k, sid, err);
	return rc;
}

static void ref_drop(struct qm_client *c, int64_t id, const char *uuid)
{
	char k[48];

	key_of_id(id, k, sizeof(k));
	QM_IGNORE(qm_store_setting_set(c->store, 0, k, "", NULL));
	key_of_uuid(uuid, k, sizeof(k));
	QM_IGNORE(qm_store_setting_set(c->store, 0, k, "", NULL));
}

/* Wall-clock milliseconds: versions of a draft are ordered by it across
 * homes (each home's clock; a later save on one home is newer). */
static int64_t now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return qm_now() * 1000;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------- the format */

/* Appends "Name: a, b\r\n" (values without CR or LF). */
static enum qm_err list_line(struct qm_buf *b, const char *name,
                             const char *const *v, size_t n,
                             struct qm_error *err)
{
	enum qm_err rc = qm_buf_appendf(b, err, "%s: ", name);

	for (size_t i = 0; i < n && !rc; i++) {
		if (strpbrk(v[i], "\r\n"))
			return qm_error_set(
			    err, QM_ERR_INVAL,
			    "a draft's address holds a line break");
		rc = qm_buf_appendf(b, err, "%s%s", i ? ", " : "", v[i]);
	}
	return rc ? rc : qm_buf_append_str(b, "\r\n", err);
}

enum qm_err qm_client_draft_encode(const struct qm_client_compose *m,
                                   struct qm_buf *out, struct qm_error *err)
{
	const char *subject = m->subject ? m->subject : "";
	const char *irt = m->in_reply_to ? m->in_reply_to : "";
	enum qm_err rc;

	if (strpbrk(subject, "\r\n") || strpbrk(irt, "\r\n"))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a draft's subject holds a line break");
	if (m->level < 0 || m->level > 4)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a draft's level is 1 to 4 (0: the "
		                    "default)");
	rc = list_line(out, "To", m->to, m->nto, err);
	if (!rc)
		rc = list_line(out, "Cc", m->cc, m->ncc, err);
	if (!rc)
		rc = list_line(out, "Bcc", m->bcc, m->nbcc, err);
	if (!rc)
		rc = qm_buf_appendf(out, err,
		                    "Subject: %s\r\nX-QMail-Level: %d\r\n"
		                    "In-Reply-To: %s\r\n\r\n",
		                    subject, m->level, irt);
	if (!rc && m->text)
		rc = qm_buf_append_str(out, m->text, err);
	return rc;
}

/* The X-QMail-Level of a draft block (0 when none). */
static int draft_level(const unsigned char *p, size_t n)
{
	static const char k[] = "\nX-QMail-Level: ";
	const unsigned char *at = memmem(p, n, k, sizeof(k) - 1);
	const unsigned char *end = memmem(p, n, "\r\n\r\n", 4);

	if (!at || (end && at > end) || (size_t)(at - p) + sizeof(k) > n)
		return 0;
	at += sizeof(k) - 1;
	return *at >= '1' && *at <= '4' ? *at - '0' : 0;
}

/* ---------------------------------------------------- the server's copy */

/* 1 when the account keeps drafts of this level on the server (the Sent
 * copy's choice: save_sent, and save_sent_level1 for level 1). */
static int kept_on_server(struct qm_client *c, const struct acct_conn *ac,
                          int level)
{
	char v[8];

	if (!ac->a.imap.host[0] || ac->use_pop3)
		return 0;
	client_acct_setting(c, ac->a.id, QM_CLIENT_SET_SAVE_SENT, v, sizeof(v));
	if (v[0] == '0')
		return 0;
	if (level == 1) {
		client_acct_setting(c, ac->a.id, QM_CLIENT_SET_SAVE_SENT_L1, v,
		                    sizeof(v));
		return v[0] == '1';
	}
	return 1;
}

/* The copy of draft bytes p (n) under ref r into wire. */
static enum qm_err draft_copy(struct qm_client *c, const struct acct_conn *ac,
                              const struct draft_ref *r, const void *p,
                              size_t n, char *mid, size_t midlen,
                              struct qm_buf *wire, struct qm_error *err)
{
	struct qm_mail_hdrs *h = NULL;
	const char *me[] = {ac->a.address};
	struct qm_buf pt;
	char mark[64];
	enum qm_err rc;

	qm_buf_init_secure(&pt, n + 128);
	rc =
	    qm_mail_hdrs_make(ac->a.address, me, 1, NULL, 0, qm_now(), &h, err);
	if (!rc)
		rc = qm_buf_appendf(&pt, err, "%s%s %lld\r\n", DRAFT_LINE,
		                    r->uuid, (long long)r->time);
	if (!rc)
		rc = qm_buf_append(&pt, p, n, err);
	snprintf(mark, sizeof(mark), "%s %s", QM_CLIENT_COPY_DRAFT, r->uuid);
	if (!rc)
		rc = client_self_seal(c, ac, h, mark, 0, pt.data, pt.len, wire,
		                      err);
	if (!rc)
		qm_strlcpy(mid, h->message_id, midlen);
	qm_mail_hdrs_free(&h);
	qm_buf_free(&pt);
	return rc;
}

/* Opens an IMAP session of the account over srv (which the session
 * keeps using: the caller's, alive until the session is freed). */
static enum qm_err imap_of(struct acct_conn *ac, struct qm_mail_server *srv,
                           struct qm_mail_imap **im, struct qm_error *err)
{
	client_acct_conn_server(ac, &ac->a.imap, srv);
	return qm_mail_imap_open(srv, im, err);
}

enum qm_err qm_client_draft_upload(struct qm_client *c, int64_t account_id,
                                   int64_t id, int *kept, struct qm_error *err)
{
	struct acct_conn ac;
	struct draft_ref r;
	struct qm_buf d, wire;
	struct qm_mail_imap *im = NULL;
	struct qm_mail_server srv;
	struct keep_copy cp;
	char mid[256], mark[64];
	enum qm_err rc = client_need_unlocked(c, "saving a draft", err);

	if (kept)
		*kept = 0;
	if (rc)
		return rc;
	rc = client_acct_conn_load(c, account_id, &ac, err);
	if (rc)
		return rc;
	qm_buf_init_secure(&d, QM_CLIENT_MAXMSG);
	qm_buf_init(&wire, QM_CLIENT_MAXMSG * 3);
	rc = qm_store_draft_get(c->store, id, &d, err);
	if (rc || !kept_on_server(c, &ac, draft_level(d.data, d.len)))
		goto out;
	if (!ref_get(c, id, &r) || r.account != account_id) {
		unsigned char raw[UUID_HEX / 2];

		memset(&r, 0, sizeof(r));
		r.account = account_id;
		randombytes_buf(raw, sizeof(raw));
		sodium_bin2hex(r.uuid, sizeof(r.uuid), raw, sizeof(raw));
	}
	/* newer than the version this home has, whatever the clock did */
	r.time = now_ms() > r.time ? now_ms() : r.time + 1;
	rc = ref_put(c, id, &r, err);
	if (!rc)
		rc = draft_copy(c, &ac, &r, d.data, d.len, mid, sizeof(mid),
		                &wire, err);
	if (!rc)
		rc = imap_of(&ac, &srv, &im, err);
	if (!rc) {
		snprintf(mark, sizeof(mark), "%s %s", QM_CLIENT_COPY_DRAFT,
		         r.uuid);
		memset(&cp, 0, sizeof(cp));
		cp.use = QM_MAIL_FOLDER_DRAFTS;
		cp.fallback = "Drafts";
		cp.msg = wire.data;
		cp.len = wire.len;
		cp.flags = QM_MAIL_FLAG_DRAFT | QM_MAIL_FLAG_SEEN;
		cp.this_copy[0] =
		    (struct qm_mail_imap_hcrit){"Message-ID", mid, 0};
		cp.this_copy[1] =
		    (struct qm_mail_imap_hcrit){QM_CLIENT_COPY_HDR, mark, 0};
		cp.replaces[0] = cp.this_copy[1];
		cp.replaces[1] =
		    (struct qm_mail_imap_hcrit){"Message-ID", mid, 1};
		cp.nreplace = 2;
		rc = client_keep_copy(im, &cp, NULL, NULL, err);
	}
	if (!rc && kept)
		*kept = 1;
	if (rc)
		qm_error_prefix(err, "the draft is saved here; its copy in the "
		                     "Drafts folder on the server is not: ");
out:
	qm_mail_imap_free(&im);
	qm_buf_free(&d);
	qm_buf_free(&wire);
	client_acct_conn_free(&ac);
	return rc;
}

void client_draft_forget(struct qm_client *c, int64_t id)
{
	struct draft_ref r;
	struct acct_conn ac;
	struct qm_mail_imap *im = NULL;
	struct qm_mail_server srv;
	struct qm_mail_imap_hcrit h;
	char mark[64];
	uint32_t *uids = NULL;
	size_t n = 0;

	if (!ref_get(c, id, &r))
		return;
	ref_drop(c, id, r.uuid);
	if (client_acct_conn_load(c, r.account, &ac, NULL) != QM_OK)
		return;
	snprintf(mark, sizeof(mark), "%s %s", QM_CLIENT_COPY_DRAFT, r.uuid);
	h = (struct qm_mail_imap_hcrit){QM_CLIENT_COPY_HDR, mark, 0};
	/* best effort: a copy left on the server is adopted again by
	 * another home, never lost */
	if (ac.a.imap.host[0] && !ac.use_pop3 &&
	    imap_of(&ac, &srv, &im, NULL) == QM_OK) {
		char *folder = NULL;

		if (qm_mail_imap_special(im, QM_MAIL_FOLDER_DRAFTS, &folder,
		                         NULL) != QM_OK)
			folder = strdup("Drafts");
		if (folder &&
		    qm_mail_imap_select(im, folder, NULL, NULL) == QM_OK &&
		    qm_mail_imap_search_headers(im, &h, 1, &uids, &n, NULL) ==
		        QM_OK &&
		    n)
			QM_IGNORE(qm_mail_imap_expunge_uids(im, uids, n, NULL));
		free(folder);
	}
	free(uids);
	qm_mail_imap_free(&im);
	client_acct_conn_free(&ac);
}

/* ------------------------------------------------- a copy from the server */

int client_self_copy_draft(struct qm_buf *plain, char uuid[33], int64_t *t)
{
	const size_t ll = sizeof(DRAFT_LINE) - 1;
	const unsigned char *eol;
	char line[96];
	long long ms = 0;
	size_t len;

	if (plain->len < ll || memcmp(plain->data, DRAFT_LINE, ll) != 0)
		return 0;
	eol = memmem(plain->data, plain->len, "\r\n", 2);
	if (!eol || (size_t)(eol - plain->data) >= sizeof(line))
		return 0;
	len = (size_t)(eol - plain->data);
	memcpy(line, plain->data, len);
	line[len] = '\0';
	if (sscanf(line + ll, "%32[0-9a-f] %lld", uuid, &ms) != 2 ||
	    strlen(uuid) != UUID_HEX || ms < 0)
		return 0;
	*t = ms;
	memmove(plain->data, eol + 2, plain->len - len - 2);
	plain->len -= len + 2;
	return 1;
}

enum qm_err client_draft_adopt(struct qm_client *c, int64_t account_id,
                               const char *uuid, int64_t t, const void *p,
                               size_t n, struct qm_error *err)
{
	struct draft_ref r;
	char k[48], v[32];
	long long have = 0;
	int64_t id = 0;
	enum qm_err rc;

	key_of_uuid(uuid, k, sizeof(k));
	client_acct_setting(c, 0, k, v, sizeof(v));
	if (v[0] && qm_parse_ll(v, 1, INT64_MAX, &have, NULL) == QM_OK &&
	    ref_get(c, have, &r) && r.account == account_id) {
		if (r.time >= t)
			return QM_OK; /* this home has it, or a newer one */
		id = have;
	}
	rc = qm_store_draft_put(c->store, account_id, &id, p, n, err);
	if (rc)
		return rc;
	memset(&r, 0, sizeof(r));
	r.account = account_id;
	qm_strlcpy(r.uuid, uuid, sizeof(r.uuid));
	r.time = t;
	return ref_put(c, id, &r, err);
}
