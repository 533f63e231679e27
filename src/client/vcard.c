/* SPDX-License-Identifier: MIT */
/*
 * Contacts as vCard: the reader of vCard 3.0 and 4.0 files as address
 * books export them (Thunderbird, Proton, Google Contacts, Apple), the
 * writer of vCard 4.0 (RFC 6350), and the import and export of an
 * account's contacts through them. A vCard file is hostile input: it is
 * read in one pass with fixed-size buffers, every field and the file have
 * a maximum, and an import only adds contacts or fills their names, never
 * touching an SAE ID, a confirmation, a minimum level or a key.
 */
#include "private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define VC_EOL   (-1)
#define VC_EOF   (-2)
#define VC_HEAD  512  /* property name and parameters */
#define VC_VALUE 1024 /* the value of FN, N or EMAIL */
#define VC_FOLD  75   /* octets per line written (RFC 6350 3.2) */

/* The input, read one unfolded character at a time. */
struct vc_in {
	const unsigned char *p;
	size_t n, i;
};

/* The next character of the logical line; VC_EOL at its end (CRLF, LF
 * or CR not followed by a space or tab), VC_EOF at the end of input. */
static int vc_getc(struct vc_in *r)
{
	for (;;) {
		unsigned char c;
		size_t j;

		if (r->i >= r->n)
			return VC_EOF;
		c = r->p[r->i];
		if (c != '\r' && c != '\n') {
			r->i++;
			return c;
		}
		j = r->i + 1;
		if (c == '\r' && j < r->n && r->p[j] == '\n')
			j++;
		if (j < r->n && (r->p[j] == ' ' || r->p[j] == '\t')) {
			r->i = j + 1; /* a folded line goes on */
			continue;
		}
		r->i = j;
		return VC_EOL;
	}
}

/* One content line: head is "group.NAME;params", value its value; a part
 * past its buffer sets the matching flag (and is cut). */
struct vc_line {
	char head[VC_HEAD];
	char value[VC_VALUE];
	int head_long, value_long, colon;
};

/* Reads one logical line; 0 at the end of input with nothing read. */
static int vc_line_read(struct vc_in *r, struct vc_line *l)
{
	size_t h = 0, v = 0;
	int c, quoted = 0, any = 0;

	memset(l, 0, sizeof(*l));
	while ((c = vc_getc(r)) >= 0) {
		any = 1;
		if (!l->colon) {
			if (c == '"')
				quoted = !quoted;
			if (c == ':' && !quoted) {
				l->colon = 1;
				continue;
			}
			if (h + 1 < sizeof(l->head))
				l->head[h++] = (char)c;
			else
				l->head_long = 1;
		} else if (v + 1 < sizeof(l->value))
			l->value[v++] = (char)c;
		else
			l->value_long = 1;
	}
	return any || c == VC_EOL;
}

/* The property name of head (group prefix dropped) into name; the
 * parameters start at the returned pointer ("" or ";..."). */
static const char *vc_name(const char *head, char *name, size_t cap)
{
	const char *semi = strchr(head, ';'), *end, *s = head, *dot;

	end = semi ? semi : head + strlen(head);
	for (dot = head; dot < end; dot++)
		if (*dot == '.')
			s = dot + 1;
	if ((size_t)(end - s) >= cap)
		s = end; /* an overlong name is no name we read */
	memcpy(name, s, (size_t)(end - s));
	name[end - s] = '\0';
	return end;
}

/* Whether the parameters say quoted-printable, or a charset other than
 * UTF-8 (vCard 2.1 files): such values are not read. */
static const char *vc_params_refused(const char *params)
{
	const char *p = params;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		if (strncasecmp(p, "ENCODING=QUOTED-PRINTABLE", 25) == 0 ||
		    strncasecmp(p, "QUOTED-PRINTABLE", 16) == 0)
			return "it is written in quoted-printable (vCard "
			       "2.1), which is not read: export the address "
			       "book as vCard 3.0 or 4.0";
		if (strncasecmp(p, "CHARSET=", 8) == 0 &&
		    strncasecmp(p + 8, "UTF-8", 5) != 0 &&
		    strncasecmp(p + 8, "US-ASCII", 8) != 0)
			return "it is written in a character set other than "
			       "UTF-8 (vCard 2.1), which is not read: export "
			       "the address book as vCard 3.0 or 4.0";
	}
	return NULL;
}

