#!/usr/bin/env python3
"""fake_anthropic.py: a local stand-in for the Anthropic Messages API.

The real API cannot be reached from the test machines, so the tests point the
backend's upstream URL at this server. It speaks the wire format of the real
API (see tests/mock/README.md and the recorded streams in
/work/shared/design/research/anthropic-sse-recordings/):

    event: NAME\\ndata: JSON\\n\\n     (NAME == JSON "type")

with message_start, content_block_start/delta/stop, ping, message_delta
(cumulative usage, stop_reason) and message_stop, or a non-streaming Message
JSON when the request has no "stream": true.

Replies come from a queue of scripted turns (POST /_fake/script). Each turn can
carry a fault: an HTTP error, an error event mid-stream, a cut connection, a
silent gap, a slow trickle, a malformed event, a huge line, CRLF or CR line
ends, comments and unknown events. Every request is recorded for inspection
(GET /_fake/requests), and every response is accounted for (GET /_fake/stats:
bytes and events sent, whether the client went away early).

Usage:
    python3 fake_anthropic.py --port 0 --port-file FILE [--log FILE]

Python 3 standard library only. Runs until SIGTERM or SIGINT (exit status 0).
"""

import argparse
import json
import os
import random
import select
import signal
import socket
import string
import struct
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

API_VERSION = "2023-06-01"
DEFAULT_TEXT = "Hello from the fake Anthropic server."
MAX_BODY = 32 * 1024 * 1024  # the Messages API limit (32 MB) -> 413
ORG_ID = str(uuid.UUID(int=0x0F4CE0A7_0000_4000_8000_000000000001))

