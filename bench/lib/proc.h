/* proc.h - shared by the benchmarks: starting, probing, measuring and
 * stopping the server processes they compare, and cleaning up after. */
#ifndef TR_BENCH_PROC_H
#define TR_BENCH_PROC_H

#include <sys/types.h>

/* A free TCP port on 127.0.0.1 (dies on error). */
int free_port(void);
/* fork + execv(argv[0]); stdout and stderr appended to log_path, stdin
 * from /dev/null (dies if fork fails). */
pid_t spawn(char *const argv[], const char *log_path);
/* SIGTERM by PID, wait up to 30 s, then SIGKILL. Returns the exit status
 * as waitpid reports it, or -1 if it had to be killed. */
int stop_pid(pid_t pid);
/* Polls GET url until 200; 0 on success, the exit status if the child
 * died, -1 on timeout. */
int wait_ready(pid_t pid, const char *url, double timeout_s);
/* User + system CPU seconds of pid so far, -1 if unknown. */
double cpu_seconds(pid_t pid);
/* A "Vm...:" field of /proc/pid/status (e.g. "VmHWM:") in KiB, -1 if
 * unknown. */
long vm_status_kib(pid_t pid, const char *field);
/* rm -rf dir (no symlinks followed). */
void rm_rf(const char *dir);

#endif
