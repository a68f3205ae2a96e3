"""Server-side checkpoints from Python: save, list, resume bit for bit, delete, against a
basin-server with a data directory."""

from __future__ import annotations

import shutil
import tempfile
import unittest

import grpc
import numpy as np

import basin
from basin_test_server import ServerTestCase

_DATA_DIR = tempfile.mkdtemp(prefix="basin-py-ckpt-")


def run(sess: basin.Session, ticks: int) -> None:
    for _ in range(ticks):
        q = sess.query()
        ack = sess.tell({k: 0.5 * v - 0.1 for k, v in q.params.items()}, 1.0)
        assert ack.outcome == "applied", ack


class ServerCheckpointTest(ServerTestCase):
    # The last --data_dir wins over the test server's --data_dir=none.
    server_args = [f"--data_dir={_DATA_DIR}"]

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        shutil.rmtree(_DATA_DIR, ignore_errors=True)

    def test_save_list_resume_delete(self) -> None:
        c = self.client()
        w0 = {"w": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)}
        original = c.create_session(w0, optimizer=basin.EMCMC(lr=0.05, temperature=0.01), seed=3)
        run(original, 4)
        info = c.save_checkpoint(original.id, "py-after-4")
        self.assertEqual((info.checkpoint_id, info.tick, info.optimizer), ("py-after-4", 4, "emcmc"))
        run(original, 5)
        self.assertIn("py-after-4", [i.checkpoint_id for i in c.list_checkpoints()])

        resumed = c.resume_checkpoint("py-after-4", metrics_run="py-resumed")
        self.assertEqual(resumed.info().tick, 4)
        self.assertEqual(resumed.info().spec.metrics_run, "py-resumed")
        run(resumed, 5)
        np.testing.assert_array_equal(resumed.model()["w"], original.model()["w"])
        self.assertEqual(resumed.checkpoint(), original.checkpoint())

        c.delete_checkpoint("py-after-4")
        self.assertNotIn("py-after-4", [i.checkpoint_id for i in c.list_checkpoints()])
        with self.assertRaises(basin.BasinError) as e:
            c.resume_checkpoint("py-after-4")
        self.assertEqual(e.exception.code, grpc.StatusCode.NOT_FOUND)


if __name__ == "__main__":
    unittest.main()
