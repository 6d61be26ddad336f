import fc from 'fast-check';
import {
  APPROVED_VALUES,
  Approval,
  ApprovalTag,
  approvalAfterRestoreTest,
  BACKUP_STEPS,
  formatAccounts,
  formatRunId,
  ImageTag,
  IN_PROGRESS_STEPS,
  InstanceTag,
  imageName,
  isBackupStep,
  MAX_TAG_VALUE_LENGTH,
  OperatorTag,
  parseRunId,
  ShareTag,
  TAG_PREFIX,
  tagValue,
} from '../../../lib/tags';

/** EC2's rule for AMI names: 3–128 characters of letters, digits, `( ) [ ] space . / - ' @ _`. */
const VALID_AMI_NAME = /^[A-Za-z0-9()[\] ./\-'@_]{3,128}$/;

const instanceIds = fc.oneof(fc.stringMatching(/^i-[0-9a-f]{8}$/), fc.stringMatching(/^i-[0-9a-f]{17}$/));
/** Any instant from 1970 to the year 9999 (toISOString has four-digit years there). */
const instants = fc.date({ min: new Date(0), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });

describe('tag keys', () => {
  it('puts every key the service writes under its prefix, which IAM scopes CreateTags to', () => {
    // Prepare
    const keys = [
      ...Object.values(OperatorTag),
      ...Object.values(InstanceTag),
      ...Object.values(ImageTag),
      ...Object.values(ShareTag),
    ];

    // Act
    const outside = keys.filter((key) => !key.startsWith(TAG_PREFIX));

    // Assess
    expect(outside).toEqual([]);
  });

  it('records the retention on images under the same keys the operator sets on the instance', () => {
    expect([ImageTag.retain, ImageTag.retainDays]).toEqual([OperatorTag.retain, OperatorTag.retainDays]);
  });
});

describe('approvalAfterRestoreTest', () => {
  it('revokes the approval of any image whose restore test failed', () => {
    for (const current of [undefined, Approval.verified, Approval.restoreTested, Approval.restoreFailed]) {
      expect(approvalAfterRestoreTest(current, false)).toBe(Approval.restoreFailed);
    }
  });

  it('marks a verified (or already restore-tested) image restore-tested when its test passes', () => {
    expect(approvalAfterRestoreTest(Approval.verified, true)).toBe(Approval.restoreTested);
    expect(approvalAfterRestoreTest(Approval.restoreTested, true)).toBe(Approval.restoreTested);
  });

  it('never approves again an image that failed a test, nor one recorded without the tag', () => {
    expect(approvalAfterRestoreTest(Approval.restoreFailed, true)).toBeUndefined();
    expect(approvalAfterRestoreTest(undefined, true)).toBeUndefined();
  });

  it('approves with verified and restore-tested only, under the prefix', () => {
    expect(APPROVED_VALUES).toEqual(['verified', 'restore-tested']);
    expect(ApprovalTag.approved.startsWith(TAG_PREFIX)).toBe(true);
  });
});

describe('formatRunId', () => {
  it('names the UTC minute the run started, seconds dropped', () => {
    expect(formatRunId(new Date('2026-11-26T03:00:12.345Z'))).toBe('20261126T0300Z');
  });

  it('uses UTC, whatever the offset the time was written with', () => {
    expect(formatRunId(new Date('2026-11-26T23:59:00-05:00'))).toBe('20261127T0459Z');
  });

  it('never contains a colon (EC2 rejects it in AMI names) and always has the compact form', () => {
    fc.assert(
      fc.property(instants, (start) => {
        const runId = formatRunId(start);
        expect(runId).not.toContain(':');
        expect(runId).toMatch(/^\d{8}T\d{4}Z$/);
      }),
    );
  });

  it('gives one id per UTC minute: the same within a minute, different across minutes', () => {
    fc.assert(
      fc.property(instants, instants, (a, b) => {
        const sameMinute = Math.floor(a.getTime() / 60_000) === Math.floor(b.getTime() / 60_000);
        expect(formatRunId(a) === formatRunId(b)).toBe(sameMinute);
      }),
    );
  });
});

describe('imageName', () => {
  it('joins the instance id and the run id under the service prefix', () => {
    expect(imageName('i-0123456789abcdef0', '20261126T0300Z')).toBe('ami-backup-i-0123456789abcdef0-20261126T0300Z');
  });

  it('is a valid EC2 AMI name for every instance id and run', () => {
    fc.assert(
      fc.property(instanceIds, instants, (instanceId, start) => {
        expect(imageName(instanceId, formatRunId(start))).toMatch(VALID_AMI_NAME);
      }),
    );
  });

  it('is deterministic and distinct per instance and run, so a rerun finds its image instead of making another', () => {
    fc.assert(
      fc.property(instanceIds, instanceIds, instants, instants, (idA, idB, startA, startB) => {
        const [runA, runB] = [formatRunId(startA), formatRunId(startB)];
        expect(imageName(idA, runA) === imageName(idB, runB)).toBe(idA === idB && runA === runB);
      }),
    );
  });
});

describe('tagValue', () => {
  it('leaves a value of up to 256 characters as it is', () => {
    // Prepare
    const longest = 'x'.repeat(MAX_TAG_VALUE_LENGTH);

    // Act / Assess
    expect(tagValue(longest)).toBe(longest);
    expect(tagValue('')).toBe('');
  });

  it('cuts a longer value to 256 characters, marking the cut with an ellipsis', () => {
    // Prepare
    const text = 'a'.repeat(300);

    // Act
    const value = tagValue(text);

    // Assess
    expect(value).toBe(`${'a'.repeat(255)}…`);
    expect(value.length).toBe(MAX_TAG_VALUE_LENGTH);
  });

  it('counts a character outside the BMP as two, so the value fits however EC2 counts characters', () => {
    // Prepare: 256 code points, but 512 UTF-16 units
    const emoji = '🙂'.repeat(MAX_TAG_VALUE_LENGTH);

    // Act
    const value = tagValue(emoji);

    // Assess
    expect(value).toBe(`${'🙂'.repeat(127)}…`);
    expect(value.length).toBe(MAX_TAG_VALUE_LENGTH - 1);
  });

  it('never splits a character in two, which would make the tagging call fail to encode', () => {
    // Prepare: a character outside the BMP (two UTF-16 units) straddling the cut
    const text = `${'a'.repeat(254)}${'🙂'.repeat(10)}`;

    // Act
    const value = tagValue(text);

    // Assess
    expect(value).toBe(`${'a'.repeat(254)}…`);
    expect(() => encodeURIComponent(value)).not.toThrow();
  });

  it('always gives a well-formed value of at most 256 characters that starts like the text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 600 }), (text) => {
        const value = tagValue(text);
        expect(value.length).toBeLessThanOrEqual(MAX_TAG_VALUE_LENGTH);
        expect(() => encodeURIComponent(value)).not.toThrow();
        const kept = value.endsWith('…') && value !== text ? value.slice(0, -1) : value;
        expect(text.startsWith(kept)).toBe(true);
      }),
    );
  });
});

