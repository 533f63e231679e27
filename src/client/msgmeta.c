/* SPDX-License-Identifier: MIT */
/*
 * The client's security record of one received message, kept sealed in
 * the vault with it (qm_store_msg_meta_*), so that what the reader shows
 * about a message (who sent it, the authenticated headers, the signing
 * key, why and until when it waits) cannot be edited on disk unnoticed.
 * On disk it is "key=value" lines; values are escaped (\\ and \n), and
 * unknown keys are skipped so that a later QMail can add some.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void client_msg_meta_clear(struct msg_meta *m)
{
	char **strs[5] = {&m->from, &m->to, &m->cc, &m->date, &m->mid};

	for (size_t i = 0; i < 5; i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
	memset(m, 0, sizeof(*m));
}

/* Appends "key=value\n" with value escaped; nothing for a NULL value. */
static enum qm_err put(struct qm_buf *b, const char *key, const char *v,
                       struct qm_error *err)
{
	enum qm_err rc;

	if (!v)
		return QM_OK;
	rc = qm_buf_appendf(b, err, "%s=", key);
	for (const char *p = v; !rc && *p; p++) {
		if (*p == '\\')
			rc = qm_buf_append_str(b, "\\\\", err);
		else if (*p == '\n')
			rc = qm_buf_append_str(b, "\\n", err);
		else
			rc = qm_buf_append_byte(b, (unsigned char)*p, err);
	}
	return rc ? rc : qm_buf_append_byte(b, '\n', err);
}

enum qm_err client_msg_meta_encode(const struct msg_meta *m, struct qm_buf *out,
                                   struct qm_error *err)
{
	char num[64];
	enum qm_err rc;

	rc = put(out, "v", "1", err);
	if (!rc && m->sae[0])
		rc = put(out, "sae", m->sae, err);
	if (!rc && m->owner[0])
		rc = put(out, "owner", m->owner, err);
	if (!rc)
		rc = put(out, "from", m->from, err);
	if (!rc)
		rc = put(out, "to", m->to, err);
	if (!rc)
		rc = put(out, "cc", m->cc, err);
	if (!rc)
		rc = put(out, "date", m->date, err);
	if (!rc)
		rc = put(out, "mid", m->mid, err);
	if (!rc && m->signer[0])
		rc = put(out, "signer", m->signer, err);
	if (!rc && m->signer_addr[0])
		rc = put(out, "signer_addr", m->signer_addr, err);
	if (!rc && m->path.relayed) {
		snprintf(num, sizeof(num), "%d %d", m->path.hops,
		         m->path.trusted);
		rc = put(out, "relay", num, err);
		if (!rc)
			rc = put(out, "relay_src", m->path.source, err);
	}
	if (!rc && m->wait_kind) {
		snprintf(num, sizeof(num), "%d %d %lld", m->wait_kind, m->tries,
		         (long long)m->next_at);
		rc = put(out, "wait", num, err);
	}
	return rc;
}

