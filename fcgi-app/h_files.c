/*
 * The files API of a session (files/, seen by Claude as /workspace): list,
 * read (ETag), write (If-Match), delete, mkdir, move, archive; plus the
 * permission answers and Claude's edit log. Every path goes through
 * pathsafe (openat2 RESOLVE_BENEATH), exactly like the tools.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "attach.h"
#include "auth.h"
#include "config.h"
#include "events.h"
#include "handlers.h"
#include "http.h"
#include "jsonio.h"
#include "notices.h"
#include "pathsafe.h"
#include "perm.h"
#include "plantool.h"
#include "scheduler.h"
#include "quota.h"
#include "sessions.h"
#include "store.h"
#include "tools.h"

#define LIST_MAX_ENTRIES	10000

struct fctx {
	struct auth_user	 u;
	struct session		 s;
	int			 root;
	char			 files[PATH_MAX];
};

/* Auth, session, and an open root; -1 with the response written. */
static int
open_session(struct http_req *r, struct app *app, struct fctx *f)
{
	f->root = -1;
	if (auth_require(r, app, &f->u) == -1 ||
	    h_session_load(r, app, &f->u, &f->s) == -1)
		return -1;
	if (sessions_path(app->cfg, f->s.id, "files", f->files, sizeof(f->files)) == -1 ||
	    (f->root = ps_open_root(f->files)) == -1) {
		http_error(r, 500, NULL, "the session workspace is unavailable");
		return -1;
	}
	return 0;
}

/*
 * A path from the client: relative to files/, or absolute as Claude sees
 * it (/workspace/...). Traversal, NUL bytes and names that are not valid
 * UTF-8 (after percent-decoding: such a name could never be shown, sent
 * to Claude or stored in the history) are refused here; symlinks are
 * refused later by openat2.
 */
static int
client_path(struct http_req *r, const char *raw, char *rel, size_t cap)
{
	const char	*p = raw, *why;
	size_t		 off;

	if ((why = jsonio_utf8_problem(raw, strlen(raw), &off)) != NULL) {
		http_error(r, 400, NULL, "invalid path: not valid UTF-8 (%s at "
		    "byte %zu)", why, off);
		return -1;
	}
	if (strncmp(p, "/workspace", 10) == 0 && (p[10] == '/' || p[10] == '\0'))
		p += 10;
	if (ps_relative(p, rel, cap) == -1) {
		http_error(r, 400, NULL, "invalid path: '..' and over-long paths are "
		    "not allowed");
		return -1;
	}
	return 0;
}

static int
query_path(struct http_req *r, char *rel, size_t cap, int required)
{
	char	 raw[PS_PATH_MAX];
	int	 rv;

	rv = http_query_get(&r->uri, "path", raw, sizeof(raw));
	if (rv == -1) {
		http_error(r, 400, NULL, "query parameter 'path' is malformed");
		return -1;
	}
	if (rv == 0) {
		if (required) {
			http_error(r, 400, NULL, "query parameter 'path' is required");
			return -1;
		}
		raw[0] = '\0';
	}
	return client_path(r, raw, rel, cap);
}

/* Maps an errno from pathsafe to the right answer. */
static int
fs_error(struct http_req *r, const char *rel, int e)
{
	switch (e) {
	case ENOENT:
		return http_error(r, 404, NULL, "no such file or directory: %s", rel);
	case EXDEV:
	case ELOOP:
		return http_error(r, 403, "permission_error", "path %s leads outside "
		    "the session's files (symlink or ..)", rel);
	case EEXIST:
	case ENOTEMPTY:
		return http_error(r, 409, "conflict", "%s already exists", rel);
	case EISDIR:
		return http_error(r, 409, "conflict", "%s is a directory", rel);
	case ENOTDIR:
		return http_error(r, 409, "conflict", "a component of %s is not a "
		    "directory", rel);
	case EFBIG:
		return http_error(r, 413, NULL, "%s is larger than MAX_FILE_SIZE", rel);
	case ENOSPC:
	case EDQUOT:
		return http_error(r, 507, "insufficient_storage", "no space left for "
		    "%s: the disk is full", rel);
	default:
		return http_error(r, 500, NULL, "file operation failed: %s", strerror(e));
	}
}

static void
etag_of(const struct stat *st, char *out, size_t cap)
{
	snprintf(out, cap, "\"%lx-%lx-%lx\"", (unsigned long)st->st_ino,
	    (unsigned long)st->st_size, (unsigned long)(st->st_mtim.tv_sec *
	    1000000000L + st->st_mtim.tv_nsec));
}

