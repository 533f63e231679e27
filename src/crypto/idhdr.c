/* SPDX-License-Identifier: MIT */
/*
 * The QMail-Identity header (docs/FORMAT.md, "QMail-Identity header"): the
 * sender's public identity that travels with every message, so that two
 * people who never exchanged keys can write at level 3 after one message
 * each way; and the safety number two people compare to verify each
 * other's keys. The parser reads hostile input: every attribute is
 * bounded, the key must decode to exactly one public key whose
 * fingerprint is the one the header states, and anything else is refused
 * with the reason.
 */
#include "private.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* "keys=" and the first piece share a line; the others are 76 characters
 * after the folding space (77 in all, within 78). */
#define FIRST_PIECE 70
#define PIECE       76

/* The SAE/KME ID rule of the X-QKD headers: 1..128 of ALPHA / DIGIT /
 * "-" / "." / "_" / ":" / "@" / "/" / "+" / "=". */
static int id_ok(const char *s, size_t n)
{
	if (n == 0 || n > QM_IDHDR_IDMAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("-._:@/+=", c)))
			return 0;
	}
	return 1;
}

/* A bare addr-spec as the header carries it: one "@", both sides
 * non-empty, printable ASCII without spaces or the characters that
 * separate attributes and addresses. */
static int addr_ok(const char *s, size_t n)
{
	size_t at = 0, nat = 0;

	if (n < 3 || n > QM_IDHDR_ADDRMAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr(";,<>\"()[]\\", c))
			return 0;
		if (c == '@') {
			at = i;
			nat++;
		}
	}
	return nat == 1 && at > 0 && at + 1 < n;
}

/* Appends one attribute, on a line of its own after the first. */
static enum qm_err attr(struct qm_buf *out, const char *name, const char *v,
                        struct qm_error *err)
{
	return qm_buf_appendf(out, err, ";\r\n %s=%s", name, v);
}

enum qm_err qm_crypto_idhdr_build(const struct qm_pubid *key, const char *addr,
                                  const char *sae, const char *kme,
                                  struct qm_buf *out, struct qm_error *err)
{
	unsigned char raw[QM_PUB_BYTES], fpr[QM_FPR_BYTES];
	char hex[QM_FPR_BYTES * 2 + 1];
	struct qm_buf b64;
	size_t start = out->len;
	enum qm_err rc;

	if (!addr || !addr_ok(addr, strlen(addr)) ||
	    (sae && sae[0] && !id_ok(sae, strlen(sae))) ||
	    (kme && kme[0] && !id_ok(kme, strlen(kme))))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "the identity header cannot carry this "
		                    "address, SAE ID or KME ID (bare address, "
		                    "IDs of at most %d letters, digits and "
		                    "-._:@/+=)",
		                    QM_IDHDR_IDMAX);
	crypto_pubid_serialise(key, raw);
	crypto_sha256(raw, sizeof(raw), fpr);
	sodium_bin2hex(hex, sizeof(hex), fpr, sizeof(fpr));
	qm_buf_init(&b64, 8192);
	rc = qm_b64_encode(raw, sizeof(raw), &b64, err);
	if (!rc)
		rc = qm_buf_appendf(out, err, "%s: v=%d", QM_IDHDR_NAME,
		                    QM_IDHDR_VERSION);
	if (!rc)
		rc = attr(out, "addr", addr, err);
	if (!rc)
		rc = attr(out, "fpr", hex, err);
	if (!rc && sae && sae[0])
		rc = attr(out, "sae", sae, err);
	if (!rc && kme && kme[0])
		rc = attr(out, "kme", kme, err);
	if (!rc)
		rc = qm_buf_append_str(out, ";\r\n keys=", err);
	for (size_t i = 0; !rc && i < b64.len;) {
		size_t n = i == 0 ? FIRST_PIECE : PIECE;

		if (n > b64.len - i)
			n = b64.len - i;
		if (i)
			rc = qm_buf_append_str(out, "\r\n ", err);
		if (!rc)
			rc = qm_buf_append(out, b64.data + i, n, err);
		i += n;
	}
	if (!rc)
		rc = qm_buf_append_str(out, "\r\n", err);
	qm_buf_free(&b64);
	if (rc) {
		out->len = start;
		return rc;
	}
	return QM_OK;
}

void qm_crypto_idhdr_clear(struct qm_idhdr *h)
{
	if (!h)
		return;
	qm_crypto_pubid_free(&h->key);
	memset(h, 0, sizeof(*h));
}

/* Trims spaces and tabs around [*p, *p + *n). */
static void trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
}

/* The key attribute: base64 with folding spaces, exactly one public key
 * whose fingerprint is fpr. */
static enum qm_err parse_keys(const char *v, size_t n,
                              const unsigned char fpr[QM_FPR_BYTES],
                              struct qm_pubid **out, struct qm_error *err)
{
	struct qm_buf bin;
	unsigned char have[QM_FPR_BYTES];
	char *squeezed;
	size_t k = 0;
	enum qm_err rc;

