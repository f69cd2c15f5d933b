/*
 * claude-web-admin: user and session administration from the shell, with
 * the same configuration as the server (environment + --config FILE).
 *
 * Exit codes: 0 ok, 1 not found / already exists, 64 usage, 65 bad input,
 * 69 Redis unreachable, 78 invalid configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "migrate.h"
#include "scheduler.h"
#include "sessions.h"
#include "store.h"
#include "users.h"

#define EX_OK		0
#define EX_NOTFOUND	1
#define EX_USAGE	64
#define EX_DATAERR	65
#define EX_UNAVAIL	69
#define PW_MIN		8

static struct config	 cfg;
static struct store	 st;

static void
usage(void)
{
	fprintf(stderr,
	    "usage: claude-web-admin [--config FILE] COMMAND\n"
	    "  user add NAME [--role admin|user]   password from stdin, or generated\n"
	    "  user passwd NAME                     password from stdin, or generated;\n"
	    "                                       signs the user out everywhere\n"
	    "  user disable NAME                    also signs the user out everywhere\n"
	    "  user enable NAME\n"
	    "  user logout-all NAME                 ends every token of the user\n"
	    "  user del NAME                        also deletes the user's sessions\n"
	    "  user list\n"
	    "  session list [--user NAME]\n"
	    "  run list                             every run not yet finished\n"
	    "  run cancel RUN_ID                    cancels any user's run\n");
}

static int redis_down(void);

static int
run_list(void)
{
	json_object	*runs, *o, *v;
	size_t		 i;
	char		 t[32];

	if ((runs = sched_list(&st)) == NULL)
		return redis_down();
	printf("%-32s %-16s %-32s %-8s %-8s %-8s %s\n", "RUN", "USER", "SESSION",
	    "STATUS", "STATE", "STEP", "CREATED");
	for (i = 0; i < json_object_array_length(runs); i++) {
		o = json_object_array_get_idx(runs, i);
#define S(k) (json_object_object_get_ex(o, k, &v) && v != NULL ? \
	json_object_get_string(v) : "-")
		t[0] = '\0';
		if (json_object_object_get_ex(o, "created_at", &v) && v != NULL) {
			time_t tt = (time_t)json_object_get_int64(v);
			struct tm tm;

			if (gmtime_r(&tt, &tm) != NULL)
				strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		printf("%-32s %-16s %-32s %-8s %-8s %-8s %s\n", S("run_id"), S("user"),
		    S("session_id"), S("status"), *S("state") ? S("state") : "-",
		    *S("step") ? S("step") : "-", t);
#undef S
	}
	json_object_put(runs);
	return EX_OK;
}

static int
run_cancel(const char *id)
{
	int	 rv = sched_cancel_run(&st, &cfg, id);

	if (rv == -1)
		return redis_down();
	if (rv == 0) {
		fprintf(stderr, "claude-web-admin: run %s is not active\n", id);
		return EX_NOTFOUND;
	}
	printf("run %s %s\n", id, rv == 1 ? "cancelling (its runner ends it)" :
	    "cancelled");
	return EX_OK;
}

static int
redis_down(void)
{
	fprintf(stderr, "claude-web-admin: Redis is not reachable (%s)\n",
	    st.errstr[0] ? st.errstr : "unknown error");
	return EX_UNAVAIL;
}

static const char *
fmt_time(long t, char *out, size_t cap)
{
	struct tm	 tm;
	time_t		 tt = t;

	if (t <= 0)
		return "-";
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

/*
 * The new password: the first line of stdin when stdin is not a terminal
 * and has one, else a generated one that is printed once.
 */
static int
get_password(char *pw, size_t cap, int *generated)
{
	size_t	 n;

	*generated = 0;
	if (!isatty(STDIN_FILENO) && fgets(pw, (int)cap, stdin) != NULL) {
		n = strcspn(pw, "\r\n");
		pw[n] = '\0';
		if (n > 0) {
			if (n < PW_MIN) {
				fprintf(stderr, "claude-web-admin: password must be at "
				    "least %d characters\n", PW_MIN);
				return -1;
			}
			return 0;
		}
	}
	if (auth_random_hex(pw, 12) == -1)
		return -1;
	*generated = 1;
	return 0;
}

