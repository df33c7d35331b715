/**
 * heat — 2D heat diffusion (5-point Jacobi stencil) on a grid split into column strips, with
 * the halo columns exchanged by sendrecv every step. The strips form a 1-D Cartesian
 * communicator (`createCart`, not periodic): `shift(0, 1)` names the left and right neighbours,
 * PROC_NULL at the edges of the grid, where sendrecv then moves nothing.
 *
 * The grid is row-major, so a column is not contiguous: one 8-byte value per row. The example
 * sends each halo column in two ways and times both:
 *   - iovec: the column as a list of `{ buffer, offset, length }` slices, one per row — no
 *     temporary buffer; the receiver scatters straight into its ghost column (with single copy,
 *     process_vm_readv walks both slice lists);
 *   - pack:  copy the column into a contiguous Float64Array, send that, unpack on arrival.
 * Both runs start from the same state and must end bit-identical; rank 0 then gathers the
 * strips (each as a list of row slices, received straight into place in the full grid) and
 * compares them with a serial computation of the same grid. Row strips would make halos
 * contiguous — column strips are chosen here precisely to show non-contiguous messages.
 *
 *   onecopy run -n 4 examples/heat.ts                               (8192 × 2048, 50 steps)
 *   onecopy run -n 2 --no-cma examples/heat.ts
 *   onecopy run -n 4 examples/heat.ts --rows 16384 --cols 1024 --steps 20 --serial 0
 *   onecopy run -n 2 examples/heat.ts --small
 *
 * Options: --rows, --cols (global grid incl. the fixed boundary), --steps,
 * --bench N (halo-only exchanges per mode, default 20), --serial 0 (skip the serial check).
 */
import { init, allocBuffer, PROC_NULL } from "onecopy";
import { flags, human, report, verify } from "./_shared.js";

const opt = flags({ rows: 8192, cols: 2048, steps: 50, bench: 20, serial: 1 }, { rows: 4400, cols: 48, steps: 20, bench: 10 });
const world = await init();
// One strip per rank, in rank order: the strips are a 1-D grid that does not wrap around.
const comm = (await world.createCart([world.size], [false]))!;
const { rank, size } = comm;
const R = Math.floor(opt.rows);
const C = Math.floor(opt.cols);
if (R < 3 || C < 2 + size) {
  console.error(`heat: need rows ≥ 3 and cols ≥ ${2 + size} for ${size} ranks`);
  process.exit(2);
}
const K = 0.2; // diffusion number (stable for ≤ 0.25)

/** Initial value of global cell (r, c): hot top edge, warm left edge, a hot square inside. */
function initial(r: number, c: number): number {
  if (r === 0) return 1.0;
  if (c === 0) return 0.5;
  if (r === R - 1 || c === C - 1) return 0.0;
  const inR = Math.abs(r - R / 2) < R / 8;
  const inC = Math.abs(c - C / 2) < C / 8;
  return inR && inC ? 2.0 : 0.0;
}

// ---- the strip this rank owns: global columns [c0, c1), plus one ghost column each side --
const c0 = Math.floor((rank * C) / size);
const c1 = Math.floor(((rank + 1) * C) / size);
const w = c1 - c0;
const W = w + 2; // local row length
const { source: left, dest: right } = comm.shift(0, 1); // PROC_NULL past either edge
// Local columns that are updated: owned and not on the global boundary.
const uFrom = c0 === 0 ? 2 : 1; // first updated local col (global col 0 is boundary)
const uTo = c1 === C ? w - 1 : w; // last updated local col (inclusive)
const grids = [new Float64Array(allocBuffer(R * W * 8)), new Float64Array(allocBuffer(R * W * 8))];

function reset(): void {
  for (const g of grids) {
    for (let r = 0; r < R; r++) for (let lc = 0; lc < W; lc++) {
      const gc = c0 + lc - 1;
      g[r * W + lc] = gc >= 0 && gc < C ? initial(r, gc) : 0;
    }
  }
}

