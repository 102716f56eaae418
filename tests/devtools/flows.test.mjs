// flows.test.mjs - the Chrome export as Chrome DevTools reads it: a real full-mode recording of
// the contended workload, exported by build/lockscope and loaded by DevTools' own trace model
// (@paulirish/trace_engine, the Performance panel's code), which must bind every wake arrow to
// the slices at its ends. Run from the repo root.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {analyzeEvents} from '@paulirish/trace_engine/analyze-trace.mjs';

const LS = 'build/lockscope';

// The trace model calls URL.parse (Node 20.18 and 22.1 on), which Debian 12's Node 18 lacks:
// the standard's definition, a URL or null where it does not parse.
if (typeof URL.parse !== 'function') {
	URL.parse = (url, base) => {
		try {
			return new URL(url, base);
		} catch {
			return null;
		}
	};
}

test('DevTools binds every wake flow of the Chrome export', {timeout: 120000}, async () => {
	const dir = mkdtempSync(path.join(tmpdir(), 'lockscope-devtools-'));
	const trace = path.join(dir, 'contended.lsz');
	execFileSync(LS, ['record', '--mode', 'full', '-o', trace, '--', 'build/workloads/contended',
		'--iters', '300'], {stdio: ['ignore', 'ignore', 'pipe'], timeout: 60000});
	execFileSync(LS, ['export', trace], {stdio: ['ignore', 'ignore', 'pipe']});
	const doc = JSON.parse(readFileSync(path.join(dir, 'contended.json'), 'utf8'));
	const starts = doc.traceEvents.filter((e) => e.ph === 's');
	const holds = doc.traceEvents.filter((e) => e.ph === 'X' && e.cat === 'hold');
	assert.ok(starts.length > 50, `only ${starts.length} wake flows`);
	assert.ok(holds.some((e) => e.name === 'hot_lock held'), 'no hold slice of hot_lock');

	const {parsedTrace} = await analyzeEvents(doc.traceEvents);
	const flows = (parsedTrace.data ?? parsedTrace).Flows.flows;
	// a flow DevTools draws is one whose both ends it bound to slices
	const bound = flows.filter((f) => f.length >= 2);
	assert.equal(bound.length, starts.length, `DevTools bound ${bound.length} of ${starts.length} flows`);
	for (const f of bound.slice(0, 200)) {
		assert.equal(f[0].cat, 'wake');
		assert.notEqual(f[0].tid, f[1].tid, 'a wake arrow from a thread to itself');
	}
	// the threads are grouped under the recorded process, each named
	const proc = (parsedTrace.data ?? parsedTrace).Renderer.processes.get(doc.otherData.pid);
	assert.ok(proc, 'DevTools has no process of the recorded pid');
	const names = [...proc.threads.values()].map((t) => t.name).sort();
	for (const w of ['worker-0', 'worker-1', 'worker-2', 'worker-3'])
		assert.ok(names.includes(w), `no thread ${w} in the process: ${names}`);
	console.log(`devtools: ${bound.length} of ${starts.length} wake flows bound, ${holds.length} holds`);
});
