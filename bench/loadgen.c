/*
 * loadgen — MQTT 3.1.1 load generator for bench/run.mjs.
 *
 * Single-threaded, epoll, non-blocking TCP_NODELAY sockets. Scenarios:
 *   fanin    N publishers on bench/in/<i>  -> 1 subscriber on bench/in/+
 *   fanout   1 publisher on bench/out      -> N subscribers on bench/out (bench/+ with --wildcard)
 *   pairs    N publisher/subscriber pairs, each pair on bench/pair/<i>
 *   latency  1 publisher -> 1 subscriber at a fixed rate, QoS 0
 *
 * --pub-rate N paces fanin, fanout and pairs too: N publishes per second in all,
 * from the publishers in turn, each still within its --inflight window (a
 * publish the window refuses is skipped and counted: the offered load was not
 * met). --sequential opens each connection 5 ms after the previous one has its
 * CONNACK, so that a round-robin balancer (node:cluster's) hands them to the
 * workers strictly in turn; --interleave K opens them K subscribers, then their K
 * publishers, then the next K subscribers, ... instead of every subscriber then
 * every publisher: over N workers, K = 1 puts each pair on two workers, K = N
 * each pair on one.
 *
 * Every message carries a 16-byte payload: publisher index, sequence number and
 * a CLOCK_MONOTONIC send timestamp. That lets each publisher keep at most
 * --inflight messages that its subscribers have not yet received (a pure flood
 * would only fill socket buffers), and lets QoS 1 runs check that every message
 * the broker acknowledged was delivered.
 *
 * Phases: setup (connect, subscribe) -> warm-up -> measuring window -> drain.
 * The drain stops publishing and waits until everything sent was delivered
 * (and acked), the broker has been silent for a second, or --drain expires.
 * "window-begin" / "window-end" lines go to stderr as the window opens and
 * closes; one JSON line with the results goes to stdout. In the latency
 * scenario that line has p50/p99/p99.9/max over the whole window and, with
 * --window-ms N, a "windows" array with the same for each consecutive N ms
 * (by receive time), so that one stall is not averaged away.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD_LEN 16
#define IN_BUF_LEN (64 * 1024)
#define OUT_HIGH_WATER (64 * 1024)   /* stop queueing publishes above this */
#define MAX_EVENTS 256
#define MAX_SEQ (1u << 28)           /* sanity bound on sequence numbers */
#define KEEPALIVE_S 60
#define DRAIN_IDLE_NS (1000 * 1000000LL)
#define TIMER_TOKEN UINT64_MAX

#define NS_PER_S 1000000000LL

enum scenario { FANIN, FANOUT, PAIRS, LATENCY };
enum role { PUBLISHER, SUBSCRIBER };
enum conn_state { CONNECTING, AWAIT_CONNACK, AWAIT_SUBACK, READY };
enum phase { SETUP, WARMUP, MEASURE, DRAIN, DONE };

struct config {
    const char *host;
    int port;
    int sub_port;         /* subscribers connect here (another node of a cluster); 0 = port */
    enum scenario scenario;
    int qos;
    int clients;          /* publishers (fanin), subscribers (fanout), pairs */
    int inflight;
    int rate;             /* latency scenario, msg/s */
    int pub_rate;         /* fanin/fanout/pairs: publishes/s in all, 0 = as fast as the window allows */
    int interleave;       /* connections opened in blocks of this many subs, then their pubs; 0 = all subs first */
    int sequential;       /* each connection opened once the previous one has its CONNACK */
    double warmup_s, duration_s, drain_s, setup_timeout_s;
    int persistent;       /* subscribers connect with clean session = 0 (durable storage writes) */
    int wildcard;         /* fanout subscribers use bench/+ (per-delivery authorization checks) */
    int window_ms;        /* latency: percentiles also per consecutive window of this length; 0 = totals only */
};

struct bitmap {
    uint64_t *words;
    uint32_t nwords;
};

/* What one subscriber received from one publisher. */
struct stream {
    bool routed;
    uint32_t next_expected;   /* highest sequence seen + 1 */
    uint64_t delivered;       /* distinct sequence numbers */
    struct bitmap seen;
};

struct outbuf {
    uint8_t *data;
    size_t start, end, cap;
};

struct conn {
    int fd;
    int index;
    enum role role;
    enum conn_state state;
    uint32_t epoll_events;
    bool dirty;
    char topic[64];
    uint8_t in[IN_BUF_LEN];
    size_t in_len;
    struct outbuf out;
    /* publisher side */
    uint32_t next_seq;
    uint64_t acked;
    struct bitmap acked_seqs;
    struct stream **routes;
    int nroutes;
};

struct counters {
    uint64_t published, delivered;
};

static struct config cfg = {
    .host = "127.0.0.1", .port = 0, .scenario = FANIN, .qos = 0, .clients = -1,
    .inflight = 300, .rate = 5000,
    .warmup_s = 1, .duration_s = 4, .drain_s = 10, .setup_timeout_s = 5,
};

