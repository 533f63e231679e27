/* SPDX-License-Identifier: MIT */
/*
 * Mail commands: send, reply, forward, sync, list, read and outbox.
 */
#include "cli.h"
#include "web/web.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 100
#define MAX_ATT 64

/* Arguments shared by send, reply and forward. */
struct compose_args {
	const char *to[MAX_LIST], *cc[MAX_LIST], *bcc[MAX_LIST];
	size_t nto, ncc, nbcc;
	const char *subject, *body_file, *account;
	const char *att_path[MAX_ATT];
	size_t natt;
	long long level, fallback;
	int all;   /* reply: to everyone */
	int plain; /* --plain: who can get no encrypted copy gets it plain */
	const char *from;      /* --from: the identity to send as */
	int no_signature;      /* --no-signature */
	const char *html_file; /* --html: an HTML body */
	int draft;             /* --draft: saved as a draft, not sent */
};

static const struct option compose_opts[] = {{"to", 1, 0, 't'},
                                             {"cc", 1, 0, 'c'},
                                             {"bcc", 1, 0, 'b'},
                                             {"subject", 1, 0, 's'},
                                             {"body-file", 1, 0, 'f'},
                                             {"attach", 1, 0, 'a'},
                                             {"level", 1, 0, 'l'},
                                             {"fallback-level", 1, 0, 'F'},
                                             {"account", 1, 0, 'A'},
                                             {"all", 0, 0, 'R'},
                                             {"plain", 0, 0, 'P'},
                                             {"help", 0, 0, 'h'},
                                             {"from", 1, 0, 'W'},
                                             {"no-signature", 0, 0, 'N'},
                                             {"html", 1, 0, 'H'},
                                             {"draft", 0, 0, 'D'},
                                             {0, 0, 0, 0}};

static const char send_help[] =
    "usage: qmail send --to ADDR [--to ADDR ...] [options] [< body]\n"
    "\n"
    "Encrypts a message and sends it. The body is read from --body-file,\n"
    "else from standard input.\n"
    "\n"
    "  --to, --cc, --bcc ADDR   recipients (repeat; Bcc recipients each get\n"
    "                           their own encrypted copy and never appear in\n"
    "                           the headers)\n"
    "  --subject TEXT           the subject (sent encrypted)\n"
    "  --body-file FILE         the text body\n"
    "  --attach FILE            an attachment (repeat)\n"
    "  --level N                1 one-time pad (QKD), 2 QKD-AES, 3 "
    "post-quantum,\n"
    "                           4 classical; default: the setting "
    "default_level,\n"
    "                           else the account's level (`qmail config`)\n"
    "  --fallback-level N       when N's level is not available now, use this\n"
    "                           one instead and say so (never silently); no\n"
    "                           level below the setting min_level is used\n"
    "  --account ADDR           send from this account (default: the first)\n"
    "  --plain                  recipients QMail knows no key or SAE ID for\n"
    "                           (people without QMail) get this message\n"
    "                           unencrypted, as ordinary mail anyone on the\n"
    "                           way can read; the others get it encrypted.\n"
    "                           Without it such a message is refused (exit\n"
    "                           6); never when a minimum level is set\n"
    "  --from ADDR              send as this identity of the account\n"
    "                           (`qmail identity list`; default: the\n"
    "                           default identity)\n"
    "  --no-signature           do not end the text with the identity's\n"
    "                           signature (\"-- \" and the signature)\n"
    "  --html FILE              an HTML body, sent (sanitised, as the\n"
    "                           reader would show it) with a text part:\n"
    "                           the text body when one is given, else\n"
    "                           the text of the HTML\n"
    "  --draft                  save it as a draft instead (the GUI's Drafts;\n"
    "                           also in the server's Drafts folder, sealed to\n"
    "                           your key, for your other devices); no\n"
    "                           attachments, the text only\n"
    "\n"
    "The message enters the outbox, sealed, before any network step. If the\n"
    "KME or the mail server fails, it waits there (`qmail outbox`) and is\n"
    "sent later with the same ciphertext. Exit code 6 when the level is not\n"
    "available (level 1 says how much key material it needs and the KME "
    "has).\n";

static int add_to(const char **list, size_t *n, const char *v)
{
	if (*n >= MAX_LIST)
		return -1;
	list[(*n)++] = v;
	return 0;
}

/* Where the recipient entries of --to, --cc and --bcc live until the
 * process ends (each one "\"Name\" <addr>" or addr, NUL-ended). */
static char addr_pool[3 * MAX_LIST * 400];
static size_t addr_pool_used;

/*
 * One --to, --cc or --bcc value as a person types it: one address or a
 * list ("Bob <bob@x.test>, \"Doe, Jane\" <jane@x.test>"), read by the
 * engine as the GUI's fields are. 0, or the usage error's exit code
 * (naming an entry that is no address).
 */
static int add_addrs(const char *cmd, const char *opt, const char **list,
                     size_t *n, const char *v)
{
	struct qm_client_addr_list l;
	struct qm_error e;
	char msg[600];
	int rc = 0;

	if (qm_client_parse_addrs(v, &l, &e) != QM_OK)
		return cli_fail(&e);
	if (l.ninvalid) {
		snprintf(msg, sizeof(msg),
		         "\"%.300s\" in %s is not an email address",
		         cli_safe(l.invalid[0]), opt);
		rc = cli_usage(cmd, "%s", msg);
	} else if (l.n == 0) {
		snprintf(msg, sizeof(msg), "%s needs an email address", opt);
		rc = cli_usage(cmd, "%s", msg);
	}
	for (size_t i = 0; !rc && i < l.n; i++) {
		char *slot = addr_pool + addr_pool_used;
		size_t room = sizeof(addr_pool) - addr_pool_used;

		if (qm_client_addr_format(l.v[i].name, l.v[i].address, slot,
		                          room, &e) != QM_OK ||
		    add_to(list, n, slot)) {
			rc = cli_usage(cmd, "too many recipients");
			break;
		}
		addr_pool_used += strlen(slot) + 1;
	}
	qm_client_addr_list_clear(&l);
	return rc;
}

static int parse_compose(const char *cmd, int argc, char **argv,
                         struct compose_args *a, int *optend)
{
	int c;

	memset(a, 0, sizeof(*a));
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", compose_opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if ((c = add_addrs(cmd, "--to", a->to, &a->nto,
			                   optarg)) != 0)
				return c;
			break;
		case 'c':
			if ((c = add_addrs(cmd, "--cc", a->cc, &a->ncc,
			                   optarg)) != 0)
				return c;
			break;
		case 'b':
			if ((c = add_addrs(cmd, "--bcc", a->bcc, &a->nbcc,
			                   optarg)) != 0)
				return c;
			break;
		case 's': a->subject = optarg; break;
		case 'f': a->body_file = optarg; break;
		case 'a':
			if (a->natt >= MAX_ATT)
				return cli_usage(cmd, "too many attachments");
			a->att_path[a->natt++] = optarg;
			break;
		case 'l':
			if (qm_parse_ll(optarg, 1, 4, &a->level, NULL))
				return cli_usage(cmd, "--level is 1, 2, 3 or 4");
			break;
		case 'F':
			if (qm_parse_ll(optarg, 1, 4, &a->fallback, NULL))
				return cli_usage(cmd, "--fallback-level is 1-4");
			break;
		case 'A': a->account = optarg; break;
		case 'R': a->all = 1; break;
		case 'P': a->plain = 1; break;
		case 'D':
			a->draft = 1;
			break;
		case 'W':
			a->from = optarg;
			break;
		case 'N':
			a->no_signature = 1;
			break;
		case 'H':
			a->html_file = optarg;
			break;
		case 'h': return -1;
		default: return cli_usage(cmd, "bad option");
		}
	}
	*optend = optind;
	return 0;
}

