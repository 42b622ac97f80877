r"""Curves and timing from mmengine's json logs (loss, mAP, lr, time...).

    python tools/analysis_tools/analyze_logs.py plot_curve LOG.json \
        [LOG2.json ...] [--keys loss mAP/overall] [--out curves.png]
    python tools/analysis_tools/analyze_logs.py cal_train_time LOG.json

LOG.json: a ``vis_data/<timestamp>.json`` log, or a work dir (its newest)."""
import argparse
import os
import os.path as osp
from typing import List, Optional, Sequence

from stmixer_mm.apps.command_errors import command_error
from stmixer_mm.apps.json_logs import curve, find_log, load_log, train_time
from stmixer_mm.apps.output_files import check_output_file


def plot_curve(args) -> str:
    import matplotlib
    matplotlib.use('Agg' if args.out else matplotlib.get_backend())
    import matplotlib.pyplot as plt
    logs = [load_log(p) for p in args.json_logs]
    legend = args.legend or [osp.basename(find_log(p)) for p in args.json_logs]
    if len(legend) != len(logs):
        raise ValueError(f'{len(legend)} legend entries for {len(logs)} '
                         'logs')
    fig, axes = plt.subplots(
        len(args.keys), 1, figsize=(7, 3 * len(args.keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], args.keys):
        for log, path, name in zip(logs, args.json_logs, legend):
            xs, ys, x_label = curve(log, key, path)
            ax.plot(
                xs, ys, marker='o' if x_label == 'epoch' else None, label=name)
            print(f'plot curve of {path}, metric is {key} '
                  f'({len(xs)} points)')
        ax.set_xlabel(x_label)
        ax.set_ylabel(key)
        ax.legend()
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        fig.savefig(args.out, dpi=100)
        print(f'save curve to: {args.out}')
    else:
        plt.show()
    plt.close(fig)
    return args.out


def cal_train_time(args) -> List[dict]:
    """Per log: average, slowest/fastest epoch and std of the iteration time
    (each epoch's first iteration left out unless ``--include-outliers``)."""
    results = []
    for path in args.json_logs:
        res = train_time(load_log(path), path, args.include_outliers)
        means, slow, fast = res.pop('means'), res['slowest'], res['fastest']
        print(f'-----Analyze train time of {path}-----')
        print(f'slowest epoch {slow}, average time is {means[slow]:.4f} s')
        print(f'fastest epoch {fast}, average time is {means[fast]:.4f} s')
        print(f'time std over epochs is {res["std"]:.4f}')
        print(f'average iter time: {res["mean"]:.4f} s/iter')
        results.append(res)
    return results


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(description='Analyze mmengine json logs')
    sub = p.add_subparsers(dest='task', required=True)
    plot = sub.add_parser('plot_curve', help='plot curves of some keys')
    plot.add_argument('json_logs', nargs='+', help='json logs or work dirs')
    plot.add_argument(
        '--keys', nargs='+', default=['loss'], help='keys to plot')
    plot.add_argument('--legend', nargs='+', help='one name per log')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--out', help='save the figure here (else show it)')
    tm = sub.add_parser('cal_train_time', help='iteration time per epoch')
    tm.add_argument('json_logs', nargs='+', help='json logs or work dirs')
    tm.add_argument(
        '--include-outliers',
        action='store_true',
        help='keep the first iteration of every epoch')
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None):
    args = parse_args(argv)
    try:
        if args.task == 'plot_curve':
            if args.out:  # before the logs are read, not after the plot
                check_output_file(args.out, '--out')
            return plot_curve(args)
        return cal_train_time(args)
    except (OSError, ValueError, KeyError) as e:  # a log or --out, named
        raise SystemExit(
            command_error(
                e.args[0] if isinstance(e, KeyError) else e)) from None


if __name__ == '__main__':
    main()
