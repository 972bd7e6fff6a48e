/* probe.c -- memoscope --probe: GET one path on this machine's server. */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"

#define STATUS_OK 200
#define REQUEST_MAX (PROBE_PATH_MAX + 256) /* the path and a few short headers */
#define ANSWER_MAX 512                     /* a status line fits many times over */

/* --------------------------------------------------------------- private */

/* One side of the exchange: the address asked, for the messages. */
typedef struct target {
    struct sockaddr_storage addr;
    socklen_t len;
    char text[INET6_ADDRSTRLEN + 16]; /* "127.0.0.1:8080", "[::1]:8080" */
} target;

/* Milliseconds left until deadline (clockNow's nanoseconds), at least 0;
 * rounded up, so that poll never returns early with time left. */
static int msLeft(uint64_t deadline) {
    uint64_t now = clockNow();
    return deadline > now ? (int)((deadline - now + NS_PER_MS - 1) / NS_PER_MS) : 0;
}

/* The address to ask for a server listening on bind: the loopback of the
 * same family for a wildcard, bind itself otherwise. */
static bool targetFor(const char *bind, unsigned port, target *t) {
    memset(t, 0, sizeof(*t));
    struct sockaddr_in *in4 = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr;
    char host[INET6_ADDRSTRLEN];
    if (inet_pton(AF_INET, bind, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        if (in4->sin_addr.s_addr == htonl(INADDR_ANY))
            in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        t->len = sizeof(*in4);
        inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
        snprintf(t->text, sizeof(t->text), "%s:%u", host, port);
        return true;
    }
    if (inet_pton(AF_INET6, bind, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
            in6->sin6_addr = in6addr_loopback;
        t->len = sizeof(*in6);
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(t->text, sizeof(t->text), "[%s]:%u", host, port);
        return true;
    }
    return false;
}

/* Waits until fd is ready for events or deadline passes; false on the
 * deadline (errno ETIMEDOUT) or an error. */
static bool waitFor(int fd, short events, uint64_t deadline) {
    struct pollfd p = {.fd = fd, .events = events};
    for (;;) {
        int n = poll(&p, 1, msLeft(deadline));
        if (n > 0)
            return true;
        if (n == 0) {
            errno = ETIMEDOUT;
            return false;
        }
        if (errno != EINTR)
            return false;
    }
}

/* Connects the non-blocking fd to t by deadline. */
static bool connectBy(int fd, const target *t, uint64_t deadline) {
    if (connect(fd, (const struct sockaddr *)&t->addr, t->len) == 0)
        return true;
    if (errno != EINPROGRESS)
        return false;
    if (!waitFor(fd, POLLOUT, deadline))
        return false;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        return false;
    errno = soerr;
    return soerr == 0;
}

/* Sends all of buf by deadline. */
static bool sendBy(int fd, const char *buf, size_t len, uint64_t deadline) {
    while (len > 0) {
        if (!waitFor(fd, POLLOUT, deadline))
            return false;
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return false;
        }
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads until the status line is complete (or the peer closes, or buf is
 * full) by deadline. Returns the bytes read, -1 on error or deadline. */
static ssize_t readStatusLineBy(int fd, char *buf, size_t cap, uint64_t deadline) {
    size_t len = 0;
    while (len < cap - 1) {
        if (!waitFor(fd, POLLIN, deadline))
            return -1;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "\r\n"))
            break;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* The status of "HTTP/1.x NNN ...", or 0 when buf does not start with one. */
static int statusOf(const char *buf) {
    if (strncmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' || buf[7] > '9' || buf[8] != ' ')
        return 0;
    const char *d = buf + 9;
    for (int i = 0; i < 3; i++)
        if (d[i] < '0' || d[i] > '9')
            return 0;
    if (d[3] != ' ' && d[3] != '\r')
        return 0;
    return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
}

/* One exchange; returns the status, or 0 with why (cap bytes) saying why. */
static int ask(const target *t, const char *path, char *why, size_t cap) {
    uint64_t deadline = clockNow() + PROBE_TIMEOUT_MS * NS_PER_MS;
    int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(why, cap, "%s", strerror(errno));
        return 0;
    }
    char req[REQUEST_MAX], answer[ANSWER_MAX];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: memoscope-probe\r\n"
                     "Connection: close\r\n\r\n",
                     path, t->text);
    int status = 0;
    ssize_t got = -1;
    if (n < 0 || (size_t)n >= sizeof(req)) {
        snprintf(why, cap, "the request does not fit");
    } else if (connectBy(fd, t, deadline) && sendBy(fd, req, (size_t)n, deadline) &&
               (got = readStatusLineBy(fd, answer, sizeof(answer), deadline)) > 0) {
        status = statusOf(answer);
        if (!status)
            snprintf(why, cap, "the answer is not HTTP/1.x");
    } else if (got == 0) {
        snprintf(why, cap, "the connection closed without an answer");
    } else if (errno == ETIMEDOUT) {
        snprintf(why, cap, "no answer within %d ms", PROBE_TIMEOUT_MS);
    } else {
        snprintf(why, cap, "%s", strerror(errno));
    }
    close(fd);
    return status;
}

/* -------------------------------------------------------------------- API */

bool probePathOk(const char *path) {
    if (path[0] != '/')
        return false;
    size_t len = 0;
    for (const char *p = path; *p; p++, len++)
        if (*p <= ' ' || *p > '~' || len >= PROBE_PATH_MAX)
            return false;
    return true;
}

bool probeRun(const char *bind, unsigned port, const char *path, FILE *out, FILE *err) {
    target t;
    if (port == 0) {
        fprintf(err, "memoscope: probe: port 0 means any free port: give the server's port with "
                     "--port or MEMOSCOPE_PORT\n");
        return false;
    }
    if (!targetFor(bind, port, &t) || !probePathOk(path)) {
        fprintf(err, "memoscope: probe: cannot ask %s port %u for that path\n", bind, port);
        return false;
    }
    char why[128];
    int status = ask(&t, path, why, sizeof(why));
    if (status == STATUS_OK) {
        fprintf(out, "memoscope: probe GET http://%s%s: %d\n", t.text, path, status);
        return true;
    }
    if (status)
        fprintf(err, "memoscope: probe GET http://%s%s: %d, not %d\n", t.text, path, status,
                STATUS_OK);
    else
        fprintf(err, "memoscope: probe GET http://%s%s: %s\n", t.text, path, why);
    return false;
}
