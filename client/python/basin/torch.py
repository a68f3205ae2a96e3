"""basin.torch: a ``torch.optim.Optimizer`` whose state lives in a basin-server session.

    import basin, basin.torch
    opt = basin.torch.RemoteOptimizer(model.parameters(), basin.SGD(lr=0.1, momentum=0.9),
                                      target="127.0.0.1:50051")

    def closure():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    for _ in range(steps):
        loss = opt.step(closure)   # runs opt.ticks_per_step ticks, calls closure() once per tick
    opt.close()

At every tick the optimizer writes the server's query point into the parameters (in place, under
``torch.no_grad``), calls ``closure()``, and sends ``p.grad`` and the loss. After the last tick of
the outer step it writes the session's *model* point (GetParameters model) into the parameters, so
between steps the parameters are the model, as with any torch optimizer; ``step`` returns the
loss of the first closure call of the step.

The closure is required: SAM evaluates two points per step and Entropy-SGD L (+1). A closure that
must see the right minibatch reads ``opt.minibatch_key`` (ticks that must share a minibatch, SAM's
two, share the key; otherwise every tick has its own), ``opt.phase`` and ``opt.tick``.

The session is the source of truth: writing into the parameters between steps does not move the
optimizer (use ``opt.set_model()``), and changing ``param_groups[0]`` entries has no effect (the
hyper-parameters, schedules included, are the session's spec).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

__all__ = ["RemoteOptimizer"]


def _split_params(params) -> Tuple[List[str], List[torch.Tensor]]:
    """Accept tensors, (name, tensor) pairs (named_parameters()), or a dict name -> tensor."""
    if isinstance(params, torch.Tensor):
        raise TypeError("params must be an iterable of tensors or (name, tensor) pairs, "
                        "not a single tensor")
    if isinstance(params, dict):
        params = list(params.items())
    items = list(params)
    if not items:
        raise ValueError("RemoteOptimizer got an empty parameter list")
    if isinstance(items[0], dict):
        raise TypeError("RemoteOptimizer takes one parameter group: pass tensors or "
                        "(name, tensor) pairs, not param-group dicts")
    names: List[str] = []
    tensors: List[torch.Tensor] = []
    named = isinstance(items[0], (tuple, list))
    for i, it in enumerate(items):
        if named:
            if not (isinstance(it, (tuple, list)) and len(it) == 2):
                raise TypeError("mixing tensors and (name, tensor) pairs in params")
            name, t = it
            name = str(name)
        else:
            if isinstance(it, (tuple, list)):
                raise TypeError("mixing tensors and (name, tensor) pairs in params")
            name, t = "p%d" % i, it
        if not isinstance(t, torch.Tensor):
            raise TypeError("parameter %r is a %s, not a torch.Tensor" % (name, type(t).__name__))
        if not t.is_leaf:
            raise ValueError("parameter %r is not a leaf tensor" % name)
        if t.is_sparse or t.is_complex():
            raise ValueError("parameter %r: sparse and complex tensors are not supported" % name)
        names.append(name)
        tensors.append(t)
    if len(set(names)) != len(names):
        raise ValueError("duplicate parameter names: %s" % names)
    if len({id(t) for t in tensors}) != len(tensors):
        raise ValueError("a parameter appears twice in params")
    return names, tensors


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return np.ascontiguousarray(t.numpy())


class RemoteOptimizer(torch.optim.Optimizer):
    """A torch optimizer backed by a basin-server session (see the module docstring).

    Arguments:
      params: an iterable of tensors (named p0, p1, ...) or of (name, tensor) pairs
        (``model.named_parameters()``), or a dict name -> tensor. One parameter group.
      spec: an optimizer spec, e.g. ``basin.SGD(lr=0.1)``, ``basin.SAM(...)``,
        ``basin.EntropySGD(...)``, ``basin.EMCMC(...)``.
      target: the server address (ignored when ``client`` is given).
      client: an existing ``basin.Client`` to use instead of connecting to ``target``.
      delete_on_close: delete the server session in ``close()`` (default True: the optimizer
        created it).
      model_from_query: after a step, take the model from the next tick's query point (phase 0
        of every optimizer is the model: θ, SAM's w, Entropy-SGD's x) instead of a GetParameters
        call. Same values when the wire dtype is exact (f32 for an f32 state, f64); saves one
        RPC per step (GetParameters of a 200k-parameter model costs ~15 ms on a fresh call). Off
        by default; refused with a lossy wire dtype (bf16, f16).
      **session_options: passed to ``Client.create_session`` (seed, state_dtype, wire_dtype,
        samples, workers, metrics_run, request_id, ...).
    """

    def __init__(self, params, spec, target: str = "127.0.0.1:50051", *,
                 client=None, delete_on_close: bool = True, model_from_query: bool = False,
                 **session_options):
        import basin  # the package this module belongs to

        names, tensors = _split_params(params)
        super().__init__([{"params": tensors}], defaults={})
        self.names: List[str] = names
        self.spec = spec
        self._owns_client = client is None
        self.client = client if client is not None else basin.Client(target)
        self._delete_on_close = delete_on_close
        # An f64 session reads and writes f64 on the wire unless told otherwise, so double
        # tensors see the server's values exactly.
        state_dtype = session_options.get("state_dtype", "f32")
        if state_dtype == "f64":
            session_options.setdefault("wire_dtype", "f64")
        self._read_dtype = "f64" if state_dtype == "f64" else "f32"
        self._wire_dtype = session_options.get("wire_dtype", "f32")
        if model_from_query and self._wire_dtype not in ("f32", "f64") or (
                model_from_query and self._wire_dtype == "f32" and state_dtype == "f64"):
            raise ValueError("model_from_query needs an exact wire dtype (f32 with an f32 state, "
                             "or f64), got wire_dtype=%r, state_dtype=%r"
                             % (self._wire_dtype, state_dtype))
        self._model_from_query = model_from_query
        self._next = None  # the next tick's query point, fetched at the end of a step
        initial = OrderedDict((n, _to_numpy(t)) for n, t in zip(names, tensors))
        self.session = self.client.create_session(initial, optimizer=spec, **session_options)
        self.ticks_per_step: int = int(self.session.ticks_per_step)
        self.tick: Optional[int] = None
        self.phase: Optional[int] = None
        self.minibatch_key: Optional[int] = None
        self.last_losses: List[float] = []
        self._closed = False

    # ----------------------------------------------------------------- helpers
    @property
    def params(self) -> List[torch.Tensor]:
        return self.param_groups[0]["params"]

    def _write(self, values: Dict[str, np.ndarray]) -> None:
        with torch.no_grad():
            for name, p in zip(self.names, self.params):
                v = values[name]
                src = torch.from_numpy(np.asarray(v).reshape(tuple(p.shape)))
                p.copy_(src)  # converts dtype and device

    def _grads(self) -> "OrderedDict[str, np.ndarray]":
        out = OrderedDict()
        for name, p in zip(self.names, self.params):
            if p.grad is None:
                out[name] = np.zeros(tuple(p.shape), dtype=np.float64 if p.dtype == torch.float64
                                     else np.float32)
            else:
                if p.grad.is_sparse:
                    raise RuntimeError("parameter %r has a sparse gradient: not supported" % name)
                out[name] = _to_numpy(p.grad)
        return out

    def _check_open(self):
        if self._closed:
            raise RuntimeError("RemoteOptimizer is closed")

    # ------------------------------------------------------------------- step
    def step(self, closure: Optional[Callable[[], Any]] = None, batch_size: float = 1.0):
        """One outer step: ``ticks_per_step`` ticks, ``closure()`` once per tick.

        Returns the loss of the first closure call (what torch optimizers return)."""
        if closure is None:
            raise ValueError(
                "RemoteOptimizer.step needs a closure: the server chooses the point where each "
                "gradient is taken (SAM: 2 per step, Entropy-SGD: L or L+1), so pass "
                "closure() that zeroes the grads, computes the loss, calls backward() and "
                "returns the loss")
        self._check_open()
        first = None
        losses = []
        # Normally phases 0 .. ticks_per_step-1; after a closure raised mid-step, the session is
        # still in that step and this call finishes it (from the phase the server asks for).
        q, self._next = (self._next if self._next is not None else self.session.query()), None
        while True:
            self.tick, self.phase, self.minibatch_key = q.tick, q.phase, q.minibatch_key
            try:
                self._write(q.params)
                with torch.enable_grad():
                    loss = closure()
                if loss is None:
                    raise ValueError("the closure must return the loss")
                lv = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
                if not math.isfinite(lv):
                    raise FloatingPointError("the closure returned a non-finite loss %r at tick "
                                             "%d (phase %d)" % (lv, q.tick, q.phase))
                grads = self._grads()
            except BaseException:
                # The stream does not send this tick again: keep it for the next step() call.
                self._next = q
                raise
            if first is None:
                first = loss
            losses.append(lv)
            self.session.tell(grads, lv, batch_size=batch_size)
            if q.phase >= self.ticks_per_step - 1:
                break
            q = self.session.query()
        self.last_losses = losses
        if self._model_from_query:
            q = self.session.query()
            if q.phase != 0:
                raise RuntimeError("model_from_query: the next query point is at phase %d, not 0"
                                   % q.phase)
            self._next = q
            self._write(q.params)
        else:
            self._write(self.session.model(dtype=self._read_dtype))
        return first

    # ------------------------------------------------------- model / samples
    def set_model(self, params=None) -> None:
        """Overwrite the session's model (between steps) with ``params`` (dict name -> array),
        or, by default, with the current values of the parameters."""
        self._check_open()
        if params is None:
            params = OrderedDict((n, _to_numpy(p)) for n, p in zip(self.names, self.params))
        self.session.set_model(params)
        # The Train stream already carries the next tick's query point, taken before the put,
        # and a stream never sends a tick twice: end it (and forget a cached point) so that the
        # next step re-attaches and starts from the new model.
        self._next = None
        self.session.close()
        self._write(self.session.model(dtype=self._read_dtype))

    def load_values(self, values: Dict[str, np.ndarray]) -> None:
        """Write ``values`` (dict name -> array, e.g. a sample) into the parameters (no RPC)."""
        self._write(values)

    def model(self):
        """The session's model point (dict name -> array)."""
        return self.session.model(dtype=self._read_dtype)

    def anchor(self):
        """EMCMC's anchor θa (dict name -> array)."""
        return self.session.anchor(dtype=self._read_dtype)

    def samples(self):
        """The collected samples: a list of (SampleInfo, dict name -> array), oldest first."""
        return self.session.samples(dtype=self._read_dtype)

    # ----------------------------------------------------------- state dicts
    def state_dict(self) -> Dict[str, Any]:
        """The whole optimizer state: a server checkpoint (ExportSession) plus the layout."""
        self._check_open()
        try:
            blob = self.session.checkpoint()
        except (AttributeError, NotImplementedError) as e:
            raise NotImplementedError(
                "RemoteOptimizer.state_dict needs the server's ExportSession RPC "
                "(Session.checkpoint()), which this client/server does not provide: %s" % e)
        return {"basin_checkpoint": bytes(blob), "names": list(self.names),
                "ticks_per_step": self.ticks_per_step}

    def load_state_dict(self, state_dict: Dict[str, Any]) -> None:
        """Restore a ``state_dict()``: ImportSession creates the session again; it replaces this
        optimizer's session (the old one is closed and, if owned, deleted) and its model is
        written into the parameters."""
        self._check_open()
        if "basin_checkpoint" not in state_dict:
            raise ValueError("not a RemoteOptimizer state_dict (no 'basin_checkpoint')")
        if list(state_dict.get("names", self.names)) != list(self.names):
            raise ValueError("state_dict layout %s does not match the parameters %s"
                             % (state_dict.get("names"), self.names))
        restore = getattr(self.client, "restore_session", None)
        if restore is None:
            raise NotImplementedError(
                "RemoteOptimizer.load_state_dict needs the server's ImportSession RPC "
                "(Client.restore_session()), which this client does not provide")
        new = restore(state_dict["basin_checkpoint"])
        if self._wire_dtype != "f32" and hasattr(self.client, "get_session"):
            new = self.client.get_session(new.id, wire_dtype=self._wire_dtype)
        old = self.session
        self.session = new
        self._next = None
        self.ticks_per_step = int(new.ticks_per_step)
        if old is not None and getattr(old, "id", None) != getattr(new, "id", None):
            try:
                old.close()
                if self._delete_on_close:
                    old.delete()
            except Exception:  # the old session may already be gone
                pass
        self._write(self.session.model(dtype=self._read_dtype))

    # ---------------------------------------------------------------- closing
    def close(self) -> None:
        """End the Train stream and (delete_on_close) delete the server session."""
        if self._closed:
            return
        self._closed = True
        try:
            self.session.close()
            if self._delete_on_close:
                self.session.delete()
        finally:
            if self._owns_client and hasattr(self.client, "close"):
                self.client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        sid = getattr(getattr(self, "session", None), "id", "?")
        return "RemoteOptimizer(session=%s, ticks_per_step=%s, params=%s)" % (
            sid, getattr(self, "ticks_per_step", "?"), getattr(self, "names", "?"))
