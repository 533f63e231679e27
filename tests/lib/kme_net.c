/* SPDX-License-Identifier: MIT */
/*
 * Test network helpers for the qkme integration tests (see kme_net.h).
 */
#include "kme_net.h"

#include <curl/curl.h>
#include <dirent.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "core/core.h"
#include "harness.h"

/* The build tree's qkme, or $QMT_QKME (an installed one, a name searched
 * in PATH: tests/dist/install_flow.c). */
static char *qkme_path(void)
{
	static char path[600];
	const char *inst = getenv("QMT_QKME");

	if (inst && *inst)
		qm_strlcpy(path, inst, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s/src/kme/qkme",
		         qmt_binary_dir());
	return path;
}

int kt_kme_start(struct kt_net *n, int i)
{
	char conf[700];
	char *argv[4];

	snprintf(conf, sizeof(conf), "%s/KME_%c/qkme.conf", n->dir, 'A' + i);
	argv[0] = qkme_path();
	argv[1] = "run";
	argv[2] = conf;
	argv[3] = NULL;
	n->pids[i] = qmt_spawn(argv, NULL, n->logs[i]);
	if (n->pids[i] <= 0)
		return -1;
	return qmt_wait_port(n->ports[i], 15000);
}

int kt_kme_stop(struct kt_net *n, int i)
{
	int st = qmt_stop(n->pids[i]);

	n->pids[i] = 0;
	return st;
}

/* Writes the network: nkmes KMEs, or those of topology when it is set. */
static int net_write(struct kt_net *n, const char *tag, int nkmes,
                     const char *topology, int nsaes, const char *extra)
{
	char ports[128] = "", kmes[16], saes[16], xtra[4096], topo[32];
	char *argv[16];
	int a = 0;

	memset(n, 0, sizeof(*n));
	if (topology) {
		const char *c = strchr(topology, ':');

		if (!c || snprintf(topo, sizeof(topo), "%s", topology) >=
		              (int)sizeof(topo))
			return -1;
		{
			long long v;

			if (qm_parse_ll(c + 1, 2, KT_MAXKME, &v, NULL))
				return -1;
			nkmes = (int)v;
		}
	}
	if (nkmes < 2)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (nkmes > KT_MAXKME || qmt_tmpdir(tag, n->dir, sizeof(n->dir)))
		return -1;
	n->nkmes = nkmes;
	n->nsaes = nsaes;
	for (int i = 0; i < nkmes; i++) {
		size_t l = strlen(ports);
		n->ports[i] = qmt_free_port();
		snprintf(ports + l, sizeof(ports) - l, "%s%d", i ? "," : "",
		         n->ports[i]);
		snprintf(n->logs[i], sizeof(n->logs[i]), "%s/kme%c.log",
		         n->dir, 'A' + i);
	}
	snprintf(kmes, sizeof(kmes), "%d", nkmes);
	snprintf(saes, sizeof(saes), "%d", nsaes);
	argv[a++] = qkme_path();
	argv[a++] = "testnet";
	argv[a++] = n->dir;
	if (topology) {
		argv[a++] = "--topology";
		argv[a++] = topo;
	} else {
		argv[a++] = "--kmes";
		argv[a++] = kmes;
	}
	argv[a++] = "--saes";
	argv[a++] = saes;
	argv[a++] = "--ports";
	argv[a++] = ports;
	if (extra) {
		argv[a++] = "--set";
		snprintf(xtra, sizeof(xtra), "%s", extra);
		argv[a++] = xtra;
	}
	argv[a] = NULL;
	if (qmt_run(argv, NULL) != 0)
		return -1;
	return 0;
}

int kt_net_write(struct kt_net *n, const char *tag, int nkmes, int nsaes,
                 const char *extra)
{
	return net_write(n, tag, nkmes, NULL, nsaes, extra);
}

int kt_net_write_topo(struct kt_net *n, const char *tag, const char *topology,
                      int nsaes, const char *extra)
{
	return net_write(n, tag, 0, topology, nsaes, extra);
}

int kt_net_start_topo(struct kt_net *n, const char *tag, const char *topology,
                      int nsaes, const char *extra)
{
	if (kt_net_write_topo(n, tag, topology, nsaes, extra))
		return -1;
	for (int i = 0; i < n->nkmes; i++)
		if (kt_kme_start(n, i))
			return -1;
	return 0;
}

int kt_net_start(struct kt_net *n, const char *tag, int nkmes, int nsaes,
                 const char *extra)
{
	if (kt_net_write(n, tag, nkmes, nsaes, extra))
		return -1;
	for (int i = 0; i < nkmes; i++)
		if (kt_kme_start(n, i))
			return -1;
	return 0;
}

