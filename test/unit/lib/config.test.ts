import { ConfigError, readConfig } from '../../../lib/config';

const MINIMAL = { OWNER: 'ami-backup-prod' };

describe('readConfig', () => {
  it('needs only the owner and fills in the documented defaults', () => {
    // Act
    const config = readConfig(MINIMAL);

    // Assess
    expect(config).toEqual({
      optIn: { key: 'Backup', value: 'true' },
      owner: 'ami-backup-prod',
      defaultRetain: 7,
      rebootGraceSeconds: 300,
      readyTimeoutSeconds: 3600,
      imageTimeoutSeconds: 86_400,
      maxDownPerGroup: 1,
      maxConcurrentReboots: 50,
      rebootWindowMinutes: 180,
      eventBusName: 'default',
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
    };

    // Act
    const config = readConfig(env);

    // Assess
    expect(config).toEqual({
      optIn: { key: 'ops:backup', value: 'nightly' },
      owner: 'ami-backup-dev',
      defaultRetain: 3,
      rebootGraceSeconds: 0,
      readyTimeoutSeconds: 600,
      imageTimeoutSeconds: 7200,
      maxDownPerGroup: 2,
      maxConcurrentReboots: 1000,
      rebootWindowMinutes: 240,
      eventBusName: 'backups',
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
});
