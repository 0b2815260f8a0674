"""A real HTTP server that takes the Sentry SDK's envelopes, as Sentry or GlitchTip would (``/api/<id>/envelope/``)."""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import brotli

from tests.alert_receivers import free_port, serving

__all__ = ["SentryReceiver", "sentry_receiver"]


@dataclass
class SentryReceiver:
    port: int
    raw: list[bytes] = field(default_factory=list)  # every envelope, decompressed, as sent
    items: list[tuple[dict[str, Any], Any]] = field(default_factory=list)  # (item header, payload)

    @property
    def dsn(self) -> str:
        return f"http://public-key-1234@127.0.0.1:{self.port}/42"

    def events(self) -> list[dict[str, Any]]:
        """The error and message events received (not transactions, sessions or client reports)."""
        return [payload for header, payload in list(self.items) if header.get("type") == "event"]

    def everything(self) -> bytes:
        return b"\n".join(list(self.raw))


def _items(envelope: bytes) -> list[tuple[dict[str, Any], Any]]:
    _, _, rest = envelope.partition(b"\n")  # the envelope's own header
    found = []
    while rest.strip():
        line, _, rest = rest.partition(b"\n")
        header = json.loads(line)
        if "length" in header:
            payload, rest = rest[: header["length"]], rest[header["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        try:
            found.append((header, json.loads(payload)))
        except ValueError:
            found.append((header, payload))
    return found


@contextlib.contextmanager
def sentry_receiver() -> Iterator[SentryReceiver]:
    receiver = SentryReceiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            # The SDK compresses with brotli when the module is installed (WeasyPrint brings it), else gzip.
            encoding = self.headers.get("Content-Encoding")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "br":
                body = brotli.decompress(body)
            receiver.raw.append(body)
            if self.path.endswith("/envelope/"):
                receiver.items.extend(_items(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler, receiver.port):
        yield receiver
