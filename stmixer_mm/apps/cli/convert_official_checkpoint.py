"""``tools/model_converters/convert_official_checkpoint.py``: an official
STMixer checkpoint (github MCG-NJU/STMixer) into this implementation's."""
import copy
import os.path as osp

import torch
from mmengine.registry import init_default_scope

import stmixer_mm  # noqa: F401  (compat fixes + registration before build)
from stmixer_mm.apps.command_errors import command_error, whole_number
from stmixer_mm.apps.converter_tools import (load_converter_config, print_list,
                                             read_source, save_checkpoint_file)
from stmixer_mm.converters.common import compare_state_dicts
from stmixer_mm.converters.official import (BACKBONES,
                                            convert_official_state_dict,
                                            extract_state_dict,
                                            official_checkpoint_meta,
                                            refuse_unknown_keys)
from stmixer_mm.datasets.class_names import model_action_columns
from stmixer_mm.engine.checkpoint import take_generated_tensors
from stmixer_mm.engine.class_remap import (classes_from_label_map,
                                           remap_action_classes)
from stmixer_mm.registry import MODELS
from . import add_cfg_options, add_trust_pickle, converter_parser

#: the ViT position table of the official ViT-B, without --config
VIT_NUM_FRAMES, VIT_IMG_SIZE = 16, 224


def parse_args(argv=None):
    parser = converter_parser(
        'Convert an official STMixer checkpoint to stmixer_mm',
        'official checkpoint (.pth)',
        'where to write the converted checkpoint',
        'stmixer_mm config of the same model: build it and require that the '
        'converted weights load with strict checking', False)
    parser.add_argument(
        '--backbone',
        choices=BACKBONES,
        default='auto',
        help='backbone of the official checkpoint (default: from its keys)')
    add_cfg_options(parser)
    parser.add_argument(
        '--vit-num-frames',
        type=whole_number,
        help='frames of the ViT position table, to generate pos_embed '
        f'without --config (default {VIT_NUM_FRAMES}, the official ViT-B)')
    parser.add_argument(
        '--vit-img-size',
        type=whole_number,
        help='input size of the ViT position table, without --config '
        f'(default {VIT_IMG_SIZE})')
    parser.add_argument(
        '--label-map',
        help='label map of the official model (AVA .pbtxt / ACT .pkl): '
        'its class names go into meta.dataset_meta.classes')
    parser.add_argument(
        '--to-classes',
        metavar='LABEL_MAP',
        help='map the action classifiers by name onto these classes (needs '
        '--config and --label-map)')
    parser.add_argument(
        '--seed',
        type=int,
        help='seed of the initialisation of the new classes (--to-classes; '
        'default 0)')
    add_trust_pickle(
        parser, 'load SRC with torch.load(weights_only=False); only for files '
        'you trust, when the default safe loading fails')
    args = parser.parse_args(argv)
    if args.to_classes and not (args.config and args.label_map):
        parser.error('--to-classes needs --config (the target model) and '
                     '--label-map (the classes of SRC)')
    # nothing given is silently unused
    if args.config is not None:
        for flag in ('vit_num_frames', 'vit_img_size'):
            if getattr(args, flag) is not None:
                parser.error(f'--{flag.replace("_", "-")} applies without '
                             '--config only (with --config the ViT position '
                             "table is the config's model's)")
    elif args.cfg_options is not None:
        parser.error('--cfg-options applies to the model of --config, and '
                     'no --config was given')
    if args.seed is not None and args.to_classes is None:
        parser.error('--seed applies to --to-classes only (the '
                     'initialisation of the new classes)')
    return args


def _action_rows(state_dict: dict) -> int:
    keys = sorted(k for k in state_dict if k.endswith('fc_action.weight'))
    if not keys:
        raise SystemExit(
            command_error('the converted weights have no '
                          'fc_action.weight: cannot name their classes'))
    return int(state_dict[keys[0]].shape[0])


def build_model(config: str, cfg_options) -> torch.nn.Module:
    cfg = load_converter_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    # init_weights not called: no pretrained download
    return MODELS.build(copy.deepcopy(cfg.model))


def main(argv=None) -> dict:
    args = parse_args(argv)
    state_dict, report, entry, source = read_source(
        args,
        extract_state_dict,
        lambda official: convert_official_state_dict(
            official,
            backbone=args.backbone,
            vit_num_frames=args.vit_num_frames or VIT_NUM_FRAMES,
            vit_img_size=args.vit_img_size or VIT_IMG_SIZE,
            progress=True),
        noun='tensors',
        bare='state dict')
    if report.unexpected:
        print_list('official keys the converter does not know',
                   report.unexpected)
    try:
        refuse_unknown_keys(report)
    except ValueError as err:
        raise SystemExit(command_error(err)) from None

    classes = None
    if args.label_map is not None:
        try:
            classes = classes_from_label_map(args.label_map,
                                             _action_rows(state_dict))
        except ValueError as err:
            raise SystemExit(command_error(err)) from None
        print(f'classes of {args.src} from {args.label_map}: '
              f'{sum(c is not None for c in classes)} named of '
              f'{len(classes)} columns')
    if args.config is not None:
        model = build_model(args.config, args.cfg_options)
        if args.to_classes is not None:
            try:
                target = classes_from_label_map(args.to_classes,
                                                model_action_columns(model)[0])
            except (ValueError, TypeError) as err:
                raise SystemExit(
                    command_error(f'--to-classes: {err}')) from None
            # the new classes' rows: the model's own initialisation
            torch.manual_seed(args.seed or 0)
            for stage in model.roi_head.stages:
                stage.init_weights()
            try:
                remap_action_classes(
                    state_dict,
                    model,
                    classes,
                    target,
                    source=args.src,
                    logger='current')
            except ValueError as err:
                raise SystemExit(
                    command_error(f'--to-classes: {err}')) from None
            classes = target
        expected = model.state_dict()
        # generated buffers are fixed by the config: take the model's
        for key in take_generated_tensors(state_dict, report.generated,
                                          expected):
            report.generated[key] += '; taken from the config\'s model'
        missing, unexpected, mismatched = compare_state_dicts(
            state_dict, expected)
        if missing or unexpected or mismatched:
            print_list('missing keys (in the model, not converted)', missing)
            print_list('unexpected keys (converted, not in the model)',
                       unexpected)
            print_list('shape mismatches', mismatched)
            problems = []
            if missing:
                problems.append(f'missing: {", ".join(missing)}')
            if unexpected:
                problems.append(f'unexpected: {", ".join(unexpected)}')
            if mismatched:
                problems.append(f'shape mismatch: {"; ".join(mismatched)}')
            raise SystemExit(
                command_error(f'the converted weights do not fit '
                              f'{args.config} (' + ' | '.join(problems) + ')'))
        model.load_state_dict(state_dict, strict=True)
        print(f'checked: loads into the model of {args.config} with '
              'strict=True')

    meta = official_checkpoint_meta(args.src, source, entry, report,
                                    args.config)
    if classes is not None:
        meta['dataset_meta'] = dict(classes=classes)
        meta['label_map'] = osp.basename(args.to_classes or args.label_map)
    checkpoint = dict(meta=meta, state_dict=state_dict)
    save_checkpoint_file(checkpoint, args.dst)
    print(f'saved {len(state_dict)} tensors to {args.dst}')
    return checkpoint


if __name__ == '__main__':
    main()
