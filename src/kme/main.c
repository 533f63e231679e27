/* SPDX-License-Identifier: MIT */
/*
 * The qkme program: `qkme run CONF` serves one KME until SIGTERM or SIGINT
 * (then saves its pools), `qkme testnet DIR` writes a test network, and
 * `qkme ctl CTLCONF eve|stats` is the operator's control over mutual TLS.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kme.h"

/* The version comes from the build (CMakeLists.txt, project()). */
#ifndef QM_VERSION
#define QM_VERSION "unknown"
#endif

static void usage(FILE *to)
{
	fprintf(
	    to,
	    "usage:\n"
	    "  qkme run CONF                 serve one KME (ETSI GS QKD "
	    "014)\n"
	    "  qkme testnet DIR [--kmes N | --topology mesh|line|ring|star:N]\n"
	    "               [--saes N] [--ports P1,P2,...]\n"
	    "               [--base-port P] [--set 'key = value']...\n"
	    "                                write a test network into "
	    "DIR\n"
	    "  qkme ctl CTLCONF stats        link statistics of a KME\n"
	    "  qkme ctl CTLCONF routes       its routes across the network\n"
	    "  qkme ctl CTLCONF relay-tamper on|off\n"
	    "                                test hook: alter the keys it "
	    "relays\n"
	    "  qkme ctl CTLCONF eve on|off|FRACTION [PEER]\n"
	    "                                switch the intercept-resend "
	    "eavesdropper\n"
	    "  qkme --version                print the version\n"
	    "  qkme --help                   this text\n"
	    "\n"
	    "Environment: QKME_STORE_KEY (the pool key, 64 hex digits; wins "
	    "over\n"
	    "store_key_file), QKME_DEBUG (log at debug level).\n"
	    "Exit codes: 0 success; 1 an error, or bad arguments to a "
	    "command;\n"
	    "2 no command or an unknown one.\n");
}

static void log_stderr(enum qm_log_level level, const char *line, void *arg)
{
	static const char *names[] = {"debug", "info", "warn", "error"};

	(void)arg;
	fprintf(stderr, "qkme: %s: %s\n", names[level], line);
}

static int cmd_run(const char *conf)
{
	struct qm_kme *k = NULL;
	struct qm_error e;
	sigset_t set;
	int sig = 0;

	qm_log_set_sink(log_stderr, NULL,
	                getenv("QKME_DEBUG") ? QM_LOG_DEBUG : QM_LOG_INFO);
	/* every thread inherits the mask; main waits for the signal */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (qm_kme_new(conf, &k, &e) || qm_kme_start(k, &e)) {
		fprintf(stderr, "qkme: %s\n", qm_error_msg(&e));
		qm_kme_free(&k);
		return 1;
	}
	sigwait(&set, &sig);
	qm_log(QM_LOG_INFO, "signal %d: saving the pools and stopping", sig);
	qm_kme_free(&k);
	return 0;
}

static int cmd_testnet(int argc, char **argv)
{
	const char *dir = NULL;
	int nkmes = 2, nsaes = 1, base = 8443, ports[16] = {0};
	enum qm_kme_topology topo = QM_KME_MESH;
	struct qm_buf extra;
	struct qm_error e;
	long long v;
	int rc = 1, have_ports = 0;

	qm_buf_init(&extra, 64 * 1024);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--kmes") == 0 && val) {
			if (qm_parse_ll(val, 2, 16, &v, &e))
				goto bad;
			nkmes = (int)v;
			i++;
		} else if (strcmp(a, "--topology") == 0 && val) {
			if (qm_kme_topology_parse(val, &topo, &nkmes, &e))
				goto bad;
			i++;
		} else if (strcmp(a, "--saes") == 0 && val) {
			if (qm_parse_ll(val, 1, 16, &v, &e))
				goto bad;
			nsaes = (int)v;
			i++;
		} else if (strcmp(a, "--base-port") == 0 && val) {
			if (qm_parse_ll(val, 1, 65535 - 16, &v, &e))
				goto bad;
			base = (int)v;
			i++;
		} else if (strcmp(a, "--ports") == 0 && val) {
			char tmp[256], *save = NULL, *tok;
			int n = 0;
			qm_strlcpy(tmp, val, sizeof(tmp));
			for (tok = strtok_r(tmp, ",", &save); tok && n < 16;
			     tok = strtok_r(NULL, ",", &save)) {
				if (qm_parse_ll(tok, 1, 65535, &v, &e))
					goto bad;
				ports[n++] = (int)v;
			}
			have_ports = n;
			i++;
		} else if (strcmp(a, "--set") == 0 && val) {
			if (qm_buf_appendf(&extra, &e, "%s\n", val))
				goto bad;
			i++;
		} else if (!dir && a[0] != '-') {
			dir = a;
		} else {
			usage(stderr);
			goto out;
		}
	}
	if (!dir) {
		usage(stderr);
		goto out;
	}
	if (have_ports && have_ports < nkmes) {
		fprintf(stderr, "qkme: --ports names %d ports for %d KMEs\n",
		        have_ports, nkmes);
		goto out;
	}
	for (int i = 0; !have_ports && i < nkmes; i++)
		ports[i] = base + i;
	if (qm_kme_testnet_topo(dir, topo, nkmes, nsaes, ports,
	                        extra.data ? (char *)extra.data : NULL, &e)) {
		fprintf(stderr, "qkme: %s\n", qm_error_msg(&e));
		goto out;
	}
	printf("test network with %d KMEs written to %s\n", nkmes, dir);
	for (int i = 0; i < nkmes; i++)
		printf("  start KME_%c:  qkme run %s/KME_%c/qkme.conf\n",
		       'A' + i, dir, 'A' + i);
	printf("  SAE certificates: %s/sae/; operator control: qkme ctl "
	       "%s/KME_A/ctl.conf stats\n",
	       dir, dir);
	rc = 0;
	goto out;