/* Reads the body from a file or standard input (bounded). */
static int read_body(const char *file, struct qm_buf *out)
{
	struct qm_error e;

	qm_error_clear(&e);
	if (file) {
		if (qm_file_read(file, QM_CLIENT_MAXMSG, out, &e))
			return cli_fail(&e);
		return 0;
	}
	if (isatty(0))
		fprintf(stderr, "Type the message, end with Ctrl-D:\n");
	for (;;) {
		char chunk[65536];
		size_t n = fread(chunk, 1, sizeof(chunk), stdin);
		if (n && qm_buf_append(out, chunk, n, &e)) {
			qm_wipe(chunk, sizeof(chunk));
			return cli_fail(&e);
		}
		qm_wipe(chunk, n);
		if (n < sizeof(chunk))
			break;
	}
	return 0;
}

/* A MIME type for an attachment from its name. */
static const char *guess_type(const char *name)
{
	static const char *const map[][2] = {
		{".txt", "text/plain"},        {".pdf", "application/pdf"},
		{".png", "image/png"},         {".jpg", "image/jpeg"},
		{".jpeg", "image/jpeg"},       {".gif", "image/gif"},
		{".html", "text/html"},        {".zip", "application/zip"},
		{".csv", "text/csv"},          {".json", "application/json"},
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(dot, map[i][0]) == 0)
			return map[i][1];
	return "application/octet-stream";
}

/* `send --draft`: m kept as a draft, here and on the server. */
static int save_draft(struct cli *g, const struct qm_client_compose *m)
{
	struct qm_buf b;
	struct qm_error e;
	int64_t id = 0;
	int kept = 0, rc = 0;

	if (m->natt)
		return cli_usage("send --draft",
		                 "a draft keeps no attachments yet: attach "
		                 "them when you send it");
	qm_error_clear(&e);
	qm_buf_init_secure(&b, QM_CLIENT_MAXMSG);
	if (qm_client_draft_encode(m, &b, &e) ||
	    qm_client_draft_put(g->client, m->account_id, &id, b.data, b.len,
	                        &e)) {
		rc = cli_fail(&e);
	} else if (qm_client_draft_upload(g->client, m->account_id, id, &kept,
	                                  &e)) {
		printf("draft %lld saved\n", (long long)id);
		fprintf(stderr, "qmail: warning: %s\n",
		        cli_safe(qm_error_msg(&e)));
	} else {
		printf("draft %lld saved%s\n", (long long)id,
		       kept ? " (also in Drafts on the server, sealed to your "
		              "key)"
		            : "");
	}
	qm_buf_free(&b);
	return rc;
}

/* Appends the signature of identity id to body ("-- " line first) unless
 * a says --no-signature; as HTML when html (escaped, lines kept). */
static enum qm_err add_signature(const struct compose_args *a,
                                 const struct qm_store_identity *id, int html,
                                 struct qm_buf *body, struct qm_error *e)
{
	enum qm_err rc = QM_OK;

	if (a->no_signature || !id->signature[0])
		return QM_OK;
	if (!html) {
		if (body->len && body->data[body->len - 1] != '\n')
			rc = qm_buf_append_str(body, "\n", e);
		if (!rc)
			rc = qm_buf_append_str(body, "-- \n", e);
		if (!rc)
			rc = qm_buf_append_str(body, id->signature, e);
		if (!rc && id->signature[strlen(id->signature) - 1] != '\n')
			rc = qm_buf_append_str(body, "\n", e);
		return rc;
	}
	rc = qm_buf_append_str(body, "<p>-- <br>", e);
	for (const char *p = id->signature; !rc && *p; p++) {
		switch (*p) {
		case '<':
			rc = qm_buf_append_str(body, "&lt;", e);
			break;
		case '>':
			rc = qm_buf_append_str(body, "&gt;", e);
			break;
		case '&':
			rc = qm_buf_append_str(body, "&amp;", e);
			break;
		case '"':
			rc = qm_buf_append_str(body, "&quot;", e);
			break;
		case '\n':
			rc = qm_buf_append_str(body, "<br>", e);
			break;
		case '\r':
			break;
		default:
			rc = qm_buf_append_byte(body, (unsigned char)*p, e);
		}
	}
	if (!rc)
		rc = qm_buf_append_str(body, "</p>", e);
	return rc;
}

/* --html FILE: the file, with the signature, sanitised as the reader
 * would show it, into html (NUL-terminated); and the text part, when no
 * text body was given, derived from it into text. */
static int html_body(const struct compose_args *a,
                     const struct qm_store_identity *id, int have_text,
                     struct qm_buf *text, struct qm_buf *html)
{
	struct qm_buf raw;
	struct qm_error e;
	enum qm_err rc;

	qm_error_clear(&e);
	qm_buf_init_secure(&raw, QM_CLIENT_MAXMSG + 8192);
	rc = qm_file_read(a->html_file, QM_CLIENT_MAXMSG, &raw, &e);
	if (!rc)
		rc = add_signature(a, id, 1, &raw, &e);
	if (!rc)
		rc = qm_web_compose_html((const char *)raw.data, raw.len, html,
		                         have_text ? NULL : text, &e);
	qm_buf_free(&raw);
	return rc ? cli_fail(&e) : 0;
}

