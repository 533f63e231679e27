/* SPDX-License-Identifier: MIT */
/*
 * The account wizard's half of docs/WEB.md: discovery of an address's
 * servers (POST /api/discover) and the OAuth2 sign-in of the wizard and of
 * the "sign in again" banner (POST /api/oauth/begin, /wait, /cancel). A
 * sign-in is the engine's code flow with its loopback listener
 * (qm_client_oauth_begin): the page opens the provider's URL in a window,
 * the provider sends the browser back to the engine's listener, and the
 * page long-polls /wait. The tokens stay here, in secure memory, until the
 * account is saved or signed in again with them (web_oauth_take), or the
 * flow is cancelled or forgotten (WEB_OAUTH_TTL_S).
 */
#include <stdio.h>
#include <string.h>

#include "client/client.h"
#include "private.h"

#define WAIT_MS 20000 /* one long poll of /api/oauth/wait */

/* ------------------------------------------------------------- discovery */

static json_t *server_obj(const struct qm_store_server *s)
{
	if (!s->host[0])
		return json_null();
	return json_pack("{s:o,s:i,s:s}", "host", web_jstr(s->host), "port",
	                 s->port, "security",
	                 s->tls == QM_TLS_STARTTLS ? "starttls" : "tls");
}

/* The notes of discovery are lines; each becomes one entry. */
static json_t *lines_json(const char *text)
{
	json_t *a = json_array();
	const char *p = text;

	while (a && p && *p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n)
			json_array_append_new(a, json_stringn(p, n));
		p = nl ? nl + 1 : NULL;
	}
	return a;
}

/* Where the settings were found, in the words of the wizard. */
static void where_text(const struct qm_client_discovery *d, char *out,
                       size_t n)
{
	switch (d->found) {
	case QM_FOUND_REGISTRY:
		snprintf(out, n, "in QMail's list of providers (%s)",
		         d->provider_name);
		break;
	case QM_FOUND_AUTOCONFIG:
	case QM_FOUND_WELLKNOWN:
		snprintf(out, n,
		         "in the configuration file your provider publishes "
		         "(%s)",
		         d->where);
		break;
	case QM_FOUND_SRV:
		snprintf(out, n, "in your domain's DNS service records (%s)",
		         d->where);
		break;
	case QM_FOUND_MX:
		snprintf(out, n,
		         "from your domain's mail exchanger, which is %s's "
		         "(%s)",
		         d->provider_name, d->where);
		break;
	default:
		out[0] = '\0';
	}
}

static json_t *discovery_json(const struct qm_client_discovery *d)
{
	char where[2 * QM_STORE_PATHMAX];
	json_t *j, *oauth = json_null();

	where_text(d, where, sizeof(where));
	if (d->oauth2) {
		/* where the sign-in page is: the person sees whom they give
		 * their password to before the window opens */
		char host[QM_STORE_HOSTMAX] = "";
		const char *p = strstr(d->oauth.auth_url, "://");

		if (p) {
			size_t n = strcspn(p + 3, "/?#");
			if (n < sizeof(host)) {
				memcpy(host, p + 3, n);
				host[n] = '\0';
			}
		}
		oauth = json_pack(
		    "{s:o,s:o,s:b,s:b,s:b,s:b}", "provider_name",
		    web_jstr(d->provider_name[0] ? d->provider_name
		                                 : d->oauth.issuer),
		    "auth_host", web_jstr(host), "client_id_set",
		    d->client_id_set, "secret_required",
		    d->oauth.secret_required, "device",
		    d->oauth.device_url[0] != '\0', "password_ok", d->password);
	}
	j = json_pack("{s:b,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "found",
	              d->found != QM_FOUND_NONE, "source",
	              qm_client_found_name(d->found), "where", web_jstr(where),
	              "provider", web_jstr(d->provider), "provider_name",
	              web_jstr(d->provider_name), "username",
	              web_jstr(d->username), "imap", server_obj(&d->imap),
	              "pop3", server_obj(&d->pop3), "smtp", server_obj(&d->smtp),
	              "oauth", oauth, "notes", lines_json(d->notes));
	if (j && d->server_saves_sent)
		json_array_append_new(
		    json_object_get(j, "notes"),
		    json_string("This provider files what you send in its Sent "
		                "folder by itself."));
	return j;
}

