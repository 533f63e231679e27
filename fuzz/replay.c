/* SPDX-License-Identifier: MIT */
/*
 * Corpus replay driver: the standard main() that turns a libFuzzer target
 * (LLVMFuzzerTestOneInput) into a normal program, for gcc builds and for
 * `make check`. Every argument is a file or a folder; each file of a folder
 * (not recursive, sorted by name) is fed to the target once. A crash, a
 * sanitizer report or a target's abort() fails the run; so does an empty
 * corpus, so that a moved folder cannot pass silently.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Optional: targets that need set-up define it (as libFuzzer allows). */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "replay: cannot open %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	for (;;) {
		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			unsigned char *np = realloc(p, ncap);

			if (!np) {
				free(p);
				fclose(f);
				return -1;
			}
			p = np;
			cap = ncap;
		}
		size_t got = fread(p + len, 1, cap - len, f);

		len += got;
		if (got == 0)
			break;
	}
	fclose(f);
	/* An exact-size copy lets ASan see reads past the end of the input. */
	unsigned char *exact = malloc(len ? len : 1);

	if (!exact) {
		free(p);
		return -1;
	}
	if (len)
		memcpy(exact, p, len);
	free(p);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static long run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	long done = 0;

	if (!d) {
		fprintf(stderr, "replay: cannot open folder %s: %s\n", dir,
		        strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (!nn)
				break;
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (names[n])
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		                     names[i]) >= sizeof(path) ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (run_file(path) != 0) {
			done = -1;
			break;
		}
		done++;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return done;
}

int main(int argc, char **argv)
{
	long total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS-FOLDER-OR-FILE...\n",
		        argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		long r;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			        strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode))
			r = run_dir(argv[i]);
		else
			r = run_file(argv[i]) == 0 ? 1 : -1;
		if (r < 0)
			return 1;
		total += r;
	}
	if (fuzz_teardown)
		fuzz_teardown();
	printf("replayed %ld inputs without a crash\n", total);
	if (total == 0) {
		fprintf(stderr,
		        "replay: no inputs found: the corpus is empty\n");
		return 1;
	}
	return 0;
}