int kt_copy_dir(const char *src, const char *dst)
{
	char *argv[] = {"cp", "-a", (char *)(uintptr_t)src,
	                (char *)(uintptr_t)dst, NULL};

	return qmt_run(argv, NULL) == 0 ? 0 : -1;
}

int kt_copy_state(const char *src, const char *dst)
{
	DIR *d = opendir(src);
	struct dirent *e;
	int rc = 0;

	if (!d || mkdir(dst, 0700) != 0) {
		if (d)
			closedir(d);
		return -1;
	}
	while (!rc && (e = readdir(d))) {
		char from[1200], to[1200], buf[65536];
		FILE *in, *out;
		size_t n;

		/* a KME writes a temporary file and renames it over the old
		 * one: the temporary files are not state, and each name read
		 * gives one whole version of its file */
		if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp."))
			continue;
		snprintf(from, sizeof(from), "%s/%s", src, e->d_name);
		snprintf(to, sizeof(to), "%s/%s", dst, e->d_name);
		in = fopen(from, "rb");
		if (!in)
			continue; /* a temporary file renamed meanwhile */
		out = fopen(to, "wb");
		if (!out)
			rc = -1;
		while (out && (n = fread(buf, 1, sizeof(buf), in)) > 0)
			if (fwrite(buf, 1, n, out) != n)
				rc = -1;
		if (ferror(in) || (out && fclose(out) != 0))
			rc = -1;
		fclose(in);
	}
	closedir(d);
	return rc;
}

int kt_log_has(const struct kt_net *n, int i, const char *text)
{
	FILE *f = fopen(n->logs[i], "r");
	char line[2048];
	int hit = 0;

	if (!f)
		return 0;
	while (!hit && fgets(line, sizeof(line), f))
		hit = strstr(line, text) != NULL;
	fclose(f);
	return hit;
}

int kt_wait_log(const struct kt_net *n, int i, const char *text,
                int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		if (kt_log_has(n, i, text))
			return 1;
		poll(NULL, 0, 50); /* the KME writes its log meanwhile */
	}
	return 0;
}

int kt_net_stop(struct kt_net *n)
{
	int rc = 0;

	for (int i = 0; i < n->nkmes; i++) {
		if (n->pids[i] > 0) {
			int st = kt_kme_stop(n, i);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				fprintf(stderr, "KME_%c did not exit cleanly: see %s\n",
				        'A' + i, n->logs[i]);
				rc = -1;
			}
		}
	}
	if (getenv("KT_KEEP") || rc)
		fprintf(stderr, "kept %s\n", n->dir);
	else if (n->dir[0])
		qmt_rmtree(n->dir);
	return rc;
}

struct sinkbuf {
	char *p;
	size_t len;
};

static size_t sink(char *p, size_t sz, size_t nm, void *arg)
{
	struct sinkbuf *b = arg;
	size_t n = sz * nm;
	char *np;

	if (b->len + n > (1u << 24))
		return 0;
	np = realloc(b->p, b->len + n + 1);
	if (!np)
		return 0;
	memcpy(np + b->len, p, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

long kt_req(const struct kt_net *n, int kme, const char *cert_base,
            const char *path, const char *body, json_t **out)
{
	char url[800], crt[700], key[700], ca[600];
	struct sinkbuf b = {NULL, 0};
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	long code = 0;

	if (out)
		*out = NULL;
	if (!c)
		return 0;
	snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", n->ports[kme],
	         path);
	snprintf(ca, sizeof(ca), "%s/ca.crt", n->dir);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	if (cert_base) {
		if (cert_base[0] == '/') {
			snprintf(crt, sizeof(crt), "%s.crt", cert_base);
			snprintf(key, sizeof(key), "%s.key", cert_base);
		} else {
			snprintf(crt, sizeof(crt), "%s/%s.crt", n->dir,
			         cert_base);
			snprintf(key, sizeof(key), "%s/%s.key", n->dir,
			         cert_base);
		}
		curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	}
	if (body) {
		h = curl_slist_append(h, "Content-Type: application/json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	if (out && b.p)
		*out = json_loads(b.p, 0, NULL);
	free(b.p);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return code;
}

long long kt_wait_keys(const struct kt_net *n, int kme, const char *master,
                       const char *slave, long long want, int timeout_ms)
{
	char path[300], cert[200];
	long long have = -1;

	snprintf(path, sizeof(path), "/api/v1/keys/%s/status", slave);
	snprintf(cert, sizeof(cert), "sae/%s", master);
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		json_t *j = NULL;
		if (kt_req(n, kme, cert, path, NULL, &j) == 200)
			have = json_integer_value(
				json_object_get(j, "stored_key_count"));
		json_decref(j);
		if (have >= want)
			break;
		poll(NULL, 0, 50); /* between two status polls */
	}
	return have;
}