static int epfd;
static int timer_fd = -1;
static struct conn *pubs, *subs;
static int npubs, nsubs;
static struct stream *streams;      /* npubs x nsubs */
static struct conn **dirty_list;
static int ndirty;
static enum phase phase = SETUP;
static int64_t phase_deadline;
static int64_t last_receive_ns;
static uint64_t total_delivered, duplicates, unexpected;
static uint64_t *latency_ns;
static uint32_t *latency_at_us;     /* when each sample was received, µs into the measuring window */
static size_t nlatency, latency_cap;
static int64_t window_start_ns;

/* ---------- utilities ---------- */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) die("out of memory");
    return q;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t seconds_to_ns(double s) { return (int64_t)(s * NS_PER_S); }

/* Sets bit i; returns whether it was already set. */
static bool bitmap_test_and_set(struct bitmap *bm, uint32_t i) {
    uint32_t word = i / 64;
    if (word >= bm->nwords) {
        uint32_t n = bm->nwords ? bm->nwords : 64;
        while (n <= word) n *= 2;
        bm->words = xrealloc(bm->words, n * sizeof *bm->words);
        memset(bm->words + bm->nwords, 0, (n - bm->nwords) * sizeof *bm->words);
        bm->nwords = n;
    }
    uint64_t mask = 1ull << (i % 64);
    bool was_set = bm->words[word] & mask;
    bm->words[word] |= mask;
    return was_set;
}

static bool bitmap_test(const struct bitmap *bm, uint32_t i) {
    uint32_t word = i / 64;
    return word < bm->nwords && (bm->words[word] & (1ull << (i % 64)));
}

/* ---------- output buffer and MQTT encoding ---------- */

static size_t outbuf_pending(const struct outbuf *b) { return b->end - b->start; }

static uint8_t *outbuf_reserve(struct outbuf *b, size_t n) {
    if (b->start == b->end) b->start = b->end = 0;
    if (b->end + n > b->cap) {
        if (b->start > 0) {
            memmove(b->data, b->data + b->start, b->end - b->start);
            b->end -= b->start;
            b->start = 0;
        }
        if (b->end + n > b->cap) {
            size_t cap = b->cap ? b->cap : 4096;
            while (cap < b->end + n) cap *= 2;
            b->data = xrealloc(b->data, cap);
            b->cap = cap;
        }
    }
    uint8_t *p = b->data + b->end;
    b->end += n;
    return p;
}

static uint8_t *put_u16(uint8_t *p, uint16_t v) {
    *p++ = v >> 8;
    *p++ = v & 0xff;
    return p;
}

static uint8_t *put_string(uint8_t *p, const char *s) {
    size_t n = strlen(s);
    p = put_u16(p, (uint16_t)n);
    memcpy(p, s, n);
    return p + n;
}

static size_t varint_len(size_t n) { return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4; }

/* Reserves room for a whole packet and writes its fixed header. */
static uint8_t *begin_packet(struct conn *c, uint8_t first_byte, size_t remaining) {
    uint8_t *p = outbuf_reserve(&c->out, 1 + varint_len(remaining) + remaining);
    *p++ = first_byte;
    do {
        uint8_t byte = remaining % 128;
        remaining /= 128;
        *p++ = remaining ? byte | 0x80 : byte;
    } while (remaining);
    return p;
}

static void queue_connect(struct conn *c) {
    char client_id[64];
    snprintf(client_id, sizeof client_id, "loadgen-%d-%c%d", (int)getpid(),
             c->role == PUBLISHER ? 'p' : 's', c->index);
    size_t remaining = 10 + 2 + strlen(client_id);
    uint8_t *p = begin_packet(c, 0x10, remaining);
    p = put_string(p, "MQTT");
    *p++ = 4;       /* protocol level 3.1.1 */
    /* clean session, except for subscribers under --persistent */
    *p++ = (cfg.persistent && c->role == SUBSCRIBER) ? 0x00 : 0x02;
    p = put_u16(p, KEEPALIVE_S);
    put_string(p, client_id);
}

static void queue_subscribe(struct conn *c) {
    size_t remaining = 2 + 2 + strlen(c->topic) + 1;
    uint8_t *p = begin_packet(c, 0x82, remaining);
    p = put_u16(p, 1);
    p = put_string(p, c->topic);
    *p = (uint8_t)cfg.qos;
}

static uint16_t packet_id_for(uint32_t seq) { return (uint16_t)(seq % 65535 + 1); }

static void queue_publish(struct conn *c, int64_t timestamp_ns) {
    uint32_t seq = c->next_seq++;
    size_t remaining = 2 + strlen(c->topic) + (cfg.qos ? 2 : 0) + PAYLOAD_LEN;
    uint8_t *p = begin_packet(c, 0x30 | (cfg.qos << 1), remaining);
    p = put_string(p, c->topic);
    if (cfg.qos) p = put_u16(p, packet_id_for(seq));
    uint32_t publisher = (uint32_t)c->index;
    memcpy(p, &publisher, 4);
    memcpy(p + 4, &seq, 4);
    memcpy(p + 8, &timestamp_ns, 8);
}

static void queue_puback(struct conn *c, uint16_t packet_id) {
    uint8_t *p = begin_packet(c, 0x40, 2);
    put_u16(p, packet_id);
}

/* ---------- socket plumbing ---------- */

static const char *conn_name(const struct conn *c, char *buf, size_t n) {
    snprintf(buf, n, "%s %d", c->role == PUBLISHER ? "publisher" : "subscriber", c->index);
    return buf;
}

