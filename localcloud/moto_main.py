"""`python -m localcloud.moto_main`: moto's server (`python -m moto.server`, same arguments), with
each TLS handshake done in its connection's own thread instead of in the accept loop.

werkzeug wraps the listening socket with the default `do_handshake_on_connect=True`, so `accept()`
runs the whole handshake in the one thread that accepts every connection. A client that has
connected but does not finish its handshake (a function worker frozen with SIGSTOP, or one
starved of CPU, right after its TCP connect) then blocks every other client of the local AWS API:
their handshakes time out until that client goes away. Here the handshake is deferred: `accept()`
returns at once and OpenSSL completes the handshake on the connection's first read, in the
request thread werkzeug starts for it, so a stalled client stalls only itself.

Connections are also kept alive. werkzeug's server answers every request with `Connection: close`
(it cannot drain an unread request body before the next request line), so every AWS call paid a
new TCP connection, a TLS handshake and a new server thread, which under load made calls slow
enough for the functions' short timeouts to give up (docs/local-runtime.md). Here a request with a
`Content-Length` (no chunked body) has its body read in full first and handed to werkzeug from
memory, so whatever the application leaves unread, the connection is positioned at the next
request: the response says `keep-alive` and the connection serves the client's next call. An idle
connection is closed after `KEEP_ALIVE_IDLE_S`. `LOCALCLOUD_MOTO_KEEPALIVE=0` restores werkzeug's
behaviour.

And SQS message counts are computed once per call instead of once per message: moto's
`Queue.attributes` (which `SendMessage` reads for every message, to look up
`ContentBasedDeduplication`) counts visible, delayed and in-flight messages through properties
that build a datetime for every message in the queue, so each send cost time in proportion to the
queue's depth (~25 ms per message at 1,300 queued here), and a burst that filled the queue slowed
every later send past the senders' timeouts. `count_messages_once` keeps the same counts, with one
clock reading per count.
"""

from __future__ import annotations

import io
import os
import ssl
import sys
from typing import Any

from moto import server
from moto.core.utils import unix_time_millis
from moto.moto_server.werkzeug_app import MotoRequestHandler
from moto.sqs.models import Message, Queue
from werkzeug import serving

KEEP_ALIVE_IDLE_S = 30.0
MAX_BUFFERED_BODY = 256 * 1024 * 1024  # larger bodies stream through werkzeug and close as before


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


class KeepAliveRequestHandler(MotoRequestHandler):
    """moto's request handler, keeping HTTP/1.1 connections open between requests."""

    timeout = KEEP_ALIVE_IDLE_S  # an idle connection's socket timeout: then it is closed
    _keep_alive = False

    def run_wsgi(self) -> None:
        length = self._buffered_length()
        if length is None:
            super().run_wsgi()
            return
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            del self.headers["Expect"]
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return
        connection_file = self.rfile
        self.rfile = io.BufferedReader(io.BytesIO(body))
        self._keep_alive = True
        try:
            super().run_wsgi()
        finally:
            self.rfile = connection_file
            self._keep_alive = False

    def send_header(self, keyword: str, value: str) -> None:
        if self._keep_alive and keyword.lower() == "connection" and value.lower() == "close":
            value = "keep-alive"
        super().send_header(keyword, value)

    def _buffered_length(self) -> int | None:
        """The body length when this request can be served on a kept-alive connection, else None."""
        if self.request_version != "HTTP/1.1" or self.headers.get("Connection", "").lower() == "close":
            return None
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        return length if 0 <= length <= MAX_BUFFERED_BODY else None


def _visible(message: Message, now: float) -> bool:
    return now > message.visible_at


def _delayed(message: Message, now: float) -> bool:
    return now < message.delayed_until


def count_messages_once() -> None:
    """Replace moto's per-message clock readings in the SQS queue counts with one per count."""

    def messages(self: Queue) -> list[Message]:
        now = unix_time_millis()
        return [m for m in self._messages if _visible(m, now) and not _delayed(m, now)]

    def delayed(self: Queue) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if _delayed(m, now))

    def not_visible(self: Queue) -> int:
        now = unix_time_millis()
        return sum(1 for m in self._messages if not _visible(m, now))

    Queue.messages = property(messages)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_delayed = property(delayed)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_not_visible = property(not_visible)  # type: ignore[method-assign,assignment]


def keep_alive_enabled() -> bool:
    return os.environ.get("LOCALCLOUD_MOTO_KEEPALIVE", "1").strip().lower() not in ("0", "false", "no", "off")


def main(argv: list[str] | None = None) -> None:
    # moto's main passes (cert, key) to werkzeug, which loads the context through this name.
    serving.load_ssl_context = load_deferred_handshake_context
    if keep_alive_enabled():
        setattr(server, "MotoRequestHandler", KeepAliveRequestHandler)  # noqa: B010 - what run_simple gets
    if os.environ.get("LOCALCLOUD_MOTO_SQS_COUNTS", "1") != "0":
        count_messages_once()
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
