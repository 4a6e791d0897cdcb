import { describe, expect, it } from 'vitest'
import { nextLink } from './pages.js'

describe('nextLink', () => {
  it.each([
    ['/api/v1/items?limit=20&cursor=', '</api/v1/items?limit=20&cursor=N.m>; rel="next"'],
    ['/api/v1/items?sort=name&skip=1&limit=2&q=o', '</api/v1/items?sort=name&limit=2&q=o&cursor=N.m>; rel="next"'],
    ['/api/v1/items', '</api/v1/items?cursor=N.m>; rel="next"'],
    ['/api/v1/items?', '</api/v1/items?cursor=N.m>; rel="next"'],
    ['/api/v1/items?&&limit=2&', '</api/v1/items?limit=2&cursor=N.m>; rel="next"'],
    ['/api/v1/items?skip&cursor&limit=2', '</api/v1/items?limit=2&cursor=N.m>; rel="next"'],
  ])('%s: the other parameters kept, skip and cursor replaced', (url, link) => {
    expect(nextLink(url, 'N.m')).toBe(link)
  })

  it('compares names decoded, as the query parser reads them, and keeps values as sent', () => {
    expect(nextLink('/api/v1/items?s%6Bip=5&cur%73or=x&q=a%20b&q2=c+d&x%zz=1', 'N.m'))
      .toBe('</api/v1/items?q=a%20b&q2=c+d&x%zz=1&cursor=N.m>; rel="next"')
  })

  it('encodes what a URI may not carry, so the Link stays one <URI>', () => {
    expect(nextLink('/api/v1/items?q=<x> "y"&limit=2', 'N.m')).toBe('</api/v1/items?q=%3Cx%3E%20%22y%22&limit=2&cursor=N.m>; rel="next"')
  })
})
