/* test_budget.c - auto mode's duty cycle on numbers: cheap probes stay on, costly ones are
 * cut to the share that keeps the target's lost progress at the budget. */
#include <criterion/criterion.h>

#include "capture/budget.h"

Test(budget, rare_hits_keep_full_coverage)
{
	struct budget b;

	budget__init(&b, 5, 15000, 15000);
	/* 100 pairs in a second of one busy thread: 3 ms of probes, 0.3% */
	cr_assert_float_eq(budget__update(&b, 200, 100, 1000000000, 1000000000), 1.0, 1e-9);
}

Test(budget, lock_heavy_target_is_cut_to_the_budget)
{
	struct budget b;
	double d;

	budget__init(&b, 5, 15000, 15000);
	/* always trapping: 60k hits of 15 us in a 1 s window is 0.9 s of the 1 s CPU */
	d = budget__update(&b, 40000, 20000, 1000000000, 1000000000);
	cr_assert_gt(b.last_cost, 5);
	/* lost progress d * g / (1 + g) equals the budget */
	cr_assert_float_eq(d * b.last_cost / (1 + b.last_cost), 0.05, 1e-9);
}

Test(budget, cost_near_the_budget_is_trimmed_not_cut)
{
	struct budget b;
	double d;

	budget__init(&b, 5, 10000, 10000);
	/* 100 ms of probes against 1 s of own work: g = 0.1, d = 0.05 * 1.1 / 0.1 = 0.55 */
	d = budget__update(&b, 5000, 5000, 1100000000, 1000000000);
	cr_assert_float_eq(b.last_cost, 0.1, 1e-9);
	cr_assert_float_eq(d, 0.55, 1e-9);
}

Test(budget, idle_target_stays_on)
{
	struct budget b;

	budget__init(&b, 5, 15000, 15000);
	cr_assert_float_eq(budget__update(&b, 0, 0, 0, 1000000000), 1.0, 1e-9);
}

Test(budget, lock_heavy_share_predicts_a_cost_not_worth_probing)
{
	struct budget b;
	double g;

	budget__init(&b, 5, 15000, 15000);
	/* half of 200 samples in lock functions, a pair taking 8 ns: 62.5M pairs per s of CPU,
	 * 45 us of probes each */
	g = budget__predict(&b, 200, 100, 8);
	cr_assert_float_eq(g, 0.5 / 8 * 45000, 1e-6);
	cr_assert_not(budget__worth(&b, g));
}

Test(budget, few_samples_in_lock_functions_predict_nothing)
{
	struct budget b;

	budget__init(&b, 5, 15000, 15000);
	cr_assert_float_eq(budget__predict(&b, 200, 2, 8), 0, 1e-12);
	cr_assert_float_eq(budget__predict(&b, 0, 0, 8), 0, 1e-12);
	cr_assert(budget__worth(&b, 0));
}

Test(budget, worth_probing_while_the_budget_sees_a_percent_of_the_work)
{
	struct budget b;

	budget__init(&b, 5, 15000, 15000);
	/* held to 5%, probes costing g see 5% / g of the work */
	cr_assert(budget__worth(&b, 0.1));
	cr_assert(budget__worth(&b, 5));
	cr_assert_not(budget__worth(&b, 5.5));
	budget__init(&b, 20, 15000, 15000);
	cr_assert(budget__worth(&b, 20));
}

/* A target idle at attach, then a burst of lock calls: the account holds the slack only, and the
 * burst's first millisecond of traps overdraws it. */
Test(budget, a_burst_after_idle_overdraws_the_account_at_once)
{
	struct budget b;
	struct budget_account a;

	budget__init(&b, 5, 15000, 15000);
	budget__open(&b, &a, 0.05 * BUDGET_SLACK_CPU_NS, 0.05 * BUDGET_SLACK_CPU_NS);
	cr_assert(budget__spend(&b, &a, 0, 1000), "idle: nothing spent");
	/* 300 hits (4.5 ms of traps) with 0.3 ms of the target's own work */
	cr_assert(budget__spend(&b, &a, 4500000, 4800000), "within the slack");
	cr_assert_not(budget__spend(&b, &a, 1500000, 1600000), "past it");
}

Test(budget, a_cheap_stretch_cannot_save_for_a_burst)
{
	struct budget b;
	struct budget_account a;
	double cap = 0.05 * BUDGET_SLACK_CPU_NS;

	budget__init(&b, 5, 15000, 15000);
	budget__open(&b, &a, cap, cap);
	/* 10 s of the target's work with 1 ms of traps: it earns 0.5 s, keeps 5 ms */
	cr_assert(budget__spend(&b, &a, 1000000, 10001000000.0));
	cr_assert_float_eq(a.credit, cap, 1e-6);
	cr_assert_not(budget__spend(&b, &a, cap + 1000000, cap + 1000000));
}

Test(budget, probes_at_the_budget_run_on)
{
	struct budget b;
	struct budget_account a;

	budget__init(&b, 5, 15000, 15000);
	budget__open(&b, &a, 0, 0.05 * BUDGET_SLACK_CPU_NS);
	/* 4.9% of the target's own work, a second at a time */
	for (int i = 0; i < 100; i++)
		cr_assert(budget__spend(&b, &a, 49000000, 1049000000));
}

Test(budget, the_next_look_comes_before_the_account_is_overdrawn)
{
	struct budget b;
	struct budget_account a;

	budget__init(&b, 5, 15000, 10000);
	budget__open(&b, &a, 3000000, 5000000);
	cr_assert_eq(budget__hits_left(&b, &a), 200, "priced at the dearer hit");
	budget__open(&b, &a, 0, 5000000);
	cr_assert_eq(budget__hits_left(&b, &a), 1);
}