static void set_epoll_events(struct conn *c, uint32_t events) {
    if (events == c->epoll_events) return;
    struct epoll_event ev = { .events = events, .data.ptr = c };
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    c->epoll_events = events;
}

static void mark_dirty(struct conn *c) {
    if (c->dirty) return;
    c->dirty = true;
    dirty_list[ndirty++] = c;
}

/* Writes as much pending output as the socket takes; waits for EPOLLOUT otherwise. */
static void flush(struct conn *c) {
    struct outbuf *b = &c->out;
    while (b->start < b->end) {
        ssize_t n = write(c->fd, b->data + b->start, b->end - b->start);
        if (n > 0) {
            b->start += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            break;
        } else {
            char name[32];
            die("write to broker failed (%s): %s", conn_name(c, name, sizeof name), strerror(errno));
        }
    }
    set_epoll_events(c, outbuf_pending(b) ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static int port_of(const struct conn *c) { return c->role == SUBSCRIBER && cfg.sub_port ? cfg.sub_port : cfg.port; }

static void open_connection(struct conn *c) {
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port_of(c)) };
    if (inet_pton(AF_INET, cfg.host, &addr.sin_addr) != 1) die("bad --host %s (IPv4 address expected)", cfg.host);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        die("cannot connect to %s:%d: %s", cfg.host, port_of(c), strerror(errno));
    c->state = CONNECTING;
    c->epoll_events = EPOLLOUT;
    struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
}

static void finish_connect(struct conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err) die("cannot connect to %s:%d: %s", cfg.host, port_of(c), strerror(err));
    c->state = AWAIT_CONNACK;
    queue_connect(c);
    flush(c);
}

/* ---------- publishing ---------- */

static bool publishing(void) { return phase == WARMUP || phase == MEASURE; }

/* Messages this publisher sent that its slowest subscriber has not received yet. */
static uint32_t undelivered(const struct conn *pub) {
    uint32_t oldest = pub->next_seq;
    for (int i = 0; i < pub->nroutes; i++)
        if (pub->routes[i]->next_expected < oldest) oldest = pub->routes[i]->next_expected;
    return pub->next_seq - oldest;
}

static uint32_t window_used(const struct conn *pub) {
    uint32_t in_flight = undelivered(pub);
    if (cfg.qos) {
        uint32_t unacked = (uint32_t)(pub->next_seq - pub->acked);
        if (unacked > in_flight) in_flight = unacked;
    }
    return in_flight;
}

static void publish_up_to_window(struct conn *pub) {
    if (!publishing() || cfg.scenario == LATENCY || cfg.pub_rate) return;
    int64_t t = now_ns();
    for (uint32_t n = window_used(pub); n < (uint32_t)cfg.inflight; n++) {
        if (outbuf_pending(&pub->out) >= OUT_HIGH_WATER || pub->next_seq >= MAX_SEQ) break;
        queue_publish(pub, t);
    }
}

#define PACE_TICKS_PER_S 1000
static double pace_credit;
static int pace_next;
static uint64_t pace_skipped, pace_skipped_at_window_start, pace_skipped_at_window_end;

/* --pub-rate: this tick's share of publishes, from the publishers in turn. */
static void on_pace_tick(uint64_t expirations) {
    if (expirations > 8) expirations = 8;
    pace_credit += (double)expirations * cfg.pub_rate / PACE_TICKS_PER_S;
    int64_t t = now_ns();
    while (pace_credit >= 1) {
        pace_credit -= 1;
        struct conn *pub = &pubs[pace_next];
        pace_next = (pace_next + 1) % npubs;
        if (window_used(pub) >= (uint32_t)cfg.inflight || outbuf_pending(&pub->out) >= OUT_HIGH_WATER || pub->next_seq >= MAX_SEQ) {
            pace_skipped++;
            continue;
        }
        queue_publish(pub, t);
        mark_dirty(pub);
    }
}

static void on_timer(void) {
    uint64_t expirations = 0;
    if (read(timer_fd, &expirations, sizeof expirations) != sizeof expirations) return;
    if (!publishing()) return;
    if (cfg.scenario != LATENCY) { on_pace_tick(expirations); return; }
    /* If the loop fell behind, catch up, but never burst more than a few ticks. */
    if (expirations > 8) expirations = 8;
    struct conn *pub = &pubs[0];
    for (uint64_t i = 0; i < expirations && pub->next_seq < MAX_SEQ; i++)
        queue_publish(pub, now_ns());
    flush(pub);
}

static void start_rate_timer(int ticks_per_s) {
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd < 0) die("timerfd_create: %s", strerror(errno));
    long interval = (long)(NS_PER_S / ticks_per_s);
    struct itimerspec spec = {
        .it_interval = { .tv_sec = interval / NS_PER_S, .tv_nsec = interval % NS_PER_S },
        .it_value = { .tv_sec = interval / NS_PER_S, .tv_nsec = interval % NS_PER_S },
    };
    if (timerfd_settime(timer_fd, 0, &spec, NULL) < 0) die("timerfd_settime: %s", strerror(errno));
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = TIMER_TOKEN };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
}

/* ---------- incoming packets ---------- */

