/** A tree turned into XML: objects are elements in key order, arrays repeat an element, undefined is left out. */
export type XmlValue = string | number | boolean | undefined | XmlObject | XmlValue[];
export interface XmlObject {
  [element: string]: XmlValue;
}

export const EC2_NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n';

/** EC2's list form: a wrapper element holding one `<item>` per entry (an empty list gives `<wrapper/>`). */
export function itemList(items: readonly XmlObject[]): XmlValue {
  return items.length === 0 ? '' : { item: [...items] };
}

export function tagSet(tags: ReadonlyMap<string, string>): XmlValue {
  return itemList([...tags].map(([key, value]) => ({ key, value })));
}

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  "'": '&apos;',
  '"': '&quot;',
};

function escapeText(text: string): string {
  return text.replace(/[&<>'"]/g, (char) => ENTITIES[char] ?? char);
}

/** Leaf text is never indented (the SDK does not trim values); an empty element is written `<tagSet/>`. */
function leaf(name: string, value: string | number | boolean): string {
  // -0 keeps its sign, as XML text has no other way to carry it.
  const text = typeof value === 'string' ? escapeText(value) : Object.is(value, -0) ? '-0' : String(value);
  return text === '' ? `<${name}/>` : `<${name}>${text}</${name}>`;
}

function element(name: string, value: XmlValue, attributes = ''): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map((item) => element(name, item)).join('');
  if (typeof value !== 'object') return leaf(name, value);
  const content = children(value);
  return content === '' ? `<${name}${attributes}/>` : `<${name}${attributes}>${content}</${name}>`;
}

function children(object: XmlObject): string {
  let content = '';
  for (const [name, value] of Object.entries(object)) content += element(name, value);
  return content;
}

/**
 * Writes the response by hand rather than through an XML library: this runs for every request, and a generic
 * builder's per-node bookkeeping was a good part of the endpoint's cost at scale.
 */
export function successXml(action: string, requestId: string, body: XmlObject): string {
  const attributes = ` xmlns="${EC2_NAMESPACE}"`;
  return `${DECLARATION}${element(`${action}Response`, { requestId, ...body }, attributes)}`;
}

export function errorXml(code: string, message: string, requestId: string): string {
  return `${DECLARATION}${element('Response', { Errors: { Error: { Code: code, Message: message } }, RequestID: requestId })}`;
}
