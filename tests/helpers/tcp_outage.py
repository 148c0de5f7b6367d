"""A TCP forwarder in front of a server that a test can take down and bring back: down, its port
refuses connections and every open one is cut, as when the server's process stops; up again, it
forwards to the same server, whose data survived (moto keeps its objects in memory, so stopping
moto itself would lose them, where a real object store keeps them)."""

from __future__ import annotations

import socket
import threading


def _cut(sock: socket.socket) -> None:
    """Shut a socket down, then close it: the shutdown wakes a thread blocked on it (in accept()
    or recv()), which a bare close() would not, on Linux."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # not connected, or already shut
        pass
    sock.close()


class TcpOutage:
    def __init__(self, target_port: int, port: int):
        self.target_port, self.port = target_port, port
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.up()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def up(self) -> None:
        """Listen (again) on the same port and forward each connection."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _cut(listener)
        with self._lock:
            for s in self._open:
                _cut(s)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by down()
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # went down meanwhile
                    client.close(), server.close()
                    return
                self._open.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _cut(source)
            _cut(sink)
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
