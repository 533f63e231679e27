/* SPDX-License-Identifier: MIT */
/*
 * libcurl and libmicrohttpd loaded when first used (issue 18: the start
 * of every command). Linked as a dependency, libcurl brings 32 more
 * shared libraries (Kerberos, LDAP, SSH, RTMP with GnuTLS, ...) and
 * libmicrohttpd GnuTLS; mapping and relocating them took about 3 ms of
 * the 8 ms every `qmail` command spent starting, though `qmail list` and
 * `qmail read` of a message in the vault use neither. The qmail program is
 * linked with `-Wl,--wrap=SYMBOL` for each function of theirs the layers
 * call (src/cli/CMakeLists.txt) and `--as-needed`: the calls come here,
 * and the library is opened (dlopen, by the soname the build found) at
 * the first call that needs it. Nothing else changes for the layers:
 * they call libcurl and libmicrohttpd as before (tests and the other
 * programs link them directly).
 *
 * libcurl's global initialisation (qm_mail_init, qm_kms_global_init at
 * qm_client_open) is recorded, not run: the library is opened and
 * initialised as recorded (the key-wiping allocator first) before any
 * other of its functions runs. When a library cannot be opened, the
 * functions that can fail do (curl_easy_init and MHD_start_daemon give
 * NULL, curl_global_init CURLE_FAILED_INIT) and the others are never
 * reached, as they need an object only those give.
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <microhttpd.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#ifndef QM_CURL_SONAME
#define QM_CURL_SONAME "libcurl.so.4"
#endif
#ifndef QM_MHD_SONAME
#define QM_MHD_SONAME "libmicrohttpd.so.12"
#endif

/* ------------------------------------------------------------ libcurl */

static struct {
	__typeof__(&curl_global_init) global_init;
	__typeof__(&curl_global_init_mem) global_init_mem;
	__typeof__(&curl_easy_init) easy_init;
	__typeof__(&curl_easy_setopt) easy_setopt;
	__typeof__(&curl_easy_getinfo) easy_getinfo;
	__typeof__(&curl_easy_perform) easy_perform;
	__typeof__(&curl_easy_cleanup) easy_cleanup;
	__typeof__(&curl_easy_strerror) easy_strerror;
	__typeof__(&curl_easy_escape) easy_escape;
	__typeof__(&curl_easy_send) easy_send;
	__typeof__(&curl_easy_recv) easy_recv;
	__typeof__(&curl_slist_append) slist_append;
	__typeof__(&curl_slist_free_all) slist_free_all;
	__typeof__(&curl_version_info) version_info;
	__typeof__(&curl_free) free;
	int ok; /* opened, every function found, initialised */
} cu;

/* The global initialisations asked for before the library was opened. */
static pthread_mutex_t cu_mu = PTHREAD_MUTEX_INITIALIZER;
static int cu_loaded; /* under cu_mu */
static long cu_flags;
static int cu_want_mem, cu_want_plain;
static curl_malloc_callback cu_m;
static curl_free_callback cu_f;
static curl_realloc_callback cu_r;
static curl_strdup_callback cu_s;
static curl_calloc_callback cu_c;

#define CU_SYM(field, name)                                                    \
	(cu.field = (__typeof__(cu.field))dlsym(h, name)) != NULL

