// viewer.test.mjs - `lockscope view` end to end: real recordings of the contended and inversion
// workloads, served by build/lockscope, opened in Debian's headless chromium by playwright-core.
// Also the server's own guard: loopback only, nothing but its whitelist. Run from the repo root.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync, spawnSync} from 'node:child_process';
import {mkdtempSync, mkdirSync, readFileSync, existsSync} from 'node:fs';
import {tmpdir} from 'node:os';
import net from 'node:net';
import path from 'node:path';
import {chromium} from 'playwright-core';
import {launchBrowser, serve} from './harness.mjs';

const LS = 'build/lockscope';
const ARTIFACTS = 'build/test-artifacts';
const dir = mkdtempSync(path.join(tmpdir(), 'lockscope-viewer-'));
let contended, inversion, deadlock, asyncDeadlock, manyLocks, mplock, browser;

// Records WORKLOAD with ARGS; returns the trace and the ground truth the workload printed.
function record(name, opts, ...args) {
	// an interpreter's trace is named after its script: two would share the interpreter's name
	const trace = path.join(dir, `${path.basename(args.find((a) => /\.(py|js)$/.test(a)) ?? name)}.lsz`);
	const cmd = name.includes('/') ? [name] : [`build/workloads/${name}`]; // a path: an interpreter
	const out = execFileSync(LS, ['record', ...opts, '-o', trace, '--', ...cmd, ...args],
		{stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000}).toString();
	return {trace, truth: JSON.parse(out.trim().split('\n').findLast((l) => l.startsWith('{')))};
}

before(async () => {
	assert.ok(existsSync('/usr/bin/chromium'), '/usr/bin/chromium is missing (apt-get install chromium)');
	mkdirSync(ARTIFACTS, {recursive: true});
	contended = record('contended', ['--mode', 'full'], '--iters', '400');
	inversion = record('inversion', ['--mode', 'full']);
	deadlock = record('deadlock', ['-d', '2']); // it hangs: the recording's end stops it
	asyncDeadlock = record('/usr/bin/python3.11', ['-d', '3'], 'tests/workloads/py_async_deadlock.py');
	// pyenv's 3.11 (python3 here): its symbols name the interpreter's own locks
	const python = execFileSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))']).toString().trim();
	manyLocks = record(python, ['--mode', 'full'], 'tests/workloads/py_manylocks.py', '--transfers', '300');
	// a multiprocessing.Lock in three forked workers: a trace of four processes
	const go = path.join(dir, 'go');
	execFileSync('touch', [go]);
	mplock = record(python, ['--mode', 'contention'], 'tests/workloads/py_mplock.py', go, '--rounds', '30');
	browser = await launchBrowser(chromium, dir);
});

after(async () => {
	await browser?.close();
});

// Opens SERVER's page; fails on any request that leaves the server or any page error.
async function open(server, prepare) {
	const page = await browser.newPage({viewport: {width: 1400, height: 1000}});
	await prepare?.(page);
	const foreign = [], errors = [], failed = [];
	page.on('request', (r) => { if (!r.url().startsWith(server.url)) foreign.push(r.url()); });
	page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
	page.on('pageerror', (e) => errors.push(String(e)));
	await page.goto(server.url);
	await page.waitForFunction(() => window.__lockscope.ready || window.__lockscope.error, null, {timeout: 30000});
	assert.equal(await page.evaluate(() => window.__lockscope.error), null);
	page.check = () => {
		assert.deepEqual(foreign, [], 'the page asked for something outside the server');
		assert.deepEqual(errors, [], 'the page threw');
		assert.deepEqual(failed, [], 'a request failed (a favicon.ico asked of the server?)');
	};
	return page;
}

// Pixels of the timeline's plot area (right of the thread names) that are not background.
function inkedPixels(page, rgb) {
	return page.evaluate((rgb) => {
		const c = document.getElementById('timeline');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		const x0 = Math.ceil(200 * (window.devicePixelRatio || 1));
		let n = 0;
		for (let y = 30; y < c.height; y++) {
			for (let x = x0; x < c.width; x++) {
				const i = (y * c.width + x) * 4;
				if (d[i + 3] < 200) continue;
				if (rgb ? Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 12
					: !(d[i] > 240 && d[i + 1] > 240 && d[i + 2] > 240)) n++;
			}
		}
		return n;
	}, rgb);
}

