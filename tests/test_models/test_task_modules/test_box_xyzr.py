"""The xyzr box parameterisation (``stmixer_mm.models.task_modules``),
written out by hand."""
import math

import torch

from stmixer_mm.models.task_modules import (box_iof, refine_xyzr, xyxy2xyzr,
                                            xyzr2xyxy)


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


def _random_xyzr(*shape):
    xy = torch.rand(*shape, 2) * 200
    z = torch.rand(*shape, 1) * 3 + 3
    r = torch.randn(*shape, 1)
    return torch.cat([xy, z, r], -1)


def test_box_helpers_give_the_numbers_of_their_formulas_bit_for_bit():
    """Issue 33 rewrote the helpers with fewer operators; each gives the
    float numbers of the formula as first written, exactly."""
    torch.manual_seed(0)
    for shape in [(2, 100), (2, 7, 8)]:
        xyzr = _random_xyzr(*shape)
        delta = torch.randn_like(xyzr)
        scale = 2.0**xyzr[..., 2:3]
        ratio = 2.0**torch.cat([xyzr[..., 3:4] * -0.5, xyzr[..., 3:4] * 0.5],
                               dim=-1)
        wh = scale * ratio
        xy = xyzr[..., 0:2]
        assert torch.equal(
            xyzr2xyxy(xyzr), torch.cat([xy - wh * 0.5, xy + wh * 0.5], -1))
        refined = torch.cat(
            [xy + delta[..., 0:2] * scale, xyzr[..., 2:4] + delta[..., 2:4]],
            -1)
        assert torch.equal(refine_xyzr(xyzr, delta), refined)


def test_box_iof_is_mmdets_iof_bit_for_bit():
    from mmdet.structures.bbox import bbox_overlaps
    torch.manual_seed(0)
    boxes = xyzr2xyxy(_random_xyzr(3, 50))
    boxes[0, :5] = boxes[0, 5:10]  # identical boxes
    iof = box_iof(boxes)
    assert iof.shape == (3, 50, 50)
    assert torch.equal(iof, bbox_overlaps(boxes, boxes, mode='iof'))
    # leading dims of any number, and a zero-area box (area clamped to eps)
    boxes = xyzr2xyxy(_random_xyzr(2, 3, 6))
    boxes[0, 0, 0, 2] = boxes[0, 0, 0, 0]
    assert torch.equal(
        box_iof(boxes), bbox_overlaps(boxes, boxes, mode='iof', eps=1e-6))
    assert torch.all(box_iof(boxes)[0, 0, 0] == 0)


def test_box_iof_compiled_gradient_equals_eager():
    """The attention bias ``log(iof + 1e-7) * tau`` through inductor: the
    gradient of ``tau`` equals eager's (the area once read inter's diagonal,
    a view that inductor's in-place buffer reuse overwrote while reading it:
    a gradient off by 1e16)."""
    torch.manual_seed(0)
    xyzr = torch.cat([
        torch.rand(2, 10, 2) * 80 + 20,
        torch.rand(2, 10, 1) + 4,
        torch.rand(2, 10, 1) * 2 - 1
    ], -1)
    tau = torch.rand(8, requires_grad=True)
    weights = torch.randn(2, 8, 10, 10)

    def loss(xyzr, tau):
        with torch.no_grad():
            log_iof = (box_iof(xyzr2xyxy(xyzr)) + 1e-7).log()
        return ((log_iof[:, None] * tau.view(-1, 1, 1)).softmax(-1) *
                weights).sum()

    eager = torch.autograd.grad(loss(xyzr, tau), tau)[0]
    torch._dynamo.reset()
    compiled = torch.autograd.grad(torch.compile(loss)(xyzr, tau), tau)[0]
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-4)
