/* SPDX-License-Identifier: MIT */
/*
 * `qkme testnet`: writes a complete test network into a folder with the
 * openssl command: a throw-away CA, per KME a server/client certificate for
 * 127.0.0.1, its SAEs' client certificates, a store key and a qkme.conf
 * naming its neighbours in the topology as peers (every other KME in a
 * mesh) and the rest as nodes, plus an operator certificate and a control
 * file per KME for `qkme ctl`.
 */
#include "private.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs argv with output appended to logpath; 0 when it exits with 0. */
static int run(char *const argv[], const char *logpath)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int nul = open("/dev/null", O_RDONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (nul >= 0)
			dup2(nul, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static enum qm_err write_text(const char *path, const char *text,
                              unsigned mode, struct qm_error *err)
{
	return qm_file_write_atomic(path, text, strlen(text), mode, err);
}

/* A certificate for cn signed by the CA in dir: base.crt and base.key. */
static enum qm_err make_cert(const char *dir, const char *base,
                             const char *cn, struct qm_error *err)
{
	char key[PATH_MAX], csr[PATH_MAX], crt[PATH_MAX], subj[KME_IDMAX + 8];
	char ca[PATH_MAX], cakey[PATH_MAX], ext[PATH_MAX], log[PATH_MAX];

	snprintf(key, sizeof(key), "%s.key", base);
	snprintf(csr, sizeof(csr), "%s.csr", base);
	snprintf(crt, sizeof(crt), "%s.crt", base);
	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	snprintf(ext, sizeof(ext), "%s/leaf.ext", dir);
	snprintf(log, sizeof(log), "%s/openssl.log", dir);
	{
		char *a[] = {"openssl", "req", "-new", "-newkey", "ec",
		             "-pkeyopt", "ec_paramgen_curve:prime256v1",
		             "-nodes", "-keyout", key, "-out", csr, "-subj",
		             subj, NULL};
		char *b[] = {"openssl", "x509", "-req", "-in", csr, "-CA", ca,
		             "-CAkey", cakey, "-CAcreateserial", "-days", "825",
		             "-out", crt, "-extfile", ext, NULL};
		if (run(a, log) || run(b, log))
			return qm_error_set(err, QM_ERR_IO,
			                    "openssl could not make the "
			                    "certificate for %s (see %s)",
			                    cn, log);
	}
	unlink(csr);
	chmod(key, 0600);
	return QM_OK;
}

static void sae_name(char *out, size_t n, int kme, int sae, int nsaes)
{
	if (nsaes == 1)
		snprintf(out, n, "SAE_%c", 'A' + kme);
	else
		snprintf(out, n, "SAE_%c%d", 'A' + kme, sae + 1);
}

enum qm_err qm_kme_topology_parse(const char *s, enum qm_kme_topology *t,
                                  int *n, struct qm_error *err)
{
	static const struct {
		const char *name;
		enum qm_kme_topology t;
		int min;
	} kinds[] = {{"mesh", QM_KME_MESH, 2},
	             {"line", QM_KME_LINE, 2},
	             {"ring", QM_KME_RING, 3},
	             {"star", QM_KME_STAR, 2}};
	const char *colon = strchr(s, ':');
	long long v;

	for (size_t i = 0; colon && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strlen(kinds[i].name) == (size_t)(colon - s) &&
		    strncmp(s, kinds[i].name, (size_t)(colon - s)) == 0) {
			if (qm_parse_ll(colon + 1, kinds[i].min, 16, &v, NULL))
				return qm_error_set(
				    err, QM_ERR_INVAL,
				    "topology \"%s\": a %s has %d to 16 KMEs",
				    s, kinds[i].name, kinds[i].min);
			*t = kinds[i].t;
			*n = (int)v;
			return QM_OK;
		}
	return qm_error_set(err, QM_ERR_INVAL,
	                    "topology \"%s\": write mesh:N, line:N, ring:N "
	                    "or star:N",
	                    s);
}

/* 1 when KMEs i and j (i != j) share a link in topology t of n KMEs. */
static int linked(enum qm_kme_topology t, int n, int i, int j)
{
	int lo = i < j ? i : j, hi = i < j ? j : i;

	switch (t) {
	case QM_KME_LINE:
		return hi == lo + 1;
	case QM_KME_RING:
		return hi == lo + 1 || (lo == 0 && hi == n - 1);
	case QM_KME_STAR:
		return lo == 0;
	case QM_KME_MESH:
	default:
		return 1;
	}
}

enum qm_err qm_kme_testnet(const char *dir_in, int nkmes, int nsaes,
                           const int *ports, const char *extra,
                           struct qm_error *err)
{
	return qm_kme_testnet_topo(dir_in, QM_KME_MESH, nkmes, nsaes, ports,
	                           extra, err);
}

enum qm_err qm_kme_testnet_topo(const char *dir_in, enum qm_kme_topology topo,
                                int nkmes, int nsaes, const int *ports,
                                const char *extra, struct qm_error *err)
{
	char real[PATH_MAX], dir[2048], path[PATH_MAX], log[PATH_MAX];
	struct qm_buf conf;
	enum qm_err rc;

	if (nkmes < 2 || nkmes > 16 || nsaes < 1 || nsaes > 16)
		return qm_error_set(err, QM_ERR_INVAL,
		                    "a test network has 2 to 16 KMEs with 1 to "
		                    "16 SAEs each");
	if ((rc = qm_mkdirs(dir_in, 0700, err)))
		return rc;
	if (!realpath(dir_in, real) || qm_strlcpy(dir, real, sizeof(dir)))
		return qm_error_set(err, QM_ERR_IO,
		                    "cannot resolve %s (or its path is too long)",
		                    dir_in);
	qm_buf_init(&conf, 1 << 20);
	snprintf(log, sizeof(log), "%s/openssl.log", dir);
	snprintf(path, sizeof(path), "%s/leaf.ext", dir);
	if ((rc = write_text(path,
	                     "basicConstraints = CA:FALSE\n"
	                     "keyUsage = critical, digitalSignature, "
	                     "keyEncipherment\n"
	                     "extendedKeyUsage = serverAuth, clientAuth\n"
	                     "subjectAltName = IP:127.0.0.1, DNS:localhost\n",
	                     0644, err)))
		goto out;
	{
		char cakey[PATH_MAX], cacrt[PATH_MAX];
		snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
		snprintf(cacrt, sizeof(cacrt), "%s/ca.crt", dir);
		char *a[] = {"openssl", "req", "-x509", "-newkey", "ec",
		             "-pkeyopt", "ec_paramgen_curve:prime256v1",
		             "-nodes", "-keyout", cakey, "-out", cacrt, "-days",
		             "3650", "-subj", "/CN=QMail qkme test CA",
		             "-addext", "basicConstraints=critical,CA:TRUE",
		             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
		             NULL};
		if (run(a, log)) {
			rc = qm_error_set(err, QM_ERR_IO,
			                  "openssl could not make the test CA "
			                  "(is the openssl command installed? "
			                  "see %s)",
			                  log);
			goto out;
		}
		chmod(cakey, 0600);
	}
	snprintf(path, sizeof(path), "%s/sae", dir);
	if ((rc = qm_mkdirs(path, 0700, err)))
		goto out;
	snprintf(path, sizeof(path), "%s/operator", dir);
	if ((rc = make_cert(dir, path, "OPERATOR", err)))
		goto out;
	for (int i = 0; i < nkmes; i++) {
		char kdir[2100], id[32], name[32], base[2200];
		unsigned char sk[32];
		struct qm_buf hex;

		snprintf(id, sizeof(id), "KME_%c", 'A' + i);
		snprintf(kdir, sizeof(kdir), "%s/%s", dir, id);
		if ((rc = qm_mkdirs(kdir, 0700, err)))
			goto out;
		snprintf(base, sizeof(base), "%s/kme", kdir);
		if ((rc = make_cert(dir, base, id, err)))
			goto out;
		for (int s = 0; s < nsaes; s++) {
			sae_name(name, sizeof(name), i, s, nsaes);
			snprintf(base, sizeof(base), "%s/sae/%s", dir, name);
			if ((rc = make_cert(dir, base, name, err)))
				goto out;
		}
		/* the operator's store key for this KME's sealed pools */
		qm_random(sk, sizeof(sk));
		qm_buf_init_secure(&hex, 128);
		rc = qm_hex_encode(sk, sizeof(sk), &hex, err);
		qm_wipe(sk, sizeof(sk));
		if (!rc)
			rc = qm_buf_append_byte(&hex, '\n', err);
		snprintf(base, sizeof(base), "%s/store.key", kdir);
		if (!rc)
			rc = qm_file_write_atomic(base, hex.data, hex.len, 0600,
			                          err);
		qm_buf_free(&hex);
		if (rc)
			goto out;

		qm_buf_reset(&conf);
		rc = qm_buf_appendf(
			&conf, err,
			"# qkme configuration for %s, written by qkme testnet\n"
			"kme_id = %s\nlisten = 127.0.0.1\nport = %d\n"
			"tls_cert = %s/kme.crt\ntls_key = %s/kme.key\n"
			"client_ca = %s/ca.crt\nstate_dir = %s/state\n"
			"store_key_file = %s/store.key\noperators = OPERATOR\n"
			"saes = ",
			id, id, ports[i], kdir, kdir, dir, kdir, kdir);
		for (int s = 0; !rc && s < nsaes; s++) {
			sae_name(name, sizeof(name), i, s, nsaes);
			rc = qm_buf_appendf(&conf, err, "%s%s", s ? "," : "",
			                    name);
		}
		if (!rc)
			rc = qm_buf_appendf(&conf, err, "\n%s%s", extra ? extra : "",
			                    extra && *extra ? "\n" : "");
		for (int j = 0; !rc && j < nkmes; j++) {
			if (j == i)
				continue;
			if (linked(topo, nkmes, i, j))
				rc = qm_buf_appendf(
				    &conf, err,
				    "\n[peer.KME_%c]\n"
				    "url = https://127.0.0.1:%d\nsaes = ",
				    'A' + j, ports[j]);
			else
				rc = qm_buf_appendf(&conf, err,
				                    "\n[node.KME_%c]\nsaes = ",
				                    'A' + j);
			for (int s = 0; !rc && s < nsaes; s++) {
				sae_name(name, sizeof(name), j, s, nsaes);
				rc = qm_buf_appendf(&conf, err, "%s%s",
				                    s ? "," : "", name);
			}
			if (!rc)
				rc = qm_buf_append_byte(&conf, '\n', err);
		}
		if (rc)
			goto out;
		snprintf(base, sizeof(base), "%s/qkme.conf", kdir);
		if ((rc = qm_file_write_atomic(base, conf.data, conf.len, 0600,
		                               err)))
			goto out;
		/* qkme ctl's file for this KME */
		qm_buf_reset(&conf);
		if ((rc = qm_buf_appendf(&conf, err,
		                         "# qkme ctl settings for %s\n"
		                         "url = https://127.0.0.1:%d\n"
		                         "cert = %s/operator.crt\n"
		                         "key = %s/operator.key\n"
		                         "ca = %s/ca.crt\n",
		                         id, ports[i], dir, dir, dir)))
			goto out;
		snprintf(base, sizeof(base), "%s/ctl.conf", kdir);
		if ((rc = qm_file_write_atomic(base, conf.data, conf.len, 0600,
		                               err)))
			goto out;
	}
out:
	qm_buf_free(&conf);
	if (rc)
		qm_error_prefix(err, "writing the test network in %s: ", dir_in);
	return rc;
}
