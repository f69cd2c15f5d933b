#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"

#define LOG_LINE_MAX	8192

static int		 log_fd = 2;
static char		 log_path[4096];
static enum log_level	 log_min = LOG_INFO;
static const char	*log_pool = "master";
static char		 log_instance[128];	/* INSTANCE_ID, JSON-escaped */
static pid_t		 log_pid_cached;	/* 0: ask again (reset in a child) */
static int		 log_atfork_set;

static const char *const level_names[] = { "debug", "info", "warning", "error" };

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t	 i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	return -1;
}

static void
log_pid_forget(void)
{
	log_pid_cached = 0;
}

/* getpid() once per process, not once per line (a system call each). */
static long
log_pid(void)
{
	if (!log_atfork_set) {
		log_atfork_set = 1;
		(void)pthread_atfork(NULL, NULL, log_pid_forget);
	}
	if (log_pid_cached == 0)
		log_pid_cached = getpid();
	return (long)log_pid_cached;
}

static int
log_open(void)
{
	int	 fd;

	if (log_path[0] == '\0')
		return 2;
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd;
}

int
log_init(const char *path, enum log_level lvl)
{
	int	 fd;

	log_min = lvl;
	if (path == NULL || *path == '\0') {
		log_path[0] = '\0';
		log_fd = 2;
		return 0;
	}
	if (strlen(path) >= sizeof(log_path))
		return -1;
	memcpy(log_path, path, strlen(path) + 1);
	if ((fd = log_open()) == -1)
		return -1;
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	return 0;
}

int
log_reopen(void)
{
	int	 fd;

	if (log_path[0] == '\0')
		return 0;
	if ((fd = log_open()) == -1)
		return -1;
	if (log_fd > 2)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void
log_set_level(enum log_level lvl)
{
	log_min = lvl;
}

/*
 * The replica's name (INSTANCE_ID, checked by config.c: at most 63 of
 * [A-Za-z0-9._-]), on every line from now on, so the lines of several
 * replicas in one log store say where they came from.
 */
void
log_set_instance(const char *id)
{
	struct buf	 b;

	log_instance[0] = '\0';
	if (id == NULL || *id == '\0')
		return;
	buf_init(&b, sizeof(log_instance) - 1);
	if (buf_json_escape(&b, id, strlen(id)) == 0 && b.p != NULL) {
		memcpy(log_instance, b.p, b.len);
		log_instance[b.len] = '\0';
	}
	buf_free(&b);
}

void
log_set_pool(const char *pool)
{
	log_pool = pool;
}

int
log_enabled(enum log_level lvl)
{
	return lvl >= log_min;
}

/* Starts a line with the fixed fields; msg is escaped. */
static void
log_head(struct buf *b, enum log_level lvl, const char *msg)
{
	struct timeval	 tv;
	struct tm	 tm;
	char		 ts[40];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"",
	    ts, (long)(tv.tv_usec / 1000), level_names[lvl]);
	buf_json_escape(b, msg, strlen(msg));
	buf_printf(b, "\",\"pid\":%ld,\"pool\":\"%s\"", log_pid(), log_pool);
	if (log_instance[0] != '\0')
		buf_printf(b, ",\"instance\":\"%s\"", log_instance);
}

static void
log_write(struct buf *b)
{
	ssize_t	 n;

	/* Truncated lines still end as valid JSON where possible. */
	if (buf_puts(b, "}\n") == -1) {
		b->len = b->max > 2 ? b->max - 2 : 0;
		b->p[b->len] = '\0';
		buf_puts(b, "}\n");
	}
	do {
		n = write(log_fd, b->p, b->len);
	} while (n == -1 && errno == EINTR);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	struct buf	 b;
	char		 msg[2048];
	va_list		 ap;
	int		 saved = errno;

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	buf_init(&b, LOG_LINE_MAX);
	log_head(&b, lvl, msg);
	log_write(&b);
	buf_free(&b);
	errno = saved;
}

void
log_kv(enum log_level lvl, const char *msg, ...)
{
	struct buf	 b;
	va_list		 ap;
	const char	*key, *s;
	int		 saved = errno;

	if (lvl < log_min)
		return;
	buf_init(&b, LOG_LINE_MAX);
	log_head(&b, lvl, msg);
	va_start(ap, msg);
	while ((key = va_arg(ap, const char *)) != NULL) {
		if (strlen(key) < 3 || key[1] != ':')
			break;
		switch (key[0]) {
		case 's':
			s = va_arg(ap, const char *);
			if (s == NULL)
				continue;
			buf_printf(&b, ",\"%s\":\"", key + 2);
			buf_json_escape(&b, s, strlen(s));
			buf_putc(&b, '"');
			break;
		case 'i':
			buf_printf(&b, ",\"%s\":%lld", key + 2,
			    va_arg(ap, long long));
			break;
		case 'd':
			buf_printf(&b, ",\"%s\":%.3f", key + 2,
			    va_arg(ap, double));
			break;
		default:
			goto done;
		}
	}
done:
	va_end(ap);
	log_write(&b);
	buf_free(&b);
	errno = saved;
}
