// graph.js - the lock-order graph as SVG: locks on a circle, an arrow A→B where a thread took B
// while holding A; edges of potential deadlocks red, of cycles a gate lock makes safe dashed.
const NS = 'http://www.w3.org/2000/svg';
const W = 520, H = 300, NODE_R = 9;

function el(name, attrs, parent) {
	const e = document.createElementNS(NS, name);
	for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
	parent?.appendChild(e);
	return e;
}

function markers(svg) {
	const defs = el('defs', {}, svg);
	for (const [id, color] of [['arrow', '#7a8090'], ['arrow-red', '#d62728']]) {
		const m = el('marker', {id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse'}, defs);
		el('path', {d: 'M0,0 L10,5 L0,10 z', fill: color}, m);
	}
}

export class LockGraph {
	constructor(box, detail, graph, report, onLock) {
		this.box = box;
		this.detail = detail;
		this.graph = graph;
		this.gates = new Map();
		for (const s of report.lock_order?.suppressed || []) for (const l of s.locks) this.gates.set(l, s.guarded_by);
		this.onLock = onLock;
		this.render();
	}

	render() {
		const nodes = this.graph.nodes || [], edges = this.graph.edges || [];
		this.box.replaceChildren();
		if (!nodes.length) {
			this.box.textContent = 'No lock was taken while another was held (or the recording had no full-mode time).';
			this.box.className = 'empty';
			return;
		}
		const svg = el('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img'}, this.box);
		markers(svg);
		const pos = new Map(), r = Math.min(W, H) / 2 - 40;
		nodes.forEach((n, i) => {
			const a = (2 * Math.PI * i) / nodes.length - Math.PI / 2;
			pos.set(n.name, nodes.length === 1 ? {x: W / 2, y: H / 2} : {x: W / 2 + r * Math.cos(a), y: H / 2 + r * Math.sin(a)});
		});
		this.edgeEls = [];
		for (const e of edges) this.edge(svg, e, pos.get(e.from), pos.get(e.to));
		this.nodeEls = new Map();
		for (const n of nodes) {
			const p = pos.get(n.name);
			const g = el('g', {class: 'node'}, svg);
			el('circle', {cx: p.x, cy: p.y, r: NODE_R}, g);
			const right = p.x >= W / 2;
			const t = el('text', {x: p.x + (right ? 12 : -12), y: p.y + 4, 'text-anchor': right ? 'start' : 'end'}, g);
			t.textContent = n.name.length > 40 ? n.name.slice(0, 38) + '…' : n.name;
			const title = el('title', {}, g);
			title.textContent = `${n.name} (${n.kind})`;
			g.addEventListener('click', () => this.onLock(n.name));
			this.nodeEls.set(n.name, g);
		}
	}

	// A curve from A to B, bent to its left so that A→B and B→A do not overlap.
	edge(svg, e, a, b) {
		if (!a || !b) return;
		let d;
		if (a === b) {
			d = `M${a.x - 4},${a.y - NODE_R} C${a.x - 30},${a.y - 45} ${a.x + 30},${a.y - 45} ${a.x + 4},${a.y - NODE_R}`;
		} else {
			const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy) || 1;
			const ux = dx / len, uy = dy / len, bend = Math.min(40, len / 4);
			const cx = (a.x + b.x) / 2 + uy * bend, cy = (a.y + b.y) / 2 - ux * bend;
			const sx = a.x + ux * NODE_R, sy = a.y + uy * NODE_R;
			const ex = b.x - ux * (NODE_R + 2), ey = b.y - uy * (NODE_R + 2);
			d = `M${sx},${sy} Q${cx},${cy} ${ex},${ey}`;
		}
		const cls = ['edge'];
		if (e.in_cycle) cls.push('cycle');
		if (e.suppressed) cls.push('suppressed');
		if (e.try_only) cls.push('try');
		const g = el('g', {class: 'edge-group', 'data-from': e.from, 'data-to': e.to}, svg);
		const path = el('path', {d, class: cls.join(' '), 'marker-end': `url(#${e.in_cycle ? 'arrow-red' : 'arrow'})`}, g);
		el('path', {d, class: 'hit'}, g);
		const title = el('title', {}, g);
		title.textContent = `${e.from} → ${e.to} (${e.count}×)`;
		g.addEventListener('click', () => this.pick(e, path));
		this.edgeEls.push(path);
	}

	pick(e, path) {
		for (const p of this.edgeEls) p.classList.remove('picked');
		path.classList.add('picked');
		let s = `${e.from} → ${e.to}: taken ${e.count}× by thread${e.tids.length > 1 ? 's' : ''} ${e.tids.join(', ')}`;
		if (e.in_cycle) s += '\npotential deadlock: this edge closes a cycle';
		if (e.suppressed) s += `\ncycle made safe by the gate lock ${this.gates.get(e.from) || this.gates.get(e.to) || ''}`;
		if (e.try_only) s += '\nonly ever a trylock: it cannot block';
		s += '\n\nwhere ' + e.to + ' was taken while holding ' + e.from + ':\n' + (e.stack || []).join('\n');
		this.detail.textContent = s;
	}

	select(name) {
		for (const [n, g] of this.nodeEls || []) g.classList.toggle('selected', n === name);
	}
}
