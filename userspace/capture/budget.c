/* budget.c - the duty-cycle arithmetic of auto mode, kept apart from the clock and the probes
 * so that it can be tested on numbers. */
#include "capture/budget.h"

void budget__init(struct budget *b, double percent, double entry_ns, double return_ns)
{
	b->share = percent / 100.0;
	b->entry_ns = entry_ns;
	b->return_ns = return_ns;
	b->duty = 1.0;
	b->last_cost = 0;
}

double budget__update(struct budget *b, uint64_t entry_hits, uint64_t return_hits,
		      uint64_t cpu_ns, uint64_t on_ns)
{
	double cost = entry_hits * b->entry_ns + return_hits * b->return_ns;
	double own = (double)cpu_ns - cost, g, d;

	/* the trap time is charged to the target's threads: what is left is its own work */
	if (own < on_ns * 0.001)
		own = on_ns * 0.001;	/* a target that did nothing but trap */
	g = cost / own;
	b->last_cost = g;
	d = g > 0 ? b->share * (1 + g) / g : 1.0;
	b->duty = d > 1.0 ? 1.0 : d;
	return b->duty;
}

double budget__predict(const struct budget *b, uint64_t samples, uint64_t in_lock, double pair_ns)
{
	/* fewer hits than this are too few to tell from chance: the window measures instead */
	if (in_lock < 3 || samples == 0 || pair_ns <= 0)
		return 0;
	return (double)in_lock / samples / pair_ns * (2 * b->entry_ns + b->return_ns);
}

bool budget__worth(const struct budget *b, double g)
{
	return g <= 0 || b->share / g >= BUDGET_MIN_SEEN;
}

void budget__open(const struct budget *b, struct budget_account *a, double credit, double cap)
{
	(void)b;
	a->cap = cap;
	a->credit = credit < cap ? credit : cap;
}

bool budget__spend(const struct budget *b, struct budget_account *a, double cost_ns, double cpu_ns)
{
	double own = cpu_ns > cost_ns ? cpu_ns - cost_ns : 0;

	a->credit += b->share * own - cost_ns;
	if (a->credit > a->cap)
		a->credit = a->cap;
	return a->credit >= 0;
}

uint64_t budget__hits_left(const struct budget *b, const struct budget_account *a)
{
	double price = b->entry_ns > b->return_ns ? b->entry_ns : b->return_ns;
	double n = price > 0 && a->credit > 0 ? a->credit / price : 0;

	return n >= 1 ? (uint64_t)n : 1;
}
