/* SPDX-License-Identifier: MIT */
/*
 * Secure memory over libsodium: guarded, locked, wiped on free. Live
 * allocations are kept in a small registry so that the logger can refuse to
 * print any of their bytes (qm_sec_contains).
 */
#include "core.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct range {
	uintptr_t start;
	size_t len;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct range *reg;
static size_t reg_len, reg_cap;

enum qm_err qm_core_init(struct qm_error *err)
{
	if (sodium_init() < 0)
		return qm_error_set(err, QM_ERR_CRYPTO,
		                    "libsodium failed to initialise");
	return QM_OK;
}

/* Adds a range to the registry; returns -1 when out of memory. */
static int reg_add(const void *p, size_t n)
{
	int rc = 0;

	pthread_mutex_lock(&reg_lock);
	if (reg_len == reg_cap) {
		size_t ncap = reg_cap ? reg_cap * 2 : 64;
		struct range *nr = realloc(reg, ncap * sizeof(*nr));
		if (!nr) {
			rc = -1;
			goto out;
		}
		reg = nr;
		reg_cap = ncap;
	}
	reg[reg_len].start = (uintptr_t)p;
	reg[reg_len].len = n;
	reg_len++;
out:
	pthread_mutex_unlock(&reg_lock);
	return rc;
}

static void reg_del(const void *p)
{
	pthread_mutex_lock(&reg_lock);
	for (size_t i = reg_len; i-- > 0;) {
		if (reg[i].start == (uintptr_t)p) {
			reg[i] = reg[reg_len - 1];
			reg_len--;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

int qm_sec_contains(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	int hit = 0;

	if (!p)
		return 0;
	if (n == 0)
		n = 1;
	pthread_mutex_lock(&reg_lock);
	for (size_t i = 0; i < reg_len; i++) {
		uintptr_t s = reg[i].start, e = s + reg[i].len;
		if (a < e && a + n > s) {
			hit = 1;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return hit;
}

/*
 * Freed blocks kept for reuse, wiped: each sodium_malloc and sodium_free
 * costs about ten system calls (mmap, mprotect of the guard pages, mlock,
 * madvise, munmap), which a sync paid for every message's buffers. A block
 * is reused only for a request of exactly its size, so the guard page
 * still follows its last byte.
 */
#define SPARE_MAX       16
#define SPARE_MAX_BYTES (8u << 20)

static struct range spare[SPARE_MAX];
static size_t spare_len, spare_bytes;

/* A spare block of exactly n bytes, or NULL. */
static void *spare_take(size_t n)
{
	void *p = NULL;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = spare_len; i-- > 0;) {
		if (spare[i].len == n) {
			p = (void *)spare[i].start;
			spare_bytes -= n;
			spare[i] = spare[--spare_len];
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return p;
}

/* Keeps p (n bytes, wiped) for reuse; 0 when there is no room. */
static int spare_put(void *p, size_t n)
{
	int kept = 0;

	pthread_mutex_lock(&reg_lock);
	if (spare_len < SPARE_MAX && spare_bytes + n <= SPARE_MAX_BYTES) {
		spare[spare_len].start = (uintptr_t)p;
		spare[spare_len].len = n;
		spare_len++;
		spare_bytes += n;
		kept = 1;
	}
	pthread_mutex_unlock(&reg_lock);
	return kept;
}

/* The registered length of p (0 when it is not a live block). */
static size_t reg_len_of(const void *p)
{
	size_t n = 0;

	pthread_mutex_lock(&reg_lock);
	for (size_t i = reg_len; i-- > 0;) {
		if (reg[i].start == (uintptr_t)p) {
			n = reg[i].len;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return n;
}

void *qm_sec_alloc(size_t n)
{
	void *p;

	if (sodium_init() < 0)
		return NULL;
	if (n == 0)
		n = 1;
	p = spare_take(n);
	if (!p)
		p = sodium_malloc(n);
	if (!p)
		return NULL;
	if (reg_add(p, n) != 0) {
		sodium_free(p);
		return NULL;
	}
	return p;
}

void qm_sec_free(void *p)
{
	size_t n;

	if (!p)
		return;
	n = reg_len_of(p);
	reg_del(p);
	if (n) {
		sodium_memzero(p, n);
		if (spare_put(p, n))
			return;
	}
	sodium_free(p); /* wipes before releasing */
}

void *qm_sec_dup(const void *p, size_t n)
{
	void *q = qm_sec_alloc(n);

	if (q && n)
		memcpy(q, p, n);
	return q;
}

void qm_wipe(void *p, size_t n)
{
	if (p && n)
		sodium_memzero(p, n);
}

int qm_ct_eq(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n);
}

void qm_random(void *buf, size_t n)
{
	if (n)
		randombytes_buf(buf, n);
}

uint32_t qm_random_uniform(uint32_t upper)
{
	return upper ? randombytes_uniform(upper) : 0;
}