/* Whether s is valid UTF-8 without control characters. */
static int vc_text_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		unsigned c = *p;
		size_t k;

		if (c < 0x20 || c == 0x7f)
			return 0;
		if (c < 0x80) {
			p++;
			continue;
		}
		k = c >= 0xf0 && c < 0xf5   ? 3
		    : c >= 0xe0 && c < 0xf0 ? 2
		    : c >= 0xc2 && c < 0xe0 ? 1
		                            : 0;
		if (!k)
			return 0;
		for (size_t i = 1; i <= k; i++)
			if ((p[i] & 0xc0) != 0x80)
				return 0;
		p += k + 1;
	}
	return 1;
}

/* Undoes the text escapes of RFC 6350 3.4 in place (\n becomes a space:
 * a name or an address is one line); stops at an unescaped stop byte
 * (0: none) and returns where the value goes on (NULL at its end). */
static char *vc_unescape(char *s, char stop)
{
	char *o = s;

	for (; *s; s++) {
		if (stop && *s == stop) {
			*o = '\0';
			return s + 1;
		}
		if (*s == '\\' && s[1]) {
			s++;
			*o++ = *s == 'n' || *s == 'N' ? ' ' : *s;
		} else
			*o++ = *s;
	}
	*o = '\0';
	return NULL;
}

/* s without the white space around it, in place. */
static char *vc_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* Appends word to the name being built in out (len bytes so far), a
 * space between words; a word that does not fit is left out. */
static void vc_word(char *out, size_t cap, size_t *len, const char *word)
{
	size_t w = strlen(word), sp = *len ? 1 : 0;

	if (!w || *len + sp + w >= cap)
		return;
	if (sp)
		out[(*len)++] = ' ';
	memcpy(out + *len, word, w);
	*len += w;
	out[*len] = '\0';
}

/* The display name of an N value "Family;Given;Additional;Prefix;Suffix"
 * ("Given Additional Family"), into out. */
static void vc_name_of_n(char *v, char *out, size_t cap)
{
	static const int order[] = {1, 2, 0};
	char *part[5] = {0};
	size_t k = 0, len = 0;
	char *s = v;

	while (s && k < 5) {
		part[k++] = s;
		s = vc_unescape(s, ';');
	}
	out[0] = '\0';
	for (size_t i = 0; i < 3; i++) {
		char *t = part[order[i]];

		if (!t)
			continue;
		t = vc_trim(t);
		for (char *q = t; *q; q++)
			if (*q == ',')
				*q = ' '; /* a list of given names */
		vc_word(out, cap, &len, vc_trim(t));
	}
}

/* Whether a is an address a contact can have: local@domain, printable,
 * no space, no angle brackets or commas. */
static int vc_addr_ok(const char *a)
{
	const char *at = strchr(a, '@');

	if (!at || at == a || !at[1] || strchr(at + 1, '@') ||
	    strlen(a) >= QM_STORE_ADDRMAX)
		return 0;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == ',' || *p == '<' ||
		    *p == '>' || *p == '"' || *p == ';' || *p == '\\')
			return 0;
	return 1;
}

/* The parser's state: the card being read. */
struct vc_state {
	struct qm_client_vcard card;
	char fn[VC_VALUE], n[QM_STORE_NAMEMAX]; /* fn: checked at the end */
	int in_card;
};

static void vc_card_start(struct vc_state *st, size_t number)
{
	memset(&st->card, 0, sizeof(st->card));
	st->card.number = number;
	st->fn[0] = st->n[0] = '\0';
	st->in_card = 1;
}

static void vc_refuse(struct vc_state *st, const char *why)
{
	if (!st->card.refused)
		st->card.refused = why;
}

