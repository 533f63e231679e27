/* SPDX-License-Identifier: MIT */
/*
 * The provider registry (providers.json built into the engine): every
 * entry well formed, the look-ups by name, alias, domain and MX, the
 * presets taken from it, and discovery's first step, which needs no
 * network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/client.h"
#include "qmtest.h"

static void test_entries(void **state)
{
	size_t n = qm_client_provider_count();
	struct qm_error e;

	(void)state;
	assert_true(n >= 4);
	for (size_t i = 0; i < n; i++) {
		struct qm_client_provider p;

		qm_error_clear(&e);
		assert_ok(qm_client_provider_at(i, &p, &e));
		assert_true(p.id[0] && p.name[0]);
		assert_true(p.imap.host[0] && p.smtp.host[0]);
		assert_true(p.imap.port > 0 && p.smtp.port > 0);
		assert_true(p.oauth2);
		assert_true(p.oauth_settings[0]);
		assert_int_equal(strncmp(p.oauth.auth_url, "https://", 8), 0);
		assert_int_equal(strncmp(p.oauth.token_url, "https://", 8), 0);
		assert_true(p.oauth.scope[0]);
	}
	assert_int_equal(qm_client_provider_at(n, NULL, &e), QM_ERR_NOTFOUND);
}

static void test_lookups(void **state)
{
	struct qm_client_provider p;
	struct qm_error e;

	(void)state;
	qm_error_clear(&e);
	assert_ok(qm_client_provider_find(NULL, "a@GMail.com", &p, &e));
	assert_string_equal(p.id, "gmail");
	assert_string_equal(p.oauth.scope, "https://mail.google.com/");
	assert_string_equal(p.oauth.extra_params,
	                    "access_type=offline&prompt=consent");
	assert_true(p.oauth.secret_required);
	assert_true(p.server_saves_sent);
	assert_string_equal(p.folder_sent, "[Gmail]/Sent Mail");
	assert_ok(qm_client_provider_find("google", NULL, &p, &e));
	assert_string_equal(p.id, "gmail");
	assert_ok(qm_client_provider_find(NULL, "b@live.com", &p, &e));
	assert_string_equal(p.id, "outlook");
	assert_false(p.oauth.secret_required);
	assert_string_equal(p.oauth_settings, "microsoft");
	assert_true(p.oauth.device_url[0]);
	assert_has(p.oauth.scope, "https://outlook.office.com/SMTP.Send");
	assert_has(p.oauth.scope, "offline_access");
	assert_ok(qm_client_provider_find("office365", NULL, &p, &e));
	assert_string_equal(p.id, "microsoft365");
	assert_ok(qm_client_provider_find(NULL, "c@rocketmail.com", &p, &e));
	assert_string_equal(p.id, "yahoo");
	assert_string_equal(p.oauth.scope, "mail-w");
	assert_int_equal(qm_client_provider_find(NULL, "d@example.org", &p, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(qm_client_provider_find(NULL, "nobody", &p, &e),
	                 QM_ERR_INVAL);

	assert_ok(qm_client_provider_by_mx("aspmx.l.google.com.", &p, &e));
	assert_string_equal(p.id, "gmail");
	assert_ok(qm_client_provider_by_mx(
	    "contoso-com.mail.protection.outlook.com", &p, &e));
	assert_string_equal(p.id, "microsoft365");
	assert_ok(qm_client_provider_by_mx("mta5.am0.yahoodns.net", &p, &e));
	assert_string_equal(p.id, "yahoo");
	/* a suffix matches on a label boundary only */
	assert_int_equal(qm_client_provider_by_mx("evilgoogle.com", &p, &e),
	                 QM_ERR_NOTFOUND);
	assert_int_equal(
	    qm_client_provider_by_mx("google.com.evil.example", &p, &e),
	    QM_ERR_NOTFOUND);
}

static void test_presets(void **state)
{
	struct qm_store_account a;
	struct qm_error e;

	(void)state;
	memset(&a, 0, sizeof(a));
	qm_error_clear(&e);
	qm_strlcpy(a.address, "bob@googlemail.com", sizeof(a.address));
	assert_ok(qm_client_account_preset(&a, NULL, &e));
	assert_string_equal(a.imap.host, "imap.gmail.com");
	assert_int_equal(a.smtp.port, 465);
	assert_ok(qm_client_account_preset(&a, "outlook", &e));
	assert_string_equal(a.smtp.host, "smtp-mail.outlook.com");
	assert_int_equal(a.smtp.tls, QM_TLS_STARTTLS);
	assert_ok(qm_client_account_preset(&a, "microsoft365", &e));
	assert_string_equal(a.smtp.host, "smtp.office365.com");
	assert_ok(qm_client_account_preset(&a, "yahoo", &e));
	assert_string_equal(a.pop3.host, "pop.mail.yahoo.com");
	assert_int_equal(qm_client_account_preset(&a, "nosuch", &e),
	                 QM_ERR_NOTFOUND);
	assert_has(e.msg, "enter the servers by hand");
}

/* The registry needs neither a client nor the network. */
static void test_discover_registry(void **state)
{
	struct qm_client_discovery d;
	struct qm_store_account a;
	struct qm_error e;

	(void)state;
	qm_error_clear(&e);
	assert_ok(
	    qm_client_discover(NULL, "x@outlook.com", &d, NULL, NULL, &e));
	assert_int_equal(d.found, QM_FOUND_REGISTRY);
	assert_string_equal(qm_client_found_name(d.found), "registry");
	assert_string_equal(d.where, "registry outlook");
	assert_string_equal(d.username, "x@outlook.com");
	assert_false(d.password);
	assert_true(d.oauth2);
	assert_false(d.client_id_set);
	memset(&a, 0, sizeof(a));
	qm_client_discovery_apply(&d, &a);
	assert_string_equal(a.imap.host, "outlook.office365.com");
	assert_string_equal(a.username, "x@outlook.com");
	assert_int_equal(
	    qm_client_discover(NULL, "@gmail.com", &d, NULL, NULL, &e),
	    QM_ERR_INVAL);
	assert_int_equal(
	    qm_client_discover(NULL, "x@localhost", &d, NULL, NULL, &e),
	    QM_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_entries),
	    cmocka_unit_test(test_lookups),
	    cmocka_unit_test(test_presets),
	    cmocka_unit_test(test_discover_registry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
