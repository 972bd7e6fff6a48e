/* memo_hash.c -- SipHash-1-3 under a per-process random key.
 *
 * SipHash (Aumasson and Bernstein, 2012) with one compression round per word
 * and three finalisation rounds, as CPython hashes str and bytes since 3.11
 * (Python/pyhash.c): with the same 16-byte key it gives the same 64-bit value
 * as CPython's hash(b"...") (tests/unit/test_memo.c checks it against a value
 * CPython printed with PYTHONHASHSEED=0, whose key is all zero bytes). The key
 * is drawn once per process from getrandom(), so that which keys share a
 * bucket cannot be known from outside: no hash flooding.
 */
#include "memo.h"
#include "memo_int.h"

#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ types */

static unsigned char process_key[16];
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;

/* ---------------------------------------------------------------- private */

/* Fills the process key from getrandom(); should the kernel have none to
 * give (no getrandom, or a sandbox), from /dev/urandom; failing both, from
 * the clock and addresses, which is weak but still differs per process. */
static void memo__drawKey(void) {
    size_t got = 0;
    while (got < sizeof(process_key)) {
        ssize_t n = getrandom(process_key + got, sizeof(process_key) - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == sizeof(process_key))
        return;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, process_key, sizeof(process_key));
        close(fd);
        if (n == (ssize_t)sizeof(process_key))
            return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t a = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)getpid();
    uint64_t b = (uint64_t)(uintptr_t)&ts ^ (uint64_t)(uintptr_t)&memo__drawKey;
    memcpy(process_key, &a, sizeof(a));
    memcpy(process_key + 8, &b, sizeof(b));
}

/* ------------------------------------------------------------ module API */

void memo__hashKey(unsigned char key[16]) {
    pthread_once(&process_key_once, memo__drawKey);
    memcpy(key, process_key, sizeof(process_key));
}

/* -------------------------------------------------------------------- API */

uint64_t memoHashBytes(const void *data, size_t len) {
    pthread_once(&process_key_once, memo__drawKey);
    return memo__sip13(process_key, data, len);
}

uint64_t memoHashBytesKeyed(const unsigned char key[16], const void *data, size_t len) {
    return memo__sip13(key, data, len);
}
