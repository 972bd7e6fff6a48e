/* replay.c -- a main() for a libFuzzer target without libFuzzer.
 *
 * Runs LLVMFuzzerTestOneInput once on every file named on the command line,
 * or on every regular file of a directory named there (sorted by name, so a
 * failure is easy to reproduce). This is how CTest replays the seed corpus
 * and the regression inputs in every build, with any compiler: a target that
 * breaks one of its rules aborts, and the test fails. Exits 1 when a file
 * cannot be read or when nothing at all was replayed, so that an empty or
 * misnamed corpus does not pass quietly.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Replays one file, read into a buffer of exactly its size (so that ASan
 * sees any read past the input). Returns 0, or -1 when it cannot be read. */
static int _replayFile(const char *path) {
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        perror(path);
        if (f)
            fclose(f);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    bool ok = buf && fread(buf, 1, len, f) == len;
    fclose(f);
    if (!ok) {
        fprintf(stderr, "%s: cannot read it\n", path);
        free(buf);
        return -1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

static int _byName(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replays every regular file of dir; returns how many, or -1 on error. */
static long _replayDir(const char *dir) {
    struct dirent **names;
    int n = scandir(dir, &names, NULL, _byName);
    if (n < 0) {
        perror(dir);
        return -1;
    }
    long done = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (done >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            done = _replayFile(path) == 0 ? done + 1 : -1;
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv) {
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        long n = S_ISDIR(st.st_mode) ? _replayDir(argv[i]) : _replayFile(argv[i]) == 0 ? 1 : -1;
        if (n < 0)
            return 1;
        printf("%s: %ld inputs replayed\n", argv[i], n);
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "usage: %s FILE_OR_DIR... (nothing was replayed)\n", argv[0]);
        return 1;
    }
    printf("%ld inputs replayed, all rules held\n", total);
    return 0;
}
