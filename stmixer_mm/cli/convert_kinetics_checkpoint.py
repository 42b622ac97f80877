"""``tools/model_converters/convert_kinetics_checkpoint.py`` converts a
PySlowFast Kinetics checkpoint into the backbone weights of a config: its
arguments and ``main(argv)`` (here so that tests and tools call it in
process; the script's docstring is the usage).
"""
import argparse
import os.path as osp

import torch

import stmixer_mm  # noqa: F401  (compat fixes + registration before build)
from stmixer_mm.converters import (compare_state_dicts,
                                   convert_pyslowfast_state_dict,
                                   extract_pyslowfast_state_dict)
from stmixer_mm.converters.tool_utils import (build_config_backbone,
                                              fit_problems, print_list,
                                              save_converted)
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_checkpoint_file)
from . import add_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a PySlowFast Kinetics checkpoint into the '
        'backbone weights of a CNN STMixer config')
    parser.add_argument('src', help='PySlowFast checkpoint (.pkl or .pyth)')
    parser.add_argument('dst', help='where to write the converted weights')
    parser.add_argument(
        '--config',
        required=True,
        help='STMixer config whose backbone receives the weights; the '
        'converted weights must fit it exactly')
    parser.add_argument(
        '--backbone',
        choices=('auto', 'slowfast', 'slowonly'),
        default='auto',
        help='backbone of the checkpoint (default: from its names)')
    parser.add_argument(
        '--format',
        choices=('auto', 'caffe2', 'pyslowfast'),
        default='auto',
        help='name layout: Caffe2 blobs or PySlowFast module names '
        '(default: from the names)')
    add_cfg_options(parser)
    parser.add_argument(
        '--trust-pickle',
        action='store_true',
        help='full unpickling of SRC (only for files you trust), when the '
        'safe loader refuses it')
    return parser.parse_args(argv)


def build_backbone(config: str, cfg_options) -> torch.nn.Module:
    """The backbone of ``config``'s detector (built only, not initialised:
    no pretrained download)."""
    return build_config_backbone(config, cfg_options)[0]


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        source = load_checkpoint_file(args.src, trust_pickle=args.trust_pickle)
        weights, entry = extract_pyslowfast_state_dict(source)
        state_dict, report = convert_pyslowfast_state_dict(
            weights,
            backbone=args.backbone,
            source_format=args.format,
            progress=True)
    except (CheckpointFileError, ValueError, TypeError) as err:
        raise SystemExit(f'error: {args.src}: {err}') from err
    where = f"['{entry}']" if entry else ' (bare dict)'
    print(f'read {len(weights)} entries from {args.src}{where}')
    print(report.summary())

    backbone = build_backbone(args.config, args.cfg_options)
    expected = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    missing, unexpected, mismatched = compare_state_dicts(state_dict, expected)
    if missing or unexpected or mismatched:
        print_list('missing backbone keys (in the model, not converted)',
                   missing)
        print_list('unexpected keys (converted, not in the backbone)',
                   unexpected)
        print_list('shape mismatches', mismatched)
        problems = fit_problems(missing, unexpected, mismatched)
        raise SystemExit(
            f'error: the weights of {args.src} do not fit the backbone of '
            f'{args.config} (' + ' | '.join(problems) + ')')
    backbone.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in state_dict.items()
        }, strict=True)
    print(f'checked: loads into the backbone of {args.config} with '
          'strict=True')

    meta = dict(
        converter='stmixer_mm.converters.pyslowfast.'
        'convert_pyslowfast_state_dict',
        stmixer_mm_version=stmixer_mm.__version__,
        source=osp.basename(args.src),
        source_entry=entry,
        config=args.config,
        verified_with_config=True,
        conversion=report.to_dict())
    return save_converted(args.dst, state_dict, meta)


if __name__ == '__main__':
    main()