/* Keeps the last discovery, for the sign-in that follows it. */
static void discovery_keep(struct qm_web_server *srv, const char *address,
                           const struct qm_client_discovery *d)
{
	pthread_mutex_lock(&srv->lock);
	qm_strlcpy(srv->disc_addr, address, sizeof(srv->disc_addr));
	srv->disc = *d;
	pthread_mutex_unlock(&srv->lock);
}

/* The discovery of address: the kept one, else a new one. 0, or -1
 * (replied). */
static int discovery_get(struct web_req *r, const char *address,
                         struct qm_client_discovery *d)
{
	struct qm_error e;
	int have;
	enum qm_err rc;

	pthread_mutex_lock(&r->srv->lock);
	have = r->srv->disc_addr[0] &&
	       strcasecmp(r->srv->disc_addr, address) == 0;
	if (have)
		*d = r->srv->disc;
	pthread_mutex_unlock(&r->srv->lock);
	if (have)
		return 0;
	rc = qm_client_discover(web_client(r), address, d, NULL, NULL, &e);
	if (rc != QM_OK && rc != QM_ERR_NOTFOUND) {
		web_reply_qm_error(r, &e);
		return -1;
	}
	if (rc == QM_ERR_NOTFOUND)
		memset(d, 0, sizeof(*d));
	discovery_keep(r->srv, address, d);
	return 0;
}

void web_api_discover(struct web_req *r)
{
	struct qm_client_discovery d;
	struct qm_error e;
	json_t *j = web_body_json(r), *out;
	const char *address = NULL;
	enum qm_err rc;

	if (!j)
		return;
	if (web_get_str(r, j, "address", 1, QM_STORE_ADDRMAX - 1, &address) <
	    0)
		goto done;
	if (!web_addr_ok(address)) {
		web_reply_error(
		    r, 400, "bad_request",
		    "\"%s\" is not an e-mail address like name@example.org.",
		    address);
		goto done;
	}
	memset(&d, 0, sizeof(d));
	rc = qm_client_discover(web_client(r), address, &d, NULL, NULL, &e);
	if (rc == QM_ERR_NOTFOUND) {
		/* nothing found: the wizard asks for the servers; what was
		 * tried is the engine's message */
		memset(&d, 0, sizeof(d));
		qm_strlcpy(d.notes, qm_error_msg(&e), sizeof(d.notes));
	} else if (rc != QM_OK) {
		/* a domain that offers only plain text, a bad address */
		web_reply_qm_error(r, &e);
		goto done;
	}
	discovery_keep(r->srv, address, &d);
	out = discovery_json(&d);
	web_reply_json(r, 200, out);
done:
	json_decref(j);
}

/* ---------------------------------------------------------- the sign-ins */

static void slot_free(struct web_oauth *s)
{
	qm_client_oauth_flow_free(&s->flow);
	qm_client_oauth_tokens_wipe(&s->tok);
	qm_buf_free(&s->secret);
	memset(s, 0, sizeof(*s));
}

/* The slot of flow id, or NULL; under srv->lock. */
static struct web_oauth *slot_find(struct qm_web_server *srv, const char *id)
{
	for (int i = 0; i < WEB_OAUTH_MAX; i++)
		if (srv->oauth[i].used && strcmp(srv->oauth[i].id, id) == 0)
			return &srv->oauth[i];
	return NULL;
}

/* A free slot, forgetting flows past their time (or the oldest idle one
 * when all are taken); NULL when every one is being waited on. Under
 * srv->lock. */
static struct web_oauth *slot_new(struct qm_web_server *srv)
{
	struct web_oauth *old = NULL;
	int64_t now = qm_now();

