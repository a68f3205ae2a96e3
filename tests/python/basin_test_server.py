"""A real basin-server for Python tests, on an ephemeral loopback port.

The binary comes from the BASIN_SERVER environment variable (tests/python/CMakeLists.txt sets it
to $<TARGET_FILE:basin-server>). Typical use::

    class MyTest(basin_test_server.ServerTestCase):
        def test_x(self):
            client = self.client()        # a basin.Client connected to the server
            ...

or, without unittest, ``with BasinServer() as server: basin.Client(server.target)``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import unittest
from typing import List, Optional

import basin


class BasinServer:
    """Starts basin-server on 127.0.0.1:0, reads the port it prints, SIGTERMs it on stop()."""

    def __init__(self, binary: Optional[str] = None, extra_args: Optional[List[str]] = None) -> None:
        self.binary = binary or os.environ.get("BASIN_SERVER", "")
        if not self.binary:
            raise RuntimeError("set BASIN_SERVER to the basin-server binary (ctest does)")
        self.extra_args = extra_args or []
        self.process: Optional[subprocess.Popen] = None
        self.target = ""
        self.output: List[str] = []

    def start(self, timeout: float = 30.0) -> "BasinServer":
        args = [self.binary, "--listen=127.0.0.1:0", "--metrics_listen=none", "--data_dir=none", *self.extra_args]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        found = threading.Event()

        def pump() -> None:  # keep reading so the server never blocks on a full pipe
            assert self.process is not None and self.process.stdout is not None
            for line in self.process.stdout:
                self.output.append(line)
                m = re.search(r"listening on (\S+)", line)
                if m and not found.is_set():
                    self.target = m.group(1)
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(timeout) or not self.target:
            self.stop()
            raise RuntimeError(f"basin-server did not start: {''.join(self.output)}")
        return self

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (the server drains) and wait; returns the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def __enter__(self) -> "BasinServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerTestCase(unittest.TestCase):
    """One basin-server per test class: started in setUpClass, stopped in tearDownClass."""

    server: BasinServer
    server_args: List[str] = []

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = BasinServer(extra_args=cls.server_args).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()

    def client(self, **kwargs: object) -> basin.Client:
        """A Client of this class's server, closed when the test ends."""
        c = basin.Client(self.server.target, **kwargs)  # type: ignore[arg-type]
        self.addCleanup(c.close)
        return c