test('contended: tables name the lock, the timeline draws it, a click highlights it', async () => {
	const server = await serve(LS, contended.trace);
	try {
		const page = await open(server);
		const lock = contended.truth.lock;
		// the hotspots table leads with the workload's own lock, by contentions
		const first = await page.locator('#hotspots tbody tr').first().getAttribute('data-name');
		assert.equal(first, lock);
		assert.match(await page.locator('#hotspots').innerText(), new RegExp(lock));
		// the timeline drew slices, of every worker thread
		const st = await page.evaluate(() => window.__lockscope.stats());
		assert.ok(st.slicesDrawn > contended.truth.threads, `slices drawn: ${st.slicesDrawn}`);
		assert.ok(st.rectsDrawn > 0 && st.tracks >= contended.truth.threads);
		assert.deepEqual(st.groups, [], 'one process: no process headers');
		assert.ok(await inkedPixels(page) > 500, 'the timeline canvas is blank');
		// sorting by a column reorders; clicking the header twice flips it
		await page.locator('#hotspots th[data-key="name"]').click();
		assert.match(await page.locator('#hotspots th.sorted').innerText(), /Lock/);
		// a click on the lock's row selects it: its slices are highlighted on the timeline
		const before = await page.evaluate(() => window.__lockscope.frame());
		assert.equal(before.highlighted, 0);
		await page.locator(`#hotspots tbody tr[data-name="${lock}"]`).click();
		const after = await page.evaluate(() => window.__lockscope.frame());
		assert.equal(after.selected, lock);
		assert.ok(after.highlighted > 0 && after.highlighted <= after.slicesDrawn, JSON.stringify(after));
		assert.match(await page.locator('#hotspots tr.selected').innerText(), new RegExp(lock));
		// zoom in with W, pan with D: fewer slices in view, still drawn, with the wake arrows
		await page.locator('#timeline-scroll').click({position: {x: 700, y: 100}});
		for (let i = 0; i < 12; i++) await page.keyboard.press('w');
		await page.keyboard.press('d');
		const zoomed = await page.evaluate(() => window.__lockscope.frame());
		assert.ok(zoomed.slicesDrawn > 0 && zoomed.slicesDrawn < after.slicesDrawn, `zoomed in: ${zoomed.slicesDrawn} vs ${after.slicesDrawn}`);
		assert.ok(zoomed.flowsDrawn > 0, JSON.stringify(zoomed));
		// hovering a slice says which lock, how long, who owned it, and where it waited
		const at = await page.evaluate((l) => window.__lockscope.pointAt(l), lock);
		assert.ok(at, 'no slice of the lock is wide enough to point at');
		await page.mouse.move(at.x, at.y);
		const tip = await page.locator('#tooltip').innerText();
		assert.match(tip, new RegExp(`^(wait for|hold of) ${lock} \\(mutex 0x[0-9a-f]+\\)\\n[0-9.]+ (ns|µs|ms|s) from `));
		if (tip.startsWith('wait')) {
			assert.match(tip, /\nowner: (\d+ \(worker-\d\)|unknown)\n/);
			assert.match(tip, /worker \(contended\.c:\d+\)/);
		}
		await page.keyboard.press('Escape');
		assert.equal((await page.evaluate(() => window.__lockscope.frame())).selected, null);
		await page.locator(`#hotspots tbody tr[data-name="${lock}"]`).click();
		for (let i = 0; i < 10; i++) await page.keyboard.press('s');
		await page.evaluate(() => window.__lockscope.frame());
		await page.screenshot({path: path.join(ARTIFACTS, 'viewer.png'), fullPage: true});
		page.check();
	} finally {
		await server.stop();
	}
});

