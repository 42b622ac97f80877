"""``tools/model_converters/convert_videomae_checkpoint.py`` converts a
VideoMAE / VideoMAE V2 ViT checkpoint into the backbone weights of a
config: its arguments and ``main(argv)`` (here so that tests and tools call
it in process; the script's docstring is the usage).
"""
import argparse
import os.path as osp

import stmixer_mm  # noqa: F401  (compat fixes + registration before build)
from stmixer_mm.converters import (compare_state_dicts,
                                   convert_videomae_state_dict,
                                   extract_videomae_state_dict)
from stmixer_mm.converters.tool_utils import (build_config_backbone,
                                              fit_problems, save_converted)
from stmixer_mm.utils.checkpoint_loading import (CheckpointFileError,
                                                 load_checkpoint_file)
from . import add_cfg_options


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a VideoMAE / VideoMAE V2 checkpoint into the '
        'backbone weights of a ViT STMixer config')
    parser.add_argument('src', help='VideoMAE / VideoMAE V2 checkpoint')
    parser.add_argument('dst', help='where to write the converted weights')
    parser.add_argument(
        '--config',
        required=True,
        help='STMixer config whose backbone receives the weights')
    add_cfg_options(parser)
    parser.add_argument(
        '--trust-pickle',
        action='store_true',
        help='full unpickling of SRC (only for files you trust)')
    return parser.parse_args(argv)


def build_backbone_on_meta(config: str, cfg_options):
    """The backbone of ``config`` on the meta device (shapes only), and the
    config."""
    return build_config_backbone(config, cfg_options, on_meta=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    backbone, cfg = build_backbone_on_meta(args.config, args.cfg_options)
    try:
        source = load_checkpoint_file(args.src, trust_pickle=args.trust_pickle)
        weights, entry = extract_videomae_state_dict(source)
        state_dict, report = convert_videomae_state_dict(
            weights,
            num_frames=cfg.model.backbone.get('num_frames', 16),
            img_size=cfg.model.backbone.get('img_size', 224))
    except (CheckpointFileError, ValueError, TypeError, KeyError) as err:
        raise SystemExit(f'error: {args.src}: {err}') from err
    where = f"['{entry}']" if entry else ' (bare dict)'
    print(f'read {len(weights)} entries from {args.src}{where}')
    print(report.summary())

    expected = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    missing, unexpected, mismatched = compare_state_dicts(state_dict, expected)
    pooled = any(k.endswith('fc_norm.weight') for k in report.dropped)
    kept_init = [
        k for k in missing
        if pooled and k in ('backbone.norm.weight', 'backbone.norm.bias')
    ]
    missing = [k for k in missing if k not in kept_init]
    if missing or unexpected or mismatched:
        problems = fit_problems(missing, unexpected, mismatched)
        raise SystemExit(
            f'error: the weights of {args.src} do not fit the backbone of '
            f'{args.config} (' + ' | '.join(problems) + ')')
    if kept_init:
        print(f'keeps its initialisation: {kept_init} (the source has a '
              'mean-pooling fc_norm instead)')
    print(f'checked: every key and shape fits the backbone of {args.config}')
    meta = dict(
        converter='stmixer_mm.converters.videomae.'
        'convert_videomae_state_dict',
        stmixer_mm_version=stmixer_mm.__version__,
        source=osp.basename(args.src),
        source_entry=entry,
        config=args.config,
        kept_init=kept_init,
        conversion=report.to_dict())
    return save_converted(args.dst, state_dict, meta)


if __name__ == '__main__':
    main()
