// app.js - the viewer's entry: loads the trace's documents, builds the timeline and the panels,
// and keeps one selected lock across them. window.__lockscope lets tests and benches look in.
import {loadAll, fmtNs, lockColor} from './data.js';
import {Timeline} from './timeline.js';
import {hotspotsTable, loopBlocksTable, deadlocksPanel} from './panels.js';
import {LockGraph} from './graph.js';

const $ = (id) => document.getElementById(id);
const hook = (window.__lockscope = {ready: false, error: null});

function legend(timeline, select) {
	const box = $('legend');
	const locks = timeline.t.meta.locks;
	// the interpreter's own locks (imports, I/O, its runtime) are not the program's: counted
	const internal = [...locks.keys()].filter((i) => locks[i].kind === 'internal');
	const order = [...locks.keys()].filter((i) => locks[i].kind !== 'internal').slice(0, 200);
	if (internal.length) {
		const s = document.createElement('span');
		s.textContent = `(${internal.length} interpreter-internal not shown)`;
		box.appendChild(s);
	}
	for (const i of order) {
		const s = document.createElement('span');
		s.dataset.name = locks[i].name;
		const sw = document.createElement('i');
		sw.style.background = lockColor(i);
		s.append(sw, locks[i].name);
		s.addEventListener('click', () => select(locks[i].name));
		box.appendChild(s);
	}
}

async function main() {
	const data = await loadAll();
	const {report, timeline: tl} = data;
	const loaded = performance.now();
	$('target').textContent = `${report.target.comm} (pid ${report.target.pid}) · ${fmtNs(report.target.duration_ns)} · ` +
		`${report.recording.mode} mode · ${report.recording.events.toLocaleString('en')} events, ${report.recording.lost_events} lost`;
	const lockIndex = new Map(tl.meta.locks.map((l, i) => [l.name, i]));
	let selected = null;
	const threadName = (tid) => (report.threads.find((t) => t.tid === tid) || {}).name || `tid ${tid}`;

	const select = (name) => {
		selected = name;
		timeline.select(name == null ? -1 : lockIndex.get(name) ?? -2);
		hotspots.select(name);
		graph.select(name);
		for (const s of $('legend').children) s.classList.toggle('selected', s.dataset.name === name);
		$('status').textContent = name == null ? '' : `selected: ${name}`;
	};
	const timeline = new Timeline({canvas: $('timeline'), scroll: $('timeline-scroll'), spacer: $('timeline-spacer'), tooltip: $('tooltip')},
		data, select);
	const hotspots = hotspotsTable($('hotspots'), report, select);
	const graph = new LockGraph($('graph'), $('edge-detail'), data.graph, report, select);
	deadlocksPanel($('deadlocks'), report, (d) => {
		timeline.show(d.detected_ns, Math.max(report.target.duration_ns / 20, 1e6), (d.threads || d.tasks)[0]?.tid);
		select(d.locks[0]);
	});
	loopBlocksTable($('loop-blocks'), report, threadName, (b) => timeline.show(b.start_ns + b.duration_ns / 2, b.duration_ns * 3, b.tid));
	legend(timeline, select);

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
		stats: () => ({...timeline.stats, selected, slices: tl.n, flows: tl.nflows, tracks: timeline.tracks.length}),
		select,
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