	if (!(squeezed = malloc(n + 1)))
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (v[i] != ' ' && v[i] != '\t')
			squeezed[k++] = v[i];
	squeezed[k] = '\0';
	qm_buf_init(&bin, QM_PUB_BYTES + 8);
	/* exactly the base64 length of one key, padding included */
	if (k != (QM_PUB_BYTES + 2) / 3 * 4)
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "identity header: keys= is %zu base64 "
		                  "characters, not %d",
		                  k, (QM_PUB_BYTES + 2) / 3 * 4);
	else
		rc = qm_b64_decode(squeezed, k, &bin, err);
	if (!rc)
		rc = qm_crypto_pubid_from_bytes(bin.data, bin.len, out, err);
	if (rc) {
		qm_error_prefix(err, "identity header: ");
	} else {
		qm_crypto_pubid_fingerprint(*out, have);
		if (sodium_memcmp(have, fpr, QM_FPR_BYTES) != 0) {
			qm_crypto_pubid_free(out);
			rc = qm_error_set(
			    err, QM_ERR_PARSE,
			    "identity header: the keys do not have "
			    "the fingerprint fpr= states");
		}
	}
	qm_buf_free(&bin);
	free(squeezed);
	return rc;
}

/* One attribute name=value into h (seen: the attributes found so far). */
static enum qm_err parse_attr(const char *a, size_t n, size_t index,
                              struct qm_idhdr *h, unsigned *seen,
                              const char **keys, size_t *nkeys,
                              struct qm_error *err)
{
	static const char *const names[] = {"v",   "addr", "fpr",
	                                    "sae", "kme",  "keys"};
	const char *eq = memchr(a, '=', n);
	const char *v;
	size_t nn, nv, which = sizeof(names) / sizeof(names[0]);
	struct qm_buf hex;
	enum qm_err rc = QM_OK;

	if (!eq || eq == a)
		return qm_error_set(err, QM_ERR_PARSE,
		                    "identity header: attribute %zu is not "
		                    "name=value",
		                    index + 1);
	nn = (size_t)(eq - a);
	v = eq + 1;
	nv = n - nn - 1;
	trim(&v, &nv);
	if (a[0] == '_')
		return QM_OK; /* optional, for a later version: skipped */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == nn && memcmp(names[i], a, nn) == 0)
			which = i;
	if (which == sizeof(names) / sizeof(names[0]))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "identity header: unknown attribute "
		                    "\"%.*s\"",
		                    (int)(nn > 32 ? 32 : nn), a);
	if ((index == 0) != (which == 0))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "identity header: v= must come first");
	if (*seen & (1u << which))
		return qm_error_set(err, QM_ERR_PARSE,
		                    "identity header: %s= given twice",
		                    names[which]);
	*seen |= 1u << which;
	switch (which) {
	case 0:
		if (nv != 1 || v[0] != '0' + QM_IDHDR_VERSION)
			return qm_error_set(err, QM_ERR_UNSUPPORTED,
			                    "identity header: version %.*s is "
			                    "not supported (this QMail reads "
			                    "version %d)",
			                    (int)(nv > 16 ? 16 : nv), v,
			                    QM_IDHDR_VERSION);
		break;
	case 1:
		if (!addr_ok(v, nv))
			return qm_error_set(err, QM_ERR_PARSE,
			                    "identity header: addr= is not a "
			                    "bare address");
		memcpy(h->addr, v, nv);
		h->addr[nv] = '\0';
		break;
	case 2:
		for (size_t i = 0; i < nv; i++)
			if (!((v[i] >= '0' && v[i] <= '9') ||
			      (v[i] >= 'a' && v[i] <= 'f')))
				nv = 0;
		if (nv != QM_FPR_BYTES * 2)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "identity header: fpr= is not %d "
			                    "lower-case hex digits",
			                    QM_FPR_BYTES * 2);
		qm_buf_init(&hex, QM_FPR_BYTES + 4);
		rc = qm_hex_decode(v, nv, &hex, err);
		if (!rc && hex.len == QM_FPR_BYTES)
			memcpy(h->fpr, hex.data, QM_FPR_BYTES);
		else if (!rc)
			rc = qm_error_set(err, QM_ERR_PARSE,
			                  "identity header: bad fpr=");
		qm_buf_free(&hex);
		break;
	case 3:
	case 4:
		if (!id_ok(v, nv))
			return qm_error_set(err, QM_ERR_PARSE,
			                    "identity header: %s= is not an ID "
			                    "of 1 to %d letters, digits and "
			                    "-._:@/+=",
			                    names[which], QM_IDHDR_IDMAX);
		memcpy(which == 3 ? h->sae : h->kme, v, nv);
		(which == 3 ? h->sae : h->kme)[nv] = '\0';
		break;
	default:
		*keys = v;
		*nkeys = nv;
	}
	return rc;
}

