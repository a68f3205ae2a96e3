#!/usr/bin/python3
"""Fashion-MNIST through basin: an MLP trained with SGD, Entropy-SGD and Entropy-MCMC.

The model lives in torch; the optimizer state lives in a running basin-server session
(basin.torch.RemoteOptimizer). For EMCMC the session collects samples of the model θ and the
anchor θa (SampleCollection ``which="both"``) and the script reports the Bayesian model average
(BMA: the mean of the predictive probabilities over the samples) next to the single model.

    basin-server --listen=127.0.0.1:50051 &
    /usr/bin/python3 examples/python/fashion_mnist.py --optimizers sgd,esgd,emcmc --steps 2000

Data: the IDX files of Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/),
read with gzip + numpy (no torchvision). ``--steps`` is the budget of gradient evaluations
(ticks) per optimizer, so an Entropy-SGD outer step of L+1 ticks counts L+1: every optimizer
sees the same number of minibatches.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import basin
except ImportError:  # run from a source tree: examples/python -> client/python
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "client", "python"))
    import basin
import basin.torch  # noqa: E402
from basin.progress import ProgressBar  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
OPTIMIZERS = ("sgd", "esgd", "emcmc", "sam")


# ----------------------------------------------------------------------------------- data
def read_idx(path: str) -> np.ndarray:
    """An IDX file (optionally gzipped) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0:
        raise ValueError("%s: not an IDX file" % path)
    types = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype, ndim = types[data[2]], data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(root: str = DATA_DIR):
    """(x_train, y_train, x_test, y_test): images as float32 rows of 784 standardised pixels."""
    def images(name):
        return read_idx(os.path.join(root, name)).reshape(-1, 784).astype(np.float32) / 255.0
    def labels(name):
        return read_idx(os.path.join(root, name)).astype(np.int64)
    xtr, ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
    xte, yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")
    mean, std = xtr.mean(), xtr.std()  # 0.2860, 0.3530
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte


# ---------------------------------------------------------------------------------- model
def make_model(hidden: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch: int = 5000) -> torch.Tensor:
    return torch.cat([F.softmax(model(x[i:i + batch]), dim=1) for i in range(0, len(x), batch)])


def metrics(prob: torch.Tensor, y: torch.Tensor) -> Dict[str, float]:
    """Accuracy and NLL (mean −log p(y), with the 5e-44 floor of the EMCMC code)."""
    acc = (prob.argmax(1) == y).double().mean().item()
    nll = -torch.log(prob[torch.arange(len(y)), y].double() + 5e-44).mean().item()
    return {"acc": acc, "nll": nll}


