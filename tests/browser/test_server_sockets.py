"""The socket options of the real `streamlit run serve.py` server, read from its own file descriptors.

The test copies the server's end of a connection into this process with pidfd_getfd
(Linux 5.6 or newer), which a parent may do with its child, and reads its options.
"""

from __future__ import annotations

import ctypes
import os
import socket
import urllib.parse
from pathlib import Path

import pytest

from tests.browser.conftest import PortalServer

pytestmark = pytest.mark.browser

PIDFD_GETFD_SYSCALL = 438  # the same number on x86_64 and aarch64
HTTP_TIMEOUT_SECONDS = 10.0


def _pidfd_getfd(pid: int, target_fd: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copied = libc.syscall(PIDFD_GETFD_SYSCALL, pidfd, target_fd, 0)
        if copied < 0:
            error = ctypes.get_errno()
            raise OSError(error, f"pidfd_getfd of fd {target_fd} in process {pid}: {os.strerror(error)}")
        return copied
    finally:
        os.close(pidfd)


def _socket_inode(pid: int, local_port: int, remote_port: int) -> str:
    """Return the inode of the IPv4 TCP socket from `local_port` to `remote_port` in the process's namespace."""
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        ports = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
        if ports == (local_port, remote_port):
            return fields[9]
    raise AssertionError(f"no TCP connection from port {local_port} to port {remote_port}")


def _server_end(pid: int, server_port: int, client_port: int) -> socket.socket:
    """Return a copy of the server's socket of the connection from `client_port`."""
    inode = _socket_inode(pid, server_port, client_port)
    for entry in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(entry)
        except FileNotFoundError:  # closed since the listing
            continue
        if target == f"socket:[{inode}]":
            return socket.socket(fileno=_pidfd_getfd(pid, int(entry.name)))
    raise AssertionError(f"process {pid} has no descriptor of socket {inode}")


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs pidfd_open (Linux)")
def test_connections_send_without_delay(fresh_portal_server: PortalServer) -> None:
    address = urllib.parse.urlsplit(fresh_portal_server.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=HTTP_TIMEOUT_SECONDS) as client:
        client.sendall(f"GET /_stcore/health HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode("ascii"))
        assert client.recv(4096).startswith(b"HTTP/1.1 200")
        server_end = _server_end(fresh_portal_server.process.pid, address.port, client.getsockname()[1])
        with server_end:
            assert server_end.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