/* Sends what a and the extra fields say. */
static int do_send(struct cli *g, struct compose_args *a, const char *text,
                   const char *quoted, const struct qm_client_view *reply,
                   const char *in_reply_to, const char *references,
                   const struct qm_client_attachment *extra, size_t nextra)
{
	struct qm_store_identity ident;
	struct qm_buf body, html;
	struct qm_client_compose m;
	struct qm_client_attachment att[MAX_ATT * 2];
	struct qm_client_sent sent;
	struct qm_error e;
	char names[MAX_ATT][256];
	int64_t id;
	int rc;

	if ((rc = cli_account_pick(g, a->account, &id)))
		return rc;
	qm_error_clear(&e);
	memset(&m, 0, sizeof(m));
	qm_buf_init_secure(&body, QM_CLIENT_MAXMSG + 8192);
	qm_buf_init_secure(&html, QM_CLIENT_MAXMSG + 65536);
	/* the identity to send as: --from, else the one the original was
	 * addressed to (reply), else the default; its signature ends the
	 * text */
	if (a->from ? qm_client_identity_get(g->client, id, a->from, &ident, &e)
	    : reply ? qm_client_identity_for(g->client, id, reply->to,
	                                     reply->cc, &ident, &e)
	            : qm_client_identity_get(g->client, id, NULL, &ident, &e)) {
		rc = cli_fail(&e);
		if (e.code == QM_ERR_NOTFOUND)
			fprintf(stderr, "qmail: `qmail identity list` shows "
			                "them\n");
		goto out;
	}
	if (a->html_file &&
	    (rc = html_body(a, &ident, text[0] != '\0', &body, &html)))
		goto out;
	if (!a->html_file || text[0]) {
		if (qm_buf_append_str(&body, text, &e)) {
			rc = cli_fail(&e);
			goto out;
		}
		/* the signature goes under what was written, above a quote */
		if (add_signature(a, &ident, 0, &body, &e) ||
		    qm_buf_append_str(&body, quoted ? quoted : "", &e)) {
			rc = cli_fail(&e);
			goto out;
		}
	}

	for (size_t i = 0; i < a->natt; i++) {
		char tmp[1024];

		qm_strlcpy(tmp, a->att_path[i], sizeof(tmp));
		qm_strlcpy(names[i], basename(tmp), sizeof(names[i]));
		att[i].name = names[i];
		att[i].type = guess_type(names[i]);
		/* read by the engine as the message is written into the
		 * outbox: never whole in memory */
		att[i].data = NULL;
		att[i].len = 0;
		att[i].path = a->att_path[i];
	}
	for (size_t i = 0; i < nextra && a->natt + i < MAX_ATT * 2; i++)
		att[a->natt + i] = extra[i];
	m.account_id = id;
	m.to = a->to;
	m.nto = a->nto;
	m.cc = a->cc;
	m.ncc = a->ncc;
	m.bcc = a->bcc;
	m.nbcc = a->nbcc;
	m.subject = a->subject ? a->subject : "";
	m.text = body.data ? (const char *)body.data : "";
	m.html = a->html_file && html.data ? (const char *)html.data : NULL;
	m.from = ident.address;
	m.in_reply_to = in_reply_to;
	m.references = references;
	m.att = att;
	m.natt = a->natt + nextra;
	m.level = (int)a->level;
	m.fallback_level = (int)a->fallback;
	m.allow_plain = a->plain;
	if (a->draft) {
		rc = save_draft(g, &m);
		goto out;
	}
	rc = qm_client_send(g->client, &m, cli_progress, g, &sent, &e);
	cli_progress_end(g);
	if (sent.note[0])
		fprintf(stderr, "qmail: note: %s\n", cli_safe(sent.note));
	if (sent.warning[0])
		fprintf(stderr, "qmail: warning: %s (`qmail keys verify` once "
		                "you compared them)\n",
		        cli_safe(sent.warning));
	if (rc) {
		rc = cli_fail(&e);
		if (sent.n_outbox > sent.n_sent)
			fprintf(stderr, "qmail: `qmail outbox` shows what "
			                "waits\n");
		else if (e.code == QM_ERR_UNAVAIL)
			fprintf(stderr, "qmail: `qmail config list` shows the "
			                "level settings, `qmail contact list` "
			                "the contacts' minimum levels\n");
		goto out;
	}
	if (sent.n_plain && sent.level == 0)
		printf("sent unencrypted (--plain) to %s: %zu of %zu copies "
		       "delivered to the server\n",
		       cli_safe(sent.plain), sent.n_sent, sent.n_outbox);
	else
		printf("sent at level %d (%s): %zu of %zu copies delivered to "
		       "the server\n",
		       sent.level, qm_client_level_badge(sent.level),
		       sent.n_sent, sent.n_outbox);
	if (sent.n_plain && sent.level)
		printf("unencrypted (--plain) to %s; encrypted to the "
		       "others\n",
		       cli_safe(sent.plain));
	rc = sent.n_sent == sent.n_outbox ? 0 : QM_EXIT_NET;
out:
	qm_buf_free(&body);
	qm_buf_free(&html);
	return rc;
}

int cli_cmd_send(struct cli *g, int argc, char **argv)
{
	struct compose_args a;
	struct qm_buf body;
	int rc, end;

	rc = parse_compose("send", argc, argv, &a, &end);
	if (rc < 0) {
		fputs(send_help, stdout);
		return 0;
	}
	if (rc)
		return rc;
	if (a.nto + a.ncc + a.nbcc == 0)
		return cli_usage("send", "give at least one recipient (--to)");
	if ((rc = cli_open_unlocked(g)))
		return rc;
	qm_buf_init_secure(&body, QM_CLIENT_MAXMSG);
	rc = read_body(a.body_file, &body);
	if (!rc)
		rc = do_send(g, &a, body.data ? (char *)body.data : "", NULL,
		             NULL, NULL, NULL, NULL, 0);
	qm_buf_free(&body);
	return rc;
}

/* Loads message ID from argv for reply/forward. */
static int load_view(struct cli *g, const char *cmd, const char *arg,
                     struct qm_client_view **v)
{
	struct qm_error e;
	long long id;

	if (qm_parse_ll(arg, 1, INT64_MAX, &id, NULL))
		return cli_usage(cmd, "\"%s\" is not a message ID", arg);
	qm_error_clear(&e);
	if (qm_client_read(g->client, id, v, &e))
		return cli_fail(&e);
	if ((*v)->verify != QM_VERIFY_OK &&
	    (*v)->verify != QM_VERIFY_NOT_QMAIL &&
	    (*v)->verify != QM_VERIFY_UNVERIFIED_SENDER &&
	    (*v)->verify != QM_VERIFY_SENT) {
		fprintf(stderr, "qmail: message %lld cannot be used: %s\n", id,
		        cli_safe((*v)->status_text));
		qm_client_view_free(v);
		return QM_EXIT_SECURITY;
	}
	return 0;
}

/* Quotes text with "> " into out; QM_ERR_TOOBIG when it does not fit. */
static enum qm_err quote(const char *intro, const char *text,
                         struct qm_buf *out, struct qm_error *e)
{
	enum qm_err rc = qm_buf_append_str(out, intro, e);

	if (!rc)
		rc = qm_buf_append_str(out, "\n> ", e);
	for (const char *p = text; !rc && *p; p++) {
		rc = qm_buf_append_byte(out, (unsigned char)*p, e);
		if (!rc && *p == '\n' && p[1])
			rc = qm_buf_append_str(out, "> ", e);
	}
	if (!rc)
		rc = qm_buf_append_str(out, "\n", e);
	return rc;
}

static const char reply_help[] =
	"usage: qmail reply ID [--all] [--body-file FILE] [--level N] ...\n"
	"       qmail forward ID --to ADDR [--body-file FILE] [--level N] ...\n"
	"\n"
	"Answers message ID (to its Reply-To address, else its sender; --all:\n"
	"also to every To and Cc recipient but you), quoting it, with\n"
	"In-Reply-To and References set;\n"
	"or forwards it with its attachments. Takes the options of `qmail send`.\n";

