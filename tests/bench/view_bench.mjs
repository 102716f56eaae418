// view_bench.mjs - `make bench`'s viewer figures: `lockscope view` on a long trace in headless
// chromium: start-up of the server, time to the first full paint, and the frames of a zoom.
// Usage: node tests/bench/view_bench.mjs TRACE (from the repo root, after `npm ci` in tests/viewer).
import {createRequire} from 'node:module';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {launchBrowser, serve} from '../viewer/harness.mjs';

const {chromium} = createRequire(new URL('../viewer/package.json', import.meta.url))('playwright-core');
const trace = process.argv[2];
const dir = mkdtempSync(path.join(tmpdir(), 'lockscope-view-bench-'));
const line = (label, value) => console.log(`${label.padEnd(52)} ${value}`);
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

const began = Date.now();
const server = await serve('build/lockscope', trace);
const startup = Date.now() - began;
const browser = await launchBrowser(chromium, dir);
try {
	const page = await browser.newPage({viewport: {width: 1600, height: 1000}});
	await page.goto(server.url);
	await page.waitForFunction(() => window.__lockscope.ready || window.__lockscope.error, null, {timeout: 120000});
	const r = await page.evaluate(() => ({...window.__lockscope, stats: window.__lockscope.stats()}));
	if (r.error) throw new Error(r.error);
	line('viewer: server start-up (trace to documents)', `${startup} ms`);
	line('viewer: load + first full paint (navigation to paint)', `${Math.round(r.firstPaintMs)} ms (${r.stats.slices} slices, ${r.stats.flows} flows, data in ${Math.round(r.loadedMs)} ms)`);
	// zoom in 25 steps to the middle and back out, one frame each: its draw time and its wall time
	const frames = await page.evaluate(async () => {
		const ls = window.__lockscope, out = [];
		for (const f of [...Array(25).fill(0.7), ...Array(25).fill(1 / 0.7)]) {
			const t = performance.now();
			ls.zoom(f);
			const st = await ls.frame();
			out.push({draw: st.frameMs, wall: performance.now() - t, slices: st.slicesDrawn, rects: st.rectsDrawn});
		}
		return out;
	});
	const draws = frames.map((f) => f.draw), walls = frames.map((f) => f.wall);
	line('viewer: zoom frame, draw time median / max', `${median(draws).toFixed(1)} / ${Math.max(...draws).toFixed(1)} ms`);
	line('viewer: zoom frame, wall time median / max', `${median(walls).toFixed(1)} / ${Math.max(...walls).toFixed(1)} ms`);
	const whole = await page.evaluate(async () => {
		const out = [];
		for (let i = 0; i < 9; i++) out.push((await window.__lockscope.frame()).frameMs);
		return out;
	});
	line('viewer: whole trace in view: slices -> rects drawn', `${frames[49].slices} -> ${frames[49].rects} in ${median(whole).toFixed(1)} ms (median of 9)`);
} finally {
	await browser.close();
	await server.stop();
	rmSync(dir, {recursive: true, force: true});
}
