// Tokenizes .oauthspec files with editors/oauthspec.tmLanguage.json the way
// VS Code does (vscode-textmate on the vscode-oniguruma WebAssembly build)
// and prints one JSON line per token: {file, line, col, text, scopes}, with
// lines counted from 1 and columns (UTF-16 units) from 0.
// Usage: node tokenize.mjs FILE...   (tests/highlighting.rs checks the scopes)
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import textmate from 'vscode-textmate'
import oniguruma from 'vscode-oniguruma'

const require = createRequire(import.meta.url)
const wasm = readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'))
await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength))

const grammarPath = new URL('../oauthspec.tmLanguage.json', import.meta.url)
const registry = new textmate.Registry({
  onigLib: Promise.resolve({
    createOnigScanner: patterns => new oniguruma.OnigScanner(patterns),
    createOnigString: text => new oniguruma.OnigString(text),
  }),
  loadGrammar: async scopeName =>
    scopeName === 'source.oauthspec'
      ? textmate.parseRawGrammar(readFileSync(grammarPath, 'utf8'), grammarPath.pathname)
      : null,
})
const grammar = await registry.loadGrammar('source.oauthspec')

const out = []
for (const file of process.argv.slice(2)) {
  let stack = textmate.INITIAL
  readFileSync(file, 'utf8').split(/\r?\n/).forEach((text, i) => {
    const { tokens, ruleStack } = grammar.tokenizeLine(text, stack)
    for (const t of tokens) {
      const part = text.slice(t.startIndex, t.endIndex)
      if (part) out.push(JSON.stringify({ file, line: i + 1, col: t.startIndex, text: part, scopes: t.scopes }))
    }
    stack = ruleStack
  })
}
process.stdout.write(out.map(l => l + '\n').join(''))