static int reply_or_forward(struct cli *g, int argc, char **argv, int fwd)
{
	const char *cmd = fwd ? "forward" : "reply";
	struct compose_args a;
	struct qm_client_view *v = NULL;
	struct qm_buf body, subj, refs, qb;
	struct qm_client_attachment extra[MAX_ATT];
	char **rto = NULL, **rcc = NULL;
	size_t nrto = 0, nrcc = 0;
	struct qm_error e;
	enum qm_err brc;
	int rc, end;

	qm_error_clear(&e);
	rc = parse_compose(cmd, argc, argv, &a, &end);
	if (rc < 0) {
		fputs(reply_help, stdout);
		return 0;
	}
	if (rc)
		return rc;
	if (end >= argc)
		return cli_usage(cmd, "give the message ID");
	if (fwd && a.nto + a.ncc + a.nbcc == 0)
		return cli_usage(cmd, "give a recipient (--to)");
	if ((rc = cli_open_unlocked(g)) || (rc = load_view(g, cmd, argv[end], &v)))
		return rc;
	qm_buf_init_secure(&body, QM_CLIENT_MAXMSG);
	qm_buf_init(&subj, 4096);
	qm_buf_init(&refs, 16384);
	qm_buf_init_secure(&qb, QM_CLIENT_MAXMSG);
	if (a.body_file || !isatty(0))
		rc = read_body(a.body_file, &body);
	if (rc)
		goto out;
	if (!fwd) {
		int64_t aid = 0;

		/* the engine's answer: Reply-To, else From; --all adds To
		 * and Cc but this account */
		if ((rc = cli_account_pick(g, a.account, &aid)))
			goto out;
		if (qm_client_reply_rcpts(g->client, aid, v, a.all, &rto, &nrto,
		                          &rcc, &nrcc, &e)) {
			rc = cli_fail(&e);
			goto out;
		}
		for (size_t i = 0; i < nrto; i++)
			add_to(a.to, &a.nto, rto[i]);
		for (size_t i = 0; i < nrcc; i++)
			add_to(a.cc, &a.ncc, rcc[i]);
		brc = quote("\nOn the message you wrote:", v->text, &qb, &e);
		if (!brc && strncasecmp(v->subject, "Re:", 3) != 0)
			brc = qm_buf_append_str(&subj, "Re: ", &e);
	} else {
		brc = quote("\n---------- Forwarded message ----------",
		            v->text, &qb, &e);
		if (!brc)
			brc = qm_buf_append_str(&subj, "Fwd: ", &e);
		for (size_t i = 0; i < v->natt && i < MAX_ATT; i++) {
			extra[i].name = v->att[i].name;
			extra[i].type = v->att[i].type;
			extra[i].data = v->att[i].data;
			extra[i].len = v->att[i].len;
		}
	}
	if (!brc)
		brc = qm_buf_append_str(&subj, v->subject, &e);
	if (!brc)
		brc =
		    qm_buf_appendf(&refs, &e, "%s%s%s", v->references,
		                   v->references[0] ? " " : "", v->message_id);
	if (brc) {
		/* never send a quote, subject or References cut short */
		qm_error_prefix(&e, "message %s: ", argv[end]);
		rc = cli_fail(&e);
		goto out;
	}
	if (!a.subject)
		a.subject = subj.data ? (char *)subj.data : "";
	rc = do_send(g, &a, body.data ? (char *)body.data : "",
	             qb.len ? (char *)qb.data : NULL, fwd ? NULL : v,
	             fwd ? NULL : v->message_id, fwd ? NULL : (char *)refs.data,
	             fwd ? extra : NULL,
	             fwd ? (v->natt < MAX_ATT ? v->natt : MAX_ATT) : 0);
out:
	qm_client_strv_free(&rto, nrto);
	qm_client_strv_free(&rcc, nrcc);
	qm_buf_free(&body);
	qm_buf_free(&subj);
	qm_buf_free(&refs);
	qm_buf_free(&qb);
	qm_client_view_free(&v);
	return rc;
}

int cli_cmd_reply(struct cli *g, int argc, char **argv)
{
	return reply_or_forward(g, argc, argv, 0);
}

int cli_cmd_forward(struct cli *g, int argc, char **argv)
{
	return reply_or_forward(g, argc, argv, 1);
}

/* What a sync of account found besides the counts: unverified senders,
 * waiting messages opened, and (once) why others still wait. */
static void sync_notes(const char *account,
                       const struct qm_client_sync_stats *st, int quiet)
{
	if (st->unverified)
		printf("%s: %zu decrypted but from an UNVERIFIED SENDER (not "
		       "sent from the SAE ID confirmed for its From address; "
		       "`qmail read ID` says whose it was)\n",
		       account, st->unverified);
	if (st->resumed)
		printf("%s: %zu message%s that waited for %s keys opened\n",
		       account, st->resumed, st->resumed == 1 ? "" : "s",
		       st->resumed == 1 ? "its" : "their");
	if (st->waiting && (!quiet || st->kme_problem[0]))
		printf("%s: %zu wait%s for %s keys (kept, opened by a later "
		       "sync; `qmail retry ID` tries one now)%s%s\n",
		       account, st->waiting, st->waiting == 1 ? "s" : "",
		       st->waiting == 1 ? "its" : "their",
		       st->kme_problem[0] ? ": " : "", cli_safe(st->kme_problem));
	else if (st->kme_problem[0])
		printf("%s: the KME could not be used: %s\n", account,
		       cli_safe(st->kme_problem));
}

/* What `sync` needs across one pass: the options and the worst exit. */
struct sync_run {
	struct cli *g;
	int quiet; /* print an account's line only when something happened */
	int worst;
};

/* qm_client_sync_all's progress: the terminal's bar. */
static void sync_progress(void *arg, const char *what, uint64_t done,
                          uint64_t total)
{
	struct sync_run *sr = arg;

	cli_progress(sr->g, what, done, total);
}

/* qm_client_sync_all's report of one account: its lines and exit code. */
static void sync_report(void *arg, const struct qm_client_sync_report *r)
{
	struct sync_run *sr = arg;
	const struct qm_client_sync_stats *st = &r->st;

	cli_progress_end(sr->g);
	if (!sr->quiet || st->fetched || st->resumed || r->rc)
		printf("%s: %zu new (%zu decrypted, %zu plain, %zu "
		       "tampered, %zu replayed, %zu unreadable)\n",
		       r->address, st->fetched, st->decrypted, st->plain,
		       st->tampered, st->replayed, st->errors + st->unreadable);
	sync_notes(r->address, st, sr->quiet);
	if (st->duplicates)
		printf("%s: %zu identical cop%s of a message already "
		       "received ignored (delivered twice, e.g. after "
		       "a lost server reply)\n",
		       r->address, st->duplicates,
		       st->duplicates == 1 ? "y" : "ies");
	if (st->own)
		printf("%s: %zu QMail message%s sent by you (encrypted for "
		       "%s recipients: the KME is not asked for them)\n",
		       r->address, st->own, st->own == 1 ? "" : "s",
		       st->own == 1 ? "its" : "their");
	if (st->chat)
		printf("%s: %zu chat message%s filed in conversations "
		       "(`qmail chat list`)\n",
		       r->address, st->chat, st->chat == 1 ? "" : "s");
	if (st->headers_only || (st->bodies && !sr->quiet))
		printf("%s: %zu plain message%s listed from %s headers "
		       "first; %zu bod%s downloaded after (the rest when "
		       "opened, or at the next sync)\n",
		       r->address, st->headers_only,
		       st->headers_only == 1 ? "" : "s",
		       st->headers_only == 1 ? "its" : "their", st->bodies,
		       st->bodies == 1 ? "y" : "ies");
	if (r->rc) {
		int x = cli_fail(&r->error);
		if (!sr->worst)
			sr->worst = x;
	} else if ((st->tampered || st->replayed) && !sr->worst) {
		sr->worst = QM_EXIT_SECURITY;
	} else if (st->kme_problem[0] && !sr->worst) {
		sr->worst = QM_EXIT_NET;
	}
}

/* One pass (the engine's order: the outbox, then each account's new
 * mail). Returns the worst exit. */
