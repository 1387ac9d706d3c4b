/*
 * dnsload: a closed-loop UDP DNS load generator for bench/run.sh.
 *
 * Why not dnsperf: on one core dnsperf saturates before a fast server does,
 * so the benchmark would measure dnsperf.  dnsload keeps N queries
 * outstanding over K connected UDP sockets, one thread, and moves packets in
 * batches with sendmmsg()/recvmmsg() so its per-query cost stays below the
 * server's (check: the null responder must come out fastest).
 *
 * The generator busy-polls its sockets (recvmmsg with MSG_DONTWAIT) rather
 * than sleeping: it owns its core, and a generator that never sleeps spares
 * the server the cost of waking it for every reply batch (-W to sleep).
 *
 * Closed loop: every answer (or timeout) frees a slot that is refilled at
 * once with the next query of a fixed list, so the offered load adapts to the
 * server and nothing is lost through overload of a socket buffer.  Replies
 * are matched by DNS ID per socket; each matched reply's latency goes into a
 * 1 µs histogram.  After T seconds sending stops and outstanding queries
 * have a drain period to come back; lost = sent - received.
 *
 * Output: one machine-readable line on stdout,
 *   DNSLOAD sent=.. received=.. lost=.. ... qps=.. mean_us=.. p99_us=..
 * (key=value, space-separated; run.sh parses it), human notes on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 64
#define MAX_BATCH 256
#define RECV_BUF 1500
#define IDS 65536
/* Histogram: 1 µs buckets up to 100 ms, plus one overflow bucket. Latency on
 * loopback is µs to ms; anything slower is a problem the max shows anyway. */
#define HIST_US 100000

enum { ID_FREE = 0, ID_PENDING = 1, ID_EXPIRED = 2 };

/* One prebuilt question section (QNAME QTYPE QCLASS [+ OPT RR]) per name. */
struct query {
    uint8_t *wire;
    uint16_t len;
    uint8_t arcount; /* 1 when the OPT RR is appended */
};

struct sock {
    int fd;
    int target;     /* outstanding queries this socket keeps in flight */
    int pending;    /* currently in flight (not answered, not expired) */
    uint16_t next_id;
    uint16_t oldest; /* lower edge of the window of IDs that may be pending */
    uint8_t state[IDS];
    uint64_t sent_ns[IDS];
    /* send side: header per slot + pointer to the shared question (2 iovecs,
     * so nothing is copied per query) */
    uint8_t hdr[MAX_BATCH][12];
    struct iovec siov[MAX_BATCH][2];
    struct mmsghdr smsg[MAX_BATCH];
};

static struct {
    uint64_t sent, received, in_window, timeouts, late, unexpected, send_errors;
    uint64_t noerror_answer, noerror_empty, nxdomain, servfail, refused, rcode_other, truncated;
    uint64_t lat_sum_ns, lat_max_ns, lat_count;
    uint64_t recv_calls, send_calls, waits, empty_waits; /* syscall counts: batching efficiency */
    uint64_t hist[HIST_US + 1];
} st;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int qtype_from_name(const char *s) {
    static const struct { const char *n; int t; } types[] = {
        {"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15},
        {"TXT", 16}, {"AAAA", 28}, {"SRV", 33}, {"HTTPS", 65}, {"ANY", 255},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(s, types[i].n) == 0) return types[i].t;
    if (strncasecmp(s, "TYPE", 4) == 0) return atoi(s + 4);
    return -1;
}

/* Encodes name + type as a question section; appends an OPT RR when edns. */
static int build_query(struct query *q, const char *name, int qtype, int edns) {
    uint8_t buf[300];
    size_t off = 0;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 && dot) return -1; /* empty label */
        if (l > 63 || off + l + 1 > 255) return -1;
        buf[off++] = (uint8_t)l;
        memcpy(buf + off, p, l);
        off += l;
        if (!dot) break;
        p = dot + 1;
    }
    buf[off++] = 0;
    buf[off++] = (uint8_t)(qtype >> 8); buf[off++] = (uint8_t)qtype;
    buf[off++] = 0; buf[off++] = 1; /* IN */
    if (edns) {
        /* root name, TYPE OPT, UDP payload 1232, ext-rcode/version/flags 0, RDLEN 0 */
        static const uint8_t opt[11] = {0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0};
        memcpy(buf + off, opt, sizeof opt);
        off += sizeof opt;
    }
    q->wire = malloc(off);
    if (!q->wire) return -1;
    memcpy(q->wire, buf, off);
    q->len = (uint16_t)off;
    q->arcount = edns ? 1 : 0;
    return 0;
}

