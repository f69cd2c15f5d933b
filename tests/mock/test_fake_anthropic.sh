#!/usr/bin/env bash
# test_fake_anthropic.sh: self-test of tests/mock/fake_anthropic.py, in TAP.
#
# Starts the fake on a free port, scripts a few turns over its control API and
# checks with curl what comes back: the SSE event order of a text turn, the
# reassembled tool input of a tool_use turn, a 429 fault, a byte-split CRLF
# stream, a non-streaming answer, request recording, validation of a bad
# history, and that a client that hangs up mid-stream is seen in /_fake/stats.
# Prints "1..0 # SKIP" when python3 or curl is missing. Takes about 3 s.
# Set CW_KEEP=1 to keep the temporary directory.

set -u

for t in python3 curl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		printf '1..0 # SKIP missing: %s\n' "$t"
		exit 0
	fi
done
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FAKE=$HERE/fake_anthropic.py

# ---- TAP ---------------------------------------------------------------------
TAP_N=0
TAP_FAILED=0
ok() {
	TAP_N=$((TAP_N + 1))
	printf 'ok %d - %s\n' "$TAP_N" "$1"
}
not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_N" "$1"
	shift
	local line
	for line in "$@"; do
		printf '%s\n' "$line" | sed 's/^/# /'
	done
	return 0
}
# is GOT WANT DESC
is() {
	if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3" "got:      '$1'" "expected: '$2'"; fi
}

# ---- setup -------------------------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/cwfake.XXXXXX") || {
	echo "Bail out! mktemp failed"
	exit 0
}
FAKE_PID=''
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
	if [ -n "$FAKE_PID" ]; then
		kill -TERM "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	if [ "$TAP_FAILED" -eq 0 ] && [ -z "${CW_KEEP:-}" ]; then
		rm -rf -- "$T"
	else
		printf '# kept %s\n' "$T"
	fi
}
trap cleanup EXIT

python3 "$FAKE" --port 0 --port-file "$T/port" --log "$T/fake.log" 2>"$T/fake.stderr" &
FAKE_PID=$!
for _ in $(seq 50); do
	[ -s "$T/port" ] && break
	sleep 0.1
done
if [ ! -s "$T/port" ]; then
	echo "Bail out! the fake did not write its port file"
	sed 's/^/# /' "$T/fake.stderr"
	exit 0
fi
PORT=$(cat "$T/port")
BASE="http://127.0.0.1:$PORT"
ok "the fake listens on 127.0.0.1:$PORT (port file written)"

API_HDRS=(-H 'x-api-key: sk-test' -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json')
REQ_STREAM='{"model":"claude-test","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"hi"}]}'

# ctl METHOD PATH [JSON]: control API call, body on stdout.
ctl() {
	curl -sS -X "$1" "$BASE$2" ${3:+-H 'content-type: application/json' --data-binary "$3"}
}
# jget FILE EXPR [ARG...]: a Python expression over the parsed JSON file as j
# (the extra arguments as the list a).
jget() {
	python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); a=sys.argv[3:]; print(eval(sys.argv[2]))' "$@" 2>&1
}
# sse_summary FILE: parse an SSE body (LF, CRLF or CR line ends) and assemble
# the message like a client would; print a JSON summary.
sse_summary() {
	python3 - "$1" <<'EOF'
import json, sys
txt = open(sys.argv[1], "rb").read().decode("utf-8")
txt = txt.replace("\r\n", "\n").replace("\r", "\n")
events, name, data = [], "", []
for line in txt.split("\n"):
    if line == "":
        if data:
            events.append((name or "message", "\n".join(data)))
        name, data = "", []
        continue
    if line.startswith(":"):
        continue
    field, _, value = line.partition(":")
    value = value[1:] if value.startswith(" ") else value
    if field == "event":
        name = value
    elif field == "data":
        data.append(value)
out = {"names": [], "type_matches": True, "blocks": [], "first_partial": [],
       "stop_reason": None, "usage": {}}
blocks = {}
for n, d in events:
    j = json.loads(d)
    out["names"].append(n)
    out["type_matches"] &= j.get("type") == n
    if n == "message_start":
        out["usage"] = j["message"]["usage"]
    elif n == "content_block_start":
        blocks[j["index"]] = dict(j["content_block"], partial="", deltas=0)
    elif n == "content_block_delta":
        b, dl = blocks[j["index"]], j["delta"]
        b["deltas"] += 1
        if dl["type"] == "text_delta":
            b["text"] += dl["text"]
        elif dl["type"] == "input_json_delta":
            if b["deltas"] == 1:
                out["first_partial"].append(dl["partial_json"])
            b["partial"] += dl["partial_json"]
    elif n == "content_block_stop":
        b = blocks[j["index"]]
        if b["type"] == "tool_use":
            b["input"] = json.loads(b["partial"]) if b["partial"] else {}
    elif n == "message_delta":
        out["stop_reason"] = j["delta"]["stop_reason"]
        out["usage"].update(j["usage"])
out["blocks"] = [blocks[k] for k in sorted(blocks)]
print(json.dumps(out))
EOF
}
# compress a list of event names: runs of content_block_delta become "delta+".
event_shape() {
	jget "$1" '" ".join(n for i, n in enumerate(["delta+" if x == "content_block_delta" else x for x in j["names"]]) if not (n == "delta+" and i > 0 and j["names"][i-1] == "content_block_delta"))'
}

