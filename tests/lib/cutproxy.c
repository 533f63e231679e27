/* SPDX-License-Identifier: MIT */
/*
 * The cutting TCP relay for fault tests (see cutproxy.h). One accepting
 * thread, and two threads per connection (one per direction) doing blocking
 * reads and writes, so that neither direction can stall the other. A cut
 * shuts both sockets of the connection down, which wakes both of its
 * threads; stop shuts every socket down and joins every thread. Test code
 * only.
 */
#include "cutproxy.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#define MAXCONN 256
#define MARKMAX 64
#define CHUNK   65536

enum rule { R_PASS, R_AFTER, R_MARK, R_REPLY };

struct conn {
	struct qmt_cutproxy *p;
	int fd[2]; /* [QMT_C2S]: the client's socket, [QMT_S2C]: the server's */
	uint64_t n[2];
	unsigned char tail[2][MARKMAX];
	size_t tlen[2];
	int cut;
	unsigned gen; /* the rule generation current when it was accepted */
	pthread_t th[2];
	int started[2];
};

struct half {
	struct conn *c;
	int dir;
};

struct qmt_cutproxy {
	int lfd, port, target;
	int wake[2];
	pthread_t acceptor;
	pthread_mutex_t mu;
	enum rule rule;
	unsigned gen; /* bumped by every new rule */
	int rdir;
	uint64_t rn;
	unsigned char mark[MARKMAX];
	size_t mlen;
	int cuts, nconn, stopping;
	uint64_t total[2];
	struct conn *conns[MAXCONN];
	struct half halves[MAXCONN][2];
};

/* Closes both directions of c (under p->mu). */
static void cut_locked(struct conn *c)
{
	if (c->cut)
		return;
	c->cut = 1;
	shutdown(c->fd[0], SHUT_RDWR);
	shutdown(c->fd[1], SHUT_RDWR);
}

/* Where a marker ends in data (preceded by the last bytes seen), as the
 * number of bytes of data up to and including it; 0 when absent. */
static size_t mark_end(struct conn *c, int dir, const unsigned char *data,
                       size_t len)
{
	struct qmt_cutproxy *p = c->p;
	unsigned char win[MARKMAX * 2];
	size_t t = c->tlen[dir];

	/* across the boundary: the tail and the start of data */
	if (t) {
		size_t take = len < p->mlen - 1 ? len : p->mlen - 1;

		memcpy(win, c->tail[dir], t);
		memcpy(win + t, data, take);
		for (size_t i = 0; i + p->mlen <= t + take; i++)
			if (memcmp(win + i, p->mark, p->mlen) == 0 &&
			    i + p->mlen > t)
				return i + p->mlen - t;
	}
	for (size_t i = 0; i + p->mlen <= len; i++)
		if (memcmp(data + i, p->mark, p->mlen) == 0)
			return i + p->mlen;
	return 0;
}

/* Remembers the last bytes of data, for a marker split between reads. */
static void keep_tail(struct conn *c, int dir, const unsigned char *data,
                      size_t len)
{
	size_t keep = c->p->mlen ? c->p->mlen - 1 : 0;
	unsigned char buf[MARKMAX * 2];
	size_t t = c->tlen[dir];

	if (!keep) {
		c->tlen[dir] = 0;
		return;
	}
	if (len >= keep) {
		memcpy(c->tail[dir], data + len - keep, keep);
		c->tlen[dir] = keep;
		return;
	}
	memcpy(buf, c->tail[dir], t);
	memcpy(buf + t, data, len);
	t += len;
	if (t > keep) {
		memmove(buf, buf + t - keep, keep);
		t = keep;
	}
	memcpy(c->tail[dir], buf, t);
	c->tlen[dir] = t;
}

/* Decides, under the lock, how much of a chunk goes through and whether
 * the connection is cut after it. */
