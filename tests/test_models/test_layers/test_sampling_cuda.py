"""CUDA checks of the 4-D sampling and of a detector under autocast.

They run where CUDA (and, for the kernel, mmcv's CUDA ops) is available and
skip with the reason otherwise (CI has no GPU; ``tools/gpu/
run_gpu_checks.sh tests`` runs them on a GPU machine, docs/en/gpu.md).
"""
import os.path as osp

import pytest
import torch

from stmixer_mm.models.layers import (sample_4d, sample_4d_features,
                                      sample_4d_reference)
from stmixer_mm.models.layers.sampling import sampler
from stmixer_mm.ops import multi_scale_deform_attn as msda_op
from stmixer_mm.testing import repo_root

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason='needs a CUDA device')
STRIDES = [4, 8, 16]
SHAPES = [(10, 14), (5, 7), (3, 4)]
REPO = repo_root()


def _needs_kernel():
    if msda_op.msda_cuda_function() is None:
        pytest.skip('mmcv was built without its CUDA ops')


def _inputs(B=2, N=5, G=2, P=3, C=8, T=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    values = [torch.randn(B, C, T, h, w, generator=g) for h, w in SHAPES]
    points = torch.rand(B, N, 1, G * P, 3, generator=g)
    points[..., 0] = points[..., 0] * 80 - 20
    points[..., 1] = points[..., 1] * 60 - 15
    points[..., 2] = points[..., 2] * 16 - 5
    return [v.cuda() for v in values], points.cuda()


def _out_grads(impl, points, values, grad):
    points = points.detach().requires_grad_()
    values = [v.detach().requires_grad_() for v in values]
    out = sample_4d(points, values, STRIDES, 3, impl=impl)
    grads = torch.autograd.grad(out, [points] + values, grad.to(out.dtype))
    return out, grads


def _rel(a, b):
    return ((a.double() - b.double()).abs().max() /
            b.double().abs().max().clamp_min(1e-30)).item()


@needs_cuda
@pytest.mark.parametrize('B', [1, 3, 8])
def test_mmcv_equals_pytorch_fp32(B):
    """impl='mmcv' equals impl='pytorch' in values and gradients (fp32)."""
    _needs_kernel()
    values, points = _inputs(B=B)
    with torch.no_grad():
        shape = sample_4d(points, values, STRIDES, 3, impl='pytorch').shape
    grad = torch.randn(shape, device='cuda')
    out_p, grads_p = _out_grads('pytorch', points, values, grad)
    out_m, grads_m = _out_grads('mmcv', points, values, grad)
    assert out_m.device.type == 'cuda' and out_m.shape == out_p.shape
    assert (out_m - out_p).abs().max().item() <= 1e-5
    for g_m, g_p in zip(grads_m, grads_p):
        assert _rel(g_m, g_p) <= 1e-5


@needs_cuda
@pytest.mark.parametrize('dtype,tol_out,tol_grad',
                         [(torch.bfloat16, 2e-2, 5e-2),
                          (torch.float16, 4e-3, 1e-2)])
def test_mmcv_reduced_precision(dtype, tol_out, tol_grad):
    """bf16 / fp16 maps and points (the decoder under autocast): the
    dtype is kept and the values and gradients stay within a few units of
    the dtype's rounding of the float64 reference of the same inputs."""
    _needs_kernel()
    values, points = _inputs(B=2)
    values = [v.to(dtype) for v in values]
    points = points.to(dtype)
    grad = torch.randn(2, 5, 2, 3, 3, 4, device='cuda').to(dtype)
    truth, truth_grads = _out_grads('reference', points.double(),
                                    [v.double() for v in values], grad)
    for impl in ('mmcv', 'pytorch'):
        out, grads = _out_grads(impl, points, values, grad)
        assert out.dtype == dtype, impl
        assert _rel(out, truth) <= tol_out, impl
        for g, t in zip(grads, truth_grads):
            assert g.dtype == dtype
            assert _rel(g, t) <= tol_grad, impl


@needs_cuda
def test_sample_4d_features_mmcv_vs_pytorch():
    _needs_kernel()
    values, points = _inputs(B=2)
    s_m, t_m = sample_4d_features(points, values, STRIDES, 3, impl='mmcv')
    s_p, t_p = sample_4d_features(points, values, STRIDES, 3, impl='pytorch')
    ref = sample_4d_reference(points, values, STRIDES, 3)
    ref = ref.flatten(5, 6).permute(0, 5, 2, 3, 4, 1)
    for a, b in ((s_m, s_p), (t_m, t_p)):
        assert (a - b).abs().max().item() <= 1e-5
    assert (s_p - ref.mean(3)).abs().max().item() <= 1e-5


@needs_cuda
def test_auto_picks_the_kernel_on_cuda_only():
    _needs_kernel()
    assert sampler.resolve_impl('auto', torch.device('cuda')) == 'mmcv'
    assert sampler.resolve_impl('auto', torch.device('cpu')) == 'pytorch'


def _tiny_model():
    from mmengine.config import Config

    from stmixer_mm.registry import MODELS
    cfg = Config.fromfile(
        osp.join(REPO, 'tests', 'data', 'configs', 'tiny_stmixer_tiny-ava.py'))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        for p in model.roi_head.parameters():
            if p.dim() > 1:
                p.add_(torch.randn_like(p) * 0.01)
    return model.cuda()


def _batch(B=2, T=4, H=64, W=96):
    from mmaction.structures import ActionDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(B):
        inputs.append(
            torch.randint(
                0, 256, (3, T, H, W), dtype=torch.uint8, generator=g))
        s = ActionDataSample()
        s.set_metainfo(dict(img_shape=(H, W), video_id='v', timestamp=900))
        labels = torch.zeros(2, 8)
        labels[0, 1] = labels[1, 3] = labels[1, 5] = 1
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[4., 6., 40., 60.], [50., 10., 90., 50.]]),
            labels=labels)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


