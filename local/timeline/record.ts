/**
 * Runs backup nights on the embedded endpoint as `runNights` does, keeping what the timeline is drawn from: the
 * endpoint's own timeline (its audit) and every invocation's record.
 */
import { SimClock, startLocalEc2 } from '../ec2';
import { deployLocally, type NightOptions, type NightReport, runNights } from '../runner/night';
import type { InvocationRecord } from '../runner/simulation';
import { type NightEvents, nightEvents } from './events';

export interface RecordedNights {
  readonly report: NightReport;
  readonly events: NightEvents;
}

/** The nights of `options` (the embedded endpoint only: another endpoint keeps no timeline), and their events. */
export async function recordNights(
  options: Omit<NightOptions, 'ec2' | 'endpoint' | 'speed'> & { readonly start: Date },
): Promise<RecordedNights> {
  const region = options.region ?? 'us-east-1';
  // As runNights starts its endpoint, but started here to read its timeline afterwards.
  const ec2 = await startLocalEc2({
    clock: SimClock.manual(options.start),
    throttling: options.throttling ?? false,
    region,
    audit: true,
    ...(options.accounts === undefined ? {} : { accounts: options.accounts }),
  });
  try {
    const params = await deployLocally(ec2, { ...options, region });
    const records: InvocationRecord[] = [];
    const report = await runNights({
      ...options,
      // Made above, with the roles enforced: runNights makes nothing more.
      prepare: undefined,
      ...(params === undefined ? {} : { params }),
      ec2,
      onInvocation: (record) => {
        records.push(record);
        options.onInvocation?.(record);
      },
    });
    const events = nightEvents({
      start: options.start.getTime(),
      end: ec2.clock.nowMs(),
      audit: ec2.audit,
      records,
      report,
    });
    return { report, events };
  } finally {
    await ec2.stop();
  }
}
