/*
 * Runs a program once it is being watched.
 *
 *   gate FLAG_FILE PROGRAM [ARG...]
 *
 * Prints "ready <pid>\n" on stdout, spins (making no syscalls) until byte 0
 * of FLAG_FILE (mapped shared) becomes 1, then execs PROGRAM (a path, not
 * searched in PATH) with ARGs and the same environment. Between "ready" and
 * the exec it makes no call, so the exec is the first call of the watched
 * process, and everything from there on is PROGRAM's.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

extern char **environ;

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: gate FLAG_FILE PROGRAM [ARG...]\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    volatile unsigned char *flag = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    if (fd < 0 || flag == MAP_FAILED) {
        perror(argv[1]);
        return 2;
    }
    char line[32];
    int n = snprintf(line, sizeof line, "ready %d\n", getpid());
    if (write(1, line, n) != n)
        return 2;
    while (flag[0] != 1)
        relax();
    execve(argv[2], argv + 2, environ);
    perror(argv[2]);
    return 127;
}
