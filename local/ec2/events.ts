import { randomUUID } from 'node:crypto';

/** The fields every EventBridge event from `aws.ec2` carries (AWS's envelope). */
interface Ec2EventEnvelope<DetailType extends string, Detail> {
  version: '0';
  id: string;
  'detail-type': DetailType;
  source: 'aws.ec2';
  account: string;
  /** The simulated time of the change, to the second (`2024-05-01T12:05:00Z`). */
  time: string;
  region: string;
  resources: string[];
  detail: Detail;
}

export type AmiState = 'available' | 'failed' | 'deregistered';

export type AmiStateChangeEvent = Ec2EventEnvelope<
  'EC2 AMI State Change',
  { RequestId: string; ImageId: string; State: AmiState; ErrorMessage: string }
>;

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export type InstanceStateChangeEvent = Ec2EventEnvelope<
  'EC2 Instance State-change Notification',
  { 'instance-id': string; state: InstanceStateName }
>;

export type Ec2Event = AmiStateChangeEvent | InstanceStateChangeEvent;

export function eventTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

export function amiStateChangeEvent(fields: {
  account: string;
  region: string;
  time: Date;
  imageId: string;
  requestId: string;
  state: AmiState;
  errorMessage: string;
}): AmiStateChangeEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'EC2 AMI State Change',
    source: 'aws.ec2',
    account: fields.account,
    time: eventTime(fields.time),
    region: fields.region,
    // An image ARN has an empty account field.
    resources: [`arn:aws:ec2:${fields.region}::image/${fields.imageId}`],
    detail: {
      RequestId: fields.requestId,
      ImageId: fields.imageId,
      State: fields.state,
      ErrorMessage: fields.errorMessage,
    },
  };
}

export function instanceStateChangeEvent(fields: {
  account: string;
  region: string;
  time: Date;
  instanceId: string;
  state: InstanceStateName;
}): InstanceStateChangeEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: fields.account,
    time: eventTime(fields.time),
    region: fields.region,
    resources: [`arn:aws:ec2:${fields.region}:${fields.account}:instance/${fields.instanceId}`],
    detail: { 'instance-id': fields.instanceId, state: fields.state },
  };
}

/** A small seedable PRNG (mulberry32): reproducible drop decisions in tests. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type EventListener = (event: Ec2Event) => void;

/**
 * Delivers events to in-process subscribers, synchronously and in the order of the changes. AWS delivers EC2 events
 * best effort, so some can be dropped: at random (seedable) and/or by predicate.
 */
export class EventHub {
  private readonly listeners = new Set<EventListener>();
  private readonly dropPredicates: ((event: Ec2Event) => boolean)[] = [];
  private dropRate = 0;
  private random: () => number = Math.random;
  private delivered = 0;
  private dropped = 0;

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  setDropRate(probability: number, seed?: number): void {
    if (!(probability >= 0 && probability <= 1)) throw new RangeError(`drop probability must be in [0, 1]`);
    this.dropRate = probability;
    this.random = seed === undefined ? Math.random : seededRandom(seed);
  }

  drop(predicate: (event: Ec2Event) => boolean): void {
    this.dropPredicates.push(predicate);
  }

  get counts(): { delivered: number; dropped: number } {
    return { delivered: this.delivered, dropped: this.dropped };
  }

  emit(event: Ec2Event): void {
    const randomlyDropped = this.dropRate > 0 && this.random() < this.dropRate;
    if (randomlyDropped || this.dropPredicates.some((predicate) => predicate(event))) {
      this.dropped += 1;
      return;
    }
    this.delivered += 1;
    for (const listener of [...this.listeners]) listener(event);
  }
}
