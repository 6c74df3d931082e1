/* Robustness of the parsers that read operator-supplied images, under
 * ASan/UBSan in the sanitizer build: the LZ4 payload decoder on mutated
 * real and random frames, and joey_vm_create on mutated test-guest ELFs and
 * bzImage headers. Every input must end in success or a clean error. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "lz4.h"

#define MIB (1ULL << 20)

static uint32_t rng = 0x12345678;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void mutate(uint8_t *buf, size_t len, int flips)
{
	for (int i = 0; i < flips; i++)
		buf[rnd() % len] = (uint8_t)rnd();
}

static int test_lz4_hostile_frames(void)
{
	/* A valid frame: one block of literals "joey" then a match repeating
	 * them (offset 4, length 12), then trailing size. */
	static const uint8_t good[] = { 0x02, 0x21, 0x4c, 0x18, 0x07, 0, 0, 0, 0x48, 'j',
					'o',  'e',  'y',  0x04, 0x00, 0x10, 0, 0, 0 };
	uint8_t out[64], in[256];
	size_t n = 0;
	int accepted = 0;

	CHECK(lz4__legacy_decompress(good, sizeof(good), out, sizeof(out), &n) == 0, "valid frame");
	CHECK(n == 16 && !memcmp(out, "joeyjoeyjoeyjoey", 16), "decoded %zu bytes", n);
	CHECK(lz4__legacy_decompress(good, sizeof(good), out, 15, &n) == -22, "overflow accepted");
	for (int i = 0; i < 200000; i++) {
		size_t len;

		if (i % 2) {
			len = sizeof(good);
			memcpy(in, good, len);
			mutate(in + 4, len - 4, 1 + (int)(rnd() % 4));
		} else {
			len = 4 + rnd() % (sizeof(in) - 4);
			for (size_t j = 0; j < len; j++)
				in[j] = (uint8_t)rnd();
			memcpy(in, good, 4);
		}
		if (lz4__legacy_decompress(in, len, out, sizeof(out), &n) == 0) {
			CHECK(n <= sizeof(out), "produced %zu", n);
			accepted++;
		}
	}
	printf("    200000 hostile frames, %d decoded within bounds\n", accepted);
	return PASS;
}

static int load_file(const char *path, uint8_t **buf, size_t *len);

/* A real legacy frame from the lz4 tool (as kbuild makes them) decodes to
 * the original bytes. */
static int test_lz4_round_trip(void)
{
	char dir[] = "/tmp/joey-vmm-lz4-XXXXXX", cmd[512], raw_path[128], lz_path[128];
	uint8_t *raw, *lz, *out;
	size_t raw_len = 3 << 20, lz_len, n = 0;

	if (system("command -v lz4 >/dev/null 2>&1"))
		return harness_skip("the lz4 tool is not installed");
	CHECK(mkdtemp(dir), "mkdtemp");
	snprintf(raw_path, sizeof(raw_path), "%s/raw", dir);
	snprintf(lz_path, sizeof(lz_path), "%s/raw.lz4", dir);
	raw = malloc(raw_len);
	/* Compressible but not trivial: words with a random walk. */
	for (size_t i = 0; i < raw_len; i++)
		raw[i] = (uint8_t)("joey vmm lz4 payload "[rnd() % 21] ^ (i % 977 == 0 ? 0x20 : 0));
	FILE *f = fopen(raw_path, "w");
	CHECK(f && fwrite(raw, 1, raw_len, f) == raw_len, "write raw");
	fclose(f);
	snprintf(cmd, sizeof(cmd), "lz4 -l -q -f '%s' '%s'", raw_path, lz_path);
	CHECK(system(cmd) == 0, "lz4 -l failed");
	CHECK(load_file(lz_path, &lz, &lz_len) == 0, "read frame");
	out = malloc(raw_len);
	int rc = lz4__legacy_decompress(lz, lz_len, out, raw_len, &n);
	bool same = rc == 0 && n == raw_len && !memcmp(out, raw, raw_len);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		printf("    could not remove %s\n", dir);
	free(raw);
	free(lz);
	free(out);
	CHECK(same, "rc %d, %zu of %zu bytes, content %s", rc, n, raw_len,
	      same ? "equal" : "differs");
	return PASS;
}

static int load_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	*len = (size_t)st.st_size;
	*buf = malloc(*len);
	if (!*buf || read(fd, *buf, *len) != (ssize_t)*len) {
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static int test_mutated_kernels(void)
{
	char path[] = "/tmp/joey-vmm-fuzz-XXXXXX", err[JOEY_ERR_MAX];
	uint8_t *elf, *img;
	size_t len;
	int fd = mkstemp(path), ok = 0, failed = 0;

	CHECK(fd >= 0, "mkstemp");
	CHECK(load_file(guest_path("hello"), &elf, &len) == 0, "read hello.elf");
	img = malloc(len);
	for (int i = 0; i < 300; i++) {
		struct joey_vm_config cfg = { .vcpus = 1, .mem_bytes = 4 * MIB, .kernel = path,
					      .console_fd = -1 };
		joey_vm *vm;

		memcpy(img, elf, len);
		/* Mostly the ELF and program headers, sometimes anywhere. */
		if (i % 3)
			mutate(img, 64 + 3 * 56, 1 + (int)(rnd() % 3));
		else
			mutate(img, len, 8);
		/* Every third: a bzImage header grafted on. */
		if (i % 3 == 2 && len > 0x300) {
			img[0x1fe] = 0x55;
			img[0x1ff] = 0xaa;
			memcpy(img + 0x202, "HdrS", 4);
			img[0x206] = 0x0f;
			img[0x207] = 0x02;
			img[0x236] = 1;
		}
		if (pwrite(fd, img, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len))
			break;
		if (joey_vm_create(&cfg, &vm, err, sizeof(err)) == 0) {
			joey_vm_destroy(vm);
			ok++;
		} else {
			CHECK(err[0], "failure %d without a message", i);
			failed++;
		}
	}
	close(fd);
	unlink(path);
	free(img);
	free(elf);
	printf("    300 mutated images: %d loaded, %d refused with a message\n", ok, failed);
	CHECK(ok + failed == 300, "stopped early");
	return PASS;
}

int main(void)
{
	harness_run("LZ4 decoder: a frame from the lz4 tool decodes exactly", test_lz4_round_trip);
	harness_run("LZ4 decoder: hostile frames stay in bounds", test_lz4_hostile_frames);
	harness_run("mutated ELF and bzImage kernels: loaded or refused, never a crash",
		    test_mutated_kernels);
	return harness_finish();
}