test('inversion: the lock-order graph shows the cycle in red, an edge click shows its stack', async () => {
	const server = await serve(LS, inversion.trace);
	try {
		const page = await open(server);
		const cyc = page.locator('#graph path.edge.cycle');
		assert.equal(await cyc.count(), 2, 'both edges of lock_a <-> lock_b are in the cycle');
		const stroke = await cyc.first().evaluate((e) => getComputedStyle(e).stroke);
		assert.equal(stroke, 'rgb(214, 39, 40)');
		const ends = await page.locator('#graph g.edge-group').evaluateAll((gs) => gs.map((g) => `${g.dataset.from}>${g.dataset.to}`).sort());
		assert.deepEqual(ends, ['lock_a>lock_b', 'lock_b>lock_a']);
		// a real click on the middle of the curve, where the stroke is
		const mid = await page.locator('#graph g.edge-group[data-from="lock_a"] path.hit').evaluate((p) => {
			const pt = p.getPointAtLength(p.getTotalLength() / 2).matrixTransform(p.getScreenCTM());
			return {x: pt.x, y: pt.y};
		});
		await page.mouse.click(mid.x, mid.y);
		const detail = await page.locator('#edge-detail').innerText();
		assert.match(detail, /lock_a → lock_b/);
		assert.match(detail, /potential deadlock/);
		assert.match(detail, /transfer_a_to_b \(inversion\.c:\d+\)/);
		// full mode: each of the two threads held lock_a once per round, and the timeline has them all
		await page.locator('#graph g.node[data-name="lock_a"] rect').click();
		const st = await page.evaluate(() => window.__lockscope.frame());
		assert.equal(st.selected, 'lock_a');
		assert.equal(st.highlightedHolds, 2 * inversion.truth.rounds, JSON.stringify(st));
		await page.screenshot({path: path.join(ARTIFACTS, 'viewer-inversion.png'), fullPage: true});
		page.check();
	} finally {
		await server.stop();
	}
});

test('deadlock: the panel names both threads, the timeline marks the moment', async () => {
	const server = await serve(LS, deadlock.trace);
	try {
		const page = await open(server);
		const text = await page.locator('#deadlocks').innerText();
		for (const t of deadlock.truth.threads)
			assert.match(text, new RegExp(`\\(${t.tid}\\) holds ${t.holds}, waits for ${t.waits_for}`));
		// with the stacks the report has for them
		const report = await page.evaluate(() => fetch('data/report.json').then((r) => r.json()));
		for (const t of report.deadlocks[0].threads) {
			assert.ok(t.stack.length > 0);
			assert.ok(text.includes(t.stack.join('\n')), `the stack of ${t.tid} is not shown`);
		}
		assert.equal((await page.evaluate(() => window.__lockscope.frame())).deadlockMarks, 2);
		// its locks, taken where full mode saw it, were held from then on: not "0 ns"
		for (const l of report.locks.filter((x) => x.acquisitions)) {
			assert.ok(l.hold_ns > 1e8, `${l.name} held ${l.hold_ns} ns`);
			const held = (await page.locator(`#hotspots tbody tr[data-name="${l.name}"] td`).allInnerTexts())[5];
			assert.match(held, /^[0-9.]+ (ms|s)$/, `${l.name}: ${held}`);
		}
		// a click on it selects its lock and shows its moment: the stuck waits are in view
		await page.locator('#deadlocks .deadlock').first().click();
		const st = await page.evaluate(() => window.__lockscope.frame());
		assert.ok(['lock_a', 'lock_b'].includes(st.selected), st.selected);
		assert.equal(st.deadlockMarks, 2);
		assert.ok(st.highlighted > 0, JSON.stringify(st));
		await page.screenshot({path: path.join(ARTIFACTS, 'viewer-deadlock.png'), fullPage: true});
		page.check();
	} finally {
		await server.stop();
	}
});

test('asyncio deadlock: the panel names both tasks with their chains', async () => {
	const server = await serve(LS, asyncDeadlock.trace);
	try {
		const page = await open(server);
		const text = await page.locator('#deadlocks').innerText();
		for (const t of asyncDeadlock.truth.tasks) {
			assert.match(text, new RegExp(`task ${t.name} \\(${t.function}, loop thread \\d+\\) holds ${t.holds}, waits for ${t.waits_for}`));
			assert.ok(text.includes(`${t.function} (py_async_deadlock.py:${t.line})`), `no chain of ${t.name}`);
		}
		await page.locator('#deadlocks .deadlock').first().click();
		assert.equal((await page.evaluate(() => window.__lockscope.frame())).deadlockMarks, 2);
		page.check();
	} finally {
		await server.stop();
	}
});

