/* test_privs.c - the capability check and what a process that cannot be read is: a kernel
 * thread, a zombie, a process gone, each said as it is. */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/privs.h"

Test(privs, root_has_what_recording_needs)
{
	char missing[64] = "x";

	cr_assert_eq(geteuid(), 0, "the unit tests run as root");
	cr_assert_eq(ls_privs_record(missing, sizeof(missing)), 0, "missing %s", missing);
	cr_assert_str_eq(missing, "");
	cr_assert(ls_privs_ptrace());
	cr_assert_not(ls_privs_borrowed());
}

Test(privs, targets_are_told_apart)
{
	char why[256];
	pid_t child;

	cr_assert_eq(ls_target_state(getpid()), LS_TARGET_OK);
	cr_assert_eq(ls_target_state(2), LS_TARGET_KTHREAD, "pid 2 is kthreadd");
	cr_assert_str_eq(ls_target_why(2, LS_TARGET_KTHREAD, "record", why, sizeof(why)),
			 "process 2 (kthreadd) is a kernel thread: nothing to record");

	child = fork();
	cr_assert_geq(child, 0);
	if (!child)
		_exit(0);
	/* not reaped yet: a zombie */
	for (int i = 0; i < 200 && ls_target_state(child) != LS_TARGET_ZOMBIE; i++)
		usleep(5000);
	cr_assert_eq(ls_target_state(child), LS_TARGET_ZOMBIE);
	ls_target_why(child, LS_TARGET_ZOMBIE, "dump", why, sizeof(why));
	cr_assert(strstr(why, "exited (zombie): nothing to dump"), "%s", why);
	waitpid(child, NULL, 0);
	cr_assert_eq(ls_target_state(child), LS_TARGET_GONE);
	ls_target_why(child, LS_TARGET_GONE, "record", why, sizeof(why));
	cr_assert(strstr(why, "no such process: "), "%s", why);
}

/* PID 1 that the kernel will not let even CAP_SYS_PTRACE read is said to be a protected init,
 * not "run as root" (the words only: nothing here touches process 1). */
Test(privs, a_protected_init_is_told_as_such)
{
	char why[256];

	ls_target_why(1, LS_TARGET_DENIED, "dump", why, sizeof(why));
	cr_assert(strstr(why, "process 1") && strstr(why, "is a protected init"), "%s", why);
	cr_assert_null(strstr(why, "run as root"), "%s", why);
}
