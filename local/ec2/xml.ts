import { XMLBuilder } from 'fast-xml-parser';

/** A tree the builder turns into XML: objects are elements in key order, arrays repeat an element, undefined is left out. */
export type XmlValue = string | number | boolean | undefined | XmlObject | XmlValue[];
export interface XmlObject {
  [element: string]: XmlValue;
}

export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

// Leaf text is never indented: the SDK does not trim values. Empty elements are written `<tagSet/>`.
const builder = new XMLBuilder({ ignoreAttributes: false, suppressEmptyNode: true, format: false });

/** EC2's list form: a wrapper element holding one `<item>` per entry (an empty list gives `<wrapper/>`). */
export function itemList(items: readonly XmlObject[]): XmlValue {
  return items.length === 0 ? '' : { item: [...items] };
}

export function tagSet(tags: ReadonlyMap<string, string>): XmlValue {
  return itemList([...tags].map(([key, value]) => ({ key, value })));
}

export function successXml(action: string, requestId: string, body: XmlObject): string {
  const root = { [`${action}Response`]: { '@_xmlns': EC2_NAMESPACE, requestId, ...body } };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(root)}`;
}

export function errorXml(code: string, message: string, requestId: string): string {
  const root = { Response: { Errors: { Error: { Code: code, Message: message } }, RequestID: requestId } };
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build(root)}`;
}