/* Takes an EMAIL value into the card. */
static void vc_email(struct vc_state *st, char *v)
{
	char *a;

	vc_unescape(v, 0);
	a = vc_trim(v);
	if (strncasecmp(a, "mailto:", 7) == 0)
		a += 7;
	if (!*a)
		return;
	if (!vc_addr_ok(a)) {
		if (st->card.n_bad < QM_CLIENT_VCARD_EMAILS)
			qm_strlcpy(st->card.bad[st->card.n_bad++], a,
			           sizeof(st->card.bad[0]));
		return;
	}
	for (size_t i = 0; i < st->card.n_emails; i++)
		if (strcasecmp(st->card.emails[i], a) == 0)
			return; /* the same address twice (home, work) */
	if (st->card.n_emails == QM_CLIENT_VCARD_EMAILS) {
		vc_refuse(st, "it has more e-mail addresses than a card may "
		              "have (32)");
		return;
	}
	qm_strlcpy(st->card.emails[st->card.n_emails++], a,
	           sizeof(st->card.emails[0]));
}

/* One content line of a card. */
static void vc_property(struct vc_state *st, struct vc_line *l)
{
	char name[16];
	const char *params = vc_name(l->head, name, sizeof(name));
	int fn = strcasecmp(name, "FN") == 0, n = strcasecmp(name, "N") == 0;
	const char *why;

	if (!fn && !n && strcasecmp(name, "EMAIL") != 0)
		return; /* PHOTO, TEL, ADR, KEY...: not part of a contact */
	if (l->head_long || l->value_long) {
		vc_refuse(st, "a name or an address in it is longer than "
		              "a contact's");
		return;
	}
	if ((why = vc_params_refused(params)) != NULL) {
		vc_refuse(st, why);
		return;
	}
	if (!vc_text_ok(l->value)) {
		vc_refuse(st, "it is not UTF-8 text");
		return;
	}
	if (fn) {
		vc_unescape(l->value, 0);
		qm_strlcpy(st->fn, vc_trim(l->value), sizeof(st->fn));
	} else if (n)
		vc_name_of_n(l->value, st->n, sizeof(st->n));
	else
		vc_email(st, l->value);
}

/* The card's name: FN, else from N; none when it is one of its own
 * addresses (a card written for an address without a name, which may be
 * longer than a name may be). */
static void vc_card_name(struct vc_state *st)
{
	const char *name = st->fn[0] ? st->fn : st->n;

	for (size_t i = 0; i < st->card.n_emails; i++)
		if (strcasecmp(name, st->card.emails[i]) == 0)
			name = "";
	if (qm_strlcpy(st->card.name, name, sizeof(st->card.name)))
		vc_refuse(st, "its name is longer than a contact's");
}

enum qm_err qm_client_vcard_parse(const char *data, size_t len,
                                  qm_client_vcard_fn fn, void *arg,
                                  struct qm_error *err)
{
	struct vc_in in = {(const unsigned char *)data, len, 0};
	struct vc_state *st;
	struct vc_line *l;
	size_t cards = 0;
	enum qm_err rc = QM_OK;
	char name[16];

	if (len > QM_CLIENT_VCARD_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "the vCard file is larger than %u MiB",
		                    QM_CLIENT_VCARD_MAX >> 20);
	st = calloc(1, sizeof(*st));
	l = malloc(sizeof(*l));
	if (!st || !l) {
		rc = qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		goto out;
	}
	while (!rc && vc_line_read(&in, l)) {
		const char *params = vc_name(l->head, name, sizeof(name));
		int begin = strcasecmp(name, "BEGIN") == 0 && !*params &&
		            strcasecmp(vc_trim(l->value), "VCARD") == 0;
		int end = strcasecmp(name, "END") == 0 && !*params &&
		          strcasecmp(vc_trim(l->value), "VCARD") == 0;

		if (begin) {
			if (st->in_card) {
				vc_refuse(st, "it does not end (no END:VCARD "
				              "before the next card)");
				rc = fn(arg, &st->card);
			}
			if (++cards > QM_CLIENT_VCARD_CARDS) {
				rc = qm_error_set(
				    err, QM_ERR_TOOBIG,
				    "the vCard file has more than %u cards",
				    QM_CLIENT_VCARD_CARDS);
				break;
			}
			vc_card_start(st, cards);
		} else if (end && st->in_card) {
			vc_card_name(st);
			st->in_card = 0;
			rc = fn(arg, &st->card);
		} else if (st->in_card && l->colon)
			vc_property(st, l);
	}
	if (!rc && st->in_card) {
		vc_refuse(st, "the file ends inside it (no END:VCARD)");
		rc = fn(arg, &st->card);
	}
	if (!rc && !cards)
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "this is not a vCard file (no BEGIN:VCARD)");
out:
	free(l);
	free(st);
	return rc;
}

