// Starts `ftspec lsp` for .ft files. The server does the work; this only launches it.
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const settings = vscode.workspace.getConfiguration("ftspec");
  const [command, ...args] = settings.get("command", ["ftspec", "lsp"]);
  const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const server = { command, args, transport: TransportKind.stdio, options: { cwd } };
  client = new LanguageClient(
    "ftspec",
    "ftspec",
    { run: server, debug: server },
    {
      documentSelector: [{ scheme: "file", language: "ftspec" }],
      initializationOptions: { debounce_ms: settings.get("debounceMs", 100) },
    },
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
