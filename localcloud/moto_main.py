"""`python -m localcloud.moto_main`: moto's server (`python -m moto.server`, same arguments), with
each TLS handshake done in its connection's own thread instead of in the accept loop.

werkzeug wraps the listening socket with the default `do_handshake_on_connect=True`, so `accept()`
runs the whole handshake in the one thread that accepts every connection. A client that has
connected but does not finish its handshake (a function worker frozen with SIGSTOP, or one
starved of CPU, right after its TCP connect) then blocks every other client of the local AWS API:
their handshakes time out until that client goes away. Here the handshake is deferred: `accept()`
returns at once and OpenSSL completes the handshake on the connection's first read, in the
request thread werkzeug starts for it, so a stalled client stalls only itself.
"""

from __future__ import annotations

import ssl
import sys
from typing import Any

from moto import server
from werkzeug import serving


class DeferredHandshakeContext(ssl.SSLContext):
    """A server context whose sockets never handshake on connect (nor on `accept()`)."""

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["do_handshake_on_connect"] = False
        return super().wrap_socket(sock, *args, **kwargs)


def load_deferred_handshake_context(
    cert_file: str, pkey_file: str | None = None, protocol: int | None = None
) -> ssl.SSLContext:
    """werkzeug's `load_ssl_context`, returning a `DeferredHandshakeContext`."""
    context = DeferredHandshakeContext(ssl.PROTOCOL_TLS_SERVER if protocol is None else protocol)
    context.load_cert_chain(cert_file, pkey_file)
    return context


def main(argv: list[str] | None = None) -> None:
    # moto's main passes (cert, key) to werkzeug, which loads the context through this name.
    serving.load_ssl_context = load_deferred_handshake_context
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
