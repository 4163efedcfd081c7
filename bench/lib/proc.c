/* proc.c - process control and measurement for the benchmarks. */
#include "bench/lib/proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/lib/datagen.h"

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        die("free_port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

pid_t spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0)
            dup2(null, 0);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

int stop_pid(pid_t pid)
{
    return stop_pid_measured(pid, NULL, NULL);
}

static double rusage_cpu(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
           (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
}

int stop_pid_measured(pid_t pid, double *cpu_s, double *wait_s)
{
    int st = 0, rc = -1;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    double t0 = mono_s();
    kill(pid, SIGTERM);
    for (int i = 0; i < 3000; i++) {
        if (wait4(pid, &st, WNOHANG, &ru) == pid) {
            rc = st;
            break;
        }
        usleep(10000);
    }
    if (rc == -1) {
        kill(pid, SIGKILL);
        wait4(pid, &st, 0, &ru);
    }
    if (wait_s)
        *wait_s = mono_s() - t0;
    if (cpu_s)
        *cpu_s = rusage_cpu(&ru);
    return rc;
}

int reset_peak_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/clear_refs", (int)pid);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, "5", 1);
    close(fd);
    return n == 1 ? 0 : -1;
}

/* nftw has no user pointer: the walk in progress (disk_usage is not
 * thread-safe) */
static long long du_alloc, du_apparent;

static int du_cb(const char *p,
                 const struct stat *sb,
                 int type,
                 struct FTW *ftw)
{
    (void)p;
    (void)ftw;
    if (type == FTW_F && S_ISREG(sb->st_mode)) {
        du_alloc += (long long)sb->st_blocks * 512;
        du_apparent += (long long)sb->st_size;
    }
    return 0;
}

int disk_usage(const char *path, long long *alloc, long long *apparent)
{
    du_alloc = du_apparent = 0;
    int rc = nftw(path, du_cb, 32, FTW_PHYS);
    *alloc = du_alloc;
    *apparent = du_apparent;
    return rc == 0 ? 0 : -1;
}

void program_version(const char *binary, char *out, size_t n)
{
    int fds[2];
    snprintf(out, n, "?");
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execl(binary, binary, "--version", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char buf[512];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 &&
           (k = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)k;
    buf[len] = 0;
    close(fds[0]);
    waitpid(pid, NULL, 0);
    char *v = strstr(buf, "version ");
    if (!v)
        return;
    v += 8;
    size_t vl = strcspn(v, " \t\r\n");
    snprintf(out, n, "%.*s", (int)vl, v);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* HTTP status of GET url, 0 on transport error. */
static long get_status(const char *url)
{
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    return status;
}

int wait_ready(pid_t pid, const char *url, double timeout_s)
{
    double end = mono_s() + timeout_s;
    while (mono_s() < end) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (get_status(url) == 200)
            return 0;
        usleep(50000);
    }
    return -1;
}

double cpu_seconds(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after "comm)": state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long vm_status_kib(pid_t pid, const char *field)
{
    char path[64], line[256];
    long kib = -1;
    size_t fl = strlen(field);
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0)
            kib = strtol(line + fl, NULL, 10);
    fclose(f);
    return kib;
}

static int rm_cb(const char *p,
                 const struct stat *sb,
                 int type,
                 struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return type == FTW_DP ? rmdir(p) : unlink(p);
}

void rm_rf(const char *dir)
{
    nftw(dir, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

double quiesce(pid_t pid, double timeout_s)
{
    double t0 = mono_s(), c = cpu_seconds(pid);
    while (mono_s() - t0 < timeout_s) {
        sleep(1);
        double c2 = cpu_seconds(pid);
        if (c2 - c < 0.05)
            break;
        c = c2;
    }
    return mono_s() - t0;
}

void disk_parts(const char *dir, char *out, size_t n)
{
    struct part {
        char name[256];
        long long alloc;
    } parts[32];
    int np = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && np < 32 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[600];
        long long al, ap;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (disk_usage(path, &al, &ap) != 0)
            continue;
        snprintf(parts[np].name, sizeof parts[np].name, "%s", de->d_name);
        parts[np++].alloc = al;
    }
    if (d)
        closedir(d);
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < np; i++) {
        int best = i;
        for (int k = i + 1; k < np; k++)
            if (parts[k].alloc > parts[best].alloc)
                best = k;
        if (best != i) {
            struct part tmp = parts[i];
            parts[i] = parts[best];
            parts[best] = tmp;
        }
        int k = snprintf(out + len, n - len, "%s%s %.1f MiB", i ? ", " : "",
                         parts[i].name, (double)parts[i].alloc / 1048576.0);
        if (k < 0 || (size_t)k >= n - len)
            break;
        len += (size_t)k;
    }
}

double mib(long long b)
{
    return (double)b / 1048576.0;
}

int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

size_t body_write(char *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t k = size * n;
    if (b->len + k + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + k + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            return 0;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, k);
    b->len += k;
    b->p[b->len] = 0;
    return k;
}
