/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: address lists as the compose form, the CLI's --to and a
 * reply's prefilled fields hand them to the engine
 * (qm_client_parse_addrs; a reply's To comes from a hostile message's
 * Reply-To). Every mailbox read must have an address with one '@' and
 * no space or control character, and, written again with
 * qm_client_addr_format, read back as the same name and address.
 */
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	return 0;
}

/* An address as the engine promises it: local@domain with one '@', no
 * control character, a space only inside a quoted local part. */
static int plausible(const char *a)
{
	const char *at = strchr(a, '@');

	if (!at || at == a || !at[1] || strchr(at + 1, '@'))
		return 0;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p < ' ' || *p == 0x7f ||
		    (*p == ' ' && (a[0] != '"' || p > (const unsigned char *)at)))
			return 0;
	return 1;
}

/* Mailbox m written and read again must come back as itself. */
static void round_trip(const struct qm_client_addr *m)
{
	struct qm_client_addr_list back;
	struct qm_error e;
	char one[4096];

	if (qm_client_addr_format(m->name, m->address, one, sizeof(one),
	                          &e) != QM_OK)
		return; /* a name with a control character: refused, fine */
	memset(&back, 0, sizeof(back));
	if (qm_client_parse_addrs(one, &back, &e) != QM_OK)
		__builtin_trap();
	if (back.n != 1 || back.ninvalid != 0 ||
	    strcmp(back.v[0].address, m->address) != 0 ||
	    strcmp(back.v[0].name, m->name) != 0)
		__builtin_trap();
	qm_client_addr_list_clear(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qm_client_addr_list l;
	struct qm_error e;
	char *s;

	if (size > 65536)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	memset(&l, 0, sizeof(l));
	if (qm_client_parse_addrs(s, &l, &e) == QM_OK) {
		for (size_t i = 0; i < l.n; i++) {
			if (!l.v[i].address || !l.v[i].name ||
			    !plausible(l.v[i].address))
				__builtin_trap();
			round_trip(&l.v[i]);
		}
		qm_client_addr_list_clear(&l);
	}
	free(s);
	return 0;
}
