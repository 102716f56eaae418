/* test_privacy.c - other users' data stays theirs, tried as a second user on the same machine
 * would: traces and exports private, no file clobbered or written through a planted link, a
 * crafted trace unable to take the readers' memory, file capabilities instead of root, a setuid
 * copy refused. Each test makes its own user and removes it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <glob.h>
#include <math.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e.h"
#include "proc.h"
#include "trace/trace.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char user[32], dir[64];
static uid_t uid;

/* A user of its own, and a directory anyone may write to, sticky, as /tmp is. */
static void setup(void)
{
	char cmd[160];
	struct passwd *pw;

	snprintf(user, sizeof(user), "lsz-e2e-%d", (int)getpid() % 1000000);
	snprintf(cmd, sizeof(cmd), "useradd -M -U -s /usr/sbin/nologin %s", user);
	cr_assert_eq(system(cmd), 0, "useradd failed: the test needs a second user");
	pw = getpwnam(user);
	cr_assert_not_null(pw);
	uid = pw->pw_uid;
	strcpy(dir, "/tmp/lockscope-privacy-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(chmod(dir, 01777), 0);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "umount -q %s/small 2>/dev/null; rm -rf %s", dir, dir);
	if (dir[0] && system(cmd))
		fprintf(stderr, "privacy: could not remove %s\n", dir);
	snprintf(cmd, sizeof(cmd), "userdel %s", user);
	if (user[0] && system(cmd))
		fprintf(stderr, "privacy: could not remove user %s\n", user);
}

TestSuite(privacy, .init = setup, .fini = teardown);

/* CMD run as the test's user. */
static int as_user(char **out, char **err, const char *cmd)
{
	char full[2048];

	/* under `make check`: a process running with capabilities or setuid is not dumpable, and
	 * LeakSanitizer, which must trace it, would fail it at exit */
	snprintf(full, sizeof(full),
		 "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "
		 "setpriv --reuid=%s --regid=%s --clear-groups %s",
		 user, user, cmd);
	return sh(full, out, err);
}

static char *contents(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc(n + 1);
	cr_assert_eq(fread(buf, 1, n, f), (size_t)n);
	fclose(f);
	*len = n;
	return buf;
}

static void expect_mode(const char *path, mode_t mode)
{
	struct stat st;

	cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
	cr_assert(S_ISREG(st.st_mode), "%s is not a file", path);
	cr_assert_eq(st.st_mode & 07777, mode, "%s: mode %o", path, st.st_mode & 07777);
}

/* PATH still holds exactly WANT, and no temporary was left beside it. */
static void expect_kept(const char *path, const char *want, size_t want_len, const char *after)
{
	char pattern[256];
	size_t len;
	char *now = contents(path, &len);
	glob_t g;

	cr_assert(len == want_len && !memcmp(now, want, len), "%s was changed by %s", path, after);
	free(now);
	snprintf(pattern, sizeof(pattern), "%s.tmp.*", path);
	cr_assert_eq(glob(pattern, 0, NULL, &g), GLOB_NOMATCH, "%s left %s", after, g.gl_pathv[0]);
}

static void expect_refused(const char *cmd, int rc_want, const char *needle)
{
	char *err = NULL;
	int rc = sh(cmd, NULL, &err);

	cr_assert_eq(rc, rc_want, "%s: exit %d: %s", cmd, rc, err);
	cr_assert(strstr(err, needle), "%s: no \"%s\" in: %s", cmd, needle, err);
	cr_assert_eq(count_lines(err), 1, "%s: not one line: %s", cmd, err);
	free(err);
}

Test(privacy, traces_and_exports_are_private_and_never_clobbered, .timeout = 180)
{
	char trace[128], cmd[1024], *first, *err = NULL;
	const char *exports[][2] = {
	    {"chrome", "json"}, {"pprof", "pb.gz"}, {"perfetto", "pftrace"}};
	size_t first_len, len;
	pid_t zombie;
	char *old;

	snprintf(trace, sizeof(trace), "%s/t.lsz", dir);
	snprintf(cmd, sizeof(cmd),
		 LOCKSCOPE " record -o %s -- " WORKLOAD("contended") " --iters 200 >/dev/null",
		 trace);
	cr_assert_eq(sh(cmd, NULL, &err), 0, "%s", err);
	free(err);
	expect_mode(trace, 0600);
	/* the other user, who can write to the directory, cannot read the trace */
	snprintf(cmd, sizeof(cmd), "cat %s", trace);
	cr_assert_neq(as_user(NULL, NULL, cmd), 0, "another user read the trace");
	for (size_t i = 0; i < 3; i++) {
		char out[160];

		snprintf(out, sizeof(out), "%s/t.%s", dir, exports[i][1]);
		snprintf(cmd, sizeof(cmd), LOCKSCOPE " export %s --format %s -o %s", trace,
			 exports[i][0], out);
		cr_assert_eq(sh(cmd, NULL, &err), 0, "%s: %s", cmd, err);
		free(err);
		err = NULL;
		expect_mode(out, 0600);
	}

	/* a second recording keeps the first as NAME.old */
	first = contents(trace, &first_len);
	snprintf(cmd, sizeof(cmd),
		 LOCKSCOPE " record -o %s -- " WORKLOAD("contended") " --iters 100 >/dev/null",
		 trace);
	cr_assert_eq(sh(cmd, NULL, &err), 0, "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "%s.old", trace);
	old = contents(cmd, &len);
	cr_assert(len == first_len && !memcmp(old, first, len), "NAME.old is not the first trace");
	expect_mode(cmd, 0600);
	free(old);
	free(first);

	/* refused recordings leave the trace at -o as it was, and no temporary */
	first = contents(trace, &first_len);
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s -p 2", trace);
	expect_refused(cmd, 2, "is a kernel thread: nothing to record");
	expect_kept(trace, first, first_len, "a kernel thread's refusal");
	zombie = fork();
	cr_assert_geq(zombie, 0);
	if (!zombie)
		_exit(0);
	usleep(200000); /* not reaped yet: a zombie */
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s -p %d", trace, zombie);
	expect_refused(cmd, 2, "exited (zombie): nothing to record");
	expect_kept(trace, first, first_len, "a zombie's refusal");
	waitpid(zombie, NULL, 0);
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s -p %d", trace, zombie);
	expect_refused(cmd, 2, "no such process");
	expect_kept(trace, first, first_len, "a vanished process's refusal");
	snprintf(cmd, sizeof(cmd), LOCKSCOPE " record -o %s -- %s/no-such-program", trace, dir);
	expect_refused(cmd, 1, "no-such-program");
	expect_kept(trace, first, first_len, "a command that does not exist");
	free(first);
}

/* A disk that is full when recording starts: the trace already there stays whole. */
Test(privacy, a_full_disk_keeps_the_existing_trace, .timeout = 120)
{
	char small[96], trace[128], cmd[1024], *good, *err = NULL;
	size_t good_len;

	snprintf(small, sizeof(small), "%s/small", dir);
	cr_assert_eq(mkdir(small, 0700), 0);
	snprintf(cmd, sizeof(cmd), "mount -t tmpfs -o size=256k tmpfs %s", small);
	cr_assert_eq(sh(cmd, NULL, NULL), 0, "cannot mount a small tmpfs");
	snprintf(trace, sizeof(trace), "%s/t.lsz", small);
	snprintf(cmd, sizeof(cmd),
		 LOCKSCOPE " record -o %s -- " WORKLOAD("contended") " --iters 20 >/dev/null",
		 trace);
	cr_assert_eq(sh(cmd, NULL, &err), 0, "%s", err);
	free(err);
	good = contents(trace, &good_len);
	snprintf(cmd, sizeof(cmd), "dd if=/dev/zero of=%s/fill bs=4k 2>/dev/null; true", small);
	sh(cmd, NULL, NULL);
	snprintf(cmd, sizeof(cmd),
		 LOCKSCOPE " record -o %s -- " WORKLOAD("contended") " --iters 20", trace);
	expect_refused(cmd, 2, "No space left on device");
	expect_kept(trace, good, good_len, "a full disk");
	free(good);
}

/* The other user plants a link where root will write: root's file behind it is not touched;
 * the link is kept as NAME.old, never followed. */
Test(privacy, a_planted_symlink_is_not_followed, .timeout = 120)
{
	char victim[128], link[128], cmd[1024], *err = NULL;
	const char secret[] = "root's own secret\n";
	size_t len;
	char *now;
	struct stat st;
	FILE *f;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	f = fopen(victim, "w");
	cr_assert_not_null(f);
	fputs(secret, f);
	fclose(f);
	cr_assert_eq(chmod(victim, 0600), 0);
	snprintf(link, sizeof(link), "%s/report.json", dir);
	snprintf(cmd, sizeof(cmd), "ln -s %s %s", victim, link);
	cr_assert_eq(as_user(NULL, NULL, cmd), 0, "the user could not plant the link");
	snprintf(cmd, sizeof(cmd),
		 LOCKSCOPE " record -o %s.lsz -- " WORKLOAD(
		     "contended") " --iters 20 >/dev/null && " LOCKSCOPE " export %s.lsz -o %s",
		 link, link, link);
	cr_assert_eq(sh(cmd, NULL, &err), 0, "%s", err);
	free(err);
	now = contents(victim, &len);
	cr_assert(len == strlen(secret) && !memcmp(now, secret, len), "written through the link");
	free(now);
	expect_mode(link, 0600);
	cr_assert_eq(lstat(link, &st), 0);
	cr_assert_neq(st.st_uid, uid);
	snprintf(cmd, sizeof(cmd), "%s.old", link);
	cr_assert_eq(lstat(cmd, &st), 0);
	cr_assert(S_ISLNK(st.st_mode), "the link was not kept as NAME.old");
}

/* ---- the readers' memory ---- */

/* A trace of many chunks of huge names (the shape that once made every reader take 1.85 GB
 * from 77 KB), written by the real writer: megabyte names repeat well, so thousands fit in a
 * file under 1 MB. */
static void crafted_names(const char *path)
{
	struct ls_trace_info info = {.version = LS_TRACE_VERSION,
				     .pid = 9,
				     .comm = "crafted",
				     .cmdline = "crafted",
				     .mode = "full"};
	const size_t big = 1 << 20;
	char *name = malloc(big + 1);
	struct trace_writer *w = trace_writer__new(path, &info);
	struct ls_rec rec;

	cr_assert(name && w);
	memset(name, 'n', big);
	name[big] = '\0';
	for (uint32_t i = 0; i < 800; i++) {
		name[0] = 'a' + i % 26;
		rec = (struct ls_rec){.type = LS_REC_FRAME, .ts = i, .frame = {.id = i + 1}};
		rec.frame.func = rec.frame.file = rec.frame.module = name;
		cr_assert_eq(trace_writer__append(w, &rec), 0);
		rec = (struct ls_rec){.type = LS_REC_THREAD, .ts = i, .tid = 100 + i};
		rec.thread.name = name;
		cr_assert_eq(trace_writer__append(w, &rec), 0);
		rec = (struct ls_rec){.type = LS_REC_LOCK, .ts = i, .lock = {.addr = 0x1000 + i}};
		rec.lock.name = name;
		cr_assert_eq(trace_writer__append(w, &rec), 0);
	}
	cr_assert_eq(trace_writer__close(w), 0);
	free(name);
}

/* Deep stacks of long names, a different one on every wait: what a report, an export or the
 * viewer prints once per wait. */
static void crafted_stacks(const char *path)
{
	struct ls_trace_info info = {.version = LS_TRACE_VERSION,
				     .pid = 9,
				     .comm = "crafted",
				     .cmdline = "crafted",
				     .mode = "full"};
	struct trace_writer *w = trace_writer__new(path, &info);
	static uint32_t frames[4096];
	char name[4001];
	struct ls_rec rec;

	cr_assert_not_null(w);
	memset(name, 'f', 4000);
	name[4000] = '\0';
	for (uint32_t i = 0; i < 64; i++) {
		name[0] = 'a' + i % 26;
		rec = (struct ls_rec){.type = LS_REC_FRAME, .frame = {.id = i + 1, .line = 1}};
		rec.frame.func = rec.frame.file = rec.frame.module = name;
		cr_assert_eq(trace_writer__append(w, &rec), 0);
	}
	for (uint32_t i = 0; i < 20000; i++) {
		for (uint32_t k = 0; k < 4096; k++)
			frames[k] = 1 + (i + k) % 64;
		rec = (struct ls_rec){.type = LS_REC_STACK,
				      .ts = 2 * i,
				      .stack = {.id = i + 1, .nframes = 4096, .frames = frames}};
		cr_assert_eq(trace_writer__append(w, &rec), 0);
		rec = (struct ls_rec){.type = LS_REC_WAIT_BEGIN,
				      .ts = 2 * i,
				      .tid = 2 + i % 4,
				      .wait_begin = {.addr = 0x1000 + 64 * (i % 100),
						     .stack_id = i + 1,
						     .kind = LS_KIND_MUTEX}};
		cr_assert_eq(trace_writer__append(w, &rec), 0);
		rec = (struct ls_rec){.type = LS_REC_WAIT_END, .ts = 2 * i + 1, .tid = 2 + i % 4};
		cr_assert_eq(trace_writer__append(w, &rec), 0);
	}
	cr_assert_eq(trace_writer__close(w), 0);
}

/* Under `make check`, ASan keeps freed memory in a quarantine (256 MB): that would be measured
 * too, on a trace that makes a reader free much. Memory as the program uses it, then. */
#define MEASURED "env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0 "

/* Peak resident memory of `lockscope ARGS`, in KiB. It must exit 0. */
static long peak_kib(const char *args)
{
	char cmd[1024];
	struct rusage ru;
	int st;
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "exec " MEASURED LOCKSCOPE " %s >/dev/null 2>&1", args);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(wait4(pid, &st, 0, &ru), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "lockscope %s: status %d", args, st);
	return ru.ru_maxrss;
}

/* Peak resident memory of `view` once it serves TRACE, in KiB. */
static long view_peak_kib(const char *trace)
{
	char cmd[512], err[160], status[64], *text, *hwm;
	long kib = -1;
	pid_t pid;
	int rc;

	static int run;

	snprintf(err, sizeof(err), "%s/view%d.err", dir, run++); /* not a finished one's URL */
	snprintf(cmd, sizeof(cmd), MEASURED LOCKSCOPE " view --port 0 %s", trace);
	pid = spawn_bg(cmd, "/dev/null", err);
	cr_assert(wait_for_text(err, "http://", 120), "view did not start: %s", slurp(err));
	snprintf(status, sizeof(status), "/proc/%d/status", pid);
	text = slurp(status);
	hwm = text ? strstr(text, "VmHWM:") : NULL;
	cr_assert_not_null(hwm);
	sscanf(hwm, "VmHWM: %ld", &kib);
	free(text);
	kill(pid, SIGTERM);
	rc = wait_for(pid, 30);
	cr_assert_eq(rc, 0, "view %s did not end cleanly (%d): %s", trace, rc, slurp(err));
	return kib;
}

Test(privacy, a_crafted_trace_takes_no_more_memory_than_a_genuine_one, .timeout = 600)
{
	static const char *const cmds[] = {"report %s",
					   "report --json %s",
					   "graph %s",
					   "graph --format json %s",
					   "export %s -o - --format chrome",
					   "export %s -o /dev/null --format pprof",
					   "export %s -o /dev/null --format pprof --by holder",
					   "export %s -o /dev/null --format perfetto"};
	char genuine[128], crafted[2][128], cmd[1024], *err = NULL;
	long base[ARRAY_SIZE(cmds) + 1];
	struct stat st;

	snprintf(genuine, sizeof(genuine), "%s/genuine.lsz", dir);
	snprintf(cmd, sizeof(cmd),
		 LOCKSCOPE
		 " record --mode full -o %s -- " WORKLOAD("contended") " --iters 2000 >/dev/null",
		 genuine);
	cr_assert_eq(sh(cmd, NULL, &err), 0, "%s", err);
	free(err);
	snprintf(crafted[0], sizeof(crafted[0]), "%s/names.lsz", dir);
	snprintf(crafted[1], sizeof(crafted[1]), "%s/stacks.lsz", dir);
	crafted_names(crafted[0]);
	crafted_stacks(crafted[1]);
	for (int c = 0; c < 2; c++) {
		cr_assert_eq(stat(crafted[c], &st), 0);
		cr_assert_lt(st.st_size, 1 << 20, "%s is %lld bytes", crafted[c],
			     (long long)st.st_size);
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		snprintf(cmd, sizeof(cmd), cmds[i], genuine);
		base[i] = peak_kib(cmd);
	}
	base[ARRAY_SIZE(cmds)] = view_peak_kib(genuine);
	for (int c = 0; c < 2; c++) {
		for (size_t i = 0; i <= ARRAY_SIZE(cmds); i++) {
			long kib;

			snprintf(cmd, sizeof(cmd), i < ARRAY_SIZE(cmds) ? cmds[i] : "view %s",
				 crafted[c]);
			kib = i < ARRAY_SIZE(cmds) ? peak_kib(cmd) : view_peak_kib(crafted[c]);
			cr_assert_leq(kib - base[i], 64 << 10,
				      "%s: %ld KiB, %ld KiB more than on a genuine trace", cmd, kib,
				      kib - base[i]);
		}
	}
}

/* ---- privileges ---- */

/* A copy of lockscope with CAP_BPF, CAP_PERFMON and CAP_SYS_PTRACE, in a directory only root
 * writes to, as the README says to make one: a normal user records the commands they run and
 * their own processes; another user's is refused with what it would take. */
Test(privacy, file_capabilities_let_a_normal_user_record, .timeout = 180)
{
	char bin[96], out[96], trace[128], cmd[1024], *o = NULL, *err = NULL;
	struct jp_value *gt, *rep;
	struct stat st;
	pid_t root_proc;

	snprintf(bin, sizeof(bin), "%s/bin", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	cr_assert_eq(mkdir(bin, 0755), 0);
	cr_assert_eq(mkdir(out, 0700), 0);
	cr_assert_eq(chown(out, uid, (gid_t)-1), 0);
	snprintf(
	    cmd, sizeof(cmd),
	    "cp " LOCKSCOPE " %s/lockscope && cp " LOCKSCOPE " %s/plain && "
	    "cp " WORKLOAD("contended") " %s/ && "
					"setcap cap_bpf,cap_perfmon,cap_sys_ptrace+ep %s/lockscope",
	    bin, bin, bin, bin);
	cr_assert_eq(sh(cmd, NULL, &err), 0, "setcap: %s", err);
	free(err);

	/* without the capabilities: refused, saying which are missing */
	snprintf(cmd, sizeof(cmd), "%s/plain record -o %s/x.lsz -- %s/contended", bin, out, bin);
	cr_assert_eq(as_user(NULL, &err, cmd), 2, "%s", err);
	cr_assert(strstr(err, "missing: CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE"), "%s", err);
	free(err);

	/* with them: a launched command, recorded whole, in full mode too */
	for (int full = 0; full < 2; full++) {
		snprintf(trace, sizeof(trace), "%s/%s.lsz", out, full ? "full" : "auto");
		snprintf(cmd, sizeof(cmd), "%s/lockscope record %s -o %s -- %s/contended", bin,
			 full ? "--mode full" : "", trace, bin);
		cr_assert_eq(as_user(&o, &err, cmd), 0, "%s: %s", cmd, err);
		gt = ground_truth(o);
		rep = report_json(trace);
		cr_assert_str_eq(jstr(rep, "locks.0.name"), "hot_lock");
		cr_assert_lt(fabs(jnum(rep, "locks.0.wait_ns", -1) - jnum(gt, "wait_ns", -1)),
			     0.10 * jnum(gt, "wait_ns", -1),
			     "the wait does not match the workload's");
		if (full)
			cr_assert_geq(jnum(rep, "locks.0.acquisitions", -1),
				      0.9 * jnum(gt, "lock_calls", -2), "full mode saw few calls");
		cr_assert_eq(stat(trace, &st), 0);
		cr_assert_eq(st.st_uid, uid, "the trace is not the user's");
		expect_mode(trace, 0600);
		jp_free(gt);
		jp_free(rep);
		free(o);
		free(err);
		o = err = NULL;
	}

	/* root's process: refused, in one line that says what it would take */
	root_proc = spawn_bg("sleep 60", "/dev/null", "/dev/null");
	usleep(100000);
	snprintf(cmd, sizeof(cmd), "%s/lockscope record -d 1 -o %s/root.lsz -p %d", bin, out,
		 root_proc);
	cr_assert_eq(as_user(NULL, &err, cmd), 2, "%s", err);
	cr_assert(strstr(err, "belongs to user root") && strstr(err, "CAP_DAC_READ_SEARCH"), "%s",
		  err);
	cr_assert_eq(count_lines(err), 1, "%s", err);
	free(err);
	kill(root_proc, SIGKILL);
	waitpid(root_proc, NULL, 0);
}

/* A setuid (or setgid) copy would give whoever runs it root's reach: it refuses to run. */
Test(privacy, a_setuid_copy_refuses_to_run, .timeout = 60)
{
	char bin[96], cmd[512], *err = NULL;

	snprintf(bin, sizeof(bin), "%s/bin", dir);
	cr_assert_eq(mkdir(bin, 0755), 0);
	snprintf(cmd, sizeof(cmd),
		 "cp " LOCKSCOPE " %s/suid && chmod 4755 %s/suid && "
		 "cp " LOCKSCOPE " %s/sgid && chmod 2755 %s/sgid",
		 bin, bin, bin, bin);
	cr_assert_eq(sh(cmd, NULL, NULL), 0);
	for (const char *const *b = (const char *const[]){"suid", "sgid", NULL}; *b; b++) {
		snprintf(cmd, sizeof(cmd), "%s/%s report %s/none.lsz", bin, *b, dir);
		cr_assert_eq(as_user(NULL, &err, cmd), 2, "%s ran: %s", *b, err);
		cr_assert(strstr(err, "lockscope: refused: this copy runs setuid or setgid"), "%s",
			  err);
		cr_assert_eq(count_lines(err), 1, "%s", err);
		free(err);
		err = NULL;
	}
	/* the same copy, run by root itself, is no one else's identity: it runs */
	snprintf(cmd, sizeof(cmd), "%s/suid --help", bin);
	cr_assert_eq(sh(cmd, NULL, NULL), 0);
}