static void cu_open(void)
{
	void *h = dlopen(QM_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return;
	if (!(CU_SYM(global_init, "curl_global_init") &&
	      CU_SYM(global_init_mem, "curl_global_init_mem") &&
	      CU_SYM(easy_init, "curl_easy_init") &&
	      CU_SYM(easy_setopt, "curl_easy_setopt") &&
	      CU_SYM(easy_getinfo, "curl_easy_getinfo") &&
	      CU_SYM(easy_perform, "curl_easy_perform") &&
	      CU_SYM(easy_cleanup, "curl_easy_cleanup") &&
	      CU_SYM(easy_strerror, "curl_easy_strerror") &&
	      CU_SYM(easy_escape, "curl_easy_escape") &&
	      CU_SYM(easy_send, "curl_easy_send") &&
	      CU_SYM(easy_recv, "curl_easy_recv") &&
	      CU_SYM(slist_append, "curl_slist_append") &&
	      CU_SYM(slist_free_all, "curl_slist_free_all") &&
	      CU_SYM(version_info, "curl_version_info") &&
	      CU_SYM(free, "curl_free")))
		return; /* kept open: a library half found is not used */
	/* the allocator first: buffers that carry keys are wiped when
	 * freed (a second init is a no-op but for a counter) */
	if (cu_want_mem && cu.global_init_mem(cu_flags, cu_m, cu_f, cu_r, cu_s,
	                                      cu_c) != CURLE_OK)
		return;
	if (cu_want_plain && cu.global_init(cu_flags) != CURLE_OK)
		return;
	cu.ok = 1;
}

/* 1 when libcurl is there to call (opened at the first call). */
static int cu_ready(void)
{
	int ok;

	pthread_mutex_lock(&cu_mu);
	if (!cu_loaded) {
		cu_open();
		cu_loaded = 1;
	}
	ok = cu.ok;
	pthread_mutex_unlock(&cu_mu);
	return ok;
}

CURLcode __wrap_curl_global_init(long flags);
CURLcode __wrap_curl_global_init(long flags)
{
	CURLcode rc = CURLE_OK;

	pthread_mutex_lock(&cu_mu);
	if (cu_loaded)
		rc = cu.ok ? cu.global_init(flags) : CURLE_FAILED_INIT;
	else {
		cu_flags |= flags;
		cu_want_plain = 1;
	}
	pthread_mutex_unlock(&cu_mu);
	return rc;
}

CURLcode __wrap_curl_global_init_mem(long flags, curl_malloc_callback m,
                                     curl_free_callback f,
                                     curl_realloc_callback r,
                                     curl_strdup_callback s,
                                     curl_calloc_callback c);
CURLcode __wrap_curl_global_init_mem(long flags, curl_malloc_callback m,
                                     curl_free_callback f,
                                     curl_realloc_callback r,
                                     curl_strdup_callback s,
                                     curl_calloc_callback c)
{
	CURLcode rc = CURLE_OK;

	pthread_mutex_lock(&cu_mu);
	if (cu_loaded) {
		rc = cu.ok ? cu.global_init_mem(flags, m, f, r, s, c)
		           : CURLE_FAILED_INIT;
	} else if (!cu_want_mem) { /* libcurl keeps the first */
		cu_flags |= flags;
		cu_want_mem = 1;
		cu_m = m;
		cu_f = f;
		cu_r = r;
		cu_s = s;
		cu_c = c;
	}
	pthread_mutex_unlock(&cu_mu);
	return rc;
}

CURL *__wrap_curl_easy_init(void);
CURL *__wrap_curl_easy_init(void)
{
	return cu_ready() ? cu.easy_init() : NULL;
}

/* The one argument after the option, of the type its number says
 * (CURLOPTTYPE_* in curl.h). */
CURLcode __wrap_curl_easy_setopt(CURL *h, CURLoption opt, ...);
CURLcode __wrap_curl_easy_setopt(CURL *h, CURLoption opt, ...)
{
	CURLcode rc;
	va_list ap;

	if (!cu_ready())
		return CURLE_FAILED_INIT;
	va_start(ap, opt);
	if (opt < CURLOPTTYPE_OBJECTPOINT)
		rc = cu.easy_setopt(h, opt, va_arg(ap, long));
	else if (opt < CURLOPTTYPE_FUNCTIONPOINT)
		rc = cu.easy_setopt(h, opt, va_arg(ap, void *));
	else if (opt < CURLOPTTYPE_OFF_T)
		rc = cu.easy_setopt(h, opt, va_arg(ap, void (*)(void)));
	else if (opt < CURLOPTTYPE_BLOB)
		rc = cu.easy_setopt(h, opt, va_arg(ap, curl_off_t));
	else
		rc = cu.easy_setopt(h, opt, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

/* Every CURLINFO takes one pointer. */
CURLcode __wrap_curl_easy_getinfo(CURL *h, CURLINFO info, ...);
CURLcode __wrap_curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	CURLcode rc;
	va_list ap;

	if (!cu_ready())
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	rc = cu.easy_getinfo(h, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode __wrap_curl_easy_perform(CURL *h);
CURLcode __wrap_curl_easy_perform(CURL *h)
{
	return cu_ready() ? cu.easy_perform(h) : CURLE_FAILED_INIT;
}

void __wrap_curl_easy_cleanup(CURL *h);
void __wrap_curl_easy_cleanup(CURL *h)
{
	if (cu_ready())
		cu.easy_cleanup(h);
}

const char *__wrap_curl_easy_strerror(CURLcode c);
const char *__wrap_curl_easy_strerror(CURLcode c)
{
	return cu_ready() ? cu.easy_strerror(c)
	                  : "libcurl (" QM_CURL_SONAME ") could not be loaded";
}

char *__wrap_curl_easy_escape(CURL *h, const char *s, int n);
char *__wrap_curl_easy_escape(CURL *h, const char *s, int n)
{
	return cu_ready() ? cu.easy_escape(h, s, n) : NULL;
}

CURLcode __wrap_curl_easy_send(CURL *h, const void *b, size_t n, size_t *sent);
CURLcode __wrap_curl_easy_send(CURL *h, const void *b, size_t n, size_t *sent)
{
	return cu_ready() ? cu.easy_send(h, b, n, sent) : CURLE_FAILED_INIT;
}

CURLcode __wrap_curl_easy_recv(CURL *h, void *b, size_t n, size_t *got);
CURLcode __wrap_curl_easy_recv(CURL *h, void *b, size_t n, size_t *got)
{
	return cu_ready() ? cu.easy_recv(h, b, n, got) : CURLE_FAILED_INIT;
}

struct curl_slist *__wrap_curl_slist_append(struct curl_slist *l,
                                            const char *s);
struct curl_slist *__wrap_curl_slist_append(struct curl_slist *l, const char *s)
{
	return cu_ready() ? cu.slist_append(l, s) : NULL;
}

void __wrap_curl_slist_free_all(struct curl_slist *l);
void __wrap_curl_slist_free_all(struct curl_slist *l)
{
	if (l && cu_ready())
		cu.slist_free_all(l);
}

curl_version_info_data *__wrap_curl_version_info(CURLversion v);
curl_version_info_data *__wrap_curl_version_info(CURLversion v)
{
	return cu_ready() ? cu.version_info(v) : NULL;
}

void __wrap_curl_free(void *p);
void __wrap_curl_free(void *p)
{
	if (p && cu_ready())
		cu.free(p);
}

/* ------------------------------------------------------- libmicrohttpd */

static struct {
	__typeof__(&MHD_start_daemon_va) start_daemon_va;
	__typeof__(&MHD_stop_daemon) stop_daemon;
	__typeof__(&MHD_get_daemon_info) get_daemon_info;
	__typeof__(&MHD_get_connection_info) get_connection_info;
	__typeof__(&MHD_lookup_connection_value) lookup_connection_value;
	__typeof__(&MHD_add_response_header) add_response_header;
	__typeof__(&MHD_queue_response) queue_response;
	__typeof__(&MHD_destroy_response) destroy_response;
	__typeof__(&MHD_create_response_from_callback) from_callback;
	__typeof__(&MHD_create_response_from_buffer) from_buffer;
	__typeof__(&MHD_create_response_from_buffer_with_free_callback)
	    from_buffer_fc;
	__typeof__(&MHD_create_response_from_buffer_with_free_callback_cls)
	    from_buffer_fc_cls;
	int ok;
} mh;
static pthread_once_t mh_once = PTHREAD_ONCE_INIT;

#define MH_SYM(field, name)                                                    \
	(mh.field = (__typeof__(mh.field))dlsym(h, name)) != NULL

static void mh_open(void)
{
	void *h = dlopen(QM_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);

	mh.ok =
	    h && MH_SYM(start_daemon_va, "MHD_start_daemon_va") &&
	    MH_SYM(stop_daemon, "MHD_stop_daemon") &&
	    MH_SYM(get_daemon_info, "MHD_get_daemon_info") &&
	    MH_SYM(get_connection_info, "MHD_get_connection_info") &&
	    MH_SYM(lookup_connection_value, "MHD_lookup_connection_value") &&
	    MH_SYM(add_response_header, "MHD_add_response_header") &&
	    MH_SYM(queue_response, "MHD_queue_response") &&
	    MH_SYM(destroy_response, "MHD_destroy_response") &&
	    MH_SYM(from_callback, "MHD_create_response_from_callback") &&
	    MH_SYM(from_buffer, "MHD_create_response_from_buffer") &&
	    MH_SYM(from_buffer_fc,
	           "MHD_create_response_from_buffer_with_free_callback") &&
	    MH_SYM(from_buffer_fc_cls,
	           "MHD_create_response_from_buffer_with_free_"
	           "callback_cls");
}

static int mh_ready(void)
{
	pthread_once(&mh_once, mh_open);
	return mh.ok;
}

struct MHD_Daemon *__wrap_MHD_start_daemon(unsigned int flags, uint16_t port,
                                           MHD_AcceptPolicyCallback apc,
                                           void *apc_cls,
                                           MHD_AccessHandlerCallback dh,
                                           void *dh_cls, ...);
struct MHD_Daemon *__wrap_MHD_start_daemon(unsigned int flags, uint16_t port,
                                           MHD_AcceptPolicyCallback apc,
                                           void *apc_cls,
                                           MHD_AccessHandlerCallback dh,
                                           void *dh_cls, ...)
{
	struct MHD_Daemon *d;
	va_list ap;

	if (!mh_ready())
		return NULL;
	va_start(ap, dh_cls);
	d = mh.start_daemon_va(flags, port, apc, apc_cls, dh, dh_cls, ap);
	va_end(ap);
	return d;
}

/* The daemons exist only once the library is open: the functions below
 * are reached only then. */
void __wrap_MHD_stop_daemon(struct MHD_Daemon *d);
void __wrap_MHD_stop_daemon(struct MHD_Daemon *d)
{
	if (mh_ready())
		mh.stop_daemon(d);
}

/* The info types the web server asks for take no further argument. */
const union MHD_DaemonInfo *
__wrap_MHD_get_daemon_info(struct MHD_Daemon *d, enum MHD_DaemonInfoType t,
                           ...);
const union MHD_DaemonInfo *
__wrap_MHD_get_daemon_info(struct MHD_Daemon *d, enum MHD_DaemonInfoType t, ...)
{
	return mh_ready() ? mh.get_daemon_info(d, t) : NULL;
}

const union MHD_ConnectionInfo *
__wrap_MHD_get_connection_info(struct MHD_Connection *c,
                               enum MHD_ConnectionInfoType t, ...);
const union MHD_ConnectionInfo *
__wrap_MHD_get_connection_info(struct MHD_Connection *c,
                               enum MHD_ConnectionInfoType t, ...)
{
	return mh_ready() ? mh.get_connection_info(c, t) : NULL;
}

const char *__wrap_MHD_lookup_connection_value(struct MHD_Connection *c,
                                               enum MHD_ValueKind k,
                                               const char *key);
const char *__wrap_MHD_lookup_connection_value(struct MHD_Connection *c,
                                               enum MHD_ValueKind k,
                                               const char *key)
{
	return mh_ready() ? mh.lookup_connection_value(c, k, key) : NULL;
}

enum MHD_Result __wrap_MHD_add_response_header(struct MHD_Response *r,
                                               const char *h, const char *v);
enum MHD_Result __wrap_MHD_add_response_header(struct MHD_Response *r,
                                               const char *h, const char *v)
{
	return mh_ready() ? mh.add_response_header(r, h, v) : MHD_NO;
}

enum MHD_Result __wrap_MHD_queue_response(struct MHD_Connection *c,
                                          unsigned int status,
                                          struct MHD_Response *r);
enum MHD_Result __wrap_MHD_queue_response(struct MHD_Connection *c,
                                          unsigned int status,
                                          struct MHD_Response *r)
{
	return mh_ready() ? mh.queue_response(c, status, r) : MHD_NO;
}

void __wrap_MHD_destroy_response(struct MHD_Response *r);
void __wrap_MHD_destroy_response(struct MHD_Response *r)
{
	if (mh_ready())
		mh.destroy_response(r);
}

struct MHD_Response *__wrap_MHD_create_response_from_callback(
    uint64_t size, size_t block, MHD_ContentReaderCallback crc, void *crc_cls,
    MHD_ContentReaderFreeCallback crfc);
struct MHD_Response *__wrap_MHD_create_response_from_callback(
    uint64_t size, size_t block, MHD_ContentReaderCallback crc, void *crc_cls,
    MHD_ContentReaderFreeCallback crfc)
{
	return mh_ready() ? mh.from_callback(size, block, crc, crc_cls, crfc)
	                  : NULL;
}

struct MHD_Response *
__wrap_MHD_create_response_from_buffer(size_t size, void *buffer,
                                       enum MHD_ResponseMemoryMode mode);
struct MHD_Response *
__wrap_MHD_create_response_from_buffer(size_t size, void *buffer,
                                       enum MHD_ResponseMemoryMode mode)
{
	return mh_ready() ? mh.from_buffer(size, buffer, mode) : NULL;
}

struct MHD_Response *__wrap_MHD_create_response_from_buffer_with_free_callback(
    size_t size, void *buffer, MHD_ContentReaderFreeCallback crfc);
struct MHD_Response *__wrap_MHD_create_response_from_buffer_with_free_callback(
    size_t size, void *buffer, MHD_ContentReaderFreeCallback crfc)
{
	return mh_ready() ? mh.from_buffer_fc(size, buffer, crfc) : NULL;
}

struct MHD_Response *
__wrap_MHD_create_response_from_buffer_with_free_callback_cls(
    size_t size, void *buffer, MHD_ContentReaderFreeCallback crfc,
    void *crfc_cls);
struct MHD_Response *
__wrap_MHD_create_response_from_buffer_with_free_callback_cls(
    size_t size, void *buffer, MHD_ContentReaderFreeCallback crfc,
    void *crfc_cls)
{
	return mh_ready() ? mh.from_buffer_fc_cls(size, buffer, crfc, crfc_cls)
	                  : NULL;
}