/* Room (touched, so no page faults later) for every sample the window should bring, plus slack:
 * growing a large array mid-window would copy it and stall this loop, showing up as latency. */
static void reserve_latency(void) {
    latency_cap = (size_t)((double)cfg.rate * (cfg.duration_s + 1) * 1.25) + 65536;
    latency_ns = xrealloc(latency_ns, latency_cap * sizeof *latency_ns);
    latency_at_us = xrealloc(latency_at_us, latency_cap * sizeof *latency_at_us);
    memset(latency_ns, 0, latency_cap * sizeof *latency_ns);
    memset(latency_at_us, 0, latency_cap * sizeof *latency_at_us);
}

static int nwindows(void) {
    if (!cfg.window_ms) return 0;
    int64_t window_ns = (int64_t)cfg.window_ms * 1000000LL;
    return (int)((seconds_to_ns(cfg.duration_s) + window_ns - 1) / window_ns);
}

static void record_latency(int64_t ns, int64_t received_ns) {
    if (nlatency == latency_cap) {
        latency_cap *= 2;
        latency_ns = xrealloc(latency_ns, latency_cap * sizeof *latency_ns);
        latency_at_us = xrealloc(latency_at_us, latency_cap * sizeof *latency_at_us);
    }
    int64_t at_us = (received_ns - window_start_ns) / 1000;
    latency_at_us[nlatency] = (uint32_t)(at_us < 0 ? 0 : at_us > UINT32_MAX ? UINT32_MAX : at_us);
    latency_ns[nlatency++] = ns > 0 ? (uint64_t)ns : 0;
}

static void on_delivery(struct conn *sub, const uint8_t *payload, size_t len, int64_t received_ns) {
    uint32_t publisher, seq;
    int64_t sent_ns;
    if (len != PAYLOAD_LEN) { unexpected++; return; }
    memcpy(&publisher, payload, 4);
    memcpy(&seq, payload + 4, 4);
    memcpy(&sent_ns, payload + 8, 8);
    if (publisher >= (uint32_t)npubs || seq >= MAX_SEQ) { unexpected++; return; }
    struct stream *st = &streams[publisher * nsubs + sub->index];
    if (!st->routed) { unexpected++; return; }
    if (bitmap_test_and_set(&st->seen, seq)) { duplicates++; return; }
    st->delivered++;
    total_delivered++;
    if (seq >= st->next_expected) st->next_expected = seq + 1;
    mark_dirty(&pubs[publisher]);
    if (cfg.scenario == LATENCY && phase == MEASURE) record_latency(received_ns - sent_ns, received_ns);
}

static void on_puback(struct conn *pub, uint16_t packet_id) {
    /* The acked message is the most recent one sent with this packet id. */
    if (pub->next_seq == 0) { unexpected++; return; }
    uint32_t last = pub->next_seq - 1;
    uint32_t back = (last % 65535 + 65535 - (uint32_t)(packet_id - 1)) % 65535;
    if (packet_id == 0 || back > last) { unexpected++; return; }
    if (bitmap_test_and_set(&pub->acked_seqs, last - back)) { duplicates++; return; }
    pub->acked++;
    mark_dirty(pub);
}

static void on_publish(struct conn *c, uint8_t flags, const uint8_t *body, size_t len, int64_t received_ns) {
    int qos = (flags >> 1) & 3;
    if (c->role != SUBSCRIBER || len < 2) die("unexpected PUBLISH from broker");
    size_t topic_len = (size_t)body[0] << 8 | body[1];
    size_t header = 2 + topic_len + (qos ? 2 : 0);
    if (header > len) die("malformed PUBLISH from broker");
    if (qos == 1) {
        queue_puback(c, (uint16_t)(body[header - 2] << 8 | body[header - 1]));
        mark_dirty(c);
    } else if (qos == 2) {
        die("broker sent a QoS 2 PUBLISH; only QoS 0/1 are used");
    }
    on_delivery(c, body + header, len - header, received_ns);
}

static struct conn **open_order;
static int nopen_order, next_open;
static int64_t open_at;   /* --sequential: when to open the next connection, 0 = not due */
#define SEQUENTIAL_GAP_NS (5 * 1000000LL)

/* Opens the next connection in order: all of them at once, or (--sequential) one. */
static void open_next(void) {
    while (next_open < nopen_order) {
        open_connection(open_order[next_open++]);
        if (cfg.sequential) break;
    }
}

static void on_packet(struct conn *c, uint8_t first_byte, const uint8_t *body, size_t len, int64_t received_ns) {
    char name[32];
    switch (first_byte >> 4) {
    case 2: /* CONNACK */
        if (c->state != AWAIT_CONNACK || len < 2) die("unexpected CONNACK");
        if (body[1] != 0) die("broker refused %s: CONNACK return code %d", conn_name(c, name, sizeof name), body[1]);
        /* A moment after the CONNACK: the balancer has seen the worker take this one by then. */
        if (cfg.sequential) open_at = received_ns + SEQUENTIAL_GAP_NS;
        if (c->role == SUBSCRIBER) {
            c->state = AWAIT_SUBACK;
            queue_subscribe(c);
            mark_dirty(c);
        } else {
            c->state = READY;
        }
        break;
    case 9: /* SUBACK */
        if (c->state != AWAIT_SUBACK || len < 3) die("unexpected SUBACK");
        if (body[2] == 0x80) die("broker refused subscription to %s", c->topic);
        c->state = READY;
        break;
    case 3:
        on_publish(c, first_byte & 0x0f, body, len, received_ns);
        break;
    case 4: /* PUBACK */
        if (c->role != PUBLISHER || len < 2) die("unexpected PUBACK");
        on_puback(c, (uint16_t)(body[0] << 8 | body[1]));
        break;
    case 13: /* PINGRESP */
        break;
    default:
        die("unexpected packet type %d from broker (%s)", first_byte >> 4, conn_name(c, name, sizeof name));
    }
}

