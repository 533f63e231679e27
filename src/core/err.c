/* SPDX-License-Identifier: MIT */
/*
 * Errors as values: a code and a message a person can act on. Library code
 * fills a struct qm_error; only the programs decide what a person sees.
 */
#include "core.h"

#include <string.h>

static const char *const names[QM_ERR__COUNT] = {
	[QM_OK] = "success",
	[QM_ERR_NOMEM] = "out of memory",
	[QM_ERR_INVAL] = "invalid argument",
	[QM_ERR_TOOBIG] = "too big",
	[QM_ERR_PARSE] = "malformed input",
	[QM_ERR_AUTH] = "authentication failed (tampered data)",
	[QM_ERR_CRYPTO] = "cryptographic failure",
	[QM_ERR_IO] = "file error",
	[QM_ERR_NET] = "network error",
	[QM_ERR_TLS] = "TLS error",
	[QM_ERR_PROTO] = "protocol error",
	[QM_ERR_NOTFOUND] = "not found",
	[QM_ERR_EXISTS] = "already exists",
	[QM_ERR_DENIED] = "permission denied",
	[QM_ERR_UNAVAIL] = "not available now",
	[QM_ERR_REPLAY] = "replayed key ID",
	[QM_ERR_LOCKED] = "vault is locked",
	[QM_ERR_STATE] = "operation out of order",
	[QM_ERR_UNSUPPORTED] = "not supported",
	[QM_ERR_TIMEOUT] = "timed out",
};

const char *qm_err_str(enum qm_err code)
{
	if ((unsigned)code >= QM_ERR__COUNT || !names[code])
		return "unknown error";
	return names[code];
}

void qm_error_clear(struct qm_error *err)
{
	if (!err)
		return;
	err->code = QM_OK;
	err->hint = 0;
	err->hint_arg[0] = '\0';
	err->msg[0] = '\0';
}

enum qm_err qm_error_set(struct qm_error *err, enum qm_err code,
                         const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	err->code = code;
	err->hint = 0;
	err->hint_arg[0] = '\0';
	va_start(ap, fmt);
	qm_log_format(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return code;
}

enum qm_err qm_error_prefix(struct qm_error *err, const char *fmt, ...)
{
	char prefix[QM_ERR_MSGMAX];
	char old[QM_ERR_MSGMAX];
	va_list ap;

	if (!err)
		return QM_ERR_INVAL;
	va_start(ap, fmt);
	qm_log_format(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	err->msg[0] = '\0';
	qm_strlcpy(err->msg, prefix, sizeof(err->msg));
	{
		size_t n = strlen(err->msg);
		qm_strlcpy(err->msg + n, old[0] ? old : qm_err_str(err->code),
		           sizeof(err->msg) - n);
	}
	return err->code;
}

enum qm_err qm_error_hint(struct qm_error *err, int hint, const char *arg)
{
	if (!err)
		return QM_ERR_INVAL;
	err->hint = hint;
	err->hint_arg[0] = '\0';
	if (arg)
		qm_strlcpy(err->hint_arg, arg, sizeof(err->hint_arg));
	return err->code;
}

const char *qm_error_msg(const struct qm_error *err)
{
	if (!err)
		return "unknown error";
	return err->msg[0] ? err->msg : qm_err_str(err->code);
}
