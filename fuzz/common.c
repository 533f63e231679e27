/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the fuzz targets and the corpus generator: fixture
 * files, temporary folders, and the deterministic key-from-ID rule that lets
 * the harness supply the keys of the seed envelopes.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"

void fuzz_die(const char *what, const struct qm_error *e)
{
	fprintf(stderr, "fuzz harness: %s: %s\n", what,
	        e ? qm_error_msg(e) : "failed");
	abort();
}

void fuzz_read_fixture(const char *rel, struct qm_buf *out)
{
	char path[4096];
	struct qm_error e;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", QM_FUZZ_DIR, rel) >=
	    sizeof(path))
		fuzz_die("fixture path too long", NULL);
	if (qm_file_read(path, 1u << 24, out, &e) != QM_OK)
		fuzz_die(path, &e);
}

static char g_tmp[4][512];

/* libFuzzer ends a timed run with exit(): remove what is left then. */
static void rm_tempdirs(void)
{
	for (size_t i = 0; i < sizeof(g_tmp) / sizeof(g_tmp[0]); i++)
		if (g_tmp[i][0])
			fuzz_rmtree(g_tmp[i]);
}

void fuzz_tempdir(char *out, size_t outlen)
{
	const char *t = getenv("TMPDIR");

	if ((size_t)snprintf(out, outlen, "%s/qmfuzz.XXXXXX",
	                     t && *t ? t : "/tmp") >= outlen ||
	    !mkdtemp(out))
		fuzz_die("cannot make a temporary folder", NULL);
	for (size_t i = 0; i < sizeof(g_tmp) / sizeof(g_tmp[0]); i++)
		if (!g_tmp[i][0]) {
			if (i == 0)
				atexit(rm_tempdirs);
			qm_strlcpy(g_tmp[i], out, sizeof(g_tmp[i]));
			break;
		}
}

static int rm_one(const char *p, const struct stat *st, int flag,
                  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

void fuzz_rmtree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fuzz_key_for_id(const char *key_id, unsigned char *key, size_t len)
{
	/* BLAKE2b-XOF would do as well; a keyed hash of the ID in a counter
	 * mode is enough for test keys. */
	unsigned char block[32];
	size_t off = 0;
	uint32_t ctr = 0;

	while (off < len) {
		crypto_generichash_state st;
		size_t n =
		    len - off < sizeof(block) ? len - off : sizeof(block);

		crypto_generichash_init(&st, NULL, 0, sizeof(block));
		crypto_generichash_update(&st, (const unsigned char *)&ctr,
		                          sizeof(ctr));
		crypto_generichash_update(&st, (const unsigned char *)key_id,
		                          strlen(key_id));
		crypto_generichash_final(&st, block, sizeof(block));
		memcpy(key + off, block, n);
		off += n;
		ctr++;
	}
}
