/* SPDX-License-Identifier: MIT */
/*
 * The page's first document (docs/WEB.md "First paint"): index.html with,
 * for an unlocked session, a JSON data block holding what the page would
 * otherwise ask for before showing anything (the session's state as GET
 * /api/state answers it, and the first inbox page as GET /api/messages
 * answers it), so the inbox's rows are drawn as soon as the scripts run,
 * without waiting for another request. The data block is no script (the
 * CSP allows none inline) and its text is escaped so that mail content
 * cannot end it.
 */
#include <stdlib.h>
#include <string.h>

#include "private.h"

/* The inbox page the document carries: what the page asks first. */
#define BOOT_FOLDER "INBOX"
#define BOOT_LIMIT  50

/* text, the JSON text of a data block, escaped for an HTML script element
 * ('<', '>', '&' as \u escapes, so no "</script>" or "<!--" can form),
 * malloc'd; NULL when out of memory. */
static char *json_for_html(const char *text)
{
	size_t n = 0, i, k = 0;
	char *out;

	for (i = 0; text[i]; i++)
		n += (text[i] == '<' || text[i] == '>' || text[i] == '&') ? 6
		                                                          : 1;
	out = malloc(n + 1);
	if (!out)
		return NULL;
	/* In JSON text these three bytes occur only inside strings, where
	 * \u003c and the others mean the same character. */
	for (i = 0; text[i]; i++) {
		const char *esc = text[i] == '<'   ? "\\u003c"
		                  : text[i] == '>' ? "\\u003e"
		                  : text[i] == '&' ? "\\u0026"
		                                   : NULL;
		if (esc) {
			memcpy(out + k, esc, 6);
			k += 6;
		} else {
			out[k++] = text[i];
		}
	}
	out[k] = '\0';
	return out;
}

/* The boot data of r's session as escaped JSON text (malloc'd), or NULL:
 * no session, a locked one, or out of memory (the page then asks). */
static char *boot_text(struct web_req *r)
{
	struct qm_web_server *srv = r->srv;
	char csrf[WEB_ID_HEX], acct_s[24];
	json_t *list = NULL, *o = NULL;
	char *text = NULL, *safe = NULL;
	int64_t acct = 0;
	int unlocked = 0;

	if (!r->session)
		return NULL;
	/* the reader, as the list API: not kept waiting by a sync */
	pthread_mutex_lock(&srv->reader_lock);
	if (srv->reader) {
		pthread_mutex_lock(&srv->lock);
		unlocked = r->session->used && r->session->unlocked;
		if (unlocked)
			qm_strlcpy(csrf, r->session->csrf, sizeof(csrf));
		pthread_mutex_unlock(&srv->lock);
	}
	if (unlocked)
		list = web_list_first(srv, srv->reader, BOOT_FOLDER, BOOT_LIMIT,
		                      &acct);
	pthread_mutex_unlock(&srv->reader_lock);
	if (!unlocked)
		return NULL;
	o = json_pack("{s:o}", "state", web_state_json(srv, 1, csrf));
	qm_wipe(csrf, sizeof(csrf));
	if (o && list) {
		snprintf(acct_s, sizeof(acct_s), "%lld", (long long)acct);
		json_object_set_new(
		    o, "inbox",
		    json_pack("{s:s,s:s,s:i,s:O}", "account", acct_s, "folder",
		              BOOT_FOLDER, "limit", BOOT_LIMIT, "page", list));
	}
	json_decref(list);
	if (o)
		text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text) {
		safe = json_for_html(text);
		/* the CSRF token and mail subjects: wiped as every reply is */
		qm_wipe(text, strlen(text));
		free(text);
	}
	return safe;
}

void web_page_reply(struct web_req *r, const struct web_asset *page)
{
	static const char tag_open[] =
	    "<script type=\"application/json\" id=\"boot\">";
	static const char tag_close[] = "</script>\n";
	const char *end = NULL, *p = (const char *)page->data;
	char *boot = boot_text(r);
	size_t at = page->len, blen = boot ? strlen(boot) : 0, n;

	/* before </body>: the last one of the page */
	for (size_t i = 0; i + 7 <= page->len; i++)
		if (memcmp(p + i, "</body>", 7) == 0)
			end = p + i;
	if (end)
		at = (size_t)(end - p);
	n = page->len +
	    (boot ? sizeof(tag_open) - 1 + blen + sizeof(tag_close) - 1 : 0);
	r->reply.raw = malloc(n ? n : 1);
	if (!r->reply.raw) {
		if (boot) {
			qm_wipe(boot, blen);
			free(boot);
		}
		web_reply_error(r, 500, "internal", "out of memory");
		return;
	}
	memcpy(r->reply.raw, p, at);
	n = at;
	if (boot) {
		memcpy(r->reply.raw + n, tag_open, sizeof(tag_open) - 1);
		n += sizeof(tag_open) - 1;
		memcpy(r->reply.raw + n, boot, blen);
		n += blen;
		memcpy(r->reply.raw + n, tag_close, sizeof(tag_close) - 1);
		n += sizeof(tag_close) - 1;
		qm_wipe(boot, blen);
		free(boot);
		/* the session's data: never kept by the browser's cache */
		r->reply.cache = "no-store";
	}
	memcpy(r->reply.raw + n, p + at, page->len - at);
	n += page->len - at;
	r->reply.raw_len = n;
	r->reply.status = 200;
	qm_strlcpy(r->reply.ctype, page->ctype, sizeof(r->reply.ctype));
}
