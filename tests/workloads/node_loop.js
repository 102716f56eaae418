// node_loop.js - a Node.js event loop with 10 ms heartbeats, blocked twice by ~0.2 s of CPU work
// in busyHandler, then twice by a synchronous call in syncHandler (child_process.execSync of a
// 0.2 s sleep: Node waits for the child in a loop of its own, on another epoll instance). Prints
// its own ground truth: one line per block, "block CAUSE FUNCTION START_NS DURATION_NS"
// (performance.now(), in ns), then "done N".
'use strict';

const { execSync } = require('child_process');
const { performance } = require('perf_hooks');

const BLOCK_MS = 200;
let blocks = 0;
let sink = 0;

function report(cause, func, t0) {
  blocks++;
  const t1 = performance.now();
  console.log(`block ${cause} ${func} ${Math.round(t0 * 1e6)} ${Math.round((t1 - t0) * 1e6)}`);
}

// small-integer arithmetic: nothing allocated, so no garbage collection whose helper threads the
// handler would wait for (a lock wait, on a loaded machine longer than the work)
function busyHandler() {
  const t0 = performance.now();
  let x = 0;
  while (performance.now() - t0 < BLOCK_MS) {
    for (let i = 0; i < 20000; i++) x = (x * 31 + i) | 0;
  }
  sink ^= x;
  report('cpu', 'busyHandler', t0);
}

function syncHandler() {
  const t0 = performance.now();
  execSync(`sleep ${BLOCK_MS / 1000}`);
  report('io', 'syncHandler', t0);
}

// the first write to stdout sets the stream up (milliseconds of work on the loop): not inside
// a block, where it would lengthen the gap past what the handler measures
console.log('start');
const beat = setInterval(() => {}, 10);
const handlers = [busyHandler, busyHandler, syncHandler, syncHandler];
handlers.forEach((h, i) => setTimeout(h, 400 + 500 * i));
setTimeout(() => {
  clearInterval(beat);
  console.log(`done ${blocks}`);
}, 400 + 500 * handlers.length);
// the perf map V8 writes with --perf-basic-prof is left behind in /tmp otherwise
process.on('exit', () => {
  try {
    require('fs').unlinkSync(`/tmp/perf-${process.pid}.map`);
  } catch (e) {}
});
