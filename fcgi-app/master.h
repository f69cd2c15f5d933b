/*
 * master: opens the listen sockets, forks and supervises the three pools
 * (api, stream, runner) the way php-fpm does. It never talks to Redis or
 * Claude. Signals: SIGHUP reload, SIGQUIT graceful stop, SIGTERM/SIGINT
 * fast stop, SIGUSR1 reopen logs.
 *
 * master_run() takes ownership of *cfg (it is replaced on reload) and
 * returns the process exit status.
 */
#ifndef CW_MASTER_H
#define CW_MASTER_H

struct config;

int	master_run(struct config *cfg, const char *config_path);

#endif
