import fc from 'fast-check';
import { SimClock } from '../../../local/ec2/clock';
import { resolveDurations } from '../../../local/ec2/durations';
import { EventHub } from '../../../local/ec2/events';
import type { InstanceRecord } from '../../../local/ec2/model';
import { instanceStatusAt, nextStatusCheck } from '../../../local/ec2/rules';
import { Ec2Backend } from '../../../local/ec2/store';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');

function instance(fields: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    id: 'i-0123456789abcdef0',
    seq: 1,
    reservationId: 'r-0123456789abcdef0',
    imageId: 'ami-0123456789abcdef0',
    instanceType: 't3.micro',
    state: 'running',
    stateTransitionReason: '',
    launchTime: T0,
    availabilityZone: 'us-east-1a',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/xvda',
    volumeIds: [],
    tags: new Map(),
    hibernationConfigured: false,
    statusReadyAt: T0,
    ...fields,
  };
}

describe('nextStatusCheck', () => {
  it('is the first check at or after a time, on a grid from the launch', () => {
    const launched = instance();
    expect(nextStatusCheck(launched, T0 + 90_000, 60_000)).toBe(T0 + 120_000);
    expect(nextStatusCheck(launched, T0 + 120_000, 60_000)).toBe(T0 + 120_000);
    expect(nextStatusCheck(launched, T0 + 120_001, 60_000)).toBe(T0 + 180_000);
    expect(nextStatusCheck(launched, T0 + 90_000, 0)).toBe(T0 + 90_000);
  });

  it('is never earlier than asked, nor a whole interval later', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 1, max: 10 ** 6 }), (offset, interval) => {
        const check = nextStatusCheck(instance(), T0 + offset, interval);
        return check >= T0 + offset && check < T0 + offset + interval && (check - T0) % interval === 0;
      }),
    );
  });
});

describe('instanceStatusAt', () => {
  const summary = (record: InstanceRecord, at: number) => {
    const status = instanceStatusAt(record, at);
    return [status.instanceStatus.status, status.instanceStatus.reachability, status.systemStatus.status];
  };

  it('is initializing in a reboot window, then impaired once an impairment has set in; the system stays ok', () => {
    const record = instance({ rebootFrom: T0 + 1000, rebootUntil: T0 + 5000, impairedFrom: T0 + 5000 });
    expect(summary(record, T0)).toEqual(['ok', 'passed', 'ok']);
    expect(summary(record, T0 + 1000)).toEqual(['initializing', 'initializing', 'ok']);
    expect(summary(record, T0 + 4999)).toEqual(['initializing', 'initializing', 'ok']);
    expect(summary(record, T0 + 5000)).toEqual(['impaired', 'failed', 'ok']);
  });

  it('does not apply to an instance that is not running', () => {
    expect(summary(instance({ state: 'stopped', impairedFrom: T0 }), T0)).toEqual([
      'not-applicable',
      undefined,
      'not-applicable',
    ]);
  });
});

describe('a state saved before root device types and hibernation', () => {
  it('loads as EBS-backed, not hibernation-configured, with the stop reason EC2 gives', () => {
    const backend = new Ec2Backend({
      clock: SimClock.manual(new Date(T0)),
      durations: resolveDurations(),
      events: new EventHub(),
      account: '123456789012',
      region: 'us-east-1',
      failImagesOnInterruption: true,
    });
    const { rootDeviceType: _type, hibernationConfigured: _hibernation, ...old } = instance({ state: 'stopped' });
    backend.importState({
      instances: [old as InstanceRecord],
      volumes: [],
      images: [],
      snapshots: [],
      copyTokens: [],
      nextSeq: 2,
    });
    expect(backend.instances.get(old.id)).toMatchObject({
      rootDeviceType: 'ebs',
      hibernationConfigured: false,
      stateReason: { code: 'Client.UserInitiatedShutdown' },
    });
  });
});
