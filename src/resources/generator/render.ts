/** `line_items` → `lineItems`. */
export const camelCase = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())

export interface DeclarationText {
  name: string
  fieldTexts: readonly string[]
  refs: readonly string[]
  parent?: string | undefined
  scope?: 'user' | 'org'
  access?: Record<string, string> | undefined
}

/** The declaration file: data only, the core does the rest. */
export function renderDeclaration({ name, fieldTexts, refs, parent, scope = 'user', access }: DeclarationText): string {
  const imports = refs.map((r) => `import { ${r} } from '../${r}/${r}.resource.js'\n`).join('')
  return [
    `import { defineResource } from '../../resources/define.js'\n${imports}`,
    `export const ${name} = defineResource({`,
    `  name: '${name}',`,
    ...(scope === 'org' ? ["  scope: 'org',"] : []),
    ...(access ? [`  access: { ${Object.entries(access).map(([op, rule]) => `${op}: '${rule}'`).join(', ')} },`] : []),
    '  fields: [',
    ...fieldTexts.map((text) => `    ${quote(text)},`),
    '  ],',
    ...(refs.length ? [`  refs: { ${refs.join(', ')} },`] : []),
    ...(parent ? [`  parent: '${parent}',`] : []),
    '})',
    '',
  ].join('\n')
}

/** A single-quoted TypeScript string literal. */
export const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

/** The generated test: the shared suite of test/helpers/resource.ts, run on this resource. */
export function renderTest(name: string): string {
  return [
    "import { describeResource } from '../../../test/helpers/resource.js'",
    `import { ${name} } from './${name}.resource.js'`,
    '',
    '// Every rule a resource follows (SPEC §2 and §5), from the shared suite; add this resource\'s own tests below.',
    `describeResource(${name})`,
    '',
  ].join('\n')
}

/** The two lines app.ts gets: the import and the registration under /api/v1. */
export function appLines(name: string): { importLine: string; registerLine: string } {
  const alias = `${camelCase(name)}Resource`
  return {
    importLine: `import { ${name} as ${alias} } from './modules/${name}/${name}.resource.js'`,
    registerLine: `    await api.register(${alias}.routes)`,
  }
}

/** The two lines src/db/schema.ts gets, so the schema-equals-code test covers the table. */
export function schemaLines(name: string): { importLine: string; exportLine: string } {
  const alias = `${camelCase(name)}Resource`
  return {
    importLine: `import { ${name} as ${alias} } from '../modules/${name}/${name}.resource.js'`,
    exportLine: `export const ${camelCase(name)} = ${alias}.table`,
  }
}
