// timeline.js - the canvas timeline: a track per thread with rows for waits, holds, wake calls
// and event-loop blocks; only the visible range is drawn, and slices under a pixel are merged.
import {ROW_WAIT, ROW_WAKE, ROW_HOLD, fmtNs, GIL_COLOR, MERGED_COLOR} from './data.js';

const GUTTER = 170; // thread names
const RULER = 22;
const ROW_H = {[ROW_WAIT]: 16, [ROW_HOLD]: 14, [ROW_WAKE]: 8, loop: 10};
const TRACK_GAP = 6;
const GROUP_H = 18; // a process's header, above its threads' tracks (traces of several)
const ROW_NAME = {[ROW_WAIT]: 'waits', [ROW_HOLD]: 'holds', [ROW_WAKE]: 'wakes', loop: 'loop blocks'};
const FLOW_MAX = 400; // flows are drawn when no more than this many are in view
export const LOOP_COLORS = {sleep: '#e6a23c', cpu: '#f56c6c', lock: '#a05ad0', io: '#4aa3c8', other: '#999'};

// TEXT cut with '…' to fit WIDTH px in C's font: a long command line is cut, not squeezed.
function fitText(c, text, width) {
	if (c.measureText(text).width <= width) return text;
	let lo = 0, hi = text.length;
	while (lo < hi) {
		const mid = (lo + hi + 1) >> 1;
		if (c.measureText(text.slice(0, mid) + '…').width <= width) lo = mid; else hi = mid - 1;
	}
	return text.slice(0, lo) + '…';
}

export class Timeline {
	constructor(els, data, onSelect) {
		this.canvas = els.canvas;
		this.scroll = els.scroll;
		this.spacer = els.spacer;
		this.tooltip = els.tooltip;
		this.t = data.timeline;
		this.report = data.report;
		this.onSelect = onSelect;
		this.selected = -1; // lock index in the timeline's table
		this.cycleLocks = new Set(data.graph.cycles.flat());
		this.colors = data.colors.wait;
		this.holdColors = data.colors.hold;
		this.duration = Math.max(this.t.meta.duration_ns, 1000);
		this.t0 = 0;
		this.t1 = this.duration;
		this.stats = {frames: 0, slicesDrawn: 0, rectsDrawn: 0, highlighted: 0, highlightedHolds: 0, flowsDrawn: 0, frameMs: 0};
		this.layoutTracks();
		this.bind();
		this.resize();
	}

	// ---- layout: tracks, their rows and where they are ----
	layoutTracks() {
		const meta = this.t.meta;
		const byTid = new Map();
		this.tracks = meta.tracks.map((tr, i) => {
			const o = {tid: tr.tid, name: tr.name || `tid ${tr.tid}`, lanes: {}, loops: [], index: i};
			byTid.set(tr.tid, o);
			return o;
		});
		for (const l of meta.lanes) this.tracks[l.track].lanes[l.row] = l;
		for (const b of this.report.loop_blocks || []) {
			let o = byTid.get(b.tid);
			if (!o) {
				o = {tid: b.tid, name: `tid ${b.tid}`, lanes: {}, loops: [], index: this.tracks.length};
				this.tracks.push(o);
				byTid.set(b.tid, o);
			}
			o.loops.push(b);
		}
		this.byTid = byTid;
		this.deadlockMarks = [];
		for (const d of this.report.deadlocks || [])
			for (const th of d.threads || d.tasks || []) // asyncio: the tasks' loop thread
				this.deadlockMarks.push({tid: th.tid, ts: d.detected_ns, text: `deadlock: ${d.locks.join(' ↔ ')}`});
		// a trace of several processes: each one's tracks together, under a header naming it,
		// in the report's order of processes (the target first); one process: as they came
		const procs = this.report.processes || [];
		const pidOf = new Map((this.report.threads || []).map((th) => [th.tid, th.pid]));
		const rank = new Map(procs.map((p, i) => [p.pid, i]));
		const rankOf = (o) => rank.get(pidOf.get(o.tid)) ?? procs.length; // not known: last
		const order = procs.length > 1
			? [...this.tracks].sort((a, b) => rankOf(a) - rankOf(b) || a.index - b.index) : this.tracks;
		this.groups = [];
		let y = RULER, group = null;
		for (const o of order) {
			if (procs.length > 1 && (!group || group.rank !== rankOf(o))) {
				const p = procs[rankOf(o)];
				group = {rank: rankOf(o), pid: p ? p.pid : null, y, tids: [],
					label: p ? `${p.comm ?? 'process'} ${p.pid}${p.cmdline ? ` · ${p.cmdline}` : ''}`
						: 'threads of no known process'};
				this.groups.push(group);
				y += GROUP_H;
			}
			group?.tids.push(o.tid);
			o.y = y;
			o.rows = [];
			let ry = y + 14; // the name line
			for (const row of [ROW_WAIT, ROW_HOLD, ROW_WAKE]) {
				if (!o.lanes[row]) continue;
				o.rows.push({row, y: ry, h: ROW_H[row]});
				ry += ROW_H[row] + 2;
			}
			if (o.loops.length) {
				o.rows.push({row: 'loop', y: ry, h: ROW_H.loop});
				ry += ROW_H.loop + 2;
			}
			o.h = ry - y + TRACK_GAP;
			y += o.h;
		}
		this.contentH = y;
	}