static int sync_pass(struct cli *g, int64_t account_id, int quiet)
{
	struct sync_run sr = {g, quiet, 0};
	struct qm_client_sync_all out;
	struct qm_error e;

	qm_error_clear(&e);
	if (qm_client_sync_all(g->client, account_id, sync_progress,
	                       sync_report, &sr, &out, &e))
		return cli_fail(&e);
	cli_progress_end(g);
	if (out.not_sent)
		fprintf(stderr, "qmail: outbox: %zu message%s still wait%s%s%s\n",
		        out.not_sent, out.not_sent == 1 ? "" : "s",
		        out.not_sent == 1 ? "s" : "",
		        out.outbox_rc ? ": " : " (`qmail outbox` says why)",
		        out.outbox_rc ? cli_safe(qm_error_msg(&out.outbox_error))
		                      : "");
	fflush(stdout);
	return sr.worst;
}

/* Waits for the next pass of `sync --watch`: IMAP IDLE on the account when
 * one IMAP account is watched, else a pause of interval_s. */
static void watch_wait(struct cli *g, int64_t account_id, long interval_s)
{
	struct qm_store_account *as = NULL;
	int64_t one = 0;
	char addr[QM_STORE_ADDRMAX] = "";
	size_t n = 0;
	struct qm_error e;
	int news = 0;

	qm_error_clear(&e);
	if (account_id)
		one = account_id;
	else if (qm_client_account_list(g->client, &as, &n, &e) == QM_OK &&
	         n == 1)
		one = as[0].id;
	for (size_t i = 0; i < n; i++)
		if (as[i].id == one)
			qm_strlcpy(addr, as[i].address, sizeof(addr));
	free(as);
	qm_error_clear(&e);
	if (one &&
	    qm_client_wait_mail(g->client, one, interval_s * 1000, &news,
	                        &e) == QM_OK)
		return;
	if (one && e.code != QM_ERR_UNSUPPORTED)
		fprintf(stderr, "qmail: %s: waiting for new mail: %s; trying "
		                "again in %ld s\n",
		        addr[0] ? addr : "the account",
		        cli_safe(qm_error_msg(&e)), interval_s);
	{
		struct timespec ts = {interval_s, 0};

		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	}
}

int cli_cmd_sync(struct cli *g, int argc, char **argv)
{
	const char *account = NULL;
	long long interval = 300;
	int64_t id = 0;
	int rc, worst, watch = 0;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: qmail sync [--account ADDR] [--watch "
			       "[--interval SECONDS]]\n\n"
			       "Fetches new mail of every account (or one) over "
			       "IMAP or POP3, decrypts and\nverifies QMail "
			       "messages with keys from the account's KME, "
			       "and keeps the\nplaintext in the vault. Also "
			       "sends what waits in the outbox.\n\n"
			       "--watch keeps going until Ctrl-C: after each "
			       "pass it waits for new mail\n(IMAP IDLE when "
			       "one IMAP account is watched, else a pause of "
			       "--interval\nseconds, 300 by default) and "
			       "prints a line only when something arrived.\n");
			return 0;
		}
		if (strcmp(argv[i], "--account") == 0 && i + 1 < argc)
			account = argv[++i];
		else if (strcmp(argv[i], "--watch") == 0)
			watch = 1;
		else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
			if (qm_parse_ll(argv[++i], 1, 86400, &interval, NULL))
				return cli_usage("sync",
				                 "--interval takes 1 to 86400 "
				                 "seconds, not \"%s\"",
				                 argv[i]);
		} else
			return cli_usage("sync", "bad argument %s", argv[i]);
	}
	if ((rc = cli_open_unlocked(g)))
		return rc;
	if (account && (rc = cli_account_pick(g, account, &id)))
		return rc;
	worst = sync_pass(g, id, 0);
	while (watch) {
		watch_wait(g, id, (long)interval);
		sync_pass(g, id, 1);
	}
	return worst;
}

static const char *badge(const struct qm_store_msg *m)
{
	switch (m->verify) {
	case QM_VERIFY_TAMPERED:
		return "TAMPERED";
	case QM_VERIFY_REPLAY:
		return "REPLAY";
	case QM_VERIFY_NOT_QMAIL:
		return "plain";
	case QM_VERIFY_UNKNOWN_KEY:
		return "no-key";
	case QM_VERIFY_REFUSED:
		return "REFUSED";
	case QM_VERIFY_UNVERIFIED_SENDER:
		return "UNVERIFIED";
	case QM_VERIFY_WAITING:
		return "waiting";
	case QM_VERIFY_UNREADABLE:
		return "UNREADABLE";
	case QM_VERIFY_SENT:
		return "sent";
	case QM_VERIFY_SENT_ELSEWHERE:
		return "from-you";
	default:
		return m->level == 1   ? "L1-OTP"
		       : m->level == 2 ? "L2-QAES"
		       : m->level == 3 ? "L3-PQC"
		                       : "L4";
	}
}

/* One row of a list; more (may be "") after the subject; with snip, the
 * snippet of the message's text on a second line (when it has one). */
static void list_row(const struct qm_store_msg *m, const char *more,
                     int snip)
{
	char date[32];
	time_t t = (time_t)m->date;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M", &tm);
	/* [headers]: a header-only record, its body fetched when read */
	printf("%6lld  %s  %-10s %c %-28.28s  %s%s%s%s\n", (long long)m->id,
	       date, badge(m), m->flags & QM_FLAG_SEEN ? ' ' : '*',
	       cli_safe(m->from_addr),
	       m->subject ? cli_safe(m->subject) : "(locked)",
	       m->n_attach ? "  [att]" : "",
	       m->body_pending ? "  [headers]" : "", more);
	if (snip && m->snippet && *m->snippet)
		printf("%6s  %s\n", "", cli_safe(m->snippet));
}

/* The list item of head i (heads are oldest first, the list newest). */
static const struct qm_store_msg *item_of(const struct qm_store_msglist *l,
                                          size_t i)
{
	return &l->items[l->n - 1 - i];
}

/* The list as threads (one row each: its first message, with the count)
 * or sorted, as how says. */
static int list_arranged(struct cli *g, const struct qm_store_msglist *l,
                         int threads, const struct qm_client_sort *how,
                         int sorted, int snip)
{
	struct qm_client_heads *h = NULL;
	struct qm_client_threads *t = NULL;
	size_t *order = NULL;
	struct qm_error e;
	enum qm_err r;

	qm_error_clear(&e);
	r = qm_client_msg_heads(g->client, l, &h, &e);
	if (!r && threads) {
		r = qm_client_thread_build(h->v, h->n, &t, &e);
		if (!r && sorted)
			r = qm_client_threads_sort(t, h->v, h->n, how, &e);
		for (size_t i = 0; !r && i < t->nthreads; i++) {
			const struct qm_client_thread *th = &t->threads[i];
			char more[64] = "";

			if (th->count > 1)
				snprintf(more, sizeof(more),
				         "  [%zu messages, %zu unread]",
				         th->count, th->unread);
			list_row(item_of(l, th->first_msg), more, snip);
		}
	} else if (!r) {
		order = calloc(h->n ? h->n : 1, sizeof(*order));
		r = order ? qm_client_msgs_sort(h->v, h->n, how, order, &e)
		          : qm_error_set(&e, QM_ERR_NOMEM, "out of memory");
		for (size_t i = 0; !r && i < h->n; i++)
			list_row(item_of(l, order[i]), "", snip);
	}
	free(order);
	qm_client_threads_free(&t);
	qm_client_heads_free(&h);
	return r ? cli_fail(&e) : 0;
}

