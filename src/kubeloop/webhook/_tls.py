"""The webhook server's certificate, read from a directory and reloaded when it changes.

``CertWatcher`` gives the server one ``ssl.SSLContext`` whose SNI callback hands each new
handshake the most recently loaded certificate (whether or not the client sends a server name,
and the API server sends none for an IP address). ``watch()`` polls the files' status (size,
mtime, inode: a Secret volume's ``..data`` symlink swap changes them) and reloads on change;
connections already open keep their certificate, new ones get the new one. A half-written pair
(new certificate, old key) fails to load and is retried on the next poll, while the previous
certificate keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from pathlib import Path

__all__ = ["CertWatcher"]

log = logging.getLogger("kubeloop.webhook.tls")


def _context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class CertWatcher:
    """The serving certificate in ``cert_dir`` (``tls.crt``/``tls.key`` by default), kept current."""

    def __init__(
        self,
        cert_dir: str | Path,
        *,
        cert_name: str = "tls.crt",
        key_name: str = "tls.key",
        poll_interval: float = 1.0,
    ) -> None:
        self.cert_path = Path(cert_dir) / cert_name
        self.key_path = Path(cert_dir) / key_name
        self.poll_interval = poll_interval
        self.reloads = 0
        self._stamp: tuple[object, ...] | None = None
        self._current: ssl.SSLContext | None = None
        self._server: ssl.SSLContext | None = None

    def _files_stamp(self) -> tuple[object, ...]:
        out: list[object] = []
        for path in (self.cert_path, self.key_path):
            st = path.stat()
            out += [st.st_size, st.st_mtime_ns, st.st_ino]
        return tuple(out)

    def load(self) -> bool:
        """(Re)load the pair if it changed; True when a new certificate was loaded. Raises on the
        first load (missing or bad files); later failures are logged and the old certificate kept."""
        try:
            stamp = self._files_stamp()
            if stamp == self._stamp:
                return False
            context = _context(self.cert_path, self.key_path)
        except (OSError, ssl.SSLError) as exc:
            if self._current is None:
                raise
            log.warning("cannot reload %s: %s; keeping the current certificate", self.cert_path, exc)
            return False
        self._stamp, self._current = stamp, context
        if self._server is not None:
            self.reloads += 1
            log.info("reloaded the serving certificate from %s", self.cert_path)
        return True

    def server_context(self) -> ssl.SSLContext:
        """The context to serve with; each handshake switches to the latest loaded certificate."""
        if self._server is None:
            if self._current is None:
                self.load()
            server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server.minimum_version = ssl.TLSVersion.TLSv1_2
            server.load_cert_chain(self.cert_path, self.key_path)
            server.sni_callback = self._select
            self._server = server
        return self._server

    def _select(self, sock: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
        if self._current is not None:
            sock.context = self._current

    async def watch(self) -> None:
        """Poll for changes until cancelled."""
        while True:
            await asyncio.sleep(self.poll_interval)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.load)