# ------------------------------------------------------------------------------ optimizers
def make_spec(name: str, args, n_train: int):
    """The optimizer spec and the session options of one optimizer of the comparison."""
    if name == "sgd":
        return basin.SGD(lr=args.lr, momentum=0.9, nesterov=True), {}
    if name == "sam":
        return basin.SAM(lr=args.lr, rho=0.05, momentum=0.9, nesterov=True), {}
    if name == "esgd":
        # Lua semantics (the paper's experiments): inner Nesterov SGLD, x <- x - lr (x - mu).
        return basin.EntropySGD(lr=1.0, L=args.esgd_L, gamma=0.03, scoping=1e-3,
                                inner_lr=args.esgd_inner_lr, noise=1e-4), {}
    if name == "emcmc":
        # Code form (lblaoke/EMCMC units) with N = the training-set size; samples of θ and θa
        # from the second half of the run.
        outer = args.steps
        burn = outer // 2
        thin = max(1, (outer - burn) // max(1, args.emcmc_samples // 2))
        spec = basin.EMCMC(lr=args.emcmc_lr, form="code", eta=args.emcmc_eta,
                           temperature=args.emcmc_temperature, num_data=float(n_train),
                           weight_decay=5e-4, momentum=0.9)
        samples = basin.Samples("both", burn_in=burn, thin=thin, max_samples=args.emcmc_samples)
        return spec, {"samples": samples}
    raise ValueError("unknown optimizer %r (choose from %s)" % (name, ", ".join(OPTIMIZERS)))


def train_one(name: str, args, data, client, log=print) -> Dict[str, object]:
    """Train a fresh model with optimizer ``name`` through basin; returns the results row(s)."""
    xtr, ytr, xte, yte = data
    n = len(xtr)
    model = make_model(args.hidden, args.seed)
    spec, opts = make_spec(name, args, n)
    opt = basin.torch.RemoteOptimizer(model.named_parameters(), spec, client=client,
                                      seed=args.seed, model_from_query=not args.fetch_model,
                                      **opts)
    try:
        tps = opt.ticks_per_step
        outer = max(1, args.steps // tps)
        if name == "emcmc" and outer != args.steps:
            raise AssertionError("emcmc has one tick per step")
        B = args.batch_size

        def closure():
            # One minibatch per tick, keyed by the session's minibatch key (SAM's two ticks
            # share a key and therefore a minibatch).
            rng = np.random.default_rng([args.seed, int(opt.minibatch_key)])
            idx = torch.from_numpy(rng.integers(0, n, size=B))
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            return loss

        bar = ProgressBar(total=outer, label="%-6s" % name) if args.progress else None
        t0 = time.perf_counter()
        ema = None
        for s in range(outer):
            loss = float(opt.step(closure))
            ema = loss if ema is None else 0.98 * ema + 0.02 * loss
            if bar is not None:
                bar.update(s + 1, loss=ema)
        if bar is not None:
            bar.close()
        secs = time.perf_counter() - t0
        rows = []
        single = metrics(predict_proba(model, xte), yte)
        rows.append(OrderedDict(optimizer=name, model="single", steps=outer, ticks=outer * tps,
                                seconds=secs, **single))
        if name == "emcmc":
            samples = opt.samples()
            if samples:
                probs = None
                for _info, values in samples:
                    opt.load_values(values)
                    p = predict_proba(model, xte)
                    probs = p if probs is None else probs + p
                probs /= len(samples)
                bma = metrics(probs, yte)
                rows.append(OrderedDict(optimizer=name, model="BMA(%d)" % len(samples),
                                        steps=outer, ticks=outer * tps, seconds=secs, **bma))
                opt.load_values(opt.model())
        return {"rows": rows}
    finally:
        opt.close()


def run(args, client=None, log=print) -> List[Dict[str, object]]:
    """Every optimizer of ``args.optimizers``; returns the table rows."""
    torch.set_num_threads(args.threads)
    xtr, ytr, xte, yte = load_fashion_mnist(args.data)
    if args.train_subset and args.train_subset < len(xtr):
        pick = np.random.default_rng(args.seed).permutation(len(xtr))[: args.train_subset]
        xtr, ytr = xtr[pick], ytr[pick]
    if args.test_subset and args.test_subset < len(xte):
        xte, yte = xte[: args.test_subset], yte[: args.test_subset]
    data = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (xtr, ytr, xte, yte))
    own = client is None
    if own:
        client = basin.Client(args.target)
    try:
        rows: List[Dict[str, object]] = []
        for name in args.optimizers:
            rows.extend(train_one(name, args, data, client, log)["rows"])
        return rows
    finally:
        if own and hasattr(client, "close"):
            client.close()


def format_table(rows: Sequence[Dict[str, object]]) -> str:
    head = "%-8s %-10s %7s %7s %9s %8s %8s" % ("optimizer", "model", "steps", "ticks",
                                               "test acc", "test NLL", "seconds")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append("%-9s %-10s %7d %7d %8.2f%% %8.4f %8.1f" % (
            r["optimizer"], r["model"], r["steps"], r["ticks"], 100 * r["acc"], r["nll"],
            r["seconds"]))
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--target", default="127.0.0.1:50051", help="a running basin-server")
    p.add_argument("--optimizers", default="sgd,esgd,emcmc",
                   help="comma-separated, from " + ",".join(OPTIMIZERS))
    p.add_argument("--steps", type=int, default=2000,
                   help="gradient evaluations (ticks) per optimizer")
    p.add_argument("--batch-size", type=int, default=128, help="images per gradient")
    p.add_argument("--train-subset", type=int, default=0, help="0: all 60000 images")
    p.add_argument("--test-subset", type=int, default=0, help="0: all 10000 images")
    p.add_argument("--seed", type=int, default=0,
                   help="model init, subset, minibatches and the session noise")
    p.add_argument("--threads", type=int, default=1,
                   help="torch.set_num_threads (for this small MLP, 2 threads next to a busy "
                        "server on 2 cores were slower than 1)")
    p.add_argument("--hidden", type=int, default=256, help="hidden units of the 784-H-10 MLP")
    p.add_argument("--lr", type=float, default=0.05, help="SGD / SAM learning rate")
    p.add_argument("--esgd-L", type=int, default=5, help="Entropy-SGD inner ticks")
    p.add_argument("--esgd-inner-lr", type=float, default=0.05, help="Entropy-SGD inner_lr")
    p.add_argument("--emcmc-lr", type=float, default=0.05, help="EMCMC lr (code form, momentum 0.9)")
    p.add_argument("--emcmc-eta", type=float, default=4e-4, help="EMCMC coupling variance")
    p.add_argument("--emcmc-temperature", type=float, default=1e-4, help="EMCMC T")
    p.add_argument("--emcmc-samples", type=int, default=16,
                   help="samples kept (θ and θa, second half of the run) for the BMA")
    p.add_argument("--data", default=DATA_DIR)
    p.add_argument("--fetch-model", action="store_true",
                   help="read the model with GetParameters after every step instead of taking "
                        "it from the next query point (RemoteOptimizer model_from_query)")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    args = p.parse_args(argv)
    args.optimizers = [o.strip() for o in args.optimizers.split(",") if o.strip()]
    for o in args.optimizers:
        if o not in OPTIMIZERS:
            p.error("unknown optimizer %r (choose from %s)" % (o, ", ".join(OPTIMIZERS)))
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        rows = run(args)
    except basin.BasinError as e:
        print("basin error: %s (is a basin-server running at %s?)" % (e, args.target),
              file=sys.stderr)
        return 1
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
