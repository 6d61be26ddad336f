/** An idle fleet costs almost nothing: no createImages pass runs while no run is in flight. */
import { runFleet } from './fixtures';

it('costs at most 50 EC2 calls a night, and leaves the passes off', async () => {
  const fixture = await runFleet(2, [
    { name: 'idle-1', tags: {}, optedIn: false },
    { name: 'idle-2', tags: {}, optedIn: false },
  ]);
  try {
    expect(fixture.report.problems).toEqual([]);
    expect(fixture.report.totals.ec2Calls).toBeLessThanOrEqual(2 * 50);
    expect(fixture.ec2.eventRules.isEnabled('ami-backup-dev-passes')).toBe(false);
  } finally {
    fixture.client.destroy();
    await fixture.ec2.stop();
  }
});
