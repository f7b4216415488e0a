// Reads a TAP 14 file with tap-parser in strict mode and prints, as JSON,
// every test point (with its subtest and YAML diagnostics) and every parse
// problem, for tests/reports.rs to check.
// Usage: node tap-check.mjs FILE
import { readFileSync } from 'node:fs'
import { Parser } from 'tap-parser'

const text = readFileSync(process.argv[2], 'utf8')
const out = { version: null, points: [], problems: [], extra: [], results: [] }

function watch(parser, path) {
  parser.on('version', v => { if (path.length === 0) out.version = v })
  parser.on('extra', line => out.extra.push(line))
  parser.on('assert', res => {
    out.points.push({
      path,
      id: res.id,
      name: res.name,
      ok: res.ok,
      skip: res.skip === false ? null : res.skip,
      todo: res.todo === false ? null : res.todo,
      diag: res.diag ?? null,
    })
  })
  parser.on('child', child => watch(child, [...path, child.name]))
  parser.on('complete', results => {
    out.results.push({ path, ok: results.ok, count: results.count, plan: results.plan })
    // tap-parser reports a plan/count mismatch only for an otherwise
    // passing stream: check it for failing ones too.
    const planned = results.plan.end - results.plan.start + 1
    if (!results.plan.skipAll && planned !== results.count) {
      out.problems.push({ path, tapError: `planned ${planned} tests, saw ${results.count}` })
    }
    for (const f of results.failures) {
      if (f.tapError) out.problems.push({ path, tapError: f.tapError, data: f.data ?? null })
    }
  })
}

const parser = new Parser({ strict: true })
watch(parser, [])
parser.on('complete', () => console.log(JSON.stringify(out, null, 2)))
parser.end(text)
