/**
 * `npm start` writes the night's timeline: opened in a real headless browser (Debian's chromium), it shows a row per
 * instance of the demo fleet, the summary's figures, each instance's downtime and outcome as the JSON summary tells
 * them, and logs no error. A screenshot is kept in `artifacts/`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { ROOT, run } from '../runner/process';

interface InstanceSummary {
  instanceId: string;
  name: string;
  optedIn: boolean;
  state: string;
  verified: boolean;
  downtimeSeconds: number;
  restoreTest?: { passed: boolean };
  /** Copies to other Regions, where the summary has them. */
  copies?: { region: string; state: string }[];
}

interface Summary {
  instances: InstanceSummary[];
  totals: Record<string, number>;
}

/** What a person sees in one row: its label, and the kind and text of each item drawn on it. */
interface Row {
  label: string;
  items: { kind: string; text: string }[];
}

const ARTIFACTS = join(ROOT, 'artifacts');
const SCREENSHOT = join(ARTIFACTS, 'night-report.png');

/** Debian's chromium, wherever PATH has it. */
function chromiumPath(): string {
  return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
}

/** The seconds a label tells (`down 1 h 2 min 5 s, not over at the end`). */
function labelSeconds(text: string): number {
  const part = (unit: string): number => Number(new RegExp(`(\\d+) ${unit}\\b`).exec(text)?.[1] ?? 0);
  return part('h') * 3600 + part('min') * 60 + part('s');
}

let dir: string;
let browser: Browser | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'night-report-'));
});

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('shows a row per instance, their downtime and outcomes as the summary tells them, and no error', async () => {
  const file = join(dir, 'night-report.html');
  const finished = await run('local/runner/cli.ts', ['--json', '--timeline', file]);
  expect(finished.code).toBe(0);
  const summary = JSON.parse(finished.stdout) as Summary;

  browser = await chromium.launch({ executablePath: chromiumPath() });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  // Offline: nothing may be fetched but the file itself.
  const fetched: string[] = [];
  page.on('request', (request) => fetched.push(request.url()));
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-rendered="true"]', { timeout: 60_000 });
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // Home, from the keyboard: the whole night, restore tests included.
  await page.focus('#timeline');
  await page.keyboard.press('Home');
  // The page's render signal names its window: wait until it is the whole timeline's.
  await page.waitForFunction(
    `document.body.dataset.windowStart === new Date(JSON.parse(document.getElementById('night-data').textContent).start).toISOString()`,
    undefined,
    { timeout: 60_000 },
  );

  const figures = Object.fromEntries(
    await page.$$eval('[data-figure]', (elements) =>
      elements.map((element) => [element.getAttribute('data-figure'), element.querySelector('dd')?.textContent]),
    ),
  );
  const instances = summary.instances;
  expect(figures).toEqual({
    'backed-up': `${instances.filter((instance) => instance.verified).length} of ${instances.length}`,
    failed: String(instances.filter((instance) => instance.state === 'failed').length),
    'max-down-at-once': String(summary.totals.maxDownAtOnce),
    'max-down-in-one-group': String(summary.totals.maxDownInOneGroup),
    'ec2-calls': String(summary.totals.ec2Calls),
  });

  // Rows as drawn: an item belongs to the lane whose label spans its middle, top to bottom.
  const rows: Row[] = await page.$$eval('.vis-label.lane', (labels) => {
    const items = [...(labels[0]?.ownerDocument.querySelectorAll('.vis-foreground .vis-item') ?? [])].map((item) => {
      const box = item.getBoundingClientRect();
      return {
        middle: box.top + box.height / 2,
        kind: [...item.classList].find((name) => name.startsWith('kind-'))?.slice('kind-'.length) ?? '',
        text: item.textContent?.trim() ?? '',
      };
    });
    return labels.map((label) => {
      const box = label.getBoundingClientRect();
      return {
        label: label.textContent?.trim() ?? '',
        items: items
          .filter((item) => item.middle >= box.top && item.middle < box.bottom)
          .map(({ kind, text }) => ({ kind, text })),
      };
    });
  });

  for (const instance of instances) {
    const outcome = !instance.optedIn
      ? 'not opted in'
      : instance.verified
        ? 'backed up'
        : instance.state === 'failed'
          ? 'failed'
          : instance.state;
    const matching = rows.filter((row) => row.label === `${instance.name} · ${outcome}`);
    expect({ instance: instance.name, rows: matching.length }).toEqual({ instance: instance.name, rows: 1 });
    const row = matching[0] as Row;
    const down = row.items.filter((item) => item.kind === 'down');
    const shownDowntime = down.reduce((sum, item) => sum + labelSeconds(item.text), 0);
    expect({ instance: instance.name, downtime: shownDowntime }).toEqual({
      instance: instance.name,
      downtime: instance.downtimeSeconds,
    });
    expect(down.every((item) => item.text.startsWith('down '))).toBe(true);
    if (instance.state === 'failed') {
      expect(row.items.some((item) => item.kind === 'failure' && item.text.startsWith('failed: '))).toBe(true);
    }
    for (const copy of instance.copies?.filter((each) => each.state === 'succeeded') ?? []) {
      const label = `copy pending to ${copy.region} `;
      expect(row.items.some((item) => item.kind === 'copy' && item.text.startsWith(label))).toBe(true);
    }
    if (instance.restoreTest !== undefined) {
      const verdict = instance.restoreTest.passed ? 'passed' : 'failed';
      expect(row.items.some((item) => item.kind === 'restore-test' && item.text.endsWith(verdict))).toBe(true);
    }
  }
  // The demo night has each kind of row: someone down, a failure, a restore test.
  expect(rows.some((row) => row.items.some((item) => item.kind === 'down'))).toBe(true);
  expect(rows.some((row) => row.items.some((item) => item.kind === 'restore-test'))).toBe(true);
  expect(errors).toEqual([]);
  expect(fetched).toEqual([pathToFileURL(file).href]);
  expect(readFileSync(SCREENSHOT).subarray(1, 4).toString()).toBe('PNG');
  // A night in a process of its own and a browser: allows for a fully loaded machine (alone, about 10 s).
}, 300_000);