static size_t decide(struct conn *c, int dir, const unsigned char *data,
                     size_t len, int *cut)
{
	struct qmt_cutproxy *p = c->p;
	size_t k = len;

	*cut = 0;
	/* a rule is for connections made after it: one closing down now
	 * (its last bytes in flight) must not take it */
	switch (c->gen == p->gen ? p->rule : R_PASS) {
	case R_PASS:
		break;
	case R_AFTER:
		if (dir == p->rdir && c->n[dir] + len >= p->rn) {
			k = c->n[dir] >= p->rn ? 0
			                       : (size_t)(p->rn - c->n[dir]);
			*cut = 1;
		}
		break;
	case R_MARK:
		if (dir == p->rdir) {
			size_t e = mark_end(c, dir, data, len);

			if (e) {
				k = e;
				*cut = 1;
			} else {
				keep_tail(c, dir, data, len);
			}
		}
		break;
	case R_REPLY:
		if (dir == QMT_S2C && c->n[QMT_C2S] >= p->rn) {
			k = 0;
			*cut = 1;
		}
		break;
	}
	if (*cut) {
		p->rule = R_PASS;
		p->cuts++;
	}
	c->n[dir] += k;
	p->total[dir] += k;
	return k;
}

static int write_all(int fd, const unsigned char *b, size_t n)
{
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One direction of one connection. */
static void *pump(void *arg)
{
	struct half *h = arg;
	struct conn *c = h->c;
	struct qmt_cutproxy *p = c->p;
	int dir = h->dir;
	int from = c->fd[dir], to = c->fd[!dir];
	unsigned char *buf = malloc(CHUNK);

	while (buf) {
		ssize_t r = recv(from, buf, CHUNK, 0);
		size_t k;
		int cut;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* the sender closed: pass the end of stream on */
			shutdown(to, SHUT_WR);
			if (r < 0) {
				pthread_mutex_lock(&p->mu);
				cut_locked(c);
				pthread_mutex_unlock(&p->mu);
			}
			break;
		}
		pthread_mutex_lock(&p->mu);
		if (c->cut) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		k = decide(c, dir, buf, (size_t)r, &cut);
		pthread_mutex_unlock(&p->mu);
		if (k && write_all(to, buf, k) != 0)
			cut = 1;
		if (cut) {
			pthread_mutex_lock(&p->mu);
			cut_locked(c);
			pthread_mutex_unlock(&p->mu);
			break;
		}
	}
	free(buf);
	return NULL;
}