int cli_cmd_list(struct cli *g, int argc, char **argv)
{
	struct qm_store_query q;
	struct qm_store_msglist *l = NULL;
	struct qm_client_sort how = {QM_SORT_DATE, 1, 0};
	struct qm_error e;
	const char *account = NULL;
	long long lim = 50;
	int64_t id;
	int rc, threads = 0, sorted = 0, snip = 0;

	memset(&q, 0, sizeof(q));
	q.folder = "INBOX";
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: qmail list [--folder F] [--limit N] "
			       "[--search WORDS] [--level N] [--account ADDR]\n"
			       "                  [--threads] [--sort "
			       "date|from|subject|size] [--unread-first]\n"
			       "                  [--snippets]\n\n"
			       "Lists messages, newest first: ID, date, security, "
			       "sender, subject. --threads shows each "
			       "conversation once (its first message, with the "
			       "number of messages and unread ones); --sort "
			       "orders by date (newest first), sender or subject "
			       "(A to Z) or size (largest first). They arrange the "
			       "N newest messages (--limit). --snippets adds a "
			       "line with the first words of each message's "
			       "text.\n");
			return 0;
		}
		if (strcmp(argv[i], "--threads") == 0) {
			threads = 1;
			continue;
		}
		if (strcmp(argv[i], "--snippets") == 0) {
			snip = 1;
			continue;
		}
		if (strcmp(argv[i], "--unread-first") == 0) {
			how.unread_first = 1;
			sorted = 1;
			continue;
		}
		if (i + 1 >= argc)
			return cli_usage("list", "option %s needs a value",
			                 argv[i]);
		if (strcmp(argv[i], "--folder") == 0) {
			q.folder = argv[++i];
		} else if (strcmp(argv[i], "--sort") == 0) {
			const char *k = argv[++i];
			int key = strcmp(k, "date") == 0      ? QM_SORT_DATE
			          : strcmp(k, "from") == 0    ? QM_SORT_FROM
			          : strcmp(k, "subject") == 0 ? QM_SORT_SUBJECT
			          : strcmp(k, "size") == 0    ? QM_SORT_SIZE
			                                      : -1;

			if (key < 0)
				return cli_usage("list", "--sort is date, from, "
				                         "subject or size");
			sorted = 1;
			how.key = (enum qm_client_sort_key)key;
			how.descending = how.key == QM_SORT_DATE ||
			                 how.key == QM_SORT_SIZE;
		} else if (strcmp(argv[i], "--limit") == 0) {
			if (qm_parse_ll(argv[++i], 1, 1000, &lim, NULL))
				return cli_usage("list", "--limit is 1-1000");
		} else if (strcmp(argv[i], "--search") == 0) {
			q.text = argv[++i];
		} else if (strcmp(argv[i], "--level") == 0) {
			long long lv;
			if (qm_parse_ll(argv[++i], 1, 4, &lv, NULL))
				return cli_usage("list", "--level is 1-4");
			q.level = (int)lv;
		} else if (strcmp(argv[i], "--account") == 0) {
			account = argv[++i];
		} else {
			return cli_usage("list", "bad argument %s", argv[i]);
		}
	}
	q.limit = (int)lim;
	if ((rc = cli_open_unlocked(g)) || (rc = cli_account_pick(g, account, &id)))
		return rc;
	q.account_id = id;
	qm_error_clear(&e);
	if (qm_client_msg_list(g->client, &q, &l, &e))
		return cli_fail(&e);
	if (l->n && (threads || sorted))
		rc = list_arranged(g, l, threads, &how, sorted, snip);
	else
		for (size_t i = 0; i < l->n; i++)
			list_row(&l->items[i], "", snip);
	if (l->n == 0)
		printf("no messages\n");
	qm_client_msglist_free(&l);
	return rc;
}

/* Where attachment i named name is saved in dir: a safe version of the
 * name. */
static void save_path(const char *dir, const char *aname, size_t i, char *path,
                      size_t cap)
{
	char name[256];
	size_t n = 0;

	/* aname is the display-safe name the reader showed (controls
	 * marked): the file gets that name, never the deceptive one */
	for (const char *p = aname; *p && n < sizeof(name) - 1; p++)
		name[n++] = (*p == '/' || *p == '\\' || (unsigned char)*p < 32)
		                    ? '_'
		                    : *p;
	name[n] = '\0';
	if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		snprintf(name, sizeof(name), "attachment-%zu", i + 1);
	snprintf(path, cap, "%s/%s", dir, name);
}

static int save_att(const char *dir, const struct qm_client_att *a, size_t i);

/*
 * Writes the attachment ar reads into path as it is read (a temporary file
 * beside it, fsync, rename: never a partial file under the name), so that
 * memory stays bounded whatever its size. *len: the bytes written.
 */
static enum qm_err save_stream(struct qm_client_att_reader *ar,
                               const char *path, uint64_t *len,
                               struct qm_error *e)
{
	unsigned char buf[65536];
	char tmp[4200];
	enum qm_err rc = QM_OK;
	size_t got = 0;
	int fd;

