"""Every optimizer through query/tell against a real basin-server, with the state read back."""

from __future__ import annotations

import threading
import unittest

import grpc
import numpy as np

import basin
from basin_test_server import ServerTestCase


def quadratic_run(sess: basin.Session, ticks: int) -> list:
    """Drives ``ticks`` ticks of f(θ) = ½‖θ‖² (gradient θ); returns the queries."""
    queries = []
    for _ in range(ticks):
        q = sess.query()
        queries.append(q)
        loss = sum(0.5 * float(np.sum(v.astype(np.float64) ** 2)) for v in q.params.values())
        ack = sess.tell({k: v for k, v in q.params.items()}, loss)
        assert ack.tick == q.tick and ack.outcome == "applied", ack
    return queries


class OptimizerTest(ServerTestCase):
    def setUp(self) -> None:
        self.c = self.client()
        self.w0 = {"w": np.array([[1.0, -2.0], [4.0, 8.0]], np.float32), "b": np.array([0.5], np.float32)}

    def session(self, spec, **kwargs) -> basin.Session:
        sess = self.c.create_session(self.w0, optimizer=spec, seed=7, **kwargs)
        self.addCleanup(sess.delete)
        return sess

    def test_health(self) -> None:
        self.assertEqual(self.c.health(), "SERVING")
        self.assertEqual(self.c.health("basin.v1.Optimizer"), "SERVING")

    def test_a_token_is_sent_as_bearer_metadata(self) -> None:
        c = self.client(token="secret")
        self.assertEqual(c.metadata, (("authorization", "Bearer secret"),))
        sess = c.create_session(self.w0, optimizer=basin.SGD(lr=0.5))  # no --auth_tokens_file: ignored
        self.addCleanup(sess.delete)
        quadratic_run(sess, 1)
        self.assertEqual(sess.info().tick, 1)

    def test_sgd_on_a_quadratic_gives_the_exact_values(self) -> None:
        sess = self.session(basin.SGD(lr=0.5))
        self.assertEqual(sess.ticks_per_step, 1)
        queries = quadratic_run(sess, 3)
        self.assertEqual([q.tick for q in queries], [0, 1, 2])
        self.assertEqual([q.step for q in queries], [0, 1, 2])
        np.testing.assert_array_equal(queries[1].params["w"], self.w0["w"] * 0.5)
        model = sess.model()
        self.assertEqual(list(model), ["w", "b"])
        np.testing.assert_array_equal(model["w"], self.w0["w"] * 0.125)
        np.testing.assert_array_equal(model["b"], self.w0["b"] * 0.125)
        np.testing.assert_array_equal(sess.query_point()["w"], model["w"])
        stats = sess.stats()
        self.assertEqual((stats["tick"], stats["step"], stats["lr"]), (3, 3, 0.5))
        last = queries[2].params
        self.assertAlmostEqual(stats["last_loss"], 0.5 * float(np.sum(last["w"] ** 2) + np.sum(last["b"] ** 2)))
        info = sess.info()
        self.assertEqual((info.tick, info.step, info.num_parameters), (3, 3, 5))
        self.assertAlmostEqual(info.spec.optimizer.sgd.momentum, 0.0)  # filled by the server

    def test_the_query_after_set_model_is_the_new_point(self) -> None:
        sess = self.session(basin.SGD(lr=0.5))
        quadratic_run(sess, 2)  # the stream has sent tick 2's query point already
        moved = {"w": np.full((2, 2), 7.0, np.float32), "b": np.full(1, -1.0, np.float32)}
        sess.set_model(moved)
        q = sess.query()
        self.assertEqual(q.tick, 2)
        np.testing.assert_array_equal(q.params["w"], moved["w"])
        np.testing.assert_array_equal(q.params["b"], moved["b"])

    def test_sgd_momentum_matches_torch_semantics(self) -> None:
        sess = self.session(basin.SGD(lr=0.5, momentum=0.5))
        theta = {k: v.astype(np.float64) for k, v in self.w0.items()}
        buf = {k: np.zeros_like(v) for k, v in theta.items()}
        for _ in range(4):
            q = sess.query()
            for k in theta:
                np.testing.assert_allclose(q.params[k], theta[k], rtol=1e-6)
            sess.tell(q.params, 0.0)
            for k in theta:  # torch.optim.SGD: buf = m·buf + g (the first step: buf = g)
                buf[k] = 0.5 * buf[k] + theta[k]
                theta[k] = theta[k] - 0.5 * buf[k]
        for k, v in sess.model().items():
            np.testing.assert_allclose(v, theta[k], rtol=1e-6)

    def test_sgld_without_temperature_is_sgd_and_with_it_is_seeded(self) -> None:
        cold = self.session(basin.SGLD(lr=0.5, temperature=0.0))
        quadratic_run(cold, 2)
        np.testing.assert_array_equal(cold.model()["w"], self.w0["w"] * 0.25)
        hot = [self.session(basin.SGLD(lr=0.01, temperature=1.0, num_data=10.0)) for _ in range(2)]
        for sess in hot:
            quadratic_run(sess, 3)
        a, b = hot[0].model()["w"], hot[1].model()["w"]
        np.testing.assert_array_equal(a, b)  # the same seed: the same noise
        self.assertFalse(np.allclose(a, self.w0["w"] * 0.99**3, atol=1e-4))  # noise is there

    def test_sam_asks_at_w_then_at_w_plus_epsilon_on_one_minibatch(self) -> None:
        rho = 0.05
        sess = self.session(basin.SAM(lr=0.5, rho=rho))
        self.assertEqual(sess.ticks_per_step, 2)
        w = np.concatenate([v.reshape(-1).astype(np.float64) for v in self.w0.values()])
        for step in range(2):
            q0 = sess.query()
            self.assertEqual((q0.step, q0.phase), (step, 0))
            flat0 = np.concatenate([v.reshape(-1) for v in q0.params.values()]).astype(np.float64)
            np.testing.assert_allclose(flat0, w, rtol=1e-6)
            sess.tell(q0.params, 0.0)  # g(w) = w
            q1 = sess.query()
            self.assertEqual((q1.step, q1.phase, q1.minibatch_key), (step, 1, q0.minibatch_key))
            flat1 = np.concatenate([v.reshape(-1) for v in q1.params.values()]).astype(np.float64)
            eps = rho * w / np.linalg.norm(w)
            np.testing.assert_allclose(flat1, w + eps, rtol=1e-6)
            sess.tell(q1.params, 0.0)  # g(w + ε) = w + ε
            w = w - 0.5 * (w + eps)
        model = np.concatenate([v.reshape(-1) for v in sess.model().values()])
        np.testing.assert_allclose(model, w, rtol=1e-6)
        self.assertEqual(sess.stats()["step"], 2)

    def test_entropy_sgd_runs_its_inner_loop(self) -> None:
        sess = self.session(basin.EntropySGD(lr=1.0, variant="paper", L=3, noise=0.0))
        info = sess.info()
        self.assertEqual(info.spec.optimizer.entropy_sgd.L, 3)
        self.assertAlmostEqual(info.spec.optimizer.entropy_sgd.gamma, 0.03)  # the paper default
        self.assertEqual(sess.ticks_per_step, 3)
        queries = quadratic_run(sess, 6)
        self.assertEqual([q.phase for q in queries], [0, 1, 2, 0, 1, 2])
        self.assertEqual(len({q.minibatch_key for q in queries}), 6)
        np.testing.assert_array_equal(queries[0].params["w"], self.w0["w"])  # x' starts at x
        stats = sess.stats()
        self.assertEqual((stats["tick"], stats["step"]), (6, 2))
        self.assertGreater(stats["gamma"], 0.0)
        moved = sess.model()["w"]
        self.assertLess(np.linalg.norm(moved), np.linalg.norm(self.w0["w"]))  # towards the minimum

    def test_emcmc_moves_model_and_anchor_and_collects_both(self) -> None:
        sess = self.session(
            basin.EMCMC(lr=0.1, form="paper", eta=1.0, temperature=0.0), samples=basin.Samples("both")
        )
        np.testing.assert_array_equal(sess.anchor()["w"], self.w0["w"])  # a copy of the model
        quadratic_run(sess, 3)
        model, anchor = sess.model(), sess.anchor()
        self.assertFalse(np.array_equal(anchor["w"], self.w0["w"]))
        distance = np.sqrt(sum(np.sum((model[k].astype(np.float64) - anchor[k]) ** 2) for k in model))
        self.assertAlmostEqual(sess.stats()["distance_to_anchor"], distance, places=5)
        samples = sess.samples()
        self.assertEqual([(s.step, s.which) for s, _ in samples][-2:], [(3, "model"), (3, "anchor")])
        last_model = [v for s, v in samples if s.which == "model"][-1]
        np.testing.assert_array_equal(last_model["w"], model["w"])

    def test_sgd_has_no_anchor(self) -> None:
        sess = self.session(basin.SGD(lr=0.1))
        with self.assertRaises(basin.BasinError) as e:
            sess.anchor()
        self.assertEqual(e.exception.code, grpc.StatusCode.FAILED_PRECONDITION)

    def test_set_model_and_a_flat_gradient(self) -> None:
        sess = self.session(basin.SGD(lr=0.5))
        sess.set_model({"w": np.full((2, 2), 2.0), "b": np.array([4.0])})
        q = sess.query()
        np.testing.assert_array_equal(q.params["w"], np.full((2, 2), 2.0, np.float32))
        sess.tell(np.ones(5, np.float32), 1.0)  # one flat array in layout order
        np.testing.assert_array_equal(sess.model()["b"], [3.5])

    def test_a_model_larger_than_one_chunk(self) -> None:
        n = 600_000  # 2.4 MB of f32: three 1 MiB chunks each way
        w0 = np.linspace(-1.0, 1.0, n, dtype=np.float32)
        sess = self.c.create_session({"big": w0}, optimizer=basin.SGD(lr=0.5))
        self.addCleanup(sess.delete)
        q = sess.query()
        np.testing.assert_array_equal(q.params["big"], w0)
        self.assertEqual(sess.tell({"big": q.params["big"]}, 0.0).outcome, "applied")
        np.testing.assert_array_equal(sess.model()["big"], w0 * 0.5)
        np.testing.assert_array_equal(sess.query().params["big"], w0 * 0.5)

    def test_context_manager_closes_and_deletes(self) -> None:
        with self.c.create_session(self.w0, optimizer=basin.SGD(lr=0.5), delete_on_exit=True) as sess:
            quadratic_run(sess, 1)
            ids = [s.session_id for s in self.c.list_sessions()]
            self.assertIn(sess.id, ids)
        with self.assertRaises(basin.BasinError) as e:
            self.c.get_session(sess.id)
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)

    def test_two_sync_workers_average(self) -> None:
        sess0 = self.session(basin.SGD(lr=0.5), workers=basin.Workers(2))
        sess1 = self.c.get_session(sess0.id, worker_id=1)
        self.addCleanup(sess1.close)
        q0, q1 = sess0.query(), sess1.query()
        self.assertEqual(q0.tick, q1.tick)
        acks = {}
        t = threading.Thread(target=lambda: acks.setdefault(1, sess1.tell(np.full(5, 3.0), 0.0)))
        t.start()
        acks[0] = sess0.tell(np.full(5, 1.0), 0.0)
        t.join()
        self.assertEqual({a.outcome for a in acks.values()}, {"applied"})
        np.testing.assert_allclose(sess0.model()["b"], [0.5 - 0.5 * 2.0])

    def test_a_skipped_gradient_is_asked_for_again(self) -> None:
        sess = self.session(basin.SGD(lr=0.5), nonfinite_policy="skip")
        self.assertEqual(sess.info().spec.nonfinite_policy, basin.optimizer_service_pb2.NONFINITE_POLICY_SKIP)
        q = sess.query()
        ack = sess.tell({"w": np.full((2, 2), np.nan), "b": np.zeros(1)}, 1.0)
        self.assertEqual((ack.tick, ack.outcome, ack.session_tick), (0, "skipped", 0))
        again = sess.query()
        self.assertEqual(again.tick, q.tick)
        np.testing.assert_array_equal(again.params["w"], q.params["w"])
        self.assertEqual(sess.tell(again.params, np.inf).outcome, "skipped")
        self.assertEqual(sess.query().tick, 0)
        self.assertEqual(sess.tell(q.params, 1.0).outcome, "applied")
        self.assertEqual((sess.stats()["tick"], sess.stats()["gradients_skipped"]), (1, 2))
        np.testing.assert_array_equal(sess.model()["w"], self.w0["w"] * 0.5)
        with self.assertRaises(ValueError):
            self.c.create_session(self.w0, optimizer=basin.SGD(), nonfinite_policy="ignore")


