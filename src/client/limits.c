/* SPDX-License-Identifier: MIT */
/*
 * Resource limits the user may set (issue 8): message size, parts, MIME
 * nesting depth, headers per part, header length, key IDs in one message,
 * JSON depth, and the web GUI's request bodies. Each is a global setting
 * ("limit.parts", account 0 of the store) with a safe default; a limit may
 * be lowered down to a floor that keeps QMail working and raised only up to
 * a hard ceiling. This file is the one place where the settings become a
 * struct qm_mail_limits for the receive, read and send paths.
 */
#include "private.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define KIB ((uint64_t)1024)
#define MIB (KIB * 1024)

static const struct qm_client_limit table[] = {
    {QM_LIMIT_MESSAGE_SIZE,
     "largest message fetched, parsed or sent (the encrypted message as "
     "the server stores it)",
     "bytes", QM_MAIL_DEF_MAXSIZE, 64 * KIB, 256 * MIB},
    {QM_LIMIT_PARTS,
     "most MIME parts (attachments and their containers) "
     "in one message",
     "parts", QM_MAIL_DEF_MAXPARTS, 4, 10000},
    {QM_LIMIT_DEPTH, "deepest nesting of MIME parts", "levels",
     QM_MAIL_DEF_MAXDEPTH, 2, 64},
    {QM_LIMIT_HEADERS, "most header fields in one message or part", "headers",
     QM_MAIL_DEF_MAXHEADERS, 32, 10000},
    {QM_LIMIT_HEADER_LENGTH, "longest header field", "bytes",
     QM_MAIL_DEF_MAXHEADERLEN, 1 * KIB, 1 * MIB},
    {QM_LIMIT_KEY_IDS,
     "most QKD key IDs in one received message (refused before the KME "
     "is asked for any key)",
     "key IDs", QM_MAIL_DEF_MAXKEYIDS, 1, QM_ENV_MAXKEYIDS},
    {QM_LIMIT_JSON_DEPTH,
     "deepest nesting of JSON in KME replies and web GUI requests", "levels",
     QM_KMS_JSON_DEPTH_DEFAULT, 4, 1024},
    {QM_LIMIT_WEB_JSON, "largest JSON request body of the web GUI", "bytes",
     64 * KIB, 4 * KIB, 1 * MIB},
    {QM_LIMIT_WEB_MESSAGE,
     "largest message or draft request body of the web GUI", "bytes", 8 * MIB,
     64 * KIB, 64 * MIB},
    {QM_LIMIT_WEB_UPLOAD, "largest attachment uploaded in the web GUI", "bytes",
     25 * MIB, 64 * KIB, 256 * MIB},
};

#define NLIMITS (sizeof(table) / sizeof(table[0]))

size_t qm_client_limit_count(void)
{
	return NLIMITS;
}

const struct qm_client_limit *qm_client_limit_at(size_t i)
{
	return i < NLIMITS ? &table[i] : NULL;
}

const struct qm_client_limit *qm_client_limit_find(const char *name)
{
	for (size_t i = 0; name && i < NLIMITS; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

enum qm_err qm_client_limit_parse(const struct qm_client_limit *l,
                                  const char *text, uint64_t *v,
                                  struct qm_error *err)
{
	char num[32];
	size_t n = 0;
	const char *p = text ? text : "";
	uint64_t mult = 1;
	long long x;

	while (isspace((unsigned char)*p))
		p++;
	while (isdigit((unsigned char)*p) && n + 1 < sizeof(num))
		num[n++] = *p++;
	num[n] = '\0';
	while (isspace((unsigned char)*p))
		p++;
	/* sizes may carry a binary unit: 64K, 10M, 1G (KiB, MiB, GiB too) */
	if (*p && strcmp(l->unit, "bytes") == 0) {
		char u = (char)toupper((unsigned char)*p);

		mult = u == 'K'   ? KIB
		       : u == 'M' ? MIB
		       : u == 'G' ? MIB * 1024
		                  : 0;
		if (mult) {
			p++;
			if ((p[0] == 'i' || p[0] == 'I') &&
			    (p[1] == 'b' || p[1] == 'B'))
				p += 2;
			else if (p[0] == 'b' || p[0] == 'B')
				p++;
		}
	}
	if (!n || *p || !mult || qm_parse_ll(num, 0, 1LL << 40, &x, NULL))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s: \"%s\" is not a number of %s%s",
		                    l->name, text ? text : "", l->unit,
		                    strcmp(l->unit, "bytes") == 0
		                        ? " (64K, 10M and 1G are understood)"
		                        : "");
	if ((uint64_t)x > l->ceiling / mult ||
	    (uint64_t)x * mult > l->ceiling || (uint64_t)x * mult < l->min)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "%s must be between %llu and %llu %s "
		                    "(default %llu); %s is outside",
		                    l->name, (unsigned long long)l->min,
		                    (unsigned long long)l->ceiling, l->unit,
		                    (unsigned long long)l->def, text);
	*v = (uint64_t)x * mult;
	return QM_OK;
}

/* QM_ERR_NOTFOUND for a name that is no limit, with its hint. */
static enum qm_err unknown_limit(const char *name, struct qm_error *err)
{
	qm_error_set(err, QM_ERR_NOTFOUND, "there is no limit named %s",
	             name ? name : "");
	return qm_error_hint(err, QM_HINT_LIMIT_UNKNOWN, name);
}

