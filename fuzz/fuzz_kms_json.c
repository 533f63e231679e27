/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the ETSI GS QKD 014 reply bodies a KME sends (Status, Key
 * container, Error), each parser on every input. Accepted containers are
 * walked key by key.
 */
#include <string.h>

#include "fuzz.h"
#include "kms/kms.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct qm_error e;

	(void)argc;
	(void)argv;
	if (qm_core_init(&e) != QM_OK)
		fuzz_die("core init", &e);
	qm_kms_global_init();
	return 0;
}

static void walk(const struct qm_kms_keys *ks, size_t expect)
{
	size_t total = 0, len = 0;

	for (size_t i = 0; i < qm_kms_keys_count(ks); i++) {
		const unsigned char *k = qm_kms_keys_key(ks, i, &len);

		if (!qm_kms_keys_id(ks, i) || !k || len == 0 ||
		    (expect && len != expect))
			__builtin_trap();
		total += len;
	}
	(void)qm_kms_keys_material(ks, &len);
	if (len != total || qm_kms_keys_id(ks, qm_kms_keys_count(ks)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)data;
	struct qm_kms_status st;
	struct qm_kms_keys *ks = NULL;
	struct qm_error e;
	char msg[QM_KMS_MSG_MAX];

	if (qm_kms_status_parse(json, size, &st, &e) == QM_OK &&
	    (memchr(st.source_kme_id, 0, sizeof(st.source_kme_id)) == NULL ||
	     memchr(st.extension, 0, sizeof(st.extension)) == NULL))
		__builtin_trap();
	if (qm_kms_keys_parse(json, size, 0, &ks, &e) == QM_OK) {
		walk(ks, 0);
		qm_kms_keys_free(&ks);
	}
	if (qm_kms_keys_parse(json, size, 32, &ks, &e) == QM_OK) {
		walk(ks, 32);
		qm_kms_keys_free(&ks);
	}
	if (qm_kms_error_parse(json, size, msg, sizeof(msg), &e) == QM_OK) {
		for (const char *p = msg; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				__builtin_trap(); /* printable ASCII only */
	}
	if (qm_kms_error_parse(json, size, msg, 8, &e) == QM_OK &&
	    strlen(msg) > 7)
		__builtin_trap();
	return 0;
}
