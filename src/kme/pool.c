/* SPDX-License-Identifier: MIT */
/*
 * Key pools of a link: a direction of key material as blocks of secure
 * memory at absolute offsets (both KMEs hold the same bytes at the same
 * offsets), a hash map of the reservations a peer made for our slave SAEs,
 * and key IDs (UUID version 4).
 */
#include "private.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ streams */

void kstream_free(struct kstream *s)
{
	for (size_t i = 0; i < s->n; i++)
		qm_sec_free(s->blocks[i].data);
	free(s->blocks);
	memset(s, 0, sizeof(*s));
}

enum qm_err kstream_append(struct kstream *s, uint64_t start,
                           const unsigned char *p, size_t len,
                           struct qm_error *err)
{
	struct kblock *b;

	if (len == 0)
		return QM_OK;
	if (start != s->end)
		return qm_error_set(err, QM_ERR_STATE,
		                    "key block at offset %llu does not follow "
		                    "the pool's end %llu",
		                    (unsigned long long)start,
		                    (unsigned long long)s->end);
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct kblock *nb = realloc(s->blocks, ncap * sizeof(*nb));
		if (!nb)
			return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
		s->blocks = nb;
		s->cap = ncap;
	}
	b = &s->blocks[s->n];
	b->data = qm_sec_alloc(len);
	if (!b->data)
		return qm_error_set(err, QM_ERR_NOMEM,
		                    "out of secure memory for a key block");
	memcpy(b->data, p, len);
	b->start = start;
	b->len = len;
	b->live = len;
	s->n++;
	if (s->n == 1 && s->next < start)
		s->next = start;
	s->end = start + len;
	return QM_OK;
}

enum qm_err kstream_append_fresh(struct kstream *s, uint64_t start,
                                 const unsigned char *p, size_t len,
                                 struct qm_error *err)
{
	enum qm_err rc;
	uint64_t upto;

	if (start > s->end) {
		/* a hole: bytes this KME never got; a next inside it moves to
		 * the first byte there is */
		if (s->next >= s->end && s->next < start)
			s->next = start;
		s->end = start;
	}
	rc = kstream_append(s, start, p, len, err);
	upto = s->next < s->end ? s->next : s->end;
	if (!rc && len && upto > start)
		kstream_release(s, start, (size_t)(upto - start));
	return rc;
}

/* Index of the first block that ends after off (it holds off, or off
 * lies in the hole before it), or s->n. */
static size_t find_block(const struct kstream *s, uint64_t off);

uint64_t kstream_avail(const struct kstream *s)
{
	uint64_t n = 0;

	/* bytes in blocks at or after next; holes hold nothing */
	for (size_t i = find_block(s, s->next); i < s->n; i++) {
		const struct kblock *b = &s->blocks[i];
		uint64_t from = b->start > s->next ? b->start : s->next;

		n += b->start + b->len - from;
	}
	return n;
}

uint64_t kstream_take_point(struct kstream *s, size_t len)
{
	for (;;) {
		size_t i = find_block(s, s->next), j;
		uint64_t run_end;

		if (i >= s->n)
			return UINT64_MAX;
		if (s->blocks[i].start > s->next)
			s->next = s->blocks[i].start; /* over a hole */
		run_end = s->blocks[i].start + s->blocks[i].len;
		for (j = i + 1; j < s->n && s->blocks[j].start == run_end; j++)
			run_end += s->blocks[j].len;
		if (run_end - s->next >= len)
			return s->next;
		if (j >= s->n)
			return UINT64_MAX; /* wait for more */
		/* too short before a hole: those bytes can never serve a
		 * request this long or longer, and smaller ones rarely come */
		kstream_release(s, s->next, (size_t)(run_end - s->next));
		s->next = run_end;
	}
}

