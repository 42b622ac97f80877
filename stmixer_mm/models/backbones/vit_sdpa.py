"""mmaction2's VideoMAE ``VisionTransformer`` (same keys as the official
STMixer backbone's) with ``scaled_dot_product_attention`` instead of the
materialised ``N x N`` attention, same outputs up to rounding."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmaction.models.backbones.vit_mae import Attention, VisionTransformer
from torch import Tensor

from stmixer_mm.registry import MODELS
from stmixer_mm.utils.checks import check_choice, check_range

ATTN_IMPLS = ('sdpa', 'naive')


def _count_cpu_sdpa_flops() -> None:
    """Teach ``torch.utils.flop_counter`` (used by ``get_flops.py``) SDPA's CPU
    kernel's FLOPs, which it lacks: the two matrix products."""
    from torch.utils import flop_counter
    op = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu',
                 None)
    if op is None or op in flop_counter.flop_registry:
        return

    @flop_counter.register_flop_formula(op)
    def _flops(query_shape,
               key_shape,
               value_shape,
               *args,
               out_shape=None,
               **kwargs) -> int:
        return flop_counter.sdpa_flop_count(query_shape, key_shape,
                                            value_shape)


_count_cpu_sdpa_flops()


class FusedAttention(Attention):
    """mmaction2's ViT ``Attention`` (same parameters and keys) computing
    ``softmax(q k^T * scale) v`` with ``scaled_dot_product_attention`` (its
    ``dropout_p`` in training: the same distribution, another mask).

    Args:
        *args: As mmaction2's ``Attention``.
        impl (str): ``'sdpa'`` (fused) or ``'naive'`` (mmaction2's forward).
        **kwargs: As mmaction2's ``Attention``.
    """

    def __init__(self, *args, impl: str = 'sdpa', **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.impl = impl

    def forward(self, x: Tensor) -> Tensor:
        if self.impl == 'naive':
            return super().forward(x)
        B, N, C = x.shape
        if hasattr(self, 'q_bias'):
            k_bias = torch.zeros_like(self.v_bias, requires_grad=False)
            qkv_bias = torch.cat((self.q_bias, k_bias, self.v_bias))
            qkv = F.linear(input=x, weight=self.qkv.weight, bias=qkv_bias)
        else:
            qkv = self.qkv(x)
        qkv = qkv.reshape(B, N, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        x = F.scaled_dot_product_attention(
            q,
            k,
            v,
            dropout_p=self.attn_drop.p if self.training else 0.,
            scale=self.scale)
        x = x.transpose(1, 2).reshape(B, N, -1)
        x = self.proj(x)
        x = self.proj_drop(x)
        return x


@MODELS.register_module()
class STMixerVisionTransformer(VisionTransformer):
    """mmaction2's ``VisionTransformer`` (VideoMAE / VideoMAEv2 checkpoints
    load unchanged) whose blocks use :class:`FusedAttention`.

    Args:
        *args: Positional arguments of mmaction2's ``VisionTransformer``.
        attn_impl (str): ``'sdpa'`` (default) or ``'naive'`` (mmaction2's).
        qk_scale (float, optional): Replaces ``head_dim ** -0.5`` (> 0).
        attn_drop_rate (float): Attention dropout, in [0, 1]. Defaults to 0.
        drop_rate (float): Projection dropout, in [0, 1]. Defaults to 0.
        qkv_bias (bool): Biases of q and v. Defaults to True.
        **kwargs: The other arguments of mmaction2's ``VisionTransformer``.
        The four above (mmaction2's defaults) also build each block's
        :class:`FusedAttention`.
    """

    def __init__(self,
                 *args,
                 attn_impl: str = 'sdpa',
                 qk_scale: Optional[float] = None,
                 attn_drop_rate: float = 0.,
                 drop_rate: float = 0.,
                 qkv_bias: bool = True,
                 **kwargs) -> None:
        name = 'STMixerVisionTransformer'
        check_choice(name, ATTN_IMPLS, attn_impl=attn_impl)
        check_choice(name, (True, False), qkv_bias=qkv_bias)  # 'no': True
        rates = dict(attn_drop_rate=attn_drop_rate, drop_rate=drop_rate)
        check_range(name, '[0, 1]', **rates)
        if qk_scale is not None:
            check_range(name, '(0, inf)', qk_scale=qk_scale)
        super().__init__(
            *args,
            qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate,
            drop_rate=drop_rate,
            qkv_bias=qkv_bias,
            **kwargs)
        self.attn_impl = attn_impl
        #: (key, embedding) of the last interpolated position embedding
        self._pos_embed_cache = None
        # swap every block's attention, keeping its parameters, without
        # touching the global RNG (later modules initialise as with mmaction2)
        with torch.random.fork_rng(devices=[]):
            for blk in self.blocks:
                old = blk.attn
                new = FusedAttention(
                    self.embed_dims,
                    num_heads=old.num_heads,
                    qkv_bias=qkv_bias,
                    qk_scale=qk_scale,
                    attn_drop_rate=attn_drop_rate,
                    drop_rate=drop_rate,
                    impl=attn_impl)
                new.load_state_dict(old.state_dict())
                blk.attn = new

    def set_attn_impl(self, impl: str) -> None:
        """Switch every block between ``'sdpa'`` and ``'naive'``."""
        check_choice('STMixerVisionTransformer', ATTN_IMPLS, attn_impl=impl)
        self.attn_impl = impl
        for blk in self.blocks:
            blk.attn.impl = impl

    def pos_embed_for(self, h: int, w: int) -> Tensor:
        """The position embedding for a ``h x w`` patch grid (mmaction2's
        bicubic interpolation), cached while fixed; recomputed when learnt,
        traced, compiled or on the meta device.

        The cache key holds the embedding's device, dtype, storage and
        in-place version, so ``.to()``, ``load_state_dict`` or an edit
        recompute it.

        Args:
            h (int): Patch rows of the input (``H // patch_size``).
            w (int): Patch columns of the input (``W // patch_size``).

        Returns:
            Tensor: Shape ``(1, T' * h * w, embed_dims)``, ``T' =
            num_frames // tubelet_size``; ``pos_embed`` itself when ``(h,
            w)`` is the pre-training ``grid_size``.
        """
        if (h, w) == self.grid_size:
            return self.pos_embed
        pos_embed = self.pos_embed
        cacheable = not (pos_embed.requires_grad or pos_embed.is_meta
                         or torch.jit.is_tracing() or torch.jit.is_scripting()
                         or torch.compiler.is_compiling())
        key = None
        if cacheable:
            key = (h, w, pos_embed.device, pos_embed.dtype,
                   pos_embed.data_ptr(), pos_embed._version,
                   torch.is_autocast_enabled(pos_embed.device.type))
            if self._pos_embed_cache is not None and \
                    self._pos_embed_cache[0] == key:
                return self._pos_embed_cache[1]
        out = pos_embed.reshape(-1, *self.grid_size, self.embed_dims)
        out = F.interpolate(
            out.permute(0, 3, 1, 2),
            size=(h, w),
            mode='bicubic',
            align_corners=False)
        out = out.permute(0, 2, 3, 1).flatten(1, 2)
        out = out.reshape(1, -1, self.embed_dims)
        if key is not None:
            self._pos_embed_cache = (key, out)
        return out

    def forward(self, x: Tensor) -> Tensor:
        """mmaction2's forward with :meth:`pos_embed_for`: ``[B, C, T /
        tubelet_size, H / patch, W / patch]`` with ``return_feat_map``, else
        the pooled or first token ``[B, C]``."""
        b, _, _, h, w = x.shape
        h //= self.patch_size
        w //= self.patch_size
        x = self.patch_embed(x)[0]
        x = self.pos_drop(x + self.pos_embed_for(h, w))
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        if self.return_feat_map:
            x = x.reshape(b, -1, h, w, self.embed_dims)
            return x.permute(0, 4, 1, 2, 3)
        if self.fc_norm is not None:
            return self.fc_norm(x.mean(1))
        return x[:, 0]
