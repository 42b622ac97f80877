"""``tools/model_converters/convert_kinetics_checkpoint.py``: a PySlowFast
Kinetics checkpoint into the backbone weights of a config."""
import stmixer_mm  # noqa: F401  (compat fixes + registration before build)
from stmixer_mm.apps.converter_tools import (build_config_backbone,
                                             exit_unless_fits, read_source,
                                             save_converted)
from stmixer_mm.apps.converters.pyslowfast import (
    convert_pyslowfast_state_dict, extract_pyslowfast_state_dict)
from stmixer_mm.converters.common import compare_state_dicts
from . import add_cfg_options, add_trust_pickle, converter_parser


def parse_args(argv=None):
    parser = converter_parser(
        'Convert a PySlowFast Kinetics checkpoint into the backbone weights '
        'of a CNN STMixer config', 'PySlowFast checkpoint (.pkl or .pyth)',
        'where to write the converted weights',
        'STMixer config whose backbone receives the weights; the converted '
        'weights must fit it exactly')
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
    add_trust_pickle(
        parser, 'full unpickling of SRC (only for files you trust), when the '
        'safe loader refuses it')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    state_dict, report, entry, _ = read_source(
        args, extract_pyslowfast_state_dict,
        lambda weights: convert_pyslowfast_state_dict(
            weights,
            backbone=args.backbone,
            source_format=args.format,
            progress=True))

    backbone = build_config_backbone(args.config, args.cfg_options)[0]
    expected = {f'backbone.{k}': v for k, v in backbone.state_dict().items()}
    exit_unless_fits(
        args, *compare_state_dicts(state_dict, expected), show=True)
    backbone.load_state_dict(
        {
            k[len('backbone.'):]: v
            for k, v in state_dict.items()
        }, strict=True)
    print(f'checked: loads into the backbone of {args.config} with '
          'strict=True')
    return save_converted(
        args,
        state_dict,
        'stmixer_mm.apps.converters.pyslowfast.convert_pyslowfast_state_dict',
        entry,
        verified_with_config=True,
        conversion=report.to_dict())


if __name__ == '__main__':
    main()
