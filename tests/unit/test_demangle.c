/* test_demangle.c - C++ linkage names made readable, in whole names and inside lock labels; C
 * names and near misses untouched; --no-demangle. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "util/demangle.h"

static void expect_name(const char *mangled, const char *want)
{
	char *got = ls_demangle(mangled);

	if (!want) {
		cr_assert_null(got, "%s became %s", mangled, got);
		return;
	}
	cr_assert_not_null(got, "%s", mangled);
	cr_assert_str_eq(got, want);
	free(got);
}

Test(demangle, names)
{
	expect_name("_ZN4bank6Ledger4postEl", "bank::Ledger::post(long)");
	expect_name("_ZL6ledger", "ledger");
	expect_name("_ZN4bank11audit_mutexE", "bank::audit_mutex");
	expect_name("_ZNSt5mutex4lockEv", "std::mutex::lock()");
	expect_name("_Z3foov.isra.0", "foo() [clone .isra.0]");
	expect_name("update_shared_state", NULL);
	expect_name("_Zbogus", NULL);
	expect_name("", NULL);
	expect_name(NULL, NULL);
}

Test(demangle, words_inside_text)
{
	char *got =
	    ls_demangle_text("heap 0x55 first taken in _ZN4bank6Ledger4postEl+0x54 (ledger)");

	cr_assert_str_eq(got, "heap 0x55 first taken in bank::Ledger::post(long)+0x54 (ledger)");
	free(got);
	got = ls_demangle_text("_ZL6ledger+0x8, _Z1fv and _Zbad");
	cr_assert_str_eq(got, "ledger+0x8, f() and _Zbad");
	free(got);
	cr_assert_null(ls_demangle_text("hot_lock"));
	cr_assert_null(ls_demangle_text("x_Z1fv"), "only whole words");
	cr_assert_null(ls_demangle_text(NULL));
}

Test(demangle, off_when_asked)
{
	ls_no_demangle = true;
	cr_assert_null(ls_demangle("_ZN4bank6Ledger4postEl"));
	cr_assert_null(ls_demangle_text("in _ZN4bank6Ledger4postEl"));
	ls_no_demangle = false;
}
