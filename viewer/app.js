// app.js - the viewer's entry: loads the trace's documents, builds the timeline and the panels,
// and keeps one selected lock across them. window.__lockscope lets tests and benches look in.
import {loadAll, fmtNs, lockColors, lighter, PALETTE, OTHER_COLOR, INTERNAL_COLOR, MERGED_COLOR} from './data.js';
import {Timeline, LOOP_COLORS} from './timeline.js';
import {hotspotsTable, loopBlocksTable, deadlocksPanel} from './panels.js';
import {LockGraph, shortLabel} from './graph.js';

const $ = (id) => document.getElementById(id);
const hook = (window.__lockscope = {ready: false, error: null});

const swatch = (color, cls) => {
	const i = document.createElement('i');
	i.style.background = color;
	if (cls) i.className = cls;
	return i;
};
function keyItem(box, color, text, cls) {
	const s = document.createElement('span');
	s.append(swatch(color, cls), text);
	box.appendChild(s);
	return s;
}

// The legend: a row per lock with a colour of its own (the GIL first, then by wait), the count
// of the others and of the interpreter's own locks, and a key for the timeline's other marks.
function legend(tl, colors, report, select) {
	const box = $('legend-locks'), locks = tl.meta.locks;
	for (const i of colors.top) {
		const s = keyItem(box, colors.wait[i], shortLabel(locks[i].name, 60));
		s.dataset.name = locks[i].name;
		s.className = 'lock' + (locks[i].kind === 'gil' ? ' gil' : '');
		s.title = `${locks[i].name} (${locks[i].kind} ${locks[i].addr}): click to highlight`;
		s.addEventListener('click', () => select(locks[i].name));
	}
	if (colors.others) keyItem(box, OTHER_COLOR, `${colors.others} other lock${colors.others > 1 ? 's' : ''}`).className = 'others';
	if (colors.internal) keyItem(box, INTERNAL_COLOR, `${colors.internal} interpreter-internal`).className = 'internal';
	const key = $('legend-key');
	keyItem(key, MERGED_COLOR, 'several locks under a pixel');
	keyItem(key, lighter(PALETTE[0]), 'hold (lighter, under the wait row)');
	keyItem(key, '#d62728', 'lock on a lock-order cycle', 'underline');
	keyItem(key, 'rgba(40, 40, 60, 0.6)', 'wake → woken wait', 'arrow');
	if ((report.deadlocks || []).length) keyItem(key, '#d62728', 'deadlock', 'mark');
	const causes = [...new Set((report.loop_blocks || []).map((b) => b.cause))];
	for (const c of causes) keyItem(key, LOOP_COLORS[c] || LOOP_COLORS.other, `loop blocked: ${c}`).className = 'loop';
}

// What the recording could not see, next to what it saw: full mode's share, events lost, and
// the counted losses of the report (stacks cut, memory reads failed) on hover.
function coverage(report) {
	const r = report.recording, el = $('coverage');
	const parts = [];
	if (r.full_coverage != null) parts.push(`full mode ${(r.full_coverage * 100).toFixed(1)}% of the time`);
	parts.push(`${r.lost_events.toLocaleString('en')} events lost`);
	const counted = Object.entries(r.counters || {}).filter(([, v]) => v);
	if (r.unpaired_waits) counted.push(['waits without their start or end', r.unpaired_waits]);
	const other = counted.reduce((s, [, v]) => s + v, 0);
	if (other) parts.push(`${other.toLocaleString('en')} other losses`);
	el.textContent = parts.join(' · ');
	el.title = counted.length ? counted.map(([k, v]) => `${k}: ${v.toLocaleString('en')}`).join('\n') : 'nothing lost';
	el.className = r.lost_events || other ? 'lossy' : '';
}

async function main() {
	const data = await loadAll();
	const {report, timeline: tl} = data;
	const loaded = performance.now();
	$('target').textContent = `${report.target.comm} (pid ${report.target.pid}) · ${fmtNs(report.target.duration_ns)} · ` +
		`${report.recording.mode} mode · ${report.recording.events.toLocaleString('en')} events`;
	coverage(report);
	data.colors = lockColors(tl.meta.locks, report, data.graph);
	const lockIndex = new Map(tl.meta.locks.map((l, i) => [l.name, i]));
	let selected = null;
	const threadName = (tid) => (report.threads.find((t) => t.tid === tid) || {}).name || `tid ${tid}`;

	const select = (name) => {
		selected = name;
		timeline.select(name == null ? -1 : lockIndex.get(name) ?? -2);
		hotspots.select(name);
		graph.select(name);
		for (const s of $('legend-locks').children) s.classList.toggle('selected', s.dataset.name === name);
		$('status').textContent = name == null ? '' : `selected: ${name}`;
	};
	const timeline = new Timeline({canvas: $('timeline'), scroll: $('timeline-scroll'), spacer: $('timeline-spacer'), tooltip: $('tooltip')},
		data, select);
	const hotspots = hotspotsTable($('hotspots'), $('hotspots-caption'), report, select);
	const graph = new LockGraph({graph: $('graph'), detail: $('edge-detail'), cycles: $('cycles'), note: $('graph-note'),
		search: $('graph-search'), all: $('graph-all')}, data.graph, report, select);
	deadlocksPanel($('deadlocks'), report, (d) => {
		timeline.show(d.detected_ns, Math.max(report.target.duration_ns / 20, 1e6), (d.threads || d.tasks)[0]?.tid);
		select(d.locks[0]);
	});
	loopBlocksTable($('loop-blocks'), report, threadName, (b) => timeline.show(b.start_ns + b.duration_ns / 2, b.duration_ns * 3, b.tid));
	legend(tl, data.colors, report, select);

	await new Promise((resolve) => {
		timeline.onDraw = () => resolve();
	});
	timeline.onDraw = null;
	$('status').textContent = `${tl.n.toLocaleString('en')} slices` +
		(tl.meta.complete ? '' : ` · incomplete trace: ${tl.meta.cut || 'no end record (recording did not finish)'}`);
	Object.assign(hook, {
		ready: true,
		// since navigation began
		loadedMs: loaded,
		firstPaintMs: performance.now(),
		stats: () => ({...timeline.stats, selected, slices: tl.n, flows: tl.nflows, tracks: timeline.tracks.length, contentH: timeline.contentH,
			// the process headers, and where each track is
			groups: timeline.groups.map(({pid, label, y, tids}) => ({pid, label, y, tids})),
			trackY: Object.fromEntries(timeline.tracks.map((o) => [o.tid, o.y]))}),
		select,
		// each lock's kind, as the trace says it (the legend folds the interpreter's own)
		lockKinds: () => tl.meta.locks.map((l) => l.kind),
		zoom: (f) => timeline.zoom(f),
		pointAt: (name) => timeline.pointAt(lockIndex.get(name)),
		// resolves after the next frame is drawn, with its stats
		frame: () => new Promise((resolve) => {
			timeline.onDraw = (st) => {
				timeline.onDraw = null;
				resolve({...st, selected});
			};
			timeline.request();
		}),
	});
}

main().catch((e) => {
	hook.error = String(e && e.message ? e.message : e);
	$('status').textContent = hook.error;
	$('status').className = 'error';
});
