/* SPDX-License-Identifier: MIT */
/*
 * Printing what came from outside (a message's headers, body, attachment
 * names, a contact's SAE ID learned from mail, an error that quotes a
 * server): through the client's qm_client_display, so that no escape
 * sequence or control character in it reaches the terminal, whether or not
 * standard output is one (a pipe into `less -R` or `cat` ends on a
 * terminal too; `qmail read --raw` gives the exact bytes). See docs/CLI.md.
 */
#include "cli.h"

#include <string.h>

/* Display forms handed out by cli_safe: each is reused (and wiped) SLOTS
 * calls later, so one printf may take up to SLOTS of them. */
#define SLOTS    8
#define SLOT_MAX (1u << 20)

static struct qm_buf slots[SLOTS];
static size_t next_slot;

const char *cli_safe(const char *s)
{
	struct qm_buf *b = &slots[next_slot];

	next_slot = (next_slot + 1) % SLOTS;
	/* a secure buffer: headers and names of decrypted mail are
	 * plaintext, wiped when the slot is reused */
	qm_buf_free(b);
	qm_buf_init_secure(b, SLOT_MAX);
	if (qm_client_display(s, s ? strlen(s) : 0, QM_DISPLAY_LINE, b, NULL) !=
	        QM_OK ||
	    qm_buf_append_byte(b, 0, NULL) != QM_OK)
		return "(not shown: too long)";
	return (const char *)b->data;
}

void cli_safe_wipe(void)
{
	for (size_t i = 0; i < SLOTS; i++)
		qm_buf_free(&slots[i]);
}

void cli_put_text(FILE *f, const char *s)
{
	struct qm_buf b;
	size_t n = s ? strlen(s) : 0;

	qm_buf_init_secure(&b, 8 * n + 16);
	if (qm_client_display(s, n, QM_DISPLAY_TEXT, &b, NULL) == QM_OK &&
	    b.len)
		fwrite(b.data, 1, b.len, f);
	else if (n)
		fputs("(not shown: out of memory)\n", f);
	qm_buf_free(&b);
}
