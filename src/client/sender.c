/* SPDX-License-Identifier: MIT */
/*
 * The name shown for a message's sender (issue 16): the user's own name
 * for the address in the account's contacts, else the display name of the
 * From header that was authenticated (the inner copy of a QMail message,
 * the header of plain mail), RFC 2047 decoded. A name that looks like an
 * address (it holds an '@' and is not the address itself) or is empty is
 * no name: the address is shown instead, so "ceo@bank.example"
 * <evil@x.example> lists as evil@x.example.
 */
#include <string.h>
#include <strings.h>

#include "private.h"

/* Whether s holds an at sign, or one of its full-width or small forms
 * (U+FF20, U+FE6B) that read as one. */
static int has_at(const char *s)
{
	return strchr(s, '@') || strstr(s, "\xef\xbc\xa0") ||
	       strstr(s, "\xef\xb9\xab");
}

/* Copies s without surrounding blanks into out (cap bytes), cut at a
 * character boundary. */
static void trim_copy(const char *s, char *out, size_t cap)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n >= cap) {
		n = cap - 1;
		/* never half of a multibyte character */
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

void client_sender_name_ok(const char *name, const char *addr, char *out,
                           size_t cap)
{
	out[0] = '\0';
	if (!name || !cap)
		return;
	trim_copy(name, out, cap);
	if (has_at(out) && (!addr || strcasecmp(out, addr) != 0))
		out[0] = '\0';
}

void client_sender_name_of(const char *from, const char *addr, char *out,
                           size_t cap)
{
	char **pairs = NULL;
	size_t n = 0;

	if (cap)
		out[0] = '\0';
	if (!from || !*from || !cap ||
	    qm_mail_addr_names(from, &pairs, &n, NULL) != QM_OK)
		return;
	/* the name of the mailbox that is the sender */
	for (size_t i = 0; i < n; i++)
		if (!addr || strcasecmp(pairs[2 * i + 1], addr) == 0) {
			client_sender_name_ok(pairs[2 * i], addr, out, cap);
			break;
		}
	qm_mail_strv_free(&pairs, 2 * n);
}

/* Whether the sender of a message in state v may be named at all, and
 * by the user's contact name: a tampered, replayed, refused or unopened
 * message gets no name; one from an unverified sender only the name its
 * authenticated From gave, never the name of the contact whose address it
 * carries. */
static int nameable(const struct qm_store_msg *m, int *contact)
{
	*contact = 0;
	if (m->label == QM_LABEL_ALTERED)
		return 0;
	switch (m->verify) {
	case QM_VERIFY_OK:
	case QM_VERIFY_NOT_QMAIL:
	case QM_VERIFY_SENT:
		*contact = 1;
		return 1;
	case QM_VERIFY_UNVERIFIED_SENDER:
		return 1;
	default:
		return 0;
	}
}

enum qm_err qm_client_sender_name(struct qm_client *c,
                                  const struct qm_store_msg *m, char **out,
                                  struct qm_error *err)
{
	struct qm_store_contact ct;
	char pick[QM_STORE_NAMEMAX];
	int contact;

	pick[0] = '\0';
	if (!nameable(m, &contact))
		return qm_client_display_dup("", QM_DISPLAY_LINE, out, err);
	/* the user's own name for them wins (as in the suggestions) */
	if (contact && m->from_addr && *m->from_addr &&
	    qm_store_contact_get(c->store, m->account_id, m->from_addr, &ct,
	                         NULL) == QM_OK)
		client_sender_name_ok(ct.name, m->from_addr, pick,
		                      sizeof(pick));
	if (!pick[0])
		client_sender_name_ok(m->from_name, m->from_addr, pick,
		                      sizeof(pick));
	return qm_client_display_dup(pick, QM_DISPLAY_LINE, out, err);
}
