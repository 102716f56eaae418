// panels.js - the report's tables: hotspots (sortable, a click selects the lock), deadlocks and
// event-loop blocks (a click shows the moment on the timeline).
import {fmtNs, userFrame} from './data.js';

function cell(tr, text, cls) {
	const td = document.createElement('td');
	td.textContent = text;
	if (cls) td.className = cls;
	tr.appendChild(td);
	return td;
}

// A table of ROWS with COLUMNS [{key, label, fmt, num}], sortable by a click on a header.
export class SortableTable {
	constructor(table, columns, rows, onRow) {
		this.table = table;
		this.columns = columns;
		this.rows = rows;
		this.onRow = onRow;
		this.sortKey = columns.find((c) => c.num)?.key;
		this.asc = false;
		this.selected = null;
		this.render();
	}

	sort(key) {
		this.asc = this.sortKey === key ? !this.asc : !this.columns.find((c) => c.key === key).num;
		this.sortKey = key;
		this.render();
	}

	render() {
		const head = this.table.tHead, body = this.table.tBodies[0];
		head.replaceChildren();
		body.replaceChildren();
		const hr = head.insertRow();
		for (const c of this.columns) {
			const th = document.createElement('th');
			th.textContent = c.label;
			if (c.title) th.title = c.title;
			th.dataset.key = c.key;
			if (c.key === this.sortKey) th.className = 'sorted' + (this.asc ? ' asc' : '');
			th.addEventListener('click', () => this.sort(c.key));
			hr.appendChild(th);
		}
		const k = this.sortKey, dir = this.asc ? 1 : -1;
		const rows = [...this.rows].sort((a, b) => {
			const x = a[k] ?? -Infinity, y = b[k] ?? -Infinity;
			return (x < y ? -1 : x > y ? 1 : 0) * dir;
		});
		if (!rows.length) {
			const tr = body.insertRow();
			cell(tr, 'none', 'empty').colSpan = this.columns.length;
		}
		for (const r of rows) {
			const tr = body.insertRow();
			tr.dataset.name = r.name ?? '';
			if (this.selected != null && r.name === this.selected) tr.className = 'selected';
			for (const c of this.columns) {
				const td = cell(tr, c.fmt ? c.fmt(r[c.key], r) : r[c.key] ?? '–', c.key === 'name' ? 'name' : '');
				if (td.textContent === NOT_TRACED) td.className = 'untraced';
				if (c.tip) td.title = c.tip(r[c.key], r) || '';
				if (c.sub && c.sub(r)) {
					const small = document.createElement('small');
					small.textContent = c.sub(r);
					td.append(' ', small);
				}
			}
			tr.title = r.name ?? '';
			tr.addEventListener('click', () => this.onRow(r));
		}
	}

	select(name) {
		this.selected = name;
		for (const tr of this.table.tBodies[0].rows) tr.classList.toggle('selected', name != null && tr.dataset.name === name);
	}
}

const NOT_TRACED = 'not traced';
const count = (v) => (v == null ? NOT_TRACED : v.toLocaleString('en'));
// hold figures exist only where lock and unlock were traced (full mode): none is "not traced"
const held = (fmt) => (v, r) => (v == null || !r.acquisitions ? NOT_TRACED : fmt(v));

export function hotspotsTable(table, caption, report, onLock) {
	const cov = report.recording.full_coverage;
	const share = cov == null ? 'the full-mode part' : `${(cov * 100).toFixed(1)}%`;
	const holdNote = `counted in full mode only: ${share} of the recording`;
	caption.textContent = cov ? `Acquired, Held and Max hold are ${holdNote}; "not traced" where no acquisition was seen.`
		: 'No full-mode time: acquisitions and holds were not traced.';
	const columns = [
		{key: 'name', label: 'Lock', sub: (r) => r.kind},
		{key: 'contentions', label: 'Contentions', num: true, fmt: count},
		{key: 'wait_ns', label: 'Wait', num: true, fmt: fmtNs},
		{key: 'max_wait_ns', label: 'Max wait', num: true, fmt: fmtNs},
		{key: 'acquisitions', label: 'Acquired*', num: true, fmt: count, title: holdNote},
		{key: 'hold_ns', label: 'Held*', num: true, fmt: held(fmtNs), title: holdNote},
		{key: 'max_hold_ns', label: 'Max hold*', num: true, fmt: held(fmtNs), title: holdNote},
	];
	return new SortableTable(table, columns, report.locks || [], (r) => onLock(r.name));
}

export function loopBlocksTable(table, report, threadName, onBlock) {
	const rows = (report.loop_blocks || []).map((b) => ({...b, name: null, thread: `${threadName(b.tid)} (${b.tid})`, where: userFrame(b.stack)}));
	const columns = [
		{key: 'thread', label: 'Thread'},
		{key: 'start_ns', label: 'At', num: true, fmt: fmtNs},
		{key: 'duration_ns', label: 'Blocked', num: true, fmt: fmtNs},
		{key: 'cause', label: 'Cause'},
		{key: 'on_cpu_ns', label: 'On CPU', num: true, fmt: fmtNs},
		// the program's own frame, not the leaf (clock_nanosleep); the whole stack on hover
		{key: 'where', label: 'Where', fmt: (w) => w || '–', tip: (w, r) => (r.stack || []).join('\n')},
	];
	return new SortableTable(table, columns, rows, onBlock);
}

// One thread or task of a deadlock: what it holds and waits for, and its stack.
function deadlockMember(div, who, t) {
	const line = document.createElement('div');
	line.textContent = `${who} holds ${(t.holds || []).join(', ') || 'nothing seen'}, waits for ${t.waits_for}`;
	div.appendChild(line);
	const pre = document.createElement('pre');
	pre.textContent = (t.stack || []).join('\n');
	div.appendChild(pre);
}

export function deadlocksPanel(box, report, onDeadlock) {
	const list = report.deadlocks || [];
	box.replaceChildren();
	if (!list.length) {
		const p = document.createElement('p');
		p.className = 'empty';
		p.textContent = 'No thread was stuck in a cycle.';
		box.appendChild(p);
		return;
	}
	for (const d of list) {
		const div = document.createElement('div');
		div.className = 'deadlock';
		const h = document.createElement('b');
		h.textContent = `${d.locks.join(' ↔ ')} at ${fmtNs(d.detected_ns)}`;
		div.appendChild(h);
		for (const t of d.threads || [])
			deadlockMember(div, `${t.name || ''} (${t.tid})`, t);
		for (const t of d.tasks || []) // asyncio: tasks on their loop's thread
			deadlockMember(div, `task ${t.name} (${t.coro}, loop thread ${t.tid})`, t);
		div.addEventListener('click', () => onDeadlock(d));
		box.appendChild(div);
	}
}
