import type { Resource } from '../../resources/define.js'

/** A row of the `events` table as read back. */
export interface StoredEvent {
  id: number | string
  type: string
  resource: string
  row_id: number
  owner_id: number | null
  org_id: number | null
  data: Record<string, unknown>
  created_at: Date | string
}

/** An event as clients receive it (SPEC §11): `owner_id` or `org_id`, whichever the row carries. */
export interface PublicEvent {
  id: number
  type: string
  resource: string
  row_id: number
  owner_id?: number
  org_id?: number
  data: Record<string, unknown>
  created_at: string
}

const iso = (value: unknown) => (value === null || value === undefined ? value : new Date(value as string).toISOString())

/**
 * The trigger stores `to_jsonb(row)`: every column, timestamps in PostgreSQL's text form and decimals of scale 0 as
 * numbers. The resource's output schema and fields say what is answered and which is which, so `data` reads
 * exactly as the API answers the row.
 */
export function createEventShaper(resources: readonly Resource[]) {
  const timestamps = new Map<string, string[]>()
  const decimals = new Map<string, string[]>()
  // Only what the API answers: a table may hold more (e.g. the row version behind ETags).
  const answered = new Map<string, string[]>()
  for (const resource of resources) {
    answered.set(resource.name, Object.keys(resource.schemas.output.properties))
    timestamps.set(resource.name, ['created_at', 'updated_at', ...resource.fields.filter((f) => f.type === 'datetime').map((f) => f.name)])
    decimals.set(resource.name, resource.fields.filter((f) => f.type === 'decimal').map((f) => f.name))
  }
  const shapeData = (resource: string, stored: Record<string, unknown>) => {
    const keys = answered.get(resource)
    const data = keys ? Object.fromEntries(keys.filter((k) => k in stored).map((k) => [k, stored[k]])) : { ...stored }
    for (const name of timestamps.get(resource) ?? []) if (name in data) data[name] = iso(data[name])
    for (const name of decimals.get(resource) ?? []) if (typeof data[name] === 'number') data[name] = String(data[name])
    return data
  }
  return (event: StoredEvent): PublicEvent => ({
    id: Number(event.id),
    type: event.type,
    resource: event.resource,
    row_id: event.row_id,
    ...(event.org_id === null ? { owner_id: event.owner_id! } : { org_id: event.org_id }),
    data: shapeData(event.resource, event.data),
    created_at: iso(event.created_at) as string,
  })
}

export type EventShaper = ReturnType<typeof createEventShaper>

/** The role needed to read a resource's rows in an org: its declaration's `access.read` (SPEC §8, viewer by default). */
export function readRoleOf(resource: Resource | undefined): string {
  return resource?.scope.access?.read ?? 'viewer'
}
