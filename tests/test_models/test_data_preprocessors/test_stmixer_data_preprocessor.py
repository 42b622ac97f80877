"""STMixerDataPreprocessor: normalise, then pad to a multiple of the size
divisor with the pad value in normalised space; img_shape stays un-padded."""
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.config import Config

import stmixer_mm  # noqa: F401
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.registry import MODELS
from stmixer_mm.testing import repo_root
from stmixer_mm.utils.checks import ConfigSettingError

MEAN, STD = 114.75, 57.375


def build(**kwargs):
    cfg = dict(
        type='STMixerDataPreprocessor',
        mean=[MEAN] * 3,
        std=[STD] * 3,
        format_shape='NCTHW')
    cfg.update(kwargs)
    return MODELS.build(cfg)


def sample(h, w):
    s = ActionDataSample()
    s.set_metainfo(dict(img_shape=(h, w)))
    return s


def test_pads_after_normalisation_to_multiple_of_divisor():
    torch.manual_seed(0)
    pre = build()
    a = torch.randint(0, 256, (3, 4, 256, 341), dtype=torch.uint8)
    b = torch.randint(0, 256, (3, 4, 250, 300), dtype=torch.uint8)
    samples = [sample(256, 341), sample(250, 300)]
    out = pre(dict(inputs=[a, b], data_samples=samples))
    x = out['inputs']
    assert x.shape == (2, 3, 4, 256, 352)  # 341 -> 352 = 11 * 32
    # inside: (v - mean) / std, written out
    torch.testing.assert_close(x[0, :, :, :, :341], (a.float() - MEAN) / STD)
    torch.testing.assert_close(x[1, :, :, :250, :300],
                               (b.float() - MEAN) / STD)
    # outside: exactly the pad value (0) in normalised space
    assert (x[0, :, :, :, 341:] == 0).all()
    assert (x[1, :, :, 250:, :] == 0).all() and (x[1, ..., 300:] == 0).all()
    for s, shape in zip(out['data_samples'], [(256, 341), (250, 300)]):
        assert s.img_shape == shape
        assert s.pad_shape == s.batch_input_shape == (256, 352)


def test_divisor_one_and_pad_value():
    pre = build(pad_size_divisor=1, pad_value=-1.5)
    a = torch.zeros(3, 2, 10, 12)
    b = torch.zeros(3, 2, 8, 12)
    x = pre(dict(inputs=[a, b], data_samples=None))['inputs']
    assert x.shape == (2, 3, 2, 10, 12)
    assert (x[1, :, :, 8:] == -1.5).all()
    assert torch.allclose(x[1, :, :, :8], torch.full((), -MEAN / STD))


def test_differs_from_mmaction_padding_only_in_pad_region():
    """ActionDataPreprocessor pads raw zeros (-mean/std after
    normalising); inside the frames both agree."""
    ours = build()
    theirs = MODELS.build(
        dict(
            type='mmaction.ActionDataPreprocessor',
            mean=[MEAN] * 3,
            std=[STD] * 3,
            format_shape='NCTHW'))
    a = torch.randint(0, 256, (3, 2, 64, 64), dtype=torch.uint8)
    b = torch.randint(0, 256, (3, 2, 64, 40), dtype=torch.uint8)
    x = ours(dict(inputs=[a, b], data_samples=None))['inputs']
    y = theirs(dict(inputs=[a, b], data_samples=None))['inputs']
    torch.testing.assert_close(x[..., :40], y[..., :40])
    torch.testing.assert_close(x[0], y[0])
    assert (x[1, ..., 40:] == 0).all()
    assert torch.allclose(y[1, ..., 40:], torch.full((), -MEAN / STD))


@pytest.mark.parametrize('kwargs,match', [
    (dict(format_shape='NCHW'), 'format_shape'),
    (dict(pad_size_divisor=0), 'pad_size_divisor'),
    (dict(mean=[], std=[]), r'mean must be a list of 3 items, got \[\]'),
    (dict(mean=[1, 2]), r'mean must be a list of 3 .*got \[1, 2\]'),
    (dict(std=[1, 1, 1, 1]), r'std must be a list of 3 items'),
    (dict(std=[1, 0, 1]), r'std\[1\] must be a number in \(0, inf\), got 0'),
    (dict(std=[1, -2, 1]), r'std\[1\] must be a number in \(0, inf\)'),
    (dict(mean=['114', 1, 1]), r'mean\[0\] must be a number in'),
    (dict(mean=[True, 1, 1]), r'mean\[0\] must be a number .*got True'),
    (dict(mean=[float('nan'), 1, 1]), r'mean\[0\] must be a number in'),
    (dict(mean='rgb',
          std='rgb'), r"mean must be a list of 3 items, got 'rgb'"),
    (dict(mean=114.75), r'mean must be a list of 3 items, got 114.75'),
    (dict(std=None), r'mean and std must be given together'),
    (dict(mean=None), r'mean and std must be given together'),
    (dict(to_rgb=1), r'to_rgb must be one of \(True, False\), got 1'),
    (dict(to_float32='no'), r'to_float32 must be one of \(True, False\)'),
    (dict(blending='mixup'), r"blending must be None or a config dict "
     r"with a 'type', got 'mixup' \(str\)"),
    (dict(blending=dict(alpha=0.2)), 'blending must be None or a config'),
    (dict(pad_size_divisor=-32), r'pad_size_divisor must be an int >= 1, '
     r'got -32'),
    (dict(pad_size_divisor=True), r'pad_size_divisor must be an int >= 1'),
    (dict(pad_size_divisor=32.0), r'pad_size_divisor must be an int >= 1'),
    (dict(pad_value=False), r'pad_value must be a number in \(-inf, inf\), '
     'got False'),
    (dict(pad_value='0'), r'pad_value must be a number in'),
    (dict(pad_value=float('inf')), r'pad_value must be a number in'),
])
def test_bad_arguments(kwargs, match):
    """Refused at build, naming the class and the argument (before: e.g.
    mean=[] built and failed at the first forward)."""
    with pytest.raises(ValueError, match='^STMixerDataPreprocessor: ' + match):
        build(**kwargs)


