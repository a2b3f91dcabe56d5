// Prints the median CPU time of layer_view on the synthetic image in wasm, and the baseline.
import { readFileSync } from 'node:fs';

const { instance } = await WebAssembly.instantiate(readFileSync(process.argv[2]), {});
const x = instance.exports;
const entries = x.build();
const RUNS = 31;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
function time(f) {
  const wall = [], cpu = [];
  let out;
  for (let i = 0; i < RUNS; i++) {
    const c = process.cpuUsage(), t = performance.now();
    out = f();
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  return { out, first: wall[0], wall: median(wall.slice(1)), cpu: median(cpu.slice(1)) };
}
const view = time(x.layer_view);
const base = time(x.btree_baseline);
console.log(`${entries} entries in 5 layers -> ${view.out} merged paths`);
console.log(`layer_view:     ${view.cpu.toFixed(1)} ms cpu, ${view.wall.toFixed(1)} ms wall (median of ${RUNS - 1}; first call ${view.first.toFixed(1)} ms, before V8 optimizes)`);
console.log(`BTreeMap insert of every path: ${base.cpu.toFixed(1)} ms cpu -> layer_view = ${(view.cpu / base.cpu).toFixed(1)}x the baseline`);
