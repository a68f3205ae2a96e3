"""basin: the Python client of basin-server (docs/clients.md, docs/protocol.md).

    import basin
    client = basin.Client("127.0.0.1:50051")
    sess = client.create_session({"w": w0}, optimizer=basin.SGD(lr=0.1))
    q = sess.query(); ack = sess.tell({"w": grad(q.params["w"])}, loss)

Needs grpcio, protobuf and numpy (on Debian: /usr/bin/python3 with python3-grpcio,
python3-protobuf, python3-numpy). ``basin.v1`` holds the generated protobuf modules.
"""

from basin.client import BasinError, Client, Query, SampleInfo, Session, TickAck, TLS
from basin.specs import EMCMC, SAM, SGD, SGLD, EntropySGD, Samples, Schedule, Workers
from basin.v1 import optimizer_config_pb2, optimizer_service_pb2

__all__ = [
    "BasinError",
    "Client",
    "EMCMC",
    "EntropySGD",
    "Query",
    "SAM",
    "SGD",
    "SGLD",
    "SampleInfo",
    "Samples",
    "Schedule",
    "Session",
    "TLS",
    "TickAck",
    "Workers",
    "optimizer_config_pb2",
    "optimizer_service_pb2",
]
