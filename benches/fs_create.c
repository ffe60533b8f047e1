// What creating small files costs the file system itself, by the three ways a checkout can
// create one (benches/fs-create.sh runs it; README "fs-create.sh"):
//   tmpfile: open(O_TMPFILE) in the folder, write, linkat(/proc/self/fd/N) to its name
//   rename:  open(O_CREAT|O_EXCL) of a temporary name, write, rename to its name
//   direct:  open(O_CREAT|O_EXCL) of its name, write (not atomic: the floor)
// N files of 200-2,048 bytes in round(sqrt(N)) folders, folder by folder and names in byte
// order (as checkout writes them). Prints "<mode> <N> <seconds>"; the time ends when the last
// file is closed (like `dvx pull`, no sync); a syncfs follows, untimed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what, const char *name) {
    fprintf(stderr, "fs_create: %s %s: %s\n", what, name, strerror(errno));
    exit(1);
}

static void write_all(int fd, const char *buf, size_t n, const char *name) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) die("write", name);
        buf += w;
        n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: fs_create <new dir> <N> tmpfile|rename|direct\n");
        return 2;
    }
    const char *root = argv[1], *mode = argv[3];
    long n = atol(argv[2]);
    int tmpfile = !strcmp(mode, "tmpfile"), rename_ = !strcmp(mode, "rename");
    if (n <= 0 || (!tmpfile && !rename_ && strcmp(mode, "direct"))) {
        fprintf(stderr, "fs_create: bad N or mode\n");
        return 2;
    }
    long dirs = lround(sqrt((double)n));
    if (dirs < 1) dirs = 1;
    static char buf[2048];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)('a' + i % 26);
    if (mkdir(root, 0755)) die("mkdir", root);
    int rfd = open(root, O_RDONLY | O_DIRECTORY);
    if (rfd < 0) die("open", root);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long d = 0; d < dirs; d++) {
        char dn[32], fn[32], tn[48], proc[48];
        snprintf(dn, sizeof dn, "d%05ld", d);
        if (mkdirat(rfd, dn, 0755)) die("mkdir", dn);
        int dfd = openat(rfd, dn, O_RDONLY | O_DIRECTORY);
        if (dfd < 0) die("open", dn);
        // Folder d holds files d, d + dirs, d + 2 dirs, ...: fixed-width names, in byte order.
        for (long i = d; i < n; i += dirs) {
            snprintf(fn, sizeof fn, "f%08ld.txt", i);
            uint64_t h = (uint64_t)i * 0x9E3779B97F4A7C15ull;
            size_t size = 200 + (size_t)((h >> 32) % 1849);
            int fd;
            if (tmpfile) {
                fd = openat(dfd, ".", O_WRONLY | O_TMPFILE | O_CLOEXEC, 0644);
                if (fd < 0) die("open O_TMPFILE in", dn);
                write_all(fd, buf, size, fn);
                snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
                if (linkat(AT_FDCWD, proc, dfd, fn, AT_SYMLINK_FOLLOW)) die("linkat", fn);
            } else if (rename_) {
                snprintf(tn, sizeof tn, ".fs-create-tmp-%ld", i);
                fd = openat(dfd, tn, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0) die("create", tn);
                write_all(fd, buf, size, tn);
                if (renameat(dfd, tn, dfd, fn)) die("rename", fn);
            } else {
                fd = openat(dfd, fn, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (fd < 0) die("create", fn);
                write_all(fd, buf, size, fn);
            }
            close(fd);
        }
        close(dfd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%s %ld %.3f\n", mode, n, (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    syncfs(rfd);
    close(rfd);
    return 0;
}
