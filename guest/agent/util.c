/* Small helpers shared by the agent: logging, files, paths. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Appends " key=value" to line (NUL-terminated, cap bytes), value sanitized. */
static size_t log_field(char *line, size_t n, size_t cap, const char *key, const char *value)
{
	n += (size_t)snprintf(line + n, cap - n, "%s%s=", n ? " " : "", key);
	if (n >= cap)
		n = cap - 1;
	for (const unsigned char *v = (const unsigned char *)value; *v && n + 1 < cap; v++)
		line[n++] = (*v <= ' ' || *v >= 0x7f || *v == '"' || *v == '=') ? '?' : (char)*v;
	line[n] = 0;
	return n;
}

/* Writes "joey-agent: [fields ]message\n" to stderr in one write, so
 * lines of concurrent writers never interleave. */
static void agent_vlog(const char *fields, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n = (size_t)snprintf(line, sizeof(line), "joey-agent: %s%s", fields, *fields ? " " : "");

	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	n = strlen(line);
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
}

void agent_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	agent_vlog("", fmt, ap);
	va_end(ap);
}

void agent_log_for(const char *container_id, const char *exec_id, const char *fmt, ...)
{
	char fields[300];
	size_t n = log_field(fields, 0, sizeof(fields), "container", container_id);
	va_list ap;

	if (exec_id && *exec_id)
		log_field(fields, n, sizeof(fields), "exec", exec_id);
	va_start(ap, fmt);
	agent_vlog(fields, fmt, ap);
	va_end(ap);
}

int util__mkdir_p(const char *path)
{
	char tmp[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int util__write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int util__write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int err;

	if (fd < 0)
		return -errno;
	/* cgroup files want the value in one write(2). */
	err = write(fd, s, strlen(s)) < 0 ? -errno : 0;
	close(fd);
	return err;
}

ssize_t util__read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;

	if (fd < 0)
		return -errno;
	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = 0;
	close(fd);
	return len;
}

int util__read_u64(const char *path, uint64_t *out)
{
	char buf[64];
	ssize_t n = util__read_file(path, buf, sizeof(buf));

	if (n < 0)
		return n;
	if (strncmp(buf, "max", 3) == 0) {
		*out = UINT64_MAX;
		return 0;
	}
	*out = strtoull(buf, NULL, 10);
	return 0;
}

int util__path_join(char *out, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a);
	int n;

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	n = snprintf(out, cap, "%.*s%s%s", (int)la, a, (la == 1 && a[0] == '/') || !*b ? "" : "/", b);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int util__path_climbs(const char *p)
{
	while (*p) {
		while (*p == '/')
			p++;
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == 0))
			return 1;
		while (*p && *p != '/')
			p++;
	}
	return 0;
}

uint64_t util__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
