/*
 * bench_tools N: the cost of the agent's tools, each beside a baseline in
 * the same run: N plain fork+exec of /bin/true, N sandboxed `true` (the
 * full bubblewrap + seccomp + rlimit path the bash tool uses), and N
 * editor str_replace calls (openat2 read, atomic write, fsync); then the
 * glob and grep tools (the registry's executors: ripgrep in the sandbox,
 * results parsed and capped) each beside the same ripgrep command run the
 * way the bash tool runs it, over a tree of 400 files. Prints p50/p99/mean
 * in milliseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "editor.h"
#include "pathsafe.h"
#include "sandbox.h"
#include "tools.h"

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
	printf("%-28s n=%-5d p50=%8.3f ms  p99=%8.3f ms  mean=%8.3f ms\n", name, n,
	    v[n / 2], v[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], sum / n);
}

int
main(int argc, char **argv)
{
	struct config		 cfg;
	struct buf		 problems;
	struct sandbox_result	 res;
	struct editor_change	 chg;
	struct buf		 out;
	char			 dir[] = "/tmp/cw-bench-XXXXXX", files[256], json[256];
	double			*v;
	long long		 nn = 200;
	int			 n, i, root, st;
	pid_t			 pid;
	json_object		*in;

	if (argc > 1 && (config_parse_ll(argv[1], &nn) == -1 || nn < 10 || nn > 100000)) {
		fprintf(stderr, "usage: bench_tools [N (10..100000)]\n");
		return 64;
	}
	n = (int)nn;
	v = calloc((size_t)n, sizeof(double));
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(files, sizeof(files), "%s/files", dir);
	mkdir(files, 0755);
	setenv("SECRET_KEY", "bench-bench-bench-bench-bench-bench-1234", 1);
	setenv("WORKSPACE_PATH", dir, 1);
	setenv("API_SOCKET", "/tmp/cw-bench-api.sock", 1);
	setenv("STREAM_SOCKET", "/tmp/cw-bench-stream.sock", 1);
	buf_init(&problems, 1 << 16);
	if (config_load(&cfg, NULL, &problems) > 0) {
		fprintf(stderr, "%s", problems.p);
		return 1;
	}

	for (i = 0; i < n; i++) {
		double t0 = now_ms();

		if ((pid = fork()) == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		waitpid(pid, &st, 0);
		v[i] = now_ms() - t0;
	}
	report("fork+exec /bin/true", v, n);

	/*
	 * A sandboxed `true`: started with its command (SANDBOX_PREWARM=off,
	 * the cold start), then with the standby (sandbox.h) back to back and
	 * with a pause before each command, as when the model's turn comes
	 * between two commands (seconds in use; GAP_MS here).
	 */
	{
		static const struct {
			const char	*name;
			int		 prewarm;
			int		 gap_ms;
		} modes[] = {
			{ "sandboxed true, cold", 0, 0 },
			{ "sandboxed true, standby, no gap", 1, 0 },
			{ "sandboxed true, standby, 50 ms gap", 1, 50 },
		};
		size_t	 m;

		for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
			cfg.sandbox_prewarm = modes[m].prewarm;
			sandbox_prewarm(&cfg, files);
			for (i = 0; i < n; i++) {
				struct timespec	 gap = { 0, modes[m].gap_ms * 1000000L };
				double		 t0;

				if (modes[m].gap_ms > 0)
					nanosleep(&gap, NULL);
				t0 = now_ms();
				sandbox_result_init(&res, 4096);
				sandbox_run(&cfg, files, "/workspace", "true", NULL, NULL,
				    &res);
				v[i] = now_ms() - t0;
				if (res.failed || res.exit_code != 0) {
					fprintf(stderr, "sandbox failed: %s (exit %d) %s %s\n",
					    res.errmsg, res.exit_code, res.out.p ? res.out.p : "",
					    res.err.p ? res.err.p : "");
					return 1;
				}
				sandbox_result_free(&res);
			}
			report(modes[m].name, v, n);
			sandbox_standby_drop();
		}
		/* What starting a standby costs its caller (before the model call). */
		cfg.sandbox_prewarm = 1;
		for (i = 0; i < n; i++) {
			double	 t0 = now_ms();

			sandbox_prewarm(&cfg, files);
			v[i] = now_ms() - t0;
			sandbox_standby_drop();
		}
		report("standby start, the caller's part", v, n);
	}

	root = ps_open_root(files);
	for (i = 0; i < n; i++) {
		FILE *fp;
		char path[300];
		double t0;

		snprintf(path, sizeof(path), "%s/f.txt", files);
		fp = fopen(path, "w");
		fprintf(fp, "line one\nneedle %d here\nline three\n", i);
		fclose(fp);
		snprintf(json, sizeof(json), "{\"command\":\"str_replace\",\"path\":"
		    "\"/workspace/f.txt\",\"old_str\":\"needle %d\",\"new_str\":\"pin\"}", i);
		in = json_tokener_parse(json);
		buf_init(&out, 1 << 20);
		editor_change_init(&chg);
		t0 = now_ms();
		if (editor_run(root, 1 << 20, in, &out, &chg) != 0) {
			fprintf(stderr, "editor failed: %s\n", out.p);
			return 1;
		}
		v[i] = now_ms() - t0;
		editor_change_free(&chg);
		buf_free(&out);
		json_object_put(in);
	}
	report("editor str_replace", v, n);
	close(root);

	/* glob and grep: the tools beside the bare rg command in the sandbox. */
	{
		static const struct {
			const char	*label, *tool, *input, *label_bash, *command;
		} cases[] = {
			{ "glob tool **/*.txt", "glob", "{\"pattern\":\"**/*.txt\"}",
			    "bash: rg --files -g *.txt", "rg --files -g '*.txt'" },
			{ "grep tool (content)", "grep",
			    "{\"pattern\":\"needle\",\"output_mode\":\"content\",\"-n\":true}",
			    "bash: rg -n needle", "rg -n needle" },
		};
		char		 sdir[300], sub[400], fpath[460];
		struct tool_ctx	 tc;
		json_object	*detail;
		size_t		 c;
		int		 d, k;

		snprintf(sdir, sizeof(sdir), "%s/sessions", dir);
		mkdir(sdir, 0755);
		snprintf(sdir, sizeof(sdir), "%s/sessions/session-bench", dir);
		mkdir(sdir, 0755);
		snprintf(sdir, sizeof(sdir), "%s/sessions/session-bench/files", dir);
		mkdir(sdir, 0755);
		for (d = 0; d < 20; d++) {
			snprintf(sub, sizeof(sub), "%s/dir%02d", sdir, d);
			mkdir(sub, 0755);
			for (k = 0; k < 20; k++) {
				FILE *fp;

				snprintf(fpath, sizeof(fpath), "%s/file%02d.txt", sub, k);
				if ((fp = fopen(fpath, "w")) == NULL)
					return 1;
				fprintf(fp, "line one of %d/%d\n%s\nline three\n", d, k,
				    k % 5 == 0 ? "a needle in here" : "hay");
				fclose(fp);
			}
		}
		memset(&tc, 0, sizeof(tc));
		tc.cfg = &cfg;
		tc.sid = "bench";
		tc.tool_use_id = "toolu_bench";
		for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			const struct tool_def *def = tools_find_static(cases[c].tool);

			if (def == NULL) {
				fprintf(stderr, "no tool %s in the registry\n", cases[c].tool);
				return 1;
			}
			for (i = 0; i < n; i++) {
				double t0 = now_ms();

				sandbox_result_init(&res, 1 << 20);
				sandbox_run(&cfg, sdir, "/workspace", cases[c].command, NULL,
				    NULL, &res);
				if (res.failed || res.exit_code != 0) {
					fprintf(stderr, "%s failed: %s (exit %d)\n",
					    cases[c].command, res.errmsg, res.exit_code);
					return 1;
				}
				sandbox_result_free(&res);
				v[i] = now_ms() - t0;
			}
			report(cases[c].label_bash, v, n);
			for (i = 0; i < n; i++) {
				double t0;

				in = json_tokener_parse(cases[c].input);
				buf_init(&out, 1 << 20);
				detail = json_object_new_object();
				t0 = now_ms();
				if (tools_run(&tc, def, in, &out, detail) != 0) {
					fprintf(stderr, "%s failed: %s\n", cases[c].tool,
					    out.p ? out.p : "");
					return 1;
				}
				v[i] = now_ms() - t0;
				if (tc.content != NULL)
					json_object_put(tc.content);
				tc.content = NULL;
				json_object_put(detail);
				json_object_put(in);
				buf_free(&out);
			}
			report(cases[c].label, v, n);
		}
	}
	config_free(&cfg);
	free(v);
	return 0;
}