	resize() {
		const dpr = window.devicePixelRatio || 1;
		// as tall as the tracks, up to most of the window: no empty half page, no endless one
		const want = Math.max(RULER + 60, Math.min(this.contentH + 2, Math.round(window.innerHeight * 0.6))) + 'px';
		if (this.scroll.style.height !== want) this.scroll.style.height = want;
		const w = this.scroll.clientWidth, h = this.scroll.clientHeight;
		this.w = w;
		this.h = h;
		this.canvas.width = Math.round(w * dpr);
		this.canvas.height = Math.round(h * dpr);
		this.canvas.style.width = w + 'px';
		this.canvas.style.height = h + 'px';
		this.spacer.style.height = Math.max(0, this.contentH - h) + 'px';
		this.ctx = this.canvas.getContext('2d');
		this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
		this.request();
	}

	// ---- view ----
	get plotW() { return Math.max(1, this.w - GUTTER); }
	xOf(ts) { return GUTTER + (ts - this.t0) * this.plotW / (this.t1 - this.t0); }
	tsOf(x) { return this.t0 + (x - GUTTER) * (this.t1 - this.t0) / this.plotW; }

	setRange(t0, t1) {
		const span = Math.min(Math.max(t1 - t0, 1000), this.duration * 1.2);
		const pad = this.duration * 0.1;
		t0 = Math.min(Math.max(t0, -pad), this.duration + pad - span);
		this.t0 = t0;
		this.t1 = t0 + span;
		this.request();
	}
	zoom(factor, atX) {
		const at = this.tsOf(atX ?? GUTTER + this.plotW / 2);
		this.setRange(at - (at - this.t0) * factor, at + (this.t1 - at) * factor);
	}
	pan(fraction) {
		const d = (this.t1 - this.t0) * fraction;
		this.setRange(this.t0 + d, this.t1 + d);
	}
	// Shows SPAN ns around TS and, if TID is given, scrolls its track into view.
	show(ts, span, tid) {
		this.setRange(ts - span / 2, ts + span / 2);
		const o = tid != null && this.byTid.get(tid);
		if (o && (o.y - this.scroll.scrollTop < RULER || o.y + o.h - this.scroll.scrollTop > this.h))
			this.scroll.scrollTop = o.y - RULER;
	}

	select(lockIndex) {
		this.selected = lockIndex;
		this.request();
	}

	request() {
		if (this.pending) return;
		this.pending = requestAnimationFrame(() => {
			this.pending = 0;
			this.draw();
		});
	}

	// ---- drawing ----
	draw() {
		const began = performance.now();
		const c = this.ctx, top = this.scroll.scrollTop;
		const st = {slicesDrawn: 0, rectsDrawn: 0, highlighted: 0, highlightedHolds: 0, flowsDrawn: 0, deadlockMarks: 0, loopBlocks: 0, loopCauses: []};
		c.clearRect(0, 0, this.w, this.h);
		c.save();
		c.beginPath();
		c.rect(GUTTER, 0, this.plotW, this.h);
		c.clip();
		for (const o of this.tracks) {
			if (o.y + o.h - top < RULER || o.y - top > this.h) continue;
			for (const r of o.rows) {
				const y = r.y - top;
				if (r.row === 'loop') this.drawLoops(o, y, r.h, st);
				else this.drawLane(o.lanes[r.row], y, r.h, st);
			}
			for (const m of this.deadlockMarks) {
				if (m.tid !== o.tid || m.ts < this.t0 || m.ts > this.t1) continue;
				this.drawDeadlock(m, o.y - top, o.h);
				st.deadlockMarks++;
			}
		}
		this.drawFlows(top, st);
		c.restore();
		this.drawGutter(top);
		this.drawRuler();
		st.frameMs = performance.now() - began;
		st.frames = this.stats.frames + 1;
		this.stats = st;
		this.onDraw?.(st);
	}

