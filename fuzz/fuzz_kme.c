/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: qkme's request handling (src/kme/api.c), the layer below
 * the HTTP server: ETSI 014 Get status, Get key (POST JSON body, or GET
 * number/size arguments), Get key with key IDs (POST JSON body, or GET
 * key_ID), the KME-to-KME reservation body and the operator's eavesdropper
 * switch, each with its authenticated caller. The KME is real: a test
 * network written by qm_kme_testnet in a temporary folder, KME_A loaded
 * with qm_kme_new (not started: no threads, no network). Its pools are
 * empty, so Get key answers 503 after the whole request is checked.
 *
 * Input: the first byte picks the method; the rest is the body or, for GET,
 * the arguments separated by newlines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "kme/kme.h"
#include "kme/private.h"

static char g_dir[512];
static struct qm_kme *g_kme;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;
	char conf[600];
	int ports[2] = {1, 2}; /* never listened on: the KME is not started */

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	fuzz_tempdir(g_dir, sizeof(g_dir));
	if (qm_kme_testnet(g_dir, 2, 1, ports, NULL, &e) != QM_OK)
		fuzz_die("kme testnet", &e);
	snprintf(conf, sizeof(conf), "%s/KME_A/qkme.conf", g_dir);
	if (qm_kme_new(conf, &g_kme, &e) != QM_OK)
		fuzz_die("kme new", &e);
	return 0;
}

void fuzz_teardown(void)
{
	qm_kme_free(&g_kme);
	fuzz_rmtree(g_dir);
}

/* The i-th newline-separated argument of s (NULL when absent). */
static const char *arg(char *s, int i)
{
	for (; i > 0 && s; i--) {
		s = strchr(s, '\n');
		if (s)
			*s++ = '\0';
	}
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kme_reply r;
	char *body, *a1 = NULL;
	size_t blen;

	if (size < 1)
		return 0;
	blen = size - 1;
	body = malloc(blen + 1);
	if (!body)
		fuzz_die("out of memory", NULL);
	memcpy(body, data + 1, blen);
	body[blen] = '\0';
	memset(&r, 0, sizeof(r));
	switch (data[0] % 8) {
	case 0:
		kme_api_enc_keys(g_kme, "SAE_A", "SAE_B", body, blen, NULL,
		                 NULL, &r);
		break;
	case 1: {
		const char *num = body;

		a1 = strdup(body);
		kme_api_enc_keys(g_kme, "SAE_A", "SAE_B", NULL, 0, arg(a1, 0),
		                 arg(a1, 1), &r);
		(void)num;
		break;
	}
	case 2:
		kme_api_dec_keys(g_kme, "SAE_A", "SAE_B", body, blen, NULL, &r);
		break;
	case 3:
		kme_api_dec_keys(g_kme, "SAE_A", "SAE_B", NULL, 0, body, &r);
		break;
	case 4:
		kme_api_status(g_kme, "SAE_A", body, &r);
		break;
	case 5:
		kme_api_peer_reserve(g_kme, "KME_B", body, blen, &r);
		break;
	case 6:
		kme_api_eve(g_kme, "OPERATOR", 0, body, blen, &r);
		break;
	case 7:
		/* a caller this KME does not serve */
		kme_api_enc_keys(g_kme, body, "SAE_B", NULL, 0, NULL, NULL, &r);
		break;
	}
	free(a1);
	if (r.status < 200 || r.status > 599)
		__builtin_trap(); /* every request gets an HTTP status */
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "kme: %u %.*s\n", r.status,
		        (int)(r.body.len > 160 ? 160 : r.body.len),
		        r.body.data ? (const char *)r.body.data : "");
	if (r.chunk)
		kme_chunk_put(r.body.data);
	else
		qm_buf_free(&r.body);
	free(body);
	return 0;
}