enum qm_err qm_client_limit_get(struct qm_client *c, const char *name,
                                uint64_t *v, int *is_set, struct qm_error *err)
{
	const struct qm_client_limit *l = qm_client_limit_find(name);
	char text[64];
	uint64_t x;

	if (!l)
		return unknown_limit(name, err);
	client_acct_setting(c, 0, l->name, text, sizeof(text));
	/* unset, or a value made unusable by hand: the default counts */
	if (!text[0] || qm_client_limit_parse(l, text, &x, NULL) != QM_OK) {
		*v = l->def;
		if (is_set)
			*is_set = 0;
		return QM_OK;
	}
	*v = x;
	if (is_set)
		*is_set = 1;
	return QM_OK;
}

/* A limit changed: the next sync of each account fetches again what it
 * refused for a limit (recv.c). */
static enum qm_err limits_changed(struct qm_client *c, struct qm_error *err)
{
	struct qm_buf b;
	long long gen = 0;
	char text[32];

	qm_buf_init(&b, 64);
	/* a qm_buf's bytes are always followed by a NUL */
	if (qm_store_setting_get(c->store, 0, QM_SET_LIMITS_GEN, &b, NULL) ==
	        QM_OK &&
	    b.data)
		/* an unreadable counter starts again from 0: any new
		 * value tells the readers that the limits changed */
		QM_IGNORE(qm_parse_ll((const char *)b.data, 0, INT64_MAX - 1,
		                      &gen, NULL));
	qm_buf_free(&b);
	snprintf(text, sizeof(text), "%lld", gen + 1);
	return qm_store_setting_set(c->store, 0, QM_SET_LIMITS_GEN, text, err);
}

enum qm_err qm_client_limit_set(struct qm_client *c, const char *name,
                                const char *value, struct qm_error *err)
{
	const struct qm_client_limit *l = qm_client_limit_find(name);
	char text[32];
	uint64_t v;
	enum qm_err rc;

	if (!l)
		return unknown_limit(name, err);
	if (value && strcmp(value, "default") == 0) {
		text[0] = '\0';
	} else {
		rc = qm_client_limit_parse(l, value, &v, err);
		if (rc)
			return rc;
		snprintf(text, sizeof(text), "%llu", (unsigned long long)v);
	}
	{
		/* a settings page saves every limit: only a real change makes
		 * the next sync look at refused messages again */
		struct qm_buf old;
		int same;

		qm_buf_init(&old, 64);
		same = qm_store_setting_get(c->store, 0, l->name, &old, NULL) ==
		               QM_OK
		           ? strcmp(old.data ? (const char *)old.data : "",
		                    text) == 0
		           : !text[0];
		qm_buf_free(&old);
		if (same)
			return QM_OK;
	}
	rc = qm_store_setting_set(c->store, 0, l->name, text, err);
	if (!rc)
		rc = limits_changed(c, err);
	return rc;
}

/* The value in force of one limit, as a size_t. */
static size_t value_of(struct qm_client *c, const char *name)
{
	uint64_t v = 0;

	if (qm_client_limit_get(c, name, &v, NULL, NULL) != QM_OK)
		return 0; /* 0: the mail layer's default */
	return (size_t)v;
}

void client_mail_limits(struct qm_client *c, struct qm_mail_limits *out)
{
	memset(out, 0, sizeof(*out));
	out->max_size = value_of(c, QM_LIMIT_MESSAGE_SIZE);
	out->max_parts = value_of(c, QM_LIMIT_PARTS);
	out->max_depth = value_of(c, QM_LIMIT_DEPTH);
	out->max_headers = value_of(c, QM_LIMIT_HEADERS);
	out->max_header_len = value_of(c, QM_LIMIT_HEADER_LENGTH);
	out->max_key_ids = value_of(c, QM_LIMIT_KEY_IDS);
	/* the message names the limit; the interfaces say how to change it
	 * (client_limit_hint) */
	out->hint = NULL;
}

void client_limit_hint(struct qm_error *err)
{
	if (err && err->code == QM_ERR_TOOBIG && !err->hint &&
	    qm_client_limit_find(err->hint_arg))
		err->hint = QM_HINT_LIMIT_REACHED;
}

size_t client_json_depth(struct qm_client *c)
{
	return value_of(c, QM_LIMIT_JSON_DEPTH);
}

enum qm_err client_send_limits_check(const struct qm_mail_limits *lim,
                                     size_t inner_len, size_t natt,
                                     struct qm_error *err)
{
	size_t max = lim->max_size ? lim->max_size : QM_MAIL_DEF_MAXSIZE;
	size_t parts = lim->max_parts ? lim->max_parts : QM_MAIL_DEF_MAXPARTS;
	/* the envelope is base64 in 76-character lines, with some hundred
	 * bytes of headers and per-key overhead (level 1: one key ID for
	 * every key, at least 1/32 of the size for the smallest keys) */
	uint64_t wire = ((uint64_t)inner_len + inner_len / 32 + 4096) / 3 * 4;

	wire += wire / 38 + 4096;
	/* multipart/mixed, the text part, and one part per attachment */
	if (natt && natt + 2 > parts)
		qm_mail_limit_error(lim, "limit.parts", parts, err,
		                    "the message would have %zu parts", natt + 2);
	else if (wire > max)
		qm_mail_limit_error(
		    lim, "limit.message_size", max, err,
		    "the message would be about %llu bytes as sent "
		    "(the encrypted envelope travels in base64, a third "
		    "larger than the message)",
		    (unsigned long long)wire);
	else
		return QM_OK;
	client_limit_hint(err);
	return QM_ERR_TOOBIG;
}
