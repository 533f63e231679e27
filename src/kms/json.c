/* SPDX-License-Identifier: MIT */
/*
 * Strict, bounded parsers of the ETSI GS QKD 014 replies (Status, Key
 * container, Error) over jansson. Known members must have the standard's
 * type, unknown ones are ignored, duplicates are rejected. Key strings are
 * decoded into secure memory and wiped in place; jansson and libcurl are set
 * to wipe whatever they free, so no copy of a key's base64 lingers on the
 * heap.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "private.h"

/* ---------------------------------------------------- wiping allocators */

static void wipe_free(void *p)
{
	if (!p)
		return;
	qm_wipe(p, malloc_usable_size(p));
	free(p);
}

static void *wipe_realloc(void *p, size_t n)
{
	size_t old;
	void *q;

	if (!p)
		return malloc(n);
	if (n == 0) {
		wipe_free(p);
		return NULL;
	}
	old = malloc_usable_size(p);
	q = malloc(n);
	if (!q)
		return NULL;
	memcpy(q, p, old < n ? old : n);
	wipe_free(p);
	return q;
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
	json_malloc_t m;
	json_free_t f;

	/* Both are plain malloc underneath, so memory from either side may be
	 * freed by the other; only a foreign allocator is left alone. */
	json_get_alloc_funcs(&m, &f);
	if (f == free)
		json_set_alloc_funcs(malloc, wipe_free);
	/* A no-op (but for a counter) when libcurl was initialised before. */
	(void)curl_global_init_mem(CURL_GLOBAL_DEFAULT, malloc, wipe_free,
	                           wipe_realloc, strdup, calloc);
}

void qm_kms_global_init(void)
{
	pthread_once(&global_once, global_init_once);
}

/* ---------------------------------------------------------------- helpers */

/* Wipes a jansson string's bytes in place (they carried a key). */
static void json_string_wipe(json_t *v)
{
	const char *s = json_string_value(v);

	if (s)
		qm_wipe((void *)(uintptr_t)s, json_string_length(v));
}

static enum qm_err load(const char *json, size_t len, size_t max,
                        size_t depth, const char *what, json_t **out,
                        struct qm_error *err)
{
	json_error_t je;
	json_t *root;

	if (!json)
		return qm_error_set(err, QM_ERR_PARSE, "empty %s reply", what);
	if (len > max)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "%s reply of %zu bytes is larger than the "
		                    "limit of %zu bytes",
		                    what, len, max);
	/* before jansson recurses into a hostile "[[[[..." */
	if (qm_json_depth_check(json, len, depth ? depth : QM_KMS_JSON_DEPTH_DEFAULT,
	                        err) != QM_OK)
		return qm_error_prefix(err, "%s reply from the KME: ", what);
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "malformed JSON in %s reply at line %d "
		                    "column %d: %s",
		                    what, je.line, je.column, je.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return qm_error_set(err, QM_ERR_PARSE,
		                    "%s reply is not a JSON object", what);
	}
	*out = root;
	return QM_OK;
}

/* An ID string from a reply: 1..QM_KMS_ID_MAX bytes, no control bytes. */
static int id_ok(const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);

	if (!s || n == 0 || n > QM_KMS_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

enum qm_err kms_id_check(const char *id, const char *what, struct qm_error *err)
{
	size_t n;

	if (!id || !*id)
		return qm_error_set(err, QM_ERR_INVAL, "%s is empty", what);
	n = strnlen(id, QM_KMS_ID_MAX + 1);
	if (n > QM_KMS_ID_MAX)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s is longer than %d bytes", what,
		                    QM_KMS_ID_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
			return qm_error_set(err, QM_ERR_INVAL,
			                    "%s contains a control character",
			                    what);
	return QM_OK;
}

static enum qm_err get_id(json_t *root, const char *name, char *dst,
                          size_t dstsize, struct qm_error *err)
{
	json_t *v = json_object_get(root, name);

	dst[0] = '\0';
	if (!v || json_is_null(v))
		return QM_OK;
	if (!json_is_string(v))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "Status member %s is not a string", name);
	if (!id_ok(v))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "Status member %s is empty, longer than %d "
		                    "bytes or holds control characters",
		                    name, QM_KMS_ID_MAX);
	qm_strlcpy(dst, json_string_value(v), dstsize);
	return QM_OK;
}

static enum qm_err get_count(json_t *root, const char *name, uint64_t *dst,
                             unsigned *present, unsigned flag,
                             struct qm_error *err)
{
	json_t *v = json_object_get(root, name);

	*dst = 0;
	if (!v || json_is_null(v))
		return QM_OK;
	if (!json_is_integer(v))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "Status member %s is not an integer", name);
	if (json_integer_value(v) < 0)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "Status member %s is negative", name);
	*dst = (uint64_t)json_integer_value(v);
	*present |= flag;
	return QM_OK;
}

/* ----------------------------------------------------------------- Status */

enum qm_err qm_kms_status_parse(const char *json, size_t len,
                                struct qm_kms_status *st, struct qm_error *err)
{
	return kms_status_parse(json, len, QM_KMS_JSON_DEPTH_DEFAULT, st, err);
}

