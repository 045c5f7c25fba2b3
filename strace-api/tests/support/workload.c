/*
 * A test workload with an exactly known syscall sequence.
 *
 *   workload FLAG_FILE STEP...
 *   workload - STEP...      (no flag file: run the steps at once, then exit)
 *
 * It prints "ready <pid>\n", then spins (making no syscalls) until byte 0 of
 * FLAG_FILE (mapped shared) becomes 1, runs the steps with raw syscalls,
 * writes "done\n" to stdout, spins until the byte becomes 2, and exits with
 * exit_group(0). Between "go" and "done" it makes exactly the steps' calls
 * plus that one write, so a test can count every syscall it must see.
 *
 * Steps: openat-enoent | getppid | write:N (N bytes to fd 2) | storm:N (N x getppid)
 *        openat-null, openat-unmapped (paths the kernel cannot read: EFAULT)
 *        thread (a thread that calls gettid and getppid, joined)
 *        threads:N (N threads alive at once, each calls gettid; all joined)
 *        sleepers:N (N threads that call gettid, then nanosleep 5 ms in a loop
 *        until the flag becomes 2; not joined: they outlive "done")
 *        fork-exec:PATH (a child that execs PATH at once; the parent waits for it)
 *        churn:N (a child that runs /bin/true N times, one after the other;
 *        the parent waits for it: clone and wait4 are all it makes itself)
 *        forever (openat-enoent, getppid and a 20 ms nanosleep, in a loop)
 *        thread-exec:PATH (a thread, not the leader, execs PATH: the process
 *        becomes PATH and never says "done")
 *        signal (rt_sigaction for a SIGUSR1 handler, kill to itself, and the
 *        handler's rt_sigreturn)
 *        flood:N:MS (N children that call getppid in a loop for MS ms, then
 *        exit; not waited for: "reap" waits)
 *        idle-threads:N (a child with N threads blocked in pause(), running
 *        until "reap" kills it; the step returns once they all exist)
 *        marker:N (a child that calls getsid(0) N times, 10 ms apart; waited for)
 *        nap:MS (one nanosleep)
 *        children:N:MS (N children that sleep MS ms and exit; "reap" waits)
 *        reap (kills the idle-threads child, waits for every child)
 *
 * "thread" and "fork-exec" make more calls than they name (clone3, mmap for
 * the stack, wait4, ...): tests of them look for the named calls only.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile unsigned char *flag;

static void wait_for(unsigned char value) {
    if (flag == NULL)
        return;
    while (flag[0] != value)
        __builtin_ia32_pause();
}

static void say(const char *s) {
    syscall(SYS_write, 1, s, strlen(s));
}

static void *exec_body(void *arg) {
    char *const args[] = {(char *)arg, NULL};
    syscall(SYS_execve, (char *)arg, args, (char *const[]){NULL});
    return NULL;
}

static pthread_barrier_t barrier;

static void *crowd_body(void *arg) {
    (void)arg;
    syscall(SYS_gettid);
    pthread_barrier_wait(&barrier);
    return NULL;
}

static void *sleeper_body(void *arg) {
    (void)arg;
    struct timespec nap = {0, 5 * 1000 * 1000};
    syscall(SYS_gettid);
    do
        syscall(SYS_nanosleep, &nap, NULL);
    while (flag != NULL && flag[0] != 2);
    return NULL;
}

static void *thread_body(void *arg) {
    (void)arg;
    syscall(SYS_gettid);
    syscall(SYS_getppid);
    return NULL;
}

static void on_signal(int sig) { (void)sig; }

static void *idle_body(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t); /* the vDSO: no syscall */
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static pid_t idle_child;

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: workload FLAG_FILE STEP...\n");
        return 2;
    }
    if (strcmp(argv[1], "-") != 0) {
        int fd = open(argv[1], O_RDWR);
        if (fd < 0) {
            perror("open flag file");
            return 2;
        }
        flag = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (flag == MAP_FAILED) {
            perror("mmap flag file");
            return 2;
        }
    }
    char line[64];
    snprintf(line, sizeof line, "ready %d\n", getpid());
    say(line);

    wait_for(1);
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    for (int i = 2; i < argc; i++) {
        const char *step = argv[i];
        if (strcmp(step, "openat-enoent") == 0) {
            syscall(SYS_openat, AT_FDCWD, "/nonexistent/strace-api-test", O_RDONLY);
        } else if (strcmp(step, "openat-null") == 0) {
            syscall(SYS_openat, AT_FDCWD, NULL, O_RDONLY);
        } else if (strcmp(step, "openat-unmapped") == 0) {
            syscall(SYS_openat, AT_FDCWD, (char *)0x10, O_RDONLY);
        } else if (strcmp(step, "getppid") == 0) {
            syscall(SYS_getppid);
        } else if (strncmp(step, "write:", 6) == 0) {
            long n = atol(step + 6);
            syscall(SYS_write, 2, buf, n > (long)sizeof buf ? (long)sizeof buf : n);
        } else if (strncmp(step, "storm:", 6) == 0) {
            for (long n = atol(step + 6); n > 0; n--)
                syscall(SYS_getppid);
        } else if (strcmp(step, "thread") == 0) {
            pthread_t t;
            if (pthread_create(&t, NULL, thread_body, NULL) != 0)
                return 4;
            pthread_join(t, NULL);
        } else if (strncmp(step, "threads:", 8) == 0) {
            long n = atol(step + 8);
            pthread_t *ts = calloc(n, sizeof *ts);
            pthread_barrier_init(&barrier, NULL, n);
            for (long k = 0; k < n; k++)
                if (pthread_create(&ts[k], NULL, crowd_body, NULL) != 0)
                    return 4;
            for (long k = 0; k < n; k++)
                pthread_join(ts[k], NULL);
            free(ts);
        } else if (strncmp(step, "sleepers:", 9) == 0) {
            for (long n = atol(step + 9); n > 0; n--) {
                pthread_t t;
                if (pthread_create(&t, NULL, sleeper_body, NULL) != 0)
                    return 4;
                pthread_detach(t);
            }
        } else if (strncmp(step, "fork-exec:", 10) == 0) {
            /* A raw clone, so the child's first syscall is the execve. */
            pid_t child = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
            if (child == 0) {
                char *const args[] = {(char *)(step + 10), NULL};
                syscall(SYS_execve, step + 10, args, (char *const[]){NULL});
                syscall(SYS_exit_group, 127);
            }
            syscall(SYS_wait4, child, NULL, 0, NULL);
        } else if (strncmp(step, "churn:", 6) == 0) {
            long n = atol(step + 6);
            pid_t churner = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
            if (churner == 0) {
                for (long i = 0; i < n; i++) {
                    pid_t t = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
                    if (t == 0) {
                        char *const args[] = {"true", NULL};
                        syscall(SYS_execve, "/bin/true", args, (char *const[]){NULL});
                        syscall(SYS_exit_group, 127);
                    }
                    syscall(SYS_wait4, t, NULL, 0, NULL);
                }
                syscall(SYS_exit_group, 0);
            }
            syscall(SYS_wait4, churner, NULL, 0, NULL);
        } else if (strncmp(step, "thread-exec:", 12) == 0) {
            pthread_t t;
            pthread_create(&t, NULL, exec_body, (void *)(step + 12));
            pthread_join(t, NULL);
        } else if (strcmp(step, "signal") == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_signal;
            sigaction(SIGUSR1, &sa, NULL);
            syscall(SYS_kill, getpid(), SIGUSR1);
        } else if (strncmp(step, "flood:", 6) == 0) {
            char *rest;
            long n = strtol(step + 6, &rest, 10);
            long ms = atol(rest + 1);
            for (long k = 0; k < n; k++) {
                pid_t c = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
                if (c == 0) {
                    long end = now_ms() + ms;
                    for (;;) {
                        for (int j = 0; j < 1024; j++)
                            syscall(SYS_getppid);
                        if (now_ms() >= end)
                            break;
                    }
                    syscall(SYS_exit_group, 0);
                }
            }
        } else if (strncmp(step, "idle-threads:", 13) == 0) {
            long n = atol(step + 13);
            int fds[2];
            if (pipe(fds) != 0)
                return 4;
            idle_child = fork();
            if (idle_child == 0) {
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, 64 * 1024);
                for (long k = 0; k < n; k++) {
                    pthread_t t;
                    if (pthread_create(&t, &attr, idle_body, NULL) != 0)
                        _exit(4);
                }
                char c = 'r';
                if (write(fds[1], &c, 1) != 1)
                    _exit(4);
                for (;;)
                    pause();
            }
            char c;
            if (read(fds[0], &c, 1) != 1)
                return 4;
            close(fds[0]);
            close(fds[1]);
        } else if (strncmp(step, "marker:", 7) == 0) {
            long n = atol(step + 7);
            pid_t c = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
            if (c == 0) {
                struct timespec nap = {0, 10 * 1000 * 1000};
                for (long k = 0; k < n; k++) {
                    syscall(SYS_getsid, 0);
                    syscall(SYS_nanosleep, &nap, NULL);
                }
                syscall(SYS_exit_group, 0);
            }
            syscall(SYS_wait4, c, NULL, 0, NULL);
        } else if (strncmp(step, "children:", 9) == 0) {
            char *rest;
            long n = strtol(step + 9, &rest, 10);
            long ms = atol(rest + 1);
            for (long k = 0; k < n; k++) {
                pid_t c = syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
                if (c == 0) {
                    struct timespec nap = {ms / 1000, (ms % 1000) * 1000 * 1000};
                    syscall(SYS_nanosleep, &nap, NULL);
                    syscall(SYS_exit_group, 0);
                }
            }
        } else if (strncmp(step, "nap:", 4) == 0) {
            long ms = atol(step + 4);
            struct timespec nap = {ms / 1000, (ms % 1000) * 1000 * 1000};
            syscall(SYS_nanosleep, &nap, NULL);
        } else if (strcmp(step, "reap") == 0) {
            if (idle_child > 0)
                kill(idle_child, SIGKILL);
            while (syscall(SYS_wait4, -1, NULL, 0, NULL) > 0)
                ;
        } else if (strcmp(step, "forever") == 0) {
            struct timespec nap = {0, 20 * 1000 * 1000};
            for (;;) {
                syscall(SYS_openat, AT_FDCWD, "/nonexistent/strace-api-test", O_RDONLY);
                syscall(SYS_getppid);
                syscall(SYS_nanosleep, &nap, NULL);
            }
        } else {
            return 3; /* unknown step: the test sees no "done" */
        }
    }
    say("done\n");
    wait_for(2);
    syscall(SYS_exit_group, 0);
    return 0;
}
