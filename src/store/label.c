/* SPDX-License-Identifier: MIT */
/*
 * Security labels: what the store keeps in clear because listing needs it
 * (a message's level, verify state and sender; a contact's SAE ID,
 * confirmation and minimum level; a key's trust and public bytes) is bound
 * by a MAC under a label key derived from the vault key, so that anyone who
 * can write the database file, but does not know the passphrase, cannot
 * promote a plain message to "level 1, verified", confirm an SAE ID or
 * verify a key: an edited row is detected when read (docs/STORE.md).
 *
 * The MAC is keyed BLAKE2b-256 over the kind of row and its fields, each
 * with a type byte and, for text and bytes, an 8-byte length, so that no
 * two different rows encode alike. Integers (a verify state too, so states
 * added later are covered as they are) are 8 bytes, big-endian.
 */
#include <string.h>

#include "private.h"

void store_label_begin(const struct qm_store *s, struct label_mac *m,
                       const char *kind)
{
	crypto_generichash_init(&m->st, s->lkey, LABEL_KEYBYTES,
	                        LABEL_MACBYTES);
	store_label_text(m, kind);
}

static void put64(unsigned char *b, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		b[i] = (unsigned char)v;
		v >>= 8;
	}
}

void store_label_int(struct label_mac *m, int64_t v)
{
	unsigned char b[9];

	b[0] = 'i';
	put64(b + 1, (uint64_t)v);
	crypto_generichash_update(&m->st, b, sizeof(b));
}

/* One typed, length-prefixed field. */
static void field(struct label_mac *m, unsigned char type, const void *p,
                  size_t n)
{
	unsigned char b[9];

	b[0] = type;
	put64(b + 1, (uint64_t)n);
	crypto_generichash_update(&m->st, b, sizeof(b));
	if (n)
		crypto_generichash_update(&m->st, p, n);
}

void store_label_text(struct label_mac *m, const char *t)
{
	if (!t) {
		static const unsigned char none = 'n';

		crypto_generichash_update(&m->st, &none, 1);
		return;
	}
	field(m, 't', t, strlen(t));
}

void store_label_blob(struct label_mac *m, const void *p, size_t n)
{
	field(m, 'b', p, p ? n : 0);
}

void store_label_end(struct label_mac *m, unsigned char out[LABEL_MACBYTES])
{
	crypto_generichash_final(&m->st, out, LABEL_MACBYTES);
	sodium_memzero(&m->st, sizeof(m->st));
}

int store_label_same(const unsigned char mac[LABEL_MACBYTES],
                     const void *stored, size_t n)
{
	return stored && n == LABEL_MACBYTES &&
	       sodium_memcmp(mac, stored, LABEL_MACBYTES) == 0;
}

enum qm_err store_labels_seal_all(struct qm_store *s, struct qm_error *err)
{
	enum qm_err rc = store_vault_need(s, err);

	if (rc == QM_OK)
		rc = store_msg_labels_seal(s, err);
	if (rc == QM_OK)
		rc = store_contact_labels_seal(s, err);
	if (rc == QM_OK)
		rc = store_key_labels_seal(s, err);
	return rc;
}
