"""A converted checkpoint's weights are tensors of the dtype kind expected
(issue 83): an official-layout file whose parameter holds a list (or a
numpy array, a number) used to load "strictly" with the parameter at its
initial values (only mmengine's log line said so), an integer tensor where a
float one is expected was cast. Now every converter refuses them, naming
the key and what it found; mmengine's loader refuses such an official file
naming the file, before any weight is loaded."""
import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

from stmixer_mm.apps.converters.pyslowfast import convert_pyslowfast_state_dict
from stmixer_mm.apps.converters.videomae import convert_videomae_state_dict
from stmixer_mm.converters.official import (CheckpointFileError,
                                            convert_official_state_dict)
from stmixer_mm.engine.checkpoint import check_state_dict_values
from stmixer_mm.testing.backbone_layouts import (pyslowfast_layout,
                                                 videomae_layout)
from stmixer_mm.testing.official_layouts import official

KEY = 'stm_head.decoder_stages.0.iof_tau'
BAD_VALUES = [
    ([1.0] * 8, 'holds a list, not a tensor'),
    (np.ones(8, np.float32), 'holds a ndarray, not a tensor'),
    (0.5, 'holds a float, not a tensor'),
    (torch.ones(8, dtype=torch.long),
     'is a torch.int64 tensor where a floating-point one is expected'),
    (torch.ones(8, dtype=torch.bool),
     'is a torch.bool tensor where a floating-point one is expected'),
]


@pytest.mark.parametrize('value, found', BAD_VALUES)
def test_the_official_converter_refuses_a_weight_that_is_no_float_tensor(
        value, found):
    """The converter (the tool and the in-memory loader) names the key and
    the type / dtype found."""
    sd = official('slowonly', prefix='module.')
    sd['module.' + KEY] = value
    with pytest.raises(ValueError, match=f'^{KEY} {found}$'):
        convert_official_state_dict(sd)


def test_bn_counters_are_integers():
    """BN's ``num_batches_tracked`` is an integer tensor: the official
    files' int64 counters convert; a float one is refused."""
    sd = official('slowfast')
    counters = [k for k in sd if k.endswith('num_batches_tracked')]
    assert counters and sd[counters[0]].dtype == torch.int64
    convert_official_state_dict(sd)
    sd[counters[0]] = torch.tensor(7.0)
    with pytest.raises(
            ValueError,
            match=f'^{counters[0]} is a torch.float32 tensor where an? '
            'integer one is expected$'):
        convert_official_state_dict(sd)


def test_the_loader_refuses_an_official_file_with_a_list(tmp_path):
    """mmengine's loader (``init_detector``, the Inferencer, ``load_from``,
    ``tools/test.py``) refuses the file, naming it, the key and the type,
    instead of loading it with the parameter at its initial values."""
    sd = official('slowonly', prefix='module.')
    sd['module.' + KEY] = sd['module.' + KEY].tolist()
    path = str(tmp_path / 'official.pth')
    torch.save(dict(model=sd, iteration=10), path)
    with pytest.raises(CheckpointFileError) as info:
        CheckpointLoader.load_checkpoint(path, map_location='cpu')
    message = str(info.value)
    assert message.startswith(f'{path} has the layout of an official STMixer '
                              'checkpoint')
    assert f'{KEY} holds a list, not a tensor' in message


def test_the_other_converters_refuse_them_too():
    """VideoMAE and PySlowFast weights are held to the same rule (the
    PySlowFast arrays of a ``.pkl`` become tensors first)."""
    sd = videomae_layout(64, 1, 256, 16, device='cpu')
    sd['blocks.0.attn.proj.bias'] = sd['blocks.0.attn.proj.bias'].tolist()
    with pytest.raises(
            ValueError,
            match=r'^blocks\.0\.attn\.proj\.bias holds a list, not a tensor'):
        convert_videomae_state_dict(sd)
    layout = pyslowfast_layout('slowonly', blocks=(1, 1, 1, 1), width=8)
    blobs = {c2: np.zeros(shape, np.float32) for _, c2, shape in layout}
    convert_pyslowfast_state_dict(blobs)
    blobs['conv1_w'] = blobs['conv1_w'].astype(np.int32)
    with pytest.raises(
            ValueError,
            match='^conv1_w is a torch.int32 tensor where a floating-point '
            'one is expected$'):
        convert_pyslowfast_state_dict(blobs)


def test_the_model_gives_the_expected_dtype_kinds():
    """With the model's state dict, each key is held to its tensor's dtype
    kind (a bool or integer buffer too); several problems are listed."""
    model = dict(w=torch.zeros(2), mask=torch.zeros(2, dtype=torch.bool))
    check_state_dict_values(
        dict(w=torch.ones(2, dtype=torch.float16), mask=model['mask']), model)
    with pytest.raises(
            ValueError,
            match=r'^w is a torch\.int64 tensor where a floating-point one '
            r'is expected; mask is a torch\.float32 tensor where a bool one '
            r'is expected$'):
        check_state_dict_values(
            dict(w=torch.ones(2, dtype=torch.long), mask=torch.zeros(2)),
            model)