	*len = 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return qm_error_set(e, QM_ERR_IO, "cannot create %s: %s", tmp,
		                    strerror(errno));
	do {
		size_t done = 0;

		rc = qm_client_att_read(ar, buf, sizeof(buf), &got, e);
		while (!rc && done < got) {
			ssize_t w = write(fd, buf + done, got - done);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				rc = qm_error_set(e, QM_ERR_IO,
				                  "cannot write %s: %s", path,
				                  strerror(errno));
			else
				done += (size_t)w;
		}
		*len += got;
	} while (!rc && got);
	qm_wipe(buf, sizeof(buf));
	if (!rc && fsync(fd) != 0)
		rc = qm_error_set(e, QM_ERR_IO, "cannot write %s: %s", path,
		                  strerror(errno));
	if (close(fd) != 0 && !rc)
		rc = qm_error_set(e, QM_ERR_IO, "cannot write %s: %s", path,
		                  strerror(errno));
	if (!rc && rename(tmp, path) != 0)
		rc = qm_error_set(e, QM_ERR_IO, "cannot write %s: %s", path,
		                  strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/*
 * Saves attachment i of message id (listed in a) into dir, streamed from
 * the vault; a forwarded message, which the engine gives only whole, from
 * a whole read of the message (*whole, read once and kept for the next).
 */
static int save_att_streamed(struct cli *g, int64_t id, const char *dir,
                             const struct qm_client_att *a, size_t i,
                             struct qm_client_view **whole)
{
	struct qm_client_att_reader *ar = NULL;
	char path[4096];
	struct qm_error e;
	uint64_t len = 0;
	enum qm_err rc;

	qm_error_clear(&e);
	rc = qm_client_att_open_unsized(g->client, id, i, &ar, &e);
	if (rc == QM_ERR_UNSUPPORTED) {
		if (!*whole && qm_client_read(g->client, id, whole, &e))
			return cli_fail(&e);
		if (i >= (*whole)->natt) {
			fprintf(stderr, "qmail: the message changed while it "
			                "was read: read it again\n");
			return QM_EXIT_ERROR;
		}
		return save_att(dir, &(*whole)->att[i], i);
	}
	if (rc)
		return cli_fail(&e);
	save_path(dir, a->name, i, path, sizeof(path));
	rc = save_stream(ar, path, &len, &e);
	qm_client_att_close(&ar);
	if (rc)
		return cli_fail(&e);
	printf("saved %s (%llu bytes)\n", cli_safe(path),
	       (unsigned long long)len);
	return 0;
}

/* Writes an attachment into dir under a safe version of its name. */
static int save_att(const char *dir, const struct qm_client_att *a, size_t i)
{
	char path[4096];
	struct qm_error e;

	save_path(dir, a->name, i, path, sizeof(path));
	qm_error_clear(&e);
	if (qm_file_write_atomic(path, a->data, a->len, 0600, &e))
		return cli_fail(&e);
	printf("saved %s (%zu bytes)\n", cli_safe(path), a->len);
	return 0;
}

/* The "Signed by:" line of a level-3/4 message: the key and its trust
 * now, so that an unverified key never looks like a verified one. */
static void print_signer(const struct qm_client_view *v)
{
	if (!v->signer_fpr[0])
		return;
	printf("Signed by: %s (key of %s, ", cli_safe(v->signer_fpr),
	       cli_safe(v->signer_addr));
	switch (v->signer_trust) {
	case QM_SIGNER_VERIFIED:
		printf("verified)\n");
		break;
	case QM_SIGNER_UNVERIFIED:
		printf("NOT VERIFIED: compare `qmail keys safety %s` with %s, "
		       "then `qmail keys verify %s 'NUMBER'`)\n",
		       cli_safe(v->signer_addr), cli_safe(v->signer_addr),
		       cli_safe(v->signer_addr));
		break;
	case QM_SIGNER_CHANGED:
		printf("CHANGED: %s presents another key since; `qmail keys "
		       "safety %s`)\n",
		       cli_safe(v->signer_addr), cli_safe(v->signer_addr));
		break;
	case QM_SIGNER_RETIRED:
		printf("retired: replaced since by the key you verified)\n");
		break;
	default:
		printf("UNKNOWN: no longer in your keyring)\n");
	}
}

static const char retry_help[] =
	"usage: qmail retry ID\n"
	"\n"
	"Tries once more to open message ID from the copy kept when it was\n"
	"received: one listed as UNREADABLE (its keys may still be at the KME),\n"
	"no-key (the sender's public key was imported since), or waiting (now,\n"
	"instead of at the next sync). Prints what became of it. Exit code 0\n"
	"when it opened, 4 when the KME cannot be used now, 5 when it is still\n"
	"unreadable.\n";

int cli_cmd_retry(struct cli *g, int argc, char **argv)
{
	struct qm_client_view *v = NULL;
	enum qm_store_verify vf = QM_VERIFY_UNKNOWN_KEY;
	struct qm_error e;
	long long id;
	int64_t nid = 0;
	enum qm_err r;
	int rc;

	if (argc > 1 && cli_is_help(argv[1])) {
		fputs(retry_help, stdout);
		return 0;
	}
	if (argc != 2 || qm_parse_ll(argv[1], 1, INT64_MAX, &id, NULL))
		return cli_usage("retry", "give one message ID (see `qmail "
		                          "list`)");
	if ((rc = cli_open_unlocked(g)))
		return rc;
	qm_error_clear(&e);
	r = qm_client_msg_retry(g->client, id, &nid, &vf, &e);
	if (r == QM_ERR_UNAVAIL || r == QM_ERR_NET || r == QM_ERR_TLS ||
	    r == QM_ERR_TIMEOUT || r == QM_ERR_DENIED) {
		fprintf(stderr, "qmail: %s\n", cli_safe(qm_error_msg(&e)));
		cli_hint(&e);
		return QM_EXIT_NET;
	}
	if (r)
		return cli_fail(&e);
	if (qm_client_read(g->client, nid, &v, &e))
		return cli_fail(&e);
	printf("message %lld%s: %s\n", (long long)nid,
	       nid != id ? " (its new ID)" : "", cli_safe(v->status_text));
	rc = v->verify == QM_VERIFY_OK || v->verify == QM_VERIFY_NOT_QMAIL
	             ? 0
	             : QM_EXIT_SECURITY;
	qm_client_view_free(&v);
	return rc;
}

int cli_cmd_read(struct cli *g, int argc, char **argv)
{
	struct qm_client_view *v = NULL;
	struct qm_error e;
	const char *save = NULL;
	const char *idarg = NULL;
	int raw = 0, was_unread = 0, rc;
	long long id;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: qmail read ID [--raw] "
			       "[--save-attachments DIR]\n\n"
			       "Shows a message with its security status. "
			       "--raw prints the decrypted MIME\nmessage; "
			       "--save-attachments writes the attachments into "
			       "DIR. A tampered or\nreplayed message shows "
			       "only its status (exit code 5).\n");
			return 0;
		}
		if (strcmp(argv[i], "--raw") == 0)
			raw = 1;
		else if (strcmp(argv[i], "--save-attachments") == 0 &&
		         i + 1 < argc)
			save = argv[++i];
		else if (!idarg)
			idarg = argv[i];
		else
			return cli_usage("read", "bad argument %s", argv[i]);
	}
	if (!idarg || qm_parse_ll(idarg, 1, INT64_MAX, &id, NULL))
		return cli_usage("read", "give a message ID (see `qmail list`)");
	if ((rc = cli_open_unlocked(g)))
		return rc;
	qm_error_clear(&e);
	if (raw) {
		struct qm_buf b;

		qm_buf_init_secure(&b, QM_STORE_MAXBLOB);
		rc = qm_client_msg_mime(g->client, id, &b, &e);
		if (!rc)
			fwrite(b.data, 1, b.len, stdout);
		qm_buf_free(&b);
		return rc ? cli_fail(&e) : 0;
	}
	/* whether it was unread: then the read mark goes to the server once
	 * it is shown (below) */
	{
		struct qm_store_msglist *l = NULL;

		if (qm_client_msg_get(g->client, id, &l, NULL) == QM_OK)
			was_unread = !(l->items[0].flags & QM_FLAG_SEEN);
		qm_client_msglist_free(&l);
	}
	/* the attachments listed, not decoded: --save-attachments streams
	 * each from the vault into its file */
	if (qm_client_read_listed(g->client, id, &v, &e))
		return cli_fail(&e);
	printf("Security: %s%s\n",
	       v->verify == QM_VERIFY_NOT_QMAIL
	           ? "not encrypted"
	           : qm_client_level_badge(v->level),
	       v->verify == QM_VERIFY_UNVERIFIED_SENDER ? ", UNVERIFIED SENDER"
	       : v->verify == QM_VERIFY_SENT            ? ", sent by you"
	       : v->verify == QM_VERIFY_SENT_ELSEWHERE
	           ? ", from your address, not sent from this QMail"
	       : v->signer_trust == QM_SIGNER_UNVERIFIED ? ", key NOT VERIFIED"
	       : v->signer_trust == QM_SIGNER_CHANGED    ? ", key CHANGED"
	                                                 : "");
	/* everything below the Security line came from outside: cli_safe
	 * (one line) or cli_put_text (the body) */
	printf("Status:   %s\n", cli_safe(v->status_text));
	if (v->verify == QM_VERIFY_REFUSED)
		printf("Limits:   `qmail config list` shows them; after `qmail "
		       "config set NAME VALUE` the next `qmail sync` fetches "
		       "it again\n");
	print_signer(v);
	if (v->retryable)
		printf("Retry:    `qmail retry %lld` tries it once more%s\n",
		       (long long)v->id,
		       v->verify == QM_VERIFY_WAITING ? " now (a later sync "
		                                        "does it by itself)"
		                                      : "");
	if (v->nkey_ids) {
		printf("Key IDs: ");
		for (size_t i = 0; i < v->nkey_ids && i < 8; i++)
			printf(" %s", cli_safe(v->key_ids[i]));
		if (v->nkey_ids > 8)
			printf(" (and %zu more)", v->nkey_ids - 8);
		printf("\n");
	}
	if (v->sender_sae[0])
		printf("Sender SAE: %s%s%s\n", cli_safe(v->sender_sae),
		       v->sender_owner[0] ? ", confirmed for " : "",
		       cli_safe(v->sender_owner));
	if (v->relay_hops)
		printf("Key path: relayed over %d QKD links from %s through "
		       "%d trusted node%s (each could read the keys)\n",
		       v->relay_hops,
		       v->relay_source[0] ? cli_safe(v->relay_source)
		                          : "the sender's KME",
		       v->relay_trusted, v->relay_trusted == 1 ? "" : "s");
	printf("From:     %s\nTo:       %s\n", cli_safe(v->from),
	       cli_safe(v->to));
	if (v->cc[0])
		printf("Cc:       %s\n", cli_safe(v->cc));
	printf("Date:     %s\nSubject:  %s\n\n", cli_safe(v->date),
	       cli_safe(v->subject));
	cli_put_text(stdout, v->text);
	if (v->text[0] && v->text[strlen(v->text) - 1] != '\n')
		putchar('\n');
	if (!v->text[0] && v->html) {
		/* HTML only: the same text the GUI shows for it */
		struct qm_buf t;

		qm_buf_init_secure(&t, QM_CLIENT_MAXMSG * 2);
		if (qm_web_html_text(v->html, strlen(v->html), &t, NULL,
		                     NULL) == QM_OK &&
		    qm_buf_append(&t, "", 1, NULL) == QM_OK) {
			printf("[HTML only, shown as text; `qmail web` shows "
			       "it as sent]\n");
			cli_put_text(stdout, (const char *)t.data);
		} else {
			printf("[HTML only: open it in `qmail web`]\n");
		}
		qm_buf_free(&t);
	}
	for (size_t i = 0; i < v->natt; i++) {
		const struct qm_client_att *a = &v->att[i];

		printf("[attachment %zu] %s (%zu bytes, type %s as the sender "
		       "declared it, extension %s%s)\n",
		       i + 1, cli_safe(a->name), a->len, cli_safe(a->type),
		       a->ext[0] ? "." : "", a->ext[0] ? cli_safe(a->ext)
		                                       : "none");
		if (a->disguised)
			printf("    warning: the name holds invisible control "
			       "or direction characters, shown as marks; "
			       "its real extension is %s%s\n",
			       a->ext[0] ? "." : "",
			       a->ext[0] ? cli_safe(a->ext) : "none");
	}
	rc = 0;
	if (save) {
		struct qm_client_view *whole = NULL;

		mkdir(save, 0700);
		for (size_t i = 0; i < v->natt && !rc; i++)
			rc = save_att_streamed(g, id, save, &v->att[i], i,
			                       &whole);
		qm_client_view_free(&whole);
	}
	if (!rc && v->verify != QM_VERIFY_OK &&
	    v->verify != QM_VERIFY_NOT_QMAIL && v->verify != QM_VERIFY_SENT)
		rc = QM_EXIT_SECURITY;
	qm_client_view_free(&v);
	if (was_unread) {
		/* shown first; then the read mark to the IMAP server at once
		 * (offline or refused: the next sync writes it, nothing to
		 * say) */
		fflush(stdout);
		qm_error_clear(&e);
		QM_IGNORE(qm_client_msg_flags_now(g->client, id, QM_FLAG_SEEN,
		                                  0, NULL, NULL, &e));
	}
	return rc;
}