/* Appends text escaped (RFC 6350 3.4: \\ \, \; and \n). */
static enum qm_err vc_escape(struct qm_buf *b, const char *s,
                             struct qm_error *err)
{
	enum qm_err rc = QM_OK;

	for (; *s && !rc; s++) {
		if (*s == '\\' || *s == ',' || *s == ';')
			rc = qm_buf_append_byte(b, '\\', err);
		if (!rc)
			rc =
			    *s == '\n' ? qm_buf_append_str(b, "\\n", err)
			    : *s == '\r'
			        ? QM_OK
			        : qm_buf_append_byte(b, (unsigned char)*s, err);
	}
	return rc;
}

/* Appends one content line name:value, escaped, folded at VC_FOLD octets
 * (never inside a UTF-8 sequence), ended by CRLF. */
static enum qm_err vc_put(struct qm_buf *out, const char *name,
                          const char *value, struct qm_error *err)
{
	struct qm_buf line;
	enum qm_err rc;
	size_t i = 0, col = 0;

	qm_buf_init(&line, 4 * VC_VALUE);
	rc = qm_buf_append_str(&line, name, err);
	if (!rc)
		rc = qm_buf_append_byte(&line, ':', err);
	if (!rc)
		rc = vc_escape(&line, value, err);
	while (!rc && i < line.len) {
		unsigned char c = line.data[i];
		size_t k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

		if (k > line.len - i)
			k = line.len - i;
		if (col + k >
		    VC_FOLD) { /* a continuation line starts with a space */
			rc = qm_buf_append(out, "\r\n ", 3, err);
			col = 1;
		}
		if (!rc)
			rc = qm_buf_append(out, line.data + i, k, err);
		col += k;
		i += k;
	}
	if (!rc)
		rc = qm_buf_append(out, "\r\n", 2, err);
	qm_buf_free(&line);
	return rc;
}

enum qm_err qm_client_vcard_write(const struct qm_client_vcard *card,
                                  struct qm_buf *out, struct qm_error *err)
{
	enum qm_err rc;

	if (!card->n_emails)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a contact card needs an address");
	rc = qm_buf_append_str(out, "BEGIN:VCARD\r\nVERSION:4.0\r\n", err);
	if (!rc)
		rc = vc_put(out, "FN",
		            card->name[0] ? card->name : card->emails[0], err);
	for (size_t i = 0; !rc && i < card->n_emails; i++)
		rc = vc_put(out, "EMAIL", card->emails[i], err);
	if (!rc)
		rc = qm_buf_append_str(out, "END:VCARD\r\n", err);
	return rc;
}

/* ----------------------------------------------------- import and export */

/* What an import carries from card to card. */
struct vc_import {
	struct qm_client *c;
	int64_t account_id;
	struct qm_client_vcard_stats *st;
	struct qm_store_contact *have; /* the contacts before the import */
	size_t n_have;
	struct qm_error *err;
};

/* Notes why (about card, address: may be NULL) in the stats, the first
 * QM_CLIENT_VCARD_WHY of them. */
static void vc_skip(struct vc_import *im, const struct qm_client_vcard *card,
                    const char *address, const char *why)
{
	struct qm_client_vcard_stats *st = im->st;

	st->skipped++;
	if (st->n_why >= QM_CLIENT_VCARD_WHY)
		return;
	snprintf(st->why[st->n_why++], sizeof(st->why[0]),
	         "card %zu%s%.80s%s%s%.80s: %s", card->number,
	         card->name[0] ? " (" : "", card->name,
	         card->name[0] ? ")" : "", address ? ", " : "",
	         address ? address : "", why);
}

/* The contact of address before the import (case aside), or NULL. */
static struct qm_store_contact *vc_have(struct vc_import *im, const char *a)
{
	for (size_t i = 0; i < im->n_have; i++)
		if (strcasecmp(im->have[i].address, a) == 0)
			return &im->have[i];
	return NULL;
}

/* One address of a card: a new contact, or the name of one that has
 * none or another, everything else of it kept. */