static const char *
type_name(mode_t m)
{
	if (S_ISREG(m))
		return "file";
	if (S_ISDIR(m))
		return "directory";
	if (S_ISLNK(m))
		return "symlink";
	return "other";
}

static void
announce(struct app *app, const char *sid, const char *rel, const char *what)
{
	json_object	*d = json_object_new_object();
	char		 p[PS_PATH_MAX + 16];

	snprintf(p, sizeof(p), "/workspace%s%s", rel[0] ? "/" : "", rel);
	json_object_object_add(d, "path", json_object_new_string(p));
	json_object_object_add(d, "source", json_object_new_string("api"));
	json_object_object_add(d, "change", json_object_new_string(what));
	events_append(app->store, sid, 0, app->cfg, "file.changed", d,
	    NULL);
	json_object_put(d);
}

static int
cmp_entry(const void *a, const void *b)
{
	json_object	*x = *(json_object *const *)a, *y = *(json_object *const *)b, *v;
	const char	*nx, *ny;

	json_object_object_get_ex(x, "name", &v);
	nx = json_object_get_string(v);
	json_object_object_get_ex(y, "name", &v);
	ny = json_object_get_string(v);
	return strcmp(nx, ny);
}

int
h_files(struct http_req *r, struct app *app)
{
	struct fctx	 f;
	char		 rel[PS_PATH_MAX];
	json_object	*arr, *o, *e;
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	int		 fd, n = 0;

	if (open_session(r, app, &f) == -1 || query_path(r, rel, sizeof(rel), 0) == -1)
		goto out;
	if ((fd = ps_openat(f.root, rel, O_RDONLY | O_DIRECTORY, 0)) == -1) {
		fs_error(r, rel, errno);
		goto out;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		fs_error(r, rel, errno);
		goto out;
	}
	arr = json_object_new_array();
	while ((de = readdir(d)) != NULL && n < LIST_MAX_ENTRIES) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		e = json_object_new_object();
		json_object_object_add(e, "name", json_object_new_string(de->d_name));
		json_object_object_add(e, "type", json_object_new_string(type_name(st.st_mode)));
		json_object_object_add(e, "size", json_object_new_int64(st.st_size));
		json_object_object_add(e, "mtime", jsonio_time(st.st_mtim.tv_sec));
		json_object_array_add(arr, e);
		n++;
	}
	closedir(d);
	json_object_array_sort(arr, cmp_entry);
	o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(rel));
	json_object_object_add(o, "entries", arr);
	json_object_object_add(o, "truncated", json_object_new_boolean(n >= LIST_MAX_ENTRIES));
	jsonio_reply_put(r, 200, o);
out:
	if (f.root >= 0)
		close(f.root);
	return 0;
}

/*
 * GET /api/sessions/:id/files/search?q=&limit=: the @ menu's fuzzy file
 * search (attach.c: a bounded walk, no links followed, best first).
 */
int
h_files_search(struct http_req *r, struct app *app)
{
	struct fctx	 f;
	char		 q[ATTACH_SEARCH_QUERY_MAX + 8], lim[16], *end;
	const char	*why;
	json_object	*o;
	size_t		 off;
	long		 limit = ATTACH_SEARCH_LIMIT;
	int		 rv;

	if (open_session(r, app, &f) == -1)
		goto out;
	rv = http_query_get(&r->uri, "q", q, sizeof(q));
	if (rv == -1 || (rv == 1 && strlen(q) > ATTACH_SEARCH_QUERY_MAX)) {
		http_error(r, 400, NULL, "query parameter 'q' must be at most %d "
		    "bytes", ATTACH_SEARCH_QUERY_MAX);
		goto out;
	}
	if (rv == 0)
		q[0] = '\0';
	if ((why = jsonio_utf8_problem(q, strlen(q), &off)) != NULL) {
		http_error(r, 400, NULL, "query parameter 'q' is not valid UTF-8 "
		    "(%s at byte %zu)", why, off);
		goto out;
	}
	rv = http_query_get(&r->uri, "limit", lim, sizeof(lim));
	if (rv == -1 || (rv == 1 && ((limit = strtol(lim, &end, 10)) < 1 ||
	    limit > ATTACH_SEARCH_LIMIT_MAX || *end != '\0' || lim[0] == '\0' ||
	    lim[0] == '+' || lim[0] == '-' || lim[0] == ' '))) {
		http_error(r, 400, NULL, "query parameter 'limit' must be an integer "
		    "from 1 to %d", ATTACH_SEARCH_LIMIT_MAX);
		goto out;
	}
	if ((o = attach_search(f.root, q, (int)limit)) == NULL) {
		http_error(r, 500, NULL, "out of memory");
		goto out;
	}
	jsonio_reply_put(r, 200, o);
out:
	if (f.root >= 0)
		close(f.root);
	return 0;
}

