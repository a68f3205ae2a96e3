"""A tick survives a dropped connection: the client re-attaches, re-sends, and it is applied once."""

from __future__ import annotations

import socket
import threading
import unittest
from typing import List

import numpy as np

import basin
from basin.v1 import optimizer_service_pb2 as pb
from basin_test_server import ServerTestCase


class DroppingProxy:
    """A TCP forwarder to ``upstream`` whose open connections drop_all() cuts."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.target = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.connections: List[socket.socket] = []
        self.lock = threading.Lock()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.connections += [client, server]
                self.accepted += 1
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop_all(self) -> None:
        with self.lock:
            connections, self.connections = self.connections, []
        for s in connections:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()
        self.drop_all()


class RetryTest(ServerTestCase):
    def test_tell_after_a_dropped_connection_is_applied_once(self) -> None:
        proxy = DroppingProxy(self.server.target)
        self.addCleanup(proxy.close)
        c = self.client()
        w0 = {"w": np.array([2.0, -4.0], np.float32)}
        sess = c.create_session(w0, optimizer=basin.SGD(lr=0.5))
        via_proxy = basin.Client(proxy.target)
        self.addCleanup(via_proxy.close)
        worker = via_proxy.get_session(sess.id)
        self.addCleanup(worker.close)
        q = worker.query()
        proxy.drop_all()  # the stream dies between the query and the gradient
        ack = worker.tell(q.params, 1.0)
        self.assertEqual((ack.tick, ack.outcome, ack.session_tick), (0, "applied", 1))
        self.assertGreaterEqual(proxy.accepted, 2)  # it did reconnect
        np.testing.assert_array_equal(sess.model()["w"], w0["w"] * 0.5)  # applied exactly once
        stats = sess.stats()
        self.assertEqual((stats["tick"], stats["gradients_duplicate"]), (1, 0))
        self.assertEqual(worker.query().tick, 1)
        sess.delete()

    def test_a_resent_tick_whose_ack_was_lost_is_a_duplicate(self) -> None:
        c = self.client()
        w0 = {"w": np.array([2.0, -4.0], np.float32)}
        sess = c.create_session(w0, optimizer=basin.SGD(lr=0.5))
        self.addCleanup(sess.delete)
        q = sess.query()
        # The first attempt got through on another stream and its ack was lost.
        first = [
            pb.TrainRequest(attach=pb.Attach(session_id=sess.id)),
            pb.TrainRequest(
                gradient=pb.GradientChunk(
                    tick=q.tick,
                    chunk=pb.TensorChunk(tensor="w", dtype=pb.DTYPE_F32, data=q.params["w"].tobytes()),
                    last=True,
                    loss=1.0,
                )
            ),
        ]
        done = threading.Event()

        def requests():
            yield from first
            done.wait(10)

        call = c.stub.Train(requests())
        outcome = next(r.ack.outcome for r in call if r.HasField("ack"))
        self.assertEqual(outcome, pb.TickAck.OUTCOME_APPLIED)
        done.set()
        call.cancel()
        # The retry of the same tick is acknowledged, not applied again.
        ack = sess.tell(q.params, 1.0)
        self.assertEqual((ack.tick, ack.outcome), (0, "duplicate"))
        self.assertEqual(sess.query().tick, 1)
        np.testing.assert_array_equal(sess.model()["w"], w0["w"] * 0.5)
        self.assertEqual(sess.stats()["gradients_duplicate"], 1)


if __name__ == "__main__":
    unittest.main()