	for (int i = 0; i < WEB_OAUTH_MAX; i++) {
		struct web_oauth *s = &srv->oauth[i];

		if (s->used && !s->busy && now - s->started > WEB_OAUTH_TTL_S)
			slot_free(s);
		if (!s->used)
			return s;
		if (!s->busy && (!old || s->started < old->started))
			old = s;
	}
	if (old)
		slot_free(old);
	return old;
}

void web_oauth_forget_all(struct qm_web_server *srv)
{
	pthread_mutex_lock(&srv->lock);
	for (int i = 0; i < WEB_OAUTH_MAX; i++) {
		struct web_oauth *s = &srv->oauth[i];

		if (!s->used)
			continue;
		if (s->flow)
			qm_client_oauth_flow_cancel(s->flow);
		if (s->busy)
			s->forget = 1; /* the waiter frees it */
		else
			slot_free(s);
	}
	srv->disc_addr[0] = '\0';
	memset(&srv->disc, 0, sizeof(srv->disc));
	pthread_mutex_unlock(&srv->lock);
}

/* Reads a text setting of the global scope into out ("" when unset). */
static void global_setting(struct qm_client *c, const char *name, char *out,
                           size_t n)
{
	int set = 0;

	if (qm_client_setting_get(c, 0, name, out, n, &set, NULL) != QM_OK ||
	    !set)
		out[0] = '\0';
}

/* The app and endpoints of a new account's sign-in: the discovery of the
 * address, the client ID typed in the wizard (kept in the settings for
 * the provider's other accounts) or the one in the settings. 0, or -1
 * (replied). */
static int begin_new(struct web_req *r, json_t *j, struct web_oauth *t)
{
	struct qm_client *c = web_client(r);
	struct qm_client_discovery d;
	struct qm_error e;
	const char *address = NULL, *cid = NULL;
	char *sec = NULL, name[96];
	size_t seclen = 0;

	if (web_get_str(r, j, "address", 1, QM_STORE_ADDRMAX - 1, &address) <
	        0 ||
	    web_get_str(r, j, "client_id", 0, QM_STORE_NAMEMAX - 1, &cid) < 0)
		return -1;
	if (!web_addr_ok(address)) {
		web_reply_error(r, 400, "bad_request",
		                "\"%s\" is not an e-mail address.", address);
		return -1;
	}
	if (discovery_get(r, address, &d) != 0)
		return -1;
	if (!d.oauth2) {
		web_reply_error(r, 400, "bad_request",
		                "%s offers no OAuth2 sign-in: use a password.",
		                address);
		return -1;
	}
	qm_strlcpy(t->address, address, sizeof(t->address));
	t->ep = d.oauth;
	qm_strlcpy(t->provider_name,
	           d.provider_name[0] ? d.provider_name : d.oauth.issuer,
	           sizeof(t->provider_name));
	sec = web_secret_field(r, j, "client_secret", 0, &seclen);
	if (r->reply.status)
		return -1;
	if (cid && *cid) {
		qm_strlcpy(t->client_id, cid, sizeof(t->client_id));
		if (d.oauth_settings[0]) {
			/* the provider's other accounts take it too */
			snprintf(name, sizeof(name), "oauth.%s.client_id",
			         d.oauth_settings);
			if (qm_client_setting_set(c, 0, name, cid, &e) != QM_OK) {
				web_reply_qm_error(r, &e);
				goto fail;
			}
			if (sec) {
				snprintf(name, sizeof(name),
				         "oauth.%s.client_secret",
				         d.oauth_settings);
				if (qm_client_setting_set(c, 0, name, sec, &e) !=
				    QM_OK) {
					web_reply_qm_error(r, &e);
					goto fail;
				}
			}
		}
	} else if (d.oauth_settings[0]) {
		snprintf(name, sizeof(name), "oauth.%s.client_id",
		         d.oauth_settings);
		global_setting(c, name, t->client_id, sizeof(t->client_id));
		if (!sec) {
			char v[QM_STORE_NAMEMAX];

			snprintf(name, sizeof(name), "oauth.%s.client_secret",
			         d.oauth_settings);
			global_setting(c, name, v, sizeof(v));
			if (v[0] && qm_buf_append(&t->secret, v, strlen(v),
			                          NULL) != QM_OK) {
				qm_wipe(v, sizeof(v));
				web_reply_error(r, 500, "internal",
				                "Out of memory.");
				goto fail;
			}
			qm_wipe(v, sizeof(v));
		}
	}
	if (!t->client_id[0]) {
		web_reply_error(r, 400, "bad_request",
		                "Enter the OAuth client ID you registered with "
		                "%s.",
		                t->provider_name);
		goto fail;
	}
	if (sec && qm_buf_append(&t->secret, sec, seclen, NULL) != QM_OK) {
		web_reply_error(r, 500, "internal", "Out of memory.");
		goto fail;
	}
	if (t->ep.secret_required && !t->secret.len) {
		web_reply_error(r, 400, "bad_request",
		                "%s wants the client secret that came with "
		                "the client ID too.",
		                t->provider_name);
		goto fail;
	}
	global_setting(c, QM_CLIENT_SET_DISCOVER_CA, t->ca_file,
	               sizeof(t->ca_file));
	qm_sec_free(sec);
	return 0;
fail:
	qm_sec_free(sec);
	return -1;
}