/* Content types that can never run as script or HTML on our origin. */
static const char *
safe_type(const char *rel, const char *head, size_t n)
{
	const char	*dot = strrchr(rel, '/');

	dot = strrchr(dot ? dot : rel, '.');
	if (dot != NULL) {
		if (strcasecmp(dot, ".png") == 0) return "image/png";
		if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0)
			return "image/jpeg";
		if (strcasecmp(dot, ".gif") == 0) return "image/gif";
		if (strcasecmp(dot, ".webp") == 0) return "image/webp";
		if (strcasecmp(dot, ".pdf") == 0) return "application/pdf";
	}
	if (n > 0 && memchr(head, '\0', n) != NULL)
		return "application/octet-stream";
	return "text/plain; charset=utf-8";
}

static int
get_content(struct http_req *r, struct app *app, struct fctx *f, const char *rel)
{
	struct stat	 st;
	char		 etag[96], head[8192], hdr[1024], chunk[65536], dl[8];
	const char	*inm, *base;
	ssize_t		 n, hn;
	int		 fd;

	/* O_NONBLOCK: opening a FIFO must not hang the worker. */
	if ((fd = ps_openat(f->root, rel, O_RDONLY | O_NONBLOCK, 0)) == -1)
		return fs_error(r, rel, errno);
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return http_error(r, 409, "conflict", "%s is not a regular file", rel);
	}
	etag_of(&st, etag, sizeof(etag));
	if ((inm = http_header(r, "If-None-Match")) != NULL && strcmp(inm, etag) == 0) {
		close(fd);
		http_add_header(r, "ETag", etag);
		r->status = 304;
		return 0;
	}
	hn = pread(fd, head, sizeof(head), 0);
	base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
	/* Streamed: files may be larger than the response buffer. */
	r->sent = 1;
	r->status = 200;
	snprintf(hdr, sizeof(hdr), "Status: 200 OK\r\nContent-Type: %s\r\n"
	    "Content-Length: %lld\r\nETag: %s\r\nCache-Control: no-cache\r\n"
	    "Content-Security-Policy: sandbox; default-src 'none'\r\n",
	    safe_type(rel, head, hn > 0 ? (size_t)hn : 0), (long long)st.st_size, etag);
	FCGX_PutS(hdr, r->fcgi->out);
	if (http_query_get(&r->uri, "download", dl, sizeof(dl)) == 1 &&
	    strpbrk(base, "\"\\\r\n") == NULL) {
		snprintf(hdr, sizeof(hdr), "Content-Disposition: attachment; "
		    "filename=\"%.255s\"\r\n", base);
		FCGX_PutS(hdr, r->fcgi->out);
	}
	FCGX_PutS("\r\n", r->fcgi->out);
	if (r->method != HTTP_HEAD)
		while ((n = read(fd, chunk, sizeof(chunk))) > 0)
			if (FCGX_PutStr(chunk, (int)n, r->fcgi->out) < 0)
				break;
	close(fd);
	return 0;
}