	// One lane: its slices in [t0, t1], slices under a pixel merged with their neighbours. The
	// loop runs over every slice in view, so it keeps to locals and typed arrays.
	drawLane(lane, y, h, st) {
		const t = this.t, c = this.ctx, k = this.plotW / (this.t1 - this.t0);
		const S = t.start, D = t.dur, L = t.lock, t0 = this.t0, t1 = this.t1;
		const end = lane.first + lane.count, sel = this.selected;
		this.palette = lane.row === ROW_HOLD ? this.holdColors : this.colors;
		let lo = lane.first, hi = end;
		const from = t0 - lane.max_dur_ns;
		while (lo < hi) { // first slice that may reach into view
			const mid = (lo + hi) >>> 1;
			if (S[mid] < from) lo = mid + 1; else hi = mid;
		}
		let mx0 = 0, mx1 = -2, mlock = -1, msel = false, visited = 0, hl = 0, i = lo;
		for (; i < end; i++) {
			const s = S[i];
			if (s > t1) break;
			const e = s + D[i];
			if (e < t0) continue;
			const x0 = GUTTER + (s - t0) * k, x1 = GUTTER + (e - t0) * k, l = L[i];
			visited++;
			if (l === sel) hl++;
			if (x1 - x0 < 1) { // under a pixel: merged into the run before it, if it is close
				if (x0 <= mx1 + 1) {
					if (x1 > mx1) mx1 = x1;
					if (mlock !== l) mlock = -1;
					if (l === sel) msel = true;
					continue;
				}
				if (mx1 >= mx0) this.fillRun(mx0, mx1, y, h, mlock, msel, st);
				mx0 = x0;
				mx1 = x1 > x0 + 0.5 ? x1 : x0 + 0.5;
				mlock = l;
				msel = l === sel;
				continue;
			}
			if (mx1 >= mx0) this.fillRun(mx0, mx1, y, h, mlock, msel, st);
			mx1 = -2;
			this.fillSlice(i, x0, x1, y, h, st);
		}
		if (mx1 >= mx0) this.fillRun(mx0, mx1, y, h, mlock, msel, st);
		st.slicesDrawn += visited;
		st.highlighted += hl;
		if (lane.row === ROW_HOLD) st.highlightedHolds += hl;
		c.globalAlpha = 1;
	}

	// A run of merged slices: the colour of their lock if they share one, else grey.
	fillRun(x0, x1, y, h, lock, sel, st) {
		const c = this.ctx;
		c.globalAlpha = this.selected < 0 || sel ? 1 : 0.25;
		c.fillStyle = lock >= 0 ? this.palette[lock] : MERGED_COLOR;
		c.fillRect(x0, y, Math.max(x1 - x0, 1), h);
		st.rectsDrawn++;
	}

	// A slice of a pixel or more: its lock's colour, an outline if selected, a red underline if
	// its lock is in a potential deadlock, and the lock's name where it fits.
	fillSlice(i, x0, x1, y, h, st) {
		const c = this.ctx, l = this.t.lock[i], isSel = l === this.selected, inset = 3 * this.t.depth[i];
		y += inset; // a hold inside another hold of the same thread
		h -= inset;
		c.globalAlpha = this.selected < 0 || isSel ? 1 : 0.25;
		c.fillStyle = this.palette[l];
		c.fillRect(x0, y, x1 - x0, h);
		st.rectsDrawn++;
		c.globalAlpha = 1;
		if (isSel && x1 - x0 > 8) {
			c.strokeStyle = '#000';
			c.strokeRect(x0 + 0.5, y + 0.5, x1 - x0 - 1, h - 1);
		}
		const name = this.t.meta.locks[l].name;
		if (this.cycleLocks.has(name)) {
			c.fillStyle = '#d62728';
			c.fillRect(x0, y + h - 2, x1 - x0, 2);
		}
		if (x1 - x0 > 50 && h > 10) {
			c.fillStyle = this.palette[l] === GIL_COLOR ? '#fff' : '#111';
			c.font = '11px system-ui, sans-serif';
			const vx = Math.max(x0, GUTTER) + 3;
			c.fillText(name, vx, y + h - 4, Math.min(x1, this.w) - vx - 3);
		}
	}

