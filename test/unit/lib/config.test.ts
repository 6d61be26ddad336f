import { ConfigError, rateCeilings, readConfig, readCopyConfig, readShareConfig } from '../../../lib/config';
import { EC2_RATES } from '../../../lib/pacing';

const MINIMAL = { OWNER: 'ami-backup-prod' };

describe('readConfig', () => {
  it('needs only the owner and fills in the documented defaults', () => {
    // Act
    const config = readConfig(MINIMAL);

    // Assess
    expect(config).toEqual({
      optIn: { key: 'Backup', value: 'true' },
      owner: 'ami-backup-prod',
      stage: 'ami-backup-prod',
      defaultRetain: 7,
      rebootGraceSeconds: 300,
      readyTimeoutSeconds: 3600,
      imageTimeoutSeconds: 86_400,
      maxDownPerGroup: 1,
      maxConcurrentReboots: 50,
      rebootWindowMinutes: 180,
      eventBusName: 'default',
      passesRule: 'ami-backup-prod-passes',
      minutePassesRule: 'ami-backup-prod-minute-passes',
      rotationPassesRule: 'ami-backup-prod-rotation-passes',
      restoreTests: { checksRule: 'ami-backup-prod-restore-test-checks', timeoutMinutes: 20 },
      staleAfterHours: 36,
      passIntervalSeconds: 300,
      minRetain: 1,
      minRetainDays: 0,
      maxExpirePerRun: 5,
      rotateHours: [6, 7, 8, 9],
      rateCeilings: EC2_RATES,
      copies: {
        homeRegion: '',
        defaultRegions: [],
        allowedRegions: [],
        kmsKeys: {},
        passesRule: 'ami-backup-prod-copy-passes',
      },
      shares: { defaultAccounts: [], grantableKeys: [], passesRule: 'ami-backup-prod-share-passes' },
    });
  });

  it('reads every variable', () => {
    // Prepare
    const env = {
      OWNER: 'ami-backup-dev',
      OPT_IN_TAG_KEY: 'ops:backup',
      OPT_IN_TAG_VALUE: 'nightly',
      DEFAULT_RETAIN: '3',
      REBOOT_GRACE_SECONDS: '0',
      READY_TIMEOUT_SECONDS: '600',
      IMAGE_TIMEOUT_SECONDS: '7200',
      MAX_DOWN_PER_GROUP: '2',
      MAX_CONCURRENT_REBOOTS: '1000',
      REBOOT_WINDOW_MINUTES: '240',
      EVENT_BUS_NAME: 'backups',
      PASSES_RULE: 'dev-passes',
      MINUTE_PASSES_RULE: 'dev-minute-passes',
      PASSES_SCHEDULE: 'rate(1 minute)',
      STAGE: 'dev',
      STALE_AFTER_HOURS: '48',
      MIN_RETAIN: '2',
      MIN_RETAIN_DAYS: '14',
      MAX_EXPIRE_PER_RUN: '20',
      ROTATE_SCHEDULE: 'cron(30 1,4-5 * * ? *)',
      EC2_RATE_LIMITS: 'CreateImage=10:100',
      SHARE_ACCOUNTS: '111122223333',
    };

    // Act
    const config = readConfig(env);

    // Assess
    expect(config).toEqual({
      optIn: { key: 'ops:backup', value: 'nightly' },
      owner: 'ami-backup-dev',
      stage: 'dev',
      defaultRetain: 3,
      rebootGraceSeconds: 0,
      readyTimeoutSeconds: 600,
      imageTimeoutSeconds: 7200,
      maxDownPerGroup: 2,
      maxConcurrentReboots: 1000,
      rebootWindowMinutes: 240,
      eventBusName: 'backups',
      passesRule: 'dev-passes',
      minutePassesRule: 'dev-minute-passes',
      rotationPassesRule: 'ami-backup-dev-rotation-passes',
      restoreTests: { checksRule: 'ami-backup-dev-restore-test-checks', timeoutMinutes: 20 },
      staleAfterHours: 48,
      passIntervalSeconds: 60,
      minRetain: 2,
      minRetainDays: 14,
      maxExpirePerRun: 20,
      rotateHours: [1, 4, 5],
      rateCeilings: { ...EC2_RATES, CreateImage: { perSecond: 10, burst: 100 } },
      copies: {
        homeRegion: '',
        defaultRegions: [],
        allowedRegions: [],
        kmsKeys: {},
        passesRule: 'ami-backup-dev-copy-passes',
      },
      shares: { defaultAccounts: ['111122223333'], grantableKeys: [], passesRule: 'ami-backup-dev-share-passes' },
    });
  });

  it('reads a number set empty as its default', () => {
    expect(readConfig({ ...MINIMAL, DEFAULT_RETAIN: '' }).defaultRetain).toBe(7);
  });

  it('returns a frozen object, so no handler can change it between invocations', () => {
    // Act
    const config = readConfig(MINIMAL);

    // Assess
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.optIn)).toBe(true);
  });

  it.each(['ami-backup-*', 'ami-backup-?', 'ami backup', 'x'.repeat(129)])(
    'refuses an owner that an EC2 filter would read as a pattern, or too long (%p)',
    (owner) => {
      expect(() => readConfig({ OWNER: owner })).toThrow(/OWNER must be 1–128 letters/);
    },
  );

  it.each([{}, { OWNER: '' }, { OWNER: '   ' }])('fails naming OWNER when it is missing or blank (%p)', (env) => {
    expect(() => readConfig(env)).toThrow(new ConfigError('environment variable OWNER is required'));
  });

  it.each(['OPT_IN_TAG_KEY', 'OPT_IN_TAG_VALUE', 'EVENT_BUS_NAME'])('fails naming %s when it is set blank', (name) => {
    expect(() => readConfig({ ...MINIMAL, [name]: ' ' })).toThrow(`environment variable ${name} is required`);
  });

  it.each([
    ['DEFAULT_RETAIN', '0', 1, 1000],
    ['DEFAULT_RETAIN', '1001', 1, 1000],
    ['DEFAULT_RETAIN', 'seven', 1, 1000],
    ['DEFAULT_RETAIN', '7.5', 1, 1000],
    ['DEFAULT_RETAIN', '-7', 1, 1000],
    ['DEFAULT_RETAIN', ' 7', 1, 1000],
    ['REBOOT_GRACE_SECONDS', '86401', 0, 86_400],
    ['READY_TIMEOUT_SECONDS', '59', 60, 604_800],
    ['IMAGE_TIMEOUT_SECONDS', '599', 600, 604_800],
    ['IMAGE_TIMEOUT_SECONDS', '1e4', 600, 604_800],
  ])('fails naming %s when it is %p', (name, raw, min, max) => {
    // Act
    const read = () => readConfig({ ...MINIMAL, [name]: raw });

    // Assess
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(`environment variable ${name} must be a whole number from ${min} to ${max}, got '${raw}'`);
  });

  it('fails when the ready timeout would end before the reboot grace period, so no reboot could ever succeed', () => {
    // Act
    const read = () => readConfig({ ...MINIMAL, REBOOT_GRACE_SECONDS: '3600', READY_TIMEOUT_SECONDS: '600' });

    // Assess
    expect(read).toThrow(ConfigError);
    expect(read).toThrow(/READY_TIMEOUT_SECONDS/);
  });

  it('sets its error name, so logs say what failed', () => {
    // Act
    let caught: unknown;
    try {
      readConfig({});
    } catch (error: unknown) {
      caught = error;
    }

    // Assess
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as Error).name).toBe('ConfigError');
  });

  it.each([
    ['MIN_RETAIN', '0', /MIN_RETAIN must be a whole number from 1 to 1000/],
    ['MIN_RETAIN', '1001', /MIN_RETAIN must be a whole number from 1 to 1000/],
    ['MIN_RETAIN_DAYS', '-1', /MIN_RETAIN_DAYS must be a whole number from 0 to 3650/],
    ['MIN_RETAIN_DAYS', '3651', /MIN_RETAIN_DAYS must be a whole number from 0 to 3650/],
    ['MAX_EXPIRE_PER_RUN', '0', /MAX_EXPIRE_PER_RUN must be a whole number from 1 to 1000/],
    ['MAX_EXPIRE_PER_RUN', 'five', /MAX_EXPIRE_PER_RUN must be a whole number from 1 to 1000/],
  ])('fails naming %s=%p', (name, value, message) => {
    expect(() => readConfig({ ...MINIMAL, [name]: value })).toThrow(message);
  });

  it('refuses a default retention below the floor', () => {
    expect(() => readConfig({ ...MINIMAL, MIN_RETAIN: '8' })).toThrow(
      new ConfigError('environment variable DEFAULT_RETAIN (7) must not be below MIN_RETAIN (8)'),
    );
    expect(readConfig({ ...MINIMAL, MIN_RETAIN: '3', DEFAULT_RETAIN: '3' }).minRetain).toBe(3);
  });

  it.each([
    ['cron(0 6-9 * * ? *)', [6, 7, 8, 9]],
    ['cron(15 2 * * ? *)', [2]],
    ['cron(0 0/6 * * ? *)', [0, 6, 12, 18]],
    ['cron(0 22-23,0-1 * * ? *)', [0, 1, 22, 23]],
    ['cron(0 * ? * MON-FRI *)', Array.from({ length: 24 }, (_, hour) => hour)],
  ])('reads the rotation hours of %s', (expression, hours) => {
    expect(readConfig({ ...MINIMAL, ROTATE_SCHEDULE: expression }).rotateHours).toEqual(hours);
  });

  it.each(['rate(1 hour)', 'cron(0/30 6-9 * * ? *)', 'cron(0 6-25 * * ? *)', 'cron(0 9-6 * * ? *)', 'cron(0 6)'])(
    'refuses a rotation schedule it cannot read hour by hour (%s)',
    (expression) => {
      expect(() => readConfig({ ...MINIMAL, ROTATE_SCHEDULE: expression })).toThrow(/ROTATE_SCHEDULE must be a cron/);
    },
  );

  it.each([
    ['rate(1 minute)', 60],
    ['rate(10 minutes)', 600],
    ['rate(2 hours)', 7200],
  ])('reads the passes interval from %s', (expression, seconds) => {
    expect(readConfig({ ...MINIMAL, PASSES_SCHEDULE: expression }).passIntervalSeconds).toBe(seconds);
  });

  it.each(['rate(1 minutes)', 'rate(5 minute)', 'rate(0 minutes)', 'cron(0/5 * * * ? *)', 'rate(1 day)'])(
    'refuses %s as the passes schedule',
    (expression) => {
      expect(() => readConfig({ ...MINIMAL, PASSES_SCHEDULE: expression })).toThrow(/PASSES_SCHEDULE must be a rate/);
    },
  );
});

