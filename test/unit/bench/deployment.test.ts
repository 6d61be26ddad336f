import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { withParams } from '../../../bench/deployment';

const PROJECT_FILE = readFileSync(resolve(__dirname, '../../../serverless.yml'), 'utf8');

describe('withParams', () => {
  it('sets the default parameters, leaving the rest of the file as written', () => {
    const text = withParams(PROJECT_FILE, { maxConcurrentReboots: '1000' });
    expect(text).toContain('!GetAtt ImageStateQueue.Arn');
    const expected = parseDocument(PROJECT_FILE).toJS() as { params: { default: Record<string, string> } };
    expected.params.default.maxConcurrentReboots = '1000';
    expect(parseDocument(text).toJS()).toEqual(expected);
  });

  it('refuses a parameter the file does not have', () => {
    expect(() => withParams(PROJECT_FILE, { maxConcurentReboots: '10' })).toThrow(/no parameter maxConcurentReboots/);
  });
});
