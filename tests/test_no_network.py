"""The suite itself cannot reach the network: only loopback connects are allowed."""

from __future__ import annotations

import socket

import pytest


def test_non_loopback_connect_is_refused() -> None:
    with pytest.raises(ConnectionRefusedError, match="must not use the network"):
        socket.create_connection(("203.0.113.7", 443), timeout=1)  # TEST-NET-3, never routed