static enum qm_err vc_import_addr(struct vc_import *im,
                                  const struct qm_client_vcard *card,
                                  const char *addr)
{
	struct qm_store_contact *old = vc_have(im, addr), ct;
	struct qm_error e;
	enum qm_err rc;

	if (old && (!card->name[0] || strcmp(old->name, card->name) == 0)) {
		im->st->unchanged++;
		return QM_OK;
	}
	if (old && old->label == QM_LABEL_ALTERED) {
		vc_skip(im, card, addr,
		        "the contact was changed on disk outside QMail; "
		        "enter it again before importing its name");
		return QM_OK;
	}
	if (old && old->source == QM_CONTACT_LEARNED && !old->confirmed &&
	    old->sae_id[0]) {
		/* writing it as the user's would confirm its SAE ID */
		vc_skip(im, card, addr,
		        "the contact's SAE ID learned from mail is not "
		        "confirmed yet; its name was left as it is");
		return QM_OK;
	}
	if (old)
		ct = *old;
	else {
		memset(&ct, 0, sizeof(ct));
		qm_strlcpy(ct.address, addr, sizeof(ct.address));
	}
	qm_strlcpy(ct.name, card->name, sizeof(ct.name));
	ct.source = QM_CONTACT_USER; /* the user imports it */
	ct.confirmed = 1;
	rc = qm_store_contact_put(im->c->store, im->account_id, &ct, &e);
	if (rc == QM_ERR_INVAL) {
		vc_skip(im, card, addr, qm_error_msg(&e));
		return QM_OK;
	}
	if (rc) {
		if (im->err)
			*im->err = e;
		return rc;
	}
	if (old) {
		im->st->updated++;
		*old = ct;
	} else
		im->st->added++;
	return QM_OK;
}

/* One card of the file (qm_client_vcard_fn). */
static enum qm_err vc_import_card(void *arg, const struct qm_client_vcard *card)
{
	struct vc_import *im = arg;
	enum qm_err rc = QM_OK;

	im->st->cards++;
	if (card->refused) {
		vc_skip(im, card, NULL, card->refused);
		return QM_OK;
	}
	for (size_t i = 0; i < card->n_bad; i++)
		vc_skip(im, card, card->bad[i], "not an e-mail address");
	if (!card->n_emails && !card->n_bad)
		vc_skip(im, card, NULL, "it has no e-mail address");
	for (size_t i = 0; !rc && i < card->n_emails; i++)
		rc = vc_import_addr(im, card, card->emails[i]);
	return rc;
}

enum qm_err qm_client_contacts_import_vcard(struct qm_client *c,
                                            int64_t account_id,
                                            const char *data, size_t len,
                                            struct qm_client_vcard_stats *st,
                                            struct qm_error *err)
{
	struct qm_store_account a;
	struct vc_import im;
	enum qm_err rc;

	memset(st, 0, sizeof(*st));
	rc = client_need_unlocked(c, "importing contacts", err);
	if (!rc)
		rc = qm_store_account_get(c->store, account_id, &a, err);
	if (rc)
		return rc;
	memset(&im, 0, sizeof(im));
	im.c = c;
	im.account_id = account_id;
	im.st = st;
	im.err = err;
	rc = qm_store_contact_list(c->store, account_id, &im.have, &im.n_have,
	                           err);
	if (!rc)
		rc = qm_client_vcard_parse(data, len, vc_import_card, &im, err);
	free(im.have);
	return rc;
}

enum qm_err qm_client_contacts_export_vcard(struct qm_client *c,
                                            int64_t account_id,
                                            struct qm_buf *out, size_t *n,
                                            struct qm_error *err)
{
	struct qm_store_contact *list = NULL;
	struct qm_client_vcard *card;
	size_t cnt = 0;
	enum qm_err rc;

	*n = 0;
	card = calloc(1, sizeof(*card));
	if (!card)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	rc = qm_store_contact_list(c->store, account_id, &list, &cnt, err);
	for (size_t i = 0; !rc && i < cnt; i++) {
		qm_strlcpy(card->name, list[i].name, sizeof(card->name));
		qm_strlcpy(card->emails[0], list[i].address,
		           sizeof(card->emails[0]));
		card->n_emails = 1;
		rc = qm_client_vcard_write(card, out, err);
	}
	if (!rc)
		*n = cnt;
	free(list);
	free(card);
	return rc;
}
