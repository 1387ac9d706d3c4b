/*
 * null_responder: the cheapest possible DNS "server", used by bench/run.sh as
 * the ceiling of what this machine's kernel and load generator can push.
 *
 * It answers every query with one A record (127.0.0.1) without any lookup:
 * one UDP socket, a recvmmsg() batch in, the header flipped and the question
 * copied in place, one answer appended, a sendmmsg() batch out.  Anything a
 * real resolver does on top of this (parsing, cache lookup, policy) is the
 * overhead the benchmark ratios show.
 *
 * usage: null_responder [-a ADDR] [-p PORT] [-b BATCH]
 * Exits cleanly on SIGINT/SIGTERM and prints how many queries it answered.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BATCH 256
/* Room for the largest query we accept plus the 16-byte answer. */
#define BUF_SIZE 1024
#define DNS_HDR 12
#define ANSWER_LEN 16

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/*
 * Turns the query in buf (len bytes) into a reply in place; returns the reply
 * length, or 0 to drop the packet.  The question is kept as sent (so the
 * client's ID and case survive) and everything after it, e.g. an EDNS OPT
 * record, is cut: the reply carries no additional section.
 */
static size_t make_reply(uint8_t *buf, size_t len) {
    if (len < DNS_HDR + 5) return 0;
    if (buf[2] & 0x80) return 0;              /* QR set: not a query */
    if (buf[4] != 0 || buf[5] != 1) return 0; /* QDCOUNT must be 1 */
    size_t off = DNS_HDR;
    while (off < len && buf[off] != 0) {      /* walk the QNAME labels */
        if (buf[off] & 0xC0) return 0;        /* no compression in a query */
        off += (size_t)buf[off] + 1;
    }
    off += 1 + 4;                              /* root label, QTYPE, QCLASS */
    if (off > len || off + ANSWER_LEN > BUF_SIZE) return 0;

    buf[2] = (uint8_t)((buf[2] & 0x79) | 0x84); /* QR=1, AA=1, keep OPCODE+RD */
    buf[3] = 0x80;                              /* RA=1, RCODE=NOERROR */
    buf[6] = 0; buf[7] = 1;                     /* ANCOUNT=1 */
    buf[8] = buf[9] = buf[10] = buf[11] = 0;    /* NSCOUNT=ARCOUNT=0 */
    static const uint8_t answer[ANSWER_LEN] = {
        0xC0, 0x0C,             /* name: pointer to the question */
        0x00, 0x01, 0x00, 0x01, /* type A, class IN */
        0x00, 0x00, 0x0E, 0x10, /* TTL 3600 */
        0x00, 0x04, 127, 0, 0, 1,
    };
    memcpy(buf + off, answer, ANSWER_LEN);
    return off + ANSWER_LEN;
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1";
    int port = 5300, batch = 64, opt;
    while ((opt = getopt(argc, argv, "a:p:b:h")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'b': batch = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s [-a ADDR] [-p PORT] [-b BATCH<=%d]\n", argv[0], MAX_BATCH);
            return 2;
        }
    }
    if (batch < 1 || batch > MAX_BATCH) batch = MAX_BATCH;

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "null_responder: bad IPv4 address %s\n", addr);
        return 2;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    /* A large receive buffer so that bursts from a closed-loop generator with
     * many outstanding queries are queued, not dropped: the benchmark wants
     * to measure CPU cost, not buffer sizing.  FORCE works as root; the plain
     * option is the fallback (capped at net.core.rmem_max). */
    int rcv = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("bind"); return 1; }

    /* No SA_RESTART: a signal must interrupt the blocking recvmmsg(). */
    struct sigaction act = {.sa_handler = on_signal};
    sigaction(SIGINT, &act, NULL);
    sigaction(SIGTERM, &act, NULL);

    static uint8_t bufs[MAX_BATCH][BUF_SIZE];
    static struct sockaddr_in peers[MAX_BATCH];
    static struct iovec iov[MAX_BATCH];
    static struct mmsghdr in[MAX_BATCH], out[MAX_BATCH];
    unsigned long long answered = 0, dropped = 0;

    fprintf(stderr, "null_responder: listening on %s:%d, batch %d\n", addr, port, batch);
    while (!stop) {
        for (int i = 0; i < batch; i++) {
            iov[i].iov_base = bufs[i];
            iov[i].iov_len = BUF_SIZE - ANSWER_LEN; /* leave room for the answer */
            in[i].msg_hdr = (struct msghdr){.msg_name = &peers[i], .msg_namelen = sizeof peers[i],
                                            .msg_iov = &iov[i], .msg_iovlen = 1};
        }
        /* MSG_WAITFORONE: block for the first datagram, then take whatever
         * else is already queued, so batches grow with load and latency stays
         * low when idle. */
        int n = recvmmsg(fd, in, (unsigned)batch, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("recvmmsg");
            return 1;
        }
        int m = 0;
        for (int i = 0; i < n; i++) {
            size_t rlen = (in[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : make_reply(bufs[i], in[i].msg_len);
            if (rlen == 0) { dropped++; continue; }
            iov[i].iov_len = rlen;
            out[m].msg_hdr = (struct msghdr){.msg_name = &peers[i], .msg_namelen = in[i].msg_hdr.msg_namelen,
                                             .msg_iov = &iov[i], .msg_iovlen = 1};
            m++;
        }
        for (int done = 0; done < m;) {
            int s = sendmmsg(fd, out + done, (unsigned)(m - done), 0);
            if (s < 0) {
                if (errno == EINTR) continue;
                /* e.g. ENOBUFS or ECONNREFUSED from a vanished client: drop
                 * the one that failed, keep serving. */
                done++; dropped++;
                continue;
            }
            done += s; answered += (unsigned long long)s;
        }
    }
    fprintf(stderr, "null_responder: answered %llu, dropped %llu\n", answered, dropped);
    return 0;
}
