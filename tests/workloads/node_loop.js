// node_loop.js - a Node.js event loop with 10 ms heartbeats, blocked twice by ~0.2 s of busy work
// in busyHandler. Prints its own ground truth: one line per block,
// "block cpu busyHandler START_NS DURATION_NS" (process.hrtime: CLOCK_MONOTONIC), then "done N".
'use strict';

const BLOCK_NS = 200000000n;
let blocks = 0;

function busyHandler() {
  const t0 = process.hrtime.bigint();
  let n = 0;
  while (process.hrtime.bigint() - t0 < BLOCK_NS) n++;
  blocks++;
  console.log(`block cpu busyHandler ${t0} ${process.hrtime.bigint() - t0}`);
}

// the first write to stdout sets the stream up (milliseconds of work on the loop): not inside
// a block, where it would lengthen the gap past what the handler measures
console.log('start');
const beat = setInterval(() => {}, 10);
setTimeout(busyHandler, 400);
setTimeout(busyHandler, 900);
setTimeout(() => {
  clearInterval(beat);
  console.log(`done ${blocks}`);
}, 1400);
