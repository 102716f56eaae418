// data.js - loads the server's three documents: the report and graph JSON, and the columnar
// timeline (lockscope.timeline/1, laid out in userspace/view_timeline.h) as typed-array views.

export const ROW_WAIT = 0;
export const ROW_WAKE = 1;
export const ROW_HOLD = 2;

async function fetchOk(url) {
	const r = await fetch(url);
	if (!r.ok) throw new Error(`${url}: ${r.status} ${r.statusText}`);
	return r;
}

export function parseTimeline(buf) {
	const dv = new DataView(buf);
	const magic = String.fromCharCode(...new Uint8Array(buf, 0, 4));
	if (magic !== 'LSTL') throw new Error('timeline: not a lockscope timeline');
	const version = dv.getUint32(4, true);
	if (version !== 1) throw new Error(`timeline: version ${version} is not known here`);
	const metaLen = dv.getUint32(8, true);
	const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 16, metaLen)));
	let off = 16 + metaLen;
	const col = (Type, count) => {
		const a = new Type(buf, off, count);
		off += (count * Type.BYTES_PER_ELEMENT + 7) & ~7;
		return a;
	};
	const n = meta.slices, m = meta.flows;
	const t = {
		meta,
		n,
		start: col(Float64Array, n),
		dur: col(Float64Array, n),
		lock: col(Uint32Array, n),
		stack: col(Uint32Array, n),
		owner: col(Uint32Array, n),
		row: col(Uint8Array, n),
		result: col(Uint8Array, n),
		nflows: m,
		flowFrom: col(Float64Array, m),
		flowTo: col(Float64Array, m),
		flowFromTrack: col(Uint32Array, m),
		flowToTrack: col(Uint32Array, m),
		flowLock: col(Uint32Array, m),
	};
	if (off > buf.byteLength) throw new Error('timeline: the document is cut');
	// how deep each hold is nested in the holds of its thread that enclose it
	t.depth = new Uint8Array(n);
	for (const lane of meta.lanes) {
		if (lane.row !== ROW_HOLD) continue;
		const ends = [];
		for (let i = lane.first; i < lane.first + lane.count; i++) {
			while (ends.length && ends[ends.length - 1] <= t.start[i]) ends.pop();
			t.depth[i] = Math.min(ends.length, 3);
			ends.push(t.start[i] + t.dur[i]);
		}
	}
	// flows in order of their end, so that the visible ones are found by bisection
	t.flowOrder = Uint32Array.from({length: m}, (_, i) => i).sort((a, b) => t.flowTo[a] - t.flowTo[b]);
	return t;
}

export async function loadAll() {
	const [report, graph, buf] = await Promise.all([
		fetchOk('data/report.json').then((r) => r.json()),
		fetchOk('data/graph.json').then((r) => r.json()),
		fetchOk('data/timeline.bin').then((r) => r.arrayBuffer()),
	]);
	return {report, graph, timeline: parseTimeline(buf)};
}

// "1.25 ms": a duration in ns for people.
export function fmtNs(ns) {
	if (ns == null) return '–';
	const a = Math.abs(ns);
	if (a >= 1e9) return (ns / 1e9).toFixed(a >= 1e10 ? 1 : 3) + ' s';
	if (a >= 1e6) return (ns / 1e6).toFixed(a >= 1e7 ? 1 : 3) + ' ms';
	if (a >= 1e3) return (ns / 1e3).toFixed(a >= 1e4 ? 1 : 3) + ' µs';
	return Math.round(ns) + ' ns';
}

// Colours. The locks that matter (contended, or on a lock-order cycle) get a palette's distinct
// colours, in order of their wait; the GIL its own; every other lock one shared colour and the
// interpreter's own locks a paler one, so that a colour on the timeline always has a key.
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1',
	'#ff9da7', '#9c755f', '#17becf', '#bcbd22', '#8c564b'];
export const GIL_COLOR = '#34405a';
export const OTHER_COLOR = '#c4b59d';
export const INTERNAL_COLOR = '#dedbd4';
export const MERGED_COLOR = '#8d939e';

// COLOR mixed halfway with white: holds, drawn under the waits.
export function lighter(color) {
	const n = parseInt(color.slice(1), 16);
	const mix = (v) => Math.round(v + (255 - v) * 0.5);
	return `rgb(${mix(n >> 16)}, ${mix((n >> 8) & 255)}, ${mix(n & 255)})`;
}

// The colour of each lock of the timeline's table, and the legend's rows: {wait, hold, top
// (indices with a colour of their own, GIL first), others, internal}.
export function lockColors(locks, report, graph) {
	const index = new Map(locks.map((l, i) => [l.name, i]));
	const wanted = [];
	for (const l of report.locks || []) if (index.has(l.name)) wanted.push(index.get(l.name));
	for (const c of graph.cycles || []) for (const name of c) if (index.has(name)) wanted.push(index.get(name));
	const gil = locks.findIndex((l) => l.kind === 'gil');
	const top = [...new Set([gil, ...wanted])].filter((i) => i >= 0 && locks[i].kind !== 'internal')
		.slice(0, PALETTE.length + (gil >= 0 ? 1 : 0));
	const wait = locks.map((l) => (l.kind === 'internal' ? INTERNAL_COLOR : OTHER_COLOR));
	let k = 0;
	for (const i of top) wait[i] = i === gil ? GIL_COLOR : PALETTE[k++];
	const own = new Set(top);
	return {
		wait,
		hold: wait.map(lighter),
		top,
		others: locks.filter((l, i) => !own.has(i) && l.kind !== 'internal').length,
		internal: locks.filter((l) => l.kind === 'internal').length,
	};
}

// The frame of a stack that is the program's: the first of a script (Python, JavaScript), else
// the first past the C library's and the interpreter's leaves (clock_nanosleep, take_gil).
const SCRIPT = /\((?!<)[^()]*\.(py|pyx|js|mjs|cjs|ts|rb|lua|php):\d+\)$/;
const LEAF = /^(__\w+|_?_?libc_\w+|clock_nanosleep|nanosleep|usleep|sleep|select|pselect\w*|poll|ppoll|epoll_\w+|read|write|recv\w*|send\w*|syscall|futex\w*|pthread_\w+|sem_\w+|lll_\w+|take_gil|drop_gil|PyThread_\w+|PyEval_\w+|_PyEval_\w+|time_sleep|\w+\.constprop\.\d+|\w+vectorcall\w*|cfunction_\w+|_PyObject_\w+|PyObject_\w+)( |\+|$)/;
const STDLIB = /\((threading|queue|selectors|base_events|events|tasks|socket|ssl|subprocess|locks|queues|runners|timers|node:internal\/[\w/]+)\.(py|js):\d+\)$/;
export function userFrame(stack) {
	if (!stack || !stack.length) return null;
	return stack.find((f) => SCRIPT.test(f) && !STDLIB.test(f)) || stack.find((f) => SCRIPT.test(f)) || stack.find((f) => !LEAF.test(f) && !/^[^ ]+\+0x[0-9a-f]+/.test(f)) || stack[0];
}
