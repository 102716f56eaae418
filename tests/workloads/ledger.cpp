// ledger.cpp - a C++ workload whose locks and functions have mangled names: a std::mutex member
// of a class in a namespace (bank::Ledger::mu_, taken in bank::Ledger::post(long)) in a static
// object, and a namespace-scope std::mutex taken under it. Prints its addresses as JSON.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace bank {

std::mutex audit_mutex;

void audit(long n);

class Ledger {
public:
	// The function a profiler should name: bank::Ledger::post(long). Every eighth post is
	// audited under the ledger's lock: a lock-order edge from ledger to bank::audit_mutex.
	__attribute__((noinline)) void post(long amount)
	{
		std::lock_guard<std::mutex> guard(mu_);
		balance_ += amount;
		if (++posts_ % 8 == 0)
			audit(posts_);
		std::this_thread::sleep_for(std::chrono::microseconds(hold_us));
	}

	std::mutex mu_;		// first member: the object's address is the mutex's
	long balance_ = 0;
	long posts_ = 0;
	static int hold_us;
};

int Ledger::hold_us = 200;

__attribute__((noinline)) void audit(long n)
{
	std::lock_guard<std::mutex> guard(audit_mutex);
	std::this_thread::sleep_for(std::chrono::microseconds(100 + n % 2));
}

} // namespace bank

static bank::Ledger ledger;

static void worker(int id, int iters)
{
	char name[16];

	std::snprintf(name, sizeof(name), "teller-%d", id);
	pthread_setname_np(pthread_self(), name);
	for (int i = 0; i < iters; i++) {
		ledger.post(i % 7 - 3);
		if (i % 4 == 0)
			bank::audit(i);
		std::this_thread::sleep_for(std::chrono::microseconds(50));
	}
}

int main(int argc, char **argv)
{
	int threads = 4, iters = 800;

	for (int i = 1; i < argc; i++) {
		if (!std::strcmp(argv[i], "--forever"))
			iters = INT32_MAX;
		else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = std::atoi(argv[++i]);
		else if (!std::strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = std::atoi(argv[++i]);
		else {
			std::fprintf(stderr, "usage: ledger [--threads N] [--iters N] [--forever]\n");
			return 1;
		}
	}
	std::fprintf(stderr, "ledger: pid %d running\n", getpid());
	std::vector<std::thread> pool;
	for (int i = 0; i < threads; i++)
		pool.emplace_back(worker, i, iters);
	for (auto &t : pool)
		t.join();
	std::printf("{\"workload\": \"ledger\", \"ledger_mutex\": \"%p\", \"audit_mutex\": \"%p\", "
		    "\"posts\": %ld}\n",
		    (void *)&ledger.mu_, (void *)&bank::audit_mutex, ledger.posts_);
	return 0;
}