	drawLoops(o, y, h, st) {
		const c = this.ctx;
		for (const b of o.loops) {
			if (b.start_ns > this.t1 || b.start_ns + b.duration_ns < this.t0) continue;
			const x0 = this.xOf(b.start_ns), x1 = Math.max(this.xOf(b.start_ns + b.duration_ns), x0 + 1);
			c.fillStyle = LOOP_COLORS[b.cause] || LOOP_COLORS.other;
			c.fillRect(x0, y, x1 - x0, h);
			st.rectsDrawn++;
			st.loopBlocks++;
			if (!st.loopCauses.includes(b.cause)) st.loopCauses.push(b.cause);
		}
	}

	drawDeadlock(m, y, h) {
		const c = this.ctx, x = this.xOf(m.ts);
		c.strokeStyle = '#d62728';
		c.lineWidth = 2;
		c.beginPath();
		c.moveTo(x, y);
		c.lineTo(x, y + h - TRACK_GAP);
		c.stroke();
		c.fillStyle = '#d62728';
		c.beginPath();
		c.moveTo(x - 6, y);
		c.lineTo(x + 6, y);
		c.lineTo(x, y + 9);
		c.fill();
		c.lineWidth = 1;
	}

	rowY(track, row) {
		const o = this.tracks[track];
		const r = o && o.rows.find((x) => x.row === row);
		return r ? r.y + r.h / 2 : o ? o.y + 7 : 0;
	}

	drawFlows(top, st) {
		const t = this.t, c = this.ctx, ord = t.flowOrder;
		let lo = 0, hi = t.nflows;
		while (lo < hi) {
			const mid = (lo + hi) >>> 1;
			if (t.flowTo[ord[mid]] < this.t0) lo = mid + 1; else hi = mid;
		}
		let end = lo;
		while (end < t.nflows && t.flowTo[ord[end]] <= this.t1) end++;
		if (end - lo > FLOW_MAX) return;
		c.lineWidth = 1;
		for (let j = lo; j < end; j++) {
			const i = ord[j];
			const x0 = this.xOf(t.flowFrom[i]), x1 = this.xOf(t.flowTo[i]);
			const y0 = this.rowY(t.flowFromTrack[i], ROW_WAKE) - top;
			const y1 = this.rowY(t.flowToTrack[i], ROW_WAIT) - top;
			const sel = this.selected >= 0 && t.flowLock[i] === this.selected;
			c.strokeStyle = sel ? 'rgba(0, 0, 0, 0.8)' : 'rgba(40, 40, 60, 0.3)';
			c.beginPath();
			c.moveTo(x0, y0);
			c.bezierCurveTo(x0 + 12, y0, x1 - 12, y1, x1, y1);
			c.stroke();
			c.fillStyle = c.strokeStyle;
			c.beginPath();
			c.moveTo(x1, y1);
			c.lineTo(x1 - 5, y1 - 3);
			c.lineTo(x1 - 5, y1 + 3);
			c.fill();
			st.flowsDrawn++;
		}
	}

	drawGutter(top) {
		const c = this.ctx;
		c.fillStyle = '#f3f4f6';
		c.fillRect(0, 0, GUTTER, this.h);
		c.fillStyle = '#1d1f21';
		c.font = '12px system-ui, sans-serif';
		for (const g of this.groups) {
			const y = g.y - top;
			if (y + GROUP_H < RULER || y > this.h) continue;
			c.fillStyle = '#e4e7ed';
			c.fillRect(0, y, this.w, GROUP_H);
			c.fillStyle = '#1d1f21';
			c.font = 'bold 12px system-ui, sans-serif';
			c.fillText(fitText(c, g.label, this.w - 12), 6, y + 13);
		}
		for (const o of this.tracks) {
			const y = o.y - top;
			if (y + o.h < RULER || y > this.h) continue;
			c.fillStyle = '#1d1f21';
			c.font = '12px system-ui, sans-serif';
			c.fillText(`${o.name} ${o.tid}`, 6, y + 11, GUTTER - 10);
			// each row says what it holds
			c.fillStyle = '#6b6f76';
			c.font = '10px system-ui, sans-serif';
			c.textAlign = 'right';
			for (const r of o.rows) c.fillText(ROW_NAME[r.row], GUTTER - 6, r.y - top + Math.min(r.h, 10) - 1);
			c.textAlign = 'left';
			c.strokeStyle = '#e3e5e9';
			c.beginPath();
			c.moveTo(0, y + o.h - 0.5);
			c.lineTo(this.w, y + o.h - 0.5);
			c.stroke();
		}
	}

