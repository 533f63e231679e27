/* SPDX-License-Identifier: MIT */
/*
 * Address lists as a person types them in To, Cc and Bcc (issue 16):
 * "Bob Example <bob@qmail.test>, \"Doe, Jane\" <jane@x.test>; Team: a@b.test,
 * c@d.test;". Each entry is read by GMime's RFC 5322 parser (names, quoted
 * names, RFC 2047 words, comments, angle brackets); what is split here is
 * only where one entry ends, because GMime takes a semicolon only as the
 * end of a group and drops what follows a stray one, and says nothing of
 * which entry it could not read. An entry whose mailbox is no addr-spec
 * (no @, an empty local part, a bad domain, a space) is given back as the
 * person typed it, so that the interface can name it.
 */
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "mail/private.h"

#define ADDR_MAX_ITEMS 5000
#define ADDR_SPEC_MAX  320

/* True for the atext characters of RFC 5322 3.2.3, and UTF-8 (RFC 6532). */
static int atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c >= 0x80 ||
	       strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* A dot-atom local part, or a quoted string with no control character
 * and nothing that would make the address read as another address or as
 * a list ("ceo@bank.example"@evil.example shows "ceo@bank.example"). */
static int local_ok(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	if (s[0] == '"') {
		if (n < 3 || s[n - 1] != '"')
			return 0;
		for (size_t i = 1; i + 1 < n; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
			    strchr("@<>,;", s[i]))
				return 0;
		return 1;
	}
	if (s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.' ? s[i + 1] == '.' : !atext(c))
			return 0;
	}
	return 1;
}

/* A host name of at least two labels: letters, digits, hyphens (not at a
 * label's ends) or UTF-8 (an IDN), each label 1 to 63 bytes. */
static int domain_ok(const char *s, size_t n)
{
	size_t label = 0, labels = 1;

	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			labels++;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c >= 0x80 ||
		      (c == '-' && label > 0)))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && s[n - 1] != '-' && labels >= 2;
}

int qm_mail_addr_spec_ok(const char *spec)
{
	const char *at;
	size_t n;

	if (!spec)
		return 0;
	n = strlen(spec);
	at = strrchr(spec, '@');
	if (n > ADDR_SPEC_MAX || !at)
		return 0;
	return local_ok(spec, (size_t)(at - spec)) &&
	       domain_ok(at + 1, n - (size_t)(at - spec) - 1);
}

void qm_mail_addrs_clear(struct qm_mail_addrs *a)
{
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++) {
		free(a->names[i]);
		free(a->specs[i]);
	}
	for (size_t i = 0; i < a->nbad; i++)
		free(a->bad[i]);
	free(a->names);
	free(a->specs);
	free(a->bad);
	memset(a, 0, sizeof(*a));
}

/* Appends s (n bytes) to the vector *v of *cnt strings. */
static enum qm_err push(char ***v, size_t *cnt, const char *s, size_t n,
                        struct qm_error *err)
{
	char **t;
	char *d;

	if (*cnt >= ADDR_MAX_ITEMS)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "more than %d addresses in one list",
		                    ADDR_MAX_ITEMS);
	t = reallocarray(*v, *cnt + 1, sizeof(**v));
	if (!t)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	*v = t;
	d = malloc(n + 1);
	if (!d)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	memcpy(d, s, n);
	d[n] = '\0';
	(*v)[(*cnt)++] = d;
	return QM_OK;
}

/* The mailboxes of l (groups flattened) whose addr-specs are good, added
 * to a; *bad set when one is not. */
static enum qm_err take(InternetAddressList *l, struct qm_mail_addrs *a,
                        int *bad, struct qm_error *err)
{
	int count = internet_address_list_length(l);
	enum qm_err rc = QM_OK;

	for (int i = 0; i < count && !rc; i++) {
		InternetAddress *ia = internet_address_list_get_address(l, i);
		const char *nm, *spec;
		size_t nn;

		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			InternetAddressList *m =
			    internet_address_group_get_members(
			        INTERNET_ADDRESS_GROUP(ia));
			if (m)
				rc = take(m, a, bad, err);
			continue;
		}
		if (!INTERNET_ADDRESS_IS_MAILBOX(ia))
			continue;
		spec = internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia));
		if (!qm_mail_addr_spec_ok(spec)) {
			*bad = 1;
			continue;
		}
		nm = internet_address_get_name(ia);
		nm = nm ? nm : "";
		nn = a->n;
		rc = push(&a->names, &nn, nm, strlen(nm), err);
		if (!rc) {
			nn = a->n;
			rc = push(&a->specs, &nn, spec, strlen(spec), err);
			if (rc) { /* keep the two vectors the same length */
				free(a->names[a->n]);
				a->names[a->n] = NULL;
			}
		}
		if (!rc)
			a->n++;
	}
	return rc;
}

/* One entry (s, n bytes, trimmed): its mailboxes into a, or the entry
 * itself into a->bad when GMime reads no good mailbox from it. */
static enum qm_err entry(const char *s, size_t n, struct qm_mail_addrs *a,
                         struct qm_error *err)
{
	InternetAddressList *l;
	char *one;
	size_t before = a->n;
	int bad = 0;
	enum qm_err rc;

	while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
	             s[n - 1] == '\n'))
		n--;
	if (n == 0)
		return QM_OK;
	one = malloc(n + 1);
	if (!one)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	memcpy(one, s, n);
	one[n] = '\0';
	l = internet_address_list_parse(NULL, one);
	free(one);
	rc = l ? take(l, a, &bad, err) : QM_OK;
	if (l)
		g_object_unref(l);
	if (!rc && (bad || a->n == before))
		rc = push(&a->bad, &a->nbad, s, n, err);
	return rc;
}

enum qm_err qm_mail_addr_parse(const char *list, struct qm_mail_addrs *out,
                               struct qm_error *err)
{
	struct qm_mail_addrs a;
	const char *p, *start;
	int quote = 0, angle = 0, comment = 0, seen_addr = 0;
	enum qm_err rc = QM_OK;

	memset(&a, 0, sizeof(a));
	mail_gmime_init();
	start = p = list ? list : "";
	for (; *p && !rc; p++) {
		char c = *p;

		if (c == '\\' && (quote || comment) && p[1]) {
			p++;
			continue;
		}
		if (quote) {
			quote = c != '"';
			continue;
		}
		if (comment) {
			comment += c == '(' ? 1 : c == ')' ? -1 : 0;
			continue;
		}
		switch (c) {
		case '"':
			quote = 1;
			break;
		case '(':
			comment = 1;
			break;
		case '<':
			angle = 1;
			seen_addr = 1;
			break;
		case '>':
			angle = 0;
			break;
		case '@':
			seen_addr = 1;
			break;
		case ':':
			/* "Team:" opens a group: its name is no address,
			 * its members are read as entries */
			if (!angle && !seen_addr) {
				start = p + 1;
				seen_addr = 0;
			}
			break;
		case ',':
		case ';':
			if (angle)
				break;
			rc = entry(start, (size_t)(p - start), &a, err);
			start = p + 1;
			seen_addr = 0;
			break;
		default:
			break;
		}
	}
	if (!rc)
		rc = entry(start, strlen(start), &a, err);
	if (rc) {
		qm_mail_addrs_clear(&a);
		return rc;
	}
	*out = a;
	return QM_OK;
}
