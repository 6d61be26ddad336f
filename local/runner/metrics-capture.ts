/**
 * The functions' metrics, read from their output as CloudWatch reads it: the runner has Powertools write them to the
 * process's console (its development mode) and takes the lines in the embedded metric format, summing each metric.
 * Other lines pass through. Installed once a process: the metrics store keeps the console it found at its creation.
 */

type MetricTotals = Record<string, number>;

let sink: ((values: MetricTotals) => void) | undefined;
let installed = false;

/** The metric values of one embedded-metric-format document, or undefined if the line is not one. */
export function emfValues(line: string): MetricTotals | undefined {
  if (!line.includes('"_aws"')) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof document !== 'object' || document === null) return undefined;
  const record = document as Record<string, unknown> & {
    _aws?: { CloudWatchMetrics?: { Metrics?: { Name?: unknown }[] }[] };
  };
  const names = (record._aws?.CloudWatchMetrics ?? []).flatMap((directive) =>
    (directive.Metrics ?? []).flatMap((metric) => (typeof metric.Name === 'string' ? [metric.Name] : [])),
  );
  const values: MetricTotals = {};
  for (const name of names) {
    const value = record[name];
    const numbers = Array.isArray(value) ? value : [value];
    values[name] = numbers.reduce((sum: number, n) => sum + (typeof n === 'number' ? n : 0), 0);
  }
  return values;
}

/** Sends the metrics the functions write from now on to `onMetrics`, until the returned function is called. */
export function captureMetrics(onMetrics: (values: MetricTotals) => void): () => void {
  if (!installed) {
    installed = true;
    const log = console.log.bind(console);
    console.log = (...args: unknown[]): void => {
      const values = args.length === 1 && typeof args[0] === 'string' ? emfValues(args[0]) : undefined;
      if (values === undefined) log(...args);
      else sink?.(values);
    };
  }
  sink = onMetrics;
  return () => {
    if (sink === onMetrics) sink = undefined;
  };
}
