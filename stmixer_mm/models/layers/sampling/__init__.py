"""STMixer's 4-D adaptive sampling (:mod:`.sampler`; mmcv's kernel as a
PyTorch operator: :mod:`stmixer_mm.ops.multi_scale_deform_attn`)."""
