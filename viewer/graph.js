// graph.js - the lock-order graph: its cycles listed first, then the graph as SVG (an arrow A→B
// where a thread took B while holding A), limited to the cycles and their neighbours unless a
// search or "all" asks for more. Each lock has a row of its own, the rows in layers (a lock
// below the ones held when it was taken), so that long names never overlap. Edges of potential
// deadlocks are red, of cycles a gate lock makes safe dashed.
const NS = 'http://www.w3.org/2000/svg';
const BOX_H = 18, ROW = 26, INDENT = 28, INDENT_MAX = 12, PAD = 12, LABEL_MAX = 90;
const NEIGHBOURS = 6; // per lock of interest, the busiest ones
const NO_CYCLE_LOCKS = 30; // without a cycle, the locks with the most edges
const SEARCH_MAX = 30;

function el(name, attrs, parent) {
	const e = document.createElementNS(NS, name);
	for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
	parent?.appendChild(e);
	return e;
}

function markers(svg) {
	const defs = el('defs', {}, svg);
	for (const [id, color] of [['arrow', '#7a8090'], ['arrow-red', '#d62728']]) {
		const m = el('marker', {id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 10, markerHeight: 10, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse'}, defs);
		el('path', {d: 'M0,0 L10,5 L0,10 z', fill: color}, m);
	}
}

// A name shortened in its middle: the start says where the lock lies, the end which one it is
// ("… (_threadmodule.c:95) #2"), so twins stay apart.
export function shortLabel(name, max = LABEL_MAX) {
	if (name.length <= max) return name;
	const tail = Math.floor((max - 1) / 2);
	return name.slice(0, max - 1 - tail) + '…' + name.slice(name.length - tail);
}

// Layers for the nodes of EDGES: back edges of a depth-first walk are turned round, then each
// node goes one layer right of its furthest predecessor. Returns {layer: Map, back: Set of edges}.
export function layers(names, edges) {
	const out = new Map(names.map((n) => [n, []]));
	for (const e of edges) if (e.from !== e.to) out.get(e.from).push(e);
	const state = new Map(), back = new Set(), order = [];
	for (const root of names) {
		if (state.has(root)) continue;
		const stack = [[root, 0]];
		state.set(root, 1);
		while (stack.length) { // iterative: a chain of hundreds of locks is no deep recursion
			const top = stack[stack.length - 1], list = out.get(top[0]);
			if (top[1] >= list.length) {
				state.set(top[0], 2);
				order.push(top[0]);
				stack.pop();
				continue;
			}
			const e = list[top[1]++];
			const s = state.get(e.to);
			if (s === 1) back.add(e);
			else if (!s) {
				state.set(e.to, 1);
				stack.push([e.to, 0]);
			}
		}
	}
	const layer = new Map(names.map((n) => [n, 0]));
	for (const n of order.reverse()) // a topological order of the edges not turned round
		for (const e of out.get(n)) if (!back.has(e)) layer.set(e.to, Math.max(layer.get(e.to), layer.get(n) + 1));
	return {layer, back};
}

export class LockGraph {
	constructor(els, graph, report, onLock) {
		this.box = els.graph;
		this.detail = els.detail;
		this.cyclesBox = els.cycles;
		this.note = els.note;
		this.search = els.search;
		this.all = els.all;
		this.graph = graph;
		this.onLock = onLock;
		this.gates = new Map();
		for (const s of report.lock_order?.suppressed || []) for (const l of s.locks) this.gates.set(l, s.guarded_by);
		this.nodes = graph.nodes || [];
		this.edges = graph.edges || [];
		this.kind = new Map(this.nodes.map((n) => [n.name, n.kind]));
		this.weight = new Map(this.nodes.map((n) => [n.name, 0]));
		this.adj = new Map(this.nodes.map((n) => [n.name, []]));
		for (const e of this.edges) {
			for (const n of [e.from, e.to]) this.weight.set(n, (this.weight.get(n) || 0) + e.count);
			this.adj.get(e.from)?.push([e.to, e.count]);
			this.adj.get(e.to)?.push([e.from, e.count]);
		}
		this.cycles = [...(graph.cycles || []).map((c) => ({locks: c, safe: false})),
			...(graph.suppressed || []).map((c) => ({locks: c.locks || c, safe: true}))];
		this.all.parentElement.lastChild.textContent = ` all ${this.nodes.length} locks`;
		this.all.addEventListener('change', () => this.render());
		this.search.addEventListener('input', () => this.render());
		this.listCycles();
		this.render();
	}

	listCycles() {
		const box = this.cyclesBox;
		box.replaceChildren();
		const real = this.cycles.filter((c) => !c.safe).length;
		const h = document.createElement('div');
		h.className = real ? 'cycles-head bad' : 'cycles-head';
		h.textContent = real ? `${real} potential deadlock${real > 1 ? 's' : ''} (lock-order cycle${real > 1 ? 's' : ''})` :
			'No lock-order cycle' + (this.cycles.length ? '' : '.');
		box.appendChild(h);
		this.cycles.forEach((c, i) => {
			const d = document.createElement('div');
			d.className = 'cycle-item' + (c.safe ? ' safe' : '');
			d.dataset.index = i;
			d.textContent = [...c.locks, c.locks[0]].join(' → ') + (c.safe ? `  (made safe by ${this.gates.get(c.locks[0]) || 'a gate lock'})` : '');
			d.title = d.textContent;
			d.addEventListener('click', () => this.pickCycle(i));
			box.appendChild(d);
		});
	}

	// The busiest neighbours of NAME, at most N.
	neighbours(name, n) {
		return (this.adj.get(name) || []).slice().sort((a, b) => b[1] - a[1]).map((x) => x[0]).filter((x, i, a) => a.indexOf(x) === i).slice(0, n);
	}

	// The locks to draw: all of them, or the search's matches and their neighbours, or the
	// cycles' locks and their neighbours; without a cycle, the locks with the most edges.
	chosen() {
		const q = this.search.value.trim().toLowerCase();
		if (this.all.checked) return {set: new Set(this.nodes.map((n) => n.name)), why: 'all locks'};
		const set = new Set();
		if (q) {
			const hits = this.nodes.filter((n) => n.name.toLowerCase().includes(q));
			for (const n of hits.slice(0, SEARCH_MAX)) {
				set.add(n.name);
				for (const m of this.neighbours(n.name, NEIGHBOURS)) set.add(m);
			}
			return {set, hits: new Set(hits.map((n) => n.name)),
				why: `${hits.length} match${hits.length === 1 ? '' : 'es'}${hits.length > SEARCH_MAX ? ` (first ${SEARCH_MAX})` : ''} and their neighbours`};
		}
		if (this.cycles.length) {
			for (const c of this.cycles) for (const l of c.locks) set.add(l);
			for (const l of [...set]) for (const m of this.neighbours(l, NEIGHBOURS)) set.add(m);
			return {set, why: 'the cycles and their neighbours'};
		}
		const top = [...this.nodes].sort((a, b) => this.weight.get(b.name) - this.weight.get(a.name)).slice(0, NO_CYCLE_LOCKS);
		for (const n of top) set.add(n.name);
		return {set, why: top.length < this.nodes.length ? `no cycle: the ${top.length} locks taken most in nested order` : 'no cycle'};
	}

	render() {
		this.box.replaceChildren();
		this.box.className = '';
		if (!this.nodes.length) {
			this.note.textContent = '';
			this.box.textContent = 'No lock was taken while another was held (or the recording had no full-mode time).';
			this.box.className = 'empty';
			return;
		}
		const {set, hits, why} = this.chosen();
		const names = this.nodes.map((n) => n.name).filter((n) => set.has(n));
		const edges = this.edges.filter((e) => set.has(e.from) && set.has(e.to));
		this.note.textContent = `${names.length} of ${this.nodes.length} locks, ${edges.length} of ${this.edges.length} edges: ${why}`;
		if (!names.length) return;
		const {layer, back} = layers(names, edges);
		const svg = el('svg', {role: 'img'}, this.box);
		markers(svg);

		// a row per lock, the rows in layers top to bottom, each layer indented one step further;
		// within a layer, the order of the mean row of the predecessors (then of the successors)
		const cols = [];
		for (const n of names) (cols[layer.get(n)] ||= []).push(n);
		const preds = new Map(names.map((n) => [n, []])), succs = new Map(names.map((n) => [n, []]));
		for (const e of edges) if (e.from !== e.to) { succs.get(e.from).push(e.to); preds.get(e.to).push(e.from); }
		const row = new Map();
		const number = () => { let r = 0; for (const c of cols) for (const n of c || []) row.set(n, r++); };
		number();
		const mean = (list, n) => (list.length ? list.reduce((sum, m) => sum + row.get(m), 0) / list.length : row.get(n));
		for (let sweep = 0; sweep < 4; sweep++) {
			const down = sweep % 2 === 0;
			for (const c of cols) {
				if (!c) continue;
				const key = new Map(c.map((n) => [n, mean(down ? preds.get(n) : succs.get(n), n)]));
				c.sort((a, b) => key.get(a) - key.get(b));
				number();
			}
		}

		const xy = new Map();
		let W = 0;
		for (const n of names) {
			const node = el('g', {class: 'node', 'data-name': n}, svg);
			if (/^GIL(\+0x[0-9a-f]+)?$/.test(n)) node.classList.add('gil');
			if (hits?.has(n)) node.classList.add('hit');
			const x = PAD + INDENT * Math.min(layer.get(n), INDENT_MAX), y = PAD + row.get(n) * ROW;
			const rect = el('rect', {rx: 4, ry: 4, x, y, height: BOX_H}, node);
			const t = el('text', {x: x + 6, y: y + BOX_H - 5}, node);
			t.textContent = shortLabel(n);
			el('title', {}, node).textContent = `${n} (${this.kind.get(n)})`;
			node.addEventListener('click', () => this.onLock(n));
			let w = 0;
			try { w = t.getComputedTextLength(); } catch { /* not laid out */ }
			w = (w || t.textContent.length * 6.5) + 12;
			rect.setAttribute('width', w);
			xy.set(n, {x, y, w});
			W = Math.max(W, x + w);
		}
		W += PAD + 60; // room for the edges that go back up, on the right
		const H = PAD * 2 + names.length * ROW;
		svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
		svg.setAttribute('width', W);
		svg.setAttribute('height', H);
		this.edgeEls = [];
		this.nodeEls = new Map(names.map((n) => [n, svg.querySelector(`g.node[data-name="${CSS.escape(n)}"]`)]));
		const edgeLayer = el('g', {class: 'edges'});
		svg.insertBefore(edgeLayer, svg.querySelector('g.node'));
		for (const e of edges) this.edge(edgeLayer, e, xy.get(e.from), xy.get(e.to));
		if (this.selected) this.select(this.selected);
	}

	// An edge down the rows runs from under its source's box to the left side of its target;
	// one that goes back up (the one closing a cycle) runs on the right, from end to end.
	edge(parent, e, a, b) {
		if (!a || !b) return;
		let d;
		if (e.from === e.to) {
			const ex = a.x + a.w, cy = a.y + BOX_H / 2;
			d = `M${ex},${cy - 4} C${ex + 24},${cy - 16} ${ex + 24},${cy + 16} ${ex + 2},${cy + 4}`;
		} else if (b.y > a.y) {
			const sx = a.x + 10, sy = a.y + BOX_H, ex = b.x - 2, ey = b.y + BOX_H / 2;
			const k = Math.min(ey - sy, Math.max(8, ex - sx)) * 0.8;
			d = `M${sx},${sy} C${sx},${ey - k / 2} ${ex - k},${ey} ${ex},${ey}`;
		} else {
			const sx = a.x + a.w, sy = a.y + BOX_H / 2, ex = b.x + b.w + 2, ey = b.y + BOX_H / 2;
			const out = Math.max(sx, ex) + 18 + Math.min(40, (sy - ey) / 6);
			d = `M${sx},${sy} C${out},${sy} ${out},${ey} ${ex},${ey}`;
		}
		const cls = ['edge'];
		if (e.in_cycle) cls.push('cycle');
		if (e.suppressed) cls.push('suppressed');
		if (e.try_only) cls.push('try');
		const g = el('g', {class: 'edge-group', 'data-from': e.from, 'data-to': e.to}, parent);
		const path = el('path', {d, class: cls.join(' '), 'marker-end': `url(#${e.in_cycle ? 'arrow-red' : 'arrow'})`}, g);
		el('path', {d, class: 'hit'}, g);
		el('title', {}, g).textContent = `${e.from} → ${e.to} (${e.count}×)`;
		g.addEventListener('click', () => this.pick(e, path));
		this.edgeEls.push(path);
	}

	describe(e) {
		let s = `${e.from} → ${e.to}: taken ${e.count}× by thread${e.tids.length > 1 ? 's' : ''} ${e.tids.join(', ')}`;
		if (e.in_cycle) s += '\npotential deadlock: this edge closes a cycle';
		if (e.suppressed) s += `\ncycle made safe by the gate lock ${this.gates.get(e.from) || this.gates.get(e.to) || ''}`;
		if (e.try_only) s += '\nonly ever a trylock: it cannot block';
		return s + '\n\nwhere ' + e.to + ' was taken while holding ' + e.from + ':\n' + (e.stack || []).join('\n');
	}

	pick(e, path) {
		for (const p of this.edgeEls) p.classList.remove('picked');
		path.classList.add('picked');
		this.detail.textContent = this.describe(e);
	}

	// A cycle of the list: drawn (a search or "all" that hid it is cleared), its edges picked,
	// their stacks shown.
	pickCycle(i) {
		const c = this.cycles[i], ring = new Set(c.locks.map((l, k) => `${l}\n${c.locks[(k + 1) % c.locks.length]}`));
		if (this.search.value || (!this.all.checked && !c.locks.every((l) => this.nodeEls?.has(l)))) {
			this.search.value = '';
			this.render();
		}
		for (const d of this.cyclesBox.querySelectorAll('.cycle-item')) d.classList.toggle('picked', d.dataset.index === String(i));
		const picked = this.edges.filter((e) => ring.has(`${e.from}\n${e.to}`));
		for (const p of this.edgeEls) {
			const g = p.parentElement;
			p.classList.toggle('picked', ring.has(`${g.dataset.from}\n${g.dataset.to}`));
		}
		this.detail.textContent = picked.map((e) => this.describe(e)).join('\n\n');
	}

	select(name) {
		this.selected = name;
		for (const [n, g] of this.nodeEls || []) g.classList.toggle('selected', n === name);
	}
}
