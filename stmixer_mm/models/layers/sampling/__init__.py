"""STMixer's 4-D adaptive sampling (:mod:`.sampler`; mmcv's kernel as a
PyTorch operator: :mod:`.mmcv_op`)."""
