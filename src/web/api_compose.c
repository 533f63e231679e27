/* SPDX-License-Identifier: MIT */
/*
 * Compose helpers of the JSON API (issue 15): the identities of an account
 * (GET /api/identities, PUT and DELETE /api/identities/ADDR) over the
 * engine's, and the HTML of the rich-text editor made safe on this side
 * before it is sent: the page's HTML is never trusted, it goes through the
 * reader's sanitiser (no remote images) and the text part is derived from
 * what the sanitiser kept.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "private.h"

enum qm_err qm_web_compose_html(const char *html, size_t len,
                                struct qm_buf *clean, struct qm_buf *text,
                                struct qm_error *err)
{
	enum qm_err rc;

	rc = qm_web_html_sanitize(html, len, 0, clean, err);
	if (!rc && text)
		rc = qm_client_html_text(
		    clean->data ? (const char *)clean->data : "", err, text);
	return rc;
}

static json_t *identity_json(const struct qm_store_identity *id, int own)
{
	return json_pack("{s:o,s:o,s:o,s:b,s:b}", "address",
	                 web_jstr(id->address), "name", web_jstr(id->name),
	                 "signature", web_jstr(id->signature), "default",
	                 id->is_default, "own", own);
}

void web_api_identities_list(struct web_req *r)
{
	struct qm_store_identity *v = NULL;
	struct qm_error e;
	int64_t acct = web_req_account(r);
	size_t n = 0;
	json_t *arr;

	if (acct < 0)
		return;
	if (qm_client_identity_list(web_client(r), acct, &v, &n, &e)) {
		web_reply_qm_error(r, &e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n && arr; i++)
		json_array_append_new(arr, identity_json(&v[i], i == 0));
	free(v);
	web_reply_json(r, 200,
	               arr ? json_pack("{s:o}", "identities", arr) : NULL);
}

void web_api_identities_put(struct web_req *r)
{
	struct qm_store_identity id;
	const char *name = NULL, *sig = NULL;
	struct qm_error e;
	int64_t acct = web_req_account(r);
	int def = 0;
	json_t *j;

	if (acct < 0)
		return;
	if (!web_addr_ok(r->args[0])) {
		web_reply_error(r, 400, "bad_request",
		                "\"%s\" is not an e-mail address.", r->args[0]);
		return;
	}
	memset(&id, 0, sizeof(id));
	/* what the request leaves out stays as it was */
	if (qm_client_identity_get(web_client(r), acct, r->args[0], &id,
	                           NULL) != QM_OK)
		memset(&id, 0, sizeof(id));
	qm_strlcpy(id.address, r->args[0], sizeof(id.address));
	j = web_body_json(r);
	if (!j)
		return;
	/* a signature has lines: read as multi-line text (a bound above
	 * 4096), then held to its own bound */
	if (web_get_str(r, j, "name", 0, sizeof(id.name) - 1, &name) < 0 ||
	    web_get_str(r, j, "signature", 0, 8192, &sig) < 0 ||
	    web_get_bool(r, j, "default", &def) < 0)
		goto out;
	if (sig && strlen(sig) >= sizeof(id.signature)) {
		web_reply_error(
		    r, 400, "bad_request",
		    "The signature is too long (at most %zu bytes).",
		    sizeof(id.signature) - 1);
		goto out;
	}
	if (name)
		qm_strlcpy(id.name, name, sizeof(id.name));
	if (sig)
		qm_strlcpy(id.signature, sig, sizeof(id.signature));
	id.is_default = def == 1;
	if (qm_client_identity_put(web_client(r), acct, &id, &e) ||
	    qm_client_identity_get(web_client(r), acct, id.address, &id, &e)) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	web_reply_json(r, 200, identity_json(&id, 0));
out:
	json_decref(j);
}

void web_api_identities_delete(struct web_req *r)
{
	struct qm_error e;
	int64_t acct = web_req_account(r);

	if (acct < 0)
		return;
	if (qm_client_identity_delete(web_client(r), acct, r->args[0], &e)) {
		web_reply_qm_error(r, &e);
		return;
	}
	web_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}