static int
put_content(struct http_req *r, struct app *app, struct fctx *f, const char *rel)
{
	struct buf	 body;
	struct stat	 st;
	const char	*im;
	char		 etag[96];
	json_object	*o;
	int		 fd, exists, st_rc;

	if (rel[0] == '\0')
		return http_error(r, 400, NULL, "path must name a file");
	if (r->content_length > app->cfg->max_file_size)
		return http_error(r, 413, NULL, "file is larger than MAX_FILE_SIZE "
		    "(%lld bytes)", app->cfg->max_file_size);
	fd = ps_openat(f->root, rel, O_PATH, 0);
	if (fd == -1 && errno != ENOENT)
		return fs_error(r, rel, errno);
	exists = fd != -1 && fstat(fd, &st) == 0;
	if (fd != -1)
		close(fd);
	if (exists && !S_ISREG(st.st_mode))
		return http_error(r, 409, "conflict", "%s is not a regular file", rel);
	if ((im = http_header(r, "If-Match")) != NULL) {
		if (!exists)
			return http_error(r, 412, "precondition_failed", "%s does not "
			    "exist (If-Match)", rel);
		etag_of(&st, etag, sizeof(etag));
		if (strcmp(im, "*") != 0 && strcmp(im, etag) != 0)
			return http_error(r, 412, "precondition_failed", "%s changed "
			    "since you loaded it (ETag %s)", rel, etag);
	}
	buf_init(&body, (size_t)app->cfg->max_file_size);
	if (r->content_length > 0 && http_read_body(r, (size_t)app->cfg->max_file_size,
	    &body) != 0) {
		buf_free(&body);
		return 0;
	}
	/* USER_STORAGE_QUOTA_MB: only a write that grows the owner's use. */
	if ((long long)body.len > (exists ? (long long)st.st_size : 0) &&
	    h_session_storage_check(r, app, &f->s, (long long)body.len -
	    (exists ? (long long)st.st_size : 0)) == -1) {
		buf_free(&body);
		return 0;
	}
	/* SESSION_DISK_QUOTA_MB: a write that grows this session's files/. */
	{
		long long	 grow = (long long)body.len - (exists ?
				    (long long)st.st_size : 0);
		char		 qmsg[512];

		if (grow > 0 && quota_check_write(app->cfg, f->s.id, grow, qmsg,
		    sizeof(qmsg)) == 1) {
			buf_free(&body);
			return http_error(r, 507, "insufficient_storage", "%s", qmsg);
		}
	}
	if (ps_write_file(f->root, rel, body.p ? body.p : "", body.len, 0) == -1) {
		buf_free(&body);
		return fs_error(r, rel, errno);
	}
	buf_free(&body);
	fd = ps_openat(f->root, rel, O_PATH, 0);
	st_rc = fd != -1 ? fstat(fd, &st) : -1;
	if (fd != -1)
		close(fd);
	announce(app, f->s.id, rel, exists ? "modified" : "created");
	o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(rel));
	if (st_rc == 0) {
		etag_of(&st, etag, sizeof(etag));
		http_add_header(r, "ETag", etag);
		json_object_object_add(o, "size", json_object_new_int64(st.st_size));
		json_object_object_add(o, "etag", json_object_new_string(etag));
	}
	return jsonio_reply_put(r, exists ? 200 : 201, o);
}

int
h_file_content(struct http_req *r, struct app *app)
{
	struct fctx	 f;
	char		 rel[PS_PATH_MAX];

	if (open_session(r, app, &f) == -1 || query_path(r, rel, sizeof(rel), 1) == -1)
		goto out;
	if (r->method == HTTP_PUT)
		put_content(r, app, &f, rel);
	else if (r->method == HTTP_DELETE) {
		if (rel[0] == '\0')
			http_error(r, 400, NULL, "the workspace root cannot be deleted");
		else if (ps_remove_tree(f.root, rel) == -1)
			fs_error(r, rel, errno);
		else {
			announce(app, f.s.id, rel, "deleted");
			r->status = 204;
		}
	} else
		get_content(r, app, &f, rel);
out:
	if (f.root >= 0)
		close(f.root);
	return 0;
}

int
h_files_mkdir(struct http_req *r, struct app *app)
{
	struct fctx	 f;
	json_object	*body = NULL, *o;
	const char	*p;
	char		 rel[PS_PATH_MAX];

	if (open_session(r, app, &f) == -1 || jsonio_body(r, &body) == -1)
		goto out;
	if (jsonio_str(r, body, "path", 1, PS_PATH_MAX - 1, &p) == -1 ||
	    client_path(r, p, rel, sizeof(rel)) == -1)
		goto out;
	if (rel[0] == '\0') {
		http_error(r, 409, "conflict", "the workspace root already exists");
		goto out;
	}
	if (ps_mkdir(f.root, rel) == -1) {
		fs_error(r, rel, errno);
		goto out;
	}
	announce(app, f.s.id, rel, "created");
	o = json_object_new_object();
	json_object_object_add(o, "path", json_object_new_string(rel));
	json_object_object_add(o, "type", json_object_new_string("directory"));
	jsonio_reply_put(r, 201, o);
out:
	if (body != NULL)
		json_object_put(body);
	if (f.root >= 0)
		close(f.root);
	return 0;
}