describe('readCopyConfig', () => {
  const KEY = '1234abcd-12ab-34cd-56ef-1234567890ab';

  it('reads the default Regions, the more allowed ones and the keys, in the home Region of Lambda', () => {
    // Act
    const copies = readCopyConfig(
      {
        AWS_REGION: 'us-east-1',
        COPY_REGIONS: 'us-west-2',
        COPY_ALLOWED_REGIONS: 'eu-west-1, us-west-2, ap-south-1',
        COPY_KMS_KEYS: `eu-west-1=${KEY},us-west-2=arn:aws:kms:us-west-2:123456789012:key/mrk-0123456789abcdef0123456789abcdef,ap-south-1=alias/backups`,
        COPY_PASSES_RULE: 'dev-copy-passes',
      },
      'ami-backup-dev',
    );

    // Assess
    expect(copies).toEqual({
      homeRegion: 'us-east-1',
      defaultRegions: ['us-west-2'],
      allowedRegions: ['us-west-2', 'eu-west-1', 'ap-south-1'],
      kmsKeys: {
        'eu-west-1': KEY,
        'us-west-2': 'arn:aws:kms:us-west-2:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
        'ap-south-1': 'alias/backups',
      },
      passesRule: 'dev-copy-passes',
    });
  });

  it.each([
    [{ COPY_REGIONS: 'us-east-1' }, /COPY_REGIONS/],
    [{ COPY_REGIONS: 'us-west' }, /COPY_REGIONS/],
    [{ COPY_ALLOWED_REGIONS: 'cn-north-1' }, /COPY_ALLOWED_REGIONS/],
    [{ COPY_REGIONS: 'us-west-2', COPY_KMS_KEYS: `eu-west-1=${KEY}` }, /COPY_KMS_KEYS/],
    [{ COPY_REGIONS: 'us-west-2', COPY_KMS_KEYS: 'us-west-2=backups' }, /COPY_KMS_KEYS/],
  ])('refuses %p, naming the variable', (env, message) => {
    expect(() => readCopyConfig({ AWS_REGION: 'us-east-1', ...env }, 'ami-backup-dev')).toThrow(message);
  });

  it('needs the home Region only once copies are configured', () => {
    expect(readCopyConfig({}, 'ami-backup-dev').allowedRegions).toEqual([]);
    expect(() => readCopyConfig({ COPY_REGIONS: 'us-west-2' }, 'ami-backup-dev')).toThrow(ConfigError);
  });
});