static int
user_add(const char *name, const char *role)
{
	char	 pw[AUTH_PW_MAX + 2], hash[USERS_HASH_MAX];
	int	 gen, rv;

	if (!users_valid_name(name)) {
		fprintf(stderr, "claude-web-admin: invalid user name '%s' (letters, "
		    "digits, _ - . @; at most %d)\n", name, USERS_NAME_MAX);
		return EX_DATAERR;
	}
	if (strcmp(role, "admin") != 0 && strcmp(role, "user") != 0) {
		fprintf(stderr, "claude-web-admin: role must be admin or user\n");
		return EX_DATAERR;
	}
	if (get_password(pw, sizeof(pw), &gen) == -1)
		return EX_DATAERR;
	if (auth_password_hash(pw, strlen(pw), hash, sizeof(hash)) == -1) {
		fprintf(stderr, "claude-web-admin: cannot hash the password\n");
		return 1;
	}
	rv = users_create(&st, name, role, hash);
	if (rv == -1)
		return redis_down();
	if (rv == 1) {
		fprintf(stderr, "claude-web-admin: user '%s' already exists\n", name);
		return EX_NOTFOUND;
	}
	printf("created user %s (role %s)\n", name, role);
	if (gen)
		printf("password: %s\n", pw);
	return EX_OK;
}

/*
 * One field of an existing user; new_gen also ends every token issued so
 * far (the account's token generation changes in the same Redis step).
 */
static int
user_set(const char *name, const char *field, const char *value, int new_gen,
    const char *done)
{
	int	 rv = users_update(&st, name, field, value, new_gen);

	if (rv == -1)
		return redis_down();
	if (rv == 1) {
		fprintf(stderr, "claude-web-admin: no such user '%s'\n", name);
		return EX_NOTFOUND;
	}
	printf("%s %s\n", done, name);
	return EX_OK;
}

static int
user_passwd(const char *name)
{
	char	 pw[AUTH_PW_MAX + 2], hash[USERS_HASH_MAX];
	int	 gen, rc;

	if (get_password(pw, sizeof(pw), &gen) == -1)
		return EX_DATAERR;
	if (auth_password_hash(pw, strlen(pw), hash, sizeof(hash)) == -1)
		return 1;
	rc = user_set(name, "password", hash, 1, "password changed for");
	if (rc == EX_OK && gen)
		printf("password: %s\n", pw);
	return rc;
}

/*
 * Deletes the user's sessions (half-deleted ones included) the way the API
 * does: each run cancelled and waited for, each directory quarantined and
 * removed fd-relative (sessions_delete). Then the user.
 */
static int
user_del(const char *name)
{
	char	 (*ids)[SESSION_ID_LEN + 1];
	int	 rv, i, got, n = 0, failed = 0;

	if ((ids = calloc(1024, sizeof(*ids))) == NULL)
		return 1;
	for (;;) {
		if ((got = sessions_ids(&st, name, ids, 1024)) == -1) {
			free(ids);
			return redis_down();
		}
		if (got <= failed)
			break;		/* only the ones that failed are left */
		failed = 0;
		for (i = 0; i < got; i++) {
			rv = sessions_delete(&st, &cfg, ids[i]);
			if (rv == SESS_OK)
				n++;
			else if (rv == SESS_EREDIS) {
				free(ids);
				return redis_down();
			} else if (rv != SESS_ENOTFOUND) {
				fprintf(stderr, "claude-web-admin: could not delete "
				    "session %s\n", ids[i]);
				failed++;
			}
		}
	}
	free(ids);
	if (failed > 0) {
		fprintf(stderr, "claude-web-admin: %d session(s) of '%s' could not "
		    "be deleted; the user is kept\n", failed, name);
		return 1;
	}
	rv = users_delete(&st, name);
	if (rv == -1)
		return redis_down();
	if (rv == 1) {
		fprintf(stderr, "claude-web-admin: no such user '%s'\n", name);
		return EX_NOTFOUND;
	}
	printf("deleted user %s and %d session(s)\n", name, n);
	return EX_OK;
}

