"""basin.torch.RemoteOptimizer against torch.optim.SGD, a numpy SAM and a plain basin session.

Needs /usr/bin/python3 with torch (Debian python3-torch) and BASIN_SERVER (basin_test_server).
"""

from __future__ import annotations

import copy
import unittest
from collections import OrderedDict

import numpy as np

import torch
import torch.nn as nn
import torch.nn.functional as F

import basin
import basin_test_server

if torch is not None:
    import basin.torch


def make_mlp(seed: int, dtype) -> "nn.Module":
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)).to(dtype)


def make_data(seed: int, n: int, dtype):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g, dtype=torch.float64).to(dtype)
    y = torch.randint(0, 3, (n,), generator=g)
    return x, y


def batch_of(x, y, key: int, size: int = 16):
    """The minibatch of a minibatch key (the same for every tick that shares the key)."""
    rng = np.random.default_rng([7, int(key)])
    idx = torch.from_numpy(rng.integers(0, len(x), size=size))
    return x[idx], y[idx]


def max_rel_diff(model_a, model_b) -> float:
    num = max(float((a.detach() - b.detach()).abs().max()) for a, b in
              zip(model_a.parameters(), model_b.parameters()))
    den = max(float(b.detach().abs().max()) for b in model_b.parameters())
    return num / den