@needs_cuda
@pytest.mark.parametrize('amp', [None, torch.bfloat16, torch.float16])
def test_tiny_detector_trains_and_predicts_on_cuda(amp):
    """Loss, backward and predict of a whole (tiny) detector on CUDA, in
    fp32 and under bf16 / fp16 autocast: every tensor on the GPU, finite
    losses, gradients and predictions (whichever sampling path 'auto'
    picks there)."""
    model = _tiny_model()
    model.train()
    data = model.data_preprocessor(_batch(), True)
    assert data['inputs'].device.type == 'cuda'
    with torch.autocast(
            'cuda', dtype=amp or torch.float32, enabled=amp is not None):
        losses = model(**data, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert all(g.device.type == 'cuda' for g in grads)
    model.eval()
    with torch.no_grad(), torch.autocast(
            'cuda', dtype=amp or torch.float32, enabled=amp is not None):
        results = model.test_step(_batch())
    for r in results:
        pred = r.pred_instances
        assert pred.bboxes.device.type == 'cuda' or pred.bboxes.numel() == 0
        assert torch.isfinite(torch.as_tensor(pred.bboxes)).all()
        assert torch.isfinite(torch.as_tensor(pred.scores)).all()


@needs_cuda
def test_tiny_detector_cuda_matches_cpu():
    """The same weights and clip give the same predictions on CUDA (the
    kernel where mmcv has it) as on the CPU (the PyTorch path), fp32."""
    model = _tiny_model().eval()
    data = _batch(B=1)
    # fp32 means fp32: no TF32 convolutions / matmuls for this comparison
    flags = (torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        _compare_cuda_cpu(model, data)
    finally:
        (torch.backends.cudnn.allow_tf32,
         torch.backends.cuda.matmul.allow_tf32) = flags


def _compare_cuda_cpu(model, data):
    with torch.no_grad():
        out_cuda = model._forward(model.data_preprocessor(data)['inputs'])
        model.cpu()
        out_cpu = model._forward(model.data_preprocessor(data)['inputs'])
    leaves_cuda = torch.utils._pytree.tree_leaves(out_cuda)
    leaves_cpu = torch.utils._pytree.tree_leaves(out_cpu)
    assert len(leaves_cuda) == len(leaves_cpu) > 0
    for a, b in zip(leaves_cuda, leaves_cpu):
        if isinstance(a, torch.Tensor):
            assert a.device.type == 'cuda' and b.device.type == 'cpu'
            assert _rel(a.cpu(), b) <= 1e-4


@needs_cuda
def test_msda_custom_op_on_cuda():
    """``stmixer_mm::msda`` on CUDA (mmcv's kernel) passes PyTorch's
    operator checks, equals mmcv's PyTorch version in values and
    gradients, and compiles (inductor) without a graph break."""
    _needs_kernel()
    from mmcv.ops.multi_scale_deform_attn import \
        multi_scale_deformable_attn_pytorch
    values, points = _inputs()
    prepared, geo, _ = sampler._prepared(points, values, STRIDES, 3, 'mmcv',
                                         False)
    value, shapes, starts, locations, weights = sampler._msda_inputs(
        points, prepared, geo, 3.0, 2.0)
    args = [
        value.detach().clone(), shapes, starts,
        locations.detach().clone(),
        weights.detach().clone(), 2
    ]
    for i in (0, 3, 4):
        args[i].requires_grad_()
    torch.library.opcheck(torch.ops.stmixer_mm.msda.default, tuple(args))

    def run(fn):
        leaves = [args[i].detach().clone().requires_grad_() for i in (0, 3, 4)]
        out = fn(leaves[0], args[1], args[2], leaves[1], leaves[2], 2)
        return out.detach(), torch.autograd.grad((out * out).sum(), leaves)

    explain = torch._dynamo.explain(msda_op.msda)(*args)
    assert explain.graph_break_count == 0, explain.break_reasons
    for fn in (msda_op.msda, torch.compile(msda_op.msda, fullgraph=True)):
        out, grads = run(fn)
        ref, ref_grads = run(lambda v, s, i, loc, w, _:
                             multi_scale_deformable_attn_pytorch(v, s, loc, w))
        torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)
        for g, r in zip(grads, ref_grads):
            torch.testing.assert_close(g, r, atol=1e-3, rtol=1e-3)