static void
print_user(const struct auth_user *u, void *arg)
{
	char	 a[32], b[32];

	printf("%-24s %-6s %-9s %-21s %s\n", u->name, u->role,
	    u->disabled ? "disabled" : "active", fmt_time(u->created_at, a, sizeof(a)),
	    fmt_time(u->last_login, b, sizeof(b)));
}

static void
print_session(const struct session *s, void *arg)
{
	char	 a[32], b[32];

	printf("%-32s %-16s %-8s %-21s %-21s %s\n", s->id, s->owner, s->status,
	    fmt_time((long)(s->created_us / 1000000), a, sizeof(a)),
	    fmt_time(s->last_activity, b, sizeof(b)), s->title);
}

int
main(int argc, char **argv)
{
	struct buf	 problems;
	const char	*path = NULL, *user = NULL, *role = "user";
	char		*line, *save = NULL;
	long long	 next = 0;
	int		 i = 1, rc;

	if (i + 1 < argc && (strcmp(argv[i], "--config") == 0 ||
	    strcmp(argv[i], "-c") == 0)) {
		path = argv[i + 1];
		i += 2;
	}
	if (argc - i < 2) {
		usage();
		return EX_USAGE;
	}
	buf_init(&problems, 64 * 1024);
	if (config_load(&cfg, path, &problems) > 0) {
		for (line = strtok_r(problems.p, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			fprintf(stderr, "claude-web-admin: config: %s\n", line);
		buf_free(&problems);
		return CONFIG_EX_INVALID;
	}
	buf_free(&problems);
	log_init(NULL, LOG_ERROR);
	log_set_pool("admin");
	/* Run before the server's first start: the keys it names are the new ones. */
	(void)migrate_keys(&cfg, 2000);
	store_init(&st, &cfg, 2000);

	rc = EX_USAGE;
	if (strcmp(argv[i], "user") == 0) {
		const char *cmd = argv[i + 1], *name = i + 2 < argc ? argv[i + 2] : NULL;

		if (strcmp(cmd, "list") == 0) {
			printf("%-24s %-6s %-9s %-21s %s\n", "NAME", "ROLE", "STATUS",
			    "CREATED", "LAST_LOGIN");
			rc = users_each(&st, print_user, NULL) == -1 ? redis_down() : EX_OK;
		} else if (name == NULL)
			usage();
		else if (strcmp(cmd, "add") == 0) {
			if (i + 4 < argc && strcmp(argv[i + 3], "--role") == 0)
				role = argv[i + 4];
			else if (i + 3 < argc) {
				usage();
				goto out;
			}
			rc = user_add(name, role);
		} else if (strcmp(cmd, "passwd") == 0)
			rc = user_passwd(name);
		else if (strcmp(cmd, "disable") == 0)
			rc = user_set(name, "disabled", "1", 1, "disabled");
		else if (strcmp(cmd, "enable") == 0)
			rc = user_set(name, "disabled", "0", 0, "enabled");
		else if (strcmp(cmd, "logout-all") == 0)
			rc = user_set(name, NULL, NULL, 1, "signed out everywhere:");
		else if (strcmp(cmd, "del") == 0 || strcmp(cmd, "delete") == 0)
			rc = user_del(name);
		else
			usage();
	} else if (strcmp(argv[i], "session") == 0 &&
	    strcmp(argv[i + 1], "list") == 0) {
		if (i + 3 < argc && strcmp(argv[i + 2], "--user") == 0)
			user = argv[i + 3];
		printf("%-32s %-16s %-8s %-21s %-21s %s\n", "ID", "OWNER", "STATUS",
		    "CREATED", "LAST_ACTIVITY", "TITLE");
		rc = EX_OK;
		do {
			if (sessions_list(&st, user, next, 100, print_session, NULL,
			    &next) == -1) {
				rc = redis_down();
				break;
			}
		} while (next != 0);
	} else if (strcmp(argv[i], "run") == 0 && strcmp(argv[i + 1], "list") == 0)
		rc = run_list();
	else if (strcmp(argv[i], "run") == 0 &&
	    strcmp(argv[i + 1], "cancel") == 0 && i + 2 < argc)
		rc = run_cancel(argv[i + 2]);
	else
		usage();
out:
	store_close(&st);
	config_free(&cfg);
	return rc;
}
