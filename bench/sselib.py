"""bench/sselib.py: small stdlib helpers shared by the bench clients.

HTTP/1.1 response head parsing, an incremental chunked-transfer decoder, an
incremental SSE parser, and percentiles. No third-party modules.
"""
import json
import math
import re
import ssl

STAMP = re.compile(r"\[(\d{19})\]")


def tls_context(cafile=None):
    """A client context; verifies against CAFILE when given (self-signed cert)."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    # No ALPN: nginx then speaks HTTP/1.1 (one stream per connection).
    return ctx


def split_head(buf):
    """(status, headers dict lowercased, rest) once the head is complete, else None."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None
    lines = buf[:i].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, buf[i + 4:]


class Dechunker:
    """Incremental decoder of Transfer-Encoding: chunked."""

    def __init__(self):
        self.buf = b""
        self.left = 0      # bytes of chunk data still to come
        self.crlf = False  # a chunk's trailing CRLF is pending
        self.done = False

    def feed(self, data):
        self.buf += data
        out = []
        while self.buf and not self.done:
            if self.left > 0:
                take = self.buf[:self.left]
                out.append(take)
                self.left -= len(take)
                self.buf = self.buf[len(take):]
                if self.left == 0:
                    self.crlf = True
                continue
            if self.crlf:
                if len(self.buf) < 2:
                    break
                self.buf = self.buf[2:]
                self.crlf = False
                continue
            i = self.buf.find(b"\r\n")
            if i < 0:
                break
            size = int(self.buf[:i].split(b";")[0], 16)
            self.buf = self.buf[i + 2:]
            if size == 0:
                self.done = True
                break
            self.left = size
        return b"".join(out)


class SSEParser:
    """Incremental SSE parser: feed(bytes) -> [(event, data_str, id)]."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data.replace(b"\r\n", b"\n")
        evs = []
        while True:
            i = self.buf.find(b"\n\n")
            if i < 0:
                break
            block, self.buf = self.buf[:i].decode("utf-8", "replace"), self.buf[i + 2:]
            name, eid, data_lines = "message", None, []
            for ln in block.split("\n"):
                if ln.startswith(":"):
                    continue
                k, _, v = ln.partition(":")
                if v.startswith(" "):
                    v = v[1:]
                if k == "event":
                    name = v
                elif k == "data":
                    data_lines.append(v)
                elif k == "id":
                    eid = v
            if data_lines:
                evs.append((name, "\n".join(data_lines), eid))
        return evs


def stamps(text):
    return [int(x) for x in STAMP.findall(text)]


def delta_text(name, data):
    """The text of a delta event (claude-web text.delta or Anthropic content_block_delta)."""
    if name not in ("text.delta", "content_block_delta"):
        return None
    try:
        o = json.loads(data)
    except ValueError:
        return None
    if name == "text.delta":
        return o.get("text")
    d = o.get("delta") or {}
    return d.get("text") if d.get("type") == "text_delta" else None


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def summary_ms(ns_values):
    v = sorted(x / 1e6 for x in ns_values)
    if not v:
        return {"n": 0}
    return {"n": len(v), "min": v[0], "p50": percentile(v, 50), "p90": percentile(v, 90),
            "p99": percentile(v, 99), "max": v[-1], "mean": sum(v) / len(v)}
