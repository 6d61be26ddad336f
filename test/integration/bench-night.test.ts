/**
 * The night benchmark at a small size, as CI runs it: it fails on a broken promise (an instance not backed up, a
 * retention not held, an invocation over Lambda's limit), never on a timing.
 */
import { run } from './runner/process';

interface Figures {
  instances: number;
  backedUp: number;
  failed: number;
  undone: number;
  ec2Calls: Record<string, number>;
  callsPerInstancePerNight: number;
  simulatedNightSeconds: number;
  throttleBoundSeconds: number;
  invocationsOverTimeLimit: number;
  problems: string[];
}

it('backs up a 500-instance fleet two nights running under EC2 throttling, within Lambda’s limit', async () => {
  const finished = await run('bench/night.ts', ['--instances', '500', '--nights', '2', '--no-bundles', '--json']);

  expect(finished.code).toBe(0);
  const figures = JSON.parse(finished.stdout) as Figures;
  expect(figures.problems).toEqual([]);
  expect(figures).toMatchObject({ instances: 500, backedUp: 500, failed: 0, undone: 0, invocationsOverTimeLimit: 0 });
  // Every instance imaged once a night, and from the second night one image expired each.
  expect(figures.ec2Calls.CreateImage).toBe(1000);
  expect(figures.ec2Calls.DeregisterImage).toBe(500);
  expect(figures.simulatedNightSeconds).toBeGreaterThanOrEqual(figures.throttleBoundSeconds);
}, 120_000);
