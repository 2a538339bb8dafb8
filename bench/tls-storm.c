/*
 * tls-storm — MQTT-over-TLS connection load for bench/run.mjs.
 *
 * Single-threaded, epoll, non-blocking sockets, OpenSSL. Every connection is a
 * full TLS 1.3 handshake (no session resumption: no session is ever reused),
 * verified against --ca, then an MQTT 3.1.1 CONNECT (clean session,
 * keepalive 0) and its CONNACK. Modes:
 *
 *   storm  keep --parallel connections in flight; each one handshakes,
 *          connects, gets its CONNACK, sends DISCONNECT and close_notify and
 *          closes. --warmup connections first, then the measuring window runs
 *          until --connections were started or --duration passed and every
 *          started connection finished.
 *   idle   open --connections connections, at most --parallel handshaking at
 *          once, and keep them: the window covers opening them and --idle
 *          seconds of silence; a connection the broker closes meanwhile is no
 *          longer held.
 *
 * One client address gives one server port at most its ephemeral ports
 * (net.ipv4.ip_local_port_range). --sources N binds the sockets round-robin
 * to 127.0.0.1 ... 127.0.0.N (all of 127/8 is the loopback interface) with
 * IP_BIND_ADDRESS_NO_PORT, so the kernel picks the port per address at
 * connect; by default N is 1 up to half the range's ports and grows by one
 * per further half-range (4 for 50,000 connections with 32768-60999).
 *
 * Every connection is an open file: the generator lifts its soft limit of open
 * files to the hard one and, in idle mode, stops when that is below
 * --connections.
 *
 * "window-begin" / "window-end" lines go to stderr as the window opens and
 * closes (bench/run.mjs samples the broker's CPU time and RSS then); one JSON
 * line with the results goes to stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define TICK_MS 20
#define SETTLE_NS (200 * 1000000LL)   /* storm: let the broker finish the last closes */
#define NS_PER_S 1000000000LL
#define SPARE_FDS 64
#define MAX_SOURCES 254
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum mode { STORM, IDLE };
enum state { TCP_CONNECTING, HANDSHAKING, SENDING_CONNECT, AWAIT_CONNACK, HELD, CLOSED };

struct config {
    const char *host, *ca;
    int port, connections, parallel, warmup, sources;
    enum mode mode;
    double duration_s, idle_s, timeout_s;
};

struct conn {
    int fd;
    SSL *ssl;
    enum state state;
    uint8_t in[4];
    int inlen;
    uint8_t out[64];
    int outlen;
};

struct counts {
    long started, connacked, failed, dropped;
};

static struct config cfg = {
    .host = "127.0.0.1", .ca = NULL, .port = 0, .connections = 3000, .parallel = 16, .warmup = 100, .sources = 0,
    .mode = STORM, .duration_s = 3, .idle_s = 2, .timeout_s = 25,
};
static SSL_CTX *ctx;
static int ep;
static struct sockaddr_in addr;
static struct sockaddr_in *sources;   /* client addresses when cfg.sources > 1 */
static struct counts counts;
static long inflight;   /* started, not yet connacked or failed */
static char first_error[256];

static int64_t now_ns (void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static void die (const char *what)
{
    fprintf(stderr, "tls-storm: %s\n", what);
    exit(1);
}

static void note_error (const char *what)
{
    if (first_error[0]) return;
    unsigned long e = ERR_peek_last_error();
    if (e) snprintf(first_error, sizeof first_error, "%s: %s", what, ERR_reason_error_string(e));
    else snprintf(first_error, sizeof first_error, "%s: %s", what, errno ? strerror(errno) : "connection closed");
    for (char *p = first_error; *p; p++) if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = '\'';   /* stays valid JSON */
}

static void release (struct conn *c)
{
    if (c->ssl) SSL_free(c->ssl);
    if (c->fd >= 0) close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
    c->state = CLOSED;
}

static void fail (struct conn *c, const char *what)
{
    note_error(what);
    if (c->state == HELD) counts.dropped++;
    else { counts.failed++; inflight--; }
    release(c);
    free(c);
}

static int connect_packet (uint8_t *buf, long index)
{
    char id[32];
    int idlen = snprintf(id, sizeof id, "tls-%d-%ld", (int)getpid(), index);
    int rl = 10 + 2 + idlen;
    int n = 0;
    buf[n++] = 0x10;
    buf[n++] = (uint8_t)rl;
    memcpy(buf + n, "\x00\x04MQTT\x04\x02\x00\x00", 10);   /* 3.1.1, clean session, keepalive 0 */
    n += 10;
    buf[n++] = 0;
    buf[n++] = (uint8_t)idlen;
    memcpy(buf + n, id, idlen);
    return n + idlen;
}

static void start_one (void)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) die("out of memory");
    c->outlen = connect_packet(c->out, counts.started);
    counts.started++;
    inflight++;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { c->state = TCP_CONNECTING; fail(c, "socket"); return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = TCP_CONNECTING;
    if (sources) {
        setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in *src = &sources[(counts.started - 1) % cfg.sources];
        if (bind(c->fd, (struct sockaddr *)src, sizeof *src) < 0) { fail(c, "bind source address"); return; }
    }
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) { fail(c, "connect"); return; }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) { fail(c, "epoll_ctl"); return; }
}