class WireDTypeTest(ServerTestCase):
    def setUp(self) -> None:
        self.c = self.client()

    def test_f64_state_and_wire_are_exact(self) -> None:
        w0 = {"w": np.array([0.1, 1.0 / 3.0, -1e-300], np.float64)}
        sess = self.c.create_session(w0, optimizer=basin.SGD(lr=0.5), state_dtype="f64", wire_dtype="f64")
        self.addCleanup(sess.delete)
        q = sess.query()
        self.assertEqual(q.params["w"].dtype, np.float64)
        np.testing.assert_array_equal(q.params["w"], w0["w"])
        sess.tell({"w": np.array([0.2, 0.0, 0.0])}, 0.0)
        np.testing.assert_array_equal(sess.model("f64")["w"], w0["w"] - 0.5 * np.array([0.2, 0.0, 0.0]))

    def test_bf16_and_f16_round_to_nearest_even(self) -> None:
        w0 = {"w": np.array([1.0, 1.00390625, 1.01171875, 0.1, 70000.0], np.float32)}
        for wire in ("bf16", "f16"):
            with self.subTest(wire=wire):
                sess = self.c.create_session(w0, optimizer=basin.SGD(lr=0.5), wire_dtype=wire)
                self.addCleanup(sess.delete)
                q = sess.query()
                if wire == "bf16":
                    expected = basin.tensors.from_bf16_bits(basin.tensors.to_bf16_bits(w0["w"]))
                    np.testing.assert_array_equal(expected[:3], [1.0, 1.0, 1.015625])
                else:
                    with np.errstate(over="ignore"):
                        expected = w0["w"].astype(np.float16).astype(np.float32)
                    self.assertEqual(expected[4], np.inf)  # over f16's range
                np.testing.assert_array_equal(q.params["w"], expected)
                np.testing.assert_array_equal(sess.model(wire)["w"], expected)
                g = np.array([0.1, 0.1, 0.1, 0.1, 0.1], np.float32)
                sess.tell({"w": g}, 0.0)  # the gradient travels in the wire dtype too
                g_wire = (
                    basin.tensors.from_bf16_bits(basin.tensors.to_bf16_bits(g))
                    if wire == "bf16"
                    else g.astype(np.float16).astype(np.float32)
                )
                np.testing.assert_array_equal(sess.model()["w"], w0["w"] - np.float32(0.5) * g_wire)
                self.assertNotEqual(g_wire[0], np.float32(0.1))


class CheckpointTest(ServerTestCase):
    def test_checkpoint_restores_a_session_that_continues_identically(self) -> None:
        c = self.client()
        w0 = {"w": np.array([1.0, -2.0, 3.0], np.float32)}
        sess = c.create_session(w0, optimizer=basin.SGLD(lr=0.01, temperature=1.0), seed=3)
        self.addCleanup(sess.delete)
        quadratic_run(sess, 2)
        blob = sess.checkpoint()
        self.assertIsInstance(blob, bytes)
        copy = c.restore_session(blob)
        self.addCleanup(copy.delete)
        self.assertNotEqual(copy.id, sess.id)
        self.assertEqual(copy.info().tick, 2)
        quadratic_run(sess, 2)
        quadratic_run(copy, 2)
        np.testing.assert_array_equal(copy.model()["w"], sess.model()["w"])


if __name__ == "__main__":
    unittest.main()
