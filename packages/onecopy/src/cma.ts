/**
 * `onecopy/cma` — the single-copy core on its own: `process_vm_readv`/`process_vm_writev` between
 * two processes' buffers (iovec lists on both sides, partial transfers, typed `CmaError`s), the
 * permission probe, huge-page buffers, CPU affinity. The messaging API (`init()`) does not need it.
 *
 * @packageDocumentation
 */
export * from "@onecopy/cma";