/* Decodes the remaining-length varint at p; returns its byte count, 0 if incomplete. */
static size_t decode_remaining_length(const uint8_t *p, size_t avail, size_t *value) {
    size_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= avail) return 0;
        v |= (size_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *value = v;
            return i + 1;
        }
    }
    die("malformed remaining length from broker");
    return 0;
}

static void parse_packets(struct conn *c, int64_t received_ns) {
    size_t pos = 0;
    while (c->in_len - pos >= 2) {
        size_t remaining;
        size_t varint = decode_remaining_length(c->in + pos + 1, c->in_len - pos - 1, &remaining);
        if (varint == 0) break;
        size_t total = 1 + varint + remaining;
        if (total > IN_BUF_LEN) die("packet of %zu bytes from broker exceeds buffer", total);
        if (c->in_len - pos < total) break;
        on_packet(c, c->in[pos], c->in + pos + 1 + varint, remaining, received_ns);
        pos += total;
    }
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
}

static void on_readable(struct conn *c) {
    char name[32];
    ssize_t n = read(c->fd, c->in + c->in_len, IN_BUF_LEN - c->in_len);
    if (n == 0) die("broker closed the connection of %s", conn_name(c, name, sizeof name));
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        die("read from broker failed (%s): %s", conn_name(c, name, sizeof name), strerror(errno));
    }
    c->in_len += (size_t)n;
    last_receive_ns = now_ns();
    parse_packets(c, last_receive_ns);
}

static void on_event(const struct epoll_event *ev) {
    if (ev->data.u64 == TIMER_TOKEN) { on_timer(); return; }
    struct conn *c = ev->data.ptr;
    if (c->state == CONNECTING) { finish_connect(c); return; }
    if (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
    if (ev->events & EPOLLOUT) flush(c);
}

/* ---------- phases ---------- */

static struct counters snapshot(void) {
    struct counters s = { .delivered = total_delivered };
    for (int i = 0; i < npubs; i++) s.published += pubs[i].next_seq;
    return s;
}

static bool all_ready(int *connected, int *subscribed) {
    *connected = *subscribed = 0;
    for (int i = 0; i < npubs; i++) *connected += pubs[i].state == READY;
    for (int i = 0; i < nsubs; i++) {
        *connected += subs[i].state >= AWAIT_SUBACK;
        *subscribed += subs[i].state == READY;
    }
    return *connected == npubs + nsubs && *subscribed == nsubs;
}

static bool everything_delivered(void) {
    for (int p = 0; p < npubs; p++) {
        if (cfg.qos && pubs[p].acked != pubs[p].next_seq) return false;
        for (int r = 0; r < pubs[p].nroutes; r++)
            if (pubs[p].routes[r]->delivered != pubs[p].next_seq) return false;
    }
    return true;
}

static struct counters window_start, window_end;
static int64_t window_end_ns, drain_end_ns;
static bool drain_cut_off;      /* deliveries were still arriving when --drain expired */

static void enter_phase(enum phase next, int64_t now) {
    phase = next;
    switch (next) {
    case WARMUP:
        phase_deadline = now + seconds_to_ns(cfg.warmup_s);
        if (cfg.scenario == LATENCY) {
            reserve_latency();
            start_rate_timer(cfg.rate);
        }
        else if (cfg.pub_rate) start_rate_timer(PACE_TICKS_PER_S);
        for (int i = 0; i < npubs; i++) mark_dirty(&pubs[i]);
        break;
    case MEASURE:
        phase_deadline = now + seconds_to_ns(cfg.duration_s);
        window_start = snapshot();
        window_start_ns = now;
        pace_skipped_at_window_start = pace_skipped;
        fputs("window-begin\n", stderr);
        break;
    case DRAIN:
        phase_deadline = now + seconds_to_ns(cfg.drain_s);
        window_end = snapshot();
        window_end_ns = now;
        pace_skipped_at_window_end = pace_skipped;
        fputs("window-end\n", stderr);
        last_receive_ns = now;
        break;
    case DONE:
        drain_end_ns = now;
        break;
    default:
        break;
    }
}

static void advance_phase(int64_t now) {
    int connected, subscribed;
    switch (phase) {
    case SETUP:
        if (all_ready(&connected, &subscribed)) enter_phase(WARMUP, now);
        else if (now >= phase_deadline)
            die("broker at %s:%d did not confirm clients within %.0f s "
                "(%d/%d connections acknowledged, %d/%d subscriptions confirmed)",
                cfg.host, cfg.port, cfg.setup_timeout_s, connected, npubs + nsubs, subscribed, nsubs);
        break;
    case WARMUP:
        if (now >= phase_deadline) enter_phase(MEASURE, now);
        break;
    case MEASURE:
        if (now >= phase_deadline) enter_phase(DRAIN, now);
        break;
    case DRAIN:
        if (everything_delivered() || now - last_receive_ns >= DRAIN_IDLE_NS) {
            enter_phase(DONE, now);
        } else if (now >= phase_deadline) {
            drain_cut_off = true;
            enter_phase(DONE, now);
        }
        break;
    case DONE:
        break;
    }
}

static void flush_dirty(void) {
    for (int i = 0; i < ndirty; i++) {
        struct conn *c = dirty_list[i];
        c->dirty = false;
        if (c->role == PUBLISHER) publish_up_to_window(c);
        if (c->state != CONNECTING) flush(c);
    }
    ndirty = 0;
}

static void run_event_loop(void) {
    struct epoll_event events[MAX_EVENTS];
    int64_t start = now_ns();
    int64_t hard_deadline = start + seconds_to_ns(cfg.setup_timeout_s + cfg.warmup_s + cfg.duration_s + cfg.drain_s + 5);
    phase_deadline = start + seconds_to_ns(cfg.setup_timeout_s);
    while (phase != DONE) {
        int64_t now = now_ns();
        if (now > hard_deadline) die("run did not finish in time");
        advance_phase(now);
        if (phase == DONE) break;
        if (open_at && now >= open_at) { open_at = 0; open_next(); }
        flush_dirty();
        int timeout_ms = (int)((phase_deadline - now) / 1000000);
        if (timeout_ms < 0) timeout_ms = 0;
        if (timeout_ms > 10) timeout_ms = 10;
        if (open_at && timeout_ms > 1) timeout_ms = 1;
        int n = epoll_wait(epfd, events, MAX_EVENTS, timeout_ms);
        if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) on_event(&events[i]);
        flush_dirty();
    }
}

