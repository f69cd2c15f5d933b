/*
 * bench_sandbox N FILES: what the sandbox's hardening costs per bash
 * command, each beside a baseline from the same run:
 *  - the quota walk (quota_usage with setuid stripping) over a workspace of
 *    FILES files (1 KiB each, 100 per directory), done twice per command;
 *  - a sandboxed `true` in that workspace with SESSION_DISK_QUOTA_MB and
 *    SANDBOX_MEMORY_MAX_MB off (the walk still runs for setuid bits), with
 *    both on (the defaults), and with SANDBOX_NETWORK=on (a netns, its
 *    rules and pasta) when pasta is installed.
 * Prints p50/p99/mean in milliseconds. Built and run by bench_sandbox.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "quota.h"
#include "sandbox.h"

static double
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *name, double *v, int n)
{
	double	 sum = 0;
	int	 i;

	qsort(v, (size_t)n, sizeof(double), cmp);
	for (i = 0; i < n; i++)
		sum += v[i];
	printf("%-44s n=%-4d p50=%8.2f ms  p99=%8.2f ms  mean=%8.2f ms\n", name, n,
	    v[n / 2], v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], sum / n);
	fflush(stdout);
}

static int
sandboxed(const char *name, const char *files, double *v, int n)
{
	struct config		 cfg;
	struct buf		 problems;
	struct sandbox_result	 res;
	int			 i;

	buf_init(&problems, 1 << 16);
	if (config_load(&cfg, NULL, &problems) > 0) {
		fprintf(stderr, "%s", problems.p);
		return -1;
	}
	buf_free(&problems);
	for (i = 0; i < n; i++) {
		double t0 = now_ms();

		sandbox_result_init(&res, 4096);
		sandbox_run(&cfg, files, "/workspace", "true", NULL, NULL, &res);
		if (res.failed || res.exit_code != 0) {
			fprintf(stderr, "%s: sandbox failed: %s (exit %d) %s\n", name,
			    res.errmsg, res.exit_code, res.err.p ? res.err.p : "");
			return -1;
		}
		sandbox_result_free(&res);
		v[i] = now_ms() - t0;
	}
	report(name, v, n);
	config_free(&cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	char			 dir[] = "/tmp/cw-bench-sbx-XXXXXX", files[256],
				 path[512], name[64];
	static char		 kib[1024];
	struct quota_usage	 u;
	double			*v;
	long long		 nn = 30, nf = 10000, i;
	int			 n, fd, root;

	if (argc > 1 && (config_parse_ll(argv[1], &nn) == -1 || nn < 5 || nn > 10000)) {
		fprintf(stderr, "usage: bench_sandbox [N (5..10000)] [FILES]\n");
		return 64;
	}
	if (argc > 2 && (config_parse_ll(argv[2], &nf) == -1 || nf < 0 ||
	    nf > 1000000)) {
		fprintf(stderr, "usage: bench_sandbox [N] [FILES (0..1000000)]\n");
		return 64;
	}
	n = (int)nn;
	v = calloc((size_t)n, sizeof(double));
	if (v == NULL || mkdtemp(dir) == NULL)
		return 1;
	snprintf(files, sizeof(files), "%s/sessions/session-bench/files", dir);
	snprintf(path, sizeof(path), "%s/sessions", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/sessions/session-bench", dir);
	mkdir(path, 0755);
	mkdir(files, 0755);
	memset(kib, 'x', sizeof(kib));
	for (i = 0; i < nf; i++) {
		if (i % 100 == 0) {
			snprintf(path, sizeof(path), "%s/d%lld", files, i / 100);
			mkdir(path, 0755);
		}
		snprintf(path, sizeof(path), "%s/d%lld/f%lld", files, i / 100, i);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
		    write(fd, kib, sizeof(kib)) != (ssize_t)sizeof(kib))
			return 1;
		close(fd);
	}
	setenv("SECRET_KEY", "bench-bench-bench-bench-bench-bench-1234", 1);
	setenv("WORKSPACE_PATH", dir, 1);
	setenv("API_SOCKET", "/tmp/cw-bench-api.sock", 1);
	setenv("STREAM_SOCKET", "/tmp/cw-bench-stream.sock", 1);

	if ((root = open(files, O_RDONLY | O_DIRECTORY)) == -1)
		return 1;
	for (i = 0; i < n; i++) {
		double t0 = now_ms();

		quota_usage(root, 1, &u);
		v[i] = now_ms() - t0;
	}
	close(root);
	snprintf(name, sizeof(name), "quota walk, %lld files", nf);
	report(name, v, n);

	setenv("SESSION_DISK_QUOTA_MB", "0", 1);
	setenv("SANDBOX_MEMORY_MAX_MB", "0", 1);
	if (sandboxed("sandboxed true, quota+memcg off", files, v, n) == -1)
		return 1;
	unsetenv("SESSION_DISK_QUOTA_MB");
	unsetenv("SANDBOX_MEMORY_MAX_MB");
	if (sandboxed("sandboxed true, defaults (quota, memcg)", files, v, n) == -1)
		return 1;
	if (access("/usr/bin/pasta", X_OK) == 0) {
		setenv("SANDBOX_NETWORK", "on", 1);
		if (sandboxed("sandboxed true, SANDBOX_NETWORK=on", files, v, n) == -1)
			return 1;
	}
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		return 1;
	free(v);
	return 0;
}
