/*
 * The benchmark's syscall storm.
 *
 *   storm FLAG_FILE MODE N [CPU]
 *
 * MODE getppid: N x syscall(SYS_getppid).
 * MODE getppid@R: the same at R calls a second: blocks of 1000 calls, each
 *           started on schedule (the wait spins, making no syscalls).
 * MODE mix: N x (8-byte write and read on a pipe, openat + close of a file,
 *           stat), five calls per iteration.
 *
 * Prints "ready <pid>", spins without syscalls until byte 0 of FLAG_FILE (a
 * shared mapping) is 1, runs the storm timed with the vDSO clock (no
 * syscall), prints "done <ns> <calls>", spins until the byte is 2, exits.
 * Between "go" and the exit it makes exactly <calls> + 1 syscalls (the +1 is
 * the write of "done"). With CPU it pins itself to that CPU first.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 4)
        return 2;
    if (argc > 4) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(atoi(argv[4]), &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    int ffd = open(argv[1], O_RDONLY);
    volatile unsigned char *flag = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ffd, 0);
    if (flag == MAP_FAILED)
        return 2;
    int mix = strcmp(argv[2], "mix") == 0;
    const char *at = strchr(argv[2], '@');
    long rate = at ? atol(at + 1) : 0;
    long n = atol(argv[3]);
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 2;
    char path[64], buf[8] = "12345678";
    snprintf(path, sizeof path, "/tmp/strace-api-storm-%d", getpid());
    close(open(path, O_CREAT | O_WRONLY, 0600));
    struct stat st;

    char line[64];
    int len = snprintf(line, sizeof line, "ready %d\n", getpid());
    write(1, line, len);
    while (flag[0] != 1)
        __builtin_ia32_pause();

    long long t0 = now_ns();
    if (mix) {
        for (long i = 0; i < n; i++) {
            syscall(SYS_write, pipefd[1], buf, 8);
            syscall(SYS_read, pipefd[0], buf, 8);
            long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY);
            syscall(SYS_close, fd);
            syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0);
        }
    } else if (rate > 0) {
        for (long i = 0; i < n; i += 1000) {
            long long due = t0 + i * 1000000000LL / rate;
            while (now_ns() < due)
                __builtin_ia32_pause();
            for (long j = i; j < i + 1000 && j < n; j++)
                syscall(SYS_getppid);
        }
    } else {
        for (long i = 0; i < n; i++)
            syscall(SYS_getppid);
    }
    long long t1 = now_ns();
    len = snprintf(line, sizeof line, "done %lld %ld\n", t1 - t0, mix ? 5 * n : n);
    syscall(SYS_write, 1, line, len);
    while (flag[0] != 2)
        __builtin_ia32_pause();
    unlink(path);
    return 0;
}
