"""The client's pieces that need no server: chunking, wire dtypes, spec builders, the progress bar."""

from __future__ import annotations

import io
import unittest

import numpy as np

import basin
from basin import tensors
from basin.progress import ProgressBar
from basin.v1 import optimizer_service_pb2 as pb


class TensorsTest(unittest.TestCase):
    layout = [("a", (3, 4)), ("empty", (0,)), ("s", ())]

    def test_chunks_cover_each_tensor_in_order_and_reassemble(self) -> None:
        arrays = {"s": np.array(7.0), "a": np.arange(12.0).reshape(3, 4), "empty": np.zeros(0)}
        chunks = list(tensors.chunks_of(self.layout, arrays, "f32", max_chunk_bytes=20))
        self.assertEqual([(c.tensor, c.offset, len(c.data)) for c in chunks],
                         [("a", 0, 20), ("a", 5, 20), ("a", 10, 8), ("s", 0, 4)])  # fmt: skip
        assembler = tensors.Assembler(self.layout)
        for c in chunks:
            assembler.add(c)
        out = assembler.finish()
        self.assertEqual(list(out), ["a", "empty", "s"])
        np.testing.assert_array_equal(out["a"], arrays["a"])
        self.assertEqual(out["s"].shape, ())

    def test_layout_mismatches_are_refused(self) -> None:
        for bad in ({"a": np.zeros(12)}, {"a": np.zeros(11), "empty": [], "s": 0.0}, np.zeros(14)):
            with self.assertRaises(ValueError):
                list(tensors.chunks_of(self.layout, bad))
        assembler = tensors.Assembler(self.layout)
        with self.assertRaises(ValueError):
            assembler.add(pb.TensorChunk(tensor="a", offset=4, dtype=pb.DTYPE_F32, data=b"\0" * 4))
        with self.assertRaises(ValueError):
            assembler.finish()

    def test_bf16_rounds_to_nearest_even_and_keeps_nan(self) -> None:
        x = np.array([1.0, 1.00390625, 1.01171875, -2.5, np.nan, 3.4e38, 1e-40], np.float32)
        back = tensors.from_bf16_bits(tensors.to_bf16_bits(x))
        np.testing.assert_array_equal(back[:4], [1.0, 1.0, 1.015625, -2.5])
        self.assertTrue(np.isnan(back[4]))
        self.assertEqual(back[5], np.inf)
        self.assertGreater(back[6], 0.0)  # subnormals survive
        self.assertEqual(tensors.to_bf16_bits(np.array([1.0], np.float32))[0], 0x3F80)

    def test_every_wire_dtype_round_trips(self) -> None:
        layout = [("v", (5,))]
        v = np.array([0.5, -1.25, 3.0, 1024.0, 0.0], np.float64)
        for dtype in ("f32", "f64", "bf16", "f16"):
            with self.subTest(dtype):
                assembler = tensors.Assembler(layout, float64=dtype == "f64")
                for c in tensors.chunks_of(layout, {"v": v}, dtype):
                    assembler.add(c)
                np.testing.assert_array_equal(assembler.finish()["v"], v)  # exactly representable
        with self.assertRaises(ValueError):
            tensors.wire_dtype("f8")


class SpecsTest(unittest.TestCase):
    def test_unset_keywords_stay_unset(self) -> None:
        sgd = basin.SGD(lr=0.1).sgd
        self.assertTrue(sgd.HasField("lr"))
        self.assertFalse(sgd.HasField("momentum"))
        e = basin.EntropySGD(variant="pytorch", L=5, lr_schedule=basin.Schedule("cosine", total=10)).entropy_sgd
        self.assertEqual((e.variant, e.L, e.lr_schedule.total), (e.VARIANT_PYTORCH, 5, 10.0))
        self.assertFalse(e.HasField("gamma"))
        self.assertEqual(basin.EMCMC(form="paper").emcmc.form, basin.optimizer_config_pb2.EmcmcConfig.FORM_PAPER)
        self.assertEqual(basin.SGLD(lr_convention="welling_teh").sgld.lr_convention, 2)
        self.assertTrue(basin.SAM(adaptive=True).sam.adaptive)
        self.assertEqual(basin.Samples("anchor", thin=2).thin, 2)
        self.assertEqual(basin.Workers(3, "async", max_staleness=2).mode, pb.WorkerPolicy.MODE_ASYNC)
        with self.assertRaisesRegex(ValueError, "form must be one of"):
            basin.EMCMC(form="other")


class ProgressBarTest(unittest.TestCase):
    def test_plain_output_prints_lines(self) -> None:
        out = io.StringIO()
        with ProgressBar(total=20, label="train", stream=out) as bar:
            for i in range(20):
                bar.update(i + 1, loss=0.5)
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 10)
        self.assertIn("20/20", lines[-1])
        self.assertIn("loss=0.5", lines[-1])

    def test_a_tty_redraws_in_place(self) -> None:
        class Tty(io.StringIO):
            def isatty(self) -> bool:
                return True

        out = Tty()
        bar = ProgressBar(total=4, stream=out)
        for _ in range(4):
            bar.update()
        bar.close()
        self.assertEqual(out.getvalue().count("\r"), 4)
        self.assertTrue(out.getvalue().endswith("\n"))


if __name__ == "__main__":
    unittest.main()
