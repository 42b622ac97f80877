"""``tools/deployment/export_onnx.py``: export an STMixer detector to ONNX
for a fixed clip size (docs/en/deployment.md)."""
import argparse
import copy
import json
import os.path as osp
import sys
import time
import warnings

from mmengine.config import Config

import stmixer_mm  # noqa: F401  (compat fixes + registration before build)
from stmixer_mm.apis import init_detector
from stmixer_mm.apis.config_files import load_config
from stmixer_mm.apis.output_files import prepare_out_dir
from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.deployment import (EXPORTERS, check_exportable,
                                        compare_with_torch, export_onnx,
                                        get_sampling_impls, set_sampling_impl)
from stmixer_mm.apps.output_files import check_output_file
from stmixer_mm.apps.preflight import check_config
from stmixer_mm.datasets.class_names import class_names, model_action_columns
from stmixer_mm.engine import CheckpointMismatchError
from stmixer_mm.utils import CheckpointFileError, ConfigSettingError
from stmixer_mm.utils.dependencies import require_extra
from . import CONFIG_HELP, add_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export an STMixer detector to ONNX (fixed clip size)')
    parser.add_argument('config', help=CONFIG_HELP)
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('out', help='output .onnx file')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        required=True,
        help='frames, height and width of the clips (after the test '
        "pipeline's resize, before padding)")
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument(
        '--opset', type=int, default=17, help='ONNX opset (>= 16)')
    parser.add_argument(
        '--exporter',
        choices=EXPORTERS,
        default='torchscript',
        help="torchscript: torch.onnx.export(dynamo=False) (default); "
        'dynamo: the torch.export-based exporter (needs onnxscript)')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='compare ONNX Runtime with PyTorch on random clips')
    parser.add_argument(
        '--atol',
        type=float,
        default=1e-4,
        help='largest accepted difference of probabilities and normalised '
        'boxes in --verify')
    parser.add_argument(
        '--threads', type=int, help='ONNX Runtime threads for --verify')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the --verify clips')
    parser.add_argument(
        '--keyframe-only',
        action='store_true',
        help='export the keyframe detector of a model whose predictions the '
        'graph does not give (a subclass of STMixer with its own predict, '
        'e.g. track queries carried from keyframe to keyframe), with a '
        'warning; without it such a model is refused')
    parser.add_argument(
        '--label-map',
        help='AVA .pbtxt / ACT .pkl naming the action columns (default: the '
        "config's test dataset, else the checkpoint's "
        'meta.dataset_meta.classes)')
    parser.add_argument(
        '--no-class-names',
        action='store_true',
        help='export without class names when none can be found')
    add_cfg_options(parser)
    args = parser.parse_args(argv)
    if min(args.shape) <= 0 or args.batch_size <= 0:
        parser.error(f'--shape and --batch-size must be positive, got '
                     f'--shape {args.shape} --batch-size {args.batch_size}')
    return args


def export_classes(model, label_map=None):
    """``classes`` for the metadata: one entry per action column."""
    names = class_names(model, label_map)
    num_actions = model_action_columns(model)[0]
    return [names.get(i) for i in range(1, num_actions + 1)]


def build(config: Config, checkpoint: str, impl=None):
    cfg = copy.deepcopy(config)  # set_sampling_impl changes nested dicts
    if impl is not None:
        set_sampling_impl(cfg, impl)
    # the config's test_cfg as it is (num_fallback included), as tools/test.py
    return init_detector(cfg, checkpoint, 'cpu', fallback_queries=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    modules = ('onnx', ) + (('onnxruntime', ) if args.verify else ()) + (
        ('onnxscript', ) if args.exporter == 'dynamo' else ())
    try:
        require_extra('onnx', 'the ONNX export', modules)
    except ModuleNotFoundError as e:
        print(command_error(e), file=sys.stderr)
        return 1
    try:  # before the model is built, not a traceback after the export
        check_output_file(args.out, 'OUT')
        prepare_out_dir(osp.dirname(osp.abspath(args.out)), flag='OUT')
    except OSError as e:
        print(command_error(e), file=sys.stderr)
        return 1
    try:
        cfg = load_config(args.config)
    except (ConfigSettingError, FileNotFoundError) as e:
        print(command_error(e), file=sys.stderr)
        return 1
    try:
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        check_config(
            cfg,
            sections=('model', 'test_dataloader', 'val_dataloader'),
            consistency=False)
    except ConfigSettingError as e:
        print(command_error(f'{args.config}: {e}'), file=sys.stderr)
        return 1
    try:
        model = build(cfg, args.checkpoint, impl='reference')
    except (CheckpointMismatchError, CheckpointFileError,
            FileNotFoundError) as e:
        print(command_error(e), file=sys.stderr)
        return 1
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            check_exportable(model, args.keyframe_only)
    except ValueError as e:
        print(command_error(f'{args.config}: {e}'), file=sys.stderr)
        return 1
    for w in caught:
        print(f'WARNING: {w.message}', file=sys.stderr)
    classes = None
    if not args.no_class_names:
        try:
            classes = export_classes(model, args.label_map)
        except ValueError as e:
            print(
                command_error(f'{e} (--no-class-names exports without names)'),
                file=sys.stderr)
            return 1
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # (said above, once)
            warnings.filterwarnings(
                'ignore', category=UserWarning, message='the model is an ')
            meta = export_onnx(
                model,
                args.out,
                args.shape,
                batch_size=args.batch_size,
                opset=args.opset,
                exporter=args.exporter,
                extra_meta=dict(
                    config=osp.abspath(cfg.filename),
                    checkpoint=osp.abspath(args.checkpoint),
                    sampling_impl='reference',
                    classes=classes),
                keyframe_only=args.keyframe_only)
    except ValueError as e:  # e.g. a --shape the model cannot take
        print(
            command_error(f'cannot export {args.config} for --shape '
                          f'{" ".join(map(str, args.shape))} --batch-size '
                          f'{args.batch_size}: {e}'),
            file=sys.stderr)
        return 1
    print(f'exported {args.out} in {time.perf_counter() - t0:.1f} s '
          f'({args.exporter} exporter, opset {meta["opset"]})')
    print(f'input  {meta["input_name"]}: {meta["input_shape"]} float32 '
          f'(normalised; padded inside to {meta["pad_shape"]})')
    print(f'outputs {meta["output_names"]}; post-processing settings '
          f'{json.dumps(meta["test_cfg"])} (postprocess() takes '
          'num_fallback=0 unless fallback_queries=True)')
    if not args.verify:
        return 0
    reference = build(cfg, args.checkpoint)  # the config's own sampler
    impls = sorted(set(get_sampling_impls(reference.cfg)))
    print(f'verify against PyTorch with the config\'s sampling impl '
          f'{"/".join(impls)}')
    report = compare_with_torch(
        reference,
        args.out,
        meta,
        seed=args.seed,
        atol=args.atol,
        threads=args.threads)
    print('verify (max abs difference, ONNX Runtime vs PyTorch): '
          f'person scores {report["person_scores"]:.2e}, action scores '
          f'{report["action_scores"]:.2e}, normalised boxes '
          f'{report["bboxes"]:.2e}, raw logits {report["logits"]:.2e}; '
          f'detections vs predict {report["detections"]:.2e} '
          f'({report["num_detections"]} detections)')
    if not report['ok']:
        for error in report['errors']:
            print(command_error(error), file=sys.stderr)
        return 1
    print(f'verify OK (atol {args.atol:g})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