@pytest.mark.parametrize('options,match', [
    ({
        'mean': [],
        'std': []
    }, 'mean must be a list of 3'),
    ({
        'std': [57.375, 0, 57.375]
    }, 'std[1] must be a number in (0, inf)'),
    ({
        'pad_size_divisor': 0
    }, 'pad_size_divisor must be an int >= 1'),
    ({
        'format_shape': 'NCHW'
    }, "format_shape must be one of ('NCTHW',)"),
])
def test_a_bad_setting_is_named_before_the_run(options, match):
    """The pre-run check (as ``--cfg-options``) names the config path, the
    class and the argument."""
    cfg = Config.fromfile(
        f'{repo_root()}/tests/data/configs/tiny_stmixer_tiny-ava.py')
    cfg.merge_from_dict({
        f'model.data_preprocessor.{k}': v
        for k, v in options.items()
    })
    with pytest.raises(ConfigSettingError) as err:
        check_config(cfg, sections=('model', ))
    assert str(err.value).startswith(
        'model.data_preprocessor: ValueError: STMixerDataPreprocessor: ' +
        match), err.value


def test_arguments_from_code():
    """numpy values (arrays, integer scalars) pass the checks; no mean and
    no std: no normalisation."""
    import numpy as np
    pre = build(
        mean=np.array([1.0, 2.0, 3.0]),
        std=(1, 1, 1),
        pad_size_divisor=np.int64(4))
    assert pre.pad_size_divisor == 4 and pre.mean.flatten().tolist() == [
        1.0, 2.0, 3.0
    ]
    pre = build(mean=None, std=None)
    x = pre(dict(inputs=[torch.ones(3, 1, 4, 4)], data_samples=None))
    assert (x['inputs'][0, ..., :4, :4] == 1).all()  # not normalised


def test_an_img_shape_other_than_the_clip_size_is_refused():
    """Boxes are read in ``img_shape``: a pipeline that resized the frames
    without it would train and score them in another frame size."""
    with pytest.raises(
            ValueError,
            match=r'img_shape \(8, 9\) differs from '
            r'the clip size \(8, 8\)'):
        build()(
            dict(
                inputs=[torch.zeros(3, 2, 8, 8)], data_samples=[sample(8, 9)]))


def test_train_pad_shapes_pick_the_smallest_holding_shape():
    """In training a batch goes to the smallest listed shape that holds its
    divisor-padded size; at test time, and for a batch larger than every
    listed shape, the divisor alone."""
    shapes = [(320, 576), (256, 480), (256, 352), (320, 448)]
    pre = build(train_pad_shapes=shapes)
    assert pre.train_pad_shapes == shapes
    for sizes, training, expected in (
        ([(256, 341)], True, (256, 352)),
        ([(256, 455)], True, (256, 480)),
        ([(256, 455), (320, 427)], True, (320, 576)),
        ([(256, 455)], False, (256, 480)),
        ([(256, 341)], False, (256, 352)),
        ([(240, 300)], False, (256, 320)),
        ([(240, 300)], True, (256, 352)),
        ([(320, 700)], True, (320, 704)),
    ):
        clips = [torch.zeros(3, 2, h, w) for h, w in sizes]
        samples = [sample(h, w) for h, w in sizes]
        out = pre(dict(inputs=clips, data_samples=samples), training)
        assert tuple(out['inputs'].shape[-2:]) == expected, (sizes, training)
        assert out['data_samples'][0].pad_shape == expected
        assert out['data_samples'][0].img_shape == sizes[0]


@pytest.mark.parametrize('shapes',
                         [[(256, 350)], [(256, )],
                          (256, 352), [(256.0, 352)], [(True, 352)], 'x'])
def test_bad_train_pad_shapes_are_refused(shapes):
    with pytest.raises(
            ValueError,
            match='STMixerDataPreprocessor: '
            'train_pad_shapes must be'):
        build(train_pad_shapes=shapes)


@pytest.mark.parametrize('box, what', [
    ([10., 10., 5., 20.], 'is inverted'),
    ([10., 30., 20., 20.], 'is inverted'),
    ([100., 10., 120., 20.], 'lies wholly outside the 64x80 clip'),
    ([-30., 10., -1., 20.], 'lies wholly outside'),
    ([float('nan'), 1., 2., 3.], 'is not finite'),
    ([1., 2., float('inf'), 3.], 'is not finite'),
])
def test_bad_training_boxes_are_refused_naming_the_sample(box, what):
    """A training box that is not finite, inverted or outside the clip is
    refused before the batch goes to the model, naming the sample and the
    box (at test time the samples carry no boxes to train on)."""
    from mmengine.structures import InstanceData
    pre = build()

    def batch(bad):
        s = sample(64, 80)
        s.set_metainfo(dict(video_id='vid7', timestamp=905))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[1., 2., 30., 40.], bad]),
            labels=torch.zeros(2, 81))
        return dict(inputs=[torch.zeros(3, 2, 64, 80)], data_samples=[s])

    with pytest.raises(ValueError) as info:
        pre(batch(box), True)
    message = str(info.value)
    assert '(vid7,905)' in message and 'gt_instances.bboxes[1]' in message
    assert what in message
    pre(batch(box), False)  # not training: not read
    pre(batch([40., 30., 80., 64.]), True)  # touching the edges: fine
