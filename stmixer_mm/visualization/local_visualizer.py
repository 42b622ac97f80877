"""mmengine's ``Visualizer`` for action detection (``add_datasample`` as
mmdet's); see docs/en/useful_tools.md ("Visualization")."""
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.structures import InstanceData
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer
from mmengine.visualization.utils import color_val_matplotlib

from stmixer_mm.registry import VISUALIZERS
from stmixer_mm.utils.checks import check_choice, check_ints, check_range
from .canvas import fill_mask, scale_up
from .labels import load_label_names, top_actions

ColorType = Union[str, Tuple[int, int, int]]
LAYOUTS = ('side_by_side', 'overlay')


def _masks_of(instances: InstanceData,
              keep: Sequence[int]) -> Optional[np.ndarray]:
    """The kept instances' ``masks`` (bool ``[k, H, W]``) or None."""
    if 'masks' not in instances:
        return None
    masks = instances.masks
    masks = masks.to_ndarray() if hasattr(masks, 'to_ndarray') else \
        _to_numpy(masks)
    return np.asarray(masks, bool)[list(keep)]


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@VISUALIZERS.register_module()
class ActionDetLocalVisualizer(Visualizer):
    """Local visualizer of action detection (boxes + multi-label actions).

    Args:
        name (str): Name of the instance (mmengine's ``ManagerMixin``).
        image (np.ndarray, optional): Image to draw on, ``[H, W, 3]`` RGB.
        vis_backends (list[dict], optional): Storage backends, as mmengine.
        save_dir (str, optional): Where the backends write.
        label_names (dict[int, str], optional): Score column -> name.
        label_file (str, optional): AVA label map read into ``label_names``.
        gt_color (str | tuple): Colour of ground-truth boxes (RGB).
        pred_color (str | tuple): Colour of predicted boxes (RGB).
        layout (str): ``'side_by_side'`` (ground truth left) or
            ``'overlay'`` (both on one frame).
        min_short_side (int): Scale frames up to this short side (0: never).
        topk (int): Actions listed per box.
        line_width (float, optional): Box line width (output pixels).
        font_size (int, optional): Legend font size (output pixels).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 label_names: Optional[Dict[int, str]] = None,
                 label_file: Optional[str] = None,
                 gt_color: ColorType = (0, 200, 0),
                 pred_color: ColorType = (230, 20, 20),
                 layout: str = 'side_by_side',
                 min_short_side: int = 360,
                 topk: int = 3,
                 line_width: Optional[float] = None,
                 font_size: Optional[int] = None) -> None:
        who = 'ActionDetLocalVisualizer'
        check_choice(who, LAYOUTS, layout=layout)
        check_ints(who, 0, min_short_side=min_short_side)
        check_ints(who, topk=topk)
        if font_size is not None:
            check_ints(who, font_size=font_size)
        if line_width is not None:
            check_range(who, '(0, inf)', line_width=line_width)
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir)
        self.label_names: Dict[int, str] = dict(label_names or {})
        if label_file is not None:
            self.label_names.update(load_label_names(label_file))
        self.gt_color = gt_color
        self.pred_color = pred_color
        self.layout = layout
        self.min_short_side = min_short_side
        self.topk = topk
        self.line_width = line_width
        self.font_size = font_size

    def scale_for(self, height: int, width: int) -> float:
        """The factor a frame is enlarged by.

        Args:
            height (int): The frame's height, pixels.
            width (int): Its width, pixels.

        Returns:
            float: ``min_short_side / min(height, width)``, at least 1
            (1 with ``min_short_side=0``).
        """
        return max(1.0, self.min_short_side / min(height, width)) \
            if self.min_short_side > 0 else 1.0

    def _name(self, label: int) -> str:
        return self.label_names.get(label, str(label))

    def _skip_background(self) -> bool:
        return 0 not in self.label_names

    def _gt_items(self, gt: InstanceData) -> Tuple[np.ndarray, List[str]]:
        """Ground-truth boxes (pixels) and legend text; ``gt.labels`` is
        multi-hot ``[n, num_classes]`` (AVA) or label ids ``[n]``."""
        boxes = _to_numpy(gt.bboxes).reshape(-1, 4).astype(np.float32)
        texts = []
        if 'labels' in gt:
            labels = _to_numpy(gt.labels)
            if len(labels) != len(boxes):
                raise ValueError(f'gt_instances: {len(boxes)} boxes but '
                                 f'{len(labels)} label rows')
            for row in labels:
                ids = (
                    np.nonzero(row)[0]
                    if np.ndim(row) == 1 else np.atleast_1d(row).astype(int))
                if self._skip_background():
                    ids = [i for i in ids if i != 0]
                texts.append(', '.join(self._name(int(i)) for i in ids))
        else:
            texts = [''] * len(boxes)
        return boxes, texts

    def _pred_items(
            self, pred: InstanceData, img_shape: Tuple[int, int],
            score_thr: float) -> Tuple[np.ndarray, List[str], List[int]]:
        """Predicted boxes (pixels), legend texts and the indices kept (an
        action >= ``score_thr``); boxes all <= 1.5 are normalised."""
        boxes = _to_numpy(pred.bboxes).reshape(-1, 4).astype(np.float32)
        if len(boxes) and boxes.max() <= 1.5:
            h, w = img_shape
            boxes = boxes * np.array([w, h, w, h], dtype=np.float32)
        scores = (
            _to_numpy(pred.scores) if 'scores' in pred else np.zeros(
                (len(boxes), 0)))
        person = (
            _to_numpy(pred.person_scores).reshape(-1)
            if 'person_scores' in pred else None)
        keep, texts = [], []
        for k in range(len(boxes)):
            acts = top_actions(scores[k], score_thr, self.topk,
                               self._skip_background())
            if not acts:
                continue
            keep.append(k)
            text = ', '.join(f'{self._name(i)} {s:.2f}' for i, s in acts)
            if person is not None:
                text = f'(person {person[k]:.2f}) {text}'
            texts.append(text)
        return boxes[keep], texts, keep

    def _wrap(self, text: str, max_chars: int) -> List[str]:
        words, lines, cur = text.split(' '), [], ''
        for w in words:
            if cur and len(cur) + 1 + len(w) > max_chars:
                lines.append(cur)
                cur = '   ' + w
            else:
                cur = f'{cur} {w}' if cur else w
        lines.append(cur)
        return lines

    def draw_panels(self,
                    image: np.ndarray,
                    panels: Sequence[Tuple[str, Sequence[Tuple[np.ndarray,
                                                               List[str],
                                                               ColorType]]]],
                    legend_lines: Optional[int] = None) -> np.ndarray:
        """Draw panels of boxes and legends; return the RGB canvas.

        Args:
            image (np.ndarray): ``[H, W, 3]`` RGB uint8 frame.
            panels (Sequence[tuple]): per panel (left to right) ``(title,
                groups)``; a group is ``(boxes [n, 4] xyxy pixels, texts
                [n], colour)`` (pixels of ``image``) with optional bool
                masks ``[n, H, W]`` (filled translucent).
            legend_lines (int, optional): Reserve exactly this many lines (one
                canvas size for a whole video); default: as needed.

        Returns:
            np.ndarray: RGB uint8 canvas ``[sH + L, P * sW + gaps, 3]``:
            the ``P`` panels side by side on the frame scaled by
            :meth:`scale_for` (``sH x sW``), the legends (``L`` rows of
            pixels) below.
        """
        image, s = scale_up(
            np.ascontiguousarray(image[..., :3], dtype=np.uint8),
            self.min_short_side, cv2.INTER_CUBIC)
        sh, sw = image.shape[:2]
        short = min(sh, sw)
        font = self.font_size or int(np.clip(round(short / 28), 10, 30))
        lw = self.line_width or max(2.0, short / 180)
        line_h = int(math.ceil(font * 1.45))
        # DejaVu Sans is ~0.6 em a character; a margin keeps lines inside
        max_chars = max(12, int(sw / (0.7 * font)) - 2)
        gap = 0 if len(panels) == 1 else max(4, font // 2)

        legends = []
        for title, groups in panels:
            lines = [(title, 'black')] if title else []
            n = 0
            for _, texts, color, *_ in groups:
                for t in texts:
                    n += 1
                    lines += [(piece, color) for piece in self._wrap(
                        f'{n}: {t}' if t else f'{n}', max_chars)]
            legends.append(lines)
        if legend_lines is not None:
            if legend_lines < 0:
                raise ValueError(f'legend_lines must be >= 0, got '
                                 f'{legend_lines}')
            for k, lines in enumerate(legends):
                if len(lines) > legend_lines:
                    cut = len(lines) - legend_lines + 1
                    legends[k] = lines[:legend_lines - 1] + [
                        (f'... (+{cut} lines)', 'black')
                    ] if legend_lines else []
            legend_h = legend_lines * line_h
        else:
            legend_h = max(len(lines) for lines in legends) * line_h
        legend_h += font // 2 if legend_h else 0
        width = len(panels) * sw + (len(panels) - 1) * gap
        canvas = np.full((sh + legend_h, width, 3), 255, dtype=np.uint8)
        for p, (_, groups) in enumerate(panels):
            x0 = p * (sw + gap)
            canvas[:sh, x0:x0 + sw] = image
            for group in groups:
                masks = group[3] if len(group) > 3 else None
                if masks is None:
                    continue
                if len(masks) != len(group[0]):
                    raise ValueError(f'{len(group[0])} boxes but '
                                     f'{len(masks)} masks')
                color = np.array(color_val_matplotlib(group[2])[:3]) * 255
                for m in masks:
                    fill_mask(canvas[:sh, x0:x0 + sw], m, color)
        self.set_image(canvas)

        for p, (_, groups) in enumerate(panels):
            x0 = p * (sw + gap)
            n = 0
            for g, (boxes, texts, color, *_) in enumerate(groups):
                boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
                if len(boxes) != len(texts):
                    raise ValueError(f'{len(boxes)} boxes but {len(texts)} '
                                     'legend texts')
                if not len(boxes):
                    continue
                drawn = boxes * s
                drawn[:, 0::2] = np.clip(drawn[:, 0::2], 0, sw - 1) + x0
                drawn[:, 1::2] = np.clip(drawn[:, 1::2], 0, sh - 1)
                self.draw_bboxes(drawn, edge_colors=color, line_widths=lw)
                tags = [str(n + k + 1) for k in range(len(drawn))]
                n += len(drawn)
                # an overlay's second group: tags at the bottom corner
                corner = drawn[:, [0, 1]] + lw if g % 2 == 0 else \
                    drawn[:, [0, 3]] + np.array([lw, -lw])
                self.draw_texts(
                    tags,
                    corner,
                    colors='white',
                    font_sizes=font,
                    vertical_alignments='top' if g % 2 == 0 else 'bottom',
                    bboxes=[
                        dict(
                            facecolor=color_val_matplotlib(color),
                            alpha=0.85,
                            pad=1.5,
                            edgecolor='none')
                    ] * len(tags))
            lines = legends[p]
            if lines:
                self.draw_texts(
                    [t for t, _ in lines],
                    np.array([[x0 + font / 2, sh + font / 4 + i * line_h]
                              for i in range(len(lines))]),
                    colors=[c for _, c in lines],
                    font_sizes=font,
                    vertical_alignments='top')
        return self.get_image()

    def draw_instances(self,
                       image: np.ndarray,
                       bboxes: np.ndarray,
                       texts: Sequence[str],
                       color: Optional[ColorType] = None,
                       title: str = '',
                       legend_lines: Optional[int] = None) -> np.ndarray:
        """Draw boxes with a legend line each: one panel of
        :meth:`draw_panels`.

        Args:
            image (np.ndarray): ``[H, W, 3]`` RGB uint8 frame.
            bboxes (np.ndarray): ``[n, 4]`` xyxy pixels of ``image``.
            texts (Sequence[str]): ``n`` legend lines.
            color (str | tuple, optional): Box colour (RGB); None:
                ``pred_color``. Defaults to None.
            title (str): The legend's first line. Defaults to ``''``.
            legend_lines (int, optional): As :meth:`draw_panels`.

        Returns:
            np.ndarray: The RGB canvas (:meth:`draw_panels`).
        """
        return self.draw_panels(
            image,
            [(title, [(bboxes, list(texts), color or self.pred_color)])],
            legend_lines=legend_lines)

    def draw_datasample(self,
                        image: np.ndarray,
                        data_sample=None,
                        draw_gt: bool = True,
                        draw_pred: bool = True,
                        pred_score_thr: float = 0.3) -> np.ndarray:
        """Draw ground truth and predictions of one keyframe, side by side
        or overlaid (``layout``).

        Args:
            image (np.ndarray): As :meth:`add_datasample`.
            data_sample (ActionDataSample, optional): As
                :meth:`add_datasample`. Defaults to None.
            draw_gt (bool): Draw the ground truth. Defaults to True.
            draw_pred (bool): Draw the predictions. Defaults to True.
            pred_score_thr (float): As :meth:`add_datasample`. Defaults
                to 0.3.

        Returns:
            np.ndarray: The RGB canvas (:meth:`draw_panels`).

        Raises:
            ValueError: ``image`` not ``[H, W, 3]``, or not of the
                sample's ``img_shape``.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] < 3:
            raise ValueError('image must be [H, W, 3] RGB, got shape '
                             f'{image.shape}')
        h, w = image.shape[:2]
        img_shape = (h, w)
        if data_sample is not None and 'img_shape' in data_sample:
            img_shape = tuple(data_sample.img_shape[:2])
            if img_shape != (h, w):
                raise ValueError(
                    f'image is {h}x{w} but the data sample\'s '
                    f'img_shape is {img_shape[0]}x{img_shape[1]}; pass the '
                    'frame the boxes refer to')
        gt_group = pred_group = None
        if data_sample is not None:
            if draw_gt and 'gt_instances' in data_sample:
                gt = data_sample.gt_instances
                boxes, texts = self._gt_items(gt)
                gt_group = (boxes, texts, self.gt_color,
                            _masks_of(gt, range(len(boxes))))
            if draw_pred and 'pred_instances' in data_sample:
                pred = data_sample.pred_instances
                boxes, texts, keep = self._pred_items(pred, img_shape,
                                                      pred_score_thr)
                pred_group = (boxes, texts, self.pred_color,
                              _masks_of(pred, keep))
        groups = [(title, g) for title, g in (('ground truth', gt_group),
                                              ('prediction', pred_group))
                  if g is not None]
        if len(groups) == 2 and self.layout == 'overlay':
            panels = [('ground truth (green) / prediction (red)',
                       [gt_group, pred_group])]
        else:
            panels = [(title, [g]) for title, g in groups] or [('', [])]
        return self.draw_panels(image, panels)

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        """Draw one keyframe's ground truth and predictions to ``out_file``
        when given, else to every vis backend; ``show`` also displays it.

        Args:
            name (str): Image identifier (window title, backend key).
            image (np.ndarray): ``[H, W, 3]`` RGB uint8, of ``img_shape``.
            data_sample (ActionDataSample, optional): ``gt_instances``
                (pixel ``bboxes``, multi-hot or id ``labels``, optional
                ``masks``) and/or ``pred_instances`` (``bboxes``, pixels or
                normalised when all <= 1.5, ``scores [m, num_classes]``,
                optional ``person_scores``, ``masks``).
            draw_gt (bool): Draw the ground truth.
            draw_pred (bool): Draw the predictions.
            show (bool): Display the drawing in a window.
            wait_time (float): Seconds the window stays (0: until a key).
            out_file (str, optional): Write the drawing here (BGR file).
            pred_score_thr (float): List actions scoring at least this (a box
                with none is not drawn).
            step (int): Global step for the backends.
        """
        drawn = self.draw_datasample(image, data_sample, draw_gt, draw_pred,
                                     pred_score_thr)

        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mkdir_or_exist(osp.dirname(osp.abspath(out_file)))
            if not cv2.imwrite(out_file, drawn[..., ::-1]):
                raise OSError(f'could not write {out_file}')
        else:
            self.add_image(name, drawn, step)