describe('rateCeilings', () => {
  it("is EC2's documented rates unless raised limits are given", () => {
    expect(rateCeilings(undefined)).toBe(EC2_RATES);
    expect(rateCeilings(' ')).toBe(EC2_RATES);
    expect(rateCeilings('CreateImage=10:100, DeregisterImage=20.5:400')).toEqual({
      ...EC2_RATES,
      CreateImage: { perSecond: 10, burst: 100 },
      DeregisterImage: { perSecond: 20.5, burst: 400 },
    });
  });

  it.each(['CreateImage=10', 'RunInstances=10:100', 'CreateImage=4:100', 'CreateImage=10:10', 'CreateImage=ten:100'])(
    'refuses %p, naming the variable',
    (raw) => {
      expect(() => rateCeilings(raw)).toThrow(ConfigError);
      expect(() => rateCeilings(raw)).toThrow(/EC2_RATE_LIMITS/);
    },
  );
});

describe('readShareConfig', () => {
  const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

  it('shares with no account and re-encrypts with no key by default', () => {
    expect(readShareConfig({}, 'ami-backup-dev')).toEqual({
      defaultAccounts: [],
      grantableKeys: [],
      passesRule: 'ami-backup-dev-share-passes',
    });
    expect(
      readShareConfig(
        { SHARE_ACCOUNTS: ' ', SHARE_KMS_KEY: '', SHARE_GRANT_KEYS: '', SHARE_PASSES_RULE: 'passes' },
        'ami-backup-dev',
      ),
    ).toEqual({ defaultAccounts: [], grantableKeys: [], passesRule: 'passes' });
  });

  it("reads the default accounts, the share key and the keys it may grant, of the service's Region", () => {
    const other = KEY.replace('1234abcd', 'ffffffff');
    expect(
      readShareConfig(
        {
          AWS_REGION: 'us-east-1',
          SHARE_ACCOUNTS: '111122223333, 444455556666',
          SHARE_KMS_KEY: KEY,
          SHARE_GRANT_KEYS: `${other}, ${KEY}`,
        },
        'ami-backup-dev',
      ),
    ).toEqual({
      defaultAccounts: ['111122223333', '444455556666'],
      kmsKey: KEY,
      grantableKeys: [other, KEY],
      passesRule: 'ami-backup-dev-share-passes',
    });
  });

  it.each([
    [{ SHARE_ACCOUNTS: 'all' }, "SHARE_ACCOUNTS must list distinct 12-digit account ids, got 'all'"],
    [{ SHARE_ACCOUNTS: '111122223333,111122223333' }, 'SHARE_ACCOUNTS must list distinct'],
    [
      { SHARE_KMS_KEY: 'alias/aws/ebs' },
      "SHARE_KMS_KEY must name keys by their ARN in the service's Region (us-east-1)",
    ],
    [{ SHARE_KMS_KEY: KEY.replace('us-east-1', 'us-west-2') }, 'SHARE_KMS_KEY must name keys by their ARN'],
    [
      { SHARE_GRANT_KEYS: `${KEY},1234abcd-12ab-34cd-56ef-1234567890ab` },
      'SHARE_GRANT_KEYS must name keys by their ARN',
    ],
  ])('refuses %j', (env, message) => {
    expect(() => readShareConfig({ AWS_REGION: 'us-east-1', ...env }, 'ami-backup-dev')).toThrow(message);
  });
});
