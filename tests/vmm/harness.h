/* A tiny harness for the VMM's C tests: each test is a function returning
 * PASS, FAIL or SKIP; the binary's last line is "N passed, N failed, N
 * skipped" (tests/lib/suite.sh reads it). Plus helpers to run test guests. */
#ifndef JOEY_VMM_TEST_HARNESS_H
#define JOEY_VMM_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "joey_vmm.h"

enum { PASS = 0, FAIL = 1, SKIP = 2 };

#define CHECK(cond, ...)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			printf("    FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
			printf(__VA_ARGS__);                                          \
			printf("\n");                                                 \
			return FAIL;                                                  \
		}                                                                     \
	} while (0)

void harness_run(const char *name, int (*fn)(void));
/* Prints the summary line; returns the process exit status. */
int harness_finish(void);
/* Prints why a test skips and returns SKIP. */
int harness_skip(const char *why);

/* Path of a built test guest ("hello" → build/vmm/guests/hello.elf). */
const char *guest_path(const char *name);
/* Creates a VM for a test guest (or any kernel) with 1 console ring of 64 KiB. */
int vmt_create(joey_vm **vm, const char *kernel, unsigned int vcpus, uint64_t mem,
	       const char *cmdline, char *err, size_t errlen);

/* Pumps events until a terminal one (SHUTDOWN, RESET, FAULT) for vm or the
 * timeout; console output of vm is appended to out (NUL-terminated). Events
 * of other VMs are dropped. Returns true with *ev set, false on timeout. */
bool vmt_wait_end(joey_vm *vm, int timeout_ms, struct joey_event *ev, char *out, size_t outlen);
/* Pumps until out contains needle (or a terminal event / timeout). */
bool vmt_wait_output(joey_vm *vm, int timeout_ms, const char *needle, char *out, size_t outlen);

double now_ms(void);
/* Open file descriptors of this process (from /proc/self/fd). */
int count_fds(void);
bool host_has_vmx_svm(void);

#endif