class RemoteOptimizerTest(basin_test_server.ServerTestCase):
    def setUp(self) -> None:
        torch.set_num_threads(1)
        self.c = self.client()

    # ------------------------------------------------------------------ SGD vs torch.optim.SGD
    def _sgd_vs_torch(self, dtype, state_dtype, steps=100, model_from_query=False, **hyper):
        model = make_mlp(0, dtype)
        ref = copy.deepcopy(model)
        x, y = make_data(1, 256, dtype)
        opt = basin.torch.RemoteOptimizer(model.named_parameters(), basin.SGD(**hyper),
                                          client=self.c, state_dtype=state_dtype,
                                          model_from_query=model_from_query)
        self.addCleanup(opt.close)
        self.assertEqual(opt.ticks_per_step, 1)
        ref_opt = torch.optim.SGD(ref.parameters(), **hyper)
        worst = 0.0
        for s in range(steps):
            xb, yb = batch_of(x, y, s)

            def closure():
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                return loss

            ref_opt.zero_grad()
            ref_loss = F.cross_entropy(ref(xb), yb)
            ref_loss.backward()
            ref_opt.step()
            loss = opt.step(closure)
            self.assertAlmostEqual(float(loss), float(ref_loss), delta=1e-5 * abs(float(ref_loss)))
            worst = max(worst, max_rel_diff(model, ref))
        return worst

    SGD_HYPER = dict(lr=0.05, momentum=0.9, dampening=0.1, nesterov=False, weight_decay=1e-3)
    NESTEROV_HYPER = dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=1e-3)

    def test_sgd_tracks_torch_sgd_f64(self):
        # f64 state, f64 wire and double tensors: both sides do the same double-precision
        # operations, so they agree to rounding (~1e-15) step after step.
        for hyper in (self.SGD_HYPER, self.NESTEROV_HYPER):
            worst = self._sgd_vs_torch(torch.float64, "f64", **hyper)
            self.assertLess(worst, 1e-12, hyper)

    def test_sgd_tracks_torch_sgd_f32(self):
        # f32 state and float tensors, the default: 1e-6 relative over 100 steps.
        for hyper in (self.SGD_HYPER, self.NESTEROV_HYPER):
            worst = self._sgd_vs_torch(torch.float32, "f32", **hyper)
            self.assertLess(worst, 1e-6, hyper)
        worst = self._sgd_vs_torch(torch.float32, "f32", model_from_query=True, **self.SGD_HYPER)
        self.assertLess(worst, 1e-6)

    # ------------------------------------------------------------------------------ plumbing
    def test_closure_is_required(self):
        model = make_mlp(0, torch.float32)
        opt = basin.torch.RemoteOptimizer(model.parameters(), basin.SGD(lr=0.1), client=self.c)
        self.addCleanup(opt.close)
        self.assertEqual(opt.names, ["p0", "p1", "p2", "p3"])
        self.assertIsInstance(opt, torch.optim.Optimizer)
        self.assertEqual(len(opt.param_groups), 1)
        with self.assertRaisesRegex(ValueError, "needs a closure"):
            opt.step()

    def test_named_parameters_name_the_layout(self):
        model = make_mlp(0, torch.float32)
        opt = basin.torch.RemoteOptimizer(model.named_parameters(), basin.SGD(lr=0.1),
                                          client=self.c)
        self.addCleanup(opt.close)
        self.assertEqual(opt.names, ["0.weight", "0.bias", "2.weight", "2.bias"])
        model_point = opt.model()
        for name, p in model.named_parameters():  # the session starts at the parameters
            np.testing.assert_array_equal(model_point[name], p.detach().numpy())

    def test_set_model_moves_the_session(self):
        for model_from_query in (False, True):
            model = make_mlp(2, torch.float32)
            x, y = make_data(2, 64, torch.float32)
            opt = basin.torch.RemoteOptimizer(model.parameters(), basin.SGD(lr=0.1),
                                              client=self.c, model_from_query=model_from_query)
            self.addCleanup(opt.close)
            seen = []

            def closure():
                seen.append([p.detach().clone() for p in model.parameters()])
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                return loss

            opt.step(closure)
            with torch.no_grad():
                for p in model.parameters():
                    p.fill_(0.25)
            opt.set_model()  # the parameters' values become the session's model
            opt.step(closure)
            for v in seen[-1]:  # the second step's gradient was taken at the new model
                self.assertTrue(bool((v == 0.25).all()), model_from_query)

    # ----------------------------------------------------------------------------------- SAM
    def test_sam_calls_closure_twice_and_matches_numpy(self):
        rho, lr, steps = 0.05, 0.1, 10
        model = make_mlp(3, torch.float64)
        x, y = make_data(4, 128, torch.float64)
        opt = basin.torch.RemoteOptimizer(model.named_parameters(), basin.SAM(lr=lr, rho=rho),
                                          client=self.c, state_dtype="f64")
        self.addCleanup(opt.close)
        self.assertEqual(opt.ticks_per_step, 2)

        # numpy SAM (ALGORITHMS.md §3.1) with gradients from a torch copy of the model
        ref = copy.deepcopy(model)
        w = [p.detach().numpy().copy() for p in ref.parameters()]

        def grad_at(values, xb, yb):
            with torch.no_grad():
                for p, v in zip(ref.parameters(), values):
                    p.copy_(torch.from_numpy(v))
            ref.zero_grad()
            F.cross_entropy(ref(xb), yb).backward()
            return [p.grad.numpy().copy() for p in ref.parameters()]

        calls = []
        for s in range(steps):
            def closure():
                xb, yb = batch_of(x, y, opt.minibatch_key)
                calls.append((opt.phase, opt.minibatch_key))
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                return loss

            before = len(calls)
            opt.step(closure)
            self.assertEqual(len(calls) - before, 2)
            (ph0, key0), (ph1, key1) = calls[-2:]
            self.assertEqual((ph0, ph1), (0, 1))
            self.assertEqual(key0, key1)  # both ticks on the same minibatch

            xb, yb = batch_of(x, y, key0)
            g = grad_at(w, xb, yb)
            norm = np.sqrt(sum(float((gi * gi).sum()) for gi in g))
            eps = [rho * gi / (norm + 1e-12) for gi in g]
            g2 = grad_at([wi + ei for wi, ei in zip(w, eps)], xb, yb)
            w = [wi - lr * gi for wi, gi in zip(w, g2)]
            for p, wi in zip(model.parameters(), w):
                np.testing.assert_allclose(p.detach().numpy(), wi, rtol=1e-10, atol=1e-12)
        self.assertEqual(len(calls), 2 * steps)

    def test_a_failing_closure_leaves_the_step_to_finish(self):
        model = make_mlp(3, torch.float32)
        x, y = make_data(4, 64, torch.float32)
        opt = basin.torch.RemoteOptimizer(model.parameters(), basin.SAM(lr=0.1), client=self.c)
        self.addCleanup(opt.close)
        phases = []
        fail_at = {1}

        def closure():
            phases.append(opt.phase)
            if opt.tick in fail_at:
                fail_at.discard(opt.tick)
                raise KeyboardInterrupt
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss

        with self.assertRaises(KeyboardInterrupt):
            opt.step(closure)  # the ascent tick went through, the descent tick failed
        opt.step(closure)  # finishes step 0 (phase 1, the same tick again)
        opt.step(closure)  # a whole step
        self.assertEqual(phases, [0, 1, 1, 0, 1])
        self.assertEqual(opt.session.info().step, 2)

    # --------------------------------------------------------------------------- Entropy-SGD
    def test_entropy_sgd_matches_a_plain_session(self):
        """The adapter's plumbing (query -> params -> closure -> grad -> tell -> model) against
        a second session driven with the basin client and the same gradient function."""
        for model_from_query in (False, True):
            with self.subTest(model_from_query=model_from_query):
                self._entropy_sgd_vs_session(model_from_query)

    def _entropy_sgd_vs_session(self, model_from_query):
        L, steps = 3, 4
        spec = basin.EntropySGD(lr=0.5, L=L, gamma=0.03, inner_lr=0.1, noise=1e-4)
        model = make_mlp(5, torch.float64)
        x, y = make_data(6, 128, torch.float64)
        init = OrderedDict((n, p.detach().numpy().copy()) for n, p in model.named_parameters())
        opt = basin.torch.RemoteOptimizer(model.named_parameters(), spec, client=self.c,
                                          state_dtype="f64", seed=11,
                                          model_from_query=model_from_query)
        self.addCleanup(opt.close)
        tps = opt.ticks_per_step
        self.assertIn(tps, (L, L + 1))
        self.assertEqual(tps, L + 1)  # lua variant (the default): extra tick at x

        ref = copy.deepcopy(model)

        def loss_grad(values, key):
            with torch.no_grad():
                for n, p in ref.named_parameters():
                    p.copy_(torch.from_numpy(np.asarray(values[n]).reshape(p.shape)))
            ref.zero_grad()
            xb, yb = batch_of(x, y, key)
            loss = F.cross_entropy(ref(xb), yb)
            loss.backward()
            return float(loss), OrderedDict((n, p.grad.numpy().copy())
                                            for n, p in ref.named_parameters())

        sess = self.c.create_session(init, optimizer=spec, state_dtype="f64", wire_dtype="f64",
                                     seed=11)
        self.addCleanup(sess.delete)

        n_calls = 0
        for s in range(steps):
            def closure():
                nonlocal n_calls
                n_calls += 1
                xb, yb = batch_of(x, y, opt.minibatch_key)
                opt.zero_grad()
                loss = F.cross_entropy(model(xb), yb)
                loss.backward()
                return loss

            before = n_calls
            opt.step(closure)
            self.assertEqual(n_calls - before, tps)
            for _ in range(tps):
                q = sess.query()
                loss, g = loss_grad(q.params, q.minibatch_key)
                sess.tell(g, loss)
            direct = sess.model(dtype="f64")
            for n, p in model.named_parameters():
                np.testing.assert_array_equal(p.detach().numpy(), direct[n].reshape(p.shape))
        self.assertEqual(n_calls, steps * tps)
        # and the model moved
        self.assertGreater(max(float(np.abs(direct[n] - init[n]).max()) for n in init), 0.0)

    # -------------------------------------------------------------------------- state dicts
    def test_state_dict_round_trip(self):
        for model_from_query in (False, True):
            with self.subTest(model_from_query=model_from_query):
                self._state_dict_round_trip(model_from_query)

    def _state_dict_round_trip(self, model_from_query):
        model = make_mlp(8, torch.float32)
        x, y = make_data(9, 64, torch.float32)
        opt = basin.torch.RemoteOptimizer(model.named_parameters(),
                                          basin.SGD(lr=0.1, momentum=0.9), client=self.c,
                                          model_from_query=model_from_query)
        self.addCleanup(opt.close)

        def closure():
            xb, yb = batch_of(x, y, opt.tick)
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        state = opt.state_dict()
        saved = [p.detach().clone() for p in model.parameters()]
        for _ in range(3):
            opt.step(closure)
        after = [p.detach().clone() for p in model.parameters()]
        opt.load_state_dict(state)  # back to step 3, momentum included
        for p, v in zip(model.parameters(), saved):
            torch.testing.assert_close(p.detach(), v, rtol=0, atol=0)
        for _ in range(3):
            opt.step(closure)
        for p, v in zip(model.parameters(), after):
            torch.testing.assert_close(p.detach(), v, rtol=0, atol=0)


if __name__ == "__main__":
    unittest.main()