# ---- a text turn and a tool_use turn ------------------------------------------
TOOL_INPUT='{"command":"printf \"a\\tb\\n\" | grep -c \"\\u00e9\" > /tmp/x","timeout":120000,"restart":false}'
SCRIPT='{"turns":[
 {"content":[{"type":"text","text":"Hello, world! This text is split into deltas."}],"stop_reason":"end_turn",
  "usage":{"input_tokens":11,"output_tokens":12}},
 {"content":[{"type":"text","text":"Let me look."},
             {"type":"tool_use","id":"toolu_01SelfTest","name":"bash","input":'"$TOOL_INPUT"'}],
  "stop_reason":"tool_use"}]}'
r=$(ctl POST /_fake/script "$SCRIPT")
is "$r" '{"ok":true,"queued":2}' "POST /_fake/script queues two turns"

curl -sSN "${API_HDRS[@]}" -D "$T/h1" -o "$T/s1" "$BASE/v1/messages" -d "$REQ_STREAM"
sse_summary "$T/s1" >"$T/j1"
is "$(tr -d '\r' <"$T/h1" | sed -n 's/^content-type: //Ip')" 'text/event-stream; charset=utf-8' \
	"streamed answer has content-type text/event-stream; charset=utf-8"
case $(tr -d '\r' <"$T/h1" | sed -n 's/^request-id: //Ip') in
req_*) ok "streamed answer has a request-id: req_... header" ;;
*) not_ok "streamed answer has a request-id: req_... header" "$(cat "$T/h1")" ;;
esac
is "$(event_shape "$T/j1")" \
	'message_start content_block_start ping delta+ content_block_stop message_delta message_stop' \
	"text turn: events come in the real API's order"
is "$(jget "$T/j1" 'j["type_matches"]')" True "every event name equals its JSON type"
is "$(jget "$T/j1" 'j["blocks"][0]["text"]')" 'Hello, world! This text is split into deltas.' \
	"text turn: the text_delta pieces add up to the text"
is "$(jget "$T/j1" 'j["blocks"][0]["deltas"] > 1')" True "text turn: the text comes in several deltas"
is "$(jget "$T/j1" '(j["stop_reason"], j["usage"]["input_tokens"], j["usage"]["output_tokens"])')" \
	"('end_turn', 11, 12)" "text turn: stop_reason end_turn, scripted usage"

curl -sSN "${API_HDRS[@]}" -o "$T/s2" "$BASE/v1/messages" -d "$REQ_STREAM"
sse_summary "$T/s2" >"$T/j2"
is "$(event_shape "$T/j2")" \
	'message_start content_block_start ping delta+ content_block_stop content_block_start delta+ content_block_stop message_delta message_stop' \
	"tool_use turn: text block then tool_use block, in order"
is "$(jget "$T/j2" '(j["blocks"][1]["type"], j["blocks"][1]["id"], j["blocks"][1]["name"], j["blocks"][1]["partial"] != "" and True)')" \
	"('tool_use', 'toolu_01SelfTest', 'bash', True)" "tool_use block: id and name in content_block_start"
is "$(jget "$T/j2" 'j["first_partial"]')" "['']" 'tool_use block: the first partial_json is ""'
is "$(jget "$T/j2" 'j["blocks"][1]["input"] == json.loads(a[0]) and j["blocks"][1]["deltas"] > 3' "$TOOL_INPUT")" True \
	"tool_use block: the concatenated input_json_delta pieces parse to the scripted input"
is "$(jget "$T/j2" 'j["stop_reason"]')" tool_use "tool_use turn: stop_reason tool_use"

