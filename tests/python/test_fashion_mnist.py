"""examples/python/fashion_mnist.py, short: SGD, Entropy-SGD and EMCMC (BMA) through a live server.

A 784-100-10 MLP on 20000 training images, 600 gradient evaluations (ticks) per optimizer,
batch 64, evaluated on the first 5000 test images. Reference numbers (seeds 0, 1, 2): SGD
82.4-84.2 %, Entropy-SGD 83.7-83.9 %, EMCMC single model 80.2-82.6 %, EMCMC BMA of 16 samples
84.5-85.1 %; about 25 s on 2 cores. Needs torch and Debian's dataset-fashion-mnist (scripts/setup installs
both).
"""

from __future__ import annotations

import importlib.util
import os
import time
import unittest

import torch

import basin_test_server

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.environ.get("BASIN_FASHION_MNIST_EXAMPLE",
                         os.path.join(HERE, "..", "..", "examples", "python", "fashion_mnist.py"))
DATA = "/usr/share/datasets/fashion-mnist"


def load_example():
    spec = importlib.util.spec_from_file_location("fashion_mnist_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FashionMnistTest(basin_test_server.ServerTestCase):
    def test_short_run_reaches_80_percent(self):
        example = load_example()
        args = example.parse_args([
            "--optimizers", "sgd,esgd,emcmc", "--steps", "600", "--batch-size", "64",
            "--hidden", "100", "--train-subset", "20000", "--test-subset", "5000",
            "--seed", "0", "--threads", "1", "--no-progress",
            "--target", self.server.target,
        ])
        t0 = time.perf_counter()
        rows = example.run(args, client=self.client())
        print("\n" + example.format_table(rows) + "\n(%.1f s)" % (time.perf_counter() - t0))
        by = {(r["optimizer"], r["model"].split("(")[0]): r for r in rows}
        self.assertGreaterEqual(by["sgd", "single"]["acc"], 0.80)
        self.assertGreaterEqual(by["esgd", "single"]["acc"], 0.80)
        self.assertEqual(by["esgd", "single"]["ticks"], 600)  # 100 steps of L + 1 = 6 ticks
        bma = by["emcmc", "BMA"]
        self.assertEqual(bma["model"], "BMA(16)")  # θ and θa samples, max_samples 16
        self.assertGreaterEqual(bma["acc"], 0.80)
        # averaging the predictive probabilities helps the NLL over the single model
        self.assertLess(bma["nll"], by["emcmc", "single"]["nll"])
        for r in rows:
            self.assertLess(r["nll"], 0.7, r)


if __name__ == "__main__":
    unittest.main()