# HTTP status -> (error.type, default message), as documented for the real API.
HTTP_ERRORS = {
    400: ("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed the rate limit for your organization. Please try again later."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
REASONS = {529: "Site Overloaded"}
# error_event: error.type -> default message.
EVENT_ERROR_MESSAGES = {
    "overloaded_error": "Overloaded",
    "api_error": "Internal server error",
    "rate_limit_error": "Rate limited",
    "invalid_request_error": "Invalid request",
}

# Top-level request fields the fake accepts (the real API rejects unknown ones
# with "Extra inputs are not permitted"; this list is deliberately generous).
KNOWN_FIELDS = {
    "model", "messages", "max_tokens", "system", "tools", "tool_choice",
    "stream", "thinking", "stop_sequences", "temperature", "top_p", "top_k",
    "metadata", "service_tier", "container", "mcp_servers",
    "context_management", "output_config", "output_format", "betas",
    "inference_geo",
}
TERMINAL_FAULTS = ("http", "error_event", "cut", "silence")
FRAMING_FAULTS = ("slow", "malformed", "long_line", "crlf", "cr", "comments",
                  "sse_fields")
ALL_FAULTS = TERMINAL_FAULTS + FRAMING_FAULTS

_B62 = string.ascii_letters + string.digits


def gen_id(prefix):
    """An id shaped like the real ones: prefix + "01" + 22 base-62 chars."""
    return prefix + "01" + "".join(random.choice(_B62) for _ in range(22))


def jdump(obj):
    """Compact JSON with raw UTF-8, as the API sends it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


class ApiError(Exception):
    """A request the real API would reject: HTTP status + error.type + message."""

    def __init__(self, status, etype, message):
        super().__init__(message)
        self.status = status
        self.etype = etype
        self.message = message


class ScriptError(Exception):
    """A bad turn given to /_fake/script (a bug in the test, not the client)."""


# ---- request validation ------------------------------------------------------

def _bad(msg):
    return ApiError(400, "invalid_request_error", msg)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _count_cache_control(obj):
    if isinstance(obj, dict):
        n = 1 if "cache_control" in obj else 0
        return n + sum(_count_cache_control(v) for k, v in obj.items()
                       if k != "cache_control")
    if isinstance(obj, list):
        return sum(_count_cache_control(v) for v in obj)
    return 0


def _check_text_blocks(blocks, where):
    if isinstance(blocks, str):
        return
    if not isinstance(blocks, list):
        raise _bad("%s: Input should be a valid list or string" % where)
    for j, b in enumerate(blocks):
        if not isinstance(b, dict) or not isinstance(b.get("type"), str):
            raise _bad("%s.%d: each content block must be an object with a \"type\"" % (where, j))


def _check_block(b, where, role):
    """One content block of a message. Returns its type."""
    if not isinstance(b, dict):
        raise _bad("%s: Input should be a valid dictionary" % where)
    t = b.get("type")
    if not isinstance(t, str):
        raise _bad("%s.type: Field required" % where)
    if t == "text":
        if not isinstance(b.get("text"), str):
            raise _bad("%s.text: Field required" % where)
        if b["text"] == "":
            raise _bad("%s.text: text content blocks must be non-empty" % where)
        if b["text"].strip() == "":
            raise _bad("%s.text: text content blocks must contain non-whitespace text" % where)
    elif t == "tool_use":
        if role != "assistant":
            raise _bad("%s: tool_use blocks can only appear in assistant messages" % where)
        if not isinstance(b.get("id"), str) or not b["id"]:
            raise _bad("%s.id: Field required" % where)
        if not isinstance(b.get("name"), str) or not b["name"]:
            raise _bad("%s.name: Field required" % where)
        if not isinstance(b.get("input"), dict):
            raise _bad("%s.input: Input should be a valid dictionary" % where)
    elif t == "tool_result":
        if role != "user":
            raise _bad("%s: tool_result blocks can only appear in user messages" % where)
        if not isinstance(b.get("tool_use_id"), str) or not b["tool_use_id"]:
            raise _bad("%s.tool_use_id: Field required" % where)
        if "content" in b:
            _check_text_blocks(b["content"], where + ".content")
        if "is_error" in b and not isinstance(b["is_error"], bool):
            raise _bad("%s.is_error: Input should be a valid boolean" % where)
    elif t == "thinking":
        if role != "assistant":
            raise _bad("%s: thinking blocks can only appear in assistant messages" % where)
        if not isinstance(b.get("thinking"), str):
            raise _bad("%s.thinking: Field required" % where)
        if not isinstance(b.get("signature"), str) or not b["signature"]:
            raise _bad("%s.signature: Field required" % where)
    elif t == "redacted_thinking":
        if not isinstance(b.get("data"), str):
            raise _bad("%s.data: Field required" % where)
    elif t == "server_tool_use":
        if role != "assistant":
            raise _bad("%s: server_tool_use blocks can only appear in assistant messages" % where)
        if not isinstance(b.get("id"), str) or not b["id"].startswith("srvtoolu_"):
            raise _bad("%s.id: String should match pattern '^srvtoolu_[a-zA-Z0-9_]+$'" % where)
        if b.get("name") not in SERVER_TOOL_NAMES:
            raise _bad("%s.name: Input should be %s" % (where, " or ".join(
                "'%s'" % n for n in SERVER_TOOL_NAMES)))
        if not isinstance(b.get("input"), dict):
            raise _bad("%s.input: Input should be a valid dictionary" % where)
    elif t in SERVER_RESULT_TYPES:
        if role != "assistant":
            raise _bad("%s: %s blocks can only appear in assistant messages" % (where, t))
        if not isinstance(b.get("tool_use_id"), str) or not b["tool_use_id"].startswith("srvtoolu_"):
            raise _bad("%s.tool_use_id: String should match pattern '^srvtoolu_[a-zA-Z0-9_]+$'" % where)
        c = b.get("content")
        if t == "web_search_tool_result":
            if isinstance(c, list):
                for k, r in enumerate(c):
                    if not isinstance(r, dict) or r.get("type") != "web_search_result" or \
                            not isinstance(r.get("url"), str) or \
                            not isinstance(r.get("encrypted_content"), str):
                        raise _bad("%s.content.%d: a web_search_result needs url and "
                                   "encrypted_content" % (where, k))
            elif not (isinstance(c, dict) and c.get("type") == "web_search_tool_result_error"):
                raise _bad("%s.content: Input should be a valid list or a "
                           "web_search_tool_result_error" % where)
        elif not (isinstance(c, dict) and c.get("type") in ("web_fetch_result",
                                                            "web_fetch_tool_result_error")):
            raise _bad("%s.content: Input should be a web_fetch_result or a "
                       "web_fetch_tool_result_error" % where)
    if t == "text" and "citations" in b and b["citations"] is not None:
        if not isinstance(b["citations"], list) or not all(
                isinstance(c, dict) and isinstance(c.get("type"), str) for c in b["citations"]):
            raise _bad("%s.citations: Input should be a valid list of citations" % where)
    return t


SERVER_TOOL_NAMES = ("web_search", "web_fetch")
SERVER_RESULT_TYPES = ("web_search_tool_result", "web_fetch_tool_result")
SERVER_TOOL_TYPES = {"web_search_20250305": "web_search", "web_fetch_20250910": "web_fetch"}
WEB_FETCH_BETA = "web-fetch-2025-09-10"


def _check_server_tool(tl, i):
    """The Anthropic server tools (web_search, web_fetch): their fixed names and options."""
    t = tl.get("type")
    if t not in SERVER_TOOL_TYPES:
        return
    if tl["name"] != SERVER_TOOL_TYPES[t]:
        raise _bad("tools.%d.%s.name: Input should be '%s'" % (i, t, SERVER_TOOL_TYPES[t]))
    known = {"type", "name", "max_uses", "allowed_domains", "blocked_domains",
             "user_location", "cache_control", "citations", "max_content_tokens"}
    for k in tl:
        if k not in known:
            raise _bad("tools.%d.%s.%s: Extra inputs are not permitted" % (i, t, k))
    if "max_uses" in tl and not (_is_int(tl["max_uses"]) and tl["max_uses"] >= 1):
        raise _bad("tools.%d.%s.max_uses: Input should be greater than 0" % (i, t))
    if "allowed_domains" in tl and "blocked_domains" in tl:
        raise _bad("tools.%d: cannot use both allowed_domains and blocked_domains" % i)
    for k in ("allowed_domains", "blocked_domains"):
        if k in tl and not (isinstance(tl[k], list) and all(
                isinstance(d, str) and d and "://" not in d for d in tl[k])):
            raise _bad("tools.%d.%s.%s: a list of domains without a scheme" % (i, t, k))


def validate_messages_request(body):
    """Raise ApiError(400) when the body is something the real API would refuse
    (or that is certainly a client bug). Messages are in the style of the real
    API: "<json path>: <what is wrong>"."""
    if not isinstance(body, dict):
        raise _bad("Input should be a valid dictionary")
    for k in body:
        if k not in KNOWN_FIELDS:
            raise _bad("%s: Extra inputs are not permitted" % k)
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _bad("model: Field required")
    if "max_tokens" not in body:
        raise _bad("max_tokens: Field required")
    if not _is_int(body["max_tokens"]) or body["max_tokens"] < 1:
        raise _bad("max_tokens: Input should be a valid integer greater than or equal to 1")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _bad("stream: Input should be a valid boolean")
    if "system" in body:
        _check_text_blocks(body["system"], "system")
    if "tools" in body:
        if not isinstance(body["tools"], list):
            raise _bad("tools: Input should be a valid list")
        names = set()
        for i, tl in enumerate(body["tools"]):
            if not isinstance(tl, dict) or not isinstance(tl.get("name"), str):
                raise _bad("tools.%d.name: Field required" % i)
            if tl["name"] in names:
                raise _bad("tools: Tool names must be unique.")
            names.add(tl["name"])
            _check_server_tool(tl, i)
    th = body.get("thinking")
    if th is not None:
        if not isinstance(th, dict) or th.get("type") not in ("enabled", "disabled", "adaptive"):
            raise _bad("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'")
        if th["type"] == "enabled":
            bt = th.get("budget_tokens")
            if not _is_int(bt) or bt < 1024:
                raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if bt >= body["max_tokens"]:
                raise _bad("`max_tokens` must be greater than `thinking.budget_tokens`.")
    ncc = _count_cache_control([body.get("tools"), body.get("system"), body.get("messages")])
    if ncc > 4:
        raise _bad("A maximum of 4 blocks with cache_control may be provided. Found %d." % ncc)

    msgs = body.get("messages")
    if not isinstance(msgs, list):
        raise _bad("messages: Field required")
    if not msgs:
        raise _bad("messages: at least one message is required")
    prev_role = None
    pending_tool_uses = []  # ids of the previous assistant message's tool_use blocks
    for i, m in enumerate(msgs):
        where = "messages.%d" % i
        if not isinstance(m, dict):
            raise _bad("%s: Input should be a valid dictionary" % where)
        role = m.get("role")
        if role not in ("user", "assistant"):
            raise _bad("%s.role: Input should be 'user' or 'assistant'" % where)
        if i == 0 and role != "user":
            raise _bad("messages: first message must use the \"user\" role")
        if role == prev_role:
            raise _bad("messages: roles must alternate between \"user\" and \"assistant\", "
                       "but found multiple \"%s\" roles in a row" % role)
        if "content" not in m:
            raise _bad("%s.content: Field required" % where)
        content = m["content"]
        last = i == len(msgs) - 1
        if isinstance(content, str):
            blocks = [{"type": "text", "text": content}]
            if content == "" and not (last and role == "assistant"):
                raise _bad("%s: all messages must have non-empty content except for the "
                           "optional final assistant message" % where)
            if content == "":
                blocks = []
        elif isinstance(content, list):
            blocks = content
            if not blocks and not (last and role == "assistant"):
                raise _bad("%s: all messages must have non-empty content except for the "
                           "optional final assistant message" % where)
        else:
            raise _bad("%s.content: Input should be a valid list or string" % where)
        types = []
        for j, b in enumerate(blocks):
            w = "%s.content.%d" % (where, j)
            if isinstance(content, str):
                w = "%s.content" % where
            types.append(_check_block(b, w, role))

        # Every tool_use of the previous assistant message needs a tool_result
        # (same id) in this user message, and no tool_result may be unmatched.
        if role == "user":
            result_ids = [b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"]
            extra = [x for x in result_ids if x not in pending_tool_uses]
            if extra:
                if not pending_tool_uses:
                    raise _bad("%s.content: tool_result block(s) provided when previous "
                               "message does not send tool_use" % where)
                raise _bad("%s.content: unexpected `tool_use_id` found in `tool_result` blocks: %s. "
                           "Each `tool_result` block must have a corresponding `tool_use` "
                           "block in the previous message." % (where, ", ".join(extra)))
            missing = [x for x in pending_tool_uses if x not in result_ids]
            if missing:
                raise _bad("messages.%d: `tool_use` ids were found without `tool_result` blocks "
                           "immediately after: %s. Each `tool_use` block must have a "
                           "corresponding `tool_result` block in the next message."
                           % (i - 1, ", ".join(missing)))
            if len(set(result_ids)) != len(result_ids):
                raise _bad("%s.content: each tool_use_id may be answered only once" % where)
            if result_ids:
                seen_other = False
                for t in types:
                    if t != "tool_result":
                        seen_other = True
                    elif seen_other:
                        raise _bad("%s.content: tool_result blocks must come before any "
                                   "other content in the message" % where)
            pending_tool_uses = []
        else:
            ids = [b["id"] for b in blocks if b.get("type") == "tool_use"]
            if len(set(ids)) != len(ids):
                raise _bad("%s.content: tool_use ids must be unique" % where)
            pending_tool_uses = ids
        prev_role = role
    if pending_tool_uses:
        raise _bad("messages.%d: `tool_use` ids were found without `tool_result` blocks "
                   "immediately after: %s. Each `tool_use` block must have a corresponding "
                   "`tool_result` block in the next message."
                   % (len(msgs) - 1, ", ".join(pending_tool_uses)))


# ---- turns -------------------------------------------------------------------

def _fault_list(turn):
    f = turn.get("fault")
    if f is None:
        return []
    return f if isinstance(f, list) else [f]


def check_turn(turn):
    """Reject a malformed scripted turn early, with a message for the test author."""
    if not isinstance(turn, dict):
        raise ScriptError("a turn must be an object")
    if "text" in turn and "content" not in turn:
        turn["content"] = [{"type": "text", "text": turn.pop("text")}]
    if isinstance(turn.get("content"), str):
        turn["content"] = [{"type": "text", "text": turn["content"]}]
    content = turn.get("content", [])
    if not isinstance(content, list):
        raise ScriptError("turn.content must be a list of blocks")
    for b in content:
        if not isinstance(b, dict) or not isinstance(b.get("type"), str):
            raise ScriptError("every block needs a string \"type\"")
        t = b["type"]
        if t == "text" and not isinstance(b.get("text"), str):
            raise ScriptError("text block needs \"text\"")
        if t == "thinking" and not isinstance(b.get("thinking"), str):
            raise ScriptError("thinking block needs \"thinking\"")
        if t in ("tool_use", "server_tool_use"):
            if not isinstance(b.get("name"), str):
                raise ScriptError("tool_use block needs \"name\"")
            if "input_json" not in b and not isinstance(b.get("input", {}), dict):
                raise ScriptError("tool_use.input must be an object")
            if "input_json" in b and not isinstance(b["input_json"], str):
                raise ScriptError("tool_use.input_json must be a string")
        if t == "text" and "citations" in b and not (
                isinstance(b["citations"], list) and all(isinstance(c, dict) for c in b["citations"])):
            raise ScriptError("text.citations must be a list of objects")
        sp = b.get("split")
        if sp is not None and not (_is_int(sp) and sp > 0) and not (
                isinstance(sp, list) and all(_is_int(x) for x in sp)):
            raise ScriptError("split must be a positive int or a list of int offsets")
    for k in ("delay_ms", "headers_delay_ms", "repeat"):
        if k in turn and not (isinstance(turn[k], (int, float)) and turn[k] >= 0):
            raise ScriptError("%s must be a non-negative number" % k)
    ch = turn.get("chunk")
    if ch is not None and ch != "events" and ch != "all":
        if not isinstance(ch, dict) or ch.get("mode") not in ("bytes", "random", "events", "all"):
            raise ScriptError("chunk must be \"events\", \"all\", {\"mode\":\"bytes\",\"size\":N} "
                              "or {\"mode\":\"random\",\"min\":A,\"max\":B,\"seed\":S}")
        if ch["mode"] == "bytes" and not (_is_int(ch.get("size")) and ch["size"] > 0):
            raise ScriptError("chunk.size must be a positive int")
    terminal = 0
    for f in _fault_list(turn):
        if not isinstance(f, dict) or f.get("type") not in ALL_FAULTS:
            raise ScriptError("fault.type must be one of: " + ", ".join(ALL_FAULTS))
        if f["type"] in TERMINAL_FAULTS:
            terminal += 1
        if f["type"] == "http" and not (_is_int(f.get("status")) and 100 <= f["status"] <= 599):
            raise ScriptError("http fault needs an int \"status\"")
    if terminal > 1:
        raise ScriptError("at most one of %s per turn" % "/".join(TERMINAL_FAULTS))
    if turn.get("transfer", "close") not in ("close", "chunked"):
        raise ScriptError("transfer must be \"close\" or \"chunked\"")
    if "hold" in turn:
        h = turn["hold"]
        if isinstance(h, str):
            h = turn["hold"] = {"gate": h}
        if not isinstance(h, dict) or not isinstance(h.get("gate"), str) or not h["gate"]:
            raise ScriptError("hold must be a gate name or {\"gate\":NAME,"
                              "\"after_events\":N,\"timeout\":S}")
        if not (_is_int(h.get("after_events", 3)) and h.get("after_events", 3) >= 0):
            raise ScriptError("hold.after_events must be a non-negative int")
        t = h.get("timeout", 120)
        if not (isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0):
            raise ScriptError("hold.timeout must be a positive number")
    if "stop_reason" not in turn:
        has_tool = any(b["type"] == "tool_use" for b in content)
        turn["stop_reason"] = "tool_use" if has_tool else "end_turn"
    return turn


def default_turn():
    return {"content": [{"type": "text", "text": DEFAULT_TEXT}], "stop_reason": "end_turn"}


def _final_block(b):
    """A scripted block as it appears in a finished Message (scripting keys dropped)."""
    t = b["type"]
    if t == "text":
        if b.get("citations"):
            return {"type": "text", "text": b["text"], "citations": b["citations"]}
        return {"type": "text", "text": b["text"]}
    if t == "thinking":
        return {"type": "thinking", "thinking": b["thinking"], "signature": b.get("signature", "")}
    if t in ("tool_use", "server_tool_use"):
        inp = b.get("input", {})
        if "input_json" in b:
            try:
                inp = json.loads(b["input_json"]) if b["input_json"].strip() else {}
            except ValueError:
                inp = {}
        return {"type": t, "id": b["id"], "name": b["name"], "input": inp}
    return {k: v for k, v in b.items() if k not in ("split", "input_json")}


def _split_by(s, split, default_size):
    """Cut s into pieces: at a fixed size (int) or at the given offsets (list)."""
    if not s:
        return []
    if isinstance(split, list):
        cuts = sorted({c for c in split if 0 < c < len(s)})
    else:
        size = split if split else default_size
        cuts = list(range(size, len(s), size))
    bounds = [0] + cuts + [len(s)]
    return [s[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def _awkward_json_cuts(s):
    """Offsets inside s (a JSON text) where a cut is awkward for a client that
    tries to parse partial_json pieces on their own: inside the first string,
    inside every escape sequence (between '\\' and the escaped char, and in the
    middle of \\uXXXX), inside multi-digit numbers and inside true/false/null."""
    cuts = set()
    i, n = 0, len(s)
    first_string = True
    while i < n:
        c = s[i]
        if c == '"':
            start = i
            i += 1
            while i < n and s[i] != '"':
                if s[i] == "\\":
                    cuts.add(i + 1)
                    if i + 1 < n and s[i + 1] == "u":
                        cuts.add(i + 3)
                    i += 2
                    continue
                i += 1
            if first_string and i - start > 2:
                cuts.add(start + 2)
                first_string = False
            elif i - start > 6:
                cuts.add(start + (i - start) // 2)
            i += 1
        elif c in "-0123456789":
            start = i
            while i < n and s[i] in "-+.eE0123456789":
                i += 1
            if i - start >= 2:
                cuts.add(start + (i - start) // 2)
        elif s.startswith(("true", "false", "null"), i):
            cuts.add(i + 2)
            i += 4 if s[i] != "f" else 5
        else:
            i += 1
    return {c for c in cuts if 0 < c < n}


def tool_json_pieces(b):
    """The partial_json strings of a tool_use block: "" first, then the JSON of
    the input cut at awkward places (and about every 9 chars in between)."""
    s = b["input_json"] if "input_json" in b else json.dumps(b.get("input", {}), ensure_ascii=False)
    if "split" in b:
        return [""] + _split_by(s, b["split"], 9)
    size = max(9, len(s) // 2000)
    cuts = set(range(size, len(s), size)) | _awkward_json_cuts(s)
    if len(cuts) > 4000:  # huge inputs: keep the pieces at a sane count
        cuts = set(range(size, len(s), max(size, len(s) // 2000))) | set(sorted(_awkward_json_cuts(s))[:200])
    return [""] + _split_by(s, sorted(cuts), size)


def estimate_tokens(nbytes):
    return max(1, nbytes // 4)


def turn_usage(turn, body_bytes):
    content_bytes = len(jdump(turn.get("content", [])).encode())
    u = {"input_tokens": estimate_tokens(body_bytes),
         "cache_creation_input_tokens": 0,
         "cache_read_input_tokens": 0,
         "output_tokens": estimate_tokens(content_bytes)}
    u.update(turn.get("usage") or {})
    return u


class Event:
    """One unit of the SSE byte stream: a real event (name != None) or raw text
    (comments and the like) that carries no event."""

    __slots__ = ("name", "text", "pause")

    def __init__(self, name, text, pause=0.0):
        self.name = name
        self.text = text
        self.pause = pause  # seconds of silence after this unit is sent


def ev(name, obj):
    data = obj if isinstance(obj, str) else jdump(obj)
    return Event(name, "event: %s\ndata: %s\n\n" % (name, data))


def ping():
    # The recordings have exactly this spacing in the ping payload.
    return ev("ping", '{"type": "ping"}')


def build_events(turn, model, usage, msg_id):
    """The SSE events of a complete, fault-free streamed turn."""
    evs = []
    start_usage = dict(usage)
    start_usage["output_tokens"] = 1  # a placeholder, as the real API sends
    start_usage.setdefault("service_tier", "standard")
    evs.append(ev("message_start", {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": start_usage}}))
    pinged = False
    for idx, b in enumerate(turn.get("content", [])):
        t = b["type"]
        if t == "text":
            evs.append(ev("content_block_start", {"type": "content_block_start", "index": idx,
                                                  "content_block": {"type": "text", "text": ""}}))
        elif t == "thinking":
            evs.append(ev("content_block_start", {"type": "content_block_start", "index": idx,
                                                  "content_block": {"type": "thinking", "thinking": ""}}))
        elif t in ("tool_use", "server_tool_use"):
            evs.append(ev("content_block_start", {"type": "content_block_start", "index": idx,
                                                  "content_block": {"type": t, "id": b["id"],
                                                                    "name": b["name"], "input": {}}}))
        else:  # redacted_thinking, server_tool_use, anything: sent whole
            evs.append(ev("content_block_start", {"type": "content_block_start", "index": idx,
                                                  "content_block": _final_block(b)}))
        if not pinged:
            evs.append(ping())
            pinged = True

        def delta(d):
            evs.append(ev("content_block_delta", {"type": "content_block_delta",
                                                  "index": idx, "delta": d}))
        if t == "text":
            # A cited text block: its citations first (citations_delta), then the text.
            for c in b.get("citations") or []:
                delta({"type": "citations_delta", "citation": c})
            for piece in _split_by(b["text"], b.get("split"), 8):
                delta({"type": "text_delta", "text": piece})
        elif t == "thinking":
            for piece in _split_by(b["thinking"], b.get("split"), 8):
                delta({"type": "thinking_delta", "thinking": piece})
            delta({"type": "signature_delta", "signature": b.get("signature", "")})
        elif t in ("tool_use", "server_tool_use"):
            for piece in tool_json_pieces(b):
                delta({"type": "input_json_delta", "partial_json": piece})
        evs.append(ev("content_block_stop", {"type": "content_block_stop", "index": idx}))
    if not pinged:
        evs.append(ping())
    md = {"stop_reason": turn.get("stop_reason", "end_turn"),
          "stop_sequence": turn.get("stop_sequence")}
    if "stop_details" in turn:
        md["stop_details"] = turn["stop_details"]
    if turn.get("delta_usage") == "full":
        du = {k: usage[k] for k in ("input_tokens", "cache_creation_input_tokens",
                                    "cache_read_input_tokens", "output_tokens")}
    else:
        du = {"output_tokens": usage["output_tokens"]}
    if "server_tool_use" in usage:  # cumulative, as the real API sends it
        du["server_tool_use"] = usage["server_tool_use"]
    evs.append(ev("message_delta", {"type": "message_delta", "delta": md, "usage": du}))
    evs.append(ev("message_stop", {"type": "message_stop"}))
    return evs


def long_line_event(nbytes, index):
    """A text_delta event whose data line is (at least) nbytes long."""
    head = jdump({"type": "content_block_delta", "index": index,
                  "delta": {"type": "text_delta", "text": ""}})
    line_overhead = len("data: ") + len(head)
    pad = max(0, nbytes - line_overhead)
    return ev("content_block_delta", head[:-3] + "x" * pad + head[-3:])


def apply_faults(events, turn):
    """Turn the clean event list into what is really sent, per the faults.
    Returns (events, terminal_fault_or_None)."""
    faults = _fault_list(turn)
    terminal = next((f for f in faults if f["type"] in TERMINAL_FAULTS), None)
    kinds = {f["type"]: f for f in faults}

    if "long_line" in kinds:
        f = kinds["long_line"]
        nbytes = int(f.get("bytes", 10 * 1024 * 1024))
        # After the first text block's start (or the first block's, or message_start).
        pos, index = 1, 0
        for k, e in enumerate(events):
            if e.name == "content_block_start" and '"type":"text"' in e.text:
                pos, index = k + 1, json.loads(e.text.split("data: ", 1)[1])["index"]
                break
        if pos == 1:  # no text block: add one
            ntext = len(turn.get("content", []))
            index = ntext
            stop_at = next(k for k, e in enumerate(events) if e.name == "message_delta")
            events[stop_at:stop_at] = [
                ev("content_block_start", {"type": "content_block_start", "index": index,
                                           "content_block": {"type": "text", "text": ""}}),
                ev("content_block_stop", {"type": "content_block_stop", "index": index})]
            pos = stop_at + 1
        events.insert(pos, long_line_event(nbytes, index))

    if "malformed" in kinds:
        n = int(kinds["malformed"].get("after_events", 1))
        bad = Event("content_block_delta",
                    'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                    '"delta":{"type":"text_delta","text":"unterminated\n\n')
        events.insert(min(n, len(events)), bad)

    if terminal and terminal["type"] in ("error_event", "cut", "silence"):
        n = int(terminal.get("after_events", 0 if terminal["type"] == "silence" else 1))
        rest = events[n:]
        events = events[:n]
        if terminal["type"] == "silence":
            # A zero-byte unit that carries the gap; with "then":"continue" the
            # rest of the stream follows the gap, else the connection closes.
            events.append(Event(None, "", float(terminal.get("seconds", 30))))
            if terminal.get("then") == "continue":
                events += rest
        if terminal["type"] == "error_event":
            et = terminal.get("error_type", "overloaded_error")
            msg = terminal.get("message", EVENT_ERROR_MESSAGES.get(et, "Error"))
            events.append(ev("error", {"type": "error", "error": {"type": et, "message": msg}}))

    if "comments" in kinds:
        out = [Event(None, ": this is a comment; clients must ignore it\n\n")]
        for k, e in enumerate(events):
            if e.name == "content_block_delta" and k % 3 == 0:
                # a comment line inside an event
                e = Event(e.name, e.text.replace("\ndata: ", "\n: inner comment\ndata: ", 1),
                          e.pause)
            out.append(e)
            if e.name in ("message_stop", "error"):
                continue  # nothing follows the end of the stream
            if k % 2 == 0:
                out.append(Event(None, ": keep-alive\n\n"))
            if k % 3 == 1:
                out.append(ping())
            if k == 0 or k % 5 == 2:
                out.append(ev("future_thing", {"type": "future_thing", "index": 0,
                                               "note": "an event type from the future; ignore it"}))
        events = out

    if "sse_fields" in kinds:
        # Other valid SSE framing: id: and retry: fields, "data:" without the
        # optional space, and "event:" last.
        out = []
        for k, e in enumerate(events):
            if e.name and k % 2 == 0:
                lines = e.text.split("\n")
                lines = [ln.replace("data: ", "data:", 1) if ln.startswith("data: ") else ln
                         for ln in lines]
                e = Event(e.name, "id: %d\n" % k + "\n".join(lines))
            elif e.name and k % 3 == 1:
                ev_line, rest = e.text.split("\n", 1)
                e = Event(e.name, "retry: 3000\n" + rest.rstrip("\n") + "\n" + ev_line + "\n\n")
            out.append(e)
        events = out

    if "crlf" in kinds or "cr" in kinds:
        eol = "\r\n" if "crlf" in kinds else "\r"
        events = [Event(e.name, e.text.replace("\n", eol), e.pause) for e in events]
    return events, terminal


# ---- server state ------------------------------------------------------------

class State:
    """Everything shared between the handler threads; guarded by self.cond."""

    def __init__(self, log):
        self.cond = threading.Condition()
        self.log_file = log
        self.reset_locked()
        self.default = default_turn()

    def reset_locked(self):
        self.queue = []  # [turn, remaining]
        self.released = set()  # gates opened by POST /_fake/release
        self.requests = []
        self.responses = []
        self.next_id = 1

    def log(self, what, **kw):
        if not self.log_file:
            return
        kw = dict(kw, t=round(time.time(), 3), what=what)
        line = jdump(kw) + "\n"
        with self.cond:
            try:
                self.log_file.write(line)
                self.log_file.flush()
            except (OSError, ValueError):
                pass

    def pop_turn(self):
        with self.cond:
            if not self.queue:
                return json.loads(jdump(self.default)), "default"
            entry = self.queue[0]
            entry[1] -= 1
            if entry[1] <= 0:
                self.queue.pop(0)
            # A deep copy: faults may edit the turn in place.
            return json.loads(jdump(entry[0])), "scripted"


STATE = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic/1.0"
    sys_version = ""

    # -- plumbing --

    def log_message(self, fmt, *args):  # route http.server's access log to --log
        STATE.log("http", msg=fmt % args, peer=self.client_address[0])

    def read_body(self):
        """The raw request body (Content-Length or chunked)."""
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(parts)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send_json(self, status, obj, headers=None, reason=None):
        data = (jdump(obj) + "\n").encode()
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            pass
        return len(data)

    def send_api_error(self, status, etype, message, req_id, extra_headers=None, reason=None):
        h = {"request-id": req_id, "anthropic-organization-id": ORG_ID,
             "x-should-retry": "true" if status in (408, 409, 429) or status >= 500 else "false"}
        h.update(extra_headers or {})
        return self.send_json(status, {"type": "error", "error": {"type": etype, "message": message},
                                       "request_id": req_id}, h, reason)

    def wait_gate(self, stat, hold):
        """A "hold" turn: wait until its gate is released (POST /_fake/release),
        its timeout passes or the client goes away (then True)."""
        name = hold["gate"]
        deadline = time.monotonic() + float(hold.get("timeout", 120))
        with STATE.cond:
            stat["held"] = name
            STATE.cond.notify_all()
        STATE.log("held", id=stat["id"], gate=name)
        gone = False
        while True:
            with STATE.cond:
                if name in STATE.released or time.monotonic() >= deadline:
                    break
            if self.client_gone(0.05):
                gone = True
                break
        with STATE.cond:
            stat["held"] = None
            STATE.cond.notify_all()
        STATE.log("unheld", id=stat["id"], gate=name, client_gone=gone)
        return gone

    def client_gone(self, timeout):
        """Wait up to timeout seconds; True as soon as the client has closed its
        end (EOF or reset on our socket)."""
        deadline = time.monotonic() + max(0.0, timeout)
        sock = self.connection
        while True:
            left = deadline - time.monotonic()
            try:
                r, _, _ = select.select([sock], [], [], max(0.0, left))
            except (OSError, ValueError):
                return True
            if r:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    return True
                # Unexpected bytes from the client: just wait out the rest.
                left = deadline - time.monotonic()
                if left > 0:
                    time.sleep(left)
                return False
            if left <= 0:
                return False

    # -- routing --

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        try:
            url = urlsplit(self.path)
            if url.path.startswith("/_fake/"):
                self.control(method, url)
            elif url.path == "/v1/messages" and method == "POST":
                self.messages(count_tokens=False)
            elif url.path == "/v1/messages/count_tokens" and method == "POST":
                self.messages(count_tokens=True)
            elif url.path in ("/v1/messages", "/v1/messages/count_tokens"):
                self.read_body()
                self.send_api_error(405, "invalid_request_error",
                                    "Method Not Allowed", gen_id("req_"))
            else:
                self.read_body()
                self.send_api_error(404, "not_found_error", "Not found", gen_id("req_"))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:  # never let one request take the server down
            STATE.log("exception", trace=traceback.format_exc())
            self.close_connection = True
            try:
                self.send_json(500, {"error": "fake server bug", "trace": traceback.format_exc()})
            except Exception:
                pass

    # -- control API --

    def control(self, method, url):
        raw = self.read_body()
        q = parse_qs(url.query)
        p = url.path
        if p == "/_fake/health" and method == "GET":
            self.send_json(200, {"ok": True})
        elif p == "/_fake/script" and method == "POST":
            try:
                req = json.loads(raw or b"{}")
                turns = req.get("turns", [])
                if not isinstance(turns, list):
                    raise ScriptError("\"turns\" must be a list")
                turns = [check_turn(t) for t in turns]
                default = check_turn(req["default"]) if "default" in req else None
            except (ValueError, ScriptError, AttributeError) as e:
                self.send_json(400, {"ok": False, "error": str(e)})
                return
            with STATE.cond:
                for t in turns:
                    STATE.queue.append([t, int(t.get("repeat", 1)) or 1])
                if default is not None:
                    STATE.default = default
                n = len(STATE.queue)
            STATE.log("script", turns=len(turns), queued=n)
            self.send_json(200, {"ok": True, "queued": n})
        elif p == "/_fake/release" and method == "POST":
            try:
                gate = json.loads(raw or b"{}").get("gate")
            except (ValueError, AttributeError):
                gate = None
            if not isinstance(gate, str) or not gate:
                self.send_json(400, {"ok": False, "error": "release needs {\"gate\": NAME}"})
                return
            with STATE.cond:
                STATE.released.add(gate)
                held = sum(1 for r in STATE.responses if r.get("held") == gate)
                STATE.cond.notify_all()
            STATE.log("release", gate=gate, held=held)
            self.send_json(200, {"ok": True, "gate": gate, "held": held})
        elif p == "/_fake/reset" and method == "POST":
            with STATE.cond:
                STATE.reset_locked()
                STATE.default = default_turn()
                STATE.cond.notify_all()
            STATE.log("reset")
            self.send_json(200, {"ok": True})
        elif p == "/_fake/requests" and method == "GET":
            with STATE.cond:
                reqs = list(STATE.requests)
            self.send_json(200, {"requests": reqs})
        elif p == "/_fake/stats" and method == "GET":
            self.send_json(200, self.stats())
        elif p == "/_fake/wait" and method == "GET":
            # Long poll: until at least N requests were recorded and M responses
            # have finished (or timeout seconds passed).
            want_req = int(q.get("requests", ["0"])[0])
            want_done = int(q.get("done", ["0"])[0])
            deadline = time.monotonic() + float(q.get("timeout", ["5"])[0])
            with STATE.cond:
                while True:
                    done = sum(1 for r in STATE.responses if r["finished"])
                    ok = len(STATE.requests) >= want_req and done >= want_done
                    left = deadline - time.monotonic()
                    if ok or left <= 0:
                        break
                    STATE.cond.wait(left)
            body = self.stats()
            body["ok"] = ok
            self.send_json(200 if ok else 408, body)
        else:
            self.send_json(404, {"ok": False, "error": "unknown control path %s %s" % (method, p)})

    def stats(self):
        with STATE.cond:
            resp = [dict(r) for r in STATE.responses]
            return {
                "requests": len(STATE.requests),
                "responses": len(resp),
                "in_flight": sum(1 for r in resp if not r["finished"]),
                "finished": sum(1 for r in resp if r["finished"]),
                "client_disconnects": sum(1 for r in resp if r["client_disconnected"]),
                "held": sorted(r["held"] for r in resp if r.get("held")),
                "queue_length": sum(e[1] for e in STATE.queue),
                "queued_turns": len(STATE.queue),
                "per_request": resp,
            }

    # -- the Messages API --

    def messages(self, count_tokens):
        t0 = time.time()
        raw = self.read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        body, parse_err = None, None
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
            if raw and body is None:
                parse_err = "body is null"
        except (ValueError, UnicodeDecodeError) as e:
            parse_err = str(e)
        req_id = gen_id("req_")
        with STATE.cond:
            rec = {"id": STATE.next_id, "method": "POST", "path": self.path,
                   "headers": headers, "body": body, "body_bytes": len(raw), "t": t0,
                   "request_id": req_id}
            STATE.next_id += 1
            STATE.requests.append(rec)
            stat = {"id": rec["id"], "request_id": req_id, "path": self.path,
                    "status": None, "stream": None, "turn": None, "fault": None,
                    "events_total": 0, "events_sent": 0, "bytes_total": 0, "bytes_sent": 0,
                    "completed": False, "client_disconnected": False, "finished": False,
                    "t_start": t0, "t_end": None, "error": None, "held": None}
            STATE.responses.append(stat)
            STATE.cond.notify_all()
        STATE.log("request", id=rec["id"], path=self.path, body_bytes=len(raw),
                  stream=isinstance(body, dict) and body.get("stream") is True)
        try:
            self.answer(rec, stat, headers, body, raw, parse_err, count_tokens)
        finally:
            with STATE.cond:
                stat["finished"] = True
                stat["t_end"] = time.time()
                STATE.cond.notify_all()
            STATE.log("response", **{k: stat[k] for k in (
                "id", "status", "stream", "fault", "events_sent", "events_total",
                "bytes_sent", "bytes_total", "completed", "client_disconnected", "error")})

    def answer(self, rec, stat, headers, body, raw, parse_err, count_tokens):
        req_id = rec["request_id"]

        def fail(status, etype, msg, extra=None, reason=None, rejected=True):
            with STATE.cond:
                stat["status"] = status
                stat["error"] = "%s: %s" % (etype, msg)
                if rejected:  # the request itself was bad (not a scripted fault)
                    rec["error"] = stat["error"]
            n = self.send_api_error(status, etype, msg, req_id, extra, reason)
            with STATE.cond:
                stat["bytes_total"] = stat["bytes_sent"] = n
                stat["completed"] = True

        srv = self.server
        if not headers.get("x-api-key"):
            return fail(401, "authentication_error", "x-api-key header is required")
        if srv.api_key is not None and headers["x-api-key"] != srv.api_key:
            return fail(401, "authentication_error", "invalid x-api-key")
        if "authorization" in headers:
            return fail(401, "authentication_error",
                        "send either x-api-key or Authorization, not both")
        ver = headers.get("anthropic-version")
        if not ver:
            return fail(400, "invalid_request_error", "anthropic-version: header is required")
        if ver != API_VERSION:
            return fail(400, "invalid_request_error",
                        "anthropic-version: invalid version %r (this fake knows only %s)"
                        % (ver, API_VERSION))
        ct = headers.get("content-type", "")
        if ct.split(";")[0].strip().lower() != "application/json":
            return fail(400, "invalid_request_error",
                        "content-type must be application/json (got %r)" % ct)
        if len(raw) > srv.max_body:
            return fail(413, "request_too_large", HTTP_ERRORS[413][1])
        if parse_err is not None or body is None:
            return fail(400, "invalid_request_error",
                        "There was an error parsing the body of your request: %s"
                        % (parse_err or "empty body"))
        if srv.validate:
            try:
                if count_tokens:
                    b = dict(body)
                    b.setdefault("max_tokens", 1)
                    b.pop("stream", None)
                    validate_messages_request(b)
                else:
                    validate_messages_request(body)
            except ApiError as e:
                return fail(e.status, e.etype, e.message)
            betas = [x.strip() for x in headers.get("anthropic-beta", "").split(",")]
            if any(isinstance(tl, dict) and tl.get("type") == "web_fetch_20250910"
                   for tl in body.get("tools") or []) and WEB_FETCH_BETA not in betas:
                return fail(400, "invalid_request_error",
                            "tools.web_fetch_20250910: this tool needs the beta header "
                            "anthropic-beta: %s" % WEB_FETCH_BETA)
        if count_tokens:
            with STATE.cond:
                stat["status"] = 200
            n = self.send_json(200, {"input_tokens": estimate_tokens(len(raw))},
                               {"request-id": req_id})
            with STATE.cond:
                stat["bytes_total"] = stat["bytes_sent"] = n
                stat["completed"] = True
            return

        turn, source = STATE.pop_turn()
        for b in turn.get("content", []):
            if b.get("type") == "tool_use" and not b.get("id"):
                b["id"] = gen_id("toolu_")
            if b.get("type") == "server_tool_use" and not b.get("id"):
                b["id"] = gen_id("srvtoolu_")
        model = turn.get("model") or body.get("model")
        usage = turn_usage(turn, len(raw))
        stream = body.get("stream") is True
        faults = _fault_list(turn)
        with STATE.cond:
            stat["stream"] = stream
            stat["turn"] = source
            stat["fault"] = [f["type"] for f in faults] or None
            rec["turn"] = source

        if turn.get("headers_delay_ms"):
            if self.client_gone(turn["headers_delay_ms"] / 1000.0):
                with STATE.cond:
                    stat["client_disconnected"] = True
                return

        http = next((f for f in faults if f["type"] == "http"), None)
        if http:
            st = http["status"]
            etype, msg = HTTP_ERRORS.get(st, ("api_error" if st >= 500 else "invalid_request_error",
                                              "Error"))
            etype = http.get("error_type", etype)
            msg = http.get("message", msg)
            extra = dict(http.get("headers") or {})
            if "retry_after" in http:
                extra["retry-after"] = http["retry_after"]
            if st == 429:
                extra.setdefault("anthropic-ratelimit-requests-limit", "50")
                extra.setdefault("anthropic-ratelimit-requests-remaining", "0")
            return fail(st, etype, msg, extra, REASONS.get(st), rejected=False)

        msg_id = gen_id("msg_")
        common = {"request-id": req_id, "anthropic-organization-id": ORG_ID}
        common.update(turn.get("headers") or {})
        if not stream:
            return self.answer_json(stat, turn, model, usage, msg_id, common)
        self.answer_stream(stat, turn, model, usage, msg_id, common)

    def answer_json(self, stat, turn, model, usage, msg_id, headers):
        """Non-streaming: one Message JSON. Faults: error_event becomes the HTTP
        error of that type; cut sends half the body; silence waits, then closes
        without an answer."""
        faults = {f["type"]: f for f in _fault_list(turn)}
        if "error_event" in faults:
            et = faults["error_event"].get("error_type", "overloaded_error")
            st = next((s for s, (t, _) in HTTP_ERRORS.items() if t == et), 500)
            with STATE.cond:
                stat["status"] = st
            n = self.send_api_error(st, et, EVENT_ERROR_MESSAGES.get(et, "Error"),
                                    headers["request-id"], reason=REASONS.get(st))
            with STATE.cond:
                stat["bytes_total"] = stat["bytes_sent"] = n
                stat["completed"] = True
            return
        if "silence" in faults:
            gone = self.client_gone(float(faults["silence"].get("seconds", 30)))
            with STATE.cond:
                stat["client_disconnected"] = gone
            self.close_connection = True
            return
        msg = {"id": msg_id, "type": "message", "role": "assistant", "model": model,
               "content": [_final_block(b) for b in turn.get("content", [])],
               "stop_reason": turn.get("stop_reason", "end_turn"),
               "stop_sequence": turn.get("stop_sequence"),
               "usage": dict(usage, service_tier="standard")}
        if "stop_details" in turn:
            msg["stop_details"] = turn["stop_details"]
        data = (jdump(msg)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()
        self.close_connection = True
        if "cut" in faults:
            data = data[:len(data) // 2]
        with STATE.cond:
            stat["status"] = 200
            stat["bytes_total"] = len(data)
        try:
            self.wfile.write(data)
            self.wfile.flush()
            with STATE.cond:
                stat["bytes_sent"] = len(data)
                stat["completed"] = "cut" not in faults
        except OSError:
            with STATE.cond:
                stat["client_disconnected"] = True

    def answer_stream(self, stat, turn, model, usage, msg_id, headers):
        events = build_events(turn, model, usage, msg_id)
        events, terminal = apply_faults(events, turn)
        faults = {f["type"]: f for f in _fault_list(turn)}
        chunked = turn.get("transfer", self.server.transfer) == "chunked"

        # The byte stream, where each unit ends (to count events sent) and
        # where the silent gaps go.
        stream_parts, units, ends, pauses, off = [], [], [], [], 0
        for e in events:
            u = e.text.encode("utf-8")
            stream_parts.append(u)
            off += len(u)
            units.append(off)
            if e.name is not None:
                ends.append(off)
            if e.pause:
                pauses.append((off, e.pause))
        stream = b"".join(stream_parts)
        with STATE.cond:
            stat["status"] = 200
            stat["events_total"] = len(ends)
            stat["bytes_total"] = len(stream)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.end_headers()  # flushes the headers
        self.close_connection = True

        writes = plan_writes(stream, units, pauses, turn, faults)
        sent = 0
        nev = 0
        gone = False
        hold = turn.get("hold")
        try:
            for data, wait in writes:
                if hold is not None and data and nev >= int(hold.get("after_events", 3)):
                    gate, hold = hold, None
                    if self.wait_gate(stat, gate):
                        gone = True
                        break
                if wait > 0 and self.client_gone(wait):
                    gone = True
                    break
                if not data:
                    continue
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                else:
                    self.wfile.write(data)
                self.wfile.flush()
                sent += len(data)
                while nev < len(ends) and ends[nev] <= sent:
                    nev += 1
                with STATE.cond:
                    stat["bytes_sent"] = sent
                    stat["events_sent"] = nev
            t = terminal["type"] if terminal else None
            open_end = t == "cut" or (t == "silence" and terminal.get("then") != "continue")
            if not gone and chunked and not open_end:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError:
            gone = True
        if not gone and terminal and terminal["type"] == "cut" and terminal.get("rst"):
            # An abortive close (TCP RST) instead of a clean FIN.
            # Closed here: socketserver would shut down (FIN) before closing.
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
        with STATE.cond:
            stat["client_disconnected"] = gone
            stat["completed"] = not gone and sent == len(stream)


def plan_writes(stream, units, pauses, turn, faults):
    """The list of (bytes, seconds to wait before writing them) for a stream.
    units: offsets where the units (events, comments) end; pauses:
    [(offset, seconds)] silent gaps.
    Chunking ("chunk"): "events" (one write per unit, the default), "all",
    {"mode":"bytes","size":N} or {"mode":"random","min":A,"max":B,"seed":S};
    the "slow" fault overrides it with one byte per interval. "delay_ms" is
    waited before each write that begins an event."""
    delay = float(turn.get("delay_ms", 0)) / 1000.0
    ch = turn.get("chunk", "events")
    mode = ch if isinstance(ch, str) else ch.get("mode", "events")
    slow_iv = None
    if "slow" in faults:
        slow_iv = float(faults["slow"].get("byte_interval_ms", 100)) / 1000.0
    rnd = random.Random(ch.get("seed", 1) if isinstance(ch, dict) else 1)
    starts = {0} | set(units[:-1])
    pause_at = dict(pauses)
    bounds = sorted({0, len(stream)} | set(pause_at))
    writes = []
    for a, b in zip(bounds, bounds[1:] + [None]):
        if a in pause_at:
            writes.append((b"", pause_at.pop(a)))
        if b is None:
            b = len(stream)
        if a < b:
            if slow_iv is not None:
                cuts = list(range(a, b))
            elif mode == "all":
                cuts = [a]
            elif mode == "bytes":
                cuts = list(range(a, b, int(ch["size"])))
            elif mode == "random":
                lo, hi = int(ch.get("min", 1)), int(ch.get("max", 16))
                cuts, i = [], a
                while i < b:
                    cuts.append(i)
                    i += rnd.randint(max(1, lo), max(lo, hi, 1))
            else:  # events
                cuts = sorted({a} | {x for x in starts if a < x < b})
            for x, y in zip(cuts, cuts[1:] + [b]):
                if slow_iv is not None:
                    wait = slow_iv if x else 0.0
                elif delay and any(x <= s < y for s in starts):
                    wait = delay
                else:
                    wait = 0.0
                writes.append((stream[x:y], wait))
    return writes


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        STATE.log("exception", trace=traceback.format_exc())


def main():
    global STATE
    ap = argparse.ArgumentParser(description="Fake Anthropic Messages API for tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--log", help="append JSON lines about every request here")
    ap.add_argument("--api-key", default=None,
                    help="accept only this x-api-key (default: any non-empty key)")
    ap.add_argument("--no-validate", action="store_true",
                    help="skip the request body checks (headers are still checked)")
    ap.add_argument("--transfer", choices=("close", "chunked"), default="close",
                    help="default framing of streamed bodies (per turn: \"transfer\")")
    ap.add_argument("--max-body", type=int, default=MAX_BODY)
    args = ap.parse_args()

    log = open(args.log, "a", encoding="utf-8") if args.log else None
    STATE = State(log)
    srv = Server((args.host, args.port), Handler)
    srv.api_key = args.api_key
    srv.validate = not args.no_validate
    srv.transfer = args.transfer
    srv.max_body = args.max_body
    port = srv.server_address[1]

    def stop(signum, frame):
        STATE.log("signal", signum=signum)
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:  # atomically, so a reader never sees a partial number
        tmp = "%s.%d.tmp" % (args.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    STATE.log("listening", host=args.host, port=port, pid=os.getpid())
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        STATE.log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
