// Tokenize .ft files with the TextMate grammar through vscode-textmate and vscode-oniguruma, the engine
// VS Code uses. Prints JSON: for each file, the tokens of every line and the problems found, namely
// text no rule matched (only the root scope), `invalid.*` tokens, and a region still open at the end.
// Usage: node tokenize.mjs GRAMMAR FILE...
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import vsctm from "vscode-textmate";
import oniguruma from "vscode-oniguruma";

const require = createRequire(import.meta.url);
const wasm = readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;
await oniguruma.loadWASM(wasm);

const [grammarPath, ...files] = process.argv.slice(2);
const registry = new vsctm.Registry({
  onigLib: Promise.resolve({
    createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
    createOnigString: (text) => new oniguruma.OnigString(text),
  }),
  loadGrammar: async () => vsctm.parseRawGrammar(readFileSync(grammarPath, "utf8"), grammarPath),
});
const grammar = await registry.loadGrammar("source.ftspec");
const out = {};
for (const file of files) {
  const lines = readFileSync(file, "utf8").split(/\r?\n/);
  let stack = vsctm.INITIAL;
  const problems = [];
  const tokens = [];
  lines.forEach((line, index) => {
    const result = grammar.tokenizeLine(line, stack);
    for (const token of result.tokens) {
      const text = line.slice(token.startIndex, token.endIndex);
      const scopes = token.scopes.slice(1);
      tokens.push([index + 1, text, scopes]);
      if (scopes.length === 0 && text.trim() !== "") {
        const column = token.startIndex + text.length - text.trimStart().length + 1;
        problems.push(`${file}:${index + 1}:${column}: unmatched \`${text.trim()}\``);
      }
      if (scopes.some((scope) => scope.startsWith("invalid"))) {
        problems.push(`${file}:${index + 1}:${token.startIndex + 1}: invalid \`${text}\``);
      }
    }
    stack = result.ruleStack;
  });
  if (stack.depth > 1) problems.push(`${file}: a region is still open at the end of the file`);
  out[file] = { problems, tokens };
}
process.stdout.write(JSON.stringify(out));
