// Derives the editors' copies of ../oauthspec.tmLanguage.json, the grammar
// to edit: vscode/syntaxes/oauthspec.tmLanguage.json (the same JSON, inside
// the extension folder) and sublime/oauthspec.tmLanguage (an XML plist, the
// format Sublime Text reads). Needs no npm packages.
// Usage: node build.mjs            writes them
//        node build.mjs --check    fails if they are out of date
import { readFileSync, writeFileSync } from 'node:fs'

const editors = new URL('../', import.meta.url)
const source = readFileSync(new URL('oauthspec.tmLanguage.json', editors), 'utf8')

const escape = s => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
function plist(value, indent) {
  const pad = '  '.repeat(indent)
  if (typeof value === 'string') return `${pad}<string>${escape(value)}</string>\n`
  if (Array.isArray(value)) return `${pad}<array>\n${value.map(v => plist(v, indent + 1)).join('')}${pad}</array>\n`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .map(([k, v]) => `${pad}  <key>${escape(k)}</key>\n${plist(v, indent + 1)}`)
    return `${pad}<dict>\n${entries.join('')}${pad}</dict>\n`
  }
  throw new Error(`no plist form for ${JSON.stringify(value)}`)
}

const outputs = {
  'vscode/syntaxes/oauthspec.tmLanguage.json': source,
  'sublime/oauthspec.tmLanguage':
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
    '<!-- Generated from ../oauthspec.tmLanguage.json by ../test/build.mjs: edit that file. -->\n' +
    '<plist version="1.0">\n' + plist(JSON.parse(source), 0) + '</plist>\n',
}

const read = url => { try { return readFileSync(url, 'utf8') } catch { return null } }
const check = process.argv.includes('--check')
let stale = 0
for (const [path, text] of Object.entries(outputs)) {
  const url = new URL(path, editors)
  if (!check) writeFileSync(url, text)
  else if (read(url) !== text) {
    console.error(`editors/${path} is out of date: run \`node editors/test/build.mjs\``)
    stale++
  }
}
process.exitCode = stale ? 1 : 0
