/* SPDX-License-Identifier: MIT */
/*
 * Address fields of the JSON API (issue 16): To, Cc and Bcc as a person
 * types them. POST /api/addresses/parse says how the engine reads a field
 * (qm_client_parse_addrs: names, quoted names, groups, commas or
 * semicolons) and which entries are no address; the send, levels and
 * draft requests take each list as one such string or as an array whose
 * elements are read the same way, and refuse the first entry that is no
 * address, naming it and the field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "private.h"

#define ADDR_LIST_MAX (64u * 1024u) /* one field as typed */

/* The field's name as the page labels it ("To"), for messages. */
static const char *field_label(const char *key)
{
	if (!strcmp(key, "to"))
		return "To";
	if (!strcmp(key, "cc"))
		return "Cc";
	if (!strcmp(key, "bcc"))
		return "Bcc";
	return key;
}

/* Reads one typed string into entries (recipient entries for the engine)
 * and bad (what is no address); -1 when replied with an error. */
static int read_list(struct web_req *r, const char *s, json_t *entries,
                     json_t *bad)
{
	struct qm_client_addr_list l;
	struct qm_error e;
	int ret = 0;

	qm_error_clear(&e);
	if (qm_client_parse_addrs(s, &l, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return -1;
	}
	for (size_t i = 0; i < l.n && !ret; i++) {
		char one[QM_STORE_ADDRMAX + 600];

		if (qm_client_addr_format(l.v[i].name, l.v[i].address, one,
		                          sizeof(one), &e) != QM_OK)
			ret = json_array_append_new(bad,
			                            web_jstr(l.v[i].address));
		else
			ret = json_array_append_new(entries, web_jstr(one));
	}
	for (size_t i = 0; i < l.ninvalid && !ret; i++)
		ret = json_array_append_new(bad, web_jstr(l.invalid[i]));
	qm_client_addr_list_clear(&l);
	if (ret) {
		web_reply_error(r, 500, "internal", "out of memory");
		return -1;
	}
	return 0;
}

int web_get_addrs(struct web_req *r, json_t *o, const char *key, size_t max,
                  json_t **out)
{
	json_t *v = json_object_get(o, key), *e, *entries, *bad;
	size_t i;
	int ret = -1;

	if (!v || json_is_null(v))
		return 0;
	if (!(json_is_array(v) && json_array_size(v) <= max) &&
	    !(json_is_string(v) && json_string_length(v) <= ADDR_LIST_MAX)) {
		web_reply_error(r, 400, "bad_request",
		                "The field \"%s\" must be one string or a list "
		                "of at most %zu addresses.",
		                key, max);
		return -1;
	}
	entries = json_array();
	bad = json_array();
	if (!entries || !bad) {
		web_reply_error(r, 500, "internal", "out of memory");
		goto out;
	}
	if (json_is_string(v)) {
		if (read_list(r, json_string_value(v), entries, bad) < 0)
			goto out;
	} else {
		json_array_foreach(v, i, e)
		{
			if (!json_is_string(e) ||
			    json_string_length(e) > ADDR_LIST_MAX) {
				web_reply_error(r, 400, "bad_request",
				                "The field \"%s\" must hold "
				                "addresses as strings.",
				                key);
				goto out;
			}
			if (read_list(r, json_string_value(e), entries, bad) <
			    0)
				goto out;
		}
	}
	if (json_array_size(bad) > 0) {
		const char *first = json_string_value(json_array_get(bad, 0));
		char msg[QM_ERR_MSGMAX];
		size_t more = json_array_size(bad) - 1;

		if (more)
			snprintf(msg, sizeof(msg),
			         "\"%.300s\" in %s is not an email address "
			         "(and %zu more).",
			         first, field_label(key), more);
		else
			snprintf(msg, sizeof(msg),
			         "\"%.300s\" in %s is not an email address.",
			         first, field_label(key));
		web_reply_json(r, 400,
		               json_pack("{s:{s:s,s:s,s:s,s:O}}", "error",
		                         "code", "bad_request", "message", msg,
		                         "field", key, "invalid", bad));
		goto out;
	}
	if (json_array_size(entries) > max) {
		web_reply_error(r, 400, "bad_request",
		                "%s holds more than %zu addresses.",
		                field_label(key), max);
		goto out;
	}
	/* the request now holds the entries the engine takes; v goes */
	if (json_object_set(o, key, entries) != 0) {
		web_reply_error(r, 500, "internal", "out of memory");
		goto out;
	}
	*out = json_object_get(o, key);
	ret = 1;
out:
	json_decref(entries);
	json_decref(bad);
	return ret;
}

/* POST /api/addresses/parse {"list": "..."}: the mailboxes and what is no
 * address, as the send request would read the same text. */
void web_api_addresses_parse(struct web_req *r)
{
	struct qm_client_addr_list l;
	struct qm_error e;
	json_t *j = web_body_json(r), *addrs, *bad;
	const char *list = NULL;

	if (!j)
		return;
	if (web_get_str(r, j, "list", 1, ADDR_LIST_MAX, &list) < 0) {
		json_decref(j);
		return;
	}
	qm_error_clear(&e);
	if (qm_client_parse_addrs(list, &l, &e) != QM_OK) {
		json_decref(j);
		web_reply_qm_error(r, &e);
		return;
	}
	json_decref(j);
	addrs = json_array();
	bad = json_array();
	for (size_t i = 0; i < l.n && addrs; i++) {
		if (json_array_append_new(
		        addrs,
		        json_pack("{s:o,s:o}", "name", web_jstr(l.v[i].name),
		                  "address", web_jstr(l.v[i].address)))) {
			json_decref(addrs);
			addrs = NULL;
		}
	}
	for (size_t i = 0; i < l.ninvalid && bad; i++) {
		if (json_array_append_new(bad, web_jstr(l.invalid[i]))) {
			json_decref(bad);
			bad = NULL;
		}
	}
	qm_client_addr_list_clear(&l);
	if (!addrs || !bad) {
		json_decref(addrs);
		json_decref(bad);
		web_reply_json(r, 500, NULL);
		return;
	}
	web_reply_json(
	    r, 200, json_pack("{s:o,s:o}", "addresses", addrs, "invalid", bad));
}
