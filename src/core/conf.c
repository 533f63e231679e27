/* SPDX-License-Identifier: MIT */
/*
 * A small, strict parser for "key = value" configuration files with
 * "[section]" headers. Bounded in lines, line length and entries; every
 * syntax error names its line.
 */
#include "core.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct entry {
	char *key;
	char *value;
};

struct qm_conf {
	struct entry *e;
	size_t n;
};

void qm_conf_free(struct qm_conf **pc)
{
	struct qm_conf *c;

	if (!pc || !*pc)
		return;
	c = *pc;
	for (size_t i = 0; i < c->n; i++) {
		free(c->e[i].key);
		if (c->e[i].value) {
			/* values may be passphrases or paths: wipe them */
			qm_wipe(c->e[i].value, strlen(c->e[i].value));
			free(c->e[i].value);
		}
	}
	free(c->e);
	free(c);
	*pc = NULL;
}

static char *trim(char *s, char **end)
{
	while (*s == ' ' || *s == '\t')
		s++;
	while (*end > s && ((*end)[-1] == ' ' || (*end)[-1] == '\t' ||
	                    (*end)[-1] == '\r'))
		(*end)--;
	**end = '\0';
	return s;
}

static int valid_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_-.", *s))
			return 0;
	return 1;
}

/* Parses one line (NUL-terminated, mutable) into c. */
static enum qm_err parse_line(struct qm_conf *c, char *line, size_t lineno,
                              char *section, size_t seclen,
                              struct qm_error *err)
{
	char *end = line + strlen(line), *s, *eq, *k, *v, *kend, *full;
	size_t klen;

	s = trim(line, &end);
	if (!*s || *s == '#' || *s == ';')
		return QM_OK;
	if (*s == '[') {
		if (end[-1] != ']' || end - s < 3)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "line %zu: a section header looks "
			                    "like [name]",
			                    lineno);
		end[-1] = '\0';
		if (!valid_name(s + 1) || strlen(s + 1) >= seclen)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "line %zu: bad section name", lineno);
		qm_strlcpy(section, s + 1, seclen);
		return QM_OK;
	}
	eq = strchr(s, '=');
	if (!eq)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "line %zu: expected \"key = value\"", lineno);
	kend = eq;
	*eq = '\0';
	k = trim(s, &kend);
	v = trim(eq + 1, &end);
	if (!valid_name(k))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "line %zu: bad key name \"%.60s\"", lineno, k);
	if (*v == '"') {
		if (end - v < 2 || end[-1] != '"')
			return qm_error_set(err, QM_ERR_PARSE,
			                    "line %zu: unterminated quoted value",
			                    lineno);
		end[-1] = '\0';
		v++;
	}
	if (c->n >= QM_CONF_MAXENTRIES)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "line %zu: more than %d entries", lineno,
		                    QM_CONF_MAXENTRIES);
	klen = strlen(section) + 1 + strlen(k) + 1;
	full = malloc(klen);
	if (!full)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	if (section[0]) {
		qm_strlcpy(full, section, klen);
		full[strlen(section)] = '.';
		qm_strlcpy(full + strlen(section) + 1, k, klen - strlen(section) - 1);
	} else {
		qm_strlcpy(full, k, klen);
	}
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->e[i].key, full) == 0) {
			qm_error_set(err, QM_ERR_PARSE,
			             "line %zu: \"%s\" is set twice", lineno, full);
			free(full);
			return QM_ERR_PARSE;
		}
	}
	c->e[c->n].key = full;
	c->e[c->n].value = strdup(v);
	if (!c->e[c->n].value) {
		free(full);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	c->n++;
	return QM_OK;
}

enum qm_err qm_conf_parse(const char *text, size_t len, struct qm_conf **out,
                          struct qm_error *err)
{
	struct qm_conf *c = NULL;
	char line[QM_CONF_MAXLINE + 1], section[128] = "";
	size_t pos = 0, lineno = 0;
	enum qm_err rc = QM_OK;

	if (len > QM_CONF_MAXFILE)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "configuration is larger than %d bytes",
		                    QM_CONF_MAXFILE);
	c = calloc(1, sizeof(*c));
	if (!c || !(c->e = calloc(QM_CONF_MAXENTRIES, sizeof(*c->e)))) {
		free(c);
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	}
	while (pos < len) {
		size_t n = 0;

		lineno++;
		while (pos < len && text[pos] != '\n') {
			if (text[pos] == '\0') {
				rc = qm_error_set(err, QM_ERR_PARSE,
				                  "line %zu: NUL byte", lineno);
				goto out;
			}
			if (n == QM_CONF_MAXLINE) {
				rc = qm_error_set(err, QM_ERR_TOOBIG,
				                  "line %zu is longer than %d bytes",
				                  lineno, QM_CONF_MAXLINE);
				goto out;
			}
			line[n++] = text[pos++];
		}
		pos++; /* the newline */
		line[n] = '\0';
		rc = parse_line(c, line, lineno, section, sizeof(section), err);
		if (rc)
			goto out;
	}
out:
	qm_wipe(line, sizeof(line));
	if (rc) {
		qm_conf_free(&c);
		return rc;
	}
	*out = c;
	return QM_OK;
}

enum qm_err qm_conf_load(const char *path, struct qm_conf **out,
                         struct qm_error *err)
{
	struct qm_buf b;
	enum qm_err rc;

	qm_buf_init_secure(&b, QM_CONF_MAXFILE);
	rc = qm_file_read(path, QM_CONF_MAXFILE, &b, err);
	if (!rc)
		rc = qm_conf_parse(b.data ? (const char *)b.data : "", b.len,
		                   out, err);
	if (rc)
		qm_error_prefix(err, "%s: ", path);
	qm_buf_free(&b);
	return rc;
}

const char *qm_conf_get(const struct qm_conf *c, const char *key)
{
	for (size_t i = 0; c && i < c->n; i++)
		if (strcmp(c->e[i].key, key) == 0)
			return c->e[i].value;
	return NULL;
}

enum qm_err qm_conf_get_int(const struct qm_conf *c, const char *key,
                            long long min, long long max, long long *v,
                            struct qm_error *err)
{
	const char *s = qm_conf_get(c, key);
	enum qm_err rc;

	if (!s)
		return QM_OK;
	rc = qm_parse_ll(s, min, max, v, err);
	if (rc)
		qm_error_prefix(err, "%s: ", key);
	return rc;
}

size_t qm_conf_count(const struct qm_conf *c)
{
	return c ? c->n : 0;
}

const char *qm_conf_key(const struct qm_conf *c, size_t i)
{
	return c && i < c->n ? c->e[i].key : NULL;
}

const char *qm_conf_value(const struct qm_conf *c, size_t i)
{
	return c && i < c->n ? c->e[i].value : NULL;
}
