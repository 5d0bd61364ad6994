"""Serves a directory on 127.0.0.1 for the demo and the browser tests.

Adds what a plain static server lacks: the WebAssembly MIME type, and a
Content-Security-Policy header that forbids connecting to any other origin.
The header (unlike the page's <meta> tag) also binds the Web Worker, which is
where weights are fetched, so no image or score can be sent anywhere. The CPU
backend's thread pool runs in workers started from blob: URLs, hence
`worker-src blob:`.

It also makes the page cross-origin isolated (COOP same-origin, COEP
require-corp), which browsers require before they share memory between
workers: only then does the CPU backend use every core. --no-isolation leaves
those two headers out (the CPU backend then runs on one thread).

usage: python3 tools/serve.py DIRECTORY [PORT] [-q] [--no-isolation]
"""
import functools
import http.server
import sys

CSP = (
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self' blob:; "
    "connect-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'"
)


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".bpk": "application/octet-stream",
    }

    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        if "--no-isolation" not in sys.argv:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):
        if "-q" not in sys.argv:
            super().log_message(format, *args)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    directory = args[0] if args else "www"
    port = int(args[1]) if len(args) > 1 else 8080
    handler = functools.partial(Handler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    print(f"serving {directory} at http://127.0.0.1:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