/* Query list in dnsperf's format: "name [type]" per line, '#' comments. */
static struct query *load_queries(const char *file, int gen, const char *suffix, int edns, size_t *nq) {
    size_t cap = 1024, n = 0;
    struct query *qs = malloc(cap * sizeof *qs);
    if (!qs) return NULL;
    if (file) {
        FILE *f = fopen(file, "r");
        if (!f) { perror(file); return NULL; }
        char line[512];
        unsigned lineno = 0;
        while (fgets(line, sizeof line, f)) {
            lineno++;
            char name[300], type[32] = "A";
            char *s = line;
            while (isspace((unsigned char)*s)) s++;
            if (*s == '#' || *s == 0) continue;
            if (sscanf(s, "%299s %31s", name, type) < 1) continue;
            size_t nl = strlen(name);
            if (nl > 1 && name[nl - 1] == '.') name[nl - 1] = 0; /* accept FQDN form */
            int t = qtype_from_name(type);
            if (n == cap) { cap *= 2; qs = realloc(qs, cap * sizeof *qs); if (!qs) return NULL; }
            if (t < 0 || build_query(&qs[n], name, t, edns) != 0) {
                fprintf(stderr, "dnsload: %s:%u: bad query line, skipped\n", file, lineno);
                continue;
            }
            n++;
        }
        fclose(f);
    } else {
        for (int i = 0; i < gen; i++) {
            char name[300];
            snprintf(name, sizeof name, "n%d.%s", i, suffix);
            if (n == cap) { cap *= 2; qs = realloc(qs, cap * sizeof *qs); if (!qs) return NULL; }
            if (build_query(&qs[n], name, 1, edns) != 0) return NULL;
            n++;
        }
    }
    *nq = n;
    return qs;
}

static void record_latency(uint64_t ns) {
    st.lat_sum_ns += ns;
    st.lat_count++;
    if (ns > st.lat_max_ns) st.lat_max_ns = ns;
    uint64_t us = ns / 1000;
    st.hist[us < HIST_US ? us : HIST_US]++;
}

static double percentile_us(double p) {
    if (st.lat_count == 0) return 0;
    uint64_t want = (uint64_t)(p * (double)st.lat_count);
    if (want >= st.lat_count) want = st.lat_count - 1;
    uint64_t acc = 0;
    for (int i = 0; i <= HIST_US; i++) {
        acc += st.hist[i];
        if (acc > want) return i < HIST_US ? i + 0.5 : (double)st.lat_max_ns / 1000.0; /* bucket midpoint */
    }
    return (double)st.lat_max_ns / 1000.0;
}

