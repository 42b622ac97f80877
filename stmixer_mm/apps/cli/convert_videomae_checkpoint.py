"""``tools/model_converters/convert_videomae_checkpoint.py``: a VideoMAE /
VideoMAE V2 ViT checkpoint into the backbone weights of a config."""
import stmixer_mm  # noqa: F401  (compat fixes + registration before build)
from stmixer_mm.apps.converter_tools import (build_config_backbone,
                                             exit_unless_fits, read_source,
                                             save_converted)
from stmixer_mm.apps.converters.videomae import (convert_videomae_state_dict,
                                                 extract_videomae_state_dict)
from stmixer_mm.converters.common import compare_state_dicts
from . import add_cfg_options, add_trust_pickle, converter_parser


def parse_args(argv=None):
    parser = converter_parser(
        'Convert a VideoMAE / VideoMAE V2 checkpoint into the backbone '
        'weights of a ViT STMixer config', 'VideoMAE / VideoMAE V2 checkpoint',
        'where to write the converted weights',
        'STMixer config whose backbone receives the weights')
    add_cfg_options(parser)
    add_trust_pickle(parser,
                     'full unpickling of SRC (only for files you trust)')
    return parser.parse_args(argv)


def build_backbone_on_meta(config: str, cfg_options):
    """The backbone of ``config`` on the meta device (shapes only), and the
    config."""
    return build_config_backbone(config, cfg_options, on_meta=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    backbone, cfg = build_backbone_on_meta(args.config, args.cfg_options)
    state_dict, report, entry, _ = read_source(
        args,
        extract_videomae_state_dict,
        lambda weights: convert_videomae_state_dict(
            weights,
            num_frames=cfg.model.backbone.get('num_frames', 16),
            img_size=cfg.model.backbone.get('img_size', 224)),
        errors=(KeyError, ))

    expected = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    missing, unexpected, mismatched = compare_state_dicts(state_dict, expected)
    pooled = any(k.endswith('fc_norm.weight') for k in report.dropped)
    kept_init = [
        k for k in missing
        if pooled and k in ('backbone.norm.weight', 'backbone.norm.bias')
    ]
    missing = [k for k in missing if k not in kept_init]
    exit_unless_fits(args, missing, unexpected, mismatched)
    if kept_init:
        print(f'keeps its initialisation: {kept_init} (the source has a '
              'mean-pooling fc_norm instead)')
    print(f'checked: every key and shape fits the backbone of {args.config}')
    return save_converted(
        args,
        state_dict,
        'stmixer_mm.apps.converters.videomae.convert_videomae_state_dict',
        entry,
        kept_init=kept_init,
        conversion=report.to_dict())


if __name__ == '__main__':
    main()