enum qm_err kms_status_parse(const char *json, size_t len, size_t depth,
                             struct qm_kms_status *st, struct qm_error *err)
{
	struct qm_kms_status *s = NULL;
	json_t *root = NULL, *ext;
	char *dump = NULL;
	enum qm_err rc;

	rc = load(json, len, QM_KMS_SMALL_BODY_MAX, depth, "Status", &root,
	          err);
	if (rc)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = get_id(root, "source_KME_ID", s->source_kme_id,
	                 sizeof(s->source_kme_id), err)) ||
	    (rc = get_id(root, "target_KME_ID", s->target_kme_id,
	                 sizeof(s->target_kme_id), err)) ||
	    (rc = get_id(root, "master_SAE_ID", s->master_sae_id,
	                 sizeof(s->master_sae_id), err)) ||
	    (rc = get_id(root, "slave_SAE_ID", s->slave_sae_id,
	                 sizeof(s->slave_sae_id), err)) ||
	    (rc = get_count(root, "key_size", &s->key_size, &s->present,
	                    QM_KMS_HAS_KEY_SIZE, err)) ||
	    (rc = get_count(root, "stored_key_count", &s->stored_key_count,
	                    &s->present, QM_KMS_HAS_STORED_KEY_COUNT, err)) ||
	    (rc = get_count(root, "max_key_count", &s->max_key_count,
	                    &s->present, 0, err)) ||
	    (rc =
	         get_count(root, "max_key_per_request", &s->max_key_per_request,
	                   &s->present, QM_KMS_HAS_MAX_KEY_PER_REQUEST, err)) ||
	    (rc = get_count(root, "max_key_size", &s->max_key_size, &s->present,
	                    QM_KMS_HAS_MAX_KEY_SIZE, err)) ||
	    (rc = get_count(root, "min_key_size", &s->min_key_size, &s->present,
	                    0, err)) ||
	    (rc = get_count(root, "max_SAE_ID_count", &s->max_sae_id_count,
	                    &s->present, 0, err)))
		goto out;
	ext = json_object_get(root, "status_extension");
	if (ext && !json_is_null(ext)) {
		if (!json_is_object(ext)) {
			rc = qm_error_set(
			    err, QM_ERR_PARSE,
			    "Status member status_extension is not "
			    "an object");
			goto out;
		}
		dump = json_dumps(ext, JSON_COMPACT | JSON_SORT_KEYS);
		if (!dump) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (strlen(dump) < sizeof(s->extension))
			qm_strlcpy(s->extension, dump, sizeof(s->extension));
	}
	*st = *s;
out:
	free(dump);
	free(s);
	json_decref(root);
	return rc;
}

/* ---------------------------------------------------------- Key container */

static int ext_ok(const json_t *v)
{
	return !v || json_is_null(v) || json_is_object(v);
}

enum qm_err kms_keys_parse_into(struct qm_kms_keys *ks, const char *json,
                                size_t len, size_t expect_bytes, size_t depth,
                                struct qm_error *err)
{
	size_t first = ks->count, n, i;
	json_t *root = NULL, *keys, *k, *id, *key, *cext;
	int added_ext = 0;
	enum qm_err rc;

	rc = load(json, len, QM_KMS_BODY_MAX, depth, "Key container", &root,
	          err);
	if (rc)
		goto out;
	keys = json_object_get(root, "keys");
	if (!keys) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "Key container has no \"keys\" member");
		goto out;
	}
	if (!json_is_array(keys)) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "Key container member keys is not an array");
		goto out;
	}
	if (!ext_ok(json_object_get(root, "key_container_extension"))) {
		rc =
		    qm_error_set(err, QM_ERR_PARSE,
		                 "Key container member key_container_extension "
		                 "is not an object");
		goto out;
	}
	cext = json_object_get(root, "key_container_extension");
	if (json_is_object(cext) && json_object_size(cext)) {
		char *dump = json_dumps(cext, JSON_COMPACT | JSON_SORT_KEYS);

		if (!dump) {
			rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (strlen(dump) < QM_KMS_EXT_MAX)
			rc = kms_keys_ext_add(ks, dump, err);
		free(dump);
		if (rc)
			goto out;
		added_ext = 1;
	}
	n = json_array_size(keys);
	if (n == 0) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "Key container holds no keys");
		goto out;
	}
	if (n > QM_KMS_KEYS_MAX - ks->count) {
		rc = qm_error_set(err, QM_ERR_TOOBIG,
		                  "Key container holds %zu keys, more than the "
		                  "limit of %u",
		                  n, QM_KMS_KEYS_MAX);
		goto out;
	}
	json_array_foreach(keys, i, k)
	{
		if (!json_is_object(k)) {
			rc = qm_error_set(err, QM_ERR_PARSE,
			                  "keys[%zu] is not an object", i);
			goto out;
		}
		id = json_object_get(k, "key_ID");
		key = json_object_get(k, "key");
		if (!id || !json_is_string(id)) {
			rc = qm_error_set(err, QM_ERR_PARSE,
			                  "keys[%zu].key_ID is %s", i,
			                  id ? "not a string" : "missing");
			goto out;
		}
		if (!id_ok(id)) {
			rc = qm_error_set(
			    err, QM_ERR_PARSE,
			    "keys[%zu].key_ID is empty, longer than "
			    "%d bytes or holds control characters",
			    i, QM_KMS_ID_MAX);
			goto out;
		}
		if (!key || !json_is_string(key)) {
			rc = qm_error_set(err, QM_ERR_PARSE,
			                  "keys[%zu].key is %s", i,
			                  key ? "not a string" : "missing");
			goto out;
		}
		if (!ext_ok(json_object_get(k, "key_ID_extension")) ||
		    !ext_ok(json_object_get(k, "key_extension"))) {
			rc = qm_error_set(
			    err, QM_ERR_PARSE,
			    "keys[%zu] has an extension that is not "
			    "an object",
			    i);
			goto out;
		}
		rc = kms_keys_add_b64(
		    ks, json_string_value(id), json_string_value(key),
		    json_string_length(key), expect_bytes, err);
		json_string_wipe(key);
		if (rc) {
			qm_error_prefix(err, "Key container: ");
			goto out;
		}
	}