test('loop blocks: the panel lists them and the timeline draws them on their thread', async () => {
	const server = await serve(LS, contended.trace);
	try {
		// the report of a trace with event-loop blocks, as the contract has them
		const page = await open(server, async (p) => p.route('**/data/report.json', async (route) => {
			const rep = await (await route.fetch()).json();
			const tid = rep.threads.find((t) => t.name === 'worker-1').tid;
			rep.loop_blocks = [
				{tid, start_ns: 1e6, duration_ns: 60e6, cause: 'sleep', on_cpu_ns: 1e5,
					stack: ['clock_nanosleep (clock_nanosleep.c:78)', '__nanosleep (nanosleep.c:25)', 'time_sleep (timemodule.c:2168)', 'handler (app.py:12)', 'main (app.py:30)']},
				{tid: 999999, start_ns: 2e6, duration_ns: 80e6, cause: 'cpu', on_cpu_ns: 79e6, stack: []},
			];
			await route.fulfill({json: rep});
		}));
		const rows = await page.locator('#loop-blocks tbody tr').allInnerTexts();
		assert.equal(rows.length, 2);
		assert.match(rows.find((r) => r.includes('sleep')), /worker-1 \(\d+\)\s+1\.000 ms\s+60\.0 ms\s+sleep\s+100\.0 µs\s+handler \(app\.py:12\)/);
		const before = await page.evaluate(() => window.__lockscope.stats());
		assert.equal(before.tracks, contended.truth.threads + 2, 'a track for the loop thread the trace did not have');
		assert.ok(before.loopCauses.includes('sleep'), JSON.stringify(before));
		// the row names the program's frame, not the leaf; the legend has a key for each cause
		assert.equal(await page.locator('#loop-blocks tbody tr', {hasText: 'sleep'}).locator('td').last().getAttribute('title'),
			'clock_nanosleep (clock_nanosleep.c:78)\n__nanosleep (nanosleep.c:25)\ntime_sleep (timemodule.c:2168)\nhandler (app.py:12)\nmain (app.py:30)');
		assert.deepEqual(await page.locator('#legend-key span').allInnerTexts().then((t) => t.filter((x) => x.startsWith('loop'))),
			['loop blocked: sleep', 'loop blocked: cpu']);
		// a click shows the block, its track scrolled into view
		await page.locator('#loop-blocks tbody tr', {hasText: 'cpu'}).click();
		const st = await page.evaluate(() => window.__lockscope.frame());
		assert.ok(st.loopCauses.includes('cpu'), JSON.stringify(st));
		page.check();
	} finally {
		await server.stop();
	}
});

// Label boxes of the graph (SVG user units) that overlap, labels that do not fit their box, and
// different locks with the same label.
function graphLegibility(page) {
	return page.evaluate(() => {
		const nodes = [...document.querySelectorAll('#graph g.node')].map((g) => ({
			name: g.dataset.name, label: g.querySelector('text').textContent,
			t: g.querySelector('text').getBBox(), r: g.querySelector('rect').getBBox(),
		}));
		const overlaps = [], unfit = [];
		for (let i = 0; i < nodes.length; i++) {
			const a = nodes[i];
			if (a.t.x < a.r.x || a.t.x + a.t.width > a.r.x + a.r.width) unfit.push(a.name);
			for (let j = i + 1; j < nodes.length; j++) {
				const b = nodes[j].r;
				if (a.r.x < b.x + b.width && b.x < a.r.x + a.r.width && a.r.y < b.y + b.height && b.y < a.r.y + a.r.height)
					overlaps.push(`${a.name} / ${nodes[j].name}`);
			}
		}
		return {n: nodes.length, overlaps: overlaps.slice(0, 5), unfit, labels: new Set(nodes.map((x) => x.label)).size};
	});
}