/** One Jacobi step from `a` into `b` over rows 1..R-2 and local columns from..to. */
function stencil(a: Float64Array, b: Float64Array, rowLen: number, from: number, to: number): void {
  for (let r = 1; r < R - 1; r++) {
    const base = r * rowLen;
    for (let i = base + from, end = base + to; i <= end; i++) {
      const u = a[i]!;
      b[i] = u + K * (a[i - 1]! + a[i + 1]! + a[i - rowLen]! + a[i + rowLen]! - 4 * u);
    }
  }
}

// ---- halo columns: as slice lists (one 8-byte piece per interior row), or packed ----------
type Slice = { buffer: ArrayBuffer; offset: number; length: number };
const column = (g: Float64Array, lc: number): Slice[] => {
  const out: Slice[] = [];
  for (let r = 1; r < R - 1; r++) out.push({ buffer: g.buffer as ArrayBuffer, offset: g.byteOffset + (r * W + lc) * 8, length: 8 });
  return out;
};
// Built once per grid: [first owned, last owned, left ghost, right ghost].
const cols = grids.map((g) => ({ first: column(g, 1), last: column(g, w), ghostL: column(g, 0), ghostR: column(g, w + 1) }));
const packOut = [new Float64Array(R - 2), new Float64Array(R - 2)];
const packIn = [new Float64Array(R - 2), new Float64Array(R - 2)];

async function haloIovec(g: number): Promise<void> {
  const c = cols[g]!;
  await Promise.all([
    comm.sendrecv(c.last, right, 1, c.ghostL, left, 1), // eastward
    comm.sendrecv(c.first, left, 2, c.ghostR, right, 2), // westward
  ]);
}

async function haloPack(g: number): Promise<void> {
  const a = grids[g]!;
  const [toR, toL] = packOut as [Float64Array, Float64Array];
  const [fromL, fromR] = packIn as [Float64Array, Float64Array];
  for (let r = 1; r < R - 1; r++) {
    toR[r - 1] = a[r * W + w]!;
    toL[r - 1] = a[r * W + 1]!;
  }
  await Promise.all([comm.sendrecv(toR, right, 1, fromL, left, 1), comm.sendrecv(toL, left, 2, fromR, right, 2)]);
  if (left !== PROC_NULL) for (let r = 1; r < R - 1; r++) a[r * W] = fromL[r - 1]!;
  if (right !== PROC_NULL) for (let r = 1; r < R - 1; r++) a[r * W + w + 1] = fromR[r - 1]!;
}

async function simulate(mode: "iovec" | "pack"): Promise<{ secs: number; halo: number; cur: number }> {
  reset();
  await comm.barrier();
  const t0 = performance.now();
  let halo = 0;
  let cur = 0;
  for (let s = 0; s < opt.steps; s++) {
    const h0 = performance.now();
    await (mode === "iovec" ? haloIovec(cur) : haloPack(cur));
    halo += performance.now() - h0;
    stencil(grids[cur]!, grids[1 - cur]!, W, uFrom, uTo);
    cur = 1 - cur;
  }
  await comm.barrier();
  return { secs: (performance.now() - t0) / 1000, halo: halo / 1000, cur };
}

function fnv(a: Float64Array, from: number, to: number): number {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
  let h = 0x811c9dc5;
  for (let r = 0; r < R; r++) for (let i = (r * W + from) * 2, e = (r * W + to + 1) * 2; i < e; i++) h = Math.imul(h ^ u[i]!, 0x01000193);
  return h >>> 0;
}

const t0 = performance.now();
const runPack = await simulate("pack");
const hashPack = fnv(grids[runPack.cur]!, 1, w);
const runIovec = await simulate("iovec");
const final = grids[runIovec.cur]!;
const hashIovec = fnv(final, 1, w);
let ok = hashPack === hashIovec;
let detail = ok ? "" : `rank ${rank}: pack and iovec runs differ`;