out:
	if (root && (keys = json_object_get(root, "keys")))
		json_array_foreach(keys, i, k)
		    json_string_wipe(json_object_get(k, "key"));
	json_decref(root);
	if (rc) {
		/* drop (and wipe) what this reply added */
		if (ks->count > first) {
			size_t start = ks->off[first];

			qm_wipe(ks->mat.data + start, ks->mat.len - start);
			ks->mat.len = start;
			ks->mat.data[start] = '\0';
			for (i = first; i < ks->count; i++)
				free(ks->ids[i]);
			ks->count = first;
		}
		if (added_ext)
			free(ks->exts[--ks->nexts]);
	}
	return rc;
}

enum qm_err qm_kms_keys_parse(const char *json, size_t len, size_t expect_bytes,
                              struct qm_kms_keys **out, struct qm_error *err)
{
	struct qm_kms_keys *ks = NULL;
	enum qm_err rc;

	rc = kms_keys_new(&ks, err);
	if (rc)
		return rc;
	rc = kms_keys_parse_into(ks, json, len, expect_bytes,
	                         QM_KMS_JSON_DEPTH_DEFAULT, err);
	if (rc) {
		qm_kms_keys_free(&ks);
		return rc;
	}
	*out = ks;
	return QM_OK;
}

/* ------------------------------------------------------------------ Error */

/* Appends n bytes of text to msg at j (printable ASCII only: nothing else
 * reaches a person's screen or a log); returns the new length. */
static size_t put_text(char *msg, size_t msgsize, size_t j, const char *s,
                       size_t n)
{
	for (size_t i = 0; i < n && s[i] && j + 1 < msgsize; i++) {
		unsigned char c = (unsigned char)s[i];

		msg[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	return j;
}

enum qm_err qm_kms_error_parse(const char *json, size_t len, char *msg,
                               size_t msgsize, struct qm_error *err)
{
	return kms_error_parse(json, len, QM_KMS_JSON_DEPTH_DEFAULT, msg,
	                       msgsize, err);
}

enum qm_err kms_error_parse(const char *json, size_t len, size_t depth,
                            char *msg, size_t msgsize, struct qm_error *err)
{
	json_t *root = NULL, *m, *d;
	const char *s;
	size_t n, j = 0;
	enum qm_err rc;

	if (!msg || msgsize == 0)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "no room for the message");
	rc = load(json, len, QM_KMS_SMALL_BODY_MAX, depth, "Error", &root,
	          err);
	if (rc)
		goto out;
	m = json_object_get(root, "message");
	if (m && !json_is_null(m) && !json_is_string(m)) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "Error member message is not a string");
		goto out;
	}
	d = json_object_get(root, "details");
	if (d && !json_is_null(d) && !json_is_array(d)) {
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "Error member details is not an array");
		goto out;
	}
	s = m ? json_string_value(m) : NULL;
	n = s ? json_string_length(m) : 0;
	j = put_text(msg, msgsize, j, s, n);
	/* string members of the details objects, for instance qkme's
	 * {"message": "SAE X is not served by KME_A"} or the standard's
	 * {"parameter_name": "size"} */
	if (json_is_array(d)) {
		size_t di, nd = 0;
		json_t *o;

		json_array_foreach(d, di, o)
		{
			const char *name;
			json_t *v;

			if (!json_is_object(o))
				continue;
			json_object_foreach(o, name, v)
			{
				if (!json_is_string(v))
					continue;
				j = put_text(msg, msgsize, j,
				             nd++ ? "; " : (j ? " (" : "("), 2);
				if (strcmp(name, "message") != 0) {
					j = put_text(msg, msgsize, j, name,
					             strlen(name));
					j = put_text(msg, msgsize, j, ": ", 2);
				}
				j = put_text(msg, msgsize, j,
				             json_string_value(v),
				             json_string_length(v));
			}
		}
		if (nd)
			j = put_text(msg, msgsize, j, ")", 1);
	}
	msg[j] = '\0';
out:
	json_decref(root);
	return rc;
}
