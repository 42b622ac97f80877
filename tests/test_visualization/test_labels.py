"""Label names and top actions for drawing: AVA label maps read through a
data set's fileio backend, class names, best actions of one detection."""
import os.path as osp
import types

import numpy as np
import pytest

from stmixer_mm.visualization import (label_names_from_dataset,
                                      load_label_names, top_actions)


def test_top_actions():
    s = np.array([0.99, 0.2, 0.7, 0.5, 0.6])
    assert top_actions(s, 0.3, 2) == [(2, 0.7), (4, 0.6)]
    assert top_actions(s, 0.3, 2, skip_background=False)[0] == (0, 0.99)
    assert top_actions(s, 0.95, 3) == []


def test_label_names_read_through_the_datasets_backend_args():
    """A data set's label map is read with the data set's backend_args
    (mmengine's fileio), as the data set reads it."""
    label_file = osp.join(
        osp.dirname(osp.dirname(osp.abspath(__file__))), 'data', 'tiny_ava',
        'annotations', 'label_map.pbtxt')
    plain = load_label_names(label_file)
    assert len(plain) == 7 and all(isinstance(k, int) for k in plain)
    local = types.SimpleNamespace(
        label_file=label_file, backend_args=dict(backend='local'))
    assert label_names_from_dataset(local) == plain
    unknown = types.SimpleNamespace(
        label_file=label_file, backend_args=dict(backend='no-such-backend'))
    with pytest.raises(KeyError, match='no-such-backend'):
        label_names_from_dataset(unknown)