	drawRuler() {
		const c = this.ctx, span = this.t1 - this.t0;
		c.fillStyle = '#fff';
		c.fillRect(0, 0, this.w, RULER);
		c.strokeStyle = '#d8dadf';
		c.beginPath();
		c.moveTo(0, RULER - 0.5);
		c.lineTo(this.w, RULER - 0.5);
		c.stroke();
		const raw = span / (this.plotW / 100);
		const p = Math.pow(10, Math.floor(Math.log10(raw)));
		const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
		c.fillStyle = '#6b6f76';
		c.font = '11px system-ui, sans-serif';
		for (let ts = Math.ceil(this.t0 / step) * step; ts <= this.t1; ts += step) {
			const x = this.xOf(ts);
			c.fillRect(x, RULER - 6, 1, 6);
			c.fillText(fmtNs(ts), x + 3, 12);
		}
		c.fillText(`${fmtNs(span)} shown`, 6, 12);
	}

	// ---- picking ----
	// The slice, loop block or merged run under (X, Y) in content coordinates, or null.
	pick(x, y) {
		if (x < GUTTER) return null;
		const o = this.tracks.find((tr) => y >= tr.y && y < tr.y + tr.h);
		const r = o && o.rows.find((rr) => y >= rr.y - 1 && y < rr.y + rr.h + 1);
		if (!r) return null;
		const ts = this.tsOf(x), tol = 2 * (this.t1 - this.t0) / this.plotW;
		if (r.row === 'loop') {
			const b = o.loops.find((bb) => ts >= bb.start_ns - tol && ts <= bb.start_ns + bb.duration_ns + tol);
			return b ? {loop: b, track: o} : null;
		}
		const t = this.t, lane = o.lanes[r.row];
		let lo = lane.first, hi = lane.first + lane.count;
		const from = ts - tol - lane.max_dur_ns;
		while (lo < hi) {
			const mid = (lo + hi) >>> 1;
			if (t.start[mid] < from) lo = mid + 1; else hi = mid;
		}
		let best = -1, n = 0;
		for (let i = lo; i < lane.first + lane.count && t.start[i] <= ts + tol; i++) {
			if (t.start[i] + t.dur[i] < ts - tol) continue;
			n++;
			if (best < 0 || t.dur[i] > t.dur[best]) best = i;
		}
		return best < 0 ? null : {slice: best, count: n, track: o};
	}

	// The client coordinates of the middle of the widest wait or hold of lock LOCK in view, or
	// null: for tests, which then point there as a person would.
	pointAt(lock) {
		const t = this.t, top = this.scroll.scrollTop, r = this.canvas.getBoundingClientRect();
		let best = null;
		for (const o of this.tracks) {
			for (const row of o.rows) {
				const lane = o.lanes[row.row];
				if (!lane || row.row === ROW_WAKE) continue;
				for (let i = lane.first; i < lane.first + lane.count; i++) {
					if (t.lock[i] !== lock || t.depth[i]) continue;
					const x0 = Math.max(this.xOf(t.start[i]), GUTTER), x1 = Math.min(this.xOf(t.start[i] + t.dur[i]), this.w);
					const y = row.y - top + row.h / 2;
					if (x1 - x0 > 2 && y > RULER && y < this.h && (!best || x1 - x0 > best.w))
						best = {x: r.left + (x0 + x1) / 2, y: r.top + y, w: x1 - x0};
				}
			}
		}
		return best;
	}

