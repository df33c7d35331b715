// Cross-rank checks on the exchanged records. Every rank runs them on the same records, so
// every rank reports the same mismatch in the same step.
import { ErrorCode, MessagingError } from "@onecopy/rendezvous";
import { dtypeName, intList } from "./datatypes.js";
import { mismatch, type Rec } from "./descriptors.js";
import { opName } from "./ops.js";

type Field = "dtype" | "count" | "op" | "root";

function show(field: Field, v: number): string {
  if (field === "dtype") return dtypeName(v);
  if (field === "op") return opName(v);
  return String(v);
}

const LABEL: Record<Field, string> = { dtype: "element type", count: "element count", op: "operator", root: "root" };

/** Every record has the same value in each of `fields` (reported against rank 0's). Pass a constant list: nothing is allocated. */
export function agree(recs: readonly Rec[], what: string, fields: readonly Field[], countLabel = LABEL.count): void {
  const r0 = recs[0]!;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const want = r0[f];
    for (let j = 1; j < recs.length; j++) {
      const r = recs[j]!;
      if (r[f] !== want) {
        const label = f === "count" ? countLabel : LABEL[f];
        throw mismatch(what, `rank ${r.rank} has ${label} ${show(f, r[f])} but rank 0 has ${show(f, want)}; every rank must pass the same ${label}`);
      }
    }
  }
}

/** Field lists for {@link agree}, made once. */
export const AGREE = {
  dtype: ["dtype"],
  count: ["count"],
  rootDtype: ["root", "dtype"],
  rootDtypeCount: ["root", "dtype", "count"],
  dtypeCountOp: ["dtype", "count", "op"],
  rootDtypeCountOp: ["root", "dtype", "count", "op"],
} as const satisfies Record<string, readonly Field[]>;

/** All records carry the same per-rank list at `extra[from … from+n)` (counts that every rank passes). */
export function agreeList(recs: readonly Rec[], what: string, from: number, n: number, label: string): void {
  const a = recs[0]!.extra;
  for (const r of recs) {
    for (let i = 0; i < n; i++) {
      if (r.extra[from + i] !== a[from + i]) {
        throw mismatch(what, `rank ${r.rank} passed ${label}[${i}] = ${r.extra[from + i]} but rank 0 passed ${a[from + i]}; every rank must pass the same ${label}`);
      }
    }
  }
}

/** Sum of a list. */
export function total(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s;
}

/** Exclusive prefix sums (n + 1 entries). */
export function prefix(xs: ArrayLike<number>): number[] {
  const out = [0];
  for (let i = 0; i < xs.length; i++) out.push(out[i]! + xs[i]!);
  return out;
}

/**
 * Validate a v-collective's per-rank `counts` and `displs` (their names in the API are
 * `names`) and check that every block fits the `len`-element buffer `buf`.
 */
export function blockLayout(
  what: string,
  counts: unknown,
  displs: unknown,
  n: number,
  len: number,
  names: readonly [string, string],
  buf: string,
): { counts: number[]; displs: number[] } {
  const c = intList(counts, n, `${what} ${names[0]}`);
  const d = intList(displs, n, `${what} ${names[1]}`);
  for (let i = 0; i < n; i++) {
    if (c[i]! > 0 && d[i]! + c[i]! > len) {
      throw new MessagingError(ErrorCode.INVALID_ARG, `${what}: block ${i} (${c[i]} elements at displacement ${d[i]}) does not fit the ${len}-element ${buf}`);
    }
  }
  return { counts: c, displs: d };
}
