"""A tiny test issuer site on 127.0.0.1: serves what ``ROUTES`` (a JSON file, read again on
every request) maps each path to, ``{"/path": ["media/type", "file"]}``, and 404 otherwise.
It stands in for the web server of an SD-JWT VC issuer that is not credshare (its JWT VC Issuer
Metadata at /.well-known/jwt-vc-issuer/..., its status list), for
tests/test_metadata_issuer_interop.py, or of one known by X.509 roots (its status list), for
tests/test_x5c_wallet.py. Run as ``python tests/metadata_server.py ROUTES PORT [REQUESTS]``;
prints ``ready`` once it listens. With ``REQUESTS`` (a file), the path of every request is
appended to it, one a line, so a test can tell what was asked for. A ``POST`` (its body read
and dropped) is answered like a ``GET`` of its path: a JSON-RPC endpoint that serves one fixed
answer (tests/test_blockcerts_sources.py, Bitcoin Core's ``getrawtransaction``)."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROUTES = Path(sys.argv[1])
REQUESTS = Path(sys.argv[3]) if len(sys.argv) > 3 else None


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if REQUESTS is not None:
            with REQUESTS.open("a") as out:
                out.write(self.path.split("?", 1)[0] + "\n")
        route = json.loads(ROUTES.read_text()).get(self.path.split("?", 1)[0])
        if route is None:
            self.send_error(404)
            return
        media, file = route
        body = Path(file).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        length = self.headers.get("Content-Length", "0")
        self.rfile.read(int(length) if length.isdigit() else 0)
        self.do_GET()

    def log_message(self, *_args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler)
    print("ready", flush=True)
    server.serve_forever()