enum qm_err qm_crypto_idhdr_parse(const char *value, size_t len,
                                  struct qm_idhdr *out, struct qm_error *err)
{
	struct qm_idhdr h;
	const char *keys = NULL;
	size_t nkeys = 0, index = 0, i = 0;
	unsigned seen = 0;
	enum qm_err rc = QM_OK;

	memset(&h, 0, sizeof(h));
	if (len > QM_IDHDR_MAX)
		return qm_error_set(err, QM_ERR_TOOBIG,
		                    "identity header: %zu bytes, more than %d",
		                    len, QM_IDHDR_MAX);
	for (size_t k = 0; k < len; k++) {
		unsigned char c = (unsigned char)value[k];

		if ((c < 0x20 && c != '\t') || c > 0x7e)
			return qm_error_set(err, QM_ERR_PARSE,
			                    "identity header: a byte that is "
			                    "not printable ASCII");
	}
	while (!rc && i < len) {
		const char *semi = memchr(value + i, ';', len - i);
		const char *a = value + i;
		size_t n = semi ? (size_t)(semi - a) : len - i;

		i += n + 1;
		trim(&a, &n);
		if (n == 0) {
			/* only a trailing ";" may leave nothing */
			if (i < len)
				rc = qm_error_set(err, QM_ERR_PARSE,
				                  "identity header: an empty "
				                  "attribute");
			continue;
		}
		rc = parse_attr(a, n, index++, &h, &seen, &keys, &nkeys, err);
	}
	if (!rc && (seen & 0x7u) != 0x7u)
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "identity header: v=, addr= and fpr= are "
		                  "required");
	if (!rc && !keys)
		rc = qm_error_set(err, QM_ERR_PARSE,
		                  "identity header: keys= is missing");
	if (!rc)
		rc = parse_keys(keys, nkeys, h.fpr, &h.key, err);
	if (rc) {
		qm_crypto_idhdr_clear(&h);
		return rc;
	}
	*out = h;
	return QM_OK;
}

/* One side of the pair: u16 length, the address in lower case, the
 * fingerprint. */
static size_t side(const char *addr, const unsigned char fpr[QM_FPR_BYTES],
                   unsigned char *o)
{
	size_t n = strlen(addr);

	o[0] = (unsigned char)(n >> 8);
	o[1] = (unsigned char)n;
	for (size_t i = 0; i < n; i++) {
		char c = addr[i];

		o[2 + i] =
		    (unsigned char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	memcpy(o + 2 + n, fpr, QM_FPR_BYTES);
	return 2 + n + QM_FPR_BYTES;
}

/* memcmp order of two encoded sides, the shorter first on a tie. */
static int side_cmp(const unsigned char *a, size_t na, const unsigned char *b,
                    size_t nb)
{
	int c = memcmp(a, b, na < nb ? na : nb);

	if (c)
		return c;
	return na < nb ? -1 : na > nb;
}

enum qm_err qm_crypto_safety_number(const char *addr_a,
                                    const unsigned char fpr_a[QM_FPR_BYTES],
                                    const char *addr_b,
                                    const unsigned char fpr_b[QM_FPR_BYTES],
                                    char out[QM_SAFETY_TEXTLEN],
                                    struct qm_error *err)
{
	static const char label[] = "QMail safety number v1";
	unsigned char a[2 + QM_IDHDR_ADDRMAX + QM_FPR_BYTES];
	unsigned char b[sizeof(a)];
	unsigned char d[crypto_hash_sha512_BYTES];
	crypto_hash_sha512_state st;
	size_t na, nb, o = 0;

	if (!addr_ok(addr_a, strlen(addr_a)) ||
	    !addr_ok(addr_b, strlen(addr_b)))
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a safety number needs two bare addresses");
	na = side(addr_a, fpr_a, a);
	nb = side(addr_b, fpr_b, b);
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, (const unsigned char *)label,
	                          sizeof(label)); /* with its NUL */
	if (side_cmp(a, na, b, nb) <= 0) {
		crypto_hash_sha512_update(&st, a, na);
		crypto_hash_sha512_update(&st, b, nb);
	} else {
		crypto_hash_sha512_update(&st, b, nb);
		crypto_hash_sha512_update(&st, a, na);
	}
	crypto_hash_sha512_final(&st, d);
	for (size_t g = 0; g < QM_SAFETY_GROUPS; g++) {
		uint64_t v = 0;

		for (size_t k = 0; k < 5; k++)
			v = (v << 8) | d[g * 5 + k];
		v %= 100000;
		if (g)
			out[o++] = ' ';
		for (int k = 4; k >= 0; k--) {
			out[o + (size_t)k] = (char)('0' + v % 10);
			v /= 10;
		}
		o += 5;
	}
	out[o] = '\0';
	return QM_OK;
}