# ---- an HTTP fault ---------------------------------------------------------------
ctl POST /_fake/script '{"turns":[{"fault":{"type":"http","status":429,"retry_after":3}}]}' >/dev/null
code=$(curl -sS "${API_HDRS[@]}" -D "$T/h3" -o "$T/b3" -w '%{http_code}' "$BASE/v1/messages" -d "$REQ_STREAM")
is "$code" 429 "429 fault: HTTP status 429"
is "$(tr -d '\r' <"$T/h3" | sed -n 's/^retry-after: //Ip')" 3 "429 fault: retry-after: 3"
is "$(jget "$T/b3" '(j["type"], j["error"]["type"], j["request_id"][:4], bool(j["error"]["message"]))')" \
	"('error', 'rate_limit_error', 'req_', True)" "429 fault: the real error body shape"

# ---- awkward framing: 7-byte writes, CRLF line ends ---------------------------------
ctl POST /_fake/script '{"turns":[{"text":"Grüße ✓ über CRLF","chunk":{"mode":"bytes","size":7},"fault":{"type":"crlf"}}]}' >/dev/null
curl -sSN "${API_HDRS[@]}" -o "$T/s4" "$BASE/v1/messages" -d "$REQ_STREAM"
crlf=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); print(d.count(b"\r\n") > 0 and d.count(b"\n") == d.count(b"\r\n"))' "$T/s4")
is "$crlf" True "crlf fault: every line ends in CRLF"
sse_summary "$T/s4" >"$T/j4"
is "$(jget "$T/j4" 'j["blocks"][0]["text"]')" 'Grüße ✓ über CRLF' "crlf fault + 7-byte chunks: the stream still assembles"

# ---- non-streaming ------------------------------------------------------------------
curl -sS "${API_HDRS[@]}" -o "$T/b5" "$BASE/v1/messages" \
	-d '{"model":"claude-test","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}'
is "$(jget "$T/b5" '(j["type"], j["content"][0]["text"], j["stop_reason"], j["model"])')" \
	"('message', 'Hello from the fake Anthropic server.', 'end_turn', 'claude-test')" \
	"no stream: a Message JSON with the default turn when the queue is empty"

# ---- validation ---------------------------------------------------------------------
code=$(curl -sS "${API_HDRS[@]}" -o "$T/b6" -w '%{http_code}' "$BASE/v1/messages" \
	-d '{"model":"claude-test","max_tokens":100,"messages":[{"role":"assistant","content":"hi"},{"role":"user","content":"x"}]}')
is "$code" 400 "a history starting with assistant is rejected with 400"
is "$(jget "$T/b6" '(j["error"]["type"], "user" in j["error"]["message"])')" \
	"('invalid_request_error', True)" "... as invalid_request_error saying the first message must be user"
code=$(curl -sS -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' -o "$T/b7" \
	-w '%{http_code}' "$BASE/v1/messages" -d "$REQ_STREAM")
is "$code:$(jget "$T/b7" 'j["error"]["type"]')" 401:authentication_error "no x-api-key: 401 authentication_error"

# ---- recorded requests ----------------------------------------------------------------
ctl GET /_fake/requests >"$T/reqs"
is "$(jget "$T/reqs" 'len(j["requests"])')" 7 "GET /_fake/requests lists all 7 API requests"
is "$(jget "$T/reqs" '(j["requests"][0]["headers"]["x-api-key"], j["requests"][0]["headers"]["anthropic-version"], j["requests"][0]["body"]["model"], j["requests"][0]["body_bytes"] == len(a[0]))' "$REQ_STREAM")" \
	"('sk-test', '2023-06-01', 'claude-test', True)" "a recorded request has lowercased headers, the parsed body and its size"

# ---- server tools: web_search streamed, its result, cited text ---------------------
WEB_TURN='{"turns":[{"content":[
 {"type":"server_tool_use","id":"srvtoolu_01SelfTest","name":"web_search","input":{"query":"claude web"}},
 {"type":"web_search_tool_result","tool_use_id":"srvtoolu_01SelfTest","content":[{"type":"web_search_result","url":"https://example.com/a","title":"A","encrypted_content":"EncA==","page_age":"1 day"}]},
 {"type":"text","text":"Cited.","citations":[{"type":"web_search_result_location","url":"https://example.com/a","title":"A","encrypted_index":"Ix==","cited_text":"a"}]}],
 "usage":{"server_tool_use":{"web_search_requests":1}}}]}'