/* The same for signing in to account again, from its stored sign-in. */
static int begin_again(struct web_req *r, int64_t id, struct web_oauth *t)
{
	struct qm_client *c = web_client(r);
	struct qm_store_account a;
	struct qm_error e;

	if (qm_client_account_get(c, id, &a, &e) != QM_OK ||
	    qm_client_account_oauth_get(c, id, &t->ep, t->client_id,
	                                sizeof(t->client_id), t->ca_file,
	                                sizeof(t->ca_file), t->ep.extra_params,
	                                sizeof(t->ep.extra_params), &t->secret,
	                                &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return -1;
	}
	t->account = id;
	qm_strlcpy(t->address, a.address, sizeof(t->address));
	qm_strlcpy(t->provider_name,
	           t->ep.issuer[0] ? t->ep.issuer : "your provider",
	           sizeof(t->provider_name));
	return 0;
}

void web_api_oauth_begin(struct web_req *r)
{
	struct web_oauth t, *s;
	struct qm_client_oauth_app app;
	struct qm_error e;
	json_t *j = web_body_json(r);
	long long acct = 0;
	int rc;

	if (!j)
		return;
	memset(&t, 0, sizeof(t));
	qm_buf_init_secure(&t.secret, QM_STORE_NAMEMAX);
	if (web_get_int(r, j, "account", 0, 1, INT64_MAX, &acct) < 0)
		goto out;
	rc = acct ? begin_again(r, acct, &t) : begin_new(r, j, &t);
	if (rc != 0)
		goto out;
	memset(&app, 0, sizeof(app));
	app.client_id = t.client_id;
	app.client_secret = t.secret.len ? (const char *)t.secret.data : NULL;
	app.ca_file = t.ca_file[0] ? t.ca_file : NULL;
	app.auth_params = t.ep.extra_params[0] ? t.ep.extra_params : NULL;
	if (qm_client_oauth_begin(&t.ep, &app, t.address, &t.flow, &e) !=
	    QM_OK) {
		web_reply_qm_error(r, &e);
		goto out;
	}
	pthread_mutex_lock(&r->srv->lock);
	s = slot_new(r->srv);
	if (s) {
		unsigned char idb[16];

		qm_random(idb, sizeof(idb));
		for (size_t i = 0; i < sizeof(idb); i++)
			snprintf(t.id + 2 * i, 3, "%02x", idb[i]);
		t.used = 1;
		t.started = qm_now();
		*s = t;
		memset(&t, 0, sizeof(t)); /* moved */
		web_reply_json(r, 200,
		               json_pack("{s:s,s:s,s:s}", "flow", s->id, "url",
		                         qm_client_oauth_flow_url(s->flow),
		                         "provider_name", s->provider_name));
	}
	pthread_mutex_unlock(&r->srv->lock);
	if (!s)
		web_reply_error(r, 429, "busy",
		                "Too many sign-ins at once: finish or cancel one.");
out:
	slot_free(&t);
	web_wipe_json_string(j, "client_secret");
	json_decref(j);
}

/* The slot named by the request's "flow", marked busy; NULL (replied). */
static struct web_oauth *slot_take(struct web_req *r, json_t *j)
{
	const char *id = NULL;
	struct web_oauth *s = NULL;

	if (web_get_str(r, j, "flow", 1, WEB_ID_HEX, &id) < 0)
		return NULL;
	pthread_mutex_lock(&r->srv->lock);
	s = slot_find(r->srv, id);
	if (s && s->busy) {
		pthread_mutex_unlock(&r->srv->lock);
		web_reply_error(r, 409, "conflict",
		                "This sign-in is already being waited for.");
		return NULL;
	}
	if (s)
		s->busy = 1;
	pthread_mutex_unlock(&r->srv->lock);
	if (!s)
		web_reply_error(r, 404, "not_found",
		                "That sign-in is over: start it again.");
	return s;
}

static void slot_release(struct qm_web_server *srv, struct web_oauth *s)
{
	pthread_mutex_lock(&srv->lock);
	s->busy = 0;
	if (s->forget)
		slot_free(s);
	pthread_mutex_unlock(&srv->lock);
}

static const char *const state_names[] = {"pending", "done", "failed"};

void web_api_oauth_wait(struct web_req *r)
{
	struct web_oauth *s;
	struct qm_client_oauth_tokens tok;
	struct qm_error e;
	json_t *j = web_body_json(r);
	enum qm_err rc;

	if (!j)
		return;
	s = slot_take(r, j);
	json_decref(j);
	if (!s)
		return;
	if (s->state == WEB_OAUTH_PENDING) {
		/* busy: no other request touches the flow or the tokens */
		memset(&tok, 0, sizeof(tok));
		rc = qm_client_oauth_flow_wait(s->flow, WAIT_MS, &tok, &e);
		if (rc == QM_OK) {
			s->tok = tok;
			s->state = WEB_OAUTH_DONE;
			/* the listener is not needed any more */
			qm_client_oauth_flow_free(&s->flow);
		} else if (rc != QM_ERR_TIMEOUT ||
		           qm_client_oauth_flow_ended(s->flow)) {
			s->state = WEB_OAUTH_FAILED;
			qm_strlcpy(s->message,
			           rc == QM_ERR_STATE ? "Sign-in cancelled."
			                              : qm_error_msg(&e),
			           sizeof(s->message));
		}
	}
	web_reply_json(r, 200,
	               json_pack("{s:s,s:o}", "state", state_names[s->state],
	                         "message", web_jstr(s->message)));
	slot_release(r->srv, s);
}

void web_api_oauth_cancel(struct web_req *r)
{
	const char *id = NULL;
	struct web_oauth *s;
	json_t *j = web_body_json(r);

	if (!j)
		return;
	if (web_get_str(r, j, "flow", 1, WEB_ID_HEX, &id) < 0) {
		json_decref(j);
		return;
	}
	pthread_mutex_lock(&r->srv->lock);
	s = slot_find(r->srv, id);
	if (s) {
		if (s->flow)
			qm_client_oauth_flow_cancel(s->flow);
		if (s->busy)
			s->forget = 1; /* its waiter answers, then frees it */
		else
			slot_free(s);
	}
	pthread_mutex_unlock(&r->srv->lock);
	json_decref(j);
	web_reply_empty(r);
}

/* ---------------------------------------------- using a finished sign-in */

int web_oauth_probe(struct web_req *r, const char *flow,
                    struct qm_store_account *a, const char *mail_ca,
                    struct qm_client_check *smtp, struct qm_client_check *in)
{
	struct qm_buf tok;
	struct web_oauth *s;
	struct qm_error e;
	enum qm_err rc = QM_OK;

	qm_buf_init_secure(&tok, 64 * 1024);
	pthread_mutex_lock(&r->srv->lock);
	s = slot_find(r->srv, flow);
	if (s && !s->busy && s->state == WEB_OAUTH_DONE && s->tok.access &&
	    strcasecmp(s->address, a->address) == 0)
		rc = qm_buf_append(&tok, s->tok.access, strlen(s->tok.access),
		                   &e);
	else
		s = NULL;
	pthread_mutex_unlock(&r->srv->lock);
	if (!s) {
		web_reply_error(r, 400, "bad_request",
		                "Sign in with your provider for %s first.",
		                a->address);
		goto fail;
	}
	if (rc == QM_OK) {
		a->auth = QM_AUTH_OAUTH2;
		rc = qm_client_account_probe(web_client(r), a, mail_ca,
		                             (const char *)tok.data, tok.len,
		                             smtp, in, &e);
	}
	if (rc != QM_OK) {
		web_reply_qm_error(r, &e);
		goto fail;
	}
	qm_buf_free(&tok);
	return 0;
fail:
	qm_buf_free(&tok);
	return -1;
}

int web_oauth_store(struct web_req *r, const char *flow, int64_t account_id)
{
	struct qm_client_oauth_tokens tok;
	struct qm_client_oauth_endpoints ep;
	struct qm_client_oauth_app app;
	struct web_oauth *s;
	struct qm_buf secret;
	struct qm_error e;
	char cid[QM_STORE_NAMEMAX], ca[QM_STORE_PATHMAX];
	struct qm_store_account a;
	enum qm_err rc;
	int ok = 0;

	memset(&tok, 0, sizeof(tok));
	qm_buf_init_secure(&secret, QM_STORE_NAMEMAX);
	if (qm_client_account_get(web_client(r), account_id, &a, &e) != QM_OK) {
		web_reply_qm_error(r, &e);
		return -1;
	}
	pthread_mutex_lock(&r->srv->lock);
	s = slot_find(r->srv, flow);
	if (s && !s->busy && s->state == WEB_OAUTH_DONE &&
	    strcasecmp(s->address, a.address) == 0 &&
	    (!s->account || s->account == account_id) &&
	    qm_buf_append(&secret, s->secret.data ? s->secret.data : (void *)"",
	                  s->secret.len, NULL) == QM_OK) {
		/* the tokens move out of the slot, which goes */
		tok = s->tok;
		memset(&s->tok, 0, sizeof(s->tok));
		ep = s->ep;
		qm_strlcpy(cid, s->client_id, sizeof(cid));
		qm_strlcpy(ca, s->ca_file, sizeof(ca));
		slot_free(s);
		ok = 1;
	}
	pthread_mutex_unlock(&r->srv->lock);
	if (!ok) {
		qm_buf_free(&secret);
		web_reply_error(r, 400, "bad_request",
		                "Sign in with your provider for %s first.",
		                a.address);
		return -1;
	}
	memset(&app, 0, sizeof(app));
	app.client_id = cid;
	app.client_secret = secret.len ? (const char *)secret.data : NULL;
	app.ca_file = ca[0] ? ca : NULL;
	app.auth_params = ep.extra_params[0] ? ep.extra_params : NULL;
	rc = qm_client_account_oauth_set(web_client(r), account_id, &ep, &app,
	                                 &tok, &e);
	qm_client_oauth_tokens_wipe(&tok);
	qm_buf_free(&secret);
	if (rc != QM_OK) {
		web_reply_qm_error(r, &e);
		return -1;
	}
	return 0;
}

void web_api_accounts_signin(struct web_req *r)
{
	const char *flow = NULL;
	json_t *j;
	int64_t id;

	if (web_arg_id(r, 0, &id) != 0)
		return;
	j = web_body_json(r);
	if (!j)
		return;
	if (web_get_str(r, j, "oauth_flow", 1, WEB_ID_HEX, &flow) < 0 ||
	    web_oauth_store(r, flow, id) != 0) {
		json_decref(j);
		return;
	}
	json_decref(j);
	web_event_add(r->srv, "signin", NULL, "Signed in again");
	web_watch_kick(r->srv);
	web_sync_request(r->srv, id); /* the outbox waited for this */
	web_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}
