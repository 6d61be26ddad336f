import fc from 'fast-check';
import { compileFilters, filterCandidates, wildcardToRegExp } from '../../../local/ec2/filters';
import type { Filter } from '../../../local/ec2/query';

interface Item {
  seq: number;
  id: string;
  name: string;
  tags: Map<string, string>;
}

const items: Item[] = ['a', 'b', 'c', 'a*', 'b?'].map((name, index) => ({
  seq: index + 1,
  id: `id-${index + 1}`,
  name,
  tags: new Map([['k', name]]),
}));
const fields = { 'item-id': (item: Item) => item.id, name: (item: Item) => item.name };
const lookups = {
  'item-id': (id: string) => items.filter((item) => item.id === id),
  name: (name: string) => items.filter((item) => item.name === name),
};
const ids = (found: Item[] | undefined) => found?.map((item) => item.id);

describe('filterCandidates', () => {
  it('finds resources by literal values, in creation order, from the most selective filter', () => {
    const filters: Filter[] = [
      { name: 'name', values: ['a', 'b', 'c'] },
      { name: 'item-id', values: ['id-3', 'id-1', 'id-9', 'id-1'] },
    ];
    expect(ids(filterCandidates(filters, lookups))).toEqual(['id-1', 'id-3']);
  });

  it('gives up on filters it cannot look up: wildcards, escapes, fields without a look-up', () => {
    expect(filterCandidates([{ name: 'name', values: ['a*'] }], lookups)).toBeUndefined();
    expect(filterCandidates([{ name: 'name', values: ['b', 'b\\?'] }], lookups)).toBeUndefined();
    expect(filterCandidates([{ name: 'tag:k', values: ['a'] }], lookups)).toBeUndefined();
    expect(filterCandidates([], lookups)).toBeUndefined();
  });

  it('finds nothing for a filter without values, as the filter matches nothing', () => {
    expect(ids(filterCandidates([{ name: 'item-id', values: [] }], lookups))).toEqual([]);
  });

  it('never leaves out a resource the filters match', () => {
    const value = fc.constantFrom('a', 'b', 'c', 'a*', 'b?', 'b\\?', '*', 'id-1', 'id-4', 'x');
    const filter = fc.record({ name: fc.constantFrom('item-id', 'name', 'tag:k'), values: fc.array(value) });
    fc.assert(
      fc.property(fc.array(filter, { maxLength: 3 }), (filters) => {
        const matches = compileFilters(filters, fields);
        const scanned = items.filter(matches);
        const candidates = filterCandidates(filters, lookups);
        expect(ids((candidates ?? items).filter(matches))).toEqual(ids(scanned));
      }),
    );
  });
});

describe('compileFilters', () => {
  it('matches a value as its patterns do, whether they are literal or hold wildcards', () => {
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '*', '?', '\\') });
    fc.assert(
      fc.property(fc.array(text, { maxLength: 4 }), text, (values, name) => {
        const item: Item = { seq: 1, id: 'id-1', name, tags: new Map() };
        const expected = values.some((value) => wildcardToRegExp(value).test(name));
        expect(compileFilters([{ name: 'name', values }], fields)(item)).toBe(expected);
      }),
    );
  });
});