test('many Python locks: cycles first, a legible graph of them, the GIL in the legend, tables that fit', async () => {
	const server = await serve(LS, manyLocks.trace);
	try {
		const page = await open(server);
		const truth = manyLocks.truth;
		const graph = await page.evaluate(() => fetch('data/graph.json').then((r) => r.json()));
		const report = await page.evaluate(() => fetch('data/report.json').then((r) => r.json()));
		assert.ok(graph.nodes.length >= truth.accounts, `hundreds of locks: ${graph.nodes.length}`);
		// the GIL's own mutexes are named after it, not after the interpreter's data
		assert.deepEqual(graph.nodes.filter((n) => /GIL|_PyRuntime/.test(n.name)).map((n) => n.name).sort(), ['GIL+0x50', 'GIL+0xa8']);
		// the inversion is the cycle: ledger then journal in audit's thread, the reverse in post's
		const cyc = graph.edges.filter((e) => e.in_cycle);
		assert.deepEqual(cyc.map((e) => e.tids.join()).sort(), [truth.audit_tid, truth.post_tid].map(String).sort(), JSON.stringify(cyc));
		assert.equal(graph.cycles.length, 1, JSON.stringify(graph.cycles));
		// the cycle is listed first, in full
		const c = graph.cycles[0];
		assert.deepEqual(await page.locator('#cycles .cycle-item').allInnerTexts(), [[...c, c[0]].join(' → ')]);
		assert.match(await page.locator('#cycles .cycles-head').innerText(), /^1 potential deadlock/);
		// the graph: the cycle and its neighbours, not the hundreds; both of its edges red
		const shown = await page.locator('#graph g.node').evaluateAll((gs) => gs.map((g) => g.dataset.name));
		for (const l of c) assert.ok(shown.includes(l), `${l} is not drawn`);
		assert.ok(shown.length <= 2 + 2 * 6, `${shown.length} locks drawn`);
		assert.equal(await page.locator('#graph path.edge.cycle').count(), 2);
		assert.match(await page.locator('#graph-note').innerText(), new RegExp(`^${shown.length} of ${graph.nodes.length} locks`));
		let leg = await graphLegibility(page);
		assert.deepEqual([leg.overlaps, leg.unfit, leg.labels], [[], [], shown.length], JSON.stringify(leg));
		// a click on the listed cycle shows the stacks of both of its edges
		await page.locator('#cycles .cycle-item').first().click();
		assert.equal(await page.locator('#graph path.edge.cycle.picked').count(), 2);
		assert.equal((await page.locator('#edge-detail').innerText()).match(/potential deadlock/g).length, 2);
		await page.screenshot({path: path.join(ARTIFACTS, 'viewer-manylocks.png'), fullPage: true});
		// every lock on request, in layers: still no label over another, twins (#2, #3) apart
		await page.locator('#graph-all').check();
		leg = await graphLegibility(page);
		assert.equal(leg.n, graph.nodes.length);
		assert.deepEqual([leg.overlaps, leg.unfit, leg.labels], [[], [], graph.nodes.length], JSON.stringify(leg));
		await page.locator('#graph').screenshot({path: path.join(ARTIFACTS, 'viewer-manylocks-all.png')});
		// search: a lock by part of its name, with its neighbours
		await page.locator('#graph-all').uncheck();
		const some = graph.nodes.find((n) => !shown.includes(n.name) && /^heap 0x/.test(n.name));
		await page.locator('#graph-search').fill(some.name.split(' ')[1]);
		const found = await page.locator('#graph g.node.hit').evaluateAll((gs) => gs.map((g) => g.dataset.name));
		assert.ok(found.includes(some.name), JSON.stringify(found));

		// the legend: the GIL by name, in a colour no other lock has, drawn on the timeline
		const swatches = await page.locator('#legend-locks span.lock').evaluateAll((ss) =>
			ss.map((s) => [s.dataset.name, getComputedStyle(s.querySelector('i')).backgroundColor]));
		const gil = swatches.find(([n]) => n === 'GIL');
		assert.ok(gil, JSON.stringify(swatches));
		assert.equal(swatches.filter(([, col]) => col === gil[1]).length, 1, JSON.stringify(swatches));
		const rgb = gil[1].match(/\d+/g).map(Number);
		assert.ok(await inkedPixels(page, rgb) > 50, 'the GIL\'s waits are not drawn in its colour');
		// the interpreter's own locks folded into a count, as many as the trace marks (a stripped
		// interpreter, Debian's, lets the recorder mark none); every legend row above the timeline
		const internal = (await page.evaluate(() => window.__lockscope.lockKinds())).filter((k) => k === 'internal').length;
		if (internal) assert.equal(await page.locator('#legend-locks span.internal').innerText(), `${internal} interpreter-internal`);
		else assert.equal(await page.locator('#legend-locks span.internal').count(), 0);
		const legendBottom = await page.locator('#legend').evaluate((l) => Math.max(...[...l.querySelectorAll('span')].map((s) => s.getBoundingClientRect().bottom)));
		assert.ok(legendBottom <= (await page.locator('#timeline-scroll').boundingBox()).y, 'a legend row is under the timeline');
		// the timeline is as tall as its tracks, not a fixed half page
		const tl = await page.evaluate(() => ({h: document.getElementById('timeline-scroll').clientHeight, ...window.__lockscope.stats()}));
		assert.ok(tl.h <= tl.contentH + 2 && tl.h >= Math.min(tl.contentH, 600), JSON.stringify(tl));

		// the hotspots table fits its panel: Max hold is in view; hold figures say their coverage
		const panel = await page.locator('#hotspots-panel').boundingBox();
		const maxHold = await page.locator('#hotspots th[data-key="max_hold_ns"]').boundingBox();
		assert.ok(maxHold.x + maxHold.width <= panel.x + panel.width, `Max hold ends at ${maxHold.x + maxHold.width}, the panel at ${panel.x + panel.width}`);
		const cov = (report.recording.full_coverage * 100).toFixed(1);
		assert.match(await page.locator('#hotspots-caption').innerText(), new RegExp(`full mode only: ${cov}% of the recording`));
		// the GIL's acquisitions are not traced: not 0
		assert.deepEqual((await page.locator('#hotspots tbody tr[data-name="GIL"] td').allInnerTexts()).slice(-3), ['not traced', 'not traced', 'not traced']);
		// a lock of the program held in full mode: its holds are figures
		const held = report.locks.find((l) => l.acquisitions > 0);
		const cells = await page.locator(`#hotspots tbody tr[data-name="${held.name}"] td`).allInnerTexts();
		assert.equal(cells[4], String(held.acquisitions));
		// losses and coverage in the header
		assert.match(await page.locator('#coverage').innerText(), new RegExp(`^full mode ${cov}% of the time · ${report.recording.lost_events} events lost`));
		page.check();
	} finally {
		await server.stop();
	}
});