ctl POST /_fake/script "$WEB_TURN" >/dev/null
curl -sSN "${API_HDRS[@]}" -o "$T/sw" "$BASE/v1/messages" -d "$REQ_STREAM"
is "$(python3 - "$T/sw" <<'EOF2'
import json, sys
evs = [json.loads(l[6:]) for l in open(sys.argv[1]) if l.startswith("data: ")]
starts = [e["content_block"] for e in evs if e["type"] == "content_block_start"]
deltas = [e["delta"] for e in evs if e["type"] == "content_block_delta"]
part = "".join(d.get("partial_json", "") for d in deltas if d["type"] == "input_json_delta")
cit = [d["citation"]["url"] for d in deltas if d["type"] == "citations_delta"]
md = [e for e in evs if e["type"] == "message_delta"][0]
print(starts[0]["type"], starts[0]["input"], json.loads(part), starts[1]["content"][0]["encrypted_content"],
      cit, md["delta"]["stop_reason"], md["usage"]["server_tool_use"])
EOF2
)" "server_tool_use {} {'query': 'claude web'} EncA== ['https://example.com/a'] end_turn {'web_search_requests': 1}" \
	"server tools: server_tool_use input streamed as input_json_delta, the result whole, citations_delta, usage.server_tool_use"
BETA_REQ='{"model":"claude-test","max_tokens":64,"tools":[{"type":"web_fetch_20250910","name":"web_fetch"}],"messages":[{"role":"user","content":"hi"}]}'
code=$(curl -sS "${API_HDRS[@]}" -o "$T/bw" -w '%{http_code}' "$BASE/v1/messages" -d "$BETA_REQ")
is "$code $(jget "$T/bw" '"anthropic-beta" in j["error"]["message"]')" "400 True" \
	"web_fetch without the anthropic-beta header: 400"
code=$(curl -sS "${API_HDRS[@]}" -H 'anthropic-beta: web-fetch-2025-09-10' -o /dev/null -w '%{http_code}' \
	"$BASE/v1/messages" -d "$BETA_REQ")
is "$code" 200 "web_fetch with anthropic-beta: web-fetch-2025-09-10: 200"

# ---- a client that hangs up mid-stream --------------------------------------------------
ctl POST /_fake/script '{"turns":[{"text":"'"$(printf 'slow %.0s' $(seq 40))"'","fault":{"type":"slow","byte_interval_ms":20}}]}' >/dev/null
curl -sSN --max-time 0.6 "${API_HDRS[@]}" -o /dev/null "$BASE/v1/messages" -d "$REQ_STREAM" 2>/dev/null
ctl GET '/_fake/wait?done=8&timeout=5' >"$T/stats"
is "$(jget "$T/stats" '(lambda r: (r["client_disconnected"], r["completed"], 0 < r["bytes_sent"] < r["bytes_total"]))(j["per_request"][-1])')" \
	"(True, False, True)" "a client that hangs up mid-stream is recorded (client_disconnected, bytes_sent < bytes_total)"

# ---- a turn held at a gate until the test releases it -----------------------------------
ctl POST /_fake/script '{"turns":[{"text":"held reply","hold":"g1"}]}' >/dev/null
curl -sSN --max-time 10 "${API_HDRS[@]}" -o "$T/held" "$BASE/v1/messages" -d "$REQ_STREAM" 2>/dev/null &
HELD_PID=$!
for _i in $(seq 50); do
	ctl GET /_fake/stats >"$T/stats"
	[ "$(jget "$T/stats" 'j["held"]')" = "['g1']" ] && break
	sleep 0.1
done
is "$(jget "$T/stats" '(j["held"], j["in_flight"])')" "(['g1'], 1)" "hold: the stream waits at its gate (stats held)"
is "$(grep -c '^event:' "$T/held")" 3 "hold: ... after 3 events (the default after_events)"
is "$(ctl POST /_fake/release '{"gate":"g1"}')" '{"ok":true,"gate":"g1","held":1}' "POST /_fake/release opens the gate"
wait "$HELD_PID"
is "$(grep -c '^event: message_stop' "$T/held")" 1 "hold: released, the stream ends normally"

ctl POST /_fake/reset >/dev/null
is "$(ctl GET /_fake/requests)" '{"requests":[]}' "POST /_fake/reset clears the recorded requests"

# ---- SIGTERM --------------------------------------------------------------------------
kill -TERM "$FAKE_PID"
wait "$FAKE_PID"
is "$?" 0 "SIGTERM: the fake exits with status 0"
FAKE_PID=''

printf '1..%d\n' "$TAP_N"
exit 0
