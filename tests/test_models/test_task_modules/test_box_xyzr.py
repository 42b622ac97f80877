"""The xyzr box parameterisation (``stmixer_mm.models.task_modules``),
written out by hand."""
import math

import torch

from stmixer_mm.models.task_modules import refine_xyzr, xyxy2xyzr, xyzr2xyxy


def test_xyzr_encoding():
    xyxy = torch.tensor([[10., 20., 30., 60.], [0., 0., 64., 32.]])
    xyzr = xyxy2xyzr(xyxy)
    # written out: centre, log2(sqrt(w*h)), log2(h/w)
    expected = torch.tensor([
        [20., 40., math.log2(math.sqrt(20 * 40)),
         math.log2(40 / 20)],
        [32., 16., math.log2(math.sqrt(64 * 32)),
         math.log2(32 / 64)],
    ])
    torch.testing.assert_close(xyzr, expected)
    torch.testing.assert_close(xyzr2xyxy(xyzr), xyxy)


def test_refine_xyzr_formula():
    xyzr = torch.tensor([[10., 20., 3., 0.5]])
    delta = torch.tensor([[0.5, -0.25, 0.1, -0.2]])
    expected = torch.tensor([[10 + 0.5 * 8, 20 - 0.25 * 8, 3.1, 0.3]])
    torch.testing.assert_close(refine_xyzr(xyzr, delta), expected)


def test_xyzr_round_trip_any_leading_dims_and_gradient():
    torch.manual_seed(0)
    xy = torch.rand(2, 3, 5, 2) * 100
    wh = torch.rand(2, 3, 5, 2) * 50 + 1
    xyxy = torch.cat([xy, xy + wh], -1)
    torch.testing.assert_close(xyzr2xyxy(xyxy2xyzr(xyxy)), xyxy)
    # refine_xyzr does not detach: gradients reach the input boxes;
    # x' = x + dx * 2^z, so d(x' + y')/dz = ln2 * 2^z * (dx + dy), plus 1
    # from z' = z + dz
    xyzr = xyxy2xyzr(xyxy).requires_grad_()
    refine_xyzr(xyzr, torch.ones_like(xyzr)).sum().backward()
    torch.testing.assert_close(
        xyzr.grad[..., 2],
        1 + 2 * math.log(2) * 2.0**xyzr.detach()[..., 2],
        rtol=1e-5,
        atol=1e-4)
    torch.testing.assert_close(xyzr.grad[..., [0, 1, 3]],
                               torch.ones_like(xyzr.grad[..., [0, 1, 3]]))
