/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: what an OAuth2 sign-in reads from outside. The first byte
 * picks the reader, the second the HTTP status, the rest is the input:
 *  0: a token endpoint's reply (client_oauth_token_reply): on success a
 *     non-empty access token and a sane expiry, on failure no token left
 *     and a message without control bytes;
 *  1: a device authorization endpoint's reply (client_oauth_device_reply):
 *     an https:// verification URI, a clean user code, a bounded interval;
 *  2: the head of the request a browser sends to the loopback redirect
 *     (qm_mail_loopback_parse_head) and its query parameters
 *     (qm_mail_loopback_param): a path that starts with "/", bounded
 *     parameters without NUL.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/private.h"
#include "fuzz.h"
#include "mail/mail.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	return 0;
}

static const long statuses[] = {200, 400, 401, 403, 429, 500, 503, 302};

static void clean_or_trap(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			__builtin_trap();
}

static void token(long status, const uint8_t *p, size_t n)
{
	struct qm_client_oauth_tokens t;
	struct qm_buf body;
	struct qm_error e;
	char code[64];

	qm_buf_init_secure(&body, 1 << 20);
	if (qm_buf_append(&body, p, n, &e) != QM_OK)
		fuzz_die("buffer", &e);
	qm_error_clear(&e);
	if (client_oauth_token_reply("signing in", "idp.example", status, &body,
	                             &t, code, sizeof(code), &e) == QM_OK) {
		if (status != 200 || !t.access || !t.access[0] ||
		    (t.expires && t.expires <= t.issued))
			__builtin_trap();
		qm_client_oauth_tokens_wipe(&t);
	} else {
		if (t.access || t.refresh)
			__builtin_trap();
		clean_or_trap(qm_error_msg(&e));
		clean_or_trap(code);
	}
	qm_buf_free(&body);
}

static void device(long status, const uint8_t *p, size_t n)
{
	struct qm_client_oauth_device d;
	struct qm_buf body;
	struct qm_error e;
	char *dc = NULL;

	qm_buf_init_secure(&body, 1 << 20);
	if (qm_buf_append(&body, p, n, &e) != QM_OK)
		fuzz_die("buffer", &e);
	qm_error_clear(&e);
	if (client_oauth_device_reply("idp.example", status, &body, &d, &dc,
	                              &e) == QM_OK) {
		if (!dc || !dc[0] || !d.user_code[0] ||
		    strncasecmp(d.verification_uri, "https://", 8) != 0 ||
		    (d.verification_uri_complete[0] &&
		     strncasecmp(d.verification_uri_complete, "https://", 8) !=
		         0) ||
		    d.interval < 1 || d.interval >= 600)
			__builtin_trap();
		clean_or_trap(d.user_code);
		qm_sec_free(dc);
	} else {
		if (dc)
			__builtin_trap();
		clean_or_trap(qm_error_msg(&e));
	}
	qm_buf_free(&body);
}

static void head(const uint8_t *p, size_t n)
{
	static const char *const names[] = {"code", "state", "iss", "error",
	                                    "error_description"};
	struct qm_mail_loopback_req req;
	char *buf = malloc(n + 1);
	char out[1024];

	if (!buf)
		return;
	memcpy(buf, p, n);
	buf[n] = '\0';
	memset(&req, 0, sizeof(req));
	req.fd = -1;
	if (qm_mail_loopback_parse_head(buf, n, &req) == 0) {
		if (req.path[0] != '/' || !req.method[0] ||
		    strchr(req.method, ' ') || strchr(req.path, ' ') ||
		    strchr(req.path, '?'))
			__builtin_trap();
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (qm_mail_loopback_param(&req, names[i], out,
			                           sizeof(out)) &&
			    strlen(out) >= sizeof(out))
				__builtin_trap();
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	long status;

	if (size < 2)
		return 0;
	status = statuses[data[1] % (sizeof(statuses) / sizeof(statuses[0]))];
	switch (data[0] % 3) {
	case 0:
		token(status, data + 2, size - 2);
		break;
	case 1:
		device(status, data + 2, size - 2);
		break;
	default:
		head(data + 2, size - 2);
		break;
	}
	return 0;
}
