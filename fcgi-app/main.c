/*
 * claude-web: read and validate the configuration, then hand over to the
 * master. Invalid configuration exits 78 (EX_CONFIG) with every problem on
 * its own line; -t stops after the check, like nginx -t. Running as root
 * outside a container is refused the same way unless ALLOW_ROOT is set.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "master.h"

#include <curl/curl.h>

static void
usage(FILE *fp)
{
	fprintf(fp, "usage: claude-web [--config FILE] [-t] [--version]\n"
	    "  --config FILE  env-file with KEY=VALUE lines (the environment wins)\n"
	    "  -t             check the configuration and exit\n"
	    "Variables: see docs/configuration.md\n");
}

/*
 * True inside a container, where root is the norm and the container is the
 * boundary: docker (/.dockerenv), podman (/run/.containerenv, container=),
 * systemd-nspawn and LXC (container= in pid 1's environment), Kubernetes.
 */
static int
in_container(void)
{
	char	 env[8192];
	ssize_t	 n;
	int	 fd, found = 0;

	if (getenv("container") != NULL || getenv("KUBERNETES_SERVICE_HOST") != NULL ||
	    access("/.dockerenv", F_OK) == 0 ||
	    access("/run/.containerenv", F_OK) == 0)
		return 1;
	if ((fd = open("/proc/1/environ", O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, env, sizeof(env) - 1);
	close(fd);
	if (n > 0) {
		env[n] = '\0';
		found = memmem(env, (size_t)n, "\0container=", 11) != NULL ||
		    strncmp(env, "container=", 10) == 0;
	}
	return found;
}

int
main(int argc, char **argv)
{
	struct config	*cfg;
	struct buf	 problems;
	const char	*path = NULL;
	char		*line, *save = NULL;
	int		 i, test_only = 0, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-t") == 0)
			test_only = 1;
		else if ((strcmp(argv[i], "--config") == 0 ||
		    strcmp(argv[i], "-c") == 0) && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		else if (strcmp(argv[i], "--version") == 0 ||
		    strcmp(argv[i], "-v") == 0) {
			printf("claude-web %s\n", PACKAGE_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "claude-web: unknown argument: %s\n", argv[i]);
			usage(stderr);
			return 64;
		}
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return 1;
	buf_init(&problems, 256 * 1024);
	if (config_load(cfg, path, &problems) > 0) {
		fprintf(stderr, "claude-web: invalid configuration%s%s:\n",
		    path ? " in environment and " : "", path ? path : "");
		for (line = strtok_r(problems.p, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			fprintf(stderr, "claude-web: config: %s\n", line);
		buf_free(&problems);
		free(cfg);
		return CONFIG_EX_INVALID;
	}
	buf_free(&problems);
	if (geteuid() == 0 && !cfg->allow_root && !in_container()) {
		fprintf(stderr, "claude-web: refusing to run as root outside a "
		    "container: a bug in a worker or an escape from the tool "
		    "sandbox would own this machine.\n"
		    "claude-web: run it as an unprivileged user, or set "
		    "ALLOW_ROOT=1 (environment or env-file) to accept the risk.\n");
		config_free(cfg);
		free(cfg);
		return CONFIG_EX_INVALID;
	}
	if (test_only) {
		fprintf(stderr, "claude-web: configuration%s%s is valid\n",
		    path ? " " : "", path ? path : "");
		config_free(cfg);
		free(cfg);
		return 0;
	}
	if (log_init(cfg->log_file, (enum log_level)cfg->log_level) == -1) {
		fprintf(stderr, "claude-web: cannot open LOG_FILE %s\n", cfg->log_file);
		config_free(cfg);
		free(cfg);
		return CONFIG_EX_INVALID;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = master_run(cfg, path);
	return rc;
}
