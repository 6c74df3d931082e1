/* Small helpers shared by the agent: logging, files, paths. */
#ifndef JOEY_AGENT_UTIL_H
#define JOEY_AGENT_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Logs one line to stderr (the console in the VM) with the agent prefix. */
void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Logs one line about a container and, with a non-empty exec_id, one of its
 * execs: "joey-agent: container=ID[ exec=ID] message". The host turns the
 * fields into log fields (src/runtime/virt_container/console_log.ts), so an
 * operator can follow one container; bytes of an id that would break the
 * field (space, control, quote, '=') are written as '?'. */
void agent_log_for(const char *container_id, const char *exec_id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* mkdir -p with mode 0755; 0 or -errno. */
int util__mkdir_p(const char *path);
/* Writes a whole string to a file (no O_CREAT); 0 or -errno. */
int util__write_file(const char *path, const char *s);
/* Reads up to cap-1 bytes of a file, NUL-terminated; length or -errno. */
ssize_t util__read_file(const char *path, char *buf, size_t cap);
/* Parses the first unsigned number of a file; "max" gives UINT64_MAX. */
int util__read_u64(const char *path, uint64_t *out);
/* Writes all of buf to fd, retrying on EINTR; 0 or -errno. */
int util__write_all(int fd, const void *buf, size_t len);
/* Joins two path parts with exactly one '/'; -ENAMETOOLONG when it does not fit. */
int util__path_join(char *out, size_t cap, const char *a, const char *b);
/* Whether a path has a ".." component (a container path must not climb out). */
int util__path_climbs(const char *p);
/* Monotonic milliseconds. */
uint64_t util__now_ms(void);

#endif
