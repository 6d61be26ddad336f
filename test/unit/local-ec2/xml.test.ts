import fc from 'fast-check';
import { XMLBuilder } from 'fast-xml-parser';
import { EC2_NAMESPACE, errorXml, successXml, type XmlObject, type XmlValue } from '../../../local/ec2/xml';

// The endpoint's XML as fast-xml-parser's builder wrote it before: responses must stay byte for byte the same.
const reference = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: true, format: false });
const referenceXml = (root: XmlObject): string => `<?xml version="1.0" encoding="UTF-8"?>\n${reference.build(root)}`;

const name = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,8}$/);
const text = fc.oneof(fc.string(), fc.constantFrom('', 'a&b', '<tag>', `it's "quoted"`, '&amp;', ' spaced '));
const leaf: fc.Arbitrary<XmlValue> = fc.oneof(
  text,
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.constant(-0),
  fc.boolean(),
  fc.constant(undefined),
);
const { tree } = fc.letrec<{ tree: XmlObject; value: XmlValue }>((tie) => ({
  tree: fc.dictionary(name, tie('value'), { maxKeys: 4 }) as fc.Arbitrary<XmlObject>,
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    tie('tree'),
    // Arrays repeat an element; the endpoint never nests one array in another.
    fc.array(fc.oneof(leaf, tie('tree')), { maxLength: 3 }),
  ),
}));

describe('the endpoint XML writer', () => {
  it('writes what fast-xml-parser wrote for any response body', () => {
    fc.assert(
      fc.property(name, text, tree, (action, requestId, body) => {
        const root = { [`${action}Response`]: { '@_xmlns': EC2_NAMESPACE, requestId, ...body } };
        expect(successXml(action, requestId, body)).toBe(referenceXml(root));
      }),
      { numRuns: 500 },
    );
  });

  it('writes errors as fast-xml-parser wrote them', () => {
    fc.assert(
      fc.property(text, text, text, (code, message, requestId) => {
        const root = { Response: { Errors: { Error: { Code: code, Message: message } }, RequestID: requestId } };
        expect(errorXml(code, message, requestId)).toBe(referenceXml(root));
      }),
    );
  });

  it('escapes text, leaves out undefined and closes empty elements', () => {
    expect(successXml('Test', 'r-1', { a: 'x<y & "z"', b: undefined, c: '', d: { e: undefined }, f: [1, true] })).toBe(
      `<?xml version="1.0" encoding="UTF-8"?>\n<TestResponse xmlns="${EC2_NAMESPACE}"><requestId>r-1</requestId>` +
        '<a>x&lt;y &amp; &quot;z&quot;</a><c/><d/><f>1</f><f>true</f></TestResponse>',
    );
  });
});
