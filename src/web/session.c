/* SPDX-License-Identifier: MIT */
/*
 * Sessions of the web GUI: a fixed table of at most WEB_MAX_SESSIONS, each
 * with a 256-bit random ID (the HttpOnly cookie), its own 256-bit CSRF
 * token, idle and absolute expiry, and the attachments uploaded in it (kept
 * in secure memory, wiped when the session ends). Callers hold the server
 * lock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "private.h"

static void hex_of(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void web_session_id_hex(const struct web_session *s, char *out)
{
	hex_of(s->id, WEB_ID_BYTES, out);
}

struct web_session *web_session_find(struct qm_web_server *srv,
                                     const char *cookie_hex)
{
	unsigned char id[WEB_ID_BYTES];
	struct web_session *found = NULL;
	size_t i;

	if (strlen(cookie_hex) != WEB_ID_BYTES * 2)
		return NULL;
	for (i = 0; i < WEB_ID_BYTES; i++) {
		int hi = unhex(cookie_hex[2 * i]), lo = unhex(cookie_hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return NULL;
		id[i] = (unsigned char)(hi << 4 | lo);
	}
	/* Compare against every slot in constant time per slot. */
	for (i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct web_session *s = &srv->sessions[i];
		if (qm_ct_eq(s->id, id, WEB_ID_BYTES) == 0 && s->used)
			found = s;
	}
	qm_wipe(id, sizeof(id));
	return found;
}

static void fresh_ids(struct web_session *s)
{
	unsigned char csrf[WEB_ID_BYTES];

	qm_random(s->id, WEB_ID_BYTES);
	qm_random(csrf, sizeof(csrf));
	hex_of(csrf, sizeof(csrf), s->csrf);
	qm_wipe(csrf, sizeof(csrf));
}

struct web_session *web_session_new(struct qm_web_server *srv)
{
	struct web_session *s = NULL;
	size_t i;

	for (i = 0; i < WEB_MAX_SESSIONS && !s; i++)
		if (!srv->sessions[i].used)
			s = &srv->sessions[i];
	if (!s) {
		/* Full: the least recently used one goes, locked ones first. */
		for (i = 0; i < WEB_MAX_SESSIONS; i++) {
			struct web_session *c = &srv->sessions[i];
			if (!s || (c->unlocked < s->unlocked) ||
			    (c->unlocked == s->unlocked && c->last < s->last))
				s = c;
		}
		web_session_end(s);
	}
	s->used = 1;
	s->unlocked = 0;
	s->created = s->last = qm_now();
	fresh_ids(s);
	return s;
}

void web_session_rotate(struct web_session *s)
{
	fresh_ids(s);
	s->created = s->last = qm_now();
}

void web_upload_drop(struct web_session *s, struct web_upload *u)
{
	size_t i;

	for (i = 0; i < WEB_MAX_UPLOADS; i++)
		if (s->uploads[i] == u)
			s->uploads[i] = NULL;
	qm_buf_free(&u->data);
	qm_wipe(u, sizeof(*u));
	free(u);
}

struct web_upload *web_upload_find(struct web_session *s, const char *id)
{
	size_t i;

	for (i = 0; i < WEB_MAX_UPLOADS; i++)
		if (s->uploads[i] && strcmp(s->uploads[i]->id, id) == 0)
			return s->uploads[i];
	return NULL;
}

void web_session_end(struct web_session *s)
{
	size_t i;

	for (i = 0; i < WEB_MAX_UPLOADS; i++)
		if (s->uploads[i])
			web_upload_drop(s, s->uploads[i]);
	qm_wipe(s, sizeof(*s));
}

void web_session_end_all(struct qm_web_server *srv)
{
	size_t i;

	for (i = 0; i < WEB_MAX_SESSIONS; i++)
		if (srv->sessions[i].used)
			web_session_end(&srv->sessions[i]);
}

int web_session_expire(struct qm_web_server *srv)
{
	int64_t now = qm_now();
	int ended_unlocked = 0, left_unlocked = 0;
	size_t i;

	for (i = 0; i < WEB_MAX_SESSIONS; i++) {
		struct web_session *s = &srv->sessions[i];
		if (!s->used)
			continue;
		if (now - s->last > (int64_t)srv->cfg.idle_timeout_s ||
		    now - s->created > WEB_SESSION_MAX_AGE_S) {
			ended_unlocked |= s->unlocked;
			web_session_end(s);
		} else if (s->unlocked) {
			left_unlocked = 1;
		}
	}
	return ended_unlocked && !left_unlocked;
}

void web_event_add(struct qm_web_server *srv, const char *type,
                   const char *id, const char *fmt, ...)
{
	struct web_event *e;
	va_list ap;

	srv->event_seq++;
	e = &srv->events[srv->event_seq % (long)(sizeof(srv->events) /
	                                         sizeof(srv->events[0]))];
	e->seq = srv->event_seq;
	qm_strlcpy(e->type, type, sizeof(e->type));
	qm_strlcpy(e->id, id ? id : "", sizeof(e->id));
	va_start(ap, fmt);
	qm_log_format(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
}
