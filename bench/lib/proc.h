/* proc.h - shared by the benchmarks: starting, probing, measuring and
 * stopping the server processes they compare, and cleaning up after. */
#ifndef TR_BENCH_PROC_H
#define TR_BENCH_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* A free TCP port on 127.0.0.1 (dies on error). */
int free_port(void);
/* fork + execv(argv[0]); stdout and stderr appended to log_path, stdin
 * from /dev/null (dies if fork fails). */
pid_t spawn(char *const argv[], const char *log_path);
/* SIGTERM by PID, wait up to 30 s, then SIGKILL. Returns the exit status
 * as waitpid reports it, or -1 if it had to be killed. */
int stop_pid(pid_t pid);
/* stop_pid, also measuring: *cpu_s = user + system CPU seconds of the
 * process' whole life (wait4's rusage), *wait_s = seconds from SIGTERM to
 * its exit. Either pointer may be NULL. */
int stop_pid_measured(pid_t pid, double *cpu_s, double *wait_s);
/* Polls GET url until 200; 0 on success, the exit status if the child
 * died, -1 on timeout. */
int wait_ready(pid_t pid, const char *url, double timeout_s);
/* User + system CPU seconds of pid so far, -1 if unknown. */
double cpu_seconds(pid_t pid);
/* A "Vm...:" field of /proc/pid/status (e.g. "VmHWM:") in KiB, -1 if
 * unknown. */
long vm_status_kib(pid_t pid, const char *field);
/* Resets pid's peak RSS (VmHWM) to its current RSS by writing "5" to
 * /proc/pid/clear_refs. 0 on success, -1 if refused (then VmHWM keeps the
 * peak of the whole life). */
int reset_peak_rss(pid_t pid);
/* The regular files under path (a directory, walked without following
 * symlinks, or a single file): *alloc = allocated bytes (st_blocks x 512,
 * what du and a volume's fill level count), *apparent = sum of their sizes.
 * 0 on success, -1 if path cannot be walked. Not thread-safe. */
int disk_usage(const char *path, long long *alloc, long long *apparent);
/* The first line of `binary --version` from "version " on, e.g. "3.5.3+ds1
 * (branch: ...)", cut at the first blank: "3.5.3+ds1"; "?" if unknown. */
void program_version(const char *binary, char *out, size_t n);
/* rm -rf dir (no symlinks followed). */
void rm_rf(const char *dir);
/* Waits until pid uses < 5 % of a CPU over 1 s, at most timeout_s; returns
 * the seconds waited. */
double quiesce(pid_t pid, double timeout_s);
/* The entries of dir with their allocated sizes, largest first, as
 * "name 12.3 MiB, ..." into out[n]. */
void disk_parts(const char *dir, char *out, size_t n);
/* Bytes in MiB. */
double mib(long long b);
/* qsort comparison of doubles, ascending. */
int dbl_cmp(const void *a, const void *b);
/* A response body libcurl's write callback body_write appends to (p is
 * NUL-terminated; free with free). */
struct body {
    char *p;
    size_t len, cap;
};
size_t body_write(char *p, size_t size, size_t n, void *ud);

#endif