test('processes: the threads of each together, under a header that names it', async () => {
	const server = await serve(LS, mplock.trace);
	try {
		const page = await open(server);
		const report = await page.evaluate(() => fetch('data/report.json').then((r) => r.json()));
		const st = await page.evaluate(() => window.__lockscope.stats());
		assert.equal(report.processes.length, 4, 'the parent and its three workers');
		// a header per process, in the report's order, each naming it by command and pid
		assert.deepEqual(st.groups.map((g) => g.pid), report.processes.map((p) => p.pid));
		for (const [i, g] of st.groups.entries()) {
			const p = report.processes[i];
			assert.ok(g.label.startsWith(`${p.comm} ${p.pid}`), g.label);
			// its threads, and only they, between its header and the next
			const end = i + 1 < st.groups.length ? st.groups[i + 1].y : Infinity;
			const mine = report.threads.filter((t) => t.pid === p.pid).map((t) => t.tid);
			assert.deepEqual([...g.tids].sort(), [...mine].filter((t) => t in st.trackY).sort());
			for (const tid of g.tids) assert.ok(st.trackY[tid] > g.y && st.trackY[tid] < end, `${tid} under ${p.pid}`);
		}
		for (const pid of mplock.truth.pids) assert.ok(st.groups.some((g) => g.pid === pid), `worker ${pid} has no header`);
		assert.ok(await inkedPixels(page) > 500, 'the timeline canvas is blank');
		await page.screenshot({path: path.join(ARTIFACTS, 'viewer-processes.png'), fullPage: true});
		page.check();
	} finally {
		await server.stop();
	}
});

test('view: bad input is refused in one line, exit 1', () => {
	for (const [args, msg] of [
		[['/nonexistent.lsz'], /^lockscope: view: \/nonexistent\.lsz: No such file or directory\n$/],
		[['/dev/null'], /^lockscope: view: \/dev\/null: not a lockscope trace/],
		[['--port', '65536', contended.trace], /^lockscope: view: --port wants a port number/],
		[[], /^lockscope: view: give one trace file/],
	]) {
		const r = spawnSync(LS, ['view', ...args], {timeout: 30000});
		assert.equal(r.status, 1, args.join(' '));
		assert.match(r.stderr.toString(), msg);
	}
});

