/*
 * A varied, fixed syscall sequence for comparing strace-api with strace.
 *
 *   mix FLAG_FILE PORT
 *
 * Prints "ready <pid>\n", spins (no syscalls) until byte 0 of FLAG_FILE is 1,
 * then: failing and succeeding opens, reads, writes, stat calls, directory
 * calls, a TCP connect to 127.0.0.1:PORT, mmap, a short nanosleep, a fork
 * whose child execs /bin/true, a thread making its own calls, and exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *thread_body(void *arg) {
    (void)arg;
    int fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
    char buf[32];
    if (fd >= 0) {
        read(fd, buf, sizeof buf);
        close(fd);
    }
    getpid();
    access("/nonexistent/thread", F_OK);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    int ffd = open(argv[1], O_RDONLY);
    volatile unsigned char *flag = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ffd, 0);
    if (flag == MAP_FAILED)
        return 2;
    int port = atoi(argv[2]);
    char line[64];
    int n = snprintf(line, sizeof line, "ready %d\n", getpid());
    write(1, line, n);
    while (flag[0] != 1)
        __builtin_ia32_pause();

    char buf[64];
    open("/nonexistent/strace-api-mix", O_RDONLY);
    int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    read(fd, buf, sizeof buf);
    close(fd);
    fd = openat(AT_FDCWD, "/etc/passwd", O_RDONLY);
    read(fd, buf, sizeof buf);
    close(fd);
    int dn = open("/dev/null", O_WRONLY);
    write(dn, "hello\n", 6);
    close(dn);

    struct stat st;
    stat("/etc/passwd", &st);
    lstat("/nonexistent/stat", &st);
    fstatat(AT_FDCWD, "/etc", &st, 0);
    access("/etc/passwd", R_OK);
    access("/nonexistent/access", F_OK);

    char dir[64], moved[64];
    snprintf(dir, sizeof dir, "/tmp/strace-api-mix-%d", getpid());
    snprintf(moved, sizeof moved, "/tmp/strace-api-mix-%d-moved", getpid());
    mkdir(dir, 0755);
    rename(dir, moved);
    chmod(moved, 0700);
    rmdir(moved);
    unlink("/nonexistent/unlink");

    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    connect(s, (struct sockaddr *)&sa, sizeof sa);
    write(s, "ping\n", 5);
    close(s);

    void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(m, 8192);
    struct timespec nap = {0, 1000 * 1000};
    nanosleep(&nap, NULL);

    pid_t child = fork();
    if (child == 0) {
        execl("/bin/true", "true", "--strace-api-mix", (char *)NULL);
        _exit(127);
    }
    waitpid(child, NULL, 0);

    pthread_t t;
    pthread_create(&t, NULL, thread_body, NULL);
    pthread_join(t, NULL);

    getppid();
    exit(0);
}
