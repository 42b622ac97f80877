"""The findings of the data set doctor and their report."""
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

ERROR = 'ERROR'
WARNING = 'WARNING'
#: examples listed per warning
MAX_EXAMPLES = 5
#: a folder holding this many times the frames the fps implies is wrong
FPS_TOLERANCE = 1.5
#: IoU above which two person ids at one AVA keyframe are one person
#: annotated twice (a duplicate export overlaps at IoU 1)
DUPLICATE_IOU = 0.9
#: boxes within this fraction of the frame of a straight line are "exactly
#: linear": twice the csv's 3-decimal rounding, far below hand-drawn jitter
LINEAR_TOLERANCE = 2e-3
#: tube boxes rounded to whole pixels lie within 1.5 px of their line
LINEAR_TOLERANCE_PX = 1.5
#: AVA: boxes moving linearly over this many consecutive keyframes look
#: tool-interpolated (the synthetic walkers turn within 5)
MIN_INTERPOLATED_KEYFRAMES = 7
#: tubes: the same over this many frames (6 s at 16 fps; synthetic walkers
#: and tools interpolating between keyframes 1-2 s apart stay below)
MIN_INTERPOLATED_FRAMES = 96


def class_text(i: int, names: Dict[int, str]) -> str:
    """``3 'walk'``, or ``8 (no name)`` for a class the names lack.

    Args:
        i (int): The class column.
        names (dict[int, str]): ``{class column: name}``.

    Returns:
        str: The column and its quoted name.
    """
    return f'{i} {names[i]!r}' if i in names else f'{i} (no name)'


def _str_keys(d: dict) -> dict:
    return {str(k): v for k, v in sorted(d.items())}


@dataclass
class Finding:
    """One finding of the doctor: ``level`` (``ERROR`` / ``WARNING``),
    ``check`` (e.g. ``'box'``), ``message`` and, where known, the ``split``,
    ``file``, ``line``, ``video`` and ``frame`` (AVA timestamp or tube
    frame)."""
    level: str
    check: str
    message: str
    split: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None
    video: Optional[str] = None
    frame: Optional[int] = None

    def format(self) -> str:
        split = f'[{self.split}] ' if self.split else ''
        return f'{self.level} {split}{self.check}: {self.message}'


@dataclass
class DatasetReport:
    """The findings and label histograms of the checked splits."""
    findings: List[Finding] = field(default_factory=list)
    #: ``{split: {class column: annotated boxes}}``
    histograms: Dict[str, Dict[int, int]] = field(default_factory=dict)
    #: ``{class column: name}``
    class_names: Dict[int, str] = field(default_factory=dict)
    #: ``{split: number of keyframes}``
    keyframes: Dict[str, int] = field(default_factory=dict)
    #: where the class names were read (the label map, the tube pickle)
    names_from: Optional[str] = None
    #: the class columns without training samples
    untrained: List[int] = field(default_factory=list)

    def add(self, level: str, check: str, message: str, **where) -> None:
        """Add a :class:`Finding` (an ``ERROR`` with the message of an
        earlier one is dropped).

        Args:
            level (str): ``ERROR`` or ``WARNING``.
            check (str): The check's name, e.g. ``'box'``.
            message (str): What is wrong and how to fix it.
            **where: :class:`Finding`'s ``split``, ``file``, ``line``,
                ``video`` and ``frame``.
        """
        if level == ERROR and any(f.level == ERROR and f.message == message
                                  for f in self.findings):
            return  # the same error, e.g. again from building the data set
        self.findings.append(Finding(level, check, message, **where))

    @property
    def errors(self) -> List[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> List[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    def histogram_table(self) -> str:
        """The label histogram: one row per class, one column per split."""
        splits = list(self.histograms)
        ids = sorted(set(self.class_names).union(*self.histograms.values()))
        if not ids:
            return '(no labels)'
        names = {i: self.class_names.get(i, '?') for i in ids}
        name_w = max(5, *(len(n) for n in names.values()))
        header = f'{"id":>4}  {"class":<{name_w}}' + ''.join(f'  {s:>8}'
                                                             for s in splits)
        lines = [header, '-' * len(header)]
        for i in ids:
            counts = ''.join(f'  {self.histograms[s].get(i, 0):>8}'
                             for s in splits)
            lines.append(f'{i:>4}  {names[i]:<{name_w}}{counts}')
        total = ''.join(f'  {sum(self.histograms[s].values()):>8}'
                        for s in splits)
        lines.append(f'{"":>4}  {"total":<{name_w}}{total}')
        return '\n'.join(lines)

    def summary(self) -> str:
        errors, warnings = len(self.errors), len(self.warnings)
        splits = ', '.join(f'{s}: {n} keyframes'
                           for s, n in self.keyframes.items())
        verdict = (
            'the data set is refused: fix the ERRORs'
            if errors else 'no errors' +
            (': read the WARNINGs, each can cost mAP' if warnings else ''))
        lines = [
            f'{errors} error(s), {warnings} warning(s)'
            f'{f" ({splits})" if splits else ""}; {verdict}'
        ]
        if self.untrained:
            lines.append(
                f'  WARNING: {len(self.untrained)} class(es) without training '
                'samples, never learned (AP 0): ' + ', '.join(
                    class_text(i, self.class_names) for i in self.untrained))
        return '\n'.join(lines)

    def to_dict(self) -> dict:
        hists = {s: _str_keys(h) for s, h in self.histograms.items()}
        return dict(
            errors=len(self.errors),
            warnings=len(self.warnings),
            findings=[asdict(f) for f in self.findings],
            histograms=hists,
            class_names=_str_keys(self.class_names),
            keyframes=dict(self.keyframes),
            untrained=list(self.untrained))