/* ---------- setup ---------- */

static bool routed(int pub, int sub) { return cfg.scenario != PAIRS || pub == sub; }

static void init_conns(struct conn *conns, int n, enum role role) {
    for (int i = 0; i < n; i++) {
        struct conn *c = &conns[i];
        c->index = i;
        c->role = role;
        c->fd = -1;
    }
}

static void set_topics(void) {
    for (int i = 0; i < npubs; i++) {
        struct conn *c = &pubs[i];
        switch (cfg.scenario) {
        case FANIN: snprintf(c->topic, sizeof c->topic, "bench/in/%d", i); break;
        case FANOUT: snprintf(c->topic, sizeof c->topic, "bench/out"); break;
        case PAIRS: snprintf(c->topic, sizeof c->topic, "bench/pair/%d", i); break;
        case LATENCY: snprintf(c->topic, sizeof c->topic, "bench/latency"); break;
        }
    }
    for (int i = 0; i < nsubs; i++) {
        struct conn *c = &subs[i];
        switch (cfg.scenario) {
        case FANIN: snprintf(c->topic, sizeof c->topic, "bench/in/+"); break;
        case FANOUT: snprintf(c->topic, sizeof c->topic, cfg.wildcard ? "bench/+" : "bench/out"); break;
        case PAIRS: snprintf(c->topic, sizeof c->topic, "bench/pair/%d", i); break;
        case LATENCY: snprintf(c->topic, sizeof c->topic, "bench/latency"); break;
        }
    }
}

static void setup(void) {
    int n = cfg.clients;
    switch (cfg.scenario) {
    case FANIN: npubs = n; nsubs = 1; break;
    case FANOUT: npubs = 1; nsubs = n; break;
    case PAIRS: npubs = n; nsubs = n; break;
    case LATENCY: npubs = 1; nsubs = 1; break;
    }
    pubs = calloc((size_t)npubs, sizeof *pubs);
    subs = calloc((size_t)nsubs, sizeof *subs);
    streams = calloc((size_t)npubs * (size_t)nsubs, sizeof *streams);
    dirty_list = calloc((size_t)(npubs + nsubs), sizeof *dirty_list);
    if (!pubs || !subs || !streams || !dirty_list) die("out of memory");
    init_conns(pubs, npubs, PUBLISHER);
    init_conns(subs, nsubs, SUBSCRIBER);
    set_topics();
    for (int p = 0; p < npubs; p++) {
        pubs[p].routes = calloc((size_t)nsubs, sizeof *pubs[p].routes);
        if (!pubs[p].routes) die("out of memory");
        for (int s = 0; s < nsubs; s++) {
            if (!routed(p, s)) continue;
            streams[p * nsubs + s].routed = true;
            pubs[p].routes[pubs[p].nroutes++] = &streams[p * nsubs + s];
        }
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) die("epoll_create1: %s", strerror(errno));
    open_order = calloc((size_t)(npubs + nsubs), sizeof *open_order);
    if (!open_order) die("out of memory");
    if (cfg.interleave) {
        for (int b = 0; b < nsubs || b < npubs; b += cfg.interleave) {
            for (int i = b; i < b + cfg.interleave && i < nsubs; i++) open_order[nopen_order++] = &subs[i];
            for (int i = b; i < b + cfg.interleave && i < npubs; i++) open_order[nopen_order++] = &pubs[i];
        }
    } else {
        for (int i = 0; i < nsubs; i++) open_order[nopen_order++] = &subs[i];
        for (int i = 0; i < npubs; i++) open_order[nopen_order++] = &pubs[i];
    }
    open_next();
}

