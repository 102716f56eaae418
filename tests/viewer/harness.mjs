// harness.mjs - what the viewer's test and bench share: `lockscope view` started on a free port
// and stopped with SIGTERM, and Debian's chromium launched headless with a fresh profile.
import {spawn} from 'node:child_process';
import {mkdtempSync} from 'node:fs';
import path from 'node:path';

// The flags keep chromium from reaching for the network, which this machine refuses.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchBrowser(chromium, dir) {
	const profile = mkdtempSync(path.join(dir, 'profile-'));
	return chromium.launchPersistentContext(profile, {executablePath: '/usr/bin/chromium', headless: true,
		args: CHROMIUM_ARGS, timeout: 60000});
}

// Starts `LS view --port 0 TRACE`; resolves once it prints its URL (with its secret).
export function serve(ls, trace) {
	return new Promise((resolve, reject) => {
		const p = spawn(ls, ['view', '--port', '0', trace], {stdio: ['ignore', 'ignore', 'pipe']});
		let err = '';
		const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`view did not start: ${err}`)); }, 120000);
		p.stderr.on('data', (d) => {
			err += d;
			// the URL carries the run's secret as its first path segment
			const m = err.match(/lockscope: view: (http:\/\/127\.0\.0\.1:(\d+)\/([0-9a-f]{32})\/)\n/);
			if (!m) return;
			clearTimeout(timer);
			resolve({
				url: m[1],
				port: Number(m[2]),
				secret: m[3],
				stop: () => new Promise((done) => {
					p.on('exit', (code, sig) => done({code, sig}));
					p.kill('SIGTERM');
				}),
				process: p,
			});
		});
		p.on('exit', (code) => { clearTimeout(timer); reject(new Error(`view exited ${code}: ${err}`)); });
	});
}
