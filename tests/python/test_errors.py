"""Every bad call raises basin.BasinError with its status code and leaves the session unchanged."""

from __future__ import annotations

import unittest

import grpc
import numpy as np

import basin
from basin_test_server import ServerTestCase

W0 = {"w": np.array([1.0, 2.0, 3.0], np.float32), "b": np.array([[0.5]], np.float32)}


class ErrorTest(ServerTestCase):
    def setUp(self) -> None:
        self.c = self.client()

    def session(self, spec=None, **kwargs) -> basin.Session:
        sess = self.c.create_session(W0, optimizer=spec or basin.SGD(lr=0.5), **kwargs)
        self.addCleanup(sess.delete)
        return sess

    def assertCode(self, code: grpc.StatusCode, fn, *args, contains: str = "", **kwargs) -> basin.BasinError:
        with self.assertRaises(basin.BasinError) as e:
            fn(*args, **kwargs)
        self.assertEqual(e.exception.code, code, e.exception.message)
        self.assertIn(contains, e.exception.message)
        return e.exception

    def assertUnchanged(self, sess: basin.Session, tick: int, model: dict) -> None:
        self.assertEqual(sess.stats()["tick"], tick)
        for k, v in sess.model().items():
            np.testing.assert_array_equal(v, model[k])

    def test_unknown_session_is_not_found(self) -> None:
        self.assertCode(grpc.StatusCode.NOT_FOUND, self.c.get_session, "no-such-session")
        sess = self.c.create_session(W0, optimizer=basin.SGD(lr=0.5))
        ghost = self.c.get_session(sess.id)
        sess.delete()
        self.assertCode(grpc.StatusCode.NOT_FOUND, ghost.query)  # attach to a deleted session
        self.assertCode(grpc.StatusCode.NOT_FOUND, ghost.stats)
        self.assertCode(grpc.StatusCode.NOT_FOUND, ghost.model)

    def test_bad_hyper_parameters_are_invalid_argument(self) -> None:
        bad = {
            "sgd.lr": basin.SGD(lr=-1.0),
            "sgd.momentum": basin.SGD(lr=0.1, momentum=1.5),
            "sgld.num_data": basin.SGLD(num_data=0.0),
            "sam.rho": basin.SAM(lr=0.1, rho=-0.1),
            "entropy_sgd.gamma": basin.EntropySGD(gamma=-1.0),
            "emcmc.eta": basin.EMCMC(eta=0.0),
        }
        for name, spec in bad.items():
            with self.subTest(name):
                e = self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, self.c.create_session, W0, optimizer=spec)
                self.assertIn(name.split(".")[1], e.message)
        self.assertCode(
            grpc.StatusCode.INVALID_ARGUMENT,
            self.c.create_session, W0, optimizer=basin.optimizer_config_pb2.OptimizerConfig(),
        )  # fmt: skip
        self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, self.c.create_session, {}, optimizer=basin.SGD())
        self.assertCode(
            grpc.StatusCode.INVALID_ARGUMENT, self.c.create_session, W0, optimizer=basin.SGD(), metrics_run="a b"
        )
        with self.assertRaises(ValueError):
            basin.EntropySGD(variant="nonsense")

    def test_wrong_gradients_are_invalid_argument_and_change_nothing(self) -> None:
        sess = self.session()
        q = sess.query()
        model = sess.model()
        cases = {
            "missing tensor": {"w": np.zeros(3)},
            "unknown tensor": {"w": np.zeros(3), "b": np.zeros((1, 1)), "c": np.zeros(1)},
            "wrong size": {"w": np.zeros(4), "b": np.zeros((1, 1))},
            "flat, wrong size": np.zeros(7),
        }
        for name, grads in cases.items():
            with self.subTest(name):  # refused before sending
                self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, sess.tell, grads, 1.0)
        nan = {"w": np.array([0.0, np.nan, 0.0]), "b": np.zeros((1, 1))}
        self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, sess.tell, nan, 1.0, contains="w")
        self.assertUnchanged(sess, 0, model)
        self.assertEqual(sess.query().tick, q.tick)  # re-attached: the same tick again
        inf = {"w": np.zeros(3), "b": np.array([[np.inf]])}
        self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, sess.tell, inf, 1.0, contains="b")
        sess.query()
        self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, sess.tell, {"w": np.zeros(3), "b": np.zeros((1, 1))}, np.nan)
        self.assertUnchanged(sess, 0, model)
        # The session carries on after the refusals.
        sess.query()
        self.assertEqual(sess.tell(np.ones(4), 0.0).outcome, "applied")
        self.assertEqual(sess.stats()["tick"], 1)

    def test_the_server_refuses_a_tensor_it_does_not_know(self) -> None:
        sess = self.session()
        liar = self.c.get_session(sess.id)
        self.addCleanup(liar.close)
        liar.query()
        liar.layout = [("w", (3,)), ("x", (1, 1))]  # a layout the server does not have
        self.assertCode(
            grpc.StatusCode.INVALID_ARGUMENT, liar.tell, {"w": np.zeros(3), "x": np.zeros((1, 1))}, 0.0, contains="x"
        )
        self.assertUnchanged(sess, 0, {k: v for k, v in W0.items()})

    def test_anchor_and_parameters_preconditions(self) -> None:
        sess = self.session()
        self.assertCode(grpc.StatusCode.FAILED_PRECONDITION, sess.anchor)
        self.assertCode(grpc.StatusCode.FAILED_PRECONDITION, sess.set_anchor, W0)
        self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, sess.set_model, {"w": np.zeros(2), "b": np.zeros(1)})
        sam = self.session(basin.SAM(lr=0.1))
        q = sam.query()
        sam.tell(q.params, 0.0)  # phase 0 of 2: mid-step
        model = sam.model()
        self.assertCode(grpc.StatusCode.FAILED_PRECONDITION, sam.set_model, W0)
        self.assertUnchanged(sam, 1, model)

    def test_samples_worker_ids_and_request_ids(self) -> None:
        sess = self.session(samples=basin.Samples("model"))
        self.assertEqual(sess.samples(), [])
        self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, sess._get, basin.optimizer_service_pb2.PARAMETER_SET_SAMPLE, 3)
        stranger = self.c.get_session(sess.id, worker_id=5)
        self.assertCode(grpc.StatusCode.INVALID_ARGUMENT, stranger.query, contains="5")
        first = self.session(request_id="req-1")
        again = self.c.create_session(W0, optimizer=basin.SGD(lr=0.5), request_id="req-1")
        self.assertEqual(again.id, first.id)
        self.assertCode(
            grpc.StatusCode.ALREADY_EXISTS, self.c.create_session, W0, optimizer=basin.SGD(lr=0.25), request_id="req-1"
        )

    def test_async_stale_gradient_is_aborted(self) -> None:
        sess = self.session(workers=basin.Workers(2, mode="async", max_staleness=0))
        other = self.c.get_session(sess.id, worker_id=1)
        self.addCleanup(other.close)
        sess.query()
        other.query()
        self.assertEqual(other.tell(np.ones(4), 0.0).outcome, "applied")  # tick 0 -> 1
        self.assertCode(grpc.StatusCode.ABORTED, sess.tell, np.ones(4), 0.0)  # computed at tick 0
        self.assertEqual(sess.query().tick, 1)

    def test_error_carries_code_and_message(self) -> None:
        e = basin.BasinError(grpc.StatusCode.NOT_FOUND, "no session 'x'")
        self.assertEqual(str(e), "NOT_FOUND: no session 'x'")
        self.assertIsInstance(e, Exception)


if __name__ == "__main__":
    unittest.main()
