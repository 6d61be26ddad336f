import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HeapMeter, memorySizes, SLACK_BYTES } from '../../../bench/heap';

const MIB = 1024 * 1024;

describe('HeapMeter', () => {
  let meter: HeapMeter;

  beforeEach(() => {
    meter = new HeapMeter();
  });

  afterEach(() => {
    meter.stop();
  });

  it('gives an invocation the live heap it holds above what was live before it, not what it left behind', async () => {
    // Prepare
    const garbage = async (): Promise<void> => {
      for (let round = 0; round < 20; round += 1) new Array(1_000_000).fill(round + 0.5);
    };

    // Act: three times each, as the test framework may free another test file's modules during one of them, and
    // what it frees then hides as much of what that invocation holds (the figure is the largest invocation's).
    const held: number[][] = [];
    for (let round = 0; round < 3; round += 1) {
      held.push(await meter.measure('holds', async () => new Array(4_000_000).fill(0.5)));
      await meter.measure('litters', garbage);
    }

    // Assess: 4,000,000 doubles are 30.5 MiB, or about half when V8 stores them more compactly (it varies by
    // machine); the garbage was never live all at once.
    const report = meter.report();
    expect(held.map((array) => array.length)).toEqual([4_000_000, 4_000_000, 4_000_000]);
    expect(report.holds?.peakHeapMiB).toBeGreaterThanOrEqual(15);
    expect(report.holds?.peakHeapMiB).toBeGreaterThan((report.litters?.peakHeapMiB ?? 0) + 5);
    expect(report.holds?.peakHeapMiB).toBeLessThan(31 + SLACK_BYTES / MIB);
    expect(report.litters?.peakHeapMiB).toBeLessThan(8 + SLACK_BYTES / MIB);
    expect(report.holds).toMatchObject({ invocations: 3, overlapped: 0 });
  });

  it('keeps each function’s largest invocation and counts the invocations that overlapped another', async () => {
    // Prepare
    let release = (): void => undefined;
    const blocked = new Promise<void>((resolve) => {
      release = resolve;
    });

    // Act
    const first = meter.measure('queue', () => blocked);
    const second = meter.measure('queue', async () => new Array(2_000_000).fill(0.5));
    await second;
    release();
    await first;
    await meter.measure('queue', async () => undefined);

    // Assess
    expect(meter.report().queue).toMatchObject({ invocations: 3, overlapped: 2 });
    // The largest holds 2,000,000 doubles (15.3 MiB, a little less as measured above a baseline), the others nothing.
    expect(meter.report().queue?.peakHeapMiB).toBeGreaterThanOrEqual(10);
  });
});

describe('memorySizes', () => {
  it('reads each function’s memorySize, else the provider’s', () => {
    // Prepare
    const folder = mkdtempSync(join(tmpdir(), 'heap-test-'));
    const file = join(folder, 'serverless.yml');
    writeFileSync(
      file,
      [
        'provider:',
        '  memorySize: 256',
        'functions:',
        '  small:',
        '    handler: a.handler',
        '  large:',
        '    handler: b.handler',
        '    memorySize: 512',
        'resources:',
        '  Resources:',
        '    Queue:',
        '      Properties:',
        '        Arn: !GetAtt Other.Arn',
      ].join('\n'),
    );

    // Act
    const sizes = memorySizes(file);
    rmSync(folder, { recursive: true, force: true });

    // Assess
    expect(sizes).toEqual({ small: 256, large: 512 });
  });
});