bad:
	fprintf(stderr, "qkme: %s\n", qm_error_msg(&e));
out:
	qm_buf_free(&extra);
	return rc;
}

static size_t sink(char *p, size_t sz, size_t n, void *arg)
{
	fwrite(p, sz, n, (FILE *)arg);
	return sz * n;
}

static int cmd_ctl(int argc, char **argv)
{
	struct qm_conf *c = NULL;
	struct qm_error e;
	CURL *h = NULL;
	char url[600], body[256];
	const char *base, *cert, *key, *ca;
	long code = 0;
	int rc = 1;

	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (qm_conf_load(argv[0], &c, &e)) {
		fprintf(stderr, "qkme: %s\n", qm_error_msg(&e));
		return 1;
	}
	base = qm_conf_get(c, "url");
	cert = qm_conf_get(c, "cert");
	key = qm_conf_get(c, "key");
	ca = qm_conf_get(c, "ca");
	if (!base || !cert || !key || !ca) {
		fprintf(stderr, "qkme: %s needs url, cert, key and ca\n",
		        argv[0]);
		goto out;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	if (!h)
		goto out;
	if (strcmp(argv[1], "stats") == 0) {
		snprintf(url, sizeof(url), "%s/kme/v1/ctl/stats", base);
	} else if (strcmp(argv[1], "routes") == 0) {
		snprintf(url, sizeof(url), "%s/kme/v1/ctl/routes", base);
	} else if (strcmp(argv[1], "relay-tamper") == 0 && argc >= 3 &&
	           (strcmp(argv[2], "on") == 0 ||
	            strcmp(argv[2], "off") == 0)) {
		/* a test hook: what this KME relays is altered on the way */
		snprintf(url, sizeof(url), "%s/kme/v1/ctl/relay-tamper", base);
		snprintf(body, sizeof(body), "{\"tamper\":%s}",
		         strcmp(argv[2], "on") == 0 ? "true" : "false");
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	} else if (strcmp(argv[1], "eve") == 0 && argc >= 3) {
		double f;
		char *end;
		if (strcmp(argv[2], "on") == 0)
			f = 1.0;
		else if (strcmp(argv[2], "off") == 0)
			f = 0.0;
		else {
			f = strtod(argv[2], &end);
			if (end == argv[2] || *end || !(f >= 0 && f <= 1)) {
				fprintf(stderr, "qkme: eve takes on, off or a "
				                "fraction in [0, 1]\n");
				goto out;
			}
		}
		snprintf(url, sizeof(url), "%s/kme/v1/ctl/eve", base);
		if (argc >= 4 && strspn(argv[3], "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                                  "abcdefghijklmnopqrstuvwxyz"
		                                  "0123456789_-.") ==
		                     strlen(argv[3]) &&
		    strlen(argv[3]) < 100)
			snprintf(body, sizeof(body),
			         "{\"eavesdropper\":%.6f,\"peer\":\"%s\"}", f,
			         argv[3]);
		else if (argc >= 4) {
			fprintf(stderr, "qkme: %s is no KME ID\n", argv[3]);
			goto out;
		} else
			snprintf(body, sizeof(body), "{\"eavesdropper\":%.6f}",
			         f);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	} else {
		usage(stderr);
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
	curl_easy_setopt(h, CURLOPT_SSLKEY, key);
	curl_easy_setopt(h, CURLOPT_CAINFO, ca);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, stdout);
	{
		CURLcode cc = curl_easy_perform(h);
		if (cc != CURLE_OK) {
			fprintf(stderr, "qkme: %s: %s\n", url,
			        curl_easy_strerror(cc));
			goto out;
		}
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	printf("\n");
	rc = code == 200 ? 0 : 1;
out:
	if (h)
		curl_easy_cleanup(h);
	qm_conf_free(&c);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("qkme %s\n", QM_VERSION);
		return 0;
	}
	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "run") == 0)
		return cmd_run(argv[2]);
	if (argc >= 3 && strcmp(argv[1], "testnet") == 0)
		return cmd_testnet(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "ctl") == 0)
		return cmd_ctl(argc - 2, argv + 2);
	usage(stderr);
	return 2;
}
