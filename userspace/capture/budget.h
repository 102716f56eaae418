/* budget.h - auto mode's controller: how much of the time full mode's probes may be attached
 * so that their measured cost stays inside a share of the target's CPU time. Pure arithmetic. */
#ifndef LOCKSCOPE_BUDGET_H
#define LOCKSCOPE_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct budget {
	double share;		/* the budget: probe cost / target CPU time, e.g. 0.05 */
	double entry_ns;	/* measured cost of one entry-probe hit */
	double return_ns;	/* ... and of one return-probe hit */
	double duty;		/* share of time the probes are attached, 0..1 */
	double last_cost;	/* probe cost over the target's own CPU time, last window */
};

void budget__init(struct budget *b, double percent, double entry_ns, double return_ns);

/* After a window with the probes attached for ON_NS, during which they were hit ENTRY_HITS and
 * RETURN_HITS times and the target used CPU_NS of CPU: returns the duty for what follows.
 *
 * With the probes on, each unit of the target's own work costs (1 + g) where g = probe cost /
 * the target's own CPU; attached for a share d of the time, the target loses d * g / (1 + g)
 * of its progress. Keeping that at the budget b gives d = b * (1 + g) / g. */
double budget__update(struct budget *b, uint64_t entry_hits, uint64_t return_hits,
		      uint64_t cpu_ns, uint64_t on_ns);

/* Before a window, what the probes would cost, from a sample of where the target's threads ran:
 * SAMPLES of them, IN_LOCK inside the lock functions, an unprobed lock/unlock pair taking
 * PAIR_NS. Each pair would hit two entry probes and a return probe, so the predicted g is
 * (IN_LOCK / SAMPLES) / PAIR_NS * (2 * entry + return). 0 when too few samples say so. */
double budget__predict(const struct budget *b, uint64_t samples, uint64_t in_lock, double pair_ns);

/* Are probes that cost G (probe cost / the target's own CPU) worth attaching? Held to the budget
 * they would be on a share d = b(1 + g)/g of the time and see d / (1 + g) = b / g of the
 * target's work: worth it while that is at least BUDGET_MIN_SEEN. Past it, full mode's records
 * would mostly be its own traps (a program 100 times slower while probed). */
#define BUDGET_MIN_SEEN 0.01
bool budget__worth(const struct budget *b, double g);

/* While the probes are in, their cost is drawn from an account that the target's own work pays
 * into at the budget's rate: the budget holds at every moment, not on average, and a burst of
 * lock calls after a quiet stretch overdraws it at once. The account starts with what the stretch
 * may spend beforehand (a slack, or the credit an off stretch earned for a planned one) and never
 * holds more than CAP: credit saved in a long cheap stretch cannot pay for a later burst. */
struct budget_account {
	double credit;		/* ns of probe cost the probes may still spend */
	double cap;
};

/* The slack a stretch starts with: the budget's share of this much of the target's CPU time. */
#define BUDGET_SLACK_CPU_NS 100000000.0

void budget__open(const struct budget *b, struct budget_account *a, double credit, double cap);
/* The probes cost COST_NS more while the target used CPU_NS (its traps included). False once the
 * account is overdrawn: the probes must come out now. */
bool budget__spend(const struct budget *b, struct budget_account *a, double cost_ns,
		   double cpu_ns);
/* Probe hits that would overdraw the account if the target did nothing else meanwhile: when to
 * look again. At least 1. */
uint64_t budget__hits_left(const struct budget *b, const struct budget_account *a);

#endif