int cli_cmd_outbox(struct cli *g, int argc, char **argv)
{
	struct qm_client_outbox_item *items = NULL;
	struct qm_error e;
	size_t n = 0;
	int rc;

	if (argc > 1 && cli_is_help(argv[1])) {
		printf("usage: qmail outbox [list]\n"
		       "       qmail outbox run          send what is due now\n"
		       "       qmail outbox retry ID     send entry ID now\n"
		       "       qmail outbox cancel ID    give up on entry ID\n\n"
		       "Every message enters the outbox, sealed, before any "
		       "network step; a message\nthat could not be sent "
		       "waits there and is retried with the same "
		       "ciphertext\n(never new keys), first after a minute, "
		       "then less often (at most hourly).\nOne that cannot "
		       "go until something changes (a recipient without an "
		       "SAE ID\nor public key, two recipients on one SAE, a "
		       "level below a floor) is marked\nfailed with the "
		       "reason and no key is fetched for it; mend the cause, "
		       "then\n`qmail outbox retry ID`. `qmail sync` runs the "
		       "outbox too.\n");
		return 0;
	}
	if ((rc = cli_open_unlocked(g)))
		return rc;
	qm_error_clear(&e);
	if (argc > 1 && strcmp(argv[1], "run") == 0) {
		size_t ok = 0, bad = 0;
		rc = qm_client_outbox_run(g->client, 0, &ok, &bad, &e);
		/* not sent: waiting for a retry, or failed for good */
		printf("%zu sent, %zu not sent%s\n", ok, bad,
		       bad ? " (`qmail outbox` says why)" : "");
		return rc ? cli_fail(&e) : 0;
	}
	if (argc > 2 && (strcmp(argv[1], "retry") == 0 ||
	                 strcmp(argv[1], "cancel") == 0)) {
		long long oid;
		int sent = 0;

		if (qm_parse_ll(argv[2], 1, INT64_MAX, &oid, NULL))
			return cli_usage("outbox", "\"%s\" is not an outbox ID",
			                 argv[2]);
		if (argv[1][0] == 'r') {
			if (qm_client_outbox_retry(g->client, oid, &sent, &e))
				return cli_fail(&e);
			printf("outbox %lld: %s\n", oid,
			       sent ? "sent" : "still waiting");
			return sent ? 0 : QM_EXIT_NET;
		}
		if (qm_client_outbox_cancel(g->client, oid, &e))
			return cli_fail(&e);
		printf("outbox %lld cancelled\n", oid);
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "list") != 0)
		return cli_usage("outbox", "unknown subcommand \"%s\"", argv[1]);
	if (qm_client_outbox_list(g->client, 0, &items, &n, &e))
		return cli_fail(&e);
	for (size_t i = 0; i < n; i++) {
		const struct qm_client_outbox_item *o = &items[i];

		char lv[8];

		snprintf(lv, sizeof(lv), o->level ? "L%d" : "plain", o->level);
		printf("%6lld  %-9s %-5s  to %s  \"%s\"  attempts %d%s%s\n",
		       (long long)o->id, qm_client_outbox_state_name(o->state),
		       lv, cli_safe(o->recipients),
		       o->subject ? cli_safe(o->subject) : "?", o->attempts,
		       o->reason ? "  last error: " : "",
		       o->reason ? cli_safe(o->reason) : "");
	}
	/* sent, but the copy for the Sent folder failed: retried by the next
	 * outbox run, or now with "qmail outbox retry ID" */
	for (size_t i = 0; i < n; i++) {
		const struct qm_client_outbox_item *o = &items[i];

		if (!o->copy_waits)
			continue;
		printf("%6lld  %-9s L%d  to %s  copy for the Sent folder "
		       "waits\n",
		       (long long)o->id, qm_client_outbox_state_name(o->state),
		       o->level, cli_safe(o->recipients));
	}
	qm_client_outbox_items_free(&items, n);
	return 0;
}
