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

// A colour per lock, spread around the hue circle by the golden angle; holds a lighter one.
export function lockColor(i, light) {
	return `hsl(${(i * 137.508) % 360}, 62%, ${light ? 80 : 56}%)`;
}