/* ---------- results ---------- */

static int compare_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The p-quantile (nearest rank) of n sorted samples. */
static double percentile_us(const uint64_t *sorted, size_t n, double p) {
    if (n == 0) return 0;
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    return (double)sorted[rank - 1] / 1000.0;
}

/* A sample read just after the deadline, before the phase moved on, counts in the last window. */
static int window_of(uint32_t at_us) {
    int w = (int)(at_us / ((uint32_t)cfg.window_ms * 1000u));
    return w < nwindows() ? w : nwindows() - 1;
}

static void print_percentiles(const uint64_t *sorted, size_t n) {
    printf("\"samples\":%zu,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f", n,
           percentile_us(sorted, n, 0.50), percentile_us(sorted, n, 0.99), percentile_us(sorted, n, 0.999),
           percentile_us(sorted, n, 1.0));
}

/* --window-ms: the percentiles of each window, in order, and when (ms into the measuring window) its
 * slowest message arrived; before the totals sort the samples. */
static void print_windows(void) {
    int n = nwindows();
    uint64_t *scratch = xrealloc(NULL, (nlatency ? nlatency : 1) * sizeof *scratch);
    printf(",\"window_ms\":%d,\"windows\":[", cfg.window_ms);
    for (int w = 0; w < n; w++) {
        size_t count = 0;
        uint64_t slowest = 0;
        uint32_t slowest_at_us = 0;
        for (size_t i = 0; i < nlatency; i++) {
            if (window_of(latency_at_us[i]) != w) continue;
            scratch[count++] = latency_ns[i];
            if (latency_ns[i] >= slowest) { slowest = latency_ns[i]; slowest_at_us = latency_at_us[i]; }
        }
        qsort(scratch, count, sizeof *scratch, compare_u64);
        printf("%s{", w ? "," : "");
        print_percentiles(scratch, count);
        printf(",\"max_at_ms\":%.1f}", slowest_at_us / 1000.0);
    }
    printf("]");
    free(scratch);
}

/* Messages each subscriber should have received but did not; for QoS 1 only acked ones count. */
static void count_missing(uint64_t *undelivered_out, uint64_t *lost_out) {
    uint64_t undelivered_total = 0, lost = 0;
    for (int p = 0; p < npubs; p++) {
        struct conn *pub = &pubs[p];
        for (int r = 0; r < pub->nroutes; r++) {
            const struct stream *st = pub->routes[r];
            undelivered_total += pub->next_seq - st->delivered;
            if (!cfg.qos) continue;
            for (uint32_t seq = 0; seq < pub->next_seq; seq++)
                if (bitmap_test(&pub->acked_seqs, seq) && !bitmap_test(&st->seen, seq)) lost++;
        }
    }
    *undelivered_out = undelivered_total;
    *lost_out = lost;
}

static const char *scenario_name(enum scenario s) {
    static const char *names[] = { "fanin", "fanout", "pairs", "latency" };
    return names[s];
}

static void print_results(void) {
    double window_s = (double)(window_end_ns - window_start_ns) / NS_PER_S;
    double published_per_s = (double)(window_end.published - window_start.published) / window_s;
    double delivered_per_s = (double)(window_end.delivered - window_start.delivered) / window_s;
    uint64_t sent = 0, acked = 0, undelivered_total, lost;
    for (int i = 0; i < npubs; i++) {
        sent += pubs[i].next_seq;
        acked += pubs[i].acked;
    }
    count_missing(&undelivered_total, &lost);
    printf("{\"scenario\":\"%s\",\"qos\":%d,\"publishers\":%d,\"subscribers\":%d,\"payload_bytes\":%d,"
           "\"inflight\":%d,\"duration_s\":%.3f,\"published_per_s\":%.0f,\"delivered_per_s\":%.0f,"
           "\"sent\":%llu,\"undelivered\":%llu,",
           scenario_name(cfg.scenario), cfg.qos, npubs, nsubs, PAYLOAD_LEN, cfg.inflight, window_s,
           published_per_s, delivered_per_s, (unsigned long long)sent, (unsigned long long)undelivered_total);
    if (cfg.qos)
        printf("\"lost\":%llu,\"unacked\":%llu,", (unsigned long long)lost, (unsigned long long)(sent - acked));
    else
        printf("\"lost\":null,\"unacked\":null,");
    printf("\"duplicates\":%llu,\"unexpected\":%llu,\"drain_s\":%.3f,\"drain_cut_off\":%s",
           (unsigned long long)duplicates, (unsigned long long)unexpected,
           (double)(drain_end_ns - window_end_ns) / NS_PER_S, drain_cut_off ? "true" : "false");
    if (cfg.pub_rate)
        printf(",\"pub_rate\":%d,\"rate_skipped\":%llu", cfg.pub_rate,
               (unsigned long long)(pace_skipped_at_window_end - pace_skipped_at_window_start));
    if (cfg.scenario == LATENCY) {
        if (cfg.window_ms) print_windows();
        qsort(latency_ns, nlatency, sizeof *latency_ns, compare_u64);
        printf(",\"rate\":%d,", cfg.rate);
        print_percentiles(latency_ns, nlatency);
    }
    printf("}\n");
}