describe('isBackupStep', () => {
  it.each(BACKUP_STEPS)('accepts the step %s', (step) => {
    expect(isBackupStep(step)).toBe(true);
  });

  it.each([undefined, '', 'Rebooting', 'done', 'rebooting '])('rejects %p', (value) => {
    expect(isBackupStep(value)).toBe(false);
  });

  it('counts queued and imaging as in progress, and the outcomes as not', () => {
    expect([...IN_PROGRESS_STEPS].sort()).toEqual(['imaging', 'queued']);
  });
});

describe('parseRunId', () => {
  it('reads back every run id formatRunId writes, and nothing else', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2199-12-31T23:59:00Z'), noInvalidDate: true }),
        (time) => {
          const runId = formatRunId(time);
          expect(parseRunId(runId)?.toISOString()).toBe(`${time.toISOString().slice(0, 16)}:00.000Z`);
        },
      ),
    );
    for (const bad of [undefined, '', '20261126T0300', '20261326T0300Z', '20261126T2400Z', 'x20261126T0300Z']) {
      expect(parseRunId(bad)).toBeUndefined();
    }
  });
});

describe('formatAccounts', () => {
  it('records a set of accounts as one sorted string, whatever their order and repeats', () => {
    const accounts = fc.uniqueArray(fc.stringMatching(/^[0-9]{12}$/), { maxLength: 8 });
    fc.assert(
      fc.property(accounts, (ids) => {
        const value = formatAccounts([...ids, ...ids]);
        expect(value.split(',').filter((id) => id !== '')).toEqual([...ids].sort());
        expect(formatAccounts([...ids].reverse())).toBe(value);
      }),
    );
    expect(formatAccounts([])).toBe('');
  });
});