/* true while the SSL call only needs the socket to become readable or writable again */
static bool would_block (struct conn *c, int r)
{
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

static void connacked (struct conn *c)
{
    counts.connacked++;
    inflight--;
    if (cfg.mode == IDLE) { c->state = HELD; return; }
    static const uint8_t disconnect[2] = { 0xe0, 0x00 };
    SSL_write(c->ssl, disconnect, sizeof disconnect);
    SSL_shutdown(c->ssl);   /* sends close_notify; the broker's reply is not waited for */
    release(c);
    free(c);
}

/* Drives one connection as far as its socket allows (edge-triggered: until it would block). */
static void step (struct conn *c)
{
    errno = 0;
    ERR_clear_error();
    if (c->state == TCP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { errno = err; fail(c, "connect"); return; }
        c->ssl = SSL_new(ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) { fail(c, "SSL_new"); return; }
        c->state = HANDSHAKING;
    }
    if (c->state == HANDSHAKING) {
        int r = SSL_connect(c->ssl);
        if (r != 1) { if (!would_block(c, r)) fail(c, "handshake"); return; }
        c->state = SENDING_CONNECT;
    }
    if (c->state == SENDING_CONNECT) {
        int r = SSL_write(c->ssl, c->out, c->outlen);
        if (r <= 0) { if (!would_block(c, r)) fail(c, "send CONNECT"); return; }
        c->state = AWAIT_CONNACK;
    }
    if (c->state == AWAIT_CONNACK) {
        for (;;) {
            int r = SSL_read(c->ssl, c->in + c->inlen, 4 - c->inlen);
            if (r <= 0) { if (!would_block(c, r)) fail(c, "await CONNACK"); return; }
            c->inlen += r;
            if (c->inlen < 4) continue;
            if (c->in[0] != 0x20 || c->in[1] != 0x02 || c->in[3] != 0x00) { fail(c, "CONNACK refused or malformed"); return; }
            connacked(c);
            return;
        }
    }
    if (c->state == HELD) {
        uint8_t sink[256];
        for (;;) {
            int r = SSL_read(c->ssl, sink, sizeof sink);
            if (r <= 0) { if (!would_block(c, r)) fail(c, "held connection closed by the broker"); return; }
        }
    }
}

static void poll_once (void)
{
    struct epoll_event events[MAX_EVENTS];
    int n = epoll_wait(ep, events, MAX_EVENTS, TICK_MS);
    for (int i = 0; i < n; i++) step(events[i].data.ptr);
}

static double seconds_since (int64_t t) { return (double)(now_ns() - t) / NS_PER_S; }

static void storm (void)
{
    int64_t deadline = now_ns() + (int64_t)(cfg.timeout_s * NS_PER_S);
    while (counts.connacked + counts.failed < cfg.warmup && now_ns() < deadline) {
        while (inflight < cfg.parallel && counts.started < cfg.warmup) start_one();
        poll_once();
    }
    while (inflight > 0 && now_ns() < deadline) poll_once();
    if (counts.failed > 0) die(first_error);

    counts = (struct counts){ 0 };
    fputs("window-begin\n", stderr);
    int64_t begin = now_ns();
    int64_t stop_starting = begin + (int64_t)(cfg.duration_s * NS_PER_S);
    deadline = begin + (int64_t)(cfg.timeout_s * NS_PER_S);
    while ((inflight > 0 || (counts.started < cfg.connections && now_ns() < stop_starting)) && now_ns() < deadline) {
        while (inflight < cfg.parallel && counts.started < cfg.connections && now_ns() < stop_starting) start_one();
        poll_once();
    }
    double elapsed = seconds_since(begin);
    while (now_ns() < begin + (int64_t)(elapsed * NS_PER_S) + SETTLE_NS) poll_once();
    fputs("window-end\n", stderr);
    printf("{\"mode\":\"storm\",\"parallel\":%d,\"sources\":%d,\"started\":%ld,\"completed\":%ld,\"failed\":%ld,\"unfinished\":%ld,"
           "\"elapsed_s\":%.3f,\"per_s\":%.1f,\"error\":\"%s\"}\n",
           cfg.parallel, cfg.sources, counts.started, counts.connacked, counts.failed, inflight,
           elapsed, counts.connacked / elapsed, first_error);
}

static void idle (void)
{
    fputs("window-begin\n", stderr);
    int64_t begin = now_ns();
    int64_t deadline = begin + (int64_t)(cfg.timeout_s * NS_PER_S);
    while ((counts.started < cfg.connections || inflight > 0) && now_ns() < deadline) {
        while (inflight < cfg.parallel && counts.started < cfg.connections) start_one();
        poll_once();
    }
    double open_s = seconds_since(begin);
    int64_t idle_end = now_ns() + (int64_t)(cfg.idle_s * NS_PER_S);
    while (now_ns() < idle_end) poll_once();
    fputs("window-end\n", stderr);
    printf("{\"mode\":\"idle\",\"parallel\":%d,\"sources\":%d,\"started\":%ld,\"connacked\":%ld,\"held\":%ld,\"failed\":%ld,"
           "\"dropped\":%ld,\"unfinished\":%ld,\"open_s\":%.3f,\"idle_s\":%.1f,\"error\":\"%s\"}\n",
           cfg.parallel, cfg.sources, counts.started, counts.connacked, counts.connacked - counts.dropped, counts.failed,
           counts.dropped, inflight, open_s, cfg.idle_s, first_error);
    fflush(stdout);
    /* Exiting closes every held connection. */
}

static void usage (void)
{
    fputs("usage: tls-storm --port P --ca FILE [--host H] [--mode storm|idle] [--connections N] [--parallel K]\n"
          "                 [--warmup N] [--duration S] [--idle S] [--timeout S] [--sources N]\n", stderr);
    exit(2);
}

static void parse_args (int argc, char **argv)
{
    static const struct option opts[] = {
        { "host", required_argument, 0, 'h' }, { "port", required_argument, 0, 'p' },
        { "ca", required_argument, 0, 'a' }, { "mode", required_argument, 0, 'm' },
        { "connections", required_argument, 0, 'n' }, { "parallel", required_argument, 0, 'k' },
        { "warmup", required_argument, 0, 'w' }, { "duration", required_argument, 0, 'd' },
        { "idle", required_argument, 0, 'i' }, { "timeout", required_argument, 0, 't' },
        { "sources", required_argument, 0, 's' },
        { 0, 0, 0, 0 },
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'h': cfg.host = optarg; break;
        case 'p': cfg.port = atoi(optarg); break;
        case 'a': cfg.ca = optarg; break;
        case 'm':
            if (!strcmp(optarg, "storm")) cfg.mode = STORM;
            else if (!strcmp(optarg, "idle")) cfg.mode = IDLE;
            else usage();
            break;
        case 'n': cfg.connections = atoi(optarg); break;
        case 'k': cfg.parallel = atoi(optarg); break;
        case 'w': cfg.warmup = atoi(optarg); break;
        case 'd': cfg.duration_s = atof(optarg); break;
        case 'i': cfg.idle_s = atof(optarg); break;
        case 't': cfg.timeout_s = atof(optarg); break;
        case 's': cfg.sources = atoi(optarg); break;
        default: usage();
        }
    }
    if (cfg.port <= 0 || !cfg.ca || cfg.connections <= 0 || cfg.parallel <= 0 || cfg.warmup < 0 || cfg.sources < 0) usage();
}