static int connect_target(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *acceptor(void *arg)
{
	struct qmt_cutproxy *p = arg;

	for (;;) {
		struct pollfd pf[2] = {{.fd = p->lfd, .events = POLLIN},
		                       {.fd = p->wake[0], .events = POLLIN}};
		struct conn *c;
		int cfd, sfd, slot;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		cfd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		pthread_mutex_lock(&p->mu);
		slot = p->nconn < MAXCONN && !p->stopping ? p->nconn : -1;
		pthread_mutex_unlock(&p->mu);
		sfd = slot < 0 ? -1 : connect_target(p->target);
		c = sfd < 0 ? NULL : calloc(1, sizeof(*c));
		if (!c) {
			/* the server is not there: so is the relay */
			close(cfd);
			if (sfd >= 0)
				close(sfd);
			continue;
		}
		c->p = p;
		c->fd[QMT_C2S] = cfd;
		c->fd[QMT_S2C] = sfd;
		pthread_mutex_lock(&p->mu);
		c->gen = p->gen;
		p->conns[slot] = c;
		p->nconn++;
		for (int d = 0; d < 2; d++) {
			p->halves[slot][d].c = c;
			p->halves[slot][d].dir = d;
			c->started[d] =
			    pthread_create(&c->th[d], NULL, pump,
			                   &p->halves[slot][d]) == 0;
			if (!c->started[d])
				cut_locked(c);
		}
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

int qmt_cutproxy_start(int target_port, struct qmt_cutproxy **out)
{
	struct qmt_cutproxy *p = calloc(1, sizeof(*p));
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int one = 1;

	if (!p)
		return -1;
	p->target = target_port;
	p->wake[0] = p->wake[1] = -1;
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (p->lfd < 0 ||
	    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(p->lfd, 16) ||
	    getsockname(p->lfd, (struct sockaddr *)&a, &al) ||
	    pipe2(p->wake, O_CLOEXEC)) {
		fprintf(stderr, "cutproxy: cannot listen: %s\n",
		        strerror(errno));
		goto fail;
	}
	p->port = ntohs(a.sin_port);
	pthread_mutex_init(&p->mu, NULL);
	if (pthread_create(&p->acceptor, NULL, acceptor, p) != 0) {
		fprintf(stderr, "cutproxy: no thread\n");
		pthread_mutex_destroy(&p->mu);
		goto fail;
	}
	*out = p;
	return 0;
fail:
	if (p->lfd >= 0)
		close(p->lfd);
	if (p->wake[0] >= 0) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	free(p);
	return -1;
}

void qmt_cutproxy_stop(struct qmt_cutproxy **pp)
{
	struct qmt_cutproxy *p = pp ? *pp : NULL;
	char b = 0;
	int n;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_mutex_unlock(&p->mu);
	if (write(p->wake[1], &b, 1) != 1)
		fprintf(stderr, "cutproxy: cannot wake the acceptor\n");
	pthread_join(p->acceptor, NULL);
	pthread_mutex_lock(&p->mu);
	n = p->nconn;
	for (int i = 0; i < n; i++)
		cut_locked(p->conns[i]);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < n; i++) {
		struct conn *c = p->conns[i];

		for (int d = 0; d < 2; d++)
			if (c->started[d])
				pthread_join(c->th[d], NULL);
		close(c->fd[0]);
		close(c->fd[1]);
		free(c);
	}
	close(p->lfd);
	close(p->wake[0]);
	close(p->wake[1]);
	pthread_mutex_destroy(&p->mu);
	free(p);
	*pp = NULL;
}

int qmt_cutproxy_port(const struct qmt_cutproxy *p)
{
	return p->port;
}

static void set_rule(struct qmt_cutproxy *p, enum rule r, int dir, uint64_t n,
                     const void *mark, size_t mlen)
{
	pthread_mutex_lock(&p->mu);
	p->gen++;
	p->rule = r;
	p->rdir = dir;
	p->rn = n;
	p->mlen = mlen;
	if (mlen)
		memcpy(p->mark, mark, mlen);
	pthread_mutex_unlock(&p->mu);
}

void qmt_cutproxy_pass(struct qmt_cutproxy *p)
{
	set_rule(p, R_PASS, 0, 0, NULL, 0);
}

void qmt_cutproxy_cut_after(struct qmt_cutproxy *p, enum qmt_cut_dir dir,
                            uint64_t n)
{
	set_rule(p, R_AFTER, (int)dir, n, NULL, 0);
}

void qmt_cutproxy_cut_at(struct qmt_cutproxy *p, enum qmt_cut_dir dir,
                         const void *marker, size_t len)
{
	if (!len || len > MARKMAX) {
		fprintf(stderr, "cutproxy: a marker has 1 to %d bytes\n",
		        MARKMAX);
		abort();
	}
	set_rule(p, R_MARK, (int)dir, 0, marker, len);
}

void qmt_cutproxy_cut_reply(struct qmt_cutproxy *p, uint64_t n)
{
	set_rule(p, R_REPLY, QMT_S2C, n, NULL, 0);
}

int qmt_cutproxy_cuts(struct qmt_cutproxy *p)
{
	int n;

	pthread_mutex_lock(&p->mu);
	n = p->cuts;
	pthread_mutex_unlock(&p->mu);
	return n;
}

int qmt_cutproxy_conns(struct qmt_cutproxy *p)
{
	int n;

	pthread_mutex_lock(&p->mu);
	n = p->nconn;
	pthread_mutex_unlock(&p->mu);
	return n;
}

uint64_t qmt_cutproxy_bytes(struct qmt_cutproxy *p, enum qmt_cut_dir dir)
{
	uint64_t n;

	pthread_mutex_lock(&p->mu);
	n = p->total[dir];
	pthread_mutex_unlock(&p->mu);
	return n;
}
