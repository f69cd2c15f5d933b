# A small MCP server for tests/e2e/parts/mcp.mjs (stdio, newline-delimited
# JSON-RPC 2.0). run.sh passes this text to python3 -c in MCP_SERVERS_FILE,
# so claude-web runs it inside the session's sandbox: add_note appends to
# /workspace/notes.txt, which the files API then shows.
import json, sys
TOOLS = [{"name": "add_note", "description": "Appends a note to notes.txt in the workspace",
          "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}}]
def out(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()
while True:
    line = sys.stdin.readline()
    if not line:
        break
    m = json.loads(line)
    mid, meth = m.get("id"), m.get("method")
    if meth == "initialize":
        out({"jsonrpc": "2.0", "id": mid, "result": {"protocolVersion": "2025-06-18",
             "capabilities": {"tools": {}}, "serverInfo": {"name": "e2e-notes", "version": "1"}}})
    elif meth == "tools/list":
        out({"jsonrpc": "2.0", "id": mid, "result": {"tools": TOOLS}})
    elif meth == "tools/call":
        text = str((m["params"].get("arguments") or {}).get("text", ""))
        with open("/workspace/notes.txt", "a") as f:
            f.write(text + "\n")
        out({"jsonrpc": "2.0", "id": mid, "result": {"content": [{"type": "text", "text": "noted: " + text}]}})
    elif mid is not None:
        out({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "not supported"}})