/* Copies the escaped value [p, e) into a new string. */
static char *unescape(const char *p, const char *e)
{
	char *s = malloc((size_t)(e - p) + 1), *o = s;

	if (!s)
		return NULL;
	for (; p < e; p++) {
		if (*p == '\\' && p + 1 < e) {
			p++;
			*o++ = *p == 'n' ? '\n' : *p;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return s;
}

/*
 * Calls fn(arg, key, value) for each "key=value" line of [p, p + n), value
 * unescaped and malloc'd: fn takes it (sets *value to NULL) or it is
 * freed. Lines without "=" or with a key longer than 15 bytes are skipped.
 */
static enum qm_err kv_each(const void *data, size_t n,
                           void (*fn)(void *arg, const char *key, char **v),
                           void *arg, struct qm_error *err)
{
	const char *p = data, *end = p + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *eq = memchr(p, '=', (size_t)(le - p));
		char key[16], *v;
		size_t kl;

		if (eq && (kl = (size_t)(eq - p)) < sizeof(key)) {
			memcpy(key, p, kl);
			key[kl] = '\0';
			v = unescape(eq + 1, le);
			if (!v)
				return qm_error_set(err, QM_ERR_NOMEM,
				                    "out of memory");
			fn(arg, key, &v);
			free(v);
		}
		p = le + 1;
	}
	return QM_OK;
}

/* The slot of a bound header value named key (from, to, cc, date, mid). */
static char **hdr_slot(const char *key, char **from, char **to, char **cc,
                       char **date, char **mid)
{
	return strcmp(key, "from") == 0   ? from
	       : strcmp(key, "to") == 0   ? to
	       : strcmp(key, "cc") == 0   ? cc
	       : strcmp(key, "date") == 0 ? date
	       : strcmp(key, "mid") == 0  ? mid
	                                  : NULL;
}

/* Takes the first value of each header key. */
static void take_hdr(char **slot, char **v)
{
	if (slot && !*slot) {
		*slot = *v;
		*v = NULL;
	}
}

static void meta_field(void *arg, const char *key, char **v)
{
	struct msg_meta *m = arg;
	long long nx = 0;
	int k = 0, t = 0;

	if (strcmp(key, "sae") == 0)
		qm_strlcpy(m->sae, *v, sizeof(m->sae));
	else if (strcmp(key, "owner") == 0)
		qm_strlcpy(m->owner, *v, sizeof(m->owner));
	else if (strcmp(key, "signer") == 0)
		qm_strlcpy(m->signer, *v, sizeof(m->signer));
	else if (strcmp(key, "signer_addr") == 0)
		qm_strlcpy(m->signer_addr, *v, sizeof(m->signer_addr));
	else if (strcmp(key, "relay") == 0) {
		if (sscanf(*v, "%d %d", &k, &t) == 2 && k > 0 &&
		    k <= QM_KME_PATH_MAXHOPS && t >= 0 && t < k) {
			m->path.relayed = 1;
			m->path.hops = k;
			m->path.trusted = t;
		}
	} else if (strcmp(key, "relay_src") == 0)
		qm_strlcpy(m->path.source, *v, sizeof(m->path.source));
	else if (strcmp(key, "wait") == 0) {
		if (sscanf(*v, "%d %d %lld", &k, &t, &nx) == 3) {
			m->wait_kind = k;
			m->tries = t;
			m->next_at = nx;
		}
	} else {
		take_hdr(
		    hdr_slot(key, &m->from, &m->to, &m->cc, &m->date, &m->mid),
		    v);
	}
}

enum qm_err client_msg_meta_decode(const void *data, size_t n,
                                   struct msg_meta *m, struct qm_error *err)
{
	enum qm_err rc;

	memset(m, 0, sizeof(*m));
	rc = kv_each(data, n, meta_field, m, err);
	if (rc)
		client_msg_meta_clear(m);
	return rc;
}

enum qm_err client_msg_meta_load(struct qm_client *c, int64_t id,
                                 struct msg_meta *m, struct qm_error *err)
{
	struct qm_buf b;
	enum qm_err rc;

	memset(m, 0, sizeof(*m));
	qm_buf_init_secure(&b, 1 << 20);
	rc = qm_store_msg_meta_get(c->store, id, &b, err);
	if (!rc)
		rc = client_msg_meta_decode(b.data, b.len, m, err);
	qm_buf_free(&b);
	return rc;
}

/* ------------------------------------------------ the outbox's record */

void client_outbox_rec_clear(struct outbox_rec *r)
{
	char **strs[5] = {&r->h.from, &r->h.to, &r->h.cc, &r->h.date,
	                  &r->h.message_id};

	for (size_t i = 0; i < 5; i++)
		free(*strs[i]);
	free(r->rcpts);
	memset(r, 0, sizeof(*r));
}

enum qm_err client_outbox_rec_encode(int level, const struct qm_mail_hdrs *h,
                                     const char *rcpts, struct qm_buf *out,
                                     struct qm_error *err)
{
	char num[16];
	enum qm_err rc;

	snprintf(num, sizeof(num), "%d", level);
	rc = put(out, "v", "1", err);
	if (!rc)
		rc = put(out, "level", num, err);
	if (!rc)
		rc = put(out, "from", h->from ? h->from : "", err);
	if (!rc)
		rc = put(out, "to", h->to ? h->to : "", err);
	if (!rc)
		rc = put(out, "cc", h->cc ? h->cc : "", err);
	if (!rc)
		rc = put(out, "date", h->date ? h->date : "", err);
	if (!rc)
		rc = put(out, "mid", h->message_id ? h->message_id : "", err);
	if (!rc && rcpts)
		rc = put(out, "rcpts", rcpts, err);
	return rc;
}

static void rec_field(void *arg, const char *key, char **v)
{
	struct outbox_rec *r = arg;
	long long x = 0;

	if (strcmp(key, "level") == 0) {
		if (!r->has_level && qm_parse_ll(*v, 0, 4, &x, NULL) == QM_OK) {
			r->level = (int)x;
			r->has_level = 1;
		}
		return;
	}
	if (strcmp(key, "rcpts") == 0) {
		take_hdr(&r->rcpts, v);
		return;
	}
	take_hdr(hdr_slot(key, &r->h.from, &r->h.to, &r->h.cc, &r->h.date,
	                  &r->h.message_id),
	         v);
}

enum qm_err client_outbox_rec_decode(const void *p, size_t n,
                                     struct outbox_rec *r, struct qm_error *err)
{
	enum qm_err rc;

	memset(r, 0, sizeof(*r));
	rc = kv_each(p, n, rec_field, r, err);
	if (!rc && (!r->has_level || !r->h.from || !r->h.to || !r->h.cc ||
	            !r->h.date || !r->h.message_id))
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "the sealed record of the outbox entry lacks "
		                  "its level or a header value");
	if (rc)
		client_outbox_rec_clear(r);
	return rc;
}
