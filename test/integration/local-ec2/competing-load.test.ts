/**
 * The endpoint's competing load, seen by the service's own EC2 adapter: another client takes half of CreateImage's
 * refill, so the endpoint serves the service half as fast, and the adaptive pacing settles on what is left with few
 * throttled calls. Time is virtual (the endpoint's manual clock), so nothing here depends on the machine's speed.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { installVirtualTime } from '../../../bench/virtual-time';
import { Ec2Gateway } from '../../../lib/ec2-gateway';
import { DeadlineRetryStrategy } from '../../../lib/errors';
import { Pacers } from '../../../lib/pacing';
import { ImageMode } from '../../../lib/tags';
import { forEachLimit } from '../../../lib/use-cases/context';
import { MINUTE, startTestEc2 } from './helpers';

const INSTANCES = 300;
const LATENCY_MS = 100;

/** Images `INSTANCES` instances, four calls at a time as createImages does, against a bucket shared at `load`. */
async function imageAll(competingLoad: number) {
  const { ec2, clock } = await startTestEc2({ throttling: true, competingLoad });
  const time = installVirtualTime(clock, LATENCY_MS);
  try {
    const { instances } = ec2.backend.runInstances({
      imageId: 'ami-0123456789abcdef0',
      instanceType: 't3.micro',
      minCount: INSTANCES,
      maxCount: INSTANCES,
      tagSpecifications: [],
      blockDeviceMappings: [],
    });
    // Running by then.
    clock.advance(5 * MINUTE);
    const client = new EC2Client({
      endpoint: ec2.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      retryStrategy: new DeadlineRetryStrategy(),
    });
    const gateway = new Ec2Gateway(client, new Pacers());
    const startMs = clock.nowMs();
    await time.drive(() =>
      forEachLimit(
        instances,
        4,
        () => true,
        async (instance) => {
          await gateway.createImage({
            instanceId: instance.id,
            name: `backup-${instance.id}`,
            description: 'test',
            mode: ImageMode.noReboot,
            tags: {},
          });
        },
      ),
    );
    client.destroy();
    return {
      seconds: (clock.nowMs() - startMs) / 1000,
      images: ec2.backend.images.size,
      calls: ec2.callCount('CreateImage'),
      throttled: ec2.throttledCount('CreateImage'),
    };
  } finally {
    time.uninstall();
    await ec2.stop();
  }
}

it('serves the service what another client leaves, and the pacing takes it with few throttled calls', async () => {
  // Act
  const alone = await imageAll(0);
  const shared = await imageAll(0.5);

  // Assess: every instance imaged both times.
  expect(alone.images).toBe(INSTANCES);
  expect(shared.images).toBe(INSTANCES);
  // Alone at EC2's documented rate (bucket 50, 5 a second): (300 − 50) / 5 = 50 s, never throttled.
  expect(alone.throttled).toBe(0);
  expect(alone.seconds).toBeGreaterThanOrEqual(50);
  expect(alone.seconds).toBeLessThanOrEqual(50 * 1.2);
  // Sharing it: half the refill is left, (300 − 50) / 2.5 = 100 s at the least; throttled on under 5% of the calls.
  expect(shared.seconds).toBeGreaterThanOrEqual(100);
  expect(shared.seconds).toBeLessThanOrEqual(100 * 1.2);
  expect(shared.throttled).toBeGreaterThan(0);
  expect(shared.throttled / shared.calls).toBeLessThan(0.05);
});
