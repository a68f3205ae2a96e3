"""The basin.v1 client: Client (one channel) and Session (one optimizer run, one Train stream).

Every failed call raises :class:`BasinError` with the gRPC status code and the server's message
(docs/protocol.md, "Status codes"). The tick protocol is ask/tell::

    q = sess.query()                       # where the session wants the next gradient
    loss, grads = f(q.params, q.minibatch_key)
    ack = sess.tell(grads, loss)           # sends the gradient for q.tick, waits for its ack
"""

from __future__ import annotations

import dataclasses
import queue
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, TypeVar, Union

import grpc
import numpy as np

from basin import tensors
from basin._health import health_pb2, health_pb2_grpc
from basin.v1 import optimizer_config_pb2 as cfg
from basin.v1 import optimizer_service_pb2 as pb
from basin.v1 import optimizer_service_pb2_grpc as pb_grpc

Arrays = Dict[str, np.ndarray]
Gradient = Union[Mapping[str, np.ndarray], np.ndarray]
T = TypeVar("T")

_OUTCOMES = {
    pb.TickAck.OUTCOME_APPLIED: "applied",
    pb.TickAck.OUTCOME_DUPLICATE: "duplicate",
    pb.TickAck.OUTCOME_DROPPED: "dropped",
    pb.TickAck.OUTCOME_SKIPPED: "skipped",
}
_SETS = {pb.PARAMETER_SET_MODEL: "model", pb.PARAMETER_SET_ANCHOR: "anchor"}
_STATE_DTYPES = {"f32": pb.DTYPE_F32, "f64": pb.DTYPE_F64}
_NONFINITE_POLICIES = {"reject": pb.NONFINITE_POLICY_REJECT, "skip": pb.NONFINITE_POLICY_SKIP}