/* Room for every connection plus a margin: the soft limit goes up to the hard one. */
static void raise_fd_limit (void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) return;
    rlim_t want = (rlim_t)cfg.connections + SPARE_FDS;
    if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (cfg.mode == IDLE && rl.rlim_cur < want) {
        char msg[256];
        snprintf(msg, sizeof msg, "--connections %d needs %llu open files, the hard limit is %llu (ulimit -Hn): raise it",
                 cfg.connections, (unsigned long long)want, (unsigned long long)rl.rlim_max);
        die(msg);
    }
}

/* Ports one client address may use towards one server port, from net.ipv4.ip_local_port_range. */
static int ephemeral_ports (void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    int lo = 32768, hi = 60999;   /* the kernel's default */
    if (f) {
        if (fscanf(f, "%d %d", &lo, &hi) != 2) { lo = 32768; hi = 60999; }
        fclose(f);
    }
    return hi >= lo ? hi - lo + 1 : 1;
}

/* --sources, or by default one address per half of the ephemeral range (leaving room for TIME_WAIT). */
static void choose_sources (void)
{
    if (cfg.sources == 0) {
        int per_source = ephemeral_ports() / 2;
        if (per_source < 1) per_source = 1;
        cfg.sources = (cfg.connections + per_source - 1) / per_source;
    }
    if (cfg.sources > MAX_SOURCES) die("--sources: at most 254 addresses (127.0.0.1 ... 127.0.0.254)");
    if (cfg.sources <= 1) { cfg.sources = 1; return; }
    if ((ntohl(addr.sin_addr.s_addr) >> 24) != 127) die("several source addresses (--sources) need a loopback --host (127.0.0.0/8)");
    sources = calloc((size_t)cfg.sources, sizeof *sources);
    if (!sources) die("out of memory");
    for (int i = 0; i < cfg.sources; i++) {
        sources[i].sin_family = AF_INET;
        sources[i].sin_addr.s_addr = htonl((127u << 24) | (uint32_t)(i + 1));
    }
}

int main (int argc, char **argv)
{
    parse_args(argc, argv);
    raise_fd_limit();
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg.port);
    if (inet_pton(AF_INET, cfg.host, &addr.sin_addr) != 1) die("--host must be an IPv4 address");
    choose_sources();

    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) die("SSL_CTX_new failed");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, cfg.ca, NULL) != 1) die("cannot load --ca");

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1 failed");
    if (cfg.mode == STORM) storm();
    else idle();
    return 0;
}
