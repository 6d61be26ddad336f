import { WiringError, writtenSettings } from '../../../../local/runner/functions';

const file = (createImages: string, queue = '') => `service: demo
functions:
  createImages:
    handler: functions/create-images.handler
    reservedConcurrency: 1
${createImages}
  recordImageState:
    handler: functions/record-image-state.handler
    events:
      - schedule: rate(1 hour)
      - sqs:
          arn: !GetAtt ImageStateQueue.Arn
${queue}
`;

describe('writtenSettings', () => {
  it('reads each function’s maximum event age and its queues’ maximum concurrency, in order', () => {
    const settings = writtenSettings(file('    maximumEventAge: 60', '          maximumConcurrency: 5'));
    expect(settings.get('createImages')).toEqual({ maximumEventAge: 60, maximumConcurrency: [] });
    expect(settings.get('recordImageState')).toEqual({ maximumConcurrency: [5] });
  });

  it('leaves out what the file does not set (Lambda’s defaults then apply)', () => {
    const settings = writtenSettings(file(''));
    expect(settings.get('createImages')).toEqual({ maximumConcurrency: [] });
    expect(settings.get('recordImageState')).toEqual({ maximumConcurrency: [undefined] });
  });

  it.each([
    ['an age under a minute', file('    maximumEventAge: 30'), 'functions.createImages.maximumEventAge'],
    ['a variable', file(`    maximumEventAge: ${'$'}{param:age}`), 'functions.createImages.maximumEventAge'],
    [
      'a concurrency of 1',
      file('', '          maximumConcurrency: 1'),
      'functions.recordImageState.events[1].sqs.maximumConcurrency',
    ],
  ])('refuses %s, naming its place', (_, text, where) => {
    expect(() => writtenSettings(text)).toThrow(WiringError);
    expect(() => writtenSettings(text)).toThrow(where);
  });
});
