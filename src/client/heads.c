/* SPDX-License-Identifier: MIT */
/*
 * What threading and sorting read of listed messages (thread.c's struct
 * qm_client_msg_head), for an interface that shows a list as threads: the
 * index gives subject, sender, date, size and the read mark; the reply
 * headers (In-Reply-To, References) are not in the index, so they are read
 * from each message's plaintext in the vault (for a QMail message the
 * inner, authenticated header), no further than the first
 * QM_THREAD_SCANMAX bytes of a field.
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The header block of a message: up to the first blank line. */
static size_t header_end(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] == '\n' && p[i + 1] == '\n')
			return i + 1;
		if (p[i] == '\n' && p[i + 1] == '\r' && i + 2 < n &&
		    p[i + 2] == '\n')
			return i + 1;
	}
	return n;
}

/* The unfolded value of the first header field name in p[0..n), malloc'd
 * ("" when absent); NULL only when out of memory. */
static char *field(const unsigned char *p, size_t n, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < n;) {
		size_t eol = i;

		while (eol < n && p[eol] != '\n')
			eol++;
		if (eol - i > nl && p[i + nl] == ':' &&
		    strncasecmp((const char *)p + i, name, nl) == 0) {
			char *v = malloc(QM_THREAD_SCANMAX + 1);
			size_t k = 0, j = i + nl + 1;

			if (!v)
				return NULL;
			while (j < n && (p[j] == ' ' || p[j] == '\t'))
				j++;
			/* the value and its continuation lines, unfolded */
			while (j < n && k < QM_THREAD_SCANMAX) {
				if (p[j] == '\r') {
					j++;
					continue;
				}
				if (p[j] == '\n') {
					if (j + 1 >= n || (p[j + 1] != ' ' &&
					                   p[j + 1] != '\t'))
						break;
					j++;
					continue;
				}
				v[k++] = p[j] == '\t' ? ' ' : (char)p[j];
				j++;
			}
			v[k] = '\0';
			{
				/* kept at its length: a list holds many */
				char *r = realloc(v, k + 1);

				return r ? r : v;
			}
		}
		i = eol + 1;
	}
	return strdup("");
}

void qm_client_heads_free(struct qm_client_heads **h)
{
	if (!h || !*h)
		return;
	for (size_t i = 0; i < (*h)->n; i++) {
		free((char *)(uintptr_t)(*h)->v[i].in_reply_to);
		free((char *)(uintptr_t)(*h)->v[i].references);
	}
	free((*h)->v);
	free(*h);
	*h = NULL;
}

/* The reply headers of message id from its plaintext, into m. */
static enum qm_err reply_fields(struct qm_client *c, int64_t id,
                                struct qm_client_msg_head *m,
                                struct qm_error *err)
{
	struct qm_buf b;
	size_t end;
	enum qm_err rc;

	qm_buf_init_secure(&b, QM_CLIENT_MAXMSG);
	rc = qm_store_msg_body(c->store, id, &b, NULL);
	if (rc) {
		qm_buf_free(&b);
		/* no plaintext (tampered, waiting, ...): no reply headers */
		m->in_reply_to = strdup("");
		m->references = strdup("");
	} else {
		end = header_end(b.data, b.len);
		m->in_reply_to = field(b.data, end, "In-Reply-To");
		m->references = field(b.data, end, "References");
		qm_buf_free(&b);
	}
	if (!m->in_reply_to || !m->references)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	return QM_OK;
}

enum qm_err qm_client_msg_heads(struct qm_client *c,
                                const struct qm_store_msglist *l,
                                struct qm_client_heads **out,
                                struct qm_error *err)
{
	struct qm_client_heads *h;
	enum qm_err rc;

	rc =
	    client_need_unlocked(c, "reading the messages' reply headers", err);
	if (rc)
		return rc;
	h = calloc(1, sizeof(*h));
	if (h)
		h->v = calloc(l->n ? l->n : 1, sizeof(*h->v));
	if (!h || !h->v) {
		free(h);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	for (size_t i = 0; !rc && i < l->n; i++) {
		/* oldest first: the order they arrived in */
		const struct qm_store_msg *m = &l->items[l->n - 1 - i];
		struct qm_client_msg_head *d = &h->v[i];

		h->n++;
		d->id = m->id;
		d->message_id = m->message_id;
		d->subject = m->subject;
		d->from = m->from_addr;
		d->date = m->date;
		d->size = m->size;
		d->unread = !(m->flags & QM_FLAG_SEEN);
		rc = reply_fields(c, m->id, d, err);
	}
	if (rc) {
		qm_client_heads_free(&h);
		return rc;
	}
	*out = h;
	return QM_OK;
}
