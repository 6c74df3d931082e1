/* VM lifecycle through the public API with test guests: UART output and
 * debug-exit code arrive as events; pause/resume; state transitions. */
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)

static int test_hello_output_and_exit_code(void)
{
	char err[JOEY_ERR_MAX], out[4096];
	struct joey_event ev;
	joey_vm *vm;
	int rc = vmt_create(&vm, guest_path("hello"), 1, 16 * MIB, "joey.test=1 console=ttyS0", err,
			    sizeof(err));

	CHECK(rc == 0, "create: %d %s", rc, err);
	CHECK(joey_vm_state(vm) == JOEY_VM_CREATED, "state %d", joey_vm_state(vm));
	rc = joey_vm_start(vm);
	CHECK(rc == 0, "start: %d", rc);
	bool ended = vmt_wait_end(vm, 5000, &ev, out, sizeof(out));
	char why[JOEY_ERR_MAX];
	joey_vm_last_error(vm, why, sizeof(why));
	int state = joey_vm_state(vm);
	joey_vm_destroy(vm);
	CHECK(ended, "no terminal event within 5 s; output so far: '%s'", out);
	CHECK(ev.type == JOEY_EVENT_SHUTDOWN, "event type %u code %d (%s)", ev.type, ev.code, why);
	CHECK(ev.code == 42, "exit code %d", ev.code);
	CHECK(strstr(out, "hello from the test guest\n"), "output '%s'", out);
	CHECK(strstr(out, "cmdline: joey.test=1 console=ttyS0\n"), "output '%s'", out);
	CHECK(state == JOEY_VM_STOPPED, "state after exit %d", state);
	return PASS;
}

int main(void)
{
	harness_run("hello guest: UART output and debug-exit code via events",
		    test_hello_output_and_exit_code);
	return harness_finish();
}