static size_t find_block(const struct kstream *s, uint64_t off)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct kblock *b = &s->blocks[mid];
		if (b->start + b->len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

enum qm_err kstream_copy(const struct kstream *s, uint64_t off, size_t len,
                         unsigned char *out, struct qm_error *err)
{
	size_t i = find_block(s, off), done = 0;

	while (done < len) {
		const struct kblock *b;
		size_t at, take;

		if (i >= s->n || s->blocks[i].start > off + done)
			return qm_error_set(err, QM_ERR_NOTFOUND,
			                    "key bytes at offset %llu are no "
			                    "longer in the pool",
			                    (unsigned long long)(off + done));
		b = &s->blocks[i];
		at = (size_t)(off + done - b->start);
		take = b->len - at;
		if (take > len - done)
			take = len - done;
		memcpy(out + done, b->data + at, take);
		done += take;
		i++;
	}
	return QM_OK;
}

void kstream_release(struct kstream *s, uint64_t off, size_t len)
{
	size_t i = find_block(s, off), done = 0, w;
	int dead = 0;

	while (done < len && i < s->n) {
		struct kblock *b = &s->blocks[i];
		size_t at, take;

		if (b->start > off + done) {
			/* a hole: those bytes were already released */
			size_t gap = (size_t)(b->start - (off + done));
			if (gap >= len - done)
				break;
			done += gap;
		}
		at = (size_t)(off + done - b->start);
		take = b->len - at;
		if (take > len - done)
			take = len - done;
		qm_wipe(b->data + at, take);
		b->live = b->live > take ? b->live - take : 0;
		if (b->live == 0)
			dead = 1;
		done += take;
		i++;
	}
	if (!dead)
		return;
	/* drop dead blocks, keeping order */
	w = 0;
	for (size_t r = 0; r < s->n; r++) {
		if (s->blocks[r].live == 0) {
			qm_sec_free(s->blocks[r].data);
			continue;
		}
		s->blocks[w++] = s->blocks[r];
	}
	s->n = w;
}

int kstream_has(const struct kstream *s, uint64_t off, size_t len)
{
	size_t i = find_block(s, off);
	uint64_t at = off, end = off + len;

	while (at < end) {
		if (i >= s->n || s->blocks[i].start > at)
			return 0;
		at = s->blocks[i].start + s->blocks[i].len;
		i++;
	}
	return 1;
}

void kstream_skip(struct kstream *s, uint64_t off)
{
	uint64_t to = off < s->end ? off : s->end;

	if (off <= s->next)
		return;
	if (to > s->next)
		kstream_release(s, s->next, (size_t)(to - s->next));
	s->next = off;
}

void kstream_cut(struct kstream *s, uint64_t from)
{
	size_t i;

	if (from < s->next)
		from = s->next; /* below next: used, reserved or already dead */
	i = find_block(s, from);
	if (i >= s->n)
		return;
	if (s->blocks[i].start < from) {
		struct kblock *b = &s->blocks[i];
		size_t keep = (size_t)(from - b->start), cut = b->len - keep;

		/* bytes at or after next are all live */
		qm_wipe(b->data + keep, cut);
		b->live = b->live > cut ? b->live - cut : 0;
		b->len = keep;
		if (b->live)
			i++;
	}
	for (size_t j = i; j < s->n; j++)
		qm_sec_free(s->blocks[j].data);
	s->n = i;
}

void kstream_align(struct kstream *s, uint64_t peer_end)
{
	if (peer_end < s->end)
		kstream_cut(s, peer_end);
	else if (peer_end > s->end)
		s->end = peer_end;
}

/* ------------------------------------------------------------ reservations */

static size_t slot_of(const struct kres_map *m, const unsigned char id[16])
{
	uint64_t h;

	/* key IDs are random: their first bytes are already a good hash */
	memcpy(&h, id, sizeof(h));
	return (size_t)(h % m->nslots);
}

void kres_map_free(struct kres_map *m)
{
	for (size_t i = 0; i < m->nslots; i++) {
		struct kres *r = m->slots[i];
		while (r) {
			struct kres *nx = r->next;
			free(r);
			r = nx;
		}
	}
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

struct kres *kres_find(const struct kres_map *m, const unsigned char id[16])
{
	if (!m->nslots)
		return NULL;
	for (struct kres *r = m->slots[slot_of(m, id)]; r; r = r->next)
		if (memcmp(r->id, id, 16) == 0)
			return r;
	return NULL;
}

static enum qm_err grow(struct kres_map *m, struct qm_error *err)
{
	size_t n = m->nslots ? m->nslots * 2 : 1024;
	struct kres **ns = calloc(n, sizeof(*ns));
	struct kres_map nm = {ns, n, m->count, m->frozen};

	if (!ns)
		return qm_error_set(err, QM_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < m->nslots; i++) {
		struct kres *r = m->slots[i];
		while (r) {
			struct kres *nx = r->next;
			size_t s = slot_of(&nm, r->id);
			r->next = ns[s];
			ns[s] = r;
			r = nx;
		}
	}
	free(m->slots);
	*m = nm;
	return QM_OK;
}

enum qm_err kres_add(struct kres_map *m, struct kres *r, struct qm_error *err)
{
	size_t s;

	if (kres_find(m, r->id))
		return qm_error_set(err, QM_ERR_EXISTS,
		                    "key ID already reserved");
	/* while a save walks the slots, chains grow longer instead */
	if (m->count + 1 > m->nslots && (!m->frozen || !m->nslots)) {
		enum qm_err rc = grow(m, err);
		if (rc)
			return rc;
	}
	s = slot_of(m, r->id);
	r->next = m->slots[s];
	m->slots[s] = r;
	m->count++;
	return QM_OK;
}

void kres_remove(struct kres_map *m, const unsigned char id[16])
{
	struct kres **pp;

	if (!m->nslots)
		return;
	for (pp = &m->slots[slot_of(m, id)]; *pp; pp = &(*pp)->next) {
		if (memcmp((*pp)->id, id, 16) == 0) {
			struct kres *r = *pp;
			*pp = r->next;
			free(r);
			m->count--;
			return;
		}
	}
}

/* ------------------------------------------------------------ uuid */

void kme_uuid_new(unsigned char id[16])
{
	qm_random(id, 16);
	id[6] = (unsigned char)((id[6] & 0x0f) | 0x40);
	id[8] = (unsigned char)((id[8] & 0x3f) | 0x80);
}

void kme_uuid_fmt(const unsigned char id[16], char out[37])
{
	static const char hx[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hx[id[i] >> 4];
		out[o++] = hx[id[i] & 15];
	}
	out[o] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int kme_uuid_parse(const char *s, unsigned char id[16])
{
	size_t o = 0;

	if (!s || strlen(s) != 36)
		return -1;
	for (size_t i = 0; i < 36;) {
		int h, l;
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -1;
			i++;
			continue;
		}
		h = hexval(s[i]);
		l = hexval(s[i + 1]);
		if (h < 0 || l < 0)
			return -1;
		id[o++] = (unsigned char)(h << 4 | l);
		i += 2;
	}
	return 0;
}

/* ------------------------------------------------------------ chunks */

/*
 * Small secure buffers recycled between requests: sodium_malloc maps and
 * protects pages, and on a busy KME that costs more than the request.
 * A chunk is wiped every time it comes back.
 */
static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static void *chunk_free[256];
static size_t chunk_nfree;

void *kme_chunk_get(void)
{
	void *p = NULL;

	pthread_mutex_lock(&chunk_lock);
	if (chunk_nfree)
		p = chunk_free[--chunk_nfree];
	pthread_mutex_unlock(&chunk_lock);
	return p ? p : qm_sec_alloc(KME_CHUNK);
}

void kme_chunk_put(void *p)
{
	if (!p)
		return;
	qm_wipe(p, KME_CHUNK);
	pthread_mutex_lock(&chunk_lock);
	if (chunk_nfree < sizeof(chunk_free) / sizeof(chunk_free[0])) {
		chunk_free[chunk_nfree++] = p;
		p = NULL;
	}
	pthread_mutex_unlock(&chunk_lock);
	qm_sec_free(p);
}
