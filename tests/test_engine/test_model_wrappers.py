"""stmixer_mm/engine/model_wrappers.py: DDP that also wraps a CPU module
(gloo), in a one-process group."""
import socket

import pytest
import torch
import torch.distributed as dist

from stmixer_mm.engine import DeviceAwareDistributedDataParallel
from stmixer_mm.registry import MODEL_WRAPPERS


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture
def one_process_group():
    if not dist.is_available() or dist.is_initialized():
        pytest.skip('needs torch.distributed and no running process group')
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{_free_port()}',
        rank=0,
        world_size=1)
    yield
    dist.destroy_process_group()


def test_cpu_module_is_wrapped_without_device_ids(one_process_group):
    from mmengine.model import BaseModel

    class Tiny(BaseModel):

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.fc(inputs)

    model = Tiny()
    # what the Runner passes: device_ids of the local rank
    wrapped = MODEL_WRAPPERS.build(
        dict(
            type='DeviceAwareDistributedDataParallel',
            module=model,
            device_ids=[0]))
    assert isinstance(wrapped, DeviceAwareDistributedDataParallel)
    assert wrapped.device_ids is None
    assert wrapped.broadcast_buffers is False
    x = torch.ones(3, 2)
    torch.testing.assert_close(wrapped(x), model(x))
