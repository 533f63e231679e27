/* SPDX-License-Identifier: MIT */
/*
 * What the client engine shows of a message is safe to show (issue 12,
 * item 7): a plain e-mail whose subject, From and attachment names carry
 * terminal escapes or bidirectional-text controls is read through
 * qm_client_read, and the view's fields show the controls as visible marks
 * ("invoice[U+202E]fdp.exe", not "invoiceexe.pdf"), the real extension,
 * and the From display name decoded from RFC 2047.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client.h"
#include "store/store.h"
#include "core/core.h"
#include "harness.h"
#include "home.h"

#define PASS "correct horse battery staple"

/* RLO (U+202E), PDI (U+2069), RLM (U+200F) in UTF-8. */
#define RLO "\xe2\x80\xae"
#define PDI "\xe2\x81\xa9"
#define RLM "\xe2\x80\x8f"

static char g_home[512];
static struct qm_client *g_c;
static int64_t g_acct;

static int setup(void **state)
{
	struct qm_store_account a;

	(void)state;
	memset(&a, 0, sizeof(a));
	qm_strlcpy(a.address, "bob@example.org", sizeof(a.address));
	if (qmt_home_open("client-display", PASS, &a, &g_c, g_home,
	                  sizeof(g_home)))
		return -1;
	g_acct = a.id;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	qmt_home_close(&g_c, g_home);
	return 0;
}

/* Files a plain message the way sync does; returns its id. */
static int64_t add_plain(const char *mime, const char *subject, int natt)
{
	static int64_t uid = 1;
	struct qm_store_msg m;
	struct qm_error e;
	int64_t id = 0;

	memset(&m, 0, sizeof(m));
	m.account_id = g_acct;
	m.folder = "INBOX";
	m.uidvalidity = 1;
	m.uid = uid++;
	m.from_addr = "mallory@example.net";
	m.to_addrs = "bob@example.org";
	m.date = 1790000000;
	m.level = 0;
	m.verify = QM_VERIFY_NOT_QMAIL;
	m.n_attach = natt;
	assert_int_equal(qm_store_msg_add(qm_client_store(g_c), &m, subject,
	                                  NULL, 0, mime, strlen(mime), NULL,
	                                  &id, &e),
	                 QM_OK);
	return id;
}

/* A plain mail built to deceive: escapes in the subject, an encoded From
 * name, an attachment whose name reverses its extension. */
static const char deceptive_mime[] =
    "From: =?UTF-8?B?QmFuayDDlg==?= <mallory@example.net>\r\n"
    "To: bob@example.org\r\n"
    "Subject: hello \x1b[2K\x1b[1A\rSecurity: L1 OTP " RLO "gnp.exe\r\n"
    "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <d1@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
    "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    "body \x1b]0;owned\x07 text\r\n"
    "--B\r\nContent-Type: application/pdf; name=\"invoice" RLO "fdp.exe\"\r\n"
    "Content-Disposition: attachment; filename=\"invoice" RLO "fdp.exe\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--B--\r\n";

/* The view of a deceptive plain mail shows every control as a mark. */
static void test_read_view_is_display_safe(void **state)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;
	int64_t id;

	(void)state;
	id = add_plain(deceptive_mime, "hello", 1);
	assert_int_equal(qm_client_read(g_c, id, &v, &e), QM_OK);
	/* From: the display name decoded, and nothing of the encoding left */
	assert_string_equal(v->from, "Bank \xc3\x96 <mallory@example.net>");
	/* Subject: no ESC, no CR, the override shown */
	assert_null(strchr(v->subject, 0x1b));
	assert_null(strchr(v->subject, '\r'));
	assert_null(strstr(v->subject, RLO));
	assert_non_null(strstr(v->subject, "[U+202E]gnp.exe"));
	/* the attachment: its real extension is visible and named */
	assert_int_equal(v->natt, 1);
	assert_string_equal(v->att[0].name, "invoice[U+202E]fdp.exe");
	assert_string_equal(v->att[0].ext, "exe");
	assert_true(v->att[0].disguised);
	assert_string_equal(v->att[0].type, "application/pdf");
	/* the body is left as written (each interface shows it its way) */
	assert_non_null(strstr(v->text, "\x1b]0;owned"));
	qm_client_view_free(&v);
}

/* The one function both interfaces use, on its own. */
static void test_display_text(void **state)
{
	static const struct {
		const char *in;
		unsigned flags;
		const char *out;
	} cases[] = {
	    {"plain ascii", 0, "plain ascii"},
	    {"r\xc3\xa9sum\xc3\xa9 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", 0,
	     "r\xc3\xa9sum\xc3\xa9 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d"},
	    /* C0 controls and DEL */
	    {"a\x1b[31mb", 0, "a[U+001B][31mb"},
	    {"a\x7f", 0, "a[U+007F]"},
	    {"a\x01", 0, "a[U+0001]"},
	    /* one line: newline and tab are controls too */
	    {"a\nb\tc", 0, "a[U+000A]b[U+0009]c"},
	    /* a body keeps newline and tab; CR LF is a newline; a lone CR
	     * (which moves the cursor back over a line) is marked */
	    {"a\nb\tc\r\nd\re", QM_DISPLAY_TEXT, "a\nb\tc\nd[U+000D]e"},
	    {"a\r\n", 0, "a[U+000D][U+000A]"},
	    /* C1 controls (U+009B is CSI) */
	    {"a\xc2\x9b"
	     "31m",
	     0, "a[U+009B]31m"},
	    /* every direction control, in a line and in a body */
	    {"x" RLO "y" PDI "z" RLM, 0, "x[U+202E]y[U+2069]z[U+200F]"},
	    {"\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad\xe2\x81\xa6"
	     "\xe2\x81\xa7\xe2\x81\xa8\xe2\x80\x8e\xd8\x9c",
	     QM_DISPLAY_TEXT,
	     "[U+202A][U+202B][U+202C][U+202D][U+2066][U+2067][U+2068]"
	     "[U+200E][U+061C]"},
	    /* line and paragraph separators */
	    {"a\xe2\x80\xa8"
	     "b",
	     0, "a[U+2028]b"},
	    /* bytes that are not UTF-8 (a lone 8-bit CSI, an overlong slash,
	     * a surrogate, a cut sequence) become U+FFFD */
	    {"a\x9b"
	     "b",
	     0,
	     "a\xef\xbf\xbd"
	     "b"},
	    {"\xc0\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd"},
	    {"\xed\xa0\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
	    {"ab\xe2\x80", 0, "ab\xef\xbf\xbd\xef\xbf\xbd"},
	};
	struct qm_error e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;

		assert_int_equal(qm_client_display_dup(
		                     cases[i].in, cases[i].flags, &out, &e),
		                 QM_OK);
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, out,
			         cases[i].out);
		free(out);
	}
}

/* The real extension of a name as the engine reports it. */
static void test_display_ext(void **state)
{
	static const char *const cases[][2] = {
	    {"invoice[U+202E]fdp.exe", "exe"},
	    {"Report.PDF", "pdf"},
	    {"archive.tar.gz", "gz"},
	    {"README", ""},
	    {".bashrc", ""},
	    {"trailing.", ""},
	};
	char ext[32];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		qm_client_display_ext(cases[i][0], ext, sizeof(ext));
		assert_string_equal(ext, cases[i][1]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_display_text),
	    cmocka_unit_test(test_display_ext),
	    cmocka_unit_test(test_read_view_is_display_safe),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