	describe(p) {
		const t = this.t;
		if (p.loop) {
			const b = p.loop;
			return `event-loop block on ${p.track.name} (${p.track.tid})\n${fmtNs(b.duration_ns)} at ${fmtNs(b.start_ns)}, cause ${b.cause}, on CPU ${fmtNs(b.on_cpu_ns)}\n` +
				(b.stack || []).join('\n');
		}
		const i = p.slice, lock = t.meta.locks[t.lock[i]];
		const what = {[ROW_WAIT]: 'wait for', [ROW_WAKE]: 'wake call on', [ROW_HOLD]: 'hold of'}[t.row[i]];
		let s = `${what} ${lock.name} (${lock.kind} ${lock.addr})\n${fmtNs(t.dur[i])} from ${fmtNs(t.start[i])} on ${p.track.name} (${p.track.tid})`;
		if (t.row[i] === ROW_WAIT) {
			const ow = t.owner[i], on = this.byTid.get(ow);
			s += `\nowner: ${ow ? `${ow}${on ? ` (${on.name})` : ''}` : 'unknown'}`;
			s += `\nresult: ${['woken', 'timeout', 'changed', 'interrupted', 'error', 'unfinished'][t.result[i]] || 'thread exited'}`;
			const frames = t.meta.stacks[t.stack[i]] || [];
			s += frames.length ? '\n' + frames.join('\n') : '\n(no stack)';
		}
		if (p.count > 1) s += `\n(+${p.count - 1} more here: zoom in)`;
		return s;
	}

	// ---- input ----
	bind() {
		const sc = this.scroll;
		let drag = null;
		new ResizeObserver(() => this.resize()).observe(sc);
		sc.addEventListener('scroll', () => this.request());
		sc.addEventListener('wheel', (e) => {
			if (e.shiftKey) return; // the page's own vertical scrolling
			e.preventDefault();
			const r = this.canvas.getBoundingClientRect();
			if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) this.pan(e.deltaX / this.plotW);
			else this.zoom(Math.pow(1.0015, e.deltaY), e.clientX - r.left);
		}, {passive: false});
		sc.addEventListener('mousedown', (e) => {
			drag = {x: e.clientX, y: e.clientY, t0: this.t0, t1: this.t1, top: sc.scrollTop, moved: false};
			sc.classList.add('dragging');
			sc.focus();
		});
		window.addEventListener('mousemove', (e) => {
			if (drag) {
				const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
				if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
				const d = -dx * (drag.t1 - drag.t0) / this.plotW;
				this.setRange(drag.t0 + d, drag.t1 + d);
				sc.scrollTop = drag.top - dy;
				this.tooltip.hidden = true;
				return;
			}
			this.hover(e);
		});
		window.addEventListener('mouseup', (e) => {
			if (!drag) return;
			const moved = drag.moved;
			drag = null;
			sc.classList.remove('dragging');
			if (!moved) this.click(e);
		});
		sc.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
		window.addEventListener('keydown', (e) => {
			if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
			const k = e.key.toLowerCase();
			if (k === 'w') this.zoom(0.8, this.mouseX);
			else if (k === 's') this.zoom(1.25, this.mouseX);
			else if (k === 'a') this.pan(-0.1);
			else if (k === 'd') this.pan(0.1);
			else if (k === 'escape') this.onSelect(null);
			else return;
			e.preventDefault();
		});
	}

	contentPoint(e) {
		const r = this.canvas.getBoundingClientRect();
		return {x: e.clientX - r.left, y: e.clientY - r.top + this.scroll.scrollTop, inside:
			e.clientX >= r.left && e.clientX < r.right && e.clientY >= r.top && e.clientY < r.bottom};
	}

	hover(e) {
		const p = this.contentPoint(e);
		this.mouseX = p.inside ? p.x : undefined;
		const hit = p.inside ? this.pick(p.x, p.y) : null;
		if (!hit) {
			this.tooltip.hidden = true;
			return;
		}
		const box = this.scroll.parentElement.getBoundingClientRect();
		this.tooltip.textContent = this.describe(hit);
		this.tooltip.hidden = false;
		const left = Math.min(e.clientX - box.left + 14, box.width - this.tooltip.offsetWidth - 4);
		this.tooltip.style.left = Math.max(0, left) + 'px';
		this.tooltip.style.top = (e.clientY - box.top + 14) + 'px';
	}

	click(e) {
		const p = this.contentPoint(e);
		const hit = p.inside ? this.pick(p.x, p.y) : null;
		this.onSelect(hit && hit.slice !== undefined ? this.t.meta.locks[this.t.lock[hit.slice]].name : null);
	}
}
