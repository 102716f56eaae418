/* test_common.c - what every command shares: the one-line error leaves errno for the caller to
 * act on, and a file that cannot be opened or created maps to the contract's exit status. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "util/common.h"

Test(common, an_error_line_leaves_errno_as_it_was)
{
	int saved = dup(STDERR_FILENO);

	/* stderr closed: printing the line fails (EBADF), errno must still be the caller's */
	close(STDERR_FILENO);
	errno = ENOSPC;
	ls_err("record", "%s: %s", "t.lsz", "No space left on device");
	cr_assert_eq(errno, ENOSPC, "errno is now %d", errno);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

Test(common, a_bad_path_is_input_a_refusal_is_the_system)
{
	static const int input[] = {ENOENT, ENOTDIR, EISDIR, ENAMETOOLONG, ELOOP};
	static const int system[] = {ENOSPC, EDQUOT, EACCES, EPERM, EROFS, EIO, ENOMEM};

	for (size_t i = 0; i < sizeof(input) / sizeof(input[0]); i++)
		cr_assert_eq(ls_path_status(input[i]), LS_EXIT_INPUT, "errno %d", input[i]);
	for (size_t i = 0; i < sizeof(system) / sizeof(system[0]); i++)
		cr_assert_eq(ls_path_status(system[i]), LS_EXIT_SYSTEM, "errno %d", system[i]);
}

/* redis-server rewrites its process title over argv and pads it with spaces */
Test(common, a_rewritten_process_title_loses_its_padding)
{
	char s[] = "redis-server 127.0.0.1:6379          \t\n";
	char empty[] = "   ";

	cr_assert_str_eq(ls_rtrim(s), "redis-server 127.0.0.1:6379");
	cr_assert_str_eq(ls_rtrim(empty), "");
}
