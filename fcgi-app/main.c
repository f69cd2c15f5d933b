/*
 * claude-web: read and validate the configuration, then hand over to the
 * master. Invalid configuration exits 78 (EX_CONFIG) with every problem on
 * its own line; -t stops after the check, like nginx -t.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
