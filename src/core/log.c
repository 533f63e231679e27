/* SPDX-License-Identifier: MIT */
/*
 * Logging that cannot leak secrets. The formatter walks the format string
 * itself so that it sees every pointer argument: a %s or %p that points into
 * live secure memory prints "[redacted]". Programs choose the sink; the
 * library default drops every line.
 */
#include "core.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define REDACTED "[redacted]"

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static qm_log_sink sink_fn;
static void *sink_arg;
static enum qm_log_level sink_min = QM_LOG_INFO;

void qm_log_set_sink(qm_log_sink sink, void *arg, enum qm_log_level min)
{
	pthread_mutex_lock(&sink_lock);
	sink_fn = sink;
	sink_arg = arg;
	sink_min = min;
	pthread_mutex_unlock(&sink_lock);
}

struct out {
	char *buf;
	size_t size;
	size_t len;
};

/* Appends s (n bytes) to o, truncating silently at the end of the buffer. */
static void put(struct out *o, const char *s, size_t n)
{
	size_t room = o->size - 1 - o->len;

	if (n > room)
		n = room;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

#define putf(o, spec, ...)                                                   \
	do {                                                                 \
		char tmp_[512];                                              \
		int n_ = snprintf(tmp_, sizeof(tmp_), spec, __VA_ARGS__);    \
		if (n_ > 0)                                                  \
			put(o, tmp_,                                         \
			    (size_t)n_ < sizeof(tmp_) ? (size_t)n_           \
			                              : sizeof(tmp_) - 1);   \
	} while (0)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"

/* Formats one %s argument, redacting secure memory. */
static void put_str(struct out *o, const char *spec, int width, int prec,
                    const char *s)
{
	size_t n;

	if (!s) {
		put(o, "(null)", 6);
		return;
	}
	n = prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
	if (qm_sec_contains(s, n)) {
		put(o, REDACTED, sizeof(REDACTED) - 1);
		return;
	}
	if (n > 480) {
		/* longer than the scratch buffer: copy directly, no padding */
		put(o, s, n);
		return;
	}
	putf(o, spec, width, prec, s);
}

size_t qm_log_format(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};
	const char *p = fmt;

	if (!buf || size == 0)
		return 0;
	buf[0] = '\0';
	while (*p) {
		const char *pct = strchr(p, '%');
		char flags[8], spec[32], len[3] = "";
		size_t nf = 0;
		int width = 0, prec = -1;
		char conv;

		if (!pct) {
			put(&o, p, strlen(p));
			break;
		}
		put(&o, p, (size_t)(pct - p));
		p = pct + 1;
		if (*p == '%') {
			put(&o, "%", 1);
			p++;
			continue;
		}
		while (*p && strchr("-+ #0", *p) && nf < sizeof(flags) - 1)
			flags[nf++] = *p++;
		flags[nf] = '\0';
		if (*p == '*') {
			width = va_arg(ap, int);
			p++;
		} else {
			while (*p >= '0' && *p <= '9' && width < 10000)
				width = width * 10 + (*p++ - '0');
		}
		if (*p == '.') {
			p++;
			prec = 0;
			if (*p == '*') {
				prec = va_arg(ap, int);
				p++;
			} else {
				while (*p >= '0' && *p <= '9' && prec < 100000)
					prec = prec * 10 + (*p++ - '0');
			}
		}
		if (width > 400)
			width = 400;
		if (*p == 'h' || *p == 'l') {
			len[0] = *p++;
			if (*p == len[0])
				len[1] = *p++;
		} else if (*p == 'z' || *p == 'j' || *p == 't') {
			len[0] = *p++;
		}
		conv = *p;
		if (!conv)
			break;
		p++;
		snprintf(spec, sizeof(spec), "%%%s*.*%s%c", flags, len, conv);
		switch (conv) {
		case 'd':
		case 'i':
			if (len[0] == 'l' && len[1] == 'l')
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, long long));
			else if (len[0] == 'l')
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, long));
			else if (len[0] == 'z' || len[0] == 't')
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, ptrdiff_t));
			else if (len[0] == 'j')
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, intmax_t));
			else
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, int));
			break;
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			if (len[0] == 'l' && len[1] == 'l')
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, unsigned long long));
			else if (len[0] == 'l')
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, unsigned long));
			else if (len[0] == 'z' || len[0] == 't')
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, size_t));
			else if (len[0] == 'j')
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, uintmax_t));
			else
				putf(&o, spec, width, prec < 0 ? 1 : prec,
				     va_arg(ap, unsigned int));
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);
			put(&o, &c, 1);
			break;
		}
		case 's':
			snprintf(spec, sizeof(spec), "%%%s*.*s", flags);
			put_str(&o, spec, width, prec < 0 ? 100000 : prec,
			        va_arg(ap, const char *));
			break;
		case 'p': {
			void *ptr = va_arg(ap, void *);
			if (qm_sec_contains(ptr, 1))
				put(&o, REDACTED, sizeof(REDACTED) - 1);
			else
				putf(&o, "%p", ptr);
			break;
		}
		case 'f':
		case 'g':
		case 'e':
			snprintf(spec, sizeof(spec), "%%%s*.*%c", flags, conv);
			putf(&o, spec, width, prec < 0 ? 6 : prec,
			     va_arg(ap, double));
			break;
		default:
			put(&o, "?", 1);
			break;
		}
	}
	return o.len;
}

#pragma GCC diagnostic pop

void qm_log(enum qm_log_level level, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	qm_log_sink fn;
	void *arg;

	pthread_mutex_lock(&sink_lock);
	fn = sink_fn;
	arg = sink_arg;
	if (level < sink_min)
		fn = NULL;
	pthread_mutex_unlock(&sink_lock);
	if (!fn)
		return;
	va_start(ap, fmt);
	qm_log_format(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(level, line, arg);
}