/* Reads everything queued on one socket, batch by batch. Returns replies read. */
static int drain_socket(struct sock *s, int batch, uint64_t window_end, int sending) {
    static uint8_t bufs[MAX_BATCH][RECV_BUF];
    static struct iovec iov[MAX_BATCH];
    static struct mmsghdr msgs[MAX_BATCH];
    static int ready;
    if (!ready) {
        /* set up once: recvmmsg only writes msg_len and msg_flags, and the
         * busy-poll loop calls this far more often than data arrives */
        for (int i = 0; i < MAX_BATCH; i++) {
            iov[i] = (struct iovec){bufs[i], RECV_BUF};
            msgs[i].msg_hdr = (struct msghdr){.msg_iov = &iov[i], .msg_iovlen = 1};
        }
        ready = 1;
    }
    int total = 0;
    for (;;) {
        int n = recvmmsg(s->fd, msgs, (unsigned)batch, MSG_DONTWAIT, NULL);
        st.recv_calls++;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) return total;
            if (errno == ECONNREFUSED) { st.send_errors++; continue; } /* server not (yet) there */
            perror("recvmmsg");
            exit(1);
        }
        uint64_t t = now_ns();
        for (int i = 0; i < n; i++) {
            const uint8_t *b = bufs[i];
            if (msgs[i].msg_len < 12 || !(b[2] & 0x80)) { st.unexpected++; continue; }
            uint16_t id = (uint16_t)(b[0] << 8 | b[1]);
            if (s->state[id] == ID_PENDING) {
                s->pending--;
                record_latency(t - s->sent_ns[id]);
                if (sending && t <= window_end) st.in_window++;
            } else if (s->state[id] == ID_EXPIRED) {
                st.late++; /* its slot was already refilled at the timeout */
                record_latency(t - s->sent_ns[id]);
            } else {
                st.unexpected++;
                continue;
            }
            s->state[id] = ID_FREE;
            st.received++;
            int rcode = b[3] & 0x0F;
            uint16_t ancount = (uint16_t)(b[6] << 8 | b[7]);
            if (b[2] & 0x02) st.truncated++;
            if (rcode == 0) { if (ancount) st.noerror_answer++; else st.noerror_empty++; }
            else if (rcode == 3) st.nxdomain++;
            else if (rcode == 2) st.servfail++;
            else if (rcode == 5) st.refused++;
            else st.rcode_other++;
        }
        total += n;
        if (n < batch) return total;
    }
}

/* Gives up on queries older than timeout so their slot is reused; IDs are
 * assigned in order, so the pending ones sit in [oldest, next_id) sorted by
 * send time and the scan stops at the first one still young. */
static void expire(struct sock *s, uint64_t now, uint64_t timeout_ns) {
    while (s->oldest != s->next_id) {
        uint16_t id = s->oldest;
        if (s->state[id] == ID_PENDING) {
            if (now - s->sent_ns[id] < timeout_ns) return;
            s->state[id] = ID_EXPIRED;
            s->pending--;
            st.timeouts++;
        }
        s->oldest++;
    }
}

/* Tops the socket up to its target with the next queries of the list. */
static void refill(struct sock *s, int batch, const struct query *qs, size_t nq, size_t *qi,
                   uint64_t *budget) {
    while (s->pending < s->target && *budget > 0) {
        int k = s->target - s->pending;
        if (k > batch) k = batch;
        if ((uint64_t)k > *budget) k = (int)*budget;
        uint16_t ids[MAX_BATCH];
        for (int i = 0; i < k; i++) {
            /* Skip an ID still pending from 64k queries ago (a very slow
             * server); expired ones may be reused, their late reply is lost. */
            while (s->state[s->next_id] == ID_PENDING) s->next_id++;
            uint16_t id = s->next_id++;
            ids[i] = id;
            const struct query *q = &qs[*qi];
            if (++*qi == nq) *qi = 0;
            uint8_t *h = s->hdr[i];
            h[0] = (uint8_t)(id >> 8); h[1] = (uint8_t)id;
            s->siov[i][1] = (struct iovec){q->wire, q->len};
            h[11] = q->arcount; /* the header is per slot, the OPT RR is in the question */
        }
        int done = 0;
        uint64_t t = now_ns();
        while (done < k) {
            int r = sendmmsg(s->fd, s->smsg + done, (unsigned)(k - done), 0);
            st.send_calls++;
            if (r < 0) {
                if (errno == EINTR) continue;
                /* EAGAIN/ENOBUFS/ECONNREFUSED: count it as sent-and-lost so
                 * the loop stays closed (the slot times out and is refilled) */
                st.send_errors++;
                r = 1;
            }
            done += r;
        }
        for (int i = 0; i < k; i++) {
            s->state[ids[i]] = ID_PENDING;
            s->sent_ns[ids[i]] = t;
        }
        s->pending += k;
        st.sent += (uint64_t)k;
        *budget -= (uint64_t)k;
    }
}

