/* Unit tests of the agent's pure parts: the bounded buffer, path helpers
 * and OCI mount option parsing. Built plain and with ASan+UBSan. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "util.h"

static int passed, failed;

#define CHECK(cond)                                                                    \
	do {                                                                           \
		if (cond) {                                                            \
			passed++;                                                      \
		} else {                                                               \
			failed++;                                                      \
			printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
		}                                                                      \
	} while (0)

/* mount.c reports storage errors through rpc_fail; the tests do not mount. */
int rpc_fail(struct rpc_reply *r, int code, const char *fmt, ...)
{
	r->code = code;
	snprintf(r->msg, sizeof(r->msg), "%s", fmt);
	return -1;
}

static void test_buf(void)
{
	static uint8_t big[BUF_CAP + 10];
	struct buf b = { 0 };
	uint8_t out[16];
	int p[2];

	CHECK(buf__put(&b, "hello", 5) == 5);
	CHECK(buf__take(&b, out, 3) == 3 && !memcmp(out, "hel", 3));
	CHECK(buf__put(&b, "world", 5) == 5);
	CHECK(buf__take(&b, out, sizeof(out)) == 7 && !memcmp(out, "loworld", 7));
	CHECK(b.len == 0 && b.head == 0);
	/* Bounded: never more than BUF_CAP held. */
	CHECK(buf__put(&b, big, sizeof(big)) == BUF_CAP);
	CHECK(buf__put(&b, "x", 1) == 0 && buf__space(&b) == 0);
	CHECK(pipe(p) == 0);
	CHECK(buf__fill(&b, p[0]) == -ENOBUFS);
	/* fill reads no more than the free space. */
	CHECK(buf__take(&b, out, 2) == 2);
	CHECK(write(p[1], "abcdef", 6) == 6);
	CHECK(buf__fill(&b, p[0]) == 2);
	CHECK(buf__take(&b, big, sizeof(big)) == BUF_CAP && !memcmp(big + BUF_CAP - 2, "ab", 2));
	CHECK(buf__put(&b, "zz", 2) == 2);
	CHECK(buf__drain(&b, p[1]) == 2);
	CHECK(read(p[0], out, 6) == 6 && !memcmp(out, "cdefzz", 6));
	close(p[1]);
	CHECK(buf__fill(&b, p[0]) == 0);
	close(p[0]);
	buf__free(&b);
}

static void test_paths(void)
{
	char out[32];

	CHECK(util__path_join(out, sizeof(out), "/a/b/", "/c") == 0 && !strcmp(out, "/a/b/c"));
	CHECK(util__path_join(out, sizeof(out), "/", "dev") == 0 && !strcmp(out, "/dev"));
	CHECK(util__path_join(out, sizeof(out), "/r", "") == 0 && !strcmp(out, "/r"));
	CHECK(util__path_join(out, 8, "/rootfs", "/proc") == -ENAMETOOLONG);
	CHECK(util__path_climbs("/a/../b"));
	CHECK(util__path_climbs(".."));
	CHECK(util__path_climbs("/a/.."));
	CHECK(!util__path_climbs("/a/..b/c.."));
	CHECK(!util__path_climbs("/dev/pts"));
}

static void test_mount_options(void)
{
	char *opts[] = { "nosuid", "noexec", "mode=755", "ro", "rw", "rprivate", "size=65536k", "rbind" };
	unsigned long flags = 0, prop = 0;
	char data[64];

	mount__parse_options(opts, 8, &flags, &prop, data, sizeof(data));
	CHECK(flags == (MS_NOSUID | MS_NOEXEC | MS_BIND | MS_REC));
	CHECK(prop == (MS_PRIVATE | MS_REC));
	CHECK(!strcmp(data, "mode=755,size=65536k"));
	/* Data that does not fit is dropped, not truncated mid-option. */
	mount__parse_options(opts + 2, 1, &flags, &prop, data, 6);
	CHECK(data[0] == 0);
}

int main(void)
{
	test_buf();
	test_paths();
	test_mount_options();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
