import { describe } from 'vitest'
import { buildTestApp } from '../../test/helpers/app.js'
import { describeResource } from '../../test/helpers/resource.js'
import { fixtureMigrationsDir, fixtureResources } from '../../test/fixtures/resources.js'

// The core against the fixture matrix: every type, `?`, defaults, each flag, each delete rule and a parent.
const build = () => buildTestApp({}, { resources: fixtureResources, migrationsDir: fixtureMigrationsDir() })
for (const resource of fixtureResources) describe(resource.name, () => describeResource(resource, { build }))