class BasinError(Exception):
    """A failed basin call: ``code`` is the grpc.StatusCode, ``message`` the server's reason."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc(cls, error: grpc.RpcError) -> "BasinError":
        code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code or grpc.StatusCode.UNKNOWN, details or "")


@dataclasses.dataclass(frozen=True)
class Query:
    """The query point of one tick: where the session wants the next gradient.

    ``params`` maps each tensor name to its values (float32; float64 with wire dtype f64). Ticks
    that must see the same minibatch (SAM's two) share ``minibatch_key``.
    """

    tick: int
    step: int
    phase: int
    minibatch_key: int
    params: Arrays


@dataclasses.dataclass(frozen=True)
class TickAck:
    """The server's answer to one gradient: outcome "applied", "duplicate", "dropped" or "skipped".

    "skipped" (a session with ``nonfinite_policy="skip"``): the gradient or loss held NaN or Inf and
    nothing moved; the next :meth:`Session.query` returns the same tick again.
    """

    tick: int
    outcome: str
    session_tick: int


@dataclasses.dataclass(frozen=True)
class SampleInfo:
    """A collected sample: its index, the outer step after which it was taken, model or anchor."""

    index: int
    step: int
    which: str


@dataclasses.dataclass(frozen=True)
class TLS:
    """TLS settings: PEM file paths (a root certificate, and a client pair for mutual TLS).

    ``server_name`` is the name the server's certificate must carry when it is not the target's
    host (e.g. a certificate for "basin.example" reached at "10.0.0.7:50051").
    """

    root_cert: Optional[str] = None
    client_cert: Optional[str] = None
    client_key: Optional[str] = None
    server_name: Optional[str] = None


def _read(path: Optional[str]) -> Optional[bytes]:
    if path is None:
        return None
    with open(path, "rb") as f:
        return f.read()


def _credentials(tls: TLS) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls.root_cert),
        private_key=_read(tls.client_key),
        certificate_chain=_read(tls.client_cert),
    )


def _chunks(layout: tensors.Layout, arrays: Gradient, dtype: Union[str, int]) -> List[pb.TensorChunk]:
    """The chunks of ``arrays``; a mismatch with the layout is INVALID_ARGUMENT, as the server says."""
    try:
        return list(tensors.chunks_of(layout, arrays, dtype))
    except ValueError as e:
        raise BasinError(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None


def _from_server(fn: Callable[[], T]) -> T:
    """Runs an Assembler step on data the server sent; data that does not fit the layout is INTERNAL."""
    try:
        return fn()
    except ValueError as e:
        raise BasinError(grpc.StatusCode.INTERNAL, f"the server sent bad tensor data: {e}") from None


def _call(fn: Callable[[], T]) -> T:
    """Runs one RPC, turning grpc.RpcError into BasinError."""
    try:
        return fn()
    except grpc.RpcError as e:
        raise BasinError.from_rpc(e) from None


class Client:
    """A channel to basin-server.

    ``token``, when given, is sent as ``authorization: Bearer <token>`` metadata on every call,
    Train included: a server with ``--auth_tokens_file`` needs it and shows the token's tenant
    only its own sessions (docs/security.md). ``tls`` is None (plaintext) or a :class:`TLS` (or
    a dict of its fields). ``timeout`` (seconds) bounds each unary call and parameter transfer; the Train
    stream has none.
    """

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        token: Optional[str] = None,
        tls: Optional[Union[TLS, Mapping[str, str]]] = None,
        timeout: float = 30.0,
    ) -> None:
        options: List[Tuple[str, Any]] = [
            # Keepalive within what basin-server accepts (a ping every 10 s at the most).
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.max_receive_message_length", 64 << 20),
        ]
        if tls is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            if isinstance(tls, Mapping):
                tls = TLS(**tls)
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self._channel = grpc.secure_channel(target, _credentials(tls), options=options)
        self.target = target
        self.timeout = timeout
        self.metadata: Tuple[Tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        self.stub = pb_grpc.OptimizerStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self) -> None:
        """Closes the channel."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def health(self, service: str = "") -> str:
        """"SERVING", "NOT_SERVING", ... of grpc.health.v1 for ``service`` ("" = the server)."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = _call(lambda: self._health.Check(request, timeout=self.timeout, metadata=self.metadata))
        return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)

    def unary(self, method: str, request: Any) -> Any:
        """Calls the unary RPC ``method`` of basin.v1.Optimizer with this client's timeout and token."""
        fn = getattr(self.stub, method)
        return _call(lambda: fn(request, timeout=self.timeout, metadata=self.metadata))

    def create_session(
        self,
        params: Mapping[str, np.ndarray],
        optimizer: cfg.OptimizerConfig,
        seed: int = 0,
        state_dtype: str = "f32",
        wire_dtype: str = "f32",
        workers: Optional[pb.WorkerPolicy] = None,
        samples: Optional[cfg.SampleCollection] = None,
        metrics_run: str = "",
        request_id: str = "",
        worker_id: int = 0,
        delete_on_exit: bool = False,
        nonfinite_policy: str = "reject",
    ) -> "Session":
        """Creates a session whose layout and initial values are ``params``.

        ``params`` maps tensor names to arrays; the insertion order is the layout order.
        ``state_dtype`` is the server's precision ("f32" or "f64"); ``wire_dtype`` ("f32", "f64",
        "bf16", "f16") is how query points and gradients travel. ``workers``, ``samples``: see
        :func:`basin.Workers`, :func:`basin.Samples`. The returned Session is worker ``worker_id``.
        ``nonfinite_policy`` says what the server does with a gradient or loss holding NaN or Inf:
        "reject" (INVALID_ARGUMENT) or "skip" (acknowledged "skipped"; the tick is asked for again).
        """
        if state_dtype not in _STATE_DTYPES:
            raise ValueError(f"state_dtype must be 'f32' or 'f64', got {state_dtype!r}")
        if nonfinite_policy not in _NONFINITE_POLICIES:
            raise ValueError(f"nonfinite_policy must be 'reject' or 'skip', got {nonfinite_policy!r}")
        spec = pb.SessionSpec(
            tensors=tensors.layout_from_arrays(params),
            state_dtype=_STATE_DTYPES[state_dtype],
            optimizer=optimizer,
            seed=seed,
            metrics_run=metrics_run,
            nonfinite_policy=_NONFINITE_POLICIES[nonfinite_policy],
        )
        if samples is not None:
            spec.samples.CopyFrom(samples)
        if workers is not None:
            spec.workers.CopyFrom(workers)
        layout = [(t.name, tuple(t.shape)) for t in spec.tensors]
        chunks = _chunks(layout, params, "f64" if state_dtype == "f64" else "f32")
        # Initial values ride in the request while they fit one chunk; a larger model is put after.
        inline = sum(len(c.data) for c in chunks) <= tensors.DEFAULT_CHUNK_BYTES
        request = pb.CreateSessionRequest(spec=spec, request_id=request_id, initial_values=chunks if inline else [])
        info = self.unary("CreateSession", request)
        session = Session(self, info, wire_dtype=wire_dtype, worker_id=worker_id, delete_on_exit=delete_on_exit)
        if not inline:
            session.set_model(params)
            if optimizer.WhichOneof("optimizer") == "emcmc":  # the anchor starts as a copy of the model
                session.set_anchor(params)
        return session

    def get_session(self, session_id: str, worker_id: int = 0, wire_dtype: str = "f32") -> "Session":
        """A handle on an existing session, as worker ``worker_id``."""
        info = self.unary("GetSession", pb.GetSessionRequest(session_id=session_id))
        return Session(self, info, wire_dtype=wire_dtype, worker_id=worker_id)

    def list_sessions(self) -> List[pb.Session]:
        """Every session of the server (of this client's tenant), following pages."""
        out: List[pb.Session] = []
        request = pb.ListSessionsRequest()
        while True:
            page = self.unary("ListSessions", request)
            out.extend(page.sessions)
            if not page.next_page_token:
                return out
            request.page_token = page.next_page_token

    def restore_session(
        self, checkpoint: bytes, request_id: str = "", metrics_run: str = "", worker_id: int = 0
    ) -> "Session":
        """A new session continuing the one :meth:`Session.checkpoint` saved (ImportSession)."""

        def requests() -> Iterator[pb.ImportSessionRequest]:
            yield pb.ImportSessionRequest(header=pb.ImportHeader(request_id=request_id, metrics_run=metrics_run))
            for start in range(0, len(checkpoint), tensors.DEFAULT_CHUNK_BYTES):
                yield pb.ImportSessionRequest(data=checkpoint[start : start + tensors.DEFAULT_CHUNK_BYTES])

        info = _call(lambda: self.stub.ImportSession(requests(), timeout=self.timeout, metadata=self.metadata))
        return Session(self, info, worker_id=worker_id)

    # --- server-side checkpoints (a server with a data directory) --------------------------------

    def save_checkpoint(self, session_id: str, checkpoint_id: str = "") -> pb.CheckpointInfo:
        """Keeps the session's checkpoint on the server under ``checkpoint_id`` ("" lets it choose)."""
        return self.unary("Checkpoint", pb.CheckpointRequest(session_id=session_id, checkpoint_id=checkpoint_id))

    def list_checkpoints(self) -> List[pb.CheckpointInfo]:
        """This client's tenant's server-side checkpoints, by id (a damaged one has ``damage`` set)."""
        return list(self.unary("ListCheckpoints", pb.ListCheckpointsRequest()).checkpoints)

    def delete_checkpoint(self, checkpoint_id: str) -> None:
        self.unary("DeleteCheckpoint", pb.DeleteCheckpointRequest(checkpoint_id=checkpoint_id))

    def resume_checkpoint(
        self,
        checkpoint_id: str,
        request_id: str = "",
        metrics_run: str = "",
        durability: Optional[pb.Durability] = None,
        worker_id: int = 0,
        wire_dtype: str = "f32",
    ) -> "Session":
        """A new session continuing a server-side checkpoint bit for bit (CreateSession from_checkpoint)."""
        spec = pb.SessionSpec(metrics_run=metrics_run)
        if durability is not None:
            spec.durability.CopyFrom(durability)
        request = pb.CreateSessionRequest(spec=spec, request_id=request_id, from_checkpoint=checkpoint_id)
        info = self.unary("CreateSession", request)
        return Session(self, info, wire_dtype=wire_dtype, worker_id=worker_id)


class _TrainStream:
    """One Train call: a request queue feeding grpc's blocking bidi API, and its response iterator."""

    _END = object()

    def __init__(self, client: Client, attach: pb.Attach) -> None:
        self._requests: "queue.Queue[Any]" = queue.Queue()
        self._requests.put(pb.TrainRequest(attach=attach))
        self._call = client.stub.Train(iter(self._requests.get, self._END), metadata=client.metadata)

    def send(self, request: pb.TrainRequest) -> None:
        self._requests.put(request)

    def recv(self) -> pb.TrainResponse:
        """The next response; raises grpc.RpcError, or BasinError if the stream ended early."""
        try:
            return next(self._call)
        except StopIteration:
            raise BasinError(grpc.StatusCode.UNAVAILABLE, "the server ended the Train stream") from None

    def close(self) -> None:
        """Half-closes and waits for the server's final status (raised if not OK)."""
        self._requests.put(self._END)
        for _ in self._call:  # a query point sent after the last ack
            pass

    def cancel(self) -> None:
        self._requests.put(self._END)
        self._call.cancel()


class Session:
    """One optimizer session, driven as one worker through a Train stream held open.

    Create it with :meth:`Client.create_session` (or :meth:`Client.get_session`). The stream is
    opened on the first :meth:`query` and re-opened after a refused gradient or a lost connection.
    Not thread-safe: use one Session object per worker thread.
    """

    #: How often :meth:`query` and :meth:`tell` re-attach after UNAVAILABLE before giving up.
    retries = 5
    #: First wait between re-attach attempts, in seconds (doubled each time).
    retry_backoff = 0.2

    def __init__(
        self,
        client: Client,
        info: pb.Session,
        wire_dtype: str = "f32",
        worker_id: int = 0,
        delete_on_exit: bool = False,
    ) -> None:
        self.client = client
        self.id: str = info.session_id
        self.ticks_per_step: int = info.ticks_per_step
        self.layout = tensors.layout_of(info)
        self.worker_id = worker_id
        self.wire_dtype = wire_dtype
        self.delete_on_exit = delete_on_exit
        self._wire = tensors.wire_dtype(wire_dtype)
        self._stream: Optional[_TrainStream] = None
        self._last_query: Optional[Query] = None  # the query point the next tell answers
        self._pending: Optional[Query] = None  # a query point received but not yet returned
        self._partial: Optional[Tuple[pb.QueryChunk, tensors.Assembler]] = None

    # --- the tick protocol ----------------------------------------------------------------------

    def query(self) -> Query:
        """Waits for the query point of the session's next tick."""
        if self._pending is None:
            self._pending = self._with_reattach(self._read_query)
        self._last_query, self._pending = self._pending, None
        return self._last_query

    def tell(self, grads: Gradient, loss: float, batch_size: float = 1.0) -> TickAck:
        """Sends the gradient at the last query point and waits for its ack.

        ``grads`` maps every tensor name to its gradient (or is one flat array in layout order);
        ``loss`` is the minibatch-mean loss there. If the connection is lost, the stream is
        re-attached and the same tick re-sent: the server applies a tick once, so a retry whose
        first attempt got through is acknowledged "duplicate". An ack "skipped" (NaN or Inf under
        ``nonfinite_policy="skip"``) moved nothing: :meth:`query` gives the same tick again.
        """
        if self._last_query is None:
            raise RuntimeError("tell() needs a query() first")
        tick = self._last_query.tick
        chunks = _chunks(self.layout, grads, self._wire)
        requests = [pb.TrainRequest(gradient=pb.GradientChunk(tick=tick, chunk=c)) for c in chunks]
        if not requests:  # a layout of empty tensors still needs a last chunk
            requests = [pb.TrainRequest(gradient=pb.GradientChunk(tick=tick))]
        last = requests[-1].gradient
        last.last, last.loss, last.batch_size = True, float(loss), float(batch_size)

        def attempt() -> TickAck:
            stream = self._attached()
            for r in requests:
                stream.send(r)
            return self._read_ack(tick)

        ack = self._with_reattach(attempt)
        self._last_query = None
        return ack

    def close(self) -> None:
        """Ends the Train stream (the session stays on the server)."""
        stream, self._stream = self._stream, None
        self._partial = None
        if stream is not None:
            _call(stream.close)

    def delete(self) -> None:
        """Ends the stream and deletes the session on the server."""
        try:
            self.close()
        finally:
            self.client.unary("DeleteSession", pb.DeleteSessionRequest(session_id=self.id))

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.delete_on_exit:
            self.delete()
        else:
            self.close()

    # --- state ----------------------------------------------------------------------------------

    def info(self) -> pb.Session:
        """The Session message: tick, step, phase and the spec as the server runs it."""
        return self.client.unary("GetSession", pb.GetSessionRequest(session_id=self.id))

    def model(self, dtype: str = "f32") -> Arrays:
        """The model (x for Entropy-SGD, w for SAM, θ otherwise)."""
        return self._get(pb.PARAMETER_SET_MODEL, dtype=dtype)

    def anchor(self, dtype: str = "f32") -> Arrays:
        """EMCMC's anchor θa (FAILED_PRECONDITION for other optimizers)."""
        return self._get(pb.PARAMETER_SET_ANCHOR, dtype=dtype)

    def query_point(self, dtype: str = "f32") -> Arrays:
        """The current query point, read without the Train stream."""
        return self._get(pb.PARAMETER_SET_QUERY, dtype=dtype)

    def set_model(self, params: Gradient) -> None:
        """Overwrites the model (between outer steps only: FAILED_PRECONDITION otherwise)."""
        self._put(pb.PARAMETER_SET_MODEL, params)

    def set_anchor(self, params: Gradient) -> None:
        """Overwrites EMCMC's anchor (between outer steps only)."""
        self._put(pb.PARAMETER_SET_ANCHOR, params)

    def samples(self, dtype: str = "f32") -> List[Tuple[SampleInfo, Arrays]]:
        """Every collected sample, oldest first, with its values."""
        listed = self.client.unary("ListSamples", pb.ListSamplesRequest(session_id=self.id))
        return [
            (
                SampleInfo(s.index, s.step, _SETS.get(s.which, "model")),
                self._get(pb.PARAMETER_SET_SAMPLE, sample_index=s.index, dtype=dtype),
            )
            for s in listed.samples
        ]

    def stats(self) -> Dict[str, Union[int, float]]:
        """The SessionStats fields (tick, step, lr, last_loss, distance_to_anchor, ...) as a dict."""
        stats = self.client.unary("GetSessionStats", pb.GetSessionStatsRequest(session_id=self.id))
        return {f.name: getattr(stats, f.name) for f in stats.DESCRIPTOR.fields}

    def checkpoint(self) -> bytes:
        """Everything needed to continue this session bit for bit (ExportSession), as bytes."""
        request = pb.ExportSessionRequest(session_id=self.id)
        c = self.client
        return _call(lambda: b"".join(m.data for m in c.stub.ExportSession(request, timeout=c.timeout,
                                                                           metadata=c.metadata)))  # fmt: skip

    # --- internals ------------------------------------------------------------------------------

    def _get(self, which: int, sample_index: int = 0, dtype: str = "f32") -> Arrays:
        code = tensors.wire_dtype(dtype)
        request = pb.GetParametersRequest(session_id=self.id, which=which, sample_index=sample_index, dtype=code)
        assembler = tensors.Assembler(self.layout, float64=code == pb.DTYPE_F64)
        c = self.client

        def read() -> Arrays:
            for response in c.stub.GetParameters(request, timeout=c.timeout, metadata=c.metadata):
                _from_server(lambda: assembler.add(response.chunk))
            return _from_server(assembler.finish)

        return _call(read)

    def _put(self, which: int, params: Gradient) -> None:
        chunks = _chunks(self.layout, params, "f64")  # exact for either state dtype

        def requests() -> Iterator[pb.PutParametersRequest]:
            yield pb.PutParametersRequest(target=pb.PutTarget(session_id=self.id, which=which))
            for chunk in chunks:
                yield pb.PutParametersRequest(chunk=chunk)

        c = self.client
        _call(lambda: c.stub.PutParameters(requests(), timeout=c.timeout, metadata=c.metadata))
        # The open stream already sent this tick's query point and never sends a tick twice: a new
        # stream starts from the point the new values made.
        self._drop_stream()

    def _attached(self) -> _TrainStream:
        if self._stream is None:
            attach = pb.Attach(session_id=self.id, worker_id=self.worker_id, query_dtype=self._wire,
                               max_chunk_bytes=tensors.DEFAULT_CHUNK_BYTES)  # fmt: skip
            self._stream = _TrainStream(self.client, attach)
        return self._stream

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        # A new stream starts with the current query point; anything half-read is stale.
        self._stream, self._partial, self._pending = None, None, None

    def _with_reattach(self, fn: Callable[[], T]) -> T:
        """Runs ``fn``; on UNAVAILABLE re-attaches and runs it again (``retries`` times)."""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except (grpc.RpcError, BasinError) as e:
                error = e if isinstance(e, BasinError) else BasinError.from_rpc(e)
                self._drop_stream()
                if error.code != grpc.StatusCode.UNAVAILABLE or attempt == self.retries:
                    raise error from None
                time.sleep(self.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    def _read_query(self) -> Query:
        """Reads until a whole query point arrived (acks of earlier ticks are skipped)."""
        stream = self._attached()
        while True:
            query = self._consume(stream.recv())
            if query is not None:
                return query

    def _read_ack(self, tick: int) -> TickAck:
        """Reads until the ack of ``tick``, keeping a later query point that arrives first."""
        stream = self._attached()
        while True:
            response = stream.recv()
            if response.HasField("ack") and response.ack.tick == tick:
                a = response.ack
                return TickAck(a.tick, _OUTCOMES.get(a.outcome, "unspecified"), a.session_tick)
            query = self._consume(response)
            if query is not None and query.tick > tick:
                self._pending = query

    def _consume(self, response: pb.TrainResponse) -> Optional[Query]:
        """Adds a query chunk; returns the Query when its last chunk arrived."""
        if not response.HasField("query"):
            return None
        q = response.query
        if self._partial is None or self._partial[0].tick != q.tick:
            self._partial = (q, tensors.Assembler(self.layout, float64=self._wire == pb.DTYPE_F64))
        head, assembler = self._partial
        if q.chunk.tensor:  # a layout of empty tensors has a query point without elements
            _from_server(lambda: assembler.add(q.chunk))
        if not q.last:
            return None
        self._partial = None
        return Query(head.tick, head.step, head.phase, head.minibatch_key, _from_server(assembler.finish))