static void usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [-s ADDR] [-p PORT] (-f QUERYFILE | -g N [-z SUFFIX]) [options]\n"
            "  -f FILE   query list, one 'name [type]' per line (dnsperf format)\n"
            "  -g N      generate names n0.SUFFIX .. n{N-1}.SUFFIX, type A\n"
            "  -z SUFFIX suffix for generated names (default bench.test)\n"
            "  -c N      outstanding queries in total (default 64)\n"
            "  -k N      UDP sockets (default 4, max %d)\n"
            "  -b N      max batch per sendmmsg/recvmmsg (default 64, max %d)\n"
            "  -t SEC    sending time (default 10)\n"
            "  -n N      stop after sending N queries (default: no limit)\n"
            "  -d SEC    drain time after sending stops (default 1)\n"
            "  -T MS     per-query timeout before its slot is reused (default 1000)\n"
            "  -e        add an EDNS(0) OPT record (payload 1232)\n"
            "  -W        sleep in epoll_wait when idle instead of busy-polling\n",
            argv0, MAX_SOCKETS, MAX_BATCH);
    exit(2);
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1", *file = NULL, *suffix = "bench.test";
    int port = 53, outstanding = 64, nsock = 4, batch = 64, gen = 0, edns = 0, busy = 1, opt;
    double seconds = 10, drain = 1, timeout_ms = 1000;
    uint64_t budget = UINT64_MAX;
    while ((opt = getopt(argc, argv, "s:p:f:g:z:c:k:b:t:n:d:T:eWh")) != -1) {
        switch (opt) {
        case 's': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'f': file = optarg; break;
        case 'g': gen = atoi(optarg); break;
        case 'z': suffix = optarg; break;
        case 'c': outstanding = atoi(optarg); break;
        case 'k': nsock = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'n': budget = strtoull(optarg, NULL, 10); break;
        case 'd': drain = atof(optarg); break;
        case 'T': timeout_ms = atof(optarg); break;
        case 'e': edns = 1; break;
        case 'W': busy = 0; break;
        default: usage(argv[0]);
        }
    }
    if ((!file && gen <= 0) || nsock < 1 || nsock > MAX_SOCKETS || batch < 1 || batch > MAX_BATCH ||
        outstanding < nsock || seconds <= 0)
        usage(argv[0]);

    size_t nq = 0;
    struct query *qs = load_queries(file, gen, suffix, edns, &nq);
    if (!qs || nq == 0) { fprintf(stderr, "dnsload: no queries\n"); return 2; }

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "dnsload: bad IPv4 address %s\n", addr);
        return 2;
    }
    int ep = epoll_create1(0);
    struct sock *socks = calloc((size_t)nsock, sizeof *socks);
    if (ep < 0 || !socks) { perror("setup"); return 1; }
    for (int i = 0; i < nsock; i++) {
        struct sock *s = &socks[i];
        s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (s->fd < 0) { perror("socket"); return 1; }
        /* Room for every reply of a burst: replies must never be dropped on
         * our side, or the server gets blamed for lost queries. */
        int buf = 4 << 20;
        if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
            setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
        /* connect(): no address per send, and the kernel drops datagrams
         * from anyone but the server. */
        if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("connect"); return 1; }
        /* spread the outstanding queries evenly; the first sockets take the rest */
        s->target = outstanding / nsock + (i < outstanding % nsock);
        /* random start so consecutive runs don't reuse the same IDs */
        s->next_id = s->oldest = (uint16_t)(now_ns() * 2654435761u >> 7) + (uint16_t)(i * 7919);
        for (int j = 0; j < MAX_BATCH; j++) {
            uint8_t *h = s->hdr[j];
            memset(h, 0, 12);
            h[2] = 0x01; /* RD */
            h[5] = 1;    /* QDCOUNT */
            s->siov[j][0] = (struct iovec){h, 12};
            s->smsg[j].msg_hdr = (struct msghdr){.msg_iov = s->siov[j], .msg_iovlen = 2};
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) != 0) { perror("epoll_ctl"); return 1; }
    }

    uint64_t timeout_ns = (uint64_t)(timeout_ms * 1e6);
    uint64_t start = now_ns();
    uint64_t window_end = start + (uint64_t)(seconds * 1e9), drain_end = 0, stop_sending_at = 0;
    uint64_t next_expire = start + 10000000; /* check timeouts every 10 ms */
    size_t qi = 0;
    int sending = 1;
    for (int i = 0; i < nsock; i++) refill(&socks[i], batch, qs, nq, &qi, &budget);

    struct epoll_event evs[MAX_SOCKETS];
    for (;;) {
        uint64_t now = now_ns();
        if (sending && (now >= window_end || budget == 0)) {
            sending = 0;
            stop_sending_at = now;
            drain_end = now + (uint64_t)(drain * 1e9);
        }
        if (!sending) {
            int pending = 0;
            for (int i = 0; i < nsock; i++) pending += socks[i].pending;
            if (pending == 0 || now >= drain_end) break;
        }
        if (now >= next_expire) {
            for (int i = 0; i < nsock; i++) expire(&socks[i], now, timeout_ns);
            next_expire = now + 10000000;
        }
        /* Block up to 1 ms for replies: one epoll_wait per round, then each
         * ready socket is emptied with recvmmsg and topped up with sendmmsg. */
        int n;
        if (busy) {
            /* busy-poll: try every socket without sleeping; saves the
             * epoll_wait syscall and spares the server the cost of waking
             * us (the generator owns its core anyway) */
            n = 0;
            for (int i = 0; i < nsock; i++) {
                if (drain_socket(&socks[i], batch, window_end, sending) > 0) n++;
                if (sending) refill(&socks[i], batch, qs, nq, &qi, &budget);
            }
        } else {
            n = epoll_wait(ep, evs, MAX_SOCKETS, 1);
            if (n < 0) {
                if (errno == EINTR) continue;
                perror("epoll_wait");
                return 1;
            }
            for (int e = 0; e < n; e++) {
                struct sock *s = &socks[evs[e].data.u32];
                drain_socket(s, batch, window_end, sending);
                if (sending) refill(s, batch, qs, nq, &qi, &budget);
            }
        }
        st.waits++;
        /* sockets whose slots all expired get no reply event: refill them too */
        if (n == 0) st.empty_waits++;
        if (sending && n == 0)
            for (int i = 0; i < nsock; i++) refill(&socks[i], batch, qs, nq, &qi, &budget);
    }
    /* Anything still pending after the drain is lost; expired-but-unanswered
     * queries were counted as timeouts and are lost too. */
    double window_s = (double)(stop_sending_at - start) / 1e9;
    /* our own CPU, so run.sh can tell how much of the machine others used */
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu_s = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    uint64_t lost = st.sent - st.received;
    printf("DNSLOAD server=%s:%d queries=%zu sockets=%d outstanding=%d batch=%d edns=%d "
           "duration_s=%.3f sent=%llu received=%llu lost=%llu timeouts=%llu late=%llu unexpected=%llu "
           "send_errors=%llu noerror_answer=%llu noerror_empty=%llu nxdomain=%llu servfail=%llu "
           "refused=%llu rcode_other=%llu truncated=%llu qps=%.0f mean_us=%.1f p50_us=%.1f "
           "p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f recv_batch=%.1f send_batch=%.1f waits=%llu empty_waits=%llu load_cpu_s=%.3f\n",
           addr, port, nq, nsock, outstanding, batch, edns, window_s,
           (unsigned long long)st.sent, (unsigned long long)st.received, (unsigned long long)lost,
           (unsigned long long)st.timeouts, (unsigned long long)st.late,
           (unsigned long long)st.unexpected, (unsigned long long)st.send_errors,
           (unsigned long long)st.noerror_answer, (unsigned long long)st.noerror_empty,
           (unsigned long long)st.nxdomain, (unsigned long long)st.servfail,
           (unsigned long long)st.refused, (unsigned long long)st.rcode_other,
           (unsigned long long)st.truncated, window_s > 0 ? (double)st.in_window / window_s : 0.0,
           st.lat_count ? (double)st.lat_sum_ns / (double)st.lat_count / 1000.0 : 0.0,
           percentile_us(0.50), percentile_us(0.90), percentile_us(0.99), percentile_us(0.999),
           (double)st.lat_max_ns / 1000.0,
           st.recv_calls ? (double)st.received / (double)st.recv_calls : 0.0,
           st.send_calls ? (double)st.sent / (double)st.send_calls : 0.0,
           (unsigned long long)st.waits, (unsigned long long)st.empty_waits, cpu_s);
    return 0;
}