int
h_files_move(struct http_req *r, struct app *app)
{
	struct fctx	 f;
	json_object	*body = NULL, *o;
	const char	*from, *to;
	char		 rf[PS_PATH_MAX], rt[PS_PATH_MAX];

	if (open_session(r, app, &f) == -1 || jsonio_body(r, &body) == -1)
		goto out;
	if (jsonio_str(r, body, "from", 1, PS_PATH_MAX - 1, &from) == -1 ||
	    jsonio_str(r, body, "to", 1, PS_PATH_MAX - 1, &to) == -1 ||
	    client_path(r, from, rf, sizeof(rf)) == -1 ||
	    client_path(r, to, rt, sizeof(rt)) == -1)
		goto out;
	if (rf[0] == '\0' || rt[0] == '\0') {
		http_error(r, 400, NULL, "the workspace root cannot be moved or replaced");
		goto out;
	}
	if (ps_rename(f.root, rf, rt) == -1) {
		fs_error(r, errno == EEXIST ? rt : rf, errno);
		goto out;
	}
	announce(app, f.s.id, rf, "deleted");
	announce(app, f.s.id, rt, "created");
	o = json_object_new_object();
	json_object_object_add(o, "from", json_object_new_string(rf));
	json_object_object_add(o, "to", json_object_new_string(rt));
	jsonio_reply_put(r, 200, o);
out:
	if (body != NULL)
		json_object_put(body);
	if (f.root >= 0)
		close(f.root);
	return 0;
}

/* GET /archive: files/ as .tar.gz, streamed from tar(1) as it is produced. */
int
h_archive(struct http_req *r, struct app *app)
{
	struct fctx	 f;
	char		 hdr[512], chunk[65536];
	int		 p[2], status, devnull;
	ssize_t		 n;
	pid_t		 pid;

	if (open_session(r, app, &f) == -1)
		goto out;
	if (pipe2(p, O_CLOEXEC) == -1 || (pid = fork()) == -1) {
		http_error(r, 500, NULL, "cannot start the archiver");
		goto out;
	}
	if (pid == 0) {
		/*
		 * Nothing of the worker crosses into tar: not the FastCGI,
		 * listen or Redis sockets, not the log, not the environment
		 * (PATH only: tar runs gzip), and no ignored signals.
		 */
		static char env_path[] = "PATH=/usr/bin:/bin";
		char *const envp[] = { env_path, NULL };
		const char *argv[] = { "tar", "--create", "--gzip", "--file=-",
		    "--directory", f.files, "--no-xattrs", "--no-acls",
		    "--exclude-caches-all", ".", NULL };
		sigset_t none;

		devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(p[1], 1);
		dup2(devnull, 2);
		if (syscall(SYS_close_range, 3U, ~0U, 0U) == -1) {
			long fd, max = sysconf(_SC_OPEN_MAX);

			/* A kernel before 5.9: one by one. */
			for (fd = 3; fd < (max > 0 && max < 1048576 ? max : 65536); fd++)
				close((int)fd);
		}
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve("/bin/tar", (char *const *)argv, envp);
		_exit(127);
	}
	close(p[1]);
	r->sent = 1;
	r->status = 200;
	snprintf(hdr, sizeof(hdr), "Status: 200 OK\r\nContent-Type: application/gzip\r\n"
	    "Content-Disposition: attachment; filename=\"session-%s.tar.gz\"\r\n"
	    "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n\r\n", f.s.id);
	FCGX_PutS(hdr, r->fcgi->out);
	while ((n = read(p[0], chunk, sizeof(chunk))) > 0)
		if (FCGX_PutStr(chunk, (int)n, r->fcgi->out) < 0) {
			kill(pid, SIGKILL);	/* the client left */
			break;
		}
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
out:
	if (f.root >= 0)
		close(f.root);
	return 0;
}

