"""The Python client against a basin-server with mutual TLS and bearer tokens (docs/security.md).

The certificates are made for this run by tests/testing/make_test_certs.py (python3-cryptography).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import unittest

import grpc
import numpy as np

import basin
from basin.v1 import optimizer_service_pb2 as pb
from basin_test_server import BasinServer

MAKE_CERTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testing", "make_test_certs.py")
ALICE = "alice-token-5e4d3c2b1a09f8e7"
BOB = "bob-token-0f1e2d3c4b5a6978"


class SecurityTest(unittest.TestCase):
    certs: tempfile.TemporaryDirectory
    server: BasinServer

    @classmethod
    def path(cls, name: str) -> str:
        return os.path.join(cls.certs.name, name)

    @classmethod
    def setUpClass(cls) -> None:
        cls.certs = tempfile.TemporaryDirectory()
        subprocess.run([sys.executable, MAKE_CERTS, cls.certs.name], check=True, timeout=60)
        with open(cls.path("tokens"), "w") as f:
            f.write(f"# tenants\nalice {ALICE}\nbob {BOB}\n")
        cls.server = BasinServer(extra_args=[
            f"--tls_cert={cls.path('server.pem')}",
            f"--tls_key={cls.path('server.key')}",
            f"--tls_client_ca={cls.path('ca.pem')}",
            f"--auth_tokens_file={cls.path('tokens')}",
        ]).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        cls.certs.cleanup()

    def client(self, token: str | None = None, pair: str | None = "client", **tls: str) -> basin.Client:
        """A client trusting ca.pem, with the certificate pair `pair` (None: no certificate)."""
        settings = dict(root_cert=self.path("ca.pem"), **tls)
        if pair is not None:
            settings.update(client_cert=self.path(f"{pair}.pem"), client_key=self.path(f"{pair}.key"))
        c = basin.Client(self.server.target, token=token, tls=settings, timeout=10)
        self.addCleanup(c.close)
        return c

    def assert_code(self, code: grpc.StatusCode, fn) -> basin.BasinError:
        with self.assertRaises(basin.BasinError) as raised:
            fn()
        self.assertEqual(raised.exception.code, code, raised.exception.message)
        return raised.exception

    def test_a_tenant_trains_over_mutual_tls_with_its_token(self) -> None:
        alice = self.client(ALICE)
        sess = alice.create_session({"x": np.array([1.0, -2.0], np.float32)}, optimizer=basin.SGD(lr=0.5))
        self.addCleanup(sess.delete)
        for _ in range(2):  # f(x) = ½‖x‖², whose gradient is x
            q = sess.query()
            self.assertEqual(sess.tell(q.params, 0.0).outcome, "applied")
        np.testing.assert_array_equal(sess.model()["x"], np.array([0.25, -0.5], np.float32))
        self.assertIn(sess.id, [s.session_id for s in alice.list_sessions()])
        # The name on the certificate can be set when the target's host is not it.
        self.assertEqual(self.client(ALICE, server_name="basin.test").health(), "SERVING")

    def test_no_token_or_a_wrong_one_is_unauthenticated_while_health_stays_open(self) -> None:
        anonymous = self.client()
        error = self.assert_code(grpc.StatusCode.UNAUTHENTICATED, anonymous.list_sessions)
        self.assertIn("no bearer token", error.message)
        self.assertEqual(anonymous.health(), "SERVING")
        wrong = self.client(ALICE[:-1] + "0")
        error = self.assert_code(grpc.StatusCode.UNAUTHENTICATED, wrong.list_sessions)
        self.assertNotIn(ALICE[:-1], error.message)

    def test_a_client_without_a_valid_certificate_is_refused(self) -> None:
        for pair in (None, "other_client", "expired_client"):
            with self.subTest(pair=pair):
                self.assert_code(grpc.StatusCode.UNAVAILABLE, self.client(ALICE, pair=pair).list_sessions)

    def test_another_tenants_session_is_not_found(self) -> None:
        alice, bob = self.client(ALICE), self.client(BOB)
        sess = alice.create_session({"x": np.array([3.0], np.float32)}, optimizer=basin.SGD(lr=0.5))
        self.addCleanup(sess.delete)
        error = self.assert_code(grpc.StatusCode.NOT_FOUND, lambda: bob.get_session(sess.id))
        self.assertEqual(error.message, f"no session '{sess.id}'")
        self.assertNotIn(sess.id, [s.session_id for s in bob.list_sessions()])
        delete = pb.DeleteSessionRequest(session_id=sess.id)
        self.assert_code(grpc.StatusCode.NOT_FOUND, lambda: bob.unary("DeleteSession", delete))
        np.testing.assert_array_equal(sess.model()["x"], np.array([3.0], np.float32))


if __name__ == "__main__":
    unittest.main()