// ---- halo exchange alone, each way, no compute -----------------------------------------
const bench: Record<string, number> = {};
for (const mode of ["pack", "iovec", "pack", "iovec"] as const) {
  await comm.barrier();
  const b0 = performance.now();
  for (let i = 0; i < opt.bench; i++) await (mode === "iovec" ? haloIovec(0) : haloPack(0));
  await comm.barrier();
  bench[mode] = ((performance.now() - b0) / Math.max(1, opt.bench)) * 1000; // second round wins (warm)
}
const simSecs = (performance.now() - t0) / 1000;
const stats = comm.stats();

// ---- gather the strips at rank 0 (row slices straight into place) and check serially ----
let maxDiff = 0;
if (rank !== 0 && opt.serial) {
  const rowsOut: Slice[] = [];
  for (let r = 0; r < R; r++) rowsOut.push({ buffer: final.buffer as ArrayBuffer, offset: final.byteOffset + (r * W + 1) * 8, length: w * 8 });
  await comm.send(rowsOut, 0, 5);
} else if (opt.serial) {
  const full = new Float64Array(allocBuffer(R * C * 8));
  for (let r = 0; r < R; r++) full.set(final.subarray(r * W + 1, r * W + 1 + w), r * C);
  for (let p = 1; p < size; p++) {
    const pc0 = Math.floor((p * C) / size);
    const pw = Math.floor(((p + 1) * C) / size) - pc0;
    const into: Slice[] = [];
    for (let r = 0; r < R; r++) into.push({ buffer: full.buffer as ArrayBuffer, offset: (r * C + pc0) * 8, length: pw * 8 });
    await comm.recv(into, p, 5);
  }
  const a = new Float64Array(allocBuffer(R * C * 8));
  const b = new Float64Array(allocBuffer(R * C * 8));
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) a[r * C + c] = b[r * C + c] = initial(r, c);
  const s0 = performance.now();
  let x = a;
  let y = b;
  for (let s = 0; s < opt.steps; s++) {
    stencil(x, y, C, 1, C - 2);
    [x, y] = [y, x];
  }
  const serialSecs = (performance.now() - s0) / 1000;
  for (let i = 0; i < R * C; i++) maxDiff = Math.max(maxDiff, Math.abs(full[i]! - x[i]!));
  if (maxDiff !== 0) {
    ok = false;
    detail = `parallel grid differs from the serial one by up to ${maxDiff}`;
  }
  console.log(`heat: serial reference on rank 0 took ${serialSecs.toFixed(3)} s`);
}

if (rank === 0) {
  const haloBytes = (R - 2) * 8;
  console.log(
    `heat: ${R}×${C} grid, ${opt.steps} steps, ${size} column strips of ~${Math.round(C / size)}; halo column = ${R - 2} pieces of 8 B (${human(haloBytes)})`,
  );
  for (const [name, run] of [["pack ", runPack], ["iovec", runIovec]] as const) {
    console.log(
      `  ${name}: ${run.secs.toFixed(3)} s total, ${(run.halo * 1000).toFixed(1)} ms in halo exchange (rank 0), ` +
        `${(((R - 2) * (C - 2) * opt.steps) / run.secs / 1e6).toFixed(0)} Mcell-updates/s`,
    );
  }
  const faster = bench.iovec! < bench.pack! ? "iovec" : "pack";
  console.log(
    `  halo exchange alone (${opt.bench}×, both directions): pack ${bench.pack!.toFixed(1)} µs, iovec ${bench.iovec!.toFixed(1)} µs per exchange — ` +
      `${faster} is ${(Math.max(bench.iovec!, bench.pack!) / Math.min(bench.iovec!, bench.pack!)).toFixed(2)}× faster` +
      (faster === "pack" ? " (8-byte pieces: per-piece overhead beats the saved copy)" : ""),
  );
}
await verify(
  comm,
  "heat",
  ok,
  !ok
    ? detail
    : opt.serial
      ? `iovec and pack runs bit-identical on every rank; gathered grid equals the serial computation exactly (max |diff| = ${maxDiff})`
      : "iovec and pack runs bit-identical on every rank (serial check skipped)",
);
await report(comm, "heat", simSecs, stats);
await world.close();