int
h_permission(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*body, *o;
	const char		*decision, *message, *pmode = NULL;
	int			 remember = 0, present, rv, plan = 0;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if (jsonio_body(r, &body) == -1)
		return 0;
	if (jsonio_str(r, body, "decision", 1, 16, &decision) == -1 ||
	    jsonio_bool(r, body, "remember", &remember, &present) == -1 ||
	    jsonio_str(r, body, "message", 0, 1000, &message) == -1 ||
	    jsonio_str(r, body, "mode", 0, 32, &pmode) == -1)
		goto out;
	if (strcmp(decision, "allow") != 0 && strcmp(decision, "deny") != 0) {
		http_error(r, 400, NULL, "field 'decision' must be \"allow\" or \"deny\"");
		goto out;
	}
	/*
	 * A plan (exit_plan_mode): "allow" approves it into "mode" (acceptEdits
	 * or default, the default), "deny" keeps planning; never remembered.
	 */
	if ((plan = plantool_is_request(app->store, s.id, r->params[1])) == -1) {
		http_error(r, 503, "service_unavailable", "session store unavailable");
		goto out;
	}
	if (pmode != NULL && (!plan || strcmp(decision, "allow") != 0 ||
	    !plantool_valid_target(pmode))) {
		http_error(r, 400, NULL, "field 'mode' goes only with \"allow\" of a "
		    "plan request, and must be \"acceptEdits\" or \"default\"");
		goto out;
	}
	if (plan) {
		remember = 0;
		if (strcmp(decision, "allow") == 0 && plantool_set_target(app->store,
		    s.id, r->params[1], pmode != NULL ? pmode : "default") == -1) {
			http_error(r, 503, "service_unavailable",
			    "session store unavailable");
			goto out;
		}
	}
	/*
	 * The answer, who gave it (for the durable transcript, notices.h) and
	 * the parked run's continuation: one step, so of two people answering
	 * at once the one whose answer counted is the one recorded.
	 */
	rv = sched_answer(app->store, app->cfg, s.id, r->params[1], decision,
	    remember && strcmp(decision, "allow") == 0, message, u.name);
	if (rv == -1)
		http_error(r, 503, "service_unavailable", "session store unavailable");
	else if (rv == 1)
		http_error(r, 404, NULL, "no such permission request");
	else if (rv == 2)
		http_error(r, 409, "conflict", "this request was already answered or "
		    "has expired");
	else {
		o = json_object_new_object();
		json_object_object_add(o, "request_id",
		    json_object_new_string(r->params[1]));
		json_object_object_add(o, "decision", json_object_new_string(decision));
		json_object_object_add(o, "remember", json_object_new_boolean(remember));
		if (plan && strcmp(decision, "allow") == 0) {
			/* The runner applies it too when it continues (idempotent). */
			(void)plantool_switch_mode(app->store, app->cfg, s.id,
			    pmode != NULL ? pmode : "default");
			json_object_object_add(o, "mode", json_object_new_string(
			    pmode != NULL ? pmode : "default"));
		}
		jsonio_reply_put(r, 200, o);
	}
out:
	json_object_put(body);
	return 0;
}

int
h_permissions(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*o, *p;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if ((p = perm_pending(app->store, s.id)) == NULL)
		return http_error(r, 503, "service_unavailable", "session store unavailable");
	o = json_object_new_object();
	json_object_object_add(o, "pending", p);
	return jsonio_reply_put(r, 200, o);
}

int
h_edits(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*o;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	o = json_object_new_object();
	json_object_object_add(o, "edits", tools_edit_log(app->cfg, s.id));
	return jsonio_reply_put(r, 200, o);
}

int
h_edits_revert(struct http_req *r, struct app *app)
{
	struct auth_user	 u;
	struct session		 s;
	json_object		*body, *o;
	const char		*p;
	char			 rel[PS_PATH_MAX], err[256] = "";
	int			 rv;

	if (auth_require(r, app, &u) == -1 || h_session_load(r, app, &u, &s) == -1)
		return 0;
	if (jsonio_body(r, &body) == -1)
		return 0;
	if (jsonio_str(r, body, "path", 1, PS_PATH_MAX - 1, &p) == -1 ||
	    client_path(r, p, rel, sizeof(rel)) == -1)
		goto out;
	rv = tools_revert_last_edit(app->cfg, s.id, rel, err, sizeof(err));
	if (rv == 1)
		http_error(r, 404, NULL, "no edit by Claude to revert for %s", rel);
	else if (rv == -1)
		http_error(r, 500, NULL, "revert failed: %s", err);
	else {
		announce(app, s.id, rel, "reverted");
		o = json_object_new_object();
		json_object_object_add(o, "path", json_object_new_string(rel));
		json_object_object_add(o, "reverted", json_object_new_boolean(1));
		jsonio_reply_put(r, 200, o);
	}
out:
	json_object_put(body);
	return 0;
}
