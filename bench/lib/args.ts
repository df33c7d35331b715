// Command-line flags of the benchmark scripts: `--name value` and bare `--switch`.

/** The value after flag `name` in `argv`, or undefined. */
export function flagValue(argv: readonly string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