/* ---------- command line ---------- */

static void usage(void) {
    fputs("usage: loadgen --port N [--sub-port N] [--host 127.0.0.1] [--scenario fanin|fanout|pairs|latency]\n"
          "               [--qos 0|1] [--clients N] [--inflight 300] [--rate 5000] [--pub-rate N] [--interleave K] [--sequential]\n"
          "               [--warmup 1] [--duration 4] [--drain 10] [--setup-timeout 5] [--persistent] [--wildcard]\n"
          "               [--window-ms N]\n"
          "  --window-ms: latency percentiles also for each consecutive N ms of the measuring window\n"
          "  --sub-port: subscribers connect to this port (another node of a cluster), publishers to --port\n"
          "  --persistent: subscribers keep their sessions (clean session = 0)\n"
          "  --wildcard: fanout subscribers subscribe to bench/+ instead of bench/out\n"
          "  --clients: publishers (fanin, default 100), subscribers (fanout, default 100),\n"
          "             pairs (pairs, default 50); ignored for latency (1 -> 1, QoS 0)\n", stderr);
    exit(2);
}

static double parse_positive(const char *flag, const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v > 0)) die("%s expects a positive number, got '%s'", flag, s);
    return v;
}

static enum scenario parse_scenario(const char *s) {
    for (int i = FANIN; i <= LATENCY; i++)
        if (strcmp(s, scenario_name(i)) == 0) return i;
    die("unknown scenario '%s'", s);
    return FANIN;
}

static void parse_args(int argc, char **argv) {
    static const struct option options[] = {
        { "host", required_argument, 0, 'h' },     { "port", required_argument, 0, 'p' },
        { "scenario", required_argument, 0, 's' }, { "qos", required_argument, 0, 'q' },
        { "clients", required_argument, 0, 'c' },  { "inflight", required_argument, 0, 'i' },
        { "rate", required_argument, 0, 'r' },     { "warmup", required_argument, 0, 'w' },
        { "duration", required_argument, 0, 'd' }, { "drain", required_argument, 0, 'D' },
        { "setup-timeout", required_argument, 0, 't' }, { "persistent", no_argument, 0, 'P' },
        { "sub-port", required_argument, 0, 'S' }, { "wildcard", no_argument, 0, 'W' },
        { "pub-rate", required_argument, 0, 'R' }, { "interleave", required_argument, 0, 'I' },
        { "sequential", no_argument, 0, 'Q' },     { "window-ms", required_argument, 0, 'M' },
        { 0, 0, 0, 0 },
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'h': cfg.host = optarg; break;
        case 'p': cfg.port = (int)parse_positive("--port", optarg); break;
        case 's': cfg.scenario = parse_scenario(optarg); break;
        case 'q': cfg.qos = atoi(optarg); break;
        case 'c': cfg.clients = (int)parse_positive("--clients", optarg); break;
        case 'i': cfg.inflight = (int)parse_positive("--inflight", optarg); break;
        case 'r': cfg.rate = (int)parse_positive("--rate", optarg); break;
        case 'R': cfg.pub_rate = (int)parse_positive("--pub-rate", optarg); break;
        case 'I': cfg.interleave = (int)parse_positive("--interleave", optarg); break;
        case 'Q': cfg.sequential = 1; break;
        case 'M': cfg.window_ms = (int)parse_positive("--window-ms", optarg); break;
        case 'w': cfg.warmup_s = parse_positive("--warmup", optarg); break;
        case 'd': cfg.duration_s = parse_positive("--duration", optarg); break;
        case 'D': cfg.drain_s = parse_positive("--drain", optarg); break;
        case 't': cfg.setup_timeout_s = parse_positive("--setup-timeout", optarg); break;
        case 'P': cfg.persistent = 1; break;
        case 'W': cfg.wildcard = 1; break;
        case 'S': cfg.sub_port = (int)parse_positive("--sub-port", optarg); break;
        default: usage();
        }
    }
    if (optind != argc || cfg.port <= 0 || cfg.port > 65535 || cfg.sub_port < 0 || cfg.sub_port > 65535) usage();
    if (cfg.qos != 0 && cfg.qos != 1) die("--qos must be 0 or 1");
    if (cfg.inflight > 30000) die("--inflight must be at most 30000 (packet ids must stay unique)");
    if (cfg.rate > 1000000) die("--rate must be at most 1000000");
    if (cfg.scenario == LATENCY) cfg.qos = 0;
    if (cfg.window_ms && cfg.scenario != LATENCY) die("--window-ms applies to the latency scenario only");
    if (cfg.window_ms && nwindows() > 10000) die("--window-ms: at most 10000 windows");
    if (cfg.clients < 0) cfg.clients = cfg.scenario == PAIRS ? 50 : 100;
    if (cfg.clients > 10000) die("--clients must be at most 10000");
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    setup();
    run_event_loop();
    print_results();
    return 0;
}
