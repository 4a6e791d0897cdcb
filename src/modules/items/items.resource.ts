import { defineResource } from '../../resources/define.js'

/** Items, the resource Keel starts with (SPEC §2): one declaration, interpreted by src/resources. */
export const items = defineResource({
  name: 'items',
  fields: ['name:string:search:sort', 'description:string{1000}?', 'is_active:boolean=true'],
  // Items' description may be empty (SPEC §2 says only "≤ 1000 chars or null").
  overrides: { description: { minLength: 0, description: 'At most 1000 characters' } },
  examples: { name: 'Notebook', description: 'A5, dotted' },
  // Its table predates references: a plain (owner_id, id) index, not the unique key a reference needs.
  ownerKey: false,
})