// One raw request, as written: no client tidies the path on the way.
function rawGet(port, target, host = `127.0.0.1:${port}`) {
	return new Promise((resolve, reject) => {
		const s = net.connect(port, '127.0.0.1');
		let data = '';
		s.on('connect', () => s.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`));
		s.on('data', (d) => { data += d; });
		s.on('end', () => resolve(Number(data.split(' ')[1])));
		s.on('error', reject);
	});
}

function connectRefused(host, port) {
	return new Promise((resolve) => {
		const s = net.connect(port, host);
		s.on('connect', () => { s.destroy(); resolve(false); });
		s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
	});
}

test('server: loopback only, whitelisted files only', async () => {
	const server = await serve(LS, contended.trace);
	try {
		const port = server.port;
		// bound to 127.0.0.1 itself, not to every address: another loopback address is refused
		const hex = port.toString(16).toUpperCase().padStart(4, '0');
		const listening = readFileSync('/proc/net/tcp', 'utf8').split('\n')
			.filter((l) => l.split(/\s+/)[2]?.endsWith(`:${hex}`) && l.split(/\s+/)[4] === '0A');
		assert.equal(listening.length, 1);
		assert.equal(listening[0].split(/\s+/)[2], `0100007F:${hex}`);
		assert.ok(!readFileSync('/proc/net/tcp6', 'utf8').includes(`:${hex} `), 'listens on IPv6 too');
		assert.ok(await connectRefused('127.0.0.2', port), '127.0.0.2 was answered');
		const k = `/${server.secret}`;
		const wrong = server.secret.slice(0, -1) + (server.secret.endsWith('0') ? '1' : '0');
		const upper = server.secret.toUpperCase() === server.secret ? wrong : server.secret.toUpperCase();
		for (const [target, status] of [
			[`${k}/`, 200], [`${k}/index.html`, 200], [`${k}/app.js`, 200], [`${k}/data/report.json`, 200],
			[`${k}/data/timeline.bin`, 200], [`${k}/data/graph.json?x=1`, 200],
			[`${k}/../../../../etc/passwd`, 400], [`${k}/data/../index.html`, 400], [`${k}/%2e%2e/%2e%2e/etc/passwd`, 400],
			[`${k}/%2E%2E/etc/passwd`, 400], [`/${k}/etc/passwd`, 400], ['http://127.0.0.1/etc/passwd', 400],
			[`${k}/etc/passwd`, 404], [k + path.resolve(contended.trace), 404], [`${k}/data/`, 404], [`${k}/data`, 404],
			[`${k}/viewer/`, 404], [`${k}/embed.sh`, 404], [`${k}/..\\etc\\passwd`, 400],
			[`${k}/index.html HTTP/1.1 extra`, 400], [`${k}/` + 'a'.repeat(2000), 400],
			// without the run's secret, nothing: another user's process can reach 127.0.0.1 too
			['/', 403], ['/index.html', 403], ['/data/report.json', 403], ['/data/timeline.bin', 403],
			[k, 403], [`/${wrong}/data/report.json`, 403], [`${k}x/data/report.json`, 403],
			[`/${upper}/data/report.json`, 403], ['/favicon.ico', 403],
		]) assert.equal(await rawGet(port, target), status, target);
		// a page elsewhere whose name was rebound to 127.0.0.1 does not get the trace
		assert.equal(await rawGet(port, `${k}/data/report.json`, 'attacker.example:80'), 400);
		// a second server on the same port: the system refuses (2), in one line
		const busy = spawnSync(LS, ['view', '--port', String(port), contended.trace], {timeout: 30000});
		assert.equal(busy.status, 2);
		assert.match(busy.stderr.toString(), new RegExp(`^lockscope: view: 127\\.0\\.0\\.1:${port} is in use.*\\n$`));
		// SIGTERM ends it cleanly
		assert.deepEqual(await server.stop(), {code: 0, sig: null});
	} finally {
		server.process.kill('SIGKILL');
	}
});
